//! How the channels of a model's random part correlate, bin by bin, and how independent
//! draws are mixed to match.
//!
//! A VAE's decoder residual and a frame transformer's prediction errors are drawn as
//! Gaussians per STFT feature. Drawn independently per channel they decouple the channels
//! that EEG's common reference and volume conduction tie together: the decoded mean or the
//! predicted mean alone carries the coupling, 0.07–0.31 against the record's 0.44. `train`
//! measures the correlation per bin over the training frames ([`CouplingSums`]) and saves
//! its lower triangle; the generators mix their draws through each bin's Cholesky factor
//! ([`ChannelMix`]).
//!
//! Frames are laid out as `dsp::repr` makes them: channel-major, then bin, then re/im.

use super::cholesky::cholesky;

/// Channel pairs of `n_channels` channels: the values a coupling holds per bin.
pub fn pairs(n_channels: usize) -> usize {
    n_channels * n_channels.saturating_sub(1) / 2
}

/// Checks a saved coupling named `field`: per bin, one correlation in [−1, 1] per channel
/// pair (the lower triangle, row-major: (1, 0), (2, 0), (2, 1), …), which together factor
/// into finite mixing weights (a crafted set far from positive definite may not).
pub fn check(
    coupling: &[f32],
    n_bins: usize,
    n_channels: usize,
    field: &str,
) -> std::result::Result<(), String> {
    let want = n_bins * pairs(n_channels);
    if coupling.len() != want {
        return Err(format!(
            "{field}: {} values for {n_bins} bins × {} channel pairs",
            coupling.len(),
            pairs(n_channels)
        ));
    }
    if let Some(v) = coupling.iter().find(|v| !(-1.0..=1.0).contains(*v)) {
        return Err(format!("{field}: {v} is not a correlation"));
    }
    let mix = ChannelMix::new(coupling, n_bins, n_channels);
    match mix
        .factors
        .chunks(n_channels * n_channels)
        .position(|l| l.iter().any(|v| !v.is_finite()))
    {
        Some(k) => Err(format!("{field}: bin {k} is not a correlation matrix")),
        None => Ok(()),
    }
}

/// Running sums for the coupling: per bin, the real part of every channel pair's
/// cross-power (`re_a·re_b + im_a·im_b`) over the frames added.
pub struct CouplingSums {
    cross: Vec<f64>,
    n_bins: usize,
    n_channels: usize,
}

impl CouplingSums {
    /// Empty sums for frames of `n_channels` × `n_bins` complex bins.
    pub fn new(n_bins: usize, n_channels: usize) -> Self {
        Self {
            cross: vec![0.0; n_bins * n_channels * n_channels],
            n_bins,
            n_channels,
        }
    }

    /// Adds one frame, each value multiplied by `scale` of its index first (e.g. the
    /// normalisation's std, for physical units).
    pub fn add(&mut self, frame: &[f32], scale: impl Fn(usize) -> f32) {
        let (nb, nc) = (self.n_bins, self.n_channels);
        let v = |c: usize, k: usize, p: usize| {
            let i = 2 * (c * nb + k) + p;
            f64::from(frame[i] * scale(i))
        };
        for k in 0..nb {
            let m = &mut self.cross[k * nc * nc..(k + 1) * nc * nc];
            for a in 0..nc {
                let (ra, ia) = (v(a, k, 0), v(a, k, 1));
                for b in 0..=a {
                    m[a * nc + b] += ra * v(b, k, 0) + ia * v(b, k, 1);
                }
            }
        }
    }

    /// The correlations, to three decimals (far finer than their estimate from minutes
    /// of data, and a third of the characters in a config: 19 channels hold 11 115);
    /// `None` for one channel. A channel without power correlates 0 with every other.
    pub fn finish(self) -> Option<Vec<f32>> {
        let nc = self.n_channels;
        if nc < 2 {
            return None;
        }
        let round = |r: f64| ((r.clamp(-1.0, 1.0) * 1000.0).round() / 1000.0) as f32;
        let per_bin = |m: &[f64]| -> Vec<f32> {
            let power = |a: usize| m[a * nc + a];
            (1..nc)
                .flat_map(|a| (0..a).map(move |b| (a, b)))
                .map(|(a, b)| {
                    let d = (power(a) * power(b)).sqrt();
                    if d > 0.0 {
                        round(m[a * nc + b] / d)
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        Some(self.cross.chunks_exact(nc * nc).flat_map(per_bin).collect())
    }
}

/// Mixes independent draws across channels bin by bin: channel `c` of bin `k` gets
/// `Σ_{d ≤ c} L_k[c, d] · ε_d` (re and im alike), `L_k` the Cholesky factor of bin `k`'s
/// correlations with each row scaled to unit length, so every channel keeps its variance.
#[derive(Debug, Clone)]
pub struct ChannelMix {
    factors: Vec<f32>,
    n_bins: usize,
    n_channels: usize,
}

impl ChannelMix {
    /// The mix for a coupling of the right length (see [`check`], which also refuses one
    /// whose factors are not finite).
    pub fn new(coupling: &[f32], n_bins: usize, n_channels: usize) -> Self {
        let (nc, per_bin) = (n_channels, pairs(n_channels));
        let factors = (0..n_bins)
            .flat_map(|k| {
                let r = &coupling[k * per_bin..(k + 1) * per_bin];
                let mut l = cholesky(nc, |a, b| match a == b {
                    true => 1.0,
                    false => f64::from(r[a * (a - 1) / 2 + b]),
                });
                for row in l.chunks_exact_mut(nc) {
                    let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
                    row.iter_mut()
                        .for_each(|v| *v /= norm.max(f64::MIN_POSITIVE));
                }
                l.into_iter().map(|v| v as f32)
            })
            .collect();
        Self {
            factors,
            n_bins,
            n_channels,
        }
    }

    /// Writes the mixed `draws` (one frame of independent standard normals) to `out`.
    pub fn apply(&self, draws: &[f32], out: &mut [f32]) {
        let (nb, nc) = (self.n_bins, self.n_channels);
        for (k, l) in self.factors.chunks_exact(nc * nc).enumerate() {
            for (c, row) in l.chunks_exact(nc).enumerate() {
                for p in 0..2 {
                    let at = |d: usize| 2 * (d * nb + k) + p;
                    out[at(c)] = (0..=c).map(|d| row[d] * draws[at(d)]).sum();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn mixed_draws_correlate_as_the_coupling_says_and_keep_their_variance() {
        // Three channels, two bins: bin 0 couples channels 0 and 1 at 0.8, bin 1 channels
        // 1 and 2 at −0.5.
        let coupling = [0.8, 0.0, 0.0, 0.0, 0.0, -0.5];
        assert!(check(&coupling, 2, 3, "c").is_ok());
        let mix = ChannelMix::new(&coupling, 2, 3);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut sums = CouplingSums::new(2, 3);
        let (mut e, mut x) = (vec![0f32; 12], vec![0f32; 12]);
        let mut power = [0f64; 12];
        for _ in 0..20_000 {
            e.iter_mut()
                .for_each(|v| *v = StandardNormal.sample(&mut rng));
            mix.apply(&e, &mut x);
            sums.add(&x, |_| 1.0);
            x.iter()
                .zip(&mut power)
                .for_each(|(v, p)| *p += f64::from(v * v));
        }
        let got = sums.finish().unwrap();
        for (g, w) in got.iter().zip(coupling) {
            assert!((g - w).abs() < 0.03, "{got:?} vs {coupling:?}");
        }
        for p in power {
            assert!(
                (p / 20_000.0 - 1.0).abs() < 0.05,
                "variance {}",
                p / 20_000.0
            );
        }
    }

    #[test]
    fn bad_couplings_are_refused_and_one_channel_has_none() {
        let short = check(&[0.8; 3], 2, 3, "draw_coupling").unwrap_err();
        assert!(short.contains("draw_coupling") && short.contains("channel pairs"));
        assert!(check(&[1.5; 6], 2, 3, "c").is_err());
        assert!(check(&[f32::NAN; 6], 2, 3, "c").is_err());
        // Ten channels each correlating −0.5 with every other: no such matrix exists, and
        // its factor runs to NaN.
        let impossible = check(&vec![-0.5; pairs(10)], 1, 10, "c").unwrap_err();
        assert!(
            impossible.contains("bin 0 is not a correlation matrix"),
            "{impossible}"
        );
        assert!(check(&vec![0.999; pairs(10)], 1, 10, "c").is_ok());
        assert_eq!(CouplingSums::new(4, 1).finish(), None);
        assert!(check(&[], 4, 1, "c").is_ok());
    }
}
