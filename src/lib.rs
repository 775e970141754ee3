//! biowave: learns real ECG and EEG recordings and streams synthetic copies of them.
//!
//! Data flow: files → [`io`] → [`record::Record`] → [`dsp`] spectra → `model` training;
//! a [`model::Generator`] fills [`block::Block`]s that the [`stream`] engine paces out to
//! [`stream::Sink`]s; [`eval`] compares synthetic with real. See ARCHITECTURE.md.
#![warn(missing_docs)]

pub mod alloc;
pub mod block;
pub mod cli;
pub mod data;
pub mod dsp;
mod error;
pub mod eval;
pub mod events;
pub mod fuzz;
pub mod generate;
pub mod io;
pub mod model;
pub mod record;
pub mod shutdown;
pub mod stream;
pub mod telemetry;

pub use error::{Error, Result};
