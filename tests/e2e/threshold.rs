//! `builtin:threshold` cross-checked against MLflow itself: for every row,
//! MLflow's `validate_evaluation_results` and modelgate must agree on pass or
//! fail, with candidate and baseline as real registered versions.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{Project, fixtures, python, root, run, server, tempdir, validate};

/// (thresholds, candidate metrics, baseline metrics or none).
fn cases() -> Vec<(Value, Value, Option<Value>)> {
    let t = |v: Value| v;
    vec![
        // threshold alone, both directions, at the boundary
        (t(json!({"m": {"threshold": 0.6}})), json!({"m": 0.7}), None),
        (t(json!({"m": {"threshold": 0.6}})), json!({"m": 0.5}), None),
        (t(json!({"m": {"threshold": 0.6}})), json!({"m": 0.6}), None),
        (
            t(json!({"m": {"threshold": 0.5, "greater_is_better": false}})),
            json!({"m": 0.4}),
            None,
        ),
        (
            t(json!({"m": {"threshold": 0.5, "greater_is_better": false}})),
            json!({"m": 0.6}),
            None,
        ),
        (
            t(json!({"m": {"threshold": 0.5, "greater_is_better": false}})),
            json!({"m": 0.5}),
            None,
        ),
        (
            t(json!({"m": {"threshold": -1.5}})),
            json!({"m": -1.0}),
            None,
        ),
        // min_absolute_change, both directions, float edge
        (
            t(json!({"m": {"min_absolute_change": 0.05}})),
            json!({"m": 0.86}),
            Some(json!({"m": 0.8})),
        ),
        (
            t(json!({"m": {"min_absolute_change": 0.05}})),
            json!({"m": 0.84}),
            Some(json!({"m": 0.8})),
        ),
        (
            t(json!({"m": {"min_absolute_change": 0.05}})),
            json!({"m": 0.85}),
            Some(json!({"m": 0.8})),
        ),
        (
            t(json!({"m": {"min_absolute_change": 0.05, "greater_is_better": false}})),
            json!({"m": 0.7}),
            Some(json!({"m": 0.8})),
        ),
        (
            t(json!({"m": {"min_absolute_change": 0.05, "greater_is_better": false}})),
            json!({"m": 0.78}),
            Some(json!({"m": 0.8})),
        ),
        (
            t(json!({"m": {"min_absolute_change": 0.1}})),
            json!({"m": -0.35}),
            Some(json!({"m": -0.5})),
        ),
        (
            t(json!({"m": {"min_absolute_change": 0.1}})),
            json!({"m": -0.45}),
            Some(json!({"m": -0.5})),
        ),
        // min_relative_change, both directions
        (
            t(json!({"m": {"min_relative_change": 0.1}})),
            json!({"m": 1.2}),
            Some(json!({"m": 1.0})),
        ),
        (
            t(json!({"m": {"min_relative_change": 0.1}})),
            json!({"m": 1.05}),
            Some(json!({"m": 1.0})),
        ),
        (
            t(json!({"m": {"min_relative_change": 0.1, "greater_is_better": false}})),
            json!({"m": 0.8}),
            Some(json!({"m": 1.0})),
        ),
        (
            t(json!({"m": {"min_relative_change": 0.1, "greater_is_better": false}})),
            json!({"m": 0.95}),
            Some(json!({"m": 1.0})),
        ),
        (
            t(json!({"m": {"min_relative_change": 0.0}})),
            json!({"m": 1.0}),
            Some(json!({"m": 1.0})),
        ),
        (
            t(json!({"m": {"min_relative_change": 0.0}})),
            json!({"m": 0.99}),
            Some(json!({"m": 1.0})),
        ),
        (
            t(json!({"m": {"min_relative_change": 1.0}})),
            json!({"m": 2.0}),
            Some(json!({"m": 1.0})),
        ),
        // zero baselines: strictly better
        (
            t(json!({"m": {"min_relative_change": 0.1}})),
            json!({"m": 0.001}),
            Some(json!({"m": 0.0})),
        ),
        (
            t(json!({"m": {"min_relative_change": 0.1}})),
            json!({"m": 0.0}),
            Some(json!({"m": 0.0})),
        ),
        (
            t(json!({"m": {"min_relative_change": 0.1, "greater_is_better": false}})),
            json!({"m": -0.001}),
            Some(json!({"m": 0.0})),
        ),
        (
            t(json!({"m": {"min_relative_change": 0.1, "greater_is_better": false}})),
            json!({"m": 0.0}),
            Some(json!({"m": 0.0})),
        ),
        // negative baselines: relative to the magnitude
        (
            t(json!({"m": {"min_relative_change": 0.1}})),
            json!({"m": -0.4}),
            Some(json!({"m": -0.5})),
        ),
        (
            t(json!({"m": {"min_relative_change": 0.1}})),
            json!({"m": -0.6}),
            Some(json!({"m": -0.5})),
        ),
        (
            t(json!({"m": {"min_relative_change": 0.1, "greater_is_better": false}})),
            json!({"m": -0.6}),
            Some(json!({"m": -0.5})),
        ),
        (
            t(json!({"m": {"min_relative_change": 0.1, "greater_is_better": false}})),
            json!({"m": -0.46}),
            Some(json!({"m": -0.5})),
        ),
        // combined conditions
        (
            t(
                json!({"m": {"threshold": 0.7, "min_absolute_change": 0.01, "min_relative_change": 0.01}}),
            ),
            json!({"m": 0.9}),
            Some(json!({"m": 0.85})),
        ),
        (
            t(
                json!({"m": {"threshold": 0.95, "min_absolute_change": 0.01, "min_relative_change": 0.01}}),
            ),
            json!({"m": 0.9}),
            Some(json!({"m": 0.85})),
        ),
        (
            t(
                json!({"m": {"threshold": 0.7, "min_absolute_change": 0.01, "min_relative_change": 0.05}}),
            ),
            json!({"m": 0.86}),
            Some(json!({"m": 0.85})),
        ),
        (
            t(json!({"m": {"threshold": 0.7, "min_absolute_change": 0.2}})),
            json!({"m": 0.9}),
            Some(json!({"m": 0.85})),
        ),
        (
            t(
                json!({"a": {"threshold": 0.5}, "b": {"threshold": 0.3, "greater_is_better": false}}),
            ),
            json!({"a": 0.6, "b": 0.2}),
            None,
        ),
        (
            t(
                json!({"a": {"threshold": 0.5}, "b": {"threshold": 0.3, "greater_is_better": false}}),
            ),
            json!({"a": 0.6, "b": 0.4}),
            None,
        ),
        // missing metrics and baselines
        (
            t(json!({"m": {"threshold": 0.5}})),
            json!({"other": 0.9}),
            None,
        ),
        (
            t(json!({"m": {"min_absolute_change": 0.01}})),
            json!({"m": 0.9}),
            None,
        ),
        (
            t(json!({"m": {"min_relative_change": 0.01}})),
            json!({"m": 0.9}),
            None,
        ),
        (
            t(json!({"m": {"min_absolute_change": 0.01}})),
            json!({"m": 0.9}),
            Some(json!({"other": 0.5})),
        ),
        (
            t(json!({"m": {"threshold": 0.5, "min_absolute_change": 0.01}})),
            json!({"m": 0.9}),
            Some(json!({"other": 0.5})),
        ),
        (
            t(json!({"m": {"threshold": 0.5}})),
            json!({"m": 0.9}),
            Some(json!({"m": 0.95})),
        ),
        // NaN and infinities (NaN with a threshold fails in both)
        (
            t(json!({"m": {"threshold": 0.5}})),
            json!({"m": "nan"}),
            None,
        ),
        (
            t(json!({"m": {"threshold": 0.5}})),
            json!({"m": "inf"}),
            None,
        ),
        (
            t(json!({"m": {"threshold": 0.5, "greater_is_better": false}})),
            json!({"m": "-inf"}),
            None,
        ),
        (
            t(json!({"m": {"threshold": 0.5, "greater_is_better": false}})),
            json!({"m": "inf"}),
            None,
        ),
    ]
}

#[test]
fn builtin_threshold_agrees_with_mlflow_on_every_row() {
    let cases = cases();
    // MLflow's verdicts.
    let oracle_in: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (t, c, b))| json!({"id": i, "thresholds": t, "candidate": c, "baseline": b}))
        .collect();
    let dir = tempdir();
    let input = dir.path().join("cases.json");
    std::fs::write(&input, Value::Array(oracle_in).to_string()).expect("write cases");
    let out = run(Command::new("sh").arg("-c").arg(format!(
        "'{}' '{}' < '{}'",
        python().display(),
        root().join("tests/env/threshold_oracle.py").display(),
        input.display()
    )));
    assert_eq!(out.code, 0, "oracle failed:\n{out}");
    let line = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("MODELGATE_ORACLE "))
        .unwrap_or_else(|| panic!("no oracle line:\n{out}"));
    let oracle: Vec<Value> = serde_json::from_str(line).expect("oracle json");

    // The same rows as real registered versions: baseline (aliased
    // `champion`) then candidate, one model per row.
    let mut ops = Vec::new();
    let mut yaml = String::from("name: oracle\nmodels:\n");
    for (i, (t, c, b)) in cases.iter().enumerate() {
        let model = format!("thr_{i:02}");
        if let Some(b) = b {
            ops.push(json!({"op": "version", "model": model, "metrics": b}));
            ops.push(json!({"op": "alias", "model": model, "alias": "champion", "version": 1}));
        }
        ops.push(json!({"op": "version", "model": model, "metrics": c}));
        let config = json!({"baseline": "champion", "metrics": t});
        yaml.push_str(&format!(
            "  - name: {model}\n    validationTask:\n      name: threshold\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {config}\n"
        ));
    }
    fixtures(&Value::Array(ops));
    let p = Project::new(&yaml);
    let srv = server();
    for uri in [srv.uri.clone(), srv.sqlite_uri()] {
        let out = validate(&p.path(), &uri, &["--format", "json"]);
        assert!(out.code == 0 || out.code == 1, "{out}");
        let report = out.json();
        let models = report["models"].as_array().expect("models");
        assert_eq!(models.len(), cases.len());
        let mut disagreements = Vec::new();
        for (i, m) in models.iter().enumerate() {
            let ours = m["passed"].as_bool().expect("passed");
            let theirs = oracle[i]["passed"].as_bool().expect("oracle passed");
            if ours != theirs {
                disagreements.push(format!(
                    "row {i}: {:?} candidate {} baseline {:?}: MLflow says {theirs} {}, modelgate says {ours}: {}",
                    cases[i].0,
                    cases[i].1,
                    cases[i].2,
                    oracle[i].get("error").map(|e| e.to_string()).unwrap_or_default(),
                    m["gates"][0]
                ));
            }
        }
        assert!(
            disagreements.is_empty(),
            "via {uri}:\n{}",
            disagreements.join("\n")
        );
    }
    // Both outcomes are represented, so agreement is not trivial.
    let passes = oracle.iter().filter(|o| o["passed"] == true).count();
    assert!(
        passes > 10 && passes < cases.len() - 10,
        "{passes} of {} pass",
        cases.len()
    );
}
