//! Sampling a trained VAE forever: latents follow a slow AR(1) walk, each decoded window
//! is crossfaded into the previous one over a quarter window of spectral frames, and the
//! frames become samples through the streaming inverse STFT. No seams, no repeats.

use super::checkpoint::CheckpointConfig;
use super::spectral_stream::{FrameSource, SpectralStream};
use super::train::to_err;
use super::vae::Vae;
use crate::dsp::StreamDecoder;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::path::Path;

/// AR(1) coefficient of the latent walk per window (near 1: neighbours are similar).
const RHO: f32 = 0.9;

/// A checkpointed VAE as a [`Generator`](super::Generator).
pub type VaeGenerator = SpectralStream<VaeSampler>;

/// The model side of [`VaeGenerator`]: latent walk, decoding, crossfade.
pub struct VaeSampler {
    cfg: CheckpointConfig,
    model: Vae,
    dev: Device,
    rng: ChaCha8Rng,
    z: Vec<f32>,
    tail: Vec<f32>,
    overlap: usize,
}

/// Loads the VAE checkpoint at `dir` (its config already read and checked, see
/// `model::load_checkpoint`) on the CPU; `seed` fixes the latent walk.
pub fn load(dir: &Path, cfg: CheckpointConfig, seed: u64) -> Result<VaeGenerator> {
    let vae = cfg.vae.clone().ok_or_else(|| {
        let p = dir.join("config.json");
        Error::bad_path(&p, "not a VAE checkpoint (no `vae` section)")
    })?;
    let dev = Device::Cpu;
    let model = super::train::load_frozen(|vb| Vae::new(&vae, vb), &dev, dir)?;
    let decoder = StreamDecoder::new(&cfg.data.spectral, cfg.spec.n_channels())?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let z = (0..vae.latent)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let spec = cfg.spec.clone();
    let sampler = VaeSampler {
        cfg,
        model,
        dev,
        rng,
        z,
        tail: Vec::new(),
        overlap: (vae.window_frames / 4).max(1),
    };
    Ok(SpectralStream::new(sampler, spec, decoder))
}

impl FrameSource for VaeSampler {
    /// Decodes the next window and pushes its frames (crossfaded) to the decoder.
    fn push_frames(&mut self, decoder: &mut StreamDecoder) -> Result<()> {
        let (f, t) = {
            let c = self.model.config();
            (c.n_features, c.window_frames)
        };
        let s = (1.0 - RHO * RHO).sqrt();
        for v in self.z.iter_mut() {
            let e: f32 = StandardNormal.sample(&mut self.rng);
            *v = RHO * *v + s * e;
        }
        let z = Tensor::from_vec(self.z.clone(), (1, self.z.len()), &self.dev).map_err(to_err)?;
        let mut w: Vec<f32> = self
            .model
            .decode(&z)
            .and_then(|x| x.flatten_all())
            .and_then(|x| x.to_vec1())
            .map_err(to_err)?;
        self.cfg.norm.invert(&mut w);
        let o = self.overlap;
        let start = if self.tail.is_empty() { 0 } else { o };
        for i in 0..o.min(self.tail.len() / f) {
            let a = (i as f32 + 0.5) / o as f32;
            let frame: Vec<f32> = (0..f)
                .map(|k| (1.0 - a) * self.tail[i * f + k] + a * w[i * f + k])
                .collect();
            decoder.push(&frame)?;
        }
        for i in start..t - o {
            decoder.push(&w[i * f..(i + 1) * f])?;
        }
        self.tail = w[(t - o) * f..].to_vec();
        Ok(())
    }
}
