//! Labels of written records, the ground truth a detector benchmark or a monitor under test
//! is scored against: every event the generator put into the signal (ECG R peaks `N`/`V`,
//! EEG spindles, K-complexes, blinks) in a CSV beside the record and, where the format holds
//! them (EDF+/BDF+), as annotations in the record itself. Used by bulk `generate` and by
//! `stream`'s file sink, whose rolled files each get their own CSV.

use crate::block::Event;
use crate::io::Writer;
use crate::record::Annotation;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes a record's events as they are produced: `time_s,sample,duration_s,label` rows
/// (onset from the record's first frame, its nearest sample, seconds it lasts or 0, label)
/// and, through the record's writer, annotations.
pub struct EventLog {
    path: PathBuf,
    out: BufWriter<File>,
    sample_rate: f64,
    counts: BTreeMap<&'static str, u64>,
}

/// The events CSV's columns: onset in seconds from the record's first frame, its nearest
/// sample, seconds it lasts (0 for an instant), label.
pub const COLUMNS: [&str; 4] = ["time_s", "sample", "duration_s", "label"];

impl EventLog {
    /// Creates the CSV at `path` (header row first) for a record sampled at `sample_rate`.
    pub fn create(path: &Path, sample_rate: f64) -> Result<Self> {
        let file = File::create(path).map_err(|e| io_error(path, e))?;
        let mut log = EventLog {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            sample_rate,
            counts: BTreeMap::new(),
        };
        log.line(format_args!("{}\n", COLUMNS.join(",")))?;
        Ok(log)
    }

    /// The CSV's file name (`NAME.events.csv` beside `NAME.edf`).
    pub fn file_name(record_file: &str) -> String {
        format!("{}.events.csv", stem(record_file))
    }

    /// The CSV's path beside the record file at `record` ([`EventLog::file_name`]).
    pub fn beside(record: &std::path::Path) -> std::path::PathBuf {
        let name = record.file_name().unwrap_or_default().to_string_lossy();
        record.with_file_name(Self::file_name(&name))
    }

    /// Logs a block's events and annotates `writer` with them, onsets counted from
    /// `origin` seconds into the stream (the record's first frame); call before writing the
    /// block, so the record that holds each onset carries its label.
    pub fn take(&mut self, events: &[Event], origin: f64, writer: &mut dyn Writer) -> Result<()> {
        for e in events {
            let a = e.to_annotation(origin);
            let sample = (a.onset * self.sample_rate).round() as u64;
            let (t, d, label) = (a.onset, e.duration, e.label);
            self.line(format_args!("{t:.6},{sample},{d:.6},{label}\n"))?;
            writer.annotate(a);
            *self.counts.entry(e.label).or_default() += 1;
        }
        Ok(())
    }

    /// Hands the rows logged so far to the file, so a process killed later leaves them
    /// readable (a stream calls it after each block that had events).
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| io_error(&self.path, e))
    }

    /// Flushes the CSV; returns how many events of each label it holds.
    pub fn finish(mut self) -> Result<BTreeMap<&'static str, u64>> {
        self.flush()?;
        Ok(self.counts)
    }

    fn line(&mut self, args: std::fmt::Arguments) -> Result<()> {
        self.out
            .write_fmt(args)
            .map_err(|e| io_error(&self.path, e))
    }
}

/// Writes a record's annotations as an events CSV (the columns [`EventLog`] writes; a text
/// with commas or quotes is quoted): what `convert` keeps of them beside a CSV record,
/// which holds none itself.
pub fn write_annotations(path: &Path, annotations: &[Annotation], sample_rate: f64) -> Result<()> {
    let csv_error = |e: csv::Error| io_error(path, e.into());
    let mut w = csv::Writer::from_path(path).map_err(csv_error)?;
    w.write_record(COLUMNS).map_err(csv_error)?;
    for a in annotations {
        let sample = (a.onset * sample_rate).round().max(0.0) as u64;
        let (t, d) = (
            format!("{:.6}", a.onset),
            format!("{:.6}", a.duration.unwrap_or(0.0)),
        );
        w.write_record([t, sample.to_string(), d, a.text.clone()])
            .map_err(csv_error)?;
    }
    w.flush().map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::os(format!("writing {}", path.display()), e)
}

/// `file` without its last extension (`run` of `run.edf`; the whole name if it has none):
/// the name files written beside a record share.
pub fn stem(file: &str) -> &str {
    file.rsplit_once('.').map_or(file, |(stem, _)| stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_sits_beside_the_record() {
        assert_eq!(
            EventLog::file_name("ecgsyn-000003.edf"),
            "ecgsyn-000003.events.csv"
        );
        assert_eq!(EventLog::file_name("x"), "x.events.csv");
    }
}
