//! The training loop shared by the learned models: AdamW, linear warm-up then cosine
//! decay, global gradient-norm clipping, validation by record, early stopping, checkpoints
//! every N steps and at the end, `--resume`, a wall-clock budget, and a progress bar with
//! the loss terms and windows per second. A model plugs in through [`Objective`]. On the
//! CPU each batch's gradients are computed data-parallel (`model::data_parallel`).

use super::adamw::AdamW;
use super::checkpoint::{self, CheckpointConfig};
use super::data_parallel::{batch_gradients, SHARDS};
use super::resume;
use crate::data::{Dataset, Part};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What the shared loop trains: a model scoring batches of windows.
pub trait Objective {
    /// Names of the loss terms [`Objective::losses`] returns; the first is the validation
    /// score that early stopping watches.
    fn term_names(&self) -> &'static [&'static str];
    /// The loss to minimise and its named terms for windows `x` (`[n, frames, features]`).
    /// `noise` is given while training (stochastic parts on) and absent when validating;
    /// `step` drives schedules such as the VAE's KL warm-up.
    fn losses(
        &self,
        x: &Tensor,
        step: u64,
        noise: Option<&mut ChaCha8Rng>,
    ) -> candle_core::Result<(Tensor, Vec<Tensor>)>;
}

/// Settings of one training run.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Passes over the training windows.
    pub epochs: usize,
    /// Windows per batch.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup: u64,
    /// Global gradient-norm limit.
    pub clip: f64,
    /// Stop after this many epochs (counted once warm-up is over) without a better
    /// validation loss.
    pub patience: usize,
    /// Save a checkpoint every this many steps.
    pub checkpoint_every: u64,
    /// Wall-clock budget.
    pub max_minutes: f64,
    /// Seed (weights, noise, shuffling).
    pub seed: u64,
    /// Show a progress bar.
    pub progress: bool,
    /// Set by SIGINT/SIGTERM ([`crate::shutdown::flag`]): the run stops after the step in
    /// progress, saved for an exact `--resume`, as when the wall-clock budget runs out.
    pub stop: Arc<AtomicBool>,
}

/// A candle error as ours.
pub fn to_err(e: candle_core::Error) -> Error {
    Error::BadInput(format!("model: {e}"))
}

/// Learning rate at `step` of `total`: linear warm-up, then cosine decay to 10 %.
pub fn lr_at(cfg: &TrainConfig, step: u64, total: u64) -> f64 {
    if step < cfg.warmup {
        return cfg.lr * (step + 1) as f64 / cfg.warmup as f64;
    }
    let t = (step - cfg.warmup) as f64 / (total.saturating_sub(cfg.warmup).max(1)) as f64;
    cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos()))
}

/// Scales all gradients so their global L2 norm is at most `max`; returns the norm.
fn clip_gradients(
    grads: &mut candle_core::backprop::GradStore,
    vars: &[candle_core::Var],
    max: f64,
) -> Result<f64> {
    let mut sq = 0.0f64;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            sq += f64::from(
                g.sqr()
                    .and_then(|t| t.sum_all())
                    .and_then(|t| t.to_scalar::<f32>())
                    .map_err(to_err)?,
            );
        }
    }
    let norm = sq.sqrt();
    if norm > max {
        let s = max / norm;
        for v in vars {
            if let Some(g) = grads.remove(v.as_tensor()) {
                grads.insert(v.as_tensor(), g.affine(s, 0.0).map_err(to_err)?);
            }
        }
    }
    Ok(norm)
}

/// Mean of each loss term over a part of the data, without noise.
fn evaluate(
    obj: &(dyn Objective + Sync),
    data: &Dataset,
    part: Part,
    dev: &Device,
) -> Result<Vec<f64>> {
    let mut sums = vec![0.0; obj.term_names().len()];
    let mut n = 0usize;
    for b in data.batches(part, 64, 0) {
        let x =
            Tensor::from_vec(b.data, (b.shape[0], b.shape[1], b.shape[2]), dev).map_err(to_err)?;
        let (_, terms) = obj.losses(&x, u64::MAX, None).map_err(to_err)?;
        for (s, t) in sums.iter_mut().zip(&terms) {
            *s += scalar(t)? * b.shape[0] as f64;
        }
        n += b.shape[0];
    }
    Ok(sums.into_iter().map(|s| s / n.max(1) as f64).collect())
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(f64::from(t.to_scalar::<f32>().map_err(to_err)?))
}

/// `{"name": value, …}` of loss terms.
fn terms_json(names: &[&str], values: &[f64]) -> serde_json::Value {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| (n.to_string(), serde_json::json!(v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Trains the model behind `obj` (weights in `varmap`) on `data`, saving into `out` with
/// `ckpt` as the config template. Returns the final config (steps, losses).
pub fn train(
    obj: &(dyn Objective + Sync),
    varmap: &VarMap,
    data: &Dataset,
    cfg: &TrainConfig,
    mut ckpt: CheckpointConfig,
    out: &Path,
    dev: &Device,
) -> Result<CheckpointConfig> {
    let mut run = Run::start(obj, varmap, data, cfg, ckpt.step, out, dev)?;
    let resumed_at = ckpt.step;
    let first_epoch = (run.step / run.per_epoch.max(1)) as usize;
    // Batches of the first epoch that the run being resumed had already trained on.
    let mut done_in_epoch = (run.step - first_epoch as u64 * run.per_epoch) as usize;
    let mut finished = true;
    for epoch in first_epoch..cfg.epochs {
        if !run.epoch(epoch, std::mem::take(&mut done_in_epoch), &mut ckpt)? {
            finished = false;
            break;
        }
        if run.should_stop(epoch)? {
            break;
        }
    }
    if let Some(b) = run.bar.take() {
        b.finish_and_clear();
    }
    let val = run.validation()?;
    // A resumed run that had no step left to take keeps the training losses it resumed
    // with (`ckpt.losses`, copied by `--resume`), not a loss of 0 it never measured.
    let trained = match run.step > resumed_at {
        true => terms_json(run.term_names, &run.last),
        false => ckpt.losses["train"].clone(),
    };
    let validated = val.map(|v| terms_json(run.term_names, &v));
    let losses = serde_json::json!({ "train": trained, "validation": validated });
    save(varmap, &mut ckpt, run.step, losses, out)?;
    if finished {
        resume::remove(out);
    } else {
        resume::save(out, &run.names, &run.opt, &run.state())?;
    }
    Ok(ckpt)
}

/// One training run in progress: the optimiser, the step, the noise generator and the
/// early-stopping counters (what `--resume` restores), and the latest training losses.
struct Run<'a> {
    obj: &'a (dyn Objective + Sync),
    varmap: &'a VarMap,
    data: &'a Dataset,
    cfg: &'a TrainConfig,
    out: &'a Path,
    dev: &'a Device,
    names: Vec<String>,
    vars: Vec<candle_core::Var>,
    opt: AdamW,
    per_epoch: u64,
    total: u64,
    step: u64,
    noise: ChaCha8Rng,
    best: f64,
    stale: usize,
    start: Instant,
    bar: Option<indicatif::ProgressBar>,
    term_names: &'static [&'static str],
    last: Vec<f64>,
}

impl<'a> Run<'a> {
    /// A fresh optimiser and noise generator at `step`, restored from the optimiser state
    /// saved beside `out` when the run resumes (`step` > 0).
    fn start(
        obj: &'a (dyn Objective + Sync),
        varmap: &'a VarMap,
        data: &'a Dataset,
        cfg: &'a TrainConfig,
        step: u64,
        out: &'a Path,
        dev: &'a Device,
    ) -> Result<Self> {
        let (names, vars) = named_vars(varmap);
        let params = ParamsAdamW {
            lr: cfg.lr,
            weight_decay: 1e-4,
            ..Default::default()
        };
        let opt = AdamW::new(vars.clone(), params).map_err(to_err)?;
        let per_epoch = data
            .batches(Part::Train, cfg.batch, 0)
            .n_windows()
            .div_ceil(cfg.batch) as u64;
        let total = per_epoch * cfg.epochs as u64;
        let noise = {
            use rand::SeedableRng;
            ChaCha8Rng::seed_from_u64(cfg.seed)
        };
        let term_names = obj.term_names();
        let mut run = Run {
            obj,
            varmap,
            data,
            cfg,
            out,
            dev,
            names,
            vars,
            opt,
            per_epoch,
            total,
            step,
            noise,
            best: f64::INFINITY,
            stale: 0,
            start: Instant::now(),
            bar: progress(cfg, total, step),
            term_names,
            last: vec![0.0; term_names.len()],
        };
        if run.step > 0 {
            run.resume()?;
        }
        Ok(run)
    }

    /// Restores the optimiser's moments, the noise position and the counters of step
    /// `self.step` (moments start afresh, with a warning, where none were saved).
    fn resume(&mut self) -> Result<()> {
        match resume::load(self.out, &self.names, &mut self.opt, self.step)? {
            Some(run) => {
                self.noise
                    .set_word_pos(run.noise_position().unwrap_or_default());
                (self.best, self.stale) = (run.best.unwrap_or(f64::INFINITY), run.stale);
            }
            None => tracing::warn!(
                "{}: no optimiser state saved for step {}: its moments start afresh",
                self.out.display(),
                self.step
            ),
        }
        Ok(())
    }

    /// What `--resume` needs to continue from here.
    fn state(&self) -> resume::RunState {
        resume::RunState {
            step: self.step,
            adam_steps: self.opt.steps(),
            noise_word_pos: self.noise.get_word_pos().to_string(),
            best: self.best.is_finite().then_some(self.best),
            stale: self.stale,
        }
    }

    /// Trains one epoch, skipping its first `skip` batches (a resumed run's); saves a
    /// checkpoint every `checkpoint_every` steps. False when the wall-clock budget ran out
    /// or a signal stopped the run.
    fn epoch(&mut self, epoch: usize, skip: usize, ckpt: &mut CheckpointConfig) -> Result<bool> {
        let t0 = Instant::now();
        let (mut seen, mut sums) = (0, vec![0.0; self.term_names.len()]);
        let batches = self.data.batches(Part::Train, self.cfg.batch, epoch as u64);
        for b in batches.skip(skip) {
            let n = b.shape[0];
            let x =
                Tensor::from_vec(b.data, (n, b.shape[1], b.shape[2]), self.dev).map_err(to_err)?;
            let terms = self.optimise(&x)?;
            seen += n;
            // Reported training losses: the mean over this epoch's windows so far (one
            // batch's value, a short last batch especially, is too noisy to compare).
            for (s, t) in sums.iter_mut().zip(&terms) {
                *s += scalar(t)? * n as f64;
            }
            self.last = sums.iter().map(|s| s / seen as f64).collect();
            self.show(epoch, seen as f64 / t0.elapsed().as_secs_f64().max(1e-9));
            if self.step.is_multiple_of(self.cfg.checkpoint_every) {
                let trained = terms_json(self.term_names, &self.last);
                let losses = serde_json::json!({ "train": trained, "validation": null });
                save(self.varmap, ckpt, self.step, losses, self.out)?;
                resume::save(self.out, &self.names, &self.opt, &self.state())?;
            }
            if self.start.elapsed().as_secs_f64() > self.cfg.max_minutes * 60.0 {
                tracing::info!("wall-clock budget reached at step {}", self.step);
                return Ok(false);
            }
            if self.cfg.stop.load(Ordering::Relaxed) {
                tracing::info!("stopped by a signal at step {}", self.step);
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One optimiser step on batch `x` (gradients data-parallel on the CPU, clipped, the
    /// scheduled rate); returns the batch's loss terms.
    fn optimise(&mut self, x: &Tensor) -> Result<Vec<Tensor>> {
        let shards = if self.dev.is_cpu() { SHARDS } else { 1 };
        let (terms, mut grads) =
            batch_gradients(self.obj, x, self.step, &mut self.noise, shards, &self.vars)
                .map_err(to_err)?;
        clip_gradients(&mut grads, &self.vars, self.cfg.clip)?;
        self.opt
            .set_learning_rate(lr_at(self.cfg, self.step, self.total));
        self.opt.step(&grads).map_err(to_err)?;
        self.step += 1;
        Ok(terms)
    }

    /// The progress bar's position and message: epoch, loss terms, windows per second.
    fn show(&self, epoch: usize, rate: f64) {
        if let Some(b) = &self.bar {
            b.set_position(self.step);
            let shown: Vec<String> = self
                .term_names
                .iter()
                .zip(&self.last)
                .map(|(n, v)| format!("{n} {v:.4}"))
                .collect();
            b.set_message(format!(
                "epoch {epoch} {} {rate:.0} windows/s",
                shown.join(" ")
            ));
        }
    }

    /// The validation loss terms, if there is a validation part.
    fn validation(&self) -> Result<Option<Vec<f64>>> {
        if self.data.validation.is_empty() {
            return Ok(None);
        }
        evaluate(self.obj, self.data, Part::Validation, self.dev).map(Some)
    }

    /// Early stopping after `epoch`: the validation score (else the training loss) has not
    /// improved for `patience` epochs counted once warm-up is over.
    fn should_stop(&mut self, epoch: usize) -> Result<bool> {
        let val = self.validation()?;
        let score = val.as_ref().map_or(self.last[0], |v| v[0]);
        if score < self.best - 1e-6 {
            (self.best, self.stale) = (score, 0);
        } else if self.step >= self.cfg.warmup {
            // During warm-up the rate is still rising: no verdict on the model yet.
            self.stale += 1;
            if self.stale >= self.cfg.patience {
                tracing::info!(
                    "early stop after epoch {epoch}: validation loss has not improved for {} epochs",
                    self.stale
                );
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The trainable parameters (not a codebook's fitted tensors) sorted by name, with the
/// names: one order in every process (a `VarMap` iterates in hash order), so saved
/// optimiser moments find their parameter.
fn named_vars(varmap: &VarMap) -> (Vec<String>, Vec<candle_core::Var>) {
    let data = varmap.data().lock().expect("varmap lock");
    let mut named: Vec<_> = data
        .iter()
        .filter(|(n, _)| !super::codebook::is_fitted(n))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.into_iter().unzip()
}

fn progress(cfg: &TrainConfig, total: u64, at: u64) -> Option<indicatif::ProgressBar> {
    cfg.progress.then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps {msg}")
                .expect("valid template"),
        );
        b.set_position(at);
        b
    })
}

fn save(
    varmap: &VarMap,
    ckpt: &mut CheckpointConfig,
    step: u64,
    losses: serde_json::Value,
    out: &Path,
) -> Result<()> {
    (ckpt.step, ckpt.losses) = (step, losses);
    std::fs::create_dir_all(out).map_err(|e| Error::bad_path(out, e))?;
    let tmp = out.join("model.safetensors.tmp");
    varmap.save(&tmp).map_err(to_err)?;
    std::fs::rename(&tmp, out.join("model.safetensors"))
        .map_err(|e| Error::os(format!("writing {}", out.display()), e))?;
    checkpoint::save_config(out, ckpt)
}

/// Re-initialises every weight (not a codebook's fitted tensors) from a seeded generator
/// (candle's CPU initialiser cannot be seeded): uniform ±1/√fan_in, PyTorch's default for
/// linear layers, in name order.
pub fn seed_weights(varmap: &VarMap, seed: u64) -> Result<()> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::BadInput("model: weights locked".into()))?;
    let mut names: Vec<&String> = data
        .keys()
        .filter(|n| !super::codebook::is_fitted(n))
        .collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        if is_norm(name) {
            let one: f32 = if name.ends_with("weight") { 1.0 } else { 0.0 };
            let t = Tensor::full(one, dims, var.device()).map_err(to_err)?;
            var.set(&t).map_err(to_err)?;
            continue;
        }
        // A weight's fan-in is everything but its output axis: `in` for a linear
        // `[out, in]`, `in × k` for a convolution `[out, in, k]`.
        let fan_in = if name.ends_with("bias") || dims.len() < 2 {
            dims.first().copied().unwrap_or(1)
        } else {
            dims[1..].iter().product()
        };
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        let n: usize = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
        let t = Tensor::from_vec(v, dims, var.device()).map_err(to_err)?;
        var.set(&t).map_err(to_err)?;
    }
    Ok(())
}

/// Layer-norm parameters (`…ln1.weight`, `ln_f.bias`): they start at 1 and 0.
fn is_norm(name: &str) -> bool {
    name.split('.')
        .rev()
        .nth(1)
        .is_some_and(|layer| layer.starts_with("ln"))
}

/// Seeded standard normal noise `[rows, cols]`.
pub fn randn(rng: &mut ChaCha8Rng, rows: usize, cols: usize, dev: &Device) -> Result<Tensor> {
    use rand_distr::{Distribution, StandardNormal};
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| StandardNormal.sample(rng))
        .collect();
    Tensor::from_vec(v, (rows, cols), dev).map_err(to_err)
}

/// Builds a model on `dev` with `make`, loading weights from `dir` when given.
pub fn build<M>(
    make: impl FnOnce(VarBuilder) -> candle_core::Result<M>,
    dev: &Device,
    weights: Option<&Path>,
) -> Result<(M, VarMap)> {
    let mut varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, dev);
    let model = make(vb).map_err(to_err)?;
    if let Some(dir) = weights {
        let file = dir.join("model.safetensors");
        varmap.load(&file).map_err(|e| Error::bad_path(&file, e))?;
    }
    Ok((model, varmap))
}

/// Builds a model for sampling from the weights in `dir`: plain tensors, not trainable
/// variables, so nothing records a gradient graph (a KV cache fed for days would otherwise
/// chain every step to the last and grow without bound).
pub fn load_frozen<M>(
    make: impl FnOnce(VarBuilder) -> candle_core::Result<M>,
    dev: &Device,
    dir: &Path,
) -> Result<M> {
    let file = dir.join("model.safetensors");
    let tensors =
        candle_core::safetensors::load(&file, dev).map_err(|e| Error::bad_path(&file, e))?;
    make(VarBuilder::from_tensors(tensors, DType::F32, dev)).map_err(|e| Error::bad_path(&file, e))
}
