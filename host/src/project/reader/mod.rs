//! The project file's schema: walks the positioned YAML tree, builds the typed
//! [`Project`] and records every problem with its position.
//!
//! Every mapping's keys are checked against its table in [`super::keys`],
//! the tables `modelgate schema` also turns into a JSON Schema.

mod cli;
mod controller;
mod current;
mod go;

use std::collections::HashMap;
use std::path::Path;

use super::diag::{Diagnostics, MAX_SUGGESTIONS};
use super::keys::{AME_SECRET, DEPLOYMENT, ENV, MODEL, PROJECT, SECRET, TASK, TRAINING, Table};
use super::yaml::{self, Kind, Node, Pos};
use super::{Format, Model, Project, Task};
use crate::suggest::nearest;
use crate::units::parse_duration;

/// Parses a project file's text.
pub fn parse(file: &Path, source: &str) -> Result<Project, Diagnostics> {
    let mut w = Walker {
        diags: Diagnostics::new(file),
        legacy_hits: 0,
        current_hits: 0,
        pipeline_hits: 0,
    };
    let root = match yaml::parse(source) {
        Ok(root) => root,
        Err(errors) => {
            for e in errors {
                w.diags.error(e.pos, e.message, Some(e.hint.into()));
            }
            w.diags.sort();
            return Err(w.diags);
        }
    };
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut project = Project {
        file: file.to_path_buf(),
        dir,
        name: None,
        format: Format::Current,
        models: Vec::new(),
        tasks: Vec::new(),
        templates: Vec::new(),
        index: Default::default(),
    };
    if let Kind::Null = root.kind {
        w.diags.error(
            root.pos,
            "the project file is empty",
            Some("start from `examples/logreg/ame.yaml`".into()),
        );
        return Err(w.diags);
    }
    if let Some(map) = w.map(&root, "the project", &PROJECT) {
        w.current_project(&map, &mut project);
        w.controller_project(&map, &mut project);
        w.go_project(&map, &mut project);
        if let Some(n) = map.get("models") {
            for item in w.list(n, "`models`") {
                if let Some(model) = w.model(item) {
                    project.models.push(model);
                }
            }
        }
    }
    check_unique(&mut w.diags, &project);
    project.reindex();
    project.format = if w.pipeline_hits > 0 && w.pipeline_hits >= w.current_hits {
        Format::Pipeline
    } else if w.legacy_hits > w.current_hits {
        Format::Legacy
    } else {
        Format::Current
    };
    if w.diags.is_empty() {
        Ok(project)
    } else {
        w.diags.sort();
        Err(w.diags)
    }
}

fn check_unique(diags: &mut Diagnostics, project: &Project) {
    // Hash sets, not `Vec::contains`: a project with tens of thousands of
    // entries must not take quadratic time to check.
    let mut seen: HashMap<&str, Pos> = HashMap::new();
    for m in &project.models {
        if let Some(first) = first_seen(&mut seen, &m.name, m.pos) {
            diags.error(
                m.pos,
                format!(
                    "model `{}` is defined twice (first at line {}, column {})",
                    m.name, first.line, first.col
                ),
                Some("give each model one entry".into()),
            );
        }
    }
    for (list, what) in [(&project.tasks, "task"), (&project.templates, "template")] {
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        for t in list {
            match t.name.as_deref() {
                Some(name) => {
                    if let Some(first) = first_seen(&mut seen, name, t.pos) {
                        diags.error(
                            t.pos,
                            format!(
                                "{what} `{name}` is defined twice (first at line {}, column {})",
                                first.line, first.col
                            ),
                            Some(format!("rename one of the {what}s")),
                        );
                    }
                }
                None => diags.error(
                    t.pos,
                    format!("this {what} has no `name`"),
                    Some(format!("add `name:` so models can refer to the {what}")),
                ),
            }
        }
    }
}

/// Where `name` was first seen, if it was; records it otherwise.
fn first_seen<'a>(seen: &mut HashMap<&'a str, Pos>, name: &'a str, pos: Pos) -> Option<Pos> {
    match seen.entry(name) {
        std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(pos);
            None
        }
    }
}

struct Walker {
    diags: Diagnostics,
    legacy_hits: usize,
    current_hits: usize,
    pipeline_hits: usize,
}

/// The entries of a checked mapping.
struct MapView<'n> {
    entries: Vec<(&'n str, &'n Node, Pos)>,
}

impl<'n> MapView<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, ..)| *k == key)
            .map(|(_, v, _)| *v)
    }

    /// Where the mapping's first key is written (a block mapping's own
    /// position is where the parser saw its first value).
    fn start(&self) -> Option<Pos> {
        self.entries.first().map(|(.., p)| *p)
    }

    /// Where `key` itself is written.
    fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entries
            .iter()
            .find(|(k, ..)| *k == key)
            .map(|(.., p)| *p)
    }
}

impl Walker {
    /// [`nearest`], while suggestions are still affordable.
    fn suggest<'k>(&self, word: &str, choices: &[&'k str]) -> Option<&'k str> {
        if self.diags.items.len() >= MAX_SUGGESTIONS {
            return None;
        }
        nearest(word, choices)
    }

    fn error(&mut self, pos: Pos, message: impl Into<String>, hint: Option<String>) {
        self.diags.error(pos, message, hint);
    }

    /// Checks that `node` is a mapping whose keys are all in `keys`. A null
    /// node is an empty mapping.
    fn map<'n>(&mut self, node: &'n Node, what: &str, keys: &Table) -> Option<MapView<'n>> {
        let entries = match &node.kind {
            Kind::Map(entries) => entries,
            Kind::Null => return Some(MapView { entries: vec![] }),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a mapping, found {}", node.type_name()),
                    None,
                );
                return None;
            }
        };
        let mut view = MapView { entries: vec![] };
        for (k, v) in entries {
            let Some(key) = k.as_str() else {
                self.error(k.pos, format!("keys of {what} must be strings"), None);
                continue;
            };
            if !keys.has(key) {
                let names = keys.names();
                let hint = match self.suggest(key, &names) {
                    Some(near) => crate::suggest::did_you_mean(near),
                    None if names.is_empty() => "it takes no keys".to_string(),
                    None => format!("valid keys here: {}", names.join(", ")),
                };
                self.error(k.pos, format!("unknown key `{key}` in {what}"), Some(hint));
                continue;
            }
            view.entries.push((key, v, k.pos));
        }
        Some(view)
    }

    fn list<'n>(&mut self, node: &'n Node, what: &str) -> Vec<&'n Node> {
        match &node.kind {
            Kind::Seq(items) => items.iter().collect(),
            Kind::Null => vec![],
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a list, found {}", node.type_name()),
                    Some("start each entry with `- `".into()),
                );
                vec![]
            }
        }
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            Kind::Scalar { text, .. } => Some(text.clone()),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a string, found {}", node.type_name()),
                    None,
                );
                None
            }
        }
    }

    fn nonempty_string(&mut self, node: &Node, what: &str) -> Option<String> {
        let s = self.string(node, what)?;
        if s.trim().is_empty() {
            self.error(node.pos, format!("{what} must not be empty"), None);
            return None;
        }
        Some(s)
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.as_str() {
            Some("true" | "True" | "TRUE") => Some(true),
            Some("false" | "False" | "FALSE") => Some(false),
            _ => {
                self.error(node.pos, format!("{what} must be `true` or `false`"), None);
                None
            }
        }
    }

    fn string_map(&mut self, node: &Node, what: &str) {
        match &node.kind {
            Kind::Map(entries) => {
                for (k, v) in entries {
                    if k.as_str().is_none() || !matches!(v.kind, Kind::Scalar { .. } | Kind::Null) {
                        self.error(
                            k.pos,
                            format!("{what} must map names to values"),
                            Some("write e.g. `cpu: 2` or `memory: 4Gi`".into()),
                        );
                    }
                }
            }
            Kind::Null => {}
            _ => self.error(
                node.pos,
                format!("{what} must be a mapping, found {}", node.type_name()),
                None,
            ),
        }
    }

    /// Names to scalars, or to mappings of names to scalars (Kubernetes'
    /// `limits: {cpu: 2}`).
    fn resources(&mut self, node: &Node, what: &str) {
        let Kind::Map(entries) = &node.kind else {
            return self.string_map(node, what);
        };
        for (k, v) in entries {
            match &v.kind {
                Kind::Map(_) => {
                    self.string_map(v, &format!("{what}.{}", k.as_str().unwrap_or("?")))
                }
                Kind::Scalar { .. } | Kind::Null if k.as_str().is_some() => {}
                _ => self.error(
                    k.pos,
                    format!(
                        "{what} must map names to values (or to `limits:`/`requests:` of them)"
                    ),
                    Some("write e.g. `cpu: 2`, or `limits: {cpu: 2}`".into()),
                ),
            }
        }
    }

    /// Any mapping (null is an empty one).
    fn any_map(&mut self, node: &Node, what: &str) {
        if !matches!(node.kind, Kind::Map(_) | Kind::Null) {
            self.error(node.pos, format!("{what} must be a mapping"), None);
        }
    }

    fn model(&mut self, node: &Node) -> Option<Model> {
        let ctx = match peek_name(node) {
            Some(n) => format!("model `{n}`"),
            None => "a model".to_string(),
        };
        let map = self.map(node, &ctx, &MODEL)?;
        let name = match map.get("name") {
            Some(n) => self.nonempty_string(n, "model `name`"),
            None => {
                self.error(
                    node.pos,
                    "this model has no `name`",
                    Some("add `name:` with the registered model's name in MLflow".into()),
                );
                None
            }
        };
        let what = format!("model `{}`", name.as_deref().unwrap_or("?"));
        for key in ["type", "modelType"] {
            if let Some(n) = map.get(key) {
                self.string(n, &format!("{what}'s `{key}`"));
                self.legacy_hits += 1;
            }
        }
        let mut gates = Vec::new();
        if let Some(n) = map.get("validationTask")
            && let Some(t) = self.task(n, &format!("{what}'s `validationTask`"))
        {
            gates.push(t);
        }
        if let Some(n) = map.get("validationTasks") {
            for item in self.list(n, &format!("{what}'s `validationTasks`")) {
                if let Some(t) = self.task(item, &format!("a validation task of {what}")) {
                    gates.push(t);
                }
            }
        }
        if let Some(n) = map.get("training")
            && let Some(tr) = self.map(n, &format!("{what}'s `training`"), &TRAINING)
        {
            if let Some(t) = tr.get("task") {
                self.task(t, &format!("{what}'s training task"));
            }
            if let Some(v) = tr.get("schedule") {
                self.string(v, "`training.schedule`");
            }
        }
        if let Some(n) = map.get("deployment")
            && let Some(d) = self.map(n, &format!("{what}'s `deployment`"), &DEPLOYMENT)
        {
            self.current_deployment(&d);
            self.controller_deployment(&d);
        }
        Some(Model {
            name: name?,
            pos: node.pos,
            gates,
        })
    }

    fn task_list(&mut self, node: &Node, what: &str) -> Vec<Task> {
        match &node.kind {
            // The oldest AME files keyed tasks by name.
            Kind::Map(entries) => {
                self.pipeline_hits += 1;
                let mut tasks = Vec::new();
                for (k, v) in entries {
                    let Some(name) = k.as_str() else {
                        self.error(k.pos, format!("keys of {what} must be task names"), None);
                        continue;
                    };
                    if let Some(mut t) = self.task(v, &format!("task `{name}`")) {
                        t.name = Some(name.to_string());
                        t.pos = k.pos;
                        tasks.push(t);
                    }
                }
                tasks
            }
            _ => {
                let mut tasks = Vec::new();
                for item in self.list(node, what) {
                    if let Some(t) = self.task(item, "a task") {
                        tasks.push(t);
                    }
                }
                tasks
            }
        }
    }

    /// A task, wherever one is written: its keys of every generation.
    fn task(&mut self, node: &Node, what: &str) -> Option<Task> {
        let ctx = match peek_name(node) {
            Some(n) => format!("task `{n}`"),
            None => what.to_string(),
        };
        let map = self.map(node, &ctx, &TASK)?;
        let mut task = Task {
            pos: node.pos,
            ..Task::default()
        };
        if let Some(n) = map.get("name") {
            task.name = self.nonempty_string(n, &format!("{what}'s `name`"));
        }
        let what = match &task.name {
            Some(name) => format!("task `{name}`"),
            None => what.to_string(),
        };
        self.current_task(&map, &mut task, &what);
        self.controller_task(&map, &mut task, &what);
        self.cli_task(&map, &mut task, &what);
        self.go_task(&map, &mut task, &what);
        if let Some(n) = map.get("env") {
            task.env = self.env_list(n, &what);
        }
        if let Some(n) = map.get("secrets") {
            task.secrets = self.secret_list(n, &what);
        }
        Some(task)
    }

    /// An `env:` list: entries of `key`/`val` or of `name`/`value`.
    fn env_list(&mut self, node: &Node, what: &str) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for item in self.list(node, &format!("{what}'s `env`")) {
            let Some(e) = self.map(item, "an `env` entry", &ENV) else {
                continue;
            };
            let Some(name_key) = self.one_of(&e, item, ["key", "name"], "an `env` entry") else {
                continue;
            };
            let value_key = if e.get("value").is_some() {
                "value"
            } else {
                "val"
            };
            if e.get("val").is_some() && e.get("value").is_some() {
                self.error(
                    item.pos,
                    "an `env` entry has both `val` and `value`",
                    Some("keep one".into()),
                );
                continue;
            }
            let Some(key) = e
                .get(name_key)
                .and_then(|k| self.nonempty_string(k, &format!("`env.{name_key}`")))
            else {
                continue;
            };
            let val = match e.get(value_key) {
                None => Some(String::new()),
                Some(v) if matches!(v.kind, Kind::Null) => Some(String::new()),
                Some(v) => self.string(v, &format!("`env.{value_key}`")),
            };
            if let Some(val) = val {
                env.push((key, val));
            }
        }
        env
    }

    /// A `secrets:` list: entries of `ame: {key, injectAs}` or of
    /// `name`/`envkey`; each is (secret, variable it is passed as).
    fn secret_list(&mut self, node: &Node, what: &str) -> Vec<(String, String)> {
        let mut secrets = Vec::new();
        for item in self.list(node, &format!("{what}'s `secrets`")) {
            match item.tag.as_deref() {
                None | Some("AmeSecret") => {}
                Some("VaultSecret") => {
                    secrets.extend(self.vault_secret(item));
                    continue;
                }
                Some(other) => {
                    self.error(
                        item.pos,
                        format!("unknown secret kind `!{other}` in {what}'s `secrets`"),
                        Some(
                            "write `- ame: {key, injectAs}`, `- name: … envkey: …` (or `!AmeSecret`) or `- !VaultSecret {secretPath, secretKey, envkey}`"
                                .into(),
                        ),
                    );
                    continue;
                }
            }
            let Some(s) = self.map(item, "a secret", &SECRET) else {
                continue;
            };
            if let Some(ame) = s.get("ame") {
                if s.get("name").is_some() || s.get("envkey").is_some() {
                    self.error(
                        item.pos,
                        "a secret has both `ame:` and `name`/`envkey`",
                        Some("write either `ame: {key, injectAs}` or `name` with `envkey`".into()),
                    );
                    continue;
                }
                if let Some(a) = self.map(ame, "an AME secret", &AME_SECRET) {
                    let key = a
                        .get("key")
                        .and_then(|k| self.nonempty_string(k, "secret `key`"));
                    let inject = a
                        .get("injectAs")
                        .and_then(|k| self.nonempty_string(k, "secret `injectAs`"));
                    match (key, inject) {
                        (Some(k), Some(i)) => secrets.push((k, i)),
                        _ => self.error(ame.pos, "a secret needs both `key` and `injectAs`", None),
                    }
                }
                continue;
            }
            let name = s
                .get("name")
                .and_then(|k| self.nonempty_string(k, "secret `name`"));
            let envkey = s
                .get("envkey")
                .and_then(|k| self.nonempty_string(k, "secret `envkey`"));
            match (name, envkey) {
                (Some(n), Some(e)) => secrets.push((n, e)),
                _ => self.error(
                    item.pos,
                    "a secret needs `ame: {key, injectAs}`, or both `name` and `envkey`",
                    Some("write `- name: SECRET` with `envkey: VARIABLE` (the variable the gate reads)".into()),
                ),
            }
        }
        secrets
    }

    /// Which one of `keys` the entry `map` has; an error when it has none
    /// or several.
    fn one_of(
        &mut self,
        map: &MapView<'_>,
        node: &Node,
        keys: [&'static str; 2],
        what: &str,
    ) -> Option<&'static str> {
        match keys.map(|k| map.get(k).is_some()) {
            [true, false] => Some(keys[0]),
            [false, true] => Some(keys[1]),
            [true, true] => {
                self.error(
                    node.pos,
                    format!("{what} has both `{}` and `{}`", keys[0], keys[1]),
                    Some("keep one".into()),
                );
                None
            }
            [false, false] => {
                self.error(
                    node.pos,
                    format!("{what} needs `{}`", keys[0]),
                    Some(format!(
                        "write `- {}: NAME` (or `- {}: NAME`)",
                        keys[0], keys[1]
                    )),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<std::time::Duration> {
        let text = self.string(node, what)?;
        match parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    node.pos,
                    format!("{what}: {e}"),
                    Some("write e.g. `30s` or `10m`".into()),
                );
                None
            }
        }
    }
}

/// The `name:` of a mapping, before it is checked.
fn peek_name(node: &Node) -> Option<&str> {
    match &node.kind {
        Kind::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some("name"))
            .and_then(|(_, v)| v.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{Executor, MAX_STEPS, TaskType};

    const LEGACY: &str = "projectid: sklearn_logistic_regression
models:
  - name: logreg
    type: mlflow
    validationTask:
      taskRef: mlflow_validation
    training:
      task:
        taskRef: training
    deployment:
      auto_train: true
      deploy: true
      enable_tls: false
tasks:
  - name: training
    projectid: sklearn_logistic_regression
    templateRef: shared-templates.logistic_reg_template
    taskType: Mlflow
  - name: mlflow_validation
    projectid: sklearn_logistic_regression
    runcommand: python validate.py
";

    fn parse_str(src: &str) -> Result<Project, Diagnostics> {
        parse(Path::new("ame.yaml"), src)
    }

    #[test]
    fn legacy_guide_file_parses_as_written() {
        let p = parse_str(LEGACY).expect("the guide's file is valid");
        assert_eq!(p.format, Format::Legacy);
        assert_eq!(p.name.as_deref(), Some("sklearn_logistic_regression"));
        assert_eq!(p.models.len(), 1);
        let gate = &p.models[0].gates[0];
        assert_eq!(
            gate.task_ref.as_ref().map(|r| r.name.as_str()),
            Some("mlflow_validation")
        );
        assert_eq!(
            p.task("mlflow_validation")
                .and_then(|t| t.runcommand.as_deref()),
            Some("python validate.py")
        );
        assert_eq!(
            p.task("training").and_then(|t| t.task_type),
            Some(TaskType::Mlflow)
        );
    }

    #[test]
    fn current_format_with_every_ame_field() {
        let src = "name: demo
enableTriggers: true
dataSets:
  - name: mnist
    path: data
    size: 1Gi
    task:
      executor: !pipEnv
        command: python fetch.py
templates:
  - name: base
    resources: {cpu: 2, memory: 4Gi}
    env: [{key: A, val: from-template}]
models:
  - name: logreg
    validationTask:
      taskRef:
        name: validate
    training:
      task:
        taskRef: {name: train}
    deployment:
      ingressAnnotations: {a: b}
      replicas: 2
      image: img:1
      resources: {cpu: 1}
      enableTls: false
tasks:
  - name: train
    executor: !poetry
      pythonVersion: 3.11
      command: python train.py
    dataSets: [mnist]
    artifactCfg: {saveChangedFiles: true, paths: [out]}
    triggers: {schedule: '* * * * *'}
  - name: validate
    fromTemplate: {name: base}
    executor: !pipEnv
      command: python validate.py
    env:
      - key: THRESHOLD
        val: '0.6'
    secrets:
      - ame: {key: token, injectAs: TOKEN}
    timeout: 5m
  - name: m
    executor: !mlflow
  - name: c
    executor: !custom {pythonVersion: '3.10', command: ./run.sh}
  - name: p
    executor: !pip {pythonVersion: '3.10', command: ./run.sh}
";
        let p = parse_str(src).unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(p.format, Format::Current);
        let v = p.task("validate").expect("task");
        assert_eq!(v.env, vec![("THRESHOLD".into(), "0.6".into())]);
        assert_eq!(v.secrets, vec![("token".into(), "TOKEN".into())]);
        assert_eq!(v.timeout, Some(std::time::Duration::from_secs(300)));
        assert_eq!(
            p.task("train")
                .and_then(|t| t.executor.clone())
                .map(|e| e.0),
            Some(Executor::Poetry {
                python_version: Some("3.11".into()),
                command: "python train.py".into()
            })
        );
        assert_eq!(
            p.task("m").and_then(|t| t.executor.clone()).map(|e| e.0),
            Some(Executor::Mlflow)
        );
    }

    #[test]
    fn every_unknown_key_is_reported_with_position_and_suggestion() {
        let src = "name: x
models:
  - name: logreg
    validationTsk:
      taskRef: v
tasks:
  - name: v
    runcomand: python validate.py
";
        let d = parse_str(src).expect_err("must fail");
        assert_eq!(d.items.len(), 2, "{d}");
        assert_eq!(d.items[0].pos, Pos { line: 4, col: 5 });
        assert!(d.items[0].message.contains("validationTsk"));
        assert_eq!(
            d.items[0].hint.as_deref(),
            Some("did you mean `validationTask`?")
        );
        assert_eq!(d.items[1].pos, Pos { line: 8, col: 5 });
        assert_eq!(
            d.items[1].hint.as_deref(),
            Some("did you mean `runcommand`?")
        );
        let text = d.to_string();
        assert!(
            text.contains("ame.yaml:4:5: unknown key `validationTsk` in model `logreg`"),
            "{text}"
        );
    }

    #[test]
    fn wasm_executor_and_limits() {
        let src = "name: x
models:
  - name: m
    validationTasks:
      - name: q
        executor: !wasm
          plugin: builtin:threshold
          config:
            metrics:
              score: {threshold: 0.6}
          limits: {timeout: 2s, memory: 32MiB, registry_calls: 10}
";
        let p = parse_str(src).unwrap_or_else(|d| panic!("{d}"));
        let gate = &p.models[0].gates[0];
        let Some((Executor::Wasm(w), _)) = &gate.executor else {
            panic!("not wasm")
        };
        assert_eq!(w.plugin, "builtin:threshold");
        assert_eq!(w.config["metrics"]["score"]["threshold"], 0.6);
        assert_eq!(w.limits.memory, Some(32 << 20));
        assert_eq!(w.limits.registry_calls, Some(10));
    }

    #[test]
    fn bad_values_are_all_reported() {
        let src = "name: x
models:
  - name: m
    validationTasks:
      - name: q
        executor: !wasm
          plugin: builtin:threshold
          sha256: abc
          limits: {timeout: forever, memory: lots}
      - name: r
        executor: !pipenv {command: x}
      - name: s
        executor: {command: x}
";
        let d = parse_str(src).expect_err("must fail");
        let text = d.to_string();
        assert_eq!(d.items.len(), 5, "{text}");
        assert!(text.contains("did you mean `!pipEnv`?"), "{text}");
        assert!(text.contains("has no kind"), "{text}");
    }

    #[test]
    fn syntax_errors_are_positioned() {
        let d = parse_str("name: x\nmodels: [\n").expect_err("must fail");
        assert!(d.items[0].message.starts_with("invalid YAML"));
    }

    /// The oldest generation, as AME wrote it: `projectname`, tasks keyed
    /// by name, `pipeline:` steps with `taskname`, `runcommand`, `env` of
    /// `name`/`value` and `secrets` of `name`/`envkey`.
    #[test]
    fn oldest_generation_with_pipelines() {
        let src = "projectname: old
models:
  - name: m
    validationTask:
      taskRef: check
tasks:
  check:
    pipeline:
      - taskname: prepare
        runcommand: ./prepare.sh
        env:
          - name: STAGE
            value: prep
          - name: EMPTY
      - runcommand: python validate.py
        secrets:
          - name: registry-token
            envkey: REGISTRY_TOKEN
";
        let p = parse_str(src).unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(p.format, Format::Pipeline);
        assert_eq!(p.name.as_deref(), Some("old"));
        let steps = p
            .task("check")
            .and_then(|t| t.pipeline.clone())
            .expect("steps");
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].name, "prepare");
        assert_eq!(steps[0].command, "./prepare.sh");
        assert_eq!(
            steps[0].env,
            [
                ("STAGE".into(), "prep".into()),
                ("EMPTY".into(), String::new())
            ]
        );
        assert_eq!(steps[0].pos, Pos { line: 9, col: 9 });
        assert_eq!(steps[1].name, "step 2");
        assert_eq!(
            steps[1].secrets,
            [("registry-token".into(), "REGISTRY_TOKEN".into())]
        );
    }

    /// The generation with `command:`, `task_type` and `source: {}`.
    #[test]
    fn command_generation() {
        let src = "projectid: p
models:
  - name: m
    validationTask: {taskRef: v}
tasks:
  - name: v
    task_type: Poetry
    command: python validate.py
    source: {}
    env:
      - {key: A, val: b}
";
        let p = parse_str(src).unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(p.format, Format::Legacy);
        let t = p.task("v").expect("task");
        assert_eq!(t.runcommand.as_deref(), Some("python validate.py"));
        assert_eq!(t.task_type, Some(TaskType::Poetry));
        assert_eq!(t.env, [("A".into(), "b".into())]);
    }

    /// Mistakes in the older generations are positioned errors like any
    /// other: keys no generation defines, a step without a command, an
    /// empty pipeline, mixed generations within one entry.
    #[test]
    fn older_generation_mistakes() {
        let src = "projectname: old
tasks:
  a:
    pipeline:
      - taskname: one
        runcomand: x
  b:
    pipeline: []
  c:
    runcommand: x
    pipeline:
      - runcommand: y
  d:
    command: x
    runcommand: y
  e:
    pipeline:
      - runcommand: y
        env:
          - {name: A, key: B}
          - {name: C, val: d, value: e}
        secrets:
          - {name: s}
          - {name: s, envkey: S, ame: {key: k, injectAs: K}}
";
        let d = parse_str(src).expect_err("must fail");
        let text = d.to_string();
        for wanted in [
            "ame.yaml:6:9: unknown key `runcomand` in task `a`'s step 1",
            "did you mean `runcommand`?",
            "ame.yaml:5:9: step `one` of task `a` has no `runcommand`",
            "ame.yaml:14:14: task `d` has both `command` and `runcommand`",
            "ame.yaml:20:13: an `env` entry has both `key` and `name`",
            "ame.yaml:21:13: an `env` entry has both `val` and `value`",
            "ame.yaml:23:13: a secret needs `ame: {key, injectAs}`, or both `name` and `envkey`",
            "ame.yaml:24:13: a secret has both `ame:` and `name`/`envkey`",
        ] {
            assert!(text.contains(wanted), "missing {wanted:?} in\n{text}");
        }
        assert_eq!(d.items.len(), 7, "{text}");
    }

    /// Secrets of the guide's generation: `!AmeSecret` is the plain form,
    /// `!VaultSecret` stands for its `envkey`, any other tag is an error.
    #[test]
    fn tagged_secrets() {
        let src = "name: s
tasks:
  - name: a
    runcommand: x
    secrets:
      - !AmeSecret {name: TOKEN, envkey: T}
      - !VaultSecret {secretPath: p/q, secretKey: k, envkey: V}
";
        let p = parse_str(src).unwrap_or_else(|d| panic!("{d}"));
        let t = p.task("a").expect("task");
        assert_eq!(
            t.secrets,
            [
                ("TOKEN".to_string(), "T".to_string()),
                ("vault:p/q#k".to_string(), "V".to_string())
            ]
        );
        let bad = parse_str(&src.replace("!AmeSecret", "!KubeSecret")).expect_err("unknown tag");
        assert!(
            bad.to_string()
                .contains("unknown secret kind `!KubeSecret`"),
            "{bad}"
        );
    }

    /// A pipeline's length is bounded.
    #[test]
    fn pipeline_steps_are_bounded() {
        let mut src = String::from("projectname: p\ntasks:\n  t:\n    pipeline:\n");
        for i in 0..=MAX_STEPS {
            src.push_str(&format!("      - runcommand: echo {i}\n"));
        }
        let d = parse_str(&src).expect_err("must fail");
        assert!(
            d.to_string().contains(&format!(
                "has {} steps, more than the {MAX_STEPS} allowed",
                MAX_STEPS + 1
            )),
            "{d}"
        );
    }

    #[test]
    fn duplicates_are_errors() {
        let src =
            "name: x\ntasks:\n  - name: a\n    runcommand: x\n  - name: a\n    runcommand: y\n";
        let d = parse_str(src).expect_err("must fail");
        assert!(d.to_string().contains("task `a` is defined twice"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any text is a project or a list of positioned problems;
            /// never a panic.
            #[test]
            fn any_text_is_parsed_or_refused(src in "\\PC{0,300}") {
                if let Err(d) = parse_str(&src) {
                    prop_assert!(!d.items.is_empty());
                    for item in &d.items {
                        prop_assert!(item.pos.line >= 1 && item.pos.col >= 1);
                    }
                }
            }

            /// Text made of YAML's own punctuation, where parsers break.
            #[test]
            fn yaml_punctuation_never_panics(src in "[a-z:{}\\[\\]&*!,\\- \n'\"#|>?%@`]{0,200}") {
                let _ = parse_str(&src);
            }

            /// Generated projects read back exactly: every model, in order,
            /// with its gate's threshold.
            #[test]
            fn generated_projects_read_back(
                models in proptest::collection::btree_map("[a-z][a-z0-9_-]{0,15}", 0.0f64..1.0, 1..30),
            ) {
                let mut src = String::from("name: generated\nmodels:\n");
                for (name, t) in &models {
                    src.push_str(&format!(
                        "  - name: {name}\n    validationTask:\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {{metrics: {{score: {{threshold: {t:?}}}}}}}\n"
                    ));
                }
                let p = parse_str(&src).map_err(|d| TestCaseError::fail(d.to_string()))?;
                prop_assert_eq!(p.models.len(), models.len());
                for (m, (name, t)) in p.models.iter().zip(&models) {
                    prop_assert_eq!(&m.name, name);
                    let Some((Executor::Wasm(w), _)) = &m.gates[0].executor else {
                        return Err(TestCaseError::fail("not a wasm gate"));
                    };
                    prop_assert_eq!(w.config["metrics"]["score"]["threshold"].as_f64(), Some(*t));
                }
            }

            /// A key written twice in any mapping is always an error that
            /// names it and both positions, however the file is laid out.
            #[test]
            fn a_repeated_key_is_always_caught(
                keys in proptest::collection::btree_set("[a-z]{1,8}", 1..10),
                pick in any::<proptest::sample::Index>(),
                flow in any::<bool>(),
            ) {
                let keys: Vec<&String> = keys.iter().collect();
                let dup = keys[pick.index(keys.len())];
                let mut entries: Vec<String> = keys.iter().map(|k| format!("{k}: 1")).collect();
                entries.push(format!("{dup}: 2"));
                let config = if flow {
                    format!("{{{}}}", entries.join(", "))
                } else {
                    format!("\n{}", entries.iter().map(|e| format!("          {e}\n")).collect::<String>())
                };
                let src = format!(
                    "name: d\nmodels:\n  - name: m\n    validationTask:\n      executor: !wasm\n        plugin: builtin:threshold\n        config: {config}\n"
                );
                let d = parse_str(&src).expect_err("a duplicate key is an error");
                let text = d.to_string();
                let wanted = format!("key `{dup}` is written twice");
                prop_assert!(text.contains(&wanted), "{}", text);
                let line = if flow { 7 } else { 8 + pick.index(keys.len()) };
                let first = format!("(first at line {line}, column");
                prop_assert!(text.contains(&first), "{}", text);
            }
        }
    }
}
