//! Writing to stdout and stderr without ever panicking.
//!
//! `print!` panics when stdout is a closed pipe (`modelgate validate | head
//! -0`), and `eprint!` when stderr is. A gatekeeper must not turn that into
//! exit 101: a closed reader of the report ends the output quietly (the
//! exit code still carries the verdict), and diagnostics that cannot be
//! written are dropped.

use std::io::Write as _;

/// Writes the report (or other pipeable data) to stdout. A reader that
/// went away is not an error; any other failure (a full disk behind a
/// redirection) is, because then the report was not delivered.
pub fn stdout(text: &str) -> std::io::Result<()> {
    let mut out = StdoutSink::default();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Writes a diagnostic to stderr, dropping it if stderr cannot take it.
pub fn stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Stdout as a [`std::io::Write`] for a report written piece by piece,
/// with [`stdout`]'s rule: once the reader went away, the rest is dropped
/// quietly; any other failure is an error.
#[derive(Debug, Default)]
pub struct StdoutSink {
    closed: bool,
}

impl std::io::Write for StdoutSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.closed {
            match std::io::stdout().lock().write_all(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => self.closed = true,
                other => other?,
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match std::io::stdout().lock().flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}
