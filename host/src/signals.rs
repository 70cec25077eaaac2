//! The signals that stop a command before it decides: SIGTERM (a CI
//! runner cancelling a job), SIGINT (Ctrl-C) and SIGHUP (the terminal
//! closed). `serve` has its own (it drains); `validate`, `check` and
//! `replay` stop their gates and exit 128 + N (see
//! [`crate::commands`]).

use tokio::signal::unix::{Signal, SignalKind, signal};

/// A signal that stopped a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGHUP.
    Hangup,
    /// SIGINT.
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Stop {
    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            Stop::Hangup => 1,
            Stop::Interrupt => 2,
            Stop::Terminate => 15,
        }
    }

    /// The signal's name.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Hangup => "SIGHUP",
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }
}

/// The three signals, listened for from now on (their default action,
/// ending the process at once, no longer applies).
pub struct Signals {
    hangup: Signal,
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Listens for the signals; `None` where they cannot be listened for
    /// (then they act as they would by default).
    pub fn new() -> Option<Signals> {
        Some(Signals {
            hangup: signal(SignalKind::hangup()).ok()?,
            interrupt: signal(SignalKind::interrupt()).ok()?,
            terminate: signal(SignalKind::terminate()).ok()?,
        })
    }

    /// The first of them to arrive.
    pub async fn recv(mut self) -> Stop {
        tokio::select! {
            _ = self.hangup.recv() => Stop::Hangup,
            _ = self.interrupt.recv() => Stop::Interrupt,
            _ = self.terminate.recv() => Stop::Terminate,
        }
    }
}
