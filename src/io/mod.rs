//! Reading and writing recordings: format detection and dispatch.
//!
//! A format module parses the header first ([`Reader::info`]) and decodes samples only
//! when asked ([`Reader::read`]), for the channels and time range asked, so a multi-GB
//! file never has to fit in memory. Writers stream block by block ([`Writer`]).

pub mod csv;
pub mod edf;
mod error;
pub mod hdf5;
mod select;

pub use error::Error;
pub use select::Selection;

use crate::block::Block;
use crate::record::{Annotation, Record, RecordInfo, SignalSpec};
use std::path::Path;

/// Result of the io layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// File formats biowave reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// European Data Format, 16-bit (EDF, EDF+C, EDF+D).
    Edf,
    /// BioSemi Data Format, 24-bit (BDF, BDF+).
    Bdf,
    /// HDF5 dataset(s).
    Hdf5,
    /// Comma-separated values with a time column.
    Csv,
}

impl Format {
    /// Format named by a file extension (`edf`, `bdf`, `h5`/`hdf5`, `csv`), case-insensitive.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "edf" | "rec" => Some(Format::Edf),
            "bdf" => Some(Format::Bdf),
            "h5" | "hdf5" | "hdf" => Some(Format::Hdf5),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// Format recognised from a file's first bytes, if its magic is distinctive.
    pub fn from_magic(head: &[u8]) -> Option<Format> {
        if head.starts_with(b"\x89HDF\r\n\x1a\n") {
            Some(Format::Hdf5)
        } else if head.starts_with(b"\xffBIOSEMI") {
            Some(Format::Bdf)
        } else if head.starts_with(b"0       ") {
            Some(Format::Edf)
        } else {
            None
        }
    }

    /// Detects the format of an existing file: magic bytes first, then the extension. A
    /// FIFO, socket or device is refused before it is opened (opening a FIFO with no
    /// writer would wait for ever; readers seek).
    pub fn detect(path: &Path) -> Result<Format> {
        use std::io::Read;
        let meta = std::fs::metadata(path).map_err(|e| Error::open(path, e))?;
        if !meta.is_file() && !meta.is_dir() {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: "reading a pipe or device (not a regular file)".into(),
            });
        }
        let mut head = [0u8; 8];
        let mut f = std::fs::File::open(path).map_err(|e| Error::open(path, e))?;
        let n = f.read(&mut head).map_err(|e| Error::open(path, e))?;
        Format::from_magic(&head[..n])
            .or_else(|| Format::from_extension(path))
            .ok_or_else(|| Error::UnknownFormat(path.to_path_buf()))
    }
}

/// An opened recording: header parsed, samples decoded on demand.
pub trait Reader {
    /// Everything but the samples: channels, rates, ranges, start, annotations.
    fn info(&self) -> &RecordInfo;
    /// Decodes the selected channels over the selected time range into a [`Record`].
    fn read(&mut self, selection: &Selection) -> Result<Record>;
    /// How many records the file holds (a 3-D HDF5 dataset's first axis; else 1); `read`
    /// reads the one the open options chose.
    fn records(&self) -> usize {
        1
    }
}

/// A streaming writer: blocks in, a valid file after [`Writer::finish`].
pub trait Writer: Send {
    /// Appends one block (all channels, consecutive frames).
    fn write(&mut self, block: &Block) -> Result<()>;
    /// Flushes, fixes headers and closes. Idempotent.
    fn finish(&mut self) -> Result<()>;
    /// Marks an event (onset in seconds from the first sample) in the records written next,
    /// where the format holds annotations (EDF+/BDF+); the others let it pass.
    fn annotate(&mut self, _a: Annotation) {}
}

/// Options for writing, shared by all formats (formats ignore what they cannot hold).
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Patient identification to store (EDF).
    pub patient: String,
    /// Recording identification to store (EDF).
    pub recording: String,
    /// Start date and time to store.
    pub start: Option<chrono::NaiveDateTime>,
    /// Compress where the format can (HDF5 gzip level 1-9).
    pub compression: Option<u8>,
    /// HDF5: when the file is closed and reopened, so that a killed writer leaves it
    /// readable up to then.
    pub checkpoints: Checkpoints,
}

/// When an HDF5 writer closes and reopens its file (what a kill -9 leaves readable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checkpoints {
    /// After each minute of signal: where depends on the data alone, so the same data
    /// gives the same bytes however long writing takes (bulk `generate`, `convert`).
    #[default]
    EachMinute,
    /// About once a second, of signal and of wall-clock time both: little lost to a kill,
    /// a `--fast` stream not slowed (stream file sinks).
    EachSecond,
}

/// How to interpret inputs whose files do not say everything (HDF5, CSV).
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Sample rate of an HDF5 or CSV file (`--fs`): assumed where it states none, and
    /// overriding (with a warning) one it states.
    pub sample_rate: Option<f64>,
    /// HDF5 dataset path (`--h5-dataset`); default: found automatically.
    pub h5_dataset: Option<String>,
    /// HDF5 axis order of 2-D datasets (`--h5-layout`): `samples-channels` (default) or
    /// `channels-samples`.
    pub h5_layout: Option<String>,
    /// Which record of a 3-D (records × samples × channels) dataset (`--h5-record`, from 0).
    pub h5_record: Option<usize>,
}

/// The stream spec of a record whose channels share one rate (HDF5 and CSV hold one rate);
/// `what` names the format in the error.
pub(crate) fn one_rate_spec(record: &Record, path: &Path, what: &str) -> Result<SignalSpec> {
    let first = record
        .channels
        .first()
        .ok_or_else(|| Error::format(path, "signals", "the record has no channels to write"))?;
    let rate = first.meta.sample_rate;
    if record.channels.iter().any(|c| c.meta.sample_rate != rate) {
        return Err(Error::format(
            path,
            "sample rate",
            format!("{what} holds one sample rate; resample the channels first"),
        ));
    }
    let channels = record
        .channels
        .iter()
        .map(|c| crate::record::ChannelSpec {
            label: c.meta.label.clone(),
            unit: c.meta.unit.clone(),
            range: (c.meta.physical_min, c.meta.physical_max),
        })
        .collect();
    Ok(SignalSpec {
        sample_rate: rate,
        channels,
    })
}

/// Opens a recording, choosing the format from its magic bytes or extension.
pub fn open(path: &Path) -> Result<Box<dyn Reader>> {
    open_with(path, &OpenOptions::default())
}

/// Opens a recording with options for formats that need them.
pub fn open_with(path: &Path, opts: &OpenOptions) -> Result<Box<dyn Reader>> {
    let format = Format::detect(path)?;
    options_fit(path, format, opts)?;
    Ok(match format {
        Format::Edf | Format::Bdf => Box::new(edf::EdfReader::open(path)?),
        Format::Hdf5 => Box::new(hdf5::H5Reader::open(path, opts)?),
        Format::Csv => Box::new(csv::CsvReader::open(path, opts)?),
    })
}

/// Refuses reading options the format does not take (they would be ignored): `--fs` on
/// EDF/BDF, whose header states each channel's rate, and the `--h5-*` options on others.
fn options_fit(path: &Path, format: Format, opts: &OpenOptions) -> Result<()> {
    let edf = matches!(format, Format::Edf | Format::Bdf);
    if edf && opts.sample_rate.is_some() {
        return Err(Error::format(
            path,
            "--fs",
            "an EDF/BDF header states each channel's rate; --fs labels HDF5 and CSV inputs \
             (to resample, convert --resample)",
        ));
    }
    let h5 = [
        ("--h5-dataset", opts.h5_dataset.is_some()),
        ("--h5-layout", opts.h5_layout.is_some()),
        ("--h5-record", opts.h5_record.is_some()),
    ];
    match h5.iter().find(|(_, on)| *on) {
        Some((flag, _)) if format != Format::Hdf5 => {
            Err(Error::format(path, *flag, "applies to HDF5 inputs only"))
        }
        _ => Ok(()),
    }
}

/// Reads a whole recording.
pub fn read(path: &Path) -> Result<Record> {
    open(path)?.read(&Selection::all())
}

/// Every record a file holds, each whole and named: the file itself, or each record of a
/// 3-D HDF5 dataset as `FILE[k]` (a CODE-style dataset of many tracings), so that a data
/// set given as files takes all of each (`eval`, `train`).
pub fn read_each(path: &Path) -> Result<Vec<(String, Record)>> {
    let mut first = open(path)?;
    let name = path.display().to_string();
    let n = first.records();
    let mut out = vec![(
        if n > 1 {
            format!("{name}[0]")
        } else {
            name.clone()
        },
        first.read(&Selection::all())?,
    )];
    drop(first);
    for k in 1..n {
        let opts = OpenOptions {
            h5_record: Some(k),
            ..OpenOptions::default()
        };
        out.push((
            format!("{name}[{k}]"),
            open_with(path, &opts)?.read(&Selection::all())?,
        ));
    }
    if n > 1 {
        tracing::info!("{name}: its {n} records each taken");
    }
    Ok(out)
}

/// Writes a whole recording in the format its extension names.
pub fn save(record: &Record, path: &Path) -> Result<()> {
    save_with(record, path, &WriteOptions::default())
}

/// Writes a whole recording with options.
pub fn save_with(record: &Record, path: &Path, opts: &WriteOptions) -> Result<()> {
    match Format::from_extension(path).ok_or_else(|| Error::UnknownFormat(path.to_path_buf()))? {
        Format::Edf | Format::Bdf => edf::save(record, path, opts),
        Format::Hdf5 => hdf5::save(record, path, opts),
        Format::Csv => csv::save(record, path),
    }
}

/// Creates a streaming writer for `spec` in the format `path`'s extension names.
pub fn create(path: &Path, spec: &SignalSpec, opts: &WriteOptions) -> Result<Box<dyn Writer>> {
    match Format::from_extension(path).ok_or_else(|| Error::UnknownFormat(path.to_path_buf()))? {
        Format::Edf | Format::Bdf => Ok(Box::new(edf::create(path, spec, opts)?)),
        Format::Hdf5 => Ok(Box::new(hdf5::H5Writer::create(path, spec, opts)?)),
        Format::Csv => Ok(Box::new(csv::CsvWriter::create(path, spec)?)),
    }
}
