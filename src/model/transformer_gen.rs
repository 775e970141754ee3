//! Sampling a trained transformer for ever: each step feeds the frame just drawn through the
//! KV cache (a sliding window of `context` positions with the start token kept), draws the
//! next frame from the predicted mixture (a component by its weight, then its Gaussian at
//! the chosen temperature), un-normalises it and hands it to the streaming inverse STFT.
//! Constant cost and memory per frame. A beat-clocked model's R peaks, where its clock put
//! them, come out as events named by their kind (`TransformerConfig::kind_labels`, else `Q`).
//!
//! Like the VAE's decoder, the predicted means regress towards the training mean and the
//! draws' phases average out: `eeg-transformer`'s output was 2–6 dB quieter than its
//! record across 0.5–40 Hz (PSD distance 3.7 dB, AUC 1.00 against the record). A
//! checkpoint with a spectrum target is therefore equalised to it, levels and shape at
//! every 0.5 Hz bin (`model::equaliser`), measured at load on 20 minutes of the model's
//! own draws from a fixed seed.
//!
//! A beat-clocked codebook model draws each frame only among the codes its training frames
//! had at that place in the cardiac cycle (`codes_by_clock`): left to its weights alone it
//! drew a QRS frame a few hops off the clock's R peak now and then, or none, so beats came
//! twice or not at all (MIT-BIH 208, the same weights, 10 min: SDNN 171–198 ms unrestricted,
//! 57–69 restricted, the record 85; AUC against the record 0.845 / 0.765 → 0.714 / 0.719).

use super::checkpoint::CheckpointConfig;
use super::coupling::ChannelMix;
use super::envelope::{Envelope, EnvelopeMeter, EnvelopeTarget};
use super::equaliser;
use super::gain_cache::{self, Calibration, GainKey, CALIBRATION_SEED};
use super::shape::{self, ShapeStream};
use super::spectral_stream::{FrameSource, SpectralStream};
use super::train::to_err;
use super::transformer::Transformer;
use super::transformer_step::{self, NextToken, Precision, StepWeights, Stepper};
use super::wander::{self, Wander};
use super::Generator;
use crate::data::beat_kinds;
use crate::dsp::beat_clock::{self, Rhythm};
use crate::dsp::StreamDecoder;
use crate::{Error, Result};
use candle_core::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::path::Path;

/// A checkpointed transformer as a [`Generator`].
pub type TransformerGenerator = SpectralStream<TransformerSampler>;

/// The model side of [`TransformerGenerator`]: an [`Autoregressor`] over spectral frames,
/// un-normalised into the decoder.
pub struct TransformerSampler {
    cfg: CheckpointConfig,
    steps: Autoregressor,
    frame: Vec<f32>,
}

/// A transformer sampled one token at a time: KV cache, the predicted distribution of the
/// next token, seeded draws at a temperature. Shared by frame tokens and latent tokens.
pub struct Autoregressor {
    steps: Stepper,
    rng: ChaCha8Rng,
    temperature: f32,
    /// Distribution of the next token from the last step.
    next: NextToken,
    /// What the draws depend on besides the seed: the checkpoint (as a `GainKey`) and the
    /// temperature; calibrations measured on these draws are memoised under it.
    origin: String,
    /// A frame transformer's draws mixed across channels (`draw_coupling`); `None`:
    /// independent.
    mix: Option<ChannelMix>,
    /// One token of independent draws and their mix.
    draws: Vec<f32>,
    mixed: Vec<f32>,
    /// A beat-clocked frame transformer's rhythm (`dsp::beat_clock`); `None`: no clock.
    clock: Option<FrameClock>,
}

/// The beat clock fed beside each drawn frame: a replayed rhythm read at the centre of
/// the frame the next step predicts.
#[derive(Clone)]
struct FrameClock {
    rhythm: Rhythm,
    /// Frames drawn so far.
    drawn: u64,
    /// The token fed back: the frame, then its clock.
    token: Vec<f32>,
    /// Per place in the cycle (`beat_clock::place`), which codes may be drawn there (from
    /// the checkpoint's `codes_by_clock`); an empty mask allows every code.
    allowed: Vec<Vec<bool>>,
    /// Kinds of beat the clock tells apart (0 or 1: one).
    kinds: usize,
    /// The place in the cycle of the frame drawn next; `None` before the first clock.
    slot: Option<usize>,
}

impl FrameClock {
    /// The clock of a checkpoint whose transformer replays a rhythm, drawn from `seed`.
    fn of(cfg: &CheckpointConfig, seed: u64) -> Result<Option<Self>> {
        let t = match &cfg.transformer {
            Some(t) if !t.rhythm.is_empty() => t,
            _ => return Ok(None),
        };
        let allowed = t
            .codes_by_clock
            .iter()
            .map(|codes| mask(codes, t.codebook))
            .collect();
        let hop = cfg.data.spectral.hop as f64;
        let (fs, kinds) = (cfg.spec.sample_rate, t.kinds);
        let seed = seed ^ RHYTHM_SEED;
        Ok(Some(FrameClock {
            rhythm: Rhythm::new(&t.rhythm, &t.rhythm_kinds, kinds, fs, hop, seed)?,
            drawn: 0,
            token: Vec::new(),
            allowed,
            kinds,
            slot: None,
        }))
    }

    /// The same rhythm replayed afresh from `seed`, from the first frame.
    fn restarted(&self, seed: u64) -> Self {
        FrameClock {
            rhythm: self.rhythm.restarted(seed ^ RHYTHM_SEED),
            drawn: 0,
            token: Vec::new(),
            allowed: self.allowed.clone(),
            kinds: self.kinds,
            slot: None,
        }
    }

    /// Leaves in `weight` (a codebook's, summing to 1) only the codes allowed where the next
    /// frame falls in the cycle, renormalised; if the model gave those none, all of them
    /// alike.
    fn restrict(&self, weight: &mut [f32]) {
        let Some(allowed) = self.slot.and_then(|s| self.allowed.get(s)) else {
            return;
        };
        if allowed.len() != weight.len() {
            return; // no codes listed for this place: the model's choice stands
        }
        weight
            .iter_mut()
            .zip(allowed)
            .for_each(|(w, &a)| *w = if a { *w } else { 0.0 });
        let mut sum: f32 = weight.iter().sum();
        if sum <= 0.0 || !sum.is_finite() {
            weight
                .iter_mut()
                .zip(allowed)
                .for_each(|(w, &a)| *w = f32::from(u8::from(a)));
            sum = weight.iter().sum();
        }
        weight.iter_mut().for_each(|w| *w /= sum);
    }

    /// `frame` followed by the clock of the frame after it.
    fn token(&mut self, frame: &[f32]) -> &[f32] {
        self.drawn += 1;
        self.token.clear();
        self.token.extend_from_slice(frame);
        let at = self.drawn as f64 * self.rhythm.hop();
        self.rhythm.clock(at, &mut self.token);
        self.slot = Some(beat_clock::place(&self.token[frame.len()..], self.kinds));
        &self.token
    }
}

/// `codes` (each below `k`) as a mask over a codebook of `k`; no codes: an empty mask.
fn mask(codes: &[u16], k: usize) -> Vec<bool> {
    if codes.is_empty() {
        return Vec::new();
    }
    let mut m = vec![false; k];
    for &c in codes {
        if let Some(a) = m.get_mut(usize::from(c)) {
            *a = true; // every code is below k in a checked config
        }
    }
    m
}

/// Mixed into the draw seed for the rhythm, so its stream of numbers is not the draws'.
const RHYTHM_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Highest sampling temperature a transformer accepts (from a flag or a checkpoint).
pub const MAX_TEMPERATURE: f32 = 10.0;

/// Whether `t` is a sampling temperature: finite, in [0, [`MAX_TEMPERATURE`]].
pub fn is_temperature(t: f32) -> bool {
    t.is_finite() && (0.0..=MAX_TEMPERATURE).contains(&t)
}

/// The temperature to sample at: `temperature`, else the checkpoint's, else 1; refused
/// outside [0, [`MAX_TEMPERATURE`]].
pub fn temperature_of(cfg: &CheckpointConfig, temperature: Option<f32>) -> Result<f32> {
    let t = temperature.or(cfg.temperature).unwrap_or(1.0);
    if !is_temperature(t) {
        return Err(Error::BadInput(format!(
            "temperature {t} is not in [0, {MAX_TEMPERATURE}]"
        )));
    }
    Ok(t)
}

/// Loads the transformer checkpoint at `dir` (its config already read and checked, see
/// `model::load_checkpoint`) on the CPU; `seed` fixes the draws; `temperature` (scale on
/// the predicted standard deviation) overrides the saved one.
pub fn load(
    dir: &Path,
    cfg: CheckpointConfig,
    seed: u64,
    temperature: Option<f32>,
) -> Result<TransformerGenerator> {
    let steps = Autoregressor::load(dir, &cfg, seed, temperature)?;
    let cal = calibration_of(dir, &cfg, &steps)?;
    let shape = match &cfg.shape {
        Some(t) if !cal.shape.is_empty() => {
            Some(ShapeStream::mapping(t, &cal.shape, cfg.spec.sample_rate)?)
        }
        _ => None,
    };
    Ok(calibrated(&cfg, steps, &cal, seed)?.with_shape(shape))
}

/// `steps` sampled through the equaliser and envelope `cal` sets and the checkpoint's
/// wander (no shape), the envelope and the wander's replay drawn with `seed`.
fn calibrated(
    cfg: &CheckpointConfig,
    steps: Autoregressor,
    cal: &Calibration,
    seed: u64,
) -> Result<TransformerGenerator> {
    let envelope = (cfg.envelope.as_ref())
        .zip(cal.envelope_sd)
        .and_then(|(t, own)| {
            Envelope::new(t, Envelope::missing(t, own), cfg.spec.sample_rate, seed)
        });
    let mut stream = sampling(cfg.clone(), steps)?;
    if !cal.eq.is_empty() {
        stream = stream.with_equaliser(&cal.eq)?;
    }
    // The wander's noise goes in before the equaliser and its baseline comes after it.
    let lead = stream.equaliser_delay();
    let wander = (cfg.wander.as_ref())
        .map(|t| Wander::new(t, cfg.spec.sample_rate, seed, lead))
        .transpose()?;
    Ok(stream.with_envelope(envelope).with_wander(wander))
}

/// `steps` sampled through a fresh streaming inverse STFT (no equaliser).
fn sampling(cfg: CheckpointConfig, steps: Autoregressor) -> Result<TransformerGenerator> {
    let decoder = StreamDecoder::new(&cfg.data.spectral, cfg.spec.n_channels())?;
    let spec = cfg.spec.clone();
    let frame = vec![0.0; steps.n_features()];
    let kind_labels = beat_labels(&cfg);
    let s = TransformerSampler { cfg, steps, frame };
    let stream = SpectralStream::new(s, spec, decoder);
    Ok(match kind_labels {
        Some(kinds) => stream.with_beat_events(kinds),
        None => stream,
    })
}

/// The label of each kind of beat of a beat-clocked checkpoint, whose R peaks become events
/// (empty: every beat `Q`); `None` without a clock.
fn beat_labels(cfg: &CheckpointConfig) -> Option<Vec<&'static str>> {
    let t = cfg.transformer.as_ref().filter(|t| !t.rhythm.is_empty())?;
    Some(beat_kinds::codes(&t.kind_labels).unwrap_or_default())
}

/// Seconds of equalised draws the envelope's own spread is measured on (`model::envelope`).
pub const ENVELOPE_SECONDS: f64 = 600.0;

/// What the checkpoint at `dir` sampled like `steps` (same weights and temperature) is
/// calibrated by, from draws restarted with the calibration seed: the equaliser's kernels
/// (`equaliser::LEVEL_SECONDS` of draws, levels and shape) where it has a `spectrum`, and
/// where it has an `envelope`, the spread of its equalised windows' loudness
/// ([`ENVELOPE_SECONDS`]), and where it has a `shape`, the quantiles of its output's values
/// within their local loudness (`shape::CALIBRATION_SECONDS`); memoised per process and kept on disk
/// (`gain_cache`).
fn calibration_of(
    dir: &Path,
    cfg: &CheckpointConfig,
    steps: &Autoregressor,
) -> Result<Calibration> {
    if cfg.spectrum.is_none() && cfg.envelope.is_none() && cfg.shape.is_none() {
        return Ok(Calibration::default());
    }
    let key = GainKey::new(dir, &dir.join("model.safetensors"), cfg).with_walk(steps.origin());
    if let Some(c) = gain_cache::get(&key) {
        return Ok(c);
    }
    let (nc, fs) = (cfg.spec.n_channels(), cfg.spec.sample_rate);
    let restarted = || steps.restarted(CALIBRATION_SEED);
    let eq = match &cfg.spectrum {
        Some(target) => {
            // With a wander the kernels also take out the draws' own slow content.
            let target = match &cfg.wander {
                Some(_) => target.clone().with_highpass(wander::CUTOFF_HZ, fs),
                None => target.clone(),
            };
            let target = &target;
            // The draws measured with the wander's noise, as they go into the equaliser.
            let noise = (cfg.wander.as_ref())
                .map(|t| Wander::new(t, fs, CALIBRATION_SEED, 0))
                .transpose()?;
            let mut g = sampling(cfg.clone(), restarted())?.with_wander(noise);
            equaliser::calibrate(target, nc, fs, equaliser::LEVEL_SECONDS, None, |w| {
                g.unequalised_into(w, w.len() / nc)
            })?
        }
        None => Vec::new(),
    };
    // Each measure runs on the stages the ones before it set: the envelope's on the
    // equalised draws, the shape's on those with the envelope.
    let mut calibration = Calibration {
        eq,
        ..Calibration::default()
    };
    if let Some(t) = &cfg.envelope {
        let mut g = calibrated(cfg, restarted(), &calibration, CALIBRATION_SEED)?;
        calibration.envelope_sd = own_spread(&mut g, t, ENVELOPE_SECONDS)?;
    }
    if let Some(t) = &cfg.shape {
        let mut g = calibrated(cfg, restarted(), &calibration, CALIBRATION_SEED)?;
        calibration.shape = shape::own_quantiles(t, nc, fs, shape::CALIBRATION_SECONDS, |o, m| {
            g.unshaped_into(o, m)
        })?;
    }
    gain_cache::put(key, calibration.clone());
    Ok(calibration)
}

/// The robust spread of the log10 loudness of `g`'s windows of `target`'s length over
/// `seconds` (`EnvelopeMeter::spread`).
fn own_spread(
    g: &mut impl Generator,
    target: &EnvelopeTarget,
    seconds: f64,
) -> Result<Option<f64>> {
    let spec = g.spec().clone();
    let mut meter = EnvelopeMeter::new(spec.n_channels(), spec.sample_rate, target.window_s);
    let n = (spec.sample_rate.round() as usize).max(1);
    let mut block = crate::block::Block::new(spec.n_channels(), n);
    for _ in 0..(seconds.max(1.0) as usize) {
        g.fill(&mut block)?;
        meter.add(&block.data, n);
    }
    Ok(meter.spread().map(|(sd, _)| sd))
}

impl TransformerSampler {
    /// Positions in the sliding window now (bounded by the model's context).
    pub fn cached(&self) -> usize {
        self.steps.steps.len()
    }
}

impl Autoregressor {
    /// The transformer of the checkpoint at `dir`, fed its start token.
    pub fn load(
        dir: &Path,
        cfg: &CheckpointConfig,
        seed: u64,
        temperature: Option<f32>,
    ) -> Result<Self> {
        let tc = cfg.transformer.clone().ok_or_else(|| {
            let p = dir.join("config.json");
            Error::bad_path(
                &p,
                "not a transformer checkpoint (no `transformer` section)",
            )
        })?;
        let temperature = temperature_of(cfg, temperature)?;
        let key = GainKey::new(dir, &dir.join("model.safetensors"), cfg);
        let weights = transformer_step::shared(&key, || {
            let model =
                super::train::load_frozen(|vb| Transformer::new(&tc, vb), &Device::Cpu, dir)?;
            StepWeights::new(&model, Precision::Bf16).map_err(to_err)
        })?;
        let mix = cfg
            .draw_coupling
            .as_deref()
            .map(|c| ChannelMix::new(c, cfg.data.spectral.n_bins(), cfg.spec.n_channels()));
        let mut s = Autoregressor {
            steps: Stepper::new(weights),
            rng: ChaCha8Rng::seed_from_u64(seed),
            temperature,
            next: NextToken::default(),
            origin: format!("{key:?} at temperature {temperature}"),
            mix,
            draws: Vec::new(),
            mixed: Vec::new(),
            clock: FrameClock::of(cfg, seed)?,
        };
        s.feed(None);
        Ok(s)
    }

    /// The same model (weights shared) and temperature from a fresh start token, drawing
    /// with `seed`: a second sequence that does not disturb this one's cache or draws.
    pub fn restarted(&self, seed: u64) -> Self {
        let clock = self.clock.as_ref().map(|c| c.restarted(seed));
        let mut s = Autoregressor {
            steps: self.steps.restarted(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            temperature: self.temperature,
            next: NextToken::default(),
            origin: self.origin.clone(),
            mix: self.mix.clone(),
            draws: Vec::new(),
            mixed: Vec::new(),
            clock,
        };
        s.feed(None);
        s
    }

    /// What the draws depend on besides the seed (checkpoint and temperature).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Values per token.
    pub fn n_features(&self) -> usize {
        self.steps.weights().config().n_features
    }

    /// Runs one step of the model and keeps the predicted distribution.
    fn feed(&mut self, token: Option<&[f32]>) {
        self.steps.step(token, &mut self.next);
    }

    /// Draws the next token into `out` (normalised: a component by its weight, then its
    /// Gaussian at the temperature, its errors coupled across channels where the checkpoint
    /// says how) and feeds it back.
    pub fn draw(&mut self, out: &mut [f32]) {
        let t = self.temperature;
        let codebook = self.steps.weights().config().codebook > 0;
        if codebook {
            if let Some(c) = &self.clock {
                c.restrict(&mut self.next.weight);
            }
            temper(&mut self.next.weight, t);
        }
        let weight = &self.next.weight;
        // A single Gaussian draws no component (its streams stay what they were before
        // mixtures existed).
        let k = match weight.len() {
            0 | 1 => 0,
            _ => pick(weight, rand::Rng::random(&mut self.rng)),
        };
        let (mean, std) = self.steps.weights().component(&self.next, k);
        let f = out.len();
        match &self.mix {
            None => {
                for ((v, m), s) in out.iter_mut().zip(mean).zip(std) {
                    let e: f32 = StandardNormal.sample(&mut self.rng);
                    *v = m + t * s * e;
                }
            }
            Some(mix) => {
                self.draws.resize(f, 0.0);
                self.mixed.resize(f, 0.0);
                for e in self.draws.iter_mut() {
                    *e = StandardNormal.sample(&mut self.rng);
                }
                mix.apply(&self.draws, &mut self.mixed);
                for (((v, m), s), e) in out.iter_mut().zip(mean).zip(std).zip(&self.mixed) {
                    *v = m + t * s * e;
                }
            }
        }
        match self.clock.as_mut() {
            None => self.steps.step(Some(out), &mut self.next),
            Some(c) => self.steps.step(Some(c.token(out)), &mut self.next),
        }
    }
}

/// Sharpens (t < 1) or flattens (t > 1) the choice among a codebook's codes: weights to the
/// power 1/t, renormalised; at t = 0 all weight on the most probable code.
fn temper(weight: &mut [f32], t: f32) {
    if t == 1.0 || weight.is_empty() {
        return;
    }
    if t <= 0.0 {
        let best = (0..weight.len()).fold(0, |a, c| if weight[c] > weight[a] { c } else { a });
        weight
            .iter_mut()
            .enumerate()
            .for_each(|(i, w)| *w = f32::from(u8::from(i == best)));
        return;
    }
    // In logs, shifted by the largest, so that small weights do not underflow.
    let top = weight.iter().fold(f32::MIN_POSITIVE, |a, &w| a.max(w)).ln();
    weight
        .iter_mut()
        .for_each(|w| *w = ((w.max(f32::MIN_POSITIVE).ln() - top) / t).exp());
    let sum: f32 = weight.iter().sum();
    weight.iter_mut().for_each(|w| *w /= sum);
}

/// The component whose cumulative weight first exceeds `u` (uniform in [0, 1)); the last
/// one if rounding leaves the weights' sum below `u`.
pub(crate) fn pick(weight: &[f32], u: f32) -> usize {
    let mut acc = 0.0;
    for (i, w) in weight.iter().enumerate() {
        acc += w;
        if u < acc {
            return i;
        }
    }
    weight.len().saturating_sub(1)
}

impl FrameSource for TransformerSampler {
    /// Draws the next frame, feeds it back, pushes it (un-normalised) to the decoder.
    fn push_frames(&mut self, decoder: &mut StreamDecoder) -> Result<()> {
        self.steps.draw(&mut self.frame);
        self.cfg.norm.invert(&mut self.frame);
        decoder.push(&self.frame)
    }

    /// The beat clock's next R peak: the frames around it were drawn for that beat.
    fn next_beat(&mut self, before: u64) -> Option<(u64, u8)> {
        let clock = self.steps.clock.as_mut()?;
        let (at, kind) = clock.rhythm.next_peak(before as f64)?;
        Some((at.max(0.0).floor() as u64, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::{mask, pick, temper, FrameClock, Rhythm};

    /// Where the next frame falls in the cycle, only the codes the training frames had
    /// there keep their weight (renormalised; all alike if the model gave them none); a
    /// place with no list, or no clock yet, leaves the weights as they were.
    #[test]
    fn a_clocked_draw_keeps_to_the_codes_of_its_place_in_the_cycle() {
        let mut clock = FrameClock {
            rhythm: Rhythm::new(&[0.6; 4], &[], 1, 360.0, 16.0, 1).unwrap(),
            drawn: 0,
            token: Vec::new(),
            allowed: vec![mask(&[1, 2], 4), mask(&[], 4), mask(&[3], 4)],
            kinds: 0,
            slot: None,
        };
        let restricted = |c: &FrameClock, w: [f32; 4]| {
            let mut v = w.to_vec();
            c.restrict(&mut v);
            v
        };
        let w = [0.5, 0.3, 0.2, 0.0];
        assert_eq!(restricted(&clock, w), w);
        clock.slot = Some(0);
        let got = restricted(&clock, w);
        for (g, e) in got.iter().zip([0.0, 0.6, 0.4, 0.0]) {
            assert!((g - e).abs() < 1e-6, "{got:?}");
        }
        clock.slot = Some(1);
        assert_eq!(restricted(&clock, w), w);
        clock.slot = Some(2);
        assert_eq!(restricted(&clock, w), [0.0, 0.0, 0.0, 1.0]);
        clock.slot = Some(0);
        assert_eq!(
            restricted(&clock, [1.0, 0.0, 0.0, 0.0]),
            [0.0, 0.5, 0.5, 0.0]
        );
    }

    /// Codes are weighed by w^(1/t): t = 1 leaves them, 0.5 squares them, 2 takes their
    /// square roots (renormalised), 0 picks the most probable.
    #[test]
    fn temperature_sharpens_or_flattens_the_choice_of_code() {
        let w = [0.1f32, 0.6, 0.3];
        let tempered = |t: f32| {
            let mut v = w.to_vec();
            temper(&mut v, t);
            v
        };
        let norm = |v: [f32; 3]| v.map(|x| x / v.iter().sum::<f32>());
        let cases = [
            (1.0, w),
            (0.5, norm(w.map(|x| x * x))),
            (2.0, norm(w.map(f32::sqrt))),
            (0.0, [0.0, 1.0, 0.0]),
        ];
        for (t, want) in cases {
            let got = tempered(t);
            for (g, e) in got.iter().zip(want) {
                assert!((g - e).abs() < 1e-6, "t {t}: {got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn components_are_picked_by_cumulative_weight() {
        let w = [0.2, 0.5, 0.3];
        assert_eq!(pick(&w, 0.0), 0);
        assert_eq!(pick(&w, 0.19), 0);
        assert_eq!(pick(&w, 0.2), 1);
        assert_eq!(pick(&w, 0.69), 1);
        assert_eq!(pick(&w, 0.71), 2);
        // Weights summing to a little under 1 by rounding: the last one.
        assert_eq!(pick(&[0.5, 0.4999], 0.99995), 1);
    }
}
