//! The AME project file (`ame.yaml` / `ame.yml`), in both formats found in
//! the wild, plus modelgate's `!wasm` executor and `validationTasks:` list.
//!
//! Reading is strict where AME is lax: a key that neither format defines is an
//! error with file, line, column and the nearest valid key, because a misspelt
//! gate that silently never runs is the worst failure a gatekeeper can have.

mod diag;
pub mod json_schema;
pub mod keys;
mod reader;

pub mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

pub use crate::suggest::nearest;
pub use diag::{Diagnostic, Diagnostics, MAX_SUGGESTIONS, did_you_mean};
pub use yaml::Pos;

use crate::error::HintExt as _;

/// The file names modelgate looks for, in order.
pub const FILE_NAMES: [&str; 2] = ["ame.yaml", "ame.yml"];

/// Which generation of AME's project file a file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The oldest generation: `projectname`, `tasks:` keyed by name, tasks
    /// made of `pipeline:` steps (`taskname`, `runcommand`, `env` of
    /// `name`/`value`, `secrets` of `name`/`envkey`).
    Pipeline,
    /// The older generations of AME's model-validation guide: `projectid`,
    /// `taskRef: NAME`, `runcommand` (or `command`), `taskType` /
    /// `task_type`, `templateRef`, `source`.
    Legacy,
    /// The current format: `name`, `taskRef: {name}`, tagged executors.
    Current,
}

/// A parsed project file.
#[derive(Debug, Clone)]
pub struct Project {
    /// The file it was read from.
    pub file: PathBuf,
    /// The directory commands run in (the file's directory).
    pub dir: PathBuf,
    /// `name:` or `projectid:`.
    pub name: Option<String>,
    /// Which format the file uses.
    pub format: Format,
    /// The models, in file order.
    pub models: Vec<Model>,
    /// The named tasks, in file order.
    pub tasks: Vec<Task>,
    /// The task templates.
    pub templates: Vec<Task>,
    /// Index of the first task and template of each name, so resolving
    /// thousands of references stays linear.
    index: Index,
}

#[derive(Debug, Clone, Default)]
struct Index {
    tasks: HashMap<String, usize>,
    templates: HashMap<String, usize>,
}

impl Index {
    fn of(list: &[Task]) -> HashMap<String, usize> {
        let mut map = HashMap::with_capacity(list.len());
        for (i, t) in list.iter().enumerate() {
            if let Some(name) = &t.name {
                map.entry(name.clone()).or_insert(i);
            }
        }
        map
    }
}

/// A model and the gates that guard it.
#[derive(Debug, Clone)]
pub struct Model {
    /// The registered model's name in MLflow.
    pub name: String,
    /// Where the model is defined.
    pub pos: Pos,
    /// `validationTask` followed by the entries of `validationTasks`.
    pub gates: Vec<Task>,
}

/// A reference to a task by name (`taskRef`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    /// The task's name.
    pub name: String,
    /// The project holding it, when not this one.
    pub project: Option<String>,
    /// Where the reference is written.
    pub pos: Pos,
}

/// A task: named under `tasks:`/`templates:` or inline under a model.
#[derive(Debug, Clone, Default)]
pub struct Task {
    /// `name:`, if any.
    pub name: Option<String>,
    /// Where the task is defined.
    pub pos: Pos,
    /// `taskRef:` — the task this one stands for.
    pub task_ref: Option<TaskRef>,
    /// `executor:` and where it is written.
    pub executor: Option<(Executor, Pos)>,
    /// The older generations' `runcommand:` (or `command:`).
    pub runcommand: Option<String>,
    /// The oldest generation's `pipeline:` steps, run in order.
    pub pipeline: Option<Vec<Step>>,
    /// The legacy format's `taskType:`.
    pub task_type: Option<TaskType>,
    /// `env:` entries, in order.
    pub env: Vec<(String, String)>,
    /// `secrets:` entries: (AME secret key, variable it is injected as).
    pub secrets: Vec<(String, String)>,
    /// modelgate's `timeout:` for process gates.
    pub timeout: Option<Duration>,
    /// `fromTemplate:` — a template to merge under this task.
    pub from_template: Option<TaskRef>,
    /// The legacy format's `templateRef: project.template`.
    pub template_ref: Option<(String, Pos)>,
}

/// One step of a `pipeline:` task (AME's oldest generation).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// `taskname:`, or `step N` (1-based) when it has none.
    pub name: String,
    /// `runcommand:`, run with `sh -c` in the project directory.
    pub command: String,
    /// `env:` entries of this step, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// `secrets:` of this step: (secret read from modelgate's environment,
    /// variable the step sees).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<(String, String)>,
    /// Where the step is written.
    #[serde(skip)]
    pub pos: Pos,
}

/// The most steps one `pipeline:` may have.
pub const MAX_STEPS: usize = 64;

/// The prefix of a secret that stands for a `!VaultSecret`:
/// `vault:PATH#KEY`. No environment variable has such a name, so it is
/// found only as the variable the gate reads (its `envkey`).
pub const VAULT_PREFIX: &str = "vault:";

/// The legacy format's task types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskType {
    /// Run the command with `pipenv run`.
    Pipenv,
    /// Run the project with `mlflow run .`.
    Mlflow,
    /// Run the command with `poetry run`.
    Poetry,
}

/// How a task runs: AME's tagged executors plus modelgate's `!wasm`.
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    /// `!pipEnv {command}` → `pipenv run COMMAND`.
    PipEnv {
        /// The command.
        command: String,
    },
    /// `!pip {pythonVersion, command}` → `COMMAND`.
    Pip {
        /// The Python version AME would provision (informational here).
        python_version: Option<String>,
        /// The command.
        command: String,
    },
    /// `!poetry {pythonVersion, command}` → `poetry run COMMAND`.
    Poetry {
        /// The Python version AME would provision (informational here).
        python_version: Option<String>,
        /// The command.
        command: String,
    },
    /// `!custom {pythonVersion, command}` → `COMMAND`.
    Custom {
        /// The Python version AME would provision (informational here).
        python_version: Option<String>,
        /// The command.
        command: String,
    },
    /// `!mlflow` → `mlflow run .`.
    Mlflow,
    /// `!wasm {plugin, sha256, config, limits}`: a WebAssembly gate.
    Wasm(WasmExecutor),
}

/// A WebAssembly gate's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WasmExecutor {
    /// `builtin:NAME` or a path to a `.wasm` relative to the project file.
    pub plugin: String,
    /// Lower-case hex sha256 the component must have.
    pub sha256: Option<String>,
    /// The `config:` mapping, as JSON.
    pub config: serde_json::Value,
    /// Sandbox limits overriding the defaults.
    pub limits: Limits,
    /// Where `plugin:`, `sha256:` and `config:` are in the project file.
    pub pos: Box<WasmPos>,
}

/// Where a WebAssembly executor's keys are, for diagnostics about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WasmPos {
    /// The `executor:` mapping itself.
    pub executor: Pos,
    /// The `plugin:` value.
    pub plugin: Option<Pos>,
    /// The `sha256:` value.
    pub sha256: Option<Pos>,
    /// The `config:` value.
    pub config: Option<Pos>,
}

/// Sandbox limits of a WebAssembly gate; `None` means the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Wall-clock time for one evaluation.
    pub timeout: Option<Duration>,
    /// Linear-memory cap in bytes.
    pub memory: Option<u64>,
    /// Registry calls allowed per evaluation.
    pub registry_calls: Option<u64>,
}

impl Project {
    /// Finds and parses the project file in `dir` (or `dir` itself if it is a file).
    pub fn load(dir: &Path) -> anyhow::Result<Project> {
        let file = locate(dir)?;
        let bytes = crate::files::read_bounded(&file, crate::files::MAX_PROJECT_FILE)
            .with_context(|| format!("failed to read `{}`", file.display()))
            .hint(format!(
                "a project file is a regular file of at most {} (see docs/security.md)",
                crate::text::human_bytes(crate::files::MAX_PROJECT_FILE)
            ))?;
        let source = String::from_utf8(bytes)
            .map_err(|e| {
                anyhow::anyhow!(
                    "`{}` is not UTF-8 text (invalid byte at offset {})",
                    file.display(),
                    e.utf8_error().valid_up_to()
                )
            })
            .hint("save the project file as UTF-8")?;
        Ok(Project::parse(&file, &source)?)
    }

    /// Parses `source`, which was read from `file`.
    pub fn parse(file: &Path, source: &str) -> Result<Project, Diagnostics> {
        reader::parse(file, source)
    }

    /// The named task `name`, if defined.
    pub fn task(&self, name: &str) -> Option<&Task> {
        self.index.tasks.get(name).and_then(|&i| self.tasks.get(i))
    }

    /// The named template `name`, if defined.
    pub fn template(&self, name: &str) -> Option<&Task> {
        self.index
            .templates
            .get(name)
            .and_then(|&i| self.templates.get(i))
    }

    /// Builds the name index; called once the lists are complete.
    fn reindex(&mut self) {
        self.index = Index {
            tasks: Index::of(&self.tasks),
            templates: Index::of(&self.templates),
        };
    }
}

/// The project file in `path` (a directory, or the file itself).
pub fn locate(path: &Path) -> anyhow::Result<PathBuf> {
    // Anything but a directory is taken as the file itself; reading it
    // then refuses what is not a regular file (a FIFO, a device).
    if path.exists() && !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if !path.exists() {
        return Err(anyhow::anyhow!(
            "project directory `{}` does not exist",
            path.display()
        ))
        .hint("pass an existing directory with `--project DIR`");
    }
    for name in FILE_NAMES {
        let candidate = path.join(name);
        if candidate.symlink_metadata().is_ok() {
            return Ok(candidate);
        }
    }
    Err(anyhow::anyhow!(
        "no `ame.yaml` or `ame.yml` in `{}`",
        path.display()
    ))
    .hint("run modelgate in an AME project, or pass `--project DIR`")
}
