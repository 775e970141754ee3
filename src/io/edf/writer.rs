//! EDF+C / BDF+C streaming writer: header first (record count -1), record by record.

use super::fields::{duration8, field, header_labels, num8, SIGNAL_FIELD_WIDTHS};
use super::tal;
use crate::block::Block;
use crate::io::{Error, Result, WriteOptions, Writer};
use crate::record::Annotation;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One signal as the writer stores it.
#[derive(Debug, Clone)]
pub struct SignalPlan {
    /// Label.
    pub label: String,
    /// Physical unit.
    pub unit: String,
    /// Physical range written in the header (as read back from its 8-character text).
    pub range: (f64, f64),
    /// Samples per data record.
    pub samples_per_record: usize,
}

/// Writes EDF+C (16-bit) or BDF+C (24-bit) data records as samples arrive.
pub struct EdfWriter {
    path: PathBuf,
    /// `None` once sealed by `finish()`.
    out: Option<BufWriter<File>>,
    header_len: u64,
    /// Records known to be on disk whole (flushed without error).
    records_synced: u64,
    /// Samples clamped into the digital range (reported by `finish()`).
    clipped: u64,
    bdf: bool,
    signals: Vec<SignalPlan>,
    record_duration: f64,
    /// Samples waiting to complete the current record, per signal.
    pending: Vec<Vec<f32>>,
    annotations: std::collections::VecDeque<Annotation>,
    ann_bytes: usize,
    records: u64,
    flush_each_record: bool,
    finished: bool,
    record_buf: Vec<u8>,
}

impl EdfWriter {
    /// Creates `path` and writes its header (record count -1 until [`Writer::finish`]).
    ///
    /// `ann_bytes` is the size of each record's annotation signal (even, ≥ 16).
    pub fn create(
        path: &Path,
        signals: Vec<SignalPlan>,
        record_duration: f64,
        ann_bytes: usize,
        opts: &WriteOptions,
    ) -> Result<Self> {
        let bdf = matches!(path.extension().and_then(|e| e.to_str()), Some(e) if e.eq_ignore_ascii_case("bdf"));
        let signals = with_header_labels(path, signals);
        let file = File::create(path).map_err(|e| Error::open(path, e))?;
        let ann_bytes = ann_bytes.max(16).next_multiple_of(if bdf { 6 } else { 2 });
        let mut w = EdfWriter {
            path: path.to_path_buf(),
            out: Some(BufWriter::with_capacity(1 << 16, file)),
            header_len: 0,
            records_synced: 0,
            clipped: 0,
            bdf,
            pending: vec![Vec::new(); signals.len()],
            signals,
            record_duration,
            annotations: Default::default(),
            ann_bytes,
            records: 0,
            flush_each_record: true,
            finished: false,
            record_buf: Vec::new(),
        };
        let header = w.header_bytes(opts, -1)?;
        w.header_len = header.len() as u64;
        w.io(|o| o.write_all(&header).and_then(|_| o.flush()))?;
        Ok(w)
    }

    /// Flush after every record (default, so a killed process leaves whole records) or not.
    pub fn set_flush_each_record(&mut self, on: bool) {
        self.flush_each_record = on;
    }

    /// Queues an annotation; it is written in the next records' annotation signal.
    pub fn add_annotation(&mut self, a: Annotation) {
        self.annotations.push_back(a);
    }

    /// Appends samples of every signal (`per_signal[i]` for signal `i`); writes each record
    /// as soon as all its samples are there.
    pub fn push(&mut self, per_signal: &[&[f32]]) -> Result<()> {
        for (p, s) in self.pending.iter_mut().zip(per_signal) {
            p.extend_from_slice(s);
        }
        while self
            .pending
            .iter()
            .zip(&self.signals)
            .all(|(p, s)| p.len() >= s.samples_per_record)
        {
            self.write_record()?;
        }
        Ok(())
    }

    fn digital_limits(&self) -> (i32, i32) {
        if self.bdf {
            (-8_388_608, 8_388_607)
        } else {
            (-32_768, 32_767)
        }
    }

    fn write_record(&mut self) -> Result<()> {
        let (dmin, dmax) = self.digital_limits();
        let bps = if self.bdf { 3 } else { 2 };
        let mut buf = std::mem::take(&mut self.record_buf);
        buf.clear();
        for (sig, p) in self.signals.iter().zip(self.pending.iter_mut()) {
            let gain = (sig.range.1 - sig.range.0) / (f64::from(dmax) - f64::from(dmin));
            let offset = sig.range.0 - f64::from(dmin) * gain;
            for &x in &p[..sig.samples_per_record] {
                let d = ((f64::from(x) - offset) / gain).round();
                let c = d.clamp(f64::from(dmin), f64::from(dmax));
                self.clipped += u64::from(c != d);
                buf.extend_from_slice(&(c as i32).to_le_bytes()[..bps]);
            }
            p.drain(..sig.samples_per_record);
        }
        let onset = self.records as f64 * self.record_duration;
        buf.extend_from_slice(&self.annotation_block(onset));
        self.io(|o| o.write_all(&buf))?;
        self.record_buf = buf;
        self.records += 1;
        if self.flush_each_record {
            self.io(|o| o.flush())?;
            self.records_synced = self.records;
        }
        Ok(())
    }

    /// Runs an I/O step on the open file; errors name the file.
    fn io(&mut self, f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) -> Result<()> {
        let out = self.out.as_mut().ok_or_else(|| {
            Error::open(
                &self.path,
                std::io::Error::other("the writer is already finished"),
            )
        })?;
        f(out).map_err(|e| Error::open(&self.path, e))
    }

    /// Writes the partial last record (padded) and flushes everything.
    fn write_tail(&mut self) -> Result<()> {
        // A partial last record is completed by holding each signal's last value, and an
        // annotation marks where the real data end, so no reader mistakes padding for data.
        if self.pending.iter().any(|p| !p.is_empty()) {
            let (p, s) = (&self.pending[0], &self.signals[0]);
            let held = s.samples_per_record - p.len().min(s.samples_per_record);
            let end = (self.records as f64 + p.len() as f64 / s.samples_per_record as f64)
                * self.record_duration;
            self.annotations.push_front(Annotation {
                onset: end,
                duration: None,
                text: format!("end of data ({held} samples held to fill the last record)"),
            });
            for (p, s) in self.pending.iter_mut().zip(&self.signals) {
                let last = p.last().copied().unwrap_or(0.0);
                p.resize(s.samples_per_record, last);
            }
            self.write_record()?;
        }
        if !self.annotations.is_empty() {
            tracing::warn!(
                "{}: {} annotations did not fit the annotation signal",
                self.path.display(),
                self.annotations.len()
            );
            self.annotations.clear();
        }
        if self.clipped > 0 {
            let full = (self.signals.iter())
                .any(|s| s.range.0 <= -9_999_999.0 || s.range.1 >= 99_999_999.0);
            tracing::warn!(
                "{}: {} samples outside the physical range were clipped to it{}",
                self.path.display(),
                self.clipped,
                if full {
                    " (EDF's 8-character physical range holds -9999999 to 99999999: give \
                     the signal in larger units)"
                } else {
                    ""
                }
            );
        }
        self.io(|o| o.flush())?;
        self.records_synced = self.records;
        Ok(())
    }

    /// Leaves a valid file: after a failed write (e.g. disk full) it is cut back to the
    /// last whole record; the header's record count is then set to what the file holds.
    fn seal(&mut self, tail: Result<()>) -> Result<()> {
        let Some(out) = self.out.take() else {
            return tail;
        };
        let (mut f, _unwritten) = out.into_parts(); // drop what could not be written
        let rb: u64 = self
            .signals
            .iter()
            .map(|s| (s.samples_per_record * if self.bdf { 3 } else { 2 }) as u64)
            .sum::<u64>()
            + self.ann_bytes as u64;
        let count = field(&self.records_synced.to_string(), 8);
        let sealed = (if tail.is_err() {
            f.set_len(self.header_len + self.records_synced * rb)
        } else {
            Ok(())
        })
        .and_then(|_| f.seek(SeekFrom::Start(236)))
        .and_then(|_| f.write_all(&count))
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::open(&self.path, e));
        tail.and(sealed)
    }

    /// This record's annotation signal: the time-keeping TAL, then queued TALs that fit.
    fn annotation_block(&mut self, onset: f64) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.ann_bytes);
        tal::write(&mut b, onset, None, &[""]);
        let keeping = b.len();
        while let Some(a) = self.annotations.front_mut() {
            let mut t = Vec::new();
            tal::write(&mut t, a.onset, a.duration, &[a.text.as_str()]);
            if b.len() + t.len() > self.ann_bytes && b.len() == keeping {
                // Longer than any record holds: cut, or it would hold back every later one.
                if a.text.is_empty() {
                    tracing::warn!(
                        "{}: annotation at {} s does not fit a record",
                        self.path.display(),
                        a.onset
                    );
                    self.annotations.pop_front();
                    continue;
                }
                let over = keeping + t.len() - self.ann_bytes;
                let mut keep = a.text.len().saturating_sub(over);
                while !a.text.is_char_boundary(keep) {
                    keep -= 1;
                }
                tracing::warn!(
                    "{}: annotation at {} s cut to its first {keep} of {} bytes to fit a record",
                    self.path.display(),
                    a.onset,
                    a.text.len()
                );
                a.text.truncate(keep);
                continue;
            }
            if b.len() + t.len() > self.ann_bytes {
                break;
            }
            b.extend_from_slice(&t);
            self.annotations.pop_front();
        }
        b.resize(self.ann_bytes, 0);
        b
    }

    /// The whole header: the fixed 256 bytes, then the signal fields column by column.
    fn header_bytes(&self, opts: &WriteOptions, n_records: i64) -> Result<Vec<u8>> {
        let ns = self.signals.len() + 1;
        let mut h = self.fixed_header(opts, n_records)?;
        let rows = self.signal_rows();
        for (k, width) in SIGNAL_FIELD_WIDTHS.into_iter().enumerate() {
            for r in &rows {
                h.extend(field(&r[k], width));
            }
        }
        debug_assert_eq!(h.len(), 256 * (ns + 1));
        Ok(h)
    }

    /// The first 256 bytes: version, EDF+ patient and recording fields, start, sizes, the
    /// record count `n_records` and duration, the signal count (data signals and the
    /// annotation signal).
    fn fixed_header(&self, opts: &WriteOptions, n_records: i64) -> Result<Vec<u8>> {
        let ns = self.signals.len() + 1;
        let mut h = Vec::with_capacity(256 * (ns + 1));
        h.extend_from_slice(if self.bdf {
            b"\xffBIOSEMI"
        } else {
            b"0       "
        });
        // Without a start time: 2000-01-01, unambiguous in both EDF's 2-digit year and
        // EDF+'s 4-digit one (1970 would read back as 2070 from the 2-digit field).
        let start = opts.start.unwrap_or_else(|| {
            chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .unwrap_or_default()
        });
        let (patient, recording) = plus_identification(opts, opts.start.as_ref());
        h.extend(field(&patient, 80));
        h.extend(field(&recording, 80));
        h.extend(field(&start.format("%d.%m.%y").to_string(), 8));
        h.extend(field(&start.format("%H.%M.%S").to_string(), 8));
        h.extend(field(&(256 * (ns + 1)).to_string(), 8));
        h.extend(field(if self.bdf { "BDF+C" } else { "EDF+C" }, 44));
        h.extend(field(&n_records.to_string(), 8));
        let dur = duration8(self.record_duration).ok_or_else(|| {
            Error::format(
                &self.path,
                "duration of a data record",
                format!("{} s does not fit 8 characters", self.record_duration),
            )
        })?;
        h.extend(field(&dur, 8));
        h.extend(field(&ns.to_string(), 4));
        Ok(h)
    }

    /// Each signal's ten header fields (label, transducer, unit, physical and digital
    /// range, prefiltering, samples per record, reserved), the annotation signal last.
    fn signal_rows(&self) -> Vec<[String; 10]> {
        let (dmin, dmax) = self.digital_limits();
        let (ann_label, bps) = if self.bdf {
            ("BDF Annotations", 3)
        } else {
            ("EDF Annotations", 2)
        };
        let row = |label: &str, unit: &str, pmin: String, pmax: String, n: usize| {
            [
                label.to_string(),
                String::new(),
                unit.to_string(),
                pmin,
                pmax,
                dmin.to_string(),
                dmax.to_string(),
                String::new(),
                n.to_string(),
                String::new(),
            ]
        };
        self.signals
            .iter()
            .map(|s| {
                let (lo, hi) = (exact8(s.range.0, true), exact8(s.range.1, false));
                row(&s.label, &s.unit, lo, hi, s.samples_per_record)
            })
            .chain(std::iter::once(row(
                ann_label,
                "",
                "-1".into(),
                "1".into(),
                self.ann_bytes / bps,
            )))
            .collect()
    }

    /// Data records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }
}

/// `signals` with the labels the header will hold ([`header_labels`]); each label that
/// changes is logged, so a cut that made two labels alike is never silent.
fn with_header_labels(path: &Path, mut signals: Vec<SignalPlan>) -> Vec<SignalPlan> {
    let labels: Vec<String> = signals.iter().map(|s| s.label.clone()).collect();
    let (labels, changed) = header_labels(&labels);
    for (was, now) in changed {
        tracing::warn!(
            "{}: label `{was}` written as `{now}` (an EDF label is 16 ASCII characters, and not an annotation signal's)",
            path.display()
        );
    }
    for (s, l) in signals.iter_mut().zip(labels) {
        s.label = l;
    }
    signals
}

impl Writer for EdfWriter {
    fn write(&mut self, block: &Block) -> Result<()> {
        let chans: Vec<&[f32]> = (0..block.n_channels).map(|c| block.channel(c)).collect();
        self.push(&chans)
    }

    fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let tail = self.write_tail();
        self.seal(tail)
    }

    fn annotate(&mut self, a: Annotation) {
        self.add_annotation(a);
    }
}

impl Drop for EdfWriter {
    fn drop(&mut self) {
        if !self.finished {
            if let Err(e) = self.finish() {
                tracing::error!("{e}");
            }
        }
    }
}

/// EDF+ patient and recording fields: the user's texts kept, in the subfield form EDF+
/// requires (`code sex birthdate name`; `Startdate DD-MMM-YYYY admin technician equipment`,
/// `Startdate X …` when the start is unknown, which readers take as no start).
fn plus_identification(
    opts: &WriteOptions,
    start: Option<&chrono::NaiveDateTime>,
) -> (String, String) {
    let patient = match opts.patient.split_whitespace().count() {
        0 => "X X X X".to_string(),
        n if n >= 4 => opts.patient.clone(),
        _ => format!("X X X {}", opts.patient.trim().replace(' ', "_")),
    };
    let date = start.map_or("X".into(), |t| {
        t.format("%d-%b-%Y").to_string().to_uppercase()
    });
    let recording = match opts.recording.strip_prefix("Startdate ") {
        // Keep the user's subfields; the date is the one this file starts on.
        Some(rest) => {
            let rest = rest.split_once(' ').map_or("X X X", |(_, r)| r);
            format!("Startdate {date} {rest}")
        }
        None => format!("Startdate {date} X X biowave {}", opts.recording.trim()),
    };
    (patient, recording.trim_end().to_string())
}

/// `v` in at most 8 characters: its shortest exact text when that fits, else rounded.
fn exact8(v: f64, round_down: bool) -> String {
    let s = format!("{v}");
    if s.len() <= 8 {
        s
    } else {
        num8(v, round_down)
    }
}

/// A physical range that `num8` can write and that contains `[lo, hi]`, widened when empty.
pub fn writable_range(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (-1.0, 1.0)
    };
    let (lo, hi) = if hi - lo < 1e-9 * lo.abs().max(1.0) {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let parse = |s: String| s.parse::<f64>().unwrap_or(0.0);
    (parse(num8(lo, true)), parse(num8(hi, false)))
}
