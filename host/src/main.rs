//! The `modelgate` binary: parses the command line, runs the command, and
//! maps the outcome to the documented exit code.

use std::process::ExitCode;

use clap::Parser as _;
use modelgate::cli::Cli;
use modelgate::exit::ExitStatus;

/// mimalloc rather than glibc's malloc: compiling a Python or JavaScript
/// component allocates from every core at once, and its first run is a
/// fifth faster for it. Built without asking for transparent huge pages
/// (the workspace's `no_thp`): with them a small run held ~6 MiB more and a
/// large compile spent up to seconds of system time faulting in 2 MiB pages
/// (`/usr/bin/time` on `validate` and `plugin inspect`, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A worker per core (at least two), so judgements of a sweep run on
    // every core.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            modelgate::output::stderr(&format!("error: failed to start the async runtime: {e}\n"));
            return ExitStatus::Error.into();
        }
    };
    match runtime.block_on(modelgate::commands::run(cli)) {
        Ok(status) => status.into(),
        Err(err) => {
            modelgate::output::stderr(&modelgate::error::render(&err));
            ExitStatus::Error.into()
        }
    }
}
