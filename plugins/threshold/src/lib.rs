//! `builtin:threshold`: metric thresholds with MLflow's `MetricThreshold`
//! semantics, against absolute values and against a baseline version.
//!
//! ```yaml
//! executor: !wasm
//!   plugin: builtin:threshold
//!   config:
//!     baseline: champion          # default baseline for change conditions: an alias or `previous`
//!     if_no_baseline: fail        # or `pass` (first model ever)
//!     dataset: holdout            # default dataset of the metrics (MLflow 3); NAME or NAME@DIGEST
//!     metrics:
//!       score:    { threshold: 0.6 }
//!       log_loss: { threshold: 0.5, greater_is_better: false }
//!       accuracy: { min_relative_change: 0.01, baseline: champion }
//!       recall:   { threshold: 0.8, warn_within: 0.02 }   # passes, with a warning, at 0.8–0.82
//!       canary_accuracy: { threshold: 0.85 }
//! ```
//!
//! A metric is read where MLflow 3 shows it for a version (the SDK's
//! `MetricLookup`): the version's LoggedModel, whose metrics come from its
//! evaluations, each on a dataset; then its run. `dataset:` (per metric, or
//! for the whole gate) selects the values computed on that dataset; a
//! LoggedModel with the metric on several datasets and no `dataset:` is a
//! failed check naming them, never a guess. Baselines are read the same
//! way. Each check's detail says where its values came from.
//!
//! Per metric (as `mlflow.models.MetricThreshold`, `greater_is_better`
//! defaulting to true):
//! - `threshold`: candidate ≥ threshold (≤ when lower is better);
//! - `min_absolute_change` (> 0): candidate ≥ baseline + Δ (≤ baseline − Δ);
//! - `min_relative_change` (in [0, 1]): (candidate − baseline) / |baseline| ≥ r
//!   (sign flipped when lower is better); a zero baseline requires the
//!   candidate to be strictly better (by 1e-10), as MLflow does.
//!
//! A candidate metric that is missing or NaN fails. A baseline version that
//! lacks the metric fails the change conditions. A missing baseline version
//! fails them too unless `if_no_baseline: pass`, which passes them with a
//! warning.
//!
//! modelgate's addition: `warn_within: MARGIN` (≥ 0, with `threshold`)
//! passes a candidate that meets the threshold by no more than MARGIN with
//! a warning (`modelgate validate --fail-on-warn` fails it).
//!
//! Two builds: the full one, and with the `lean` feature one that judges
//! thresholds only. The lean build has no baseline to read, so it calls no
//! registry function and no logger, and with the SDK's `panic-trap` it
//! imports nothing: modelgate instantiates it as one core module instead
//! of three. Its config check refuses change conditions ([`lean_refusal`]),
//! and modelgate runs it for every config it accepts, the full build for
//! the others: the same source judges the same way.

// On wasm32 the gate is built without std (see the SDK: no WASI imports).
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

#[cfg(not(feature = "lean"))]
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use modelgate_plugin::prelude::*;
use modelgate_plugin::{fmt_count, fmt_value};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// The gate's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdConfig {
    /// Default baseline for change conditions: an alias or `previous`.
    #[serde(default)]
    pub baseline: Option<String>,
    /// What a missing baseline version means for change conditions.
    #[serde(default)]
    pub if_no_baseline: NoBaseline,
    /// Default dataset of the metrics: `NAME` or `NAME@DIGEST`.
    #[serde(default)]
    pub dataset: Option<String>,
    /// Metric name → conditions, in config order.
    pub metrics: Metrics,
}

/// Metric name → conditions, in config order (the order of the checks).
/// Read straight from the config's text: no intermediate JSON tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics(pub Vec<(String, MetricSpec)>);

impl<'de> Deserialize<'de> for Metrics {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Metrics, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Metrics;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of metric names to their conditions")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metrics, A::Error> {
                let mut metrics = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let spec = map.next_value::<MetricSpec>().map_err(|e| {
                        de::Error::custom(format_args!(
                            "metric `{name}`: {}",
                            without_position(&e.to_string())
                        ))
                    })?;
                    metrics.push((name, spec));
                }
                Ok(Metrics(metrics))
            }
        }
        d.deserialize_map(InOrder)
    }
}

/// `msg` without serde_json's ` at line L column C`, which the whole
/// config's error gets once.
fn without_position(msg: &str) -> &str {
    match msg.rsplit_once(" at line ") {
        Some((head, tail))
            if tail
                .split_once(" column ")
                .is_some_and(|(l, c)| l.parse::<u64>().is_ok() && c.parse::<u64>().is_ok()) =>
        {
            head
        }
        _ => msg,
    }
}

/// What to do when there is no baseline version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoBaseline {
    /// Change conditions fail (the default).
    #[default]
    Fail,
    /// Change conditions pass (e.g. the first model ever).
    Pass,
}

/// One metric's conditions, as MLflow's `MetricThreshold`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// Absolute bound.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Minimum absolute improvement over the baseline (> 0).
    #[serde(default)]
    pub min_absolute_change: Option<f64>,
    /// Minimum relative improvement over the baseline, in [0, 1].
    #[serde(default)]
    pub min_relative_change: Option<f64>,
    /// Whether greater values are better (default true).
    #[serde(default = "yes")]
    pub greater_is_better: bool,
    /// The baseline for this metric: an alias or `previous`.
    #[serde(default)]
    pub baseline: Option<String>,
    /// Warn when the candidate meets `threshold` by no more than this.
    #[serde(default)]
    pub warn_within: Option<f64>,
    /// The dataset this metric was computed on: `NAME` or `NAME@DIGEST`.
    #[serde(default)]
    pub dataset: Option<String>,
}

fn yes() -> bool {
    true
}

impl MetricSpec {
    fn needs_baseline(&self) -> bool {
        self.min_absolute_change.is_some() || self.min_relative_change.is_some()
    }
}

/// Why the lean build (thresholds only, no registry) cannot judge with
/// `metrics`: the first metric with a change condition, or `None`.
pub fn lean_refusal(metrics: &[(String, MetricSpec)]) -> Option<String> {
    metrics
        .iter()
        .find(|(_, spec)| spec.needs_baseline())
        .map(|(name, _)| {
            format!(
                "metric `{name}` compares against a baseline, which this build of the gate (thresholds only) cannot read"
            )
        })
}

/// Parses and checks the config; every problem names the metric and field.
pub fn parse_config(
    config: &Config,
) -> Result<(ThresholdConfig, Vec<(String, MetricSpec)>), String> {
    let mut cfg: ThresholdConfig = config.deserialize()?;
    let metrics = core::mem::take(&mut cfg.metrics.0);
    if metrics.is_empty() {
        return Err("`metrics` is empty: name at least one metric with a condition".into());
    }
    if let Some(b) = &cfg.baseline {
        check_baseline_name(b, "`baseline`")?;
    }
    if let Some(d) = &cfg.dataset {
        check_dataset(d, "`dataset`")?;
    }
    for (name, spec) in &metrics {
        if spec.threshold.is_none() && !spec.needs_baseline() {
            return Err(format!(
                "metric `{name}` has no condition: set `threshold`, `min_absolute_change` or `min_relative_change`"
            ));
        }
        if let Some(t) = spec.threshold
            && !t.is_finite()
        {
            return Err(format!(
                "metric `{name}`: `threshold` must be a finite number"
            ));
        }
        if let Some(d) = spec.min_absolute_change
            && !(d.is_finite() && d > 0.0)
        {
            return Err(format!(
                "metric `{name}`: `min_absolute_change` must be a positive number, got {d}"
            ));
        }
        if let Some(r) = spec.min_relative_change
            && !(0.0..=1.0).contains(&r)
        {
            return Err(format!(
                "metric `{name}`: `min_relative_change` must be between 0 and 1, got {r}"
            ));
        }
        if let Some(b) = &spec.baseline {
            check_baseline_name(b, &format!("metric `{name}`: `baseline`"))?;
        }
        if let Some(d) = &spec.dataset {
            check_dataset(d, &format!("metric `{name}`: `dataset`"))?;
        }
        if let Some(w) = spec.warn_within {
            if !(w.is_finite() && w >= 0.0) {
                return Err(format!(
                    "metric `{name}`: `warn_within` must be a number >= 0, got {w}"
                ));
            }
            if spec.threshold.is_none() {
                return Err(format!(
                    "metric `{name}`: `warn_within` needs a `threshold` to be near"
                ));
            }
        }
        if spec.needs_baseline() && spec.baseline.is_none() && cfg.baseline.is_none() {
            return Err(format!(
                "metric `{name}` compares against a baseline but none is set: add `baseline: champion` (an alias) or `baseline: previous`"
            ));
        }
    }
    #[cfg(feature = "lean")]
    if let Some(why) = lean_refusal(&metrics) {
        return Err(why);
    }
    Ok((cfg, metrics))
}

/// A dataset is `NAME` or `NAME@DIGEST`, both parts non-empty.
fn check_dataset(d: &str, what: &str) -> Result<(), String> {
    let (name, digest) = match d.split_once('@') {
        Some((n, g)) => (n, Some(g)),
        None => (d, None),
    };
    if name.trim().is_empty() || digest.is_some_and(|g| g.trim().is_empty() || g.contains('@')) {
        return Err(format!(
            "{what} must be a dataset's name (`holdout`) or name and digest (`holdout@3f1c…`), got `{d}`"
        ));
    }
    Ok(())
}

fn check_baseline_name(b: &str, what: &str) -> Result<(), String> {
    if b.trim().is_empty() {
        return Err(format!("{what} must name an alias or `previous`"));
    }
    Ok(())
}

/// What is known about a metric's baseline.
#[derive(Debug, Clone, PartialEq)]
pub enum Baseline {
    /// No baseline version exists (no alias, or no older version).
    NoVersion(String),
    /// The baseline version exists but lacks the metric (on the dataset).
    NoMetric(String),
    /// The baseline's LoggedModel has the metric on several datasets and
    /// no `dataset:` says which: its label and the datasets.
    Ambiguous(String, Vec<String>),
    /// The baseline's value, with a label such as `champion v3`.
    Value(f64, String),
}

/// Judges one metric; one check per metric, naming every condition.
pub fn judge(
    name: &str,
    spec: &MetricSpec,
    candidate: Option<f64>,
    baseline: Option<&Baseline>,
    if_no_baseline: NoBaseline,
) -> Check {
    judge_with(
        name,
        spec,
        candidate,
        "metric not logged in the candidate's run",
        baseline,
        if_no_baseline,
    )
}

/// What a candidate's metric lookup gave, for [`judge_found`].
pub struct Observed {
    /// The value, if found.
    pub value: Option<f64>,
    /// Where it came from, or why it was not found.
    pub note: String,
    /// The datasets it is on, when it is on several and none was named.
    pub ambiguous: Option<Vec<String>>,
}

impl Observed {
    /// What `lookup` found for the candidate; `dataset` is what was asked
    /// for, `has_model` whether the candidate has a LoggedModel.
    pub fn of(lookup: &MetricLookup<'_>, dataset: Option<&str>, has_model: bool) -> Observed {
        match lookup {
            MetricLookup::Found(v, source) => Observed {
                value: Some(*v),
                note: ["from ", &source.describe()].concat(),
                ambiguous: None,
            },
            MetricLookup::Missing => Observed {
                value: None,
                note: match dataset {
                    Some(d) => ["metric not logged on dataset ", d].concat(),
                    None if has_model => {
                        "metric not logged in the candidate's LoggedModel or run".into()
                    }
                    None => "metric not logged in the candidate's run".into(),
                },
                ambiguous: None,
            },
            MetricLookup::Ambiguous(datasets) => Observed {
                value: None,
                note: format!(
                    "logged on several datasets ({}); set `dataset:` to say which",
                    datasets.join(", ")
                ),
                ambiguous: Some(datasets.clone()),
            },
        }
    }
}

/// [`judge`] with the candidate's value as looked up: a missing value
/// fails with why, an ambiguous one with the datasets, and the check's
/// detail ends with where the values came from (`baseline_note`: the
/// baseline's).
pub fn judge_found(
    name: &str,
    spec: &MetricSpec,
    observed: &Observed,
    baseline: Option<&Baseline>,
    baseline_note: Option<&str>,
    if_no_baseline: NoBaseline,
) -> Check {
    let found = observed.value.is_some();
    let mut check = judge_with(
        name,
        spec,
        observed.value,
        &observed.note,
        baseline,
        if_no_baseline,
    );
    let mut detail: Vec<&str> = Vec::new();
    if let Some(d) = check.detail.as_deref() {
        detail.push(d);
    }
    if found {
        detail.push(&observed.note);
    }
    let baseline_note = baseline_note.filter(|_| spec.needs_baseline());
    if let Some(b) = baseline_note {
        detail.push(b);
    }
    if !detail.is_empty() {
        let joined = detail.join("; ");
        check.detail = Some(joined);
    }
    check
}

fn judge_with(
    name: &str,
    spec: &MetricSpec,
    candidate: Option<f64>,
    missing: &str,
    baseline: Option<&Baseline>,
    if_no_baseline: NoBaseline,
) -> Check {
    let gib = spec.greater_is_better;
    let (op, sign) = if gib { (">=", "+") } else { ("<=", "-") };
    let mut expected: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    if let Some(t) = spec.threshold {
        // Without `core::fmt` on the way of every candidate.
        expected.push([op, " ", &fmt_value(t)].concat());
    }
    let c = match candidate {
        None => {
            failures.push(missing.into());
            None
        }
        Some(v) if v.is_nan() => {
            failures.push("candidate value is NaN".into());
            None
        }
        Some(v) => Some(v),
    };
    let better = |a: f64, b: f64| if gib { a >= b } else { a <= b };
    if let (Some(c), Some(t)) = (c, spec.threshold) {
        if !better(c, t) {
            failures.push(format!("threshold {op} {} not met", fmt_value(t)));
        } else if let Some(w) = spec.warn_within
            && (c - t).abs() <= w
        {
            warnings.push(format!(
                "within {} of the threshold {}",
                fmt_value(w),
                fmt_value(t)
            ));
        }
    }
    if spec.needs_baseline() {
        match baseline {
            None => failures.push("no baseline configured".into()),
            Some(Baseline::NoVersion(why)) => {
                let cond = change_text(spec, op, sign, None);
                expected.extend(cond);
                if if_no_baseline == NoBaseline::Pass {
                    warnings.push(format!(
                        "{why}; change conditions skipped (if_no_baseline: pass)"
                    ));
                } else {
                    failures.push(format!(
                        "{why}; set `if_no_baseline: pass` for a first model"
                    ));
                }
            }
            Some(Baseline::NoMetric(label)) => {
                expected.extend(change_text(spec, op, sign, Some(label)));
                failures.push(format!("baseline {label} has no `{name}` metric"));
            }
            Some(Baseline::Ambiguous(label, datasets)) => {
                expected.extend(change_text(spec, op, sign, Some(label)));
                failures.push(format!(
                    "baseline {label} has `{name}` on several datasets ({}); set `dataset:` to say which",
                    datasets.join(", ")
                ));
            }
            Some(Baseline::Value(b, label)) => {
                let b = *b;
                if let Some(d) = spec.min_absolute_change {
                    let bound = if gib { b + d } else { b - d };
                    expected.push(format!(
                        "{op} {} ({label} {} {sign} {})",
                        fmt_value(bound),
                        fmt_value(b),
                        fmt_value(d)
                    ));
                    if let Some(c) = c
                        && !better(c, bound)
                    {
                        failures.push(format!("not {} better than {label}", fmt_value(d)));
                    }
                }
                if let Some(r) = spec.min_relative_change {
                    if b == 0.0 {
                        let bound = if gib { b + 1e-10 } else { b - 1e-10 };
                        expected.push(format!("strictly better than {label} (0)"));
                        if let Some(c) = c
                            && !better(c, bound)
                        {
                            failures.push(format!("not better than {label}'s 0"));
                        }
                    } else {
                        expected.push(format!(
                            "{sign}{}% vs {label} ({})",
                            fmt_value(r * 100.0),
                            fmt_value(b)
                        ));
                        if let Some(c) = c {
                            let rel = if gib {
                                (c - b) / b.abs()
                            } else {
                                (b - c) / b.abs()
                            };
                            notes.push(format!("relative change {}%", fmt_value(rel * 100.0)));
                            if rel < r || rel.is_nan() {
                                failures.push(format!(
                                    "improvement over {label} below {}%",
                                    fmt_value(r * 100.0)
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    let mut check = Check::new(name, failures.is_empty()).expected(expected.join(" and "));
    if let Some(v) = candidate {
        check = check.observed(fmt_value(v));
    }
    let passed = failures.is_empty();
    let detail: Vec<String> = failures.into_iter().chain(notes).collect();
    if !detail.is_empty() {
        check = check.detail(detail.join("; "));
    }
    if passed && !warnings.is_empty() {
        check = check.warn(warnings.join("; "));
    }
    check
}

fn change_text(spec: &MetricSpec, op: &str, sign: &str, label: Option<&String>) -> Vec<String> {
    let who = label.map(|l| l.as_str()).unwrap_or("baseline");
    let mut out = Vec::new();
    if let Some(d) = spec.min_absolute_change {
        out.push(format!("{op} {who} {sign} {}", fmt_value(d)));
    }
    if let Some(r) = spec.min_relative_change {
        out.push(format!("{sign}{}% vs {who}", fmt_value(r * 100.0)));
    }
    out
}

#[cfg(not(feature = "lean"))]
fn resolve_baseline(
    candidate: &Candidate,
    which: &str,
    versions: &mut Option<Vec<ModelVersion>>,
) -> Result<(Option<ModelVersion>, String), RegistryError> {
    if which == "previous" {
        if versions.is_none() {
            *versions = Some(registry::model_versions(candidate.name())?);
        }
        let prev = versions
            .as_ref()
            .into_iter()
            .flatten()
            .filter(|v| v.version < candidate.number() && v.status == "READY")
            .max_by_key(|v| v.version)
            .cloned();
        let why = format!("no version older than {}", candidate.number());
        return Ok((prev, why));
    }
    match registry::model_version_by_alias(candidate.name(), which) {
        Ok(v) => Ok((Some(v), String::new())),
        Err(RegistryError::NotFound(_)) => Ok((
            None,
            format!("model `{}` has no alias `{which}`", candidate.name()),
        )),
        Err(e) => Err(e),
    }
}

/// A baseline version with what is read of it, as far as asked.
#[cfg(not(feature = "lean"))]
struct BaselineData {
    /// The version, or why there is none.
    version: Result<ModelVersion, String>,
    /// Its LoggedModel, read when it has one.
    model: Option<LoggedModel>,
    /// Its run, once read (only when a metric is not on its LoggedModel).
    run: Option<Option<Run>>,
}

#[cfg(not(feature = "lean"))]
impl BaselineData {
    /// Resolves baseline `which` of `candidate`.
    fn read(
        candidate: &Candidate,
        which: &str,
        versions: &mut Option<Vec<ModelVersion>>,
    ) -> Result<BaselineData, String> {
        let (version, why) = resolve_baseline(candidate, which, versions)
            .map_err(|e| format!("failed to read baseline `{which}`: {}", String::from(e)))?;
        let model = match &version {
            Some(v) => registry::logged_model_of(v).map_err(|e| {
                format!(
                    "failed to read baseline `{which}`'s LoggedModel: {}",
                    String::from(e)
                )
            })?,
            None => None,
        };
        if let Some(v) = &version {
            log::debug(format!("baseline `{which}` is version {}", v.version));
        }
        Ok(BaselineData {
            version: version.ok_or(why),
            model,
            run: None,
        })
    }

    /// Metric `name` of the baseline (on `dataset`), as [`Baseline`], with
    /// where it came from.
    fn value(
        &mut self,
        which: &str,
        name: &str,
        dataset: Option<&str>,
    ) -> Result<(Baseline, Option<String>), String> {
        let version = match &self.version {
            Err(why) => return Ok((Baseline::NoVersion(why.clone()), None)),
            Ok(v) => v,
        };
        let label = if which == "previous" {
            format!("previous v{}", version.version)
        } else {
            format!("{which} v{}", version.version)
        };
        let mut found = MetricLookup::find(self.model.as_ref(), None, name, dataset);
        if found == MetricLookup::Missing && dataset.is_none() {
            if self.run.is_none() {
                let run = registry::run_of(version).map_err(|e| {
                    format!(
                        "failed to read baseline `{which}`'s run: {}",
                        String::from(e)
                    )
                })?;
                self.run = Some(run);
            }
            let run = self.run.as_ref().and_then(Option::as_ref);
            found = MetricLookup::find(None, run, name, None);
        }
        Ok(match found {
            MetricLookup::Found(v, source) => {
                let note = [&label, " from ", &source.describe()].concat();
                (Baseline::Value(v, label), Some(note))
            }
            MetricLookup::Missing => (Baseline::NoMetric(label), None),
            MetricLookup::Ambiguous(datasets) => (Baseline::Ambiguous(label, datasets), None),
        })
    }
}

struct Threshold;

impl Gate for Threshold {
    fn check_config(config: &Config) -> Result<(), String> {
        parse_config(config).map(|_| ())
    }

    fn validate(candidate: &Candidate, config: &Config) -> Result<Verdict, String> {
        let (cfg, specs) = parse_config(config)?;
        #[cfg(not(feature = "lean"))]
        let mut baselines: BTreeMap<String, BaselineData> = BTreeMap::new();
        #[cfg(not(feature = "lean"))]
        let mut versions = None;
        let has_model = candidate.logged_model.is_some();
        let mut checks = Vec::new();
        for (name, spec) in &specs {
            let dataset = spec.dataset.as_deref().or(cfg.dataset.as_deref());
            let which = spec.baseline.as_ref().or(cfg.baseline.as_ref());
            let (baseline, baseline_note): (Option<Baseline>, Option<String>) =
                match (spec.needs_baseline(), which) {
                    #[cfg(not(feature = "lean"))]
                    (true, Some(which)) => {
                        if !baselines.contains_key(which) {
                            let data = BaselineData::read(candidate, which, &mut versions)?;
                            baselines.insert(which.clone(), data);
                        }
                        let data = baselines
                            .get_mut(which)
                            .ok_or_else(|| "internal: a baseline read and lost".to_string())?;
                        let (b, note) = data.value(which, name, dataset)?;
                        (Some(b), note)
                    }
                    // `parse_config` refused change conditions.
                    #[cfg(feature = "lean")]
                    (true, Some(_)) => return Err(lean_refusal(&specs).unwrap_or_default()),
                    _ => (None, None),
                };
            let observed = Observed::of(&candidate.lookup(name, dataset), dataset, has_model);
            checks.push(judge_found(
                name,
                spec,
                &observed,
                baseline.as_ref(),
                baseline_note.as_deref(),
                cfg.if_no_baseline,
            ));
        }
        let failed = checks.iter().filter(|c| !c.passed).count();
        let total = checks.len();
        let summary = if failed == 0 {
            let total = fmt_count(total);
            [&total, " of ", &total, " metrics within thresholds"].concat()
        } else {
            let names: Vec<&str> = checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| c.name.as_str())
                .collect();
            format!("{failed} of {total} metrics failed: {}", names.join(", "))
        };
        Ok(Verdict {
            passed: failed == 0,
            summary,
            checks,
        })
    }
}

export_gate!(Threshold);

#[cfg(test)]
#[path = "../../testing/config_schema.rs"]
mod config_schema;

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> MetricSpec {
        serde_json::from_str(json).expect("valid spec")
    }

    fn val(b: f64) -> Baseline {
        Baseline::Value(b, "champion v1".into())
    }

    fn pass(s: &str, c: Option<f64>, b: Option<Baseline>) -> bool {
        judge("m", &spec(s), c, b.as_ref(), NoBaseline::Fail).passed
    }

    #[test]
    fn threshold_both_directions() {
        assert!(pass(r#"{"threshold": 0.6}"#, Some(0.6), None));
        assert!(!pass(r#"{"threshold": 0.6}"#, Some(0.59), None));
        assert!(pass(
            r#"{"threshold": 0.5, "greater_is_better": false}"#,
            Some(0.5),
            None
        ));
        assert!(!pass(
            r#"{"threshold": 0.5, "greater_is_better": false}"#,
            Some(0.51),
            None
        ));
    }

    #[test]
    fn missing_and_nan_fail() {
        assert!(!pass(r#"{"threshold": 0.6}"#, None, None));
        assert!(!pass(r#"{"threshold": 0.6}"#, Some(f64::NAN), None));
        // MLflow itself would pass a NaN on a relative condition; we do not.
        assert!(!pass(
            r#"{"min_relative_change": 0.1}"#,
            Some(f64::NAN),
            Some(val(1.0))
        ));
    }

    #[test]
    fn absolute_change() {
        let s = r#"{"min_absolute_change": 0.05}"#;
        assert!(pass(s, Some(0.86), Some(val(0.8))));
        assert!(!pass(s, Some(0.84), Some(val(0.8))));
        // Float arithmetic as MLflow does it: 0.8 + 0.05 > 0.85.
        assert!(!pass(s, Some(0.85), Some(val(0.8))));
        let lower = r#"{"min_absolute_change": 0.05, "greater_is_better": false}"#;
        assert!(pass(lower, Some(0.75), Some(val(0.8))));
        assert!(!pass(lower, Some(0.76), Some(val(0.8))));
    }

    #[test]
    fn relative_change_uses_magnitude_and_zero_means_strictly_better() {
        let s = r#"{"min_relative_change": 0.1}"#;
        assert!(pass(s, Some(1.1), Some(val(1.0))));
        assert!(!pass(s, Some(1.09), Some(val(1.0))));
        // Negative baseline: -0.5 → -0.4 is a 20% improvement.
        assert!(pass(s, Some(-0.4), Some(val(-0.5))));
        assert!(!pass(s, Some(-0.6), Some(val(-0.5))));
        assert!(pass(s, Some(1e-9), Some(val(0.0))));
        assert!(!pass(s, Some(0.0), Some(val(0.0))));
        let lower = r#"{"min_relative_change": 0.1, "greater_is_better": false}"#;
        assert!(pass(lower, Some(0.89), Some(val(1.0))));
        assert!(!pass(lower, Some(0.95), Some(val(1.0))));
        assert!(pass(lower, Some(-1e-9), Some(val(0.0))));
    }

    #[test]
    fn missing_baseline() {
        let s = r#"{"min_absolute_change": 0.01}"#;
        let none = Baseline::NoVersion("model `m` has no alias `champion`".into());
        assert!(!pass(s, Some(1.0), Some(none.clone())));
        let skipped = judge("m", &spec(s), Some(1.0), Some(&none), NoBaseline::Pass);
        assert!(skipped.passed);
        // Passing without the optional baseline is a warning, not silence.
        assert_eq!(
            skipped.warning.as_deref(),
            Some(
                "model `m` has no alias `champion`; change conditions skipped (if_no_baseline: pass)"
            )
        );
        let nometric = Baseline::NoMetric("champion v1".into());
        assert!(!judge("m", &spec(s), Some(1.0), Some(&nometric), NoBaseline::Pass).passed);
    }

    #[test]
    fn check_shows_observed_and_expected() {
        let c = judge(
            "accuracy",
            &spec(r#"{"threshold": 0.8, "min_absolute_change": 0.01}"#),
            Some(0.9),
            Some(&val(0.85)),
            NoBaseline::Fail,
        );
        assert!(c.passed);
        assert_eq!(c.observed.as_deref(), Some("0.9"));
        assert_eq!(
            c.expected.as_deref(),
            Some(">= 0.8 and >= 0.86 (champion v1 0.85 + 0.01)")
        );
    }

    fn config(json: &str) -> Result<(), String> {
        parse_config(&Config::parse(json).expect("json")).map(|_| ())
    }

    #[test]
    fn metrics_keep_config_order_and_errors_name_the_metric() {
        let json = r#"{"metrics": {"zeta": {"threshold": 1}, "alpha": {"threshold": 2}, "mid": {"threshold": 3}}}"#;
        let (_, specs) = parse_config(&Config::parse(json).expect("json")).expect("valid");
        let names: Vec<&str> = specs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "mid"], "checks in config order");
        assert_eq!(specs[1].1.threshold, Some(2.0));
        let err = config(r#"{"metrics": {"ok": {"threshold": 1}, "score": {"treshold": 0.6}}}"#)
            .expect_err("typo");
        assert!(
            err.starts_with("invalid config: metric `score`: unknown field `treshold`"),
            "{err}"
        );
        assert_eq!(err.matches(" at line ").count(), 1, "one position: {err}");
        let err = config(r#"{"metrics": ["score"]}"#).expect_err("a list");
        assert!(
            err.contains("a mapping of metric names to their conditions"),
            "{err}"
        );
        assert_eq!(without_position("no position"), "no position");
        assert_eq!(without_position("x at line 1 column 2"), "x");
        assert_eq!(
            without_position("x at line one column 2"),
            "x at line one column 2"
        );
    }

    use crate::config_schema::{assert_cases_hold, expected_fields, properties};

    /// `config.schema.json` (which `modelgate schema` embeds) names exactly
    /// the fields this reader accepts, at the top and per metric.
    #[test]
    fn the_config_schema_names_every_field() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../config.schema.json")).expect("schema");
        let top = config(r#"{"metrics": {"s": {"threshold": 1}}, "zz": 1}"#).expect_err("zz");
        assert_eq!(properties(&schema), expected_fields(&top), "{top}");
        let metric = config(r#"{"metrics": {"s": {"threshold": 1, "zz": 1}}}"#).expect_err("zz");
        assert_eq!(
            properties(&schema["$defs"]["metric"]),
            expected_fields(&metric),
            "{metric}"
        );
    }

    /// The reader accepts and refuses what `config-cases.json` says (the
    /// schema is held to the same cases by tests/e2e/schema.rs).
    #[cfg(not(feature = "lean"))]
    #[test]
    fn the_config_cases_hold() {
        assert_cases_hold(include_str!("../config-cases.json"), config);
    }

    #[test]
    fn config_errors() {
        assert!(config(r#"{"metrics": {"score": {"threshold": 0.6}}}"#).is_ok());
        assert!(config(r#"{"metrics": {}}"#).is_err());
        assert!(config(r#"{"metric": {"score": {"threshold": 0.6}}}"#).is_err());
        assert!(config(r#"{"metrics": {"score": {}}}"#).is_err());
        assert!(config(r#"{"metrics": {"score": {"treshold": 0.6}}}"#).is_err());
        assert!(
            config(r#"{"metrics": {"score": {"min_absolute_change": -0.1, "baseline": "c"}}}"#)
                .is_err()
        );
        assert!(
            config(r#"{"metrics": {"score": {"min_relative_change": 1.5, "baseline": "c"}}}"#)
                .is_err()
        );
        assert!(config(r#"{"metrics": {"score": {"min_relative_change": 0.1}}}"#).is_err());
        assert!(
            config(
                r#"{"baseline": "previous", "metrics": {"score": {"min_relative_change": 0.1}}}"#
            )
            .is_ok()
        );
        assert!(
            config(r#"{"if_no_baseline": "maybe", "metrics": {"score": {"threshold": 1}}}"#)
                .is_err()
        );
    }

    #[test]
    fn warn_within_warns_on_a_narrow_pass_only() {
        let s = spec(r#"{"threshold": 0.8, "warn_within": 0.02}"#);
        let narrow = judge("recall", &s, Some(0.81), None, NoBaseline::Fail);
        assert!(narrow.passed);
        assert_eq!(
            narrow.warning.as_deref(),
            Some("within 0.02 of the threshold 0.8")
        );
        let clear = judge("recall", &s, Some(0.9), None, NoBaseline::Fail);
        assert!(clear.passed && clear.warning.is_none());
        let failed = judge("recall", &s, Some(0.79), None, NoBaseline::Fail);
        assert!(!failed.passed && failed.warning.is_none());
        let lower = spec(r#"{"threshold": 0.5, "greater_is_better": false, "warn_within": 0.1}"#);
        let near = judge("loss", &lower, Some(0.45), None, NoBaseline::Fail);
        assert!(near.passed && near.warning.is_some());
        for bad in [
            r#"{"metrics": {"r": {"threshold": 1, "warn_within": -1}}}"#,
            r#"{"metrics": {"r": {"min_relative_change": 0.1, "warn_within": 1}}, "baseline": "champion"}"#,
        ] {
            assert!(config(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn datasets_are_checked_and_a_found_value_says_where_it_came_from() {
        assert!(config(r#"{"dataset": "holdout", "metrics": {"a": {"threshold": 1}}}"#).is_ok());
        assert!(
            config(r#"{"metrics": {"a": {"threshold": 1, "dataset": "holdout@3f1c"}}}"#).is_ok()
        );
        for bad in ["", " ", "@abc", "holdout@", "a@b@c"] {
            let json = format!(r#"{{"metrics": {{"a": {{"threshold": 1, "dataset": "{bad}"}}}}}}"#);
            let err = config(&json).expect_err(bad);
            assert!(err.starts_with("metric `a`: `dataset` must be"), "{err}");
        }
        let s = spec(r#"{"threshold": 0.9}"#);
        let found = Observed {
            value: Some(0.91),
            note: "from LoggedModel m-1 on dataset holdout (run e)".into(),
            ambiguous: None,
        };
        let c = judge_found("accuracy", &s, &found, None, None, NoBaseline::Fail);
        assert!(c.passed);
        assert_eq!(
            c.detail.as_deref(),
            Some("from LoggedModel m-1 on dataset holdout (run e)")
        );
        let ambiguous = Observed {
            value: None,
            note: "logged on several datasets (canary, holdout); set `dataset:` to say which"
                .into(),
            ambiguous: Some(alloc::vec!["canary".into(), "holdout".into()]),
        };
        let c = judge_found("accuracy", &s, &ambiguous, None, None, NoBaseline::Fail);
        assert!(!c.passed);
        assert_eq!(c.detail.as_deref(), Some(ambiguous.note.as_str()));
        assert_eq!(c.expected.as_deref(), Some(">= 0.9"));
        // A baseline's source is said too, for change conditions.
        let rel = spec(r#"{"min_relative_change": 0.01}"#);
        let c = judge_found(
            "accuracy",
            &rel,
            &found,
            Some(&val(0.85)),
            Some("champion v1 from run t"),
            NoBaseline::Fail,
        );
        assert!(c.passed, "{c:?}");
        let detail = c.detail.expect("detail");
        assert!(
            detail.ends_with(
                "from LoggedModel m-1 on dataset holdout (run e); champion v1 from run t"
            ),
            "{detail}"
        );
        let c = judge_found(
            "accuracy",
            &rel,
            &found,
            Some(&Baseline::Ambiguous(
                "champion v1".into(),
                alloc::vec!["a".into(), "b".into()],
            )),
            None,
            NoBaseline::Fail,
        );
        assert!(!c.passed);
        assert!(
            c.detail
                .expect("detail")
                .starts_with("baseline champion v1 has `accuracy` on several datasets (a, b)"),
        );
    }

    #[test]
    fn the_lean_build_refuses_change_conditions_only() {
        let specs = |json: &str| {
            parse_config(&Config::parse(json).expect("json"))
                .expect("valid")
                .1
        };
        let plain = specs(
            r#"{"metrics": {"a": {"threshold": 1, "warn_within": 0.1}, "b": {"threshold": 2, "greater_is_better": false}}, "baseline": "champion"}"#,
        );
        assert_eq!(
            lean_refusal(&plain),
            None,
            "thresholds, even with a default baseline"
        );
        for (json, metric) in [
            (
                r#"{"metrics": {"a": {"threshold": 1}, "b": {"min_absolute_change": 0.1}}, "baseline": "champion"}"#,
                "b",
            ),
            (
                r#"{"metrics": {"c": {"threshold": 1, "min_relative_change": 0.1, "baseline": "previous"}}}"#,
                "c",
            ),
        ] {
            let why = lean_refusal(&specs(json)).expect("a change condition");
            assert!(
                why.starts_with(&format!("metric `{metric}` compares against a baseline")),
                "{why}"
            );
        }
    }
}
