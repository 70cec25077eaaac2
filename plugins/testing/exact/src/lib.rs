//! Writes exactly the output limit (1 MiB) to stdout and passes: at the
//! limit is within it.
use modelgate_plugin::prelude::*;
use std::io::Write as _;

struct Exact;

impl Gate for Exact {
    fn validate(_: &Candidate, _: &Config) -> Result<Verdict, String> {
        let line = [b'x'; 1023];
        let mut out = std::io::stdout().lock();
        for _ in 0..1024 {
            out.write_all(&line).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        out.flush().map_err(|e| e.to_string())?;
        Ok(Verdict::pass("wrote exactly 1 MiB"))
    }
}

export_gate!(Exact);
