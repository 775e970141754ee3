//! `biowave generate --model … --duration D [--count N] [--shard I/N] [--out DIR|FILE] …`.

use crate::generate::{self, Job, JobModel, LearnedModel, OutFormat, Shard};
use crate::model::physio::{params, PhysioModel};
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
    /// Model parameters from a TOML file (keys as in `--param`).
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// A model parameter `key=value` (repeatable), e.g. `--param st_mv=0.2`.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub param: Vec<String>,
    /// Sample rate, Hz.
    #[arg(long)]
    pub fs: Option<f64>,
    /// ECG: mean heart rate, bpm.
    #[arg(long, allow_hyphen_values = true)]
    pub hr: Option<f64>,
    /// ECG: heart-rate standard deviation, bpm.
    #[arg(long, allow_hyphen_values = true)]
    pub hr_std: Option<f64>,
    /// ECG: LF/HF ratio of the RR spectrum.
    #[arg(long)]
    pub lf_hf: Option<f64>,
    /// ECG: rhythm (normal, brady, tachy, af).
    #[arg(long)]
    pub rhythm: Option<String>,
    /// ECG: fraction of beats followed by a PVC.
    #[arg(long)]
    pub pvc_rate: Option<f64>,
    /// ECG: leads (`12`, `3`, `1` or a list such as `II,V1`).
    #[arg(long)]
    pub leads: Option<String>,
    /// EEG: channels (`10-20` or a list such as `Fz,Cz,O1`).
    #[arg(long)]
    pub channels: Option<String>,
    /// Mains frequency, Hz.
    #[arg(long)]
    pub mains: Option<f64>,
    /// Mains amplitude (mV for ECG, µV for EEG).
    #[arg(long)]
    pub mains_amp: Option<f64>,
}

impl Args {
    /// `key=value` overrides: `--param`s first, then the dedicated flags.
    fn overrides(&self, model: &str) -> crate::Result<Vec<(String, String)>> {
        let mut o: Vec<(String, String)> = self
            .param
            .iter()
            .map(|p| params::split_kv(p))
            .collect::<crate::Result<_>>()?;
        let ecg = model == "ecgsyn";
        let mut put = |key: &str,
                       v: Option<String>,
                       for_ecg: Option<bool>,
                       flag: &str|
         -> crate::Result<()> {
            if let Some(v) = v {
                if for_ecg.is_some_and(|e| e != ecg) {
                    return Err(Error::BadInput(format!(
                        "--{flag} does not apply to model `{model}`"
                    )));
                }
                o.push((key.into(), v));
            }
            Ok(())
        };
        let s = |v: Option<f64>| v.map(|x| x.to_string());
        put("fs", s(self.fs), None, "fs")?;
        put("hr", s(self.hr), Some(true), "hr")?;
        put("hr_std", s(self.hr_std), Some(true), "hr-std")?;
        put("lf_hf", s(self.lf_hf), Some(true), "lf-hf")?;
        put("rhythm", self.rhythm.clone(), Some(true), "rhythm")?;
        put("pvc_rate", s(self.pvc_rate), Some(true), "pvc-rate")?;
        put("leads", self.leads.clone(), Some(true), "leads")?;
        put("channels", self.channels.clone(), Some(false), "channels")?;
        put("mains_hz", s(self.mains), None, "mains")?;
        put(
            if ecg { "mains_mv" } else { "mains_uv" },
            s(self.mains_amp),
            None,
            "mains-amp",
        )?;
        Ok(o)
    }
}

/// Builds the model with its parameters from the arguments.
pub fn model_from_args(a: &Args) -> crate::Result<JobModel> {
    if a.model != "ecgsyn" && a.model != "eeg" {
        if a.params.is_some() || !a.overrides(&a.model)?.is_empty() {
            return Err(Error::BadInput(format!(
                "--model `{}`: parameters apply to the physiological models ecgsyn and eeg",
                a.model
            )));
        }
        return Ok(JobModel::Learned(LearnedModel::open(
            &a.model,
            a.temperature,
        )?));
    }
    if a.temperature.is_some() {
        return Err(Error::BadInput(
            "--temperature applies to transformer checkpoints only".into(),
        ));
    }
    let text = match &a.params {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| Error::bad_path(p, e))?),
        None => None,
    };
    let file = a.params.as_deref().zip(text.as_deref());
    PhysioModel::from_parts(&a.model, file, &a.overrides(&a.model)?).map(JobModel::Physio)
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
    };
    let m = generate::run(&job, std::io::stderr().is_terminal())?;
    tracing::info!(records = m.records.len(), out = %job.out.display(), "generated");
    Ok(())
}
