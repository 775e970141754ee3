//! The VAE's observation noise: what its decoder leaves unexplained, added back as
//! stationary Gaussian noise instead of being dropped.
//!
//! A VAE with a Gaussian likelihood models a window as `decoder(z) + noise`; sampling only
//! the decoder's mean drops that noise, and on ECG the loss shows: above ~40 Hz the decoder
//! reconstructs almost nothing (residual std ≈ the training std there), so the output had
//! too few zero crossings (0.021–0.025 per sample against the record's 0.032). `train`
//! measures the residual's std per feature on the training windows (normalised units) and
//! saves it; the generator adds a noise stream with that power per bin (random spectral
//! frames through the streaming inverse STFT) and calibrates the decoded mean to the rest
//! of the training power.
//!
//! With several channels `train` also measures how the residual's channels correlate in
//! each bin (EEG's common reference and volume conduction leave it correlated, 0.48 on
//! average for `eeg-vae`), and the noise is mixed across channels to match: independent
//! noise carrying all of the EEG residual decoupled the output's channels (0.07 against
//! the record's 0.44).

use super::coupling::{ChannelMix, CouplingSums};
use super::train::to_err;
use super::vae::Vae;
use crate::data::{Dataset, NormStats, Part};
use crate::dsp::{Representation, SpectralConfig, StreamDecoder};
use crate::Result;
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// What `train` measures of the decoder's residual `x − decoder(encoder_mean(x))` over
/// every frame of every training window.
pub struct Residual {
    /// Root-mean-square per feature, normalised units.
    pub std: Vec<f32>,
    /// How the channels' residuals correlate in each bin (`model::coupling`); `None` for
    /// one channel.
    pub coupling: Option<Vec<f32>>,
}

/// Measures the decoder's residual on the training windows of `data` (see [`Residual`]).
pub fn residual(model: &Vae, data: &Dataset, dev: &Device) -> Result<Residual> {
    let f = data.n_features();
    let n_bins = data.config.spectral.n_bins();
    let mut acc = Accumulator::new(f, n_bins, &data.stats.std);
    for b in data.batches(Part::Train, 64, 0) {
        let x =
            Tensor::from_vec(b.data, (b.shape[0], b.shape[1] * b.shape[2]), dev).map_err(to_err)?;
        let (mu, _) = model.encode(&x).map_err(to_err)?;
        let d = (x - model.decode(&mu).map_err(to_err)?)
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.to_vec1::<f32>())
            .map_err(to_err)?;
        d.chunks_exact(f).for_each(|frame| acc.add(frame));
    }
    acc.finish()
}

/// Sums over residual frames: squares per feature, and the channels' coupling in physical
/// units.
struct Accumulator<'a> {
    sum: Vec<f64>,
    coupling: CouplingSums,
    scale: &'a [f32],
    frames: usize,
}

impl<'a> Accumulator<'a> {
    fn new(f: usize, n_bins: usize, scale: &'a [f32]) -> Self {
        Self {
            sum: vec![0.0; f],
            coupling: CouplingSums::new(n_bins, f / (2 * n_bins).max(1)),
            scale,
            frames: 0,
        }
    }

    fn add(&mut self, frame: &[f32]) {
        for (s, v) in self.sum.iter_mut().zip(frame) {
            *s += f64::from(v * v);
        }
        self.coupling.add(frame, |i| self.scale[i]);
        self.frames += 1;
    }

    fn finish(self) -> Result<Residual> {
        if self.frames == 0 {
            return Err(crate::Error::BadInput(
                "decoder noise: no training windows".into(),
            ));
        }
        let n = self.frames as f64;
        Ok(Residual {
            std: self.sum.iter().map(|s| (s / n).sqrt() as f32).collect(),
            coupling: self.coupling.finish(),
        })
    }
}

/// Checks a saved residual: one finite, non-negative std per feature.
pub fn check(std: &[f32], n_features: usize) -> std::result::Result<(), String> {
    if std.len() != n_features {
        return Err(format!(
            "decoder_noise: {} values for {n_features} features",
            std.len()
        ));
    }
    match std.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
        Some(v) => Err(format!("decoder_noise: {v} is not a finite std ≥ 0")),
        None => Ok(()),
    }
}

/// Stationary Gaussian noise with a given power per STFT bin, as samples: complex Gaussian
/// frames, independent in time and, without a coupling, between channels, through the
/// streaming inverse STFT (plan and buffers made once).
pub struct NoiseStream {
    /// Std per feature (re/im of each channel's bins), physical units.
    std: Vec<f32>,
    /// How independent draws are mixed across channels; `None`: channels independent.
    mix: Option<ChannelMix>,
    /// One frame of independent draws, before mixing.
    draws: Vec<f32>,
    decoder: StreamDecoder,
    spectral: SpectralConfig,
    n_channels: usize,
    rng: ChaCha8Rng,
    frame: Vec<f32>,
    scratch: Vec<f32>,
}

impl NoiseStream {
    /// Noise whose frames have std `residual × norm.std` per feature (none in features fitted
    /// as constant), its channels correlated per bin as `coupling` says (checked by
    /// `model::coupling::check`; `None`: independent); seeded.
    pub fn new(
        residual: &[f32],
        coupling: Option<&[f32]>,
        norm: &NormStats,
        spectral: &SpectralConfig,
        n_channels: usize,
        seed: u64,
    ) -> Result<Self> {
        let std: Vec<f32> = (0..norm.n_features())
            .map(|i| {
                if norm.is_constant(i) {
                    0.0
                } else {
                    residual[i] * norm.std[i]
                }
            })
            .collect();
        let n_bins = spectral.n_bins();
        let mix = coupling
            .filter(|_| n_channels > 1)
            .map(|c| ChannelMix::new(c, n_bins, n_channels));
        Ok(Self {
            frame: vec![0.0; std.len()],
            draws: vec![0.0; if mix.is_some() { std.len() } else { 0 }],
            mix,
            std,
            decoder: StreamDecoder::new(spectral, n_channels)?,
            spectral: *spectral,
            n_channels,
            rng: ChaCha8Rng::seed_from_u64(seed),
            scratch: Vec::new(),
        })
    }

    /// A fresh stream of this noise (same std per feature, scaling included) from `seed`.
    pub fn reseeded(&self, seed: u64) -> Result<Self> {
        Ok(Self {
            frame: vec![0.0; self.std.len()],
            std: self.std.clone(),
            mix: self.mix.clone(),
            draws: self.draws.clone(),
            decoder: StreamDecoder::new(&self.spectral, self.n_channels)?,
            spectral: self.spectral,
            n_channels: self.n_channels,
            rng: ChaCha8Rng::seed_from_u64(seed),
            scratch: Vec::new(),
        })
    }

    /// Multiplies every feature's std by `gain` (per complex bin: re and im alike).
    pub fn scale_bins(&mut self, gain: &[f32]) {
        for (p, g) in self.std.chunks_exact_mut(2).zip(gain) {
            p[0] *= g;
            p[1] *= g;
        }
    }

    /// Adds the next `len` samples of noise per channel to the channel-major `out`.
    pub fn add_to(&mut self, out: &mut [f32], len: usize) -> Result<()> {
        while self.decoder.available() < len {
            match &self.mix {
                None => {
                    for (v, s) in self.frame.iter_mut().zip(&self.std) {
                        let e: f32 = StandardNormal.sample(&mut self.rng);
                        *v = s * e;
                    }
                }
                Some(mix) => {
                    for e in self.draws.iter_mut() {
                        *e = StandardNormal.sample(&mut self.rng);
                    }
                    mix.apply(&self.draws, &mut self.frame);
                    self.frame
                        .iter_mut()
                        .zip(&self.std)
                        .for_each(|(v, s)| *v *= s);
                }
            }
            self.decoder.push(&self.frame)?;
        }
        self.scratch.resize(out.len(), 0.0);
        self.decoder.pull(&mut self.scratch, len);
        out.iter_mut().zip(&self.scratch).for_each(|(o, n)| *o += n);
        Ok(())
    }

    /// Mean power per complex bin of `len` samples of this noise, re-analysed with the
    /// model's STFT: what the noise adds to the output's spectrum (overlap-add of
    /// independent frames does not keep the frames' own power).
    pub fn emitted_power(&mut self, len: usize, fs: f64) -> Result<Vec<f64>> {
        let mut x = vec![0f32; len * self.n_channels];
        self.add_to(&mut x, len)?;
        let views: Vec<&[f32]> = x.chunks_exact(len).collect();
        Ok(bin_power(&Representation::from_channels(
            &views,
            fs,
            &self.spectral,
        )?))
    }
}

/// Mean power per complex bin over every frame of `rep`.
pub fn bin_power(rep: &Representation) -> Vec<f64> {
    bin_power_about(rep, &[])
}

/// Mean power per complex bin of `rep`'s frames about `centre` (one value per feature;
/// missing values are zero): the bins' variance when `centre` is their mean.
pub fn bin_power_about(rep: &Representation, centre: &[f32]) -> Vec<f64> {
    let mut power = vec![0f64; rep.n_features() / 2];
    for t in 0..rep.n_frames {
        for (i, v) in rep.frame(t).iter().enumerate() {
            let d = f64::from(v - centre.get(i).copied().unwrap_or(0.0));
            power[i / 2] += d * d;
        }
    }
    let n = rep.n_frames.max(1) as f64;
    power.iter_mut().for_each(|p| *p /= n);
    power
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (NormStats, SpectralConfig) {
        let sp = SpectralConfig {
            n_fft: 64,
            hop: 16,
            ..SpectralConfig::default()
        };
        let f = crate::dsp::repr::features_per_frame(&sp, 1);
        let norm = NormStats {
            mean: vec![0.5; f],
            std: vec![2.0; f],
        };
        (norm, sp)
    }

    #[test]
    fn noise_lands_in_the_bins_its_residual_names_and_scales_with_them() {
        let (norm, sp) = setup();
        let mut residual = vec![0.0; norm.n_features()];
        // Bin 10 (re and im) only.
        residual[20] = 0.5;
        residual[21] = 0.5;
        let mut noise = NoiseStream::new(&residual, None, &norm, &sp, 1, 3).unwrap();
        let p = noise.emitted_power(20_000, 360.0).unwrap();
        let total: f64 = p.iter().sum();
        let near: f64 = p[9..=11].iter().sum();
        assert!(near > 0.95 * total, "bin 10 ± 1 holds {near} of {total}");
        let mut louder = NoiseStream::new(&residual, None, &norm, &sp, 1, 3).unwrap();
        louder.scale_bins(&vec![2.0; p.len()]);
        let q = louder.emitted_power(20_000, 360.0).unwrap();
        let ratio = q[10] / p[10];
        assert!((ratio - 4.0).abs() < 0.01, "power ratio {ratio}");
    }

    /// Two channels' samples: `len` of noise from `residual` in every feature.
    fn two_channels(coupling: Option<&[f32]>, len: usize) -> (Vec<f32>, Vec<f32>) {
        let sp = SpectralConfig {
            n_fft: 64,
            hop: 16,
            ..SpectralConfig::default()
        };
        let f = crate::dsp::repr::features_per_frame(&sp, 2);
        // (mean 0 and std 1 would mark every feature constant.)
        let norm = NormStats {
            mean: vec![0.5; f],
            std: vec![2.0; f],
        };
        let mut noise = NoiseStream::new(&vec![0.5; f], coupling, &norm, &sp, 2, 5).unwrap();
        let mut x = vec![0.0; 2 * len];
        noise.add_to(&mut x, len).unwrap();
        let b = x.split_off(len);
        (x, b)
    }

    fn corr(a: &[f32], b: &[f32]) -> f64 {
        let dot =
            |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| f64::from(p * q)).sum::<f64>();
        dot(a, b) / (dot(a, a) * dot(b, b)).sqrt()
    }

    #[test]
    fn coupled_noise_correlates_its_channels_and_keeps_their_power() {
        let n_bins = 33;
        let (a0, b0) = two_channels(None, 20_000);
        let (a, b) = two_channels(Some(&vec![0.8; n_bins]), 20_000);
        let (r0, r) = (corr(&a0, &b0), corr(&a, &b));
        assert!(r0.abs() < 0.05, "independent: r = {r0}");
        assert!((r - 0.8).abs() < 0.05, "coupled: r = {r}");
        let power = |x: &[f32]| x.iter().map(|v| f64::from(v * v)).sum::<f64>();
        for (p, q) in [(power(&a0), power(&a)), (power(&b0), power(&b))] {
            assert!((q / p - 1.0).abs() < 0.05, "power {q} vs {p}");
        }
    }

    #[test]
    fn the_residuals_coupling_is_measured_per_bin() {
        // Two channels, two bins: bin 0 the same residual in both channels, bin 1 opposite
        // residuals; each frame a new value.
        let scale = vec![1.0; 8];
        let mut acc = Accumulator::new(8, 2, &scale);
        for t in 0..10 {
            let (u, v) = (t as f32 - 4.5, (t * t % 7) as f32 - 3.0);
            // Layout: channel-major, then bin, then re/im.
            acc.add(&[u, v, u, -v, u, v, -u, v]);
        }
        let r = acc.finish().unwrap();
        let c = r.coupling.unwrap();
        assert_eq!(c.len(), 2, "one pair per bin");
        assert!((c[0] - 1.0).abs() < 1e-6, "{c:?}");
        assert!((c[1] + 1.0).abs() < 1e-6, "{c:?}");
        assert!(r.std.iter().all(|s| *s > 0.0));
        let one = Accumulator::new(4, 2, &scale).finish();
        assert!(one.is_err(), "no frames, no residual");
    }

    #[test]
    fn constant_features_get_no_noise_and_bad_residuals_are_refused() {
        let (mut norm, sp) = setup();
        norm.mean[1] = 0.0;
        norm.std[1] = 1.0;
        let mut residual = vec![0.0; norm.n_features()];
        residual[1] = 1.0;
        let mut noise = NoiseStream::new(&residual, None, &norm, &sp, 1, 3).unwrap();
        let p = noise.emitted_power(4_000, 360.0).unwrap();
        assert!(p.iter().all(|&v| v == 0.0), "{p:?}");
        let f = norm.n_features();
        assert!(check(&residual, f).is_ok());
        assert!(check(&residual[1..], f).unwrap_err().contains("values for"));
        residual[3] = f32::NAN;
        assert!(check(&residual, f).is_err());
        residual[3] = -1.0;
        assert!(check(&residual, f).is_err());
    }
}
