//! `train`'s records as the data set sees them: each file read once, put in the first
//! file's units, split at an EDF+D's gaps, and cut into pieces for validation when fewer
//! than three stretches are given.

use super::train::{window_and_stft, Args};
use crate::data::Source;
use crate::record::{ChannelMeta, Record};

/// Pieces a recording is cut into when fewer than three are given, so that validation can
/// hold out whole stretches of time (never windows of one piece on both sides).
const PIECES: usize = 5;

/// Samples at `fs` Hz that one training window of whole STFT frames needs (frames not
/// reaching into the zero padding: `Representation::interior`).
fn window_samples(fs: f64, args: &Args) -> usize {
    let (window_s, n_fft, hop) = window_and_stft(args);
    let hop = hop.max(1);
    let window_frames = ((window_s * fs / hop as f64).round() as usize).max(1);
    n_fft / 2 + hop * (window_frames + (n_fft / 2).div_ceil(hop) - 1)
}

/// How many pieces a record of `n` samples at `fs` Hz is cut into: [`PIECES`], or fewer when
/// pieces that short would not hold one training window ([`window_samples`]); an error
/// below 2.
pub(super) fn piece_count(name: &str, n: usize, fs: f64, args: &Args) -> crate::Result<usize> {
    let (window_s, n_fft, _) = window_and_stft(args);
    let need = window_samples(fs, args);
    match n / need.max(1) {
        k if k >= 2 => Ok(k.min(PIECES)),
        _ => Err(crate::Error::BadInput(format!(
            "{name}: {:.2} s is too short to train on alone: it is cut into 2 to {PIECES} \
             stretches for validation, each needing {:.2} s (the {window_s} s window \
             (--window-s) plus the edge frames of n_fft {n_fft}); give a longer recording, \
             three or more files, or a shorter --window-s",
            n as f64 / fs,
            need as f64 / fs
        ))),
    }
}

/// Every `--data` file read (each record of a 3-D HDF5 file, `FILE[k]`), its channels in
/// the first file's units ([`match_units`]), and an EDF+D split into its contiguous
/// stretches (named `FILE@ONSETs`), those too short for one training window left out (said
/// on stderr when `say`: the first of the several reads one training run makes): the
/// records before any cutting.
pub(super) fn records(args: &Args, say: bool) -> crate::Result<Vec<Source>> {
    let mut out = Vec::new();
    let mut first: Option<(String, Vec<ChannelMeta>)> = None;
    let mut all = Vec::new();
    for p in &args.data {
        all.extend(crate::io::read_each(p)?);
    }
    for (name, mut rec) in all {
        cut(&name, &mut rec, args)?;
        match &first {
            Some((first, metas)) => match_units(&mut rec, &name, (first, metas), say)?,
            None => {
                first = Some((
                    name.clone(),
                    rec.channels.iter().map(|c| c.meta.clone()).collect(),
                ))
            }
        }
        out.extend(stretches(name, rec, args, say)?);
    }
    Ok(out)
}

/// `rec` cut to `--start`/`--end` (samples and annotations, onsets from the new start);
/// refused where the range keeps no samples, or in an EDF+D (whose seconds are not its
/// samples': cut it with `convert` first).
fn cut(name: &str, rec: &mut Record, args: &Args) -> crate::Result<()> {
    if args.start == 0.0 && args.end.is_none() {
        return Ok(());
    }
    let sel = crate::io::Selection {
        start_s: args.start,
        end_s: args.end,
        ..crate::io::Selection::all()
    };
    let problem = match rec.meta.segments.is_empty() {
        false => Some(
            "the recording is discontinuous (EDF+D): cut it with `biowave convert` first".into(),
        ),
        true => sel.range_problem(rec.duration_s()),
    };
    if let Some(p) = problem {
        return Err(crate::Error::BadInput(format!("{name}: {p}")));
    }
    sel.cut(rec);
    Ok(())
}

/// `rec` as one source, or an EDF+D's stretches each as one, those shorter than a training
/// window left out (logged when `say`); an error when none is long enough.
fn stretches(name: String, rec: Record, args: &Args, say: bool) -> crate::Result<Vec<Source>> {
    if rec.meta.segments.is_empty() || rec.channels.is_empty() {
        return Ok(vec![Source { name, record: rec }]);
    }
    let fs = args.fs.unwrap_or(rec.channels[0].meta.sample_rate);
    // A latent transformer's tokens are its codec's windows: `train_latent::tokens` judges.
    let need = match args.codec {
        Some(_) => 0,
        None => window_samples(fs, args),
    };
    let parts = rec.stretches();
    let total = parts.len();
    let (mut kept, mut short) = (Vec::new(), Vec::new());
    for (onset, record) in parts {
        let name = format!("{name}@{onset}s");
        match (record.duration_s() * fs) as usize >= need {
            true => kept.push(Source { name, record }),
            false => short.push(format!("{name} ({:.2} s)", record.duration_s())),
        }
    }
    if kept.is_empty() {
        return Err(crate::Error::BadInput(format!(
            "{name}: none of its {total} discontinuous stretches (EDF+D) holds one training \
             window of {:.2} s (--window-s)",
            need as f64 / fs
        )));
    }
    let left_out = match short.is_empty() {
        true => String::new(),
        false => format!(
            "; {} shorter than one training window ({:.2} s) left out",
            short.join(", "),
            need as f64 / fs
        ),
    };
    if say {
        tracing::warn!(
            "{name}: {} of its {total} discontinuous stretches trained on, each alone (no \
             window across a gap){left_out}",
            kept.len()
        );
    }
    Ok(kept)
}

/// The training records ([`records`], `say` passed on), each cut into up to [`PIECES`]
/// pieces when fewer than three are given.
pub(super) fn sources(args: &Args, say: bool) -> crate::Result<Vec<Source>> {
    let recs = records(args, say)?;
    if recs.len() >= 3 {
        return Ok(recs);
    }
    let mut out = Vec::new();
    for Source { name, record: rec } in recs {
        if rec.channels.is_empty() {
            out.push(Source { name, record: rec });
            continue;
        }
        let fs = args.fs.unwrap_or(rec.channels[0].meta.sample_rate);
        // A latent transformer's tokens are its codec's beat windows, not `--window-s` ones:
        // their own check (`train_latent::tokens`) judges the pieces.
        let pieces = match args.codec {
            Some(_) => PIECES,
            None => piece_count(&name, (rec.duration_s() * fs) as usize, fs, args)?,
        };
        // Each piece keeps the annotations within it, timed from its own start (the beat
        // labels that name a clock's kinds of beat must fall on its beats).
        let first = &rec.channels[0];
        let piece_s = (first.samples.len() / pieces) as f64 / first.meta.sample_rate;
        for k in 0..pieces {
            let mut piece = rec.clone();
            for c in &mut piece.channels {
                let n = c.samples.len() / pieces;
                c.samples = c.samples[k * n..(k + 1) * n].to_vec();
            }
            piece
                .meta
                .clip(k as f64 * piece_s, (k + 1) as f64 * piece_s);
            out.push(Source {
                name: format!("{name}#{k}"),
                record: piece,
            });
        }
    }
    Ok(out)
}

/// Puts `rec`'s channels in the units of the first file's channels (`first`: its name and
/// channels) of the same label: volts rescaled (a file in µV beside one in mV; logged when
/// `say`), other differing units refused.
fn match_units(
    rec: &mut Record,
    name: &str,
    (first_name, first): (&str, &[ChannelMeta]),
    say: bool,
) -> crate::Result<()> {
    for c in &mut rec.channels {
        let Some(to) = first
            .iter()
            .find(|m| m.label == c.meta.label)
            .map(|m| &m.unit)
        else {
            continue;
        };
        let (label, unit) = (&c.meta.label, &c.meta.unit);
        let k = match (say, crate::record::unit_scale(unit, to)) {
            (false, Some(k)) => k as f32,
            _ => crate::record::unit_factor(name, label, unit, to, first_name)
                .map_err(crate::Error::BadInput)?,
        };
        if k != 1.0 {
            c.samples.iter_mut().for_each(|x| *x *= k);
            c.meta.unit = to.clone();
        }
    }
    Ok(())
}
