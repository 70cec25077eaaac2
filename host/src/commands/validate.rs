//! `modelgate validate`: resolve each model's candidate, run its gates,
//! report, and exit 0 / 1 / 2.
//!
//! Order matters for failing early and closed: the project file and every
//! WebAssembly gate (load, sha256 pin, `check-config`) are checked before the
//! registry is asked anything, and every candidate is resolved before any
//! gate runs, so a configuration mistake never produces a partial verdict.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _};

use crate::candidate::{self, Candidate, Selector};
use crate::cli::ValidateArgs;
use crate::error::{HintExt as _, with_hint};
use crate::exit::ExitStatus;
use crate::gate::process::{self, ProcessSpec};
use crate::gate::wasm::{PreparedGate, WasmHost};
use crate::gate::{GateResult, LogLine};
use crate::plan::{Gate, GateKind, ModelPlan, Plan};
use crate::registry::cached::CachedRegistry;
use crate::registry::{self, Registry as _, uri};
use crate::report::{ModelReport, Report, Style};

/// Runs `modelgate validate`, all of it within `--timeout`: past that
/// deadline nothing is decided (exit 2), and every gate still running is
/// stopped (process gates' processes killed).
pub async fn run(args: ValidateArgs, verbose: bool) -> anyhow::Result<ExitStatus> {
    let limit = args.timeout;
    let deadline = tokio::time::Instant::now() + limit;
    match tokio::time::timeout_at(deadline, validate(args, verbose, deadline)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(with_hint(
            anyhow::anyhow!(
                "modelgate could not decide within --timeout {}: the registry or a gate is too slow",
                crate::text::format_duration(limit)
            ),
            "raise `--timeout`, or run with `-v` to see which gate or registry call is slow",
        )),
    }
}

async fn validate(
    args: ValidateArgs,
    verbose: bool,
    deadline: tokio::time::Instant,
) -> anyhow::Result<ExitStatus> {
    let (project, plan) = super::check::load_plan(&args.project.project)?;
    let models = select_models(&plan, args.model.as_deref(), &project.file)?;

    // WebAssembly gates are loaded and their config checked before any
    // registry access: a misconfigured gate fails before a model is judged.
    let mut prepared: HashMap<(String, String), Arc<PreparedGate>> = HashMap::new();
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
    if let Some(host) = &host {
        for m in &models {
            for g in &m.gates {
                if let GateKind::Wasm {
                    plugin,
                    sha256,
                    config,
                    limits,
                } = &g.kind
                {
                    let p = host
                        .prepare(plugin, sha256.as_deref(), config, *limits, &project.dir)
                        .await
                        .with_context(|| {
                            format!("failed to load gate `{}` of model `{}`", g.name, m.name)
                        })?;
                    prepared.insert((m.name.clone(), g.name.clone()), Arc::new(p));
                }
            }
        }
    }

    let env_uri = std::env::var("MLFLOW_TRACKING_URI").ok();
    let (tracking, _origin) = uri::resolve(
        args.tracking_uri.as_deref(),
        env_uri.as_deref(),
        &project.dir,
    )?;
    let registry = Arc::new(CachedRegistry::new(registry::open(&tracking)?));

    let selector = match (&args.version, &args.alias) {
        (Some(v), _) => Selector::Version(*v),
        (_, Some(a)) => Selector::Alias(a.clone()),
        _ if args.all_versions => Selector::All,
        _ => Selector::Latest,
    };
    let mut candidates: Vec<(&ModelPlan, Candidate)> = Vec::new();
    for m in &models {
        if selector == Selector::All {
            for c in candidate::resolve_all(registry.as_ref(), &m.name).await? {
                candidates.push((m, c));
            }
        } else {
            candidates.push((
                m,
                candidate::resolve(registry.as_ref(), &m.name, &selector).await?,
            ));
        }
    }
    // Runs of all candidates in as few requests as the backend allows.
    let run_ids: Vec<String> = candidates
        .iter()
        .filter_map(|(_, c)| c.version.run_id.clone())
        .collect();
    registry
        .prefetch_runs(&run_ids)
        .await
        .map_err(|e| candidate::registry_error(e, "the candidates' runs", registry.uri()))?;

    let ctx = Judge {
        prepared: &prepared,
        host,
        registry: registry.clone(),
        tracking: &tracking,
        dir: &project.dir,
        deadline,
    };
    let jobs = match (args.jobs, candidates.len()) {
        (Some(j), _) => j as usize,
        (None, 0 | 1) => 1,
        (None, _) => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    };
    let progress = Progress::new(candidates.len());
    let reports: Vec<ModelReport> =
        futures::stream::iter(candidates.iter().map(|(m, c)| ctx.judge(m, c)))
            .buffered(jobs)
            .inspect(|_| progress.tick())
            .try_collect()
            .await?;
    progress.finish();
    let report = Report::new(
        tracking.as_str().to_string(),
        project.file.display().to_string(),
        reports,
    );
    crate::output::stdout(&report.render(args.format, Style::detect(verbose)))
        .context("failed to write the report to stdout")?;
    Ok(if report.passed() {
        ExitStatus::Pass
    } else {
        ExitStatus::Fail
    })
}

/// What judging a candidate needs.
struct Judge<'a> {
    prepared: &'a HashMap<(String, String), Arc<PreparedGate>>,
    host: Option<&'static WasmHost>,
    registry: Arc<CachedRegistry>,
    tracking: &'a uri::TrackingUri,
    dir: &'a std::path::Path,
    /// The end of the whole run; process gates get at most what remains.
    deadline: tokio::time::Instant,
}

impl Judge<'_> {
    /// Runs every gate of `m` for candidate `c`, in plan order.
    async fn judge(&self, m: &ModelPlan, c: &Candidate) -> anyhow::Result<ModelReport> {
        let mut results = Vec::new();
        for g in &m.gates {
            let result = match &g.kind {
                GateKind::Process { command } => {
                    let remaining = self
                        .deadline
                        .saturating_duration_since(tokio::time::Instant::now());
                    run_process_gate(g, command, c, self.tracking, self.dir, remaining).await?
                }
                GateKind::Wasm { .. } => {
                    let p = self
                        .prepared
                        .get(&(m.name.clone(), g.name.clone()))
                        .context("internal: gate was not prepared")?;
                    let host = self.host.context("internal: no wasm host")?;
                    host.evaluate(p, &g.name, c, self.registry.clone()).await
                }
            };
            results.push(result);
        }
        Ok(ModelReport {
            model: m.name.clone(),
            version: c.version.version,
            run_id: c.version.run_id.clone(),
            selected_by: c.selector.describe(),
            passed: results.iter().all(|r| r.passed),
            gates: results,
        })
    }
}

/// A progress line on stderr for sweeps, when stderr is a terminal.
struct Progress {
    total: usize,
    done: std::sync::atomic::AtomicUsize,
    shown: bool,
}

impl Progress {
    fn new(total: usize) -> Progress {
        use std::io::IsTerminal as _;
        Progress {
            total,
            done: Default::default(),
            shown: total > 1 && std::io::stderr().is_terminal(),
        }
    }

    fn tick(&self) {
        let done = self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if self.shown && (done == self.total || done.is_multiple_of(10)) {
            crate::output::stderr(&format!(
                "\rmodelgate: judged {done} of {} candidates",
                self.total
            ));
        }
    }

    fn finish(&self) {
        if self.shown {
            crate::output::stderr("\n");
        }
    }
}

fn select_models<'p>(
    plan: &'p Plan,
    name: Option<&str>,
    file: &std::path::Path,
) -> anyhow::Result<Vec<&'p ModelPlan>> {
    match name {
        Some(name) => {
            let Some(m) = plan.model(name) else {
                let names: Vec<&str> = plan.models.iter().map(|m| m.name.as_str()).collect();
                let hint = match crate::project::nearest(name, &names) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None if names.is_empty() => "the project file defines no models".into(),
                    None => format!("models in the project: {}", names.join(", ")),
                };
                return Err(with_hint(
                    anyhow::anyhow!("model `{name}` is not defined in `{}`", file.display()),
                    hint,
                ));
            };
            if m.gates.is_empty() {
                return Err(with_hint(
                    anyhow::anyhow!(
                        "model `{name}` has no validation task in `{}`",
                        file.display()
                    ),
                    "give the model `validationTask:` (or `validationTasks:`)",
                ));
            }
            Ok(vec![m])
        }
        None => {
            let gated: Vec<&ModelPlan> = plan.gated_models().collect();
            if gated.is_empty() {
                return Err(with_hint(
                    anyhow::anyhow!("no model in `{}` has a validation task", file.display()),
                    "give a model `validationTask:` (or `validationTasks:`)",
                ));
            }
            Ok(gated)
        }
    }
}

/// The environment a process gate sees on top of the inherited one.
pub fn gate_env(
    gate: &Gate,
    candidate: &Candidate,
    tracking: &uri::TrackingUri,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut env = gate.env.clone();
    for (key, inject_as) in &gate.secrets {
        match std::env::var(key) {
            Ok(v) => env.push((inject_as.clone(), v)),
            Err(_) if std::env::var_os(inject_as).is_some() => {}
            Err(_) => {
                return Err(anyhow::anyhow!(
                    "gate `{}` needs secret `{key}`, which is not in the environment",
                    gate.name
                ))
                .hint(format!(
                    "export {key}=… (it is passed to the gate as {inject_as})"
                ));
            }
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
    env.push(("MODELGATE_GATE_NAME".into(), gate.name.clone()));
    Ok(env)
}

async fn run_process_gate(
    gate: &Gate,
    command: &str,
    candidate: &Candidate,
    tracking: &uri::TrackingUri,
    dir: &std::path::Path,
    remaining: Duration,
) -> anyhow::Result<GateResult> {
    let spec = ProcessSpec {
        command,
        dir,
        env: gate_env(gate, candidate, tracking)?,
        timeout: gate.timeout.unwrap_or(remaining).min(remaining),
    };
    let outcome = process::run(&spec)
        .await
        .with_context(|| format!("failed to run gate `{}`", gate.name))?;
    Ok(GateResult {
        name: gate.name.clone(),
        kind: "process",
        target: command.to_string(),
        passed: outcome.passed(),
        cause: outcome.cause(),
        summary: None,
        duration: outcome.duration,
        checks: Vec::new(),
        output: outcome.output.text,
        output_dropped: outcome.output.dropped,
        logs: Vec::<LogLine>::new(),
    })
}
