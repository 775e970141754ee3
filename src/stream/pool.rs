//! Recycled blocks: a fixed set of [`Block`]s that cycle generator → pacer → pool, so the
//! hot path never allocates sample buffers.

use crate::block::Block;
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A pool of same-shaped blocks shared by a stream's generator and pacer threads.
///
/// `get` takes a free block (allocating only when every block is in flight); `put` hands
/// it back. Cloning shares the same pool.
#[derive(Clone)]
pub struct Pool {
    free_tx: Sender<Block>,
    free_rx: Receiver<Block>,
    n_channels: usize,
    n_frames: usize,
    allocated: Arc<AtomicUsize>,
}

impl Pool {
    /// A pool holding `capacity` preallocated blocks of `n_channels × n_frames`.
    pub fn new(n_channels: usize, n_frames: usize, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (free_tx, free_rx) = crossbeam_channel::bounded(capacity);
        for _ in 0..capacity {
            let _ = free_tx.try_send(Block::new(n_channels, n_frames));
        }
        Self {
            free_tx,
            free_rx,
            n_channels,
            n_frames,
            allocated: Arc::new(AtomicUsize::new(capacity)),
        }
    }

    /// A free block, full-sized (`n_frames`), its samples left as they were.
    pub fn get(&self) -> Block {
        match self.free_rx.try_recv() {
            Ok(mut b) => {
                // A short final block comes back short: restore its size within capacity.
                b.n_frames = self.n_frames;
                b.data.resize(self.n_channels * self.n_frames, 0.0);
                b
            }
            Err(_) => {
                self.allocated.fetch_add(1, Ordering::Relaxed);
                Block::new(self.n_channels, self.n_frames)
            }
        }
    }

    /// Returns a block for reuse; a block beyond the pool's capacity is freed.
    pub fn put(&self, block: Block) {
        let _ = self.free_tx.try_send(block);
    }

    /// Blocks allocated since the pool was made (its capacity plus any shortfalls).
    pub fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }

    /// Blocks currently free in the pool.
    pub fn free(&self) -> usize {
        self.free_rx.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_recycled_without_new_allocations() {
        let pool = Pool::new(3, 10, 4);
        let ptr = {
            let b = pool.get();
            let p = b.data.as_ptr();
            pool.put(b);
            p
        };
        for _ in 0..1000 {
            let a = pool.get();
            let b = pool.get();
            assert_eq!((a.n_channels, a.n_frames, a.data.len()), (3, 10, 30));
            pool.put(a);
            pool.put(b);
        }
        assert_eq!(pool.allocated(), 4, "steady state must not allocate");
        assert_eq!(pool.free(), 4);
        // The same buffers keep circulating.
        let seen: Vec<_> = (0..4).map(|_| pool.get()).collect();
        assert!(seen.iter().any(|b| b.data.as_ptr() == ptr));
    }

    #[test]
    fn short_block_is_restored_and_shortfall_counted() {
        let pool = Pool::new(2, 8, 1);
        let mut b = pool.get();
        b.n_frames = 3;
        b.data.truncate(6);
        let extra = pool.get();
        assert_eq!(pool.allocated(), 2, "empty pool allocates and counts it");
        pool.put(b);
        pool.put(extra); // beyond capacity: freed
        let b = pool.get();
        assert_eq!((b.n_frames, b.data.len()), (8, 16));
        assert_eq!(pool.free(), 0);
    }
}
