//! Cutting recordings into equal windows of one channel set, refusing mismatched rates.

use crate::record::Record;
use crate::{Error, Result};

/// Windows of one data set: `windows[k][c]` is channel `c` of window `k`.
#[derive(Debug, Clone)]
pub struct Windows {
    /// Sample rate shared by every window.
    pub rate: f64,
    /// Channel labels, in order.
    pub labels: Vec<String>,
    /// Units of the channels.
    pub units: Vec<String>,
    /// The windows.
    pub windows: Vec<Vec<Vec<f32>>>,
    /// The set's first file, named where another set's channels are matched to it.
    pub source: String,
}

/// Which channels [`cut`] takes from each record.
#[derive(Debug, Clone, Copy)]
pub enum Pick<'a> {
    /// All of the first record's channels.
    All,
    /// Channels the user named (`--channels`): by label only, refused where one is missing.
    Named(&'a [String]),
    /// Another set's channels (its labels and first file): by label, else by position when
    /// the counts agree (MLII against II), with a warning.
    Like(&'a [String], &'a str),
}

impl Windows {
    /// Samples per window.
    pub fn len(&self) -> usize {
        self.windows
            .first()
            .and_then(|w| w.first())
            .map_or(0, Vec::len)
    }

    /// True when there are no windows.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

/// Non-overlapping windows of `window_s` seconds from `records` (named `what` in errors),
/// for the channels `pick` chooses; none spans a gap of an EDF+D.
pub fn cut(records: &[(String, Record)], pick: Pick, window_s: f64, what: &str) -> Result<Windows> {
    let (name0, first) = records
        .first()
        .ok_or_else(|| Error::BadInput(format!("{what}: no recordings given")))?;
    let (labels, like) = match pick {
        Pick::Named(l) => (l.to_vec(), None),
        Pick::Like(l, source) => (l.to_vec(), Some(source)),
        Pick::All => {
            let all = first.channels.iter();
            (
                all.map(|c| c.meta.label.trim().to_string()).collect(),
                Some(name0.as_str()),
            )
        }
    };
    let mut out = Windows {
        rate: 0.0,
        labels: labels.clone(),
        units: Vec::new(),
        windows: Vec::new(),
        source: name0.clone(),
    };
    for (name, rec) in records {
        let idx = channel_indices(name, rec, &labels, like, what)?;
        let rate = rec.channels[idx[0]].meta.sample_rate;
        if out.rate == 0.0 {
            out.rate = rate;
            out.units = idx
                .iter()
                .map(|&i| rec.channels[i].meta.unit.clone())
                .collect();
        }
        if idx
            .iter()
            .any(|&i| rec.channels[i].meta.sample_rate != out.rate)
        {
            return Err(Error::BadInput(format!(
                "{name}: sample rate {rate} Hz differs from {} Hz; resample first (biowave convert --resample HZ)",
                out.rate
            )));
        }
        let units: Vec<&str> = idx
            .iter()
            .map(|&i| rec.channels[i].meta.unit.as_str())
            .collect();
        let first = out.windows.len();
        push_windows(&mut out.windows, name, rec, &idx, window_s, rate)?;
        let scale = scales(name, &out.labels, &units, &out.units, &out.source)?;
        rescale(&mut out.windows[first..], &scale);
    }
    Ok(out)
}

impl Windows {
    /// Puts the windows in `units` (those of file `other`, channel by channel): volts are
    /// rescaled (a set in µV against one in mV), other differing units refused by name.
    pub fn to_units(&mut self, units: &[String], other: &str) -> Result<()> {
        let own: Vec<&str> = self.units.iter().map(String::as_str).collect();
        let scale = scales(&self.source, &self.labels, &own, units, other)?;
        rescale(&mut self.windows, &scale);
        self.units = units.to_vec();
        Ok(())
    }
}

/// Per channel, the factor from `units` to `to` (the units of file `whose`); a unit that
/// does not convert is refused, naming `name`, the channel and `whose`.
fn scales(
    name: &str,
    labels: &[String],
    units: &[&str],
    to: &[String],
    whose: &str,
) -> Result<Vec<f32>> {
    (labels.iter().zip(units).zip(to))
        .map(|((label, from), to)| crate::record::unit_factor(name, label, from, to, whose))
        .collect::<std::result::Result<_, String>>()
        .map_err(Error::BadInput)
}

/// Multiplies each window's channel `c` by `scale[c]` (nothing when all are 1).
fn rescale(windows: &mut [Vec<Vec<f32>>], scale: &[f32]) {
    if scale.iter().all(|&k| k == 1.0) {
        return;
    }
    for w in windows {
        for (ch, &k) in w.iter_mut().zip(scale) {
            ch.iter_mut().for_each(|x| *x *= k);
        }
    }
}

/// Where `labels` are among `rec`'s channels: by label, else (when they are `like` another
/// file's, not named by the user) by position where the counts agree (MLII vs II); refused
/// by name otherwise.
fn channel_indices(
    name: &str,
    rec: &Record,
    labels: &[String],
    like: Option<&str>,
    what: &str,
) -> Result<Vec<usize>> {
    match (rec.channel_indices(labels), like) {
        (Ok(i), _) => Ok(i),
        (Err(_), Some(source)) if rec.channels.len() == labels.len() => {
            tracing::warn!(
                "{name}: channel labels differ from {source}'s; matching channels by position"
            );
            Ok((0..labels.len()).collect())
        }
        (Err(_), Some(source)) => Err(Error::BadInput(format!(
            "{name}: channels {labels:?} not found (the {what} set needs the channels of {source}, or --channels)"
        ))),
        (Err(missing), None) => Err(Error::BadInput(format!("{name}: --channels: {missing}"))),
    }
}

/// Appends `rec`'s whole windows of `window_s` seconds (channels `idx`) to `windows`;
/// refused by name when not even one fits (or one would be under 16 samples).
fn push_windows(
    windows: &mut Vec<Vec<Vec<f32>>>,
    name: &str,
    rec: &Record,
    idx: &[usize],
    window_s: f64,
    rate: f64,
) -> Result<()> {
    let w = (window_s * rate).round() as usize;
    if w < 16 {
        return Err(Error::BadInput(format!(
            "{name}: a {window_s} s window is {w} samples at {rate} Hz, under the 16 a window needs (--window-s)"
        )));
    }
    // Every picked channel has the same rate, so their stretches lie at the same samples.
    let stretches = rec.stretch_ranges(idx[0]);
    let n = idx
        .iter()
        .map(|&i| rec.channels[i].samples.len())
        .min()
        .unwrap_or(0);
    let before = windows.len();
    for r in &stretches {
        let (start, len) = (r.start, r.end.min(n).saturating_sub(r.start));
        for k in 0..len / w {
            let at = start + k * w;
            windows.push(
                idx.iter()
                    .map(|&i| rec.channels[i].samples[at..at + w].to_vec())
                    .collect(),
            );
        }
    }
    if windows.len() == before {
        let longest = stretches.iter().map(|r| r.len()).max().unwrap_or(0).min(n);
        let what = match stretches.len() {
            1 => format!("its {n} samples"),
            s => format!("any of its {s} discontinuous stretches (the longest {longest} samples)"),
        };
        return Err(Error::BadInput(format!(
            "{name}: a {window_s} s window ({w} samples) does not fit {what} (--window-s)"
        )));
    }
    Ok(())
}
