//! EDF/BDF reader: header and annotations on open, samples decoded per selection.

use super::header::Header;
use super::tal;
use crate::io::{Error, Reader, Result, Selection};
use crate::record::{Channel, ChannelInfo, ChannelMeta, Record, RecordInfo, RecordMeta, Segment};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes read per chunk while decoding: bounds memory whatever the file size.
const CHUNK_BYTES: u64 = 8 << 20;

/// An opened EDF/EDF+/BDF/BDF+ file.
pub struct EdfReader {
    path: PathBuf,
    file: File,
    header: Header,
    /// Indices of the data (non-annotation) signals, in file order.
    data_signals: Vec<usize>,
    info: RecordInfo,
}

impl EdfReader {
    /// Opens `path`, parses and validates its header, reads its annotations.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| Error::open(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::open(path, e))?.len();
        let mut fixed = vec![0u8; 256.min(file_len as usize)];
        file.read_exact(&mut fixed)
            .map_err(|e| Error::open(path, e))?;
        let ns = if fixed.len() == 256 {
            super::fields::ascii(&fixed[252..256])
                .parse::<usize>()
                .unwrap_or(0)
        } else {
            0
        };
        let want = (256 * (ns.min(super::header::MAX_SIGNALS) + 1)) as u64;
        let mut bytes = fixed;
        if want > 256 && want <= file_len {
            bytes.resize(want as usize, 0);
            file.read_exact(&mut bytes[256..])
                .map_err(|e| Error::open(path, e))?;
        }
        let header = Header::parse(path, &bytes, file_len)?;
        let data_signals: Vec<usize> = (0..header.signals.len())
            .filter(|&i| !header.signals[i].is_annotation(header.variant))
            .collect();
        let mut r = EdfReader {
            path: path.to_path_buf(),
            file,
            info: empty_info(&header, &data_signals),
            header,
            data_signals,
        };
        r.read_annotations()?;
        Ok(r)
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    fn read_annotations(&mut self) -> Result<()> {
        let signals = self.header.annotation_signals();
        if signals.is_empty() {
            return Ok(());
        }
        let mut onsets = Vec::with_capacity(self.header.n_records.min(1 << 20) as usize);
        let mut buf = Vec::new();
        for rec in 0..self.header.n_records {
            for (k, &a) in signals.iter().enumerate() {
                let tals = self.record_tals(rec, a, &mut buf)?;
                if k == 0 {
                    if let Some(first) = tals.first() {
                        onsets.push(first.onset);
                    }
                }
                // The first TAL of a record keeps time; its texts (usually none) still count.
                for t in &tals {
                    self.info.meta.annotations.extend(tal::annotations(t));
                }
            }
        }
        self.info
            .meta
            .annotations
            .sort_by(|x, y| x.onset.total_cmp(&y.onset));
        if self.header.variant.discontinuous {
            self.check_onsets(&onsets)?;
            self.info.meta.segments = segments(&onsets, self.header.record_duration);
        }
        Ok(())
    }

    /// An EDF+D's data records each start with a time-keeping TAL, in time order and not
    /// overlapping (EDF+ 2.2.4): else where its samples lie is unknown, and it is refused.
    fn check_onsets(&self, onsets: &[f64]) -> Result<()> {
        let d = self.header.record_duration;
        if onsets.len() as u64 != self.header.n_records {
            return Err(Error::format(
                &self.path,
                "EDF Annotations",
                format!(
                    "an EDF+D needs a time-keeping annotation in each of its {} data records; \
                     {} have one",
                    self.header.n_records,
                    onsets.len()
                ),
            ));
        }
        match (onsets.windows(2).enumerate()).find(|(_, w)| w[1] < w[0] + d - 1e-6) {
            Some((i, w)) => Err(Error::format(
                &self.path,
                "EDF Annotations",
                format!(
                    "data record {} starts at {} s, before record {} ({} s + {d} s) ends: an \
                     EDF+D's records must follow each other in time",
                    i + 2,
                    w[1],
                    i + 1,
                    w[0]
                ),
            )),
            None => Ok(()),
        }
    }

    /// The TALs of annotation signal `a` in data record `rec` (0-based), read through `buf`.
    fn record_tals(&mut self, rec: u64, a: usize, buf: &mut Vec<u8>) -> Result<Vec<tal::Tal>> {
        let h = &self.header;
        let len = h.signals[a].samples_per_record * h.variant.bytes_per_sample;
        let pos = h.header_bytes + rec * h.record_bytes() + h.signal_offset(a) as u64;
        buf.resize(len, 0);
        self.read_at(pos, buf)?;
        tal::parse(buf).map_err(|m| {
            let what = format!("annotation signal {}, data record {}", a + 1, rec + 1);
            Error::format(&self.path, what, m)
        })
    }

    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> Result<()> {
        self.file
            .seek(SeekFrom::Start(pos))
            .map_err(|e| Error::open(&self.path, e))?;
        self.file
            .read_exact(buf)
            .map_err(|e| Error::open(&self.path, e))
    }

    /// Decodes every pick's sample range in one pass over the data records, a chunk of
    /// records at a time, so a many-channel read touches each byte once.
    fn decode(&mut self, picks: &[Pick], out: &mut [Vec<f32>]) -> Result<()> {
        let h = &self.header;
        let (rb, hb) = (h.record_bytes(), h.header_bytes);
        let bps = h.variant.bytes_per_sample;
        let rec0 = picks.iter().map(|p| p.first / p.spr).min().unwrap_or(0);
        let rec1 = picks
            .iter()
            .map(|p| p.last.div_ceil(p.spr))
            .max()
            .unwrap_or(0);
        let per_chunk = (CHUNK_BYTES / rb).max(1);
        let mut buf = Vec::new();
        let mut rec = rec0;
        while rec < rec1 {
            let n = per_chunk.min(rec1 - rec);
            buf.resize((n * rb) as usize, 0);
            self.read_at(hb + rec * rb, &mut buf)?;
            for (p, o) in picks.iter().zip(out.iter_mut()) {
                for r in rec.max(p.first / p.spr)..(rec + n).min(p.last.div_ceil(p.spr)) {
                    let s0 = (r * p.spr).max(p.first) - r * p.spr;
                    let s1 = ((r + 1) * p.spr).min(p.last) - r * p.spr;
                    let base = ((r - rec) * rb + p.offset) as usize;
                    let bytes = &buf[base + s0 as usize * bps..base + s1 as usize * bps];
                    decode_into(bytes, bps, p.gain, p.zero, o);
                }
            }
            rec += n;
        }
        Ok(())
    }
}

/// One selected signal: where it sits in a record, its scaling, the samples wanted.
struct Pick {
    spr: u64,
    offset: u64,
    gain: f64,
    zero: f64,
    first: u64,
    last: u64,
}

/// Appends physical values of little-endian 16- or 24-bit samples to `out`.
fn decode_into(bytes: &[u8], bps: usize, gain: f64, offset: f64, out: &mut Vec<f32>) {
    if bps == 2 {
        out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| (f64::from(i16::from_le_bytes([b[0], b[1]])) * gain + offset) as f32),
        );
    } else {
        out.extend(bytes.chunks_exact(3).map(|b| {
            let v = i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8;
            (f64::from(v) * gain + offset) as f32
        }));
    }
}

/// Merges record onsets into contiguous stretches (EDF+D).
fn segments(onsets: &[f64], record_duration: f64) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for &t in onsets {
        match out.last_mut() {
            Some(s) if (s.onset + s.duration - t).abs() < 1e-6 => s.duration += record_duration,
            _ => out.push(Segment {
                onset: t,
                duration: record_duration,
            }),
        }
    }
    out
}

fn empty_info(h: &Header, data: &[usize]) -> RecordInfo {
    let channels = data
        .iter()
        .map(|&i| {
            let s = &h.signals[i];
            ChannelInfo {
                meta: ChannelMeta {
                    label: s.label.clone(),
                    unit: s.unit.clone(),
                    sample_rate: if h.record_duration > 0.0 {
                        s.samples_per_record as f64 / h.record_duration
                    } else {
                        0.0
                    },
                    physical_min: s.physical_min,
                    physical_max: s.physical_max,
                    digital_min: s.digital_min,
                    digital_max: s.digital_max,
                    transducer: s.transducer.clone(),
                    prefilter: s.prefilter.clone(),
                },
                n_samples: s.samples_per_record as u64 * h.n_records,
            }
        })
        .collect();
    let meta = RecordMeta {
        patient: h.patient.clone(),
        recording: h.recording.clone(),
        start: h.start,
        ..RecordMeta::default()
    };
    RecordInfo { meta, channels }
}

impl Reader for EdfReader {
    fn info(&self) -> &RecordInfo {
        &self.info
    }

    fn read(&mut self, sel: &Selection) -> Result<Record> {
        let picks = sel.resolve(&self.info, &self.path)?;
        let mut plan = Vec::with_capacity(picks.len());
        let mut out = Vec::with_capacity(picks.len());
        for &ci in &picks {
            let info = &self.info.channels[ci];
            let (first, last) = sel.sample_range(info.meta.sample_rate, info.n_samples);
            let sig = self.data_signals[ci];
            let (gain, zero) = self.header.signals[sig].scaling();
            plan.push(Pick {
                spr: self.header.signals[sig].samples_per_record as u64,
                offset: self.header.signal_offset(sig) as u64,
                gain,
                zero,
                first,
                last,
            });
            out.push(Vec::with_capacity((last - first) as usize));
        }
        self.decode(&plan, &mut out)?;
        let channels = picks
            .iter()
            .zip(out)
            .map(|(&ci, samples)| Channel {
                meta: self.info.channels[ci].meta.clone(),
                samples,
            })
            .collect();
        let mut meta = self.info.meta.clone();
        sel.clip_meta(&mut meta);
        Ok(Record { meta, channels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bdf_samples_are_sign_extended() {
        let mut out = Vec::new();
        decode_into(
            &[0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0x00, 0x80],
            3,
            1.0,
            0.0,
            &mut out,
        );
        assert_eq!(out, [-1.0, 1.0, -8_388_608.0]);
    }

    #[test]
    fn adjacent_records_merge_into_segments() {
        let s = segments(&[0.0, 1.0, 5.0, 6.0, 7.0], 1.0);
        assert_eq!(
            s,
            vec![
                Segment {
                    onset: 0.0,
                    duration: 2.0
                },
                Segment {
                    onset: 5.0,
                    duration: 3.0
                }
            ]
        );
    }
}
