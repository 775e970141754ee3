//! Times reading a whole recording with `biowave::io::read` (best of N runs), for the
//! comparison scripts in scripts/ that time a Python peer on the same file.
//!
//! `cargo run --release --example read_bench -- FILE [RUNS]` prints `seconds samples`.

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: read_bench FILE [RUNS]"))?;
    let runs: usize = args.next().map_or(Ok(3), |r| r.parse())?;
    let mut best = f64::INFINITY;
    let mut samples = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let rec = biowave::io::read(std::path::Path::new(&path))?;
        best = best.min(t.elapsed().as_secs_f64());
        samples = rec.channels.iter().map(|c| c.samples.len()).sum::<usize>();
    }
    println!("{best:.4} {samples}");
    Ok(())
}
