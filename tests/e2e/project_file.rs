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

/// One project file per generation of AME's file, each with every field
/// AME's structs of that generation defined (and the forms AME's readers
/// took for them), validation gates that run here.
pub const GENERATIONS: [(&str, &str); 4] = [
    (
        "go",
        "projectname: old
defaultTask: validate
tasks:
  validate:
    projectid: ignored
    runcommand: sh -c 'exit 3'
    pipeline:
      - taskname: check
        runcommand: test \"$STEP\" = one
        env:
          - {name: STEP, value: one}
        secrets:
          - {name: HOME, envkey: HOME_COPY}
    env:
      - {name: A, value: b}
    secrets:
      - {name: HOME, envkey: HOME_AGAIN}
    source: {gitRepository: https://example.com/r.git, gitReference: main}
    resources: {cpu: 1, memory: 1Gi}
  empty:
    runcommand: 'true'
    pipeline: []
models:
  - name: old_model
    validationTask:
      taskRef: validate
  - name: empty_model
    validationTask:
      taskRef: empty
",
    ),
    (
        "cli",
        "projectid: cli
tasks:
  - name: validate
    projectid: cli
    command: 'true'
    image: python:3.11
    task_type: 7
models:
  - name: cli_model
    validationTask:
      taskRef: validate
",
    ),
    (
        "controller",
        "projectid: guide
logEntry: {contents: []}
dataSets:
  - name: holdout
    path: data/holdout
    task:
      runcommand: python fetch.py
models:
  - name: guide_model
    type: mlflow
    modelType: Mlflow
    validationTask:
      taskRef: validate
    training:
      task:
        taskRef: train
      schedule: '0 3 * * *'
    deployment:
      deploy: true
      auto_train: false
      image: serve:1
      replicas: 2
      enable_tls: false
      ingress: {metadata: {name: x}}
      ingress_annotations: {a.b/c: d}
      resources:
        limits: {cpu: 2, memory: 4Gi}
        requests: {cpu: 1}
tasks:
  - name: train
    runcommand: python train.py
    taskType: Mlflow
  - name: validate
    projectid: guide
    runcommand: 'test \"$DB_PASSWORD\" = s3cret'
    image: python:3.11
    dataSet: [holdout]
    resources: {cpu: 1}
    source: {gitrepository: https://example.com/r.git}
    env:
      - {name: MODE, value: strict}
    secrets:
      - !AmeSecret {name: HOME, envkey: HOME_COPY}
      - !VaultSecret {vaultName: main, secretPath: internal/data/db, secretKey: password, envkey: DB_PASSWORD}
templates:
  - name: base
    runcommand: 'true'
    taskType: PipEnv
",
    ),
    (
        "current",
        "name: current
dataSets:
  - {name: holdout, path: data, size: 1Gi, task: {taskRef: {name: t}}}
enableTriggers: false
models:
  - name: current_model
    validationTask:
      taskRef: {name: validate}
    training:
      task:
        taskRef: {name: t}
    deployment:
      ingressAnnotations: {a: b}
      replicas: 1
      image: serve:1
      resources: {cpu: 2}
      enableTls: true
tasks:
  - name: t
    executor: !mlflow
  - name: validate
    fromTemplate: {name: tmpl}
    dataSets: [holdout]
    artifactCfg: {saveChangedFiles: true, paths: [out]}
    triggers: {schedule: '0 * * * *'}
    resources: {cpu: 1}
    env:
      - {key: A, val: b}
    secrets:
      - ame: {key: HOME, injectAs: HOME_COPY}
    executor: !custom
      pythonVersion: '3.11'
      command: 'true'
templates:
  - name: tmpl
    executor: !pipEnv
      command: 'true'
",
    ),
];

/// Every field of every generation of AME's file is read, and each means
/// there what it meant to AME: a pipeline runs its steps and not the
/// `runcommand` beside it, `pipeline: []` is no pipeline, any `task_type`
/// number but 1 and 2 is Pipenv, `taskType: Mlflow` runs `mlflow run .`
/// whatever the command.
#[test]
fn every_generation_of_ames_file_is_read_with_its_meaning() {
    for (name, text) in GENERATIONS {
        let p = Project::new(text);
        let out = mg(&["check", "--format", "json", "--project", &p.path()]);
        assert_eq!(out.code, 0, "{name}: {out}");
        let plan = out.json();
        let gate = |model: &str| {
            plan["models"]
                .as_array()
                .and_then(|m| m.iter().find(|m| m["name"] == model))
                .map(|m| m["gates"][0].clone())
                .unwrap_or_else(|| panic!("{name}: no model {model} in {plan}"))
        };
        match name {
            "go" => {
                assert_eq!(gate("old_model")["kind"], "pipeline", "{plan}");
                assert!(!plan.to_string().contains("exit 3"), "{plan}");
                assert_eq!(gate("empty_model")["command"], "true", "{plan}");
            }
            "cli" => assert_eq!(gate("cli_model")["command"], "pipenv run true", "{plan}"),
            "controller" => {
                let g = gate("guide_model");
                assert_eq!(g["command"], "test \"$DB_PASSWORD\" = s3cret", "{plan}");
                let mlflow = Project::new(
                    &text
                        .replace(
                            "    runcommand: python train.py\n    taskType: Mlflow\n",
                            "",
                        )
                        .replace(
                            "runcommand: 'test \"$DB_PASSWORD\" = s3cret'",
                            "runcommand: 'test \"$DB_PASSWORD\" = s3cret'\n    taskType: Mlflow",
                        ),
                );
                let out = mg(&["check", "--format", "json", "--project", &mlflow.path()]);
                assert_eq!(out.code, 0, "{out}");
                assert_eq!(
                    out.json()["models"][0]["gates"][0]["command"],
                    "mlflow run .",
                    "{out}"
                );
            }
            _ => assert_eq!(gate("current_model")["command"], "true", "{plan}"),
        }
    }
}

/// A `!VaultSecret` is taken from the environment variable the gate reads,
/// or the gate does not run: exit 2, naming the Vault path and key.
#[test]
fn a_vault_secret_comes_from_the_environment_or_stops_the_run() {
    let (_, text) = GENERATIONS[2];
    let p = Project::new(text);
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    let text = text.replace("guide_model", "logreg");
    std::fs::write(p.dir.path().join("ame.yaml"), text).expect("write");
    let missing = crate::support::run(
        crate::support::modelgate()
            .args(["validate", "--project", &p.path()])
            .env_remove("DB_PASSWORD"),
    );
    assert_eq!(missing.code, 2, "{missing}");
    assert!(
        missing
            .stderr
            .contains("`!VaultSecret` (password at internal/data/db)"),
        "{missing}"
    );
    assert!(
        missing
            .stderr
            .contains("hint: modelgate does not read Vault"),
        "{missing}"
    );
    let wrong = crate::support::run(
        crate::support::modelgate()
            .args(["validate", "--project", &p.path()])
            .env("DB_PASSWORD", "guess"),
    );
    assert_eq!(wrong.code, 1, "{wrong}");
    let given = crate::support::run(
        crate::support::modelgate()
            .args(["validate", "--project", &p.path()])
            .env("DB_PASSWORD", "s3cret"),
    );
    assert_eq!(given.code, 0, "{given}");
}
