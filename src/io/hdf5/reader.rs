//! HDF5 reader: layout on open, hyperslabs of the selected samples decoded on `read`.

use super::{h5err, layout::Layout};
use crate::io::{Error, OpenOptions, Reader, Result, Selection};
use crate::record::{
    Annotation, Channel, ChannelInfo, ChannelMeta, Record, RecordInfo, RecordMeta,
};
use rust_hdf5::H5File;
use std::path::{Path, PathBuf};

/// Samples per hyperslab read: bounds memory for long datasets.
const CHUNK_FRAMES: usize = 1 << 14;

/// Decoded channels and each one's (min, max).
type Decoded = (Vec<Vec<f32>>, Vec<(f32, f32)>);

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
    fn decode(&self, first: usize, last: usize, picks: &[usize]) -> Result<Decoded> {
        let l = &self.layout;
        let ds = self
            .file
            .dataset(&l.dataset)
            .map_err(|e| h5err(&self.path, &l.dataset, e))?;
        let mut out: Vec<Vec<f32>> = picks
            .iter()
            .map(|_| Vec::with_capacity(last - first))
            .collect();
        let mut raw: Vec<f32> = Vec::new();
        let mut range = vec![(f32::INFINITY, f32::NEG_INFINITY); picks.len()];
        let mut s = first;
        while s < last {
            let n = CHUNK_FRAMES.min(last - s);
            let (starts, counts) = match (l.shape.len(), l.channels_first) {
                (3, _) => (vec![self.record, s, 0], vec![1, n, l.n_channels]),
                (_, false) => (vec![s, 0], vec![n, l.n_channels]),
                (_, true) => (vec![0, s], vec![l.n_channels, n]),
            };
            let field = || format!("dataset `{}`", l.dataset);
            let m = counts.iter().product::<usize>();
            raw.resize(m, 0.0);
            if l.native_f32 {
                ds.read_slice_into::<f32>(&mut raw, &starts, &counts)
            } else if l.integer {
                ds.read_numeric_slice_as::<i64>(&starts, &counts).map(|v| {
                    raw.iter_mut()
                        .zip(v)
                        .for_each(|(r, x)| *r = (x as f64 * l.scale + l.offset) as f32)
                })
            } else {
                ds.read_numeric_slice_as::<f64>(&starts, &counts)
                    .map(|v| raw.iter_mut().zip(v).for_each(|(r, x)| *r = x as f32))
            }
            .map_err(|e| h5err(&self.path, &field(), e))?;
            scatter(&raw, n, l, picks, &mut out, &mut range);
            s += n;
        }
        if range.iter().any(|r| !(r.0.is_finite() && r.1.is_finite())) {
            if let Some((c, i)) = first_non_finite(&out) {
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

/// Appends an interleaved (or channels-first) slab of `n` frames to each picked channel,
/// in cache-sized blocks of frames, keeping each channel's (min, max) as it goes.
fn scatter(
    raw: &[f32],
    n: usize,
    l: &Layout,
    picks: &[usize],
    out: &mut [Vec<f32>],
    range: &mut [(f32, f32)],
) {
    const BLOCK: usize = 64;
    let nc = l.n_channels;
    for f0 in (0..n).step_by(BLOCK) {
        let f1 = (f0 + BLOCK).min(n);
        for ((o, &c), r) in out.iter_mut().zip(picks).zip(range.iter_mut()) {
            let start = o.len();
            if l.channels_first {
                o.extend_from_slice(&raw[c * n + f0..c * n + f1]);
            } else {
                o.extend(raw[f0 * nc + c..].iter().step_by(nc).take(f1 - f0));
            }
            let (mut lo, mut hi, mut bad) = (r.0, r.1, r.0.is_nan());
            for &x in &o[start..] {
                lo = lo.min(x);
                hi = hi.max(x);
                bad |= !x.is_finite();
            }
            // A non-finite sample poisons the range; read() then finds and reports it.
            *r = if bad { (f32::NAN, f32::NAN) } else { (lo, hi) };
        }
    }
}

/// The first non-finite sample in any channel: (channel, index).
fn first_non_finite(out: &[Vec<f32>]) -> Option<(usize, usize)> {
    out.iter()
        .enumerate()
        .find_map(|(c, v)| v.iter().position(|x| !x.is_finite()).map(|i| (c, i)))
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
