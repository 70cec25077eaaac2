//! `validate --record`: the verdict written onto the judged version as
//! tags, read back with MLflow's own client — through the embedded
//! `mlflow.db` and through a real server.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{Project, fixtures, mg, python, run, server, validate};

/// The tags of `model` version `version` as MLflow's own client sees them.
pub fn mlflow_tags(uri: &str, model: &str, version: u64) -> Value {
    let script = "import json, sys\n\
        from mlflow import MlflowClient\n\
        mv = MlflowClient(tracking_uri=sys.argv[1]).get_model_version(sys.argv[2], sys.argv[3])\n\
        print(json.dumps(mv.tags))\n";
    let out = run(Command::new(python())
        .args(["-c", script, uri, model, &version.to_string()])
        .env("MLFLOW_TRACKING_URI", uri));
    assert_eq!(out.code, 0, "{out}");
    serde_json::from_str(out.stdout.trim()).expect("tags JSON")
}

fn check_recorded(tags: &Value, verdict: &str, gate: &str, report_json: Option<&str>) {
    assert_eq!(tags["modelgate.verdict"], verdict, "{tags}");
    assert_eq!(tags[format!("modelgate.gate.{gate}")], verdict, "{tags}");
    for key in ["modelgate.plan", "modelgate.report"] {
        let v = tags[key].as_str().unwrap_or("");
        assert!(v.starts_with("sha256:") && v.len() == 71, "{key}: {tags}");
    }
    let at = tags["modelgate.judged_at"].as_str().unwrap_or("");
    assert!(
        at.len() == 20 && at.ends_with('Z') && at.contains('T'),
        "{tags}"
    );
    if let Some(report) = report_json {
        use sha2::Digest as _;
        let digest = format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(report.as_bytes()))
        );
        assert_eq!(
            tags["modelgate.report"],
            digest.as_str(),
            "the report digest"
        );
    }
}

#[test]
fn the_verdict_is_recorded_in_the_embedded_database() {
    for (threshold, code, verdict) in [("0.6", 0, "pass"), ("0.7", 1, "fail")] {
        let p = crate::support::example_project(threshold);
        let out = mg(&[
            "validate",
            "--project",
            &p.path(),
            "--record",
            "--format",
            "json",
        ]);
        assert_eq!(out.code, code, "{out}");
        assert!(
            out.stderr.contains(&format!(
                "recorded modelgate.verdict={verdict} on logreg version 1"
            )),
            "{out}"
        );
        let uri = format!("sqlite:///{}", p.dir.path().join("mlflow.db").display());
        check_recorded(
            &mlflow_tags(&uri, "logreg", 1),
            verdict,
            "quality_gate",
            Some(&out.stdout),
        );
    }
}

#[test]
fn the_verdict_is_recorded_through_the_server() {
    let model = "recorded";
    let reg = fixtures(&json!([
        {"op": "version", "model": model, "metrics": {"score": 0.9}},
        {"op": "version", "model": model, "metrics": {"score": 0.1}}
    ]));
    let p = Project::new(&format!(
        "name: rec\nmodels:\n  - name: {model}\n    validationTask:\n      name: quality\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {{metrics: {{score: {{threshold: 0.5}}}}}}\n"
    ));
    let srv = server();
    for (r, code, verdict) in [(&reg[0], 0, "pass"), (&reg[1], 1, "fail")] {
        let v = r.version.to_string();
        let out = validate(&p.path(), &srv.uri, &["--version", &v, "--record"]);
        assert_eq!(out.code, code, "{out}");
        check_recorded(
            &mlflow_tags(&srv.uri, model, r.version),
            verdict,
            "quality",
            None,
        );
    }
    // The same policy, the same plan digest; another policy, another one.
    let a = mlflow_tags(&srv.uri, model, reg[0].version)["modelgate.plan"].clone();
    let b = mlflow_tags(&srv.uri, model, reg[1].version)["modelgate.plan"].clone();
    assert_eq!(a, b);
    let stricter = Project::new(&format!(
        "name: rec\nmodels:\n  - name: {model}\n    validationTask:\n      name: quality\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {{metrics: {{score: {{threshold: 0.95}}}}}}\n"
    ));
    let out = validate(
        &stricter.path(),
        &srv.uri,
        &["--version", &reg[0].version.to_string(), "--record"],
    );
    assert_eq!(out.code, 1, "{out}");
    let c = mlflow_tags(&srv.uri, model, reg[0].version);
    assert_ne!(c["modelgate.plan"], a, "a changed policy must show");
    assert_eq!(c["modelgate.verdict"], "fail");
}

/// Where alias `alias` of `model` points, as MLflow's client sees it.
pub fn mlflow_alias(uri: &str, model: &str, alias: &str) -> Option<u64> {
    let script = "import sys\n\
        from mlflow import MlflowClient\n\
        rm = MlflowClient(tracking_uri=sys.argv[1]).get_registered_model(sys.argv[2])\n\
        print(rm.aliases.get(sys.argv[3], 'none'))\n";
    let out = run(Command::new(python())
        .args(["-c", script, uri, model, alias])
        .env("MLFLOW_TRACKING_URI", uri));
    assert_eq!(out.code, 0, "{out}");
    out.stdout.trim().parse().ok()
}

#[test]
fn promotion_moves_the_alias_on_pass_only_and_only_forward() {
    // The embedded database: pass promotes, fail leaves the alias alone.
    for (threshold, code, alias) in [("0.6", 0, Some(1)), ("0.7", 1, None)] {
        let p = crate::support::example_project(threshold);
        let out = mg(&["validate", "--project", &p.path(), "--promote", "champion"]);
        assert_eq!(out.code, code, "{out}");
        let uri = format!("sqlite:///{}", p.dir.path().join("mlflow.db").display());
        assert_eq!(mlflow_alias(&uri, "logreg", "champion"), alias, "{out}");
        let tags = mlflow_tags(&uri, "logreg", 1);
        assert!(
            tags["modelgate.verdict"].is_string(),
            "--promote records too"
        );
        if code == 0 {
            assert!(out.stderr.contains("champion: (none) → 1"), "{out}");
        } else {
            assert!(out.stderr.contains("champion: not moved"), "{out}");
        }
    }

    // Through the server: forward only, unless asked.
    let model = "promoted";
    let reg = fixtures(&json!([
        {"op": "version", "model": model, "metrics": {"score": 0.8}},
        {"op": "version", "model": model, "metrics": {"score": 0.9}},
        {"op": "version", "model": model, "metrics": {"score": 0.1}}
    ]));
    let v: Vec<String> = reg.iter().map(|r| r.version.to_string()).collect();
    let p = Project::new(&format!(
        "name: promo\nmodels:\n  - name: {model}\n    validationTask:\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {{metrics: {{score: {{threshold: 0.5}}}}}}\n"
    ));
    let srv = server();
    let promote = |version: &str, extra: &[&str]| {
        let mut args = vec!["--version", version, "--promote", "champion"];
        args.extend_from_slice(extra);
        validate(&p.path(), &srv.uri, &args)
    };
    let out = promote(&v[1], &[]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains(&format!("champion: (none) → {}", v[1])),
        "{out}"
    );
    assert_eq!(
        mlflow_alias(&srv.uri, model, "champion"),
        Some(reg[1].version)
    );
    let back = promote(&v[0], &[]);
    assert_eq!(back.code, 2, "{back}");
    assert!(back.stderr.contains("refusing to move it back"), "{back}");
    assert!(back.stderr.contains("--allow-rollback"), "{back}");
    assert_eq!(
        mlflow_alias(&srv.uri, model, "champion"),
        Some(reg[1].version)
    );
    let rollback = promote(&v[0], &["--allow-rollback"]);
    assert_eq!(rollback.code, 0, "{rollback}");
    assert_eq!(
        mlflow_alias(&srv.uri, model, "champion"),
        Some(reg[0].version)
    );
    let failing = promote(&v[2], &[]);
    assert_eq!(failing.code, 1, "{failing}");
    assert_eq!(
        mlflow_alias(&srv.uri, model, "champion"),
        Some(reg[0].version)
    );
    // Not an alias MLflow would accept: refused before anything runs.
    let bad = validate(&p.path(), &srv.uri, &["--promote", "v3"]);
    assert_eq!(bad.code, 2, "{bad}");
}

#[test]
fn the_champion_challenger_example_promotes_only_a_better_model() {
    let dir = crate::support::tempdir();
    let work = dir.path().join("work");
    let out = run(
        Command::new(crate::support::root().join("examples/champion-challenger/demo"))
            .arg(&work)
            .env("PYTHON", python())
            .env("MODELGATE", env!("CARGO_BIN_EXE_modelgate"))
            .env("MODELGATE_CACHE_DIR", crate::support::cache_dir())
            .env("MODELGATE_CACHE_KEY", crate::support::cache_key())
            .env("NO_COLOR", "1"),
    );
    assert_eq!(out.code, 0, "{out}");
    let text = format!("{}{}", out.stdout, out.stderr);
    let said = |line: &str| assert!(text.contains(line), "missing {line:?}:\n{out}");
    said("champion: (none) → 1");
    said("champion: not moved (churn version 2 did not pass)");
    said("champion: 1 → 3");
    said("validate exit code: 1");
    assert_eq!(text.matches("REPRODUCED: 1 of 1").count(), 3, "{out}");
    let uri = format!("sqlite:///{}", work.join("mlflow.db").display());
    assert_eq!(mlflow_alias(&uri, "churn", "champion"), Some(3));
    for (version, verdict) in [(1, "pass"), (2, "fail"), (3, "pass")] {
        assert_eq!(
            mlflow_tags(&uri, "churn", version)["modelgate.verdict"],
            verdict
        );
    }
}

/// A registry that answers reads as a healthy MLflow does — its version
/// carrying an older record's `modelgate.verdict`, which a new record must
/// make `pending` first — and each `model-versions/set-tag` with
/// `write(the tag, its number)`; the tags it was sent, in order.
fn recording_registry(
    write: impl Fn(&Value, usize) -> Vec<u8> + Send + Sync + 'static,
) -> (
    crate::support::FaultServer,
    std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
) {
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = sent.clone();
    let server = crate::support::FaultServer::start(move |req, _| {
        if req.endpoint() == "model-versions/set-tag" {
            let tag: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
            let n = {
                let mut log = log.lock().expect("log");
                log.push(tag.clone());
                log.len() - 1
            };
            return write(&tag, n);
        }
        let version = r#"{"name": "m", "version": "1", "status": "READY", "run_id": "r1",
            "creation_timestamp": "1", "last_updated_timestamp": "1",
            "tags": [{"key": "modelgate.verdict", "value": "fail"}]}"#;
        match req.endpoint() {
            "model-versions/get" => {
                return crate::support::http(
                    200,
                    &[],
                    &format!(r#"{{"model_version": {version}}}"#),
                );
            }
            "model-versions/search" => {
                return crate::support::http(
                    200,
                    &[],
                    &format!(r#"{{"model_versions": [{version}]}}"#),
                );
            }
            _ => {}
        }
        crate::support::healthy_mlflow(req).unwrap_or_else(|| crate::support::http(404, &[], "{}"))
    });
    (server, sent)
}

#[test]
fn a_record_refused_part_way_leaves_no_verdict_and_says_so() {
    // The first write makes the verdict `pending` (it goes alone, before
    // any other); a 403 on a gate's tag, one of the writes that follow it
    // at once in any order, stops the record there: the version carries no
    // verdict (no earlier one either), and the run says it decided PASS
    // but did not record it.
    let (s, sent) = recording_registry(|tag, _| {
        if tag["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("modelgate.gate."))
        {
            crate::support::http(
                403,
                &[],
                r#"{"error_code": "PERMISSION_DENIED", "message": "no"}"#,
            )
        } else {
            crate::support::http(200, &[], "{}")
        }
    });
    let p = crate::support::threshold_project();
    let out = validate(&p.path(), &s.uri, &["--record"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stdout.contains("PASS"),
        "the verdict is reported: {out}"
    );
    assert!(
        out.stderr.contains(
            "the verdict (PASS) was decided and reported, but not all of it was recorded"
        ),
        "{out}"
    );
    assert!(!out.stderr.contains("could not decide"), "{out}");
    let sent = sent.lock().expect("log").clone();
    assert_eq!(sent[0]["key"], "modelgate.verdict", "{sent:?}");
    assert_eq!(sent[0]["value"], "pending", "{sent:?}");
    assert!(
        !sent[1..].iter().any(|t| t["key"] == "modelgate.verdict"),
        "no verdict after the refusal: {sent:?}"
    );
}

#[test]
fn a_record_that_outlasts_the_deadline_is_the_verdict_not_recorded() {
    // The registry takes the tags too slowly (each held past --timeout):
    // the verdict was decided and is reported; only the record is missing.
    let (s, _) = recording_registry(|_, _| {
        std::thread::sleep(std::time::Duration::from_secs(8));
        crate::support::http(200, &[], "{}")
    });
    let p = crate::support::threshold_project();
    let out = crate::support::run_bounded(
        crate::support::modelgate().args([
            "validate",
            "--project",
            &p.path(),
            "--tracking-uri",
            &s.uri,
            "--record",
            "--timeout",
            "2s",
        ]),
        std::time::Duration::from_secs(60),
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stdout.contains("PASS"), "{out}");
    assert!(
        out.stderr.contains(
            "the verdict (PASS) was decided and reported, but not recorded: the registry did not take it within --timeout 2.00s"
        ),
        "{out}"
    );
    assert!(!out.stderr.contains("could not decide"), "{out}");
}
