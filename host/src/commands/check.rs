//! `modelgate check`: validate the project file and print the plan, without
//! touching any registry (AME's `ame validate`, for CI on every commit).

use std::fmt::Write as _;

use crate::cli::{CheckArgs, PlanFormat};
use crate::error::with_hint;
use crate::exit::ExitStatus;
use crate::plan::{GateKind, Plan};
use crate::project::{Format, Project};
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
    let (errors, warnings) = crate::judge::check::check_gates(&project, &plan).await;
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
