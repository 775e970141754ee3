//! Allocator settings for long-lived biowave processes.
//!
//! candle allocates a fresh buffer for every tensor op, and a training step frees and
//! reallocates megabytes of gradients and optimizer state. glibc malloc hands large
//! blocks back to the kernel (`mmap`/`munmap`, heap trimming) and takes them again with
//! one page fault per 4 KiB: half of a CPU training step went to page faults
//! (`examples/vae_train_step`: 96 ms → 45 ms with memory kept). Keeping freed memory for
//! reuse also keeps a streaming process's RSS flat rather than see-sawing.

/// Largest block glibc serves from its heaps rather than a private `mmap` (its maximum).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;
/// Free memory at the top of a heap that glibc keeps rather than returns to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 512 << 20;

/// Tells the process allocator to keep freed memory for reuse instead of returning it to
/// the kernel at once. Called by the CLI before any work; process-wide; a no-op where the
/// allocator is not glibc's.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
