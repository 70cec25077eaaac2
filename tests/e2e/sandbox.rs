//! The sandbox's limits against real misbehaving guests: each fails its own
//! gate with its cause named, the host survives, and the next gate runs.

use crate::guests;
use crate::support::{Project, mg};

fn project(gates: &str) -> Project {
    let p = Project::new(&format!(
        "name: sandbox\nmodels:\n  - name: logreg\n    validationTasks:\n{gates}"
    ));
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    for (name, path) in [
        ("spin", guests::SPIN()),
        ("hog", guests::HOG()),
        ("panic", guests::PANIC()),
        ("flood", guests::FLOOD()),
        ("chatty", guests::CHATTY()),
        ("echo", guests::ECHO()),
    ] {
        p.copy_abs(path, &format!("{name}.wasm"));
    }
    p
}

#[test]
fn every_limit_fails_its_own_gate_and_the_run_goes_on() {
    let p = project(
        "      - {name: spin, executor: !wasm {plugin: spin.wasm, limits: {timeout: 1s}}}
      - {name: hog, executor: !wasm {plugin: hog.wasm, limits: {memory: 32MiB}}}
      - {name: panic, executor: !wasm {plugin: panic.wasm}}
      - {name: flood, executor: !wasm {plugin: flood.wasm, limits: {registry_calls: 50}}}
      - {name: chatty, executor: !wasm {plugin: chatty.wasm}}
      - {name: echo, executor: !wasm {plugin: echo.wasm}}
",
    );
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let report = out.json();
    let gates = report["models"][0]["gates"].as_array().expect("gates");
    let cause = |i: usize| gates[i]["cause"].as_str().unwrap_or("").to_string();
    assert_eq!(gates.len(), 6);
    assert_eq!(cause(0), "exceeded its time limit of 1.00s");
    assert!(
        cause(1).starts_with("exceeded its memory limit of 32 MiB"),
        "{}",
        cause(1)
    );
    assert_eq!(
        cause(2),
        "panicked: deliberate panic while judging version 1"
    );
    assert_eq!(cause(3), "exhausted its budget of 50 registry calls");
    assert_eq!(cause(4), "exceeded its output limit of 1 MiB per stream");
    assert_eq!(gates[5]["passed"], true, "the last gate still ran: {out}");
    for g in &gates[..5] {
        assert_eq!(g["passed"], false, "{g}");
    }
    // The panic message is in the captured stderr, and output is bounded.
    assert!(
        gates[2]["output"]
            .as_str()
            .expect("output")
            .contains("deliberate panic")
    );
    assert!(gates[4]["output"].as_str().expect("output").len() <= 2 << 20);
}

#[test]
fn a_gate_sees_the_registry_and_logs_through_the_host() {
    let p = project("      - {name: echo, executor: !wasm {plugin: echo.wasm}}\n");
    let out = mg(&["validate", "--project", &p.path(), "-v"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("✔ versions: observed 1"), "{out}");
    assert!(
        out.stdout.contains("✔ selected_by: observed latest"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("✔ metric:score: observed 0.666667 (1 points)"),
        "{out}"
    );
    assert!(out.stdout.contains("✔ not_found"), "{out}");
    assert!(out.stdout.contains("[info] judging logreg v1"), "{out}");
    assert!(out.stdout.contains("│ stdout from echo"), "{out}");
    assert!(out.stdout.contains("│ stderr from echo"), "{out}");
}

#[test]
fn a_verdict_that_passes_with_a_failed_check_is_a_failure() {
    let p = project(
        "      - {name: echo, executor: !wasm {plugin: echo.wasm, config: {fail: true}}}\n",
    );
    let out = mg(&["validate", "--project", &p.path()]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("✘ configured_to_fail"), "{out}");
}

#[test]
fn check_config_rejection_is_exit_2_naming_the_gate() {
    let p = project(
        "      - {name: picky, executor: !wasm {plugin: echo.wasm, config: {reject: 'no such mode'}}}\n",
    );
    let out = mg(&["validate", "--project", &p.path()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("failed to load gate `picky` of model `logreg`"),
        "{out}"
    );
    assert!(
        out.stderr.contains("rejected its config: no such mode"),
        "{out}"
    );
}

#[test]
fn a_gate_without_std_grows_its_heap_and_its_panics_are_told() {
    // The SDK's runtime without std: the heap grows page by page within
    // the memory limit, a request past it fails the gate as a memory limit,
    // and a panic, which has no stderr to go to, is logged and named as the
    // cause.
    let p = project(
        "      - {name: grows, executor: !wasm {plugin: bare.wasm, config: {allocate: 3145728}}}
      - {name: capped, executor: !wasm {plugin: bare.wasm, config: {allocate: 67108864}, limits: {memory: 32MiB}}}
      - {name: panics, executor: !wasm {plugin: bare.wasm, config: {panic: deliberate bare panic}}}
",
    );
    p.copy_abs(guests::BARE(), "bare.wasm");
    let inspect = mg(&["plugin", "inspect", guests::BARE(), "--json"]);
    assert_eq!(inspect.code, 0, "{inspect}");
    let imports = inspect.json()["imports"].clone();
    assert!(
        imports
            .as_array()
            .expect("imports")
            .iter()
            .all(|i| i["name"].as_str().unwrap_or("").starts_with("modelgate:")),
        "built without std, it imports no WASI: {imports}"
    );
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let report = out.json();
    let gates = report["models"][0]["gates"].as_array().expect("gates");
    assert_eq!(gates[0]["passed"], true, "{out}");
    assert_eq!(gates[0]["checks"][0]["name"], "heap");
    assert_eq!(gates[0]["checks"][0]["passed"], true, "{out}");
    assert_eq!(gates[0]["checks"][0]["observed"], "3145728 bytes");
    let cause = |i: usize| gates[i]["cause"].as_str().unwrap_or("").to_string();
    assert_eq!(gates[1]["passed"], false, "{out}");
    assert!(
        cause(1).starts_with("exceeded its memory limit of 32 MiB"),
        "{}",
        cause(1)
    );
    assert_eq!(gates[2]["passed"], false, "{out}");
    assert_eq!(cause(2), "panicked: deliberate bare panic (version 1)");
    let logs = gates[2]["logs"].as_array().expect("logs");
    assert!(
        logs.iter()
            .any(|l| l["level"] == "error"
                && l["message"].as_str().unwrap_or("").contains("src/lib.rs")),
        "the panic's location is logged: {logs:?}"
    );
}

#[test]
fn the_run_s_deadline_stops_a_webassembly_gate_within_its_own_limit() {
    // A gate allowed 10 minutes that loops: `--timeout 1s` ends the run
    // (exit 2, nothing decided), the gate yielding at every epoch tick.
    let p = Project::new(
        "name: spin\nmodels:\n  - name: logreg\n    validationTask:\n      name: spin\n      executor: !wasm\n        plugin: spin.wasm\n        limits: {timeout: 10m}\n",
    );
    p.copy_abs(guests::SPIN(), "spin.wasm")
        .copy("examples/logreg/mlflow.db", "mlflow.db");
    let out = crate::support::run_bounded(
        crate::support::modelgate().args(["validate", "--project", &p.path(), "--timeout", "1s"]),
        std::time::Duration::from_secs(120),
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("could not decide within --timeout 1.00s"),
        "{out}"
    );
}

/// The suites in this file run under each compiler tier (`scripts/test`
/// runs them again with `MODELGATE_COMPILER=winch`): the guests here are
/// compiled by the tier that run asks for, Cranelift when it asks for
/// none (they are small).
#[test]
fn the_guests_are_compiled_by_the_tier_under_test() {
    let want = match std::env::var("MODELGATE_COMPILER").as_deref() {
        Ok("winch") => "winch",
        _ => "cranelift",
    };
    let p = project("      - {name: echo, executor: !wasm {plugin: echo.wasm}}\n");
    let cache = crate::support::tempdir();
    let out = crate::support::run(
        crate::support::modelgate()
            .args(["plugin", "inspect", "--json"])
            .arg(p.dir.path().join("spin.wasm"))
            .env("MODELGATE_CACHE_DIR", cache.path()),
    );
    assert_eq!(out.code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("inspect JSON");
    assert_eq!(v["compiler"], want, "{out}");
}

#[test]
fn every_evaluation_starts_from_the_component_s_initial_memory() {
    // Three versions judged one after another by one process: each
    // evaluation gets the pooled memory the one before it used, reset (the
    // written pages of its kept-resident start in place, the rest handed
    // back to the kernel). The guest counts its evaluations in a static and
    // marks every host page of a 192 KiB static spanning both parts.
    let p = Project::new(
        "name: fresh\nmodels:\n  - name: churn\n    validationTask:\n      executor: !wasm\n        plugin: entropy.wasm\n",
    );
    p.copy("examples/champion-challenger/mlflow.db", "mlflow.db")
        .copy_abs(guests::ENTROPY(), "entropy.wasm");
    let out = mg(&[
        "validate",
        "--project",
        &p.path(),
        "--all-versions",
        "--jobs",
        "1",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{out}");
    let report = out.json();
    let models = report["models"].as_array().expect("models");
    assert_eq!(models.len(), 3, "{out}");
    for m in models {
        let check = m["gates"][0]["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "fresh_memory"))
            .unwrap_or_else(|| panic!("no fresh_memory check: {m}"));
        assert_eq!(check["passed"], true, "{m}");
        assert_eq!(
            check["observed"], "0 earlier evaluations, 0 pages written",
            "{m}"
        );
    }
}
