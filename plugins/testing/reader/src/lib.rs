//! A gate that reads artifacts (WIT 0.4.0) as its config says, one check
//! per read with what it got, so host tests can check the bounds and the
//! path rules: `{"ops": [{"op": "read"|"list", "owner": "model"|"run",
//! "id": ID, "path": P, "max": N}]}` (`owner` is the candidate's
//! LoggedModel or run unless `id` names another).
use modelgate_plugin::artifacts::{self, ArtifactOwner};
use modelgate_plugin::prelude::*;
use serde::Deserialize;

struct Reader;

#[derive(Deserialize)]
struct Op {
    op: String,
    owner: String,
    #[serde(default)]
    id: Option<String>,
    path: String,
    #[serde(default = "max")]
    max: u64,
}

fn max() -> u64 {
    1 << 20
}

#[derive(Deserialize)]
struct Settings {
    ops: Vec<Op>,
}

fn error(e: RegistryError) -> String {
    match e {
        RegistryError::NotFound(m) => format!("not-found: {m}"),
        RegistryError::Denied(m) => format!("denied: {m}"),
        RegistryError::Unavailable(m) => format!("unavailable: {m}"),
        RegistryError::BudgetExhausted => "budget-exhausted".into(),
    }
}

impl Gate for Reader {
    fn check_config(config: &Config) -> Result<(), String> {
        config.deserialize::<Settings>().map(drop)
    }

    fn validate(candidate: &Candidate, config: &Config) -> Result<Verdict, String> {
        let settings: Settings = config.deserialize()?;
        let mut checks = Vec::new();
        for op in settings.ops {
            let owner = match (op.owner.as_str(), op.id) {
                ("model", Some(id)) => ArtifactOwner::LoggedModel(id),
                ("run", Some(id)) => ArtifactOwner::Run(id),
                ("model", None) => ArtifactOwner::LoggedModel(
                    candidate
                        .model_id()
                        .ok_or("the candidate has no LoggedModel")?
                        .into(),
                ),
                ("run", None) => ArtifactOwner::Run(
                    candidate
                        .version
                        .run_id
                        .clone()
                        .ok_or("the candidate has no run")?,
                ),
                (other, _) => return Err(format!("unknown owner {other}")),
            };
            let name = format!("{} {}", op.op, op.path);
            let check = match op.op.as_str() {
                "read" => match artifacts::read(&owner, &op.path, op.max) {
                    Ok(a) => Check::new(name, true)
                        .observed(format!(
                            "{} bytes, truncated={}, size={:?}",
                            a.data.len(),
                            a.truncated,
                            a.size
                        ))
                        .detail(String::from_utf8_lossy(&a.data[..a.data.len().min(64)])),
                    Err(e) => Check::new(name, false).observed(error(e)),
                },
                "list" => match artifacts::list(&owner, &op.path) {
                    Ok(entries) => Check::new(name, true).observed(
                        entries
                            .iter()
                            .map(|e| {
                                if e.is_dir {
                                    format!("{}/", e.path)
                                } else {
                                    e.path.clone()
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    Err(e) => Check::new(name, false).observed(error(e)),
                },
                other => return Err(format!("unknown op {other}")),
            };
            checks.push(check);
        }
        Ok(Verdict::from_checks(checks))
    }
}

export_gate!(Reader);
