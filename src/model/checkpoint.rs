//! Checkpoints: `DIR/config.json` (everything needed to rebuild and sample the model) and
//! `DIR/model.safetensors` (the weights). `--model NAME` looks in `models/` first.

use crate::data::{DataConfig, NormStats};
use crate::record::SignalSpec;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Format of config.json this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// config.json of a learned model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CheckpointConfig {
    /// Model kind: `vae`.
    pub kind: String,
    /// config.json format version.
    pub format_version: u32,
    /// biowave version that wrote it.
    pub crate_version: String,
    /// Model hyperparameters.
    pub vae: super::vae::VaeConfig,
    /// Channels, units, rate of the training data (and of the output).
    pub spec: SignalSpec,
    /// Windows and spectra used for training.
    pub data: DataConfig,
    /// Per-feature normalisation fitted on the training windows.
    pub norm: NormStats,
    /// Training files: name and sha256.
    pub fingerprints: Vec<(String, String)>,
    /// Seed of the run.
    pub seed: u64,
    /// The command line that made it.
    pub command: String,
    /// Optimiser steps taken.
    pub step: u64,
    /// Last training and validation losses (reconstruction, KL).
    pub losses: serde_json::Value,
}

/// Where `name` lives: `models/NAME` if it exists, else `name` as a path.
pub fn locate(name: &str) -> PathBuf {
    let under = Path::new("models").join(name);
    if under.join("config.json").exists() {
        under
    } else {
        PathBuf::from(name)
    }
}

/// Reads and checks config.json of the checkpoint at `dir`.
pub fn load_config(dir: &Path) -> Result<CheckpointConfig> {
    let p = dir.join("config.json");
    let text = std::fs::read_to_string(&p).map_err(|e| Error::bad_path(&p, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::bad_path(&p, e))?;
    let kind = v["kind"].as_str().unwrap_or("");
    if kind != "vae" {
        return Err(Error::bad_path(
            &p,
            format!("model kind `{kind}` is not one this build samples (vae)"),
        ));
    }
    let ver = v["format_version"].as_u64().unwrap_or(0);
    if ver > u64::from(FORMAT_VERSION) {
        return Err(Error::bad_path(&p, format!("format version {ver} is newer than this biowave reads ({FORMAT_VERSION}); upgrade biowave")));
    }
    serde_json::from_value(v).map_err(|e| Error::bad_path(&p, format!("config field: {e}")))
}

/// Writes config.json (atomically: temp file, then rename).
pub fn save_config(dir: &Path, cfg: &CheckpointConfig) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::bad_path(dir, e))?;
    let tmp = dir.join("config.json.tmp");
    let text = serde_json::to_string_pretty(cfg).map_err(|e| Error::BadInput(e.to_string()))?;
    std::fs::write(&tmp, text).map_err(|e| Error::os(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, dir.join("config.json"))
        .map_err(|e| Error::os(format!("writing {}", dir.display()), e))
}

/// sha256 of a file, hex.
pub fn fingerprint(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).map_err(|e| Error::bad_path(path, e))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
