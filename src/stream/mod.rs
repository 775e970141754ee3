//! Streaming: generators feed sinks through bounded channels, paced on a real-time clock.
//!
//! [`engine`] runs streams, [`pacer`] holds the absolute-deadline clock, [`pool`] recycles
//! blocks, [`sink`] holds the outputs, [`scenario`] reads several streams from TOML.

pub mod engine;
pub mod pacer;
pub mod pool;
pub mod scenario;
pub mod sink;

use crate::block::Block;
use crate::Result;
use std::sync::atomic::AtomicBool;

/// Consumes blocks in order; owns its own back-pressure policy.
pub trait Sink: Send {
    /// Takes the next block; must not block the stream for longer than its policy allows.
    fn write(&mut self, block: &Block) -> Result<()>;
    /// Flushes, fixes headers, closes. Called once at the end, also on SIGTERM.
    fn finish(&mut self) -> Result<()>;
    /// Called once before the first block is released (the clock starts after it): a sink
    /// may wait here for readers, returning early when `stop` is set.
    fn ready(&mut self, stop: &AtomicBool) -> Result<()> {
        let _ = stop;
        Ok(())
    }
}
