//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the proptest mutation suite
//! (`tests/mutations.rs`): each takes untrusted bytes and must come back with `Ok` or a
//! clean [`Error`](crate::Error): no panic, no hang, no allocation sized by a header.

use crate::io::{self, OpenOptions, Selection};
use crate::model::checkpoint;
use crate::stream::scenario::{self, Scenario};
use crate::Result;
use std::path::{Path, PathBuf};

/// Most samples a fuzzed read decodes: enough for every seed file, small enough that a
/// header claiming terabytes is caught by the reader's own limits, not by this cap.
const MAX_SAMPLES: u64 = 1 << 24;

/// Writes `bytes` to `dir/input.EXT`, opens it as its extension says (EDF, BDF, HDF5,
/// CSV) and reads every channel in full: header parsing and sample decoding both run.
pub fn read_file(bytes: &[u8], ext: &str, dir: &Path) -> Result<()> {
    let path = dir.join(format!("input.{ext}"));
    std::fs::write(&path, bytes).map_err(|e| crate::Error::os("fuzz input", e))?;
    read_path(&path)
}

/// Opens `path` and reads every channel in full. A decoded length that disagrees with the
/// header's is a reader bug: the harness panics so that the fuzzer reports it.
pub fn read_path(path: &Path) -> Result<()> {
    let mut r = io::open_with(path, &OpenOptions::default())?;
    let info = r.info().clone();
    let total: u64 = info.channels.iter().map(|c| c.n_samples).sum();
    if total <= MAX_SAMPLES {
        let rec = r.read(&Selection::all())?;
        for (c, i) in rec.channels.iter().zip(&info.channels) {
            assert_eq!(
                c.samples.len() as u64,
                i.n_samples,
                "{}: channel {}",
                path.display(),
                i.meta.label
            );
        }
    }
    Ok(())
}

/// Parses scenario TOML and validates every stream in it (no sink is opened).
pub fn scenario(bytes: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(bytes);
    let s = Scenario::parse(Path::new("scenario.toml"), &text)?;
    scenario::validate(&s.streams, s.realtime.unwrap_or(true))
}

/// Parses and validates a checkpoint's config.json.
pub fn checkpoint_config(bytes: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(bytes);
    checkpoint::parse_config(&PathBuf::from("config.json"), &text).map(|_| ())
}
