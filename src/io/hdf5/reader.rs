//! HDF5 reader: layout on open, hyperslabs of the selected samples decoded on `read`.

use super::layout::Layout;
use super::slab::{self, Decoded};
use crate::io::{Error, OpenOptions, Reader, Result, Selection};
use crate::record::{
    Annotation, Channel, ChannelInfo, ChannelMeta, Record, RecordInfo, RecordMeta,
};
use rust_hdf5::H5File;
use std::path::{Path, PathBuf};

/// An opened HDF5 recording (one record of a 3-D dataset). The layout and attributes are
/// read on open; `read` opens its own handles (one per reader thread) for the samples.
pub struct H5Reader {
    path: PathBuf,
    layout: Layout,
    record: usize,
    info: RecordInfo,
}

impl H5Reader {
    /// Opens `path`, finds the signal dataset and reads its attributes.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self> {
        let file = H5File::open(path).map_err(|e| {
            let why = e.to_string();
            let what = match why.contains("unable to lock file") {
                // HDF5 files are locked while a writer has them open (a running stream's).
                true => format!(
                    "is open for writing in another process (a running stream's file): read \
                     it once that has finished ({why})"
                ),
                false => format!("cannot be read as HDF5: {why}"),
            };
            Error::format(path, "HDF5 file", what)
        })?;
        let layout = Layout::discover(path, &file, opts)?;
        let record = opts.h5_record.unwrap_or(0);
        if record >= layout.n_records {
            return Err(Error::format(
                path,
                "--h5-record",
                format!(
                    "record {record} of {} (records count from 0)",
                    layout.n_records
                ),
            ));
        }
        let info = info(&layout, annotations(&file, path));
        Ok(H5Reader {
            path: path.to_path_buf(),
            layout,
            record,
            info,
        })
    }

    /// The dataset layout found on open.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Samples `[first, last)` of the picked channels, channel-major, scaled, with each
    /// channel's (min, max); a NaN or ±∞ sample is an error naming its position.
    fn decode(&self, first: usize, last: usize, picks: &[usize]) -> Result<Decoded> {
        let l = &self.layout;
        let req = slab::Request {
            path: &self.path,
            layout: l,
            record: self.record,
            first,
            last,
            picks,
        };
        let (out, range) = slab::decode(&req)?;
        if range.iter().any(|r| !(r.0.is_finite() && r.1.is_finite())) {
            if let Some((c, i)) = slab::first_non_finite(&out) {
                return Err(Error::format(
                    &self.path,
                    format!("dataset `{}`", l.dataset),
                    format!(
                        "channel {} (`{}`) sample {} is {}",
                        picks[c] + 1,
                        l.labels[picks[c]],
                        first + i,
                        out[c][i]
                    ),
                ));
            }
        }
        Ok((out, range))
    }
}

fn info(l: &Layout, annotations: Vec<Annotation>) -> RecordInfo {
    let channels = (0..l.n_channels)
        .map(|c| ChannelInfo {
            meta: ChannelMeta::new(l.labels[c].clone(), l.units[c].clone(), l.sample_rate),
            n_samples: l.n_samples as u64,
        })
        .collect();
    let recording = if l.n_records > 1 {
        format!(
            "{} records in `{}` (--h5-record N picks one)",
            l.n_records, l.dataset
        )
    } else {
        format!("dataset `{}`", l.dataset)
    };
    let meta = RecordMeta {
        recording,
        start: l.start,
        annotations,
        ..RecordMeta::default()
    };
    RecordInfo { meta, channels }
}

/// Annotations biowave wrote: `/annotations/{onset,duration,text}` (duration NaN = none).
/// A group that is there but cannot be read whole (lengths that differ, another type),
/// and annotations without a finite onset, are left out with a warning naming `path`.
fn annotations(f: &H5File, path: &Path) -> Vec<Annotation> {
    if f.root_group().group("annotations").is_err() {
        return Vec::new();
    }
    let read = || -> Option<Vec<Annotation>> {
        let numbers = |name| f.dataset(name).ok()?.read_numeric_as::<f64>().ok();
        let onset = numbers("annotations/onset")?;
        let dur = numbers("annotations/duration")?;
        let text = f.dataset("annotations/text").ok()?.read_strings().ok()?;
        (onset.len() == dur.len() && dur.len() == text.len()).then(|| {
            onset
                .into_iter()
                .zip(dur)
                .zip(text)
                .map(|((onset, d), text)| Annotation {
                    onset,
                    duration: d.is_finite().then_some(d),
                    text,
                })
                .collect()
        })
    };
    let Some(mut all) = read() else {
        tracing::warn!(
            "{}: /annotations left out: not onset, duration and text of one length",
            path.display()
        );
        return Vec::new();
    };
    let n = all.len();
    all.retain(|a| a.onset.is_finite());
    if all.len() < n {
        tracing::warn!(
            "{}: {} annotations without a finite onset left out",
            path.display(),
            n - all.len()
        );
    }
    all
}

impl Reader for H5Reader {
    fn info(&self) -> &RecordInfo {
        &self.info
    }

    fn records(&self) -> usize {
        self.layout.n_records
    }

    fn read(&mut self, sel: &Selection) -> Result<Record> {
        let picks = sel.resolve(&self.info, &self.path)?;
        let (first, last) = sel.sample_range(self.layout.sample_rate, self.layout.n_samples as u64);
        let (data, ranges) = self.decode(first as usize, last as usize, &picks)?;
        let channels = picks
            .iter()
            .zip(data)
            .zip(ranges)
            .map(|((&c, samples), (lo, hi))| {
                let mut meta = self.info.channels[c].meta.clone();
                if lo <= hi {
                    (meta.physical_min, meta.physical_max) = (f64::from(lo), f64::from(hi));
                }
                Channel { meta, samples }
            })
            .collect();
        let mut meta = self.info.meta.clone();
        sel.clip_meta(&mut meta);
        Ok(Record { meta, channels })
    }
}
