//! `serve`'s page: `GET /` (every model it gates), `GET /models/NAME` (one
//! model: aliases, the latest versions with their verdicts and gates, the
//! trend of each metric its `builtin:threshold` gates hold to a threshold)
//! and `GET /events` (server-sent events: "a verdict was recorded", on
//! which the page reloads itself). `--ui off` turns all three off.
//!
//! No state of its own: everything shown is read from the registry (the
//! verdict tags the record wrote, the versions' aliases, the runs'
//! metrics) and from the plan and the `/metrics` counters. What a viewer
//! costs is bounded: a page is built at most once per [`PAGE_TTL`] per
//! path whatever the number of viewers (answers are shared), it reads a
//! fixed number of registry calls ([`MAX_VERSIONS`] runs and LoggedModels
//! at most, plus the model's version search; the index one search per
//! model for at most [`MAX_INDEX_MODELS`]), and at most [`MAX_WATCHERS`]
//! browsers hold an event stream. Nobody looking costs nothing.
//!
//! Safe by construction as the HTML report ([`crate::report::html`]): every
//! registry or project text escaped, a `Content-Security-Policy` header
//! that allows the page's one hashed script and style sheet and nothing
//! else, `X-Content-Type-Options: nosniff`, no framing, no referrer; the
//! tracking URI is shown without credentials (modelgate refuses URIs that
//! carry any).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Served, Service};
use crate::judge::Verdict;
use crate::registry::ModelVersion;
use crate::report::chart::{self, Series};
use crate::report::html::{self, esc};

/// How long a built page is served to every viewer before it is built
/// again: 250 ms. A verdict recorded shows within it (and the event that
/// reloads the page is sent after the record), and a thousand viewers
/// cost the registry what one does.
pub const PAGE_TTL: Duration = Duration::from_millis(250);
/// Versions shown on a model's page (the newest): 20, with their runs'
/// and LoggedModels' metrics read for the trend.
pub const MAX_VERSIONS: usize = 20;
/// Models shown on the index page with their versions (two registry calls
/// each: the registered model, the newest versions); the rest are listed
/// by name.
pub const MAX_INDEX_MODELS: usize = 50;
/// Versions shown per model on the index page: the newest 5.
pub const INDEX_VERSIONS: usize = 5;
/// Event streams open at once: 32. Past it a browser gets 503 and the
/// page's fallback refresh ([`FALLBACK_REFRESH_S`]).
pub const MAX_WATCHERS: usize = 32;
/// A page without a live event stream (scripts off, too many watchers)
/// reloads itself this often: 30 s (the script's fallback says the same).
pub const FALLBACK_REFRESH_S: u32 = 30;
/// An idle event stream says it is alive this often (a comment line), so
/// proxies keep it open and a dead browser is noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The page's one script. The page carries the generation of the records
/// it was built from (`#modelgate-generation`); the event stream says the
/// current one when it opens and after every record. A different one
/// reloads the page (at most every 250 ms): a record made while the page
/// was on its way, or while its stream was down, is not missed. A stream
/// refused (too many watchers) falls back to reloading every
/// [`FALLBACK_REFRESH_S`]. Each reload leaves why in `sessionStorage`
/// (`modelgate.reload`: `event`, `fallback`), for whoever asks the page.
pub const SCRIPT: &str = "(function(){var t=null,m=document.getElementById('modelgate-generation'),\
g=m?m.getAttribute('data-generation'):'';\
function again(why){try{sessionStorage.setItem('modelgate.reload',why)}catch(e){}location.reload()}\
var s=new EventSource('/events');\
s.onmessage=function(e){if(e.data!==g&&!t){t=setTimeout(function(){again('event')},250)}};\
s.onerror=function(){if(s.readyState===2){setTimeout(function(){again('fallback')},30000)}};})();";

/// Where a page says which generation of records it was built from; the
/// first element of its body, filled in by [`Ui::cached`].
const GENERATION_MARK: &str = "<div id=\"modelgate-generation\" data-generation=\"\" hidden></div>";

/// Built pages shared between viewers, and the event streams.
pub struct Ui {
    /// One slot per path: the index and the served models' pages only
    /// (an unknown model is answered without a slot).
    pages: Mutex<HashMap<String, Arc<Slot>>>,
    /// Bumped by every recorded verdict: a page built before it is stale.
    generation: AtomicU64,
    /// Pages being built at once, across paths.
    builds: tokio::sync::Semaphore,
    events: tokio::sync::broadcast::Sender<String>,
    watchers: Arc<tokio::sync::Semaphore>,
}

/// A path's last build; its lock is held while it is built again, so
/// viewers asking at once share one build.
#[derive(Default)]
struct Slot {
    built: tokio::sync::Mutex<Option<Built>>,
}

struct Built {
    /// When its registry reads began.
    started: Instant,
    /// [`Ui::generation`] then.
    generation: u64,
    page: Arc<String>,
}

/// Pages built at once across paths: 4 (each a bounded number of registry
/// calls).
pub const MAX_BUILDS: usize = 4;

impl Default for Ui {
    fn default() -> Self {
        Ui {
            pages: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            builds: tokio::sync::Semaphore::new(MAX_BUILDS),
            events: tokio::sync::broadcast::channel(64).0,
            watchers: Arc::new(tokio::sync::Semaphore::new(MAX_WATCHERS)),
        }
    }
}

impl Ui {
    /// Tells the open pages that a record was written (and makes every
    /// page built before it stale).
    pub fn changed(&self) {
        let now = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.events.send(now.to_string());
    }

    /// The current generation of records.
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The page at `key`: the last build when it began less than
    /// [`PAGE_TTL`] ago and no verdict was recorded since, else built by
    /// `build` (once, for every viewer asking meanwhile).
    async fn cached<F>(&self, key: &str, build: F) -> Arc<String>
    where
        F: std::future::Future<Output = String>,
    {
        let slot = match self.pages.lock() {
            Ok(mut pages) => pages.entry(key.to_string()).or_default().clone(),
            Err(_) => Arc::new(Slot::default()),
        };
        let mut built = slot.built.lock().await;
        if let Some(b) = built.as_ref()
            && b.started.elapsed() < PAGE_TTL
            && b.generation == self.generation.load(Ordering::SeqCst)
        {
            return b.page.clone();
        }
        let _permit = self.builds.acquire().await;
        let generation = self.generation.load(Ordering::SeqCst);
        let started = Instant::now();
        // The page says the generation its reads began at: the first mark
        // (the body's first element, before any registry text).
        let page = Arc::new(build.await.replacen(
            GENERATION_MARK,
            &GENERATION_MARK.replace(
                "data-generation=\"\"",
                &format!("data-generation=\"{generation}\""),
            ),
            1,
        ));
        *built = Some(Built {
            started,
            generation,
            page: page.clone(),
        });
        page
    }
}

/// The routes, added to `serve`'s router.
pub(super) fn routes(router: axum::Router<Arc<Service>>) -> axum::Router<Arc<Service>> {
    router
        .route("/", axum::routing::get(index))
        .route("/models/{name}", axum::routing::get(model_page))
        .route("/events", axum::routing::get(events))
}

/// An HTML answer with the page's security headers.
fn html_response(status: StatusCode, body: String) -> Response {
    let mut r = with_headers((status, body).into_response(), "text/html; charset=utf-8");
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}; frame-ancestors 'none'",
        html::csp(Some(SCRIPT))
    )) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// `r` as `content_type`, never cached, never sniffed: what every answer
/// of the page's routes carries.
fn with_headers(mut r: Response, content_type: &'static str) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn frame(title: &str, body: &str) -> String {
    let body = format!("{GENERATION_MARK}{body}");
    html::page(title, &body, Some(SCRIPT), Some(FALLBACK_REFRESH_S))
}

async fn index(State(service): State<Arc<Service>>) -> Response {
    let page = service
        .ui
        .cached("/", async { build_index(&service).await })
        .await;
    html_response(StatusCode::OK, (*page).clone())
}

async fn model_page(State(service): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    let Some(served) = service.models.get(&name) else {
        let body = format!(
            "<h1>Not gated here</h1><p>This service does not gate a model named <code>{}</code>.</p><p><a href=\"/\">All models</a></p>",
            esc(&name)
        );
        return html_response(StatusCode::NOT_FOUND, frame("modelgate: not found", &body));
    };
    let key = format!("/models/{name}");
    let page = service
        .ui
        .cached(&key, async { build_model(&service, &name, served).await })
        .await;
    html_response(StatusCode::OK, (*page).clone())
}

/// `text/event-stream`: one `data:` line per recorded verdict.
async fn events(State(service): State<Arc<Service>>) -> Response {
    let Ok(permit) = service.ui.watchers.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many pages are watching; they refresh on their own\n",
        )
            .into_response();
    };
    // Subscribed before the generation is read: no record falls between.
    let rx = service.ui.events.subscribe();
    let now = service.ui.generation();
    let first = futures::stream::once(async move {
        Ok::<_, std::convert::Infallible>(format!("retry: 1000\n\ndata: {now}\n\n"))
    });
    let state = (rx, permit, service.clone());
    let rest = futures::stream::unfold(state, |(mut rx, permit, service)| async move {
        let item = match tokio::time::timeout(KEEPALIVE, rx.recv()).await {
            Err(_) => ": alive\n\n".to_string(),
            Ok(Ok(what)) => format!("data: {what}\n\n"),
            // Missed some: the current generation says it all.
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                format!("data: {}\n\n", service.ui.generation())
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
        };
        Some((Ok(item), (rx, permit, service)))
    });
    let body = axum::body::Body::from_stream(futures::StreamExt::chain(first, rest));
    with_headers(body.into_response(), "text/event-stream")
}

/// The counters of `/metrics` a person watching wants: the same text,
/// read back.
fn counters(service: &Service) -> String {
    let text = service.metrics.render_with(
        service.front.open(),
        service.front.evicted(),
        super::MAX_BODY_READS - service.body_reads.available_permits(),
    );
    let wanted = [
        (
            "modelgate_judgements_total{verdict=\"pass\"}",
            "judged pass",
        ),
        (
            "modelgate_judgements_total{verdict=\"fail\"}",
            "judged fail",
        ),
        (
            "modelgate_judgements_total{verdict=\"error\"}",
            "judged error",
        ),
        ("modelgate_queue_depth", "queued or being judged"),
        ("modelgate_webhook_deliveries_total", "webhook deliveries"),
        ("modelgate_promotions_total", "promotions"),
        ("modelgate_registry_errors_total", "registry errors"),
        ("modelgate_record_failures_total", "records not written"),
        (
            "modelgate_unannounced_versions_total",
            "versions no delivery announced",
        ),
        ("modelgate_deliveries_missing", "deliveries missing"),
    ];
    let values: HashMap<&str, &str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .collect();
    let mut out = String::from("<section id=\"counters\"><h2>Service</h2><dl>");
    for (metric, label) in wanted {
        if let Some(v) = values.get(metric) {
            let _ = write!(
                out,
                "<dt>{label}</dt><dd data-metric=\"{}\">{}</dd>",
                esc(metric),
                esc(v)
            );
        }
    }
    out.push_str(
        "</dl><p class=\"muted\">the counters of <a href=\"/metrics\">/metrics</a></p></section>\n",
    );
    out
}

/// The header every page starts with.
fn heading(service: &Service, title: &str) -> String {
    format!(
        "<header class=\"verdict\"><nav><a href=\"/\">all models</a><a href=\"/metrics\">metrics</a></nav><h1>{}</h1>\
         <p class=\"muted\">registry <code>{}</code> · modelgate {}{}</p></header>\n",
        esc(title),
        esc(service.tracking.as_str()),
        env!("CARGO_PKG_VERSION"),
        service
            .promote
            .as_deref()
            .map(|a| format!(" · promotes <code>{}</code> on a pass", esc(a)))
            .unwrap_or_default()
    )
}

/// A version's recorded verdict as a badge: the verdict when it is
/// current for the plan, `stale` when it was reached under another plan
/// or its record does not hold together, `pending`, or `not judged`.
fn verdict_cell(served: &Served, v: &ModelVersion) -> (String, &'static str) {
    let tag = v
        .tags
        .iter()
        .find(|t| t.key == crate::record::VERDICT)
        .map(|t| t.value.as_str());
    match (served.verdict_of(v), tag) {
        (Some(verdict), _) => (verdict.as_str().to_string(), verdict.as_str()),
        (None, Some(crate::record::PENDING)) => ("pending".into(), "pending"),
        (None, Some(_)) => ("stale".into(), "stale"),
        (None, None) => ("not judged".into(), "none"),
    }
}

async fn build_index(service: &Service) -> String {
    let mut body = heading(service, "modelgate serve");
    let mut names: Vec<&String> = service.models.keys().collect();
    names.sort();
    body.push_str("<section id=\"models\"><h2>Models</h2><div class=\"scroll\"><table class=\"models\"><thead><tr><th>model</th><th>aliases</th><th>latest versions</th></tr></thead><tbody>\n");
    for (i, name) in names.iter().enumerate() {
        let served = &service.models[*name];
        let link = format!(
            "<a href=\"/models/{}\">{}</a>",
            esc(&url_segment(name)),
            esc(name)
        );
        if i >= MAX_INDEX_MODELS {
            let _ = writeln!(
                body,
                "<tr data-model=\"{}\"><td>{link}</td><td colspan=\"2\" class=\"muted\">see its page</td></tr>",
                esc(name)
            );
            continue;
        }
        let (versions, model) = futures::future::join(
            service.registry.latest_versions(name, INDEX_VERSIONS),
            service.registry.registered_model(name),
        )
        .await;
        let aliases = model.map(|m| alias_list(&m.aliases)).unwrap_or_default();
        let latest = match versions {
            Ok(versions) => {
                let mut latest = String::new();
                for v in &versions {
                    let (word, class) = verdict_cell(served, v);
                    let _ = write!(
                        latest,
                        "<span class=\"badge {class}\" data-version=\"{}\">v{} {word}</span> ",
                        v.version, v.version
                    );
                }
                latest
            }
            Err(e) => format!(
                "<span class=\"cause\">registry: {}</span>",
                esc(&e.to_string())
            ),
        };
        let _ = writeln!(
            body,
            "<tr data-model=\"{}\"><td>{link}</td><td>{aliases}</td><td>{latest}</td></tr>",
            esc(name)
        );
    }
    body.push_str("</tbody></table></div>");
    if !service.others.is_empty() {
        let _ = write!(
            body,
            "<p class=\"muted\">{} more gated models belong to other replicas (<code>--shard</code>).</p>",
            service.others.len()
        );
    }
    body.push_str("</section>\n");
    body.push_str(&counters(service));
    frame("modelgate serve", &body)
}

/// `champion → v3` for every alias of a registered model.
fn alias_list(aliases: &[(String, u64)]) -> String {
    let sorted: BTreeMap<&str, u64> = aliases.iter().map(|(a, v)| (a.as_str(), *v)).collect();
    sorted
        .iter()
        .map(|(a, v)| {
            format!(
                "<span class=\"alias\" data-alias=\"{0}\" data-version=\"{v}\"><code>{0}</code> → v{v}</span>",
                esc(a)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A path segment: every byte but unreserved ones percent-encoded.
fn url_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        // `.` too: a model named `..` must not become a path step.
        if b.is_ascii_alphanumeric() || b"-_~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A metric a `builtin:threshold` gate of a model compares.
struct Limit {
    gate: String,
    metric: String,
    /// Its `dataset:` (a LoggedModel metric of that dataset only).
    dataset: Option<String>,
    threshold: Option<f64>,
    greater_is_better: bool,
}

/// The metrics `builtin:threshold` gates of a model compare.
fn thresholds(served: &Served) -> Vec<Limit> {
    let mut out = Vec::new();
    let model = &served.runner.models[served.index];
    for g in &model.gates {
        let crate::judge::Ready::Wasm(p) = &g.ready else {
            continue;
        };
        if !crate::builtins::PluginRef::parse(&p.plugin).is_builtin("threshold") {
            continue;
        }
        let Some(metrics) = p.config_value.get("metrics").and_then(|m| m.as_object()) else {
            continue;
        };
        let default_dataset = p.config_value.get("dataset").and_then(|d| d.as_str());
        for (name, spec) in metrics {
            out.push(Limit {
                gate: g.gate.name.clone(),
                metric: name.clone(),
                dataset: spec
                    .get("dataset")
                    .and_then(|d| d.as_str())
                    .or(default_dataset)
                    .map(str::to_string),
                threshold: spec.get("threshold").and_then(|t| t.as_f64()),
                greater_is_better: spec
                    .get("greater_is_better")
                    .and_then(|g| g.as_bool())
                    .unwrap_or(true),
            });
        }
    }
    out
}

async fn build_model(service: &Service, name: &str, served: &Served) -> String {
    let mut body = heading(service, name);
    let (versions, model) = futures::future::join(
        service.registry.latest_versions(name, MAX_VERSIONS),
        service.registry.registered_model(name),
    )
    .await;
    let versions = match versions {
        Ok(v) => v,
        Err(e) => {
            let _ = write!(
                body,
                "<p class=\"cause\">The registry did not answer: {}</p><p class=\"muted\">hint: {}</p>",
                esc(&e.to_string()),
                esc(e.hint())
            );
            return frame(&format!("modelgate: {name}"), &body);
        }
    };
    let aliases = model.map(|m| alias_list(&m.aliases)).unwrap_or_default();
    let _ = writeln!(
        body,
        "<section id=\"aliases\"><h2>Aliases</h2><p>{}</p></section>",
        match aliases {
            s if s.is_empty() =>
                "<span class=\"muted\">none on the latest versions</span>".to_string(),
            s => s,
        }
    );
    // The metric values behind the trend: the runs', then the
    // LoggedModels' (MLflow 3), read at once, a fixed number of calls.
    let limits = thresholds(served);
    // Per version, the value of each limit (by its index).
    let mut values: HashMap<u64, Vec<Option<f64>>> = HashMap::new();
    if !limits.is_empty() {
        let run_ids: Vec<String> = versions.iter().filter_map(|v| v.run_id.clone()).collect();
        let model_ids: Vec<String> = versions.iter().filter_map(|v| v.model_id.clone()).collect();
        let (runs, logged) = futures::future::join(
            service.registry.runs(&run_ids),
            service.registry.logged_models(&model_ids),
        )
        .await;
        let runs: HashMap<String, crate::registry::Run> = runs
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.run_id.clone(), r))
            .collect();
        let logged: HashMap<String, crate::registry::LoggedModel> = logged
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.model_id.clone(), m))
            .collect();
        for v in &versions {
            let m = limits
                .iter()
                .map(|l| {
                    // The LoggedModel's first, as the gate reads it (of
                    // the `dataset:` when there is one), else the run's.
                    let from_model = v
                        .model_id
                        .as_ref()
                        .and_then(|id| logged.get(id))
                        .and_then(|lm| {
                            lm.metrics.iter().find(|x| {
                                x.key == l.metric
                                    && (l.dataset.is_none()
                                        || x.dataset_name.as_deref() == l.dataset.as_deref())
                            })
                        })
                        .map(|x| x.point.value);
                    let from_run = v
                        .run_id
                        .as_ref()
                        .and_then(|id| runs.get(id))
                        .and_then(|r| r.metric(&l.metric))
                        .filter(|_| l.dataset.is_none());
                    from_model.or(from_run).filter(|x| x.is_finite())
                })
                .collect();
            values.insert(v.version, m);
        }
    }
    // Charts: each metric over the judged versions, passed or not by the
    // version's verdict, with the gate's threshold.
    let mut figures = String::new();
    let value = |version: u64, i: usize| values.get(&version).and_then(|m| m[i]);
    for (i, l) in limits.iter().enumerate() {
        let mut s = Series {
            model: name.to_string(),
            gate: l.gate.clone(),
            metric: l.metric.clone(),
            ..Series::default()
        };
        let expected = chart::Expected {
            greater_is_better: Some(l.greater_is_better),
            bounds: l.threshold.iter().copied().collect(),
            thresholds: l.threshold.iter().copied().collect(),
            baselines: Vec::new(),
        };
        for v in versions.iter().rev() {
            let Some(verdict) = served.verdict_of(v) else {
                continue;
            };
            if let Some(x) = value(v.version, i) {
                s.add(v.version, x, verdict == Verdict::Pass, &expected);
            }
        }
        if !s.points.is_empty() {
            figures.push_str(&html::figure(&s));
        }
    }
    if !figures.is_empty() {
        let _ = writeln!(
            body,
            "<section id=\"charts\"><h2>Metrics</h2><p class=\"muted\">the judged versions among the latest {MAX_VERSIONS}; a mark is green when the version passed all its gates</p><div class=\"charts\">{figures}</div></section>"
        );
    }
    // The versions: verdict, gates, the metrics against their thresholds.
    let gate_names: Vec<&str> = served.runner.models[served.index]
        .gates
        .iter()
        .map(|g| g.gate.name.as_str())
        .collect();
    let _ = writeln!(
        body,
        "<section id=\"versions\"><h2>Versions</h2><p class=\"muted\">the latest {}</p><div class=\"scroll\"><table class=\"versions\"><thead><tr><th>version</th><th>verdict</th><th>judged at</th><th>gates</th><th>against the thresholds</th><th>aliases</th></tr></thead><tbody>",
        versions.len()
    );
    for v in &versions {
        let (word, class) = verdict_cell(served, v);
        let tag = |k: &str| v.tags.iter().find(|t| t.key == k).map(|t| t.value.as_str());
        // Gate outcomes only of a current record, and only the three words
        // a record writes: a stale or hand-edited tag is not shown as one.
        let current = served.verdict_of(v).is_some();
        let mut gates = String::new();
        for g in &gate_names {
            let outcome = tag(&crate::record::gate_key(g))
                .filter(|o| current && ["pass", "fail", "error"].contains(o))
                .unwrap_or("–");
            let _ = write!(
                gates,
                "<span class=\"gate-dot {o}\" data-gate=\"{n}\" data-outcome=\"{o}\">{n}: {o}</span> ",
                n = esc(g),
                o = esc(outcome)
            );
        }
        let mut checks = String::new();
        for (i, l) in limits.iter().enumerate() {
            let Some(x) = value(v.version, i) else {
                continue;
            };
            let gib = l.greater_is_better;
            let (mark, op) = match l.threshold {
                Some(t) if (gib && x >= t) || (!gib && x <= t) => {
                    ("✔", if gib { "≥" } else { "≤" })
                }
                Some(_) => ("✘", if gib { "<" } else { ">" }),
                None => ("", ""),
            };
            let metric = &l.metric;
            let _ = write!(
                checks,
                "<span class=\"check\" data-metric=\"{}\" data-value=\"{x}\">{mark} {} {}{}</span> ",
                esc(metric),
                esc(metric),
                chart::short(x),
                l.threshold
                    .map(|t| format!(" {op} {}", chart::short(t)))
                    .unwrap_or_default()
            );
        }
        let aliases: Vec<String> = v
            .aliases
            .iter()
            .map(|a| format!("<code>{}</code>", esc(a)))
            .collect();
        let _ = writeln!(
            body,
            "<tr class=\"{class}\" data-version=\"{n}\" data-verdict=\"{class}\"><td>{n}</td><td><span class=\"badge {class}\">{word}</span></td><td>{}</td><td>{gates}</td><td>{checks}</td><td>{}</td></tr>",
            esc(tag(crate::record::JUDGED_AT).unwrap_or("")),
            aliases.join(" "),
            n = v.version,
        );
    }
    body.push_str("</tbody></table></div></section>\n");
    body.push_str(&counters(service));
    frame(&format!("modelgate: {name}"), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(url_segment("a b/c\"<"), "a%20b%2Fc%22%3C");
        assert_eq!(url_segment("churn-v2_x~"), "churn-v2_x~");
        assert_eq!(url_segment(".."), "%2E%2E");
    }

    #[test]
    fn the_policy_hashes_what_the_page_inlines() {
        let page = frame("t", "<p>x</p>");
        let inline = |tag: &str| -> String {
            let open = format!("<{tag}>");
            let from = page.find(&open).expect("inlined") + open.len();
            let to = page[from..].find(&format!("</{tag}>")).expect("closed");
            page[from..from + to].to_string()
        };
        let policy = html::csp(Some(SCRIPT));
        assert!(policy.contains(&format!("script-src {}", html::csp_hash(&inline("script")))));
        assert!(policy.contains(&format!("style-src {}", html::csp_hash(&inline("style")))));
        // The meta tag says the same, with its quotes escaped.
        assert!(page.contains(&html::esc_max(&policy, usize::MAX)));
    }
}
