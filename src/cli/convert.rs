//! `biowave convert IN OUT [--channels A,B] [--start S] [--end S] [--fs HZ] [--h5-dataset PATH]`.

use std::path::PathBuf;

/// Arguments of `biowave convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input recording.
    pub input: PathBuf,
    /// Output recording; the format follows the extension.
    pub output: PathBuf,
    /// Channels to keep, comma-separated labels, in output order.
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<String>>,
    /// Start of the time range to keep, in seconds.
    #[arg(long, default_value_t = 0.0)]
    pub start: f64,
    /// End of the time range to keep, in seconds.
    #[arg(long)]
    pub end: Option<f64>,
    /// Sample rate for inputs that do not state one (HDF5, CSV without a time column).
    #[arg(long)]
    pub fs: Option<f64>,
    /// HDF5 dataset to read (default: the first 2-D or 3-D numeric dataset).
    #[arg(long)]
    pub h5_dataset: Option<String>,
}

/// Converts one recording into another format.
pub fn run(_args: Args) -> crate::Result<()> {
    Err(crate::Error::NotBuilt("convert"))
}
