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
/// Models shown on the index page with their versions (one version search
/// each); the rest are listed by name.
pub const MAX_INDEX_MODELS: usize = 50;
/// Event streams open at once: 32. Past it a browser gets 503 and the
/// page's fallback refresh ([`FALLBACK_REFRESH_S`]).
pub const MAX_WATCHERS: usize = 32;
/// A page without a live event stream (scripts off, too many watchers)
/// reloads itself this often: 30 s (the script's fallback says the same).
pub const FALLBACK_REFRESH_S: u32 = 30;
/// An idle event stream says it is alive this often (a comment line), so
/// proxies keep it open and a dead browser is noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The page's one script: listen for recorded verdicts and reload (at most
/// every 250 ms); after a lost stream comes back, reload once to catch up;
/// a stream refused (too many watchers) falls back to reloading every
/// [`FALLBACK_REFRESH_S`].
pub const SCRIPT: &str = "(function(){var open=false,t=null;var s=new EventSource('/events');\
s.onopen=function(){if(open){location.reload()}open=true};\
s.onmessage=function(){if(!t){t=setTimeout(function(){location.reload()},250)}};\
s.onerror=function(){if(s.readyState===2){setTimeout(function(){location.reload()},30000)}};})();";

/// Built pages shared between viewers, and the event streams.
pub struct Ui {
    pages: Mutex<HashMap<String, (Instant, Arc<String>)>>,
    events: tokio::sync::broadcast::Sender<String>,
    watchers: Arc<tokio::sync::Semaphore>,
}

impl Default for Ui {
    fn default() -> Self {
        Ui {
            pages: Mutex::new(HashMap::new()),
            events: tokio::sync::broadcast::channel(64).0,
            watchers: Arc::new(tokio::sync::Semaphore::new(MAX_WATCHERS)),
        }
    }
}

impl Ui {
    /// Tells the open pages that `model` has a new record (their next
    /// build reads it).
    pub fn changed(&self, model: &str, version: u64) {
        let _ = self
            .events
            .send(format!("{}:{version}", model.replace(['\n', '\r'], " ")));
    }

    /// The page at `key`, built by `build` unless one younger than
    /// [`PAGE_TTL`] is there.
    async fn cached<F>(&self, key: &str, build: F) -> Arc<String>
    where
        F: std::future::Future<Output = String>,
    {
        if let Ok(pages) = self.pages.lock()
            && let Some((at, page)) = pages.get(key)
            && at.elapsed() < PAGE_TTL
        {
            return page.clone();
        }
        let page = Arc::new(build.await);
        if let Ok(mut pages) = self.pages.lock() {
            // Keys are the index and the served models' pages only.
            pages.insert(key.to_string(), (Instant::now(), page.clone()));
        }
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
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}; frame-ancestors 'none'",
        html::csp(Some(SCRIPT))
    )) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn frame(title: &str, body: &str) -> String {
    html::page(title, body, Some(SCRIPT), Some(FALLBACK_REFRESH_S))
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
    let rx = service.ui.events.subscribe();
    let first = futures::stream::once(async {
        Ok::<_, std::convert::Infallible>("retry: 1000\n\n".to_string())
    });
    let rest = futures::stream::unfold((rx, permit), |(mut rx, permit)| async move {
        let item = match tokio::time::timeout(KEEPALIVE, rx.recv()).await {
            Err(_) => ": alive\n\n".to_string(),
            Ok(Ok(what)) => format!("data: {what}\n\n"),
            // Missed some: one event says "reload" just as well.
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => "data: *\n\n".into(),
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
        };
        Some((Ok(item), (rx, permit)))
    });
    let body = axum::body::Body::from_stream(futures::StreamExt::chain(first, rest));
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
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
        let (aliases, latest) = match service.registry.model_versions(name).await {
            Ok(mut versions) => {
                versions.sort_by_key(|v| std::cmp::Reverse(v.version));
                let aliases = alias_list(&versions);
                let mut latest = String::new();
                for v in versions.iter().take(5) {
                    let (word, class) = verdict_cell(served, v);
                    let _ = write!(
                        latest,
                        "<span class=\"badge {class}\" data-version=\"{}\">v{} {word}</span> ",
                        v.version, v.version
                    );
                }
                (aliases, latest)
            }
            Err(e) => (
                String::new(),
                format!(
                    "<span class=\"cause\">registry: {}</span>",
                    esc(&e.to_string())
                ),
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

/// `champion → v3` for every alias of the versions.
fn alias_list(versions: &[ModelVersion]) -> String {
    let mut aliases: BTreeMap<&str, u64> = BTreeMap::new();
    for v in versions {
        for a in &v.aliases {
            aliases.insert(a, v.version);
        }
    }
    aliases
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
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The metrics `builtin:threshold` gates of a model hold to an absolute
/// threshold: `(gate, metric, threshold, greater_is_better)`.
fn thresholds(served: &Served) -> Vec<(String, String, Option<f64>, bool)> {
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
        for (name, spec) in metrics {
            out.push((
                g.gate.name.clone(),
                name.clone(),
                spec.get("threshold").and_then(|t| t.as_f64()),
                spec.get("greater_is_better")
                    .and_then(|g| g.as_bool())
                    .unwrap_or(true),
            ));
        }
    }
    out
}

async fn build_model(service: &Service, name: &str, served: &Served) -> String {
    let mut body = heading(service, name);
    let mut versions = match service.registry.model_versions(name).await {
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
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    let total = versions.len();
    versions.truncate(MAX_VERSIONS);
    let _ = writeln!(
        body,
        "<section id=\"aliases\"><h2>Aliases</h2><p>{}</p></section>",
        match alias_list(&versions) {
            s if s.is_empty() =>
                "<span class=\"muted\">none on the latest versions</span>".to_string(),
            s => s,
        }
    );
    // The metric values behind the trend: the runs', then the
    // LoggedModels' (MLflow 3), read at once, a fixed number of calls.
    let limits = thresholds(served);
    let mut values: HashMap<u64, HashMap<String, f64>> = HashMap::new();
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
            let mut m = HashMap::new();
            for (_, metric, _, _) in &limits {
                let from_model = v
                    .model_id
                    .as_ref()
                    .and_then(|id| logged.get(id))
                    .and_then(|lm| lm.metrics.iter().find(|x| &x.key == metric))
                    .map(|x| x.point.value);
                let from_run = v
                    .run_id
                    .as_ref()
                    .and_then(|id| runs.get(id))
                    .and_then(|r| r.metric(metric));
                if let Some(x) = from_model.or(from_run).filter(|x| x.is_finite()) {
                    m.insert(metric.clone(), x);
                }
            }
            values.insert(v.version, m);
        }
    }
    // Charts: each metric over the judged versions, passed or not by the
    // version's verdict, with the gate's threshold.
    let mut figures = String::new();
    for (gate, metric, threshold, gib) in &limits {
        let mut s = Series {
            model: name.to_string(),
            gate: gate.clone(),
            metric: metric.clone(),
            greater_is_better: *gib,
            ..Series::default()
        };
        let expected = chart::Expected {
            greater_is_better: Some(*gib),
            bounds: threshold.iter().copied().collect(),
            thresholds: threshold.iter().copied().collect(),
            baselines: Vec::new(),
        };
        for v in versions.iter().rev() {
            let Some(verdict) = served.verdict_of(v) else {
                continue;
            };
            if let Some(x) = values.get(&v.version).and_then(|m| m.get(metric)) {
                s.add(v.version, *x, verdict == Verdict::Pass, &expected);
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
        "<section id=\"versions\"><h2>Versions</h2><p class=\"muted\">the latest {} of {total}</p><div class=\"scroll\"><table class=\"versions\"><thead><tr><th>version</th><th>verdict</th><th>judged at</th><th>gates</th><th>against the thresholds</th><th>aliases</th></tr></thead><tbody>",
        versions.len()
    );
    for v in &versions {
        let (word, class) = verdict_cell(served, v);
        let tag = |k: &str| v.tags.iter().find(|t| t.key == k).map(|t| t.value.as_str());
        let mut gates = String::new();
        for g in &gate_names {
            let outcome = tag(&crate::record::gate_key(g)).unwrap_or("–");
            let _ = write!(
                gates,
                "<span class=\"gate-dot {o}\" data-gate=\"{n}\" data-outcome=\"{o}\">{n}: {o}</span> ",
                n = esc(g),
                o = esc(outcome)
            );
        }
        let mut checks = String::new();
        for (_, metric, threshold, gib) in &limits {
            let Some(x) = values.get(&v.version).and_then(|m| m.get(metric)) else {
                continue;
            };
            let (mark, op) = match threshold {
                Some(t) if (*gib && x >= t) || (!*gib && x <= t) => {
                    ("✔", if *gib { "≥" } else { "≤" })
                }
                Some(_) => ("✘", if *gib { "<" } else { ">" }),
                None => ("", ""),
            };
            let _ = write!(
                checks,
                "<span class=\"check\" data-metric=\"{}\" data-value=\"{x}\">{mark} {} {}{}</span> ",
                esc(metric),
                esc(metric),
                chart::short(*x),
                threshold
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
        assert_eq!(url_segment("churn-v2_x.y~"), "churn-v2_x.y~");
    }

    #[test]
    fn the_script_is_what_the_policy_hashes() {
        let page = frame("t", "");
        assert!(page.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(html::csp(Some(SCRIPT)).contains(&html::csp_hash(SCRIPT)));
    }
}
