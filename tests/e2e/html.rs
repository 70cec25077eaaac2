//! The HTML report in a real browser (headless Chromium, driven by
//! `tests/env/browser.py`): what it renders (rows, chart points and the
//! threshold at the right heights, a non-blank screenshot), on a desktop
//! and a phone, and that hostile values from a registry, a plugin or a
//! project file stay text: no script runs, no markup appears, the layout
//! holds.

use crate::support::{self, Project, browse, have_browser};

/// A page written to a file, as a `file://` URL.
fn file_url(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

/// The vertical centre of the first element `selector` matches, with its
/// `data-value`, as a JS expression.
fn centre(selector: &str) -> String {
    format!(
        "(() => {{ const e = document.querySelector('{selector}'); if (!e) return null; \
         const r = e.getBoundingClientRect(); return {{value: +e.dataset.value, y: r.top + r.height / 2}}; }})()"
    )
}

fn f(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number `{key}` in {v}"))
}

/// A copy of the bundled champion/challenger example, its `mlflow.db`
/// with it: three versions of `churn`, `champion` on version 1.
fn champion_challenger() -> Project {
    let p = Project::new(
        &std::fs::read_to_string(support::root().join("examples/champion-challenger/ame.yaml"))
            .expect("example"),
    );
    p.copy("examples/champion-challenger/mlflow.db", "mlflow.db");
    p
}

#[test]
fn the_champion_challenger_sweep_renders_verdicts_and_its_score_chart() {
    if !have_browser("the_champion_challenger_sweep_renders_verdicts_and_its_score_chart") {
        return;
    }
    // The bundled example as a newcomer runs it: three versions of
    // `churn`, `champion` on version 1 (score 0.667): versions 1 and 2 do
    // not beat it by 5 % (0.7), version 3 (0.833) does.
    let p = champion_challenger();
    let out = support::run(support::modelgate().args([
        "validate",
        "--project",
        &p.path(),
        "--all-versions",
        "--format",
        "html",
    ]));
    assert_eq!(out.code, 1, "{out}");
    let page = p.dir.path().join("r.html");
    std::fs::write(&page, &out.stdout).expect("write the report");
    let shot = p.dir.path().join("r.png");
    let seen = browse(
        &file_url(&page),
        1024,
        768,
        &[
            "--wait",
            "document.querySelector('figure.chart svg')",
            "--eval",
            "rows=[...document.querySelectorAll('table.versions tbody tr')].map(r => [r.dataset.version, r.dataset.verdict])",
            "--eval",
            "points=[...document.querySelectorAll('figure.chart[data-metric=\"score\"] circle.point')].map(c => { const r = c.getBoundingClientRect(); return {version: c.dataset.version, cls: c.getAttribute('class'), value: +c.dataset.value, y: r.top + r.height / 2}; })",
            "--eval",
            &format!("threshold={}", centre("figure.chart path.threshold")),
            "--eval",
            "ticks=[...document.querySelectorAll('figure.chart path.bound-tick')].map(t => { const r = t.getBoundingClientRect(); return {version: t.dataset.version, value: +t.dataset.value, y: r.top + r.height / 2}; })",
            "--eval",
            "label=document.querySelector('.threshold-label').textContent",
            "--eval",
            "articles=[...document.querySelectorAll('article.judgement')].map(a => a.dataset.version + ':' + a.dataset.verdict)",
            "--eval",
            "check3=document.querySelector('article.judgement[data-version=\"3\"] tr.check').innerText",
            "--eval",
            "headline=document.querySelector('header.verdict h1').innerText",
            "--eval",
            "wide=document.documentElement.scrollWidth - innerWidth",
            "--screenshot",
            &shot.display().to_string(),
        ],
    );
    assert!(seen.waited, "{seen:?}");
    let e = &seen.evals;
    assert_eq!(
        e["rows"],
        serde_json::json!([["1", "fail"], ["2", "fail"], ["3", "pass"]]),
        "{seen:?}"
    );
    assert_eq!(
        e["articles"],
        serde_json::json!(["1:fail", "2:fail", "3:pass"])
    );
    assert_eq!(
        e["headline"],
        "✘ FAIL: 1 of 3 gates passed for 3 candidates"
    );
    let check3 = e["check3"].as_str().expect("text");
    assert!(
        check3.contains("score") && check3.contains("0.833333") && check3.contains(">= 0.6"),
        "{check3}"
    );
    // The chart: one point per version at its value, the threshold line at
    // 0.6 below all of them, and each version's bound over the champion
    // (0.667 + 5 % = 0.7) between the failed ones and the passed one.
    let points = e["points"].as_array().expect("points");
    assert_eq!(points.len(), 3, "{seen:?}");
    let by = |v: &str| {
        points
            .iter()
            .find(|p| p["version"] == v)
            .unwrap_or_else(|| panic!("no point for v{v}: {points:?}"))
    };
    assert_eq!(by("1")["cls"], "point fail");
    assert_eq!(by("2")["cls"], "point fail");
    assert_eq!(by("3")["cls"], "point pass");
    assert!((f(by("3"), "value") - 0.833333).abs() < 1e-9);
    assert!((f(by("1"), "value") - 0.666667).abs() < 1e-9);
    let line = &e["threshold"];
    assert_eq!(f(line, "value"), 0.6);
    assert_eq!(e["label"], "0.6");
    for p in points {
        assert!(
            f(p, "y") < f(line, "y"),
            "{p} is not above the threshold {line}"
        );
    }
    let ticks = e["ticks"].as_array().expect("ticks");
    assert_eq!(ticks.len(), 3, "{ticks:?}");
    for t in ticks {
        assert!((f(t, "value") - 0.7).abs() < 1e-6, "{t}");
        let p = by(t["version"].as_str().expect("version"));
        let passed = p["cls"] == "point pass";
        // Screen y grows downwards: a value above its bound is drawn higher.
        assert_eq!(f(p, "y") < f(t, "y"), passed, "point {p} vs bound {t}");
    }
    // Heights are to scale: the gap 0.6 → 0.667 and 0.667 → 0.833.
    let per_unit_low = (f(line, "y") - f(by("1"), "y")) / (0.666667 - 0.6);
    let per_unit_high = (f(by("1"), "y") - f(by("3"), "y")) / (0.833333 - 0.666667);
    assert!(
        (per_unit_low / per_unit_high - 1.0).abs() < 0.03,
        "{per_unit_low} vs {per_unit_high}"
    );
    assert_eq!(e["wide"], 0, "the page is wider than the window");
    let s = seen.screenshot.as_ref().expect("screenshot");
    assert_eq!((s.width, s.height), (1024, 768));
    assert!(s.colors > 20, "a blank screenshot: {s:?}");
    assert!(
        seen.dialogs.is_empty() && seen.exceptions.is_empty(),
        "{seen:?}"
    );
    assert!(
        seen.log.is_empty(),
        "the browser complained: {:?}",
        seen.log
    );

    // On a phone: nothing wider than the screen.
    let phone = browse(
        &file_url(&page),
        390,
        844,
        &[
            "--eval",
            "wide=document.documentElement.scrollWidth - innerWidth",
            "--eval",
            "svg=document.querySelector('figure.chart svg').getBoundingClientRect().width",
        ],
    );
    assert_eq!(phone.evals["wide"], 0, "{phone:?}");
    let svg = phone.evals["svg"].as_f64().expect("width");
    assert!(svg <= 390.0 && svg > 200.0, "{phone:?}");
}

/// Strings a hostile registry, plugin or project file could hold.
const SCRIPT: &str = "<script>window.__pwned=1</script>";
const IMG: &str = "\"><img src=x onerror=\"window.__pwned=2\">";
const SVG: &str = "'><svg onload=window.__pwned=3>";
const BIDI: &str = "\u{202e}lave\u{202c}";

/// What every hostile page must show: no script ran, nothing but our own
/// markup, the texts visible as text, bidi overrides shown escaped, and a
/// layout no wider than the window.
fn assert_inert(url: &str, charts: u64) -> support::Seen {
    assert_inert_with(url, charts, &[SCRIPT, IMG, SVG], None)
}

/// [`assert_inert`] for the texts `shown`, once `wait` (a JS expression)
/// holds.
fn assert_inert_with(url: &str, charts: u64, shown: &[&str], wait: Option<&str>) -> support::Seen {
    let texts = format!(
        "texts=[{}].map(t => document.body.textContent.includes(t))",
        shown
            .iter()
            .map(|s| serde_json::to_string(s).expect("json"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut args = vec![];
    if let Some(w) = wait {
        args.extend(["--wait", w]);
    }
    args.extend([
            "--eval",
            "pwned=typeof window.__pwned",
            "--eval",
            "foreign=document.querySelectorAll('img, iframe, object, embed, link, meta[http-equiv=refresh], svg:not(.chart), svg.chart svg').length",
            "--eval",
            "scripts=[...document.scripts].map(s => s.textContent)",
            "--eval",
            "svgs=document.querySelectorAll('svg').length",
            "--eval",
            &texts,
            "--eval",
            "bidi=[document.body.textContent.includes('\\u202e'), document.body.textContent.includes('\\\\u{202e}')]",
            "--eval",
            "wide=document.documentElement.scrollWidth - innerWidth",
            "--eval",
            "tall=document.documentElement.scrollHeight",
            "--screenshot",
            "/dev/null",
    ]);
    let seen = browse(url, 1024, 768, &args);
    assert!(seen.waited, "{seen:?}");
    let e = &seen.evals;
    assert!(seen.dialogs.is_empty(), "a script ran: {seen:?}");
    assert_eq!(e["pwned"], "undefined", "a script ran: {seen:?}");
    assert_eq!(e["foreign"], 0, "markup got through: {seen:?}");
    // No script but the page's own (`serve`'s page has one, hashed).
    let own: Vec<&str> = if url.starts_with("http") {
        vec![modelgate::serve::page::SCRIPT]
    } else {
        vec![]
    };
    assert_eq!(e["scripts"], serde_json::json!(own), "{seen:?}");
    assert_eq!(e["svgs"], charts, "{seen:?}");
    assert_eq!(
        e["texts"],
        serde_json::json!(vec![true; shown.len()]),
        "{seen:?}"
    );
    assert_eq!(e["bidi"], serde_json::json!([false, true]), "{seen:?}");
    assert_eq!(e["wide"], 0, "the layout blew up: {seen:?}");
    assert!(
        e["tall"].as_u64().is_some_and(|h| h < 30_000),
        "the page is {} px tall",
        e["tall"]
    );
    assert!(seen.exceptions.is_empty(), "{seen:?}");
    assert!(seen.log.is_empty(), "the browser complained: {seen:?}");
    let s = seen.screenshot.as_ref().expect("screenshot");
    assert!(s.colors > 10, "a blank page: {s:?}");
    seen
}

#[test]
fn hostile_texts_in_every_field_of_a_report_stay_text() {
    if !have_browser("hostile_texts_in_every_field_of_a_report_stay_text") {
        return;
    }
    use modelgate::gate::{Cause, Check, GateResult, Kind, LogLine};
    use modelgate::judge::Judgement;
    use modelgate::report::{Format, Report, Style};
    let all = format!("{SCRIPT} {IMG} {SVG} {BIDI}");
    // A megabyte in one word: it must neither break out of the page nor
    // make it a megabyte.
    let huge = format!("{all}{}", "W".repeat(1 << 20));
    let mut g = GateResult::new(&all, Kind::Wasm, &all);
    g.checks = vec![
        Check {
            name: all.clone(),
            passed: false,
            warning: Some(all.clone()),
            observed: Some("0.5".into()),
            expected: Some(format!(">= 0.6 and {all}")),
            detail: Some(huge.clone()),
        },
        Check {
            name: huge.clone(),
            passed: true,
            warning: Some(huge.clone()),
            observed: Some(huge.clone()),
            expected: Some(huge.clone()),
            detail: None,
        },
    ];
    g.output = huge.clone();
    g.logs = vec![LogLine {
        level: modelgate::gate::LogLevel::Warn,
        message: all.clone(),
    }];
    g.conclude(Some(Cause::Other(huge.clone())));
    let mut passed = GateResult::new(&huge, Kind::Process, &huge);
    passed.summary = Some(huge.clone());
    passed.conclude(None);
    let report = Report::new(
        all.clone(),
        all.clone(),
        vec![Judgement {
            model: all.clone(),
            version: 7,
            run_id: Some(all.clone()),
            selected_by: all.clone(),
            judged_at: std::time::SystemTime::UNIX_EPOCH,
            passed: false,
            gates: vec![g, passed],
            unrecorded: true,
            read_tags: Vec::new(),
        }],
    );
    let html = report.render(Format::Html, Style::default());
    assert!(
        html.len() < 200_000,
        "{} bytes from megabyte inputs",
        html.len()
    );
    let dir = support::tempdir();
    let page = dir.path().join("hostile.html");
    std::fs::write(&page, &html).expect("write");
    // One chart: the check with a numeric value, named by the hostile text.
    assert_inert(&file_url(&page), 1);
}

#[test]
fn a_hostile_model_and_metric_name_from_the_registry_and_project_stay_text() {
    if !have_browser("a_hostile_model_and_metric_name_from_the_registry_and_project_stay_text") {
        return;
    }
    // MLflow refuses `/` and `:` in model names, and takes the rest; a
    // metric name it would refuse can still be asked for by a project
    // file (and is then not logged).
    let model = format!("m{IMG}{SVG}{BIDI}");
    let metric = format!("s{IMG}");
    let (dir, uri) = support::embedded_store();
    support::fixtures_at(
        &uri,
        &serde_json::json!([{"op": "version", "model": model, "metrics": {"score": 0.5}}]),
    );
    let yaml = format!(
        "projectid: hostile\nmodels:\n  - name: {}\n    validationTask: {{taskRef: gate}}\n\
         tasks:\n  - name: gate\n    executor: !wasm\n      plugin: builtin:threshold\n      config:\n        metrics:\n          score: {{threshold: 0.6}}\n          {}: {{threshold: 0.6}}\n",
        serde_json::to_string(&model).expect("json"),
        serde_json::to_string(&metric).expect("json"),
    );
    let p = Project::new(&yaml);
    let out = support::validate(&p.path(), &uri, &["--format", "html"]);
    assert_eq!(out.code, 1, "{out}");
    let page = dir.path().join("r.html");
    std::fs::write(&page, &out.stdout).expect("write");
    let seen = browse(
        &file_url(&page),
        1024,
        768,
        &[
            "--eval",
            "pwned=typeof window.__pwned",
            "--eval",
            "model=document.querySelector('article.judgement h3').textContent",
            "--eval",
            "checks=[...document.querySelectorAll('tr.check')].map(r => r.dataset.check + '=' + r.className)",
            "--eval",
            "foreign=document.querySelectorAll('script, img, svg:not(.chart)').length",
        ],
    );
    let e = &seen.evals;
    assert!(seen.dialogs.is_empty(), "{seen:?}");
    assert!(seen.log.is_empty(), "the browser complained: {seen:?}");
    assert_eq!(e["pwned"], "undefined");
    assert_eq!(e["foreign"], 0, "{seen:?}");
    let shown = e["model"].as_str().expect("text");
    assert!(
        shown.contains(&format!("m{IMG}{SVG}\\u{{202e}}lave\\u{{202c}} version 1")),
        "{shown:?}"
    );
    assert_eq!(
        e["checks"],
        serde_json::json!(["score=check fail", format!("{metric}=check fail")]),
        "{seen:?}"
    );
}

/// `tests/env/fixtures.py` with `ops` against `uri`, as a shell command
/// for `browser.py --run` (the ops written to a file in `dir`).
fn fixtures_command(dir: &std::path::Path, uri: &str, ops: &serde_json::Value) -> String {
    let file = dir.join("ops.json");
    std::fs::write(&file, ops.to_string()).expect("write ops");
    format!(
        "cd '{}' && MLFLOW_TRACKING_URI='{uri}' '{}' '{}' < '{}'",
        dir.display(),
        support::python().display(),
        support::root().join("tests/env/fixtures.py").display(),
        file.display()
    )
}

/// The response head of `GET path`, lower-cased.
fn head(port: u16, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

#[test]
fn serves_page_shows_a_new_verdict_by_itself() {
    if !have_browser("serves_page_shows_a_new_verdict_by_itself") {
        return;
    }
    let model = "paged";
    let srv = support::server();
    let p = Project::new(&format!(
        "name: page\nmodels:\n  - name: {model}\n    validationTask:\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {{metrics: {{score: {{threshold: 0.6}}}}}}\n"
    ));
    support::fixtures(
        &serde_json::json!([{"op": "version", "model": model, "metrics": {"score": 0.8}}]),
    );
    let log = p.dir.path().join("serve.log");
    let path = p.path();
    let serving = crate::serve::Serving::start(
        &[
            "--project",
            &path,
            "--tracking-uri",
            &srv.uri,
            "--poll",
            "1s",
            "--promote",
            "champion",
        ],
        &[],
        &log,
    );
    // The page's headers: the policy that allows its one script.
    let h = head(serving.port, &format!("/models/{model}"));
    assert!(h.starts_with("http/1.1 200"), "{h}");
    assert!(
        h.contains("content-security-policy: default-src 'none'; style-src 'sha256-")
            && h.contains("script-src 'sha256-")
            && h.contains("frame-ancestors 'none'")
            && !h.contains("unsafe"),
        "{h}"
    );
    assert!(h.contains("x-content-type-options: nosniff"), "{h}");
    let dir = support::tempdir();
    let register = fixtures_command(
        dir.path(),
        &srv.uri,
        &serde_json::json!([{"op": "version", "model": model, "metrics": {"score": 0.4}}]),
    );
    let shot = p.dir.path().join("serve.png");
    let row = |v: u64, verdict: &str| {
        format!(
            "document.querySelector('table.versions tr[data-version=\"{v}\"][data-verdict=\"{verdict}\"]')"
        )
    };
    // Open the page once version 1 passed; register version 2 while it is
    // open; the page, never reloaded by the test, shows version 2's verdict.
    let seen = browse(
        &format!("http://127.0.0.1:{}/models/{model}", serving.port),
        1024,
        900,
        &[
            "--wait",
            &format!(
                "{} && document.querySelector('[data-alias=\"champion\"][data-version=\"1\"]')",
                row(1, "pass")
            ),
            "--eval",
            "before=document.querySelectorAll('table.versions tbody tr').length",
            "--run",
            &register,
            "--then-wait",
            &row(2, "fail"),
            "--then-eval",
            "rows=[...document.querySelectorAll('table.versions tbody tr')].map(r => [r.dataset.version, r.dataset.verdict])",
            "--then-eval",
            "gates=document.querySelector('table.versions tr[data-version=\"2\"] .gate-dot').textContent",
            "--then-eval",
            "checks=[...document.querySelectorAll('table.versions tr .check')].map(c => c.textContent.trim())",
            "--then-eval",
            "points=[...document.querySelectorAll('figure.chart[data-metric=\"score\"] circle.point')].map(c => { const r = c.getBoundingClientRect(); return {version: c.dataset.version, cls: c.getAttribute('class'), y: r.top + r.height / 2}; })",
            "--then-eval",
            &format!("threshold={}", centre("figure.chart path.threshold")),
            "--then-eval",
            "judged=document.querySelector('[data-metric^=\"modelgate_judgements_total\"][data-metric*=\"fail\"]').textContent",
            "--then-eval",
            "reloaded=[performance.getEntriesByType('navigation')[0].type, sessionStorage.getItem('modelgate.reload')]",
            "--screenshot",
            &shot.display().to_string(),
        ],
    );
    assert!(
        seen.waited,
        "version 1 never showed: {seen:?}\n{}",
        serving.log_text()
    );
    assert_eq!(seen.evals["before"], 1, "{seen:?}");
    assert_eq!(
        seen.ran.as_ref().map(|r| r["code"].clone()),
        Some(serde_json::json!(0)),
        "{seen:?}"
    );
    assert_eq!(
        seen.then_waited,
        Some(true),
        "the open page never showed version 2's verdict: {seen:?}\n{}",
        serving.log_text()
    );
    let e = &seen.evals;
    // The script reloaded it on the event (not a person, not a fallback).
    assert_eq!(
        e["reloaded"],
        serde_json::json!(["reload", "event"]),
        "{seen:?}"
    );
    assert_eq!(
        e["rows"],
        serde_json::json!([["2", "fail"], ["1", "pass"]]),
        "{seen:?}"
    );
    assert_eq!(e["gates"], "validationTask: fail");
    assert_eq!(
        e["checks"],
        serde_json::json!(["✘ score 0.4 < 0.6", "✔ score 0.8 ≥ 0.6"])
    );
    let points = e["points"].as_array().expect("points");
    assert_eq!(points.len(), 2, "{seen:?}");
    let line = f(&e["threshold"], "y");
    assert_eq!(f(&e["threshold"], "value"), 0.6);
    for p in points {
        let above = f(p, "y") < line;
        assert_eq!(above, p["version"] == "1", "{p} vs the threshold at {line}");
        assert_eq!(p["cls"] == "point pass", p["version"] == "1", "{p}");
    }
    assert_eq!(e["judged"], "1");
    assert!(
        seen.dialogs.is_empty() && seen.exceptions.is_empty(),
        "{seen:?}"
    );
    assert!(
        seen.log.is_empty(),
        "the browser complained: {:?}",
        seen.log
    );
    let s = seen.screenshot.as_ref().expect("screenshot");
    assert_eq!((s.width, s.height), (1024, 900));
    assert!(s.colors > 20, "a blank screenshot: {s:?}");

    // A page built before a record learns of it when its event stream
    // opens, however late: the stream's first event is the generation of
    // records now, the page says the one it was built from.
    let built = generation_of(&serving, &format!("/models/{model}"));
    assert_eq!(
        first_event(serving.port),
        built,
        "a current page is told nothing new"
    );
    support::fixtures(
        &serde_json::json!([{"op": "version", "model": model, "metrics": {"score": 0.9}}]),
    );
    serving.wait_log(&format!("event=judged model={model} version=3 "), 60);
    // The generation moves once the alias after the verdict is written,
    // just after that log line: wait for it (bounded), as for the log.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while first_event(serving.port) <= built {
        assert!(
            std::time::Instant::now() < deadline,
            "a page built before version 3's record would not reload"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The generation of records the page at `path` was built from.
fn generation_of(serving: &crate::serve::Serving, path: &str) -> u64 {
    let (status, body) = serving.get(path).expect("the page");
    assert_eq!(status, 200);
    let at = body
        .find("id=\"modelgate-generation\" data-generation=\"")
        .expect("the page says its generation")
        + "id=\"modelgate-generation\" data-generation=\"".len();
    body[at..]
        .split('"')
        .next()
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("no generation in {}", &body[at..at + 20]))
}

/// The first `data:` of a fresh `GET /events`.
fn first_event(port: u16) -> u64 {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send");
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = s.read(&mut buf).expect("the stream");
        assert!(
            n > 0,
            "the stream ended: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen);
        if let Some(at) = text.find("data: ")
            && let Some(end) = text[at..].find('\n')
        {
            return text[at + 6..at + end]
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("not a generation: {text}"));
        }
    }
}

#[test]
fn a_hostile_model_name_stays_text_on_serves_page_and_the_page_can_be_off() {
    if !have_browser("a_hostile_model_name_stays_text_on_serves_page_and_the_page_can_be_off") {
        return;
    }
    let model = format!("page{IMG}{SVG}{BIDI}");
    let (_store, uri) = support::embedded_store();
    support::fixtures_at(
        &uri,
        &serde_json::json!([{"op": "version", "model": model, "metrics": {"score": 0.9}}]),
    );
    let p = Project::new(&format!(
        "name: page\nmodels:\n  - name: {}\n    validationTask:\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {{metrics: {{score: {{threshold: 0.6}}}}}}\n",
        serde_json::to_string(&model).expect("json")
    ));
    let log = p.dir.path().join("serve.log");
    let path = p.path();
    let serving = crate::serve::Serving::start(
        &["--project", &path, "--tracking-uri", &uri, "--poll", "1s"],
        &[],
        &log,
    );
    let base = format!("http://127.0.0.1:{}", serving.port);
    let seen = assert_inert_with(
        &format!("{base}/"),
        0,
        &[IMG, SVG],
        Some("document.querySelector('table.models .badge.pass')"),
    );
    assert!(seen.waited);
    let link = browse(
        &format!("{base}/"),
        1024,
        768,
        &[
            "--eval",
            "href=document.querySelector('table.models a').getAttribute('href')",
        ],
    );
    let href = link.evals["href"].as_str().expect("a link").to_string();
    assert!(href.starts_with("/models/page%22%3E%3Cimg"), "{href}");
    assert_inert_with(
        &format!("{base}{href}"),
        1,
        &[IMG, SVG],
        Some("document.querySelector('table.versions tr[data-verdict=\"pass\"]')"),
    );
    // Event streams are bounded: past the cap, 503 (the page then
    // reloads on its own every 30 s).
    let streams: Vec<std::net::TcpStream> = (0..modelgate::serve::page::MAX_WATCHERS)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", serving.port)).expect("connect");
            use std::io::{Read as _, Write as _};
            s.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .expect("send");
            let mut first = [0u8; 12];
            s.read_exact(&mut first).expect("answer");
            assert_eq!(&first, b"HTTP/1.1 200");
            s
        })
        .collect();
    assert!(head(serving.port, "/events").starts_with("http/1.1 503"));
    drop(streams);
    drop(serving);

    let off = crate::serve::Serving::start(
        &[
            "--project",
            &path,
            "--tracking-uri",
            &uri,
            "--poll",
            "off",
            "--ui",
            "off",
        ],
        &[],
        &p.dir.path().join("off.log"),
    );
    assert!(head(off.port, "/").starts_with("http/1.1 404"));
    assert!(head(off.port, "/events").starts_with("http/1.1 404"));
    assert!(head(off.port, "/metrics").starts_with("http/1.1 200"));
}

#[test]
fn a_replay_renders_as_a_page_with_the_candidate_and_its_baseline() {
    if !have_browser("a_replay_renders_as_a_page_with_the_candidate_and_its_baseline") {
        return;
    }
    let p = champion_challenger();
    // Version 3 (0.833) against the champion, version 1 (0.667).
    let out = support::run(support::modelgate().args([
        "validate",
        "churn",
        "--project",
        &p.path(),
        "--version",
        "3",
        "--format",
        "json",
    ]));
    assert_eq!(out.code, 0, "{out}");
    let report = p.dir.path().join("report.json");
    std::fs::write(&report, &out.stdout).expect("write");
    // The same report with the observed value changed: it no longer
    // reproduces.
    let tampered = p.dir.path().join("tampered.json");
    std::fs::write(
        &tampered,
        out.stdout
            .replace("\"observed\": \"0.833333\"", "\"observed\": \"0.9\""),
    )
    .expect("write");
    let page = |file: &std::path::Path, code: i32| {
        let out = support::run(support::modelgate().args([
            "replay",
            &file.display().to_string(),
            "--format",
            "html",
        ]));
        assert_eq!(out.code, code, "{out}");
        let html = p.dir.path().join(format!("{code}.html"));
        std::fs::write(&html, &out.stdout).expect("write");
        browse(
            &file_url(&html),
            1024,
            768,
            &[
                "--eval",
                "status=document.querySelector('header.verdict').dataset.status",
                "--eval",
                "replays=[...document.querySelectorAll('.gate.replay')].map(g => g.dataset.version + ':' + g.dataset.gate + ':' + g.dataset.replayed)",
                "--eval",
                &format!("baseline={}", centre("figure.chart circle.baseline")),
                "--eval",
                &format!("candidate={}", centre("figure.chart circle.point")),
                "--eval",
                &format!("bound={}", centre("figure.chart path.bound-tick")),
                "--eval",
                "scripts=document.scripts.length",
            ],
        )
    };
    let ok = page(&report, 0);
    let e = &ok.evals;
    assert_eq!(e["status"], "pass", "{ok:?}");
    assert_eq!(
        e["replays"],
        serde_json::json!(["3:beats_champion:reproduced"])
    );
    assert!(
        (f(&e["baseline"], "value") - 0.666667).abs() < 1e-9,
        "{ok:?}"
    );
    assert!((f(&e["candidate"], "value") - 0.833333).abs() < 1e-9);
    assert!((f(&e["bound"], "value") - 0.7).abs() < 1e-6);
    // The candidate above the bound, the bound above the champion.
    assert!(f(&e["candidate"], "y") < f(&e["bound"], "y"));
    assert!(f(&e["bound"], "y") < f(&e["baseline"], "y"));
    assert_eq!(e["scripts"], 0);
    assert!(ok.log.is_empty() && ok.dialogs.is_empty(), "{ok:?}");

    let bad = page(&tampered, 1);
    assert_eq!(bad.evals["status"], "fail", "{bad:?}");
    assert_eq!(
        bad.evals["replays"],
        serde_json::json!(["3:beats_champion:differs"])
    );
}
