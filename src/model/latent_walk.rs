//! A transformer over a beat-aligned VAE's latents: tokens are whole beat windows of
//! multichannel spectral frames, each compressed by the VAE's encoder (its "codec") to one
//! latent vector; the transformer learns how one beat follows another, and the VAE's
//! decoder, gains, noise and beat splicer turn its draws back into samples.
//!
//! Per STFT frame, a transformer's Gaussian draws blur the phase coherence a QRS complex
//! is made of (MIT-BIH 208 held out: 150 bpm detected, template r 0.35, AUC 1.0): where the
//! next beat falls inside a 0.7 s frame is not predictable, so the predicted mean frame
//! carries almost no beat. One token per beat, aligned on its R peak, removes that
//! uncertainty; what is left to predict is the beat's shape and the next RR interval.
//!
//! Tokens are the latents in the codec prior's standard-normal coordinates
//! (`LatentPrior::standardise`), so the transformer sees unit-scale values.

use super::checkpoint::{self, CheckpointConfig};
use super::train::to_err;
use super::transformer_gen::Autoregressor;
use super::vae::Vae;
use super::vae_gen::{self, VaeGenerator, Walk};
use crate::data::{beat_windows, prepare_signals, BeatAlign, Source};
use crate::dsp::Representation;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use std::path::Path;

/// Where a latent transformer keeps its codec: a VAE checkpoint in this subdirectory.
pub const CODEC_DIR: &str = "codec";

/// Windows encoded per forward pass when tokenising.
const ENCODE_BATCH: usize = 64;

/// Loads and checks the codec of a latent transformer at `dir` (see [`check_codec`]).
pub fn load_codec(dir: &Path, tokens: usize) -> Result<CheckpointConfig> {
    let cdir = dir.join(CODEC_DIR);
    let cfg = checkpoint::load_config(&cdir)?;
    checkpoint::check_weights(&cdir, &cfg)?;
    check_codec(&cdir.join("config.json"), &cfg, tokens)?;
    Ok(cfg)
}

/// A codec must be a beat-aligned VAE with a latent prior whose latent size is the
/// transformer's token size; errors name its config file `p`.
pub fn check_codec(p: &Path, cfg: &CheckpointConfig, tokens: usize) -> Result<()> {
    let vae = cfg
        .vae
        .as_ref()
        .ok_or_else(|| Error::bad_path(p, "codec: not a VAE checkpoint (no `vae` section)"))?;
    if cfg.data.beats.is_none() || cfg.latent_prior.is_none() {
        return Err(Error::bad_path(
            p,
            "codec: needs a beat-aligned VAE (`data.beats`) with a `latent_prior` \
             (train it with --beats)",
        ));
    }
    if vae.latent != tokens {
        return Err(Error::bad_path(
            p,
            format!(
                "codec: vae.latent {} ≠ the transformer's n_features {tokens}",
                vae.latent
            ),
        ));
    }
    Ok(())
}

/// The training token sequences of one record: its beat windows cut as the codec's were,
/// encoded (posterior means), standardised through the codec's prior, in time order; one
/// sequence per jitter offset (−j, 0, +j: each a consistent view of the same beats).
/// Returned as representations with one token per frame.
pub fn token_sequences(
    vae: &Vae,
    codec: &CheckpointConfig,
    src: &Source,
    dev: &Device,
) -> Result<Vec<Representation>> {
    let (Some(align), Some(prior)) = (codec.data.beats, codec.latent_prior.as_ref()) else {
        return Err(Error::BadInput(
            "codec: needs a beat-aligned VAE with a latent prior (see check_codec)".into(),
        ));
    };
    let (signals, fs) = prepare_signals(src, &codec.data)?;
    let jitter = (align.jitter_s * fs).round() as i64;
    let offsets: Vec<i64> = if jitter > 0 {
        vec![-jitter, 0, jitter]
    } else {
        vec![0]
    };
    let frames = vae.config().window_frames;
    let mut out = Vec::with_capacity(offsets.len());
    for j in offsets {
        let one = BeatAlign {
            pre_s: align.pre_s - j as f64 / fs,
            jitter_s: 0.0,
        };
        let windows = beat_windows(&src.name, &signals, fs, &codec.data.spectral, frames, &one)?;
        let mut tokens = Vec::with_capacity(windows.len() * prior.mean.len());
        for chunk in windows.chunks(ENCODE_BATCH) {
            let mut x: Vec<f32> = chunk.iter().flat_map(|w| w.data.iter().copied()).collect();
            codec.norm.apply(&mut x);
            let n = chunk.len();
            let x = Tensor::from_vec(x, (n, vae.config().input_dim()), dev).map_err(to_err)?;
            let (mu, _) = vae.encode(&x).map_err(to_err)?;
            let mu: Vec<f32> = mu.flatten_all().and_then(|m| m.to_vec1()).map_err(to_err)?;
            for z in mu.chunks_exact(prior.mean.len()) {
                tokens.extend(prior.standardise(z));
            }
        }
        let first = &windows[0];
        out.push(Representation {
            config: first.config,
            sample_rate: fs,
            n_channels: first.n_channels,
            n_frames: windows.len(),
            n_samples: 0,
            data: tokens,
        });
    }
    Ok(out)
}

/// Loads a latent transformer checkpoint (`dir`, its config read and checked) as a
/// generator: its codec VAE's generator with the transformer drawing each beat's latent
/// (standard-normal coordinates of the codec's prior) in place of the AR(1) walk.
pub fn load(
    dir: &Path,
    cfg: CheckpointConfig,
    seed: u64,
    temperature: Option<f32>,
) -> Result<VaeGenerator> {
    let tokens = cfg.transformer.as_ref().map_or(0, |t| t.n_features);
    let codec = load_codec(dir, tokens)?;
    let walk = Autoregressor::load(dir, &cfg, seed, temperature)?;
    vae_gen::load_with(
        &dir.join(CODEC_DIR),
        codec,
        seed,
        Walk::Transformer(Box::new(walk)),
    )
}
