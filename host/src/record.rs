//! Recording a verdict in the registry, as tags on the judged version.
//!
//! The tag names are a stable contract (documented in the README):
//!
//! | tag | value |
//! |-----|-------|
//! | `modelgate.verdict` | `pass`, `fail` (a gate judged and said no) or `error` (a gate could not judge, none said no) |
//! | `modelgate.judged_at` | when, RFC 3339 UTC |
//! | `modelgate.plan` | `sha256:` of what was judged: each gate's name, kind, plugin sha256 or command, and config — a changed policy shows as a new digest |
//! | `modelgate.report` | `sha256:` of the JSON report the verdict came from |
//! | `modelgate.gate.NAME` | each gate's `pass`, `fail` or `error` |
//!
//! The verdict tag is written last, so whoever sees it sees the rest; on
//! the SQLite backend all of them are one transaction.

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

/// The tags recording `judgement`, the verdict last.
pub fn tags(
    judgement: &Judgement,
    plan_digest: &str,
    report_digest: &str,
    judged_at: SystemTime,
) -> Vec<(String, String)> {
    let mut tags = vec![
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
