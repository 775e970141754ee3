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

use super::cholesky::cholesky;
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
    /// How the channels' residuals correlate in each bin ([`Coupling`]); `None` for one
    /// channel.
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

/// Sums over residual frames: squares per feature, and per bin the real part of every
/// channel pair's cross-power in physical units.
struct Accumulator<'a> {
    sum: Vec<f64>,
    cross: Vec<f64>,
    n_bins: usize,
    n_channels: usize,
    scale: &'a [f32],
    frames: usize,
}

impl<'a> Accumulator<'a> {
    fn new(f: usize, n_bins: usize, scale: &'a [f32]) -> Self {
        let n_channels = f / (2 * n_bins).max(1);
        Self {
            sum: vec![0.0; f],
            cross: vec![0.0; n_bins * n_channels * n_channels],
            n_bins,
            n_channels,
            scale,
            frames: 0,
        }
    }

    fn add(&mut self, frame: &[f32]) {
        for (s, v) in self.sum.iter_mut().zip(frame) {
            *s += f64::from(v * v);
        }
        let (nb, nc) = (self.n_bins, self.n_channels);
        let phys = |c: usize, k: usize, p: usize| {
            let i = 2 * (c * nb + k) + p;
            f64::from(frame[i] * self.scale[i])
        };
        for k in 0..nb {
            let m = &mut self.cross[k * nc * nc..(k + 1) * nc * nc];
            for a in 0..nc {
                let (ra, ia) = (phys(a, k, 0), phys(a, k, 1));
                for b in 0..=a {
                    m[a * nc + b] += ra * phys(b, k, 0) + ia * phys(b, k, 1);
                }
            }
        }
        self.frames += 1;
    }

    fn finish(self) -> Result<Residual> {
        if self.frames == 0 {
            return Err(crate::Error::BadInput(
                "decoder noise: no training windows".into(),
            ));
        }
        let n = self.frames as f64;
        let std = self.sum.iter().map(|s| (s / n).sqrt() as f32).collect();
        let nc = self.n_channels;
        let coupling = (nc > 1).then(|| {
            self.cross
                .chunks_exact(nc * nc)
                .flat_map(|m| {
                    let power = |a: usize| m[a * nc + a];
                    (1..nc).flat_map(move |a| {
                        (0..a).map(move |b| {
                            let d = (power(a) * power(b)).sqrt();
                            if d > 0.0 {
                                round_to_thousandths((m[a * nc + b] / d).clamp(-1.0, 1.0))
                            } else {
                                0.0
                            }
                        })
                    })
                })
                .collect()
        });
        Ok(Residual { std, coupling })
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

/// A correlation to three decimals: far finer than its estimate from a few minutes of
/// training data, and a third of the characters in the checkpoint's config (19 channels
/// hold 11 115 of them).
fn round_to_thousandths(r: f64) -> f32 {
    ((r * 1000.0).round() / 1000.0) as f32
}

/// Checks a saved coupling: per bin, one correlation in [−1, 1] per channel pair (the lower
/// triangle, row-major: (1, 0), (2, 0), (2, 1), …).
pub fn check_coupling(
    coupling: &[f32],
    n_bins: usize,
    n_channels: usize,
) -> std::result::Result<(), String> {
    let want = n_bins * pairs(n_channels);
    if coupling.len() != want {
        return Err(format!(
            "decoder_noise_coupling: {} values for {n_bins} bins × {} channel pairs",
            coupling.len(),
            pairs(n_channels)
        ));
    }
    match coupling.iter().find(|v| !(-1.0..=1.0).contains(*v)) {
        Some(v) => Err(format!("decoder_noise_coupling: {v} is not a correlation")),
        None => Ok(()),
    }
}

fn pairs(n_channels: usize) -> usize {
    n_channels * n_channels.saturating_sub(1) / 2
}

/// Per bin, the lower Cholesky factor (`nc × nc`, row-major) of the channels' correlation
/// matrix, each row scaled to unit length so every channel keeps its own power.
fn mixing(coupling: &[f32], n_bins: usize, nc: usize) -> Vec<f32> {
    let per_bin = pairs(nc);
    (0..n_bins)
        .flat_map(|k| {
            let r = &coupling[k * per_bin..(k + 1) * per_bin];
            let mut l = cholesky(nc, |a, b| match a == b {
                true => 1.0,
                false => f64::from(r[a * (a - 1) / 2 + b]),
            });
            for row in l.chunks_exact_mut(nc) {
                let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
                row.iter_mut()
                    .for_each(|v| *v /= norm.max(f64::MIN_POSITIVE));
            }
            l.into_iter().map(|v| v as f32)
        })
        .collect()
}

/// Stationary Gaussian noise with a given power per STFT bin, as samples: complex Gaussian
/// frames, independent in time and, without a coupling, between channels, through the
/// streaming inverse STFT (plan and buffers made once).
pub struct NoiseStream {
    /// Std per feature (re/im of each channel's bins), physical units.
    std: Vec<f32>,
    /// Per bin, how independent draws are mixed across channels ([`mixing`]); empty:
    /// channels independent.
    mix: Vec<f32>,
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
    /// [`check_coupling`]; `None`: independent); seeded.
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
        let mix = match coupling {
            Some(c) if n_channels > 1 => mixing(c, n_bins, n_channels),
            _ => Vec::new(),
        };
        Ok(Self {
            frame: vec![0.0; std.len()],
            draws: vec![0.0; if mix.is_empty() { 0 } else { std.len() }],
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
            if self.mix.is_empty() {
                for (v, s) in self.frame.iter_mut().zip(&self.std) {
                    let e: f32 = StandardNormal.sample(&mut self.rng);
                    *v = s * e;
                }
            } else {
                self.mixed_frame();
            }
            self.decoder.push(&self.frame)?;
        }
        self.scratch.resize(out.len(), 0.0);
        self.decoder.pull(&mut self.scratch, len);
        out.iter_mut().zip(&self.scratch).for_each(|(o, n)| *o += n);
        Ok(())
    }

    /// One frame of draws mixed across channels bin by bin: channel `c` of bin `k` gets
    /// `Σ_{d ≤ c} L_k[c, d] · ε_d` (re and im alike), then its std.
    fn mixed_frame(&mut self) {
        for e in self.draws.iter_mut() {
            *e = StandardNormal.sample(&mut self.rng);
        }
        let nc = self.n_channels;
        let nb = self.std.len() / (2 * nc);
        for (k, l) in self.mix.chunks_exact(nc * nc).enumerate() {
            for (c, row) in l.chunks_exact(nc).enumerate() {
                for p in 0..2 {
                    let at = |d: usize| 2 * (d * nb + k) + p;
                    let v: f32 = (0..=c).map(|d| row[d] * self.draws[at(d)]).sum();
                    self.frame[at(c)] = self.std[at(c)] * v;
                }
            }
        }
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
        assert!(check_coupling(&vec![0.8; n_bins], n_bins, 2).is_ok());
        let short = check_coupling(&[0.8; 3], n_bins, 2).unwrap_err();
        assert!(short.contains("channel pairs"), "{short}");
        let mut bad = vec![0.8; n_bins];
        bad[4] = 1.5;
        assert!(check_coupling(&bad, n_bins, 2).is_err());
        bad[4] = f32::NAN;
        assert!(check_coupling(&bad, n_bins, 2).is_err());
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
