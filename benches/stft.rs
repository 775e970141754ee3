//! Forward and inverse STFT of 10 min of 12-lead 500 Hz ECG (the real 12-lead record in
//! signals/, tiled), n_fft 256, hop 64, Hann: the representation's defaults. One thread.
//! `scripts/bench_stft.py` times scipy.signal on the same shape and prints the ratio.

use biowave::dsp::{Complex32, SpectralConfig, Stft};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;

fn leads_10min() -> Vec<Vec<f32>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("signals/ecg12_sample1.edf");
    let rec = biowave::io::read(&path).unwrap();
    let n = 600 * 500;
    rec.channels
        .iter()
        .map(|c| c.samples.iter().copied().cycle().take(n).collect())
        .collect()
}

fn bench(c: &mut Criterion) {
    let leads = leads_10min();
    let cfg = SpectralConfig::default();
    let mut stft = Stft::new(&cfg).unwrap();
    let mut specs: Vec<Vec<Complex32>> = vec![Vec::new(); leads.len()];
    let mut outs: Vec<Vec<f32>> = vec![Vec::new(); leads.len()];
    let mut g = c.benchmark_group("stft_10min_12lead_500hz");
    g.sample_size(10);
    g.throughput(Throughput::Elements((leads.len() * leads[0].len()) as u64));
    g.bench_function("forward", |b| {
        b.iter(|| {
            for (x, s) in leads.iter().zip(specs.iter_mut()) {
                stft.forward(x, s);
            }
            specs[0][1]
        })
    });
    for (x, s) in leads.iter().zip(specs.iter_mut()) {
        stft.forward(x, s);
    }
    g.bench_function("inverse", |b| {
        b.iter(|| {
            for (s, o) in specs.iter().zip(outs.iter_mut()) {
                stft.inverse(s, leads[0].len(), o).unwrap();
            }
            outs[0][1]
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
