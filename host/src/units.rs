//! Durations (`30s`, `10m`, `1h30m`, `250ms`, bare seconds) and byte sizes
//! (`64MiB`, `512Mi`, `1G`, bare bytes) as written in project files and flags.

use std::time::Duration;

/// Parses a duration such as `30s`, `10m`, `1h30m`, `250ms` or `2.5` (seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return secs_to_duration(secs, text);
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "`{text}` is not a duration (expected e.g. `30s`, `10m`, `1h`)"
            ));
        }
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("`{text}` is not a duration"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match rest[..unit_len].trim() {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hrs" => 3600.0,
            other => {
                return Err(format!(
                    "`{text}` has unknown unit `{other}` (use ms, s, m or h)"
                ));
            }
        };
        rest = &rest[unit_len..];
        total += value * factor;
    }
    secs_to_duration(total, text)
}

fn secs_to_duration(secs: f64, text: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs <= 0.0 || secs > 7.0 * 24.0 * 3600.0 {
        return Err(format!(
            "`{text}` must be a positive duration of at most a week"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a byte size such as `64MiB`, `512Mi`, `1G`, `1.5GB` or `1048576`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    if num_len == 0 {
        return Err(format!("`{text}` is not a size (expected e.g. `64MiB`)"));
    }
    let value: f64 = t[..num_len]
        .parse()
        .map_err(|_| format!("`{text}` is not a size"))?;
    let factor: f64 = match t[num_len..].trim() {
        "" | "B" | "b" => 1.0,
        "K" | "KB" | "k" | "kB" => 1e3,
        "Ki" | "KiB" => 1024.0,
        "M" | "MB" => 1e6,
        "Mi" | "MiB" => 1024.0 * 1024.0,
        "G" | "GB" => 1e9,
        "Gi" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "`{text}` has unknown unit `{other}` (use B, KiB, MiB or GiB)"
            ));
        }
    };
    let bytes = value * factor;
    if !bytes.is_finite() || !(1.0..=64.0 * 1024.0 * 1024.0 * 1024.0).contains(&bytes) {
        return Err(format!("`{text}` must be between 1 byte and 64 GiB"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("512Mi"), Ok(512 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("0").is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_text_is_a_duration_or_an_error(s in "\\PC{0,30}") {
                if let Ok(d) = parse_duration(&s) {
                    prop_assert!(d > Duration::ZERO && d <= Duration::from_secs(7 * 24 * 3600));
                }
            }

            #[test]
            fn any_text_is_a_size_or_an_error(s in "\\PC{0,30}") {
                if let Ok(n) = parse_bytes(&s) {
                    prop_assert!((1..=64 << 30).contains(&n));
                }
            }

            /// Numbers with units scale exactly; out-of-range ones are
            /// refused, never wrapped or saturated.
            #[test]
            fn durations_scale_by_their_unit(
                n in 1u64..10_000_000,
                (unit, factor) in proptest::sample::select(vec![("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0)]),
            ) {
                let secs = n as f64 * factor;
                match parse_duration(&format!("{n}{unit}")) {
                    Ok(d) => prop_assert!((d.as_secs_f64() - secs).abs() < 1e-6 * secs.max(1.0)),
                    Err(_) => prop_assert!(secs > 7.0 * 24.0 * 3600.0),
                }
            }

            #[test]
            fn sizes_scale_by_their_unit(
                n in 1u64..100_000,
                (unit, factor) in proptest::sample::select(vec![("", 1u64), ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1000), ("M", 1_000_000)]),
            ) {
                let bytes = n * factor;
                match parse_bytes(&format!("{n}{unit}")) {
                    Ok(b) => prop_assert_eq!(b, bytes),
                    Err(_) => prop_assert!(bytes > 64 << 30),
                }
            }
        }
    }
}
