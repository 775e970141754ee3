//! Transformer sampling cost per spectral frame for 12-lead ECG at 500 Hz (n_fft 256, hop 64:
//! one frame = 128 ms of signal): a KV-cached step with the sliding window full, the draw,
//! and the streaming inverse STFT of the frame. Prints the real-time factor per core.
//! Weights are random (seeded): cost does not depend on their values.

use biowave::dsp::{SpectralConfig, StreamDecoder};
use biowave::model::train::seed_weights;
use biowave::model::transformer::{KvCache, Transformer, TransformerConfig};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Instant;

const LEADS: usize = 12;
const FS: f64 = 500.0;

fn model() -> (Transformer, TransformerConfig) {
    let sp = SpectralConfig::default();
    let cfg = TransformerConfig {
        n_features: LEADS * (sp.n_fft / 2 + 1) * 2,
        d_model: 192,
        n_heads: 6,
        n_layers: 3,
        d_ff: 768,
        context: 63, // 8 s at 500 Hz / hop 64, as `train --model transformer` picks
        mixture: 1,
    };
    let vm = VarMap::new();
    let m = Transformer::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    seed_weights(&vm, 1).unwrap();
    (m, cfg)
}

fn bench(c: &mut Criterion) {
    let (m, cfg) = model();
    let sp = SpectralConfig::default();
    let mut dec = StreamDecoder::new(&sp, LEADS).unwrap();
    let mut cache = KvCache::default();
    let frame = Tensor::zeros(cfg.n_features, DType::F32, &Device::Cpu).unwrap();
    m.step(None, &mut cache).unwrap();
    for _ in 0..cfg.context {
        m.step(Some(&frame), &mut cache).unwrap();
    }
    let mut out = vec![0f32; LEADS * sp.hop];
    let mut step = || {
        let d = m.step(Some(&frame), &mut cache).unwrap();
        let v = d.mean.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        dec.push(&v).unwrap();
        dec.pull(&mut out, sp.hop);
        out[0]
    };
    c.bench_function("transformer_step_12lead_500hz", |b| b.iter(&mut step));
    let n = 400;
    let t = Instant::now();
    for _ in 0..n {
        step();
    }
    let per_frame = t.elapsed().as_secs_f64() / n as f64;
    let frame_s = sp.hop as f64 / FS;
    println!(
        "transformer 12-lead 500 Hz: {:.3} ms per frame ({} ms of signal): {:.0}x real time per core",
        per_frame * 1e3,
        frame_s * 1e3,
        frame_s / per_frame
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
