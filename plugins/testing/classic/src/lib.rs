//! A gate built against `modelgate:validator@0.1.0` as released (the file
//! in `wit/deps/validator-0.1.0/`), with wit-bindgen alone: it proves that
//! gates built before 0.2.0 keep loading and judging. It passes when the
//! candidate's `score` is at least `min`, and reads the registry and logs
//! through the 0.1.0 imports on the way.

wit_bindgen::generate!({ path: "../../../wit/deps/validator-0.1.0", world: "validator" });

use modelgate::validator::log::{Level, log};
use modelgate::validator::registry;
use modelgate::validator::types::Check;

struct Classic;

mod min;
use min::min;

impl Guest for Classic {
    fn check_config(config: String) -> Result<(), String> {
        min(&config).map(|_| ())
    }

    fn validate(candidate: Candidate, config: String) -> Result<Verdict, String> {
        let min = min(&config)?;
        let v = &candidate.version;
        let again = registry::get_model_version(&v.name, v.version)
            .map_err(|e| format!("registry: {e:?}"))?;
        log(
            Level::Info,
            &format!("read version {} again", again.version),
        );
        let score = candidate
            .run
            .as_ref()
            .and_then(|r| r.metrics.iter().find(|m| m.key == "score"))
            .map(|m| m.value);
        let passed = score.is_some_and(|s| s >= min);
        Ok(Verdict {
            passed,
            summary: format!("0.1.0 gate: score {score:?} against {min}"),
            checks: vec![Check {
                name: "score".into(),
                passed,
                observed: score.map(|s| s.to_string()),
                expected: Some(format!(">= {min}")),
                detail: None,
            }],
        })
    }
}

export!(Classic);
