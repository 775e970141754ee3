//! EDF/BDF header: the 256-byte fixed part and 256 bytes per signal, parsed and validated.
//!
//! Every number is checked against the file size before anything is allocated from it.

use super::fields::{ascii, parse_date_time, parse_num, SIGNAL_FIELD_WIDTHS};
use crate::io::{Error, Result};
use chrono::NaiveDateTime;
use std::path::Path;

/// Largest number of signals accepted (EDF stores it in 4 characters).
pub const MAX_SIGNALS: usize = 9999;

/// Storage variant of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// 2 for EDF (16-bit), 3 for BDF (24-bit).
    pub bytes_per_sample: usize,
    /// EDF+/BDF+ (annotation signal, structured identification fields).
    pub plus: bool,
    /// EDF+D/BDF+D: records are not contiguous in time.
    pub discontinuous: bool,
}

impl Variant {
    /// Smallest and largest digital value the sample width can hold.
    pub fn digital_limits(&self) -> (i32, i32) {
        if self.bytes_per_sample == 3 {
            (-8_388_608, 8_388_607)
        } else {
            (-32_768, 32_767)
        }
    }
}

/// Per-signal header fields.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalHeader {
    /// Label (trimmed).
    pub label: String,
    /// Transducer type.
    pub transducer: String,
    /// Physical dimension.
    pub unit: String,
    /// Physical minimum.
    pub physical_min: f64,
    /// Physical maximum.
    pub physical_max: f64,
    /// Digital minimum.
    pub digital_min: i32,
    /// Digital maximum.
    pub digital_max: i32,
    /// Prefiltering.
    pub prefilter: String,
    /// Samples of this signal in each data record.
    pub samples_per_record: usize,
}

impl SignalHeader {
    /// True for the EDF+/BDF+ annotation signal.
    pub fn is_annotation(&self, variant: Variant) -> bool {
        variant.plus && (self.label == "EDF Annotations" || self.label == "BDF Annotations")
    }

    /// `(gain, offset)` with physical = digital · gain + offset.
    pub fn scaling(&self) -> (f64, f64) {
        let dd = f64::from(self.digital_max) - f64::from(self.digital_min);
        let gain = if dd == 0.0 {
            1.0
        } else {
            (self.physical_max - self.physical_min) / dd
        };
        (gain, self.physical_min - f64::from(self.digital_min) * gain)
    }
}

/// A parsed and validated header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// EDF or BDF, plus or not, continuous or not.
    pub variant: Variant,
    /// Local patient identification.
    pub patient: String,
    /// Local recording identification.
    pub recording: String,
    /// Start date and time (4-digit year from EDF+ `Startdate` when present).
    pub start: Option<NaiveDateTime>,
    /// Bytes in the header (256 · (signals + 1)).
    pub header_bytes: u64,
    /// Data records the file holds (whole records; from the file size when stated as -1).
    pub n_records: u64,
    /// Seconds per data record.
    pub record_duration: f64,
    /// Signals, including the annotation signal.
    pub signals: Vec<SignalHeader>,
}

impl Header {
    /// Bytes of one data record.
    pub fn record_bytes(&self) -> u64 {
        let samples: usize = self.signals.iter().map(|s| s.samples_per_record).sum();
        (samples * self.variant.bytes_per_sample) as u64
    }

    /// Byte offset of signal `i` inside a data record.
    pub fn signal_offset(&self, i: usize) -> usize {
        let samples: usize = self.signals[..i].iter().map(|s| s.samples_per_record).sum();
        samples * self.variant.bytes_per_sample
    }

    /// Indices of the annotation signals, in file order. EDF+ allows several (writers add
    /// more when annotations outnumber records); the first one's first TAL keeps time.
    pub fn annotation_signals(&self) -> Vec<usize> {
        (0..self.signals.len())
            .filter(|&i| self.signals[i].is_annotation(self.variant))
            .collect()
    }

    /// Parses the header at the start of `bytes` (which holds the whole header) for a
    /// file of `file_len` bytes.
    pub fn parse(path: &Path, bytes: &[u8], file_len: u64) -> Result<Header> {
        let fixed = parse_fixed(path, bytes, file_len)?;
        let ns = fixed.n_signals;
        let need = 256 * (ns + 1);
        if bytes.len() < need {
            return Err(Error::format(
                path,
                "header",
                format!(
                    "file ends inside the header ({} of {need} bytes)",
                    bytes.len()
                ),
            ));
        }
        let signals = parse_signals(path, &bytes[256..need], ns, fixed.variant)?;
        let mut h = Header {
            variant: fixed.variant,
            patient: fixed.patient,
            recording: fixed.recording,
            start: fixed.start,
            header_bytes: need as u64,
            n_records: 0,
            record_duration: fixed.record_duration,
            signals,
        };
        h.n_records = h.whole_records(path, fixed.stated_records, file_len)?;
        h.check_duration(path)?;
        Ok(h)
    }

    fn whole_records(&self, path: &Path, stated: i64, file_len: u64) -> Result<u64> {
        let rb = self.record_bytes();
        if rb == 0 {
            return Err(Error::format(
                path,
                "samples per record",
                "every signal has 0 samples per data record",
            ));
        }
        let available = file_len.saturating_sub(self.header_bytes) / rb;
        if stated < 0 {
            if stated != -1 {
                return Err(Error::format(
                    path,
                    "number of data records",
                    format!("{stated} (only -1 may be negative)"),
                ));
            }
            tracing::warn!("{}: record count -1 (file still being written or cut off); reading {available} whole records", path.display());
            return Ok(available);
        }
        let stated = stated as u64;
        if stated == 0 {
            return Err(Error::format(
                path,
                "number of data records",
                "the header states 0 data records: the file holds no samples",
            ));
        }
        if stated > available {
            return Err(Error::format(
                path,
                "number of data records",
                format!(
                    "the header states {stated} data records but the file holds {available} \
                     whole records: the file is truncated"
                ),
            ));
        }
        Ok(stated)
    }

    fn check_duration(&self, path: &Path) -> Result<()> {
        let data = self.signals.iter().any(|s| !s.is_annotation(self.variant));
        if !(self.record_duration.is_finite() && self.record_duration >= 0.0)
            || (data && self.record_duration == 0.0)
        {
            return Err(Error::format(
                path,
                "duration of a data record",
                format!("{} s is not a positive duration", self.record_duration),
            ));
        }
        Ok(())
    }
}

struct Fixed {
    variant: Variant,
    patient: String,
    recording: String,
    start: Option<NaiveDateTime>,
    stated_records: i64,
    record_duration: f64,
    n_signals: usize,
}

/// The fixed 256-byte part: version, identification, start, sizes; the signal count and
/// header size are checked against each other and the file before anything is allocated.
fn parse_fixed(path: &Path, b: &[u8], file_len: u64) -> Result<Fixed> {
    if b.len() < 256 {
        return Err(Error::format(
            path,
            "header",
            format!(
                "file is {} bytes, shorter than the 256-byte EDF header",
                b.len()
            ),
        ));
    }
    let variant = parse_variant(path, b)?;
    let patient = ascii(&b[8..88]);
    let recording = ascii(&b[88..168]);
    let start = parse_date_time(
        path,
        &ascii(&b[168..176]),
        &ascii(&b[176..184]),
        variant.plus.then_some(recording.as_str()),
    )?;
    let header_bytes: u64 = parse_num(path, "number of bytes in header record", &b[184..192])?;
    let stated_records: i64 = parse_num(path, "number of data records", &b[236..244])?;
    let record_duration: f64 = parse_num(path, "duration of a data record", &b[244..252])?;
    let n_signals: usize = parse_num(path, "number of signals", &b[252..256])?;
    check_sizes(path, header_bytes, n_signals, file_len)?;
    Ok(Fixed {
        variant,
        patient,
        recording,
        start,
        stated_records,
        record_duration,
        n_signals,
    })
}

/// EDF or BDF from the version field, EDF+/BDF+ (continuous or not) from the reserved one.
fn parse_variant(path: &Path, b: &[u8]) -> Result<Variant> {
    let bytes_per_sample = match &b[0..8] {
        b"0       " => 2,
        b"\xffBIOSEMI" => 3,
        _ => {
            return Err(Error::format(
                path,
                "version",
                "not `0` (EDF) or `\\xffBIOSEMI` (BDF)",
            ))
        }
    };
    let reserved = ascii(&b[192..236]);
    let plus = reserved.starts_with("EDF+") || reserved.starts_with("BDF+");
    Ok(Variant {
        bytes_per_sample,
        plus,
        discontinuous: plus && reserved[4..].starts_with('D'),
    })
}

/// The signal count within [`MAX_SIGNALS`], the header size it implies, and a file long
/// enough to hold that header.
fn check_sizes(path: &Path, header_bytes: u64, n_signals: usize, file_len: u64) -> Result<()> {
    if n_signals > MAX_SIGNALS {
        return Err(Error::format(
            path,
            "number of signals",
            format!("{n_signals} is more than {MAX_SIGNALS}"),
        ));
    }
    if header_bytes != 256 * (n_signals as u64 + 1) {
        return Err(Error::format(
            path,
            "number of bytes in header record",
            format!(
                "{header_bytes}, but {n_signals} signals need {}",
                256 * (n_signals + 1)
            ),
        ));
    }
    if header_bytes > file_len {
        return Err(Error::format(
            path,
            "header",
            format!("header of {header_bytes} bytes is longer than the file ({file_len} bytes)"),
        ));
    }
    Ok(())
}

fn parse_signals(path: &Path, b: &[u8], ns: usize, variant: Variant) -> Result<Vec<SignalHeader>> {
    // Fields are stored field by field: ns labels, then ns transducers, and so on.
    let widths = SIGNAL_FIELD_WIDTHS;
    let mut starts = [0usize; 10];
    for k in 1..10 {
        starts[k] = starts[k - 1] + widths[k - 1] * ns;
    }
    let field = |k: usize, i: usize| &b[starts[k] + i * widths[k]..starts[k] + (i + 1) * widths[k]];
    let (lo, hi) = variant.digital_limits();
    (0..ns)
        .map(|i| {
            let label = ascii(field(0, i));
            let name = |f: &str| format!("signal {} ({label}) {f}", i + 1);
            let s = SignalHeader {
                transducer: ascii(field(1, i)),
                unit: ascii(field(2, i)),
                physical_min: parse_num(path, &name("physical minimum"), field(3, i))?,
                physical_max: parse_num(path, &name("physical maximum"), field(4, i))?,
                digital_min: parse_num(path, &name("digital minimum"), field(5, i))?,
                digital_max: parse_num(path, &name("digital maximum"), field(6, i))?,
                prefilter: ascii(field(7, i)),
                samples_per_record: parse_num(
                    path,
                    &name("number of samples in each data record"),
                    field(8, i),
                )?,
                label: label.clone(),
            };
            if !s.is_annotation(variant) {
                check_signal(path, &s, &name, lo, hi)?;
            } else if s.samples_per_record > 100_000_000 {
                return Err(Error::format(
                    path,
                    name("number of samples in each data record"),
                    "implausibly large",
                ));
            }
            Ok(s)
        })
        .collect()
}

fn check_signal(
    path: &Path,
    s: &SignalHeader,
    name: &dyn Fn(&str) -> String,
    lo: i32,
    hi: i32,
) -> Result<()> {
    if s.digital_min >= s.digital_max {
        return Err(Error::format(
            path,
            name("digital minimum"),
            format!(
                "{} is not below the digital maximum {}",
                s.digital_min, s.digital_max
            ),
        ));
    }
    if s.digital_min < lo || s.digital_max > hi {
        return Err(Error::format(
            path,
            name("digital range"),
            format!(
                "[{}, {}] does not fit {}..{}",
                s.digital_min, s.digital_max, lo, hi
            ),
        ));
    }
    if !(s.physical_min.is_finite() && s.physical_max.is_finite())
        || s.physical_min == s.physical_max
    {
        return Err(Error::format(
            path,
            name("physical range"),
            format!(
                "[{}, {}] is empty or not finite",
                s.physical_min, s.physical_max
            ),
        ));
    }
    if s.samples_per_record > 100_000_000 {
        return Err(Error::format(
            path,
            name("number of samples in each data record"),
            format!("{} is implausibly large", s.samples_per_record),
        ));
    }
    Ok(())
}
