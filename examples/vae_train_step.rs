//! Times VAE training steps with candle (forward, loss, backward over the data-parallel
//! shards `biowave train` uses, clipping-free AdamW step) on random windows: the Rust half
//! of `scripts/bench_vae_train_step.py`.
//!
//! `cargo run --release --example vae_train_step -- [STEPS=200] [BATCH=32] [conv|mlp]`;
//! prints seconds per step. Shapes are `models/ecg-vae`'s (conv: 66 features × 45 frames,
//! hidden 128, latent 32) or the earlier MLP's (258 × 11, hidden 256).

use biowave::model::adamw::AdamW;
use biowave::model::data_parallel::{batch_gradients, SHARDS};
use biowave::model::train::seed_weights;
use biowave::model::vae::{Vae, VaeArch, VaeConfig, VaeObjective};
use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::SeedableRng;
use std::time::Instant;

fn main() -> candle_core::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (steps, batch) = (*args.first().unwrap_or(&200), *args.get(1).unwrap_or(&32));
    // As `biowave train` does: keep freed tensor memory for reuse, and a batch's shards
    // are the parallelism, each matmul on one thread (on 2 cores; see model::data_parallel).
    biowave::alloc::keep_freed_memory();
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("RAYON_NUM_THREADS", (cores / SHARDS).max(1).to_string());
    }
    let mlp = std::env::args().any(|a| a == "mlp");
    let cfg = VaeConfig {
        n_features: if mlp { 258 } else { 66 },
        window_frames: if mlp { 11 } else { 45 },
        hidden: if mlp { 256 } else { 128 },
        latent: 32,
        arch: if mlp { VaeArch::Mlp } else { VaeArch::Conv },
    };
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let model = Vae::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev))?;
    seed_weights(&vm, 1).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let obj = VaeObjective {
        model: &model,
        beta: 1.0,
        beta_warmup: 500,
    };
    let params = ParamsAdamW {
        lr: 1e-3,
        weight_decay: 1e-4,
        ..Default::default()
    };
    let mut opt = AdamW::new(vm.all_vars(), params)?;
    let x = Tensor::randn(0f32, 1.0, (batch, cfg.window_frames, cfg.n_features), &dev)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let vars = vm.all_vars();
    let mut step = |i: u64| -> candle_core::Result<()> {
        let (_, grads) = batch_gradients(&obj, &x, i, &mut rng, SHARDS, &vars)?;
        opt.step(&grads)
    };
    for i in 0..10 {
        step(i)?;
    }
    let t = Instant::now();
    for i in 0..steps as u64 {
        step(i)?;
    }
    println!("{:.6}", t.elapsed().as_secs_f64() / steps as f64);
    Ok(())
}
