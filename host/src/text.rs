//! Small text helpers shared by the report, the errors and the gates:
//! sizes, durations, and making untrusted text safe to print on a terminal.
//!
//! A leaf module: it imports nothing of modelgate's, so anything may use it.

use std::borrow::Cow;
use std::time::Duration;

/// Lines of output shown for a failed gate without `-v`.
pub const TAIL_LINES: usize = 20;

/// `items` as English lists them: `a`, `a and b`, `a, b and c`.
pub fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [rest @ .., last] => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", rest.join(", "), last.as_ref())
        }
    }
}

/// `64 MiB`, `1.5 GiB`, `512 KiB`, `100 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            let v = n as f64 / size as f64;
            return if (v - v.round()).abs() < 0.05 {
                format!("{} {unit}", v.round())
            } else {
                format!("{v:.1} {unit}")
            };
        }
    }
    format!("{n} B")
}

/// `0.12ms`, `12.3ms`, `1.42s`, `2m03s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 0.001 {
        format!("{:.2}ms", s * 1e3)
    } else if s < 1.0 {
        format!("{:.1}ms", s * 1e3)
    } else if s < 60.0 {
        format!("{s:.2}s")
    } else {
        let secs = d.as_secs();
        if secs.is_multiple_of(60) {
            format!("{}m", secs / 60)
        } else {
            format!("{}m{:02}s", secs / 60, secs % 60)
        }
    }
}

/// True for characters that can change what a terminal shows beyond their
/// own glyph: C0 and C1 controls (ESC starts colour, cursor and erase
/// sequences; CR returns to the line's start; BS steps back), the Unicode
/// bidirectional overrides and isolates, which reorder what follows them,
/// and the invisible characters (zero-width spaces and joiners, the byte
/// order mark, the soft hyphen), which make a name look like another.
fn is_unsafe(c: char, keep_newline: bool) -> bool {
    match c {
        '\t' => false,
        '\n' => !keep_newline,
        c if c.is_control() => true,
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{061C}' => true,
        // Tag characters: invisible, they carry text of their own.
        '\u{E0000}'..='\u{E007F}' => true,
        // Invisible: a key or name with one looks like another.
        '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' => true,
        _ => false,
    }
}

fn escape(s: &str, keep_newline: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c, keep_newline)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !is_unsafe(c, keep_newline) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// `s` as one line that is safe on a terminal: every control character
/// (newlines included) and bidirectional override is shown escaped
/// (`\x1b`, `\r`, `\n`, `\u{202e}`) instead of acting. Tabs stay.
///
/// Every plugin- or registry-supplied string in human output goes through
/// this, so a hostile gate cannot draw a fake `PASS` line over a real `FAIL`.
pub fn clean_line(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Like [`clean_line`] but keeps newlines, for multi-line messages whose
/// lines are printed as such (errors on stderr).
pub fn clean(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// RFC 3339 UTC to the millisecond: `2026-11-28T07:10:34.123Z` (log lines).
pub fn rfc3339_millis(t: std::time::SystemTime) -> String {
    let ms = t
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_millis())
        .unwrap_or(0);
    let whole = rfc3339(t);
    format!("{}.{ms:03}Z", whole.trim_end_matches('Z'))
}

/// RFC 3339 UTC, to the second: `2026-11-28T07:10:34Z`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix seconds of an RFC 3339 UTC time to the second, as [`rfc3339`]
/// writes it (`2026-11-28T07:10:34Z`); `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20 || !s.is_ascii() {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = &s[from..to];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    for (at, sep) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'Z'),
    ] {
        if b[at] != sep {
            return None;
        }
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // Days since 1970-01-01 from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    // A day past the month's end (`02-30`) is refused, not rolled over.
    (rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(secs).ok()?))
        == s)
        .then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_reads_back_what_it_writes_and_nothing_else() {
        for secs in [0u64, 951_782_400, 1_796_528_310, 4_102_444_799] {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            assert_eq!(
                parse_rfc3339(&rfc3339(t)),
                Some(secs as i64),
                "{}",
                rfc3339(t)
            );
        }
        for bad in [
            "",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00+00:00",
            "2026-01-01T00:00:00.5Z",
            "+026-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "２026-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(clean_line("plain text\tok"), "plain text\tok");
        assert_eq!(
            clean_line("ok\r\x1b[2K\x1b[32mPASS\x1b[0m\nnext"),
            "ok\\r\\x1b[2K\\x1b[32mPASS\\x1b[0m\\nnext"
        );
        assert_eq!(clean_line("a\u{202e}b\u{9b}c"), "a\\u{202e}b\\x9bc");
        assert_eq!(clean("two\nlines\x07"), "two\nlines\\x07");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn acts_on_a_terminal(c: char) -> bool {
            (c.is_control() && c != '\t')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
                || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}')
        }

        proptest! {
            /// Whatever a plugin says, nothing in the cleaned line acts.
            #[test]
            fn nothing_that_acts_survives(s in any::<String>()) {
                prop_assert!(!clean_line(&s).chars().any(acts_on_a_terminal));
                prop_assert!(!clean(&s).chars().any(|c| c != '\n' && acts_on_a_terminal(c)));
            }

            /// Harmless text is shown exactly as written.
            #[test]
            fn harmless_text_is_unchanged(s in "[^\\p{Cc}\u{202A}-\u{202E}\u{2066}-\u{2069}\u{200E}\u{200F}\u{200B}-\u{200D}\u{2060}-\u{2064}\u{FEFF}\u{00AD}]*") {
                prop_assert_eq!(clean_line(&s), s.as_str());
            }

            /// Escaping never hides text: every harmless character of the
            /// input appears, in order, in the output.
            #[test]
            fn escaping_keeps_the_visible_text(s in any::<String>()) {
                let out = clean_line(&s);
                let mut rest = out.chars();
                for c in s.chars().filter(|c| !acts_on_a_terminal(*c)) {
                    prop_assert!(rest.any(|o| o == c), "{:?} lost from {:?}", c, s);
                }
            }
        }
    }
}
