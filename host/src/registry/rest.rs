//! The MLflow REST API 2.0 backend.
//!
//! Authentication, TLS and retries follow MLflow's own client and its
//! environment variables: `MLFLOW_TRACKING_USERNAME`/`_PASSWORD` (basic),
//! `MLFLOW_TRACKING_TOKEN` (bearer), `MLFLOW_TRACKING_INSECURE_TLS`,
//! `MLFLOW_TRACKING_SERVER_CERT_PATH`, and `MLFLOW_HTTP_REQUEST_MAX_RETRIES`
//! (default 7), `_BACKOFF_FACTOR` (2), `_BACKOFF_JITTER` (1.0) and `_TIMEOUT`
//! (120 s). Like urllib3's `Retry` that MLflow configures, it retries
//! connection errors and 408/429/500/502/503/504 with exponential backoff,
//! honouring `Retry-After`.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use super::{
    KeyValue, Metric, MetricPoint, ModelVersion, RegisteredModel, Registry, RegistryError, Result,
    Run,
};
use crate::error::HintExt as _;

/// Runs fetched per `runs/search` request when batching.
const RUNS_PER_SEARCH: usize = 500;

/// Retry settings, from MLflow's environment variables.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Backoff factor in seconds.
    pub backoff_factor: f64,
    /// Random extra delay, up to this many seconds.
    pub backoff_jitter: f64,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl RetryPolicy {
    /// Reads the policy from the environment; bad values are errors.
    pub fn from_env() -> anyhow::Result<Self> {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{name}=`{v}` is not a number"))
                    .hint(format!("unset {name} or give it a number")),
                _ => Ok(default),
            }
        }
        let timeout: f64 = var("MLFLOW_HTTP_REQUEST_TIMEOUT", 120.0)?;
        Ok(RetryPolicy {
            max_retries: var("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 7)?,
            backoff_factor: var("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 2.0)?,
            backoff_jitter: var("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", 1.0)?,
            timeout: Duration::from_secs_f64(timeout.clamp(0.001, 86_400.0)),
        })
    }

    /// The delay before retry number `retry` (1-based), as urllib3 computes
    /// it: none before the first retry, then `factor * 2^(retry-1)`, at most
    /// 120 s, plus jitter.
    pub fn backoff(&self, retry: u32, jitter_unit: f64) -> Duration {
        let base = if retry <= 1 {
            0.0
        } else {
            (self.backoff_factor * 2f64.powi(retry as i32 - 1)).min(120.0)
        };
        let jitter = if base > 0.0 {
            self.backoff_jitter * jitter_unit
        } else {
            0.0
        };
        Duration::from_secs_f64((base + jitter).max(0.0))
    }
}

/// A registry behind an MLflow tracking server.
pub struct RestRegistry {
    base: String,
    client: reqwest::Client,
    auth: Auth,
    retry: RetryPolicy,
}

enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

impl RestRegistry {
    /// A client for the server at `base` (`http(s)://host:port[/prefix]`).
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let retry = RetryPolicy::from_env()?;
        let mut builder = reqwest::Client::builder()
            .timeout(retry.timeout)
            .connect_timeout(retry.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("modelgate/", env!("CARGO_PKG_VERSION")));
        let insecure = std::env::var("MLFLOW_TRACKING_INSECURE_TLS")
            .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
            .unwrap_or(false);
        if insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Ok(path) = std::env::var("MLFLOW_TRACKING_SERVER_CERT_PATH")
            && !path.is_empty()
        {
            let pem = std::fs::read(&path)
                .with_context(|| {
                    format!("failed to read MLFLOW_TRACKING_SERVER_CERT_PATH `{path}`")
                })
                .hint("point MLFLOW_TRACKING_SERVER_CERT_PATH at a PEM CA bundle")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("`{path}` is not a PEM certificate bundle"))
                .hint("point MLFLOW_TRACKING_SERVER_CERT_PATH at a PEM CA bundle")?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let user = std::env::var("MLFLOW_TRACKING_USERNAME").ok();
        let pass = std::env::var("MLFLOW_TRACKING_PASSWORD").ok();
        let token = std::env::var("MLFLOW_TRACKING_TOKEN").ok();
        // MLflow prefers basic auth when both are set.
        let auth = match (user, pass, token) {
            (Some(u), Some(p), _) => Auth::Basic(u, p),
            (_, _, Some(t)) if !t.is_empty() => Auth::Bearer(t),
            _ => Auth::None,
        };
        let client = builder
            .build()
            .context("failed to set up the HTTP client")?;
        Ok(RestRegistry {
            base: base.trim_end_matches('/').to_string(),
            client,
            auth,
            retry,
        })
    }

    async fn call(
        &self,
        method: Method,
        endpoint: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let mut attempt: u32 = 0;
        loop {
            let mut req = self.client.request(method.clone(), &url).query(query);
            if let Some(b) = body {
                req = req.json(b);
            }
            req = match &self.auth {
                Auth::None => req,
                Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
                Auth::Bearer(t) => req.bearer_auth(t),
            };
            let outcome = req.send().await;
            let (retryable, retry_after, err) = match outcome {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 600.0)));
                    let text = resp.text().await.unwrap_or_default();
                    if status.is_success() {
                        return serde_json::from_str(&text).map_err(|e| {
                            RegistryError::Invalid(format!(
                                "`{endpoint}` answered with invalid JSON: {e}"
                            ))
                        });
                    }
                    let retryable = matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504);
                    (retryable, retry_after, api_error(status, &text, &url))
                }
                Err(e) => {
                    let msg = if e.is_timeout() {
                        format!(
                            "request to {} timed out after {:?}",
                            self.base, self.retry.timeout
                        )
                    } else {
                        format!("failed to reach {}: {}", self.base, root_cause(&e))
                    };
                    (true, None, RegistryError::Unavailable(msg))
                }
            };
            if !retryable || attempt >= self.retry.max_retries {
                return Err(match err {
                    RegistryError::Unavailable(m) if attempt > 0 => {
                        RegistryError::Unavailable(format!("{m} (after {} attempts)", attempt + 1))
                    }
                    other => other,
                });
            }
            attempt += 1;
            let delay = retry_after.unwrap_or_else(|| self.retry.backoff(attempt, jitter_unit()));
            eprintln!(
                "modelgate: {err}; retry {attempt} of {} in {:.1}s (MLFLOW_HTTP_REQUEST_MAX_RETRIES)",
                self.retry.max_retries,
                delay.as_secs_f64()
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value> {
        self.call(Method::GET, endpoint, query, None).await
    }
}

fn jitter_unit() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

/// The innermost cause, e.g. `Connection refused (os error 111)`.
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Maps MLflow's error JSON (`error_code`, `message`) and the status to a kind.
fn api_error(status: StatusCode, body: &str, url: &str) -> RegistryError {
    #[derive(Deserialize)]
    struct ApiError {
        error_code: Option<String>,
        message: Option<String>,
    }
    let parsed: Option<ApiError> = serde_json::from_str(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|p| p.error_code.clone())
        .unwrap_or_default();
    let message = parsed.and_then(|p| p.message).unwrap_or_else(|| {
        let snippet: String = body.chars().take(200).collect();
        format!("HTTP {status} from {url}: {}", snippet.trim())
    });
    match (code.as_str(), status.as_u16()) {
        ("RESOURCE_DOES_NOT_EXIST" | "NOT_FOUND" | "ENDPOINT_NOT_FOUND", _) | (_, 404) => {
            RegistryError::NotFound(message)
        }
        ("PERMISSION_DENIED" | "UNAUTHENTICATED" | "UNAUTHORIZED", _) | (_, 401 | 403) => {
            RegistryError::Denied(format!("{message} (HTTP {})", status.as_u16()))
        }
        (_, 408 | 429) | (_, 500..=599) => {
            RegistryError::Unavailable(format!("{message} (HTTP {})", status.as_u16()))
        }
        _ => RegistryError::Invalid(message),
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" | "nan" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

fn opt_string(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn key_values(v: Option<&Value>) -> Vec<KeyValue> {
    v.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some(KeyValue {
                        key: i.get("key")?.as_str()?.to_string(),
                        value: i
                            .get("value")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn model_version(v: &Value) -> Result<ModelVersion> {
    let bad = || RegistryError::Invalid(format!("malformed model version in answer: {v}"));
    Ok(ModelVersion {
        name: v
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(bad)?
            .to_string(),
        version: v
            .get("version")
            .and_then(as_i64)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(bad)?,
        run_id: opt_string(v, "run_id"),
        status: opt_string(v, "status").unwrap_or_else(|| "READY".into()),
        current_stage: opt_string(v, "current_stage"),
        source: opt_string(v, "source"),
        description: opt_string(v, "description"),
        creation_timestamp: v.get("creation_timestamp").and_then(as_i64).unwrap_or(0),
        last_updated_timestamp: v
            .get("last_updated_timestamp")
            .and_then(as_i64)
            .unwrap_or(0),
        aliases: v
            .get("aliases")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        tags: key_values(v.get("tags")),
    })
}

fn metric_point(v: &Value) -> Option<(String, MetricPoint)> {
    Some((
        v.get("key")?.as_str()?.to_string(),
        MetricPoint {
            value: v.get("value").and_then(as_f64)?,
            timestamp: v.get("timestamp").and_then(as_i64).unwrap_or(0),
            step: v.get("step").and_then(as_i64).unwrap_or(0),
        },
    ))
}

fn run(v: &Value) -> Result<Run> {
    let bad = || RegistryError::Invalid(format!("malformed run in answer: {v}"));
    let info = v.get("info").ok_or_else(bad)?;
    let data = v.get("data");
    let mut metrics: Vec<Metric> = data
        .and_then(|d| d.get("metrics"))
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .filter_map(metric_point)
                .map(|(key, point)| Metric { key, point })
                .collect()
        })
        .unwrap_or_default();
    // As the SQLite backend returns them.
    metrics.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Run {
        run_id: opt_string(info, "run_id")
            .or_else(|| opt_string(info, "run_uuid"))
            .ok_or_else(bad)?,
        experiment_id: opt_string(info, "experiment_id").unwrap_or_default(),
        run_name: opt_string(info, "run_name"),
        status: opt_string(info, "status").unwrap_or_default(),
        start_time: info.get("start_time").and_then(as_i64).unwrap_or(0),
        end_time: info.get("end_time").and_then(as_i64),
        metrics,
        params: key_values(data.and_then(|d| d.get("params"))),
        tags: key_values(data.and_then(|d| d.get("tags"))),
    })
}

/// Quotes a value for an MLflow search filter.
pub fn filter_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[async_trait]
impl Registry for RestRegistry {
    fn uri(&self) -> &str {
        &self.base
    }

    async fn registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let v = self.get("registered-models/get", &[("name", name)]).await?;
        let m = v
            .get("registered_model")
            .ok_or_else(|| RegistryError::Invalid("no `registered_model` in answer".into()))?;
        Ok(RegisteredModel {
            name: opt_string(m, "name").unwrap_or_else(|| name.to_string()),
            description: opt_string(m, "description"),
            aliases: m
                .get("aliases")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| {
                            Some((
                                x.get("alias")?.as_str()?.to_string(),
                                u64::try_from(as_i64(x.get("version")?)?).ok()?,
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            tags: key_values(m.get("tags")),
        })
    }

    async fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        let filter = format!("name={}", filter_quote(name));
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut q = vec![
                ("filter", filter.as_str()),
                ("max_results", "1000"),
                ("order_by", "version_number DESC"),
            ];
            if !token.is_empty() {
                q.push(("page_token", token.as_str()));
            }
            let v = self.get("model-versions/search", &q).await?;
            if let Some(items) = v.get("model_versions").and_then(Value::as_array) {
                for item in items {
                    out.push(model_version(item)?);
                }
            }
            match v.get("next_page_token").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => break,
            }
        }
        // The search leaves out aliases (and "no versions" must be told
        // from "no such model"): the registered model has both.
        let model = self.registered_model(name).await?;
        for v in &mut out {
            if v.aliases.is_empty() {
                v.aliases = model
                    .aliases
                    .iter()
                    .filter(|(_, n)| *n == v.version)
                    .map(|(a, _)| a.clone())
                    .collect();
                v.aliases.sort();
            }
        }
        out.sort_by_key(|v| std::cmp::Reverse(v.version));
        Ok(out)
    }

    async fn model_version(&self, name: &str, version: u64) -> Result<ModelVersion> {
        let version = version.to_string();
        let v = self
            .get(
                "model-versions/get",
                &[("name", name), ("version", &version)],
            )
            .await?;
        model_version(v.get("model_version").unwrap_or(&Value::Null))
    }

    async fn model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        let v = self
            .get(
                "registered-models/alias",
                &[("name", name), ("alias", alias)],
            )
            .await
            .map_err(|e| match e {
                // MLflow answers a missing alias with INVALID_PARAMETER_VALUE.
                RegistryError::Invalid(m) if m.contains("not found") => RegistryError::NotFound(m),
                other => other,
            })?;
        model_version(v.get("model_version").unwrap_or(&Value::Null))
    }

    async fn run(&self, run_id: &str) -> Result<Run> {
        let v = self.get("runs/get", &[("run_id", run_id)]).await?;
        run(v.get("run").unwrap_or(&Value::Null))
    }

    async fn runs(&self, run_ids: &[String]) -> Result<Vec<Run>> {
        // `runs/search` needs experiment ids: learn them one run at a time,
        // then fetch everything still missing in pages of `run_id IN (…)`.
        let mut experiments: Vec<String> = Vec::new();
        let mut out: Vec<Run> = Vec::new();
        let mut pending: Vec<&String> = run_ids.iter().collect();
        while !pending.is_empty() {
            if !experiments.is_empty() {
                for chunk in pending.chunks(RUNS_PER_SEARCH) {
                    let list: Vec<String> = chunk.iter().map(|id| filter_quote(id)).collect();
                    let body = serde_json::json!({
                        "experiment_ids": experiments,
                        "filter": format!("attributes.run_id IN ({})", list.join(", ")),
                        "run_view_type": "ALL",
                        "max_results": 1000,
                    });
                    let v = self
                        .call(Method::POST, "runs/search", &[], Some(&body))
                        .await?;
                    if let Some(items) = v.get("runs").and_then(Value::as_array) {
                        for item in items {
                            out.push(run(item)?);
                        }
                    }
                }
                let have: std::collections::HashSet<&str> =
                    out.iter().map(|r| r.run_id.as_str()).collect();
                pending.retain(|id| !have.contains(id.as_str()));
                if pending.is_empty() {
                    break;
                }
            }
            let next = pending.remove(0);
            match self.run(next).await {
                Ok(r) => {
                    if !experiments.contains(&r.experiment_id) {
                        experiments.push(r.experiment_id.clone());
                    }
                    out.push(r);
                }
                Err(RegistryError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut q = vec![
                ("run_id", run_id),
                ("metric_key", key),
                ("max_results", "25000"),
            ];
            if !token.is_empty() {
                q.push(("page_token", token.as_str()));
            }
            let v = self.get("metrics/get-history", &q).await?;
            if let Some(items) = v.get("metrics").and_then(Value::as_array) {
                out.extend(items.iter().filter_map(metric_point).map(|(_, p)| p));
            }
            match v.get("next_page_token").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => break,
            }
        }
        out.sort_by_key(|a| (a.step, a.timestamp));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_urllib3() {
        let p = RetryPolicy {
            max_retries: 7,
            backoff_factor: 2.0,
            backoff_jitter: 0.0,
            timeout: Duration::from_secs(1),
        };
        let secs: Vec<f64> = (1..=8).map(|r| p.backoff(r, 0.5).as_secs_f64()).collect();
        assert_eq!(secs, [0.0, 4.0, 8.0, 16.0, 32.0, 64.0, 120.0, 120.0]);
    }

    #[test]
    fn api_errors_are_typed() {
        let nf = api_error(
            StatusCode::NOT_FOUND,
            r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Registered Model with name=x not found"}"#,
            "u",
        );
        assert_eq!(
            nf,
            RegistryError::NotFound("Registered Model with name=x not found".into())
        );
        assert!(matches!(
            api_error(StatusCode::FORBIDDEN, "{}", "u"),
            RegistryError::Denied(_)
        ));
        assert!(matches!(
            api_error(StatusCode::UNAUTHORIZED, "nope", "u"),
            RegistryError::Denied(_)
        ));
        assert!(matches!(
            api_error(StatusCode::BAD_GATEWAY, "", "u"),
            RegistryError::Unavailable(_)
        ));
        assert!(matches!(
            api_error(
                StatusCode::BAD_REQUEST,
                r#"{"error_code":"INVALID_PARAMETER_VALUE","message":"m"}"#,
                "u"
            ),
            RegistryError::Invalid(_)
        ));
    }

    #[test]
    fn parses_mlflow_json() {
        let mv = model_version(&serde_json::json!({
            "name": "logreg", "version": "3", "creation_timestamp": 1700000000000i64,
            "last_updated_timestamp": "1700000000001", "current_stage": "None",
            "source": "models:/m-1", "run_id": "abc", "status": "READY",
            "aliases": ["champion"], "tags": [{"key": "k", "value": "v"}]
        }))
        .expect("valid");
        assert_eq!(mv.version, 3);
        assert_eq!(mv.last_updated_timestamp, 1700000000001);
        assert_eq!(mv.aliases, ["champion"]);
        let r = run(&serde_json::json!({
            "info": {"run_id": "abc", "experiment_id": "0", "status": "FINISHED", "start_time": 1},
            "data": {"metrics": [{"key": "score", "value": 0.5, "timestamp": 1, "step": 0},
                                 {"key": "loss", "value": "NaN", "timestamp": 1, "step": 0}],
                     "params": [{"key": "C", "value": "1.0"}]}
        }))
        .expect("valid");
        assert_eq!(r.metric("score"), Some(0.5));
        assert!(r.metric("loss").is_some_and(f64::is_nan));
        assert_eq!(r.params[0].value, "1.0");
    }
}
