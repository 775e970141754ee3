//! The training loop shared by the learned models: AdamW, linear warm-up then cosine
//! decay, global gradient-norm clipping, β (KL weight) warm-up, validation by record,
//! early stopping, checkpoints every N steps and at the end, `--resume`, a wall-clock
//! budget, and a progress bar with loss and windows per second.

use super::checkpoint::{self, CheckpointConfig};
use super::vae::{losses, Vae};
use crate::data::{Dataset, Part};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use std::path::Path;
use std::time::Instant;

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
    /// Final KL weight β and the steps over which it ramps up from 0.
    pub beta: f64,
    /// Steps of the β ramp.
    pub beta_warmup: u64,
    /// Global gradient-norm limit.
    pub clip: f64,
    /// Stop after this many epochs without a better validation loss.
    pub patience: usize,
    /// Save a checkpoint every this many steps.
    pub checkpoint_every: u64,
    /// Wall-clock budget.
    pub max_minutes: f64,
    /// Seed (weights, noise, shuffling).
    pub seed: u64,
    /// Show a progress bar.
    pub progress: bool,
}

fn to_err(e: candle_core::Error) -> Error {
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

/// Mean (reconstruction, KL) over a part of the data, with the posterior mean (no noise).
fn evaluate(model: &Vae, data: &Dataset, part: Part, dev: &Device) -> Result<(f64, f64)> {
    let (mut r, mut k, mut n) = (0.0, 0.0, 0usize);
    for b in data.batches(part, 64, 0) {
        let x =
            Tensor::from_vec(b.data, (b.shape[0], b.shape[1] * b.shape[2]), dev).map_err(to_err)?;
        let eps = x
            .zeros_like()
            .and_then(|t| t.narrow(1, 0, model.config().latent))
            .map_err(to_err)?;
        let o = model.forward(&x, &eps).map_err(to_err)?;
        let (rec, kl) = losses(&x, &o).map_err(to_err)?;
        r += f64::from(rec.to_scalar::<f32>().map_err(to_err)?) * b.shape[0] as f64;
        k += f64::from(kl.to_scalar::<f32>().map_err(to_err)?) * b.shape[0] as f64;
        n += b.shape[0];
    }
    Ok((r / n.max(1) as f64, k / n.max(1) as f64))
}

/// Trains `model` (weights in `varmap`) on `data`, saving into `out` with `ckpt` as the
/// config template. Returns the final config (steps, losses).
pub fn train(
    model: &Vae,
    varmap: &VarMap,
    data: &Dataset,
    cfg: &TrainConfig,
    mut ckpt: CheckpointConfig,
    out: &Path,
    dev: &Device,
) -> Result<CheckpointConfig> {
    let vars = varmap.all_vars();
    let params = ParamsAdamW {
        lr: cfg.lr,
        weight_decay: 1e-4,
        ..Default::default()
    };
    let mut opt = AdamW::new(vars.clone(), params).map_err(to_err)?;
    let per_epoch = data
        .batches(Part::Train, cfg.batch, 0)
        .n_windows()
        .div_ceil(cfg.batch) as u64;
    let total = per_epoch * cfg.epochs as u64;
    let start = Instant::now();
    let bar = progress(cfg, total, ckpt.step);
    let (mut best, mut stale) = (f64::INFINITY, 0);
    let mut step = ckpt.step;
    let first_epoch = (step / per_epoch.max(1)) as usize;
    let latent = model.config().latent;
    let input = model.config().input_dim() as f64;
    let mut last = (0.0, 0.0);
    let mut noise = {
        use rand::SeedableRng;
        rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ step)
    };
    'epochs: for epoch in first_epoch..cfg.epochs {
        let t0 = Instant::now();
        let mut seen = 0;
        for b in data.batches(Part::Train, cfg.batch, epoch as u64) {
            let n = b.shape[0];
            let x = Tensor::from_vec(b.data, (n, b.shape[1] * b.shape[2]), dev).map_err(to_err)?;
            let eps = randn(&mut noise, n, latent, dev)?;
            let o = model.forward(&x, &eps).map_err(to_err)?;
            let (rec, kl) = losses(&x, &o).map_err(to_err)?;
            let beta = cfg.beta * (step as f64 / cfg.beta_warmup.max(1) as f64).min(1.0);
            let loss = (&rec + kl.affine(beta / input, 0.0).map_err(to_err)?).map_err(to_err)?;
            let mut grads = loss.backward().map_err(to_err)?;
            clip_gradients(&mut grads, &vars, cfg.clip)?;
            opt.set_learning_rate(lr_at(cfg, step, total));
            opt.step(&grads).map_err(to_err)?;
            step += 1;
            seen += n;
            last = (
                f64::from(rec.to_scalar::<f32>().map_err(to_err)?),
                f64::from(kl.to_scalar::<f32>().map_err(to_err)?),
            );
            if let Some(b) = &bar {
                b.set_position(step);
                let rate = seen as f64 / t0.elapsed().as_secs_f64().max(1e-9);
                b.set_message(format!(
                    "epoch {epoch} rec {:.4} kl {:.2} β {beta:.3} {rate:.0} windows/s",
                    last.0, last.1
                ));
            }
            if step.is_multiple_of(cfg.checkpoint_every) {
                save(varmap, &mut ckpt, step, last, None, out)?;
            }
            if start.elapsed().as_secs_f64() > cfg.max_minutes * 60.0 {
                tracing::info!("wall-clock budget reached at step {step}");
                break 'epochs;
            }
        }
        let val = if data.validation.is_empty() {
            None
        } else {
            Some(evaluate(model, data, Part::Validation, dev)?)
        };
        let score = val.map_or(last.0, |v| v.0);
        if score < best - 1e-6 {
            (best, stale) = (score, 0);
        } else {
            stale += 1;
            if stale >= cfg.patience {
                tracing::info!("early stop after epoch {epoch}: validation loss has not improved for {stale} epochs");
                break;
            }
        }
        ckpt.losses = serde_json::json!({"train": {"rec": last.0, "kl": last.1}, "validation": val.map(|v| serde_json::json!({"rec": v.0, "kl": v.1}))});
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let val = if data.validation.is_empty() {
        None
    } else {
        Some(evaluate(model, data, Part::Validation, dev)?)
    };
    save(varmap, &mut ckpt, step, last, val, out)?;
    Ok(ckpt)
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
    last: (f64, f64),
    val: Option<(f64, f64)>,
    out: &Path,
) -> Result<()> {
    ckpt.step = step;
    if val.is_some() || ckpt.losses.is_null() {
        ckpt.losses = serde_json::json!({"train": {"rec": last.0, "kl": last.1}, "validation": val.map(|v| serde_json::json!({"rec": v.0, "kl": v.1}))});
    }
    std::fs::create_dir_all(out).map_err(|e| Error::bad_path(out, e))?;
    let tmp = out.join("model.safetensors.tmp");
    varmap.save(&tmp).map_err(to_err)?;
    std::fs::rename(&tmp, out.join("model.safetensors"))
        .map_err(|e| Error::os(format!("writing {}", out.display()), e))?;
    checkpoint::save_config(out, ckpt)
}

/// Re-initialises every weight from a seeded generator (candle's CPU initialiser cannot
/// be seeded): uniform ±1/√fan_in, PyTorch's default for linear layers, in name order.
pub fn seed_weights(varmap: &VarMap, seed: u64) -> Result<()> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::BadInput("model: weights locked".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let fan_in = if name.ends_with("bias") {
            dims[0]
        } else {
            *dims.last().unwrap_or(&1)
        };
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        let n: usize = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
        let t = Tensor::from_vec(v, dims, var.device()).map_err(to_err)?;
        var.set(&t).map_err(to_err)?;
    }
    Ok(())
}

/// Seeded standard normal noise of `shape`.
fn randn(
    rng: &mut rand_chacha::ChaCha8Rng,
    rows: usize,
    cols: usize,
    dev: &Device,
) -> Result<Tensor> {
    use rand_distr::{Distribution, StandardNormal};
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| StandardNormal.sample(rng))
        .collect();
    Tensor::from_vec(v, (rows, cols), dev).map_err(to_err)
}

/// Builds a model on `dev`, loading weights from `dir` when given.
pub fn build(
    cfg: &super::vae::VaeConfig,
    dev: &Device,
    weights: Option<&Path>,
) -> Result<(Vae, VarMap)> {
    let mut varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, dev);
    let model = Vae::new(cfg, vb).map_err(to_err)?;
    if let Some(dir) = weights {
        varmap
            .load(dir.join("model.safetensors"))
            .map_err(|e| Error::bad_path(&dir.join("model.safetensors"), e))?;
    }
    Ok((model, varmap))
}
