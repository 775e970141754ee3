//! The convolutional body of the VAE ([`VaeArch::Conv`](super::vae::VaeArch)): 1-D
//! convolutions over frames, features as channels, so a kernel learnt on a beat at one
//! position applies at every position: with minutes of data that generalises where an MLP
//! over the whole window memorises.
//!
//! Tensors stay time-major (`[batch, frames, channels]`) and a convolution is a matmul of
//! the unfolded input (`k` shifted copies side by side, `model::unfold`) with a
//! `[k·in → out]` linear layer: candle's CPU convolution backward is several times slower
//! than that matmul, and it has no gradient at all for transposed convolutions. ReLU
//! rather than GELU: candle's GELU gradient is a chain of scalar `powf`/`tanh` ops, a fifth
//! of a training step.
//!
//! Encoder: conv k5 → two pair merges (stride-2 convs with kernel 2) → flatten
//! (`hidden × ⌈W/4⌉`). Decoder: linear → twice (nearest ×2 upsampling, conv k5) → conv k5
//! to features, cropped to `W` frames (upsampling + convolution, no checkerboard artefacts).

use super::vae::VaeConfig;
use candle_core::{Result, Tensor};
use candle_nn::{linear, Linear, Module, VarBuilder};

/// Kernel of the stride-1 convolutions, in frames.
pub const KERNEL: usize = 5;

/// Frames of the downsampled time axis for windows of `window_frames` frames.
pub fn latent_frames(window_frames: usize) -> usize {
    window_frames.div_ceil(4)
}

/// `l` applied to the last axis of `[b, t, c]` as one 2-D matmul: candle's `Linear` on a
/// 3-D input broadcasts the weight per batch item and sums its gradient back, ~4× slower.
fn linear3d(l: &Linear, x: &Tensor) -> Result<Tensor> {
    let (b, t, c) = x.dims3()?;
    let y = l.forward(&x.reshape((b * t, c))?)?;
    let o = y.dim(1)?;
    y.reshape((b, t, o))
}

/// A stride-1 convolution over time with "same" zero padding, time-major.
struct Conv(Linear);

impl Conv {
    fn new(i: usize, o: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self(linear(KERNEL * i, o, vb)?))
    }
}

impl Module for Conv {
    /// `[b, t, i]` → `[b, t, o]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        linear3d(&self.0, &super::unfold::unfold(x, KERNEL)?)
    }
}

/// Halves time by merging neighbouring frames: `[b, t, c]` → `[b, t/2, 2c]` → linear.
fn merge2(x: &Tensor, l: &Linear) -> Result<Tensor> {
    let (b, t, c) = x.dims3()?;
    linear3d(l, &x.reshape((b, t / 2, 2 * c))?)
}

/// Nearest-neighbour ×2 in time: `[b, t, c]` → `[b, 2t, c]`.
fn upsample2(x: &Tensor) -> Result<Tensor> {
    let (b, t, c) = x.dims3()?;
    x.unsqueeze(2)?
        .broadcast_as((b, t, 2, c))?
        .contiguous()?
        .reshape((b, 2 * t, c))
}

/// Windows `[batch, W·F]` → features `[batch, hidden·⌈W/4⌉]`.
pub struct ConvEncoder {
    conv: Conv,
    merge: [Linear; 2],
    frames: usize,
    features: usize,
    out_dim: usize,
}

impl ConvEncoder {
    /// Creates (or loads) the convolution and the two merges.
    pub fn new(cfg: &VaeConfig, vb: VarBuilder) -> Result<Self> {
        let (f, h) = (cfg.n_features, cfg.hidden);
        Ok(Self {
            conv: Conv::new(f, h, vb.pp("c1"))?,
            merge: [
                linear(2 * h, h, vb.pp("m1"))?,
                linear(2 * h, h, vb.pp("m2"))?,
            ],
            frames: cfg.window_frames,
            features: f,
            out_dim: h * latent_frames(cfg.window_frames),
        })
    }

    /// Width of the flattened output.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }
}

impl Module for ConvEncoder {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = x.dim(0)?;
        let padded = 4 * latent_frames(self.frames);
        let mut h = x.reshape((b, self.frames, self.features))?.pad_with_zeros(
            1,
            0,
            padded - self.frames,
        )?;
        h = self.conv.forward(&h)?.relu()?;
        for m in &self.merge {
            h = merge2(&h, m)?.relu()?;
        }
        h.flatten_from(1)
    }
}

/// Latents `[batch, Z]` → windows `[batch, W·F]`.
pub struct ConvDecoder {
    input: Linear,
    convs: [Conv; 3],
    frames: usize,
    hidden: usize,
}

impl ConvDecoder {
    /// Creates (or loads) the input projection and the three convolutions.
    pub fn new(cfg: &VaeConfig, vb: VarBuilder) -> Result<Self> {
        let (f, h) = (cfg.n_features, cfg.hidden);
        let t = latent_frames(cfg.window_frames);
        Ok(Self {
            input: linear(cfg.latent, h * t, vb.pp("input"))?,
            convs: [
                Conv::new(h, h, vb.pp("c1"))?,
                Conv::new(h, h, vb.pp("c2"))?,
                Conv::new(h, f, vb.pp("out"))?,
            ],
            frames: cfg.window_frames,
            hidden: h,
        })
    }
}

impl Module for ConvDecoder {
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let b = z.dim(0)?;
        let t = latent_frames(self.frames);
        let mut h = self
            .input
            .forward(z)?
            .reshape((b, t, self.hidden))?
            .relu()?;
        h = self.convs[0].forward(&upsample2(&h)?)?.relu()?;
        h = self.convs[1].forward(&upsample2(&h)?)?.relu()?;
        self.convs[2]
            .forward(&h)?
            .narrow(1, 0, self.frames)?
            .contiguous()?
            .flatten_from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::vae::{Vae, VaeArch};
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn shapes_round_trip_for_any_window_length_and_count_matches_config() {
        for w in [4, 11, 44, 45] {
            let cfg = VaeConfig {
                n_features: 6,
                window_frames: w,
                hidden: 8,
                latent: 3,
                arch: VaeArch::Conv,
            };
            let vm = VarMap::new();
            let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
            let vae = Vae::new(&cfg, vb).unwrap();
            let x = Tensor::zeros((2, cfg.input_dim()), DType::F32, &Device::Cpu).unwrap();
            let (mu, _) = vae.encode(&x).unwrap();
            assert_eq!(mu.dims(), &[2, 3]);
            assert_eq!(vae.decode(&mu).unwrap().dims(), &[2, cfg.input_dim()]);
            let held: usize = vm.all_vars().iter().map(|v| v.elem_count()).sum();
            assert_eq!(held as u64, cfg.n_params(), "window {w}");
        }
    }
}
