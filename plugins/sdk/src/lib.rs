//! Write [modelgate] validation gates in Rust.
//!
//! A gate is a type implementing [`Gate`], exported with [`export_gate!`]
//! and built with `cargo build --target wasm32-wasip2 --release` as a
//! `cdylib`. modelgate calls [`Gate::check_config`] once when it loads the
//! gate and [`Gate::validate`] once per candidate model version:
//!
//! ```ignore
//! use modelgate_plugin::prelude::*;
//!
//! struct MinScore;
//!
//! impl Gate for MinScore {
//!     fn validate(candidate: &Candidate, config: &Config) -> Result<Verdict, String> {
//!         let min: f64 = config.require("min")?;
//!         let check = Check::at_least("score", candidate.metric("score"), min);
//!         Ok(Verdict::from_checks(vec![check]))
//!     }
//! }
//!
//! export_gate!(MinScore);
//! ```
//!
//! The gate reads the registry through [`registry`] (every call counts
//! against the host's budget) and reports diagnostics through [`log`].
//! [`Candidate::metric`] reads a metric where MLflow 3 shows it for the
//! version: its LoggedModel's, then its run's (see [`MetricLookup`] for
//! the rule, and [`Candidate::lookup`] to pick a dataset). It
//! runs in a sandbox: no files, no environment, no network, a deadline and a
//! memory cap. A complete example is `plugins/threshold`, modelgate's
//! built-in `builtin:threshold` gate.
//!
//! ## Without `std`
//!
//! With its default `std` feature off (`default-features = false`) the SDK
//! is `no_std` (it needs only `alloc`), and on wasm32 it brings what std
//! would: a heap (dlmalloc) and a panic handler that logs the panic's
//! message at error level and traps, so a panic fails the gate. A gate that
//! is `#![no_std]` itself then imports nothing but the modelgate interfaces:
//! no WASI, no stdio to set up, less to instantiate for every candidate.
//! Without `std`, a [`Value`] object's keys are sorted rather than kept in
//! config order (serde_json keeps the order only with std).
//!
//! The `arena` feature (without `std`) replaces dlmalloc with an arena:
//! allocating moves a pointer up, and only the most recent block is ever
//! freed, which suits a gate whose instance lives for one evaluation and
//! whose work follows its input (see `src/arena.rs` for when it does not).
//! `builtin:threshold` is built this way.
//!
//! The `panic-trap` feature (without `std`) makes a panic trap without
//! logging its message. A gate that then calls no registry function and
//! no logger imports nothing at all, and modelgate instantiates its
//! component as one core module rather than three (a component whose
//! imports pass strings needs a shim module and a fixup module so that the
//! imports can reach its memory): BENCHMARKS.md, section 5, has what that
//! saves per candidate. The price is the panic's message: modelgate
//! reports such a panic as a trap (`unreachable`), failing the gate all
//! the same. The lean build of `builtin:threshold` is built this way.
//!
//! [modelgate]: https://github.com/modelgate/modelgate

#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::de::DeserializeOwned;

#[cfg(any(test, all(target_arch = "wasm32", not(feature = "std"))))]
mod arena;

#[doc(hidden)]
pub mod bindings {
    //! Generated from `wit/validator.wit` (0.4.0) and the 0.1.0, 0.2.0 and
    //! 0.3.0 packages it uses (`wit/deps/`).
    #![allow(missing_docs)]
    wit_bindgen::generate!({
        path: "../../wit",
        world: "validator",
        pub_export_macro: true,
        export_macro_name: "__export_validator",
        default_bindings_module: "modelgate_plugin::bindings",
        additional_derives: [PartialEq],
        // The log, run and key-value come from `modelgate:validator@0.1.0`,
        // the check and verdict from 0.2.0 (`wit/deps/`), unchanged.
        generate_all,
        // `impl std::error::Error` only with the `std` feature.
        std_feature,
    });
}

pub use bindings::modelgate::validator0_1_0::types::{
    KeyValue, Metric, MetricPoint, RegistryError, Run,
};
pub use bindings::modelgate::validator0_2_0::types::{Check, Verdict};
pub use bindings::modelgate::validator0_3_0::types::{
    Candidate, LoggedModel, ModelMetric, ModelVersion,
};
pub use serde_json::Value;

/// Everything a gate usually needs.
pub mod prelude {
    pub use crate::{
        Candidate, Check, Config, Gate, LoggedModel, Metric, MetricLookup, MetricPoint,
        MetricSource, ModelMetric, ModelVersion, RegistryError, Run, Verdict, export_gate, log,
        registry,
    };
}

/// A validation gate.
pub trait Gate {
    /// Checks the task's `config:` once, when the gate is loaded; an `Err` is
    /// a configuration error (modelgate exits 2 before judging any model).
    /// The default accepts any config.
    fn check_config(config: &Config) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// Judges one candidate. `Err` means the gate could not decide, which
    /// modelgate counts as a failed gate.
    fn validate(candidate: &Candidate, config: &Config) -> Result<Verdict, String>;
}

/// Exports a [`Gate`] implementation as the component's `validator` world.
#[macro_export]
macro_rules! export_gate {
    ($gate:ty) => {
        #[doc(hidden)]
        type __ModelgateGate = $crate::Adapter<$gate>;
        $crate::bindings::__export_validator!(__ModelgateGate with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub struct Adapter<G>(core::marker::PhantomData<G>);

impl<G: Gate> bindings::Guest for Adapter<G> {
    fn check_config(config: String) -> Result<(), String> {
        G::check_config(&Config::from_json(config)?)
    }

    fn validate(candidate: Candidate, config: String) -> Result<Verdict, String> {
        G::validate(&candidate, &Config::from_json(config)?)
    }
}

/// The task's `config:` mapping, as the JSON the host passes. It is checked
/// once and parsed only as far as the gate asks: [`deserialize`] reads the
/// text straight into the gate's own type (a gate runs once per candidate,
/// so what it does not build it does not pay for).
///
/// [`deserialize`]: Config::deserialize
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    json: String,
    value: core::cell::OnceCell<Value>,
}

impl Config {
    /// Checks that `json` is one JSON value, without building it.
    pub fn parse(json: &str) -> Result<Config, String> {
        Config::from_json(json.to_string())
    }

    fn from_json(json: String) -> Result<Config, String> {
        serde_json::from_str::<serde::de::IgnoredAny>(&json)
            .map_err(|e| format!("config is not valid JSON: {e}"))?;
        Ok(Config {
            json,
            value: core::cell::OnceCell::new(),
        })
    }

    /// The whole config as JSON (built on first use).
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| {
            // `from_json` checked it: this cannot fail.
            serde_json::from_str(&self.json).unwrap_or(Value::Null)
        })
    }

    /// Deserializes the whole config, e.g. into a struct with
    /// `#[serde(deny_unknown_fields)]` so typos are caught in `check_config`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_str(&self.json).map_err(|e| format!("invalid config: {e}"))
    }

    /// The value of `key`, if present.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, String> {
        match self.value().get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| format!("config `{key}`: {e}")),
        }
    }

    /// The value of `key`, which must be present.
    pub fn require<T: DeserializeOwned>(&self, key: &str) -> Result<T, String> {
        self.get(key)?
            .ok_or_else(|| format!("config needs `{key}`"))
    }
}

/// What std gives a gate and a `no_std` one must have: a heap and a panic
/// handler.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
mod bare {
    // memcmp, memcpy and their kin, which the compiler calls: from wasi-libc
    // as with std. They import nothing.
    #[link(name = "c")]
    unsafe extern "C" {}

    /// The instance's linear memory from `__heap_base` up, where both heaps
    /// take their memory.
    struct Memory;

    unsafe extern "C" {
        static __heap_base: u8;
    }

    const PAGE: usize = 65536;

    impl crate::arena::Pages for Memory {
        fn start(&self) -> usize {
            core::ptr::addr_of!(__heap_base) as usize
        }

        fn end(&self) -> usize {
            core::arch::wasm32::memory_size(0) * PAGE
        }

        fn grow(&mut self, to: usize) -> bool {
            let more = to.saturating_sub(self.end()).div_ceil(PAGE);
            core::arch::wasm32::memory_grow(0, more) != usize::MAX
        }
    }

    /// The `arena` heap: see [`crate::arena`].
    #[cfg(feature = "arena")]
    mod heap {
        use super::Memory;
        use crate::arena::Arena;
        use core::alloc::{GlobalAlloc, Layout};

        #[global_allocator]
        static HEAP: Heap = Heap(core::cell::UnsafeCell::new(Arena::new(Memory)));

        /// The arena over the instance's linear memory. A component
        /// instance runs one call at a time on one thread.
        struct Heap(core::cell::UnsafeCell<Arena<Memory>>);

        // SAFETY: a wasm32 component instance runs on one thread.
        unsafe impl Sync for Heap {}

        // SAFETY: the arena hands out disjoint blocks of this instance's
        // memory, aligned as asked; a block moved by `realloc` gets the old
        // one's bytes.
        unsafe impl GlobalAlloc for Heap {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                // SAFETY: one call at a time (see `Sync` above).
                let arena = unsafe { &mut *self.0.get() };
                arena.alloc(layout.size(), layout.align()) as *mut u8
            }

            unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
                // SAFETY: as in `alloc`.
                let arena = unsafe { &mut *self.0.get() };
                let (ptr, used) = arena.alloc_zeroed(layout.size(), layout.align());
                // SAFETY: the block is `layout.size()` ≥ `used` bytes.
                unsafe { core::ptr::write_bytes(ptr as *mut u8, 0, used) };
                ptr as *mut u8
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: as in `alloc`.
                let arena = unsafe { &mut *self.0.get() };
                arena.dealloc(ptr as usize, layout.size());
            }

            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                // SAFETY: as in `alloc`.
                let arena = unsafe { &mut *self.0.get() };
                let (moved, copy) =
                    arena.realloc(ptr as usize, layout.size(), layout.align(), new_size);
                if copy && moved != 0 {
                    // SAFETY: both blocks are live and disjoint (the new one
                    // is above every block handed out before it).
                    unsafe {
                        core::ptr::copy_nonoverlapping(
                            ptr,
                            moved as *mut u8,
                            layout.size().min(new_size),
                        )
                    };
                }
                moved as *mut u8
            }
        }
    }

    /// The default heap: dlmalloc.
    #[cfg(not(feature = "arena"))]
    mod heap {
        use super::{Memory, PAGE};
        use crate::arena::Arena;

        #[global_allocator]
        static HEAP: Heap = Heap(core::cell::UnsafeCell::new(
            dlmalloc::Dlmalloc::new_with_allocator(Regions(core::cell::RefCell::new(Arena::new(
                Memory,
            )))),
        ));

        /// dlmalloc over the instance's linear memory. A component instance
        /// runs one call at a time on one thread.
        struct Heap(core::cell::UnsafeCell<dlmalloc::Dlmalloc<Regions>>);

        // SAFETY: a wasm32 component instance runs on one thread.
        unsafe impl Sync for Heap {}

        // SAFETY: each method hands its arguments to dlmalloc unchanged.
        unsafe impl core::alloc::GlobalAlloc for Heap {
            unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
                unsafe { (*self.0.get()).malloc(layout.size(), layout.align()) }
            }

            unsafe fn alloc_zeroed(&self, layout: core::alloc::Layout) -> *mut u8 {
                unsafe { (*self.0.get()).calloc(layout.size(), layout.align()) }
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
                unsafe { (*self.0.get()).free(ptr, layout.size(), layout.align()) }
            }

            unsafe fn realloc(
                &self,
                ptr: *mut u8,
                layout: core::alloc::Layout,
                new_size: usize,
            ) -> *mut u8 {
                unsafe { (*self.0.get()).realloc(ptr, layout.size(), layout.align(), new_size) }
            }
        }

        /// Where dlmalloc gets memory: regions handed out by an arena over
        /// the linear memory, one after the other, so what an evaluation
        /// touches stays together (the heap's first pages and its top's
        /// footer); past the memory's current end, `memory.grow` extends
        /// it. A gate whose initial memory holds its heap never grows
        /// (wasm-ld's `--initial-heap`). dlmalloc never gives a region back.
        struct Regions(core::cell::RefCell<Arena<Memory>>);

        // SAFETY: each region is this instance's memory, handed out once.
        unsafe impl dlmalloc::Allocator for Regions {
            fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
                match self.0.borrow_mut().alloc(size, 1) {
                    0 => (core::ptr::null_mut(), 0, 0),
                    start => (start as *mut u8, size, 0),
                }
            }

            fn remap(&self, _: *mut u8, _: usize, _: usize, _: bool) -> *mut u8 {
                core::ptr::null_mut()
            }

            fn free_part(&self, _: *mut u8, _: usize, _: usize) -> bool {
                false
            }

            fn free(&self, _: *mut u8, _: usize) -> bool {
                false
            }

            fn can_release_part(&self, _: u32) -> bool {
                false
            }

            fn allocates_zeros(&self) -> bool {
                // A fresh instance's memory, and what `memory.grow` adds, is
                // zero, and no region is handed out twice.
                true
            }

            fn page_size(&self) -> usize {
                PAGE
            }
        }
    }

    /// The component model's allocator export, through which the host
    /// hands the gate its arguments (std exports it on wasm32-wasip2).
    ///
    /// # Safety
    /// Called by the canonical ABI only: `old_ptr`/`old_len` come from an
    /// earlier call with the same `align`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn cabi_realloc(
        old_ptr: *mut u8,
        old_len: usize,
        align: usize,
        new_len: usize,
    ) -> *mut u8 {
        use alloc::alloc::{Layout, alloc, handle_alloc_error, realloc};
        if new_len == 0 {
            // Nothing to hold: any well-aligned address will do.
            return align as *mut u8;
        }
        let Ok(layout) = Layout::from_size_align(new_len, align) else {
            core::arch::wasm32::unreachable()
        };
        // SAFETY: `layout` has a non-zero size; an old block was allocated
        // here with `old_len` and the same alignment.
        let ptr = unsafe {
            if old_len == 0 {
                alloc(layout)
            } else {
                realloc(
                    old_ptr,
                    Layout::from_size_align_unchecked(old_len, align),
                    new_len,
                )
            }
        };
        if ptr.is_null() {
            handle_alloc_error(layout);
        }
        ptr
    }

    /// The panic handler: logs the panic's message at error level, then
    /// traps.
    #[cfg(not(feature = "panic-trap"))]
    mod panic {
        use crate::bindings::modelgate::validator0_1_0::log::{Level, log};
        use core::fmt::Write as _;

        /// A panic's message, cut at this many bytes: it is written on the
        /// stack, so a panic for want of memory can still be told.
        const MESSAGE: usize = 512;

        struct Message {
            bytes: [u8; MESSAGE],
            len: usize,
        }

        impl core::fmt::Write for Message {
            fn write_str(&mut self, s: &str) -> core::fmt::Result {
                let room = MESSAGE - self.len;
                let mut take = s.len().min(room);
                while !s.is_char_boundary(take) {
                    take -= 1;
                }
                self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
                self.len += take;
                if take < s.len() {
                    Err(core::fmt::Error)
                } else {
                    Ok(())
                }
            }
        }

        #[panic_handler]
        fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
            let mut m = Message {
                bytes: [0; MESSAGE],
                len: 0,
            };
            // `panicked at FILE:LINE:COL:` and the message on the next line, as
            // std prints it: modelgate reports the message as the cause.
            let _ = write!(m, "{info}");
            // Only whole characters were written.
            if let Ok(text) = core::str::from_utf8(&m.bytes[..m.len]) {
                log(Level::Error, text);
            }
            core::arch::wasm32::unreachable()
        }
    }

    /// The panic handler of the `panic-trap` feature: traps, and says
    /// nothing, so that the gate needs no `log` import.
    #[cfg(feature = "panic-trap")]
    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        core::arch::wasm32::unreachable()
    }
}

/// Reads of the files of LoggedModels and runs (WIT 0.4.0): a model's
/// `MLmodel`, its environment files, whatever a run logged. Every call
/// counts against the gate's budget of registry calls and what it returns
/// against its memory; paths are relative to the owner's artifact root,
/// `/`-separated, without `.` or `..` (anything else is `denied`).
pub mod artifacts {
    use super::bindings::modelgate::validator0_4_0::artifacts as imp;
    pub use super::bindings::modelgate::validator0_4_0::types::{
        Artifact, ArtifactEntry, ArtifactOwner,
    };
    use super::{ModelVersion, RegistryError};
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    /// The entries of directory `path` (`""`: the root) of `owner`, one
    /// level, sorted by path.
    pub fn list(owner: &ArtifactOwner, path: &str) -> Result<Vec<ArtifactEntry>, RegistryError> {
        imp::list_artifacts(owner, path)
    }

    /// File `path` of `owner`, at most `max_bytes` of it (`truncated`
    /// says when there was more).
    pub fn read(
        owner: &ArtifactOwner,
        path: &str,
        max_bytes: u64,
    ) -> Result<Artifact, RegistryError> {
        imp::read_artifact(owner, path, max_bytes)
    }

    /// Where the files of `version`'s model are, as its `source` says
    /// (what MLflow serves the version from): the root of its LoggedModel
    /// for `models:/m-…` (MLflow 3), a run's `PATH` for `runs:/RUN/PATH`
    /// or for a source in the version's run's artifact root
    /// (`…/RUN/artifacts/PATH`, how MLflow 2 registers a run's model); the
    /// second value is the prefix to put before a file's name. `None` when
    /// the source says none of these, or names another LoggedModel than
    /// the version's `model-id` (a version must not borrow another model's
    /// files).
    pub fn model_files(version: &ModelVersion) -> Option<(ArtifactOwner, String)> {
        let source = version.source.as_deref().unwrap_or("");
        if let Some(id) = source.strip_prefix("models:/") {
            let id = id.trim_end_matches('/');
            if !id.starts_with("m-") || version.model_id.as_deref().is_some_and(|m| m != id) {
                return None;
            }
            return Some((ArtifactOwner::LoggedModel(id.to_string()), String::new()));
        }
        if source.is_empty() {
            let id = version.model_id.as_ref()?;
            return Some((ArtifactOwner::LoggedModel(id.clone()), String::new()));
        }
        let (run, path) = if let Some(rest) = source.strip_prefix("runs:/") {
            rest.split_once('/').unwrap_or((rest, ""))
        } else {
            let run = version.run_id.as_deref()?;
            let marker = ["/", run, "/artifacts"].concat();
            let at = source.find(&marker)?;
            let rest = &source[at + marker.len()..];
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            (run, rest)
        };
        let path = path.trim_matches('/');
        if run.is_empty() {
            return None;
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            [path, "/"].concat()
        };
        Some((ArtifactOwner::Run(run.to_string()), prefix))
    }

    /// File `name` (e.g. `MLmodel`) of `version`'s model, at most
    /// `max_bytes` of it; `Ok(None)` when the model has no such file or its
    /// files cannot be located from the version.
    pub fn read_model_file(
        version: &ModelVersion,
        name: &str,
        max_bytes: u64,
    ) -> Result<Option<Artifact>, RegistryError> {
        let Some((owner, prefix)) = model_files(version) else {
            return Ok(None);
        };
        match read(&owner, &[prefix.as_str(), name].concat(), max_bytes) {
            Ok(a) => Ok(Some(a)),
            Err(RegistryError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Read-only access to the MLflow registry. Every call counts against the
/// gate's budget; when it is used up, calls answer
/// [`RegistryError::BudgetExhausted`] and the gate fails whatever it answers.
pub mod registry {
    use super::bindings::modelgate::validator0_3_0::registry as imp;
    use super::{LoggedModel, MetricPoint, ModelVersion, RegistryError, Run};
    use alloc::vec::Vec;

    /// Version `version` of model `name`.
    pub fn model_version(name: &str, version: u64) -> Result<ModelVersion, RegistryError> {
        imp::get_model_version(name, version)
    }

    /// The version of model `name` that `alias` points at.
    pub fn model_version_by_alias(name: &str, alias: &str) -> Result<ModelVersion, RegistryError> {
        imp::get_model_version_by_alias(name, alias)
    }

    /// Every version of model `name`, newest first.
    pub fn model_versions(name: &str) -> Result<Vec<ModelVersion>, RegistryError> {
        imp::list_model_versions(name)
    }

    /// Run `run_id` with its latest metrics, parameters and tags.
    pub fn run(run_id: &str) -> Result<Run, RegistryError> {
        imp::get_run(run_id)
    }

    /// Every logged point of metric `key` in run `run_id`, in step order.
    pub fn metric_history(run_id: &str, key: &str) -> Result<Vec<MetricPoint>, RegistryError> {
        imp::get_metric_history(run_id, key)
    }

    /// LoggedModel `model_id` (MLflow 3) with its metrics, params and tags.
    pub fn logged_model(model_id: &str) -> Result<LoggedModel, RegistryError> {
        imp::get_logged_model(model_id)
    }

    /// The run of `version`, or `Ok(None)` when it has none.
    pub fn run_of(version: &ModelVersion) -> Result<Option<Run>, RegistryError> {
        match &version.run_id {
            Some(id) => found(run(id)),
            None => Ok(None),
        }
    }

    /// The LoggedModel `version` was registered from, or `Ok(None)` when it
    /// has none (registered MLflow 2's way) or it no longer exists.
    pub fn logged_model_of(version: &ModelVersion) -> Result<Option<LoggedModel>, RegistryError> {
        match &version.model_id {
            Some(id) => found(logged_model(id)),
            None => Ok(None),
        }
    }

    fn found<T>(answer: Result<T, RegistryError>) -> Result<Option<T>, RegistryError> {
        match answer {
            Ok(v) => Ok(Some(v)),
            Err(RegistryError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Diagnostics shown with `modelgate validate -v` and when the gate fails.
pub mod log {
    use super::bindings::modelgate::validator0_1_0::log::{Level, log};

    /// Logs step-by-step detail.
    pub fn trace(message: impl AsRef<str>) {
        log(Level::Trace, message.as_ref());
    }

    /// Logs detail useful when debugging.
    pub fn debug(message: impl AsRef<str>) {
        log(Level::Debug, message.as_ref());
    }

    /// Logs normal progress.
    pub fn info(message: impl AsRef<str>) {
        log(Level::Info, message.as_ref());
    }

    /// Logs something that looks wrong.
    pub fn warn(message: impl AsRef<str>) {
        log(Level::Warn, message.as_ref());
    }

    /// Logs something that went wrong.
    pub fn error(message: impl AsRef<str>) {
        log(Level::Error, message.as_ref());
    }
}

impl From<RegistryError> for String {
    fn from(e: RegistryError) -> String {
        match e {
            RegistryError::NotFound(m) => format!("not found: {m}"),
            RegistryError::Denied(m) => format!("denied: {m}"),
            RegistryError::Unavailable(m) => format!("registry unavailable: {m}"),
            RegistryError::BudgetExhausted => "registry call budget exhausted".into(),
        }
    }
}

impl Run {
    /// The latest value of metric `key`, if logged.
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.key == key).map(|m| m.value)
    }

    /// Parameter `key`, if set.
    pub fn param(&self, key: &str) -> Option<&str> {
        find(&self.params, key)
    }

    /// Tag `key`, if set.
    pub fn tag(&self, key: &str) -> Option<&str> {
        find(&self.tags, key)
    }
}

impl ModelVersion {
    /// Tag `key`, if set.
    pub fn tag(&self, key: &str) -> Option<&str> {
        find(&self.tags, key)
    }
}

fn find<'a>(pairs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| kv.value.as_str())
}

impl Candidate {
    /// The registered model's name.
    pub fn name(&self) -> &str {
        &self.version.name
    }

    /// The candidate's version number.
    pub fn number(&self) -> u64 {
        self.version.version
    }

    /// The LoggedModel the version was registered from (MLflow 3), if any.
    pub fn model_id(&self) -> Option<&str> {
        self.version.model_id.as_deref()
    }

    /// Metric `key` where MLflow 3 shows it for the version (see
    /// [`MetricLookup`]): `None` when it is not logged, and also when its
    /// LoggedModel has it on several datasets (say which with
    /// [`lookup`](Self::lookup)).
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.lookup(key, None).value()
    }

    /// Metric `key` on `dataset` (`NAME` or `NAME@DIGEST`), or wherever it
    /// is when `dataset` is `None`, with where it came from.
    pub fn lookup(&self, key: &str, dataset: Option<&str>) -> MetricLookup<'_> {
        MetricLookup::find(self.logged_model.as_ref(), self.run.as_ref(), key, dataset)
    }
}

/// Where a metric's value came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricSource<'a> {
    /// A LoggedModel's metric (MLflow 3): the model, the dataset it was
    /// computed on (name and digest, when logged with one), and the run
    /// that logged it.
    Model {
        /// The LoggedModel.
        model_id: &'a str,
        /// The dataset's name.
        dataset_name: Option<&'a str>,
        /// The dataset's digest.
        dataset_digest: Option<&'a str>,
        /// The run that logged it.
        run_id: Option<&'a str>,
    },
    /// A run's metric: the version's (training) run.
    Run {
        /// The run.
        run_id: &'a str,
    },
}

impl MetricSource<'_> {
    /// Where it came from, for a check's detail: `LoggedModel m-… on
    /// dataset holdout (run 4f…)` or `run 4f…`.
    pub fn describe(&self) -> String {
        match *self {
            MetricSource::Run { run_id } => ["run ", run_id].concat(),
            MetricSource::Model {
                model_id,
                dataset_name,
                dataset_digest,
                run_id,
            } => {
                let mut s = ["LoggedModel ", model_id].concat();
                if let Some(name) = dataset_name {
                    s.push_str(" on dataset ");
                    s.push_str(&dataset_label(Some(name), dataset_digest));
                }
                if let Some(run) = run_id {
                    s.push_str(" (run ");
                    s.push_str(run);
                    s.push(')');
                }
                s
            }
        }
    }
}

/// What [`Candidate::lookup`] found: MLflow 3's rule for where a model
/// version's metric is, as its UI and `MlflowClient` present a version:
///
/// 1. The version's LoggedModel, when it has values of the metric: the
///    metrics its evaluations logged (`mlflow.log_metric(…, model_id=…,
///    dataset=…)`, `mlflow.models.evaluate`, `mlflow.genai.evaluate`).
///    With a dataset (`NAME`, or `NAME@DIGEST`), only values computed on
///    it count. Without one, the values must all be on one dataset (or
///    all on none): several datasets are [`Ambiguous`](Self::Ambiguous),
///    never a guess. Of the values that count, the current one is
///    MLflow's latest for a LoggedModel: the newest timestamp, then the
///    greatest step, then the smallest run id (as `search_logged_models`
///    orders by a metric).
/// 2. Otherwise the version's run (its training run), whose metrics know
///    no dataset: only when no dataset is asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricLookup<'a> {
    /// The value and where it came from.
    Found(f64, MetricSource<'a>),
    /// Not logged for the version (on that dataset, when one was asked
    /// for).
    Missing,
    /// The LoggedModel has the metric on several datasets and none was
    /// asked for: each dataset's label (`holdout`, `holdout@1a2b…` when
    /// two share a name, `(no dataset)`), sorted.
    Ambiguous(Vec<String>),
}

impl<'a> MetricLookup<'a> {
    /// Looks `key` up in `model`, then `run`, by the rule above.
    pub fn find(
        model: Option<&'a LoggedModel>,
        run: Option<&'a Run>,
        key: &str,
        dataset: Option<&str>,
    ) -> MetricLookup<'a> {
        let wanted = dataset.map(|d| match d.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (d, None),
        });
        if let Some(model) = model {
            let on = |m: &&ModelMetric| {
                m.key == key
                    && wanted.is_none_or(|(name, digest)| {
                        m.dataset_name.as_deref() == Some(name)
                            && digest.is_none_or(|d| m.dataset_digest.as_deref() == Some(d))
                    })
            };
            let mut values = model.metrics.iter().filter(on).peekable();
            if let Some(first) = values.peek().copied() {
                let same_dataset = |m: &ModelMetric| {
                    m.dataset_name == first.dataset_name && m.dataset_digest == first.dataset_digest
                };
                if wanted.is_none()
                    && !model
                        .metrics
                        .iter()
                        .filter(|m| m.key == key)
                        .all(same_dataset)
                {
                    return MetricLookup::Ambiguous(datasets_of(model, key));
                }
                let latest = values
                    .max_by(|a, b| {
                        (a.timestamp, a.step)
                            .cmp(&(b.timestamp, b.step))
                            // The smallest run id is the latest.
                            .then_with(|| b.run_id.cmp(&a.run_id))
                    })
                    .unwrap_or(first);
                return MetricLookup::Found(
                    latest.value,
                    MetricSource::Model {
                        model_id: &model.model_id,
                        dataset_name: latest.dataset_name.as_deref(),
                        dataset_digest: latest.dataset_digest.as_deref(),
                        run_id: latest.run_id.as_deref(),
                    },
                );
            }
        }
        if wanted.is_some() {
            return MetricLookup::Missing;
        }
        match run.and_then(|r| r.metrics.iter().find(|m| m.key == key).map(|m| (r, m))) {
            Some((r, m)) => MetricLookup::Found(m.value, MetricSource::Run { run_id: &r.run_id }),
            None => MetricLookup::Missing,
        }
    }

    /// The value, when found.
    pub fn value(&self) -> Option<f64> {
        match self {
            MetricLookup::Found(v, _) => Some(*v),
            _ => None,
        }
    }
}

/// A dataset as a check names it: `holdout`, or `holdout@DIGEST` when a
/// digest is known; `(no dataset)` for values logged without one.
pub fn dataset_label(name: Option<&str>, digest: Option<&str>) -> String {
    match (name, digest) {
        (None, _) => "(no dataset)".into(),
        (Some(n), None) => n.into(),
        (Some(n), Some(d)) => [n, "@", d].concat(),
    }
}

/// The datasets `model` has values of `key` on, labelled by name alone
/// when that tells them apart and by `name@digest` when not, sorted.
fn datasets_of(model: &LoggedModel, key: &str) -> Vec<String> {
    let mut found: Vec<(Option<&str>, Option<&str>)> = Vec::new();
    for m in model.metrics.iter().filter(|m| m.key == key) {
        let d = (m.dataset_name.as_deref(), m.dataset_digest.as_deref());
        if !found.contains(&d) {
            found.push(d);
        }
    }
    let mut labels: Vec<String> = found
        .iter()
        .map(|&(name, digest)| {
            let shared = found.iter().filter(|(n, _)| *n == name).count() > 1;
            dataset_label(name, digest.filter(|_| shared))
        })
        .collect();
    labels.sort();
    labels
}

impl LoggedModel {
    /// Metric `key` of this model on `dataset` (`NAME` or `NAME@DIGEST`),
    /// or on its one dataset when `None` (see [`MetricLookup`]).
    pub fn lookup(&self, key: &str, dataset: Option<&str>) -> MetricLookup<'_> {
        MetricLookup::find(Some(self), None, key, dataset)
    }

    /// Parameter `key`, if set.
    pub fn param(&self, key: &str) -> Option<&str> {
        find(&self.params, key)
    }

    /// Tag `key`, if set.
    pub fn tag(&self, key: &str) -> Option<&str> {
        find(&self.tags, key)
    }
}

/// Formats a metric value for a check: up to 6 significant decimals.
pub fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if let Some(s) = fixed6(v) {
        return s;
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// What `fmt_value` makes of a finite `v` below 2^64 in magnitude,
/// without `core::fmt` (whose float formatting is most of a plain check's
/// cost in a gate): `{v:.6}`, its trailing zeros and point trimmed, `-0`
/// as `0`. Exact: `v` is `m × 2^e`, so `v × 10^6 = m × 10^6 × 2^e` (under
/// 2^84) is rounded to an integer in `u128`, ties to even, as `{:.6}`
/// rounds. `None` for larger magnitudes.
fn fixed6(v: f64) -> Option<String> {
    let bits = v.to_bits();
    let negative = bits >> 63 == 1;
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (m, e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, biased - 1075)
    };
    let n = u128::from(m) * 1_000_000;
    let millionths = if e >= 0 {
        // m < 2^53: |v| < 2^64 when e ≤ 11.
        if e > 11 {
            return None;
        }
        n << e
    } else if e <= -127 {
        // n < 2^73 is below half of 2^-e: rounds to zero.
        0
    } else {
        let shift = (-e) as u32;
        let q = n >> shift;
        let r = n & ((1 << shift) - 1);
        let half = 1u128 << (shift - 1);
        if r > half || (r == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    if millionths == 0 {
        return Some("0".into());
    }
    let whole = millionths / 1_000_000;
    let mut part = (millionths % 1_000_000) as u32;
    let mut digits = [0u8; 48];
    let mut at = digits.len();
    let mut decimals = 6;
    while decimals > 0 && part.is_multiple_of(10) {
        part /= 10;
        decimals -= 1;
    }
    for _ in 0..decimals {
        at -= 1;
        digits[at] = b'0' + (part % 10) as u8;
        part /= 10;
    }
    if decimals > 0 {
        at -= 1;
        digits[at] = b'.';
    }
    at = write_digits(&mut digits[..at], whole);
    if negative {
        at -= 1;
        digits[at] = b'-';
    }
    // ASCII digits, a point and a sign.
    core::str::from_utf8(&digits[at..]).ok().map(String::from)
}

/// Writes `n` in decimal at the end of `buf` (which must have room: 39
/// bytes hold any `u128`), and returns where it starts.
fn write_digits(buf: &mut [u8], mut n: u128) -> usize {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return at;
        }
    }
}

/// Formats a count (`3`), without `core::fmt`, whose machinery costs a
/// gate more than the count.
pub fn fmt_count(n: usize) -> String {
    let mut digits = [0u8; 20];
    let at = write_digits(&mut digits, n as u128);
    core::str::from_utf8(&digits[at..])
        .map(String::from)
        .unwrap_or_default()
}

impl Check {
    /// A check with only a name and an outcome.
    pub fn new(name: impl Into<String>, passed: bool) -> Check {
        Check {
            name: name.into(),
            passed,
            warning: None,
            observed: None,
            expected: None,
            detail: None,
        }
    }

    /// Sets the observed value.
    pub fn observed(mut self, v: impl fmt::Display) -> Check {
        self.observed = Some(v.to_string());
        self
    }

    /// Sets what was expected.
    pub fn expected(mut self, v: impl fmt::Display) -> Check {
        self.expected = Some(v.to_string());
        self
    }

    /// Sets the detail.
    pub fn detail(mut self, v: impl fmt::Display) -> Check {
        self.detail = Some(v.to_string());
        self
    }

    /// Marks a passed check with a warning: it still passes, the report
    /// shows the note, and `modelgate validate --fail-on-warn` fails the
    /// gate on it. A warning on a failed check is ignored.
    pub fn warn(mut self, note: impl fmt::Display) -> Check {
        self.warning = Some(note.to_string());
        self
    }

    /// `observed >= min`; a missing or NaN value fails.
    pub fn at_least(name: impl Into<String>, observed: Option<f64>, min: f64) -> Check {
        Check::compare(name, observed, min, true)
    }

    /// `observed <= max`; a missing or NaN value fails.
    pub fn at_most(name: impl Into<String>, observed: Option<f64>, max: f64) -> Check {
        Check::compare(name, observed, max, false)
    }

    /// `observed` no worse than `baseline` by more than `tolerance` (≥ 0):
    /// at least `baseline - tolerance` when greater is better, at most
    /// `baseline + tolerance` otherwise; a missing or NaN value fails.
    pub fn no_worse_than(
        name: impl Into<String>,
        observed: Option<f64>,
        baseline: f64,
        tolerance: f64,
        greater_is_better: bool,
    ) -> Check {
        let (bound, sign) = if greater_is_better {
            (baseline - tolerance, "-")
        } else {
            (baseline + tolerance, "+")
        };
        let check = Check::compare(name, observed, bound, greater_is_better);
        check.expected(format!(
            "{} {} ({} {sign} {})",
            if greater_is_better { ">=" } else { "<=" },
            fmt_value(bound),
            fmt_value(baseline),
            fmt_value(tolerance)
        ))
    }

    /// `observed` strictly better than `bound`: greater when greater is
    /// better, smaller otherwise; a missing or NaN value fails.
    pub fn better_than(
        name: impl Into<String>,
        observed: Option<f64>,
        bound: f64,
        greater_is_better: bool,
    ) -> Check {
        let op = if greater_is_better { ">" } else { "<" };
        let expected = format!("{op} {}", fmt_value(bound));
        match observed {
            Some(v) if !v.is_nan() => {
                let ok = if greater_is_better {
                    v > bound
                } else {
                    v < bound
                };
                Check::new(name, ok)
                    .observed(fmt_value(v))
                    .expected(expected)
            }
            other => Check::compare(name, other, bound, greater_is_better).expected(expected),
        }
    }

    /// `|observed - target| <= tolerance`; a missing or NaN value fails.
    pub fn within(
        name: impl Into<String>,
        observed: Option<f64>,
        target: f64,
        tolerance: f64,
    ) -> Check {
        let expected = format!("{} ± {}", fmt_value(target), fmt_value(tolerance));
        match observed {
            Some(v) if !v.is_nan() => Check::new(name, (v - target).abs() <= tolerance)
                .observed(fmt_value(v))
                .expected(expected),
            other => Check::compare(name, other, target, true).expected(expected),
        }
    }

    fn compare(name: impl Into<String>, observed: Option<f64>, bound: f64, ge: bool) -> Check {
        let op = if ge { ">=" } else { "<=" };
        let expected = format!("{op} {}", fmt_value(bound));
        match observed {
            None => Check::new(name, false)
                .expected(expected)
                .detail("metric not logged"),
            Some(v) if v.is_nan() => Check::new(name, false)
                .observed("NaN")
                .expected(expected)
                .detail("metric is NaN"),
            Some(v) => {
                let ok = if ge { v >= bound } else { v <= bound };
                Check::new(name, ok)
                    .observed(fmt_value(v))
                    .expected(expected)
            }
        }
    }
}

impl Verdict {
    /// Passes when every check passes; the summary counts them.
    pub fn from_checks(checks: Vec<Check>) -> Verdict {
        let failed = checks.iter().filter(|c| !c.passed).count();
        let summary = if failed == 0 {
            format!("{} of {} checks passed", checks.len(), checks.len())
        } else {
            format!("{failed} of {} checks failed", checks.len())
        };
        Verdict {
            passed: failed == 0,
            summary,
            checks,
        }
    }

    /// The names of the checks that failed.
    pub fn failed(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The same verdict with `summary` instead, e.g. one built from
    /// [`failed`](Self::failed).
    pub fn with_summary(mut self, summary: impl Into<String>) -> Verdict {
        self.summary = summary.into();
        self
    }

    /// A pass with a summary and no checks.
    pub fn pass(summary: impl Into<String>) -> Verdict {
        Verdict {
            passed: true,
            summary: summary.into(),
            checks: Vec::new(),
        }
    }

    /// A failure with a summary and no checks.
    pub fn fail(summary: impl Into<String>) -> Verdict {
        Verdict {
            passed: false,
            summary: summary.into(),
            checks: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn version(source: Option<&str>, model_id: Option<&str>, run_id: Option<&str>) -> ModelVersion {
        ModelVersion {
            name: "m".into(),
            version: 2,
            run_id: run_id.map(Into::into),
            model_id: model_id.map(Into::into),
            status: "READY".into(),
            current_stage: None,
            source: source.map(Into::into),
            description: None,
            creation_timestamp: 0,
            last_updated_timestamp: 0,
            aliases: vec![],
            tags: vec![],
        }
    }

    #[test]
    fn a_versions_files_are_where_its_source_says() {
        use artifacts::{ArtifactOwner as O, model_files};
        let m = |id: &str| Some((O::LoggedModel(id.into()), String::new()));
        let r = |id: &str, p: &str| Some((O::Run(id.into()), p.to_string()));
        assert_eq!(
            model_files(&version(Some("models:/m-1"), Some("m-1"), Some("r"))),
            m("m-1")
        );
        assert_eq!(model_files(&version(None, Some("m-1"), None)), m("m-1"));
        // A source naming another model than the version's: no files.
        assert_eq!(
            model_files(&version(Some("models:/m-2"), Some("m-1"), None)),
            None
        );
        assert_eq!(
            model_files(&version(Some("models:/champion/3"), None, None)),
            None
        );
        assert_eq!(
            model_files(&version(Some("runs:/abc/model"), None, None)),
            r("abc", "model/")
        );
        assert_eq!(
            model_files(&version(Some("runs:/abc"), None, None)),
            r("abc", "")
        );
        // MLflow 2: the run's artifact location, wherever it is.
        let v = version(
            Some("mlflow-artifacts:/0/abc/artifacts/model"),
            None,
            Some("abc"),
        );
        assert_eq!(model_files(&v), r("abc", "model/"));
        let v = version(
            Some("/srv/mlruns/0/abc/artifacts/sub/model/"),
            None,
            Some("abc"),
        );
        assert_eq!(model_files(&v), r("abc", "sub/model/"));
        let v = version(Some("s3://b/0/other/artifacts/model"), None, Some("abc"));
        assert_eq!(model_files(&v), None);
        let v = version(Some("s3://b/0/abc/artifactsX/model"), None, Some("abc"));
        assert_eq!(model_files(&v), None);
    }

    /// `fmt_value` as `core::fmt` makes it.
    fn by_core(v: f64) -> String {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" { "0".into() } else { s.to_string() }
    }

    #[test]
    fn fixed_point_values_are_what_core_fmt_makes() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.6,
            0.666667,
            2.0 / 3.0,
            0.1 + 0.2,
            1e-7,
            -1e-7,
            4e-7,
            5e-7,
            6e-7,
            0.0000005,
            0.9999995,
            0.99999949,
            123456.7890125,
            1e15,
            1e18,
            1.8e19,
            18446744073709549568.0,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            0.1,
            0.01,
            0.001,
        ];
        // Exact ties at the sixth decimal (k / 128 and the like): to even.
        for k in 0..2000u32 {
            values.push(f64::from(k) / 128.0);
            values.push(f64::from(k) / 1024.0 + 1.0);
            values.push(-f64::from(k) / 64.0);
        }
        // Every binade from 2^-40 to 2^64, pseudo-random mantissas.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let exp = 1023 - 40 + (x >> 56) % 104;
            let bits = (x & (1 << 63)) | exp << 52 | (x & ((1 << 52) - 1));
            values.push(f64::from_bits(bits));
        }
        for v in values {
            assert_eq!(fmt_value(v), by_core(v), "{v:e} ({:#x})", v.to_bits());
        }
        assert_eq!(fixed6(2f64.powi(64)), None, "past u64: core::fmt does it");
        assert_eq!(fmt_value(2f64.powi(64)), "18446744073709551616");
        assert_eq!(fmt_value(1e300), by_core(1e300));
        for n in [0, 1, 9, 10, 99, 100, 12345, usize::MAX] {
            assert_eq!(fmt_count(n), format!("{n}"));
        }
    }

    #[test]
    fn a_config_is_checked_at_once_and_read_as_asked() {
        for bad in ["", "{", "{\"a\": 1} x", "{\"a\": 1}{}", "{'a': 1}"] {
            let err = Config::parse(bad).expect_err(bad);
            assert!(
                err.starts_with("config is not valid JSON: "),
                "{bad}: {err}"
            );
        }
        let c = Config::parse(r#"{"min": 0.5, "name": "acc", "extra": [1, 2]}"#).expect("valid");
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct Narrow {
            min: f64,
            name: String,
        }
        let err = c.deserialize::<Narrow>().expect_err("unknown field");
        assert!(
            err.starts_with("invalid config: unknown field `extra`"),
            "{err}"
        );
        assert_eq!(c.require::<f64>("min"), Ok(0.5));
        assert_eq!(c.get::<String>("name"), Ok(Some("acc".into())));
        assert_eq!(c.get::<String>("absent"), Ok(None));
        assert!(c.require::<f64>("name").is_err());
        assert_eq!(c.value()["extra"][1], 2);
        let keys: Vec<&String> = c.value().as_object().expect("object").keys().collect();
        assert_eq!(keys, ["min", "name", "extra"], "config order kept");
    }

    #[test]
    fn comparisons_with_tolerance() {
        let c = Check::no_worse_than("acc", Some(0.895), 0.9, 0.01, true);
        assert!(c.passed);
        assert_eq!(c.expected.as_deref(), Some(">= 0.89 (0.9 - 0.01)"));
        assert!(!Check::no_worse_than("acc", Some(0.88), 0.9, 0.01, true).passed);
        let loss = Check::no_worse_than("loss", Some(0.21), 0.2, 0.02, false);
        assert!(loss.passed);
        assert_eq!(loss.expected.as_deref(), Some("<= 0.22 (0.2 + 0.02)"));
        assert!(!Check::no_worse_than("acc", Some(f64::NAN), 0.9, 0.01, true).passed);
        assert!(!Check::no_worse_than("acc", None, 0.9, 0.01, true).passed);
        assert!(Check::better_than("acc", Some(0.91), 0.9, true).passed);
        assert!(!Check::better_than("acc", Some(0.9), 0.9, true).passed);
        assert!(Check::better_than("loss", Some(0.1), 0.2, false).passed);
        assert!(!Check::better_than("acc", None, 0.9, true).passed);
        let w = Check::within("p", Some(0.52), 0.5, 0.05);
        assert!(w.passed);
        assert_eq!(w.expected.as_deref(), Some("0.5 ± 0.05"));
        assert!(!Check::within("p", Some(0.56), 0.5, 0.05).passed);
        assert!(!Check::within("p", Some(f64::NAN), 0.5, 0.05).passed);
    }

    fn mm(
        key: &str,
        value: f64,
        ts: i64,
        step: i64,
        ds: Option<(&str, &str)>,
        run: &str,
    ) -> ModelMetric {
        ModelMetric {
            key: key.into(),
            value,
            timestamp: ts,
            step,
            dataset_name: ds.map(|d| d.0.into()),
            dataset_digest: ds.map(|d| d.1.into()),
            run_id: Some(run.into()),
        }
    }

    fn model(metrics: Vec<ModelMetric>) -> LoggedModel {
        LoggedModel {
            model_id: "m-1".into(),
            experiment_id: "0".into(),
            name: "model".into(),
            source_run_id: Some("train".into()),
            status: "READY".into(),
            model_type: None,
            creation_timestamp: 0,
            last_updated_timestamp: 0,
            metrics,
            params: Vec::new(),
            tags: Vec::new(),
        }
    }

    fn run(metrics: &[(&str, f64)]) -> Run {
        Run {
            run_id: "train".into(),
            experiment_id: "0".into(),
            run_name: None,
            status: "FINISHED".into(),
            start_time: 0,
            end_time: None,
            metrics: metrics
                .iter()
                .map(|(k, v)| Metric {
                    key: (*k).into(),
                    value: *v,
                    timestamp: 0,
                    step: 0,
                })
                .collect(),
            params: Vec::new(),
            tags: Vec::new(),
        }
    }

    #[test]
    fn a_metric_is_read_from_the_logged_model_then_the_run() {
        let holdout = Some(("holdout", "aa11"));
        let canary = Some(("canary", "bb22"));
        let m = model(vec![
            mm("accuracy", 0.91, 10, 0, holdout, "eval1"),
            mm("accuracy", 0.85, 11, 0, canary, "eval2"),
            mm("f1", 0.7, 10, 0, holdout, "eval1"),
        ]);
        let r = run(&[("accuracy", 0.99), ("loss", 0.2)]);
        let find = |key, ds| MetricLookup::find(Some(&m), Some(&r), key, ds);
        // The model first, on the dataset asked for; its source says so.
        let found = find("accuracy", Some("holdout"));
        assert_eq!(found.value(), Some(0.91));
        let MetricLookup::Found(_, source) = found else {
            panic!("found")
        };
        assert_eq!(
            source.describe(),
            "LoggedModel m-1 on dataset holdout@aa11 (run eval1)"
        );
        assert_eq!(find("accuracy", Some("canary@bb22")).value(), Some(0.85));
        assert_eq!(
            find("accuracy", Some("canary@other")),
            MetricLookup::Missing
        );
        // Several datasets and none named: no guess.
        assert_eq!(
            find("accuracy", None),
            MetricLookup::Ambiguous(vec!["canary".into(), "holdout".into()])
        );
        // One dataset: that one, without naming it.
        assert_eq!(find("f1", None).value(), Some(0.7));
        // Not on the model: the run, but only when no dataset is asked for.
        assert_eq!(find("loss", None).value(), Some(0.2));
        let MetricLookup::Found(_, source) = find("loss", None) else {
            panic!("found")
        };
        assert_eq!(source.describe(), "run train");
        assert_eq!(find("loss", Some("holdout")), MetricLookup::Missing);
        assert_eq!(find("nothing", None), MetricLookup::Missing);
        // No model at all: the run, as before MLflow 3.
        assert_eq!(
            MetricLookup::find(None, Some(&r), "accuracy", None).value(),
            Some(0.99)
        );
    }

    #[test]
    fn the_latest_model_value_is_mlflows_newest_timestamp_then_step_then_smallest_run() {
        let d = Some(("holdout", "aa11"));
        let newest = model(vec![
            mm("a", 0.1, 5, 9, d, "r1"),
            mm("a", 0.2, 7, 0, d, "r1"),
            mm("a", 0.3, 6, 3, d, "r2"),
        ]);
        assert_eq!(
            newest.lookup("a", None).value(),
            Some(0.2),
            "newest timestamp"
        );
        let step = model(vec![
            mm("a", 0.1, 7, 1, d, "r1"),
            mm("a", 0.2, 7, 2, d, "r1"),
        ]);
        assert_eq!(
            step.lookup("a", None).value(),
            Some(0.2),
            "then greatest step"
        );
        let run = model(vec![
            mm("a", 0.1, 7, 1, d, "r2"),
            mm("a", 0.2, 7, 1, d, "r1"),
        ]);
        assert_eq!(
            run.lookup("a", None).value(),
            Some(0.2),
            "then smallest run id"
        );
        // Two digests of one name are told apart by digest; no dataset too.
        let two = model(vec![
            mm("a", 0.1, 2, 0, Some(("h", "01")), "r"),
            mm("a", 0.2, 1, 0, Some(("h", "02")), "r"),
            mm("a", 0.3, 1, 0, None, "r"),
        ]);
        assert_eq!(
            two.lookup("a", None),
            MetricLookup::Ambiguous(vec!["(no dataset)".into(), "h@01".into(), "h@02".into()])
        );
        assert_eq!(two.lookup("a", Some("h@02")).value(), Some(0.2));
        assert_eq!(
            two.lookup("a", Some("h")).value(),
            Some(0.1),
            "a name alone matches every digest of it: the latest value"
        );
    }

    #[test]
    fn warnings_and_summaries() {
        let warned = Check::at_least("score", Some(0.61), 0.6).warn("close to 0.6");
        assert!(warned.passed);
        assert_eq!(warned.warning.as_deref(), Some("close to 0.6"));
        let v = Verdict::from_checks(vec![warned, Check::new("b", false)]);
        assert!(!v.passed);
        assert_eq!(v.failed(), ["b"]);
        let v = v.with_summary("b is wrong");
        assert_eq!(v.summary, "b is wrong");
        assert!(!v.passed);
    }
}
