//! The project file's JSON Schema (`modelgate schema`, committed as
//! `schema/ame.schema.json`) under a real validator: check-jsonschema from
//! the test environment, with the YAML tags the schema declares for editors
//! (tests/env/check_schema.py). Every example and template is valid; the
//! typical mistakes are flagged, as `check` flags them; and the built-in
//! gates' config cases are judged alike by the schema and by `check`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Outcome, mg, python, root, run, tempdir};

/// Runs check-jsonschema with the committed schema over `files`.
fn check_jsonschema(files: &[PathBuf]) -> Outcome {
    let schema = root().join("schema/ame.schema.json");
    run(Command::new(python())
        .arg(root().join("tests/env/check_schema.py"))
        .arg("--schemafile")
        .arg(&schema)
        .args(files))
}

/// Writes `text` as `DIR/NAME/ame.yaml`; its path.
fn project_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let file = dir.join(name).join("ame.yaml");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(&file, text).expect("write");
    file
}

/// `modelgate check --project FILE`.
fn check(file: &Path) -> Outcome {
    mg(&["check", "--project", file.to_str().expect("utf-8")])
}

/// Every project file under `dir` (`ame*.yaml`), outside build outputs.
fn project_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(
                name.as_str(),
                "node_modules" | "target" | "mlruns" | "mlartifacts"
            ) {
                project_files(&path, out);
            }
        } else if name.starts_with("ame") && (name.ends_with(".yaml") || name.ends_with(".yml")) {
            out.push(path);
        }
    }
}

#[test]
fn the_schema_command_prints_the_committed_schema() {
    let out = mg(&["schema"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let committed = std::fs::read_to_string(root().join("schema/ame.schema.json")).expect("read");
    assert!(
        out.stdout == committed,
        "schema/ame.schema.json differs from `modelgate schema`"
    );
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(schema["$defs"]["builtin-threshold"].is_object());
}

#[test]
fn every_example_and_template_is_valid() {
    let mut files = Vec::new();
    project_files(&root().join("examples"), &mut files);
    assert!(files.len() >= 7, "examples found: {files:?}");
    let dir = tempdir();
    for lang in ["rust", "python", "js"] {
        let at = dir.path().join(lang);
        let out = mg(&[
            "plugin",
            "new",
            "my-gate",
            "--lang",
            lang,
            "--dir",
            at.to_str().expect("utf-8"),
        ]);
        assert_eq!(out.code, 0, "plugin new --lang {lang}: {}", out.stderr);
        files.push(at.join("ame.yaml"));
    }
    let out = check_jsonschema(&files);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("ok"), "{}", out.stdout);
}

/// A project whose gate is `builtin:threshold` on `score`, with `edit`
/// applied to its text.
fn logreg_with(edit: impl Fn(&str) -> String) -> String {
    let text =
        std::fs::read_to_string(root().join("examples/logreg/ame.yaml")).expect("logreg ame.yaml");
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit changed nothing");
    edited
}

#[test]
fn typical_mistakes_are_flagged_by_the_schema_and_by_check() {
    let dir = tempdir();
    let mistakes: [(&str, String, &str); 6] = [
        (
            "a misspelt key",
            logreg_with(|t| t.replace("validationTask:", "validationTsk:")),
            "validationTsk",
        ),
        (
            "a threshold written as a word",
            logreg_with(|t| t.replace("threshold: 0.6", "threshold: \"high\"")),
            "high",
        ),
        (
            "an unknown executor tag",
            logreg_with(|t| t.replace("!wasm", "!wsam")),
            "!wsam",
        ),
        (
            "a misspelt built-in",
            logreg_with(|t| t.replace("builtin:threshold", "builtin:treshold")),
            "builtin:treshold",
        ),
        (
            "a misspelt condition in a built-in's config",
            logreg_with(|t| t.replace("threshold: 0.6", "treshold: 0.6")),
            "treshold",
        ),
        (
            "a limit in a unit that does not exist",
            logreg_with(|t| {
                t.replace(
                    "plugin: builtin:threshold",
                    "plugin: builtin:threshold\n      limits: { memory: 64 megs }",
                )
            }),
            "64 megs",
        ),
    ];
    for (i, (what, text, needle)) in mistakes.iter().enumerate() {
        let file = project_file(dir.path(), &format!("mistake-{i}"), text);
        let out = check_jsonschema(std::slice::from_ref(&file));
        assert_eq!(
            out.code, 1,
            "{what}: check-jsonschema passed it\n{}",
            out.stdout
        );
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(
            said.contains(needle),
            "{what}: `{needle}` not named:\n{said}"
        );
        let checked = check(&file);
        assert_eq!(
            checked.code, 2,
            "{what}: check passed it\n{}",
            checked.stdout
        );
    }
}

/// Each built-in's `config-cases.json` (which its own unit tests hold its
/// config reader to) as gates of a project: the schema and `check` accept
/// the valid ones and refuse each invalid one.
#[test]
fn the_builtins_config_cases_are_judged_alike_by_the_schema_and_check() {
    let dir = tempdir();
    let mut valid = Vec::new();
    let mut refused = 0;
    for name in ["threshold", "tags", "signature"] {
        let text =
            std::fs::read_to_string(root().join(format!("plugins/{name}/config-cases.json")))
                .expect("cases");
        let cases: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let write = |kind: &str, i: usize, config: &serde_json::Value| -> PathBuf {
            let yaml = format!(
                "name: cases\nmodels:\n  - name: m\n    validationTask:\n      taskRef: gate\n\
                 tasks:\n  - name: gate\n    executor: !wasm\n      plugin: builtin:{name}\n      \
                 config: {config}\n"
            );
            project_file(dir.path(), &format!("{name}-{kind}-{i}"), &yaml)
        };
        for (i, c) in cases["valid"].as_array().expect("valid").iter().enumerate() {
            let file = write("valid", i, c);
            let checked = check(&file);
            assert_eq!(checked.code, 0, "check refused {c}: {}", checked.stderr);
            valid.push(file);
        }
        for (i, c) in cases["invalid"]
            .as_array()
            .expect("invalid")
            .iter()
            .enumerate()
        {
            let file = write("invalid", i, c);
            assert_eq!(check(&file).code, 2, "check accepted {c}");
            let out = check_jsonschema(std::slice::from_ref(&file));
            assert_eq!(out.code, 1, "the schema accepted {c}\n{}", out.stdout);
            refused += 1;
        }
    }
    assert!(
        valid.len() >= 10 && refused >= 20,
        "{} valid, {refused} refused",
        valid.len()
    );
    let out = check_jsonschema(&valid);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}

/// Null is read as the reader reads it: an empty mapping where one may be
/// empty (accepted by both), an error where something is required
/// (refused by both).
#[test]
fn null_means_what_it_means_to_the_reader() {
    let dir = tempdir();
    let base = "name: n\nmodels:\n  - name: m\n    validationTask:\n      taskRef: gate\n    training:\n      task:\ntasks:\n  - name: gate\n    env:\n      - key: A\n        val:\n    executor: !wasm\n      plugin: builtin:threshold\n      config: {metrics: {score: {threshold: 0.6}}}\n";
    let refused = [
        (
            "a null model",
            base.replace("models:\n", "models:\n  - ~\n"),
        ),
        (
            "a built-in gate without its config",
            base.replace("      config: {metrics: {score: {threshold: 0.6}}}\n", ""),
        ),
        (
            "a built-in gate with a null config",
            base.replace(
                "      config: {metrics: {score: {threshold: 0.6}}}\n",
                "      config:\n",
            ),
        ),
        ("a null taskRef", base.replace("taskRef: gate", "taskRef:")),
    ];
    let good = project_file(dir.path(), "good", base);
    let checked = check(&good);
    assert_eq!(
        checked.code, 0,
        "check refused a null task and value: {}",
        checked.stderr
    );
    let out = check_jsonschema(std::slice::from_ref(&good));
    assert_eq!(
        out.code, 0,
        "the schema refused a null task and value:\n{}",
        out.stdout
    );
    for (i, (what, text)) in refused.iter().enumerate() {
        assert_ne!(text, base, "{what}: the edit changed nothing");
        let file = project_file(dir.path(), &format!("refused-{i}"), text);
        assert_eq!(check(&file).code, 2, "{what}: check accepted it");
        let out = check_jsonschema(std::slice::from_ref(&file));
        assert_eq!(
            out.code, 1,
            "{what}: the schema accepted it\n{}",
            out.stdout
        );
    }
}

/// A file of each generation of AME's file, with every field its structs
/// defined, is valid to the schema as it is to `check`; a `!VaultSecret`
/// without its key is refused by both.
#[test]
fn every_generation_of_ames_file_is_valid_to_the_schema() {
    let dir = tempdir();
    let files: Vec<PathBuf> = crate::project_file::GENERATIONS
        .iter()
        .map(|(name, text)| project_file(dir.path(), name, text))
        .collect();
    let out = check_jsonschema(&files);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for f in &files {
        let c = check(f);
        assert_eq!(c.code, 0, "{}: {c}", f.display());
    }
    let (_, guide) = crate::project_file::GENERATIONS[2];
    let broken = project_file(
        dir.path(),
        "vault-without-key",
        &guide.replace("secretKey: password, ", ""),
    );
    let schema = check_jsonschema(std::slice::from_ref(&broken));
    assert_ne!(schema.code, 0, "{}\n{}", schema.stdout, schema.stderr);
    let c = check(&broken);
    assert_eq!(c.code, 2, "{c}");
    assert!(
        c.stderr.contains("a `!VaultSecret` needs `secretKey`"),
        "{c}"
    );
}
