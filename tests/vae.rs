//! The VAE through the real binary: training lowers the loss, checkpoints reload to the
//! same samples, `--resume` continues, same seed ⇒ same weights and samples, block sizes do
//! not change the stream, and bad input is refused with exit 2.

mod common;
use biowave::block::Block;
use biowave::model;
use std::path::Path;
use std::process::Command;

/// Runs `biowave train ARGS --out OUT`, which must succeed; returns its config.json.
fn train_vae(args: &[&str], out: &Path) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .arg("train")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    common::read_json(&out.join("config.json"))
}

/// `common::SMALL_ECG_VAE` plus `extra` flags.
fn train(out: &Path, extra: &[&str]) -> serde_json::Value {
    train_vae(&[&common::SMALL_ECG_VAE[..], extra].concat(), out)
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
    // The fitted latent prior: latent 8 → 8 means and an 8 × 8 factor.
    let len = |k: &str| b["latent_prior"][k].as_array().map_or(0, Vec::len);
    assert_eq!((len("mean"), len("chol")), (8, 64));
    // The decoder's residual: one std per feature (33 bins × re/im), some noise left.
    let noise: Vec<f64> = b["decoder_noise"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(noise.len(), 66);
    assert!(noise.iter().all(|&r| (0.0..2.0).contains(&r)) && noise.iter().any(|&r| r > 0.1));
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

/// A run stopped by its time budget partway through an epoch and then resumed ends with
/// the weights, byte for byte, of the same run never stopped: the optimiser's moments, the
/// noise generator's position, the early-stopping counters and the place in the epoch all
/// carry over. A finished run leaves no optimiser state behind.
#[test]
fn a_resumed_run_ends_with_the_weights_of_one_never_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, cut) = (tmp.path().join("whole"), tmp.path().join("cut"));
    let run = ["--epochs", "3", "--seed", "2"];
    let a = train(&whole, &run);
    let stopped = train(&cut, &[&run[..], &["--max-minutes", "0.00001"]].concat());
    let step = |c: &serde_json::Value| c["step"].as_u64().unwrap();
    assert!(
        step(&stopped) < step(&a),
        "{} vs {}",
        stopped["step"],
        a["step"]
    );
    assert!(cut.join("optimizer.json").exists() && cut.join("optimizer.safetensors").exists());
    // A damaged state file is refused by name, not silently replaced by fresh moments.
    let broken = tmp.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    for f in ["config.json", "model.safetensors", "optimizer.safetensors"] {
        std::fs::copy(cut.join(f), broken.join(f)).unwrap();
    }
    std::fs::write(broken.join("optimizer.json"), "{\"step\": ").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .arg("train")
        .args([&common::SMALL_ECG_VAE[..], &run[..], &["--resume"]].concat())
        .arg("--out")
        .arg(&broken)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("optimizer.json"),
        "{err}"
    );
    let b = train(&cut, &[&run[..], &["--resume"]].concat());
    assert_eq!(step(&b), step(&a));
    let weights = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert!(weights(&whole) == weights(&cut), "resumed weights differ");
    for d in [&whole, &cut] {
        assert!(!d.join("optimizer.json").exists() && !d.join("optimizer.safetensors").exists());
    }
}

/// A single short recording is cut into fewer validation stretches, not refused: 12 s of the
/// shipped EEG trains `eeg-vae`'s shape (2 s windows, n_fft 128), which 5 pieces of 2.4 s
/// could not (each needs 2.75 s of whole frames), with a validation loss.
#[test]
fn twelve_seconds_of_eeg_train_with_a_validation_split() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("eeg12.edf");
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(["convert", "signals/phyaat_eeg14.edf"])
        .arg(&data)
        .args(["--end", "12"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let args = [
        "--model",
        "vae",
        "--arch",
        "mlp",
        "--n-fft",
        "128",
        "--hop",
        "32",
        "--window-s",
        "2",
        "--hidden",
        "16",
        "--epochs",
        "2",
        "--seed",
        "1",
        "--data",
    ];
    let c = train_vae(
        &[&args[..], &[data.to_str().unwrap()]].concat(),
        &tmp.path().join("m"),
    );
    let val = c["losses"]["validation"]["rec"].as_f64().unwrap();
    assert!(val.is_finite() && val > 0.0, "{c}");
}

#[test]
fn bad_input_is_refused_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_biowave");
    let run = |args: &[&str]| Command::new(bin).args(args).output().unwrap();
    let out = tmp.path().join("x");
    let o = tmp.path().join("x").to_str().unwrap().to_string();
    const MITDB: &str = "signals/mitdb208.edf";
    const PHYAAT: &str = "signals/phyaat_eeg14.edf";
    // `train --model M --data …` with these files and flags, then `--out`; what stderr says.
    let cases: [(&str, &[&str], &str); 10] = [
        ("gan", &[MITDB], "vae or transformer"),
        ("vae", &[MITDB, PHYAAT], ""),
        (
            "vae",
            &[PHYAAT, "--window-s", "60"],
            "phyaat_eeg14.edf: 16.00 s is too short to train on alone",
        ),
        // The fine low band needs two 16 s segments of a record, and a band.
        (
            "vae",
            &[PHYAAT, "--window-s", "2", "--fine-eq", "4"],
            "--fine-eq: no training record holds one measuring window of 4096 samples (32 s)",
        ),
        (
            "vae",
            &[MITDB, "--fine-eq", "0"],
            "--fine-eq 0: give a band's top in Hz above 0",
        ),
        // Mean beats need beats: a beat-aligned VAE, and a number of kinds.
        (
            "vae",
            &[MITDB, "--beat-means", "2"],
            "--beat-means applies to beat-aligned VAEs (--model vae --beats)",
        ),
        (
            "vae",
            &[MITDB, "--beats", "--beat-means", "0"],
            "--beat-means 0: choose 1 to 8",
        ),
        // A channel the record lacks (it panicked before the data were read), no training.
        (
            "vae",
            &[MITDB, "--channels", "II"],
            "mitdb208.edf#0: --channels: no channel labelled `II` (channels: MLII)",
        ),
        (
            "vae",
            &[MITDB, "--epochs", "0"],
            "--epochs 0: train for at least one epoch",
        ),
        (
            "vae",
            &[MITDB, "--max-minutes", "0"],
            "--max-minutes 0: must be a positive number of minutes",
        ),
    ];
    for (model, rest, needle) in cases {
        let mut args = vec!["train", "--model", model, "--data"];
        args.extend(rest);
        args.extend(["--out", &o]);
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
    // A latent prior of the wrong size is refused by name; a checkpoint without one (as
    // written before it existed) samples N(0, I) and streams.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["latent_prior"]["mean"].as_array_mut().unwrap().pop();
    std::fs::write(&cfg, v.to_string()).unwrap();
    let r = run(&["stream", "--model", &o, "--duration", "1s", "--fast"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(
        err.contains("latent_prior") && err.contains("config.json"),
        "{err}"
    );
    v.as_object_mut().unwrap().remove("latent_prior");
    // So is a decoder residual of the wrong size or with a negative std; without one (older
    // checkpoints) the mean streams alone.
    for bad in [None, Some(-1.0)] {
        let mut w = v.clone();
        let r = w["decoder_noise"].as_array_mut().unwrap();
        match bad {
            None => drop(r.pop()),
            Some(x) => r[3] = serde_json::json!(x),
        }
        std::fs::write(&cfg, w.to_string()).unwrap();
        let r = run(&["stream", "--model", &o, "--duration", "1s", "--fast"]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{err}");
        assert!(
            err.contains("decoder_noise") && err.contains("config.json"),
            "{err}"
        );
    }
    v.as_object_mut().unwrap().remove("decoder_noise");
    std::fs::write(&cfg, v.to_string()).unwrap();
    let r = run(&["stream", "--model", &o, "--duration", "1s", "--fast"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
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
    let cfg = train_vae(
        &[
            "--model",
            "vae",
            "--data",
            "signals/phyaat_eeg14.edf",
            "--arch",
            "mlp",
            "--n-fft",
            "128",
            "--window-s",
            "2",
            "--hidden",
            "16",
            "--latent",
            "4",
            "--epochs",
            "200",
            "--patience",
            "1",
            "--seed",
            "2",
        ],
        &out,
    );
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

/// Training files in µV and mV make one set in the first file's mV (its range from the
/// record's peak in mV, not a thousand times it, and the equaliser's target spectrum that of
/// the record twice in mV, not one a million times the power); a file in another unit is
/// refused.
#[test]
fn volts_are_put_in_the_first_files_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let real = biowave::io::read(Path::new("signals/mitdb208.edf")).unwrap();
    let copy = |unit: &str, k: f32| {
        let mut r = real.clone();
        r.channels[0].meta.unit = unit.into();
        r.channels[0].samples.iter_mut().for_each(|x| *x *= k);
        let p = tmp.path().join(format!("{unit}.edf"));
        biowave::io::save(&r, &p).unwrap();
        p.to_str().unwrap().to_string()
    };
    let (uv, degc, mv) = (copy("uV", 1000.0), copy("degC", 1.0), copy("mV", 1.0));
    let data = |other: &str| -> Vec<String> {
        let args = ["--model", "vae", "--data", "signals/mitdb208.edf", other];
        let small = ["--hidden", "16", "--latent", "4", "--epochs", "1"];
        args.iter().chain(&small).map(|a| a.to_string()).collect()
    };
    let ok: Vec<String> = data(&uv);
    let cfg = train_vae(
        &ok.iter().map(String::as_str).collect::<Vec<_>>(),
        &tmp.path().join("ok"),
    );
    let peak = real.channels[0]
        .samples
        .iter()
        .fold(0f32, |m, v| m.max(v.abs())) as f64;
    let spec = &cfg["spec"]["channels"][0];
    let hi = spec["range"][1].as_f64().unwrap();
    assert_eq!(spec["unit"], "mV");
    assert!(
        (1.5 * peak - 1e-3..1.5 * peak * 1.01).contains(&hi),
        "range {hi}, peak {peak} mV"
    );
    let same: Vec<String> = data(&mv);
    let same = train_vae(
        &same.iter().map(String::as_str).collect::<Vec<_>>(),
        &tmp.path().join("same"),
    );
    let log_psd = |c: &serde_json::Value| -> Vec<f64> {
        serde_json::from_value(c["spectrum"]["log_psd"].clone()).unwrap()
    };
    let (got, want) = (log_psd(&cfg), log_psd(&same));
    assert_eq!(got.len(), want.len());
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 0.05, "log PSD {worst} from the record twice in mV");
    let train_with = |other: &str, out: &str| {
        Command::new(env!("CARGO_BIN_EXE_biowave"))
            .arg("train")
            .args(data(other))
            .arg("--out")
            .arg(tmp.path().join(out))
            .output()
            .unwrap()
    };
    let o = train_with(&uv, "again");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let said = err
        .matches("uV.edf: channel MLII rescaled from uV to mV")
        .count();
    assert_eq!(said, 1, "the rescale said once: {err}");
    let o = train_with(&degc, "bad");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("degC.edf: channel MLII is in `degC`"), "{err}");
}

/// `--data DIR` trains on the recordings in the directory (by name; not other files or the
/// events CSVs beside generated records), each fingerprinted, as `eval` takes directories.
#[test]
fn a_directory_of_recordings_is_training_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("records");
    std::fs::create_dir(&dir).unwrap();
    for name in ["b.edf", "a.edf"] {
        std::fs::copy("signals/mitdb208.edf", dir.join(name)).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "not a recording").unwrap();
    std::fs::write(dir.join("a.events.csv"), "time_s,label\n1,N\n").unwrap();
    let d = dir.to_str().unwrap();
    let small = ["--hidden", "16", "--latent", "4", "--epochs", "1"];
    let cfg = train_vae(
        &[&["--model", "vae", "--data", d][..], &small].concat(),
        &tmp.path().join("m"),
    );
    let files: Vec<&str> = (cfg["fingerprints"].as_array().unwrap().iter())
        .map(|f| f[0].as_str().unwrap())
        .collect();
    assert_eq!(files, [format!("{d}/a.edf"), format!("{d}/b.edf")]);
}

/// Mean over 5 s windows of `stat` of the RR intervals (ms) within each.
fn rr_stat(x: &[f32], fs: f64, stat: fn(&[f64]) -> f64) -> f64 {
    let peaks = biowave::dsp::qrs::detect(x, fs).unwrap();
    let win = (5.0 * fs) as usize;
    let per_window: Vec<f64> = (0..x.len() / win)
        .filter_map(|w| {
            let rr: Vec<f64> = peaks
                .windows(2)
                .filter(|p| p[0] >= w * win && p[1] < (w + 1) * win)
                .map(|p| (p[1] - p[0]) as f64 / fs * 1000.0)
                .collect();
            (rr.len() >= 3).then(|| stat(&rr))
        })
        .collect();
    per_window.iter().sum::<f64>() / per_window.len().max(1) as f64
}

/// Standard deviation of RR intervals (SDNN), ms, averaged over 5 s windows.
fn sdnn_ms(x: &[f32], fs: f64) -> f64 {
    rr_stat(x, fs, |rr| {
        let m = rr.iter().sum::<f64>() / rr.len() as f64;
        (rr.iter().map(|r| (r - m) * (r - m)).sum::<f64>() / rr.len() as f64).sqrt()
    })
}

/// Median absolute difference of successive RR intervals, ms: how much the rhythm changes
/// from one beat to the next, robust to the odd missed or extra detection.
fn median_rr_change_ms(x: &[f32], fs: f64) -> f64 {
    let peaks = biowave::dsp::qrs::detect(x, fs).unwrap();
    let rr: Vec<f64> = peaks
        .windows(2)
        .map(|p| (p[1] - p[0]) as f64 / fs * 1000.0)
        .collect();
    let mut d: Vec<f64> = rr.windows(2).map(|p| (p[1] - p[0]).abs()).collect();
    d.sort_by(f64::total_cmp);
    d[d.len() / 2]
}

/// The shipped ECG VAE draws its latents from the prior fitted to its training windows
/// (`model::latent_prior`): beat-to-beat intervals within a window vary about as much as
/// the record's. Standard-normal draws from the same weights wander through latents that
/// place each window's next beat anywhere (held out: SDNN 122–163 ms against 61–105 with the
/// prior and 64 in the real minute).
#[test]
fn latent_prior_keeps_the_records_beat_to_beat_variability() {
    let tmp = tempfile::tempdir().unwrap();
    // The decoder noise (below) changes the gains the beats are decoded with; without it
    // in both arms, this compares the latent draws alone.
    // The beat states (below) live in the prior's coordinates: both arms walk without them.
    let prior = common::checkpoint_without(
        Path::new("models/ecg-vae"),
        tmp.path(),
        &["decoder_noise", "latent_states"],
    );
    let plain = common::checkpoint_without(
        Path::new("models/ecg-vae"),
        tmp.path(),
        &["decoder_noise", "latent_prior", "latent_states"],
    );
    let rec = biowave::io::read(Path::new("signals/mitdb208.edf")).unwrap();
    let real = sdnn_ms(&rec.channels[0].samples, 360.0);
    let n = 360 * 180;
    let with = sdnn_ms(&samples(&prior, 1, 3600, n), 360.0);
    let without = sdnn_ms(&samples(&plain, 1, 3600, n), 360.0);
    eprintln!("SDNN per 5 s: record {real:.0} ms, prior {with:.0}, N(0, I) {without:.0}");
    assert!(with < 1.3 * real, "{with} vs the record's {real}");
    assert!(without > 1.3 * with, "{without} vs {with}");
}

/// Sign changes about the window's mean per sample, averaged over 5 s windows at 360 Hz
/// (as `eval`'s features count them): the low-level noise around the baseline.
fn zero_crossings(x: &[f32]) -> f64 {
    let per_window = |w: &[f32]| {
        let m = w.iter().sum::<f32>() / w.len() as f32;
        let n = w.windows(2).filter(|p| (p[0] > m) != (p[1] > m)).count();
        n as f64 / w.len() as f64
    };
    let windows: Vec<f64> = x.chunks_exact(1800).map(per_window).collect();
    windows.iter().sum::<f64>() / windows.len() as f64
}

#[test]
fn decoder_noise_gives_back_the_records_low_level_noise() {
    let tmp = tempfile::tempdir().unwrap();
    let plain =
        common::checkpoint_without(Path::new("models/ecg-vae"), tmp.path(), &["decoder_noise"]);
    let rec = biowave::io::read(Path::new("signals/mitdb208.edf")).unwrap();
    let real = zero_crossings(&rec.channels[0].samples);
    let n = 360 * 120;
    let with = zero_crossings(&samples(Path::new("models/ecg-vae"), 1, 3600, n));
    let without = zero_crossings(&samples(&plain, 1, 3600, n));
    eprintln!(
        "zero crossings per sample: record {real:.4}, with noise {with:.4}, mean only {without:.4}"
    );
    // Towards the record, not past it (all of the residual as noise: 0.040 vs 0.032 held
    // out). The shipped model stays below the record: its beats are larger (std 0.59 vs
    // 0.49 mV), so the same noise crosses their baseline less often. Measured 0.0283 with
    // noise, 0.0252 without, record 0.0313 (the mean-only output gained crossings when the
    // splicer began skipping overlong cycles; with noise 0.0270 before).
    assert!(with > 1.08 * without, "{with} vs mean only {without}");
    assert!(with < 1.12 * real, "{with} vs the record's {real}");
}

/// The shipped ECG VAE walks through beat types in the record's order
/// (`model::latent_states`): MIT-BIH 208's premature ventricular beats, each followed by a
/// compensatory pause, make its RR intervals change from one beat to the next, and so do the
/// walk's (median change over 10 min 33 ms against the record's 39; 36 before its states
/// were fitted kind by kind). One walk through the whole prior changes the beat, and the
/// interval it decodes, more gradually: 17 ms at the walk's ρ 0.8 per beat (8 ms at the
/// earlier 0.9, when the states' walk gave 31).
#[test]
fn beat_states_give_the_records_beat_to_beat_rhythm() {
    let tmp = tempfile::tempdir().unwrap();
    let plain =
        common::checkpoint_without(Path::new("models/ecg-vae"), tmp.path(), &["latent_states"]);
    let rec = biowave::io::read(Path::new("signals/mitdb208.edf")).unwrap();
    let real = median_rr_change_ms(&rec.channels[0].samples, 360.0);
    let n = 360 * 600;
    let with = median_rr_change_ms(&samples(Path::new("models/ecg-vae"), 1, 3600, n), 360.0);
    let without = median_rr_change_ms(&samples(&plain, 1, 3600, n), 360.0);
    eprintln!(
        "median RR change: record {real:.0} ms, beat states {with:.0}, one walk {without:.0}"
    );
    assert!(with > 1.5 * without, "{with} vs one walk's {without}");
    assert!(
        (0.6 * real..1.6 * real).contains(&with),
        "{with} vs the record's {real}"
    );
}

/// The share of ventricular beats (`V`) followed by another, and the longest run of them,
/// in the beat labels of 10 min of `generate`'s output of checkpoint `dir`, seed 1.
fn ventricular_runs(dir: &Path, tmp: &Path) -> (f64, usize) {
    let out = tmp.join(format!(
        "{}.edf",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(["generate", "--duration", "10m", "--seed", "1", "--model"])
        .arg(dir)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = common::event_rows(&out.with_extension("events.csv"));
    let v: Vec<bool> = rows.iter().map(|r| r.3 == "V").collect();
    let pairs = v.windows(2).filter(|w| w[0] && w[1]).count();
    let (mut run, mut longest) = (0, 0);
    for &is_v in &v {
        run = if is_v { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let n = v.iter().filter(|&&x| x).count();
    assert!(n > 100, "{n} ventricular beats of {}", v.len());
    (pairs as f64 / n as f64, longest)
}

/// MIT-BIH 208's premature ventricular beats come one at a time, between normal ones (its
/// cardiologists' labels of the excerpt: 9 % followed by another, runs of at most 2). The
/// shipped `ecg-vae` keeps them so: its beat states are fitted kind by kind and its walk
/// moves the latent dimensions together as the training beats do. Drawn on their own, the
/// dimensions leave the beats' manifold and decode normal states to blends the output calls
/// ventricular, several beats in a row (runs of up to 17 in the states before).
#[test]
fn the_ecg_vaes_ventricular_beats_come_one_at_a_time_as_its_records() {
    let tmp = tempfile::tempdir().unwrap();
    let shipped = Path::new("models/ecg-vae");
    let states = &common::read_json(&shipped.join("config.json"))["latent_states"];
    assert_eq!(
        states["kinds"].as_array().map(Vec::len),
        states_count(states)
    );
    let (with, longest) = ventricular_runs(shipped, tmp.path());
    let apart = common::checkpoint_without(shipped, tmp.path(), &["latent_states.coupling"]);
    let (without, longest_without) = ventricular_runs(&apart, tmp.path());
    eprintln!(
        "V then V: {with:.2} (longest run {longest}); drawn dimension by dimension \
         {without:.2} ({longest_without})"
    );
    assert!(with < 0.22 && longest <= 5, "{with} {longest}");
    assert!(without > 1.5 * with, "{without} vs {with}");
}

/// States in a `latent_states` config: the square root of its transitions' count.
fn states_count(states: &serde_json::Value) -> Option<usize> {
    let t = states["transitions"].as_array()?.len();
    Some(t.isqrt())
}

/// Beat states are checked like every other part of a config read from a file: a
/// transition row that is not a distribution, or states without the prior whose
/// coordinates they are in, are refused by name; `--states` without `--beats` (no beats to
/// type) or with `--codec` is refused before any training.
#[test]
fn bad_beat_states_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    for extra in [
        &["--model", "vae"][..],
        &["--model", "transformer", "--codec", "ecg-vae"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
            .args([
                "train",
                "--data",
                "signals/mitdb208.edf",
                "--states",
                "4",
                "--out",
            ])
            .arg(tmp.path().join("never"))
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("--states"), "{err}");
        assert!(!tmp.path().join("never").exists());
    }
    let dir = common::checkpoint_without(Path::new("models/ecg-vae"), tmp.path(), &[]);
    let cfg = dir.join("config.json");
    let good = common::read_json(&cfg);
    let mut row = good.clone();
    row["latent_states"]["transitions"][0] = serde_json::json!(3.0);
    let mut orphan = good.clone();
    orphan.as_object_mut().unwrap().remove("latent_prior");
    for bad in [row, orphan] {
        common::assert_config_refused(&dir, &bad, "latent_states");
    }
}

/// Mean |difference| in dB between two mean log PSDs (`model::equaliser`) over 0.5–10 Hz,
/// where the decoder leaves the shape inside its STFT bins wrong: per quarter of each STFT
/// bin's band (`band` Welch bins; a quarter averages out the estimates' noise), the mean
/// difference less the band's: the shape inside the bands, not their level (the per-bin
/// gains set that).
fn low_band_shape_db(a: &[f32], b: &[f32], nperseg: usize, band: usize, fs: f64) -> f64 {
    let db = |k: usize| 10.0 * f64::from(a[k] - b[k]) / std::f64::consts::LN_10;
    let in_range = |k: usize| (0.5..=10.0).contains(&(k as f64 * fs / nperseg as f64));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let quarter = (band / 4).max(1);
    let mut dev = Vec::new();
    for stft_bin in 0..=a.len() / band {
        let ks: Vec<usize> = (0..a.len())
            .filter(|&k| (k + band / 2) / band == stft_bin && in_range(k))
            .collect();
        let parts: Vec<f64> = ks
            .chunks(quarter)
            .map(|c| mean(&c.iter().map(|&k| db(k)).collect::<Vec<_>>()))
            .collect();
        let level = mean(&parts);
        dev.extend(parts.iter().map(|p| (p - level).abs()));
    }
    mean(&dev)
}

/// The config of the shipped checkpoint `model` and a copy of it in `tmp` without `field`
/// (what its tests compare it with, and break configs of).
fn config_and_copy_without(
    model: &Path,
    tmp: &Path,
    field: &str,
) -> (serde_json::Value, std::path::PathBuf) {
    let copy = common::checkpoint_without(model, tmp, &[field]);
    (common::read_json(&model.join("config.json")), copy)
}

/// The equaliser: with the training record's mean log spectrum in its config, the shipped
/// `ecg-vae`'s 20 min follow its shape within the STFT bins below 10 Hz within 0.2 dB, more
/// closely than without (T waves and the broad premature beats were 3–5 dB low, the slow
/// wander high, before the mean beats); a bad target is refused by name.
#[test]
fn the_equaliser_brings_back_the_records_low_frequency_spectrum() {
    use biowave::model::equaliser::SpectrumTarget;
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, plain) = config_and_copy_without(Path::new("models/ecg-vae"), tmp.path(), "spectrum");
    let target: SpectrumTarget = serde_json::from_value(cfg["spectrum"].clone()).unwrap();
    let (fs, n) = (360.0, 360 * 1200);
    let off = |dir: &Path| {
        let x = samples(dir, 1, 3600, n);
        let got = SpectrumTarget::of_signals(&[x], fs).unwrap();
        let band = target.nperseg / 64; // the model's n_fft
        low_band_shape_db(&got.log_psd, &target.log_psd, target.nperseg, band, fs)
    };
    let (with, without) = (off(Path::new("models/ecg-vae")), off(&plain));
    eprintln!(
        "0.5-10 Hz off the record's spectral shape: {with:.2} dB equalised, {without:.2} dB not"
    );
    // Measured: 0.37 vs 0.55 dB when the test was written (DC band 0.6 vs 1.1 dB either side;
    // the Hann-windowed 1025-tap kernel smooths the step at 0.5 Hz); 0.15 vs 0.23 with
    // today's mean beats; 0.16 vs 0.18 since wide beats are labelled and so corrected to
    // their kind's mean beat too (models/README, "Wide beats labelled"), which brings most
    // of the low band by itself. Asked: within 0.2 dB, and nearer than without.
    assert!(with < 0.2 && with < without, "{with} vs {without}");
    let mut bad = cfg.clone();
    bad["spectrum"]["nperseg"] = serde_json::json!(1000);
    common::assert_config_refused(&plain, &bad, "spectrum.nperseg");
    let mut short = cfg;
    short["spectrum"]["log_psd"] = serde_json::json!([0.0, 1.0]);
    common::assert_config_refused(&plain, &short, "spectrum.log_psd");
}

/// The fine low band (`train --fine-eq 4`): the shipped `ecg-sinus-vae`'s 10 min carry the
/// power of MIT-BIH 100 below 3 Hz (slow baseline, T waves and the beat's first harmonics),
/// measured over 16 s segments as its config's target was, within 1.5 dB in each of four
/// bands and nearer it than the same checkpoint without the band (measured: with it
/// +0.19 / −0.91 / +0.02 / −0.33 dB, without +1.39 / −2.62 / −0.34 / −1.69 dB); a bad band
/// is refused by name.
#[test]
fn the_fine_low_band_brings_back_the_sinus_records_slow_power() {
    use biowave::model::equaliser::{LowTarget, SpectrumTarget};
    let tmp = tempfile::tempdir().unwrap();
    let model = Path::new("models/ecg-sinus-vae");
    let (cfg, coarse) = config_and_copy_without(model, tmp.path(), "spectrum.low");
    let target: SpectrumTarget = serde_json::from_value(cfg["spectrum"].clone()).unwrap();
    let low = target.low.expect("ecg-sinus-vae is trained with --fine-eq");
    let fs = 360.0;
    let hz = |k: usize| k as f64 * fs / low.nperseg as f64;
    let bands_db = |dir: &Path| -> Vec<f64> {
        let x = samples(dir, 1, 3600, 360 * 600);
        let got = LowTarget::of_signals(&[x], fs, f64::from(low.below_hz)).unwrap();
        [(0.05, 0.3), (0.3, 0.7), (0.7, 1.5), (1.5, 3.0)]
            .iter()
            .map(|&(a, b)| {
                let ks: Vec<usize> = (0..low.log_psd.len())
                    .filter(|&k| (a..b).contains(&hz(k)))
                    .collect();
                let d: f64 = ks
                    .iter()
                    .map(|&k| f64::from(got.log_psd[k] - low.log_psd[k]))
                    .sum();
                10.0 * d / ks.len() as f64 / std::f64::consts::LN_10
            })
            .collect()
    };
    let (with, without) = (bands_db(model), bands_db(&coarse));
    eprintln!("0.05-0.3, 0.3-0.7, 0.7-1.5, 1.5-3 Hz against the record: {with:+.2?} dB with the low band, {without:+.2?} dB without");
    let worst = |v: &[f64]| v.iter().fold(0f64, |m, d| m.max(d.abs()));
    assert!(worst(&with) < 1.5, "{with:?}");
    assert!(
        worst(&without) > 2.0 && worst(&with) < 0.6 * worst(&without),
        "{with:?} vs {without:?}"
    );
    let mut bad = cfg.clone();
    bad["spectrum"]["low"]["nperseg"] = serde_json::json!(1000);
    common::assert_config_refused(&coarse, &bad, "spectrum.low.nperseg");
    let mut short = cfg;
    short["spectrum"]["low"]["log_psd"] = serde_json::json!([0.0]);
    common::assert_config_refused(&coarse, &short, "spectrum.low");
}

/// Each kind of beat its record's mean beat (`train --beat-means 3`, `model::beat_mean`):
/// in 10 min of the shipped `ecg-vae` (a seed other than the calibration's), the mean
/// normal and ventricular beats lie nearer MIT-BIH 208's (its config's target) than the
/// same checkpoint's without the means (measured in CI: 0.018 / 0.037 mV rms from them,
/// against 0.028 / 0.074 without; the fusion beats 0.070 against 0.069); a bad target is
/// refused by name.
#[test]
fn each_kind_of_the_ecg_vaes_beats_has_the_records_mean_beat() {
    use biowave::model::beat_mean::BeatMeanTarget;
    let tmp = tempfile::tempdir().unwrap();
    let model = Path::new("models/ecg-vae");
    let (cfg, plain) = config_and_copy_without(model, tmp.path(), "beat_means");
    let target: BeatMeanTarget = serde_json::from_value(cfg["beat_means"].clone()).unwrap();
    let fs = 360.0;
    // Per kind, the rms of what would still take the output's mean beat to the record's.
    let off = |dir: &Path| -> Vec<f64> {
        let x = samples(dir, 2, 3600, 360 * 600);
        let peaks = biowave::dsp::qrs::detect(&x, fs).unwrap();
        let d = target.corrections(&[&x], &peaks, fs);
        d.chunks_exact(target.len)
            .map(|k| (k.iter().map(|v| f64::from(v * v)).sum::<f64>() / k.len() as f64).sqrt())
            .collect()
    };
    let (with, without) = (off(model), off(&plain));
    eprintln!(
        "mean beats off the record's, per kind (mV rms): {with:.3?} with, {without:.3?} without"
    );
    // Normal, ventricular and fusion beats (`train --beat-means 3`); the fusion kind's 53
    // training beats, half one shape and half the other, give a mean the output's do not
    // come nearer (0.070 with, 0.069 without, in CI on 2026-12-07): the first two are checked.
    assert_eq!(target.kinds(), 3);
    for k in 0..2 {
        assert!(
            with[k] > 0.0 && with[k] < without[k],
            "{with:?} vs {without:?}"
        );
    }
    assert!(with[1] < 0.7 * without[1], "{with:?} vs {without:?}");
    let mut bad = cfg.clone();
    bad["beat_means"]["len"] = serde_json::json!(1_000_000_000_000u64);
    common::assert_config_refused(&plain, &bad, "beat_means");
    let mut short = cfg;
    short["beat_means"]["means"] = serde_json::json!([0.0, 1.0]);
    common::assert_config_refused(&plain, &short, "beat_means.means");
}

/// A model without beats (EEG) has its equaliser set levels as well as shapes: the shipped
/// `eeg-vae`'s 10 min (a seed other than the calibration's) follow the training record's
/// mean log spectrum over 1–40 Hz within 0.75 dB rms on every channel. Measured at most
/// 0.55 dB (0.39–0.53 before the coupled noise and the faster walk); with the shape-only
/// equaliser and the slower walk (ρ 0.9) before, 1.08 dB on the first channel already.
#[test]
fn the_eeg_equaliser_sets_each_channels_level() {
    common::assert_eeg_spectrum_within("eeg-vae", 2, 0.75);
}

/// Real EEG is not symmetric (`common::assert_skewed_as_its_record`): the shipped
/// `eeg-vae`, trained with `--shape`, skews its channels as the record does (measured,
/// scipy: r 0.95, rms difference 0.028; without its shape 0.66, 0.062).
#[test]
fn the_eeg_vaes_channels_are_skewed_as_its_records_are() {
    common::assert_skewed_as_its_record("eeg-vae");
}

/// A `shape` that does not fit its checkpoint (a channel short, quantiles out of order,
/// a level outside (0, 1)) is refused by name, exit 2, before anything streams.
#[test]
fn a_shape_that_does_not_fit_is_refused_by_name() {
    let dir = Path::new("models/eeg-vae");
    let tmp = tempfile::tempdir().unwrap();
    let copy = common::checkpoint_without(dir, tmp.path(), &[]);
    let cfg = common::read_json(&dir.join("config.json"));
    let mut short = cfg.clone();
    short["shape"]["quantiles"].as_array_mut().unwrap().pop();
    common::assert_config_refused(&copy, &short, "shape");
    let mut unordered = cfg.clone();
    unordered["shape"]["quantiles"][3][50] = serde_json::json!(1e9);
    common::assert_config_refused(&copy, &unordered, "shape");
    let mut level = cfg;
    level["shape"]["p"][0] = serde_json::json!(-0.5);
    common::assert_config_refused(&copy, &level, "shape");
}

/// The shipped `eeg-vae` gives its decoder's whole residual back as noise, its channels
/// correlated per bin as the residual's were in training (`decoder_noise_coupling`): 10 min
/// keep the record's channel coupling and its steady loudness (measured: coupling 0.40
/// against 0.43, loudness spread 0.07 against 0.10). Without the coupling in its config the
/// noise keeps a quarter, the gains push the rest onto the decoded mean, and the loudness
/// swings from window to window 2.3 times as much as the record's (0.24) while the coupling
/// drops (0.34); independent noise with all of it would couple at 0.07. A coupling of the
/// wrong length, or not a correlation, is refused by name.
#[test]
fn the_eeg_vae_keeps_the_records_channel_coupling_and_steady_loudness() {
    let [(r, s), (r_real, s_real), (r_plain, s_plain)] =
        common::eeg_coupling_with_and_without("eeg-vae", "decoder_noise_coupling");
    eprintln!(
        "coupling {r:.3} (record {r_real:.3}, without {r_plain:.3}); \
         loudness spread {s:.3} (record {s_real:.3}, without {s_plain:.3})"
    );
    assert!((r - r_real).abs() < 0.06, "coupling {r} vs {r_real}");
    assert!(s < 1.5 * s_real, "loudness spread {s} vs {s_real}");
    assert!(s_plain > 2.0 * s_real, "without: {s_plain} vs {s_real}");
    let dir = Path::new("models/eeg-vae");
    let tmp = tempfile::tempdir().unwrap();
    let copy = common::checkpoint_without(dir, tmp.path(), &[]);
    let cfg = common::read_json(&dir.join("config.json"));
    let mut short = cfg.clone();
    short["decoder_noise_coupling"] = serde_json::json!([0.5, 0.5]);
    common::assert_config_refused(&copy, &short, "decoder_noise_coupling");
    let mut bad = cfg;
    bad["decoder_noise_coupling"][7] = serde_json::json!(1.5);
    common::assert_config_refused(&copy, &bad, "decoder_noise_coupling");
}

/// SIGTERM mid-training stops after the step in progress with the weights and the
/// optimiser's state saved, exit 1 naming the step and `--resume`; the same command with
/// `--resume` then goes on from that step.
#[test]
fn sigterm_saves_the_run_and_resume_goes_on_from_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m");
    let args = [
        &common::SMALL_ECG_VAE[..],
        &["--epochs", "2000", "--seed", "3"],
    ]
    .concat();
    let cmd: Vec<&std::ffi::OsStr> = (std::iter::once("train").chain(args.iter().copied()))
        .chain(["--out"])
        .map(std::ffi::OsStr::new)
        .chain([out.as_os_str()])
        .collect();
    // The first checkpoint (step 200) says the loop is running.
    let ready = || out.join("config.json").exists();
    let (code, err) = common::terminated_when(&cmd, ready, 300);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("train stopped by a signal at step"), "{err}");
    assert!(err.contains("--resume"), "{err}");
    let step = common::read_json(&out.join("config.json"))["step"]
        .as_u64()
        .unwrap();
    assert!(err.contains(&format!("at step {step}:")), "{err}");
    assert!(step >= 200, "{step}");
    // Resumed for a few more seconds: it starts from the saved step and goes past it.
    let more = [&args[..], &["--resume", "--max-minutes", "0.05"]].concat();
    let cfg = train_vae(&more, &out);
    assert!(cfg["step"].as_u64().unwrap() > step, "{cfg}");
}

/// An EDF+D trains stretch by stretch (MIT-BIH 208 paused twice: 150 s, 1 s, 149 s): the
/// 1 s stretch, shorter than a 2 s window, left out by name; one whose stretches are all
/// too short is refused naming the file.
#[test]
fn an_edf_plus_d_trains_within_its_stretches() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rec = biowave::io::read(Path::new("signals/mitdb208.edf")).unwrap();
    rec.meta.annotations.clear();
    let paused = tmp.path().join("paused.edf");
    common::write_edf_plus_d(&rec, &paused, &[(150.0, 10.0), (151.0, 10.0)]);
    let run = |data: &Path, out: &str| {
        Command::new(env!("CARGO_BIN_EXE_biowave"))
            .args(["train", "--model", "vae", "--hidden", "16", "--latent", "4"])
            .args(["--epochs", "1", "--data"])
            .arg(data)
            .arg("--out")
            .arg(tmp.path().join(out))
            .output()
            .unwrap()
    };
    let o = run(&paused, "ok");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("paused.edf: 2 of its 3 discontinuous stretches trained on, each alone")
            && err.contains("paused.edf@160s (1.00 s) shorter than one training window"),
        "{err}"
    );
    assert_eq!(
        err.matches("stretches trained on").count(),
        1,
        "said once: {err}"
    );
    let cfg = common::read_json(&tmp.path().join("ok/config.json"));
    assert_eq!(cfg["spec"]["sample_rate"], 360.0);
    rec.channels[0].samples.truncate(4 * 360);
    let short = tmp.path().join("short.edf");
    common::write_edf_plus_d(&rec, &short, &[(1.0, 5.0), (2.0, 5.0), (3.0, 5.0)]);
    let o = run(&short, "bad");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "short.edf: none of its 4 discontinuous stretches (EDF+D) holds one training window"
        ),
        "{err}"
    );
}

/// A beat VAE trained on a record with the cardiologists' beat labels (MIT-BIH 208's
/// excerpt cut from the whole record, `signals/mitdb208_full.edf`) names its kinds of beat
/// by them (`--beat-means 2`: normal and ventricular), says so in `info`, and labels each
/// beat it makes by its kind, in the events file and the manifest: about the record's share
/// of ventricular beats, not `Q` (unclassified) as from unlabelled records.
#[test]
fn beats_learned_from_a_labelled_record_carry_its_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{args:?}: {err}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let (excerpt, model, out) = (p("208.edf"), p("labelled"), p("gen"));
    let whole = "signals/mitdb208_full.edf";
    let cut = ["--channels", "MLII", "--start", "1174.5", "--end", "1474.5"];
    run(&[&["convert", whole, &excerpt][..], &cut].concat());
    let flags = [
        "--hidden", "64", "--latent", "8", "--epochs", "15", "--seed", "2",
    ];
    let beats = ["--beats", "--beat-means", "2"];
    let train = [
        &[
            "train", "--model", "vae", "--data", &excerpt, "--out", &model,
        ][..],
        &flags,
    ];
    run(&[&train.concat()[..], &beats].concat());
    let cfg = common::read_json(&Path::new(&model).join("config.json"));
    let b = &cfg["beat_means"];
    assert_eq!(b["labels"], serde_json::json!(["N", "V"]), "{b}");
    let share = |k: usize| b["labelled"][k].as_f64().unwrap() / b["counts"][k].as_f64().unwrap();
    // The excerpt: 358 N, 93 V and 56 fusion beats (F) among its labels.
    assert!(share(0) > 0.9 && share(1) > 0.6, "{b}");
    let info = run(&["info", &model]);
    assert!(info.contains("beat labels: N ("), "{info}");
    run(&[
        "generate",
        "--model",
        &model,
        "--duration",
        "3m",
        "--seed",
        "1",
        "--out",
        &out,
    ]);
    let manifest = common::read_json(&Path::new(&out).join("manifest.json"));
    let events = &manifest["records"][0]["labels"]["events"];
    let n = |l: &str| events[l].as_u64().unwrap_or(0) as f64;
    let all = n("N") + n("V") + n("Q");
    assert!(all > 100.0, "{events}");
    assert!(n("Q") <= 2.0, "beats without a kind: {events}");
    let v = n("V") / all;
    let kinds = (&b["labels"], &b["labelled"], &b["counts"]);
    eprintln!("kinds {kinds:?}; events of 3 min {events}: ventricular share {v:.3}");
    assert!(
        (0.1..0.5).contains(&v),
        "ventricular share {v:.2} (record's kind 0.26): {events}"
    );
    // The same flags on the unlabelled excerpt leave every beat unclassified.
    let plain = p("plain");
    let data = "signals/mitdb208.edf";
    let train = [
        &["train", "--model", "vae", "--data", data, "--out", &plain][..],
        &flags,
    ];
    run(&[&train.concat()[..], &beats].concat());
    let cfg = common::read_json(&Path::new(&plain).join("config.json"));
    assert!(
        cfg["beat_means"].get("labels").is_none(),
        "{}",
        cfg["beat_means"]
    );
}

/// `train --start/--end` trains on a part of each recording: MIT-BIH 208's excerpt cut
/// from the whole record by seconds gives the same weights as SciPy's copy of it (the
/// same ADC values, sample for sample) and, from the whole record's annotations, the kinds'
/// labels; a range that keeps nothing is refused, naming the file.
#[test]
fn a_part_of_a_recording_trains_as_that_part_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let flags = [
        "--model",
        "vae",
        "--epochs",
        "2",
        "--seed",
        "1",
        "--beats",
        "--beat-means",
        "2",
    ];
    let part = tmp.path().join("part");
    let whole = ["--data", "signals/mitdb208_full.edf", "--channels", "MLII"];
    let cut = ["--start", "1174.5", "--end", "1474.5"];
    let a = train_vae(&[&flags[..], &whole, &cut].concat(), &part);
    let excerpt = tmp.path().join("excerpt");
    let b = train_vae(
        &[&flags[..], &["--data", "signals/mitdb208.edf"]].concat(),
        &excerpt,
    );
    let weights = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert!(
        weights(&part) == weights(&excerpt),
        "the same samples, the same weights"
    );
    assert_eq!(a["beat_means"]["counts"], b["beat_means"]["counts"]);
    assert_eq!(a["beat_means"]["labels"], serde_json::json!(["N", "V"]));
    for (range, says) in [
        (
            &["--start", "2000"][..],
            "starts at or past the end of the recording",
        ),
        (
            &["--start", "5", "--end", "5"][..],
            "ends at or before its start",
        ),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
            .arg("train")
            .args([&flags[..], &whole, range].concat())
            .arg("--out")
            .arg(tmp.path().join("bad"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("mitdb208_full.edf") && err.contains(says),
            "{err}"
        );
    }
}
