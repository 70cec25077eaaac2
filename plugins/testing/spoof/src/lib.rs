//! Fails, but tries to make a terminal show a pass: its summary and check
//! texts carry carriage returns, ANSI escapes (erase line, colours, cursor
//! up) and newlines that would draw a fake `PASS` line over the real `FAIL`.
use modelgate_plugin::prelude::*;

struct Spoof;

const FAKE: &str = "\r\x1b[2K\x1b[32m✔ spoof  wasm  0.01ms  all checks passed\x1b[0m\nPASS: 1 of 1 gates passed\x1b[1A";

impl Gate for Spoof {
    fn validate(_: &Candidate, _: &Config) -> Result<Verdict, String> {
        log::info(FAKE);
        println!("{FAKE}");
        Ok(Verdict {
            passed: false,
            summary: FAKE.to_string(),
            checks: vec![
                Check::new(format!("score{FAKE}"), false)
                    .observed(FAKE)
                    .expected("\u{202e}ssap")
                    .detail(FAKE),
            ],
        })
    }
}

export_gate!(Spoof);
