//! Calibrations kept on disk between processes, so that a checkpoint calibrated once starts
//! at once the next time (`ecg-transformer` measures 1200 s of its own draws at load, 10 s
//! on 2 cores, before its first sample; `stream` restarts, shards of a bulk job and every
//! `generate` call paid it again).
//!
//! A file holds what the loader would measure: the same values, bit for bit, so a stream is
//! the same with or without it. Its name is a digest of the [`GainKey`] (checkpoint, its
//! weights' size and time, config, walk) and of the running executable's size and time,
//! so a retrained checkpoint or a rebuilt biowave never reads another's calibration.
//! Written to a temporary file and renamed (a killed process leaves no half file); read
//! back only when it names its own digest and every value fits the checkpoint. The
//! directory is `$BIOWAVE_CACHE`, else the platform's cache directory (`dirs::cache_dir`,
//! e.g. `~/.cache`) + `biowave/calibration`; `BIOWAVE_CACHE=off` (or empty) keeps nothing.

use super::gain_cache::{Calibration, GainKey};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bumped when what a calibration holds, or how it is measured, changes.
const FORMAT: u32 = 2;
/// Files kept at most; past it the oldest go.
const MAX_FILES: usize = 64;
/// Largest file read (19 channels of 1025-tap kernels are about 0.4 MB).
const MAX_BYTES: u64 = 16 << 20;
/// Longest equaliser kernel accepted from a file.
const MAX_TAPS: usize = (1 << 16) + 1;

#[derive(Serialize, Deserialize)]
struct Stored {
    key: String,
    calibration: Calibration,
}

/// The directory calibrations are kept in, or `None` where they are not kept (nor in the
/// library's own unit tests, which keep theirs in directories they name).
pub fn dir() -> Option<PathBuf> {
    if cfg!(test) {
        return None;
    }
    match std::env::var_os("BIOWAVE_CACHE") {
        Some(v) if v.is_empty() || v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => dirs::cache_dir().map(|d| d.join("biowave").join("calibration")),
    }
}

/// The calibration kept for `key`, if a file for it is there and fits.
pub fn load(key: &GainKey) -> Option<Calibration> {
    load_from(&dir()?, key)
}

/// Keeps `c` for `key` (best effort: a directory that cannot be written keeps nothing).
pub fn save(key: &GainKey, c: &Calibration) {
    if let Some(dir) = dir() {
        save_in(&dir, key, c);
    }
}

/// [`load`] from `dir`.
fn load_from(dir: &Path, key: &GainKey) -> Option<Calibration> {
    let digest = digest(key)?;
    let path = dir.join(format!("{digest}.json"));
    let mut text = String::new();
    std::fs::File::open(&path)
        .ok()?
        .take(MAX_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    match serde_json::from_str::<Stored>(&text) {
        Ok(s) if s.key == digest && fits(&s.calibration, key) => {
            tracing::debug!("calibration read from {}", path.display());
            Some(s.calibration)
        }
        _ => {
            tracing::warn!(
                "{}: not a calibration of this checkpoint; measuring again",
                path.display()
            );
            None
        }
    }
}

/// [`save`] in `dir`.
fn save_in(dir: &Path, key: &GainKey, c: &Calibration) {
    let Some(digest) = digest(key) else {
        return;
    };
    let stored = Stored {
        key: digest.clone(),
        calibration: c.clone(),
    };
    let path = dir.join(format!("{digest}.json"));
    // One temporary name per process and write: threads of one process may keep the same
    // calibration at once.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{digest}.{}.{n}.tmp", std::process::id()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&tmp, serde_json::to_vec(&stored)?))
        .and_then(|_| std::fs::rename(&tmp, &path));
    match written {
        Ok(()) => {
            tracing::debug!("calibration kept in {}", path.display());
            prune(dir);
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            tracing::debug!("calibration not kept in {}: {e}", dir.display());
        }
    }
}

/// The file name of `key`'s calibration for this executable.
fn digest(key: &GainKey) -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(exe).ok()?;
    let build = (meta.len(), meta.modified().ok()?);
    let text = format!("{FORMAT}\n{build:?}\n{key:?}");
    Some(super::checkpoint::sha256_hex(text.as_bytes()))
}

/// Whether `c` could be the calibration of `key`'s checkpoint: finite values, a gain per
/// complex bin or none, a kernel per channel (one odd length) or none, quantiles of its
/// shape's levels per channel or none, its beat corrections or none.
fn fits(c: &Calibration, key: &GainKey) -> bool {
    let (channels, bins, levels, beats) = key.dims();
    let taps = c.eq.first().map_or(1, Vec::len);
    let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
    (c.gain.is_empty() || c.gain.len() == channels * bins)
        && finite(&c.gain)
        && (c.eq.is_empty() || c.eq.len() == channels)
        && taps % 2 == 1
        && taps <= MAX_TAPS
        && c.eq.iter().all(|k| k.len() == taps && finite(k))
        && c.envelope_sd.is_none_or(|s| s.is_finite() && s >= 0.0)
        && (c.beat_means.is_empty() || c.beat_means.len() == beats)
        && finite(&c.beat_means)
        && (c.shape.is_empty()
            || (c.shape.len() == channels
                && c.shape
                    .iter()
                    .all(|q| super::shape::is_quantiles(q, levels))))
}

/// Removes the oldest files past [`MAX_FILES`] (and temporary files an hour old).
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            Some((e.metadata().ok()?.modified().ok()?, e.path()))
        })
        .collect();
    let stale = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    files.retain(|(t, p)| {
        let tmp = p.extension().is_some_and(|x| x == "tmp");
        if tmp && *t < stale {
            let _ = std::fs::remove_file(p);
        }
        !tmp && p.extension().is_some_and(|x| x == "json")
    });
    files.sort();
    let excess = files.len().saturating_sub(MAX_FILES);
    for (_, p) in files.into_iter().take(excess) {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::checkpoint::CheckpointConfig;

    fn key_and_calibration() -> (GainKey, CheckpointConfig, Calibration) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ecg-vae");
        let cfg = crate::model::checkpoint::load_config(&dir).unwrap();
        let key = GainKey::new(&dir, &dir.join("model.safetensors"), &cfg);
        let (channels, bins, _, _) = key.dims();
        let c = Calibration {
            gain: (0..channels * bins).map(|i| 1.0 + i as f32 / 7.0).collect(),
            eq: vec![vec![0.1, 0.8, 0.1]; channels],
            envelope_sd: Some(0.043_136_457_540_370_63),
            shape: Vec::new(),
            beat_means: Vec::new(),
        };
        (key, cfg, c)
    }

    #[test]
    fn a_kept_calibration_reads_back_exactly_and_only_for_its_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let (key, mut cfg, c) = key_and_calibration();
        assert_eq!(load_from(tmp.path(), &key), None);
        save_in(tmp.path(), &key, &c);
        assert_eq!(load_from(tmp.path(), &key), Some(c));
        let files: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "one file, no temporary left");
        cfg.seed += 1;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ecg-vae");
        let other = GainKey::new(&dir, &dir.join("model.safetensors"), &cfg);
        assert_eq!(load_from(tmp.path(), &other), None, "another config");
        assert_eq!(
            load_from(tmp.path(), &key.with_walk("x")),
            None,
            "another walk"
        );
    }

    #[test]
    fn a_damaged_or_foreign_file_is_measured_again_not_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        let (key, _, c) = key_and_calibration();
        let path = tmp.path().join(format!("{}.json", digest(&key).unwrap()));
        let with =
            |stored: &Stored| std::fs::write(&path, serde_json::to_vec(stored).unwrap()).unwrap();
        let stored = |calibration: Calibration| Stored {
            key: digest(&key).unwrap(),
            calibration,
        };
        // Cut short, as a full disk might leave it.
        save_in(tmp.path(), &key, &c);
        let text = std::fs::read(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        assert_eq!(load_from(tmp.path(), &key), None);
        // Another key's file under this name; gains of the wrong shape; an even kernel;
        // kernels of two lengths; a value that is not finite.
        with(&Stored {
            key: "0".repeat(64),
            calibration: c.clone(),
        });
        assert_eq!(load_from(tmp.path(), &key), None);
        let mut bad = c.clone();
        bad.gain.pop();
        with(&stored(bad));
        assert_eq!(load_from(tmp.path(), &key), None);
        let mut bad = c.clone();
        bad.eq = vec![vec![0.5, 0.5]; c.eq.len()];
        with(&stored(bad));
        assert_eq!(load_from(tmp.path(), &key), None);
        let mut bad = c.clone();
        bad.eq.push(vec![1.0]);
        with(&stored(bad));
        assert_eq!(load_from(tmp.path(), &key), None);
        let mut bad = c.clone();
        bad.envelope_sd = Some(-1.0);
        with(&stored(bad));
        assert_eq!(load_from(tmp.path(), &key), None);
        let mut bad = c.clone();
        bad.shape = vec![vec![-1.0, 0.0, 1.0]];
        with(&stored(bad));
        assert_eq!(
            load_from(tmp.path(), &key),
            None,
            "a shape this checkpoint has not"
        );
        // Rewritten whole, it reads again.
        save_in(tmp.path(), &key, &c);
        assert_eq!(load_from(tmp.path(), &key), Some(c));
    }

    #[test]
    fn threads_keeping_one_calibration_at_once_leave_one_whole_file() {
        let tmp = tempfile::tempdir().unwrap();
        let (key, _, c) = key_and_calibration();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| save_in(tmp.path(), &key, &c));
            }
        });
        assert_eq!(load_from(tmp.path(), &key), Some(c));
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_directory_keeps_the_newest_files_only() {
        let tmp = tempfile::tempdir().unwrap();
        for i in 0..MAX_FILES + 3 {
            std::fs::write(tmp.path().join(format!("{i:03}.json")), "{}").unwrap();
        }
        std::fs::write(tmp.path().join(".x.1.tmp"), "").unwrap();
        prune(tmp.path());
        let n = std::fs::read_dir(tmp.path()).unwrap().count();
        assert_eq!(n, MAX_FILES + 1, "the young temporary file stays");
    }
}
