//! Signal processing: STFT and its inverse, windows, resampling, filters, QRS detection.
//!
//! [`stft`] is planned once and reused; [`repr`] is the spectral representation the models
//! learn (complex bins as interleaved re/im, phase kept) with its way back to samples.

pub mod beat_clock;
pub mod beat_splice;
pub mod filter;
pub mod fir;
pub mod qrs;
pub mod repr;
pub mod resample;
pub mod splice;
pub mod stft;
pub mod window;
pub mod xcorr;

pub use repr::{Representation, StreamDecoder};
pub use stft::{snr_db, Complex32, SpectralConfig, Stft, StreamingIstft};
pub use window::Window;
