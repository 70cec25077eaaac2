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

use std::collections::HashMap;

use crate::gate::Outcome;
use crate::judge::{Judgement, Ready, ReadyModel, Runner, Sink, Verdict};
use crate::registry::writer::{MAX_TAG_KEY, RegistryWriter};
use crate::report::{JsonStream, RenderedModel};
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
    Verdict::parse(value).is_some()
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

/// The tags recording `judged`: the verdict first as [`PENDING`], then the
/// record, then the verdict.
pub fn tags(judged: &Judged, plan_digest: &str, report_digest: &str) -> Vec<(String, String)> {
    let mut tags = vec![
        (VERDICT.to_string(), PENDING.to_string()),
        (JUDGED_AT.to_string(), rfc3339(judged.judged_at)),
        (PLAN.to_string(), plan_digest.to_string()),
        (REPORT.to_string(), report_digest.to_string()),
    ];
    for (name, outcome) in &judged.gates {
        tags.push((gate_key(name), outcome.as_str().to_string()));
    }
    tags.push((VERDICT.to_string(), judged.verdict.as_str().to_string()));
    tags
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
    j: &Judged,
    fresh: &dyn crate::registry::Registry,
    writer: &dyn RegistryWriter,
    alias: &str,
    allow_rollback: bool,
) -> anyhow::Result<Promotion> {
    use crate::error::with_hint;
    let model = crate::text::clean_line(&j.model);
    if j.verdict != Verdict::Pass {
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

/// Writes the tags of `judged` onto its version.
async fn record(
    writer: &dyn RegistryWriter,
    judged: &Judged,
    plan: &str,
    report_digest: &str,
) -> anyhow::Result<()> {
    let tags = tags(judged, plan, report_digest);
    writer
        .set_version_tags(&judged.model, judged.version, &tags)
        .await
        .map_err(|e| {
            write_error(
                e,
                &format!(
                    "record the verdict on `{}` version {}",
                    judged.model, judged.version
                ),
            )
        })
}

/// What the record of one judgement needs: not its evidence or output.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The registered model.
    pub model: String,
    /// The judged version.
    pub version: u64,
    /// When it was judged.
    pub judged_at: SystemTime,
    /// Its verdict.
    pub verdict: Verdict,
    /// Each gate's name and outcome, in plan order.
    pub gates: Vec<(String, Outcome)>,
}

impl Judged {
    /// The record's part of `j`.
    pub fn of(j: &Judgement) -> Judged {
        Judged {
            model: j.model.clone(),
            version: j.version,
            judged_at: j.judged_at,
            verdict: j.verdict(),
            gates: j
                .gates
                .iter()
                .map(|g| (g.name.clone(), g.outcome))
                .collect(),
        }
    }
}

/// Where `--promote` points an alias.
#[derive(Debug, Clone)]
pub struct Promote {
    /// The alias.
    pub alias: String,
    /// `--allow-rollback`: it may move back to an older version.
    pub allow_rollback: bool,
}

/// What [`Recorder::finish`] did, said as it is done.
pub enum Event<'a> {
    /// The verdict of this judgement was recorded.
    Recorded(&'a Judged),
    /// The alias was handled for this judgement: moved, left where it
    /// was, or the error.
    Promoted(&'a Judged, &'a str, anyhow::Result<Promotion>),
}

/// The sink that records verdicts: it keeps what the tags of each
/// judgement need and the digest of the JSON report they are part of (the
/// `modelgate.report` tag: the bytes `--format json` prints, hashed as
/// they are made); [`finish`](Self::finish) then writes every record and
/// moves the alias. `validate --record` and `serve` record through it
/// alike.
pub struct Recorder {
    /// `modelgate.plan` of each model.
    plans: HashMap<String, String>,
    report: JsonStream<HashWriter>,
    judged: Vec<Judged>,
}

/// One judgement as the recorder takes it.
pub struct RecorderItem {
    json: RenderedModel,
    judged: Judged,
}

impl Recorder {
    /// A recorder for judgements of `runner`'s models, in a report of
    /// `tracking_uri` and `project` (its head, as the JSON report has it).
    pub fn new(runner: &Runner, tracking_uri: &str, project: &str) -> anyhow::Result<Recorder> {
        let plans = runner
            .models
            .iter()
            .map(|m| (m.name.clone(), plan_digest(m)))
            .collect();
        Ok(Recorder {
            plans,
            report: JsonStream::begin(HashWriter::default(), tracking_uri, project)?,
            judged: Vec::new(),
        })
    }

    /// The judgements taken so far, in order.
    pub fn judged(&self) -> &[Judged] {
        &self.judged
    }

    /// Writes every judgement's record (the report's digest in each), then
    /// with `promote` points the alias at each version that passed, forward
    /// only; `on` hears of each step, and an error of its stops the rest.
    pub async fn finish(
        self,
        writer: &dyn RegistryWriter,
        fresh: &dyn crate::registry::Registry,
        promote: Option<&Promote>,
        mut on: impl FnMut(Event<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let (hasher, _) = self.report.finish_into()?;
        let report_digest = format!("sha256:{}", hex::encode(hasher.0.finalize()));
        for j in &self.judged {
            let plan = self
                .plans
                .get(&j.model)
                .ok_or_else(|| anyhow::anyhow!("internal: a judged model was not prepared"))?;
            record(writer, j, plan, &report_digest).await?;
            on(Event::Recorded(j))?;
        }
        if let Some(p) = promote {
            for j in &self.judged {
                let done = self::promote(j, fresh, writer, &p.alias, p.allow_rollback).await;
                on(Event::Promoted(j, &p.alias, done))?;
            }
        }
        Ok(())
    }
}

impl Sink for Recorder {
    type Item = RecorderItem;

    fn prepare(judgement: Judgement) -> anyhow::Result<RecorderItem> {
        Ok(RecorderItem {
            json: RenderedModel::new(&judgement)?,
            judged: Judged::of(&judgement),
        })
    }

    fn take(&mut self, item: RecorderItem) -> anyhow::Result<()> {
        self.report.push_rendered(&item.json)?;
        self.judged.push(item.judged);
        Ok(())
    }
}

/// A writer that only hashes.
#[derive(Default)]
pub struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
