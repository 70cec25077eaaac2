//! modelgate's exit codes, a documented contract: 0 every gate passed, 1 a
//! gate failed, 2 modelgate itself could not decide, 128 + N stopped by
//! signal N (SIGHUP 129, SIGINT 130, SIGTERM 143) before it decided.

use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every gate passed (or the command succeeded): exit 0.
    Pass,
    /// At least one gate failed: exit 1.
    Fail,
    /// modelgate could not decide (bad configuration, unreachable registry, …): exit 2.
    Error,
    /// Stopped by signal N (SIGTERM, SIGINT, SIGHUP) before it decided, its
    /// gates stopped: exit 128 + N, as a shell reports a signalled command.
    Signal(u8),
}

impl ExitStatus {
    /// The numeric exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Pass => 0,
            ExitStatus::Fail => 1,
            ExitStatus::Error => 2,
            ExitStatus::Signal(n) => 128u8.saturating_add(n),
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s.code())
    }
}
