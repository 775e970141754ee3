//! What `--resume` needs besides the weights to continue a run as if it had never stopped:
//! the optimiser's moments and step count, the noise generator's position and the
//! early-stopping counters. Saved beside the checkpoint at every save of an unfinished run
//! (`optimizer.safetensors`, `optimizer.json`) and removed once the run completes, so a
//! finished model directory holds its config and weights only.

use super::adamw::AdamW;
use super::train::to_err;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

const MOMENTS: &str = "optimizer.safetensors";
const STATE: &str = "optimizer.json";

/// The loop's own counters at a checkpoint.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunState {
    /// The step these belong to (the checkpoint's `step`; a mismatch means the files were
    /// not written together, and they are not used).
    pub step: u64,
    /// The optimiser's step count (its bias correction).
    pub adam_steps: i32,
    /// Position of the training-noise generator, in 32-bit words (a decimal string: JSON
    /// numbers cannot hold a u128).
    pub noise_word_pos: String,
    /// Best validation score so far (none yet: no epoch finished).
    pub best: Option<f64>,
    /// Epochs since it last improved.
    pub stale: usize,
}

impl RunState {
    /// The noise generator's position, if the saved string is a whole number.
    pub fn noise_position(&self) -> Option<u128> {
        self.noise_word_pos.parse().ok()
    }
}

/// Writes the optimiser's moments (named after the parameters, `names` in the order the
/// optimiser was given them) and `run` into `out`, each file atomically.
pub fn save(out: &Path, names: &[String], opt: &AdamW, run: &RunState) -> Result<()> {
    let Some(moments) = opt.moments() else {
        return Ok(());
    };
    let mut tensors = HashMap::new();
    for (name, (m, v)) in names.iter().zip(moments) {
        tensors.insert(format!("m.{name}"), m);
        tensors.insert(format!("v.{name}"), v);
    }
    let tmp = out.join(format!("{MOMENTS}.tmp"));
    candle_core::safetensors::save(&tensors, &tmp).map_err(to_err)?;
    rename(&tmp, &out.join(MOMENTS))?;
    let json = serde_json::to_vec_pretty(run).map_err(|e| Error::BadInput(e.to_string()))?;
    let tmp = out.join(format!("{STATE}.tmp"));
    std::fs::write(&tmp, json).map_err(|e| Error::bad_path(&tmp, e))?;
    rename(&tmp, &out.join(STATE))
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::os(format!("writing {}", to.display()), e))
}

/// Restores the optimiser from `out` if it holds state for checkpoint step `step`, and
/// returns the loop's counters; `None` (moments start afresh) when there is none for that
/// step. Files that are there but unreadable or of another shape are errors naming them.
pub fn load(out: &Path, names: &[String], opt: &mut AdamW, step: u64) -> Result<Option<RunState>> {
    let state_file = out.join(STATE);
    let Ok(text) = std::fs::read(&state_file) else {
        return Ok(None);
    };
    let run: RunState =
        serde_json::from_slice(&text).map_err(|e| Error::bad_path(&state_file, e))?;
    if run.step != step {
        return Ok(None);
    }
    if run.noise_position().is_none() {
        let e = format!(
            "noise_word_pos `{}` is not a whole number",
            run.noise_word_pos
        );
        return Err(Error::bad_path(&state_file, e));
    }
    let file = out.join(MOMENTS);
    let bad = |e: String| Error::bad_path(&file, e);
    let mut saved =
        candle_core::safetensors::load(&file, &Device::Cpu).map_err(|e| bad(e.to_string()))?;
    let mut take = |key: String| {
        saved
            .remove(&key)
            .ok_or_else(|| bad(format!("no tensor `{key}`")))
    };
    let moments = names
        .iter()
        .map(|n| Ok((take(format!("m.{n}"))?, take(format!("v.{n}"))?)))
        .collect::<Result<Vec<(Tensor, Tensor)>>>()?;
    opt.restore(run.adam_steps, &moments)
        .map_err(|e| bad(e.to_string()))?;
    Ok(Some(run))
}

/// Removes the resume state of a run that has completed (absent files are fine).
pub fn remove(out: &Path) {
    for f in [MOMENTS, STATE] {
        let _ = std::fs::remove_file(out.join(f));
    }
}
