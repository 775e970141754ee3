//! Scenarios: several streams (generator, parameters, rate, block size, sinks) described
//! in one TOML file, validated completely before any stream starts.
//!
//! ```toml
//! realtime = true                 # optional; false = --fast
//! metrics = "127.0.0.1:9898"      # optional
//! [[stream]]
//! name = "ecg"                    # optional, default stream0, stream1, …
//! model = "sine"                  # any name model::by_name knows
//! params = { rate = 500, channels = 12, freq = 10, amplitude = 1 }  # sine's
//! # model = "ecgsyn" with params = { hr = 60, leads = "12", fs = 500 }: keys as `--param`
//! block_ms = 20
//! duration = "10m"                # optional
//! temperature = 0.5               # optional; transformer checkpoints only
//! fs = 500                        # optional; a checkpoint's output resampled to this rate
//!                                 # (in a checkpoint's params too: params = { fs = 500 })
//! to = ["tcp://127.0.0.1:5000", "file:out.edf"]
//! on_error = "drop"               # or "stop" (default)
//! ```

use super::engine::{NamedSink, OnError, Stream, StreamOptions};
use super::sink::{self, SinkContext, SinkSpec, TextFormat};
use crate::model::{self, test_signal::Sine, Generator};
use crate::{Error, Result};
use std::path::Path;

/// A whole scenario file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Pace in real time (default) or run flat out.
    pub realtime: Option<bool>,
    /// Prometheus endpoint address.
    pub metrics: Option<String>,
    /// The streams.
    #[serde(rename = "stream", default)]
    pub streams: Vec<StreamDef>,
}

/// One stream of a scenario (the CLI's flags make one of these too).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamDef {
    /// Name in logs and metrics.
    pub name: Option<String>,
    /// Generator name (see `model::by_name`).
    pub model: String,
    /// Parameters of `sine` ([`SineParams`]) or of the physiological models `ecgsyn` and
    /// `eeg` (keys as `generate --param`).
    pub params: Option<toml::Table>,
    /// A physiological model the CLI built from its flags (`stream --model ecgsyn --hr 60`);
    /// used instead of `model` and `params` when set.
    #[serde(skip)]
    pub physio: Option<model::physio::PhysioModel>,
    /// Resample a checkpoint's output to this rate, Hz (`sine`, `ecgsyn` and `eeg` set
    /// their own rate in `params`).
    pub fs: Option<f64>,
    /// Random seed.
    #[serde(default)]
    pub seed: u64,
    /// Sampling temperature (transformer checkpoints only).
    pub temperature: Option<f32>,
    /// Block length in milliseconds (default 20).
    pub block_ms: Option<u32>,
    /// Signal queued ahead of the real-time clock, in milliseconds (default 200): more
    /// rides out longer stalls of a loaded machine, at that much more latency.
    pub buffer_ms: Option<u32>,
    /// Stop after this long (`10s`, `5m`, `1h`, `250ms`).
    pub duration: Option<String>,
    /// Sinks, in `--to` syntax (default: stdout).
    #[serde(default)]
    pub to: Vec<String>,
    /// stdout layout (f32 when not given; refused where no sink writes to stdout).
    pub format: Option<TextFormat>,
    /// Start a new numbered file after this long.
    pub roll: Option<String>,
    /// Sink error policy.
    #[serde(default)]
    pub on_error: OnError,
}

/// Parameters of the calibration sine (all optional).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SineParams {
    /// Sample rate in Hz (default 500).
    pub rate: Option<f64>,
    /// Channels (default 1).
    pub channels: Option<usize>,
    /// Frequency in Hz (default 10).
    pub freq: Option<f64>,
    /// Amplitude in mV (default 1).
    pub amplitude: Option<f64>,
}

impl Scenario {
    /// Reads and parses a scenario file; errors name the file and the field.
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::bad_path(path, e))?;
        Self::parse(path, &text)
    }

    /// Parses scenario text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Scenario> {
        let s: Scenario = toml::from_str(text).map_err(|e| Error::bad_path(path, e))?;
        if s.streams.is_empty() {
            return Err(Error::bad_path(path, "no [[stream]] entries"));
        }
        Ok(s)
    }
}

/// Durations (`250ms`, `10s`, `1.5m`, `1h`, `2d`) parse as for `generate`.
pub use crate::generate::parse_duration;

/// Builds the generator a definition names: the CLI's physiological model, `sine` or
/// `ecgsyn`/`eeg` with their `params`, else `model::by_name`.
pub fn build_generator(def: &StreamDef) -> Result<Box<dyn Generator>> {
    let name = def.model.as_str();
    model::refuse_temperature(name, def.temperature)?;
    if model::is_builtin(name) && def.fs.is_some() {
        return Err(Error::BadInput(format!(
            "model `{name}`: `fs` resamples checkpoints; set {name}'s rate in its params"
        )));
    }
    if let Some(p) = &def.physio {
        return p.generator(def.seed);
    }
    let mut fs = def.fs;
    let g = match (name, def.params.clone()) {
        ("sine", p) => sine(p.unwrap_or_default()),
        ("ecgsyn" | "eeg", Some(t)) => {
            let origin = format!("model {name}: params");
            model::physio::PhysioModel::from_table(name, Some((origin, t)), &[])?
                .generator(def.seed)
        }
        (name, Some(t)) => {
            fs = checkpoint_rate(name, &t, fs)?;
            model::by_name_with(name, def.seed, def.temperature)
        }
        (name, None) => model::by_name_with(name, def.seed, def.temperature),
    }?;
    model::resampled::to_rate(g, fs)
}

/// A checkpoint's `params`: only `fs`, taken as the stream's `fs` (its output resampled, as
/// `--fs` does for any model); any other key, or an `fs` the stream's own contradicts,
/// refused by name.
fn checkpoint_rate(name: &str, params: &toml::Table, fs: Option<f64>) -> Result<Option<f64>> {
    let refuse = |what: String| Err(Error::BadInput(format!("model {name}: {what}")));
    if let Some(k) = params.keys().find(|k| *k != "fs") {
        return refuse(format!(
            "params: `{k}` is understood by sine, ecgsyn and eeg only (a checkpoint takes \
             `fs` alone, its output resampled to that rate)"
        ));
    }
    let Some(v) = params.get("fs") else {
        return Ok(fs);
    };
    let Some(rate) = v.as_float().or_else(|| v.as_integer().map(|i| i as f64)) else {
        return refuse(format!("params: `fs` must be a number of Hz, got {v}"));
    };
    match fs {
        Some(f) if f != rate => refuse(format!("`fs = {f}` and params `fs = {rate}` disagree")),
        _ => Ok(Some(rate)),
    }
}

/// The calibration sine from a stream's `params` ([`SineParams`]).
fn sine(params: toml::Table) -> Result<Box<dyn Generator>> {
    let p: SineParams = toml::Value::Table(params)
        .try_into()
        .map_err(|e: toml::de::Error| {
            Error::BadInput(format!("model sine: params: {}", e.message().trim()))
        })?;
    let rate = p.rate.unwrap_or(500.0);
    let channels = p.channels.unwrap_or(1);
    if !(rate > 0.0 && rate <= 1e6) || channels == 0 || channels > 4096 {
        return Err(Error::BadInput(format!(
            "model sine: rate must be in (0, 1e6] and channels in 1..=4096, got {rate} and {channels}"
        )));
    }
    let (f, a) = (p.freq.unwrap_or(10.0), p.amplitude.unwrap_or(1.0));
    Ok(Box::new(Sine::new(rate, channels, f, a)))
}

/// A definition checked and its generator built; sinks not opened yet.
struct Checked {
    opts: StreamOptions,
    generator: Box<dyn Generator>,
    sinks: Vec<(String, SinkSpec)>,
    format: TextFormat,
    roll_frames: Option<u64>,
}

fn check(def: &StreamDef, i: usize, realtime: bool) -> Result<Checked> {
    let name = def.name.clone().unwrap_or_else(|| format!("stream{i}"));
    let ctx = |e: Error| Error::BadInput(format!("stream {name}: {e}"));
    let generator = build_generator(def).map_err(ctx)?;
    let rate = generator.spec().sample_rate;
    let block_ms = def.block_ms.unwrap_or(20);
    if !(1..=10_000).contains(&block_ms) {
        return Err(ctx(Error::BadInput(format!(
            "block_ms {block_ms} is not in 1..=10000"
        ))));
    }
    let buffer_ms = def.buffer_ms.unwrap_or(DEFAULT_BUFFER_MS.max(4 * block_ms));
    if !(4 * block_ms..=MAX_BUFFER_MS).contains(&buffer_ms) {
        return Err(ctx(Error::BadInput(format!(
            "buffer_ms {buffer_ms} is not in {}..={MAX_BUFFER_MS} (four blocks of {block_ms} ms \
             to a minute)",
            4 * block_ms
        ))));
    }
    let block_frames = ((rate * block_ms as f64 / 1000.0).round() as usize).max(1);
    let channels = generator.spec().n_channels();
    if block_frames.saturating_mul(channels) > MAX_BLOCK_SAMPLES {
        return Err(ctx(Error::BadInput(format!(
            "block_ms {block_ms} at {rate} Hz × {channels} channels is more than \
             {MAX_BLOCK_SAMPLES} samples per block; use a shorter block_ms"
        ))));
    }
    let frames_of = |d: &str| parse_duration(d).map(|s| (s * rate).round() as u64);
    let total_frames = def
        .duration
        .as_deref()
        .map(frames_of)
        .transpose()
        .map_err(ctx)?;
    let roll_frames = def
        .roll
        .as_deref()
        .map(roll_frames_of(rate))
        .transpose()
        .map_err(ctx)?;
    let to = if def.to.is_empty() {
        vec!["stdout".to_string()]
    } else {
        def.to.clone()
    };
    let sinks = (to.iter())
        .map(|t| SinkSpec::parse(t).map(|s| (t.clone(), s)))
        .collect::<Result<Vec<_>>>()
        .map_err(ctx)?;
    sink_options_used(def, &sinks).map_err(ctx)?;
    let opts = StreamOptions {
        name,
        block_frames,
        total_frames,
        realtime,
        on_error: def.on_error,
        queue_blocks: (buffer_ms / block_ms) as usize,
    };
    Ok(Checked {
        opts,
        generator,
        sinks,
        format: def.format.unwrap_or_default(),
        roll_frames,
    })
}

/// `roll`'s frames at `rate`; under a second is refused: an EDF/BDF file holds whole
/// records of a second or more, so shorter files are mostly padding, and a file per block
/// fills a directory by the thousand.
fn roll_frames_of(rate: f64) -> impl Fn(&str) -> Result<u64> {
    move |d| {
        let s = parse_duration(d)?;
        if s < 1.0 {
            return Err(Error::BadInput(format!(
                "roll `{d}`: start new files at most once a second"
            )));
        }
        Ok((s * rate).round() as u64)
    }
}

/// Refuses `format` where no sink writes to stdout and `roll` where none writes files:
/// either would be ignored.
fn sink_options_used(def: &StreamDef, sinks: &[(String, SinkSpec)]) -> Result<()> {
    let has = |f: fn(&SinkSpec) -> bool| sinks.iter().any(|(_, s)| f(s));
    if def.format.is_some() && !has(|s| *s == SinkSpec::Stdout) {
        return Err(Error::BadInput(
            "format sets the layout of stdout, and no sink writes to stdout (files take \
             their format from the extension; TCP sends f32)"
                .into(),
        ));
    }
    if def.roll.is_some() && !has(|s| matches!(s, SinkSpec::File(_))) {
        return Err(Error::BadInput(
            "roll starts new files, and no sink writes a file".into(),
        ));
    }
    Ok(())
}

/// Signal queued ahead of the clock by default, ms: covers a 200 ms stall.
const DEFAULT_BUFFER_MS: u32 = 200;

/// Most signal a stream may queue ahead of the clock, ms.
const MAX_BUFFER_MS: u32 = 60_000;

/// Most samples (frames × channels) one block may hold: 64 MB of f32 per block, times the
/// queue depth, is as much as a stream should ever hold in memory.
const MAX_BLOCK_SAMPLES: usize = 16 << 20;

/// Validates every definition (generators, durations, sink syntax) without opening sinks.
pub fn validate(defs: &[StreamDef], realtime: bool) -> Result<()> {
    for (i, d) in defs.iter().enumerate() {
        check(d, i, realtime)?;
    }
    Ok(())
}

/// Validates every definition (generators, durations, sink syntax) and then opens every
/// sink (binding ports, creating files): any bad input fails here, before streaming.
pub fn prepare(
    defs: &[StreamDef],
    realtime: bool,
    rt: &tokio::runtime::Handle,
) -> Result<Vec<Stream>> {
    let checked = (defs.iter().enumerate())
        .map(|(i, d)| check(d, i, realtime))
        .collect::<Result<Vec<_>>>()?;
    names_differ(&checked)?;
    one_sink_per_target(&checked)?;
    checked.into_iter().map(|c| open(c, rt)).collect()
}

/// Refuses two streams of one name: metrics and logs tell streams apart by it.
fn names_differ(checked: &[Checked]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    match checked.iter().find(|c| !seen.insert(&c.opts.name)) {
        Some(c) => Err(Error::BadInput(format!(
            "two streams are named `{}`: metrics and logs tell streams apart by name",
            c.opts.name
        ))),
        None => Ok(()),
    }
}

/// Refuses two sinks on one target: stdout, or one file path (two writers would interleave
/// their records in one file).
fn one_sink_per_target(checked: &[Checked]) -> Result<()> {
    let sinks =
        || (checked.iter()).flat_map(|c| c.sinks.iter().map(move |(_, s)| (&c.opts.name, s)));
    let n_stdout = sinks().filter(|(_, s)| **s == SinkSpec::Stdout).count();
    if n_stdout > 1 {
        return Err(Error::BadInput(format!(
            "{n_stdout} sinks write to stdout; at most one may"
        )));
    }
    let mut files = std::collections::HashMap::new();
    for (stream, sink) in sinks() {
        let SinkSpec::File(path) = sink else { continue };
        let key = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        if let Some(first) = files.insert(key, stream) {
            return Err(Error::BadInput(format!(
                "{}: written by stream {first} and stream {stream}; give each file sink its own path",
                path.display()
            )));
        }
    }
    Ok(())
}

fn open(c: Checked, rt: &tokio::runtime::Handle) -> Result<Stream> {
    let ctx = SinkContext {
        stream: c.opts.name.clone(),
        spec: c.generator.spec().clone(),
        block_frames: c.opts.block_frames,
        realtime: c.opts.realtime,
        format: c.format,
        roll_frames: c.roll_frames,
        labels: c.generator.labels().to_vec(),
        rt: rt.clone(),
    };
    let sinks = (c.sinks.iter())
        .map(|(name, spec)| {
            let sink = sink::build(spec, &ctx)?;
            Ok(NamedSink {
                name: name.clone(),
                sink,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Stream {
        opts: c.opts,
        generator: c.generator,
        sinks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_garbage() {
        assert_eq!(parse_duration("10s").unwrap(), 10.0);
        assert_eq!(parse_duration("1h").unwrap(), 3600.0);
        assert_eq!(parse_duration("250ms").unwrap(), 0.25);
        assert_eq!(parse_duration("2").unwrap(), 2.0);
        assert_eq!(parse_duration("1.5m").unwrap(), 90.0);
        for bad in ["", "-1s", "3 parsecs", "xs", "0"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scenario_rejects_unknown_model_and_field_before_opening_anything() {
        let s: Scenario =
            toml::from_str("[[stream]]\nmodel = \"nosuch\"\nto = [\"tcp://127.0.0.1:1\"]\n")
                .unwrap();
        let e = check(&s.streams[0], 0, true).err().unwrap().to_string();
        assert!(e.contains("nosuch") && e.contains("stream0"), "{e}");
        let bad_field = toml::from_str::<Scenario>("[[stream]]\nmodel = \"sine\"\nrat = 3\n");
        assert!(bad_field.unwrap_err().to_string().contains("rat"));
    }

    #[test]
    fn sine_params_set_rate_channels_and_block_size() {
        let s: Scenario = toml::from_str(
            "[[stream]]\nmodel = \"sine\"\nblock_ms = 10\nduration = \"2s\"\n\
             params = { rate = 1000, channels = 12 }\n",
        )
        .unwrap();
        let c = check(&s.streams[0], 0, true).unwrap();
        assert_eq!(c.generator.spec().n_channels(), 12);
        assert_eq!(c.opts.block_frames, 10);
        assert_eq!(c.opts.total_frames, Some(2000));
    }

    /// A checkpoint's `fs` resamples it to any rate a filter can be made for; rates that
    /// are not positive and finite, or too fine a ratio, are refused before streaming.
    #[test]
    fn fs_resamples_checkpoints_and_refuses_what_cannot_be_resampled() {
        let def = |fs: &str| {
            let text = format!("[[stream]]\nmodel = \"models/ecg-vae\"\nfs = {fs}\n");
            Scenario::parse(Path::new("s.toml"), &text).map(|s| s.streams[0].clone())
        };
        for fs in ["500", "250", "1000", "360"] {
            let g = build_generator(&def(fs).unwrap()).unwrap();
            assert_eq!(g.spec().sample_rate, fs.parse::<f64>().unwrap());
        }
        for fs in ["nan", "inf", "-1", "0", "1e300", "333.33"] {
            let r = def(fs).and_then(|d| build_generator(&d).map(|_| ()));
            assert!(r.is_err(), "fs = {fs}");
        }
        let sine = def("500")
            .map(|d| StreamDef {
                model: "sine".into(),
                ..d
            })
            .unwrap();
        let e = build_generator(&sine).err().unwrap().to_string();
        assert!(e.contains("`fs` resamples checkpoints"), "{e}");
    }

    /// `params = { fs = 500 }` on a checkpoint is its `fs`, as `fs` sits in ecgsyn's
    /// params; another key, a rate that is not a number, or two rates that differ are
    /// refused by name.
    #[test]
    fn a_checkpoints_params_may_hold_its_rate_and_nothing_else() {
        let build = |extra: &str| {
            let text = format!("[[stream]]\nmodel = \"models/ecg-vae\"\n{extra}\n");
            let s = Scenario::parse(Path::new("s.toml"), &text).unwrap();
            build_generator(&s.streams[0]).map(|g| g.spec().sample_rate)
        };
        assert_eq!(build("params = { fs = 500 }").unwrap(), 500.0);
        assert_eq!(build("params = { fs = 250.0 }\nfs = 250").unwrap(), 250.0);
        for (extra, says) in [
            (
                "params = { hr = 60 }",
                "`hr` is understood by sine, ecgsyn and eeg only",
            ),
            ("params = { fs = \"500\" }", "`fs` must be a number of Hz"),
            (
                "params = { fs = 500 }\nfs = 250",
                "`fs = 250` and params `fs = 500` disagree",
            ),
        ] {
            let e = build(extra).err().unwrap().to_string();
            assert!(e.contains(says), "{extra}: {e}");
        }
    }
}
