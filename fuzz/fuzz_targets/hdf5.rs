//! Fuzzes the HDF5 reader: header parsing and sample decoding of arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"));
    let _ = biowave::fuzz::read_file(data, "h5", dir.path());
});
