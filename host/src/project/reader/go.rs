//! The oldest generation of AME's file (2022-09 … 2022-12, read by AME's
//! Go CLI): `projectname`, tasks keyed by name, `pipeline:` steps run in
//! order, `runcommand`, secrets as `name`/`envkey`, env as `name`/`value`.

use super::super::keys::STEP;
use super::super::yaml::{Kind, Node};
use super::super::{MAX_STEPS, Project, Step, Task};
use super::{MapView, Walker};

impl Walker {
    /// The Go generation's keys of the project: `projectname` (used when
    /// there is neither `name` nor `projectid`) and `defaultTask`.
    pub(super) fn go_project(&mut self, map: &MapView<'_>, project: &mut Project) {
        if let Some(n) = map.get("projectname") {
            let id = self.string(n, "`projectname`");
            project.name = project.name.take().or(id);
            self.pipeline_hits += 1;
        }
        if let Some(n) = map.get("defaultTask") {
            self.string(n, "`defaultTask`");
        }
    }

    /// The Go generation's keys of a task: `pipeline` and `source`.
    ///
    /// As AME's Go CLI ran them: a pipeline with steps runs its steps, and
    /// a `runcommand` beside it does not run; `pipeline: []` is no pipeline
    /// (then `runcommand` runs). `executor` and `command` never stood beside
    /// a pipeline in any generation: either with one is an error.
    pub(super) fn go_task(&mut self, map: &MapView<'_>, task: &mut Task, what: &str) {
        if let Some(n) = map.get("pipeline") {
            self.pipeline_hits += 1;
            let runs = ["executor", "command"];
            if let Some(other) = runs.iter().find(|k| map.get(k).is_some()) {
                self.error(
                    map.key_pos("pipeline").unwrap_or(n.pos),
                    format!("{what} has both `pipeline` and `{other}`"),
                    Some("a task runs either its pipeline's steps or one command".into()),
                );
            } else {
                task.pipeline = self.pipeline(n, what);
            }
        }
        if let Some(n) = map.get("source")
            && !matches!(n.kind, Kind::Map(_) | Kind::Null)
        {
            self.error(n.pos, format!("{what}'s `source` must be a mapping"), None);
        }
    }

    /// A task's `pipeline:`: at most [`MAX_STEPS`] steps; none is no pipeline.
    fn pipeline(&mut self, node: &Node, what: &str) -> Option<Vec<Step>> {
        let items = self.list(node, &format!("{what}'s `pipeline`"));
        // `pipeline: []` is no pipeline, as AME's Go CLI read it.
        if items.is_empty() {
            return None;
        }
        if items.len() > MAX_STEPS {
            self.error(
                node.pos,
                format!(
                    "{what}'s `pipeline` has {} steps, more than the {MAX_STEPS} allowed",
                    items.len()
                ),
                Some("split the work into fewer steps, e.g. one script that runs several".into()),
            );
            return None;
        }
        let mut steps = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.into_iter().enumerate() {
            let fallback = format!("step {}", i + 1);
            let Some(map) = self.map(item, &format!("{what}'s {fallback}"), &STEP) else {
                ok = false;
                continue;
            };
            let name = match map.get("taskname") {
                Some(n) => self.nonempty_string(n, &format!("{what}'s {fallback} `taskname`")),
                None => Some(fallback.clone()),
            };
            let label = format!("step `{}` of {what}", name.as_deref().unwrap_or(&fallback));
            let pos = map.start().unwrap_or(item.pos);
            let command = match map.get("runcommand") {
                Some(n) => self.nonempty_string(n, &format!("`runcommand` of {label}")),
                None => {
                    self.error(
                        pos,
                        format!("{label} has no `runcommand`"),
                        Some("add `runcommand: COMMAND`".into()),
                    );
                    None
                }
            };
            let env = map
                .get("env")
                .map(|n| self.env_list(n, &label))
                .unwrap_or_default();
            let secrets = map
                .get("secrets")
                .map(|n| self.secret_list(n, &label))
                .unwrap_or_default();
            match (name, command) {
                (Some(name), Some(command)) => steps.push(Step {
                    name,
                    command,
                    env,
                    secrets,
                    pos,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(steps)
    }
}
