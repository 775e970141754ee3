//! Train/validation split by record (never by window) and seeded shuffling.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Record indices `0..n` split into `(train, validation)`, chosen by a seeded shuffle.
///
/// With `n ≥ 2` and a positive fraction, validation gets at least one record and train at
/// least one; with one record everything is training. Each list is in ascending order.
pub fn split_records(n: usize, val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let want = (n as f64 * val_fraction.clamp(0.0, 1.0)).round() as usize;
    let n_val = if n < 2 || val_fraction <= 0.0 {
        0
    } else {
        want.clamp(1, n - 1)
    };
    let (mut val, mut train) = (idx[..n_val].to_vec(), idx[n_val..].to_vec());
    val.sort_unstable();
    train.sort_unstable();
    (train, val)
}

/// Shuffles `items` deterministically for `(seed, epoch)`.
pub fn shuffle<T>(items: &mut [T], seed: u64, epoch: u64) {
    let mixed = seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    items.shuffle(&mut ChaCha8Rng::seed_from_u64(mixed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_disjoint_complete_and_seeded() {
        let (t, v) = split_records(10, 0.2, 3);
        assert_eq!((t.len(), v.len()), (8, 2));
        let mut all: Vec<usize> = t.iter().chain(&v).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(split_records(10, 0.2, 3), (t.clone(), v.clone()));
        let others: Vec<_> = (4..20).map(|s| split_records(10, 0.2, s).1).collect();
        assert!(others.iter().any(|o| *o != v), "seed must matter");
        assert_eq!(split_records(1, 0.5, 0), (vec![0], vec![]));
        assert_eq!(split_records(2, 0.01, 0).1.len(), 1);
    }

    #[test]
    fn shuffle_depends_on_seed_and_epoch_only() {
        let base: Vec<u32> = (0..50).collect();
        let run = |s, e| {
            let mut v = base.clone();
            shuffle(&mut v, s, e);
            v
        };
        assert_eq!(run(1, 2), run(1, 2));
        assert_ne!(run(1, 2), run(1, 3));
        assert_ne!(run(1, 2), base);
    }
}
