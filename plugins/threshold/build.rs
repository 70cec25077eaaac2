//! A 128 KiB stack instead of wasm-ld's 1 MiB: the gate parses a bounded
//! JSON config and a registry answer (serde_json stops at 128 levels), and
//! every evaluation starts from the component's initial memory, so a
//! smaller one is less to map and reset each time. The stack comes first in
//! memory: an overflow traps, it cannot write over data.
//!
//! A 64 KiB heap in the initial memory: the SDK's allocator starts there,
//! so an evaluation does not grow its memory (growing it, and resetting it
//! afterwards, would cost system calls for every candidate). Stack, data
//! and heap then fit in the 4 pages modelgate keeps mapped between
//! evaluations.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=131072");
        println!("cargo:rustc-link-arg-cdylib=--initial-heap=65536");
    }
}
