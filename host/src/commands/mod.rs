//! One module per subcommand; each takes its parsed arguments and returns
//! an [`ExitStatus`] or an error (which `main` prints and maps to exit 2).

pub mod check;
pub mod plugin;
pub mod replay;
pub mod serve;
pub mod validate;

use crate::cli::{Cli, Command, PluginCommand};
use crate::exit::ExitStatus;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Validate(args) => validate::run(args, cli.verbose).await,
        Command::Check(args) => check::run(args).await,
        Command::Replay(args) => replay::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Webhook(crate::cli::WebhookCommand::Create(args)) => {
            serve::create_webhook(args).await
        }
        Command::Plugin(PluginCommand::Inspect(args)) => plugin::inspect(args).await,
        Command::Plugin(PluginCommand::New(args)) => plugin::new(args),
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
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<crate::cli::Cli as clap::CommandFactory>::command())
                .render(&mut out)?;
            crate::output::stdout(&String::from_utf8_lossy(&out))?;
            Ok(ExitStatus::Pass)
        }
    }
}
