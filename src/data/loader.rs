//! Streaming batches of windows: copies only one batch at a time out of the dataset.

use super::{shuffle, Dataset, Part};

/// One batch: `shape = [windows, frames, features]`, `data` row-major of that shape; with
/// a beat clock each frame's values are followed by its conditioning values.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Flat normalised features.
    pub data: Vec<f32>,
    /// `[batch, frames per window, features per frame]`.
    pub shape: [usize; 3],
}

/// Iterator over shuffled batches of one part of a [`Dataset`] (the last may be smaller).
pub struct Batches<'a> {
    ds: &'a Dataset,
    part: Part,
    windows: Vec<(usize, usize)>,
    next: usize,
    batch_size: usize,
}

impl<'a> Batches<'a> {
    pub(super) fn new(ds: &'a Dataset, part: Part, batch_size: usize, epoch: u64) -> Self {
        let mut windows = Vec::new();
        for (r, p) in ds.part(part).iter().enumerate() {
            let last = p.rep.n_frames.saturating_sub(ds.window_frames);
            windows.extend((0..=last).step_by(ds.stride_frames).map(|s| (r, s)));
        }
        shuffle(&mut windows, ds.config.seed, epoch);
        Self {
            ds,
            part,
            windows,
            next: 0,
            batch_size,
        }
    }

    /// Number of windows in this epoch.
    pub fn n_windows(&self) -> usize {
        self.windows.len()
    }

    /// `(record index within the part, first frame)` of every window, in batch order.
    pub fn windows(&self) -> &[(usize, usize)] {
        &self.windows
    }
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let end = (self.next + self.batch_size).min(self.windows.len());
        if self.next >= end {
            return None;
        }
        let (f, c, wf) = (
            self.ds.n_features(),
            self.ds.n_cond(),
            self.ds.window_frames,
        );
        let records = self.ds.part(self.part);
        let mut data = Vec::with_capacity((end - self.next) * wf * (f + c));
        for &(r, s) in &self.windows[self.next..end] {
            let p = &records[r];
            if c == 0 {
                data.extend_from_slice(&p.rep.data[s * f..(s + wf) * f]);
                continue;
            }
            for t in s..s + wf {
                data.extend_from_slice(&p.rep.data[t * f..(t + 1) * f]);
                data.extend_from_slice(&p.cond[t * c..(t + 1) * c]);
            }
        }
        let shape = [end - self.next, wf, f + c];
        self.next = end;
        Some(Batch { data, shape })
    }
}
