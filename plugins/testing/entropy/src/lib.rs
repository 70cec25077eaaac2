//! Reports what it reads from the sandbox's clocks and random sources as
//! check observations, and passes: a replay reproduces it only when the
//! clock and the random stream are the ones recorded.
use modelgate_plugin::prelude::*;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

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
        Ok(Verdict::from_checks(vec![
            Check::new("wall_clock_ms", true).observed(now),
            Check::new("random", true).observed(format!("{hashed:016x}")),
            Check::new("monotonic_ns", true).observed(elapsed),
        ]))
    }
}

export_gate!(Entropy);
