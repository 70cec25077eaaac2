//! WebAssembly gates: sandboxed components of world
//! `modelgate:validator/validator@0.3.0`, or of `@0.2.0` or `@0.1.0` (gates
//! built before keep running: a 0.2.0 gate gets no LoggedModel, a 0.1.0
//! gate's checks carry no warnings either).
//!
//! One [`WasmHost`] per process holds the `Engine`, the `Linker` (WASI with
//! an empty context, plus the world's `registry` and `log` imports), the
//! compile cache and an `InstancePre` per loaded component. Every
//! evaluation gets a fresh `Store` with its own limits. Any trap, timeout,
//! limit, plugin error or malformed verdict becomes a failed gate with its
//! cause named — never a crash of the host, never a pass.

#[allow(missing_docs)]
mod bindings;
pub mod cache;

pub mod inspect;
pub mod sandbox;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store, Trap};

use crate::candidate::Candidate;
use crate::error::{HintExt as _, with_hint};
use crate::gate::{Cause, GateResult, LogLine};
use crate::registry::{RegistryError, SharedRegistry};
use crate::text::human_bytes;

use crate::gate::evidence::{Determinism, Evidence, RecordedCandidate, RecordedLimits, Tape};
use cache::{CacheOutcome, CompileCache, sha256_hex};
use sandbox::{ArgumentTooLong, GateState, Limits, NotRecorded, Source};

pub use bindings::World;

/// `modelgate:validator@0.1.0`: the first contract (registry reads, log).
pub const WIT_0_1_0: &str = "0.1.0";
/// `modelgate:validator@0.2.0`: checks may carry warnings.
pub const WIT_0_2_0: &str = "0.2.0";
/// `modelgate:validator@0.3.0`: MLflow 3's LoggedModels.
pub const WIT_0_3_0: &str = "0.3.0";
/// `modelgate:validator@0.4.0`: reads of model and run artifacts.
pub const WIT_0_4_0: &str = "0.4.0";
/// The newest WIT package version this host implements: what new gates
/// are built against.
pub const WIT_VERSION: &str = WIT_0_4_0;
/// Every WIT package version this host runs gates of, oldest first.
pub const WIT_VERSIONS: &[&str] = &[WIT_0_1_0, WIT_0_2_0, WIT_0_3_0, WIT_0_4_0];
/// The newest world, fully qualified (a literal, as `bindgen!` needs its
/// worlds; a test keeps it at [`WIT_VERSION`]).
pub const WORLD: &str = "modelgate:validator/validator@0.4.0";

/// How often the epoch ticks; deadlines are rounded up to it.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The built-in gates' names (see [`crate::builtins`]).
pub fn builtin_names() -> Vec<&'static str> {
    crate::builtins::names()
}

/// The lean build of `builtin:NAME`, if it has one: the same gate built
/// to import nothing (`plugins/dist/NAME-lean.wasm`), which prepare runs
/// for every config it accepts (see [`WasmHost::prepare_gate`]).
pub fn builtin_lean(name: &str) -> Option<PluginSource> {
    crate::builtins::lean(name).map(PluginSource::embedded)
}

/// A plugin's bytes and their sha256 (computed at build time for built-ins).
pub struct PluginSource {
    /// The component.
    pub bytes: std::borrow::Cow<'static, [u8]>,
    /// Lower-case hex sha256 of `bytes`.
    pub sha256: String,
}

impl PluginSource {
    /// A built-in's bytes and build-time sha256.
    fn embedded((bytes, sha256): (&'static [u8], &'static str)) -> PluginSource {
        PluginSource {
            bytes: std::borrow::Cow::Borrowed(bytes),
            sha256: sha256.to_string(),
        }
    }

    /// Wraps bytes read from elsewhere.
    pub fn from_bytes(bytes: Vec<u8>) -> PluginSource {
        let sha256 = sha256_hex(&bytes);
        PluginSource {
            bytes: std::borrow::Cow::Owned(bytes),
            sha256,
        }
    }
}

/// Which of wasmtime's compilers turned a component into machine code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Cranelift, the optimizing compiler: seconds for a Python or
    /// JavaScript component, the fastest code.
    Optimizing,
    /// Winch, the baseline compiler: one pass per function, about ten
    /// times less compile time for slower code.
    Baseline,
}

impl Tier {
    /// The compiler's name.
    pub fn compiler(self) -> &'static str {
        match self {
            Tier::Optimizing => "cranelift",
            Tier::Baseline => "winch",
        }
    }

    fn strategy(self) -> wasmtime::Strategy {
        match self {
            Tier::Optimizing => wasmtime::Strategy::Cranelift,
            Tier::Baseline => wasmtime::Strategy::Winch,
        }
    }
}

/// Which tier compiles a component (`MODELGATE_COMPILER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierPolicy {
    /// `auto`, the default: a component the compile cache holds an
    /// optimized build of loads that; one of at least [`BASELINE_FROM`]
    /// bytes otherwise runs its baseline build (from the cache, or
    /// compiled now and cached); a smaller one is compiled optimized
    /// (in a tenth of a second).
    Auto,
    /// `cranelift` or `winch`: every component by that compiler.
    Only(Tier),
}

impl TierPolicy {
    /// The policy `MODELGATE_COMPILER` asks for (unset or empty: `auto`).
    pub fn from_env() -> anyhow::Result<TierPolicy> {
        let value = std::env::var_os("MODELGATE_COMPILER").unwrap_or_default();
        match value.to_str().unwrap_or("\u{fffd}") {
            "" | "auto" => Ok(TierPolicy::Auto),
            "cranelift" => Ok(TierPolicy::Only(Tier::Optimizing)),
            "winch" => Ok(TierPolicy::Only(Tier::Baseline)),
            other => Err(with_hint(
                anyhow::anyhow!(
                    "MODELGATE_COMPILER is `{}`, which is not a compiler modelgate knows",
                    crate::text::clean(other)
                ),
                "set it to `auto` (the default), `cranelift` or `winch` (see docs/plugins.md)",
            )),
        }
    }
}

/// Components at least this large (1 MiB: a Python or JavaScript gate,
/// not a Rust one or a built-in) are compiled by the baseline tier when
/// the compile cache holds no optimized build of them (see [`TierPolicy`]).
pub const BASELINE_FROM: usize = 1 << 20;

/// A component loaded, checked and ready to instantiate.
pub struct LoadedComponent {
    pre: bindings::Pre,
}

impl LoadedComponent {
    /// The version of `modelgate:validator` the component was built against.
    pub fn wit_version(&self) -> &'static str {
        self.pre.world().version()
    }

    /// The world the component was built against.
    pub fn world(&self) -> World {
        self.pre.world()
    }
}

/// What `modelgate plugin inspect` shows.
pub struct Inspection {
    /// sha256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: usize,
    /// What the compile cache did.
    pub cache: CacheOutcome,
    /// The compiler whose build was loaded or made.
    pub tier: Tier,
    /// Time to compile or load.
    pub load_time: Duration,
    /// Imports and exports.
    pub analysis: inspect::Analysis,
    /// `Ok` when this host can run it, else why not.
    pub runnable: Result<(), String>,
}

/// A gate whose plugin is loaded and whose config passed `check-config`.
pub struct PreparedGate {
    /// `builtin:NAME` or the path as written.
    pub plugin: String,
    /// The plugin's sha256 (a built-in's own, also when its lean build
    /// runs).
    pub sha256: String,
    /// The sha256 of the built-in's lean build when that is what runs.
    pub lean_sha256: Option<String>,
    /// The component that runs.
    pub component: Arc<LoadedComponent>,
    /// The config as JSON text.
    pub config: String,
    /// The config as the project file has it.
    pub config_value: Arc<serde_json::Value>,
    /// The gate's limits.
    pub limits: Limits,
}

/// Why `check-config` did not accept a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigCheck {
    /// The plugin answered `err` with this message: the config is wrong.
    Rejected(String),
    /// The plugin trapped, timed out or hit a limit: the plugin is broken.
    Failed(String),
}

/// Which step of preparing a gate failed.
#[derive(Debug)]
pub enum PrepareError {
    /// The plugin could not be read, compiled or linked.
    Plugin(anyhow::Error),
    /// The plugin is not the one `sha256:` pins.
    Pin(anyhow::Error),
    /// `check-config` did not accept the config.
    Config(ConfigCheck),
}

impl PrepareError {
    /// The error `validate` reports for gate plugin `plugin`.
    pub fn into_error(self, plugin: &str) -> anyhow::Error {
        match self {
            PrepareError::Plugin(e) | PrepareError::Pin(e) => e,
            PrepareError::Config(ConfigCheck::Rejected(msg)) => with_hint(
                anyhow::anyhow!("plugin `{plugin}` rejected its config: {msg}"),
                "fix the task's `config:` in the project file",
            ),
            PrepareError::Config(ConfigCheck::Failed(cause)) => with_hint(
                anyhow::anyhow!("plugin `{plugin}` failed: {cause}"),
                "the plugin is broken or too limited; check its output, or raise `limits:`",
            ),
        }
    }
}

/// An error unless `found` (a plugin's sha256) is the pinned `expected`.
fn check_pin(plugin: &str, found: &str, expected: &str) -> anyhow::Result<()> {
    if found == expected {
        return Ok(());
    }
    Err(with_hint(
        anyhow::anyhow!(
            "plugin `{plugin}` has sha256 {found}, but the project file pins {expected}"
        ),
        "if the plugin was rebuilt on purpose, update `sha256:` (`modelgate plugin inspect` prints it); otherwise do not run it",
    ))
}

/// One compiler tier: its engine (every engine has the same sandbox
/// settings, only the compiler differs), the linker of the host's imports
/// and the compile cache of its builds.
struct Compiler {
    engine: Engine,
    linker: Linker<GateState>,
    cache: CompileCache,
}

impl Compiler {
    fn new(tier: Tier, cache: impl FnOnce(&Engine) -> CompileCache) -> anyhow::Result<Compiler> {
        let mut config = Config::new();
        config.strategy(tier.strategy());
        if tier == Tier::Baseline {
            // Winch leaves the trampolines between the host and the
            // guest's functions (one per function a table can reach:
            // thousands in CPython) to Cranelift; they are a few
            // instructions each, with nothing to optimize. Native unwind
            // tables are for native debuggers and profilers only (traps and
            // their wasm backtraces do not use them).
            config.cranelift_opt_level(wasmtime::OptLevel::None);
            config.native_unwind_info(false);
        }
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(
            sandbox::pooling(POOL_SIZE.load(std::sync::atomic::Ordering::Relaxed)),
        ));
        let engine = match Engine::new(&config) {
            Ok(engine) => engine,
            // The pool reserves its address space up front; where a limit
            // on address space refuses that, instances are allocated one by
            // one instead (slower, the same sandbox).
            Err(pooled) => {
                config.allocation_strategy(wasmtime::InstanceAllocationStrategy::OnDemand);
                let engine = Engine::new(&config)
                    .map_err(anyhow::Error::from)
                    .context("failed to set up the WebAssembly engine")?;
                crate::output::stderr(&format!(
                    "modelgate: warning: the WebAssembly instance pool could not be reserved ({pooled}); allocating instances one by one\n"
                ));
                engine
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("failed to link WASI")?;
        bindings::add_to_linker(&mut linker)
            .map_err(anyhow::Error::from)
            .context("failed to link the validator world")?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("modelgate-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .context("failed to start the epoch thread")?;
        let cache = cache(&engine);
        Ok(Compiler {
            engine,
            linker,
            cache,
        })
    }
}

/// The process-wide WebAssembly host.
pub struct WasmHost {
    /// Cranelift's tier: built-ins, small components, cached optimized
    /// builds, `plugin compile`.
    optimizing: Compiler,
    /// Winch's tier, set up the first time a component needs it.
    baseline: OnceLock<Result<Compiler, String>>,
    policy: TierPolicy,
    loaded: Mutex<HashMap<String, Arc<LoadedComponent>>>,
}

static HOST: OnceLock<WasmHost> = OnceLock::new();

/// Evaluations the next host's instance pool holds at once.
static POOL_SIZE: std::sync::atomic::AtomicU32 =
    std::sync::atomic::AtomicU32::new(sandbox::POOL_EVALUATIONS_DEFAULT);

impl WasmHost {
    /// Sizes the instance pool of hosts made from now on (the process's
    /// [`shared`](Self::shared) one among them) for `concurrent`
    /// evaluations alive at once, plus one for a `check-config`; at most
    /// [`sandbox::POOL_EVALUATIONS`]. Commands that judge several
    /// candidates at once call it before preparing their gates.
    pub fn size_pool(concurrent: usize) {
        let n = u32::try_from(concurrent.saturating_add(1)).unwrap_or(u32::MAX);
        POOL_SIZE.store(
            n.clamp(1, sandbox::POOL_EVALUATIONS),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// The process's host, created on first use.
    pub fn shared() -> anyhow::Result<&'static WasmHost> {
        if let Some(h) = HOST.get() {
            return Ok(h);
        }
        let host = WasmHost::new(CompileCache::open)?;
        Ok(HOST.get_or_init(|| host))
    }

    /// A host whose compile cache is made by `cache` (tests use a temp
    /// dir), compiling under the policy `MODELGATE_COMPILER` names.
    pub fn new(cache: impl FnOnce(&Engine) -> CompileCache) -> anyhow::Result<WasmHost> {
        Ok(WasmHost {
            optimizing: Compiler::new(Tier::Optimizing, cache)?,
            baseline: OnceLock::new(),
            policy: TierPolicy::from_env()?,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// The baseline tier, set up on first use; when it cannot be, why.
    fn baseline(&self) -> Result<&Compiler, &str> {
        self.baseline
            .get_or_init(|| {
                Compiler::new(Tier::Baseline, |e| self.optimizing.cache.for_engine(e))
                    .map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// The optimizing tier's engine (the only one unless a component
    /// needs the baseline tier).
    pub fn engine(&self) -> &Engine {
        &self.optimizing.engine
    }

    /// Ok when the compile cache is on; else why not, with a hint.
    pub fn cache_ready(&self) -> anyhow::Result<()> {
        match (
            &self.optimizing.cache.disabled,
            self.optimizing.cache.entry_path(""),
        ) {
            (None, Some(_)) => Ok(()),
            (Some(why), _) => Err(with_hint(
                anyhow::anyhow!("the compile cache is off: {why}"),
                "see `MODELGATE_CACHE_DIR` and `MODELGATE_CACHE_KEY` in docs/security.md",
            )),
            (None, None) => Err(with_hint(
                anyhow::anyhow!("the compile cache is off (MODELGATE_CACHE_DIR=off)"),
                "set MODELGATE_CACHE_DIR to the cache directory the gates will run with",
            )),
        }
    }

    /// The compile cache's entry for the optimized build of the component
    /// `sha256`, when it holds one that this host would load; else why not.
    pub fn cached(&self, sha256: &str) -> Result<PathBuf, String> {
        self.optimizing.cache.holds(sha256)
    }

    /// Reads a plugin's bytes: `builtin:NAME` or a path relative to `dir`.
    pub fn read_plugin(plugin: &str, dir: &Path) -> anyhow::Result<PluginSource> {
        if let crate::builtins::PluginRef::Builtin(name) = crate::builtins::PluginRef::parse(plugin)
        {
            return crate::builtins::component(name)
                .map(PluginSource::embedded)
                .ok_or_else(|| {
                    let names: Vec<String> = builtin_names()
                        .iter()
                        .map(|n| format!("{}{n}", crate::builtins::PREFIX))
                        .collect();
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    with_hint(
                        anyhow::anyhow!("there is no built-in gate `{plugin}`"),
                        crate::suggest::hint(plugin, &names, "built-in gates"),
                    )
                });
        }
        let path = dir.join(plugin);
        match crate::files::read_bounded(&path, crate::files::MAX_PLUGIN_FILE) {
            Ok(bytes) => Ok(PluginSource::from_bytes(bytes)),
            Err(e @ crate::files::ReadError::Io(_)) => Err(anyhow::Error::new(e))
                .with_context(|| format!("failed to read plugin `{}`", path.display()))
                .hint(
                    "build the plugin first, or fix `plugin:` (paths are relative to the project file)",
                ),
            Err(e) => Err(anyhow::Error::new(e))
                .with_context(|| format!("refusing to read plugin `{}`", path.display()))
                .hint(format!(
                    "a plugin is a regular `.wasm` file of at most {} (see docs/security.md)",
                    human_bytes(crate::files::MAX_PLUGIN_FILE)
                )),
        }
    }

    /// Compiles `source`, or loads it from the compile cache: by `tier`
    /// when given, else as the policy says (see [`TierPolicy`]).
    fn compile(
        &self,
        source: &PluginSource,
        what: &str,
        tier: Option<Tier>,
    ) -> anyhow::Result<(Component, CacheOutcome, Duration, Tier)> {
        inspect::check_header(&source.bytes, what)?;
        let start = Instant::now();
        // Compilation is CPU-bound and can take seconds.
        let failed = |e: wasmtime::Error| {
            with_hint(
                anyhow::Error::from(e).context(format!("failed to compile `{what}`")),
                "the file is damaged or not a valid component; rebuild the plugin",
            )
        };
        // Only a tier the policy chose may give way to Cranelift; one asked
        // for (`plugin compile`, `MODELGATE_COMPILER`) is that tier or an
        // error.
        let chosen = tier.is_none() && self.policy == TierPolicy::Auto;
        let (component, outcome, tier) = tokio::task::block_in_place(|| {
            let mut rejected = None;
            let tier = match (tier, self.policy) {
                (Some(tier), _) | (None, TierPolicy::Only(tier)) => tier,
                (None, TierPolicy::Auto) if source.bytes.len() < BASELINE_FROM => Tier::Optimizing,
                (None, TierPolicy::Auto) => {
                    // An optimized build someone compiled (`plugin
                    // compile`, an earlier `cranelift` run) is the best
                    // there is.
                    let o = &self.optimizing;
                    match o.cache.lookup(&o.engine, &source.sha256) {
                        Ok(Some(c)) => return Ok((c, CacheOutcome::Hit, Tier::Optimizing)),
                        Ok(None) => {}
                        Err(why) => rejected = Some(why),
                    }
                    Tier::Baseline
                }
            };
            if tier == Tier::Baseline {
                let why = match self.baseline() {
                    Ok(b) => match b.cache.load(&b.engine, &source.sha256, &source.bytes) {
                        Ok((component, outcome)) => {
                            let outcome = match (outcome, rejected) {
                                (CacheOutcome::Miss, Some(why)) => CacheOutcome::Rejected(why),
                                (outcome, _) => outcome,
                            };
                            return Ok((component, outcome, Tier::Baseline));
                        }
                        // Winch does not compile everything Cranelift
                        // does (tail calls, exceptions, some SIMD without
                        // AVX2, …).
                        Err(e) if chosen => format!("Winch cannot compile it: {e:#}"),
                        Err(e) => {
                            return Err(with_hint(
                                anyhow::Error::from(e)
                                    .context(format!("Winch failed to compile `{what}`")),
                                "Winch (MODELGATE_COMPILER=winch) does not compile everything Cranelift does; unset MODELGATE_COMPILER to let modelgate choose",
                            ));
                        }
                    },
                    Err(why) if chosen => format!("the baseline compiler is not available: {why}"),
                    Err(why) => {
                        return Err(with_hint(
                            anyhow::anyhow!(
                                "the baseline compiler (Winch) is not available here: {why}"
                            ),
                            "unset MODELGATE_COMPILER, or set it to `cranelift`",
                        ));
                    }
                };
                crate::output::stderr(&format!(
                    "modelgate: warning: `{what}`: {why}; compiling it with Cranelift\n"
                ));
            }
            let o = &self.optimizing;
            let (component, outcome) = o
                .cache
                .load(&o.engine, &source.sha256, &source.bytes)
                .map_err(failed)?;
            Ok((component, outcome, Tier::Optimizing))
        })?;
        Ok((component, outcome, start.elapsed(), tier))
    }

    /// Loads (compiles or fetches from the cache) and checks a component.
    pub async fn load(
        &self,
        source: PluginSource,
        what: &str,
    ) -> anyhow::Result<Arc<LoadedComponent>> {
        if let Some(hit) = self
            .loaded
            .lock()
            .ok()
            .and_then(|m| m.get(&source.sha256).cloned())
        {
            return Ok(hit);
        }
        let (component, _, _, _) = self.compile(&source, what, None)?;
        let analysis = inspect::analyze(component.engine(), &component);
        let loaded = Arc::new(LoadedComponent {
            pre: self.instantiate_pre(&component, &analysis, what)?,
        });
        if let Ok(mut m) = self.loaded.lock() {
            m.insert(source.sha256, loaded.clone());
        }
        Ok(loaded)
    }

    /// Compiles a component (by `tier`, else as a run would) and reports
    /// what it is and whether it can run here, without running it.
    pub fn inspect(
        &self,
        source: &PluginSource,
        what: &str,
        tier: Option<Tier>,
    ) -> anyhow::Result<Inspection> {
        let (component, cache, load_time, tier) = self.compile(source, what, tier)?;
        let analysis = inspect::analyze(component.engine(), &component);
        let runnable = match self.instantiate_pre(&component, &analysis, what) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("{e:#}")),
        };
        Ok(Inspection {
            sha256: source.sha256.clone(),
            size: source.bytes.len(),
            cache,
            tier,
            load_time,
            analysis,
            runnable,
        })
    }

    fn instantiate_pre(
        &self,
        component: &Component,
        analysis: &inspect::Analysis,
        what: &str,
    ) -> anyhow::Result<bindings::Pre> {
        if let Some(problem) = analysis.incompatibility() {
            return Err(with_hint(
                anyhow::anyhow!("`{what}` cannot run here: {problem}"),
                format!("build the plugin against `{WORLD}` (modelgate's `wit/`)"),
            ));
        }
        // The linker of the engine the component was compiled for.
        let compiler = match self.baseline.get() {
            Some(Ok(b)) if Engine::same(component.engine(), &b.engine) => b,
            _ => &self.optimizing,
        };
        let pre = compiler
            .linker
            .instantiate_pre(component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("`{what}` cannot be linked against `{WORLD}`"))
            .hint("the plugin imports something modelgate does not provide; `modelgate plugin inspect` lists its imports")?;
        // The newest version the imports name is the world it was built
        // against (a 0.2.0 gate also imports 0.1.0's registry and log).
        let world = analysis
            .world_version()
            .as_deref()
            .and_then(World::of)
            .unwrap_or(World::V1);
        let typed = bindings::Pre::new(pre, world);
        let world = format!("modelgate:validator/validator@{}", world.version());
        typed
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!("`{what}` does not export `check-config` and `validate` as `{world}` defines them")
            })
            .hint("build the plugin against modelgate's `wit/validator.wit`")
    }

    /// Loads a gate's plugin, checks its pin and runs `check-config`.
    pub async fn prepare(
        &self,
        plugin: &str,
        sha256: Option<&str>,
        config_value: &serde_json::Value,
        limits: crate::project::Limits,
        dir: &Path,
    ) -> anyhow::Result<PreparedGate> {
        self.prepare_gate(plugin, sha256, config_value, limits, dir)
            .await
            .map_err(|e| e.into_error(plugin))
    }

    /// [`prepare`](Self::prepare), saying which step failed (so `check`
    /// can point at the plugin, the pin or the config).
    pub async fn prepare_gate(
        &self,
        plugin: &str,
        sha256: Option<&str>,
        config_value: &serde_json::Value,
        limits: crate::project::Limits,
        dir: &Path,
    ) -> Result<PreparedGate, PrepareError> {
        let source = WasmHost::read_plugin(plugin, dir).map_err(PrepareError::Plugin)?;
        if let Some(expected) = sha256 {
            check_pin(plugin, &source.sha256, expected).map_err(PrepareError::Pin)?;
        }
        let limits = Limits::from_config(limits);
        let config = serde_json::to_string(config_value)
            .context("failed to encode the gate's config")
            .map_err(PrepareError::Plugin)?;
        let gate = |sha256: String, lean_sha256, component| PreparedGate {
            plugin: plugin.to_string(),
            sha256,
            lean_sha256,
            component,
            config: config.clone(),
            config_value: Arc::new(config_value.clone()),
            limits,
        };
        // A built-in's lean build judges as the full one does for every
        // config it accepts (it refuses what needs the registry), and costs
        // less per candidate. Anything else it answers, the full build
        // decides, with its own error messages.
        let lean = crate::builtins::PluginRef::parse(plugin)
            .builtin()
            .and_then(builtin_lean);
        if let Some(lean) = lean {
            let lean_sha256 = lean.sha256.clone();
            if let Ok(component) = self.load(lean, plugin).await
                && self
                    .check_config(&component, &config, &limits)
                    .await
                    .is_ok()
            {
                return Ok(gate(source.sha256, Some(lean_sha256), component));
            }
        }
        let sha256 = source.sha256.clone();
        let component = self
            .load(source, plugin)
            .await
            .map_err(PrepareError::Plugin)?;
        self.check_config(&component, &config, &limits)
            .await
            .map_err(PrepareError::Config)?;
        Ok(gate(sha256, None, component))
    }

    /// Runs a loaded component's `check-config` on `config` (JSON text)
    /// in a sandbox with no registry.
    pub async fn check_config(
        &self,
        component: &LoadedComponent,
        config: &str,
        limits: &Limits,
    ) -> Result<(), ConfigCheck> {
        let mut store = self.store(
            component.pre.engine(),
            limits,
            Source::None,
            Tape::default(),
            &Determinism::config_check(),
        );
        let outcome = tokio::time::timeout(limits.timeout + Duration::from_secs(1), async {
            component.pre.check_config(&mut store, config).await
        })
        .await;
        let cause = match outcome {
            Err(_) => format!(
                "`check-config` ran past the time limit of {}",
                crate::text::format_duration(limits.timeout)
            ),
            Ok(Err(e)) => {
                let logs = store.data_mut().take_logs();
                format!(
                    "`check-config` {}",
                    classify(&e, store.data(), &logs, limits)
                )
            }
            Ok(Ok(Err(msg))) => return Err(ConfigCheck::Rejected(msg)),
            Ok(Ok(Ok(()))) => return Ok(()),
        };
        let output = store.data().output();
        let mut msg = cause;
        if !output.trim().is_empty() {
            msg.push_str(&format!("\n{}", indent_tail(&output)));
        }
        Err(ConfigCheck::Failed(msg))
    }

    fn store(
        &self,
        engine: &Engine,
        limits: &Limits,
        source: Source,
        tape: Tape,
        fixed: &Determinism,
    ) -> Store<GateState> {
        let mut store = Store::new(engine, GateState::new(limits, source, tape, fixed));
        store.limiter(|s| &mut s.limiter);
        // The gate's time limit, in epoch ticks. At every tick the gate
        // yields to the async executor (it is not polled meanwhile if the
        // run's own deadline passed, or a signal stopped it: a gate never
        // outlasts the command's `--timeout`), and at the last it traps.
        let ticks = limits.timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) as u64;
        let mut left = ticks.max(1) + 1;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            left = left.saturating_sub(1);
            Ok(if left == 0 {
                wasmtime::UpdateDeadline::Interrupt
            } else {
                wasmtime::UpdateDeadline::Yield(1)
            })
        });
        store
    }

    /// Runs `validate` for one candidate and turns whatever happens into a
    /// [`GateResult`] carrying its [`Evidence`]. The sandbox's wall clock
    /// is frozen at `at`, the judgement time.
    pub async fn evaluate(
        &self,
        gate: &PreparedGate,
        name: &str,
        candidate: &Candidate,
        registry: SharedRegistry,
        at: std::time::SystemTime,
    ) -> GateResult {
        let start = Instant::now();
        let failed = |what: &str, e: RegistryError| {
            let mut result = GateResult::new(name, crate::gate::Kind::Wasm, &gate.plugin);
            result.conclude(Some(Cause::Registry(format!(
                "failed to read the candidate's {what}: {e}"
            ))));
            result.duration = start.elapsed();
            result
        };
        let version = &candidate.version;
        // The run and the LoggedModel do not depend on each other: asked
        // together, one round trip (and none when a sweep's window holds
        // them). Only a gate whose world has LoggedModels is handed one.
        let model_id = version
            .model_id
            .as_deref()
            .filter(|_| gate.component.world().has_logged_models());
        let (run, model) = futures::future::join(
            async {
                match &version.run_id {
                    None => Ok(None),
                    Some(id) => found(registry.run(id).await),
                }
            },
            async {
                match model_id {
                    None => Ok(None),
                    Some(id) => found(registry.logged_model(id).await),
                }
            },
        )
        .await;
        let run = match run {
            Ok(r) => r,
            Err(e) => return failed("run", e),
        };
        let logged_model = match model {
            Ok(m) => m,
            Err(e) => return failed("LoggedModel", e),
        };
        let input = RecordedCandidate {
            version: candidate.version.clone(),
            run,
            logged_model,
            selected_by: candidate.selector.describe(),
        };
        let fixed = Determinism::fresh(at);
        self.run_validate(
            gate,
            name,
            input,
            Source::Live(registry),
            Tape::default(),
            fixed,
            start,
        )
        .await
    }

    /// Evaluates `gate` again from `evidence` alone: the same candidate,
    /// clock and seed, every registry call answered from the recording. A
    /// call the recording has no answer for ends the evaluation (cause
    /// `other`, naming the call).
    pub async fn replay(&self, gate: &PreparedGate, name: &str, evidence: &Evidence) -> GateResult {
        let start = Instant::now();
        let fixed = match evidence.determinism() {
            Ok(f) => f,
            Err(e) => {
                let mut result = GateResult::new(name, crate::gate::Kind::Wasm, &gate.plugin);
                result.conclude(Some(Cause::Other(format!("the evidence is unusable: {e}"))));
                return result;
            }
        };
        let tape = Tape::replaying(evidence.calls.clone());
        self.run_validate(
            gate,
            name,
            evidence.candidate.clone(),
            Source::Replay,
            tape,
            fixed,
            start,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_validate(
        &self,
        gate: &PreparedGate,
        name: &str,
        input: RecordedCandidate,
        source: Source,
        tape: Tape,
        fixed: Determinism,
        start: Instant,
    ) -> GateResult {
        let mut result = GateResult::new(name, crate::gate::Kind::Wasm, &gate.plugin);
        let limits = gate.limits;
        let mut store = self.store(gate.component.pre.engine(), &limits, source, tape, &fixed);
        let candidate = bindings::WitCandidate::new(input, gate.component.world());
        let outcome = tokio::time::timeout(limits.timeout + Duration::from_millis(500), async {
            gate.component
                .pre
                .validate(&mut store, &candidate, &gate.config)
                .await
        })
        .await;
        result.duration = start.elapsed();
        let input = candidate.into_recorded();
        let state = store.data_mut();
        result.output = state.output();
        result.logs = state.take_logs();
        result.evidence = Some(Box::new(Evidence {
            modelgate: env!("CARGO_PKG_VERSION").to_string(),
            wit: gate.component.wit_version().to_string(),
            plugin: gate.plugin.clone(),
            sha256: gate.sha256.clone(),
            lean_sha256: gate.lean_sha256.clone(),
            config: gate.config_value.clone(),
            limits: RecordedLimits {
                timeout_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
                memory: limits.memory,
                registry_calls: limits.registry_calls,
            },
            clock_ms: fixed.clock_ms,
            seed: fixed.seed_hex(),
            candidate: input,
            calls: std::mem::take(&mut state.tape.calls),
        }));
        let state = store.data();
        let verdict = match outcome {
            // The deadline passed inside a host call (the registry).
            Err(_) => return concluded(result, Cause::TimeLimit(limits.timeout)),
            Ok(Err(e)) => {
                let cause = classify(&e, state, &result.logs, &limits);
                return concluded(result, cause);
            }
            Ok(Ok(Err(msg))) => return concluded(result, Cause::PluginError(msg)),
            Ok(Ok(Ok(v))) => v,
        };
        result.summary = Some(verdict.summary.clone()).filter(|s| !s.is_empty());
        result.checks = verdict.checks;
        let failed: Vec<String> = result
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.clone())
            .collect();
        let cause = if state.budget_exhausted {
            Some(Cause::RegistryBudget(limits.registry_calls))
        } else if state.output_overflowed() {
            Some(Cause::OutputLimit(sandbox::OUTPUT_CAPACITY as u64))
        } else if !verdict.passed {
            Some(Cause::Verdict(result.summary.clone()))
        } else if !failed.is_empty() {
            Some(Cause::ChecksFailed(failed))
        } else {
            None
        };
        result.conclude(cause);
        result
    }
}

/// `Ok(None)` for a thing that is not there (a version's run or
/// LoggedModel that was deleted), as MLflow's UI shows it: absent.
fn found<T>(answer: Result<T, RegistryError>) -> Result<Option<T>, RegistryError> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(RegistryError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn concluded(mut result: GateResult, cause: Cause) -> GateResult {
    result.conclude(Some(cause));
    result
}

/// Names the cause of a failed call: deadline, memory, output, panic, trap.
fn classify(err: &wasmtime::Error, state: &GateState, logs: &[LogLine], limits: &Limits) -> Cause {
    let memory = |reached: u64| Cause::MemoryLimit {
        limit: limits.memory,
        reached,
    };
    // Every refusal, by a growth or by a host charge, is recorded here.
    if let Some(desired) = state.limiter.refused {
        return memory(desired);
    }
    if let Some(a) = err.downcast_ref::<ArgumentTooLong>() {
        return Cause::RegistryBound(a.to_string());
    }
    if let Some(n) = err.downcast_ref::<NotRecorded>() {
        return Cause::Other(n.to_string());
    }
    let trap = err.downcast_ref::<Trap>().copied();
    if trap == Some(Trap::Interrupt) {
        return Cause::TimeLimit(limits.timeout);
    }
    if state.output_overflowed() {
        return Cause::OutputLimit(sandbox::OUTPUT_CAPACITY as u64);
    }
    let stderr = state.stderr_text();
    if let Some(panic) = panic_message(&stderr) {
        return Cause::Panic(panic);
    }
    // A gate without std has no stderr: the SDK logs its panic as an error.
    if trap.is_some()
        && let Some(panic) = logs
            .iter()
            .rev()
            .filter(|l| l.level == crate::gate::LogLevel::Error)
            .find_map(|l| panic_message(&l.message))
    {
        return Cause::Panic(panic);
    }
    match trap {
        Some(t) => Cause::Trap(t.to_string()),
        None => Cause::Other(format!("failed: {err:#}")),
    }
}

/// The message of a Rust panic printed to stderr (`panicked at FILE:\nMSG`).
fn panic_message(stderr: &str) -> Option<String> {
    let idx = stderr.find("panicked at")?;
    let rest = &stderr[idx..];
    let mut lines = rest.lines();
    let first = lines.next()?;
    let msg = lines
        .next()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("note:"));
    Some(match msg {
        Some(m) => m.trim().to_string(),
        None => first.to_string(),
    })
}

fn indent_tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(crate::text::TAIL_LINES)..]
        .iter()
        .map(|l| format!("  │ {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
