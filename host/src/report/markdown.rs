//! `--format markdown` (and GitHub's job summary): the headline, then one
//! table row per check.

use std::fmt::Write as _;

use super::Report;
use crate::gate::Outcome;
use crate::text::clean_line;

/// A Markdown summary: the headline, then one row per check (a gate
/// without checks gets one row with its cause or summary).
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let mark = if report.passed() { "✅" } else { "❌" };
    let _ = writeln!(
        out,
        "### {mark} modelgate: {}\n",
        md_cell(&report.headline())
    );
    out.push_str("| model | version | gate | outcome | check | observed | expected |\n");
    out.push_str("|---|---:|---|---|---|---|---|\n");
    for m in &report.models {
        for g in &m.gates {
            let outcome = match g.outcome {
                Outcome::Pass => "✅ pass".to_string(),
                Outcome::Fail => "❌ fail".to_string(),
                Outcome::Error => format!("⚠️ error ({})", g.cause_code.unwrap_or("other")),
            };
            let lead = format!(
                "| {} | {} | {} | {outcome} ",
                md_cell(&m.model),
                m.version,
                md_cell(&g.name)
            );
            if g.checks.is_empty() {
                let note = g
                    .cause
                    .as_ref()
                    .map(ToString::to_string)
                    .or_else(|| g.summary.clone())
                    .unwrap_or_default();
                let _ = writeln!(out, "{lead}| {} | | |", md_cell(&note));
            }
            for c in &g.checks {
                let name = match c.warning.as_ref().filter(|_| c.passed && g.passed) {
                    Some(w) => format!("{} — warning: {}", md_cell(&c.name), md_cell(w)),
                    None => md_cell(&c.name),
                };
                let mark = match (c.passed, c.warning.is_some() && g.passed) {
                    (true, false) => "✔",
                    (true, true) => "⚠",
                    (false, _) => "✘",
                };
                let _ = writeln!(
                    out,
                    "{lead}| {mark} {name} | {} | {} |",
                    md_cell(c.observed.as_deref().unwrap_or("")),
                    md_cell(c.expected.as_deref().unwrap_or(""))
                );
            }
        }
    }
    out
}

/// A table cell: one line, no `|` breaking the row, no HTML.
fn md_cell(s: &str) -> String {
    clean_line(s)
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace(['\n', '\r'], " ")
}
