//! The project file as a JSON Schema (draft 2020-12), made from the tables
//! the reader checks keys against ([`super::keys`]) and the built-in gates'
//! config schemas (`plugins/NAME/config.schema.json`, which their own tests
//! hold to what their config readers accept). `modelgate schema` prints it;
//! `schema/ame.schema.json` is a committed copy that a test keeps equal.
//!
//! What a schema can say, it says: every key of every mapping (a misspelt
//! one is an error), the shape of each value, required keys, enums, bounds,
//! and the rules between keys. What it cannot: YAML tags (an editor needs
//! them declared as custom tags, [`custom_tags`]; a schema sees `!wasm {…}`
//! as its mapping, so the executor kinds are told apart by their keys),
//! unique names, and a duration's or size's upper bound written with units.
//! `modelgate check` checks all of it.

use serde_json::{Map, Value, json};

use super::keys::{EXECUTORS, Key, PROJECT, Rule, Shape, Table};

/// Where the schema is published; editors and `check-jsonschema` fetch it.
pub const SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/modelgate/modelgate/main/schema/ame.schema.json";

/// The YAML tags an editor must accept (yaml-language-server's
/// `yaml.customTags`): each executor tag with a mapping body, and `!mlflow`
/// also bare.
pub fn custom_tags() -> Vec<String> {
    let mut tags: Vec<String> = EXECUTORS
        .iter()
        .map(|(t, _)| format!("!{t} mapping"))
        .collect();
    tags.push("!mlflow scalar".to_string());
    // Secrets of the guide's generation.
    tags.push("!AmeSecret mapping".to_string());
    tags.push("!VaultSecret mapping".to_string());
    tags
}

/// A scalar read as text: a plain `3.10` or `true` is text to the reader.
const SCALAR: &[&str] = &["string", "number", "boolean"];

/// The JSON Schema of the project file. (Over 80 lines: mostly the table
/// of shared definitions, clearer whole.)
pub fn schema() -> Value {
    let mut defs = Map::new();
    let mut tables: Vec<&'static Table> = Vec::new();
    collect(&PROJECT, &mut tables);
    for t in tables.iter().filter(|t| t.id != PROJECT.id) {
        // The reader takes a null mapping as an empty one: null is valid
        // where an empty mapping is (no required key, no rule that an empty
        // mapping breaks).
        let nullable = t.required.is_empty() && matches!(t.rule, Rule::None | Rule::Task);
        defs.insert(t.id.to_string(), table(t, nullable));
    }
    defs.insert(
        "namedTask".into(),
        json!({
            "description": "A task under `tasks:` or `templates:` written as a list: it needs a `name`.",
            "$ref": "#/$defs/task",
            "type": "object",
            "required": ["name"],
        }),
    );
    let common = json!({
        "text": { "type": SCALAR },
        "nonEmptyText": {
            "anyOf": [
                { "type": "string", "pattern": "\\S" },
                { "type": ["number", "boolean"] }
            ]
        },
        "bool": {
            "anyOf": [
                { "type": "boolean" },
                { "enum": ["true", "True", "TRUE", "false", "False", "FALSE"] }
            ]
        },
        "duration": {
            "description": "Seconds, or a number with a unit (ms, s, m, h), e.g. `30s`, `10m`, `1h30m`: more than 0, at most a week.",
            "anyOf": [
                { "type": "number", "exclusiveMinimum": 0, "maximum": 604800 },
                { "type": "string", "pattern": "^\\s*(?:(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)\\s*(?:ms|secs?|s|mins?|m|hrs?|h)\\s*)+$" },
                { "type": "string", "pattern": "^\\s*\\+?(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?\\s*$" }
            ]
        },
        "bytes": {
            "description": "Bytes, or a number with a unit (B, K, KB, Ki, KiB, M, MB, Mi, MiB, G, GB, Gi, GiB), e.g. `64MiB`: from 1 byte to 64 GiB.",
            "anyOf": [
                { "type": "number", "minimum": 1, "maximum": 68_719_476_736_u64 },
                { "type": "string", "pattern": "^\\s*(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)\\s*(?:B|b|K|KB|k|kB|Ki|KiB|M|MB|Mi|MiB|G|GB|Gi|GiB)?\\s*$" }
            ]
        },
        "stringMap": {
            "type": ["object", "null"],
            "additionalProperties": { "type": ["string", "number", "boolean", "null"] }
        },
        "executor": {
            "description": "A tagged executor; a schema sees the tag's body only, so the kinds are told apart by their keys.",
            "anyOf": executor_bodies().iter().map(|id| reference(id)).collect::<Vec<_>>()
        }
    });
    if let Value::Object(c) = common {
        defs.extend(c);
    }
    // Each built-in's config schema, parsed once: a definition of its own,
    // and the `config:` of a `!wasm` gate naming it.
    let builtins: Vec<(&str, Value)> = crate::builtins::names()
        .into_iter()
        .filter_map(|name| builtin_schema(name).map(|s| (name, s)))
        .collect();
    if let Some(Value::Object(wasm)) = defs.get_mut(super::keys::WASM.id) {
        wasm.insert("allOf".into(), Value::Array(builtin_configs(&builtins)));
    }
    for (name, s) in builtins {
        defs.insert(format!("builtin-{name}"), s);
    }
    let mut root = table(&PROJECT, false);
    let Value::Object(ref mut r) = root else {
        unreachable!("a table is an object")
    };
    let mut out = Map::new();
    out.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    out.insert("$id".into(), json!(SCHEMA_URL));
    out.insert(
        "title".into(),
        json!("AME project file (ame.yaml), as modelgate reads it"),
    );
    out.extend(std::mem::take(r));
    out.insert("x-yaml-custom-tags".into(), json!(custom_tags()));
    out.insert("$defs".into(), Value::Object(defs));
    Value::Object(out)
}

/// `t` and every table reachable from it, each once, in order of discovery.
fn collect(t: &'static Table, seen: &mut Vec<&'static Table>) {
    if seen.iter().any(|s| std::ptr::eq(*s, t)) {
        return;
    }
    seen.push(t);
    for k in t.keys {
        shape_tables(&k.shape, seen);
    }
}

/// The tables a value of `shape` is written with.
fn shape_tables(shape: &Shape, seen: &mut Vec<&'static Table>) {
    match shape {
        Shape::Map(t) => collect(t, seen),
        Shape::List(s) => shape_tables(s, seen),
        Shape::Tasks => collect(&super::keys::TASK, seen),
        Shape::TaskRef => collect(&super::keys::TASK_REF, seen),
        Shape::Pipeline => collect(&super::keys::STEP, seen),
        Shape::Secret => {
            collect(&super::keys::SECRET, seen);
            collect(&super::keys::VAULT_SECRET, seen);
        }
        Shape::Executor => EXECUTORS.iter().for_each(|(_, body)| collect(body, seen)),
        _ => {}
    }
}

/// The executor bodies' table ids, each once, in [`EXECUTORS`] order.
fn executor_bodies() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = Vec::new();
    for (_, body) in EXECUTORS {
        if !ids.contains(&body.id) {
            ids.push(body.id);
        }
    }
    ids
}

/// A table as an object schema; `nullable`: a null value is an empty mapping.
fn table(t: &Table, nullable: bool) -> Value {
    let mut props = Map::new();
    for k in t.keys {
        props.insert(k.name.to_string(), key(k));
    }
    let mut o = Map::new();
    o.insert("description".into(), json!(t.doc));
    o.insert(
        "type".into(),
        if nullable {
            json!(["object", "null"])
        } else {
            json!("object")
        },
    );
    o.insert("properties".into(), Value::Object(props));
    o.insert("additionalProperties".into(), json!(false));
    if !t.required.is_empty() {
        o.insert("required".into(), json!(t.required));
    }
    match t.rule {
        Rule::None => {}
        Rule::EnvEntry => {
            o.insert(
                "oneOf".into(),
                json!([{ "required": ["key"] }, { "required": ["name"] }]),
            );
            o.insert("not".into(), json!({ "required": ["val", "value"] }));
        }
        Rule::Secret => {
            o.insert(
                "oneOf".into(),
                json!([
                    { "required": ["ame"], "not": { "anyOf": [{ "required": ["name"] }, { "required": ["envkey"] }] } },
                    { "required": ["name", "envkey"], "not": { "required": ["ame"] } }
                ]),
            );
        }
        Rule::Task => {
            o.insert(
                "not".into(),
                json!({ "type": "object", "anyOf": [
                    { "required": ["command", "runcommand"] },
                    { "required": ["pipeline", "executor"] },
                    { "required": ["pipeline", "command"] }
                ]}),
            );
        }
    }
    Value::Object(o)
}

/// A key's schema: its shape, with its description.
fn key(k: &Key) -> Value {
    let mut v = shape(&k.shape);
    if let Value::Object(o) = &mut v {
        o.insert("description".into(), json!(k.doc));
    }
    v
}

fn reference(id: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{id}") })
}

fn shape(s: &Shape) -> Value {
    match s {
        Shape::Text => reference("text"),
        Shape::OptText => json!({ "type": ["string", "number", "boolean", "null"] }),
        Shape::NonEmptyText => reference("nonEmptyText"),
        Shape::Bool => reference("bool"),
        Shape::Whole(max) => json!({
            "anyOf": [
                { "type": "integer", "minimum": 0, "maximum": max },
                { "type": "string", "pattern": "^\\+?[0-9]+$" }
            ]
        }),
        Shape::Duration => reference("duration"),
        Shape::Bytes => reference("bytes"),
        Shape::Sha256 => json!({
            "type": "string",
            "pattern": "^\\s*(?:sha256:)*[0-9a-fA-F]{64}\\s*$"
        }),
        Shape::Plugin => {
            let builtins: Vec<String> = crate::builtins::names()
                .iter()
                .map(|n| format!("{}{n}", crate::builtins::PREFIX))
                .collect();
            json!({
                "anyOf": [
                    { "enum": builtins },
                    { "type": "string", "pattern": "^(?!builtin:)\\S" }
                ],
                "examples": builtins,
            })
        }
        Shape::TaskType => json!({
            "anyOf": [
                { "enum": ["PipEnv", "Pipenv", "pipenv", "Mlflow", "mlflow", "Poetry", "poetry"] },
                { "type": "integer" },
                { "type": "string", "pattern": "^[+-]?[0-9]+$" }
            ]
        }),
        Shape::Map(t) => reference(t.id),
        Shape::List(item) => json!({ "type": ["array", "null"], "items": shape(item) }),
        Shape::StringMap => reference("stringMap"),
        Shape::Resources => json!({
            "type": ["object", "null"],
            "additionalProperties": {
                "anyOf": [
                    { "type": ["string", "number", "boolean", "null"] },
                    reference("stringMap")
                ]
            }
        }),
        Shape::Secret => json!({
            "description": "A secret; `!VaultSecret {…}` is told from the others by its keys.",
            "anyOf": [
                reference(super::keys::SECRET.id),
                reference(super::keys::VAULT_SECRET.id)
            ]
        }),
        Shape::AnyMap | Shape::GateConfig => json!({ "type": ["object", "null"] }),
        Shape::TaskRef => json!({
            "anyOf": [reference("text"), reference(super::keys::TASK_REF.id)]
        }),
        Shape::Tasks => json!({
            "anyOf": [
                { "type": ["array", "null"], "items": reference("namedTask") },
                { "type": "object", "additionalProperties": reference(super::keys::TASK.id) }
            ]
        }),
        Shape::Executor => reference("executor"),
        Shape::Pipeline => json!({
            "type": ["array", "null"],
            "maxItems": super::MAX_STEPS,
            "items": { "$ref": format!("#/$defs/{}", super::keys::STEP.id), "type": "object" }
        }),
    }
}

/// For each built-in with a config schema: its `plugin:` selects it for
/// `config:`.
fn builtin_configs(builtins: &[(&str, Value)]) -> Vec<Value> {
    builtins
        .iter()
        .map(|(name, schema)| {
            // A missing or null `config:` is `{}` to the reader: required
            // when the built-in refuses an empty config.
            let empty_refused = schema.get("required").is_some() || schema.get("anyOf").is_some();
            let mut then = json!({
                "properties": { "config": { "$ref": format!("#/$defs/builtin-{name}") } }
            });
            if empty_refused {
                then["required"] = json!(["config"]);
            }
            json!({
                "if": {
                    "properties": { "plugin": { "const": format!("{}{name}", crate::builtins::PREFIX) } },
                    "required": ["plugin"]
                },
                "then": then
            })
        })
        .collect()
}

/// `builtin:NAME`'s config schema, re-rooted under `$defs/builtin-NAME`: its
/// own `$schema` dropped and its `#/$defs/…` references pointed inside it.
fn builtin_schema(name: &str) -> Option<Value> {
    let text = crate::builtins::config_schema(name)?;
    let mut v: Value = serde_json::from_str(text).ok()?;
    if let Value::Object(o) = &mut v {
        o.remove("$schema");
    }
    rebase(&mut v, &format!("#/$defs/builtin-{name}/$defs/"));
    Some(v)
}

fn rebase(v: &mut Value, prefix: &str) {
    match v {
        Value::Object(o) => {
            for (k, val) in o.iter_mut() {
                if k == "$ref"
                    && let Value::String(r) = val
                    && let Some(rest) = r.strip_prefix("#/$defs/")
                {
                    *r = format!("{prefix}{rest}");
                } else {
                    rebase(val, prefix);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rebase(x, prefix)),
        _ => {}
    }
}

/// The schema as `modelgate schema` prints it: pretty, ending in a newline.
pub fn text() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).expect("a JSON value serializes");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of every table the reader checks is in the schema, and
    /// nothing else: the schema is made from the same tables.
    #[test]
    fn every_table_and_key_is_in_the_schema() {
        let s = schema();
        let mut tables = Vec::new();
        collect(&PROJECT, &mut tables);
        assert!(tables.len() >= 17, "{} tables", tables.len());
        for t in tables {
            let def = if t.id == PROJECT.id {
                &s
            } else {
                &s["$defs"][t.id]
            };
            let props = def["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{}", t.id));
            let mut got: Vec<&str> = props.keys().map(String::as_str).collect();
            let mut want = t.names();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "{}", t.id);
            assert_eq!(def["additionalProperties"], json!(false), "{}", t.id);
        }
    }

    /// Every built-in has its config schema in, and every `$ref` resolves.
    #[test]
    fn builtins_are_in_and_every_reference_resolves() {
        let s = schema();
        for name in crate::builtins::names() {
            assert!(
                s["$defs"][format!("builtin-{name}")].is_object(),
                "builtin:{name}"
            );
        }
        fn refs<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        out.push(r);
                    }
                    o.values().for_each(|x| refs(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&s, &mut all);
        assert!(all.len() > 20);
        for r in all {
            let pointer = r.strip_prefix('#').expect("a local reference");
            assert!(s.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    /// The committed copy is what this build prints.
    #[test]
    fn the_committed_schema_is_current() {
        let committed = include_str!("../../../schema/ame.schema.json");
        assert!(
            committed == text(),
            "schema/ame.schema.json is stale: run `cargo run -q -- schema > schema/ame.schema.json`"
        );
    }

    #[test]
    fn custom_tags_cover_every_executor() {
        let tags = custom_tags();
        for (t, _) in EXECUTORS {
            assert!(tags.contains(&format!("!{t} mapping")), "{t}");
        }
    }
}
