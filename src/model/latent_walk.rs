//! A transformer over a VAE's latents: tokens are whole windows of multichannel spectral
//! frames (for a beat-aligned VAE, one per beat), each compressed by the VAE's encoder (its
//! "codec") to one latent vector; the transformer learns how one window follows another,
//! and the VAE's decoder, gains, noise and joiner turn its draws back into samples.
//!
//! Per STFT frame, a transformer's Gaussian draws blur the phase coherence a QRS complex
//! is made of (MIT-BIH 208 held out: 150 bpm detected, template r 0.35, AUC 1.0): where the
//! next beat falls inside a 0.7 s frame is not predictable, so the predicted mean frame
//! carries almost no beat. One token per beat, aligned on its R peak, removes that
//! uncertainty; what is left to predict is the beat's shape and the next RR interval.
//!
//! Tokens are the latents in the codec prior's standard-normal coordinates
//! (`LatentPrior::standardise`), so the transformer sees unit-scale values.

use super::beat_mean::BeatMeanTarget;
use super::checkpoint::{self, CheckpointConfig};
use super::train::to_err;
use super::transformer_gen::Autoregressor;
use super::vae::Vae;
use super::vae_gen::{self, VaeGenerator, Walk};
use crate::data::{interior_spectra, prepare_signals, BeatAlign, BeatCut, Source};
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

/// A codec must be a VAE with a latent prior whose latent size is the transformer's token
/// size; errors name its config file `p`.
pub fn check_codec(p: &Path, cfg: &CheckpointConfig, tokens: usize) -> Result<()> {
    let vae = cfg
        .vae
        .as_ref()
        .ok_or_else(|| Error::bad_path(p, "codec: not a VAE checkpoint (no `vae` section)"))?;
    if cfg.latent_prior.is_none() {
        return Err(Error::bad_path(
            p,
            "codec: needs a VAE with a `latent_prior` (one trained by this version's `train`)",
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

/// The training token sequences of one record, in time order, as representations with one
/// token per frame: its windows cut as the codec's generator plays them, encoded (posterior
/// means) and standardised through the codec's prior. Beat-aligned codecs: one window per
/// beat, one sequence per jitter offset (−j, 0, +j). Others: windows [`token_stride`] frames
/// apart, one sequence per starting frame within a stride (each a consistent view), sliced
/// from the record's spectra as they are encoded (no copy of every window is held).
pub fn token_sequences(
    vae: &Vae,
    codec: &CheckpointConfig,
    src: &Source,
    dev: &Device,
) -> Result<Vec<Representation>> {
    let prior = codec.latent_prior.as_ref().ok_or_else(|| {
        Error::BadInput("codec: needs a VAE with a latent prior (see check_codec)".into())
    })?;
    let (signals, fs) = prepare_signals(src, &codec.data)?;
    let frames = vae.config().window_frames;
    let enc = Encoder {
        vae,
        codec,
        prior,
        dev,
    };
    let mut out = Vec::new();
    match codec.data.beats {
        Some(align) => {
            for windows in beat_views(record_cut(src, &signals, fs, codec, frames, &align))? {
                let Some(first) = windows.first() else {
                    continue;
                };
                let (config, nc) = (first.config, first.n_channels);
                let tokens = enc.encode(&mut windows.iter().map(|w| w.data.as_slice()))?;
                out.push(token_rep(config, nc, fs, tokens));
            }
        }
        None => {
            let rep = record_spectra(src, &signals, fs, codec, frames)?;
            let (stride, f) = (token_stride(codec, frames), rep.n_features());
            let last = rep.n_frames - frames;
            for o in 0..stride.min(last + 1) {
                let mut windows = (o..=last)
                    .step_by(stride)
                    .map(|t| &rep.data[t * f..(t + frames) * f]);
                let tokens = enc.encode(&mut windows)?;
                out.push(token_rep(rep.config, rep.n_channels, fs, tokens));
            }
        }
    }
    Ok(out)
}

/// A codec's encoder and latent prior: windows of frames in, standardised posterior means
/// out.
struct Encoder<'a> {
    vae: &'a Vae,
    codec: &'a CheckpointConfig,
    prior: &'a super::latent_prior::LatentPrior,
    dev: &'a Device,
}

impl Encoder<'_> {
    /// Encodes `windows` (un-normalised frames) [`ENCODE_BATCH`] at a time; returns the
    /// tokens, flat, and how many there are.
    fn encode(&self, windows: &mut dyn Iterator<Item = &[f32]>) -> Result<(Vec<f32>, usize)> {
        let (mut tokens, mut n) = (Vec::new(), 0);
        loop {
            let mut x: Vec<f32> = Vec::new();
            let batch = windows.take(ENCODE_BATCH).fold(0, |k, w| {
                x.extend_from_slice(w);
                k + 1
            });
            if batch == 0 {
                return Ok((tokens, n));
            }
            self.codec.norm.apply(&mut x);
            let shape = (batch, self.vae.config().input_dim());
            let x = Tensor::from_vec(x, shape, self.dev).map_err(to_err)?;
            let (mu, _) = self.vae.encode(&x).map_err(to_err)?;
            let mu: Vec<f32> = mu.flatten_all().and_then(|m| m.to_vec1()).map_err(to_err)?;
            for z in mu.chunks_exact(self.prior.mean.len()) {
                tokens.extend(self.prior.standardise(z));
            }
            n += batch;
        }
    }
}

/// A token sequence as a representation with one token per frame (`n_frames` tokens of
/// `data`), for the shared training data path.
fn token_rep(
    config: crate::dsp::SpectralConfig,
    n_channels: usize,
    fs: f64,
    (data, n_frames): (Vec<f32>, usize),
) -> Representation {
    Representation {
        config,
        sample_rate: fs,
        n_channels,
        n_frames,
        n_samples: 0,
        data,
    }
}

/// How a beat-aligned codec (its spectra, `frames` per window, `align`) cuts `src`'s
/// prepared `signals`.
fn record_cut<'a>(
    src: &'a Source,
    signals: &'a [Vec<f32>],
    fs: f64,
    codec: &'a CheckpointConfig,
    frames: usize,
    align: &'a BeatAlign,
) -> BeatCut<'a> {
    BeatCut {
        name: &src.name,
        signals,
        fs,
        spectral: &codec.data.spectral,
        window_frames: frames,
        align,
    }
}

/// A beat-aligned codec's windows of one record, one list per jitter offset of `cut`.
fn beat_views(cut: BeatCut) -> Result<Vec<Vec<Representation>>> {
    (view_aligns(cut.align, cut.fs).iter())
        .map(|one| BeatCut { align: one, ..cut }.windows())
        .collect()
}

/// The kind (`target`'s, by the QRS shape at its R peak on the record's prepared first
/// channel) of the beat each token of [`token_sequences`] stands for, one list per
/// sequence; empty for a codec that is not beat-aligned. What `train` groups a beat VAE's
/// states by (`model::latent_states`).
pub fn token_kinds(
    vae: &Vae,
    codec: &CheckpointConfig,
    src: &Source,
    target: &BeatMeanTarget,
) -> Result<Vec<Vec<Option<u8>>>> {
    let Some(align) = codec.data.beats else {
        return Ok(Vec::new());
    };
    let (signals, fs) = prepare_signals(src, &codec.data)?;
    let cut = record_cut(src, &signals, fs, codec, vae.config().window_frames, &align);
    (view_aligns(&align, fs).iter())
        .map(|one| {
            let peaks = BeatCut { align: one, ..cut }.peaks()?;
            Ok(target.kinds_at(&signals[0], &peaks, fs))
        })
        .collect()
}

/// One alignment per jitter offset (−j, 0, +j samples; just 0 without jitter), each
/// without jitter of its own: the consistent views of a record's beats.
fn view_aligns(align: &BeatAlign, fs: f64) -> Vec<BeatAlign> {
    let jitter = (align.jitter_s * fs).round() as i64;
    let offsets: Vec<i64> = if jitter > 0 {
        vec![-jitter, 0, jitter]
    } else {
        vec![0]
    };
    (offsets.into_iter())
        .map(|j| BeatAlign {
            pre_s: align.pre_s - j as f64 / fs,
            jitter_s: 0.0,
        })
        .collect()
}

/// Frames between the windows of one token sequence of a codec that is not beat-aligned:
/// about what its generator's WSOLA joiner advances per window (half of a decoded window's
/// trimmed segment), so a token step is a step of the stream.
pub fn token_stride(codec: &CheckpointConfig, window_frames: usize) -> usize {
    let sp = codec.data.spectral;
    let segment = (window_frames.saturating_sub(1) * sp.hop).saturating_sub(sp.n_fft);
    ((segment as f64 / 2.0 / sp.hop as f64).round() as usize).max(1)
}

/// One record's spectra for a codec that is not beat-aligned: the STFT frames wholly inside
/// the signal, as its training kept them; at least one window of `frames`.
fn record_spectra(
    src: &Source,
    signals: &[Vec<f32>],
    fs: f64,
    codec: &CheckpointConfig,
    frames: usize,
) -> Result<Representation> {
    let rep = interior_spectra(&src.name, signals, fs, &codec.data.spectral)?;
    if rep.n_frames < frames {
        return Err(Error::BadInput(format!(
            "{}: {} STFT frames, fewer than the codec's window of {frames}",
            src.name, rep.n_frames
        )));
    }
    Ok(rep)
}

/// Loads a latent transformer checkpoint (`dir`, its config read and checked) as a
/// generator: its codec VAE's generator with the transformer drawing each window's latent
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
