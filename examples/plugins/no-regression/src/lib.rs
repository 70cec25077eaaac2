//! *No regression*: the candidate must not be worse than the champion on any
//! listed metric by more than that metric's tolerance, and must beat the
//! champion on the primary metric. Both versions' metrics are read where
//! MLflow 3 shows them: the version's LoggedModel, then its run (the
//! champion's through `registry::logged_model_of` and `registry::run_of`).
//!
//! ```yaml
//! config:
//!   baseline: champion        # the alias to compare against (default)
//!   primary: accuracy         # must improve by more than `min_improvement` (default 0)
//!   if_no_baseline: pass      # first model ever (default: fail)
//!   metrics:
//!     accuracy: {tolerance: 0.01}
//!     log_loss: {tolerance: 0.02, greater_is_better: false}
//! ```

use std::collections::BTreeMap;

use modelgate_plugin::fmt_value;
use modelgate_plugin::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "champion")]
    baseline: String,
    primary: String,
    #[serde(default)]
    min_improvement: f64,
    #[serde(default)]
    if_no_baseline: Option<String>,
    metrics: BTreeMap<String, MetricRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricRule {
    tolerance: f64,
    #[serde(default = "yes")]
    greater_is_better: bool,
}

fn champion() -> String {
    "champion".into()
}

fn yes() -> bool {
    true
}

fn settings(config: &Config) -> Result<Settings, String> {
    let s: Settings = config.deserialize()?;
    if s.metrics.is_empty() {
        return Err("`metrics` must list at least one metric".into());
    }
    if !s.metrics.contains_key(&s.primary) {
        return Err(format!(
            "the primary metric `{}` must be one of `metrics`",
            s.primary
        ));
    }
    for (name, rule) in &s.metrics {
        if !(rule.tolerance.is_finite() && rule.tolerance >= 0.0) {
            return Err(format!(
                "metric `{name}`: `tolerance` must be a number >= 0"
            ));
        }
    }
    if !(s.min_improvement.is_finite() && s.min_improvement >= 0.0) {
        return Err("`min_improvement` must be a number >= 0".into());
    }
    match s.if_no_baseline.as_deref() {
        None | Some("fail") | Some("pass") => Ok(s),
        Some(other) => Err(format!(
            "`if_no_baseline` must be `pass` or `fail`, not `{other}`"
        )),
    }
}

struct NoRegression;

impl Gate for NoRegression {
    fn check_config(config: &Config) -> Result<(), String> {
        settings(config).map(|_| ())
    }

    fn validate(candidate: &Candidate, config: &Config) -> Result<Verdict, String> {
        let s = settings(config)?;
        let champion = match registry::model_version_by_alias(candidate.name(), &s.baseline) {
            Ok(v) => v,
            Err(RegistryError::NotFound(_)) => {
                let pass = s.if_no_baseline.as_deref() == Some("pass");
                let why = format!("no `{}` version to compare with", s.baseline);
                return Ok(if pass {
                    Verdict::pass(format!("{why}; passing (if_no_baseline: pass)"))
                } else {
                    Verdict::fail(format!(
                        "{why}; set `if_no_baseline: pass` for a first model"
                    ))
                });
            }
            Err(e) => return Err(e.into()),
        };
        let label = format!("{} v{}", s.baseline, champion.version);
        let model = registry::logged_model_of(&champion)?;
        let run = registry::run_of(&champion)?;
        if model.is_none() && run.is_none() {
            return Err(format!("{label} has neither a LoggedModel nor a run"));
        }
        log::debug(format!(
            "comparing with {label} (LoggedModel {:?}, run {:?})",
            champion.model_id, champion.run_id
        ));
        let mut checks = Vec::new();
        for (name, rule) in &s.metrics {
            let ours = candidate.metric(name);
            let theirs = MetricLookup::find(model.as_ref(), run.as_ref(), name, None).value();
            let (Some(c), Some(b)) = (ours, theirs) else {
                let who = if ours.is_none() {
                    "the candidate"
                } else {
                    label.as_str()
                };
                checks.push(Check::new(name, false).detail(format!("not logged by {who}")));
                continue;
            };
            checks.push(
                Check::no_worse_than(name, Some(c), b, rule.tolerance, rule.greater_is_better)
                    .detail(format!("{label} has {}", fmt_value(b))),
            );
            if *name == s.primary {
                let need = if rule.greater_is_better {
                    b + s.min_improvement
                } else {
                    b - s.min_improvement
                };
                checks.push(
                    Check::better_than(
                        format!("{name} beats {}", s.baseline),
                        Some(c),
                        need,
                        rule.greater_is_better,
                    )
                    .detail(format!("{label} has {}", fmt_value(b))),
                );
            }
        }
        let verdict = Verdict::from_checks(checks);
        let summary = if verdict.passed {
            format!("no regression against {label}")
        } else {
            format!("worse than {label}: {}", verdict.failed().join(", "))
        };
        Ok(verdict.with_summary(summary))
    }
}

export_gate!(NoRegression);
