//! The current generation of AME's file (2023-08 on, AME's `lib/ame.proto`
//! `ProjectCfg`, camelCase): `name`, tasks with tagged executors
//! (`!pipEnv`, `!pip`, `!poetry`, `!custom`, `!mlflow`, and modelgate's
//! `!wasm`), `taskRef: {name, project}`, `fromTemplate`, secrets as
//! `ame: {key, injectAs}`, env as `key`/`val`; and modelgate's own
//! `validationTasks` and `timeout`.

use super::super::keys::{
    ARTIFACT, COMMAND, DATASET, EXECUTORS, LIMITS, MLFLOW, PYTHON_COMMAND, TASK_REF, TRIGGER, WASM,
};
use super::super::yaml::{Kind, Node};
use super::super::{Executor, Limits, Project, Task, TaskRef, WasmExecutor};
use super::{MapView, Walker};
use crate::units::parse_bytes;

impl Walker {
    /// The current generation's keys of the project: `name`, `dataSets`,
    /// `tasks`, `templates`, `enableTriggers`.
    pub(super) fn current_project(&mut self, map: &MapView<'_>, project: &mut Project) {
        if let Some(n) = map.get("name") {
            project.name = self.string(n, "`name`");
            self.current_hits += 1;
        }
        if let Some(n) = map.get("tasks") {
            project.tasks = self.task_list(n, "`tasks`");
        }
        if let Some(n) = map.get("templates") {
            project.templates = self.task_list(n, "`templates`");
        }
        for key in ["dataSets", "data_sets"] {
            if let Some(n) = map.get(key) {
                for item in self.list(n, &format!("`{key}`")) {
                    if let Some(ds) = self.map(item, "a data set", &DATASET) {
                        for k in ["name", "path", "size"] {
                            if let Some(v) = ds.get(k) {
                                self.string(v, &format!("data set `{k}`"));
                            }
                        }
                        if let Some(t) = ds.get("task") {
                            self.task(t, "a data set's `task`");
                        }
                    }
                }
            }
        }
        if let Some(n) = map.get("enableTriggers") {
            self.boolean(n, "`enableTriggers`");
        }
    }

    /// The current generation's keys of a model's `deployment`.
    pub(super) fn current_deployment(&mut self, d: &MapView<'_>) {
        if let Some(v) = d.get("ingressAnnotations") {
            self.string_map(v, "`deployment.ingressAnnotations`");
        }
        for key in ["autoDeploy", "enableTls"] {
            if let Some(v) = d.get(key) {
                self.boolean(v, &format!("`deployment.{key}`"));
            }
        }
        if let Some(v) = d.get("image") {
            self.string(v, "`deployment.image`");
        }
        if let Some(v) = d.get("replicas")
            && v.as_str().and_then(|s| s.parse::<u32>().ok()).is_none()
        {
            self.error(v.pos, "`deployment.replicas` must be a whole number", None);
        }
        if let Some(v) = d.get("resources") {
            self.resources(v, "`deployment.resources`");
        }
    }

    /// The current generation's keys of a task, and modelgate's `timeout`.
    pub(super) fn current_task(&mut self, map: &MapView<'_>, task: &mut Task, what: &str) {
        if let Some(n) = map.get("taskRef") {
            task.task_ref = self.task_ref(n, &format!("{what}'s `taskRef`"));
        }
        if let Some(n) = map.get("executor") {
            task.executor = self.executor(n, what).map(|e| (e, n.pos));
            self.current_hits += 1;
        }
        if let Some(n) = map.get("fromTemplate") {
            task.from_template = self.task_ref(n, &format!("{what}'s `fromTemplate`"));
        }
        if let Some(n) = map.get("resources") {
            self.string_map(n, &format!("{what}'s `resources`"));
        }
        if let Some(n) = map.get("dataSets") {
            for item in self.list(n, &format!("{what}'s `dataSets`")) {
                self.string(item, "a data set name");
            }
        }
        if let Some(n) = map.get("artifactCfg")
            && let Some(a) = self.map(n, &format!("{what}'s `artifactCfg`"), &ARTIFACT)
        {
            for key in ["saveChangedFiles", "save_changed_files"] {
                if let Some(v) = a.get(key) {
                    self.boolean(v, &format!("`artifactCfg.{key}`"));
                }
            }
            if let Some(v) = a.get("paths") {
                for p in self.list(v, "`artifactCfg.paths`") {
                    self.string(p, "an artifact path");
                }
            }
        }
        if let Some(n) = map.get("triggers")
            && let Some(t) = self.map(n, &format!("{what}'s `triggers`"), &TRIGGER)
            && let Some(v) = t.get("schedule")
        {
            self.string(v, "`triggers.schedule`");
        }
        if let Some(n) = map.get("timeout") {
            task.timeout = self.duration(n, &format!("{what}'s `timeout`"));
        }
    }

    fn executor(&mut self, node: &Node, task: &str) -> Option<Executor> {
        let Some(tag) = node.tag.as_deref() else {
            self.error(
                node.pos,
                format!("the executor of {task} has no kind"),
                Some(format!(
                    "tag it, e.g. `executor: !pipEnv {{command: python validate.py}}`; kinds: {}",
                    tag_list()
                )),
            );
            return None;
        };
        let what = format!("the `!{tag}` executor of {task}");
        match tag {
            "pipEnv" => {
                let map = self.map(node, &what, &COMMAND)?;
                let command = self.command(&map, node, &what)?;
                Some(Executor::PipEnv { command })
            }
            "pip" | "poetry" | "custom" => {
                let map = self.map(node, &what, &PYTHON_COMMAND)?;
                let python_version = map
                    .get("pythonVersion")
                    .and_then(|v| self.string(v, "`pythonVersion`"));
                let command = self.command(&map, node, &what)?;
                Some(match tag {
                    "pip" => Executor::Pip {
                        python_version,
                        command,
                    },
                    "poetry" => Executor::Poetry {
                        python_version,
                        command,
                    },
                    _ => Executor::Custom {
                        python_version,
                        command,
                    },
                })
            }
            "mlflow" => {
                self.map(node, &what, &MLFLOW)?;
                Some(Executor::Mlflow)
            }
            "wasm" => self.wasm(node, &what),
            other => {
                let tags: Vec<&str> = EXECUTORS.iter().map(|(t, _)| *t).collect();
                let hint = match self.suggest(other, &tags) {
                    Some(near) => crate::suggest::did_you_mean(&format!("!{near}")),
                    None => format!("kinds: {}", tag_list()),
                };
                self.error(
                    node.pos,
                    format!("unknown executor kind `!{other}` in {task}"),
                    Some(hint),
                );
                None
            }
        }
    }

    fn command(&mut self, map: &MapView<'_>, node: &Node, what: &str) -> Option<String> {
        match map.get("command") {
            Some(c) => self.nonempty_string(c, &format!("`command` of {what}")),
            None => {
                self.error(node.pos, format!("{what} needs `command`"), None);
                None
            }
        }
    }

    fn wasm(&mut self, node: &Node, what: &str) -> Option<Executor> {
        let map = self.map(node, what, &WASM)?;
        let plugin = match map.get("plugin") {
            Some(p) => self.nonempty_string(p, &format!("`plugin` of {what}")),
            None => {
                self.error(
                    node.pos,
                    format!("{what} needs `plugin`"),
                    Some("use `plugin: builtin:threshold` or a path to a `.wasm` file".into()),
                );
                None
            }
        };
        let sha256 = map.get("sha256").and_then(|s| {
            let text = self.string(s, "`sha256`")?;
            let hex = text
                .trim()
                .trim_start_matches("sha256:")
                .to_ascii_lowercase();
            if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                Some(hex)
            } else {
                self.error(
                    s.pos,
                    format!("`sha256` of {what} is not 64 hex digits"),
                    Some("`modelgate plugin inspect FILE` prints the component's sha256".into()),
                );
                None
            }
        });
        let config = match map.get("config") {
            None => serde_json::Value::Object(Default::default()),
            Some(c) if matches!(c.kind, Kind::Map(_) | Kind::Null) => match c.to_json() {
                serde_json::Value::Null => serde_json::Value::Object(Default::default()),
                v => v,
            },
            Some(c) => {
                self.error(c.pos, format!("`config` of {what} must be a mapping"), None);
                serde_json::Value::Null
            }
        };
        let limits = match map.get("limits") {
            Some(l) => self.limits(l, what),
            None => Limits::default(),
        };
        let pos = Box::new(super::super::WasmPos {
            executor: node.pos,
            plugin: map.get("plugin").map(|n| n.pos),
            sha256: map.get("sha256").map(|n| n.pos),
            config: map.key_pos("config"),
        });
        Some(Executor::Wasm(WasmExecutor {
            plugin: plugin?,
            sha256,
            config,
            limits,
            pos,
        }))
    }

    fn task_ref(&mut self, node: &Node, what: &str) -> Option<TaskRef> {
        match &node.kind {
            Kind::Scalar { text, .. } => {
                self.legacy_hits += 1;
                Some(TaskRef {
                    name: text.clone(),
                    project: None,
                    pos: node.pos,
                })
            }
            Kind::Map(_) => {
                self.current_hits += 1;
                let map = self.map(node, what, &TASK_REF)?;
                let name = match map.get("name") {
                    Some(n) => self.nonempty_string(n, &format!("{what}'s `name`")),
                    None => {
                        self.error(node.pos, format!("{what} needs `name`"), None);
                        None
                    }
                };
                let project = map.get("project").and_then(|p| self.string(p, "`project`"));
                Some(TaskRef {
                    name: name?,
                    project,
                    pos: node.pos,
                })
            }
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a task name or `{{name: NAME}}`"),
                    None,
                );
                None
            }
        }
    }
}

impl Walker {
    /// A `!wasm` gate's `limits:`.
    fn limits(&mut self, l: &Node, what: &str) -> Limits {
        let mut limits = Limits::default();
        let Some(lm) = self.map(l, &format!("`limits` of {what}"), &LIMITS) else {
            return limits;
        };
        if let Some(v) = lm.get("timeout") {
            limits.timeout = self.duration(v, "`limits.timeout`");
        }
        if let Some(v) = lm.get("memory")
            && let Some(text) = self.string(v, "`limits.memory`")
        {
            match parse_bytes(&text) {
                Ok(b) => limits.memory = Some(b),
                Err(e) => self.error(
                    v.pos,
                    format!("`limits.memory`: {e}"),
                    Some("write e.g. `64MiB`".into()),
                ),
            }
        }
        if let Some(v) = lm.get("registry_calls") {
            match v.as_str().and_then(|s| s.parse::<u64>().ok()) {
                Some(n) => limits.registry_calls = Some(n),
                None => self.error(
                    v.pos,
                    "`limits.registry_calls` must be a whole number",
                    None,
                ),
            }
        }
        limits
    }
}

fn tag_list() -> String {
    EXECUTORS
        .iter()
        .map(|(t, _)| format!("!{t}"))
        .collect::<Vec<_>>()
        .join(", ")
}
