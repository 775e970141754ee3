//! Reference points every evaluation reports: a phase-randomised surrogate of the real
//! windows (same amplitude spectrum, no temporal structure) and matched white noise; with
//! training data, the same surrogate of the training windows (a generator that learned
//! only its training data's spectra, the fair baseline for held-out data).

use super::windows::Windows;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustfft::{num_complex::Complex32, FftPlanner};

/// Each window of `real` (or of any set) with its Fourier phases replaced by uniform random
/// ones.
pub fn phase_randomised(real: &Windows, seed: u64) -> Windows {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = real.len();
    let mut planner = FftPlanner::<f32>::new();
    let (fwd, inv) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let mut buf = vec![Complex32::default(); n];
    let mut out = real.clone();
    for win in &mut out.windows {
        for x in win.iter_mut() {
            buf.iter_mut()
                .zip(x.iter())
                .for_each(|(b, &v)| *b = Complex32::new(v, 0.0));
            fwd.process(&mut buf);
            // Random phase for bins 1..n/2, mirrored so the result stays real; DC and
            // Nyquist keep theirs.
            for k in 1..n.div_ceil(2) {
                let phi = rng.random::<f32>() * std::f32::consts::TAU;
                let z = Complex32::from_polar(buf[k].norm(), phi);
                buf[k] = z;
                buf[n - k] = z.conj();
            }
            inv.process(&mut buf);
            x.iter_mut()
                .zip(&buf)
                .for_each(|(v, b)| *v = b.re / n as f32);
        }
    }
    out
}

/// Gaussian white noise with each real window-channel's mean and standard deviation.
pub fn white_noise(real: &Windows, seed: u64) -> Windows {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut out = real.clone();
    for win in &mut out.windows {
        for x in win.iter_mut() {
            let n = x.len() as f32;
            let m = x.iter().sum::<f32>() / n;
            let sd = (x.iter().map(|v| (v - m).powi(2)).sum::<f32>() / n).sqrt();
            for v in x.iter_mut() {
                let g: f32 = rng.sample(rand_distr::StandardNormal);
                *v = m + sd * g;
            }
        }
    }
    out
}
