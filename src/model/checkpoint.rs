//! Checkpoints: `DIR/config.json` (everything needed to rebuild and sample the model) and
//! `DIR/model.safetensors` (the weights). `--model NAME` looks in `./models`, then in
//! `$BIOWAVE_MODELS`.

use crate::data::{DataConfig, NormStats};
use crate::record::SignalSpec;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Format of config.json this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// config.json of a learned model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CheckpointConfig {
    /// Model kind: `vae` or `transformer`.
    pub kind: String,
    /// config.json format version.
    pub format_version: u32,
    /// biowave version that wrote it.
    pub crate_version: String,
    /// VAE hyperparameters (kind `vae`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vae: Option<super::vae::VaeConfig>,
    /// Transformer hyperparameters (kind `transformer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformer: Option<super::transformer::TransformerConfig>,
    /// Sampling temperature the generator uses unless told otherwise (transformer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
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
    /// VAE: where the training windows' latents lie, drawn from instead of N(0, I);
    /// absent in checkpoints written before it (they sample the standard normal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latent_prior: Option<super::latent_prior::LatentPrior>,
    /// Beat VAE: beat types and their order (`model::latent_states`), walked through instead
    /// of one slow AR(1) walk; absent in checkpoints written before it or with `--states 0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latent_states: Option<super::latent_states::LatentStates>,
    /// VAE: the decoder's residual std per feature on the training windows (normalised),
    /// added back as noise by the generator; absent in checkpoints written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder_noise: Option<Vec<f32>>,
    /// VAE with several channels: per bin, how the channels of the decoder's residual
    /// correlate (`model::coupling`), imposed on its noise; absent in
    /// checkpoints written before it (their noise is independent per channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder_noise_coupling: Option<Vec<f32>>,
    /// Frame transformer with several channels: per bin, how the channels of its
    /// standardised prediction errors correlate under teacher forcing on the training data
    /// (`model::coupling`), imposed on its draws; absent in checkpoints written before it
    /// (their draws are independent per channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw_coupling: Option<Vec<f32>>,
    /// VAE: the training signals' mean log PSD per channel, which the generator equalises
    /// its output to (`model::equaliser`); absent in checkpoints written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectrum: Option<super::equaliser::SpectrumTarget>,
    /// Frame transformer trained with `--envelope`: how much the training windows'
    /// loudness varies (`model::envelope`), which the sampler adds where its own output
    /// varies less; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<super::envelope::EnvelopeTarget>,
    /// Frame transformer trained with `--wander`: the training signals' baseline below
    /// 1 Hz, noise level and noise spectrum (`model::wander`), which the sampler replays
    /// in place of its own slow content; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wander: Option<super::wander::WanderTarget>,
    /// Frame transformer or VAE trained with `--shape`: the training records' waveform
    /// shape within its local loudness (`model::shape`), which the sampler gives its
    /// output; absent in checkpoints written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<super::shape::ShapeTarget>,
    /// Beat-aligned VAE trained with `--beat-means K`: the training beats' mean per kind
    /// (`model::beat_mean`), which the generator gives each kind of its own beats; absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beat_means: Option<super::beat_mean::BeatMeanTarget>,
    /// Transformer over a VAE's beat latents (`model::latent_walk`): the subdirectory
    /// holding that VAE, always `codec`; absent for transformers over spectral frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
}

/// The environment variable naming one more directory of checkpoints, looked in after
/// `./models`: lets an installed binary find the shipped models from any directory.
pub const MODELS_ENV: &str = "BIOWAVE_MODELS";

/// The directories `--model NAME` looks in, in order: `./models`, then `$BIOWAVE_MODELS`.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("models")];
    dirs.extend(
        std::env::var_os(MODELS_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
    );
    dirs
}

/// Where `name` lives: `DIR/NAME` for the first of [`model_dirs`] that holds its
/// config.json, else `name` as a path.
pub fn locate(name: &str) -> PathBuf {
    model_dirs()
        .into_iter()
        .map(|d| d.join(name))
        .find(|d| d.join("config.json").exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Where the checkpoint `name` lives ([`locate`]); refused, naming the places looked in and
/// the shipped checkpoints, when none holds a config.json.
pub fn find(name: &str) -> Result<PathBuf> {
    let dir = locate(name);
    if dir.join("config.json").exists() {
        return Ok(dir);
    }
    let looked: Vec<String> = model_dirs()
        .iter()
        .map(|d| format!("{}/{name}/config.json", d.display()))
        .collect();
    Err(Error::BadInput(format!(
        "`{name}` is no checkpoint: neither {} nor {name}/config.json exists (shipped: {})",
        looked.join(", "),
        shipped()
    )))
}

/// The checkpoints in [`model_dirs`], sorted and comma-separated (for error messages), or
/// "none under ./models" (naming `$BIOWAVE_MODELS`) when run where there are none.
pub fn shipped() -> String {
    let mut names: Vec<String> = model_dirs()
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .filter(|e| e.path().join("config.json").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names.dedup();
    match names.is_empty() {
        true => format!("none under ./models or ${MODELS_ENV}"),
        false => names.join(", "),
    }
}

/// Model kinds this build samples.
pub const KINDS: [&str; 2] = ["vae", "transformer"];

/// Most parameters a checkpoint may declare (400 MB of f32): a bound on what an untrusted
/// config.json can make us allocate before the weights file is even looked at.
const MAX_PARAMS: u64 = 100_000_000;

/// Reads and checks config.json of the checkpoint at `dir`.
pub fn load_config(dir: &Path) -> Result<CheckpointConfig> {
    let p = dir.join("config.json");
    let text = std::fs::read_to_string(&p).map_err(|e| Error::bad_path(&p, e))?;
    parse_config(&p, &text)
}

/// Parses and validates config.json text (`path` names it in errors): kind, format version,
/// every field, and sizes consistent with each other and bounded.
pub fn parse_config(p: &Path, text: &str) -> Result<CheckpointConfig> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::bad_path(p, e))?;
    let kind = v["kind"].as_str().unwrap_or("");
    if !KINDS.contains(&kind) {
        return Err(Error::bad_path(
            p,
            format!("model kind `{kind}` is not one this build samples (vae, transformer)"),
        ));
    }
    let ver = v["format_version"].as_u64().unwrap_or(0);
    if ver > u64::from(FORMAT_VERSION) {
        return Err(Error::bad_path(p, format!("format version {ver} is newer than this biowave reads ({FORMAT_VERSION}); upgrade biowave")));
    }
    let cfg: CheckpointConfig =
        serde_json::from_value(v).map_err(|e| Error::bad_path(p, format!("config field: {e}")))?;
    cfg.validate().map_err(|e| Error::bad_path(p, e))?;
    Ok(cfg)
}

/// Weights and bias of a linear layer `i → o`, saturating (sizes may come from an
/// untrusted file).
pub fn linear_params(i: u64, o: u64) -> u64 {
    i.saturating_add(1).saturating_mul(o)
}

/// Saturating sum of parameter counts.
pub fn sum_params(counts: &[u64]) -> u64 {
    counts.iter().fold(0u64, |a, b| a.saturating_add(*b))
}

impl CheckpointConfig {
    /// Values per spectral frame the spec and STFT settings imply.
    pub fn frame_features(&self) -> usize {
        (self.spec.n_channels())
            .saturating_mul(self.data.spectral.n_fft / 2 + 1)
            .saturating_mul(2)
    }

    /// Parameters the model's config declares (weights and biases), saturating: the
    /// sizes come from an untrusted file.
    pub fn n_params(&self) -> u64 {
        let (m, lin, sum) = (u64::saturating_mul, linear_params, sum_params);
        if let Some(c) = &self.vae {
            c.n_params()
        } else if let Some(c) = &self.transformer {
            let (d, ff, f) = (c.d_model as u64, c.d_ff as u64, c.n_features as u64);
            let block = sum(&[lin(d, m(3, d)), lin(d, d), lin(d, ff), lin(ff, d), m(4, d)]);
            sum(&[m(block, c.n_layers as u64), lin(f, d), lin(d, m(2, f)), d])
        } else {
            0
        }
    }

    /// Checks the fields agree with each other and stay within sane bounds.
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.check_signal()?;
        let f = self.frame_features();
        self.check_norm(f)?;
        let n_features = self.model_features()?;
        self.check_codec()?;
        // A latent transformer's tokens are its codec's latents (checked against the codec
        // when it is loaded), not frames.
        if n_features != f && self.codec.is_none() {
            return Err(format!(
                "{}.n_features {n_features} ≠ {f} (channels × (n_fft/2+1) × 2)",
                self.kind
            ));
        }
        if self.n_params() > MAX_PARAMS {
            return Err(format!(
                "{} parameters declared, more than {MAX_PARAMS}",
                self.n_params()
            ));
        }
        self.check_sampling(f)
    }

    /// Sample rate, channel count and STFT settings within bounds.
    fn check_signal(&self) -> std::result::Result<(), String> {
        let rate = self.spec.sample_rate;
        if !(rate.is_finite() && rate > 0.0 && rate <= 1e6) {
            return Err(format!(
                "spec.sample_rate {rate} is not a rate in (0, 1e6] Hz"
            ));
        }
        if !(1..=1024).contains(&self.spec.n_channels()) {
            return Err(format!(
                "spec.channels: {} channels (1..=1024)",
                self.spec.n_channels()
            ));
        }
        let sp = &self.data.spectral;
        if !(4..=65536).contains(&sp.n_fft) || sp.hop == 0 || sp.hop > sp.n_fft {
            return Err(format!(
                "data.spectral: n_fft {} / hop {} out of range",
                sp.n_fft, sp.hop
            ));
        }
        Ok(())
    }

    /// One finite mean and std per feature of a frame (`f` of them).
    fn check_norm(&self, f: usize) -> std::result::Result<(), String> {
        if self.norm.mean.len() != f || self.norm.std.len() != f {
            return Err(format!(
                "norm: {} means and {} stds for {f} features per frame",
                self.norm.mean.len(),
                self.norm.std.len()
            ));
        }
        if self
            .norm
            .std
            .iter()
            .chain(&self.norm.mean)
            .any(|v| !v.is_finite())
        {
            return Err("norm: non-finite statistics".into());
        }
        Ok(())
    }

    /// The section `kind` names is there and sane; its features per token.
    fn model_features(&self) -> std::result::Result<usize, String> {
        match (self.kind.as_str(), &self.vae, &self.transformer) {
            ("vae", Some(c), _)
                if (1..=4096).contains(&c.window_frames) && c.hidden > 0 && c.latent > 0 =>
            {
                Ok(c.n_features)
            }
            ("vae", Some(_), _) => Err(
                "vae: window_frames, hidden and latent must be positive (window_frames ≤ 4096)"
                    .into(),
            ),
            ("transformer", _, Some(c)) => {
                c.check().map_err(|e| format!("transformer: {e}"))?;
                if c.context > 16384 {
                    return Err(format!("transformer.context {} > 16384", c.context));
                }
                if self.data.clock == c.rhythm.is_empty() {
                    return Err(
                        "data.clock and transformer.rhythm disagree: a beat clock needs both"
                            .into(),
                    );
                }
                if self.data.clock_kinds.max(1) != c.kinds.max(1) {
                    return Err(format!(
                        "data.clock_kinds {} and transformer.kinds {} disagree",
                        self.data.clock_kinds, c.kinds
                    ));
                }
                Ok(c.n_features)
            }
            (k, _, _) => Err(format!("kind `{k}` but no `{k}` section")),
        }
    }

    /// Only a transformer has a codec, in its `codec/` directory.
    fn check_codec(&self) -> std::result::Result<(), String> {
        match (&self.codec, self.kind.as_str()) {
            (Some(c), "transformer") if c == super::latent_walk::CODEC_DIR => Ok(()),
            (Some(c), _) => Err(format!(
                "codec `{c}`: only a transformer has one, in `{}`",
                super::latent_walk::CODEC_DIR
            )),
            (None, _) => Ok(()),
        }
    }

    /// What the samplers read besides the weights (latent prior and states, decoder noise,
    /// couplings, spectrum, temperature) fits the model and the `f` features per frame.
    fn check_sampling(&self, f: usize) -> std::result::Result<(), String> {
        if let (Some(p), Some(c)) = (&self.latent_prior, &self.vae) {
            p.check(c.latent)?;
        }
        if let Some(s) = &self.latent_states {
            match (&self.vae, &self.latent_prior) {
                (Some(c), Some(_)) => s.check(c.latent)?,
                _ => return Err("latent_states without a VAE and its latent_prior".into()),
            }
        }
        if let Some(r) = &self.decoder_noise {
            super::decoder_noise::check(r, f)?;
        }
        let (nb, nc) = (self.data.spectral.n_bins(), self.spec.n_channels());
        if let Some(c) = &self.decoder_noise_coupling {
            super::coupling::check(c, nb, nc, "decoder_noise_coupling")?;
        }
        if let Some(c) = &self.draw_coupling {
            if self.transformer.is_none() || self.codec.is_some() {
                return Err("draw_coupling without a transformer over frames".into());
            }
            super::coupling::check(c, nb, nc, "draw_coupling")?;
        }
        if let Some(t) = &self.spectrum {
            t.check(nc)?;
        }
        if let Some(t) = &self.envelope {
            if self.transformer.is_none() || self.codec.is_some() {
                return Err("envelope without a transformer over frames".into());
            }
            t.check()?;
        }
        if let Some(t) = &self.wander {
            if self.transformer.is_none() || self.codec.is_some() {
                return Err("wander without a transformer over frames".into());
            }
            t.check(nc)?;
        }
        if let Some(t) = &self.shape {
            if self.codec.is_some() {
                return Err("shape in a latent transformer (its codec's output is shaped)".into());
            }
            t.check(nc)?;
        }
        if let Some(t) = &self.beat_means {
            if self.vae.is_none() || self.data.beats.is_none() {
                return Err("beat_means without a beat-aligned VAE".into());
            }
            t.check(nc, self.spec.sample_rate)?;
        }
        if let Some(t) = self
            .temperature
            .filter(|&t| !super::transformer_gen::is_temperature(t))
        {
            let max = super::transformer_gen::MAX_TEMPERATURE;
            return Err(format!("temperature {t} not in [0, {max}]"));
        }
        Ok(())
    }
}

/// Refuses a weights file too small for the parameters the config declares, before any
/// model is built from the config (so a hostile config cannot make us allocate).
pub fn check_weights(dir: &Path, cfg: &CheckpointConfig) -> Result<()> {
    let file = dir.join("model.safetensors");
    let len = std::fs::metadata(&file)
        .map_err(|e| Error::bad_path(&file, e))?
        .len();
    if len < cfg.n_params().saturating_mul(4) {
        return Err(Error::bad_path(
            &file,
            format!(
                "{len} bytes cannot hold the {} parameters config.json declares",
                cfg.n_params()
            ),
        ));
    }
    Ok(())
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
    let bytes = std::fs::read(path).map_err(|e| Error::bad_path(path, e))?;
    Ok(sha256_hex(&bytes))
}

/// sha256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
