//! The generation AME's first Rust CLI read (2022-11 … 2023-04, its
//! protobuf `TaskTemplate`, snake_case): `projectid`, tasks with `command`
//! and `task_type` (a number: 0 Pipenv, 1 Mlflow, 2 Poetry).

use super::{MapView, Walker};
use crate::project::Task;

impl Walker {
    /// The CLI's keys of a task: `command` (its `runcommand`) and
    /// `task_type`.
    pub(super) fn cli_task(&mut self, map: &MapView<'_>, task: &mut Task, what: &str) {
        if let Some(n) = map.get("command") {
            if map.get("runcommand").is_some() {
                self.error(
                    n.pos,
                    format!("{what} has both `command` and `runcommand`"),
                    Some("keep one: they are the same field in two generations of the file".into()),
                );
            } else {
                task.runcommand = self.nonempty_string(n, &format!("{what}'s `command`"));
            }
            self.legacy_hits += 1;
        }
        if let Some(n) = map.get("task_type") {
            task.task_type = self.task_type(n, &format!("{what}'s `task_type`"));
            self.legacy_hits += 1;
        }
    }
}
