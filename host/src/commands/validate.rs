//! `modelgate validate`: prepare the gates, resolve each model's
//! candidate(s), judge them through the [`pipeline`] into the report (and
//! with `--record`/`--promote` the [`Recorder`]), and exit 0 / 1 / 2.
//!
//! Order matters for failing early and closed: the project file and every
//! gate (see [`Runner::prepare`]) are checked before the registry is asked
//! anything, and every candidate is resolved before any gate runs, so a
//! configuration mistake never produces a partial verdict.

use std::sync::Arc;

use anyhow::Context as _;

use crate::candidate::Selector;
use crate::cli::ValidateArgs;
use crate::error::with_hint;
use crate::exit::ExitStatus;
use crate::judge::pipeline::{self, Collect, Target};
use crate::judge::{Context, Runner, Sink};
use crate::record::{Event, Promote, Recorder};
use crate::registry::cached::CachedRegistry;
use crate::registry::writer::RegistryWriter;
use crate::registry::{self, SharedRegistry};
use crate::report::{Format, JsonStream, Report, Style};

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

/// Writing the decided verdicts into the registry: their tags, then the
/// alias.
struct Recording {
    recorder: Recorder,
    fresh: SharedRegistry,
    writer: Box<dyn RegistryWriter>,
    promote: Option<Promote>,
}

impl Recording {
    async fn run(self) -> anyhow::Result<()> {
        let said = |event: Event<'_>| {
            let line = match event {
                Event::Recorded(j) => format!(
                    "modelgate: recorded {}={} on {} version {}\n",
                    crate::record::VERDICT,
                    j.verdict,
                    crate::text::clean_line(&j.model),
                    j.version
                ),
                Event::Promoted(j, alias, Ok(crate::record::Promotion::NotPassed)) => format!(
                    "{alias}: not moved ({} version {} did not pass)\n",
                    crate::text::clean_line(&j.model),
                    j.version
                ),
                Event::Promoted(_, alias, Ok(done)) => format!("{alias}: {done}\n"),
                Event::Promoted(_, _, Err(e)) => return Err(e),
            };
            crate::output::stderr(&line);
            Ok(())
        };
        self.recorder
            .finish(
                self.writer.as_ref(),
                self.fresh.as_ref(),
                self.promote.as_ref(),
                said,
            )
            .await
    }
}

async fn validate(
    args: ValidateArgs,
    verbose: bool,
    deadline: tokio::time::Instant,
) -> anyhow::Result<Decided> {
    let (project, plan) = crate::plan::load(&args.project.project)?;
    let models = plan.select(args.model.as_deref(), &project.file)?;
    // At most `--jobs` evaluations are alive at once (a judgement runs its
    // gates one after another).
    crate::gate::wasm::WasmHost::size_pool(
        args.jobs
            .map_or_else(pipeline::default_jobs, |j| j as usize),
    );
    let runner = Arc::new(Runner::prepare(&models, &project.dir).await?);
    // The uncached registry stays at hand for reads that must be fresh
    // (an alias right before it is moved).
    let (tracking, fresh) = registry::connect(args.tracking_uri.as_deref(), &project.dir)?;
    let cached = Arc::new(CachedRegistry::new(fresh.clone()));
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
    // Every candidate is resolved before any gate runs.
    let targets = pipeline::candidates(&runner, &cached, &selector).await?;
    let judging = Judging {
        jobs: pipeline::jobs(args.jobs, targets.len()),
        ctx: Arc::new(Context {
            registry: cached,
            tracking: tracking.clone(),
            deadline,
            fail_on_warn: args.fail_on_warn,
        }),
        runner: runner.clone(),
        targets,
    };
    let project_file = project.file.display().to_string();
    let recorder = match writer {
        Some(_) => Some(Recorder::new(&runner, tracking.as_str(), &project_file)?),
        None => None,
    };
    let (status, recorder) = judging
        .report(Format::from(args.format), recorder, &project_file, verbose)
        .await?;
    Ok(Decided {
        status,
        record: recorder.zip(writer).map(|(recorder, writer)| Recording {
            recorder,
            fresh,
            writer,
            promote: args.promote.map(|alias| Promote {
                alias,
                allow_rollback: args.allow_rollback,
            }),
        }),
    })
}

/// The candidates and what judges them.
struct Judging {
    runner: Arc<Runner>,
    ctx: Arc<Context>,
    jobs: usize,
    targets: Vec<Target>,
}

impl Judging {
    /// Judges every candidate into `sink`, and hands it back.
    async fn into<S: Sink>(self, mut sink: S) -> anyhow::Result<S> {
        pipeline::run(&self.runner, &self.ctx, self.jobs, self.targets, &mut sink).await?;
        Ok(sink)
    }
}

impl Judging {
    /// Judges every candidate into the report as `format` (streamed for
    /// JSON, whole for the others), and into `recorder` when there is one;
    /// the verdict's status and the recorder, to finish.
    async fn report(
        self,
        format: Format,
        recorder: Option<Recorder>,
        project_file: &str,
        verbose: bool,
    ) -> anyhow::Result<(ExitStatus, Option<Recorder>)> {
        let tracking = self.ctx.tracking.clone();
        if format == Format::Json {
            // Nothing needs the whole report: each verdict is written as it
            // comes, so a sweep of any size holds a window of them at a time.
            let out =
                std::io::BufWriter::with_capacity(64 << 10, crate::output::StdoutSink::default());
            let json = JsonStream::begin(out, tracking.as_str(), project_file)
                .context("failed to write the report to stdout")?;
            let (json, recorder) = match recorder {
                None => (self.into(json).await?, None),
                Some(r) => {
                    let (json, r) = self.into((json, r)).await?;
                    (json, Some(r))
                }
            };
            let summary = json
                .finish()
                .context("failed to write the report to stdout")?;
            Ok((status_of(summary.failed == 0), recorder))
        } else {
            let (judgements, recorder) = match recorder {
                None => (self.into(Collect::default()).await?, None),
                Some(r) => {
                    let (all, r) = self.into((Collect::default(), r)).await?;
                    (all, Some(r))
                }
            };
            let status = show(
                Report::new(
                    tracking.as_str().to_string(),
                    project_file.to_string(),
                    judgements.0,
                ),
                format,
                verbose,
            )?;
            Ok((status, recorder))
        }
    }
}

/// Prints `report` as `format` (and GitHub's job summary); its status.
fn show(report: Report, format: Format, verbose: bool) -> anyhow::Result<ExitStatus> {
    crate::output::stdout(&report.render(format, Style::detect(verbose)))
        .context("failed to write the report to stdout")?;
    if format == Format::Github {
        crate::report::step_summary(&report);
    }
    Ok(status_of(report.passed()))
}

fn status_of(passed: bool) -> ExitStatus {
    if passed {
        ExitStatus::Pass
    } else {
        ExitStatus::Fail
    }
}
