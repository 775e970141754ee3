//! Beat-aligned training windows for ECG: one window per detected R peak, starting a fixed
//! time before it, instead of one every `stride_s`.
//!
//! A window cut at an arbitrary phase of the rhythm holds its beats anywhere; a VAE then
//! learns beat position as a continuous latent, and a latent between two positions decodes
//! to two faint ghost beats instead of one sharp beat (low kurtosis, noisy baseline).
//! Aligned on the R peak, the first beat of every window sits at one place, so it decodes
//! sharp, and the next R peak's position in the window is the decoded RR interval, which
//! the generator's beat splicer (`dsp::beat_splice`) uses to join one cycle per window.

use super::BeatAlign;
use crate::dsp::repr::features_per_frame;
use crate::dsp::{qrs, Representation, SpectralConfig};
use crate::{Error, Result};

/// Bytes of one record's beat windows held at most (each window is its own copy of its
/// frames): past it the jitter copies go, then beats are thinned evenly, with a warning.
const RECORD_BUDGET: usize = 512 << 20;

/// One record's beat-aligned cut: `window_frames` centred STFT frames per R peak of the
/// first channel, frame 0 centred `align.pre_s` before the peak, plus copies shifted by up
/// to `align.jitter_s` either way (a little robustness to detector jitter, more examples).
/// Errors name the record by `name`.
#[derive(Clone, Copy)]
pub struct BeatCut<'a> {
    /// The record's name, for errors.
    pub name: &'a str,
    /// The record's prepared channels (R peaks are found on the first).
    pub signals: &'a [Vec<f32>],
    /// Their sample rate, Hz.
    pub fs: f64,
    /// The STFT each window is taken through.
    pub spectral: &'a SpectralConfig,
    /// Frames per window.
    pub window_frames: usize,
    /// Where each window starts before its R peak, and the jitter copies.
    pub align: &'a BeatAlign,
}

impl BeatCut<'_> {
    /// The windows, one representation each, in the order of their R peaks.
    pub fn windows(&self) -> Result<Vec<Representation>> {
        let named = |e: Error| Error::BadInput(format!("{}: {e}", self.name));
        let cuts = Cuts::of(self)?;
        let skip = cuts.lead / self.spectral.hop;
        let mut out = Vec::with_capacity(cuts.at.len());
        for &(_, s) in &cuts.at {
            let views: Vec<&[f32]> = self.signals.iter().map(|x| &x[s..s + cuts.len]).collect();
            let rep =
                Representation::from_channels(&views, self.fs, self.spectral).map_err(named)?;
            out.push(rep.keep_frames(skip, self.window_frames));
        }
        Ok(out)
    }

    /// The R peak (sample of the first channel) of each window [`BeatCut::windows`] cuts, in
    /// its order: which beat each window, and so each token of a beat-aligned codec, stands
    /// for.
    pub fn peaks(&self) -> Result<Vec<usize>> {
        Ok(Cuts::of(self)?.at.into_iter().map(|(r, _)| r).collect())
    }
}

/// Where one record's beat windows lie: (R peak, first sample) of each, in order, and the
/// samples each slice takes.
struct Cuts {
    at: Vec<(usize, usize)>,
    /// Samples before the first frame's centre (a whole number of hops).
    lead: usize,
    /// Samples per slice.
    len: usize,
}

impl Cuts {
    /// R peaks by `dsp::qrs` on the first channel, thinned to [`RECORD_BUDGET`]; errs
    /// (naming the record) where no window fits.
    fn of(cut: &BeatCut) -> Result<Cuts> {
        let BeatCut {
            name,
            signals,
            fs,
            spectral,
            window_frames,
            align,
        } = *cut;
        let named = |e: Error| Error::BadInput(format!("{name}: {e}"));
        let first = signals
            .first()
            .ok_or_else(|| Error::BadInput(format!("{name}: record has no channels")))?;
        let peaks = qrs::detect(first, fs).map_err(named)?;
        let hop = spectral.hop;
        // Slices start a whole number of hops before the window so frames land on its grid.
        let lead = (spectral.n_fft / 2).div_ceil(hop) * hop;
        let len = 2 * lead + (window_frames - 1) * hop;
        let pre = (align.pre_s * fs).round() as isize;
        let bytes = window_frames * features_per_frame(spectral, signals.len()) * 4;
        let (jitter, every) = thinning(peaks.len(), bytes, (align.jitter_s * fs).round() as isize);
        if every > 1 || jitter == 0 && align.jitter_s > 0.0 {
            tracing::warn!(
                "{name}: {} beats would need more than {} MiB of windows: \
                 keeping every {every}th beat, {} copies",
                peaks.len(),
                RECORD_BUDGET >> 20,
                2 * jitter + 1
            );
        }
        let mut at = Vec::new();
        for &r in peaks.iter().step_by(every) {
            for j in -jitter..=jitter {
                let start = r as isize - pre + j - lead as isize;
                if start >= 0 && start as usize + len <= first.len() {
                    at.push((r, start as usize));
                }
            }
        }
        if at.is_empty() {
            return Err(Error::BadInput(format!(
                "{name}: no R peak with a whole {:.2} s window around it ({} peaks detected): \
                 beat-aligned training needs ECG with beats",
                len as f64 / fs,
                peaks.len()
            )));
        }
        Ok(Cuts { at, lead, len })
    }
}

/// Jitter (samples) and beat stride that keep `beats` windows of `bytes` each within
/// [`RECORD_BUDGET`]: first without the jittered copies, then with every k-th beat.
fn thinning(beats: usize, bytes: usize, jitter: isize) -> (isize, usize) {
    let copies = (2 * jitter.max(0) + 1) as usize;
    let total = beats.saturating_mul(bytes);
    if total.saturating_mul(copies) <= RECORD_BUDGET {
        (jitter.max(0), 1)
    } else {
        (0, total.div_ceil(RECORD_BUDGET).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic "ECG": narrow Gaussian spikes every `period` samples on a flat line.
    fn spikes(n: usize, period: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let d = (i % period) as f32 - period as f32 / 2.0;
                (-d * d / 18.0).exp()
            })
            .collect()
    }

    #[test]
    fn every_window_starts_the_same_time_before_a_beat() {
        let (fs, period) = (360.0, 300);
        let x = spikes(20 * 360, period);
        let sp = SpectralConfig {
            n_fft: 64,
            hop: 16,
            ..SpectralConfig::default()
        };
        let align = BeatAlign {
            pre_s: 0.25,
            jitter_s: 0.0,
        };
        let signals = [x];
        let cut = BeatCut {
            name: "t",
            signals: &signals,
            fs,
            spectral: &sp,
            window_frames: 45,
            align: &align,
        };
        let wins = cut.windows().unwrap();
        assert_eq!(cut.peaks().unwrap().len(), wins.len());
        assert!(wins.len() >= 20, "{} windows", wins.len());
        let pre = (0.25 * fs) as usize;
        for w in &wins {
            assert_eq!(w.n_frames, 45);
            let y = &w.to_channels().unwrap()[0];
            let peak = (0..period - 50)
                .max_by(|&a, &b| y[a].total_cmp(&y[b]))
                .unwrap();
            assert!(peak.abs_diff(pre) <= 1, "peak at {peak}, expected {pre}");
        }
    }

    #[test]
    fn a_day_of_12_lead_beats_is_thinned_to_the_budget() {
        // 5-min record: all beats and copies. 24 h of 12-lead: no copies, every k-th beat.
        assert_eq!(thinning(500, 45 * 66 * 4, 3), (3, 1));
        let bytes = 45 * 12 * 66 * 4;
        let (jitter, every) = thinning(100_000, bytes, 4);
        assert_eq!(jitter, 0);
        let kept = |k: usize| 100_000usize.div_ceil(k) * bytes;
        assert!(kept(every) <= RECORD_BUDGET + bytes && kept(every - 1) > RECORD_BUDGET);
    }

    #[test]
    fn a_flat_record_has_no_beats_and_says_so() {
        let sp = SpectralConfig::default();
        let align = BeatAlign {
            pre_s: 0.25,
            jitter_s: 0.0,
        };
        let cut = BeatCut {
            name: "flat.edf",
            signals: &[vec![0.0; 3600]],
            fs: 360.0,
            spectral: &sp,
            window_frames: 20,
            align: &align,
        };
        let e = cut.windows().unwrap_err().to_string();
        assert!(e.contains("flat.edf") && e.contains("R peak"), "{e}");
    }
}
