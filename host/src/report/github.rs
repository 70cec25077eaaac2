//! `--format github`: GitHub Actions workflow commands (annotations on
//! the project file), and the Markdown summary appended to
//! `$GITHUB_STEP_SUMMARY`.

use std::fmt::Write as _;

use super::Report;

/// GitHub Actions workflow commands: an `::error` per failed check (or
/// per failed gate without failed checks) and a `::warning` per check
/// passed with a warning, titled with the model, version and gate, the
/// project file as `file=`; then a `::notice` (on a pass) or `::error`
/// (on a fail) with the headline.
pub(super) fn render(report: &Report) -> String {
    let mut out = String::new();
    let file = if std::path::Path::new(&report.project).is_relative() {
        format!("file={},", gh_property(&report.project))
    } else {
        String::new()
    };
    for m in &report.models {
        for g in m.gates.iter().filter(|g| g.passed) {
            let title = gh_property(&format!(
                "modelgate: {} v{} gate {}",
                m.model, m.version, g.name
            ));
            for c in g.warnings() {
                let _ = writeln!(
                    out,
                    "::warning {file}title={title}::check {}: {} (observed {}, expected {})",
                    gh_data(&c.name),
                    gh_data(c.warning.as_deref().unwrap_or_default()),
                    gh_data(c.observed.as_deref().unwrap_or("-")),
                    gh_data(c.expected.as_deref().unwrap_or("-")),
                );
            }
        }
        for g in m.gates.iter().filter(|g| !g.passed) {
            let title = gh_property(&format!(
                "modelgate: {} v{} gate {}",
                m.model, m.version, g.name
            ));
            let failed: Vec<&crate::gate::Check> = g.checks.iter().filter(|c| !c.passed).collect();
            if failed.is_empty() {
                let cause = g
                    .cause
                    .as_ref()
                    .map_or("failed".into(), ToString::to_string);
                let _ = writeln!(
                    out,
                    "::error {file}title={title}::{} ({})",
                    gh_data(&cause),
                    g.cause_code.unwrap_or("other")
                );
            }
            for c in failed {
                let _ = writeln!(
                    out,
                    "::error {file}title={title}::check {}: observed {}, expected {}{}",
                    gh_data(&c.name),
                    gh_data(c.observed.as_deref().unwrap_or("-")),
                    gh_data(c.expected.as_deref().unwrap_or("-")),
                    c.detail
                        .as_deref()
                        .map(|d| format!(" ({})", gh_data(d)))
                        .unwrap_or_default()
                );
            }
        }
    }
    let level = if report.passed() { "notice" } else { "error" };
    let _ = writeln!(
        out,
        "::{level} title=modelgate::{}",
        gh_data(&report.headline())
    );
    out
}

/// Appends the Markdown summary to `$GITHUB_STEP_SUMMARY`, when set. The
/// summary is a view of the verdict, not part of it: failing to write it
/// is a warning.
pub fn step_summary(report: &Report) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, super::markdown::render(report).as_bytes())
        });
    if let Err(e) = written {
        crate::output::stderr(&format!(
            "modelgate: warning: could not append to GITHUB_STEP_SUMMARY `{}`: {e}\n",
            std::path::Path::new(&path).display()
        ));
    }
}

/// Escapes the message of a workflow command.
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property (`title=`, `file=`) of a workflow command.
fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}
