//! Process gates (`python validate.py`) against the real server, with
//! versions registered by the AME demo's own training code.

use std::sync::OnceLock;

use crate::support::{Project, fixtures, mg, modelgate, root, server, tempdir, train, validate};

const MODEL: &str = "proc_logreg";

/// Version 1 (score 0.667, passes 0.6) and version 2 (score 0.5, fails),
/// trained by `examples/logreg/train.py`; alias `champion` → version 1.
fn versions() -> (u64, u64) {
    static V: OnceLock<(u64, u64)> = OnceLock::new();
    *V.get_or_init(|| {
        let good = train(MODEL, &[]);
        let bad = train(MODEL, &["--negative-weight", "10"]);
        fixtures(&serde_json::json!([
            {"op": "alias", "model": MODEL, "alias": "champion", "version": good}
        ]));
        (good, bad)
    })
}

/// The guide's project file (legacy format) for model `proc_logreg`, with
/// the demo's `validate.py`.
fn project() -> Project {
    let yaml = std::fs::read_to_string(root().join("examples/logreg/ame.process.yaml"))
        .expect("example")
        .replace("name: logreg", &format!("name: {MODEL}"));
    let p = Project::new(&yaml);
    p.copy("examples/logreg/validate.py", "validate.py");
    p
}

#[test]
fn a_passing_and_a_failing_process_gate() {
    let (good, bad) = versions();
    let p = project();
    let srv = server();
    let ok = validate(&p.path(), &srv.uri, &["--version", &good.to_string()]);
    assert_eq!(ok.code, 0, "{ok}");
    assert!(ok.stdout.contains("✔ mlflow_validation  process"), "{ok}");
    assert!(
        ok.stdout.contains(&format!(
            "PASS: 1 of 1 gates passed for {MODEL} version {good}"
        )),
        "{ok}"
    );
    let fail = validate(&p.path(), &srv.uri, &["--version", &bad.to_string()]);
    assert_eq!(fail.code, 1, "{fail}");
    assert!(
        fail.stdout.contains("✘ mlflow_validation  process"),
        "{fail}"
    );
    assert!(fail.stdout.contains("exited with code 1"), "{fail}");
    // The script's own output explains the failure.
    assert!(
        fail.stdout.contains("score 0.5000 (threshold 0.6)"),
        "{fail}"
    );
    // Without --version, the newest READY version (the bad one) is judged.
    let latest = mg(&[
        "validate",
        MODEL,
        "--project",
        &p.path(),
        "--tracking-uri",
        &srv.uri,
    ]);
    assert_eq!(latest.code, 1, "{latest}");
    assert!(
        latest.stdout.contains(&format!("version {bad} ")),
        "{latest}"
    );
}

#[test]
fn version_by_number_and_by_alias() {
    let (good, _) = versions();
    let p = project();
    let srv = server();
    let out = validate(
        &p.path(),
        &srv.uri,
        &["--alias", "champion", "--format", "json"],
    );
    assert_eq!(out.code, 0, "{out}");
    let r = out.json();
    assert_eq!(r["models"][0]["version"], good);
    assert_eq!(r["models"][0]["selected_by"], "alias:champion");
    let missing = validate(&p.path(), &srv.uri, &["--alias", "nobody"]);
    assert_eq!(missing.code, 2, "{missing}");
    assert!(
        missing
            .stderr
            .contains(&format!("model `{MODEL}` has no alias `nobody`")),
        "{missing}"
    );
    let missing = validate(&p.path(), &srv.uri, &["--version", "999"]);
    assert_eq!(missing.code, 2, "{missing}");
    assert!(
        missing
            .stderr
            .contains(&format!("model `{MODEL}` has no version 999")),
        "{missing}"
    );
}

#[test]
fn an_unregistered_model_is_exit_2_with_its_name() {
    let p = Project::new(
        "name: p\nmodels:\n  - name: never_registered\n    validationTask: {runcommand: 'true'}\n",
    );
    let out = validate(&p.path(), &server().uri, &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("model `never_registered` is not registered"),
        "{out}"
    );
    assert!(out.stderr.contains("hint:"), "{out}");
}

#[test]
fn raising_the_threshold_to_0_7_fails() {
    let (good, _) = versions();
    let p = project();
    let yaml = std::fs::read_to_string(p.dir.path().join("ame.yaml")).expect("read");
    let yaml = yaml.replace(
        "    runcommand: python validate.py",
        "    runcommand: python validate.py\n    env:\n      - key: SCORE_THRESHOLD\n        val: '0.7'",
    );
    p.write("ame.yaml", yaml.as_bytes());
    let out = validate(&p.path(), &server().uri, &["--version", &good.to_string()]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("(threshold 0.7)"), "{out}");
}

#[test]
fn the_gate_sees_the_candidate_in_its_environment() {
    let (good, _) = versions();
    let srv = server();
    let p = Project::new(&format!(
        "name: p
models:
  - name: {MODEL}
    validationTask:
      name: env_dump
      executor: !pip
        command: env > seen.env
      env:
        - key: EXTRA
          val: from-task
"
    ));
    let out = validate(&p.path(), &srv.uri, &["--version", &good.to_string()]);
    assert_eq!(out.code, 0, "{out}");
    let seen = std::fs::read_to_string(p.dir.path().join("seen.env"))
        .expect("gate ran in the project dir");
    assert!(
        seen.contains(&format!("MODELGATE_MODEL_NAME={MODEL}\n")),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("MODELGATE_MODEL_VERSION={good}\n")),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("MLFLOW_TRACKING_URI={}\n", srv.uri)),
        "{seen}"
    );
    assert!(seen.contains("EXTRA=from-task\n"), "{seen}");
    let run_id = seen
        .lines()
        .find_map(|l| l.strip_prefix("MODELGATE_RUN_ID="))
        .expect("run id passed");
    assert_eq!(run_id.len(), 32, "{seen}");
}

#[test]
fn a_gate_that_sleeps_past_its_timeout_is_killed_with_its_children() {
    // No server needed: the candidate comes from the example's mlflow.db.
    let p = Project::new(
        "name: p
models:
  - name: logreg
    validationTasks:
      - name: sleeper
        runcommand: sleep 300 & echo $! > bg.pid; echo started; sleep 300
        timeout: 1s
      - name: after
        runcommand: echo still running gates
",
    );
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    let out = mg(&["validate", "--project", &p.path(), "--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let r = out.json();
    let gates = &r["models"][0]["gates"];
    assert_eq!(gates[0]["passed"], false);
    assert_eq!(
        gates[0]["cause"],
        "timed out after 1.00s (process group killed)"
    );
    assert_eq!(gates[0]["output"], "started\n");
    assert_eq!(gates[1]["passed"], true, "{out}");
    let pid: i32 = std::fs::read_to_string(p.dir.path().join("bg.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    // A killed child may linger as a zombie until reaped; any other state
    // means it survived.
    let mut state = String::new();
    for _ in 0..100 {
        state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        if state.is_empty() || state == "Z" || state == "X" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        state.is_empty() || state == "Z" || state == "X",
        "background sleep {pid} survived in state {state}"
    );
    // Human output names the timeout too.
    let human = mg(&["validate", "--project", &p.path()]);
    assert_eq!(human.code, 1, "{human}");
    assert!(human.stdout.contains("✘ sleeper  process"), "{human}");
    assert!(human.stdout.contains("timed out after 1.00s"), "{human}");
}

#[test]
fn the_registry_unreachable_is_exit_2_with_a_hint() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let example = root().join("examples/logreg");
    let out = validate(
        example.to_str().expect("utf-8"),
        &format!("http://127.0.0.1:{port}"),
        &[],
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains("Connection refused"), "{out}");
    assert!(
        out.stderr
            .contains("hint: check that the tracking server is running"),
        "{out}"
    );
}

#[test]
fn no_tracking_uri_anywhere_is_exit_2_with_a_hint() {
    let p =
        Project::new("name: p\nmodels:\n  - name: m\n    validationTask: {runcommand: 'true'}\n");
    let dir = tempdir();
    let out = crate::support::run(
        crate::support::modelgate()
            .args(["validate", "--project", &p.path()])
            .current_dir(dir.path()),
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("hint: set MLFLOW_TRACKING_URI"),
        "{out}"
    );
}

#[test]
fn a_gate_that_cannot_start_is_its_own_error_and_the_others_still_run() {
    // No `sh` on PATH: the process gate cannot even be started. That is
    // this gate's error (outcome `error`), not the end of the run.
    let p = Project::new(
        "name: nostart
models:
  - name: logreg
    validationTasks:
      - {name: script, executor: !custom {command: 'true'}}
      - name: quality
        executor: !wasm
          plugin: builtin:threshold
          config: {metrics: {score: {threshold: 0.6}}}
",
    );
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    let empty = tempdir();
    let out = crate::support::run(
        crate::support::modelgate()
            .args(["validate", "--project", &p.path(), "--format", "json"])
            .env("PATH", empty.path()),
    );
    assert_eq!(out.code, 1, "{out}");
    let gates = out.json()["models"][0]["gates"].clone();
    assert_eq!(gates[0]["outcome"], "error", "{gates}");
    assert_eq!(gates[0]["cause_code"], "other");
    assert!(
        gates[0]["cause"]
            .as_str()
            .is_some_and(|c| c.contains("failed to start `sh -c true`")),
        "{gates}"
    );
    assert_eq!(gates[1]["outcome"], "pass", "{gates}");
    assert_eq!(gates[1]["passed"], true);
}

/// AME's oldest generation: a `pipeline:` validation task runs its steps
/// in order as one gate, each step with its own `env` and `secrets`, and
/// stops at the first step that fails.
#[test]
fn a_pipeline_task_runs_its_steps_in_order_and_stops_at_the_first_failure() {
    let yaml = |second: &str| {
        format!(
            "projectname: pipelines
models:
  - name: logreg
    validationTask:
      taskRef: checks
tasks:
  checks:
    env:
      - {{name: SHARED, value: all}}
    pipeline:
      - taskname: first
        runcommand: echo \"$MODELGATE_MODEL_VERSION $SHARED $STAGE ${{TOKEN:-none}}\" > first.txt; echo first ran
        env:
          - name: STAGE
            value: one
      - taskname: second
        runcommand: {second}
        secrets:
          - name: MG_PIPELINE_SECRET
            envkey: TOKEN
      - taskname: third
        runcommand: touch third.txt
"
        )
    };
    let second = "echo \"${TOKEN:-none} ${STAGE:-unset}\" > second.txt; exit 3";
    let p = Project::new(&yaml(second));
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    let run = |p: &Project| {
        crate::support::run(
            crate::support::modelgate()
                .args(["validate", "--project", &p.path(), "--format", "json"])
                .env("MG_PIPELINE_SECRET", "s3cret"),
        )
    };
    let out = run(&p);
    assert_eq!(out.code, 1, "{out}");
    let gate = out.json()["models"][0]["gates"][0].clone();
    assert_eq!(gate["name"], "checks");
    assert_eq!(gate["kind"], "process");
    assert_eq!(gate["outcome"], "fail", "{gate}");
    assert_eq!(gate["cause_code"], "exit_code");
    assert_eq!(gate["cause"], "step `second` exited with code 3");
    let output = gate["output"].as_str().expect("output");
    assert!(output.starts_with("── step `first`: echo"), "{output}");
    assert!(output.contains("first ran\n── step `second`: "), "{output}");
    // Each step sees the task's env, its own, and only its own secrets.
    let read = |name: &str| std::fs::read_to_string(p.dir.path().join(name)).expect(name);
    assert_eq!(read("first.txt"), "1 all one none\n");
    assert_eq!(read("second.txt"), "s3cret unset\n");
    // The step after the failing one never ran.
    assert!(!p.dir.path().join("third.txt").exists(), "{output}");

    let ok = Project::new(&yaml("'true'"));
    ok.copy("examples/logreg/mlflow.db", "mlflow.db");
    let out = run(&ok);
    assert_eq!(out.code, 0, "{out}");
    assert!(ok.dir.path().join("third.txt").exists(), "{out}");

    // A step's secret missing from the environment stops the run before
    // any step runs, naming it.
    let missing = crate::support::run(crate::support::modelgate().args([
        "validate",
        "--project",
        &ok.path(),
    ]));
    assert_eq!(missing.code, 2, "{missing}");
    assert!(
        missing
            .stderr
            .contains("gate `checks` needs secret `MG_PIPELINE_SECRET`"),
        "{missing}"
    );
}

/// The bundled examples of the two older generations check clean, give the
/// guide's plan, and the pipeline one passes on the bundled registry.
#[test]
fn the_older_generation_examples_check_and_run() {
    let file = |name: &str| root().join("examples/logreg").join(name);
    let plan = |name: &str| {
        let out = mg(&[
            "check",
            "--format",
            "json",
            "--project",
            file(name).to_str().expect("utf-8"),
        ]);
        assert_eq!(out.code, 0, "{out}");
        out.json()
    };
    assert_eq!(plan("ame.command.yaml"), plan("ame.process.yaml"));
    let pipeline = plan("ame.pipeline.yaml");
    assert_eq!(
        pipeline["models"][0]["gates"][0]["kind"], "pipeline",
        "{pipeline}"
    );
    let human = mg(&[
        "check",
        "--project",
        file("ame.pipeline.yaml").to_str().expect("utf-8"),
    ]);
    assert_eq!(human.code, 0, "{human}");
    assert!(human.stdout.contains("pipeline format"), "{human}");
    assert!(
        human
            .stdout
            .contains("gate mlflow_validation  process  test -f validate.py → python validate.py"),
        "{human}"
    );
    // validate.py reads the bundled mlflow.db (the tracking URI modelgate
    // passes) with the test environment's MLflow.
    let p = Project::new(&std::fs::read_to_string(file("ame.pipeline.yaml")).expect("example"));
    p.copy("examples/logreg/mlflow.db", "mlflow.db")
        .copy("examples/logreg/validate.py", "validate.py");
    let out = mg(&["validate", "--project", &p.path()]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("PASS"), "{out}");
}

/// The state letter of process `pid` (`R`, `S`, `Z`, …), or empty when
/// it is gone.
fn process_state(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

#[test]
fn a_signal_to_validate_reaches_its_gates_and_leaves_nothing_running() {
    // SIGTERM (a CI job cancelled), SIGINT (Ctrl-C: the terminal signals
    // modelgate's process group, not the gate's) and SIGHUP: the running
    // gate gets the signal, it and its child are gone when modelgate exits
    // 128 + N, and the gate after it never starts.
    use std::process::Stdio;
    for (signal, number) in [("TERM", 15), ("INT", 2), ("HUP", 1)] {
        let p = Project::new(
            "name: p
models:
  - name: logreg
    validationTasks:
      - name: waiter
        runcommand: >-
          trap 'echo TERM > got; exit 3' TERM;
          trap 'echo INT > got; exit 3' INT;
          trap 'echo HUP > got; exit 3' HUP;
          sleep 300 & echo $! > child.pid; echo $$ > gate.pid; wait
      - name: after
        runcommand: touch after-ran
",
        );
        p.copy("examples/logreg/mlflow.db", "mlflow.db");
        let child = modelgate()
            .args(["validate", "--project", &p.path()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start modelgate");
        let dir = p.dir.path();
        let read_pid = |name: &str| -> Option<i32> {
            std::fs::read_to_string(dir.join(name))
                .ok()
                .and_then(|s| s.trim().parse().ok())
        };
        // The gate is running once it has written both pids.
        let started = std::time::Instant::now();
        let (gate, sleeper) = loop {
            if let (Some(g), Some(c)) = (read_pid("gate.pid"), read_pid("child.pid")) {
                break (g, c);
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the gate never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(!process_state(gate).is_empty(), "the gate is running");
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let out = crate::support::wait_bounded(child, std::time::Duration::from_secs(60));
        assert_eq!(out.code, 128 + number, "SIG{signal}: {out}");
        assert!(
            out.stderr.contains(&format!("stopped by SIG{signal}")),
            "{out}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("got")).ok().as_deref(),
            Some(format!("{signal}\n").as_str()),
            "SIG{signal} did not reach the gate: {out}"
        );
        for pid in [gate, sleeper] {
            let state = process_state(pid);
            assert!(
                state.is_empty() || state == "Z" || state == "X",
                "SIG{signal}: process {pid} survived in state {state}"
            );
        }
        assert!(
            !dir.join("after-ran").exists(),
            "a gate started after SIG{signal}"
        );
    }
}
