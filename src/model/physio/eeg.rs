//! Multichannel EEG in µV: a 1/f^β background plus alpha, beta and theta rhythms
//! (narrow-band resonators with a slow shared amplitude modulation), optional sleep
//! spindles and K-complexes, and artefacts (blinks, muscle, mains).
//!
//! Each channel's background and rhythms are independent sources with a topography;
//! the sources are mixed by the Cholesky factor of a correlation matrix
//! `C_ij = exp(−d_ij / spatial_length)` over electrode distances, so neighbouring
//! electrodes correlate. Everything is a stateful filter driven sample by sample, so the
//! stream is endless and has no segment seams.

use super::filters::{OnePole, PinkBank, Resonator};
use super::gauss;
use super::params::{EegParams, Validate};
use crate::block::{Block, Event};
use crate::model::cholesky::cholesky;
use crate::model::Generator;
use crate::record::SignalSpec;
use crate::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::{PI, TAU};

/// The 19 electrodes of the 10-20 system with 2-D positions (x right, y nose; radius 1).
pub const TEN_TWENTY: [(&str, f64, f64); 19] = [
    ("Fp1", -0.31, 0.95),
    ("Fp2", 0.31, 0.95),
    ("F7", -0.81, 0.59),
    ("F3", -0.42, 0.53),
    ("Fz", 0.0, 0.5),
    ("F4", 0.42, 0.53),
    ("F8", 0.81, 0.59),
    ("T3", -1.0, 0.0),
    ("C3", -0.5, 0.0),
    ("Cz", 0.0, 0.0),
    ("C4", 0.5, 0.0),
    ("T4", 1.0, 0.0),
    ("T5", -0.81, -0.59),
    ("P3", -0.42, -0.53),
    ("Pz", 0.0, -0.5),
    ("P4", 0.42, -0.53),
    ("T6", 0.81, -0.59),
    ("O1", -0.31, -0.95),
    ("O2", 0.31, -0.95),
];

/// Electrodes named by `spec`: `10-20` or a comma list of 10-20 labels.
pub fn montage(spec: &str) -> Result<Vec<(&'static str, f64, f64)>, String> {
    if spec.trim() == "10-20" {
        return Ok(TEN_TWENTY.to_vec());
    }
    let out: Vec<_> = spec
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            TEN_TWENTY
                .iter()
                .find(|e| e.0.eq_ignore_ascii_case(s.trim()))
                .copied()
                .ok_or_else(|| {
                    let known: Vec<&str> = TEN_TWENTY.iter().map(|e| e.0).collect();
                    format!(
                        "unknown electrode `{}` (known: {})",
                        s.trim(),
                        known.join(", ")
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    if out.is_empty() {
        return Err("no channels given".into());
    }
    Ok(out)
}

fn topo(pos: &[(f64, f64)], fx: f64, fy: f64, sigma: f64) -> Vec<f64> {
    pos.iter()
        .map(|(x, y)| (-((x - fx).powi(2) + (y - fy).powi(2)) / (2.0 * sigma * sigma)).exp())
        .collect()
}

/// Lower Cholesky factor of `exp(−d/len)` over the electrode positions (row-major).
fn spatial_factor(pos: &[(f64, f64)], len: f64) -> Vec<f64> {
    cholesky(pos.len(), |i, j| {
        let d = ((pos[i].0 - pos[j].0).powi(2) + (pos[i].1 - pos[j].1).powi(2)).sqrt();
        (-d / len).exp()
    })
}

/// A rhythm: per-channel resonators, a topography and a shared slow envelope.
struct RhythmSrc {
    res: Vec<Resonator>,
    gain: Vec<f64>,
    env: OnePole,
    env_scale: f64,
}

/// A transient event in progress: start time and duration, with a random phase.
#[derive(Clone, Copy)]
struct Transient {
    start: f64,
    dur: f64,
    phase: f64,
}

/// Poisson event train with its next onset.
struct Train {
    rate_hz: f64,
    next: f64,
    current: Option<Transient>,
    /// Label given to each event as it starts.
    label: &'static str,
}

impl Train {
    fn new(per_min: f64, label: &'static str, rng: &mut ChaCha8Rng) -> Self {
        let mut t = Self {
            rate_hz: per_min / 60.0,
            next: f64::INFINITY,
            current: None,
            label,
        };
        t.next = t.gap(rng);
        t
    }

    fn gap(&self, rng: &mut ChaCha8Rng) -> f64 {
        if self.rate_hz <= 0.0 {
            return f64::INFINITY;
        }
        -(1.0 - rng.random::<f64>()).ln() / self.rate_hz
    }

    /// Starts an event at `t` and labels it; cold and out of line, to keep the per-sample
    /// path small (it runs a few times a minute).
    #[cold]
    #[inline(never)]
    fn start(&mut self, t: f64, dur: (f64, f64), rng: &mut ChaCha8Rng, events: &mut Vec<Event>) {
        let d = rng.random_range(dur.0..=dur.1);
        self.current = Some(Transient {
            start: t,
            dur: d,
            phase: rng.random_range(0.0..TAU),
        });
        self.next = t + d + self.gap(rng);
        events.push(Event {
            time: t,
            duration: d,
            label: self.label,
        });
    }

    /// Event active at `t` (starting one when due, labelled in `events`) and its local
    /// time.
    fn at(
        &mut self,
        t: f64,
        dur: (f64, f64),
        rng: &mut ChaCha8Rng,
        events: &mut Vec<Event>,
    ) -> Option<(Transient, f64)> {
        if self.current.is_none() && t >= self.next {
            self.start(t, dur, rng, events);
        }
        let e = self.current?;
        let tau = t - e.start;
        if tau >= e.dur {
            self.current = None;
            return None;
        }
        Some((e, tau))
    }
}

/// The spectral EEG generator.
pub struct Eeg {
    spec: SignalSpec,
    p: EegParams,
    rng: ChaCha8Rng,
    chol: Vec<f64>,
    bg: Vec<PinkBank>,
    rhythms: Vec<RhythmSrc>,
    spindles: Train,
    kcomplex: Train,
    blinks: Train,
    spindle_gain: Vec<f64>,
    k_gain: Vec<f64>,
    blink_gain: Vec<f64>,
    muscle_gain: Vec<f64>,
    muscle_lp: Vec<OnePole>,
    muscle_scale: f64,
    src: Vec<f64>,
    noise: Vec<f64>,
    frame: u64,
}

/// The alpha, beta and theta sources: a resonator per channel, each rhythm's topography
/// (occipital alpha, central beta, frontal theta) and a slow amplitude envelope.
fn rhythm_sources(p: &EegParams, pos: &[(f64, f64)]) -> Vec<RhythmSrc> {
    let n = pos.len();
    let mk = |f: f64, amp: f64, fx: f64, fy: f64, s: f64| {
        let env = OnePole::new(0.15, p.fs);
        RhythmSrc {
            res: (0..n)
                .map(|_| Resonator::new(f, p.rhythm_bw_hz, p.fs))
                .collect(),
            gain: topo(pos, fx, fy, s).iter().map(|g| g * amp).collect(),
            env_scale: p.am_depth / env.white_gain().sqrt(),
            env,
        }
    };
    vec![
        mk(p.alpha_hz, p.alpha_uv, 0.0, -0.95, 0.55),
        mk(p.beta_hz, p.beta_uv, 0.0, 0.3, 0.7),
        mk(p.theta_hz, p.theta_uv, 0.0, 0.5, 0.5),
    ]
}

/// Per-channel gains of blinks (falling off from just above Fp1/Fp2, 1 at Fp1/Fp2) and of
/// muscle (temporal, around the ears).
fn artefact_gains(pos: &[(f64, f64)]) -> (Vec<f64>, Vec<f64>) {
    let blink = pos
        .iter()
        .map(|(x, y)| (-(x * x + (y - 1.1).powi(2)).sqrt() / 0.25).exp() / (-0.35f64 / 0.25).exp())
        .collect();
    let muscle = pos
        .iter()
        .map(|(x, y)| (-(((x.abs() - 1.0).powi(2) + y * y) / (2.0 * 0.3 * 0.3))).exp())
        .collect();
    (blink, muscle)
}

/// Channels in µV with a range that holds every source at its largest.
fn eeg_spec(p: &EegParams, elec: &[(&str, f64, f64)]) -> SignalSpec {
    let amp = 6.0 * (p.background_uv + p.alpha_uv + p.beta_uv + p.theta_uv);
    let half =
        amp + p.spindle_uv + p.kcomplex_uv + p.blink_uv + 5.0 * p.muscle_uv + 1.5 * p.mains_uv;
    SignalSpec::symmetric(p.fs, elec.iter().map(|e| e.0), "uV", half)
}

impl Eeg {
    /// A generator for validated `p`, seeded with `seed`.
    pub fn new(p: EegParams, seed: u64) -> Result<Self> {
        p.validate()
            .map_err(|e| crate::Error::BadInput(format!("eeg parameter {e}")))?;
        let elec = montage(&p.channels).map_err(crate::Error::BadInput)?;
        let pos: Vec<(f64, f64)> = elec.iter().map(|e| (e.1, e.2)).collect();
        let n = pos.len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rhythms = rhythm_sources(&p, &pos);
        let (blink_gain, muscle_gain) = artefact_gains(&pos);
        let muscle_lp = OnePole::new(25.0, p.fs);
        let a = (-TAU * 25.0 / p.fs).exp();
        let spec = eeg_spec(&p, &elec);
        Ok(Self {
            spec,
            chol: spatial_factor(&pos, p.spatial_length),
            bg: (0..n).map(|_| PinkBank::new(p.exponent, p.fs)).collect(),
            rhythms,
            spindles: Train::new(p.spindle_rate_per_min, LABELS[0], &mut rng),
            kcomplex: Train::new(p.kcomplex_rate_per_min, LABELS[1], &mut rng),
            blinks: Train::new(p.blink_rate_per_min, LABELS[2], &mut rng),
            spindle_gain: topo(&pos, 0.0, 0.0, 0.5),
            k_gain: topo(&pos, 0.0, 0.25, 0.6),
            blink_gain,
            muscle_gain,
            muscle_lp: vec![muscle_lp; n],
            muscle_scale: 1.0 / (a * a * 2.0 / (1.0 + a)).sqrt(),
            src: vec![0.0; n],
            noise: vec![],
            frame: 0,
            rng,
            p,
        })
    }

    /// Independent sources of one frame: background plus rhythms, per channel.
    fn sources(&mut self) {
        let envs: Vec<f64> = self
            .rhythms
            .iter_mut()
            .map(|r| (1.0 + r.env_scale * r.env.step(gauss(&mut self.rng))).max(0.0))
            .collect();
        for c in 0..self.src.len() {
            let k = self.bg[c].inputs();
            self.noise.clear();
            for _ in 0..k {
                self.noise.push(gauss(&mut self.rng));
            }
            let mut s = self.p.background_uv * self.bg[c].step(self.noise.iter().copied());
            for (r, e) in self.rhythms.iter_mut().zip(&envs) {
                s += r.gain[c] * e * r.res[c].step(gauss(&mut self.rng));
            }
            self.src[c] = s;
        }
    }

    /// Transient and artefact value common to all channels, with per-channel gains applied;
    /// labels each transient that starts at `t` in `events`.
    fn transients(&mut self, t: f64, events: &mut Vec<Event>) -> [(f64, usize); 3] {
        let p = &self.p;
        let sp = match self.spindles.at(t, (0.5, 1.5), &mut self.rng, events) {
            Some((e, tau)) => {
                p.spindle_uv
                    * (PI * tau / e.dur).sin().powi(2)
                    * (TAU * p.spindle_hz * tau + e.phase).sin()
            }
            None => 0.0,
        };
        let k = match self.kcomplex.at(t, (0.9, 1.1), &mut self.rng, events) {
            Some((_, tau)) => {
                p.kcomplex_uv
                    * (-(-((tau - 0.25) / 0.08).powi(2)).exp()
                        + 0.5 * (-((tau - 0.6) / 0.15).powi(2)).exp())
            }
            None => 0.0,
        };
        let b = match self.blinks.at(t, (0.3, 0.45), &mut self.rng, events) {
            Some((e, tau)) => p.blink_uv * (PI * tau / e.dur).sin().powi(2),
            None => 0.0,
        };
        [(sp, 0), (k, 1), (b, 2)]
    }
}

/// The labels of the transients the EEG generator puts in: spindles, K-complexes, blinks.
const LABELS: [&str; 3] = ["spindle", "K-complex", "blink"];

impl Generator for Eeg {
    fn spec(&self) -> &SignalSpec {
        &self.spec
    }

    fn labels(&self) -> &[&'static str] {
        &LABELS
    }

    fn fill(&mut self, block: &mut Block) -> Result<()> {
        let nc = self.src.len();
        block.check_channels(nc)?;
        block.set_start(self.frame, self.p.fs);
        let n = block.n_frames;
        for i in 0..n {
            let t = self.frame as f64 / self.p.fs;
            self.sources();
            let tr = self.transients(t, &mut block.events);
            let mains = self.p.mains_uv * (TAU * self.p.mains_hz * t).sin();
            for c in 0..nc {
                let row = &self.chol[c * nc..c * nc + c + 1];
                let mut x: f64 = row.iter().zip(&self.src).map(|(a, b)| a * b).sum();
                for (v, which) in tr {
                    let g = [&self.spindle_gain, &self.k_gain, &self.blink_gain][which][c];
                    x += v * g;
                }
                if self.p.muscle_uv > 0.0 {
                    let w = gauss(&mut self.rng);
                    let hp = w - self.muscle_lp[c].step(w);
                    x += self.p.muscle_uv * self.muscle_gain[c] * hp * self.muscle_scale;
                }
                block.data[c * n + i] = (x + mains) as f32;
            }
            self.frame += 1;
        }
        Ok(())
    }
}
