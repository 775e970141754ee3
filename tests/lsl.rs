//! The LSL outlet received by a real pylsl inlet: name, type, rate, channels, labels,
//! units, sample values and timestamps, and ECG beats as a marker stream on the same clock;
//! a missing liblsl is a clear error (exit 2).

mod common;
use std::process::{Command, Stdio};

/// Streams `model` for `duration` to the LSL outlet `name` while `tests/py/SCRIPT NAME
/// args…` reads it with pylsl; returns the script's output once the stream has ended
/// cleanly.
fn read_lsl_stream(model: &str, duration: &str, name: &str, script: &str, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(["stream", "--model", model, "--duration", duration, "--to"])
        .arg(format!("lsl:{name}"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _reap = common::KillOnPanic(child.id());
    let out = common::python(script, std::iter::once(name).chain(args.iter().copied()));
    let status = child.wait().unwrap();
    assert!(status.success(), "biowave stream failed");
    out
}

#[test]
fn pylsl_inlet_receives_the_stream_with_metadata_values_and_timestamps() {
    let name = format!("biowave-test-{}", std::process::id());
    let out = read_lsl_stream("sine", "6s", &name, "lsl_inlet.py", &["3"]);
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(j["name"], name.as_str());
    assert_eq!(j["type"], "ECG", "mV → ECG");
    assert_eq!(j["rate"], 500.0);
    assert_eq!(j["channel_count"], 1);
    assert_eq!(j["labels"], serde_json::json!(["S1"]));
    assert_eq!(j["units"], serde_json::json!(["mV"]));
    let n = j["n"].as_u64().unwrap();
    assert!((1200..=1700).contains(&n), "about 3 s at 500 Hz: {n}");
    assert!(j["sine_err"].as_f64().unwrap() < 1e-4, "{j}");
    let (dt, sd) = (
        j["dt_mean"].as_f64().unwrap(),
        j["dt_std"].as_f64().unwrap(),
    );
    assert!(
        (dt - 0.002).abs() < 1e-6 && sd < 1e-6,
        "timestamps 1/rate apart: {dt} ± {sd}"
    );
    let lag = j["lag_median"].as_f64().unwrap();
    // A block leaves at its first sample's deadline, stamped with each sample's nominal
    // time, so the newest stamp can be up to one block (20 ms) ahead of the receipt.
    assert!(
        (-0.025..0.1).contains(&lag),
        "timestamps on the inlet's clock: {lag}"
    );
}

#[test]
fn a_missing_liblsl_is_a_clear_error_before_streaming() {
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args([
            "stream",
            "--model",
            "sine",
            "--duration",
            "1s",
            "--to",
            "lsl:x",
        ])
        .env("BIOWAVE_LIBLSL", "/nonexistent/liblsl.so")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/nonexistent/liblsl.so") && err.contains("pip install pylsl"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "nothing streamed");
}

/// An ECGSYN stream's R peaks reach LSL as a marker stream `NAME-markers` (type `Markers`,
/// strings at an irregular rate) on the data's clock: pylsl finds each `N` within a few
/// milliseconds of the tallest lead-II sample near it.
#[test]
fn ecg_beats_reach_lsl_as_markers_on_the_r_peaks() {
    let name = format!("biowave-beats-{}", std::process::id());
    let out = read_lsl_stream("ecgsyn", "12s", &name, "lsl_markers.py", &["5", "1"]);
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(j["type"], "Markers");
    assert_eq!(j["channel_format"], 3, "cft_string");
    assert_eq!(j["rate"], 0.0, "irregular rate");
    let labels = j["labels"].as_array().unwrap();
    assert!(labels.len() >= 4, "about 72 bpm for 5 s: {j}");
    assert!(labels.iter().all(|l| l == "N"), "{j}");
    let offsets: Vec<f64> = j["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(offsets.len() + 2 >= labels.len(), "{j}");
    assert!(
        offsets.iter().all(|d| d.abs() <= 0.02),
        "each marker on its R peak (lead II maximum): {offsets:?}"
    );
}
