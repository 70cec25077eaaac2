//! Gates that read the model itself (WIT 0.4.0's artifact reads) and
//! `builtin:signature`, end to end: models logged by MLflow's own client
//! with `infer_signature` (`tests/env/mlflow3.py`, op `signed`), judged
//! through the real server (its artifact endpoints) and through MLflow's
//! embedded store (its local artifact root), replayed offline, and read by
//! a hostile guest.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::guests;
use crate::support::{
    Evaluated, Outcome, Project, embedded_store, mg, mlflow3_at, modelgate, run, server,
};

/// One store with every scenario registered in it.
struct Store {
    label: &'static str,
    uri: String,
    registered: Vec<Evaluated>,
    /// An embedded store's directory (its artifacts are under `mlruns/`).
    dir: Option<tempfile::TempDir>,
}

impl Store {
    /// Version `n` (1-based) of `model`.
    fn version(&self, model: &str, n: usize) -> &Evaluated {
        self.registered
            .iter()
            .filter(|e| e.model == model)
            .nth(n - 1)
            .unwrap_or_else(|| panic!("{}: no version {n} of {model}", self.label))
    }
}

/// The champion's contract, then candidates that keep or break it.
fn ops() -> Value {
    let champion = json!({"age": "float64", "n": "int64", "city": "str"});
    json!([
        // The issue's version: drops column `n`, better metrics.
        {"op": "signed", "model": "sig_drop", "columns": champion, "optional": ["city"],
         "metrics": {"accuracy": 0.90}},
        {"op": "signed", "model": "sig_drop", "columns": {"age": "float64", "city": "str"},
         "optional": ["city"], "metrics": {"accuracy": 0.93}},
        {"op": "alias", "model": "sig_drop", "alias": "champion", "version": 1},
        // Widened types, a column made optional and an added optional
        // column: compatible.
        {"op": "signed", "model": "sig_ok", "columns": {"a": "int32", "b": "float32", "c": "str"},
         "optional": ["c"]},
        {"op": "signed", "model": "sig_ok",
         "columns": {"a": "int64", "b": "float64", "c": "str", "d": "float64"},
         "optional": ["b", "c", "d"]},
        {"op": "alias", "model": "sig_ok", "alias": "champion", "version": 1},
        // Narrowed, made required, output retyped.
        {"op": "signed", "model": "sig_narrow", "columns": {"age": "float64", "city": "str"},
         "optional": ["city"]},
        {"op": "signed", "model": "sig_narrow", "columns": {"age": "int64", "city": "str"},
         "output": "float64"},
        {"op": "alias", "model": "sig_narrow", "alias": "champion", "version": 1},
        // Tensor-based: a fixed dimension changed.
        {"op": "signed", "model": "sig_tensor", "tensor": [-1, 4], "input_example": false},
        {"op": "signed", "model": "sig_tensor", "tensor": [-1, 3], "input_example": false},
        // No signature, no input example.
        {"op": "signed", "model": "sig_none", "columns": {"age": "float64"}},
        {"op": "signed", "model": "sig_none", "columns": {"age": "float64"},
         "signature": false, "input_example": false},
        {"op": "alias", "model": "sig_none", "alias": "champion", "version": 1}
    ])
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
            dir: None,
        }
    });
    let embedded = EMBEDDED.get_or_init(|| {
        let (dir, uri) = embedded_store();
        let registered = mlflow3_at(&uri, dir.path(), &ops());
        Store {
            label: "embedded",
            uri,
            registered,
            dir: Some(dir),
        }
    });
    [served, embedded]
}

/// A project gating `model` with `(name, plugin, config)` gates.
fn project(model: &str, gates: &[(&str, &str, &str)]) -> Project {
    let mut yaml = format!("name: sig\nmodels:\n  - name: {model}\n    validationTasks:\n");
    for (name, plugin, config) in gates {
        yaml.push_str(&format!(
            "      - name: {name}\n        executor: !wasm\n          plugin: {plugin}\n          config: {config}\n"
        ));
    }
    Project::new(&yaml)
}

/// `validate --format json` of `p` against `store`, with `extra` args.
fn judge(p: &Project, store: &Store, extra: &[&str]) -> (i32, Value, Outcome) {
    let mut cmd = modelgate();
    cmd.args(["validate", "--format", "json", "--project", &p.path()])
        .args(["--tracking-uri", &store.uri])
        .args(extra);
    let out = run(&mut cmd);
    assert!(out.code == 0 || out.code == 1, "{}: {out}", store.label);
    let json = out.json();
    (out.code, json, out)
}

/// The names of gate `i`'s failed checks.
fn failed(report: &Value, i: usize) -> Vec<String> {
    report["models"][0]["gates"][i]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect()
}

/// Writes `report` into `p` and replays it (offline: no registry).
fn replay(p: &Project, report: &Value) -> Outcome {
    let file = p.dir.path().join("report.json");
    std::fs::write(&file, serde_json::to_string_pretty(report).expect("json")).expect("write");
    mg(&["replay", &file.display().to_string()])
}

const CONTRACT: &str =
    "{baseline: champion, require_input_example: true, flavors: [sklearn], max_model_size: 10MB}";

#[test]
fn a_dropped_column_fails_the_signature_gate_its_metrics_pass_and_it_replays() {
    for store in stores() {
        let p = project(
            "sig_drop",
            &[
                ("contract", "builtin:signature", CONTRACT),
                (
                    "quality",
                    "builtin:threshold",
                    "{metrics: {accuracy: {threshold: 0.8}}}",
                ),
            ],
        );
        let (code, report, out) = judge(&p, store, &[]);
        assert_eq!(code, 1, "{}: {out}", store.label);
        let gates = &report["models"][0]["gates"];
        assert_eq!(gates[0]["passed"], false, "{}: {out}", store.label);
        assert_eq!(gates[1]["passed"], true, "{}: {out}", store.label);
        assert_eq!(
            failed(&report, 0),
            ["input n: removed"],
            "{}: {out}",
            store.label
        );
        // The other checks ran and passed: example, flavor, size.
        let names: Vec<&str> = gates[0]["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .map(|c| c["name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            names,
            [
                "signature",
                "input example",
                "model size",
                "flavor sklearn",
                "input n: removed"
            ],
            "{}: {out}",
            store.label
        );
        assert!(out.stdout.contains("input n: removed"), "{out}");

        // The evidence holds what was read: both MLmodels, with their
        // sha256 and bytes.
        let evidence = &gates[0]["evidence"];
        assert_eq!(evidence["wit"], "0.4.0", "{}", store.label);
        let reads: Vec<&Value> = evidence["calls"]
            .as_array()
            .expect("calls")
            .iter()
            .filter(|c| c["call"] == "read-artifact")
            .collect();
        let e1 = store.version("sig_drop", 1);
        let e2 = store.version("sig_drop", 2);
        let owners: Vec<&str> = reads
            .iter()
            .map(|c| c["args"][0].as_str().expect("owner"))
            .collect();
        assert!(
            owners.contains(&format!("logged-model:{}", e2.model_id).as_str())
                && owners.contains(&format!("logged-model:{}", e1.model_id).as_str()),
            "{}: {owners:?}",
            store.label
        );
        let mlmodel = reads
            .iter()
            .find(|c| c["args"][1] == "MLmodel")
            .expect("an MLmodel read");
        assert_eq!(mlmodel["ok"]["sha256"].as_str().map(str::len), Some(64));
        assert!(mlmodel["ok"]["content_base64"].is_string(), "{mlmodel}");

        // Offline, from the report alone.
        let again = replay(&p, &report);
        assert_eq!(again.code, 0, "{}: {again}", store.label);
        assert!(again.stdout.contains("REPRODUCED: 2 of 2"), "{again}");

        // An MLmodel changed in the report: found, never replayed.
        let mut tampered = report.clone();
        for call in tampered["models"][0]["gates"][0]["evidence"]["calls"]
            .as_array_mut()
            .expect("calls")
        {
            if call["call"] == "read-artifact" {
                call["ok"]["content_base64"] = "c2lnbmF0dXJlOiBudWxsCg==".into();
            }
        }
        let refused = replay(&p, &tampered);
        assert_eq!(refused.code, 2, "{}: {refused}", store.label);
        assert!(
            refused
                .stderr
                .contains("does not match its recorded size and sha256"),
            "{refused}"
        );

        // The champion itself keeps its own contract.
        let (code, report, out) = judge(&p, store, &["--version", "1"]);
        assert_eq!(code, 0, "{}: {out}", store.label);
        assert!(failed(&report, 0).is_empty());
    }
}

#[test]
fn compatible_changes_pass_and_each_break_is_named() {
    for store in stores() {
        let cases: [(&str, &str, &[&str]); 4] = [
            ("sig_ok", "{baseline: champion}", &[]),
            (
                "sig_narrow",
                "{baseline: champion}",
                &[
                    "input age: double → long",
                    "input city: optional → required",
                    "output: tensor int64 (-1) → tensor float64 (-1)",
                ],
            ),
            (
                "sig_tensor",
                "{baseline: previous}",
                &["input #0: tensor float32 (-1, 4) → tensor float32 (-1, 3)"],
            ),
            (
                "sig_none",
                "{baseline: champion, require_input_example: true}",
                &["signature", "input example", "signature vs champion v1"],
            ),
        ];
        for (model, config, want) in cases {
            let p = project(model, &[("contract", "builtin:signature", config)]);
            let (code, report, out) = judge(&p, store, &[]);
            assert_eq!(
                code,
                i32::from(!want.is_empty()),
                "{} {model}: {out}",
                store.label
            );
            assert_eq!(failed(&report, 0), want, "{} {model}: {out}", store.label);
        }
        // No older version: `if_no_baseline` decides.
        for (policy, code) in [("fail", 1), ("pass", 0)] {
            let p = project(
                "sig_tensor",
                &[(
                    "contract",
                    "builtin:signature",
                    &format!("{{baseline: previous, if_no_baseline: {policy}}}"),
                )],
            );
            let (got, report, out) = judge(&p, store, &["--version", "1"]);
            assert_eq!(got, code, "{} {policy}: {out}", store.label);
            let check = &report["models"][0]["gates"][0]["checks"][1];
            assert_eq!(check["name"], "signature vs previous", "{out}");
            assert_eq!(check["warning"].is_string(), policy == "pass", "{out}");
        }
    }
}

#[test]
fn artifact_reads_are_checked_bounded_and_recorded() {
    for store in stores() {
        let e = store.version("sig_drop", 2);
        let ops = json!([
            {"op": "read", "owner": "model", "path": "MLmodel"},
            {"op": "read", "owner": "model", "path": "MLmodel", "max": 10},
            {"op": "read", "owner": "model", "path": "MLmodel", "max": 1u64 << 40},
            {"op": "list", "owner": "model", "path": ""},
            {"op": "read", "owner": "model", "path": "../../../mlflow.db"},
            {"op": "read", "owner": "model", "path": "/etc/passwd"},
            {"op": "read", "owner": "model", "path": "a//MLmodel"},
            {"op": "read", "owner": "model", "path": "./MLmodel"},
            {"op": "list", "owner": "model", "path": ".."},
            {"op": "read", "owner": "model", "path": ""},
            {"op": "read", "owner": "model", "path": "nothing-here"},
            {"op": "read", "owner": "model", "id": "m-../../x", "path": "MLmodel"},
            {"op": "list", "owner": "run", "path": ""},
            {"op": "list", "owner": "run", "path": "notes"},
            {"op": "read", "owner": "run", "path": "notes/features.txt"}
        ]);
        let p = project(
            "sig_drop",
            &[("reader", guests::READER(), &json!({"ops": ops}).to_string())],
        );
        let (_, report, out) = judge(&p, store, &[]);
        let checks = report["models"][0]["gates"][0]["checks"]
            .as_array()
            .expect("checks")
            .clone();
        let observed = |i: usize| {
            checks[i]["observed"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let label = store.label;
        assert_eq!(checks[0]["passed"], true, "{label}: {out}");
        assert!(
            checks[0]["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("artifact_path:")),
            "{label}: {out}"
        );
        let whole: usize = observed(0)
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("size");
        assert!(
            observed(0).contains(&format!("size=Some({whole})")),
            "{label}: {out}"
        );
        assert_eq!(
            observed(1),
            format!("10 bytes, truncated=true, size=Some({whole})"),
            "{label}: {out}"
        );
        // Past the host's cap, a read is capped, not refused.
        assert!(
            observed(2).starts_with(&format!("{whole} bytes, truncated=false")),
            "{label}: {out}"
        );
        let listed = observed(3);
        for file in ["MLmodel", "input_example.json", "requirements.txt"] {
            assert!(listed.split(' ').any(|f| f == file), "{label}: {listed}");
        }
        for i in 4..=9 {
            assert!(
                observed(i).starts_with("denied: artifact path"),
                "{label} op {i}: {}",
                observed(i)
            );
        }
        assert!(
            observed(10).starts_with("not-found"),
            "{label}: {}",
            observed(10)
        );
        assert!(
            observed(11).starts_with("not-found"),
            "{label}: {}",
            observed(11)
        );
        // MLflow 3 logs a model beside its run, not into it: the run has
        // its own files only.
        assert_eq!(observed(12), "notes/", "{label}: {out}");
        assert_eq!(observed(13), "notes/features.txt", "{label}: {out}");
        assert_eq!(checks[14]["detail"], "age city", "{label}: {out}");
        assert!(
            observed(14).starts_with("8 bytes, truncated=false"),
            "{label}: {out}"
        );

        // The refused paths reached no store: only the good ones are calls.
        let calls = report["models"][0]["gates"][0]["evidence"]["calls"]
            .as_array()
            .expect("calls");
        assert!(
            calls
                .iter()
                .all(|c| !c["args"][1].as_str().unwrap_or("").contains("..")),
            "{label}: {calls:?}"
        );
        assert!(
            calls
                .iter()
                .any(|c| c["args"][0] == format!("logged-model:{}", e.model_id))
        );
    }
}

#[test]
fn the_embedded_store_follows_no_link_out_of_the_root_and_waits_on_no_fifo() {
    let store = stores()[1];
    let e = store.version("sig_ok", 1);
    let dir = store.dir.as_ref().expect("dir").path();
    let root = walk(dir, &e.model_id).expect("the model's artifact root");
    std::fs::write(dir.join("secret.txt"), "s3cr3t").expect("secret");
    std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("leak")).expect("symlink");
    std::os::unix::fs::symlink("MLmodel", root.join("alias")).expect("symlink");
    let fifo = root.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    // 2 MiB: read whole, but more than the evidence keeps.
    std::fs::write(root.join("big.bin"), vec![b'x'; 2 << 20]).expect("big");
    let ops = json!([
        {"op": "read", "owner": "model", "path": "leak"},
        {"op": "read", "owner": "model", "path": "alias"},
        {"op": "read", "owner": "model", "path": "pipe"},
        {"op": "read", "owner": "model", "path": "big.bin", "max": 4u64 << 20}
    ]);
    let p = project(
        "sig_ok",
        &[("reader", guests::READER(), &json!({"ops": ops}).to_string())],
    );
    let (_, report, out) = judge(&p, store, &["--version", "1"]);
    let checks = &report["models"][0]["gates"][0]["checks"];
    assert!(
        checks[0]["observed"]
            .as_str()
            .is_some_and(|o| o.starts_with("denied:") && o.contains("symbolic link")),
        "{out}"
    );
    assert!(!out.stdout.contains("s3cr3t"), "{out}");
    assert_eq!(checks[1]["passed"], true, "{out}");
    assert!(
        checks[2]["observed"]
            .as_str()
            .is_some_and(|o| o.starts_with("not-found")),
        "{out}"
    );
    assert!(
        checks[3]["observed"]
            .as_str()
            .is_some_and(|o| o.starts_with("2097152 bytes, truncated=false")),
        "{out}"
    );
    // The 2 MiB read is recorded by size and sha256 only: its replay
    // stops rather than guess.
    let big = report["models"][0]["gates"][0]["evidence"]["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .find(|c| c["args"][1] == "big.bin")
        .expect("recorded")
        .clone();
    assert_eq!(big["ok"]["bytes"], 2 << 20);
    assert!(big["ok"]["content_base64"].is_null(), "{big}");
    let again = replay(&p, &report);
    assert_eq!(again.code, 1, "{again}");
    assert!(
        again.stdout.contains("DIFFERS") && again.stdout.contains("not its content"),
        "{again}"
    );

    // Reading it under a small memory cap is a failed gate with a named
    // cause, not a host that holds it.
    let p = Project::new(&format!(
        "name: sig\nmodels:\n  - name: sig_ok\n    validationTasks:\n      - name: reader\n        executor: !wasm\n          plugin: {}\n          config: {}\n          limits: {{memory: 3MiB}}\n",
        guests::READER(),
        json!({"ops": [{"op": "read", "owner": "model", "path": "big.bin", "max": 4u64 << 20}]})
    ));
    let (code, report, out) = judge(&p, store, &["--version", "1"]);
    assert_eq!(code, 1, "{out}");
    let gate = &report["models"][0]["gates"][0];
    assert_eq!(gate["passed"], false, "{out}");
    let cause = gate["cause"].as_str().unwrap_or("");
    assert!(
        cause.starts_with("exceeded its memory limit of 3 MiB"),
        "{cause}"
    );
}

/// The directory named `id` under `dir`, whose `artifacts` it returns.
fn walk(dir: &std::path::Path, id: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if entry.file_name() == id {
                return Some(path.join("artifacts"));
            }
            if let Some(found) = walk(&path, id) {
                return Some(found);
            }
        }
    }
    None
}

#[test]
fn the_signature_example_fails_the_version_that_dropped_a_column_and_replays_offline() {
    // Its Python gate built by the real componentize-py, then the example
    // copied elsewhere: its store's relative artifact locations resolve
    // against the database's directory, wherever the checkout is.
    crate::support::python();
    let example = crate::support::root().join("examples/signature");
    let mut build = std::process::Command::new(example.join("runtime/build.sh"));
    build.env(
        "COMPONENTIZE_PY",
        crate::support::root().join(".venv/bin/componentize-py"),
    );
    let built = run(&mut build);
    assert_eq!(built.code, 0, "runtime/build.sh failed:\n{built}");
    let copy = crate::support::tempdir();
    let cp = run(std::process::Command::new("cp")
        .arg("-r")
        .arg(format!("{}/.", example.display()))
        .arg(copy.path()));
    assert_eq!(cp.code, 0, "{cp}");
    let project = copy.path().display().to_string();

    let out = mg(&["validate", "--project", &project, "--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let report = out.json();
    let gates = report["models"][0]["gates"].as_array().expect("gates");
    let verdicts: Vec<(&str, bool)> = gates
        .iter()
        .map(|g| (g["name"].as_str().expect("name"), g["passed"] == true))
        .collect();
    assert_eq!(
        verdicts,
        [("quality", true), ("contract", false), ("runtime", true)],
        "{out}"
    );
    assert_eq!(failed(&report, 1), ["input contract: removed"], "{out}");
    assert_eq!(report["models"][0]["version"], 2);
    // The Python gate read MLmodel through the helpers: a 0.4.0 gate.
    assert_eq!(gates[2]["evidence"]["wit"], "0.4.0", "{out}");

    // The champion passes all three.
    let champion = mg(&["validate", "--project", &project, "--version", "1"]);
    assert_eq!(champion.code, 0, "{champion}");

    // Offline: the store gone, the report decides again.
    std::fs::remove_file(copy.path().join("mlflow.db")).expect("rm db");
    std::fs::remove_dir_all(copy.path().join("mlruns")).expect("rm mlruns");
    let file = copy.path().join("report.json");
    std::fs::write(&file, out.stdout.as_bytes()).expect("report");
    let again = mg(&["replay", &file.display().to_string()]);
    assert_eq!(again.code, 0, "{again}");
    assert!(again.stdout.contains("REPRODUCED: 3 of 3"), "{again}");
}

#[test]
fn an_object_store_the_host_cannot_reach_is_unavailable_with_a_hint_never_a_pass() {
    // The embedded store, copied, with the champion's model moved to S3.
    let store = stores()[1];
    let champion = store.version("sig_drop", 1);
    let dir = crate::support::tempdir();
    let db = dir.path().join("mlflow.db");
    let original = store.uri.strip_prefix("sqlite:///").expect("sqlite uri");
    std::fs::copy(original, &db).expect("copy db");
    let moved = run(std::process::Command::new(crate::support::python())
        .arg("-c")
        .arg(
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1])\n\
             c.execute(\"UPDATE logged_models SET artifact_location = 's3://models/' || model_id WHERE model_id = ?\", (sys.argv[2],))\n\
             c.commit()",
        )
        .arg(&db)
        .arg(&champion.model_id));
    assert_eq!(moved.code, 0, "{moved}");
    let p = project(
        "sig_drop",
        &[("contract", "builtin:signature", "{baseline: champion}")],
    );
    let out = crate::support::validate(
        &p.path(),
        &format!("sqlite:///{}", db.display()),
        &["--format", "json"],
    );
    assert_eq!(out.code, 1, "{out}");
    let gate = &out.json()["models"][0]["gates"][0];
    assert_eq!(gate["passed"], false, "{out}");
    let said = gate.to_string();
    assert!(
        said.contains("s3://models/")
            && said.contains("which modelgate does not read")
            && said.contains("hint:"),
        "{said}"
    );
}
