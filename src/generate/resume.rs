//! `generate --resume`: keep the records an earlier run of the same job wrote whole, so an
//! interrupted or preempted run finishes with exactly the files one uninterrupted run
//! writes (records are seeded by index, so a record made again is the same bytes).

use super::manifest::{Manifest, RecordEntry};
use super::{hash_file, Job};
use crate::events::EventLog;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The fields that say which job a manifest describes; a resumed run must match them all.
const JOB_FIELDS: [&str; 8] = [
    "model",
    "params",
    "seed",
    "duration_s",
    "count",
    "shard",
    "format",
    "version",
];

/// The records of `manifest` (an earlier run of `job`) that are whole and whose files (and
/// events files) still hash as listed, by id. No manifest: none. A manifest of another
/// job (model, parameters, seed, duration, count, shard, format or biowave version): refused.
pub fn kept(job: &Job, manifest: &Path) -> Result<BTreeMap<u64, RecordEntry>> {
    let Some(old) = earlier(job, manifest, "--resume")? else {
        return Ok(BTreeMap::new());
    };
    let records: Vec<RecordEntry> = serde_json::from_value(old["records"].clone())
        .map_err(|e| Error::BadInput(format!("--resume: {}: {e}", manifest.display())))?;
    let mut kept = BTreeMap::new();
    for r in records {
        if !r.partial && ours(job, &r) && intact(&job.out, &r)? {
            kept.insert(r.id, r);
        }
    }
    Ok(kept)
}

/// A run without `--resume` starts over, writing every record again: refused where
/// `manifest`'s earlier run left a record (or events file) there that this run will not
/// write over, which would stay beside this run's records, a dataset of two jobs.
pub fn refuse_leftovers(job: &Job, manifest: &Path) -> Result<()> {
    let Some(text) = read_manifest(manifest)? else {
        return Ok(());
    };
    // Not one of ours, or unreadable: nothing to go by (it is written over at the end).
    let records = serde_json::from_str::<serde_json::Value>(&text)
        .and_then(|v| serde_json::from_value::<Vec<RecordEntry>>(v["records"].clone()));
    let Ok(records) = records else {
        return Ok(());
    };
    let ours: std::collections::HashSet<String> = (job.shard.indices(job.count))
        .map(|i| super::record_file_name(job, i))
        .flat_map(|f| [EventLog::file_name(&f), f])
        .collect();
    let listed = records.iter().flat_map(|r| {
        let events = r.labels["events_file"].as_str().map(str::to_string);
        std::iter::once(r.file.clone()).chain(events)
    });
    for f in listed {
        if !ours.contains(&f) && job.out.join(&f).is_file() {
            return Err(Error::BadInput(format!(
                "--out {}: {} lists {f}, an earlier run's record that this run would not \
                 write over, so the directory would mix two runs: write elsewhere, or remove \
                 that run's files first (--resume finishes the same job)",
                job.out.display(),
                manifest.display()
            )));
        }
    }
    Ok(())
}

/// The manifest an earlier run left at `manifest`, if any, checked to be `job`'s (its
/// [`JOB_FIELDS`]); errors begin with `flag`.
fn earlier(job: &Job, manifest: &Path, flag: &str) -> Result<Option<serde_json::Value>> {
    let Some(text) = read_manifest(manifest)? else {
        return Ok(None);
    };
    let bad = |msg: String| Error::BadInput(format!("{flag}: {}: {msg}", manifest.display()));
    let old: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    // Through JSON text, as the manifest was written: an f32 parameter (a temperature of
    // 0.3) reads back as the f64 0.3, where `to_value` would keep 0.30000001192092896.
    let new = serde_json::to_string(&Manifest::new(job, Vec::new()))
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t))
        .map_err(|e| bad(e.to_string()))?;
    if let Some(field) = JOB_FIELDS.iter().find(|f| old[**f] != new[**f]) {
        return Err(bad(format!(
            "written by another job: its {field} is {}, this run's {} (write elsewhere, or \
             drop --resume to start over)",
            old[*field], new[*field]
        )));
    }
    Ok(Some(old))
}

/// The text of the manifest an earlier run left at `manifest`, `None` where there is none.
fn read_manifest(manifest: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(manifest) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::os(format!("reading {}", manifest.display()), e)),
    }
}

/// True when `r` is a record this run makes, under the names and seed it would give it: a
/// manifest's file names are not trusted to point anywhere else.
fn ours(job: &Job, r: &RecordEntry) -> bool {
    let file = super::record_file_name(job, r.id);
    let events = r.labels["events_file"].as_str();
    r.id < job.count
        && r.id % job.shard.total == job.shard.index
        && r.seed == super::record_seed(job.seed, r.id)
        && r.file == file
        && events.is_none_or(|e| e == EventLog::file_name(&file))
}

/// True when `r`'s file, and its events file where it lists one, hash as the manifest says.
fn intact(dir: &Path, r: &RecordEntry) -> Result<bool> {
    let same = |name: &str, sha: &str| -> Result<bool> {
        let path = dir.join(name);
        Ok(path.is_file() && hash_file(&path)?.0 == sha)
    };
    if !same(&r.file, &r.sha256)? {
        return Ok(false);
    }
    match (
        r.labels["events_file"].as_str(),
        r.labels["events_sha256"].as_str(),
    ) {
        (Some(file), Some(sha)) => same(file, sha),
        _ => Ok(true),
    }
}
