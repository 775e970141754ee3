//! The shutdown signal: SIGINT/SIGTERM set a flag that long-running work (streams, bulk
//! generation) polls, so it can finish its files and stop cleanly.

use crate::{Error, Result};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Installs SIGINT/SIGTERM handlers that set the returned flag; a second SIGINT exits at once.
pub fn flag() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    let reg = |r: std::io::Result<_>| r.map_err(|e| Error::os("installing signal handlers", e));
    reg(signal_hook::flag::register_conditional_shutdown(
        SIGINT,
        130,
        stop.clone(),
    ))?;
    reg(signal_hook::flag::register(SIGINT, stop.clone()))?;
    reg(signal_hook::flag::register(SIGTERM, stop.clone()))?;
    Ok(stop)
}

/// From now on SIGINT/SIGTERM end the process as by default again, the flag's handlers
/// notwithstanding: for work that stops cleanly only in one phase (training's loop), so a
/// signal that comes after that phase is not swallowed.
pub fn restore_default() -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let now = Arc::new(AtomicBool::new(true));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_default(sig, now.clone())
            .map_err(|e| Error::os("installing signal handlers", e))?;
    }
    Ok(())
}
