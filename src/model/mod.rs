//! Signal generators: the [`Generator`] trait and the models that implement it.

use crate::block::Block;
use crate::record::SignalSpec;
use crate::Result;

/// Produces synthetic samples block after block, forever or until exhausted.
///
/// `fill` writes the next `block.n_frames` frames for every channel, in order, with no
/// gaps: state (phase, RR interval, latent, KV cache) carries from one call to the next.
pub trait Generator: Send {
    /// Channels, units and sample rate of what this generator produces.
    fn spec(&self) -> &SignalSpec;
    /// Fills `block` with the next frames and sets its start index and timestamp.
    fn fill(&mut self, block: &mut Block) -> Result<()>;
}
