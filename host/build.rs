//! Embeds the built-in gates (`builtin:NAME`): their components are
//! committed in `plugins/dist/` — rebuilt from `plugins/` by
//! `scripts/build-builtins`, which CI runs with `--check` so the committed
//! bytes are always exactly what the source builds — and each is checked
//! here against `plugins/dist/SHA256SUMS`. Building the host needs no
//! `wasm32-wasip2` target and no nested cargo build. A built-in may also
//! have a lean build (`NAME-lean.wasm`, the same gate built to import
//! nothing), embedded and checked the same way. The test guests of
//! `plugins/testing/` are built by the end-to-end tests that use them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

/// Built-in gates, by the name after `builtin:` (`plugins/dist/NAME.wasm`).
const BUILTINS: &[&str] = &["threshold", "tags", "signature"];
/// Built-ins that also have a lean build (`plugins/dist/NAME-lean.wasm`):
/// the same gate built to import nothing, run for the configs it accepts.
const LEAN: &[&str] = &["threshold"];

fn main() {
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("host/ has a parent").to_path_buf();
    let dist = root.join("plugins").join("dist");
    let out = PathBuf::from(env("OUT_DIR"));
    println!("cargo:rerun-if-changed={}", dist.display());

    let sums_path = dist.join("SHA256SUMS");
    let sums = std::fs::read_to_string(&sums_path)
        .unwrap_or_else(|e| fail(&format!("failed to read `{}`: {e}", sums_path.display())));
    let expected: HashMap<&str, &str> = sums
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(sha, file)| (file.trim(), sha.trim()))
        .collect();
    let embed = |file: &str| -> (String, String) {
        let path = dist.join(file);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| fail(&format!("failed to read `{}`: {e}", path.display())));
        let sha: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        match expected.get(file) {
            Some(want) if *want == sha => {}
            Some(want) => fail(&format!(
                "`{}` has sha256 {sha}, but SHA256SUMS says {want}",
                path.display()
            )),
            None => fail(&format!("`{}` lists no `{file}`", sums_path.display())),
        }
        (
            format!("include_bytes!({:?})", path.display().to_string()),
            sha,
        )
    };
    let mut builtins = String::from(
        "/// Built-in gates: (name, component bytes, their sha256).\n\
         pub const BUILTINS: &[(&str, &[u8], &str)] = &[\n",
    );
    for name in BUILTINS {
        let (bytes, sha) = embed(&format!("{name}.wasm"));
        builtins.push_str(&format!("    ({name:?}, {bytes}, {sha:?}),\n"));
    }
    builtins.push_str(
        "];\n\n\
         /// Lean builds: (built-in name, component bytes, their sha256).\n\
         pub const LEAN: &[(&str, &[u8], &str)] = &[\n",
    );
    for name in LEAN {
        let (bytes, sha) = embed(&format!("{name}-lean.wasm"));
        builtins.push_str(&format!("    ({name:?}, {bytes}, {sha:?}),\n"));
    }
    // Each built-in's config schema (`plugins/NAME/config.schema.json`),
    // which `modelgate schema` embeds and the built-in's own tests hold to
    // what its config reader accepts.
    builtins.push_str(
        "];\n\n\
         /// The built-ins' config schemas: (name, JSON Schema text).\n\
         pub const CONFIG_SCHEMAS: &[(&str, &str)] = &[\n",
    );
    for name in BUILTINS {
        let path = root.join("plugins").join(name).join("config.schema.json");
        if !path.is_file() {
            fail(&format!(
                "`builtin:{name}` has no config schema `{}`",
                path.display()
            ));
        }
        println!("cargo:rerun-if-changed={}", path.display());
        builtins.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    builtins.push_str("];\n");
    write(&out.join("builtins.rs"), &builtins);
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| fail(&format!("{key} is not set")))
}

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        fail(&format!("failed to write `{}`: {e}", path.display()));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    eprintln!(
        "hint: plugins/dist/ holds the built-in gates as committed build outputs; \
         `scripts/build-builtins` rebuilds them and SHA256SUMS from plugins/"
    );
    std::process::exit(1);
}
