//! Raw output: interleaved little-endian f32 frames, no header.

use crate::block::Block;
use crate::io::{Error, Result, Writer};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes blocks as interleaved little-endian f32 frames.
pub struct F32Writer {
    path: PathBuf,
    out: Option<std::io::BufWriter<std::fs::File>>,
    frame: Vec<f32>,
}

impl F32Writer {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let f = std::fs::File::create(path).map_err(|e| Error::open(path, e))?;
        Ok(Self {
            path: path.into(),
            out: Some(std::io::BufWriter::with_capacity(1 << 16, f)),
            frame: vec![],
        })
    }
}

impl Writer for F32Writer {
    fn write(&mut self, block: &Block) -> Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        block.interleave_into(&mut self.frame);
        let bytes: Vec<u8> = self.frame.iter().flat_map(|v| v.to_le_bytes()).collect();
        out.write_all(&bytes)
            .map_err(|e| Error::open(&self.path, e))
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(mut out) = self.out.take() {
            out.flush().map_err(|e| Error::open(&self.path, e))?;
        }
        Ok(())
    }
}
