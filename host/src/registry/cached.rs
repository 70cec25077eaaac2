//! A per-invocation cache in front of a registry.
//!
//! Several gates of one model read the same version and run, and a sweep over
//! many versions can fetch all runs in a few batched requests before any gate
//! runs. The cache keeps successful answers and `NotFound`s for the lifetime
//! of one `modelgate` invocation (a registry does not change meaningfully
//! while one decision is being made); other errors are not cached, so a
//! transient failure is retried by the next caller.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{
    HeapSize, MetricPoint, ModelVersion, RegisteredModel, Registry, RegistryError, Result, Run,
    SharedRegistry,
};

type Slot<T> = Mutex<HashMap<String, Result<T>>>;

/// Most bytes of answers the cache keeps: 256 MiB. Past it, answers are
/// still returned but no longer kept, so neither a sweep over a huge
/// registry nor plugins asking for many distinct things can grow it
/// further (each plugin is also charged for what it asks, see the sandbox).
pub const MAX_CACHE_BYTES: u64 = 256 << 20;

/// A caching wrapper around any registry.
pub struct CachedRegistry {
    inner: SharedRegistry,
    models: Slot<RegisteredModel>,
    versions: Slot<Vec<ModelVersion>>,
    version: Slot<ModelVersion>,
    runs: Slot<Run>,
    history: Slot<Vec<MetricPoint>>,
    /// Bytes of answers kept (estimated by [`HeapSize`]).
    bytes: AtomicU64,
}

impl CachedRegistry {
    /// Wraps `inner`.
    pub fn new(inner: SharedRegistry) -> Self {
        CachedRegistry {
            inner,
            models: Default::default(),
            versions: Default::default(),
            version: Default::default(),
            runs: Default::default(),
            history: Default::default(),
            bytes: AtomicU64::new(0),
        }
    }

    /// Reserves room for an entry of `size` bytes; false when the cache is full.
    fn reserve(&self, size: u64) -> bool {
        self.bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                let total = b.saturating_add(size);
                (total <= MAX_CACHE_BYTES).then_some(total)
            })
            .is_ok()
    }

    /// Fetches every run in `run_ids` that is not cached yet, in as few
    /// requests as the backend allows.
    pub async fn prefetch_runs(&self, run_ids: &[String]) -> Result<()> {
        let missing: Vec<String> = {
            let cache = self.runs.lock().map_err(poisoned)?;
            let mut seen = std::collections::HashSet::new();
            run_ids
                .iter()
                .filter(|id| !cache.contains_key(*id) && seen.insert(id.as_str()))
                .cloned()
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let runs = self.inner.runs(&missing).await?;
        let mut cache = self.runs.lock().map_err(poisoned)?;
        for run in runs {
            if self.reserve(run.heap_size() + run.run_id.heap_size()) {
                cache.insert(run.run_id.clone(), Ok(run));
            }
        }
        Ok(())
    }

    /// Seeds the cache with versions already fetched (e.g. by a search), so
    /// gates reading them by number cost no request.
    pub fn seed_versions(&self, versions: &[ModelVersion]) {
        if let Ok(mut cache) = self.version.lock() {
            for v in versions {
                let key = version_key(&v.name, v.version);
                if !cache.contains_key(&key) && self.reserve(v.heap_size() + key.heap_size()) {
                    cache.insert(key, Ok(v.clone()));
                }
            }
        }
    }

    async fn cached<T: Clone + HeapSize>(
        &self,
        slot: &Slot<T>,
        key: String,
        fetch: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        if let Some(hit) = slot.lock().map_err(poisoned)?.get(&key) {
            return hit.clone();
        }
        let answer = fetch.await;
        if matches!(answer, Ok(_) | Err(RegistryError::NotFound(_)))
            && self.reserve(answer.heap_size() + key.heap_size())
        {
            slot.lock().map_err(poisoned)?.insert(key, answer.clone());
        }
        answer
    }
}

fn poisoned<T>(_: T) -> RegistryError {
    RegistryError::Unavailable("registry cache poisoned".into())
}

fn version_key(name: &str, version: u64) -> String {
    format!("{name}\u{0}{version}")
}

#[async_trait]
impl Registry for CachedRegistry {
    fn uri(&self) -> &str {
        self.inner.uri()
    }

    async fn registered_model(&self, name: &str) -> Result<RegisteredModel> {
        self.cached(
            &self.models,
            name.to_string(),
            self.inner.registered_model(name),
        )
        .await
    }

    async fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        let versions = self
            .cached(
                &self.versions,
                name.to_string(),
                self.inner.model_versions(name),
            )
            .await?;
        self.seed_versions(&versions);
        Ok(versions)
    }

    async fn model_version(&self, name: &str, version: u64) -> Result<ModelVersion> {
        self.cached(
            &self.version,
            version_key(name, version),
            self.inner.model_version(name, version),
        )
        .await
    }

    async fn model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        let key = format!("{name}\u{0}@{alias}");
        let mv = self
            .cached(
                &self.version,
                key,
                self.inner.model_version_by_alias(name, alias),
            )
            .await?;
        self.seed_versions(std::slice::from_ref(&mv));
        Ok(mv)
    }

    async fn run(&self, run_id: &str) -> Result<Run> {
        self.cached(&self.runs, run_id.to_string(), self.inner.run(run_id))
            .await
    }

    async fn runs(&self, run_ids: &[String]) -> Result<Vec<Run>> {
        self.prefetch_runs(run_ids).await?;
        let mut out = Vec::new();
        for id in run_ids {
            match self.run(id).await {
                Ok(r) => out.push(r),
                Err(RegistryError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>> {
        self.cached(
            &self.history,
            format!("{run_id}\u{0}{key}"),
            self.inner.metric_history(run_id, key),
        )
        .await
    }
}
