//! MLflow's own SQLite store (`mlflow.db`), opened read-only and read directly.
//!
//! The queries mirror what MLflow's SQLAlchemy store returns: soft-deleted
//! model versions (`Deleted_Internal`) are invisible, NaN metrics are stored
//! as 0 with `is_nan`, and a run's metric is the latest point by (step,
//! timestamp, value). MLflow 3.x databases scope the registry by `workspace`;
//! older ones have no such column, and both are read.
//!
//! Reads that serve a whole sweep are batched: every version of a model
//! with its aliases and tags in three queries, any number of runs in four
//! (the ids passed as one JSON array). Each read takes a read-only
//! connection of its own from a small pool, so judgements on different
//! worker threads do not wait for one another, and the batch reads run
//! off the async worker threads.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, params};

use super::artifacts::{self, ArtifactOwner};
use super::{
    KeyValue, LoggedModel, Metric, MetricPoint, ModelMetric, ModelVersion, RegisteredModel,
    Registry, RegistryError, Result, Run, latest_point,
};
use crate::error::HintExt as _;

/// Read-only connections kept for reuse (one per thread reading at once).
const POOL_SIZE: usize = 8;

/// SQLite page cache per connection, in KiB.
const CACHE_KIB: i64 = 256;

/// A registry read from an MLflow SQLite database.
pub struct SqliteRegistry {
    uri: String,
    path: PathBuf,
    /// Idle connections; a read takes one (or opens one) and gives it back.
    pool: Mutex<Vec<Connection>>,
    /// `Some(name)` when the schema has workspaces.
    workspace: Option<String>,
    /// True when the schema has MLflow 3's `logged_models*` tables.
    logged_models: bool,
}

impl SqliteRegistry {
    /// The newest `limit` versions of `name` (all: `usize::MAX`), newest
    /// first.
    async fn versions_upto(&self, name: &str, limit: usize) -> Result<Vec<ModelVersion>> {
        let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
        let (exists, versions) = self.with_conn_blocking(|conn, ws| {
            let sql = format!(
                "SELECT name, version, run_id, status, current_stage, source, description,
                        creation_time, last_updated_time
                 FROM model_versions mv
                 WHERE mv.name = :name
                   AND (mv.current_stage IS NULL OR mv.current_stage != 'Deleted_Internal')
                   AND {}
                 ORDER BY mv.version DESC
                 LIMIT :limit",
                self.ws_clause("mv")
            );
            let mut versions = conn
                .prepare(&sql)?
                .query_map(
                    rusqlite::named_params! {":name": name, ":ws": ws, ":limit": limit_sql},
                    read_version,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            self.decorate_all(conn, ws, name, &mut versions)?;
            let exists = !versions.is_empty() || self.model_exists(conn, ws, name)?;
            Ok((exists, versions))
        })?;
        if !exists {
            return Err(not_found_model(name));
        }
        Ok(versions)
    }

    /// Opens `path` read-only; `uri` is what reports and child processes see.
    pub fn open(uri: &str, path: &Path) -> anyhow::Result<Self> {
        let conn = connect(path)
            .with_context(|| format!("failed to open MLflow database `{}`", path.display()))
            .hint("check the path in MLFLOW_TRACKING_URI / --tracking-uri")?;
        let has_table = |name: &str| -> rusqlite::Result<bool> {
            conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
        };
        let is_mlflow = has_table("model_versions")
            .and_then(|a| Ok(a && has_table("runs")? && has_table("metrics")?))
            .with_context(|| format!("`{}` is not a readable SQLite database", path.display()))
            .hint("point the tracking URI at the `mlflow.db` MLflow created")?;
        if !is_mlflow {
            return Err(anyhow::anyhow!(
                "`{}` is not an MLflow database (no `model_versions`, `runs` and `metrics` tables)",
                path.display()
            ))
            .hint("point the tracking URI at the `mlflow.db` MLflow created");
        }
        let has_workspace: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('model_versions') WHERE name = 'workspace'")?
            .exists([])?;
        let workspace = has_workspace.then(workspace_name);
        // A database MLflow 2 wrote has no LoggedModels: none are found.
        let logged_models = ["logged_models", "logged_model_metrics"]
            .into_iter()
            .chain(["logged_model_params", "logged_model_tags"])
            .try_fold(true, |all, t| {
                Ok::<_, rusqlite::Error>(all && has_table(t)?)
            })
            .with_context(|| format!("`{}` is not a readable SQLite database", path.display()))?;
        Ok(SqliteRegistry {
            uri: uri.to_string(),
            path: path.to_path_buf(),
            pool: Mutex::new(vec![conn]),
            workspace,
            logged_models,
        })
    }

    /// Runs `f` on a pooled connection.
    fn with_conn<T>(&self, f: impl FnOnce(&Connection, &str) -> rusqlite::Result<T>) -> Result<T> {
        let idle = self
            .pool
            .lock()
            .map_err(|_| RegistryError::Unavailable("database pool poisoned".into()))?
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => connect(&self.path).map_err(|e| self.error(e))?,
        };
        // Without workspaces every row matches the always-true `?` = `?`.
        let ws = self.workspace.as_deref().unwrap_or("");
        let out = f(&conn, ws).map_err(|e| self.error(e));
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < POOL_SIZE
        {
            pool.push(conn);
        }
        out
    }

    /// [`with_conn`](Self::with_conn) for a read that may take a while (a
    /// sweep's batch): off the async worker thread when there are others
    /// to carry on.
    fn with_conn_blocking<T>(
        &self,
        f: impl FnOnce(&Connection, &str) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread {
            tokio::task::block_in_place(|| self.with_conn(f))
        } else {
            self.with_conn(f)
        }
    }

    /// The local artifact root of `owner`: a LoggedModel's
    /// `artifact_location`, a run's `artifact_uri`, as MLflow wrote them.
    fn artifact_root(&self, owner: &ArtifactOwner) -> Result<std::path::PathBuf> {
        let (sql, missing) = match owner {
            ArtifactOwner::LoggedModel(_) if !self.logged_models => {
                return Err(not_found_logged_model(owner.id()));
            }
            ArtifactOwner::LoggedModel(id) => (
                "SELECT artifact_location FROM logged_models WHERE model_id = ?1
                   AND (lifecycle_stage IS NULL OR lifecycle_stage != 'deleted')",
                not_found_logged_model(id),
            ),
            // As `get-run` (and MLflow's server) reads it: deleted or not.
            ArtifactOwner::Run(id) => (
                "SELECT artifact_uri FROM runs WHERE run_uuid = ?1",
                RegistryError::NotFound(format!("Run '{id}' not found")),
            ),
        };
        let uri: Option<Option<String>> = self.with_conn(|conn, _| {
            conn.prepare_cached(sql)?
                .query_row([owner.id()], |r| r.get(0))
                .optional()
        })?;
        let Some(Some(uri)) = uri else {
            return Err(missing);
        };
        match artifacts::locate(&uri, owner)? {
            artifacts::Location::Local(root) => Ok(root),
            // MLflow resolves a relative root against its working directory;
            // the database's directory is where a store moved with its
            // `mlruns/` (a committed example) still finds it.
            artifacts::Location::Relative(rel) => Ok(self
                .path
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join(rel)),
            artifacts::Location::Proxied(_) => Err(RegistryError::Unavailable(format!(
                "the artifacts of {} are served by an MLflow server (`{uri}`), which the embedded store cannot read; hint: point --tracking-uri at that server",
                owner.describe()
            ))),
        }
    }

    /// A database error as a registry error: a value of the wrong type or a
    /// missing field is [`RegistryError::Invalid`] (modelgate cannot
    /// decide on data it does not understand); anything else means the
    /// database could not be read.
    fn error(&self, e: rusqlite::Error) -> RegistryError {
        let db = self.path.display();
        match e {
            rusqlite::Error::FromSqlConversionFailure(_, _, inner)
                if inner.downcast_ref::<Malformed>().is_some() =>
            {
                RegistryError::Invalid(format!("MLflow database `{db}`: {inner}"))
            }
            rusqlite::Error::InvalidColumnType(_, name, ty) => RegistryError::Invalid(format!(
                "MLflow database `{db}`: column `{name}` holds {ty}, which is not what MLflow writes there"
            )),
            rusqlite::Error::IntegralValueOutOfRange(_, n) => RegistryError::Invalid(format!(
                "MLflow database `{db}`: the value {n} is out of range"
            )),
            other => RegistryError::Unavailable(format!(
                "failed to read MLflow database `{db}`: {other}"
            )),
        }
    }

    fn ws_clause(&self, table: &str) -> String {
        match self.workspace {
            Some(_) => format!("{table}.workspace = :ws"),
            None => "(:ws = :ws)".to_string(),
        }
    }

    fn version_row(
        &self,
        conn: &Connection,
        ws: &str,
        name: &str,
        version: u64,
    ) -> rusqlite::Result<Option<ModelVersion>> {
        let sql = format!(
            "SELECT name, version, run_id, status, current_stage, source, description,
                    creation_time, last_updated_time
             FROM model_versions mv
             WHERE mv.name = :name AND mv.version = :version
               AND (mv.current_stage IS NULL OR mv.current_stage != 'Deleted_Internal')
               AND {}",
            self.ws_clause("mv")
        );
        let mv = conn
            .query_row(
                &sql,
                rusqlite::named_params! {":name": name, ":version": version as i64, ":ws": ws},
                read_version,
            )
            .optional()?;
        let Some(mut mv) = mv else { return Ok(None) };
        self.decorate(conn, ws, &mut mv)?;
        Ok(Some(mv))
    }

    fn decorate(&self, conn: &Connection, ws: &str, mv: &mut ModelVersion) -> rusqlite::Result<()> {
        let sql = format!(
            "SELECT alias FROM registered_model_aliases a
             WHERE a.name = :name AND a.version = :version AND {} ORDER BY alias",
            self.ws_clause("a")
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        mv.aliases = stmt
            .query_map(
                rusqlite::named_params! {":name": mv.name, ":version": mv.version as i64, ":ws": ws},
                |r| r.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?;
        let sql = format!(
            "SELECT key, value FROM model_version_tags t
             WHERE t.name = :name AND t.version = :version AND {} ORDER BY key",
            self.ws_clause("t")
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        mv.tags = stmt
            .query_map(
                rusqlite::named_params! {":name": mv.name, ":version": mv.version as i64, ":ws": ws},
                |r| {
                    Ok(KeyValue {
                        key: r.get(0)?,
                        value: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    })
                },
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok(())
    }

    /// [`decorate`](Self::decorate) for every version of model `name` at
    /// once: two queries, whatever the number of versions.
    fn decorate_all(
        &self,
        conn: &Connection,
        ws: &str,
        name: &str,
        versions: &mut [ModelVersion],
    ) -> rusqlite::Result<()> {
        let index: std::collections::HashMap<u64, usize> = versions
            .iter()
            .enumerate()
            .map(|(i, v)| (v.version, i))
            .collect();
        let sql = format!(
            "SELECT version, alias FROM registered_model_aliases a
             WHERE a.name = :name AND {} ORDER BY alias",
            self.ws_clause("a")
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::named_params! {":name": name, ":ws": ws})?;
        while let Some(r) = rows.next()? {
            if let Some(&i) = index.get(&version_number(r, 0, "an alias")?) {
                versions[i].aliases.push(r.get(1)?);
            }
        }
        let sql = format!(
            "SELECT version, key, value FROM model_version_tags t
             WHERE t.name = :name AND {} ORDER BY key",
            self.ws_clause("t")
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::named_params! {":name": name, ":ws": ws})?;
        while let Some(r) = rows.next()? {
            if let Some(&i) = index.get(&version_number(r, 0, "a version tag")?) {
                versions[i].tags.push(KeyValue {
                    key: r.get(1)?,
                    value: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                });
            }
        }
        Ok(())
    }

    fn model_exists(&self, conn: &Connection, ws: &str, name: &str) -> rusqlite::Result<bool> {
        let sql = format!(
            "SELECT 1 FROM registered_models r WHERE r.name = :name AND {}",
            self.ws_clause("r")
        );
        conn.prepare(&sql)?
            .exists(rusqlite::named_params! {":name": name, ":ws": ws})
    }
}

/// A read-only connection to `path`.
/// Runs filesystem work off the async worker thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(RegistryError::Unavailable(format!(
            "an artifact read failed: {e}"
        )))
    })
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Reads are batched scans, each row read once: a page cache of
    // CACHE_KIB per connection (SQLite's default is 2 MiB) holds the
    // indexes' upper pages, and the OS's cache does the rest.
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    Ok(conn)
}

/// The MLflow workspace this process works in: `MLFLOW_WORKSPACE`, as
/// MLflow reads it, else `default`.
pub(crate) fn workspace_name() -> String {
    std::env::var("MLFLOW_WORKSPACE")
        .ok()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

/// A row that lacks a value modelgate relies on.
#[derive(Debug)]
struct Malformed(String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Malformed {}

fn malformed(col: usize, ty: rusqlite::types::Type, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, ty, Box::new(Malformed(msg)))
}

/// A version number: a positive whole number, as MLflow numbers versions.
fn version_number(r: &rusqlite::Row<'_>, col: usize, what: &str) -> rusqlite::Result<u64> {
    let n: i64 = r.get(col)?;
    u64::try_from(n).ok().filter(|&v| v > 0).ok_or_else(|| {
        malformed(
            col,
            rusqlite::types::Type::Integer,
            format!("{what}: `version` is {n}, not a version number"),
        )
    })
}

fn read_version(r: &rusqlite::Row<'_>) -> rusqlite::Result<ModelVersion> {
    use rusqlite::types::ValueRef;
    let name: String = r.get(0)?;
    let version = version_number(r, 1, &format!("model version `{name}`"))?;
    // A version whose status is not a string cannot be told READY: it is
    // not judged (MLflow always writes one).
    let status = match r.get_ref(3)? {
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        other => {
            return Err(malformed(
                3,
                other.data_type(),
                format!(
                    "model version `{name}` {version}: field `status` is {}, expected a string",
                    match other.data_type() {
                        rusqlite::types::Type::Null => "null".to_string(),
                        t => format!("of type {t}"),
                    }
                ),
            ));
        }
    };
    let source: Option<String> = r.get(5)?;
    Ok(ModelVersion {
        name,
        version,
        run_id: r.get::<_, Option<String>>(2)?.filter(|s| !s.is_empty()),
        // MLflow's SQL store keeps no model id: it is the source's, as
        // MLflow's server derives it.
        model_id: super::model_id_of(None, source.as_deref()),
        status,
        current_stage: r.get(4)?,
        source,
        description: r.get::<_, Option<String>>(6)?.filter(|s| !s.is_empty()),
        creation_timestamp: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
        last_updated_timestamp: r.get::<_, Option<i64>>(8)?.unwrap_or(0),
        aliases: Vec::new(),
        tags: Vec::new(),
    })
}

fn not_found_model(name: &str) -> RegistryError {
    RegistryError::NotFound(format!("Registered Model with name={name} not found"))
}

/// As MLflow words a missing LoggedModel.
fn not_found_logged_model(model_id: &str) -> RegistryError {
    RegistryError::NotFound(format!("Logged model with ID '{model_id}' not found."))
}

fn read_run(conn: &Connection, run_id: &str) -> rusqlite::Result<Option<Run>> {
    Ok(read_runs(conn, &[run_id.to_string()])?.pop())
}

/// The runs among `run_ids` that exist, in the order asked, each with its
/// latest metrics and its params and tags sorted by key: four queries
/// whatever the number of runs (the ids go in as one JSON array).
fn read_runs(conn: &Connection, run_ids: &[String]) -> rusqlite::Result<Vec<Run>> {
    use std::collections::{BTreeMap, HashMap};
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(run_ids).unwrap_or_else(|_| "[]".into());
    let mut runs: HashMap<String, Run> = HashMap::with_capacity(run_ids.len());
    let mut stmt = conn.prepare_cached(
        "SELECT run_uuid, experiment_id, name, status, start_time, end_time
         FROM runs WHERE run_uuid IN (SELECT value FROM json_each(?1))",
    )?;
    let mut rows = stmt.query([&ids])?;
    while let Some(r) = rows.next()? {
        let run = Run {
            run_id: r.get(0)?,
            experiment_id: r
                .get::<_, Option<i64>>(1)?
                .map(|e| e.to_string())
                .unwrap_or_default(),
            run_name: r.get(2)?,
            status: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
            start_time: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
            end_time: r.get(5)?,
            metrics: Vec::new(),
            params: Vec::new(),
            tags: Vec::new(),
        };
        runs.insert(run.run_id.clone(), run);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics
         WHERE run_uuid IN (SELECT value FROM json_each(?1))",
    )?;
    let mut points: HashMap<String, BTreeMap<String, Vec<MetricPoint>>> = HashMap::new();
    let mut rows = stmt.query([&ids])?;
    while let Some(r) = rows.next()? {
        let run: String = r.get(0)?;
        let p = point(r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
        points
            .entry(run)
            .or_default()
            .entry(r.get(1)?)
            .or_default()
            .push(p);
    }
    for (run, by_key) in points {
        if let Some(run) = runs.get_mut(&run) {
            run.metrics = by_key
                .into_iter()
                .filter_map(|(key, pts)| latest_point(pts).map(|point| Metric { key, point }))
                .collect();
        }
    }
    // Sorted by key run by run below, not by SQLite: its ORDER BY would
    // sort every row of the window in a temporary B-tree.
    for (table, params) in [("params", true), ("tags", false)] {
        let sql = format!(
            "SELECT run_uuid, key, value FROM {table}
             WHERE run_uuid IN (SELECT value FROM json_each(?1))"
        );
        for_each_key_value(conn, &sql, &ids, |id, kv| {
            if let Some(run) = runs.get_mut(&id) {
                if params {
                    &mut run.params
                } else {
                    &mut run.tags
                }
                .push(kv);
            }
        })?;
    }
    for run in runs.values_mut() {
        // Byte order, as SQLite's BINARY collation (keys are unique per run).
        run.params.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        run.tags.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    }
    // In the order asked, once each.
    Ok(run_ids.iter().filter_map(|id| runs.remove(id)).collect())
}

/// The LoggedModels among `ids` that exist and are not deleted, in the
/// order asked, each with every metric value (NaN where MLflow lost it,
/// see below), params and tags: four queries whatever the number of
/// models, as MLflow's `SqlAlchemyStore.get_logged_model` reads them.
fn read_logged_models(conn: &Connection, ids: &[String]) -> rusqlite::Result<Vec<LoggedModel>> {
    use std::collections::HashMap;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let mut models: HashMap<String, LoggedModel> = HashMap::with_capacity(ids.len());
    let mut stmt = conn.prepare_cached(
        "SELECT model_id, experiment_id, name, status, model_type, source_run_id,
                creation_timestamp_ms, last_updated_timestamp_ms
         FROM logged_models
         WHERE model_id IN (SELECT value FROM json_each(?1))
           AND (lifecycle_stage IS NULL OR lifecycle_stage != 'deleted')",
    )?;
    let mut rows = stmt.query([&json])?;
    while let Some(r) = rows.next()? {
        let model_id: String = r.get(0)?;
        let status = logged_model_status(r.get(3)?).ok_or_else(|| {
            malformed(
                3,
                rusqlite::types::Type::Integer,
                format!("LoggedModel `{model_id}`: `status` is not one MLflow writes"),
            )
        })?;
        let model = LoggedModel {
            experiment_id: r
                .get::<_, Option<i64>>(1)?
                .map(|e| e.to_string())
                .unwrap_or_default(),
            name: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            status: status.to_string(),
            model_type: r.get::<_, Option<String>>(4)?.filter(|s| !s.is_empty()),
            source_run_id: r.get::<_, Option<String>>(5)?.filter(|s| !s.is_empty()),
            creation_timestamp: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
            last_updated_timestamp: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
            model_id: model_id.clone(),
            metrics: Vec::new(),
            params: Vec::new(),
            tags: Vec::new(),
        };
        models.insert(model_id, model);
    }
    if models.is_empty() {
        return Ok(Vec::new());
    }
    read_logged_model_metrics(conn, &json, &mut models)?;
    for (table, params) in [("logged_model_params", true), ("logged_model_tags", false)] {
        let (k, v) = if params {
            ("param_key", "param_value")
        } else {
            ("tag_key", "tag_value")
        };
        let sql = format!(
            "SELECT model_id, {k}, {v} FROM {table}
             WHERE model_id IN (SELECT value FROM json_each(?1))"
        );
        for_each_key_value(conn, &sql, &json, |id, kv| {
            if let Some(model) = models.get_mut(&id) {
                if params {
                    &mut model.params
                } else {
                    &mut model.tags
                }
                .push(kv);
            }
        })?;
    }
    let mut out: Vec<LoggedModel> = ids.iter().filter_map(|id| models.remove(id)).collect();
    for m in &mut out {
        m.normalize();
    }
    Ok(out)
}

/// The metrics of `models` (whose ids are the JSON array `json`).
fn read_logged_model_metrics(
    conn: &Connection,
    json: &str,
    models: &mut std::collections::HashMap<String, LoggedModel>,
) -> rusqlite::Result<()> {
    // MLflow keeps a LoggedModel's NaN as 0 (the table has no `is_nan`),
    // but the run that logged it has the truth: a 0 whose run logged NaN
    // at the same step and time is NaN, never a 0 that could pass.
    let mut stmt = conn.prepare_cached(
        "SELECT m.model_id, m.metric_name, m.metric_value, m.metric_timestamp_ms, m.metric_step,
                m.dataset_name, m.dataset_digest, m.run_id,
                m.metric_value = 0 AND EXISTS (
                    SELECT 1 FROM metrics r
                    WHERE r.key = m.metric_name AND r.timestamp = m.metric_timestamp_ms
                      AND r.step = m.metric_step AND r.run_uuid = m.run_id AND r.is_nan)
         FROM logged_model_metrics m
         WHERE m.model_id IN (SELECT value FROM json_each(?1))",
    )?;
    let mut rows = stmt.query([json])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let Some(model) = models.get_mut(&id) else {
            continue;
        };
        // A value MLflow did not keep is no number to judge by.
        let value = r.get::<_, Option<f64>>(2)?.unwrap_or(f64::NAN);
        let was_nan = r.get::<_, Option<bool>>(8)?.unwrap_or(false);
        model.metrics.push(ModelMetric {
            key: r.get(1)?,
            point: point(
                value,
                r.get::<_, Option<i64>>(3)?.unwrap_or(0),
                r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                was_nan,
            ),
            dataset_name: r.get::<_, Option<String>>(5)?.filter(|s| !s.is_empty()),
            dataset_digest: r.get::<_, Option<String>>(6)?.filter(|s| !s.is_empty()),
            run_id: r.get::<_, Option<String>>(7)?.filter(|s| !s.is_empty()),
        });
    }
    Ok(())
}

/// Each `(id, key, value)` row `sql` selects for the JSON array of ids
/// `json` (`?1`), handed to `put`: the params and tags of runs and
/// LoggedModels.
fn for_each_key_value(
    conn: &Connection,
    sql: &str,
    json: &str,
    mut put: impl FnMut(String, KeyValue),
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([json])?;
    while let Some(r) = rows.next()? {
        put(
            r.get(0)?,
            KeyValue {
                key: r.get(1)?,
                value: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            },
        );
    }
    Ok(())
}

/// A LoggedModel's status as MLflow names it, from the number its SQL
/// store keeps (`LoggedModelStatus.from_int`).
fn logged_model_status(n: Option<i64>) -> Option<&'static str> {
    Some(match n? {
        0 => "UNSPECIFIED",
        1 => "PENDING",
        2 => "READY",
        3 => "FAILED",
        _ => return None,
    })
}

fn point(value: f64, timestamp: i64, step: i64, is_nan: bool) -> MetricPoint {
    MetricPoint {
        value: if is_nan { f64::NAN } else { value },
        timestamp,
        step,
    }
}

#[async_trait]
impl Registry for SqliteRegistry {
    fn uri(&self) -> &str {
        &self.uri
    }

    async fn registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let found = self.with_conn(|conn, ws| {
            let sql = format!(
                "SELECT name, description FROM registered_models r WHERE r.name = :name AND {}",
                self.ws_clause("r")
            );
            let Some((name, description)) = conn
                .query_row(
                    &sql,
                    rusqlite::named_params! {":name": name, ":ws": ws},
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)),
                )
                .optional()?
            else {
                return Ok(None);
            };
            let sql = format!(
                "SELECT alias, version FROM registered_model_aliases a WHERE a.name = :name AND {} ORDER BY alias",
                self.ws_clause("a")
            );
            let aliases = conn
                .prepare(&sql)?
                .query_map(rusqlite::named_params! {":name": name, ":ws": ws}, |r| {
                    Ok((r.get::<_, String>(0)?, version_number(r, 1, "an alias")?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let sql = format!(
                "SELECT key, value FROM registered_model_tags t WHERE t.name = :name AND {} ORDER BY key",
                self.ws_clause("t")
            );
            let tags = conn
                .prepare(&sql)?
                .query_map(rusqlite::named_params! {":name": name, ":ws": ws}, |r| {
                    Ok(KeyValue {
                        key: r.get(0)?,
                        value: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(RegisteredModel {
                name,
                description: description.filter(|d| !d.is_empty()),
                aliases,
                tags,
            }))
        })?;
        found.ok_or_else(|| not_found_model(name))
    }

    async fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        self.versions_upto(name, usize::MAX).await
    }

    async fn latest_versions(&self, name: &str, n: usize) -> Result<Vec<ModelVersion>> {
        self.versions_upto(name, n).await
    }

    async fn model_version(&self, name: &str, version: u64) -> Result<ModelVersion> {
        let (exists, mv) = self.with_conn(|conn, ws| {
            let mv = self.version_row(conn, ws, name, version)?;
            let exists = mv.is_some() || self.model_exists(conn, ws, name)?;
            Ok((exists, mv))
        })?;
        match (exists, mv) {
            (_, Some(mv)) => Ok(mv),
            (false, None) => Err(not_found_model(name)),
            (true, None) => Err(RegistryError::NotFound(format!(
                "Model Version (name={name}, version={version}) not found"
            ))),
        }
    }

    async fn model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        let (exists, mv) = self.with_conn(|conn, ws| {
            let sql = format!(
                "SELECT version FROM registered_model_aliases a
                 WHERE a.name = :name AND a.alias = :alias AND {}",
                self.ws_clause("a")
            );
            let version: Option<i64> = conn
                .query_row(
                    &sql,
                    rusqlite::named_params! {":name": name, ":alias": alias, ":ws": ws},
                    |r| r.get(0),
                )
                .optional()?;
            let mv = match version {
                Some(v) => self.version_row(conn, ws, name, v.max(0) as u64)?,
                None => None,
            };
            let exists = mv.is_some() || self.model_exists(conn, ws, name)?;
            Ok((exists, mv))
        })?;
        match (exists, mv) {
            (_, Some(mv)) => Ok(mv),
            (false, None) => Err(not_found_model(name)),
            (true, None) => Err(RegistryError::NotFound(format!(
                "Registered model alias {alias} not found."
            ))),
        }
    }

    async fn run(&self, run_id: &str) -> Result<Run> {
        self.with_conn(|conn, _| read_run(conn, run_id))?
            .ok_or_else(|| RegistryError::NotFound(format!("Run '{run_id}' not found")))
    }

    async fn runs(&self, run_ids: &[String]) -> Result<Vec<Run>> {
        self.with_conn_blocking(|conn, _| read_runs(conn, run_ids))
    }

    async fn logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        let ids = [model_id.to_string()];
        let found = if self.logged_models {
            self.with_conn(|conn, _| read_logged_models(conn, &ids))?
                .pop()
        } else {
            None
        };
        found.ok_or_else(|| not_found_logged_model(model_id))
    }

    async fn logged_models(&self, model_ids: &[String]) -> Result<Vec<LoggedModel>> {
        if !self.logged_models {
            return Ok(Vec::new());
        }
        self.with_conn_blocking(|conn, _| read_logged_models(conn, model_ids))
    }

    async fn list_artifacts(
        &self,
        owner: &ArtifactOwner,
        path: &str,
    ) -> Result<Vec<artifacts::ArtifactEntry>> {
        artifacts::check_path(path, true)?;
        let root = self.artifact_root(owner)?;
        let owner = owner.clone();
        let path = path.to_string();
        blocking(move || artifacts::list_local(&root, &owner, &path)).await
    }

    async fn read_artifact(
        &self,
        owner: &ArtifactOwner,
        path: &str,
        max_bytes: u64,
    ) -> Result<artifacts::ArtifactData> {
        artifacts::check_path(path, false)?;
        let root = self.artifact_root(owner)?;
        let owner = owner.clone();
        let path = path.to_string();
        blocking(move || artifacts::read_local(&root, &owner, &path, max_bytes)).await
    }

    async fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>> {
        // As MLflow's server does, an unknown run has an empty history.
        self.with_conn(|conn, _| {
            conn.prepare_cached(
                "SELECT value, timestamp, step, is_nan FROM metrics
                 WHERE run_uuid = ?1 AND key = ?2 ORDER BY step, timestamp, value",
            )?
            .query_map(params![run_id, key], |r| {
                Ok(point(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
    }
}
