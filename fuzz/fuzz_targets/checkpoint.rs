//! Fuzzes the checkpoint config.json loader and its validation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = biowave::fuzz::checkpoint_config(data);
});
