//! `modelgate check`: validate the project file and print the plan, without
//! touching any registry (AME's `ame validate`, for CI on every commit).

use std::fmt::Write as _;

use crate::cli::{CheckArgs, PlanFormat};
use crate::error::with_hint;
use crate::exit::ExitStatus;
use crate::plan::{GateKind, Plan};
use crate::project::{Format, Project};
use crate::text::clean_line;

/// Loads the project file and builds its plan; every problem is reported.
pub fn load_plan(dir: &std::path::Path) -> anyhow::Result<(Project, Plan)> {
    let project = Project::load(dir).map_err(|e| {
        if e.downcast_ref::<crate::project::Diagnostics>().is_some() {
            with_hint(
                e,
                "fix the problems listed above; `modelgate check` lists them all",
            )
        } else {
            e
        }
    })?;
    let plan = Plan::build(&project).map_err(|d| {
        with_hint(
            anyhow::Error::new(d),
            "fix the problems listed above; `modelgate check` lists them all",
        )
    })?;
    Ok((project, plan))
}

/// Runs `modelgate check`.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitStatus> {
    let (project, plan) = load_plan(&args.project.project)?;
    let text = match args.format {
        PlanFormat::Json => {
            let mut s = serde_json::to_string_pretty(&plan)?;
            s.push('\n');
            s
        }
        PlanFormat::Human => render(&project, &plan),
    };
    crate::output::stdout(&text)?;
    Ok(ExitStatus::Pass)
}

fn render(project: &Project, plan: &Plan) -> String {
    let mut out = String::new();
    let format = match project.format {
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
                GateKind::Process { command } => command.clone(),
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
