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
