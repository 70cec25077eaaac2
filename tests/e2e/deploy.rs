//! `deploy/kubernetes`: schema-correct manifests (kubernetes-validate), a
//! project that `modelgate check` accepts, and arguments `serve` knows.

use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use crate::support::{Project, mg, root, run};

fn manifests() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("deploy/kubernetes"))
        .expect("deploy/kubernetes")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn validate(files: &[std::path::PathBuf]) -> crate::support::Outcome {
    run(Command::new(root().join(".venv/bin/kubernetes-validate"))
        .arg("--strict")
        .args(files))
}

#[test]
fn the_manifests_are_valid_kubernetes() {
    let files = manifests();
    assert!(files.len() >= 3, "{files:?}");
    let out = validate(&files);
    assert_eq!(out.code, 0, "{out}");
    // The validator does fail on a broken manifest.
    let dir = crate::support::tempdir();
    let broken = dir.path().join("deployment.yaml");
    let text = std::fs::read_to_string(root().join("deploy/kubernetes/deployment.yaml"))
        .expect("deployment")
        .replace("replicas: 1", "replicas: one");
    std::fs::write(&broken, text).expect("write");
    assert_ne!(validate(&[broken]).code, 0);
}

fn load(name: &str) -> Yaml {
    let text = std::fs::read_to_string(root().join("deploy/kubernetes").join(name)).expect(name);
    YamlLoader::load_from_str(&text)
        .expect("yaml")
        .into_iter()
        .next()
        .expect("a document")
}

#[test]
fn the_configmap_project_checks_and_the_deployment_args_are_serves() {
    let cm = load("configmap.yaml");
    let project = cm["data"]["ame.yaml"]
        .as_str()
        .expect("ame.yaml in the ConfigMap");
    let p = Project::new(project);
    let out = mg(&["check", "--project", &p.path()]);
    assert_eq!(out.code, 0, "{out}");

    let deployment = load("deployment.yaml");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_vec()
        .expect("args")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(args.first(), Some(&"serve"));
    let help = mg(&["serve", "--help"]);
    assert_eq!(help.code, 0, "{help}");
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(help.stdout.contains(flag), "`serve` has no {flag}:\n{help}");
    }
    // The probes point at the endpoint serve answers.
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
}
