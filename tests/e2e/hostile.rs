//! The hostile suite: plugins, registries, project files, caches and
//! process gates that try to talk modelgate into a pass or take the host
//! down. Every test here failed (a pass, a panic, a hang, unbounded memory)
//! before the hardening it guards, and must keep failing closed.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::guests;
use crate::support::{
    FaultServer, Project, faulty, healthy_mlflow, http, mg, modelgate, root, run, run_bounded,
    threshold_project,
};

/// A hang guard for commands that must end promptly: generous, not a
/// speed measure.
const HANG: Duration = Duration::from_secs(120);

fn logreg_project(yaml_gates: &str) -> Project {
    let p = Project::new(&format!(
        "name: hostile\nmodels:\n  - name: logreg\n    validationTasks:\n{yaml_gates}"
    ));
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    p
}

fn validate_in(p: &Project, extra: &[&str]) -> crate::support::Outcome {
    run_bounded(
        modelgate()
            .args(["validate", "--project", &p.path()])
            .args(extra),
        HANG,
    )
}

// ---------------------------------------------------------------- sandbox

#[test]
fn many_memories_count_against_one_memory_limit() {
    let wat = root().join("plugins/testing/multimem/multimem.wat");
    let bytes = wat::parse_file(&wat).expect("multimem.wat assembles");
    let p = logreg_project("      - {name: multimem, executor: !wasm {plugin: multimem.wasm}}\n");
    p.write("multimem.wasm", &bytes);
    let out = validate_in(&p, &[]);
    // Forty 60 MiB memories, each under the 64 MiB cap: together far over.
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("exceeded its memory limit of 64 MiB"),
        "{out}"
    );
    assert!(!out.stdout.contains("PASS"), "{out}");
}

#[test]
fn exactly_the_output_limit_is_within_it() {
    let p = logreg_project("      - {name: exact, executor: !wasm {plugin: exact.wasm}}\n");
    p.copy_abs(guests::EXACT(), "exact.wasm");
    let out = validate_in(&p, &["--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let gate = &out.json()["models"][0]["gates"][0];
    assert_eq!(gate["passed"], true, "{gate}");
    assert_eq!(gate["output"].as_str().map(str::len), Some(1 << 20));
}

#[test]
fn huge_registry_arguments_are_refused() {
    let p = logreg_project("      - {name: hoarder, executor: !wasm {plugin: hoarder.wasm}}\n");
    p.copy_abs(guests::HOARDER(), "hoarder.wasm");
    let out = validate_in(&p, &["--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let gate = &out.json()["models"][0]["gates"][0];
    assert_eq!(gate["passed"], false);
    assert_eq!(
        gate["cause"],
        "exceeded a registry bound: called `list-model-versions` with an argument of 1048576 bytes; the limit is 1024"
    );
}

#[test]
fn answers_the_host_keeps_for_a_plugin_count_against_its_memory() {
    // 1000 distinct names of 1000 bytes: each within the argument bound,
    // but the answers the host keeps add up to ~2 MB on the plugin's
    // behalf, which its 3 MiB limit (≈1.2 MiB of its own) cannot hold.
    let p = logreg_project(
        "      - {name: hoarder, executor: !wasm {plugin: hoarder.wasm, config: {size: 1000}, limits: {memory: 3MiB}}}\n",
    );
    p.copy_abs(guests::HOARDER(), "hoarder.wasm");
    let out = validate_in(&p, &["--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let gate = &out.json()["models"][0]["gates"][0];
    assert_eq!(gate["passed"], false);
    let cause = gate["cause"].as_str().unwrap_or("");
    assert!(
        cause.starts_with("exceeded its memory limit of 3 MiB"),
        "{cause}"
    );
}

#[test]
fn a_plugin_cannot_draw_a_fake_pass_on_the_terminal() {
    let p = logreg_project("      - {name: spoof, executor: !wasm {plugin: spoof.wasm}}\n");
    p.copy_abs(guests::SPOOF(), "spoof.wasm");
    let out = validate_in(&p, &["-v"]);
    assert_eq!(out.code, 1, "{out}");
    for bad in ['\x1b', '\r', '\u{202e}'] {
        assert!(
            !out.stdout.contains(bad),
            "{bad:?} reached the terminal:\n{out}"
        );
    }
    assert!(
        !out.stdout.lines().any(|l| l.starts_with("PASS")),
        "a line starts with PASS:\n{out}"
    );
    assert!(
        out.stdout
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("FAIL: 0 of 1")),
        "{out}"
    );
    // What the plugin wrote is still there to read, escaped.
    assert!(out.stdout.contains("\\r\\x1b[2K\\x1b[32m"), "{out}");
}

/// A large component Winch refuses (it uses tail calls, which Winch does
/// not compile): chosen by `auto`, Cranelift compiles it instead, with a
/// warning; asked for by `MODELGATE_COMPILER=winch`, it is an error that
/// says so — never a panic.
#[test]
fn a_component_winch_refuses_is_compiled_by_cranelift_unless_winch_was_asked_for() {
    let data = "a".repeat(1 << 20);
    let wat = format!(
        r#"(component
  (core module
    (memory 17)
    (data (i32.const 0) "{data}")
    (func $f (export "f") (param i32) (result i32) (return_call $f (local.get 0)))))"#
    );
    let bytes = wat::parse_str(&wat).expect("component text");
    assert!(bytes.len() >= 1 << 20, "{} bytes", bytes.len());
    let dir = crate::support::tempdir();
    let file = dir.path().join("tail-calls.wasm");
    std::fs::write(&file, &bytes).expect("write");
    let inspect = |compiler: &str| {
        run_bounded(
            modelgate()
                .args(["plugin", "inspect", "--json"])
                .arg(&file)
                .env(
                    "MODELGATE_CACHE_DIR",
                    dir.path().join(format!("cache-{compiler}")),
                )
                .env("MODELGATE_COMPILER", compiler),
            HANG,
        )
    };
    // Not a gate (no validator world): exit 2 from `inspect`, but compiled.
    let auto = inspect("auto");
    assert_eq!(auto.code, 2, "{auto}");
    let v: serde_json::Value = serde_json::from_str(&auto.stdout).expect("inspect JSON");
    assert_eq!(v["compiler"], "cranelift", "{auto}");
    assert_eq!(v["cache"], "compiled by cranelift", "{auto}");
    assert!(
        auto.stderr.contains("Winch cannot compile it")
            && auto.stderr.contains("compiling it with Cranelift"),
        "{auto}"
    );
    let winch = inspect("winch");
    assert_eq!(winch.code, 2, "{winch}");
    assert!(
        winch.stderr.contains("Winch failed to compile")
            && winch
                .stderr
                .contains("hint: Winch (MODELGATE_COMPILER=winch)")
            && !winch.stderr.contains("panicked"),
        "{winch}"
    );
}

#[test]
fn a_poisoned_compile_cache_does_not_turn_a_failing_gate_into_a_pass() {
    use modelgate::gate::wasm::cache::{CompileCache, sha256_hex};
    use modelgate::gate::wasm::{PluginSource, WasmHost};
    let attacker = crate::support::tempdir();
    let cache_dir = attacker.path().join("cache");
    let attacker_key = attacker.path().join("attacker-key");
    // The attacker compiles a passing gate (echo) and files it under the
    // failing gate's (panic) sha256, MAC'd under a key of their own.
    let pass = std::fs::read(guests::ECHO()).expect("echo");
    let fail = std::fs::read(guests::PANIC()).expect("panic");
    let host = WasmHost::new(|e| CompileCache::at(e, Some(cache_dir.clone()), &attacker_key))
        .expect("host");
    let forged = PluginSource {
        bytes: pass.into(),
        sha256: sha256_hex(&fail),
    };
    host.inspect(&forged, "forged", None).expect("compiles");
    // …and ships the key inside the cache directory, where it used to live.
    std::fs::copy(&attacker_key, cache_dir.join("cache-key")).expect("copy key");

    let p = logreg_project("      - {name: panic, executor: !wasm {plugin: panic.wasm}}\n");
    p.write("panic.wasm", &fail);
    let victim_key = crate::support::tempdir();
    let out = run_bounded(
        modelgate()
            .args(["validate", "--project", &p.path(), "--format", "json"])
            .env("MODELGATE_CACHE_DIR", &cache_dir)
            .env("MODELGATE_CACHE_KEY", victim_key.path().join("key")),
        HANG,
    );
    assert_eq!(out.code, 1, "the forged entry ran:\n{out}");
    let gate = &out.json()["models"][0]["gates"][0];
    assert!(
        gate["cause"]
            .as_str()
            .is_some_and(|c| c.starts_with("panicked")),
        "{gate}"
    );
}

#[test]
fn a_compile_cache_key_inside_the_cache_is_refused() {
    let dir = crate::support::tempdir();
    let out = run(modelgate()
        .args(["plugin", "inspect", "builtin:threshold"])
        .env("MODELGATE_CACHE_DIR", dir.path())
        .env("MODELGATE_CACHE_KEY", dir.path().join("cache-key")));
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains("the compile cache is off: its key")
            && out.stderr.contains("inside the cache directory"),
        "{out}"
    );
    assert!(!dir.path().join("cache-key").exists());
}

// ---------------------------------------------------------- plugin files

#[test]
fn plugins_are_read_only_from_regular_files_of_bounded_size() {
    let p = logreg_project("      - {name: dev, executor: !wasm {plugin: /dev/zero}}\n");
    let out = validate_in(&p, &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("it is a character device, not a regular file"),
        "{out}"
    );
    let p = logreg_project("      - {name: fifo, executor: !wasm {plugin: gate.wasm}}\n");
    mkfifo(&p.dir.path().join("gate.wasm"));
    let out = validate_in(&p, &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("it is a FIFO"), "{out}");
    assert!(out.stderr.contains("hint: a plugin is a regular"), "{out}");
}

fn mkfifo(path: &std::path::Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

// ---------------------------------------------------------- project files

#[test]
fn duplicate_keys_in_a_gate_config_are_errors_with_both_positions() {
    let p = Project::new(
        "name: dup
models:
  - name: m
    validationTask:
      executor: !wasm
        plugin: builtin:threshold
        config:
          metrics:
            score:
              threshold: 0.99
              threshold: 0.1
",
    );
    let out = mg(&["check", "--project", &p.path()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains(
            "ame.yaml:11:15: key `threshold` is written twice in this mapping (first at line 10, column 15)"
        ),
        "{out}"
    );
}

#[test]
fn alias_bombs_are_refused_quickly() {
    let mut doc =
        String::from("name: bomb\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let p = i - 1;
        doc.push_str(&format!(
            "x{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    doc.push_str("models: []\n");
    assert!(doc.len() < 1000);
    let p = Project::new(&doc);
    for cmd in ["check", "validate"] {
        let out = run_bounded(modelgate().args([cmd, "--project", &p.path()]), HANG);
        assert_eq!(out.code, 2, "{out}");
        assert!(out.stderr.contains("more than 500000 nodes"), "{out}");
    }
}

#[test]
fn project_files_have_a_size_limit_and_must_be_regular() {
    let mut big = String::from("name: big\nmodels: []\n");
    while big.len() <= 2 << 20 {
        big.push_str("# padding padding padding padding padding padding padding\n");
    }
    let p = Project::new(&big);
    let out = mg(&["check", "--project", &p.path()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("more than the limit of 2 MiB"), "{out}");

    let dir = crate::support::tempdir();
    let fifo = dir.path().join("ame.yaml");
    mkfifo(&fifo);
    let out = run_bounded(
        modelgate().args(["check", "--project", &fifo.display().to_string()]),
        HANG,
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("it is a FIFO, not a regular file"),
        "{out}"
    );
}

#[test]
fn a_large_broken_project_is_checked_in_linear_time() {
    // ~18,000 tasks and as many models, each referring to a task that
    // does not exist: every reference is a problem, and a "did you mean"
    // over all task names for each one (or listing them all in each hint)
    // was quadratic in time and in output.
    let mut doc = String::from("name: big\ntasks:\n");
    let n = 18_000;
    for i in 0..n {
        doc.push_str(&format!(
            "  - {{name: t{i:05}, executor: !pip {{command: x}}}}\n"
        ));
    }
    doc.push_str("models:\n");
    for i in 0..n {
        doc.push_str(&format!(
            "  - {{name: m{i:05}, validationTask: {{taskRef: {{name: u{i:05}}}}}}}\n"
        ));
    }
    assert!(doc.len() < 2 << 20, "{}", doc.len());
    let p = Project::new(&doc);
    let out = run_bounded(modelgate().args(["check", "--project", &p.path()]), HANG);
    assert_eq!(out.code, 2, "{}", &out.stderr[..out.stderr.len().min(2000)]);
    assert!(
        out.stderr.contains(&format!("has {n} problems")),
        "{}",
        &out.stderr[..2000]
    );
    assert!(
        out.stderr.len() < 64 << 20,
        "error output grew to {} bytes",
        out.stderr.len()
    );
}

// ------------------------------------------------------- registry faults

fn validate_against(server: &FaultServer, extra: &[&str]) -> crate::support::Outcome {
    let p = threshold_project();
    run_bounded(
        modelgate()
            .args([
                "validate",
                "--project",
                &p.path(),
                "--tracking-uri",
                &server.uri,
            ])
            .args(extra),
        HANG,
    )
}

#[test]
fn a_healthy_fault_server_passes() {
    // Guards the fixture itself: every fault test below differs only in
    // the fault, so their failures are the fault's.
    let s =
        FaultServer::start(|req, _| healthy_mlflow(req).unwrap_or_else(|| http(404, &[], "{}")));
    let out = validate_against(&s, &[]);
    assert_eq!(out.code, 0, "{out}");
}

#[test]
fn a_version_without_a_usable_status_is_not_judged() {
    for status in [None, Some("null"), Some("1"), Some("[\"READY\"]")] {
        let s = faulty("model-versions/search", move |_| {
            let field = status
                .map(|v| format!(r#", "status": {v}"#))
                .unwrap_or_default();
            http(
                200,
                &[],
                &format!(
                    r#"{{"model_versions": [{{"name": "m", "version": "1", "run_id": "r1"{field}}}]}}"#
                ),
            )
        });
        let out = validate_against(&s, &[]);
        assert_eq!(out.code, 2, "status {status:?}: {out}");
        assert!(
            out.stderr
                .contains("model version `m` 1: field `status` is"),
            "{out}"
        );
    }
}

#[test]
fn a_sqlite_version_without_a_status_is_not_judged() {
    let p = Project::new(
        "name: s\nmodels:\n  - name: logreg\n    validationTask:\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {metrics: {score: {threshold: 0.5}}}\n",
    );
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    let db = rusqlite::Connection::open(p.dir.path().join("mlflow.db")).expect("db");
    db.execute("UPDATE model_versions SET status = NULL", [])
        .expect("update");
    drop(db);
    let out = validate_in(&p, &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("model version `logreg` 1: field `status` is null"),
        "{out}"
    );
}

#[test]
fn answer_bodies_are_capped() {
    let s = faulty("model-versions/search", |_| {
        let pad = "x".repeat(2 << 20);
        http(
            200,
            &[],
            &format!(
                r#"{{"model_versions": [{{"name": "m", "version": "1", "status": "READY", "run_id": "r1"}}], "pad": "{pad}"}}"#
            ),
        )
    });
    let out = validate_against(&s, &[]);
    assert_eq!(out.code, 0, "2 MiB is within the default cap: {out}");
    let out = run_bounded(
        modelgate()
            .args([
                "validate",
                "--project",
                &threshold_project().path(),
                "--tracking-uri",
                &s.uri,
            ])
            .env("MODELGATE_MAX_RESPONSE_SIZE", "1MiB"),
        HANG,
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("`model-versions/search` answered with more than 1 MiB"),
        "{out}"
    );
}

#[test]
fn a_listing_that_never_ends_is_refused() {
    let s = faulty("model-versions/search", |n| {
        http(
            200,
            &[],
            &format!(r#"{{"model_versions": [], "next_page_token": "p{n}"}}"#),
        )
    });
    let out = validate_against(&s, &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("keeps answering with another page"),
        "{out}"
    );
    assert!(s.hits() <= 1001, "{} requests", s.hits());
    // A token that repeats is a loop at once.
    let s = faulty("model-versions/search", |_| {
        http(
            200,
            &[],
            r#"{"model_versions": [], "next_page_token": "same"}"#,
        )
    });
    let out = validate_against(&s, &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("a page token repeated"), "{out}");
}

#[test]
fn retry_after_nan_or_huge_never_panics_and_is_capped() {
    // NaN on a 429 (then a good answer), and on a 200.
    for status in [429, 200] {
        let s = FaultServer::start(move |req, n| {
            if n == 0 {
                let body = if status == 200 {
                    healthy_mlflow(req).map(|r| String::from_utf8_lossy(&r).into_owned())
                } else {
                    None
                };
                if let Some(raw) = body {
                    return raw
                        .replacen("\r\n\r\n", "\r\nRetry-After: NaN\r\n\r\n", 1)
                        .into_bytes();
                }
                return http(429, &["Retry-After: NaN"], "{}");
            }
            healthy_mlflow(req).unwrap_or_else(|| http(404, &[], "{}"))
        });
        let out = validate_against(&s, &[]);
        assert_eq!(out.code, 0, "status {status}: {out}");
        assert!(!out.stderr.contains("panicked"), "{out}");
    }
    // A huge Retry-After is capped, and --timeout bounds the whole run.
    let s = FaultServer::start(|_, _| http(503, &["Retry-After: 1e300"], "{}"));
    let out = validate_against(&s, &["--timeout", "3s"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("retry 1 of 1 in 120.0s"), "{out}");
    assert!(
        out.stderr
            .contains("could not decide within --timeout 3.00s"),
        "{out}"
    );
}

#[test]
fn a_body_cut_off_on_a_200_is_retried_as_a_transport_error() {
    let s = FaultServer::start(|req, n| {
        if n == 0 {
            return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{\"model_ver".to_vec();
        }
        healthy_mlflow(req).unwrap_or_else(|| http(404, &[], "{}"))
    });
    let out = validate_against(&s, &[]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("failed to read the answer"), "{out}");
    assert!(out.stderr.contains("retry 1 of 1"), "{out}");
    assert!(!out.stderr.contains("invalid JSON"), "{out}");
}

#[test]
fn hostile_environment_numbers_are_errors_not_panics() {
    for (var, value) in [
        ("MLFLOW_HTTP_REQUEST_TIMEOUT", "nan"),
        ("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "inf"),
        ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "-1"),
        ("MODELGATE_MAX_RESPONSE_SIZE", "lots"),
    ] {
        let out = run(modelgate()
            .args(["validate", "--project", &threshold_project().path()])
            .args(["--tracking-uri", "http://127.0.0.1:9"])
            .env(var, value));
        assert_eq!(out.code, 2, "{var}={value}: {out}");
        assert!(out.stderr.contains(var), "{out}");
        assert!(out.stderr.contains("hint:"), "{out}");
    }
}

// ------------------------------------------------------------- process

/// Runs `modelgate validate ARGS` on the example with its stdout closed
/// before a byte is written (`| head -0`): the exit code and stderr.
fn validate_into_a_closed_pipe(args: &[&str]) -> (Option<i32>, String) {
    let mut child = modelgate()
        .args(["validate", "--project", "examples/logreg"])
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let (code, stderr) = validate_into_a_closed_pipe(&["-v"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The same with the JSON report, which is written as it is judged.
    let (code, stderr) = validate_into_a_closed_pipe(&["--format", "json"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "", "nothing to say but the verdict's exit code");
}

#[test]
fn a_daemonising_process_gate_does_not_outlive_modelgate() {
    // The gate starts a daemon (its own session) and ends only once the
    // daemon has written its pid: modelgate must have killed it when it
    // exits, not left it to run for ten minutes.
    let p = logreg_project(
        "      - name: daemon
        executor: !custom
          command: \"setsid sh -c 'echo $$ > daemon.pid; exec sleep 600' </dev/null >/dev/null 2>&1 & while [ ! -s daemon.pid ]; do :; done; exit 0\"
",
    );
    let out = validate_in(&p, &[]);
    assert_eq!(out.code, 0, "{out}");
    let pid: i32 = std::fs::read_to_string(p.dir.path().join("daemon.pid"))
        .expect("the daemon ran and wrote its pid")
        .trim()
        .parse()
        .expect("a pid");
    // Gone, or a zombie its new parent has yet to reap: not running.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_string)
        })
        .unwrap_or_default();
    assert!(
        state.is_empty() || state == "Z" || state == "X",
        "the daemon {pid} outlived modelgate, in state {state}"
    );
}

#[test]
fn one_validate_asks_for_the_versions_and_the_model_at_once() {
    // Two sequential round trips, not three: the version search and the
    // registered model (for its aliases) are in flight together, then the
    // run. The search is answered only once the model request has arrived
    // (or after 5 s, when modelgate asked one after the other).
    use std::sync::{Arc, Condvar, Mutex};
    let arrived = Arc::new((Mutex::new(Vec::<&'static str>::new()), Condvar::new()));
    let seen = arrived.clone();
    let overlapped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = overlapped.clone();
    let s = FaultServer::start(move |req, _| {
        let (log, cv) = &*seen;
        let endpoint = match req.endpoint() {
            "model-versions/search" => "search",
            "registered-models/get" => "model",
            "runs/get" => "run",
            e if e.starts_with("logged-models") => "logged",
            _ => "other",
        };
        log.lock().expect("log").push(endpoint);
        cv.notify_all();
        if endpoint == "search" {
            let guard = log.lock().expect("log");
            let (guard, _) = cv
                .wait_timeout_while(guard, Duration::from_secs(5), |l| !l.contains(&"model"))
                .expect("wait");
            flag.store(
                guard.contains(&"model") && !guard.contains(&"run"),
                std::sync::atomic::Ordering::SeqCst,
            );
        }
        healthy_mlflow(req).unwrap_or_else(|| http(404, &[], "{}"))
    });
    let out = validate_against(&s, &[]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        overlapped.load(std::sync::atomic::Ordering::SeqCst),
        "the registered model was not asked for while the version search was open: {:?}",
        arrived.0.lock().expect("log")
    );
    let log = arrived.0.lock().expect("log").clone();
    assert_eq!(log.iter().filter(|e| **e == "run").count(), 1, "{log:?}");
    assert_eq!(
        log.last(),
        Some(&"run"),
        "the run comes after both: {log:?}"
    );
    assert!(
        !log.contains(&"logged"),
        "a version without a LoggedModel costs no request for one: {log:?}"
    );
}

#[test]
fn a_version_s_logged_model_is_read_beside_its_run_not_after_it() {
    // MLflow 3: version 1 was registered from LoggedModel `m-…`, whose
    // `score` decides. Its read goes out with the run's (one request more,
    // no round trip more): the run's answer is held until
    // the LoggedModel's request has arrived (or 5 s, when modelgate asked
    // one after the other).
    use std::sync::{Arc, Condvar, Mutex};
    const ID: &str = "m-0123456789abcdef0123456789abcdef";
    let arrived = Arc::new((Mutex::new(Vec::<String>::new()), Condvar::new()));
    let seen = arrived.clone();
    let overlapped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = overlapped.clone();
    let s = FaultServer::start(move |req, _| {
        let (log, cv) = &*seen;
        let endpoint = req.endpoint().to_string();
        log.lock().expect("log").push(endpoint.clone());
        cv.notify_all();
        let version = format!(
            r#"{{"name": "m", "version": "1", "status": "READY", "run_id": "r1",
               "source": "models:/{ID}", "creation_timestamp": "1", "last_updated_timestamp": "1"}}"#
        );
        match endpoint.as_str() {
            "model-versions/search" => {
                http(200, &[], &format!(r#"{{"model_versions": [{version}]}}"#))
            }
            "runs/get" => {
                let guard = log.lock().expect("log");
                let wanted = format!("logged-models/{ID}");
                let (guard, _) = cv
                    .wait_timeout_while(guard, Duration::from_secs(5), |l| !l.contains(&wanted))
                    .expect("wait");
                flag.store(guard.contains(&wanted), std::sync::atomic::Ordering::SeqCst);
                healthy_mlflow(req).unwrap_or_else(|| http(404, &[], "{}"))
            }
            e if e == format!("logged-models/{ID}") => http(
                200,
                &[],
                &format!(
                    r#"{{"model": {{"info": {{"model_id": "{ID}", "experiment_id": "0", "name": "model",
                       "status": "LOGGED_MODEL_READY", "source_run_id": "r1"}},
                       "data": {{"metrics": [{{"key": "score", "value": 0.4, "timestamp": 5, "step": 0,
                       "dataset_name": "holdout", "dataset_digest": "ab12", "run_id": "e1"}}]}}}}}}"#
                ),
            ),
            _ => healthy_mlflow(req).unwrap_or_else(|| http(404, &[], "{}")),
        }
    });
    let out = validate_against(&s, &["--format", "json"]);
    // The LoggedModel's 0.4 decides, not the run's 0.9.
    assert_eq!(out.code, 1, "{out}");
    let check = &out.json()["models"][0]["gates"][0]["checks"][0];
    assert_eq!(check["observed"], "0.4", "{out}");
    assert!(
        overlapped.load(std::sync::atomic::Ordering::SeqCst),
        "the LoggedModel was not asked for while the run was: {:?}",
        arrived.0.lock().expect("log")
    );
    let log = arrived.0.lock().expect("log").clone();
    let models = log
        .iter()
        .filter(|e| e.starts_with("logged-models"))
        .count();
    assert_eq!(models, 1, "{log:?}");
}
