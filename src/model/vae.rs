//! A variational autoencoder over windows of spectral frames (candle, in candle's style:
//! a config struct, `Vae::new(&cfg, vb)`, `forward`).
//!
//! A window is `window_frames` frames of `n_features` normalised values (every channel's
//! STFT bins as re/im, `dsp::repr`), flattened. Encoder and decoder are two-layer GELU MLPs
//! around a `latent`-dimensional Gaussian: at these sizes (a few hundred features × ~12
//! frames) an MLP trains in minutes on two CPU cores and stays under 10 MB.

use candle_core::{Result, Tensor, D};
use candle_nn::{linear, Linear, Module, VarBuilder};

/// Hyperparameters, stored in the checkpoint's config.json.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VaeConfig {
    /// Values per spectral frame (channels × bins × 2).
    pub n_features: usize,
    /// Frames per window.
    pub window_frames: usize,
    /// Width of the hidden layers.
    pub hidden: usize,
    /// Latent dimension.
    pub latent: usize,
}

impl VaeConfig {
    /// Values in one flattened window.
    pub fn input_dim(&self) -> usize {
        self.n_features * self.window_frames
    }
}

/// The model.
pub struct Vae {
    enc1: Linear,
    enc2: Linear,
    mu: Linear,
    logvar: Linear,
    dec1: Linear,
    dec2: Linear,
    out: Linear,
    cfg: VaeConfig,
}

/// What `forward` returns: reconstruction, posterior mean and log-variance.
pub struct VaeOutput {
    /// Decoded windows, `[batch, input_dim]`.
    pub recon: Tensor,
    /// Posterior means, `[batch, latent]`.
    pub mu: Tensor,
    /// Posterior log-variances, `[batch, latent]`.
    pub logvar: Tensor,
}

impl Vae {
    /// Creates (or loads, with a loaded `vb`) the layers.
    pub fn new(cfg: &VaeConfig, vb: VarBuilder) -> Result<Self> {
        let (d, h, z) = (cfg.input_dim(), cfg.hidden, cfg.latent);
        Ok(Vae {
            enc1: linear(d, h, vb.pp("enc1"))?,
            enc2: linear(h, h, vb.pp("enc2"))?,
            mu: linear(h, z, vb.pp("mu"))?,
            logvar: linear(h, z, vb.pp("logvar"))?,
            dec1: linear(z, h, vb.pp("dec1"))?,
            dec2: linear(h, h, vb.pp("dec2"))?,
            out: linear(h, d, vb.pp("out"))?,
            cfg: cfg.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VaeConfig {
        &self.cfg
    }

    /// Posterior mean and log-variance of windows `x` (`[batch, input_dim]`).
    pub fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.enc2.forward(&self.enc1.forward(x)?.gelu()?)?.gelu()?;
        Ok((
            self.mu.forward(&h)?,
            self.logvar.forward(&h)?.clamp(-10f32, 10f32)?,
        ))
    }

    /// Windows decoded from latents `z` (`[batch, latent]`).
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let h = self.dec2.forward(&self.dec1.forward(z)?.gelu()?)?.gelu()?;
        self.out.forward(&h)
    }

    /// Encodes, samples with the reparameterisation trick (noise `eps`), decodes.
    pub fn forward(&self, x: &Tensor, eps: &Tensor) -> Result<VaeOutput> {
        let (mu, logvar) = self.encode(x)?;
        let z = (&mu + (logvar.affine(0.5, 0.0)?.exp()? * eps)?)?;
        Ok(VaeOutput {
            recon: self.decode(&z)?,
            mu,
            logvar,
        })
    }
}

/// Mean squared reconstruction error per value, and KL divergence to N(0, I) per window.
pub fn losses(x: &Tensor, o: &VaeOutput) -> Result<(Tensor, Tensor)> {
    let rec = (&o.recon - x)?.sqr()?.mean_all()?;
    let kl = ((o.logvar.exp()? + o.mu.sqr()?)?.affine(1.0, -1.0)? - &o.logvar)?
        .sum(D::Minus1)?
        .affine(0.5, 0.0)?
        .mean_all()?;
    Ok((rec, kl))
}

/// The VAE's training objective: reconstruction plus β·KL, with β ramped up linearly from 0
/// over `beta_warmup` steps (against posterior collapse) and scaled per input value.
pub struct VaeObjective<'a> {
    /// The model being trained.
    pub model: &'a Vae,
    /// Final KL weight.
    pub beta: f64,
    /// Steps of the β ramp.
    pub beta_warmup: u64,
}

impl super::train::Objective for VaeObjective<'_> {
    fn term_names(&self) -> &'static [&'static str] {
        &["rec", "kl"]
    }

    fn losses(
        &self,
        x: &Tensor,
        step: u64,
        noise: Option<&mut rand_chacha::ChaCha8Rng>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let n = x.dim(0)?;
        let x = x.reshape((n, self.model.cfg.input_dim()))?;
        let latent = self.model.cfg.latent;
        let eps = match noise {
            Some(rng) => super::train::randn(rng, n, latent, x.device())
                .map_err(|e| candle_core::Error::Msg(e.to_string()))?,
            None => Tensor::zeros((n, latent), x.dtype(), x.device())?,
        };
        let o = self.model.forward(&x, &eps)?;
        let (rec, kl) = losses(&x, &o)?;
        let ramp = (step as f64 / self.beta_warmup.max(1) as f64).min(1.0);
        let w = self.beta * ramp / self.model.cfg.input_dim() as f64;
        Ok(((&rec + kl.affine(w, 0.0)?)?, vec![rec, kl]))
    }
}
