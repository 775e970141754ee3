//! ECGSYN (McSharry, Clifford, Tarassenko & Smith, IEEE TBME 50(3), 2003), multi-lead.
//!
//! The trajectory circles the unit limit cycle of the (x, y) plane with angular velocity
//! ω = 2π/RR; it is written in polar form (r ≡ 1 on the attractor, phase θ). Each wave
//! i ∈ {P, Q, R, S, T} has a state z_i obeying the ECGSYN equation
//! `ż_i = −ω Δθ_i / b_i² · exp(−Δθ_i² / 2b_i²) − λ z_i` (amplitude normalised so that z_i
//! peaks near 1; λ = 2π·`damping_hz`, 1/s in the original), integrated with fixed-step RK4 at an internal rate that is an integer
//! multiple of the output rate. A wave is a cardiac dipole: its unit direction times its
//! amplitude, projected onto each lead ([`super::leads`]).
//!
//! RR: a new interval is drawn at every R peak (θ crossing 0), from the spectral
//! tachogram ([`super::rr`]) for sinus rhythms or from a log-normal for AF; the
//! R-to-R interval therefore equals the drawn RR. PVCs run on a second (ectopic) phase
//! ψ: a wide QRS with discordant T at the coupling interval, and the next sinus beat is
//! not conducted (its P wave remains), which yields a full compensatory pause.

use super::artefact::Artefacts;
use super::filters::OnePole;
use super::leads::{self, dot, unit, Lead, Vector};
use super::params::{EcgParams, Rhythm, Validate};
use super::rr::{Spectrum, Tachogram};
use crate::block::{Block, Event};
use crate::model::Generator;
use crate::record::SignalSpec;
use crate::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::{PI, TAU};

/// Directions of the P, Q, R, S, T dipoles (Frank X left, Y feet, Z back).
const WAVE_DIR: [Vector; 5] = [
    [0.5, 0.8, -0.2],
    [-0.7, 0.3, -0.65],
    [0.55, 0.6, 0.55],
    [-0.4, -0.5, 0.75],
    [0.6, 0.6, -0.1],
];
/// Direction of an ectopic (PVC) QRS: a right-ventricular-outflow-like axis.
const PVC_DIR: Vector = [-0.3, 0.8, -0.5];
/// Direction of the fibrillatory f-waves (largest in V1 and the inferior leads).
const FWAVE_DIR: Vector = [0.1, 0.5, -0.8];

/// What kind of ventricular beat an R peak belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum BeatKind {
    /// Conducted sinus (or AF) beat.
    Normal,
    /// Premature ventricular contraction.
    Pvc,
}

/// Every beat label ECGSYN puts on its R peaks.
const BEAT_LABELS: [&str; 2] = [BeatKind::Normal.code(), BeatKind::Pvc.code()];

impl BeatKind {
    /// The beat's label: MIT-BIH's beat codes, `N` (normal) and `V` (premature ventricular).
    pub const fn code(self) -> &'static str {
        match self {
            BeatKind::Normal => "N",
            BeatKind::Pvc => "V",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Gate {
    Atrial,
    Ventricular,
    Ectopic,
}

#[derive(Debug, Clone)]
struct Wave {
    theta: f64,
    inv_b2: f64,
    half_inv_b2: f64,
    cut: f64,
    gate: Gate,
}

impl Wave {
    fn new(theta: f64, b: f64, gate: Gate) -> Self {
        Self {
            theta,
            inv_b2: 1.0 / (b * b),
            half_inv_b2: 0.5 / (b * b),
            cut: 6.0 * b,
            gate,
        }
    }
}

/// AF fibrillatory wave: a 4–9 Hz oscillation with wandering frequency and amplitude.
#[derive(Debug, Clone)]
struct FWave {
    phase: f64,
    f0: f64,
    slow_f: OnePole,
    slow_a: OnePole,
    scale: f64,
}

impl FWave {
    fn new(f0: f64, fs: f64) -> Self {
        let slow = OnePole::new(0.2, fs);
        Self {
            phase: 0.0,
            f0,
            scale: 1.0 / slow.white_gain().sqrt(),
            slow_f: slow.clone(),
            slow_a: slow,
        }
    }

    fn step(&mut self, fs: f64, rng: &mut ChaCha8Rng) -> f64 {
        let df = self.slow_f.step(super::gauss(rng)) * self.scale;
        let da = self.slow_a.step(super::gauss(rng)) * self.scale;
        self.phase = (self.phase + TAU * (self.f0 + 0.6 * df) / fs) % TAU;
        (1.0 + 0.3 * da).max(0.0) * self.phase.sin()
    }
}

/// The ECGSYN generator: multi-lead ECG in mV, endless and seam-free.
pub struct EcgSyn {
    spec: SignalSpec,
    p: EcgParams,
    rng: ChaCha8Rng,
    art_rng: ChaCha8Rng,
    tacho: Tachogram,
    waves: Vec<Wave>,
    /// `gains[l * n_waves + w]`: lead l's voltage per unit of wave w's state.
    gains: Vec<f64>,
    fgains: Vec<f64>,
    fwave: Option<FWave>,
    artefacts: Artefacts,
    z: Vec<f64>,
    f0: Vec<f64>,
    fm: Vec<f64>,
    f1: Vec<f64>,
    theta: f64,
    omega: f64,
    mean_rr: f64,
    rr_std: f64,
    atrial_on: bool,
    ventricular_on: bool,
    block_next: bool,
    ectopic: Option<(f64, f64, bool)>,
    half: u64,
    lambda: f64,
    dt: f64,
    substeps: usize,
    frame: u64,
    /// R peaks of the block being filled, handed to it as events when it is done (nothing
    /// accumulates: a stream runs for days).
    events: Vec<Event>,
}

/// The artefacts on `leads` (EMG set from `emg_snr_db` against the QRS amplitude in lead
/// II where asked).
fn artefacts_of(
    p: &EcgParams,
    leads: &[Lead],
    dirs: &[[f64; 3]],
    rng: &mut ChaCha8Rng,
) -> Artefacts {
    let names: Vec<&str> = leads.iter().map(|l| l.name).collect();
    let mut ap = p.clone();
    if let Some(snr) = p.emg_snr_db {
        ap.emg_mv = qrs_pp_lead_ii(dirs) / (8f64.sqrt() * 10f64.powf(snr / 20.0));
    }
    Artefacts::new(&ap, &names, rng)
}

/// The leads in mV, each with the range `±half_range`.
fn ecg_spec(p: &EcgParams, leads: &[Lead], half_range: f64) -> SignalSpec {
    SignalSpec::symmetric(p.fs, leads.iter().map(|l| l.name), "mV", half_range)
}

impl EcgSyn {
    /// A generator for validated `p`, seeded with `seed`.
    pub fn new(p: EcgParams, seed: u64) -> Result<Self> {
        p.validate()
            .map_err(|e| crate::Error::BadInput(format!("ecgsyn parameter {e}")))?;
        let leads = leads::parse_set(&p.leads).map_err(crate::Error::BadInput)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut art_rng = rng.clone();
        art_rng.set_stream(1);
        let hr = p.mean_hr();
        let spectrum = Spectrum {
            f1: p.mayer_hz,
            f2: p.rsa_hz,
            c1: p.mayer_width_hz,
            c2: p.rsa_width_hz,
            lf_hf: p.lf_hf,
        };
        let tacho = Tachogram::new(spectrum, &mut rng);
        let (waves, dirs) = build_waves(&p, hr)?;
        let gains = leads
            .iter()
            .flat_map(|l| dirs.iter().map(|d| l.project(*d)))
            .collect();
        let is_af = p.rhythm == Rhythm::Af;
        let fdir = unit(FWAVE_DIR);
        let fgains = leads.iter().map(|l| p.fwave_mv * l.project(fdir)).collect();
        let artefacts = artefacts_of(&p, &leads, &dirs, &mut art_rng);
        let spec = ecg_spec(&p, &leads, 3.5 + artefacts.headroom());
        // Internal rate: the smallest multiple of fs that is at least 500 Hz (forcing is also
        // evaluated at half steps, so QRS Gaussians are sampled at 1 kHz or more).
        let substeps = (500.0 / p.fs).ceil().max(1.0) as usize;
        let nw = waves.len();
        let mut g = Self {
            spec,
            rng,
            art_rng,
            tacho,
            waves,
            gains,
            fgains,
            fwave: is_af.then(|| FWave::new(p.fwave_hz, p.fs)),
            artefacts,
            z: vec![0.0; nw],
            f0: vec![0.0; nw],
            fm: vec![0.0; nw],
            f1: vec![0.0; nw],
            theta: -PI,
            omega: 0.0,
            mean_rr: 60.0 / hr,
            rr_std: 60.0 * p.hr_std / (hr * hr),
            atrial_on: !is_af,
            ventricular_on: true,
            block_next: false,
            ectopic: None,
            half: 0,
            lambda: TAU * p.damping_hz,
            dt: 1.0 / (p.fs * substeps as f64),
            substeps,
            frame: 0,
            events: Vec::new(),
            p,
        };
        g.omega = TAU / g.next_rr(0.0);
        let mut f0 = std::mem::take(&mut g.f0);
        g.forcing(&mut f0);
        g.f0 = f0;
        Ok(g)
    }

    fn push_beat(&mut self, time: f64, kind: BeatKind) {
        self.events.push(Event {
            time,
            duration: 0.0,
            label: kind.code(),
        });
    }

    fn next_rr(&mut self, t: f64) -> f64 {
        if self.p.rhythm == Rhythm::Af {
            let s2 = (1.0 + self.p.af_rr_cv.powi(2)).ln();
            let g = super::gauss(&mut self.rng);
            (self.mean_rr * (s2.sqrt() * g - s2 / 2.0).exp()).clamp(0.25, 2.5)
        } else {
            (self.mean_rr + self.rr_std * self.tacho.at(t, &mut self.rng)).clamp(0.2, 3.0)
        }
    }

    fn on_r_peak(&mut self, t: f64) {
        if self.ventricular_on {
            self.push_beat(t, BeatKind::Normal);
        }
        let rr = self.next_rr(t);
        self.omega = TAU / rr;
        if self.p.pvc_rate > 0.0
            && self.ventricular_on
            && self.ectopic.is_none()
            && self.rng.random::<f64>() < self.p.pvc_rate
        {
            self.ectopic = Some((t + self.p.pvc_coupling * rr, TAU / self.mean_rr, false));
            self.block_next = true;
        }
    }

    /// Advances phases by half an internal step, handling R peaks, beat starts and PVCs.
    fn advance_half(&mut self) {
        let h = 0.5 * self.dt;
        let t0 = self.half as f64 * h;
        self.half += 1;
        let t1 = self.half as f64 * h;
        let next = self.theta + self.omega * h;
        if self.theta < 0.0 && next >= 0.0 {
            self.on_r_peak(t0 - self.theta / self.omega);
        }
        self.theta = next;
        if self.theta >= PI {
            self.theta -= TAU;
            self.ventricular_on = !self.block_next;
            self.block_next = false;
            self.atrial_on = self.p.rhythm != Rhythm::Af;
        }
        if let Some((te, we, logged)) = self.ectopic {
            if !logged && t1 >= te {
                self.push_beat(te, BeatKind::Pvc);
                self.ectopic = Some((te, we, true));
            }
            if t1 > te + PI / we {
                self.ectopic = None;
            }
        }
    }

    /// ECGSYN forcing of every wave at the current phase.
    fn forcing(&self, out: &mut [f64]) {
        let t = self.half as f64 * 0.5 * self.dt;
        for (w, o) in self.waves.iter().zip(out.iter_mut()) {
            let (d, om) = match w.gate {
                Gate::Atrial | Gate::Ventricular => {
                    let on = if w.gate == Gate::Atrial {
                        self.atrial_on
                    } else {
                        self.ventricular_on
                    };
                    let mut d = self.theta - w.theta;
                    if d < -PI {
                        d += TAU;
                    } else if d >= PI {
                        d -= TAU;
                    }
                    (if on { d } else { f64::INFINITY }, self.omega)
                }
                Gate::Ectopic => match self.ectopic {
                    Some((te, we, _)) if (we * (t - te)).abs() < PI => {
                        (we * (t - te) - w.theta, we)
                    }
                    _ => (f64::INFINITY, 0.0),
                },
            };
            *o = if d.abs() > w.cut {
                0.0
            } else {
                -om * d * w.inv_b2 * (-d * d * w.half_inv_b2).exp()
            };
        }
    }

    /// One RK4 step of `dt` for every wave state.
    fn step(&mut self) {
        let dt = self.dt;
        let h = 0.5 * dt;
        let lam = self.lambda;
        let mut fm = std::mem::take(&mut self.fm);
        let mut f1 = std::mem::take(&mut self.f1);
        self.advance_half();
        self.forcing(&mut fm);
        self.advance_half();
        self.forcing(&mut f1);
        for i in 0..self.z.len() {
            let z0 = self.z[i];
            let k1 = self.f0[i] - lam * z0;
            let k2 = fm[i] - lam * (z0 + h * k1);
            let k3 = fm[i] - lam * (z0 + h * k2);
            let k4 = f1[i] - lam * (z0 + dt * k3);
            self.z[i] = z0 + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
        }
        self.fm = fm;
        std::mem::swap(&mut self.f0, &mut f1);
        self.f1 = f1;
    }
}

/// Peak-to-peak QRS amplitude in lead II from the Q, R, S dipoles, mV.
fn qrs_pp_lead_ii(dirs: &[Vector]) -> f64 {
    let ii = Lead::parse("II").map(|l| l.vector).unwrap_or([0.0; 3]);
    let q: Vec<f64> = dirs[1..4].iter().map(|d| dot(ii, *d)).collect();
    q.iter().fold(0.0f64, |a, &b| a.max(b)) - q.iter().fold(0.0f64, |a, &b| a.min(b))
}

/// Waves (timing) and their dipoles (direction × amplitude) at mean heart rate `hr`.
fn build_waves(p: &EcgParams, hr: f64) -> Result<(Vec<Wave>, Vec<Vector>)> {
    let hf = (hr / 60.0).sqrt();
    let hf2 = hf.sqrt();
    let scale = [hf2, hf, 1.0, hf, hf2];
    let mut waves = vec![];
    let mut dirs = vec![];
    for i in 0..5 {
        let gate = if i == 0 {
            Gate::Atrial
        } else {
            Gate::Ventricular
        };
        waves.push(Wave::new(
            (p.wave_angle_deg[i] * scale[i]).to_radians(),
            p.wave_width_rad[i] * hf,
            gate,
        ));
        let u = unit(WAVE_DIR[i]);
        dirs.push(u.map(|c| c * p.wave_amp_mv[i]));
    }
    if p.st_mv != 0.0 {
        let lead = Lead::parse(&p.st_lead).map_err(crate::Error::BadInput)?;
        let u = unit(lead.vector);
        let amp = p.st_mv / dot(lead.vector, u);
        waves.push(Wave::new(
            (45.0 * hf).to_radians(),
            0.35 * hf,
            Gate::Ventricular,
        ));
        dirs.push(u.map(|c| c * amp));
    }
    if p.pvc_rate > 0.0 {
        let u = unit(PVC_DIR);
        waves.push(Wave::new(0.0, 0.22, Gate::Ectopic));
        dirs.push(u.map(|c| c * p.pvc_mv));
        waves.push(Wave::new(90f64.to_radians(), 0.4, Gate::Ectopic));
        dirs.push(u.map(|c| -c * 0.3 * p.pvc_mv));
    }
    Ok((waves, dirs))
}

impl Generator for EcgSyn {
    fn spec(&self) -> &SignalSpec {
        &self.spec
    }

    fn labels(&self) -> &[&'static str] {
        &BEAT_LABELS
    }

    fn fill(&mut self, block: &mut Block) -> Result<()> {
        let nl = self.spec.channels.len();
        block.check_channels(nl)?;
        block.set_start(self.frame, self.p.fs);
        let (n, nw) = (block.n_frames, self.waves.len());
        let artefacts = self.artefacts.any();
        for i in 0..n {
            for _ in 0..self.substeps {
                self.step();
            }
            let t = self.frame as f64 / self.p.fs;
            let f = match self.fwave.as_mut() {
                Some(fw) => fw.step(self.p.fs, &mut self.rng),
                None => 0.0,
            };
            for l in 0..nl {
                let g = &self.gains[l * nw..(l + 1) * nw];
                let clean =
                    g.iter().zip(&self.z).map(|(a, b)| a * b).sum::<f64>() + self.fgains[l] * f;
                block.data[l * n + i] = if artefacts {
                    self.artefacts.apply(l, t, clean, &mut self.art_rng)
                } else {
                    clean
                } as f32;
            }
            self.frame += 1;
        }
        block.events.append(&mut self.events);
        Ok(())
    }
}
