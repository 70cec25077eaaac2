//! The model-validation guide's generation (2022-12 … 2023-04, read by
//! AME's Rust controller, camelCase): `projectid`, `runcommand` run as
//! `taskType` says, `templateRef: project.template`, `!AmeSecret` and
//! `!VaultSecret` secrets, and the model's `training`/`deployment` of that
//! time.

use super::super::keys::VAULT_SECRET;
use super::super::yaml::Node;
use super::super::{Project, Task, TaskType, VAULT_PREFIX};
use super::{MapView, Walker};

impl Walker {
    /// The keys of the project in the guide's (and the first Rust CLI's)
    /// generation: `projectid`, used when there is no `name`; `logEntry`.
    pub(super) fn controller_project(&mut self, map: &MapView<'_>, project: &mut Project) {
        if let Some(n) = map.get("projectid") {
            let id = self.string(n, "`projectid`");
            project.name = project.name.take().or(id);
            self.legacy_hits += 1;
        }
        if let Some(n) = map.get("logEntry") {
            self.any_map(n, "`logEntry`");
        }
    }

    /// The guide's keys of a model's `deployment`: snake_case, and
    /// `resources` as Kubernetes' `limits:`/`requests:`.
    pub(super) fn controller_deployment(&mut self, d: &MapView<'_>) {
        for key in ["auto_train", "deploy", "enable_tls"] {
            if let Some(v) = d.get(key) {
                self.boolean(v, &format!("`deployment.{key}`"));
            }
        }
        if let Some(v) = d.get("ingress_annotations") {
            self.string_map(v, "`deployment.ingress_annotations`");
        }
        if let Some(v) = d.get("ingress") {
            self.any_map(v, "`deployment.ingress`");
        }
    }

    /// `- !VaultSecret {vaultName, secretPath, secretKey, envkey}`: AME's
    /// tasks read it from Vault, which modelgate does not. It stands for the
    /// gate's variable `envkey`, which must then be in modelgate's
    /// environment (or the gate does not run, with a hint naming the Vault
    /// path and key): the secret `vault:PATH#KEY` passed as `envkey`.
    pub(super) fn vault_secret(&mut self, node: &Node) -> Option<(String, String)> {
        let v = self.map(node, "a `!VaultSecret`", &VAULT_SECRET)?;
        let mut field = |key: &str| match v.get(key) {
            Some(n) => self.nonempty_string(n, &format!("`!VaultSecret` `{key}`")),
            None => {
                self.error(
                    node.pos,
                    format!("a `!VaultSecret` needs `{key}`"),
                    Some("write `- !VaultSecret {secretPath: PATH, secretKey: KEY, envkey: VARIABLE}`".into()),
                );
                None
            }
        };
        let (path, key, envkey) = (field("secretPath"), field("secretKey"), field("envkey"));
        if let Some(n) = v.get("vaultName") {
            self.string(n, "`!VaultSecret` `vaultName`");
        }
        Some((format!("{VAULT_PREFIX}{}#{}", path?, key?), envkey?))
    }

    /// The guide's keys of a task (`runcommand` is also the Go
    /// generation's; `image` also the CLI's).
    pub(super) fn controller_task(&mut self, map: &MapView<'_>, task: &mut Task, what: &str) {
        if let Some(n) = map.get("runcommand") {
            task.runcommand = self.nonempty_string(n, &format!("{what}'s `runcommand`"));
            self.legacy_hits += 1;
        }
        if let Some(n) = map.get("taskType") {
            task.task_type = self.task_type(n, &format!("{what}'s `taskType`"));
            self.legacy_hits += 1;
        }
        if let Some(n) = map.get("projectid") {
            self.string(n, &format!("{what}'s `projectid`"));
        }
        if let Some(n) = map.get("templateRef") {
            if let Some(s) = self.nonempty_string(n, &format!("{what}'s `templateRef`")) {
                task.template_ref = Some((s, n.pos));
            }
            self.legacy_hits += 1;
        }
        if let Some(n) = map.get("image") {
            self.string(n, &format!("{what}'s `image`"));
        }
        if let Some(n) = map.get("dataSet") {
            for item in self.list(n, &format!("{what}'s `dataSet`")) {
                self.string(item, "a data set name");
            }
        }
    }

    pub(super) fn task_type(&mut self, node: &Node, what: &str) -> Option<TaskType> {
        match node.as_str() {
            Some("PipEnv" | "Pipenv" | "pipenv") => Some(TaskType::Pipenv),
            Some("Mlflow" | "mlflow" | "1") => Some(TaskType::Mlflow),
            Some("Poetry" | "poetry" | "2") => Some(TaskType::Poetry),
            // The first Rust CLI's numbers: any other is Pipenv, as there.
            Some(n) if n.parse::<i64>().is_ok() => Some(TaskType::Pipenv),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be one of PipEnv, Mlflow, Poetry (or 0, 1, 2)"),
                    None,
                );
                None
            }
        }
    }
}
