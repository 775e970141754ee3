//! `biowave convert IN OUT [--channels A,B] [--start S] [--end S] [--resample HZ] [--fs HZ]
//! [--h5-dataset PATH]`.

use crate::io::{Format, Selection};
use crate::record::Record;
use std::path::{Path, PathBuf};

/// Arguments of `biowave convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input recording.
    pub input: PathBuf,
    /// Output recording; the format follows the extension.
    pub output: PathBuf,
    /// Channels to keep, comma-separated labels, in output order.
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<String>>,
    /// Start of the time range to keep, in seconds.
    #[arg(long, default_value_t = 0.0)]
    pub start: f64,
    /// End of the time range to keep, in seconds.
    #[arg(long)]
    pub end: Option<f64>,
    /// Resample every channel to this rate (Hz) before writing: polyphase with a
    /// Kaiser-windowed anti-aliasing FIR, as `scipy.signal.resample_poly`.
    #[arg(long)]
    pub resample: Option<f64>,
    /// Write over OUT (and a CSV's events file) where it exists; without it an existing
    /// file is refused, so a second convert cannot replace an earlier one unasked.
    #[arg(long)]
    pub overwrite: bool,
    /// Reading options for HDF5 and CSV inputs.
    #[command(flatten)]
    pub read: super::read_args::ReadArgs,
}

/// Converts one recording into another format.
pub fn run(args: Args) -> crate::Result<()> {
    let target = Format::from_extension(&args.output)
        .ok_or_else(|| crate::io::Error::UnknownFormat(args.output.clone()))?;
    if super::same_file(&args.input, &args.output) {
        return Err(crate::Error::BadInput(format!(
            "{}: the output is the input file; write to another path (a convert keeps a \
             part of it, and a failure half-way would lose the rest)",
            args.output.display()
        )));
    }
    let events = (target == Format::Csv).then(|| crate::events::EventLog::beside(&args.output));
    super::refuse_existing(
        std::iter::once(args.output.as_path()).chain(events.as_deref()),
        args.overwrite,
    )?;
    let mut reader = crate::io::open_with(&args.input, &args.read.options())?;
    check_range(&args, reader.info().duration_s())?;
    let sel = Selection {
        channels: args.channels.clone(),
        start_s: args.start,
        end_s: args.end,
    };
    let mut record = read_joined(reader.as_mut(), &args, &sel)?;
    if let Some(hz) = args.resample {
        for ch in &mut record.channels {
            crate::dsp::resample::resample_channel(ch, hz).map_err(|e| {
                crate::Error::BadInput(format!("{}: --resample: {e}", args.input.display()))
            })?;
        }
    }
    for note in dropped(&record, target) {
        eprintln!("biowave: {}: {note}", args.output.display());
    }
    crate::io::save(&record, &args.output)?;
    if target == Format::Csv && !record.meta.annotations.is_empty() {
        events_beside(&args.output, &record)?;
    }
    Ok(())
}

/// Reads the selection. Every output format is continuous, so an EDF+D's stretches are
/// joined: read whole, its annotations moved to the joined time ([`crate::record::RecordMeta::close_gaps`]),
/// then cut to the range in joined seconds, starting at its first sample's own time.
fn read_joined(
    reader: &mut dyn crate::io::Reader,
    args: &Args,
    sel: &Selection,
) -> crate::Result<Record> {
    if reader.info().meta.segments.is_empty() {
        return Ok(reader.read(sel)?);
    }
    let mut whole = reader.read(&Selection {
        channels: args.channels.clone(),
        ..Selection::all()
    })?;
    eprintln!(
        "biowave: {}: {} discontinuous stretches joined back to back (each gap dropped, \
         marked by an annotation)",
        args.output.display(),
        whole.meta.segments.len()
    );
    let (start, first) = (whole.meta.start, whole.meta.recording_time(args.start));
    whole.meta.close_gaps();
    sel.cut(&mut whole);
    whole.meta.start = crate::record::start_after(start, first);
    Ok(whole)
}

/// Writes `record`'s annotations to the events CSV beside the CSV `output` (which holds
/// none itself) and says so.
fn events_beside(output: &Path, record: &Record) -> crate::Result<()> {
    let events = crate::events::EventLog::beside(output);
    let rate = record.channels.first().map_or(1.0, |c| c.meta.sample_rate);
    crate::events::write_annotations(&events, &record.meta.annotations, rate)?;
    eprintln!(
        "biowave: {}: {} annotations written to {} (CSV holds none)",
        output.display(),
        record.meta.annotations.len(),
        events.display()
    );
    Ok(())
}

/// Refuses a time range that keeps no samples: negative, empty, or starting at or past the
/// end of the recording (which would write a file no reader accepts).
fn check_range(args: &Args, duration_s: f64) -> crate::Result<()> {
    let sel = Selection {
        start_s: args.start,
        end_s: args.end,
        ..Selection::all()
    };
    match sel.range_problem(duration_s) {
        Some(p) => Err(crate::Error::BadInput(format!(
            "{}: {p}",
            args.input.display()
        ))),
        None => Ok(()),
    }
}

/// What the target format cannot hold of this record.
fn dropped(r: &crate::record::Record, target: Format) -> Vec<String> {
    let mut notes = Vec::new();
    let rates: Vec<f64> = r.channels.iter().map(|c| c.meta.sample_rate).collect();
    let one_rate = rates.windows(2).all(|w| w[0] == w[1]);
    if matches!(target, Format::Csv | Format::Hdf5) && !one_rate {
        notes.push("channels have different sample rates; this format holds one rate".into());
    }
    if target == Format::Edf && r.channels.iter().any(|c| c.meta.digital_max > 32_767) {
        notes.push("24-bit samples stored in 16 bits (quantised to the EDF range)".into());
    }
    notes
}
