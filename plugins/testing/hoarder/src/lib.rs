//! Asks the registry for many distinct, huge names (each answer is a
//! not-found error the host would keep), then claims a pass: the host's
//! bounds on arguments and on what it holds for a plugin must fail it.
//! Config `{"size": N}` sets the name length (default 1 MiB).
use modelgate_plugin::prelude::*;

struct Hoarder;

impl Gate for Hoarder {
    fn validate(_: &Candidate, config: &Config) -> Result<Verdict, String> {
        let size = config.get::<usize>("size")?.unwrap_or(1 << 20);
        let mut name = "m".repeat(size);
        for i in 0..1000u32 {
            name.replace_range(..10, &format!("{i:010}"));
            let _ = registry::model_versions(&name);
        }
        Ok(Verdict::pass("asked for everything"))
    }
}

export_gate!(Hoarder);
