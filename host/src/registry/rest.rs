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

use super::artifacts::{self, ArtifactData, ArtifactEntry, ArtifactOwner};
use super::{
    KeyValue, LoggedModel, Metric, MetricPoint, ModelMetric, ModelVersion, RegisteredModel,
    Registry, RegistryError, Result, Run,
};
use crate::error::HintExt as _;

/// Runs fetched per `runs/search` request when batching.
const RUNS_PER_SEARCH: usize = 500;

/// Default cap on one answer's body: 64 MiB (`MODELGATE_MAX_RESPONSE_SIZE`
/// changes it). A page of 1000 model versions is ~1 MB and a page of 500
/// runs with their metrics a few MB; a body beyond the cap is refused
/// while it streams in, before it can cost the host memory.
pub const DEFAULT_MAX_RESPONSE: u64 = 64 << 20;

/// Most pages one listing may take (1000 × 1000 model versions, or 1000 ×
/// 25,000 metric points). A `next_page_token` that never ends is a lying
/// registry, not a big one.
pub const MAX_PAGES: usize = 1000;

/// Longest `Retry-After` honoured: the same 120 s that caps the backoff.
/// A server asking for more gets 120 s and, if it keeps asking, runs out
/// of retries.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Longest total wait between the attempts of one request: 5 minutes, a
/// little more than MLflow's own defaults add up to (0+4+8+…+120 s).
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(300);

/// Most retries `MLFLOW_HTTP_REQUEST_MAX_RETRIES` may ask for.
pub const MAX_RETRIES: u32 = 100;

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
    /// Largest answer body accepted.
    pub max_response: u64,
}

impl RetryPolicy {
    /// Reads the policy from the environment; bad values are errors.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the policy from `lookup` (the environment, or a test's map).
    /// Every value is checked: a number that is not finite, negative or
    /// absurdly large is an error naming the variable, never a panic.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let secs = |name: &str, default: f64, min: f64, max: f64| -> anyhow::Result<f64> {
            let Some(v) = get(name) else {
                return Ok(default);
            };
            match v.trim().parse::<f64>() {
                Ok(n) if n.is_finite() && n >= min && n <= max => Ok(n),
                _ => Err(anyhow::anyhow!(
                    "{name}=`{v}` is not a number of seconds between {min} and {max}"
                ))
                .hint(format!("unset {name} or give it a number in that range")),
            }
        };
        let max_retries = match get("MLFLOW_HTTP_REQUEST_MAX_RETRIES") {
            None => 7,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if n <= MAX_RETRIES => n,
                _ => {
                    return Err(anyhow::anyhow!(
                        "MLFLOW_HTTP_REQUEST_MAX_RETRIES=`{v}` is not a whole number from 0 to {MAX_RETRIES}"
                    ))
                    .hint("unset MLFLOW_HTTP_REQUEST_MAX_RETRIES or give it a small whole number");
                }
            },
        };
        let timeout = secs("MLFLOW_HTTP_REQUEST_TIMEOUT", 120.0, 0.001, 86_400.0)?;
        let max_response = match get("MODELGATE_MAX_RESPONSE_SIZE") {
            None => DEFAULT_MAX_RESPONSE,
            Some(v) => crate::units::parse_bytes(&v)
                .map_err(|e| anyhow::anyhow!("MODELGATE_MAX_RESPONSE_SIZE: {e}"))
                .hint("unset MODELGATE_MAX_RESPONSE_SIZE or give it a size such as `256MiB`")?,
        };
        Ok(RetryPolicy {
            max_retries,
            backoff_factor: secs("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 2.0, 0.0, 3600.0)?,
            backoff_jitter: secs("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", 1.0, 0.0, 3600.0)?,
            timeout: Duration::from_secs_f64(timeout),
            max_response,
        })
    }

    /// The delay before retry number `retry` (1-based), as urllib3 computes
    /// it: none before the first retry, then `factor * 2^(retry-1)`, at most
    /// 120 s, plus jitter (`jitter_unit` in [0, 1]).
    pub fn backoff(&self, retry: u32, jitter_unit: f64) -> Duration {
        let base = if retry <= 1 {
            0.0
        } else {
            (self.backoff_factor * 2f64.powi(retry.min(64) as i32 - 1)).min(120.0)
        };
        let jitter = if base > 0.0 {
            self.backoff_jitter * jitter_unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        secs_to_duration(base + jitter, MAX_RETRY_WAIT)
    }
}

/// `secs` as a duration in [0, `max`]; NaN counts as 0. Never panics,
/// whatever the float.
pub fn secs_to_duration(secs: f64, max: Duration) -> Duration {
    Duration::try_from_secs_f64(secs)
        .unwrap_or(if secs > 0.0 { max } else { Duration::ZERO })
        .min(max)
}

/// A `Retry-After` header's delay: whole or fractional seconds, finite and
/// not negative, at most [`MAX_RETRY_AFTER`]. Anything else (an HTTP date,
/// `NaN`, garbage) is ignored and the normal backoff applies.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| secs_to_duration(secs, MAX_RETRY_AFTER))
}

/// A registry behind an MLflow tracking server.
pub struct RestRegistry {
    base: String,
    client: reqwest::Client,
    auth: Auth,
    retry: RetryPolicy,
    /// One TCP connection per request (see [`RestRegistry::new`]).
    fresh_connections: bool,
}

enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

/// True when a 400's body is the store refusing a write that raced
/// another of the same row (two writers setting one tag at once): MLflow
/// reports the database's integrity error as `BAD_REQUEST`, and the same
/// write succeeds when tried again.
fn concurrent_write(body: &str) -> bool {
    [
        "IntegrityError",
        "UniqueViolation",
        "UNIQUE constraint failed",
        "Duplicate entry",
        "duplicate key value",
        "database is locked",
        "could not serialize access",
        "Deadlock found",
    ]
    .iter()
    .any(|m| body.contains(m))
}

/// How one attempt at a request went.
enum Tried {
    /// The answer's body, or an error that retrying would not change.
    Done(Result<Body>),
    /// A failure: whether it may be retried, the server's `Retry-After`.
    Failed(bool, Option<Duration>, RegistryError),
}

impl RestRegistry {
    /// A client for the server at `base` (`http(s)://host:port[/prefix]`).
    ///
    /// Over plain HTTP every request has a connection of its own (it asks
    /// the server to close it after the answer). `mlflow server` with its
    /// default worker count serves from sockets without `TCP_NODELAY`
    /// (uvicorn's workers get the listening socket from their supervisor
    /// and asyncio then skips the option), and writes an answer's headers
    /// and body separately: on a kept-alive connection the body waits for
    /// the client's delayed ACK of the headers, 40 ms on Linux, for every
    /// request. A new connection acknowledges at once (TCP's quick-ACK
    /// start), so a request costs its handshake, well under a millisecond
    /// next to the server (measured: `runs/get` 52 ms kept alive, 11 ms on
    /// a new connection; BENCHMARKS.md, "Serve"). The price: a closed
    /// connection may wait in `TIME_WAIT` on this side, and a sweep of
    /// hundreds of requests a second to a remote plain-HTTP server holds
    /// that many local ports for a minute (Linux reuses them at once on
    /// loopback). HTTPS keeps its connections: a TLS handshake per request
    /// costs more, and a TLS-terminating proxy in front answers without
    /// the stall.
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let retry = RetryPolicy::from_env()?;
        let fresh_connections = base
            .get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
        let mut builder = reqwest::Client::builder()
            .timeout(retry.timeout)
            .connect_timeout(retry.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("modelgate/", env!("CARGO_PKG_VERSION")));
        if fresh_connections {
            builder = builder.pool_max_idle_per_host(0);
        }
        // A redirect is followed to the same origin only: a server cannot
        // send modelgate (and what it reads into a gate's evidence) to
        // another host, such as a cloud metadata address.
        builder = builder.redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if attempt.previous().len() > 10 {
                attempt.error("more than 10 redirects")
            } else if same {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }));
        let insecure = std::env::var("MLFLOW_TRACKING_INSECURE_TLS")
            .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
            .unwrap_or(false);
        if insecure {
            builder = builder.danger_accept_invalid_certs(true);
            if base.starts_with("https://") {
                crate::output::stderr(&format!(
                    "warning: MLFLOW_TRACKING_INSECURE_TLS is set: the TLS certificate of {} is not verified\n",
                    crate::text::clean_line(base.trim_end_matches('/'))
                ));
            }
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
            fresh_connections,
        })
    }

    /// One request to `endpoint`, with retries, bounds and typed errors.
    pub(crate) async fn call(
        &self,
        method: Method,
        endpoint: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let cap = Cap::Refuse(self.retry.max_response);
        let answer = self
            .request(method, &url, endpoint, query, body, cap)
            .await?;
        serde_json::from_slice(&answer.bytes).map_err(|e| {
            RegistryError::Invalid(format!("`{endpoint}` answered with invalid JSON: {e}"))
        })
    }

    /// One request to `url` (under the server's root), with retries,
    /// bounds and typed errors: its body, read as `cap` says.
    async fn request(
        &self,
        method: Method,
        url: &str,
        endpoint: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        cap: Cap,
    ) -> Result<Body> {
        let mut attempt: u32 = 0;
        let mut waited = Duration::ZERO;
        loop {
            let (retryable, retry_after, err) =
                match self.attempt(&method, url, endpoint, query, body, cap).await {
                    Tried::Done(answer) => return answer,
                    Tried::Failed(retryable, retry_after, err) => (retryable, retry_after, err),
                };
            let delay = retry_after
                .unwrap_or_else(|| self.retry.backoff(attempt + 1, jitter_unit()))
                .min(MAX_RETRY_WAIT);
            let out_of_time = waited + delay > MAX_RETRY_WAIT;
            if !retryable || attempt >= self.retry.max_retries || out_of_time {
                return Err(match err {
                    RegistryError::Unavailable(m) if attempt > 0 => {
                        RegistryError::Unavailable(format!("{m} (after {} attempts)", attempt + 1))
                    }
                    other => other,
                });
            }
            attempt += 1;
            waited += delay;
            crate::output::stderr(&format!(
                "modelgate: {}; retry {attempt} of {} in {:.1}s (MLFLOW_HTTP_REQUEST_MAX_RETRIES)\n",
                crate::text::clean_line(&err.to_string()),
                self.retry.max_retries,
                delay.as_secs_f64()
            ));
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt at a request: its answer (or an error not worth
    /// retrying), or why it failed with whether to retry and the server's
    /// `Retry-After`.
    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        endpoint: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        cap: Cap,
    ) -> Tried {
        let mut req = self.client.request(method.clone(), url).query(query);
        if self.fresh_connections {
            req = req.header(reqwest::header::CONNECTION, "close");
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req = match &self.auth {
            Auth::None => req,
            Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
            Auth::Bearer(t) => req.bearer_auth(t),
        };
        let outcome = req.send().await;
        match outcome {
            Ok(resp) => {
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                // An error's body is read as a JSON answer would be.
                let cap = if status.is_success() {
                    cap
                } else {
                    Cap::Refuse(self.retry.max_response)
                };
                match self.read_body(resp, endpoint, cap).await {
                    Err(Fatal(e)) => Tried::Done(Err(e)),
                    // A body cut off on the way is the network's
                    // fault, whatever the status said: retry.
                    Err(Transient(e)) => Tried::Failed(true, retry_after, e),
                    Ok(answer) if status.is_success() => Tried::Done(Ok(answer)),
                    Ok(Body { bytes, .. }) => {
                        let text = String::from_utf8_lossy(&bytes);
                        let retryable =
                            matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
                                || (status.as_u16() == 400 && concurrent_write(&text));
                        Tried::Failed(retryable, retry_after, api_error(status, &text, url))
                    }
                }
            }
            Err(e) => {
                let cause = root_cause(&e);
                if cause.contains("invalid peer certificate") {
                    return Tried::Done(Err(RegistryError::Tls(format!(
                        "the TLS certificate of {} is not trusted: {cause}",
                        self.base
                    ))));
                }
                let msg = if e.is_timeout() {
                    format!(
                        "request to {} timed out after {:?}",
                        self.base, self.retry.timeout
                    )
                } else {
                    format!("failed to reach {}: {cause}", self.base)
                };
                Tried::Failed(true, None, RegistryError::Unavailable(msg))
            }
        }
    }

    /// Reads an answer's body: refused as soon as it passes a
    /// [`Cap::Refuse`], cut at a [`Cap::Keep`].
    async fn read_body(
        &self,
        mut resp: reqwest::Response,
        endpoint: &str,
        cap: Cap,
    ) -> std::result::Result<Body, BodyError> {
        let length = resp.content_length();
        let (limit, keep) = match cap {
            Cap::Refuse(limit) => (limit, false),
            Cap::Keep(limit) => (limit, true),
        };
        let too_big = |size: u64| {
            Fatal(RegistryError::Invalid(format!(
                "`{endpoint}` answered with more than {} (at least {size} bytes)",
                crate::text::human_bytes(limit)
            )))
        };
        if let Some(len) = length
            && len > limit
            && !keep
        {
            return Err(too_big(len));
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > limit {
                        if !keep {
                            return Err(too_big(body.len() as u64 + chunk.len() as u64));
                        }
                        let room = (limit as usize).saturating_sub(body.len());
                        body.extend_from_slice(&chunk[..room.min(chunk.len())]);
                        return Ok(Body {
                            bytes: body,
                            truncated: true,
                            length,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => {
                    return Ok(Body {
                        bytes: body,
                        truncated: false,
                        length,
                    });
                }
                Err(e) => {
                    return Err(Transient(RegistryError::Unavailable(format!(
                        "failed to read the answer of {} to `{endpoint}`: {}",
                        self.base,
                        root_cause(&e)
                    ))));
                }
            }
        }
    }

    async fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value> {
        self.call(Method::GET, endpoint, query, None).await
    }
}

/// How much of an answer's body to read.
#[derive(Clone, Copy)]
enum Cap {
    /// At most this many bytes; a longer answer is an error.
    Refuse(u64),
    /// The first this many bytes; a longer answer is cut (a file's
    /// beginning).
    Keep(u64),
}

/// An answer's body.
struct Body {
    /// What was read.
    bytes: Vec<u8>,
    /// True when a [`Cap::Keep`] cut it.
    truncated: bool,
    /// Its `Content-Length`, when the server sent one.
    length: Option<u64>,
}

/// Why an answer's body could not be read.
enum BodyError {
    /// Not worth retrying (the answer is too large).
    Fatal(RegistryError),
    /// The connection failed while reading: retry.
    Transient(RegistryError),
}
use BodyError::{Fatal, Transient};

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
        ("UNAUTHENTICATED", _) | (_, 401) => {
            RegistryError::Unauthenticated(format!("{message} (HTTP {})", status.as_u16()))
        }
        ("PERMISSION_DENIED" | "UNAUTHORIZED", _) | (_, 403) => {
            RegistryError::Denied(format!("{message} (HTTP {})", status.as_u16()))
        }
        (_, 408 | 429) | (_, 500..=599) => {
            RegistryError::Unavailable(format!("{message} (HTTP {})", status.as_u16()))
        }
        _ => RegistryError::Invalid(message),
    }
}

/// A LoggedModel id that may go into a URL's path: only what MLflow makes
/// ids of; anything else names no LoggedModel.
fn path_id(model_id: &str) -> Result<&str> {
    if super::is_model_id(model_id) {
        Ok(model_id)
    } else {
        Err(RegistryError::NotFound(format!(
            "Logged model with ID '{}' not found.",
            crate::text::clean_line(model_id)
        )))
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
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

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Reads the fields of one object of an answer, strictly: a field
/// modelgate relies on that is missing, null or of the wrong type is an
/// [`RegistryError::Invalid`] naming the object and the field — never a
/// default that could let a malformed answer through as a pass.
struct Fields<'a> {
    obj: &'a Value,
    what: &'a str,
}

impl<'a> Fields<'a> {
    fn new(obj: &'a Value, what: &'a str) -> Result<Self> {
        if obj.is_object() {
            Ok(Fields { obj, what })
        } else {
            Err(RegistryError::Invalid(format!(
                "the registry's answer has {} where {what} should be",
                json_type(obj)
            )))
        }
    }

    fn bad(&self, key: &str, found: &Value, want: &str) -> RegistryError {
        let found = match found {
            Value::Null => "null".to_string(),
            other => json_type(other).to_string(),
        };
        RegistryError::Invalid(format!(
            "{}: field `{key}` is {found}, expected {want}",
            self.what
        ))
    }

    fn missing(&self, key: &str) -> RegistryError {
        RegistryError::Invalid(format!("{}: field `{key}` is missing", self.what))
    }

    /// A field that must be there and be a string.
    fn string(&self, key: &str) -> Result<String> {
        match self.obj.get(key) {
            None => Err(self.missing(key)),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.bad(key, other, "a string")),
        }
    }

    /// An optional string; absent, null and empty are `None`.
    fn opt_string(&self, key: &str) -> Result<Option<String>> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
            Some(other) => Err(self.bad(key, other, "a string")),
        }
    }

    /// A field that must be a whole number (MLflow writes int64 as strings).
    fn int(&self, key: &str) -> Result<i64> {
        self.opt_int(key)?.ok_or_else(|| self.missing(key))
    }

    fn opt_int(&self, key: &str) -> Result<Option<i64>> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => as_i64(v)
                .map(Some)
                .ok_or_else(|| self.bad(key, v, "a whole number")),
        }
    }

    /// An optional list; absent and null are empty.
    fn list(&self, key: &str) -> Result<&'a [Value]> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.bad(key, other, "a list")),
        }
    }

    fn key_values(&self, key: &str) -> Result<Vec<KeyValue>> {
        let what = format!("{} `{key}`", self.what);
        self.list(key)?
            .iter()
            .map(|item| {
                let f = Fields::new(item, &what)?;
                Ok(KeyValue {
                    key: f.string("key")?,
                    value: f.opt_string("value")?.unwrap_or_default(),
                })
            })
            .collect()
    }
}

fn model_version(v: &Value) -> Result<ModelVersion> {
    let f = Fields::new(v, "a model version")?;
    let name = f.string("name")?;
    let version = f.int("version")?;
    let what = format!("model version `{name}` {version}");
    let f = Fields {
        obj: v,
        what: &what,
    };
    let version =
        u64::try_from(version).map_err(|_| f.bad("version", &v["version"], "a version number"))?;
    let status = f.string("status")?;
    let source = f.opt_string("source")?;
    Ok(ModelVersion {
        name,
        version,
        run_id: f.opt_string("run_id")?,
        model_id: super::model_id_of(f.opt_string("model_id")?, source.as_deref()),
        status,
        current_stage: f.opt_string("current_stage")?,
        source,
        description: f.opt_string("description")?,
        creation_timestamp: f.opt_int("creation_timestamp")?.unwrap_or(0),
        last_updated_timestamp: f.opt_int("last_updated_timestamp")?.unwrap_or(0),
        aliases: f
            .list("aliases")?
            .iter()
            .map(|a| {
                a.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| f.bad("aliases", a, "a list of strings"))
            })
            .collect::<Result<_>>()?,
        tags: f.key_values("tags")?,
    })
}

fn metric_point(v: &Value, what: &str) -> Result<(String, MetricPoint)> {
    let f = Fields::new(v, what)?;
    let key = f.string("key")?;
    let value = match v.get("value") {
        None => return Err(f.missing("value")),
        Some(x) => as_f64(x).ok_or_else(|| f.bad("value", x, "a number"))?,
    };
    Ok((
        key,
        MetricPoint {
            value,
            timestamp: f.opt_int("timestamp")?.unwrap_or(0),
            step: f.opt_int("step")?.unwrap_or(0),
        },
    ))
}

fn run(v: &Value) -> Result<Run> {
    let top = Fields::new(v, "a run")?;
    let info = v.get("info").ok_or_else(|| top.missing("info"))?;
    let i = Fields::new(info, "a run's `info`")?;
    let run_id = match i.opt_string("run_id")? {
        Some(id) => id,
        None => i.string("run_uuid")?,
    };
    let what = format!("run `{run_id}`");
    let i = Fields {
        obj: info,
        what: &what,
    };
    let (metrics, params, tags) = match v.get("data") {
        None | Some(Value::Null) => Default::default(),
        Some(data) => {
            let what = format!("run `{run_id}` `data`");
            let d = Fields::new(data, &what)?;
            let metric_what = format!("a metric of run `{run_id}`");
            let mut metrics: Vec<Metric> = d
                .list("metrics")?
                .iter()
                .map(|m| metric_point(m, &metric_what).map(|(key, point)| Metric { key, point }))
                .collect::<Result<_>>()?;
            // As the SQLite backend returns them: metrics, params and tags
            // by key (a server gives tags in the order they were written).
            metrics.sort_by(|a, b| a.key.cmp(&b.key));
            let (mut params, mut tags) = (d.key_values("params")?, d.key_values("tags")?);
            params.sort_by(|a, b| a.key.cmp(&b.key));
            tags.sort_by(|a, b| a.key.cmp(&b.key));
            (metrics, params, tags)
        }
    };
    Ok(Run {
        experiment_id: i.opt_string("experiment_id")?.unwrap_or_default(),
        run_name: i.opt_string("run_name")?,
        status: i.opt_string("status")?.unwrap_or_default(),
        start_time: i.opt_int("start_time")?.unwrap_or(0),
        end_time: i.opt_int("end_time")?,
        run_id,
        metrics,
        params,
        tags,
    })
}

/// True for a LoggedModel metric value that may stand for a NaN: MLflow
/// keeps a LoggedModel's NaN as 0.
fn is_nan_sentinel(m: &ModelMetric) -> bool {
    m.point.value == 0.0 && m.run_id.is_some()
}

/// Most (run, metric) histories one read of LoggedModels asks for to tell
/// a stored 0 from a NaN, when the run's latest value cannot tell (a 0
/// logged at an earlier step than the run's latest): 256. Past it the read
/// fails as invalid rather than take a 0 on trust or ask without end.
pub const MAX_NAN_CHECKS: usize = 256;

impl RestRegistry {
    /// The newest `limit` versions of `name` (all: `usize::MAX`), newest
    /// first, with their aliases.
    async fn versions_upto(&self, name: &str, limit: usize) -> Result<Vec<ModelVersion>> {
        let filter = format!("name={}", filter_quote(name));
        let page_size = limit.clamp(1, 1000).to_string();
        let query = |token: Option<&str>| -> Vec<(&'static str, String)> {
            let mut q = vec![
                ("filter", filter.clone()),
                ("max_results", page_size.clone()),
                ("order_by", "version_number DESC".to_string()),
            ];
            if let Some(t) = token {
                q.push(("page_token", t.to_string()));
            }
            q
        };
        let get_page = |q: Vec<(&'static str, String)>| async move {
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            self.get("model-versions/search", &q).await
        };
        // The search leaves out aliases (and "no versions" must be told
        // from "no such model"): the registered model has both. It does
        // not depend on the search, so both are asked at once: one round
        // trip, not two.
        let (first, model) =
            futures::future::join(get_page(query(None)), self.registered_model(name)).await;
        let mut out = Vec::new();
        let mut pages = Pages::new();
        let mut v = first?;
        loop {
            for item in
                Fields::new(&v, "the answer of `model-versions/search`")?.list("model_versions")?
            {
                out.push(model_version(item)?);
            }
            if out.len() >= limit || !pages.advance(&v, "model-versions/search")? {
                break;
            }
            v = get_page(query(pages.token())).await?;
        }
        let model = model?;
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
        out.truncate(limit);
        Ok(out)
    }

    /// Gives `models`' metrics back the NaN MLflow kept as 0: the run that
    /// logged a 0 knows whether it was a NaN (its metrics keep `is_nan`).
    /// Only zeros are looked at: their runs are read in one batch, and a
    /// run whose latest value of the metric is not that point has its
    /// history read ([`MAX_NAN_CHECKS`] at most). A NaN never passes as
    /// the 0 it was stored as. (Over 80 lines: one batch read in its
    /// steps, clearer in order.)
    async fn restore_nans(&self, models: &mut [LoggedModel]) -> Result<()> {
        use std::collections::{BTreeSet, HashMap};
        let zeros: BTreeSet<(String, String)> = models
            .iter()
            .flat_map(|m| &m.metrics)
            .filter(|m| is_nan_sentinel(m))
            .filter_map(|m| Some((m.run_id.clone()?, m.key.clone())))
            .collect();
        if zeros.is_empty() {
            return Ok(());
        }
        let run_ids: Vec<String> = zeros
            .iter()
            .map(|(r, _)| r.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let runs: HashMap<String, Run> = self
            .runs(&run_ids)
            .await?
            .into_iter()
            .map(|r| (r.run_id.clone(), r))
            .collect();
        // (run, key) → the points its run knows of it.
        let mut known: HashMap<(String, String), Vec<MetricPoint>> = HashMap::new();
        // The (run, key)s whose whole history was read.
        let mut whole: std::collections::HashSet<(String, String)> = Default::default();
        let mut histories = 0usize;
        for m in models.iter().flat_map(|m| &m.metrics) {
            if !is_nan_sentinel(m) {
                continue;
            }
            let Some(run_id) = m.run_id.clone() else {
                continue;
            };
            let at = (run_id, m.key.clone());
            let latest = runs
                .get(&at.0)
                .and_then(|r| r.metrics.iter().find(|x| x.key == m.key))
                .map(|x| x.point);
            let told = known
                .get(&at)
                .is_some_and(|pts| pts.iter().any(|p| same_point(p, &m.point)));
            if told {
                continue;
            }
            if let Some(p) = latest.filter(|p| same_point(p, &m.point)) {
                known.entry(at).or_default().push(p);
                continue;
            }
            // The run is gone (nothing to tell the 0 by), or its latest
            // value is another point: its history has this one (read once).
            if !runs.contains_key(&at.0) || !whole.insert(at.clone()) {
                continue;
            }
            histories += 1;
            if histories > MAX_NAN_CHECKS {
                return Err(RegistryError::Invalid(format!(
                    "LoggedModel metrics hold more than {MAX_NAN_CHECKS} zeros whose runs' latest values do not say whether they were NaN (MLflow keeps a LoggedModel's NaN as 0)"
                )));
            }
            let history = match self.metric_history(&at.0, &at.1).await {
                Ok(h) => h,
                Err(RegistryError::NotFound(_)) => Vec::new(),
                Err(e) => return Err(e),
            };
            known.entry(at).or_default().extend(history);
        }
        for m in models.iter_mut().flat_map(|m| &mut m.metrics) {
            if !is_nan_sentinel(m) {
                continue;
            }
            let Some(run_id) = m.run_id.clone() else {
                continue;
            };
            let was_nan = known.get(&(run_id, m.key.clone())).is_some_and(|pts| {
                pts.iter()
                    .any(|p| p.value.is_nan() && same_point(p, &m.point))
            });
            if was_nan {
                m.point.value = f64::NAN;
            }
        }
        Ok(())
    }
}

/// The same logged point of a metric: step and time.
fn same_point(a: &MetricPoint, b: &MetricPoint) -> bool {
    a.step == b.step && a.timestamp == b.timestamp
}

/// A LoggedModel as MLflow's REST API writes it: `{"info": {…, "tags"},
/// "data": {"params", "metrics"}}`.
fn logged_model(v: &Value) -> Result<LoggedModel> {
    let top = Fields::new(v, "a LoggedModel")?;
    let info = v.get("info").ok_or_else(|| top.missing("info"))?;
    let i = Fields::new(info, "a LoggedModel's `info`")?;
    let model_id = i.string("model_id")?;
    let what = format!("LoggedModel `{model_id}`");
    let i = Fields {
        obj: info,
        what: &what,
    };
    let status = match i.opt_string("status")?.as_deref() {
        None | Some("LOGGED_MODEL_STATUS_UNSPECIFIED") => "UNSPECIFIED",
        Some("LOGGED_MODEL_PENDING") => "PENDING",
        Some("LOGGED_MODEL_READY") => "READY",
        Some("LOGGED_MODEL_UPLOAD_FAILED") => "FAILED",
        Some(_) => return Err(i.bad("status", &info["status"], "a LoggedModel status")),
    };
    let (metrics, params) = match v.get("data") {
        None | Some(Value::Null) => Default::default(),
        Some(data) => {
            let data_what = format!("{what} `data`");
            let d = Fields::new(data, &data_what)?;
            let metric_what = format!("a metric of {what}");
            let metrics = d
                .list("metrics")?
                .iter()
                .map(|m| {
                    let (key, point) = metric_point(m, &metric_what)?;
                    let f = Fields::new(m, &metric_what)?;
                    Ok(ModelMetric {
                        key,
                        point,
                        dataset_name: f.opt_string("dataset_name")?,
                        dataset_digest: f.opt_string("dataset_digest")?,
                        run_id: f.opt_string("run_id")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            (metrics, d.key_values("params")?)
        }
    };
    let mut model = LoggedModel {
        experiment_id: i.opt_string("experiment_id")?.unwrap_or_default(),
        name: i.opt_string("name")?.unwrap_or_default(),
        source_run_id: i.opt_string("source_run_id")?,
        status: status.to_string(),
        model_type: i.opt_string("model_type")?,
        creation_timestamp: i.opt_int("creation_timestamp_ms")?.unwrap_or(0),
        last_updated_timestamp: i.opt_int("last_updated_timestamp_ms")?.unwrap_or(0),
        tags: i.key_values("tags")?,
        model_id,
        metrics,
        params,
    };
    model.normalize();
    Ok(model)
}

/// Follows `next_page_token`s, refusing a listing that does not end.
struct Pages {
    token: String,
    pages: usize,
    seen: std::collections::HashSet<String>,
}

impl Pages {
    fn new() -> Pages {
        Pages {
            token: String::new(),
            pages: 0,
            seen: Default::default(),
        }
    }

    /// The token to ask with, if any.
    fn token(&self) -> Option<&str> {
        Some(self.token.as_str()).filter(|t| !t.is_empty())
    }

    /// Takes the answer's `next_page_token`: `Ok(true)` to fetch another page.
    fn advance(&mut self, answer: &Value, endpoint: &str) -> Result<bool> {
        self.pages += 1;
        let next = match answer.get("next_page_token") {
            None | Some(Value::Null) => return Ok(false),
            Some(Value::String(t)) if t.is_empty() => return Ok(false),
            Some(Value::String(t)) => t.clone(),
            Some(other) => {
                return Err(RegistryError::Invalid(format!(
                    "`{endpoint}`: field `next_page_token` is {}, expected a string",
                    json_type(other)
                )));
            }
        };
        if self.pages >= MAX_PAGES || !self.seen.insert(next.clone()) {
            return Err(RegistryError::Invalid(format!(
                "`{endpoint}` keeps answering with another page ({} so far{}); modelgate reads at most {MAX_PAGES}",
                self.pages,
                if self.pages < MAX_PAGES {
                    ", and a page token repeated"
                } else {
                    ""
                }
            )));
        }
        self.token = next;
        Ok(true)
    }
}

/// Parses `bytes` as every kind of answer this client reads (a model
/// version, a run, a metric point, a page of a listing), as the fuzz
/// targets do; true when any of them accepted it. Malformed answers are
/// refused as [`RegistryError::Invalid`], and nothing here may panic.
#[doc(hidden)]
pub fn parse_any_answer(bytes: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        return false;
    };
    let mut accepted = false;
    for answer in [
        model_version(&v).map(drop),
        run(&v).map(drop),
        logged_model(&v).map(drop),
        metric_point(&v, "a metric").map(drop),
        Pages::new().advance(&v, "fuzz").map(drop),
    ] {
        match answer {
            Ok(()) => accepted = true,
            Err(RegistryError::Invalid(_)) => {}
            Err(other) => panic!("a parse error of the wrong kind: {other:?}"),
        }
    }
    accepted
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
        let m = v.get("registered_model").ok_or_else(|| {
            RegistryError::Invalid(
                "`registered-models/get`: field `registered_model` is missing".into(),
            )
        })?;
        let what = format!("registered model `{name}`");
        let f = Fields::new(m, &what)?;
        let alias_what = format!("an alias of registered model `{name}`");
        Ok(RegisteredModel {
            name: f.opt_string("name")?.unwrap_or_else(|| name.to_string()),
            description: f.opt_string("description")?,
            aliases: f
                .list("aliases")?
                .iter()
                .map(|x| {
                    let a = Fields::new(x, &alias_what)?;
                    let alias = a.string("alias")?;
                    let version = u64::try_from(a.int("version")?)
                        .map_err(|_| a.bad("version", &x["version"], "a version number"))?;
                    Ok((alias, version))
                })
                .collect::<Result<_>>()?,
            tags: f.key_values("tags")?,
        })
    }

    async fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        self.versions_upto(name, usize::MAX).await
    }

    async fn latest_versions(&self, name: &str, n: usize) -> Result<Vec<ModelVersion>> {
        self.versions_upto(name, n).await
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
                    for item in Fields::new(&v, "the answer of `runs/search`")?.list("runs")? {
                        out.push(run(item)?);
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

    async fn logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        // An id goes into the path: only what MLflow makes ids of is
        // asked for; anything else names no LoggedModel.
        if !super::is_model_id(model_id) {
            return Err(RegistryError::NotFound(format!(
                "Logged model with ID '{}' not found.",
                crate::text::clean_line(model_id)
            )));
        }
        let v = self
            .get(&format!("logged-models/{model_id}"), &[])
            .await
            .map_err(|e| match e {
                // MLflow answers an unknown id with RESOURCE_DOES_NOT_EXIST.
                RegistryError::Invalid(m) if m.contains("not found") => RegistryError::NotFound(m),
                other => other,
            })?;
        let mut model = logged_model(v.get("model").unwrap_or(&Value::Null))?;
        self.restore_nans(std::slice::from_mut(&mut model)).await?;
        Ok(model)
    }

    async fn logged_models(&self, model_ids: &[String]) -> Result<Vec<LoggedModel>> {
        // As for runs: `logged-models/search` needs experiment ids, learnt
        // one model at a time; everything still missing is then fetched in
        // pages of `model_id IN (…)`.
        let mut experiments: Vec<String> = Vec::new();
        let mut out: Vec<LoggedModel> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut pending: Vec<&String> = model_ids
            .iter()
            .filter(|id| super::is_model_id(id) && seen.insert(id.as_str()))
            .collect();
        while !pending.is_empty() {
            if !experiments.is_empty() {
                for chunk in pending.chunks(RUNS_PER_SEARCH) {
                    let list: Vec<String> = chunk.iter().map(|id| filter_quote(id)).collect();
                    let mut pages = Pages::new();
                    loop {
                        let mut body = serde_json::json!({
                            "experiment_ids": experiments,
                            "filter": format!("model_id IN ({})", list.join(", ")),
                            "max_results": RUNS_PER_SEARCH,
                        });
                        if let Some(t) = pages.token() {
                            body["page_token"] = Value::String(t.to_string());
                        }
                        let v = self
                            .call(Method::POST, "logged-models/search", &[], Some(&body))
                            .await?;
                        let what = "the answer of `logged-models/search`";
                        for item in Fields::new(&v, what)?.list("models")? {
                            out.push(logged_model(item)?);
                        }
                        if !pages.advance(&v, "logged-models/search")? {
                            break;
                        }
                    }
                }
                let have: std::collections::HashSet<&str> =
                    out.iter().map(|m| m.model_id.as_str()).collect();
                pending.retain(|id| !have.contains(id.as_str()));
                if pending.is_empty() {
                    break;
                }
            }
            let next = pending.remove(0);
            match self.logged_model(next).await {
                Ok(m) => {
                    if !experiments.contains(&m.experiment_id) {
                        experiments.push(m.experiment_id.clone());
                    }
                    out.push(m);
                }
                Err(RegistryError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        // (Models fetched one by one have theirs already: no zero is left
        // to ask about.)
        self.restore_nans(&mut out).await?;
        let mut by_id: std::collections::HashMap<String, LoggedModel> =
            out.into_iter().map(|m| (m.model_id.clone(), m)).collect();
        Ok(model_ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    async fn list_artifacts(
        &self,
        owner: &ArtifactOwner,
        path: &str,
    ) -> Result<Vec<ArtifactEntry>> {
        artifacts::check_path(path, true)?;
        let (endpoint, query): (String, Vec<(&str, &str)>) = match owner {
            ArtifactOwner::Run(id) => (
                "artifacts/list".into(),
                vec![("run_id", id.as_str()), ("path", path)],
            ),
            ArtifactOwner::LoggedModel(id) => (
                format!("logged-models/{}/artifacts/directories", path_id(id)?),
                vec![("artifact_directory_path", path)],
            ),
        };
        let answer = self.get(&endpoint, &query).await?;
        let files = match answer.get("files") {
            // MLflow leaves out an empty list (and answers a missing
            // directory, or a file, with none).
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(files)) => files,
            Some(other) => {
                return Err(RegistryError::Invalid(format!(
                    "`{endpoint}` answered `files` as {}",
                    json_type(other)
                )));
            }
        };
        if files.len() > artifacts::MAX_ENTRIES {
            return Err(RegistryError::Unavailable(format!(
                "directory `{path}` of {} has more than {} entries",
                owner.describe(),
                artifacts::MAX_ENTRIES
            )));
        }
        let mut out = files
            .iter()
            .map(|f| {
                let o = Fields::new(f, "an artifact")?;
                let is_dir = match f.get("is_dir") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(other) => return Err(o.bad("is_dir", other, "a boolean")),
                };
                let size = o.opt_int("file_size")?;
                Ok(ArtifactEntry {
                    path: o.string("path")?,
                    is_dir,
                    size: if is_dir {
                        None
                    } else {
                        size.and_then(|n| u64::try_from(n).ok())
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // The paths are the root's, in the directory asked for
        // (`dir/file`): a server that answers anything else is not trusted
        // with them.
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        for e in &out {
            let under = e
                .path
                .strip_prefix(&prefix)
                .is_some_and(|name| !name.is_empty() && !name.contains('/'));
            if !under || artifacts::check_path(&e.path, false).is_err() {
                return Err(RegistryError::Invalid(format!(
                    "`{endpoint}` listed artifact `{}`, which is not an entry of directory `{path}`",
                    e.path.escape_debug()
                )));
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    async fn read_artifact(
        &self,
        owner: &ArtifactOwner,
        path: &str,
        max_bytes: u64,
    ) -> Result<ArtifactData> {
        artifacts::check_path(path, false)?;
        let (url, endpoint, query) = match owner {
            ArtifactOwner::Run(id) => (
                format!("{}/get-artifact", self.base),
                "get-artifact".to_string(),
                vec![("run_id", id.as_str()), ("path", path)],
            ),
            ArtifactOwner::LoggedModel(id) => {
                let endpoint = format!("logged-models/{}/artifacts/files", path_id(id)?);
                (
                    format!("{}/ajax-api/2.0/mlflow/{endpoint}", self.base),
                    endpoint,
                    vec![("artifact_file_path", path)],
                )
            }
        };
        let max = artifacts::capped(max_bytes);
        let answer = self
            .request(Method::GET, &url, &endpoint, &query, None, Cap::Keep(max))
            .await
            .map_err(|e| match e {
                // MLflow answers a directory with 400 "refers to a
                // directory": there is no file there.
                RegistryError::Invalid(m) if m.contains("refers to a directory") => {
                    RegistryError::NotFound(format!(
                        "artifact `{path}` of {} is not a file: {m}",
                        owner.describe()
                    ))
                }
                other => other,
            })?;
        let size = answer
            .length
            .or((!answer.truncated).then_some(answer.bytes.len() as u64));
        Ok(ArtifactData {
            path: path.to_string(),
            size,
            truncated: answer.truncated,
            data: answer.bytes,
        })
    }

    async fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>> {
        let mut out = Vec::new();
        let mut pages = Pages::new();
        let what = format!("a point of metric `{key}` of run `{run_id}`");
        loop {
            let mut q = vec![
                ("run_id", run_id),
                ("metric_key", key),
                ("max_results", "25000"),
            ];
            if let Some(t) = pages.token() {
                q.push(("page_token", t));
            }
            let v = self.get("metrics/get-history", &q).await?;
            for item in Fields::new(&v, "the answer of `metrics/get-history`")?.list("metrics")? {
                out.push(metric_point(item, &what)?.1);
            }
            if !pages.advance(&v, "metrics/get-history")? {
                break;
            }
        }
        out.sort_by_key(|a| (a.step, a.timestamp));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that keeps every connection open and answers `{}` to every
    /// request on it; the request heads it saw, by connection.
    async fn keep_alive_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<String>>::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let index = {
                    let mut log = log.lock().expect("log");
                    log.push(Vec::new());
                    log.len() - 1
                };
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while let Ok(n) = conn.read(&mut chunk).await {
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head: Vec<u8> = buf.drain(..end + 4).collect();
                            log.lock().expect("log")[index]
                                .push(String::from_utf8_lossy(&head).to_lowercase());
                            let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                            if conn.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (base, seen)
    }

    #[tokio::test]
    async fn plain_http_gives_every_request_a_connection_of_its_own() {
        // MLflow's default multi-worker server stalls every answer on a
        // kept-alive connection for the client's delayed ACK (see
        // `RestRegistry::new`): over plain HTTP no connection is reused,
        // even by a server willing to keep it.
        let (base, seen) = keep_alive_server().await;
        let registry = RestRegistry::new(&base).expect("client");
        for _ in 0..3 {
            registry
                .get("registered-models/get", &[("name", "m")])
                .await
                .expect("answered");
        }
        let seen = seen.lock().expect("log").clone();
        assert_eq!(seen.len(), 3, "one connection per request: {seen:?}");
        for requests in &seen {
            assert_eq!(requests.len(), 1, "{seen:?}");
            assert!(
                requests[0].contains("\r\nconnection: close\r\n"),
                "{requests:?}"
            );
        }
    }

    #[test]
    fn backoff_follows_urllib3() {
        let p = RetryPolicy {
            max_retries: 7,
            backoff_factor: 2.0,
            backoff_jitter: 0.0,
            timeout: Duration::from_secs(1),
            max_response: DEFAULT_MAX_RESPONSE,
        };
        let secs: Vec<f64> = (1..=8).map(|r| p.backoff(r, 0.5).as_secs_f64()).collect();
        assert_eq!(secs, [0.0, 4.0, 8.0, 16.0, 32.0, 64.0, 120.0, 120.0]);
        // Extreme settings and retry counts stay finite and bounded.
        let wild = RetryPolicy {
            backoff_factor: 3600.0,
            backoff_jitter: 3600.0,
            ..p
        };
        assert!(wild.backoff(u32::MAX, f64::NAN) <= MAX_RETRY_WAIT);
        assert!(wild.backoff(40, 1.0) <= MAX_RETRY_WAIT);
    }

    #[test]
    fn hostile_numbers_never_panic() {
        for bad in ["nan", "NaN", "inf", "-inf", "-1", "1e400", "lots"] {
            for var in [
                "MLFLOW_HTTP_REQUEST_TIMEOUT",
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
                "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER",
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                "MODELGATE_MAX_RESPONSE_SIZE",
            ] {
                let err = RetryPolicy::from_lookup(|n| (n == var).then(|| bad.to_string()))
                    .expect_err("refused");
                assert!(format!("{err:#}").contains(var), "{var}={bad}: {err:#}");
            }
        }
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(parse_retry_after("inf"), None);
        assert_eq!(parse_retry_after("-3"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("1e300"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after(" 2.5 "),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(secs_to_duration(f64::NAN, MAX_RETRY_WAIT), Duration::ZERO);
        assert_eq!(
            secs_to_duration(f64::INFINITY, MAX_RETRY_WAIT),
            MAX_RETRY_WAIT
        );
    }

    #[test]
    fn malformed_versions_name_the_field() {
        let base = serde_json::json!({"name": "m", "version": "3", "status": "READY"});
        model_version(&base).expect("valid");
        for (patch, field) in [
            (serde_json::json!({"status": null}), "`status` is null"),
            (serde_json::json!({"status": 1}), "`status` is a number"),
            (serde_json::json!({"version": "x"}), "`version` is a string"),
            (serde_json::json!({"version": -1}), "`version` is a number"),
            (serde_json::json!({"run_id": 7}), "`run_id` is a number"),
            (
                serde_json::json!({"aliases": "champion"}),
                "`aliases` is a string",
            ),
            (
                serde_json::json!({"tags": [{"value": "v"}]}),
                "`key` is missing",
            ),
        ] {
            let mut v = base.clone();
            for (k, x) in patch.as_object().expect("object") {
                v[k] = x.clone();
            }
            let err = model_version(&v).expect_err("malformed");
            assert!(err.to_string().contains(field), "{patch}: {err}");
            assert!(matches!(err, RegistryError::Invalid(_)));
        }
        let mut v = base.clone();
        v.as_object_mut().expect("object").remove("status");
        let err = model_version(&v).expect_err("no status");
        assert_eq!(
            err.to_string(),
            "model version `m` 3: field `status` is missing"
        );
        let bad_metric = serde_json::json!({
            "info": {"run_id": "r"},
            "data": {"metrics": [{"key": "score", "value": {"x": 1}}]}
        });
        assert!(
            run(&bad_metric)
                .expect_err("bad")
                .to_string()
                .contains("`value` is an object")
        );
    }

    #[test]
    fn pages_end() {
        let mut p = Pages::new();
        assert!(
            p.advance(&serde_json::json!({"next_page_token": "a"}), "e")
                .expect("more")
        );
        assert_eq!(p.token(), Some("a"));
        assert!(
            p.advance(&serde_json::json!({"next_page_token": "a"}), "e")
                .is_err(),
            "a repeated token is a loop"
        );
        let mut p = Pages::new();
        let mut n = 0;
        let err = loop {
            n += 1;
            match p.advance(
                &serde_json::json!({"next_page_token": format!("t{n}")}),
                "e",
            ) {
                Ok(true) => {}
                Ok(false) => panic!("ended"),
                Err(e) => break e,
            }
        };
        assert_eq!(n, MAX_PAGES);
        assert!(err.to_string().contains("at most 1000"));
        assert!(
            !Pages::new()
                .advance(&serde_json::json!({}), "e")
                .expect("done")
        );
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
            RegistryError::Unauthenticated(_)
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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn arb_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(
                    |f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
                ),
                "\\PC{0,12}".prop_map(Value::from),
                proptest::sample::select(vec!["NaN", "Infinity", "-inf", "READY", "1", "-1", ""])
                    .prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 64, 8, |inner| {
                let keys = proptest::sample::select(vec![
                    "name",
                    "version",
                    "status",
                    "run_id",
                    "aliases",
                    "tags",
                    "key",
                    "value",
                    "info",
                    "data",
                    "metrics",
                    "params",
                    "run_uuid",
                    "timestamp",
                    "step",
                    "next_page_token",
                    "model_versions",
                    "other",
                ]);
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    proptest::collection::btree_map(keys, inner, 0..8).prop_map(|m| {
                        Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                    }),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any answer is parsed or refused as `Invalid`; never a panic,
            /// never another kind of error.
            #[test]
            fn any_answer_is_parsed_or_invalid(v in arb_json()) {
                // `parse_any_answer` panics on an error of another kind.
                let bytes = serde_json::to_vec(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
                parse_any_answer(&bytes);
            }

            /// A well-formed version reads back exactly, whichever way MLflow
            /// spells its numbers.
            #[test]
            fn versions_read_back(
                name in "\\PC{1,30}",
                version in 1u64..(1u64 << 53),
                as_string in any::<bool>(),
                status in "[A-Z_]{1,24}",
                run_id in proptest::option::of("[0-9a-f]{32}"),
                aliases in proptest::collection::vec("[a-z]{1,10}", 0..4),
            ) {
                let number = if as_string { Value::from(version.to_string()) } else { Value::from(version) };
                let mut v = serde_json::json!({
                    "name": name, "version": number, "status": status, "aliases": aliases,
                });
                if let Some(id) = &run_id {
                    v["run_id"] = Value::from(id.clone());
                }
                let mv = model_version(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(mv.name, name);
                prop_assert_eq!(mv.version, version);
                prop_assert_eq!(mv.status, status);
                prop_assert_eq!(mv.run_id, run_id);
                prop_assert_eq!(mv.aliases, aliases);
            }

            /// Without its name, number or status a version is never read.
            #[test]
            fn required_fields_are_required(
                field in proptest::sample::select(vec!["name", "version", "status"]),
                replacement in prop_oneof![Just(None), Just(Some(Value::Null)), Just(Some(Value::from(true))), Just(Some(serde_json::json!({})))],
            ) {
                let mut v = serde_json::json!({"name": "m", "version": "1", "status": "READY"});
                match replacement {
                    None => { v.as_object_mut().map(|o| o.remove(field)); }
                    Some(x) => v[field] = x,
                }
                let err = model_version(&v).expect_err("refused");
                prop_assert!(err.to_string().contains(&format!("`{field}`")), "{}", err);
            }
        }
    }
}
