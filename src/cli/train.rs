//! `biowave train --data FILE... --model vae|transformer --out NAME …`.

use super::train_data::{records, sources};
use crate::data::beat_kinds;
use crate::data::{BeatAlign, DataConfig, Dataset, NormStats, Source};
use crate::dsp::SpectralConfig;
use crate::model::beat_mean::BeatMeanTarget;
use crate::model::checkpoint::{self, CheckpointConfig};
use crate::model::codebook::{Codebook, MAX_CODEBOOK};
use crate::model::decoder_noise;
use crate::model::envelope::EnvelopeTarget;
use crate::model::equaliser::{LowTarget, SpectrumTarget};
use crate::model::latent_prior::LatentPrior;
use crate::model::latent_states::{BeatLatents, LatentStates};
use crate::model::latent_walk::{token_kinds, token_sequences};
use crate::model::shape::ShapeTarget;
use crate::model::train::to_err;
use crate::model::train::{self, Objective, TrainConfig};
use crate::model::transformer::{
    draw_coupling, Transformer, TransformerConfig, TransformerObjective,
};
use crate::model::vae::{Vae, VaeArch, VaeConfig, VaeObjective};
use crate::model::wander::WanderTarget;
use crate::record::{ChannelSpec, SignalSpec};
use candle_core::Device;
use std::path::{Path, PathBuf};

/// Arguments of `biowave train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Training recordings (a directory: the recordings in it).
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,
    /// Model kind: vae or transformer.
    #[arg(long)]
    pub model: String,
    /// Name (under models/) or path of the checkpoint directory to write.
    #[arg(long)]
    pub out: String,
    /// Signal kind: ecg or eeg.
    #[arg(long)]
    pub kind: Option<String>,
    /// Channels to train on, comma-separated labels.
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<String>>,
    /// Resample all inputs to this rate.
    #[arg(long)]
    pub fs: Option<f64>,
    /// Train on each recording from this second on (with --end: a part of a long one).
    #[arg(long, default_value_t = 0.0)]
    pub start: f64,
    /// Train on each recording up to this second (exclusive).
    #[arg(long)]
    pub end: Option<f64>,
    /// Training window length in seconds.
    #[arg(long)]
    pub window_s: Option<f64>,
    /// Seconds between the starts of training windows (default: half a window).
    #[arg(long)]
    pub stride_s: Option<f64>,
    /// ECG VAE: one training window per detected R peak instead of one every --stride-s;
    /// the generator then joins one decoded beat cycle per window (sharper beats).
    #[arg(long)]
    pub beats: bool,
    /// STFT frame length in samples (default 256; the VAE defaults to 64).
    #[arg(long)]
    pub n_fft: Option<usize>,
    /// Samples between STFT frames (default n_fft/4).
    #[arg(long)]
    pub hop: Option<usize>,
    /// VAE network: conv (default: convolutions over frames) or mlp.
    #[arg(long, value_enum)]
    pub arch: Option<ArchArg>,
    /// Passes over the training data.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Wall-clock budget in minutes.
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue from the checkpoint already in `--out`.
    #[arg(long)]
    pub resume: bool,
    /// Hidden width: the VAE's convolution channels (default 128) or MLP layers (default
    /// 256), the transformer's d_model (default 192).
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Transformer blocks [default: 3].
    #[arg(long)]
    pub layers: Option<usize>,
    /// Transformer attention heads [default: 6].
    #[arg(long)]
    pub heads: Option<usize>,
    /// Gaussian components of the transformer's next-frame distribution (one: a single
    /// diagonal Gaussian; several let a draw pick a whole coherent frame shape first)
    /// [default: 1].
    #[arg(long)]
    pub mixture: Option<usize>,
    /// Frame transformer: choose each next frame among this many k-means centres of the
    /// training frames (a categorical that commits to a whole frame shape, QRS and all)
    /// instead of drawing Gaussians; 0: Gaussians (`model::codebook`).
    #[arg(long, default_value_t = 0)]
    pub codebook: usize,
    /// Frame transformer on ECG: every token also carries the beat clock (time since and
    /// to the R peaks around the next frame), from the R peaks of the first channel in
    /// training and from replayed training RR intervals when sampling (`dsp::beat_clock`).
    #[arg(long)]
    pub clock: bool,
    /// With `--clock`: kinds of beat the clock also tells apart (the training beats grouped
    /// by QRS shape, e.g. 2 for normal and ventricular, numbered by count); the sampler
    /// replays each training interval with the kind of beat that ended it. 1: one kind.
    #[arg(long, default_value_t = 1)]
    pub clock_kinds: usize,
    /// Frame transformer: also save how much the training windows' loudness varies, which
    /// the sampler adds where its own windows vary less, as a slow gain (`model::envelope`:
    /// EEG that waxes and wanes as the record does).
    #[arg(long)]
    pub envelope: bool,
    /// Frame transformer: also save the training signals' baseline below 1 Hz and their
    /// noise (level second by second, spectrum), which the sampler replays in place of its
    /// own slow content (`model::wander`: ECG whose windows differ by their wander and
    /// noise as the record's do); the model then learns the signals without that baseline.
    #[arg(long)]
    pub wander: bool,
    /// VAE or frame transformer: also save the training records' waveform shape within its
    /// local loudness, which the sampler gives its output (`model::shape`: EEG skewed
    /// channel by channel as the record's).
    #[arg(long)]
    pub shape: bool,
    /// VAE or frame transformer: also match the training records' spectrum from 0 to this
    /// many Hz at ~0.05 Hz resolution, levels included (`model::equaliser`'s fine low band:
    /// baseline and T-wave power, finer than its 2 s segments resolve). Off by default.
    #[arg(long, value_name = "HZ")]
    pub fine_eq: Option<f64>,
    /// Beat-aligned VAE (`--beats`): also save the training beats' mean waveform for this
    /// many kinds of beat (grouped by QRS shape, e.g. 2 for normal and ventricular), which
    /// the generator gives each kind of its own beats (`model::beat_mean`: T waves and
    /// ventricular beats the record's size and shape). Off by default.
    #[arg(long, value_name = "K")]
    pub beat_means: Option<usize>,
    /// Transformer: the temperature its samplers use unless `generate`/`stream` give one
    /// (stored in config.json; default 1: the trained distribution as it is).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// VAE latent dimension [default: 32].
    #[arg(long)]
    pub latent: Option<usize>,
    /// Windows per batch.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Final KL weight of the VAE (β; below 1 trades prior fit for sharper reconstructions)
    /// [default: 1].
    #[arg(long)]
    pub beta: Option<f64>,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Early stopping: epochs after warm-up without a better validation loss.
    #[arg(long, default_value_t = 8)]
    pub patience: usize,
    /// Transformer over a VAE's latents instead of spectral frames: the VAE checkpoint
    /// (name under models/ or path) whose encoder makes one token per window it plays (per
    /// beat if beat-aligned) and whose decoder plays them; copied into the output's `codec/`.
    #[arg(long)]
    pub codec: Option<String>,
    /// Latent transformer (--codec): tokens (beats or windows) of context [default: 32]. A
    /// frame transformer's context is its training window (--window-s).
    #[arg(long)]
    pub context: Option<usize>,
    /// Beat VAE: beat types (states) whose sequence the generator's latent walk follows,
    /// fitted after training (`model::latent_states`; default 10); 0 keeps one slow walk.
    #[arg(long)]
    pub states: Option<usize>,
}

impl Args {
    /// `--arch`, conv by default.
    pub fn arch(&self) -> ArchArg {
        self.arch.unwrap_or(ArchArg::Conv)
    }
    /// `--layers`, 3 by default.
    pub fn layers(&self) -> usize {
        self.layers.unwrap_or(3)
    }
    /// `--heads`, 6 by default.
    pub fn heads(&self) -> usize {
        self.heads.unwrap_or(6)
    }
    /// `--mixture`, 1 by default.
    pub fn mixture(&self) -> usize {
        self.mixture.unwrap_or(1)
    }
    /// `--latent`, 32 by default.
    pub fn latent(&self) -> usize {
        self.latent.unwrap_or(32)
    }
    /// `--beta`, 1 by default.
    pub fn beta(&self) -> f64 {
        self.beta.unwrap_or(1.0)
    }
    /// `--context` (latent transformers), 32 tokens by default (beats: about 20 s of ECG
    /// at 100 bpm).
    pub fn context(&self) -> usize {
        self.context.unwrap_or(32)
    }
}

/// `--arch` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchArg {
    /// 1-D convolutions over spectral frames.
    Conv,
    /// MLP over the flattened window.
    Mlp,
}

/// Beat states fitted by default (6–8 remain on MIT-BIH 208's 240 s folds after merging
/// states under 10 beats). Against the training record AUC 0.75–0.80 vs one walk's
/// 0.82–0.83; held out (five folds × four seeds) 0.803 vs 0.809.
const DEFAULT_STATES: usize = 10;

/// Training window, STFT size and hop `args` ask for, with each model's defaults.
pub(super) fn window_and_stft(args: &Args) -> (f64, usize, usize) {
    let transformer = args.model == "transformer";
    let conv = !transformer && args.arch() == ArchArg::Conv;
    let n_fft = args.n_fft.unwrap_or(if conv { 64 } else { 256 });
    let window_s = args.window_s.unwrap_or(if transformer { 8.0 } else { 2.0 });
    (window_s, n_fft, args.hop.unwrap_or(n_fft / 4))
}

/// The output spec: labels and units of the picked channels, the training rate, and a
/// physical range 1.5× the largest magnitude any source reaches on that channel (file sinks
/// size their digital range from it; every piece counts, not just the first). A channel
/// `--channels` names that the first source lacks is refused by name.
fn spec_of(src: &[Source], dc: &DataConfig) -> crate::Result<SignalSpec> {
    let rec = &src[0].record;
    let picked: Vec<&crate::record::Channel> = match &dc.channels {
        Some(l) => (rec.channel_indices(l))
            .map_err(|m| {
                crate::Error::BadInput(format!(
                    "{}: --channels: no channel labelled `{}` (channels: {})",
                    src[0].name,
                    m.label,
                    m.have.join(", ")
                ))
            })?
            .into_iter()
            .map(|i| &rec.channels[i])
            .collect(),
        None => rec.channels.iter().collect(),
    };
    let peak = |label: &str| {
        src.iter()
            .filter_map(|s| s.record.channel_index(label).map(|i| &s.record.channels[i]))
            .flat_map(|c| c.samples.iter())
            .fold(0f32, |m, v| m.max(v.abs()))
    };
    let channels = picked
        .iter()
        .map(|c| {
            let m = f64::from(peak(&c.meta.label)) * 1.5;
            ChannelSpec {
                label: c.meta.label.clone(),
                unit: c.meta.unit.clone(),
                range: (-m.max(1e-3), m.max(1e-3)),
            }
        })
        .collect();
    let Some(first) = picked.first() else {
        return Err(crate::Error::BadInput(format!(
            "{}: no channels to train on",
            src[0].name
        )));
    };
    Ok(SignalSpec {
        sample_rate: dc.sample_rate.unwrap_or(first.meta.sample_rate),
        channels,
    })
}

/// Trains a model and writes its checkpoint (models/NAME or a path).
pub fn run(args: Args) -> crate::Result<()> {
    check_flags(&args)?;
    if let Some(codec) = &args.codec {
        return super::train_latent::run(&args, codec);
    }
    let src = sources(&args, true)?;
    let dc = data_config(&args);
    let spec = spec_of(&src, &dc)?;
    let fingerprints = fingerprints(&args)?;
    let data = Dataset::build(src, &dc)?;
    let out = out_dir(&args);
    let mut ckpt = new_checkpoint(&args, fingerprints, spec, dc, data.stats.clone());
    set_model_config(&args, &data, &mut ckpt);
    let resume = validate_and_resume(&args, &out, &mut ckpt)?;
    // Measured before training, so a record too short for them is refused at once.
    let targets = record_targets(&args, &ckpt.data)?;
    let t0 = std::time::Instant::now();
    let fit = Fit {
        args: &args,
        data: &data,
        out: &out,
        dev: device(),
        resume,
    };
    let mut done = if ckpt.transformer.is_some() {
        fit.transformer(ckpt)?
    } else {
        fit.vae(ckpt, targets.beat_means.as_ref())?
    };
    (done.spectrum, done.envelope, done.shape, done.beat_means) = (
        targets.spectrum,
        targets.envelope,
        targets.shape,
        targets.beat_means,
    );
    done.wander = targets.wander;
    checkpoint::save_config(&out, &done)?;
    report(&out, t0, &done);
    Ok(())
}

/// Refuses flags that do not go together, before any data is read.
fn check_flags(args: &Args) -> crate::Result<()> {
    if args.model != "vae" && args.model != "transformer" {
        return refuse(format!("--model {}: choose vae or transformer", args.model));
    }
    check_model_kind_flags(args)?;
    check_run_flags(args)?;
    check_output_flags(args)?;
    check_head_flags(args)?;
    if args.codec.is_some() {
        return Ok(());
    }
    if args.model == "transformer" && args.beats {
        return refuse(
            "--beats applies to the VAE only (the transformer streams frame by frame)".into(),
        );
    }
    if args.states.is_some() && !args.beats {
        return refuse(
            "--states applies to beat-aligned VAEs (--beats): the states are beat types".into(),
        );
    }
    check_beat_means(args)
}

/// `--context` (latent transformers only), `--epochs` and `--max-minutes` (positive).
fn check_run_flags(args: &Args) -> crate::Result<()> {
    if args.context.is_some() && args.codec.is_none() {
        return refuse(
            "--context applies to latent transformers (--codec); a frame transformer's \
             context is its training window (--window-s)"
                .into(),
        );
    }
    if args.epochs == Some(0) {
        return refuse("--epochs 0: train for at least one epoch".into());
    }
    if args
        .max_minutes
        .is_some_and(|m| !(m.is_finite() && m > 0.0))
    {
        return refuse(format!(
            "--max-minutes {}: must be a positive number of minutes",
            args.max_minutes.unwrap_or_default()
        ));
    }
    Ok(())
}

/// Refuses a network-shape flag of the other kind of model (it would be ignored): the
/// VAE's `--arch`, `--latent`, `--beta` on a transformer, the transformer's `--layers`,
/// `--heads`, `--mixture` on a VAE.
fn check_model_kind_flags(args: &Args) -> crate::Result<()> {
    let vae_only = [
        ("--arch", args.arch.is_some()),
        ("--latent", args.latent.is_some()),
        ("--beta", args.beta.is_some()),
    ];
    let transformer_only = [
        ("--layers", args.layers.is_some()),
        ("--heads", args.heads.is_some()),
        ("--mixture", args.mixture.is_some()),
    ];
    let (other, given) = if args.model == "transformer" {
        ("the VAE (a latent transformer takes its codec's)", vae_only)
    } else {
        ("the transformer", transformer_only)
    };
    match given.iter().find(|(_, on)| *on) {
        Some((flag, _)) => refuse(format!("{flag} shapes {other}, not --model {}", args.model)),
        None => Ok(()),
    }
}

/// A bad-input error with `msg`, for the flag checks.
fn refuse(msg: String) -> crate::Result<()> {
    Err(crate::Error::BadInput(msg))
}

/// The flags that shape a model's output after the network (`--envelope`, `--shape`,
/// `--fine-eq`): a latent transformer's codec carries its own.
fn check_output_flags(args: &Args) -> crate::Result<()> {
    let frame_transformer = args.model == "transformer" && args.codec.is_none();
    for (set, flag) in [(args.envelope, "--envelope"), (args.wander, "--wander")] {
        if set && !frame_transformer {
            return refuse(format!(
                "{flag} applies to the frame transformer (--model transformer without --codec)"
            ));
        }
    }
    if args.shape && args.codec.is_some() {
        return refuse(
            "--shape applies to a VAE or a frame transformer (not with --codec: the codec's \
             own output is shaped)"
                .into(),
        );
    }
    match args.fine_eq {
        Some(_) if args.codec.is_some() => refuse(
            "--fine-eq applies to a VAE or a frame transformer (not with --codec: the \
             codec's own output is equalised)"
                .into(),
        ),
        Some(hz) if !(hz.is_finite() && hz > 0.0) => {
            refuse(format!("--fine-eq {hz}: give a band's top in Hz above 0"))
        }
        _ => Ok(()),
    }
}

/// The transformer's head and sampling flags (`--codebook`, `--temperature`, `--clock`,
/// `--clock-kinds`).
fn check_head_flags(args: &Args) -> crate::Result<()> {
    let frame_transformer = args.model == "transformer" && args.codec.is_none();
    if args.codebook > 0 {
        if !frame_transformer {
            return refuse(
                "--codebook applies to the frame transformer (--model transformer \
                           without --codec)"
                    .into(),
            );
        }
        if args.mixture() > 1 {
            return refuse("--codebook and --mixture are two kinds of head: choose one".into());
        }
        if args.codebook > MAX_CODEBOOK {
            return refuse(format!(
                "--codebook {}: at most {MAX_CODEBOOK}",
                args.codebook
            ));
        }
    }
    if let Some(t) = args.temperature {
        if args.model != "transformer" || !crate::model::transformer_gen::is_temperature(t) {
            return refuse(format!(
                "--temperature {t}: a transformer's sampling temperature, in [0, {}]",
                crate::model::transformer_gen::MAX_TEMPERATURE
            ));
        }
    }
    if args.clock && !frame_transformer {
        return refuse(
            "--clock applies to the frame transformer (--model transformer without --codec)".into(),
        );
    }
    let max = crate::dsp::beat_clock::MAX_KINDS;
    if args.clock_kinds == 0 || args.clock_kinds > max || (args.clock_kinds > 1 && !args.clock) {
        return refuse(format!(
            "--clock-kinds {}: 1 to {max} kinds of beat, more than one only with --clock",
            args.clock_kinds
        ));
    }
    Ok(())
}

/// `--beat-means K` only for a beat-aligned VAE, with 1 to `beat_mean::MAX_KINDS` kinds.
fn check_beat_means(args: &Args) -> crate::Result<()> {
    let max = crate::model::beat_mean::MAX_KINDS;
    let msg = match args.beat_means {
        Some(_) if !args.beats || args.model != "vae" => {
            "--beat-means applies to beat-aligned VAEs (--model vae --beats)".to_string()
        }
        Some(k) if k == 0 || k > max => format!("--beat-means {k}: choose 1 to {max}"),
        _ => return Ok(()),
    };
    refuse(msg)
}

/// Windows, STFT, rate, channels and beat alignment of the training data, from the flags.
fn data_config(args: &Args) -> DataConfig {
    let (window_s, n_fft, hop) = window_and_stft(args);
    DataConfig {
        window_s,
        stride_s: args.stride_s,
        spectral: SpectralConfig {
            n_fft,
            hop,
            ..SpectralConfig::default()
        },
        sample_rate: args.fs,
        channels: args.channels.clone(),
        seed: args.seed,
        beats: args.beats.then(BeatAlign::default),
        clock: args.clock,
        clock_kinds: if args.clock && args.clock_kinds > 1 {
            args.clock_kinds
        } else {
            0
        },
        // The wander replays the baseline: the frames (and the codes fitted to them) leave
        // it out, else codes split on the baseline's level and the sampler, drawing them
        // out of order, makes frame-long bumps of it (`models/README.md`).
        remove_baseline_hz: args.wander.then_some(crate::model::wander::CUTOFF_HZ),
        ..DataConfig::default()
    }
}

/// The transformer's or the VAE's sizes, from the flags and the data.
fn set_model_config(args: &Args, data: &Dataset, ckpt: &mut CheckpointConfig) {
    if args.model == "transformer" {
        ckpt.transformer = Some(TransformerConfig {
            n_features: data.n_features(),
            d_model: args.hidden.unwrap_or(192),
            n_heads: args.heads(),
            n_layers: args.layers(),
            d_ff: 4 * args.hidden.unwrap_or(192),
            context: data.window_frames,
            mixture: args.mixture(),
            codebook: args.codebook,
            rhythm: data.rr_intervals(),
            codes_by_clock: Vec::new(),
            kinds: data.config.clock_kinds,
            rhythm_kinds: data.rr_kinds(),
            kind_labels: data.kind_labels.clone(),
            kind_labelled: data.kind_labelled.clone(),
        });
    } else {
        let conv = args.arch() == ArchArg::Conv;
        ckpt.vae = Some(VaeConfig {
            n_features: data.n_features(),
            window_frames: data.window_frames,
            hidden: args.hidden.unwrap_or(if conv { 128 } else { 256 }),
            latent: args.latent(),
            arch: if conv { VaeArch::Conv } else { VaeArch::Mlp },
        });
    }
}

/// One model's training on the data, into `out` (resuming from it where asked), then what
/// its sampler measures from the trained weights.
struct Fit<'a> {
    args: &'a Args,
    data: &'a Dataset,
    out: &'a Path,
    dev: Device,
    resume: bool,
}

impl Fit<'_> {
    /// Seeds the weights (unless resuming) and runs the shared training loop.
    fn train(
        &self,
        obj: &(dyn Objective + Sync),
        varmap: &candle_nn::VarMap,
        ckpt: CheckpointConfig,
    ) -> crate::Result<CheckpointConfig> {
        if !self.resume {
            train::seed_weights(varmap, self.args.seed)?;
        }
        let tc = train_config(self.args)?;
        let done = train::train(obj, varmap, self.data, &tc, ckpt, self.out, &self.dev)?;
        stopped(&tc, &done, self.out)?;
        Ok(done)
    }

    /// The checkpoint to start from: `out` itself when resuming, else none (fresh weights).
    fn weights(&self) -> Option<&Path> {
        self.resume.then_some(self.out)
    }

    /// The frame transformer (its codebook, and with a clock its codes per place in the
    /// cycle, fitted first unless resuming), then how its draws couple across channels.
    fn transformer(&self, mut ckpt: CheckpointConfig) -> crate::Result<CheckpointConfig> {
        let mut c = ckpt.transformer.clone().expect("a transformer checkpoint");
        let book = match c.codebook {
            k if k > 0 && !self.resume => Some(Codebook::fit(self.data, k, self.args.seed)?),
            _ => None,
        };
        if let Some(b) = &book {
            c.codebook = b.k();
            c.codes_by_clock = b.by_clock.clone();
            ckpt.transformer = Some(c.clone());
        }
        let (model, varmap) =
            train::build(|vb| Transformer::new(&c, vb), &self.dev, self.weights())?;
        if let Some(b) = &book {
            b.store(&varmap)?;
        }
        let mut done = self.train(&TransformerObjective { model: &model }, &varmap, ckpt)?;
        done.draw_coupling = draw_coupling(&model, self.data, &self.dev).map_err(to_err)?;
        Ok(done)
    }

    /// The VAE, then its latent prior, beat states (kind by kind where `kinds` tells the
    /// beats' kinds) and decoder residual.
    fn vae(
        &self,
        ckpt: CheckpointConfig,
        kinds: Option<&BeatMeanTarget>,
    ) -> crate::Result<CheckpointConfig> {
        let c = ckpt.vae.clone().expect("a VAE checkpoint");
        let (model, varmap) = train::build(|vb| Vae::new(&c, vb), &self.dev, self.weights())?;
        let obj = VaeObjective {
            model: &model,
            beta: self.args.beta(),
            beta_warmup: 500,
        };
        let mut done = self.train(&obj, &varmap, ckpt)?;
        done.latent_prior = Some(LatentPrior::of_training_windows(
            &model, self.data, &self.dev,
        )?);
        let states = self.args.states.unwrap_or(DEFAULT_STATES);
        if done.data.beats.is_some() && states > 0 {
            done.latent_states = beat_states(self.args, &model, &done, &self.dev, states, kinds)?;
        }
        let residual = decoder_noise::residual(&model, self.data, &self.dev)?;
        done.decoder_noise = Some(residual.std);
        done.decoder_noise_coupling = residual.coupling;
        Ok(done)
    }
}

/// Beat types and rhythm of the training records' beat latents (`model::latent_states`),
/// fitted kind by kind where `kinds` (`--beat-means`) tells the beats' kinds.
fn beat_states(
    args: &Args,
    model: &Vae,
    done: &CheckpointConfig,
    dev: &candle_core::Device,
    k: usize,
    kinds: Option<&BeatMeanTarget>,
) -> crate::Result<Option<LatentStates>> {
    let (mut seqs, mut beat_kinds, mut views) = (Vec::new(), Vec::new(), 1);
    for s in sources(args, false)? {
        let one = token_sequences(model, done, &s, dev)?;
        views = one.len();
        seqs.extend(one.into_iter().map(|r| r.data));
        if let Some(t) = kinds {
            beat_kinds.extend(token_kinds(model, done, &s, t)?);
        }
    }
    let beats = BeatLatents {
        seqs: &seqs,
        kinds: &beat_kinds,
        latent: model.config().latent,
        views,
    };
    Ok(LatentStates::fit(&beats, k, args.seed))
}

/// What the samplers calibrate to, from the training records each whole and prepared as
/// for training (`record_targets`).
struct RecordTargets {
    /// Their mean log PSD per channel (`model::equaliser`; `None` if all are shorter than
    /// one window).
    spectrum: Option<SpectrumTarget>,
    /// With `--envelope`, the spread of their windows' loudness (`model::envelope`,
    /// windows as long as the model's).
    envelope: Option<EnvelopeTarget>,
    /// With `--shape`, their waveform shape around its local loudness (`model::shape`).
    shape: Option<ShapeTarget>,
    /// With `--beat-means`, their mean beat per kind (`model::beat_mean`).
    beat_means: Option<BeatMeanTarget>,
    /// With `--wander`, their baseline and noise (`model::wander`).
    wander: Option<WanderTarget>,
}

/// Measures [`RecordTargets`] of the training records.
fn record_targets(args: &Args, data: &DataConfig) -> crate::Result<RecordTargets> {
    let (mut spectra, mut signal_sets, mut rate) = (Vec::new(), Vec::new(), 0.0);
    let mut marks = Vec::new();
    for src in records(args, false)? {
        let (signals, fs) = crate::data::prepare_signals(&src, data)?;
        let low = args
            .fine_eq
            .and_then(|hz| LowTarget::of_signals(&signals, fs, hz));
        spectra.extend(SpectrumTarget::of_signals(&signals, fs).map(|t| t.with_low(low)));
        rate = fs;
        if args.envelope || args.shape || args.wander || args.beat_means.is_some() {
            marks.push(beat_kinds::marks(&src.record, fs, signals[0].len()));
            signal_sets.push(signals);
        }
    }
    let sets = Measured {
        signals: &signal_sets,
        marks: &marks,
        rate,
    };
    let mut targets = waveform_targets(args, &sets, data.window_s)?;
    let spectrum = SpectrumTarget::mean_of(&spectra);
    if args.fine_eq.is_some() && spectrum.as_ref().is_none_or(|t| t.low.is_none()) {
        let window = 2 * crate::model::equaliser::low_nperseg(rate);
        return Err(crate::Error::BadInput(format!(
            "--fine-eq: no training record holds one measuring window of {window} samples \
             ({:.0} s), or the band holds under two of its bins",
            window as f64 / rate
        )));
    }
    targets.spectrum = spectrum;
    if args.wander {
        targets.wander = Some(WanderTarget::of_records(&signal_sets, rate)?);
    }
    Ok(targets)
}

/// The training records' prepared signals at `rate`, and their beat labels (`beat_kinds::marks`).
struct Measured<'a> {
    signals: &'a [Vec<Vec<f32>>],
    marks: &'a [Vec<(usize, &'static str)>],
    rate: f64,
}

/// The targets the flags ask of the records' waveforms (`--envelope`, `--shape`,
/// `--beat-means`), measured on the whole training records; no spectrum yet.
fn waveform_targets(args: &Args, sets: &Measured, window_s: f64) -> crate::Result<RecordTargets> {
    let (records, rate) = (sets.signals, sets.rate);
    let short = |flag: &str| {
        crate::Error::BadInput(format!(
            "{flag}: the training records hold under 8 windows of {} s",
            window_s
        ))
    };
    let envelope = args
        .envelope
        .then(|| {
            EnvelopeTarget::of_records(records, rate, window_s).ok_or_else(|| short("--envelope"))
        })
        .transpose()?;
    let shape = args
        .shape
        .then(|| ShapeTarget::of_records(records, rate, window_s).ok_or_else(|| short("--shape")))
        .transpose()?;
    let beat_means = match args.beat_means {
        Some(k) => Some(
            BeatMeanTarget::of_records(records, sets.marks, rate, k, args.seed).ok_or_else(
                || {
                    crate::Error::BadInput(
                        "--beat-means: the training records hold under 20 whole beats (R peaks of \
                     their first channel), or their rate is under 80 Hz (the QRS shapes are \
                     compared at 0.67-40 Hz)"
                            .into(),
                    )
                },
            )?,
        ),
        None => None,
    };
    Ok(RecordTargets {
        spectrum: None,
        envelope,
        shape,
        beat_means,
        wander: None,
    })
}

/// The one-line summary `train` ends with.
pub(super) fn report(out: &std::path::Path, t0: std::time::Instant, done: &CheckpointConfig) {
    eprintln!(
        "biowave: trained {} in {:.1} s ({} steps); losses {}; saved {}",
        out.display(),
        t0.elapsed().as_secs_f64(),
        done.step,
        done.losses,
        out.display()
    );
}

/// A new run's config.json: kind, spec, data settings and normalisation, provenance; the
/// caller adds the model section (and what it fits after training).
pub(super) fn new_checkpoint(
    args: &Args,
    fingerprints: Vec<(String, String)>,
    spec: SignalSpec,
    data: DataConfig,
    norm: NormStats,
) -> CheckpointConfig {
    CheckpointConfig {
        kind: args.model.clone(),
        format_version: checkpoint::FORMAT_VERSION,
        crate_version: env!("CARGO_PKG_VERSION").into(),
        vae: None,
        transformer: None,
        temperature: (args.model == "transformer").then_some(args.temperature.unwrap_or(1.0)),
        spec,
        data,
        norm,
        fingerprints,
        seed: args.seed,
        command: command(),
        step: 0,
        losses: serde_json::Value::Null,
        latent_prior: None,
        latent_states: None,
        decoder_noise: None,
        decoder_noise_coupling: None,
        draw_coupling: None,
        spectrum: None,
        envelope: None,
        wander: None,
        shape: None,
        beat_means: None,
        codec: None,
    }
}

/// Validates `ckpt`; with `--resume` and a checkpoint already in `out`, checks it is the
/// same model (sections and codec) and continues from its step. Returns whether to resume.
pub(super) fn validate_and_resume(
    args: &Args,
    out: &std::path::Path,
    ckpt: &mut CheckpointConfig,
) -> crate::Result<bool> {
    ckpt.validate()
        .map_err(|e| crate::Error::BadInput(format!("train: {e}")))?;
    let resume = args.resume && out.join("config.json").exists();
    if resume {
        let old = checkpoint::load_config(out)?;
        // Fitted with the codebook, not set by flags: resuming keeps the checkpoint's.
        if let (Some(o), Some(n)) = (&old.transformer, ckpt.transformer.as_mut()) {
            n.codes_by_clock.clone_from(&o.codes_by_clock);
        }
        if old.vae != ckpt.vae
            || unnamed(&old.transformer) != unnamed(&ckpt.transformer)
            || old.codec != ckpt.codec
        {
            return Err(crate::Error::bad_path(
                out,
                "--resume: the checkpoint's model shape differs from this data and these flags",
            ));
        }
        // Its codebook and weights were fitted to frames made as its `data` says: a
        // checkpoint made before `--wander` left the baseline out of them differs here.
        if old.data != ckpt.data {
            return Err(crate::Error::bad_path(
                out,
                "--resume: the checkpoint's data settings (`data` in its config.json) differ \
                 from those these flags and this train make; train it afresh",
            ));
        }
        // The losses it reached stand until this run takes a step of its own.
        (ckpt.step, ckpt.losses) = (old.step, old.losses);
    }
    Ok(resume)
}

/// A transformer section without its kinds' names: those come from the training records'
/// beat labels, so a resumed run on labelled records may name kinds the checkpoint did not.
fn unnamed(t: &Option<TransformerConfig>) -> Option<TransformerConfig> {
    t.clone().map(|mut t| {
        (t.kind_labels, t.kind_labelled) = (Vec::new(), Vec::new());
        t
    })
}

/// Name and sha256 of every training file.
pub(super) fn fingerprints(args: &Args) -> crate::Result<Vec<(String, String)>> {
    args.data
        .iter()
        .map(|p| Ok((p.display().to_string(), checkpoint::fingerprint(p)?)))
        .collect()
}

/// The checkpoint directory: `models/NAME`, or the path when `--out` has a `/`.
pub(super) fn out_dir(args: &Args) -> PathBuf {
    if args.out.contains('/') {
        PathBuf::from(&args.out)
    } else {
        PathBuf::from("models").join(&args.out)
    }
}

/// This process's command line, as recorded in the checkpoint: shell-quoted, so that it
/// can be pasted back (`--channels "EEG Fp1,EEG Fp2"` keeps its quotes).
fn command() -> String {
    let args: Vec<String> = std::iter::once("biowave".to_string())
        .chain(std::env::args().skip(1))
        .collect();
    shlex::try_join(args.iter().map(String::as_str)).unwrap_or_else(|_| args.join(" "))
}

/// The training loop's settings from the flags, and the shutdown flag SIGINT/SIGTERM set.
pub(super) fn train_config(args: &Args) -> crate::Result<TrainConfig> {
    Ok(TrainConfig {
        epochs: args.epochs.unwrap_or(60),
        batch: args.batch,
        lr: args.lr,
        warmup: 50,
        clip: 1.0,
        patience: args.patience,
        checkpoint_every: 200,
        max_minutes: args.max_minutes.unwrap_or(20.0),
        seed: args.seed,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        stop: crate::shutdown::flag()?,
    })
}

/// After the training loop: the error that says a signal stopped it, and how to go on;
/// else signals end the process as by default again (what follows the loop does not stop
/// half-way cleanly).
pub(super) fn stopped(tc: &TrainConfig, ckpt: &CheckpointConfig, out: &Path) -> crate::Result<()> {
    if !tc.stop.load(std::sync::atomic::Ordering::Relaxed) {
        return crate::shutdown::restore_default();
    }
    Err(crate::Error::Interrupted(format!(
        "train stopped by a signal at step {}: {} holds the weights and the optimiser's \
         state; the same command with --resume goes on exactly where it stopped",
        ckpt.step,
        out.display()
    )))
}

/// Where training runs: the first CUDA device when built with `cuda` and one is there.
pub(super) fn device() -> candle_core::Device {
    #[cfg(feature = "cuda")]
    if let Ok(d) = candle_core::Device::new_cuda(0) {
        return d;
    }
    candle_core::Device::Cpu
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::train_data::piece_count;
    use clap::Parser;

    fn args(model: &str, extra: &[&str]) -> Args {
        let base = [
            "biowave", "train", "--model", model, "--data", "x.edf", "--out", "o",
        ];
        let cli = super::super::Cli::try_parse_from(base.iter().chain(extra)).unwrap();
        match cli.command {
            super::super::Command::Train(a) => a,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn short_records_are_cut_into_fewer_pieces_that_each_hold_a_window() {
        let a = args(
            "vae",
            &[
                "--arch",
                "mlp",
                "--n-fft",
                "128",
                "--hop",
                "32",
                "--window-s",
                "2",
            ],
        );
        // A piece needs 64 + 32 × (8 + 2 − 1) = 352 samples at 128 Hz (interior frames).
        let count = |n, a: &Args| piece_count("x.edf", n, 128.0, a).map_err(|e| e.to_string());
        assert_eq!(count(16 * 128, &a), Ok(5));
        assert_eq!(count(12 * 128, &a), Ok(4));
        assert_eq!(count(352 * 3, &a), Ok(3));
        assert_eq!(count(352 * 3 - 1, &a), Ok(2));
        assert_eq!(count(352 * 2, &a), Ok(2));
        let short = count(352 * 2 - 1, &a).unwrap_err();
        assert!(
            short.contains("x.edf: 5.49 s is too short") && short.contains("2.75 s"),
            "{short}"
        );
        // The transformer's default 8 s windows need longer pieces at the same STFT.
        let t = args("transformer", &["--n-fft", "128"]);
        assert_eq!(count(1120 * 2, &t), Ok(2));
        assert!(count(1120 * 2 - 1, &t).is_err());
    }
}
