//! ECG artefacts added per lead: baseline wander, mains hum, EMG, electrode motion and
//! lead-off. Each is stateful (filters, phases) and draws its noise frame by frame.

use super::filters::OnePole;
use super::gauss;
use super::params::EcgParams;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::f64::consts::TAU;

/// Per-lead state of the artefacts.
#[derive(Debug, Clone)]
struct LeadNoise {
    phase: f64,
    mains_gain: f64,
    wander: OnePole,
    emg_lp: OnePole,
    motion: f64,
    motion_lp: OnePole,
    off: bool,
}

/// All artefacts of one ECG stream.
#[derive(Debug, Clone)]
pub struct Artefacts {
    p: EcgParams,
    leads: Vec<LeadNoise>,
    wander_scale: f64,
    emg_scale: f64,
    motion_decay: f64,
}

impl Artefacts {
    /// Artefacts for `leads` (names) with per-lead phases and gains drawn from `rng`.
    pub fn new(p: &EcgParams, leads: &[&str], rng: &mut ChaCha8Rng) -> Self {
        let off = super::leads::parse_list(&p.lead_off).unwrap_or_default();
        let fs = p.fs;
        let wander = OnePole::new(0.05, fs);
        let emg_lp = OnePole::new(20.0, fs);
        let a = (-TAU * 20.0 / fs).exp();
        let leads = leads
            .iter()
            .map(|name| LeadNoise {
                phase: rng.random_range(-0.3..0.3),
                mains_gain: rng.random_range(0.7..1.3),
                wander: wander.clone(),
                emg_lp: emg_lp.clone(),
                motion: 0.0,
                motion_lp: OnePole::new(8.0, fs),
                off: off.iter().any(|l| l.name == *name),
            })
            .collect();
        Self {
            p: p.clone(),
            leads,
            wander_scale: 1.0 / wander.white_gain().sqrt(),
            emg_scale: 1.0 / (a * a * 2.0 / (1.0 + a)).sqrt(),
            motion_decay: (-1.0 / (0.5 * fs)).exp(),
        }
    }

    /// Whether any artefact is switched on (if not, `apply` is the identity).
    pub fn any(&self) -> bool {
        let p = &self.p;
        p.baseline_mv > 0.0
            || p.mains_mv > 0.0
            || p.emg_mv > 0.0
            || p.motion_mv > 0.0
            || self.leads.iter().any(|l| l.off)
    }

    /// The sample of lead `l` at time `t` given its clean value `x`.
    #[inline]
    pub fn apply(&mut self, l: usize, t: f64, x: f64, rng: &mut ChaCha8Rng) -> f64 {
        let p = &self.p;
        let s = &mut self.leads[l];
        if s.off && t >= p.lead_off_at_s {
            return p.lead_off_mv;
        }
        let mut y = x;
        if p.baseline_mv > 0.0 {
            let slow = s.wander.step(gauss(rng)) * self.wander_scale;
            y += p.baseline_mv * (0.8 * (TAU * p.rsa_hz * t + s.phase * 10.0).sin() + 0.6 * slow);
        }
        if p.mains_mv > 0.0 {
            let ph = TAU * p.mains_hz * t + s.phase;
            y += p.mains_mv * s.mains_gain * (ph.sin() + 0.15 * (3.0 * ph).sin());
        }
        if p.emg_mv > 0.0 {
            let w = gauss(rng);
            let lp = s.emg_lp.step(w);
            y += p.emg_mv * (w - lp) * self.emg_scale;
        }
        if p.motion_mv > 0.0 {
            s.motion *= self.motion_decay;
            if rng.random::<f64>() < p.motion_rate_hz / p.fs {
                s.motion += 2.0 * p.motion_mv * gauss(rng);
            }
            y += s.motion_lp.step(s.motion);
        }
        y
    }

    /// Largest excursion the artefacts can add, mV (for the channel range).
    pub fn headroom(&self) -> f64 {
        let p = &self.p;
        2.0 * p.baseline_mv
            + 1.5 * p.mains_mv
            + 5.0 * p.emg_mv
            + 8.0 * p.motion_mv
            + p.lead_off_mv.abs()
    }
}
