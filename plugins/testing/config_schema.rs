//! Test helpers shared by the built-in gates (`builtin:threshold`,
//! `builtin:tags`), included by each one's unit tests with `#[path]`: they
//! hold a gate's `config.schema.json` (which `modelgate schema` embeds) to
//! what its config reader accepts, and the reader to `config-cases.json`
//! (to which tests/e2e/schema.rs holds the schema).

// The gates are `no_std` on wasm32, where their tests are linted too.
extern crate alloc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The fields a serde `deny_unknown_fields` error says it expects.
pub fn expected_fields(err: &str) -> Vec<String> {
    let list = err
        .split("expected one of ")
        .nth(1)
        .or_else(|| err.split("expected ").nth(1))
        .unwrap_or_else(|| panic!("no field list in {err}"));
    let list = list.split(" at line ").next().unwrap_or(list);
    let mut fields: Vec<String> = list
        .split(", ")
        .flat_map(|s| s.split(" or "))
        .map(|s| s.trim().trim_matches('`').to_string())
        .collect();
    fields.sort();
    fields
}

/// The property names a schema object lists, sorted.
pub fn properties(schema: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// `read` accepts every `valid` config of `cases` (a `config-cases.json`)
/// and refuses every `invalid` one.
pub fn assert_cases_hold<T, E: core::fmt::Debug>(cases: &str, read: impl Fn(&str) -> Result<T, E>) {
    let cases: serde_json::Value = serde_json::from_str(cases).expect("cases");
    for c in cases["valid"].as_array().expect("valid") {
        let json = serde_json::to_string(c).expect("json");
        if let Err(e) = read(&json) {
            panic!("refused {json}: {e:?}");
        }
    }
    for c in cases["invalid"].as_array().expect("invalid") {
        let json = serde_json::to_string(c).expect("json");
        assert!(read(&json).is_err(), "accepted {json}");
    }
}
