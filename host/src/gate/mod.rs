//! Gates and their verdicts.
//!
//! A gate is either a process ([`process`]) or a WebAssembly component
//! ([`wasm`]); both end in a [`GateResult`]. Anything that is not a clear
//! pass — a non-zero exit, a trap, a timeout, a limit, a malformed verdict —
//! is a failed gate with its cause named.

pub mod evidence;
pub mod process;
pub mod reaper;
pub mod wasm;

use std::time::Duration;

/// One check inside a gate's verdict, e.g. one metric against its threshold.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Check {
    /// What was checked (e.g. `score`).
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// A passed check's note that deserves attention (world 0.2.0);
    /// `--fail-on-warn` fails the gate on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
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
    /// Its level.
    pub level: LogLevel,
    /// The message.
    pub message: String,
}

/// The level of a gate's log line (the world's `log.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `trace`.
    Trace,
    /// `debug`.
    Debug,
    /// `info`.
    Info,
    /// `warn`.
    Warn,
    /// `error`.
    Error,
}

impl LogLevel {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// What runs a gate: a process (a command, or a pipeline of them) or a
/// sandboxed WebAssembly component. The report's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `process`.
    Process,
    /// `wasm`.
    Wasm,
}

impl Kind {
    /// `process` or `wasm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Process => "process",
            Kind::Wasm => "wasm",
        }
    }

    /// The kind `text` names, if any.
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "process" => Some(Kind::Process),
            "wasm" => Some(Kind::Wasm),
            _ => None,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so that a width (`{:7}`) applies.
        f.pad(self.as_str())
    }
}

/// How a gate ended: a clear pass, a judged failure, or no judgement at
/// all. Only `Pass` passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The gate passed.
    Pass,
    /// The gate judged the candidate and said no (its verdict, its checks,
    /// a non-zero exit code).
    Fail,
    /// The gate could not judge (a trap, a limit, a timeout, a signal, the
    /// plugin's own error, the registry): not a pass either.
    Error,
}

impl Outcome {
    /// `pass`, `fail` or `error`, as the JSON report and the tags say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
        }
    }
}

/// Why a gate did not pass. Rendered as prose for people and as a stable
/// code (`cause_code` in the JSON report) for programs.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// The gate's verdict is "failed", with its summary if it gave one.
    Verdict(Option<String>),
    /// The verdict says passed, but these checks failed.
    ChecksFailed(Vec<String>),
    /// A process gate exited with this non-zero code.
    ExitCode(i32),
    /// A process gate was killed by this signal.
    Signal(i32),
    /// A process gate ran past its timeout; its process group was killed.
    ProcessTimeout(Duration),
    /// A WebAssembly gate ran past its time limit.
    TimeLimit(Duration),
    /// A WebAssembly gate's memory (all memories, tables and what the host
    /// keeps for it) would have passed `limit`, reaching `reached`.
    MemoryLimit {
        /// The limit, in bytes.
        limit: u64,
        /// The total it would have reached, in bytes.
        reached: u64,
    },
    /// A WebAssembly gate wrote more than this many bytes to a stream.
    OutputLimit(u64),
    /// A WebAssembly gate used up its budget of this many registry calls.
    RegistryBudget(u64),
    /// A WebAssembly gate broke a bound of the registry interface.
    RegistryBound(String),
    /// The plugin panicked with this message.
    Panic(String),
    /// The plugin trapped.
    Trap(String),
    /// The plugin returned an error instead of a verdict.
    PluginError(String),
    /// The registry could not be read for this gate.
    Registry(String),
    /// Anything else that stopped the gate (e.g. a command that could not
    /// be started).
    Other(String),
    /// The gate passed, but these checks carry a warning and
    /// `--fail-on-warn` is set.
    Warnings(Vec<String>),
    /// A step of a `pipeline:` gate did not pass, for `cause`; the steps
    /// after it did not run.
    Step {
        /// The step's `taskname`.
        step: String,
        /// Why it did not pass.
        cause: Box<Cause>,
    },
}

impl Cause {
    /// The stable, machine-readable code: `verdict_failed`,
    /// `checks_failed`, `warnings`, `exit_code`, `signal`, `timeout`,
    /// `memory_limit`, `output_limit`, `registry_budget`, `registry_bound`,
    /// `panic`, `trap`, `plugin_error`, `registry_error` or `other` (a
    /// pipeline step's cause has the code of what stopped the step).
    pub fn code(&self) -> &'static str {
        match self {
            Cause::Verdict(_) => "verdict_failed",
            Cause::ChecksFailed(_) => "checks_failed",
            Cause::ExitCode(_) => "exit_code",
            Cause::Signal(_) => "signal",
            Cause::ProcessTimeout(_) | Cause::TimeLimit(_) => "timeout",
            Cause::MemoryLimit { .. } => "memory_limit",
            Cause::OutputLimit(_) => "output_limit",
            Cause::RegistryBudget(_) => "registry_budget",
            Cause::RegistryBound(_) => "registry_bound",
            Cause::Panic(_) => "panic",
            Cause::Trap(_) => "trap",
            Cause::PluginError(_) => "plugin_error",
            Cause::Registry(_) => "registry_error",
            Cause::Other(_) => "other",
            Cause::Warnings(_) => "warnings",
            Cause::Step { cause, .. } => cause.code(),
        }
    }

    /// Whether the gate judged and said no ([`Outcome::Fail`]) or could
    /// not judge ([`Outcome::Error`]).
    pub fn outcome(&self) -> Outcome {
        match self {
            Cause::Verdict(_)
            | Cause::ChecksFailed(_)
            | Cause::ExitCode(_)
            | Cause::Warnings(_) => Outcome::Fail,
            Cause::Step { cause, .. } => cause.outcome(),
            _ => Outcome::Error,
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::text::{format_duration, human_bytes};
        match self {
            Cause::Verdict(Some(summary)) => f.write_str(summary),
            Cause::Verdict(None) => f.write_str("the gate's verdict is: failed"),
            Cause::ChecksFailed(names) => write!(
                f,
                "verdict says passed, but check{} {} failed",
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            ),
            Cause::ExitCode(127) => f.write_str("exited with code 127 (command not found)"),
            Cause::ExitCode(126) => f.write_str("exited with code 126 (command not executable)"),
            Cause::ExitCode(code) => write!(f, "exited with code {code}"),
            Cause::Signal(sig) => write!(
                f,
                "killed by signal {} (exit {})",
                process::signal_name(*sig),
                128 + sig
            ),
            Cause::ProcessTimeout(t) => write!(
                f,
                "timed out after {} (process group killed)",
                format_duration(*t)
            ),
            Cause::TimeLimit(t) => write!(f, "exceeded its time limit of {}", format_duration(*t)),
            Cause::MemoryLimit { limit, reached } => write!(
                f,
                "exceeded its memory limit of {} (memories, tables and registry answers would have reached {})",
                human_bytes(*limit),
                human_bytes(*reached)
            ),
            Cause::OutputLimit(n) => write!(
                f,
                "exceeded its output limit of {} per stream",
                human_bytes(*n)
            ),
            Cause::RegistryBudget(n) => write!(f, "exhausted its budget of {n} registry calls"),
            Cause::RegistryBound(what) => write!(f, "exceeded a registry bound: {what}"),
            Cause::Panic(msg) => write!(f, "panicked: {msg}"),
            Cause::Trap(trap) => write!(f, "trapped: {trap}"),
            Cause::PluginError(msg) => write!(f, "plugin error: {msg}"),
            Cause::Registry(msg) | Cause::Other(msg) => f.write_str(msg),
            Cause::Step { step, cause } => write!(f, "step `{step}` {cause}"),
            Cause::Warnings(names) => write!(
                f,
                "check{} {} passed with a warning, and --fail-on-warn is set",
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            ),
        }
    }
}

/// The outcome of one gate for one candidate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GateResult {
    /// The gate's (task's) name.
    pub name: String,
    /// What ran it.
    pub kind: Kind,
    /// The command or plugin.
    pub target: String,
    /// True only for a clear pass.
    pub passed: bool,
    /// Pass, fail or error.
    pub outcome: Outcome,
    /// Why it did not pass, as prose.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_cause")]
    pub cause: Option<Cause>,
    /// The cause's stable code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause_code: Option<&'static str>,
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
    /// What a WebAssembly gate's decision was made from, for `replay`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Box<evidence::Evidence>>,
}

impl GateResult {
    /// A result for gate `name` of `kind` running `target`, not yet
    /// concluded (an error until [`conclude`](Self::conclude) says otherwise).
    pub fn new(name: &str, kind: Kind, target: &str) -> GateResult {
        GateResult {
            name: name.to_string(),
            kind,
            target: target.to_string(),
            passed: false,
            outcome: Outcome::Error,
            cause: Some(Cause::Other("the gate did not finish".into())),
            cause_code: Some("other"),
            summary: None,
            duration: Duration::ZERO,
            checks: Vec::new(),
            output: String::new(),
            output_dropped: 0,
            logs: Vec::new(),
            evidence: None,
        }
    }

    /// The checks of a passed gate that carry a warning.
    pub fn warnings(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| self.passed && c.passed && c.warning.is_some())
    }

    /// `--fail-on-warn`: a gate that passed with warnings fails instead
    /// (cause `warnings`, naming the checks).
    pub fn fail_on_warnings(&mut self) {
        let names: Vec<String> = self.warnings().map(|c| c.name.clone()).collect();
        if !names.is_empty() {
            self.conclude(Some(Cause::Warnings(names)));
        }
    }

    /// Records how the gate ended: `None` is a pass, anything else is why not.
    pub fn conclude(&mut self, cause: Option<Cause>) {
        self.outcome = cause.as_ref().map_or(Outcome::Pass, Cause::outcome);
        self.passed = self.outcome == Outcome::Pass;
        self.cause_code = cause.as_ref().map(Cause::code);
        self.cause = cause;
    }
}

fn ser_cause<S: serde::Serializer>(c: &Option<Cause>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.collect_str(c),
        None => s.serialize_none(),
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}
