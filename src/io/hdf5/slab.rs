//! Decoding a sample range into channel-major f32: the range is cut into chunk-aligned
//! hyperslabs, a few threads (each with its own file handle, as `rust-hdf5` handles are
//! single-threaded) read them and transpose them into disjoint parts of the output, and
//! each channel's range and finiteness are checked on the way, in cache, not in a second
//! pass over memory.

use super::{h5err, layout::Layout};
use crate::io::{Error, Result};
use rust_hdf5::{H5Dataset, H5File};
use std::path::Path;

/// Bytes per hyperslab read (rounded to whole chunks): small enough that the transpose
/// reads it from L2, large enough that per-read overhead does not show.
const SLAB_BYTES: usize = 1 << 20;
/// Fewer values than this are read by one thread: threads would cost more than they save.
const PARALLEL_MIN_VALUES: usize = 1 << 21;
/// Most reader threads (memory bandwidth, not cores, limits beyond this).
const MAX_THREADS: usize = 4;
/// Channels transposed together: one vector-width row of a frame.
const LANES: usize = 8;

/// Decoded channels and each one's (min, max); a non-finite sample makes the range NaN.
pub(super) type Decoded = (Vec<Vec<f32>>, Vec<(f32, f32)>);

/// What to decode: one record's samples `[first, last)` of the picked channels.
pub(super) struct Request<'a> {
    pub path: &'a Path,
    pub layout: &'a Layout,
    pub record: usize,
    pub first: usize,
    pub last: usize,
    pub picks: &'a [usize],
}

/// A channel's running (min, max) and `x - x` sum, NaN once a sample is NaN or ±∞.
#[derive(Clone, Copy)]
struct Stats {
    lo: f32,
    hi: f32,
    nonfinite: f32,
}

impl Stats {
    const EMPTY: Stats = Stats {
        lo: f32::INFINITY,
        hi: f32::NEG_INFINITY,
        nonfinite: 0.0,
    };

    fn merge(&mut self, o: Stats) {
        self.lo = self.lo.min(o.lo);
        self.hi = self.hi.max(o.hi);
        self.nonfinite += o.nonfinite;
    }

    fn range(self) -> (f32, f32) {
        if self.nonfinite.is_nan() {
            (f32::NAN, f32::NAN)
        } else {
            (self.lo, self.hi)
        }
    }
}

/// An output sample not yet stored.
type Out = std::mem::MaybeUninit<f32>;

/// Reads the request, in parallel when it is large.
pub(super) fn decode(req: &Request) -> Result<Decoded> {
    let len = req.last.saturating_sub(req.first);
    if len == 0 {
        let empty = || (Vec::new(), (f32::INFINITY, f32::NEG_INFINITY));
        return Ok(req.picks.iter().map(|_| empty()).unzip());
    }
    let slab = slab_frames(req);
    let bounds = part_bounds(req, slab);
    // Written before read (every frame of every part is stored once), so not zeroed first.
    let mut out: Vec<Vec<f32>> = req.picks.iter().map(|_| Vec::with_capacity(len)).collect();
    let mut parts: Vec<Vec<&mut [Out]>> = bounds.windows(2).map(|_| Vec::new()).collect();
    for v in out.iter_mut() {
        let mut rest = &mut v.spare_capacity_mut()[..len];
        for (p, b) in parts.iter_mut().zip(bounds.windows(2)) {
            let (head, tail) = rest.split_at_mut(b[1] - b[0]);
            p.push(head);
            rest = tail;
        }
    }
    let stats = std::thread::scope(|s| -> Result<Vec<Stats>> {
        let mut jobs = bounds.windows(2).zip(parts);
        let (b0, mut p0) = jobs.next().expect("at least one part");
        let handles: Vec<_> = jobs
            .map(|(b, mut p)| {
                let (s0, s1) = (b[0], b[1]);
                std::thread::Builder::new()
                    .name("biowave-h5read".into())
                    .spawn_scoped(s, move || read_part(req, s0, s1, slab, &mut p))
                    .map_err(|e| Error::open(req.path, e))
            })
            .collect::<Result<_>>()?;
        let mut stats = read_part(req, b0[0], b0[1], slab, &mut p0)?;
        for h in handles {
            let part = h.join().map_err(|_| {
                Error::format(req.path, dataset_field(req), "a reader thread panicked")
            })??;
            stats.iter_mut().zip(part).for_each(|(a, b)| a.merge(b));
        }
        Ok(stats)
    })?;
    for v in out.iter_mut() {
        // SAFETY: every part ended Ok, and a part stores all its frames of every pick
        // (`read_part`: slabs cover `[s0, s1)`, each transposed or copied whole).
        unsafe { v.set_len(len) };
    }
    Ok((out, stats.into_iter().map(Stats::range).collect()))
}

fn dataset_field(req: &Request) -> String {
    format!("dataset `{}`", req.layout.dataset)
}

/// Frames per hyperslab: whole chunks along the sample axis, about `SLAB_BYTES` of them.
fn slab_frames(req: &Request) -> usize {
    let row_bytes = req.layout.n_channels * 4;
    let target = (SLAB_BYTES / row_bytes).max(LANES);
    match req.layout.chunk_frames {
        Some(c) if c > 0 => c * (target / c).max(1),
        _ => target,
    }
}

/// Part boundaries in dataset frames: `first`, slab-aligned cuts, `last`.
fn part_bounds(req: &Request, slab: usize) -> Vec<usize> {
    let (first, last) = (req.first, req.last);
    let values = (last - first) * req.picks.len().max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let slabs = (last - first).div_ceil(slab);
    let threads = if values < PARALLEL_MIN_VALUES {
        1
    } else {
        cores.min(MAX_THREADS).min(slabs).max(1)
    };
    let mut b: Vec<usize> = (0..threads)
        .map(|i| {
            let cut = first + (last - first) * i / threads;
            (cut.div_ceil(slab) * slab).clamp(first, last)
        })
        .collect();
    b[0] = first;
    b.push(last);
    b.dedup();
    b
}

/// Reads frames `[s0, s1)` through its own file handle into `outs` (one slice per pick,
/// each `s1 - s0` long), returning each pick's stats.
fn read_part(
    req: &Request,
    s0: usize,
    s1: usize,
    slab: usize,
    outs: &mut [&mut [Out]],
) -> Result<Vec<Stats>> {
    let l = req.layout;
    let file = H5File::open(req.path).map_err(|e| h5err(req.path, "HDF5 file", e))?;
    let ds = file
        .dataset(&l.dataset)
        .map_err(|e| h5err(req.path, &l.dataset, e))?;
    let mut stats = vec![Stats::EMPTY; req.picks.len()];
    let mut raw: Vec<f32> = Vec::new();
    let mut s = s0;
    while s < s1 {
        let next = ((s / slab + 1) * slab).min(s1);
        read_slab(req, &ds, s, next - s, &mut raw)?;
        if l.channels_first {
            copy_rows(&raw, next - s, req.picks, outs, s - s0, &mut stats);
        } else {
            transpose(&raw, l.n_channels, req.picks, outs, s - s0, &mut stats);
        }
        s = next;
    }
    Ok(stats)
}

/// Reads `n` frames from `s` into `raw`, scaled to physical f32, in stored order.
fn read_slab(req: &Request, ds: &H5Dataset, s: usize, n: usize, raw: &mut Vec<f32>) -> Result<()> {
    let l = req.layout;
    let (starts, counts) = match (l.shape.len(), l.channels_first) {
        (3, _) => (vec![req.record, s, 0], vec![1, n, l.n_channels]),
        (_, false) => (vec![s, 0], vec![n, l.n_channels]),
        (_, true) => (vec![0, s], vec![l.n_channels, n]),
    };
    raw.resize(n * l.n_channels, 0.0);
    if l.native_f32 {
        ds.read_slice_into::<f32>(raw, &starts, &counts)
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
    .map_err(|e| h5err(req.path, &dataset_field(req), e))
}

/// Frames stored interleaved (`raw[f * nc + c]`): `LANES` picked channels at a time are
/// transposed into their channels at `at + f`, checked lane-wise on the way.
fn transpose(
    raw: &[f32],
    nc: usize,
    picks: &[usize],
    outs: &mut [&mut [Out]],
    at: usize,
    stats: &mut [Stats],
) {
    for ((pk, os), st) in picks
        .chunks(LANES)
        .zip(outs.chunks_mut(LANES))
        .zip(stats.chunks_mut(LANES))
    {
        let mut acc = Lanes::new();
        let full = pk.len() == LANES && pk.windows(2).all(|p| p[1] == p[0] + 1);
        match <&mut [&mut [Out]; LANES]>::try_from(&mut *os) {
            Ok(dst) if full => transpose_tiles(raw, nc, pk[0], dst, at, &mut acc),
            _ => gather(raw, nc, pk, os, at, &mut acc),
        }
        acc.merge_into(st);
    }
}

/// Eight adjacent channels from `c0`: 8 × 8 tiles loaded as rows, stored as columns.
fn transpose_tiles(
    raw: &[f32],
    nc: usize,
    c0: usize,
    dst: &mut [&mut [Out]; LANES],
    at: usize,
    acc: &mut Lanes,
) {
    let n = raw.len() / nc;
    let tiles = n / LANES;
    for t in 0..tiles {
        let mut tile = [[0f32; LANES]; LANES];
        for (f, row) in tile.iter_mut().enumerate() {
            let i = (t * LANES + f) * nc + c0;
            *row = raw[i..i + LANES].try_into().expect("eight values");
            acc.add(row);
        }
        let f0 = at + t * LANES;
        for (k, d) in dst.iter_mut().enumerate() {
            for (o, row) in d[f0..f0 + LANES].iter_mut().zip(&tile) {
                o.write(row[k]);
            }
        }
    }
    let picks: [usize; LANES] = std::array::from_fn(|k| c0 + k);
    let done = tiles * LANES;
    gather(&raw[done * nc..], nc, &picks, dst, at + done, acc);
}

/// Any picked channels (up to `LANES`), one frame at a time.
fn gather(
    raw: &[f32],
    nc: usize,
    picks: &[usize],
    dst: &mut [&mut [Out]],
    at: usize,
    acc: &mut Lanes,
) {
    for (f, row) in raw.chunks_exact(nc).enumerate() {
        let mut v = [0f32; LANES];
        v.iter_mut().zip(picks).for_each(|(x, &c)| *x = row[c]);
        acc.add(&v);
        for (d, &x) in dst.iter_mut().zip(&v) {
            d[at + f].write(x);
        }
    }
}

/// 0 for a finite sample, NaN for NaN or ±∞: summed, it flags any non-finite sample.
#[inline(always)]
#[allow(clippy::eq_op)] // x - x is the point: it is 0 exactly when x is finite
fn poison(x: f32) -> f32 {
    x - x
}

/// Lane-wise (min, max, `x - x` sum) of `LANES` channels.
struct Lanes {
    lo: [f32; LANES],
    hi: [f32; LANES],
    nonfinite: [f32; LANES],
}

impl Lanes {
    fn new() -> Self {
        Lanes {
            lo: [f32::INFINITY; LANES],
            hi: [f32::NEG_INFINITY; LANES],
            nonfinite: [0.0; LANES],
        }
    }

    #[inline(always)]
    fn add(&mut self, v: &[f32; LANES]) {
        // Plain compares (one vector min/max each); a NaN they skip shows in `nonfinite`.
        for (k, &x) in v.iter().enumerate() {
            self.lo[k] = if x < self.lo[k] { x } else { self.lo[k] };
            self.hi[k] = if x > self.hi[k] { x } else { self.hi[k] };
            self.nonfinite[k] += poison(x);
        }
    }

    /// Lane `k`'s stats.
    fn lane(&self, k: usize) -> Stats {
        Stats {
            lo: self.lo[k],
            hi: self.hi[k],
            nonfinite: self.nonfinite[k],
        }
    }

    /// Folds lane `k` into channel `k`'s stats.
    fn merge_into(&self, st: &mut [Stats]) {
        for (k, s) in st.iter_mut().enumerate() {
            s.merge(self.lane(k));
        }
    }

    /// Folds every lane into one channel's stats (a channel read in `LANES`-wide steps).
    fn merge_all(&self, s: &mut Stats) {
        (0..LANES).for_each(|k| s.merge(self.lane(k)));
    }
}

/// Channels stored as rows (`raw[c * n + f]`): each picked row is copied and checked.
fn copy_rows(
    raw: &[f32],
    n: usize,
    picks: &[usize],
    outs: &mut [&mut [Out]],
    at: usize,
    stats: &mut [Stats],
) {
    for ((&c, o), s) in picks.iter().zip(outs.iter_mut()).zip(stats.iter_mut()) {
        let src = &raw[c * n..(c + 1) * n];
        for (o, &x) in o[at..at + n].iter_mut().zip(src) {
            o.write(x);
        }
        let mut acc = Lanes::new();
        let chunks = src.chunks_exact(LANES);
        let rest = chunks.remainder();
        for ch in chunks {
            acc.add(ch.try_into().expect("eight values"));
        }
        acc.merge_all(s);
        for &x in rest {
            s.merge(Stats {
                lo: x,
                hi: x,
                nonfinite: poison(x),
            });
        }
    }
}

/// The first non-finite sample in any channel: (channel, index).
pub(super) fn first_non_finite(out: &[Vec<f32>]) -> Option<(usize, usize)> {
    out.iter()
        .enumerate()
        .find_map(|(c, v)| v.iter().position(|x| !x.is_finite()).map(|i| (c, i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bufs(k: usize, n: usize) -> Vec<Vec<Out>> {
        (0..k).map(|_| vec![Out::new(0.0); n]).collect()
    }

    fn values(b: &[Out]) -> Vec<f32> {
        // SAFETY: every element was initialised by `bufs` (and maybe overwritten).
        b.iter().map(|x| unsafe { x.assume_init() }).collect()
    }

    #[test]
    fn transpose_gathers_checks_and_flags_non_finite() {
        let nc = 11;
        let n = 5;
        let raw: Vec<f32> = (0..n * nc).map(|i| i as f32).collect();
        let picks: Vec<usize> = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 10];
        let mut bufs = bufs(picks.len(), n + 2);
        let mut outs: Vec<&mut [Out]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
        let mut stats = vec![Stats::EMPTY; picks.len()];
        transpose(&raw, nc, &picks, &mut outs, 2, &mut stats);
        for (j, &c) in picks.iter().enumerate() {
            let want: Vec<f32> = (0..n).map(|f| (f * nc + c) as f32).collect();
            assert_eq!(values(&bufs[j][2..]), want);
            assert_eq!(stats[j].range(), (c as f32, ((n - 1) * nc + c) as f32));
        }
        let mut bad = raw.clone();
        bad[3 * nc + 10] = f32::INFINITY;
        let mut outs: Vec<&mut [Out]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
        let mut stats = vec![Stats::EMPTY; picks.len()];
        transpose(&bad, nc, &picks, &mut outs, 0, &mut stats);
        assert!(stats[9].range().0.is_nan());
        assert!(!stats[8].range().0.is_nan());
    }

    #[test]
    fn copy_rows_checks_each_row() {
        let n = 19;
        let mut raw: Vec<f32> = (0..3 * n).map(|i| i as f32).collect();
        raw[n + 17] = f32::NAN;
        let mut bufs = bufs(2, n);
        let mut outs: Vec<&mut [Out]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
        let mut stats = vec![Stats::EMPTY; 2];
        copy_rows(&raw, n, &[2, 1], &mut outs, 0, &mut stats);
        assert_eq!(values(&bufs[0]), raw[2 * n..].to_vec());
        assert_eq!(stats[0].range(), ((2 * n) as f32, (3 * n - 1) as f32));
        assert!(stats[1].range().0.is_nan());
    }
}
