//! A 256 KiB stack instead of wasm-ld's 1 MiB: the gate parses one bounded
//! YAML file and the JSON schemas in it. The stack comes first in memory:
//! an overflow traps, it cannot write over data.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=262144");
    }
}
