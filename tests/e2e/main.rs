//! End-to-end tests: the built `modelgate` binary against a real MLflow
//! tracking server (started once per run from the test environment), real
//! training runs, MLflow's own databases, and real WebAssembly guests.
//!
//! They need the environment `scripts/setup` creates; without it they fail
//! with a message saying so.

mod artifacts;
mod auth;
mod chaos;
mod check;
mod deploy;
mod hostile;
mod html;
mod mlflow3;
mod plugins;
mod process_gates;
mod project_file;
mod record;
mod registry;
mod replay;
mod sandbox;
mod schema;
mod serve;
mod snapshots;
mod support;
mod threshold;
mod wasm_gates;

/// The test guests of `plugins/testing`, built for `wasm32-wasip2` on first
/// use (with the toolchain `rust-toolchain.toml` pins, which `scripts/setup`
/// gives the target), one function each returning the component's path.
/// Only the tests need the wasm target: the host embeds the built-in gates
/// from `plugins/dist/`.
#[allow(non_snake_case, dead_code)]
mod guests {
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::OnceLock;

    /// Builds the guest workspace once per test run; the directory of the
    /// built components.
    fn built() -> &'static PathBuf {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let root = crate::support::root();
            let target = root.join("target/wasm-plugins");
            let build = |which: &[&str]| {
                let mut cmd = Command::new("cargo");
                cmd.args(["build", "--quiet", "--locked", "--release"])
                    .args(["--target", "wasm32-wasip2"])
                    .args(which)
                    .arg("--manifest-path")
                    .arg(root.join("plugins/Cargo.toml"))
                    .arg("--target-dir")
                    .arg(&target)
                    .current_dir(&root);
                // The guests use the pinned toolchain and flags of their
                // own, whatever built the test binary.
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
                let out = crate::support::run(&mut cmd);
                assert_eq!(
                    out.code, 0,
                    "building the test guests ({which:?}) failed (scripts/setup adds the wasm32-wasip2 target):\n{out}"
                );
            };
            build(&["--workspace"]);
            // Built with the others, Cargo unifies the SDK's features and
            // gives the guest without std the others' std: built alone
            // afterwards, it is what it says.
            build(&["--package", "guest-bare"]);
            target.join("wasm32-wasip2/release")
        })
    }

    macro_rules! guests {
        ($($name:ident => $stem:literal),* $(,)?) => {$(
            #[doc = concat!("Path of the `", $stem, "` test guest.")]
            pub fn $name() -> &'static str {
                static PATH: OnceLock<String> = OnceLock::new();
                PATH.get_or_init(|| built().join(concat!($stem, ".wasm")).display().to_string())
            }
        )*};
    }

    guests! {
        SPIN => "guest_spin",
        HOG => "guest_hog",
        PANIC => "guest_panic",
        FLOOD => "guest_flood",
        CHATTY => "guest_chatty",
        ECHO => "guest_echo",
        FUTURE => "guest_future",
        STRANGER => "guest_stranger",
        EXACT => "guest_exact",
        SPOOF => "guest_spoof",
        HOARDER => "guest_hoarder",
        ENTROPY => "guest_entropy",
        CLASSIC => "guest_classic",
        SECOND => "guest_second",
        MISFIT => "guest_misfit",
        BARE => "guest_bare",
        READER => "guest_reader",
    }
}
