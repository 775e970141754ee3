//! Signal processing: STFT and its inverse, windows, resampling, filters, QRS detection.
