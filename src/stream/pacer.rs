//! The pacer: releases block k at `t0 + k·block_duration` on the monotonic clock.
//!
//! Deadlines are computed from the frame index and `t0`, never from the previous
//! wake-up, so lateness in one block never carries into the next: no drift, ever.

use std::time::{Duration, Instant};

/// How long before a deadline the pacer stops sleeping and yields-spins to it: covers the
/// kernel's timer slack (about 50 µs on Linux) without burning a core.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(200);

/// Absolute-deadline clock for one stream.
#[derive(Debug, Clone)]
pub struct Pacer {
    t0: Instant,
    sample_rate: f64,
    spin: Duration,
}

impl Pacer {
    /// A pacer whose frame 0 is due at `t0`, for a stream at `sample_rate` Hz.
    pub fn new(t0: Instant, sample_rate: f64) -> Self {
        Self {
            t0,
            sample_rate,
            spin: DEFAULT_SPIN,
        }
    }

    /// Sets the spin margin before each deadline (0: sleep only).
    pub fn with_spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// The instant frame 0 is due.
    pub fn t0(&self) -> Instant {
        self.t0
    }

    /// The instant the block starting at frame `index` is due: `t0 + index / rate`.
    pub fn deadline(&self, index: u64) -> Instant {
        // u128 nanoseconds: exact for any index a stream can reach.
        let nanos = (index as u128 * 1_000_000_000) as f64 / self.sample_rate;
        self.t0 + Duration::from_nanos(nanos.round() as u64)
    }

    /// Waits until `deadline`: sleeps until `spin` before it, then yields until it passes.
    /// Returns at once when the deadline has passed.
    pub fn wait_until(&self, deadline: Instant) {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let left = deadline - now;
            if left > self.spin {
                std::thread::sleep(left - self.spin);
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Waits for the block starting at frame `index`; returns how late the wake-up was.
    pub fn wait_for(&self, index: u64) -> Duration {
        let deadline = self.deadline(index);
        self.wait_until(deadline);
        Instant::now().saturating_duration_since(deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_absolute_multiples_of_the_frame_period() {
        let t0 = Instant::now();
        let p = Pacer::new(t0, 500.0);
        assert_eq!(p.deadline(0), t0);
        assert_eq!(p.deadline(10), t0 + Duration::from_millis(20));
        // Ten days at 500 Hz: still exact to the nanosecond, no accumulated rounding.
        let ten_days = 500 * 86_400 * 10;
        assert_eq!(p.deadline(ten_days), t0 + Duration::from_secs(864_000));
        // A rate whose period is not a whole number of nanoseconds.
        let q = Pacer::new(t0, 360.0);
        assert_eq!(q.deadline(360 * 3600), t0 + Duration::from_secs(3600));
    }

    #[test]
    fn lateness_does_not_accumulate() {
        let block = 5u64; // 5 frames at 1 kHz = 5 ms blocks
        let p = Pacer::new(Instant::now(), 1000.0);
        let mut late_after_stall = Vec::new();
        for k in 0..80u64 {
            let lateness = p.wait_for(k * block);
            if k == 10 {
                // A 53 ms stall (over ten blocks) while handling block 10.
                std::thread::sleep(Duration::from_millis(53));
            }
            if k > 10 {
                late_after_stall.push(lateness);
            }
        }
        // Right after the stall the pacer is late; it catches up without waiting ...
        assert!(late_after_stall[0] >= Duration::from_millis(40));
        // ... and then is back on the original grid: lateness does not persist (the median
        // is robust to a busy machine's scheduling hiccups).
        let mut tail = late_after_stall[20..].to_vec();
        tail.sort();
        let median = tail[tail.len() / 2];
        assert!(
            median < Duration::from_millis(4),
            "lateness persisted: {tail:?}"
        );
        // The run ends on the absolute grid: 80 blocks take 400 ms from t0; a relative
        // pacer would need 453 ms or more.
        let end = Instant::now().duration_since(p.t0());
        assert!(
            end >= Duration::from_millis(395) && end < Duration::from_millis(440),
            "{end:?}"
        );
    }

    #[test]
    fn wait_for_a_past_deadline_returns_at_once() {
        let p = Pacer::new(Instant::now() - Duration::from_secs(1), 100.0);
        let start = Instant::now();
        let late = p.wait_for(50);
        assert!(start.elapsed() < Duration::from_millis(5));
        assert!(late >= Duration::from_millis(499));
    }
}
