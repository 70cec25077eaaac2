//! Replay: deciding again, offline, from a JSON report's evidence.
//!
//! Every WebAssembly gate in a `modelgate.report/v1` report carries its
//! [`Evidence`]: the plugin's sha256, its config and limits, the candidate
//! it was handed, the frozen clock, the random seed and every registry call
//! with its answer. [`replay_report`] loads each plugin again (the file must have
//! the recorded sha256; a built-in is taken by name and must too), runs it
//! with the [`Runner`] in a sandbox whose registry is the recording, and
//! compares the new result with the recorded one: outcome, cause code,
//! summary and every check. Process gates ran outside the sandbox and are
//! not replayable.
//!
//! The report is untrusted input: it is read with a size bound, its
//! structure is checked (schema, consistent outcomes, verdicts and totals,
//! the evidence about the gate and version it is filed under), and its
//! limits may not exceed [`MAX_MEMORY`] and [`MAX_TIMEOUT`]. Anything off is
//! an error — "cannot replay" — never a reproduced verdict.
//!
//! It is read as a stream ([`read`]): one judgement at a time is parsed,
//! checked and replayed, then dropped, so a replay holds about one
//! judgement's evidence (a few times its JSON) whatever the size of the
//! sweep, and each recorded answer is parsed straight into its type.

use crate::builtins::PluginRef;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use crate::error::with_hint;
use crate::gate::evidence::Evidence;
use crate::gate::{Check, GateResult, Outcome};
use crate::judge::Runner;
use crate::plan::{Gate, GateKind, ModelPlan};

/// Largest report `replay` reads: 512 MiB.
pub const MAX_REPORT_FILE: u64 = 512 << 20;
/// Largest memory limit a replayed gate may have: 4 GiB.
pub const MAX_MEMORY: u64 = 4 << 30;
/// Longest time limit a replayed gate may have: 10 minutes.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// One judgement of a report.
#[derive(Debug, Deserialize)]
pub struct RecordedModel {
    /// The registered model.
    pub model: String,
    /// The version judged.
    pub version: u64,
    /// The judgement's verdict: every gate passed.
    pub passed: bool,
    /// Its gates.
    pub gates: Vec<RecordedGate>,
}

/// One gate's recorded result.
#[derive(Debug, Deserialize)]
pub struct RecordedGate {
    /// The gate's name.
    pub name: String,
    /// `process` or `wasm`.
    pub kind: String,
    /// The plugin or command.
    pub target: String,
    /// Whether it passed.
    pub passed: bool,
    /// Pass, fail or error.
    pub outcome: Outcome,
    /// The cause's code.
    #[serde(default)]
    pub cause_code: Option<String>,
    /// The cause, as prose.
    #[serde(default)]
    pub cause: Option<String>,
    /// The gate's summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Its checks.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// What the decision was made from.
    #[serde(default)]
    pub evidence: Option<Box<Evidence>>,
}

/// What replaying one gate showed.
#[derive(Debug, Clone, PartialEq)]
pub enum Replayed {
    /// The same outcome, cause, summary and checks.
    Reproduced(Outcome),
    /// Something differs; what, in one line.
    Differs(String),
    /// The gate cannot be replayed; why.
    NotReplayable(String),
}

/// One gate's replay.
#[derive(Debug, Clone)]
pub struct GateReplay {
    /// The model.
    pub model: String,
    /// The version.
    pub version: u64,
    /// The gate.
    pub gate: String,
    /// What ran it.
    pub kind: crate::gate::Kind,
    /// What replaying showed.
    pub replayed: Replayed,
    /// The recorded outcome.
    pub outcome: Outcome,
    /// The recorded checks (for the HTML page's charts and tables).
    pub checks: Vec<Check>,
}

/// The totals a report ends with.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RecordedSummary {
    /// Candidates judged.
    pub models: usize,
    /// Gates run.
    pub gates: usize,
    /// Gates passed.
    pub passed: usize,
    /// Gates failed.
    pub failed: usize,
    /// Checks of passed gates with a warning.
    #[serde(default)]
    pub warnings: usize,
}

impl RecordedSummary {
    /// Counts `m` in, as the report's writer does.
    fn add(&mut self, m: &RecordedModel) {
        self.models += 1;
        self.gates += m.gates.len();
        let passed = m.gates.iter().filter(|g| g.passed).count();
        self.passed += passed;
        self.failed += m.gates.len() - passed;
        self.warnings += m
            .gates
            .iter()
            .filter(|g| g.passed)
            .flat_map(|g| &g.checks)
            .filter(|c| c.warning.is_some())
            .count();
    }
}

/// What a report says before its judgements.
#[derive(Debug, Clone)]
pub struct Head {
    /// The modelgate version that wrote it (absent before evidence existed).
    pub modelgate: Option<String>,
    /// The project file the report was made from.
    pub project: String,
}

/// A report's parts, in the order it holds them.
#[derive(Debug)]
pub enum Item {
    /// Its schema was checked; where its project is.
    Head(Head),
    /// One judgement, checked on its own.
    Model(Box<RecordedModel>),
    /// The end: its verdict and totals, checked against the judgements.
    End,
}

/// A report being read on a thread of its own, its parts as they come.
pub struct Reader {
    items: tokio::sync::mpsc::Receiver<anyhow::Result<Item>>,
    done: tokio::task::JoinHandle<anyhow::Result<String>>,
}

impl Reader {
    /// The next part; `None` after [`Item::End`] (or an error).
    pub async fn next(&mut self) -> Option<anyhow::Result<Item>> {
        self.items.recv().await
    }

    /// The report's digest (`sha256:…`, as recorded in the
    /// `modelgate.report` tag), once every part was read.
    pub async fn digest(self) -> anyhow::Result<String> {
        drop(self.items);
        self.done
            .await
            .map_err(|e| anyhow::anyhow!("internal: the report's reader stopped: {e}"))?
    }
}

/// Starts reading report `file` (at most [`MAX_REPORT_FILE`]): parsed as
/// it streams past, each judgement checked ([`check_model`]) and handed
/// over whole, the totals checked at the end, the digest of every byte
/// computed on the way.
pub fn read(file: &Path) -> anyhow::Result<Reader> {
    let (opened, meta) = crate::files::open_regular(file, false).map_err(|e| {
        let hint = match e {
            crate::files::ReadError::Io(_) => {
                "pass the file `modelgate validate --format json` wrote".to_string()
            }
            _ => format!(
                "a report is a regular file of at most {}",
                crate::text::human_bytes(MAX_REPORT_FILE)
            ),
        };
        with_hint(
            anyhow::anyhow!("failed to read report `{}`: {e}", file.display()),
            hint,
        )
    })?;
    if meta.len() > MAX_REPORT_FILE {
        let e = crate::files::ReadError::TooLarge {
            size: meta.len(),
            limit: MAX_REPORT_FILE,
        };
        return Err(with_hint(
            anyhow::anyhow!("failed to read report `{}`: {e}", file.display()),
            format!(
                "a report is a regular file of at most {}",
                crate::text::human_bytes(MAX_REPORT_FILE)
            ),
        ));
    }
    let (tx, items) = tokio::sync::mpsc::channel(1);
    let path = file.to_path_buf();
    let done = tokio::task::spawn_blocking(move || {
        let mut hashing = Hashing {
            inner: std::io::Read::take(opened, MAX_REPORT_FILE + 1),
            sha: sha2::Sha256::default(),
            read: 0,
        };
        let parsed = stream(&mut hashing, &path, &tx);
        let failed = if hashing.read > MAX_REPORT_FILE {
            Some(with_hint(
                anyhow::anyhow!(
                    "failed to read report `{}`: it grew past {} while read",
                    path.display(),
                    crate::text::human_bytes(MAX_REPORT_FILE)
                ),
                "replay a report that is not being written",
            ))
        } else {
            parsed.err()
        };
        if let Some(e) = failed {
            // The error itself goes to the replay, which stops on it.
            let _ = tx.blocking_send(Err(e));
            anyhow::bail!("the report could not be read");
        }
        Ok(format!(
            "sha256:{}",
            hex::encode(sha2::Digest::finalize(hashing.sha))
        ))
    });
    Ok(Reader { items, done })
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    sha: sha2::Sha256,
    read: u64,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.sha, &buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// The hint of a report no run could have written.
const ALTERED: &str = "the report was changed in a way that cannot be a real run; use the report as modelgate wrote it";

/// Parses the report from `input`, sending its parts to `tx`.
fn stream(
    input: &mut impl std::io::Read,
    file: &Path,
    tx: &tokio::sync::mpsc::Sender<anyhow::Result<Item>>,
) -> anyhow::Result<()> {
    use serde::de::Deserializer as _;
    let not_json = |e: serde_json::Error| {
        with_hint(
            anyhow::Error::new(e).context(format!(
                "`{}` is not a modelgate JSON report",
                file.display()
            )),
            "replay reads what `modelgate validate --format json` wrote, unchanged in structure",
        )
    };
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 << 10, input));
    let mut state = Streamed {
        file,
        tx,
        failure: None,
    };
    let outcome = (&mut de).deserialize_map(Top { state: &mut state });
    if let Some(e) = state.failure.take() {
        return Err(e);
    }
    outcome.map_err(not_json)?;
    de.end().map_err(not_json)
}

/// What the stream's visitors share: where to send parts, and the first
/// error that is not JSON's (a check that failed, the replay gone).
struct Streamed<'a> {
    file: &'a Path,
    tx: &'a tokio::sync::mpsc::Sender<anyhow::Result<Item>>,
    failure: Option<anyhow::Error>,
}

impl Streamed<'_> {
    /// Sends `item`, or records why not and returns the serde error that
    /// stops the parse.
    fn send<E: serde::de::Error>(&mut self, item: Item) -> Result<(), E> {
        if self.tx.blocking_send(Ok(item)).is_err() {
            return Err(E::custom("the replay stopped"));
        }
        Ok(())
    }

    fn fail<E: serde::de::Error>(&mut self, e: anyhow::Error) -> E {
        let msg = format!("{e:#}");
        self.failure = Some(e);
        E::custom(msg)
    }
}

/// The report's top level: `schema`, …, `models`, `status`, `summary`.
struct Top<'s, 'a> {
    state: &'s mut Streamed<'a>,
}

impl<'de> serde::de::Visitor<'de> for Top<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a modelgate report (a JSON object)")
    }

    // Over 80 lines: one match over the report's top-level keys, clearer
    // whole.
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let file = self.state.file;
        let mut schema: Option<String> = None;
        let mut modelgate: Option<String> = None;
        let mut project: Option<String> = None;
        let mut counted: Option<RecordedSummary> = None;
        let mut status: Option<String> = None;
        let mut summary: Option<RecordedSummary> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "schema" => schema = Some(map.next_value()?),
                "modelgate" => modelgate = map.next_value()?,
                "project" => project = Some(map.next_value()?),
                "status" => status = Some(map.next_value()?),
                "summary" => summary = Some(map.next_value()?),
                "models" if counted.is_none() => {
                    let schema = schema.as_deref().unwrap_or("(none before its models)");
                    if schema != crate::report::SCHEMA {
                        return Err(self.state.fail(with_hint(
                            anyhow::anyhow!(
                                "`{}` has schema `{}`; replay reads `{}`",
                                file.display(),
                                crate::text::clean_line(schema),
                                crate::report::SCHEMA
                            ),
                            "replay reads what `modelgate validate --format json` wrote",
                        )));
                    }
                    let Some(project) = project.clone() else {
                        return Err(self.state.fail(with_hint(
                            anyhow::anyhow!(
                                "`{}` names no `project` before its models",
                                file.display()
                            ),
                            ALTERED,
                        )));
                    };
                    self.state.send(Item::Head(Head {
                        modelgate: modelgate.clone(),
                        project,
                    }))?;
                    counted = Some(map.next_value_seed(Models {
                        state: &mut *self.state,
                    })?);
                }
                "models" => {
                    return Err(self.state.fail(with_hint(
                        anyhow::anyhow!("`{}` has `models` twice", file.display()),
                        ALTERED,
                    )));
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let ends = |what: &str| with_hint(anyhow::anyhow!("`{}`: {what}", file.display()), ALTERED);
        let Some(counted) = counted else {
            return Err(self.state.fail(ends("the report has no `models`")));
        };
        let (Some(status), Some(summary)) = (status, summary) else {
            return Err(self.state.fail(ends(
                "the report does not end with its `status` and `summary` (cut short?)",
            )));
        };
        let passed = counted.failed == 0;
        if status != if passed { "pass" } else { "fail" } {
            return Err(self.state.fail(ends(&format!(
                "`status: {}` contradicts its judgements ({} of {} gates failed)",
                crate::text::clean_line(&status),
                counted.failed,
                counted.gates
            ))));
        }
        if summary != counted {
            return Err(self.state.fail(ends(&format!(
                "its `summary` ({summary:?}) is not what its judgements add up to ({counted:?})"
            ))));
        }
        self.state.send(Item::End)
    }
}

/// The report's `models`, each checked and sent on as it is parsed.
struct Models<'s, 'a> {
    state: &'s mut Streamed<'a>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Models<'_, '_> {
    type Value = RecordedSummary;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<RecordedSummary, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Models<'_, '_> {
    type Value = RecordedSummary;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of judgements")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<RecordedSummary, A::Error> {
        let mut counted = RecordedSummary::default();
        while let Some(m) = seq.next_element::<RecordedModel>()? {
            if let Err(e) = check_model(&m, self.state.file) {
                return Err(self.state.fail(e));
            }
            counted.add(&m);
            self.state.send(Item::Model(Box::new(m)))?;
        }
        Ok(counted)
    }
}

/// A judgement's record must be one modelgate could have written: every
/// gate's ([`check_gate`]), and its verdict theirs.
pub fn check_model(m: &RecordedModel, file: &Path) -> anyhow::Result<()> {
    let all = m.gates.iter().all(|g| g.passed);
    if m.passed != all {
        return Err(with_hint(
            anyhow::anyhow!(
                "`{}`: `{}` version {}: `passed: {}` contradicts its gates",
                file.display(),
                crate::text::clean_line(&m.model),
                m.version,
                m.passed
            ),
            ALTERED,
        ));
    }
    for g in &m.gates {
        check_gate(m, g).map_err(|e| {
            with_hint(
                anyhow::anyhow!(
                    "`{}`: gate `{}` of `{}` version {}: {e}",
                    file.display(),
                    crate::text::clean_line(&g.name),
                    crate::text::clean_line(&m.model),
                    m.version
                ),
                ALTERED,
            )
        })?;
    }
    Ok(())
}

/// A gate's record must be one modelgate could have written. (Over 80
/// lines: a list of independent rules, clearer whole.)
fn check_gate(m: &RecordedModel, g: &RecordedGate) -> Result<(), String> {
    if g.passed != (g.outcome == Outcome::Pass) {
        return Err(format!(
            "`passed: {}` contradicts `outcome: {}`",
            g.passed,
            g.outcome.as_str()
        ));
    }
    if g.passed == g.cause_code.is_some() {
        return Err("`cause_code` must be present exactly when the gate did not pass".into());
    }
    if g.passed && g.cause.is_some() {
        return Err("a gate that passed has no `cause`".into());
    }
    match (g.kind.as_str(), &g.evidence) {
        ("process", None) => Ok(()),
        ("process", Some(_)) => Err("a process gate has no evidence".into()),
        ("wasm", None) if g.outcome == Outcome::Error => Ok(()),
        ("wasm", None) => Err("a WebAssembly gate that judged has evidence; it is missing".into()),
        ("wasm", Some(e)) => {
            if e.plugin != g.target {
                return Err(format!(
                    "the evidence is for plugin `{}`, the gate ran `{}`",
                    e.plugin, g.target
                ));
            }
            let v = &e.candidate.version;
            if v.name != m.model || v.version != m.version {
                return Err(format!(
                    "the evidence is for `{}` version {}",
                    v.name, v.version
                ));
            }
            if e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err("the evidence's `sha256` is not 64 hex digits".into());
            }
            if let Some(lean) = &e.lean_sha256 {
                if lean.len() != 64 || !lean.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err("the evidence's `lean_sha256` is not 64 hex digits".into());
                }
                if PluginRef::parse(&e.plugin).builtin().is_none() {
                    return Err(format!(
                        "the evidence has a `lean_sha256`, but only built-ins have lean builds, not `{}`",
                        e.plugin
                    ));
                }
            }
            e.determinism()?;
            if let Some(model) = &e.candidate.logged_model {
                // A gate of 0.1.0 or 0.2.0 is handed no LoggedModel, and a
                // version is handed its own.
                let handed = crate::gate::wasm::World::of(&e.wit)
                    .is_some_and(crate::gate::wasm::World::has_logged_models);
                if !handed {
                    return Err(format!(
                        "the evidence hands a LoggedModel to a gate of `modelgate:validator@{}`, which has none",
                        crate::text::clean_line(&e.wit)
                    ));
                }
                if v.model_id.as_deref() != Some(model.model_id.as_str()) {
                    return Err(format!(
                        "the evidence hands LoggedModel `{}` to a version registered from {}",
                        crate::text::clean_line(&model.model_id),
                        v.model_id
                            .as_deref()
                            .map_or("none".to_string(), |id| format!(
                                "`{}`",
                                crate::text::clean_line(id)
                            ))
                    ));
                }
            }
            if e.limits.memory > MAX_MEMORY
                || Duration::from_millis(e.limits.timeout_ms) > MAX_TIMEOUT
            {
                return Err(format!(
                    "the evidence's limits ({} bytes, {} ms) exceed what replay allows ({} bytes, {} s)",
                    e.limits.memory,
                    e.limits.timeout_ms,
                    MAX_MEMORY,
                    MAX_TIMEOUT.as_secs()
                ));
            }
            Ok(())
        }
        (other, _) => Err(format!("`kind: {other}` is neither `process` nor `wasm`")),
    }
}

/// Replays the WebAssembly gates of a report's judgements, one judgement
/// at a time, plugins found relative to a directory. A sweep's report
/// holds one model's gates once per version: each plugin is checked, and
/// each set of gates prepared, once.
pub struct Replayer {
    dir: std::path::PathBuf,
    made_by: Option<String>,
    checked: std::collections::HashSet<(String, String)>,
    runners: std::collections::HashMap<String, Runner>,
}

impl Replayer {
    /// A replayer of a report written by modelgate `made_by`, whose
    /// plugins are relative to `dir`.
    pub fn new(dir: &Path, made_by: Option<String>) -> Replayer {
        Replayer {
            dir: dir.to_path_buf(),
            made_by,
            checked: Default::default(),
            runners: Default::default(),
        }
    }

    /// Replays judgement `m`. An `Err` means it cannot be replayed (a
    /// plugin missing or changed, a config its plugin now rejects).
    pub async fn model(&mut self, m: &RecordedModel) -> anyhow::Result<Vec<GateReplay>> {
        let mut out = Vec::new();
        let evidence: Vec<(&String, &Evidence)> = m
            .gates
            .iter()
            .filter_map(|g| g.evidence.as_deref().map(|e| (&g.name, e)))
            .collect();
        for (_, e) in &evidence {
            if self.checked.insert((e.plugin.clone(), e.sha256.clone())) {
                check_plugin(e, &self.dir, self.made_by.as_deref())?;
            }
        }
        let key = serde_json::to_string(&(
            &m.model,
            evidence
                .iter()
                .map(|(name, e)| (name, &e.plugin, &e.sha256, &e.config, &e.limits))
                .collect::<Vec<_>>(),
        ))
        .context("internal: cannot key a replayed model's gates")?;
        if !self.runners.contains_key(&key) {
            let runner = prepare(m, &evidence, &self.dir).await?;
            self.runners.insert(key.clone(), runner);
        }
        let runner = &self.runners[&key];
        let ready = runner
            .model(&m.model)
            .context("internal: a replayed model was not prepared")?;
        let mut replayed = ready.gates.iter();
        for g in &m.gates {
            let replayed = match &g.evidence {
                None if g.kind == "process" => Replayed::NotReplayable(
                    "a process gate runs outside the sandbox; its inputs are not recorded".into(),
                ),
                None => Replayed::NotReplayable(format!(
                    "the gate never ran ({})",
                    g.cause.as_deref().unwrap_or("no cause recorded")
                )),
                Some(e) => {
                    let ready = replayed
                        .next()
                        .context("internal: a replayed gate was not prepared")?;
                    if g.cause_code.as_deref() == Some("timeout") {
                        // How far a gate gets in its time depends on the
                        // machine, not on the evidence.
                        Replayed::NotReplayable(
                            "it ran past its time limit, which depends on the machine".into(),
                        )
                    } else {
                        let mut again = runner.replay(ready, e).await?;
                        // `--fail-on-warn` leaves its mark in the cause.
                        if g.cause_code.as_deref() == Some("warnings") {
                            again.fail_on_warnings();
                        }
                        compare(g, &again)
                    }
                }
            };
            out.push(GateReplay {
                model: m.model.clone(),
                version: m.version,
                gate: g.name.clone(),
                kind: crate::gate::Kind::parse(&g.kind)
                    .context("internal: a gate of no kind passed the report's checks")?,
                replayed,
                outcome: g.outcome,
                checks: g.checks.clone(),
            });
        }
        Ok(out)
    }
}

/// A runner for the recorded WebAssembly gates of `m`, as they were.
async fn prepare(
    m: &RecordedModel,
    evidence: &[(&String, &Evidence)],
    dir: &Path,
) -> anyhow::Result<Runner> {
    let plan = ModelPlan {
        name: m.model.clone(),
        gates: evidence
            .iter()
            .map(|(name, e)| Gate {
                name: (*name).clone(),
                kind: GateKind::Wasm {
                    plugin: e.plugin.clone(),
                    sha256: Some(e.sha256.clone()),
                    config: (*e.config).clone(),
                    limits: crate::project::Limits {
                        timeout: Some(Duration::from_millis(e.limits.timeout_ms)),
                        memory: Some(e.limits.memory),
                        registry_calls: Some(e.limits.registry_calls),
                    },
                    pos: Default::default(),
                },
                env: Vec::new(),
                secrets: Vec::new(),
                timeout: None,
                pos: Default::default(),
            })
            .collect(),
    };
    Runner::prepare(&[&plan], dir).await.with_context(|| {
        format!(
            "cannot replay `{}` version {}: a gate no longer loads as it did",
            m.model, m.version
        )
    })
}

/// The plugin must be the recorded one; says which modelgate made the
/// evidence when a built-in differs.
fn check_plugin(e: &Evidence, dir: &Path, made_by: Option<&str>) -> anyhow::Result<()> {
    let source = crate::gate::wasm::WasmHost::read_plugin(&e.plugin, dir)
        .with_context(|| format!("cannot replay: plugin `{}` is not available", e.plugin))?;
    // A lean build is part of the built-in it is recorded under: the
    // modelgate that runs this built-in must have the same one.
    let lean = PluginRef::parse(&e.plugin)
        .builtin()
        .and_then(|name| crate::gate::wasm::builtin_lean(name).map(|l| l.sha256));
    let lean_matches = match &e.lean_sha256 {
        None => true,
        Some(recorded) => lean.as_ref() == Some(recorded),
    };
    if source.sha256 == e.sha256 && lean_matches {
        return Ok(());
    }
    let other_modelgate = format!(
        "the evidence was made by modelgate {}; replay with that version",
        made_by.unwrap_or(&e.modelgate)
    );
    if source.sha256 == e.sha256 {
        return Err(with_hint(
            anyhow::anyhow!(
                "cannot replay: the lean build of `{}` here has sha256 {}, but the evidence was made with {}",
                e.plugin,
                lean.as_deref().unwrap_or("(none)"),
                e.lean_sha256.as_deref().unwrap_or_default()
            ),
            other_modelgate,
        ));
    }
    let hint = if PluginRef::parse(&e.plugin).builtin().is_some() {
        other_modelgate
    } else {
        "put the plugin file that judged beside the project (or pass `--project DIR`)".to_string()
    };
    Err(with_hint(
        anyhow::anyhow!(
            "cannot replay: plugin `{}` has sha256 {}, but the evidence was made with {}",
            e.plugin,
            source.sha256,
            e.sha256
        ),
        hint,
    ))
}

/// What differs between the recorded gate and its replay, first thing first.
pub fn compare(recorded: &RecordedGate, replayed: &GateResult) -> Replayed {
    let said = |o: Outcome, c: Option<&str>| match c {
        Some(c) => format!("{} ({c})", o.as_str()),
        None => o.as_str().to_string(),
    };
    if recorded.outcome != replayed.outcome || recorded.cause_code.as_deref() != replayed.cause_code
    {
        let why = replayed
            .cause
            .as_ref()
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        return Replayed::Differs(format!(
            "recorded {}, replayed {}{why}",
            said(recorded.outcome, recorded.cause_code.as_deref()),
            said(replayed.outcome, replayed.cause_code),
        ));
    }
    if recorded.summary != replayed.summary {
        return Replayed::Differs(format!(
            "summary: recorded {:?}, replayed {:?}",
            recorded.summary.as_deref().unwrap_or(""),
            replayed.summary.as_deref().unwrap_or("")
        ));
    }
    if recorded.checks.len() != replayed.checks.len() {
        return Replayed::Differs(format!(
            "recorded {} checks, replayed {}",
            recorded.checks.len(),
            replayed.checks.len()
        ));
    }
    for (a, b) in recorded.checks.iter().zip(&replayed.checks) {
        if a != b {
            let field = |name: &str, x: &Option<String>, y: &Option<String>| {
                (x != y).then(|| {
                    format!(
                        "{name} recorded {}, replayed {}",
                        x.as_deref().unwrap_or("-"),
                        y.as_deref().unwrap_or("-")
                    )
                })
            };
            let what = [
                (a.name != b.name)
                    .then(|| format!("name recorded `{}`, replayed `{}`", a.name, b.name)),
                (a.passed != b.passed)
                    .then(|| format!("passed recorded {}, replayed {}", a.passed, b.passed)),
                field("observed", &a.observed, &b.observed),
                field("expected", &a.expected, &b.expected),
                field("detail", &a.detail, &b.detail),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
            return Replayed::Differs(format!("check `{}`: {what}", a.name));
        }
    }
    Replayed::Reproduced(replayed.outcome)
}

/// Every WebAssembly gate of the report `file` decided again (plugins
/// found relative to `project`, else to the project the report names),
/// and the report's digest. The report is read as a stream: its head, its judgements one
/// at a time (each dropped once replayed), its end.
pub async fn replay_report(
    file: &Path,
    project: Option<&Path>,
) -> anyhow::Result<(Vec<GateReplay>, String)> {
    let mut reader = read(file)?;
    let mut replayer = None;
    let mut replays = Vec::new();
    let mut ended = false;
    while let Some(item) = reader.next().await {
        match item? {
            Item::Head(head) => {
                let dir = match project {
                    Some(p) => project_dir(p),
                    None => project_dir(Path::new(&head.project)),
                };
                replayer = Some(Replayer::new(&dir, head.modelgate));
            }
            Item::Model(m) => {
                let replayer = replayer
                    .as_mut()
                    .context("internal: a judgement before the report's head")?;
                replays.extend(replayer.model(&m).await?);
            }
            Item::End => ended = true,
        }
    }
    let digest = reader.digest().await?;
    if !ended {
        anyhow::bail!("internal: the report's reader ended before the report did");
    }
    Ok((replays, digest))
}

/// The directory plugin paths are relative to: `p` itself when it is a
/// directory, else the directory of the file.
fn project_dir(p: &Path) -> PathBuf {
    if p.is_dir() {
        return p.to_path_buf();
    }
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Cause;

    fn recorded(outcome: Outcome, cause_code: Option<&str>, checks: Vec<Check>) -> RecordedGate {
        RecordedGate {
            name: "quality".into(),
            kind: "wasm".into(),
            target: "builtin:threshold".into(),
            passed: outcome == Outcome::Pass,
            outcome,
            cause_code: cause_code.map(Into::into),
            cause: None,
            summary: Some("1 of 1".into()),
            checks,
            evidence: None,
        }
    }

    fn check(observed: &str, passed: bool) -> Check {
        Check {
            name: "accuracy".into(),
            passed,
            warning: None,
            observed: Some(observed.into()),
            expected: Some(">= 0.6".into()),
            detail: None,
        }
    }

    fn result(cause: Option<Cause>, checks: Vec<Check>) -> GateResult {
        let mut r = GateResult::new("quality", crate::gate::Kind::Wasm, "builtin:threshold");
        r.summary = Some("1 of 1".into());
        r.checks = checks;
        r.conclude(cause);
        r
    }

    #[test]
    fn identical_results_reproduce() {
        let rec = recorded(Outcome::Pass, None, vec![check("0.8", true)]);
        let got = result(None, vec![check("0.8", true)]);
        assert_eq!(compare(&rec, &got), Replayed::Reproduced(Outcome::Pass));
    }

    #[test]
    fn a_changed_outcome_or_check_is_named() {
        let rec = recorded(Outcome::Pass, None, vec![check("0.8", true)]);
        let got = result(Some(Cause::Verdict(None)), vec![check("0.1", false)]);
        let Replayed::Differs(why) = compare(&rec, &got) else {
            panic!("a different outcome reproduced")
        };
        assert!(
            why.contains("recorded pass") && why.contains("replayed fail"),
            "{why}"
        );

        let got = result(None, vec![check("0.81", true)]);
        let Replayed::Differs(why) = compare(&rec, &got) else {
            panic!("a different observation reproduced")
        };
        assert!(
            why.contains("observed recorded 0.8, replayed 0.81"),
            "{why}"
        );
    }

    #[test]
    fn impossible_records_are_refused() {
        let m = RecordedModel {
            model: "m".into(),
            version: 1,
            passed: true,
            gates: vec![],
        };
        let mut g = recorded(Outcome::Pass, None, vec![]);
        g.cause = Some("made up".into());
        assert_eq!(
            check_gate(&m, &g).expect_err("refused"),
            "a gate that passed has no `cause`"
        );
        let mut g = recorded(Outcome::Pass, None, vec![]);
        g.passed = false;
        assert!(
            check_gate(&m, &g)
                .expect_err("refused")
                .contains("contradicts")
        );
        let g = recorded(Outcome::Fail, None, vec![]);
        assert!(
            check_gate(&m, &g)
                .expect_err("refused")
                .contains("cause_code")
        );
        let g = recorded(Outcome::Pass, None, vec![]);
        assert!(
            check_gate(&m, &g)
                .expect_err("refused")
                .contains("evidence")
        );
        let mut g = recorded(Outcome::Error, Some("other"), vec![]);
        g.kind = "docker".into();
        assert!(check_gate(&m, &g).expect_err("refused").contains("neither"));
    }
}
