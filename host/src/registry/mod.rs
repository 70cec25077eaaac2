//! Read (and, for recording, write) access to an MLflow model registry and
//! tracking store, behind one trait.
//!
//! The backend is chosen from the tracking URI exactly as MLflow chooses it:
//! `http(s)://` talks to a tracking server's REST API; `sqlite:///path` reads
//! MLflow's own database directly, so `modelgate validate` works with no
//! server at all. See [`uri`] for how the URI itself is found.

pub mod artifacts;
pub mod cached;
pub mod rest;
pub mod sqlite;
pub mod uri;
pub mod writer;

use std::sync::Arc;

use async_trait::async_trait;

/// Why a registry call failed. Callers branch on the kind: a missing model is
/// the user's mistake, an unreachable server is the environment's.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RegistryError {
    /// The model, version, alias, run or metric does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The registry does not know who is asking: no credentials, or wrong
    /// ones (HTTP 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The registry knows who is asking and refuses: a missing permission
    /// (HTTP 403).
    #[error("{0}")]
    Denied(String),
    /// The registry could not be reached or failed.
    #[error("{0}")]
    Unavailable(String),
    /// The registry's TLS certificate is not trusted: unknown issuer, wrong
    /// host name, expired. Not retried: it will not fix itself.
    #[error("{0}")]
    Tls(String),
    /// The registry answered something modelgate cannot use.
    #[error("{0}")]
    Invalid(String),
}

impl RegistryError {
    /// A hint for the user, depending on the kind.
    pub fn hint(&self) -> &'static str {
        match self {
            RegistryError::NotFound(_) => {
                "check the model name and version; `mlflow models` or the MLflow UI lists them"
            }
            RegistryError::Unauthenticated(_) => {
                "the registry wants valid credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"
            }
            RegistryError::Denied(_) => {
                "the account lacks a permission: reading a model needs READ on the registered model (and on its runs' experiment); `--record`, `--promote` and `serve` need EDIT (docs/security.md)"
            }
            RegistryError::Unavailable(_) => {
                "check that the tracking server is running and MLFLOW_TRACKING_URI (or --tracking-uri) points at it"
            }
            RegistryError::Tls(_) => {
                "point MLFLOW_TRACKING_SERVER_CERT_PATH at the PEM certificate of the CA that signed the server's certificate, and use the host name the certificate names; MLFLOW_TRACKING_INSECURE_TLS=true skips verification (never in production)"
            }
            RegistryError::Invalid(_) => {
                "the registry's answer was not understood; check that it is an MLflow 2 or 3 server"
            }
        }
    }
}

/// A result of a registry call.
pub type Result<T> = std::result::Result<T, RegistryError>;

/// A key/value pair (tags, params).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A registered model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RegisteredModel {
    /// Its name.
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// Alias → version number.
    pub aliases: Vec<(String, u64)>,
    /// Its tags.
    pub tags: Vec<KeyValue>,
}

/// A model version.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelVersion {
    /// The registered model's name.
    pub name: String,
    /// The version number.
    pub version: u64,
    /// The run that produced it, if any.
    pub run_id: Option<String>,
    /// The MLflow 3 LoggedModel it was registered from (`m-…`), if any:
    /// MLflow's `model_id`, or the id a `models:/m-…` source names.
    /// Absent from evidence recorded before modelgate read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// `READY`, `PENDING_REGISTRATION` or `FAILED_REGISTRATION`.
    pub status: String,
    /// The legacy stage (`None`, `Staging`, `Production`, `Archived`).
    pub current_stage: Option<String>,
    /// Where the model's files are.
    pub source: Option<String>,
    /// Its description, if any.
    pub description: Option<String>,
    /// Creation time, milliseconds since the epoch.
    pub creation_timestamp: i64,
    /// Last update, milliseconds since the epoch.
    pub last_updated_timestamp: i64,
    /// Aliases pointing at this version.
    pub aliases: Vec<String>,
    /// Its tags.
    pub tags: Vec<KeyValue>,
}

impl ModelVersion {
    /// True when the version finished registering.
    pub fn is_ready(&self) -> bool {
        self.status() == VersionStatus::Ready
    }

    /// Its registration status.
    pub fn status(&self) -> VersionStatus {
        VersionStatus::parse(&self.status)
    }
}

/// Where a model version's registration stands (MLflow's
/// `ModelVersionStatus`); the record keeps MLflow's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionStatus {
    /// `READY`: registered, its artifacts in place.
    Ready,
    /// `PENDING_REGISTRATION`: still being registered.
    Pending,
    /// `FAILED_REGISTRATION`, or anything MLflow may add: never judged.
    Failed,
}

impl VersionStatus {
    /// The status MLflow's `text` names.
    pub fn parse(text: &str) -> VersionStatus {
        match text {
            "READY" => VersionStatus::Ready,
            "PENDING_REGISTRATION" => VersionStatus::Pending,
            _ => VersionStatus::Failed,
        }
    }
}

/// The LoggedModel id a model version points at: MLflow's own `model_id`
/// when it has one, else the id a `models:/m-…` source names (MLflow 3
/// writes both; a registry that lost the field still has the source).
/// `None` for versions registered MLflow 2's way (`runs:/…`, a path).
pub fn model_id_of(model_id: Option<String>, source: Option<&str>) -> Option<String> {
    model_id.filter(|id| !id.is_empty()).or_else(|| {
        let rest = source?.strip_prefix("models:/")?;
        // `models:/m-…` names a LoggedModel; `models:/NAME/VERSION` and
        // `models:/NAME@ALIAS` a registered model, which is not one.
        let id = rest.split('/').next().unwrap_or(rest);
        (id.starts_with("m-") && !id.contains('@') && is_model_id(id)).then(|| id.to_string())
    })
}

/// True for what MLflow makes a LoggedModel id of: `m-` and 32 lower-case
/// hex digits (a uuid4's hex), at most [`MAX_MODEL_ID`] bytes of
/// `[A-Za-z0-9_-]` for ids written by other clients.
pub fn is_model_id(id: &str) -> bool {
    id.len() > 2
        && id.len() <= MAX_MODEL_ID
        && id.starts_with("m-")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Longest LoggedModel id modelgate reads: MLflow's column holds 36
/// characters (`m-` and 32 hex digits; 34 in use).
pub const MAX_MODEL_ID: usize = 36;

/// One value of a metric of a LoggedModel: as a run's metric point, plus
/// the dataset it was computed on and the run that logged it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelMetric {
    /// The metric's name.
    pub key: String,
    /// The value, when and at which step.
    #[serde(flatten)]
    pub point: MetricPoint,
    /// The dataset's name, when logged with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    /// The dataset's digest, when logged with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    /// The run that logged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// An MLflow 3 LoggedModel with its data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoggedModel {
    /// Its id (`m-…`).
    pub model_id: String,
    /// The experiment it belongs to.
    pub experiment_id: String,
    /// Its name.
    pub name: String,
    /// The run that logged it, if any.
    pub source_run_id: Option<String>,
    /// `PENDING`, `READY` or `FAILED`.
    pub status: String,
    /// Its type, if set.
    pub model_type: Option<String>,
    /// Creation time, milliseconds since the epoch.
    pub creation_timestamp: i64,
    /// Last update, milliseconds since the epoch.
    pub last_updated_timestamp: i64,
    /// Every value of its metrics MLflow keeps, sorted by key, dataset,
    /// run, step and timestamp (both backends alike).
    pub metrics: Vec<ModelMetric>,
    /// Parameters, sorted by key.
    pub params: Vec<KeyValue>,
    /// Tags, sorted by key.
    pub tags: Vec<KeyValue>,
}

impl LoggedModel {
    /// Puts metrics, params and tags in the one order both backends give.
    pub fn normalize(&mut self) {
        self.metrics.sort_by(|a, b| {
            (
                &a.key,
                &a.dataset_name,
                &a.dataset_digest,
                &a.run_id,
                a.point.step,
                a.point.timestamp,
            )
                .cmp(&(
                    &b.key,
                    &b.dataset_name,
                    &b.dataset_digest,
                    &b.run_id,
                    b.point.step,
                    b.point.timestamp,
                ))
                .then_with(|| a.point.value.total_cmp(&b.point.value))
        });
        self.params.sort_by(|a, b| a.key.cmp(&b.key));
        self.tags.sort_by(|a, b| a.key.cmp(&b.key));
    }
}

/// One logged value of a metric.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricPoint {
    /// The value (may be NaN or infinite; in JSON those are the strings
    /// `NaN`, `Infinity` and `-Infinity`, see [`float`]).
    #[serde(with = "float")]
    pub value: f64,
    /// When it was logged, milliseconds since the epoch.
    pub timestamp: i64,
    /// The training step.
    pub step: i64,
}

/// A metric's latest value in a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Metric {
    /// The metric's name.
    pub key: String,
    /// MLflow's "latest" point: the maximum by (step, timestamp, value).
    #[serde(flatten)]
    pub point: MetricPoint,
}

/// A run with its data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Run {
    /// The run's id.
    pub run_id: String,
    /// The experiment it belongs to.
    pub experiment_id: String,
    /// Its name, if any.
    pub run_name: Option<String>,
    /// `RUNNING`, `FINISHED`, `FAILED`, …
    pub status: String,
    /// Start time, milliseconds since the epoch.
    pub start_time: i64,
    /// End time, if ended.
    pub end_time: Option<i64>,
    /// Latest value of each metric.
    pub metrics: Vec<Metric>,
    /// Parameters.
    pub params: Vec<KeyValue>,
    /// Tags.
    pub tags: Vec<KeyValue>,
}

impl Run {
    /// The latest value of metric `key`, if logged.
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.key == key)
            .map(|m| m.point.value)
    }
}

/// Floats in JSON as MLflow writes them: a finite value is a number; NaN
/// and the infinities, which JSON numbers cannot hold, are the strings
/// `NaN`, `Infinity` and `-Infinity`.
pub mod float {
    use serde::{Deserialize as _, Deserializer, Serializer};

    /// Writes `v`.
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("Infinity")
        } else {
            s.serialize_str("-Infinity")
        }
    }

    /// Reads a number, or one of the three strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(n) => Ok(n),
            Repr::Text(t) => match t.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                other => Err(serde::de::Error::custom(format!(
                    "`{other}` is not a number (nor NaN, Infinity, -Infinity)"
                ))),
            },
        }
    }
}

/// Picks MLflow's "latest" point among `points`: the maximum by
/// (step, timestamp, value), NaN ordering below every number as MLflow stores
/// it (value 0 with an is-NaN flag) would not — so compare as MLflow does.
pub fn latest_point(points: impl IntoIterator<Item = MetricPoint>) -> Option<MetricPoint> {
    points.into_iter().max_by(|a, b| {
        (a.step, a.timestamp)
            .cmp(&(b.step, b.timestamp))
            .then_with(|| stored_value(a.value).total_cmp(&stored_value(b.value)))
    })
}

/// The value MLflow's SQL store keeps for `v` (NaN as 0, ±inf as ±f64::MAX),
/// which is what its "latest" comparison sees.
fn stored_value(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else if v.is_infinite() {
        f64::MAX.copysign(v)
    } else {
        v
    }
}

/// Roughly how many bytes a registry answer holds on the heap: what the
/// sandbox charges a plugin for the answers the host keeps on its behalf,
/// and what bounds the answer cache.
pub trait HeapSize {
    /// The estimate, in bytes (strings' lengths plus a fixed overhead per
    /// item; an estimate that errs large).
    fn heap_size(&self) -> u64;
}

const ITEM_OVERHEAD: u64 = 48;

impl HeapSize for String {
    fn heap_size(&self) -> u64 {
        self.len() as u64 + 24
    }
}

impl<T: HeapSize> HeapSize for Option<T> {
    fn heap_size(&self) -> u64 {
        self.as_ref().map_or(0, HeapSize::heap_size)
    }
}

impl<T: HeapSize> HeapSize for Vec<T> {
    fn heap_size(&self) -> u64 {
        24 + self.iter().map(HeapSize::heap_size).sum::<u64>()
    }
}

impl<A: HeapSize, B: HeapSize> HeapSize for (A, B) {
    fn heap_size(&self) -> u64 {
        self.0.heap_size() + self.1.heap_size()
    }
}

impl HeapSize for u64 {
    fn heap_size(&self) -> u64 {
        8
    }
}

impl HeapSize for KeyValue {
    fn heap_size(&self) -> u64 {
        self.key.heap_size() + self.value.heap_size()
    }
}

impl HeapSize for MetricPoint {
    fn heap_size(&self) -> u64 {
        24
    }
}

impl HeapSize for Metric {
    fn heap_size(&self) -> u64 {
        self.key.heap_size() + 24
    }
}

impl HeapSize for ModelVersion {
    fn heap_size(&self) -> u64 {
        ITEM_OVERHEAD
            + self.name.heap_size()
            + self.run_id.heap_size()
            + self.model_id.heap_size()
            + self.status.heap_size()
            + self.current_stage.heap_size()
            + self.source.heap_size()
            + self.description.heap_size()
            + self.aliases.heap_size()
            + self.tags.heap_size()
    }
}

impl HeapSize for RegisteredModel {
    fn heap_size(&self) -> u64 {
        ITEM_OVERHEAD
            + self.name.heap_size()
            + self.description.heap_size()
            + self.aliases.heap_size()
            + self.tags.heap_size()
    }
}

impl HeapSize for Run {
    fn heap_size(&self) -> u64 {
        ITEM_OVERHEAD
            + self.run_id.heap_size()
            + self.experiment_id.heap_size()
            + self.run_name.heap_size()
            + self.status.heap_size()
            + self.metrics.heap_size()
            + self.params.heap_size()
            + self.tags.heap_size()
    }
}

impl HeapSize for ModelMetric {
    fn heap_size(&self) -> u64 {
        ITEM_OVERHEAD
            + self.key.heap_size()
            + self.dataset_name.heap_size()
            + self.dataset_digest.heap_size()
            + self.run_id.heap_size()
    }
}

impl HeapSize for LoggedModel {
    fn heap_size(&self) -> u64 {
        ITEM_OVERHEAD
            + self.model_id.heap_size()
            + self.experiment_id.heap_size()
            + self.name.heap_size()
            + self.source_run_id.heap_size()
            + self.status.heap_size()
            + self.model_type.heap_size()
            + self.metrics.heap_size()
            + self.params.heap_size()
            + self.tags.heap_size()
    }
}

impl HeapSize for RegistryError {
    fn heap_size(&self) -> u64 {
        match self {
            RegistryError::NotFound(m)
            | RegistryError::Unauthenticated(m)
            | RegistryError::Denied(m)
            | RegistryError::Unavailable(m)
            | RegistryError::Tls(m)
            | RegistryError::Invalid(m) => m.heap_size(),
        }
    }
}

impl<T: HeapSize> HeapSize for Result<T> {
    fn heap_size(&self) -> u64 {
        match self {
            Ok(v) => v.heap_size(),
            Err(e) => e.heap_size(),
        }
    }
}

/// Read access to a registry. Every backend gives the same answers for the
/// same store; the end-to-end tests hold them to it.
#[async_trait]
pub trait Registry: Send + Sync {
    /// The tracking URI this registry reads, for reports and child processes.
    fn uri(&self) -> &str;

    /// The registered model `name`.
    async fn registered_model(&self, name: &str) -> Result<RegisteredModel>;

    /// Every version of model `name`, newest first.
    async fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>>;

    /// The newest `n` versions of model `name`, newest first: one bounded
    /// read where the backend has one (a page people look at).
    async fn latest_versions(&self, name: &str, n: usize) -> Result<Vec<ModelVersion>> {
        let mut all = self.model_versions(name).await?;
        all.truncate(n);
        Ok(all)
    }

    /// Version `version` of model `name`.
    async fn model_version(&self, name: &str, version: u64) -> Result<ModelVersion>;

    /// The version of model `name` that alias `alias` points at.
    async fn model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion>;

    /// Run `run_id` with its latest metrics, params and tags.
    async fn run(&self, run_id: &str) -> Result<Run>;

    /// Several runs at once; backends that can batch do so. Runs that do not
    /// exist are left out.
    async fn runs(&self, run_ids: &[String]) -> Result<Vec<Run>> {
        let mut out = Vec::with_capacity(run_ids.len());
        for id in run_ids {
            match self.run(id).await {
                Ok(r) => out.push(r),
                Err(RegistryError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Every logged point of metric `key` in run `run_id`, oldest step first.
    async fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>>;

    /// LoggedModel `model_id` with its metrics, params and tags (MLflow 3).
    async fn logged_model(&self, model_id: &str) -> Result<LoggedModel>;

    /// The entries of directory `path` (`""`: the root) of `owner`'s
    /// artifacts, one level, sorted by path (WIT 0.4.0). The path is
    /// checked by [`artifacts::check_path`] first.
    async fn list_artifacts(
        &self,
        owner: &artifacts::ArtifactOwner,
        path: &str,
    ) -> Result<Vec<artifacts::ArtifactEntry>>;

    /// At most `max_bytes` (capped at [`artifacts::MAX_READ`]) of file
    /// `path` of `owner`'s artifacts (WIT 0.4.0).
    async fn read_artifact(
        &self,
        owner: &artifacts::ArtifactOwner,
        path: &str,
        max_bytes: u64,
    ) -> Result<artifacts::ArtifactData>;

    /// Several LoggedModels at once; backends that can batch do so. Models
    /// that do not exist are left out.
    async fn logged_models(&self, model_ids: &[String]) -> Result<Vec<LoggedModel>> {
        let mut out = Vec::with_capacity(model_ids.len());
        for id in model_ids {
            match self.logged_model(id).await {
                Ok(m) => out.push(m),
                Err(RegistryError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// A shared registry handle.
pub type SharedRegistry = Arc<dyn Registry>;

/// The tracking URI (the `--tracking-uri` flag, else
/// `MLFLOW_TRACKING_URI`, else `mlflow.db` in the project directory `dir`;
/// see [`uri::resolve`]) and its registry, opened.
pub fn connect(
    flag: Option<&str>,
    dir: &std::path::Path,
) -> anyhow::Result<(uri::TrackingUri, SharedRegistry)> {
    let env_uri = std::env::var("MLFLOW_TRACKING_URI").ok();
    let (tracking, _origin) = uri::resolve(flag, env_uri.as_deref(), dir)?;
    let registry = open(&tracking)?;
    Ok((tracking, registry))
}

/// Opens the registry for `uri` (already resolved by [`uri::resolve`]).
pub fn open(uri: &uri::TrackingUri) -> anyhow::Result<SharedRegistry> {
    Ok(match uri {
        uri::TrackingUri::Http(url) => Arc::new(rest::RestRegistry::new(url)?),
        uri::TrackingUri::Sqlite { uri, path } => {
            Arc::new(sqlite::SqliteRegistry::open(uri, path)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(step: i64, timestamp: i64, value: f64) -> MetricPoint {
        MetricPoint {
            value,
            timestamp,
            step,
        }
    }

    #[test]
    fn latest_is_max_by_step_timestamp_value() {
        let pts = [p(0, 5, 0.9), p(2, 1, 0.1), p(2, 1, 0.3), p(1, 9, 0.5)];
        assert_eq!(latest_point(pts), Some(p(2, 1, 0.3)));
        assert_eq!(latest_point([]), None);
        // NaN compares as MLflow stores it: 0.
        let l = latest_point([p(0, 0, f64::NAN), p(0, 0, -1.0)]).expect("some");
        assert!(l.value.is_nan());
    }
}
