//! The candidate: the model version the gates judge, resolved in the registry.
//!
//! By default the newest READY version; `--version N` or `--alias A` pick
//! another. Anything missing is an error naming what was asked for, because
//! validating the wrong version is worse than validating none.

use crate::error::with_hint;
use crate::registry::{ModelVersion, Registry, RegistryError};

/// How to pick the candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The newest READY version.
    Latest,
    /// A version number.
    Version(u64),
    /// The version an alias points at.
    Alias(String),
    /// Every READY version (a sweep).
    All,
}

impl Selector {
    /// `latest`, `version` or `alias:NAME`, as the report says it.
    pub fn describe(&self) -> String {
        match self {
            Selector::Latest => "latest".into(),
            Selector::Version(_) => "version".into(),
            Selector::Alias(a) => format!("alias:{a}"),
            Selector::All => "all-versions".into(),
        }
    }
}

/// A resolved candidate.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The model version.
    pub version: ModelVersion,
    /// How it was chosen.
    pub selector: Selector,
}

/// Turns a registry error into a user-facing one about `what`.
pub fn registry_error(err: RegistryError, what: &str, uri: &str) -> anyhow::Error {
    let hint = err.hint();
    let msg = match &err {
        RegistryError::Unavailable(m) => format!("failed to read {what} from `{uri}`: {m}"),
        RegistryError::Unauthenticated(m) => {
            format!("the registry at `{uri}` does not accept these credentials for {what}: {m}")
        }
        RegistryError::Denied(m) => {
            let who = match std::env::var("MLFLOW_TRACKING_USERNAME") {
                Ok(u) if !u.is_empty() => format!("user `{}`", crate::text::clean_line(&u)),
                _ => "this account".to_string(),
            };
            format!(
                "the registry at `{uri}` denied {who} access to {what} (READ permission needed): {m}"
            )
        }
        RegistryError::NotFound(m) => format!("{what} not found in `{uri}`: {m}"),
        RegistryError::Invalid(m) | RegistryError::Tls(m) => {
            format!("failed to read {what} from `{uri}`: {m}")
        }
    };
    with_hint(anyhow::anyhow!(msg), hint)
}

/// Every READY version of `model`, oldest first; an error when there is none.
pub async fn ready_versions(
    registry: &dyn Registry,
    model: &str,
) -> anyhow::Result<Vec<ModelVersion>> {
    let uri = registry.uri().to_string();
    let versions = registry.model_versions(model).await.map_err(|e| match e {
        RegistryError::NotFound(_) => with_hint(
            anyhow::anyhow!("model `{model}` is not registered in `{uri}`"),
            "register a version first (e.g. run the training), or check the model name in ame.yaml",
        ),
        other => registry_error(other, &format!("the versions of model `{model}`"), &uri),
    })?;
    let newest = versions.first().map(|v| (v.version, v.status.clone()));
    let mut ready: Vec<ModelVersion> = versions.into_iter().filter(|v| v.is_ready()).collect();
    ready.sort_by_key(|v| v.version);
    if ready.is_empty() {
        return Err(match newest {
            None => with_hint(
                anyhow::anyhow!("model `{model}` has no versions in `{uri}`"),
                "register a version first (e.g. run the training)",
            ),
            Some((version, status)) => with_hint(
                anyhow::anyhow!(
                    "model `{model}` has no READY version (newest is version {version} with status {status})"
                ),
                "wait for the registration to finish, or pick one with --version",
            ),
        });
    }
    Ok(ready)
}

/// Every READY version of `model` as candidates, oldest first.
pub async fn resolve_all(registry: &dyn Registry, model: &str) -> anyhow::Result<Vec<Candidate>> {
    Ok(ready_versions(registry, model)
        .await?
        .into_iter()
        .map(|version| Candidate {
            version,
            selector: Selector::All,
        })
        .collect())
}

/// Resolves the candidate of `model`.
pub async fn resolve(
    registry: &dyn Registry,
    model: &str,
    selector: &Selector,
) -> anyhow::Result<Candidate> {
    let uri = registry.uri().to_string();
    let version = match selector {
        Selector::Latest | Selector::All => {
            let versions = ready_versions(registry, model).await?;
            versions[versions.len() - 1].clone()
        }
        Selector::Version(n) => match registry.model_version(model, *n).await {
            Ok(v) => v,
            Err(e) => {
                return Err(not_found_or(e, model, &format!("version {n}"), &uri, registry).await);
            }
        },
        Selector::Alias(a) => match registry.model_version_by_alias(model, a).await {
            Ok(v) => v,
            Err(e) => {
                return Err(not_found_or(e, model, &format!("alias `{a}`"), &uri, registry).await);
            }
        },
    };
    if !version.is_ready() {
        return Err(with_hint(
            anyhow::anyhow!(
                "version {} of model `{model}` has status {}, not READY",
                version.version,
                version.status
            ),
            "only fully registered versions are validated; pick another with --version",
        ));
    }
    Ok(Candidate {
        version,
        selector: selector.clone(),
    })
}

async fn not_found_or(
    e: RegistryError,
    model: &str,
    what: &str,
    uri: &str,
    registry: &dyn Registry,
) -> anyhow::Error {
    match e {
        RegistryError::NotFound(_) => {
            // Backends word "no such version" and "no such model" alike; ask.
            if let Err(RegistryError::NotFound(_)) = registry.registered_model(model).await {
                with_hint(
                    anyhow::anyhow!("model `{model}` is not registered in `{uri}`"),
                    "register a version first (e.g. run the training), or check the model name in ame.yaml",
                )
            } else {
                with_hint(
                    anyhow::anyhow!("model `{model}` has no {what} in `{uri}`"),
                    "leave out --version/--alias to validate the newest version, or check the MLflow UI",
                )
            }
        }
        other => registry_error(other, &format!("{what} of model `{model}`"), uri),
    }
}
