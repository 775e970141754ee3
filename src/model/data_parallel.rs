//! Data-parallel gradients on the CPU: a training batch is split into [`SHARDS`] shards
//! whose forward and backward passes run on their own threads, and their gradients are
//! summed. At our model sizes candle splitting each matmul over the cores costs more than it
//! saves (a conv VAE step, 2 cores: 47–60 ms threaded, 43–54 ms on one thread), and its
//! element-wise ops and backward bookkeeping run on one core anyway; whole shards keep
//! every core busy (the same step: 30–42 ms).
//!
//! The shard count is fixed rather than the core count, so a seed trains the same model on
//! any machine; each shard's noise comes from a seed drawn from the run's noise stream.

use super::train::Objective;
use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Shards per batch on the CPU (the 2 cores the project is sized for).
pub const SHARDS: usize = 2;

/// Loss terms (weighted by shard size, so they are the batch's) and summed gradients of
/// `obj` on windows `x` at `step`, over `shards` shards (one: the plain serial pass,
/// noise drawn straight from `noise`).
pub fn batch_gradients(
    obj: &(dyn Objective + Sync),
    x: &Tensor,
    step: u64,
    noise: &mut ChaCha8Rng,
    shards: usize,
    vars: &[Var],
) -> Result<(Vec<Tensor>, GradStore)> {
    let n = x.dim(0)?;
    let k = shards.clamp(1, n.max(1));
    if k == 1 {
        let (loss, terms) = obj.losses(x, step, Some(noise))?;
        return Ok((terms, loss.backward()?));
    }
    let seeds: Vec<u64> = (0..k).map(|_| noise.next_u64()).collect();
    let bounds: Vec<(usize, usize)> = (0..k).map(|i| (i * n / k, (i + 1) * n / k)).collect();
    let results: Vec<Result<(Vec<Tensor>, GradStore)>> = std::thread::scope(|s| {
        let handles: Vec<_> = bounds
            .iter()
            .zip(&seeds)
            .map(|(&(a, b), &seed)| {
                s.spawn(move || {
                    let w = (b - a) as f64 / n as f64;
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    let (loss, terms) =
                        obj.losses(&x.narrow(0, a, b - a)?, step, Some(&mut rng))?;
                    let grads = (loss * w)?.backward()?;
                    let terms = terms.iter().map(|t| t * w).collect::<Result<Vec<_>>>()?;
                    Ok((terms, grads))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(candle_core::Error::Msg("a training shard panicked".into()))
                })
            })
            .collect()
    });
    let mut parts = results.into_iter();
    let Some(first) = parts.next() else {
        candle_core::bail!("no training shards");
    };
    let (mut terms, mut grads) = first?;
    for part in parts {
        let (t, g) = part?;
        for (acc, v) in terms.iter_mut().zip(&t) {
            *acc = (&*acc + v)?;
        }
        merge(&mut grads, &g, vars)?;
    }
    Ok((terms, grads))
}

/// Adds every variable's gradient in `other` to `into`.
fn merge(into: &mut GradStore, other: &GradStore, vars: &[Var]) -> Result<()> {
    for v in vars {
        let t = v.as_tensor();
        if let Some(g) = other.get(t) {
            let sum = match into.get(t) {
                Some(acc) => (acc + g)?,
                None => g.clone(),
            };
            into.insert(t, sum);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::max_abs_diff;
    use candle_core::Device;

    /// Mean squared error of `x · w` against 1: deterministic, no noise.
    struct Mse<'a>(&'a Var);

    impl Objective for Mse<'_> {
        fn term_names(&self) -> &'static [&'static str] {
            &["mse"]
        }

        fn losses(
            &self,
            x: &Tensor,
            _step: u64,
            _noise: Option<&mut ChaCha8Rng>,
        ) -> Result<(Tensor, Vec<Tensor>)> {
            let (n, t, f) = x.dims3()?;
            let y = x.reshape((n * t, f))?.matmul(self.0.as_tensor())?;
            let loss = (y - 1.0)?.sqr()?.mean_all()?;
            Ok((loss.clone(), vec![loss]))
        }
    }

    /// Shards of unequal size give the whole batch's loss and gradient.
    #[test]
    fn sharded_gradients_equal_the_whole_batchs() {
        let dev = Device::Cpu;
        let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 1), &dev).unwrap()).unwrap();
        let x = Tensor::randn(0f32, 1.0, (7, 3, 4), &dev).unwrap();
        let vars = [w.clone()];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (t1, g1) = batch_gradients(&Mse(&w), &x, 0, &mut rng, 1, &vars).unwrap();
        for shards in [2, 3, 7, 9] {
            let (t2, g2) = batch_gradients(&Mse(&w), &x, 0, &mut rng, shards, &vars).unwrap();
            assert!(max_abs_diff(&t1[0], &t2[0]) < 1e-5, "{shards} shards: loss");
            let (a, b) = (
                g1.get(w.as_tensor()).unwrap(),
                g2.get(w.as_tensor()).unwrap(),
            );
            assert!(
                max_abs_diff(a, b) < 1e-5,
                "{shards} shards: gradient off by {}",
                max_abs_diff(a, b)
            );
        }
    }
}
