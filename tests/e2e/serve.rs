//! `modelgate serve`: versions judged, recorded and promoted as they appear
//! — pushed by a real MLflow server's webhooks, or found by polling the
//! embedded `mlflow.db` — exactly once across a `kill -9` and restarts.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Project, fixtures, fixtures_at, mg, modelgate, python, run, server};

/// A running `modelgate serve`, stopped (SIGKILL) when dropped.
pub(crate) struct Serving {
    child: Child,
    /// Where it listens.
    pub(crate) port: u16,
    log: std::path::PathBuf,
}

impl Serving {
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)], log: &Path) -> Serving {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        Serving::start_on(port, args, env, log)
    }

    pub(crate) fn start_on(port: u16, args: &[&str], env: &[(&str, &str)], log: &Path) -> Serving {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let mut cmd = modelgate();
        cmd.arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start modelgate serve");
        let s = Serving {
            child,
            port,
            log: log.to_path_buf(),
        };
        s.wait_for("/healthz", |body| body == "ok\n");
        s
    }

    pub(crate) fn get(&self, path: &str) -> Option<(u16, String)> {
        http(self.port, "GET", path, &[], b"")
    }

    fn wait_for(&self, path: &str, ok: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((200, body)) = self.get(path)
                && ok(&body)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "serve never answered {path} as expected; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (up to `secs`) until the log holds `needle`; fails with the log.
    pub(crate) fn wait_log(&self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.log_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit code.
    pub(crate) fn stop(mut self) -> i32 {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 request; `None` when nothing answers.
pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Waits (in one Python process) until every version in `versions` of
/// `model` carries a `modelgate.verdict` satisfying `expect` (a Python
/// expression over `v`, the verdict), then returns
/// `{"tags": {VERSION: {…}}, "aliases": {…}}` as MLflow's client sees them.
fn wait_verdicts(uri: &str, model: &str, versions: &[u64], expect: &[&str]) -> Value {
    let script = r#"
import json, sys, time
from mlflow import MlflowClient
uri, model, versions, expect = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
c = MlflowClient(tracking_uri=uri)
deadline = time.time() + 90
while True:
    tags = {str(n): c.get_model_version(model, str(n)).tags for n in versions}
    if all(tags[str(n)].get("modelgate.verdict") in expect[i] for i, n in enumerate(versions)):
        break
    if time.time() > deadline:
        print(json.dumps({"timeout": True, "tags": tags}))
        sys.exit(0)
    time.sleep(0.2)
aliases = c.get_registered_model(model).aliases
print(json.dumps({"tags": tags, "aliases": {k: int(v) for k, v in aliases.items()}}))
"#;
    let expect: Vec<Vec<&str>> = expect.iter().map(|e| e.split('|').collect()).collect();
    let out = run(Command::new(python())
        .args([
            "-c",
            script,
            uri,
            model,
            &serde_json::to_string(versions).expect("json"),
            &serde_json::to_string(&expect).expect("json"),
        ])
        .env("MLFLOW_TRACKING_URI", uri));
    assert_eq!(out.code, 0, "{out}");
    let v: Value = serde_json::from_str(out.stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(v.get("timeout").is_none(), "verdicts never came: {v}");
    v
}

/// `modelgate webhook create` for a serve on `port` (`test`: MLflow's test
/// delivery reaches a serve already listening there).
pub(crate) fn webhook_create(
    uri: &str,
    port: u16,
    secret: &str,
    test: bool,
) -> crate::support::Outcome {
    let url = format!("http://127.0.0.1:{port}/webhooks/mlflow");
    let mut cmd = modelgate();
    cmd.args(["webhook", "create", "--url", &url, "--tracking-uri", uri])
        .args(["--name", &format!("modelgate-{port}")])
        .env("MODELGATE_WEBHOOK_SECRET", secret);
    if !test {
        cmd.arg("--no-test");
    }
    run(&mut cmd)
}

/// [`webhook_create`], which must succeed; the webhook's id.
fn create_webhook(uri: &str, port: u16, secret: &str, test: bool) -> String {
    let created = webhook_create(uri, port, secret, test);
    assert_eq!(created.code, 0, "{created}");
    if test {
        assert!(created.stdout.contains("test delivery: "), "{created}");
    }
    created
        .stdout
        .split_whitespace()
        .nth(2)
        .expect("webhook id")
        .to_string()
}

fn delete_webhook(uri: &str, id: &str) {
    let script = "import sys\nfrom mlflow import MlflowClient\nMlflowClient(tracking_uri=sys.argv[1]).delete_webhook(sys.argv[2])\n";
    let _ = run(Command::new(python()).args(["-c", script, uri, id]));
}

#[test]
fn webhooks_judge_record_and_promote_each_new_version() {
    let model = "served";
    let srv = server();
    // A metric floor and a human approval; `builtin:tags` reads `approval`,
    // so setting that tag later re-judges the version.
    let p = Project::new(&format!(
        "name: s\nmodels:\n  - name: {model}\n    validationTasks:\n      - taskRef: quality\n      - taskRef: approved\ntasks:\n  - name: quality\n    executor: !wasm\n      plugin: builtin:threshold\n      config: {{metrics: {{score: {{threshold: 0.5}}}}}}\n  - name: approved\n    executor: !wasm\n      plugin: builtin:tags\n      config: {{require: {{approval: approved}}}}\n"
    ));
    let secret = "a-test-secret";
    let log = p.dir.path().join("serve.log");
    let serving = Serving::start(
        &[
            "--project",
            &p.path(),
            "--tracking-uri",
            &srv.uri,
            "--poll",
            "off",
            "--promote",
            "champion",
        ],
        &[("MODELGATE_WEBHOOK_SECRET", secret)],
        &log,
    );
    let id = create_webhook(&srv.uri, serving.port, secret, true);
    // Run again, it reuses the webhook rather than adding a second one.
    let again = webhook_create(&srv.uri, serving.port, secret, true);
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again.stdout.starts_with(&format!("reused webhook {id} ")),
        "{again}"
    );
    // MLflow's own "test webhook" (a signed ping about `example_model`,
    // which no project here gates) succeeds: 200, nothing judged.
    let script = "import sys\nfrom mlflow import MlflowClient\nr = MlflowClient(tracking_uri=sys.argv[1]).test_webhook(sys.argv[2])\nprint(r.success, r.response_status)\n";
    let ping = run(Command::new(python()).args(["-c", script, &srv.uri, &id]));
    assert_eq!(ping.stdout.trim(), "True 200", "{ping}");
    assert!(
        serving.log_text().contains("reason=not_gated"),
        "{}",
        serving.log_text()
    );

    // Registered with MLflow's client; no CI step, no polling: the webhook.
    let reg = fixtures(&json!([
        {"op": "version", "model": model, "metrics": {"score": 0.9}},
        {"op": "version", "model": model, "metrics": {"score": 0.1}}
    ]));
    let (good, bad) = (reg[0].version, reg[1].version);
    let seen = wait_verdicts(&srv.uri, model, &[good, bad], &["fail", "fail"]);
    assert_eq!(
        seen["tags"][good.to_string()]["modelgate.gate.quality"],
        "pass",
        "{seen}"
    );
    assert_eq!(
        seen["tags"][good.to_string()]["modelgate.gate.approved"],
        "fail",
        "{seen}"
    );
    assert!(seen["aliases"].get("champion").is_none(), "{seen}");

    // A human approves the good one: the tag event re-judges it, it passes
    // and becomes the champion.
    fixtures(&json!([
        {"op": "version_tag", "model": model, "version": good, "key": "approval", "value": "approved"}
    ]));
    // The alias moves right after the verdict is written: wait for both.
    serving.wait_for("/metrics", |m| m.contains("modelgate_promotions_total 1"));
    let seen = wait_verdicts(&srv.uri, model, &[good], &["pass"]);
    assert_eq!(seen["aliases"]["champion"], good, "{seen}");
    // The approval withdrawn: the deletion's delivery re-judges it (no
    // polling here), and it no longer passes. The alias only moves forward.
    fixtures(&json!([
        {"op": "delete_version_tag", "model": model, "version": good, "key": "approval"}
    ]));
    let seen = wait_verdicts(&srv.uri, model, &[good], &["fail"]);
    assert_eq!(seen["aliases"]["champion"], good, "{seen}");
    // (MLflow delivers events in no set order: the verdict's own delivery
    // may come first and find the record's seal broken.)
    let deleted = format!("event=tag_deleted model={model} version={good}");
    serving.wait_log(&deleted, 30);

    // A badly signed delivery is refused and judges nothing.
    let body = format!(
        r#"{{"entity": "model_version", "action": "created", "data": {{"name": "{model}", "version": "{bad}"}}}}"#
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        .to_string();
    let forged = http(
        serving.port,
        "POST",
        "/webhooks/mlflow",
        &[
            ("Content-Type", "application/json"),
            ("X-MLflow-Signature", "v1,bm90IGEgc2lnbmF0dXJl"),
            ("X-MLflow-Timestamp", &now),
            ("X-MLflow-Delivery-Id", "forged-1"),
        ],
        body.as_bytes(),
    );
    assert_eq!(forged.map(|(s, _)| s), Some(401));
    let unsigned = http(
        serving.port,
        "POST",
        "/webhooks/mlflow",
        &[],
        body.as_bytes(),
    );
    assert_eq!(unsigned.map(|(s, _)| s), Some(401));
    // A body past 1 MiB is refused before anything looks at it: from its
    // declared length, not a byte of it read (or sent).
    let mut too_large = open_with(
        serving.port,
        format!(
            "POST /webhooks/mlflow HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            (1 << 20) + 1
        )
        .as_bytes(),
    );
    assert_eq!(status_of(&mut too_large), Some(413));
    let (_, metrics) = serving.get("/metrics").expect("metrics");
    for line in [
        "modelgate_webhook_refusals_total{reason=\"bad_signature\"} 1",
        "modelgate_webhook_refusals_total{reason=\"unsigned\"} 1",
        "modelgate_webhook_refusals_total{reason=\"too_large\"} 1",
        "modelgate_judgements_total{verdict=\"pass\"} 1",
        "modelgate_promotions_total 1",
    ] {
        assert!(metrics.contains(line), "missing {line:?}:\n{metrics}");
    }
    // Two before the approval, one or two after its deletion (its own
    // delivery, and the verdict's when that came first).
    assert!(
        ["3", "4"].iter().any(|n| metrics
            .lines()
            .any(|l| l == format!("modelgate_judgements_total{{verdict=\"fail\"}} {n}"))),
        "{metrics}"
    );
    let log_text = serving.log_text();
    assert!(
        log_text.contains("event=refused reason=bad_signature"),
        "{log_text}"
    );
    assert_eq!(serving.stop(), 0, "SIGTERM is a clean stop");
    delete_webhook(&srv.uri, &id);
}

/// The versions each `event=judged` line of a serve log names.
fn judged_in(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains("event=judged "))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("version="))
                .and_then(|v| v.parse().ok())
        })
        .collect()
}

/// Registers 50 versions of `model` at `uri` while serve runs, kills it
/// (`kill -9`) in the middle, restarts it and checks from the tags and the
/// logs that every version was judged, none twice, and that a third start
/// has nothing to do. `existing` versions are there before the burst.
fn exactly_once_across_kill(
    p: &Project,
    uri: &str,
    model: &str,
    existing: &[u64],
    args: &[&str],
    env: &[(&str, &str)],
    port: u16,
) {
    let first_log = p.dir.path().join("first.log");
    let first = Serving::start_on(port, args, env, &first_log);
    let burst: Vec<Value> = (0..50)
        .map(|i| json!({"op": "version", "model": model, "metrics": {"score": if i % 3 == 0 { 0.1 } else { 0.9 }}}))
        .collect();
    let (half, rest) = burst.split_at(25);
    let reg_a = fixtures_at(uri, &Value::Array(half.to_vec()));
    // The kill must land on a server that has done something: wait until
    // it has judged a version of the burst (or 60 s, and fail).
    let deadline = Instant::now() + Duration::from_secs(60);
    while judged_in(&first.log_text()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the first server judged nothing before the kill:\n{}",
            first.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut first = first;
    let _ = first.child.kill(); // SIGKILL: no chance to finish anything
    let _ = first.child.wait();
    let first_text = first.log_text();
    drop(first);
    assert!(
        !judged_in(&first_text).is_empty(),
        "the kill came before any judgement: {first_text}"
    );
    let reg_b = fixtures_at(uri, &Value::Array(rest.to_vec()));
    let burst_versions: Vec<u64> = reg_a.iter().chain(&reg_b).map(|r| r.version).collect();
    let all: Vec<u64> = existing
        .iter()
        .copied()
        .chain(burst_versions.iter().copied())
        .collect();
    let mut expect: Vec<&str> = existing.iter().map(|_| "pass").collect();
    expect.extend((0..50).map(|i| if i % 3 == 0 { "fail" } else { "pass" }));

    let second_log = p.dir.path().join("second.log");
    let second = Serving::start_on(port, args, env, &second_log);
    wait_verdicts(uri, model, &all, &expect);
    second.wait_for("/metrics", |m| m.contains("modelgate_queue_depth 0"));
    let seen = wait_verdicts(uri, model, &all, &expect);
    let newest_pass = all
        .iter()
        .zip(&expect)
        .filter(|(_, e)| **e == "pass")
        .map(|(v, _)| *v)
        .max();
    assert_eq!(seen["aliases"]["champion"].as_u64(), newest_pass, "{seen}");
    let second_text = second.log_text();
    assert_eq!(second.stop(), 0);

    // Exactly once: no version judged by both runs, none twice by one.
    let (a, b) = (judged_in(&first_text), judged_in(&second_text));
    for v in &a {
        assert!(
            !b.contains(v),
            "version {v} judged twice:\n{first_text}\n{second_text}"
        );
    }
    for list in [&a, &b] {
        let mut sorted = list.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            list.len(),
            "a run judged a version twice: {list:?}"
        );
    }

    // A third start finds nothing to do and changes nothing.
    let third_log = p.dir.path().join("third.log");
    let third = Serving::start_on(port, args, env, &third_log);
    third.wait_log("event=caught_up", 30);
    let third_text = third.log_text();
    assert!(
        third_text.contains("event=caught_up queued=0"),
        "{third_text}"
    );
    assert_eq!(third.stop(), 0);
    let unchanged = wait_verdicts(uri, model, &all, &expect);
    assert_eq!(
        unchanged["tags"], seen["tags"],
        "a restart re-judged something"
    );
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn webhooks_judge_exactly_once_across_kill_and_restart() {
    let model = "burst";
    let srv = server();
    let p = Project::new(&format!(
        "name: b\nmodels:\n  - name: {model}\n    validationTask:\n      name: quality\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {{metrics: {{score: {{threshold: 0.5}}}}}}\n"
    ));
    let secret = "burst-secret";
    let port = free_port();
    // Nothing listens on the port yet: the test delivery fails, and says
    // what to check; the webhook stays, and is reused by the next create.
    let unheard = webhook_create(&srv.uri, port, secret, true);
    assert_eq!(unheard.code, 2, "{unheard}");
    assert!(
        unheard.stderr.contains("test delivery failed")
            && unheard
                .stderr
                .contains("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"),
        "{unheard}"
    );
    let id = create_webhook(&srv.uri, port, secret, false);
    assert!(unheard.stdout.contains(&id), "{unheard}");
    let path = p.path();
    let args = [
        "--project",
        &path,
        "--tracking-uri",
        &srv.uri,
        "--poll",
        "off",
        "--promote",
        "champion",
    ];
    exactly_once_across_kill(
        &p,
        &srv.uri,
        model,
        &[],
        &args,
        &[("MODELGATE_WEBHOOK_SECRET", secret)],
        port,
    );
    delete_webhook(&srv.uri, &id);
}

#[test]
fn polling_judges_the_embedded_database_exactly_once_across_kill_and_restart() {
    let p = crate::support::example_project("0.6");
    let uri = format!("sqlite:///{}", p.dir.path().join("mlflow.db").display());
    let path = p.path();
    let args = ["--project", &path, "--poll", "1s", "--promote", "champion"];
    exactly_once_across_kill(&p, &uri, "logreg", &[1], &args, &[], free_port());
}

#[test]
fn a_configuration_problem_stops_serve_before_it_listens() {
    let p = Project::new(
        "name: s\nmodels:\n  - name: m\n    validationTask:\n      name: q\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {metrics: {score: {min_relative_change: 2}}}\n",
    );
    let out = mg(&["serve", "--project", &p.path(), "--listen", "127.0.0.1:0"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("rejected its config"), "{out}");
    assert!(out.stderr.contains("hint:"), "{out}");
    let empty_secret = run(modelgate()
        .args(["serve", "--project"])
        .arg(crate::support::root().join("examples/logreg"))
        .args(["--listen", "127.0.0.1:0"])
        .env("MODELGATE_WEBHOOK_SECRET", ""));
    assert_eq!(empty_secret.code, 2, "{empty_secret}");
}

/// Unix seconds now, as text.
fn now_text() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        .to_string()
}

/// Opens a connection to `port` and writes `bytes` (a request head, or
/// part of one); the connection stays open.
fn open_with(port: u16, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(bytes).expect("write");
    s
}

/// The status of the answer on `s`, or `None` when it closed without one.
fn status_of(s: &mut TcpStream) -> Option<u16> {
    let mut head = [0u8; 64];
    let n = s.read(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head[..n]);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[test]
fn the_webhook_port_is_bounded_before_anyone_is_authenticated() {
    let p = crate::support::example_project("0.6");
    let log = p.dir.path().join("serve.log");
    let serving = Serving::start(
        &["--project", &p.path(), "--poll", "off", "--drain", "2s"],
        &[("MODELGATE_WEBHOOK_SECRET", "s3cret")],
        &log,
    );
    let port = serving.port;
    let signed_head = |length: usize| {
        format!(
            "POST /webhooks/mlflow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nX-MLflow-Signature: v1,AAAA\r\nX-MLflow-Timestamp: {}\r\nX-MLflow-Delivery-Id: d\r\n\r\n",
            now_text()
        )
    };

    // A body declared past 1 MiB is refused from its head alone: the
    // answer comes although not a byte of the body was sent.
    let mut big = open_with(port, signed_head((1 << 20) + 1).as_bytes());
    assert_eq!(status_of(&mut big), Some(413));
    // Headers that do not say JSON, or say no length: refused the same way.
    let mut text = open_with(
        port,
        signed_head(10)
            .replace("application/json", "text/plain")
            .as_bytes(),
    );
    assert_eq!(status_of(&mut text), Some(415));

    // Bodies that never come hold at most 16 reads: the 17th is answered
    // 503 at once, and the service still answers.
    let held: Vec<TcpStream> = (0..16)
        .map(|_| open_with(port, signed_head(1000).as_bytes()))
        .collect();
    serving.wait_for("/metrics", |m| {
        m.contains("modelgate_webhook_body_reads 16")
    });
    let mut seventeenth = open_with(port, signed_head(1000).as_bytes());
    assert_eq!(status_of(&mut seventeenth), Some(503));
    assert_eq!(serving.get("/healthz").map(|(s, _)| s), Some(200));
    drop(held);

    // HTTP/2 is not spoken: the h2c preface is no HTTP/1.1 request.
    let mut h2 = open_with(port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let answer = status_of(&mut h2);
    assert!(
        answer.is_none() || answer.is_some_and(|s| (400..500).contains(&s)),
        "{answer:?}"
    );

    // 600 connections holding half a request line: the oldest make room,
    // and /healthz and /metrics still answer.
    let slow: Vec<TcpStream> = (0..600).map(|_| open_with(port, b"GET /heal")).collect();
    assert_eq!(serving.get("/healthz").map(|(s, _)| s), Some(200));
    let (_, metrics) = serving.get("/metrics").expect("metrics");
    let evicted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("modelgate_http_connections_evicted_total "))
        .and_then(|v| v.parse().ok())
        .expect("evictions counted");
    assert!(evicted >= 88, "{metrics}");
    let open: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("modelgate_http_connections "))
        .and_then(|v| v.parse().ok())
        .expect("open connections");
    assert!(open <= 512, "{metrics}");
    drop(slow);

    // A connection that sends half its headers is closed within the header
    // timeout (5 s; the guard is 30 s), with no answer.
    let mut stalled = open_with(port, b"GET /healthz HTTP/1.1\r\nHost:");
    let mut rest = Vec::new();
    let closed = stalled.read_to_end(&mut rest);
    assert!(closed.is_ok(), "not closed in time: {closed:?}");

    // Stopped while clients hold half-sent requests: done within --drain.
    let _half: Vec<TcpStream> = (0..50)
        .map(|_| open_with(port, signed_head(1000).as_bytes()))
        .collect();
    assert_eq!(serving.stop(), 0);
}

#[test]
fn a_delivery_signed_before_serve_started_is_a_replay() {
    // A captured delivery, within the timestamp window but signed before
    // this serve started (by MLflow, for the one before), is refused: the
    // catch-up at start already found what it announced.
    let p = crate::support::example_project("0.6");
    let log = p.dir.path().join("serve.log");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - 2;
    let serving = Serving::start(
        &["--project", &p.path(), "--poll", "off"],
        &[("MODELGATE_WEBHOOK_SECRET", "s3cret")],
        &log,
    );
    let body = br#"{"entity": "model_version", "action": "created", "data": {"name": "logreg", "version": "1"}}"#;
    let send = |ts: u64, id: &str| deliver(serving.port, "s3cret", id, ts, body).map(|(s, _)| s);
    assert_eq!(send(before, "captured"), Some(401));
    let now: u64 = now_text().parse().expect("now");
    assert_eq!(send(now + 1, "fresh"), Some(200));
    let (_, metrics) = serving.get("/metrics").expect("metrics");
    assert!(
        metrics.contains("modelgate_webhook_refusals_total{reason=\"stale\"} 1"),
        "{metrics}"
    );
}

#[test]
fn a_verdict_made_pending_is_left_to_its_writer() {
    // Every record over an older verdict starts with `modelgate.verdict =
    // pending`, which MLflow announces to every replica. That is a record
    // being written, not a verdict to check: acting on it would have two
    // writers re-judge each other's records. A verdict set to a value is
    // checked (queued).
    let p = crate::support::example_project("0.6");
    let log = p.dir.path().join("serve.log");
    let serving = Serving::start(
        &["--project", &p.path(), "--poll", "off"],
        &[("MODELGATE_WEBHOOK_SECRET", "s3cret")],
        &log,
    );
    let send = |id: &str, value: &str| {
        let body = format!(
            r#"{{"entity": "model_version_tag", "action": "set", "data": {{"name": "logreg", "version": "1", "key": "modelgate.verdict", "value": "{value}"}}}}"#
        );
        let ts = now_text().parse::<u64>().expect("now") + 1;
        deliver(serving.port, "s3cret", id, ts, body.as_bytes())
    };
    let (status, body) = send("made-pending", "pending").expect("an answer");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("ignored: a record is being written"),
        "{body}"
    );
    let (status, body) = send("set-by-hand", "pass").expect("an answer");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("queued"), "{body}");
}

/// `body` delivered to serve's webhook on `port` as MLflow delivers it:
/// signed with `secret` under delivery id `id` at Unix time `ts`.
fn deliver(port: u16, secret: &str, id: &str, ts: u64, body: &[u8]) -> Option<(u16, String)> {
    let ts = ts.to_string();
    let sig = sign(secret, id, &ts, body);
    http(
        port,
        "POST",
        "/webhooks/mlflow",
        &[
            ("Content-Type", "application/json"),
            ("X-MLflow-Signature", &sig),
            ("X-MLflow-Timestamp", &ts),
            ("X-MLflow-Delivery-Id", id),
        ],
        body,
    )
}

/// MLflow's signature of a delivery (`v1,` and the base64 of the
/// HMAC-SHA256 of `id.timestamp.body`), computed with Python's standard
/// library, independently of modelgate's own code.
fn sign(secret: &str, id: &str, ts: &str, body: &[u8]) -> String {
    let script = "import base64, hashlib, hmac, sys\n\
        msg = f'{sys.argv[2]}.{sys.argv[3]}.'.encode() + sys.argv[4].encode()\n\
        print('v1,' + base64.b64encode(hmac.new(sys.argv[1].encode(), msg, hashlib.sha256).digest()).decode())\n";
    let out = run(Command::new(python()).args([
        "-c",
        script,
        secret,
        id,
        ts,
        &String::from_utf8_lossy(body),
    ]));
    assert_eq!(out.code, 0, "{out}");
    out.stdout.trim().to_string()
}

/// With webhooks on but none subscribed (deliveries never arrive), polling
/// still judges a new version, and says that no delivery announced it: a
/// warning naming the version, a counter and a gauge.
#[test]
fn polling_says_when_deliveries_stop_arriving() {
    let model = "unannounced";
    let srv = server();
    let p = Project::new(&format!(
        "name: u\nmodels:\n  - name: {model}\n    validationTask:\n      name: quality\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {{metrics: {{score: {{threshold: 0.5}}}}}}\n"
    ));
    let log = p.dir.path().join("serve.log");
    let path = p.path();
    let serving = Serving::start(
        &[
            "--project",
            &path,
            "--tracking-uri",
            &srv.uri,
            "--poll",
            "1s",
        ],
        &[("MODELGATE_WEBHOOK_SECRET", "nobody-delivers")],
        &log,
    );
    serving.wait_for("/metrics", |m| {
        m.contains("modelgate_webhook_deliveries_missing 0")
    });
    let reg = fixtures(&json!([{"op": "version", "model": model, "metrics": {"score": 0.9}}]));
    let version = reg[0].version;
    serving.wait_for("/metrics", |m| {
        m.contains("modelgate_unannounced_versions_total 1")
            && m.contains("modelgate_webhook_deliveries_missing 1")
    });
    let text = serving.log_text();
    assert!(
        text.contains(&format!(
            "event=unannounced model={model} version={version}"
        )),
        "{text}"
    );
    wait_verdicts(&srv.uri, model, &[version], &["pass"]);
}

/// A webhook an earlier release made (new versions and tags set, no
/// deletions) is brought up to date by `webhook create`, not doubled.
#[test]
fn an_older_webhook_is_brought_up_to_date() {
    // A server of its own: the webhook points nowhere, and every event on a
    // shared server would tie up its delivery threads retrying it.
    let srv = crate::support::spawn_server("older-webhook", &[], &[], false);
    let url = "http://127.0.0.1:9/webhooks/mlflow";
    let script = r#"
import sys
from mlflow import MlflowClient
c = MlflowClient(tracking_uri=sys.argv[1])
if sys.argv[2] == "create":
    w = c.create_webhook("older", sys.argv[3], ["model_version.created", "model_version_tag.set"], secret="old")
    print(w.webhook_id)
else:
    for w in c.list_webhooks():
        if w.url == sys.argv[3]:
            print(w.webhook_id, ",".join(sorted(f"{e.entity}.{e.action}" for e in w.events)))
"#;
    let py = |what: &str| {
        let out = run(Command::new(python()).args(["-c", script, &srv.uri, what, url]));
        assert_eq!(out.code, 0, "{out}");
        out.stdout
            .trim()
            .lines()
            .filter(|l| !l.contains("View "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let id = py("create");
    let out = run(modelgate()
        .args([
            "webhook",
            "create",
            "--url",
            url,
            "--tracking-uri",
            &srv.uri,
            "--no-test",
        ])
        .env("MODELGATE_WEBHOOK_SECRET", "new-secret"));
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.starts_with(&format!("reused webhook {id} "))
            && out
                .stdout
                .contains("now delivers model_version_tag.deleted"),
        "{out}"
    );
    assert_eq!(
        py("list"),
        format!("{id} model_version.created,model_version_tag.deleted,model_version_tag.set")
    );
}

/// A verdict's seal covers the tags its gates read as they were judged: an
/// approval withdrawn (the tag deleted) or changed by hand leaves no
/// verdict standing, and with no webhook at all the next poll judges the
/// version again: no `pass` outlives its approval.
#[test]
fn a_withdrawn_approval_is_judged_again() {
    let model = "withdrawn";
    let srv = server();
    let p = Project::new(&format!(
        "name: w\nmodels:\n  - name: {model}\n    validationTask:\n      executor: !wasm\n        plugin: builtin:tags\n        config: {{require: {{approval: approved}}}}\n"
    ));
    let log = p.dir.path().join("serve.log");
    let path = p.path();
    let _serving = Serving::start(
        &[
            "--project",
            &path,
            "--tracking-uri",
            &srv.uri,
            "--poll",
            "1s",
        ],
        &[],
        &log,
    );
    let reg = fixtures(&json!([{"op": "version", "model": model, "metrics": {"score": 0.9}}]));
    let version = reg[0].version;
    wait_verdicts(&srv.uri, model, &[version], &["fail"]);
    // Approved: with no webhook, polling alone sees the approval (the seal
    // says the version was judged without it).
    fixtures(&json!([
        {"op": "version_tag", "model": model, "version": version, "key": "approval", "value": "approved"}
    ]));
    wait_verdicts(&srv.uri, model, &[version], &["pass"]);
    fixtures(&json!([
        {"op": "delete_version_tag", "model": model, "version": version, "key": "approval"}
    ]));
    let seen = wait_verdicts(&srv.uri, model, &[version], &["fail"]);
    assert_eq!(
        seen["tags"][version.to_string()]["modelgate.gate.validationTask"],
        json!("fail"),
        "{seen}"
    );
    // Approved again, then changed by hand to another value.
    fixtures(&json!([
        {"op": "version_tag", "model": model, "version": version, "key": "approval", "value": "approved"}
    ]));
    wait_verdicts(&srv.uri, model, &[version], &["pass"]);
    fixtures(&json!([
        {"op": "version_tag", "model": model, "version": version, "key": "approval", "value": "on hold"}
    ]));
    wait_verdicts(&srv.uri, model, &[version], &["fail"]);
}

/// A process gate's policy is in its script as much as in its command
/// line: a script edited between two starts of `serve` is a new plan, and
/// every version is judged again under it (its verdicts of the old script
/// are not current). So is a changed `env:` value.
#[test]
fn an_edited_gate_script_is_a_new_plan() {
    let model = "scripted";
    let srv = server();
    let yaml = |floor: &str| {
        format!(
            "name: s\nmodels:\n  - name: {model}\n    validationTask:\n      runcommand: sh check.sh\n      env:\n        - key: FLOOR\n          val: '{floor}'\n"
        )
    };
    let p = Project::new(&yaml("1"));
    p.write("check.sh", b"test \"$FLOOR\" = 1\n");
    let log = p.dir.path().join("serve.log");
    let path = p.path();
    let args = [
        "--project",
        &path,
        "--tracking-uri",
        &srv.uri,
        "--poll",
        "1s",
    ];
    let reg = fixtures(&json!([{"op": "version", "model": model, "metrics": {"score": 0.9}}]));
    let version = reg[0].version;
    let serving = Serving::start(&args, &[], &log);
    wait_verdicts(&srv.uri, model, &[version], &["pass"]);
    assert_eq!(serving.stop(), 0);
    p.write("check.sh", b"test \"$FLOOR\" = 2\n");
    let serving = Serving::start(&args, &[], &log);
    wait_verdicts(&srv.uri, model, &[version], &["fail"]);
    assert_eq!(serving.stop(), 0);
    // The script as it is now, another `env:` value: a new plan again.
    std::fs::write(p.dir.path().join("ame.yaml"), yaml("2")).expect("write");
    let _serving = Serving::start(&args, &[], &log);
    wait_verdicts(&srv.uri, model, &[version], &["pass"]);
}

/// A verdict of `error` — a gate that could not decide, here a process
/// killed by a signal — is not kept for good: `serve` judges the version
/// again after `--retry-errors` (doubling), and once the gate can decide
/// records its verdict and promotes the version.
#[test]
fn an_error_verdict_is_judged_again_until_the_gate_decides() {
    let model = "flaky";
    let srv = server();
    let p = Project::new(&format!(
        "name: f\nmodels:\n  - name: {model}\n    validationTask:\n      runcommand: 'test -f ready || kill -9 $$'\n"
    ));
    let log = p.dir.path().join("serve.log");
    let path = p.path();
    let serving = Serving::start(
        &[
            "--project",
            &path,
            "--tracking-uri",
            &srv.uri,
            "--poll",
            "1s",
            "--retry-errors",
            "1s",
            "--promote",
            "champion",
        ],
        &[],
        &log,
    );
    let reg = fixtures(&json!([{"op": "version", "model": model, "metrics": {"score": 0.9}}]));
    let version = reg[0].version;
    let first = wait_verdicts(&srv.uri, model, &[version], &["error"]);
    assert!(first["aliases"].get("champion").is_none(), "{first}");
    // Judged again while the gate still cannot decide: still `error`.
    let again = format!("event=retry_error model={model} version={version} ");
    serving.wait_log(&again, 60);
    std::fs::write(p.dir.path().join("ready"), "").expect("marker");
    // The alias moves right after the verdict is written: wait for both.
    serving.wait_for("/metrics", |m| m.contains("modelgate_promotions_total 1"));
    let last = wait_verdicts(&srv.uri, model, &[version], &["pass"]);
    assert_eq!(last["aliases"]["champion"], json!(version), "{last}");
    let text = serving.log_text();
    assert!(
        text.contains(&format!(
            "event=judged model={model} version={version} verdict=error"
        )) && text.contains(&format!(
            "event=judged model={model} version={version} verdict=pass"
        )),
        "{text}"
    );
}

/// `validate --record --promote` and `serve` judge through one pipeline and
/// record through one recorder: for the same candidate under the same plan
/// they write the same tags (all but when it was judged, and the digests of
/// the report and of the record, which hold that time) and move the alias
/// alike.
#[test]
fn validate_and_serve_record_the_same_tags() {
    use std::collections::BTreeSet;
    let uri = |p: &Project| format!("sqlite:///{}", p.dir.path().join("mlflow.db").display());
    let by_validate = crate::support::example_project("0.6");
    let out = mg(&[
        "validate",
        "--project",
        &by_validate.path(),
        "--record",
        "--promote",
        "champion",
    ]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("champion: (none) → 1"), "{out}");

    let by_serve = crate::support::example_project("0.6");
    let log = by_serve.dir.path().join("serve.log");
    let path = by_serve.path();
    let serving = Serving::start(
        &["--project", &path, "--poll", "1s", "--promote", "champion"],
        &[],
        &log,
    );
    let served = wait_verdicts(&uri(&by_serve), "logreg", &[1], &["pass"]);
    drop(serving);
    assert_eq!(served["aliases"]["champion"], 1, "{served}");

    let recorded = |p: &Project| crate::record::mlflow_tags(&uri(p), "logreg", 1);
    let (a, b) = (recorded(&by_validate), recorded(&by_serve));
    let ours = |t: &Value| -> BTreeSet<String> {
        t.as_object()
            .map(|o| {
                o.keys()
                    .filter(|k| k.starts_with("modelgate."))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(ours(&a), ours(&b), "validate: {a}\nserve: {b}");
    assert!(ours(&a).len() >= 5, "{a}");
    for key in ours(&a) {
        if matches!(
            key.as_str(),
            "modelgate.judged_at" | "modelgate.report" | "modelgate.seal"
        ) {
            continue;
        }
        assert_eq!(a[&key], b[&key], "{key}: validate {a}\nserve {b}");
    }
}
