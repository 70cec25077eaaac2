//! Shared machinery: the real MLflow server (one per test run), the test
//! environment's Python, training and fixture scripts, and a ready command
//! for the built `modelgate` binary.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The test environment's Python; panics with instructions when missing.
pub fn python() -> PathBuf {
    let py = root().join(".venv/bin/python");
    assert!(
        py.is_file(),
        "the test environment is missing: {} does not exist.\n\
         Run `scripts/setup` (creates .venv with pinned mlflow and scikit-learn), \
         or `scripts/test` to set up and run everything.",
        py.display()
    );
    py
}

/// A directory under the system temp dir that lives as long as the value.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("modelgate-e2e-")
        .tempdir()
        .expect("temp dir")
}

/// The MLflow tracking server shared by the whole test run.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub uri: String,
    /// Where its database and artifacts live.
    pub dir: PathBuf,
    /// `serve.py`, which stops the server when this test binary exits.
    _watchdog: std::process::Child,
}

impl Server {
    /// Stops the MLflow server and starts it again on the same port
    /// (`tests/env/serve.py` does on SIGUSR1); returns once it answers.
    pub fn restart(&self) {
        let marker = self.dir.join("restarted");
        let _ = std::fs::remove_file(&marker);
        let sent = Command::new("kill")
            .args(["-USR1", &self._watchdog.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "could not signal the server's watchdog");
        let port: u16 = self
            .uri
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the URI");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !(marker.exists() && health(port)) {
            assert!(
                Instant::now() < deadline,
                "the MLflow server did not come back"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The server's SQLite database, for reading it directly.
    pub fn sqlite_uri(&self) -> String {
        format!("sqlite:///{}", self.dir.join("mlflow.db").display())
    }
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// Starts the server on first use (a free port, a temp SQLite store) and
/// returns it; it stops when the test binary exits.
pub fn server() -> &'static Server {
    SERVER.get_or_init(|| spawn_server("mlflow", &[], &[], false))
}

/// Starts another MLflow server through `tests/env/serve.py` with `args`
/// (e.g. `--auth`, `--tls-cert …`) and `env`, in its own directory; it
/// stops when the test binary exits. `tls`: it serves HTTPS on 127.0.0.1.
pub fn spawn_server(label: &str, args: &[String], env: &[(&str, &str)], tls: bool) -> Server {
    let python = python();
    let dir = std::env::temp_dir().join(format!("modelgate-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("server dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let template = root().join(".venv/mlflow-template.db");
    let mut cmd = Command::new(&python);
    cmd.arg(root().join("tests/env/serve.py"))
        .args(["--port", &port.to_string()])
        .arg("--dir")
        .arg(&dir)
        .args(["--parent", &std::process::id().to_string()])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if template.is_file() {
        cmd.arg("--template").arg(&template);
    }
    let watchdog = cmd.spawn().expect("start tests/env/serve.py");
    let scheme = if tls { "https" } else { "http" };
    let uri = format!("{scheme}://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let up = if tls {
            // Plain HTTP cannot ask a TLS listener; uvicorn says when it
            // serves.
            std::fs::read_to_string(dir.join("server.log"))
                .is_ok_and(|l| l.contains("Application startup complete"))
        } else {
            health(port)
        };
        if up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mlflow server did not come up on {uri}; see {}",
            dir.join("server.log").display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Server {
        uri,
        dir,
        _watchdog: watchdog,
    }
}

fn health(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200") || buf.starts_with("HTTP/1.0 200")
}

/// What a command did.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The shared compile cache of this test run.
pub fn cache_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("modelgate-cache-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("cache dir");
        d
    })
    .clone()
}

/// The key of this test run's compile cache: outside the cache directory,
/// as modelgate requires.
pub fn cache_key() -> PathBuf {
    std::env::temp_dir()
        .join(format!("modelgate-cache-key-{}", std::process::id()))
        .join("cache-key")
}

/// `modelgate` with a clean environment: no tracking URI, no colour, the
/// run's compile cache, and the test environment's `python` first on PATH.
pub fn modelgate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelgate"));
    let venv_bin = root().join(".venv/bin");
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env_remove("MLFLOW_TRACKING_URI")
        .env("NO_COLOR", "1")
        .env("MODELGATE_CACHE_DIR", cache_dir())
        .env("MODELGATE_CACHE_KEY", cache_key())
        .env("PATH", format!("{}:{path}", venv_bin.display()))
        .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        .env("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
        .env("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0");
    cmd
}

/// Runs a command to completion.
pub fn run(cmd: &mut Command) -> Outcome {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"));
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `modelgate ARGS…`.
pub fn mg(args: &[&str]) -> Outcome {
    run(modelgate().args(args))
}

/// Runs `modelgate validate --project PROJECT --tracking-uri URI EXTRA…`.
pub fn validate(project: &str, uri: &str, extra: &[&str]) -> Outcome {
    run(modelgate()
        .args(["validate", "--project", project, "--tracking-uri", uri])
        .args(extra))
}

/// Runs the AME demo's `train.py` against the server, registering a new
/// version of `model`; returns the new version number.
pub fn train(model: &str, extra: &[&str]) -> u64 {
    train_with("examples/logreg/train.py", model, extra)
}

/// Runs a training script of the repository (`--model-name MODEL EXTRA…`)
/// against the server; returns the version it registered.
pub fn train_with(script: &str, model: &str, extra: &[&str]) -> u64 {
    let srv = server();
    let dir = tempdir();
    let out = run(Command::new(python())
        .arg(root().join(script))
        .args(["--model-name", model])
        .args(extra)
        .current_dir(dir.path())
        .env("MLFLOW_TRACKING_URI", &srv.uri));
    assert_eq!(out.code, 0, "{script} failed:\n{out}");
    let text = format!("{}{}", out.stdout, out.stderr);
    let line = text
        .lines()
        .find(|l| l.starts_with("Created version"))
        .unwrap_or_else(|| panic!("no version in {script} output:\n{out}"));
    line.split('\'')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cannot read version from {line:?}"))
}

/// A version registered by `tests/env/fixtures.py`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Registered {
    /// The model.
    pub model: String,
    /// Its new version.
    pub version: u64,
    /// The run behind it.
    pub run_id: String,
}

/// Runs `tests/env/fixtures.py` with `ops` against the server.
pub fn fixtures(ops: &serde_json::Value) -> Vec<Registered> {
    fixtures_at(&server().uri, ops)
}

/// Runs `tests/env/fixtures.py` with `ops` against tracking URI `uri`.
pub fn fixtures_at(uri: &str, ops: &serde_json::Value) -> Vec<Registered> {
    fixtures_with(uri, &[], ops)
}

/// [`fixtures_at`] with `env` (credentials, a CA) for the Python client.
pub fn fixtures_with(uri: &str, env: &[(&str, &str)], ops: &serde_json::Value) -> Vec<Registered> {
    let dir = tempdir();
    ops_script(
        "fixtures.py",
        "MODELGATE_FIXTURES ",
        uri,
        dir.path(),
        env,
        ops,
    )
}

/// Runs `tests/env/SCRIPT` with `ops` on stdin against tracking URI `uri`,
/// in `dir` (where an embedded store puts its artifacts), with `env`; its
/// result is the JSON on the line that starts with `marker` (MLflow prints
/// lines of its own).
fn ops_script<T: serde::de::DeserializeOwned>(
    script: &str,
    marker: &str,
    uri: &str,
    dir: &Path,
    env: &[(&str, &str)],
    ops: &serde_json::Value,
) -> T {
    let input = dir.join(format!("{script}-ops.json"));
    std::fs::write(&input, ops.to_string()).expect("write ops");
    let out = run(Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' '{}' < '{}'",
            python().display(),
            root().join("tests/env").join(script).display(),
            input.display()
        ))
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("MLFLOW_TRACKING_URI", uri));
    assert_eq!(out.code, 0, "{script} failed:\n{out}");
    let line = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix(marker))
        .unwrap_or_else(|| panic!("no result line from {script}:\n{out}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{script}'s result: {e}"))
}

/// The bundled example (`examples/logreg`: `builtin:threshold` on
/// `score`) with its threshold set to `threshold`, on a copy of its
/// `mlflow.db`.
pub fn example_project(threshold: &str) -> Project {
    let yaml = std::fs::read_to_string(root().join("examples/logreg/ame.yaml"))
        .expect("example")
        .replace("threshold: 0.6", &format!("threshold: {threshold}"));
    let p = Project::new(&yaml);
    p.copy("examples/logreg/mlflow.db", "mlflow.db");
    p
}

/// A temporary project directory with an `ame.yaml`.
pub struct Project {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl Project {
    /// Writes `yaml` as `ame.yaml` in a new temp dir.
    pub fn new(yaml: &str) -> Project {
        let dir = tempdir();
        std::fs::write(dir.path().join("ame.yaml"), yaml).expect("write ame.yaml");
        Project { dir }
    }

    /// The directory, as a string for `--project`.
    pub fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Copies a file from the repository into the project.
    pub fn copy(&self, from_root: &str, name: &str) -> &Self {
        std::fs::copy(root().join(from_root), self.dir.path().join(name)).expect("copy");
        self
    }

    /// Copies a file given by absolute path into the project.
    pub fn copy_abs(&self, from: &str, name: &str) -> &Self {
        std::fs::copy(from, self.dir.path().join(name)).expect("copy");
        self
    }

    /// Writes a file into the project.
    pub fn write(&self, name: &str, contents: &[u8]) -> &Self {
        std::fs::write(self.dir.path().join(name), contents).expect("write");
        self
    }
}

/// One request as the fault server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The path with its query, e.g. `/api/2.0/mlflow/runs/get?run_id=r1`.
    pub target: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The body (at most 1 MiB of it), as text.
    pub body: String,
}

impl Request {
    /// The MLflow endpoint, e.g. `runs/get`.
    pub fn endpoint(&self) -> &str {
        let path = self.target.split('?').next().unwrap_or("");
        path.strip_prefix("/api/2.0/mlflow/").unwrap_or(path)
    }
}

/// A loopback HTTP server that answers each request with whatever its
/// handler returns, byte for byte: a registry that lies, stalls, floods or
/// breaks off, for the client's hardening tests. Every connection is
/// answered once and closed. Requests are counted; the server lives as
/// long as the test binary.
pub struct FaultServer {
    /// `http://127.0.0.1:PORT`.
    pub uri: String,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// What the fault server writes back: raw bytes.
pub type Handler = dyn Fn(&Request, usize) -> Vec<u8> + Send + Sync;

impl FaultServer {
    /// Starts a server whose `handler` gets each request and its number
    /// (0-based, across the server's life).
    pub fn start(handler: impl Fn(&Request, usize) -> Vec<u8> + Send + Sync + 'static) -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let uri = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let handler: std::sync::Arc<Handler> = std::sync::Arc::new(handler);
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let handler = handler.clone();
                let n = counter.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut reader = BufReader::new(&stream);
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let mut req = Request {
                        target: line.split_whitespace().nth(1).unwrap_or("").to_string(),
                        authorization: None,
                        body: String::new(),
                    };
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            if k.trim().eq_ignore_ascii_case("content-length") {
                                length = v.trim().parse().unwrap_or(0);
                            } else if k.trim().eq_ignore_ascii_case("authorization") {
                                req.authorization = Some(v.trim().to_string());
                            }
                        }
                    }
                    let mut body = vec![0u8; length.min(1 << 20)];
                    let _ = reader.read_exact(&mut body);
                    req.body = String::from_utf8_lossy(&body).into_owned();
                    let answer = handler(&req, n);
                    let mut stream = &stream;
                    let _ = stream.write_all(&answer);
                    let _ = stream.flush();
                });
            }
        });
        FaultServer { uri, hits }
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An HTTP response with a JSON body and extra header lines.
pub fn http(status: u16, headers: &[&str], body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

/// What a healthy MLflow answers for model `m` with one READY version 1
/// of run `r1` whose `score` is 0.9; `None` for other endpoints.
pub fn healthy_mlflow(req: &Request) -> Option<Vec<u8>> {
    let version = r#"{"name": "m", "version": "1", "status": "READY", "run_id": "r1",
        "creation_timestamp": "1", "last_updated_timestamp": "1"}"#;
    Some(match req.endpoint() {
        "model-versions/search" => http(200, &[], &format!(r#"{{"model_versions": [{version}]}}"#)),
        "model-versions/get" => http(200, &[], &format!(r#"{{"model_version": {version}}}"#)),
        "registered-models/get" => http(200, &[], r#"{"registered_model": {"name": "m"}}"#),
        "runs/get" => http(
            200,
            &[],
            r#"{"run": {"info": {"run_id": "r1", "experiment_id": "0", "status": "FINISHED"},
                "data": {"metrics": [{"key": "score", "value": 0.9, "timestamp": 1, "step": 0}]}}}"#,
        ),
        _ => return None,
    })
}

/// A fault server that answers `endpoint` with `fault(request number)` and
/// everything else as [`healthy_mlflow`] does.
pub fn faulty(
    endpoint: &'static str,
    fault: impl Fn(usize) -> Vec<u8> + Send + Sync + 'static,
) -> FaultServer {
    FaultServer::start(move |req, n| {
        if req.endpoint() == endpoint {
            return fault(n);
        }
        healthy_mlflow(req).unwrap_or_else(|| http(404, &[], "{}"))
    })
}

/// A project gating model `m` with `builtin:threshold` (`score >= 0.5`).
pub fn threshold_project() -> Project {
    Project::new(
        "name: faults\nmodels:\n  - name: m\n    validationTask:\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {metrics: {score: {threshold: 0.5}}}\n",
    )
}

/// Runs `cmd`, killing it and failing the test if it runs past `limit`:
/// a guard against hangs, not a measure of speed.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Outcome {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"));
    wait_bounded(child, limit)
}

/// Waits for `child` (stdout and stderr piped), killing it and failing the
/// test if it runs past `limit`: a guard against hangs, not a measure of
/// speed.
pub fn wait_bounded(child: std::process::Child, limit: Duration) -> Outcome {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => {
            let out = out.expect("wait");
            Outcome {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("process {pid} hung: still running after {limit:?}");
        }
    }
}

/// A model version registered by `tests/env/mlflow3.py`: evaluated the way
/// MLflow 3 teaches, its metrics on its LoggedModel.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Evaluated {
    /// The model.
    pub model: String,
    /// Its new version.
    pub version: u64,
    /// The LoggedModel it was registered from.
    pub model_id: String,
    /// The training run, if any (an external model has none).
    pub run_id: Option<String>,
    /// The evaluation runs.
    pub eval_run_ids: Vec<String>,
    /// What the evaluation computed (`models.evaluate`, `genai.evaluate`).
    pub metrics: std::collections::HashMap<String, f64>,
}

/// Runs `tests/env/mlflow3.py` with `ops` against tracking URI `uri`, in
/// `dir` (where an embedded store puts its artifacts).
pub fn mlflow3_at(uri: &str, dir: &Path, ops: &serde_json::Value) -> Vec<Evaluated> {
    ops_script("mlflow3.py", "MODELGATE_MLFLOW3 ", uri, dir, &[], ops)
}

/// A fresh, migrated MLflow SQLite store of its own in a temp dir (MLflow
/// 3's embedded default, `sqlite:///…/mlflow.db`), and its URI.
pub fn embedded_store() -> (tempfile::TempDir, String) {
    let dir = tempdir();
    let db = dir.path().join("mlflow.db");
    let template = root().join(".venv/mlflow-template.db");
    if template.is_file() {
        std::fs::copy(&template, &db).expect("copy the template database");
    }
    let uri = format!("sqlite:///{}", db.display());
    (dir, uri)
}

/// What headless Chromium saw of a page (`tests/env/browser.py`).
#[derive(Debug, serde::Deserialize)]
pub struct Seen {
    /// Each `--eval` expression's value, by name.
    pub evals: serde_json::Map<String, serde_json::Value>,
    /// The `--wait` expression became true in time.
    #[serde(default)]
    pub waited: bool,
    /// The `--then-wait` expression became true in time.
    #[serde(default)]
    pub then_waited: Option<bool>,
    /// What `--run` did: `{"code", "output"}`.
    #[serde(default)]
    pub ran: Option<serde_json::Value>,
    /// Dialogs the page opened (a script ran).
    pub dialogs: Vec<serde_json::Value>,
    /// Uncaught exceptions.
    pub exceptions: Vec<serde_json::Value>,
    /// The browser's own messages (policy violations among them).
    pub log: Vec<serde_json::Value>,
    /// The screenshot's size and distinct colours.
    pub screenshot: Option<Screenshot>,
}

/// A screenshot's size and how many colours it has (a blank one has one).
#[derive(Debug, serde::Deserialize)]
pub struct Screenshot {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// Distinct colours (sampled).
    pub colors: u32,
}

/// True when headless Chromium is there to run the browser tests. When it
/// is not, a browser test says so on stderr and returns, except under
/// `CI=true`, where it fails: a check that cannot run is never green in CI.
pub fn have_browser(test: &str) -> bool {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .any(|b| {
            Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    if !found {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "{test}: headless Chromium is not installed, so this browser test cannot run.\n\
             hint: run scripts/setup (it installs Debian's `chromium` where apt-get is usable)"
        );
        eprintln!(
            "{test}: SKIPPED, not run: no chromium on PATH (scripts/setup installs it); under CI=true this fails"
        );
    }
    found
}

/// Opens `url` in headless Chromium at `width`×`height` and runs
/// `tests/env/browser.py` with `args` (`--wait`, `--eval NAME=JS`,
/// `--screenshot FILE`, …).
pub fn browse(url: &str, width: u32, height: u32, args: &[&str]) -> Seen {
    let out = run(Command::new(python())
        .arg(root().join("tests/env/browser.py"))
        .arg(url)
        .args([
            "--width",
            &width.to_string(),
            "--height",
            &height.to_string(),
        ])
        .args(["--timeout", "60"])
        .args(args));
    assert_eq!(out.code, 0, "browser.py failed:\n{out}");
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("browser.py printed no result ({e}):\n{out}"))
}
