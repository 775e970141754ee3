//! `biowave stream [--model …] [--to SINK]… [--block-ms 20] [--duration D] …`.

use std::path::PathBuf;

/// Arguments of `biowave stream`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model: a name under models/, a checkpoint path, `ecgsyn` or `eeg`.
    #[arg(long)]
    pub model: Option<String>,
    /// Sinks: `stdout`, `file:PATH`, `tcp://ADDR:PORT`, `lsl:NAME` (repeatable).
    #[arg(long)]
    pub to: Vec<String>,
    /// Block length in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub block_ms: u32,
    /// Stop after this long, e.g. `10s`, `1h`.
    #[arg(long)]
    pub duration: Option<String>,
    /// Pace output on the real-time clock (default).
    #[arg(long, conflicts_with = "fast")]
    pub realtime: bool,
    /// Emit as fast as the generator goes.
    #[arg(long)]
    pub fast: bool,
    /// Serve Prometheus metrics at this address, e.g. 127.0.0.1:9898.
    #[arg(long)]
    pub metrics: Option<String>,
    /// Run the streams a TOML scenario describes.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Streams synthetic samples.
pub fn run(_args: Args) -> crate::Result<()> {
    Err(crate::Error::NotBuilt("stream"))
}
