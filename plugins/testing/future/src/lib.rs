//! Built against `modelgate:validator@0.9.0`, which this host does not run.
wit_bindgen::generate!({ path: "wit", world: "validator" });

struct Future;

impl Guest for Future {
    fn check_config(_: String) -> Result<(), String> {
        modelgate::validator::log::log("hello from the future");
        Ok(())
    }

    fn validate(_: String) -> bool {
        true
    }
}

export!(Future);
