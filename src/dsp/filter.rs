//! IIR filters as second-order sections: Butterworth low/high/band-pass by the bilinear
//! transform, a notch, causal filtering and zero-phase `filtfilt`.
//!
//! Designs match `scipy.signal.butter(..., output='sos')` and `iirnotch` as transfer
//! functions (section pairing may differ, the filter does not); [`Sos::filtfilt`] matches
//! `scipy.signal.sosfiltfilt` defaults: odd extension of `3·(2·sections + 1)` samples (less
//! one per trailing-zero section, as scipy counts) and steady-state initial conditions.

use crate::{Error, Result};
use realfft::num_complex::Complex64;
use std::f64::consts::PI;

/// Which frequencies a Butterworth filter passes (cut-offs in Hz).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Band {
    /// Passes below the cut-off.
    Lowpass(f64),
    /// Passes above the cut-off.
    Highpass(f64),
    /// Passes between the two cut-offs.
    Bandpass(f64, f64),
}

/// A cascade of biquads, each `[b0, b1, b2, a0, a1, a2]` with `a0 = 1` (scipy's layout).
#[derive(Debug, Clone, PartialEq)]
pub struct Sos {
    /// The sections, applied in order.
    pub sections: Vec<[f64; 6]>,
}

fn check_freq(f: f64, fs: f64, what: &str) -> Result<()> {
    if !(fs.is_finite() && fs > 0.0) {
        return Err(Error::BadInput(format!(
            "{what}: sample rate {fs} Hz is not positive"
        )));
    }
    if !(f.is_finite() && f > 0.0 && f < fs / 2.0) {
        return Err(Error::BadInput(format!(
            "{what}: {f} Hz must lie strictly between 0 and Nyquist ({} Hz at {fs} Hz): \
             the sample rate is too low for this band",
            fs / 2.0
        )));
    }
    Ok(())
}

/// `x`'s baseline below `hz`: its zero-phase order-2 Butterworth low-pass. One definition
/// for what `model::wander` replays and what a frame model's training signals leave to it
/// (`DataConfig::remove_baseline_hz`).
pub fn baseline(x: &[f32], hz: f64, fs: f64) -> Result<Vec<f32>> {
    butter(2, Band::Lowpass(hz), fs)?.filtfilt(x)
}

/// Butterworth filter of `order` (per edge) for `band` at sample rate `fs`, as SOS.
pub fn butter(order: usize, band: Band, fs: f64) -> Result<Sos> {
    if order == 0 || order > 16 {
        return Err(Error::BadInput(format!(
            "butterworth: order must be in 1..=16, got {order}"
        )));
    }
    // Pre-warped analog frequencies (rad/s) for a bilinear transform at rate fs.
    let warp = |f: f64| 2.0 * fs * (PI * f / fs).tan();
    let proto: Vec<Complex64> = (0..order)
        .map(|k| {
            let theta = PI * (2 * k + 1 + order) as f64 / (2 * order) as f64;
            Complex64::from_polar(1.0, theta)
        })
        .collect();
    let (poles, zero, gain): (Vec<Complex64>, Vec<f64>, f64) = match band {
        Band::Lowpass(f) => {
            check_freq(f, fs, "low-pass cut-off")?;
            let w = warp(f);
            (
                proto.iter().map(|p| p * w).collect(),
                vec![],
                w.powi(order as i32),
            )
        }
        Band::Highpass(f) => {
            check_freq(f, fs, "high-pass cut-off")?;
            let w = warp(f);
            let prod: Complex64 = proto.iter().map(|p| -p).product();
            let p = proto.iter().map(|p| w / p).collect();
            (p, vec![0.0; order], 1.0 / prod.re)
        }
        Band::Bandpass(lo, hi) => {
            check_freq(lo, fs, "band-pass low edge")?;
            check_freq(hi, fs, "band-pass high edge")?;
            if lo >= hi {
                return Err(Error::BadInput(format!(
                    "band-pass: low edge {lo} Hz ≥ high edge {hi} Hz"
                )));
            }
            let (w1, w2) = (warp(lo), warp(hi));
            let (bw, w0) = (w2 - w1, (w1 * w2).sqrt());
            let mut p = Vec::with_capacity(2 * order);
            for q in &proto {
                let pl = q * bw / 2.0;
                let d = (pl * pl - w0 * w0).sqrt();
                p.push(pl + d);
                p.push(pl - d);
            }
            (p, vec![0.0; order], bw.powi(order as i32))
        }
    };
    Ok(bilinear_to_sos(&poles, &zero, gain, fs))
}

/// Bilinear transform of an analog zpk (real zeros) to digital SOS with unit pairing.
fn bilinear_to_sos(poles: &[Complex64], zeros: &[f64], k: f64, fs: f64) -> Sos {
    let fs2 = 2.0 * fs;
    let pz: Vec<Complex64> = poles.iter().map(|p| (fs2 + p) / (fs2 - p)).collect();
    let mut zz: Vec<f64> = zeros.iter().map(|z| (fs2 + z) / (fs2 - z)).collect();
    zz.resize(poles.len(), -1.0);
    let num: f64 = zeros.iter().map(|z| fs2 - z).product();
    let den: Complex64 = poles.iter().map(|p| fs2 - p).product();
    let kz = k * (num / den).re;
    // Poles with positive imaginary part stand for their conjugate pair; real ones alone.
    let mut complex: Vec<Complex64> = pz.iter().copied().filter(|p| p.im > 1e-12).collect();
    let mut real: Vec<f64> = pz
        .iter()
        .filter(|p| p.im.abs() <= 1e-12)
        .map(|p| p.re)
        .collect();
    complex.sort_by(|a, b| a.norm().total_cmp(&b.norm()));
    real.sort_by(f64::total_cmp);
    zz.sort_by(f64::total_cmp);
    let mut zi = zz.into_iter();
    let mut sections = Vec::new();
    for p in complex {
        let (z1, z2) = (zi.next().unwrap_or(-1.0), zi.next().unwrap_or(-1.0));
        sections.push([1.0, -(z1 + z2), z1 * z2, 1.0, -2.0 * p.re, p.norm_sqr()]);
    }
    for pair in real.chunks(2) {
        if let [p1, p2] = pair {
            let (z1, z2) = (zi.next().unwrap_or(-1.0), zi.next().unwrap_or(-1.0));
            sections.push([1.0, -(z1 + z2), z1 * z2, 1.0, -(p1 + p2), p1 * p2]);
        } else {
            let z1 = zi.next().unwrap_or(-1.0);
            sections.push([1.0, -z1, 0.0, 1.0, -pair[0], 0.0]);
        }
    }
    for c in &mut sections[0][..3] {
        *c *= kz;
    }
    Sos { sections }
}

/// Notch at `f0` Hz with quality factor `q` (−3 dB width `f0/q`), like `scipy.signal.iirnotch`.
pub fn notch(f0: f64, q: f64, fs: f64) -> Result<Sos> {
    check_freq(f0, fs, "notch frequency")?;
    if !(q.is_finite() && q > 0.0) {
        return Err(Error::BadInput(format!(
            "notch: quality factor must be > 0, got {q}"
        )));
    }
    let w0 = 2.0 * PI * f0 / fs;
    let beta = (w0 / q / 2.0).tan();
    let g = 1.0 / (1.0 + beta);
    let c = -2.0 * w0.cos();
    Ok(Sos {
        sections: vec![[g, g * c, g, 1.0, g * c, 2.0 * g - 1.0]],
    })
}

impl Sos {
    /// Appends `other`'s sections (the cascade of both filters).
    pub fn then(mut self, other: Sos) -> Sos {
        self.sections.extend(other.sections);
        self
    }

    /// Edge extension `filtfilt` uses: scipy's `3·(2·sections + 1 − trailing-zero sections)`.
    pub fn padlen(&self) -> usize {
        let zb = self.sections.iter().filter(|s| s[2] == 0.0).count();
        let za = self.sections.iter().filter(|s| s[5] == 0.0).count();
        3 * (2 * self.sections.len() + 1 - zb.min(za))
    }

    /// Steady-state section states for a unit step (scipy's `sosfilt_zi`).
    fn zi(&self) -> Vec<[f64; 2]> {
        let mut scale = 1.0;
        self.sections
            .iter()
            .map(|s| {
                let g = (s[0] + s[1] + s[2]) / (1.0 + s[4] + s[5]);
                let z2 = s[2] - s[5] * g;
                let z1 = s[1] - s[4] * g + z2;
                let zi = [scale * z1, scale * z2];
                scale *= g;
                zi
            })
            .collect()
    }

    /// Causal filtering in place from states `state` (transposed direct form II).
    fn run(&self, x: &mut [f64], state: &mut [[f64; 2]]) {
        for (s, z) in self.sections.iter().zip(state.iter_mut()) {
            for v in x.iter_mut() {
                let y = s[0] * *v + z[0];
                z[0] = s[1] * *v - s[4] * y + z[1];
                z[1] = s[2] * *v - s[5] * y;
                *v = y;
            }
        }
    }

    /// Causal filtering from rest (scipy's `sosfilt`).
    pub fn filter(&self, x: &mut [f64]) {
        let mut state = vec![[0.0; 2]; self.sections.len()];
        self.run(x, &mut state);
    }

    /// Zero-phase filtering (forward then backward) with odd edge extension.
    pub fn filtfilt(&self, x: &[f32]) -> Result<Vec<f32>> {
        let pad = self.padlen();
        if x.len() <= pad {
            return Err(Error::BadInput(format!(
                "filtfilt: signal of {} samples is too short, need more than {pad}",
                x.len()
            )));
        }
        let n = x.len();
        let xs = |i: usize| f64::from(x[i]);
        let mut ext = Vec::with_capacity(n + 2 * pad);
        ext.extend((1..=pad).rev().map(|i| 2.0 * xs(0) - xs(i)));
        ext.extend(x.iter().map(|&v| f64::from(v)));
        ext.extend((1..=pad).map(|i| 2.0 * xs(n - 1) - xs(n - 1 - i)));
        let zi = self.zi();
        let scaled = |v: f64| zi.iter().map(|z| [z[0] * v, z[1] * v]).collect::<Vec<_>>();
        let mut st = scaled(ext[0]);
        self.run(&mut ext, &mut st);
        ext.reverse();
        let mut st = scaled(ext[0]);
        self.run(&mut ext, &mut st);
        ext.reverse();
        Ok(ext[pad..pad + n].iter().map(|&v| v as f32).collect())
    }

    /// Magnitude response at `f` Hz for sample rate `fs`.
    pub fn gain_at(&self, f: f64, fs: f64) -> f64 {
        let z = Complex64::from_polar(1.0, -2.0 * PI * f / fs);
        let z2 = z * z;
        self.sections
            .iter()
            .map(|s| ((s[0] + s[1] * z + s[2] * z2) / (s[3] + s[4] * z + s[5] * z2)).norm())
            .product()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn butterworth_has_minus_3_db_at_cutoffs_and_passes_the_band() {
        let fs = 500.0;
        let lp = butter(4, Band::Lowpass(40.0), fs).unwrap();
        assert!((lp.gain_at(40.0, fs) - 0.5f64.sqrt()).abs() < 1e-9);
        assert!((lp.gain_at(0.0, fs) - 1.0).abs() < 1e-9 && lp.gain_at(200.0, fs) < 1e-4);
        let hp = butter(3, Band::Highpass(0.5), fs).unwrap();
        assert!((hp.gain_at(0.5, fs) - 0.5f64.sqrt()).abs() < 1e-9 && hp.gain_at(0.0, fs) < 1e-12);
        let bp = butter(2, Band::Bandpass(5.0, 15.0), fs).unwrap();
        assert_eq!(bp.sections.len(), 2);
        for f in [5.0, 15.0] {
            assert!((bp.gain_at(f, fs) - 0.5f64.sqrt()).abs() < 1e-9, "{f}");
        }
        assert!((bp.gain_at((75.0f64).sqrt() * 1.0, fs) - 1.0).abs() < 0.05);
    }

    #[test]
    fn notch_removes_mains_and_band_errors_name_nyquist() {
        let n = notch(50.0, 30.0, 250.0).unwrap();
        assert!(n.gain_at(50.0, 250.0) < 1e-9 && (n.gain_at(10.0, 250.0) - 1.0).abs() < 1e-2);
        let e = butter(2, Band::Lowpass(70.0), 128.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("too low") && e.contains("64"), "{e}");
        assert!(butter(2, Band::Bandpass(10.0, 5.0), 128.0).is_err());
    }

    #[test]
    fn filtfilt_keeps_phase_of_a_passband_tone() {
        let fs = 360.0f32;
        let x: Vec<f32> = (0..3600)
            .map(|i| (2.0 * std::f32::consts::PI * 10.0 * i as f32 / fs).sin())
            .collect();
        let y = butter(2, Band::Bandpass(5.0, 30.0), 360.0)
            .unwrap()
            .filtfilt(&x)
            .unwrap();
        let err = x[500..3100]
            .iter()
            .zip(&y[500..3100])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.02, "{err}");
        assert!(butter(2, Band::Lowpass(10.0), 360.0)
            .unwrap()
            .filtfilt(&x[..9])
            .is_err());
    }
}
