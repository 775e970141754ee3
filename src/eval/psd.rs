//! Welch power spectral density (Hann, 50 % overlap, mean of periodograms), planned once.

use rustfft::{num_complex::Complex32, Fft, FftPlanner};
use std::sync::Arc;

/// A Welch estimator for segments of `nperseg` samples.
pub struct Welch {
    nperseg: usize,
    window: Vec<f32>,
    norm: f32,
    fft: Arc<dyn Fft<f32>>,
    buf: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

impl Welch {
    /// Plans the FFT and the window once.
    pub fn new(nperseg: usize) -> Self {
        let window: Vec<f32> = (0..nperseg)
            .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / nperseg as f64).cos()) as f32)
            .collect();
        let norm = window.iter().map(|w| w * w).sum::<f32>();
        let fft = FftPlanner::new().plan_fft_forward(nperseg);
        let scratch = vec![Complex32::default(); fft.get_inplace_scratch_len()];
        Welch {
            nperseg,
            window,
            norm,
            fft,
            buf: vec![Complex32::default(); nperseg],
            scratch,
        }
    }

    /// One-sided PSD of `x` (units²/Hz) at `fs`, `nperseg / 2 + 1` bins, segments detrended
    /// by their mean (scipy.signal.welch defaults with `window='hann'`).
    pub fn psd(&mut self, x: &[f32], fs: f64) -> Vec<f64> {
        let (n, step) = (self.nperseg, self.nperseg / 2);
        let bins = n / 2 + 1;
        let mut acc = vec![0.0f64; bins];
        let mut count = 0;
        let mut s = 0;
        while s + n <= x.len() {
            let seg = &x[s..s + n];
            let mean = seg.iter().sum::<f32>() / n as f32;
            for ((b, &v), &w) in self.buf.iter_mut().zip(seg).zip(&self.window) {
                *b = Complex32::new((v - mean) * w, 0.0);
            }
            self.fft
                .process_with_scratch(&mut self.buf, &mut self.scratch);
            for (k, a) in acc.iter_mut().enumerate() {
                let p = f64::from(self.buf[k].norm_sqr());
                *a += if k == 0 || (n % 2 == 0 && k == n / 2) {
                    p
                } else {
                    2.0 * p
                };
            }
            count += 1;
            s += step;
        }
        let scale = 1.0 / (fs * f64::from(self.norm) * count.max(1) as f64);
        acc.iter_mut().for_each(|a| *a *= scale);
        acc
    }
}
