//! The two registry backends: the same store read through the REST API and
//! directly from its SQLite file must give the same answers.

use serde_json::{Value, json};

use crate::guests;
use crate::support::{Project, fixtures, mg, modelgate, root, run, server, train, validate};

/// Keeps what must not differ between backends: drops timings, the URI and
/// the project path.
pub fn normalized(mut report: Value) -> Value {
    report["tracking_uri"] = Value::Null;
    report["project"] = Value::Null;
    if let Some(models) = report["models"].as_array_mut() {
        for m in models {
            m["judged_at"] = Value::Null;
            if let Some(gates) = m["gates"].as_array_mut() {
                for g in gates {
                    g["duration_ms"] = Value::Null;
                    // Process gates print the URI they were given.
                    g["output"] = Value::Null;
                    // The evidence (every registry answer) must agree too,
                    // but for when it was made and the seed drawn.
                    if let Some(e) = g["evidence"].as_object_mut() {
                        e.insert("clock_ms".into(), Value::Null);
                        e.insert("seed".into(), Value::Null);
                    }
                }
            }
        }
    }
    report
}

#[test]
fn rest_and_sqlite_give_the_same_verdicts() {
    let model = "parity";
    let reg = fixtures(&json!([
        {"op": "version", "model": model, "metrics": {"score": 0.55, "loss": 0.9},
         "history": {"loss_curve": [1.0, 0.5, 0.25]}, "params": {"C": 1}, "tags": {"team": "a"}},
        {"op": "version", "model": model, "metrics": {"score": 0.75, "loss": "nan"},
         "history": {"loss_curve": [0.9, 0.4, 0.3, 0.29]}},
        {"op": "version", "model": model, "metrics": {"score": 0.65}},
        {"op": "alias", "model": model, "alias": "champion", "version": 1},
        {"op": "alias", "model": model, "alias": "challenger", "version": 2}
    ]));
    assert_eq!(reg.len(), 3);
    assert!(reg.iter().all(|r| r.model == model && r.run_id.len() == 32));
    assert_eq!(reg.iter().map(|r| r.version).collect::<Vec<_>>(), [1, 2, 3]);
    let p = Project::new(&format!(
        "name: parity
models:
  - name: {model}
    validationTasks:
      - name: echo
        executor: !wasm
          plugin: echo.wasm
      - name: quality
        executor: !wasm
          plugin: builtin:threshold
          config:
            baseline: champion
            metrics:
              score: {{threshold: 0.6, min_relative_change: 0.1}}
              loss: {{threshold: 1.0, greater_is_better: false}}
      - name: previous
        executor: !wasm
          plugin: builtin:threshold
          config:
            metrics:
              score: {{min_absolute_change: 0.01, baseline: previous}}
      - name: script
        runcommand: test \"$MODELGATE_MODEL_VERSION\" -ge 2
"
    ));
    p.copy_abs(guests::ECHO(), "echo.wasm");
    let srv = server();
    for selector in [
        vec!["--version", "1"],
        vec!["--version", "2"],
        vec!["--alias", "challenger"],
        vec![],
        // Sweeps: every version's aliases and tags, every run, in batches
        // (one task per judgement, and one at a time).
        vec!["--all-versions"],
        vec!["--all-versions", "--jobs", "1"],
    ] {
        let mut rest_cmd = modelgate();
        rest_cmd
            .args(["validate", "--format", "json", "--project", &p.path()])
            .args(&selector)
            .env("MLFLOW_TRACKING_URI", &srv.uri);
        let rest = run(&mut rest_cmd);
        let path = p.path();
        let mut args = vec!["validate", "--format", "json", "--project", &path];
        let sqlite_uri = srv.sqlite_uri();
        args.extend(["--tracking-uri", &sqlite_uri]);
        args.extend(selector.iter().copied());
        let sqlite = mg(&args);
        assert!(rest.code == 0 || rest.code == 1, "{rest}");
        assert_eq!(rest.code, sqlite.code, "REST:\n{rest}\nSQLite:\n{sqlite}");
        assert_eq!(
            normalized(rest.json()),
            normalized(sqlite.json()),
            "selector {selector:?}"
        );
        // The echo gate exercised every registry call and found them consistent.
        for m in rest.json()["models"].as_array().expect("models") {
            assert_eq!(m["gates"][0]["passed"], true, "{rest}");
        }
    }
    // Spot-check the verdicts themselves: v2 passes the champion comparison
    // (0.75 vs 0.55), its NaN loss fails the loss threshold.
    let v2 = mg(&[
        "validate",
        "--format",
        "json",
        "--project",
        &p.path(),
        "--tracking-uri",
        &srv.uri,
        "--version",
        "2",
    ]);
    let gates = &v2.json()["models"][0]["gates"];
    let quality = &gates[1];
    assert_eq!(quality["passed"], false, "{v2}");
    assert_eq!(quality["checks"][0]["passed"], true, "{v2}");
    assert_eq!(quality["checks"][1]["passed"], false, "{v2}");
    assert_eq!(quality["checks"][1]["observed"], "NaN", "{v2}");
    assert_eq!(gates[2]["passed"], true, "previous: 0.75 vs 0.55: {v2}");
    assert_eq!(gates[3]["passed"], true, "{v2}");
}

#[test]
fn the_example_against_a_server_fed_by_train_py() {
    // The demo's own training code registers `logreg` on the server; the
    // example project gives the same verdict as on its bundled mlflow.db.
    let version = train("logreg", &[]);
    let example = root().join("examples/logreg");
    let example = example.to_str().expect("utf-8");
    let served = validate(example, &server().uri, &["--format", "json"]);
    assert_eq!(served.code, 0, "{served}");
    let bundled = mg(&["validate", "--project", example, "--format", "json"]);
    assert_eq!(bundled.code, 0, "{bundled}");
    let (a, b) = (served.json(), bundled.json());
    assert_eq!(a["models"][0]["version"], version);
    // The same checks, but for where the values came from: each store's
    // own LoggedModel and run ids.
    let without_ids = |v: &Value| {
        let mut checks = v["models"][0]["gates"][0]["checks"].clone();
        for c in checks.as_array_mut().expect("checks") {
            let detail = c["detail"].as_str().expect("a source");
            assert!(detail.starts_with("from LoggedModel m-"), "{detail}");
            c["detail"] = Value::Null;
        }
        checks
    };
    assert_eq!(without_ids(&a), without_ids(&b));
    // The guide's process gate, through the same server.
    let process = root().join("examples/logreg/ame.process.yaml");
    let out = validate(process.to_str().expect("utf-8"), &server().uri, &[]);
    assert_eq!(out.code, 0, "{out}");
}
