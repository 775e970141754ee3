//! Throughput of the physiological generators: seconds of signal per second of CPU.

use biowave::block::Block;
use biowave::model::physio::{params, EcgParams, EcgSyn, Eeg, EegParams};
use biowave::model::Generator;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn bench(c: &mut Criterion) {
    let secs = 60usize;
    let mut g = c.benchmark_group("physio_60s");
    g.sample_size(20);
    g.throughput(Throughput::Elements(secs as u64));
    for (name, leads) in [("ecgsyn_1lead_500hz", "1"), ("ecgsyn_12lead_500hz", "12")] {
        let p: EcgParams = params::build(None, &kv(&[("leads", leads)])).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut gen = EcgSyn::new(p.clone(), 1).unwrap();
                let mut blk = Block::new(gen.spec().n_channels(), 500);
                for _ in 0..secs {
                    gen.fill(&mut blk).unwrap();
                }
                blk.data[0]
            })
        });
    }
    let p: EegParams = params::build(None, &kv(&[])).unwrap();
    g.bench_function("eeg_19ch_256hz", |b| {
        b.iter(|| {
            let mut gen = Eeg::new(p.clone(), 1).unwrap();
            let mut blk = Block::new(gen.spec().n_channels(), 256);
            for _ in 0..secs {
                gen.fill(&mut blk).unwrap();
            }
            blk.data[0]
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
