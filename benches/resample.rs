//! Resampling 10 min of MIT-BIH 208 (lead MLII, 360 Hz, the 300 s in signals/ twice) to
//! 500 Hz, as `stream --fs 500` does for `ecg-vae`: streamed in 20 ms pieces (7 samples)
//! through `StreamResampler`, and in one batch through `Resampler::process`. One thread.
//! `scripts/bench_resample.py` times scipy's `resample_poly` on the same signal and prints
//! the ratio.

use biowave::dsp::resample::{Resampler, StreamResampler};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;

fn mlii_10min() -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("signals/mitdb208.edf");
    let rec = biowave::io::read(&path).unwrap();
    let x = &rec.channels[0].samples;
    x.iter().copied().cycle().take(600 * 360).collect()
}

fn bench(c: &mut Criterion) {
    let x = mlii_10min();
    let r = Resampler::between(360.0, 500.0).unwrap();
    let mut g = c.benchmark_group("resample_10min_360_to_500hz");
    g.sample_size(10);
    g.throughput(Throughput::Elements(x.len() as u64));
    let mut out = Vec::with_capacity(r.output_len(x.len()) + 64);
    g.bench_function("streamed_7_samples_a_push", |b| {
        b.iter(|| {
            let mut s = StreamResampler::new(r.clone());
            out.clear();
            for piece in x.chunks(7) {
                s.push(piece, &mut out);
            }
            out.len()
        })
    });
    g.bench_function("batch", |b| {
        b.iter(|| {
            r.process(&x, &mut out);
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
