//! The plan: which gates guard which model, with every reference resolved.
//!
//! A project file says *what* a gate is in several ways (a `taskRef`, an
//! inline task, a template, an executor or a legacy `runcommand`); the plan is
//! the single answer the gate runners act on. `modelgate check` prints it
//! without touching any registry.

use std::time::Duration;

use crate::project::{
    Diagnostics, Executor, Limits, Model, Pos, Project, Step, Task, TaskRef, TaskType, did_you_mean,
};

/// Every model of a project with its resolved gates.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    /// The project's `name`/`projectid`.
    pub project: Option<String>,
    /// Models in file order, including those without gates.
    pub models: Vec<ModelPlan>,
}

/// One model's gates.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelPlan {
    /// The registered model name.
    pub name: String,
    /// Its gates; all must pass.
    pub gates: Vec<Gate>,
}

/// A resolved gate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Gate {
    /// The task's name (or `validationTask` for an unnamed inline task).
    pub name: String,
    /// What runs.
    #[serde(flatten)]
    pub kind: GateKind,
    /// Extra environment for process gates, after the inherited one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// Secrets to pass through: (variable read from modelgate's environment,
    /// variable the gate sees).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<(String, String)>,
    /// The task's own `timeout:`, if any.
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub timeout: Option<Duration>,
    /// Where the task is defined in the project file.
    #[serde(skip)]
    pub pos: Pos,
}

/// What a gate runs.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum GateKind {
    /// A command run with `sh -c` in the project directory.
    Process {
        /// The full command line.
        command: String,
    },
    /// AME's oldest `pipeline:` task: its steps' commands run in order, each
    /// with `sh -c` in the project directory, as one process gate that
    /// fails at the first step that does not exit 0.
    Pipeline {
        /// The steps, in order.
        steps: Vec<Step>,
    },
    /// A WebAssembly component.
    Wasm {
        /// `builtin:NAME` or a path relative to the project file.
        plugin: String,
        /// The pinned sha256, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        /// The task's `config:` as JSON.
        config: serde_json::Value,
        /// Limits overriding the defaults.
        #[serde(skip)]
        limits: Limits,
        /// Where its keys are in the project file.
        #[serde(skip)]
        pos: Box<crate::project::WasmPos>,
    },
}

impl GateKind {
    /// `process` (a command or a pipeline of them) or `wasm`.
    pub fn label(&self) -> &'static str {
        self.kind().as_str()
    }

    /// What runs the gate.
    pub fn kind(&self) -> crate::gate::Kind {
        match self {
            GateKind::Process { .. } | GateKind::Pipeline { .. } => crate::gate::Kind::Process,
            GateKind::Wasm { .. } => crate::gate::Kind::Wasm,
        }
    }

    /// The command, the pipeline's commands (see [`pipeline_display`]), or
    /// the plugin, for display.
    pub fn what(&self) -> std::borrow::Cow<'_, str> {
        match self {
            GateKind::Process { command } => command.into(),
            GateKind::Pipeline { steps } => pipeline_display(steps).into(),
            GateKind::Wasm { plugin, .. } => plugin.into(),
        }
    }
}

/// A pipeline as one line, for display only: its steps' commands in the
/// order they run, joined by ` → ` (a step's own `&&` or `;` stays its own).
pub fn pipeline_display(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| s.command.as_str())
        .collect::<Vec<_>>()
        .join(" → ")
}

mod opt_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

impl Plan {
    /// Resolves every model's gates, reporting all problems at once.
    pub fn build(project: &Project) -> Result<Plan, Diagnostics> {
        let mut diags = Diagnostics::new(&project.file);
        let mut models = Vec::new();
        for model in &project.models {
            models.push(ModelPlan {
                name: model.name.clone(),
                gates: model_gates(project, model, &mut diags),
            });
        }
        if diags.is_empty() {
            Ok(Plan {
                project: project.name.clone(),
                models,
            })
        } else {
            diags.sort();
            Err(diags)
        }
    }

    /// The models that have at least one gate.
    pub fn gated_models(&self) -> impl Iterator<Item = &ModelPlan> {
        self.models.iter().filter(|m| !m.gates.is_empty())
    }

    /// The model called `name`.
    pub fn model(&self, name: &str) -> Option<&ModelPlan> {
        self.models.iter().find(|m| m.name == name)
    }
}

fn model_gates(project: &Project, model: &Model, diags: &mut Diagnostics) -> Vec<Gate> {
    let mut gates = Vec::new();
    // Names taken so far: a set, so a model of many gates is checked in
    // linear time.
    let mut names = std::collections::HashSet::new();
    for (i, spec) in model.gates.iter().enumerate() {
        let fallback = if model.gates.len() == 1 {
            "validationTask".to_string()
        } else {
            format!("validationTasks[{i}]")
        };
        let Some(task) = resolve_refs(project, model, spec, diags, 0) else {
            continue;
        };
        let Some(task) = apply_template(project, &task, diags) else {
            continue;
        };
        let name = task.name.clone().unwrap_or(fallback);
        let Some(kind) = gate_kind(&task, &name, diags) else {
            continue;
        };
        if !names.insert(name.clone()) {
            diags.error(
                spec.pos,
                format!("model `{}` lists gate `{name}` twice", model.name),
                Some("remove the repeated entry".into()),
            );
            continue;
        }
        gates.push(Gate {
            name,
            kind,
            env: task.env.clone(),
            secrets: task.secrets.clone(),
            timeout: task.timeout,
            pos: task.pos,
        });
    }
    gates
}

/// Follows `taskRef`s; fields written beside a `taskRef` override the
/// referenced task's.
fn resolve_refs(
    project: &Project,
    model: &Model,
    task: &Task,
    diags: &mut Diagnostics,
    depth: usize,
) -> Option<Task> {
    let Some(r) = &task.task_ref else {
        return Some(task.clone());
    };
    if depth > 16 {
        diags.error(
            r.pos,
            format!("`taskRef` chain from model `{}` does not end", model.name),
            Some("remove the cycle between the tasks".into()),
        );
        return None;
    }
    if !is_local(project, r) {
        diags.error(
            r.pos,
            format!(
                "model `{}` refers to task `{}` of project `{}`, which modelgate cannot resolve",
                model.name,
                r.name,
                r.project.as_deref().unwrap_or_default()
            ),
            Some("copy the task into this project's `tasks:`".into()),
        );
        return None;
    }
    let Some(target) = project.task(&r.name) else {
        let names = names_for_hint(&project.tasks, diags);
        let otherwise = if project.tasks.is_empty() {
            "the project defines no `tasks:`"
        } else {
            "define it under `tasks:`"
        };
        let hint = did_you_mean(&r.name, &names, otherwise, diags);
        diags.error(
            r.pos,
            format!(
                "model `{}` refers to task `{}`, which `tasks:` does not define",
                model.name, r.name
            ),
            Some(hint),
        );
        return None;
    };
    let resolved = resolve_refs(project, model, target, diags, depth + 1)?;
    Some(overlay(task, &resolved))
}

/// The names to suggest from, or none once suggestions are no longer made
/// (collecting them per problem would make a broken file quadratic).
fn names_for_hint<'p>(list: &'p [Task], diags: &Diagnostics) -> Vec<&'p str> {
    if diags.items.len() >= crate::project::MAX_SUGGESTIONS {
        return Vec::new();
    }
    list.iter().filter_map(|t| t.name.as_deref()).collect()
}

fn is_local(project: &Project, r: &TaskRef) -> bool {
    match &r.project {
        None => true,
        Some(p) => project.name.as_deref() == Some(p.as_str()),
    }
}

/// `top`'s fields over `base`'s; `env` merges by key, `top` winning. What
/// runs (`executor`, `runcommand`/`command` or `pipeline`) is taken whole
/// from `top` when it says any of it: a command written over a referenced
/// task's executor replaces it rather than losing to it.
fn overlay(top: &Task, base: &Task) -> Task {
    let runs = if top.executor.is_some() || top.runcommand.is_some() || top.pipeline.is_some() {
        top
    } else {
        base
    };
    let mut env = base.env.clone();
    for (k, v) in &top.env {
        env.retain(|(bk, _)| bk != k);
        env.push((k.clone(), v.clone()));
    }
    let mut secrets = base.secrets.clone();
    for s in &top.secrets {
        secrets.retain(|b| b.1 != s.1);
        secrets.push(s.clone());
    }
    Task {
        name: top.name.clone().or_else(|| base.name.clone()),
        pos: base.pos,
        task_ref: None,
        executor: runs.executor.clone(),
        runcommand: runs.runcommand.clone(),
        pipeline: runs.pipeline.clone(),
        task_type: top.task_type.or(base.task_type),
        env,
        secrets,
        timeout: top.timeout.or(base.timeout),
        from_template: top
            .from_template
            .clone()
            .or_else(|| base.from_template.clone()),
        template_ref: top
            .template_ref
            .clone()
            .or_else(|| base.template_ref.clone()),
    }
}

fn apply_template(project: &Project, task: &Task, diags: &mut Diagnostics) -> Option<Task> {
    let task_name = task.name.as_deref().unwrap_or("validationTask");
    if let Some((tref, pos)) = &task.template_ref {
        // `project.template`: AME resolves it from another project's source.
        let (proj, name) = tref.split_once('.').unwrap_or(("", tref));
        if !proj.is_empty() && Some(proj) != project.name.as_deref() {
            diags.error(
                *pos,
                format!(
                    "gate `{task_name}` uses template `{tref}` from project `{proj}`, which modelgate cannot resolve"
                ),
                Some("copy the template into this project's `templates:` and use `fromTemplate: {name: …}`".into()),
            );
            return None;
        }
        return merge_template(project, task, name, *pos, diags);
    }
    if let Some(r) = &task.from_template {
        if !is_local(project, r) {
            diags.error(
                r.pos,
                format!(
                    "gate `{task_name}` uses template `{}` from project `{}`, which modelgate cannot resolve",
                    r.name,
                    r.project.as_deref().unwrap_or_default()
                ),
                Some("copy the template into this project's `templates:`".into()),
            );
            return None;
        }
        return merge_template(project, task, &r.name, r.pos, diags);
    }
    Some(task.clone())
}

fn merge_template(
    project: &Project,
    task: &Task,
    name: &str,
    pos: Pos,
    diags: &mut Diagnostics,
) -> Option<Task> {
    let Some(template) = project.template(name) else {
        let names = names_for_hint(&project.templates, diags);
        let hint = did_you_mean(name, &names, "define it under `templates:`", diags);
        diags.error(pos, format!("template `{name}` is not defined"), Some(hint));
        return None;
    };
    let mut merged = overlay(task, template);
    merged.from_template = None;
    merged.template_ref = None;
    merged.name = task.name.clone();
    merged.pos = task.pos;
    Some(merged)
}

fn gate_kind(task: &Task, name: &str, diags: &mut Diagnostics) -> Option<GateKind> {
    if let Some((exec, _)) = &task.executor {
        return Some(match exec {
            Executor::PipEnv { command } => GateKind::Process {
                command: format!("pipenv run {command}"),
            },
            Executor::Poetry { command, .. } => GateKind::Process {
                command: format!("poetry run {command}"),
            },
            Executor::Pip { command, .. } | Executor::Custom { command, .. } => GateKind::Process {
                command: command.clone(),
            },
            Executor::Mlflow => GateKind::Process {
                command: "mlflow run .".into(),
            },
            Executor::Wasm(w) => GateKind::Wasm {
                plugin: w.plugin.clone(),
                sha256: w.sha256.clone(),
                config: w.config.clone(),
                limits: w.limits,
                pos: w.pos.clone(),
            },
        });
    }
    if let Some(steps) = &task.pipeline {
        return Some(GateKind::Pipeline {
            steps: steps.clone(),
        });
    }
    let command = match (&task.runcommand, task.task_type) {
        // AME's controller ran an Mlflow task as `mlflow run .`, whatever
        // its `runcommand` said.
        (_, Some(TaskType::Mlflow)) => "mlflow run .".into(),
        (Some(cmd), Some(TaskType::Pipenv)) => format!("pipenv run {cmd}"),
        (Some(cmd), Some(TaskType::Poetry)) => format!("poetry run {cmd}"),
        (Some(cmd), _) => cmd.clone(),
        (None, _) => {
            diags.error(
                task.pos,
                format!("gate `{name}` has nothing to run"),
                Some(
                    "give the task `executor: !pipEnv {command: …}`, `executor: !wasm {plugin: …}`, `runcommand:` or `pipeline:`"
                        .into(),
                ),
            );
            return None;
        }
    };
    Some(GateKind::Process { command })
}

/// Loads the project file and builds its plan; every problem is reported.
pub fn load(dir: &std::path::Path) -> anyhow::Result<(Project, Plan)> {
    let project = Project::load(dir).map_err(|e| {
        if e.downcast_ref::<crate::project::Diagnostics>().is_some() {
            crate::error::with_hint(
                e,
                "fix the problems listed above; `modelgate check` lists them all",
            )
        } else {
            e
        }
    })?;
    let plan = Plan::build(&project).map_err(|d| {
        crate::error::with_hint(
            anyhow::Error::new(d),
            "fix the problems listed above; `modelgate check` lists them all",
        )
    })?;
    Ok((project, plan))
}

impl Plan {
    /// The models to judge: `name` (which must have a validation task), or
    /// every model that has one; an error when there is none. `file` is
    /// the project file, for the messages.
    pub fn select(
        &self,
        name: Option<&str>,
        file: &std::path::Path,
    ) -> anyhow::Result<Vec<&ModelPlan>> {
        use crate::error::with_hint;
        let Some(name) = name else {
            let gated: Vec<&ModelPlan> = self.gated_models().collect();
            if gated.is_empty() {
                return Err(with_hint(
                    anyhow::anyhow!("no model in `{}` has a validation task", file.display()),
                    "give a model `validationTask:` (or `validationTasks:`)",
                ));
            }
            return Ok(gated);
        };
        let Some(m) = self.model(name) else {
            let names: Vec<&str> = self.models.iter().map(|m| m.name.as_str()).collect();
            return Err(with_hint(
                anyhow::anyhow!("model `{name}` is not defined in `{}`", file.display()),
                crate::suggest::hint(name, &names, "define it under `models:`"),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn plan(src: &str) -> Result<Plan, String> {
        let p = Project::parse(Path::new("ame.yaml"), src).map_err(|d| d.to_string())?;
        Plan::build(&p).map_err(|d| d.to_string())
    }

    #[test]
    fn missing_task_ref_names_both() {
        let err = plan(
            "name: x\nmodels:\n  - name: m\n    validationTask: {taskRef: valdate}\ntasks:\n  - name: validate\n    runcommand: x\n",
        )
        .expect_err("must fail");
        assert!(err.contains("model `m` refers to task `valdate`"), "{err}");
        assert!(err.contains("did you mean `validate`?"), "{err}");
    }

    #[test]
    fn templates_merge_under_the_task() {
        let p = plan(
            "name: x
templates:
  - name: base
    executor: !pipEnv {command: python validate.py}
    env: [{key: A, val: '1'}, {key: B, val: '2'}]
    timeout: 1m
models:
  - name: m
    validationTask: {taskRef: {name: v}}
tasks:
  - name: v
    fromTemplate: {name: base}
    env: [{key: B, val: '3'}]
",
        )
        .expect("valid");
        let g = &p.models[0].gates[0];
        assert_eq!(g.name, "v");
        assert_eq!(g.kind.what(), "pipenv run python validate.py");
        assert_eq!(
            g.env,
            vec![("A".into(), "1".into()), ("B".into(), "3".into())]
        );
        assert_eq!(g.timeout, Some(Duration::from_secs(60)));
    }

    #[test]
    fn remote_templates_are_refused_only_for_gates() {
        // The legacy guide's training task uses a remote template; that is fine.
        let ok = plan(
            "projectid: p\nmodels:\n  - name: m\n    validationTask: {taskRef: v}\n    training: {task: {taskRef: t}}\ntasks:\n  - name: t\n    templateRef: shared.x\n    taskType: Mlflow\n  - name: v\n    runcommand: python validate.py\n",
        );
        assert!(ok.is_ok(), "{ok:?}");
        let err = plan(
            "projectid: p\nmodels:\n  - name: m\n    validationTask: {taskRef: v}\ntasks:\n  - name: v\n    templateRef: shared.x\n",
        )
        .expect_err("must fail");
        assert!(err.contains("cannot resolve"), "{err}");
    }

    #[test]
    fn executors_map_to_commands() {
        let p = plan(
            "name: x
models:
  - name: m
    validationTasks:
      - {name: a, executor: !pipEnv {command: c}}
      - {name: b, executor: !poetry {pythonVersion: '3.11', command: c}}
      - {name: c, executor: !pip {command: c}}
      - {name: d, executor: !custom {command: c}}
      - {name: e, executor: !mlflow}
      - {name: f, runcommand: c, taskType: Pipenv}
",
        )
        .expect("valid");
        let cmds: Vec<_> = p.models[0].gates.iter().map(|g| g.kind.what()).collect();
        assert_eq!(
            cmds,
            [
                "pipenv run c",
                "poetry run c",
                "c",
                "c",
                "mlflow run .",
                "pipenv run c"
            ]
        );
    }

    #[test]
    fn a_pipeline_task_is_one_gate_of_its_steps() {
        let p = plan(
            "projectname: p\nmodels:\n  - name: m\n    validationTask: {taskRef: v}\ntasks:\n  v:\n    pipeline:\n      - {taskname: a, runcommand: ./a}\n      - {taskname: b, runcommand: ./b}\n",
        )
        .expect("valid");
        let g = &p.models[0].gates[0];
        assert_eq!(g.name, "v");
        assert_eq!(g.kind.label(), "process");
        assert_eq!(g.kind.what(), "./a → ./b");
        let GateKind::Pipeline { steps } = &g.kind else {
            panic!("not a pipeline: {:?}", g.kind)
        };
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    /// What runs is taken whole from the task written over a `taskRef`:
    /// a `command` beside the reference replaces the referenced task's
    /// executor instead of losing to it.
    #[test]
    fn a_command_beside_a_task_ref_replaces_what_runs() {
        let p = plan(
            "name: x\nmodels:\n  - name: m\n    validationTask: {taskRef: {name: base}, runcommand: ./mine}\ntasks:\n  - name: base\n    executor: !pipEnv {command: python theirs.py}\n",
        )
        .expect("valid");
        assert_eq!(p.models[0].gates[0].kind.what(), "./mine");
    }

    #[test]
    fn gate_without_command_is_an_error() {
        let err = plan("name: x\nmodels:\n  - name: m\n    validationTask: {name: v}\n")
            .expect_err("must fail");
        assert!(err.contains("gate `v` has nothing to run"), "{err}");
    }
}
