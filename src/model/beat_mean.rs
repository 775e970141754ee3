//! Each kind of beat given the training record's mean waveform (`train --beat-means K`).
//!
//! A beat-aligned VAE decodes its walk's latents to beats that regress towards the average
//! of all the record's beats: on MIT-BIH 208 the normal beats' T waves came out at half the
//! record's and the ventricular beats half-way to the normal shape (models/README, "Why the
//! ECG VAE's T waves are small"). `train --beat-means K` groups the training beats by their
//! QRS shape into K kinds (k-means, `data::beat_kinds::fit`) and saves each kind's mean beat
//! per channel; at load the generator measures its own beats the same way (its joiner's R
//! peaks, each beat given the nearest kind) and then adds to every beat of a kind the
//! difference of the two means, tapered at both ends: each kind's mean beat becomes the
//! record's, while beats still differ from one another as the model draws them.

use crate::data::beat_kinds;
use crate::dsp::filter::{butter, Band, Sos};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Seconds of a beat matched before and after its R peak.
const BEAT_S: (f64, f64) = (0.15, 0.45);
/// Seconds of the first channel before and after an R peak whose shape tells the kind
/// (`data::beat_kinds`' span).
const SHAPE_S: (f64, f64) = (0.1, 0.25);
/// Band the shapes are compared in (`data::beat_kinds`' band): baseline and T wave below,
/// noise above, left out.
const SHAPE_BAND: (f64, f64) = (0.67, 40.0);
/// Seconds either side of an R peak band-passed to find its shape (the same stretch in the
/// record and in a stream, so the filter's edges touch both alike).
const FILTER_S: f64 = 0.5;
/// Seconds at a beat's start whose mean is its level, taken out before averaging.
const LEVEL_S: f64 = 0.04;
/// Seconds of Hann taper at each end of a correction.
const TAPER_S: f64 = 0.06;
/// Fewest beats of a kind, in the record and in the output, for its mean to be matched.
const MIN_BEATS: u32 = 20;
/// Most kinds a checkpoint may declare.
pub const MAX_KINDS: usize = 8;
/// Longest beat (samples) a checkpoint may declare.
const MAX_LEN: usize = 8192;
/// Seconds of its own output a generator measures at load: ~500 beats at 100 bpm.
#[cfg(not(fuzzing))]
pub const CALIBRATION_SECONDS: f64 = 300.0;
/// Fuzz builds only check that checkpoints load.
#[cfg(fuzzing)]
pub const CALIBRATION_SECONDS: f64 = 8.0;

/// The training beats' mean per kind and channel; saved in a checkpoint's config as
/// `beat_means`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeatMeanTarget {
    /// Samples of a beat before its R peak.
    pub pre: usize,
    /// Samples of a beat in all.
    pub len: usize,
    /// Per kind, the first channel's QRS shape at the kind's centre (band-passed, around the
    /// R peak), the most common kind first.
    pub centres: Vec<Vec<f32>>,
    /// Per kind and channel the mean beat, each beat's level taken out:
    /// `kinds × channels × len`, row-major.
    pub means: Vec<f32>,
    /// Training beats of each kind.
    pub counts: Vec<u32>,
    /// Per kind, the reference label (MIT-BIH beat code, `data::beat_kinds::BEAT_CODES`)
    /// most of its training beats carry in their record's annotations, within
    /// `beat_kinds::LABEL_TOLERANCE_S` of the R peak: what the generator calls the beats it makes of
    /// that kind. Empty when the records carry no beat labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Per kind, how many of its training beats carry its label (the rest carry another or
    /// none): how far the kind stands for the label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labelled: Vec<u32>,
}

/// Sample counts of the windows at `fs`: (beat before R, beat length, shape before R,
/// shape length).
fn spans(fs: f64) -> (usize, usize, usize, usize) {
    let n = |s: f64| (s * fs).round() as usize;
    (
        n(BEAT_S.0),
        n(BEAT_S.0 + BEAT_S.1),
        n(SHAPE_S.0),
        n(SHAPE_S.0 + SHAPE_S.1),
    )
}

/// Samples a beat needs before and after its R peak (its window and its shape's
/// band-passed stretch) at `fs`.
fn reach(fs: f64) -> (usize, usize) {
    let (pre, len, _, _) = spans(fs);
    let w = (FILTER_S * fs).round() as usize;
    (pre.max(w), (len - pre).max(w))
}

/// The band-pass the shapes are taken through at `fs`; `None` where `fs` cannot hold it.
fn shape_band(fs: f64) -> Option<Sos> {
    butter(2, Band::Bandpass(SHAPE_BAND.0, SHAPE_BAND.1), fs).ok()
}

impl BeatMeanTarget {
    /// The target of `records` (each channels × samples at `fs`, the first channel the
    /// lead): R peaks by `dsp::qrs`, `kinds` kinds by QRS shape (k-means from `seed`), each
    /// kind named by the reference labels of its beats where `marks` (per record, beat
    /// labels at their samples, ascending; may be empty) has any. `None` when the records
    /// hold under `MIN_BEATS` whole beats.
    pub fn of_records(
        records: &[Vec<Vec<f32>>],
        marks: &[Vec<(usize, &'static str)>],
        fs: f64,
        kinds: usize,
        seed: u64,
    ) -> Option<Self> {
        let (pre, len, _, _) = spans(fs);
        let band = shape_band(fs)?;
        let mut found = Vec::new(); // (record, R peak, shape)
        for (r, rec) in records.iter().enumerate() {
            let Some(lead) = rec.first() else { continue };
            let peaks = crate::dsp::qrs::detect(lead, fs).unwrap_or_default();
            for p in peaks.into_iter().filter(|&p| whole(p, lead.len(), fs)) {
                if let Some(s) = shape_at(lead, p, fs, &band) {
                    found.push((r, p, s));
                }
            }
        }
        if found.len() < MIN_BEATS as usize {
            return None;
        }
        let shapes: Vec<&[f32]> = found.iter().map(|(_, _, s)| s.as_slice()).collect();
        let centres = beat_kinds::fit(&shapes, kinds.clamp(1, MAX_KINDS), seed);
        let channels = records[0].len();
        let mut acc = Means::new(centres.len(), channels, pre, len, fs);
        let mut names = beat_kinds::KindNames::new(centres.len(), fs);
        for (r, p, s) in &found {
            let views: Vec<&[f32]> = records[*r].iter().map(Vec::as_slice).collect();
            let k = beat_kinds::kind(s, &centres);
            acc.add(&views, *p, k);
            names.add(marks.get(*r).map_or(&[], Vec::as_slice), *p, k);
        }
        let (labels, labelled) = names.labels();
        Some(BeatMeanTarget {
            pre,
            len,
            centres,
            means: acc.means(),
            counts: acc.counts,
            labels,
            labelled,
        })
    }

    /// Kinds of beat told apart.
    pub fn kinds(&self) -> usize {
        self.centres.len()
    }

    /// Refuses a target that does not fit `channels` channels at `fs` Hz, naming the field.
    pub fn check(&self, channels: usize, fs: f64) -> std::result::Result<(), String> {
        let (pre, len, _, shape_len) = spans(fs);
        let k = self.centres.len();
        if self.pre != pre || self.len != len || len > MAX_LEN {
            return Err(format!(
                "beat_means: pre {} and len {} must be {pre} and {len} at {fs} Hz",
                self.pre, self.len
            ));
        }
        if !(1..=MAX_KINDS).contains(&k) || self.counts.len() != k {
            return Err(format!(
                "beat_means.centres: {k} kinds with {} counts (1–{MAX_KINDS}, one count each)",
                self.counts.len()
            ));
        }
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        if !self
            .centres
            .iter()
            .all(|c| c.len() == shape_len && finite(c))
        {
            return Err(format!(
                "beat_means.centres: each must be {shape_len} finite values"
            ));
        }
        if self.means.len() != k * channels * len || !finite(&self.means) {
            return Err(format!(
                "beat_means.means: must be {k} kinds × {channels} channels × {len} finite values"
            ));
        }
        let named = self.labels.is_empty() && self.labelled.is_empty()
            || (self.labels.len() == k && self.labelled.len() == k);
        if !named
            || !self
                .labels
                .iter()
                .all(|l| beat_kinds::beat_code(l).is_some())
        {
            return Err(format!(
                "beat_means.labels: none, or one MIT-BIH beat code and one count for each of \
                 the {k} kinds (codes: {})",
                beat_kinds::BEAT_CODES.join(" ")
            ));
        }
        Ok(())
    }

    /// The kind (nearest centre by QRS shape) of each beat of `lead` at its R peak `peaks`;
    /// `None` for a beat too near an end of the lead for its shape to be taken.
    pub fn kinds_at(&self, lead: &[f32], peaks: &[usize], fs: f64) -> Vec<Option<u8>> {
        let band = shape_band(fs);
        (peaks.iter())
            .map(|&p| {
                let s = shape_at(lead, p, fs, band.as_ref()?)?;
                Some(beat_kinds::kind(&s, &self.centres))
            })
            .collect()
    }

    /// The label of each kind as the static code events carry (`None` without labels).
    pub fn kind_labels(&self) -> Option<Vec<&'static str>> {
        beat_kinds::codes(&self.labels).filter(|v| !v.is_empty())
    }

    /// The additive correction per kind and channel (`kinds × channels × len`) taking the
    /// mean beats of `signals` (channels, their R peaks at `peaks`) to these: tapered at
    /// both ends; zero for a kind with under `MIN_BEATS` beats either side (and all zero
    /// for signals of another number of channels).
    pub fn corrections(&self, signals: &[&[f32]], peaks: &[usize], fs: f64) -> Vec<f32> {
        let n = signals.first().map_or(0, |s| s.len());
        let fits = signals.len() * self.kinds() * self.len == self.means.len();
        let Some(band) = shape_band(fs).filter(|_| fits) else {
            return vec![0.0; self.means.len()];
        };
        let mut own = Means::new(self.kinds(), signals.len(), self.pre, self.len, fs);
        for &p in peaks.iter().filter(|&&p| whole(p, n, fs)) {
            if let Some(s) = shape_at(signals[0], p, fs, &band) {
                own.add(signals, p, beat_kinds::kind(&s, &self.centres));
            }
        }
        let theirs = own.means();
        let taper = taper(self.len, fs);
        let per_kind = signals.len() * self.len;
        let mut out = vec![0f32; self.means.len()];
        for k in 0..self.kinds() {
            if self.counts[k] < MIN_BEATS || own.counts[k] < MIN_BEATS {
                continue;
            }
            let span = k * per_kind..(k + 1) * per_kind;
            let d = out[span.clone()].iter_mut();
            let pairs = self.means[span.clone()].iter().zip(&theirs[span]);
            for (i, (o, (t, e))) in d.zip(pairs).enumerate() {
                *o = (t - e) * taper[i % self.len];
            }
        }
        out
    }
}

/// Whether a beat at `p` lies whole (window and shape stretch) within `n` samples.
fn whole(p: usize, n: usize, fs: f64) -> bool {
    let (before, after) = reach(fs);
    p >= before && p + after <= n
}

/// The shape of the beat at `p` in `lead`: `FILTER_S` either side band-passed by `band`,
/// `SHAPE_S` around `p` kept; `None` where that stretch leaves the lead.
fn shape_at(lead: &[f32], p: usize, fs: f64, band: &Sos) -> Option<Vec<f32>> {
    let (_, _, spre, slen) = spans(fs);
    let w = (FILTER_S * fs).round() as usize;
    let seg = lead.get(p.checked_sub(w)?..p + w)?;
    let y = band.filtfilt(seg).ok()?;
    y.get(w - spre..w - spre + slen).map(<[f32]>::to_vec)
}

/// Hann ramps of `TAPER_S` at both ends of `len` ones.
fn taper(len: usize, fs: f64) -> Vec<f32> {
    let k = ((TAPER_S * fs).round() as usize).clamp(1, len / 2);
    (0..len)
        .map(|i| {
            let from_end = i.min(len - 1 - i);
            match from_end < k {
                true => {
                    let x = std::f64::consts::PI * (from_end as f64 + 0.5) / (2 * k) as f64;
                    x.sin().powi(2) as f32
                }
                false => 1.0,
            }
        })
        .collect()
}

/// Running sums of beats per kind and channel, each beat's level taken out.
struct Means {
    sums: Vec<f64>,
    counts: Vec<u32>,
    channels: usize,
    pre: usize,
    len: usize,
    level: usize,
}

impl Means {
    fn new(kinds: usize, channels: usize, pre: usize, len: usize, fs: f64) -> Self {
        Means {
            sums: vec![0.0; kinds * channels * len],
            counts: vec![0; kinds],
            channels,
            pre,
            len,
            level: ((LEVEL_S * fs).round() as usize).clamp(1, len),
        }
    }

    /// Adds the beat at `p` (whole within `signals`) to kind `k`.
    fn add(&mut self, signals: &[&[f32]], p: usize, k: u8) {
        let k = usize::from(k);
        let Some(count) = self.counts.get_mut(k) else {
            return;
        };
        *count += 1;
        for (c, x) in signals.iter().enumerate().take(self.channels) {
            let beat = &x[p - self.pre..p - self.pre + self.len];
            let level = beat[..self.level]
                .iter()
                .map(|&v| f64::from(v))
                .sum::<f64>()
                / self.level as f64;
            let at = (k * self.channels + c) * self.len;
            for (s, &v) in self.sums[at..at + self.len].iter_mut().zip(beat) {
                *s += f64::from(v) - level;
            }
        }
    }

    /// The mean beats (zero for a kind without beats).
    fn means(&self) -> Vec<f32> {
        let per_kind = self.channels * self.len;
        self.sums
            .iter()
            .enumerate()
            .map(|(i, s)| (s / f64::from(self.counts[i / per_kind].max(1))) as f32)
            .collect()
    }
}

/// Adds each beat's correction to a channel-major stream as it passes, holding samples back
/// until the beats they belong to are whole: output sample `i` is input sample `i`, later.
pub struct BeatCorrector {
    /// `kinds × channels × len` (as [`BeatMeanTarget::corrections`]).
    corrections: Vec<f32>,
    centres: Vec<Vec<f32>>,
    band: Sos,
    channels: usize,
    pre: usize,
    len: usize,
    fs: f64,
    /// Samples needed after an R peak before its beat is corrected.
    after: usize,
    /// Samples held back.
    delay: usize,
    /// Per channel, the samples from index `base` on not yet pulled.
    buf: Vec<Vec<f32>>,
    base: u64,
    /// R peaks not yet corrected (stream indices).
    pending: VecDeque<u64>,
    /// Corrected R peaks and their kinds, ascending, until asked for (`kind_at`).
    kinds: VecDeque<(u64, u8)>,
}

/// Most corrected beats whose kinds are kept unasked: several seconds of beats beyond the
/// buffer, so memory stays flat where nobody asks (a calibration walk).
const MAX_KEPT_KINDS: usize = 4096;

impl BeatCorrector {
    /// A corrector adding `corrections` (from [`BeatMeanTarget::corrections`]) to the beats
    /// of `target`'s kinds in `channels` channels at `fs`; `None` if they do not fit.
    pub fn new(
        target: &BeatMeanTarget,
        corrections: Vec<f32>,
        channels: usize,
        fs: f64,
    ) -> Option<Self> {
        let (pre, len, _, _) = spans(fs);
        let fits = channels > 0
            && corrections.len() == target.kinds() * channels * len
            && target.len == len;
        let (before, after) = reach(fs);
        let band = shape_band(fs)?;
        fits.then(|| BeatCorrector {
            corrections,
            centres: target.centres.clone(),
            band,
            channels,
            pre,
            len,
            fs,
            after,
            delay: before + after,
            buf: vec![Vec::new(); channels],
            base: 0,
            pending: VecDeque::new(),
            kinds: VecDeque::new(),
        })
    }

    /// Samples per channel held back (the added latency).
    pub fn delay(&self) -> usize {
        self.delay
    }

    /// Back to an empty stream at index 0.
    pub fn reset(&mut self) {
        self.buf.iter_mut().for_each(Vec::clear);
        self.base = 0;
        self.pending.clear();
        self.kinds.clear();
    }

    /// The kind given the beat at stream index `p`, forgetting those before it; `None` for
    /// a beat not corrected (its shape or start had left the buffer).
    pub fn kind_at(&mut self, p: u64) -> Option<u8> {
        while self.kinds.front().is_some_and(|&(q, _)| q < p) {
            self.kinds.pop_front();
        }
        match self.kinds.front() {
            Some(&(q, k)) if q == p => {
                self.kinds.pop_front();
                Some(k)
            }
            _ => None,
        }
    }

    /// Samples per channel that may be pulled.
    pub fn available(&self) -> usize {
        self.buf[0].len().saturating_sub(self.delay)
    }

    /// Appends `n` samples per channel (channel-major `chunk`) and the R peaks among them,
    /// and corrects every beat now whole.
    pub fn push(&mut self, chunk: &[f32], n: usize, peaks: impl Iterator<Item = u64>) {
        for (b, c) in self.buf.iter_mut().zip(chunk.chunks_exact(n.max(1))) {
            b.extend_from_slice(c);
        }
        self.pending.extend(peaks);
        let end = self.base + self.buf[0].len() as u64;
        while let Some(&p) = self.pending.front() {
            if p + self.after as u64 > end {
                break;
            }
            self.pending.pop_front();
            self.correct(p);
        }
    }

    /// Adds its kind's correction to the beat at stream index `p` (whole in the buffer up
    /// to its end); a beat whose shape or start has left the buffer is left as it is.
    fn correct(&mut self, p: u64) {
        let Some(at) = p.checked_sub(self.base).map(|a| a as usize) else {
            return;
        };
        let (Some(shape), Some(start)) = (
            shape_at(&self.buf[0], at, self.fs, &self.band),
            at.checked_sub(self.pre),
        ) else {
            return;
        };
        let kind = beat_kinds::kind(&shape, &self.centres);
        if self.kinds.len() == MAX_KEPT_KINDS {
            self.kinds.pop_front();
        }
        self.kinds.push_back((p, kind));
        let k = usize::from(kind);
        for (c, b) in self.buf.iter_mut().enumerate() {
            let from = (k * self.channels + c) * self.len;
            let d = &self.corrections[from..from + self.len];
            for (v, d) in b[start..].iter_mut().zip(d) {
                *v += d;
            }
        }
    }

    /// Moves the next `n` samples per channel into the channel-major `out`; false (and
    /// nothing moved) if fewer are available.
    pub fn pull(&mut self, out: &mut [f32], n: usize) -> bool {
        if self.available() < n || out.len() < n * self.channels {
            return false;
        }
        for (b, o) in self.buf.iter_mut().zip(out.chunks_exact_mut(n.max(1))) {
            o.copy_from_slice(&b[..n]);
            b.drain(..n);
        }
        self.base += n as u64;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: f64 = 360.0;

    /// A lead of beats every 0.8 s: narrow upright ones with a T wave of height `t`, every
    /// fourth wide and inverted with a T wave of `-t`; the R peaks with it.
    fn lead(seconds: f64, t: f32) -> (Vec<f32>, Vec<usize>) {
        let n = (seconds * FS) as usize;
        let mut x = vec![0f32; n];
        let mut peaks = Vec::new();
        let g = |x: &mut [f32], at: f64, width: f64, height: f32| {
            for (i, v) in x.iter_mut().enumerate() {
                let d = (i as f64 / FS - at) / width;
                *v += height * (-0.5 * d * d).exp() as f32;
            }
        };
        for (b, at) in (1..)
            .map(|b| (b, b as f64 * 0.8))
            .take_while(|(_, a)| a + 1.0 < seconds)
        {
            let wide = b % 4 == 0;
            let (w, h, tt) = if wide {
                (0.04, -1.5, -t)
            } else {
                (0.012, 1.5, t)
            };
            g(&mut x, at, w, h);
            g(&mut x, at + 0.28, 0.05, tt);
            peaks.push((at * FS).round() as usize);
        }
        (x, peaks)
    }

    /// The height of the mean beat of each kind 0.28 s after its R peak.
    fn t_heights(target: &BeatMeanTarget) -> Vec<f32> {
        let at = target.pre + (0.28 * FS) as usize;
        (0..target.kinds())
            .map(|k| target.means[k * target.len + at])
            .collect()
    }

    /// The record's two kinds (narrow and wide) are told apart and their T waves kept:
    /// the common narrow kind first, with its upright T wave, the wide one inverted.
    #[test]
    fn the_records_kinds_and_their_mean_beats_are_measured() {
        let (x, _) = lead(120.0, 0.3);
        let t = BeatMeanTarget::of_records(&[vec![x]], &[], FS, 2, 1).unwrap();
        assert_eq!(t.kinds(), 2);
        let share = t.counts[1] as f64 / (t.counts[0] + t.counts[1]) as f64;
        assert!((0.2..0.3).contains(&share), "{:?}", t.counts);
        let h = t_heights(&t);
        assert!(
            (h[0] - 0.3).abs() < 0.03 && (h[1] + 0.3).abs() < 0.03,
            "{h:?}"
        );
        t.check(1, FS).unwrap();
    }

    /// A generator whose T waves are half the record's gets each kind's back, through a
    /// stream pushed in chunks of any size, output index for index as it went in.
    #[test]
    fn each_kind_of_beat_gets_the_records_mean_in_any_chunks() {
        let (x, _) = lead(120.0, 0.3);
        let target = BeatMeanTarget::of_records(&[vec![x]], &[], FS, 2, 1).unwrap();
        let (own, peaks) = lead(120.0, 0.15);
        let corrections = target.corrections(&[&own], &peaks, FS);
        let mut outputs = Vec::new();
        for chunk in [1usize, 97, 1000] {
            let mut fix = BeatCorrector::new(&target, corrections.clone(), 1, FS).unwrap();
            assert_eq!(fix.delay(), 360); // half a second either side of a peak
            let mut out = Vec::new();
            let mut buf = vec![0f32; chunk];
            for start in (0..own.len() - chunk).step_by(chunk) {
                let end = start + chunk;
                let here = peaks.iter().filter(|&&p| p >= start && p < end);
                fix.push(&own[start..end], chunk, here.map(|&p| p as u64));
                while fix.pull(&mut buf[..1], 1) {
                    out.push(buf[0]);
                }
            }
            outputs.push(out);
        }
        let n = outputs.iter().map(Vec::len).min().unwrap();
        assert!(n > own.len() - 2000, "{n}");
        assert!(outputs.iter().all(|o| o[..n] == outputs[0][..n]));
        let fixed =
            BeatMeanTarget::of_records(&[vec![outputs[0][..n].to_vec()]], &[], FS, 2, 1).unwrap();
        let (before, after) = (
            t_heights(&BeatMeanTarget::of_records(&[vec![own]], &[], FS, 2, 1).unwrap()),
            t_heights(&fixed),
        );
        assert!((before[0] - 0.15).abs() < 0.03, "{before:?}");
        assert!(
            (after[0] - 0.3).abs() < 0.03 && (after[1] + 0.3).abs() < 0.03,
            "{after:?}"
        );
    }

    /// Hostile or mismatched targets are refused, naming the field.
    #[test]
    fn hostile_targets_are_refused_by_name() {
        let (x, _) = lead(60.0, 0.3);
        let good = BeatMeanTarget::of_records(&[vec![x]], &[], FS, 2, 1).unwrap();
        let mut bad = good.clone();
        bad.len = 1 << 40;
        assert!(bad.check(1, FS).unwrap_err().contains("beat_means"));
        let mut bad = good.clone();
        bad.counts.pop();
        assert!(bad.check(1, FS).unwrap_err().contains("beat_means.centres"));
        let mut bad = good.clone();
        bad.means[3] = f32::NAN;
        assert!(bad.check(1, FS).unwrap_err().contains("beat_means.means"));
        assert!(good.check(2, FS).unwrap_err().contains("beat_means.means"));
        assert!(good.check(1, 500.0).is_err());
        assert!(BeatCorrector::new(&good, vec![0.0; 3], 1, FS).is_none());
        assert!(BeatMeanTarget::of_records(&[vec![vec![0.0; 1000]]], &[], FS, 2, 1).is_none());
        let mut bad = good.clone();
        (bad.labels, bad.labelled) = (vec!["N".into(), "X".into()], vec![1, 1]);
        assert!(bad.check(1, FS).unwrap_err().contains("beat_means.labels"));
        (bad.labels, bad.labelled) = (vec!["N".into()], vec![1]);
        assert!(bad.check(1, FS).unwrap_err().contains("beat_means.labels"));
    }

    /// Each kind is named by the label most of its beats carry within 150 ms; labels
    /// further off name nothing, and a record without labels leaves the kinds unnamed.
    #[test]
    fn kinds_are_named_by_the_labels_their_beats_carry() {
        let (x, peaks) = lead(120.0, 0.3);
        let label = |i: usize| if (i + 1).is_multiple_of(4) { "V" } else { "N" };
        // Labels a little off the peaks, as annotators place them; one narrow beat called "A".
        let marks: Vec<(usize, &'static str)> = (peaks.iter().enumerate())
            .map(|(i, &p)| (p + 20, if i == 5 { "A" } else { label(i) }))
            .collect();
        let t =
            BeatMeanTarget::of_records(&[vec![x.clone()]], std::slice::from_ref(&marks), FS, 2, 1)
                .unwrap();
        assert_eq!(t.labels, ["N", "V"]);
        assert_eq!(t.labelled, [t.counts[0] - 1, t.counts[1]]);
        assert_eq!(t.kind_labels(), Some(vec!["N", "V"]));
        assert!(t.check(1, FS).is_ok());
        let far: Vec<(usize, &'static str)> = marks.iter().map(|&(p, l)| (p + 60, l)).collect();
        let t = BeatMeanTarget::of_records(&[vec![x.clone()]], &[far], FS, 2, 1).unwrap();
        assert!(t.labels.is_empty() && t.kind_labels().is_none());
        let t = BeatMeanTarget::of_records(&[vec![x]], &[], FS, 2, 1).unwrap();
        assert!(t.labels.is_empty());
    }

    /// The corrector tells the kind it gave each beat once, in order, then forgets it.
    #[test]
    fn the_corrector_tells_each_beats_kind() {
        let (x, peaks) = lead(60.0, 0.3);
        let t = BeatMeanTarget::of_records(&[vec![x.clone()]], &[], FS, 2, 1).unwrap();
        let zero = vec![0.0; t.kinds() * t.len];
        let mut fix = BeatCorrector::new(&t, zero, 1, FS).unwrap();
        fix.push(&x, x.len(), peaks.iter().map(|&p| p as u64));
        let whole: Vec<u64> = (peaks.iter().map(|&p| p as u64))
            .filter(|&p| p as usize + fix.after <= x.len())
            .collect();
        let kinds: Vec<Option<u8>> = whole.iter().map(|&p| fix.kind_at(p)).collect();
        let wide = |i: usize| u8::from((i + 1).is_multiple_of(4));
        let want: Vec<Option<u8>> = (0..whole.len()).map(|i| Some(wide(i))).collect();
        // The narrow beats are the common kind, 0; the first may lack its shape's lead-in.
        assert_eq!(kinds[1..], want[1..]);
        assert_eq!(fix.kind_at(whole[3]), None, "asked once");
    }
}
