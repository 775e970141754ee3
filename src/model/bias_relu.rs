//! `relu(x + bias)` as one candle custom op with a CPU kernel and its gradient, for the
//! linear layers followed by ReLU that make up most of the convolutional VAE.
//!
//! Composed from candle's ops the same thing costs a broadcast add and a ReLU forward, and
//! backward a zero tensor, a comparison, a dtype conversion and a product for the ReLU, then
//! another zero tensor and sum for the add: six passes over the activation where one does.
//! Off the CPU (CUDA) the composed ops are used, since this kernel is CPU-only.

use super::unfold::f32_slice as f32s;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, D};

/// `relu(x + bias)` for `x` `[.., n]` and `bias` `[n]`.
pub fn bias_relu(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() {
        x.contiguous()?.apply_op2(&bias.contiguous()?, BiasRelu)
    } else {
        x.broadcast_add(bias)?.relu()
    }
}

struct BiasRelu;

impl CustomOp2 for BiasRelu {
    fn name(&self) -> &'static str {
        "bias-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, b) = (f32s(s1, l1, self.name())?, f32s(s2, l2, self.name())?);
        let n = l1.shape().dims().last().copied().unwrap_or(0);
        if b.len() != n || n == 0 {
            candle_core::bail!("bias-relu: bias of {} for rows of {n}", b.len());
        }
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks_exact(n) {
            out.extend(row.iter().zip(b).map(|(v, c)| (v + c).max(0.0)));
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    /// `dx = grad · [y > 0]`, `dbias = Σ_rows dx`.
    fn bwd(
        &self,
        _x: &Tensor,
        _bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = grad.contiguous()?.apply_op2_no_bwd(res, &Gate)?;
        let n = dx.dim(D::Minus1)?;
        let db = dx.reshape(((), n))?.apply_op1_no_bwd(&SumRows)?;
        Ok((Some(dx), Some(db)))
    }
}

/// `grad` where the output was positive, else 0.
struct Gate;

impl CustomOp2 for Gate {
    fn name(&self) -> &'static str {
        "relu-gate"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (g, y) = (f32s(s1, l1, self.name())?, f32s(s2, l2, self.name())?);
        if g.len() != y.len() {
            candle_core::bail!("relu-gate: {} gradients for {} outputs", g.len(), y.len());
        }
        let out = g
            .iter()
            .zip(y)
            .map(|(g, y)| if *y > 0.0 { *g } else { 0.0 })
            .collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Column sums of a `[rows, n]` matrix: `[n]`.
struct SumRows;

impl CustomOp1 for SumRows {
    fn name(&self) -> &'static str {
        "sum-rows"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s, l, self.name())?;
        let (_, n) = l.shape().dims2()?;
        let mut out = vec![0f32; n];
        for row in x.chunks_exact(n.max(1)) {
            for (o, v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::max_abs_diff;
    use candle_core::{Device, Var};

    #[test]
    fn kernel_and_its_gradients_equal_candles_composed_ops() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 5, 7), &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 7, &dev).unwrap()).unwrap();
        let w = Tensor::randn(0f32, 1.0, (2, 5, 7), &dev).unwrap();
        let fused = bias_relu(x.as_tensor(), b.as_tensor()).unwrap();
        let composed = x.broadcast_add(b.as_tensor()).unwrap().relu().unwrap();
        assert_eq!(max_abs_diff(&fused, &composed), 0.0);
        assert!(
            fused
                .flatten_all()
                .unwrap()
                .min(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                >= 0.0
        );
        let gf = (fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gc = (composed * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &b] {
            let (a, c) = (gf.get(v).unwrap(), gc.get(v).unwrap());
            assert!(
                max_abs_diff(a, c) < 1e-5,
                "gradients differ by {}",
                max_abs_diff(a, c)
            );
        }
    }

    #[test]
    fn a_bias_of_the_wrong_length_is_an_error() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((3, 4), candle_core::DType::F32, &dev).unwrap();
        let b = Tensor::zeros(5, candle_core::DType::F32, &dev).unwrap();
        assert!(bias_relu(&x, &b).is_err());
    }
}
