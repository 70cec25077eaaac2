//! The REST client's answer parsing on arbitrary bytes: every answer is
//! read or refused as invalid, never a panic, never a default that could
//! turn a malformed answer into a pass.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    modelgate::registry::rest::parse_any_answer(data);
});
