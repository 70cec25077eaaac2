//! End-to-end tests: the built `modelgate` binary against a real MLflow
//! tracking server (started once per run from the test environment), real
//! training runs, MLflow's own databases, and real WebAssembly guests.
//!
//! They need the environment `scripts/setup` creates; without it they fail
//! with a message saying so.

mod auth;
mod check;
mod deploy;
mod hostile;
mod plugins;
mod process_gates;
mod project_file;
mod record;
mod registry;
mod replay;
mod sandbox;
mod serve;
mod snapshots;
mod support;
mod threshold;
mod wasm_gates;

/// Paths of the test guests built from `plugins/testing` by the host's
/// build script, one constant per guest.
#[allow(dead_code)]
mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
