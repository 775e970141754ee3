//! Sampling a trained transformer for ever: each step feeds the frame just drawn through the
//! KV cache (a sliding window of `context` positions with the start token kept), draws the
//! next frame from the predicted Gaussian at the chosen temperature, un-normalises it and
//! hands it to the streaming inverse STFT. Constant cost and memory per frame.

use super::checkpoint::{self, CheckpointConfig};
use super::train::to_err;
use super::transformer::{KvCache, Transformer};
use super::Generator;
use crate::block::Block;
use crate::dsp::StreamDecoder;
use crate::record::SignalSpec;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::path::Path;

/// A checkpointed transformer as a [`Generator`].
pub struct TransformerGenerator {
    cfg: CheckpointConfig,
    model: Transformer,
    cache: KvCache,
    decoder: StreamDecoder,
    rng: ChaCha8Rng,
    temperature: f32,
    /// Distribution of the next frame (mean, std), from the last step.
    next: (Vec<f32>, Vec<f32>),
    frame: Vec<f32>,
    index: u64,
    pulled: Vec<f32>,
}

impl TransformerGenerator {
    /// Loads the checkpoint at `dir` on the CPU; `seed` fixes the draws; `temperature`
    /// (scale on the predicted standard deviation) overrides the saved one, default 1.
    pub fn load(dir: &Path, seed: u64, temperature: Option<f32>) -> Result<Self> {
        let cfg = checkpoint::load_config(dir)?;
        let tc = cfg.transformer.clone().ok_or_else(|| {
            let p = dir.join("config.json");
            Error::bad_path(
                &p,
                "not a transformer checkpoint (no `transformer` section)",
            )
        })?;
        checkpoint::check_weights(dir, &cfg)?;
        let temperature = temperature.or(cfg.temperature).unwrap_or(1.0);
        if !(temperature.is_finite() && (0.0..=10.0).contains(&temperature)) {
            return Err(Error::BadInput(format!(
                "temperature {temperature} is not in [0, 10]"
            )));
        }
        let dev = Device::Cpu;
        let (model, _vars) = super::train::build(|vb| Transformer::new(&tc, vb), &dev, Some(dir))?;
        let decoder = StreamDecoder::new(&cfg.data.spectral, cfg.spec.n_channels())?;
        let mut g = TransformerGenerator {
            cfg,
            model,
            cache: KvCache::default(),
            decoder,
            rng: ChaCha8Rng::seed_from_u64(seed),
            temperature,
            next: (Vec::new(), Vec::new()),
            frame: vec![0.0; tc.n_features],
            index: 0,
            pulled: Vec::new(),
        };
        g.feed(None)?;
        Ok(g)
    }

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
        Ok(())
    }

    /// Draws the next frame, pushes it (un-normalised) to the decoder, feeds it back.
    fn next_frame(&mut self) -> Result<()> {
        let (mean, std) = &self.next;
        for ((v, m), s) in self.frame.iter_mut().zip(mean).zip(std) {
            let e: f32 = StandardNormal.sample(&mut self.rng);
            *v = m + self.temperature * s * e;
        }
        let normalised = self.frame.clone();
        self.cfg.norm.invert(&mut self.frame);
        self.decoder.push(&self.frame)?;
        self.feed(Some(&normalised))
    }
}

impl Generator for TransformerGenerator {
    fn spec(&self) -> &SignalSpec {
        &self.cfg.spec
    }

    fn fill(&mut self, block: &mut Block) -> Result<()> {
        let n = block.n_frames;
        while self.decoder.available() < n {
            self.next_frame()?;
        }
        self.pulled.resize(n * self.cfg.spec.n_channels(), 0.0);
        self.decoder.pull(&mut self.pulled, n);
        for c in 0..block.n_channels {
            block
                .channel_mut(c)
                .copy_from_slice(&self.pulled[c * n..(c + 1) * n]);
        }
        block.set_start(self.index, self.cfg.spec.sample_rate);
        self.index += n as u64;
        Ok(())
    }
}
