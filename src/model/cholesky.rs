//! The lower Cholesky factor of a symmetric positive-definite matrix: how the latent prior,
//! the coupled draws of `model::coupling` and the physiological EEG turn independent
//! draws into correlated ones (`x = L·ε`).

/// Lower Cholesky factor (row-major, `n × n`, zeros above the diagonal) of the symmetric
/// `a(i, j)` (only `j ≤ i` is read); a pivot that rounding drives to zero or below is
/// clamped to a tiny positive one, so a merely semi-definite matrix still factors.
pub fn cholesky(n: usize, a: impl Fn(usize, usize) -> f64) -> Vec<f64> {
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            let s = a(i, j) - dot;
            l[i * n + j] = if i == j {
                s.max(1e-12).sqrt()
            } else {
                s / l[j * n + j]
            };
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_factor_times_its_transpose_gives_the_matrix_back() {
        let a = [[4.0, 2.0, -1.0], [2.0, 3.0, 0.5], [-1.0, 0.5, 2.0]];
        let l = cholesky(3, |i, j| a[i][j]);
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| l[i * 3 + k] * l[j * 3 + k]).sum();
                assert!((v - a[i][j]).abs() < 1e-12, "({i}, {j}): {v}");
            }
            assert!(l[i * 3 + i] > 0.0);
            assert!((i + 1..3).all(|j| l[i * 3 + j] == 0.0));
        }
    }

    #[test]
    fn a_singular_matrix_still_factors_into_finite_values() {
        // Two copies of one variable: rank 1.
        let l = cholesky(2, |_, _| 1.0);
        assert!(l.iter().all(|v| v.is_finite()), "{l:?}");
        assert!((l[2] - 1.0).abs() < 1e-9);
    }
}
