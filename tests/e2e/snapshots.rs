//! The command-line interface as users see it: every subcommand's `--help`
//! and a few whole runs (exit code, stdout, stderr), snapshotted with insta
//! so that any change to the interface shows in review. Paths and timings
//! are filtered out.
//!
//! After an intended change: `INSTA_UPDATE=always cargo test --test e2e
//! snapshots`, then review the diff of `tests/e2e/snapshots/`.

use crate::support::{Outcome, modelgate, root, run};

/// Every subcommand, as `modelgate` is invoked.
const COMMANDS: &[&[&str]] = &[
    &[],
    &["validate"],
    &["check"],
    &["replay"],
    &["serve"],
    &["webhook"],
    &["webhook", "create"],
    &["plugin"],
    &["plugin", "inspect"],
    &["plugin", "new"],
    &["plugin", "compile"],
    &["schema"],
];

/// Filters for paths, the version and (in runs, not in help texts, whose
/// defaults such as `30s` matter) timings.
fn settings(timings: bool) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(root().join("tests/e2e/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.add_filter(r"/tmp/[^\s`'/]+(/[^\s`':]*)?", "[TMP]");
    s.add_filter(&regex_escape(&root().display().to_string()), "[ROOT]");
    if timings {
        // Durations are right-aligned: their padding varies with them.
        s.add_filter(r" +\d+(\.\d+)?(µs|ms|s)\b", " [TIME]");
    }
    s.add_filter(r"modelgate \d+\.\d+\.\d+", "modelgate [VERSION]");
    // A report's digest holds when it was judged.
    s.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]");
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

fn whole(out: &Outcome) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.code, out.stdout, out.stderr
    )
}

fn cli(args: &[&str]) -> Outcome {
    run(modelgate().args(args).env("COLUMNS", "100"))
}

#[test]
fn every_help_text() {
    settings(false).bind(|| {
        for cmd in COMMANDS {
            let mut args: Vec<&str> = cmd.to_vec();
            args.push("--help");
            let out = cli(&args);
            assert_eq!(out.code, 0, "{out}");
            let name = if cmd.is_empty() {
                "help".to_string()
            } else {
                format!("help-{}", cmd.join("-"))
            };
            insta::assert_snapshot!(name, out.stdout);
        }
    });
}

#[test]
fn whole_runs() {
    let p = crate::support::example_project("0.6");
    let dir = p.path();
    settings(true).bind(|| {
        insta::assert_snapshot!("run-check", whole(&cli(&["check", "--project", &dir])));
        insta::assert_snapshot!(
            "run-validate",
            whole(&cli(&["validate", "--project", &dir]))
        );
        insta::assert_snapshot!(
            "run-validate-unknown-version",
            whole(&cli(&["validate", "--project", &dir, "--version", "7"]))
        );
        insta::assert_snapshot!(
            "run-no-project",
            whole(&cli(&["validate", "--project", "/nonexistent/project"]))
        );
    });
}

/// Each kind of verdict and problem, as a person sees it: a fail, a gate
/// that could not judge, a pass with a warning, a sweep, a replay that
/// differs, a project file with problems.
#[test]
fn whole_runs_of_every_outcome() {
    let failing = crate::support::example_project("0.7");
    let evaluation = root().join("examples/evaluation").display().to_string();
    let killed = crate::support::Project::new(
        "name: s\nmodels:\n  - name: logreg\n    validationTask:\n      name: killed\n      runcommand: kill -KILL $$\n",
    );
    killed.copy("examples/logreg/mlflow.db", "mlflow.db");
    let broken = crate::support::Project::new(
        "name: s\nmodels:\n  - name: m\n    validationTsk:\n      name: q\n      runcommand: python validate.py\n    training:\n      taskRef: nowhere\n",
    );
    let replayed = crate::support::example_project("0.6");
    let report = cli(&[
        "validate",
        "--project",
        &replayed.path(),
        "--format",
        "json",
    ]);
    assert_eq!(report.code, 0, "{report}");
    let mut changed = report.json();
    for m in changed["models"][0]["gates"][0]["evidence"]["candidate"]["logged_model"]["metrics"]
        .as_array_mut()
        .expect("the LoggedModel's metrics")
    {
        if m["key"] == "score" {
            m["value"] = 0.5.into();
        }
    }
    let file = replayed.dir.path().join("changed.json");
    std::fs::write(&file, changed.to_string()).expect("write the report");
    let (failing, killed, broken) = (failing.path(), killed.path(), broken.path());
    settings(true).bind(|| {
        let runs: [(&str, Vec<&str>); 6] = [
            ("run-validate-fail", vec!["validate", "--project", &failing]),
            ("run-validate-error", vec!["validate", "--project", &killed]),
            (
                "run-validate-warning",
                vec!["validate", "--project", &evaluation],
            ),
            (
                "run-validate-sweep",
                vec!["validate", "--project", &evaluation, "--all-versions"],
            ),
            (
                "run-replay-differs",
                vec!["replay", file.to_str().unwrap_or("")],
            ),
            ("run-check-problems", vec!["check", "--project", &broken]),
        ];
        for (name, args) in runs {
            insta::assert_snapshot!(name, whole(&cli(&args)));
        }
    });
}

/// `modelgate completions SHELL` prints a script each shell accepts, and
/// `modelgate man` a roff page with every subcommand.
#[test]
fn completions_and_the_man_page_are_produced() {
    for (shell, marker) in [
        ("bash", "complete -F _modelgate"),
        ("zsh", "#compdef modelgate"),
        ("fish", "complete -c modelgate"),
    ] {
        let out = crate::support::mg(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {out}");
        assert!(out.stdout.contains(marker), "{shell}: {out}");
        assert!(out.stdout.contains("validate"), "{shell}: {out}");
    }
    // bash parses its script.
    let dir = crate::support::tempdir();
    let script = dir.path().join("modelgate.bash");
    std::fs::write(&script, crate::support::mg(&["completions", "bash"]).stdout).expect("write");
    let parsed = crate::support::run(std::process::Command::new("bash").arg("-n").arg(&script));
    assert_eq!(parsed.code, 0, "{parsed}");
    let man = crate::support::mg(&["man"]);
    assert_eq!(man.code, 0, "{man}");
    assert!(man.stdout.starts_with(".ie \\n(.g .ds Aq"), "{man}");
    assert!(man.stdout.contains(".TH modelgate 1"), "{man}");
    for sub in ["validate", "check", "replay", "serve", "plugin"] {
        assert!(man.stdout.contains(sub), "{sub} missing from the man page");
    }
    let version = crate::support::mg(&["--version"]);
    assert_eq!(
        version.stdout,
        format!(
            "modelgate {} (runs gates of modelgate:validator@0.4.0, @0.3.0, @0.2.0 and @0.1.0)\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}
