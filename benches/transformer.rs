//! Transformer sampling cost per spectral frame for 12-lead ECG at 500 Hz (n_fft 256, hop 64:
//! one frame = 128 ms of signal): a step with the sliding window full and the streaming
//! inverse STFT of the frame, by the plain CPU step the samplers use
//! (`model::transformer_step`, one thread) and by candle's tensor step (`Transformer::step`,
//! candle's threads). Prints the real-time factor per core of each.
//! Weights are random (seeded): cost does not depend on their values.

use biowave::dsp::{SpectralConfig, StreamDecoder};
use biowave::model::train::seed_weights;
use biowave::model::transformer::{KvCache, Transformer, TransformerConfig};
use biowave::model::transformer_step::{NextToken, Precision, StepWeights, Stepper};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
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
        codebook: 0,
        rhythm: Vec::new(),
        codes_by_clock: Vec::new(),
        kinds: 0,
        rhythm_kinds: Vec::new(),
        kind_labels: Vec::new(),
        kind_labelled: Vec::new(),
    };
    let vm = VarMap::new();
    let m = Transformer::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    seed_weights(&vm, 1).unwrap();
    (m, cfg)
}

/// Runs `step` 400 times and prints its real-time factor per core.
fn report(what: &str, mut step: impl FnMut() -> f32) {
    let sp = SpectralConfig::default();
    let n = 400;
    let t = Instant::now();
    for _ in 0..n {
        step();
    }
    let per_frame = t.elapsed().as_secs_f64() / n as f64;
    let frame_s = sp.hop as f64 / FS;
    println!(
        "transformer 12-lead 500 Hz, {what}: {:.3} ms per frame ({} ms of signal): {:.0}x real time per core",
        per_frame * 1e3,
        frame_s * 1e3,
        frame_s / per_frame
    );
}

/// One frame by the plain step at `precision`, its mean fed back (clamped) and decoded.
fn plain_step(m: &Transformer, precision: Precision) -> impl FnMut() -> f32 {
    let sp = SpectralConfig::default();
    let mut dec = StreamDecoder::new(&sp, LEADS).unwrap();
    let mut fast = Stepper::new(Arc::new(StepWeights::new(m, precision).unwrap()));
    let mut next = NextToken::default();
    let mut frame = vec![0f32; m.config().n_features];
    let mut out = vec![0f32; LEADS * sp.hop];
    fast.step(None, &mut next);
    for _ in 0..m.config().context {
        fast.step(Some(&frame), &mut next);
    }
    move || {
        fast.step(Some(&frame), &mut next);
        frame.copy_from_slice(&next.mean);
        frame.iter_mut().for_each(|v| *v = v.clamp(-3.0, 3.0));
        dec.push(&frame).unwrap();
        dec.pull(&mut out, sp.hop);
        out[0]
    }
}

fn bench(c: &mut Criterion) {
    let (m, cfg) = model();
    let sp = SpectralConfig::default();
    let mut plain = plain_step(&m, Precision::Bf16);
    c.bench_function("transformer_step_12lead_500hz", |b| b.iter(&mut plain));
    report("plain step, bf16 weights (the samplers')", &mut plain);
    report("plain step, f32 weights", plain_step(&m, Precision::F32));

    let mut out = vec![0f32; LEADS * sp.hop];
    let mut dec = StreamDecoder::new(&sp, LEADS).unwrap();
    let mut cache = KvCache::default();
    let zeros = Tensor::zeros(cfg.n_features, DType::F32, &Device::Cpu).unwrap();
    m.step(None, &mut cache).unwrap();
    for _ in 0..cfg.context {
        m.step(Some(&zeros), &mut cache).unwrap();
    }
    let mut tensors = || {
        let d = m.step(Some(&zeros), &mut cache).unwrap();
        let v = d.mean.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        dec.push(&v).unwrap();
        dec.pull(&mut out, sp.hop);
        out[0]
    };
    c.bench_function("transformer_candle_step_12lead_500hz", |b| {
        b.iter(&mut tensors)
    });
    report("candle tensor step", &mut tensors);
}

criterion_group!(benches, bench);
criterion_main!(benches);
