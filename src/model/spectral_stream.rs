//! The output half every learned generator shares: spectral frames from a [`FrameSource`]
//! go through the streaming inverse STFT and come out as blocks of samples.

use super::Generator;
use crate::block::Block;
use crate::dsp::StreamDecoder;
use crate::record::SignalSpec;
use crate::Result;

/// Something that samples spectral frames (un-normalised) into a decoder.
pub trait FrameSource: Send {
    /// Pushes at least one more frame into `decoder`.
    fn push_frames(&mut self, decoder: &mut StreamDecoder) -> Result<()>;
}

/// A [`FrameSource`] as a [`Generator`]: asks for frames until a block's worth of samples
/// is decoded, then hands them out channel by channel.
pub struct SpectralStream<S> {
    /// The model side.
    pub source: S,
    spec: SignalSpec,
    decoder: StreamDecoder,
    scratch: Vec<f32>,
    index: u64,
}

impl<S: FrameSource> SpectralStream<S> {
    /// Wraps `source`, whose frames `decoder` turns into samples of `spec`.
    pub fn new(source: S, spec: SignalSpec, decoder: StreamDecoder) -> Self {
        SpectralStream {
            source,
            spec,
            decoder,
            scratch: Vec::new(),
            index: 0,
        }
    }
}

impl<S: FrameSource> Generator for SpectralStream<S> {
    fn spec(&self) -> &SignalSpec {
        &self.spec
    }

    fn fill(&mut self, block: &mut Block) -> Result<()> {
        let n = block.n_frames;
        while self.decoder.available() < n {
            self.source.push_frames(&mut self.decoder)?;
        }
        self.scratch.resize(n * self.spec.n_channels(), 0.0);
        self.decoder.pull(&mut self.scratch, n);
        for c in 0..block.n_channels {
            block
                .channel_mut(c)
                .copy_from_slice(&self.scratch[c * n..(c + 1) * n]);
        }
        block.set_start(self.index, self.spec.sample_rate);
        self.index += n as u64;
        Ok(())
    }
}
