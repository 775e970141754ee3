//! `manifest.json`: what a generate run wrote, with seeds, parameters, labels and hashes.

use super::{Job, OutFormat, Shard};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One record in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordEntry {
    /// Record index in the dataset.
    pub id: u64,
    /// File name inside the output directory.
    pub file: String,
    /// Seed of this record (derived from the dataset seed and the id).
    pub seed: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Frames (samples per channel).
    pub n_frames: u64,
    /// Samples per second.
    pub sample_rate: f64,
    /// Channel labels in file order.
    pub channels: Vec<String>,
    /// Channel units.
    pub units: Vec<String>,
    /// Labels: rhythm, HR, beats, PVCs (ECG); rhythm settings (EEG).
    pub labels: serde_json::Value,
    /// True when a signal stopped the run while this record was written: the file is
    /// valid and holds `n_frames`, fewer than the duration asks (absent when false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// The manifest of one run (or one shard).
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Model name.
    pub model: String,
    /// All model parameters (physiological models), or the checkpoint's identity.
    pub params: super::JobModel,
    /// Dataset seed.
    pub seed: u64,
    /// Seconds per record.
    pub duration_s: f64,
    /// Records in the whole dataset.
    pub count: u64,
    /// Shard this manifest covers.
    pub shard: Shard,
    /// File format.
    pub format: OutFormat,
    /// biowave version.
    pub version: &'static str,
    /// The records, in id order.
    pub records: Vec<RecordEntry>,
    /// True when a signal stopped the run: the records listed are all it wrote (absent
    /// when false).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

impl Manifest {
    /// The manifest of `job` with its `records`.
    pub fn new(job: &Job, records: Vec<RecordEntry>) -> Self {
        Self {
            model: job.model.name().to_string(),
            params: job.model.clone(),
            seed: job.seed,
            duration_s: job.duration_s,
            count: job.count,
            shard: job.shard,
            format: job.format,
            version: env!("CARGO_PKG_VERSION"),
            records,
            interrupted: false,
        }
    }

    /// Writes pretty JSON to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::BadInput(format!("manifest: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| Error::os(format!("writing {}", path.display()), e))
    }
}

/// `manifest.json` for a whole run, `manifest-shard-I-of-N.json` for a shard,
/// `NAME.manifest.json` beside a single record written as `NAME.EXT`.
pub fn file_name(job: &Job) -> String {
    let shard = &job.shard;
    if let Some(file) = &job.file {
        format!("{}.manifest.json", crate::events::stem(file))
    } else if shard.total == 1 {
        "manifest.json".into()
    } else {
        format!("manifest-shard-{}-of-{}.json", shard.index, shard.total)
    }
}
