//! Signal generators: the [`Generator`] trait and the models that implement it.

pub mod adamw;
pub mod beat_mean;
pub mod bias_relu;
pub mod calibration_store;
pub mod checkpoint;
pub mod cholesky;
pub mod codebook;
pub mod coupling;
pub mod data_parallel;
pub mod decoder_noise;
pub mod envelope;
pub mod equaliser;
pub mod gain_cache;
pub(crate) mod kmeans;
pub mod latent_prior;
pub mod latent_states;
pub mod latent_walk;
pub mod physio;
pub mod resampled;
pub mod resume;
pub mod shape;
pub mod spectral_stream;
pub mod test_signal;
pub mod train;
pub mod transformer;
pub mod transformer_gen;
pub mod transformer_step;
pub mod unfold;
pub mod vae;
pub mod vae_conv;
pub mod vae_gen;
pub mod wander;

use crate::block::Block;
use crate::record::SignalSpec;
use crate::Result;

/// Largest absolute difference between two tensors holding the same number of values
/// (shapes may differ): tests compare a kernel with its reference through it.
#[cfg(test)]
pub(crate) fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    (a.flatten_all().unwrap() - b.flatten_all().unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Produces synthetic samples block after block, forever or until exhausted.
///
/// `fill` writes the next `block.n_frames` frames for every channel, in order, with no
/// gaps: state (phase, RR interval, latent, KV cache) carries from one call to the next.
pub trait Generator: Send {
    /// Channels, units and sample rate of what this generator produces.
    fn spec(&self) -> &SignalSpec;
    /// Fills `block` with the next frames and sets its start index and timestamp; appends
    /// to `block.events` what it labels in them (ECGSYN: each R peak).
    fn fill(&mut self, block: &mut Block) -> Result<()>;
    /// The labels `fill` may put on events (empty: it labels nothing), so a writer knows
    /// before the first block whether a record gets an events file.
    fn labels(&self) -> &[&'static str] {
        &[]
    }
}

/// A boxed generator is a generator (the engine and `generate` hold them boxed).
impl<G: Generator + ?Sized> Generator for Box<G> {
    fn spec(&self) -> &SignalSpec {
        (**self).spec()
    }

    fn fill(&mut self, block: &mut Block) -> Result<()> {
        (**self).fill(block)
    }

    fn labels(&self) -> &[&'static str] {
        (**self).labels()
    }
}

/// Loads the checkpoint at `dir` as a generator of its kind; `temperature` overrides the
/// one saved with a transformer.
pub fn load_checkpoint(
    dir: &std::path::Path,
    seed: u64,
    temperature: Option<f32>,
) -> Result<Box<dyn Generator>> {
    let cfg = checkpoint::load_config(dir)?;
    checkpoint::check_weights(dir, &cfg)?;
    Ok(match (cfg.kind.as_str(), temperature) {
        ("transformer", t) if cfg.codec.is_some() => {
            Box::new(latent_walk::load(dir, cfg, seed, t)?)
        }
        ("transformer", t) => Box::new(transformer_gen::load(dir, cfg, seed, t)?),
        (kind, Some(_)) => {
            return Err(crate::Error::BadInput(format!(
                "{}: --temperature applies to transformer checkpoints only, this is a {kind}",
                dir.display()
            )))
        }
        (_, None) => Box::new(vae_gen::load(dir, cfg, seed)?),
    })
}

/// Builds a generator by name: `sine` (calibration), `ecgsyn` and `eeg` (physiological
/// models with default parameters), or a checkpoint under `models/` or at a path.
pub fn by_name(name: &str, seed: u64) -> Result<Box<dyn Generator>> {
    by_name_with(name, seed, None)
}

/// Whether `name` is a built-in generator (`sine`, `ecgsyn`, `eeg`) rather than a
/// checkpoint: it takes no temperature and makes its own rate.
pub fn is_builtin(name: &str) -> bool {
    matches!(name, "sine" | "ecgsyn" | "eeg")
}

/// Refuses a sampling temperature for a built-in generator (only transformer checkpoints
/// take one).
pub fn refuse_temperature(name: &str, temperature: Option<f32>) -> Result<()> {
    if is_builtin(name) && temperature.is_some() {
        return Err(crate::Error::BadInput(format!(
            "model `{name}`: --temperature applies to transformer checkpoints only"
        )));
    }
    Ok(())
}

/// [`by_name`] with a sampling temperature, which only transformer checkpoints take.
pub fn by_name_with(name: &str, seed: u64, temperature: Option<f32>) -> Result<Box<dyn Generator>> {
    refuse_temperature(name, temperature)?;
    match name {
        "sine" => Ok(Box::new(test_signal::Sine::new(500.0, 1, 10.0, 1.0))),
        "ecgsyn" => Ok(Box::new(physio::EcgSyn::new(Default::default(), seed)?)),
        "eeg" => Ok(Box::new(physio::Eeg::new(Default::default(), seed)?)),
        other => {
            let dir = checkpoint::locate(other);
            if dir.join("config.json").exists() {
                // Refuses a temperature for anything but a transformer checkpoint.
                return load_checkpoint(&dir, seed, temperature);
            }
            Err(crate::Error::BadInput(format!(
                "unknown model `{other}` (known: sine, ecgsyn, eeg, a checkpoint under ./models \
                 or ${} ({}), or a checkpoint directory)",
                checkpoint::MODELS_ENV,
                checkpoint::shipped()
            )))
        }
    }
}
