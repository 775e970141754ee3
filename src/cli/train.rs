//! `biowave train --data FILE... --model vae|transformer --out NAME …`.

use std::path::PathBuf;

/// Arguments of `biowave train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Training recordings.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,
    /// Model kind: vae or transformer.
    #[arg(long)]
    pub model: String,
    /// Name (under models/) or path of the checkpoint directory to write.
    #[arg(long)]
    pub out: String,
    /// Signal kind: ecg or eeg.
    #[arg(long)]
    pub kind: Option<String>,
    /// Channels to train on, comma-separated labels.
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<String>>,
    /// Resample all inputs to this rate.
    #[arg(long)]
    pub fs: Option<f64>,
    /// Training window length in seconds.
    #[arg(long)]
    pub window_s: Option<f64>,
    /// Passes over the training data.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Wall-clock budget in minutes.
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Trains a model.
pub fn run(_args: Args) -> crate::Result<()> {
    Err(crate::Error::NotBuilt("train"))
}
