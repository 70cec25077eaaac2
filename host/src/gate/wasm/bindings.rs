//! The one place where `wit/` becomes Rust: the generated bindings of the
//! worlds `modelgate:validator/validator@0.1.0`, `@0.2.0`, `@0.3.0` and
//! `@0.4.0`, the host side of their imports (0.1.0's `registry` and `log`,
//! which 0.2.0 uses; 0.3.0's `registry`, which 0.4.0 uses; 0.4.0's
//! `artifacts`), and conversions between the registry's types and the
//! worlds' candidates and verdicts.

use wasmtime::component::HasSelf;

use super::sandbox::{Begun, GateState, Refused};
use crate::gate::evidence::{Recordable, RecordedCandidate};
use crate::registry as reg;

/// World `modelgate:validator/validator@0.1.0` (`wit/deps/validator-0.1.0/`):
/// the registry, the log and the candidate, which 0.2.0 shares.
pub mod v1 {
    wasmtime::component::bindgen!({
        path: "../wit/deps/validator-0.1.0",
        world: "validator",
        // Trappable: a registry call that breaks a sandbox bound (an
        // argument too long, answers past the memory cap) ends the
        // evaluation.
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// World `modelgate:validator/validator@0.2.0` (`wit/deps/validator-0.2.0/`):
/// 0.1.0's imports and candidate, a verdict whose checks may carry a
/// warning.
pub mod v2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "modelgate:validator/validator@0.2.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "modelgate:validator/types@0.1.0": crate::gate::wasm::bindings::v1::modelgate::validator::types,
            "modelgate:validator/registry@0.1.0": crate::gate::wasm::bindings::v1::modelgate::validator::registry,
            "modelgate:validator/log@0.1.0": crate::gate::wasm::bindings::v1::modelgate::validator::log,
        },
    });
}

/// World `modelgate:validator/validator@0.3.0` (`wit/`): MLflow 3's
/// LoggedModel on the candidate and in a registry of its own; 0.1.0's log
/// and 0.2.0's verdict.
pub mod v3 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "modelgate:validator/validator@0.3.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "modelgate:validator/types@0.1.0": crate::gate::wasm::bindings::v1::modelgate::validator::types,
            "modelgate:validator/log@0.1.0": crate::gate::wasm::bindings::v1::modelgate::validator::log,
            "modelgate:validator/types@0.2.0": crate::gate::wasm::bindings::v2::modelgate::validator0_2_0::types,
        },
    });
}

/// World `modelgate:validator/validator@0.4.0` (`wit/`): 0.3.0's registry
/// and candidate, and reads of the artifacts of LoggedModels and runs.
pub mod v4 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "modelgate:validator/validator@0.4.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "modelgate:validator/types@0.1.0": crate::gate::wasm::bindings::v1::modelgate::validator::types,
            "modelgate:validator/log@0.1.0": crate::gate::wasm::bindings::v1::modelgate::validator::log,
            "modelgate:validator/types@0.2.0": crate::gate::wasm::bindings::v2::modelgate::validator0_2_0::types,
            "modelgate:validator/types@0.3.0": crate::gate::wasm::bindings::v3::modelgate::validator0_3_0::types,
            "modelgate:validator/registry@0.3.0": crate::gate::wasm::bindings::v3::modelgate::validator0_3_0::registry,
        },
    });
}

pub use v1::modelgate::validator::log::Level;
pub use v1::modelgate::validator::types::{
    Candidate, KeyValue, Metric, MetricPoint, ModelVersion, RegistryError, Run,
};

/// 0.3.0's records, apart from 0.1.0's of the same name.
use v3::modelgate::validator0_3_0::types as t3;
/// 0.4.0's records (artifacts).
use v4::modelgate::validator0_4_0::types as t4;

/// Adds the imports of every world, served from [`GateState`], to
/// `linker`: 0.1.0's `types`, `registry` and `log`; 0.2.0's (type-only)
/// `types`; 0.3.0's `types` (type-only) and `registry`; 0.4.0's `types`
/// (type-only) and `artifacts`.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<GateState>) -> wasmtime::Result<()> {
    use v1::modelgate::validator as i1;
    use v3::modelgate::validator0_3_0 as i3;
    i1::types::add_to_linker::<GateState, HasSelf<GateState>>(linker, |s| s)?;
    i1::registry::add_to_linker::<GateState, HasSelf<GateState>>(linker, |s| s)?;
    i1::log::add_to_linker::<GateState, HasSelf<GateState>>(linker, |s| s)?;
    v2::modelgate::validator0_2_0::types::add_to_linker::<GateState, HasSelf<GateState>>(
        linker,
        |s| s,
    )?;
    i3::types::add_to_linker::<GateState, HasSelf<GateState>>(linker, |s| s)?;
    i3::registry::add_to_linker::<GateState, HasSelf<GateState>>(linker, |s| s)?;
    use v4::modelgate::validator0_4_0 as i4;
    i4::types::add_to_linker::<GateState, HasSelf<GateState>>(linker, |s| s)?;
    i4::artifacts::add_to_linker::<GateState, HasSelf<GateState>>(linker, |s| s)
}

/// A gate's answer, whichever version of the world it was built against.
pub struct Verdict {
    /// The verdict's `passed`.
    pub passed: bool,
    /// The verdict's `summary`.
    pub summary: String,
    /// The checks, in the gate's order.
    pub checks: Vec<crate::gate::Check>,
}

impl From<v1::modelgate::validator::types::Verdict> for Verdict {
    fn from(v: v1::modelgate::validator::types::Verdict) -> Self {
        Verdict {
            passed: v.passed,
            summary: v.summary,
            checks: v
                .checks
                .into_iter()
                .map(|c| crate::gate::Check {
                    name: c.name,
                    passed: c.passed,
                    warning: None,
                    observed: c.observed,
                    expected: c.expected,
                    detail: c.detail,
                })
                .collect(),
        }
    }
}

impl From<v2::modelgate::validator0_2_0::types::Verdict> for Verdict {
    fn from(v: v2::modelgate::validator0_2_0::types::Verdict) -> Self {
        Verdict {
            passed: v.passed,
            summary: v.summary,
            checks: v
                .checks
                .into_iter()
                .map(|c| crate::gate::Check {
                    name: c.name,
                    passed: c.passed,
                    // A warning means something only on a passed check.
                    warning: c.warning.filter(|_| c.passed),
                    observed: c.observed,
                    expected: c.expected,
                    detail: c.detail,
                })
                .collect(),
        }
    }
}

/// Which world a component was built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum World {
    /// `modelgate:validator/validator@0.1.0`.
    V1,
    /// `modelgate:validator/validator@0.2.0`.
    V2,
    /// `modelgate:validator/validator@0.3.0`.
    V3,
    /// `modelgate:validator/validator@0.4.0`: 0.3.0's candidate and
    /// verdict, and artifact reads.
    V4,
}

impl World {
    /// The world whose package version is `version` (a version this host
    /// runs, as [`super::inspect::compatible`] gives it).
    pub fn of(version: &str) -> Option<World> {
        [World::V1, World::V2, World::V3, World::V4]
            .into_iter()
            .find(|w| w.version() == version)
    }

    /// The version of `modelgate:validator` it is.
    pub fn version(self) -> &'static str {
        match self {
            World::V1 => super::WIT_0_1_0,
            World::V2 => super::WIT_0_2_0,
            World::V3 => super::WIT_0_3_0,
            World::V4 => super::WIT_0_4_0,
        }
    }

    /// True when its candidate carries the version's LoggedModel (0.3.0
    /// on): only then does the host fetch it.
    pub fn has_logged_models(self) -> bool {
        self >= World::V3
    }
}

/// A component ready to instantiate, as the world version it was built
/// against: linked, and its exports found and type-checked once, so that
/// an evaluation only instantiates and calls.
pub struct Pre {
    world: World,
    pre: wasmtime::component::InstancePre<GateState>,
    check_config: wasmtime::component::ComponentExportIndex,
    validate: wasmtime::component::ComponentExportIndex,
}

impl Pre {
    /// Checks that `pre`'s component exports the functions of `world`,
    /// with their types.
    pub fn new(
        pre: wasmtime::component::InstancePre<GateState>,
        world: World,
    ) -> wasmtime::Result<Pre> {
        // The generated bindings type-check both exports, once.
        match world {
            World::V1 => drop(v1::ValidatorPre::new(pre.clone())?),
            World::V2 => drop(v2::ValidatorPre::new(pre.clone())?),
            World::V3 => drop(v3::ValidatorPre::new(pre.clone())?),
            World::V4 => drop(v4::ValidatorPre::new(pre.clone())?),
        }
        let index = |name: &str| {
            pre.component()
                .get_export_index(None, name)
                .ok_or_else(|| wasmtime::format_err!("no export `{name}` found"))
        };
        Ok(Pre {
            world,
            check_config: index("check-config")?,
            validate: index("validate")?,
            pre,
        })
    }

    /// The world the component was built against.
    pub fn world(&self) -> World {
        self.world
    }

    /// The engine the component was compiled for (each compiler tier has
    /// its own): every `Store` of an evaluation is made on it.
    pub fn engine(&self) -> &wasmtime::Engine {
        self.pre.engine()
    }

    /// Instantiates the component in `store` and finds `export` in it.
    async fn instantiate(
        &self,
        store: &mut wasmtime::Store<GateState>,
        export: &wasmtime::component::ComponentExportIndex,
    ) -> wasmtime::Result<wasmtime::component::Func> {
        let instance = self.pre.instantiate_async(&mut *store).await?;
        instance
            .get_func(&mut *store, export)
            .ok_or_else(|| wasmtime::format_err!("the instance lacks an export it was checked for"))
    }

    /// Instantiates the component in `store` and calls `check-config`.
    pub async fn check_config(
        &self,
        store: &mut wasmtime::Store<GateState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        let func = self.instantiate(store, &self.check_config).await?;
        // SAFETY: `new` type-checked this export of this component, as
        // both worlds have it: `func(config: string) -> result<_, string>`.
        #[allow(unsafe_code)]
        let typed = unsafe {
            wasmtime::component::TypedFunc::<(&str,), (Result<(), String>,)>::new_unchecked(func)
        };
        let (answer,) = typed.call_async(&mut *store, (config,)).await?;
        Ok(answer)
    }

    /// Instantiates the component in `store` and calls `validate` with
    /// `candidate`, which must be of the component's world
    /// ([`WitCandidate::new`]).
    pub async fn validate(
        &self,
        store: &mut wasmtime::Store<GateState>,
        candidate: &WitCandidate,
        config: &str,
    ) -> wasmtime::Result<Result<Verdict, String>> {
        let func = self.instantiate(store, &self.validate).await?;
        type V1Verdict = v1::modelgate::validator::types::Verdict;
        type V2Verdict = v2::modelgate::validator0_2_0::types::Verdict;
        match (self.world, candidate) {
            (World::V1, WitCandidate::Classic(c)) => {
                call_validate::<_, V1Verdict>(store, func, c, config).await
            }
            (World::V2, WitCandidate::Classic(c)) => {
                call_validate::<_, V2Verdict>(store, func, c, config).await
            }
            (World::V3 | World::V4, WitCandidate::LoggedModels(c)) => {
                call_validate::<_, V2Verdict>(store, func, c, config).await
            }
            _ => Err(wasmtime::format_err!(
                "internal: a candidate of another world than the gate's"
            )),
        }
    }
}

/// A candidate in the types of a gate's world: moved into them for the
/// call, and back for the evidence.
// One per evaluation, on its stack: boxing the larger would cost an
// allocation for nothing.
#[allow(clippy::large_enum_variant)]
pub enum WitCandidate {
    /// 0.1.0's candidate (0.1.0 and 0.2.0 gates): no LoggedModel, a
    /// version without `model-id`.
    Classic(Candidate),
    /// 0.3.0's candidate.
    LoggedModels(t3::Candidate),
}

impl WitCandidate {
    /// `input` as a gate of `world` is handed it.
    pub fn new(input: RecordedCandidate, world: World) -> WitCandidate {
        if world.has_logged_models() {
            WitCandidate::LoggedModels(t3::Candidate {
                version: input.version.into(),
                run: input.run.map(Into::into),
                logged_model: input.logged_model.map(Into::into),
                selected_by: input.selected_by,
            })
        } else {
            WitCandidate::Classic(Candidate {
                version: input.version.into(),
                run: input.run.map(Into::into),
                selected_by: input.selected_by,
            })
        }
    }

    /// What the gate was handed, as evidence records it.
    pub fn into_recorded(self) -> RecordedCandidate {
        match self {
            WitCandidate::Classic(c) => RecordedCandidate {
                version: c.version.into(),
                run: c.run.map(Into::into),
                logged_model: None,
                selected_by: c.selected_by,
            },
            WitCandidate::LoggedModels(c) => RecordedCandidate {
                version: c.version.into(),
                run: c.run.map(Into::into),
                logged_model: c.logged_model.map(Into::into),
                selected_by: c.selected_by,
            },
        }
    }
}

/// Calls `validate` (`func`) with candidate `C`, whose verdict is a `V` in
/// its world.
async fn call_validate<C, V>(
    store: &mut wasmtime::Store<GateState>,
    func: wasmtime::component::Func,
    candidate: &C,
    config: &str,
) -> wasmtime::Result<Result<Verdict, String>>
where
    C: wasmtime::component::Lower + Sync,
    V: wasmtime::component::Lift + Send + Sync + 'static,
    Verdict: From<V>,
{
    // SAFETY: `Pre::new` type-checked this export of this component
    // against the world whose verdict is `V` (what the generated bindings
    // do too: check once, then call unchecked), so the instance's type
    // check need not be done again for every evaluation.
    #[allow(unsafe_code)]
    let typed = unsafe {
        wasmtime::component::TypedFunc::<(&C, &str), (Result<V, String>,)>::new_unchecked(func)
    };
    let (answer,) = typed.call_async(&mut *store, (candidate, config)).await?;
    Ok(answer.map(Into::into))
}

/// `From` both ways between a registry type and its WIT twin, which have
/// the same fields: those in the first braces move as they are, the items
/// of `lists` convert one by one. A field added to either side and not named here does not
/// compile.
macro_rules! both_ways {
    ($ty:ident { $($f:ident),* } lists { $($l:ident),* }) => {
        both_ways!(self $ty { $($f),* } lists { $($l),* });
    };
    ($m:ident $ty:ident { $($f:ident),* } lists { $($l:ident),* }) => {
        impl From<reg::$ty> for $m::$ty {
            fn from(x: reg::$ty) -> Self {
                $m::$ty {
                    $($f: x.$f,)*
                    $($l: x.$l.into_iter().map(Into::into).collect(),)*
                }
            }
        }

        impl From<$m::$ty> for reg::$ty {
            fn from(x: $m::$ty) -> Self {
                reg::$ty {
                    $($f: x.$f,)*
                    $($l: x.$l.into_iter().map(Into::into).collect(),)*
                }
            }
        }
    };
}

both_ways!(KeyValue { key, value } lists {});

/// 0.1.0's model version has no `model-id`: a gate of 0.1.0 or 0.2.0 is
/// handed the version without it.
impl From<reg::ModelVersion> for ModelVersion {
    fn from(x: reg::ModelVersion) -> Self {
        ModelVersion {
            name: x.name,
            version: x.version,
            run_id: x.run_id,
            status: x.status,
            current_stage: x.current_stage,
            source: x.source,
            description: x.description,
            creation_timestamp: x.creation_timestamp,
            last_updated_timestamp: x.last_updated_timestamp,
            aliases: x.aliases,
            tags: x.tags.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<ModelVersion> for reg::ModelVersion {
    fn from(x: ModelVersion) -> Self {
        reg::ModelVersion {
            name: x.name,
            version: x.version,
            run_id: x.run_id,
            model_id: None,
            status: x.status,
            current_stage: x.current_stage,
            source: x.source,
            description: x.description,
            creation_timestamp: x.creation_timestamp,
            last_updated_timestamp: x.last_updated_timestamp,
            aliases: x.aliases,
            tags: x.tags.into_iter().map(Into::into).collect(),
        }
    }
}

mod three {
    //! 0.3.0's records, which have the registry's fields.
    use super::{reg, t3};

    both_ways!(t3 ModelVersion {
        name,
        version,
        run_id,
        model_id,
        status,
        current_stage,
        source,
        description,
        creation_timestamp,
        last_updated_timestamp,
        aliases
    } lists { tags });

    both_ways!(t3 LoggedModel {
        model_id,
        experiment_id,
        name,
        source_run_id,
        status,
        model_type,
        creation_timestamp,
        last_updated_timestamp
    } lists { metrics, params, tags });

    impl From<reg::ModelMetric> for t3::ModelMetric {
        fn from(m: reg::ModelMetric) -> Self {
            t3::ModelMetric {
                key: m.key,
                value: m.point.value,
                timestamp: m.point.timestamp,
                step: m.point.step,
                dataset_name: m.dataset_name,
                dataset_digest: m.dataset_digest,
                run_id: m.run_id,
            }
        }
    }

    impl From<t3::ModelMetric> for reg::ModelMetric {
        fn from(m: t3::ModelMetric) -> Self {
            reg::ModelMetric {
                key: m.key,
                point: reg::MetricPoint {
                    value: m.value,
                    timestamp: m.timestamp,
                    step: m.step,
                },
                dataset_name: m.dataset_name,
                dataset_digest: m.dataset_digest,
                run_id: m.run_id,
            }
        }
    }
}

impl From<reg::MetricPoint> for MetricPoint {
    fn from(p: reg::MetricPoint) -> Self {
        MetricPoint {
            value: p.value,
            timestamp: p.timestamp,
            step: p.step,
        }
    }
}

impl From<reg::Run> for Run {
    fn from(r: reg::Run) -> Self {
        Run {
            run_id: r.run_id,
            experiment_id: r.experiment_id,
            run_name: r.run_name,
            status: r.status,
            start_time: r.start_time,
            end_time: r.end_time,
            metrics: r
                .metrics
                .into_iter()
                .map(|m| Metric {
                    key: m.key,
                    value: m.point.value,
                    timestamp: m.point.timestamp,
                    step: m.point.step,
                })
                .collect(),
            params: r.params.into_iter().map(Into::into).collect(),
            tags: r.tags.into_iter().map(Into::into).collect(),
        }
    }
}

// Back again, moving every string: the candidate a gate was given becomes
// its evidence without a second copy.

impl From<Run> for reg::Run {
    fn from(r: Run) -> Self {
        reg::Run {
            run_id: r.run_id,
            experiment_id: r.experiment_id,
            run_name: r.run_name,
            status: r.status,
            start_time: r.start_time,
            end_time: r.end_time,
            metrics: r
                .metrics
                .into_iter()
                .map(|m| reg::Metric {
                    key: m.key,
                    point: reg::MetricPoint {
                        value: m.value,
                        timestamp: m.timestamp,
                        step: m.step,
                    },
                })
                .collect(),
            params: r.params.into_iter().map(Into::into).collect(),
            tags: r.tags.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Refused> for RegistryError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::NoRegistry => RegistryError::Unavailable(
                "the registry is not available during check-config".into(),
            ),
            Refused::BudgetExhausted => RegistryError::BudgetExhausted,
        }
    }
}

impl From<reg::RegistryError> for RegistryError {
    fn from(e: reg::RegistryError) -> Self {
        match e {
            reg::RegistryError::NotFound(m) => RegistryError::NotFound(m),
            reg::RegistryError::Denied(m) | reg::RegistryError::Unauthenticated(m) => {
                RegistryError::Denied(m)
            }
            reg::RegistryError::Unavailable(m)
            | reg::RegistryError::Tls(m)
            | reg::RegistryError::Invalid(m) => RegistryError::Unavailable(m),
        }
    }
}

impl From<Level> for crate::gate::LogLevel {
    fn from(level: Level) -> Self {
        use crate::gate::LogLevel;
        match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        }
    }
}

impl v1::modelgate::validator::types::Host for GateState {}

impl v2::modelgate::validator0_2_0::types::Host for GateState {}

impl t3::Host for GateState {}

impl t4::Host for GateState {}

impl v1::modelgate::validator::log::Host for GateState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.record_log(level.into(), message);
        Ok(())
    }
}

/// What a registry import answers: a trap, or the WIT result.
type Answer<T> = wasmtime::Result<Result<T, RegistryError>>;

impl GateState {
    /// Runs one registry call for the guest: bounds and budget first, then
    /// the answer — from the tape (a repeat, or a replay) or from the
    /// registry, recorded — charged to the memory cap when the call is new
    /// to this evaluation.
    async fn registry_call<T, W, F, Fut>(&mut self, kind: &str, args: &[&str], call: F) -> Answer<W>
    where
        T: Recordable,
        W: From<T>,
        F: FnOnce(reg::SharedRegistry) -> Fut,
        Fut: std::future::Future<Output = reg::Result<T>>,
    {
        let answer = match self.begin_call(kind, args)? {
            Err(refused) => return Ok(Err(RegistryError::from(refused))),
            Ok(Begun::Taped(answer)) => answer,
            Ok(Begun::Ask { registry, new }) => {
                let answer = call(registry).await.map(T::wrap);
                self.finish_call(kind, args, new, &answer)?;
                answer
            }
        };
        match answer {
            Err(e) => Ok(Err(RegistryError::from(e))),
            Ok(a) => match T::unwrap(&a) {
                Ok(v) => Ok(Ok(W::from(v))),
                // Only a replay can hold an answer of the wrong type (which
                // the evidence's reader refuses) or one without its bytes.
                Err(why) => Err(wasmtime::Error::msg(format!("`{kind}`: {why}"))),
            },
        }
    }
}

/// A list of registry items as their WIT records.
struct WitList<W>(Vec<W>);

impl<T, W: From<T>> From<Vec<T>> for WitList<W> {
    fn from(items: Vec<T>) -> Self {
        WitList(items.into_iter().map(W::from).collect())
    }
}

/// The registry calls both registry interfaces have, each in the model
/// version type of its world (`W`): 0.1.0's and 0.3.0's `Host` impls below
/// are these, typed.
impl GateState {
    async fn model_version_call<W: From<reg::ModelVersion>>(
        &mut self,
        name: String,
        version: u64,
    ) -> Answer<W> {
        let (name, v) = (name.as_str(), version.to_string());
        self.registry_call("get-model-version", &[name, &v], |r| async move {
            r.model_version(name, version).await
        })
        .await
    }

    async fn alias_call<W: From<reg::ModelVersion>>(
        &mut self,
        name: String,
        alias: String,
    ) -> Answer<W> {
        let (name, alias) = (name.as_str(), alias.as_str());
        self.registry_call(
            "get-model-version-by-alias",
            &[name, alias],
            |r| async move { r.model_version_by_alias(name, alias).await },
        )
        .await
    }

    async fn versions_call<W: From<reg::ModelVersion>>(&mut self, name: String) -> Answer<Vec<W>> {
        let name = name.as_str();
        let list: Answer<WitList<W>> = self
            .registry_call("list-model-versions", &[name], |r| async move {
                r.model_versions(name).await
            })
            .await;
        Ok(list?.map(|l| l.0))
    }

    async fn run_call(&mut self, run_id: String) -> Answer<Run> {
        let id = run_id.as_str();
        self.registry_call("get-run", &[id], |r| async move { r.run(id).await })
            .await
    }

    async fn history_call(&mut self, run_id: String, key: String) -> Answer<Vec<MetricPoint>> {
        let (id, key) = (run_id.as_str(), key.as_str());
        let list: Answer<WitList<MetricPoint>> = self
            .registry_call("get-metric-history", &[id, key], |r| async move {
                r.metric_history(id, key).await
            })
            .await;
        Ok(list?.map(|l| l.0))
    }
}

impl v1::modelgate::validator::registry::Host for GateState {
    async fn get_model_version(&mut self, name: String, version: u64) -> Answer<ModelVersion> {
        self.model_version_call(name, version).await
    }

    async fn get_model_version_by_alias(
        &mut self,
        name: String,
        alias: String,
    ) -> Answer<ModelVersion> {
        self.alias_call(name, alias).await
    }

    async fn list_model_versions(&mut self, name: String) -> Answer<Vec<ModelVersion>> {
        self.versions_call(name).await
    }

    async fn get_run(&mut self, run_id: String) -> Answer<Run> {
        self.run_call(run_id).await
    }

    async fn get_metric_history(
        &mut self,
        run_id: String,
        key: String,
    ) -> Answer<Vec<MetricPoint>> {
        self.history_call(run_id, key).await
    }
}

impl v3::modelgate::validator0_3_0::registry::Host for GateState {
    async fn get_model_version(&mut self, name: String, version: u64) -> Answer<t3::ModelVersion> {
        self.model_version_call(name, version).await
    }

    async fn get_model_version_by_alias(
        &mut self,
        name: String,
        alias: String,
    ) -> Answer<t3::ModelVersion> {
        self.alias_call(name, alias).await
    }

    async fn list_model_versions(&mut self, name: String) -> Answer<Vec<t3::ModelVersion>> {
        self.versions_call(name).await
    }

    async fn get_run(&mut self, run_id: String) -> Answer<Run> {
        self.run_call(run_id).await
    }

    async fn get_metric_history(
        &mut self,
        run_id: String,
        key: String,
    ) -> Answer<Vec<MetricPoint>> {
        self.history_call(run_id, key).await
    }

    async fn get_logged_model(&mut self, model_id: String) -> Answer<t3::LoggedModel> {
        let id = model_id.as_str();
        self.registry_call("get-logged-model", &[id], |r| async move {
            r.logged_model(id).await
        })
        .await
    }
}

impl From<t4::ArtifactOwner> for reg::artifacts::ArtifactOwner {
    fn from(o: t4::ArtifactOwner) -> Self {
        match o {
            t4::ArtifactOwner::LoggedModel(id) => reg::artifacts::ArtifactOwner::LoggedModel(id),
            t4::ArtifactOwner::Run(id) => reg::artifacts::ArtifactOwner::Run(id),
        }
    }
}

impl From<reg::artifacts::ArtifactEntry> for t4::ArtifactEntry {
    fn from(e: reg::artifacts::ArtifactEntry) -> Self {
        t4::ArtifactEntry {
            path: e.path,
            is_dir: e.is_dir,
            size: e.size,
        }
    }
}

impl From<reg::artifacts::ArtifactData> for t4::Artifact {
    fn from(a: reg::artifacts::ArtifactData) -> Self {
        t4::Artifact {
            path: a.path,
            size: a.size,
            truncated: a.truncated,
            data: a.data,
        }
    }
}

impl v4::modelgate::validator0_4_0::artifacts::Host for GateState {
    async fn list_artifacts(
        &mut self,
        owner: t4::ArtifactOwner,
        path: String,
    ) -> Answer<Vec<t4::ArtifactEntry>> {
        let owner = reg::artifacts::ArtifactOwner::from(owner);
        // A bad path is refused before it costs a call or reaches a store.
        if let Err(e) = reg::artifacts::check_path(&path, true) {
            return Ok(Err(e.into()));
        }
        let (key, path) = (owner.key(), path.as_str());
        let owner = &owner;
        let list: Answer<WitList<t4::ArtifactEntry>> = self
            .registry_call("list-artifacts", &[&key, path], |r| async move {
                r.list_artifacts(owner, path).await
            })
            .await;
        Ok(list?.map(|l| l.0))
    }

    async fn read_artifact(
        &mut self,
        owner: t4::ArtifactOwner,
        path: String,
        max_bytes: u64,
    ) -> Answer<t4::Artifact> {
        let owner = reg::artifacts::ArtifactOwner::from(owner);
        if let Err(e) = reg::artifacts::check_path(&path, false) {
            return Ok(Err(e.into()));
        }
        let (key, path, max) = (owner.key(), path.as_str(), max_bytes.to_string());
        let owner = &owner;
        self.registry_call("read-artifact", &[&key, path, &max], |r| async move {
            r.read_artifact(owner, path, max_bytes).await
        })
        .await
    }
}
