//! A 64 KiB stack (the default is 1 MiB), so that the guest's data, and with
//! it `PAGES`, starts inside the first 256 KiB of its memory: the part a
//! pooled memory keeps resident and resets in place between evaluations
//! (`POOL_KEEP_RESIDENT_MEMORY`), while the end of `PAGES` lies past it,
//! where the memory is handed back to the kernel instead. `fresh_memory`
//! then covers both ways of resetting.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=65536");
    }
}
