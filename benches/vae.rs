//! VAE sampling cost for 12-lead ECG at 500 Hz through the real generator: a checkpoint
//! shaped as `biowave train --model vae` makes one (conv body, n_fft 64, hop 16, 2 s
//! windows), with random weights, loaded by `model::load_checkpoint` and pulled block by
//! block: latent step, decode, inverse STFT and splicing per window, then the equaliser's
//! 1025-tap FIR per lead (a flat spectrum target: trained checkpoints carry one), candle on
//! one thread as the CLI runs it. Prints the real-time factor per core.

use biowave::block::Block;
use biowave::data::{DataConfig, NormStats};
use biowave::dsp::SpectralConfig;
use biowave::model::checkpoint::{save_config, CheckpointConfig, FORMAT_VERSION};
use biowave::model::equaliser::{nperseg, SpectrumTarget};
use biowave::model::train::seed_weights;
use biowave::model::vae::{Vae, VaeArch, VaeConfig};
use biowave::model::{load_checkpoint, Generator};
use biowave::record::{ChannelSpec, SignalSpec};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Instant;

const LEADS: usize = 12;
const FS: f64 = 500.0;
const BLOCK: usize = 50;

/// Writes a random-weight 12-lead VAE checkpoint into `dir`.
fn checkpoint(dir: &std::path::Path) {
    let spectral = SpectralConfig {
        n_fft: 64,
        hop: 16,
        ..SpectralConfig::default()
    };
    let f = LEADS * spectral.n_bins() * 2;
    let vae = VaeConfig {
        n_features: f,
        window_frames: (2.0 * FS / spectral.hop as f64).round() as usize,
        hidden: 128,
        latent: 32,
        arch: VaeArch::Conv,
    };
    let vm = VarMap::new();
    Vae::new(&vae, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    seed_weights(&vm, 1).unwrap();
    vm.save(dir.join("model.safetensors")).unwrap();
    let channels = (0..LEADS)
        .map(|i| ChannelSpec {
            label: format!("L{i}"),
            unit: "mV".into(),
            range: (-5.0, 5.0),
        })
        .collect();
    let cfg = CheckpointConfig {
        kind: "vae".into(),
        format_version: FORMAT_VERSION,
        crate_version: env!("CARGO_PKG_VERSION").into(),
        vae: Some(vae),
        transformer: None,
        temperature: None,
        spec: SignalSpec {
            sample_rate: FS,
            channels,
        },
        data: DataConfig {
            spectral,
            window_s: 2.0,
            ..DataConfig::default()
        },
        norm: NormStats {
            mean: vec![0.0; f],
            std: vec![0.01; f],
        },
        fingerprints: Vec::new(),
        seed: 1,
        command: "benches/vae.rs".into(),
        step: 0,
        losses: serde_json::Value::Null,
        latent_prior: None,
        latent_states: None,
        decoder_noise: None,
        decoder_noise_coupling: None,
        draw_coupling: None,
        spectrum: Some(SpectrumTarget {
            nperseg: nperseg(FS),
            log_psd: vec![-10.0; LEADS * (nperseg(FS) / 2 + 1)],
            low: None,
            highpass_bins: None,
        }),
        envelope: None,
        wander: None,
        shape: None,
        beat_means: None,
        codec: None,
    };
    save_config(dir, &cfg).unwrap();
}

fn bench(c: &mut Criterion) {
    // As `stream` and `generate` run it: candle on one thread per generator (`cli`).
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let dir = tempfile::tempdir().unwrap();
    checkpoint(dir.path());
    let mut gen = load_checkpoint(dir.path(), 1, None).unwrap();
    let mut block = Block::new(LEADS, BLOCK);
    c.bench_function("vae_12lead_500hz_block_100ms", |b| {
        b.iter(|| gen.fill(&mut block).unwrap())
    });
    let seconds = 120.0;
    let blocks = (seconds * FS) as usize / BLOCK;
    let t = Instant::now();
    for _ in 0..blocks {
        gen.fill(&mut block).unwrap();
    }
    let took = t.elapsed().as_secs_f64();
    println!(
        "vae 12-lead 500 Hz (conv, n_fft 64): {seconds:.0} s of signal in {:.3} s: {:.0}x real time per core",
        took,
        seconds / took
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
