//! Beat labels: how the labelled beats of a synthetic set (the MIT-BIH codes `generate` and
//! the learned models write) compare with a labelled real record's. A benchmark built for
//! an arrhythmia detector needs its ectopic beats as often, as bunched in time and as
//! likely to come in runs as the record it copies: the share of each kind, the ventricular
//! burden minute by minute, and how often a beat of a kind follows one of the same kind.

use crate::data::beat_kinds::beat_code;
use crate::record::Record;
use std::collections::BTreeMap;

/// The code of a premature ventricular beat, the ectopy counted per minute.
pub const VENTRICULAR: &str = "V";

/// Kinds with fewer beats than this get no repeat rate (too few to say).
const MIN_BEATS_FOR_REPEAT: usize = 10;

/// What one set's beat labels hold.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BeatLabels {
    /// Beats labelled (annotations that are MIT-BIH beat codes).
    pub beats: usize,
    /// Seconds of the records they came from.
    pub seconds: f64,
    /// Share of the beats of each code.
    pub shares: BTreeMap<String, f64>,
    /// Per kind (with at least 10 beats): share of its beats whose next beat is of the same
    /// kind (for `V`: couplets and runs against isolated PVCs).
    pub repeat: BTreeMap<String, f64>,
    /// Share of `V` among each whole minute's beats: 10th percentile, median, 90th
    /// percentile over the minutes (`None` without a whole minute).
    pub v_per_minute: Option<[f64; 3]>,
}

/// The real set's labels and the synthetic set's, side by side.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LabelComparison {
    /// The real records' beat labels.
    pub real: BeatLabels,
    /// The synthetic records' (`None`: they carry no beat labels).
    pub synthetic: Option<BeatLabels>,
    /// Total variation distance between the two sets' shares of each code (0: the same
    /// mix of beats, 1: no kind in common).
    pub share_distance: Option<f64>,
}

/// The beat codes of `rec`'s annotations, with their onsets, in time order.
fn beats(rec: &Record) -> Vec<(f64, &'static str)> {
    let mut b: Vec<(f64, &'static str)> = (rec.meta.annotations.iter())
        .filter_map(|a| Some((a.onset, beat_code(&a.text)?)))
        .collect();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    b
}

/// The beat labels of `records` taken together; `None` when none of them labels a beat.
pub fn beat_labels(records: &[(String, Record)]) -> Option<BeatLabels> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut repeats: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut minutes, mut seconds) = (Vec::new(), 0.0);
    for (_, rec) in records {
        let (b, duration) = (beats(rec), rec.duration_s());
        seconds += duration;
        for (i, (_, code)) in b.iter().enumerate() {
            *counts.entry(code).or_default() += 1;
            if b.get(i + 1).is_some_and(|next| next.1 == *code) {
                *repeats.entry(code).or_default() += 1;
            }
        }
        minutes.extend(v_shares_by_minute(&b, duration));
    }
    let total: usize = counts.values().sum();
    if total == 0 {
        return None;
    }
    let share = |n: usize, of: usize| n as f64 / of as f64;
    let repeat = (counts.iter())
        .filter(|(_, &n)| n >= MIN_BEATS_FOR_REPEAT)
        .map(|(c, &n)| {
            (
                c.to_string(),
                share(repeats.get(c).copied().unwrap_or(0), n),
            )
        })
        .collect();
    Some(BeatLabels {
        beats: total,
        seconds,
        shares: (counts
            .iter()
            .map(|(c, &n)| (c.to_string(), share(n, total))))
        .collect(),
        repeat,
        v_per_minute: quantiles(&mut minutes),
    })
}

/// The share of `V` among the beats of each whole minute of a record `duration_s` long
/// (minutes without beats left out).
fn v_shares_by_minute(beats: &[(f64, &str)], duration_s: f64) -> Vec<f64> {
    let whole = (duration_s / 60.0).floor().max(0.0) as usize;
    let mut all = vec![0usize; whole];
    let mut v = vec![0usize; whole];
    for &(t, code) in beats {
        let m = (t / 60.0).floor();
        if m >= 0.0 && (m as usize) < whole {
            all[m as usize] += 1;
            v[m as usize] += usize::from(code == VENTRICULAR);
        }
    }
    (all.iter().zip(&v))
        .filter(|(&n, _)| n > 0)
        .map(|(&n, &k)| k as f64 / n as f64)
        .collect()
}

/// 10th percentile, median and 90th percentile (nearest rank) of `v`; `None` when empty.
fn quantiles(v: &mut [f64]) -> Option<[f64; 3]> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    Some([at(0.1), at(0.5), at(0.9)])
}

/// The real and synthetic sets' labels ([`beat_labels`]) compared; `None` when the real
/// records label no beats (nothing to judge against).
pub fn compare(real: Option<BeatLabels>, synthetic: Option<BeatLabels>) -> Option<LabelComparison> {
    let real = real?;
    let share_distance = synthetic.as_ref().map(|s| {
        let codes: std::collections::BTreeSet<&String> =
            real.shares.keys().chain(s.shares.keys()).collect();
        let get = |m: &BTreeMap<String, f64>, c: &String| m.get(c).copied().unwrap_or(0.0);
        0.5 * codes
            .iter()
            .map(|c| (get(&real.shares, c) - get(&s.shares, c)).abs())
            .sum::<f64>()
    });
    Some(LabelComparison {
        real,
        synthetic,
        share_distance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Annotation, Channel, ChannelMeta, RecordMeta};

    /// A 3-minute record at 1 Hz whose annotations are `codes`, one a second from 0.5 s,
    /// and a rhythm note that is no beat.
    fn labelled(codes: &[&str]) -> (String, Record) {
        let annotations = (codes.iter().enumerate())
            .map(|(i, c)| Annotation {
                onset: i as f64 + 0.5,
                duration: None,
                text: c.to_string(),
            })
            .chain(std::iter::once(Annotation {
                onset: 1.0,
                duration: None,
                text: "(AFIB".into(),
            }))
            .collect();
        let channel = Channel {
            meta: ChannelMeta::new("II", "mV", 1.0),
            samples: vec![0.0; 180],
        };
        let rec = Record {
            meta: RecordMeta {
                annotations,
                ..RecordMeta::default()
            },
            channels: vec![channel],
        };
        ("t".into(), rec)
    }

    #[test]
    fn shares_repeats_and_minutes_are_counted_from_beat_codes_alone() {
        // Minute 0: 60 beats, every third V (isolated); minute 1: 60 N; minute 2: 30 beats,
        // V couplets (V V N) ×10.
        let mut codes: Vec<&str> = (0..60)
            .map(|i| if i % 3 == 2 { "V" } else { "N" })
            .collect();
        codes.extend(["N"; 60]);
        codes.extend((0..30).map(|i| if i % 3 == 2 { "N" } else { "V" }));
        let l = beat_labels(&[labelled(&codes)]).unwrap();
        assert_eq!(l.beats, 150);
        assert_eq!(l.seconds, 180.0);
        assert!((l.shares["V"] - 40.0 / 150.0).abs() < 1e-12);
        // V followed by V: 10 of the 40 (the couplets' first beats).
        assert!(
            (l.repeat["V"] - 10.0 / 40.0).abs() < 1e-12,
            "{:?}",
            l.repeat
        );
        let [lo, mid, hi] = l.v_per_minute.unwrap();
        assert_eq!((lo, mid, hi), (0.0, 20.0 / 60.0, 20.0 / 30.0));
        assert!(!l.shares.contains_key("(AFIB"));
    }

    #[test]
    fn the_same_mix_is_zero_apart_and_a_set_without_labels_is_said() {
        let a = labelled(&["N", "N", "V", "N"]);
        let b = labelled(&["V", "N", "N", "N", "N", "V", "N", "N"]);
        let of = |r: &(String, Record)| beat_labels(std::slice::from_ref(r));
        let c = compare(of(&a), of(&b)).unwrap();
        assert!(c.share_distance.unwrap().abs() < 1e-12);
        let other = labelled(&["N", "F"]);
        let d = compare(of(&a), of(&other)).unwrap();
        // a: N 0.75, V 0.25; other: N 0.5, F 0.5 → (0.25 + 0.25 + 0.5) / 2.
        assert!((d.share_distance.unwrap() - 0.5).abs() < 1e-12);
        let none = labelled(&[]);
        let e = compare(of(&a), of(&none)).unwrap();
        assert!(e.synthetic.is_none() && e.share_distance.is_none());
        assert!(compare(of(&none), of(&a)).is_none());
    }
}
