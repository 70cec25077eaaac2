//! A gate built without std, on the SDK's own heap and panic handler: it
//! fills as many 64 KiB blocks as its config's `allocate` asks (its memory
//! grows past its initial pages), reads them back, and panics when its
//! config has `panic`.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use modelgate_plugin::prelude::*;
use serde::Deserialize;

const BLOCK: usize = 65536;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    /// Bytes to allocate, in blocks of 64 KiB.
    #[serde(default)]
    allocate: usize,
    /// Panic with this message.
    #[serde(default)]
    panic: Option<String>,
}

struct Bare;

impl Gate for Bare {
    fn validate(candidate: &Candidate, config: &Config) -> Result<Verdict, String> {
        let ask: Ask = config.deserialize()?;
        if let Some(message) = ask.panic {
            panic!("{message} (version {})", candidate.number());
        }
        // Each block holds its own index: a heap handing out one region
        // twice would show as a block that is not what was written.
        let blocks: Vec<Vec<u8>> = (0..ask.allocate.div_ceil(BLOCK))
            .map(|i| alloc::vec![i as u8; BLOCK])
            .collect();
        let intact = blocks
            .iter()
            .enumerate()
            .all(|(i, b)| b.iter().all(|&x| x == i as u8));
        Ok(Verdict::from_checks(alloc::vec![
            Check::new("heap", intact).observed(format!("{} bytes", blocks.len() * BLOCK)),
            Check::at_least("score", candidate.metric("score"), 0.5),
        ]))
    }
}

export_gate!(Bare);
