//! The project file's vocabulary: every mapping's keys, the shape each value
//! takes and what it means. The reader checks keys against these tables
//! (`reader/`: a key that is not in its table is an error), and
//! `modelgate schema` turns the same tables into a JSON Schema for editors
//! and CI ([`super::json_schema`]), so the two cannot disagree on a key.
//!
//! The tables are the union of every field AME's structs ever defined for
//! the file, in four generations (one reader module each, `reader/`):
//! the Go CLI's (2022-09 … 12: `projectname`, tasks keyed by name,
//! `pipeline:` steps, `defaultTask`), the first Rust CLI's (2022-11 …
//! 2023-04: `projectid`, `command`, `task_type` as a number, `image`), the
//! controller's of the model-validation guide (2022-12 … 2023-04:
//! `runcommand`, `taskType`, `templateRef`, `!AmeSecret`/`!VaultSecret`,
//! `dataSet`, `logEntry`, `modelType`, `training.schedule`,
//! `deployment.ingress`) and the current one (its protobuf
//! `ProjectCfg`/`TaskCfg`/`Model` messages in camelCase) — plus what AME's
//! guide wrote that no struct read (`type`, `autoDeploy`, `data_sets`,
//! `save_changed_files`: accepted, not used) and modelgate's own
//! `validationTasks`, `timeout` and `!wasm` executor.

/// A mapping of the project file: the keys it may hold.
#[derive(Debug)]
pub struct Table {
    /// Its name among the schema's definitions.
    pub id: &'static str,
    /// What it is, for the schema's description.
    pub doc: &'static str,
    /// Its keys, in the order the schema lists them.
    pub keys: &'static [Key],
    /// Keys it must have.
    pub required: &'static [&'static str],
    /// A rule between its keys that a key list cannot say.
    pub rule: Rule,
}

/// One key of a [`Table`].
#[derive(Debug)]
pub struct Key {
    /// The key as written.
    pub name: &'static str,
    /// The shape of its value.
    pub shape: Shape,
    /// What it means.
    pub doc: &'static str,
}

/// A rule between a table's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// None.
    None,
    /// An `env` entry: exactly one of `key`/`name`, not both `val` and `value`.
    EnvEntry,
    /// A secret: `ame` alone, or both `name` and `envkey`.
    Secret,
    /// A task: `command` and `runcommand` exclude each other, and `pipeline`
    /// excludes `executor` and `command` (beside `runcommand`, a pipeline
    /// with steps runs and the command does not, as in AME's Go CLI).
    Task,
}

/// The shape of a value, as the reader reads it.
#[derive(Debug)]
pub enum Shape {
    /// Any scalar but null, as its text (a plain `3.10` is `"3.10"`).
    Text,
    /// Any scalar, null being the empty text.
    OptText,
    /// Any scalar but null whose text is not blank.
    NonEmptyText,
    /// `true`/`True`/`TRUE` or `false`/`False`/`FALSE`.
    Bool,
    /// A whole number from 0 to this maximum.
    Whole(u64),
    /// A duration: seconds, or `250ms`, `30s`, `10m`, `1h30m`; at most a week.
    Duration,
    /// A byte size: bytes, or `64MiB`, `1GB`, …; from 1 B to 64 GiB.
    Bytes,
    /// 64 hex digits, optionally after `sha256:`.
    Sha256,
    /// `builtin:NAME` or a path to a `.wasm` component.
    Plugin,
    /// `PipEnv`/`Pipenv`, `Mlflow` or `Poetry`, or a number (1 Mlflow,
    /// 2 Poetry, any other Pipenv).
    TaskType,
    /// A mapping with these keys (null is an empty one).
    Map(&'static Table),
    /// A list of these (null is an empty one).
    List(&'static Shape),
    /// Names to scalar values (`cpu: 2`).
    StringMap,
    /// Names to scalar values, or to mappings of them (Kubernetes'
    /// `limits: {cpu: 2}`, `requests: {…}`).
    Resources,
    /// A secret: `ame: {key, injectAs}`, `name`/`envkey` (also tagged
    /// `!AmeSecret`), or `!VaultSecret {…}`.
    Secret,
    /// Any mapping (null is an empty one).
    AnyMap,
    /// A task's name, or `{name, project}`.
    TaskRef,
    /// A list of named tasks, or (oldest generation) task name → task.
    Tasks,
    /// A tagged executor: `!wasm {…}`, `!pipEnv {…}`, ….
    Executor,
    /// `pipeline:` steps, at most [`super::MAX_STEPS`] (none is no pipeline).
    Pipeline,
    /// A `!wasm` gate's `config:`: any mapping, checked by the plugin
    /// (the built-ins' configs have schemas of their own).
    GateConfig,
}

/// The executor tags, as written after `!`, with the table of their body
/// (the reader's `executor` reads each tag's body with this table).
pub const EXECUTORS: &[(&str, &Table)] = &[
    ("pipEnv", &COMMAND),
    ("pip", &PYTHON_COMMAND),
    ("poetry", &PYTHON_COMMAND),
    ("custom", &PYTHON_COMMAND),
    ("mlflow", &MLFLOW),
    ("wasm", &WASM),
];

impl Table {
    /// Whether `key` is one of its keys.
    pub fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k.name == key)
    }

    /// Its keys' names.
    pub fn names(&self) -> Vec<&'static str> {
        self.keys.iter().map(|k| k.name).collect()
    }
}

const fn key(name: &'static str, shape: Shape, doc: &'static str) -> Key {
    Key { name, shape, doc }
}

/// The whole file.
pub static PROJECT: Table = Table {
    id: "project",
    doc: "An AME project file: the models, their validation gates, and the tasks they refer to.",
    keys: &[
        key(
            "name",
            Shape::Text,
            "The project's name (current generation); `taskRef: {project}` compares with it.",
        ),
        key(
            "projectid",
            Shape::Text,
            "The project's name in the model-validation guide's generation, used when `name` is absent.",
        ),
        key(
            "projectname",
            Shape::Text,
            "The project's name in the oldest (pipeline) generation, used when `name` and `projectid` are absent.",
        ),
        key(
            "defaultTask",
            Shape::Text,
            "Oldest generation: the task `ame run` ran when none was named (not used by modelgate).",
        ),
        key(
            "logEntry",
            Shape::AnyMap,
            "Guide's generation: a log entry AME's controller kept (not used by modelgate).",
        ),
        key(
            "models",
            Shape::List(&Shape::Map(&MODEL)),
            "The registered MLflow models and the validation gates that guard them.",
        ),
        key(
            "dataSets",
            Shape::List(&Shape::Map(&DATASET)),
            "AME data sets of the project (not used by modelgate).",
        ),
        key(
            "data_sets",
            Shape::List(&Shape::Map(&DATASET)),
            "`dataSets` as some of AME's own test files spell it, which AME ignored (not used by modelgate).",
        ),
        key(
            "tasks",
            Shape::Tasks,
            "Named tasks that gates refer to with `taskRef`: a list, or (oldest generation) a mapping of task name to task. Names are unique.",
        ),
        key(
            "templates",
            Shape::Tasks,
            "Task templates, merged under the tasks that name them with `fromTemplate` (or `templateRef`).",
        ),
        key(
            "enableTriggers",
            Shape::Bool,
            "Whether AME runs tasks' `triggers` (not used by modelgate).",
        ),
    ],
    required: &[],
    rule: Rule::None,
};

/// A model.
pub static MODEL: Table = Table {
    id: "model",
    doc: "A registered MLflow model and its validation gates. Model names are unique.",
    keys: &[
        key(
            "name",
            Shape::NonEmptyText,
            "The registered model's name in MLflow.",
        ),
        key(
            "type",
            Shape::Text,
            "The model's type as AME's model-validation guide writes it (`type: mlflow`), which no AME reader used (not used by modelgate).",
        ),
        key(
            "modelType",
            Shape::Text,
            "Guide's generation: the model's type, `Mlflow` (not used by modelgate).",
        ),
        key(
            "validationTask",
            Shape::Map(&TASK),
            "The gate that guards this model: an inline task, usually `taskRef:` to a task under `tasks:`.",
        ),
        key(
            "validationTasks",
            Shape::List(&Shape::Map(&TASK)),
            "modelgate: more gates for this model, after `validationTask`; all must pass.",
        ),
        key(
            "training",
            Shape::Map(&TRAINING),
            "AME's training settings (not used by modelgate).",
        ),
        key(
            "deployment",
            Shape::Map(&DEPLOYMENT),
            "AME's deployment settings (not used by modelgate).",
        ),
    ],
    required: &["name"],
    rule: Rule::None,
};

/// A model's `training`.
pub static TRAINING: Table = Table {
    id: "training",
    doc: "AME's training settings of a model (not used by modelgate).",
    keys: &[
        key(
            "task",
            Shape::Map(&TASK),
            "The model's training task, usually `taskRef:` to a task.",
        ),
        key(
            "schedule",
            Shape::Text,
            "Guide's generation: when to train, as a cron schedule.",
        ),
    ],
    required: &[],
    rule: Rule::None,
};

/// A model's `deployment`.
pub static DEPLOYMENT: Table = Table {
    id: "deployment",
    doc: "AME's deployment settings of a model (not used by modelgate).",
    keys: &[
        key(
            "ingressAnnotations",
            Shape::StringMap,
            "Annotations on the deployment's ingress.",
        ),
        key(
            "replicas",
            Shape::Whole(u32::MAX as u64),
            "Number of serving replicas.",
        ),
        key(
            "image",
            Shape::Text,
            "Container image the model is served with.",
        ),
        key(
            "resources",
            Shape::Resources,
            "Resources of the deployment, e.g. `cpu: 2`, `memory: 4Gi` (or, guide's generation, `limits:`/`requests:` of them).",
        ),
        key(
            "ingress",
            Shape::AnyMap,
            "Guide's generation: a Kubernetes Ingress for the deployment.",
        ),
        key(
            "ingress_annotations",
            Shape::StringMap,
            "Guide's generation: annotations on the deployment's ingress.",
        ),
        key(
            "enableTls",
            Shape::Bool,
            "Whether the deployment's ingress uses TLS.",
        ),
        key(
            "autoDeploy",
            Shape::Bool,
            "Whether AME deploys new model versions by itself (in AME's docs; no AME reader used it).",
        ),
        key(
            "auto_train",
            Shape::Bool,
            "Older generation: whether AME trains the model by itself.",
        ),
        key(
            "deploy",
            Shape::Bool,
            "Older generation: whether AME deploys the model.",
        ),
        key("enable_tls", Shape::Bool, "Older spelling of `enableTls`."),
    ],
    required: &[],
    rule: Rule::None,
};

/// A task, wherever one is written.
pub static TASK: Table = Table {
    id: "task",
    doc: "A task: what a gate runs. `taskRef` stands for a task under `tasks:`, and the keys beside it override the referenced task's.",
    keys: &[
        key(
            "name",
            Shape::NonEmptyText,
            "The task's name, by which `taskRef` and `fromTemplate` refer to it.",
        ),
        key(
            "taskRef",
            Shape::TaskRef,
            "The task under `tasks:` this one stands for: its name, or `{name, project}`.",
        ),
        key(
            "resources",
            Shape::StringMap,
            "Resources AME gives the task, e.g. `cpu: 2` (not used by modelgate).",
        ),
        key(
            "executor",
            Shape::Executor,
            "How the task runs: `!wasm` (a sandboxed WebAssembly gate), `!pipEnv`, `!pip`, `!poetry`, `!custom` or `!mlflow`.",
        ),
        key(
            "dataSets",
            Shape::List(&Shape::Text),
            "Names of the data sets the task uses (not used by modelgate).",
        ),
        key(
            "fromTemplate",
            Shape::TaskRef,
            "A template under `templates:` to merge under this task: its name, or `{name, project}`.",
        ),
        key(
            "artifactCfg",
            Shape::Map(&ARTIFACT),
            "Which files AME keeps as artifacts after the task (not used by modelgate).",
        ),
        key(
            "triggers",
            Shape::Map(&TRIGGER),
            "When AME runs the task by itself (not used by modelgate).",
        ),
        key(
            "env",
            Shape::List(&Shape::Map(&ENV)),
            "Environment variables of the task's process: `key`/`val` (current) or `name`/`value` (oldest generation).",
        ),
        key(
            "secrets",
            Shape::List(&Shape::Secret),
            "Secrets read from modelgate's environment and passed to the process: `ame: {key, injectAs}`, `name`/`envkey` (also `!AmeSecret`) or `!VaultSecret {secretPath, secretKey, envkey}`.",
        ),
        key(
            "projectid",
            Shape::Text,
            "The project the task belongs to, in the guide's generation (not used by modelgate).",
        ),
        key(
            "runcommand",
            Shape::NonEmptyText,
            "The shell command the task runs (`sh -c` in the project directory); exit code 0 is a pass.",
        ),
        key(
            "taskType",
            Shape::TaskType,
            "How `runcommand` runs: `PipEnv` (`pipenv run`), `Poetry` (`poetry run`), `Mlflow` (`mlflow run .`, as AME ran it whatever `runcommand` says).",
        ),
        key(
            "task_type",
            Shape::TaskType,
            "The first Rust CLI's `taskType`, a number: 1 Mlflow, 2 Poetry, any other Pipenv.",
        ),
        key(
            "image",
            Shape::Text,
            "The container image AME ran the task in (not used by modelgate).",
        ),
        key(
            "dataSet",
            Shape::List(&Shape::Text),
            "Guide's generation: names of the data sets the task uses (not used by modelgate).",
        ),
        key(
            "templateRef",
            Shape::NonEmptyText,
            "A template to merge under this task, as `project.template` (guide's generation).",
        ),
        key(
            "source",
            Shape::AnyMap,
            "Where AME takes the task's source from (not used by modelgate).",
        ),
        key(
            "command",
            Shape::NonEmptyText,
            "The shell command the task runs (the same field as `runcommand`, in a newer generation).",
        ),
        key(
            "pipeline",
            Shape::Pipeline,
            "Oldest generation: steps run in order as one gate, which fails at the first step that fails. Beside `runcommand`, the steps run and the command does not; `pipeline: []` is no pipeline.",
        ),
        key(
            "timeout",
            Shape::Duration,
            "modelgate: the process gate's wall-clock limit, e.g. `30s` or `10m` (default: what remains of `--timeout`).",
        ),
    ],
    required: &[],
    rule: Rule::Task,
};

/// The mapping form of `taskRef` and `fromTemplate`.
pub static TASK_REF: Table = Table {
    id: "taskRef",
    doc: "A reference to a task (or template) by name.",
    keys: &[
        key("name", Shape::NonEmptyText, "The referenced task's name."),
        key(
            "project",
            Shape::Text,
            "The project holding it; modelgate resolves its own project only.",
        ),
    ],
    required: &["name"],
    rule: Rule::None,
};

/// A data set of the project.
pub static DATASET: Table = Table {
    id: "dataSet",
    doc: "An AME data set (not used by modelgate).",
    keys: &[
        key("name", Shape::Text, "The data set's name."),
        key("task", Shape::Map(&TASK), "The task that produces it."),
        key("path", Shape::Text, "Where its files are."),
        key("size", Shape::Text, "The size of its storage, e.g. `1Gi`."),
    ],
    required: &[],
    rule: Rule::None,
};

/// A task's `artifactCfg`.
pub static ARTIFACT: Table = Table {
    id: "artifactCfg",
    doc: "Which files AME keeps as artifacts after a task (not used by modelgate).",
    keys: &[
        key(
            "saveChangedFiles",
            Shape::Bool,
            "Whether AME keeps the files the task changed.",
        ),
        key(
            "save_changed_files",
            Shape::Bool,
            "`saveChangedFiles` snake_cased, which no AME reader took (not used by modelgate).",
        ),
        key("paths", Shape::List(&Shape::Text), "Paths AME keeps."),
    ],
    required: &[],
    rule: Rule::None,
};

/// A task's `triggers`.
pub static TRIGGER: Table = Table {
    id: "triggers",
    doc: "When AME runs a task by itself (not used by modelgate).",
    keys: &[key(
        "schedule",
        Shape::Text,
        "A cron schedule, e.g. `0 3 * * *`.",
    )],
    required: &[],
    rule: Rule::None,
};

/// An `env` entry: `key`/`val` (current), `name`/`value` (oldest generation).
pub static ENV: Table = Table {
    id: "env",
    doc: "An environment variable: `key`/`val` (current generation) or `name`/`value` (oldest).",
    keys: &[
        key("key", Shape::NonEmptyText, "The variable's name."),
        key(
            "val",
            Shape::OptText,
            "Its value (empty when absent or null).",
        ),
        key(
            "name",
            Shape::NonEmptyText,
            "The variable's name (oldest generation).",
        ),
        key(
            "value",
            Shape::OptText,
            "Its value (oldest generation; empty when absent or null).",
        ),
    ],
    required: &[],
    rule: Rule::EnvEntry,
};

/// A secret: `ame: {key, injectAs}` (current), `name`/`envkey` (oldest).
pub static SECRET: Table = Table {
    id: "secret",
    doc: "A secret read from modelgate's environment and passed to the gate's process: `ame: {key, injectAs}`, or `name` and `envkey` (oldest generation).",
    keys: &[
        key("ame", Shape::Map(&AME_SECRET), "An AME secret."),
        key(
            "name",
            Shape::NonEmptyText,
            "The variable modelgate reads the secret from (oldest generation).",
        ),
        key(
            "envkey",
            Shape::NonEmptyText,
            "The variable the gate's process receives it as (oldest generation).",
        ),
    ],
    required: &[],
    rule: Rule::Secret,
};

/// A pipeline step (oldest generation).
pub static STEP: Table = Table {
    id: "step",
    doc: "One step of a pipeline.",
    keys: &[
        key(
            "taskname",
            Shape::NonEmptyText,
            "The step's name in reports (default `step N`).",
        ),
        key(
            "runcommand",
            Shape::NonEmptyText,
            "The step's shell command (`sh -c` in the project directory).",
        ),
        key(
            "env",
            Shape::List(&Shape::Map(&ENV)),
            "More environment variables for this step.",
        ),
        key(
            "secrets",
            Shape::List(&Shape::Secret),
            "Secrets for this step only.",
        ),
    ],
    required: &["runcommand"],
    rule: Rule::None,
};

/// `- !VaultSecret {…}` (guide's generation): a secret AME's tasks read
/// from Vault. modelgate does not read Vault: the gate's variable `envkey`
/// must be in its environment, or the gate does not run.
pub static VAULT_SECRET: Table = Table {
    id: "vaultSecret",
    doc: "`!VaultSecret`: a secret AME read from Vault; modelgate takes it from the environment variable `envkey`.",
    keys: &[
        key(
            "vaultName",
            Shape::Text,
            "The Vault's name (AME did not use it).",
        ),
        key(
            "secretPath",
            Shape::NonEmptyText,
            "The secret's path in Vault, e.g. `internal/data/database/config`.",
        ),
        key(
            "secretKey",
            Shape::NonEmptyText,
            "The key of the value at that path.",
        ),
        key(
            "envkey",
            Shape::NonEmptyText,
            "The variable the gate's process receives it as; modelgate takes it from its own environment.",
        ),
    ],
    required: &["secretPath", "secretKey", "envkey"],
    rule: Rule::None,
};

/// `secrets[].ame`.
pub static AME_SECRET: Table = Table {
    id: "ameSecret",
    doc: "An AME secret.",
    keys: &[
        key(
            "key",
            Shape::NonEmptyText,
            "The secret's key: the variable modelgate reads it from.",
        ),
        key(
            "injectAs",
            Shape::NonEmptyText,
            "The variable the gate's process receives it as.",
        ),
    ],
    required: &["key", "injectAs"],
    rule: Rule::None,
};

/// The body of `!pipEnv`.
pub static COMMAND: Table = Table {
    id: "pipEnvExecutor",
    doc: "`!pipEnv`: runs `pipenv run COMMAND`.",
    keys: &[key("command", Shape::NonEmptyText, "The command.")],
    required: &["command"],
    rule: Rule::None,
};

/// The body of `!pip`, `!poetry` and `!custom`.
pub static PYTHON_COMMAND: Table = Table {
    id: "commandExecutor",
    doc: "`!pip`, `!custom` (runs COMMAND) or `!poetry` (runs `poetry run COMMAND`).",
    keys: &[
        key(
            "pythonVersion",
            Shape::Text,
            "The Python version AME provisions (quote it: `'3.10'`).",
        ),
        key("command", Shape::NonEmptyText, "The command."),
    ],
    required: &["command"],
    rule: Rule::None,
};

/// The body of `!mlflow`: nothing.
pub static MLFLOW: Table = Table {
    id: "mlflowExecutor",
    doc: "`!mlflow`: runs `mlflow run .`; takes no keys.",
    keys: &[],
    required: &[],
    rule: Rule::None,
};

/// The body of `!wasm`.
pub static WASM: Table = Table {
    id: "wasmExecutor",
    doc: "`!wasm`: a sandboxed WebAssembly gate, a built-in or a component of your own.",
    keys: &[
        key(
            "plugin",
            Shape::Plugin,
            "The gate: `builtin:NAME` or a path to a `.wasm` component, relative to the project file.",
        ),
        key(
            "sha256",
            Shape::Sha256,
            "The component's sha256 (`modelgate plugin inspect FILE` prints it); any other component is refused.",
        ),
        key(
            "config",
            Shape::GateConfig,
            "The gate's configuration, handed to it as JSON; its keys depend on the plugin.",
        ),
        key(
            "limits",
            Shape::Map(&LIMITS),
            "Sandbox limits of one evaluation (defaults: 5s, 64MiB, 1000 registry calls).",
        ),
    ],
    required: &["plugin"],
    rule: Rule::None,
};

/// A `!wasm` gate's `limits`.
pub static LIMITS: Table = Table {
    id: "limits",
    doc: "Sandbox limits of one evaluation of a WebAssembly gate.",
    keys: &[
        key(
            "timeout",
            Shape::Duration,
            "Wall-clock limit of one evaluation (default 5s).",
        ),
        key(
            "memory",
            Shape::Bytes,
            "Cap on the gate's memory (default 64MiB).",
        ),
        key(
            "registry_calls",
            Shape::Whole(u64::MAX),
            "Registry calls allowed per evaluation (default 1000).",
        ),
    ],
    required: &[],
    rule: Rule::None,
};
