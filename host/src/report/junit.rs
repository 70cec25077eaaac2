//! `--format junit`: JUnit XML, a test suite per candidate and a test
//! case per gate; a gate that judged and said no is a `failure`, one that
//! could not judge an `error`, as JUnit tells them apart.

use std::fmt::Write as _;

use super::Report;
use crate::gate::{GateResult, Outcome};

/// The JUnit XML report.
pub(super) fn render(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total: f64 = report
        .models
        .iter()
        .flat_map(|m| &m.gates)
        .map(|g| g.duration.as_secs_f64())
        .sum();
    let count = |gates: &mut dyn Iterator<Item = &GateResult>, o: Outcome| {
        gates.filter(|g| g.outcome == o).count()
    };
    let all = || report.models.iter().flat_map(|m| &m.gates);
    let _ = writeln!(
        out,
        "<testsuites name=\"modelgate\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{total:.3}\">",
        report.summary.gates,
        count(&mut all(), Outcome::Fail),
        count(&mut all(), Outcome::Error)
    );
    for m in &report.models {
        let suite = format!("{} v{}", m.model, m.version);
        let failures = count(&mut m.gates.iter(), Outcome::Fail);
        let errors = count(&mut m.gates.iter(), Outcome::Error);
        let time: f64 = m.gates.iter().map(|g| g.duration.as_secs_f64()).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">",
            xml(&suite),
            m.gates.len()
        );
        for g in &m.gates {
            testcase(&mut out, &m.model, g);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// One gate as a `<testcase>`: a `failure` or an `error` when it did
/// not pass, its warnings and output as `system-out`.
fn testcase(out: &mut String, model: &str, g: &GateResult) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
        xml(model),
        xml(&g.name),
        g.duration.as_secs_f64()
    );
    let warnings: String = g
        .warnings()
        .map(|c| {
            format!(
                "warning: check {}: {}\n",
                c.name,
                c.warning.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if g.passed && g.output.is_empty() && warnings.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    if !g.passed {
        let mut body = String::new();
        for c in &g.checks {
            let _ = writeln!(
                body,
                "{} {}: observed {}, expected {}",
                if c.passed { "ok" } else { "FAILED" },
                c.name,
                c.observed.as_deref().unwrap_or("-"),
                c.expected.as_deref().unwrap_or("-")
            );
        }
        // JUnit tells a failed assertion from a test that
        // could not run; so does modelgate.
        let element = match g.outcome {
            Outcome::Error => "error",
            _ => "failure",
        };
        let message = g
            .cause
            .as_ref()
            .map_or("failed".into(), ToString::to_string);
        let _ = writeln!(
            out,
            "      <{element} message=\"{}\" type=\"{}\">{}</{element}>",
            xml(&message),
            g.cause_code.unwrap_or("other"),
            xml(&body)
        );
    }
    if !g.output.is_empty() || !warnings.is_empty() {
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            xml(&format!("{warnings}{}", g.output))
        );
    }
    out.push_str("    </testcase>\n");
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}
