//! `biowave info FILE [--json]`: a recording's header, or a checkpoint's description
//! (`info_model`).

use crate::record::RecordInfo;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `biowave info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The recording (EDF, EDF+, BDF, HDF5, CSV), or a checkpoint: a model name such as
    /// `ecg-vae` or its directory.
    pub file: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Reading options for HDF5 and CSV inputs.
    #[command(flatten)]
    pub read: super::read_args::ReadArgs,
}

/// How many annotations `info` lists (the count is always complete).
const FIRST_ANNOTATIONS: usize = 10;

/// The stable JSON shape of `biowave info --json` (documented in README).
#[derive(Debug, Serialize)]
pub struct InfoJson<'a> {
    /// The file as given.
    pub file: String,
    /// `edf`, `bdf`, `hdf5`, `csv`.
    pub format: crate::io::Format,
    /// Longest channel duration in seconds.
    pub duration_s: f64,
    /// ISO 8601 start date and time, or null.
    pub start: Option<String>,
    /// Patient identification.
    pub patient: &'a str,
    /// Recording identification.
    pub recording: &'a str,
    /// One entry per channel.
    pub channels: Vec<ChannelJson<'a>>,
    /// Number of annotations.
    pub annotations_count: usize,
    /// The first annotations.
    pub annotations: &'a [crate::record::Annotation],
    /// Contiguous stretches of an EDF+D file (empty when continuous).
    pub segments: &'a [crate::record::Segment],
}

/// A channel in `info --json`.
#[derive(Debug, Serialize)]
pub struct ChannelJson<'a> {
    /// Label.
    pub label: &'a str,
    /// Physical unit.
    pub unit: &'a str,
    /// Samples per second.
    pub sample_rate: f64,
    /// Number of samples.
    pub samples: u64,
    /// `[physical_min, physical_max]` as the header declares them (EDF/BDF); `null` for
    /// float formats (HDF5, CSV), which declare no range.
    pub physical_range: Option<[f64; 2]>,
}

/// Prints the recording's header (or the checkpoint's description).
pub fn run(args: Args) -> crate::Result<()> {
    if let Some(dir) = super::info_model::checkpoint_dir(&args.file) {
        return emit(&super::info_model::describe(&dir, args.json)?);
    }
    let reader = crate::io::open_with(&args.file, &args.read.options())?;
    let info = reader.info();
    let format = crate::io::Format::detect(&args.file)?;
    let j = to_json(&args.file, format, info);
    let text = if args.json {
        serde_json::to_string_pretty(&j).expect("info JSON serialises") + "\n"
    } else {
        render_text(&j)
    };
    emit(&text)
}

/// Writes to stdout; a reader that closed the pipe early (`| head`) is not an error.
fn emit(text: &str) -> crate::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(crate::Error::os("writing to stdout", e))
        }
        _ => Ok(()),
    }
}

fn to_json<'a>(
    file: &std::path::Path,
    format: crate::io::Format,
    info: &'a RecordInfo,
) -> InfoJson<'a> {
    let n = info.meta.annotations.len().min(FIRST_ANNOTATIONS);
    InfoJson {
        file: file.display().to_string(),
        format,
        duration_s: info.duration_s(),
        start: info
            .meta
            .start
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()),
        patient: &info.meta.patient,
        recording: &info.meta.recording,
        channels: info
            .channels
            .iter()
            .map(|c| ChannelJson {
                label: &c.meta.label,
                unit: &c.meta.unit,
                sample_rate: c.meta.sample_rate,
                samples: c.n_samples,
                physical_range: c.meta.declared_range(),
            })
            .collect(),
        annotations_count: info.meta.annotations.len(),
        annotations: &info.meta.annotations[..n],
        segments: &info.meta.segments,
    }
}

/// The human-readable listing.
fn render_text(j: &InfoJson) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({:?}), {:.3} s, start {}",
        j.file,
        j.format,
        j.duration_s,
        j.start.as_deref().unwrap_or("unknown")
    );
    if !j.patient.is_empty() {
        let _ = writeln!(out, "patient:   {}", j.patient);
    }
    if !j.recording.is_empty() {
        let _ = writeln!(out, "recording: {}", j.recording);
    }
    let _ = writeln!(
        out,
        "{:>3}  {:<16} {:<6} {:>10} {:>12}  physical range",
        "#", "label", "unit", "rate Hz", "samples"
    );
    for (i, c) in j.channels.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:>3}  {:<16} {:<6} {:>10} {:>12}  {}",
            i + 1,
            c.label,
            c.unit,
            c.sample_rate,
            c.samples,
            c.physical_range
                .map_or("– (float samples)".into(), |[lo, hi]| format!(
                    "[{lo}, {hi}]"
                ))
        );
    }
    if !j.segments.is_empty() {
        let _ = writeln!(out, "discontinuous: {} segments", j.segments.len());
        for s in j.segments {
            let _ = writeln!(out, "  {:>10.3} s  +{:.3} s", s.onset, s.duration);
        }
    }
    let shown = if j.annotations.len() < j.annotations_count {
        format!(" (the first {})", j.annotations.len())
    } else {
        String::new()
    };
    let _ = writeln!(out, "annotations: {}{shown}", j.annotations_count);
    for a in j.annotations {
        let d = a.duration.map(|d| format!(" ({d} s)")).unwrap_or_default();
        let _ = writeln!(out, "  {:>10.3} s{d}  {}", a.onset, a.text);
    }
    out
}
