//! Every gate checked without a registry (`modelgate check`): what
//! [`super::Runner::prepare`] would refuse, placed in the project file,
//! and what may be missing when `validate` runs, as warnings.

use crate::gate::wasm::{ConfigCheck, PrepareError, WasmHost};
use crate::plan::{GateKind, Plan};
use crate::project::{Diagnostic, Diagnostics, Project};
use crate::text::clean_line;

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
