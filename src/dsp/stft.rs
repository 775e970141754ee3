//! Short-time Fourier transform and its inverse, planned once and reused.
//!
//! Conventions follow `scipy.signal.stft`/`istft` defaults so results compare directly:
//! the signal is centred (`n_fft/2` zeros added at both ends, `boundary='zeros'`), padded
//! with zeros to a whole number of frames (`padded=True`), and bins are scaled by
//! `1/sum(window)` (`scaling='spectrum'`). The inverse is weighted overlap-add divided by
//! the summed squared window, which reconstructs exactly whenever that sum is non-zero
//! (Hann at hop ≤ n_fft/2, and any window at hop ≤ n_fft/2 with no zeros inside).

use super::window::Window;
use crate::{Error, Result};
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use realfft::num_complex::Complex32;

/// Spectral parameters a model stores in its checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpectralConfig {
    /// Frame length and FFT size in samples.
    pub n_fft: usize,
    /// Samples between frame starts.
    pub hop: usize,
    /// Analysis (and synthesis) window, used in its periodic form.
    #[serde(default)]
    pub window: Window,
}

impl Default for SpectralConfig {
    /// n_fft 256, hop 64, Hann: 4× overlap, fine time resolution for QRS at 250–500 Hz.
    fn default() -> Self {
        Self {
            n_fft: 256,
            hop: 64,
            window: Window::Hann,
        }
    }
}

impl SpectralConfig {
    /// Number of frequency bins per frame (`n_fft/2 + 1`).
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// The first frame wholly inside the signal (frame `t` is centred on sample `t · hop`).
    pub fn first_interior_frame(&self) -> usize {
        (self.n_fft / 2).div_ceil(self.hop)
    }

    /// Number of frames for a signal of `n_samples` (centred and padded as scipy does).
    pub fn n_frames(&self, n_samples: usize) -> usize {
        let padded = n_samples + 2 * (self.n_fft / 2);
        padded.saturating_sub(self.n_fft).div_ceil(self.hop) + 1
    }

    /// Checks that the transform is well defined and invertible.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::BadInput(format!("spectral config: {m}")));
        if self.n_fft < 2 || !self.n_fft.is_multiple_of(2) || self.n_fft > 1 << 20 {
            return bad(format!(
                "n_fft must be even and in 2..=2^20, got {}",
                self.n_fft
            ));
        }
        if self.hop == 0 || self.hop > self.n_fft / 2 {
            return bad(format!(
                "hop must be in 1..={} (n_fft/2) for reconstruction, got {}",
                self.n_fft / 2,
                self.hop
            ));
        }
        self.window.validate("spectral config: window")
    }
}

/// A planned STFT for one frame size: FFT plans, window, scratch and frame buffers owned.
///
/// Frames are laid out frame-major: `spec[t * n_bins + k]` is bin `k` of frame `t`.
pub struct Stft {
    cfg: SpectralConfig,
    win: Vec<f32>,
    /// `1/sum(window)`: scipy's `scaling='spectrum'`.
    scale: f32,
    r2c: Arc<dyn RealToComplex<f32>>,
    c2r: Arc<dyn ComplexToReal<f32>>,
    frame: Vec<f32>,
    bins: Vec<Complex32>,
    scratch_fwd: Vec<Complex32>,
    scratch_inv: Vec<Complex32>,
    ola: Vec<f32>,
    norm: Vec<f32>,
}

impl Stft {
    /// Plans the forward and inverse FFTs for `cfg`.
    pub fn new(cfg: &SpectralConfig) -> Result<Self> {
        cfg.validate()?;
        let mut planner = RealFftPlanner::<f32>::new();
        let r2c = planner.plan_fft_forward(cfg.n_fft);
        let c2r = planner.plan_fft_inverse(cfg.n_fft);
        let win: Vec<f32> = cfg
            .window
            .samples(cfg.n_fft, true)
            .iter()
            .map(|&w| w as f32)
            .collect();
        let sum: f64 = cfg.window.samples(cfg.n_fft, true).iter().sum();
        Ok(Self {
            cfg: *cfg,
            scale: (1.0 / sum) as f32,
            frame: r2c.make_input_vec(),
            bins: r2c.make_output_vec(),
            scratch_fwd: r2c.make_scratch_vec(),
            scratch_inv: c2r.make_scratch_vec(),
            r2c,
            c2r,
            win,
            ola: Vec::new(),
            norm: Vec::new(),
        })
    }

    /// The configuration this STFT was planned for.
    pub fn config(&self) -> &SpectralConfig {
        &self.cfg
    }

    /// The periodic window used for analysis and synthesis.
    pub fn window(&self) -> &[f32] {
        &self.win
    }

    /// Forward STFT of `x` into `out` (resized to `n_frames × n_bins`, frame-major).
    pub fn forward(&mut self, x: &[f32], out: &mut Vec<Complex32>) {
        let (n_frames, n_bins) = (self.cfg.n_frames(x.len()), self.cfg.n_bins());
        out.resize(n_frames * n_bins, Complex32::default());
        for (t, dst) in out.chunks_exact_mut(n_bins).enumerate() {
            self.forward_frame(x, t, dst);
        }
    }

    /// Transforms frame `t` of the centred, zero-padded `x` into `dst` (`n_bins` long).
    pub fn forward_frame(&mut self, x: &[f32], t: usize, dst: &mut [Complex32]) {
        let (n, half) = (self.cfg.n_fft, self.cfg.n_fft / 2);
        let start = (t * self.cfg.hop) as isize - half as isize;
        for (i, (f, w)) in self.frame.iter_mut().zip(&self.win).enumerate() {
            let j = start + i as isize;
            *f = if j >= 0 && (j as usize) < x.len() {
                x[j as usize] * w
            } else {
                0.0
            };
        }
        debug_assert_eq!(self.frame.len(), n);
        // Lengths come from the plan itself, so processing cannot fail.
        let _ = self
            .r2c
            .process_with_scratch(&mut self.frame, dst, &mut self.scratch_fwd);
        for b in dst.iter_mut() {
            *b *= self.scale;
        }
    }

    /// Inverse STFT of frame-major `spec` into `out`: exactly `n_samples` samples, the
    /// length of the signal the frames came from (centring removed).
    pub fn inverse(
        &mut self,
        spec: &[Complex32],
        n_samples: usize,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let (n, hop, n_bins) = (self.cfg.n_fft, self.cfg.hop, self.cfg.n_bins());
        if !spec.len().is_multiple_of(n_bins) || spec.is_empty() {
            return Err(Error::BadInput(format!(
                "inverse STFT: {} bins is not a whole number of {n_bins}-bin frames",
                spec.len()
            )));
        }
        let n_frames = spec.len() / n_bins;
        let len = (n_frames - 1) * hop + n;
        if n_samples + n / 2 > len {
            return Err(Error::BadInput(format!(
                "inverse STFT: {n_frames} frames cover at most {} samples, {n_samples} asked",
                len - n / 2
            )));
        }
        self.ola.clear();
        self.ola.resize(len, 0.0);
        self.norm.clear();
        self.norm.resize(len, 0.0);
        for (t, frame) in spec.chunks_exact(n_bins).enumerate() {
            self.synth_frame(frame);
            let at = t * hop;
            add_frame(
                &mut self.ola[at..at + n],
                &mut self.norm[at..at + n],
                &self.frame,
                &self.win,
            );
        }
        out.clear();
        out.extend(
            self.ola[n / 2..n / 2 + n_samples]
                .iter()
                .zip(&self.norm[n / 2..])
                .map(|(&a, &w)| normalise(a, w)),
        );
        Ok(())
    }

    /// Inverse FFT of one frame into `self.frame`, windowed and rescaled for overlap-add.
    fn synth_frame(&mut self, frame: &[Complex32]) {
        self.bins.copy_from_slice(frame);
        // A real signal's DC and Nyquist bins are real; drop what a model may put there.
        let last = self.bins.len() - 1;
        self.bins[0].im = 0.0;
        self.bins[last].im = 0.0;
        let _ =
            self.c2r
                .process_with_scratch(&mut self.bins, &mut self.frame, &mut self.scratch_inv);
        // irfft is unnormalised (×n); the forward scaled by 1/sum(w): undo both, then window.
        let g = 1.0 / (self.scale * self.cfg.n_fft as f32);
        for (f, w) in self.frame.iter_mut().zip(&self.win) {
            *f *= g * w;
        }
    }
}

/// Overlap-adds one windowed frame and its squared window.
fn add_frame(ola: &mut [f32], norm: &mut [f32], frame: &[f32], win: &[f32]) {
    for (((o, m), f), w) in ola.iter_mut().zip(norm.iter_mut()).zip(frame).zip(win) {
        *o += f;
        *m += w * w;
    }
}

/// Divides by the squared-window sum where it is not vanishing (as scipy does).
fn normalise(a: f32, w: f32) -> f32 {
    if w > 1e-10 {
        a / w
    } else {
        a
    }
}

/// Inverse STFT for streams: push frames, pull finished samples; overlap-add state is kept
/// across calls, and output equals [`Stft::inverse`] of the same frames sample for sample.
pub struct StreamingIstft {
    stft: Stft,
    ola: Vec<f32>,
    norm: Vec<f32>,
    /// Leading samples still to drop (the centring of the forward transform).
    skip: usize,
    ready: std::collections::VecDeque<f32>,
}

impl StreamingIstft {
    /// A streaming inverse for `cfg`, positioned at the first frame of a centred STFT.
    pub fn new(cfg: &SpectralConfig) -> Result<Self> {
        let stft = Stft::new(cfg)?;
        Ok(Self {
            ola: vec![0.0; cfg.n_fft],
            norm: vec![0.0; cfg.n_fft],
            skip: cfg.n_fft / 2,
            ready: std::collections::VecDeque::with_capacity(4 * cfg.n_fft),
            stft,
        })
    }

    /// The configuration this inverse was planned for.
    pub fn config(&self) -> &SpectralConfig {
        self.stft.config()
    }

    /// Adds one frame of `n_bins` bins; `hop` more samples become ready.
    pub fn push(&mut self, frame: &[Complex32]) -> Result<()> {
        let (n, hop) = (self.stft.cfg.n_fft, self.stft.cfg.hop);
        if frame.len() != self.stft.cfg.n_bins() {
            return Err(Error::BadInput(format!(
                "streaming iSTFT: frame has {} bins, expected {}",
                frame.len(),
                self.stft.cfg.n_bins()
            )));
        }
        self.stft.synth_frame(frame);
        add_frame(
            &mut self.ola,
            &mut self.norm,
            &self.stft.frame,
            &self.stft.win,
        );
        self.emit(hop);
        self.ola.copy_within(hop..n, 0);
        self.norm.copy_within(hop..n, 0);
        self.ola[n - hop..].fill(0.0);
        self.norm[n - hop..].fill(0.0);
        Ok(())
    }

    /// Moves the first `count` overlap-add samples, normalised, to the ready queue.
    fn emit(&mut self, count: usize) {
        for i in 0..count {
            if self.skip > 0 {
                self.skip -= 1;
            } else {
                self.ready.push_back(normalise(self.ola[i], self.norm[i]));
            }
        }
    }

    /// Samples ready to pull.
    pub fn available(&self) -> usize {
        self.ready.len()
    }

    /// Moves up to `out.len()` ready samples into `out`; returns how many.
    pub fn pull(&mut self, out: &mut [f32]) -> usize {
        let k = out.len().min(self.ready.len());
        for (o, s) in out.iter_mut().zip(self.ready.drain(..k)) {
            *o = s;
        }
        k
    }

    /// Ends the stream: the tail still in the overlap-add buffer becomes ready.
    pub fn finish(&mut self) {
        let rest = self.stft.cfg.n_fft - self.stft.cfg.hop;
        self.emit(rest);
        self.ola.fill(0.0);
        self.norm.fill(0.0);
    }
}

/// SNR in dB of `y` as a reconstruction of `x`: `10 log10(Σx² / Σ(x−y)²)`.
pub fn snr_db(x: &[f32], y: &[f32]) -> f64 {
    let (mut s, mut e) = (0.0f64, 0.0f64);
    for (&a, &b) in x.iter().zip(y) {
        s += f64::from(a) * f64::from(a);
        e += (f64::from(a) - f64::from(b)).powi(2);
    }
    10.0 * (s / e.max(f64::MIN_POSITIVE)).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chirp(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 0.01 + (i * i) as f32 * 1e-5).sin())
            .collect()
    }

    #[test]
    fn frame_count_matches_scipy_padding() {
        let c = SpectralConfig {
            n_fft: 256,
            hop: 128,
            window: Window::Hann,
        };
        // scipy.signal.stft(np.zeros(1000), nperseg=256) gives 9 frames.
        assert_eq!(c.n_frames(1000), 9);
        assert_eq!(c.n_frames(1), 2);
        assert_eq!(SpectralConfig { hop: 64, ..c }.n_frames(1000), 17);
        assert!(SpectralConfig { hop: 200, ..c }.validate().is_err());
        assert!(SpectralConfig { n_fft: 255, ..c }.validate().is_err());
    }

    #[test]
    fn round_trip_reconstructs_for_all_windows() {
        let x = chirp(5000);
        for window in [
            Window::Hann,
            Window::Hamming,
            Window::Blackman,
            Window::Kaiser { beta: 6.0 },
        ] {
            let cfg = SpectralConfig {
                n_fft: 128,
                hop: 32,
                window,
            };
            let mut s = Stft::new(&cfg).unwrap();
            let (mut spec, mut y) = (Vec::new(), Vec::new());
            s.forward(&x, &mut spec);
            s.inverse(&spec, x.len(), &mut y).unwrap();
            assert!(snr_db(&x, &y) > 100.0, "{window:?}: {}", snr_db(&x, &y));
        }
    }

    #[test]
    fn spectrum_scaling_gives_sine_amplitude_over_two() {
        let cfg = SpectralConfig {
            n_fft: 256,
            hop: 64,
            window: Window::Hann,
        };
        let x: Vec<f32> = (0..4096)
            .map(|i| (2.0 * std::f32::consts::PI * 16.0 * i as f32 / 256.0).cos())
            .collect();
        let mut s = Stft::new(&cfg).unwrap();
        let mut spec = Vec::new();
        s.forward(&x, &mut spec);
        let mid = 20 * cfg.n_bins();
        assert!(
            (spec[mid + 16].norm() - 0.5).abs() < 1e-4,
            "{}",
            spec[mid + 16].norm()
        );
    }

    #[test]
    fn streaming_equals_batch_for_any_pull_sizes() {
        let cfg = SpectralConfig::default();
        let x = chirp(3001);
        let mut s = Stft::new(&cfg).unwrap();
        let (mut spec, mut y) = (Vec::new(), Vec::new());
        s.forward(&x, &mut spec);
        s.inverse(&spec, x.len(), &mut y).unwrap();
        let mut st = StreamingIstft::new(&cfg).unwrap();
        let mut got = Vec::new();
        let mut buf = [0.0f32; 37];
        for f in spec.chunks(cfg.n_bins()) {
            st.push(f).unwrap();
            let k = st.pull(&mut buf);
            got.extend_from_slice(&buf[..k]);
        }
        st.finish();
        while st.available() > 0 {
            let k = st.pull(&mut buf);
            got.extend_from_slice(&buf[..k]);
        }
        assert!(got.len() >= x.len());
        assert_eq!(&got[..x.len()], &y[..]);
        assert!(st.push(&spec[..3]).is_err());
    }
}
