//! Streaming bench (not a test): emission lateness p50/p99/max at 20 ms blocks, drift at
//! the end, RSS at start and end, and the most concurrent streams with zero underruns.
//!
//! `cargo run --release --example bench_stream -- [SECONDS=60] [SCALE_SECONDS=10] [MODEL=sine]`
//! Pin to two cores with `taskset -c 0,1` to match the setup.

use biowave::block::Block;
use biowave::model::Generator;
use biowave::stream::engine::{self, NamedSink, OnError, Stream, StreamOptions};
use biowave::stream::scenario::{build_generator, StreamDef};
use biowave::stream::Sink;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Records, per block, how late it arrived relative to the first block's arrival plus the
/// block's own timestamp: what a consumer sees.
#[derive(Default)]
struct Probe {
    first: Option<Instant>,
    lateness_us: Vec<f64>,
    last_drift_samples: f64,
    rate: f64,
}

struct ProbeSink(Arc<Mutex<Probe>>);

impl Sink for ProbeSink {
    fn write(&mut self, b: &Block) -> biowave::Result<()> {
        let now = Instant::now();
        let mut p = self.0.lock().unwrap();
        let first = *p.first.get_or_insert(now);
        let due = first + Duration::from_secs_f64(b.timestamp);
        let late = now.saturating_duration_since(due).as_secs_f64() * 1e6;
        p.lateness_us.push(late);
        let end_s = (now - first).as_secs_f64() - b.timestamp;
        p.last_drift_samples = end_s * p.rate;
        Ok(())
    }
    fn finish(&mut self) -> biowave::Result<()> {
        Ok(())
    }
}

struct NullSink;
impl Sink for NullSink {
    fn write(&mut self, _: &Block) -> biowave::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> biowave::Result<()> {
        Ok(())
    }
}

fn generator(model: &str, seed: u64) -> Box<dyn Generator> {
    let params = (model == "sine").then(|| toml::from_str("rate = 500\nchannels = 12").unwrap());
    let def = StreamDef {
        model: model.into(),
        params,
        seed,
        ..StreamDef::default()
    };
    build_generator(&def).expect("model")
}

fn stream(model: &str, i: usize, secs: f64, sink: Box<dyn Sink>) -> Stream {
    let g = generator(model, i as u64);
    let rate = g.spec().sample_rate;
    let block_frames = (rate * 0.020).round() as usize;
    Stream {
        opts: StreamOptions {
            name: format!("s{i}"),
            block_frames,
            total_frames: Some((secs * rate) as u64),
            realtime: true,
            on_error: OnError::Stop,
            queue_blocks: 10,
        },
        generator: g,
        sinks: vec![NamedSink {
            name: "probe".into(),
            sink,
        }],
    }
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap_or("VmRSS: 0 kB");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(60.0);
    let scale_secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let model = args.get(2).cloned().unwrap_or_else(|| "sine".into());
    let stop = Arc::new(AtomicBool::new(false));

    let spec = generator(&model, 0).spec().clone();
    let rss0 = rss_kib();
    let probe = Arc::new(Mutex::new(Probe {
        rate: spec.sample_rate,
        ..Probe::default()
    }));
    let s = stream(&model, 0, secs, Box::new(ProbeSink(probe.clone())));
    let r = engine::run(vec![s], stop.clone()).expect("run");
    let rss1 = rss_kib();
    let p = probe.lock().unwrap();
    let mut l = p.lateness_us.clone();
    l.sort_by(f64::total_cmp);
    println!(
        "model {model}, {} ch @ {} Hz, 20 ms blocks, {secs} s, {} blocks",
        spec.n_channels(),
        spec.sample_rate,
        l.len()
    );
    println!(
        "emission lateness: p50 {:.0} us  p99 {:.0} us  max {:.0} us  (underruns {})",
        pct(&l, 0.5),
        pct(&l, 0.99),
        l[l.len() - 1],
        r[0].underruns
    );
    println!(
        "drift after {secs} s: {:.4} samples (last block's lateness)",
        p.last_drift_samples
    );
    println!("RSS: start {rss0} KiB, end {rss1} KiB");

    let mut best = 0;
    let mut n = 16;
    while n <= 4096 {
        let streams = (0..n)
            .map(|i| stream(&model, i, scale_secs, Box::new(NullSink)))
            .collect();
        let t = Instant::now();
        let reports = engine::run(streams, stop.clone()).expect("run");
        let under: u64 = reports.iter().map(|r| r.underruns).sum();
        let worst = reports
            .iter()
            .map(|r| r.max_lateness)
            .max()
            .unwrap_or_default();
        println!(
            "{n:5} streams for {scale_secs} s: underruns {under}, max lateness {:.1} ms, wall {:.1} s, RSS {} KiB",
            worst.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64(),
            rss_kib()
        );
        if under > 0 {
            break;
        }
        best = n;
        n *= 2;
    }
    println!("most concurrent streams with zero underruns: {best} (of the doubling series)");
}
