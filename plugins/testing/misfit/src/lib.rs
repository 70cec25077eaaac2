//! Imports what a 0.2.0 gate imports, but exports `validate` with another
//! signature (see `wit/world.wit`): modelgate must refuse to load it.

wit_bindgen::generate!({
    path: [
        "../../../wit/deps/validator-0.1.0",
        "../../../wit/deps/validator-0.2.0",
        "wit",
    ],
    world: "test:misfit/validator",
    generate_all,
});

use modelgate::validator0_1_0::log::{Level, log};

struct Misfit;

impl Guest for Misfit {
    fn check_config(_: String) -> Result<(), String> {
        log(Level::Info, "misfit loaded");
        Ok(())
    }

    fn validate(_: String, _: u32) -> Verdict {
        Verdict {
            passed: true,
            summary: "should never be called".into(),
            checks: Vec::new(),
        }
    }
}

export!(Misfit);
