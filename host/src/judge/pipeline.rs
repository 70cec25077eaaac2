//! The pipeline: candidates to ordered judgements to a [`Sink`].
//!
//! A sweep's candidates are read from the registry a window at a time
//! ([`RUN_WINDOW`]: their runs and LoggedModels in as few requests as the
//! backend allows, the next window read while this one is judged, each
//! dropped from the cache once judged), judged in batches of consecutive
//! candidates on the worker threads with at most `--jobs` judgements at
//! once, and handed to the sink in candidate order. One candidate (what
//! `serve` judges) goes the same way.

use std::sync::Arc;

use anyhow::Context as _;
use futures::{StreamExt as _, TryFutureExt as _};

use super::Judgement;
use super::runner::{Context, Runner};
use crate::candidate::{self, Candidate, Selector};
use crate::registry::Registry as _;
use crate::registry::cached::CachedRegistry;

/// A candidate and the model whose gates judge it.
#[derive(Debug, Clone)]
pub struct Target {
    /// Index of the model in [`Runner::models`].
    pub model: usize,
    /// The candidate version.
    pub candidate: Candidate,
}

/// What takes each judgement as it is made, in candidate order: a report
/// format, the recorder, `serve`'s log. Two sinks side by side are a pair.
pub trait Sink: Send {
    /// What a judgement becomes on the thread that judged it, in parallel
    /// with the other judgements, before [`take`](Self::take) is handed it
    /// (e.g. its JSON, rendered where it was made).
    type Item: Send + 'static;

    /// Makes the item of `judgement`, on the judging thread.
    fn prepare(judgement: Judgement) -> anyhow::Result<Self::Item>;

    /// Takes the next item, in candidate order. An error stops the run.
    fn take(&mut self, item: Self::Item) -> anyhow::Result<()>;
}

/// Two sinks fed the same judgements.
impl<A: Sink, B: Sink> Sink for (A, B) {
    type Item = (A::Item, B::Item);

    fn prepare(judgement: Judgement) -> anyhow::Result<Self::Item> {
        Ok((A::prepare(judgement.clone())?, B::prepare(judgement)?))
    }

    fn take(&mut self, (a, b): Self::Item) -> anyhow::Result<()> {
        self.0.take(a)?;
        self.1.take(b)
    }
}

/// A sink that keeps every judgement, in order.
#[derive(Debug, Default)]
pub struct Collect(pub Vec<Judgement>);

impl Sink for Collect {
    type Item = Judgement;

    fn prepare(judgement: Judgement) -> anyhow::Result<Judgement> {
        Ok(judgement)
    }

    fn take(&mut self, item: Judgement) -> anyhow::Result<()> {
        self.0.push(item);
        Ok(())
    }
}

/// The candidates of every model of `runner` that `selector` picks, in
/// model order (a sweep: each model's READY versions, oldest first).
pub async fn candidates(
    runner: &Runner,
    registry: &CachedRegistry,
    selector: &Selector,
) -> anyhow::Result<Vec<Target>> {
    let mut targets = Vec::new();
    for (model, m) in runner.models.iter().enumerate() {
        if *selector == Selector::All {
            let all = candidate::resolve_all(registry, &m.name).await?;
            targets.reserve_exact(all.len());
            targets.extend(all.into_iter().map(|candidate| Target { model, candidate }));
        } else {
            let candidate = candidate::resolve(registry, &m.name, selector).await?;
            targets.push(Target { model, candidate });
        }
    }
    Ok(targets)
}

/// Judgements at once for `candidates` candidates: `requested` (`--jobs`),
/// else one per core for a sweep and one for a single candidate.
pub fn jobs(requested: Option<u32>, candidates: usize) -> usize {
    match (requested, candidates) {
        (Some(j), _) => (j as usize).max(1),
        (None, 0 | 1) => 1,
        (None, _) => default_jobs(),
    }
}

/// `--jobs` when not given: the number of cores.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Judges `targets` with `runner` under `ctx`, at most `jobs` at once, and
/// hands each judgement to `sink` in candidate order.
///
/// The first window's runs are read before anything is judged, so a
/// registry that cannot answer fails the run before any verdict. Up to
/// `jobs` judgements run at once, on every worker thread; each task judges
/// a run of consecutive candidates (many per task in a large sweep: handing
/// every single judgement to another thread and back would cost more than
/// judging it). An error (a judgement that could not be made, a sink that
/// refused) stops the run; judgements still under way are dropped.
pub async fn run<S: Sink>(
    runner: &Arc<Runner>,
    ctx: &Arc<Context>,
    jobs: usize,
    targets: Vec<Target>,
    sink: &mut S,
) -> anyhow::Result<()> {
    let registry = ctx.registry.clone();
    let mut windows = RunWindows::new(registry.clone(), &targets, runner.hands_logged_models());
    windows
        .first()
        .await
        .map_err(|e| candidate::registry_error(e, "the candidates' runs", registry.uri()))?;
    let progress = Progress::new(targets.len());
    let per_task = (targets.len().min(RUN_WINDOW) / (jobs * 8)).clamp(1, MAX_CANDIDATES_PER_TASK);
    let tasks = tasks(targets, per_task);
    // `jobs` judgements at once, whatever the number of tasks under way.
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs));
    let forget = windows.ids.clone();
    let (runner, ctx) = (runner.clone(), ctx.clone());
    let mut judged = futures::stream::iter(tasks)
        .map(move |task| {
            let ready = windows.ready(task.window);
            let (window, last) = (task.window, task.last);
            Judging::new(
                runner.clone(),
                task.candidates,
                ctx.clone(),
                ready,
                permits.clone(),
                jobs == 1,
                S::prepare,
            )
            .map_ok(move |items| (window, last, items))
        })
        // With several threads judging, more tasks under way than judge at
        // once: one that finished ahead of an earlier one waits to be
        // handed on, and its thread takes the next task meanwhile instead
        // of idling. One at a time, they are judged in order anyway.
        .buffered(if jobs == 1 { 1 } else { jobs * LOOKAHEAD });
    while let Some(done) = judged.next().await {
        let (window, last, items) = done?;
        if last {
            forget[window].forget(&registry);
        }
        for item in items {
            progress.tick();
            sink.take(item)?;
        }
    }
    progress.finish();
    Ok(())
}

/// `targets` cut into tasks of at most `per_task` consecutive candidates,
/// none spanning two windows.
fn tasks(targets: Vec<Target>, per_task: usize) -> Vec<Task> {
    let mut tasks: Vec<Task> = Vec::new();
    let mut rest = targets.into_iter().enumerate().peekable();
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
    tasks
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
    candidates: Vec<Target>,
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
    fn new(registry: Arc<CachedRegistry>, candidates: &[Target], models: bool) -> RunWindows {
        let ids: Vec<WindowIds> = candidates
            .chunks(RUN_WINDOW)
            .map(|w| WindowIds {
                runs: w
                    .iter()
                    .filter_map(|t| t.candidate.version.run_id.clone())
                    .collect(),
                models: w
                    .iter()
                    .filter(|_| models)
                    .filter_map(|t| t.candidate.version.model_id.clone())
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
enum Judging<T> {
    Task(tokio::task::JoinHandle<anyhow::Result<Vec<T>>>),
    Here(futures::future::BoxFuture<'static, anyhow::Result<Vec<T>>>),
}

impl<T: Send + 'static> Judging<T> {
    fn new(
        runner: Arc<Runner>,
        chunk: Vec<Target>,
        ctx: Arc<Context>,
        ready: Ready,
        permits: Arc<tokio::sync::Semaphore>,
        here: bool,
        prepare: fn(Judgement) -> anyhow::Result<T>,
    ) -> Judging<T> {
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
            for target in &chunk {
                let model = runner
                    .models
                    .get(target.model)
                    .context("internal: a candidate of no prepared model")?;
                let judgement = runner.judge(model, &target.candidate, &ctx).await?;
                reports.push(prepare(judgement)?);
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

impl<T> std::future::Future for Judging<T> {
    type Output = anyhow::Result<Vec<T>>;

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

impl<T> Drop for Judging<T> {
    fn drop(&mut self) {
        if let Judging::Task(task) = self {
            task.abort();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_window_whose_runs_were_never_read_is_no_ground_to_judge_on() {
        let db =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/logreg/mlflow.db");
        let uri = crate::registry::uri::parse(&format!("sqlite:///{}", db.display())).expect("uri");
        let registry = Arc::new(CachedRegistry::new(
            crate::registry::open(&uri).expect("open"),
        ));
        let mut windows = RunWindows::new(registry, &[], true);
        windows.first().await.expect("nothing to read");
        let err = windows.ready(0).await.expect_err("no window 0");
        assert!(err.to_string().contains("never read"), "{err}");
    }
}
