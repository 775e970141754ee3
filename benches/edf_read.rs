//! Reading EDF: a 64-channel 16-bit EDF+ of 10 minutes at 256 Hz (the 1-hour comparison
//! with pyedflib is scripts/bench_edf_read.py), whole file and one channel.

use biowave::io::{self, Selection};
use biowave::record::{Channel, ChannelMeta, Record};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;

fn make(path: &Path, channels: usize, seconds: usize, rate: usize) {
    let eeg = io::read(Path::new("signals/phyaat_eeg14.edf")).unwrap();
    let n = seconds * rate;
    let chans = (0..channels)
        .map(|i| {
            let src = &eeg.channels[i % eeg.channels.len()].samples;
            Channel {
                meta: ChannelMeta::new(format!("EEG{i:02}"), "uV", rate as f64),
                samples: (0..n).map(|k| src[k % src.len()]).collect(),
            }
        })
        .collect();
    io::save(
        &Record {
            meta: Default::default(),
            channels: chans,
        },
        path,
    )
    .unwrap();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.edf");
    let (ch, secs, rate) = (64, 600, 256);
    make(&path, ch, secs, rate);
    let mut g = c.benchmark_group("edf_read");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(std::fs::metadata(&path).unwrap().len()));
    g.bench_function("64ch_10min_256Hz_whole", |b| {
        b.iter(|| io::read(&path).unwrap())
    });
    let one = Selection {
        channels: Some(vec!["EEG07".into()]),
        start_s: 0.0,
        end_s: None,
    };
    g.bench_function("64ch_10min_256Hz_one_channel", |b| {
        b.iter(|| io::open(&path).unwrap().read(&one).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
