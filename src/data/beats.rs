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
use crate::dsp::{qrs, Representation, SpectralConfig};
use crate::{Error, Result};

/// The windows of one record: `window_frames` centred STFT frames per R peak of the first
/// channel, frame 0 centred `align.pre_s` before the peak, plus copies shifted by up to
/// `align.jitter_s` either way (a little robustness to detector jitter, more examples).
pub fn beat_windows(
    name: &str,
    signals: &[Vec<f32>],
    fs: f64,
    spectral: &SpectralConfig,
    window_frames: usize,
    align: &BeatAlign,
) -> Result<Vec<Representation>> {
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
    let jitter = (align.jitter_s * fs).round() as isize;
    let skip = lead / hop;
    let mut out = Vec::new();
    for &r in &peaks {
        for j in -jitter..=jitter {
            let start = r as isize - pre + j - lead as isize;
            if start < 0 || start as usize + len > first.len() {
                continue;
            }
            let s = start as usize;
            let views: Vec<&[f32]> = signals.iter().map(|x| &x[s..s + len]).collect();
            let rep = Representation::from_channels(&views, fs, spectral).map_err(named)?;
            out.push(window_of(rep, skip, window_frames));
        }
    }
    if out.is_empty() {
        return Err(Error::BadInput(format!(
            "{name}: no R peak with a whole {:.2} s window around it ({} peaks detected): \
             beat-aligned training needs ECG with beats",
            len as f64 / fs,
            peaks.len()
        )));
    }
    Ok(out)
}

/// Keeps frames `skip..skip + n` of `rep` (those whose every sample is real signal).
fn window_of(mut rep: Representation, skip: usize, n: usize) -> Representation {
    let f = rep.n_features();
    rep.data.drain(..skip * f);
    rep.data.truncate(n * f);
    rep.n_frames = n;
    rep.n_samples = (n - 1) * rep.config.hop;
    rep
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
        let wins = beat_windows("t", &[x], fs, &sp, 45, &align).unwrap();
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
    fn a_flat_record_has_no_beats_and_says_so() {
        let sp = SpectralConfig::default();
        let align = BeatAlign {
            pre_s: 0.25,
            jitter_s: 0.0,
        };
        let e = beat_windows("flat.edf", &[vec![0.0; 3600]], 360.0, &sp, 20, &align)
            .unwrap_err()
            .to_string();
        assert!(e.contains("flat.edf") && e.contains("R peak"), "{e}");
    }
}
