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

use crate::gate::{LogLevel, LogLine};
use crate::registry::{HeapSize as _, SharedRegistry};

use crate::gate::evidence::{Answer, Determinism, SteppingClock, Tape, call_key};

/// Default wall-clock limit of one evaluation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default linear-memory cap.
pub const DEFAULT_MEMORY: u64 = 64 << 20;
/// Default registry calls per evaluation.
pub const DEFAULT_REGISTRY_CALLS: u64 = 1000;
/// Bytes kept from each of stdout and stderr; a gate that writes more
/// fails with "output limit".
pub const OUTPUT_CAPACITY: usize = 1 << 20;
/// Longest string argument of a registry call: 1 KiB. MLflow keeps model
/// names and aliases in 256-character columns, run ids are 32 characters
/// and metric keys at most 250; a longer argument cannot name anything and
/// would only make the host allocate on the plugin's behalf.
pub const MAX_ARG_BYTES: usize = 1024;
/// Host bytes charged per distinct registry call for its bookkeeping, on
/// top of the argument and answer sizes.
const CALL_OVERHEAD: u64 = 128;
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

/// Most core instances one evaluation may create. A Rust gate has a
/// handful, a Python or JavaScript one a few dozen; the bound keeps the
/// host's per-instance bookkeeping small whatever a component declares.
pub const MAX_INSTANCES: usize = 200;
/// Most linear memories one evaluation may create (all of them together
/// are bounded by the memory cap as well).
pub const MAX_MEMORIES: usize = 100;
/// Most tables one evaluation may create.
pub const MAX_TABLES: usize = 1000;
/// Bytes charged per table element: wasmtime stores a pointer per element.
const TABLE_ELEMENT_BYTES: u64 = 8;

/// Most evaluations (component instances, each with its async stack) the
/// pool holds at once: twice the most judgements `--jobs` allows. A process
/// sizes its pool to what it runs at once ([`WasmHost::size_pool`]), since
/// every stack slot costs a system call when the pool is made.
///
/// [`WasmHost::size_pool`]: super::WasmHost::size_pool
pub const POOL_EVALUATIONS: u32 = 512;
/// Evaluations the pool holds when no command said how many run at once
/// (`check`, `plugin inspect`, `replay`: one at a time).
pub const POOL_EVALUATIONS_DEFAULT: u32 = 8;
/// Core instances alive at once, all evaluations together.
pub const POOL_CORE_INSTANCES: u32 = 16384;
/// Linear memories alive at once, all evaluations together. Each reserves
/// 4 GiB of address space (never memory), 4 TiB in all.
pub const POOL_MEMORIES: u32 = 1024;
/// Tables alive at once, all evaluations together.
pub const POOL_TABLES: u32 = 2048;
/// Elements one table may have (a table asking for more at instantiation
/// does not instantiate, and does not grow past it): 65536, where the
/// largest tables of componentize-py and componentize-js components have
/// about 8000. Each slot reserves 8 bytes of address space per element,
/// 1 GiB for the pool.
pub const POOL_TABLE_ELEMENTS: usize = 1 << 16;

/// Bytes of each pooled linear memory kept mapped between evaluations and
/// reset in place (the rest is handed back to the kernel): 4 pages of
/// 64 KiB. `builtin:threshold`'s whole memory is one page (its 16 KiB
/// stack, its data and its first heap), so resetting it copies at most
/// 64 KiB and asks the kernel to unmap nothing.
pub const POOL_KEEP_RESIDENT_MEMORY: usize = 4 << 16;

/// The pooling allocator's configuration for `evaluations` alive at once
/// (at most [`POOL_EVALUATIONS`]): every evaluation takes its
/// instance, memories, tables and stack from slots reserved once and
/// reused (memories' initial images mapped copy-on-write), so a fresh
/// `Store` and instantiation cost microseconds. Its per-evaluation bounds
/// are the sandbox's own ([`MAX_INSTANCES`], [`MAX_MEMORIES`],
/// [`MAX_TABLES`]; the [`MemoryCap`] still caps the bytes); its totals
/// bound what all evaluations alive at once may hold — past them an
/// instantiation fails, and that gate fails.
pub fn pooling(evaluations: u32) -> wasmtime::PoolingAllocationConfig {
    let evaluations = evaluations.clamp(1, POOL_EVALUATIONS);
    let mut p = wasmtime::PoolingAllocationConfig::new();
    p.total_component_instances(evaluations)
        .total_stacks(evaluations)
        .total_core_instances(POOL_CORE_INSTANCES)
        .total_memories(POOL_MEMORIES)
        .total_tables(POOL_TABLES)
        .max_core_instances_per_component(MAX_INSTANCES as u32)
        .max_memories_per_component(MAX_MEMORIES as u32)
        .max_tables_per_component(MAX_TABLES as u32)
        .max_memories_per_module(MAX_MEMORIES as u32)
        .max_tables_per_module(MAX_TABLES as u32)
        .table_elements(POOL_TABLE_ELEMENTS)
        .max_memory_size(4 << 30)
        // Metadata sizes are only checked, never reserved: room for the
        // largest (Python, JavaScript) components.
        .max_component_instance_size(64 << 20)
        .max_core_instance_size(16 << 20)
        // What an evaluation of a Rust gate touches stays mapped and is
        // reset with memset, rather than handed back to the kernel and
        // faulted in again by the next one (the first pages of a memory,
        // an async stack's first 64 KiB, a table's first page): a madvise
        // in a process with several threads costs a TLB shootdown on each
        // of them. Measured in BENCHMARKS.md.
        .linear_memory_keep_resident(POOL_KEEP_RESIDENT_MEMORY)
        .async_stack_keep_resident(64 << 10)
        .table_keep_resident(4 << 10)
        // PAGEMAP_SCAN where the kernel has it (Linux 6.7 or newer): one
        // ioctl finds the host pages an evaluation wrote and only those are
        // reset, instead of the whole kept-resident part of every memory.
        // Measured (`cargo bench --bench gate`, Linux 6.18): 10.64 → 10.23
        // µs per evaluation of the lean `builtin:threshold`, 12.22 → 11.87
        // µs of its full build. The ioctl only reads page tables (no TLB
        // shootdown). On an older kernel the whole part is reset, as before.
        .pagemap_scan(wasmtime::Enabled::Auto);
    p
}

/// Caps everything one evaluation holds: all linear memories and tables of
/// all its core instances, plus what the host allocates on its behalf
/// (registry answers, see [`GateState::charge`]), against one limit.
/// Remembers that it refused.
#[derive(Debug)]
pub struct MemoryCap {
    limit: u64,
    used: u64,
    /// What the last granted growth added, taken back if it then failed.
    last_grant: u64,
    /// The total a refused growth would have reached.
    pub refused: Option<u64>,
}

impl MemoryCap {
    fn new(limit: u64) -> MemoryCap {
        MemoryCap {
            limit,
            used: 0,
            last_grant: 0,
            refused: None,
        }
    }

    /// Adds `bytes` to the total, or refuses (and remembers) when the total
    /// would pass the limit.
    pub fn grow(&mut self, bytes: u64) -> Result<(), MemoryLimitExceeded> {
        let total = self.used.saturating_add(bytes);
        if total > self.limit {
            self.refused = Some(total);
            return Err(MemoryLimitExceeded {
                desired: total,
                limit: self.limit,
            });
        }
        self.used = total;
        self.last_grant = bytes;
        Ok(())
    }
}

/// The error a refused growth traps with.
#[derive(Debug)]
pub struct MemoryLimitExceeded {
    /// The total the plugin would have held.
    pub desired: u64,
    /// The cap.
    pub limit: u64,
}

impl std::fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "memory limit exceeded: wanted {} bytes in all, limit is {}",
            self.desired, self.limit
        )
    }
}

impl std::error::Error for MemoryLimitExceeded {}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Called for every memory of every instance, at creation (current
        // 0) and on each growth: the sum is what the plugin holds. Trap at
        // once on refusal: a guest that swallows the failed growth would
        // otherwise blur the cause into whatever it does next.
        let added = (desired as u64).saturating_sub(current as u64);
        self.grow(added).map_err(wasmtime::Error::new)?;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.used = self.used.saturating_sub(self.last_grant);
        self.last_grant = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let added = (desired as u64)
            .saturating_sub(current as u64)
            .saturating_mul(TABLE_ELEMENT_BYTES);
        self.grow(added).map_err(wasmtime::Error::new)?;
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.used = self.used.saturating_sub(self.last_grant);
        self.last_grant = 0;
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

/// The trap of a registry call whose argument is longer than [`MAX_ARG_BYTES`].
#[derive(Debug)]
pub struct ArgumentTooLong {
    /// The call.
    pub call: String,
    /// The argument's length in bytes.
    pub len: usize,
}

impl std::fmt::Display for ArgumentTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "called `{}` with an argument of {} bytes; the limit is {MAX_ARG_BYTES}",
            self.call, self.len
        )
    }
}

impl std::error::Error for ArgumentTooLong {}

/// Where a sandbox's registry calls are answered from.
pub enum Source {
    /// Nowhere: `check-config` runs without a registry.
    None,
    /// The live registry, every answer recorded on the [`Tape`].
    Live(SharedRegistry),
    /// A recorded [`Tape`] (`modelgate replay`).
    Replay,
}

/// The trap of a replayed registry call the evidence has no answer for.
#[derive(Debug)]
pub struct NotRecorded {
    /// The call.
    pub call: String,
    /// Its arguments.
    pub args: Vec<String>,
}

impl std::fmt::Display for NotRecorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "called `{}({})`, which the evidence has no answer for",
            self.call,
            self.args.join(", ")
        )
    }
}

impl std::error::Error for NotRecorded {}

/// A registry call that may go ahead: served from the tape, or to be asked
/// of the registry.
// Returned once per registry call and matched at once: boxing the answer
// would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Begun {
    /// Answered from the tape (a repeat, or a replay).
    Taped(Result<Answer, crate::registry::RegistryError>),
    /// To be asked of the live registry; `new` when the evaluation has not
    /// made this call before.
    Ask {
        /// The registry.
        registry: SharedRegistry,
        /// First time this call is made.
        new: bool,
    },
}

/// Why [`GateState::begin_call`] answered a registry call without asking
/// the registry (the bindings turn it into the world's `registry-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// There is no registry: the call came during `check-config`.
    NoRegistry,
    /// The evaluation's budget of registry calls is spent.
    BudgetExhausted,
}

/// The data of one evaluation's `Store`.
pub struct GateState {
    /// Made when the guest first calls into WASI: a gate built without std
    /// never does, and does not pay for it.
    wasi: Option<WasiCtx>,
    /// The clocks and random sources `wasi` is made with.
    fixed: Determinism,
    table: ResourceTable,
    /// The memory cap.
    pub limiter: MemoryCap,
    source: Source,
    budget: u64,
    /// Registry calls made.
    pub calls: u64,
    /// Set when a call was refused for the budget.
    pub budget_exhausted: bool,
    /// Every registry call with its answer: the evidence (live) or what
    /// answers (replay). Each distinct call's answer is charged to the
    /// memory cap once; repeats of it are free.
    pub tape: Tape,
    /// What the gate logged.
    pub logs: Vec<LogLine>,
    logs_dropped: u64,
    /// The guest's stdout and stderr, made with `wasi`: without WASI a gate
    /// has nowhere to write.
    pipes: Option<Pipes>,
}

/// Bounded in-memory stdout and stderr.
struct Pipes {
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl Pipes {
    fn new() -> Pipes {
        // One byte more than is kept: filling the pipe then tells "wrote
        // more than the limit" from "wrote exactly the limit".
        Pipes {
            stdout: MemoryOutputPipe::new(OUTPUT_CAPACITY + 1),
            stderr: MemoryOutputPipe::new(OUTPUT_CAPACITY + 1),
        }
    }
}

impl GateState {
    /// A fresh sandbox answering registry calls from `source` (a replay
    /// plays `tape`), with clocks and random sources fixed by `fixed`.
    pub fn new(limits: &Limits, source: Source, tape: Tape, fixed: &Determinism) -> GateState {
        GateState {
            wasi: None,
            fixed: *fixed,
            table: ResourceTable::new(),
            limiter: MemoryCap::new(limits.memory),
            source,
            budget: limits.registry_calls,
            calls: 0,
            budget_exhausted: false,
            tape,
            logs: Vec::new(),
            logs_dropped: 0,
            pipes: None,
        }
    }

    /// Starts a registry call of `kind` with `args`: checks the arguments'
    /// sizes (a trap past [`MAX_ARG_BYTES`]), counts the call against the
    /// budget (a `budget-exhausted` error past it), and either answers it
    /// from the tape or hands out the registry to ask. A call new to the
    /// evaluation is charged for its key here and for its answer by the
    /// caller ([`charge`](Self::charge)).
    pub fn begin_call(
        &mut self,
        kind: &str,
        args: &[&str],
    ) -> wasmtime::Result<Result<Begun, Refused>> {
        if let Some(long) = args.iter().find(|a| a.len() > MAX_ARG_BYTES) {
            return Err(wasmtime::Error::new(ArgumentTooLong {
                call: kind.to_string(),
                len: long.len(),
            }));
        }
        let live = match &self.source {
            Source::None => {
                return Ok(Err(Refused::NoRegistry));
            }
            Source::Live(registry) => Some(registry.clone()),
            Source::Replay => None,
        };
        if self.calls >= self.budget {
            self.budget_exhausted = true;
            return Ok(Err(Refused::BudgetExhausted));
        }
        self.calls += 1;
        let key = call_key(kind, args);
        let new = !self.tape.seen(&key);
        if new {
            self.charge(key.len() as u64 + CALL_OVERHEAD)?;
        }
        let Some(registry) = live else {
            let Some(c) = self.tape.play(&key) else {
                return Err(wasmtime::Error::new(NotRecorded {
                    call: kind.to_string(),
                    args: args.iter().map(|a| a.to_string()).collect(),
                }));
            };
            let answer = c.answer.clone();
            if new {
                self.charge(answer.heap_size())?;
            }
            return Ok(Ok(Begun::Taped(answer)));
        };
        if let Some(c) = self.tape.repeat(&key) {
            return Ok(Ok(Begun::Taped(c.answer.clone())));
        }
        Ok(Ok(Begun::Ask { registry, new }))
    }

    /// Records the answer of a call begun with [`Begun::Ask`], charging it
    /// to the memory cap when the call was new.
    pub fn finish_call(
        &mut self,
        kind: &str,
        args: &[&str],
        new: bool,
        answer: &Result<Answer, crate::registry::RegistryError>,
    ) -> wasmtime::Result<()> {
        if new {
            self.charge(answer.heap_size())?;
        }
        self.tape.record(kind, args, answer.clone());
        Ok(())
    }

    /// Charges `bytes` the host holds on the plugin's behalf to its memory
    /// cap; past the cap the call traps like a refused `memory.grow`.
    pub fn charge(&mut self, bytes: u64) -> wasmtime::Result<()> {
        self.limiter.grow(bytes).map_err(wasmtime::Error::new)
    }

    /// Records a log line, bounded.
    pub fn record_log(&mut self, level: LogLevel, mut message: String) {
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
        self.logs.push(LogLine { level, message });
    }

    /// The logs, with a note when some were dropped.
    pub fn take_logs(&mut self) -> Vec<LogLine> {
        let mut logs = std::mem::take(&mut self.logs);
        if self.logs_dropped > 0 {
            logs.push(LogLine {
                level: LogLevel::Warn,
                message: format!("{} further log lines dropped", self.logs_dropped),
            });
        }
        logs
    }

    /// True when stdout or stderr got more than [`OUTPUT_CAPACITY`] bytes.
    pub fn output_overflowed(&self) -> bool {
        self.pipes.as_ref().is_some_and(|p| {
            p.stdout.contents().len() > OUTPUT_CAPACITY
                || p.stderr.contents().len() > OUTPUT_CAPACITY
        })
    }

    /// stdout then stderr (at most [`OUTPUT_CAPACITY`] bytes each), lossily
    /// decoded.
    pub fn output(&self) -> String {
        let Some(pipes) = &self.pipes else {
            return String::new();
        };
        let out = pipes.stdout.contents();
        let mut s = String::from_utf8_lossy(&out[..out.len().min(OUTPUT_CAPACITY)]).into_owned();
        let err = pipes.stderr.contents();
        let err = &err[..err.len().min(OUTPUT_CAPACITY)];
        if !err.is_empty() {
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&String::from_utf8_lossy(err));
        }
        s
    }

    /// stderr alone, lossily decoded.
    pub fn stderr_text(&self) -> String {
        self.pipes.as_ref().map_or_else(String::new, |p| {
            String::from_utf8_lossy(&p.stderr.contents()).into_owned()
        })
    }
}

impl WasiView for GateState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let fixed = &self.fixed;
        let pipes = self.pipes.get_or_insert_with(Pipes::new);
        let ctx = self.wasi.get_or_insert_with(|| {
            WasiCtx::builder()
                .stdout(pipes.stdout.clone())
                .stderr(pipes.stderr.clone())
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .wall_clock(fixed.wall_clock())
                .monotonic_clock(SteppingClock::default())
                .secure_random(fixed.lazy_rng("random"))
                .insecure_random(fixed.lazy_rng("insecure"))
                .insecure_random_seed(fixed.insecure_seed())
                .build()
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}
