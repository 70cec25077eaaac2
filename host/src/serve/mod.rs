//! `modelgate serve`: every new model version judged, recorded and (on a
//! pass) promoted, from MLflow webhooks with a polling fallback.
//!
//! At start every gate of every project is prepared once (a configuration
//! problem is exit 2, as for `validate`). Then three things run:
//!
//! - the **HTTP server** (`POST /webhooks/mlflow`, `GET /healthz`,
//!   `GET /metrics`): a delivery is authenticated ([`webhook`]), turned into
//!   a queued version and answered at once; judging is asynchronous;
//! - the **poller**: at start (catch-up) and every `--poll`, one read per
//!   model lists its versions, queues every READY one without a current
//!   verdict ([`crate::record::current_verdict`]) and reconciles the alias;
//! - the **workers** (`--jobs`): each takes a version off the queue, waits
//!   (bounded) while it is `PENDING_REGISTRATION`, skips it when it already
//!   carries a current verdict, judges it with the [`Runner`], records the
//!   verdict by the record protocol of [`crate::record`] and reconciles the
//!   alias.
//!
//! It is level-triggered: the registry's tags are the only state, and each
//! poll and judgement converges them to what the plan implies — every
//! version with a current verdict, `--promote ALIAS` on the newest that
//! passed, forward only (`Service::promote_newest`). A delivery only
//! makes that happen sooner, so a lost delivery, a restart, a `kill -9`
//! between any two writes or a tag edited by hand is repaired by the next
//! reconcile. Concurrent requests for one version collapse into one
//! judgement; a tag change that a gate reads (the keys of a `builtin:tags`
//! gate) while it is judged queues one more. With `--shard K/N` ([`Shard`])
//! this replica owns, judges and promotes only its share of the models, so
//! N replicas have one promoter per model without talking to each other.

pub mod http;
pub mod metrics;
pub mod page;
pub mod webhook;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use tokio::sync::mpsc;

use crate::candidate::{Candidate, Selector};
use crate::error::with_hint;
use crate::judge::pipeline::{self, Target};
use crate::judge::{Context, Runner};
use crate::record::{Promotion, Recorder};
use crate::registry::cached::CachedRegistry;
use crate::registry::uri::TrackingUri;
use crate::registry::writer::RegistryWriter;
use crate::registry::{RegistryError, SharedRegistry, VersionStatus};

use metrics::Metrics;
use webhook::{Event, Refusal, SeenIds};

/// How long a version may stay `PENDING_REGISTRATION` before the worker
/// gives up on it (the poller finds it again once it is READY).
pub const PENDING_WAIT: Duration = Duration::from_secs(60);
/// How often a pending version is re-read.
const PENDING_STEP: Duration = Duration::from_millis(100);
/// Most versions queued or being judged at once; past it, requests are
/// dropped (and counted) — the poller finds the versions later.
pub const MAX_QUEUE: usize = 100_000;

/// What `serve` was asked to do.
pub struct Options {
    /// The project directories (or files).
    pub projects: Vec<PathBuf>,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Poll interval; `None`: only the catch-up at start.
    pub poll: Option<Duration>,
    /// The alias to promote on a pass.
    pub promote: Option<String>,
    /// Judgements at once.
    pub jobs: usize,
    /// The tracking URI flag.
    pub tracking_uri: Option<String>,
    /// Deadline of one judgement.
    pub timeout: Duration,
    /// Log lines as JSON.
    pub log_json: bool,
    /// How long in-flight judgements may take to finish at shutdown.
    pub drain: Duration,
    /// This replica's share of the models, when there are several.
    pub shard: Option<Shard>,
    /// How long after its judgement an `error` verdict is judged again at
    /// least (see [`error_retry_after`]); `None`: never.
    pub retry_errors: Option<Duration>,
    /// Serve the page at `GET /` ([`page`]).
    pub ui: bool,
}

/// The longest wait between two judgements of a version whose verdict
/// stays `error`.
pub const MAX_ERROR_RETRY: Duration = Duration::from_secs(6 * 3600);

/// How long after its last judgement a version whose verdict is `error`
/// is judged again: as long as the version was old when it was judged
/// (`age`, from its registration), at least `first` and at most
/// [`MAX_ERROR_RETRY`]. Each `error` again is judged older, so the waits
/// double, from what the registry says alone: no count to lose when
/// `serve` restarts, the same for every replica, and a restart does not
/// judge every old `error` again at once. An `error` is a gate that could
/// not decide (the registry down, a process killed): not a pass, and not a
/// verdict to keep for good either, or a version that would pass is never
/// promoted.
pub fn error_retry_after(first: Duration, age: Duration) -> Duration {
    age.max(first).min(MAX_ERROR_RETRY.max(first))
}

/// Replica `index` of `count`: it owns the models whose name hashes to it
/// ([`Shard::owns`]), so that every model has one judge and one promoter
/// however many replicas run, with nothing to coordinate but `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This replica, from 0.
    pub index: u32,
    /// How many there are.
    pub count: u32,
}

/// Most replicas `--shard` takes.
pub const MAX_SHARDS: u32 = 1024;

impl Shard {
    /// `K/N`, with K < N ≤ [`MAX_SHARDS`].
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not K/N (e.g. 0/3)"))?;
        let index: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("`{k}` in `{text}` is not a replica index"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{n}` in `{text}` is not a replica count"))?;
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(format!(
                "`{text}`: K must be below N, and N from 1 to {MAX_SHARDS}"
            ));
        }
        Ok(Shard { index, count })
    }

    /// The replica that owns `model`: the first 8 bytes of its name's
    /// sha256, modulo the count — the same on every replica and release.
    pub fn owner(model: &str, count: u32) -> u32 {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(model.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(first) % u64::from(count)) as u32
    }

    /// True when this replica owns `model`.
    pub fn owns(&self, model: &str) -> bool {
        Shard::owner(model, self.count) == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A model this service judges.
struct Served {
    runner: Arc<Runner>,
    /// Index into `runner.models`.
    index: usize,
    /// The project file, for reports.
    project: String,
    /// `modelgate.plan` of its gates.
    plan: String,
    /// Its gates' tag keys, in plan order (a record's seal covers them).
    gate_keys: Vec<String>,
    /// Version tags its gates read (the keys of `builtin:tags` gates),
    /// sorted: a record's seal covers their values.
    read_keys: Vec<String>,
    /// Held while the alias is re-read and moved: two workers of this
    /// process never race each other for it.
    promoting: tokio::sync::Mutex<()>,
}

/// Where one version stands in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Waiting; `force` judges it even when it already has a verdict.
    Queued { force: bool },
    /// Being judged; `again` queues it once more afterwards.
    Running { again: bool },
}

type Key = (String, u64);

struct Service {
    models: HashMap<String, Served>,
    /// Gated models another replica owns (`--shard`).
    others: HashSet<String>,
    shard: Option<Shard>,
    registry: SharedRegistry,
    writer: Box<dyn RegistryWriter>,
    tracking: TrackingUri,
    promote: Option<String>,
    timeout: Duration,
    secret: Option<Vec<u8>>,
    seen: Mutex<SeenIds>,
    pending: Mutex<HashMap<Key, Pending>>,
    queue: mpsc::UnboundedSender<Key>,
    metrics: Metrics,
    log_json: bool,
    /// When the service started, Unix seconds: a delivery signed before it
    /// is a replay (the catch-up poll at start covered whatever it said).
    started: i64,
    /// Delivery bodies being read at once (their senders not yet known).
    body_reads: tokio::sync::Semaphore,
    /// The HTTP front's connection counts, for `/metrics`.
    front: http::Front,
    /// Versions a delivery announced (or a poll already reported as not
    /// announced), at most [`MAX_ANNOUNCED`]: a poll that finds another new
    /// one says deliveries are not arriving.
    announced: Mutex<std::collections::HashSet<Key>>,
    /// Versions a poll found new and not announced, with when they were
    /// registered: reported once [`ANNOUNCE_GRACE_S`] has passed without a
    /// delivery for them (at most [`MAX_ANNOUNCED`]).
    suspects: Mutex<HashMap<Key, i64>>,
    /// `--retry-errors`.
    retry_errors: Option<Duration>,
    /// The page's shared builds and event streams.
    ui: page::Ui,
}

/// Versions remembered as announced; past it the memory starts again (a
/// version judged since is not polled again, so nothing is reported twice
/// for long).
const MAX_ANNOUNCED: usize = 100_000;

/// A version a poll found is reported as not announced only when no
/// delivery came for it within this long of its registration (MLflow
/// delivers within milliseconds; a delivery in flight is not a missing one).
const ANNOUNCE_GRACE_S: i64 = 10;

/// Every model of every project with its gates prepared, and the first
/// project's directory (where a relative tracking URI is resolved).
/// With `--shard`, the gated models other replicas own are left out, and
/// named in the second set.
async fn load_models(
    opts: &Options,
) -> anyhow::Result<(HashMap<String, Served>, HashSet<String>, PathBuf)> {
    let mut models = HashMap::new();
    let mut first_dir = None;
    for p in &opts.projects {
        let (project, plan) = crate::plan::load(p)?;
        first_dir.get_or_insert(project.dir.clone());
        let gated = plan.select(None, &project.file)?;
        // Each worker judges one version at a time, its gates in turn.
        crate::gate::wasm::WasmHost::size_pool(opts.jobs.max(1));
        let runner = Arc::new(Runner::prepare(&gated, &project.dir).await?);
        for (index, m) in runner.models.iter().enumerate() {
            let served = Served {
                runner: runner.clone(),
                index,
                project: project.file.display().to_string(),
                plan: crate::record::plan_digest(m),
                gate_keys: m
                    .gates
                    .iter()
                    .map(|g| crate::record::gate_key(&g.gate.name))
                    .collect(),
                read_keys: m.tags_read().into_iter().collect(),
                promoting: tokio::sync::Mutex::new(()),
            };
            if let Some(other) = models.insert(m.name.clone(), served) {
                return Err(with_hint(
                    anyhow::anyhow!(
                        "model `{}` is in both `{}` and `{}`",
                        m.name,
                        other.project,
                        project.file.display()
                    ),
                    "a model is judged by one project; remove it from one of them",
                ));
            }
        }
    }
    let mut others = HashSet::new();
    if let Some(shard) = opts.shard {
        models.retain(|name, _| {
            let mine = shard.owns(name);
            if !mine {
                others.insert(name.clone());
            }
            mine
        });
    }
    Ok((models, others, first_dir.context("no project given")?))
}

/// `jobs` workers sharing one receiver; `stop` ends them between
/// judgements.
fn spawn_workers(
    service: &Arc<Service>,
    rx: mpsc::UnboundedReceiver<Key>,
    jobs: usize,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinSet<()> {
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..jobs {
        let (service, rx, mut stop) = (service.clone(), rx.clone(), stop.clone());
        workers.spawn(async move {
            loop {
                let next = tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => None,
                    k = async { rx.lock().await.recv().await } => k,
                };
                let Some(key) = next else { break };
                service.work(key).await;
            }
        });
    }
    workers
}

/// The catch-up poll at start, then one every `every`.
fn spawn_poller(service: &Arc<Service>, every: Option<Duration>) -> tokio::task::JoinHandle<()> {
    let service = service.clone();
    tokio::spawn(async move {
        let queued = service.poll_once(false).await;
        service.log(&[
            ("event", "caught_up".into()),
            ("queued", queued.to_string()),
        ]);
        while let Some(every) = every {
            tokio::time::sleep(every).await;
            service.poll_once(true).await;
        }
    })
}

/// `MODELGATE_WEBHOOK_SECRET`: `None` when unset (polling only), an error
/// when set but empty.
fn webhook_secret() -> anyhow::Result<Option<Vec<u8>>> {
    match std::env::var("MODELGATE_WEBHOOK_SECRET") {
        Ok(s) if s.is_empty() => Err(with_hint(
            anyhow::anyhow!("MODELGATE_WEBHOOK_SECRET is empty"),
            "set it to the webhook's secret, or unset it to rely on polling",
        )),
        Ok(s) => Ok(Some(s.into_bytes())),
        Err(_) => Ok(None),
    }
}

/// Runs the service until SIGTERM or SIGINT.
pub async fn serve(opts: Options) -> anyhow::Result<()> {
    let (models, others, dir) = load_models(&opts).await?;
    let (tracking, registry) = crate::registry::connect(opts.tracking_uri.as_deref(), &dir)?;
    let writer = crate::registry::writer::open(&tracking)?;
    let secret = webhook_secret()?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("failed to listen on {}", opts.listen))
        .map_err(|e| with_hint(e, "pick another address with `--listen HOST:PORT`"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let service = Arc::new(Service {
        models,
        others,
        shard: opts.shard,
        registry,
        writer,
        tracking,
        promote: opts.promote.clone(),
        timeout: opts.timeout,
        secret,
        seen: Mutex::new(SeenIds::default()),
        pending: Mutex::new(HashMap::new()),
        queue: tx,
        metrics: Metrics::default(),
        log_json: opts.log_json,
        started: unix_now(),
        body_reads: tokio::sync::Semaphore::new(MAX_BODY_READS),
        front: http::front(),
        announced: Mutex::new(std::collections::HashSet::new()),
        suspects: Mutex::new(HashMap::new()),
        retry_errors: opts.retry_errors,
        ui: page::Ui::default(),
    });
    let local = listener.local_addr().unwrap_or(opts.listen);
    service.log_listening(local);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut workers = spawn_workers(&service, rx, opts.jobs.max(1), &stop_rx);
    let poller = spawn_poller(&service, opts.poll);
    let mut app = axum::Router::new()
        .route("/webhooks/mlflow", axum::routing::post(delivery))
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .route("/metrics", axum::routing::get(metrics_page));
    if opts.ui {
        app = page::routes(app);
    }
    let app = app
        // The delivery handler bounds its body itself (and counts refusals).
        .layer(DefaultBodyLimit::disable())
        .with_state(service.clone());
    let front = tokio::spawn(http::serve(
        listener,
        app,
        stop_rx.clone(),
        opts.drain,
        service.front.clone(),
    ));
    shutdown_signal().await;

    // Stop intake, then let in-flight requests and judgements finish
    // (within --drain, together); what is queued but not started is left
    // to the next start's catch-up.
    poller.abort();
    service.log(&[("event", "stopping".into())]);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(opts.drain, async {
        while workers.join_next().await.is_some() {}
        let _ = front.await;
    })
    .await;
    if drained.is_err() {
        workers.abort_all();
        service.log(&[
            ("event", "stopped".into()),
            (
                "drained",
                "no: judgements still running were abandoned unrecorded".into(),
            ),
        ]);
    } else {
        service.log(&[("event", "stopped".into())]);
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn metrics_page(State(service): State<Arc<Service>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        service.metrics.render_with(
            service.front.open(),
            service.front.evicted(),
            MAX_BODY_READS - service.body_reads.available_permits(),
        ),
    )
}

/// Delivery bodies read at once, their senders not yet known: 16. With
/// [`webhook::MAX_BODY`] each, what unauthenticated clients can make
/// `serve` hold in bodies is 16 MiB, whatever their number; a delivery
/// past it is answered 503 at once (MLflow retries, and the poller finds
/// the version anyway).
pub const MAX_BODY_READS: usize = 16;
/// Longest a delivery's body may take to arrive once its headers are in:
/// 10 s (MLflow sends a few hundred bytes at once).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Unix seconds now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn delivery(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> impl IntoResponse {
    use http_body_util::BodyExt as _;
    // What costs nothing is checked before a byte of the body is read:
    // a secret to check against, the type, the signature headers and the
    // timestamp's window, and a declared length within the limit.
    let signed = service.precheck(&headers);
    let read = match signed {
        Err(why) => Err(why),
        Ok(signed) => match service.body_reads.try_acquire() {
            Err(_) => Err(Refusal::Busy),
            Ok(_reading) => {
                // Read at most MAX_BODY bytes, whatever Content-Length
                // says, within BODY_TIMEOUT.
                let read = tokio::time::timeout(
                    BODY_TIMEOUT,
                    http_body_util::Limited::new(body, webhook::MAX_BODY).collect(),
                )
                .await;
                match read {
                    Err(_) => Err(Refusal::SlowBody),
                    Ok(Err(e)) => Err(
                        if e.downcast_ref::<http_body_util::LengthLimitError>()
                            .is_some()
                        {
                            Refusal::TooLarge
                        } else {
                            Refusal::Malformed
                        },
                    ),
                    Ok(Ok(c)) => Ok((signed, c.to_bytes())),
                }
            }
        },
    };
    match read.and_then(|(signed, body)| service.accept(&signed, &body)) {
        Ok(what) => (StatusCode::OK, format!("{what}\n")),
        Err(why) => {
            service.metrics.refused(why);
            service.log(&[("event", "refused".into()), ("reason", why.reason().into())]);
            (
                StatusCode::from_u16(why.status()).unwrap_or(StatusCode::BAD_REQUEST),
                format!("refused: {}\n", why.reason()),
            )
        }
    }
}

impl Service {
    /// The checks of a delivery that need no body (see [`webhook::precheck`]).
    fn precheck(&self, headers: &HeaderMap) -> Result<webhook::Signed, Refusal> {
        if self.secret.is_none() {
            // Without a secret nothing can be verified: refuse everything.
            return Err(Refusal::Unsigned);
        }
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if length.is_some_and(|n| n > webhook::MAX_BODY as u64) {
            return Err(Refusal::TooLarge);
        }
        let signed = webhook::precheck(headers, unix_now(), self.started)?;
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(Refusal::NotJson);
        }
        if length.is_none() {
            return Err(Refusal::NoLength);
        }
        Ok(signed)
    }

    /// Authenticates and acts on one delivery; says what was done.
    fn accept(&self, signed: &webhook::Signed, body: &[u8]) -> Result<&'static str, Refusal> {
        let Some(secret) = &self.secret else {
            return Err(Refusal::Unsigned);
        };
        webhook::authenticate(secret, signed, body, unix_now(), &self.seen)?;
        let event = webhook::parse(body)?;
        self.metrics.delivered();
        let (model, version, force, kind) = match &event {
            Event::Created { model, version } => {
                self.announce(model, *version);
                self.metrics
                    .deliveries_missing
                    .store(0, std::sync::atomic::Ordering::Relaxed);
                (model, *version, false, "created")
            }
            Event::TagSet {
                model,
                version,
                key,
                value,
                deleted,
            } => {
                let Some(served) = self.models.get(model) else {
                    return Ok(self.not_gated(model));
                };
                if key == crate::record::VERDICT
                    && !deleted
                    && value.as_deref() == Some(crate::record::PENDING)
                {
                    // A record being written (by this replica or another
                    // writer): its verdict will come, or it reads as not
                    // judged and a poll judges it.
                    return Ok("ignored: a record is being written");
                } else if key == crate::record::VERDICT {
                    // A verdict written (by a record, or by hand): checked
                    // against its seal, judged again when not current.
                    (model, *version, false, "verdict_set")
                } else if key.starts_with("modelgate.")
                    || !served.read_keys.iter().any(|k| k == key)
                {
                    return Ok("ignored: no gate reads this tag");
                } else if *deleted {
                    (model, *version, true, "tag_deleted")
                } else {
                    (model, *version, true, "tag_set")
                }
            }
            Event::Other(what) => {
                self.log(&[("event", "ignored".into()), ("delivery", what.clone())]);
                return Ok("ignored: not an event modelgate acts on");
            }
        };
        if !self.models.contains_key(model) {
            return Ok(self.not_gated(model));
        }
        self.log(&[
            ("event", kind.into()),
            ("model", model.clone()),
            ("version", version.to_string()),
        ]);
        self.enqueue(model, version, force);
        Ok("queued")
    }

    /// The line that says the service is up, and what it serves.
    fn log_listening(&self, local: SocketAddr) {
        let mut names: Vec<&str> = self.models.keys().map(String::as_str).collect();
        names.sort_unstable();
        self.log(&[
            ("event", "listening".into()),
            ("address", local.to_string()),
            ("models", names.join(",")),
            ("registry", self.tracking.as_str().to_string()),
            (
                "shard",
                self.shard
                    .map_or_else(|| "all".to_string(), |s| s.to_string()),
            ),
            (
                "webhooks",
                if self.secret.is_some() {
                    "on"
                } else {
                    "off (MODELGATE_WEBHOOK_SECRET unset)"
                }
                .into(),
            ),
        ]);
    }

    /// Queues a version, collapsing repeats.
    fn enqueue(&self, model: &str, version: u64, force: bool) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        let key = (model.to_string(), version);
        match pending.get_mut(&key) {
            Some(Pending::Queued { force: f }) => *f |= force,
            Some(Pending::Running { again }) => *again |= force,
            None => {
                if pending.len() >= MAX_QUEUE {
                    self.log(&[
                        ("event", "dropped".into()),
                        ("model", model.to_string()),
                        ("version", version.to_string()),
                        ("reason", "queue full".into()),
                    ]);
                    return;
                }
                pending.insert(key.clone(), Pending::Queued { force });
                self.metrics
                    .queue_depth
                    .store(pending.len() as u64, std::sync::atomic::Ordering::Relaxed);
                let _ = self.queue.send(key);
            }
        }
    }

    /// Takes one queued version through its judgement.
    async fn work(&self, key: Key) {
        let force = {
            let Ok(mut pending) = self.pending.lock() else {
                return;
            };
            match pending.get(&key).copied() {
                Some(Pending::Queued { force }) => {
                    pending.insert(key.clone(), Pending::Running { again: false });
                    force
                }
                _ => return,
            }
        };
        if let Err(e) = self.judge(&key.0, key.1, force).await {
            self.metrics.registry_error();
            self.log(&[
                ("event", "error".into()),
                ("model", key.0.clone()),
                ("version", key.1.to_string()),
                ("error", format!("{e:#}")),
            ]);
        }
        let again = {
            let Ok(mut pending) = self.pending.lock() else {
                return;
            };
            let again = matches!(pending.remove(&key), Some(Pending::Running { again: true }));
            self.metrics
                .queue_depth
                .store(pending.len() as u64, std::sync::atomic::Ordering::Relaxed);
            again
        };
        if again {
            self.enqueue(&key.0, key.1, true);
        }
    }

    /// The version, once it is READY: waits (until `wait_until`) while it is
    /// `PENDING_REGISTRATION`; `None` (logged) when it does not exist or
    /// will not be READY.
    async fn ready_version(
        &self,
        model: &str,
        version: u64,
        wait_until: Instant,
    ) -> anyhow::Result<Option<crate::registry::ModelVersion>> {
        loop {
            let mv = match self.registry.model_version(model, version).await {
                Ok(mv) => mv,
                Err(RegistryError::NotFound(_)) => {
                    self.log(&[
                        ("event", "skipped".into()),
                        ("model", model.to_string()),
                        ("version", version.to_string()),
                        ("reason", "no such version".into()),
                    ]);
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            };
            match mv.status() {
                VersionStatus::Ready => return Ok(Some(mv)),
                VersionStatus::Pending if Instant::now() < wait_until => {
                    tokio::time::sleep(PENDING_STEP).await;
                }
                _ => {
                    self.log(&[
                        ("event", "skipped".into()),
                        ("model", model.to_string()),
                        ("version", version.to_string()),
                        ("reason", format!("status {}", mv.status)),
                    ]);
                    return Ok(None);
                }
            }
        }
    }

    /// Judges, records and promotes one version (unless it is already
    /// judged under the current plan and `force` is off).
    async fn judge(&self, model: &str, version: u64, force: bool) -> anyhow::Result<()> {
        let served = self
            .models
            .get(model)
            .context("internal: an unknown model was queued")?;
        let start = Instant::now();
        let Some(mv) = self
            .ready_version(model, version, start + PENDING_WAIT)
            .await?
        else {
            return Ok(());
        };
        if !force && served.verdict_of(&mv).is_some() {
            self.metrics.skipped();
            return Ok(());
        }
        let candidate = Candidate {
            version: mv,
            selector: Selector::Version(version),
        };
        let ctx = Arc::new(Context {
            registry: Arc::new(CachedRegistry::new(self.registry.clone())),
            tracking: self.tracking.clone(),
            deadline: tokio::time::Instant::now() + self.timeout,
            // Warnings pass in the service: a version is held back only by
            // what fails.
            fail_on_warn: false,
        });
        let target = Target {
            model: served.index,
            candidate,
        };
        let mut recorder = Recorder::new(&served.runner, self.tracking.as_str(), &served.project)?;
        tokio::time::timeout(
            self.timeout,
            pipeline::run(&served.runner, &ctx, 1, vec![target], &mut recorder),
        )
        .await
        .map_err(|_| anyhow::anyhow!("the judgement ran past --timeout"))??;
        let verdict = recorder
            .judged()
            .first()
            .map(|j| j.verdict)
            .context("internal: the version was not judged")?;
        let mut line = vec![
            ("event", "judged".to_string()),
            ("model", model.to_string()),
            ("version", version.to_string()),
            ("verdict", verdict.to_string()),
            ("ms", String::new()),
        ];
        self.record(served, recorder, version, verdict, start, &mut line)
            .await?;
        line[4].1 = format!("{:.1}", start.elapsed().as_secs_f64() * 1e3);
        self.metrics.judged(verdict, start.elapsed());
        self.log(&line);
        // Then the alias where all of the model's verdicts say it belongs
        // (an older promotion lost, a newer version passed meanwhile).
        if self.promote.is_some() {
            match self.registry.model_versions(served.name()).await {
                Ok(versions) => self.reconcile_alias(served, &versions).await,
                Err(e) => {
                    self.metrics.registry_error();
                    self.log(&[
                        ("event", "reconcile_failed".into()),
                        ("model", model.to_string()),
                        ("error", e.to_string()),
                    ]);
                }
            }
        }
        // One new generation for the pages: the verdict and the alias, once
        // both are written.
        self.ui.changed();
        Ok(())
    }

    /// Records a judgement (through the recorder `validate --record`
    /// uses) and, on a pass, moves `--promote` forward onto the version at
    /// once (its alias read and moved: the short path a delivery takes);
    /// how long after `start` the verdict was written (`recorded_ms`) and
    /// what happened to the alias go on `line`. The judging caller then
    /// reconciles the alias with all of the model's verdicts. A record
    /// that fails even after retries is counted and left to the next
    /// reconcile: the version reads unjudged.
    async fn record(
        &self,
        served: &Served,
        recorder: Recorder,
        version: u64,
        verdict: crate::judge::Verdict,
        start: Instant,
        line: &mut Vec<(&'static str, String)>,
    ) -> anyhow::Result<()> {
        let recorded = recorder
            .finish(self.writer.as_ref(), self.registry.as_ref(), None, |_| {
                Ok(())
            })
            .await;
        if let Err(e) = recorded {
            self.metrics
                .record_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(e);
        }
        line.push((
            "recorded_ms",
            format!("{:.1}", start.elapsed().as_secs_f64() * 1e3),
        ));
        let Some(alias) = &self.promote else {
            return Ok(());
        };
        if verdict != crate::judge::Verdict::Pass || self.rejudge_pending(served.name(), version) {
            return Ok(());
        }
        let (Ok((_, done)) | Err(done)) = self.promote_to(served, alias, version).await;
        line.push(("alias", done));
        Ok(())
    }

    /// Moves `alias` forward onto `version` (serialised with this
    /// process's other promotions of the model, counted in the metrics):
    /// whether it moved and what was done, or the error, for the log.
    async fn promote_to(
        &self,
        served: &Served,
        alias: &str,
        version: u64,
    ) -> Result<(bool, String), String> {
        // Two workers of this process never race each other for the alias.
        let _held = served.promoting.lock().await;
        let done = crate::record::promote_forward(
            served.name(),
            version,
            self.registry.as_ref(),
            self.writer.as_ref(),
            alias,
        )
        .await;
        match done {
            Ok(p) => {
                let moved = matches!(p, Promotion::Moved { .. });
                if moved {
                    self.metrics.promoted();
                }
                Ok((moved, format!("{alias}: {p}")))
            }
            Err(e) => {
                self.metrics.registry_error();
                Err(format!("{alias}: {e:#}"))
            }
        }
    }

    /// [`Service::promote_newest`] over `versions`, logged when it moved
    /// the alias or failed to.
    async fn reconcile_alias(&self, served: &Served, versions: &[crate::registry::ModelVersion]) {
        let event = match self.promote_newest(served, versions).await {
            Some(Ok((true, done))) => ("promoted", done),
            Some(Err(e)) => ("promotion_failed", e),
            _ => return,
        };
        self.log(&[
            ("event", event.0.into()),
            ("model", served.name().to_string()),
            ("alias", event.1),
        ]);
    }

    /// True when `version` of `model` is to be judged again (a tag its
    /// gates read changed since its judgement began, or a re-judgement is
    /// queued): its recorded verdict may be stale, so no alias moves onto
    /// it until then.
    fn rejudge_pending(&self, model: &str, version: u64) -> bool {
        self.pending
            .lock()
            .map(|p| {
                matches!(
                    p.get(&(model.to_string(), version)),
                    Some(Pending::Queued { force: true } | Pending::Running { again: true })
                )
            })
            .unwrap_or(true)
    }

    /// The level-triggered promotion: `--promote ALIAS` onto the newest of
    /// `versions` (one model's, freshly listed) whose current verdict is
    /// `pass` and no re-judgement pending, forward only — whatever
    /// happened before (a promotion lost to a crash, a verdict repaired).
    /// Nothing when there is no such version or the alias is there or
    /// further already; else whether it moved and what was done, or the
    /// error, for the log.
    async fn promote_newest(
        &self,
        served: &Served,
        versions: &[crate::registry::ModelVersion],
    ) -> Option<Result<(bool, String), String>> {
        let alias = self.promote.as_ref()?;
        let newest = versions
            .iter()
            .filter(|v| {
                v.is_ready()
                    && served.verdict_of(v) == Some(crate::judge::Verdict::Pass)
                    && !self.rejudge_pending(served.name(), v.version)
            })
            .map(|v| v.version)
            .max()?;
        if versions
            .iter()
            .any(|v| v.version >= newest && v.aliases.iter().any(|a| a == alias))
        {
            return None;
        }
        Some(self.promote_to(served, alias, newest).await)
    }

    /// Remembers that a delivery announced `version` (or that it was
    /// reported as not announced); true the first time.
    fn announce(&self, model: &str, version: u64) -> bool {
        let Ok(mut seen) = self.announced.lock() else {
            return false;
        };
        if seen.len() >= MAX_ANNOUNCED {
            seen.clear();
        }
        seen.insert((model.to_string(), version))
    }

    /// Whether a delivery announced `version`.
    fn was_announced(&self, key: &Key) -> bool {
        self.announced
            .lock()
            .map(|s| s.contains(key))
            .unwrap_or(true)
    }

    /// Reports each suspect registered at least [`ANNOUNCE_GRACE_S`] ago
    /// that no delivery has announced since; how many.
    fn report_unannounced(&self, now: i64) -> usize {
        let due: Vec<Key> = match self.suspects.lock() {
            Ok(mut suspects) => {
                let due: Vec<Key> = suspects
                    .iter()
                    .filter(|(_, created)| now - **created >= ANNOUNCE_GRACE_S)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in &due {
                    suspects.remove(k);
                }
                due
            }
            Err(_) => return 0,
        };
        let mut reported = 0;
        for (model, version) in due {
            if !self.announce(&model, version) {
                continue;
            }
            reported += 1;
            self.metrics
                .unannounced
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.log(&[
                ("event", "unannounced".into()),
                ("model", model),
                ("version", version.to_string()),
                (
                    "hint",
                    "no webhook delivery announced this version: check `modelgate webhook create` (its test delivery says what to set, e.g. MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY on a server with several workers)".into(),
                ),
            ]);
        }
        reported
    }

    /// Queues every READY version of every model that has no verdict for
    /// the current plan: the catch-up at start, and (`periodic`) the
    /// polling fallback. With webhooks on, a version a periodic poll finds
    /// that was registered since `serve` started and that no delivery
    /// announced within [`ANNOUNCE_GRACE_S`] is reported by a later poll: a
    /// warning once per version, a counter, and a gauge that stays 1 until
    /// a delivery arrives again.
    async fn poll_once(&self, periodic: bool) -> usize {
        let mut queued = 0;
        let watch = periodic && self.secret.is_some();
        for (name, served) in &self.models {
            match self.registry.model_versions(name).await {
                Ok(versions) => {
                    for v in &versions {
                        let verdict = served.verdict_of(v);
                        if v.is_ready()
                            && verdict == Some(crate::judge::Verdict::Error)
                            && self.error_due(name, v, unix_now())
                        {
                            self.enqueue(name, v.version, true);
                            queued += 1;
                        }
                        if v.is_ready() && verdict.is_none() {
                            let key = (name.clone(), v.version);
                            let created = v.creation_timestamp.div_euclid(1000);
                            if watch
                                && created >= self.started
                                && !self.was_announced(&key)
                                && let Ok(mut suspects) = self.suspects.lock()
                                && suspects.len() < MAX_ANNOUNCED
                            {
                                suspects.entry(key).or_insert(created);
                            }
                            self.enqueue(name, v.version, false);
                            queued += 1;
                        }
                    }
                    self.reconcile_alias(served, &versions).await;
                }
                Err(RegistryError::NotFound(_)) => {}
                Err(e) => {
                    self.metrics.registry_error();
                    self.log(&[
                        ("event", "poll_failed".into()),
                        ("model", name.clone()),
                        ("error", e.to_string()),
                    ]);
                }
            }
        }
        if watch && self.report_unannounced(unix_now()) > 0 {
            // Until a delivery arrives again.
            self.metrics
                .deliveries_missing
                .store(1, std::sync::atomic::Ordering::Relaxed);
        }
        queued
    }

    /// True when `v` (of `model`), whose current verdict is `error`, is due
    /// to be judged again at `now` (Unix seconds): its `judged_at` lies
    /// [`error_retry_after`] behind, and it is not queued or being judged
    /// already. Logs it.
    fn error_due(&self, model: &str, v: &crate::registry::ModelVersion, now: i64) -> bool {
        let Some(first) = self.retry_errors else {
            return false;
        };
        let Some(judged_at) = v
            .tags
            .iter()
            .find(|t| t.key == crate::record::JUDGED_AT)
            .and_then(|t| crate::text::parse_rfc3339(&t.value))
        else {
            return false;
        };
        let secs = |s: i64| Duration::from_secs(u64::try_from(s).unwrap_or(0));
        let age = secs(judged_at - v.creation_timestamp.div_euclid(1000));
        let wait = error_retry_after(first, age);
        if secs(now - judged_at) < wait {
            return false;
        }
        let key = (model.to_string(), v.version);
        if self.pending.lock().map_or(true, |p| p.contains_key(&key)) {
            return false;
        }
        self.log(&[
            ("event", "retry_error".into()),
            ("model", model.to_string()),
            ("version", v.version.to_string()),
            (
                "judged_at",
                crate::text::rfc3339(std::time::UNIX_EPOCH + secs(judged_at)),
            ),
            ("waited_s", (now - judged_at).to_string()),
        ]);
        true
    }

    /// A signed delivery about a model no project of this `serve` gates
    /// (MLflow's "test webhook" ping names `example_model`; another
    /// service's models share the webhook): acknowledged, logged, nothing
    /// judged. A 4xx would make MLflow report the webhook as failing.
    fn not_gated(&self, model: &str) -> &'static str {
        if self.others.contains(model) {
            let count = self.shard.map_or(1, |s| s.count);
            self.log(&[
                ("event", "ignored".into()),
                ("model", model.to_string()),
                ("reason", "another_shard".into()),
                ("owner", format!("{}/{count}", Shard::owner(model, count))),
            ]);
            return "ignored: another replica owns the model";
        }
        self.log(&[
            ("event", "ignored".into()),
            ("model", model.to_string()),
            ("reason", "not_gated".into()),
        ]);
        "ignored: no project of this serve gates the model"
    }

    /// One log line on stderr: `key=value …`, or a JSON object.
    fn log(&self, fields: &[(&str, String)]) {
        let ts = crate::text::rfc3339_millis(std::time::SystemTime::now());
        let line = if self.log_json {
            let mut obj = serde_json::Map::new();
            obj.insert("ts".into(), ts.into());
            for (k, v) in fields {
                obj.insert((*k).into(), v.clone().into());
            }
            serde_json::Value::Object(obj).to_string()
        } else {
            let mut s = format!("{ts} modelgate serve:");
            for (k, v) in fields {
                let v = crate::text::clean_line(v);
                if v.contains(' ') || v.is_empty() {
                    s.push_str(&format!(" {k}={v:?}"));
                } else {
                    s.push_str(&format!(" {k}={v}"));
                }
            }
            s
        };
        crate::output::stderr(&format!("{line}\n"));
    }
}

impl Served {
    /// The registered model's name.
    fn name(&self) -> &str {
        &self.runner.models[self.index].name
    }

    /// The verdict `v` carries for this model's current plan, if a current
    /// one (see [`crate::record::current_verdict`]).
    fn verdict_of(&self, v: &crate::registry::ModelVersion) -> Option<crate::judge::Verdict> {
        crate::record::current_verdict(v, &self.plan, &self.gate_keys, &self.read_keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_verdict_waits_as_long_as_the_version_was_old() {
        let m = Duration::from_secs(60);
        let s = Duration::from_secs;
        // A new version: the first wait; then as old as it was.
        assert_eq!(error_retry_after(m, s(0)), m);
        assert_eq!(error_retry_after(m, s(61)), s(61));
        assert_eq!(error_retry_after(m, s(3 * 3600)), s(3 * 3600));
        // Bounded: an old version waits at most 6 h, never less than `first`.
        assert_eq!(error_retry_after(m, s(400 * 86_400)), MAX_ERROR_RETRY);
        assert_eq!(error_retry_after(s(86_400), s(0)), s(86_400));
        assert_eq!(
            error_retry_after(Duration::MAX, Duration::MAX),
            Duration::MAX
        );
        // Judged again each time it is due, its waits double.
        let (mut judged, mut waits) = (s(1), Vec::new());
        for _ in 0..6 {
            let wait = error_retry_after(m, judged);
            waits.push(wait.as_secs());
            judged += wait;
        }
        assert_eq!(waits, [60, 61, 122, 244, 488, 976]);
    }

    #[test]
    fn every_model_has_exactly_one_owner_and_shards_parse_strictly() {
        for n in 1..=5 {
            for m in ["a", "churn", "fraud-detector", "ünïcode", ""] {
                let owners: Vec<u32> = (0..n)
                    .filter(|k| {
                        Shard {
                            index: *k,
                            count: n,
                        }
                        .owns(m)
                    })
                    .collect();
                assert_eq!(owners.len(), 1, "{m} over {n}: {owners:?}");
                assert_eq!(owners[0], Shard::owner(m, n), "stable");
            }
        }
        // The hash spreads names: 300 models over 3 replicas.
        let mut per = [0; 3];
        for i in 0..300 {
            per[Shard::owner(&format!("model-{i}"), 3) as usize] += 1;
        }
        assert!(per.iter().all(|c| *c > 60), "{per:?}");
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["3/3", "0/0", "1", "a/2", "-1/2", "0/5000", "1/2/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
