//! HDF5 reader: layout on open, hyperslabs of the selected samples decoded on `read`.

use super::{h5err, layout::Layout};
use crate::io::{Error, OpenOptions, Reader, Result, Selection};
use crate::record::{
    Annotation, Channel, ChannelInfo, ChannelMeta, Record, RecordInfo, RecordMeta,
};
use rust_hdf5::H5File;
use std::path::{Path, PathBuf};

/// Samples per hyperslab read: bounds memory for long datasets.
const CHUNK_FRAMES: usize = 1 << 16;

/// An opened HDF5 recording (one record of a 3-D dataset).
pub struct H5Reader {
    path: PathBuf,
    file: H5File,
    layout: Layout,
    record: usize,
    info: RecordInfo,
}

impl H5Reader {
    /// Opens `path`, finds the signal dataset and reads its attributes.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self> {
        let file = H5File::open(path).map_err(|e| {
            Error::format(path, "HDF5 file", format!("cannot be read as HDF5: {e}"))
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
        let info = info(&layout, annotations(&file));
        Ok(H5Reader {
            path: path.to_path_buf(),
            file,
            layout,
            record,
            info,
        })
    }

    /// The dataset layout found on open.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Samples `[first, last)` of every channel, channel-major, scaled.
    fn decode(&self, first: usize, last: usize, picks: &[usize]) -> Result<Vec<Vec<f32>>> {
        let l = &self.layout;
        let ds = self
            .file
            .dataset(&l.dataset)
            .map_err(|e| h5err(&self.path, &l.dataset, e))?;
        let mut out: Vec<Vec<f32>> = picks
            .iter()
            .map(|_| Vec::with_capacity(last - first))
            .collect();
        let mut s = first;
        while s < last {
            let n = CHUNK_FRAMES.min(last - s);
            let (starts, counts) = match (l.shape.len(), l.channels_first) {
                (3, _) => (vec![self.record, s, 0], vec![1, n, l.n_channels]),
                (_, false) => (vec![s, 0], vec![n, l.n_channels]),
                (_, true) => (vec![0, s], vec![l.n_channels, n]),
            };
            let field = || format!("dataset `{}`", l.dataset);
            let raw: Vec<f64> = if l.integer {
                let v = ds.read_numeric_slice_as::<i64>(&starts, &counts);
                v.map(|v| v.into_iter().map(|x| x as f64).collect())
            } else {
                ds.read_numeric_slice_as::<f64>(&starts, &counts)
            }
            .map_err(|e| h5err(&self.path, &field(), e))?;
            for (o, &c) in out.iter_mut().zip(picks) {
                for i in 0..n {
                    let v = if l.channels_first {
                        raw[c * n + i]
                    } else {
                        raw[i * l.n_channels + c]
                    };
                    let x = v * l.scale + l.offset;
                    if !x.is_finite() {
                        return Err(Error::format(
                            &self.path,
                            format!("dataset `{}`", l.dataset),
                            format!(
                                "channel {} (`{}`) sample {} is {x}",
                                c + 1,
                                l.labels[c],
                                s + i
                            ),
                        ));
                    }
                    o.push(x as f32);
                }
            }
            s += n;
        }
        Ok(out)
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
fn annotations(f: &H5File) -> Vec<Annotation> {
    let read = || -> Option<Vec<Annotation>> {
        let onset = f
            .dataset("annotations/onset")
            .ok()?
            .read_numeric_as::<f64>()
            .ok()?;
        let dur = f
            .dataset("annotations/duration")
            .ok()?
            .read_numeric_as::<f64>()
            .ok()?;
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
    read().unwrap_or_default()
}

impl Reader for H5Reader {
    fn info(&self) -> &RecordInfo {
        &self.info
    }

    fn read(&mut self, sel: &Selection) -> Result<Record> {
        let picks = sel
            .channel_indices(&self.info)
            .map_err(|msg| Error::Selection {
                path: self.path.clone(),
                msg,
            })?;
        let (first, last) = sel.sample_range(self.layout.sample_rate, self.layout.n_samples as u64);
        let data = self.decode(first as usize, last as usize, &picks)?;
        let channels = picks
            .iter()
            .zip(data)
            .map(|(&c, samples)| {
                let mut meta = self.info.channels[c].meta.clone();
                let (lo, hi) = samples
                    .iter()
                    .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                if lo <= hi {
                    (meta.physical_min, meta.physical_max) = (f64::from(lo), f64::from(hi));
                }
                Channel { meta, samples }
            })
            .collect();
        let mut meta = self.info.meta.clone();
        let end = sel.end_s.unwrap_or(f64::INFINITY);
        meta.annotations
            .retain(|a| a.onset >= sel.start_s && a.onset < end);
        meta.annotations
            .iter_mut()
            .for_each(|a| a.onset -= sel.start_s);
        Ok(Record { meta, channels })
    }
}
