//! Signal generators: the [`Generator`] trait and the models that implement it.

pub mod checkpoint;
pub mod physio;
pub mod test_signal;
pub mod train;
pub mod vae;
pub mod vae_gen;

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

/// Builds a generator by name: `sine` (calibration), `ecgsyn` and `eeg` (physiological
/// models with default parameters), later checkpoints under `models/` or at a path.
/// Each model issue adds its names here.
pub fn by_name(name: &str, seed: u64) -> Result<Box<dyn Generator>> {
    match name {
        "sine" => Ok(Box::new(test_signal::Sine::new(500.0, 1, 10.0, 1.0))),
        "ecgsyn" => Ok(Box::new(physio::EcgSyn::new(Default::default(), seed)?)),
        "eeg" => Ok(Box::new(physio::Eeg::new(Default::default(), seed)?)),
        other => {
            let dir = checkpoint::locate(other);
            if dir.join("config.json").exists() {
                return Ok(Box::new(vae_gen::VaeGenerator::load(&dir, seed)?));
            }
            Err(crate::Error::BadInput(format!(
                "unknown model `{other}` (known: sine, ecgsyn, eeg, or a checkpoint under models/ or at a path)"
            )))
        }
    }
}
