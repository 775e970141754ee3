//! Per-block generation time (not a test): how long each `Generator::fill` of a 20 ms
//! block takes, as fast as the model goes, and the longest ones. A real-time stream
//! queues 10 blocks (200 ms) before the pacer, so one fill that takes longer than the
//! queue holds is an underrun, however fast the model is on average.
//!
//! `cargo run --release --example block_times -- [SECONDS=600] MODEL...`
//! (the shipped models need `BIOWAVE_MODELS=models` or the repository as working directory).

use biowave::block::Block;
use std::time::Instant;

fn main() -> biowave::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(600.0);
    println!("model                          blocks   mean ms   p99 ms  p99.9 ms   max ms  later max  >50 ms");
    for name in args {
        let t0 = Instant::now();
        let mut g = biowave::model::by_name(&name, 1)?;
        let load = t0.elapsed().as_secs_f64();
        let spec = g.spec().clone();
        let frames = ((spec.sample_rate * 0.02).round() as usize).max(1);
        let mut block = Block::new(spec.n_channels(), frames);
        let n = ((seconds / 0.02) as usize).max(2);
        let mut ms = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            g.fill(&mut block)?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let mean = ms.iter().sum::<f64>() / n as f64;
        // The first fill makes the first chunk of every stage, before the pacer starts.
        let later = ms[1..].iter().fold(0f64, |m, &v| m.max(v));
        let over = ms.iter().filter(|&&v| v > 50.0).count();
        ms.sort_by(f64::total_cmp);
        let q = |p: f64| ms[((n as f64 * p) as usize).min(n - 1)];
        println!(
            "{name:<30} {n:>6} {mean:>9.3} {:>8.3} {:>9.3} {:>8.1} {later:>10.2} {over:>7}   (load {load:.2} s)",
            q(0.99),
            q(0.999),
            ms[n - 1]
        );
    }
    Ok(())
}
