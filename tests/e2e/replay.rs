//! `modelgate replay`: a JSON report's evidence decides again, offline, and
//! any change to what the decision was made from is found.

use serde_json::Value;

use crate::guests;
use crate::support::{Outcome, Project, fixtures, mg, server, validate};

use crate::support::example_project as example;

/// Writes `report` into the project and replays it.
fn replay(p: &Project, report: &Value) -> Outcome {
    let file = p.dir.path().join("report.json");
    std::fs::write(&file, serde_json::to_string_pretty(report).expect("json")).expect("write");
    mg(&["replay", &file.display().to_string()])
}

fn report_of(out: &Outcome) -> Value {
    out.json()
}

#[test]
fn a_report_replays_offline_and_a_changed_metric_is_named() {
    for (threshold, code) in [("0.6", 0), ("0.7", 1)] {
        let p = example(threshold);
        let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
        assert_eq!(out.code, code, "{out}");
        let report = report_of(&out);
        let gate = &report["models"][0]["gates"][0];
        let evidence = &gate["evidence"];
        assert_eq!(evidence["plugin"], "builtin:threshold");
        assert_eq!(evidence["sha256"].as_str().map(str::len), Some(64));
        assert_eq!(
            evidence["config"]["metrics"]["score"]["threshold"].as_f64(),
            threshold.parse().ok()
        );
        assert_eq!(evidence["modelgate"], env!("CARGO_PKG_VERSION"));
        assert_eq!(report["modelgate"], env!("CARGO_PKG_VERSION"));

        // Offline: no registry at all.
        std::fs::remove_file(p.dir.path().join("mlflow.db")).expect("rm db");
        let again = replay(&p, &report);
        assert_eq!(again.code, 0, "{again}");
        assert!(again.stdout.contains("REPRODUCED: 1 of 1"), "{again}");
        assert!(again.stdout.contains("quality_gate"), "{again}");

        // The candidate's score, changed across the threshold where it is
        // read: on its LoggedModel (the example's version has one).
        let mut changed = report.clone();
        let candidate = &mut changed["models"][0]["gates"][0]["evidence"]["candidate"];
        assert!(candidate["logged_model"].is_object(), "{candidate}");
        let metrics = candidate["logged_model"]["metrics"]
            .as_array_mut()
            .expect("metrics");
        let score = metrics
            .iter_mut()
            .find(|m| m["key"] == "score")
            .expect("score");
        score["value"] = if code == 0 { 0.5.into() } else { 0.9.into() };
        let differs = replay(&p, &changed);
        assert_eq!(differs.code, 1, "{differs}");
        assert!(
            differs
                .stdout
                .contains("DIFFERS: gate `quality_gate` of logreg version 1"),
            "{differs}"
        );
    }
}

#[test]
fn a_lean_build_replays_only_as_the_one_recorded() {
    // An absolute threshold is judged by the built-in's lean build, and
    // the evidence says which; replay runs it again only if this modelgate
    // has that very build.
    let p = example("0.6");
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let report = report_of(&out);
    let lean = report["models"][0]["gates"][0]["evidence"]["lean_sha256"].clone();
    assert_eq!(lean.as_str().map(str::len), Some(64), "{report}");
    let again = replay(&p, &report);
    assert_eq!(again.code, 0, "{again}");
    assert!(again.stdout.contains("REPRODUCED: 1 of 1"), "{again}");

    let refused = |r: &Value, needle: &str| {
        let o = replay(&p, r);
        assert_eq!(o.code, 2, "{o}");
        assert!(o.stderr.contains(needle), "expected {needle:?}:\n{o}");
        assert!(o.stderr.contains("hint:"), "{o}");
    };
    let mut r = report.clone();
    r["models"][0]["gates"][0]["evidence"]["lean_sha256"] = "0".repeat(64).into();
    refused(&r, "the lean build of `builtin:threshold` here has sha256");
    let mut r = report.clone();
    r["models"][0]["gates"][0]["evidence"]["lean_sha256"] = "lean".into();
    refused(&r, "`lean_sha256` is not 64 hex digits");
}

#[test]
fn a_changed_recorded_check_is_named() {
    let p = example("0.6");
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let mut report = report_of(&out);
    report["models"][0]["gates"][0]["checks"][0]["observed"] = "0.9".into();
    let differs = replay(&p, &report);
    assert_eq!(differs.code, 1, "{differs}");
    assert!(
        differs
            .stdout
            .contains("observed recorded 0.9, replayed 0.666667"),
        "{differs}"
    );
}

/// A project with the `entropy` and `echo` guests.
fn guests_project() -> Project {
    let p = Project::new(
        "name: g\nmodels:\n  - name: logreg\n    validationTasks:\n      - taskRef: entropy\n      - taskRef: echo\ntasks:\n  - name: entropy\n    executor: !wasm\n      plugin: entropy.wasm\n  - name: echo\n    executor: !wasm\n      plugin: echo.wasm\n",
    );
    p.copy_abs(guests::ENTROPY(), "entropy.wasm")
        .copy_abs(guests::ECHO(), "echo.wasm")
        .copy("examples/logreg/mlflow.db", "mlflow.db");
    p
}

fn observed<'a>(gate: &'a Value, check: &str) -> &'a str {
    gate["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == check))
        .and_then(|c| c["observed"].as_str())
        .unwrap_or_else(|| panic!("no check {check} in {gate}"))
}

#[test]
fn the_sandbox_clock_and_random_source_are_fixed_and_recorded() {
    let p = guests_project();
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let report = report_of(&out);
    let entropy = &report["models"][0]["gates"][0];
    let clock = entropy["evidence"]["clock_ms"].as_i64().expect("clock_ms");
    // The guest read the frozen judgement time.
    assert_eq!(observed(entropy, "wall_clock_ms"), clock.to_string());
    assert_eq!(entropy["evidence"]["seed"].as_str().map(str::len), Some(64));
    // Replayed (with a later real clock), the guest reads the same time
    // and draws the same random numbers.
    let again = replay(&p, &report);
    assert_eq!(again.code, 0, "{again}");
    assert!(again.stdout.contains("REPRODUCED: 2 of 2"), "{again}");

    // Another seed: other random numbers, so the replay differs.
    let mut reseeded = report.clone();
    reseeded["models"][0]["gates"][0]["evidence"]["seed"] = "ab".repeat(32).into();
    let differs = replay(&p, &reseeded);
    assert_eq!(differs.code, 1, "{differs}");
    assert!(differs.stdout.contains("check `random`"), "{differs}");

    // Two live judgements draw from two seeds.
    let second = report_of(&mg(&[
        "validate",
        "--project",
        &p.path(),
        "--format",
        "json",
    ]));
    assert_ne!(
        observed(entropy, "random"),
        observed(&second["models"][0]["gates"][0], "random")
    );
}

#[test]
fn registry_answers_are_recorded_and_played_back() {
    let p = guests_project();
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let report = report_of(&out);
    let echo = &report["models"][0]["gates"][1];
    let calls = echo["evidence"]["calls"].as_array().expect("calls");
    let names: Vec<&str> = calls.iter().filter_map(|c| c["call"].as_str()).collect();
    for call in [
        "list-model-versions",
        "get-run",
        "get-metric-history",
        "get-model-version",
    ] {
        assert!(names.contains(&call), "{call} not recorded: {names:?}");
    }
    let missing = calls
        .iter()
        .find(|c| c["args"][1] == "999999")
        .expect("the not-found call");
    assert_eq!(missing["error"]["kind"], "not_found", "{missing}");

    // An answer changed: the gate sees two versions where there was one.
    let mut more = report.clone();
    let list = more["models"][0]["gates"][1]["evidence"]["calls"]
        .as_array_mut()
        .expect("calls")
        .iter_mut()
        .find(|c| c["call"] == "list-model-versions")
        .expect("list call");
    let first = list["ok"][0].clone();
    list["ok"].as_array_mut().expect("list").push(first);
    let differs = replay(&p, &more);
    assert_eq!(differs.code, 1, "{differs}");
    assert!(
        differs
            .stdout
            .contains("check `versions`: observed recorded 1, replayed 2"),
        "{differs}"
    );

    // A call taken out of the evidence: the gate asks what was not recorded.
    let mut fewer = report.clone();
    fewer["models"][0]["gates"][1]["evidence"]["calls"]
        .as_array_mut()
        .expect("calls")
        .retain(|c| c["call"] != "get-run");
    let differs = replay(&p, &fewer);
    assert_eq!(differs.code, 1, "{differs}");
    assert!(
        differs.stdout.contains("the evidence has no answer for"),
        "{differs}"
    );
    assert!(differs.stdout.contains("gate `echo`"), "{differs}");
}

#[test]
fn a_report_judged_through_the_server_replays_without_it() {
    let model = "replayed";
    let reg = fixtures(&serde_json::json!([
        {"op": "version", "model": model, "metrics": {"score": 0.8}},
        {"op": "version", "model": model, "metrics": {"score": 0.85}}
    ]));
    fixtures(&serde_json::json!([
        {"op": "alias", "model": model, "alias": "champion", "version": reg[0].version}
    ]));
    let p = Project::new(&format!(
        "name: r\nmodels:\n  - name: {model}\n    validationTask:\n      name: better\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {{baseline: champion, metrics: {{score: {{threshold: 0.5, min_relative_change: 0.01}}}}}}\n"
    ));
    let out = validate(
        &p.path(),
        &server().uri,
        &["--version", &reg[1].version.to_string(), "--format", "json"],
    );
    assert_eq!(out.code, 0, "{out}");
    let report = out.json();
    let calls = &report["models"][0]["gates"][0]["evidence"]["calls"];
    assert!(
        calls
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["call"] == "get-model-version-by-alias")),
        "the champion lookup is evidence: {calls}"
    );
    let again = replay(&p, &report);
    assert_eq!(again.code, 0, "{again}");

    // The champion's recorded score raised: the challenger is no longer better.
    let mut stronger = report.clone();
    for call in stronger["models"][0]["gates"][0]["evidence"]["calls"]
        .as_array_mut()
        .expect("calls")
    {
        if call["call"] == "get-run" {
            for m in call["ok"]["metrics"].as_array_mut().expect("metrics") {
                m["value"] = 0.9.into();
            }
        }
    }
    let differs = replay(&p, &stronger);
    assert_eq!(differs.code, 1, "{differs}");
    assert!(differs.stdout.contains("gate `better`"), "{differs}");
}

#[test]
fn what_cannot_be_replayed_is_refused() {
    let p = guests_project();
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let report = report_of(&out);
    let refused = |r: &Value, needle: &str| {
        let o = replay(&p, r);
        assert_eq!(o.code, 2, "{o}");
        assert!(o.stderr.contains(needle), "expected {needle:?}:\n{o}");
        assert!(o.stderr.contains("hint:"), "{o}");
    };

    // The plugin rebuilt: not the one that judged.
    p.copy_abs(guests::SPIN(), "entropy.wasm");
    refused(&report, "but the evidence was made with");
    // The plugin gone.
    std::fs::remove_file(p.dir.path().join("entropy.wasm")).expect("rm");
    refused(&report, "is not available");
    p.copy_abs(guests::ENTROPY(), "entropy.wasm");

    // Not a report, another schema, contradictions, hostile limits.
    let mut r = report.clone();
    r["schema"] = "modelgate.report/v0".into();
    refused(&r, "has schema");
    let mut r = report.clone();
    r["models"][0]["gates"][0]["passed"] = false.into();
    refused(&r, "contradicts");
    let mut r = report.clone();
    r["models"][0]["gates"][0]["evidence"]["limits"]["memory"] = (1u64 << 40).into();
    refused(&r, "exceed what replay allows");
    let mut r = report.clone();
    r["models"][0]["gates"][1]["evidence"]["candidate"]["version"]["version"] = 7.into();
    refused(&r, "the evidence is for `logreg` version 7");
    let mut r = report.clone();
    r["models"][0]["gates"][1]["evidence"]["calls"][0]["ok"] = "nonsense".into();
    refused(&r, "is malformed");
    let mut r = report.clone();
    r["models"][0]["gates"][0]["evidence"] = Value::Null;
    refused(&r, "evidence");
    let dir = mg(&["replay", &p.path()]);
    assert_eq!(dir.code, 2, "{dir}");
    assert!(dir.stderr.contains("a directory"), "{dir}");
}

#[test]
fn process_gates_are_reported_not_replayable() {
    let p = Project::new(
        "name: mix\nmodels:\n  - name: logreg\n    validationTasks:\n      - taskRef: script\n      - taskRef: quality\ntasks:\n  - name: script\n    runcommand: \"true\"\n  - name: quality\n    executor: !wasm\n      plugin: builtin:threshold\n      config: {metrics: {score: {threshold: 0.6}}}\n",
    );
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let mut report = out.json();
    let again = replay(&p, &report);
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again.stdout.contains("script") && again.stdout.contains("not replayable"),
        "{again}"
    );
    assert!(
        again
            .stdout
            .contains("REPRODUCED: 1 of 1 gates decide as recorded (1 not replayable)"),
        "{again}"
    );

    // Only process gates: nothing to replay is not a reproduction.
    report["models"][0]["gates"]
        .as_array_mut()
        .expect("gates")
        .truncate(1);
    report["summary"]["gates"] = 1.into();
    report["summary"]["passed"] = 1.into();
    let nothing = replay(&p, &report);
    assert_eq!(nothing.code, 2, "{nothing}");
    assert!(nothing.stderr.contains("can be replayed"), "{nothing}");
}

#[test]
fn a_report_whose_verdict_or_totals_were_edited_is_refused() {
    // A failing report edited to read as passing is not replayed as if a
    // run had made it: exit 2, naming what contradicts what.
    let failing = example("0.7");
    let out = mg(&["validate", "--project", &failing.path(), "--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let report = report_of(&out);
    let refused = |p: &Project, r: &Value, needle: &str| {
        let o = replay(p, r);
        assert_eq!(o.code, 2, "{needle}: {o}");
        assert!(o.stderr.contains(needle), "expected {needle:?}:\n{o}");
        assert!(o.stderr.contains("hint:"), "{o}");
    };
    let mut r = report.clone();
    r["status"] = "pass".into();
    refused(&failing, &r, "`status: pass` contradicts its judgements");
    let mut r = report.clone();
    r["models"][0]["passed"] = true.into();
    refused(&failing, &r, "`passed: true` contradicts its gates");
    let mut r = report.clone();
    r["summary"]["failed"] = 0.into();
    refused(&failing, &r, "is not what its judgements add up to");
    let mut r = report.clone();
    let top = r.as_object_mut().expect("object");
    top.remove("status");
    top.remove("summary");
    refused(&failing, &r, "does not end with its `status` and `summary`");

    let passing = example("0.6");
    let out = mg(&["validate", "--project", &passing.path(), "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let mut r = report_of(&out);
    r["models"][0]["gates"][0]["cause"] = "made up".into();
    refused(&passing, &r, "a gate that passed has no `cause`");
    // A config no project file could hold.
    let mut r = report_of(&out);
    r["models"][0]["gates"][0]["evidence"]["config"]["padding"] = "x".repeat(3 << 20).into();
    refused(&passing, &r, "more than a project file holds");
}

#[test]
fn a_replay_ends_by_its_deadline() {
    // A gate that loops until its time limit, its record edited to say it
    // was stopped by a trap and to allow it 10 minutes: replayed, it runs
    // on, and `--timeout` ends the replay (exit 2) without a verdict.
    let p = Project::new(
        "name: spin\nmodels:\n  - name: logreg\n    validationTask:\n      name: spin\n      executor: !wasm\n        plugin: spin.wasm\n        limits: {timeout: 50ms}\n",
    );
    p.copy_abs(guests::SPIN(), "spin.wasm")
        .copy("examples/logreg/mlflow.db", "mlflow.db");
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let mut r = report_of(&out);
    let gate = &mut r["models"][0]["gates"][0];
    assert_eq!(gate["cause_code"], "timeout", "{gate}");
    gate["cause_code"] = "trap".into();
    gate["evidence"]["limits"]["timeout_ms"] = 600_000.into();
    let file = p.dir.path().join("report.json");
    std::fs::write(&file, r.to_string()).expect("write");
    let o = crate::support::run_bounded(
        crate::support::modelgate().args([
            "replay",
            &file.display().to_string(),
            "--timeout",
            "1s",
        ]),
        std::time::Duration::from_secs(120),
    );
    assert_eq!(o.code, 2, "{o}");
    assert!(
        o.stderr
            .contains("the replay did not finish within --timeout 1.00s"),
        "{o}"
    );
}
