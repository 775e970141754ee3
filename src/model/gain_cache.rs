//! Per-process memo of checkpoints' calibrations: a VAE's gains, an equaliser's kernels.
//! Calibration streams minutes of output through the model (half a second for a VAE, 10 s
//! for `ecg-transformer`) and depends on the checkpoint alone (its draws have a fixed
//! seed), while bulk generation loads the same checkpoint once per record: the second and
//! later loads reuse it, and later processes read it from disk (`calibration_store`).

use super::checkpoint::CheckpointConfig;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

/// Seed of every calibration's draws: what is calibrated belongs to the model, not to a
/// stream's seed.
pub const CALIBRATION_SEED: u64 = 0x9e37_79b9;
/// Checkpoints remembered at most; past it the memo starts afresh (memory stays flat in a
/// process that loads checkpoint after checkpoint).
const MAX_ENTRIES: usize = 64;

/// What a calibration depends on: the checkpoint's directory, its weights file (size and
/// modification time, so a retrained checkpoint is calibrated again), its config, and the
/// walk it is measured on (a latent transformer's, see [`GainKey::with_walk`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GainKey {
    dir: PathBuf,
    weights: Option<(u64, SystemTime)>,
    config: String,
    walk: String,
    /// Channels, complex bins per channel, quantile levels of a waveform shape (0
    /// without) and values of the beat corrections (0 without): the dimensions a
    /// calibration must have.
    dims: (usize, usize, usize, usize),
}

impl GainKey {
    /// The key of the checkpoint at `dir` loaded with `cfg`.
    pub fn new(dir: &Path, weights: &Path, cfg: &CheckpointConfig) -> Self {
        let meta = std::fs::metadata(weights).ok();
        Self {
            dir: dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()),
            weights: meta.and_then(|m| Some((m.len(), m.modified().ok()?))),
            config: serde_json::to_string(cfg).unwrap_or_default(),
            walk: String::new(),
            dims: (
                cfg.spec.n_channels(),
                cfg.data.spectral.n_bins(),
                cfg.shape.as_ref().map_or(0, |s| s.p.len()),
                cfg.beat_means.as_ref().map_or(0, |b| b.means.len()),
            ),
        }
    }

    /// Channels, complex bins per channel, waveform-shape levels and beat-correction
    /// values of the checkpoint.
    pub fn dims(&self) -> (usize, usize, usize, usize) {
        self.dims
    }

    /// The key with the identity of the walk the calibration ran on (empty: the
    /// checkpoint's own walk).
    pub fn with_walk(mut self, walk: &str) -> Self {
        self.walk = walk.to_owned();
        self
    }
}

/// What a generator's load calibrates: a VAE's per-bin gains and, with a spectrum target,
/// the equaliser's kernels (one per channel; empty without); a frame transformer's kernels
/// and, with an envelope, its own windows' loudness spread.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    /// Amplitude gain per complex bin.
    pub gain: Vec<f32>,
    /// FIR kernel per channel (`model::equaliser`).
    pub eq: Vec<Vec<f32>>,
    /// The sd of the log loudness of the equalised output's windows (`model::envelope`),
    /// for checkpoints with an envelope.
    pub envelope_sd: Option<f64>,
    /// Per channel, the quantiles of the output's values around their local level and
    /// loudness (`model::shape`), for checkpoints with a shape; empty without.
    #[serde(default)]
    pub shape: Vec<Vec<f32>>,
    /// Each kind of beat's correction per channel (`model::beat_mean`), for checkpoints
    /// with `beat_means`; empty without.
    #[serde(default)]
    pub beat_means: Vec<f32>,
}

fn memo() -> &'static Mutex<HashMap<GainKey, Calibration>> {
    static MEMO: OnceLock<Mutex<HashMap<GainKey, Calibration>>> = OnceLock::new();
    MEMO.get_or_init(Default::default)
}

/// The calibration measured earlier for `key`, in this process or kept on disk by another.
pub fn get(key: &GainKey) -> Option<Calibration> {
    if let Some(c) = memo().lock().ok()?.get(key).cloned() {
        return Some(c);
    }
    let kept = super::calibration_store::load(key)?;
    remember(key.clone(), kept.clone());
    Some(kept)
}

/// Remembers the calibration measured for `key`, here and on disk.
pub fn put(key: GainKey, calibration: Calibration) {
    super::calibration_store::save(&key, &calibration);
    remember(key, calibration);
}

fn remember(key: GainKey, calibration: Calibration) {
    if let Ok(mut m) = memo().lock() {
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(key, calibration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::vae_gen;

    fn shipped() -> (PathBuf, CheckpointConfig) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ecg-vae");
        let cfg = crate::model::checkpoint::load_config(&dir).unwrap();
        (dir, cfg)
    }

    #[test]
    fn gains_are_found_by_checkpoint_and_a_changed_config_misses() {
        // A directory no checkpoint lives in, so other tests' loads never see these gains.
        let (_, mut cfg) = shipped();
        let dir = std::env::temp_dir().join("biowave-gain-cache-test-no-such-checkpoint");
        let key = GainKey::new(&dir, &dir.join("model.safetensors"), &cfg);
        let c = Calibration {
            gain: vec![1.5, 2.5],
            eq: vec![vec![1.0]],
            envelope_sd: None,
            shape: Vec::new(),
            beat_means: Vec::new(),
        };
        put(key.clone(), c.clone());
        assert_eq!(get(&key), Some(c));
        cfg.decoder_noise = None;
        assert_eq!(
            get(&GainKey::new(&dir, &dir.join("model.safetensors"), &cfg)),
            None
        );
    }

    #[test]
    fn a_loaded_checkpoint_leaves_its_gains_and_a_second_load_streams_the_same() {
        use crate::block::Block;
        use crate::model::Generator;
        let (dir, cfg) = shipped();
        let key = GainKey::new(&dir, &dir.join("model.safetensors"), &cfg);
        let mut blocks = Vec::new();
        for _ in 0..2 {
            let mut g = vae_gen::load(&dir, cfg.clone(), 7).unwrap();
            let c = get(&key).unwrap();
            assert!(c.gain.iter().all(|x| x.is_finite() && *x > 0.0));
            assert_eq!(c.eq.len(), usize::from(cfg.spectrum.is_some()));
            let mut b = Block::new(1, 720);
            g.fill(&mut b).unwrap();
            blocks.push(b.channel(0).to_vec());
        }
        assert_eq!(blocks[0], blocks[1]);
    }
}
