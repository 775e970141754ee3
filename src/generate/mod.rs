//! Bulk generation: many records from a physiological model, in parallel over the cores,
//! each written through the io layer (or as raw f32), with a manifest.
//!
//! Record `i` is seeded with [`record_seed`]`(seed, i)`, so `--shard I/N` runs (records
//! I, I+N, …) produce exactly the files of one unsharded run, and their manifests'
//! `records` lists merge by concatenation.

pub mod manifest;
pub mod raw;
pub mod resume;
pub mod units;

use crate::events::EventLog;
pub use manifest::{Manifest, RecordEntry};
pub use units::{parse_duration, parse_shard, Shard};

use crate::block::Block;
use crate::model::physio::{EcgSyn, Eeg, PhysioModel};
use crate::model::Generator;
use crate::record::SignalSpec;
use crate::{Error, Result};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Output formats of `generate`: the io layer's, plus raw little-endian f32 frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutFormat {
    /// EDF+ (16-bit) through `io::create`.
    Edf,
    /// BDF+ (24-bit) through `io::create`.
    Bdf,
    /// HDF5 through `io::create`.
    H5,
    /// CSV through `io::create`.
    Csv,
    /// Interleaved little-endian f32 frames, no header (channels in the manifest).
    F32,
}

impl OutFormat {
    /// Parses `edf|bdf|h5|csv|f32`.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "edf" => Self::Edf,
            "bdf" => Self::Bdf,
            "h5" | "hdf5" => Self::H5,
            "csv" => Self::Csv,
            "f32" => Self::F32,
            _ => {
                return Err(Error::BadInput(format!(
                    "--format `{s}`: expected edf, bdf, h5, csv or f32"
                )))
            }
        })
    }

    /// File extension.
    pub fn ext(self) -> &'static str {
        match self {
            Self::Edf => "edf",
            Self::Bdf => "bdf",
            Self::H5 => "h5",
            Self::Csv => "csv",
            Self::F32 => "f32",
        }
    }
}

/// What a job generates with: a physiological model with its parameters, or a learned
/// checkpoint.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum JobModel {
    /// `ecgsyn` or `eeg` with parameters.
    Physio(PhysioModel),
    /// A checkpoint under models/ or at a path.
    Learned(LearnedModel),
}

/// A learned checkpoint as a generate job records it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LearnedModel {
    /// `--model` as given (a name under models/ or a path).
    pub name: String,
    /// `vae` or `transformer`.
    pub kind: String,
    /// sha256 of model.safetensors: which weights made the dataset.
    pub weights_sha256: String,
    /// sha256 of config.json: its normalisation, gains' targets and latent prior shape
    /// the output as much as the weights do.
    pub config_sha256: String,
    /// Sampling temperature (transformer).
    pub temperature: Option<f32>,
    /// The rate the checkpoint's output is resampled to (`--fs`), if not its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resampled_hz: Option<f64>,
    /// A latent transformer's codec (`codec/`): sha256 of its weights and config.json,
    /// which decode every token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec_sha256: Option<(String, String)>,
}

impl LearnedModel {
    /// Checks the checkpoint `name` loads (and resamples to `fs`, if given) and records
    /// its identity.
    pub fn open(name: &str, temperature: Option<f32>, fs: Option<f64>) -> Result<Self> {
        // Loading it first refuses an unknown name with the known ones listed.
        let g = crate::model::by_name_with(name, 0, temperature)?;
        let resampled_hz = fs.filter(|&f| f != g.spec().sample_rate);
        crate::model::resampled::to_rate(g, resampled_hz)?;
        let dir = crate::model::checkpoint::locate(name);
        let cfg = crate::model::checkpoint::load_config(&dir)?;
        let codec = match &cfg.codec {
            Some(c) => {
                let d = dir.join(c);
                let sha = |f: &str| crate::model::checkpoint::fingerprint(&d.join(f));
                Some((sha("model.safetensors")?, sha("config.json")?))
            }
            None => None,
        };
        Ok(LearnedModel {
            name: name.to_string(),
            kind: cfg.kind,
            weights_sha256: crate::model::checkpoint::fingerprint(&dir.join("model.safetensors"))?,
            config_sha256: crate::model::checkpoint::fingerprint(&dir.join("config.json"))?,
            temperature,
            resampled_hz,
            codec_sha256: codec,
        })
    }
}

impl JobModel {
    /// Name used in file names and the manifest.
    pub fn name(&self) -> &str {
        match self {
            Self::Physio(p) => p.name(),
            Self::Learned(l) => Path::new(&l.name)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("model"),
        }
    }
}

/// A bulk-generation job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Model and parameters.
    pub model: JobModel,
    /// Seconds per record.
    pub duration_s: f64,
    /// Records in the whole dataset (all shards).
    pub count: u64,
    /// This run's shard.
    pub shard: Shard,
    /// Output directory.
    pub out: PathBuf,
    /// The one record's file name when `--out` named a file (`run.edf`), else `None`:
    /// records are named `MODEL-NNNNNN.EXT` and the manifest `manifest.json`.
    pub file: Option<String>,
    /// File format.
    pub format: OutFormat,
    /// Dataset seed.
    pub seed: u64,
    /// Set (by SIGINT/SIGTERM, [`crate::shutdown::flag`]) to end the run early: the record
    /// being written is finished as a valid, shorter file, no record starts, and the
    /// manifest lists what was written.
    pub stop: Arc<AtomicBool>,
    /// Keep the records an earlier run of this job wrote whole ([`resume::kept`]), make the
    /// rest.
    pub resume: bool,
}

/// SplitMix64 finaliser: a well-mixed 64-bit hash.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seed of record `index` of a dataset seeded with `seed` (independent of sharding).
pub fn record_seed(seed: u64, index: u64) -> u64 {
    splitmix64(splitmix64(seed) ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

/// The most records one run (one shard) writes: its manifest lists every record in memory
/// and in one JSON file, so larger datasets are split with `--shard`.
pub const MAX_RECORDS_PER_RUN: u64 = 10_000_000;

/// Runs `job`: writes this shard's records and its manifest; returns the manifest.
pub fn run(job: &Job, progress: bool) -> Result<Manifest> {
    let n = job
        .count
        .saturating_sub(job.shard.index)
        .div_ceil(job.shard.total);
    if n > MAX_RECORDS_PER_RUN {
        return Err(Error::BadInput(format!(
            "--count {}: this run would write {n} records, at most {MAX_RECORDS_PER_RUN} \
             (split the dataset with --shard I/N)",
            job.count
        )));
    }
    std::fs::create_dir_all(&job.out)
        .map_err(|e| Error::os(format!("creating {}", job.out.display()), e))?;
    let path = job.out.join(manifest::file_name(job));
    let kept = if job.resume {
        resume::kept(job, &path)?
    } else {
        resume::refuse_leftovers(job, &path)?;
        Default::default()
    };
    if !kept.is_empty() {
        tracing::info!(
            records = kept.len(),
            "--resume: keeping the records already whole"
        );
    }
    let ids: Vec<u64> = job.shard.indices(job.count).collect();
    let bar = progress_bar(ids.len(), progress);
    let records: Vec<Option<RecordEntry>> = ids
        .par_iter()
        .map(|&i| {
            if let Some(r) = kept.get(&i) {
                bar.inc(1);
                return Ok(Some(r.clone()));
            }
            if job.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let r = generate_record(job, i);
            bar.inc(1);
            r.map(Some)
        })
        .collect::<Result<_>>()?;
    bar.finish_and_clear();
    let mut manifest = Manifest::new(job, records.into_iter().flatten().collect());
    // Interrupted where a signal left a record unmade or cut short (not where it came
    // after the last record).
    manifest.interrupted =
        manifest.records.len() < ids.len() || manifest.records.iter().any(|r| r.partial);
    manifest.write(&path)?;
    if manifest.interrupted {
        return Err(interrupted(&manifest, ids.len(), &path));
    }
    Ok(manifest)
}

/// A progress bar over `n` records, drawn only when `shown` (stderr is a terminal).
fn progress_bar(n: usize, shown: bool) -> indicatif::ProgressBar {
    let bar = if shown {
        indicatif::ProgressBar::new(n as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} records  {elapsed} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// The error of a run stopped by a signal: how far it got, and that what it wrote is valid.
fn interrupted(m: &Manifest, wanted: usize, manifest: &Path) -> Error {
    let cut: Vec<String> = (m.records.iter().filter(|r| r.partial))
        .map(|r| format!("{} ({:.1} s)", r.file, r.n_frames as f64 / r.sample_rate))
        .collect();
    let whole = m.records.len() - cut.len();
    let cut = if cut.is_empty() {
        String::new()
    } else {
        format!(", cut short: {}", cut.join(", "))
    };
    Error::Interrupted(format!(
        "generate stopped by a signal: {whole} of {wanted} records whole{cut}; every file \
         written is valid and {} lists them (the same command with --resume finishes the run)",
        manifest.display()
    ))
}

/// The file record `index` of `job` is written to: `--file` where given, else
/// `MODEL-NNNNNN.EXT`.
pub fn record_file_name(job: &Job, index: u64) -> String {
    job.file
        .clone()
        .unwrap_or_else(|| format!("{}-{index:06}.{}", job.model.name(), job.format.ext()))
}

/// Generates record `index` into its file and describes it.
pub fn generate_record(job: &Job, index: u64) -> Result<RecordEntry> {
    let seed = record_seed(job.seed, index);
    let name = record_file_name(job, index);
    let path = job.out.join(&name);
    let mut events = None;
    let (spec, total) = match &job.model {
        // The concrete generators, not `PhysioModel::generator`'s box: through the box the
        // EEG generator's Gaussian draws were left out of line, 25 % slower (measured).
        JobModel::Physio(PhysioModel::Ecgsyn(p)) => {
            let mut g = EcgSyn::new((**p).clone(), seed)?;
            let (r, e) = write_labelled(&mut g, job, &path, &name, seed)?;
            events = Some(e);
            r
        }
        JobModel::Physio(PhysioModel::Eeg(p)) => {
            let mut g = Eeg::new(p.clone(), seed)?;
            let (r, e) = write_labelled(&mut g, job, &path, &name, seed)?;
            events = Some(e);
            r
        }
        JobModel::Learned(l) => {
            let g = crate::model::by_name_with(&l.name, seed, l.temperature)?;
            let mut g = crate::model::resampled::to_rate(g, l.resampled_hz)?;
            if g.labels().is_empty() {
                write_record(&mut g, job, &path, seed, |_, _| Ok(()))?
            } else {
                let (r, e) = write_labelled(&mut g, job, &path, &name, seed)?;
                events = Some(e);
                r
            }
        }
    };
    let (sha256, bytes) = hash_file(&path)?;
    let wanted = (job.duration_s * spec.sample_rate).round() as u64;
    let seconds = total as f64 / spec.sample_rate;
    Ok(RecordEntry {
        id: index,
        file: name,
        seed,
        sha256,
        bytes,
        n_frames: total,
        sample_rate: spec.sample_rate,
        channels: spec.channels.iter().map(|c| c.label.clone()).collect(),
        units: spec.channels.iter().map(|c| c.unit.clone()).collect(),
        labels: labels(&job.model, events, seconds),
        partial: total < wanted,
    })
}

/// The labels beside a physiological record: file name, its sha256, events per label.
#[derive(Debug, Clone, Default)]
struct EventsFile {
    name: String,
    sha256: String,
    counts: std::collections::BTreeMap<&'static str, u64>,
}

/// [`write_record`] with the generator's events logged to `NAME.events.csv` beside the
/// record (and annotated in it where the format holds annotations).
fn write_labelled<G: Generator>(
    gen: &mut G,
    job: &Job,
    path: &Path,
    name: &str,
    seed: u64,
) -> Result<((SignalSpec, u64), EventsFile)> {
    let file = EventLog::file_name(name);
    let mut log = EventLog::create(&job.out.join(&file), gen.spec().sample_rate)?;
    let r = write_record(gen, job, path, seed, |b, w| log.take(&b.events, 0.0, w))?;
    let counts = log.finish()?;
    let (sha256, _) = hash_file(&job.out.join(&file))?;
    let events = EventsFile {
        name: file,
        sha256,
        counts,
    };
    Ok((r, events))
}

/// Streams `job.duration_s` of `gen` into `path` in one-second blocks, calling `label`
/// with each block before writing it (to annotate what it holds); returns the spec and the
/// number of frames written (fewer when `job.stop` ends it early; the file is finished).
fn write_record<G: Generator>(
    gen: &mut G,
    job: &Job,
    path: &Path,
    seed: u64,
    mut label: impl FnMut(&Block, &mut dyn crate::io::Writer) -> Result<()>,
) -> Result<(SignalSpec, u64)> {
    let spec = gen.spec().clone();
    let total = (job.duration_s * spec.sample_rate).round() as u64;
    let mut writer: Box<dyn crate::io::Writer> = match job.format {
        OutFormat::F32 => Box::new(raw::F32Writer::create(path)?),
        _ => {
            let opts = crate::io::WriteOptions {
                recording: format!("biowave {} seed {seed}", job.model.name()),
                ..Default::default()
            };
            crate::io::create(path, &spec, &opts)?
        }
    };
    let per_block = (spec.sample_rate.round() as u64).max(1);
    let mut block = Block::new(spec.n_channels(), per_block as usize);
    let mut done = 0;
    while done < total && !job.stop.load(Ordering::Relaxed) {
        let n = per_block.min(total - done) as usize;
        if n != block.n_frames {
            block = Block::new(spec.n_channels(), n);
        }
        block.events.clear();
        gen.fill(&mut block)?;
        label(&block, writer.as_mut())?;
        writer.write(&block)?;
        done += n as u64;
    }
    writer.finish()?;
    Ok((spec, done))
}

/// Labels of a record: the model's (rhythm, HR …) and what it produced, where it labels
/// events: events per label and the file that lists them (ECG: beats and PVCs too).
fn labels(model: &JobModel, events: Option<EventsFile>, duration_s: f64) -> serde_json::Value {
    let events = events.unwrap_or_default();
    let count = |label: &str| events.counts.get(label).copied().unwrap_or(0);
    let mut labels = match model {
        JobModel::Learned(l) => {
            serde_json::json!({"model": l.name, "kind": l.kind, "temperature": l.temperature})
        }
        JobModel::Physio(PhysioModel::Ecgsyn(p)) => {
            let (beats, pvcs) = (count("N") + count("V"), count("V"));
            serde_json::json!({
                "rhythm": p.rhythm,
                "hr": p.mean_hr(),
                "hr_std": p.hr_std,
                "beats": beats,
                "pvcs": pvcs,
                "measured_hr": 60.0 * beats as f64 / duration_s,
                "st_mv": p.st_mv,
            })
        }
        JobModel::Physio(PhysioModel::Eeg(p)) => serde_json::json!({
            "alpha_hz": p.alpha_hz,
            "spindles": p.spindle_rate_per_min > 0.0,
            "kcomplexes": p.kcomplex_rate_per_min > 0.0,
            "blinks": p.blink_rate_per_min > 0.0,
        }),
    };
    if events.name.is_empty() {
        return labels;
    }
    labels["events"] = serde_json::json!(events.counts);
    labels["events_file"] = events.name.into();
    labels["events_sha256"] = events.sha256.into();
    labels
}

/// SHA-256 (hex) and size of a file.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)
        .map_err(|e| Error::os(format!("reading {}", path.display()), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n_total = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::os(format!("reading {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        n_total += n as u64;
    }
    Ok((
        h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        n_total,
    ))
}
