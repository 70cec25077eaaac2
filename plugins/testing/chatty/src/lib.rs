//! Writes megabytes to stdout: the host's output bound must stop it.
use modelgate_plugin::prelude::*;

struct Chatty;

impl Gate for Chatty {
    fn validate(_: &Candidate, _: &Config) -> Result<Verdict, String> {
        let line = "x".repeat(1023);
        for _ in 0..(8 * 1024) {
            println!("{line}");
        }
        Ok(Verdict::pass("said a lot"))
    }
}

export_gate!(Chatty);
