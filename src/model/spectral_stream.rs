//! The output half every learned generator shares: spectral frames from a [`FrameSource`]
//! go through the streaming inverse STFT (and, for a checkpoint with a spectrum target,
//! the equaliser, `model::equaliser`) and come out as blocks of samples.

use super::envelope::Envelope;
use super::Generator;
use crate::block::Block;
use crate::dsp::fir::FirStream;
use crate::dsp::StreamDecoder;
use crate::record::SignalSpec;
use crate::{Error, Result};

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
    /// Filters the decoded samples towards the training spectrum (checkpoints with one).
    eq: Option<FirStream>,
    /// Decoded samples on their way into `eq`, channel-major.
    chunk: Vec<f32>,
    out: BlockOut,
    /// A slow gain on the output (`model::envelope`, checkpoints trained with one).
    envelope: Option<Envelope>,
}

/// The last step every learned generator shares: `n` ready samples per channel, pulled
/// channel-major from its queue (iSTFT or splicer), become the next block, stamped with the
/// running sample index.
#[derive(Default)]
pub struct BlockOut {
    scratch: Vec<f32>,
    index: u64,
}

impl BlockOut {
    /// Fills `block` through `pull(out, n)`, which moves `n` samples per channel into the
    /// channel-major `out`; the caller has made sure that many are ready. A block whose
    /// channel count is not `spec`'s is refused (it would be left silent or half filled).
    pub fn fill(
        &mut self,
        block: &mut Block,
        spec: &SignalSpec,
        pull: impl FnOnce(&mut [f32], usize) -> bool,
    ) -> Result<()> {
        block.check_channels(spec.n_channels())?;
        let n = block.n_frames;
        self.scratch.resize(n * block.n_channels, 0.0);
        if !pull(&mut self.scratch, n) {
            return Err(Error::BadInput(format!(
                "{n} samples per channel were not ready for the block"
            )));
        }
        for c in 0..block.n_channels {
            block
                .channel_mut(c)
                .copy_from_slice(&self.scratch[c * n..(c + 1) * n]);
        }
        block.set_start(self.index, spec.sample_rate);
        self.index += n as u64;
        Ok(())
    }
}

impl<S: FrameSource> SpectralStream<S> {
    /// Wraps `source`, whose frames `decoder` turns into samples of `spec`.
    pub fn new(source: S, spec: SignalSpec, decoder: StreamDecoder) -> Self {
        SpectralStream {
            source,
            spec,
            decoder,
            eq: None,
            chunk: Vec::new(),
            out: BlockOut::default(),
            envelope: None,
        }
    }

    /// The stream with its output multiplied by `envelope`'s slow gain, if any.
    pub fn with_envelope(mut self, envelope: Option<Envelope>) -> Self {
        self.envelope = envelope;
        self
    }

    /// The stream with its output filtered by `kernels`, one per channel (`dsp::fir`).
    pub fn with_equaliser(mut self, kernels: &[Vec<f32>]) -> Result<Self> {
        self.eq = Some(FirStream::new(kernels)?);
        Ok(self)
    }

    /// Moves the next `len` decoded samples per channel into the channel-major `out`,
    /// drawing frames as needed (before any equaliser).
    pub fn decode_into(&mut self, out: &mut [f32], len: usize) -> Result<()> {
        decode(&mut self.source, &mut self.decoder, out, len)
    }
}

/// Draws frames from `source` until `len` samples per channel are decoded, then moves them
/// into `out`.
fn decode<S: FrameSource>(
    source: &mut S,
    decoder: &mut StreamDecoder,
    out: &mut [f32],
    len: usize,
) -> Result<()> {
    while decoder.available() < len {
        source.push_frames(decoder)?;
    }
    if decoder.pull(out, len) {
        Ok(())
    } else {
        Err(Error::BadInput(format!(
            "{len} decoded samples per channel were not ready"
        )))
    }
}

impl<S: FrameSource> Generator for SpectralStream<S> {
    fn spec(&self) -> &SignalSpec {
        &self.spec
    }

    fn fill(&mut self, block: &mut Block) -> Result<()> {
        let n = block.n_frames;
        let SpectralStream {
            source,
            spec,
            decoder,
            eq,
            chunk,
            out,
            envelope,
        } = self;
        block.check_channels(spec.n_channels())?;
        match eq {
            None => {
                while decoder.available() < n {
                    source.push_frames(decoder)?;
                }
                out.fill(block, spec, |o, n| decoder.pull(o, n))?;
            }
            Some(eq) => {
                while eq.available() < n {
                    let m = eq.chunk_len();
                    chunk.resize(m * spec.n_channels(), 0.0);
                    decode(source, decoder, chunk, m)?;
                    eq.push(chunk);
                }
                out.fill(block, spec, |o, n| eq.pull(o, n))?;
            }
        }
        if let Some(e) = envelope {
            e.apply(&mut block.data[..n * spec.n_channels()], n);
        }
        Ok(())
    }
}
