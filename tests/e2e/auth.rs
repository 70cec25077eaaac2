//! Authentication, permissions and TLS: MLflow's own `basic-auth` app with
//! users granted READ, EDIT, MANAGE and DENY on registered models, MLflow
//! behind a real TLS listener with a CA made for the test, and a bearer
//! token. Every refusal is exit 2 naming the permission or the certificate
//! problem, writes nothing, and no secret appears in any output.

use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::support::{
    FaultServer, Outcome, Project, Server, fixtures_with, healthy_mlflow, http, modelgate, python,
    run, spawn_server, threshold_project,
};

/// The model only ever read (by `reader`, refused to `denied`).
const READ_ONLY: &str = "guarded";
/// The model `editor` and `manager` record on and promote.
const WRITABLE: &str = "promoted";

struct AuthServer {
    server: Server,
}

/// A password for `user`, unique to this run so a leak test can look for it.
fn password(user: &str) -> String {
    format!("{user}-Pw-{}-x9", std::process::id())
}

/// MLflow's basic-auth app with one version of each model (score 0.7) and
/// users `reader` (READ on `guarded`), `denied` (DENY on `guarded`),
/// `editor` (EDIT on `promoted`), `manager` (MANAGE on `promoted`).
fn auth_server() -> &'static AuthServer {
    static S: OnceLock<AuthServer> = OnceLock::new();
    S.get_or_init(|| {
        let admin = password("admin");
        let server = spawn_server(
            "mlflow-auth",
            &["--auth".to_string()],
            &[("MLFLOW_AUTH_ADMIN_PASSWORD", &admin)],
            false,
        );
        let mut ops = vec![
            json!({"op": "version", "model": READ_ONLY, "metrics": {"score": 0.7}}),
            json!({"op": "version", "model": WRITABLE, "metrics": {"score": 0.7}}),
        ];
        for (user, model, permission) in [
            ("reader", READ_ONLY, "READ"),
            ("denied", READ_ONLY, "DENY"),
            ("editor", WRITABLE, "EDIT"),
            ("manager", WRITABLE, "MANAGE"),
        ] {
            ops.push(json!({"op": "user", "username": user, "password": password(user)}));
            ops.push(
                json!({"op": "grant", "username": user, "model": model, "permission": permission}),
            );
        }
        fixtures_with(
            &server.uri,
            &[
                ("MLFLOW_TRACKING_USERNAME", "admin"),
                ("MLFLOW_TRACKING_PASSWORD", &admin),
            ],
            &Value::Array(ops),
        );
        AuthServer { server }
    })
}

fn project(model: &str) -> Project {
    Project::new(&format!(
        "name: auth\nmodels:\n  - name: {model}\n    validationTask:\n      name: quality\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {{metrics: {{score: {{threshold: 0.6}}}}}}\n"
    ))
}

/// `modelgate validate` of `p` against `uri`, with none of the caller's
/// credentials or TLS settings.
fn validate_cmd(p: &Project, uri: &str) -> Command {
    let mut cmd = modelgate();
    cmd.args(["validate", "--project", &p.path(), "--tracking-uri", uri]);
    for var in [
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_SERVER_CERT_PATH",
        "MLFLOW_TRACKING_INSECURE_TLS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// `modelgate validate` on `project` against the auth server as `user`
/// (`None`: no credentials) with `password`.
fn validate_as(p: &Project, user: Option<(&str, &str)>, extra: &[&str]) -> Outcome {
    let mut cmd = validate_cmd(p, &auth_server().server.uri);
    cmd.args(extra);
    if let Some((u, pw)) = user {
        cmd.env("MLFLOW_TRACKING_USERNAME", u)
            .env("MLFLOW_TRACKING_PASSWORD", pw);
    }
    run(&mut cmd)
}

/// The `modelgate.*` tags of version 1 of `model` and the model's aliases,
/// read from the server's own database with MLflow's client.
fn written(model: &str) -> (Vec<String>, Value) {
    let script = "import json, sys\n\
        from mlflow import MlflowClient\n\
        c = MlflowClient(tracking_uri=sys.argv[1])\n\
        tags = sorted(k for k in c.get_model_version(sys.argv[2], '1').tags if k.startswith('modelgate.'))\n\
        print(json.dumps({'tags': tags, 'aliases': c.get_registered_model(sys.argv[2]).aliases}))\n";
    let out =
        run(Command::new(python()).args(["-c", script, &auth_server().server.sqlite_uri(), model]));
    assert_eq!(out.code, 0, "{out}");
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
    let tags = v["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    (tags, v["aliases"].clone())
}

/// Fails the test if `secret` appears anywhere in `out`.
fn assert_no_secret(out: &Outcome, secret: &str, what: &str) {
    assert!(
        !out.stdout.contains(secret) && !out.stderr.contains(secret),
        "{what} leaks a secret:\n{out}"
    );
}

#[test]
fn no_or_wrong_credentials_are_exit_2_with_a_hint() {
    let p = project(READ_ONLY);
    for (who, out) in [
        ("no credentials", validate_as(&p, None, &[])),
        (
            "a wrong password",
            validate_as(&p, Some(("reader", "not-the-password")), &[]),
        ),
    ] {
        assert_eq!(out.code, 2, "{who}: {out}");
        assert!(
            out.stderr
                .contains("does not accept these credentials for the versions of model `guarded`"),
            "{who}: {out}"
        );
        assert!(
            out.stderr.contains("hint: the registry wants valid credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"),
            "{who}: {out}"
        );
        assert!(!out.stdout.contains("PASS"), "{who}: {out}");
    }
}

#[test]
fn deny_is_a_refusal_naming_the_model_never_a_pass_or_not_found() {
    let p = project(READ_ONLY);
    let pw = password("denied");
    let out = validate_as(&p, Some(("denied", &pw)), &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains(
            "denied user `denied` access to the versions of model `guarded` (READ permission needed)"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("HTTP 403"), "{out}");
    assert!(
        out.stderr.contains("hint: the account lacks a permission"),
        "{out}"
    );
    assert!(!out.stderr.contains("not registered"), "{out}");
    assert!(!out.stderr.contains("not found"), "{out}");
    assert_no_secret(&out, &pw, "a denied run");
}

#[test]
fn read_validates_but_recording_and_promoting_need_edit() {
    let p = project(READ_ONLY);
    let pw = password("reader");
    let ok = validate_as(&p, Some(("reader", &pw)), &[]);
    assert_eq!(ok.code, 0, "{ok}");
    assert!(
        ok.stdout
            .ends_with("PASS: 1 of 1 gates passed for guarded version 1\n"),
        "{ok}"
    );
    for flags in [&["--record"][..], &["--promote", "champion"][..]] {
        let out = validate_as(&p, Some(("reader", &pw)), flags);
        assert_eq!(out.code, 2, "{flags:?}: {out}");
        assert!(
            out.stderr.contains(
                "error: the verdict (PASS) was decided and reported, but not all of it was recorded"
            ),
            "{flags:?}: {out}"
        );
        assert!(
            out.stderr
                .contains("caused by: failed to record the verdict on `guarded` version 1: "),
            "{flags:?}: {out}"
        );
        assert!(
            out.stderr.contains(
                "Permission denied (HTTP 403): the account lacks EDIT permission on the registered model"
            ),
            "{flags:?}: {out}"
        );
        assert!(
            out.stderr.contains(
                "hint: `--record`, `--promote` and `serve` write tags and aliases, which needs EDIT"
            ),
            "{flags:?}: {out}"
        );
        assert_no_secret(&out, &pw, "a refused write");
    }
    // Nothing was written: no tag, no alias.
    let (tags, aliases) = written(READ_ONLY);
    assert!(tags.is_empty(), "tags written without permission: {tags:?}");
    assert_eq!(aliases, json!({}), "an alias moved without permission");
}

#[test]
fn edit_records_and_promotes_and_manage_does_too() {
    let p = project(WRITABLE);
    let pw = password("editor");
    let out = validate_as(&p, Some(("editor", &pw)), &["--promote", "champion"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("champion: (none) → 1"), "{out}");
    let (tags, aliases) = written(WRITABLE);
    assert!(tags.contains(&"modelgate.verdict".to_string()), "{tags:?}");
    assert_eq!(aliases, json!({"champion": 1}));
    let pw = password("manager");
    let out = validate_as(&p, Some(("manager", &pw)), &["--promote", "champion"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("champion: already 1"), "{out}");
}

/// No password or token reaches any report format, log line, error or
/// `-v` output; process gates get credentials only in MLflow's own
/// variables.
#[test]
fn secrets_never_leak() {
    let pw = password("reader");
    let p = Project::new(
        "name: leak
models:
  - name: guarded
    validationTasks:
      - name: quality
        executor: !wasm
          plugin: builtin:threshold
          config: {metrics: {score: {threshold: 0.6}}}
      - name: script
        runcommand: env > env.txt; echo looked
",
    );
    for format in ["human", "json", "junit", "github", "markdown"] {
        let out = validate_as(&p, Some(("reader", &pw)), &["--format", format, "-v"]);
        assert_eq!(out.code, 0, "{format}: {out}");
        assert_no_secret(&out, &pw, format);
        assert_no_secret(&out, "Authorization", format);
    }
    // The gate saw the password in MLFLOW_TRACKING_PASSWORD and nowhere else.
    let env = std::fs::read_to_string(p.dir.path().join("env.txt")).expect("env.txt");
    let lines: Vec<&str> = env.lines().filter(|l| l.contains(&pw)).collect();
    assert_eq!(lines, [format!("MLFLOW_TRACKING_PASSWORD={pw}")], "{env}");
    // Failures: a refused write, a wrong password, a bearer token.
    let out = validate_as(&p, Some(("reader", &pw)), &["--record", "-v"]);
    assert_eq!(out.code, 2, "{out}");
    assert_no_secret(&out, &pw, "a refused write");
    let wrong = format!("{pw}-wrong");
    let out = validate_as(&p, Some(("reader", &wrong)), &["-v"]);
    assert_eq!(out.code, 2, "{out}");
    assert_no_secret(&out, &wrong, "a wrong password");
    let token = format!("tok-{}-secret", std::process::id());
    let out = run(validate_cmd(&p, &auth_server().server.uri)
        .args(["-v", "--format", "json"])
        .env("MLFLOW_TRACKING_TOKEN", &token));
    assert_eq!(out.code, 2, "{out}");
    assert_no_secret(&out, &token, "a refused token");
    // Credentials written into the URI are refused without echoing them.
    let srv = &auth_server().server;
    let with_userinfo = srv.uri.replace("http://", &format!("http://reader:{pw}@"));
    let out = run(&mut validate_cmd(&p, &with_userinfo));
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("MLFLOW_TRACKING_USERNAME"), "{out}");
    assert_no_secret(&out, &pw, "a URI with credentials");
}

/// `MLFLOW_TRACKING_TOKEN` is sent as `Authorization: Bearer …`; basic
/// credentials win when both are set, as in MLflow's client.
#[test]
fn a_token_is_sent_as_a_bearer() {
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Option<String>>::new()));
    let log = sent.clone();
    let srv = FaultServer::start(move |req, _| {
        log.lock().expect("log").push(req.authorization.clone());
        if req.authorization.as_deref() == Some("Bearer tok-123") {
            healthy_mlflow(req).unwrap_or_else(|| http(404, &[], "{}"))
        } else {
            http(
                401,
                &[],
                r#"{"error_code": "UNAUTHENTICATED", "message": "bad token"}"#,
            )
        }
    });
    let p = threshold_project();
    let with = |token: &str, basic: bool| {
        let mut cmd = validate_cmd(&p, &srv.uri);
        cmd.env("MLFLOW_TRACKING_TOKEN", token);
        if basic {
            cmd.env("MLFLOW_TRACKING_USERNAME", "u")
                .env("MLFLOW_TRACKING_PASSWORD", "p");
        }
        run(&mut cmd)
    };
    let ok = with("tok-123", false);
    assert_eq!(ok.code, 0, "{ok}");
    let bad = with("tok-456", false);
    assert_eq!(bad.code, 2, "{bad}");
    assert!(bad.stderr.contains("bad token (HTTP 401)"), "{bad}");
    assert_no_secret(&bad, "tok-456", "a refused token");
    let basic = with("tok-123", true);
    assert_eq!(basic.code, 2, "basic auth must win over the token: {basic}");
    // What was sent, not only that it was refused: `u:p` as basic auth.
    let last = sent.lock().expect("log").last().cloned().flatten();
    assert_eq!(last.as_deref(), Some("Basic dTpw"), "{basic}");
}

struct TlsServer {
    server: Server,
    certs: std::path::PathBuf,
}

/// MLflow behind TLS on 127.0.0.1 with a certificate from a CA made for
/// this run (`tests/env/certs.py`); one version of `logreg` (score 0.7).
fn tls_server(stem: &'static str) -> TlsServer {
    let certs = std::env::temp_dir().join(format!("modelgate-certs-{}", std::process::id()));
    static MADE: OnceLock<()> = OnceLock::new();
    MADE.get_or_init(|| {
        let out = run(Command::new(python())
            .arg(crate::support::root().join("tests/env/certs.py"))
            .arg(&certs));
        assert_eq!(out.code, 0, "certs.py failed:\n{out}");
    });
    let server = spawn_server(
        &format!("mlflow-tls-{stem}"),
        &[
            "--tls-cert".into(),
            certs.join(format!("{stem}.pem")).display().to_string(),
            "--tls-key".into(),
            certs.join(format!("{stem}.key")).display().to_string(),
        ],
        &[],
        true,
    );
    TlsServer { server, certs }
}

fn validate_tls(srv: &TlsServer, p: &Project, env: &[(&str, String)]) -> Outcome {
    let mut cmd = validate_cmd(p, &srv.server.uri);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

#[test]
fn tls_with_the_ca_passes_and_without_it_fails_closed() {
    let srv = tls_server("server");
    let ca = srv.certs.join("ca.pem").display().to_string();
    fixtures_with(
        &srv.server.uri,
        &[("MLFLOW_TRACKING_SERVER_CERT_PATH", &ca)],
        &json!([{"op": "version", "model": "logreg", "metrics": {"score": 0.7}}]),
    );
    let p = crate::support::example_project("0.6");
    std::fs::remove_file(p.dir.path().join("mlflow.db")).expect("no local store");
    let ok = validate_tls(
        &srv,
        &p,
        &[("MLFLOW_TRACKING_SERVER_CERT_PATH", ca.clone())],
    );
    assert_eq!(ok.code, 0, "{ok}");
    assert!(!ok.stderr.contains("warning"), "{ok}");

    let untrusted = validate_tls(&srv, &p, &[]);
    assert_eq!(untrusted.code, 2, "{untrusted}");
    assert!(
        untrusted
            .stderr
            .contains("is not trusted: invalid peer certificate: UnknownIssuer"),
        "{untrusted}"
    );
    assert!(
        untrusted.stderr.contains(
            "hint: point MLFLOW_TRACKING_SERVER_CERT_PATH at the PEM certificate of the CA"
        ),
        "{untrusted}"
    );
    // Not retried: a certificate does not fix itself.
    assert!(!untrusted.stderr.contains("retry"), "{untrusted}");

    let insecure = validate_tls(&srv, &p, &[("MLFLOW_TRACKING_INSECURE_TLS", "true".into())]);
    assert_eq!(insecure.code, 0, "{insecure}");
    assert!(
        insecure.stderr.contains(&format!(
            "warning: MLFLOW_TRACKING_INSECURE_TLS is set: the TLS certificate of {} is not verified",
            srv.server.uri
        )),
        "{insecure}"
    );
}

#[test]
fn a_certificate_for_another_host_is_refused() {
    let srv = tls_server("other");
    let ca = srv.certs.join("ca.pem").display().to_string();
    let p = crate::support::example_project("0.6");
    std::fs::remove_file(p.dir.path().join("mlflow.db")).expect("no local store");
    let out = validate_tls(&srv, &p, &[("MLFLOW_TRACKING_SERVER_CERT_PATH", ca)]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains(
            "is not trusted: invalid peer certificate: certificate not valid for name \"127.0.0.1\"; certificate is only valid for DnsName(\"other.example\")"
        ),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("use the host name the certificate names"),
        "{out}"
    );
}
