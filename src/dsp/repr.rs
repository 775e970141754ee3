//! The spectral representation models learn: per frame, per channel, complex STFT bins as
//! interleaved `re, im` (phase kept, DESIGN.md), and its inverse back to samples.
//!
//! Layout of [`Representation::data`]: frame-major, then channel, then bin, then re/im:
//! `data[((t * n_channels + c) * n_bins + k) * 2 + {0: re, 1: im}]`, so one frame of all
//! channels is one contiguous token of [`Representation::n_features`] values.

use super::stft::{Complex32, SpectralConfig, Stft, StreamingIstft};
use crate::record::{Channel, Record};
use crate::{Error, Result};

/// Spectral frames of a multichannel signal, with what is needed to invert them.
#[derive(Debug, Clone, PartialEq)]
pub struct Representation {
    /// STFT parameters.
    pub config: SpectralConfig,
    /// Sample rate of the signal, Hz.
    pub sample_rate: f64,
    /// Number of channels.
    pub n_channels: usize,
    /// Number of frames.
    pub n_frames: usize,
    /// Length of the signal the frames came from (the inverse returns this many samples).
    pub n_samples: usize,
    /// Frame-major features (see the module docs).
    pub data: Vec<f32>,
}

/// Values per frame for `n_channels` channels: `n_channels × n_bins × 2`.
pub fn features_per_frame(cfg: &SpectralConfig, n_channels: usize) -> usize {
    n_channels * cfg.n_bins() * 2
}

/// Copies channel `c`'s bins out of one frame of features into `out` (`n_bins` long).
pub fn unpack_bins(frame: &[f32], c: usize, out: &mut [Complex32]) {
    let n_bins = out.len();
    let src = &frame[c * n_bins * 2..(c + 1) * n_bins * 2];
    for (o, p) in out.iter_mut().zip(src.chunks_exact(2)) {
        *o = Complex32::new(p[0], p[1]);
    }
}

/// Writes `bins` as channel `c` of one frame of features.
pub fn pack_bins(bins: &[Complex32], c: usize, frame: &mut [f32]) {
    let n_bins = bins.len();
    let dst = &mut frame[c * n_bins * 2..(c + 1) * n_bins * 2];
    for (p, b) in dst.chunks_exact_mut(2).zip(bins) {
        p[0] = b.re;
        p[1] = b.im;
    }
}

/// Fails on the first non-finite sample, naming the channel and the sample index.
pub fn check_finite(label: &str, x: &[f32]) -> Result<()> {
    match x.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::BadInput(format!(
            "channel `{label}`: sample {i} is {} (signals must be finite)",
            x[i]
        ))),
        None => Ok(()),
    }
}

impl Representation {
    /// Values per frame.
    pub fn n_features(&self) -> usize {
        features_per_frame(&self.config, self.n_channels)
    }

    /// Features of frame `t` (all channels).
    pub fn frame(&self, t: usize) -> &[f32] {
        let f = self.n_features();
        &self.data[t * f..(t + 1) * f]
    }

    /// Keeps frames `skip..skip + n` (as a training window; the inverse then covers
    /// `(n − 1) · hop` samples).
    pub fn keep_frames(mut self, skip: usize, n: usize) -> Representation {
        let f = self.n_features();
        self.data.drain(..(skip * f).min(self.data.len()));
        self.data.truncate(n * f);
        self.n_frames = self.data.len() / f.max(1);
        self.n_samples = self.n_frames.saturating_sub(1) * self.config.hop;
        self
    }

    /// Keeps only the frames whose every sample is signal, none of the zeros the centred
    /// STFT pads each end with: a step from zero to the signal's level is broadband power
    /// that is not in the signal (models would learn it and calibrate their gains to it).
    /// `None` when the signal is shorter than one such frame.
    pub fn interior(self) -> Option<Representation> {
        let (half, hop) = (self.config.n_fft / 2, self.config.hop);
        let first = self.config.first_interior_frame();
        let last = self.n_samples.checked_sub(half)? / hop;
        (last >= first).then(|| self.keep_frames(first, last - first + 1))
    }

    /// Transforms equal-length channels sampled at `sample_rate`.
    pub fn from_channels(
        channels: &[&[f32]],
        sample_rate: f64,
        cfg: &SpectralConfig,
    ) -> Result<Self> {
        let n_samples = channels.first().map_or(0, |c| c.len());
        if n_samples == 0 || channels.iter().any(|c| c.len() != n_samples) {
            return Err(Error::BadInput(
                "spectral representation: channels must be non-empty and of equal length".into(),
            ));
        }
        let mut stft = Stft::new(cfg)?;
        let (n_bins, n_frames, nc) = (cfg.n_bins(), cfg.n_frames(n_samples), channels.len());
        let mut rep = Self {
            config: *cfg,
            sample_rate,
            n_channels: nc,
            n_frames,
            n_samples,
            data: vec![0.0; n_frames * features_per_frame(cfg, nc)],
        };
        let f = rep.n_features();
        let mut bins = vec![Complex32::default(); n_bins];
        for (c, x) in channels.iter().enumerate() {
            for t in 0..n_frames {
                stft.forward_frame(x, t, &mut bins);
                pack_bins(&bins, c, &mut rep.data[t * f..(t + 1) * f]);
            }
        }
        Ok(rep)
    }

    /// Transforms every channel of `record`; all must share one sample rate and be finite.
    pub fn from_record(record: &Record, cfg: &SpectralConfig) -> Result<Self> {
        let Some(first) = record.channels.first() else {
            return Err(Error::BadInput(
                "spectral representation: record has no channels".into(),
            ));
        };
        let fs = first.meta.sample_rate;
        for ch in &record.channels {
            if ch.meta.sample_rate != fs {
                return Err(Error::BadInput(format!(
                    "channel `{}` is sampled at {} Hz, `{}` at {fs} Hz: resample to one rate first",
                    ch.meta.label, ch.meta.sample_rate, first.meta.label
                )));
            }
            check_finite(&ch.meta.label, &ch.samples)?;
        }
        let chans: Vec<&[f32]> = record
            .channels
            .iter()
            .map(|c| c.samples.as_slice())
            .collect();
        Self::from_channels(&chans, fs, cfg)
    }

    /// Inverts the frames back to `n_samples` samples per channel.
    pub fn to_channels(&self) -> Result<Vec<Vec<f32>>> {
        let mut stft = Stft::new(&self.config)?;
        let n_bins = self.config.n_bins();
        let mut spec = vec![Complex32::default(); self.n_frames * n_bins];
        (0..self.n_channels)
            .map(|c| {
                for (t, dst) in spec.chunks_exact_mut(n_bins).enumerate() {
                    unpack_bins(self.frame(t), c, dst);
                }
                let mut out = Vec::new();
                stft.inverse(&spec, self.n_samples, &mut out)?;
                Ok(out)
            })
            .collect()
    }

    /// Inverts into a record shaped like `template` (same metadata, samples replaced).
    pub fn to_record(&self, template: &Record) -> Result<Record> {
        if template.channels.len() != self.n_channels {
            return Err(Error::BadInput(format!(
                "representation has {} channels, template record {}",
                self.n_channels,
                template.channels.len()
            )));
        }
        let channels = self
            .to_channels()?
            .into_iter()
            .zip(&template.channels)
            .map(|(samples, ch)| Channel {
                meta: ch.meta.clone(),
                samples,
            })
            .collect();
        Ok(Record {
            meta: template.meta.clone(),
            channels,
        })
    }
}

/// Streaming inverse of the representation for generators: push frames of features (all
/// channels), pull samples per channel; equal to [`Representation::to_channels`].
pub struct StreamDecoder {
    channels: Vec<StreamingIstft>,
    bins: Vec<Complex32>,
}

impl StreamDecoder {
    /// A decoder for `n_channels` channels of frames under `cfg`.
    pub fn new(cfg: &SpectralConfig, n_channels: usize) -> Result<Self> {
        Ok(Self {
            channels: (0..n_channels)
                .map(|_| StreamingIstft::new(cfg))
                .collect::<Result<_>>()?,
            bins: vec![Complex32::default(); cfg.n_bins()],
        })
    }

    /// Adds one frame of features (`n_channels × n_bins × 2` values).
    pub fn push(&mut self, frame: &[f32]) -> Result<()> {
        let want = self.channels.len() * self.bins.len() * 2;
        if frame.len() != want {
            return Err(Error::BadInput(format!(
                "stream decoder: frame has {} values, expected {want}",
                frame.len()
            )));
        }
        for (c, st) in self.channels.iter_mut().enumerate() {
            unpack_bins(frame, c, &mut self.bins);
            st.push(&self.bins)?;
        }
        Ok(())
    }

    /// Samples ready in every channel.
    pub fn available(&self) -> usize {
        self.channels
            .iter()
            .map(StreamingIstft::available)
            .min()
            .unwrap_or(0)
    }

    /// Moves `len` ready samples of each channel into the channel-major `out`
    /// (`n_channels × len`); returns false, moving nothing, if fewer are ready.
    pub fn pull(&mut self, out: &mut [f32], len: usize) -> bool {
        if self.available() < len || out.len() != len * self.channels.len() {
            return false;
        }
        for (st, dst) in self.channels.iter_mut().zip(out.chunks_exact_mut(len)) {
            st.pull(dst);
        }
        true
    }

    /// Ends the stream: the overlap-add tails become ready.
    pub fn finish(&mut self) {
        self.channels.iter_mut().for_each(StreamingIstft::finish);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interior_frames_hold_no_step_from_the_zero_padding() {
        let cfg = SpectralConfig {
            n_fft: 64,
            hop: 16,
            ..SpectralConfig::default()
        };
        // A constant (a DC offset) has power in bins 0 and 1 of a Hann frame only; frames
        // reaching into the padding see a step and spread power over every bin.
        let x = vec![3.0f32; 1000];
        let rep = Representation::from_channels(&[&x], 100.0, &cfg).unwrap();
        let hf = |r: &Representation, t: usize| r.frame(t)[4..].iter().map(|v| v * v).sum::<f32>();
        assert!(hf(&rep, 0) > 0.1, "edge frame: {}", hf(&rep, 0));
        let inner = rep.clone().interior().unwrap();
        // Frames 2..=60: centres 32..=960, each frame's 64 samples inside the 1000.
        assert_eq!((inner.n_frames, inner.n_samples), (59, 58 * 16));
        assert_eq!(inner.frame(0), rep.frame(2));
        assert!((0..inner.n_frames).all(|t| hf(&inner, t) < 1e-6));
        let short = Representation::from_channels(&[&x[..40]], 100.0, &cfg).unwrap();
        assert!(short.interior().is_none());
    }

    #[test]
    fn pack_and_unpack_are_inverse_and_layout_is_channel_within_frame() {
        let bins: Vec<Complex32> = (0..3)
            .map(|k| Complex32::new(k as f32, -(k as f32)))
            .collect();
        let mut frame = vec![0.0; 12];
        pack_bins(&bins, 1, &mut frame);
        assert_eq!(&frame[6..12], &[0.0, -0.0, 1.0, -1.0, 2.0, -2.0]);
        let mut back = vec![Complex32::default(); 3];
        unpack_bins(&frame, 1, &mut back);
        assert_eq!(back, bins);
    }

    #[test]
    fn nan_and_mixed_rates_are_rejected_by_name() {
        let e = check_finite("V1", &[0.0, f32::NAN])
            .unwrap_err()
            .to_string();
        assert!(e.contains("V1") && e.contains("sample 1"), "{e}");
        let cfg = SpectralConfig::default();
        let e = Representation::from_channels(&[&[1.0][..], &[][..]], 1.0, &cfg).unwrap_err();
        assert!(e.to_string().contains("equal length"));
    }
}
