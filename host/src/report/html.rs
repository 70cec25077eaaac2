//! `--format html`: one self-contained page (inline CSS and SVG, no
//! script, no network, no fonts) with the verdict, a chart per metric the
//! gates compared, and every version's gates and checks; and the pieces
//! `serve`'s page shares with it (escaping, the page's frame, the style).
//!
//! Safe by construction: every text from a registry, a plugin or a
//! project file goes through [`esc`] (control characters and bidi
//! overrides shown escaped, then HTML-escaped) and is cut at
//! [`MAX_TEXT`]; the page's `Content-Security-Policy` allows nothing but
//! its own hashed style sheet, so even markup that got through could not
//! run or load anything.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::Report;
use super::chart::{self, Series};
use crate::gate::{Check, GateResult, Outcome};
use crate::judge::Judgement;

/// At most this many characters of one text (a summary, a check's detail,
/// a log line, a model name) are shown; the rest is cut with a note of how
/// much. A 1 MB summary cannot blow up the page.
pub const MAX_TEXT: usize = 2_000;

/// At most this many characters of a gate's output are shown (its tail).
pub const MAX_OUTPUT: usize = 16_000;

/// Past this many judgements, only those that did not pass get their gates
/// and checks written out; the table of versions still lists every one.
pub const MAX_DETAILED: usize = 200;

/// At most this many rows in the table of versions (a sweep's report has
/// one per judged version); the JSON report has every one.
pub const MAX_ROWS: usize = 100_000;

/// At most this many charts (one per metric of each gate of each model).
pub const MAX_CHARTS: usize = 200;

/// The page's style sheet, the only thing its policy lets it use.
pub const CSS: &str = include_str!("page.css");

/// `text` safe inside HTML text and attribute values, and cut at
/// [`MAX_TEXT`] characters.
pub fn esc(text: &str) -> String {
    esc_max(text, MAX_TEXT)
}

/// [`esc`] with a bound of `max` characters (keeping the head).
pub fn esc_max(text: &str, max: usize) -> String {
    let clean = crate::text::clean(text);
    let mut out = String::with_capacity(clean.len().min(max.saturating_mul(2)) + 16);
    for (n, c) in clean.chars().enumerate() {
        if n == max {
            let rest = clean.chars().count() - n;
            let _ = write!(out, "… ({rest} more characters)");
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The tail of `text`, at most `max` characters, escaped.
fn esc_tail(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return esc_max(text, max);
    }
    let tail: String = text.chars().skip(n - max).collect();
    format!("(… {} characters before) {}", n - max, esc_max(&tail, max))
}

/// `'sha256-…'` of `text`, for a `Content-Security-Policy` source.
pub fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The `Content-Security-Policy` of a page whose only inline script is
/// `script` (none for the report): nothing loads, nothing is sent, only
/// the hashed style sheet (and script) apply.
pub fn csp(script: Option<&str>) -> String {
    let mut p = format!(
        "default-src 'none'; style-src {}; base-uri 'none'; form-action 'none'",
        csp_hash(CSS)
    );
    if let Some(s) = script {
        let _ = write!(p, "; script-src {}; connect-src 'self'", csp_hash(s));
    }
    p
}

/// A whole page around `body`. `title` is escaped here; `body` must be
/// escaped by its writer. `script`, the page's own (never a registry's or
/// plugin's text), is inlined and hashed into the policy; `refresh` adds a
/// `<meta http-equiv=refresh>` for a browser without scripts (in
/// `<noscript>`).
pub fn page(title: &str, body: &str, script: Option<&str>, refresh: Option<u32>) -> String {
    let mut out = String::with_capacity(body.len() + CSS.len() + 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        esc_max(&csp(script), usize::MAX)
    );
    if let Some(s) = refresh {
        // Only without scripts: with them, the page's script decides.
        let _ = write!(
            out,
            "<noscript><meta http-equiv=\"refresh\" content=\"{s}\"></noscript>"
        );
    }
    let _ = write!(
        out,
        "<title>{}</title><style>{CSS}</style></head>\n<body>\n{body}",
        esc(title)
    );
    if let Some(s) = script {
        let _ = write!(out, "<script>{s}</script>");
    }
    out.push_str("</body></html>\n");
    out
}

/// The charts of `judgements`: one per metric a gate compared (a check
/// with a numeric observed value), over the versions judged, in order of
/// first appearance.
pub fn series<'a>(judgements: impl IntoIterator<Item = &'a Judgement>) -> Vec<Series> {
    series_of(judgements.into_iter().flat_map(|j| {
        j.gates.iter().map(move |g| {
            (
                j.model.as_str(),
                j.version,
                g.name.as_str(),
                g.checks.as_slice(),
            )
        })
    }))
}

/// [`series`] over `(model, version, gate, checks)` of each judged gate
/// (a replayed report's, too).
pub fn series_of<'a>(
    gates: impl IntoIterator<Item = (&'a str, u64, &'a str, &'a [Check])>,
) -> Vec<Series> {
    let mut order: Vec<(String, String, String)> = Vec::new();
    let mut all: BTreeMap<(String, String, String), Series> = BTreeMap::new();
    for (model, version, gate, checks) in gates {
        for c in checks {
            let Some(value) = c
                .observed
                .as_deref()
                .and_then(|o| o.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite())
            else {
                continue;
            };
            let key = (model.to_string(), gate.to_string(), c.name.clone());
            if !all.contains_key(&key) {
                if all.len() >= MAX_CHARTS {
                    continue;
                }
                order.push(key.clone());
                all.insert(
                    key.clone(),
                    Series {
                        model: model.to_string(),
                        gate: gate.to_string(),
                        metric: c.name.clone(),
                        ..Series::default()
                    },
                );
            }
            let expected = chart::parse_expected(c.expected.as_deref().unwrap_or(""));
            if let Some(s) = all.get_mut(&key) {
                s.add(version, value, c.passed, &expected);
            }
        }
    }
    let mut out: Vec<Series> = order.iter().filter_map(|k| all.remove(k)).collect();
    for s in &mut out {
        s.points.sort_by_key(|p| p.version);
    }
    out
}

/// The checks of a gate as a table (nothing when it has none).
pub fn checks_table(body: &mut String, checks: &[Check], gate_passed: bool) {
    if checks.is_empty() {
        return;
    }
    body.push_str(
        "<div class=\"scroll\"><table class=\"checks\"><thead><tr><th></th><th>check</th><th>observed</th><th>expected</th><th>detail</th></tr></thead><tbody>",
    );
    for c in checks {
        let warned = c.passed && gate_passed && c.warning.is_some();
        let (class, mark) = match (c.passed, warned) {
            (false, _) => ("fail", "✘"),
            (true, true) => ("warn", "⚠"),
            (true, false) => ("pass", "✔"),
        };
        let mut detail = esc(c.detail.as_deref().unwrap_or(""));
        if let Some(w) = c.warning.as_deref().filter(|_| warned) {
            let _ = write!(detail, "<div class=\"warning\">warning: {}</div>", esc(w));
        }
        let _ = write!(
            body,
            "<tr class=\"check {class}\" data-check=\"{name}\"><td>{mark}</td><td class=\"name\">{name}</td><td class=\"num\">{}</td><td class=\"expected\">{}</td><td class=\"detail\">{detail}</td></tr>",
            esc(c.observed.as_deref().unwrap_or("")),
            esc(c.expected.as_deref().unwrap_or("")),
            name = esc(&c.name),
        );
    }
    body.push_str("</tbody></table></div>");
}

/// A chart with its caption, as a `<figure>`.
pub fn figure(s: &Series) -> String {
    let failed = s.points.iter().filter(|p| !p.passed).count();
    let mut caption = format!(
        "<span class=\"metric\">{}</span> <span class=\"muted\">· {} · gate {}</span> \
         <span class=\"muted\">{} version{}, {failed} failed",
        esc(&s.metric),
        esc(&s.model),
        esc(&s.gate),
        s.points.len(),
        if s.points.len() == 1 { "" } else { "s" },
    );
    let op = if s.greater_is_better { "≥" } else { "≤" };
    if let Some(b) = s.constant_threshold() {
        let _ = write!(caption, "; threshold {op} {}", chart::short(b));
    }
    if s.has_relative_bounds() {
        let _ = write!(caption, "; dotted: {op} the baseline's bound");
    }
    if s.dropped > 0 {
        let _ = write!(caption, "; {} more not drawn", s.dropped);
    }
    caption.push_str("</span>");
    format!(
        "<figure class=\"chart\" data-model=\"{}\" data-gate=\"{}\" data-metric=\"{}\">{}<figcaption>{caption}</figcaption></figure>\n",
        esc(&s.model),
        esc(&s.gate),
        esc(&s.metric),
        chart::svg(s)
    )
}

/// The mark and word of an outcome.
pub fn outcome_badge(o: Outcome) -> String {
    let mark = mark(o);
    format!("<span class=\"badge {0}\">{mark} {0}</span>", o.as_str())
}

/// The whole report as a page.
pub fn render(report: &Report) -> String {
    let mut body = String::new();
    let status = report.status.as_str();
    let _ = writeln!(
        body,
        "<header class=\"verdict {status}\" id=\"verdict\" data-status=\"{status}\"><h1>{} {}</h1>\
         <p class=\"muted\">project <code>{}</code> · registry <code>{}</code> · modelgate {}</p></header>",
        if report.passed() { "✔" } else { "✘" },
        esc(&report.headline()),
        esc(&report.project),
        esc(&report.tracking_uri),
        esc(report.modelgate),
    );
    let series = series(&report.models);
    if !series.is_empty() {
        body.push_str("<section id=\"charts\"><h2>Metrics</h2>\n<div class=\"charts\">");
        for s in &series {
            body.push_str(&figure(s));
        }
        body.push_str("</div></section>\n");
    }
    versions_table(&mut body, &report.models);
    let detailed: Vec<&Judgement> = if report.models.len() <= MAX_DETAILED {
        report.models.iter().collect()
    } else {
        report
            .models
            .iter()
            .filter(|j| !j.passed)
            .take(MAX_DETAILED)
            .collect()
    };
    if !detailed.is_empty() {
        body.push_str("<section id=\"judgements\"><h2>Gates and checks</h2>\n");
        if detailed.len() < report.models.len() {
            let _ = writeln!(
                body,
                "<p class=\"muted\">{} of {} versions shown (those that did not pass, at most {MAX_DETAILED}); the JSON report (<code>--format json</code>) has every one.</p>",
                detailed.len(),
                report.models.len()
            );
        }
        for j in detailed {
            judgement(&mut body, j);
        }
        body.push_str("</section>\n");
    }
    page(
        &format!("modelgate: {}", report.headline()),
        &body,
        None,
        None,
    )
}

/// The table of judged versions: one row each.
fn versions_table(body: &mut String, models: &[Judgement]) {
    if models.is_empty() {
        return;
    }
    body.push_str(
        "<section id=\"versions\"><h2>Versions</h2><div class=\"scroll\"><table class=\"versions\">\
         <thead><tr><th>model</th><th>version</th><th>verdict</th><th>gates</th><th>judged at</th></tr></thead><tbody>\n",
    );
    for j in models.iter().take(MAX_ROWS) {
        let verdict = j.verdict();
        let _ = write!(
            body,
            "<tr class=\"{v}\" data-model=\"{m}\" data-version=\"{n}\" data-verdict=\"{v}\"><td>{m}</td><td><a href=\"#{id}\">{n}</a></td><td><span class=\"badge {v}\">{v}</span></td><td>",
            v = verdict.as_str(),
            m = esc(&j.model),
            n = j.version,
            id = anchor(j),
        );
        for g in &j.gates {
            let _ = write!(
                body,
                "<span class=\"gate-dot {}\" title=\"{}: {}\">{}</span>",
                g.outcome.as_str(),
                esc(&g.name),
                g.outcome.as_str(),
                mark(g.outcome)
            );
        }
        let _ = writeln!(
            body,
            "</td><td>{}</td></tr>",
            crate::text::rfc3339(j.judged_at)
        );
    }
    body.push_str("</tbody></table></div>");
    if models.len() > MAX_ROWS {
        let _ = write!(
            body,
            "<p class=\"muted\">{} more versions not listed; the JSON report has every one.</p>",
            models.len() - MAX_ROWS
        );
    }
    body.push_str("</section>\n");
}

fn mark(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "✔",
        Outcome::Fail => "✘",
        Outcome::Error => "⚠",
    }
}

/// The element id of a judgement: `j-VERSION-HASH` (a model name may hold
/// anything, so it is hashed, not used).
fn anchor(j: &Judgement) -> String {
    let h = Sha256::digest(j.model.as_bytes());
    format!("j-{}-{}", hex::encode(&h[..6]), j.version)
}

/// One judgement: its verdict, then each gate.
fn judgement(body: &mut String, j: &Judgement) {
    let verdict = j.verdict().as_str();
    let _ = writeln!(
        body,
        "<article class=\"judgement {verdict}\" id=\"{}\" data-model=\"{}\" data-version=\"{}\" data-verdict=\"{verdict}\">\
         <h3><span class=\"badge {verdict}\">{verdict}</span> {} version {}</h3>\
         <p class=\"muted\">run <code>{}</code> · selected by {} · judged at {}</p>",
        anchor(j),
        esc(&j.model),
        j.version,
        esc(&j.model),
        j.version,
        esc(j.run_id.as_deref().unwrap_or("none")),
        esc(&j.selected_by),
        crate::text::rfc3339(j.judged_at),
    );
    for g in &j.gates {
        gate(body, g);
    }
    body.push_str("</article>\n");
}

/// One gate: outcome, cause, checks, logs, output, evidence.
fn gate(body: &mut String, g: &GateResult) {
    let _ = write!(
        body,
        "<div class=\"gate {o}\" data-gate=\"{name}\" data-outcome=\"{o}\"><h4>{} <span class=\"gate-name\">{name}</span> \
         <span class=\"muted\">{} <code>{}</code> · {}</span></h4>",
        outcome_badge(g.outcome),
        g.kind.as_str(),
        esc(&g.target),
        crate::text::format_duration(g.duration),
        o = g.outcome.as_str(),
        name = esc(&g.name),
    );
    if let Some(cause) = &g.cause {
        let _ = write!(
            body,
            "<p class=\"cause\">{}{}</p>",
            g.cause_code
                .map(|c| format!("<code>{c}</code> "))
                .unwrap_or_default(),
            esc(&cause.to_string())
        );
    } else if let Some(s) = &g.summary {
        let _ = write!(body, "<p class=\"summary\">{}</p>", esc(s));
    }
    checks_table(body, &g.checks, g.passed);
    if !g.logs.is_empty() {
        let _ = write!(
            body,
            "<details class=\"logs\"><summary>log ({} lines)</summary><pre>",
            g.logs.len()
        );
        for l in g.logs.iter().take(200) {
            let _ = writeln!(body, "[{}] {}", l.level.as_str(), esc(&l.message));
        }
        body.push_str("</pre></details>");
    }
    if !g.output.is_empty() {
        let dropped = if g.output_dropped > 0 {
            format!(", {} bytes dropped", g.output_dropped)
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<details class=\"output\"{}><summary>output{dropped}</summary><pre>{}</pre></details>",
            if g.passed { "" } else { " open" },
            esc_tail(&g.output, MAX_OUTPUT)
        );
    }
    if let Some(e) = &g.evidence {
        let config = serde_json::to_string_pretty(e.config.as_ref()).unwrap_or_default();
        let _ = write!(
            body,
            "<details class=\"evidence\"><summary>evidence</summary><dl>\
             <dt>plugin</dt><dd><code>{}</code> (sha256 <code>{}</code>{})</dd>\
             <dt>contract</dt><dd>WIT {} · modelgate {}</dd>\
             <dt>limits</dt><dd>{} ms · {} bytes of memory · {} registry calls</dd>\
             <dt>clock</dt><dd>{} ms since the epoch</dd><dt>seed</dt><dd><code>{}</code></dd>\
             <dt>registry calls</dt><dd>{} recorded</dd>\
             <dt>config</dt><dd><pre>{}</pre></dd></dl></details>",
            esc(&e.plugin),
            esc(&e.sha256),
            e.lean_sha256
                .as_deref()
                .map(|l| format!(", lean build <code>{}</code>", esc(l)))
                .unwrap_or_default(),
            esc(&e.wit),
            esc(&e.modelgate),
            e.limits.timeout_ms,
            e.limits.memory,
            e.limits.registry_calls,
            e.clock_ms,
            esc(&e.seed),
            e.calls.len(),
            esc_max(&config, MAX_OUTPUT),
        );
    }
    body.push_str("</div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup_and_no_bidi() {
        let e = esc("<script>\"'&\u{202e}\n");
        assert_eq!(e, "&lt;script&gt;&quot;&#39;&amp;\\u{202e}\n");
        let long = "x".repeat(MAX_TEXT + 5);
        assert!(esc(&long).ends_with("… (5 more characters)"));
        assert!(esc_tail(&long, 10).starts_with(&format!("(… {} characters", MAX_TEXT - 5)));
    }

    #[test]
    fn the_policy_hashes_the_style_sheet() {
        let p = csp(None);
        assert!(p.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(!p.contains("script-src") && !p.contains("unsafe"));
        assert!(csp(Some("x")).contains(&format!("script-src {}", csp_hash("x"))));
        // `echo -n x | openssl dgst -sha256 -binary | base64`
        assert_eq!(
            csp_hash("x"),
            "'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='"
        );
    }
}
