//! The project file: both AME formats, and errors with positions.

use crate::support::{Project, mg, root, validate};

const CURRENT: &str = "name: sklearn_logistic_regression
models:
  - name: logreg
    validationTask:
      taskRef:
        name: mlflow_validation
    training:
      task:
        taskRef:
          name: training
    deployment:
      enableTls: false
      replicas: 1
tasks:
  - name: training
    executor: !mlflow
  - name: mlflow_validation
    executor: !custom
      pythonVersion: '3.11'
      command: python validate.py
";

#[test]
fn legacy_and_current_formats_give_the_same_plan() {
    let legacy = root().join("examples/logreg/ame.process.yaml");
    let a = mg(&[
        "check",
        "--format",
        "json",
        "--project",
        legacy.to_str().expect("utf-8"),
    ]);
    assert_eq!(a.code, 0, "{a}");
    let current = Project::new(CURRENT);
    let b = mg(&["check", "--format", "json", "--project", &current.path()]);
    assert_eq!(b.code, 0, "{b}");
    assert_eq!(a.json(), b.json());
    assert_eq!(
        a.json()["models"][0]["gates"][0]["command"],
        "python validate.py"
    );
}

#[test]
fn check_prints_the_plan() {
    let example = root().join("examples/logreg");
    let out = mg(&["check", "--project", example.to_str().expect("utf-8")]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("project sklearn_logistic_regression"),
        "{out}"
    );
    assert!(out.stdout.contains("model logreg"), "{out}");
    assert!(
        out.stdout
            .contains("gate quality_gate  wasm     builtin:threshold"),
        "{out}"
    );
}

#[test]
fn unknown_keys_are_errors_with_line_column_and_suggestion() {
    let p = Project::new(
        "projectid: p
models:
  - name: logreg
    validationTsk:
      taskRef: v
tasks:
  - name: v
    runcomand: python validate.py
    executor: !pipEnv
      comand: x
",
    );
    let out = mg(&["check", "--project", &p.path()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    let e = &out.stderr;
    assert!(
        e.contains("ame.yaml:4:5: unknown key `validationTsk` in model `logreg`"),
        "{out}"
    );
    assert!(e.contains("did you mean `validationTask`?"), "{out}");
    assert!(
        e.contains("ame.yaml:8:5: unknown key `runcomand` in task `v`"),
        "{out}"
    );
    assert!(e.contains("did you mean `runcommand`?"), "{out}");
    assert!(e.contains("ame.yaml:10:7: unknown key `comand`"), "{out}");
    assert!(e.contains("did you mean `command`?"), "{out}");
    assert!(e.contains("has 4 problems"), "{out}");
    // `validate` refuses the same file before touching any registry.
    let out = validate(&p.path(), "http://127.0.0.1:9", &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("unknown key `validationTsk`"), "{out}");
}

#[test]
fn a_task_ref_to_a_missing_task_names_both() {
    let p = Project::new(
        "name: p\nmodels:\n  - name: logreg\n    validationTask: {taskRef: {name: validaton}}\ntasks:\n  - name: validation\n    runcommand: python validate.py\n",
    );
    let out = mg(&["check", "--project", &p.path()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("model `logreg` refers to task `validaton`, which `tasks:` does not define"),
        "{out}"
    );
    assert!(out.stderr.contains("did you mean `validation`?"), "{out}");
}

#[test]
fn invalid_yaml_is_an_error_with_position() {
    let p = Project::new("name: p\nmodels:\n  - name: [oops\n");
    let out = mg(&["check", "--project", &p.path()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("invalid YAML"), "{out}");
    assert!(out.stderr.contains("ame.yaml:"), "{out}");
}

#[test]
fn a_missing_project_file_is_an_error_with_a_hint() {
    let dir = crate::support::tempdir();
    let out = mg(&["check", "--project", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("no `ame.yaml` or `ame.yml`"), "{out}");
    assert!(out.stderr.contains("hint:"), "{out}");
}

#[test]
fn a_second_document_is_an_error_never_gates_that_do_not_run() {
    // The second document's gate would fail the version; a reader that
    // took the first document alone passed it.
    let p = Project::new(
        "name: two
models:
  - name: logreg
    validationTask:
      executor: !wasm
        plugin: builtin:threshold
        config: {metrics: {score: {threshold: 0.5}}}
---
models:
  - name: logreg
    validationTask:
      executor: !wasm
        plugin: builtin:threshold
        config: {metrics: {score: {threshold: 0.9}}}
",
    );
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    for command in ["check", "validate"] {
        let out = mg(&[command, "--project", &p.path()]);
        assert_eq!(out.code, 2, "{command}: {out}");
        assert!(
            out.stderr
                .contains("ame.yaml:8:1: a second YAML document starts here"),
            "{command}: {out}"
        );
    }
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_file_and_invisible_characters_show() {
    let yaml = "name: bom
models:
  - name: logreg
    validationTask:
      executor: !wasm
        plugin: builtin:threshold
        config: {metrics: {score: {threshold: 0.5}}}
";
    let p = Project::new(&format!("\u{feff}{yaml}"));
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    let out = mg(&["validate", "--project", &p.path()]);
    assert_eq!(out.code, 0, "{out}");
    // A key with an invisible character is another key, and says so.
    let p = Project::new(&yaml.replace("models:", "mod\u{200b}els:"));
    let out = mg(&["check", "--project", &p.path()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("unknown key `mod\\u{200b}els`"),
        "{out}"
    );
}
