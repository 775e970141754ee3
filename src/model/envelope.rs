//! How much the loudness of a record's windows varies, and a slow gain that gives a
//! generator's output the part of that variation it lacks (`train --envelope`).
//!
//! Real EEG waxes and wanes (alpha comes in bursts); a frame transformer's windows are
//! about equally loud (`eeg-transformer`: the robust spread of its 2 s windows' log10 RMS
//! 0.033 against the record's 0.043). `train --envelope` saves the record's spread
//! ([`EnvelopeTarget`]: 1.4826 × the median absolute deviation of its windows' log RMS,
//! windows as long as the model's, and their lag-1 correlation); at load the sampler
//! measures its own equalised output the same way and multiplies the stream by `10^x(t)`,
//! `x` an AR(1) process at window-spaced knots joined linearly, sized so its window means
//! add the missing variance (independent variances add) and with unit mean power, so the
//! equaliser's levels hold. Like the equaliser, a calibration measured on the training
//! data, not a tuned constant. The robust spread matters: the record's few outlying
//! windows (its last, trailing off) make its plain sd 0.068, and a gain sized by that
//! overshot the typical swing by half.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The spread of a record's window loudness, saved by `train --envelope`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeTarget {
    /// Window length, seconds (the model's training window).
    pub window_s: f64,
    /// Spread over windows of log10 of the window RMS (channels pooled): 1.4826 × the
    /// median absolute deviation, a standard deviation robust to outlying windows.
    pub sd: f64,
    /// Lag-1 correlation of consecutive windows' log10 RMS.
    pub rho: f64,
}

/// Log10 RMS of consecutive `window_s` windows of channel-major samples, each channel's
/// window mean removed and the variances pooled over channels.
#[derive(Debug, Clone)]
pub struct EnvelopeMeter {
    len: usize,
    /// Per channel: running sum and sum of squares of the current window.
    sums: Vec<(f64, f64)>,
    filled: usize,
    /// Log10 RMS of each completed window.
    pub series: Vec<f64>,
}

impl EnvelopeMeter {
    /// A meter of `channels` channels in windows of `window_s` at `fs`.
    pub fn new(channels: usize, fs: f64, window_s: f64) -> Self {
        Self {
            len: ((window_s * fs).round() as usize).max(2),
            sums: vec![(0.0, 0.0); channels],
            filled: 0,
            series: Vec::new(),
        }
    }

    /// Takes `n` more samples per channel, channel-major in `x`.
    pub fn add(&mut self, x: &[f32], n: usize) {
        let mut at = 0;
        while at < n {
            let take = (self.len - self.filled).min(n - at);
            for (c, s) in self.sums.iter_mut().enumerate() {
                for &v in &x[c * n + at..c * n + at + take] {
                    let v = f64::from(v);
                    s.0 += v;
                    s.1 += v * v;
                }
            }
            (at, self.filled) = (at + take, self.filled + take);
            if self.filled == self.len {
                self.close_window();
            }
        }
    }

    fn close_window(&mut self) {
        let n = self.len as f64;
        let var = self
            .sums
            .iter()
            .map(|&(s, q)| (q - s * s / n) / n)
            .sum::<f64>()
            / self.sums.len().max(1) as f64;
        if var > 0.0 && var.is_finite() {
            self.series.push(0.5 * var.log10());
        }
        self.sums.iter_mut().for_each(|s| *s = (0.0, 0.0));
        self.filled = 0;
    }

    /// The robust spread and lag-1 correlation of the series (`None` under 8 windows).
    pub fn spread(&self) -> Option<(f64, f64)> {
        spread_of(&[&self.series])
    }
}

/// The spread of several records' window series pooled (1.4826 × the median absolute
/// deviation: a standard deviation that a few outlying windows, an artefact or a record
/// trailing off, do not sway), and their lag-1 correlation pooled.
fn spread_of(series: &[&[f64]]) -> Option<(f64, f64)> {
    let mut all: Vec<f64> = series.iter().flat_map(|s| s.iter().copied()).collect();
    if all.len() < 8 {
        return None;
    }
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let var = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / all.len() as f64;
    let lag: f64 = (series.iter())
        .flat_map(|s| s.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)))
        .sum::<f64>();
    let pairs = series
        .iter()
        .map(|s| s.len().saturating_sub(1))
        .sum::<usize>();
    let rho = if var > 0.0 && pairs > 0 {
        (lag / pairs as f64 / var).clamp(-0.95, 0.95)
    } else {
        0.0
    };
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let m = median(&mut all);
    let mut dev: Vec<f64> = all.iter().map(|v| (v - m).abs()).collect();
    Some((1.4826 * median(&mut dev), rho))
}

impl EnvelopeTarget {
    /// The target of several records' prepared signals (channels of equal length) at `fs`,
    /// windows of `window_s`; `None` if they hold under 8 windows in all.
    pub fn of_records(records: &[Vec<Vec<f32>>], fs: f64, window_s: f64) -> Option<Self> {
        let meters: Vec<EnvelopeMeter> = (records.iter())
            .map(|signals| {
                let n = signals.iter().map(Vec::len).min().unwrap_or(0);
                let flat: Vec<f32> = signals
                    .iter()
                    .flat_map(|s| s[..n].iter().copied())
                    .collect();
                let mut m = EnvelopeMeter::new(signals.len(), fs, window_s);
                m.add(&flat, n);
                m
            })
            .collect();
        let series: Vec<&[f64]> = meters.iter().map(|m| m.series.as_slice()).collect();
        let (sd, rho) = spread_of(&series)?;
        Some(Self { window_s, sd, rho })
    }

    /// Window 0.1–60 s, sd in [0, 1] (a factor of 10 either way), |rho| < 1 (the config
    /// comes from a file).
    pub fn check(&self) -> std::result::Result<(), String> {
        let ok = (0.1..=60.0).contains(&self.window_s)
            && (0.0..=1.0).contains(&self.sd)
            && self.rho.abs() < 1.0;
        match ok {
            true => Ok(()),
            false => Err(format!(
                "envelope: window_s {} (0.1–60), sd {} (0–1), rho {} (|rho| < 1)",
                self.window_s, self.sd, self.rho
            )),
        }
    }
}

/// The slow gain applied to a stream: `10^(x(t) − σ²·ln 10)`, `x` an AR(1) process with
/// marginal sd σ at knots one window apart, linear between them; the offset makes the mean
/// of the gain squared 1, so the stream's mean power stays the equaliser's.
#[derive(Debug, Clone)]
pub struct Envelope {
    rng: ChaCha8Rng,
    rho: f64,
    sigma: f64,
    /// Samples between knots.
    step: usize,
    /// The knots around the current sample, and how far past the first it is.
    knots: (f64, f64),
    at: usize,
}

impl Envelope {
    /// The gain adding `missing` (sd of window-mean log10 gain) to windows of `target`'s
    /// length at `fs`, seeded by `seed`. `None` when nothing is missing.
    pub fn new(target: &EnvelopeTarget, missing: f64, fs: f64, seed: u64) -> Option<Self> {
        if missing.is_nan() || missing <= 1e-4 {
            return None;
        }
        // Loudness that alternates window by window is no envelope: a negative correlation
        // (noise in a short record) is taken as none, which also bounds the knots below.
        let rho = target.rho.max(0.0);
        // A window between two knots averages them: var (1 + rho) / 2 of the knots'.
        let sigma = missing / ((1.0 + rho) / 2.0).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x656e_7665_6c6f_7065);
        let first = sigma * super::physio::gauss(&mut rng);
        let mut e = Self {
            rng,
            rho,
            sigma,
            step: ((target.window_s * fs).round() as usize).max(1),
            knots: (first, 0.0),
            at: 0,
        };
        e.knots.1 = e.next_knot(first);
        Some(e)
    }

    fn next_knot(&mut self, prev: f64) -> f64 {
        let innovation = (1.0 - self.rho * self.rho).sqrt() * self.sigma;
        self.rho * prev + innovation * super::physio::gauss(&mut self.rng)
    }

    /// The missing spread of window loudness: the target's beyond `measured` (the model's
    /// own), zero if the model already varies as much.
    pub fn missing(target: &EnvelopeTarget, measured: f64) -> f64 {
        (target.sd * target.sd - measured * measured)
            .max(0.0)
            .sqrt()
    }

    /// Multiplies `n` samples per channel, channel-major in `x`, by the gain.
    pub fn apply(&mut self, x: &mut [f32], n: usize) {
        let channels = x.len() / n.max(1);
        let offset = self.sigma * self.sigma * std::f64::consts::LN_10;
        for i in 0..n {
            let f = self.at as f64 / self.step as f64;
            let lg = self.knots.0 + (self.knots.1 - self.knots.0) * f - offset;
            let g = 10f64.powf(lg) as f32;
            for c in 0..channels {
                x[c * n + i] *= g;
            }
            self.at += 1;
            if self.at == self.step {
                self.at = 0;
                self.knots = (self.knots.1, self.next_knot(self.knots.1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Windows at known loudness (log10 RMS `levels`, cycled) give the robust spread of
    /// those levels, whatever the channel count, the window offset or the pieces the
    /// samples come in; one very loud window does not move it.
    #[test]
    fn the_meter_reads_window_loudness() {
        let (fs, n, windows) = (100.0, 100, 41);
        let levels = [0.0, 0.1, -0.1, 0.05, -0.05, 0.2, -0.2, 0.0];
        let level = |w: usize| {
            if w == 40 {
                3.0
            } else {
                levels[w % levels.len()]
            }
        };
        let mut x = vec![0f32; 2 * windows * n];
        for c in 0..2 {
            for i in 0..windows * n {
                let a = 10f64.powf(level(i / n)) as f32;
                let s = if i % 2 == 0 { 1.0 } else { -1.0 };
                x[c * windows * n + i] = a * s + 3.0; // an offset the window mean removes
            }
        }
        let len = windows * n;
        let record = vec![x[..len].to_vec(), x[len..].to_vec()];
        let t = EnvelopeTarget::of_records(&[record], fs, 1.0).unwrap();
        let mut m = EnvelopeMeter::new(2, fs, 1.0);
        for (a, b) in [(0, 37), (37, 1000), (1000, len)] {
            let piece: Vec<f32> = (0..2)
                .flat_map(|c| x[c * len + a..c * len + b].to_vec())
                .collect();
            m.add(&piece, b - a);
        }
        let mut all: Vec<f64> = (0..windows).map(level).collect();
        all.sort_by(f64::total_cmp);
        let med = all[all.len() / 2];
        let mut dev: Vec<f64> = all.iter().map(|v| (v - med).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let want = 1.4826 * dev[dev.len() / 2];
        let (sd, _) = m.spread().unwrap();
        assert!(
            (sd - want).abs() < 1e-6 && (t.sd - want).abs() < 1e-6,
            "{sd} {t:?} {want}"
        );
        assert!(want < 0.2, "the loud window is not in it: {want}");
    }

    /// Over a long run the gain's window means have the sd asked for, its power averages
    /// 1, and a seed gives the same gain.
    #[test]
    fn the_gain_adds_the_missing_spread_at_unit_mean_power() {
        let target = EnvelopeTarget {
            window_s: 2.0,
            sd: 0.08,
            rho: 0.3,
        };
        let (fs, n) = (50.0, 100);
        let run = |seed| {
            let mut e = Envelope::new(&target, 0.06, fs, seed).unwrap();
            let mut g = vec![1f32; 20_000 * n];
            for chunk in g.chunks_mut(37) {
                let len = chunk.len();
                e.apply(chunk, len);
            }
            g
        };
        let g = run(7);
        assert_eq!(g, run(7));
        let means: Vec<f64> = (g.chunks(n))
            .map(|w| w.iter().map(|&v| f64::from(v).log10()).sum::<f64>() / n as f64)
            .collect();
        let (sd, _) = spread_of(&[&means]).unwrap();
        assert!((sd - 0.06).abs() < 0.004, "{sd}");
        let power = g.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / g.len() as f64;
        assert!((power - 1.0).abs() < 0.02, "{power}");
        assert!(Envelope::new(&target, 0.0, fs, 1).is_none());
        assert_eq!(Envelope::missing(&target, 0.1), 0.0);
        assert!((Envelope::missing(&target, 0.0) - 0.08).abs() < 1e-12);
    }
}
