//! `serve` at scale under faults, against a real MLflow server run as users
//! run it (its default worker count): three replicas sharing the models
//! with `--shard`, webhook deliveries fanned out to all of them, a burst of
//! versions across three models, and every crash window hit on purpose —
//! a fault proxy between the replicas and MLflow holds or fails the chosen
//! write, and the replica that made it is killed with SIGKILL there —, the
//! MLflow server stopped and restarted, a verdict edited by hand, a policy
//! change. At the end, from MLflow's own client: every version carries one
//! current verdict, the one `modelgate validate` reaches for the current
//! policy; each alias is on the newest passing version; and no sample of
//! the aliases, taken all along, ever saw one on a failing version or
//! moving back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::serve::{Serving, free_port, http, webhook_create};
use crate::support::{Project, fixtures_at, modelgate, python, root, run, spawn_server};

/// The replicas.
const REPLICAS: u32 = 3;

/// Each version's `score`, in registration order per model. Policy 1 (the
/// threshold 0.6) passes those at or above it; policy 2 (0.57) also passes
/// the 0.58s. The last registered version of each model is a 0.58: it
/// fails policy 1 and passes policy 2, so the alias moves forward onto it
/// only after the policy change.
const SCORES: [f64; 11] = [0.7, 0.8, 0.5, 0.75, 0.62, 0.55, 0.9, 0.65, 0.58, 0.66, 0.61];
/// The scores registered before the crash windows are set (the random
/// kill falls in their judging); the alias of model 0 still moves after
/// them (0.75) and model 2's version 6 comes after them.
const EARLY: usize = 3;
/// Registered after the MLflow server's restart, one per model.
const LATE: f64 = 0.58;
const POLICY_1: f64 = 0.6;
const POLICY_2: f64 = 0.57;

/// The fault proxy (`tests/env/fault_proxy.py`) in front of the server.
struct Proxy {
    port: u16,
    _child: Child,
}

impl Proxy {
    /// A proxy to `upstreams`, each in turn (round-robin).
    fn start(upstreams: &[String]) -> Proxy {
        let port = free_port();
        let mut cmd = Command::new(python());
        cmd.arg(root().join("tests/env/fault_proxy.py"));
        for u in upstreams {
            cmd.args(["--upstream", u]);
        }
        let child = cmd
            .args(["--port", &port.to_string()])
            .args(["--parent", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the fault proxy");
        let p = Proxy {
            port,
            _child: child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while p.state().is_none() {
            assert!(Instant::now() < deadline, "the fault proxy did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn rules(&self, rules: &Value) {
        let body = rules.to_string();
        let answer = http(self.port, "PUT", "/__fault/rules", &[], body.as_bytes());
        assert_eq!(answer.map(|a| a.0), Some(200), "setting the proxy's rules");
    }

    fn state(&self) -> Option<Value> {
        let (status, body) = http(self.port, "GET", "/__fault/state", &[], b"")?;
        (status == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// Waits until a request is held whose body contains each needle
    /// (with what it is, for the message), killing replica `owners[i]`
    /// as soon as needle `i`'s request is held; the held JSON bodies, in
    /// needle order.
    fn kill_when_held(
        &self,
        needles: &[(String, &str)],
        replicas: &mut Replicas,
        owners: &[u32],
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(120 * needles.len() as u64);
        let mut found: Vec<Option<Value>> = vec![None; needles.len()];
        while found.iter().any(Option::is_none) {
            let held = self
                .state()
                .map(|s| s["held"].clone())
                .unwrap_or(Value::Null);
            let bodies: Vec<&str> = held
                .as_array()
                .map(|h| h.iter().filter_map(|r| r["body"].as_str()).collect())
                .unwrap_or_default();
            for (i, (needle, _)) in needles.iter().enumerate() {
                if found[i].is_some() {
                    continue;
                }
                if let Some(body) = bodies.iter().find(|b| b.contains(needle.as_str())) {
                    replicas.kill(owners[i]);
                    found[i] = Some(serde_json::from_str(body).expect("a held JSON body"));
                }
            }
            let missing: Vec<&str> = needles
                .iter()
                .zip(&found)
                .filter(|(_, f)| f.is_none())
                .map(|((_, what), _)| *what)
                .collect();
            assert!(
                missing.is_empty() || Instant::now() < deadline,
                "never held: {missing:?}\nproxy: {:?}\nlogs:\n{}",
                self.state(),
                replicas.logs()
            );
            if !missing.is_empty() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        found.into_iter().flatten().collect()
    }

    fn release(&self, forward: bool) {
        let body = json!({ "forward": forward }).to_string();
        let answer = http(self.port, "POST", "/__fault/release", &[], body.as_bytes());
        assert_eq!(answer.map(|a| a.0), Some(200));
    }

    /// How many requests it forwarded.
    fn forwarded(&self) -> u64 {
        self.state()
            .and_then(|s| s["requests"].as_u64())
            .unwrap_or(0)
    }

    fn hits(&self) -> Vec<u64> {
        self.state()
            .and_then(|s| serde_json::from_value(s["hits"].clone()).ok())
            .unwrap_or_default()
    }
}

/// The replica that owns `model` under `--shard K/N` (the same hash as
/// `serve`'s: the first 8 bytes of the name's sha256, modulo N).
fn owner(model: &str, n: u32) -> u32 {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(model.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    (u64::from_be_bytes(first) % u64::from(n)) as u32
}

/// One model name per replica, `chaos_<i>` owned by replica i.
fn models() -> Vec<String> {
    (0..REPLICAS)
        .map(|k| {
            (0..1000)
                .map(|i| format!("chaos_{k}_{i}"))
                .find(|m| owner(m, REPLICAS) == k)
                .expect("a name for every replica")
        })
        .collect()
}

fn project_text(models: &[String], threshold: f64) -> String {
    let mut text = String::from("name: chaos\nmodels:\n");
    for m in models {
        text.push_str(&format!(
            "  - name: {m}\n    validationTask:\n      taskRef: quality\n"
        ));
    }
    text.push_str(&format!(
        "tasks:\n  - name: quality\n    executor: !wasm\n      plugin: builtin:threshold\n      config:\n        metrics:\n          score: {{ threshold: {threshold} }}\n"
    ));
    text
}

/// The three replicas, each a `serve --shard K/3` through the proxy.
struct Replicas {
    project: PathBuf,
    tracking: String,
    ports: Vec<u16>,
    logs: Vec<PathBuf>,
    running: Vec<Option<Serving>>,
}

const SECRET: &str = "chaos-secret";

impl Replicas {
    fn start(project: &Path, tracking: &str, dir: &Path) -> Replicas {
        let mut r = Replicas {
            project: project.to_path_buf(),
            tracking: tracking.to_string(),
            ports: (0..REPLICAS).map(|_| free_port()).collect(),
            logs: (0..REPLICAS)
                .map(|k| dir.join(format!("replica-{k}.log")))
                .collect(),
            running: (0..REPLICAS).map(|_| None).collect(),
        };
        for k in 0..REPLICAS {
            r.restart(k);
        }
        r
    }

    /// Starts replica `k` again (after SIGKILL when it is running).
    fn restart(&mut self, k: u32) {
        let i = k as usize;
        self.running[i] = None;
        let shard = format!("{k}/{REPLICAS}");
        let project = self.project.display().to_string();
        let args = [
            "--project",
            project.as_str(),
            "--tracking-uri",
            self.tracking.as_str(),
            "--promote",
            "champion",
            "--poll",
            "1s",
            "--jobs",
            "2",
            "--shard",
            shard.as_str(),
        ];
        self.running[i] = Some(Serving::start_on(
            self.ports[i],
            &args,
            &[("MODELGATE_WEBHOOK_SECRET", SECRET)],
            &self.logs[i],
        ));
    }

    /// SIGKILL, as a node failure or an OOM kill would.
    fn kill(&mut self, k: u32) {
        let i = k as usize;
        drop(self.running[i].take());
    }

    fn logs(&self) -> String {
        self.logs
            .iter()
            .map(|l| std::fs::read_to_string(l).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Samples every model's aliases from MLflow's client until `stop` exists:
/// one JSON line per sample, `{"t": seconds, "aliases": {model: version}}`.
fn start_sampler(uri: &str, models: &[String], out: &Path, stop: &Path) -> Child {
    let script = r#"
import json, sys, time
from mlflow import MlflowClient
uri, models, out, stop = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
import os
c = MlflowClient(tracking_uri=uri)
parent = os.getppid()
with open(out, "a") as f:
    # Until told to stop, or the tests are gone (a failed test never says).
    while not os.path.exists(stop) and os.getppid() == parent:
        try:
            seen = {}
            for m in models:
                try:
                    seen[m] = {k: int(v) for k, v in c.get_registered_model(m).aliases.items()}
                except Exception as e:
                    if "RESOURCE_DOES_NOT_EXIST" not in str(e):
                        raise
            f.write(json.dumps({"t": time.time(), "aliases": seen}) + "\n")
            f.flush()
        except Exception:
            pass  # the server restarting
        time.sleep(0.1)
"#;
    Command::new(python())
        .args(["-c", script, uri])
        .arg(serde_json::to_string(models).expect("json"))
        .arg(out)
        .arg(stop)
        .env("MLFLOW_TRACKING_URI", uri)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the alias sampler")
}

/// Every version's tags and every model's aliases, from MLflow's client.
fn registry_state(uri: &str, models: &[String]) -> Value {
    let script = r#"
import json, sys
from mlflow import MlflowClient
uri, models = sys.argv[1], json.loads(sys.argv[2])
c = MlflowClient(tracking_uri=uri)
out = {}
for m in models:
    versions = c.search_model_versions(f"name='{m}'")
    out[m] = {
        "tags": {str(v.version): v.tags for v in versions},
        "aliases": {k: int(v) for k, v in c.get_registered_model(m).aliases.items()},
    }
print(json.dumps(out))
"#;
    let out = run(Command::new(python())
        .args(["-c", script, uri])
        .arg(serde_json::to_string(models).expect("json"))
        .env("MLFLOW_TRACKING_URI", uri));
    assert_eq!(out.code, 0, "{out}");
    serde_json::from_str(out.stdout.trim().lines().last().unwrap_or("{}")).expect("state JSON")
}

/// Waits until `done` holds of the registry's state; the last state.
fn converge(
    uri: &str,
    models: &[String],
    what: &str,
    replicas: &Replicas,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let state = registry_state(uri, models);
        if done(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "never converged: {what}\nstate: {state}\nlogs:\n{}",
            replicas.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The expected verdict of each version of `model` under `threshold`.
fn expected(scores: &BTreeMap<u64, f64>, threshold: f64) -> BTreeMap<u64, &'static str> {
    scores
        .iter()
        .map(|(v, s)| (*v, if *s >= threshold { "pass" } else { "fail" }))
        .collect()
}

/// True when every version of every model carries its expected verdict,
/// all under one plan per model, each record whole (its seal written).
fn verdicts_are(
    state: &Value,
    scores: &BTreeMap<String, BTreeMap<u64, f64>>,
    threshold: f64,
) -> bool {
    scores.iter().all(|(m, versions)| {
        let want = expected(versions, threshold);
        let tags = &state[m]["tags"];
        let plans: std::collections::BTreeSet<String> = want
            .keys()
            .filter_map(|v| {
                tags[v.to_string()]["modelgate.plan"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        plans.len() == 1
            && want.iter().all(|(v, verdict)| {
                let t = &tags[v.to_string()];
                t["modelgate.verdict"] == *verdict && t["modelgate.seal"].is_string()
            })
    })
}

/// The newest version of each model passing under `threshold`.
fn newest_passing(
    scores: &BTreeMap<String, BTreeMap<u64, f64>>,
    threshold: f64,
) -> BTreeMap<String, u64> {
    scores
        .iter()
        .filter_map(|(m, vs)| {
            vs.iter()
                .filter(|(_, s)| **s >= threshold)
                .map(|(v, _)| *v)
                .max()
                .map(|v| (m.clone(), v))
        })
        .collect()
}

fn aliases_are(state: &Value, want: &BTreeMap<String, u64>) -> bool {
    want.iter()
        .all(|(m, v)| state[m]["aliases"]["champion"].as_u64() == Some(*v))
}

#[test]
fn serve_converges_under_crashes_restarts_races_and_a_policy_change() {
    let srv = spawn_server("chaos", &["--default-workers".to_string()], &[], false);
    let proxy = Proxy::start(std::slice::from_ref(&srv.uri));
    let models = models();
    let dir = crate::support::tempdir();
    let p = Project::new(&project_text(&models, POLICY_1));
    let mut replicas = Replicas::start(&p.dir.path().join("ame.yaml"), &proxy.uri(), dir.path());

    // Deliveries go to every replica (each acts on the models it owns),
    // and once more through a round-robin balancer in front of them all
    // (a delivery reaching a replica that does not own the model is left
    // to its owner). `webhook create` proves with MLflow's test delivery
    // that they arrive through a server with its default workers.
    let balancer = Proxy::start(
        &replicas
            .ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect::<Vec<_>>(),
    );
    for port in replicas.ports.iter().chain([&balancer.port]) {
        let made = webhook_create(&srv.uri, *port, SECRET, true);
        assert_eq!(made.code, 0, "{made}");
        assert!(made.stdout.contains("test delivery:"), "{made}");
    }

    let samples = dir.path().join("samples.jsonl");
    let stop_sampling = dir.path().join("stop-sampling");
    let mut sampler = start_sampler(&srv.uri, &models, &samples, &stop_sampling);

    // The burst: the versions of the three models, interleaved, in two
    // parts: the crash windows below are set between them.
    let ops = |scores: &[f64]| {
        let mut ops = Vec::new();
        for s in scores {
            for m in &models {
                ops.push(json!({"op": "version", "model": m, "metrics": {"score": s}}));
            }
        }
        Value::Array(ops)
    };
    let (early, rest) = SCORES.split_at(EARLY);

    // A replica killed at a random point of the judging of the first part
    // (a seeded count of requests through the proxy while it is being
    // registered and judged; the seed is printed) and restarted.
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()));
    eprintln!("chaos: CHAOS_SEED={seed}");
    let mut rng = seed;
    let mut random = |n: u64| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let victim = random(u64::from(REPLICAS)) as u32;
    let after = proxy.forwarded() + 1 + random(60);
    let mut registered = std::thread::scope(|scope| {
        let uri = &srv.uri;
        let early = ops(early);
        let registering = scope.spawn(move || fixtures_at(uri, &early));
        let deadline = Instant::now() + Duration::from_secs(120);
        while proxy.forwarded() < after {
            assert!(Instant::now() < deadline, "the replicas made no requests");
            std::thread::sleep(Duration::from_millis(20));
        }
        replicas.kill(victim);
        replicas.restart(victim);
        registering.join().expect("registering the first part")
    });

    // The crash windows, each on one model's owner: between the verdict
    // and the alias move (model 0), between the seal and the verdict of a
    // record (model 1), at the start of a record (model 2, version 6);
    // and the store refusing a racing write once (model 2). (Between
    // `pending` and the rest of a record comes with the policy change.)
    // Set after the random kill: a request held for the replica it
    // killed would cut nobody any more (its restart redoes the record,
    // unheld), and before the rest of the burst, whose records they hold.
    let (m0, m1, m2) = (&models[0], &models[1], &models[2]);
    proxy.rules(&json!([
        { "method": "POST", "path": "/api/2.0/mlflow/model-versions/set-tag",
          "contains": [format!("\"name\":\"{m2}\""), "\"key\":\"modelgate.judged_at\"", "\"version\":\"6\""],
          "action": "hold", "times": 1 },
        { "method": "POST", "path": "/api/2.0/mlflow/registered-models/alias",
          "contains": [format!("\"name\":\"{m0}\"")], "action": "hold", "times": 1 },
        { "method": "POST", "path": "/api/2.0/mlflow/model-versions/set-tag",
          "contains": [format!("\"name\":\"{m1}\""), "\"key\":\"modelgate.seal\""],
          "action": "hold", "times": 1 },
        { "method": "POST", "path": "/api/2.0/mlflow/model-versions/set-tag",
          "contains": [format!("\"name\":\"{m2}\""), "\"key\":\"modelgate.plan\""],
          "action": "fail", "status": 400, "times": 1,
          "body": "{\"error_code\": \"BAD_REQUEST\", \"message\": \"(sqlite3.IntegrityError) UNIQUE constraint failed: model_version_tags.key, model_version_tags.name, model_version_tags.version\"}" }
    ]));

    // A replica dies holding the alias move of model 0, another between
    // the seal and the verdict of a record of model 1, a third at the
    // start of a record (model 2): each is killed as soon as its request
    // is held, while the rest of the burst is being registered (a request
    // held past the client's timeout would be retried past its hold), and
    // all restart. The cut records read no verdict meanwhile.
    let held = std::thread::scope(|scope| {
        let uri = &srv.uri;
        let rest = ops(rest);
        let registering = scope.spawn(move || fixtures_at(uri, &rest));
        let held = proxy.kill_when_held(
            &[
                (format!("\"name\":\"{m0}\""), "the alias move of model 0"),
                ("modelgate.seal".to_string(), "a seal of model 1"),
                ("modelgate.judged_at".to_string(), "a record of model 2"),
            ],
            &mut replicas,
            &[
                owner(m0, REPLICAS),
                owner(m1, REPLICAS),
                owner(m2, REPLICAS),
            ],
        );
        registered.extend(registering.join().expect("registering the rest"));
        held
    });
    let mut scores: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
    for (r, s) in registered
        .iter()
        .zip(SCORES.iter().flat_map(|s| [*s; REPLICAS as usize]))
    {
        scores
            .entry(r.model.clone())
            .or_default()
            .insert(r.version, s);
    }

    let sealing = &held[1];
    let state = registry_state(&srv.uri, &models);
    for (m, v) in [
        (m1, sealing["version"].as_str().expect("version")),
        (m2, "6"),
    ] {
        let verdict = &state[m]["tags"][v]["modelgate.verdict"];
        assert!(
            verdict.is_null() || verdict == "pending",
            "{m} version {v} cut mid-record reads {verdict}: {state}"
        );
    }
    proxy.release(false);
    for k in 0..REPLICAS {
        replicas.restart(k);
    }
    let restarted = Instant::now();

    // The MLflow server goes down and comes back; versions keep coming.
    srv.restart();
    let late: Vec<Value> = models
        .iter()
        .map(|m| json!({"op": "version", "model": m, "metrics": {"score": LATE}}))
        .collect();
    for r in fixtures_at(&srv.uri, &Value::Array(late)) {
        scores
            .entry(r.model.clone())
            .or_default()
            .insert(r.version, LATE);
    }

    // Policy 1 converges: every verdict, every alias.
    let state = converge(&srv.uri, &models, "policy 1", &replicas, |s| {
        verdicts_are(s, &scores, POLICY_1) && aliases_are(s, &newest_passing(&scores, POLICY_1))
    });
    // A figure for the notes, not an assertion: how long the repair took.
    eprintln!(
        "chaos: policy 1 converged {:.1} s after the killed replicas restarted (the MLflow server restarted meanwhile)",
        restarted.elapsed().as_secs_f64()
    );
    // The racing write was refused once and retried, not given up; the
    // balancer did deliver.
    assert_eq!(proxy.hits().get(3), Some(&1), "the refused write");
    assert!(balancer.forwarded() > 0, "no delivery through the balancer");
    let logs = replicas.logs();
    assert!(
        logs.contains("UNIQUE constraint failed") && logs.contains("retry 1 of"),
        "the refused write was not retried:\n{logs}"
    );

    // A verdict set by hand on a failing version is not taken: the
    // version is judged again and the record is whole and failing again.
    let failing = *scores[m2]
        .iter()
        .find(|(_, s)| **s < POLICY_1)
        .map(|(v, _)| v)
        .expect("a failing version");
    let edited_seal = state[m2]["tags"][failing.to_string()]["modelgate.seal"].clone();
    fixtures_at(
        &srv.uri,
        &json!([{"op": "version_tag", "model": m2, "version": failing,
                 "key": "modelgate.verdict", "value": "pass"}]),
    );
    converge(
        &srv.uri,
        &models,
        "the edited verdict judged again",
        &replicas,
        |s| {
            let t = &s[m2]["tags"][failing.to_string()];
            t["modelgate.verdict"] == "fail" && t["modelgate.seal"] != edited_seal
        },
    );

    // The policy changes: every replica restarts with the new threshold,
    // and re-judges every version. Model 0's owner dies right after a
    // re-record began (its old verdict made `pending`, the rest held), a
    // passing verdict of the old policy beside nothing of the new: the
    // false pass a crash used to leave.
    proxy.rules(&json!([
        { "method": "POST", "path": "/api/2.0/mlflow/model-versions/set-tag",
          "contains": [format!("\"name\":\"{m0}\""), "\"key\":\"modelgate.judged_at\""],
          "action": "hold", "times": 1 }
    ]));
    let changed_at = now();
    for k in 0..REPLICAS {
        replicas.kill(k);
    }
    std::fs::write(
        p.dir.path().join("ame.yaml"),
        project_text(&models, POLICY_2),
    )
    .expect("write");
    for k in 0..REPLICAS {
        replicas.restart(k);
    }
    let held = proxy.kill_when_held(
        &[("modelgate.judged_at".to_string(), "a re-record of model 0")],
        &mut replicas,
        &[owner(m0, REPLICAS)],
    );
    let v = held[0]["version"].as_str().expect("version");
    let cut = registry_state(&srv.uri, &models);
    assert_eq!(
        cut[m0]["tags"][v]["modelgate.verdict"], "pending",
        "{m0} version {v} cut mid-re-record: {cut}"
    );
    proxy.release(false);
    replicas.restart(owner(m0, REPLICAS));
    let restarted = Instant::now();
    let state = converge(&srv.uri, &models, "policy 2", &replicas, |s| {
        verdicts_are(s, &scores, POLICY_2) && aliases_are(s, &newest_passing(&scores, POLICY_2))
    });
    eprintln!(
        "chaos: policy 2 converged {:.1} s after the replicas restarted with it ({} versions)",
        restarted.elapsed().as_secs_f64(),
        scores.values().map(BTreeMap::len).sum::<usize>()
    );

    std::fs::write(&stop_sampling, b"").expect("stop the sampler");
    let _ = sampler.wait();

    // Each version's verdict is what `modelgate validate` decides now.
    for (m, versions) in &scores {
        for v in versions.keys() {
            let out = run(modelgate()
                .args(["validate", m, "--version", &v.to_string()])
                .args(["--project", &p.path(), "--tracking-uri", &srv.uri]));
            let verdict = &state[m]["tags"][v.to_string()]["modelgate.verdict"];
            let want = if out.code == 0 { "pass" } else { "fail" };
            assert!(out.code <= 1, "{out}");
            assert_eq!(verdict, want, "{m} version {v}");
        }
    }

    // The aliases never moved back nor onto a version failing the policy
    // of the moment, in any sample.
    let text = std::fs::read_to_string(&samples).expect("samples");
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen = 0;
    for line in text.lines() {
        let Ok(sample) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let policy = if sample["t"].as_f64().unwrap_or(0.0) < changed_at {
            POLICY_1
        } else {
            POLICY_2
        };
        for m in &models {
            let Some(v) = sample["aliases"][m]["champion"].as_u64() else {
                continue;
            };
            seen += 1;
            let score = scores[m].get(&v).copied().unwrap_or(0.0);
            assert!(
                score >= POLICY_2 && (policy == POLICY_2 || score >= POLICY_1),
                "{m}'s champion was on version {v} (score {score}) at {}",
                sample["t"]
            );
            let before = last.insert(m.clone(), v).unwrap_or(0);
            assert!(
                v >= before,
                "{m}'s champion moved back from {before} to {v}"
            );
        }
    }
    assert!(seen > 100, "too few samples: {seen}");
}

/// Unix seconds now.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
