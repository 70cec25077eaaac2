//! Process gates: a command run with `sh -c` in the project directory, the
//! candidate in its environment, exit code 0 = pass.
//!
//! The command runs in its own process group so a timeout (and the clean-up
//! after a normal exit) reaches every process it started, not only the
//! shell; what leaves the group (a daemon that calls `setsid`) is caught by
//! [`super::reaper`].
//! Output from stdout and stderr is captured interleaved, keeping at most
//! [`OUTPUT_LIMIT`] bytes (the most recent ones).

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::AsyncReadExt as _;
use tokio::process::Command;

use crate::error::HintExt as _;

/// Bytes of output kept per gate.
pub const OUTPUT_LIMIT: usize = 1 << 20;
/// Grace period between SIGTERM and SIGKILL on timeout.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec<'a> {
    /// The command line, run by `sh -c`.
    pub command: &'a str,
    /// The working directory.
    pub dir: &'a Path,
    /// Variables added to the inherited environment.
    pub env: Vec<(String, String)>,
    /// Wall-clock limit.
    pub timeout: Duration,
}

/// How the process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
    /// It ran past the timeout and its group was killed.
    TimedOut(Duration),
}

/// Captured output: the last [`OUTPUT_LIMIT`] bytes and how many were dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The kept bytes, lossily decoded.
    pub text: String,
    /// Bytes dropped from the front.
    pub dropped: u64,
}

impl Captured {
    /// The last `n` lines.
    pub fn tail(&self, n: usize) -> Vec<&str> {
        let lines: Vec<&str> = self.text.lines().collect();
        lines[lines.len().saturating_sub(n)..].to_vec()
    }
}

/// The result of running a process gate.
#[derive(Debug, Clone)]
pub struct ProcessOutcome {
    /// How it ended.
    pub ending: Ending,
    /// What it printed.
    pub output: Captured,
    /// How long it ran.
    pub duration: Duration,
}

impl ProcessOutcome {
    /// True for exit code 0 only.
    pub fn passed(&self) -> bool {
        self.ending == Ending::Exited(0)
    }

    /// Why the gate did not pass, or `None` when it passed.
    pub fn cause(&self) -> Option<super::Cause> {
        use super::Cause;
        match &self.ending {
            Ending::Exited(0) => None,
            Ending::Exited(code) => Some(Cause::ExitCode(*code)),
            Ending::Signaled(sig) => Some(Cause::Signal(*sig)),
            Ending::TimedOut(t) => Some(Cause::ProcessTimeout(*t)),
        }
    }
}

/// The conventional name of a signal (`SIGKILL`), or its number.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return format!("{sig}"),
    };
    name.to_string()
}

#[derive(Default)]
struct Ring {
    buf: std::collections::VecDeque<u8>,
    dropped: u64,
}

impl Ring {
    fn push(&mut self, data: &[u8]) {
        self.buf.extend(data);
        let over = self.buf.len().saturating_sub(OUTPUT_LIMIT);
        if over > 0 {
            self.buf.drain(..over);
            self.dropped += over as u64;
        }
    }
}

fn kill_group(pgid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pgid as i32) {
        // ESRCH (the group is already gone) is the expected case after a
        // normal exit; nothing else can go wrong that we could act on.
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

fn group_alive(pgid: u32) -> bool {
    rustix::process::Pid::from_raw(pgid as i32)
        .map(|pid| rustix::process::test_kill_process_group(pid).is_ok())
        .unwrap_or(false)
}

/// Runs the command and waits for it, its timeout, and its clean-up.
pub async fn run(spec: &ProcessSpec<'_>) -> anyhow::Result<ProcessOutcome> {
    let start = Instant::now();
    super::reaper::enable();
    let token = super::reaper::token();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(spec.command)
        .current_dir(spec.dir)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env(super::reaper::TOKEN_VAR, &token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // From the moment it exists, however this function ends (even
    // cancelled by the overall deadline), the gate's group and leftovers
    // are killed when `tracked` goes.
    let (mut child, tracked) = super::reaper::spawn(token, || {
        let child = cmd.spawn()?;
        let pid = child.id().ok_or_else(|| {
            std::io::Error::other("the gate process vanished before it could be watched")
        })?;
        Ok((child, pid))
    })
    .with_context(|| format!("failed to start `sh -c {}`", spec.command))
    .hint("modelgate runs process gates with `sh`; check that it is on PATH")?;
    let pgid = tracked.pgid();

    let ring = Arc::new(Mutex::new(Ring::default()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(pump(out, ring.clone())));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(pump(err, ring.clone())));
    }

    let ending = match tokio::time::timeout(spec.timeout, child.wait()).await {
        Ok(status) => {
            let status = status.context("failed to wait for the gate process")?;
            // Whatever the command left running in its group goes with it.
            kill_group(pgid, rustix::process::Signal::KILL);
            use std::os::unix::process::ExitStatusExt as _;
            match (status.code(), status.signal()) {
                (Some(code), _) => Ending::Exited(code),
                (None, Some(sig)) => Ending::Signaled(sig),
                (None, None) => Ending::Exited(-1),
            }
        }
        Err(_) => {
            stop_group(&mut child, pgid).await;
            Ending::TimedOut(spec.timeout)
        }
    };

    // Kill what the gate left behind, in its group or daemonised.
    drop(tracked);
    // Pipes close when the last writer dies; one that escaped the group
    // (setsid) could hold them open, so do not wait forever.
    for r in readers {
        if tokio::time::timeout(Duration::from_secs(1), r)
            .await
            .is_err()
        {
            break;
        }
    }
    Ok(ProcessOutcome {
        ending,
        output: captured(&ring)?,
        duration: start.elapsed(),
    })
}

/// A gate past its timeout: its group gets SIGTERM and [`KILL_GRACE`] to
/// end, then SIGKILL; the shell is reaped.
async fn stop_group(child: &mut tokio::process::Child, pgid: u32) {
    kill_group(pgid, rustix::process::Signal::TERM);
    let deadline = Instant::now() + KILL_GRACE;
    while Instant::now() < deadline {
        // Reap the shell so it does not linger as a zombie member.
        let _ = child.try_wait();
        if !group_alive(pgid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill_group(pgid, rustix::process::Signal::KILL);
    let _ = child.wait().await;
}

/// What the gate wrote, within the bound.
fn captured(ring: &Mutex<Ring>) -> anyhow::Result<Captured> {
    let ring = ring
        .lock()
        .map_err(|_| anyhow::anyhow!("output buffer poisoned"))?;
    let bytes: Vec<u8> = ring.buf.iter().copied().collect();
    Ok(Captured {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        dropped: ring.dropped,
    })
}

async fn pump(mut stream: impl tokio::io::AsyncRead + Unpin, ring: Arc<Mutex<Ring>>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut r) = ring.lock() {
                    r.push(&buf[..n]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(command: &'a str, dir: &'a Path, timeout: Duration) -> ProcessSpec<'a> {
        ProcessSpec {
            command,
            dir,
            env: vec![("GATE_VAR".into(), "hello".into())],
            timeout,
        }
    }

    #[tokio::test]
    async fn exit_codes_env_and_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = run(&spec(
            "echo $GATE_VAR; echo err >&2",
            dir.path(),
            Duration::from_secs(10),
        ))
        .await
        .expect("runs");
        assert!(ok.passed());
        assert!(ok.output.text.contains("hello"));
        assert!(ok.output.text.contains("err"));
        let bad = run(&spec("exit 3", dir.path(), Duration::from_secs(10)))
            .await
            .expect("runs");
        assert_eq!(bad.ending, Ending::Exited(3));
        assert_eq!(
            bad.cause().map(|c| c.to_string()).as_deref(),
            Some("exited with code 3")
        );
        let sig = run(&spec("kill -SEGV $$", dir.path(), Duration::from_secs(10)))
            .await
            .expect("runs");
        assert_eq!(sig.ending, Ending::Signaled(11));
    }

    /// Whether `pid` is a live (not zombie) process.
    fn running(pid: i32) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        matches!(state, Some(s) if s != "Z" && s != "X")
    }

    #[tokio::test]
    async fn a_daemon_does_not_outlive_its_gate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("daemon.pid");
        // `setsid` leaves the gate's process group (and session): the
        // group kill alone cannot reach it.
        let cmd = format!(
            "setsid sh -c 'echo $$ > {p}; exec sleep 300' </dev/null >/dev/null 2>&1 & \
             while [ ! -s {p} ]; do sleep 0.02; done; exit 0",
            p = pidfile.display()
        );
        let out = run(&spec(&cmd, dir.path(), Duration::from_secs(30)))
            .await
            .expect("runs");
        assert!(out.passed(), "{out:?}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid written")
            .trim()
            .parse()
            .expect("pid");
        assert!(!running(pid), "daemon {pid} outlived its gate");
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("pid");
        let cmd = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let out = run(&spec(&cmd, dir.path(), Duration::from_millis(500)))
            .await
            .expect("runs");
        assert!(matches!(out.ending, Ending::TimedOut(_)));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid written")
            .trim()
            .parse()
            .expect("pid");
        // A killed child may linger as a zombie until it is reaped; only a
        // process in any other state survived.
        let mut alive = true;
        for _ in 0..100 {
            alive = running(pid);
            if !alive {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive, "background sleep {pid} survived the timeout");
    }

    #[tokio::test]
    async fn output_is_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run(&spec(
            "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo last-line",
            dir.path(),
            Duration::from_secs(30),
        ))
        .await
        .expect("runs");
        assert_eq!(out.output.text.len(), OUTPUT_LIMIT);
        assert!(out.output.dropped > 1_900_000);
        assert_eq!(out.output.tail(1), ["last-line"]);
    }
}
