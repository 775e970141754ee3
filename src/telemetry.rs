//! Telemetry: metric names, their descriptions, and the Prometheus exporter.
//!
//! Metrics go through the `metrics` facade; without `--metrics` no recorder is installed
//! and recording costs next to nothing. Every metric carries a `stream` label.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::Thread;

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};

/// Frames (one sample per channel) released to the sinks.
pub const FRAMES_EMITTED: &str = "biowave_frames_emitted_total";
/// Samples (frames × channels) released to the sinks.
pub const SAMPLES_EMITTED: &str = "biowave_samples_emitted_total";
/// Blocks a sink did not deliver (a full client queue, a failed write); label `sink`.
pub const BLOCKS_DROPPED: &str = "biowave_blocks_dropped_total";
/// Network clients dropped for being too slow; label `sink`.
pub const CLIENTS_DROPPED: &str = "biowave_clients_dropped_total";
/// Network clients currently connected; label `sink`.
pub const CLIENTS_CONNECTED: &str = "biowave_clients_connected";
/// Sinks removed from a stream after an error (policy `on_error = "drop"`); label `sink`.
pub const SINKS_DROPPED: &str = "biowave_sinks_dropped_total";
/// Events the generator labelled in released blocks (ECG beats, EEG transients); label
/// `label`: a stream's beat rate, watched from outside.
pub const EVENTS_EMITTED: &str = "biowave_events_total";
/// Blocks that were not ready at their deadline.
pub const UNDERRUNS: &str = "biowave_underruns_total";
/// Blocks waiting between the generator and the pacer, sampled at each release.
pub const QUEUE_DEPTH: &str = "biowave_queue_depth";
/// Seconds the generator took to fill one block.
pub const GENERATION_SECONDS: &str = "biowave_generation_seconds";
/// Seconds between a block's deadline and its release to the sinks.
pub const LATENESS_SECONDS: &str = "biowave_emission_lateness_seconds";

/// Histogram buckets (seconds) for generation time and lateness: 10 µs to 1 s.
const BUCKETS: &[f64] = &[
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1.0,
];

/// How often queued histogram samples are folded into their buckets at the least.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Histogram samples (all histograms together) after which they are folded early, however
/// little time has passed: the queue stays near 1 MiB (16 bytes a sample) even when blocks
/// are made millions of times a second (`--fast`, small blocks).
const UPKEEP_AFTER: u64 = 1 << 16;

/// Samples queued since the last fold past which the recording thread folds them itself,
/// should the upkeep thread fall behind (starved of CPU): a hard bound of ~4 MiB.
const UPKEEP_BEHIND: u64 = 4 * UPKEEP_AFTER;

/// Registers help texts for every metric with the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(FRAMES_EMITTED, Unit::Count, "Frames released to the sinks");
    describe_counter!(
        SAMPLES_EMITTED,
        Unit::Count,
        "Samples released to the sinks"
    );
    describe_counter!(BLOCKS_DROPPED, Unit::Count, "Blocks a sink did not deliver");
    describe_counter!(
        EVENTS_EMITTED,
        Unit::Count,
        "Events labelled in released blocks"
    );
    describe_counter!(CLIENTS_DROPPED, Unit::Count, "Slow network clients dropped");
    describe_gauge!(CLIENTS_CONNECTED, Unit::Count, "Network clients connected");
    describe_counter!(SINKS_DROPPED, Unit::Count, "Sinks removed after an error");
    describe_counter!(UNDERRUNS, Unit::Count, "Blocks not ready at their deadline");
    describe_gauge!(QUEUE_DEPTH, Unit::Count, "Blocks queued before the pacer");
    describe_histogram!(GENERATION_SECONDS, Unit::Seconds, "Time to fill one block");
    describe_histogram!(
        LATENESS_SECONDS,
        Unit::Seconds,
        "Release time minus deadline"
    );
}

/// Serves Prometheus text at `http://ADDR/metrics` from the runtime `rt`, and installs the
/// recorder globally. Fails (bad input) when the address cannot be bound.
pub fn serve_prometheus(addr: &str, rt: &tokio::runtime::Handle) -> crate::Result<()> {
    let sock: SocketAddr = addr.parse().map_err(|e| {
        crate::Error::BadInput(format!("--metrics {addr}: not an IP:PORT address ({e})"))
    })?;
    let _guard = rt.enter();
    let (recorder, exporter) = metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(sock)
        .set_buckets(BUCKETS)
        .and_then(|b| b.build())
        .map_err(|e| crate::Error::BadInput(format!("--metrics {addr}: {e}")))?;
    rt.spawn(async move {
        if let Err(e) = exporter.await {
            tracing::error!("metrics exporter stopped: {e:?}");
        }
    });
    metrics::set_global_recorder(UpkeptRecorder::new(recorder)?)
        .map_err(|e| crate::Error::BadInput(format!("--metrics {addr}: {e}")))?;
    describe();
    Ok(())
}

/// The Prometheus recorder, with histograms that wake the upkeep thread every
/// [`UPKEEP_AFTER`] samples.
///
/// Histogram samples queue in the recorder (16 bytes each) until drained into their
/// buckets; a scrape drains them, but nothing else does, so without upkeep a process nobody
/// scraped grew by every sample it recorded (~2 MB/h per stream at 50 blocks/s). Upkeep once a
/// second alone still let `--fast` streams queue millions of samples between two drains
/// (~40–75 MB peak for 2 ms blocks); counting samples bounds the queue at any rate.
struct UpkeptRecorder {
    inner: PrometheusRecorder,
    upkeep: Arc<Upkeep>,
    /// The upkeep thread, woken by the histograms.
    thread: Thread,
}

/// Samples recorded and folded so far, and the recorder's handle that folds them.
struct Upkeep {
    recorded: AtomicU64,
    /// `recorded` when the last fold began: every sample up to it is in its buckets.
    folded: AtomicU64,
    handle: PrometheusHandle,
}

impl Upkeep {
    /// Folds every queued histogram sample into its buckets.
    fn fold(&self) {
        let n = self.recorded.load(Ordering::Relaxed);
        self.handle.run_upkeep();
        self.folded.fetch_max(n, Ordering::Relaxed);
    }
}

impl UpkeptRecorder {
    /// Starts the upkeep thread for `inner`: it folds queued samples every [`UPKEEP_EVERY`],
    /// and early when woken by the histograms.
    fn new(inner: PrometheusRecorder) -> crate::Result<Self> {
        let upkeep = Arc::new(Upkeep {
            recorded: AtomicU64::new(0),
            folded: AtomicU64::new(0),
            handle: inner.handle(),
        });
        let worker = upkeep.clone();
        let thread = std::thread::Builder::new()
            .name("biowave-metrics".into())
            .spawn(move || loop {
                std::thread::park_timeout(UPKEEP_EVERY);
                worker.fold();
            })
            .map_err(|e| crate::Error::os("starting the metrics upkeep thread", e))?
            .thread()
            .clone();
        Ok(Self {
            inner,
            upkeep,
            thread,
        })
    }
}

impl Recorder for UpkeptRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(CountedHistogram {
            inner: self.inner.register_histogram(key, metadata),
            upkeep: self.upkeep.clone(),
            thread: self.thread.clone(),
        }))
    }
}

/// A Prometheus histogram that counts its samples and has them folded every
/// [`UPKEEP_AFTER`].
struct CountedHistogram {
    inner: Histogram,
    upkeep: Arc<Upkeep>,
    thread: Thread,
}

impl CountedHistogram {
    /// Counts `n` recorded samples. Each time a multiple of [`UPKEEP_AFTER`] is crossed the
    /// upkeep thread is woken, or, if it is [`UPKEEP_BEHIND`] behind, the samples are folded
    /// here.
    fn count(&self, n: u64) {
        let before = self.upkeep.recorded.fetch_add(n, Ordering::Relaxed);
        let after = before + n;
        if after / UPKEEP_AFTER == before / UPKEEP_AFTER {
            return;
        }
        if after - self.upkeep.folded.load(Ordering::Relaxed).min(after) > UPKEEP_BEHIND {
            self.upkeep.fold();
        } else {
            self.thread.unpark();
        }
    }
}

impl HistogramFn for CountedHistogram {
    fn record(&self, value: f64) {
        self.inner.record(value);
        self.count(1);
    }

    fn record_many(&self, value: f64, count: usize) {
        self.inner.record_many(value, count);
        self.count(count as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorder whose upkeep thread never runs (waking the test thread instead), and one
    /// histogram of it.
    fn starved() -> (UpkeptRecorder, Histogram) {
        let inner = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .unwrap()
            .build_recorder();
        let rec = UpkeptRecorder {
            upkeep: Arc::new(Upkeep {
                recorded: AtomicU64::new(0),
                folded: AtomicU64::new(0),
                handle: inner.handle(),
            }),
            inner,
            thread: std::thread::current(),
        };
        let key = Key::from_name(GENERATION_SECONDS);
        let h = rec.register_histogram(&key, &Metadata::new("t", metrics::Level::INFO, None));
        (rec, h)
    }

    #[test]
    fn samples_are_folded_by_count_even_without_the_upkeep_thread() {
        let (rec, h) = starved();
        for _ in 0..UPKEEP_BEHIND {
            h.record(1e-3);
        }
        assert_eq!(
            rec.upkeep.folded.load(Ordering::Relaxed),
            0,
            "thread woken first"
        );
        for _ in 0..2 * UPKEEP_AFTER {
            h.record(1e-3);
        }
        h.record_many(0.5, UPKEEP_AFTER as usize);
        let folded = rec.upkeep.folded.load(Ordering::Relaxed);
        assert!(folded > UPKEEP_BEHIND, "folded {folded}");
        let total = UPKEEP_BEHIND + 3 * UPKEEP_AFTER;
        let text = rec.upkeep.handle.render();
        let count = format!("{GENERATION_SECONDS}_count {total}\n");
        assert!(text.contains(&count), "{text}");
        let le_1ms = format!(
            "{GENERATION_SECONDS}_bucket{{le=\"0.001\"}} {}",
            total - UPKEEP_AFTER
        );
        assert!(text.contains(&le_1ms), "{text}");
    }
}
