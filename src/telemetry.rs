//! Telemetry: metric names, their descriptions, and the Prometheus exporter.
//!
//! Metrics go through the `metrics` facade; without `--metrics` no recorder is installed
//! and recording costs next to nothing. Every metric carries a `stream` label.

use std::net::SocketAddr;

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

/// How often queued histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Registers help texts for every metric with the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(FRAMES_EMITTED, Unit::Count, "Frames released to the sinks");
    describe_counter!(
        SAMPLES_EMITTED,
        Unit::Count,
        "Samples released to the sinks"
    );
    describe_counter!(BLOCKS_DROPPED, Unit::Count, "Blocks a sink did not deliver");
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
    // Histogram samples queue in the recorder until drained into their buckets; a scrape
    // drains them, but nothing else does, so without this a process nobody scrapes grew
    // by every sample it recorded (~2 MB/h per stream at 50 blocks/s; `tests/stream_cli.rs`).
    let handle = recorder.handle();
    rt.spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
    metrics::set_global_recorder(recorder)
        .map_err(|e| crate::Error::BadInput(format!("--metrics {addr}: {e}")))?;
    describe();
    Ok(())
}
