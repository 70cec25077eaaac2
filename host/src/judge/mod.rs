//! Judging: the library's one pipeline, which every command drives.
//!
//! ```text
//! plan ──► Runner::prepare ──► candidates ──► pipeline ──► Sink(s)
//!          (gates ready)       (resolved)     (windows,     (report formats,
//!                                              --jobs,       recorder,
//!                                              in order)     serve's log)
//! ```
//!
//! - [`runner`]: every gate made ready once, then any candidate judged by
//!   its model's gates into a [`Judgement`];
//! - [`pipeline`]: candidates to ordered judgements — the registry read a
//!   window at a time, judgements batched onto worker threads under the
//!   `--jobs` permits, handed on in candidate order;
//! - [`Sink`]: what takes each judgement as it is made (a report format,
//!   the recorder of [`crate::record`], `serve`'s log and metrics).
//!
//! `validate`, `serve` and the benches differ only in the candidates they
//! hand in and the sinks they hand them to.

pub mod check;
pub mod pipeline;
pub mod runner;

use std::time::SystemTime;

use crate::gate::{GateResult, Outcome};

pub use pipeline::{Sink, Target};
pub use runner::{Context, Ready, ReadyGate, ReadyModel, Runner};

/// The verdict on one candidate version: every gate's result, in plan
/// order. Serialized as an element of the JSON report's `models`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Judgement {
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
    pub judged_at: SystemTime,
    /// True when every gate passed.
    pub passed: bool,
    /// The gates, in plan order.
    pub gates: Vec<GateResult>,
    /// The version carried no `modelgate.verdict` tag when it was read for
    /// this judgement: its record has no older verdict to invalidate
    /// first (see [`crate::record`]). Not part of the report.
    #[serde(skip)]
    pub unrecorded: bool,
    /// The tags its gates read ([`runner::ReadyModel::tags_read`]) with
    /// their values on the candidate as judged (`None`: not set), for the
    /// record's seal. Not part of the report.
    #[serde(skip)]
    pub read_tags: Vec<(String, Option<String>)>,
}

impl Judgement {
    /// The verdict of the whole judgement.
    pub fn verdict(&self) -> Verdict {
        if self.gates.iter().all(|g| g.outcome == Outcome::Pass) {
            Verdict::Pass
        } else if self.gates.iter().any(|g| g.outcome == Outcome::Fail) {
            Verdict::Fail
        } else {
            Verdict::Error
        }
    }
}

/// A candidate's verdict: what `modelgate.verdict` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Every gate passed.
    Pass,
    /// A gate judged and said no.
    Fail,
    /// No gate said no, but one could not judge: not a pass either.
    Error,
}

impl Verdict {
    /// `pass`, `fail` or `error`, as tags, logs and metrics say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }

    /// The verdict `text` names, if it names one.
    pub fn parse(text: &str) -> Option<Verdict> {
        match text {
            "pass" => Some(Verdict::Pass),
            "fail" => Some(Verdict::Fail),
            "error" => Some(Verdict::Error),
            _ => None,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn ser_time<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::text::rfc3339(*t))
}
