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
    let broken = dir.path().join("statefulset.yaml");
    let text = std::fs::read_to_string(root().join("deploy/kubernetes/statefulset.yaml"))
        .expect("statefulset")
        .replace("replicas: 3", "replicas: three");
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

/// A container's `args`.
fn args_of(container: &Yaml) -> Vec<&str> {
    container["args"]
        .as_vec()
        .expect("args")
        .iter()
        .filter_map(Yaml::as_str)
        .collect()
}

#[test]
fn the_configmap_project_checks_and_the_statefulset_args_are_serves() {
    let cm = load("configmap.yaml");
    let project = cm["data"]["ame.yaml"]
        .as_str()
        .expect("ame.yaml in the ConfigMap");
    let p = Project::new(project);
    let out = mg(&["check", "--project", &p.path()]);
    assert_eq!(out.code, 0, "{out}");

    let set = load("statefulset.yaml");
    let container = &set["spec"]["template"]["spec"]["containers"][0];
    let args = args_of(container);
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

/// One owner per model: a StatefulSet whose pods pass their own ordinal
/// and the replica count to `--shard`, every ordinal a shard `serve`
/// accepts, and a headless Service giving each pod the address its
/// webhook delivers to.
#[test]
fn each_replica_owns_its_shard_of_the_models() {
    let set = load("statefulset.yaml");
    assert_eq!(set["kind"].as_str(), Some("StatefulSet"));
    let replicas = set["spec"]["replicas"].as_i64().expect("replicas");
    assert!(replicas > 1, "{replicas}");
    let container = &set["spec"]["template"]["spec"]["containers"][0];
    let args = args_of(container);
    let shard = args
        .iter()
        .position(|a| *a == "--shard")
        .map(|i| args[i + 1])
        .expect("--shard");
    assert_eq!(shard, format!("$(POD_INDEX)/{replicas}"));
    let env = container["env"].as_vec().expect("env");
    let index = env
        .iter()
        .find(|e| e["name"].as_str() == Some("POD_INDEX"))
        .expect("POD_INDEX in the env");
    assert_eq!(
        index["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.labels['apps.kubernetes.io/pod-index']")
    );
    // Every ordinal is a shard serve accepts; one past the last is not.
    for k in 0..=replicas {
        let out = mg(&["serve", "--shard", &format!("{k}/{replicas}"), "--help"]);
        assert_eq!(out.code == 0, k < replicas, "--shard {k}/{replicas}: {out}");
    }
    let service = load("service.yaml");
    assert_eq!(
        set["spec"]["serviceName"].as_str(),
        service["metadata"]["name"].as_str()
    );
    assert_eq!(service["spec"]["clusterIP"].as_str(), Some("None"));
}

/// The `Containerfile` (not built here: no container engine runs on the
/// test machine) is checked for what the image promises: a static binary
/// from the `dist` profile in an otherwise empty image, a non-root user,
/// the pinned toolchain, and a command `serve` accepts.
#[test]
fn the_containerfile_builds_what_it_promises() {
    let text = std::fs::read_to_string(root().join("Containerfile")).expect("Containerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .copied()
        .collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert_eq!(
        froms[1], "FROM scratch",
        "the shipped stage holds the binary only"
    );
    let channel = std::fs::read_to_string(root().join("rust-toolchain.toml"))
        .expect("toolchain")
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("channel = ")
                .map(|v| v.trim_matches('"').to_string())
        })
        .expect("channel");
    assert!(
        froms[0].contains(&format!("rust:{channel}-")),
        "the build stage uses the pinned toolchain {channel}: {}",
        froms[0]
    );
    let build = lines
        .iter()
        .find(|l| l.starts_with("RUN cargo build"))
        .expect("a cargo build step");
    for arg in [
        "--locked",
        "--profile dist",
        "--target x86_64-unknown-linux-musl",
    ] {
        assert!(build.contains(arg), "{build} lacks {arg}");
    }
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    assert!(cargo.contains("[profile.dist]"), "no dist profile");
    assert!(
        lines.contains(
            &"COPY --from=build /src/target/x86_64-unknown-linux-musl/dist/modelgate /modelgate"
        ),
        "{text}"
    );
    let user = lines
        .iter()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    assert!(
        !user.starts_with("0") && !user.starts_with("root"),
        "{user}"
    );
    assert!(lines.contains(&r#"ENTRYPOINT ["/modelgate"]"#), "{text}");
    let cmd = lines
        .iter()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("a CMD");
    let args: Vec<String> = serde_json::from_str(cmd).expect("CMD in exec form");
    assert_eq!(args[0], "serve");
    let help = mg(&["serve", "--help"]);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(help.stdout.contains(flag.as_str()), "`serve` has no {flag}");
    }
    // The image's default project is where the manifests mount it.
    let project = args
        .iter()
        .position(|a| a == "--project")
        .map(|i| args[i + 1].clone())
        .expect("--project");
    let deployment =
        std::fs::read_to_string(root().join("deploy/kubernetes/statefulset.yaml")).expect("read");
    assert!(
        deployment.contains(&format!("mountPath: {project}")),
        "the manifests mount no project at {project}"
    );
    // The build context leaves out what is built or installed here.
    let ignore =
        std::fs::read_to_string(root().join(".containerignore")).expect(".containerignore");
    let ignored: Vec<&str> = ignore.lines().map(str::trim).collect();
    for dir in ["target/", ".git/", ".venv/", ".tools/"] {
        assert!(ignored.contains(&dir), ".containerignore lacks {dir}");
    }
}
