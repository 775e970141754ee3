//! Per-feature normalisation statistics, fitted on training records and saved with a model.

use crate::dsp::Representation;
use serde::{Deserialize, Serialize};

/// Mean and standard deviation of every feature (channel × bin × re/im).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormStats {
    /// Per-feature mean.
    pub mean: Vec<f32>,
    /// Per-feature standard deviation (never zero: constant features get 1).
    pub std: Vec<f32>,
}

impl NormStats {
    /// Fits mean and std over every frame of `reps` (all with the same feature count).
    pub fn fit<'a>(reps: impl IntoIterator<Item = &'a Representation>) -> NormStats {
        let (mut sum, mut sq, mut n) = (Vec::<f64>::new(), Vec::<f64>::new(), 0usize);
        for rep in reps {
            let f = rep.n_features();
            if sum.is_empty() {
                (sum, sq) = (vec![0.0; f], vec![0.0; f]);
            }
            for frame in rep.data.chunks_exact(f) {
                for ((s, q), &v) in sum.iter_mut().zip(sq.iter_mut()).zip(frame) {
                    let v = f64::from(v);
                    *s += v;
                    *q += v * v;
                }
            }
            n += rep.n_frames;
        }
        let n = n.max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std: Vec<f64> = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| (q / n - m * m).max(0.0).sqrt())
            .collect();
        // Features that never vary (the imaginary parts of DC and Nyquist) get unit scale.
        let floor = 1e-6 * std.iter().fold(0.0f64, |a, &b| a.max(b));
        NormStats {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: std
                .iter()
                .map(|&s| if s > floor && s > 0.0 { s as f32 } else { 1.0 })
                .collect(),
        }
    }

    /// Whether feature `i` was fitted as constant (unit std, zero mean: the imaginary parts
    /// of DC and Nyquist); it carries no power.
    pub fn is_constant(&self, i: usize) -> bool {
        self.std[i] == 1.0 && self.mean[i].abs() < 1e-6
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// Normalises frames in place: `(x − mean) / std`, feature by feature.
    pub fn apply(&self, frames: &mut [f32]) {
        for frame in frames.chunks_exact_mut(self.mean.len()) {
            for ((v, m), s) in frame.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }

    /// Undoes [`NormStats::apply`] in place: `x · std + mean`.
    pub fn invert(&self, frames: &mut [f32]) {
        for frame in frames.chunks_exact_mut(self.mean.len()) {
            for ((v, m), s) in frame.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = *v * s + m;
            }
        }
    }
}
