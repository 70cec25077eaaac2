//! Nothing a process gate starts outlives it.
//!
//! A gate runs in its own process group, and the group is killed when the
//! gate ends; but a child that calls `setsid()` (a daemon) leaves the group
//! and would survive modelgate itself. So modelgate makes itself the *child
//! subreaper* of everything it starts (`PR_SET_CHILD_SUBREAPER`): an
//! orphaned descendant is re-parented to modelgate rather than to init, and
//! when a gate ends, modelgate kills and reaps every orphan that is not
//! part of another gate still running (told apart by the
//! `MODELGATE_GATE_TOKEN` each gate's processes inherit), together with
//! everything those orphans started.
//!
//! Limits: a daemon that both clears its environment and belongs to a gate
//! that is still running is taken for a leftover and killed early; a
//! process that escapes before modelgate sees it (by being re-parented to
//! a subreaper further up, which cannot happen under modelgate) is out of
//! reach. Where the kernel refuses the subreaper flag, only the process
//! group is killed, as before.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions};

/// The variable through which a gate's processes carry their gate's token.
pub const TOKEN_VAR: &str = "MODELGATE_GATE_TOKEN";

/// Rounds of "find orphans, kill them" after a gate: a leftover that forks
/// while being killed is caught by the next round.
const SWEEP_ROUNDS: usize = 20;

/// How long to wait for a killed orphan to become reapable.
const REAP_WAIT: Duration = Duration::from_secs(2);

/// Gates running now: root pid → token.
fn live() -> &'static Mutex<HashMap<u32, String>> {
    static LIVE: OnceLock<Mutex<HashMap<u32, String>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// Held while a gate's root process is started and registered, and while
/// a sweep looks for orphans and kills them: a process between `fork` and
/// its registration (still with modelgate's environment, not yet a known
/// root) must never look like an orphan.
fn spawning() -> &'static Mutex<()> {
    static SPAWNING: Mutex<()> = Mutex::new(());
    &SPAWNING
}

/// Starts a gate's root process with `spawn` (which returns it and its
/// pid, also its process group) and tracks it under `token`, with no sweep
/// in between.
pub fn spawn<T>(
    token: String,
    spawn: impl FnOnce() -> std::io::Result<(T, u32)>,
) -> std::io::Result<(T, Tracked)> {
    let _guard = spawning().lock().unwrap_or_else(|p| p.into_inner());
    let (child, pgid) = spawn()?;
    Ok((child, Tracked::new(pgid, token)))
}

/// Makes this process the subreaper of its descendants (once). Returns
/// false where the kernel does not allow it.
pub fn enable() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid())).is_ok()
    })
}

/// How long process gates get to end after modelgate passes them the
/// signal that stopped it, before they are killed: 2 s, as a gate's own
/// timeout gives it between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// Sends `signal` to the process group of every gate running now; their
/// root processes (modelgate's children).
pub fn forward(signal: i32) -> Vec<u32> {
    let roots: Vec<u32> = match live().lock() {
        Ok(live) => live.keys().copied().collect(),
        Err(_) => return Vec::new(),
    };
    let signal = match signal {
        1 => Signal::HUP,
        2 => Signal::INT,
        _ => Signal::TERM,
    };
    for pgid in &roots {
        if let Some(p) = Pid::from_raw(*pgid as i32) {
            let _ = rustix::process::kill_process_group(p, signal);
        }
    }
    roots
}

/// Waits (at most `limit`) until every process of `roots` has exited: it
/// is gone, or a zombie waiting to be reaped.
pub fn wait_exited(roots: &[u32], limit: Duration) {
    let deadline = Instant::now() + limit;
    let running = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let rest = &stat[stat.rfind(')')? + 1..];
                rest.split_whitespace().next().map(|s| s != "Z")
            })
            .unwrap_or(false)
    };
    while roots.iter().any(|pid| running(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills what is left of `roots`' process groups, reaps the roots, and
/// kills and reaps every orphan left (a stopping modelgate keeps none).
pub fn reap_all(roots: &[u32]) {
    for pgid in roots {
        if let Some(p) = Pid::from_raw(*pgid as i32) {
            let _ = rustix::process::kill_process_group(p, Signal::KILL);
        }
    }
    for pid in roots {
        reap(*pid);
    }
    sweep("");
}

/// A fresh token for one gate run.
pub fn token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A running gate's processes. Dropping it (the gate ended, or its future
/// was cancelled) kills its process group and every leftover orphan.
pub struct Tracked {
    pgid: u32,
    token: String,
}

impl Tracked {
    /// Tracks the gate whose root process (and group) is `pgid`.
    fn new(pgid: u32, token: String) -> Tracked {
        if let Ok(mut live) = live().lock() {
            live.insert(pgid, token.clone());
        }
        Tracked { pgid, token }
    }

    /// The gate's root process id, which is also its process group.
    pub fn pgid(&self) -> u32 {
        self.pgid
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(pid) = Pid::from_raw(self.pgid as i32) {
            let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        }
        if let Ok(mut live) = live().lock() {
            live.remove(&self.pgid);
        }
        sweep(&self.token);
    }
}

/// One process as `/proc/PID/stat` shows it.
struct Proc {
    pid: u32,
    ppid: u32,
}

fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces and parens.
            let rest = &stat[stat.rfind(')')? + 1..];
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some(Proc { pid, ppid })
        })
        .collect()
}

/// The gate token in a process's environment, if readable.
fn token_of(pid: u32) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{TOKEN_VAR}=");
    env.split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(prefix.as_bytes()))
        .map(|t| String::from_utf8_lossy(t).into_owned())
}

/// Kills and reaps every orphan of this process that belongs to no gate
/// still running (or to the gate of `token`), with all its descendants.
fn sweep(token: &str) {
    if !enable() {
        return;
    }
    let me = std::process::id();
    for _ in 0..SWEEP_ROUNDS {
        let guard = spawning().lock().unwrap_or_else(|p| p.into_inner());
        let (roots, others): (HashSet<u32>, HashSet<String>) = match live().lock() {
            Ok(live) => (
                live.keys().copied().collect(),
                live.values().filter(|t| *t != token).cloned().collect(),
            ),
            Err(_) => return,
        };
        let procs = processes();
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for p in &procs {
            children.entry(p.ppid).or_default().push(p.pid);
        }
        let orphans: Vec<u32> = children
            .get(&me)
            .into_iter()
            .flatten()
            .copied()
            .filter(|pid| !roots.contains(pid))
            .filter(|pid| !token_of(*pid).is_some_and(|t| others.contains(&t)))
            .collect();
        if orphans.is_empty() {
            return;
        }
        // Each orphan's whole subtree, deepest last.
        let mut doomed = orphans.clone();
        let mut i = 0;
        while i < doomed.len() {
            if let Some(kids) = children.get(&doomed[i]) {
                doomed.extend(kids);
            }
            i += 1;
        }
        for pid in &doomed {
            if let Some(p) = Pid::from_raw(*pid as i32) {
                let _ = rustix::process::kill_process(p, Signal::KILL);
            }
        }
        drop(guard);
        for pid in orphans {
            reap(pid);
        }
    }
}

/// Waits (bounded) for a killed child of ours to exit, and reaps it.
fn reap(pid: u32) {
    let Some(p) = Pid::from_raw(pid as i32) else {
        return;
    };
    let deadline = Instant::now() + REAP_WAIT;
    loop {
        match rustix::process::waitpid(Some(p), WaitOptions::NOHANG) {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) if Instant::now() >= deadline => return,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}
