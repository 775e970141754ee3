//! The VAE through the real binary: training lowers the loss, checkpoints reload to the
//! same samples, `--resume` continues, same seed ⇒ same weights and samples, block sizes do
//! not change the stream, and bad input is refused with exit 2.

mod common;
use biowave::block::Block;
use biowave::model;
use std::path::Path;
use std::process::Command;

fn train(out: &Path, extra: &[&str]) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args([
            "train",
            "--model",
            "vae",
            "--data",
            "signals/mitdb208.edf",
            "--hidden",
            "64",
            "--latent",
            "8",
            "--out",
        ])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    common::read_json(&out.join("config.json"))
}

fn samples(dir: &Path, seed: u64, block: usize, n: usize) -> Vec<f32> {
    let mut g = model::by_name(dir.to_str().unwrap(), seed).unwrap();
    let mut b = Block::new(1, block);
    let mut out = Vec::new();
    while out.len() < n {
        g.fill(&mut b).unwrap();
        out.extend_from_slice(b.channel(0));
    }
    out.truncate(n);
    out
}

#[test]
fn training_lowers_the_loss_and_checkpoints_are_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let (short, long, again) = (
        tmp.path().join("short"),
        tmp.path().join("long"),
        tmp.path().join("again"),
    );
    let a = train(&short, &["--epochs", "1", "--seed", "5"]);
    let b = train(&long, &["--epochs", "40", "--seed", "5"]);
    let rec = |c: &serde_json::Value| c["losses"]["train"]["rec"].as_f64().unwrap();
    assert!(
        rec(&b) < rec(&a) * 0.97,
        "loss falls: {} → {}",
        rec(&a),
        rec(&b)
    );
    assert_eq!(b["kind"], "vae");
    assert!(b["command"].as_str().unwrap().contains("train --model vae"));
    assert_eq!(b["fingerprints"][0][0], "signals/mitdb208.edf");
    train(&again, &["--epochs", "40", "--seed", "5"]);
    let w = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(w(&long), w(&again), "same seed, same weights");
    // Same checkpoint + seed ⇒ same samples, whatever the block size; another seed differs.
    let x = samples(&long, 3, 20, 4000);
    assert_eq!(x, samples(&long, 3, 7, 4000));
    assert_ne!(x, samples(&long, 4, 20, 4000));
    assert!(x.iter().all(|v| v.is_finite()));
    let sd = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
    assert!(sd > 1e-3 && sd < 5.0, "output in a millivolt range: {sd}");
}

/// Both bodies train and stream: the default conv body on n_fft 64 spectra, `--arch mlp` on
/// the default n_fft 256 (checkpoints from before the choice have no `arch` and are MLPs).
#[test]
fn conv_is_the_default_body_and_mlp_still_trains_and_streams() {
    let tmp = tempfile::tempdir().unwrap();
    for (arch, n_fft, features) in [("conv", 64, 66), ("mlp", 256, 258)] {
        let d = tmp.path().join(arch);
        let extra: &[&str] = if arch == "mlp" {
            &["--epochs", "1", "--arch", "mlp"]
        } else {
            &["--epochs", "1"]
        };
        let c = train(&d, extra);
        assert_eq!(c["vae"]["arch"], arch);
        assert_eq!(c["data"]["spectral"]["n_fft"], n_fft);
        assert_eq!(c["vae"]["n_features"], features);
        let x = samples(&d, 1, 100, 3000);
        assert!(x.iter().all(|v| v.is_finite()));
        assert!(
            x.iter().any(|&v| v != x[0]),
            "{arch}: output is not constant"
        );
    }
}

#[test]
fn resume_continues_from_the_saved_step() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("m");
    let a = train(&d, &["--epochs", "2"]);
    let b = train(&d, &["--epochs", "4", "--resume"]);
    assert!(
        b["step"].as_u64().unwrap() > a["step"].as_u64().unwrap(),
        "{} → {}",
        a["step"],
        b["step"]
    );
}

#[test]
fn bad_input_is_refused_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_biowave");
    let run = |args: &[&str]| Command::new(bin).args(args).output().unwrap();
    let out = tmp.path().join("x");
    let o = tmp.path().join("x").to_str().unwrap().to_string();
    for (args, needle) in [
        (
            vec![
                "train",
                "--model",
                "gan",
                "--data",
                "signals/mitdb208.edf",
                "--out",
                &o,
            ],
            "vae or transformer",
        ),
        (
            vec![
                "train",
                "--model",
                "vae",
                "--data",
                "signals/mitdb208.edf",
                "signals/phyaat_eeg14.edf",
                "--out",
                &o,
            ],
            "",
        ),
        (
            vec![
                "train",
                "--model",
                "vae",
                "--data",
                "signals/phyaat_eeg14.edf",
                "--window-s",
                "60",
                "--out",
                &o,
            ],
            "window",
        ),
    ] {
        let r = run(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    train(&out, &["--epochs", "1"]);
    let cfg = out.join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("\"kind\": \"vae\"", "\"kind\": \"gan\"")).unwrap();
    let r = run(&["stream", "--model", &o, "--duration", "1s", "--fast"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("gan"));
    std::fs::write(
        &cfg,
        text.replace("\"format_version\": 1", "\"format_version\": 99"),
    )
    .unwrap();
    let r = run(&["stream", "--model", &o, "--duration", "1s", "--fast"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("newer"));
    // A config declaring a huge model is refused before anything is allocated for it, and
    // one that fits the declared sizes but not the weights file on disk too.
    for (from, to, needle) in [
        ("\"hidden\": 64", "\"hidden\": 4000000", "parameters"),
        ("\"hidden\": 64", "\"hidden\": 640", "cannot hold"),
        ("\"latent\": 8", "\"latent\": 0", "latent"),
    ] {
        assert!(text.contains(from), "{from} not in config.json");
        std::fs::write(&cfg, text.replace(from, to)).unwrap();
        let r = run(&["stream", "--model", &o, "--duration", "1s", "--fast"]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{to}: {err}");
        let names_file = err.contains("config.json") || err.contains("model.safetensors");
        assert!(err.contains(needle) && names_file, "{to}: {err}");
    }
    // The temperature is a transformer setting.
    std::fs::write(&cfg, &text).unwrap();
    let r = run(&[
        "stream",
        "--model",
        &o,
        "--duration",
        "1s",
        "--fast",
        "--temperature",
        "0.5",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("transformer"));
}

/// `--beats` cuts one training window per R peak and the generator joins one decoded beat
/// cycle per window: even a briefly trained model (15 epochs: ~70 bpm, the shipped one ~95)
/// streams beats at a plausible rate below the record's ~100 bpm ceiling of 130, not the
/// 140+ of two faint beats per window; the transformer refuses the flag.
#[test]
fn beat_aligned_training_streams_beats_at_the_records_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("beats");
    let c = train(&d, &["--epochs", "15", "--beats", "--seed", "2"]);
    assert_eq!(c["data"]["beats"]["pre_s"], 0.28);
    let fs = 360.0;
    let x = samples(&d, 1, 100, 60 * 360);
    assert!(x.iter().all(|v| v.is_finite()));
    let peaks = biowave::dsp::qrs::detect(&x, fs).unwrap();
    let bpm = peaks.len() as f64;
    assert!((50.0..130.0).contains(&bpm), "{bpm} beats in 60 s");
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(["train", "--model", "transformer", "--beats", "--data"])
        .args(["signals/mitdb208.edf", "--out"])
        .arg(tmp.path().join("t"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--beats"));
}

/// The output range covers the whole recording (the 16 s of EEG are cut into pieces for
/// validation; its largest artefact is not in the first), and early stopping waits for the
/// end of warm-up (50 steps) even with a patience of one epoch.
#[test]
fn ranges_cover_every_piece_and_warm_up_runs_before_early_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("eeg");
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args([
            "train",
            "--model",
            "vae",
            "--data",
            "signals/phyaat_eeg14.edf",
        ])
        .args([
            "--arch",
            "mlp",
            "--n-fft",
            "128",
            "--window-s",
            "2",
            "--hidden",
            "16",
        ])
        .args([
            "--latent",
            "4",
            "--epochs",
            "200",
            "--patience",
            "1",
            "--seed",
            "2",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg = common::read_json(&out.join("config.json"));
    let rec = biowave::io::read(Path::new("signals/phyaat_eeg14.edf")).unwrap();
    for (ch, spec) in rec
        .channels
        .iter()
        .zip(cfg["spec"]["channels"].as_array().unwrap())
    {
        let peak = ch.samples.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
        let hi = spec["range"][1].as_f64().unwrap();
        assert!(
            hi >= 1.5 * peak - 1e-3,
            "{}: range {hi} < 1.5 × {peak}",
            ch.meta.label
        );
    }
    let step = cfg["step"].as_u64().unwrap();
    assert!((50..600).contains(&step), "stopped at step {step}");
}
