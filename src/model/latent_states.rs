//! Beat types and rhythm for a beat-aligned VAE's latent walk: a small hidden-Markov prior
//! over the standardised latents of consecutive beat windows.
//!
//! One Gaussian over all beat latents (`model::latent_prior`) blurs distinct beat types
//! into one cloud, and a slow walk through it changes morphology gradually: on MIT-BIH 208,
//! whose premature ventricular beats come every second or third beat with a compensatory
//! pause, the walk's output had almost none (skewness 2.2–2.5 against the record's 1.1–1.7,
//! RMSSD 27 ms against 73–87). Here the training beats' latents (in the prior's standard
//! coordinates) are clustered by k-means into a few states, each with its mean and
//! per-dimension spread, and the order in which the record visits them is kept as a
//! transition matrix. Sampling draws the next state from the current one's row and places
//! the latent at that state's mean plus its spread times a slow AR(1) walk: beat types and
//! their sequence as in the record, shapes within a type drifting slowly. No training
//! latent is stored, only k means, spreads and k² transition probabilities over clusters of
//! at least `MIN_MEMBERS` beats.

use super::kmeans::{assign, seed_centres, update};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Most states a checkpoint may declare (the config is untrusted input).
pub const MAX_STATES: usize = 64;
/// Fewest training beats a state is fitted to: smaller clusters are merged into their
/// nearest neighbour (a state of one beat would replay that beat).
const MIN_MEMBERS: usize = 10;
/// Least per-dimension spread of a state, in the prior's standard units.
const MIN_SPREAD: f32 = 0.05;
/// Pseudo-count added to every transition (no transition is impossible).
const SMOOTHING: f64 = 0.1;
/// Lloyd iterations of k-means.
const ITERATIONS: usize = 100;

/// States fitted to a beat VAE's training latents; saved in its checkpoint's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatentStates {
    /// State means, `k × latent`, row-major, in the latent prior's standard coordinates.
    pub means: Vec<f32>,
    /// Per-dimension spread of each state, `k × latent`.
    pub spreads: Vec<f32>,
    /// Row-stochastic transition probabilities between consecutive beats, `k × k`.
    pub transitions: Vec<f32>,
}

impl LatentStates {
    /// Fits up to `k` states to `seqs`, each a time-ordered run of beats (`latent` values
    /// per beat) in which every beat appears in `views` time-shifted copies (the jittered
    /// training windows); `None` with fewer than `MIN_MEMBERS` beats or `k == 0`. A state's
    /// size counts beats, not copies.
    pub fn fit(
        seqs: &[Vec<f32>],
        latent: usize,
        k: usize,
        seed: u64,
        views: usize,
    ) -> Option<LatentStates> {
        let rows: Vec<&[f32]> = seqs.iter().flat_map(|s| s.chunks_exact(latent)).collect();
        let min_rows = MIN_MEMBERS * views.max(1);
        if latent == 0 || k == 0 || rows.len() < min_rows {
            return None;
        }
        let k = k.min(MAX_STATES).min(rows.len() / min_rows).max(1);
        let mut centres = seed_centres(&rows, k, seed);
        for _ in 0..ITERATIONS {
            let label = assign(&rows, &centres);
            let kept = merge_small(&label, &centres, min_rows);
            let next = if kept.len() < centres.len() {
                kept
            } else {
                update(&rows, &label, centres.len())
            };
            if next == centres {
                break;
            }
            centres = next;
        }
        // Once more, in case the last update left a cluster small (rows only move to the
        // clusters kept, so every state then has at least `min_rows`).
        let centres = merge_small(&assign(&rows, &centres), &centres, min_rows);
        let label = assign(&rows, &centres);
        let k = centres.len();
        let (means, spreads) = moments(&rows, &label, k, latent);
        let transitions = transitions(seqs, latent, &centres, k);
        Some(LatentStates {
            means,
            spreads,
            transitions,
        })
    }

    /// Number of states.
    pub fn k(&self) -> usize {
        self.transitions.len().isqrt()
    }

    /// Sizes match `latent`, values are finite, spreads positive and every transition row
    /// a distribution (the config comes from a file).
    pub fn check(&self, latent: usize) -> std::result::Result<(), String> {
        let k = self.k();
        let n = k.saturating_mul(latent);
        if k == 0 || k > MAX_STATES || k * k != self.transitions.len() {
            return Err(format!(
                "latent_states: {} transition entries (k × k, k from 1 to {MAX_STATES})",
                self.transitions.len()
            ));
        }
        if self.means.len() != n || self.spreads.len() != n {
            return Err(format!(
                "latent_states: {} means and {} spreads for {k} states of latent {latent}",
                self.means.len(),
                self.spreads.len()
            ));
        }
        let mut all = self
            .means
            .iter()
            .chain(&self.spreads)
            .chain(&self.transitions);
        if all.any(|v| !v.is_finite()) || self.spreads.iter().any(|&s| s <= 0.0) {
            return Err("latent_states: non-finite values or spreads not positive".into());
        }
        for row in self.transitions.chunks_exact(k) {
            let sum: f32 = row.iter().sum();
            if row.iter().any(|&p| p < 0.0) || (sum - 1.0).abs() > 1e-3 {
                return Err("latent_states: a transition row is not a distribution".into());
            }
        }
        Ok(())
    }
}

/// A walk through [`LatentStates`]: the state follows the transition matrix beat by beat,
/// the position within a state an AR(1) walk with coefficient `rho`.
#[derive(Debug, Clone)]
pub struct StateWalk {
    states: LatentStates,
    rho: f32,
    state: usize,
    within: Vec<f32>,
}

impl StateWalk {
    /// A walk starting in state 0 at its mean.
    pub fn new(states: LatentStates, rho: f32) -> Self {
        let latent = states.means.len() / states.k().max(1);
        StateWalk {
            states,
            rho,
            state: 0,
            within: vec![0.0; latent],
        }
    }

    /// Moves one beat on and writes the next latent (standard coordinates) into `z`.
    pub fn step(&mut self, rng: &mut ChaCha8Rng, z: &mut [f32]) {
        let k = self.states.k();
        let row = &self.states.transitions[self.state * k..(self.state + 1) * k];
        self.state = super::transformer_gen::pick(row, rng.random());
        let s = (1.0 - self.rho * self.rho).sqrt();
        for w in self.within.iter_mut() {
            let e: f32 = StandardNormal.sample(rng);
            *w = self.rho * *w + s * e;
        }
        let l = self.within.len();
        let (m, sp) = (
            &self.states.means[self.state * l..(self.state + 1) * l],
            &self.states.spreads[self.state * l..(self.state + 1) * l],
        );
        for (((z, m), sp), w) in z.iter_mut().zip(m).zip(sp).zip(&self.within) {
            *z = m + sp * w;
        }
    }
}

/// Drops the centres of clusters under `min_rows` rows (their rows go to the nearest other),
/// always keeping the largest.
fn merge_small(label: &[usize], centres: &[Vec<f32>], min_rows: usize) -> Vec<Vec<f32>> {
    let mut count = vec![0usize; centres.len()];
    for &l in label {
        count[l] += 1;
    }
    let largest = (0..centres.len()).max_by_key(|&c| count[c]).unwrap_or(0);
    centres
        .iter()
        .enumerate()
        .filter(|&(c, _)| c == largest || count[c] >= min_rows)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Per-state means and spreads (std per dimension, at least `MIN_SPREAD`), flattened.
fn moments(rows: &[&[f32]], label: &[usize], k: usize, latent: usize) -> (Vec<f32>, Vec<f32>) {
    let means: Vec<f32> = update(rows, label, k).concat();
    let mut var = vec![0f64; k * latent];
    let mut count = vec![0usize; k];
    for (r, &l) in rows.iter().zip(label) {
        count[l] += 1;
        for (i, &v) in r.iter().enumerate() {
            var[l * latent + i] += f64::from(v - means[l * latent + i]).powi(2);
        }
    }
    let spreads = var
        .iter()
        .enumerate()
        .map(|(i, v)| ((v / count[i / latent].max(1) as f64).sqrt() as f32).max(MIN_SPREAD))
        .collect();
    (means, spreads)
}

/// Transition probabilities between the states of consecutive beats of each run,
/// smoothed by `SMOOTHING`.
fn transitions(seqs: &[Vec<f32>], latent: usize, centres: &[Vec<f32>], k: usize) -> Vec<f32> {
    let mut counts = vec![SMOOTHING; k * k];
    for s in seqs {
        let rows: Vec<&[f32]> = s.chunks_exact(latent).collect();
        let label = assign(&rows, centres);
        for p in label.windows(2) {
            counts[p[0] * k + p[1]] += 1.0;
        }
    }
    counts
        .chunks_exact(k)
        .flat_map(|row| {
            let sum: f64 = row.iter().sum();
            row.iter().map(move |c| (c / sum) as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Runs of beats alternating between two well separated types in the pattern A A B:
    /// the fit finds both types and the rhythm, and the walk reproduces both.
    #[test]
    fn two_beat_types_and_their_rhythm_are_recovered_and_replayed() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let latent = 4;
        let centre = |t: usize| {
            if t == 0 {
                [2.0f32, 0.0, 0.0, 1.0]
            } else {
                [-2.0, 1.0, 0.0, -1.0]
            }
        };
        let seqs: Vec<Vec<f32>> = (0..4)
            .map(|_| {
                (0..300)
                    .flat_map(|i| {
                        let c = centre(usize::from(i % 3 == 2));
                        c.map(|v| {
                            let e: f32 = StandardNormal.sample(&mut rng);
                            v + 0.2 * e
                        })
                    })
                    .collect()
            })
            .collect();
        let st = LatentStates::fit(&seqs, latent, 2, 1, 1).unwrap();
        st.check(latent).unwrap();
        assert_eq!(st.k(), 2);
        let a = (0..2).find(|&s| st.means[s * latent] > 0.0).unwrap();
        let b = 1 - a;
        assert!(
            (st.means[a * latent] - 2.0).abs() < 0.05 && (st.means[b * latent] + 2.0).abs() < 0.05
        );
        assert!(
            st.spreads.iter().all(|&s| (s - 0.2).abs() < 0.03),
            "{:?}",
            st.spreads
        );
        // A → B half the time, B → A always (A A B A A B ...).
        let t = |i: usize, j: usize| st.transitions[i * 2 + j];
        assert!(
            (t(a, b) - 0.5).abs() < 0.02 && t(b, a) > 0.98,
            "{:?}",
            st.transitions
        );
        // The walk visits B a third of the time and never twice in a row (almost).
        let mut walk = StateWalk::new(st.clone(), 0.9);
        let mut z = vec![0f32; latent];
        let (mut bs, mut bb, mut prev_b) = (0, 0, false);
        for _ in 0..3000 {
            walk.step(&mut rng, &mut z);
            let is_b = z[0] < 0.0;
            bs += usize::from(is_b);
            bb += usize::from(is_b && prev_b);
            prev_b = is_b;
        }
        assert!((900..1100).contains(&bs), "{bs} B beats of 3000");
        assert!(bb < 20, "{bb} B B pairs");
    }

    #[test]
    fn small_clusters_are_merged_and_bad_configs_refused() {
        // 50 beats at one point, 3 far away: no state of 3 beats.
        let mut seq: Vec<f32> = (0..50).flat_map(|i| [i as f32 * 0.01, 0.0]).collect();
        seq.extend([10.0, 10.0, 10.1, 10.0, 10.0, 10.1]);
        let st = LatentStates::fit(&[seq.clone()], 2, 2, 3, 1).unwrap();
        st.check(2).unwrap();
        assert_eq!(st.k(), 1, "{st:?}");
        // Counted as beats: 60 beats of which 12 far away form a state; in four copies of
        // the same 15 beats, the 3 far ones do not.
        let mut twelve: Vec<f32> = (0..48).flat_map(|i| [i as f32 * 0.01, 0.0]).collect();
        twelve.extend((0..12).flat_map(|i| [10.0 + i as f32 * 0.01, 10.0]));
        assert_eq!(LatentStates::fit(&[twelve], 2, 2, 3, 1).unwrap().k(), 2);
        let copies = vec![seq[..30].to_vec(); 4];
        let mut far = copies.clone();
        for c in far.iter_mut() {
            c.extend([10.0, 10.0, 10.1, 10.0, 10.0, 10.1]);
        }
        assert_eq!(LatentStates::fit(&far, 2, 2, 3, 4).unwrap().k(), 1);
        assert!(st.spreads.iter().all(|&s| s >= MIN_SPREAD));
        assert!(LatentStates::fit(&[vec![0.0; 6]], 2, 2, 0, 1).is_none());
        let mut bad = st.clone();
        bad.transitions[0] = 2.0;
        assert!(bad.check(2).is_err());
        assert!(st.check(3).is_err());
        let mut nan = st.clone();
        nan.means[0] = f32::NAN;
        assert!(nan.check(2).is_err());
    }
}
