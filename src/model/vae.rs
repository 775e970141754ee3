//! A variational autoencoder over windows of spectral frames (candle, in candle's style:
//! a config struct, `Vae::new(&cfg, vb)`, `forward`).
//!
//! A window is `window_frames` frames of `n_features` normalised values (every channel's
//! STFT bins as re/im, `dsp::repr`), flattened frame-major. Two bodies share the Gaussian
//! latent and the objective ([`VaeArch`]): the default convolves over frames (weights
//! shared across time, so a beat learnt at one position is known at every position), the
//! original MLP sees the whole window at once and is kept for old checkpoints.

use super::vae_conv::{ConvDecoder, ConvEncoder};
use candle_core::{Result, Tensor, D};
use candle_nn::{linear, Linear, Module, VarBuilder};

/// Which network encodes and decodes a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VaeArch {
    /// Two-layer GELU MLPs over the flattened window (checkpoints written before `arch`).
    #[default]
    Mlp,
    /// 1-D convolutions over frames, features as channels, time downsampled 4× (`vae_conv`).
    Conv,
}

/// Hyperparameters, stored in the checkpoint's config.json.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VaeConfig {
    /// Values per spectral frame (channels × bins × 2).
    pub n_features: usize,
    /// Frames per window.
    pub window_frames: usize,
    /// Width of the hidden layers (MLP) or convolution channels (conv).
    pub hidden: usize,
    /// Latent dimension.
    pub latent: usize,
    /// The network; absent in checkpoints older than the choice, which are MLPs.
    #[serde(default)]
    pub arch: VaeArch,
}

impl VaeConfig {
    /// Values in one flattened window.
    pub fn input_dim(&self) -> usize {
        self.n_features * self.window_frames
    }

    /// Weights and biases the layers hold, saturating (sizes may come from an untrusted file).
    pub fn n_params(&self) -> u64 {
        use super::checkpoint::{linear_params as lin, sum_params as sum};
        let m = u64::saturating_mul;
        let (f, w) = (self.n_features as u64, self.window_frames as u64);
        let (h, z) = (self.hidden as u64, self.latent as u64);
        match self.arch {
            VaeArch::Mlp => {
                let d = m(f, w);
                let body = sum(&[lin(d, h), lin(h, h), lin(z, h), lin(h, h), lin(h, d)]);
                sum(&[body, lin(h, z), lin(h, z)])
            }
            VaeArch::Conv => {
                let e = m(h, super::vae_conv::latent_frames(self.window_frames) as u64);
                let k = super::vae_conv::KERNEL as u64;
                sum(&[
                    lin(m(k, f), h),
                    lin(m(2, h), h),
                    lin(m(2, h), h),
                    lin(e, z),
                    lin(e, z),
                    lin(z, e),
                    lin(m(k, h), h),
                    lin(m(k, h), h),
                    lin(m(k, h), f),
                ])
            }
        }
    }
}

/// Encoder and decoder of one architecture.
enum Body {
    Mlp { enc: [Linear; 2], dec: [Linear; 3] },
    Conv { enc: ConvEncoder, dec: ConvDecoder },
}

/// The model.
pub struct Vae {
    body: Body,
    mu: Linear,
    logvar: Linear,
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
        let (h, z) = (cfg.hidden, cfg.latent);
        let (body, e) = match cfg.arch {
            VaeArch::Mlp => {
                let d = cfg.input_dim();
                let enc = [linear(d, h, vb.pp("enc1"))?, linear(h, h, vb.pp("enc2"))?];
                let dec = [
                    linear(z, h, vb.pp("dec1"))?,
                    linear(h, h, vb.pp("dec2"))?,
                    linear(h, d, vb.pp("out"))?,
                ];
                (Body::Mlp { enc, dec }, h)
            }
            VaeArch::Conv => {
                let enc = ConvEncoder::new(cfg, vb.pp("enc"))?;
                let dec = ConvDecoder::new(cfg, vb.pp("dec"))?;
                let e = enc.out_dim();
                (Body::Conv { enc, dec }, e)
            }
        };
        Ok(Vae {
            body,
            mu: linear(e, z, vb.pp("mu"))?,
            logvar: linear(e, z, vb.pp("logvar"))?,
            cfg: cfg.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VaeConfig {
        &self.cfg
    }

    /// Posterior mean and log-variance of windows `x` (`[batch, input_dim]`).
    pub fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = match &self.body {
            Body::Mlp { enc, .. } => enc[1].forward(&wide(&enc[0], x)?.gelu()?)?.gelu()?,
            Body::Conv { enc, .. } => enc.forward(x)?,
        };
        Ok((
            self.mu.forward(&h)?,
            self.logvar.forward(&h)?.clamp(-10f32, 10f32)?,
        ))
    }

    /// Windows decoded from latents `z` (`[batch, latent]`), `[batch, input_dim]`.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        match &self.body {
            Body::Mlp { dec, .. } => {
                let h = dec[1].forward(&dec[0].forward(z)?.gelu()?)?.gelu()?;
                wide(&dec[2], &h)
            }
            Body::Conv { dec, .. } => dec.forward(z),
        }
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

/// `l(x)` for a 2-D `x`, computed as `(W xᵀ)ᵀ`: the same values as `Linear::forward`, but the
/// weight enters the matmul untransposed, so its gradient arrives contiguous. Through
/// `x Wᵀ` candle adds a wide layer's transposed gradient element by element via a strided
/// index, 30 % of the MLP's training step.
fn wide(l: &Linear, x: &Tensor) -> Result<Tensor> {
    let y = l.weight().matmul(&x.t()?)?.t()?;
    match l.bias() {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};
    use candle_nn::VarMap;

    #[test]
    fn wide_layers_match_linear_in_values_and_gradients_bit_for_bit() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let l = linear(300, 40, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (16, 300), &dev).unwrap()).unwrap();
        let w = Tensor::randn(0f32, 1.0, (16, 40), &dev).unwrap();
        let (a, b) = (wide(&l, &x).unwrap(), l.forward(&x).unwrap());
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(flat(&a), flat(&b));
        let grads = |y: Tensor| (y * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let (ga, gb) = (grads(a), grads(b));
        for v in vm.all_vars().iter().chain([&x]) {
            let (p, q) = (ga.get(v).unwrap(), gb.get(v).unwrap());
            assert_eq!(p.dims(), q.dims());
            assert_eq!(flat(p), flat(q));
        }
    }
}
