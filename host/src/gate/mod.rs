//! Gates and their verdicts.
//!
//! A gate is either a process ([`process`]) or a WebAssembly component
//! ([`wasm`]); both end in a [`GateResult`]. Anything that is not a clear
//! pass — a non-zero exit, a trap, a timeout, a limit, a malformed verdict —
//! is a failed gate with its cause named.

pub mod process;
pub mod reaper;
pub mod wasm;

use std::time::Duration;

/// One check inside a gate's verdict, e.g. one metric against its threshold.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Check {
    /// What was checked (e.g. `score`).
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// The observed value, as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// What was expected (e.g. `>= 0.6`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Further explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A line a WebAssembly gate logged through the host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The message.
    pub message: String,
}

/// The outcome of one gate for one candidate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GateResult {
    /// The gate's (task's) name.
    pub name: String,
    /// `process` or `wasm`.
    pub kind: &'static str,
    /// The command or plugin.
    pub target: String,
    /// True only for a clear pass.
    pub passed: bool,
    /// Why it did not pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The gate's own one-line summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Wall-clock time.
    #[serde(rename = "duration_ms", serialize_with = "ser_ms")]
    pub duration: Duration,
    /// The checks the gate reported.
    pub checks: Vec<Check>,
    /// What the gate printed (bounded).
    pub output: String,
    /// Bytes of output dropped by the bound.
    #[serde(skip_serializing_if = "is_zero")]
    pub output_dropped: u64,
    /// What a WebAssembly gate logged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogLine>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}
