//! `biowave eval --real FILE... --synth FILE... [--train FILE...] [--report DIR] [--json]`.

use std::path::PathBuf;

/// Arguments of `biowave eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Real recordings.
    #[arg(long, num_args = 1.., required = true)]
    pub real: Vec<PathBuf>,
    /// Synthetic recordings.
    #[arg(long, num_args = 1.., required = true)]
    pub synth: Vec<PathBuf>,
    /// Training recordings of the generator (enables privacy metrics).
    #[arg(long, num_args = 1..)]
    pub train: Vec<PathBuf>,
    /// Channels to compare.
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<String>>,
    /// Window length in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub window_s: f64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Write an HTML report into this directory.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// Compares synthetic with real recordings.
pub fn run(_args: Args) -> crate::Result<()> {
    Err(crate::Error::NotBuilt("eval"))
}
