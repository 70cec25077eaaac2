//! A gate built against `modelgate:validator@0.2.0` as released (the file
//! in `wit/deps/validator-0.2.0/`), with wit-bindgen alone: it proves that
//! gates built before 0.3.0 keep loading and judging. It passes when the
//! candidate's `score` is at least `min`, with a warning (0.2.0's addition)
//! when it is within 0.1 of it, and reads the registry and logs through
//! 0.1.0's imports on the way.

// The released 0.2.0 file uses 0.1.0's, which comes first.
wit_bindgen::generate!({
    path: [
        "../../../wit/deps/validator-0.1.0",
        "../../../wit/deps/validator-0.2.0",
    ],
    world: "modelgate:validator/validator@0.2.0",
    generate_all,
});

use modelgate::validator0_1_0::log::{Level, log};
use modelgate::validator0_1_0::registry;
use modelgate::validator0_2_0::types::Check;

struct Second;

#[path = "../../classic/src/min.rs"]
mod min;
use min::min;

impl Guest for Second {
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
        let warning = score
            .filter(|s| passed && s - min <= 0.1)
            .map(|_| format!("within 0.1 of {min}"));
        Ok(Verdict {
            passed,
            summary: format!("0.2.0 gate: score {score:?} against {min}"),
            checks: vec![Check {
                name: "score".into(),
                passed,
                warning,
                observed: score.map(|s| s.to_string()),
                expected: Some(format!(">= {min}")),
                detail: None,
            }],
        })
    }
}

export!(Second);
