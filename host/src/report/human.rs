//! `--format human`: one line per gate, the checks of what did not pass
//! (all of them with `-v`), the tail of a failed process gate's output,
//! and the headline. Every name and text may come from a plugin, the
//! registry or the project file: each goes through `clean_line`, so none
//! can move the cursor, recolour or overwrite the verdict lines.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::{Report, Style, TAIL_LINES, format_duration};
use crate::text::clean_line;

/// The human report.
pub(super) fn render(report: &Report, style: Style) -> String {
    // Every name and text below may come from a plugin, the registry or
    // the project file: each goes through `clean_line`, so none can
    // move the cursor, recolour or overwrite the verdict lines.
    let mut out = String::new();
    for m in &report.models {
        let run = clean_line(m.run_id.as_deref().unwrap_or("no run"));
        let _ = writeln!(
            out,
            "{} version {} (run {run}, {})",
            style.bold(&clean_line(&m.model)),
            m.version,
            clean_line(&m.selected_by)
        );
        let names: Vec<Cow<'_, str>> = m.gates.iter().map(|g| clean_line(&g.name)).collect();
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        for (g, name) in m.gates.iter().zip(&names) {
            gate(&mut out, g, name, width, style);
        }
    }
    let verdict = if report.passed() {
        style.green("PASS")
    } else {
        style.red("FAIL")
    };
    let _ = writeln!(out, "{verdict}{}", report.headline_tail());
    out
}

/// One gate's line, then its checks (those of a gate that did not pass or
/// warned; all with `-v`), its logs (`-v`) and the tail of its output.
fn gate(out: &mut String, g: &crate::gate::GateResult, name: &str, width: usize, style: Style) {
    let warned = g.warnings().next().is_some();
    let mark = match (g.passed, warned) {
        (true, false) => style.green("✔"),
        (true, true) => style.yellow("⚠"),
        (false, _) => style.red("✘"),
    };
    let mut line = format!(
        "  {mark} {name:width$}  {:7}  {:>8}",
        g.kind,
        format_duration(g.duration)
    );
    if let Some(cause) = &g.cause {
        let _ = write!(line, "  {}", clean_line(&cause.to_string()));
    } else if let Some(summary) = &g.summary {
        let _ = write!(line, "  {}", clean_line(summary));
    }
    let _ = writeln!(out, "{}", line.trim_end());
    let show_checks = !g.passed || warned || style.verbose;
    if show_checks {
        for c in &g.checks {
            let mark = match (c.passed, &c.warning) {
                (true, None) => style.green("✔"),
                (true, Some(_)) => style.yellow("⚠"),
                (false, _) => style.red("✘"),
            };
            let mut line = format!("      {mark} {}", clean_line(&c.name));
            if let Some(o) = &c.observed {
                let _ = write!(line, ": observed {}", clean_line(o));
            }
            if let Some(e) = &c.expected {
                let _ = write!(line, ", expected {}", clean_line(e));
            }
            if let Some(d) = &c.detail {
                let _ = write!(line, " ({})", clean_line(d));
            }
            if let Some(w) = c.warning.as_ref().filter(|_| c.passed) {
                let _ = write!(line, " — warning: {}", clean_line(w));
            }
            let _ = writeln!(out, "{line}");
        }
    }
    if style.verbose {
        for l in &g.logs {
            let _ = writeln!(
                out,
                "      [{}] {}",
                l.level.as_str(),
                clean_line(&l.message)
            );
        }
    }
    let lines: Vec<&str> = g.output.lines().collect();
    if style.verbose && !lines.is_empty() {
        if g.output_dropped > 0 {
            let _ = writeln!(out, "      │ … {} earlier bytes dropped", g.output_dropped);
        }
        for l in &lines {
            let _ = writeln!(out, "      │ {}", clean_line(l));
        }
    } else if !g.passed && !lines.is_empty() {
        let tail = &lines[lines.len().saturating_sub(TAIL_LINES)..];
        if tail.len() < lines.len() || g.output_dropped > 0 {
            let _ = writeln!(
                out,
                "      │ … last {} lines of output (all of it with -v)",
                tail.len()
            );
        }
        for l in tail {
            let _ = writeln!(out, "      │ {}", clean_line(l));
        }
    }
}
