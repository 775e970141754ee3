//! Which dataset holds the signals, how its axes map to records, samples and channels,
//! and what its attributes say (rate, labels, units, integer scaling, start time).

use super::h5err;
use crate::io::{Error, OpenOptions, Result};
use rust_hdf5::{DatatypeMessage, H5Dataset, H5File};
use std::path::Path;

/// Most channels a dataset may have (labels and units are allocated per channel).
const MAX_CHANNELS: usize = 65_536;
/// Largest decoded chunk we let the HDF5 layer allocate (real files use KB to a few MB).
const MAX_CHUNK_BYTES: u64 = 256 << 20;
/// deflate cannot compress better than about 1032:1, so no file holds more data than this
/// many times its own size.
const MAX_EXPANSION: u64 = 1100;

/// Refuses shapes and chunk sizes that a file of this size cannot really hold, before the
/// HDF5 layer allocates anything by them (a corrupt header must not cost memory).
fn check_sizes(path: &Path, name: &str, shape: &[usize], chunk: Option<&[usize]>) -> Result<()> {
    let field = || format!("dataset `{name}`");
    let file_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let bytes = shape.iter().try_fold(8u64, |a, &d| a.checked_mul(d as u64));
    if bytes.is_none_or(|b| b > file_len.saturating_mul(MAX_EXPANSION)) {
        return Err(Error::format(
            path,
            field(),
            format!("shape {shape:?} claims more data than a {file_len}-byte file can hold"),
        ));
    }
    if let Some(c) = chunk {
        let bytes = c.iter().try_fold(8u64, |a, &d| a.checked_mul(d as u64));
        if c.len() != shape.len() || c.contains(&0) || bytes.is_none_or(|b| b > MAX_CHUNK_BYTES) {
            return Err(Error::format(
                path,
                format!("{} chunk", field()),
                format!("chunk shape {c:?} for a dataset of shape {shape:?} is not plausible"),
            ));
        }
    }
    Ok(())
}

/// Attribute names read as the sample rate, in order (DESIGN.md).
const RATE_ATTRS: [&str; 3] = ["sample_rate", "fs", "sfreq"];
/// Groups searched below the root for a dataset when none is named.
const MAX_DEPTH: usize = 4;

/// The signal dataset of a file and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Dataset path inside the file.
    pub dataset: String,
    /// Dataset shape as stored.
    pub shape: Vec<usize>,
    /// 2-D stored as channels × samples (`--h5-layout channels-samples`).
    pub channels_first: bool,
    /// Records (1 for a 2-D dataset).
    pub n_records: usize,
    /// Samples per record.
    pub n_samples: usize,
    /// Channels.
    pub n_channels: usize,
    /// Samples per second.
    pub sample_rate: f64,
    /// Channel labels (from `labels`/`leads`, else `ch1…`).
    pub labels: Vec<String>,
    /// Channel units (from `units`/`unit`, else empty).
    pub units: Vec<String>,
    /// Integer datasets: physical = raw · scale + offset (`scale`/`gain`, `offset`).
    pub scale: f64,
    /// See `scale`.
    pub offset: f64,
    /// Integer storage (scale applies) rather than float.
    pub integer: bool,
    /// Stored as little-endian float32: read straight into f32, no conversion.
    pub native_f32: bool,
    /// Start time from a `start` attribute (ISO 8601), if any.
    pub start: Option<chrono::NaiveDateTime>,
    /// Chunk extent along the sample axis (chunked datasets), for chunk-aligned reads.
    pub chunk_frames: Option<usize>,
}

impl Layout {
    /// Finds and describes the signal dataset of an open file.
    pub fn discover(path: &Path, f: &H5File, opts: &OpenOptions) -> Result<Layout> {
        let name = match &opts.h5_dataset {
            Some(n) => n.trim_start_matches('/').to_string(),
            None => find_dataset(path, f)?,
        };
        let ds = f.dataset(&name).map_err(|e| {
            Error::format(path, "dataset", format!("`{name}`: {e} (see --h5-dataset)"))
        })?;
        let shape = ds.shape();
        let dtype = ds.datatype().map_err(|e| h5err(path, &name, e))?;
        let (integer, native_f32) = storage(path, &name, dtype)?;
        let channels_first = channels_first(path, opts)?;
        let (n_records, n_samples, n_channels) = dims(path, &name, &shape, channels_first)?;
        let chunk = ds.chunk_dims();
        check_sizes(path, &name, &shape, chunk.as_deref())?;
        let sample_axis = usize::from(shape.len() == 3 || channels_first);
        let chunk_frames = chunk.as_ref().and_then(|c| c.get(sample_axis).copied());
        if n_channels > MAX_CHANNELS {
            return Err(Error::format(
                path,
                format!("dataset `{name}`"),
                format!("shape {shape:?}: {n_channels} channels, more than {MAX_CHANNELS}"),
            ));
        }
        let sample_rate = rate(path, &ds, f, opts)?;
        let labels = strings(path, &ds, &["labels", "leads", "channels"], n_channels)
            .unwrap_or_else(|| (1..=n_channels).map(|i| format!("ch{i}")).collect());
        let units = strings(path, &ds, &["units", "unit"], n_channels)
            .unwrap_or_else(|| vec![String::new(); n_channels]);
        let num = |names: &[&str]| names.iter().find_map(|n| number(&ds, n));
        let start = ds
            .attr("start")
            .ok()
            .and_then(|a| a.read_string().ok())
            .and_then(|s| s.parse::<chrono::NaiveDateTime>().ok());
        Ok(Layout {
            dataset: name,
            shape,
            channels_first,
            n_records,
            n_samples,
            n_channels,
            sample_rate,
            labels,
            units,
            scale: if integer {
                num(&["scale", "gain"]).unwrap_or(1.0)
            } else {
                1.0
            },
            offset: if integer {
                num(&["offset"]).unwrap_or(0.0)
            } else {
                0.0
            },
            integer,
            native_f32,
            start,
            chunk_frames,
        })
    }
}

/// `(integer, native_f32)` of the dataset's element type: integers are scaled, little-endian
/// float32 is read straight into f32; anything else is not a signal.
fn storage(path: &Path, name: &str, dtype: DatatypeMessage) -> Result<(bool, bool)> {
    let native_f32 = matches!(
        dtype,
        DatatypeMessage::FloatingPoint {
            size: 4,
            byte_order: rust_hdf5::ByteOrder::LittleEndian,
            ..
        }
    );
    match dtype {
        DatatypeMessage::FloatingPoint { .. } => Ok((false, native_f32)),
        DatatypeMessage::FixedPoint { .. } => Ok((true, native_f32)),
        other => Err(Error::format(
            path,
            format!("dataset `{name}`"),
            format!("type {other} is not numeric"),
        )),
    }
}

/// Whether a 2-D dataset is channels × samples (`--h5-layout channels-samples`).
fn channels_first(path: &Path, opts: &OpenOptions) -> Result<bool> {
    match opts.h5_layout.as_deref() {
        None | Some("samples-channels") => Ok(false),
        Some("channels-samples") => Ok(true),
        Some(o) => Err(Error::format(
            path,
            "--h5-layout",
            format!("`{o}`: expected samples-channels or channels-samples"),
        )),
    }
}

/// `(records, samples, channels)` of a 2-D or 3-D shape; refused when it holds no samples.
fn dims(
    path: &Path,
    name: &str,
    shape: &[usize],
    channels_first: bool,
) -> Result<(usize, usize, usize)> {
    let bad = |why: String| Err(Error::format(path, format!("dataset `{name}`"), why));
    let (r, s, c) = match (shape, channels_first) {
        ([s, c], false) => (1, *s, *c),
        ([c, s], true) => (1, *s, *c),
        ([r, s, c], false) => (*r, *s, *c),
        ([_, _, _], true) => {
            return Err(Error::format(
                path,
                "--h5-layout",
                format!(
                    "dataset `{name}` is 3-D (records × samples × channels, shape {shape:?}); \
                     the layout applies to 2-D datasets"
                ),
            ))
        }
        _ => {
            return bad(format!(
                "rank {} (shape {shape:?}): expected 2-D samples × channels or 3-D \
                 records × samples × channels",
                shape.len()
            ))
        }
    };
    if s == 0 || c == 0 || r == 0 {
        return bad(format!("shape {shape:?} holds no samples"));
    }
    Ok((r, s, c))
}

/// The first 2-D or 3-D numeric dataset, searching the root then groups (breadth-first).
fn find_dataset(path: &Path, f: &H5File) -> Result<String> {
    let mut level: Vec<String> = vec![String::new()];
    let mut seen = Vec::new();
    for _ in 0..=MAX_DEPTH {
        let mut next = Vec::new();
        for g in &level {
            let (names, groups) = if g.is_empty() {
                let root = f.root_group();
                (f.dataset_names(), root.group_names().unwrap_or_default())
            } else {
                match f.root_group().group(g) {
                    Ok(grp) => (
                        grp.dataset_names().unwrap_or_default(),
                        grp.group_names().unwrap_or_default(),
                    ),
                    Err(_) => continue,
                }
            };
            for n in names {
                let full = if g.is_empty() { n } else { format!("{g}/{n}") };
                if let Ok(ds) = f.dataset(&full) {
                    let numeric = matches!(
                        ds.datatype(),
                        Ok(DatatypeMessage::FloatingPoint { .. }
                            | DatatypeMessage::FixedPoint { .. })
                    );
                    if numeric && matches!(ds.ndims(), 2 | 3) {
                        return Ok(full);
                    }
                }
                seen.push(full);
            }
            next.extend(
                groups
                    .into_iter()
                    .map(|s| if g.is_empty() { s } else { format!("{g}/{s}") }),
            );
        }
        level = next;
    }
    Err(Error::format(
        path,
        "dataset",
        format!(
            "no 2-D or 3-D numeric dataset found (datasets: {}); name one with --h5-dataset",
            if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            }
        ),
    ))
}

fn number(ds: &H5Dataset, name: &str) -> Option<f64> {
    let a = ds.attr(name).ok()?;
    if let Ok(v) = a.read_numeric_as::<f64>() {
        return v.first().copied();
    }
    if let Ok(v) = a.read_numeric_as::<i64>() {
        return v.first().map(|&x| x as f64);
    }
    a.read_string().ok()?.trim().parse().ok()
}

fn rate(path: &Path, ds: &H5Dataset, f: &H5File, opts: &OpenOptions) -> Result<f64> {
    let found = RATE_ATTRS.iter().find_map(|n| number(ds, n)).or_else(|| {
        RATE_ATTRS
            .iter()
            .find_map(|n| f.attr_string(n).ok()?.trim().parse().ok())
    });
    match (found, opts.sample_rate) {
        (_, Some(fs)) if fs.is_finite() && fs > 0.0 => {
            if let Some(stated) = found.filter(|&s| (s - fs).abs() > 1e-3 * fs) {
                tracing::warn!(
                    "{}: --fs {fs} Hz overrides the file's stated {stated} Hz",
                    path.display()
                );
            }
            Ok(fs)
        }
        (_, Some(fs)) => Err(Error::format(
            path,
            "--fs",
            format!("{fs} is not a positive rate"),
        )),
        (Some(fs), None) if fs.is_finite() && fs > 0.0 => Ok(fs),
        (Some(fs), None) => Err(Error::format(
            path,
            "sample_rate",
            format!("{fs} is not a positive rate"),
        )),
        (None, None) => Err(Error::format(
            path,
            "sample_rate",
            "the dataset has no `sample_rate`, `fs` or `sfreq` attribute; give --fs",
        )),
    }
}

/// A string-array attribute of `n` entries (vlen arrays resolved through the global heap).
fn strings(path: &Path, ds: &H5Dataset, names: &[&str], n: usize) -> Option<Vec<String>> {
    for name in names {
        let Ok(a) = ds.attr(name) else { continue };
        let vlen = matches!(a.datatype(), Ok(DatatypeMessage::VarLenString { .. }));
        let v = if vlen {
            a.read_raw()
                .ok()
                .and_then(|raw| super::heap::vlen_strings(path, &raw).ok())
        } else {
            a.read_string()
                .ok()
                .map(|s| s.split(',').map(|t| t.trim().to_string()).collect())
        };
        match v {
            Some(v) if v.len() == n => return Some(v),
            Some(v) if v.len() == 1 && n > 1 && v[0].contains(',') => {
                return Some(v[0].split(',').map(|t| t.trim().to_string()).collect())
            }
            Some(v) if v.len() == 1 => return Some(vec![v[0].clone(); n]),
            _ => {}
        }
    }
    None
}
