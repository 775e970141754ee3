//! Kinds of beat for the beat clock (`DataConfig::clock_kinds`): the training beats grouped
//! by the shape of their QRS complex and ST segment, so that a frame transformer is told
//! which kind of beat it is drawing (on MIT-BIH 208, normal or ventricular).
//!
//! Without it the clocked frame transformer draws each frame among codes seen at that place
//! in any beat, and many of its beats come out between the record's two shapes (10 min of
//! the shipped `ecg-transformer`: 60 % of beats clearly of one kind against the record's
//! 87 %, 3 % clearly ventricular against 17 %; with two kinds 88 % and 15 %; models/README,
//! "Kinds of beat in the clock").

use crate::block::Event;
use crate::dsp::filter::{butter, Band};

/// MIT-BIH beat codes (ANSI/AAMI EC57; PhysioNet's annotation codes): every other
/// annotation (rhythm, noise, comments) is no beat.
pub const BEAT_CODES: &[&str] = &[
    "N", "L", "R", "B", "A", "a", "J", "S", "V", "r", "F", "e", "j", "n", "E", "/", "f", "Q", "?",
];

/// MIT-BIH's code for a beat whose type is not known.
pub const UNCLASSIFIED: &str = "Q";

/// `text` as the static beat code it spells (surrounding blanks ignored), if it is one.
pub fn beat_code(text: &str) -> Option<&'static str> {
    let t = text.trim();
    BEAT_CODES.iter().copied().find(|c| *c == t)
}

/// `labels` as the static beat codes they spell; `None` if one is no beat code.
pub fn codes(labels: &[String]) -> Option<Vec<&'static str>> {
    labels.iter().map(|l| beat_code(l)).collect()
}

/// The labels a generator's beat events may carry: its kinds' codes and
/// [`UNCLASSIFIED`] (a beat given no kind), sorted, each once.
pub fn event_labels(kinds: &[&'static str]) -> Vec<&'static str> {
    let mut all = kinds.to_vec();
    all.push(UNCLASSIFIED);
    all.sort_unstable();
    all.dedup();
    all
}

/// The event of a beat at output sample `at` of a stream at `fs` Hz, labelled with its
/// kind's name in `labels` ([`UNCLASSIFIED`] for a beat of no kind or an unnamed one).
pub fn beat_event(at: u64, fs: f64, kind: Option<u8>, labels: &[&'static str]) -> Event {
    let label = kind.and_then(|k| labels.get(usize::from(k)));
    Event {
        time: at as f64 / fs,
        duration: 0.0,
        label: label.copied().unwrap_or(UNCLASSIFIED),
    }
}

/// Seconds of each beat's shape before and after its R peak.
const SHAPE_S: (f64, f64) = (0.1, 0.25);

/// Band the shapes are compared in: the baseline below and the noise above left out.
const SHAPE_BAND: (f64, f64) = (0.67, 40.0);

/// Lloyd iterations of the grouping.
const ITERATIONS: usize = 50;

/// Seeded starts of the grouping, the best kept: from a single start MIT-BIH 208's beats
/// split into one odd beat against all the rest, a far worse split by k-means' own measure
/// than normal against ventricular (scipy on the record: 5974 against 2134).
const RESTARTS: u64 = 8;

/// Each beat's shape: `lead` band-passed to `SHAPE_BAND`, from `SHAPE_S` before each of
/// `peaks` to after it (edges held); `None` when the lead is too short to filter.
pub fn shapes(lead: &[f32], peaks: &[usize], fs: f64) -> Option<Vec<Vec<f32>>> {
    let band = butter(2, Band::Bandpass(SHAPE_BAND.0, SHAPE_BAND.1), fs);
    let x = band.and_then(|b| b.filtfilt(lead)).ok()?;
    let (pre, post) = ((SHAPE_S.0 * fs) as usize, (SHAPE_S.1 * fs) as usize);
    let last = x.len().saturating_sub(1);
    let at = |p: usize, i: usize| x[(p + i).saturating_sub(pre).min(last)];
    Some(
        peaks
            .iter()
            .map(|&p| (0..pre + post).map(|i| at(p, i)).collect())
            .collect(),
    )
}

/// `kinds` centres of `shapes` by k-means, the best of `RESTARTS` seeded starts (least
/// squared distance of the shapes to their centres), ordered by how many shapes each holds
/// (the most common first): kind `k` is the shapes nearest centre `k`. Fewer centres when
/// the shapes are fewer; none without shapes.
pub fn fit(shapes: &[&[f32]], kinds: usize, seed: u64) -> Vec<Vec<f32>> {
    use crate::model::kmeans::{fit, sq_dist};
    if shapes.is_empty() {
        return Vec::new();
    }
    let spread = |(centres, label): &(Vec<Vec<f32>>, Vec<usize>)| -> f64 {
        let d = shapes
            .iter()
            .zip(label)
            .map(|(s, &l)| sq_dist(s, &centres[l]));
        d.map(f64::from).sum()
    };
    let (centres, label) = (0..RESTARTS)
        .map(|r| fit(shapes, kinds, seed.wrapping_add(r), ITERATIONS))
        .min_by(|a, b| spread(a).total_cmp(&spread(b)))
        .unwrap_or_else(|| fit(shapes, kinds, seed, ITERATIONS));
    let mut size = vec![0usize; centres.len()];
    label.iter().for_each(|&l| size[l] += 1);
    let mut order: Vec<usize> = (0..centres.len()).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(size[c]), c));
    order.into_iter().map(|c| centres[c].clone()).collect()
}

/// The kind of `shape`: the index of its nearest centre (0 without centres).
pub fn kind(shape: &[f32], centres: &[Vec<f32>]) -> u8 {
    let nearest = crate::model::kmeans::nearest(shape, centres);
    u8::try_from(nearest).unwrap_or(0) // at most MAX_KINDS centres
}

/// The kind of the beat at each of `peaks` (samples of `lead` at `fs` Hz): `kinds` groups
/// of their [`shapes`] ([`fit`]); all 0 when the lead is too short to filter.
pub fn classify(lead: &[f32], peaks: &[usize], fs: f64, kinds: usize, seed: u64) -> Vec<u8> {
    let Some(shapes) = shapes(lead, peaks, fs) else {
        return vec![0; peaks.len()];
    };
    let rows: Vec<&[f32]> = shapes.iter().map(Vec::as_slice).collect();
    let centres = fit(&rows, kinds, seed);
    rows.iter().map(|s| kind(s, &centres)).collect()
}

/// Seconds between an R peak and a reference beat label for the two to be one beat (the
/// ±150 ms of ANSI/AAMI EC57 beat matching).
pub const LABEL_TOLERANCE_S: f64 = 0.15;

/// The beat labels among `rec`'s annotations (MIT-BIH codes) at their samples at `fs`,
/// within its first `n` samples, ascending: what kinds of beat are named by.
pub fn marks(rec: &crate::record::Record, fs: f64, n: usize) -> Vec<(usize, &'static str)> {
    let mut out: Vec<(usize, &'static str)> = (rec.meta.annotations.iter())
        .filter(|a| a.onset.is_finite() && a.onset >= 0.0)
        .filter_map(|a| Some(((a.onset * fs).round() as usize, beat_code(&a.text)?)))
        .filter(|m| m.0 < n)
        .collect();
    out.sort_by_key(|m| m.0);
    out
}

/// Names kinds of beat by the reference labels their training beats meet: counts, per
/// kind, the labels of [`marks`] within [`LABEL_TOLERANCE_S`] of its beats' R peaks.
pub struct KindNames {
    /// Per kind, (label, beats) in order of first meeting.
    seen: Vec<Vec<(&'static str, u32)>>,
    tolerance: usize,
}

impl KindNames {
    /// No beats counted yet, for `kinds` kinds at `fs` Hz.
    pub fn new(kinds: usize, fs: f64) -> Self {
        Self {
            seen: vec![Vec::new(); kinds],
            tolerance: (LABEL_TOLERANCE_S * fs) as usize,
        }
    }

    /// Counts the label of `marks` (ascending) nearest the R peak `p` of kind `k`, if one
    /// lies within the tolerance (a kind beyond those counted is ignored).
    pub fn add(&mut self, marks: &[(usize, &'static str)], p: usize, k: u8) {
        let i = marks.partition_point(|m| m.0 < p);
        let near = [i.checked_sub(1), Some(i)]
            .into_iter()
            .flatten()
            .filter_map(|j| marks.get(j))
            .filter(|m| m.0.abs_diff(p) <= self.tolerance)
            .min_by_key(|m| m.0.abs_diff(p));
        let (Some(&(_, label)), Some(seen)) = (near, self.seen.get_mut(usize::from(k))) else {
            return;
        };
        match seen.iter_mut().find(|(l, _)| *l == label) {
            Some((_, n)) => *n += 1,
            None => seen.push((label, 1)),
        }
    }

    /// Each kind's most common label and its count; empty when no beat met a label (a
    /// kind that met none is called an unclassified beat, `Q`).
    pub fn labels(&self) -> (Vec<String>, Vec<u32>) {
        if self.seen.iter().all(Vec::is_empty) {
            return (Vec::new(), Vec::new());
        }
        let top = |s: &Vec<(&'static str, u32)>| {
            let best = s.iter().max_by_key(|(_, n)| *n).copied();
            best.unwrap_or((UNCLASSIFIED, 0))
        };
        self.seen
            .iter()
            .map(|s| {
                let (l, n) = top(s);
                (l.to_string(), n)
            })
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Narrow beats and every third one wide and inverted: two kinds, the wide ones the
    /// rarer kind 1, whatever the seed.
    #[test]
    fn narrow_and_wide_beats_are_told_apart() {
        let fs = 360.0;
        let n = 360 * 30;
        let mut lead = vec![0f32; n];
        let mut peaks = Vec::new();
        for (b, p) in (200..n - 200).step_by(300).enumerate() {
            let wide = b % 3 == 2;
            let w = if wide { 12.0 } else { 4.0 };
            let a = if wide { -1.5 } else { 1.0 };
            for (i, v) in lead.iter_mut().enumerate().take(p + 60).skip(p - 60) {
                let t = (i as f64 - p as f64) / w;
                *v += (a * (-t * t / 2.0).exp()) as f32;
            }
            peaks.push(p);
        }
        for seed in 0..3 {
            let k = classify(&lead, &peaks, fs, 2, seed);
            let want: Vec<u8> = (0..peaks.len()).map(|b| u8::from(b % 3 == 2)).collect();
            assert_eq!(k, want, "seed {seed}");
        }
        assert!(classify(&lead, &[], fs, 2, 1).is_empty());
    }

    /// Three quarters normal, a quarter ventricular and one far odd beat: whatever the seed,
    /// the two kinds are normal and ventricular (the odd beat joins the nearer), not the odd
    /// beat against all the rest.
    #[test]
    fn one_odd_beat_does_not_make_a_kind_of_its_own() {
        let (normal, wide) = ([1.0f32, 0.0, 0.0], [0.0f32, 1.0, 0.0]);
        let mut rows: Vec<Vec<f32>> = Vec::new();
        for b in 0..200 {
            let e = (b % 7) as f32 * 0.01;
            let base = if b % 4 == 3 { wide } else { normal };
            rows.push(base.iter().map(|v| v + e).collect());
        }
        rows.push(vec![0.0, 0.0, 6.0]);
        let views: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        for seed in 0..6 {
            let centres = fit(&views, 2, seed);
            let kinds: Vec<u8> = views.iter().map(|r| kind(r, &centres)).collect();
            let wide_kind = (0..200).filter(|b| b % 4 == 3).map(|b| kinds[b]);
            assert!(wide_kind.into_iter().all(|k| k == 1), "seed {seed}");
            assert_eq!(
                kinds[..200].iter().filter(|&&k| k == 0).count(),
                150,
                "seed {seed}"
            );
        }
    }
}
