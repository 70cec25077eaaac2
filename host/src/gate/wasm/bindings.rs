//! The one place where `wit/` becomes Rust: the generated bindings of world
//! `modelgate:validator/validator@0.1.0`, the host side of its imports
//! (`registry`, `log`), and conversions from the registry's types.

use wasmtime::component::HasSelf;

use super::sandbox::GateState;
use crate::registry as reg;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "validator",
    imports: { default: async },
    exports: { default: async },
});

pub use self::modelgate::validator::log::Level;
pub use self::modelgate::validator::types::{
    Check, KeyValue, Metric, MetricPoint, ModelVersion, RegistryError, Run,
};

/// Adds the world's imports, served from [`GateState`], to `linker`.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<GateState>) -> wasmtime::Result<()> {
    Validator::add_to_linker::<GateState, HasSelf<GateState>>(linker, |s| s)
}

impl From<reg::KeyValue> for KeyValue {
    fn from(kv: reg::KeyValue) -> Self {
        KeyValue {
            key: kv.key,
            value: kv.value,
        }
    }
}

impl From<reg::ModelVersion> for ModelVersion {
    fn from(v: reg::ModelVersion) -> Self {
        ModelVersion {
            name: v.name,
            version: v.version,
            run_id: v.run_id,
            status: v.status,
            current_stage: v.current_stage,
            source: v.source,
            description: v.description,
            creation_timestamp: v.creation_timestamp,
            last_updated_timestamp: v.last_updated_timestamp,
            aliases: v.aliases,
            tags: v.tags.into_iter().map(Into::into).collect(),
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

impl From<reg::RegistryError> for RegistryError {
    fn from(e: reg::RegistryError) -> Self {
        match e {
            reg::RegistryError::NotFound(m) => RegistryError::NotFound(m),
            reg::RegistryError::Denied(m) => RegistryError::Denied(m),
            reg::RegistryError::Unavailable(m) | reg::RegistryError::Invalid(m) => {
                RegistryError::Unavailable(m)
            }
        }
    }
}

impl From<Check> for crate::gate::Check {
    fn from(c: Check) -> Self {
        crate::gate::Check {
            name: c.name,
            passed: c.passed,
            observed: c.observed,
            expected: c.expected,
            detail: c.detail,
        }
    }
}

impl Level {
    /// The level's name as shown in reports.
    pub fn name(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl self::modelgate::validator::types::Host for GateState {}

impl self::modelgate::validator::log::Host for GateState {
    async fn log(&mut self, level: Level, message: String) {
        self.record_log(level.name(), message);
    }
}

impl self::modelgate::validator::registry::Host for GateState {
    async fn get_model_version(
        &mut self,
        name: String,
        version: u64,
    ) -> Result<ModelVersion, RegistryError> {
        let registry = self.spend()?;
        Ok(registry.model_version(&name, version).await?.into())
    }

    async fn get_model_version_by_alias(
        &mut self,
        name: String,
        alias: String,
    ) -> Result<ModelVersion, RegistryError> {
        let registry = self.spend()?;
        Ok(registry.model_version_by_alias(&name, &alias).await?.into())
    }

    async fn list_model_versions(
        &mut self,
        name: String,
    ) -> Result<Vec<ModelVersion>, RegistryError> {
        let registry = self.spend()?;
        Ok(registry
            .model_versions(&name)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    async fn get_run(&mut self, run_id: String) -> Result<Run, RegistryError> {
        let registry = self.spend()?;
        Ok(registry.run(&run_id).await?.into())
    }

    async fn get_metric_history(
        &mut self,
        run_id: String,
        key: String,
    ) -> Result<Vec<MetricPoint>, RegistryError> {
        let registry = self.spend()?;
        Ok(registry
            .metric_history(&run_id, &key)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}
