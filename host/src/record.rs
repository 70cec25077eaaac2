//! Recording a verdict in the registry, as tags on the judged version.
//!
//! The tag names are a stable contract (documented in the README):
//!
//! | tag | value |
//! |-----|-------|
//! | `modelgate.verdict` | `pass`, `fail` (a gate judged and said no) or `error` (a gate could not judge, none said no); `pending` while a record is written, and after one cut short (no verdict) |
//! | `modelgate.judged_at` | when, RFC 3339 UTC |
//! | `modelgate.plan` | `sha256:` of what was judged: each gate's name, kind, plugin sha256 or command, and config — a changed policy shows as a new digest |
//! | `modelgate.report` | `sha256:` of the JSON report the verdict came from |
//! | `modelgate.gate.NAME` | each gate's `pass`, `fail` or `error` |
//!
//! The verdict tag is written first as `pending` and last as the verdict,
//! so a reader never takes an earlier verdict for this record's, and
//! whoever sees the verdict sees the rest: a record cut short (a crash, a
//! refused write) reads `pending`, which is no verdict, until the next
//! record completes it. On the SQLite backend all of it is one transaction.

use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

use crate::gate::Outcome;
use crate::registry::writer::{MAX_TAG_KEY, RegistryWriter};
use crate::runner::{Judgement, Ready, ReadyModel};
use crate::text::rfc3339;

/// The verdict tag.
pub const VERDICT: &str = "modelgate.verdict";
/// When the verdict was reached.
pub const JUDGED_AT: &str = "modelgate.judged_at";
/// The digest of the plan that was judged.
pub const PLAN: &str = "modelgate.plan";
/// The digest of the JSON report.
pub const REPORT: &str = "modelgate.report";
/// The prefix of the per-gate tags.
pub const GATE_PREFIX: &str = "modelgate.gate.";

/// The verdict tag's value while a record is being written: not a verdict.
pub const PENDING: &str = "pending";

/// True when `value` of the verdict tag is a verdict (not [`PENDING`]).
pub fn is_verdict(value: &str) -> bool {
    matches!(value, "pass" | "fail" | "error")
}

/// `pass`, `fail` or `error` for a whole judgement.
pub fn verdict(j: &Judgement) -> &'static str {
    if j.gates.iter().all(|g| g.outcome == Outcome::Pass) {
        "pass"
    } else if j.gates.iter().any(|g| g.outcome == Outcome::Fail) {
        "fail"
    } else {
        "error"
    }
}

/// `sha256:HEX` of what a model's gates are: name, kind, what runs
/// (plugin sha256 or command), and config, in plan order.
pub fn plan_digest(model: &ReadyModel) -> String {
    let gates: Vec<serde_json::Value> = model
        .gates
        .iter()
        .map(|g| match &g.ready {
            Ready::Process { command } => serde_json::json!({
                "name": g.gate.name, "kind": "process", "command": command,
            }),
            Ready::Pipeline { steps } => serde_json::json!({
                "name": g.gate.name, "kind": "process", "steps": steps,
            }),
            Ready::Wasm(p) => serde_json::json!({
                "name": g.gate.name, "kind": "wasm", "plugin": p.plugin,
                "sha256": p.sha256, "config": p.config,
            }),
        })
        .collect();
    sha256_tag(serde_json::Value::Array(gates).to_string().as_bytes())
}

/// `sha256:HEX` of `bytes`.
pub fn sha256_tag(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The tag key for gate `name`: MLflow allows letters, digits, `_ . - / :`
/// and spaces in tag keys, at most 250 characters. Anything else becomes
/// `_`, and a name that had to change (or is too long) gets a short digest
/// of the original, so two gates never share a key.
pub fn gate_key(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let room = MAX_TAG_KEY - GATE_PREFIX.len();
    if clean == name && clean.len() <= room {
        return format!("{GATE_PREFIX}{clean}");
    }
    let digest = &hex::encode(Sha256::digest(name.as_bytes()))[..8];
    let keep: String = clean.chars().take(room - 9).collect();
    format!("{GATE_PREFIX}{keep}~{digest}")
}

/// The tags recording `judgement`: the verdict first as [`PENDING`], then
/// the record, then the verdict.
pub fn tags(
    judgement: &Judgement,
    plan_digest: &str,
    report_digest: &str,
    judged_at: SystemTime,
) -> Vec<(String, String)> {
    let mut tags = vec![
        (VERDICT.to_string(), PENDING.to_string()),
        (JUDGED_AT.to_string(), rfc3339(judged_at)),
        (PLAN.to_string(), plan_digest.to_string()),
        (REPORT.to_string(), report_digest.to_string()),
    ];
    for g in &judgement.gates {
        tags.push((gate_key(&g.name), g.outcome.as_str().to_string()));
    }
    tags.push((VERDICT.to_string(), verdict(judgement).to_string()));
    tags
}

/// Writes the tags of `judgement` onto its version.
pub async fn record(
    writer: &dyn RegistryWriter,
    judgement: &Judgement,
    plan_digest: &str,
    report_digest: &str,
    judged_at: SystemTime,
) -> crate::registry::Result<()> {
    let tags = tags(judgement, plan_digest, report_digest, judged_at);
    writer
        .set_version_tags(&judgement.model, judgement.version, &tags)
        .await
}

/// What [`promote`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promotion {
    /// The version did not pass; the alias was not touched.
    NotPassed,
    /// The alias already pointed at the version.
    Already(u64),
    /// The alias was moved (from nowhere, or from an older version).
    Moved {
        /// Where it pointed before.
        from: Option<u64>,
        /// Where it points now.
        to: u64,
    },
}

impl std::fmt::Display for Promotion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Promotion::NotPassed => f.write_str("not moved (the version did not pass)"),
            Promotion::Already(v) => write!(f, "already {v}"),
            Promotion::Moved { from: None, to } => write!(f, "(none) → {to}"),
            Promotion::Moved { from: Some(v), to } => write!(f, "{v} → {to}"),
        }
    }
}

/// Points `alias` at the judged version when it passed, forward only.
///
/// The alias is re-read from `fresh` (never a cache) right before it is
/// moved. What remains is the window between that read and the write: a
/// concurrent promoter could move the alias in between, and the later
/// write wins (MLflow has no compare-and-set for aliases).
pub async fn promote(
    j: &Judgement,
    fresh: &dyn crate::registry::Registry,
    writer: &dyn RegistryWriter,
    alias: &str,
    allow_rollback: bool,
) -> anyhow::Result<Promotion> {
    use crate::error::with_hint;
    let model = crate::text::clean_line(&j.model);
    if !j.passed {
        return Ok(Promotion::NotPassed);
    }
    let current = match fresh.model_version_by_alias(&j.model, alias).await {
        Ok(v) => Some(v.version),
        Err(crate::registry::RegistryError::NotFound(_)) => None,
        Err(e) => {
            return Err(crate::candidate::registry_error(
                e,
                &format!("alias `{alias}` of `{model}`"),
                fresh.uri(),
            ));
        }
    };
    match current {
        Some(v) if v == j.version => return Ok(Promotion::Already(v)),
        Some(v) if v > j.version && !allow_rollback => {
            return Err(with_hint(
                anyhow::anyhow!(
                    "alias `{alias}` of `{model}` points at version {v}, newer than version {}; refusing to move it back",
                    j.version
                ),
                "aliases only move forward; pass `--allow-rollback` to move it back on purpose",
            ));
        }
        _ => {}
    }
    writer
        .set_alias(&j.model, alias, j.version)
        .await
        .map_err(|e| {
            write_error(
                e,
                &format!(
                    "point alias `{alias}` of `{model}` at version {}",
                    j.version
                ),
            )
        })?;
    Ok(Promotion::Moved {
        from: current,
        to: j.version,
    })
}

/// Records `j` under `plan` (its model's [`plan_digest`]) with the digest
/// of the report it is part of ([`report_digest`]).
pub async fn record_judgement(
    writer: &dyn RegistryWriter,
    j: &Judgement,
    plan: &str,
    report_digest: &str,
) -> anyhow::Result<()> {
    record(writer, j, plan, report_digest, j.judged_at)
        .await
        .map_err(|e| {
            write_error(
                e,
                &format!("record the verdict on `{}` version {}", j.model, j.version),
            )
        })
}

/// `sha256:HEX` of `report` as `--format json` prints it: the
/// `modelgate.report` tag.
pub fn report_digest(report: &crate::report::Report) -> String {
    sha256_tag(
        report
            .render(crate::report::Format::Json, crate::report::Style::default())
            .as_bytes(),
    )
}

/// A failed registry write as an error saying what was being done, with
/// the kind's hint.
pub fn write_error(e: crate::registry::RegistryError, doing: &str) -> anyhow::Error {
    use crate::registry::RegistryError;
    match &e {
        // MLflow's auth app: setting version tags and aliases needs
        // `can_update`, i.e. EDIT (or MANAGE) on the registered model.
        RegistryError::Denied(_) => crate::error::with_hint(
            anyhow::anyhow!(
                "failed to {doing}: {e}: the account lacks EDIT permission on the registered model"
            ),
            "`--record`, `--promote` and `serve` write tags and aliases, which needs EDIT on the registered model (READ is enough to validate); grant it, or validate without them",
        ),
        _ => crate::error::with_hint(anyhow::anyhow!("failed to {doing}: {e}"), e.hint()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339() {
        let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc3339(t(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(t(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(t(1_795_849_834)), "2026-11-28T07:10:34Z");
    }

    #[test]
    fn gate_keys_are_valid_and_distinct() {
        assert_eq!(gate_key("quality_gate"), "modelgate.gate.quality_gate");
        let odd = gate_key("a gate/with:odd*chars");
        assert!(
            odd.starts_with("modelgate.gate.a_gate_with_odd_chars~"),
            "{odd}"
        );
        assert_ne!(gate_key("a b"), gate_key("a_b"));
        let long = gate_key(&"x".repeat(400));
        assert!(long.len() <= MAX_TAG_KEY, "{}", long.len());
    }
}
