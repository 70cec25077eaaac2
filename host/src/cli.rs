//! The command line: clap definitions only. The work lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  every gate passed (for `check`: the project file is valid)
  1  at least one gate failed
  2  modelgate could not decide: bad project file, unknown model or version,
     unreachable registry, plugin that fails to load, …
  128+N  stopped by signal N (SIGHUP 129, SIGINT 130, SIGTERM 143) before
     deciding; running gates got the signal, then were killed";

const VALIDATE_EXAMPLES: &str = "\
Examples:
  modelgate validate --project examples/logreg
  modelgate validate logreg --alias challenger --tracking-uri http://127.0.0.1:5000
  modelgate validate logreg --version 3 --format json > report.json
  modelgate validate logreg --all-versions --jobs 8 --format json > sweep.json

Exit codes:
  0  every gate passed
  1  at least one gate failed
  2  modelgate could not decide (bad project file, unknown model or version,
     unreachable registry, plugin that fails to load, …)
  128+N  stopped by signal N (SIGHUP, SIGINT, SIGTERM) before deciding

Process gates see MLFLOW_TRACKING_URI and MODELGATE_MODEL_NAME,
MODELGATE_MODEL_VERSION, MODELGATE_RUN_ID, MODELGATE_MODEL_ID in their
environment.";

/// `modelgate --version`: the version and the plugin contract versions it
/// runs (kept equal to [`crate::gate::wasm::WIT_VERSIONS`] by a test).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (runs gates of modelgate:validator@0.4.0, @0.3.0, @0.2.0 and @0.1.0)"
);

/// Decides whether a new version of an ML model may ship.
///
/// modelgate reads AME's `ame.yaml`, resolves the candidate model version in
/// MLflow, runs the model's validation gates — processes such as
/// `python validate.py`, or sandboxed WebAssembly components — and answers
/// pass or fail.
#[derive(Debug, Parser)]
#[command(name = "modelgate", version = VERSION, after_help = EXIT_CODES, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// Show every gate's checks, logs and complete output.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the validation gates of a model version and report pass or fail.
    ///
    /// The candidate is the newest READY version unless `--version` or
    /// `--alias` says otherwise. Without MODEL, every model of the project
    /// that has a validation task is validated.
    #[command(after_help = VALIDATE_EXAMPLES)]
    Validate(ValidateArgs),

    /// Check the project file and print the plan, without touching any registry.
    ///
    /// Lists every problem (with file, line and column), not only the first;
    /// for valid files prints each model with its gates. Exit 0 when valid,
    /// 2 otherwise.
    Check(CheckArgs),

    /// Decide again, offline, from a JSON report's evidence.
    ///
    /// Re-runs every WebAssembly gate of a `validate --format json` report
    /// with what it was given then — the candidate, the registry's answers,
    /// the clock and the random seed — and compares the verdicts and
    /// checks. No registry is read. Plugins must have the recorded sha256
    /// (paths are relative to the project; built-ins are taken by name).
    /// Process gates are not replayable.
    #[command(after_help = REPLAY_HELP)]
    Replay(ReplayArgs),

    /// Judge every new model version as it appears: MLflow webhooks, with
    /// polling as the fallback.
    ///
    /// Prepares every gate of the project(s) once, then judges each new
    /// READY version of their models, records the verdict as tags and, with
    /// `--promote`, moves the alias forward on a pass. A version already
    /// judged under the current plan is not judged again, so restarts and
    /// repeated events are safe. Webhook deliveries need
    /// MODELGATE_WEBHOOK_SECRET (see `modelgate webhook create`).
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),

    /// Register modelgate's webhook in MLflow.
    #[command(subcommand)]
    Webhook(WebhookCommand),

    /// Work with WebAssembly gate plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),

    /// Print a shell completion script.
    ///
    /// bash: `modelgate completions bash > ~/.local/share/bash-completion/completions/modelgate`;
    /// zsh: into a directory of `$fpath` as `_modelgate`; fish:
    /// `~/.config/fish/completions/modelgate.fish`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the manual page (roff), e.g. `modelgate man > modelgate.1`.
    Man,

    /// Print the project file's JSON Schema, for editors and CI.
    ///
    /// Every generation's keys, the `!wasm` executor and the built-in
    /// gates' configs, made from the tables `check` reads with.
    ///
    /// yaml-language-server (VS Code's YAML extension) reads it from a
    /// `# yaml-language-server: $schema=…` line or `yaml.schemas`; declare
    /// the executor tags in `yaml.customTags` (the schema's
    /// `x-yaml-custom-tags` lists them).
    Schema,
}

const SERVE_HELP: &str = "\
Endpoints:
  POST /webhooks/mlflow   MLflow webhook deliveries (signed)
  GET  /healthz           200 while serving
  GET  /metrics           Prometheus text, names prefixed modelgate_

Examples:
  MODELGATE_WEBHOOK_SECRET=… modelgate serve -p projects/churn --promote champion \\
      --tracking-uri http://mlflow:5000 --listen 0.0.0.0:8910
  modelgate serve -p examples/logreg --poll 10s     # the embedded mlflow.db: polling

SIGTERM or SIGINT stops intake and lets running judgements finish
(--drain), then exits 0. Exit 2: a project or gate that does not load,
an address that cannot be bound.";

/// Arguments of `modelgate serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A project directory (or its `ame.yaml`); repeat for several.
    #[arg(long = "project", short = 'p', value_name = "DIR", default_value = ".")]
    pub projects: Vec<PathBuf>,

    /// Where to listen for webhooks, health checks and metrics.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8910")]
    pub listen: std::net::SocketAddr,

    /// How often to look for versions not judged yet (`off`: only once, at
    /// start).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_poll)]
    pub poll: Poll,

    /// On a pass, point this alias at the version (forward only).
    #[arg(long, value_name = "ALIAS", value_parser = parse_alias)]
    pub promote: Option<String>,

    /// Judgements at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: u32,

    /// The MLflow tracking URI (default: MLFLOW_TRACKING_URI, else `mlflow.db`
    /// in the first project's directory).
    #[arg(long, value_name = "URI")]
    pub tracking_uri: Option<String>,

    /// Deadline of one judgement.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    /// How long running judgements may take to finish at shutdown.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub drain: std::time::Duration,

    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Judge a version whose verdict is `error` (a gate could not decide:
    /// the registry was down, a process was killed, a plugin trapped) again
    /// at least this long after its judgement, or as long after as the
    /// version was old then (so the waits double), at most 6 h; found by the
    /// poller (with `--poll off`, only at start). `off`: an `error` verdict
    /// stays until the plan changes.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_retry_errors)]
    pub retry_errors: Poll,

    /// The page at `GET /` (each model's aliases, latest verdicts, gates
    /// and metric trend, updated live as verdicts are recorded): `on` or
    /// `off`.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = parse_on_off, action = clap::ArgAction::Set)]
    pub ui: bool,

    /// With N replicas, this one (K, from 0) judges and promotes only the
    /// models assigned to it: each model to one replica, by a hash of its
    /// name. Deliveries for the others' models are acknowledged and left
    /// to them. On Kubernetes: the StatefulSet's pod index, `$(POD_INDEX)/N`.
    #[arg(long, value_name = "K/N", env = "MODELGATE_SHARD", value_parser = parse_shard)]
    pub shard: Option<crate::serve::Shard>,
}

/// Log line formats of `serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `TIME modelgate serve: key=value …`.
    Text,
    /// One JSON object per line.
    Json,
}

/// `modelgate webhook …`.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Create the webhook in MLflow (REST API; needs MLflow's SQL store),
    /// signed with MODELGATE_WEBHOOK_SECRET, for new versions and tag changes.
    Create(WebhookCreateArgs),
}

/// Arguments of `modelgate webhook create`.
#[derive(Debug, Args)]
pub struct WebhookCreateArgs {
    /// Where MLflow delivers: `serve`'s address and `/webhooks/mlflow`.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// The webhook's name in MLflow.
    #[arg(long, default_value = "modelgate")]
    pub name: String,

    /// The MLflow tracking server (default: MLFLOW_TRACKING_URI).
    #[arg(long, value_name = "URI")]
    pub tracking_uri: Option<String>,

    /// Do not ask MLflow for a test delivery to URL afterwards (by default
    /// one is sent, and its failure is exit 2 saying what to set).
    #[arg(long)]
    pub no_test: bool,
}

const REPLAY_HELP: &str = "\
Examples:
  modelgate validate --format json > report.json
  modelgate replay report.json

Exit codes:
  0  every WebAssembly gate reproduces its recorded verdict and checks
  1  a gate decides differently (the first one is named)
  2  modelgate cannot replay: unreadable or altered report, plugin missing
     or not the recorded one, nothing replayable";

/// Arguments of `modelgate replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The JSON report (`modelgate validate --format json`).
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,

    /// Where plugin paths are relative to (default: the directory of the
    /// project file the report names).
    #[arg(long, short = 'p', value_name = "DIR")]
    pub project: Option<PathBuf>,

    /// The deadline of the whole replay (each gate also keeps its own
    /// recorded time limit). Past it, nothing is decided: exit 2.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    /// What to print.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Human)]
    pub format: ReplayFormat,
}

/// `modelgate replay --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayFormat {
    /// A line per replayed gate and the verdict.
    Human,
    /// One self-contained HTML page: the verdict, the recorded metrics'
    /// charts, each gate's replay with its recorded checks.
    Html,
}

/// Where the project is.
#[derive(Debug, Args)]
pub struct ProjectArg {
    /// The project directory (or its `ame.yaml`).
    #[arg(long, short = 'p', value_name = "DIR", default_value = ".")]
    pub project: PathBuf,
}

/// Arguments of `modelgate validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The model to validate (default: every model with a validation task).
    #[arg(value_name = "MODEL")]
    pub model: Option<String>,

    /// Validate this version number.
    #[arg(long, value_name = "N", conflicts_with = "alias")]
    pub version: Option<u64>,

    /// Validate the version this alias points at (e.g. `challenger`).
    #[arg(long, value_name = "ALIAS", conflicts_with = "all_versions")]
    pub alias: Option<String>,

    /// Validate every READY version of the model(s): a sweep.
    #[arg(long, conflicts_with = "version")]
    pub all_versions: bool,

    /// How many candidates to judge at once (default: the number of CPUs).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: Option<u32>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub project: ProjectArg,

    /// The MLflow tracking URI (default: MLFLOW_TRACKING_URI, else `mlflow.db`
    /// in the project directory).
    #[arg(long, value_name = "URI")]
    pub tracking_uri: Option<String>,

    /// Deadline of the whole run — registry calls, every gate, everything
    /// (e.g. `30s`, `10m`). Past it modelgate stops and exits 2; process
    /// gates without a `timeout:` of their own get what remains of it.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,

    /// Fail a gate that passes with warnings (checks a WebAssembly gate
    /// passed with a note, e.g. a metric close to its threshold).
    #[arg(long)]
    pub fail_on_warn: bool,

    /// Write the verdict onto each judged version as `modelgate.*` tags
    /// (verdict, time, plan and report digests, each gate's outcome).
    #[arg(long)]
    pub record: bool,

    /// When every gate passed, point this alias (e.g. `champion`) at the
    /// version; on fail or error never touch it. Implies `--record`.
    /// Aliases only move forward unless `--allow-rollback`.
    #[arg(long, value_name = "ALIAS", value_parser = parse_alias, conflicts_with = "all_versions")]
    pub promote: Option<String>,

    /// Let `--promote` move the alias to an older version than it points at.
    #[arg(long, requires = "promote")]
    pub allow_rollback: bool,
}

/// Arguments of `modelgate check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub project: ProjectArg,

    /// Project files (or directories) to check instead of `--project`, each
    /// in turn (as a pre-commit hook passes them); exit 2 when any has a
    /// problem.
    #[arg(value_name = "FILE", conflicts_with = "project")]
    pub files: Vec<PathBuf>,

    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
}

/// The languages of `modelgate plugin new`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginLang {
    /// A Rust crate on the `modelgate-plugin` SDK (cargo, wasm32-wasip2).
    Rust,
    /// A Python module built with componentize-py.
    Python,
    /// A JavaScript module built with componentize-js.
    Js,
}

impl From<PluginLang> for crate::templates::Lang {
    fn from(l: PluginLang) -> Self {
        use crate::templates::Lang;
        match l {
            PluginLang::Rust => Lang::Rust,
            PluginLang::Python => Lang::Python,
            PluginLang::Js => Lang::Js,
        }
    }
}

/// Output formats of `modelgate validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One line per gate and a summary, for people.
    Human,
    /// The `modelgate.report/v1` JSON document.
    Json,
    /// JUnit XML: a test suite per model, a test case per gate.
    Junit,
    /// GitHub Actions workflow commands (`::error …`), one per failed check;
    /// with `GITHUB_STEP_SUMMARY` set, the Markdown table is appended to it.
    Github,
    /// A Markdown table of models, gates and checks.
    Markdown,
    /// One self-contained HTML page (no script, no network): the verdict, a
    /// chart per metric the gates compared, every gate's checks.
    Html,
}

impl From<ReportFormat> for crate::report::Format {
    fn from(f: ReportFormat) -> Self {
        use crate::report::Format;
        match f {
            ReportFormat::Human => Format::Human,
            ReportFormat::Json => Format::Json,
            ReportFormat::Junit => Format::Junit,
            ReportFormat::Github => Format::Github,
            ReportFormat::Markdown => Format::Markdown,
            ReportFormat::Html => Format::Html,
        }
    }
}

/// Formats of `modelgate check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// An indented list.
    Human,
    /// The plan as JSON.
    Json,
}

/// `modelgate plugin …`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show what a component exports and imports, its size and sha256, and
    /// whether this modelgate can run it.
    Inspect(InspectArgs),

    /// Write a ready-to-build gate plugin (Rust, Python or JavaScript).
    ///
    /// The project builds and passes as written: a gate that checks one
    /// metric against a minimum, a README saying how to build it, point an
    /// `ame.yaml` at it and try it against a local `mlflow.db`.
    #[command(after_help = NEW_EXAMPLES)]
    New(NewArgs),

    /// Compile components into the compile cache, so that their first run
    /// as a gate loads in milliseconds.
    ///
    /// For CI images and runners that pay the compile once: each component
    /// (a `.wasm` file or `builtin:NAME`) is compiled, checked as
    /// `plugin inspect` checks it, and written to the cache
    /// (`MODELGATE_CACHE_DIR`) under this machine's key
    /// (`MODELGATE_CACHE_KEY`); an entry already there and valid is kept.
    /// The entries are trusted only with that key: bake both into the
    /// image, never restore them from a shared cache (docs/security.md).
    #[command(after_help = COMPILE_EXAMPLES)]
    Compile(CompileArgs),
}

const COMPILE_EXAMPLES: &str = "\
Examples:
  modelgate plugin compile gates/converged.wasm
  modelgate plugin compile builtin:threshold gates/*.wasm";

/// Arguments of `modelgate plugin compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// `.wasm` components, or `builtin:NAME`.
    #[arg(value_name = "FILE|builtin:NAME", required = true)]
    pub plugins: Vec<String>,
}

const NEW_EXAMPLES: &str = "\
Examples:
  modelgate plugin new min-score --lang rust
  modelgate plugin new converged --lang python --dir gates/converged
  modelgate plugin new fairness --lang js";

/// Arguments of `modelgate plugin new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name: lower-case letters, digits and `-`.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// The language to write the plugin in.
    #[arg(long, value_enum)]
    pub lang: PluginLang,

    /// Where to write it (default: `./NAME`); must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Arguments of `modelgate plugin inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A `.wasm` component, or `builtin:NAME`.
    #[arg(value_name = "FILE|builtin:NAME")]
    pub plugin: String,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// An alias MLflow accepts: letters, digits, `_` and `-`, at most 255
/// characters, neither `latest` nor a version alias like `v3`.
fn parse_alias(s: &str) -> Result<String, String> {
    let valid = !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    // `v` and digits names a version (`v3`); by characters, not bytes: the
    // first may be any letter (`é`).
    let reserved = s.eq_ignore_ascii_case("latest")
        || s.strip_prefix(['v', 'V'])
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if !valid {
        return Err(format!(
            "`{s}` is not an MLflow alias (letters, digits, `_` and `-`, at most 255)"
        ));
    }
    if reserved {
        return Err(format!("`{s}` is reserved by MLflow"));
    }
    Ok(s.to_string())
}

/// `serve --poll` and `--retry-errors`: an interval, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poll(pub Option<std::time::Duration>);

fn parse_poll(s: &str) -> Result<Poll, String> {
    interval_or_off(s, "poll")
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("`{s}` is neither `on` nor `off`")),
    }
}

fn parse_retry_errors(s: &str) -> Result<Poll, String> {
    interval_or_off(s, "retry")
}

/// `off`, or a duration of at least a second (`what` at most once a second).
fn interval_or_off(s: &str, what: &str) -> Result<Poll, String> {
    if s == "off" {
        return Ok(Poll(None));
    }
    let d = parse_duration(s)?;
    if d < std::time::Duration::from_secs(1) {
        return Err(format!("{what} at most once a second (or `off`)"));
    }
    Ok(Poll(Some(d)))
}

fn parse_shard(s: &str) -> Result<crate::serve::Shard, String> {
    crate::serve::Shard::parse(s)
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::units::parse_duration(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    /// Every flag that takes a value, on every command, by its long name.
    fn valued_flags() -> Vec<(Vec<String>, String)> {
        fn walk(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
            for arg in cmd.get_arguments() {
                if let (Some(long), true) = (arg.get_long(), arg.get_action().takes_values()) {
                    out.push((path.clone(), long.to_string()));
                }
            }
            for sub in cmd.get_subcommands() {
                path.push(sub.get_name().to_string());
                walk(sub, path, out);
                path.pop();
            }
        }
        let mut out = Vec::new();
        walk(&Cli::command(), &mut Vec::new(), &mut out);
        out
    }

    #[test]
    fn a_value_whose_first_character_is_not_ascii_is_parsed_not_panicked_on() {
        assert_eq!(parse_alias("é"), Ok("é".into()));
        assert_eq!(parse_alias("été"), Ok("été".into()));
        assert!(parse_alias("v12").is_err() && parse_alias("V1").is_err());
        assert_eq!(parse_alias("v"), Ok("v".into()));
        assert_eq!(parse_alias("v1a"), Ok("v1a".into()));
        assert!(valued_flags().len() > 20, "{:?}", valued_flags());
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// No value parser of any flag panics, whatever the value: it
            /// is parsed or refused (a usage error, exit 2).
            #[test]
            fn no_flag_value_panics(value in any::<String>()) {
                for (path, long) in valued_flags() {
                    let mut argv = vec!["modelgate".to_string()];
                    argv.extend(path.iter().cloned());
                    argv.push(format!("--{long}={value}"));
                    let _ = Cli::try_parse_from(&argv);
                }
            }
        }
    }

    /// `--version` names exactly the contract versions the host runs.
    #[test]
    fn the_version_line_names_every_wit_version() {
        let mut named: Vec<&str> = VERSION
            .split(['@', ' ', ')', ','])
            .filter(|w| w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('.'))
            .skip(1)
            .collect();
        named.sort();
        assert_eq!(named, crate::gate::wasm::WIT_VERSIONS);
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")));
    }
}
