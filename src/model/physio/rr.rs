//! The RR tachogram of ECGSYN: a unit-variance Gaussian process with a bimodal spectrum
//! (Mayer waves near 0.1 Hz, respiratory sinus arrhythmia near 0.25 Hz, power ratio
//! LF/HF), synthesised by inverse FFT with random phases, one segment at a time.
//!
//! Segments overlap and are joined with an equal-power (cos/sin) crossfade, so the process
//! runs forever without seams and keeps its variance across joins.

use rand::Rng;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Sample rate of the tachogram, Hz (its content stays below 0.5 Hz).
pub const RATE: f64 = 2.0;
const SEG: usize = 512;
const OVERLAP: usize = 64;

/// Spectral shape of the RR process.
#[derive(Debug, Clone, Copy)]
pub struct Spectrum {
    /// LF (Mayer) peak centre, Hz.
    pub f1: f64,
    /// HF (RSA) peak centre, Hz.
    pub f2: f64,
    /// LF peak standard deviation, Hz.
    pub c1: f64,
    /// HF peak standard deviation, Hz.
    pub c2: f64,
    /// LF/HF power ratio.
    pub lf_hf: f64,
}

impl Spectrum {
    /// Amplitude spectrum |X(f)| = sqrt(S(f)) with S the sum of two Gaussians.
    fn amplitude(&self, f: f64) -> f64 {
        let g = |f0: f64, c: f64, p: f64| p / c * (-(f - f0).powi(2) / (2.0 * c * c)).exp();
        (g(self.f1, self.c1, self.lf_hf) + g(self.f2, self.c2, 1.0)).sqrt()
    }
}

/// A zero-mean unit-variance tachogram process sampled at [`RATE`], endless.
pub struct Tachogram {
    spectrum: Spectrum,
    fft: Arc<dyn Fft<f64>>,
    buf: Vec<Complex<f64>>,
    /// Ready samples; `ready[0]` is sample number `base`.
    ready: Vec<f64>,
    base: u64,
    /// Last `OVERLAP` samples of the previous segment, waiting for the crossfade.
    tail: Vec<f64>,
}

impl Tachogram {
    /// A tachogram with `spectrum`, drawing from `rng` segment by segment.
    pub fn new<R: Rng>(spectrum: Spectrum, rng: &mut R) -> Self {
        let fft = FftPlanner::new().plan_fft_inverse(SEG);
        let mut t = Self {
            spectrum,
            fft,
            buf: vec![Complex::default(); SEG],
            ready: Vec::new(),
            base: 0,
            tail: Vec::new(),
        };
        t.tail = t.segment(rng)[SEG - OVERLAP..].to_vec();
        t
    }

    /// One independent segment, normalised to zero mean and unit variance.
    fn segment<R: Rng>(&mut self, rng: &mut R) -> Vec<f64> {
        let df = RATE / SEG as f64;
        self.buf.iter_mut().for_each(|c| *c = Complex::default());
        for k in 1..SEG / 2 {
            let a = self.spectrum.amplitude(k as f64 * df);
            let c = Complex::new(super::gauss(rng), super::gauss(rng)) * a;
            self.buf[k] = c;
            self.buf[SEG - k] = c.conj();
        }
        self.fft.process(&mut self.buf);
        let x: Vec<f64> = self.buf.iter().map(|c| c.re).collect();
        let mean = x.iter().sum::<f64>() / SEG as f64;
        let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / SEG as f64).sqrt();
        x.iter().map(|v| (v - mean) / sd.max(1e-300)).collect()
    }

    /// Appends the next segment's samples (crossfaded over the overlap).
    fn extend<R: Rng>(&mut self, rng: &mut R) {
        let seg = self.segment(rng);
        for (i, (old, new)) in self.tail.iter().zip(&seg).enumerate() {
            let u = (i as f64 + 0.5) / OVERLAP as f64 * std::f64::consts::FRAC_PI_2;
            self.ready.push(old * u.cos() + new * u.sin());
        }
        self.ready.extend_from_slice(&seg[OVERLAP..SEG - OVERLAP]);
        self.tail = seg[SEG - OVERLAP..].to_vec();
    }

    /// Value at time `t` seconds (linear interpolation). Times must not go backwards by
    /// more than a few seconds; older samples are dropped.
    pub fn at<R: Rng>(&mut self, t: f64, rng: &mut R) -> f64 {
        let pos = (t.max(0.0) * RATE).max(self.base as f64);
        let i = pos.floor() as u64;
        while i + 2 > self.base + self.ready.len() as u64 {
            self.extend(rng);
        }
        let j = (i - self.base) as usize;
        let frac = pos - i as f64;
        let v = self.ready[j] * (1.0 - frac) + self.ready[j + 1] * frac;
        if j > 4 * SEG {
            let drop = j - 8;
            self.ready.drain(..drop);
            self.base += drop as u64;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn unit_variance_across_many_joins() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let s = Spectrum {
            f1: 0.1,
            f2: 0.25,
            c1: 0.01,
            c2: 0.01,
            lf_hf: 0.5,
        };
        let mut t = Tachogram::new(s, &mut rng);
        let x: Vec<f64> = (0..20_000)
            .map(|i| t.at(i as f64 / RATE, &mut rng))
            .collect();
        let var = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        assert!((var - 1.0).abs() < 0.1, "variance {var}");
        // Steps across the joins (start and end of each crossfade) are like any other
        // step; independent segments butted together would make them about 2x larger.
        let d: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
        let rms = |v: &[f64]| (v.iter().map(|a| a * a).sum::<f64>() / v.len() as f64).sqrt();
        let per = SEG - OVERLAP;
        let joins: Vec<f64> = (1..d.len() / per)
            .flat_map(|k| [k * per - 1, k * per + OVERLAP - 1])
            .map(|i| d[i])
            .collect();
        let ratio = rms(&joins) / rms(&d);
        assert!(
            (0.7..1.3).contains(&ratio),
            "steps at joins / all steps = {ratio}"
        );
    }
}
