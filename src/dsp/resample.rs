//! Rational polyphase resampling with a Kaiser-windowed FIR anti-aliasing filter.
//!
//! Same design as `scipy.signal.resample_poly(x, up, down)` with its defaults: the ratio
//! reduced by the gcd, a low-pass FIR of `20·max(up, down) + 1` taps cut at
//! `1/max(up, down)` of Nyquist, Kaiser window β = 5, unit DC gain scaled by `up`, zero
//! padding outside the signal, `ceil(n·up/down)` output samples aligned on sample 0.

use super::window::Window;
use crate::{Error, Result};

/// A planned resampler for one rational ratio `up/down`.
#[derive(Debug, Clone)]
pub struct Resampler {
    up: usize,
    down: usize,
    half_len: usize,
    /// Taps per phase: `ceil(n_taps / up)`.
    per_phase: usize,
    /// Phase `p`'s taps `p, p + up, …` reversed (zeros past the filter's end first), so
    /// that an output is one dot product with contiguous input samples.
    phases: Vec<f64>,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Low-pass FIR like `scipy.signal.firwin(numtaps, cutoff, window)`: windowed sinc with
/// unit DC gain; `cutoff` is a fraction of Nyquist.
pub fn firwin(numtaps: usize, cutoff: f64, window: Window) -> Vec<f64> {
    let alpha = 0.5 * (numtaps as f64 - 1.0);
    let w = window.samples(numtaps, false);
    let mut h: Vec<f64> = (0..numtaps)
        .map(|i| {
            let m = i as f64 - alpha;
            cutoff * sinc(cutoff * m) * w[i]
        })
        .collect();
    let s: f64 = h.iter().sum();
    h.iter_mut().for_each(|v| *v /= s);
    h
}

/// Normalised sinc, `sin(πx)/(πx)`.
fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

impl Resampler {
    /// Plans resampling by `up/down` (both ≥ 1; the ratio is reduced first).
    pub fn new(up: usize, down: usize) -> Result<Self> {
        if up == 0 || down == 0 || up > 100_000 || down > 100_000 {
            return Err(Error::BadInput(format!(
                "resample: up and down must be in 1..=100000, got {up}/{down}"
            )));
        }
        let g = gcd(up, down);
        let (up, down) = (up / g, down / g);
        let max_rate = up.max(down);
        let half_len = 10 * max_rate;
        let mut taps = firwin(
            2 * half_len + 1,
            1.0 / max_rate as f64,
            Window::Kaiser { beta: 5.0 },
        );
        taps.iter_mut().for_each(|t| *t *= up as f64);
        let per_phase = taps.len().div_ceil(up);
        let mut phases = vec![0.0; up * per_phase];
        for (j, &t) in taps.iter().enumerate() {
            let (p, k) = (j % up, j / up);
            phases[p * per_phase + per_phase - 1 - k] = t;
        }
        Ok(Self {
            up,
            down,
            half_len,
            per_phase,
            phases,
        })
    }

    /// Plans resampling from `from_hz` to `to_hz` (rates rounded to 1 mHz, ratio reduced).
    pub fn between(from_hz: f64, to_hz: f64) -> Result<Self> {
        let ok = |f: f64| f.is_finite() && f > 0.0 && f < 1e7;
        if !ok(from_hz) || !ok(to_hz) {
            return Err(Error::BadInput(format!(
                "resample: sample rates must lie in (0, 10 MHz), got {from_hz} → {to_hz} Hz"
            )));
        }
        let (a, b) = (
            (to_hz * 1000.0).round() as usize,
            (from_hz * 1000.0).round() as usize,
        );
        let g = gcd(a, b);
        Self::new(a / g, b / g)
    }

    /// The reduced ratio `(up, down)`.
    pub fn ratio(&self) -> (usize, usize) {
        (self.up, self.down)
    }

    /// Output length for `n` input samples: `ceil(n·up/down)`.
    pub fn output_len(&self, n: usize) -> usize {
        (n * self.up).div_ceil(self.down)
    }

    /// Resamples `x` into `out` (cleared first).
    pub fn process(&self, x: &[f32], out: &mut Vec<f32>) {
        out.clear();
        if x.is_empty() {
            return;
        }
        out.extend((0..self.output_len(x.len())).map(|m| self.output(m, x, 0, x.len() - 1)));
    }

    /// Output `m` from the inputs `held` (input `first` at `held[0]`), zero outside the
    /// signal, whose last sample is input `last`. Output m sits at upsampled time
    /// `t = m·down + half_len` (the filter is centred); its newest input is `t / up` and its
    /// phase `t mod up`: inputs newest − k meet the phase's k-th tap.
    fn output(&self, m: usize, held: &[f32], first: usize, last: usize) -> f32 {
        let t = m * self.down + self.half_len;
        let (newest, p) = (t / self.up, t % self.up);
        let len = self.per_phase;
        let k_min = newest.saturating_sub(last);
        let k_max = (len - 1).min(newest);
        if k_min > k_max {
            return 0.0;
        }
        let taps = &self.phases[p * len..(p + 1) * len];
        let (a, b) = (newest - k_max - first, newest - k_min - first);
        dot(&taps[len - 1 - k_max..len - k_min], &held[a..=b]) as f32
    }
}

/// `Σ a[i]·x[i]` in f64, four partial sums (independent chains the CPU overlaps).
fn dot(a: &[f64], x: &[f32]) -> f64 {
    let n4 = a.len() / 4 * 4;
    let mut s = [0.0f64; 4];
    for (a4, x4) in a[..n4].chunks_exact(4).zip(x[..n4].chunks_exact(4)) {
        for l in 0..4 {
            s[l] += a4[l] * f64::from(x4[l]);
        }
    }
    let tail: f64 = (a[n4..].iter().zip(&x[n4..]))
        .map(|(a, &x)| a * f64::from(x))
        .sum();
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

/// A [`Resampler`] over a stream: samples pushed in pieces of any size come out exactly as
/// [`Resampler::process`] gives them for the whole signal so far (zero before sample 0),
/// each output as soon as the inputs it needs are in: a lookahead of `half_len / up` input
/// samples (10 at 360 → 500 Hz). Keeps only the inputs later outputs need; allocates
/// nothing once its buffers have grown to a block.
#[derive(Debug, Clone)]
pub struct StreamResampler {
    r: Resampler,
    /// Input samples from index `base` on.
    kept: Vec<f32>,
    base: usize,
    received: usize,
    /// Index of the next output sample.
    next: usize,
}

impl StreamResampler {
    /// Streams through `r`.
    pub fn new(r: Resampler) -> Self {
        Self {
            r,
            kept: Vec::new(),
            base: 0,
            received: 0,
            next: 0,
        }
    }

    /// Takes `x`, the next input samples, and appends every output they complete to `out`.
    pub fn push(&mut self, x: &[f32], out: &mut Vec<f32>) {
        let (up, down) = (self.r.up, self.r.down);
        self.kept.extend_from_slice(x);
        self.received += x.len();
        while (self.next * down + self.r.half_len) / up < self.received {
            let last = self.received - 1;
            out.push(self.r.output(self.next, &self.kept, self.base, last));
            self.next += 1;
        }
        // The oldest input the next output reads.
        let newest = (self.next * down + self.r.half_len) / up;
        let oldest = (newest + 1).saturating_sub(self.r.per_phase);
        if oldest > self.base {
            let drop = (oldest - self.base).min(self.kept.len());
            self.kept.drain(..drop);
            self.base += drop;
        }
    }
}

/// Resamples `x` by `up/down` (a one-shot [`Resampler`]).
pub fn resample_poly(x: &[f32], up: usize, down: usize) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    if !x.is_empty() {
        Resampler::new(up, down)?.process(x, &mut out);
    }
    Ok(out)
}

/// Resamples one channel of a record to `to_hz` in place. Its physical range is widened
/// where the anti-aliasing filter's ringing overshoots it, so that writing it back to
/// EDF/BDF clips nothing; the digital range is kept.
pub fn resample_channel(ch: &mut crate::record::Channel, to_hz: f64) -> Result<()> {
    let r = Resampler::between(ch.meta.sample_rate, to_hz)?;
    let mut y = Vec::new();
    r.process(&ch.samples, &mut y);
    let (lo, hi) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(f64::from(v)), hi.max(f64::from(v)))
        });
    let m = &mut ch.meta;
    if lo.is_finite() {
        // EDF allows an inverted range (physical_min > physical_max): widen either way.
        if m.physical_min <= m.physical_max {
            m.physical_min = m.physical_min.min(lo);
            m.physical_max = m.physical_max.max(hi);
        } else {
            m.physical_max = m.physical_max.min(lo);
            m.physical_min = m.physical_min.max(hi);
        }
    }
    m.sample_rate = to_hz;
    ch.samples = y;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_reduced_and_lengths_follow_scipy() {
        let r = Resampler::between(360.0, 500.0).unwrap();
        assert_eq!(r.ratio(), (25, 18));
        assert_eq!(r.output_len(1000), 1389);
        assert_eq!(
            Resampler::between(1000.0, 256.0).unwrap().ratio(),
            (32, 125)
        );
        assert!(Resampler::new(0, 3).is_err());
        assert!(Resampler::between(f64::NAN, 3.0).is_err());
    }

    /// Pushed in uneven pieces, the stream gives `process`'s samples bit for bit, as many
    /// as the inputs so far complete, up and down.
    #[test]
    fn streamed_pieces_give_the_batch_samples_exactly() {
        let x: Vec<f32> = (0..3000)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0 + (i as f32 * 0.01).sin())
            .collect();
        for (from, to) in [
            (360.0, 500.0),
            (500.0, 256.0),
            (250.0, 1000.0),
            (1000.0, 250.0),
        ] {
            let r = Resampler::between(from, to).unwrap();
            let (up, down) = r.ratio();
            let mut batch = Vec::new();
            r.process(&x, &mut batch);
            let mut s = StreamResampler::new(r);
            let (mut out, mut at) = (Vec::new(), 0);
            for piece in [1, 7, 0, 100, 3, 513, 2].iter().cycle() {
                let end = (at + piece).min(x.len());
                s.push(&x[at..end], &mut out);
                at = end;
                if at == x.len() {
                    break;
                }
            }
            // Output m is complete once input (m·down + half_len) / up has arrived.
            let half_len = 10 * up.max(down);
            let complete = (0..)
                .take_while(|m| (m * down + half_len) / up < x.len())
                .count();
            assert_eq!(out.len(), complete, "{from} → {to}");
            assert_eq!(out[..], batch[..complete], "{from} → {to}");
            assert!(
                s.kept.len() <= 2 * half_len / up + 2,
                "{from} → {to}: {}",
                s.kept.len()
            );
        }
    }

    #[test]
    fn sine_below_new_nyquist_survives_and_one_above_is_removed() {
        let fs = 1000.0f32;
        let tone = |f: f32| -> Vec<f32> {
            (0..4000)
                .map(|i| (2.0 * std::f32::consts::PI * f * i as f32 / fs).sin())
                .collect()
        };
        let y = resample_poly(&tone(10.0), 32, 125).unwrap();
        // Away from the edges the 10 Hz tone is intact at 256 Hz.
        let err = y[100..900]
            .iter()
            .enumerate()
            .map(|(m, v)| {
                (v - (2.0 * std::f32::consts::PI * 10.0 * (m + 100) as f32 / 256.0).sin()).abs()
            })
            .fold(0.0f32, f32::max);
        assert!(err < 2e-3, "{err}");
        let alias = resample_poly(&tone(300.0), 32, 125).unwrap();
        let peak = alias[100..900].iter().fold(0.0f32, |a, v| a.max(v.abs()));
        assert!(peak < 1e-2, "{peak}");
    }
}
