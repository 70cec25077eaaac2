//! modelgate runs the validation gates of an ML model version registered in
//! MLflow and answers pass or fail.
//!
//! Data flows one way: the project file ([`project`]) becomes a [`plan`] of
//! gates per model; each model's candidate version is resolved in the
//! [`registry`] ([`candidate`]); the [`runner`](judge::runner) prepares every gate
//! ([`gate`]) — a process or a sandboxed WebAssembly component — once and
//! judges each candidate with them, each gate a typed outcome; the [`report`] says
//! what was decided and why, and the exit code ([`exit`]) carries it.

pub mod builtins;
pub mod candidate;
pub mod cli;
pub mod commands;
pub mod error;
pub mod exit;
pub mod files;
pub mod gate;
pub mod judge;
pub mod output;
pub mod plan;
pub mod project;
pub mod record;
pub mod registry;
pub mod replay;
pub mod report;
pub mod serve;
pub mod signals;
pub mod suggest;
pub mod templates;
pub mod text;
pub mod units;
