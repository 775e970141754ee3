//! Command-line interface: clap definitions, one file per subcommand.
//!
//! `main.rs` calls [`main`]; each subcommand's `run` does its work through the library.

mod convert;
mod eval;
mod generate;
mod info;
mod info_model;
mod model_args;
mod read_args;
mod stream;
mod train;
mod train_data;
mod train_latent;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// biowave: learn real ECG/EEG recordings and stream synthetic copies in real time.
#[derive(Debug, Parser)]
#[command(name = "biowave", version, about, long_about = None)]
pub struct Cli {
    /// Log more (-v info, -vv debug); logs go to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of the CLI contract (DESIGN.md).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a recording's channels, rates, duration, start time and annotations.
    Info(info::Args),
    /// Convert a recording between formats, optionally selecting channels and time.
    Convert(convert::Args),
    /// Train a generator (vae or transformer) on recordings.
    Train(train::Args),
    /// Generate synthetic recordings in bulk.
    Generate(generate::Args),
    /// Stream synthetic samples in real time to stdout, files, TCP or LSL.
    Stream(stream::Args),
    /// Compare synthetic with real recordings: fidelity and privacy metrics, report.
    Eval(eval::Args),
}

/// Parses `std::env::args`, runs the subcommand, prints any error, returns the exit code.
pub fn main() -> i32 {
    crate::alloc::keep_freed_memory();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("biowave: {e}");
            e.exit_code()
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> crate::Result<()> {
    match cli.command {
        Command::Info(a) => info::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Train(mut a) => {
            a.data = expand(&a.data)?;
            // Shards are the parallelism (`model::data_parallel`), a core or more each.
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            candle_threads((cores / crate::model::data_parallel::SHARDS).max(1));
            train::run(a)
        }
        Command::Generate(a) => {
            one_thread_per_model();
            generate::run(a)
        }
        Command::Stream(a) => {
            one_thread_per_model();
            stream::run(a)
        }
        Command::Eval(a) => eval::run(a),
    }
}

/// Files as given; for a directory, the recordings in it by name (EDF, BDF, HDF5 and CSV by
/// extension, not the `*.events.csv` label files `generate` writes beside its records).
pub(super) fn expand(paths: &[PathBuf]) -> crate::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let read = |e| crate::Error::os(format!("reading the directory {}", p.display()), e);
        let mut found: Vec<PathBuf> = (std::fs::read_dir(p).map_err(read)?)
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file() && crate::io::Format::from_extension(f).is_some())
            .filter(|f| !f.to_string_lossy().ends_with(".events.csv"))
            .collect();
        if found.is_empty() {
            return Err(crate::Error::BadInput(format!(
                "{}: a directory with no recordings (.edf, .bdf, .h5, .csv) in it",
                p.display()
            )));
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Refuses to write over a file the user already has (the first of `paths` that exists),
/// unless `--overwrite` was given: a second run to the same path would otherwise replace
/// an earlier recording without a word.
fn refuse_existing<'a>(
    paths: impl IntoIterator<Item = &'a std::path::Path>,
    overwrite: bool,
) -> crate::Result<()> {
    if overwrite {
        return Ok(());
    }
    match paths.into_iter().find(|p| p.exists()) {
        Some(p) => Err(crate::Error::BadInput(format!(
            "{}: exists; pass --overwrite to write over it, or choose another path",
            p.display()
        ))),
        None => Ok(()),
    }
}

/// True when `a` and `b` name one existing file or directory (by any path).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Sampling runs many small matmuls per stream (or per record): candle splitting each over
/// all cores costs more than it saves (a 12-lead transformer step: 2.8 ms threaded vs
/// 1.3 ms on one thread). Streams and records are the parallelism; candle gets one thread
/// each unless `RAYON_NUM_THREADS` says otherwise. rayon's own pool (used by `generate`
/// across records) is sized first, before the variable could shrink it.
fn one_thread_per_model() {
    candle_threads(1);
}

/// Lets candle split a matmul over `n` threads (unless `RAYON_NUM_THREADS` is set), with
/// rayon's pool first sized to every core.
fn candle_threads(n: usize) {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(cores)
        .build_global();
    // Read by candle at every matmul (candle_core::utils::get_num_threads).
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BIOWAVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
