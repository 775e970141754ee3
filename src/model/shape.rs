//! The shape of a record's waveform apart from its loudness, and a map that gives a
//! generator's output that shape (`train --shape`).
//!
//! Real EEG is not symmetric: in the EEGMAT resting record the frontal poles' 2 s windows
//! are skewed by −0.11, T6 and P4 by +0.12 to +0.19, minute after minute, while a frame
//! transformer's draws (Gaussian errors per STFT bin) come out with skewness ≈ 0 on every
//! channel, the held-out folds' first telltales. `train --shape` saves, per channel, the
//! quantiles of the record's values measured against their local loudness, `z = x/r` with
//! `r` the RMS over a centred window ([`ShapeTarget`]); at load the sampler measures its
//! own output the same way, and the stream passes every sample through
//! `x ↦ r·Q_rec(F_own(z))`, piecewise linear between the quantiles ([`ShapeStream`]). The
//! local loudness stays the generator's, so spectrum, coupling and envelope are left about
//! as they were; only the distribution of the waveform within it becomes the record's. A
//! whole-record map (without the local loudness) folds the record's loudness swings into
//! every window, and a local mean taken out as well takes the slow waves (eye movements on
//! the frontal poles) out of the shape: both were worse held out. Made for zero-mean
//! signals (EEG, high-passed); the centred window makes each output wait for half a window
//! of input (indices are kept: output `i` is input `i`).

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Most quantile levels a saved shape may hold.
pub const MAX_LEVELS: usize = 1024;
/// Seconds of its own output (after equaliser and envelope) a sampler measures its shape
/// on at load.
pub const CALIBRATION_SECONDS: f64 = 600.0;

/// The probabilities the quantiles are taken at: finer in the tails (0.05 % … 0.5 %),
/// every 1 % between.
pub fn levels() -> Vec<f32> {
    let tails = [0.0005, 0.001, 0.0025, 0.005];
    let mid = (1..=99).map(|i| i as f32 / 100.0);
    (tails.iter().copied())
        .chain(mid)
        .chain(tails.iter().rev().map(|p| 1.0 - p))
        .collect()
}

/// The record's waveform shape, saved by `train --shape`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeTarget {
    /// Length of the centred window the local loudness (RMS) is taken over, seconds (the
    /// model's training window).
    pub window_s: f64,
    /// Probabilities of the quantiles, increasing in (0, 1).
    pub p: Vec<f32>,
    /// Per channel, the quantiles of `z` at `p`.
    pub quantiles: Vec<Vec<f32>>,
}

impl ShapeTarget {
    /// The shape of several records' prepared signals (channels of equal length) at `fs`,
    /// `z` pooled over records per channel; `None` if they hold under 8 windows in all.
    pub fn of_records(records: &[Vec<Vec<f32>>], fs: f64, window_s: f64) -> Option<Self> {
        let channels = records.first()?.len();
        let mut z: Vec<Vec<f32>> = vec![Vec::new(); channels];
        for signals in records {
            let n = signals.iter().map(Vec::len).min().unwrap_or(0);
            let flat: Vec<f32> = signals
                .iter()
                .flat_map(|s| s[..n].iter().copied())
                .collect();
            for (all, got) in z.iter_mut().zip(local_values(&flat, n, fs, window_s)) {
                all.extend(got);
            }
        }
        let len = window_len(fs, window_s);
        if z.iter().map(Vec::len).sum::<usize>() < 8 * len * channels {
            return None;
        }
        let p = levels();
        let quantiles = z.iter_mut().map(|v| quantiles(v, &p)).collect();
        Some(Self {
            window_s,
            p,
            quantiles,
        })
    }

    /// Window 0.1–60 s; 3 to [`MAX_LEVELS`] increasing probabilities in (0, 1); per each of
    /// `channels` channels as many finite, non-decreasing quantiles (the config comes from
    /// a file).
    pub fn check(&self, channels: usize) -> std::result::Result<(), String> {
        let k = self.p.len();
        let p_ok = (3..=MAX_LEVELS).contains(&k)
            && self.p.iter().all(|p| *p > 0.0 && *p < 1.0)
            && self.p.windows(2).all(|w| w[0] < w[1]);
        if !(0.1..=60.0).contains(&self.window_s) || !p_ok {
            return Err(format!(
                "shape: window_s {} (0.1–60) and {k} levels p (3–{MAX_LEVELS}, increasing in (0, 1))",
                self.window_s
            ));
        }
        if self.quantiles.len() != channels || !self.quantiles.iter().all(|q| is_quantiles(q, k)) {
            return Err(format!(
                "shape: quantiles must be {channels} channels × {k} finite non-decreasing values"
            ));
        }
        Ok(())
    }
}

/// Whether `q` holds `k` finite non-decreasing values.
pub fn is_quantiles(q: &[f32], k: usize) -> bool {
    q.len() == k && q.iter().all(|v| v.is_finite()) && q.windows(2).all(|w| w[0] <= w[1])
}

/// Samples in a window of `window_s` at `fs` (at least 2).
fn window_len(fs: f64, window_s: f64) -> usize {
    ((window_s * fs).round() as usize).max(2)
}

/// The quantiles of `v` (sorted in place) at the probabilities `p`, interpolated linearly
/// between order statistics (numpy's default).
pub fn quantiles(v: &mut [f32], p: &[f32]) -> Vec<f32> {
    v.sort_by(f32::total_cmp);
    if v.is_empty() {
        return vec![0.0; p.len()];
    }
    let last = (v.len() - 1) as f64;
    p.iter()
        .map(|&p| {
            let at = f64::from(p) * last;
            let (i, f) = (at.floor() as usize, at.fract());
            let next = v[(i + 1).min(v.len() - 1)];
            (f64::from(v[i]) + f * f64::from(next - v[i])) as f32
        })
        .collect()
}

/// `z` of every sample of the channel-major `x` (`n` per channel) that has its whole
/// right half-window after it, per channel.
pub fn local_values(x: &[f32], n: usize, fs: f64, window_s: f64) -> Vec<Vec<f32>> {
    let channels = x.len() / n.max(1);
    let mut s = ShapeStream::measuring(channels, fs, window_s);
    s.push(x, n);
    let ready = s.available();
    let mut z = vec![0f32; ready * channels];
    s.pull(&mut z, ready);
    (0..channels)
        .map(|c| z[c * ready..(c + 1) * ready].to_vec())
        .collect()
}

/// The quantiles of `z`, per channel at `target`'s levels, of `seconds` of a stream of
/// `channels` channels at `fs` that `next(out, m)` hands out `m` samples per channel at a
/// time (channel-major): what a sampler's map starts from.
pub fn own_quantiles(
    target: &ShapeTarget,
    channels: usize,
    fs: f64,
    seconds: f64,
    mut next: impl FnMut(&mut [f32], usize) -> crate::Result<()>,
) -> crate::Result<Vec<Vec<f32>>> {
    let n = ((seconds * fs) as usize).max(2);
    let chunk = (fs.round() as usize).max(1);
    let mut s = ShapeStream::measuring(channels, fs, target.window_s);
    let (mut buf, mut z) = (
        vec![0f32; chunk * channels],
        vec![Vec::with_capacity(n); channels],
    );
    let mut at = 0;
    while at < n {
        let m = chunk.min(n - at);
        next(&mut buf[..m * channels], m)?;
        s.push(&buf[..m * channels], m);
        let ready = s.available();
        buf.resize(buf.len().max(ready * channels), 0.0);
        s.pull(&mut buf[..ready * channels], ready);
        for (c, v) in z.iter_mut().enumerate() {
            v.extend_from_slice(&buf[c * ready..(c + 1) * ready]);
        }
        at += m;
    }
    Ok(z.iter_mut().map(|v| quantiles(v, &target.p)).collect())
}

/// Per channel, the map from the generator's own quantiles of `z` to the record's.
#[derive(Debug, Clone)]
struct ShapeMap {
    own: Vec<Vec<f32>>,
    target: Vec<Vec<f32>>,
}

impl ShapeMap {
    /// `z` of channel `c` carried from the own distribution to the record's: linear
    /// between quantiles, and past the outermost ones with slope 1.
    fn apply(&self, c: usize, z: f32) -> f32 {
        let (own, target) = (&self.own[c], &self.target[c]);
        let k = own.len();
        let j = own.partition_point(|q| *q <= z);
        if j == 0 {
            return target[0] + (z - own[0]);
        }
        if j == k {
            return target[k - 1] + (z - own[k - 1]);
        }
        let (a, b) = (own[j - 1], own[j]);
        let f = if b > a { (z - a) / (b - a) } else { 0.5 };
        target[j - 1] + f * (target[j] - target[j - 1])
    }
}

/// One channel's inputs from the oldest its window still holds, and the window's sum of
/// squares.
#[derive(Debug, Clone, Default)]
struct Channel {
    x: VecDeque<f32>,
    sum2: f64,
}

/// The local loudness of a stream, the RMS over a centred window, and (with a map) each
/// sample carried to the record's shape; without a map it yields `z` itself (measuring).
/// Output `i` is ready once inputs up to `i + half` are in.
#[derive(Debug, Clone)]
pub struct ShapeStream {
    half: usize,
    channels: Vec<Channel>,
    /// Absolute index of each channel's `x[0]`, of the next output, and inputs in the sums
    /// (all channels alike).
    first: u64,
    next: u64,
    added: u64,
    pushed: u64,
    /// Outputs since the sums were last recomputed from the window.
    since_exact: usize,
    map: Option<ShapeMap>,
}

impl ShapeStream {
    /// A stream giving `z` of `channels` channels at `fs` over windows of `window_s`.
    pub fn measuring(channels: usize, fs: f64, window_s: f64) -> Self {
        Self {
            half: window_len(fs, window_s) / 2,
            channels: vec![Channel::default(); channels],
            first: 0,
            next: 0,
            added: 0,
            pushed: 0,
            since_exact: 0,
            map: None,
        }
    }

    /// A stream carrying samples from `own` quantiles (this generator's, measured with
    /// [`local_values`]) to `target`'s; both checked to match in channels and levels.
    pub fn mapping(target: &ShapeTarget, own: &[Vec<f32>], fs: f64) -> crate::Result<Self> {
        let k = target.p.len();
        if own.len() != target.quantiles.len() || !own.iter().all(|q| is_quantiles(q, k)) {
            return Err(crate::Error::BadInput(format!(
                "shape: own quantiles must be {} channels × {k} non-decreasing values",
                target.quantiles.len()
            )));
        }
        let mut s = Self::measuring(own.len(), fs, target.window_s);
        s.map = Some(ShapeMap {
            own: own.to_vec(),
            target: target.quantiles.clone(),
        });
        Ok(s)
    }

    /// Takes `n` more samples per channel, channel-major in `x`.
    pub fn push(&mut self, x: &[f32], n: usize) {
        for (c, ch) in self.channels.iter_mut().enumerate() {
            ch.x.extend(&x[c * n..(c + 1) * n]);
        }
        self.pushed += n as u64;
    }

    /// Outputs ready per channel.
    pub fn available(&self) -> usize {
        (self.pushed.saturating_sub(self.half as u64)).saturating_sub(self.next) as usize
    }

    /// Moves the next `n` outputs per channel into the channel-major `out`; false (and
    /// nothing moved) if fewer are ready.
    pub fn pull(&mut self, out: &mut [f32], n: usize) -> bool {
        if self.available() < n {
            return false;
        }
        for k in 0..n {
            self.advance();
            for (c, o) in out.chunks_exact_mut(n).enumerate() {
                o[k] = self.value(c);
            }
            self.next += 1;
        }
        true
    }

    /// Moves the window to hold inputs `[next − half, next + half)` (from 0 at the start),
    /// dropping the inputs no later window needs.
    fn advance(&mut self) {
        let end = self.next + self.half as u64;
        let start = self.next.saturating_sub(self.half as u64);
        for ch in &mut self.channels {
            for j in self.added..end {
                let v = f64::from(ch.x[(j - self.first) as usize]);
                ch.sum2 += v * v;
            }
        }
        self.added = self.added.max(end);
        self.since_exact += 1;
        let exact = self.since_exact >= 2 * self.half.max(1);
        for ch in &mut self.channels {
            let mut drop = start.saturating_sub(self.first) as usize;
            while drop > 0 {
                let v = f64::from(ch.x.pop_front().unwrap_or(0.0));
                ch.sum2 -= v * v;
                drop -= 1;
            }
            if exact {
                // A sliding sum drifts over days; recomputed once a window.
                let held = (self.added - start) as usize;
                ch.sum2 = ch.x.iter().take(held).map(|&v| f64::from(v).powi(2)).sum();
            }
        }
        if exact {
            self.since_exact = 0;
        }
        self.first = self.first.max(start);
    }

    /// The output of channel `c` at `next`: `z`, or the sample in the record's shape.
    fn value(&self, c: usize) -> f32 {
        let ch = &self.channels[c];
        let held = (self.added - self.first) as f64;
        let r = (ch.sum2 / held).max(0.0).sqrt();
        let x = f64::from(ch.x[(self.next - self.first) as usize]);
        if r <= f64::from(f32::MIN_POSITIVE) {
            return if self.map.is_some() { x as f32 } else { 0.0 };
        }
        let z = (x / r) as f32;
        match &self.map {
            None => z,
            Some(map) => (r * f64::from(map.apply(c, z))) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    /// `n` samples of `channels` channels, channel-major: noise whose loudness swings
    /// slowly, channel `c` offset by `c` (a level the RMS takes in).
    fn swinging(channels: usize, n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..channels * n)
            .map(|i| {
                let (c, t) = (i / n, (i % n) as f32);
                let loud = 1.0 + 0.5 * (t / 300.0).sin();
                let e: f32 = StandardNormal.sample(&mut rng);
                c as f32 + loud * e
            })
            .collect()
    }

    /// `z` of sample `i` of `x` by its definition: over `[i − half, i + half)` from 0.
    fn z_direct(x: &[f32], i: usize, half: usize) -> f32 {
        let w = &x[i.saturating_sub(half)..i + half];
        let ms = w.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / w.len() as f64;
        (f64::from(x[i]) / ms.sqrt()) as f32
    }

    #[test]
    fn quantiles_interpolate_between_order_statistics_as_numpy_does() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0, 5.0];
        // numpy.quantile([1, 2, 3, 4, 5], [0.1, 0.5, 0.875]) = [1.4, 3.0, 4.5]
        let q = quantiles(&mut v, &[0.1, 0.5, 0.875]);
        for (a, b) in q.iter().zip([1.4, 3.0, 4.5]) {
            assert!((a - b).abs() < 1e-6, "{q:?}");
        }
        let p = levels();
        assert_eq!(p.len(), 107);
        assert!(p.windows(2).all(|w| w[0] < w[1]) && p[0] > 0.0 && p[106] < 1.0);
    }

    #[test]
    fn streamed_values_are_the_centred_windows_whatever_the_pushes() {
        let (nc, n, fs) = (2, 3000, 100.0);
        let x = swinging(nc, n, 1);
        let whole = local_values(&x, n, fs, 2.0);
        let half = 100;
        assert_eq!(
            whole[0].len(),
            n - half,
            "ready once the right half-window is in"
        );
        for c in 0..nc {
            let ch = &x[c * n..(c + 1) * n];
            for i in [0, 1, 50, 99, 100, 101, 1234, 2899] {
                let (got, want) = (whole[c][i], z_direct(ch, i, half));
                assert!(
                    (got - want).abs() < 1e-4,
                    "channel {c} sample {i}: {got} vs {want}"
                );
            }
        }
        // The same values pushed 7 and pulled 13 at a time.
        let mut s = ShapeStream::measuring(nc, fs, 2.0);
        let (mut got, mut out) = (vec![Vec::new(); nc], vec![0f32; 13 * nc]);
        for start in (0..n).step_by(7) {
            let m = 7.min(n - start);
            let piece: Vec<f32> = (0..nc)
                .flat_map(|c| x[c * n + start..c * n + start + m].to_vec())
                .collect();
            s.push(&piece, m);
            while s.pull(&mut out, 13) {
                for (c, g) in got.iter_mut().enumerate() {
                    g.extend_from_slice(&out[c * 13..(c + 1) * 13]);
                }
            }
        }
        for c in 0..nc {
            let k = got[c].len();
            assert!(k > n - half - 13);
            for (a, b) in got[c].iter().zip(&whole[c][..k]) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn the_map_gives_the_records_shape_and_keeps_the_local_loudness() {
        let (n, fs) = (60_000, 100.0);
        let x: Vec<f32> = swinging(1, n, 2);
        let p = levels();
        // A record whose values around their local loudness are skewed: exp of noise.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let rec: Vec<f32> = (0..n)
            .map(|_| {
                let e: f32 = StandardNormal.sample(&mut rng);
                (0.5 * e).exp()
            })
            .collect();
        let target = ShapeTarget::of_records(&[vec![rec]], fs, 2.0).unwrap();
        target.check(1).unwrap();
        let mut own = local_values(&x, n, fs, 2.0);
        let own_q = vec![quantiles(&mut own[0], &p)];
        let skew = |v: &[f32]| {
            let k = v.len() as f64;
            let m = v.iter().map(|&a| f64::from(a)).sum::<f64>() / k;
            let s2 = v.iter().map(|&a| (f64::from(a) - m).powi(2)).sum::<f64>() / k;
            let s3 = v.iter().map(|&a| (f64::from(a) - m).powi(3)).sum::<f64>() / k;
            s3 / s2.powf(1.5)
        };
        let mut s = ShapeStream::mapping(&target, &own_q, fs).unwrap();
        s.push(&x, n);
        let k = s.available();
        let mut y = vec![0f32; k];
        assert!(s.pull(&mut y, k));
        let (zx, zy) = (local_values(&x, n, fs, 2.0), local_values(&y, k, fs, 2.0));
        assert!(skew(&zx[0]).abs() < 0.05, "the input is symmetric");
        let rec_skew = 1.75; // of exp(0.5·N(0, 1)) (its local windows a little less)
        let got = skew(&zy[0]);
        assert!(
            got > 0.6 * rec_skew && got < 1.2 * rec_skew,
            "skewed as the record: {got}"
        );
        // Loudness per 10 s as the input's.
        for w in (0..k - 1000).step_by(1000) {
            let rms = |v: &[f32]| (v.iter().map(|a| a * a).sum::<f32>() / v.len() as f32).sqrt();
            let ratio = rms(&y[w..w + 1000]) / rms(&x[w..w + 1000]);
            assert!((0.85..1.15).contains(&ratio), "window at {w}: {ratio}");
        }
        // Mapped onto its own shape, a stream comes back as it went in.
        let mut same = ShapeStream::mapping(
            &ShapeTarget {
                quantiles: own_q.clone(),
                ..target
            },
            &own_q,
            fs,
        )
        .unwrap();
        same.push(&x, n);
        let mut back = vec![0f32; k];
        assert!(same.pull(&mut back, k));
        for (a, b) in back.iter().zip(&x) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
    }

    #[test]
    fn own_quantiles_of_a_stream_are_those_of_its_samples_measured_whole() {
        let (nc, n, fs) = (2, 6000, 100.0);
        let x = swinging(nc, n, 4);
        let target =
            ShapeTarget::of_records(&[vec![x[..n].to_vec(), x[n..].to_vec()]], fs, 2.0).unwrap();
        let mut at = 0;
        let got = own_quantiles(&target, nc, fs, n as f64 / fs, |out, m| {
            for c in 0..nc {
                out[c * m..(c + 1) * m].copy_from_slice(&x[c * n + at..c * n + at + m]);
            }
            at += m;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got, target.quantiles,
            "the same values, pulled a second at a time"
        );
    }

    #[test]
    fn a_shape_that_does_not_fit_is_refused_by_field() {
        let p = levels();
        let ok = ShapeTarget {
            window_s: 2.0,
            p: p.clone(),
            quantiles: vec![p.clone(); 2],
        };
        assert!(ok.check(2).is_ok());
        assert!(ok.check(3).unwrap_err().contains("3 channels"));
        let mut bad = ok.clone();
        bad.quantiles[1][5] = f32::NAN;
        assert!(bad.check(2).unwrap_err().contains("quantiles"));
        let mut bad = ok.clone();
        bad.quantiles[0].reverse();
        assert!(bad.check(2).is_err(), "decreasing");
        let mut bad = ok.clone();
        bad.p[3] = 1.5;
        assert!(bad.check(2).unwrap_err().contains("levels"));
        let bad = ShapeTarget {
            window_s: 0.0,
            ..ok.clone()
        };
        assert!(bad.check(2).unwrap_err().contains("window_s"));
        assert!(
            ShapeStream::mapping(&ok, std::slice::from_ref(&p), 100.0).is_err(),
            "one channel of two"
        );
    }
}
