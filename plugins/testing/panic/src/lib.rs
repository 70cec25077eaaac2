//! Panics in `validate`: the host must report the panic as the cause.
use modelgate_plugin::prelude::*;

struct Panic;

impl Gate for Panic {
    fn validate(candidate: &Candidate, _: &Config) -> Result<Verdict, String> {
        panic!(
            "deliberate panic while judging version {}",
            candidate.number()
        );
    }
}

export_gate!(Panic);
