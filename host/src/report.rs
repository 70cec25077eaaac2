//! The report: what was decided and why, for people (`human`), programs
//! (`json`, schema `modelgate.report/v1`) and CI dashboards (`junit`).
//!
//! Only the report goes to stdout; progress and diagnostics go to stderr.
//!
//! # JSON schema `modelgate.report/v1`
//!
//! ```text
//! {
//!   "schema": "modelgate.report/v1",
//!   "modelgate": string,                    // the version that judged
//!   "tracking_uri": string,
//!   "project": string,                      // the project file
//!   "models": [{
//!     "model": string, "version": int, "run_id": string | null,
//!     "selected_by": "latest" | "version" | "alias:NAME",
//!     "judged_at": string,                  // RFC 3339 UTC
//!     "passed": bool,
//!     "gates": [{
//!       "name": string, "kind": "process" | "wasm", "target": string,
//!       "passed": bool, "outcome": "pass" | "fail" | "error",
//!       "cause": string?, "cause_code": string?, "summary": string?,
//!       "duration_ms": number,
//!       "checks": [{"name": string, "passed": bool, "warning": string?,
//!                   "observed": string?, "expected": string?,
//!                   "detail": string?}],
//!       "output": string, "output_dropped": int?,
//!       "logs": [{"level": string, "message": string}]?,
//!       "evidence": {                       // WebAssembly gates that ran
//!         "modelgate": string, "wit": string, "plugin": string,
//!         "sha256": string, "config": object,
//!         "limits": {"timeout_ms": int, "memory": int, "registry_calls": int},
//!         "clock_ms": int,                  // the frozen wall clock
//!         "seed": string,                   // 64 hex digits
//!         "candidate": {"version": ModelVersion, "run": Run | null,
//!                       "logged_model": LoggedModel?, // world 0.3.0 on
//!                       "selected_by": string},
//!         "calls": [{"call": string, "args": [string], "times": int,
//!                    "ok": answer? , "error": {"kind", "message"}?}]
//!       }?
//!     }]
//!   }],
//!   "status": "pass" | "fail",
//!   "summary": {"models": int, "gates": int, "passed": int, "failed": int,
//!               "warnings": int}           // checks of passed gates with a warning
//! }
//! ```
//! `ModelVersion` (with `model_id`, MLflow 3, when it has one), `Run`,
//! `LoggedModel` and the answers are the registry's records with
//! snake_case fields (`crate::registry`); metric values that JSON numbers
//! cannot hold are the strings `NaN`, `Infinity`, `-Infinity`.
//! Fields are only ever added to this schema, never renamed or removed.
//! `status` and `summary` come after `models`, so that a sweep's report is
//! written as it is judged ([`JsonStream`]) rather than held whole.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::gate::{GateResult, Outcome};
use crate::text::clean_line;
pub use crate::text::{TAIL_LINES, format_duration, human_bytes};

/// The schema identifier of the JSON report.
pub const SCHEMA: &str = "modelgate.report/v1";

/// Output formats of `modelgate validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per gate and a summary, for people.
    Human,
    /// The `modelgate.report/v1` JSON document.
    Json,
    /// JUnit XML: a test suite per model, a test case per gate.
    Junit,
    /// GitHub Actions workflow commands (`::error …`), one per failed check;
    /// with `GITHUB_STEP_SUMMARY` set, the Markdown table is appended to it.
    Github,
    /// A Markdown table of models, gates and checks.
    Markdown,
}

/// The verdict for one candidate version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelReport {
    /// The registered model.
    pub model: String,
    /// The candidate version.
    pub version: u64,
    /// The run that produced it.
    pub run_id: Option<String>,
    /// How the candidate was chosen.
    pub selected_by: String,
    /// When it was judged (RFC 3339 UTC in JSON).
    #[serde(serialize_with = "ser_time")]
    pub judged_at: std::time::SystemTime,
    /// True when every gate passed.
    pub passed: bool,
    /// The gates, in plan order.
    pub gates: Vec<GateResult>,
}

/// Counts over the whole report.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Summary {
    /// Candidates judged.
    pub models: usize,
    /// Gates run.
    pub gates: usize,
    /// Gates passed.
    pub passed: usize,
    /// Gates failed.
    pub failed: usize,
    /// Checks of passed gates that carry a warning.
    pub warnings: usize,
}

impl Summary {
    /// Counts `m` in.
    pub fn add(&mut self, m: &ModelReport) {
        self.models += 1;
        self.gates += m.gates.len();
        let passed = m.gates.iter().filter(|g| g.passed).count();
        self.passed += passed;
        self.failed += m.gates.len() - passed;
        self.warnings += m.gates.iter().map(|g| g.warnings().count()).sum::<usize>();
    }

    /// Counts `other` in.
    pub fn merge(&mut self, other: &Summary) {
        self.models += other.models;
        self.gates += other.gates;
        self.passed += other.passed;
        self.failed += other.failed;
        self.warnings += other.warnings;
    }

    /// `pass` when no gate failed, else `fail`.
    pub fn status(&self) -> &'static str {
        if self.failed == 0 { "pass" } else { "fail" }
    }
}

/// The JSON report written one candidate at a time, so that a sweep never
/// holds it whole: the same bytes as [`Report::render`] with
/// [`Format::Json`] (which is built on it).
pub struct JsonStream<W: std::io::Write> {
    out: W,
    summary: Summary,
}

impl<W: std::io::Write> JsonStream<W> {
    /// Writes the report's head, up to the opening of `models`.
    pub fn begin(mut out: W, tracking_uri: &str, project: &str) -> std::io::Result<Self> {
        let head = format!(
            "{{\n  \"schema\": {},\n  \"modelgate\": {},\n  \"tracking_uri\": {},\n  \"project\": {},\n  \"models\": [",
            json_string(SCHEMA),
            json_string(env!("CARGO_PKG_VERSION")),
            json_string(tracking_uri),
            json_string(project),
        );
        out.write_all(head.as_bytes())?;
        Ok(JsonStream {
            out,
            summary: Summary::default(),
        })
    }

    /// Writes one candidate's verdict.
    pub fn push(&mut self, m: &ModelReport) -> std::io::Result<()> {
        self.push_rendered(&RenderedModel::new(m)?)
    }

    /// Writes one candidate's verdict, rendered beforehand (on the thread
    /// that judged it: the writer then only writes).
    pub fn push_rendered(&mut self, m: &RenderedModel) -> std::io::Result<()> {
        let separator = if self.summary.models == 0 {
            "\n"
        } else {
            ",\n"
        };
        self.out.write_all(separator.as_bytes())?;
        self.out.write_all(m.text.as_bytes())?;
        self.summary.merge(&m.summary);
        Ok(())
    }

    /// Writes the tail (`status` and `summary`) and returns the summary.
    pub fn finish(mut self) -> std::io::Result<Summary> {
        let summary = serde_json::to_string_pretty(&self.summary).map_err(std::io::Error::other)?;
        let close = if self.summary.models == 0 {
            "]"
        } else {
            "\n  ]"
        };
        let tail = format!(
            "{close},\n  \"status\": {},\n  \"summary\": {}\n}}\n",
            json_string(self.summary.status()),
            summary.replace('\n', "\n  "),
        );
        self.out.write_all(tail.as_bytes())?;
        self.out.flush()?;
        Ok(self.summary)
    }
}

/// One candidate's verdict as an element of the JSON report's `models`,
/// with what it adds to the summary.
#[derive(Debug, Clone)]
pub struct RenderedModel {
    text: String,
    summary: Summary,
}

impl RenderedModel {
    /// Renders `m`.
    pub fn new(m: &ModelReport) -> std::io::Result<RenderedModel> {
        let item = serde_json::to_string_pretty(m).map_err(std::io::Error::other)?;
        let mut text = String::with_capacity(item.len() + item.len() / 8);
        // An element of `models` sits two levels deep. Strings are escaped
        // (no raw newline), so every line of the item is the item's own.
        for (i, line) in item.lines().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            text.push_str("    ");
            text.push_str(line);
        }
        let mut summary = Summary::default();
        summary.add(m);
        Ok(RenderedModel { text, summary })
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A whole `modelgate validate` run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The modelgate version that wrote the report.
    pub modelgate: &'static str,
    /// The registry that was read.
    pub tracking_uri: String,
    /// The project file.
    pub project: String,
    /// One entry per candidate.
    pub models: Vec<ModelReport>,
    /// `pass` or `fail`.
    pub status: &'static str,
    /// Counts.
    pub summary: Summary,
}

impl Report {
    /// Builds the report and its summary.
    pub fn new(tracking_uri: String, project: String, models: Vec<ModelReport>) -> Report {
        let mut summary = Summary::default();
        for m in &models {
            summary.add(m);
        }
        Report {
            schema: SCHEMA,
            modelgate: env!("CARGO_PKG_VERSION"),
            status: summary.status(),
            tracking_uri,
            project,
            summary,
            models,
        }
    }

    /// True when every gate of every candidate passed.
    pub fn passed(&self) -> bool {
        self.status == "pass"
    }

    /// Renders the report.
    pub fn render(&self, format: Format, style: Style) -> String {
        match format {
            Format::Human => self.human(style),
            Format::Json => {
                let mut out = Vec::new();
                let written = JsonStream::begin(&mut out, &self.tracking_uri, &self.project)
                    .and_then(|mut json| {
                        for m in &self.models {
                            json.push(m)?;
                        }
                        json.finish().map(|_| ())
                    });
                match written {
                    Ok(()) => String::from_utf8(out).unwrap_or_default(),
                    Err(_) => String::new(),
                }
            }
            Format::Junit => self.junit(),
            Format::Github => self.github(),
            Format::Markdown => self.markdown(),
        }
    }

    fn human(&self, style: Style) -> String {
        // Every name and text below may come from a plugin, the registry or
        // the project file: each goes through `clean_line`, so none can
        // move the cursor, recolour or overwrite the verdict lines.
        let mut out = String::new();
        for m in &self.models {
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
                            clean_line(&l.level),
                            clean_line(&l.message)
                        );
                    }
                }
                let lines: Vec<&str> = g.output.lines().collect();
                if style.verbose && !lines.is_empty() {
                    if g.output_dropped > 0 {
                        let _ =
                            writeln!(out, "      │ … {} earlier bytes dropped", g.output_dropped);
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
        }
        let s = &self.summary;
        let verdict = if self.passed() {
            style.green("PASS")
        } else {
            style.red("FAIL")
        };
        let models = if s.models == 1 {
            let m = &self.models[0];
            format!("{} version {}", clean_line(&m.model), m.version)
        } else {
            format!("{} candidates", s.models)
        };
        let _ = writeln!(
            out,
            "{verdict}: {} of {} gates passed for {models}{}",
            s.passed,
            s.gates,
            warnings_note(s.warnings)
        );
        out
    }

    fn junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let total: f64 = self
            .models
            .iter()
            .flat_map(|m| &m.gates)
            .map(|g| g.duration.as_secs_f64())
            .sum();
        let count = |gates: &mut dyn Iterator<Item = &GateResult>, o: Outcome| {
            gates.filter(|g| g.outcome == o).count()
        };
        let all = || self.models.iter().flat_map(|m| &m.gates);
        let _ = writeln!(
            out,
            "<testsuites name=\"modelgate\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{total:.3}\">",
            self.summary.gates,
            count(&mut all(), Outcome::Fail),
            count(&mut all(), Outcome::Error)
        );
        for m in &self.models {
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
                let _ = write!(
                    out,
                    "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                    xml(&m.model),
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
                    continue;
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
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

impl Report {
    /// One line for the whole run: `PASS: 2 of 2 gates passed for m version 3`.
    fn headline(&self) -> String {
        let s = &self.summary;
        let models = if s.models == 1 {
            let m = &self.models[0];
            format!("{} version {}", m.model, m.version)
        } else {
            format!("{} candidates", s.models)
        };
        format!(
            "{}: {} of {} gates passed for {models}{}",
            if self.passed() { "PASS" } else { "FAIL" },
            s.passed,
            s.gates,
            warnings_note(s.warnings)
        )
    }

    /// GitHub Actions workflow commands: an `::error` per failed check (or
    /// per failed gate without failed checks) and a `::warning` per check
    /// passed with a warning, titled with the model, version and gate, the
    /// project file as `file=`; then a `::notice` (on a pass) or `::error`
    /// (on a fail) with the headline.
    fn github(&self) -> String {
        let mut out = String::new();
        let file = if std::path::Path::new(&self.project).is_relative() {
            format!("file={},", gh_property(&self.project))
        } else {
            String::new()
        };
        for m in &self.models {
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
                let failed: Vec<&crate::gate::Check> =
                    g.checks.iter().filter(|c| !c.passed).collect();
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
        let level = if self.passed() { "notice" } else { "error" };
        let _ = writeln!(
            out,
            "::{level} title=modelgate::{}",
            gh_data(&self.headline())
        );
        out
    }

    /// A Markdown summary: the headline, then one row per check (a gate
    /// without checks gets one row with its cause or summary).
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let mark = if self.passed() { "✅" } else { "❌" };
        let _ = writeln!(out, "### {mark} modelgate: {}\n", md_cell(&self.headline()));
        out.push_str("| model | version | gate | outcome | check | observed | expected |\n");
        out.push_str("|---|---:|---|---|---|---|---|\n");
        for m in &self.models {
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
}

/// ` (2 warnings)` after a headline, or nothing.
fn warnings_note(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => " (1 warning)".into(),
        n => format!(" ({n} warnings)"),
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

/// A table cell: one line, no `|` breaking the row, no HTML.
fn md_cell(s: &str) -> String {
    clean_line(s)
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace(['\n', '\r'], " ")
}

fn ser_time<S: serde::Serializer>(t: &std::time::SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::text::rfc3339(*t))
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

/// How the human report looks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// Use ANSI colours.
    pub color: bool,
    /// Show every gate's checks, logs and full output.
    pub verbose: bool,
}

impl Style {
    /// Colour on a terminal unless `NO_COLOR` is set.
    pub fn detect(verbose: bool) -> Style {
        use std::io::IsTerminal as _;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::stdout().is_terminal(),
            verbose,
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }

    fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }

    fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }

    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{Cause, Check};
    use std::time::Duration;

    fn gate(name: &str, passed: bool) -> GateResult {
        let mut g = GateResult::new(name, "wasm", "builtin:threshold");
        g.duration = Duration::from_micros(850);
        g.checks = vec![Check {
            name: "score".into(),
            passed,
            warning: None,
            observed: Some("0.5".into()),
            expected: Some(">= 0.6".into()),
            detail: None,
        }];
        g.conclude((!passed).then(|| Cause::Verdict(Some("1 of 1 checks failed".into()))));
        g
    }

    fn report(passed: bool) -> Report {
        Report::new(
            "sqlite:////x/mlflow.db".into(),
            "ame.yaml".into(),
            vec![ModelReport {
                model: "logreg".into(),
                version: 2,
                run_id: Some("abc".into()),
                selected_by: "latest".into(),
                judged_at: std::time::SystemTime::UNIX_EPOCH,
                passed,
                gates: vec![gate("quality_gate", passed)],
            }],
        )
    }

    #[test]
    fn human_report_lines() {
        let text = report(false).render(Format::Human, Style::default());
        assert_eq!(
            text,
            "logreg version 2 (run abc, latest)\n  ✘ quality_gate  wasm       0.85ms  1 of 1 checks failed\n      ✘ score: observed 0.5, expected >= 0.6\nFAIL: 0 of 1 gates passed for logreg version 2\n"
        );
    }

    #[test]
    fn json_report_schema() {
        let v: serde_json::Value =
            serde_json::from_str(&report(true).render(Format::Json, Style::default()))
                .expect("json");
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(v["status"], "pass");
        assert_eq!(v["models"][0]["gates"][0]["duration_ms"], 0.85);
        assert_eq!(v["summary"]["gates"], 1);
    }

    #[test]
    fn the_streamed_json_is_the_whole_report_serialized() {
        // Written one candidate at a time, it is byte for byte what
        // serializing the whole report gives: any number of candidates.
        for n in [0usize, 1, 3] {
            let mut r = report(true);
            let one = r.models[0].clone();
            r = Report::new(
                "sqlite:///x \"quoted\"\nline".into(),
                "ame.yaml".into(),
                (0..n)
                    .map(|i| {
                        let mut m = one.clone();
                        m.version = i as u64 + 1;
                        m.gates[0].passed = i != 1;
                        m.passed = i != 1;
                        m
                    })
                    .collect(),
            );
            let whole = serde_json::to_string_pretty(&r).expect("json") + "\n";
            assert_eq!(
                r.render(Format::Json, Style::default()),
                whole,
                "{n} candidates"
            );
            let v: serde_json::Value = serde_json::from_str(&whole).expect("json");
            assert_eq!(v["status"], if n >= 2 { "fail" } else { "pass" });
            assert_eq!(v["summary"]["models"], n);
        }
    }

    #[test]
    fn causes_are_typed_in_json_and_junit() {
        let mut r = report(false);
        r.models[0].gates.push(gate("mem", false));
        r.models[0].gates[1].conclude(Some(Cause::MemoryLimit {
            limit: 64 << 20,
            reached: 120 << 20,
        }));
        let v: serde_json::Value =
            serde_json::from_str(&r.render(Format::Json, Style::default())).expect("json");
        let g = &v["models"][0]["gates"];
        assert_eq!(g[0]["outcome"], "fail");
        assert_eq!(g[0]["cause_code"], "verdict_failed");
        assert_eq!(g[0]["cause"], "1 of 1 checks failed");
        assert_eq!(g[1]["outcome"], "error");
        assert_eq!(g[1]["cause_code"], "memory_limit");
        assert_eq!(
            g[1]["cause"],
            "exceeded its memory limit of 64 MiB (memories, tables and registry answers would have reached 120 MiB)"
        );
        let pass = report(true).render(Format::Json, Style::default());
        let v: serde_json::Value = serde_json::from_str(&pass).expect("json");
        assert_eq!(v["models"][0]["gates"][0]["outcome"], "pass");
        assert!(v["models"][0]["gates"][0].get("cause_code").is_none());
        let x = r.render(Format::Junit, Style::default());
        assert!(x.contains("failures=\"1\" errors=\"1\""), "{x}");
        assert!(
            x.contains("<error message=\"exceeded its memory limit"),
            "{x}"
        );
        assert!(x.contains("type=\"memory_limit\""), "{x}");
        assert!(
            x.contains("<failure message=\"1 of 1 checks failed\" type=\"verdict_failed\""),
            "{x}"
        );
    }

    #[test]
    fn junit_escapes() {
        let mut r = report(false);
        r.models[0].gates[0].output = "a < b & \"c\"".into();
        let x = r.render(Format::Junit, Style::default());
        assert!(x.contains("a &lt; b &amp; &quot;c&quot;"), "{x}");
        assert!(x.contains("failures=\"1\""));
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_micros(120)), "0.12ms");
        assert_eq!(format_duration(Duration::from_millis(1420)), "1.42s");
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
        assert_eq!(format_duration(Duration::from_secs(123)), "2m03s");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// However hostile the gate's texts, the human report has one
            /// line per model, gate and check, and ends with the verdict.
            #[test]
            fn hostile_texts_cannot_add_or_hide_lines(
                name in any::<String>(),
                summary in any::<String>(),
                check in any::<String>(),
                detail in any::<String>(),
            ) {
                let mut r = report(false);
                let g = &mut r.models[0].gates[0];
                g.name = name;
                g.conclude(Some(Cause::Verdict(Some(summary))));
                g.checks[0].name = check;
                g.checks[0].detail = Some(detail);
                let text = r.render(Format::Human, Style::default());
                let lines: Vec<&str> = text.lines().collect();
                prop_assert_eq!(lines.len(), 4, "{}", text);
                prop_assert!(lines[3].starts_with("FAIL: 0 of 1 gates passed"), "{}", text);
                prop_assert!(!text.contains('\r') && !text.contains('\x1b'));
            }

            /// The JSON report carries any text exactly.
            #[test]
            fn json_keeps_texts_exactly(summary in any::<String>()) {
                let mut r = report(false);
                r.models[0].gates[0].conclude(Some(Cause::Other(summary.clone())));
                let v: serde_json::Value = serde_json::from_str(&r.render(Format::Json, Style::default()))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(v["models"][0]["gates"][0]["cause"].as_str(), Some(summary.as_str()));
            }
        }
    }

    #[test]
    fn github_workflow_commands_are_exact() {
        let pass = report(true);
        assert_eq!(
            pass.render(Format::Github, Style::default()),
            "::notice title=modelgate::PASS: 1 of 1 gates passed for logreg version 2\n"
        );
        let mut fail = report(false);
        fail.models[0].gates[0].checks[0].detail = Some("50% of 1,0\nnext".into());
        assert_eq!(
            fail.render(Format::Github, Style::default()),
            "::error file=ame.yaml,title=modelgate%3A logreg v2 gate quality_gate::check score: observed 0.5, expected >= 0.6 (50%25 of 1,0%0Anext)\n\
             ::error title=modelgate::FAIL: 0 of 1 gates passed for logreg version 2\n"
        );
    }

    #[test]
    fn the_markdown_table_is_exact() {
        let mut fail = report(false);
        fail.models[0].gates[0].name = "a|b".into();
        assert_eq!(
            fail.render(Format::Markdown, Style::default()),
            "### ❌ modelgate: FAIL: 0 of 1 gates passed for logreg version 2\n\n\
             | model | version | gate | outcome | check | observed | expected |\n\
             |---|---:|---|---|---|---|---|\n\
             | logreg | 2 | a\\|b | ❌ fail | ✘ score | 0.5 | >= 0.6 |\n"
        );
    }
}
