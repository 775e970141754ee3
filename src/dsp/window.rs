//! Analysis windows (Hann, Hamming, Blackman, Kaiser), periodic or symmetric.
//!
//! Periodic windows (length `n` taken from a symmetric window of `n + 1`) are what STFTs
//! use, as `scipy.signal.get_window` returns by default; symmetric ones suit FIR design.

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// A window shape; serialised as `{"kind":"hann"}` or `{"kind":"kaiser","beta":8.6}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Window {
    /// Raised cosine `0.5 − 0.5 cos`: the default for spectra (COLA at hop ≤ n/2).
    #[default]
    Hann,
    /// `0.54 − 0.46 cos`.
    Hamming,
    /// Three-term Blackman `0.42 − 0.5 cos + 0.08 cos 2`.
    Blackman,
    /// Kaiser window with shape parameter `beta` (larger: lower side lobes, wider main lobe).
    Kaiser {
        /// Shape parameter β.
        beta: f64,
    },
}

impl Window {
    /// `n` window samples; `periodic` drops the last sample of an `n + 1` symmetric window.
    pub fn samples(self, n: usize, periodic: bool) -> Vec<f64> {
        if n == 0 {
            return Vec::new();
        }
        if n == 1 {
            return vec![1.0];
        }
        let m = if periodic { n + 1 } else { n };
        let denom = (m - 1) as f64;
        (0..n).map(|i| self.value(i as f64, denom)).collect()
    }

    /// Value at position `i` of a symmetric window spanning `0..=denom`.
    fn value(self, i: f64, denom: f64) -> f64 {
        let phase = 2.0 * PI * i / denom;
        match self {
            Window::Hann => 0.5 - 0.5 * phase.cos(),
            Window::Hamming => 0.54 - 0.46 * phase.cos(),
            Window::Blackman => 0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos(),
            Window::Kaiser { beta } => {
                let r = 2.0 * i / denom - 1.0;
                bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(beta)
            }
        }
    }

    /// Checks parameters (Kaiser β finite and non-negative); `what` names the field.
    pub fn validate(self, what: &str) -> crate::Result<()> {
        match self {
            Window::Kaiser { beta } if !(beta.is_finite() && beta >= 0.0) => Err(
                crate::Error::BadInput(format!("{what}: Kaiser beta must be ≥ 0, got {beta}")),
            ),
            _ => Ok(()),
        }
    }
}

/// Modified Bessel function of the first kind, order 0, by its power series.
pub fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let (mut term, mut sum, mut k) = (1.0f64, 1.0f64, 1.0f64);
    while term > sum * 1e-17 {
        term *= q / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_hann_sums_to_half_length_and_symmetric_ends_at_zero() {
        let w = Window::Hann.samples(256, true);
        assert!((w.iter().sum::<f64>() - 128.0).abs() < 1e-9);
        assert_eq!(w[0], 0.0);
        let s = Window::Hann.samples(9, false);
        assert!(s[8].abs() < 1e-15 && (s[4] - 1.0).abs() < 1e-15);
    }

    #[test]
    fn kaiser_matches_known_values() {
        // scipy.signal.windows.kaiser(5, 8.0): ends = 1/I0(8), centre 1.
        let w = Window::Kaiser { beta: 8.0 }.samples(5, false);
        assert!((w[0] - 1.0 / 427.564_115_6).abs() < 1e-9, "{}", w[0]);
        assert!((w[2] - 1.0).abs() < 1e-15);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008).abs() < 1e-14);
        assert!(Window::Kaiser { beta: -1.0 }.validate("w").is_err());
    }

    #[test]
    fn hamming_and_blackman_have_their_endpoints() {
        let h = Window::Hamming.samples(11, false);
        assert!((h[0] - 0.08).abs() < 1e-12 && (h[5] - 1.0).abs() < 1e-12);
        let b = Window::Blackman.samples(11, false);
        assert!(b[0].abs() < 1e-12 && (b[5] - 1.0).abs() < 1e-12);
    }
}
