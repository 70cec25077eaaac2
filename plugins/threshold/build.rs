//! A 128 KiB stack instead of wasm-ld's 1 MiB: the gate parses a bounded
//! JSON config and a registry answer (serde_json stops at 128 levels), and
//! every evaluation starts from the component's initial memory, so a
//! smaller one is less to map and reset each time. The stack comes first in
//! memory: an overflow traps, it cannot write over data.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=131072");
    }
}
