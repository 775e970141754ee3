//! The record's slow baseline wander and its noise, replayed beside a frame transformer's
//! beats (`train --wander`).
//!
//! A 64-sample STFT frame keeps a slow wander only in its DC bin, drawn code by code, and
//! the codes hold the beats, not the noise between them: `ecg-transformer`'s 5 s windows
//! differ from one another a quarter as much as its record's in every log band power, and
//! its 25–45 Hz noise floor is 5 µV everywhere where MIT-BIH 208's wanders from 5 to 20 µV
//! (median 9). Both are states that last longer than a beat, which 235 training steps do
//! not teach. `train --wander` saves them instead, measured on the training signals
//! ([`WanderTarget`]): the signal below [`CUTOFF_HZ`] (zero-phase) at [`RATE`] Hz, the
//! level of its 25–45 Hz band second by second above the record's quietest tenth (what
//! the beats alone give, which the model has), and the shape of its noise spectrum above
//! [`NOISE_FROM_HZ`]. The sampler ([`Wander`]) replays the record's baseline and noise
//! level together from seeded places in [`STRETCH_S`] stretches, cross-faded over
//! [`FADE_S`]. The noise, Gaussian and shaped to the record's, goes into the model's draws
//! before the equaliser, whose calibration measures the draws with it: the output's
//! spectrum, noise included, is then the record's. The baseline is added after the
//! equaliser, which keeps only the model's own output above the cut-off (its kernels,
//! linear phase, at their resolution, 0.35 Hz at 360 Hz: a causal high-pass turned the ST
//! segment and made the output easier to tell apart, not harder).

use crate::dsp::filter::{baseline, butter, Band};
use crate::dsp::fir;
use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};

/// Below this the output is the record's replayed baseline, above it the model's, Hz.
pub const CUTOFF_HZ: f64 = 1.0;
/// Samples per second of the saved baseline (below [`CUTOFF_HZ`], so 10 is plenty).
pub const RATE: f64 = 10.0;
/// Seconds replayed from one place before the next.
pub const STRETCH_S: f64 = 10.0;
/// Seconds over which one stretch fades into the next.
pub const FADE_S: f64 = 1.0;
/// The noise level's band, Hz (its top at most 0.45 of the sample rate).
pub const LEVEL_BAND: (f64, f64) = (25.0, 45.0);
/// The noise spectrum's shape is the record's above this, nothing below, Hz.
pub const NOISE_FROM_HZ: f64 = 15.0;
/// The shortest training record set `--wander` measures, seconds.
pub const MIN_SECONDS: f64 = 30.0;
/// Share of the record's seconds quieter than the level the model is taken to have.
const QUIET_SHARE: f64 = 0.1;
/// Share of short segments the noise spectrum is read at, per bin (a quarter: most
/// segments of ~0.18 s between beats hold no QRS).
const NOISE_QUANTILE: f64 = 0.25;
/// Largest noise spectrum saved, bins (a kernel of twice as many taps).
const MAX_NOISE_BINS: usize = 257;

/// What `train --wander` saves: the training signals' baseline, noise level and noise
/// spectrum, one row per channel, several records joined end to end (a replayed stretch
/// may run from one into the next).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WanderTarget {
    /// Per channel: the signal low-passed at [`CUTOFF_HZ`] (zero-phase), at [`RATE`] Hz.
    pub baseline: Vec<Vec<f32>>,
    /// Per channel: per second, the median |25–45 Hz| above the records' quietest tenth
    /// of seconds (0 there and below), signal units.
    pub level: Vec<Vec<f32>>,
    /// Per channel: the noise's amplitude spectrum, 0 Hz to Nyquist in equal bins, zero
    /// below [`NOISE_FROM_HZ`], largest 1.
    pub noise_gain: Vec<Vec<f32>>,
}

/// A bad-input error for the flag.
fn refuse(msg: String) -> Error {
    Error::BadInput(format!("--wander: {msg}"))
}

impl WanderTarget {
    /// Measures the target of several records' prepared signals (channels of equal
    /// length, the same count in each) at `fs`.
    pub fn of_records(records: &[Vec<Vec<f32>>], fs: f64) -> Result<Self> {
        let top = LEVEL_BAND.1.min(0.45 * fs);
        if top <= LEVEL_BAND.0 + 5.0 {
            return Err(refuse(format!(
                "a sample rate of {fs} Hz has no noise band at {}-{} Hz (needs over {} Hz)",
                LEVEL_BAND.0,
                LEVEL_BAND.1,
                (LEVEL_BAND.0 + 5.0) / 0.45
            )));
        }
        let seconds: f64 = (records.iter())
            .map(|r| r.iter().map(Vec::len).min().unwrap_or(0) as f64 / fs)
            .sum();
        if seconds < MIN_SECONDS {
            return Err(refuse(format!(
                "the training records hold {seconds:.1} s; at least {MIN_SECONDS} s"
            )));
        }
        let nc = records.first().map_or(0, Vec::len);
        let band = butter(2, Band::Bandpass(LEVEL_BAND.0, top), fs)?;
        let mut t = WanderTarget {
            baseline: vec![Vec::new(); nc],
            level: vec![Vec::new(); nc],
            noise_gain: Vec::with_capacity(nc),
        };
        for signals in records {
            let n = signals.iter().map(Vec::len).min().unwrap_or(0);
            if (n as f64) < fs * 2.0 {
                continue; // too short for a second of level; its seconds still counted above
            }
            // Whole seconds only, so each record's baseline and levels stay aligned when
            // the next record's are joined on.
            let whole = (n / (fs.round() as usize).max(1)) as f64;
            for (c, x) in signals.iter().enumerate().take(nc) {
                let lp = baseline(&x[..n], CUTOFF_HZ, fs)?;
                let at = (0..(whole * RATE) as usize).map(|k| (k as f64 * fs / RATE) as usize);
                t.baseline[c].extend(at.map(|i| lp[i.min(n - 1)]));
                t.level[c].extend(levels(&band.filtfilt(&x[..n])?, fs));
            }
        }
        for c in 0..nc {
            let quiet = quantile(&t.level[c], QUIET_SHARE);
            t.level[c]
                .iter_mut()
                .for_each(|v| *v = (*v - quiet).max(0.0));
            let chan: Vec<&[f32]> = records
                .iter()
                .filter_map(|r| r.get(c))
                .map(Vec::as_slice)
                .collect();
            t.noise_gain.push(noise_gain(&chan, fs)?);
        }
        t.check(nc).map_err(refuse)?;
        Ok(t)
    }

    /// Refuses a target that does not fit `channels` channels or cannot be replayed.
    pub fn check(&self, channels: usize) -> std::result::Result<(), String> {
        let rows = [&self.baseline, &self.level, &self.noise_gain];
        if rows.iter().any(|r| r.len() != channels) {
            return Err(format!("wander: rows for other than {channels} channels"));
        }
        let finite = |r: &Vec<Vec<f32>>| r.iter().flatten().all(|v| v.is_finite());
        if !rows.iter().all(|r| finite(r)) {
            return Err("wander: values not finite".into());
        }
        let need = ((STRETCH_S + FADE_S) * RATE) as usize + 2;
        let base = self.baseline.first().map_or(0, Vec::len);
        if base < need || self.baseline.iter().any(|b| b.len() != base) {
            return Err(format!(
                "wander: baselines of unequal length or under {need} values"
            ));
        }
        let seconds = (base as f64 / RATE).floor() as usize;
        if self
            .level
            .iter()
            .any(|l| l.len() + 2 < seconds || l.len() < 2)
        {
            return Err("wander: a level per second of the baseline is wanted".into());
        }
        if self.level.iter().flatten().any(|&v| v < 0.0) {
            return Err("wander: negative levels".into());
        }
        let ok_gain = |g: &Vec<f32>| (2..=MAX_NOISE_BINS).contains(&g.len());
        if !self.noise_gain.iter().all(ok_gain) {
            return Err(format!(
                "wander: noise spectra of 2 to {MAX_NOISE_BINS} bins"
            ));
        }
        Ok(())
    }

    /// Seconds of record saved (the replay's stretches start within them).
    pub fn seconds(&self) -> f64 {
        let base = self.baseline.first().map_or(0, Vec::len) as f64 / RATE;
        let level = self.level.first().map_or(0, Vec::len) as f64;
        base.min(level)
    }
}

/// Median |x| of each whole second of `x` at `fs`.
fn levels(x: &[f32], fs: f64) -> Vec<f32> {
    let per = (fs.round() as usize).max(1);
    x.chunks_exact(per).map(median_abs).collect()
}

/// The median of |x| (the upper one of an even count; 0 if empty): the noise level.
fn median_abs(x: &[f32]) -> f32 {
    let mut a: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    a.sort_by(f32::total_cmp);
    a.get(a.len() / 2).copied().unwrap_or(0.0)
}

/// The `q` quantile of `v` (0 if empty).
fn quantile(v: &[f32], q: f64) -> f32 {
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    s.get(((s.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

/// The amplitude spectrum of the noise between a channel's beats: Hann-windowed segments
/// of about 0.18 s, each bin's [`NOISE_QUANTILE`] over segments (most hold no QRS), zero
/// below [`NOISE_FROM_HZ`], scaled to a largest value of 1.
fn noise_gain(records: &[&[f32]], fs: f64) -> Result<Vec<f32>> {
    let seg = ((0.18 * fs) as usize)
        .next_power_of_two()
        .clamp(16, 2 * (MAX_NOISE_BINS - 1));
    let bins = seg / 2 + 1;
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(seg);
    let (mut buf, mut spec) = (fft.make_input_vec(), fft.make_output_vec());
    let hann: Vec<f32> = (0..seg)
        .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / seg as f64).cos()) as f32)
        .collect();
    let mut power: Vec<Vec<f32>> = vec![Vec::new(); bins];
    for x in records {
        for s in x.chunks_exact(seg) {
            let mean = s.iter().sum::<f32>() / seg as f32;
            buf.iter_mut()
                .zip(s.iter().zip(&hann))
                .for_each(|(b, (v, w))| *b = (v - mean) * w);
            fft.process(&mut buf, &mut spec)
                .map_err(|e| refuse(format!("noise spectrum: {e}")))?;
            power
                .iter_mut()
                .zip(&spec)
                .for_each(|(p, z)| p.push(z.norm_sqr()));
        }
    }
    let from = (NOISE_FROM_HZ * seg as f64 / fs).ceil() as usize;
    let mut g: Vec<f32> = (power.iter().enumerate())
        .map(|(k, p)| {
            if k < from {
                0.0
            } else {
                quantile(p, NOISE_QUANTILE).sqrt()
            }
        })
        .collect();
    let top = g.iter().copied().fold(0.0, f32::max);
    if !(top > 0.0 && top.is_finite()) {
        return Err(refuse(
            "the training records hold no noise above 15 Hz".into(),
        ));
    }
    g.iter_mut().for_each(|v| *v /= top);
    Ok(g)
}

/// Where the replay reads the record at one output sample: up to two places (seconds into
/// the record) and their weights, the second only while one stretch fades into the next.
/// It draws its places from its own generator, so two replays from one seed read alike.
#[derive(Debug, Clone)]
struct Replay {
    rng: ChaCha8Rng,
    /// Seconds of record a stretch may start in (its length less a stretch and a fade).
    room: f64,
    cur: f64,
    prev: Option<f64>,
    /// Seconds into the current stretch.
    into: f64,
    dt: f64,
}

impl Replay {
    fn new(seconds: f64, fs: f64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ WANDER_SEED);
        let room = (seconds - STRETCH_S - FADE_S - 1.0 / RATE).max(0.0);
        Replay {
            cur: rng.random_range(0.0..=room),
            rng,
            room,
            prev: None,
            into: 0.0,
            dt: 1.0 / fs,
        }
    }

    /// The places and weights of the next sample.
    fn next(&mut self) -> [(f64, f32); 2] {
        if self.into >= STRETCH_S {
            self.prev = Some(self.cur);
            self.cur = self.rng.random_range(0.0..=self.room);
            self.into -= STRETCH_S;
        }
        let u = self.into;
        self.into += self.dt;
        match self.prev {
            Some(p) if u < FADE_S => {
                let w = (u / FADE_S) as f32;
                [(p + STRETCH_S + u, 1.0 - w), (self.cur + u, w)]
            }
            _ => [(self.cur + u, 1.0), (self.cur + u, 0.0)],
        }
    }
}

/// `series` sampled `rate` times a second, read at `t` seconds (linear; its sample `k` at
/// `(k + offset) / rate`), held at the ends.
fn read(series: &[f32], rate: f64, offset: f64, t: f64) -> f32 {
    let x = (t * rate - offset).max(0.0);
    let k = (x as usize).min(series.len().saturating_sub(2));
    let f = ((x - k as f64) as f32).min(1.0);
    series[k] * (1.0 - f) + series[k + 1] * f
}

/// `series` read at a sample's places, weighted (see [`read`]).
fn at_places(series: &[f32], rate: f64, offset: f64, places: &[(f64, f32); 2]) -> f32 {
    (places.iter().filter(|p| p.1 > 0.0))
        .map(|&(t, w)| w * read(series, rate, offset, t))
        .sum()
}

/// The sampler's stages for a [`WanderTarget`]: the record's noise, added to the decoded
/// draws before the equaliser, and its baseline, added after it (and after the envelope).
/// The equaliser is calibrated on the draws with the noise, so the output's spectrum,
/// noise included, is the record's: added after it, the noise came on top of draws already
/// equalised to the record's noisy spectrum, 0.2–0.3 (log10) too much above 45 Hz.
pub struct Wander {
    /// The record's noise, added before the equaliser.
    pub noise: NoiseStage,
    /// The record's baseline, added last.
    pub baseline: BaselineStage,
}

/// Mixed into the draw seed for the replay, so its numbers are not the draws'.
const WANDER_SEED: u64 = 0x5851_f42d_4c95_7f2d;
/// Mixed into the draw seed for the white noise.
const NOISE_SEED: u64 = 0x2545_f491_4f6c_dd1d;

impl Wander {
    /// Both stages for `target` (checked) at `fs`, drawn from `seed`; the equaliser between
    /// them delays what goes in by `lead` samples, so the baseline's replay runs that far
    /// ahead and each output sample's baseline and noise level come from one place.
    pub fn new(target: &WanderTarget, fs: f64, seed: u64, lead: usize) -> Result<Self> {
        Ok(Wander {
            noise: NoiseStage::new(target, fs, seed)?,
            baseline: BaselineStage::new(target, fs, seed, lead),
        })
    }
}

/// The record's noise level replayed, on Gaussian noise shaped to its spectrum. Constant
/// cost per sample, no allocation after construction.
pub struct NoiseStage {
    level: Vec<Vec<f32>>,
    replay: Replay,
    rng: ChaCha8Rng,
    /// Per channel: the noise kernel, scaled so its output's 25–45 Hz median |·| is 1.
    kernels: Vec<Vec<f32>>,
    /// Per channel: the last white samples, a ring as long as the kernel.
    history: Vec<Vec<f32>>,
    at: usize,
}

impl NoiseStage {
    /// The noise of `target` (checked) at `fs`, its places and draws from `seed`.
    pub fn new(target: &WanderTarget, fs: f64, seed: u64) -> Result<Self> {
        let kernels = (target.noise_gain.iter())
            .map(|g| unit_kernel(g, fs))
            .collect::<Result<Vec<_>>>()?;
        let history = kernels.iter().map(|k| vec![0.0; k.len()]).collect();
        let mut s = NoiseStage {
            level: target.level.clone(),
            replay: Replay::new(target.seconds(), fs, seed),
            rng: ChaCha8Rng::seed_from_u64(seed ^ NOISE_SEED),
            kernels,
            history,
            at: 0,
        };
        // Fill the noise filters' history, so the first samples' noise is at full level.
        for _ in 0..s.history.first().map_or(0, Vec::len) {
            s.white();
        }
        Ok(s)
    }

    /// Pushes one white sample per channel into the rings.
    fn white(&mut self) {
        let len = self.history.first().map_or(1, Vec::len);
        self.at = (self.at + 1) % len;
        for h in &mut self.history {
            h[self.at] = StandardNormal.sample(&mut self.rng);
        }
    }

    /// Channel `c`'s shaped noise now (unit level).
    fn noise(&self, c: usize) -> f32 {
        let (h, k) = (&self.history[c], &self.kernels[c]);
        let len = h.len();
        (0..len).map(|j| k[j] * h[(self.at + len - j) % len]).sum()
    }

    /// Adds the noise to `n` samples per channel, channel-major in `x`.
    pub fn apply(&mut self, x: &mut [f32], n: usize) {
        for i in 0..n {
            let places = self.replay.next();
            self.white();
            for (c, level) in self.level.iter().enumerate() {
                x[c * n + i] += at_places(level, 1.0, 0.5, &places) * self.noise(c);
            }
        }
    }
}

/// The record's baseline replayed. Constant cost per sample, no allocation after
/// construction.
pub struct BaselineStage {
    baseline: Vec<Vec<f32>>,
    replay: Replay,
}

impl BaselineStage {
    /// The baseline of `target` (checked) at `fs`, its places from `seed`, `lead` samples
    /// into the replay.
    pub fn new(target: &WanderTarget, fs: f64, seed: u64, lead: usize) -> Self {
        let mut replay = Replay::new(target.seconds(), fs, seed);
        for _ in 0..lead {
            replay.next();
        }
        BaselineStage {
            baseline: target.baseline.clone(),
            replay,
        }
    }

    /// Adds the baseline to `n` samples per channel, channel-major in `x`.
    pub fn apply(&mut self, x: &mut [f32], n: usize) {
        for i in 0..n {
            let places = self.replay.next();
            for (c, base) in self.baseline.iter().enumerate() {
                x[c * n + i] += at_places(base, RATE, 0.0, &places);
            }
        }
    }
}

/// The linear-phase kernel of amplitude spectrum `gain` (0 Hz to Nyquist), scaled so
/// white noise through it has a 25–45 Hz median |·| of 1 (measured on 20 s from a fixed
/// seed).
fn unit_kernel(gain: &[f32], fs: f64) -> Result<Vec<f32>> {
    let k = fir::design(gain);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let n = (20.0 * fs) as usize + k.len();
    let white: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
    let shaped: Vec<f32> = (0..n - k.len())
        .map(|i| k.iter().zip(&white[i..]).map(|(a, b)| a * b).sum())
        .collect();
    let top = LEVEL_BAND.1.min(0.45 * fs);
    let band = butter(2, Band::Bandpass(LEVEL_BAND.0, top), fs)?.filtfilt(&shaped)?;
    let m = median_abs(&band);
    if !(m > 0.0 && m.is_finite()) {
        return Err(Error::BadInput(
            "wander: a noise spectrum with nothing in 25-45 Hz".into(),
        ));
    }
    Ok(k.iter().map(|v| v / m).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-channel target `seconds` long: baseline `base(t)`, noise level `level`, the
    /// noise spectrum flat above 15 Hz at 360 Hz.
    fn target(seconds: usize, base: impl Fn(f64) -> f32, level: f32) -> WanderTarget {
        let n = (seconds as f64 * RATE) as usize;
        let gain = (0..33).map(|k| if k < 3 { 0.0 } else { 1.0 }).collect();
        WanderTarget {
            baseline: vec![(0..n).map(|k| base(k as f64 / RATE)).collect()],
            level: vec![vec![level; seconds]],
            noise_gain: vec![gain],
        }
    }

    /// `seconds` of the stage's output on silence at 360 Hz, from `seed`.
    fn replayed(t: &WanderTarget, seconds: f64, seed: u64) -> Vec<f32> {
        let mut w = Wander::new(t, 360.0, seed, 0).unwrap();
        let mut x = vec![0f32; (seconds * 360.0) as usize];
        for c in x.chunks_mut(100) {
            let n = c.len();
            w.noise.apply(c, n);
            w.baseline.apply(c, n);
        }
        x
    }

    /// The baseline a ramp (its value the time in the record): within a stretch the output
    /// climbs one unit a second from a place inside the record, and fades to the next
    /// place over a second, with no step between samples.
    #[test]
    fn the_replay_plays_stretches_of_the_record_and_fades_between_them() {
        let t = target(60, |s| s as f32, 0.0);
        let x = replayed(&t, 120.0, 3);
        let fs = 360.0;
        let step = x
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(step < 0.2, "largest step between samples {step}");
        let mut starts = Vec::new();
        for k in 0..11 {
            let (a, b) = ((k * 10 + 2) as f64 * fs, (k * 10 + 9) as f64 * fs);
            let slope = (x[b as usize] - x[a as usize]) / 7.0;
            assert!((slope - 1.0).abs() < 1e-3, "stretch {k}: slope {slope}");
            assert!(
                x[a as usize] >= 2.0 && x[b as usize] <= 60.0,
                "stretch {k} outside"
            );
            starts.push(x[a as usize]);
        }
        starts.dedup_by(|a, b| (*a - *b).abs() < 0.5);
        assert!(starts.len() > 8, "places {starts:?}");
        assert_eq!(x, replayed(&t, 120.0, 3));
        assert_ne!(x, replayed(&t, 120.0, 4));
    }

    /// The noise and the baseline stage of one seed read the record at the same places; a
    /// baseline stage `lead` samples in reads what one without reads `lead` samples later.
    #[test]
    fn both_stages_read_one_place_and_a_lead_moves_the_baseline_ahead() {
        let t = target(60, |s| s as f32, 0.01);
        let mut w = Wander::new(&t, 360.0, 5, 0).unwrap();
        for _ in 0..20_000 {
            assert_eq!(w.noise.replay.next(), w.baseline.replay.next());
        }
        let run = |lead| {
            let mut b = BaselineStage::new(&t, 360.0, 5, lead);
            let mut x = vec![0f32; 8000];
            b.apply(&mut x, 8000);
            x
        };
        let (plain, ahead) = (run(0), run(500));
        assert_eq!(&plain[500..], &ahead[..7500]);
    }

    /// A flat noise level comes out at that level (median |25–45 Hz|), on a zero baseline.
    #[test]
    fn the_noise_comes_out_at_the_saved_level() {
        let t = target(60, |_| 0.0, 0.01);
        let x = replayed(&t, 60.0, 1);
        let band = butter(2, Band::Bandpass(25.0, 45.0), 360.0).unwrap();
        let m = median_abs(&band.filtfilt(&x).unwrap());
        assert!((m / 0.01 - 1.0).abs() < 0.1, "median level {m}");
        let mean = x.iter().sum::<f32>() / x.len() as f32;
        assert!(mean.abs() < 1e-3, "mean {mean}");
    }

    /// Measured on a signal whose baseline is a slow sine and whose noise is loud in one
    /// half: the baseline comes back, the quiet half's level is 0 and the loud half's
    /// above it, and the noise spectrum is nothing below 15 Hz.
    #[test]
    fn the_target_holds_the_records_baseline_and_its_noise_above_the_quiet_seconds() {
        let fs = 360.0;
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let x: Vec<f32> = (0..(60.0 * fs) as usize)
            .map(|i| {
                let t = i as f64 / fs;
                let noise: f32 = StandardNormal.sample(&mut rng);
                let loud = if t < 30.0 { 0.002 } else { 0.02 };
                (0.5 * (std::f64::consts::TAU * 0.2 * t).sin()) as f32 + loud * noise
            })
            .collect();
        let t = WanderTarget::of_records(&[vec![x]], fs).unwrap();
        let b = &t.baseline[0];
        assert_eq!(b.len(), 600);
        let want = |k: usize| 0.5 * (std::f64::consts::TAU * 0.2 * k as f64 / RATE).sin();
        let err = (50..550)
            .map(|k| (f64::from(b[k]) - want(k)).abs())
            .fold(0.0, f64::max);
        assert!(err < 0.05, "baseline off by {err}");
        let l = &t.level[0];
        assert!(
            l[2..28].iter().all(|&v| v < 0.002),
            "quiet half {:?}",
            &l[..30]
        );
        // White noise of sd 0.02 has 20 of 180 Hz in the band: median |·| 0.674 · 0.02 ·
        // (20 / 180)^½ = 0.0045, less the quiet seconds' 0.00045.
        let loud = l[32..58].iter().sum::<f32>() / 26.0;
        assert!(
            (loud / 0.00405 - 1.0).abs() < 0.1,
            "loud half {:?}",
            &l[30..]
        );
        assert!(t.noise_gain[0][..3].iter().all(|&g| g == 0.0));
    }

    /// Records of 20.5 s and 15.25 s joined: 35 whole seconds of levels and ten baseline
    /// values for each, so the replay reads both at the same second.
    #[test]
    fn records_joined_keep_their_baseline_and_levels_aligned() {
        let fs = 360.0;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut record = |s: f64| -> Vec<Vec<f32>> {
            let n = (s * fs) as usize;
            vec![(0..n)
                .map(|_| {
                    let v: f32 = StandardNormal.sample(&mut rng);
                    0.01 * v
                })
                .collect()]
        };
        let t = WanderTarget::of_records(&[record(20.5), record(15.25)], fs).unwrap();
        assert_eq!(t.level[0].len(), 35);
        assert_eq!(t.baseline[0].len(), 350);
    }

    /// Too short, too slow a rate, or a config that does not fit: refused by name.
    #[test]
    fn a_record_too_short_or_too_slow_and_a_bad_target_are_refused() {
        let short = vec![vec![vec![0.1f32; 20 * 360]]];
        let e = WanderTarget::of_records(&short, 360.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--wander") && e.contains("30 s"), "{e}");
        let slow = vec![vec![vec![0.1f32; 60 * 50]]];
        let e = WanderTarget::of_records(&slow, 50.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--wander") && e.contains("50 Hz"), "{e}");
        let good = target(60, |_| 0.0, 0.01);
        assert!(good.check(1).is_ok());
        assert!(good.check(2).unwrap_err().contains("2 channels"));
        let mut bad = good.clone();
        bad.level[0][3] = -1.0;
        assert!(bad.check(1).unwrap_err().contains("negative"));
        let mut bad = good.clone();
        bad.baseline[0].truncate(50);
        assert!(bad.check(1).unwrap_err().contains("baselines"));
        let mut bad = good;
        bad.noise_gain[0] = vec![1.0; 1000];
        assert!(bad.check(1).unwrap_err().contains("noise spectra"));
    }
}
