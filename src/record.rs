//! In-memory recordings: channels of physical-unit samples with their metadata.
//!
//! Every reader produces a [`Record`] (or a [`RecordInfo`] before decoding samples) and
//! every writer consumes one, so formats convert through this one vocabulary.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// What describes one channel apart from its samples (EDF's per-signal header fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelMeta {
    /// Channel name, e.g. `II`, `Fp1`, `EEG Fpz-Cz`.
    pub label: String,
    /// Physical unit of the samples, e.g. `mV`, `uV`.
    pub unit: String,
    /// Samples per second of this channel (channels of one record may differ).
    pub sample_rate: f64,
    /// Physical value that `digital_min` maps to.
    pub physical_min: f64,
    /// Physical value that `digital_max` maps to.
    pub physical_max: f64,
    /// Smallest stored integer (EDF/BDF); for float formats the range used when writing EDF.
    pub digital_min: i32,
    /// Largest stored integer.
    pub digital_max: i32,
    /// Transducer type, e.g. `AgAgCl electrode` (may be empty).
    pub transducer: String,
    /// Prefiltering, e.g. `HP:0.1Hz LP:75Hz` (may be empty).
    pub prefilter: String,
}

impl ChannelMeta {
    /// A channel with a label, unit and rate and no range yet (writers choose one from data).
    pub fn new(label: impl Into<String>, unit: impl Into<String>, sample_rate: f64) -> Self {
        Self {
            label: label.into(),
            unit: unit.into(),
            sample_rate,
            physical_min: 0.0,
            physical_max: 0.0,
            digital_min: 0,
            digital_max: 0,
            transducer: String::new(),
            prefilter: String::new(),
        }
    }

    /// `[physical_min, physical_max]` as a header declared them (EDF/BDF), or `None` when
    /// no range is set (float formats: HDF5, CSV), i.e. the digital range is empty.
    pub fn declared_range(&self) -> Option<[f64; 2]> {
        (self.digital_min != self.digital_max).then_some([self.physical_min, self.physical_max])
    }

    /// Physical units per digital step (`0` when no range is set).
    pub fn gain(&self) -> f64 {
        let d = f64::from(self.digital_max) - f64::from(self.digital_min);
        if d == 0.0 {
            0.0
        } else {
            (self.physical_max - self.physical_min) / d
        }
    }
}

/// One channel: metadata plus samples in physical units.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// Label, unit, rate, ranges.
    pub meta: ChannelMeta,
    /// Samples in physical units, in time order.
    pub samples: Vec<f32>,
}

impl Channel {
    /// Duration covered by the samples, in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / self.meta.sample_rate
    }
}

/// An event on the record's time axis (EDF+ TAL, or a label from another format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// Seconds from the record's start.
    pub onset: f64,
    /// Seconds, when the event has a duration.
    pub duration: Option<f64>,
    /// Free text.
    pub text: String,
}

/// The factor that turns values in unit `from` into unit `to`: 1 for the same unit (µV,
/// μV and uV alike), a power of ten between volt units (V, mV, uV, nV), `None` otherwise.
pub fn unit_scale(from: &str, to: &str) -> Option<f64> {
    let norm = |u: &str| u.trim().replace(['µ', 'μ'], "u");
    let volts = |u: &str| match u {
        "V" => Some(1.0),
        "mV" => Some(1e-3),
        "uV" => Some(1e-6),
        "nV" => Some(1e-9),
        _ => None,
    };
    let (from, to) = (norm(from), norm(to));
    if from == to {
        return Some(1.0);
    }
    Some(volts(&from)? / volts(&to)?)
}

/// The factor from unit `from` to unit `to` for channel `label` of file `name` ([`unit_scale`]),
/// a rescale logged naming `whose` unit it takes; otherwise the sentence that refuses it.
pub fn unit_factor(
    name: &str,
    label: &str,
    from: &str,
    to: &str,
    whose: &str,
) -> Result<f32, String> {
    match unit_scale(from, to) {
        Some(k) => {
            if k != 1.0 {
                tracing::warn!(
                    "{name}: channel {label} rescaled from {from} to {to}, {whose}'s unit"
                );
            }
            Ok(k as f32)
        }
        None => Err(format!(
            "{name}: channel {label} is in `{from}`, {whose}'s in `{to}`: convert one of them"
        )),
    }
}

/// `start` moved `secs` seconds later (to the millisecond): the start of a record cut or
/// joined from another.
pub fn start_after(start: Option<NaiveDateTime>, secs: f64) -> Option<NaiveDateTime> {
    let shift = chrono::Duration::milliseconds((secs * 1000.0).round() as i64);
    start.map(|t| t + shift)
}

/// A contiguous stretch of a discontinuous (EDF+D) record.
///
/// Samples of a record are stored back to back; `segments` says where each stretch sits
/// on the real time axis. An empty list means the record is continuous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Seconds from the record's start at which this stretch begins.
    pub onset: f64,
    /// Length of the stretch in seconds.
    pub duration: f64,
}

/// Record-level metadata: who, what, when, and the annotations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordMeta {
    /// Patient identification (EDF+ subfields joined with spaces, as stored).
    pub patient: String,
    /// Recording identification (as stored).
    pub recording: String,
    /// Start date and time, local time of the recording as the file states it.
    pub start: Option<NaiveDateTime>,
    /// Annotations in onset order.
    pub annotations: Vec<Annotation>,
    /// Contiguous stretches for discontinuous records; empty when continuous.
    pub segments: Vec<Segment>,
}

impl RecordMeta {
    /// Keeps the annotations with onsets in `[start_s, end_s)`, their onsets and the start
    /// time moved to `start_s`: the metadata of the part of a record from `start_s` on.
    pub fn clip(&mut self, start_s: f64, end_s: f64) {
        self.annotations
            .retain(|a| a.onset >= start_s && a.onset < end_s);
        self.annotations.iter_mut().for_each(|a| a.onset -= start_s);
        self.start = start_after(self.start, start_s);
    }

    /// The recording's time of second `t` of its stretches laid back to back (`t` itself
    /// for a continuous record): where a joined record's sample really was.
    pub fn recording_time(&self, t: f64) -> f64 {
        let mut at = 0.0;
        for s in &self.segments {
            if t < at + s.duration {
                return s.onset + (t - at).max(0.0);
            }
            at += s.duration;
        }
        self.segments
            .last()
            .map_or(t, |s| s.onset + s.duration + (t - at))
    }

    /// For samples whose stretches ([`Segment`]s) are laid back to back, as every continuous
    /// format holds them: each annotation's onset moved from the recording's time to that
    /// joined time (one in a gap to the join after it), an annotation at each join saying
    /// how long a gap was dropped there, the start moved to the first stretch; no segments
    /// after. Continuous records are left as they are.
    pub fn close_gaps(&mut self) {
        let Some(first) = self.segments.first().map(|s| s.onset) else {
            return;
        };
        let mut joined = Vec::with_capacity(self.segments.len());
        let mut at = 0.0;
        for s in &self.segments {
            joined.push(at);
            at += s.duration;
        }
        let place = |t: f64| {
            let i = self
                .segments
                .partition_point(|s| s.onset <= t)
                .saturating_sub(1);
            let s = &self.segments[i];
            joined[i] + (t - s.onset).clamp(0.0, s.duration)
        };
        for a in &mut self.annotations {
            a.onset = place(a.onset);
        }
        for (w, j) in self.segments.windows(2).zip(&joined[1..]) {
            let gap = ((w[1].onset - w[0].onset - w[0].duration) * 1e6).round() / 1e6;
            self.annotations.push(Annotation {
                onset: *j,
                duration: None,
                text: format!("gap: {gap} s not recorded (discontinuous source)"),
            });
        }
        self.annotations.sort_by(|x, y| x.onset.total_cmp(&y.onset));
        self.start = start_after(self.start, first);
        self.segments.clear();
    }
}

/// A whole recording in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// Patient, recording, start, annotations, segments.
    pub meta: RecordMeta,
    /// Channels; each may have its own sample rate.
    pub channels: Vec<Channel>,
}

impl Record {
    /// Longest channel duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.channels
            .iter()
            .map(Channel::duration_s)
            .fold(0.0, f64::max)
    }

    /// Index of the channel with this label (exact match first, then case-insensitive).
    pub fn channel_index(&self, label: &str) -> Option<usize> {
        let labels = self.channels.iter().map(|c| c.meta.label.as_str());
        find_label(labels, label)
    }

    /// Indices of the channels `wanted` names, in that order ([`find_labels`]).
    pub fn channel_indices(&self, wanted: &[String]) -> Result<Vec<usize>, MissingChannel> {
        find_labels(self.channels.iter().map(|c| c.meta.label.as_str()), wanted)
    }

    /// Where each contiguous stretch ([`Segment`]) lies among channel `c`'s samples: one
    /// range, all of them, for a continuous record. Windows cut within one range never
    /// span a gap of an EDF+D.
    pub fn stretch_ranges(&self, c: usize) -> Vec<std::ops::Range<usize>> {
        let ch = &self.channels[c];
        let n = ch.samples.len();
        if self.meta.segments.is_empty() {
            return std::iter::once(0..n).collect();
        }
        let mut at = 0;
        let mut out = Vec::with_capacity(self.meta.segments.len());
        for s in &self.meta.segments {
            let len = (s.duration * ch.meta.sample_rate).round() as usize;
            let end = (at + len).min(n);
            out.push(at..end);
            at = end;
        }
        out
    }

    /// The record's contiguous stretches, each a continuous record of its own with its own
    /// start and the annotations that fall in it (onsets from its start), and its onset in
    /// the recording: `[(0, self)]` for a continuous record. Training data is cut so, so
    /// that no window spans a gap.
    pub fn stretches(self) -> Vec<(f64, Record)> {
        if self.meta.segments.is_empty() {
            return vec![(0.0, self)];
        }
        let ranges: Vec<_> = (0..self.channels.len())
            .map(|c| self.stretch_ranges(c))
            .collect();
        (self.meta.segments.iter().enumerate())
            .map(|(k, s)| {
                let channels = (self.channels.iter().zip(&ranges))
                    .map(|(c, r)| Channel {
                        meta: c.meta.clone(),
                        samples: c.samples[r[k].clone()].to_vec(),
                    })
                    .collect();
                let mut meta = RecordMeta {
                    segments: Vec::new(),
                    ..self.meta.clone()
                };
                meta.clip(s.onset, s.onset + s.duration);
                (s.onset, Record { meta, channels })
            })
            .collect()
    }
}

/// A channel label a record lacks, and the labels it has: what an error about it says.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingChannel {
    /// The label asked for.
    pub label: String,
    /// The record's labels, trimmed.
    pub have: Vec<String>,
}

impl std::fmt::Display for MissingChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (label, have) = (&self.label, self.have.join(", "));
        write!(f, "no channel `{label}` (channels: {have})")
    }
}

/// Indices of `wanted` among `labels` ([`find_label`] each), in that order; else the first
/// label missing, with the labels there are.
pub fn find_labels<'a>(
    labels: impl Iterator<Item = &'a str> + Clone,
    wanted: &[String],
) -> Result<Vec<usize>, MissingChannel> {
    (wanted.iter())
        .map(|w| {
            find_label(labels.clone(), w).ok_or_else(|| MissingChannel {
                label: w.clone(),
                have: labels.clone().map(|l| l.trim().to_string()).collect(),
            })
        })
        .collect()
}

/// Index of `label` among `labels`: exact match first, then case-insensitive, trimmed.
pub fn find_label<'a>(labels: impl Iterator<Item = &'a str> + Clone, label: &str) -> Option<usize> {
    let want = label.trim();
    labels.clone().position(|l| l.trim() == want).or_else(|| {
        labels
            .into_iter()
            .position(|l| l.trim().eq_ignore_ascii_case(want))
    })
}

/// What a reader knows about one channel before decoding it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelInfo {
    /// Label, unit, rate, ranges.
    pub meta: ChannelMeta,
    /// Number of samples the file holds for this channel.
    pub n_samples: u64,
}

/// What a reader knows about a file after parsing its header: everything but the samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordInfo {
    /// Patient, recording, start, annotations, segments.
    pub meta: RecordMeta,
    /// Channels without their samples.
    pub channels: Vec<ChannelInfo>,
}

impl RecordInfo {
    /// Longest channel duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.channels
            .iter()
            .map(|c| c.n_samples as f64 / c.meta.sample_rate)
            .fold(0.0, f64::max)
    }
}

/// One stream channel: what a generator promises and a sink needs up front.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelSpec {
    /// Channel name.
    pub label: String,
    /// Physical unit.
    pub unit: String,
    /// Expected physical range `(min, max)`, so that streaming EDF/BDF writers can fix the
    /// digital scaling before the first sample; values outside are clipped by such writers.
    pub range: (f64, f64),
}

/// Shape of a sample stream: one rate for all channels, and the channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalSpec {
    /// Samples per second per channel.
    pub sample_rate: f64,
    /// Channels in block order.
    pub channels: Vec<ChannelSpec>,
}

impl SignalSpec {
    /// Number of channels.
    pub fn n_channels(&self) -> usize {
        self.channels.len()
    }

    /// Channels `labels` at `sample_rate`, all in `unit` with the range `±half_range` (the
    /// generators' streams, whose range is known before the first sample).
    pub fn symmetric<S: Into<String>>(
        sample_rate: f64,
        labels: impl IntoIterator<Item = S>,
        unit: &str,
        half_range: f64,
    ) -> Self {
        let channels = labels
            .into_iter()
            .map(|label| ChannelSpec {
                label: label.into(),
                unit: unit.into(),
                range: (-half_range, half_range),
            })
            .collect();
        Self {
            sample_rate,
            channels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_maps_digital_range_to_physical_range() {
        let mut m = ChannelMeta::new("II", "mV", 500.0);
        (m.physical_min, m.physical_max, m.digital_min, m.digital_max) = (-5.0, 5.0, -2048, 2047);
        assert!((m.gain() - 10.0 / 4095.0).abs() < 1e-12);
        assert_eq!(ChannelMeta::new("x", "", 1.0).gain(), 0.0);
    }

    #[test]
    fn stretches_split_samples_annotations_and_start_at_the_gaps() {
        let mut rec = Record::default();
        for (label, fs) in [("a", 10.0), ("b", 20.0)] {
            let n = (3.0 * fs) as usize;
            let samples = (0..n).map(|i| i as f32).collect();
            let meta = ChannelMeta::new(label, "uV", fs);
            rec.channels.push(Channel { meta, samples });
        }
        rec.meta.start =
            chrono::NaiveDate::from_ymd_opt(2021, 3, 2).and_then(|d| d.and_hms_opt(10, 0, 0));
        rec.meta.segments = vec![
            Segment {
                onset: 0.0,
                duration: 2.0,
            },
            Segment {
                onset: 5.0,
                duration: 1.0,
            },
        ];
        for (onset, text) in [(1.5, "x"), (3.0, "in the gap"), (5.25, "y")] {
            let text = text.to_string();
            rec.meta.annotations.push(Annotation {
                onset,
                duration: None,
                text,
            });
        }
        assert_eq!(rec.stretch_ranges(1), vec![0..40, 40..60]);
        let parts = rec.stretches();
        let onsets: Vec<f64> = parts.iter().map(|p| p.0).collect();
        assert_eq!(onsets, vec![0.0, 5.0]);
        let (_, second) = &parts[1];
        assert_eq!(
            second.channels[0].samples,
            vec![20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0]
        );
        assert_eq!(second.channels[1].samples.len(), 20);
        assert_eq!(second.meta.annotations.len(), 1);
        assert_eq!(
            (
                second.meta.annotations[0].onset,
                second.meta.annotations[0].text.as_str()
            ),
            (0.25, "y")
        );
        assert_eq!(
            second.meta.start.unwrap().to_string(),
            "2021-03-02 10:00:05"
        );
        assert!(second.meta.segments.is_empty());
        assert_eq!(parts[0].1.meta.annotations[0].text, "x");
    }

    #[test]
    fn labels_match_exactly_before_ignoring_case() {
        let labels = ["ii", "II", "V1 "];
        assert_eq!(find_label(labels.iter().copied(), "II"), Some(1));
        assert_eq!(find_label(labels.iter().copied(), "v1"), Some(2));
        assert_eq!(find_label(labels.iter().copied(), "V7"), None);
    }
}
