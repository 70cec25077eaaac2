//! Plugin authoring: the three example gates (Rust, Python, JavaScript)
//! built with their real toolchains and judged against real training runs,
//! and `modelgate plugin new` templates that build and pass as generated.

use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::{Project, fixtures, mg, root, run, server, tempdir, train_with, validate};

/// Builds the example gates in place (`examples/plugins/build`), once.
fn built_examples() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        crate::support::python();
        let out = run(&mut Command::new(root().join("examples/plugins/build")));
        assert_eq!(out.code, 0, "examples/plugins/build failed:\n{out}");
    });
}

fn gate<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["models"][0]["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == name))
        .unwrap_or_else(|| panic!("no gate {name} in {report}"))
}

fn check<'a>(gate: &'a Value, name: &str) -> &'a Value {
    gate["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {gate}"))
}

#[test]
fn example_gates_pass_a_good_candidate_and_fail_flawed_ones() {
    built_examples();
    let script = "examples/plugins/train.py";
    let model = "credit";
    // A slightly over-regularised champion, then real candidates.
    let champion = train_with(script, model, &["--alpha", "0.05"]);
    fixtures(&serde_json::json!([
        {"op": "alias", "model": model, "alias": "champion", "version": champion}
    ]));
    let good = train_with(script, model, &[]);
    let regressed = train_with(script, model, &["--alpha", "0.5"]);
    let diverged = train_with(script, model, &["--learning-rate", "5"]);
    let unfair = train_with(script, model, &["--label-noise-b", "0.8"]);
    let project = root().join("examples/plugins");
    let project = project.to_str().expect("utf-8");
    let uri = &server().uri;
    let judge = |v: u64| {
        validate(
            project,
            uri,
            &["--version", &v.to_string(), "--format", "json"],
        )
    };

    let ok = judge(good);
    assert_eq!(ok.code, 0, "{ok}");
    let r = ok.json();
    for name in ["no_regression", "converged", "fairness"] {
        assert_eq!(gate(&r, name)["passed"], true, "{name}: {ok}");
    }
    assert_eq!(
        check(gate(&r, "no_regression"), "accuracy beats champion")["passed"],
        true
    );
    assert_eq!(
        check(gate(&r, "converged"), "train_loss settled")["passed"],
        true
    );
    let gap = check(gate(&r, "fairness"), "recall_group_a vs recall_group_b");
    assert!(
        gap["observed"].as_str().is_some_and(|s| !s.is_empty()),
        "{gap}"
    );
    assert_eq!(gap["expected"], "<= 0.1");

    let out = judge(regressed);
    assert_eq!(out.code, 1, "{out}");
    let r = out.json();
    let g = gate(&r, "no_regression");
    assert_eq!(g["passed"], false, "{out}");
    assert_eq!(check(g, "accuracy")["passed"], false, "{g}");
    assert_eq!(check(g, "accuracy beats champion")["passed"], false, "{g}");
    // The SDK's tolerance check, with the example's own label.
    let accuracy = check(g, "accuracy");
    assert!(
        accuracy["expected"]
            .as_str()
            .is_some_and(|e| e.starts_with(">= ") && e.ends_with(" - 0.01)")),
        "{g}"
    );
    assert!(
        accuracy["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with(&format!("champion v{champion} has ")),
        "{g}"
    );
    assert!(
        g["summary"]
            .as_str()
            .unwrap_or("")
            .starts_with(&format!("worse than champion v{champion}: accuracy")),
        "{g}"
    );
    assert_eq!(gate(&r, "converged")["passed"], true, "{out}");

    let out = judge(diverged);
    assert_eq!(out.code, 1, "{out}");
    let r = out.json();
    let g = gate(&r, "converged");
    assert_eq!(g["passed"], false, "{out}");
    let settled = check(g, "train_loss settled");
    assert_eq!(settled["passed"], false, "{g}");
    assert_eq!(settled["expected"], "< 0.001 over the last 5 steps");
    assert_eq!(check(g, "train_loss never NaN")["passed"], true, "{g}");

    let out = judge(unfair);
    assert_eq!(out.code, 1, "{out}");
    let r = out.json();
    let g = gate(&r, "fairness");
    assert_eq!(g["passed"], false, "{out}");
    assert_eq!(
        check(g, "recall_group_a vs recall_group_b")["passed"],
        false,
        "{g}"
    );
    assert!(
        g["cause"].as_str().unwrap_or("").contains("gap too large"),
        "{g}"
    );

    // The human report shows each gate's own checks.
    let human = validate(project, uri, &["--version", &unfair.to_string()]);
    assert!(human.stdout.contains("✘ fairness"), "{human}");
    assert!(
        human
            .stdout
            .contains("✘ recall_group_a vs recall_group_b: observed "),
        "{human}"
    );
}

#[test]
fn the_converged_gate_fails_a_loss_that_went_nan() {
    built_examples();
    let model = "credit_nan";
    fixtures(&serde_json::json!([
        {"op": "version", "model": model, "history": {"train_loss": [0.9, 0.5, "nan", 0.3, 0.3, 0.3, 0.3, 0.3]}}
    ]));
    let p = Project::new(&format!(
        "name: nan\nmodels:\n  - name: {model}\n    validationTask:\n      name: converged\n      executor: !wasm\n        plugin: {}\n        config: {{metric: train_loss}}\n",
        root()
            .join("examples/plugins/converged/converged.wasm")
            .display()
    ));
    let out = validate(&p.path(), &server().uri, &["--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let r = out.json();
    let g = gate(&r, "converged");
    assert_eq!(check(g, "train_loss never NaN")["passed"], false, "{g}");
    assert_eq!(check(g, "train_loss never NaN")["observed"], "1 NaN", "{g}");
}

/// A Python and a JavaScript gate run their baseline (Winch) build while
/// the compile cache holds no optimized one, their optimized (Cranelift)
/// build once `plugin compile` has made it, and judge alike on both.
#[test]
fn large_gates_start_on_the_baseline_tier_and_judge_alike_on_both() {
    built_examples();
    let model = "credit_tiers";
    fixtures(&serde_json::json!([
        {"op": "version", "model": model,
         "metrics": {"recall_group_a": 0.8, "recall_group_b": 0.75,
                     "precision_group_a": 0.7, "precision_group_b": 0.5},
         "history": {"train_loss": [0.9, 0.5, 0.31, 0.3, 0.3, 0.3, 0.3, 0.3]}}
    ]));
    let gates = root().join("examples/plugins");
    let (py, js) = (
        gates.join("converged/converged.wasm"),
        gates.join("fairness/fairness.wasm"),
    );
    let p = Project::new(&format!(
        "name: tiers\nmodels:\n  - name: {model}\n    validationTasks:\n      - name: converged\n        executor: !wasm\n          plugin: {}\n          config: {{metric: train_loss, last_n: 5, epsilon: 0.001}}\n      - name: fairness\n        executor: !wasm\n          plugin: {}\n          config: {{max_gap: 0.1, pairs: [[recall_group_a, recall_group_b], [precision_group_a, precision_group_b]]}}\n",
        py.display(),
        js.display()
    ));
    let cache = tempdir();
    let key = tempdir();
    let with = |compiler: Option<&str>, args: &[&str]| {
        let mut cmd = crate::support::modelgate();
        cmd.args(args)
            .env("MODELGATE_CACHE_DIR", cache.path())
            .env("MODELGATE_CACHE_KEY", key.path().join("cache-key"))
            .env_remove("MODELGATE_COMPILER");
        if let Some(c) = compiler {
            cmd.env("MODELGATE_COMPILER", c);
        }
        run(&mut cmd)
    };
    let inspect = |file: &std::path::Path| {
        let out = with(
            None,
            &["plugin", "inspect", "--json", &file.display().to_string()],
        );
        assert_eq!(out.code, 0, "{out}");
        let v: Value = serde_json::from_str(&out.stdout).expect("inspect JSON");
        (
            v["compiler"].as_str().unwrap_or("").to_string(),
            v["cache"].as_str().unwrap_or("").to_string(),
        )
    };
    let judge = || {
        let out = with(
            None,
            &[
                "validate",
                "--project",
                &p.path(),
                "--tracking-uri",
                &server().uri,
                "--format",
                "json",
            ],
        );
        // The precision gap (0.2) is past 0.1: fairness fails, converged
        // passes.
        assert_eq!(out.code, 1, "{out}");
        let r = out.json();
        assert_eq!(gate(&r, "converged")["passed"], true, "{r}");
        assert_eq!(gate(&r, "fairness")["passed"], false, "{r}");
        ["converged", "fairness"].map(|g| gate(&r, g)["checks"].clone())
    };

    // A cold cache: each compiled by Winch, and that build cached.
    for file in [&py, &js] {
        assert_eq!(
            inspect(file),
            ("winch".to_string(), "compiled by winch".to_string()),
            "{}",
            file.display()
        );
    }
    let baseline = judge();
    for file in [&py, &js] {
        assert_eq!(
            inspect(file).1,
            "loaded from the compile cache (winch build)"
        );
    }
    // `plugin compile` makes the optimized builds, which runs load from
    // then on; the checks are the same.
    let compiled = with(
        None,
        &[
            "plugin",
            "compile",
            &py.display().to_string(),
            &js.display().to_string(),
        ],
    );
    assert_eq!(compiled.code, 0, "{compiled}");
    assert_eq!(
        compiled.stdout.matches("): compiled in").count(),
        2,
        "{compiled}"
    );
    for file in [&py, &js] {
        assert_eq!(
            inspect(file),
            (
                "cranelift".to_string(),
                "loaded from the compile cache (cranelift build)".to_string()
            )
        );
    }
    let optimized = judge();
    assert_eq!(baseline, optimized);
    assert!(
        baseline[0].as_array().is_some_and(|c| !c.is_empty())
            && baseline[1].as_array().is_some_and(|c| !c.is_empty()),
        "{baseline:?}"
    );

    // A tier asked for is the tier used, small components too; a
    // compiler modelgate does not know is an error naming the variable.
    let forced = with(Some("winch"), &["plugin", "inspect", "builtin:threshold"]);
    assert_eq!(forced.code, 0, "{forced}");
    assert!(forced.stdout.contains("(compiled by winch)"), "{forced}");
    let bogus = with(Some("llvm"), &["plugin", "inspect", "builtin:threshold"]);
    assert_eq!(bogus.code, 2, "{bogus}");
    assert!(
        bogus.stderr.contains("MODELGATE_COMPILER is `llvm`") && bogus.stderr.contains("hint:"),
        "{bogus}"
    );
}

/// The channel `rust-toolchain.toml` pins.
fn pinned_toolchain() -> String {
    let text = std::fs::read_to_string(root().join("rust-toolchain.toml")).expect("toolchain file");
    text.lines()
        .find_map(|l| l.trim().strip_prefix("channel"))
        .and_then(|rest| rest.split('"').nth(1))
        .expect("channel in rust-toolchain.toml")
        .to_string()
}

/// Builds a freshly generated template with its real toolchain.
fn build_template(lang: &str, dir: &std::path::Path) {
    let out = match lang {
        "rust" => run(Command::new("cargo")
            .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", dir.join("target"))
            // Outside the repository no rust-toolchain.toml applies; use the
            // pinned toolchain, which scripts/setup gave the wasm target.
            .env("RUSTUP_TOOLCHAIN", pinned_toolchain())),
        "python" => run(Command::new(dir.join("build.sh"))
            .env("COMPONENTIZE_PY", root().join(".venv/bin/componentize-py"))),
        "js" => {
            std::os::unix::fs::symlink(
                root().join(".tools/node/node_modules"),
                dir.join("node_modules"),
            )
            .expect("link node_modules");
            run(Command::new("node").arg("build.mjs").current_dir(dir))
        }
        other => panic!("unknown language {other}"),
    };
    assert_eq!(out.code, 0, "building the {lang} template failed:\n{out}");
}

#[test]
fn templates_build_and_pass_as_generated() {
    crate::support::python();
    for lang in ["rust", "python", "js"] {
        let tmp = tempdir();
        let dir = tmp.path().join(format!("{lang}-gate"));
        let name = format!("my-{lang}-gate");
        let out = mg(&[
            "plugin",
            "new",
            &name,
            "--lang",
            lang,
            "--dir",
            dir.to_str().expect("utf-8"),
        ]);
        assert_eq!(out.code, 0, "{out}");
        assert!(
            out.stderr.contains(&format!(
                "created {}",
                match lang {
                    "rust" => "Rust",
                    "python" => "Python",
                    _ => "JavaScript",
                }
            )),
            "{out}"
        );
        for f in ["README.md", "ame.yaml", "wit/validator.wit"] {
            let path = if lang == "rust" && f.starts_with("wit/") {
                dir.join("modelgate-plugin").join(f)
            } else {
                dir.join(f)
            };
            assert!(path.is_file(), "{lang}: {} missing", path.display());
        }
        build_template(lang, &dir);
        // The template's own demo project, on the example's database.
        std::fs::copy(
            root().join("examples/logreg/mlflow.db"),
            dir.join("mlflow.db"),
        )
        .expect("db");
        let out = mg(&["validate", "--project", dir.to_str().expect("utf-8"), "-v"]);
        assert_eq!(out.code, 0, "{lang} template: {out}");
        assert!(out.stdout.contains(&format!("✔ {name}")), "{lang}: {out}");
        // Read where MLflow 3 shows it: the version's LoggedModel.
        assert!(
            out.stdout.contains(
                "✔ score: observed 0.666667, expected >= 0.6 (from LoggedModel m-bb674726c9be445c8150518b0681387e (run 981da6d946ab47aa94ecdc65d844cbe0))"
            ),
            "{lang}: {out}"
        );
        // Its helpers read MLflow 3's LoggedModel by the rule: a dataset
        // named picks its value; none named, two datasets are no guess.
        let m3 = crate::mlflow3::embedded();
        let demo = std::fs::read_to_string(dir.join("ame.yaml")).expect("yaml");
        let plugin = demo
            .lines()
            .find_map(|l| l.trim().strip_prefix("plugin: "))
            .expect("the demo names its plugin")
            .to_string();
        for (dataset, code, says) in [
            (
                "holdout",
                0,
                "✔ accuracy: observed 0.91, expected >= 0.9 (from LoggedModel m-",
            ),
            ("canary", 1, "✘ accuracy: observed 0.85, expected >= 0.9"),
            ("", 1, "on several datasets (canary, holdout)"),
            // The model's own files, read through the helpers (WIT 0.4.0).
            (
                "holdout, model_file: MLmodel",
                0,
                "✔ model file MLmodel: observed ",
            ),
            (
                "holdout, model_file: MLmodel",
                0,
                "expected logged with the model (artifact_path: ",
            ),
            (
                "holdout, model_file: nothing-here",
                1,
                "✘ model file nothing-here: observed absent, expected logged with the model",
            ),
        ] {
            let config = if dataset.is_empty() {
                "{metric: accuracy, min: 0.9}".to_string()
            } else {
                format!("{{metric: accuracy, min: 0.9, dataset: {dataset}}}")
            };
            std::fs::write(
                dir.join("m3.yaml"),
                format!(
                    "name: m3\nmodels:\n  - name: m3_two\n    validationTask:\n      name: g\n      executor: !wasm\n        plugin: {plugin}\n        config: {config}\n"
                ),
            )
            .expect("write");
            let project = dir.join("m3.yaml");
            let out = mg(&[
                "validate",
                "--project",
                project.to_str().expect("utf-8"),
                "--tracking-uri",
                &m3.uri,
                "-v",
            ]);
            assert_eq!(out.code, code, "{lang} on {dataset:?}: {out}");
            assert!(out.stdout.contains(says), "{lang} on {dataset:?}: {out}");
        }
        // And it fails what it should: raise the minimum above the score.
        let yaml = std::fs::read_to_string(dir.join("ame.yaml"))
            .expect("yaml")
            .replace("min: 0.6", "min: 0.7");
        std::fs::write(dir.join("ame.yaml"), yaml).expect("write");
        let out = mg(&["validate", "--project", dir.to_str().expect("utf-8")]);
        assert_eq!(out.code, 1, "{lang} template at 0.7: {out}");
    }
    let out = mg(&["plugin", "new", "Bad_Name", "--lang", "rust"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("hint:"), "{out}");
}

/// `plugin new --lang rust` inside a checkout: the gate depends on the
/// checkout's own SDK (`plugins/sdk`) by path, carries no copy of it, and
/// builds and passes as generated.
#[test]
fn a_rust_template_inside_the_checkout_uses_its_sdk() {
    let base = root()
        .join("target/e2e-gates")
        .join(std::process::id().to_string());
    let dir = base.join("in-tree");
    let _ = std::fs::remove_dir_all(&dir);
    let out = mg(&[
        "plugin",
        "new",
        "in-tree",
        "--lang",
        "rust",
        "--dir",
        dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.code, 0, "{out}");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains("modelgate-plugin = { path = \"../../../../plugins/sdk\" }"),
        "{manifest}"
    );
    assert!(
        !dir.join("modelgate-plugin").exists(),
        "an SDK copy was written"
    );
    let built = run(Command::new("cargo")
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("RUSTUP_TOOLCHAIN", pinned_toolchain()));
    assert_eq!(
        built.code, 0,
        "building the in-tree template failed:\n{built}"
    );
    std::fs::copy(
        root().join("examples/logreg/mlflow.db"),
        dir.join("mlflow.db"),
    )
    .expect("db");
    let out = mg(&["validate", "--project", dir.to_str().expect("utf-8"), "-v"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("✔ score: observed 0.666667"), "{out}");
    let _ = std::fs::remove_dir_all(&base);
}
