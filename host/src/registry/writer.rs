//! Writing to the registry: model-version tags and aliases, and nothing
//! else. Kept apart from the read-only [`Registry`](super::Registry) trait
//! that plugins see: only the host's record step ever holds a writer.
//!
//! Each backend writes what MLflow itself writes: the REST backend calls
//! MLflow's own endpoints (with the same auth, TLS, retry and bounds as
//! reads); the SQLite backend upserts exactly the rows MLflow 3's SQL store
//! upserts (`model_version_tags`, `registered_model_aliases`, with the
//! version's `workspace`; MLflow does not touch `last_updated_time` for
//! either), in one transaction with a busy timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _};

use super::rest::RestRegistry;
use super::{RegistryError, Result, uri::TrackingUri};

/// Longest tag key MLflow accepts.
pub const MAX_TAG_KEY: usize = 250;
/// Longest model-version tag value MLflow accepts.
pub const MAX_TAG_VALUE: usize = 100_000;

/// Write access to a registry: tags on model versions, and aliases.
#[async_trait]
pub trait RegistryWriter: Send + Sync {
    /// Sets the tags of `stages` on version `version` of model `name`,
    /// stage by stage: every tag of a stage is written after every tag of
    /// the stages before it (a reader that sees one sees all of those),
    /// the tags of one stage in any order.
    async fn set_version_tags(
        &self,
        name: &str,
        version: u64,
        stages: &[Vec<(String, String)>],
    ) -> Result<()>;

    /// Points alias `alias` of model `name` at `version`.
    async fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<()>;

    /// Removes alias `alias` of model `name` (no error when it is not set).
    async fn delete_alias(&self, name: &str, alias: &str) -> Result<()>;
}

/// Opens a writer for `uri` (already resolved).
pub fn open(uri: &TrackingUri) -> anyhow::Result<Box<dyn RegistryWriter>> {
    Ok(match uri {
        TrackingUri::Http(url) => Box::new(RestRegistry::new(url)?),
        TrackingUri::Sqlite { path, .. } => Box::new(SqliteWriter::new(path)),
    })
}

/// Checks tags against MLflow's limits before anything is written.
pub fn check_tags(tags: &[(String, String)]) -> Result<()> {
    for (key, value) in tags {
        if key.is_empty() || key.len() > MAX_TAG_KEY {
            return Err(RegistryError::Invalid(format!(
                "tag key `{key}` must be 1 to {MAX_TAG_KEY} characters"
            )));
        }
        if value.len() > MAX_TAG_VALUE {
            return Err(RegistryError::Invalid(format!(
                "the value of tag `{key}` is longer than MLflow's {MAX_TAG_VALUE} characters"
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl RegistryWriter for RestRegistry {
    async fn set_version_tags(
        &self,
        name: &str,
        version: u64,
        stages: &[Vec<(String, String)>],
    ) -> Result<()> {
        for stage in stages {
            check_tags(stage)?;
        }
        // MLflow has no batch call for version tags: one request each, the
        // requests of a stage at once, a stage only after every request of
        // the one before succeeded.
        let set = |key: &String, value: &String| {
            let body = serde_json::json!({
                "name": name, "version": version.to_string(), "key": key, "value": value,
            });
            async move {
                self.call(Method::POST, "model-versions/set-tag", &[], Some(&body))
                    .await
                    .map(drop)
            }
        };
        for stage in stages {
            futures::future::try_join_all(stage.iter().map(|(k, v)| set(k, v))).await?;
        }
        Ok(())
    }

    async fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<()> {
        let body =
            serde_json::json!({"name": name, "alias": alias, "version": version.to_string()});
        self.call(Method::POST, "registered-models/alias", &[], Some(&body))
            .await
            .map(drop)
    }

    async fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        let body = serde_json::json!({"name": name, "alias": alias});
        self.call(Method::DELETE, "registered-models/alias", &[], Some(&body))
            .await
            .map(drop)
    }
}

/// The events modelgate's webhook is created for, as MLflow writes them:
/// new versions, and tags set or deleted (a gate may read them).
const WEBHOOK_EVENTS: [(&str, &str); 3] = [
    ("MODEL_VERSION", "CREATED"),
    ("MODEL_VERSION_TAG", "SET"),
    ("MODEL_VERSION_TAG", "DELETED"),
];

/// At most this many pages of `GET webhooks` are read (100 webhooks each).
const MAX_WEBHOOK_PAGES: usize = 100;

/// What MLflow said of its test delivery (`POST webhooks/{id}/test`).
#[derive(Debug, Clone)]
pub struct WebhookTest {
    /// Whether the receiver answered below 400.
    pub success: bool,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i64>,
    /// MLflow's error message, if it could not deliver.
    pub error: Option<String>,
}

/// [`WEBHOOK_EVENTS`] as MLflow's requests have them.
fn webhook_events() -> serde_json::Value {
    WEBHOOK_EVENTS
        .iter()
        .map(|(entity, action)| serde_json::json!({"entity": entity, "action": action}))
        .collect()
}

impl RestRegistry {
    /// An active webhook that delivers modelgate's events to `url` (and no
    /// others), if there is one (`GET webhooks`): its id, and whether it
    /// delivers all of them (one an earlier release made delivers fewer,
    /// and is brought up to date rather than doubled).
    pub async fn find_webhook(&self, url: &str) -> Result<Option<(String, bool)>> {
        let mut want: Vec<(String, String)> = WEBHOOK_EVENTS
            .iter()
            .map(|(e, a)| ((*e).to_string(), (*a).to_string()))
            .collect();
        want.sort();
        let mut token = String::new();
        // An exact match wins over an older webhook with fewer events.
        let mut older = None;
        for _ in 0..MAX_WEBHOOK_PAGES {
            let mut query = vec![("max_results", "100")];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let answer = self.call(Method::GET, "webhooks", &query, None).await?;
            let hooks = answer.get("webhooks").and_then(|w| w.as_array());
            for w in hooks.into_iter().flatten() {
                let field = |k: &str| w.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                let mut events: Vec<(String, String)> = w
                    .get("events")
                    .and_then(|e| e.as_array())
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        let f = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                        (f("entity").to_string(), f("action").to_string())
                    })
                    .collect();
                events.sort();
                events.dedup();
                let ours = !events.is_empty() && events.iter().all(|e| want.contains(e));
                if field("url") == url && field("status") == "ACTIVE" && ours {
                    let id = field("webhook_id").to_string();
                    if events == want {
                        return Ok(Some((id, true)));
                    }
                    older.get_or_insert((id, false));
                }
            }
            match answer.get("next_page_token").and_then(|t| t.as_str()) {
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => return Ok(older),
            }
        }
        Err(RegistryError::Invalid(format!(
            "more than {MAX_WEBHOOK_PAGES} pages of webhooks"
        )))
    }

    /// Sets the secret of webhook `id` (`PATCH webhooks/{id}`), so that a
    /// reused webhook signs with the secret `serve` verifies now, and with
    /// `all_events` its events to modelgate's.
    pub async fn update_webhook(&self, id: &str, secret: &str, all_events: bool) -> Result<()> {
        let mut body = serde_json::json!({ "secret": secret });
        if all_events {
            body["events"] = webhook_events();
        }
        self.call(Method::PATCH, &format!("webhooks/{id}"), &[], Some(&body))
            .await
            .map(drop)
    }

    /// Asks MLflow to send webhook `id` its test delivery
    /// (`POST webhooks/{id}/test`) and says what the receiver answered.
    pub async fn test_webhook(&self, id: &str) -> Result<WebhookTest> {
        let answer = self
            .call(
                Method::POST,
                &format!("webhooks/{id}/test"),
                &[],
                Some(&serde_json::json!({})),
            )
            .await?;
        let result = answer.get("result").cloned().unwrap_or_default();
        Ok(WebhookTest {
            success: result.get("success").and_then(|v| v.as_bool()) == Some(true),
            status: result.get("response_status").and_then(|v| v.as_i64()),
            error: result
                .get("error_message")
                .and_then(|v| v.as_str())
                .filter(|e| !e.is_empty())
                .map(|e| crate::text::clean_line(e).chars().take(500).collect()),
        })
    }

    /// Creates an active webhook (`POST webhooks`) delivering
    /// `model_version.created`, `model_version_tag.set` and
    /// `model_version_tag.deleted` to `url`, signed
    /// with `secret`; returns its id.
    pub async fn create_webhook(&self, name: &str, url: &str, secret: &str) -> Result<String> {
        let body = serde_json::json!({
            "name": name,
            "url": url,
            "events": webhook_events(),
            "secret": secret,
            "status": "ACTIVE",
        });
        let answer = self
            .call(Method::POST, "webhooks", &[], Some(&body))
            .await?;
        answer
            .get("webhook")
            .and_then(|w| w.get("webhook_id"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                RegistryError::Invalid("the webhook answer has no `webhook.webhook_id`".into())
            })
    }
}

/// Writes to an MLflow SQLite database.
pub struct SqliteWriter {
    path: PathBuf,
}

/// How long a write waits for another writer's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl SqliteWriter {
    /// A writer for the database at `path` (opened per write).
    pub fn new(path: &Path) -> SqliteWriter {
        SqliteWriter {
            path: path.to_path_buf(),
        }
    }

    fn with_tx<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, bool) -> Result<T>,
    ) -> Result<T> {
        let db = self.path.display();
        let fail = |e: rusqlite::Error| {
            RegistryError::Unavailable(format!("failed to write MLflow database `{db}`: {e}"))
        };
        let mut conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(fail)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
        let has_workspace = conn
            .prepare("SELECT 1 FROM pragma_table_info('model_versions') WHERE name = 'workspace'")
            .and_then(|mut s| s.exists([]))
            .map_err(fail)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        let out = f(&tx, has_workspace)?;
        tx.commit().map_err(fail)?;
        Ok(out)
    }

    /// The `workspace` of version `version` of `name` (`None` without
    /// workspaces), or not-found.
    fn version_workspace(
        tx: &rusqlite::Transaction<'_>,
        has_workspace: bool,
        name: &str,
        version: u64,
    ) -> Result<Option<String>> {
        let ws = super::sqlite::workspace_name();
        let sql = if has_workspace {
            "SELECT workspace FROM model_versions WHERE name = ?1 AND version = ?2 AND workspace = ?3
               AND (current_stage IS NULL OR current_stage != 'Deleted_Internal')"
        } else {
            "SELECT NULL FROM model_versions WHERE name = ?1 AND version = ?2 AND (?3 = ?3)
               AND (current_stage IS NULL OR current_stage != 'Deleted_Internal')"
        };
        tx.query_row(sql, rusqlite::params![name, version as i64, ws], |r| {
            r.get::<_, Option<String>>(0)
        })
        .optional()
        .map_err(|e| RegistryError::Unavailable(format!("failed to read the model version: {e}")))?
        .ok_or_else(|| {
            RegistryError::NotFound(format!(
                "Model Version (name={name}, version={version}) not found"
            ))
        })
    }
}

fn write_error(e: rusqlite::Error) -> RegistryError {
    RegistryError::Unavailable(format!("failed to write to the MLflow database: {e}"))
}

#[async_trait]
impl RegistryWriter for SqliteWriter {
    async fn set_version_tags(
        &self,
        name: &str,
        version: u64,
        stages: &[Vec<(String, String)>],
    ) -> Result<()> {
        for stage in stages {
            check_tags(stage)?;
        }
        // One transaction: all of the tags or none.
        self.with_tx(|tx, has_ws| {
            let ws = Self::version_workspace(tx, has_ws, name, version)?;
            for (key, value) in stages.iter().flatten() {
                match &ws {
                    Some(ws) => tx.execute(
                        "INSERT INTO model_version_tags (workspace, key, value, name, version)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (workspace, key, name, version) DO UPDATE SET value = excluded.value",
                        rusqlite::params![ws, key, value, name, version as i64],
                    ),
                    None => tx.execute(
                        "INSERT INTO model_version_tags (key, value, name, version)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (key, name, version) DO UPDATE SET value = excluded.value",
                        rusqlite::params![key, value, name, version as i64],
                    ),
                }
                .map_err(write_error)?;
            }
            Ok(())
        })
    }

    async fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<()> {
        self.with_tx(|tx, has_ws| {
            let ws = Self::version_workspace(tx, has_ws, name, version)?;
            match &ws {
                Some(ws) => tx.execute(
                    "INSERT INTO registered_model_aliases (workspace, alias, version, name)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (workspace, name, alias) DO UPDATE SET version = excluded.version",
                    rusqlite::params![ws, alias, version as i64, name],
                ),
                None => tx.execute(
                    "INSERT INTO registered_model_aliases (alias, version, name)
                     VALUES (?1, ?2, ?3)
                     ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                    rusqlite::params![alias, version as i64, name],
                ),
            }
            .map_err(write_error)?;
            Ok(())
        })
    }

    async fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        self.with_tx(|tx, has_ws| {
            let ws = super::sqlite::workspace_name();
            if has_ws {
                tx.execute(
                    "DELETE FROM registered_model_aliases WHERE name = ?1 AND alias = ?2 AND workspace = ?3",
                    rusqlite::params![name, alias, ws],
                )
            } else {
                tx.execute(
                    "DELETE FROM registered_model_aliases WHERE name = ?1 AND alias = ?2",
                    rusqlite::params![name, alias],
                )
            }
            .map_err(write_error)?;
            Ok(())
        })
    }
}
