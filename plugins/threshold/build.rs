//! The gate's memory is one 64 KiB page: a 16 KiB stack, then its data
//! (about 20 KiB), then the first of its heap. Every evaluation starts
//! from the component's initial memory, and modelgate resets a memory
//! of one page in place, with no system call but the one that finds the
//! pages written (Linux 6.7 or newer; else the whole page); a candidate larger
//! than the first heap grows the memory, page by page (a `memory.grow`
//! and, on reset, giving the page back: about 15 µs, BENCHMARKS.md). A
//! candidate handed with its LoggedModel (world 0.3.0) needs more heap
//! than one with its run alone; 16 KiB of stack leaves it room.
//!
//! The stack: the gate's deepest call (formatting a float inside a check)
//! uses under 8 KiB, and every end-to-end test of the gate (the threshold,
//! WebAssembly gate, MLflow 3, replay and registry suites) passes with an
//! 8 KiB stack: 16 KiB is twice that. Nothing in it recurses on its input
//! (serde_json skips unknown values without recursion, and the config's
//! types are flat). The stack comes first in memory: an overflow traps, it
//! cannot write over data.
//!
//! `--initial-memory` is exact: if stack and data outgrow the page, the
//! link fails rather than the gate silently getting a second page.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=16384");
        println!("cargo:rustc-link-arg-cdylib=--initial-memory=65536");
    }
}
