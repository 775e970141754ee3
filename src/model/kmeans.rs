//! k-means (k-means++ seeding, then Lloyd's iterations) over rows of `f32`, shared by the
//! beat states of a VAE's latent walk (`model::latent_states`) and the frame codebook of a
//! transformer (`model::codebook`). Deterministic for a seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Squared Euclidean distance.
pub(crate) fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// k-means++ seeding (Arthur & Vassilvitskii 2007), deterministic for `seed`; fewer than
/// `k` centres when the rows have fewer distinct values.
pub(crate) fn seed_centres(rows: &[&[f32]], k: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centres = vec![rows[rng.random_range(0..rows.len())].to_vec()];
    let mut d: Vec<f32> = rows.iter().map(|r| sq_dist(r, &centres[0])).collect();
    while centres.len() < k {
        let total: f32 = d.iter().sum();
        if total <= 0.0 {
            break;
        }
        let mut u = rng.random::<f32>() * total;
        let i = d
            .iter()
            .position(|&v| {
                u -= v;
                u <= 0.0
            })
            .unwrap_or(rows.len() - 1);
        centres.push(rows[i].to_vec());
        for (dv, r) in d.iter_mut().zip(rows) {
            *dv = dv.min(sq_dist(r, &centres[centres.len() - 1]));
        }
    }
    centres
}

/// Index of the centre nearest `row` (the first of equals).
pub(crate) fn nearest(row: &[f32], centres: &[Vec<f32>]) -> usize {
    let mut best = (0, f32::INFINITY);
    for (i, c) in centres.iter().enumerate() {
        let d = sq_dist(row, c);
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// Index of the nearest centre of every row.
pub(crate) fn assign(rows: &[&[f32]], centres: &[Vec<f32>]) -> Vec<usize> {
    rows.iter().map(|r| nearest(r, centres)).collect()
}

/// Centroids of the `k` clusters `label` defines; empty clusters are dropped.
pub(crate) fn update(rows: &[&[f32]], label: &[usize], k: usize) -> Vec<Vec<f32>> {
    let width = rows.first().map_or(0, |r| r.len());
    let mut sum = vec![vec![0f64; width]; k];
    let mut count = vec![0usize; k];
    for (r, &l) in rows.iter().zip(label) {
        count[l] += 1;
        for (s, &v) in sum[l].iter_mut().zip(r.iter()) {
            *s += f64::from(v);
        }
    }
    sum.into_iter()
        .zip(&count)
        .filter(|(_, &c)| c > 0)
        .map(|(s, &c)| s.into_iter().map(|v| (v / c as f64) as f32).collect())
        .collect()
}

/// Up to `k` centres of `rows` after at most `iterations` Lloyd steps (fewer once the
/// centres stop moving), with the index of every row's nearest centre; `rows` must not be
/// empty.
pub(crate) fn fit(
    rows: &[&[f32]],
    k: usize,
    seed: u64,
    iterations: usize,
) -> (Vec<Vec<f32>>, Vec<usize>) {
    let mut centres = seed_centres(rows, k, seed);
    let mut label = assign(rows, &centres);
    for _ in 0..iterations {
        let next = update(rows, &label, centres.len());
        if next == centres {
            break;
        }
        centres = next;
        label = assign(rows, &centres);
    }
    (centres, label)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well separated blobs are found whatever the seed, each centre at its blob's mean.
    #[test]
    fn separated_blobs_are_found_at_their_means() {
        let mut rows = Vec::new();
        for (c, centre) in [[0.0f32, 0.0], [10.0, 0.0], [0.0, 10.0]].iter().enumerate() {
            for i in 0..20 {
                let e = (i as f32 - 9.5) * 0.01 * (c as f32 + 1.0);
                rows.push(vec![centre[0] + e, centre[1] - e]);
            }
        }
        let views: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        for seed in 0..4 {
            let (mut got, label) = fit(&views, 3, seed, 50);
            assert_eq!(label, assign(&views, &got));
            got.sort_by(|a, b| (a[0] - a[1]).total_cmp(&(b[0] - b[1])));
            let want = [[0.0, 10.0], [0.0, 0.0], [10.0, 0.0]];
            for (g, w) in got.iter().zip(want) {
                assert!(sq_dist(g, &w) < 1e-8, "seed {seed}: {got:?}");
            }
        }
    }

    /// Asking for more centres than distinct rows gives one centre per distinct row.
    #[test]
    fn no_more_centres_than_distinct_rows() {
        let rows = [[1.0f32], [1.0], [2.0], [2.0]];
        let views: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        assert_eq!(fit(&views, 8, 1, 10).0.len(), 2);
    }
}
