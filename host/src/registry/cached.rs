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

use super::artifacts;
use super::{
    HeapSize, LoggedModel, MetricPoint, ModelVersion, RegisteredModel, Registry, RegistryError,
    Result, Run, SharedRegistry,
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
    logged: Slot<LoggedModel>,
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
            logged: Default::default(),
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

    /// Gives `size` bytes back to the budget [`reserve`](Self::reserve)
    /// took them from.
    fn release(&self, size: u64) {
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(size))
            });
    }

    /// Fetches every run in `run_ids` that is not cached yet, in as few
    /// requests as the backend allows.
    pub async fn prefetch_runs(&self, run_ids: &[String]) -> Result<()> {
        let Some(missing) = self.missing(&self.runs, run_ids)? else {
            return Ok(());
        };
        let runs = self.inner.runs(&missing).await?;
        self.keep(
            &self.runs,
            &missing,
            runs,
            |r| &r.run_id,
            |id| RegistryError::NotFound(format!("Run '{id}' not found")),
        )
    }

    /// Fetches every LoggedModel in `model_ids` that is not cached yet, in
    /// as few requests as the backend allows.
    pub async fn prefetch_logged_models(&self, model_ids: &[String]) -> Result<()> {
        let Some(missing) = self.missing(&self.logged, model_ids)? else {
            return Ok(());
        };
        let models = self.inner.logged_models(&missing).await?;
        self.keep(
            &self.logged,
            &missing,
            models,
            |m| &m.model_id,
            |id| RegistryError::NotFound(format!("Logged model with ID '{id}' not found.")),
        )
    }

    /// The ids among `ids` not in `slot`, once each; `None` when all are.
    fn missing<T>(&self, slot: &Slot<T>, ids: &[String]) -> Result<Option<Vec<String>>> {
        let cache = slot.lock().map_err(poisoned)?;
        let mut seen = std::collections::HashSet::new();
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !cache.contains_key(*id) && seen.insert(id.as_str()))
            .cloned()
            .collect();
        Ok(Some(missing).filter(|m| !m.is_empty()))
    }

    /// Keeps the `found` answers of a batch read of `asked`, and a "not
    /// found" for each id asked and not found, so that judging it asks no
    /// more: a batch leaves out what does not exist.
    fn keep<T: HeapSize>(
        &self,
        slot: &Slot<T>,
        asked: &[String],
        found: Vec<T>,
        id: impl Fn(&T) -> &String,
        not_found: impl Fn(&str) -> RegistryError,
    ) -> Result<()> {
        let mut cache = slot.lock().map_err(poisoned)?;
        for item in found {
            let key = id(&item).clone();
            if self.reserve(item.heap_size() + key.heap_size()) {
                cache.insert(key, Ok(item));
            }
        }
        for key in asked {
            if !cache.contains_key(key) {
                let gone = Err(not_found(key));
                if self.reserve(gone.heap_size() + key.heap_size()) {
                    cache.insert(key.clone(), gone);
                }
            }
        }
        Ok(())
    }

    /// Drops the kept runs `run_ids` and gives their bytes back: a sweep
    /// holds the runs of the versions being judged, not of all of them.
    /// A run asked for again is read again.
    pub fn forget_runs(&self, run_ids: &[String]) {
        self.forget(&self.runs, run_ids);
    }

    /// Drops the kept LoggedModels `model_ids`, as
    /// [`forget_runs`](Self::forget_runs) does runs.
    pub fn forget_logged_models(&self, model_ids: &[String]) {
        self.forget(&self.logged, model_ids);
    }

    fn forget<T: HeapSize>(&self, slot: &Slot<T>, ids: &[String]) {
        let Ok(mut cache) = slot.lock() else {
            return;
        };
        for id in ids {
            if let Some(answer) = cache.remove(id) {
                self.release(answer.heap_size() + id.heap_size());
            }
        }
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
        Ok(versions)
    }

    async fn model_version(&self, name: &str, version: u64) -> Result<ModelVersion> {
        // A version in a listing already fetched costs no request (and is
        // not kept twice: a sweep's listing can hold many thousands).
        if let Some(listed) = self
            .versions
            .lock()
            .map_err(poisoned)?
            .get(name)
            .and_then(|l| l.as_ref().ok())
            // Listings are newest first.
            .and_then(|l| {
                l.binary_search_by(|v| version.cmp(&v.version))
                    .ok()
                    .map(|i| &l[i])
            })
        {
            return Ok(listed.clone());
        }
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

    async fn logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        self.cached(
            &self.logged,
            model_id.to_string(),
            self.inner.logged_model(model_id),
        )
        .await
    }

    async fn logged_models(&self, model_ids: &[String]) -> Result<Vec<LoggedModel>> {
        self.prefetch_logged_models(model_ids).await?;
        let mut out = Vec::new();
        for id in model_ids {
            match self.logged_model(id).await {
                Ok(m) => out.push(m),
                Err(RegistryError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    // Files are not kept: they may be large, and an evaluation's own
    // tape already answers a repeated read the same.
    async fn list_artifacts(
        &self,
        owner: &artifacts::ArtifactOwner,
        path: &str,
    ) -> Result<Vec<artifacts::ArtifactEntry>> {
        self.inner.list_artifacts(owner, path).await
    }

    async fn read_artifact(
        &self,
        owner: &artifacts::ArtifactOwner,
        path: &str,
        max_bytes: u64,
    ) -> Result<artifacts::ArtifactData> {
        self.inner.read_artifact(owner, path, max_bytes).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A registry of one model with versions 1..=n, and a run for every id,
    /// that counts what it is asked.
    struct Counting {
        n: u64,
        asked: AtomicU64,
    }

    fn version(v: u64) -> ModelVersion {
        ModelVersion {
            name: "m".into(),
            version: v,
            run_id: None,
            model_id: None,
            status: "READY".into(),
            current_stage: None,
            source: None,
            description: None,
            creation_timestamp: 0,
            last_updated_timestamp: 0,
            aliases: Vec::new(),
            tags: Vec::new(),
        }
    }

    #[async_trait]
    impl Registry for Counting {
        fn uri(&self) -> &str {
            "test://"
        }
        async fn registered_model(&self, _: &str) -> Result<RegisteredModel> {
            Err(RegistryError::Unavailable("not here".into()))
        }
        async fn model_versions(&self, _: &str) -> Result<Vec<ModelVersion>> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            Ok((1..=self.n).rev().map(version).collect())
        }
        async fn model_version(&self, _: &str, v: u64) -> Result<ModelVersion> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            if (1..=self.n).contains(&v) {
                Ok(version(v))
            } else {
                Err(RegistryError::NotFound(format!("no version {v}")))
            }
        }
        async fn model_version_by_alias(&self, _: &str, _: &str) -> Result<ModelVersion> {
            Err(RegistryError::Unavailable("not here".into()))
        }
        async fn run(&self, id: &str) -> Result<Run> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            Ok(Run {
                run_id: id.to_string(),
                experiment_id: "0".into(),
                run_name: None,
                status: "FINISHED".into(),
                start_time: 0,
                end_time: None,
                metrics: Vec::new(),
                params: Vec::new(),
                tags: Vec::new(),
            })
        }
        async fn metric_history(&self, _: &str, _: &str) -> Result<Vec<MetricPoint>> {
            Err(RegistryError::Unavailable("not here".into()))
        }
        async fn logged_model(&self, id: &str) -> Result<LoggedModel> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            Err(RegistryError::NotFound(format!("no model {id}")))
        }
        async fn list_artifacts(
            &self,
            _: &artifacts::ArtifactOwner,
            _: &str,
        ) -> Result<Vec<artifacts::ArtifactEntry>> {
            Err(RegistryError::Unavailable("not here".into()))
        }
        async fn read_artifact(
            &self,
            _: &artifacts::ArtifactOwner,
            _: &str,
            _: u64,
        ) -> Result<artifacts::ArtifactData> {
            Err(RegistryError::Unavailable("not here".into()))
        }
    }

    #[tokio::test]
    async fn a_forgotten_run_is_read_again_and_its_bytes_given_back() {
        let inner = Arc::new(Counting {
            n: 0,
            asked: AtomicU64::new(0),
        });
        let cache = CachedRegistry::new(inner.clone());
        let ids: Vec<String> = (0..10).map(|i| format!("run{i}")).collect();
        cache.prefetch_runs(&ids).await.expect("prefetch");
        assert_eq!(inner.asked.load(Ordering::Relaxed), 10);
        let held = cache.bytes.load(Ordering::Relaxed);
        assert!(held > 0);
        // Held: asking costs nothing.
        assert_eq!(cache.run("run3").await.map(|r| r.run_id), Ok("run3".into()));
        assert_eq!(inner.asked.load(Ordering::Relaxed), 10);
        cache.forget_runs(&ids[..5]);
        assert!(cache.bytes.load(Ordering::Relaxed) < held);
        assert_eq!(cache.run("run3").await.map(|r| r.run_id), Ok("run3".into()));
        assert_eq!(cache.run("run7").await.map(|r| r.run_id), Ok("run7".into()));
        assert_eq!(
            inner.asked.load(Ordering::Relaxed),
            11,
            "only the forgotten one is read again"
        );
        cache.forget_runs(&ids);
        assert_eq!(cache.bytes.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_listed_version_costs_no_request() {
        let inner = Arc::new(Counting {
            n: 1000,
            asked: AtomicU64::new(0),
        });
        let cache = CachedRegistry::new(inner.clone());
        assert_eq!(cache.model_versions("m").await.map(|l| l.len()), Ok(1000));
        for v in [1, 500, 999, 1000] {
            assert_eq!(cache.model_version("m", v).await, Ok(version(v)));
        }
        assert_eq!(inner.asked.load(Ordering::Relaxed), 1, "only the listing");
        // One that is not listed is asked for, once, and its answer kept.
        for _ in 0..2 {
            assert!(matches!(
                cache.model_version("m", 1001).await,
                Err(RegistryError::NotFound(_))
            ));
        }
        assert_eq!(inner.asked.load(Ordering::Relaxed), 2);
    }
}
