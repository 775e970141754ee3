//! EDF, EDF+ (continuous and discontinuous), BDF and BDF+: reader and streaming writer.
//!
//! Header parsing ([`header`]) is separate from sample decoding ([`reader`]); the writer
//! ([`writer`]) streams record by record with the record count at -1 until `finish()`.

mod fields;
pub mod header;
pub mod reader;
pub mod tal;
pub mod writer;

pub use reader::EdfReader;
pub use writer::{EdfWriter, SignalPlan};

use crate::io::{Error, Result, WriteOptions};
use crate::record::{Record, SignalSpec};
use std::path::Path;

/// Record durations tried, in order of preference (seconds, exact in 8 characters).
const DURATIONS: [f64; 12] = [
    1.0, 0.5, 0.25, 0.2, 0.1, 2.0, 0.05, 5.0, 0.04, 0.02, 10.0, 0.01,
];

/// Creates a streaming EDF+C/BDF+C writer for a stream of `spec` (ranges from the spec).
pub fn create(path: &Path, spec: &SignalSpec, opts: &WriteOptions) -> Result<EdfWriter> {
    let d = streaming_duration(spec.sample_rate).ok_or_else(|| {
        Error::format(
            path,
            "sample rate",
            format!(
                "{} Hz gives no whole number of samples in any record duration biowave writes",
                spec.sample_rate
            ),
        )
    })?;
    let spr = (spec.sample_rate * d).round() as usize;
    let signals = spec
        .channels
        .iter()
        .map(|c| SignalPlan {
            label: c.label.clone(),
            unit: c.unit.clone(),
            range: writer::writable_range(c.range.0, c.range.1),
            samples_per_record: spr,
        })
        .collect();
    EdfWriter::create(path, signals, d, streaming_annotation_bytes(d), opts)
}

/// A streaming writer's annotation signal bytes per record of `d` seconds: 120 for each
/// second (at least 120, an even count). A second holds the time-keeping TAL and five or
/// six beat labels even days in (`+86400.123456^T^TN^T`: 17 bytes); sized per record, a
/// 10 s record (333.3 Hz) held a third of a 60 bpm stream's beats and the rest ran late
/// and were lost at the end.
fn streaming_annotation_bytes(d: f64) -> usize {
    ((120.0 * d.max(1.0)).ceil() as usize).next_multiple_of(2)
}

fn streaming_duration(rate: f64) -> Option<f64> {
    DURATIONS.into_iter().find(|d| {
        let n = rate * d;
        n >= 1.0 && (n - n.round()).abs() < 1e-9
    })
}

/// Writes a whole record as EDF+C or BDF+C (by extension), ranges chosen from the data.
///
/// The record duration makes every channel's samples per record whole and, when possible,
/// divides the record exactly, so nothing is padded.
pub fn save(record: &Record, path: &Path, opts: &WriteOptions) -> Result<()> {
    if record.channels.is_empty() {
        return Err(Error::format(
            path,
            "signals",
            "the record has no channels to write",
        ));
    }
    let d = save_duration(record).ok_or_else(|| {
        Error::format(
            path,
            "sample rate",
            "the channels' rates have no common record duration that EDF can hold",
        )
    })?;
    let signals = signal_plans(record, d);
    let n_records = record
        .channels
        .iter()
        .zip(&signals)
        .map(|(c, s)| c.samples.len().div_ceil(s.samples_per_record))
        .max()
        .unwrap_or(0)
        .max(1);
    let opts = with_record_fields(opts, record);
    let ann_bytes = annotation_bytes(record, n_records);
    let mut w = EdfWriter::create(path, signals, d, ann_bytes, &opts)?;
    w.set_flush_each_record(false);
    for a in &record.meta.annotations {
        w.add_annotation(a.clone());
    }
    let chans: Vec<&[f32]> = record
        .channels
        .iter()
        .map(|c| c.samples.as_slice())
        .collect();
    w.push(&chans)?;
    crate::io::Writer::finish(&mut w)
}

/// Each channel's label, unit, physical range (from its samples) and samples per record of
/// `d` seconds.
fn signal_plans(record: &Record, d: f64) -> Vec<SignalPlan> {
    record
        .channels
        .iter()
        .map(|c| {
            let (lo, hi) = c
                .samples
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                    (l.min(f64::from(x)), h.max(f64::from(x)))
                });
            SignalPlan {
                label: c.meta.label.clone(),
                unit: c.meta.unit.clone(),
                range: writer::writable_range(lo, hi),
                samples_per_record: (c.meta.sample_rate * d).round() as usize,
            }
        })
        .collect()
}

/// `opts` with the record's patient, EDF+ recording field and start filling what `opts`
/// leaves empty.
fn with_record_fields(opts: &WriteOptions, record: &Record) -> WriteOptions {
    let mut opts = opts.clone();
    if opts.patient.is_empty() {
        opts.patient = record.meta.patient.clone();
    }
    if opts.recording.is_empty() {
        opts.recording = plus_recording(&record.meta.recording);
    }
    opts.start = opts.start.or(record.meta.start);
    opts
}

/// Keeps an EDF+ recording field only if it is one (else biowave writes its own).
fn plus_recording(r: &str) -> String {
    if r.starts_with("Startdate ") {
        r.to_string()
    } else {
        String::new()
    }
}

fn save_duration(record: &Record) -> Option<f64> {
    let whole = |d: f64| {
        record.channels.iter().all(|c| {
            let n = c.meta.sample_rate * d;
            n >= 1.0 && (n - n.round()).abs() < 1e-9
        })
    };
    let divides = |d: f64| {
        record
            .channels
            .iter()
            .all(|c| c.samples.len() % ((c.meta.sample_rate * d).round() as usize) == 0)
    };
    // Exact divisions of the record first (e.g. 4096 samples at 500 Hz: 0.512 s records).
    let n = record.channels[0].samples.len();
    let exact = (1..=n.min(1 << 16))
        .filter(|k| n.is_multiple_of(*k))
        .map(|k| (n / k) as f64 / record.channels[0].meta.sample_rate)
        .filter(|&d| d <= 10.0 && fields::duration8(d).is_some() && whole(d) && divides(d))
        .min_by(|a, b| (a - 1.0).abs().total_cmp(&(b - 1.0).abs()));
    exact.or_else(|| DURATIONS.into_iter().find(|&d| whole(d)))
}

/// Annotation signal bytes per record so that all annotations fit, spread over records,
/// and the longest fits one record beside the time-keeping TAL (an even count, ≤ 64 KiB).
fn annotation_bytes(record: &Record, n_records: usize) -> usize {
    let tal_len = |a: &crate::record::Annotation| {
        let mut t = Vec::new();
        tal::write(&mut t, a.onset, a.duration, &[a.text.as_str()]);
        t.len()
    };
    let lens: Vec<usize> = record.meta.annotations.iter().map(tal_len).collect();
    let total: usize = lens.iter().sum();
    let longest = lens.iter().copied().max().unwrap_or(0);
    let keeping = 24; // `+DURATION^T^T\0` of the last record
    let per_record = (total.div_ceil(n_records) + 64).max(longest + keeping);
    per_record.clamp(64, 1 << 16).next_multiple_of(2)
}
