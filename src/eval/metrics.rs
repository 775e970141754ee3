//! Fidelity metrics: log-spectral distance, MMD² (RBF, median heuristic), discriminative
//! AUC (cross-validated logistic regression), and the statistics they stand on.

/// Column means and stds of `rows` (NaN skipped), for z-normalising features.
pub fn column_stats(rows: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let d = rows.first().map_or(0, Vec::len);
    let mut mean = vec![0.0; d];
    let mut sd = vec![0.0; d];
    for j in 0..d {
        let v: Vec<f64> = rows
            .iter()
            .map(|r| r[j])
            .filter(|x| x.is_finite())
            .collect();
        let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
        let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len().max(1) as f64).sqrt();
        (mean[j], sd[j]) = (m, if s > 1e-12 { s } else { 1.0 });
    }
    (mean, sd)
}

/// z-normalises rows with the given stats; undefined features become 0 (the mean).
pub fn standardise(rows: &[Vec<f64>], mean: &[f64], sd: &[f64]) -> Vec<Vec<f64>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(mean.iter().zip(sd))
                .map(|(x, (m, s))| if x.is_finite() { (x - m) / s } else { 0.0 })
                .collect()
        })
        .collect()
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

/// Log-spectral distance (dB) between two mean PSDs over the bins `[k0, k1)`:
/// `sqrt(mean_k (10·log10 P_a(k) − 10·log10 P_b(k))²)`.
pub fn log_spectral_distance(a: &[f64], b: &[f64], k0: usize, k1: usize) -> f64 {
    let n = (k1 - k0).max(1) as f64;
    let s: f64 = (k0..k1)
        .map(|k| (10.0 * ((a[k] + 1e-30) / (b[k] + 1e-30)).log10()).powi(2))
        .sum();
    (s / n).sqrt()
}

/// Unbiased MMD² between samples `x` and `y` with `k(a,b) = exp(−‖a−b‖² / (2σ²))`, σ the
/// median pairwise distance of the pooled samples. Returns (MMD², σ).
pub fn mmd2(x: &[Vec<f64>], y: &[Vec<f64>]) -> (f64, f64) {
    let pooled: Vec<&Vec<f64>> = x.iter().chain(y).collect();
    let mut d: Vec<f64> = Vec::new();
    for i in 0..pooled.len() {
        for j in i + 1..pooled.len() {
            d.push(sq_dist(pooled[i], pooled[j]).sqrt());
        }
    }
    d.sort_by(f64::total_cmp);
    let sigma = d.get(d.len() / 2).copied().unwrap_or(1.0).max(1e-12);
    let k = |a: &[f64], b: &[f64]| (-sq_dist(a, b) / (2.0 * sigma * sigma)).exp();
    let within = |s: &[Vec<f64>]| {
        let n = s.len() as f64;
        let mut t = 0.0;
        for i in 0..s.len() {
            for j in 0..s.len() {
                if i != j {
                    t += k(&s[i], &s[j]);
                }
            }
        }
        t / (n * (n - 1.0)).max(1.0)
    };
    let cross = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| k(a, b)))
        .sum::<f64>()
        / (x.len() * y.len()).max(1) as f64;
    (within(x) + within(y) - 2.0 * cross, sigma)
}

/// ROC AUC of `scores` for labels (true = positive), ties counted half (Mann–Whitney U).
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            ranks[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    let np = labels.iter().filter(|&&l| l).count() as f64;
    let nn = labels.len() as f64 - np;
    let rp: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l)
        .map(|(r, _)| r)
        .sum();
    (rp - np * (np + 1.0) / 2.0) / (np * nn).max(1.0)
}

/// L2-regularised logistic regression fitted by full-batch gradient descent.
pub fn fit_logistic(x: &[Vec<f64>], y: &[bool]) -> Vec<f64> {
    let d = x.first().map_or(0, Vec::len);
    let mut w = vec![0.0; d + 1];
    let (lr, l2, n) = (0.5, 0.1, x.len().max(1) as f64);
    for _ in 0..400 {
        let mut g = vec![0.0; d + 1];
        for (xi, &yi) in x.iter().zip(y) {
            let p = 1.0 / (1.0 + (-predict(&w, xi)).exp());
            let e = p - f64::from(u8::from(yi));
            g[d] += e;
            for j in 0..d {
                g[j] += e * xi[j];
            }
        }
        for j in 0..=d {
            let reg = if j < d { l2 * w[j] } else { 0.0 };
            w[j] -= lr * (g[j] / n + reg);
        }
    }
    w
}

/// The logistic model's log-odds for one row.
pub fn predict(w: &[f64], x: &[f64]) -> f64 {
    let d = x.len();
    w[d] + x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>()
}

/// The ROC AUC of one feature alone: the chance that a value of `b` exceeds one of `a`,
/// ties counting half; NaNs are left out, and 0.5 when a side has none. Above 0.5: `b`
/// runs higher.
pub fn feature_auc(a: &[f64], b: &[f64]) -> f64 {
    let (mut scores, mut labels) = (Vec::new(), Vec::new());
    for (v, from_b) in a
        .iter()
        .map(|&v| (v, false))
        .chain(b.iter().map(|&v| (v, true)))
    {
        if !v.is_nan() {
            scores.push(v);
            labels.push(from_b);
        }
    }
    if labels.iter().all(|&l| l) || labels.iter().all(|&l| !l) {
        return 0.5;
    }
    auc(&scores, &labels)
}

/// Discriminative score: AUC of out-of-fold predictions of `k`-fold stratified
/// cross-validated logistic regression separating `a` (negatives) from `b` (positives).
pub fn discriminative_auc(a: &[Vec<f64>], b: &[Vec<f64>], k: usize, seed: u64) -> f64 {
    use rand::{seq::SliceRandom, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut fold = |n: usize| {
        let mut f: Vec<usize> = (0..n).map(|i| i % k).collect();
        f.shuffle(&mut rng);
        f
    };
    let rows: Vec<(&Vec<f64>, bool, usize)> = a
        .iter()
        .zip(fold(a.len()))
        .map(|(r, f)| (r, false, f))
        .chain(b.iter().zip(fold(b.len())).map(|(r, f)| (r, true, f)))
        .collect();
    let mut scores = vec![0.0; rows.len()];
    for f in 0..k {
        let (tx, ty): (Vec<Vec<f64>>, Vec<bool>) = rows
            .iter()
            .filter(|r| r.2 != f)
            .map(|r| (r.0.clone(), r.1))
            .unzip();
        let w = fit_logistic(&tx, &ty);
        for (s, r) in scores.iter_mut().zip(&rows) {
            if r.2 == f {
                *s = predict(&w, r.0);
            }
        }
    }
    let labels: Vec<bool> = rows.iter().map(|r| r.1).collect();
    auc(&scores, &labels)
}

/// Distance from each row of `x` to its closest row of `reference`.
pub fn closest_distances(x: &[Vec<f64>], reference: &[Vec<f64>]) -> Vec<f64> {
    x.iter()
        .map(|a| {
            reference
                .iter()
                .map(|b| sq_dist(a, b))
                .fold(f64::INFINITY, f64::min)
                .sqrt()
        })
        .collect()
}

/// Distance from each row of `x` to its closest other row of `x` at least `gap + 1` rows away
/// (rows are windows in time order: `gap` keeps a window's own neighbours, which share its
/// rhythm, from standing in for the rest of the record); infinite when there is none.
pub fn closest_distances_loo(x: &[Vec<f64>], gap: usize) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            x.iter()
                .enumerate()
                .filter(|(j, _)| j.abs_diff(i) > gap)
                .map(|(_, b)| sq_dist(&x[i], b))
                .fold(f64::INFINITY, f64::min)
                .sqrt()
        })
        .collect()
}

/// How much a set's windows vary beside the real ones': per feature (column), the
/// interquartile range over `set`'s windows over that over `real`'s (NaNs left out;
/// features with fewer than [`MIN_SPREAD_WINDOWS`] values on a side, or without spread in
/// `real`, skipped), and the median of those ratios; `None` if no feature is left. 1: the
/// windows differ from one another as much as real ones do; below 1: too alike. Quartiles,
/// not standard deviations: one artefact window in a few dozen would set the scale. A
/// narrower spread around the same centre leaves each feature's own AUC near 0.5, so the
/// telltales do not show it.
pub fn spread_ratio(real: &[Vec<f64>], set: &[Vec<f64>]) -> Option<f64> {
    let d = real.first().map_or(0, Vec::len);
    let iqr = |rows: &[Vec<f64>], j: usize| -> Option<f64> {
        let mut v: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.get(j).copied())
            .filter(|x| x.is_finite())
            .collect();
        v.sort_by(f64::total_cmp);
        (v.len() >= MIN_SPREAD_WINDOWS).then(|| quantile(&v, 0.75) - quantile(&v, 0.25))
    };
    let ratios: Vec<f64> = (0..d)
        .filter_map(|j| match (iqr(real, j), iqr(set, j)) {
            (Some(r), Some(s)) if r > 1e-12 => Some(s / r),
            _ => None,
        })
        .collect();
    (!ratios.is_empty()).then(|| median(&ratios))
}

/// Fewest windows a feature's spread is measured over (quartiles of fewer say little).
pub const MIN_SPREAD_WINDOWS: usize = 4;

/// The `q` quantile of ascending, non-empty `v`, interpolated linearly between ranks.
fn quantile(v: &[f64], q: f64) -> f64 {
    let x = q * (v.len() - 1) as f64;
    let (i, f) = (x.floor() as usize, x.fract());
    v[i] + f * (v[(i + 1).min(v.len() - 1)] - v[i])
}

/// Median of a slice (NaN-free).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Pearson correlation.
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    sab / (saa * sbb).sqrt().max(1e-30)
}

/// Mean over windows of each channel pair's Pearson correlation (pairs `(a, b)`, `a < b`,
/// row by row); `None` with fewer than two channels. How strongly channels move together
/// (EEG's volume conduction and common reference), which per-channel features do not see.
pub fn channel_correlations(windows: &[Vec<Vec<f32>>]) -> Option<Vec<f64>> {
    let nc = windows.first()?.len();
    if nc < 2 {
        return None;
    }
    let mut sum = vec![0.0; nc * (nc - 1) / 2];
    let mut centred: Vec<Vec<f64>> = Vec::with_capacity(nc);
    for win in windows {
        centred.clear();
        centred.extend(win.iter().map(|x| {
            let m = x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len().max(1) as f64;
            let d: Vec<f64> = x.iter().map(|&v| f64::from(v) - m).collect();
            let norm = d.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-30);
            d.into_iter().map(|v| v / norm).collect()
        }));
        let pairs = (0..nc).flat_map(|a| (a + 1..nc).map(move |b| (a, b)));
        for (s, (a, b)) in sum.iter_mut().zip(pairs) {
            *s += centred[a]
                .iter()
                .zip(&centred[b])
                .map(|(x, y)| x * y)
                .sum::<f64>();
        }
    }
    let n = windows.len() as f64;
    Some(sum.into_iter().map(|s| s / n).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spread ratio: a set spread twice as wide in every feature scores 2, a copy 1, a set
    /// of one window repeated 0; constant features and sets of too few windows are skipped.
    #[test]
    fn spread_ratio_compares_the_windows_spread_feature_by_feature() {
        let real: Vec<Vec<f64>> = (0..9)
            .map(|i| vec![i as f64, (i * i) as f64, 5.0, f64::NAN])
            .collect();
        let wide: Vec<Vec<f64>> = real
            .iter()
            .map(|r| vec![2.0 * r[0] + 1.0, 2.0 * r[1], 7.0, 1.0])
            .collect();
        let same: Vec<Vec<f64>> = (0..9).map(|_| real[4].clone()).collect();
        assert!((spread_ratio(&real, &wide).unwrap() - 2.0).abs() < 1e-12);
        assert!((spread_ratio(&real, &real).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(spread_ratio(&real, &same), Some(0.0));
        assert_eq!(spread_ratio(&real[..3], &wide), None);
        assert_eq!(quantile(&[1.0, 2.0, 4.0], 0.75), 3.0);
    }

    /// A copy of a channel correlates 1, its negative −1, an unrelated one about 0.
    #[test]
    fn channel_correlations_of_copies_opposites_and_strangers() {
        let x: Vec<f32> = (0..500).map(|i| (i as f32 * 0.37).sin()).collect();
        let y: Vec<f32> = (0..500).map(|i| ((i * i) as f32 * 0.013).cos()).collect();
        let neg: Vec<f32> = x.iter().map(|v| -2.0 * v + 3.0).collect();
        let r = channel_correlations(&[vec![x.clone(), x.clone(), neg, y]]).unwrap();
        assert_eq!(r.len(), 6);
        assert!(
            (r[0] - 1.0).abs() < 1e-9 && (r[1] + 1.0).abs() < 1e-9,
            "{r:?}"
        );
        assert!(r[2].abs() < 0.1, "{r:?}");
        assert!(channel_correlations(&[vec![x]]).is_none());
    }

    #[test]
    fn leave_one_out_distances_skip_self_and_neighbours() {
        let x: Vec<Vec<f64>> = [0.0, 1.0, 2.0, 10.0].iter().map(|&v| vec![v]).collect();
        assert_eq!(closest_distances_loo(&x, 0), [1.0, 1.0, 1.0, 8.0]);
        assert_eq!(closest_distances_loo(&x, 1), [2.0, 9.0, 2.0, 9.0]);
        assert!(closest_distances_loo(&x[..2], 1)
            .iter()
            .all(|d| d.is_infinite()));
    }

    #[test]
    fn auc_of_perfect_and_reversed_scores() {
        let l = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &l), 1.0);
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &l), 0.0);
        assert_eq!(auc(&[0.5; 4], &l), 0.5);
    }

    #[test]
    fn one_features_auc_leaves_nans_out_and_says_which_side_runs_higher() {
        let a = [1.0, 2.0, f64::NAN, 3.0];
        assert_eq!(feature_auc(&a, &[4.0, 5.0, f64::NAN]), 1.0);
        assert_eq!(feature_auc(&a, &[0.0, 0.5]), 0.0);
        assert_eq!(feature_auc(&a, &[2.0]), 0.5);
        assert_eq!(feature_auc(&a, &[f64::NAN]), 0.5);
    }

    #[test]
    fn mmd_is_near_zero_for_one_distribution_and_large_for_two() {
        let a: Vec<Vec<f64>> = (0..40)
            .map(|i| vec![(i as f64 * 0.37).sin(), (i as f64 * 0.11).cos()])
            .collect();
        let b: Vec<Vec<f64>> = a.iter().map(|r| vec![r[0] + 3.0, r[1]]).collect();
        assert!(mmd2(&a, &a).0.abs() < 0.05);
        assert!(mmd2(&a, &b).0 > 0.5);
    }
}
