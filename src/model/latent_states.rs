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
//!
//! Two refinements keep a premature beat a premature beat (models/README, "Kinds of beat in
//! the states"). Where `train --beat-means` tells the training beats' kinds by QRS shape,
//! the states are fitted kind by kind, so no state holds both normal and ventricular beats.
//! And the walk moves the latent dimensions together as the training beats' deviations from
//! their state's mean do (their pooled correlation, as a Cholesky factor): drawn one by one,
//! the dimensions left the beats' manifold and decoded normal states to blends that the
//! output's beat kinds called ventricular, several in a row.

use super::kmeans::{assign, seed_centres, sq_dist, update};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// The kind of beat (`model::beat_mean`'s, by QRS shape) whose beats each state was
    /// fitted to, where the states were fitted kind by kind; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<u8>,
    /// Lower Cholesky factor (`latent × latent`, row-major) of the correlation of the
    /// training beats' deviations from their state's mean in units of its spread, pooled
    /// over the states: how the dimensions move together within a state. Empty: each
    /// dimension drawn on its own (checkpoints before it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coupling: Vec<f32>,
}

/// A beat VAE's training latents, as [`LatentStates::fit`] takes them.
#[derive(Debug, Clone, Copy)]
pub struct BeatLatents<'a> {
    /// Time-ordered runs of beats, `latent` values per beat.
    pub seqs: &'a [Vec<f32>],
    /// Per run, each beat's kind (`None` where it could not be told); empty where the
    /// beats have no kinds.
    pub kinds: &'a [Vec<Option<u8>>],
    /// Values per beat.
    pub latent: usize,
    /// Time-shifted copies of every beat among the runs (the jittered training windows).
    pub views: usize,
}

impl LatentStates {
    /// Fits up to `k` states to `beats`; `None` with fewer than `MIN_MEMBERS` beats or
    /// `k == 0`. A state's size counts beats, not copies. Where the beats have kinds, each
    /// kind of at least `MIN_MEMBERS` beats gets its own states (their number in proportion
    /// to its beats, at least one), so that no state mixes kinds: a state holding normal and
    /// ventricular beats, followed by itself, let the slow walk within it play run after
    /// run of ventricular beats (models/README, "Kinds of beat in the states").
    pub fn fit(beats: &BeatLatents, k: usize, seed: u64) -> Option<LatentStates> {
        let latent = beats.latent;
        let min_rows = MIN_MEMBERS * beats.views.max(1);
        if latent == 0 || k == 0 {
            return None;
        }
        let rows: Vec<&[f32]> = (beats.seqs.iter())
            .flat_map(|s| s.chunks_exact(latent))
            .collect();
        if rows.len() < min_rows {
            return None;
        }
        let kinds = row_kinds(beats, rows.len());
        let k = k.min(MAX_STATES).min(rows.len() / min_rows).max(1);
        let mut centres = Vec::new();
        let mut centre_kinds = Vec::new();
        for (kind, members) in kind_groups(&kinds, min_rows) {
            let sub: Vec<&[f32]> = members.iter().map(|&i| rows[i]).collect();
            let share = (k * sub.len()) as f64 / rows.len() as f64;
            let own = (share.round() as usize).min(sub.len() / min_rows).max(1);
            let found = cluster(&sub, own, seed, min_rows);
            centre_kinds.extend(std::iter::repeat_n(kind, found.len()));
            centres.extend(found);
        }
        // Each kind's at least one state may take the sum past the most a config may hold.
        centres.truncate(MAX_STATES);
        centre_kinds.truncate(MAX_STATES);
        let label = label_rows(&rows, &kinds, &centres, &centre_kinds);
        let k = centres.len();
        let (means, spreads) = moments(&rows, &label, k, latent);
        let transitions = transitions(beats.seqs, latent, &label, k);
        let coupling = coupling(&rows, &label, (&means, &spreads), latent);
        let told = centre_kinds.iter().flatten().count() == k && k > 0;
        let several = centre_kinds.windows(2).any(|w| w[0] != w[1]);
        Some(LatentStates {
            means,
            spreads,
            transitions,
            kinds: match told && several {
                true => centre_kinds.into_iter().flatten().collect(),
                false => Vec::new(),
            },
            coupling,
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
        if !self.kinds.is_empty() && self.kinds.len() != k {
            return Err(format!(
                "latent_states: {} kinds for {k} states",
                self.kinds.len()
            ));
        }
        if !self.coupling.is_empty() && self.coupling.len() != latent * latent {
            return Err(format!(
                "latent_states: coupling has {} values for latent {latent} (latent × latent)",
                self.coupling.len()
            ));
        }
        let mut all = (self.means.iter())
            .chain(&self.spreads)
            .chain(&self.transitions)
            .chain(&self.coupling);
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
    /// `within` through the states' coupling (scratch).
    coupled: Vec<f32>,
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
            coupled: vec![0.0; latent],
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
        self.coupled.copy_from_slice(&self.within);
        if self.states.coupling.len() == l * l {
            for (i, c) in self.coupled.iter_mut().enumerate() {
                let row = &self.states.coupling[i * l..i * l + i + 1];
                *c = row.iter().zip(&self.within).map(|(a, w)| a * w).sum();
            }
        }
        let (m, sp) = (
            &self.states.means[self.state * l..(self.state + 1) * l],
            &self.states.spreads[self.state * l..(self.state + 1) * l],
        );
        for (((z, m), sp), w) in z.iter_mut().zip(m).zip(sp).zip(&self.coupled) {
            *z = m + sp * w;
        }
    }
}

/// k-means of `rows` into up to `k` clusters of at least `min_rows` rows each (smaller ones
/// merged into their neighbours); their centres.
fn cluster(rows: &[&[f32]], k: usize, seed: u64, min_rows: usize) -> Vec<Vec<f32>> {
    let mut centres = seed_centres(rows, k, seed);
    for _ in 0..ITERATIONS {
        let label = assign(rows, &centres);
        let kept = merge_small(&label, &centres, min_rows);
        let next = if kept.len() < centres.len() {
            kept
        } else {
            update(rows, &label, centres.len())
        };
        if next == centres {
            break;
        }
        centres = next;
    }
    // Once more, in case the last update left a cluster small (rows only move to the
    // clusters kept, so every state then has at least `min_rows`).
    merge_small(&assign(rows, &centres), &centres, min_rows)
}

/// Each row's kind: `beats.kinds` flattened where it has one per row, else `Some(0)` for
/// all (one kind).
fn row_kinds(beats: &BeatLatents, rows: usize) -> Vec<Option<u8>> {
    let given: Vec<Option<u8>> = beats.kinds.concat();
    let per_run =
        (beats.seqs.iter().zip(beats.kinds)).all(|(s, k)| s.len() / beats.latent.max(1) == k.len());
    match given.len() == rows && per_run && beats.kinds.len() == beats.seqs.len() {
        true => given,
        false => vec![Some(0); rows],
    }
}

/// The kinds with at least `min_rows` rows, with their rows' indices, in order of kind; all
/// rows as one kind-less group where no kind has that many.
fn kind_groups(kinds: &[Option<u8>], min_rows: usize) -> Vec<(Option<u8>, Vec<usize>)> {
    let mut by_kind: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
    for (i, kind) in kinds.iter().enumerate() {
        if let Some(kind) = kind {
            by_kind.entry(*kind).or_default().push(i);
        }
    }
    let mut groups: Vec<(Option<u8>, Vec<usize>)> = (by_kind.into_iter())
        .filter(|(_, members)| members.len() >= min_rows)
        .map(|(kind, members)| (Some(kind), members))
        .collect();
    if groups.is_empty() {
        groups.push((None, (0..kinds.len()).collect()));
    }
    groups
}

/// Each row's state: the nearest centre of its own kind where its kind has states, else
/// the nearest of all.
fn label_rows(
    rows: &[&[f32]],
    kinds: &[Option<u8>],
    centres: &[Vec<f32>],
    centre_kinds: &[Option<u8>],
) -> Vec<usize> {
    (rows.iter().zip(kinds))
        .map(|(r, kind)| {
            let mine = |c: &usize| kind.is_some() && centre_kinds[*c] == *kind;
            let own = (0..centres.len()).any(|c| mine(&c));
            (0..centres.len())
                .filter(|c| !own || mine(c))
                .min_by(|&a, &b| sq_dist(r, &centres[a]).total_cmp(&sq_dist(r, &centres[b])))
                .unwrap_or(0)
        })
        .collect()
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

/// The pooled correlation of the rows' deviations from their state's mean in units of its
/// spread, as its lower Cholesky factor (`model::cholesky`).
fn coupling(
    rows: &[&[f32]],
    label: &[usize],
    (means, spreads): (&[f32], &[f32]),
    latent: usize,
) -> Vec<f32> {
    let mut c = vec![0f64; latent * latent];
    let mut d = vec![0f64; latent];
    for (r, &s) in rows.iter().zip(label) {
        for (i, v) in r.iter().enumerate() {
            let at = s * latent + i;
            d[i] = f64::from((v - means[at]) / spreads[at]);
        }
        for i in 0..latent {
            for j in 0..=i {
                c[i * latent + j] += d[i] * d[j];
            }
        }
    }
    let var = |i: usize| c[i * latent + i].max(1e-12);
    let l = super::cholesky::cholesky(latent, |i, j| c[i * latent + j] / (var(i) * var(j)).sqrt());
    l.into_iter().map(|v| v as f32).collect()
}

/// Transition probabilities between the states (`label`, all runs' beats in order) of
/// consecutive beats of each run, smoothed by `SMOOTHING`.
fn transitions(seqs: &[Vec<f32>], latent: usize, label: &[usize], k: usize) -> Vec<f32> {
    let mut counts = vec![SMOOTHING; k * k];
    let mut at = 0;
    for s in seqs {
        let n = s.len() / latent;
        for p in label[at..at + n].windows(2) {
            counts[p[0] * k + p[1]] += 1.0;
        }
        at += n;
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

    /// Beats without kinds.
    fn plain(seqs: &[Vec<f32>], latent: usize, views: usize) -> BeatLatents<'_> {
        BeatLatents {
            seqs,
            kinds: &[],
            latent,
            views,
        }
    }

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
        let st = LatentStates::fit(&plain(&seqs, latent, 1), 2, 1).unwrap();
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
        let st = LatentStates::fit(&plain(std::slice::from_ref(&seq), 2, 1), 2, 3).unwrap();
        st.check(2).unwrap();
        assert_eq!(st.k(), 1, "{st:?}");
        // Counted as beats: 60 beats of which 12 far away form a state; in four copies of
        // the same 15 beats, the 3 far ones do not.
        let mut twelve: Vec<f32> = (0..48).flat_map(|i| [i as f32 * 0.01, 0.0]).collect();
        twelve.extend((0..12).flat_map(|i| [10.0 + i as f32 * 0.01, 10.0]));
        assert_eq!(
            LatentStates::fit(&plain(&[twelve], 2, 1), 2, 3)
                .unwrap()
                .k(),
            2
        );
        let copies = vec![seq[..30].to_vec(); 4];
        let mut far = copies.clone();
        for c in far.iter_mut() {
            c.extend([10.0, 10.0, 10.1, 10.0, 10.0, 10.1]);
        }
        assert_eq!(LatentStates::fit(&plain(&far, 2, 4), 2, 3).unwrap().k(), 1);
        assert!(st.spreads.iter().all(|&s| s >= MIN_SPREAD));
        assert!(LatentStates::fit(&plain(&[vec![0.0; 6]], 2, 1), 2, 0).is_none());
        let mut bad = st.clone();
        bad.transitions[0] = 2.0;
        assert!(bad.check(2).is_err());
        assert!(st.check(3).is_err());
        let mut nan = st.clone();
        nan.means[0] = f32::NAN;
        assert!(nan.check(2).is_err());
    }

    /// Two kinds of beat whose latents overlap, in the pattern A A B: fitted kind by kind,
    /// each state holds one kind, and the walk's B states follow one another as rarely as
    /// the record's B beats do (none), where a state mixing both would play runs of them.
    #[test]
    fn states_fitted_kind_by_kind_keep_the_kinds_apart() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let latent = 2;
        let (mut seq, mut kinds) = (Vec::new(), Vec::new());
        for i in 0..900 {
            let b = i % 3 == 2;
            let e: [f32; 2] = [
                StandardNormal.sample(&mut rng),
                StandardNormal.sample(&mut rng),
            ];
            seq.extend([e[0] + if b { 0.8 } else { 0.0 }, e[1]]);
            kinds.push(Some(u8::from(b)));
        }
        kinds[5] = None;
        let (seqs, kinds) = (vec![seq], vec![kinds]);
        let beats = BeatLatents {
            seqs: &seqs,
            kinds: &kinds,
            latent,
            views: 1,
        };
        let st = LatentStates::fit(&beats, 6, 1).unwrap();
        st.check(latent).unwrap();
        // 600 A beats, 300 B: four states of A, two of B.
        assert_eq!(st.kinds, vec![0, 0, 0, 0, 1, 1], "{:?}", st.kinds);
        let k = st.k();
        let b_to_b: f32 = (4..6)
            .map(|i| (4..6).map(|j| st.transitions[i * k + j]).sum::<f32>())
            .sum::<f32>()
            / 2.0;
        assert!(b_to_b < 0.02, "B then B {b_to_b}: {:?}", st.transitions);
        // Kinds of a wrong length are ignored: one kind, no kinds saved.
        let short = vec![vec![Some(0u8); 10]];
        let beats = BeatLatents {
            kinds: &short,
            ..beats
        };
        assert!(LatentStates::fit(&beats, 6, 1).unwrap().kinds.is_empty());
        let mut bad = st.clone();
        bad.kinds.pop();
        assert!(bad.check(latent).is_err());
        // A common kind and seven of ten beats each: 63 states and one apiece would pass
        // the most a config may hold; the fit stops at it.
        let (mut many, mut many_kinds) = (Vec::new(), Vec::new());
        for i in 0..8000u32 {
            many.extend([(i % 97) as f32, (i % 89) as f32 * 0.5]);
            many_kinds.push(Some(if i < 70 { 1 + (i / 10) as u8 } else { 0 }));
        }
        let (seqs, kinds) = (vec![many], vec![many_kinds]);
        let beats = BeatLatents {
            seqs: &seqs,
            kinds: &kinds,
            latent,
            views: 1,
        };
        let st = LatentStates::fit(&beats, MAX_STATES, 1).unwrap();
        st.check(latent).unwrap();
        assert!(st.k() <= MAX_STATES);
    }

    /// Latents whose two dimensions move together within each state (correlation 0.9):
    /// the coupling finds it, and the walk's draws keep it where independent draws per
    /// dimension would leave the beats' manifold (the blends of "Kinds of beat in the
    /// states").
    #[test]
    fn the_walk_keeps_how_dimensions_move_together_within_a_state() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (latent, r) = (2, 0.9f32);
        let seq: Vec<f32> = (0..2000)
            .flat_map(|i| {
                let (a, b): (f32, f32) = (
                    StandardNormal.sample(&mut rng),
                    StandardNormal.sample(&mut rng),
                );
                let at = if i % 2 == 0 { 5.0 } else { -5.0 };
                [at + a, at + 0.5 * (r * a + (1.0 - r * r).sqrt() * b)]
            })
            .collect();
        let st = LatentStates::fit(&plain(&[seq], latent, 1), 2, 1).unwrap();
        st.check(latent).unwrap();
        assert!((st.coupling[2] - r).abs() < 0.03, "{:?}", st.coupling);
        let corr = walk_correlation(&st, &mut rng);
        assert!((corr - r).abs() < 0.05, "walk's correlation {corr}");
        // Without it (a checkpoint from before), each dimension on its own.
        let apart = LatentStates {
            coupling: Vec::new(),
            ..st.clone()
        };
        let corr = walk_correlation(&apart, &mut rng);
        assert!(corr.abs() < 0.1, "independent draws' correlation {corr}");
        let mut bad = st.clone();
        bad.coupling.pop();
        assert!(bad.check(latent).is_err());
    }

    /// The correlation of a two-dimensional walk's deviations from its state's mean (the
    /// state told by the first dimension's sign) over 20 000 steps.
    fn walk_correlation(st: &LatentStates, rng: &mut ChaCha8Rng) -> f32 {
        let (mut walk, mut z) = (StateWalk::new(st.clone(), 0.8), vec![0f32; 2]);
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for _ in 0..20_000 {
            walk.step(rng, &mut z);
            let s = usize::from(z[0] < 0.0);
            xs.push(z[0] - st.means[s * 2]);
            ys.push(z[1] - st.means[s * 2 + 1]);
        }
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        dot(&xs, &ys) / (dot(&xs, &xs) * dot(&ys, &ys)).sqrt()
    }
}
