//! Reading HDF5: a float32 samples × channels dataset (64 channels, 10 min at 256 Hz,
//! chunked), whole and one channel. The 200 MB comparison with h5py is
//! scripts/bench_h5_read.py.

use biowave::io::{self, Selection};
use biowave::record::{ChannelSpec, SignalSpec};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.h5");
    let (ch, rate, secs) = (64usize, 256.0, 600usize);
    let spec = SignalSpec {
        sample_rate: rate,
        channels: (0..ch)
            .map(|i| ChannelSpec {
                label: format!("EEG{i:02}"),
                unit: "uV".into(),
                range: (-500.0, 500.0),
            })
            .collect(),
    };
    let mut w = io::create(&path, &spec, &Default::default()).unwrap();
    let mut block = biowave::block::Block::new(ch, 256);
    for k in 0..secs {
        for c in 0..ch {
            for (i, v) in block.channel_mut(c).iter_mut().enumerate() {
                *v = ((k * 256 + i) as f32 * 0.01 + c as f32).sin() * 50.0;
            }
        }
        w.write(&block).unwrap();
    }
    w.finish().unwrap();
    let mut g = c.benchmark_group("h5_read");
    g.sample_size(10);
    g.throughput(Throughput::Bytes((ch * secs * 256 * 4) as u64));
    g.bench_function("64ch_10min_f32_whole", |b| {
        b.iter(|| io::read(&path).unwrap())
    });
    let one = Selection {
        channels: Some(vec!["EEG07".into()]),
        start_s: 0.0,
        end_s: None,
    };
    g.bench_function("64ch_10min_f32_one_channel", |b| {
        b.iter(|| io::open(&path).unwrap().read(&one).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
