//! `biowave generate --model … --duration D [--count N] [--shard I/N] [--out DIR] …`.

use std::path::PathBuf;

/// Arguments of `biowave generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model: a name under models/, a checkpoint path, `ecgsyn` or `eeg`.
    #[arg(long)]
    pub model: String,
    /// Length of each record, e.g. `10m`, `30s`.
    #[arg(long)]
    pub duration: String,
    /// Number of records.
    #[arg(long, default_value_t = 1)]
    pub count: u64,
    /// This shard's records only: `I/N` writes records I, I+N, …
    #[arg(long)]
    pub shard: Option<String>,
    /// Output file or directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output format: edf, bdf, h5, csv, f32.
    #[arg(long)]
    pub format: Option<String>,
    /// Random seed; record seeds derive from (seed, record index).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Generates records.
pub fn run(_args: Args) -> crate::Result<()> {
    Err(crate::Error::NotBuilt("generate"))
}
