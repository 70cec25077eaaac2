//! The gate's memory is one 64 KiB page: a 32 KiB stack, then its data
//! (about 17 KiB), then the first of its heap. Every evaluation starts
//! from the component's initial memory, and modelgate resets a memory
//! of one page with one memset and no system call; a candidate larger
//! than the first heap grows the memory, page by page.
//!
//! The stack: the gate's deepest call (formatting a float inside a check)
//! uses under 8 KiB, and the whole end-to-end suite passes with an 8 KiB
//! stack; nothing in it recurses on its input (serde_json skips unknown
//! values without recursion, and the config's types are flat). The stack
//! comes first in memory: an overflow traps, it cannot write over data.
//!
//! `--initial-memory` is exact: if stack and data outgrow the page, the
//! link fails rather than the gate silently getting a second page.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=32768");
        println!("cargo:rustc-link-arg-cdylib=--initial-memory=65536");
    }
}
