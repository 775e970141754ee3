//! Streaming: generators feed sinks through bounded channels, paced on a real-time clock.

use crate::block::Block;
use crate::Result;

/// Consumes blocks in order; owns its own back-pressure policy.
pub trait Sink: Send {
    /// Takes the next block; must not block the stream for longer than its policy allows.
    fn write(&mut self, block: &Block) -> Result<()>;
    /// Flushes, fixes headers, closes. Called once at the end, also on SIGTERM.
    fn finish(&mut self) -> Result<()>;
}
