//! CSV: a `time` column (seconds) and one column per channel headed `label [unit]`.
//!
//! The rate comes from the time column (which must be uniform) or `--fs` when there is no
//! time column. CSV holds one rate and no annotations: those are read from, and `convert`
//! writes them to, the events CSV beside it (`NAME.events.csv`, as `generate` writes).

use crate::block::Block;
use crate::io::{Error, OpenOptions, Reader, Result, Selection, Writer};
use crate::record::{
    Annotation, Channel, ChannelInfo, ChannelMeta, Record, RecordInfo, RecordMeta, SignalSpec,
};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A CSV recording, parsed whole on open (CSV has no index to seek by).
pub struct CsvReader {
    path: PathBuf,
    info: RecordInfo,
    columns: Vec<Vec<f32>>,
}

/// `label [unit]` → (`label`, `unit`); a plain header is a label without unit.
fn split_header(h: &str) -> (String, String) {
    let h = h.trim();
    match (h.rfind('['), h.ends_with(']')) {
        (Some(i), true) => (
            h[..i].trim().to_string(),
            h[i + 1..h.len() - 1].trim().to_string(),
        ),
        _ => (h.to_string(), String::new()),
    }
}

impl CsvReader {
    /// Parses `path`; errors name the line and column of the first bad cell.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self> {
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(path)
            .map_err(|e| Error::format(path, "file", e.to_string()))?;
        let headers = rdr
            .headers()
            .map_err(|e| Error::format(path, "header row", e.to_string()))?
            .clone();
        let has_time = headers
            .get(0)
            .is_some_and(|h| split_header(h).0.eq_ignore_ascii_case("time"));
        let first = usize::from(has_time);
        let names: Vec<(String, String)> = headers.iter().skip(first).map(split_header).collect();
        if names.is_empty() {
            return Err(Error::format(path, "header row", "no signal columns"));
        }
        let (time, columns) = read_rows(path, &mut rdr, first, names.len())?;
        let rate = rate(path, &time, opts)?;
        let n = columns[0].len() as u64;
        let channels = names
            .into_iter()
            .map(|(label, unit)| ChannelInfo {
                meta: ChannelMeta::new(label, unit, rate),
                n_samples: n,
            })
            .collect();
        let info = RecordInfo {
            meta: RecordMeta {
                annotations: events_beside(path)?,
                ..RecordMeta::default()
            },
            channels,
        };
        Ok(CsvReader {
            path: path.to_path_buf(),
            info,
            columns,
        })
    }
}

/// The annotations listed in `NAME.events.csv` beside `path` (`time_s` and `label`
/// columns, `duration_s` where given and above 0); none when there is no such file.
fn events_beside(path: &Path) -> Result<Vec<Annotation>> {
    let events = crate::events::EventLog::beside(path);
    if !events.is_file() {
        return Ok(Vec::new());
    }
    let bad = |field: String, e: String| Error::format(&events, field, e);
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(&events)
        .map_err(|e| bad("file".into(), e.to_string()))?;
    let headers = rdr
        .headers()
        .map_err(|e| bad("header row".into(), e.to_string()))?;
    let col = |name: &str| headers.iter().position(|h| h == name);
    let [time, _, duration, label] = crate::events::COLUMNS;
    let (Some(t), Some(l)) = (col(time), col(label)) else {
        return Err(bad(
            "header row".into(),
            "needs `time_s` and `label` columns".into(),
        ));
    };
    let d = col(duration);
    let mut out = Vec::new();
    each_row(&events, &mut rdr, |line, row| {
        let number = |k: usize| -> Result<f64> {
            let cell = row.get(k).unwrap_or("");
            (cell.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    bad(
                        format!("line {line}"),
                        format!("`{cell}` is not a time in seconds"),
                    )
                })
        };
        let duration = d.map(number).transpose()?.filter(|&v| v > 0.0);
        out.push(Annotation {
            onset: number(t)?,
            duration,
            text: row.get(l).unwrap_or("").to_string(),
        });
        Ok(())
    })?;
    Ok(out)
}

/// Every data row: the time column (when `first` is 1) and `n` signal columns.
fn read_rows(
    path: &Path,
    rdr: &mut csv::Reader<std::fs::File>,
    first: usize,
    n: usize,
) -> Result<(Vec<f64>, Vec<Vec<f32>>)> {
    let mut time = Vec::new();
    let mut columns: Vec<Vec<f32>> = vec![Vec::new(); n];
    each_row(path, rdr, |line, rec| {
        let values = (rec.iter().enumerate())
            .map(|(k, cell)| cell_value(path, line, k, cell))
            .collect::<Result<Vec<f64>>>()?;
        for (k, v) in values.into_iter().enumerate() {
            if k < first {
                time.push(v);
            } else {
                columns[k - first].push(v as f32);
            }
        }
        Ok(())
    })?;
    Ok((time, columns))
}

/// Calls `take` with each row and its line number, stopping at the first error, except
/// that a last row cut short with no newline after it (what a killed writer leaves) is
/// left out with a warning. `take` must change nothing when it fails.
fn each_row(
    path: &Path,
    rdr: &mut csv::Reader<std::fs::File>,
    mut take: impl FnMut(usize, &csv::StringRecord) -> Result<()>,
) -> Result<()> {
    let mut rows = rdr.records().enumerate().peekable();
    while let Some((row, rec)) = rows.next() {
        let line = row + 2;
        let done = rec
            .map_err(|e| Error::format(path, format!("line {line}"), e.to_string()))
            .and_then(|rec| take(line, &rec));
        match done {
            Err(_) if rows.peek().is_none() && !ends_with_newline(path)? => {
                tracing::warn!(
                    "{}: line {line} is cut short, as a killed writer leaves it: not read",
                    path.display()
                );
            }
            other => other?,
        }
    }
    Ok(())
}

/// True when the file's last byte is a newline (a row a writer finished).
fn ends_with_newline(path: &Path) -> Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path).map_err(|e| Error::open(path, e))?;
    let mut last = [0u8; 1];
    let at_end = f
        .seek(SeekFrom::End(-1))
        .and_then(|_| f.read_exact(&mut last));
    Ok(at_end.is_ok() && last[0] == b'\n')
}

/// One cell as a finite number; the error names the line and column.
fn cell_value(path: &Path, line: usize, k: usize, cell: &str) -> Result<f64> {
    let v: f64 = cell.parse().map_err(|_| {
        Error::format(
            path,
            format!("line {line}, column {}", k + 1),
            format!("`{cell}` is not a number"),
        )
    })?;
    if !v.is_finite() {
        return Err(Error::format(
            path,
            format!("line {line}, column {}", k + 1),
            format!("{v} is not finite"),
        ));
    }
    Ok(v)
}

/// The sample rate: `--fs` (logged where it overrides the time column's), else 1 / the time
/// column's (uniform) step.
fn rate(path: &Path, time: &[f64], opts: &OpenOptions) -> Result<f64> {
    if let Some(fs) = opts.sample_rate {
        return if fs.is_finite() && fs > 0.0 {
            if let [first, .., last] = time {
                let stated = (time.len() - 1) as f64 / (last - first);
                if (stated - fs).abs() > 1e-3 * fs {
                    tracing::warn!(
                        "{}: --fs {fs} Hz overrides the time column's {stated:.6} Hz",
                        path.display()
                    );
                }
            }
            Ok(fs)
        } else {
            Err(Error::format(
                path,
                "--fs",
                format!("{fs} is not a positive rate"),
            ))
        };
    }
    if time.len() < 2 {
        return Err(Error::format(
            path,
            "time",
            "no time column (or under two rows): give --fs",
        ));
    }
    let dt = (time[time.len() - 1] - time[0]) / (time.len() - 1) as f64;
    let bad = time
        .windows(2)
        .position(|w| ((w[1] - w[0]) - dt).abs() > 1e-3 * dt.abs() + 1e-9);
    match bad {
        _ if dt <= 0.0 => Err(Error::format(path, "time", "times do not increase")),
        Some(i) => Err(Error::format(
            path,
            format!("time, line {}", i + 3),
            format!(
                "step {} s differs from the mean step {dt} s: samples must be uniform",
                time[i + 1] - time[i]
            ),
        )),
        None => Ok((1.0 / dt * 1e6).round() / 1e6),
    }
}

impl Reader for CsvReader {
    fn info(&self) -> &RecordInfo {
        &self.info
    }

    fn read(&mut self, sel: &Selection) -> Result<Record> {
        let picks = sel.resolve(&self.info, &self.path)?;
        let rate = self.info.channels[0].meta.sample_rate;
        let (a, b) = sel.sample_range(rate, self.columns[0].len() as u64);
        let channels = picks
            .iter()
            .map(|&c| Channel {
                meta: self.info.channels[c].meta.clone(),
                samples: self.columns[c][a as usize..b as usize].to_vec(),
            })
            .collect();
        let mut meta = self.info.meta.clone();
        sel.clip_meta(&mut meta);
        Ok(Record { meta, channels })
    }
}

/// Streams frames to a CSV file, one row per frame.
pub struct CsvWriter {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    rate: f64,
    frame: u64,
    line: String,
}

impl CsvWriter {
    /// Creates `path` and writes the header row.
    pub fn create(path: &Path, spec: &SignalSpec) -> Result<Self> {
        let f = File::create(path).map_err(|e| Error::open(path, e))?;
        let mut out = BufWriter::new(f);
        let mut head = String::from("time");
        for c in &spec.channels {
            head.push(',');
            head.push_str(&header_cell(&c.label, &c.unit));
        }
        writeln!(out, "{head}").map_err(|e| Error::open(path, e))?;
        Ok(CsvWriter {
            path: path.to_path_buf(),
            out: Some(out),
            rate: spec.sample_rate,
            frame: 0,
            line: String::new(),
        })
    }

    /// Appends frames given per channel (all slices the same length).
    pub fn push(&mut self, per_channel: &[&[f32]]) -> Result<()> {
        use std::fmt::Write as _;
        let n = per_channel.first().map_or(0, |c| c.len());
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| Error::open(&self.path, std::io::Error::other("finished")))?;
        for i in 0..n {
            self.line.clear();
            let _ = write!(self.line, "{}", self.frame as f64 / self.rate);
            for c in per_channel {
                let _ = write!(self.line, ",{}", c[i]);
            }
            self.line.push('\n');
            out.write_all(self.line.as_bytes())
                .map_err(|e| Error::open(&self.path, e))?;
            self.frame += 1;
        }
        Ok(())
    }
}

/// `label [unit]`, quoted when the label holds a comma or quote.
fn header_cell(label: &str, unit: &str) -> String {
    let cell = if unit.is_empty() {
        label.to_string()
    } else {
        format!("{label} [{unit}]")
    };
    if cell.contains([',', '"', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

impl Writer for CsvWriter {
    fn write(&mut self, block: &Block) -> Result<()> {
        let chans: Vec<&[f32]> = (0..block.n_channels).map(|c| block.channel(c)).collect();
        self.push(&chans)
    }

    fn finish(&mut self) -> Result<()> {
        match self.out.take() {
            Some(mut o) => o.flush().map_err(|e| Error::open(&self.path, e)),
            None => Ok(()),
        }
    }
}

/// Writes a whole record (one rate for all channels) as CSV.
pub fn save(record: &Record, path: &Path) -> Result<()> {
    let spec = crate::io::one_rate_spec(record, path, "CSV")?;
    let mut w = CsvWriter::create(path, &spec)?;
    let n = record
        .channels
        .iter()
        .map(|c| c.samples.len())
        .min()
        .unwrap_or(0);
    let chans: Vec<&[f32]> = record.channels.iter().map(|c| &c.samples[..n]).collect();
    w.push(&chans)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_carry_units_in_brackets() {
        assert_eq!(split_header("ECG II [mV]"), ("ECG II".into(), "mV".into()));
        assert_eq!(split_header("Fz"), ("Fz".into(), String::new()));
        assert_eq!(header_cell("a,b", "uV"), "\"a,b [uV]\"");
    }
}
