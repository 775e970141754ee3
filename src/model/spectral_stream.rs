//! The output half every learned generator shares: spectral frames from a [`FrameSource`]
//! go through the streaming inverse STFT (and, with a wander, the record's noise,
//! `model::wander`; for a checkpoint with a spectrum target, the equaliser,
//! `model::equaliser`; with an envelope its slow gain, `model::envelope`; with a wander
//! the record's baseline; with a shape the record's waveform shape, `model::shape`) and
//! come out as blocks of samples, with an event at each R peak a beat-clocked source placed
//! (`FrameSource::next_beat`).

use super::envelope::Envelope;
use super::shape::ShapeStream;
use super::wander::{NoiseStage, Wander};
use super::Generator;
use crate::block::Block;
use crate::data::beat_kinds;
use crate::dsp::fir::FirStream;
use crate::dsp::StreamDecoder;
use crate::record::SignalSpec;
use crate::{Error, Result};

/// Something that samples spectral frames (un-normalised) into a decoder.
pub trait FrameSource: Send {
    /// Pushes at least one more frame into `decoder`.
    fn push_frames(&mut self, decoder: &mut StreamDecoder) -> Result<()>;

    /// The earliest R peak the frames pushed so far were drawn around, if it lies before
    /// decoded sample `before`: its sample and its kind of beat, taken out (each told once,
    /// in order). None for a source that places no beats (the default).
    fn next_beat(&mut self, before: u64) -> Option<(u64, u8)> {
        let _ = before;
        None
    }
}

/// A [`FrameSource`] as a [`Generator`]: asks for frames until a block's worth of samples
/// is decoded, then hands them out channel by channel.
pub struct SpectralStream<S> {
    samples: Samples<S>,
    spec: SignalSpec,
    out: BlockOut,
    /// The record's waveform shape, last (`model::shape`, checkpoints trained with one),
    /// and the samples on their way into it.
    shape: Option<ShapeStream>,
    shaped: Vec<f32>,
    /// The labels its R peak events may carry (`Generator::labels`; empty: no events), and
    /// the label of each kind of beat (a kind beyond them is `Q`).
    labels: Vec<&'static str>,
    kind_labels: Vec<&'static str>,
}

/// Everything before the shape: the model side, the inverse STFT, equaliser and envelope.
struct Samples<S> {
    source: S,
    n_channels: usize,
    decoder: StreamDecoder,
    /// Filters the decoded samples towards the training spectrum (checkpoints with one).
    eq: Option<FirStream>,
    /// Decoded samples on their way into `eq`, channel-major.
    chunk: Vec<f32>,
    /// A slow gain on the output (`model::envelope`, checkpoints trained with one).
    envelope: Option<Envelope>,
    /// The record's noise (into the equaliser) and baseline (after the envelope) replayed
    /// (`model::wander`, checkpoints trained with it).
    wander: Option<Wander>,
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
    /// Fills `block` (its channel count checked) through `pull(out, n)`, which moves `n`
    /// samples per channel into the channel-major `out`.
    fn fill(
        &mut self,
        block: &mut Block,
        sample_rate: f64,
        pull: impl FnOnce(&mut [f32], usize) -> bool,
    ) -> Result<()> {
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
        block.set_start(self.index, sample_rate);
        self.index += n as u64;
        Ok(())
    }

    /// Fills `block` with what `produce(out, n)` makes (`n` samples per channel into the
    /// channel-major `out`), through `shape` where the checkpoint has one: it is fed a
    /// block's worth at a time, by way of `scratch`, until a block is ready. A block whose
    /// channel count is not `n_channels` is refused before anything is produced (it would
    /// be left silent or half filled).
    pub fn fill_through(
        &mut self,
        block: &mut Block,
        (n_channels, sample_rate): (usize, f64),
        shape: Option<&mut ShapeStream>,
        scratch: &mut Vec<f32>,
        mut produce: impl FnMut(&mut [f32], usize) -> Result<()>,
    ) -> Result<()> {
        let n = block.n_frames;
        block.check_channels(n_channels)?;
        let Some(shape) = shape else {
            let mut produced = Ok(());
            let filled = self.fill(block, sample_rate, |o, n| {
                produced = produce(o, n);
                produced.is_ok()
            });
            return produced.and(filled);
        };
        while shape.available() < n {
            scratch.resize(n * n_channels, 0.0);
            produce(scratch, n)?;
            shape.push(scratch, n);
        }
        self.fill(block, sample_rate, |o, n| shape.pull(o, n))
    }
}

impl<S: FrameSource> SpectralStream<S> {
    /// Wraps `source`, whose frames `decoder` turns into samples of `spec`.
    pub fn new(source: S, spec: SignalSpec, decoder: StreamDecoder) -> Self {
        SpectralStream {
            samples: Samples {
                source,
                n_channels: spec.n_channels(),
                decoder,
                eq: None,
                chunk: Vec::new(),
                envelope: None,
                wander: None,
            },
            spec,
            out: BlockOut::default(),
            shape: None,
            shaped: Vec::new(),
            labels: Vec::new(),
            kind_labels: Vec::new(),
        }
    }

    /// The stream with an event at each R peak its source places (`FrameSource::next_beat`),
    /// labelled by `kind_labels` (MIT-BIH codes, one per kind of beat; a kind beyond them,
    /// or every beat where they are empty, is `Q`, a beat of unknown type).
    pub fn with_beat_events(mut self, kind_labels: Vec<&'static str>) -> Self {
        self.labels = beat_kinds::event_labels(&kind_labels);
        self.kind_labels = kind_labels;
        self
    }

    /// The stream with its output multiplied by `envelope`'s slow gain, if any.
    pub fn with_envelope(mut self, envelope: Option<Envelope>) -> Self {
        self.samples.envelope = envelope;
        self
    }

    /// The stream with the record's baseline and noise replayed into its output, if given.
    pub fn with_wander(mut self, wander: Option<Wander>) -> Self {
        self.samples.wander = wander;
        self
    }

    /// The stream with its output filtered by `kernels`, one per channel (`dsp::fir`).
    pub fn with_equaliser(mut self, kernels: &[Vec<f32>]) -> Result<Self> {
        self.samples.eq = Some(FirStream::new(kernels)?);
        Ok(self)
    }

    /// Samples the equaliser delays what goes into it (`FirStream::delay`; 0 without one).
    pub fn equaliser_delay(&self) -> usize {
        self.samples.eq.as_ref().map_or(0, FirStream::delay)
    }

    /// The stream with its samples carried to a record's waveform shape, if given.
    pub fn with_shape(mut self, shape: Option<ShapeStream>) -> Self {
        self.shape = shape;
        self
    }

    /// Moves the next `len` samples per channel, as they go into the equaliser (decoded,
    /// with the wander's noise), into the channel-major `out`, drawing frames as needed.
    pub fn unequalised_into(&mut self, out: &mut [f32], len: usize) -> Result<()> {
        let s = &mut self.samples;
        let noise = s.wander.as_mut().map(|w| &mut w.noise);
        noisy_decode(&mut s.source, &mut s.decoder, noise, out, len)
    }

    /// Moves the next `len` samples per channel, as they go into the shape (decoded,
    /// equalised, with the envelope's gain), into the channel-major `out`.
    pub fn unshaped_into(&mut self, out: &mut [f32], len: usize) -> Result<()> {
        self.samples.produce(out, len)
    }

    /// Puts an event in the filled `block` at each R peak the source placed within it,
    /// moved by the equaliser's delay (the wander, envelope and shape keep sample indices).
    fn label_beats(&mut self, block: &mut Block) {
        if self.labels.is_empty() {
            return;
        }
        let delay = self.equaliser_delay() as u64;
        let end = block.start_index + block.n_frames as u64;
        while let Some((m, kind)) = self.samples.source.next_beat(end + delay) {
            // Decoded sample m is output sample m − delay: the equaliser drops the first delay.
            let Some(at) = m.checked_sub(delay).filter(|&a| a >= block.start_index) else {
                continue;
            };
            let (fs, labels) = (self.spec.sample_rate, &self.kind_labels);
            (block.events).push(beat_kinds::beat_event(at, fs, Some(kind), labels));
        }
    }
}

impl<S: FrameSource> Samples<S> {
    /// Moves the next `n` samples per channel, decoded, with the wander's noise,
    /// equalised, with the envelope's gain and the wander's baseline, into the
    /// channel-major `out`.
    fn produce(&mut self, out: &mut [f32], n: usize) -> Result<()> {
        let Samples {
            source,
            decoder,
            eq,
            chunk,
            wander,
            ..
        } = self;
        let mut noise = wander.as_mut().map(|w| &mut w.noise);
        match eq {
            None => noisy_decode(source, decoder, noise, out, n)?,
            Some(eq) => eq.pull_through(out, n, chunk, |buf, m| {
                noisy_decode(source, decoder, noise.as_deref_mut(), buf, m)
            })?,
        }
        if let Some(e) = &mut self.envelope {
            e.apply(&mut out[..n * self.n_channels], n);
        }
        if let Some(w) = &mut self.wander {
            w.baseline.apply(&mut out[..n * self.n_channels], n);
        }
        Ok(())
    }
}

/// [`decode`], then the wander's noise added, if any.
fn noisy_decode<S: FrameSource>(
    source: &mut S,
    decoder: &mut StreamDecoder,
    noise: Option<&mut NoiseStage>,
    out: &mut [f32],
    len: usize,
) -> Result<()> {
    decode(source, decoder, out, len)?;
    if let Some(noise) = noise {
        noise.apply(out, len);
    }
    Ok(())
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
        let SpectralStream {
            samples,
            spec,
            out,
            shape,
            shaped,
            ..
        } = self;
        let rate = (spec.n_channels(), spec.sample_rate);
        out.fill_through(block, rate, shape.as_mut(), shaped, |o, n| {
            samples.produce(o, n)
        })?;
        self.label_beats(block);
        Ok(())
    }

    fn labels(&self) -> &[&'static str] {
        &self.labels
    }
}
