//! `modelgate check`: validate the project file and print the plan, without
//! touching any registry (AME's `ame validate`, for CI on every commit).

use std::fmt::Write as _;

use crate::cli::{CheckArgs, PlanFormat};
use crate::error::with_hint;
use crate::exit::ExitStatus;
use crate::gate::wasm::{ConfigCheck, PrepareError, WasmHost};
use crate::plan::{GateKind, Plan};
use crate::project::{Diagnostic, Diagnostics, Format, Project};
use crate::text::clean_line;

/// Runs `modelgate check`: each project file, then every gate offline.
/// With several files every one is checked and its problems reported before
/// the next; the first file's error is the command's when it is the only one.
/// `--format json` prints the plan, or with several files one array of
/// `{"file", "plan"}` (a file with problems left out of it).
pub async fn run(args: CheckArgs) -> anyhow::Result<ExitStatus> {
    let files = match args.files.as_slice() {
        [] => std::slice::from_ref(&args.project.project),
        files => files,
    };
    if let [only] = files {
        let (project, plan) = checked(only).await?;
        let text = match args.format {
            PlanFormat::Json => {
                let mut s = serde_json::to_string_pretty(&plan)?;
                s.push('\n');
                s
            }
            PlanFormat::Human => render(&project, &plan),
        };
        crate::output::stdout(&text)?;
        return Ok(ExitStatus::Pass);
    }
    let mut failed = 0;
    let mut plans = Vec::new();
    for file in files {
        match checked(file).await {
            Ok((project, plan)) => match args.format {
                PlanFormat::Human => crate::output::stdout(&render(&project, &plan))?,
                PlanFormat::Json => plans.push(serde_json::json!({
                    "file": project.file.display().to_string(),
                    "plan": plan,
                })),
            },
            Err(e) => {
                crate::output::stderr(&crate::error::render(&e));
                failed += 1;
            }
        }
    }
    if args.format == PlanFormat::Json {
        let mut s = serde_json::to_string_pretty(&plans)?;
        s.push('\n');
        crate::output::stdout(&s)?;
    }
    if failed > 0 {
        return Err(with_hint(
            anyhow::anyhow!("{failed} of {} project files have problems", files.len()),
            "fix the problems listed above for each file",
        ));
    }
    Ok(ExitStatus::Pass)
}

/// One project (a directory or its `ame.yaml`) read and every gate checked;
/// its warnings printed.
async fn checked(path: &std::path::Path) -> anyhow::Result<(Project, Plan)> {
    let (project, plan) = crate::plan::load(path)?;
    let (errors, warnings) = check_gates(&project, &plan).await;
    for w in &warnings {
        let mut line = format!(
            "warning: {}:{}:{}: {}\n",
            project.file.display(),
            w.pos.line,
            w.pos.col,
            clean_line(&w.message)
        );
        if let Some(h) = &w.hint {
            line.push_str(&format!("  hint: {}\n", clean_line(h)));
        }
        crate::output::stderr(&line);
    }
    if !errors.is_empty() {
        return Err(with_hint(
            anyhow::Error::new(errors),
            "fix the problems listed above; `modelgate check` checks every gate without a registry",
        ));
    }
    Ok((project, plan))
}

/// Checks every gate of `plan` without a registry: each WebAssembly gate
/// is loaded, its pin compared and its `check-config` run (errors, placed
/// at the plugin, `sha256:` or `config:`); each process gate's executable
/// is looked for and its secrets in the environment (warnings: CI may
/// install or provide them later). A task shared by several models is
/// checked once.
pub async fn check_gates(project: &Project, plan: &Plan) -> (Diagnostics, Vec<Diagnostic>) {
    let mut errors = Diagnostics::new(&project.file);
    let mut warnings = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // Made at the first WebAssembly gate; its error is each such gate's.
    let mut host: Option<anyhow::Result<&'static WasmHost>> = None;
    for m in &plan.models {
        for g in &m.gates {
            let what = format!("gate `{}` of model `{}`", g.name, m.name);
            match &g.kind {
                GateKind::Process { .. } | GateKind::Pipeline { .. } => {
                    if seen.insert(format!("process\0{}\0{}", g.name, g.kind.what())) {
                        process_warnings(g, &what, &project.dir, &mut warnings);
                    }
                }
                GateKind::Wasm {
                    plugin,
                    sha256,
                    config,
                    limits,
                    pos,
                } => {
                    let key = format!("wasm\0{plugin}\0{sha256:?}\0{config}\0{limits:?}");
                    if !seen.insert(key) {
                        continue;
                    }
                    let Some(h) = host.get_or_insert_with(WasmHost::shared).as_ref().ok() else {
                        if let Some(Err(e)) = &host {
                            errors.error(
                                pos.plugin.unwrap_or(g.pos),
                                format!("{what}: {}", clean_line(&format!("{e:#}"))),
                                crate::error::find_hint(e).map(str::to_string),
                            );
                        }
                        continue;
                    };
                    let prepared = h
                        .prepare_gate(plugin, sha256.as_deref(), config, *limits, &project.dir)
                        .await;
                    if let Err(e) = prepared {
                        place_error(&mut errors, e, &what, plugin, pos, g.pos);
                    }
                }
            }
        }
    }
    errors.sort();
    (errors, warnings)
}

/// Warnings for a process gate (or a pipeline's steps): a program that
/// is not there, a secret not in the environment.
fn process_warnings(
    g: &crate::plan::Gate,
    what: &str,
    dir: &std::path::Path,
    warnings: &mut Vec<Diagnostic>,
) {
    let commands: Vec<(String, &str, crate::project::Pos)> = match &g.kind {
        GateKind::Pipeline { steps } => steps
            .iter()
            .map(|s| (format!("{what}, step `{}`", s.name), &*s.command, s.pos))
            .collect(),
        GateKind::Process { command } => vec![(what.to_string(), command, g.pos)],
        GateKind::Wasm { .. } => Vec::new(),
    };
    for (who, command, pos) in commands {
        if let Some(problem) = missing_program(command, dir) {
            warnings.push(Diagnostic {
                pos,
                message: format!("{who}: {problem}"),
                hint: Some("install it before `validate` runs, or fix the command".into()),
            });
        }
    }
    for (key, _) in crate::judge::runner::missing_secrets(g) {
        warnings.push(Diagnostic {
            pos: g.pos,
            message: format!("{what}: secret `{key}` is not in the environment"),
            hint: Some(format!(
                "`validate` stops (exit 2) unless {key} is set when it runs"
            )),
        });
    }
}

/// A WebAssembly gate's problem as an error placed where it is: at the
/// plugin, its `sha256:` pin or its `config:`.
fn place_error(
    errors: &mut Diagnostics,
    e: PrepareError,
    what: &str,
    plugin: &str,
    pos: &crate::project::WasmPos,
    gate_pos: crate::project::Pos,
) {
    let at_plugin = pos.plugin.unwrap_or(gate_pos);
    let problem = |e: &anyhow::Error| {
        (
            format!("{what}: {}", clean_line(&format!("{e:#}"))),
            crate::error::find_hint(e).map(str::to_string),
        )
    };
    match e {
        PrepareError::Plugin(e) => {
            let (msg, hint) = problem(&e);
            errors.error(at_plugin, msg, hint);
        }
        PrepareError::Pin(e) => {
            let (msg, hint) = problem(&e);
            errors.error(pos.sha256.unwrap_or(at_plugin), msg, hint);
        }
        PrepareError::Config(ConfigCheck::Rejected(msg)) => errors.error(
            pos.config.unwrap_or(pos.executor),
            format!(
                "{what}: `config` rejected by `{plugin}`: {}",
                clean_line(&msg)
            ),
            Some("fix the task's `config:`".into()),
        ),
        PrepareError::Config(ConfigCheck::Failed(cause)) => errors.error(
            at_plugin,
            format!(
                "{what}: `{plugin}` failed while checking its config: {}",
                clean_line(&cause)
            ),
            Some("the plugin is broken or too limited; raise `limits:` or rebuild it".into()),
        ),
    }
}

/// Shell words that are not programs.
const SHELL_WORDS: &[&str] = &[
    "cd", "export", "set", "unset", "exec", "eval", "source", ".", "if", "for", "while", "case",
    "until", "{", "(", "!", "[", "[[", "test", "true", "false", "echo", "printf", "exit", "return",
    "read", "trap", "wait", "command", "type", "ulimit", "umask",
];

/// Why the program a command starts cannot be found, if it cannot: a
/// path (relative to the project) that does not exist, or a name not on
/// `PATH`. Leading `VAR=value` assignments are skipped; shell builtins and
/// keywords are not programs.
fn missing_program(command: &str, dir: &std::path::Path) -> Option<String> {
    let word = command
        .split_whitespace()
        .find(|w| !(w.contains('=') && !w.starts_with('=') && !w.contains('/')))?;
    let word = word.trim_matches(|c| c == '"' || c == '\'');
    if SHELL_WORDS.contains(&word) || word.contains('$') || word.contains('`') {
        return None;
    }
    if word.contains('/') {
        let path = dir.join(word);
        return (!path.exists()).then(|| format!("`{word}` does not exist"));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|d| {
        let candidate = d.join(word);
        std::fs::metadata(&candidate).is_ok_and(|m| {
            use std::os::unix::fs::PermissionsExt as _;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })
    });
    (!found).then(|| format!("`{word}` is not on PATH"))
}

fn render(project: &Project, plan: &Plan) -> String {
    let mut out = String::new();
    let format = match project.format {
        Format::Pipeline => "pipeline format",
        Format::Legacy => "legacy format",
        Format::Current => "current format",
    };
    let _ = writeln!(
        out,
        "project {} ({}, {})",
        plan.project.as_deref().unwrap_or("(unnamed)"),
        project.file.display(),
        format
    );
    for m in &plan.models {
        if m.gates.is_empty() {
            let _ = writeln!(out, "  model {} (no validation task)", clean_line(&m.name));
            continue;
        }
        let _ = writeln!(out, "  model {}", clean_line(&m.name));
        let width = m
            .gates
            .iter()
            .map(|g| clean_line(&g.name).chars().count())
            .max()
            .unwrap_or(0);
        for g in &m.gates {
            let what = match &g.kind {
                GateKind::Process { .. } | GateKind::Pipeline { .. } => g.kind.what().into_owned(),
                GateKind::Wasm { plugin, sha256, .. } => match sha256 {
                    Some(h) => format!("{plugin} (sha256 {}…)", &h[..12]),
                    None => plugin.clone(),
                },
            };
            let _ = writeln!(
                out,
                "    gate {:width$}  {:7}  {}",
                clean_line(&g.name),
                g.kind.label(),
                clean_line(&what)
            );
        }
    }
    let gated = plan.gated_models().count();
    let gates: usize = plan.models.iter().map(|m| m.gates.len()).sum();
    let _ = writeln!(
        out,
        "ok: {} model{}, {gated} with gates, {gates} gate{}",
        plan.models.len(),
        if plan.models.len() == 1 { "" } else { "s" },
        if gates == 1 { "" } else { "s" }
    );
    out
}
