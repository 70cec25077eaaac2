//! Reports what it reads from the sandbox's clocks and random sources as
//! check observations, and passes: a replay reproduces it only when the
//! clock and the random stream are the ones recorded.
//!
//! Its `fresh_memory` check passes only when the evaluation starts from the
//! component's initial memory: no earlier evaluation counted in `SEEN`, and
//! no page of `PAGES` (three 64 KiB pages of zeroes, past the kept-resident
//! start of the memory and into it) holds what an earlier one wrote there.
use modelgate_plugin::prelude::*;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering::Relaxed};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Evaluations this memory has seen before this one.
static SEEN: AtomicU32 = AtomicU32::new(0);
/// Host pages (4 KiB) written by an evaluation, each at its first byte.
static PAGES: [AtomicU8; 3 * 65536] = [const { AtomicU8::new(0) }; 3 * 65536];

/// `(earlier evaluations, pages already written)`, then marks both.
fn residue() -> (u32, usize) {
    let seen = SEEN.fetch_add(1, Relaxed);
    let written = PAGES
        .chunks(4096)
        .filter(|page| page.iter().any(|b| b.load(Relaxed) != 0))
        .count();
    for page in PAGES.chunks(4096) {
        page[0].store(0xa5, Relaxed);
    }
    (seen, written)
}

struct Entropy;

impl Gate for Entropy {
    fn validate(_: &Candidate, _: &Config) -> Result<Verdict, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_millis();
        let start = Instant::now();
        // A fresh `RandomState` draws its keys from the WASI random source.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(42);
        let hashed = h.finish();
        let elapsed = start.elapsed().as_nanos();
        let (seen, written) = residue();
        Ok(Verdict::from_checks(vec![
            Check::new("wall_clock_ms", true).observed(now),
            Check::new("random", true).observed(format!("{hashed:016x}")),
            Check::new("monotonic_ns", true).observed(elapsed),
            Check::new("fresh_memory", seen == 0 && written == 0).observed(format!(
                "{seen} earlier evaluations, {written} pages written"
            )),
        ]))
    }
}

export_gate!(Entropy);
