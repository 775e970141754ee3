//! Faults while writing: a full disk (simulated with the file-size limit, RLIMIT_FSIZE,
//! whose SIGXFSZ is ignored so writes fail with EFBIG as on a full disk) must end the
//! stream with a clear error and leave a file that pyedflib reads, cut at a whole record.

mod common;
use std::process::Command;

#[test]
fn disk_full_mid_stream_leaves_a_valid_file_and_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["edf", "bdf"] {
        let path = dir.path().join(format!("full.{ext}"));
        // 200 KiB limit; 4 channels at 500 Hz need ~4-6 KB per second: it fills in ~40 s
        // of signal, a fraction of a second with --fast.
        let script = format!(
            "trap '' XFSZ; ulimit -f 200; exec {} stream --model sine --fast --duration 1h --to file:{}",
            env!("CARGO_BIN_EXE_biowave"),
            path.display()
        );
        let o = Command::new("bash").args(["-c", &script]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(1),
            "a sink error ends the stream: {err}"
        );
        assert!(
            err.contains(&path.display().to_string()),
            "names the file: {err}"
        );
        assert!(err.contains("File too large"), "says why: {err}");
        assert!(!err.contains("panicked"), "{err}");
        let s = common::pyedflib_summary(&path, &["--sine", "10"]);
        let n = s["n_samples"][0].as_u64().unwrap();
        assert!(
            n > 10_000,
            "the records written before the disk filled are kept: {n}"
        );
        assert!(s["sine_err"].as_f64().unwrap() < 1e-3);
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len <= 200 * 1024, "{len}");
    }
}

#[test]
fn out_dir_confines_scenario_file_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let scenario = dir.path().join("s.toml");
    let run = |to: &str| {
        let toml =
            format!("[[stream]]\nmodel = \"sine\"\nduration = \"1s\"\nto = [\"file:{to}\"]\n");
        std::fs::write(&scenario, toml).unwrap();
        Command::new(env!("CARGO_BIN_EXE_biowave"))
            .args(["stream", "--fast", "--scenario"])
            .arg(&scenario)
            .arg("--out-dir")
            .arg(&out)
            .output()
            .unwrap()
    };
    for escape in ["../escaped.edf", "/tmp/escaped.edf"] {
        let o = run(escape);
        assert_eq!(o.status.code(), Some(2), "{escape}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--out-dir"));
    }
    assert!(!dir.path().join("escaped.edf").exists());
    let o = run("inside.edf");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("inside.edf").exists());
}

/// SIGTERM during training: checkpoints are written atomically (temp file + rename), so
/// the last one is intact and `--resume` continues from its step.
#[test]
fn sigterm_during_training_leaves_a_checkpoint_that_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let bin = env!("CARGO_BIN_EXE_biowave");
    let args = [
        "train",
        "--model",
        "vae",
        "--data",
        "signals/mitdb208.edf",
        "--hidden",
        "64",
        "--latent",
        "8",
    ];
    let mut child = Command::new(bin)
        .args(args)
        .args(["--epochs", "100000", "--max-minutes", "5", "--out"])
        .arg(&out)
        .spawn()
        .unwrap();
    // Wait for the first periodic checkpoint (every 200 steps), then stop the run.
    let t = std::time::Instant::now();
    while !out.join("config.json").exists() && t.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    let step = cfg["step"].as_u64().unwrap();
    assert!(step >= 200, "a periodic checkpoint was saved: step {step}");
    assert!(
        biowave::model::by_name(out.to_str().unwrap(), 0).is_ok(),
        "the weights load"
    );
    let o = Command::new(bin)
        .args(args)
        .args([
            "--epochs",
            "100000",
            "--max-minutes",
            "0.05",
            "--resume",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert!(
        cfg["step"].as_u64().unwrap() > step,
        "resumed past step {step}"
    );
}

/// kill -9 while streaming HDF5: the writer closes and reopens the file about once a
/// second, so h5py still opens it, with every frame up to the last reopen.
#[test]
fn kill_9_mid_stream_leaves_an_hdf5_file_h5py_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.h5");
    let mut child = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(["stream", "--model", "sine", "--to"])
        .arg(format!("file:{}", path.display()))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3500));
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let rec = biowave::io::read(&path).expect("biowave reads the killed file");
    let x = &rec.channels[0].samples;
    assert!(x.len() >= 1000, "frames up to the last reopen: {}", x.len());
    for (i, v) in x.iter().enumerate() {
        let want = (std::f64::consts::TAU * 10.0 * i as f64 / 500.0).sin() as f32;
        assert!((v - want).abs() < 1e-6, "frame {i}");
    }
    let d = dir.path().join("dump");
    common::dump(&rec, &d);
    common::python(
        "h5_check.py",
        [
            std::ffi::OsStr::new("compare"),
            path.as_os_str(),
            d.as_os_str(),
        ],
    );
}
