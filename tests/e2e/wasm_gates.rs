//! WebAssembly gates through the CLI: the bundled example, champion versus
//! challenger on a real server, integrity (sha256 pins, the compile cache)
//! and refusing what cannot run.

use serde_json::json;

use crate::guests;
use crate::support::{Project, fixtures, mg, modelgate, root, run, server, validate};

fn example() -> String {
    root().join("examples/logreg").display().to_string()
}

#[test]
fn the_bundled_example_passes_without_a_server() {
    let out = mg(&["validate", "--project", &example()]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("logreg version 1 (run "), "{out}");
    assert!(out.stdout.contains("✔ quality_gate  wasm"), "{out}");
    assert!(
        out.stdout.contains("1 of 1 metrics within thresholds"),
        "{out}"
    );
    assert!(
        out.stdout
            .ends_with("PASS: 1 of 1 gates passed for logreg version 1\n"),
        "{out}"
    );
}

#[test]
fn the_bundled_example_fails_at_0_7() {
    let p = crate::support::example_project("0.7");
    let out = mg(&["validate", "--project", &p.path()]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout
            .contains("✘ score: observed 0.666667, expected >= 0.7"),
        "{out}"
    );
}

fn champion_project(model: &str, extra: &str) -> Project {
    Project::new(&format!(
        "name: cc
models:
  - name: {model}
    validationTask:
      name: beats_champion
      executor: !wasm
        plugin: builtin:threshold
        config:
          baseline: champion
{extra}          metrics:
            accuracy: {{threshold: 0.7, min_relative_change: 0.02}}
            log_loss: {{min_absolute_change: 0.01, greater_is_better: false}}
"
    ))
}

#[test]
fn champion_versus_challenger() {
    let model = "churn";
    fixtures(&json!([
        {"op": "version", "model": model, "metrics": {"accuracy": 0.80, "log_loss": 0.40}},
        {"op": "version", "model": model, "metrics": {"accuracy": 0.83, "log_loss": 0.35}},
        {"op": "version", "model": model, "metrics": {"accuracy": 0.81, "log_loss": 0.30}},
        {"op": "alias", "model": model, "alias": "champion", "version": 1},
        {"op": "alias", "model": model, "alias": "challenger", "version": 2}
    ]));
    let p = champion_project(model, "");
    let srv = server();
    let ok = validate(
        &p.path(),
        &srv.uri,
        &["--alias", "challenger", "--format", "json"],
    );
    assert_eq!(ok.code, 0, "{ok}");
    let checks = &ok.json()["models"][0]["gates"][0]["checks"];
    assert_eq!(checks[0]["name"], "accuracy");
    assert_eq!(checks[0]["observed"], "0.83");
    assert_eq!(checks[0]["expected"], ">= 0.7 and +2% vs champion v1 (0.8)");
    assert_eq!(checks[1]["expected"], "<= 0.39 (champion v1 0.4 - 0.01)");
    // Version 3 improves the loss but not accuracy by 2%.
    let worse = validate(&p.path(), &srv.uri, &["--version", "3"]);
    assert_eq!(worse.code, 1, "{worse}");
    assert!(worse.stdout.contains("✘ beats_champion"), "{worse}");
    assert!(
        worse.stdout.contains("1 of 2 metrics failed: accuracy"),
        "{worse}"
    );
    assert!(
        worse.stdout.contains("✘ accuracy: observed 0.81"),
        "{worse}"
    );
}

#[test]
fn no_champion_fails_unless_configured_to_pass() {
    let model = "first_model";
    fixtures(&json!([
        {"op": "version", "model": model, "metrics": {"accuracy": 0.9, "log_loss": 0.2}}
    ]));
    let srv = server();
    let strict = champion_project(model, "");
    let out = validate(&strict.path(), &srv.uri, &[]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout
            .contains(&format!("model `{model}` has no alias `champion`")),
        "{out}"
    );
    let lenient = champion_project(model, "          if_no_baseline: pass\n");
    let out = validate(&lenient.path(), &srv.uri, &["-v"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains("change conditions skipped (if_no_baseline: pass)"),
        "{out}"
    );
}

fn pinned_project(pin: &str) -> Project {
    let p = Project::new(&format!(
        "name: p
models:
  - name: logreg
    validationTask:
      name: pinned
      executor: !wasm
        plugin: builtin:threshold
        sha256: {pin}
        config:
          metrics:
            score: {{threshold: 0.6}}
"
    ));
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    p
}

#[test]
fn sha256_pins_are_enforced() {
    let inspect = mg(&["plugin", "inspect", "builtin:threshold", "--json"]);
    assert_eq!(inspect.code, 0, "{inspect}");
    let sha = inspect.json()["sha256"].as_str().expect("sha").to_string();
    assert_eq!(sha.len(), 64);
    let ok = mg(&["validate", "--project", &pinned_project(&sha).path()]);
    assert_eq!(ok.code, 0, "{ok}");
    let wrong = "0".repeat(64);
    let out = mg(&["validate", "--project", &pinned_project(&wrong).path()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "has sha256 {sha}, but the project file pins {wrong}"
        )),
        "{out}"
    );
    assert!(out.stderr.contains("hint:"), "{out}");
}

#[test]
fn plugin_compile_fills_the_cache_that_the_next_run_loads() {
    let cache = crate::support::tempdir();
    let key = crate::support::tempdir();
    let key = key.path().join("cache-key");
    let with = |dir: &std::path::Path, args: &[&str]| {
        run(modelgate()
            .args(args)
            .env("MODELGATE_CACHE_DIR", dir)
            .env("MODELGATE_CACHE_KEY", &key))
    };
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(cache.path().join("components"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let out = with(cache.path(), &["plugin", "compile", "builtin:threshold"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("compiled in"), "{out}");
    // The built-in and its lean build, each an entry the output names.
    let made = entries();
    assert_eq!(made.len(), 2, "{made:?}\n{out}");
    for e in &made {
        assert!(out.stdout.contains(&e.display().to_string()), "{out}");
    }
    // The next run loads it; compiling again keeps it.
    let next = with(cache.path(), &["plugin", "inspect", "builtin:threshold"]);
    assert!(
        next.stdout.contains("loaded from the compile cache"),
        "{next}"
    );
    let again = with(cache.path(), &["plugin", "compile", "builtin:threshold"]);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(
        again.stdout.matches("in the cache already").count(),
        2,
        "{again}"
    );

    // With the cache off, or unusable, there is nothing to fill: exit 2.
    let off = with(
        std::path::Path::new("off"),
        &["plugin", "compile", "builtin:threshold"],
    );
    assert_eq!(off.code, 2, "{off}");
    assert!(
        off.stderr.contains("the compile cache is off") && off.stderr.contains("hint:"),
        "{off}"
    );
    let file = cache.path().join("a-file");
    std::fs::write(&file, b"").expect("write");
    let unusable = with(&file, &["plugin", "compile", "builtin:threshold"]);
    assert_eq!(unusable.code, 2, "{unusable}");
    assert!(
        unusable.stderr.contains("the compile cache is off"),
        "{unusable}"
    );
    // Not a component: exit 2, nothing written.
    let junk = cache.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm").expect("write");
    let bad = with(
        cache.path(),
        &["plugin", "compile", &junk.display().to_string()],
    );
    assert_eq!(bad.code, 2, "{bad}");
    assert_eq!(entries().len(), 2);
}

#[test]
fn a_corrupted_cache_entry_is_recompiled_not_trusted() {
    let cache = crate::support::tempdir();
    let with_cache = |args: &[&str]| {
        run(modelgate()
            .args(args)
            .env("MODELGATE_CACHE_DIR", cache.path()))
    };
    let first = with_cache(&["plugin", "inspect", "builtin:threshold"]);
    assert_eq!(first.code, 0, "{first}");
    assert!(first.stdout.contains("(compiled by cranelift)"), "{first}");
    let second = with_cache(&["plugin", "inspect", "builtin:threshold"]);
    assert!(
        second.stdout.contains("loaded from the compile cache"),
        "{second}"
    );
    let entries: Vec<_> = std::fs::read_dir(cache.path().join("components"))
        .expect("cache dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    // Flip bytes in the middle of the compiled code.
    let mut bytes = std::fs::read(&entries[0]).expect("entry");
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0xff;
    }
    std::fs::write(&entries[0], &bytes).expect("corrupt");
    let third = with_cache(&["plugin", "inspect", "builtin:threshold"]);
    assert_eq!(third.code, 0, "{third}");
    assert!(
        third
            .stdout
            .contains("cache entry rejected: checksum mismatch"),
        "{third}"
    );
    // The gate still works, and the entry was replaced by a good one.
    let example = example();
    let out = with_cache(&["validate", "--project", &example]);
    assert_eq!(out.code, 0, "{out}");
    let fourth = with_cache(&["plugin", "inspect", "builtin:threshold"]);
    assert!(
        fourth.stdout.contains("loaded from the compile cache"),
        "{fourth}"
    );
    // A truncated entry too.
    std::fs::write(&entries[0], b"MGCWASM1").expect("truncate");
    let fifth = with_cache(&["plugin", "inspect", "builtin:threshold"]);
    assert!(fifth.stdout.contains("cache entry rejected"), "{fifth}");
}

#[test]
fn a_config_error_stops_before_any_model_is_judged() {
    let p = Project::new(
        "name: p
models:
  - name: logreg
    validationTasks:
      - name: fine
        runcommand: touch ran
      - name: typo
        executor: !wasm
          plugin: builtin:threshold
          config:
            metrics:
              score: {treshold: 0.6}
",
    );
    // An unreachable registry proves the registry was never asked.
    let out = validate(&p.path(), "http://127.0.0.1:9", &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("failed to load gate `typo` of model `logreg`"),
        "{out}"
    );
    assert!(
        out.stderr.contains(
            "rejected its config: invalid config: metric `score`: unknown field `treshold`"
        ),
        "{out}"
    );
    assert!(
        out.stderr.contains("hint: fix the task's `config:`"),
        "{out}"
    );
    assert!(
        !p.dir.path().join("ran").exists(),
        "a gate ran before the config error"
    );
}

#[test]
fn what_is_not_a_gate_is_refused_with_expected_and_found() {
    let p = Project::new("");
    p.write("notes.wasm", b"this is not wasm");
    p.write("core.wasm", b"\0asm\x01\0\0\0");
    p.copy_abs(guests::FUTURE(), "future.wasm");
    p.copy_abs(guests::STRANGER(), "stranger.wasm");
    let cases = [
        ("notes.wasm", "is not a WebAssembly file"),
        (
            "core.wasm",
            "is a core WebAssembly module, but a component of world `modelgate:validator/validator@0.4.0` was expected",
        ),
        (
            "future.wasm",
            "it was built against `modelgate:validator@0.9.0`, but this modelgate runs `modelgate:validator@0.1.0`, `@0.2.0`, `@0.3.0` and `@0.4.0`",
        ),
        (
            "stranger.wasm",
            "it exports `run` (func); expected functions `check-config` and `validate`",
        ),
        ("missing.wasm", "failed to read plugin"),
    ];
    for (file, expected) in cases {
        p.write(
            "ame.yaml",
            format!("name: p\nmodels:\n  - name: logreg\n    validationTask:\n      executor: !wasm {{plugin: {file}}}\n").as_bytes(),
        );
        let out = validate(&p.path(), "http://127.0.0.1:9", &[]);
        assert_eq!(out.code, 2, "{file}: {out}");
        assert!(out.stderr.contains(expected), "{file}: {out}");
        assert!(out.stderr.contains("hint:"), "{file}: {out}");
    }
    let unknown = Project::new(
        "name: p\nmodels:\n  - name: logreg\n    validationTask:\n      executor: !wasm {plugin: 'builtin:treshold'}\n",
    );
    let out = validate(&unknown.path(), "http://127.0.0.1:9", &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("did you mean `builtin:threshold`?"),
        "{out}"
    );
}

#[test]
fn plugin_inspect_describes_a_component() {
    let out = mg(&["plugin", "inspect", "builtin:threshold"]);
    assert_eq!(out.code, 0, "{out}");
    let s = &out.stdout;
    assert!(
        s.contains("world     modelgate:validator/validator@0.3.0"),
        "{out}"
    );
    assert!(
        s.contains("runnable  yes, by this modelgate (it runs @0.1.0, @0.2.0, @0.3.0 and @0.4.0)"),
        "{out}"
    );
    assert!(s.contains("  check-config  (func)"), "{out}");
    assert!(s.contains("  validate  (func)"), "{out}");
    assert!(
        s.contains("  modelgate:validator/registry@0.3.0  (instance)"),
        "{out}"
    );
    let future = mg(&["plugin", "inspect", guests::FUTURE()]);
    assert_eq!(future.code, 2, "{future}");
    assert!(
        future
            .stdout
            .contains("world     modelgate:validator/validator@0.9.0"),
        "{future}"
    );
    assert!(future.stdout.contains("runnable  no: "), "{future}");
}

#[test]
fn all_versions_sweeps_every_ready_version_in_order() {
    let model = "sweep";
    let scores = [0.5, 0.7, 0.65, 0.55, 0.9, 0.61];
    let ops: Vec<serde_json::Value> = scores
        .iter()
        .map(|s| json!({"op": "version", "model": model, "metrics": {"score": s}}))
        .collect();
    fixtures(&serde_json::Value::Array(ops));
    let p = Project::new(&format!(
        "name: sweep\nmodels:\n  - name: {model}\n    validationTask:\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {{metrics: {{score: {{threshold: 0.6}}}}}}\n"
    ));
    for uri in [server().uri.clone(), server().sqlite_uri()] {
        let out = validate(
            &p.path(),
            &uri,
            &["--all-versions", "--jobs", "3", "--format", "json"],
        );
        assert_eq!(out.code, 1, "{out}");
        let r = out.json();
        let models = r["models"].as_array().expect("models");
        let got: Vec<(u64, bool)> = models
            .iter()
            .map(|m| {
                (
                    m["version"].as_u64().expect("v"),
                    m["passed"].as_bool().expect("p"),
                )
            })
            .collect();
        let want: Vec<(u64, bool)> = scores
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u64 + 1, *s >= 0.6))
            .collect();
        assert_eq!(got, want, "{uri}");
        assert_eq!(models[0]["selected_by"], "all-versions");
        assert_eq!(r["summary"]["failed"], 2);
        assert_eq!(r["status"], "fail");
        // One at a time, the same verdicts in the same order.
        let one = validate(
            &p.path(),
            &uri,
            &["--all-versions", "--jobs", "1", "--format", "json"],
        );
        assert_eq!(one.code, 1, "{one}");
        let verdicts = |r: &serde_json::Value| -> Vec<(u64, bool, serde_json::Value)> {
            r["models"]
                .as_array()
                .expect("models")
                .iter()
                .map(|m| {
                    let g = &m["gates"][0];
                    (
                        m["version"].as_u64().expect("v"),
                        m["passed"].as_bool().expect("p"),
                        g["checks"].clone(),
                    )
                })
                .collect()
        };
        assert_eq!(verdicts(&one.json()), verdicts(&r), "{uri}");
        assert_eq!(one.json()["summary"], r["summary"], "{uri}");
    }
    let human = validate(&p.path(), &server().uri, &["--all-versions"]);
    assert!(
        human
            .stdout
            .ends_with("FAIL: 4 of 6 gates passed for 6 candidates\n"),
        "{human}"
    );
}

#[test]
fn a_sweep_longer_than_a_window_reads_every_run() {
    // The bundled database grown to 1234 versions, each with its own run
    // and LoggedModel and `score`: the runs and models are read 250 at a
    // time and dropped once judged, and every verdict still comes from its
    // own version's run and model.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("mlflow.db");
    let grown = run(std::process::Command::new(crate::support::python())
        .arg(root().join("bench/grow_db.py"))
        .arg(root().join("examples/logreg/mlflow.db"))
        .arg(&db)
        .args(["--versions", "1234"]));
    assert_eq!(grown.code, 0, "{grown}");
    let conn = rusqlite::Connection::open(&db).expect("open");
    let mut scores = std::collections::HashMap::new();
    let mut q = conn
        .prepare(
            "SELECT v.version, v.run_id, m.value, v.source FROM model_versions v \
             JOIN latest_metrics m ON m.run_uuid = v.run_id AND m.key = 'score' \
             WHERE v.name = 'sweep'",
        )
        .expect("query");
    let rows = q
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, f64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .expect("rows");
    let mut model_ids = std::collections::HashMap::new();
    for row in rows {
        let (v, run_id, score, source) = row.expect("row");
        scores.insert(v as u64, (run_id, score));
        let model_id = source.strip_prefix("models:/").expect("a LoggedModel");
        model_ids.insert(v as u64, model_id.to_string());
    }
    assert_eq!(scores.len(), 1234);
    let p = Project::new(
        "name: sweep\nmodels:\n  - name: sweep\n    validationTask:\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {metrics: {score: {threshold: 0.6}}}\n",
    );
    let uri = format!("sqlite:///{}", db.display());
    let mut reports = Vec::new();
    for jobs in ["1", "3"] {
        let out = validate(
            &p.path(),
            &uri,
            &["--all-versions", "--jobs", jobs, "--format", "json"],
        );
        assert_eq!(out.code, 1, "{out}");
        let r = out.json();
        let models = r["models"].as_array().expect("models");
        assert_eq!(models.len(), 1234);
        for (i, m) in models.iter().enumerate() {
            let v = m["version"].as_u64().expect("version");
            assert_eq!(v, i as u64 + 1);
            let (run_id, score) = &scores[&v];
            let g = &m["gates"][0];
            assert_eq!(m["run_id"], run_id.as_str(), "v{v}");
            assert_eq!(
                g["evidence"]["candidate"]["run"]["run_id"],
                run_id.as_str(),
                "v{v}: the gate saw its own run"
            );
            assert_eq!(
                g["evidence"]["candidate"]["logged_model"]["model_id"],
                model_ids[&v].as_str(),
                "v{v}: and its own LoggedModel"
            );
            assert_eq!(g["checks"][0]["observed"], score.to_string(), "v{v}");
            assert_eq!(m["passed"], *score >= 0.6, "v{v}: {g}");
        }
        let failed = scores.values().filter(|(_, s)| *s < 0.6).count();
        assert!(failed > 0 && failed < 1234);
        assert_eq!(r["summary"]["failed"], failed as u64);
        reports.push(
            models
                .iter()
                .map(|m| (m["version"].clone(), m["passed"].clone()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(reports[0], reports[1], "--jobs 1 and --jobs 3 agree");
}

#[test]
fn an_approval_tag_and_a_metric_gate_decide_together() {
    let model = "approval_gate";
    let reg = fixtures(&json!([
        {"op": "version", "model": model, "metrics": {"score": 0.9}},
        {"op": "version", "model": model, "metrics": {"score": 0.9}},
        {"op": "version", "model": model, "metrics": {"score": 0.9}},
        {"op": "version", "model": model, "metrics": {"score": 0.1}}
    ]));
    let v: Vec<u64> = reg.iter().map(|r| r.version).collect();
    fixtures(&json!([
        // Approved (as Databricks writes it), nothing blocking.
        {"op": "version_tag", "model": model, "version": v[0], "key": "approval", "value": "Approved"},
        // Version 2 is never approved.
        {"op": "version_tag", "model": model, "version": v[2], "key": "approval", "value": "approved"},
        {"op": "version_tag", "model": model, "version": v[2], "key": "blocked", "value": "TRUE"},
        {"op": "version_tag", "model": model, "version": v[3], "key": "approval", "value": "approved"}
    ]));
    let p = Project::new(&format!(
        "name: approvals
models:
  - name: {model}
    validationTasks:
      - name: approved
        executor: !wasm
          plugin: builtin:tags
          config: {{require: {{approval: approved}}, forbid: {{blocked: 'true'}}}}
      - name: quality
        executor: !wasm
          plugin: builtin:threshold
          config: {{metrics: {{score: {{threshold: 0.5}}}}}}
"
    ));
    let srv = server();
    let judge = |n: u64| {
        let out = validate(
            &p.path(),
            &srv.uri,
            &["--version", &n.to_string(), "--format", "json"],
        );
        let gates = out.json()["models"][0]["gates"].clone();
        (out.code, gates)
    };
    let (code, gates) = judge(v[0]);
    assert_eq!(code, 0, "{gates}");
    assert_eq!(gates[0]["summary"], "2 of 2 tag checks passed");
    let (code, gates) = judge(v[1]);
    assert_eq!(code, 1, "{gates}");
    assert_eq!(gates[0]["checks"][0]["name"], "tag:approval");
    assert_eq!(gates[0]["checks"][0]["observed"], "(not set)");
    assert_eq!(gates[1]["passed"], true, "the metric gate alone passes");
    let (code, gates) = judge(v[2]);
    assert_eq!(code, 1, "{gates}");
    assert_eq!(gates[0]["cause"], "1 of 2 tag checks failed: tag:blocked");
    let (code, gates) = judge(v[3]);
    assert_eq!(code, 1, "{gates}");
    assert_eq!(gates[0]["passed"], true, "approved, but…");
    assert_eq!(gates[1]["passed"], false, "…the metric gate fails it");
    // A config that would pass anything is refused before any judging.
    let bad = Project::new(&format!(
        "name: b\nmodels:\n  - name: {model}\n    validationTask:\n      executor: !wasm\n        plugin: builtin:tags\n        config: {{require: {{approval: '*'}}}}\n"
    ));
    let out = validate(&bad.path(), &srv.uri, &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("plugin `builtin:tags` rejected its config"),
        "{out}"
    );
}

/// A gate built against `modelgate:validator@0.1.0` as released (the
/// `classic` guest: wit-bindgen alone, no SDK) still loads, reads the
/// registry, logs and judges under a host whose newest world is 0.2.0.
#[test]
fn a_gate_built_against_0_1_0_keeps_loading_and_judging() {
    let inspect = mg(&["plugin", "inspect", guests::CLASSIC()]);
    assert_eq!(inspect.code, 0, "{inspect}");
    assert!(
        inspect
            .stdout
            .contains("world     modelgate:validator/validator@0.1.0"),
        "{inspect}"
    );
    let project = |min: &str| {
        let p = Project::new(&format!(
            "name: classic\nmodels:\n  - name: logreg\n    validationTask:\n      name: classic\n      executor: !wasm\n        plugin: classic.wasm\n        config: {{min: {min}}}\n"
        ));
        p.copy_abs(guests::CLASSIC(), "classic.wasm")
            .copy("examples/logreg/mlflow.db", "mlflow.db");
        p
    };
    let ok = project("0.6");
    let check = mg(&["check", "--project", &ok.path()]);
    assert_eq!(check.code, 0, "{check}");
    let out = mg(&["validate", "--project", &ok.path(), "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let gate = out.json()["models"][0]["gates"][0].clone();
    assert_eq!(gate["outcome"], "pass", "{gate}");
    assert_eq!(gate["evidence"]["wit"], "0.1.0", "{gate}");
    assert_eq!(gate["checks"][0]["name"], "score");
    assert_eq!(gate["checks"][0]["passed"], true);
    assert!(gate["checks"][0].get("warning").is_none(), "{gate}");
    assert_eq!(gate["logs"][0]["message"], "read version 1 again", "{gate}");
    // Its evidence replays like any other.
    let report = ok.dir.path().join("report.json");
    std::fs::write(&report, &out.stdout).expect("write report");
    let replay = mg(&[
        "replay",
        report.to_str().expect("utf-8"),
        "--project",
        &ok.path(),
    ]);
    assert_eq!(replay.code, 0, "{replay}");
    let strict = project("0.7");
    let out = mg(&["validate", "--project", &strict.path()]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stdout
            .contains("✘ score: observed 0.6666666666666666, expected >= 0.7"),
        "{out}"
    );
    let bad = project("\"high\"");
    let out = mg(&["check", "--project", &bad.path()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("`min` is not a number"), "{out}");
}

/// A check passed with a warning (world 0.2.0; here `warn_within` of
/// `builtin:threshold`) passes and says so in every format;
/// `--fail-on-warn` fails the gate, and the failure replays.
#[test]
fn warnings_pass_unless_fail_on_warn() {
    let p = Project::new(
        "name: warn
models:
  - name: logreg
    validationTask:
      name: quality_gate
      executor: !wasm
        plugin: builtin:threshold
        config:
          metrics:
            score: {threshold: 0.6, warn_within: 0.1}
",
    );
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    let human = mg(&["validate", "--project", &p.path()]);
    assert_eq!(human.code, 0, "{human}");
    assert!(human.stdout.contains("⚠ quality_gate  wasm"), "{human}");
    assert!(
        human.stdout.contains(
            "      ⚠ score: observed 0.666667, expected >= 0.6 (from LoggedModel m-bb674726c9be445c8150518b0681387e (run 981da6d946ab47aa94ecdc65d844cbe0)) — warning: within 0.1 of the threshold 0.6\n"
        ),
        "{human}"
    );
    assert!(
        human
            .stdout
            .ends_with("PASS: 1 of 1 gates passed for logreg version 1 (1 warning)\n"),
        "{human}"
    );
    let json = mg(&["validate", "--project", &p.path(), "--format", "json"]).json();
    assert_eq!(json["status"], "pass");
    assert_eq!(json["summary"]["warnings"], 1);
    assert_eq!(
        json["models"][0]["gates"][0]["checks"][0]["warning"],
        "within 0.1 of the threshold 0.6"
    );
    let github = mg(&["validate", "--project", &p.path(), "--format", "github"]);
    assert_eq!(github.code, 0, "{github}");
    assert_eq!(
        github.stdout,
        "::warning title=modelgate%3A logreg v1 gate quality_gate::check score: within 0.1 of the threshold 0.6 (observed 0.666667, expected >= 0.6)\n\
         ::notice title=modelgate::PASS: 1 of 1 gates passed for logreg version 1 (1 warning)\n"
    );
    let strict = mg(&[
        "validate",
        "--project",
        &p.path(),
        "--fail-on-warn",
        "--format",
        "json",
    ]);
    assert_eq!(strict.code, 1, "{strict}");
    let gate = strict.json()["models"][0]["gates"][0].clone();
    assert_eq!(gate["outcome"], "fail", "{gate}");
    assert_eq!(gate["cause_code"], "warnings");
    assert_eq!(
        gate["cause"],
        "check score passed with a warning, and --fail-on-warn is set"
    );
    let report = p.dir.path().join("strict.json");
    std::fs::write(&report, &strict.stdout).expect("write report");
    let replay = mg(&[
        "replay",
        report.to_str().expect("utf-8"),
        "--project",
        &p.path(),
    ]);
    assert_eq!(replay.code, 0, "{replay}");
}

#[test]
fn a_candidate_larger_than_the_builtins_first_heap_is_judged_whole() {
    // builtin:threshold's heap is an arena that starts in the ~28 KiB its
    // one-page initial memory leaves after stack and data, and grows past
    // it. A run with 1.2 MB of parameters is lowered into the gate, memory
    // grown, and judged on its score like any other; under a memory limit
    // it cannot fit in, the gate fails for memory, it does not pass.
    let p = big_candidate_project("");
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let gate = &out.json()["models"][0]["gates"][0];
    assert_eq!(gate["passed"], true, "{out}");
    assert_eq!(gate["checks"][0]["observed"], "0.666667", "{out}");
    let params = gate["evidence"]["candidate"]["run"]["params"]
        .as_array()
        .expect("params");
    assert_eq!(params.len(), 1502, "the gate was given every parameter");

    let p = big_candidate_project("        limits: {memory: 1MiB}\n");
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let gate = &out.json()["models"][0]["gates"][0];
    assert_eq!(gate["passed"], false, "{out}");
    assert_eq!(gate["cause_code"], "memory_limit", "{out}");
    assert!(
        gate["cause"]
            .as_str()
            .is_some_and(|c| c.starts_with("exceeded its memory limit of 1 MiB")),
        "{out}"
    );
}

/// The example's model, judged by `builtin:threshold` (with `extra` lines
/// in its executor), its run given 1,500 more parameters of 800 bytes.
fn big_candidate_project(extra: &str) -> Project {
    let p = Project::new(&format!(
        "name: p\nmodels:\n  - name: logreg\n    validationTask:\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {{metrics: {{score: {{threshold: 0.6}}}}}}\n{extra}",
    ));
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    let db = rusqlite::Connection::open(p.dir.path().join("mlflow.db")).expect("db");
    let run_id: String = db
        .query_row("SELECT run_id FROM model_versions", [], |r| r.get(0))
        .expect("run");
    for i in 0..1500 {
        db.execute(
            "INSERT INTO params (key, value, run_uuid) VALUES (?1, ?2, ?3)",
            (
                format!("p{i:04}"),
                format!("{i:04}{}", "v".repeat(796)),
                &run_id,
            ),
        )
        .expect("insert");
    }
    drop(db);
    p
}

/// The names of what `plugin` imports, as `plugin inspect --json` lists them.
fn inspected_imports(plugin: &str) -> Vec<String> {
    let out = mg(&["plugin", "inspect", plugin, "--json"]);
    assert_eq!(out.code, 0, "{out}");
    out.json()["imports"]
        .as_array()
        .expect("imports")
        .iter()
        .map(|i| i["name"].as_str().expect("name").to_string())
        .collect()
}

#[test]
fn the_threshold_builtin_imports_only_modelgates_interfaces() {
    // Built without std (scripts/build-builtins builds each built-in alone,
    // so another crate's std cannot be unified into it): no WASI interface
    // to link and set up for every candidate.
    let imports = inspected_imports("builtin:threshold");
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("modelgate:validator/registry@")),
        "{imports:?}"
    );
    assert!(
        imports
            .iter()
            .all(|i| i.starts_with("modelgate:validator/")),
        "{imports:?}"
    );
}

/// The sha256 `plugins/dist/SHA256SUMS` lists for `file`.
fn dist_sha256(file: &str) -> String {
    let sums = std::fs::read_to_string(root().join("plugins/dist/SHA256SUMS")).expect("sums");
    sums.lines()
        .find_map(|l| l.strip_suffix(&format!("  {file}")))
        .unwrap_or_else(|| panic!("{file} is not in SHA256SUMS"))
        .to_string()
}

#[test]
fn thresholds_alone_are_judged_by_the_lean_build_that_imports_nothing() {
    // The lean build of builtin:threshold: the same gate without baselines,
    // built to import nothing (one core module to instantiate, not three).
    let lean = root().join("plugins/dist/threshold-lean.wasm");
    let mut imports = inspected_imports(&lean.display().to_string());
    imports.sort();
    // Only the interfaces of types: no function to call, nothing to lower.
    assert_eq!(
        imports,
        [
            "modelgate:validator/types@0.1.0",
            "modelgate:validator/types@0.2.0",
            "modelgate:validator/types@0.3.0"
        ],
    );

    // Thresholds only: the lean build judges, and the evidence says so
    // under the built-in's own sha256.
    let p = big_candidate_project("");
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let evidence = &out.json()["models"][0]["gates"][0]["evidence"];
    assert_eq!(evidence["sha256"], dist_sha256("threshold.wasm"), "{out}");
    assert_eq!(
        evidence["lean_sha256"],
        dist_sha256("threshold-lean.wasm"),
        "{out}"
    );

    // A change condition needs the registry: the full build judges.
    let model = "lean_or_not";
    fixtures(&json!([
        {"op": "version", "model": model, "metrics": {"accuracy": 0.80, "log_loss": 0.40}},
        {"op": "version", "model": model, "metrics": {"accuracy": 0.83, "log_loss": 0.35}},
        {"op": "alias", "model": model, "alias": "champion", "version": 1}
    ]));
    let p = champion_project(model, "");
    let out = validate(&p.path(), &server().uri, &["--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let gate = &out.json()["models"][0]["gates"][0];
    assert_eq!(
        gate["checks"][0]["expected"],
        ">= 0.7 and +2% vs champion v1 (0.8)"
    );
    assert_eq!(gate["evidence"]["sha256"], dist_sha256("threshold.wasm"));
    assert!(gate["evidence"].get("lean_sha256").is_none(), "{gate}");
    assert!(
        !gate["evidence"]["calls"]
            .as_array()
            .expect("calls")
            .is_empty()
    );

    // A config error is the full build's own message, not the lean one's.
    let p = Project::new(
        "name: p\nmodels:\n  - name: logreg\n    validationTask:\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {metrics: {score: {min_relative_change: 0.1}}}\n",
    );
    let out = mg(&["check", "--project", &p.path()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("compares against a baseline but none is set"),
        "{out}"
    );
}

#[test]
fn a_gate_whose_validate_has_another_signature_is_refused_at_load() {
    // `misfit` imports what a 0.2.0 gate imports, so it is taken for one,
    // but its `validate` takes `(config, u32)`. Exports are type-checked
    // once when a gate is loaded and then called unchecked: the check
    // must refuse it (exit 2), before anything calls it.
    let p = Project::new(
        "name: misfit\nmodels:\n  - name: logreg\n    validationTask:\n      executor: !wasm {plugin: misfit.wasm}\n",
    );
    p.copy_abs(guests::MISFIT(), "misfit.wasm")
        .copy("examples/logreg/mlflow.db", "mlflow.db");
    for command in ["check", "validate"] {
        let out = mg(&[command, "--project", &p.path()]);
        assert_eq!(out.code, 2, "{command}: {out}");
        assert!(
            out.stderr.contains(
                "does not export `check-config` and `validate` as `modelgate:validator/validator@0.2.0` defines them"
            ),
            "{command}: {out}"
        );
        assert!(out.stderr.contains("hint:"), "{out}");
    }
    let inspect = mg(&["plugin", "inspect", guests::MISFIT()]);
    assert_eq!(inspect.code, 2, "{inspect}");
    assert!(inspect.stdout.contains("runnable  no: "), "{inspect}");
}
