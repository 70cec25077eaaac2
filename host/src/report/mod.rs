//! The report: what was decided and why, for people (`human`), programs
//! (`json`, schema `modelgate.report/v1`), CI dashboards (`junit`), GitHub
//! (`github`), pull requests (`markdown`) and browsers (`html`, with
//! charts); one file per format.
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

pub mod chart;
mod github;
pub mod html;
mod human;
mod json;
mod junit;
pub mod markdown;

use crate::judge::Judgement;
use crate::text::clean_line;
pub use crate::text::{TAIL_LINES, format_duration, human_bytes};
pub use github::step_summary;
pub use json::{JsonStream, RenderedModel};

/// The schema identifier of the JSON report.
pub const SCHEMA: &str = "modelgate.report/v1";

/// Output formats of `modelgate validate` (the command line's
/// `--format`, [`crate::cli::ReportFormat`], maps onto it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// One self-contained HTML page: the verdict, a chart per metric the
    /// gates compared, every gate's checks.
    Html,
}

/// A whole report's status: every gate passed, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every gate of every candidate passed.
    Pass,
    /// Some gate did not.
    Fail,
}

impl Status {
    /// `pass` or `fail`, as the JSON report says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
        }
    }
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
    pub fn add(&mut self, m: &Judgement) {
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
    pub fn status(&self) -> Status {
        if self.failed == 0 {
            Status::Pass
        } else {
            Status::Fail
        }
    }
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
    pub models: Vec<Judgement>,
    /// `pass` or `fail`.
    pub status: Status,
    /// Counts.
    pub summary: Summary,
}

impl Report {
    /// Builds the report and its summary.
    pub fn new(tracking_uri: String, project: String, models: Vec<Judgement>) -> Report {
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
        self.status == Status::Pass
    }

    /// Renders the report.
    pub fn render(&self, format: Format, style: Style) -> String {
        match format {
            Format::Human => human::render(self, style),
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
            Format::Junit => junit::render(self),
            Format::Github => github::render(self),
            Format::Markdown => markdown::render(self),
            Format::Html => html::render(self),
        }
    }

    /// One line for the whole run: `PASS: 2 of 2 gates passed for m version 3`.
    pub fn headline(&self) -> String {
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        format!("{verdict}{}", self.headline_tail())
    }

    /// The headline after its verdict: `: 2 of 2 gates passed for …`.
    fn headline_tail(&self) -> String {
        let s = &self.summary;
        let models = if s.models == 1 {
            let m = &self.models[0];
            format!("{} version {}", clean_line(&m.model), m.version)
        } else {
            format!("{} candidates", s.models)
        };
        format!(
            ": {} of {} gates passed for {models}{}",
            s.passed,
            s.gates,
            warnings_note(s.warnings)
        )
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
    use crate::gate::{Cause, Check, GateResult};
    use std::time::Duration;

    fn gate(name: &str, passed: bool) -> GateResult {
        let mut g = GateResult::new(name, crate::gate::Kind::Wasm, "builtin:threshold");
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
            vec![Judgement {
                model: "logreg".into(),
                version: 2,
                run_id: Some("abc".into()),
                selected_by: "latest".into(),
                judged_at: std::time::SystemTime::UNIX_EPOCH,
                passed,
                gates: vec![gate("quality_gate", passed)],
                unrecorded: true,
                read_tags: Vec::new(),
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
