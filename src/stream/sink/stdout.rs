//! The stdout sink: f32 little-endian interleaved frames, or CSV, buffered.

use super::{SinkContext, TextFormat};
use crate::block::Block;
use crate::stream::Sink;
use crate::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;

/// Writes blocks to standard output (a duplicate of fd 1, bypassing std's line buffer).
pub struct StdoutSink {
    out: BufWriter<File>,
    format: TextFormat,
    realtime: bool,
    rate: f64,
    header: Option<String>,
    frames: Vec<f32>,
    bytes: Vec<u8>,
}

impl StdoutSink {
    /// A stdout sink for the stream `ctx` describes.
    pub fn new(ctx: &SinkContext) -> Result<Self> {
        let fd = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::os("stdout", e))?;
        let labels: Vec<&str> = ctx.spec.channels.iter().map(|c| c.label.as_str()).collect();
        Ok(Self {
            out: BufWriter::with_capacity(1 << 16, File::from(fd)),
            format: ctx.format,
            realtime: ctx.realtime,
            rate: ctx.spec.sample_rate,
            header: Some(format!("time,{}\n", labels.join(","))),
            frames: Vec::new(),
            bytes: Vec::new(),
        })
    }

    fn write_f32(&mut self, block: &Block) -> std::io::Result<()> {
        block.interleave_into(&mut self.frames);
        self.bytes.clear();
        self.bytes
            .extend(self.frames.iter().flat_map(|x| x.to_le_bytes()));
        self.out.write_all(&self.bytes)
    }

    fn write_csv(&mut self, block: &Block) -> std::io::Result<()> {
        if let Some(h) = self.header.take() {
            self.out.write_all(h.as_bytes())?;
        }
        for i in 0..block.n_frames {
            let t = (block.start_index + i as u64) as f64 / self.rate;
            write!(self.out, "{t}")?;
            for c in 0..block.n_channels {
                write!(self.out, ",{}", block.data[c * block.n_frames + i])?;
            }
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }
}

impl Sink for StdoutSink {
    fn write(&mut self, block: &Block) -> Result<()> {
        let r = match self.format {
            TextFormat::F32 => self.write_f32(block),
            TextFormat::Csv => self.write_csv(block),
        };
        r.and_then(|_| {
            if self.realtime {
                self.out.flush()
            } else {
                Ok(())
            }
        })
        .map_err(|e| Error::os("writing to stdout", e))
    }

    fn finish(&mut self) -> Result<()> {
        self.out
            .flush()
            .map_err(|e| Error::os("flushing stdout", e))
    }
}
