//! `biowave eval --real FILE... --synth FILE... [--train FILE...] [--report DIR] [--json]`.

use crate::eval::labels::{self, LabelComparison};
use crate::eval::windows::{cut, Pick, Windows};
use std::path::PathBuf;

/// Arguments of `biowave eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Real recordings (a directory: the recordings in it).
    #[arg(long, num_args = 1.., required = true)]
    pub real: Vec<PathBuf>,
    /// Synthetic recordings (a directory: the recordings in it, e.g. a `generate` output).
    #[arg(long, num_args = 1.., required = true)]
    pub synth: Vec<PathBuf>,
    /// Training recordings of the generator (enables privacy metrics; a directory: the
    /// recordings in it).
    #[arg(long, num_args = 1..)]
    pub train: Vec<PathBuf>,
    /// Channels to compare.
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<String>>,
    /// Window length in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub window_s: f64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Write an HTML report into this directory.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// The records `paths` name: directories expanded, each record of a 3-D HDF5 file taken.
fn load(paths: &[PathBuf]) -> crate::Result<Vec<(String, crate::record::Record)>> {
    let mut out = Vec::new();
    for p in super::expand(paths)? {
        out.extend(crate::io::read_each(&p)?);
    }
    Ok(out)
}

/// Compares synthetic with real recordings: prints the metric table (or JSON) and writes
/// the HTML report when asked.
pub fn run(args: Args) -> crate::Result<()> {
    use crate::eval;
    if let Some(dir) = &args.report {
        // Made first, so a path that cannot hold the report fails before minutes of work.
        std::fs::create_dir_all(dir).map_err(|e| {
            crate::Error::BadInput(format!(
                "--report {}: not a directory it can make: {e}",
                dir.display()
            ))
        })?;
    }
    let (real, synth, train, beat_labels) = windows_of(&args)?;
    let cfg = eval::Config {
        window_s: args.window_s,
        folds: 5,
        seed: 0,
    };
    let mut report = eval::evaluate(&real, &synth, train.as_ref(), &cfg);
    report.beat_labels = beat_labels;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report JSON serialises")
        );
    } else {
        print!("{}", eval::report::table(&report));
    }
    if let Some(dir) = &args.report {
        eval::report::write_html(dir, &report, &real, &synth)
            .map_err(|e| crate::Error::os(format!("writing the report to {}", dir.display()), e))?;
        eprintln!(
            "biowave: report written to {}",
            dir.join("index.html").display()
        );
    }
    Ok(())
}

/// The real, synthetic and (with `--train`) training windows, on the real data's channels,
/// and the real and synthetic records' beat labels compared (each set's records dropped
/// once cut); refused when the rates differ or either set has fewer than 4 windows.
fn windows_of(
    args: &Args,
) -> crate::Result<(Windows, Windows, Option<Windows>, Option<LabelComparison>)> {
    if !(args.window_s.is_finite() && args.window_s > 0.0) {
        return Err(crate::Error::BadInput(format!(
            "--window-s {}: must be positive",
            args.window_s
        )));
    }
    let pick = args.channels.as_deref().map_or(Pick::All, Pick::Named);
    let records = load(&args.real)?;
    let real_labels = labels::beat_labels(&records);
    let real = cut(&records, pick, args.window_s, "real")?;
    drop(records);
    let like = Pick::Like(&real.labels, &real.source);
    let fit = |mut set: Windows| -> crate::Result<Windows> {
        if set.rate != real.rate {
            return Err(crate::Error::BadInput(format!(
                "{}: {} Hz, the real data ({}) {} Hz: resample one of them (biowave convert --resample HZ)",
                set.source, set.rate, real.source, real.rate
            )));
        }
        set.to_units(&real.units, &real.source)?;
        Ok(set)
    };
    let records = load(&args.synth)?;
    let beat_labels = labels::compare(real_labels, labels::beat_labels(&records));
    let synth = fit(cut(&records, like, args.window_s, "synthetic")?)?;
    drop(records);
    let train = if args.train.is_empty() {
        None
    } else {
        Some(fit(cut(
            &load(&args.train)?,
            like,
            args.window_s,
            "training",
        )?)?)
    };
    if real.windows.len() < 4 || synth.windows.len() < 4 {
        return Err(crate::Error::BadInput(format!(
            "{} real and {} synthetic windows of {} s: need at least 4 of each (shorter --window-s or more data)",
            real.windows.len(),
            synth.windows.len(),
            args.window_s
        )));
    }
    Ok((real, synth, train, beat_labels))
}
