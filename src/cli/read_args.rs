//! How to read an input that does not say everything itself (HDF5, CSV), shared by `info`
//! and `convert`: the same flags pick the same dataset, layout, record and rate in both.

use crate::io::OpenOptions;

/// Reading options for HDF5 and CSV inputs (flattened into `info` and `convert`).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ReadArgs {
    /// Sample rate of an HDF5 or CSV input that does not state one (or overriding the one
    /// it states, said on stderr); it labels the samples, it does not resample them.
    #[arg(long)]
    pub fs: Option<f64>,
    /// HDF5 dataset to read (default: the first 2-D or 3-D numeric dataset).
    #[arg(long)]
    pub h5_dataset: Option<String>,
    /// HDF5 2-D axis order: `samples-channels` (default) or `channels-samples`.
    #[arg(long)]
    pub h5_layout: Option<String>,
    /// Which record of a 3-D HDF5 dataset (records × samples × channels), from 0.
    #[arg(long)]
    pub h5_record: Option<usize>,
}

impl ReadArgs {
    /// The options `io::open_with` takes.
    pub fn options(&self) -> OpenOptions {
        OpenOptions {
            sample_rate: self.fs,
            h5_dataset: self.h5_dataset.clone(),
            h5_layout: self.h5_layout.clone(),
            h5_record: self.h5_record,
        }
    }
}
