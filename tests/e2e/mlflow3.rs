//! MLflow 3's model-centric metrics, end to end: versions evaluated the way
//! MLflow 3 teaches (`tests/env/mlflow3.py`: an evaluation run logging
//! against the LoggedModel per dataset, `mlflow.models.evaluate`,
//! `mlflow.genai.evaluate` with code-based scorers), judged through the
//! real server and through MLflow's embedded store, each filled by MLflow.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::guests;
use crate::support::{Evaluated, Project, embedded_store, mg, mlflow3_at, modelgate, run, server};

/// One store with every scenario registered in it.
pub struct Store {
    /// What the tests call it.
    label: &'static str,
    /// Its tracking URI.
    pub uri: String,
    /// What was registered, in the order of [`ops`].
    registered: Vec<Evaluated>,
    /// Keeps an embedded store's directory.
    _dir: Option<tempfile::TempDir>,
}

impl Store {
    /// The `n`-th version registered of `model`.
    fn version(&self, model: &str, n: usize) -> &Evaluated {
        self.registered
            .iter()
            .filter(|e| e.model == model)
            .nth(n)
            .unwrap_or_else(|| panic!("{}: no version {n} of {model}", self.label))
    }
}

/// The scenarios: (model, what registers its versions).
fn ops() -> Value {
    json!([
        // The user: accuracy 0.91 only on the LoggedModel.
        {"op": "evaluated", "model": "m3_holdout",
         "evals": [{"dataset": "holdout", "metrics": {"accuracy": 0.91}}]},
        // Two datasets, and a NaN MLflow keeps as 0 on the LoggedModel.
        {"op": "evaluated", "model": "m3_two", "evals": [
            {"dataset": "holdout", "metrics": {"accuracy": 0.91, "loss": "nan"}},
            {"dataset": "canary", "metrics": {"accuracy": 0.85}}]},
        // A NaN at the newest point but not the run's latest step: the
        // LoggedModel's current value is the 0 MLflow stored for it.
        {"op": "evaluated", "model": "m3_steps", "evals": [
            {"dataset": "holdout", "metrics": {"loss": [[5, 0.3], [0, "nan"]]}}]},
        {"op": "models_evaluate", "model": "m3_eval", "noise": 0.1},
        {"op": "genai", "model": "m3_agent", "answers": ["Paris", "4", "green", "Jupiter"]},
        {"op": "genai", "model": "m3_agent", "answers": ["Lyon", "5", "green", "Jupiter"]},
        {"op": "evaluated", "model": "m3_cc",
         "evals": [{"dataset": "holdout", "metrics": {"accuracy": 0.80}}]},
        {"op": "evaluated", "model": "m3_cc",
         "evals": [{"dataset": "holdout", "metrics": {"accuracy": 0.84}}]},
        {"op": "alias", "model": "m3_cc", "alias": "champion", "version": 1}
    ])
}

/// The embedded store with the scenarios registered (for other modules'
/// tests of the rule).
pub fn embedded() -> &'static Store {
    stores()[1]
}

/// The real server and an embedded store, each with the scenarios
/// registered by MLflow's own client (once per test run).
fn stores() -> [&'static Store; 2] {
    static SERVED: OnceLock<Store> = OnceLock::new();
    static EMBEDDED: OnceLock<Store> = OnceLock::new();
    let served = SERVED.get_or_init(|| {
        let dir = crate::support::tempdir();
        let uri = server().uri.clone();
        let registered = mlflow3_at(&uri, dir.path(), &ops());
        Store {
            label: "server",
            uri,
            registered,
            _dir: None,
        }
    });
    let embedded = EMBEDDED.get_or_init(|| {
        let (dir, uri) = embedded_store();
        let registered = mlflow3_at(&uri, dir.path(), &ops());
        Store {
            label: "embedded",
            uri,
            registered,
            _dir: Some(dir),
        }
    });
    [served, embedded]
}

/// A project gating `model` with `builtin:threshold` gates: (name, config).
fn project(model: &str, gates: &[(&str, &str)]) -> Project {
    let mut yaml = format!("name: m3\nmodels:\n  - name: {model}\n    validationTasks:\n");
    for (name, config) in gates {
        yaml.push_str(&format!(
            "      - name: {name}\n        executor: !wasm\n          plugin: builtin:threshold\n          config: {config}\n"
        ));
    }
    Project::new(&yaml)
}

/// `validate --format json` of `p` against `store`, with `extra` args.
fn judge(p: &Project, store: &Store, extra: &[&str]) -> (i32, Value, String) {
    let mut cmd = modelgate();
    cmd.args(["validate", "--format", "json", "--project", &p.path()])
        .args(["--tracking-uri", &store.uri])
        .args(extra);
    let out = run(&mut cmd);
    assert!(out.code == 0 || out.code == 1, "{}: {out}", store.label);
    let json = out.json();
    (out.code, json, out.to_string())
}

#[test]
fn a_metric_only_on_the_logged_model_passes_its_threshold() {
    for store in stores() {
        let e = store.version("m3_holdout", 0);
        let p = project(
            "m3_holdout",
            &[("quality", "{metrics: {accuracy: {threshold: 0.9}}}")],
        );
        let (code, report, out) = judge(&p, store, &[]);
        assert_eq!(code, 0, "{}: {out}", store.label);
        let gate = &report["models"][0]["gates"][0];
        let check = &gate["checks"][0];
        assert_eq!(check["observed"], "0.91", "{}: {out}", store.label);
        let detail = check["detail"].as_str().expect("detail");
        let eval_run = &e.eval_run_ids[0];
        assert!(
            detail.starts_with(&format!(
                "from LoggedModel {} on dataset holdout@",
                e.model_id
            )) && detail.ends_with(&format!("(run {eval_run})")),
            "{}: {detail}",
            store.label
        );
        // The training run is the version's; the value came from elsewhere.
        assert_eq!(
            report["models"][0]["run_id"],
            e.run_id.as_deref().expect("run")
        );
        let candidate = &gate["evidence"]["candidate"];
        assert_eq!(candidate["version"]["model_id"], e.model_id.as_str());
        assert_eq!(candidate["logged_model"]["model_id"], e.model_id.as_str());
        assert_eq!(gate["evidence"]["wit"], "0.3.0");
        // Thresholds only: the lean build judged, with the LoggedModel it
        // was handed and no registry call.
        assert!(gate["evidence"]["lean_sha256"].is_string(), "{out}");
        assert_eq!(gate["evidence"]["calls"], json!([]), "{out}");
    }
}

#[test]
fn a_gate_per_dataset_and_none_that_guesses() {
    for store in stores() {
        let p = project(
            "m3_two",
            &[
                (
                    "holdout",
                    "{dataset: holdout, metrics: {accuracy: {threshold: 0.9}}}",
                ),
                (
                    "canary",
                    "{metrics: {accuracy: {threshold: 0.9, dataset: canary}}}",
                ),
                ("unsaid", "{metrics: {accuracy: {threshold: 0.8}}}"),
                (
                    "nan_loss",
                    "{metrics: {loss: {threshold: 0.5, greater_is_better: false, dataset: holdout}}}",
                ),
                (
                    "absent",
                    "{metrics: {accuracy: {threshold: 0.5, dataset: golden}}}",
                ),
            ],
        );
        let (code, report, out) = judge(&p, store, &[]);
        assert_eq!(code, 1, "{}: {out}", store.label);
        let gates = report["models"][0]["gates"].as_array().expect("gates");
        let passed: Vec<(&str, bool)> = gates
            .iter()
            .map(|g| {
                (
                    g["name"].as_str().expect("name"),
                    g["passed"].as_bool().expect("passed"),
                )
            })
            .collect();
        assert_eq!(
            passed,
            [
                ("holdout", true),
                ("canary", false),
                ("unsaid", false),
                ("nan_loss", false),
                ("absent", false)
            ],
            "{}: {out}",
            store.label
        );
        assert_eq!(gates[1]["checks"][0]["observed"], "0.85");
        let unsaid = &gates[2]["checks"][0];
        assert!(unsaid.get("observed").is_none(), "{unsaid}");
        assert_eq!(
            unsaid["detail"],
            "logged on several datasets (canary, holdout); set `dataset:` to say which",
            "{}",
            store.label
        );
        // MLflow keeps the LoggedModel's NaN as 0, which would pass
        // `<= 0.5`: the run that logged it says NaN, and so does the check.
        let nan = &gates[3]["checks"][0];
        assert_eq!(nan["observed"], "NaN", "{}: {out}", store.label);
        assert!(
            nan["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("candidate value is NaN")),
            "{nan}"
        );
        assert_eq!(
            gates[4]["checks"][0]["detail"],
            "metric not logged on dataset golden"
        );
    }
}

#[test]
fn a_nan_mlflow_kept_as_zero_never_passes() {
    // The run's latest `loss` is 0.3 at step 5; the LoggedModel's newest
    // is the NaN logged at step 0 afterwards, which MLflow keeps as 0 and
    // which would pass `<= 0.5`. Both stores see the NaN.
    for store in stores() {
        let p = project(
            "m3_steps",
            &[(
                "loss",
                "{metrics: {loss: {threshold: 0.5, greater_is_better: false}}}",
            )],
        );
        let (code, report, out) = judge(&p, store, &[]);
        assert_eq!(code, 1, "{}: {out}", store.label);
        let check = &report["models"][0]["gates"][0]["checks"][0];
        assert_eq!(check["observed"], "NaN", "{}: {out}", store.label);
        let points =
            &report["models"][0]["gates"][0]["evidence"]["candidate"]["logged_model"]["metrics"];
        assert_eq!(points.as_array().map(Vec::len), Some(2), "{points}");
    }
}

#[test]
fn mlflow_models_evaluate_metrics_gate_the_version() {
    for store in stores() {
        let e = store.version("m3_eval", 0);
        let accuracy = e.metrics["accuracy_score"];
        let log_loss = e.metrics["log_loss"];
        let p = project(
            "m3_eval",
            &[
                (
                    "meets",
                    &format!(
                        "{{dataset: holdout, metrics: {{accuracy_score: {{threshold: {}}}, log_loss: {{threshold: {}, greater_is_better: false}}}}}}",
                        accuracy - 0.01,
                        log_loss + 0.01
                    ),
                ),
                (
                    "misses",
                    &format!(
                        "{{metrics: {{accuracy_score: {{threshold: {}}}}}}}",
                        accuracy + 0.01
                    ),
                ),
            ],
        );
        let (code, report, out) = judge(&p, store, &[]);
        assert_eq!(code, 1, "{}: {out}", store.label);
        let gates = &report["models"][0]["gates"];
        assert_eq!(gates[0]["passed"], true, "{}: {out}", store.label);
        assert_eq!(gates[1]["passed"], false, "{}: {out}", store.label);
        let check = &gates[1]["checks"][0];
        assert!(
            check["detail"]
                .as_str()
                .is_some_and(|d| d.contains(&format!("LoggedModel {}", e.model_id))),
            "{check}"
        );
    }
}

#[test]
fn genai_evaluate_scorers_gate_the_version() {
    for store in stores() {
        let (good, bad) = (store.version("m3_agent", 0), store.version("m3_agent", 1));
        assert_eq!(good.metrics["exact_match/mean"], 0.75);
        assert_eq!(bad.metrics["exact_match/mean"], 0.25);
        let p = project(
            "m3_agent",
            &[(
                "answers",
                "{metrics: {exact_match/mean: {threshold: 0.5}, is_short/mean: {threshold: 1.0}}}",
            )],
        );
        let v = |n: u64| n.to_string();
        let (code, report, out) = judge(&p, store, &["--version", &v(good.version)]);
        assert_eq!(code, 0, "{}: {out}", store.label);
        assert_eq!(
            report["models"][0]["gates"][0]["checks"][0]["observed"],
            "0.75"
        );
        // An external model has no training run: the version has none.
        assert!(report["models"][0].get("run_id").is_none_or(Value::is_null));
        let (code, report, out) = judge(&p, store, &["--version", &v(bad.version)]);
        assert_eq!(code, 1, "{}: {out}", store.label);
        let checks = &report["models"][0]["gates"][0]["checks"];
        assert_eq!(checks[0]["passed"], false);
        assert_eq!(checks[0]["observed"], "0.25");
        assert_eq!(checks[1]["passed"], true, "is_short/mean is 1");
    }
}

#[test]
fn champion_and_challenger_compare_their_logged_models_and_replay() {
    for store in stores() {
        let (champion, challenger) = (store.version("m3_cc", 0), store.version("m3_cc", 1));
        let gate = |change: f64| {
            format!(
                "{{baseline: champion, dataset: holdout, metrics: {{accuracy: {{threshold: 0.7, min_relative_change: {change}}}}}}}"
            )
        };
        let p = project("m3_cc", &[("wins", &gate(0.04)), ("by_far", &gate(0.06))]);
        let version = challenger.version.to_string();
        let (code, report, out) = judge(&p, store, &["--version", &version]);
        assert_eq!(code, 1, "{}: {out}", store.label);
        let gates = &report["models"][0]["gates"];
        assert_eq!(gates[0]["passed"], true, "0.84 is 5% over 0.80: {out}");
        assert_eq!(gates[1]["passed"], false, "but not 6%: {out}");
        let check = &gates[0]["checks"][0];
        assert_eq!(check["expected"], ">= 0.7 and +4% vs champion v1 (0.8)");
        let detail = check["detail"].as_str().expect("detail");
        assert!(
            detail.contains(&format!(
                "champion v1 from LoggedModel {} on dataset holdout@",
                champion.model_id
            )),
            "{detail}"
        );
        // The full build read the champion's LoggedModel through the
        // registry: the evidence has the call, and replay needs nothing else.
        let calls = gates[0]["evidence"]["calls"].as_array().expect("calls");
        let names: Vec<&str> = calls.iter().filter_map(|c| c["call"].as_str()).collect();
        assert_eq!(
            names,
            ["get-model-version-by-alias", "get-logged-model"],
            "the champion's run is not read: its metric is on its model"
        );
        assert_eq!(calls[1]["args"], json!([champion.model_id]));
        let file = p.dir.path().join("report.json");
        std::fs::write(&file, serde_json::to_vec(&report).expect("json")).expect("write");
        let replay = mg(&[
            "replay",
            file.to_str().expect("utf-8"),
            "--project",
            &p.path(),
        ]);
        assert_eq!(replay.code, 0, "{}: {replay}", store.label);
        assert!(replay.stdout.contains("REPRODUCED: 2 of 2"), "{replay}");
        // The champion's recorded value changed: the decision changes.
        let replay_of = |edit: &dyn Fn(&mut Value)| {
            let mut changed = report.clone();
            edit(&mut changed);
            std::fs::write(&file, serde_json::to_vec(&changed).expect("json")).expect("write");
            mg(&[
                "replay",
                file.to_str().expect("utf-8"),
                "--project",
                &p.path(),
            ])
        };
        let differs = replay_of(&|r| {
            r["models"][0]["gates"][1]["evidence"]["calls"][1]["ok"]["metrics"][0]["value"] =
                json!(0.70)
        });
        assert_eq!(differs.code, 1, "{differs}");
        assert!(
            differs.stdout.contains("DIFFERS: gate `by_far`"),
            "{differs}"
        );
        // A LoggedModel no run could have handed: refused, not replayed.
        let forged = replay_of(&|r| {
            r["models"][0]["gates"][0]["evidence"]["candidate"]["logged_model"]["model_id"] =
                json!("m-ffffffffffffffffffffffffffffffff")
        });
        assert_eq!(forged.code, 2, "{forged}");
        assert!(
            forged.stderr.contains("the evidence hands LoggedModel `m-ffffffffffffffffffffffffffffffff` to a version registered from"),
            "{forged}"
        );
    }
}

#[test]
fn rest_and_sqlite_read_logged_models_alike() {
    let [served, _] = stores();
    let sqlite = server().sqlite_uri();
    let p = Project::new(
        "name: parity
models:
  - name: m3_two
    validationTasks:
      - name: echo
        executor: !wasm
          plugin: echo.wasm
      - name: quality
        executor: !wasm
          plugin: builtin:threshold
          config: {dataset: holdout, metrics: {accuracy: {threshold: 0.9}, loss: {threshold: 1}}}
  - name: m3_cc
    validationTasks:
      - name: echo
        executor: !wasm
          plugin: echo.wasm
      - name: quality
        executor: !wasm
          plugin: builtin:threshold
          config: {baseline: previous, if_no_baseline: pass, metrics: {accuracy: {min_absolute_change: 0.01}}}
  - name: m3_agent
    validationTasks:
      - name: echo
        executor: !wasm
          plugin: echo.wasm
",
    );
    p.copy_abs(guests::ECHO(), "echo.wasm");
    for selector in [
        vec![],
        vec!["--all-versions"],
        vec!["--all-versions", "--jobs", "1"],
    ] {
        let json = |uri: &str| {
            let mut cmd = modelgate();
            cmd.args(["validate", "--format", "json", "--project", &p.path()])
                .args(["--tracking-uri", uri])
                .args(&selector);
            let out = run(&mut cmd);
            assert!(out.code == 0 || out.code == 1, "{out}");
            crate::registry::normalized(out.json())
        };
        let (rest, embedded) = (json(&served.uri), json(&sqlite));
        if rest != embedded {
            let dir = crate::support::tempdir().keep();
            std::fs::write(dir.join("rest.json"), format!("{rest:#}")).expect("write");
            std::fs::write(dir.join("sqlite.json"), format!("{embedded:#}")).expect("write");
            panic!(
                "selector {selector:?}: REST and SQLite differ; see {}",
                dir.display()
            );
        }
        // The echo gate read every LoggedModel again and found it as it
        // was handed, and an unknown one not found.
        for m in rest["models"].as_array().expect("models") {
            let echo = &m["gates"][0];
            assert_eq!(echo["passed"], true, "{echo}");
            let names: Vec<&str> = echo["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .filter_map(|c| c["name"].as_str())
                .collect();
            assert!(
                names.contains(&"logged_model") && names.contains(&"model_not_found"),
                "{names:?}"
            );
        }
    }
}

#[test]
fn process_gates_get_the_model_id() {
    for store in stores() {
        let e = store.version("m3_holdout", 0);
        let p = Project::new(
            "name: env
models:
  - name: m3_holdout
    validationTask:
      name: script
      runcommand: 'echo \"model id: $MODELGATE_MODEL_ID\"; test -n \"$MODELGATE_MODEL_ID\"'
",
        );
        let (code, report, out) = judge(&p, store, &[]);
        assert_eq!(code, 0, "{}: {out}", store.label);
        let output = report["models"][0]["gates"][0]["output"]
            .as_str()
            .expect("output");
        assert!(
            output.contains(&format!("model id: {}\n", e.model_id)),
            "{output}"
        );
    }
}

#[test]
fn gates_built_against_0_2_0_keep_judging_without_logged_models() {
    // The `second` guest is built against 0.2.0 as released: it loads,
    // reads the registry through 0.1.0's imports, warns, and judges the
    // run's `score` of a version that has a LoggedModel it is not handed.
    let p = Project::new(
        "name: second
models:
  - name: logreg
    validationTask:
      name: second
      executor: !wasm
        plugin: second.wasm
        config: {min: 0.6}
",
    );
    p.copy_abs(guests::SECOND(), "second.wasm")
        .copy("examples/logreg/mlflow.db", "mlflow.db");
    let inspect = mg(&["plugin", "inspect", guests::SECOND()]);
    assert_eq!(inspect.code, 0, "{inspect}");
    assert!(
        inspect
            .stdout
            .contains("world     modelgate:validator/validator@0.2.0"),
        "{inspect}"
    );
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let gate = out.json()["models"][0]["gates"][0].clone();
    assert_eq!(gate["evidence"]["wit"], "0.2.0", "{gate}");
    assert_eq!(gate["checks"][0]["warning"], "within 0.1 of 0.6", "{gate}");
    assert_eq!(gate["logs"][0]["message"], "read version 1 again");
    let candidate = &gate["evidence"]["candidate"];
    assert!(candidate.get("logged_model").is_none(), "{candidate}");
    assert!(
        candidate["version"].get("model_id").is_none(),
        "{candidate}"
    );
    let report = p.dir.path().join("report.json");
    std::fs::write(&report, &out.stdout).expect("write report");
    let replay = mg(&[
        "replay",
        report.to_str().expect("utf-8"),
        "--project",
        &p.path(),
    ]);
    assert_eq!(replay.code, 0, "{replay}");
    let strict = mg(&["validate", "--project", &p.path(), "--fail-on-warn"]);
    assert_eq!(strict.code, 1, "{strict}");
}

#[test]
fn a_dataset_that_names_nothing_is_a_config_error() {
    let p = project(
        "logreg",
        &[(
            "q",
            "{metrics: {score: {threshold: 0.5, dataset: 'holdout@'}}}",
        )],
    );
    let out = mg(&["check", "--project", &p.path()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("metric `score`: `dataset` must be a dataset's name"),
        "{out}"
    );
}

#[test]
fn the_evaluation_example_judges_its_bundled_database_and_a_server_alike() {
    // examples/evaluation: two versions trained, evaluated in their own runs
    // on `holdout` and `canary`, and registered by train_evaluate.py.
    let example = crate::support::root().join("examples/evaluation");
    let example = example.to_str().expect("utf-8");
    let bundled = mg(&[
        "validate",
        "--project",
        example,
        "--all-versions",
        "--format",
        "json",
    ]);
    assert_eq!(bundled.code, 1, "{bundled}");
    let verdicts = |report: &Value| -> Vec<(u64, String, bool)> {
        report["models"]
            .as_array()
            .expect("models")
            .iter()
            .flat_map(|m| {
                m["gates"].as_array().expect("gates").iter().map(move |g| {
                    (
                        m["version"].as_u64().expect("version"),
                        g["name"].as_str().expect("name").to_string(),
                        g["passed"].as_bool().expect("passed"),
                    )
                })
            })
            .collect()
    };
    let expected = |v: u64, gates: [bool; 3]| {
        ["holdout_quality", "canary_safety", "beats_champion"]
            .iter()
            .zip(gates)
            .map(move |(g, p)| (v, g.to_string(), p))
    };
    let want: Vec<_> = expected(1, [true, true, false])
        .chain(expected(2, [true, true, true]))
        .collect();
    assert_eq!(verdicts(&bundled.json()), want, "{bundled}");
    // The newest version passes, with the canary's recall near its floor.
    let latest = mg(&["validate", "--project", example]);
    assert_eq!(latest.code, 0, "{latest}");
    assert!(latest.stdout.contains("(1 warning)"), "{latest}");

    // The same script against the real server gives the same verdicts.
    let srv = crate::support::spawn_server("evaluation", &[], &[], false);
    let dir = crate::support::tempdir();
    for c in ["0.01", "1.0"] {
        let out = run(std::process::Command::new(crate::support::python())
            .arg(crate::support::root().join("examples/evaluation/train_evaluate.py"))
            .args(["--C", c])
            .current_dir(dir.path())
            .env("MLFLOW_TRACKING_URI", &srv.uri));
        assert_eq!(out.code, 0, "{out}");
    }
    let out = run(std::process::Command::new(crate::support::python())
        .args([
            "-c",
            "from mlflow import MlflowClient; MlflowClient().set_registered_model_alias('cancer', 'champion', '1')",
        ])
        .env("MLFLOW_TRACKING_URI", &srv.uri));
    assert_eq!(out.code, 0, "{out}");
    let served =
        crate::support::validate(example, &srv.uri, &["--all-versions", "--format", "json"]);
    assert_eq!(served.code, 1, "{served}");
    assert_eq!(verdicts(&served.json()), want, "{served}");
}
