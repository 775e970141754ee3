//! Sampling a trained VAE forever: latents follow a slow AR(1) walk, each window is
//! decoded, inverted to samples on its own, and joined to what came before by
//! waveform-similarity overlap-add (`dsp::splice`): entered where its waveform best
//! continues the previous window, so beats line up across the join. No seams, no repeats.
//!
//! Latents are drawn where the training windows' latents lie (`model::latent_prior`, saved
//! by `train`; N(0, I) for checkpoints without it): the walk runs in standard-normal
//! coordinates and is mapped through the fitted mean and Cholesky factor.
//!
//! Decoded from the prior, a VAE over complex STFT bins is over-smoothed: its re/im
//! outputs regress towards their means and phases average out, so the output is too weak.
//! As statistical speech synthesis does (global variance compensation), each bin is scaled
//! by a gain fixed at load time: the training data's mean power in that bin (from the saved
//! normalisation statistics) over the mean power of a calibration batch of decoded prior
//! samples.

use super::checkpoint::CheckpointConfig;
use super::spectral_stream::BlockOut;
use super::train::to_err;
use super::vae::Vae;
use super::Generator;
use crate::block::Block;
use crate::dsp::beat_splice::BeatSplicer;
use crate::dsp::repr::unpack_bins;
use crate::dsp::splice::{Join, Splicer};
use crate::dsp::{Complex32, Representation, Stft};
use crate::record::SignalSpec;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::path::Path;

/// AR(1) coefficient of the latent walk per window (near 1: neighbours are similar).
const RHO: f32 = 0.9;
/// Prior samples decoded at load time to measure the decoder's power per bin.
const CALIBRATION_BATCH: usize = 64;
/// Seed of the calibration batch: the gains belong to the model, not to a stream's seed.
const CALIBRATION_SEED: u64 = 0x9e37_79b9;
/// Widening of the checkpoint's channel ranges (1.5 × the training peak) for EDF/BDF
/// sinks: restored power brings peaks beyond the training data's, which would be clipped.
const RANGE_HEADROOM: f64 = 3.0;
/// Bounds on a bin's power gain (a bin the decoder leaves silent is not blown up).
const MAX_GAIN: f32 = 100.0;

/// A checkpointed VAE as a [`Generator`]: latent walk, decoding, inversion, splicing.
pub struct VaeGenerator {
    cfg: CheckpointConfig,
    spec: SignalSpec,
    model: Vae,
    dev: Device,
    rng: ChaCha8Rng,
    z: Vec<f32>,
    /// Amplitude gain per complex bin (channel × bin), applied after denormalising.
    gain: Vec<f32>,
    stft: Stft,
    splicer: Box<dyn Join>,
    /// Samples trimmed from each end of an inverted window (half a frame: the window
    /// sum is partial there).
    margin: usize,
    bins: Vec<Complex32>,
    inverted: Vec<f32>,
    segment: Vec<f32>,
    out: BlockOut,
}

/// Loads the VAE checkpoint at `dir` (its config already read and checked, see
/// `model::load_checkpoint`) on the CPU; `seed` fixes the latent walk.
pub fn load(dir: &Path, cfg: CheckpointConfig, seed: u64) -> Result<VaeGenerator> {
    let p = dir.join("config.json");
    let vae = cfg
        .vae
        .clone()
        .ok_or_else(|| Error::bad_path(&p, "not a VAE checkpoint (no `vae` section)"))?;
    let dev = Device::Cpu;
    let model = super::train::load_frozen(|vb| Vae::new(&vae, vb), &dev, dir)?;
    let sp = cfg.data.spectral;
    let margin = sp.n_fft / 2;
    let covered = (vae.window_frames - 1) * sp.hop;
    let seg_len = covered.saturating_sub(2 * margin);
    let splicer = joiner(&cfg, seg_len, margin).map_err(|e| {
        Error::bad_path(
            &p,
            format!(
                "vae.window_frames: {} frames of hop {} leave {seg_len} samples per window \
                 ({e}); retrain with a longer --window-s",
                vae.window_frames, sp.hop
            ),
        )
    })?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let z = (0..vae.latent)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let mut spec = cfg.spec.clone();
    for c in &mut spec.channels {
        c.range = (c.range.0 * RANGE_HEADROOM, c.range.1 * RANGE_HEADROOM);
    }
    let gain = calibrate(&model, &cfg, &dev)?;
    let mut generator = VaeGenerator {
        stft: Stft::new(&sp)?,
        bins: vec![Complex32::default(); vae.window_frames * sp.n_bins()],
        cfg,
        spec,
        model,
        dev,
        rng,
        z,
        gain,
        splicer,
        margin,
        inverted: Vec::new(),
        segment: Vec::new(),
        out: BlockOut::default(),
    };
    generator.refine_gains()?;
    Ok(generator)
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

/// Per-bin amplitude gains: sqrt(training power / decoded prior power), see module docs.
fn calibrate(model: &Vae, cfg: &CheckpointConfig, dev: &Device) -> Result<Vec<f32>> {
    let decoded = decoded_power(model, cfg, dev)?;
    Ok(decoded
        .iter()
        .zip(target_power(&cfg.norm))
        .map(|(&d, t)| {
            let g = (t / d.max(f64::MIN_POSITIVE)).sqrt() as f32;
            if g.is_finite() {
                g.clamp(1.0 / MAX_GAIN, MAX_GAIN)
            } else {
                1.0
            }
        })
        .collect())
}

/// Mean power per complex bin of `CALIBRATION_BATCH` decoded prior windows, decoded a few
/// at a time so memory stays that of a few windows.
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
            for (d, p) in power.iter_mut().zip(frame.chunks_exact(2)) {
                *d += f64::from(p[0] * p[0] + p[1] * p[1]);
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

/// Mean power per complex bin of the training frames: Σ over re/im of mean² + std².
fn target_power(norm: &crate::data::NormStats) -> impl Iterator<Item = f64> + '_ {
    let feature = |i: usize| {
        // Features fitted as constant (imaginary DC/Nyquist) got std 1 and carry no power.
        let (m, s) = (f64::from(norm.mean[i]), f64::from(norm.std[i]));
        if norm.std[i] == 1.0 && norm.mean[i].abs() < 1e-6 {
            0.0
        } else {
            m * m + s * s
        }
    };
    (0..norm.n_features() / 2).map(move |k| feature(2 * k) + feature(2 * k + 1))
}

impl VaeGenerator {
    /// Second calibration pass, on what is emitted: the joiner keeps only part of each
    /// decoded window (one beat cycle, or what WSOLA advances by), whose power per bin
    /// differs from the whole window's. Runs `CALIBRATION_BATCH` windows through it and
    /// corrects each bin's gain by sqrt(training power / emitted power); then restores the
    /// stream's latent walk and a fresh joiner.
    fn refine_gains(&mut self) -> Result<()> {
        let saved = (self.rng.clone(), self.z.clone());
        self.rng = ChaCha8Rng::seed_from_u64(CALIBRATION_SEED);
        for _ in 0..CALIBRATION_BATCH {
            self.next_window()?;
        }
        let (n, nc) = (self.splicer.available(), self.spec.n_channels());
        let mut out = vec![0f32; n * nc];
        self.splicer.pull(&mut out, n);
        (self.rng, self.z) = saved;
        self.splicer = joiner(&self.cfg, self.splicer.segment_len(), self.margin)?;
        if n == 0 {
            return Ok(());
        }
        let views: Vec<&[f32]> = out.chunks_exact(n).collect();
        let sp = self.cfg.data.spectral;
        let emitted = Representation::from_channels(&views, self.spec.sample_rate, &sp)?;
        let mut power = vec![0f64; self.gain.len()];
        for t in 0..emitted.n_frames {
            for (p, v) in power.iter_mut().zip(emitted.frame(t).chunks_exact(2)) {
                *p += f64::from(v[0] * v[0] + v[1] * v[1]);
            }
        }
        for ((g, e), t) in self
            .gain
            .iter_mut()
            .zip(power)
            .zip(target_power(&self.cfg.norm))
        {
            let e = e / emitted.n_frames.max(1) as f64;
            let c = (t / e).sqrt() as f32;
            if e > 0.0 && c.is_finite() {
                *g = (*g * c).clamp(1.0 / MAX_GAIN, MAX_GAIN);
            }
        }
        Ok(())
    }

    /// Steps the latent walk, decodes a window, inverts it and hands it to the splicer.
    fn next_window(&mut self) -> Result<()> {
        let (f, t) = {
            let c = self.model.config();
            (c.n_features, c.window_frames)
        };
        let s = (1.0 - RHO * RHO).sqrt();
        for v in self.z.iter_mut() {
            let e: f32 = StandardNormal.sample(&mut self.rng);
            *v = RHO * *v + s * e;
        }
        let mut w = decode_physical(&self.model, &self.cfg, &self.dev, self.z.clone(), 1)?;
        for frame in w.chunks_exact_mut(f) {
            for (p, g) in frame.chunks_exact_mut(2).zip(&self.gain) {
                p[0] *= g;
                p[1] *= g;
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

impl Generator for VaeGenerator {
    fn spec(&self) -> &SignalSpec {
        &self.spec
    }

    fn fill(&mut self, block: &mut Block) -> Result<()> {
        let n = block.n_frames;
        while self.splicer.available() < n {
            self.next_window()?;
        }
        let splicer = &mut self.splicer;
        self.out
            .fill(block, self.spec.sample_rate, |o, n| splicer.pull(o, n));
        Ok(())
    }
}
