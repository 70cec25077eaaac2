//! A component of another world: exports `run`, not `check-config`/`validate`.
wit_bindgen::generate!({ path: "wit", world: "thing" });

struct Stranger;

impl Guest for Stranger {
    fn run() -> u32 {
        42
    }
}

export!(Stranger);
