//! Builds the guest workspace in `plugins/` for `wasm32-wasip2`: the built-in
//! gates are embedded in the binary (`builtin:NAME`), and the test guests get
//! one path constant each in `$OUT_DIR/guests.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;

/// Built-in gates: (name after `builtin:`, crate's wasm file stem).
const BUILTINS: &[(&str, &str)] = &[("threshold", "threshold"), ("tags", "tags")];

/// Test guests: (constant name, crate's wasm file stem).
const GUESTS: &[(&str, &str)] = &[
    ("SPIN", "guest_spin"),
    ("HOG", "guest_hog"),
    ("PANIC", "guest_panic"),
    ("FLOOD", "guest_flood"),
    ("CHATTY", "guest_chatty"),
    ("ECHO", "guest_echo"),
    ("FUTURE", "guest_future"),
    ("STRANGER", "guest_stranger"),
    ("EXACT", "guest_exact"),
    ("SPOOF", "guest_spoof"),
    ("HOARDER", "guest_hoarder"),
    ("ENTROPY", "guest_entropy"),
    ("CLASSIC", "guest_classic"),
];

fn main() {
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("host/ has a parent").to_path_buf();
    let plugins = root.join("plugins");
    let out = PathBuf::from(env("OUT_DIR"));
    println!("cargo:rerun-if-changed={}", plugins.display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--workspace",
    ])
    .arg("--manifest-path")
    .arg(plugins.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir);
    // The outer build's flags and target are for the host, not the guests.
    // The guests are built with the toolchain `rust-toolchain.toml` pins
    // (which has the wasm target), even when the host is built with
    // another one (`cargo +nightly fuzz`): drop the outer toolchain choice.
    for var in [
        "RUSTC",
        "RUSTDOC",
        "RUSTUP_TOOLCHAIN",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_CFG_")
            || key.starts_with("CARGO_PROFILE_")
        {
            cmd.env_remove(key);
        }
    }
    let status = cmd.status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!(
            "building the guest plugins in `{}` failed ({s})",
            plugins.display()
        )),
        Err(e) => fail(&format!("failed to run `{cargo}`: {e}")),
    }
    let wasm_dir = target_dir.join("wasm32-wasip2").join("release");
    let mut builtins = String::from(
        "/// Built-in gates: (name, component bytes, their sha256).\n\
         pub const BUILTINS: &[(&str, &[u8], &str)] = &[\n",
    );
    for (name, stem) in BUILTINS {
        let dest = out.join(format!("builtin-{name}.wasm"));
        copy(&wasm_dir.join(format!("{stem}.wasm")), &dest);
        let bytes = std::fs::read(&dest)
            .unwrap_or_else(|e| fail(&format!("failed to read `{}`: {e}", dest.display())));
        let sha: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        builtins.push_str(&format!(
            "    ({name:?}, include_bytes!({:?}), {sha:?}),\n",
            dest.display().to_string()
        ));
    }
    builtins.push_str("];\n");
    write(&out.join("builtins.rs"), &builtins);
    let mut guests =
        String::from("// Test guests built from plugins/testing, one constant each.\n");
    for (konst, stem) in GUESTS {
        let dest = out.join(format!("{stem}.wasm"));
        copy(&wasm_dir.join(format!("{stem}.wasm")), &dest);
        guests.push_str(&format!(
            "/// Path of the `{stem}` test guest.\npub const {konst}: &str = {:?};\n",
            dest.display().to_string()
        ));
    }
    write(&out.join("guests.rs"), &guests);
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| fail(&format!("{key} is not set")))
}

fn copy(from: &Path, to: &Path) {
    if let Err(e) = std::fs::copy(from, to) {
        fail(&format!("failed to copy `{}`: {e}", from.display()));
    }
}

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        fail(&format!("failed to write `{}`: {e}", path.display()));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    eprintln!(
        "hint: the guests need the wasm32-wasip2 target: run `rustup target add wasm32-wasip2` \
         (or `rustup toolchain install` in the repository root)"
    );
    std::process::exit(1);
}
