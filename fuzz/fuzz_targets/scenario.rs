//! Fuzzes scenario TOML parsing and validation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = biowave::fuzz::scenario(data);
});
