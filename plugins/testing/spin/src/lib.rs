//! Loops forever in `validate`: the host's deadline must stop it.
use modelgate_plugin::prelude::*;

struct Spin;

impl Gate for Spin {
    fn validate(_: &Candidate, _: &Config) -> Result<Verdict, String> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export_gate!(Spin);
