//! Joining beat-aligned ECG segments one cardiac cycle at a time (pitch-synchronous
//! overlap-add, as speech synthesis joins pitch periods).
//!
//! Every segment comes from a window that starts a fixed time before an R peak (training
//! windows were cut that way, `data::beats`), so its first beat sits at a known place `r0`
//! and is sharp. The next R peak is found in the segment itself: the first point after a
//! refractory 250 ms where the slope energy (all channels pooled) rises through a quarter of
//! the first beat's, placed on the largest deflection from baseline within 100 ms. The cycle
//! from shortly before the first R to as long before the second is kept; cycles are joined
//! in the P–R interval with a short crossfade, each lifted to the previous one's baseline.
//! The RR interval of the output is thus the one the model decoded. The lift relaxes to the
//! decoded level with a time constant of `BASELINE_TAU_S` rather than within one cycle: the
//! output baseline is a low-pass of the decoded windows' levels, so a model whose
//! consecutive windows sit at unrelated levels (a sequence model drawing one beat at a time)
//! gives slow wander, not a ramp every beat. A segment with no second beat to be found is
//! skipped (up to 8 in a row), not played as a long pause; so is one whose cycle runs past
//! `MAX_RR_RATIO` times the running mean of the cycles kept: its decoded second beat was too
//! faint to find, and the cycle ran on to a third with a ghost beat inside.
//! Each kept cycle's first beat is labelled (`take_beats`) unless its slope energy is under
//! a tenth of the kept beats' running mean: a wide, smooth beat is still a beat. After a
//! beat it labels, the next beat's onset must rise past a share of the larger of that
//! beat's slope energy and the kept beats' running mean, so a wide premature beat's steep T
//! wave is not taken for it.

use super::splice::{join_lifted_by, Join, Ready};
use std::collections::VecDeque;

use crate::{Error, Result};

/// Refractory period after an R peak, seconds.
const MIN_RR_S: f64 = 0.25;
/// Search span for the second R peak's apex after its onset, seconds.
const SEARCH_S: f64 = 0.1;
/// How far the first R peak's apex may sit from `r0`, seconds.
const LOCATE_S: f64 = 0.025;
/// Where cycles are joined, seconds before the R peak (in the P–R interval).
const JOIN_S: f64 = 0.15;
/// Crossfade length, seconds.
const FADE_S: f64 = 0.04;
/// Slope-energy smoothing, seconds.
const SMOOTH_S: f64 = 0.025;
/// Fraction of the first beat's slope energy that marks the next beat's onset.
const ONSET: f32 = 0.25;
/// Fraction of the kept beats' mean slope energy a segment's first beat needs to be labelled
/// a beat. Wide decoded beats (0.3–1 mV, slope energy 0.12–0.25 of the mean) fell under
/// `ONSET` and played unlabelled: 10–13 per 10 min of `ecg-vae` that NeuroKit2 found and the
/// labels lacked; at 0.1, 0–1 (models/README, "Wide beats labelled").
const LABEL_SHARE: f32 = 0.1;
/// Time constant with which a cycle's lift to the previous baseline relaxes, seconds.
/// Measured: held-out AUC of the latent transformer 0.92–0.94 → 0.86–0.88 (one ramp per
/// cycle before); the VAE's slow walk unchanged (five-fold mean 0.821 vs 0.822).
const BASELINE_TAU_S: f64 = 1.0;
/// Segments in a row without a second beat that are skipped before one is kept whole.
const MAX_SKIPPED: usize = 8;
/// A cycle longer than this times the running mean of kept cycles is skipped (within
/// `MAX_SKIPPED`). Decoded windows whose second beat is faint gave 6–8 % of RR intervals
/// over 0.9 s against MIT-BIH 208's 0–1.3 %; measured on the held-out folds (seeds 1–4):
/// latent transformer AUC 0.791 → 0.766, VAE 0.768 → 0.758 (1.4, 1.8, 2.0: no better).
const MAX_RR_RATIO: f32 = 1.6;
/// Weight of each kept cycle in that running mean (~20 cycles).
const RR_MEAN_RATE: f32 = 0.05;

/// Streaming splicer of beat-aligned segments (`n_channels × segment_len`, channel-major).
pub struct BeatSplicer {
    len: usize,
    r0: usize,
    locate: usize,
    join: usize,
    fade: usize,
    min_rr: usize,
    search: usize,
    smooth: usize,
    /// The last `fade` samples of the previous cycle, channel-major; empty before the first.
    tail: Vec<f32>,
    /// The buffer the next tail is written into (swapped with `tail`: no allocation).
    next_tail: Vec<f32>,
    /// Segments skipped in a row for want of a second beat.
    skipped: usize,
    ready: Ready,
    deviation: Vec<f32>,
    energy: Vec<f32>,
    slope: Vec<f32>,
    scratch: Vec<f32>,
    /// Per-sample factor by which the lift to the previous baseline decays.
    decay: f32,
    /// Running mean length of the cycles kept, samples (0 before the first).
    mean_rr: f32,
    /// Running mean slope energy of the kept cycles' first beats (0 before the first).
    mean_peak: f32,
    /// Samples per channel appended to the output so far.
    placed: u64,
    /// Output index of each R peak placed and not yet taken (`Join::take_beats`).
    beats: Vec<u64>,
}

impl BeatSplicer {
    /// A splicer for segments of `segment_len` samples at `fs` Hz whose first R peak is at
    /// sample `r0`; refuses shapes with no room for a join before it or a beat after it.
    pub fn new(n_channels: usize, segment_len: usize, r0: usize, fs: f64) -> Result<Self> {
        let n = |s: f64| ((s * fs).round() as usize).max(1);
        let (locate, fade) = (n(LOCATE_S), n(FADE_S));
        let (min_rr, search) = (n(MIN_RR_S), n(SEARCH_S));
        if n_channels == 0
            || r0 < locate + fade
            || [locate, min_rr, search, fade]
                .iter()
                .fold(r0, |a, &b| a.saturating_add(b))
                > segment_len
        {
            return Err(Error::BadInput(format!(
                "beat splicer: segments of {segment_len} samples at {fs} Hz with the R peak at \
                 {r0} leave no room for a join before it and a beat after it (need R ≥ {} and \
                 ≥ {} samples after it, ≥ 1 channel)",
                locate + fade,
                locate + min_rr + search + fade
            )));
        }
        Ok(Self {
            len: segment_len,
            r0,
            locate,
            join: n(JOIN_S).min(r0 - locate),
            fade,
            min_rr,
            search,
            smooth: n(SMOOTH_S),
            tail: Vec::with_capacity(n_channels * fade),
            next_tail: Vec::with_capacity(n_channels * fade),
            skipped: 0,
            ready: Ready::new(n_channels, 2 * segment_len),
            deviation: Vec::with_capacity(segment_len),
            energy: Vec::with_capacity(segment_len),
            slope: Vec::with_capacity(segment_len),
            scratch: Vec::with_capacity(segment_len),
            decay: (-1.0 / (BASELINE_TAU_S * fs)).exp() as f32,
            mean_rr: 0.0,
            mean_peak: 0.0,
            placed: 0,
            beats: Vec::new(),
        })
    }

    /// Pooled absolute deviation from each channel's median, and smoothed slope energy.
    fn measure(&mut self, seg: &[f32]) {
        let l = self.len;
        self.deviation.clear();
        self.deviation.resize(l, 0.0);
        self.slope.clear();
        self.slope.resize(l, 0.0);
        for x in seg.chunks_exact(l) {
            self.scratch.clear();
            self.scratch.extend_from_slice(x);
            let mid = l / 2;
            let med = *self.scratch.select_nth_unstable_by(mid, f32::total_cmp).1;
            for (i, d) in self.deviation.iter_mut().enumerate() {
                *d += (x[i] - med).abs();
            }
            for (i, s) in self.slope.iter_mut().enumerate().skip(1) {
                *s += (x[i] - x[i - 1]).abs();
            }
        }
        let w = self.smooth;
        self.energy.clear();
        self.energy.extend((0..l).map(|i| {
            let (a, b) = (i.saturating_sub(w / 2), (i + w / 2 + 1).min(l));
            self.slope[a..b].iter().sum::<f32>() / (b - a) as f32
        }));
    }

    /// Index of the largest deviation in `lo..hi`.
    fn apex(&self, lo: usize, hi: usize) -> usize {
        (lo..hi)
            .max_by(|&a, &b| self.deviation[a].total_cmp(&self.deviation[b]))
            .unwrap_or(lo)
    }

    /// First R peak of the measured segment, its slope energy, and the second R peak
    /// (`None`: no second beat).
    fn beats(&self) -> (usize, f32, Option<usize>) {
        let r0 = self.apex(self.r0 - self.locate, self.r0 + self.locate + 1);
        let peak = self.energy[r0 - self.locate..=r0 + self.locate]
            .iter()
            .fold(0f32, |m, &e| m.max(e));
        // A cycle ends `fade` after `r1 - join` (within the segment since join ≥ fade).
        let limit = self.len;
        // The next onset is a rise through the threshold: energy still above it at the end
        // of the refractory period is the first beat's own tail (a wide PVC, a tall T wave).
        let above = |i: &usize| self.energy[*i] > ONSET * peak;
        // After a beat (one to be labelled), the next rises as the kept beats do: a wide
        // premature beat's own T wave, steep beside its slow QRS, is not one (it made
        // cycles of 0.25 s after PVCs, which MIT-BIH 208 never has below 0.39 s).
        let level = match self.is_beat(peak) {
            true => peak.max(self.mean_peak),
            false => peak,
        };
        let next = |i: &usize| self.energy[*i] > ONSET * level;
        let onset = (r0 + self.min_rr..limit).skip_while(above).find(next);
        (
            r0,
            peak,
            onset.map(|d| self.apex(d, (d + self.search).min(limit))),
        )
    }

    /// Whether a first beat of slope energy `peak` is one to label: not far fainter than the
    /// kept ones (`LABEL_SHARE`), or the first of all.
    fn is_beat(&self, peak: f32) -> bool {
        self.mean_peak == 0.0 || peak >= LABEL_SHARE * self.mean_peak
    }

    /// Whether a cycle of `span` samples is kept (not far longer than the running mean, or
    /// `MAX_SKIPPED` skipped already); a kept one moves the mean, and one kept only because
    /// so many were skipped resets it (the rhythm has slowed).
    fn keeps(&mut self, span: usize) -> bool {
        let span = span as f32;
        let long = self.mean_rr > 0.0 && span > MAX_RR_RATIO * self.mean_rr;
        if long && self.skipped < MAX_SKIPPED {
            return false;
        }
        self.mean_rr = if long || self.mean_rr == 0.0 {
            span
        } else {
            self.mean_rr + RR_MEAN_RATE * (span - self.mean_rr)
        };
        true
    }
}

impl Join for BeatSplicer {
    fn segment_len(&self) -> usize {
        self.len
    }

    fn push(&mut self, seg: &[f32]) -> Result<()> {
        let (l, fade, nc) = (self.len, self.fade, self.ready.n_channels());
        if seg.len() != l * nc {
            return Err(Error::BadInput(format!(
                "beat splicer: segment has {} values, expected {}",
                seg.len(),
                l * nc
            )));
        }
        self.measure(seg);
        let (r0, peak, r1) = self.beats();
        let (r0, r1) = match r1 {
            Some(r1) if self.keeps(r1 - r0) => (r0, r1),
            // Kept whole after MAX_SKIPPED, and the running mean left alone.
            None if self.skipped >= MAX_SKIPPED => (r0, l),
            // A decoded window whose second beat is too faint to find would be one long
            // beatless cycle (a pause the record never has), and a cycle far longer than the
            // running mean missed a faint beat: skip them, within reason.
            _ => {
                self.skipped += 1;
                return Ok(());
            }
        };
        self.skipped = 0;
        let (a, span) = (r0 - self.join, r1 - r0);
        let first = self.tail.is_empty();
        let mut tail = std::mem::take(&mut self.next_tail);
        tail.clear();
        for (c, x) in seg.chunks_exact(l).enumerate() {
            let cycle = &x[a..a + span + fade];
            let q = self.ready.lane(c);
            if first {
                q.extend(&cycle[..span]);
                tail.extend_from_slice(&cycle[span..]);
            } else {
                let old = &self.tail[c * fade..(c + 1) * fade];
                join_relaxed(q, &mut tail, old, cycle, span, self.decay);
            }
        }
        self.next_tail = std::mem::replace(&mut self.tail, tail);
        // The cycle starts `join` before its R peak, at the output's end; a first beat far
        // fainter than the kept ones is no beat.
        if self.is_beat(peak) {
            self.beats.push(self.placed + self.join as u64);
        }
        self.mean_peak = if self.mean_peak == 0.0 {
            peak
        } else {
            self.mean_peak + RR_MEAN_RATE * (peak - self.mean_peak)
        };
        self.placed += span as u64;
        Ok(())
    }

    fn available(&self) -> usize {
        self.ready.available()
    }

    fn pull(&mut self, out: &mut [f32], len: usize) -> bool {
        self.ready.pull(out, len)
    }

    fn take_beats(&mut self, out: &mut VecDeque<u64>) {
        out.extend(self.beats.drain(..));
    }
}

/// Appends `cycle[..span]` to `q`, crossfaded over the first `old.len()` samples from `old`
/// (the previous cycle's lifted tail) and lifted to its level, the lift shrinking by `decay`
/// per sample; the rest of `cycle`, lifted likewise, goes to `tail` for the next join.
fn join_relaxed(
    q: &mut VecDeque<f32>,
    tail: &mut Vec<f32>,
    old: &[f32],
    cycle: &[f32],
    span: usize,
    decay: f32,
) {
    let profile = |i: usize| decay.powi(i as i32);
    let step = join_lifted_by(q, old, cycle, span, profile);
    tail.extend((span..cycle.len()).map(|i| cycle[i] + step * profile(i)));
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::dsp::splice::tests::pulses as spikes;

    /// Everything the splicer has ready (one channel).
    fn drained(sp: &mut BeatSplicer) -> Vec<f32> {
        let n = sp.available();
        let mut out = vec![0.0; n];
        assert!(sp.pull(&mut out, n));
        out
    }

    fn peaks(x: &[f32]) -> Vec<usize> {
        (1..x.len() - 1)
            .filter(|&i| x[i] > 0.5 && x[i] >= x[i - 1] && x[i] > x[i + 1])
            .collect()
    }

    #[test]
    fn one_cycle_per_segment_at_the_decoded_rr() {
        let (fs, l, r0) = (360.0, 640, 76);
        let mut sp = BeatSplicer::new(1, l, r0, fs).unwrap();
        let rrs = [200, 180, 230, 200, 260, 150, 210];
        for &rr in &rrs {
            sp.push(&spikes(l, rr, r0)).unwrap();
        }
        let out = drained(&mut sp);
        let p = peaks(&out);
        let got: Vec<usize> = p.windows(2).map(|w| w[1] - w[0]).collect();
        // Every cycle but the last (whose next beat comes with the next segment) is out.
        assert_eq!(got, rrs[..rrs.len() - 1].to_vec());
        // And the splicer says where it put each R peak.
        let mut beats = VecDeque::new();
        sp.take_beats(&mut beats);
        let placed: Vec<usize> = beats.iter().map(|&b| b as usize).collect();
        assert_eq!(placed, p);
        sp.take_beats(&mut beats);
        assert_eq!(beats.len(), p.len(), "taken once");
    }

    #[test]
    fn a_first_beat_ringing_past_the_refractory_period_is_not_the_next_beat() {
        // A wide complex (a PVC, a tall T wave): slope energy above the onset threshold from
        // the first beat to 100 samples after it, past the 90-sample refractory period. The
        // cycle ends at the next beat's rise, not where the refractory period ends.
        let (fs, l, r0) = (360.0, 640, 76);
        let mut sp = BeatSplicer::new(1, l, r0, fs).unwrap();
        let rrs = [200, 180, 230, 200];
        for &rr in &rrs {
            let mut seg = spikes(l, rr, r0);
            for (i, v) in seg.iter_mut().enumerate().take(r0 + 100).skip(r0 + 5) {
                *v += 0.3 * (std::f32::consts::TAU * i as f32 / 6.0).sin();
            }
            sp.push(&seg).unwrap();
        }
        let out = drained(&mut sp);
        let p = peaks(&out);
        let got: Vec<usize> = p.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(got, rrs[..rrs.len() - 1].to_vec());
    }

    #[test]
    fn a_wide_beats_t_wave_is_not_the_next_beat() {
        // Kept beats set the running mean of their slope energy; then a beat not as steep
        // (a wide PVC's) whose T wave, a fifth as steep as a kept beat, rises 110 samples
        // after it, past the refractory period: the cycle runs on to the next beat, 250
        // samples after it, not to the T wave (which passes a quarter of its own beat's).
        let (fs, l, r0) = (360.0, 640, 76);
        let mut sp = BeatSplicer::new(1, l, r0, fs).unwrap();
        for _ in 0..3 {
            sp.push(&spikes(l, 200, r0)).unwrap();
        }
        let mut seg = spikes(l, 250, r0);
        for v in &mut seg[r0 - 20..r0 + 20] {
            *v *= 0.6;
        }
        for (v, t) in seg.iter_mut().zip(spikes(l, 1000, r0 + 110)) {
            *v += 0.2 * t;
        }
        sp.push(&seg).unwrap();
        sp.push(&spikes(l, 200, r0)).unwrap();
        let p = peaks(&drained(&mut sp));
        let got: Vec<usize> = p.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(got, [200, 200, 200, 250]);
    }

    #[test]
    fn a_first_beat_far_fainter_than_the_kept_ones_is_joined_but_not_labelled() {
        let (fs, l, r0, rr) = (360.0, 640, 76, 200);
        let mut sp = BeatSplicer::new(1, l, r0, fs).unwrap();
        // Segment 3 is a twentieth of the others (its first beat no beat); segment 5's first
        // beat is a fifth of the others' (a wide or small beat, as `ecg-vae` decodes some:
        // labelled).
        for k in 0..7 {
            let scale = |i: usize| match k {
                3 => 0.05,
                5 if i < r0 + rr / 2 => 0.2,
                _ => 1.0,
            };
            let seg = spikes(l, rr, r0);
            let seg: Vec<f32> = seg.iter().enumerate().map(|(i, v)| v * scale(i)).collect();
            sp.push(&seg).unwrap();
        }
        let mut beats = VecDeque::new();
        sp.take_beats(&mut beats);
        let join = sp.join as u64;
        let want: Vec<u64> = [0, 1, 2, 4, 5, 6]
            .iter()
            .map(|k| k * rr as u64 + join)
            .collect();
        assert_eq!(Vec::from(beats), want);
    }

    /// Baseline of each `rr`-sample output cycle, as (median, 90th − 10th percentile: how
    /// far it moves within the cycle), after pushing spike segments at the decoded `levels`.
    fn cycle_baselines(levels: &[f32], rr: usize) -> Vec<(f32, f32)> {
        let (fs, l, r0) = (360.0, 640, 76);
        let mut sp = BeatSplicer::new(1, l, r0, fs).unwrap();
        for &lv in levels {
            let seg: Vec<f32> = spikes(l, rr, r0).iter().map(|v| v + lv).collect();
            sp.push(&seg).unwrap();
        }
        let out = drained(&mut sp);
        out.chunks_exact(rr)
            .map(|c| {
                let mut c = c.to_vec();
                c.sort_by(f32::total_cmp);
                (c[rr / 2], c[rr * 9 / 10] - c[rr / 10])
            })
            .collect()
    }

    #[test]
    fn baselines_of_consecutive_cycles_are_low_passed_not_ramped() {
        // Decoded windows at alternating levels ±1 (cycles of 200 samples at 360 Hz): a lift
        // gone within each cycle would ramp through ~1.6 every beat; relaxing over a second,
        // the output baseline stays near 0 and nearly flat.
        let alternating: Vec<f32> = (0..40)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        for (i, (median, range)) in cycle_baselines(&alternating, 200)
            .into_iter()
            .enumerate()
            .skip(10)
        {
            assert!(
                median.abs() < 0.5 && range < 0.5,
                "cycle {i}: {median} {range}"
            );
        }
        // Windows that all sit at one level are played at it, with no drift...
        let b = cycle_baselines(&[0.7; 40], 200);
        assert!(
            b.iter().all(|(m, r)| (m - 0.7).abs() < 1e-3 && *r < 1e-3),
            "{b:?}"
        );
        // ...and a step in the decoded level is followed within a few cycles.
        let mut step = vec![0.0f32; 10];
        step.extend([2.0f32; 30]);
        let b = cycle_baselines(&step, 200);
        assert!(b[10].0 < 1.0 && b[14].0 > 1.8, "{b:?}");
    }

    #[test]
    fn a_cycle_far_longer_than_the_running_mean_is_skipped_unless_the_rhythm_stays_slow() {
        let (fs, l, r0) = (360.0, 640, 76);
        let mut sp = BeatSplicer::new(1, l, r0, fs).unwrap();
        // Regular 200-sample cycles with one of 400 (a missed faint beat) among them.
        let rrs = [200, 210, 190, 200, 400, 200, 205, 195];
        for &rr in &rrs {
            sp.push(&spikes(l, rr, r0)).unwrap();
        }
        let out = drained(&mut sp);
        let p = peaks(&out);
        let got: Vec<usize> = p.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(got, [200, 210, 190, 200, 200, 205]);
        // A rhythm that slows for good: after MAX_SKIPPED the long cycles are played, and
        // the mean starts again from them.
        for _ in 0..MAX_SKIPPED + 40 {
            sp.push(&spikes(l, 400, r0)).unwrap();
        }
        let out = drained(&mut sp);
        let p = peaks(&out);
        let long = p.windows(2).filter(|w| w[1] - w[0] == 400).count();
        assert_eq!(long, 40 - 1, "long cycles played of {}", MAX_SKIPPED + 40);
        // A window kept whole for want of a second beat leaves the mean alone: a long cycle
        // after it is still skipped.
        let mut sp = BeatSplicer::new(1, l, r0, fs).unwrap();
        let lone = spikes(l, 10_000, r0);
        for seg in [200, 200, 200].map(|rr| spikes(l, rr, r0)) {
            sp.push(&seg).unwrap();
        }
        for _ in 0..=MAX_SKIPPED {
            sp.push(&lone).unwrap();
        }
        for rr in [200, 400, 200, 200] {
            sp.push(&spikes(l, rr, r0)).unwrap();
        }
        let out = drained(&mut sp);
        let p = peaks(&out);
        assert!(p.windows(2).all(|w| w[1] - w[0] != 400), "{p:?}");
    }

    #[test]
    fn segments_without_a_second_beat_are_skipped_then_kept_and_bad_shapes_are_refused() {
        let (fs, l, r0) = (360.0, 640, 76);
        let mut sp = BeatSplicer::new(2, l, r0, fs).unwrap();
        let mut lone: Vec<f32> = spikes(l, 10_000, r0);
        lone.extend(spikes(l, 10_000, r0));
        for _ in 0..MAX_SKIPPED {
            sp.push(&lone).unwrap();
            assert_eq!(sp.available(), 0);
        }
        sp.push(&lone).unwrap();
        assert!(sp.available() > l / 2);
        assert!(sp.push(&lone[..l]).is_err());
        assert!(BeatSplicer::new(1, 100, 76, fs).is_err());
        assert!(BeatSplicer::new(1, 640, 5, fs).is_err());
    }
}
