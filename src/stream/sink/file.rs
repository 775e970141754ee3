//! The file sink: EDF+/BDF+/HDF5/CSV through `io::create`, optionally rolling to new
//! numbered files (`--roll 1h`); the events a generator labels (ECGSYN's beats, EEG
//! transients) go to `NAME.events.csv` beside each file, as `generate` writes them, and into
//! EDF+/BDF+ files as annotations.

use super::SinkContext;
use crate::block::Block;
use crate::events::EventLog;
use crate::io::{self, Format, WriteOptions};
use crate::record::SignalSpec;
use crate::stream::Sink;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Resolves a file sink's `path` inside `dir` (`--out-dir`), refusing any path that could
/// leave it: absolute paths, `..` components, or a symlinked directory pointing outside.
pub fn confine(dir: &Path, path: &Path) -> Result<PathBuf> {
    use std::path::Component;
    let escapes = path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes {
        return Err(Error::bad_path(
            path,
            format!(
                "file sinks must stay inside --out-dir {} (no absolute paths, no `..`)",
                dir.display()
            ),
        ));
    }
    let root = dir
        .canonicalize()
        .map_err(|e| Error::bad_path(dir, format!("--out-dir: {e}")))?;
    let full = root.join(path);
    if let Some(parent) = full.parent().and_then(|p| p.canonicalize().ok()) {
        if !parent.starts_with(&root) {
            return Err(Error::bad_path(
                path,
                format!("resolves outside --out-dir {}", dir.display()),
            ));
        }
    }
    Ok(full)
}

/// Writes blocks to a file (or a numbered series of files when rolling).
pub struct FileSink {
    path: PathBuf,
    spec: SignalSpec,
    roll_frames: Option<u64>,
    writer: Option<Box<dyn io::Writer>>,
    /// The current file's path, and its events CSV once the first event arrives (a
    /// generator that labels nothing leaves no empty CSVs behind).
    current: PathBuf,
    events: Option<EventLog>,
    index: u32,
    frames_in_file: u64,
    /// Seconds from the stream start to the current file's first frame (event onsets in a
    /// file count from there).
    file_start: f64,
    /// Wall-clock time of the stream's frame 0, taken when the first block arrives; each
    /// file starts at it plus its first frame's stream time.
    origin: Option<chrono::NaiveDateTime>,
}

impl FileSink {
    /// Checks the path and creates the first file, so bad paths fail before streaming.
    pub fn new(path: &Path, ctx: &SinkContext) -> Result<Self> {
        if Format::from_extension(path).is_none() {
            return Err(Error::bad_path(
                path,
                "unknown file format (expected .edf, .bdf, .h5 or .csv)",
            ));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(Error::bad_path(path, "the directory does not exist"));
        }
        let mut s = Self {
            path: path.to_path_buf(),
            spec: ctx.spec.clone(),
            roll_frames: ctx.roll_frames,
            writer: None,
            current: PathBuf::new(),
            events: None,
            index: 0,
            frames_in_file: 0,
            file_start: 0.0,
            origin: None,
        };
        s.open_next(chrono::Local::now().naive_local())?;
        Ok(s)
    }

    /// The path of file number `index`: `PATH` itself, or `STEM_0000.EXT` when rolling.
    pub fn numbered(path: &Path, index: u32) -> PathBuf {
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let ext = path.extension().unwrap_or_default().to_string_lossy();
        path.with_file_name(format!("{stem}_{index:04}.{ext}"))
    }

    /// The first file a sink on `path` writes and its events CSV: `PATH`, or
    /// `STEM_0000.EXT` when `rolling` (where an earlier rolled run's files start).
    pub fn first_files(path: &Path, rolling: bool) -> [PathBuf; 2] {
        let first = match rolling {
            true => Self::numbered(path, 0),
            false => path.to_path_buf(),
        };
        let events = EventLog::beside(&first);
        [first, events]
    }

    /// Creates the next file, its header's start time `start`.
    fn open_next(&mut self, start: chrono::NaiveDateTime) -> Result<()> {
        let p = match self.roll_frames {
            Some(_) => Self::numbered(&self.path, self.index),
            None => self.path.clone(),
        };
        tracing::info!(file = %p.display(), "writing");
        let opts = WriteOptions {
            start: Some(start),
            recording: "stream".into(),
            checkpoints: io::Checkpoints::EachSecond,
            ..WriteOptions::default()
        };
        self.writer = Some(io::create(&p, &self.spec, &opts)?);
        self.current = p;
        self.index += 1;
        self.frames_in_file = 0;
        Ok(())
    }

    /// Logs `block`'s events to the current file's CSV (created at its first event) and
    /// annotates them in the file; flushed, so a killed stream leaves them readable.
    fn label(&mut self, block: &Block) -> Result<()> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        let log = match &mut self.events {
            Some(log) => log,
            None => {
                let csv = EventLog::beside(&self.current);
                self.events
                    .insert(EventLog::create(&csv, self.spec.sample_rate)?)
            }
        };
        log.take(&block.events, self.file_start, w.as_mut())?;
        log.flush()
    }

    /// Finishes the current file and its events CSV.
    fn close(&mut self) -> Result<()> {
        if let Some(log) = self.events.take() {
            log.finish()?;
        }
        match self.writer.take() {
            Some(mut w) => Ok(w.finish()?),
            None => Ok(()),
        }
    }
}

impl Sink for FileSink {
    fn write(&mut self, block: &Block) -> Result<()> {
        let rolled = matches!(self.roll_frames, Some(r) if self.frames_in_file >= r);
        if rolled || self.origin.is_none() {
            // Files carry the wall-clock time of their first sample: the clock's start plus
            // its stream time (in real time the moment it is written; with --fast the data's
            // own time line, files following each other without gap or overlap).
            let secs = |t: f64| chrono::Duration::microseconds((t * 1e6).round() as i64);
            let now = chrono::Local::now().naive_local();
            let origin = *self
                .origin
                .get_or_insert_with(|| now - secs(block.timestamp));
            self.close()?;
            if !rolled {
                // The first file, made in `new` so that a bad sink fails before the stream
                // starts, is made again now that its first sample's time is known.
                self.index -= 1;
            }
            self.open_next(origin + secs(block.timestamp))?;
        }
        if self.frames_in_file == 0 {
            self.file_start = block.timestamp;
        }
        // Labels first, so the record that holds each one carries it (EDF+/BDF+).
        if !block.events.is_empty() {
            self.label(block)?;
        }
        if let Some(w) = self.writer.as_mut() {
            w.write(block)?;
        }
        self.frames_in_file += block.n_frames as u64;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confine_keeps_paths_inside_the_out_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let ok = confine(dir.path(), Path::new("sub/a.edf")).unwrap();
        assert!(ok.ends_with("sub/a.edf"));
        for bad in ["/etc/x.edf", "../x.edf", "sub/../../x.edf"] {
            let e = confine(dir.path(), Path::new(bad)).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
        std::os::unix::fs::symlink("/tmp", dir.path().join("out")).unwrap();
        assert!(confine(dir.path(), Path::new("out/x.edf")).is_err());
    }

    #[test]
    fn rolled_files_are_numbered_next_to_the_path() {
        let p = FileSink::numbered(Path::new("out/run.edf"), 12);
        assert_eq!(p, Path::new("out/run_0012.edf"));
    }
}
