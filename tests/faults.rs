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
    let mut child = Command::new(bin)
        .arg("train")
        .args(common::SMALL_ECG_VAE)
        .args(["--epochs", "100000", "--max-minutes", "5", "--out"])
        .arg(&out)
        .spawn()
        .unwrap();
    let _reap = common::KillOnPanic(child.id());
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
    let cfg: serde_json::Value = common::read_json(&out.join("config.json"));
    let step = cfg["step"].as_u64().unwrap();
    assert!(step >= 200, "a periodic checkpoint was saved: step {step}");
    assert!(
        biowave::model::by_name(out.to_str().unwrap(), 0).is_ok(),
        "the weights load"
    );
    let o = Command::new(bin)
        .arg("train")
        .args(common::SMALL_ECG_VAE)
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
    let cfg: serde_json::Value = common::read_json(&out.join("config.json"));
    assert!(
        cfg["step"].as_u64().unwrap() > step,
        "resumed past step {step}"
    );
}

/// Streams `model` in real time to `killed.h5` in a new directory and kills it with -9
/// after `ms`: the directory and the file read back by biowave (h5py reading the same).
fn kill_9_hdf5_stream(model: &str, ms: u64) -> (tempfile::TempDir, biowave::record::Record) {
    let dir = tempfile::tempdir().unwrap();
    let to = format!("file:{}", dir.path().join("killed.h5").display());
    let args = ["stream", "--model", model, "--to", &to];
    let rec = kill_9_hdf5(&args, &dir.path().join("killed.h5"), ms);
    (dir, rec)
}

/// Runs biowave with `args`, kills it with -9 after `ms`, and reads `path` back with
/// biowave and h5py, which must agree.
fn kill_9_hdf5(args: &[&str], path: &std::path::Path, ms: u64) -> biowave::record::Record {
    let mut child = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(args)
        .spawn()
        .unwrap();
    let _reap = common::KillOnPanic(child.id());
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let rec = biowave::io::read(path).expect("biowave reads the killed file");
    let d = path.with_extension("dump");
    common::dump(&rec, &d);
    let args = [
        std::ffi::OsStr::new("compare"),
        path.as_os_str(),
        d.as_os_str(),
    ];
    common::python("h5_check.py", args);
    rec
}

/// kill -9 during bulk `generate` to HDF5: its file is closed and reopened after each
/// minute of signal (where depends on the data alone, so the bytes do too), and biowave
/// and h5py read it up to the last whole minute, beats included.
#[test]
fn kill_9_mid_generate_leaves_an_hdf5_file_of_whole_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g");
    let args = [
        // 72 h, about 15 s of writing here: still running when killed on a faster machine.
        &[
            "generate",
            "--duration",
            "72h",
            "--out",
            out.to_str().unwrap(),
        ][..],
        &common::LONG_HDF5_ECG,
    ]
    .concat();
    let rec = kill_9_hdf5(&args, &out.join("ecgsyn-000000.h5"), 1200);
    let minutes = rec.duration_s() / 60.0;
    assert!((1.0..72.0 * 60.0).contains(&minutes), "{minutes} min");
    assert_eq!(minutes.fract(), 0.0, "{minutes} min");
    let beats = rec.meta.annotations.len() as f64;
    assert!(
        (50.0..90.0).contains(&(beats / minutes)),
        "{beats} beats in {minutes} min"
    );
}

/// kill -9 while streaming HDF5: the writer closes and reopens the file about once a
/// second, so h5py still opens it, with every frame up to the last reopen.
#[test]
fn kill_9_mid_stream_leaves_an_hdf5_file_h5py_reads() {
    let (_dir, rec) = kill_9_hdf5_stream("sine", 3500);
    let x = &rec.channels[0].samples;
    assert!(x.len() >= 1000, "frames up to the last reopen: {}", x.len());
    for (i, v) in x.iter().enumerate() {
        let want = (std::f64::consts::TAU * 10.0 * i as f64 / 500.0).sin() as f32;
        assert!((v - want).abs() < 1e-6, "frame {i}");
    }
}

/// And its beat annotations: an ECGSYN stream killed mid-way leaves in the file's
/// `/annotations` the beats of the events CSV up to the last reopen, each on a frame the
/// file holds (h5py reads the same).
#[test]
fn kill_9_mid_stream_keeps_the_hdf5_files_beats_up_to_the_last_reopen() {
    let (dir, rec) = kill_9_hdf5_stream("ecgsyn", 4500);
    let rows = common::event_rows(&dir.path().join("killed.events.csv"));
    let own = &rec.meta.annotations;
    let held = rec.duration_s();
    assert!(own.len() >= 2, "{} beats in {held} s", own.len());
    assert!(own.len() <= rows.len());
    for (a, r) in own.iter().zip(&rows) {
        assert!(
            (a.onset - r.0).abs() < 1e-3 && a.text == r.3,
            "{a:?} vs {r:?}"
        );
        assert!(a.onset < held, "{a:?} past the file's {held} s");
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Hundreds of clients connecting and leaving (and more than `max_clients` at once) do
/// not disturb a reading client, are refused beyond the limit, and leak no descriptors.
#[test]
fn a_flood_of_clients_neither_disturbs_the_stream_nor_leaks() {
    use std::io::Read;
    let port = common::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(["stream", "--model", "sine", "--duration", "6s"])
        .arg(format!("--to=tcp://127.0.0.1:{port}?max_clients=6&wait=1"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _reap = common::KillOnPanic(child.id());
    let pid = child.id();
    // Drain stderr as it comes: a test that reads it only at the end must not be the
    // reason the server blocks.
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let good = common::connect(port);
    let reader = std::thread::spawn(move || common::read_client(good));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let baseline = open_fds(pid);
    // Eight idle clients at once against a limit of six (the reader holds one slot):
    // at least three are closed by the server straight away.
    let idle: Vec<_> = (0..8).map(|_| common::connect(port)).collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let refused = idle
        .iter()
        .filter(|s| {
            let mut s = *s;
            s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
                .unwrap();
            let mut b = [0u8; 1];
            match s.read(&mut b) {
                Ok(n) => n == 0,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        })
        .count();
    drop(idle);
    let flooders: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                for i in 0..150 {
                    if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                        if i % 3 == 0 {
                            let mut b = [0u8; 64];
                            let _ = s.read(&mut b);
                        }
                    }
                }
            })
        })
        .collect();
    for f in flooders {
        f.join().unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(800));
    let after = open_fds(pid);
    let (header, xs) = reader.join().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = log.join().unwrap();
    assert!(out.status.success(), "{err}");
    assert!(
        err.lines().count() < 40,
        "refusals are summarised, not logged one by one: {err}"
    );
    assert_eq!(header["sample_rate"], 500.0);
    assert_eq!(
        xs.len(),
        6 * 500,
        "the reader got every frame: {}",
        xs.len()
    );
    assert!(
        refused >= 3,
        "clients over the limit are refused: {refused} of 8"
    );
    assert!(err.contains("refused: too many"), "{err}");
    assert!(
        after <= baseline + 1,
        "descriptors return to their level after the flood: {baseline} → {after}"
    );
}

/// With `--on-error drop` a failing sink (here a file on a full disk) is dropped with a
/// warning and the stream goes on to its end for the others; the default stops it.
#[test]
fn a_failing_sink_is_dropped_or_stops_the_stream_as_told() {
    let dir = tempfile::tempdir().unwrap();
    for (policy, code) in [("drop", 0), ("stop", 1)] {
        let port = common::free_port();
        let path = dir.path().join(format!("{policy}.edf"));
        let script = format!(
            "trap '' XFSZ; ulimit -f 64; exec {} stream --model sine --fast --duration 120s \
             --on-error {policy} --to file:{} --to 'tcp://127.0.0.1:{port}?wait=1'",
            env!("CARGO_BIN_EXE_biowave"),
            path.display()
        );
        let child = Command::new("bash")
            .args(["-c", &script])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let _reap = common::KillOnPanic(child.id());
        let (_, xs) = common::read_client(common::connect(port));
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{policy}: {err}");
        assert!(err.contains(&path.display().to_string()), "{policy}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        if policy == "drop" {
            assert_eq!(xs.len(), 120 * 500, "the TCP client got the whole stream");
        } else {
            assert!(
                xs.len() < 120 * 500,
                "the stream stopped early: {}",
                xs.len()
            );
        }
        let s = common::pyedflib_summary(&path, &["--sine", "10"]);
        assert!(s["sine_err"].as_f64().unwrap() < 1e-3, "{policy}: {s}");
    }
}
