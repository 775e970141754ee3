//! Fine-resolution spectral equalisation of a VAE's output.
//!
//! The per-bin gains (`model::vae_gen`) match the output's power in each STFT bin, but a
//! bin is wide (5.6 Hz for the ECG models' 64-point frames at 360 Hz) and what lies inside
//! it is left to the decoder: on MIT-BIH 208 the decoded beats had 0.5–3 Hz (T waves, the
//! broad premature ventricular complexes) 3–5 dB low and slow baseline wander high, so the
//! output's std, skewness and kurtosis gave it away. `train` saves the training signals'
//! mean log Welch PSD per channel ([`SpectrumTarget`], about 0.35 Hz resolution); at load
//! the generator measures its own output the same way and filters it by a linear-phase FIR
//! (`dsp::fir`) whose response is the square root of the ratio, divided by its geometric
//! mean over each STFT bin's band: it corrects the shape inside a bin and leaves each bin's
//! level to the gains (an equaliser that set levels too, from its shorter measurement,
//! overshot one held-out fold by 1–2 dB). Log spectra are averaged, not powers, so an
//! artefact in the training record does not set the target.

use crate::dsp::fir;
use crate::eval::psd::Welch;
use serde::{Deserialize, Serialize};

/// Least and most Welch segment length (samples) a checkpoint may declare.
const NPERSEG: std::ops::RangeInclusive<usize> = 16..=16384;
/// Segments of 50 % overlap per measured window: each window's PSD is a 3-segment Welch
/// estimate, and windows' log PSDs are averaged.
const WINDOW_SEGMENTS: usize = 2;
/// Bound on the equaliser's amplitude gain either way (≈ ±9.5 dB).
const MAX_EQ: f32 = 3.0;
/// Added to PSDs before the log (units²/Hz), so silent bins stay finite.
const FLOOR: f64 = 1e-20;

/// The training signals' mean log PSD per channel; saved in a VAE checkpoint's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectrumTarget {
    /// Welch segment length, samples (a power of two, about 2 s).
    pub nperseg: usize,
    /// Mean natural-log PSD, `channels × (nperseg / 2 + 1)`, row-major.
    pub log_psd: Vec<f32>,
}

impl SpectrumTarget {
    /// The target of `signals` (channels of equal length) at `fs`; `None` if they are
    /// shorter than one measuring window.
    pub fn of_signals(signals: &[Vec<f32>], fs: f64) -> Option<Self> {
        let mut acc = LogPsd::new(nperseg(fs), signals.len());
        let len = acc.window_len();
        let n = signals.iter().map(Vec::len).min().unwrap_or(0);
        let mut window = vec![0f32; len * signals.len()];
        for start in (0..n / len).map(|w| w * len) {
            for (dst, s) in window.chunks_exact_mut(len).zip(signals) {
                dst.copy_from_slice(&s[start..start + len]);
            }
            acc.add(&window, fs);
        }
        acc.mean().map(|m| SpectrumTarget {
            nperseg: acc.nperseg,
            log_psd: m.into_iter().map(|v| v as f32).collect(),
        })
    }

    /// Joins targets of several records (same rate and channels) by averaging.
    pub fn mean_of(targets: &[SpectrumTarget]) -> Option<Self> {
        let first = targets.first()?;
        let len = first.log_psd.len();
        let same: Vec<&SpectrumTarget> = targets
            .iter()
            .filter(|t| t.log_psd.len() == len && t.nperseg == first.nperseg)
            .collect();
        let mut sum = vec![0f32; len];
        for t in &same {
            sum.iter_mut().zip(&t.log_psd).for_each(|(s, v)| *s += v);
        }
        let n = same.len() as f32;
        Some(SpectrumTarget {
            nperseg: first.nperseg,
            log_psd: sum.into_iter().map(|s| s / n).collect(),
        })
    }

    /// Segment length a power of two in range and `channels × bins` finite values (the
    /// config comes from a file).
    pub fn check(&self, channels: usize) -> std::result::Result<(), String> {
        if !self.nperseg.is_power_of_two() || !NPERSEG.contains(&self.nperseg) {
            return Err(format!(
                "spectrum.nperseg: {} is not a power of two from {} to {}",
                self.nperseg,
                NPERSEG.start(),
                NPERSEG.end()
            ));
        }
        let want = channels * (self.nperseg / 2 + 1);
        if self.log_psd.len() != want || self.log_psd.iter().any(|v| !v.is_finite()) {
            return Err(format!(
                "spectrum.log_psd: {} values, need {want} finite ones ({channels} channels)",
                self.log_psd.len()
            ));
        }
        Ok(())
    }

    /// One FIR kernel per channel taking output whose mean log PSD is `emitted` (as
    /// [`LogPsd::mean`]) to this target's shape within each band of `band` bins (an STFT
    /// bin's width: the per-bin gains already set each band's level, from more output):
    /// amplitude `exp((target − emitted) / 2)` divided by its geometric mean over the band,
    /// bounded by `MAX_EQ`; the DC bin (removed by the segments' detrending) follows its
    /// neighbour.
    pub fn kernels(&self, emitted: &[f64], band: usize) -> Vec<Vec<f32>> {
        let bins = self.nperseg / 2 + 1;
        self.log_psd
            .chunks_exact(bins)
            .zip(emitted.chunks_exact(bins))
            .map(|(t, e)| {
                let mut r: Vec<f64> = t
                    .iter()
                    .zip(e)
                    .map(|(&t, &e)| (f64::from(t) - e) / 2.0)
                    .collect();
                r[0] = r[1];
                centre_bands(&mut r, band);
                let g: Vec<f32> = r
                    .iter()
                    .map(|&v| {
                        let g = v.exp() as f32;
                        if g.is_finite() {
                            g.clamp(1.0 / MAX_EQ, MAX_EQ)
                        } else {
                            1.0
                        }
                    })
                    .collect();
                fir::design(&g)
            })
            .collect()
    }
}

/// Subtracts from each band of `band` values (those nearest STFT bin k: (k − ½)·band to
/// (k + ½)·band) its mean: log gains whose geometric mean over every band is 1.
fn centre_bands(r: &mut [f64], band: usize) {
    let band = band.max(1);
    let mut start = 0;
    while start < r.len() {
        let end = (start + band / 2 + usize::from(start > 0) * (band - band / 2))
            .min(r.len())
            .max(start + 1);
        let mean = r[start..end].iter().sum::<f64>() / (end - start) as f64;
        r[start..end].iter_mut().for_each(|v| *v -= mean);
        start = end;
    }
}

/// Welch segment length at `fs`: about 2 s, a power of two (as `biowave eval` uses).
pub fn nperseg(fs: f64) -> usize {
    ((2.0 * fs) as usize)
        .next_power_of_two()
        .clamp(*NPERSEG.start(), *NPERSEG.end())
}

/// Running mean of per-window log Welch PSDs, per channel.
pub struct LogPsd {
    nperseg: usize,
    welch: Welch,
    sum: Vec<f64>,
    windows: usize,
}

impl LogPsd {
    /// An empty accumulator for `channels` channels and segments of `nperseg`.
    pub fn new(nperseg: usize, channels: usize) -> Self {
        LogPsd {
            nperseg,
            welch: Welch::new(nperseg),
            sum: vec![0.0; channels * (nperseg / 2 + 1)],
            windows: 0,
        }
    }

    /// Samples per channel of one measured window.
    pub fn window_len(&self) -> usize {
        WINDOW_SEGMENTS * self.nperseg
    }

    /// Adds one window, `window_len()` samples per channel, channel-major.
    pub fn add(&mut self, x: &[f32], fs: f64) {
        let (bins, len) = (self.nperseg / 2 + 1, self.window_len());
        for (s, ch) in self.sum.chunks_exact_mut(bins).zip(x.chunks_exact(len)) {
            for (s, p) in s.iter_mut().zip(self.welch.psd(ch, fs)) {
                *s += (p + FLOOR).ln();
            }
        }
        self.windows += 1;
    }

    /// The mean log PSD, `channels × bins`; `None` before any window.
    pub fn mean(&self) -> Option<Vec<f64>> {
        let n = self.windows as f64;
        (self.windows > 0).then(|| self.sum.iter().map(|s| s / n).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// White noise equalised towards the shape of noise with a low band up to 7 dB louder
    /// gets that shape, within a dB.
    #[test]
    fn the_kernel_moves_a_spectrum_to_its_target() {
        let fs = 128.0;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut white =
            |n: usize| -> Vec<f32> { (0..n).map(|_| StandardNormal.sample(&mut rng)).collect() };
        let n = 128 * 600;
        // Target: white noise plus a copy low-passed below ~16 Hz (moving average of 4).
        let w = white(n + 4);
        let low: Vec<f32> = (0..n)
            .map(|i| w[i + 4] + w[i..i + 4].iter().sum::<f32>() / 4.0 * 2.0)
            .collect();
        let target = SpectrumTarget::of_signals(std::slice::from_ref(&low), fs).unwrap();
        target.check(1).unwrap();
        assert!(target.check(2).is_err());
        let x = white(n);
        let emitted = SpectrumTarget::of_signals(std::slice::from_ref(&x), fs).unwrap();
        let e: Vec<f64> = emitted.log_psd.iter().map(|&v| f64::from(v)).collect();
        // One band over the whole spectrum: the shape is matched, the level left alone.
        let k = target.kernels(&e, usize::MAX / 4);
        let mut f = fir::FirStream::new(&k).unwrap();
        let m = f.chunk_len();
        for c in x.chunks_exact(m) {
            f.push(c);
        }
        let len = f.available();
        let mut y = vec![0f32; len];
        f.pull(&mut y, len);
        let out = SpectrumTarget::of_signals(&[y], fs).unwrap();
        let db = |a: &SpectrumTarget, i: usize| {
            10.0 * (a.log_psd[i] - target.log_psd[i]) / std::f32::consts::LN_10
        };
        let bins = target.log_psd.len();
        let level = (2..bins - 2).map(|i| db(&out, i)).sum::<f32>() / (bins - 4) as f32;
        for i in (2..bins - 2).step_by(8) {
            let d = db(&out, i) - level;
            assert!(d.abs() < 1.0, "bin {i}: {d:.2} dB off the target's shape");
        }
        let gap = db(&emitted, bins - 3) - db(&emitted, 8);
        assert!(gap > 3.0, "the test needs a shape to correct: {gap:.2} dB");
    }
}
