//! Calibration signals for test rigs: a sine per channel, exact and seam-free.

use crate::block::Block;
use crate::model::Generator;
use crate::record::SignalSpec;
use crate::Result;

/// A sine wave of `freq` Hz and `amplitude` on every channel (channel `c` phase-shifted by
/// `c·π/8`), computed from the absolute sample index so blocks join without seams.
pub struct Sine {
    spec: SignalSpec,
    freq: f64,
    amplitude: f64,
    next: u64,
}

impl Sine {
    /// A sine generator with `n_channels` channels labelled `S1…`, unit `mV`.
    pub fn new(sample_rate: f64, n_channels: usize, freq: f64, amplitude: f64) -> Self {
        let labels = (1..=n_channels).map(|i| format!("S{i}"));
        Self {
            spec: SignalSpec::symmetric(sample_rate, labels, "mV", amplitude * 1.25),
            freq,
            amplitude,
            next: 0,
        }
    }
}

impl Generator for Sine {
    fn spec(&self) -> &SignalSpec {
        &self.spec
    }

    fn fill(&mut self, block: &mut Block) -> Result<()> {
        block.set_start(self.next, self.spec.sample_rate);
        let w = std::f64::consts::TAU * self.freq / self.spec.sample_rate;
        for c in 0..block.n_channels {
            let phase = c as f64 * std::f64::consts::PI / 8.0;
            let start = self.next;
            for (i, x) in block.channel_mut(c).iter_mut().enumerate() {
                *x = (self.amplitude * ((start + i as u64) as f64 * w + phase).sin()) as f32;
            }
        }
        self.next += block.n_frames as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_blocks_continue_the_wave() {
        let mut g = Sine::new(100.0, 2, 1.0, 1.0);
        let (mut a, mut b) = (Block::new(2, 25), Block::new(2, 25));
        g.fill(&mut a).unwrap();
        g.fill(&mut b).unwrap();
        assert_eq!(b.start_index, 25);
        assert!(
            (b.channel(0)[0] - 1.0).abs() < 1e-6,
            "quarter period of 1 Hz at 100 Hz"
        );
        assert!(a.channel(0)[0].abs() < 1e-6);
    }
}
