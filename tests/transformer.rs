//! The transformer generator end to end: `train` → checkpoint → `stream`, reproducible by
//! seed, temperature honoured, and an hour of the shipped ECG model that neither fades,
//! explodes nor loops.

mod common;
use biowave::block::Block;
use biowave::eval::psd::Welch;
use biowave::model;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_biowave");

fn stream(model: &str, extra: &[&str]) -> Vec<u8> {
    let o = Command::new(BIN)
        .args(["stream", "--model", model, "--fast", "--duration", "5s"])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

#[test]
fn trains_from_the_cli_and_streams_reproducibly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tf");
    let o = Command::new(BIN)
        .args([
            "train",
            "--model",
            "transformer",
            "--data",
            "signals/mitdb208.edf",
        ])
        .args([
            "--hidden", "32", "--heads", "2", "--layers", "1", "--epochs", "3",
        ])
        .args(["--window-s", "4", "--seed", "5", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg: serde_json::Value = common::read_json(&out.join("config.json"));
    assert_eq!(cfg["kind"], "transformer");
    assert_eq!(cfg["transformer"]["n_features"], 258);
    assert!(cfg["losses"]["validation"]["nll"]
        .as_f64()
        .unwrap()
        .is_finite());
    let m = out.to_str().unwrap();
    let a = stream(m, &["--seed", "1"]);
    assert_eq!(a.len(), 5 * 360 * 4, "5 s of one channel at 360 Hz as f32");
    assert_eq!(a, stream(m, &["--seed", "1"]), "same seed, same samples");
    assert_ne!(
        a,
        stream(m, &["--seed", "2"]),
        "another seed, other samples"
    );
    let cold = stream(m, &["--seed", "1", "--temperature", "0"]);
    assert_ne!(a, cold, "the temperature changes the draws");
    assert_eq!(
        cold,
        stream(m, &["--seed", "9", "--temperature", "0"]),
        "temperature 0 is the mean path"
    );
}

/// Per-minute amplitude (standard deviation) and spectral centroid (0.5–40 Hz).
fn minute_stats(x: &[f32], fs: f64) -> (f64, f64) {
    let mean = x.iter().map(|v| f64::from(*v)).sum::<f64>() / x.len() as f64;
    let var = x
        .iter()
        .map(|v| (f64::from(*v) - mean).powi(2))
        .sum::<f64>()
        / x.len() as f64;
    let rms = var.sqrt();
    let nperseg = 1024;
    let p = Welch::new(nperseg).psd(x, fs);
    let df = fs / nperseg as f64;
    let band = |k: usize| (0.5..40.0).contains(&(k as f64 * df));
    let (num, den) = p
        .iter()
        .enumerate()
        .filter(|(k, _)| band(*k))
        .fold((0.0, 0.0), |(n, d), (k, v)| (n + k as f64 * df * v, d + v));
    (rms, num / den)
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let mean = |x: &[f32]| x.iter().map(|v| f64::from(*v)).sum::<f64>() / x.len() as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x) - ma, f64::from(*y) - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt().max(1e-12)
}

/// One generated hour: every minute's amplitude and spectral centroid within ±20 % of the first
/// minute's (no drift into silence or explosion), and no minute a copy of another (no loop).
#[test]
fn an_hour_of_the_shipped_ecg_transformer_is_stable() {
    assert!(Path::new("models/ecg-transformer/config.json").exists());
    let mut g = model::by_name("ecg-transformer", 1).unwrap();
    let fs = g.spec().sample_rate;
    let per_minute = (60.0 * fs) as usize;
    let mut b = Block::new(1, per_minute / 60);
    let mut minutes: Vec<Vec<f32>> = Vec::new();
    let mut cur = Vec::with_capacity(per_minute);
    while minutes.len() < 60 {
        g.fill(&mut b).unwrap();
        cur.extend_from_slice(b.channel(0));
        if cur.len() >= per_minute {
            minutes.push(std::mem::replace(&mut cur, Vec::with_capacity(per_minute)));
        }
    }
    let stats: Vec<(f64, f64)> = minutes.iter().map(|m| minute_stats(m, fs)).collect();
    let (r0, c0) = stats[0];
    assert!(r0 > 0.05, "the first minute is not silent: rms {r0}");
    for (i, (r, c)) in stats.iter().enumerate() {
        assert!(
            (r / r0 - 1.0).abs() <= 0.2,
            "minute {i}: std {r:.3} vs {r0:.3}"
        );
        assert!(
            (c / c0 - 1.0).abs() <= 0.2,
            "minute {i}: centroid {c:.2} Hz vs {c0:.2} Hz"
        );
    }
    let ten_s = (10.0 * fs) as usize;
    for i in 0..60 {
        for j in i + 1..60 {
            let r = correlation(&minutes[i][..ten_s], &minutes[j][..ten_s]);
            assert!(r < 0.5, "minutes {i} and {j} repeat each other: r = {r:.3}");
        }
    }
}
