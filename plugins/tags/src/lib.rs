//! `builtin:tags`: an approval gate on the candidate version's tags, so a
//! human decision (or any process that tags versions) and a metric gate
//! together decide a promotion.
//!
//! ```yaml
//! executor: !wasm
//!   plugin: builtin:tags
//!   config:
//!     require:
//!       approval: approved             # the tag must be there, with this value
//!       review: [approved, waived]     # … or one of these
//!     forbid:
//!       blocked: "true"                # the tag must not have this value
//!       do_not_ship: "*"               # … or must not be there at all
//! ```
//!
//! Values compare case-insensitively and without surrounding spaces, as
//! Databricks compares its approval tags (`Approved` = `approved`). Every
//! `require` and `forbid` entry is one check, named `tag:KEY`; the gate
//! passes only when every check does. A config with neither `require` nor
//! `forbid` (or an empty one) is rejected: such a gate would pass anything.

use modelgate_plugin::prelude::*;
use serde::Deserialize;

/// The most tags one config may name: a config this long is a mistake.
const MAX_ENTRIES: usize = 1000;

/// The gate's config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsConfig {
    /// Tag → accepted value(s): the tag must be set to one of them.
    #[serde(default)]
    pub require: serde_json::Map<String, serde_json::Value>,
    /// Tag → refused value(s), or `"*"`: the tag must not be set to one of
    /// them (with `"*"`, must not be set at all).
    #[serde(default)]
    pub forbid: serde_json::Map<String, serde_json::Value>,
}

/// A `require` or `forbid` rule on one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The tag's key.
    pub key: String,
    /// The values, normalised (trimmed, lower-case); empty for "any value".
    pub values: Vec<String>,
    /// True for `require`, false for `forbid`.
    pub required: bool,
}

fn normal(v: &str) -> String {
    v.trim().to_lowercase()
}

fn values(section: &str, key: &str, v: &serde_json::Value) -> Result<Vec<String>, String> {
    let bad =
        || format!("`{section}.{key}` must be a string or a list of strings (e.g. `approved`)");
    let list: Vec<String> = match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        _ => return Err(bad()),
    };
    if list.is_empty() || list.iter().any(|s| s.trim().is_empty()) {
        return Err(format!(
            "`{section}.{key}` must name at least one non-empty value"
        ));
    }
    if list.iter().any(|s| s == "*") {
        if section == "require" {
            return Err(format!(
                "`require.{key}: \"*\"` would accept any value; name the value(s) that approve"
            ));
        }
        return Ok(Vec::new());
    }
    Ok(list.iter().map(|s| normal(s)).collect())
}

/// Parses and checks the config into its rules, `require` first.
pub fn parse_config(config: &Config) -> Result<Vec<Rule>, String> {
    let cfg: TagsConfig = config.deserialize()?;
    if cfg.require.is_empty() && cfg.forbid.is_empty() {
        return Err(
            "the config names no tags: give `require:` and/or `forbid:` (a gate that checks nothing would pass anything)"
                .into(),
        );
    }
    if cfg.require.len() + cfg.forbid.len() > MAX_ENTRIES {
        return Err(format!("the config names more than {MAX_ENTRIES} tags"));
    }
    let mut rules = Vec::new();
    for (section, map, required) in [
        ("require", &cfg.require, true),
        ("forbid", &cfg.forbid, false),
    ] {
        for (key, v) in map {
            if key.trim().is_empty() {
                return Err(format!("`{section}` has an empty tag name"));
            }
            rules.push(Rule {
                key: key.clone(),
                values: values(section, key, v)?,
                required,
            });
        }
    }
    Ok(rules)
}

/// Judges one rule against the tag's value (`None` when not set).
pub fn judge(rule: &Rule, found: Option<&str>) -> Check {
    let shown = |vals: &[String]| vals.join(" or ");
    let name = format!("tag:{}", rule.key);
    let observed = found.map_or("(not set)".to_string(), str::to_string);
    let matches = found.is_some_and(|f| rule.values.contains(&normal(f)));
    let (passed, expected) = if rule.required {
        (matches, format!("= {}", shown(&rule.values)))
    } else if rule.values.is_empty() {
        (found.is_none(), "not set".to_string())
    } else {
        (!matches, format!("≠ {}", shown(&rule.values)))
    };
    Check::new(name, passed)
        .observed(observed)
        .expected(expected)
}

struct Tags;

impl Gate for Tags {
    fn check_config(config: &Config) -> Result<(), String> {
        parse_config(config).map(|_| ())
    }

    fn validate(candidate: &Candidate, config: &Config) -> Result<Verdict, String> {
        let rules = parse_config(config)?;
        let checks: Vec<Check> = rules
            .iter()
            .map(|r| judge(r, candidate.version.tag(&r.key)))
            .collect();
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        let summary = if failed.is_empty() {
            format!("{} of {} tag checks passed", checks.len(), checks.len())
        } else {
            format!(
                "{} of {} tag checks failed: {}",
                failed.len(),
                checks.len(),
                failed.join(", ")
            )
        };
        Ok(Verdict {
            passed: failed.is_empty(),
            summary,
            checks,
        })
    }
}

export_gate!(Tags);

#[cfg(test)]
#[path = "../../testing/config_schema.rs"]
mod config_schema;

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Result<Vec<Rule>, String> {
        parse_config(&Config::parse(json)?)
    }

    #[test]
    fn require_compares_case_insensitively() {
        let r = rules(r#"{"require": {"approval": "approved"}}"#).expect("valid");
        assert!(judge(&r[0], Some("Approved")).passed);
        assert!(judge(&r[0], Some(" APPROVED ")).passed);
        assert!(!judge(&r[0], Some("rejected")).passed);
        let missing = judge(&r[0], None);
        assert!(!missing.passed);
        assert_eq!(missing.observed.as_deref(), Some("(not set)"));
        assert_eq!(missing.expected.as_deref(), Some("= approved"));
        let any = rules(r#"{"require": {"review": ["approved", "Waived"]}}"#).expect("valid");
        assert!(judge(&any[0], Some("waived")).passed);
    }

    #[test]
    fn forbid_a_value_or_the_tag_itself() {
        let r = rules(r#"{"forbid": {"blocked": "true", "do_not_ship": "*"}}"#).expect("valid");
        assert!(judge(&r[0], None).passed);
        assert!(judge(&r[0], Some("false")).passed);
        assert!(!judge(&r[0], Some("TRUE")).passed);
        assert!(judge(&r[1], None).passed);
        assert!(!judge(&r[1], Some("")).passed, "set, even if empty");
    }

    use crate::config_schema::{assert_cases_hold, expected_fields, properties};

    /// `config.schema.json` (which `modelgate schema` embeds) names exactly
    /// the fields this reader accepts.
    #[test]
    fn the_config_schema_names_every_field() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../config.schema.json")).expect("schema");
        let err = rules(r#"{"require": {"a": "b"}, "zz": 1}"#).expect_err("zz");
        assert_eq!(properties(&schema), expected_fields(&err), "{err}");
    }

    /// The reader accepts and refuses what `config-cases.json` says (the
    /// schema is held to the same cases by tests/e2e/schema.rs).
    #[test]
    fn the_config_cases_hold() {
        assert_cases_hold(include_str!("../config-cases.json"), rules);
    }

    #[test]
    fn configs_that_would_pass_anything_are_rejected() {
        for bad in [
            "{}",
            r#"{"require": {}}"#,
            r#"{"require": {"approval": "*"}}"#,
            r#"{"require": {"approval": []}}"#,
            r#"{"require": {"approval": ""}}"#,
            r#"{"require": {"approval": 1}}"#,
            r#"{"require": {"approval": "approved"}, "requre": {}}"#,
            r#"{"forbid": {"": "x"}}"#,
        ] {
            assert!(rules(bad).is_err(), "{bad} accepted");
        }
    }
}
