//! The sandbox one evaluation runs in: its `Store` data, limits and pipes.
//!
//! A gate gets a WASI context with nothing in it — no preopened directories,
//! no environment, no arguments, no sockets — because Rust, Python and
//! JavaScript guests import `wasi:*` through their standard libraries even
//! when they never use it. Its stdout/stderr go to bounded in-memory pipes;
//! its memory is capped by [`MemoryCap`]; its registry calls are counted
//! against a budget; its time is bounded by the engine's epoch deadline.

use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::gate::LogLine;
use crate::registry::SharedRegistry;

use super::bindings::RegistryError;

/// Default wall-clock limit of one evaluation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default linear-memory cap.
pub const DEFAULT_MEMORY: u64 = 64 << 20;
/// Default registry calls per evaluation.
pub const DEFAULT_REGISTRY_CALLS: u64 = 1000;
/// Bytes kept from each of stdout and stderr.
pub const OUTPUT_CAPACITY: usize = 1 << 20;
/// Log lines kept per evaluation.
const MAX_LOG_LINES: usize = 1000;
/// Bytes of one log line kept.
const MAX_LOG_LINE: usize = 4096;

/// Resolved limits of one gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock limit per evaluation.
    pub timeout: Duration,
    /// Linear-memory cap in bytes.
    pub memory: u64,
    /// Registry calls per evaluation.
    pub registry_calls: u64,
}

impl Limits {
    /// The project file's limits over the defaults.
    pub fn from_config(l: crate::project::Limits) -> Limits {
        Limits {
            timeout: l.timeout.unwrap_or(DEFAULT_TIMEOUT),
            memory: l.memory.unwrap_or(DEFAULT_MEMORY),
            registry_calls: l.registry_calls.unwrap_or(DEFAULT_REGISTRY_CALLS),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from_config(Default::default())
    }
}

/// Caps linear memory and tables; remembers that it refused.
#[derive(Debug)]
pub struct MemoryCap {
    limit: u64,
    /// The size a refused growth asked for.
    pub refused: Option<u64>,
}

/// The error a refused memory growth traps with.
#[derive(Debug)]
pub struct MemoryLimitExceeded {
    /// Bytes the guest asked for.
    pub desired: u64,
    /// The cap.
    pub limit: u64,
}

impl std::fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "memory limit exceeded: wanted {} bytes, limit is {}",
            self.desired, self.limit
        )
    }
}

impl std::error::Error for MemoryLimitExceeded {}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            self.refused = Some(desired as u64);
            // Trap at once: a guest that swallows the failed growth would
            // otherwise blur the cause into whatever it does next.
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                desired: desired as u64,
                limit: self.limit,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far beyond any
        // honest gate (CPython's is ~20k).
        Ok(desired <= 1_000_000)
    }
}

/// The data of one evaluation's `Store`.
pub struct GateState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The memory cap.
    pub limiter: MemoryCap,
    registry: Option<SharedRegistry>,
    budget: u64,
    /// Registry calls made.
    pub calls: u64,
    /// Set when a call was refused for the budget.
    pub budget_exhausted: bool,
    /// What the gate logged.
    pub logs: Vec<LogLine>,
    logs_dropped: u64,
    /// The guest's stdout.
    pub stdout: MemoryOutputPipe,
    /// The guest's stderr.
    pub stderr: MemoryOutputPipe,
}

impl GateState {
    /// A fresh sandbox. `registry` is `None` while `check-config` runs: a
    /// gate's configuration must not depend on the registry.
    pub fn new(limits: &Limits, registry: Option<SharedRegistry>) -> GateState {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        GateState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryCap {
                limit: limits.memory,
                refused: None,
            },
            registry,
            budget: limits.registry_calls,
            calls: 0,
            budget_exhausted: false,
            logs: Vec::new(),
            logs_dropped: 0,
            stdout,
            stderr,
        }
    }

    /// Counts one registry call against the budget and hands out the registry.
    pub fn spend(&mut self) -> Result<SharedRegistry, RegistryError> {
        let Some(registry) = self.registry.clone() else {
            return Err(RegistryError::Unavailable(
                "the registry is not available during check-config".into(),
            ));
        };
        if self.calls >= self.budget {
            self.budget_exhausted = true;
            return Err(RegistryError::BudgetExhausted);
        }
        self.calls += 1;
        Ok(registry)
    }

    /// Records a log line, bounded.
    pub fn record_log(&mut self, level: &str, mut message: String) {
        if self.logs.len() >= MAX_LOG_LINES {
            self.logs_dropped += 1;
            return;
        }
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        self.logs.push(LogLine {
            level: level.to_string(),
            message,
        });
    }

    /// The logs, with a note when some were dropped.
    pub fn take_logs(&mut self) -> Vec<LogLine> {
        let mut logs = std::mem::take(&mut self.logs);
        if self.logs_dropped > 0 {
            logs.push(LogLine {
                level: "warn".into(),
                message: format!("{} further log lines dropped", self.logs_dropped),
            });
        }
        logs
    }

    /// True when stdout or stderr filled up.
    pub fn output_overflowed(&self) -> bool {
        self.stdout.contents().len() >= OUTPUT_CAPACITY
            || self.stderr.contents().len() >= OUTPUT_CAPACITY
    }

    /// stdout then stderr, lossily decoded.
    pub fn output(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.stdout.contents()).into_owned();
        let err = self.stderr.contents();
        if !err.is_empty() {
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&String::from_utf8_lossy(&err));
        }
        s
    }

    /// stderr alone, lossily decoded.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }
}

impl WasiView for GateState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
