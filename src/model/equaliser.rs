//! Fine-resolution spectral equalisation of a learned generator's output (VAEs and frame
//! transformers).
//!
//! The per-bin gains (`model::vae_gen`) match the output's power in each STFT bin, but a
//! bin is wide (5.6 Hz for the ECG models' 64-point frames at 360 Hz) and what lies inside
//! it is left to the decoder: on MIT-BIH 208 the decoded beats had 0.5–3 Hz (T waves, the
//! broad premature ventricular complexes) 3–5 dB low and slow baseline wander high, so the
//! output's std, skewness and kurtosis gave it away. `train` saves the training signals'
//! mean log Welch PSD per channel ([`SpectrumTarget`], about 0.35 Hz resolution at 360 Hz,
//! 0.5 Hz at 250 Hz); at load the generator measures 5 to 20 minutes of its own output the
//! same way and filters it by a linear-phase FIR (`dsp::fir`) whose response is the square
//! root of the ratio. Log spectra are averaged, not powers, so an artefact in the training
//! record does not set the target.
//!
//! - Models without beats (EEG): shape and level at every bin. The gains alone left each
//!   channel's spectrum 0.5–1.2 dB (rms over 0.5–40 Hz) off the training record's, the
//!   same way for every seed (the error correlates 0.8–0.94 between seeds), enough for the
//!   discriminator: `eeg-vae` held out 0.858, with levels set 0.755 (its latent
//!   transformer 0.841 → 0.763). Matching mean powers instead of mean logs measured the
//!   same on average (0.720 and 0.803).
//! - Beat-aligned models (ECG): shape only, the ratio divided by its geometric mean over
//!   each STFT bin's band, leaving levels to the gains. Their spectrum is a comb at the
//!   harmonics of their own heart rate; setting its levels towards the record's (another
//!   rate; measured with mean powers) took the ECG VAE held out from 0.785 to 0.835 and
//!   the template r of fold 3 from 0.955–0.972 to 0.925–0.946.
//! - Frame transformers (`model::transformer_gen`): shape and level, whatever the signal;
//!   their draws are over-smoothed as the VAE's decoded means are (`eeg-transformer` 3.5–3.8
//!   dB quiet, AUC 1.00 against its record; equalised 0.76–0.80, held out 0.743).
//!   The Gaussian-headed ECG frame transformer's spectrum came within 0.6 dB, its rhythm
//!   (~147 bpm) did not; the clocked codebook model now shipped as `ecg-transformer` has both.

use crate::dsp::fir;
use crate::eval::psd::Welch;
use serde::{Deserialize, Serialize};

/// Seconds of output measured to set an equaliser that sets levels: 20 minutes, ~300
/// windows of 4 s at 250 Hz. Five minutes set levels with the error of a few dozen
/// independent latents (`eeg-vae` held out 0.848 against 0.801 with 20, both with the
/// AR(1) walk at ρ 0.9 and matching mean powers); the pass costs ~0.3 s at load for
/// `eeg-vae`, once per process (`gain_cache`).
#[cfg(not(fuzzing))]
pub const LEVEL_SECONDS: f64 = 1200.0;
/// The same for a shape-only equaliser (beat-aligned models): each band's level is taken
/// out, so five minutes, ~50 windows, measure its shape.
#[cfg(not(fuzzing))]
pub const SHAPE_SECONDS: f64 = 300.0;
/// Fuzz builds only check that a scenario's checkpoints load; sanitizer-instrumented
/// decoding is ~40× slower than a release build.
#[cfg(fuzzing)]
pub const LEVEL_SECONDS: f64 = 8.0;
#[cfg(fuzzing)]
pub const SHAPE_SECONDS: f64 = 8.0;
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
    /// [`LogPsd::mean`]) to this target: amplitude `exp((target − emitted) / 2)` at every
    /// bin, or with `band` divided by its geometric mean over each band of that many bins
    /// (an STFT bin's width: shape only, the per-bin gains keep each band's level).
    /// Bounded by `MAX_EQ`; the DC bin (removed by the segments' detrending) follows its
    /// neighbour.
    pub fn kernels(&self, emitted: &[f64], band: Option<usize>) -> Vec<Vec<f32>> {
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
                if let Some(band) = band {
                    centre_bands(&mut r, band);
                }
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

/// The kernels taking a generator's output to `target` (`band` as in
/// [`SpectrumTarget::kernels`]): `seconds` of it at `fs` are measured as the target was,
/// `next` filling one channel-major window of `channels` channels at a time (its
/// calibration draws, not a stream's); empty if `seconds` hold no window.
pub fn calibrate(
    target: &SpectrumTarget,
    channels: usize,
    fs: f64,
    seconds: f64,
    band: Option<usize>,
    mut next: impl FnMut(&mut [f32]) -> crate::Result<()>,
) -> crate::Result<Vec<Vec<f32>>> {
    let mut psd = LogPsd::new(target.nperseg, channels);
    let len = psd.window_len();
    let mut window = vec![0f32; len * channels];
    for _ in 0..((seconds * fs) as usize / len).max(1) {
        next(&mut window)?;
        psd.add(&window, fs);
    }
    Ok(psd
        .mean()
        .map_or_else(Vec::new, |e| target.kernels(&e, band)))
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

    /// Target: white noise plus a copy low-passed below ~16 Hz (a moving average of 4;
    /// up to 9.5 dB louder), at 128 Hz; and white noise 3 dB louder than its high band.
    fn target_and_white() -> (SpectrumTarget, Vec<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut white =
            |n: usize| -> Vec<f32> { (0..n).map(|_| StandardNormal.sample(&mut rng)).collect() };
        let n = 128 * 600;
        let w = white(n + 4);
        let low: Vec<f32> = (0..n)
            .map(|i| w[i + 4] + w[i..i + 4].iter().sum::<f32>() / 4.0 * 2.0)
            .collect();
        let target = SpectrumTarget::of_signals(std::slice::from_ref(&low), 128.0).unwrap();
        (target, white(n).iter().map(|v| v * 1.4).collect())
    }

    /// Mean log PSDs of `x` filtered by the kernel `target.kernels(…, band)` makes for it,
    /// and of `x`.
    fn equalised(target: &SpectrumTarget, x: &[f32], band: Option<usize>) -> [Vec<f32>; 2] {
        let fs = 128.0;
        let emitted = SpectrumTarget::of_signals(&[x.to_vec()], fs).unwrap();
        let e: Vec<f64> = emitted.log_psd.iter().map(|&v| f64::from(v)).collect();
        let mut f = fir::FirStream::new(&target.kernels(&e, band)).unwrap();
        for c in x.chunks_exact(f.chunk_len()) {
            f.push(c);
        }
        let len = f.available();
        let mut y = vec![0f32; len];
        f.pull(&mut y, len);
        let out = SpectrumTarget::of_signals(&[y], fs).unwrap();
        [out.log_psd, emitted.log_psd]
    }

    /// dB from `b` to `a` at bin `i` of log spectra.
    fn db(a: &[f32], b: &[f32], i: usize) -> f32 {
        10.0 * (a[i] - b[i]) / std::f32::consts::LN_10
    }

    /// Mean dB from `b` to `a` over the bins but the two at each end.
    fn level(a: &[f32], b: &[f32]) -> f32 {
        (2..a.len() - 2).map(|i| db(a, b, i)).sum::<f32>() / (a.len() - 4) as f32
    }

    /// Shape only (one band over the whole spectrum): white noise equalised towards noise
    /// with a louder low band gets that shape within a dB, its level left alone.
    #[test]
    fn the_kernel_moves_a_spectrum_to_its_target_shape() {
        let (target, x) = target_and_white();
        target.check(1).unwrap();
        assert!(target.check(2).is_err());
        let [out, had] = equalised(&target, &x, Some(usize::MAX / 4));
        let t = &target.log_psd;
        let (now, before) = (level(&out, t), level(&had, t));
        for i in (2..t.len() - 2).step_by(8) {
            let d = db(&out, t, i) - now;
            assert!(d.abs() < 1.0, "bin {i}: {d:.2} dB off the target's shape");
        }
        let gap = db(&had, t, t.len() - 3) - db(&had, t, 8);
        assert!(gap > 3.0, "the test needs a shape to correct: {gap:.2} dB");
        assert!(
            before > 1.0 && (now - before).abs() < 0.5,
            "the level is left alone: {before:.2} → {now:.2} dB"
        );
    }

    /// Shape and level: the same noise is brought to the target within a dB at every bin.
    #[test]
    fn the_kernel_moves_a_spectrum_to_its_target_level_and_shape() {
        let (target, x) = target_and_white();
        let [out, had] = equalised(&target, &x, None);
        let t = &target.log_psd;
        for i in (2..t.len() - 2).step_by(8) {
            let d = db(&out, t, i);
            assert!(d.abs() < 1.0, "bin {i}: {d:.2} dB off the target");
        }
        let (low, high) = (db(&had, t, 8), db(&had, t, t.len() - 3));
        assert!(
            low < -3.0 && high > 2.0,
            "the test needs a level and a shape to correct: {low:.2}, {high:.2} dB"
        );
    }
}
