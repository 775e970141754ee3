//! Unfolding a time-major sequence for a convolution as one matmul (im2col), as a candle
//! custom op with a CPU kernel and its exact gradient (fold): `[b, t, c]` → `[b, t, k·c]`,
//! `out[b, t, j·c + i] = x[b, t + j − k/2, i]`, zero outside the sequence ("same" padding).
//!
//! The same result from `k` narrows of a padded copy and a concatenation trains ~3× slower
//! on the CPU: the backward pass pads and adds `k` full-size strided gradients. Off the CPU
//! (CUDA) the generic path is used, since this kernel is CPU-only.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// `x` (`[b, t, c]`) unfolded with a window of `k` frames (odd), see the module docs.
pub fn unfold(x: &Tensor, k: usize) -> Result<Tensor> {
    if x.device().is_cpu() {
        x.contiguous()?.apply_op1(Unfold { k })
    } else {
        let t = x.dim(1)?;
        let p = x.pad_with_zeros(1, k / 2, k / 2)?;
        let taps = (0..k)
            .map(|j| p.narrow(1, j, t))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&taps, 2)
    }
}

/// Source frame of tap `j` for output frame `t`, if inside `0..len`.
fn source(t: usize, j: usize, k: usize, len: usize) -> Option<usize> {
    (t + j).checked_sub(k / 2).filter(|&s| s < len)
}

/// A contiguous f32 view of a custom op's input, naming the op (`what`) if it is not one.
pub(super) fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{what}: f32 only");
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("{what}: contiguous input only"),
    }
}

struct Unfold {
    k: usize,
}

impl CustomOp1 for Unfold {
    fn name(&self) -> &'static str {
        "unfold-time"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let (b, t, c) = l.shape().dims3()?;
        let k = self.k;
        let mut out = vec![0f32; b * t * k * c];
        for (xb, ob) in x.chunks_exact(t * c).zip(out.chunks_exact_mut(t * k * c)) {
            for (ti, row) in ob.chunks_exact_mut(k * c).enumerate() {
                for (j, dst) in row.chunks_exact_mut(c).enumerate() {
                    if let Some(s) = source(ti, j, k, t) {
                        dst.copy_from_slice(&xb[s * c..(s + 1) * c]);
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((b, t, k * c))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (_, _, c) = arg.dims3()?;
        Ok(Some(
            grad.contiguous()?
                .apply_op1_no_bwd(&Fold { k: self.k, c })?,
        ))
    }
}

/// The adjoint of [`Unfold`]: sums every tap's gradient back onto its source frame.
struct Fold {
    k: usize,
    c: usize,
}

impl CustomOp1 for Fold {
    fn name(&self) -> &'static str {
        "fold-time"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = f32_slice(s, l, self.name())?;
        let (b, t, kc) = l.shape().dims3()?;
        let (k, c) = (self.k, self.c);
        if kc != k * c {
            candle_core::bail!("fold-time: last axis {kc} is not {k} × {c}");
        }
        let mut out = vec![0f32; b * t * c];
        for (gb, ob) in g.chunks_exact(t * kc).zip(out.chunks_exact_mut(t * c)) {
            for (ti, row) in gb.chunks_exact(kc).enumerate() {
                for (j, src) in row.chunks_exact(c).enumerate() {
                    if let Some(s) = source(ti, j, k, t) {
                        for (o, v) in ob[s * c..(s + 1) * c].iter_mut().zip(src) {
                            *o += v;
                        }
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((b, t, c))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::max_abs_diff;
    use candle_core::{Device, Var};

    /// The generic (narrow + cat) path, the reference for the kernel.
    fn reference(x: &Tensor, k: usize) -> Tensor {
        let t = x.dim(1).unwrap();
        let p = x.pad_with_zeros(1, k / 2, k / 2).unwrap();
        let taps: Vec<Tensor> = (0..k).map(|j| p.narrow(1, j, t).unwrap()).collect();
        Tensor::cat(&taps, 2).unwrap()
    }

    #[test]
    fn kernel_and_its_gradient_equal_the_generic_path() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 7, 3), &dev).unwrap()).unwrap();
        let w = Tensor::randn(0f32, 1.0, (2, 7, 15), &dev).unwrap();
        let a = unfold(x.as_tensor(), 5).unwrap();
        let b = reference(x.as_tensor(), 5);
        assert_eq!(max_abs_diff(&a, &b), 0.0);
        let ga = (a * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (b * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let (ga, gb) = (ga.get(&x).unwrap(), gb.get(&x).unwrap());
        assert!(
            max_abs_diff(ga, gb) < 1e-5,
            "gradients differ by {}",
            max_abs_diff(ga, gb)
        );
    }
}
