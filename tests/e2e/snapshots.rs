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
