//! `modelgate validate`: prepare the gates, resolve each model's
//! candidate(s), judge them with the [`Runner`], report, and exit 0 / 1 / 2.
//!
//! Order matters for failing early and closed: the project file and every
//! gate (see [`Runner::prepare`]) are checked before the registry is asked
//! anything, and every candidate is resolved before any gate runs, so a
//! configuration mistake never produces a partial verdict.

use std::sync::Arc;

use anyhow::Context as _;
use futures::{StreamExt as _, TryFutureExt as _, TryStreamExt as _};

use crate::candidate::{self, Candidate, Selector};
use crate::cli::ValidateArgs;
use crate::error::with_hint;
use crate::exit::ExitStatus;
use crate::plan::{ModelPlan, Plan};
use crate::registry::cached::CachedRegistry;
use crate::registry::writer::RegistryWriter;
use crate::registry::{self, Registry, uri};
use crate::report::{JsonStream, ModelReport, RenderedModel, Report, Style};
use crate::runner::{Context, ReadyModel, Runner};

/// Runs `modelgate validate`, all of it within `--timeout`: past that
/// deadline nothing is decided (exit 2), and every gate still running is
/// stopped (process gates' processes killed).
pub async fn run(args: ValidateArgs, verbose: bool) -> anyhow::Result<ExitStatus> {
    let limit = args.timeout;
    let deadline = tokio::time::Instant::now() + limit;
    let decided = match tokio::time::timeout_at(deadline, validate(args, verbose, deadline)).await {
        Ok(outcome) => outcome?,
        Err(_) => {
            return Err(with_hint(
                anyhow::anyhow!(
                    "modelgate could not decide within --timeout {}: the registry or a gate is too slow",
                    crate::text::format_duration(limit)
                ),
                "raise `--timeout`, or run with `-v` to see which gate or registry call is slow",
            ));
        }
    };
    let Decided { status, record } = decided;
    let Some(record) = record else {
        return Ok(status);
    };
    // The verdict is decided and reported: whatever happens to the record
    // now is said as what it is, never as "could not decide".
    let verdict = if status == ExitStatus::Pass {
        "PASS"
    } else {
        "FAIL"
    };
    match tokio::time::timeout_at(deadline, record.run()).await {
        Ok(Ok(())) => Ok(status),
        Ok(Err(e)) => Err(e.context(format!(
            "the verdict ({verdict}) was decided and reported, but not all of it was recorded"
        ))),
        Err(_) => Err(with_hint(
            anyhow::anyhow!(
                "the verdict ({verdict}) was decided and reported, but not recorded: the registry did not take it within --timeout {}",
                crate::text::format_duration(limit)
            ),
            "the report above is the verdict; run again with a longer `--timeout` to record it (recording is idempotent)",
        )),
    }
}

/// What `validate` decided, and the recording still to do.
struct Decided {
    /// The verdict's exit status.
    status: ExitStatus,
    /// `--record` / `--promote`, when asked for.
    record: Option<Recording>,
}

/// Writing a decided report into the registry: its tags, then the alias.
struct Recording {
    runner: Arc<Runner>,
    report: Report,
    fresh: registry::SharedRegistry,
    writer: Box<dyn RegistryWriter>,
    promote: Option<String>,
    allow_rollback: bool,
}

impl Recording {
    async fn run(self) -> anyhow::Result<()> {
        record(&self.runner, &self.report, self.writer.as_ref()).await?;
        if let Some(alias) = &self.promote {
            promote(
                &self.report,
                self.fresh.as_ref(),
                self.writer.as_ref(),
                alias,
                self.allow_rollback,
            )
            .await?;
        }
        Ok(())
    }
}

async fn validate(
    args: ValidateArgs,
    verbose: bool,
    deadline: tokio::time::Instant,
) -> anyhow::Result<Decided> {
    let (project, plan) = crate::plan::load(&args.project.project)?;
    let models = select_models(&plan, args.model.as_deref(), &project.file)?;
    // At most `--jobs` evaluations are alive at once (a judgement runs its
    // gates one after another).
    crate::gate::wasm::WasmHost::size_pool(args.jobs.map_or_else(default_jobs, |j| j as usize));
    let runner = Arc::new(Runner::prepare(&models, &project.dir).await?);

    let env_uri = std::env::var("MLFLOW_TRACKING_URI").ok();
    let (tracking, _origin) = uri::resolve(
        args.tracking_uri.as_deref(),
        env_uri.as_deref(),
        &project.dir,
    )?;
    // The uncached registry stays at hand for reads that must be fresh
    // (an alias right before it is moved).
    let raw = registry::open(&tracking)?;
    let registry = Arc::new(CachedRegistry::new(raw.clone()));
    let writer = if args.record || args.promote.is_some() {
        Some(registry::writer::open(&tracking)?)
    } else {
        None
    };

    let selector = match (&args.version, &args.alias) {
        (Some(v), _) => Selector::Version(*v),
        (_, Some(a)) => Selector::Alias(a.clone()),
        _ if args.all_versions => Selector::All,
        _ => Selector::Latest,
    };
    // Each candidate with the index of its model in `runner.models`.
    let mut candidates: Vec<(usize, Candidate)> = Vec::new();
    for (i, m) in runner.models.iter().enumerate() {
        if selector == Selector::All {
            let all = candidate::resolve_all(registry.as_ref(), &m.name).await?;
            candidates.reserve_exact(all.len());
            candidates.extend(all.into_iter().map(|c| (i, c)));
        } else {
            candidates.push((
                i,
                candidate::resolve(registry.as_ref(), &m.name, &selector).await?,
            ));
        }
    }
    let ctx = Arc::new(Context {
        registry: registry.clone(),
        tracking: tracking.clone(),
        deadline,
        fail_on_warn: args.fail_on_warn,
    });
    let jobs = match (args.jobs, candidates.len()) {
        (Some(j), _) => (j as usize).max(1),
        (None, 0 | 1) => 1,
        (None, _) => default_jobs(),
    };
    // The candidates' runs are read a window at a time, in as few requests
    // as the backend allows, and dropped from the cache once the window is
    // judged: a sweep holds the runs of at most three windows, not of every
    // version.
    // The first window is read before anything is judged, so a registry
    // that cannot answer fails the run before any verdict.
    let mut windows = RunWindows::new(registry.clone(), &candidates, runner.hands_logged_models());
    windows
        .first()
        .await
        .map_err(|e| candidate::registry_error(e, "the candidates' runs", registry.uri()))?;
    let progress = Progress::new(candidates.len());
    // Up to `jobs` judgements at once, on every worker thread, reported in
    // candidate order. Each task judges a run of consecutive candidates
    // (many per task in a large sweep: handing every single judgement to
    // another thread and back would cost more than judging it).
    let per_task =
        (candidates.len().min(RUN_WINDOW) / (jobs * 8)).clamp(1, MAX_CANDIDATES_PER_TASK);
    let mut tasks: Vec<Task> = Vec::new();
    let mut rest = candidates.into_iter().enumerate().peekable();
    while let Some(&(first, _)) = rest.peek() {
        let window = first / RUN_WINDOW;
        let end = ((window + 1) * RUN_WINDOW).min(first + per_task);
        let candidates = rest.by_ref().take(end - first).map(|(_, c)| c).collect();
        let last = rest
            .peek()
            .is_none_or(|(next, _)| next / RUN_WINDOW != window);
        tasks.push(Task {
            window,
            last,
            candidates,
        });
    }
    // `jobs` judgements at once, whatever the number of tasks under way.
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs));
    let forget = windows.ids.clone();
    let (judging, cache) = (runner.clone(), registry.clone());
    // A JSON report written as it comes is rendered by the task that
    // judged each candidate, in parallel; the writer only writes.
    let stream_json = args.format == crate::report::Format::Json && writer.is_none();
    let judged = futures::stream::iter(tasks)
        .map(move |task| {
            let ready = windows.ready(task.window);
            let (window, last) = (task.window, task.last);
            Judging::new(
                judging.clone(),
                task.candidates,
                ctx.clone(),
                ready,
                permits.clone(),
                jobs == 1,
                stream_json,
            )
            .map_ok(move |reports| (window, last, reports))
        })
        // With several threads judging, more tasks under way than judge at
        // once: one that finished ahead of an earlier one waits to be
        // reported, and its thread takes the next task meanwhile instead of
        // idling. One at a time, they are judged in order anyway.
        .buffered(if jobs == 1 { 1 } else { jobs * LOOKAHEAD })
        .map_ok(move |(window, last, reports)| {
            if last {
                forget[window].forget(&cache);
            }
            futures::stream::iter(reports.into_iter().map(anyhow::Ok))
        })
        .try_flatten();
    let judged = judged.inspect(|_| progress.tick());
    if stream_json {
        // Nothing needs the whole report afterwards: write each verdict as
        // it comes, so a sweep of any size holds one at a time.
        let out = std::io::BufWriter::with_capacity(64 << 10, crate::output::StdoutSink::default());
        let written = |e: std::io::Error| {
            anyhow::Error::new(e).context("failed to write the report to stdout")
        };
        let mut json =
            JsonStream::begin(out, tracking.as_str(), &project.file.display().to_string())
                .map_err(written)?;
        let mut judged = judged;
        while let Some(judgement) = judged.next().await {
            match judgement? {
                Judged::Rendered(m) => json.push_rendered(&m),
                Judged::Report(m) => json.push(&m),
            }
            .map_err(written)?;
        }
        progress.finish();
        let summary = json.finish().map_err(written)?;
        return Ok(Decided {
            status: if summary.failed == 0 {
                ExitStatus::Pass
            } else {
                ExitStatus::Fail
            },
            record: None,
        });
    }
    let reports: Vec<ModelReport> = judged
        .map_ok(|judged| match judged {
            Judged::Report(m) => Ok(m),
            Judged::Rendered(_) => Err(anyhow::anyhow!(
                "internal: a verdict was rendered for a report held whole"
            )),
        })
        .and_then(std::future::ready)
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
    if args.format == crate::report::Format::Github {
        step_summary(&report);
    }
    let status = if report.passed() {
        ExitStatus::Pass
    } else {
        ExitStatus::Fail
    };
    Ok(Decided {
        status,
        record: writer.map(|writer| Recording {
            runner,
            report,
            fresh: raw,
            writer,
            promote: args.promote.clone(),
            allow_rollback: args.allow_rollback,
        }),
    })
}

/// Appends the Markdown summary to `$GITHUB_STEP_SUMMARY`, when set. The
/// summary is a view of the verdict, not part of it: failing to write it
/// is a warning.
fn step_summary(report: &Report) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, report.markdown().as_bytes()));
    if let Err(e) = written {
        crate::output::stderr(&format!(
            "modelgate: warning: could not append to GITHUB_STEP_SUMMARY `{}`: {e}\n",
            std::path::Path::new(&path).display()
        ));
    }
}

/// Writes every judgement of `report` onto its version as tags.
async fn record(
    runner: &Runner,
    report: &Report,
    writer: &dyn RegistryWriter,
) -> anyhow::Result<()> {
    let report_digest = crate::record::report_digest(report);
    // One plan digest per model, however many of its versions were judged.
    let mut plans: std::collections::HashMap<&str, String> = Default::default();
    for j in &report.models {
        if !plans.contains_key(j.model.as_str()) {
            let model = runner
                .model(&j.model)
                .context("internal: a judged model was not prepared")?;
            plans.insert(&j.model, crate::record::plan_digest(model));
        }
        let plan = &plans[j.model.as_str()];
        crate::record::record_judgement(writer, j, plan, &report_digest).await?;
        crate::output::stderr(&format!(
            "modelgate: recorded {}={} on {} version {}\n",
            crate::record::VERDICT,
            crate::record::verdict(j),
            crate::text::clean_line(&j.model),
            j.version
        ));
    }
    Ok(())
}

/// Points `alias` at each judged version that passed, forward only (see
/// [`crate::record::promote`]).
async fn promote(
    report: &Report,
    fresh: &dyn Registry,
    writer: &dyn RegistryWriter,
    alias: &str,
    allow_rollback: bool,
) -> anyhow::Result<()> {
    for j in &report.models {
        let done = crate::record::promote(j, fresh, writer, alias, allow_rollback).await?;
        let line = match done {
            crate::record::Promotion::NotPassed => format!(
                "{alias}: not moved ({} version {} did not pass)\n",
                crate::text::clean_line(&j.model),
                j.version
            ),
            other => format!("{alias}: {other}\n"),
        };
        crate::output::stderr(&line);
    }
    Ok(())
}

/// `--jobs` when not given: the number of cores.
fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Most consecutive candidates one task judges.
const MAX_CANDIDATES_PER_TASK: usize = 64;

/// Tasks under way per judgement allowed at once (`--jobs`): the others
/// have judged and wait for an earlier one to be reported, or wait for a
/// turn to judge.
const LOOKAHEAD: usize = 4;

/// Candidates whose runs (and LoggedModels) are read together and kept
/// while they are judged: a window of a sweep. Against a server a window's
/// runs cost a lookup and one `runs/search` page (0.0125 requests per
/// version), its LoggedModels as many; in memory, a sweep holds the runs
/// and LoggedModels of at most three windows: the judgements in flight (at
/// most 128 candidates, `--jobs`) span two, and the next is read
/// meanwhile. 160 since versions come with their LoggedModels (MLflow 3):
/// peak RSS of the 10,000-version sweep with `--jobs 2` 46 MiB at 500,
/// 41.6 at 250, 38.7 at 160, 37.2 at 125, for 441, 469 and 481 ms at the
/// last three (measured 2026-12-03; a smaller window is more queries).
const RUN_WINDOW: usize = 160;

/// Consecutive candidates judged by one task, all of one window.
struct Task {
    /// The window they belong to.
    window: usize,
    /// True for the window's last task: once it is reported, the
    /// window's runs are dropped.
    last: bool,
    /// Each candidate with the index of its model.
    candidates: Vec<(usize, Candidate)>,
}

/// Whether a window's runs are in the cache: the read's outcome, shared by
/// every task of the window.
type Ready = futures::future::Shared<
    futures::future::BoxFuture<'static, Result<(), crate::registry::RegistryError>>,
>;

/// The windows of a run's candidates, each read when the one before it
/// starts being judged.
struct RunWindows {
    registry: Arc<CachedRegistry>,
    /// The run ids and LoggedModel ids of each window.
    ids: Arc<Vec<WindowIds>>,
    started: Vec<Option<Ready>>,
}

/// What one window reads: its candidates' runs and, when a gate is handed
/// them, their LoggedModels.
#[derive(Default)]
struct WindowIds {
    runs: Vec<String>,
    models: Vec<String>,
}

impl WindowIds {
    /// Reads them into the cache, both at once.
    async fn read(&self, registry: &CachedRegistry) -> Result<(), crate::registry::RegistryError> {
        let (runs, models) = futures::future::join(
            registry.prefetch_runs(&self.runs),
            registry.prefetch_logged_models(&self.models),
        )
        .await;
        runs.and(models)
    }

    /// Drops them from the cache.
    fn forget(&self, registry: &CachedRegistry) {
        registry.forget_runs(&self.runs);
        registry.forget_logged_models(&self.models);
    }
}

impl RunWindows {
    /// The windows of `candidates`; `models`: read their LoggedModels too
    /// (some gate's world has them).
    fn new(
        registry: Arc<CachedRegistry>,
        candidates: &[(usize, Candidate)],
        models: bool,
    ) -> RunWindows {
        let ids: Vec<WindowIds> = candidates
            .chunks(RUN_WINDOW)
            .map(|w| WindowIds {
                runs: w
                    .iter()
                    .filter_map(|(_, c)| c.version.run_id.clone())
                    .collect(),
                models: w
                    .iter()
                    .filter(|_| models)
                    .filter_map(|(_, c)| c.version.model_id.clone())
                    .collect(),
            })
            .collect();
        let started = vec![None; ids.len()];
        RunWindows {
            registry,
            ids: Arc::new(ids),
            started,
        }
    }

    /// Reads the first window's runs, here and now.
    async fn first(&mut self) -> Result<(), crate::registry::RegistryError> {
        use futures::FutureExt as _;
        let Some(ids) = self.ids.first() else {
            return Ok(());
        };
        ids.read(&self.registry).await?;
        self.started[0] = Some(futures::future::ready(Ok(())).boxed().shared());
        Ok(())
    }

    /// The read of `window`'s runs, started now (in a task of its own)
    /// together with the next window's if not yet.
    fn ready(&mut self, window: usize) -> Ready {
        use futures::FutureExt as _;
        for w in [window, window + 1] {
            if w >= self.started.len() || self.started[w].is_some() {
                continue;
            }
            let (registry, ids) = (self.registry.clone(), self.ids.clone());
            let read = tokio::spawn(async move { ids[w].read(&registry).await });
            self.started[w] = Some(
                async move {
                    read.await.unwrap_or_else(|e| {
                        Err(crate::registry::RegistryError::Unavailable(format!(
                            "reading the runs stopped: {e}"
                        )))
                    })
                }
                .boxed()
                .shared(),
            );
        }
        // Every task's window is one of `started`'s; were it not, its runs
        // were never read, and that is no ground to judge on.
        self.started
            .get(window)
            .cloned()
            .flatten()
            .unwrap_or_else(|| {
                futures::future::ready(Err(crate::registry::RegistryError::Unavailable(format!(
                    "window {window} of the runs was never read"
                ))))
                .boxed()
                .shared()
            })
    }
}

/// Judgements of consecutive candidates, once their window's runs are read
/// and one of the `--jobs` turns to judge is free.
/// With several at once (`--jobs` > 1) each runs as a task of its own, on
/// any worker thread; one at a time, they run where they are awaited, on
/// the thread that prepared the gates (another thread's first judgement
/// costs it wasmtime's per-thread set-up, about a millisecond of a single
/// `validate`). Dropping it (the run's deadline passed, or another
/// judgement failed) stops it, and with it its gates.
enum Judging {
    Task(tokio::task::JoinHandle<anyhow::Result<Vec<Judged>>>),
    Here(futures::future::BoxFuture<'static, anyhow::Result<Vec<Judged>>>),
}

/// A judged candidate as the report needs it: whole, or already rendered
/// for a JSON report written as it comes.
enum Judged {
    Report(ModelReport),
    Rendered(RenderedModel),
}

impl Judging {
    fn new(
        runner: Arc<Runner>,
        chunk: Vec<(usize, Candidate)>,
        ctx: Arc<Context>,
        ready: Ready,
        permits: Arc<tokio::sync::Semaphore>,
        here: bool,
        render: bool,
    ) -> Judging {
        let work = async move {
            ready.await.map_err(|e| {
                candidate::registry_error(e, "the candidates' runs", ctx.registry.uri())
            })?;
            // Held while judging: at most `--jobs` judgements at once.
            let _turn = permits
                .acquire_owned()
                .await
                .context("internal: the judgements' semaphore was closed")?;
            let mut reports = Vec::with_capacity(chunk.len());
            for (model, candidate) in &chunk {
                let report = judge(&runner, *model, candidate, &ctx).await?;
                reports.push(if render {
                    Judged::Rendered(
                        RenderedModel::new(&report).context("failed to render the report")?,
                    )
                } else {
                    Judged::Report(report)
                });
            }
            Ok(reports)
        };
        if here {
            Judging::Here(Box::pin(work))
        } else {
            Judging::Task(tokio::spawn(work))
        }
    }
}

impl std::future::Future for Judging {
    type Output = anyhow::Result<Vec<Judged>>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.get_mut() {
            Judging::Task(task) => std::pin::Pin::new(task)
                .poll(cx)
                .map(|joined| match joined {
                    Ok(judged) => judged,
                    Err(e) => Err(anyhow::anyhow!("internal: a judgement did not finish: {e}")),
                }),
            Judging::Here(work) => work.as_mut().poll(cx),
        }
    }
}

impl Drop for Judging {
    fn drop(&mut self) {
        if let Judging::Task(task) = self {
            task.abort();
        }
    }
}

/// Judges `candidate` of the runner's `model`-th model.
async fn judge(
    runner: &Runner,
    model: usize,
    candidate: &Candidate,
    ctx: &Context,
) -> anyhow::Result<ModelReport> {
    let model: &ReadyModel = runner
        .models
        .get(model)
        .context("internal: a candidate of no prepared model")?;
    runner.judge(model, candidate, ctx).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_window_whose_runs_were_never_read_is_no_ground_to_judge_on() {
        let db =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/logreg/mlflow.db");
        let uri = uri::parse(&format!("sqlite:///{}", db.display())).expect("uri");
        let registry = Arc::new(CachedRegistry::new(registry::open(&uri).expect("open")));
        let mut windows = RunWindows::new(registry, &[], true);
        windows.first().await.expect("nothing to read");
        let err = windows.ready(0).await.expect_err("no window 0");
        assert!(err.to_string().contains("never read"), "{err}");
    }
}
