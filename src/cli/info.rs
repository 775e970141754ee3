//! `biowave info FILE [--json]`.

use std::path::PathBuf;

/// Arguments of `biowave info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The recording (EDF, EDF+, BDF, HDF5, CSV).
    pub file: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Prints the recording's header.
pub fn run(_args: Args) -> crate::Result<()> {
    Err(crate::Error::NotBuilt("info"))
}
