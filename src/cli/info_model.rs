//! `biowave info MODEL`: what a checkpoint makes (rate, channels, units), what it was
//! trained on and by which command, before anyone streams it to a device.

use crate::model::checkpoint::{self, CheckpointConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The stable JSON shape of `biowave info --json MODEL` (documented in README).
#[derive(Debug, Serialize)]
pub struct ModelJson<'a> {
    /// The checkpoint directory.
    pub checkpoint: String,
    /// `vae` or `transformer`.
    pub kind: &'a str,
    /// A transformer over a VAE's latents (its `codec/`), or over spectral frames.
    pub over_codec: bool,
    /// biowave version that trained it.
    pub crate_version: &'a str,
    /// Output rate, Hz (`--fs` resamples it).
    pub sample_rate: f64,
    /// Output channels: label, unit, range.
    pub channels: &'a [crate::record::ChannelSpec],
    /// Training windows are one per beat.
    pub beat_aligned: bool,
    /// STFT size and hop of its spectral frames.
    pub n_fft: usize,
    /// STFT hop.
    pub hop: usize,
    /// Parameters its config declares.
    pub parameters: u64,
    /// Sampling temperature it uses unless told otherwise (transformers).
    pub temperature: Option<f32>,
    /// The training windows' loudness spread its sampler adds (`train --envelope`).
    pub envelope: Option<crate::model::envelope::EnvelopeTarget>,
    /// Seconds of the training signals' baseline and noise its sampler replays
    /// (`train --wander`).
    pub wander_s: Option<f64>,
    /// The waveform shape its sampler gives its output (`train --shape`; a latent
    /// transformer's is its codec's): the window its local loudness is taken over and the
    /// quantile levels per channel.
    pub shape: Option<ShapeInfo>,
    /// The band from 0 Hz in which its output's spectrum is matched to the record's at
    /// ~0.05 Hz resolution (`train --fine-eq`; a latent transformer's is its codec's).
    pub fine_eq_hz: Option<f32>,
    /// Training beats of each kind whose mean beat its output's beats are given (`train
    /// --beat-means`; a latent transformer's are its codec's).
    pub beat_means: Option<Vec<u32>>,
    /// Per kind, the label its beats are given and how many of its training beats carry it
    /// in their record's annotations (`train --beat-means` or a frame transformer's
    /// `--clock-kinds` on labelled records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beat_labels: Option<Vec<KindLabel>>,
    /// Training files and their sha256.
    pub trained_on: &'a [(String, String)],
    /// Seed, optimiser steps, the command that made it, its last losses.
    pub seed: u64,
    /// Optimiser steps.
    pub steps: u64,
    /// The exact training command.
    pub command: &'a str,
    /// Last training and validation losses.
    pub losses: &'a serde_json::Value,
}

/// The label of one kind of beat (`model::beat_mean`) and its training beats that carry it.
#[derive(Debug, Serialize)]
pub struct KindLabel {
    /// MIT-BIH beat code.
    pub label: String,
    /// Training beats of the kind labelled so in their record.
    pub labelled: u32,
}

/// What `info` says of a checkpoint's waveform shape (`model::shape`).
#[derive(Debug, Serialize)]
pub struct ShapeInfo {
    /// Window of the local loudness, seconds.
    pub window_s: f64,
    /// Quantile levels per channel.
    pub levels: usize,
}

/// The checkpoint `arg` names, if it names one rather than a recording: a directory with a
/// config.json, or a model name found under `./models` or `$BIOWAVE_MODELS`.
pub fn checkpoint_dir(arg: &Path) -> Option<PathBuf> {
    if arg.is_dir() {
        return Some(arg.to_path_buf());
    }
    let name = arg.to_str().filter(|_| !arg.exists())?;
    let dir = checkpoint::locate(name);
    dir.join("config.json").exists().then_some(dir)
}

/// Describes the checkpoint at `dir` as text or JSON.
pub fn describe(dir: &Path, json: bool) -> crate::Result<String> {
    if !dir.join("config.json").exists() {
        return Err(crate::Error::bad_path(
            dir,
            "a directory, neither a recording nor a checkpoint (no config.json)",
        ));
    }
    let cfg = checkpoint::load_config(dir)?;
    let mut j = to_json(dir, &cfg);
    if let Some(codec) = &cfg.codec {
        // A latent transformer's output is its codec's decoder's: so are its shape and
        // equaliser.
        let codec = checkpoint::load_config(&dir.join(codec))?;
        (j.shape, j.fine_eq_hz) = (shape_info(&codec), fine_eq_hz(&codec));
        (j.beat_means, j.beat_labels) = (beat_means(&codec), beat_labels(&codec));
    }
    Ok(if json {
        serde_json::to_string_pretty(&j).expect("model JSON serialises") + "\n"
    } else {
        render_text(&j)
    })
}

fn to_json<'a>(dir: &Path, cfg: &'a CheckpointConfig) -> ModelJson<'a> {
    ModelJson {
        checkpoint: dir.display().to_string(),
        kind: &cfg.kind,
        over_codec: cfg.codec.is_some(),
        crate_version: &cfg.crate_version,
        sample_rate: cfg.spec.sample_rate,
        channels: &cfg.spec.channels,
        beat_aligned: cfg.data.beats.is_some(),
        n_fft: cfg.data.spectral.n_fft,
        hop: cfg.data.spectral.hop,
        parameters: cfg.n_params(),
        temperature: cfg.temperature,
        envelope: cfg.envelope,
        wander_s: cfg.wander.as_ref().map(|w| w.seconds()),
        shape: shape_info(cfg),
        fine_eq_hz: fine_eq_hz(cfg),
        beat_means: beat_means(cfg),
        beat_labels: beat_labels(cfg),
        trained_on: &cfg.fingerprints,
        seed: cfg.seed,
        steps: cfg.step,
        command: &cfg.command,
        losses: &cfg.losses,
    }
}

/// The waveform shape `cfg`'s sampler gives its output, if it was trained with one.
fn shape_info(cfg: &CheckpointConfig) -> Option<ShapeInfo> {
    cfg.shape.as_ref().map(|s| ShapeInfo {
        window_s: s.window_s,
        levels: s.p.len(),
    })
}

/// The top of `cfg`'s fine low equaliser band, Hz, if it was trained with one.
fn fine_eq_hz(cfg: &CheckpointConfig) -> Option<f32> {
    cfg.spectrum.as_ref()?.low.as_ref().map(|l| l.below_hz)
}

/// Training beats per kind of `cfg`'s mean beats, if it was trained with them.
fn beat_means(cfg: &CheckpointConfig) -> Option<Vec<u32>> {
    cfg.beat_means.as_ref().map(|b| b.counts.clone())
}

/// The labels of `cfg`'s kinds of beat (a VAE's `--beat-means`, a frame transformer's
/// `--clock-kinds`), if its training records carried beat labels.
fn beat_labels(cfg: &CheckpointConfig) -> Option<Vec<KindLabel>> {
    let (labels, labelled) = match (&cfg.beat_means, &cfg.transformer) {
        (Some(b), _) => (&b.labels, &b.labelled),
        (None, Some(t)) => (&t.kind_labels, &t.kind_labelled),
        (None, None) => return None,
    };
    let each = Some(labels.iter().zip(labelled)).filter(|_| !labels.is_empty())?;
    Some(
        each.map(|(l, &n)| KindLabel {
            label: l.clone(),
            labelled: n,
        })
        .collect(),
    )
}

fn render_text(j: &ModelJson) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let what = match (j.kind, j.over_codec, j.beat_aligned) {
        ("transformer", true, _) => "transformer over a VAE's latents (codec/)",
        ("transformer", false, _) => "transformer over spectral frames",
        (_, _, true) => "VAE over beat-aligned windows",
        _ => "VAE over windows",
    };
    let _ = writeln!(out, "{} (checkpoint): {what}", j.checkpoint);
    let _ = writeln!(
        out,
        "output:     {} Hz (resample with --fs), {} channel(s)",
        j.sample_rate,
        j.channels.len()
    );
    for (i, c) in j.channels.iter().enumerate() {
        let (lo, hi) = (c.range.0 as f32, c.range.1 as f32);
        let _ = writeln!(
            out,
            "  {:>3}  {:<16} {:<6} [{lo}, {hi}]",
            i + 1,
            c.label,
            c.unit
        );
    }
    let _ = writeln!(
        out,
        "model:      {} parameters, STFT n_fft {} hop {}{}",
        j.parameters,
        j.n_fft,
        j.hop,
        j.temperature
            .map(|t| format!(", temperature {t}"))
            .unwrap_or_default()
    );
    targets_text(&mut out, j);
    let _ = writeln!(
        out,
        "trained:    {} steps, seed {}, biowave {}",
        j.steps, j.seed, j.crate_version
    );
    for (file, sha) in j.trained_on {
        // The first 16 characters (the config is untrusted: not sliced inside a char).
        let short = sha.get(..16).unwrap_or(sha);
        let _ = writeln!(out, "  on {file} (sha256 {short})");
    }
    let _ = writeln!(out, "command:    {}", j.command);
    let _ = writeln!(out, "losses:     {}", j.losses);
    out
}

/// The lines on what the sampler matches to its records: shape, fine equaliser band,
/// envelope, mean beats.
fn targets_text(out: &mut String, j: &ModelJson) {
    use std::fmt::Write as _;
    if let Some(s) = &j.shape {
        let _ = writeln!(
            out,
            "shape:      the record's waveform within its loudness over {} s windows, {} quantiles a channel",
            s.window_s, s.levels
        );
    }
    if let Some(hz) = j.fine_eq_hz {
        let _ = writeln!(
            out,
            "fine eq:    the record's spectrum from 0 to {hz} Hz at ~0.05 Hz resolution, levels included"
        );
    }
    if let Some(e) = &j.envelope {
        let _ = writeln!(
            out,
            "envelope:   windows of {} s vary by sd {:.3} in log10 RMS (rho {:.2}) in training",
            e.window_s, e.sd, e.rho
        );
    }
    if let Some(s) = j.wander_s {
        let _ = writeln!(
            out,
            "wander:     {s:.0} s of the record's baseline below 1 Hz and its noise, replayed"
        );
    }
    if let Some(counts) = &j.beat_means {
        let counts: Vec<String> = counts.iter().map(u32::to_string).collect();
        let _ = writeln!(
            out,
            "beat means: {} kind{} of beat ({} training beats), each given the record's mean beat",
            counts.len(),
            if counts.len() == 1 { "" } else { "s" },
            counts.join(" / ")
        );
    }
    if let Some(labels) = &j.beat_labels {
        let each: Vec<String> = (labels.iter())
            .map(|k| format!("{} ({} labelled so)", k.label, k.labelled))
            .collect();
        let _ = writeln!(
            out,
            "beat labels: {}, by the training records' annotations",
            each.join(" / ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config.json is untrusted: a training file's "sha256" of multibyte characters is
    /// shown, not sliced inside a character.
    #[test]
    fn text_of_a_hostile_fingerprint_does_not_panic() {
        let channels = [crate::record::ChannelSpec {
            label: "II".into(),
            unit: "mV".into(),
            range: (-5.0, 5.0),
        }];
        let trained_on = [("a.edf".to_string(), "ééééééééééééééééé".to_string())];
        let losses = serde_json::json!({});
        let j = ModelJson {
            checkpoint: "x".into(),
            kind: "vae",
            over_codec: false,
            crate_version: "0",
            sample_rate: 360.0,
            channels: &channels,
            beat_aligned: true,
            n_fft: 64,
            hop: 16,
            parameters: 1,
            temperature: None,
            envelope: None,
            wander_s: None,
            shape: None,
            fine_eq_hz: None,
            beat_means: Some(vec![367, 130]),
            beat_labels: None,
            trained_on: &trained_on,
            seed: 1,
            steps: 1,
            command: "biowave train",
            losses: &losses,
        };
        let text = render_text(&j);
        assert!(text.contains("on a.edf (sha256 éééééééé)"), "{text}");
        assert!(
            text.contains("2 kinds of beat (367 / 130 training beats)"),
            "{text}"
        );
    }
}
