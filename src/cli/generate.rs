//! `biowave generate --model … --duration D [--count N] [--shard I/N] [--out DIR|FILE] …`.

use super::model_args::ModelArgs;
use crate::generate::{self, Job, JobModel, LearnedModel, OutFormat, Shard};
use crate::Error;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Arguments of `biowave generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model: a name under models/, a checkpoint path, `ecgsyn` or `eeg`.
    #[arg(long)]
    pub model: String,
    /// Length of each record, e.g. `10m`, `30s`.
    #[arg(long, allow_hyphen_values = true)]
    pub duration: String,
    /// Number of records.
    #[arg(long, default_value_t = 1)]
    pub count: u64,
    /// This shard's records only: `I/N` writes records I, I+N, …
    #[arg(long)]
    pub shard: Option<String>,
    /// Output directory, or one file (`run.edf`: its extension sets the format) when
    /// `--count` is 1.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output format: edf, bdf, h5, csv, f32 (default edf, or `--out`'s extension).
    #[arg(long)]
    pub format: Option<String>,
    /// Random seed; record seeds derive from (seed, record index).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sampling temperature of a transformer checkpoint.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Keep the records an earlier run of this same job (its manifest in `--out`) wrote
    /// whole and intact, make the rest: an interrupted run finished as if never stopped.
    #[arg(long)]
    pub resume: bool,
    /// Write over `--out FILE` (and its events CSV) where it exists; without it (or
    /// `--resume`) an existing file is refused. A directory's `MODEL-NNNNNN` records are
    /// the dataset's own: a new run starts them over (they remake from their manifest).
    #[arg(long)]
    pub overwrite: bool,
    /// Parameters of the physiological models.
    #[command(flatten)]
    pub opts: ModelArgs,
}

/// Builds the model with its parameters from the arguments.
pub fn model_from_args(a: &Args) -> crate::Result<JobModel> {
    if a.model == "sine" {
        return Err(Error::BadInput(
            "--model sine: the calibration sine is for `stream`; generate takes ecgsyn, eeg \
             or a checkpoint"
                .into(),
        ));
    }
    crate::model::refuse_temperature(&a.model, a.temperature)?;
    match a.opts.physio(&a.model)? {
        Some(p) => Ok(JobModel::Physio(p)),
        None => Ok(JobModel::Learned(LearnedModel::open(
            &a.model,
            a.temperature,
            a.opts.resample_hz(&a.model),
        )?)),
    }
}

/// Where the records go: the directory, the one record's file name when `--out` names a
/// file (a path with a format's extension that is not an existing directory), the format.
fn target(a: &Args) -> crate::Result<(PathBuf, Option<String>, OutFormat)> {
    if a.count == 0 {
        return Err(Error::BadInput("--count must be at least 1".into()));
    }
    let flag = a.format.as_deref().map(OutFormat::parse).transpose()?;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("."));
    let ext = out.extension().and_then(|e| e.to_str());
    let named = ext.and_then(|e| OutFormat::parse(e).ok());
    let (Some(from_ext), Some(name), false) = (named, out.file_name(), out.is_dir()) else {
        return Ok((out, None, flag.unwrap_or(OutFormat::Edf)));
    };
    let whole = format!("--out {}", out.display());
    let many = match (&a.shard, a.count) {
        (Some(s), _) => Some(format!("--shard {s}")),
        (None, n) if n > 1 => Some(format!("--count {n}")),
        _ => None,
    };
    if let Some(many) = many {
        return Err(Error::BadInput(format!(
            "{whole} names one file: {many} needs a directory"
        )));
    }
    if flag.is_some_and(|f| f != from_ext) {
        return Err(Error::BadInput(format!(
            "{whole} does not match --format {}",
            a.format.as_deref().unwrap_or_default()
        )));
    }
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok((dir, Some(name.to_string_lossy().into_owned()), from_ext))
}

/// Generates records.
pub fn run(args: Args) -> crate::Result<()> {
    let model = model_from_args(&args)?;
    let (out, file, format) = target(&args)?;
    if let (Some(name), false) = (&file, args.resume) {
        let file = out.join(name);
        let events = crate::events::EventLog::beside(&file);
        let ours = [file, events];
        super::refuse_existing(ours.iter().map(PathBuf::as_path), args.overwrite)?;
    }
    let job = Job {
        model,
        duration_s: generate::parse_duration(&args.duration)?,
        count: args.count,
        shard: args
            .shard
            .as_deref()
            .map(generate::parse_shard)
            .transpose()?
            .unwrap_or(Shard::ALL),
        out,
        file,
        format,
        seed: args.seed,
        stop: crate::shutdown::flag()?,
        resume: args.resume,
    };
    let m = generate::run(&job, std::io::stderr().is_terminal())?;
    tracing::info!(records = m.records.len(), out = %job.out.display(), "generated");
    Ok(())
}
