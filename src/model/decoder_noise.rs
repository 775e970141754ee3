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

use super::train::to_err;
use super::vae::Vae;
use crate::data::{Dataset, NormStats, Part};
use crate::dsp::{Representation, SpectralConfig, StreamDecoder};
use crate::Result;
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Root-mean-square of `x − decoder(encoder_mean(x))` per feature over every frame of every
/// training window of `data`, in normalised units.
pub fn residual_std(model: &Vae, data: &Dataset, dev: &Device) -> Result<Vec<f32>> {
    let f = data.n_features();
    let (mut sum, mut n) = (vec![0f64; f], 0usize);
    for b in data.batches(Part::Train, 64, 0) {
        let x =
            Tensor::from_vec(b.data, (b.shape[0], b.shape[1] * b.shape[2]), dev).map_err(to_err)?;
        let (mu, _) = model.encode(&x).map_err(to_err)?;
        let d = (x - model.decode(&mu).map_err(to_err)?)
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.to_vec1::<f32>())
            .map_err(to_err)?;
        for frame in d.chunks_exact(f) {
            for (s, v) in sum.iter_mut().zip(frame) {
                *s += f64::from(v * v);
            }
            n += 1;
        }
    }
    if n == 0 {
        return Err(crate::Error::BadInput(
            "decoder noise: no training windows".into(),
        ));
    }
    Ok(sum.iter().map(|s| (s / n as f64).sqrt() as f32).collect())
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

/// Stationary Gaussian noise with a given power per STFT bin, as samples: independent
/// complex Gaussian frames through the streaming inverse STFT (plan and buffers made once).
pub struct NoiseStream {
    /// Std per feature (re/im of each channel's bins), physical units.
    std: Vec<f32>,
    decoder: StreamDecoder,
    spectral: SpectralConfig,
    n_channels: usize,
    rng: ChaCha8Rng,
    frame: Vec<f32>,
    scratch: Vec<f32>,
}

impl NoiseStream {
    /// Noise whose frames have std `residual × norm.std` per feature (none in features fitted
    /// as constant); seeded.
    pub fn new(
        residual: &[f32],
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
        Ok(Self {
            frame: vec![0.0; std.len()],
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
            for (v, s) in self.frame.iter_mut().zip(&self.std) {
                let e: f32 = StandardNormal.sample(&mut self.rng);
                *v = s * e;
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
        let mut noise = NoiseStream::new(&residual, &norm, &sp, 1, 3).unwrap();
        let p = noise.emitted_power(20_000, 360.0).unwrap();
        let total: f64 = p.iter().sum();
        let near: f64 = p[9..=11].iter().sum();
        assert!(near > 0.95 * total, "bin 10 ± 1 holds {near} of {total}");
        let mut louder = NoiseStream::new(&residual, &norm, &sp, 1, 3).unwrap();
        louder.scale_bins(&vec![2.0; p.len()]);
        let q = louder.emitted_power(20_000, 360.0).unwrap();
        let ratio = q[10] / p[10];
        assert!((ratio - 4.0).abs() < 0.01, "power ratio {ratio}");
    }

    #[test]
    fn constant_features_get_no_noise_and_bad_residuals_are_refused() {
        let (mut norm, sp) = setup();
        norm.mean[1] = 0.0;
        norm.std[1] = 1.0;
        let mut residual = vec![0.0; norm.n_features()];
        residual[1] = 1.0;
        let mut noise = NoiseStream::new(&residual, &norm, &sp, 1, 3).unwrap();
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
