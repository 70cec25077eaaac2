//! Grows memory without bound in `validate`: the host's memory cap must stop it.
use modelgate_plugin::prelude::*;

struct Hog;

impl Gate for Hog {
    fn validate(_: &Candidate, _: &Config) -> Result<Verdict, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

export_gate!(Hog);
