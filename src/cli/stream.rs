//! `biowave stream [--model …] [--to SINK]… [--block-ms 20] [--duration D] …`.

use super::model_args::ModelArgs;
use crate::stream::engine::{self, OnError};
use crate::stream::scenario::{self, Scenario, StreamDef};
use crate::stream::sink::{file, SinkSpec, TextFormat};
use crate::{Error, Result};
use std::path::PathBuf;

/// Arguments of `biowave stream`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model: a name under models/, a checkpoint path, `ecgsyn`, `eeg` or `sine`
    /// (default: the shipped `ecg-vae` where models/ecg-vae is found, else ecgsyn).
    #[arg(long)]
    pub model: Option<String>,
    /// Sinks: `stdout`, `file:PATH`, `tcp://ADDR:PORT[?events=PORT&wait=N…]`, `lsl:NAME`
    /// (repeatable).
    #[arg(long)]
    pub to: Vec<String>,
    /// Block length in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub block_ms: u32,
    /// Signal queued ahead of the real-time clock, in milliseconds [default: 200, at least
    /// four blocks]: more rides out longer stalls of a loaded machine, at more latency.
    #[arg(long)]
    pub buffer_ms: Option<u32>,
    /// Stop after this long, e.g. `10s`, `1h`.
    #[arg(long)]
    pub duration: Option<String>,
    /// Pace output on the real-time clock (default).
    #[arg(long, conflicts_with = "fast")]
    pub realtime: bool,
    /// Emit as fast as the generator goes.
    #[arg(long)]
    pub fast: bool,
    /// Serve Prometheus metrics at this address, e.g. 127.0.0.1:9898.
    #[arg(long)]
    pub metrics: Option<String>,
    /// Run the streams a TOML scenario describes.
    #[arg(long, conflicts_with_all = [
        "model", "to", "duration", "roll", "temperature", "params", "param", "fs", "hr",
        "hr_std", "lf_hf", "rhythm", "pvc_rate", "leads", "channels", "mains", "mains_amp",
    ])]
    pub scenario: Option<PathBuf>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sampling temperature of a transformer checkpoint (scale on its predicted spread).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Layout of stdout output [default: f32].
    #[arg(long, value_enum)]
    pub format: Option<TextFormat>,
    /// Start a new numbered file after this long (file sinks), e.g. `1h`.
    #[arg(long)]
    pub roll: Option<String>,
    /// Keep every file sink (CLI and scenario) inside this directory: paths are taken
    /// relative to it, and absolute paths or `..` are refused.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Write over file sinks' files (and their events CSVs) that exist; without it such a
    /// file is refused before anything streams, so a rerun cannot replace a recording.
    #[arg(long)]
    pub overwrite: bool,
    /// On a sink error: `stop` the stream or `drop` the sink.
    #[arg(long, value_parser = ["stop", "drop"], default_value = "stop")]
    pub on_error: String,
    /// Parameters of the physiological models, as `generate` takes them.
    #[command(flatten)]
    pub opts: ModelArgs,
}

/// The shipped default model of `stream`: chosen by measurement over the latent and the
/// frame transformer (`models/README.md`, "Which model to stream").
pub const DEFAULT_MODEL: &str = "ecg-vae";

/// [`DEFAULT_MODEL`] where `./models` or `$BIOWAVE_MODELS` holds it; elsewhere the built-in
/// ecgsyn (else the calibration sine), said on stderr.
fn default_model() -> String {
    if crate::model::checkpoint::find(DEFAULT_MODEL).is_ok() {
        return DEFAULT_MODEL.into();
    }
    let fallback = match crate::model::by_name("ecgsyn", 0) {
        Ok(_) => "ecgsyn",
        Err(_) => "sine",
    };
    tracing::warn!(
        "no models/{DEFAULT_MODEL} in this directory or ${}: streaming the built-in \
         {fallback} (--model names another; run where biowave's models/ is, or set {} to it)",
        crate::model::checkpoint::MODELS_ENV,
        crate::model::checkpoint::MODELS_ENV
    );
    fallback.into()
}

fn single_stream(a: &Args) -> Result<StreamDef> {
    let model = a.model.clone().unwrap_or_else(default_model);
    Ok(StreamDef {
        name: Some("main".into()),
        physio: a.opts.physio(&model)?,
        fs: a.opts.resample_hz(&model),
        model,
        seed: a.seed,
        temperature: a.temperature,
        block_ms: Some(a.block_ms),
        buffer_ms: a.buffer_ms,
        duration: a.duration.clone(),
        to: a.to.clone(),
        format: a.format,
        roll: a.roll.clone(),
        on_error: if a.on_error == "drop" {
            OnError::Drop
        } else {
            OnError::Stop
        },
        ..StreamDef::default()
    })
}

/// The path of a sink that writes files (`file:PATH`); `None` for the others. Parses the
/// sink as the stream will, so a bad one is refused here, by name, before anything starts.
fn file_sink(to: &str) -> Result<Option<PathBuf>> {
    Ok(match SinkSpec::parse(to)? {
        SinkSpec::File(p) => Some(p),
        _ => None,
    })
}

/// Rewrites every `file:` sink to a path inside `dir` (see `sink::file::confine`).
fn confine_files(mut defs: Vec<StreamDef>, dir: &std::path::Path) -> Result<Vec<StreamDef>> {
    for d in &mut defs {
        for to in &mut d.to {
            if let Some(p) = file_sink(to)? {
                *to = format!("file:{}", file::confine(dir, &p)?.display());
            }
        }
    }
    Ok(defs)
}

/// The first file (and its events CSV) of every `file:` sink of `defs`: what an earlier run
/// may have left there.
fn first_files(defs: &[StreamDef]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for d in defs {
        for to in &d.to {
            if let Some(p) = file_sink(to)? {
                out.extend(file::FileSink::first_files(&p, d.roll.is_some()));
            }
        }
    }
    Ok(out)
}

/// Streams synthetic samples until the duration ends, SIGINT/SIGTERM, or the readers leave.
pub fn run(args: Args) -> Result<()> {
    let (defs, realtime, metrics) = match &args.scenario {
        Some(path) => {
            let s = Scenario::load(path)?;
            let realtime = if args.fast {
                false
            } else {
                s.realtime.unwrap_or(true)
            };
            (s.streams, realtime, args.metrics.clone().or(s.metrics))
        }
        None => (
            vec![single_stream(&args)?],
            !args.fast,
            args.metrics.clone(),
        ),
    };
    let defs = match &args.out_dir {
        Some(dir) => confine_files(defs, dir)?,
        None => defs,
    };
    let firsts = first_files(&defs)?;
    super::refuse_existing(firsts.iter().map(PathBuf::as_path), args.overwrite)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("biowave-net")
        .enable_all()
        .build()
        .map_err(|e| Error::os("starting the network runtime", e))?;
    if let Some(addr) = &metrics {
        crate::telemetry::serve_prometheus(addr, rt.handle())?;
    }
    let stop = crate::shutdown::flag()?;
    let streams = scenario::prepare(&defs, realtime, rt.handle())?;
    let reports = engine::run(streams, stop)?;
    for r in &reports {
        tracing::info!(stream = %r.name, frames = r.frames, underruns = r.underruns,
            max_lateness_us = r.max_lateness.as_micros() as u64, "done");
    }
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(())
}
