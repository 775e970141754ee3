//! Per-beat labels of generated ECG, the ground truth a QRS or arrhythmia benchmark scores
//! against: every R peak's time and type, in a CSV beside the record and, where the format
//! holds them (EDF+/BDF+), as annotations in the record itself.

use crate::block::Event;
use crate::io::Writer;
use crate::model::physio::BeatKind;
use crate::record::Annotation;
use crate::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// How many beats of each type a record holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BeatCounts {
    /// Normal beats (`N`).
    pub normal: u64,
    /// Premature ventricular beats (`V`).
    pub pvc: u64,
}

impl BeatCounts {
    /// All beats.
    pub fn total(&self) -> u64 {
        self.normal + self.pvc
    }
}

/// Writes a record's beats as they are produced: `time_s,sample,type` rows (the model's R
/// time, its nearest sample, the code) and, through the record's writer, annotations.
pub struct BeatLog {
    path: PathBuf,
    out: BufWriter<File>,
    sample_rate: f64,
    counts: BeatCounts,
}

impl BeatLog {
    /// Creates the CSV at `path` (header row first) for a record sampled at `sample_rate`.
    pub fn create(path: &Path, sample_rate: f64) -> Result<Self> {
        let file = File::create(path).map_err(|e| io_error(path, e))?;
        let mut log = BeatLog {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            sample_rate,
            counts: BeatCounts::default(),
        };
        log.line(format_args!("time_s,sample,type\n"))?;
        Ok(log)
    }

    /// The CSV's file name (`NAME.beats.csv` beside `NAME.edf`).
    pub fn file_name(record_file: &str) -> String {
        let stem = record_file
            .rsplit_once('.')
            .map_or(record_file, |(stem, _)| stem);
        format!("{stem}.beats.csv")
    }

    /// Logs a block's beat events and annotates `writer` with them; call before writing
    /// the block, so the record that holds each R peak carries its label.
    pub fn take(&mut self, beats: &[Event], writer: &mut dyn Writer) -> Result<()> {
        for b in beats {
            let sample = (b.time * self.sample_rate).round() as u64;
            self.line(format_args!("{:.6},{sample},{}\n", b.time, b.label))?;
            writer.annotate(Annotation {
                onset: b.time,
                duration: None,
                text: b.label.to_string(),
            });
            if b.label == BeatKind::Pvc.code() {
                self.counts.pvc += 1;
            } else {
                self.counts.normal += 1;
            }
        }
        Ok(())
    }

    /// Flushes the CSV; returns the counts.
    pub fn finish(mut self) -> Result<BeatCounts> {
        self.out.flush().map_err(|e| io_error(&self.path, e))?;
        Ok(self.counts)
    }

    fn line(&mut self, args: std::fmt::Arguments) -> Result<()> {
        self.out
            .write_fmt(args)
            .map_err(|e| io_error(&self.path, e))
    }
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::os(format!("writing {}", path.display()), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_sits_beside_the_record() {
        assert_eq!(
            BeatLog::file_name("ecgsyn-000003.edf"),
            "ecgsyn-000003.beats.csv"
        );
        assert_eq!(BeatLog::file_name("x"), "x.beats.csv");
    }
}
