//! HDF5 writer: one resizable, chunked `signals` dataset (samples × channels, f32),
//! appended block by block, with `sample_rate`, `labels`, `units` and `start` attributes.

use super::h5err;
use crate::block::Block;
use crate::io::{Checkpoints, Error, Result, WriteOptions, Writer};
use crate::record::{Annotation, SignalSpec};
use rust_hdf5::types::VarLenUnicode;
use rust_hdf5::{H5Dataset, H5File};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Name of the dataset biowave writes.
pub const DATASET: &str = "signals";

/// Streams frames and annotations into an HDF5 file; `finish()` closes it. Each minute of
/// signal, or for a stream about once a second (`WriteOptions::checkpoints`), the file is
/// closed and reopened, the annotations since the last time appended first, so after a
/// kill -9 h5py still reads both up to that point.
///
/// `rust-hdf5` handles are single-threaded (`Rc`), while writers move between threads, so
/// the file lives on its own writer thread: frames go to it over a bounded channel and
/// their buffers come back for reuse (no allocation per block in steady state).
pub struct H5Writer {
    path: PathBuf,
    tx: Option<SyncSender<Msg>>,
    spare: Receiver<Vec<f32>>,
    thread: Option<JoinHandle<Result<()>>>,
    n_channels: usize,
}

enum Msg {
    Frames(Vec<f32>),
    Annotations(Vec<Annotation>),
}

/// The open file, owned by the writer thread.
struct Inner {
    path: PathBuf,
    /// The open file and dataset (`None` only inside `checkpoint`, between close and reopen).
    open: Option<(H5File, H5Dataset)>,
    n_channels: usize,
    /// Frames between checkpoints (at least, with `wall_clock`).
    flush_every: u64,
    /// Whether a checkpoint also waits for a wall-clock second since the last one.
    wall_clock: bool,
    since_flush: u64,
    last_checkpoint: std::time::Instant,
    /// Annotations not yet in the file (appended at the next checkpoint or at the end).
    pending: Vec<Annotation>,
    /// Whether `/annotations` exists yet (made at the first annotation).
    annotations_made: bool,
}

impl H5Writer {
    /// Creates `path` with an empty resizable dataset for `spec`'s channels.
    pub fn create(path: &Path, spec: &SignalSpec, opts: &WriteOptions) -> Result<Self> {
        let (tx, rx) = sync_channel::<Msg>(8);
        let (back_tx, spare) = sync_channel::<Vec<f32>>(8);
        let (ready_tx, ready) = sync_channel::<Result<()>>(1);
        let (p, spec2, opts2) = (path.to_path_buf(), spec.clone(), opts.clone());
        let thread = std::thread::Builder::new()
            .name("biowave-hdf5".into())
            .spawn(move || {
                let inner = match Inner::create(&p, &spec2, &opts2) {
                    Ok(i) => {
                        let _ = ready_tx.send(Ok(()));
                        i
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Ok(());
                    }
                };
                inner.run(rx, back_tx)
            })
            .map_err(|e| Error::open(path, e))?;
        ready
            .recv()
            .map_err(|_| Error::format(path, "HDF5 writer", "the writer thread ended"))??;
        Ok(H5Writer {
            path: path.to_path_buf(),
            tx: Some(tx),
            spare,
            thread: Some(thread),
            n_channels: spec.n_channels(),
        })
    }

    /// Annotations to store under `/annotations` (onsets in seconds from the first sample).
    pub fn set_annotations(&mut self, a: &[Annotation]) {
        self.send(Msg::Annotations(a.to_vec())).ok();
    }

    /// Appends frames given per channel (all slices the same length).
    pub fn push(&mut self, per_channel: &[&[f32]]) -> Result<()> {
        let n = per_channel.first().map_or(0, |c| c.len());
        let mut buf = self.buffer();
        buf.reserve(n * self.n_channels);
        for i in 0..n {
            buf.extend(per_channel.iter().map(|c| c[i]));
        }
        self.send(Msg::Frames(buf))
    }

    fn buffer(&self) -> Vec<f32> {
        let mut b = self.spare.try_recv().unwrap_or_default();
        b.clear();
        b
    }

    /// Hands a message to the writer thread; if it has stopped, reports its error.
    fn send(&mut self, m: Msg) -> Result<()> {
        let sent = self
            .tx
            .as_ref()
            .map(|tx| tx.send(m).is_ok())
            .unwrap_or(false);
        if sent {
            return Ok(());
        }
        self.join()?;
        Err(Error::format(
            &self.path,
            "HDF5 writer",
            "the file is already finished",
        ))
    }

    fn join(&mut self) -> Result<()> {
        self.tx = None;
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| {
                Err(Error::format(
                    &self.path,
                    "HDF5 writer",
                    "the writer thread panicked",
                ))
            }),
            None => Ok(()),
        }
    }
}

impl Inner {
    fn create(path: &Path, spec: &SignalSpec, opts: &WriteOptions) -> Result<Self> {
        let file = H5File::create(path)
            .map_err(|e| Error::open(path, std::io::Error::other(e.to_string())))?;
        let ds =
            create_dataset(&file, spec, opts).map_err(|e| h5err(path, "dataset signals", e))?;
        Ok(Inner {
            path: path.to_path_buf(),
            open: Some((file, ds)),
            n_channels: spec.n_channels(),
            flush_every: (spec.sample_rate.max(1.0)
                * match opts.checkpoints {
                    Checkpoints::EachMinute => 60.0,
                    Checkpoints::EachSecond => 1.0,
                }) as u64,
            wall_clock: opts.checkpoints == Checkpoints::EachSecond,
            since_flush: 0,
            last_checkpoint: std::time::Instant::now(),
            pending: Vec::new(),
            annotations_made: false,
        })
    }

    /// Appends what arrives until the channel closes, then the last annotations, and closes.
    fn run(mut self, rx: Receiver<Msg>, back: SyncSender<Vec<f32>>) -> Result<()> {
        for m in rx {
            match m {
                Msg::Frames(buf) => {
                    self.append(&buf)?;
                    let _ = back.try_send(buf);
                }
                Msg::Annotations(a) => self.pending.extend(a),
            }
        }
        self.append_annotations()?;
        let (file, ds) = self.open.take().ok_or_else(|| closed(&self.path))?;
        ds.flush().map_err(|e| h5err(&self.path, "flush", e))?;
        drop(ds);
        file.close().map_err(|e| h5err(&self.path, "closing", e))
    }

    fn append(&mut self, frames: &[f32]) -> Result<()> {
        if frames.is_empty() {
            return Ok(());
        }
        let n = (frames.len() / self.n_channels.max(1)) as u64;
        let (_, ds) = self.open.as_ref().ok_or_else(|| closed(&self.path))?;
        ds.append(frames)
            .map_err(|e| h5err(&self.path, "dataset signals", e))?;
        self.since_flush += n;
        // A stream's at most once a wall-clock second and once a second of signal: bounded
        // loss after a kill, and a --fast stream not slowed by reopening. Bulk writing's each
        // minute of signal, whatever the clock: the same data, the same bytes.
        if self.since_flush >= self.flush_every
            && (!self.wall_clock || self.last_checkpoint.elapsed().as_secs_f64() >= 1.0)
        {
            self.checkpoint()?;
            self.since_flush = 0;
            self.last_checkpoint = std::time::Instant::now();
        }
        Ok(())
    }

    /// Closes the file (superblock and object headers written) and reopens it to append:
    /// a process killed later leaves a file h5py reads up to this point. Without an fsync
    /// (a killed process's writes are in the OS already; the sync, which dominates a
    /// close, is `finish`'s).
    fn checkpoint(&mut self) -> Result<()> {
        self.append_annotations()?;
        let p = self.path.clone();
        let (file, ds) = self.open.take().ok_or_else(|| closed(&p))?;
        drop(ds);
        file.close_no_sync().map_err(|e| h5err(&p, "closing", e))?;
        let file = H5File::open_rw(&p).map_err(|e| h5err(&p, "reopening", e))?;
        let ds = file
            .dataset_writer(DATASET)
            .map_err(|e| h5err(&p, "reopening dataset signals", e))?;
        self.open = Some((file, ds));
        Ok(())
    }
}

fn closed(path: &Path) -> Error {
    Error::format(
        path,
        "HDF5 writer",
        "the file is closed after an earlier error",
    )
}

/// The resizable `signals` dataset and its attributes.
fn create_dataset(
    file: &H5File,
    spec: &SignalSpec,
    opts: &WriteOptions,
) -> rust_hdf5::Result<H5Dataset> {
    let c = spec.n_channels();
    let chunk = (spec.sample_rate as usize).clamp(64, 4096);
    let mut b = file
        .new_dataset::<f32>()
        .shape([0usize, c])
        .chunk(&[chunk, c])
        .max_shape(&[None, Some(c)]);
    if let Some(level) = opts.compression {
        b = b.deflate(u32::from(level.clamp(1, 9)));
    }
    let ds = b.create(DATASET)?;
    ds.new_attr::<f64>()
        .shape(())
        .create("sample_rate")?
        .write_numeric(&spec.sample_rate)?;
    let labels: Vec<&str> = spec.channels.iter().map(|c| c.label.as_str()).collect();
    let units: Vec<&str> = spec.channels.iter().map(|c| c.unit.as_str()).collect();
    for (name, v) in [("labels", labels), ("units", units)] {
        ds.new_attr::<VarLenUnicode>()
            .shape(&[v.len()][..])
            .create(name)?
            .write_string_array(&v)?;
    }
    if let Some(t) = opts.start {
        let iso = t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
        ds.new_attr::<VarLenUnicode>()
            .shape(())
            .create("start")?
            .write_string(&iso)?;
    }
    Ok(ds)
}

/// Chunks of the `/annotations` datasets, in annotations.
const ANNOTATION_CHUNK: usize = 256;

impl Inner {
    /// Appends the pending annotations to `/annotations/{onset, duration (NaN = none),
    /// text}`, made resizable at the first one.
    fn append_annotations(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (file, _) = self.open.as_ref().ok_or_else(|| closed(&self.path))?;
        let err = |e| h5err(&self.path, "annotations", e);
        if !self.annotations_made {
            create_annotations(file).map_err(err)?;
            self.annotations_made = true;
        }
        let a = std::mem::take(&mut self.pending);
        let onset: Vec<f64> = a.iter().map(|a| a.onset).collect();
        let dur: Vec<f64> = a.iter().map(|a| a.duration.unwrap_or(f64::NAN)).collect();
        let text: Vec<&str> = a.iter().map(|a| a.text.as_str()).collect();
        for (name, v) in [("annotations/onset", onset), ("annotations/duration", dur)] {
            file.dataset_writer(name)
                .and_then(|ds| ds.append(&v))
                .map_err(err)?;
        }
        file.append_vlen_strings("annotations/text", &text)
            .map_err(err)
    }
}

/// The empty, resizable `/annotations/{onset, duration, text}`.
fn create_annotations(f: &H5File) -> rust_hdf5::Result<()> {
    let g = f.create_group("annotations")?;
    for name in ["onset", "duration"] {
        g.new_dataset::<f64>()
            .shape([0usize])
            .chunk(&[ANNOTATION_CHUNK])
            .max_shape(&[None])
            .create(name)?;
    }
    g.create_appendable_vlen_dataset("text", ANNOTATION_CHUNK, None)?;
    Ok(())
}

impl Writer for H5Writer {
    fn write(&mut self, block: &Block) -> Result<()> {
        let mut buf = self.buffer();
        block.interleave_into(&mut buf);
        self.send(Msg::Frames(buf))
    }

    fn annotate(&mut self, a: Annotation) {
        self.send(Msg::Annotations(vec![a])).ok();
    }

    fn finish(&mut self) -> Result<()> {
        self.join()
    }
}

impl Drop for H5Writer {
    fn drop(&mut self) {
        if let Err(e) = self.join() {
            tracing::error!("{e}");
        }
    }
}
