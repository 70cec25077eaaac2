//! In CI: `modelgate check` checks every gate offline — WebAssembly gates
//! are loaded, pinned and `check-config`ed (errors at the line of the
//! problem); process gates' programs and secrets are looked for (warnings)
//! — and `validate --format github` speaks GitHub Actions.

use crate::guests;
use crate::support::{Project, modelgate, run};

/// Runs `check` with a tracking URI nothing answers: check never reads it.
fn check(p: &Project) -> crate::support::Outcome {
    run(modelgate()
        .args(["check", "--project", &p.path()])
        .env("MLFLOW_TRACKING_URI", "http://127.0.0.1:9"))
}

const THRESHOLD: &str = "name: c\nmodels:\n  - name: m\n    validationTask:\n      taskRef: quality\ntasks:\n  - name: quality\n    executor: !wasm\n      plugin: PLUGIN\nSHA      config:\n        metrics:\n          score: {threshold: 0.6}\n";

fn project(plugin: &str, sha: Option<&str>, config_fix: impl Fn(String) -> String) -> Project {
    let sha = sha.map_or(String::new(), |s| format!("      sha256: {s}\n"));
    Project::new(&config_fix(
        THRESHOLD.replace("PLUGIN", plugin).replace("SHA", &sha),
    ))
}

#[test]
fn a_typo_in_a_gate_config_is_an_error_at_its_line() {
    let ok = project("builtin:threshold", None, |s| s);
    let out = check(&ok);
    assert_eq!(out.code, 0, "{out}");

    let typo = project("builtin:threshold", None, |s| {
        s.replace("threshold: 0.6", "threshhold: 0.6")
    });
    let out = check(&typo);
    assert_eq!(out.code, 2, "{out}");
    // Line 10, column 7: the task's `config:`.
    assert!(
        out.stderr
            .contains("ame.yaml:10:7: gate `quality` of model `m`"),
        "{out}"
    );
    assert!(out.stderr.contains("unknown field `threshhold`"), "{out}");
    assert!(
        out.stderr.contains("hint: fix the task's `config:`"),
        "{out}"
    );
}

#[test]
fn a_wrong_pin_a_missing_plugin_and_a_non_component_are_errors() {
    let wrong = project("builtin:threshold", Some(&"0".repeat(64)), |s| s);
    let out = check(&wrong);
    assert_eq!(out.code, 2, "{out}");
    // The `sha256:` value, line 10.
    assert!(out.stderr.contains("ame.yaml:10:15:"), "{out}");
    assert!(
        out.stderr.contains("but the project file pins 0000"),
        "{out}"
    );

    let missing = project("gates/gone.wasm", None, |s| s);
    let out = check(&missing);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("ame.yaml:9:15:"), "{out}");
    assert!(out.stderr.contains("failed to read plugin"), "{out}");

    let junk = project("junk.wasm", None, |s| s);
    junk.write("junk.wasm", b"\0asm\x01\0\0\0garbage");
    let out = check(&junk);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("ame.yaml:9:15:"), "{out}");

    // Every broken gate is listed, not only the first.
    let two = Project::new(&format!(
        "name: c\nmodels:\n  - name: a\n    validationTask:\n      name: q\n      executor: !wasm\n        plugin: gone.wasm\n  - name: b\n    validationTask:\n      name: r\n      executor: !wasm\n        plugin: {}\n        config: {{reject: no good}}\n",
        guests::ECHO()
    ));
    let out = check(&two);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("has 2 problems"), "{out}");
    assert!(
        out.stderr.contains("rejected by") && out.stderr.contains("no good"),
        "{out}"
    );
}

#[test]
fn process_gates_get_warnings_not_errors() {
    let p = Project::new(
        "name: c\nmodels:\n  - name: m\n    validationTasks:\n      - taskRef: a\n      - taskRef: b\n      - taskRef: c\ntasks:\n  - name: a\n    runcommand: FOO=1 surely-not-installed-xyz --check\n  - name: b\n    runcommand: ./scripts/missing.sh\n  - name: c\n    runcommand: python validate.py\n    secrets:\n      - ame: {key: MODELGATE_TEST_ABSENT_SECRET, injectAs: TOKEN}\n",
    );
    let out = check(&p);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("warning:"), "{out}");
    assert!(
        out.stderr
            .contains("`surely-not-installed-xyz` is not on PATH"),
        "{out}"
    );
    assert!(
        out.stderr.contains("`./scripts/missing.sh` does not exist"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("secret `MODELGATE_TEST_ABSENT_SECRET` is not in the environment"),
        "{out}"
    );
    // `python` is on PATH in the test environment: no warning for it.
    assert!(!out.stderr.contains("`python`"), "{out}");
    assert!(out.stdout.contains("ok: 1 model"), "{out}");
}

#[test]
fn github_format_annotates_failures_and_writes_the_step_summary() {
    for (threshold, code) in ["0.6", "0.7"].into_iter().zip([0, 1]) {
        let p = crate::support::example_project(threshold);
        let summary = p.dir.path().join("summary.md");
        std::fs::write(&summary, "earlier step\n").expect("summary");
        let out = run(modelgate()
            .args(["validate", "--project", &p.path(), "--format", "github"])
            .env("GITHUB_STEP_SUMMARY", &summary));
        assert_eq!(out.code, code, "{out}");
        let (stdout, table) = if code == 0 {
            (
                "::notice title=modelgate::PASS: 1 of 1 gates passed for logreg version 1\n"
                    .to_string(),
                "| logreg | 1 | quality_gate | ✅ pass | ✔ score | 0.666667 | >= 0.6 |\n",
            )
        } else {
            (
                "::error title=modelgate%3A logreg v1 gate quality_gate::check score: observed 0.666667, expected >= 0.7 (threshold >= 0.7 not met; from LoggedModel m-bb674726c9be445c8150518b0681387e (run 981da6d946ab47aa94ecdc65d844cbe0))\n\
                 ::error title=modelgate::FAIL: 0 of 1 gates passed for logreg version 1\n"
                    .to_string(),
                "| logreg | 1 | quality_gate | ❌ fail | ✘ score | 0.666667 | >= 0.7 |\n",
            )
        };
        assert_eq!(out.stdout, stdout);
        let verdict = if code == 0 {
            "✅ modelgate: PASS: 1 of 1"
        } else {
            "❌ modelgate: FAIL: 0 of 1"
        };
        assert_eq!(
            std::fs::read_to_string(&summary).expect("summary"),
            format!(
                "earlier step\n### {verdict} gates passed for logreg version 1\n\n\
                 | model | version | gate | outcome | check | observed | expected |\n\
                 |---|---:|---|---|---|---|---|\n{table}"
            )
        );
    }
}

/// `check FILE…` (as a pre-commit hook calls it) checks every file, names
/// each problem's file and line, and with `--format json` prints one array
/// of the valid files' plans.
#[test]
fn several_files_are_each_checked_and_json_is_one_document() {
    let good = crate::support::example_project("0.6");
    let bad = Project::new(
        "name: b\nmodels:\n  - name: m\n    validationTsk:\n      taskRef: t\ntasks:\n  - name: t\n    runcommand: 'true'\n",
    );
    let out = run(modelgate().args(["check", &good.path(), &bad.path(), "--format", "json"]));
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("ame.yaml:4:5"), "{}", out.stderr);
    assert!(
        out.stderr.contains("1 of 2 project files"),
        "{}",
        out.stderr
    );
    let plans: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    let plans = plans.as_array().expect("an array");
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert!(
        plans[0]["file"]
            .as_str()
            .expect("file")
            .ends_with("ame.yaml")
    );
    assert!(plans[0]["plan"]["models"].is_array(), "{}", plans[0]);
    let both_good = run(modelgate().args(["check", &good.path(), &good.path()]));
    assert_eq!(both_good.code, 0, "{both_good}");
}
