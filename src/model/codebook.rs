//! A frame transformer's codebook: k-means centres of the training frames (measured in the
//! frames' own units, `fit_in_units`), among which the transformer's head chooses the next
//! frame (a categorical), plus the spread of the training frames around their centres,
//! drawn as Gaussian detail on the chosen centre.
//!
//! Why: a Gaussian per re/im value (or a few learned mixture means) cannot commit to a QRS
//! complex, whose bins share one linear phase; its draws average beat and no-beat and put
//! the QRS nowhere (the Gaussian-headed `ecg-transformer` shipped until 2026-12-05: AUC ~1.0,
//! 145 bpm against the record's 100). A choice among whole training frames commits: a frame holds the QRS at
//! one place or not at all, and the transformer learns which frame follows which. The
//! centres are fitted, not trained: they are stored with the weights (`codebook.centres`,
//! `codebook.spread`) and the optimiser leaves them alone.

use crate::data::Dataset;
use crate::{Error, Result};
use candle_core::Tensor;
use candle_nn::VarMap;

/// Most codes a checkpoint may hold (the config is untrusted input).
pub const MAX_CODEBOOK: usize = 4096;
/// Share of the training frames' spread around their centres that the draws add back (the
/// training likelihood uses all of it). All of it is partly QRS detail in the wrong place,
/// none leaves the output smoother than the record: in a Python check on MIT-BIH 208 (a
/// Markov chain over 1024 codes of 64/16 frames, `models/README.md`) AUC against the record
/// 0.861 with none, 0.842 with 0.7.
pub const RESIDUAL_SHARE: f32 = 0.7;
/// Most Lloyd iterations (fewer once the centres stop moving): a bound on the cost, each
/// one pass of every training frame against every centre.
const ITERATIONS: usize = 30;
/// Least spread per value, in normalised units.
const MIN_SPREAD: f32 = 1e-3;
/// Names of the fitted tensors among the model's weights.
pub const CENTRES: &str = "codebook.centres";
/// See [`CENTRES`].
pub const SPREAD: &str = "codebook.spread";

/// Centres (`k × n_features`, row-major) and the training frames' spread around them per
/// value (`n_features`), normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Codebook {
    /// The centres, row-major.
    pub centres: Vec<f32>,
    /// Standard deviation of the training frames around their nearest centre, per value.
    pub spread: Vec<f32>,
    /// For a beat-clocked model, the codes of the training frames in each place of the
    /// cardiac cycle (`beat_clock::place`), ascending: what the sampler may draw there (see
    /// [`MIN_CLOCK_COUNT`]); empty without a clock.
    pub by_clock: Vec<Vec<u16>>,
}

/// Fewest training frames of a code in one place of the cycle for the sampler to draw it
/// there: one lone frame is as likely the detector's slip (a missed beat, an R peak placed
/// on the T wave) as the record's.
pub const MIN_CLOCK_COUNT: usize = 2;

impl Codebook {
    /// Fits up to `k` centres to every frame of `data`'s training records (seeded k-means);
    /// refuses data with fewer frames than `k`.
    pub fn fit(data: &Dataset, k: usize, seed: u64) -> Result<Codebook> {
        let rows: Vec<&[f32]> = data
            .train
            .iter()
            .flat_map(|p| (0..p.rep.n_frames).map(|t| p.rep.frame(t)))
            .collect();
        if k == 0 || k > MAX_CODEBOOK || rows.len() < k {
            return Err(Error::BadInput(format!(
                "--codebook {k}: must be 1..={MAX_CODEBOOK} and at most the {} training frames",
                rows.len()
            )));
        }
        // One pass is rows × k distances: say what the wait before training is.
        tracing::info!(
            "fitting {k} codebook centres to {} training frames",
            rows.len()
        );
        let (centres, label) = fit_in_units(&rows, &data.stats.std, k, seed);
        let f = data.n_features();
        let mut var = vec![0f64; f];
        for (r, &l) in rows.iter().zip(&label) {
            let c = &centres[l];
            for ((v, x), m) in var.iter_mut().zip(r.iter()).zip(c) {
                *v += f64::from(x - m).powi(2);
            }
        }
        let n = rows.len() as f64;
        let spread = var
            .iter()
            .map(|v| ((v / n).sqrt() as f32).max(MIN_SPREAD))
            .collect();
        Ok(Codebook {
            by_clock: by_clock(data, &label, centres.len()),
            centres: centres.concat(),
            spread,
        })
    }

    /// Codes held.
    pub fn k(&self) -> usize {
        self.centres.len() / self.spread.len().max(1)
    }

    /// Writes the centres and spread into the model's fitted tensors in `varmap`.
    pub fn store(&self, varmap: &VarMap) -> Result<()> {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| Error::BadInput("model: weights locked".into()))?;
        let f = self.spread.len();
        for (name, values, shape) in [
            (CENTRES, &self.centres, vec![self.k(), f]),
            (SPREAD, &self.spread, vec![f]),
        ] {
            let var = data
                .get(name)
                .ok_or_else(|| Error::BadInput(format!("model: no `{name}` to fit")))?;
            let t = Tensor::from_vec(values.clone(), shape, var.device())
                .map_err(super::train::to_err)?;
            var.set(&t).map_err(super::train::to_err)?;
        }
        Ok(())
    }
}

/// k-means of the normalised `rows` measured in the frames' own units (each value times
/// its training std `scale`), centres returned normalised, with each row's code.
///
/// Why: z-scored, the many quiet bins above the QRS (noise, in MIT-BIH 208 60 of 66
/// values) weigh as much as the few that carry the waveform, so the codes split the noise
/// and average the slow waves away. MIT-BIH 208, each frame replaced by its nearest of 1024
/// codes: normal T waves 0.08 mV against the record's 0.23, 19 % of beats a blend of normal
/// and ventricular; in the frames' units 0.22 mV and 7 %, as the record (`models/README.md`).
fn fit_in_units(
    rows: &[&[f32]],
    scale: &[f32],
    k: usize,
    seed: u64,
) -> (Vec<Vec<f32>>, Vec<usize>) {
    let scaled: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| r.iter().zip(scale).map(|(x, s)| x * s).collect())
        .collect();
    let views: Vec<&[f32]> = scaled.iter().map(Vec::as_slice).collect();
    let (mut centres, label) = super::kmeans::fit(&views, k, seed, ITERATIONS);
    for c in &mut centres {
        c.iter_mut().zip(scale).for_each(|(v, s)| *v /= s);
    }
    (centres, label)
}

/// The codes `label` gives the training frames (in `Codebook::fit`'s order), gathered by
/// the place of each frame in the cardiac cycle (`beat_clock::place`: its slot within its
/// beat's kind) from the records' beat clocks (a frame's clock is its predecessor's
/// `cond`); codes seen fewer than [`MIN_CLOCK_COUNT`] times in a place are left out, and a
/// place left with none takes its slot's codes over every kind. Empty when the records
/// carry no clock.
fn by_clock(data: &Dataset, label: &[usize], k: usize) -> Vec<Vec<u16>> {
    use crate::dsp::beat_clock::{place, places, SLOTS};
    if data.train.iter().all(|p| p.cond.is_empty()) {
        return Vec::new();
    }
    let kinds = data.config.clock_kinds;
    let mut count = vec![vec![0usize; k]; places(kinds)];
    let mut labels = label.iter();
    for p in &data.train {
        let chunks = p.cond.chunks_exact(data.n_cond());
        let mut clocks = std::iter::once(None).chain(chunks.map(Some));
        for (&code, clock) in labels.by_ref().take(p.rep.n_frames).zip(&mut clocks) {
            if let Some(c) = clock {
                count[place(c, kinds)][code] += 1;
            }
        }
    }
    let kept = |n: &[usize]| -> Vec<u16> {
        (0..k)
            .filter(|&c| n[c] >= MIN_CLOCK_COUNT)
            .map(|c| c as u16)
            .collect()
    };
    let mut lists: Vec<Vec<u16>> = count.iter().map(|n| kept(n)).collect();
    // A slot a rarer kind of beat never filled in training (a premature beat's long wait)
    // draws among that slot's codes in every kind, not among all codes.
    for slot in 0..SLOTS {
        let of_slot = (0..kinds.max(1)).map(|kind| slot + SLOTS * kind);
        if of_slot.clone().any(|p| lists[p].is_empty()) {
            let mut all = vec![0usize; k];
            for p in of_slot.clone() {
                all.iter_mut().zip(&count[p]).for_each(|(a, n)| *a += n);
            }
            let union = kept(&all);
            for p in of_slot {
                if lists[p].is_empty() {
                    lists[p].clone_from(&union);
                }
            }
        }
    }
    lists
}

/// Whether a weight's name is one of a codebook's fitted tensors (not trained, not seeded).
pub fn is_fitted(name: &str) -> bool {
    name.starts_with("codebook.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_fitted_in_the_frames_own_units() {
        // Value 0 is loud (std 10) with two clusters at -1 and 1; value 1 is quiet (std
        // 0.1) noise at ±2 normalised. Z-scored, two codes split the noise; in the values'
        // units they split the clusters, and come back normalised.
        let rows: Vec<[f32; 2]> = (0..40)
            .map(|i| {
                [
                    if i % 2 == 0 { -1.0 } else { 1.0 },
                    if i % 4 < 2 { -2.0 } else { 2.0 },
                ]
            })
            .collect();
        let views: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        let (centres, label) = fit_in_units(&views, &[10.0, 0.1], 2, 1);
        let mut firsts: Vec<f32> = centres.iter().map(|c| c[0]).collect();
        firsts.sort_by(f32::total_cmp);
        assert_eq!(firsts, vec![-1.0, 1.0]);
        assert!(centres.iter().all(|c| c[1].abs() < 1e-6));
        assert!(label.iter().zip(&rows).all(|(&l, r)| centres[l][0] == r[0]));
    }
}
