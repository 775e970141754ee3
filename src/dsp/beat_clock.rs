//! A beat clock for frame transformers on ECG: where a frame falls in the cardiac cycle.
//!
//! Drawn frame by frame, a transformer over short spectral frames has to guess from its own
//! draws whether a QRS starts now, and on one record it guesses badly (beats run together,
//! then gaps). With a clock every token also carries the next frame's place in the cycle
//! (time since the last R peak, time to the next one, the phase between them), taken from
//! the R peaks `qrs::detect` finds in training and, when sampling, from a [`Rhythm`] that
//! replays stretches of the training RR intervals: the rhythm is set before the waveform.
//! With kinds of beat (`train --clock-kinds K`, the training beats grouped by shape, e.g.
//! normal and ventricular) the clock also says which kind the frame's beat is, and the
//! rhythm replays each interval with the kind of the beat that ends it.

use super::qrs;
use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

/// Hops around an R peak the clock marks one by one (one-hot): a smooth "seconds to the
/// next R" differs by only a hop's worth between the frame where the QRS enters and the one
/// before it, too little for a short training to turn into a sharp decision.
pub const NEAR: usize = 8;

/// Clock values per token: seconds since the last R peak, seconds to the next, the sine
/// and cosine of the phase between them, then one-hot the hops since the last R peak and
/// the hops to the next (each only within [`NEAR`]).
pub const INPUTS: usize = 4 + 2 * NEAR;

/// Most kinds of beat a clock tells apart.
pub const MAX_KINDS: usize = 8;

/// Clock values per token with `kinds` kinds of beat: [`INPUTS`], then one-hot the kind of
/// the frame's beat when there are two kinds or more.
pub fn inputs(kinds: usize) -> usize {
    INPUTS + if kinds > 1 { kinds } else { 0 }
}

/// The kind of the frame's beat a clock of [`inputs`]`(kinds)` values says (0 without kinds).
pub fn kind_of(clock: &[f32], kinds: usize) -> usize {
    if kinds < 2 {
        return 0;
    }
    (0..kinds)
        .find(|&k| clock.get(INPUTS + k) == Some(&1.0))
        .unwrap_or(0)
}

/// Appends `base` (a clock from [`at`]) and, with kinds, one-hot the kind of the frame's
/// beat: the next beat's where [`slot`] puts the frame just before the next R peak, the last
/// beat's everywhere else (its QRS, ST segment and T wave).
fn push_clock(base: &[f32; INPUTS], kinds: usize, last: u8, next: u8, out: &mut Vec<f32>) {
    out.extend_from_slice(base);
    if kinds > 1 {
        let kind = usize::from(if slot(base) < NEAR { next } else { last });
        out.extend((0..kinds).map(|k| f32::from(u8::from(k == kind))));
    }
}

/// Consecutive training RR intervals a [`Rhythm`] replays before it jumps elsewhere: long
/// enough to keep the record's beat-to-beat variability, short enough not to copy it.
pub const STRETCH: usize = 16;

/// Each replayed stretch runs at a tempo drawn uniformly within ±this share of the
/// record's: the same stretch replayed twice then drifts apart within a few beats instead
/// of laying down the same beats again (an hour replays each start several times).
pub const TEMPO: f64 = 0.05;

/// Shortest and longest RR interval (seconds) a rhythm replays: 600 to 6 bpm. A checkpoint's
/// intervals come from a file, and a vanishing one would keep the clock from advancing.
pub const RR_RANGE: (f32, f32) = (0.1, 10.0);

/// Whether `rr` is a rhythm to replay: at least [`MIN_INTERVALS`] intervals, each within
/// [`RR_RANGE`]; if not, what is wrong, for the checkpoint check and [`Rhythm::new`] alike.
pub fn check_replayable(rr: &[f32]) -> std::result::Result<(), String> {
    if rr.len() >= MIN_INTERVALS && rr.iter().all(within_range) {
        return Ok(());
    }
    Err(format!(
        "{} RR intervals; the beat clock needs at least {MIN_INTERVALS}, each within {}–{} s",
        rr.len(),
        RR_RANGE.0,
        RR_RANGE.1
    ))
}

/// Whether one interval (seconds) lies within [`RR_RANGE`].
fn within_range(r: &f32) -> bool {
    (RR_RANGE.0..=RR_RANGE.1).contains(r)
}

/// The median gap between successive `peaks` in samples (the upper middle one of an even
/// count); `None` with fewer than two peaks.
fn median_gap(peaks: &[usize]) -> Option<f64> {
    let mut gaps: Vec<usize> = peaks.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).map(|&g| g as f64)
}

/// Fewest RR intervals a clock is fitted from.
pub const MIN_INTERVALS: usize = 4;

/// The clock at sample `c` between R peaks at `prev` and `next` (samples, `prev ≤ c < next`)
/// for frames `hop` samples apart.
pub fn at(c: f64, prev: f64, next: f64, fs: f64, hop: f64) -> [f32; INPUTS] {
    let (since, until) = ((c - prev) / fs, (next - c) / fs);
    let phase = std::f64::consts::TAU * since / (since + until).max(1e-9);
    let mut v = [0f32; INPUTS];
    v[..4].copy_from_slice(&[
        since as f32,
        until as f32,
        phase.sin() as f32,
        phase.cos() as f32,
    ]);
    let hops = |d: f64| (d / hop).floor() as usize;
    if let Some(k) = Some(hops(c - prev)).filter(|&k| k < NEAR) {
        v[4 + k] = 1.0;
    }
    if let Some(k) = Some(hops(next - c)).filter(|&k| k < NEAR) {
        v[4 + NEAR + k] = 1.0;
    }
    v
}

/// Places in the cycle [`slot`] tells apart: each hop within [`NEAR`] before an R peak,
/// each hop within it after one, and everywhere else.
pub const SLOTS: usize = 2 * NEAR + 1;

/// The place in the cycle of a frame whose clock is `clock` ([`INPUTS`] values, as [`at`]
/// gives them): `k` for `k` hops before the next R peak, `NEAR + k` for `k` hops after the
/// last, the nearer of the two where both are within [`NEAR`], `2 * NEAR` farther from both.
pub fn slot(clock: &[f32]) -> usize {
    let hot = |from: usize| (0..NEAR).find(|&k| clock.get(from + k) == Some(&1.0));
    match (hot(4 + NEAR), hot(4)) {
        (Some(to), Some(since)) if since < to => NEAR + since,
        (Some(to), _) => to,
        (None, Some(since)) => NEAR + since,
        (None, None) => 2 * NEAR,
    }
}

/// Places in the cycle with `kinds` kinds of beat: every [`slot`] of every kind.
pub fn places(kinds: usize) -> usize {
    SLOTS * kinds.max(1)
}

/// The place of a frame whose clock is `clock` ([`inputs`]`(kinds)` values): its [`slot`]
/// within its beat's kind ([`kind_of`]), below [`places`]`(kinds)`.
pub fn place(clock: &[f32], kinds: usize) -> usize {
    slot(clock) + SLOTS * kind_of(clock, kinds)
}

/// RR intervals outside this range of multiples of the median are taken for detector
/// errors (a beat missed in an artefact, a T wave taken for an R) and are not replayed.
pub const PLAUSIBLE_RR: (f32, f32) = (0.5, 2.0);

/// R peaks of `lead` (first channel of a record named `name`), the RR intervals to replay,
/// in seconds (those within [`PLAUSIBLE_RR`] of the median, in order), and for each the
/// index in the peaks of the R peak that ends it; an error naming the record if fewer than
/// [`MIN_INTERVALS`] are left.
pub fn peaks(name: &str, lead: &[f32], fs: f64) -> Result<(Vec<usize>, Vec<f32>, Vec<usize>)> {
    let peaks = qrs::detect(lead, fs).map_err(|e| Error::BadInput(format!("{name}: {e}")))?;
    let mut rr: Vec<(f32, usize)> = peaks
        .windows(2)
        .enumerate()
        .map(|(i, w)| (((w[1] - w[0]) as f64 / fs) as f32, i + 1))
        .collect();
    if let Some(gap) = median_gap(&peaks) {
        let median = (gap / fs) as f32;
        let (lo, hi) = (PLAUSIBLE_RR.0 * median, PLAUSIBLE_RR.1 * median);
        rr.retain(|(r, _)| (lo..=hi).contains(r) && within_range(r));
    }
    if rr.len() < MIN_INTERVALS {
        return Err(Error::BadInput(format!(
            "{name}: {} R peaks detected: the beat clock (--clock) needs ECG with at least {} \
             beats in its first channel",
            peaks.len(),
            MIN_INTERVALS + 1
        )));
    }
    let (rr, ends) = rr.into_iter().unzip();
    Ok((peaks, rr, ends))
}

/// The clock of every frame centre in `centres` (samples) from the R peaks `peaks`
/// (ascending, at least two), [`inputs`]`(kinds)` values per centre, `kind` giving each
/// peak's kind of beat (ignored with fewer than two kinds). Before the first peak and after
/// the last the median RR interval stands in for the unseen neighbour (its beat of kind 0).
pub fn of_centres(
    peaks: &[usize],
    kind: &[u8],
    kinds: usize,
    centres: impl Iterator<Item = usize>,
    fs: f64,
    hop: usize,
) -> Vec<f32> {
    let median = median_gap(peaks).unwrap_or(fs);
    let (first, last) = (peaks[0] as f64, peaks[peaks.len() - 1] as f64);
    let kind_at = |i: usize| kind.get(i).copied().unwrap_or(0);
    let mut out = Vec::new();
    let mut i = 0; // peaks[..i] are at or before the centre
    for c in centres {
        while i < peaks.len() && peaks[i] <= c {
            i += 1;
        }
        let (prev, last_kind) = if i == 0 {
            let before = first - median * ((first - c as f64) / median).ceil().max(1.0);
            (before, 0)
        } else {
            (peaks[i - 1] as f64, kind_at(i - 1))
        };
        let (next, next_kind) = match peaks.get(i) {
            Some(&p) => (p as f64, kind_at(i)),
            None => (prev.max(last) + median, 0),
        };
        let base = at(c as f64, prev, next, fs, hop as f64);
        push_clock(&base, kinds, last_kind, next_kind, &mut out);
    }
    out
}

/// A beat clock when sampling: R peaks laid down by replaying stretches of [`STRETCH`]
/// consecutive training RR intervals, each from a seeded random start at its own tempo
/// ([`TEMPO`]), each interval with the kind of the beat that ended it in training.
#[derive(Debug, Clone)]
pub struct Rhythm {
    rr: Vec<f32>,
    /// The kind of the beat ending each interval (empty: one kind).
    kind: Vec<u8>,
    kinds: usize,
    fs: f64,
    hop: f64,
    rng: ChaCha8Rng,
    /// Next interval to replay, how many of its stretch are left, and the stretch's tempo.
    pos: usize,
    left: usize,
    tempo: f64,
    /// The R peaks around the last clock asked for (samples from the stream's start), and
    /// their kinds.
    prev: f64,
    next: f64,
    prev_kind: u8,
    next_kind: u8,
    /// R peaks the clock has passed and nobody has taken yet ([`Rhythm::next_peak`]), with
    /// their kinds; at most [`KEPT_PEAKS`], the oldest dropped first.
    passed: VecDeque<(f64, u8)>,
}

/// Most passed R peaks a [`Rhythm`] keeps for [`Rhythm::next_peak`]: a rhythm clocked on
/// and never asked for its peaks (a calibration's draws) stays this small.
pub const KEPT_PEAKS: usize = 1024;

impl Rhythm {
    /// A rhythm replaying `rr` (seconds, at least [`MIN_INTERVALS`]) with `kind` (the kind of
    /// the beat ending each interval, below `kinds`; empty for one kind) at `fs` Hz for
    /// frames `hop` samples apart, drawn with `seed`; the first R peak falls at a random
    /// place within the first interval.
    pub fn new(
        rr: &[f32],
        kind: &[u8],
        kinds: usize,
        fs: f64,
        hop: f64,
        seed: u64,
    ) -> Result<Self> {
        check_replayable(rr).map_err(|m| Error::BadInput(format!("beat clock: {m}")))?;
        check_kinds(rr, kind, kinds).map_err(|m| Error::BadInput(format!("beat clock: {m}")))?;
        Ok(Self::replaying(
            rr.to_vec(),
            kind.to_vec(),
            kinds,
            fs,
            hop,
            seed,
        ))
    }

    /// The same intervals replayed afresh from `seed`.
    pub fn restarted(&self, seed: u64) -> Self {
        let (rr, kind) = (self.rr.clone(), self.kind.clone());
        Self::replaying(rr, kind, self.kinds, self.fs, self.hop, seed)
    }

    fn replaying(rr: Vec<f32>, kind: Vec<u8>, kinds: usize, fs: f64, hop: f64, seed: u64) -> Self {
        let mut r = Rhythm {
            rr,
            kind,
            kinds,
            fs,
            hop,
            rng: ChaCha8Rng::seed_from_u64(seed),
            pos: 0,
            left: 0,
            tempo: 1.0,
            prev: 0.0,
            next: 0.0,
            prev_kind: 0,
            next_kind: 0,
            passed: VecDeque::new(),
        };
        let (first, kind) = r.interval();
        r.next = r.rng.random::<f64>() * first;
        r.prev = r.next - first;
        r.next_kind = kind;
        r
    }

    /// The next replayed interval in samples and the kind of the beat ending it.
    fn interval(&mut self) -> (f64, u8) {
        if self.left == 0 {
            self.pos = self.rng.random_range(0..self.rr.len());
            self.left = STRETCH;
            self.tempo = self.rng.random_range(1.0 - TEMPO..=1.0 + TEMPO);
        }
        let v = f64::from(self.rr[self.pos]) * self.tempo * self.fs;
        let kind = self.kind.get(self.pos).copied().unwrap_or(0);
        self.pos = (self.pos + 1) % self.rr.len();
        self.left -= 1;
        (v, kind)
    }

    /// Samples between the frames it clocks.
    pub fn hop(&self) -> f64 {
        self.hop
    }

    /// Appends the clock at sample `c` ([`inputs`] values for the rhythm's kinds) to `out`;
    /// `c` must not decrease from one call to the next.
    pub fn clock(&mut self, c: f64, out: &mut Vec<f32>) {
        while self.next <= c {
            if self.passed.len() == KEPT_PEAKS {
                self.passed.pop_front();
            }
            self.passed.push_back((self.next, self.next_kind));
            self.prev = self.next;
            self.prev_kind = self.next_kind;
            let (gap, kind) = self.interval();
            self.next += gap;
            self.next_kind = kind;
        }
        let base = at(c, self.prev, self.next, self.fs, self.hop);
        push_clock(&base, self.kinds, self.prev_kind, self.next_kind, out);
    }

    /// The earliest R peak the clock has passed (sample, kind of its beat) if it lies
    /// before sample `before`, taken out: each R peak is told once, in order.
    pub fn next_peak(&mut self, before: f64) -> Option<(f64, u8)> {
        let &(at, kind) = self.passed.front().filter(|p| p.0 < before)?;
        self.passed.pop_front();
        Some((at, kind))
    }
}

/// Whether `kind` fits a rhythm of `rr` with `kinds` kinds of beat: empty, or one kind
/// below `kinds` per interval, and `kinds` at most [`MAX_KINDS`].
pub fn check_kinds(rr: &[f32], kind: &[u8], kinds: usize) -> std::result::Result<(), String> {
    if kinds > MAX_KINDS {
        return Err(format!("{kinds} kinds of beat; at most {MAX_KINDS}"));
    }
    if kind.is_empty() || (kind.len() == rr.len() && kind.iter().all(|&k| usize::from(k) < kinds)) {
        return Ok(());
    }
    Err(format!(
        "{} kinds of beat for {} RR intervals, each below {kinds}",
        kind.len(),
        rr.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_runs_from_one_peak_to_the_next() {
        let c = of_centres(
            &[100, 200, 400],
            &[],
            1,
            [50, 100, 150, 399, 400, 500].into_iter(),
            100.0,
            5,
        );
        let rows: Vec<&[f32]> = c.chunks_exact(INPUTS).collect();
        // Before the first peak: the median interval (200) stands in for the previous.
        assert!((rows[0][0] - 1.5).abs() < 1e-6 && (rows[0][1] - 0.5).abs() < 1e-6);
        // On a peak the clock restarts: 0 s since it, the whole interval to the next.
        assert_eq!(&rows[1][..2], &[0.0, 1.0]);
        assert!((rows[2][2] - 0.0).abs() < 1e-6 && (rows[2][3] + 1.0).abs() < 1e-6);
        assert!((rows[3][1] - 0.01).abs() < 1e-6);
        // After the last peak: the median interval again.
        assert!((rows[5][0] - 1.0).abs() < 1e-6 && (rows[5][1] - 1.0).abs() < 1e-6);
        // One-hot the hops (5 samples) since and to a nearby peak, nothing when far.
        let hot = |r: &[f32]| -> Vec<usize> { (4..INPUTS).filter(|&i| r[i] == 1.0).collect() };
        assert_eq!(hot(rows[1]), vec![4]);
        assert_eq!(hot(rows[3]), vec![4 + NEAR]);
        assert!(hot(rows[2]).is_empty());
        assert_eq!(
            rows.iter().map(|r| r[4..].iter().sum::<f32>()).sum::<f32>(),
            3.0
        );
    }

    #[test]
    fn a_frame_is_slotted_by_its_nearer_peak() {
        let (fs, hop) = (100.0, 5.0);
        // 2 hops before a peak 100 samples after the last: "to 2".
        assert_eq!(slot(&at(190.0, 100.0, 200.0, fs, hop)), 2);
        // 1 hop after the last peak: NEAR + 1.
        assert_eq!(slot(&at(105.0, 100.0, 200.0, fs, hop)), NEAR + 1);
        // Far from both.
        assert_eq!(slot(&at(150.0, 100.0, 200.0, fs, hop)), 2 * NEAR);
        // Both near (a short interval): the nearer one, the next peak on a tie.
        assert_eq!(slot(&at(112.0, 100.0, 130.0, fs, hop)), NEAR + 2);
        assert_eq!(slot(&at(115.0, 100.0, 130.0, fs, hop)), 3);
        assert!((0..SLOTS).contains(&slot(&[0.0; INPUTS])));
    }

    #[test]
    fn a_rhythm_replays_training_intervals_reproducibly() {
        let rr = [0.5f32, 0.6, 0.7, 0.8, 0.9];
        let beats = |seed| {
            let mut r = Rhythm::new(&rr, &[], 1, 100.0, 4.0, seed).unwrap();
            let (mut starts, mut since, mut k) = (Vec::new(), f32::MAX, Vec::new());
            for c in 0..20_000 {
                k.clear();
                r.clock(c as f64, &mut k);
                if k[0] < since {
                    starts.push(c);
                }
                since = k[0];
            }
            starts
        };
        let a = beats(1);
        assert_eq!(a, beats(1));
        assert_ne!(a, beats(2));
        for w in a[1..].windows(2) {
            let gap = (w[1] - w[0]) as f32 / 100.0;
            let near = |r: &f32| gap >= r * 0.95 - 0.011 && gap <= r * 1.05 + 0.011;
            assert!(rr.iter().any(near), "gap {gap}");
        }
        assert!(a.len() > 20_000 / 90 && a.len() < 20_000 / 50);
        // Too few intervals, or one the clock could not advance past, are refused.
        assert!(Rhythm::new(&rr[..3], &[], 1, 100.0, 4.0, 1).is_err());
        assert!(Rhythm::new(&[0.5, 0.6, 1e-30, 0.7], &[], 1, 100.0, 4.0, 1).is_err());
        assert!(Rhythm::new(&[0.5, 0.6, f32::NAN, 0.7], &[], 1, 100.0, 4.0, 1).is_err());
    }

    #[test]
    fn with_kinds_each_frame_carries_the_kind_of_its_beat() {
        // Peaks at 100 (kind 0), 200 (kind 1), 400 (kind 0); 5-sample hops, NEAR 8.
        let centres = [150, 190, 205, 260, 390];
        let c = of_centres(
            &[100, 200, 400],
            &[0, 1, 0],
            2,
            centres.into_iter(),
            100.0,
            5,
        );
        let rows: Vec<&[f32]> = c.chunks_exact(inputs(2)).collect();
        assert_eq!(rows.len(), centres.len());
        let kinds: Vec<usize> = rows.iter().map(|r| kind_of(r, 2)).collect();
        // 150: far from both, the last beat's (100: 0); 190: 2 hops before 200: the next
        // beat's (1); 205, 260: after 200 (1); 390: 2 hops before 400 (0).
        assert_eq!(kinds, vec![0, 1, 1, 1, 0]);
        assert!(rows.iter().all(|r| r[INPUTS..].iter().sum::<f32>() == 1.0));
        // One kind: no kind values at all, and every frame of kind 0.
        assert_eq!(inputs(1), INPUTS);
        assert_eq!(kind_of(&rows[1][..INPUTS], 1), 0);
    }

    #[test]
    fn a_rhythm_replays_each_interval_with_the_kind_that_ended_it() {
        // Short intervals end in kind 1 (a premature beat), long ones in kind 0.
        let rr = [0.5f32, 0.9, 0.5, 0.9, 0.8, 0.8];
        let kind = [1u8, 0, 1, 0, 0, 0];
        let mut r = Rhythm::new(&rr, &kind, 2, 100.0, 4.0, 3).unwrap();
        let (mut k, mut last_since, mut start, mut seen) = (Vec::new(), f32::MAX, None, 0);
        for c in 0..20_000 {
            k.clear();
            r.clock(c as f64, &mut k);
            assert_eq!(k.len(), inputs(2));
            if k[0] < last_since {
                // A beat starts here: the interval it ends and the kind the clock says for it.
                if let Some(s) = start {
                    let gap = (c - s) as f32 / 100.0;
                    let want = if gap < 0.65 { 1 } else { 0 };
                    assert_eq!(kind_of(&k, 2), want, "gap {gap}");
                    seen += 1;
                }
                start = Some(c);
            }
            last_since = k[0];
        }
        assert!(seen > 100);
        assert!(Rhythm::new(&rr, &kind[..5], 2, 100.0, 4.0, 1).is_err());
        assert!(Rhythm::new(&rr, &[2, 0, 1, 0, 0, 0], 2, 100.0, 4.0, 1).is_err());
        assert!(check_kinds(&rr, &[], MAX_KINDS + 1).is_err());
    }

    /// The R peaks a rhythm passes are told once each, in order, only those before the
    /// sample asked about, each with the kind its interval ends in; a rhythm nobody asks
    /// keeps only the last `KEPT_PEAKS`.
    #[test]
    fn a_rhythm_tells_the_r_peaks_it_passed() {
        let (rr, kind) = ([0.5f32, 0.9, 0.5, 0.9, 0.8, 0.8], [1u8, 0, 1, 0, 0, 0]);
        let mut r = Rhythm::new(&rr, &kind, 2, 100.0, 4.0, 3).unwrap();
        let mut k = Vec::new();
        let mut told: Vec<(f64, u8)> = Vec::new();
        for c in 0..5_000 {
            r.clock(f64::from(c), &mut k);
            while let Some(p) = r.next_peak(f64::from(c) - 50.0) {
                assert!(p.0 < f64::from(c) - 50.0);
                told.push(p);
            }
        }
        assert!(told.len() > 60);
        for w in told.windows(2) {
            let gap = (w[1].0 - w[0].0) / 100.0;
            assert!(gap > 0.45 && gap < 0.95, "gap {gap}");
            // A premature (short) interval ends in kind 1, as in training.
            assert_eq!(w[1].1, u8::from(gap < 0.65), "gap {gap}");
        }
        let mut quiet = r.restarted(4);
        quiet.clock(1e7, &mut k);
        let mut n = 0;
        while quiet.next_peak(f64::INFINITY).is_some() {
            n += 1;
        }
        assert_eq!(n, KEPT_PEAKS);
    }
}
