//! `biowave eval` on real data: halves of one real record look alike, phase-randomised
//! surrogates (of the real or the training windows) and noise do not, a copied training
//! record is flagged; numbers recomputed with scipy / numpy / scikit-learn; the HTML report
//! renders in headless Chromium.

mod common;
use biowave::eval::windows::{Pick, Windows};
use biowave::eval::{self, features, metrics};
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

fn mitdb_windows(window_s: f64) -> Windows {
    let rec = biowave::io::read(Path::new("signals/mitdb208.edf")).unwrap();
    eval::windows::cut(&[("mitdb208".into(), rec)], Pick::All, window_s, "real").unwrap()
}

/// Windows `k` with `k % m == r`: interleaved subsets of one record.
fn subset(w: &Windows, m: usize, r: usize) -> Windows {
    let mut s = w.clone();
    s.windows = w
        .windows
        .iter()
        .enumerate()
        .filter(|(k, _)| k % m == r)
        .map(|(_, x)| x.clone())
        .collect();
    s
}

fn cfg() -> eval::Config {
    eval::Config {
        window_s: 5.0,
        folds: 5,
        seed: 0,
    }
}

#[test]
fn real_halves_match_and_baselines_are_told_apart() {
    let all = mitdb_windows(5.0);
    let (a, b) = (subset(&all, 2, 0), subset(&all, 2, 1));
    let r = eval::evaluate(&a, &b, None, &cfg());
    let synth = &r.comparisons[0];
    assert!(
        synth.discriminative_auc < 0.7,
        "halves: AUC {}",
        synth.discriminative_auc
    );
    assert!(
        synth.psd_distance_db < 1.0,
        "halves: {} dB",
        synth.psd_distance_db
    );
    assert!(synth.template_corr.unwrap() > 0.95);
    let spread = synth.spread.unwrap();
    assert!((0.75..1.33).contains(&spread), "halves: spread {spread}");
    for c in &r.comparisons[1..] {
        assert!(
            c.discriminative_auc >= 0.9,
            "{}: AUC {}",
            c.name,
            c.discriminative_auc
        );
    }
    assert!(
        r.comparisons[2].psd_distance_db > 3.0,
        "white noise has another spectrum"
    );
    let hr = r.real.hr_mean.unwrap();
    assert!((60.0..140.0).contains(&hr), "MIT-BIH 208 heart rate {hr}");
}

/// A generator stuck near one window (here one real window of MIT-BIH 208 over and over,
/// with fresh uniform noise 1 % of its std wide) has the real beats and spectrum but no
/// spread: `spread` shows it where each feature's own AUC need not.
#[test]
fn windows_too_alike_show_in_the_spread() {
    use rand::{Rng, SeedableRng};
    let all = mitdb_windows(5.0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let one = &all.windows[10][0];
    let sd = features::moments(one)[0];
    let mut stuck = all.clone();
    for w in &mut stuck.windows {
        w[0] = one
            .iter()
            .map(|v| v + 0.01 * sd as f32 * (rng.random::<f32>() - 0.5))
            .collect();
    }
    let r = eval::evaluate(&all, &stuck, None, &cfg());
    let spread = r.comparisons[0].spread.unwrap();
    assert!(spread < 0.1, "one window repeated: spread {spread}");
    assert_eq!(r.real.spread, Some(1.0));
}

/// The telltales name what differs: half of the record played 1.6× louder is told from the
/// other half by its amplitude (std, band powers: AUC near 1, medians 1.6× and +0.41 in
/// log10 power) and not by anything that does not scale (skewness, kurtosis, zero crossings,
/// line length, heart rate). Listed most telling first, `TELLTALES` of them, named by
/// channel and band.
#[test]
fn telltales_name_the_feature_that_differs() {
    let all = mitdb_windows(5.0);
    let (a, mut b) = (subset(&all, 2, 0), subset(&all, 2, 1));
    for x in b.windows.iter_mut().flatten().flatten() {
        *x *= 1.6;
    }
    let r = eval::evaluate(&a, &b, None, &cfg());
    let t = &r.comparisons[0].telltales;
    assert_eq!(t.len(), eval::TELLTALES);
    assert!(t
        .windows(2)
        .all(|p| (p[0].auc - 0.5).abs() >= (p[1].auc - 0.5).abs()));
    for x in t {
        let scales = x.feature.ends_with(" std") || x.feature.contains(" log PSD ");
        assert!(scales && x.auc > 0.9, "{x:?}");
        assert!(x.feature.starts_with("MLII "), "{x:?}");
    }
    let std = t
        .iter()
        .find(|x| x.feature == "MLII std")
        .expect("std is a telltale");
    assert!((std.median / std.real_median - 1.6).abs() < 0.3, "{std:?}");
    // Halves of one record at one loudness: nothing tells them apart on its own.
    let same = eval::evaluate(&a, &subset(&all, 2, 1), None, &cfg());
    let top = &same.comparisons[0].telltales[0];
    assert!((top.auc - 0.5).abs() < 0.3, "{top:?}");
    let text = eval::report::table(&r);
    assert!(
        text.contains("what tells synthetic from real most"),
        "{text}"
    );
}

/// Channel coupling on real EEG (EEGMAT, 19 EEG channels, 2 s windows): interleaved halves
/// of the record couple alike, while the phase-randomised surrogate (each channel's phases
/// drawn on their own) and white noise lose it; numpy recomputes the numbers
/// (`tests/py/coupling_check.py`).
#[test]
fn real_eeg_halves_couple_alike_and_the_baselines_lose_the_coupling() {
    let rec = biowave::io::read(Path::new("signals/eegmat_s00_rest.edf")).unwrap();
    let eeg: Vec<String> = rec
        .channels
        .iter()
        .map(|c| c.meta.label.clone())
        .filter(|l| l.starts_with("EEG"))
        .collect();
    let all =
        eval::windows::cut(&[("eegmat".into(), rec)], Pick::Named(&eeg), 2.0, "real").unwrap();
    let (a, b) = (subset(&all, 2, 0), subset(&all, 2, 1));
    let r = eval::evaluate(
        &a,
        &b,
        None,
        &eval::Config {
            window_s: 2.0,
            ..cfg()
        },
    );
    let real = r.real.channel_corr.unwrap();
    assert!(
        real > 0.3,
        "EEG channels share a reference: mean |r| {real}"
    );
    let halves = &r.comparisons[0];
    assert!(halves.channel_corr_rmse.unwrap() < 0.1, "{halves:?}");
    for c in &r.comparisons[1..] {
        assert!(
            c.channel_corr.unwrap() < 0.1,
            "{}: {:?}",
            c.name,
            c.channel_corr
        );
        assert!(
            c.channel_corr_rmse.unwrap() > 0.3,
            "{}: {:?}",
            c.name,
            c.channel_corr_rmse
        );
    }
    // numpy's corrcoef per window gives the same numbers.
    let tmp = tempfile::tempdir().unwrap();
    for (name, w) in [("a", &a), ("b", &b)] {
        let raw: Vec<u8> = w
            .windows
            .iter()
            .flatten()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        std::fs::write(tmp.path().join(format!("{name}.f32")), raw).unwrap();
    }
    let shape = serde_json::json!({"channels": eeg.len(), "samples": a.len()});
    std::fs::write(tmp.path().join("shape.json"), shape.to_string()).unwrap();
    let out = common::python("coupling_check.py", [tmp.path().as_os_str()]);
    let p: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for (ours, theirs) in [
        (real, &p["a"]),
        (halves.channel_corr.unwrap(), &p["b"]),
        (halves.channel_corr_rmse.unwrap(), &p["rmse"]),
    ] {
        let theirs = theirs.as_f64().unwrap();
        assert!((ours - theirs).abs() < 1e-6, "{ours} vs numpy's {theirs}");
    }
}

#[test]
fn a_copied_training_record_is_flagged_and_a_fresh_one_is_not() {
    let all = mitdb_windows(5.0);
    let (train, held_out, other) = (subset(&all, 3, 0), subset(&all, 3, 1), subset(&all, 3, 2));
    let copy = eval::evaluate(&held_out, &train, Some(&train), &cfg())
        .privacy
        .unwrap();
    assert!(
        copy.dcr_ratio < 0.1 && copy.share_below_p5 > 0.9 && copy.dcr_ratio_train < 0.1,
        "{copy:?}"
    );
    let fresh = eval::evaluate(&held_out, &other, Some(&train), &cfg())
        .privacy
        .unwrap();
    assert!(
        fresh.dcr_ratio > 0.5 && fresh.share_below_p5 < 0.3 && fresh.dcr_ratio_train > 0.7,
        "{fresh:?}"
    );
}

/// With training data, the training windows' phase-randomised surrogate is scored too (the
/// baseline a model must beat on held-out data, built only from what it saw): it keeps the
/// training spectra (PSD distance as small as the real training windows' own) and loses the
/// beats (told apart, AUC ≥ 0.9); it has as many windows as the synthetic set; without
/// training data it is not there.
#[test]
fn the_training_data_surrogate_keeps_the_spectrum_and_loses_the_beats() {
    let all = mitdb_windows(5.0);
    let (train, held_out) = (subset(&all, 2, 0), subset(&all, 2, 1));
    // The training windows twice over as the "synthetic" set: the surrogate matches its size.
    let twice = eval::baselines::cycled(&train, 2 * train.windows.len());
    let r = eval::evaluate(&held_out, &twice, Some(&train), &cfg());
    let names: Vec<&str> = r.comparisons.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.last(), Some(&"training-data surrogate"), "{names:?}");
    let (real, surrogate) = (&r.comparisons[0], r.comparisons.last().unwrap());
    assert_eq!(surrogate.windows, twice.windows.len());
    assert!(
        surrogate.psd_distance_db < real.psd_distance_db + 0.5,
        "surrogate {} dB vs the training windows' {} dB",
        surrogate.psd_distance_db,
        real.psd_distance_db
    );
    assert!(
        surrogate.discriminative_auc >= 0.9,
        "AUC {}",
        surrogate.discriminative_auc
    );
    let without = eval::evaluate(&held_out, &train, None, &cfg());
    assert!(without
        .comparisons
        .iter()
        .all(|c| c.name != "training-data surrogate"));
}

#[test]
fn psd_distance_mmd_auc_and_spread_agree_with_scipy_numpy_sklearn() {
    let all = mitdb_windows(5.0);
    let (a, b) = (subset(&all, 2, 0), subset(&all, 2, 1));
    let r = eval::evaluate(&a, &b, None, &cfg());
    let c = &r.comparisons[0];
    let tmp = tempfile::tempdir().unwrap();
    let raw = |w: &Windows| -> Vec<u8> {
        w.windows
            .iter()
            .flat_map(|x| x[0].iter().flat_map(|v| v.to_le_bytes()))
            .collect()
    };
    std::fs::write(tmp.path().join("a.f32"), raw(&a)).unwrap();
    std::fs::write(tmp.path().join("b.f32"), raw(&b)).unwrap();
    let kind = features::Kind::of(&a);
    let nper = features::nperseg(a.rate, a.len());
    let mut welch = eval::psd::Welch::new(nper);
    let (fa, fb) = (
        features::extract(&a, kind, &mut welch),
        features::extract(&b, kind, &mut welch),
    );
    let pooled: Vec<Vec<f64>> = fa.iter().chain(&fb).cloned().collect();
    let (m, sd) = metrics::column_stats(&pooled);
    let csv = |rows: Vec<Vec<f64>>| {
        rows.iter()
            .map(|r| {
                r.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    std::fs::write(
        tmp.path().join("features_a.csv"),
        csv(metrics::standardise(&fa, &m, &sd)),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("features_b.csv"),
        csv(metrics::standardise(&fb, &m, &sd)),
    )
    .unwrap();
    let j = serde_json::json!({"window": a.len(), "rate": a.rate, "nperseg": nper, "band": kind.band(a.rate)});
    std::fs::write(tmp.path().join("biowave.json"), j.to_string()).unwrap();
    let out = common::python("eval_check.py", [tmp.path().as_os_str()]);
    let p: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let lsd = p["lsd_db"].as_f64().unwrap();
    assert!(
        (lsd - c.psd_distance_db).abs() < 1e-3 * lsd.max(1.0),
        "LSD scipy {lsd} vs {}",
        c.psd_distance_db
    );
    let mmd = p["mmd2"].as_f64().unwrap();
    assert!(
        (mmd - c.mmd2).abs() < 1e-9 + 1e-6 * mmd.abs(),
        "MMD² numpy {mmd} vs {}",
        c.mmd2
    );
    let auc = p["auc"].as_f64().unwrap();
    assert!(
        (auc - c.discriminative_auc).abs() < 0.15,
        "AUC sklearn {auc} vs {}",
        c.discriminative_auc
    );
    let spread = p["spread"].as_f64().unwrap();
    assert!(
        (spread - c.spread.unwrap()).abs() < 1e-9,
        "spread numpy {spread} vs {:?}",
        c.spread
    );
}

/// `generate --model ARGS…` into `DIR/syn` (EDF), which it returns.
fn generated(dir: &Path, args: &[&str]) -> std::path::PathBuf {
    let synth = dir.join("syn");
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(["generate", "--model"])
        .args(args)
        .arg("--out")
        .arg(&synth)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    synth
}

#[test]
fn cli_prints_json_writes_a_report_that_renders_and_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_biowave");
    let synth = generated(
        tmp.path(),
        &["ecgsyn", "--leads", "1", "--fs", "360", "--duration", "60s"],
    );
    let report = tmp.path().join("report");
    let o = Command::new(bin)
        .args([
            "eval",
            "--real",
            "signals/mitdb208.edf",
            "--window-s",
            "5",
            "--json",
            "--synth",
        ])
        .arg(synth.join("ecgsyn-000000.edf"))
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["comparisons"].as_array().unwrap().len(), 3);
    let synth_hr = j["comparisons"][0]["hr_mean"].as_f64().unwrap();
    assert!(
        (65.0..80.0).contains(&synth_hr),
        "ecgsyn default 72 bpm: {synth_hr}"
    );
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "waveform, PSD, HR histogram, PCA"
    );
    screenshot_is_not_blank(&report.join("index.html"), tmp.path());
    const MITDB: &str = "signals/mitdb208.edf";
    // `eval --real R --synth S` and more flags; what stderr says.
    let cases: [(&[&str], &str); 6] = [
        (&["nope.edf", MITDB], "nope.edf"),
        (&[MITDB, "signals/phyaat_eeg14.edf"], "channels"),
        (&[MITDB, MITDB, "--window-s", "999"], "window"),
        (
            &[MITDB, MITDB, "--window-s", "0.01"],
            "under the 16 a window needs",
        ),
        (
            &[MITDB, MITDB, "--channels", "II"],
            "--channels: no channel `II` (channels: MLII)",
        ),
        (
            &[MITDB, MITDB, "--report", MITDB],
            "--report signals/mitdb208.edf: not a directory it can make",
        ),
    ];
    for (rest, needle) in cases {
        let mut args = vec!["--real", rest[0], "--synth", rest[1]];
        args.extend(&rest[2..]);
        let o = Command::new(bin).arg("eval").args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// Renders the page in headless Chromium and checks the screenshot has real content.
fn screenshot_is_not_blank(html: &Path, dir: &Path) {
    let png = dir.join("shot.png");
    let o = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=800,1400"])
        .arg(format!("--user-data-dir={}", dir.join("chrome").display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium is needed for the report render test (apt-get install chromium; .ci/apt-packages)");
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = common::python("png_colours.py", [OsStr::new(png.as_os_str())]);
    let colours: usize = out.trim().parse().unwrap();
    assert!(
        colours > 8,
        "the rendered report is blank ({colours} colours)"
    );
}

/// `--synth DIR` (a `generate` output) evaluates the recordings in it, by name, without the
/// events files beside them: the same report as naming the files; a directory with no
/// recordings is refused.
#[test]
fn a_directory_stands_for_the_recordings_in_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let bin = env!("CARGO_BIN_EXE_biowave");
    let o = Command::new(bin)
        .args([
            "generate", "--model", "ecgsyn", "--leads", "II", "--fs", "360",
        ])
        .args(["--duration", "20s", "--count", "3", "--seed", "2", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let eval = |synth: &[std::path::PathBuf]| {
        let o = Command::new(bin)
            .args([
                "eval",
                "--json",
                "--real",
                "signals/mitdb208.edf",
                "--synth",
            ])
            .args(synth)
            .output()
            .unwrap();
        (
            o.status.code(),
            o.stdout,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let files: Vec<_> = (0..3)
        .map(|i| dir.join(format!("ecgsyn-{i:06}.edf")))
        .collect();
    let (code, by_files, err) = eval(&files);
    assert_eq!(code, Some(0), "{err}");
    let (code, by_dir, err) = eval(std::slice::from_ref(&dir));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(by_dir, by_files);
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = eval(&[empty]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("a directory with no recordings"), "{err}");
}

/// A set in µV is rescaled to real data in mV (a µV copy of the record matches it, files
/// of both units make one set); a unit that is not a voltage, or another rate, is refused
/// naming the file.
#[test]
fn volts_are_rescaled_and_other_units_or_rates_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let real = biowave::io::read(Path::new("signals/mitdb208.edf")).unwrap();
    let variant = |name: &str, unit: &str, k: f32, fs: f64| {
        let mut r = real.clone();
        for c in &mut r.channels {
            c.meta.unit = unit.into();
            c.meta.sample_rate = fs;
            c.samples.iter_mut().for_each(|x| *x *= k);
        }
        let p = tmp.path().join(name);
        biowave::io::save(&r, &p).unwrap();
        p
    };
    let eval = |synth: &[&Path]| {
        Command::new(env!("CARGO_BIN_EXE_biowave"))
            .args(["eval", "--json", "--window-s", "5", "--real"])
            .arg("signals/mitdb208.edf")
            .arg("--synth")
            .args(synth)
            .output()
            .unwrap()
    };
    let uv = variant("uv.edf", "µV", 1000.0, 360.0);
    for synth in [
        &[uv.as_path()][..],
        &[&uv, Path::new("signals/mitdb208.edf")],
    ] {
        let o = eval(synth);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let psd = j["comparisons"][0]["psd_distance_db"].as_f64().unwrap();
        assert!(
            psd < 0.01,
            "{synth:?}: the record in µV, {psd} dB from it in mV"
        );
    }
    let cases = [
        (
            variant("degc.edf", "degC", 1.0, 360.0),
            "degc.edf: channel MLII is in `degC`",
        ),
        (variant("fast.edf", "mV", 1.0, 400.0), "fast.edf: 400 Hz"),
    ];
    for (file, needle) in cases {
        let o = eval(&[&file]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

/// An EDF+D (MIT-BIH 208's first 23 s, paused for 100 s after its 14th) is cut into windows
/// within its stretches: 5 s windows give 2 + 1, the third starting at the second stretch's
/// first sample, none across the pause (joined, 4 windows, one spanning it).
#[test]
fn windows_of_an_edf_plus_d_stay_within_its_stretches() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rec = biowave::io::read(Path::new("signals/mitdb208.edf")).unwrap();
    rec.meta.annotations.clear();
    rec.channels[0].samples.truncate(23 * 360);
    let path = tmp.path().join("paused.edf");
    common::write_edf_plus_d(&rec, &path, &[(14.0, 100.0)]);
    let d = biowave::io::read(&path).unwrap();
    let seg: Vec<(f64, f64)> = d
        .meta
        .segments
        .iter()
        .map(|s| (s.onset, s.duration))
        .collect();
    assert_eq!(seg, vec![(0.0, 14.0), (114.0, 9.0)]);
    let samples = d.channels[0].samples.clone();
    let recs = [("paused.edf".to_string(), d)];
    let w = eval::windows::cut(&recs, Pick::All, 5.0, "real").unwrap();
    assert_eq!(w.windows.len(), 3);
    for (k, from) in [0, 1800, 5040].into_iter().enumerate() {
        assert_eq!(w.windows[k][0], samples[from..from + 1800], "window {k}");
    }
    let err = eval::windows::cut(&recs, Pick::All, 15.0, "real").unwrap_err();
    let err = err.to_string();
    assert!(
        err.contains(
            "does not fit any of its 2 discontinuous stretches (the longest 5040 samples)"
        ),
        "{err}"
    );
}

/// A 3-D HDF5 file (the CODE-style 12-lead tracings, three of 8.192 s) is all its records to
/// `eval`, as a directory is all its files: 3 × 4 windows of 2 s, not the first record's 4;
/// and `train` takes each record as a training record of its own.
#[test]
fn every_record_of_a_3d_hdf5_file_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let code = "signals/ecg12_3x4096.h5";
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args([
            "eval",
            "--real",
            code,
            "--synth",
            code,
            "--window-s",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["real_windows"], 12);
    assert_eq!(j["comparisons"][0]["windows"], 12);
    let out = tmp.path().join("m");
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args([
            "-v", "train", "--model", "vae", "--data", code, "--epochs", "1",
        ])
        .args(["--hidden", "16", "--latent", "4", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("ecg12_3x4096.h5: its 3 records each taken"),
        "{err}"
    );
    let cfg = common::read_json(&out.join("config.json"));
    assert_eq!(cfg["spec"]["channels"].as_array().unwrap().len(), 12);
}

/// Beat labels against a labelled record: `eval` counts the real record's cardiologists'
/// labels and the synthetic records' as pyedflib reads them (every share, run rate and
/// per-minute burden alike), puts them in the JSON and the table, and says where the
/// synthetic records label no beats; an unlabelled real record gives no such section.
#[test]
fn beat_labels_are_compared_with_a_labelled_records_own() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_biowave");
    let synth = generated(tmp.path(), &["ecg-vae", "--duration", "3m", "--seed", "1"]);
    let eval = |real: &str, synth: &Path, json: bool| {
        let mut c = Command::new(bin);
        c.args(["eval", "--real", real, "--channels", "MLII", "--synth"]);
        c.arg(synth);
        if json {
            c.arg("--json");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let whole = "signals/mitdb208_full.edf";
    let j: serde_json::Value = serde_json::from_str(&eval(whole, &synth, true)).unwrap();
    let labels = &j["beat_labels"];
    let edf = synth.join("ecg-vae-000000.edf");
    for (set, file) in [("real", Path::new(whole)), ("synthetic", &edf)] {
        let py: serde_json::Value =
            serde_json::from_str(&common::python("beat_labels_check.py", [file])).unwrap();
        let ours = &labels[set];
        assert_eq!(ours["beats"], py["beats"], "{set}");
        for field in ["shares", "repeat"] {
            let (a, b) = (
                ours[field].as_object().unwrap(),
                py[field].as_object().unwrap(),
            );
            assert_eq!(a.len(), b.len(), "{set} {field}: {a:?} vs {b:?}");
            for (code, v) in a {
                let d = v.as_f64().unwrap() - b[code].as_f64().unwrap();
                assert!(d.abs() < 1e-12, "{set} {field} {code}: {v} vs {}", b[code]);
            }
        }
        assert_eq!(ours["v_per_minute"], py["v_per_minute"], "{set}");
    }
    // The record: 208's PVCs are a third of its beats; the model's are of the same order.
    let v = |set: &str| labels[set]["shares"]["V"].as_f64().unwrap();
    assert!((0.30..0.37).contains(&v("real")), "{labels}");
    assert!((0.10..0.45).contains(&v("synthetic")), "{labels}");
    let d = labels["share_distance"].as_f64().unwrap();
    assert!(d > 0.0 && d < 0.4, "{d}");
    assert!(eval(whole, &synth, false).contains("mix of kinds apart by"));
    // Synthetic records without beat labels (the unlabelled excerpt), and an unlabelled real.
    let plain = Path::new("signals/mitdb208.edf");
    let table = eval(whole, plain, false);
    assert!(table.contains("synthetic  no beat labels"), "{table}");
    let j: serde_json::Value =
        serde_json::from_str(&eval("signals/mitdb208.edf", &synth, true)).unwrap();
    assert!(j.get("beat_labels").is_none(), "{j}");
}
