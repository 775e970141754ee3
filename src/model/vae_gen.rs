//! Sampling a trained VAE forever: latents follow a slow AR(1) walk (for beat-aligned
//! models, through the record's beat types in its order, `model::latent_states`), each
//! window is decoded, inverted to samples on its own, and joined to what came before by
//! waveform-similarity overlap-add (`dsp::splice`) or one beat cycle at a time
//! (`dsp::beat_splice`). No seams, no repeats.
//!
//! Latents are drawn where the training windows' latents lie (`model::latent_prior`, saved
//! by `train`; N(0, I) for checkpoints without it): the walk runs in standard-normal
//! coordinates and is mapped through the fitted mean and Cholesky factor.
//!
//! Decoded from the prior, a VAE over complex STFT bins is over-smoothed: its re/im
//! outputs regress towards their means and phases average out, so the output is too weak.
//! As statistical speech synthesis does (global variance compensation), each bin is scaled
//! by a gain fixed at load time: the training data's variance in that bin (from the saved
//! normalisation statistics) over the mean power of a calibration batch of decoded prior
//! samples (each bin's deviation from the training mean is scaled, so the gains restore
//! variance, not the offset). Checkpoints that saved their decoder's residual
//! (`model::decoder_noise`) get it back as stationary noise, and the decoded mean is
//! calibrated to the training variance less the noise's. Checkpoints with a spectrum target
//! are then equalised to the training spectrum's shape inside each bin (`model::equaliser`),
//! and those with mean beats have each beat moved to its kind's mean (`model::beat_mean`).

use super::beat_mean::{self, BeatCorrector, BeatMeanTarget};
use super::checkpoint::CheckpointConfig;
use super::decoder_noise::{bin_power_about, NoiseStream};
use super::equaliser::{self, SpectrumTarget};
use super::gain_cache::{self, Calibration, GainKey, CALIBRATION_SEED};
use super::latent_states::StateWalk;
use super::shape::{self, ShapeStream, ShapeTarget};
use super::spectral_stream::BlockOut;
use super::train::to_err;
use super::transformer_gen::Autoregressor;
use super::vae::{Vae, VaeConfig};
use super::Generator;
use crate::block::Block;
use crate::data::beat_kinds;
use crate::data::NormStats;
use crate::dsp::beat_splice::BeatSplicer;
use crate::dsp::fir::FirStream;
use crate::dsp::repr::unpack_bins;
use crate::dsp::splice::{Join, Splicer};
use crate::dsp::{Complex32, Representation, Stft};
use crate::record::SignalSpec;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::collections::VecDeque;
use std::path::Path;

/// AR(1) coefficient per beat of a beat-aligned model's walk: the drift of a beat state's
/// shape (`model::latent_states`), or the one walk of a checkpoint without states. MIT-BIH
/// 208 held out (five folds × seeds 1–4, the same checkpoints): 0.97: 0.860 (seeds 1/2),
/// 0.9: 0.781, 0.8: 0.758 (lower in 14 of 20 paired runs), 0.7: 0.771, 0.5: 0.806 (1/2).
const BEAT_RHO: f32 = 0.8;
/// AR(1) coefficient per window of the latent walk of a model without beats (~2.5 windows,
/// 1.5 s of EEG, per independent latent). The slower 0.9 let 10 minutes of output wander
/// ±0.5 dB in level from seed to seed; `eeg-vae` held out (3 folds × 2 seeds, levels set
/// from mean powers, a quarter of the residual as noise): 0.9: 0.801, 0.8: 0.720, 0.7:
/// 0.744, 0.5: 0.759. With all of it as coupled noise the decoded mean matters less and a
/// faster walk measured best (same fold checkpoints): 0.9: 0.759, 0.8: 0.752, 0.6: 0.737
/// (lower than 0.8 in all six runs), 0.4: 0.739, 0: 0.752.
const WINDOW_RHO: f32 = 0.6;
/// Prior samples decoded at load time to measure the decoder's power per bin.
const CALIBRATION_BATCH: usize = 64;
/// Windows streamed through the joiner for the second calibration pass. The walk moves
/// slowly (beat states at ρ = 0.9: ~20 windows per independent latent; 0.8 now), so 64 windows
/// measured a handful of latents and set per-bin gains off by up to 2 dB; measured,
/// five-fold held-out AUC of the ECG VAE 0.863 → 0.804 on generation seed 1 with 1024
/// (512: 0.803, 2048: 0.807).
#[cfg(not(fuzzing))]
const REFINE_WINDOWS: usize = 1024;
/// Fuzz builds only check that a scenario's checkpoints load; sanitizer-instrumented
/// decoding is ~40× slower, and a full pass would exceed libFuzzer's per-input timeout.
#[cfg(fuzzing)]
const REFINE_WINDOWS: usize = REFINE_CHUNK;
/// Windows per chunk of that pass whose emitted power is measured at once.
const REFINE_CHUNK: usize = 64;
/// Widening of the checkpoint's channel ranges (1.5 × the training peak) for EDF/BDF
/// sinks: restored power brings peaks beyond the training data's, which would be clipped.
const RANGE_HEADROOM: f64 = 3.0;
/// Samples per channel joined at a time into the beat corrector.
const BEAT_CHUNK: usize = 256;
/// Bounds on a bin's power gain (a bin the decoder leaves silent is not blown up).
const MAX_GAIN: f32 = 100.0;
/// Least share of a bin's training power left to the decoded mean when the noise carries
/// the rest (the mean is not silenced where the residual is as large as the signal).
const MIN_MEAN_SHARE: f64 = 0.05;
/// Share of a beat-aligned model's decoder residual power added back as stationary noise.
/// The residual of a beat is only partly noise: much of it is QRS detail the decoder
/// places imprecisely, which sits in the beats, not spread over time. All of it as noise
/// overshoots (MIT-BIH 208 held out: zero crossings 0.040 and line length 0.104 per sample
/// against the record's 0.032 and 0.069, AUC 0.97); a quarter measured best (AUC 0.901 →
/// 0.874 over 3 × 2 seeds), and still does with today's walk, gains and equaliser (five
/// folds × 2 seeds, the same checkpoints: 0.25: 0.785, 0.5: 0.789, 1: 0.875).
const BEAT_NOISE_SHARE: f64 = 0.25;
/// Share for a model without beats: all of it. What the decoder of an EEG window leaves
/// unexplained is the window's random detail; carried by the decoded mean instead (scaled
/// up by the gains), it made loudness swing from window to window: `eeg-vae` held out
/// (fold 2), the 2 s windows' log std spread 0.33 against the record's 0.15, the channels'
/// mean 0.32 against 0.10; all of it as noise coupled across channels: 0.13 and 0.09, AUC
/// over three folds 0.752 (0.755), channel coupling 0.42 (0.33; the record 0.44).
const WINDOW_NOISE_SHARE: f64 = 1.0;
/// Mixed into the stream's seed for its noise (the noise is not the latent walk's draws).
const NOISE_SEED: u64 = 0x006e_6f69_7365;

/// Where the next window's latent comes from (in the prior's standard-normal coordinates).
pub enum Walk {
    /// AR(1) with coefficient ρ: `z ← ρ·z + √(1−ρ²)·ε`, memoryless beyond one step.
    Ar1(f32),
    /// Drawn from a transformer over the sequence of beat latents (`model::latent_walk`).
    Transformer(Box<Autoregressor>),
    /// Beat types in the record's order, each shape drifting by AR(1) (`model::latent_states`).
    States(StateWalk),
}

impl Walk {
    /// The checkpoint's own walk, from its start: beat states where `train` fitted them,
    /// else AR(1), per beat for a beat-aligned model, per window otherwise.
    fn of(cfg: &CheckpointConfig) -> Walk {
        match &cfg.latent_states {
            Some(s) => Walk::States(StateWalk::new(s.clone(), BEAT_RHO)),
            None if cfg.data.beats.is_some() => Walk::Ar1(BEAT_RHO),
            None => Walk::Ar1(WINDOW_RHO),
        }
    }

    /// The walk the gains and equaliser are measured on, from a fixed start: the same kind
    /// as the stream's, so what is calibrated is what is emitted (a transformer restarted
    /// from its start token with the calibration seed; the checkpoint's own walk otherwise).
    /// Calibrated on the codec's state walk instead, a latent transformer's decoded output
    /// came out 1–1.5 dB louder than the held-out minutes in every band.
    fn for_calibration(&self, cfg: &CheckpointConfig) -> Result<Walk> {
        Ok(match self {
            Walk::Transformer(t) => Walk::Transformer(Box::new(t.restarted(CALIBRATION_SEED))),
            _ => Walk::of(cfg),
        })
    }

    /// Identity of the walk calibrations run on, for `gain_cache` (empty: the checkpoint's).
    fn calibration_id(&self) -> &str {
        match self {
            Walk::Transformer(t) => t.origin(),
            _ => "",
        }
    }
}

/// A checkpointed VAE as a [`Generator`]: latent walk, decoding, inversion, splicing.
pub struct VaeGenerator {
    cfg: CheckpointConfig,
    spec: SignalSpec,
    model: Vae,
    dev: Device,
    rng: ChaCha8Rng,
    walk: Walk,
    z: Vec<f32>,
    /// Amplitude gain per complex bin (channel × bin), applied after denormalising.
    gain: Vec<f32>,
    /// Variance per complex bin the decoded mean is calibrated to: the training data's, less
    /// the noise's.
    target: Vec<f64>,
    /// The decoder's residual as noise (checkpoints that saved it).
    noise: Option<NoiseStream>,
    /// Each kind of beat's correction to the record's mean beat (checkpoints with
    /// `beat_means`), after the equaliser, and its input.
    beat_fix: Option<BeatCorrector>,
    fix_chunk: Vec<f32>,
    /// The output's equaliser (checkpoints with a spectrum target), and the joined samples
    /// on their way into it.
    eq: Option<FirStream>,
    eq_in: Vec<f32>,
    /// The record's waveform shape, last (`model::shape`, checkpoints trained with one),
    /// and the samples on their way into it.
    shape: Option<ShapeStream>,
    shaped: Vec<f32>,
    /// Joined samples plus noise, channel-major, before the equaliser.
    chunk: Vec<f32>,
    stft: Stft,
    splicer: Box<dyn Join>,
    /// Samples trimmed from each end of an inverted window (half a frame: the window
    /// sum is partial there).
    margin: usize,
    bins: Vec<Complex32>,
    inverted: Vec<f32>,
    segment: Vec<f32>,
    out: BlockOut,
    /// Joiner indices of the R peaks taken from a beat joiner and not yet in a block.
    beats: VecDeque<u64>,
    /// The labels its beats may carry (`Generator::labels`), and the label of each kind of
    /// beat (`beat_means` trained on labelled records; empty otherwise).
    labels: Vec<&'static str>,
    kind_labels: Vec<&'static str>,
}

/// The labels a checkpoint's beats may carry, and each kind's (see `VaeGenerator`): none
/// without beat-aligned windows; `"Q"` for a beat the corrector gave no kind, or every beat
/// where the kinds are not labelled.
fn beat_labels(cfg: &CheckpointConfig) -> (Vec<&'static str>, Vec<&'static str>) {
    if cfg.data.beats.is_none() {
        return (Vec::new(), Vec::new());
    }
    let kinds = (cfg.beat_means.as_ref())
        .and_then(BeatMeanTarget::kind_labels)
        .unwrap_or_default();
    (beat_kinds::event_labels(&kinds), kinds)
}

/// Loads the VAE checkpoint at `dir` (its config already read and checked, see
/// `model::load_checkpoint`) on the CPU; `seed` fixes the latent walk.
pub fn load(dir: &Path, cfg: CheckpointConfig, seed: u64) -> Result<VaeGenerator> {
    let walk = Walk::of(&cfg);
    load_with(dir, cfg, seed, walk)
}

/// [`load`] with the latents drawn by `walk`.
pub fn load_with(dir: &Path, cfg: CheckpointConfig, seed: u64, walk: Walk) -> Result<VaeGenerator> {
    let p = dir.join("config.json");
    let vae = cfg
        .vae
        .clone()
        .ok_or_else(|| Error::bad_path(&p, "not a VAE checkpoint (no `vae` section)"))?;
    let dev = Device::Cpu;
    let model = super::train::load_frozen(|vb| Vae::new(&vae, vb), &dev, dir)?;
    let sp = cfg.data.spectral;
    let (splicer, seg_len, margin) = segment_joiner(&p, &cfg, &vae)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let z = (0..vae.latent)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let mut spec = cfg.spec.clone();
    for c in &mut spec.channels {
        c.range = (c.range.0 * RANGE_HEADROOM, c.range.1 * RANGE_HEADROOM);
    }
    let (noise, target) = noise_and_target(&cfg, seg_len, seed)?;
    let key =
        GainKey::new(dir, &dir.join("model.safetensors"), &cfg).with_walk(walk.calibration_id());
    let cached = gain_cache::get(&key);
    let gain = match &cached {
        Some(c) => c.gain.clone(),
        None => calibrate(&model, &cfg, &dev, &target)?,
    };
    let (labels, kind_labels) = beat_labels(&cfg);
    let mut generator = VaeGenerator {
        stft: Stft::new(&sp)?,
        bins: vec![Complex32::default(); vae.window_frames * sp.n_bins()],
        cfg,
        spec,
        model,
        dev,
        rng,
        walk,
        z,
        gain,
        target,
        noise,
        beat_fix: None,
        fix_chunk: Vec::new(),
        eq: None,
        eq_in: Vec::new(),
        shape: None,
        shaped: Vec::new(),
        chunk: Vec::new(),
        splicer,
        margin,
        inverted: Vec::new(),
        segment: Vec::new(),
        out: BlockOut::default(),
        beats: VecDeque::new(),
        labels,
        kind_labels,
    };
    generator.set_equaliser(key, cached)?;
    Ok(generator)
}

/// The joiner of decoded windows, the samples each one gives it, and the margin trimmed
/// from each end of an inverted window (half a frame); refused by name when a window is too
/// short to join.
fn segment_joiner(
    p: &Path,
    cfg: &CheckpointConfig,
    vae: &VaeConfig,
) -> Result<(Box<dyn Join>, usize, usize)> {
    let sp = cfg.data.spectral;
    let margin = sp.n_fft / 2;
    let covered = (vae.window_frames - 1) * sp.hop;
    let seg_len = covered.saturating_sub(2 * margin);
    let splicer = joiner(cfg, seg_len, margin).map_err(|e| {
        Error::bad_path(
            p,
            format!(
                "vae.window_frames: {} frames of hop {} leave {seg_len} samples per window \
                 ({e}); retrain with a longer --window-s",
                vae.window_frames, sp.hop
            ),
        )
    })?;
    Ok((splicer, seg_len, margin))
}

/// How decoded windows are joined: one beat cycle per window for beat-aligned ECG models
/// (the R peak `margin` samples earlier in the trimmed segment than in the window), else
/// waveform-similarity overlap-add.
fn joiner(cfg: &CheckpointConfig, seg_len: usize, margin: usize) -> Result<Box<dyn Join>> {
    let (nc, fs) = (cfg.spec.n_channels(), cfg.spec.sample_rate);
    Ok(match cfg.data.beats {
        Some(b) => {
            let r0 = ((b.pre_s * fs).round() as usize).saturating_sub(margin);
            Box::new(BeatSplicer::new(nc, seg_len, r0, fs)?)
        }
        None => Box::new(Splicer::new(nc, seg_len)?),
    })
}

/// How much of the decoder's residual a checkpoint gets back as noise: a beat-aligned
/// model a quarter, one without beats all of it, unless its noise would have to be
/// independent across channels (a multichannel checkpoint saved without the residual's
/// coupling: there the decoded mean keeps carrying most of it, and with it the coupling).
fn noise_share(cfg: &CheckpointConfig) -> f64 {
    let coupled = cfg.spec.n_channels() == 1 || cfg.decoder_noise_coupling.is_some();
    match cfg.data.beats {
        None if coupled => WINDOW_NOISE_SHARE,
        _ => BEAT_NOISE_SHARE,
    }
}

/// The noise stream of a checkpoint with a saved residual, scaled so that what it emits
/// has the residual's power per bin, and the power per bin left for the decoded mean.
fn noise_and_target(
    cfg: &CheckpointConfig,
    seg_len: usize,
    seed: u64,
) -> Result<(Option<NoiseStream>, Vec<f64>)> {
    let training: Vec<f64> = target_power(&cfg.norm).collect();
    let Some(residual) = &cfg.decoder_noise else {
        return Ok((None, training));
    };
    let (sp, nc, fs) = (
        cfg.data.spectral,
        cfg.spec.n_channels(),
        cfg.spec.sample_rate,
    );
    let coupling = cfg.decoder_noise_coupling.as_deref();
    let new = |seed| NoiseStream::new(residual, coupling, &cfg.norm, &sp, nc, seed);
    let share = noise_share(cfg);
    let wanted: Vec<f64> = residual_power(residual, &cfg.norm)
        .map(|w| w * share)
        .collect();
    let emitted =
        new(CALIBRATION_SEED)?.emitted_power(CALIBRATION_BATCH * seg_len.max(sp.n_fft), fs)?;
    let scale: Vec<f32> = wanted
        .iter()
        .zip(&emitted)
        .map(|(w, e)| if *e > 0.0 { (w / e).sqrt() as f32 } else { 0.0 })
        .collect();
    let mut noise = new(seed ^ NOISE_SEED)?;
    noise.scale_bins(&scale);
    let target = training
        .iter()
        .zip(&wanted)
        .map(|(t, w)| (t - w).max(MIN_MEAN_SHARE * t))
        .collect();
    Ok((Some(noise), target))
}

/// Per-bin amplitude gains: sqrt(target power / decoded prior power), see module docs.
fn calibrate(
    model: &Vae,
    cfg: &CheckpointConfig,
    dev: &Device,
    target: &[f64],
) -> Result<Vec<f32>> {
    let decoded = decoded_power(model, cfg, dev)?;
    Ok(decoded
        .iter()
        .zip(target)
        .map(|(&d, &t)| {
            let g = (t / d.max(f64::MIN_POSITIVE)).sqrt() as f32;
            if g.is_finite() {
                g.clamp(1.0 / MAX_GAIN, MAX_GAIN)
            } else {
                1.0
            }
        })
        .collect())
}

/// Mean power per complex bin about the training mean of `CALIBRATION_BATCH` decoded prior
/// windows, decoded a few at a time so memory stays that of a few windows.
fn decoded_power(model: &Vae, cfg: &CheckpointConfig, dev: &Device) -> Result<Vec<f64>> {
    const AT_ONCE: usize = 8;
    let latent = model.config().latent;
    let f = cfg.norm.n_features();
    let mut rng = ChaCha8Rng::seed_from_u64(CALIBRATION_SEED);
    let (mut power, mut frames) = (vec![0f64; f / 2], 0usize);
    for _ in 0..CALIBRATION_BATCH / AT_ONCE {
        let z: Vec<f32> = (0..AT_ONCE * latent)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let w = decode_physical(model, cfg, dev, z, AT_ONCE)?;
        for frame in w.chunks_exact(f) {
            for (i, v) in frame.iter().enumerate() {
                power[i / 2] += f64::from(v - cfg.norm.mean[i]).powi(2);
            }
            frames += 1;
        }
    }
    let n = frames.max(1) as f64;
    Ok(power.into_iter().map(|p| p / n).collect())
}

/// Decodes `batch` standard-normal draws (`z`, row-major), mapped through the checkpoint's
/// latent prior, into windows of denormalised spectral frames, flattened: the sampler's and
/// the calibration's one way from latents to features.
fn decode_physical(
    model: &Vae,
    cfg: &CheckpointConfig,
    dev: &Device,
    z: Vec<f32>,
    batch: usize,
) -> Result<Vec<f32>> {
    let latent = model.config().latent;
    let z = match &cfg.latent_prior {
        Some(p) => z.chunks_exact(latent).flat_map(|e| p.map(e)).collect(),
        None => z,
    };
    let z = Tensor::from_vec(z, (batch, latent), dev).map_err(to_err)?;
    let mut w: Vec<f32> = model
        .decode(&z)
        .and_then(|x| x.flatten_all())
        .and_then(|x| x.to_vec1())
        .map_err(to_err)?;
    cfg.norm.invert(&mut w);
    Ok(w)
}

/// Power per complex bin (re + im) of per-feature powers `feature(i)`; features fitted as
/// constant (imaginary DC/Nyquist) carry none.
fn bin_powers<'a>(
    norm: &'a NormStats,
    feature: impl Fn(usize) -> f64 + 'a,
) -> impl Iterator<Item = f64> + 'a {
    let power = move |i: usize| if norm.is_constant(i) { 0.0 } else { feature(i) };
    (0..norm.n_features() / 2).map(move |k| power(2 * k) + power(2 * k + 1))
}

/// Power per complex bin of the decoder's residual (physical units).
fn residual_power<'a>(residual: &'a [f32], norm: &'a NormStats) -> impl Iterator<Item = f64> + 'a {
    bin_powers(norm, move |i| f64::from(residual[i] * norm.std[i]).powi(2))
}

/// Variance per complex bin of the training frames: Σ over re/im of std².
fn target_power(norm: &NormStats) -> impl Iterator<Item = f64> + '_ {
    bin_powers(norm, |i| f64::from(norm.std[i]).powi(2))
}

impl VaeGenerator {
    /// Second calibration pass, on what is emitted: the joiner keeps only part of each
    /// decoded window (one beat cycle, or what WSOLA advances by), whose power per bin
    /// differs from the whole window's. Runs `REFINE_WINDOWS` windows through it and
    /// corrects each bin's gain by sqrt(training power / emitted power); then restores the
    /// stream's latent walk and a fresh joiner.
    fn refine_gains(&mut self) -> Result<()> {
        let Some(emitted) = self.calibrating(Self::emitted_power)? else {
            return Ok(());
        };
        for ((g, e), t) in self.gain.iter_mut().zip(emitted).zip(&self.target) {
            let c = (t / e).sqrt() as f32;
            if e > 0.0 && c.is_finite() {
                *g = (*g * c).clamp(1.0 / MAX_GAIN, MAX_GAIN);
            }
        }
        Ok(())
    }

    /// Runs `f` on the calibration walk from a fixed start (`Walk::for_calibration`: what it
    /// measures depends on the checkpoint and the walk's model alone, `gain_cache`), then
    /// restores the stream's walk and latent and gives it a fresh joiner.
    fn calibrating<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let saved = (self.rng.clone(), self.z.clone());
        let walk = self.walk.for_calibration(&self.cfg)?;
        let walk = std::mem::replace(&mut self.walk, walk);
        self.rng = ChaCha8Rng::seed_from_u64(CALIBRATION_SEED);
        for v in self.z.iter_mut() {
            *v = StandardNormal.sample(&mut self.rng);
        }
        if let Some(b) = &mut self.beat_fix {
            b.reset();
        }
        let out = f(self);
        if let Some(b) = &mut self.beat_fix {
            b.reset();
        }
        (self.rng, self.z) = saved;
        self.walk = walk;
        self.splicer = joiner(&self.cfg, self.splicer.segment_len(), self.margin)?;
        self.beats.clear();
        out
    }

    /// [`Self::calibrating`] with the stream's noise reseeded from the calibration seed for
    /// the run, then restored: what the output calibrations measure.
    fn calibrating_with_noise<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let seed = CALIBRATION_SEED ^ NOISE_SEED;
        let noise = self.noise.as_ref().map(|n| n.reseeded(seed)).transpose()?;
        let saved = std::mem::replace(&mut self.noise, noise);
        let out = self.calibrating(f);
        self.noise = saved;
        out
    }

    /// The equaliser's kernels: `equaliser::LEVEL_SECONDS` of output (joined, with the
    /// stream's noise from the calibration seed) measured as `target` was, one kernel per
    /// channel (`SpectrumTarget::kernels`): shape and level; for a beat-aligned model
    /// `equaliser::SHAPE_SECONDS` and shape only, within each STFT bin's band.
    fn calibrate_eq(&mut self, target: &SpectrumTarget) -> Result<Vec<Vec<f32>>> {
        let (fs, nc) = (self.spec.sample_rate, self.spec.n_channels());
        // Beat-aligned models keep their levels (see `model::equaliser`).
        let band =
            (self.cfg.data.beats.is_some()).then(|| target.nperseg / self.cfg.data.spectral.n_fft);
        let seconds = match band {
            Some(_) => equaliser::SHAPE_SECONDS,
            None => equaliser::LEVEL_SECONDS,
        };
        self.calibrating_with_noise(|g| {
            equaliser::calibrate(target, nc, fs, seconds, band, |w| {
                g.produce(w.len() / nc)?;
                w.copy_from_slice(&g.chunk);
                Ok(())
            })
        })
    }

    /// Puts the next `n` joined samples per channel, noise added, into `chunk`
    /// (channel-major).
    fn produce(&mut self, n: usize) -> Result<()> {
        while self.splicer.available() < n {
            self.next_window()?;
        }
        self.chunk.resize(n * self.spec.n_channels(), 0.0);
        self.splicer.pull(&mut self.chunk, n);
        self.splicer.take_beats(&mut self.beats);
        match &mut self.noise {
            Some(noise) => noise.add_to(&mut self.chunk, n),
            None => Ok(()),
        }
    }

    /// Mean power per complex bin of what the joiner emits over `REFINE_WINDOWS` windows of
    /// the walk, measured `REFINE_CHUNK` windows at a time so memory is a chunk's, not the
    /// whole pass's (a 12-lead model would otherwise hold minutes of output); `None` if
    /// nothing came out.
    fn emitted_power(&mut self) -> Result<Option<Vec<f64>>> {
        let (nc, fs, sp) = (
            self.spec.n_channels(),
            self.spec.sample_rate,
            self.cfg.data.spectral,
        );
        let (mut sum, mut frames, mut out) = (Vec::<f64>::new(), 0usize, Vec::new());
        for _ in 0..REFINE_WINDOWS / REFINE_CHUNK {
            // The walk's latents first, then one decoder call for the whole chunk.
            let mut zs = Vec::with_capacity(REFINE_CHUNK * self.z.len());
            for _ in 0..REFINE_CHUNK {
                self.step_walk()?;
                zs.extend_from_slice(&self.z);
            }
            let mut w = decode_physical(&self.model, &self.cfg, &self.dev, zs, REFINE_CHUNK)?;
            let per_window = w.len() / REFINE_CHUNK;
            for window in w.chunks_exact_mut(per_window) {
                self.emit(window)?;
            }
            let n = self.splicer.available();
            if n == 0 {
                continue;
            }
            out.resize(n * nc, 0.0);
            self.splicer.pull(&mut out, n);
            let views: Vec<&[f32]> = out.chunks_exact(n).collect();
            let rep = Representation::from_channels(&views, fs, &sp)?;
            sum.resize(rep.n_features() / 2, 0.0);
            for (s, p) in sum
                .iter_mut()
                .zip(bin_power_about(&rep, &self.cfg.norm.mean))
            {
                *s += p * rep.n_frames as f64;
            }
            frames += rep.n_frames;
        }
        Ok((frames > 0).then(|| sum.into_iter().map(|s| s / frames as f64).collect()))
    }

    /// The equaliser's kernel and the output's own waveform shape from the cache
    /// (`cached`), else measured now after refining the gains on the walk, and all kept in
    /// the cache under `key` for later loads.
    fn set_equaliser(&mut self, key: GainKey, cached: Option<Calibration>) -> Result<()> {
        let c = match cached {
            Some(c) => c,
            None => {
                self.refine_gains()?;
                let eq = match self.cfg.spectrum.clone() {
                    Some(t) => self.calibrate_eq(&t)?,
                    None => Vec::new(),
                };
                let beat_means = match self.cfg.beat_means.clone() {
                    Some(t) => self.calibrate_beat_means(&t, &eq)?,
                    None => Vec::new(),
                };
                self.set_beat_fix(&beat_means);
                let mut c = Calibration {
                    gain: self.gain.clone(),
                    eq,
                    envelope_sd: None,
                    shape: Vec::new(),
                    beat_means,
                };
                if let Some(t) = self.cfg.shape.clone() {
                    c.shape = self.calibrate_shape(&t, &c.eq)?;
                }
                gain_cache::put(key, c.clone());
                c
            }
        };
        self.set_beat_fix(&c.beat_means);
        if !c.eq.is_empty() {
            self.eq = Some(FirStream::new(&c.eq)?);
        }
        if let Some(t) = &self.cfg.shape {
            if !c.shape.is_empty() {
                self.shape = Some(ShapeStream::mapping(t, &c.shape, self.spec.sample_rate)?);
            }
        }
        Ok(())
    }

    /// The beat corrector of the checkpoint's `beat_means` with `corrections` (none
    /// without them).
    fn set_beat_fix(&mut self, corrections: &[f32]) {
        let (nc, fs) = (self.spec.n_channels(), self.spec.sample_rate);
        self.beat_fix = self
            .cfg
            .beat_means
            .as_ref()
            .filter(|_| !corrections.is_empty())
            .and_then(|t| BeatCorrector::new(t, corrections.to_vec(), nc, fs));
    }

    /// Each kind's correction to `target` (`model::beat_mean`): the mean beats of
    /// `beat_mean::CALIBRATION_SECONDS` of the calibration walk's output (with the stream's
    /// noise from the calibration seed, through the equaliser `eq`) at the joiner's R peaks.
    fn calibrate_beat_means(
        &mut self,
        target: &BeatMeanTarget,
        eq: &[Vec<f32>],
    ) -> Result<Vec<f32>> {
        let (fs, nc) = (self.spec.sample_rate, self.spec.n_channels());
        let n = (beat_mean::CALIBRATION_SECONDS * fs) as usize;
        self.calibrating_with_noise(|g| {
            g.eq = (!eq.is_empty()).then(|| FirStream::new(eq)).transpose()?;
            let mut out = vec![0f32; n * nc];
            let filled = g.equalised(&mut out, n);
            let delay = g.eq.take().map_or(0, |e| e.delay() as u64);
            filled?;
            let peaks: Vec<usize> = g
                .beats
                .iter()
                .filter_map(|&m| m.checked_sub(delay).map(|p| p as usize))
                .collect();
            let signals: Vec<&[f32]> = out.chunks_exact(n).collect();
            Ok(target.corrections(&signals, &peaks, fs))
        })
    }

    /// The quantiles of the output's values within their local loudness
    /// (`shape::CALIBRATION_SECONDS` of the calibration walk, with the stream's noise
    /// from the calibration seed, through the equaliser `eq`), per channel at `target`'s
    /// levels (`model::shape`).
    fn calibrate_shape(&mut self, target: &ShapeTarget, eq: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let (fs, nc) = (self.spec.sample_rate, self.spec.n_channels());
        self.calibrating_with_noise(|g| {
            g.eq = (!eq.is_empty()).then(|| FirStream::new(eq)).transpose()?;
            let seconds = shape::CALIBRATION_SECONDS;
            let q = shape::own_quantiles(target, nc, fs, seconds, |o, m| g.unshaped(o, m));
            g.eq = None;
            q
        })
    }

    /// Steps the latent walk, decodes a window, inverts it and hands it to the splicer.
    fn next_window(&mut self) -> Result<()> {
        self.step_walk()?;
        let mut w = decode_physical(&self.model, &self.cfg, &self.dev, self.z.clone(), 1)?;
        self.emit(&mut w)
    }

    /// Moves the latent one window on: the AR(1) walk or the stream's sequence model.
    fn step_walk(&mut self) -> Result<()> {
        match &mut self.walk {
            Walk::Ar1(rho) => {
                let (rho, s) = (*rho, (1.0 - *rho * *rho).sqrt());
                for v in self.z.iter_mut() {
                    let e: f32 = StandardNormal.sample(&mut self.rng);
                    *v = rho * *v + s * e;
                }
            }
            Walk::Transformer(t) => t.draw(&mut self.z),
            Walk::States(w) => w.step(&mut self.rng, &mut self.z),
        }
        Ok(())
    }

    /// Applies the per-bin gains to one decoded window of features (to their deviation
    /// from the training mean: the gains restore variance, not the offset), inverts it to
    /// samples and hands the trimmed segment to the splicer.
    fn emit(&mut self, w: &mut [f32]) -> Result<()> {
        let (f, t) = {
            let c = self.model.config();
            (c.n_features, c.window_frames)
        };
        let mean = &self.cfg.norm.mean;
        for frame in w.chunks_exact_mut(f) {
            for (i, v) in frame.iter_mut().enumerate() {
                *v = mean[i] + self.gain[i / 2] * (*v - mean[i]);
            }
        }
        let n_bins = self.cfg.data.spectral.n_bins();
        let len = self.splicer.segment_len();
        let covered = (t - 1) * self.cfg.data.spectral.hop;
        self.segment.clear();
        for c in 0..self.spec.n_channels() {
            for (frame, dst) in w.chunks_exact(f).zip(self.bins.chunks_exact_mut(n_bins)) {
                unpack_bins(frame, c, dst);
            }
            self.stft.inverse(&self.bins, covered, &mut self.inverted)?;
            self.segment
                .extend_from_slice(&self.inverted[self.margin..self.margin + len]);
        }
        self.splicer.push(&self.segment)
    }
}

impl VaeGenerator {
    /// Fills `block` with the next joined samples, through the equaliser and the shape
    /// where there are ones.
    fn fill_samples(&mut self, block: &mut Block) -> Result<()> {
        let rate = (self.spec.n_channels(), self.spec.sample_rate);
        let mut out = std::mem::take(&mut self.out);
        let mut shape = self.shape.take();
        let mut scratch = std::mem::take(&mut self.shaped);
        let filled = out.fill_through(block, rate, shape.as_mut(), &mut scratch, |o, n| {
            self.unshaped(o, n)
        });
        (self.out, self.shape, self.shaped) = (out, shape, scratch);
        filled
    }

    /// Moves the next `n` samples per channel, joined, with noise, through the equaliser
    /// and with each beat corrected to its kind's mean, into the channel-major `out`.
    fn unshaped(&mut self, out: &mut [f32], n: usize) -> Result<()> {
        let Some(mut fix) = self.beat_fix.take() else {
            return self.equalised(out, n);
        };
        let mut part = std::mem::take(&mut self.fix_chunk);
        part.resize(BEAT_CHUNK * self.spec.n_channels(), 0.0);
        // Joiner index m is equalised index m − delay (see `label_beats`).
        let delay = self.eq.as_ref().map_or(0, |eq| eq.delay() as u64);
        let mut result = Ok(());
        while result.is_ok() && fix.available() < n {
            let before = self.beats.len();
            result = self.equalised(&mut part, BEAT_CHUNK);
            let peaks = self
                .beats
                .range(before..)
                .filter_map(|&m| m.checked_sub(delay));
            fix.push(&part, BEAT_CHUNK, peaks);
        }
        if result.is_ok() && !fix.pull(out, n) {
            result = Err(Error::BadInput(format!(
                "{n} beat-corrected samples per channel were not ready"
            )));
        }
        (self.beat_fix, self.fix_chunk) = (Some(fix), part);
        result
    }

    /// Moves the next `n` samples per channel, joined, with noise and through the
    /// equaliser, into the channel-major `out`.
    fn equalised(&mut self, out: &mut [f32], n: usize) -> Result<()> {
        let Some(mut eq) = self.eq.take() else {
            self.produce(n)?;
            out.copy_from_slice(&self.chunk);
            return Ok(());
        };
        let mut scratch = std::mem::take(&mut self.eq_in);
        let result = eq.pull_through(out, n, &mut scratch, |buf, m| {
            self.produce(m)?;
            buf.copy_from_slice(&self.chunk);
            Ok(())
        });
        (self.eq, self.eq_in) = (Some(eq), scratch);
        result
    }

    /// Labels the R peaks the beat joiner placed within the filled `block`, moved by the
    /// equaliser's delay: by the label of the kind the beat corrector gave each where the
    /// checkpoint's kinds are labelled (`beat_mean::BeatMeanTarget::labels`), else `"Q"`
    /// (a beat whose type the model does not say).
    fn label_beats(&mut self, block: &mut Block) {
        // The shape keeps indices (output i is input i, only later): no shift from it.
        let delay = self.eq.as_ref().map_or(0, |eq| eq.delay() as u64);
        let end = block.start_index + block.n_frames as u64;
        while let Some(&m) = self.beats.front() {
            // Joiner index m is output index m − delay; the equaliser drops the first delay.
            let Some(at) = m.checked_sub(delay) else {
                self.beats.pop_front();
                continue;
            };
            if at >= end {
                break;
            }
            self.beats.pop_front();
            if at >= block.start_index {
                let kind = (self.beat_fix.as_mut()).and_then(|f| f.kind_at(at));
                let fs = self.spec.sample_rate;
                (block.events).push(beat_kinds::beat_event(at, fs, kind, &self.kind_labels));
            }
        }
    }
}

impl Generator for VaeGenerator {
    fn spec(&self) -> &SignalSpec {
        &self.spec
    }

    fn labels(&self) -> &[&'static str] {
        &self.labels
    }

    fn fill(&mut self, block: &mut Block) -> Result<()> {
        block.check_channels(self.spec.n_channels())?;
        self.fill_samples(block)?;
        self.label_beats(block);
        Ok(())
    }
}
