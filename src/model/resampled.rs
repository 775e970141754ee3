//! A generator at another sample rate: a learned checkpoint made at 360 Hz played to a
//! monitor that wants 500 Hz (`stream --fs 500`, `generate --fs 500`). Each channel goes
//! through a [`StreamResampler`] (scipy's `resample_poly` filter, streamed); events keep
//! their times and go out with the block that holds them.

use super::Generator;
use crate::block::{Block, Event};
use crate::dsp::resample::{Resampler, StreamResampler};
use crate::record::SignalSpec;
use crate::{Error, Result};

/// The largest `up` or `down` of a reduced ratio a stream is resampled by: the filter has
/// `20·max + 1` taps, and each output costs `taps / up` multiply-adds.
const MAX_RATIO_TERM: usize = 1000;

/// `inner` resampled to another rate.
pub struct Resampled<G> {
    inner: G,
    spec: SignalSpec,
    channels: Vec<StreamResampler>,
    /// The inner generator's blocks (20 ms), refilled as the output needs them.
    buf: Block,
    /// Output samples per channel not yet handed out.
    pending: Vec<Vec<f32>>,
    /// Inner events not yet handed out, in time order.
    events: Vec<Event>,
    next: u64,
}

impl<G: Generator> Resampled<G> {
    /// `inner` at `to_hz`; refuses a rate whose ratio to the model's does not reduce to
    /// terms of at most 1000 (`360 → 333.33 Hz`), naming both rates.
    pub fn new(inner: G, to_hz: f64) -> Result<Self> {
        let from_hz = inner.spec().sample_rate;
        let r = Resampler::between(from_hz, to_hz)
            .map_err(|e| Error::BadInput(format!("--fs {to_hz}: {e}")))?;
        let (up, down) = r.ratio();
        if up.max(down) > MAX_RATIO_TERM {
            return Err(Error::BadInput(format!(
                "--fs {to_hz}: {from_hz} Hz → {to_hz} Hz is the ratio {up}/{down}; choose a \
                 rate whose ratio to {from_hz} Hz reduces to terms of at most {MAX_RATIO_TERM}"
            )));
        }
        let mut spec = inner.spec().clone();
        spec.sample_rate = to_hz;
        let n = spec.n_channels();
        let frames = ((from_hz * 0.02).round() as usize).max(1);
        Ok(Self {
            channels: vec![StreamResampler::new(r); n],
            buf: Block::new(n, frames),
            pending: vec![Vec::new(); n],
            events: Vec::new(),
            next: 0,
            spec,
            inner,
        })
    }
}

impl<G: Generator> Generator for Resampled<G> {
    fn spec(&self) -> &SignalSpec {
        &self.spec
    }

    fn fill(&mut self, block: &mut Block) -> Result<()> {
        block.check_channels(self.spec.n_channels())?;
        let n = block.n_frames;
        while self.pending[0].len() < n {
            self.buf.events.clear();
            self.inner.fill(&mut self.buf)?;
            for (c, (rs, out)) in self.channels.iter_mut().zip(&mut self.pending).enumerate() {
                rs.push(self.buf.channel(c), out);
            }
            self.events.extend_from_slice(&self.buf.events);
        }
        for (c, out) in self.pending.iter_mut().enumerate() {
            block.channel_mut(c).copy_from_slice(&out[..n]);
            out.drain(..n);
        }
        block.set_start(self.next, self.spec.sample_rate);
        self.next += n as u64;
        let end = self.next as f64 / self.spec.sample_rate;
        let due = self.events.partition_point(|e| e.time < end);
        block.events.extend(self.events.drain(..due));
        Ok(())
    }

    fn labels(&self) -> &[&'static str] {
        self.inner.labels()
    }
}

/// `g` at `fs` where one is given and differs from its own rate.
pub fn to_rate(g: Box<dyn Generator>, fs: Option<f64>) -> Result<Box<dyn Generator>> {
    match fs {
        Some(fs) if fs != g.spec().sample_rate => Ok(Box::new(Resampled::new(g, fs)?)),
        _ => Ok(g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_signal::Sine;

    /// A 10 Hz sine at 360 Hz comes out a 10 Hz sine at 500 Hz, block after block, with
    /// consecutive start indices, after the filter's first few samples.
    #[test]
    fn a_sine_keeps_its_frequency_and_amplitude_at_the_new_rate() {
        let mut g = Resampled::new(Sine::new(360.0, 2, 10.0, 1.0), 500.0).unwrap();
        assert_eq!(g.spec().sample_rate, 500.0);
        let mut b = Block::new(2, 37);
        let mut all = Vec::new();
        for k in 0..100u64 {
            g.fill(&mut b).unwrap();
            assert_eq!(b.start_index, k * 37);
            all.extend_from_slice(b.channel(1));
        }
        // Channel 1 of the calibration sine is a π/8 behind channel 0.
        let phase = std::f64::consts::PI / 8.0;
        let want = |i: usize| (std::f64::consts::TAU * 10.0 * i as f64 / 500.0 + phase).sin();
        let err = (50..all.len())
            .map(|i| (f64::from(all[i]) - want(i)).abs())
            .fold(0.0, f64::max);
        assert!(err < 2e-3, "{err}");
    }

    #[test]
    fn a_ratio_too_fine_to_filter_is_refused_naming_the_rates() {
        let e = Resampled::new(Sine::new(360.0, 1, 10.0, 1.0), 333.33)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("--fs 333.33") && e.contains("360 Hz"), "{e}");
        assert!(Resampled::new(Sine::new(360.0, 1, 10.0, 1.0), -5.0).is_err());
    }
}
