//! Sampling a trained transformer for ever: each step feeds the frame just drawn through the
//! KV cache (a sliding window of `context` positions with the start token kept), draws the
//! next frame from the predicted mixture (a component by its weight, then its Gaussian at
//! the chosen temperature), un-normalises it and hands it to the streaming inverse STFT.
//! Constant cost and memory per frame.

use super::checkpoint::CheckpointConfig;
use super::spectral_stream::{FrameSource, SpectralStream};
use super::train::to_err;
use super::transformer::{KvCache, Transformer};
use crate::dsp::StreamDecoder;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::path::Path;

/// A checkpointed transformer as a [`Generator`](super::Generator).
pub type TransformerGenerator = SpectralStream<TransformerSampler>;

/// The model side of [`TransformerGenerator`]: KV cache, next-frame distribution, draws.
pub struct TransformerSampler {
    cfg: CheckpointConfig,
    model: Transformer,
    cache: KvCache,
    rng: ChaCha8Rng,
    temperature: f32,
    /// Distribution of the next frame from the last step: component means and stds
    /// (`mixture × n_features`), and component weights.
    next: (Vec<f32>, Vec<f32>, Vec<f32>),
    frame: Vec<f32>,
}

/// Loads the transformer checkpoint at `dir` (its config already read and checked, see
/// `model::load_checkpoint`) on the CPU; `seed` fixes the draws; `temperature` (scale on
/// the predicted standard deviation) overrides the saved one.
pub fn load(
    dir: &Path,
    cfg: CheckpointConfig,
    seed: u64,
    temperature: Option<f32>,
) -> Result<TransformerGenerator> {
    let tc = cfg.transformer.clone().ok_or_else(|| {
        let p = dir.join("config.json");
        Error::bad_path(
            &p,
            "not a transformer checkpoint (no `transformer` section)",
        )
    })?;
    let temperature = temperature.or(cfg.temperature).unwrap_or(1.0);
    if !(temperature.is_finite() && (0.0..=10.0).contains(&temperature)) {
        return Err(Error::BadInput(format!(
            "temperature {temperature} is not in [0, 10]"
        )));
    }
    let dev = Device::Cpu;
    let model = super::train::load_frozen(|vb| Transformer::new(&tc, vb), &dev, dir)?;
    let decoder = StreamDecoder::new(&cfg.data.spectral, cfg.spec.n_channels())?;
    let spec = cfg.spec.clone();
    let mut s = TransformerSampler {
        cfg,
        model,
        cache: KvCache::default(),
        rng: ChaCha8Rng::seed_from_u64(seed),
        temperature,
        next: (Vec::new(), Vec::new(), Vec::new()),
        frame: vec![0.0; tc.n_features],
    };
    s.feed(None)?;
    Ok(SpectralStream::new(s, spec, decoder))
}

impl TransformerSampler {
    /// Positions in the sliding window now (bounded by the model's context).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Runs one step of the model and keeps the predicted distribution.
    fn feed(&mut self, frame: Option<&[f32]>) -> Result<()> {
        let t = frame
            .map(|f| Tensor::from_slice(f, f.len(), &Device::Cpu))
            .transpose()
            .map_err(to_err)?;
        let d = self
            .model
            .step(t.as_ref(), &mut self.cache)
            .map_err(to_err)?;
        let flat = |x: Tensor| x.flatten_all().and_then(|x| x.to_vec1::<f32>());
        self.next.0 = flat(d.mean).map_err(to_err)?;
        self.next.1 = flat(d.log_std.exp().map_err(to_err)?).map_err(to_err)?;
        self.next.2 = flat(d.log_weight.exp().map_err(to_err)?).map_err(to_err)?;
        Ok(())
    }
}

/// The component whose cumulative weight first exceeds `u` (uniform in [0, 1)); the last
/// one if rounding leaves the weights' sum below `u`.
fn pick(weight: &[f32], u: f32) -> usize {
    let mut acc = 0.0;
    for (i, w) in weight.iter().enumerate() {
        acc += w;
        if u < acc {
            return i;
        }
    }
    weight.len().saturating_sub(1)
}

impl FrameSource for TransformerSampler {
    /// Draws the next frame, pushes it (un-normalised) to the decoder, feeds it back.
    fn push_frames(&mut self, decoder: &mut StreamDecoder) -> Result<()> {
        let (mean, std, weight) = &self.next;
        let f = self.frame.len();
        // A single Gaussian draws no component (its streams stay what they were before
        // mixtures existed).
        let k = match weight.len() {
            0 | 1 => 0,
            _ => pick(weight, rand::Rng::random(&mut self.rng)),
        };
        let (mean, std) = (&mean[k * f..(k + 1) * f], &std[k * f..(k + 1) * f]);
        for ((v, m), s) in self.frame.iter_mut().zip(mean).zip(std) {
            let e: f32 = StandardNormal.sample(&mut self.rng);
            *v = m + self.temperature * s * e;
        }
        // Feed the normalised draw back first, then un-normalise it in place for the decoder:
        // one frame buffer, no copy per frame.
        let mut frame = std::mem::take(&mut self.frame);
        let fed = self.feed(Some(&frame));
        self.cfg.norm.invert(&mut frame);
        let pushed = decoder.push(&frame);
        self.frame = frame;
        fed.and(pushed)
    }
}

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn components_are_picked_by_cumulative_weight() {
        let w = [0.2, 0.5, 0.3];
        assert_eq!(pick(&w, 0.0), 0);
        assert_eq!(pick(&w, 0.19), 0);
        assert_eq!(pick(&w, 0.2), 1);
        assert_eq!(pick(&w, 0.69), 1);
        assert_eq!(pick(&w, 0.71), 2);
        // Weights summing to a little under 1 by rounding: the last one.
        assert_eq!(pick(&[0.5, 0.4999], 0.99995), 1);
    }
}
