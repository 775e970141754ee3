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
//! to features, cropped to `W` frames (upsampling + convolution, no checkerboard artefacts;
//! computed polyphase at the lower rate). Bias + ReLU is one fused op (`model::bias_relu`).

use super::vae::VaeConfig;
use candle_core::{Result, Tensor};
use candle_nn::{linear, Linear, Module, VarBuilder};
use std::sync::OnceLock;

/// Kernel of the stride-1 convolutions, in frames.
pub const KERNEL: usize = 5;

/// Frames of the downsampled time axis for windows of `window_frames` frames.
pub fn latent_frames(window_frames: usize) -> usize {
    window_frames.div_ceil(4)
}

/// `l` applied to the last axis of `[b, t, c]` as one 2-D matmul: candle's `Linear` on a
/// 3-D input broadcasts the weight per batch item and sums its gradient back, ~4× slower.
fn linear3d(l: &Linear, x: &Tensor) -> Result<Tensor> {
    on_rows(x, |r| l.forward(r))
}

/// `relu(l(x))` on the last axis of `[b, t, c]`: the matmul, then bias and ReLU fused
/// (`model::bias_relu`).
fn linear3d_relu(l: &Linear, x: &Tensor) -> Result<Tensor> {
    on_rows(x, |r| linear_relu(l, r))
}

/// `f` (rows in, rows out) applied to `[b, t, c]` reshaped to `[b·t, c]`.
fn on_rows(x: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let (b, t, c) = x.dims3()?;
    let y = f(&x.reshape((b * t, c))?)?;
    let o = y.dim(1)?;
    y.reshape((b, t, o))
}

/// `relu(l(x))` for a 2-D `x`, bias and ReLU in one pass.
fn linear_relu(l: &Linear, x: &Tensor) -> Result<Tensor> {
    bias_then_relu(l, &x.matmul(&l.weight().t()?)?)
}

/// `relu(y + l's bias)`, fused (`model::bias_relu`); plain ReLU without a bias.
fn bias_then_relu(l: &Linear, y: &Tensor) -> Result<Tensor> {
    match l.bias() {
        Some(bias) => super::bias_relu::bias_relu(y, bias),
        None => y.relu(),
    }
}

/// A stride-1 convolution over time with "same" zero padding, time-major.
struct Conv {
    /// `[k·in → out]` weights over the unfolded input.
    linear: Linear,
    /// Polyphase weights of frozen (sampling) weights, built on first use.
    poly: OnceLock<Tensor>,
}

impl Module for Conv {
    /// `[b, t, i]` → `[b, t, o]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        linear3d(&self.linear, &super::unfold::unfold(x, KERNEL)?)
    }
}

impl Conv {
    fn new(i: usize, o: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            linear: linear(KERNEL * i, o, vb)?,
            poly: OnceLock::new(),
        })
    }

    /// The convolution followed by ReLU.
    fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        linear3d_relu(&self.linear, &super::unfold::unfold(x, KERNEL)?)
    }

    /// Nearest ×2 upsampling, this convolution and ReLU, computed at the input's rate
    /// (polyphase): after upsampling, an even output frame `2i` sees input frames
    /// `i−1, i−1, i, i, i+1` through taps 0..5 and an odd one `2i+1` sees `i−1, i, i, i+1,
    /// i+1`, so each is a 3-tap convolution with summed taps. The same function and
    /// gradients as [`upsample2`] then `forward_relu`, in 3/5 of the multiply-adds and
    /// without the upsampled copy.
    fn upsample2_relu(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, c) = x.dims3()?;
        let o = self.linear.weight().dim(0)?;
        let poly = self.polyphase(c)?;
        let y = super::unfold::unfold(x, 3)?
            .reshape((b * t, 3 * c))?
            .matmul(&poly.t()?)?
            .reshape((b * t * 2, o))?;
        bias_then_relu(&self.linear, &y)?.reshape((b, 2 * t, o))
    }

    /// The even and odd phases' 3-tap weights `[2·out, 3·c]`, from the 5-tap weights:
    /// rebuilt at every call while training (the weights are variables the optimiser
    /// changes, and the gradient flows through the sums), built once for frozen weights.
    fn polyphase(&self, c: usize) -> Result<Tensor> {
        let w = self.linear.weight();
        if let Some(p) = self.poly.get() {
            return Ok(p.clone());
        }
        let tap = |j: usize| w.narrow(1, j * c, c);
        let even = Tensor::cat(&[(tap(0)? + tap(1)?)?, (tap(2)? + tap(3)?)?, tap(4)?], 1)?;
        let odd = Tensor::cat(&[tap(0)?, (tap(1)? + tap(2)?)?, (tap(3)? + tap(4)?)?], 1)?;
        let poly = Tensor::cat(&[even, odd], 0)?;
        if !w.is_variable() {
            let _ = self.poly.set(poly.clone());
        }
        Ok(poly)
    }
}

/// Halves time by merging neighbouring frames: `[b, t, c]` → `[b, t/2, 2c]` → linear →
/// ReLU.
fn merge2_relu(x: &Tensor, l: &Linear) -> Result<Tensor> {
    let (b, t, c) = x.dims3()?;
    linear3d_relu(l, &x.reshape((b, t / 2, 2 * c))?)
}

/// Nearest-neighbour ×2 in time: `[b, t, c]` → `[b, 2t, c]` (the reference for
/// [`Conv::upsample2_relu`]).
#[cfg(test)]
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
        h = self.conv.forward_relu(&h)?;
        for m in &self.merge {
            h = merge2_relu(&h, m)?;
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
        let mut h = linear_relu(&self.input, z)?.reshape((b, t, self.hidden))?;
        h = self.convs[0].upsample2_relu(&h)?;
        h = self.convs[1].upsample2_relu(&h)?;
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
    use crate::model::max_abs_diff;
    use crate::model::vae::{Vae, VaeArch};
    use candle_core::{DType, Device, Var};
    use candle_nn::VarMap;

    #[test]
    fn polyphase_upsampling_convolution_equals_upsampling_then_convolving() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let conv = Conv::new(3, 4, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        crate::model::train::seed_weights(&vm, 5).unwrap();
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 6, 3), &dev).unwrap()).unwrap();
        let g = Tensor::randn(0f32, 1.0, (2, 12, 4), &dev).unwrap();
        let fast = conv.upsample2_relu(x.as_tensor()).unwrap();
        let slow = conv
            .forward_relu(&upsample2(x.as_tensor()).unwrap())
            .unwrap();
        assert!(
            max_abs_diff(&fast, &slow) < 1e-5,
            "outputs differ by {}",
            max_abs_diff(&fast, &slow)
        );
        let gf = (fast * &g).unwrap().sum_all().unwrap().backward().unwrap();
        let gs = (slow * &g).unwrap().sum_all().unwrap().backward().unwrap();
        let mut vars = vm.all_vars();
        vars.push(x);
        for v in &vars {
            let (a, b) = (gf.get(v).unwrap(), gs.get(v).unwrap());
            assert!(
                max_abs_diff(a, b) < 1e-4,
                "gradients differ by {}",
                max_abs_diff(a, b)
            );
        }
    }

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
