//! Calls the registry in a loop, ignoring errors, then claims a pass: the
//! host's call budget must fail the gate anyway.
use modelgate_plugin::prelude::*;

struct Flood;

impl Gate for Flood {
    fn validate(candidate: &Candidate, _: &Config) -> Result<Verdict, String> {
        let mut exhausted = 0;
        for _ in 0..100_000 {
            if let Err(RegistryError::BudgetExhausted) = registry::model_versions(candidate.name())
            {
                exhausted += 1;
                if exhausted > 10 {
                    break;
                }
            }
        }
        Ok(Verdict::pass("looked at everything"))
    }
}

export_gate!(Flood);
