//! Where a trained VAE's latents actually live: a full-covariance Gaussian fitted, after
//! training, to the posterior means of the training windows (ex-post density estimation,
//! Ghosh et al. 2020, "From variational to deterministic autoencoders").
//!
//! The KL term pulls the aggregate posterior towards N(0, I) but does not get it there:
//! its dimensions are shifted, scaled and correlated, so standard-normal draws visit
//! latents no training window had (on MIT-BIH 208 they place each window's next beat almost
//! anywhere: SDNN per 5 s 122–163 ms against the record's 64–85). Drawing
//! `z = mean + L·ε` with `L` the Cholesky factor of the fitted covariance keeps the draws'
//! spread and correlations those of the training windows (SDNN 61–105 ms).

use super::cholesky::cholesky;
use super::train::to_err;
use super::vae::Vae;
use crate::data::{Dataset, Part};
use crate::Result;
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Mean and lower-triangular Cholesky factor (row-major, `latent × latent`) of the
/// training windows' posterior means; saved in a VAE checkpoint's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatentPrior {
    /// Mean of the posterior means.
    pub mean: Vec<f32>,
    /// Cholesky factor of their covariance, row-major; entries above the diagonal are 0.
    pub chol: Vec<f32>,
}

impl LatentPrior {
    /// Fits mean and covariance to `mus` (rows of `latent` values); `None` without rows.
    /// A small ridge (1e-6 of the mean variance) keeps the factorisation defined when a
    /// dimension never varies.
    pub fn fit(mus: &[f32], latent: usize) -> Option<LatentPrior> {
        let n = mus.len() / latent.max(1);
        if n == 0 || latent == 0 {
            return None;
        }
        let rows = || mus.chunks_exact(latent);
        let mut mean = vec![0f64; latent];
        for r in rows() {
            for (m, &v) in mean.iter_mut().zip(r) {
                *m += f64::from(v) / n as f64;
            }
        }
        let mut cov = vec![0f64; latent * latent];
        for r in rows() {
            for a in 0..latent {
                let da = f64::from(r[a]) - mean[a];
                for b in 0..=a {
                    cov[a * latent + b] += da * (f64::from(r[b]) - mean[b]) / n as f64;
                }
            }
        }
        let ridge = 1e-6 * (0..latent).map(|i| cov[i * latent + i]).sum::<f64>() / latent as f64;
        for i in 0..latent {
            cov[i * latent + i] += ridge.max(f64::MIN_POSITIVE);
        }
        Some(LatentPrior {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            chol: cholesky(latent, |i, j| cov[i * latent + j])
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        })
    }

    /// Encodes every training window of `data` and fits the prior to the posterior means.
    pub fn of_training_windows(model: &Vae, data: &Dataset, dev: &Device) -> Result<Self> {
        let latent = model.config().latent;
        let mut mus = Vec::new();
        for b in data.batches(Part::Train, 64, 0) {
            let x = Tensor::from_vec(b.data, (b.shape[0], b.shape[1] * b.shape[2]), dev)
                .map_err(to_err)?;
            let (mu, _) = model.encode(&x).map_err(to_err)?;
            mus.extend(
                mu.flatten_all()
                    .and_then(|m| m.to_vec1::<f32>())
                    .map_err(to_err)?,
            );
        }
        Self::fit(&mus, latent)
            .ok_or_else(|| crate::Error::BadInput("latent prior: no training windows".into()))
    }

    /// `mean + L·eps` for one latent vector.
    pub fn map(&self, eps: &[f32]) -> Vec<f32> {
        let l = self.mean.len();
        (0..l)
            .map(|i| {
                let row = &self.chol[i * l..i * l + i + 1];
                self.mean[i] + row.iter().zip(eps).map(|(a, e)| a * e).sum::<f32>()
            })
            .collect()
    }

    /// `L⁻¹·(z − mean)`: the standard-normal coordinates of latent `z` (inverse of
    /// [`LatentPrior::map`]; forward substitution).
    pub fn standardise(&self, z: &[f32]) -> Vec<f32> {
        let l = self.mean.len();
        let mut eps = vec![0f32; l];
        for i in 0..l {
            let row = &self.chol[i * l..i * l + i + 1];
            let known: f32 = row[..i].iter().zip(&eps).map(|(a, e)| a * e).sum();
            eps[i] = (z[i] - self.mean[i] - known) / row[i];
        }
        eps
    }

    /// Sizes match `latent` and every value is finite (the config comes from a file).
    pub fn check(&self, latent: usize) -> std::result::Result<(), String> {
        if self.mean.len() != latent || self.chol.len() != latent.saturating_mul(latent) {
            return Err(format!(
                "latent_prior: {} means and {} factor entries for latent {latent}",
                self.mean.len(),
                self.chol.len()
            ));
        }
        if self.mean.iter().chain(&self.chol).any(|v| !v.is_finite()) {
            return Err("latent_prior: non-finite values".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn draws_reproduce_the_fitted_mean_and_covariance() {
        // Correlated 3-D data: x = m + A·e.
        let (m, a) = (
            [1.0f32, -2.0, 0.5],
            [[2.0f32, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, -1.0, 0.3]],
        );
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut draw = |mean: &[f32], f: &dyn Fn(&[f32]) -> Vec<f32>| {
            let e: Vec<f32> = (0..3).map(|_| StandardNormal.sample(&mut rng)).collect();
            f(&e)
                .iter()
                .zip(mean)
                .map(|(v, m)| v + m)
                .collect::<Vec<f32>>()
        };
        let data: Vec<f32> = (0..20_000)
            .flat_map(|_| {
                draw(&m, &|e| {
                    (0..3)
                        .map(|i| (0..3).map(|k| a[i][k] * e[k]).sum())
                        .collect()
                })
            })
            .collect();
        let p = LatentPrior::fit(&data, 3).unwrap();
        p.check(3).unwrap();
        for i in 0..3 {
            assert!((p.mean[i] - m[i]).abs() < 0.05, "mean {i}: {}", p.mean[i]);
            // L·Lᵀ = A·Aᵀ (the covariance), and L is lower triangular.
            for j in 0..3 {
                let llt: f32 = (0..3).map(|k| p.chol[i * 3 + k] * p.chol[j * 3 + k]).sum();
                let aat: f32 = (0..3).map(|k| a[i][k] * a[j][k]).sum();
                assert!((llt - aat).abs() < 0.08, "cov {i}{j}: {llt} vs {aat}");
                if j > i {
                    assert_eq!(p.chol[i * 3 + j], 0.0);
                }
            }
        }
        assert_eq!(p.map(&[0.0; 3]), p.mean);
        let z = p.map(&[1.0, 0.0, 0.0]);
        assert!((z[0] - p.mean[0] - p.chol[0]).abs() < 1e-6);
        // standardise inverts map.
        let e = [0.3f32, -1.2, 2.0];
        let back = p.standardise(&p.map(&e));
        assert!(
            e.iter().zip(&back).all(|(a, b)| (a - b).abs() < 1e-4),
            "{back:?}"
        );
        // A dimension that never varies still factorises; wrong sizes are refused.
        let flat: Vec<f32> = (0..10).flat_map(|i| [i as f32, 7.0]).collect();
        let q = LatentPrior::fit(&flat, 2).unwrap();
        assert!(q.chol.iter().all(|v| v.is_finite()) && q.chol[3] >= 0.0);
        assert!(q.check(3).is_err());
        assert!(LatentPrior::fit(&[], 2).is_none());
    }
}
