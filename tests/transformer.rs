//! The transformer generator end to end: `train` → checkpoint → `stream`, reproducible by
//! seed, temperature honoured, and an hour of the shipped ECG model that neither fades,
//! explodes nor loops.

mod common;
use biowave::block::Block;
use biowave::dsp::filter::{butter, Band};
use biowave::eval::psd::Welch;
use biowave::model;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_biowave");

/// `biowave train --model transformer` on MIT-BIH 208 with a tiny model (d_model 32, 2 heads,
/// 1 layer, seed 5) and `extra` flags, into `out`.
fn train_small(extra: &[&str], out: &Path) -> std::process::Output {
    train_small_on("signals/mitdb208.edf", extra, out)
}

/// [`train_small`] on the record `data`.
fn train_small_on(data: &str, extra: &[&str], out: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(["train", "--model", "transformer", "--data", data])
        .args([
            "--hidden", "32", "--heads", "2", "--layers", "1", "--seed", "5",
        ])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

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
    let o = train_small(&["--epochs", "3", "--window-s", "4"], &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg: serde_json::Value = common::read_json(&out.join("config.json"));
    assert_eq!(cfg["kind"], "transformer");
    assert_eq!(cfg["transformer"]["n_features"], 258);
    assert!(cfg["losses"]["validation"]["nll"]
        .as_f64()
        .unwrap()
        .is_finite());
    assert_eq!(
        cfg["spectrum"]["log_psd"].as_array().map(Vec::len),
        Some(513),
        "the record's spectrum (Welch segments of 1024 at 360 Hz) is saved for the equaliser"
    );
    let m = out.to_str().unwrap();
    let a = stream(m, &["--seed", "1"]);
    assert_eq!(a.len(), 5 * 360 * 4, "5 s of one channel at 360 Hz as f32");
    let plain = common::checkpoint_without(&out, tmp.path(), &["spectrum"]);
    let b = stream(plain.to_str().unwrap(), &["--seed", "1"]);
    assert_eq!(b.len(), a.len(), "a checkpoint without a spectrum streams");
    assert_ne!(a, b, "unequalised");
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

/// One generated hour of the shipped checkpoint `name` (seed 1), minute by minute, with each
/// minute's amplitude and spectral centroid; asserts that the first minute is not silent and
/// that no minute repeats another (the first `snippet_s` seconds of every pair correlate
/// below `max_r`; a loop gives ~1).
fn an_hour_of(name: &str, snippet_s: f64, max_r: f64) -> Vec<(f64, f64)> {
    let (minutes, fs) = hour_minutes(name);
    assert_no_repeats(&minutes, (snippet_s * fs) as usize, max_r, name);
    minutes.iter().map(|m| minute_stats(m, fs)).collect()
}

/// The minutes of [`an_hour_of`] (first channel) and their sample rate; the first is not
/// silent.
fn hour_minutes(name: &str) -> (Vec<Vec<f32>>, f64) {
    assert!(Path::new("models").join(name).join("config.json").exists());
    let mut g = model::by_name(name, 1).unwrap();
    let fs = g.spec().sample_rate;
    let per_minute = (60.0 * fs) as usize;
    let mut b = Block::new(g.spec().n_channels(), per_minute / 60);
    let mut minutes: Vec<Vec<f32>> = Vec::new();
    let mut cur = Vec::with_capacity(per_minute);
    while minutes.len() < 60 {
        g.fill(&mut b).unwrap();
        cur.extend_from_slice(b.channel(0));
        if cur.len() >= per_minute {
            minutes.push(std::mem::replace(&mut cur, Vec::with_capacity(per_minute)));
        }
    }
    let first = minute_stats(&minutes[0], fs).0;
    assert!(first > 0.05, "the first minute is not silent: rms {first}");
    (minutes, fs)
}

/// Asserts that the first `len` samples of no two of `minutes` correlate at `max_r` or
/// above (a loop gives ~1).
fn assert_no_repeats(minutes: &[Vec<f32>], len: usize, max_r: f64, name: &str) {
    for i in 0..minutes.len() {
        for j in i + 1..minutes.len() {
            let r = correlation(&minutes[i][..len], &minutes[j][..len]);
            assert!(
                r < max_r,
                "{name}: minutes {i} and {j} repeat each other: r = {r:.3}"
            );
        }
    }
}

/// Means of each ten of `stats` (an hour's minutes), printed as ratios to the first ten's.
fn ten_minute_means(stats: &[(f64, f64)], what: &str) -> Vec<(f64, f64)> {
    let tens: Vec<(f64, f64)> = stats
        .chunks_exact(10)
        .map(|c| {
            let n = c.len() as f64;
            (
                c.iter().map(|s| s.0).sum::<f64>() / n,
                c.iter().map(|s| s.1).sum::<f64>() / n,
            )
        })
        .collect();
    eprintln!(
        "{what}: 10-minute means / the first ten's: {:.3?}",
        tens.iter()
            .map(|t| (t.0 / tens[0].0, t.1 / tens[0].1))
            .collect::<Vec<_>>()
    );
    tens
}

/// Asserts every entry of `stats` within ±`tol` of the first's, amplitude and centroid.
fn assert_within(stats: &[(f64, f64)], tol: f64, what: &str) {
    assert_ratios(stats, 1.0 - tol, 1.0 + tol, what);
}

/// Asserts every entry of `stats` within a factor `k` of the first's (1/k to k times),
/// amplitude and centroid.
fn assert_within_factor(stats: &[(f64, f64)], k: f64, what: &str) {
    assert_ratios(stats, 1.0 / k, k, what);
}

/// Asserts every entry of `stats` between `lo` and `hi` times the first's, amplitude and
/// centroid.
fn assert_ratios(stats: &[(f64, f64)], lo: f64, hi: f64, what: &str) {
    let (r0, c0) = stats[0];
    let range = |v: &dyn Fn(&(f64, f64)) -> f64| {
        let it = stats.iter().map(v);
        (
            it.clone().fold(f64::INFINITY, f64::min),
            it.fold(0.0, f64::max),
        )
    };
    let ((rl, rh), (cl, ch)) = (range(&|s| s.0 / r0), range(&|s| s.1 / c0));
    eprintln!("{what}: std {rl:.2}-{rh:.2} x the first, centroid {cl:.2}-{ch:.2} x");
    for (i, (r, c)) in stats.iter().enumerate() {
        assert!(
            (lo..=hi).contains(&(r / r0)),
            "{what} {i}: std {r:.3} vs {r0:.3}"
        );
        assert!(
            (lo..=hi).contains(&(c / c0)),
            "{what} {i}: centroid {c:.2} Hz vs {c0:.2} Hz"
        );
    }
}

/// One generated hour of each shipped EEG transformer (first channel, Fp1), the frame model
/// and the latent model over `eeg-vae`: every minute's amplitude and spectral centroid
/// within ±20 % of the first minute's (no drift into silence or explosion), and no minute a
/// copy of another (no loop).
#[test]
fn an_hour_of_each_shipped_eeg_transformer_is_stable() {
    for name in ["eeg-transformer", "eeg-latent-transformer"] {
        assert_within(&an_hour_of(name, 10.0, 0.5), 0.2, name);
    }
}

/// The frame transformer's draws come out 2–6 dB quieter than its record (over-smoothed
/// means, incoherent phases); its equaliser brings every channel of the shipped
/// `eeg-transformer` within 0.75 dB rms of the record's mean log spectrum over 1–40 Hz.
/// Measured (scipy, seed 2) 0.37–0.58 dB; unequalised 3.46–3.83 dB.
#[test]
fn the_eeg_transformer_is_equalised_to_its_record() {
    common::assert_eeg_spectrum_within("eeg-transformer", 2, 0.75);
}

/// Real EEG waxes and wanes: the loudness of the record's 2 s windows (its 19 EEG channels
/// as recorded) swings by about 0.1 in ln (`common::coupling_and_loudness_spread`, a
/// robust sd). The shipped `eeg-transformer`, trained with `--envelope`, swings as much
/// (within 20 %) over 10 minutes; the same checkpoint without its `envelope` swings far
/// less, and its channel coupling is the same either way (one gain on every channel).
#[test]
fn the_eeg_transformers_windows_wax_and_wane_as_its_records_do() {
    let [(r_ours, ours), (_, real), (r_plain, plain)] =
        common::eeg_coupling_with_and_without("eeg-transformer", "envelope");
    assert!((0.06..0.15).contains(&real), "record {real}");
    assert!(
        (ours / real - 1.0).abs() < 0.2,
        "synthetic {ours}, record {real}"
    );
    assert!(
        plain < 0.8 * real,
        "without the envelope {plain}, record {real}"
    );
    assert!(
        (r_ours - r_plain).abs() < 0.02,
        "coupling {r_ours} vs {r_plain}"
    );
}

/// The shipped latent ECG transformer plays beat tokens, and a minute of ~100 beats of
/// MIT-BIH 208 varies more than ±20 % from the next by which beats it holds (the record's
/// own minutes: std 0.68–1.04 × the first's, centroid 0.84–1.00 ×): so its drift is judged
/// on 10-minute means (within ±10 % of the first ten minutes'), each minute only kept from
/// silence or explosion (within ±50 %), and no minute repeats another. Its rhythm is
/// steady enough (~0.55 s RR) that two 10 s snippets line up by chance (1 of the 1770
/// pairs of seed 1 at r = 0.75, their RR sequences unlike; the record's own 10 s snippets
/// reach 0.69), so the loop check takes 30 s (its pairs: max 0.43, sd 0.11).
#[test]
fn an_hour_of_the_latent_ecg_transformer_does_not_drift() {
    let name = "ecg-latent-transformer";
    let stats = an_hour_of(name, 30.0, 0.6);
    assert_within(&stats, 0.5, name);
    let tens = ten_minute_means(&stats, name);
    assert_within(&tens, 0.1, &format!("{name}, ten minutes"));
}

/// One generated hour of the frame `ecg-transformer` keeps within ±20 % of its first minute
/// as a monitor shows it, high-passed at 0.67 Hz (the AHA monitoring band's lower edge):
/// every minute's amplitude and spectral centroid there (this hour on 2026-12-08: std
/// 0.99–1.11 ×, centroid 0.83–1.09 ×; `generate --duration 60m` seeds 1–5,
/// `scripts/minutes.py`, 0.67–40 Hz: std 0.89–1.09 ×, centroid within 0.83–1.17 × in four
/// hours, seed 1's 0.95–1.27 × from a low first minute, where the record's own half hour
/// spans 0.75–1.29 ×). Its raw minutes differ more, as its record's own do: it replays
/// MIT-BIH 208's baseline wander and noise in 10 s stretches (`train --wander`), a minute
/// holds six of them, and how the others compare with the first depends on which six it drew
/// (this hour: raw std 0.62–1.07 × the first, centroid 0.73–1.14 ×; the record's own half
/// hour 0.80–1.46 × in raw std). So the raw signal is held to the issue's ±20 % over ten
/// minutes: its 10-minute means within ±20 % of the first ten's (this hour 0.88–1.05 ×),
/// each minute within a factor of 2 of the first (neither silence nor explosion); and no
/// minute repeats another in the monitor band (30 s snippets, as for the latent model; raw,
/// two minutes that replay nearby stretches of the 290 s of baseline correlate by it).
#[test]
fn an_hour_of_the_frame_ecg_transformer_stays_within_20_percent_of_its_first_minute_as_monitored() {
    let name = "ecg-transformer";
    let (minutes, fs) = hour_minutes(name);
    let band = butter(2, Band::Highpass(0.67), fs).unwrap();
    let banded: Vec<Vec<f32>> = minutes.iter().map(|m| band.filtfilt(m).unwrap()).collect();
    assert_no_repeats(&banded, (30.0 * fs) as usize, 0.6, name);
    let monitored: Vec<(f64, f64)> = banded.iter().map(|m| minute_stats(m, fs)).collect();
    assert_within(&monitored, 0.2, &format!("{name}, above 0.67 Hz"));
    let raw: Vec<(f64, f64)> = minutes.iter().map(|m| minute_stats(m, fs)).collect();
    assert_within_factor(&raw, 2.0, name);
    let tens = ten_minute_means(&raw, name);
    assert_within(&tens, 0.2, &format!("{name}, ten minutes"));
}

/// `seconds` of the ECG model `name` (seed 1) with the events it puts out: first channel,
/// and each event's (seconds, label), every label one the generator declares.
fn beats_and_events(name: &str, seconds: f64) -> (Vec<f32>, f64, Vec<(f64, &'static str)>) {
    let mut g = model::by_name(name, 1).unwrap();
    let fs = g.spec().sample_rate;
    let labels = g.labels().to_vec();
    let mut b = Block::new(g.spec().n_channels(), 360);
    let (mut x, mut events) = (Vec::new(), Vec::new());
    while x.len() < (seconds * fs) as usize {
        b.events.clear();
        g.fill(&mut b).unwrap();
        let (from, to) = (b.start_index as f64 / fs, (b.start_index + 360) as f64 / fs);
        for e in &b.events {
            assert!(
                labels.contains(&e.label),
                "{} not among {labels:?}",
                e.label
            );
            assert!(
                (from..to).contains(&e.time),
                "event at {} s in {from}–{to} s",
                e.time
            );
            events.push((e.time, e.label));
        }
        x.extend_from_slice(b.channel(0));
    }
    (x, fs, events)
}

/// The share of `a` (seconds) with one of `b` within ±150 ms (ANSI/AAMI EC57's beat match
/// window), and the median of those nearest gaps in seconds.
fn matched(a: &[f64], b: &[f64]) -> (f64, f64) {
    let mut gaps: Vec<f64> = a
        .iter()
        .map(|t| {
            b.iter()
                .map(|u| (u - t).abs())
                .fold(f64::INFINITY, f64::min)
        })
        .filter(|&d| d <= 0.15)
        .collect();
    gaps.sort_by(f64::total_cmp);
    (gaps.len() as f64 / a.len() as f64, gaps[gaps.len() / 2])
}

/// The frame ECG transformer marks each beat it draws: its beat clock's R peaks come out as
/// events, in order, within their blocks. Against R peaks found in its output by
/// `dsp::qrs::detect`, as a monitor under test would be scored (EC57's ±150 ms): nearly every
/// event is a found beat and nearly every found beat an event, within 20 ms. Measured: here
/// 211 events, all matched both ways, median 11.1 ms off; on 10 minutes (seed 1) against
/// NeuroKit2's detector, 99.9 % of 1035 events and all its 1034 beats matched, 11.1 ms off.
#[test]
fn the_frame_ecg_transformer_marks_the_r_peak_of_each_beat_it_draws() {
    let (x, fs, events) = beats_and_events("ecg-transformer", 120.0);
    let times: Vec<f64> = events.iter().map(|e| e.0).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "events out of order");
    let found: Vec<f64> = (biowave::dsp::qrs::detect(&x, fs).unwrap().iter())
        .map(|&p| p as f64 / fs)
        .collect();
    let per_minute = events.len() as f64 / 2.0;
    assert!(
        (80.0..130.0).contains(&per_minute),
        "{per_minute} beats a minute"
    );
    let (sensitivity, off) = matched(&found, &times);
    let (ppv, _) = matched(&times, &found);
    eprintln!(
        "{} events, {} beats found: sensitivity {sensitivity:.3}, PPV {ppv:.3}, median \
         {:.1} ms off",
        times.len(),
        found.len(),
        1e3 * off
    );
    assert!(sensitivity >= 0.98 && ppv >= 0.98, "{sensitivity} {ppv}");
    assert!(off <= 0.02, "median {off} s from the found R peaks");
}

/// The check as written, on an ECG whose own minutes keep within it: one generated
/// hour of `ecg-sinus-latent-transformer` (MIT-BIH 100, regular sinus rhythm: the record's
/// own 30 minutes' std 0.98–1.23 × the first's, centroid 0.86–1.01 ×) has every minute's
/// amplitude and spectral centroid within ±20 % of the first minute's, and no minute repeats
/// another (30 s snippets, as for the other ECG models). Measured with `generate` (seeds 1 / 2,
/// `scripts/minutes.py`): std 0.93–1.01 × / 0.93–1.04 ×, centroid 0.91–1.02 × / 0.96–1.07 ×.
#[test]
fn an_hour_of_the_sinus_ecg_transformer_stays_within_20_percent_of_its_first_minute() {
    let name = "ecg-sinus-latent-transformer";
    assert_within(&an_hour_of(name, 30.0, 0.6), 0.2, name);
}

/// The frame transformer draws its prediction errors coupled across channels as they were
/// under teacher forcing on its training data (`draw_coupling`): 10 min of the shipped
/// `eeg-transformer` couple like the record (measured 0.48 against 0.43); drawn
/// independently, only the predicted means couple the channels (0.31). A coupling on a
/// checkpoint of the wrong size, or on one that is not a frame transformer, is refused by
/// name.
#[test]
fn the_eeg_transformer_draws_keep_the_records_channel_coupling() {
    let [(r, _), (r_real, _), (r_plain, _)] =
        common::eeg_coupling_with_and_without("eeg-transformer", "draw_coupling");
    eprintln!("coupling {r:.3} (record {r_real:.3}, independent draws {r_plain:.3})");
    assert!((r - r_real).abs() < 0.07, "coupling {r} vs {r_real}");
    assert!(
        r_plain < r_real - 0.07,
        "independent draws: {r_plain} vs {r_real}"
    );
    let dir = Path::new("models/eeg-transformer");
    let tmp = tempfile::tempdir().unwrap();
    let copy = common::checkpoint_without(dir, tmp.path(), &[]);
    let cfg = common::read_json(&dir.join("config.json"));
    let mut short = cfg.clone();
    short["draw_coupling"] = serde_json::json!([0.5]);
    common::assert_config_refused(&copy, &short, "draw_coupling");
    let mut misplaced = common::read_json(Path::new("models/eeg-vae/config.json"));
    misplaced["draw_coupling"] = cfg["draw_coupling"].clone();
    let vdir = common::checkpoint_without(Path::new("models/eeg-vae"), tmp.path(), &[]);
    common::assert_config_refused(&vdir, &misplaced, "draw_coupling");
}

fn train_latent(extra: &[&str], out: &Path) -> std::process::Output {
    let args = [&["--epochs", "5", "--context", "16"][..], extra].concat();
    train_small(&args, out)
}

/// `--codec`: a transformer over the shipped beat-aligned VAE's latents trains in seconds,
/// carries its codec, streams reproducibly, and plays beats at a heart rate (the frame
/// transformer's draws: ~150 bpm of small peaks).
#[test]
fn a_latent_transformer_trains_on_a_vae_codec_and_streams_beats() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("lt");
    let o = train_latent(&["--codec", "ecg-vae"], &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg = common::read_json(&out.join("config.json"));
    assert_eq!(
        (cfg["kind"].as_str(), cfg["codec"].as_str()),
        (Some("transformer"), Some("codec"))
    );
    assert_eq!(
        cfg["transformer"]["n_features"], 32,
        "one token = one 32-d latent"
    );
    let bytes = |p: &Path| std::fs::read(p).unwrap();
    assert_eq!(
        bytes(&out.join("codec/model.safetensors")),
        bytes(Path::new("models/ecg-vae/model.safetensors"))
    );
    let m = out.to_str().unwrap();
    let a = stream(m, &["--seed", "1"]);
    assert_eq!(a, stream(m, &["--seed", "1"]), "same seed, same samples");
    assert_ne!(
        a,
        stream(m, &["--seed", "2"]),
        "another seed, other samples"
    );
    let mut g = model::by_name(m, 3).unwrap();
    let mut b = Block::new(1, 360 * 60);
    g.fill(&mut b).unwrap();
    let [hr, ..] = biowave::eval::features::hrv(b.channel(0), 360.0);
    assert!((60.0..130.0).contains(&hr), "HR {hr} bpm (record ~100)");
    // A dataset's manifest names the codec's weights and config too.
    let ds = tmp.path().join("ds");
    let o = Command::new(BIN)
        .args([
            "generate",
            "--model",
            m,
            "--duration",
            "5s",
            "--count",
            "1",
            "--out",
        ])
        .arg(&ds)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let man = common::read_json(&ds.join("manifest.json"));
    let codec = man["params"]["codec_sha256"].as_array().unwrap();
    assert_eq!(codec.len(), 2);
    assert!(codec.iter().all(|h| h.as_str().unwrap().len() == 64));
}

/// `--codec` over a VAE that is not beat-aligned (the shipped 19-channel `eeg-vae`): tokens are
/// its windows at about the joiner's advance; the model trains, plays all 19 channels at the
/// codec's rate, and keeps each channel's δ/θ/α/β shares near the record's.
#[test]
fn a_latent_transformer_over_the_eeg_vae_plays_its_channels_and_bands() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("eeg-lt");
    let codec = common::read_json(Path::new("models/eeg-vae/config.json"));
    let labels: Vec<&str> = codec["data"]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let o = Command::new(BIN)
        .args(["train", "--model", "transformer", "--codec", "eeg-vae"])
        .args(["--data", "signals/eegmat_s00_rest.edf", "--epochs", "20"])
        .args([
            "--context",
            "16",
            "--hidden",
            "32",
            "--heads",
            "2",
            "--layers",
            "1",
        ])
        .args(["--seed", "5", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = out.to_str().unwrap();
    let mut g = model::by_name(m, 3).unwrap();
    let spec = g.spec().clone();
    assert_eq!(spec.sample_rate, 250.0);
    let got: Vec<&str> = spec.channels.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(got, labels);
    let e = g.fill(&mut Block::new(1, 250)).unwrap_err().to_string();
    assert!(
        e.contains("a block of 1 channels for a generator of 19"),
        "{e}"
    );
    let n = 250 * 60;
    let mut b = Block::new(labels.len(), n);
    g.fill(&mut b).unwrap();
    // The refused block cost the stream nothing: it goes on as one that never saw it.
    let mut fresh = Block::new(labels.len(), n);
    model::by_name(m, 3).unwrap().fill(&mut fresh).unwrap();
    assert_eq!(b.channel(0), fresh.channel(0), "refusal moved the stream");
    let rec = biowave::io::read(Path::new("signals/eegmat_s00_rest.edf")).unwrap();
    let bands = |x: &[f32], fs: f64| {
        biowave::eval::band_powers(&Welch::new((2.0 * fs) as usize).psd(x, fs), fs)
    };
    for (c, label) in labels.iter().enumerate() {
        let x = b.channel(c);
        assert!(
            x.iter().all(|v| v.is_finite()),
            "{label}: non-finite samples"
        );
        let real = rec.channel_index(label).unwrap();
        let r = &rec.channels[real];
        let fs = r.meta.sample_rate;
        let (want, have) = (bands(&r.samples, fs), bands(x, 250.0));
        for (k, (w, h)) in want.iter().zip(&have).enumerate() {
            assert!(
                (w - h).abs() < 0.12,
                "{label} band {k}: {h:.3} against the record's {w:.3}"
            );
        }
    }
    let a = stream(m, &["--seed", "1", "--format", "f32"]);
    assert_eq!(
        a,
        stream(m, &["--seed", "1", "--format", "f32"]),
        "same seed, same samples"
    );
}

/// Median standard deviation of 5 s windows (the scale `biowave eval` compares).
fn median_std_5s(x: &[f32], fs: f64) -> f64 {
    let mut s: Vec<f64> = x
        .chunks_exact((5.0 * fs) as usize)
        .map(|w| {
            let (r, _) = minute_stats(w, fs);
            r
        })
        .collect();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// A latent transformer's gains and equaliser are measured on its own draws, not on the
/// codec's state walk: its beat mix is its own, and calibrated on the walk its output came
/// out ~20 % louder than the record (median 5 s std 0.53 / 0.49 mV for `generate` seeds
/// 1 / 2 against 0.434; on its own draws 0.46 / 0.43, and 0.47 / 0.45 since the splicer
/// skips overlong cycles). Over the codec the shipped `ecg-latent-transformer` keeps (the
/// `ecg-vae` of before 2026-12-07): over today's `ecg-vae` a transformer of these 20 epochs
/// comes out 9–16 % loud (seeds 1, 2, 5), one of the shipped recipe's 300 epochs 4–7 %.
#[test]
fn a_latent_transformers_level_is_its_training_records() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("lt");
    let codec = "models/ecg-latent-transformer/codec";
    let o = Command::new(BIN)
        .args(["train", "--model", "transformer", "--codec", codec])
        .args([
            "--data",
            "signals/mitdb208.edf",
            "--seed",
            "5",
            "--epochs",
            "20",
        ])
        .args(["--hidden", "64", "--heads", "4", "--layers", "2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rec = biowave::io::read(Path::new("signals/mitdb208.edf")).unwrap();
    let real = median_std_5s(&rec.channels[0].samples, 360.0);
    let mut level = 0.0;
    for seed in [1, 2] {
        let mut g = model::by_name(out.to_str().unwrap(), seed).unwrap();
        let mut b = Block::new(1, 360 * 300);
        g.fill(&mut b).unwrap();
        level += median_std_5s(b.channel(0), 360.0) / 2.0;
    }
    assert!(
        (level / real - 1.0).abs() < 0.1,
        "median 5 s std {level:.3} mV against the record's {real:.3}"
    );
}

#[test]
fn latent_transformer_bad_input_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bad");
    let refused = |o: std::process::Output, what: &str| {
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(what), "{what}: {err}");
    };
    // Flags the codec fixes; a codec without a latent prior; the VAE kind.
    refused(
        train_latent(&["--codec", "ecg-vae", "--n-fft", "128"], &out),
        "--n-fft",
    );
    let vae = tmp.path().join("vae");
    std::fs::create_dir(&vae).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(Path::new("models/ecg-vae").join(f), vae.join(f)).unwrap();
    }
    let no_prior = common::checkpoint_without(&vae, tmp.path(), &["latent_prior", "latent_states"]);
    refused(
        train_latent(&["--codec", no_prior.to_str().unwrap()], &out),
        "latent_prior",
    );
    // Training into the codec's own directory would overwrite the VAE.
    refused(
        train_latent(&["--codec", vae.to_str().unwrap()], &vae),
        "overwritten",
    );
    assert_eq!(
        std::fs::read(vae.join("model.safetensors")).unwrap(),
        std::fs::read("models/ecg-vae/model.safetensors").unwrap()
    );
    refused(
        train_latent(&["--codec", "ecg-transformer"], &out),
        "not a VAE",
    );
    refused(
        train_latent(&["--codec", "ecg-vae", "--context", "400"], &out),
        "--context",
    );
    let o = Command::new(BIN)
        .args([
            "train",
            "--model",
            "vae",
            "--codec",
            "ecg-vae",
            "--data",
            "signals/mitdb208.edf",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    refused(o, "--codec");
    // A trained checkpoint whose codec is missing, or whose config points elsewhere.
    let lt = tmp.path().join("lt");
    assert!(train_latent(&["--codec", "ecg-vae"], &lt).status.success());
    let stream_err = |what: &str| {
        let o = Command::new(BIN)
            .args([
                "stream",
                "--model",
                lt.to_str().unwrap(),
                "--duration",
                "1s",
                "--fast",
            ])
            .output()
            .unwrap();
        refused(o, what);
    };
    let cfg = lt.join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["codec"] = serde_json::json!("../elsewhere");
    std::fs::write(&cfg, v.to_string()).unwrap();
    stream_err("codec");
    std::fs::write(&cfg, &text).unwrap();
    std::fs::remove_file(lt.join("codec/model.safetensors")).unwrap();
    stream_err("codec/model.safetensors");
}

/// The height the tallest 0.1 % of a signal's samples reach above its median (R waves, in
/// an ECG).
fn r_wave_height(x: &[f32]) -> f64 {
    let mut v: Vec<f32> = x.to_vec();
    v.sort_by(f32::total_cmp);
    let median = v[v.len() / 2];
    f64::from(v[v.len() * 999 / 1000] - median)
}

/// `--codebook`: the head chooses the next frame among k-means centres of the training
/// frames. Trained briefly on MIT-BIH 208 (as the Gaussian head beside it), the checkpoint
/// holds its fitted codebook (kept as it is by `--resume`), and its output is made of whole
/// frames: its samples skewed by QRS spikes as the record's are, where the Gaussian head's
/// draws blur them into a near-symmetric ripple.
#[test]
fn a_codebook_head_commits_to_whole_beats() {
    let tmp = tempfile::tempdir().unwrap();
    let common = ["--window-s", "2", "--n-fft", "64", "--hop", "16"];
    let (book, gauss) = (tmp.path().join("book"), tmp.path().join("gauss"));
    let o = train_small(
        &[&common[..], &["--codebook", "256", "--epochs", "60"]].concat(),
        &book,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = train_small(&[&common[..], &["--epochs", "60"]].concat(), &gauss);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg: serde_json::Value = common::read_json(&book.join("config.json"));
    assert_eq!(cfg["transformer"]["codebook"], 256);
    let loss = cfg["losses"]["validation"]["code_nll"].as_f64().unwrap();
    assert!(loss > 0.0 && loss < 256f64.ln(), "code_nll {loss}");
    let cpu = candle_core::Device::Cpu;
    let weights = candle_core::safetensors::load(book.join("model.safetensors"), &cpu).unwrap();
    assert_eq!(weights["codebook.centres"].dims(), &[256, 66]);
    // Resuming loads the fitted codebook and trains on; it does not fit or seed it again.
    let step = cfg["step"].as_u64().unwrap();
    let o = train_small(
        &[
            &common[..],
            &["--codebook", "256", "--resume", "--epochs", "62"],
        ]
        .concat(),
        &book,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let resumed = candle_core::safetensors::load(book.join("model.safetensors"), &cpu).unwrap();
    let centres = |w: &std::collections::HashMap<String, candle_core::Tensor>| {
        w["codebook.centres"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(centres(&resumed), centres(&weights));
    assert!(
        common::read_json(&book.join("config.json"))["step"]
            .as_u64()
            .unwrap()
            > step
    );
    let rec = biowave::io::read(Path::new("signals/mitdb208.edf")).unwrap();
    let real = r_wave_height(&rec.channels[0].samples);
    let ((b, fs), (g, _)) = (
        common::seconds_of(&book, 60.0),
        common::seconds_of(&gauss, 60.0),
    );
    let (b, g) = (&b[0], &g[0]);
    let (hb, hg) = (r_wave_height(b), r_wave_height(g));
    let real_skew = common::skewness(&rec.channels[0].samples);
    let (sb, sg) = (common::skewness(b), common::skewness(g));
    // Measured (seed 5, d_model 32, 60 epochs resumed to 62): skewness 1.02 against the Gaussian
    // head's 0.38, the record's 1.09 (its QRS spikes); R waves 1.83 against 1.45 mV, the
    // record 3.46 (its PVCs; d_model 192 trained for 10 min reaches 3.70, the shipped
    // Gaussian `ecg-transformer` 1.36).
    assert!(
        sb > 0.6 * real_skew && sb < 1.4 * real_skew && sb > 2.0 * sg,
        "skewness: codebook {sb:.2}, Gaussian head {sg:.2}, the record {real_skew:.2}"
    );
    assert!(
        hb > hg,
        "R waves: codebook {hb:.2} mV, Gaussian head {hg:.2}, the record {real:.2}"
    );
    let beats = biowave::dsp::qrs::detect(b, fs).unwrap().len();
    assert!((30..=200).contains(&beats), "{beats} beats in a minute");
}

/// Beats per minute and the standard deviation of the RR intervals (s) that `qrs::detect`
/// finds in `x`.
fn rate_and_spread(x: &[f32], fs: f64) -> (f64, f64) {
    let peaks = biowave::dsp::qrs::detect(x, fs).unwrap();
    let rr: Vec<f64> = peaks
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / fs)
        .collect();
    let n = rr.len() as f64;
    let mean = rr.iter().sum::<f64>() / n;
    let sd = (rr.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
    (60.0 / mean, sd)
}

/// Flags of the small codebook models the beat-clock tests train, `--epochs` last with its
/// value (a resume asks for more).
const CLOCKED: [&str; 12] = [
    "--window-s",
    "2",
    "--n-fft",
    "64",
    "--hop",
    "16",
    "--codebook",
    "256",
    "--temperature",
    "0.3",
    "--epochs",
    "60",
];

/// `--clock`: every token also carries the next frame's place in the cardiac cycle, from
/// the R peaks of the training record and, when sampling, from its replayed RR intervals.
/// Trained briefly on MIT-BIH 208 beside the same codebook model without a clock, the
/// checkpoint keeps the plausible training intervals (detector slips left out) and the codes
/// of each place in the cycle (kept by `--resume`), and the clocked model's beats come at
/// the record's rate and more regularly than the unclocked model's, which run together and
/// leave gaps.
#[test]
fn a_beat_clock_sets_the_rhythm() {
    let tmp = tempfile::tempdir().unwrap();
    let common = CLOCKED;
    let (clocked, free) = (tmp.path().join("clocked"), tmp.path().join("free"));
    for (out, extra) in [(&clocked, &["--clock"][..]), (&free, &[][..])] {
        let o = train_small(&[&common[..], extra].concat(), out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let cfg = common::read_json(&clocked.join("config.json"));
    assert_eq!(cfg["data"]["clock"], true);
    assert_eq!(cfg["temperature"], 0.3);
    let mut rr: Vec<f64> = cfg["transformer"]["rhythm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    rr.sort_by(f64::total_cmp);
    let median = rr[rr.len() / 2];
    // 240 s of a ~100 bpm record, less what the validation split and the pieces' edges take.
    assert!((250..500).contains(&rr.len()), "{} intervals", rr.len());
    assert!(rr[0] >= 0.5 * median && rr[rr.len() - 1] <= 2.0 * median);
    // The codes the sampler may draw at each of the 17 places in the cycle (a hop within 8
    // before or after an R peak, or farther): the frames on the peak (the QRS) are codes
    // of their own, fewer than a fifth of which the frames two or more hops away share
    // (measured: 9 of 72; with no clock to sort them they would share nearly all).
    let by_place: Vec<BTreeSet<u64>> = cfg["transformer"]["codes_by_clock"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(by_place.len(), 17);
    assert!(by_place.iter().flatten().all(|&c| c < 256));
    let on_peak: BTreeSet<u64> = by_place[0].union(&by_place[8]).copied().collect();
    let away: BTreeSet<u64> = [2..8, 10..17]
        .into_iter()
        .flatten()
        .flat_map(|p| by_place[p].iter().copied())
        .collect();
    let shared = on_peak.intersection(&away).count();
    eprintln!(
        "codes on the R peak {}, away from it {}, shared {shared}",
        on_peak.len(),
        away.len()
    );
    assert!(on_peak.len() >= 5 && shared * 5 < on_peak.len());
    // Resuming keeps the lists (fitted with the codebook, which it does not refit).
    let o = train_small(
        &[
            &common[..common.len() - 2],
            &["--clock", "--resume", "--epochs", "62"],
        ]
        .concat(),
        &clocked,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let resumed = common::read_json(&clocked.join("config.json"));
    assert!(resumed["step"].as_u64() > cfg["step"].as_u64());
    assert_eq!(
        resumed["transformer"]["codes_by_clock"],
        cfg["transformer"]["codes_by_clock"]
    );
    let free_cfg = common::read_json(&free.join("config.json"));
    assert!(free_cfg["transformer"].get("rhythm").is_none());
    assert!(free_cfg["transformer"].get("codes_by_clock").is_none());
    let rec = biowave::io::read(Path::new("signals/mitdb208.edf")).unwrap();
    let real = rate_and_spread(&rec.channels[0].samples, 360.0);
    let (c, fs) = common::seconds_of(&clocked, 120.0);
    let (f, _) = common::seconds_of(&free, 120.0);
    let (with, without) = (rate_and_spread(&c[0], fs), rate_and_spread(&f[0], fs));
    eprintln!("HR / RR sd: clocked {with:.3?}, without {without:.3?}, record {real:.3?}");
    assert!(
        (with.0 - real.0).abs() < 0.15 * real.0,
        "clocked HR {:.1} against the record's {:.1}",
        with.0,
        real.0
    );
    assert!(
        with.1 < 0.7 * without.1,
        "RR sd: clocked {:.3} s, without the clock {:.3} s",
        with.1,
        without.1
    );
}

/// Of `x`'s beats (R peaks by `qrs::detect`, shapes by `data::beat_kinds::shapes`): the
/// share nearer `centres[1]` than `centres[0]`, and the share clearly of one kind (squared
/// distance to one centre under a quarter of that to the other).
fn kind_shares(x: &[f32], fs: f64, centres: &[Vec<f32>; 2]) -> (f64, f64) {
    let peaks = biowave::dsp::qrs::detect(x, fs).unwrap();
    let shapes = biowave::data::beat_kinds::shapes(x, &peaks, fs).unwrap();
    let d = |a: &[f32], b: &[f32]| -> f32 { a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum() };
    let (mut second, mut clear) = (0, 0);
    for s in &shapes {
        let (d0, d1) = (d(s, &centres[0]), d(s, &centres[1]));
        second += usize::from(d1 < d0);
        clear += usize::from(d0.min(d1) < 0.25 * d0.max(d1));
    }
    let n = shapes.len().max(1) as f64;
    (second as f64 / n, clear as f64 / n)
}

/// The `N` and `V` events on `x` name the shapes of their beats: of the beats found at
/// events (`qrs::detect`, ±150 ms), those whose shape lies clearly nearer one of the
/// record's kinds (`centres`, normal then ventricular) mostly carry that kind's label, and
/// the share of `V` is the share of ventricular shapes within a third.
fn assert_labels_name_shapes(x: &[f32], fs: f64, events: &[(f64, &str)], centres: &[Vec<f32>; 2]) {
    let peaks = biowave::dsp::qrs::detect(x, fs).unwrap();
    let shapes = biowave::data::beat_kinds::shapes(x, &peaks, fs).unwrap();
    let d = |a: &[f32], b: &[f32]| -> f32 { a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum() };
    let (mut agree, mut clear, mut ventricular) = (0, 0, 0);
    for (&p, s) in peaks.iter().zip(&shapes) {
        let t = p as f64 / fs;
        let Some(&(_, label)) = events.iter().find(|e| (e.0 - t).abs() <= 0.15) else {
            continue;
        };
        let (d0, d1) = (d(s, &centres[0]), d(s, &centres[1]));
        ventricular += usize::from(d1 < d0);
        if d0.min(d1) < 0.25 * d0.max(d1) {
            clear += 1;
            agree += usize::from((label == "V") == (d1 < d0));
        }
    }
    let named_v = events.iter().filter(|e| e.1 == "V").count() as f64 / events.len() as f64;
    let shaped_v = ventricular as f64 / peaks.len() as f64;
    let agreement = agree as f64 / clear.max(1) as f64;
    eprintln!("labels: V {named_v:.3} of events, ventricular shapes {shaped_v:.3}, clear beats named by their shape {agreement:.3} of {clear}");
    assert!(events.iter().all(|e| ["N", "V", "Q"].contains(&e.1)));
    assert!(
        agreement >= 0.9,
        "{agreement:.3} of {clear} clear beats named by their shape"
    );
    assert!(
        (shaped_v / 1.5..shaped_v * 1.5).contains(&named_v),
        "V events {named_v:.3}, ventricular shapes {shaped_v:.3}"
    );
}

/// `--clock-kinds 2`: the clock also says which kind of beat each frame belongs to (the
/// training beats grouped by shape: on MIT-BIH 208 normal and ventricular), and the sampler
/// replays each training interval with the kind of beat that ended it. Trained briefly, the
/// checkpoint keeps a kind per replayed interval (a quarter ventricular, as the record's
/// beats) and a list of codes for each slot of each kind, none empty; and its beats take
/// one of the record's two shapes, where without kinds a beat's frames are drawn among codes
/// of either kind and most beats come out in between. Measured on 5 min (seed 1) of these
/// flags: beats clearly of one kind 72 % with kinds, 35 % without, the record 87 %; of the
/// ventricular kind 20 % / 21 %, the record 25 %. Trained on the same five minutes with the
/// cardiologists' beat labels (`mitdb208_full.edf`), the kinds are named by them, `N` and
/// `V`, and each R peak event the sampler puts out carries its beat's name: the beats
/// labelled `V` take the record's ventricular shape.
#[test]
fn kinds_of_beat_in_the_clock_keep_each_beat_one_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kinds");
    let excerpt = ["--channels", "MLII", "--start", "1174.5", "--end", "1474.5"];
    let kinded = [&CLOCKED[..], &["--clock", "--clock-kinds", "2"], &excerpt].concat();
    let o = train_small_on("signals/mitdb208_full.edf", &kinded, &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg = common::read_json(&dir.join("config.json"));
    let t = &cfg["transformer"];
    assert_eq!(
        (cfg["data"]["clock_kinds"].as_u64(), t["kinds"].as_u64()),
        (Some(2), Some(2))
    );
    let kinds: Vec<u64> = t["rhythm_kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_u64().unwrap())
        .collect();
    assert_eq!(kinds.len(), t["rhythm"].as_array().unwrap().len());
    let second = kinds.iter().filter(|&&k| k == 1).count() as f64 / kinds.len() as f64;
    assert!(
        (0.15..0.4).contains(&second),
        "{second:.2} of the beats of kind 1"
    );
    assert_eq!(t["kind_labels"], serde_json::json!(["N", "V"]));
    // Most of each kind's training beats (four of the five pieces) carry its name: 261 `N`
    // and 86 `V` here, where the whole excerpt holds 358 and 93.
    let labelled = t["kind_labelled"].as_array().unwrap();
    assert!(labelled[0].as_u64().unwrap() > 200 && labelled[1].as_u64().unwrap() > 60);
    let lists = t["codes_by_clock"].as_array().unwrap();
    assert_eq!(lists.len(), 2 * 17);
    // Every place of the kind-1 beats has codes of its own or its slot's (none left open).
    assert!(lists[17..]
        .iter()
        .all(|l| !l.as_array().unwrap().is_empty()));
    // The record's two kinds, as the training found them, and their mean shapes.
    let rec = biowave::io::read(Path::new("signals/mitdb208.edf")).unwrap();
    let (x, fs) = (&rec.channels[0].samples, 360.0);
    let peaks = biowave::dsp::qrs::detect(x, fs).unwrap();
    let shapes = biowave::data::beat_kinds::shapes(x, &peaks, fs).unwrap();
    let kind = biowave::data::beat_kinds::classify(x, &peaks, fs, 2, 5);
    let centres: [Vec<f32>; 2] = [0u8, 1].map(|k| {
        let of: Vec<&Vec<f32>> = shapes
            .iter()
            .zip(&kind)
            .filter(|(_, &c)| c == k)
            .map(|(s, _)| s)
            .collect();
        (0..of[0].len())
            .map(|i| of.iter().map(|s| s[i]).sum::<f32>() / of.len() as f32)
            .collect()
    });
    let real = kind_shares(x, fs, &centres);
    let (y, _, events) = beats_and_events(dir.to_str().unwrap(), 300.0);
    let synth = kind_shares(&y, fs, &centres);
    assert_labels_name_shapes(&y, fs, &events, &centres);
    eprintln!("kind 1, clearly one kind: synthetic {synth:.3?}, the record {real:.3?}");
    assert!(
        real.1 > 0.8,
        "the record's beats clearly of one kind: {:.3}",
        real.1
    );
    assert!(
        synth.1 > 0.55,
        "synthetic beats clearly of one kind: {:.3}",
        synth.1
    );
    assert!(
        (0.5 * real.0..1.5 * real.0).contains(&synth.0),
        "kind 1: {synth:.3?} {real:.3?}"
    );
}

/// A clocked checkpoint whose rhythm the sampler could not replay (an interval too short
/// for the clock to advance past, too few intervals), whose data and transformer sections
/// disagree on the clock or its kinds of beat, whose kinds of beat do not fit its rhythm
/// or are named by what is no beat code, or whose codes per place in the cycle are not one
/// list per place of codes it has, is
/// refused by name before anything streams.
#[test]
fn bad_beat_clocks_in_a_checkpoint_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("clock");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        "models/ecg-transformer/model.safetensors",
        dir.join("model.safetensors"),
    )
    .unwrap();
    let good = common::read_json(Path::new("models/ecg-transformer/config.json"));
    assert_eq!(good["data"]["clock"], true);
    let mut vanishing = good.clone();
    vanishing["transformer"]["rhythm"][3] = serde_json::json!(1e-30);
    common::assert_config_refused(&dir, &vanishing, "rhythm");
    let mut few = good.clone();
    few["transformer"]["rhythm"] = serde_json::json!([0.6, 0.6, 0.6]);
    common::assert_config_refused(&dir, &few, "rhythm");
    let mut unclocked = good.clone();
    unclocked["data"]["clock"] = serde_json::json!(false);
    common::assert_config_refused(&dir, &unclocked, "data.clock");
    // Codes per place in the cycle: one list per place, each code in the codebook.
    let places = vec![serde_json::json!([0, 1]); 17];
    let mut stray = good.clone();
    stray["transformer"]["codes_by_clock"] = serde_json::json!(places);
    stray["transformer"]["codes_by_clock"][16] = serde_json::json!([1, 4096]);
    common::assert_config_refused(&dir, &stray, "codes_by_clock");
    let mut short = good.clone();
    short["transformer"]["codes_by_clock"] = serde_json::json!(&places[..5]);
    common::assert_config_refused(&dir, &short, "codes_by_clock");
    // Kinds of beat: one kind below `kinds` per interval, at most 8 kinds, and a list of
    // codes for each slot of each kind.
    // (The shipped checkpoint tells two kinds apart; its data section must say so too.)
    let n = good["transformer"]["rhythm"].as_array().unwrap().len();
    let mut kinded = good.clone();
    kinded["data"]
        .as_object_mut()
        .unwrap()
        .remove("clock_kinds");
    kinded["transformer"]["kinds"] = serde_json::json!(2);
    kinded["transformer"]["rhythm_kinds"] = serde_json::json!(vec![0; n]);
    kinded["transformer"]["codes_by_clock"] = serde_json::json!([]);
    common::assert_config_refused(&dir, &kinded, "clock_kinds");
    kinded["data"]["clock_kinds"] = serde_json::json!(2);
    let mut one_kind_of_lists = kinded.clone();
    one_kind_of_lists["transformer"]["codes_by_clock"] = serde_json::json!(places);
    common::assert_config_refused(&dir, &one_kind_of_lists, "codes_by_clock");
    let mut unkinded = kinded.clone();
    unkinded["transformer"]["rhythm_kinds"] = serde_json::json!([]);
    common::assert_config_refused(&dir, &unkinded, "kinds 2");
    let mut fewer = kinded.clone();
    fewer["transformer"]["rhythm_kinds"] = serde_json::json!(vec![0; n - 1]);
    common::assert_config_refused(&dir, &fewer, "rhythm_kinds");
    let mut beyond = kinded.clone();
    beyond["transformer"]["rhythm_kinds"][0] = serde_json::json!(2);
    common::assert_config_refused(&dir, &beyond, "rhythm_kinds");
    let mut many = kinded.clone();
    many["transformer"]["kinds"] = serde_json::json!(9);
    common::assert_config_refused(&dir, &many, "rhythm_kinds");
    // The kinds' names: MIT-BIH beat codes, no more than there are kinds.
    let mut unknown = kinded.clone();
    unknown["transformer"]["kind_labels"] = serde_json::json!(["N", "X"]);
    unknown["transformer"]["kind_labelled"] = serde_json::json!([9, 9]);
    common::assert_config_refused(&dir, &unknown, "\"X\" is not a beat code");
    let mut named_thrice = unknown.clone();
    named_thrice["transformer"]["kind_labels"] = serde_json::json!(["N", "V", "F"]);
    named_thrice["transformer"]["kind_labelled"] = serde_json::json!([9, 9, 9]);
    common::assert_config_refused(&dir, &named_thrice, "3 labels for a clock of 2 kinds");
    let mut uncounted = unknown.clone();
    uncounted["transformer"]["kind_labels"] = serde_json::json!(["N", "V"]);
    uncounted["transformer"]["kind_labelled"] = serde_json::json!([9]);
    common::assert_config_refused(&dir, &uncounted, "kind_labelled: 1 counts for 2");
}

/// Real EEG is not symmetric (`common::assert_skewed_as_its_record`): the shipped
/// `eeg-transformer`, trained with `--shape`, skews its channels as the record does
/// (measured, scipy: r 0.87, rms difference 0.037; without its shape −0.61, 0.085).
#[test]
fn the_eeg_transformers_channels_are_skewed_as_its_records_are() {
    common::assert_skewed_as_its_record("eeg-transformer");
}

/// The shipped `eeg-latent-transformer` takes the waveform shape from its codec (a copy of
/// `eeg-vae`, trained with `--shape`), measured on the transformer's own draws: its
/// channels skew as the record's do too.
#[test]
fn the_eeg_latent_transformers_channels_are_skewed_as_its_records_are() {
    common::assert_skewed_as_its_record("eeg-latent-transformer");
}

/// `--clock` or `--envelope` on a VAE or a latent transformer, `--shape` on a latent
/// transformer, `--clock-kinds` without
/// `--clock` or outside 1–8, `--temperature` on a VAE or outside [0, 10], `--context`
/// without `--codec` (a frame transformer's context is its window), and one kind of
/// model's shape flags on the other, are refused by name before any data is read.
#[test]
fn clock_and_temperature_flags_that_do_not_fit_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 17] = [
        (&["--model", "vae", "--clock"], "--clock"),
        (
            &["--model", "vae", "--heads", "4"],
            "--heads shapes the transformer, not --model vae",
        ),
        (
            &["--model", "transformer", "--beta", "0.5"],
            "--beta shapes the VAE",
        ),
        (
            &[
                "--model",
                "transformer",
                "--latent",
                "8",
                "--codec",
                "ecg-vae",
            ],
            "--latent shapes the VAE (a latent transformer takes its codec's)",
        ),
        (
            &["--model", "transformer", "--context", "100000"],
            "--context applies to latent transformers (--codec)",
        ),
        (&["--model", "vae", "--context", "16"], "--context"),
        (&["--model", "vae", "--envelope"], "--envelope"),
        (&["--model", "vae", "--wander"], "--wander"),
        (
            &["--model", "transformer", "--wander", "--codec", "ecg-vae"],
            "--wander",
        ),
        (
            &["--model", "transformer", "--shape", "--codec", "ecg-vae"],
            "--shape",
        ),
        (
            &["--model", "transformer", "--envelope", "--codec", "ecg-vae"],
            "--envelope",
        ),
        (
            &["--model", "transformer", "--clock-kinds", "2"],
            "--clock-kinds 2",
        ),
        (
            &["--model", "transformer", "--clock", "--clock-kinds", "0"],
            "--clock-kinds 0",
        ),
        (
            &["--model", "transformer", "--clock", "--clock-kinds", "9"],
            "--clock-kinds 9",
        ),
        (
            &["--model", "transformer", "--clock", "--codec", "ecg-vae"],
            "--clock",
        ),
        (&["--model", "vae", "--temperature", "0.5"], "--temperature"),
        (
            &["--model", "transformer", "--temperature", "11"],
            "--temperature",
        ),
    ];
    for (args, needle) in cases {
        let err = refused_training(args, &tmp.path().join("x"));
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!tmp.path().join("x").exists(), "{args:?}");
    }
}

/// Stderr of a one-epoch `train` on MIT-BIH 208 with `args` into `out`, asserting it
/// exited with 2 (bad input).
fn refused_training(args: &[&str], out: &Path) -> String {
    let o = Command::new(BIN)
        .args(["train", "--data", "signals/mitdb208.edf", "--epochs", "1"])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    err
}

/// `--resume` goes on from a checkpoint only where its frames were made as this run makes
/// them: one whose `data` settings differ (here its baseline left out of the frames, as
/// `--wander` does, where this run keeps it) is refused by name, exit 2, its files as they
/// were; the same flags resume, and resuming a finished run keeps its losses.
#[test]
fn resuming_a_checkpoint_made_from_other_frames_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("book");
    // The beat-clock tests' window and STFT, a smaller codebook.
    let flags = [&CLOCKED[..6], &["--codebook", "64"]].concat();
    let o = train_small(&[&flags[..], &["--epochs", "1"]].concat(), &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut cfg = common::read_json(&dir.join("config.json"));
    cfg["data"]["remove_baseline_hz"] = serde_json::json!(1.0);
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let resume = [&flags[..], &["--resume", "--epochs", "2"]].concat();
    let o = train_small(&resume, &dir);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--resume") && err.contains("data settings"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        weights
    );
    cfg["data"]
        .as_object_mut()
        .unwrap()
        .remove("remove_baseline_hz");
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    let o = train_small(&resume, &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Resumed with no step left to take, it keeps the step and training losses it had.
    let done = common::read_json(&dir.join("config.json"));
    let o = train_small(&resume, &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again = common::read_json(&dir.join("config.json"));
    assert_eq!(again["step"], done["step"]);
    assert_eq!(again["losses"]["train"], done["losses"]["train"]);
    assert!(done["losses"]["train"]["code_nll"].as_f64().unwrap() > 0.0);
}

/// `--codebook` beside `--mixture`, on a VAE or a latent transformer, or larger than a
/// checkpoint may hold, is refused by name before any data is read; so is a codebook
/// larger than the training frames.
#[test]
fn codebook_flags_that_do_not_fit_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--model",
                "transformer",
                "--codebook",
                "8",
                "--mixture",
                "2",
            ],
            "--mixture",
        ),
        (
            &["--model", "transformer", "--codebook", "5000"],
            "at most 4096",
        ),
        (&["--model", "vae", "--codebook", "8"], "frame transformer"),
        (
            &[
                "--model",
                "transformer",
                "--codebook",
                "8",
                "--codec",
                "ecg-vae",
            ],
            "frame transformer",
        ),
        (
            &[
                "--model",
                "transformer",
                "--codebook",
                "4000",
                "--window-s",
                "2",
            ],
            "training frames",
        ),
    ];
    for (args, needle) in cases {
        let err = refused_training(args, &tmp.path().join("x"));
        assert!(
            err.contains("--codebook") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
}
