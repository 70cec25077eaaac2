//! One module per subcommand; each takes its parsed arguments and returns
//! an [`ExitStatus`] or an error (which `main` prints and maps to exit 2).

pub mod check;
pub mod plugin;
pub mod replay;
pub mod serve;
pub mod validate;

use crate::cli::{Cli, Command, PluginCommand};
use crate::exit::ExitStatus;

/// Runs `work` until it ends or SIGTERM, SIGINT or SIGHUP arrives. On a
/// signal, the signal is passed on to every process gate still running,
/// which gets [`crate::gate::reaper::GRACE`] to end; then `work` is
/// dropped (what it was judging is abandoned, nothing more is recorded),
/// what is left of the gates and everything they started is killed and
/// reaped, and the command exits 128 + N. A terminal's Ctrl-C reaches modelgate alone (gates run in
/// process groups of their own), so this is how it reaches them.
async fn stoppable(
    work: impl std::future::Future<Output = anyhow::Result<ExitStatus>>,
) -> anyhow::Result<ExitStatus> {
    let Some(signals) = crate::signals::Signals::new() else {
        return work.await;
    };
    use crate::gate::reaper;
    let mut work = Box::pin(work);
    let signal = tokio::select! {
        done = &mut work => return done,
        signal = signals.recv() => signal,
    };
    crate::output::stderr(&format!(
        "modelgate: stopped by {}: stopping the running gates; nothing more is decided or recorded\n",
        signal.name()
    ));
    // The gates get the signal and a moment to end as they would under a
    // shell; `work` is not polled meanwhile, so no further gate starts.
    let roots = reaper::forward(signal.number());
    let waited = roots.clone();
    let _ = tokio::task::spawn_blocking(move || reaper::wait_exited(&waited, reaper::GRACE)).await;
    // Dropping the work kills what is left of every gate and its orphans;
    // then the gates' processes are reaped.
    drop(work);
    let _ = tokio::task::spawn_blocking(move || reaper::reap_all(&roots)).await;
    Ok(ExitStatus::Signal(signal.number() as u8))
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Validate(args) => stoppable(validate::run(args, cli.verbose)).await,
        Command::Check(args) => stoppable(check::run(args)).await,
        Command::Replay(args) => stoppable(replay::run(args)).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Webhook(crate::cli::WebhookCommand::Create(args)) => {
            serve::create_webhook(args).await
        }
        Command::Plugin(PluginCommand::Inspect(args)) => plugin::inspect(args).await,
        Command::Plugin(PluginCommand::New(args)) => plugin::new(args),
        Command::Plugin(PluginCommand::Compile(args)) => plugin::compile(args).await,
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(
                shell,
                &mut <crate::cli::Cli as clap::CommandFactory>::command(),
                "modelgate",
                &mut out,
            );
            crate::output::stdout(&String::from_utf8_lossy(&out))?;
            Ok(ExitStatus::Pass)
        }
        Command::Schema => {
            crate::output::stdout(&crate::project::json_schema::text())?;
            Ok(ExitStatus::Pass)
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<crate::cli::Cli as clap::CommandFactory>::command())
                .render(&mut out)?;
            crate::output::stdout(&String::from_utf8_lossy(&out))?;
            Ok(ExitStatus::Pass)
        }
    }
}
