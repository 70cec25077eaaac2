//! Recording a verdict in the registry, as tags on the judged version.
//!
//! The tag names are a stable contract (documented in the README):
//!
//! | tag | value |
//! |-----|-------|
//! | `modelgate.verdict` | `pass`, `fail` (a gate judged and said no) or `error` (a gate could not judge, none said no); `pending` while a record is written over an older verdict, and after one cut short (no verdict) |
//! | `modelgate.judged_at` | when, RFC 3339 UTC |
//! | `modelgate.plan` | `sha256:` of what was judged ([`plan_digest`]): each gate's name, kind, plugin sha256 and config, or command, environment, secrets' names, timeout and the files its command names — a changed policy shows as a new digest |
//! | `modelgate.report` | `sha256:` of the JSON report the verdict came from |
//! | `modelgate.gate.NAME` | each gate's `pass`, `fail` or `error` |
//! | `modelgate.seal` | `sha256:` of the record: the model and version, judged_at, plan, report, each gate's tag, the values the tags its gates read had when judged, and the verdict |
//!
//! # The record protocol
//!
//! MLflow writes a version's tags one request at a time, and a writer may
//! die between any two. So:
//!
//! 1. `modelgate.verdict` is written first as `pending`: from then on no
//!    earlier verdict reads as this version's (skipped when the version
//!    carried no verdict tag when it was read for the judgement: there is
//!    none to invalidate, and one written since by another writer is
//!    caught by the seal);
//! 2. `judged_at`, `plan`, `report`, every gate's tag and the `seal` (over
//!    all of these, the verdict to come, the model and version, and the
//!    values of the tags the gates read — a `builtin:tags` approval — as
//!    judged), in any order — the REST writer sends them at once;
//! 3. `modelgate.verdict` last, only once every other write succeeded.
//!
//! A reader takes a verdict as *current* ([`current_verdict`]) only when
//! it is `pass`, `fail` or `error`, `modelgate.plan` is the plan being
//! judged now, and the seal is that of the tags as they stand. A record cut
//! short reads `pending` or has no verdict tag; a verdict of another plan is not
//! current; two writers interleaving, a verdict or gate tag edited by hand,
//! a gate tag left from an older record, a tag the gates read set, changed
//! or deleted since (an approval withdrawn): the seal no longer matches, so
//! the verdict is not current and the version is judged again. On the
//! SQLite backend all of it is one transaction.

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
/// The seal of the record.
pub const SEAL: &str = "modelgate.seal";

/// The verdict tag's value while a record is being written: not a verdict.
pub const PENDING: &str = "pending";

/// True when `value` of the verdict tag is a verdict (not [`PENDING`]).
pub fn is_verdict(value: &str) -> bool {
    Verdict::parse(value).is_some()
}

/// `sha256:HEX` of what a model's gates are, in plan order: name, kind,
/// what runs and how — a WebAssembly gate's plugin sha256 and config; a
/// process gate's command (or steps), environment, secrets' names,
/// timeout and the files its commands name with their contents
/// ([`crate::judge::runner::named_files`]).
pub fn plan_digest(model: &ReadyModel) -> String {
    let gates: Vec<serde_json::Value> = model
        .gates
        .iter()
        .map(|g| match &g.ready {
            Ready::Process { command, files } => serde_json::json!({
                "name": g.gate.name, "kind": "process", "command": command,
                "env": g.gate.env, "secrets": g.gate.secrets,
                "timeout": g.gate.timeout.map(|t| t.as_millis() as u64),
                "files": files,
            }),
            Ready::Pipeline { steps, files } => serde_json::json!({
                "name": g.gate.name, "kind": "process", "steps": steps,
                "env": g.gate.env, "secrets": g.gate.secrets,
                "timeout": g.gate.timeout.map(|t| t.as_millis() as u64),
                "files": files,
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

/// The tags recording `judged`: the verdict first as [`PENDING`] (unless
/// the version had no verdict tag to invalidate), then the record and its
/// seal, then the verdict (see the protocol above).
pub fn tags(judged: &Judged, plan_digest: &str, report_digest: &str) -> Vec<(String, String)> {
    let judged_at = rfc3339(judged.judged_at);
    let gates: Vec<(String, &str)> = judged
        .gates
        .iter()
        .map(|(name, outcome)| (gate_key(name), outcome.as_str()))
        .collect();
    let verdict = judged.verdict.as_str();
    let read: Vec<(&str, Option<&str>)> = judged
        .read_tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref()))
        .collect();
    let sealed = seal(
        (&judged.model, judged.version),
        &judged_at,
        plan_digest,
        report_digest,
        &gates,
        &read,
        verdict,
    );
    let mut tags = Vec::with_capacity(judged.gates.len() + 6);
    if !judged.unrecorded {
        tags.push((VERDICT.to_string(), PENDING.to_string()));
    }
    tags.extend([
        (JUDGED_AT.to_string(), judged_at),
        (PLAN.to_string(), plan_digest.to_string()),
        (REPORT.to_string(), report_digest.to_string()),
    ]);
    tags.extend(gates.into_iter().map(|(k, v)| (k, v.to_string())));
    tags.push((SEAL.to_string(), sealed));
    tags.push((VERDICT.to_string(), verdict.to_string()));
    tags
}

/// `sha256:` of a record's parts, of the version it is on (so tags
/// copied onto another version, e.g. by MLflow's `copy_model_version`, are
/// no verdict there) and of the values the tags its gates read had when it
/// was judged (so an approval withdrawn or changed since leaves no verdict
/// standing), in one canonical text.
fn seal(
    (model, version): (&str, u64),
    judged_at: &str,
    plan: &str,
    report: &str,
    gates: &[(String, &str)],
    read_tags: &[(&str, Option<&str>)],
    verdict: &str,
) -> String {
    let text = serde_json::json!([
        "modelgate.seal/v3",
        model,
        version,
        judged_at,
        plan,
        report,
        gates,
        read_tags,
        verdict
    ]);
    sha256_tag(text.to_string().as_bytes())
}

/// The verdict `version` carries for the plan `plan` (whose gates' tag
/// keys are `gate_keys`, see [`gate_key`], and whose gates read the tags
/// `read_keys`, see [`crate::judge::runner::ReadyModel::tags_read`]), if
/// it carries a current one: `pass`, `fail` or `error`, recorded under
/// that plan, its seal that of the tags as they stand. Anything else — no
/// verdict, `pending`, another plan, tags changed or mixed since, a tag
/// the gates read set, changed or deleted since — is no verdict: judge it
/// again.
pub fn current_verdict(
    version: &crate::registry::ModelVersion,
    plan: &str,
    gate_keys: &[String],
    read_keys: &[String],
) -> Option<Verdict> {
    let tag = |key: &str| {
        version
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    };
    let verdict = Verdict::parse(tag(VERDICT)?)?;
    if tag(PLAN)? != plan {
        return None;
    }
    let gates: Vec<(String, &str)> = gate_keys
        .iter()
        .map(|k| Some((k.clone(), tag(k)?)))
        .collect::<Option<_>>()?;
    let read: Vec<(&str, Option<&str>)> = read_keys.iter().map(|k| (k.as_str(), tag(k))).collect();
    let expected = seal(
        (&version.name, version.version),
        tag(JUDGED_AT)?,
        plan,
        tag(REPORT)?,
        &gates,
        &read,
        verdict.as_str(),
    );
    (tag(SEAL)? == expected).then_some(verdict)
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

/// Points `alias` of `model` at `version` unless it already points there
/// or at a newer version (never back): the reconciler's move, with the
/// alias re-read from `fresh` right before. `Already(v)` says where it
/// stays when that is `version` or newer.
pub async fn promote_forward(
    model: &str,
    version: u64,
    fresh: &dyn crate::registry::Registry,
    writer: &dyn RegistryWriter,
    alias: &str,
) -> anyhow::Result<Promotion> {
    let shown = crate::text::clean_line(model);
    let current = match fresh.model_version_by_alias(model, alias).await {
        Ok(v) => Some(v.version),
        Err(crate::registry::RegistryError::NotFound(_)) => None,
        Err(e) => {
            return Err(crate::candidate::registry_error(
                e,
                &format!("alias `{alias}` of `{shown}`"),
                fresh.uri(),
            ));
        }
    };
    if let Some(v) = current.filter(|v| *v >= version) {
        return Ok(Promotion::Already(v));
    }
    writer.set_alias(model, alias, version).await.map_err(|e| {
        write_error(
            e,
            &format!("point alias `{alias}` of `{shown}` at version {version}"),
        )
    })?;
    Ok(Promotion::Moved {
        from: current,
        to: version,
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
    // `pending` alone first (when there is one), the verdict alone last,
    // the rest at once between them.
    let pending = usize::from(!judged.unrecorded);
    let mut stages = vec![tags[pending..tags.len() - 1].to_vec()];
    if pending == 1 {
        stages.insert(0, tags[..1].to_vec());
    }
    stages.extend(tags.last().cloned().map(|t| vec![t]));
    writer
        .set_version_tags(&judged.model, judged.version, &stages)
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
    /// The version had no verdict tag when it was read for the judgement.
    pub unrecorded: bool,
    /// The tags its gates read, with their values as judged (sealed).
    pub read_tags: Vec<(String, Option<String>)>,
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
            unrecorded: j.unrecorded,
            read_tags: j.read_tags.clone(),
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

    fn version_with(tags: &[(String, String)]) -> crate::registry::ModelVersion {
        crate::registry::ModelVersion {
            name: "m".into(),
            version: 1,
            run_id: None,
            model_id: None,
            status: "READY".into(),
            current_stage: None,
            source: None,
            description: None,
            creation_timestamp: 0,
            last_updated_timestamp: 0,
            aliases: vec![],
            tags: tags
                .iter()
                .map(|(k, v)| crate::registry::KeyValue {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        }
    }

    /// Every prefix of a record's writes, in any order of the ones between
    /// the first and the last, reads as no verdict; only the whole record
    /// reads as its verdict, and only for its plan; a hand-edited verdict,
    /// a gate tag of another record, or a verdict left from an older record
    /// beside a newer one's tags is no verdict either.
    #[test]
    fn only_a_whole_sealed_record_of_the_plan_is_a_verdict() {
        let judged = Judged {
            model: "m".into(),
            version: 1,
            judged_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_849_834),
            verdict: Verdict::Fail,
            gates: vec![("a".into(), Outcome::Pass), ("b".into(), Outcome::Fail)],
            unrecorded: false,
            read_tags: Vec::new(),
        };
        let keys = vec![gate_key("a"), gate_key("b")];
        let record = tags(&judged, "sha256:plan", "sha256:report");
        // An older record's pass under another plan, then this record
        // written a tag at a time: nothing reads as a verdict until the
        // last write, which reads as this one.
        let old = Judged {
            verdict: Verdict::Pass,
            gates: vec![("a".into(), Outcome::Pass), ("b".into(), Outcome::Pass)],
            ..judged.clone()
        };
        let put = |state: &mut Vec<(String, String)>, (k, v): &(String, String)| {
            state.retain(|(key, _)| key != k);
            state.push((k.clone(), v.clone()));
        };
        let written = |record: &[(String, String)]| {
            let mut state = Vec::new();
            for t in record {
                put(&mut state, t);
            }
            state
        };
        let mut state = written(&tags(&old, "sha256:old", "sha256:r0"));
        assert_eq!(
            current_verdict(&version_with(&state), "sha256:old", &keys, &[]),
            Some(Verdict::Pass)
        );
        for (i, t) in record.iter().enumerate() {
            put(&mut state, t);
            let read = current_verdict(&version_with(&state), "sha256:plan", &keys, &[]);
            let old_read = current_verdict(&version_with(&state), "sha256:old", &keys, &[]);
            assert_eq!(
                old_read, None,
                "after write {i} the old verdict still reads"
            );
            if i + 1 < record.len() {
                assert_eq!(read, None, "after write {i} of {}", record.len());
            } else {
                assert_eq!(read, Some(Verdict::Fail));
            }
        }
        // The writes between the first and the last in reverse order, and
        // everything but the verdict: still no verdict.
        let mut reversed = written(&tags(&old, "sha256:old", "sha256:r0"));
        put(&mut reversed, &record[0]);
        for t in record[1..record.len() - 1].iter().rev() {
            put(&mut reversed, t);
            assert_eq!(
                current_verdict(&version_with(&reversed), "sha256:plan", &keys, &[]),
                None
            );
        }
        // A verdict edited by hand, a gate tag of another record.
        let mut edited = state.clone();
        put(&mut edited, &(VERDICT.to_string(), "pass".to_string()));
        assert_eq!(
            current_verdict(&version_with(&edited), "sha256:plan", &keys, &[]),
            None
        );
        let mut mixed = state.clone();
        put(&mut mixed, &(gate_key("b"), "pass".to_string()));
        assert_eq!(
            current_verdict(&version_with(&mixed), "sha256:plan", &keys, &[]),
            None
        );
        // The same tags copied onto another version or model (MLflow's
        // `copy_model_version` copies tags): no verdict there.
        let elsewhere = |name: &str, number: u64| {
            let mut v = version_with(&state);
            v.name = name.into();
            v.version = number;
            current_verdict(&v, "sha256:plan", &keys, &[])
        };
        assert_eq!(elsewhere("m", 1), Some(Verdict::Fail));
        assert_eq!(elsewhere("m", 2), None);
        assert_eq!(elsewhere("other", 1), None);
        // Another plan's gates: not this record's verdict.
        assert_eq!(
            current_verdict(&version_with(&state), "sha256:plan", &[gate_key("a")], &[]),
            None
        );
    }

    /// The values of the tags the gates read are sealed as judged: an
    /// approval withdrawn, changed or added since leaves no verdict (the
    /// version is judged again); the same value back reads as it again.
    #[test]
    fn a_tag_the_gates_read_changed_since_unmakes_the_verdict() {
        let judged = Judged {
            model: "m".into(),
            version: 1,
            judged_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_849_834),
            verdict: Verdict::Pass,
            gates: vec![("approved".into(), Outcome::Pass)],
            unrecorded: true,
            read_tags: vec![
                ("approval".into(), Some("approved".into())),
                ("blocked".into(), None),
            ],
        };
        let keys = vec![gate_key("approved")];
        let read = vec!["approval".to_string(), "blocked".to_string()];
        let with = |extra: &[(&str, &str)]| {
            let mut state = tags(&judged, "sha256:plan", "sha256:report");
            state.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            current_verdict(&version_with(&state), "sha256:plan", &keys, &read)
        };
        assert_eq!(with(&[("approval", "approved")]), Some(Verdict::Pass));
        assert_eq!(
            with(&[("approval", "approved"), ("other", "x")]),
            Some(Verdict::Pass)
        );
        assert_eq!(with(&[]), None, "approval deleted");
        assert_eq!(with(&[("approval", "rejected")]), None, "approval changed");
        assert_eq!(
            with(&[("approval", "approved"), ("blocked", "true")]),
            None,
            "a forbidding tag set"
        );
        // Read without the keys (a plan whose gates read no tags): another
        // seal, no verdict.
        let state = [
            tags(&judged, "sha256:plan", "sha256:report"),
            vec![("approval".to_string(), "approved".to_string())],
        ]
        .concat();
        assert_eq!(
            current_verdict(&version_with(&state), "sha256:plan", &keys, &[]),
            None
        );
    }

    /// A version read without a verdict tag skips `pending`: every prefix
    /// of its record, in any order, reads as no verdict; and should another
    /// writer's whole record have landed since the read, any of this
    /// record's writes over it unmakes that verdict too, until this record
    /// is whole (then its seal and the other's equal verdict read as this
    /// record's verdict, which is what the last write would say anyway).
    #[test]
    fn a_first_record_needs_no_pending_and_still_reads_whole_or_not_at_all() {
        let judged = Judged {
            model: "m".into(),
            version: 1,
            judged_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_849_834),
            verdict: Verdict::Pass,
            gates: vec![("a".into(), Outcome::Pass)],
            unrecorded: true,
            read_tags: Vec::new(),
        };
        let keys = vec![gate_key("a")];
        let record = tags(&judged, "sha256:plan", "sha256:report");
        assert!(record.iter().all(|(_, v)| v != PENDING), "{record:?}");
        assert_eq!(record.last().map(|t| t.0.as_str()), Some(VERDICT));
        let theirs = tags(
            &Judged {
                judged_at: judged.judged_at + Duration::from_secs(1),
                unrecorded: false,
                ..judged.clone()
            },
            "sha256:plan",
            "sha256:theirs",
        );
        for start in [Vec::new(), theirs] {
            let mut state: Vec<(String, String)> = Vec::new();
            for (k, v) in &start {
                state.retain(|(key, _)| key != k);
                state.push((k.clone(), v.clone()));
            }
            let before = current_verdict(&version_with(&state), "sha256:plan", &keys, &[]);
            for (order, between) in [
                record[..record.len() - 1].to_vec(),
                record[..record.len() - 1].iter().rev().cloned().collect(),
            ]
            .into_iter()
            .enumerate()
            {
                let mut now = state.clone();
                for (i, (k, v)) in between.iter().enumerate() {
                    now.retain(|(key, _)| key != k);
                    now.push((k.clone(), v.clone()));
                    // No verdict, or — once all of this record is there
                    // beside another writer's equal verdict — this one's.
                    let read = current_verdict(&version_with(&now), "sha256:plan", &keys, &[]);
                    let whole = i + 1 == between.len() && before == Some(judged.verdict);
                    assert!(
                        read.is_none() || (whole && read == Some(judged.verdict)),
                        "order {order}, after write {i}: {read:?} (before: {before:?})"
                    );
                }
                now.retain(|(key, _)| key != VERDICT);
                now.push((VERDICT.into(), "pass".into()));
                assert_eq!(
                    current_verdict(&version_with(&now), "sha256:plan", &keys, &[]),
                    Some(Verdict::Pass)
                );
            }
        }
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
