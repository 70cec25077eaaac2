//! The gate runner: the library's one way to judge a candidate.
//!
//! *Prepare once*: [`Runner::prepare`] turns the plan's gates into ready
//! ones — every WebAssembly gate loaded, pinned and `check-config`ed, every
//! process gate's secrets found — before the registry is asked anything, so
//! a configuration mistake is exit 2 and never a partial verdict.
//!
//! *Judge many*: [`Runner::judge`] runs one model's gates for one
//! candidate, in plan order, and returns its [`Judgement`]. Every gate,
//! process or WebAssembly, ends in a [`GateResult`] with a typed outcome
//! and cause; a gate that cannot even start is that gate's error, and the
//! others still run. The [`pipeline`](super::pipeline) drives it for
//! `validate` (one candidate or a sweep) and `serve` alike.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use super::Judgement;
use crate::candidate::Candidate;
use crate::error::HintExt as _;
use crate::gate::process::{self, ProcessSpec};
use crate::gate::wasm::{PreparedGate, WasmHost};
use crate::gate::{Cause, GateResult};
use crate::plan::{Gate, GateKind, ModelPlan};
use crate::project::Step;
use crate::registry::cached::CachedRegistry;
use crate::registry::uri::TrackingUri;

/// A gate ready to run.
pub enum Ready {
    /// A command run with `sh -c` in the project directory.
    Process {
        /// The command line.
        command: String,
        /// The files it names in the project directory, with their
        /// `sha256:` when it was made ready ([`named_files`]).
        files: Vec<(String, String)>,
    },
    /// A `pipeline:` task's steps, run in order like process gates until
    /// the first that fails.
    Pipeline {
        /// The steps.
        steps: Vec<Step>,
        /// The files their commands name, as for [`Ready::Process`].
        files: Vec<(String, String)>,
    },
    /// A loaded, pinned and configured WebAssembly component.
    Wasm(Arc<PreparedGate>),
}

/// Most scripts a gate's commands may run for [`named_files`].
pub const MAX_NAMED_FILES: usize = 32;

/// Most bytes of one script that are hashed: 2 MiB, as for a project file
/// (past it, the digest covers those bytes and the file's length).
pub const MAX_NAMED_FILE_BYTES: u64 = 2 << 20;

/// Programs whose first operand is the script they run (`python3.11`
/// counts as `python`).
const INTERPRETERS: &[&str] = &[
    "python", "sh", "bash", "zsh", "dash", "ksh", "node", "deno", "bun", "Rscript", "ruby", "perl",
    "php", "julia", "lua",
];

/// Words that run the command after them (with their options).
const WRAPPERS: &[&str] = &[
    "poetry", "uv", "pipenv", "pdm", "hatch", "conda", "run", "exec", "env", "time", "nice",
    "nohup", "command",
];

/// The scripts in `dir` that `commands` run, sorted, with their `sha256:`
/// as they are now: a process gate's policy lives in its script as much
/// as in its command line, so the plan digest covers both and an edited
/// script is a changed plan. In each simple command (split at `;`, `&`,
/// `|`, parentheses and new lines; leading `VAR=value` and wrappers such
/// as `poetry run` skipped) the script is the program when it is a path
/// (`./scripts/check.sh --strict`: `scripts/check.sh`), or an
/// interpreter's first operand (`python -u validate.py model.pkl`:
/// `validate.py`) — never the files a script reads or writes. Only
/// relative paths without `..` to regular files inside `dir` count (a
/// symlink out of it does not), at most [`MAX_NAMED_FILES`]; a file that
/// cannot be read counts as `unreadable`. Read when the gates are made
/// ready: `serve` sees an edited script when it starts again.
pub fn named_files(commands: &[&str], dir: &Path) -> Vec<(String, String)> {
    let root = dir.canonicalize().ok();
    let mut found = std::collections::BTreeMap::new();
    let simple = commands
        .iter()
        .flat_map(|c| c.split([';', '&', '|', '(', ')', '\n', '`']));
    for command in simple {
        let Some(script) = script_of(command) else {
            continue;
        };
        if found.len() >= MAX_NAMED_FILES || found.contains_key(script) {
            continue;
        }
        let path = Path::new(script);
        if path.is_absolute()
            || path
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            continue;
        }
        let full = dir.join(path);
        let inside = match (&root, full.canonicalize()) {
            (Some(root), Ok(real)) => real.starts_with(root),
            _ => false,
        };
        if inside && full.is_file() {
            found.insert(script.to_string(), file_digest(&full));
        }
    }
    found.into_iter().collect()
}

/// The script one simple command runs (see [`named_files`]), as written
/// less a leading `./`.
fn script_of(command: &str) -> Option<&str> {
    let mut words = command
        .split_whitespace()
        .map(|w| w.trim_matches(|c| matches!(c, '\'' | '"')))
        .filter(|w| !w.is_empty())
        .skip_while(|w| w.contains('=') && !w.starts_with('-'))
        .peekable();
    while let Some(w) = words.peek() {
        if WRAPPERS.contains(w) || w.starts_with('-') {
            words.next();
        } else {
            break;
        }
    }
    let program = words.next()?;
    let name = program.rsplit('/').next().unwrap_or(program);
    let interpreted = INTERPRETERS.iter().any(|i| {
        name == *i
            || name
                .strip_prefix(i)
                .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
    });
    let script = if interpreted {
        words.find(|w| !w.starts_with('-'))?
    } else if program.contains('/') {
        program
    } else {
        return None;
    };
    Some(script.trim_start_matches("./"))
}

/// `sha256:` of a file's first [`MAX_NAMED_FILE_BYTES`] (and its length
/// when longer), or `unreadable`.
fn file_digest(path: &Path) -> String {
    use sha2::Digest as _;
    use std::io::Read as _;
    let Ok(file) = std::fs::File::open(path) else {
        return "unreadable".into();
    };
    let mut hasher = sha2::Sha256::new();
    let mut limited = file.take(MAX_NAMED_FILE_BYTES);
    let mut buf = [0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(_) => return "unreadable".into(),
        }
    }
    if total == MAX_NAMED_FILE_BYTES
        && let Ok(meta) = std::fs::metadata(path)
    {
        hasher.update(meta.len().to_le_bytes());
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// A plan's gate and what runs it.
pub struct ReadyGate {
    /// The gate as the plan has it (name, environment, secrets, timeout).
    pub gate: Gate,
    /// What runs it.
    pub ready: Ready,
}

/// A model whose gates are all ready.
pub struct ReadyModel {
    /// The registered model's name.
    pub name: String,
    /// Its gates, in plan order.
    pub gates: Vec<ReadyGate>,
}

impl ReadyModel {
    /// The version tags its gates read: the keys its `builtin:tags` gates
    /// name, sorted, less modelgate's own (`modelgate.…`, which its record
    /// rewrites). A verdict's seal covers their values as judged (see
    /// [`crate::record`]), so a tag changed or deleted since unmakes it.
    pub fn tags_read(&self) -> std::collections::BTreeSet<String> {
        let mut keys = std::collections::BTreeSet::new();
        for g in &self.gates {
            if let Ready::Wasm(p) = &g.ready
                && crate::builtins::PluginRef::parse(&p.plugin).is_builtin("tags")
            {
                for section in ["require", "forbid"] {
                    if let Some(map) = p.config_value.get(section).and_then(|v| v.as_object()) {
                        keys.extend(map.keys().filter(|k| !k.starts_with("modelgate.")).cloned());
                    }
                }
            }
        }
        keys
    }
}

/// What judging needs besides the gates: where the registry is, and when
/// the whole run must be over.
pub struct Context {
    /// The registry plugins read, through the run's cache (which the
    /// pipeline fills a window at a time).
    pub registry: Arc<CachedRegistry>,
    /// The tracking URI process gates are given.
    pub tracking: TrackingUri,
    /// The end of the run; process gates get at most what remains of it.
    pub deadline: tokio::time::Instant,
    /// `--fail-on-warn`: a gate that passes with warnings fails.
    pub fail_on_warn: bool,
}

/// Every selected model with its gates ready to run.
pub struct Runner {
    /// The models, in plan order.
    pub models: Vec<ReadyModel>,
    dir: PathBuf,
    host: Option<&'static WasmHost>,
}

impl Runner {
    /// Makes every gate of `models` ready, touching no registry: loads and
    /// checks WebAssembly gates, and checks that process gates' secrets are
    /// in the environment. Any problem is an error naming the gate.
    pub async fn prepare(models: &[&ModelPlan], dir: &Path) -> anyhow::Result<Runner> {
        let needs_wasm = models.iter().any(|m| {
            m.gates
                .iter()
                .any(|g| matches!(g.kind, GateKind::Wasm { .. }))
        });
        let host = if needs_wasm {
            Some(WasmHost::shared()?)
        } else {
            None
        };
        let mut ready_models = Vec::with_capacity(models.len());
        for m in models {
            let mut gates = Vec::with_capacity(m.gates.len());
            for g in &m.gates {
                let ready = match &g.kind {
                    GateKind::Process { command } => {
                        missing_secret(g)?;
                        Ready::Process {
                            command: command.clone(),
                            files: named_files(&[command.as_str()], dir),
                        }
                    }
                    GateKind::Pipeline { steps } => {
                        missing_secret(g)?;
                        let commands: Vec<&str> =
                            steps.iter().map(|s| s.command.as_str()).collect();
                        Ready::Pipeline {
                            steps: steps.clone(),
                            files: named_files(&commands, dir),
                        }
                    }
                    GateKind::Wasm {
                        plugin,
                        sha256,
                        config,
                        limits,
                        ..
                    } => {
                        let host = host.context("internal: no WebAssembly host")?;
                        let p = host
                            .prepare(plugin, sha256.as_deref(), config, *limits, dir)
                            .await
                            .with_context(|| {
                                format!("failed to load gate `{}` of model `{}`", g.name, m.name)
                            })?;
                        Ready::Wasm(Arc::new(p))
                    }
                };
                gates.push(ReadyGate {
                    gate: g.clone(),
                    ready,
                });
            }
            ready_models.push(ReadyModel {
                name: m.name.clone(),
                gates,
            });
        }
        Ok(Runner {
            models: ready_models,
            dir: dir.to_path_buf(),
            host,
        })
    }

    /// True when some gate is handed its candidate's LoggedModel (a
    /// WebAssembly gate of world 0.3.0 on): only then are they read.
    pub fn hands_logged_models(&self) -> bool {
        self.models
            .iter()
            .flat_map(|m| &m.gates)
            .any(|g| match &g.ready {
                Ready::Wasm(p) => p.component.world().has_logged_models(),
                _ => false,
            })
    }

    /// The ready model called `name`.
    pub fn model(&self, name: &str) -> Option<&ReadyModel> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Runs every gate of `model` for `candidate`, in plan order.
    pub async fn judge(
        &self,
        model: &ReadyModel,
        candidate: &Candidate,
        ctx: &Context,
    ) -> anyhow::Result<Judgement> {
        // One judgement time for all its gates: WebAssembly gates see it as
        // their (frozen) clock, and `--record` writes it.
        let judged_at = std::time::SystemTime::now();
        let mut results = Vec::with_capacity(model.gates.len());
        for g in &model.gates {
            let result = match &g.ready {
                Ready::Process { command, .. } => {
                    let step = Step {
                        name: g.gate.name.clone(),
                        command: command.clone(),
                        env: Vec::new(),
                        secrets: Vec::new(),
                        pos: g.gate.pos,
                    };
                    run_process_gate(&g.gate, &[step], false, candidate, ctx, &self.dir).await
                }
                Ready::Pipeline { steps, .. } => {
                    run_process_gate(&g.gate, steps, true, candidate, ctx, &self.dir).await
                }
                Ready::Wasm(p) => {
                    let host = self.host.context("internal: no WebAssembly host")?;
                    host.evaluate(p, &g.gate.name, candidate, ctx.registry.clone(), judged_at)
                        .await
                }
            };
            let mut result = result;
            if ctx.fail_on_warn {
                result.fail_on_warnings();
            }
            results.push(result);
        }
        Ok(Judgement {
            model: model.name.clone(),
            version: candidate.version.version,
            run_id: candidate.version.run_id.clone(),
            selected_by: candidate.selector.describe(),
            judged_at,
            passed: results.iter().all(|r| r.passed),
            gates: results,
            unrecorded: !candidate
                .version
                .tags
                .iter()
                .any(|t| t.key == crate::record::VERDICT),
            read_tags: model
                .tags_read()
                .into_iter()
                .map(|k| {
                    let value = candidate
                        .version
                        .tags
                        .iter()
                        .find(|t| t.key == k)
                        .map(|t| t.value.clone());
                    (k, value)
                })
                .collect(),
        })
    }
}

impl Runner {
    /// Evaluates a ready WebAssembly gate again from its recorded
    /// `evidence` (see [`crate::replay`]): no registry, the recorded
    /// candidate, clock, seed and answers.
    pub async fn replay(
        &self,
        gate: &ReadyGate,
        evidence: &crate::gate::evidence::Evidence,
    ) -> anyhow::Result<GateResult> {
        let Ready::Wasm(p) = &gate.ready else {
            anyhow::bail!("internal: only WebAssembly gates replay");
        };
        let host = self.host.context("internal: no WebAssembly host")?;
        Ok(host.replay(p, &gate.gate.name, evidence).await)
    }
}

/// The secrets of `gate` and of its pipeline's steps (key, the name it is
/// passed as) that are in neither form in the environment.
pub fn missing_secrets(gate: &Gate) -> impl Iterator<Item = &(String, String)> {
    let steps: &[Step] = match &gate.kind {
        GateKind::Pipeline { steps } => steps,
        _ => &[],
    };
    gate.secrets
        .iter()
        .chain(steps.iter().flat_map(|s| s.secrets.iter()))
        .filter(|(key, inject_as)| {
            std::env::var(key).is_err() && std::env::var_os(inject_as).is_none()
        })
}

/// An error naming the first secret of `gate` missing from the environment.
fn missing_secret(gate: &Gate) -> anyhow::Result<()> {
    match missing_secrets(gate).next() {
        None => Ok(()),
        Some((key, inject_as)) => match key.strip_prefix(crate::project::VAULT_PREFIX) {
            Some(vault) => {
                let (path, field) = vault.split_once('#').unwrap_or((vault, ""));
                Err(anyhow::anyhow!(
                    "gate `{}` needs `{inject_as}`, a `!VaultSecret` ({field} at {path}), which is not in the environment",
                    gate.name
                ))
                .hint(format!(
                    "modelgate does not read Vault: export {inject_as} with that value, e.g. `export {inject_as}=\"$(vault kv get -field={field} {path})\"`"
                ))
            }
            None => Err(anyhow::anyhow!(
                "gate `{}` needs secret `{key}`, which is not in the environment",
                gate.name
            ))
            .hint(format!(
                "export {key}=… (it is passed to the gate as {inject_as})"
            )),
        },
    }
}

/// The environment a process gate (or one step of a pipeline) sees on top
/// of the inherited one: the task's `env`, the step's, their secrets, then
/// the candidate's variables, which neither can override. Its secrets were
/// found by [`Runner::prepare`].
pub fn gate_env(
    gate: &Gate,
    step: Option<&Step>,
    candidate: &Candidate,
    tracking: &TrackingUri,
) -> Vec<(String, String)> {
    let mut env = gate.env.clone();
    let secrets = gate.secrets.iter();
    if let Some(step) = step {
        env.extend(step.env.iter().cloned());
    }
    let step_secrets = step.into_iter().flat_map(|s| s.secrets.iter());
    for (key, inject_as) in secrets.chain(step_secrets) {
        // A secret already passed under its own name (the variable the
        // gate reads) is inherited as it is.
        if let Ok(v) = std::env::var(key) {
            env.push((inject_as.clone(), v));
        }
    }
    let v = &candidate.version;
    env.push(("MLFLOW_TRACKING_URI".into(), tracking.as_str().to_string()));
    env.push(("MODELGATE_MODEL_NAME".into(), v.name.clone()));
    env.push(("MODELGATE_MODEL_VERSION".into(), v.version.to_string()));
    env.push((
        "MODELGATE_RUN_ID".into(),
        v.run_id.clone().unwrap_or_default(),
    ));
    // MLflow 3: the LoggedModel the version was registered from, where its
    // evaluations' metrics are (`MlflowClient().get_logged_model(id)`);
    // empty for a version registered MLflow 2's way.
    env.push((
        "MODELGATE_MODEL_ID".into(),
        v.model_id.clone().unwrap_or_default(),
    ));
    env.push(("MODELGATE_GATE_NAME".into(), gate.name.clone()));
    env
}

/// Runs `steps` in order as one gate, stopping at the first that does not
/// pass. The gate's timeout (or what remains of the run) covers them all;
/// their output is kept together, each step's under a header line when
/// `pipeline`, within the one bound of [`process::OUTPUT_LIMIT`].
async fn run_process_gate(
    gate: &Gate,
    steps: &[Step],
    pipeline: bool,
    candidate: &Candidate,
    ctx: &Context,
    dir: &Path,
) -> GateResult {
    let remaining = ctx
        .deadline
        .saturating_duration_since(tokio::time::Instant::now());
    let limit = gate.timeout.unwrap_or(remaining).min(remaining);
    let end = tokio::time::Instant::now() + limit;
    let target = if pipeline {
        crate::plan::pipeline_display(steps)
    } else {
        steps.first().map(|s| s.command.clone()).unwrap_or_default()
    };
    let mut result = GateResult::new(&gate.name, crate::gate::Kind::Process, &target);
    let mut output = String::new();
    let mut dropped = 0u64;
    let mut cause = None;
    let started = std::time::Instant::now();
    for step in steps {
        if pipeline {
            output.push_str(&format!("── step `{}`: {}\n", step.name, step.command));
        }
        let spec = ProcessSpec {
            command: &step.command,
            dir,
            env: gate_env(gate, pipeline.then_some(step), candidate, &ctx.tracking),
            // At least a moment, so a step that starts as the time runs
            // out ends as a timeout rather than not at all.
            timeout: end
                .saturating_duration_since(tokio::time::Instant::now())
                .max(std::time::Duration::from_millis(1)),
        };
        let step_cause = match process::run(&spec).await {
            Ok(outcome) => {
                output.push_str(&outcome.output.text);
                dropped += outcome.output.dropped;
                match outcome.ending {
                    // The limit is the gate's, however much of it this
                    // step had left.
                    process::Ending::TimedOut(_) => Some(Cause::ProcessTimeout(limit)),
                    _ => outcome.cause(),
                }
            }
            // A gate that cannot even start is that gate's error, not the
            // end of the run: the other gates are still judged.
            Err(e) => Some(Cause::Other(format!("{e:#}"))),
        };
        if let Some(c) = step_cause {
            cause = Some(if pipeline {
                Cause::Step {
                    step: step.name.clone(),
                    cause: Box::new(c),
                }
            } else {
                c
            });
            break;
        }
    }
    // One bound for the whole gate: keep the most recent output.
    if output.len() > process::OUTPUT_LIMIT {
        let mut cut = output.len() - process::OUTPUT_LIMIT;
        while !output.is_char_boundary(cut) {
            cut += 1;
        }
        dropped += cut as u64;
        output.drain(..cut);
    }
    result.duration = started.elapsed();
    result.conclude(cause);
    result.output = output;
    result.output_dropped = dropped;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_a_command_runs_are_hashed_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        for f in [
            "validate.py",
            "model.pkl",
            "gate.log",
            "train.py",
            "outside.sh",
        ] {
            std::fs::write(d.join(f), f).expect("write");
        }
        std::fs::remove_file(d.join("outside.sh")).expect("rm");
        std::fs::create_dir(d.join("scripts")).expect("mkdir");
        std::fs::write(d.join("scripts/check.sh"), "exit 0\n").expect("write");
        std::fs::write(outside.path().join("secret.sh"), "x").expect("write");
        std::os::unix::fs::symlink(outside.path().join("secret.sh"), d.join("outside.sh"))
            .expect("symlink");
        let scripts = |commands: &[&str]| -> Vec<String> {
            named_files(commands, d)
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        assert_eq!(
            scripts(&["FOO=1 python3.11 -u validate.py model.pkl | tee gate.log"]),
            ["validate.py"]
        );
        assert_eq!(
            scripts(&["./scripts/check.sh --strict train.py && poetry run python train.py"]),
            ["scripts/check.sh", "train.py"]
        );
        // Not scripts: a program from PATH, `-c` code, a file a command
        // reads, a symlink out of the project, a path with `..` or absolute.
        std::fs::write(d.join("x.sh"), "").expect("write");
        assert_eq!(
            scripts(&[
                "validate.py",
                "bash -c 'python validate.py'",
                "cat validate.py",
                "sh outside.sh",
                "sh ../x.sh",
                "sh scripts/../x.sh",
                "sh /etc/profile",
            ]),
            Vec::<String>::new()
        );
        // An edited script is another digest; a changed data file is not.
        let before = named_files(&["python validate.py model.pkl"], d);
        std::fs::write(d.join("model.pkl"), "retrained").expect("write");
        assert_eq!(named_files(&["python validate.py model.pkl"], d), before);
        std::fs::write(d.join("validate.py"), "exit(1)").expect("write");
        assert_ne!(named_files(&["python validate.py model.pkl"], d), before);
        // Bounded: at most MAX_NAMED_FILES.
        let many: Vec<String> = (0..MAX_NAMED_FILES + 5)
            .map(|i| {
                std::fs::write(d.join(format!("f{i}.sh")), "").expect("write");
                format!("sh f{i}.sh")
            })
            .collect();
        assert_eq!(
            named_files(&[many.join("; ").as_str()], d).len(),
            MAX_NAMED_FILES
        );
    }
}
