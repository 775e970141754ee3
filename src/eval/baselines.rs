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
            // The FFT treats the window as periodic: what its rectangular edges leak from
            // the strong low frequencies becomes a broadband floor once the phases are
            // random (EEGMAT: far above the record beyond its 45 Hz low-pass; visible in
            // the report's PSD plot). Taking the line through the end points off first and
            // back after lowered that floor little and made the surrogate easier to tell
            // apart (held out, fold 2: AUC 0.27 → 0.66; training data 0.76 → 0.94): kept as
            // the textbook surrogate.
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

/// `n` windows cycling through those of `w` (the first `n` if it has more): with
/// [`phase_randomised`], a surrogate as large as the set it stands beside, each repeat
/// with fresh phases (a discriminator's AUC grows with the windows it is given).
pub fn cycled(w: &Windows, n: usize) -> Windows {
    let mut out = w.clone();
    out.windows = w.windows.iter().cycle().take(n).cloned().collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycled_repeats_the_windows_in_order_and_phases_differ_per_repeat() {
        let w = Windows {
            rate: 100.0,
            labels: vec!["Cz".into()],
            units: vec!["uV".into()],
            windows: vec![
                vec![vec![1.0, 2.0, 3.0, 4.0]],
                vec![vec![4.0, 3.0, 2.0, 1.0]],
            ],
            source: "test".into(),
        };
        let c = cycled(&w, 5);
        let firsts: Vec<f32> = c.windows.iter().map(|x| x[0][0]).collect();
        assert_eq!(firsts, [1.0, 4.0, 1.0, 4.0, 1.0]);
        let s = phase_randomised(&c, 3);
        assert_ne!(s.windows[0], s.windows[2], "a repeat draws fresh phases");
    }
}
