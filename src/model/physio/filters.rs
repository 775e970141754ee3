//! Small stateful filters driven by white noise: the building blocks that let the
//! physiological generators stream forever with no segment seams.

use std::f64::consts::TAU;

/// One-pole low-pass `y ← a·y + (1−a)·x` with unit DC gain.
#[derive(Debug, Clone)]
pub struct OnePole {
    a: f64,
    y: f64,
}

impl OnePole {
    /// Corner at `fc` Hz for sample rate `fs`.
    pub fn new(fc: f64, fs: f64) -> Self {
        Self {
            a: (-TAU * fc / fs).exp(),
            y: 0.0,
        }
    }

    /// Filters one sample.
    #[inline]
    pub fn step(&mut self, x: f64) -> f64 {
        self.y = self.a * self.y + (1.0 - self.a) * x;
        self.y
    }

    /// Output variance for unit-variance white input.
    pub fn white_gain(&self) -> f64 {
        (1.0 - self.a) / (1.0 + self.a)
    }
}

/// Two-pole resonator (AR(2)) at `f0` with bandwidth `bw`: narrow-band noise from white
/// noise, scaled to unit output variance.
#[derive(Debug, Clone)]
pub struct Resonator {
    a1: f64,
    a2: f64,
    scale: f64,
    y1: f64,
    y2: f64,
}

impl Resonator {
    /// Resonance at `f0` Hz, bandwidth about `bw` Hz, sample rate `fs`.
    pub fn new(f0: f64, bw: f64, fs: f64) -> Self {
        let r = (-std::f64::consts::PI * bw / fs).exp();
        let (a1, a2) = (2.0 * r * (TAU * f0 / fs).cos(), -r * r);
        let var = (1.0 - a2) / ((1.0 + a2) * ((1.0 - a2).powi(2) - a1 * a1));
        Self {
            a1,
            a2,
            scale: 1.0 / var.sqrt(),
            y1: 0.0,
            y2: 0.0,
        }
    }

    /// Filters one white-noise sample; output has unit variance in steady state.
    #[inline]
    pub fn step(&mut self, x: f64) -> f64 {
        let y = self.a1 * self.y1 + self.a2 * self.y2 + x;
        self.y2 = self.y1;
        self.y1 = y;
        y * self.scale
    }
}

/// 1/f^β noise as a sum of one-pole low-passes with log-spaced corners and weights
/// `f_k^(−β/2)` (valid for 0 < β < 2), scaled to unit variance.
#[derive(Debug, Clone)]
pub struct PinkBank {
    poles: Vec<OnePole>,
    weights: Vec<f64>,
}

impl PinkBank {
    /// Corners from 0.1 Hz to fs/4, a factor 2 apart.
    pub fn new(beta: f64, fs: f64) -> Self {
        let mut corners = vec![];
        let mut f = 0.1;
        while f < fs / 4.0 {
            corners.push(f);
            f *= 2.0;
        }
        let poles: Vec<OnePole> = corners.iter().map(|&f| OnePole::new(f, fs)).collect();
        let mut weights: Vec<f64> = corners.iter().map(|f| f.powf(-beta / 2.0)).collect();
        let var: f64 = poles
            .iter()
            .zip(&weights)
            .map(|(p, w)| w * w * p.white_gain())
            .sum();
        weights.iter_mut().for_each(|w| *w /= var.sqrt());
        Self { poles, weights }
    }

    /// Number of white-noise inputs one step consumes.
    pub fn inputs(&self) -> usize {
        self.poles.len()
    }

    /// One output sample from `inputs()` independent unit normals.
    #[inline]
    pub fn step(&mut self, noise: impl Iterator<Item = f64>) -> f64 {
        let mut y = 0.0;
        for ((p, w), x) in self.poles.iter_mut().zip(&self.weights).zip(noise) {
            y += p.step(x * w);
        }
        y
    }
}
