//! VAE sampling cost for 12-lead ECG at 500 Hz: decode one window of 16 frames (2 s) from a
//! latent and run its frames through the streaming inverse STFT (what `vae_gen` does per
//! window, crossfade aside). Prints the real-time factor per core. Weights are random.

use biowave::dsp::{SpectralConfig, StreamDecoder};
use biowave::model::train::seed_weights;
use biowave::model::vae::{Vae, VaeConfig};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Instant;

const LEADS: usize = 12;
const FS: f64 = 500.0;

fn bench(c: &mut Criterion) {
    let sp = SpectralConfig::default();
    let cfg = VaeConfig {
        n_features: LEADS * (sp.n_fft / 2 + 1) * 2,
        window_frames: 16,
        hidden: 256,
        latent: 32,
    };
    let vm = VarMap::new();
    let vae = Vae::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    seed_weights(&vm, 1).unwrap();
    let mut dec = StreamDecoder::new(&sp, LEADS).unwrap();
    let z = Tensor::zeros((1, cfg.latent), DType::F32, &Device::Cpu).unwrap();
    let new_frames = cfg.window_frames - cfg.window_frames / 4;
    let mut out = vec![0f32; LEADS * sp.hop * new_frames];
    let mut window = || {
        let w: Vec<f32> = vae
            .decode(&z)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for f in w.chunks_exact(cfg.n_features).take(new_frames) {
            dec.push(f).unwrap();
        }
        let n = dec.available();
        dec.pull(&mut out, n);
        out[0]
    };
    c.bench_function("vae_window_12lead_500hz", |b| b.iter(&mut window));
    let n = 200;
    let t = Instant::now();
    for _ in 0..n {
        window();
    }
    let per_window = t.elapsed().as_secs_f64() / n as f64;
    let window_s = (new_frames * sp.hop) as f64 / FS;
    println!(
        "vae 12-lead 500 Hz: {:.3} ms per window ({:.0} ms of signal): {:.0}x real time per core",
        per_window * 1e3,
        window_s * 1e3,
        window_s / per_window
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
