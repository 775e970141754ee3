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
//! - Below ~0.7 Hz a 2 s segment sees nothing. With a fine low band ([`LowTarget`], `train
//!   --fine-eq HZ`: the log of the records' mean power over 16 s segments up to HZ) the
//!   kernel is as long as those segments and sets level and shape there, beat-aligned or
//!   not: `ecg-sinus-vae` had +3.8 dB at 0.05–0.3 Hz and −4.4 dB at 0.3–0.7 Hz against
//!   MIT-BIH 100, and with `--fine-eq 4` scores 0.827 against it (0.886 without), held out
//!   0.882 (0.957); matched in mean log instead, 0.932.
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
/// Seconds of output measured for an equaliser with a [`LowTarget`]: its windows are
/// ~45 s at 360 Hz, so twenty minutes give ~26 of them (about 0.3 dB of noise per fine bin).
#[cfg(not(fuzzing))]
pub const LOW_SECONDS: f64 = 1200.0;
#[cfg(fuzzing)]
pub const LOW_SECONDS: f64 = 8.0;
/// Least and most Welch segment length (samples) a checkpoint may declare.
const NPERSEG: std::ops::RangeInclusive<usize> = 16..=16384;
/// Seconds per Welch segment of a [`LowTarget`] (rounded up to a power of two in samples).
const LOW_SEGMENT_S: f64 = 16.0;
/// Fine bins averaged (a centred moving mean) in a [`LowTarget`]'s correction, so each
/// bin's measuring noise is not cut into the kernel.
const LOW_SMOOTH: usize = 5;
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
    /// The same below a few Hz at ~0.05 Hz resolution (`train --fine-eq`), matched in level
    /// and shape there: what a 2 s segment cannot resolve (baseline, T-wave power).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<LowTarget>,
    /// Set at load, never saved: a zero-phase high-pass (a second-order Butterworth run
    /// forward and back) at this many bins folded into the kernels, the output's own
    /// content below it given way to a replayed baseline (`model::wander`).
    #[serde(skip)]
    pub highpass_bins: Option<f64>,
}

/// The log of the training signals' mean power over long Welch segments, its lowest bins
/// only (`train --fine-eq`): mean power, not mean log, as a record's slow changes from
/// window to window are part of what a window's power shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LowTarget {
    /// Welch segment length, samples (a power of two, about 16–32 s).
    pub nperseg: usize,
    /// The band matched, 0 Hz to this (the kernel blends back to the coarse one above 3/4
    /// of it).
    pub below_hz: f32,
    /// Natural log of the mean PSD of bins 0 … `bins − 1`, `channels × bins`, row-major.
    pub log_psd: Vec<f32>,
}

impl LowTarget {
    /// The target of `signals` at `fs` from 0 to `below_hz`; `None` if they are shorter than
    /// one measuring window (two segments, 45 s at 360 Hz) or `below_hz` holds under two
    /// bins.
    pub fn of_signals(signals: &[Vec<f32>], fs: f64, below_hz: f64) -> Option<Self> {
        let nperseg = low_nperseg(fs);
        let bins = ((below_hz * nperseg as f64 / fs) as usize + 1).min(nperseg / 2 + 1);
        if bins < 2 {
            return None;
        }
        let acc = measured(signals, fs, LogPsd::of_powers(nperseg, signals.len()));
        Some(LowTarget {
            nperseg,
            below_hz: below_hz as f32,
            log_psd: acc
                .mean_below(bins)?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        })
    }

    /// Fine bins per channel.
    pub fn bins(&self, channels: usize) -> usize {
        self.log_psd.len() / channels.max(1)
    }

    /// As [`SpectrumTarget::check`], and at least two bins per channel, no more than a
    /// segment has.
    fn check(&self, channels: usize) -> std::result::Result<(), String> {
        check_nperseg(self.nperseg, "spectrum.low.nperseg")?;
        let bins = self.bins(channels);
        let ok = channels > 0
            && (2..=self.nperseg / 2 + 1).contains(&bins)
            && self.log_psd.len() == channels * bins
            && self.log_psd.iter().all(|v| v.is_finite())
            && self.below_hz.is_finite()
            && self.below_hz > 0.0;
        match ok {
            true => Ok(()),
            false => Err(format!(
                "spectrum.low: {} values, below_hz {}: need 2 to {} finite ones per channel \
                 ({channels} channels) and a positive band",
                self.log_psd.len(),
                self.below_hz,
                self.nperseg / 2 + 1
            )),
        }
    }

    /// Log amplitude gains on this band's segment grid (`nperseg / 2 + 1` bins): the fine
    /// correction `(t − e) / 2`, smoothed, up to 3/4 of the band; the coarse `r` (on a
    /// grid of `coarse_nperseg`) interpolated above the band; linearly between.
    fn blend(&self, r: &[f64], coarse_nperseg: usize, t: &[f32], e: &[f64]) -> Vec<f64> {
        let fine = smoothed(&half_log_ratio(t, e), LOW_SMOOTH);
        let step = coarse_nperseg as f64 / self.nperseg as f64;
        let top = (fine.len() - 1) as f64;
        let knee = 0.75 * top;
        (0..self.nperseg / 2 + 1)
            .map(|k| {
                let x = k as f64 * step;
                let (j, frac) = (x.floor() as usize, x.fract());
                let c = match r.get(j + 1) {
                    Some(&next) => r[j] * (1.0 - frac) + next * frac,
                    None => r[r.len() - 1],
                };
                let w = ((top - k as f64) / (top - knee).max(1.0)).clamp(0.0, 1.0);
                match fine.get(k) {
                    Some(&f) => w * f + (1.0 - w) * c,
                    None => c,
                }
            })
            .collect()
    }
}

impl SpectrumTarget {
    /// The target of `signals` (channels of equal length) at `fs`; `None` if they are
    /// shorter than one measuring window.
    pub fn of_signals(signals: &[Vec<f32>], fs: f64) -> Option<Self> {
        let nperseg = nperseg(fs);
        let acc = measured(signals, fs, LogPsd::new(nperseg, signals.len()));
        acc.mean().map(|m| SpectrumTarget {
            nperseg,
            log_psd: m.into_iter().map(|v| v as f32).collect(),
            low: None,
            highpass_bins: None,
        })
    }

    /// This target with `low` as its fine low band.
    pub fn with_low(self, low: Option<LowTarget>) -> Self {
        SpectrumTarget { low, ..self }
    }

    /// The target whose kernels also high-pass at `hz` (see `highpass_bins`) at `fs`.
    pub fn with_highpass(self, hz: f64, fs: f64) -> Self {
        let bins = hz * self.nperseg as f64 / fs;
        SpectrumTarget {
            highpass_bins: Some(bins),
            ..self
        }
    }

    /// Joins targets of several records (same rate and channels) by averaging; the fine
    /// low band is the mean of those records that have one.
    pub fn mean_of(targets: &[SpectrumTarget]) -> Option<Self> {
        let first = targets.first()?;
        let same = |t: &&SpectrumTarget| t.nperseg == first.nperseg;
        let log_psd = mean_logs(targets.iter().filter(same).map(|t| &t.log_psd[..]))?;
        let lows: Vec<&LowTarget> = targets.iter().filter_map(|t| t.low.as_ref()).collect();
        let low = lows.first().and_then(|l0| {
            let same = |l: &&&LowTarget| l.nperseg == l0.nperseg && l.below_hz == l0.below_hz;
            Some(LowTarget {
                log_psd: mean_logs(lows.iter().filter(same).map(|l| &l.log_psd[..]))?,
                ..(*l0).clone()
            })
        });
        Some(SpectrumTarget {
            nperseg: first.nperseg,
            log_psd,
            low,
            highpass_bins: None,
        })
    }

    /// Segment length a power of two in range and `channels × bins` finite values (the
    /// config comes from a file); the same of the fine low band.
    pub fn check(&self, channels: usize) -> std::result::Result<(), String> {
        check_nperseg(self.nperseg, "spectrum.nperseg")?;
        let want = channels * (self.nperseg / 2 + 1);
        if self.log_psd.len() != want || self.log_psd.iter().any(|v| !v.is_finite()) {
            return Err(format!(
                "spectrum.log_psd: {} values, need {want} finite ones ({channels} channels)",
                self.log_psd.len()
            ));
        }
        match &self.low {
            Some(l) if l.nperseg < self.nperseg => Err(format!(
                "spectrum.low.nperseg: {} is shorter than spectrum.nperseg {}",
                l.nperseg, self.nperseg
            )),
            Some(l) => l.check(channels),
            None => Ok(()),
        }
    }

    /// One FIR kernel per channel taking output whose mean log PSD is `emitted` (as
    /// [`LogPsd::mean`]) to this target: amplitude `exp((target − emitted) / 2)` at every
    /// bin, or with `band` divided by its geometric mean over each band of that many bins
    /// (an STFT bin's width: shape only, the per-bin gains keep each band's level).
    /// Bounded by `MAX_EQ`; the DC bin (removed by the segments' detrending) follows its
    /// neighbour. With a fine low band and `emitted_low` (its bins measured as it was), the
    /// kernel is as long as its segments and matches it below `below_hz`, levels included.
    pub fn kernels(
        &self,
        emitted: &[f64],
        emitted_low: Option<&[f64]>,
        band: Option<usize>,
    ) -> Vec<Vec<f32>> {
        let bins = self.nperseg / 2 + 1;
        let coarse = self
            .log_psd
            .chunks_exact(bins)
            .zip(emitted.chunks_exact(bins))
            .map(|(t, e)| {
                let mut r = half_log_ratio(t, e);
                if let Some(band) = band {
                    centre_bands(&mut r, band);
                }
                r
            });
        match (&self.low, emitted_low) {
            (Some(low), Some(el)) => {
                let lb = low.bins(emitted.len() / bins);
                let fine = low.log_psd.chunks_exact(lb).zip(el.chunks_exact(lb));
                coarse
                    .zip(fine)
                    .map(|(r, (t, e))| self.design(bounded(&low.blend(&r, self.nperseg, t, e))))
                    .collect()
            }
            _ => coarse.map(|r| self.design(bounded(&r))).collect(),
        }
    }

    /// The kernel of amplitude gains `g` (bins of `fs / nperseg`, or finer: their count
    /// says), times the high-pass where one is set.
    fn design(&self, mut g: Vec<f32>) -> Vec<f32> {
        if let Some(hb) = self.highpass_bins.filter(|&b| b > 0.0) {
            let per_bin = (g.len().saturating_sub(1)) as f64 / (self.nperseg / 2) as f64;
            for (k, v) in g.iter_mut().enumerate() {
                let x = (k as f64 / per_bin / hb).powi(4);
                *v *= (x / (1.0 + x)) as f32;
            }
        }
        fir::design(&g)
    }
}

/// `(t − e) / 2` per bin, the DC bin (removed by the segments' detrending) following its
/// neighbour: the log amplitude taking a spectrum `e` to `t`.
fn half_log_ratio(t: &[f32], e: &[f64]) -> Vec<f64> {
    let mut r: Vec<f64> = t
        .iter()
        .zip(e)
        .map(|(&t, &e)| (f64::from(t) - e) / 2.0)
        .collect();
    if r.len() > 1 {
        r[0] = r[1];
    }
    r
}

/// Amplitude gains `exp(r)` bounded by `MAX_EQ` either way (1 where not finite).
fn bounded(r: &[f64]) -> Vec<f32> {
    r.iter()
        .map(|&v| {
            let g = v.exp() as f32;
            if g.is_finite() {
                g.clamp(1.0 / MAX_EQ, MAX_EQ)
            } else {
                1.0
            }
        })
        .collect()
}

/// A centred moving mean over `n` values (fewer at the ends).
fn smoothed(r: &[f64], n: usize) -> Vec<f64> {
    let h = n / 2;
    (0..r.len())
        .map(|i| {
            let s = &r[i.saturating_sub(h)..(i + h + 1).min(r.len())];
            s.iter().sum::<f64>() / s.len() as f64
        })
        .collect()
}

/// The element-wise mean of the slices as long as the first; `None` if there are none.
fn mean_logs<'a>(mut logs: impl Iterator<Item = &'a [f32]>) -> Option<Vec<f32>> {
    let first = logs.next()?;
    let mut sum = first.to_vec();
    let mut n = 1.0;
    for l in logs.filter(|l| l.len() == first.len()) {
        sum.iter_mut().zip(l).for_each(|(s, v)| *s += v);
        n += 1.0;
    }
    Some(sum.into_iter().map(|s| s / n).collect())
}

/// `acc` after measuring `signals` (equal length) at `fs` window after window.
fn measured(signals: &[Vec<f32>], fs: f64, mut acc: LogPsd) -> LogPsd {
    let len = acc.window_len();
    let n = signals.iter().map(Vec::len).min().unwrap_or(0);
    let mut window = vec![0f32; len * signals.len()];
    for start in (0..n / len).map(|w| w * len) {
        for (dst, s) in window.chunks_exact_mut(len).zip(signals) {
            dst.copy_from_slice(&s[start..start + len]);
        }
        acc.add(&window, fs);
    }
    acc
}

/// `nperseg` a power of two within `NPERSEG`, else an error naming `field`.
fn check_nperseg(nperseg: usize, field: &str) -> std::result::Result<(), String> {
    match nperseg.is_power_of_two() && NPERSEG.contains(&nperseg) {
        true => Ok(()),
        false => Err(format!(
            "{field}: {nperseg} is not a power of two from {} to {}",
            NPERSEG.start(),
            NPERSEG.end()
        )),
    }
}

/// The kernels taking a generator's output to `target` (`band` as in
/// [`SpectrumTarget::kernels`]): `seconds` of it at `fs` (`LOW_SECONDS` at least with a
/// fine low band) are measured as the target was, `next` filling one channel-major window
/// of `channels` channels at a time (its calibration draws, not a stream's); empty if
/// `seconds` hold no window.
pub fn calibrate(
    target: &SpectrumTarget,
    channels: usize,
    fs: f64,
    seconds: f64,
    band: Option<usize>,
    mut next: impl FnMut(&mut [f32]) -> crate::Result<()>,
) -> crate::Result<Vec<Vec<f32>>> {
    let mut psd = LogPsd::new(target.nperseg, channels);
    let mut low = target
        .low
        .as_ref()
        .map(|l| LogPsd::of_powers(l.nperseg, channels));
    let clen = psd.window_len();
    let seconds = low.as_ref().map_or(seconds, |_| seconds.max(LOW_SECONDS));
    let len = low.as_ref().map_or(clen, |l| l.window_len().max(clen));
    let (mut window, mut part) = (vec![0f32; len * channels], vec![0f32; clen * channels]);
    for _ in 0..((seconds * fs) as usize / len).max(1) {
        next(&mut window)?;
        if let Some(l) = &mut low {
            l.add(&window, fs);
        }
        for k in 0..len / clen {
            for (dst, ch) in part.chunks_exact_mut(clen).zip(window.chunks_exact(len)) {
                dst.copy_from_slice(&ch[k * clen..(k + 1) * clen]);
            }
            psd.add(&part, fs);
        }
    }
    let low = low
        .zip(target.low.as_ref())
        .and_then(|(l, t)| l.mean_below(t.bins(channels)));
    Ok(psd
        .mean()
        .map_or_else(Vec::new, |e| target.kernels(&e, low.as_deref(), band)))
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

/// Welch segment length of a [`LowTarget`] at `fs`: `LOW_SEGMENT_S`, a power of two.
pub fn low_nperseg(fs: f64) -> usize {
    ((LOW_SEGMENT_S * fs) as usize)
        .next_power_of_two()
        .clamp(*NPERSEG.start(), *NPERSEG.end())
}

/// Welch segment length at `fs`: about 2 s, a power of two (as `biowave eval` uses).
pub fn nperseg(fs: f64) -> usize {
    ((2.0 * fs) as usize)
        .next_power_of_two()
        .clamp(*NPERSEG.start(), *NPERSEG.end())
}

/// Running mean of per-window log Welch PSDs, per channel (or the log of their mean
/// powers: [`LogPsd::of_powers`]).
pub struct LogPsd {
    nperseg: usize,
    welch: Welch,
    sum: Vec<f64>,
    windows: usize,
    powers: bool,
}

impl LogPsd {
    /// An empty accumulator for `channels` channels and segments of `nperseg`.
    pub fn new(nperseg: usize, channels: usize) -> Self {
        LogPsd {
            nperseg,
            welch: Welch::new(nperseg),
            sum: vec![0.0; channels * (nperseg / 2 + 1)],
            windows: 0,
            powers: false,
        }
    }

    /// As [`LogPsd::new`], its mean the log of the windows' mean power: the fine low band's
    /// measure, where a record's slow changes from window to window are part of its power.
    pub fn of_powers(nperseg: usize, channels: usize) -> Self {
        LogPsd {
            powers: true,
            ..LogPsd::new(nperseg, channels)
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
                *s += if self.powers { p } else { (p + FLOOR).ln() };
            }
        }
        self.windows += 1;
    }

    /// The mean log PSD, `channels × bins`; `None` before any window.
    pub fn mean(&self) -> Option<Vec<f64>> {
        let n = self.windows as f64;
        let mean = |s: &f64| match self.powers {
            true => (s / n + FLOOR).ln(),
            false => s / n,
        };
        (self.windows > 0).then(|| self.sum.iter().map(mean).collect())
    }

    /// [`Self::mean`] of each channel's first `keep` bins only (a fine low band's).
    pub fn mean_below(&self, keep: usize) -> Option<Vec<f64>> {
        let bins = self.nperseg / 2 + 1;
        let m = self.mean()?;
        Some(
            m.chunks_exact(bins)
                .flat_map(|c| c[..keep.min(bins)].iter().copied())
                .collect(),
        )
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
        let mut f = fir::FirStream::new(&target.kernels(&e, None, band)).unwrap();
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

    /// The fine low band: white noise equalised towards noise with a slow wander (a
    /// 2 s moving mean, below ~0.5 Hz, all within the coarse segments' lowest bin) gets
    /// that wander within 1.5 dB at 0.06–0.3 Hz, through `calibrate` as a generator's
    /// load runs it; the coarse kernel alone leaves it 3 to 7 dB short.
    #[test]
    fn the_low_band_brings_slow_power_to_its_target_at_fine_resolution() {
        let fs = 128.0;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut white = move |n: usize| -> Vec<f32> {
            (0..n).map(|_| StandardNormal.sample(&mut rng)).collect()
        };
        let n = 128 * 1200;
        let (w, v) = (white(n), white(n + 256));
        let wander = (0..n).map(|i| w[i] + 2.5 * v[i..i + 256].iter().sum::<f32>() / 256.0);
        let record = vec![wander.collect::<Vec<f32>>()];
        let low = LowTarget::of_signals(&record, fs, 2.0).unwrap();
        let target = SpectrumTarget::of_signals(&record, fs)
            .unwrap()
            .with_low(Some(low));
        target.check(1).unwrap();
        let slow_db = |with_low: bool, white: &mut dyn FnMut(usize) -> Vec<f32>| {
            let t = SpectrumTarget {
                low: target.low.clone().filter(|_| with_low),
                ..target.clone()
            };
            let k = calibrate(&t, 1, fs, 300.0, Some(usize::MAX / 4), |w| {
                w.copy_from_slice(&white(w.len()));
                Ok(())
            })
            .unwrap();
            let mut f = fir::FirStream::new(&k).unwrap();
            let x = white(n + 4 * k[0].len());
            for c in x.chunks_exact(f.chunk_len()) {
                f.push(c);
            }
            let mut y = vec![0f32; f.available()];
            let len = y.len();
            f.pull(&mut y, len);
            let out = LowTarget::of_signals(&[y], fs, 2.0).unwrap();
            let t = &target.low.as_ref().unwrap().log_psd;
            (1..=5)
                .map(|i| db(&out.log_psd, t, i))
                .collect::<Vec<f32>>()
        };
        let with = slow_db(true, &mut white);
        let without = slow_db(false, &mut white);
        assert!(
            with.iter().all(|d| d.abs() < 1.5),
            "with the low band: {with:.2?} dB"
        );
        assert!(
            without.iter().all(|&d| d < -3.0),
            "coarse only: {without:.2?} dB"
        );
    }

    /// A config's fine low band is untrusted: segment lengths out of range or shorter than
    /// the coarse ones, values not `channels × bins`, or no band are refused by name.
    #[test]
    fn a_hostile_low_band_is_refused() {
        let (target, _) = target_and_white();
        let low = LowTarget {
            nperseg: 2048,
            below_hz: 2.0,
            log_psd: vec![0.0; 2 * 33],
        };
        let with = |low: LowTarget| target.clone().with_low(Some(low));
        assert!(
            with(low.clone()).check(2).is_err(),
            "coarse target has one channel"
        );
        with(LowTarget {
            log_psd: vec![0.0; 33],
            ..low.clone()
        })
        .check(1)
        .unwrap();
        for bad in [
            LowTarget {
                nperseg: 128,
                ..low.clone()
            },
            LowTarget {
                nperseg: 1 << 20,
                ..low.clone()
            },
            LowTarget {
                log_psd: vec![0.0; 1],
                ..low.clone()
            },
            LowTarget {
                log_psd: vec![f32::NAN; 33],
                ..low.clone()
            },
            LowTarget {
                below_hz: -1.0,
                ..low.clone()
            },
        ] {
            let err = with(bad).check(1).unwrap_err();
            assert!(err.starts_with("spectrum.low"), "{err}");
        }
    }
}
