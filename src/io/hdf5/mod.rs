//! HDF5: 2-D (samples × channels, or channels × samples) and 3-D (records × samples ×
//! channels) numeric datasets in, a resizable chunked `samples × channels` dataset out.
//!
//! Built on the pure-Rust `rust-hdf5` crate (no libhdf5: plain `cargo build` works);
//! ARCHITECTURE.md says why. [`layout`] finds the dataset and its axes and attributes,
//! [`reader`] decodes hyperslabs on demand (`slab`: chunk-aligned, in parallel), [`writer`] appends block by block.

mod heap;
pub mod layout;
pub mod reader;
mod slab;
pub mod writer;

pub use reader::H5Reader;
pub use writer::H5Writer;

use crate::io::{Error, Result, WriteOptions};
use crate::record::Record;
use std::path::Path;

/// Maps a `rust-hdf5` error to an io error naming the file and what was being read.
pub(crate) fn h5err(path: &Path, field: &str, e: impl std::fmt::Display) -> Error {
    Error::format(path, field, e.to_string())
}

/// Writes a whole record (one rate for all channels) as `/signals` with its attributes
/// and its annotations under `/annotations`.
pub fn save(record: &Record, path: &Path, opts: &WriteOptions) -> Result<()> {
    let spec = crate::io::one_rate_spec(record, path, "HDF5")?;
    let mut opts = opts.clone();
    opts.start = opts.start.or(record.meta.start);
    let mut w = H5Writer::create(path, &spec, &opts)?;
    let n = record
        .channels
        .iter()
        .map(|c| c.samples.len())
        .min()
        .unwrap_or(0);
    let chans: Vec<&[f32]> = record.channels.iter().map(|c| &c.samples[..n]).collect();
    w.push(&chans)?;
    w.set_annotations(&record.meta.annotations);
    crate::io::Writer::finish(&mut w)
}
