//! Times reading a whole recording with `biowave::io::read` (best of N runs), for the
//! comparison scripts in scripts/ that time a Python peer on the same file.
//!
//! `cargo run --release --example read_bench -- FILE [RUNS]` prints `best samples first`:
//! the best time, the samples read, and the first run's time (a fresh process's memory).

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: read_bench FILE [RUNS]"))?;
    let runs: usize = args.next().map_or(Ok(3), |r| r.parse())?;
    let (mut best, mut first) = (f64::INFINITY, None);
    let mut samples = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let rec = biowave::io::read(std::path::Path::new(&path))?;
        let s = t.elapsed().as_secs_f64();
        (best, first) = (best.min(s), first.or(Some(s)));
        samples = rec.channels.iter().map(|c| c.samples.len()).sum::<usize>();
    }
    println!("{best:.4} {samples} {:.4}", first.unwrap_or(best));
    Ok(())
}
