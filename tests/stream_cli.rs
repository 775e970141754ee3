//! Drives the real `biowave stream` binary: TCP wire format and frame counts, stalled
//! clients, SIGTERM, stdout counts, --fast, closed pipes, metrics, bad input (exit 2) and
//! beat annotations in recorded ECG files. The `sine` generator at 500 Hz is used where
//! expected samples must be known exactly.

mod common;
use common::{connect, event_rows, free_port, pyedflib_summary, read_client};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_biowave");

fn stream(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("stream").args(args);
    c
}

fn finish(child: Child) -> Output {
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "biowave failed: {:?} {err}",
        out.status
    );
    out
}

fn sine(i: usize) -> f32 {
    (std::f64::consts::TAU * 10.0 * i as f64 / 500.0).sin() as f32
}

// The issue's check: 10 s at 500 Hz. `wait=1` starts the clock when the client is
// connected, so the count must be exactly 5000, not ±1 block.
#[test]
fn tcp_client_gets_header_and_exactly_duration_times_rate_frames_in_real_time() {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}?wait=1");
    let child = stream(&["--model", "sine", "--to", &url, "--duration", "10s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _reap = common::KillOnPanic(child.id());
    let s = connect(port);
    let t = Instant::now();
    let (h, xs) = read_client(s);
    let took = t.elapsed();
    finish(child);
    assert_eq!(h["format"], "f32le");
    assert_eq!(h["sample_rate"], 500.0);
    assert_eq!(h["start_index"], 0);
    assert_eq!(h["channels"][0]["label"], "S1");
    assert_eq!(h["channels"][0]["unit"], "mV");
    assert_eq!(xs.len(), 5000, "10 s at 500 Hz");
    for (i, x) in xs.iter().enumerate() {
        assert!((x - sine(i)).abs() < 1e-6, "frame {i}: {x} vs {}", sine(i));
    }
    assert!(
        took > Duration::from_millis(9900),
        "real time: took {took:?}"
    );
    assert!(
        took < Duration::from_millis(11500),
        "real time: took {took:?}"
    );
}

/// `events=PORT`: a second port lists the generator's events as JSON lines, indexed by
/// frame as the sample port counts them; on 30 s of ECGSYN every `N` sits on an R peak that
/// biowave's QRS detector finds in lead II as the sample port delivered it.
#[test]
fn tcp_event_port_lists_the_beats_in_the_samples_the_sample_port_sends() {
    let (port, events_port) = (free_port(), free_port());
    let url = format!("tcp://127.0.0.1:{port}?wait=1&events={events_port}");
    let args = [
        "--model",
        "ecgsyn",
        "--fast",
        "--duration",
        "30s",
        "--to",
        &url,
    ];
    let child = stream(&args).stderr(Stdio::piped()).spawn().unwrap();
    let _reap = common::KillOnPanic(child.id());
    let events = std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(connect(events_port));
        let mut text = String::new();
        r.read_to_string(&mut text).unwrap();
        text
    });
    let (h, xs) = read_client(connect(port));
    let text = events.join().unwrap();
    finish(child);
    let mut lines = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap());
    let eh = lines.next().expect("a header line");
    assert_eq!(eh["format"], "events");
    assert_eq!(eh["sample_rate"], h["sample_rate"]);
    assert_eq!(eh["labels"], serde_json::json!(["N", "V"]));
    let (fs, nc) = (500.0, h["channels"].as_array().unwrap().len());
    assert_eq!(h["channels"][1]["label"], "II");
    assert_eq!(xs.len(), 30 * 500 * nc);
    let mut truth = Vec::new();
    for e in lines {
        let (t, sample) = (e["time"].as_f64().unwrap(), e["sample"].as_u64().unwrap());
        assert_eq!(e["label"], "N", "{e}");
        assert_eq!(e["duration"], 0.0, "{e}");
        assert_eq!(sample, (t * fs).round() as u64, "{e}");
        truth.push(sample as usize);
    }
    assert!(truth.windows(2).all(|w| w[0] < w[1]), "in time order");
    assert!(
        (33..=39).contains(&truth.len()),
        "72 bpm for 30 s: {}",
        truth.len()
    );
    let lead_ii: Vec<f32> = xs.iter().skip(1).step_by(nc).copied().collect();
    let found = biowave::dsp::qrs::detect(&lead_ii, fs).unwrap();
    let m = biowave::dsp::qrs::match_beats(&found, &truth, (0.15 * fs) as usize);
    assert!(
        m.false_negatives <= 1 && m.false_positives <= 1,
        "labels on R peaks {}, labels the detector missed {}, peaks unlabelled {}",
        m.true_positives,
        m.false_negatives,
        m.false_positives
    );
    // On the peak, not a block (10 frames) or more off.
    let mut off: Vec<usize> = (truth.iter())
        .map(|&t| found.iter().map(|&f| f.abs_diff(t)).min().unwrap())
        .collect();
    off.sort_unstable();
    assert!(
        off[off.len() / 2] <= 5,
        "median offset {} frames",
        off[off.len() / 2]
    );
}

#[test]
fn stalled_client_is_dropped_while_another_keeps_full_rate() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let scenario = dir.path().join("s.toml");
    // 64 channels at 2 kHz = 512 KB/s: a client that never reads fills its kernel
    // buffers and its one-second queue within a few seconds.
    std::fs::write(
        &scenario,
        format!(
            "[[stream]]\nname = \"big\"\nmodel = \"sine\"\nduration = \"5s\"\n\
             params = {{ rate = 2000, channels = 64 }}\n\
             to = [\"tcp://127.0.0.1:{port}?wait=2\"]\n"
        ),
    )
    .unwrap();
    let child = Command::new(BIN)
        .args(["stream", "--scenario"])
        .arg(&scenario)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _reap = common::KillOnPanic(child.id());
    let stalled = connect(port);
    std::thread::sleep(Duration::from_millis(50));
    let good = connect(port);
    let t = Instant::now();
    let (h, xs) = read_client(good);
    let took = t.elapsed();
    let out = finish(child);
    assert_eq!(h["channels"].as_array().unwrap().len(), 64);
    assert_eq!(
        xs.len(),
        5 * 2000 * 64,
        "the reading client got every frame"
    );
    assert!(
        took < Duration::from_millis(6500),
        "and at full rate: {took:?}"
    );
    let (_, stalled_xs) = read_client(stalled);
    assert!(
        stalled_xs.len() < xs.len() / 2,
        "stalled client got {}",
        stalled_xs.len()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("too slow: dropped"), "stderr: {err}");
}

#[test]
fn sigterm_mid_stream_flushes_and_exits_zero() {
    let mut child = stream(&["--model", "sine"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _reap = common::KillOnPanic(child.id());
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).unwrap();
        v
    });
    std::thread::sleep(Duration::from_millis(1000));
    let t = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(kill.unwrap().success());
    let status = child.wait().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "stopped promptly");
    assert_eq!(status.code(), Some(0), "SIGTERM ends cleanly");
    let bytes = reader.join().unwrap();
    assert_eq!(
        bytes.len() % 40,
        0,
        "whole 10-frame blocks: {}",
        bytes.len()
    );
    let frames = bytes.len() / 4;
    assert!(
        (300..=800).contains(&frames),
        "about 1 s at 500 Hz: {frames}"
    );
}

#[test]
fn stdout_f32_and_csv_have_exactly_duration_times_rate_frames() {
    let t = Instant::now();
    let out = stream(&["--model", "sine", "--duration", "1.5s"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        t.elapsed() >= Duration::from_millis(1400),
        "real time by default"
    );
    assert_eq!(out.stdout.len(), 750 * 4);
    let csv = stream(&[
        "--model",
        "sine",
        "--duration",
        "0.1s",
        "--format",
        "csv",
        "--fast",
    ])
    .output()
    .unwrap();
    let text = String::from_utf8(csv.stdout).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines[0], "time,S1");
    assert_eq!(lines.len(), 1 + 50);
    assert!(lines[1].starts_with("0,") && lines[2].starts_with("0.002,"));
}

/// With no `--model`, `stream` plays the shipped default, `ecg-vae` (MIT-BIH 208's MLII at
/// 360 Hz), where `./models` or `$BIOWAVE_MODELS` holds it; anywhere else the built-in
/// 12-lead ECGSYN, saying so.
#[test]
fn the_default_model_is_the_shipped_ecg_vae_and_ecgsyn_elsewhere() {
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let csv = |dir: &std::path::Path, env: Option<&std::path::Path>| {
        let mut cmd = stream(&["--duration", "1s", "--fast", "--format", "csv"]);
        cmd.current_dir(dir).env_remove("BIOWAVE_MODELS");
        if let Some(env) = env {
            cmd.env("BIOWAVE_MODELS", env);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let header = text.lines().next().unwrap().to_string();
        (
            header,
            text.lines().count(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (header, lines, err) = csv(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), None);
    assert_eq!((header.as_str(), lines), ("time,MLII", 1 + 360), "{err}");
    assert!(!err.contains("WARN"), "{err}");
    let elsewhere = tempfile::tempdir().unwrap();
    let (header, lines, err) = csv(elsewhere.path(), None);
    assert!(header.starts_with("time,I,II,III,aVR"), "{header}");
    assert_eq!(lines, 1 + 500);
    assert!(
        err.contains("no models/ecg-vae") && err.contains("ecgsyn"),
        "{err}"
    );
    let (header, lines, err) = csv(elsewhere.path(), Some(&models));
    assert_eq!((header.as_str(), lines), ("time,MLII", 1 + 360), "{err}");
    assert!(!err.contains("WARN"), "{err}");
}

#[test]
fn fast_runs_faster_than_real_time() {
    let t = Instant::now();
    let out = stream(&["--model", "sine", "--fast", "--duration", "10m"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 600 * 500 * 4);
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "10 min took {:?}",
        t.elapsed()
    );
}

#[test]
fn closed_pipe_ends_the_stream_cleanly() {
    let mut child = stream(&["--model", "sine"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _reap = common::KillOnPanic(child.id());
    let mut buf = [0u8; 400];
    child.stdout.as_mut().unwrap().read_exact(&mut buf).unwrap();
    drop(child.stdout.take());
    let t = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn metrics_endpoint_serves_prometheus_text() {
    let (mport, port) = (free_port(), free_port());
    let maddr = format!("127.0.0.1:{mport}");
    let url = format!("tcp://127.0.0.1:{port}");
    let child = stream(&[
        "--model",
        "ecgsyn",
        "--to",
        &url,
        "--duration",
        "4s",
        "--metrics",
        &maddr,
    ])
    .spawn()
    .unwrap();
    let _reap = common::KillOnPanic(child.id());
    std::thread::sleep(Duration::from_millis(2000));
    let mut s = connect(mport);
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    finish(child);
    for name in [
        "biowave_frames_emitted_total{stream=\"main\"}",
        "biowave_emission_lateness_seconds_bucket",
        "biowave_generation_seconds_count",
        "biowave_queue_depth",
    ] {
        assert!(body.contains(name), "{name} missing in:\n{body}");
    }
    // ECGSYN's R peaks come at 72 bpm, the first 0.4 s in: its beats are counted by label
    // (scraped ~2 s after the start, however long the process took to start streaming).
    let beats = (body.lines())
        .find(|l| l.starts_with("biowave_events_total{") && l.contains("label=\"N\""))
        .unwrap_or_else(|| panic!("no beat count in:\n{body}"));
    let n: f64 = beats.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((1.0..=5.0).contains(&n), "{beats}: 72 bpm for under 4 s");
}

/// Peak resident memory of `child` (polled from /proc) until it exits.
fn peak_rss_kib(child: &mut Child) -> u64 {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        let rss = std::fs::read_to_string(&status)
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("VmRSS:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
        peak = peak.max(rss);
        std::thread::sleep(Duration::from_millis(50));
    }
    peak
}

/// With `--metrics` and nobody scraping, histogram samples are still folded into their
/// buckets: 4 h of 2 ms blocks (7.2 M samples) once grew the process by ~90 MB, and by
/// 30–70 MB while samples were folded only once a second (now also every 65,536; ~9 MB).
#[test]
fn metrics_nobody_scrapes_keep_memory_bounded() {
    let maddr = format!("127.0.0.1:{}", free_port());
    let args = [
        "--model",
        "sine",
        "--fast",
        "--block-ms",
        "2",
        "--duration",
        "4h",
    ];
    let mut child = stream(&args)
        .args(["--metrics", &maddr])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _reap = common::KillOnPanic(child.id());
    let peak = peak_rss_kib(&mut child);
    assert!(child.wait().unwrap().success());
    assert!(peak > 0 && peak < 24 * 1024, "peak RSS {peak} KiB");
}

fn bad_input(args: &[&str], needle: &str) {
    let out = stream(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "nothing streamed before the error");
}

#[test]
fn bad_input_fails_before_streaming_with_exit_2() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let url = format!("tcp://127.0.0.1:{port}");
    bad_input(&["--model", "sine", "--to", &url], "Address already in use");
    bad_input(&["--to", "tcp://10.255.255.1:9"], "cannot listen");
    bad_input(&["--to", "tcp://nohost"], "expected HOST:PORT");
    let url = format!("tcp://127.0.0.1:{}?events={}", free_port(), free_port());
    bad_input(&["--model", "sine", "--to", &url], "labels no events");
    bad_input(&["--to", "tcp://:7000?events=7000"], "port other than 7000");
    bad_input(&["--buffer-ms", "60"], "buffer_ms 60 is not in 80..=60000");
    bad_input(&["--to", "tcp://:7000?max_clients=0"], "at least 1");
    bad_input(&["--to", "tcp://:7000?wait=3&max_clients=2"], "never start");
    bad_input(
        &["--to", "tcp://:7000?queue=99999999999"],
        "at most 30000 blocks",
    );
    let url = format!("tcp://127.0.0.1:{}?events={port}", free_port());
    bad_input(
        &["--model", "ecgsyn", "--to", &url],
        "Address already in use",
    );
    bad_input(&["--to", "file:/no/such/dir/x.edf"], "/no/such/dir/x.edf");
    bad_input(&["--to", "smtp:x"], "unknown scheme");
    bad_input(&["--to", "file:"], "file path is empty");
    bad_input(&["--model", "nosuch"], "nosuch");
    bad_input(&["--duration", "3 fortnights"], "3 fortnights");
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("bad.toml");
    std::fs::write(
        &sc,
        "[[stream]]\nmodel = \"sine\"\n[[stream]]\nmodel = \"warp\"\n",
    )
    .unwrap();
    bad_input(&["--scenario", sc.to_str().unwrap()], "warp");
    std::fs::write(
        &sc,
        "[[stream]]\nmodel = \"sine\"\nto = [\"carrier-pigeon:x\"]\n",
    )
    .unwrap();
    bad_input(&["--scenario", sc.to_str().unwrap()], "unknown scheme");
    // Two streams into one file would interleave their records: refused, nothing created.
    let same = dir.path().join("same.edf");
    let to = format!("to = [\"file:{}\"]\nduration = \"1s\"\n", same.display());
    let two = format!("[[stream]]\nname = \"a\"\nmodel = \"sine\"\n{to}[[stream]]\nname = \"b\"\nmodel = \"sine\"\n{to}");
    std::fs::write(&sc, two).unwrap();
    bad_input(
        &["--scenario", sc.to_str().unwrap()],
        "written by stream a and stream b",
    );
    let to = format!("file:{}", same.display());
    bad_input(
        &[
            "--model",
            "sine",
            "--to",
            &to,
            "--to",
            &to,
            "--duration",
            "1s",
        ],
        "same.edf",
    );
    assert!(!same.exists());
    let two = "[[stream]]\nname = \"a\"\nmodel = \"sine\"\nduration = \"1s\"\nto = [\"tcp://127.0.0.1:0\"]\n";
    std::fs::write(&sc, two.repeat(2)).unwrap();
    bad_input(
        &["--scenario", sc.to_str().unwrap()],
        "two streams are named `a`",
    );
    // Options no sink uses would be ignored: refused.
    let to = format!("file:{}", same.display());
    let fmt = ["--format", "csv", "--to", &to, "--duration", "1s"];
    bad_input(&fmt, "format sets the layout of stdout");
    bad_input(
        &["--roll", "1m", "--duration", "1s"],
        "roll starts new files",
    );
    // A file per 20 ms block: refused.
    let roll = ["--roll", "1ms", "--to", &to, "--duration", "1s"];
    bad_input(&roll, "roll `1ms`: start new files at most once a second");
    assert!(!same.exists());
}

/// A second stream to the path of an earlier recording is refused before anything
/// streams, the recording untouched (and with `--roll`, the earlier run's first numbered
/// file); `--overwrite` writes over it.
#[test]
fn a_stream_does_not_write_over_an_earlier_recording_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.edf");
    let to = format!("file:{}", path.display());
    let args = ["--model", "ecgsyn", "--fast", "--to", &to];
    finish(stream(&args).args(["--duration", "2s"]).spawn().unwrap());
    let first = std::fs::read(&path).unwrap();
    let events = dir.path().join("run.events.csv");
    assert!(events.exists(), "ecgsyn's beats beside the file");
    let again = ["--seed", "2", "--duration", "1s"];
    bad_input(
        &[&args[..], &again].concat(),
        "run.edf: exists; pass --overwrite",
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        first,
        "the recording untouched"
    );
    // Its events file alone is a recording's too.
    std::fs::remove_file(&path).unwrap();
    bad_input(&[&args[..], &again].concat(), "run.events.csv: exists");
    assert!(!path.exists());
    let over = [&args[..], &again, &["--overwrite"]].concat();
    finish(stream(&over).spawn().unwrap());
    let rec = biowave::io::read(&path).unwrap();
    assert_eq!(
        rec.channels[0].samples.len() as f64,
        rec.channels[0].meta.sample_rate
    );
    // Rolled files: the earlier run's first file is refused by the same path.
    let roll = ["--roll", "1s", "--duration", "2s"];
    finish(stream(&[&args[..], &roll].concat()).spawn().unwrap());
    let rolled = dir.path().join("run_0000.edf");
    let before = std::fs::read(&rolled).unwrap();
    bad_input(&[&args[..], &roll].concat(), "run_0000.edf: exists");
    assert_eq!(std::fs::read(&rolled).unwrap(), before);
}

fn stream_to_file_then_signal(path: &std::path::Path, signal: &str) -> std::process::ExitStatus {
    let to = format!("file:{}", path.display());
    let mut child = stream(&["--model", "sine", "--to", &to, "--block-ms", "100"])
        .spawn()
        .unwrap();
    let _reap = common::KillOnPanic(child.id());
    std::thread::sleep(Duration::from_millis(2600));
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    assert!(kill.unwrap().success());
    child.wait().unwrap()
}

#[test]
fn sigterm_mid_stream_leaves_an_edf_that_pyedflib_reads() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["edf", "bdf"] {
        let path = dir.path().join(format!("live.{ext}"));
        let status = stream_to_file_then_signal(&path, "-TERM");
        assert_eq!(status.code(), Some(0), "SIGTERM ends cleanly");
        let head = std::fs::read(&path).unwrap();
        assert_ne!(&head[236..238], b"-1", "finish() fixed the record count");
        let s = pyedflib_summary(&path, &["--sine", "10"]);
        // 2.6 s, plus the queued blocks paced out while draining, in whole 1 s records.
        let n = s["n_samples"][0].as_u64().unwrap();
        assert!(
            (1500..=2500).contains(&n) && n.is_multiple_of(500),
            "{n} samples ({ext})"
        );
        let data = s["data_samples"].as_u64().unwrap();
        assert!(
            data > n - 500 && data.is_multiple_of(50),
            "whole 100 ms blocks: {data} ({ext})"
        );
        assert_eq!(s["rates"][0].as_f64(), Some(500.0));
        assert_eq!(s["labels"][0], "S1");
        assert_eq!(s["units"][0], "mV");
        let err = s["sine_err"].as_f64().unwrap();
        assert!(
            err < 1e-3,
            "samples are the sine, within quantisation: {err}"
        );
    }
}

#[test]
fn kill_9_mid_stream_leaves_whole_records_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.edf");
    let status = stream_to_file_then_signal(&path, "-KILL");
    assert_eq!(status.code(), None, "killed by a signal");
    let head = std::fs::read(&path).unwrap();
    assert_eq!(
        &head[236..238],
        b"-1",
        "record count still -1 after kill -9"
    );
    let rec = biowave::io::read(&path).unwrap();
    let x = &rec.channels[0].samples;
    assert!(
        x.len() >= 1000,
        "records up to the kill are there: {}",
        x.len()
    );
    let worst = x
        .iter()
        .enumerate()
        .map(|(i, v)| (v - sine(i)).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-3, "samples are the sine: {worst}");
}

/// A recorded ECGSYN stream carries its beats: each rolled EDF+ file holds one `N`
/// annotation per R peak, timed from that file's own start, where biowave's QRS detector
/// finds the peaks in the written samples (what a monitor under test is scored against).
#[test]
fn streamed_ecg_files_carry_their_beats_as_annotations() {
    assert_streamed_beats_labelled("edf");
}

/// Any file format gets its events CSV: an HDF5 stream rolled in three files has three
/// CSVs, each on its own file's R peaks, and each file holds them as `/annotations` too,
/// which h5py reads as biowave does.
#[test]
fn streamed_hdf5_files_list_their_beats_beside_them() {
    assert_streamed_beats_labelled("h5");
}

/// Streams 30 s of ECGSYN to `ecg.EXT` rolled every 10 s; each file's `ecg_000i.events.csv`
/// lists `N` beats timed from that file's start (the same as its own annotations, EDF+ or
/// HDF5 `/annotations`, by pyedflib or h5py and by biowave) on the R peaks biowave's QRS
/// detector finds in the file, and each file's start time is 10 s after the one before.
fn assert_streamed_beats_labelled(ext: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("ecg.{ext}"));
    let out = stream(&[
        "--model",
        "ecgsyn",
        "--fast",
        "--duration",
        "30s",
        "--roll",
        "10s",
    ])
    .arg(format!("--to=file:{}", path.display()))
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut tp, mut fp, mut missed) = (0, 0, 0);
    let mut starts = Vec::new();
    for i in 0..3 {
        let f = dir.path().join(format!("ecg_{i:04}.{ext}"));
        let rows = event_rows(&dir.path().join(format!("ecg_{i:04}.events.csv")));
        let onsets: Vec<f64> = rows.iter().map(|r| r.0).collect();
        assert!(
            rows.iter()
                .all(|r| r.3 == "N" && r.2 == 0.0 && (0.0..10.0).contains(&r.0)),
            "{f:?}: {rows:?}"
        );
        if ext == "edf" {
            let s = pyedflib_summary(&f, &[]);
            let annotated: Vec<(f64, String)> = s["annotations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| (a[0].as_f64().unwrap(), a[2].as_str().unwrap().to_string()))
                .collect();
            assert_eq!(annotated.len(), rows.len(), "{f:?}");
            for ((t, label), r) in annotated.iter().zip(&rows) {
                assert!(
                    (t - r.0).abs() < 1e-3 && *label == r.3,
                    "{f:?}: {t} {label} vs {r:?}"
                );
            }
        }
        let rec = biowave::io::read(&f).unwrap();
        let own = &rec.meta.annotations;
        assert_eq!(own.len(), rows.len(), "{f:?}");
        for (a, r) in own.iter().zip(&rows) {
            assert!(
                (a.onset - r.0).abs() < 1e-3 && a.text == r.3,
                "{f:?}: {a:?} vs {r:?}"
            );
        }
        if ext == "h5" {
            let dump = dir.path().join(format!("dump{i}"));
            common::dump(&rec, &dump);
            let args = [
                std::ffi::OsStr::new("compare"),
                f.as_os_str(),
                dump.as_os_str(),
            ];
            common::python("h5_check.py", args);
        }
        starts.push(rec.meta.start.expect("a streamed file states its start"));
        let lead_ii = &rec.channels[1];
        assert_eq!(lead_ii.meta.label, "II");
        let fs = lead_ii.meta.sample_rate;
        let truth: Vec<usize> = onsets.iter().map(|t| (t * fs).round() as usize).collect();
        assert!(rows.iter().zip(&truth).all(|(r, s)| r.1 == *s), "{f:?}");
        let found = biowave::dsp::qrs::detect(&lead_ii.samples, fs).unwrap();
        let m = biowave::dsp::qrs::match_beats(&found, &truth, (0.15 * fs) as usize);
        tp += m.true_positives;
        fp += m.false_positives;
        missed += m.false_negatives;
    }
    // Each file starts where the one before ends in the data's time, even at --fast.
    for w in starts.windows(2) {
        assert_eq!((w[1] - w[0]).num_seconds(), 10, "{starts:?}");
    }
    let all = tp + missed;
    assert!((33..=39).contains(&all), "72 bpm for 30 s: {all} beats");
    // A peak at a file's very edge may escape the detector; nothing else may.
    assert!(
        missed <= 1 && fp <= 1,
        "labels on R peaks {tp}, labels the detector missed {missed}, peaks unlabelled {fp}"
    );
}

/// At a rate EDF holds only in 10 s records (333.3 Hz), a fast heart's beats still all fit
/// the records' annotation signal: every beat of the events file is annotated, none lost.
#[test]
fn long_records_keep_every_beat_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecg.edf");
    let out = stream(&[
        "--model",
        "ecgsyn",
        "--fs",
        "333.3",
        "--hr",
        "150",
        "--leads",
        "II",
        "--fast",
        "--duration",
        "25s",
    ])
    .arg(format!("--to=file:{}", path.display()))
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !err.contains("did not fit"),
        "{err}"
    );
    let rows = event_rows(&dir.path().join("ecg.events.csv"));
    assert!(rows.len() > 55, "150 bpm for 25 s: {} beats", rows.len());
    let rec = biowave::io::read(&path).unwrap();
    let beats: Vec<f64> = (rec.meta.annotations.iter())
        .filter(|a| a.text == "N")
        .map(|a| a.onset)
        .collect();
    assert_eq!(beats.len(), rows.len());
    assert!(beats.iter().zip(&rows).all(|(t, r)| (t - r.0).abs() < 1e-3));
}

/// Mean heart rate of `samples` at `fs` from biowave's QRS detector.
fn detected_bpm(samples: &[f32], fs: f64) -> f64 {
    let peaks = biowave::dsp::qrs::detect(samples, fs).unwrap();
    let (first, last) = (peaks[0], peaks[peaks.len() - 1]);
    60.0 * (peaks.len() - 1) as f64 * fs / (last - first) as f64
}

/// Streams `args` (ending in a `file:` sink at `path`) and reads the file back.
fn streamed_record(args: &[&str], path: &std::path::Path) -> biowave::record::Record {
    let out = stream(args)
        .arg(format!("--to=file:{}", path.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {err}");
    biowave::io::read(path).unwrap()
}

/// A monitor under test is fed the signal it needs from the command line: `stream` takes
/// `generate`'s physiological options (rate, heart rate, leads, …), and what it records has
/// that rate, those leads and that heart rate as the QRS detector counts it.
#[test]
fn stream_takes_the_physiological_options_generate_takes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ecg.edf");
    let args = [
        "--model",
        "ecgsyn",
        "--fs",
        "500",
        "--hr",
        "60",
        "--hr-std",
        "1",
        "--leads",
        "II,V1",
        "--fast",
        "--duration",
        "30s",
    ];
    let rec = streamed_record(&args, &path);
    let labels: Vec<&str> = rec.channels.iter().map(|c| c.meta.label.as_str()).collect();
    assert_eq!(labels, ["II", "V1"]);
    assert!(rec.channels.iter().all(|c| c.meta.sample_rate == 500.0));
    assert_eq!(rec.channels[0].samples.len(), 15_000);
    let bpm = detected_bpm(&rec.channels[0].samples, 500.0);
    assert!((bpm - 60.0).abs() < 3.0, "{bpm} bpm");
    // The same through a scenario's `params`, at another rate and heart rate.
    let sc = dir.path().join("ecg.toml");
    let toml = "[[stream]]\nmodel = \"ecgsyn\"\nparams = { fs = 250, hr = 100, leads = \"II\" }\n\
                duration = \"30s\"\nto = [\"file:fast.edf\"]\n\
                [[stream]]\nmodel = \"ecg-vae\"\nfs = 250\nduration = \"2s\"\nto = [\"file:vae.edf\"]\n";
    std::fs::write(&sc, toml).unwrap();
    let out = stream(&["--scenario", sc.to_str().unwrap(), "--fast"])
        .current_dir(dir.path())
        .env(
            "BIOWAVE_MODELS",
            concat!(env!("CARGO_MANIFEST_DIR"), "/models"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec = biowave::io::read(&dir.path().join("fast.edf")).unwrap();
    assert_eq!(rec.channels.len(), 1);
    assert_eq!(rec.channels[0].meta.sample_rate, 250.0);
    let bpm = detected_bpm(&rec.channels[0].samples, 250.0);
    assert!((bpm - 100.0).abs() < 5.0, "{bpm} bpm");
    // A checkpoint's output resampled by the stream's `fs`.
    let vae = biowave::io::read(&dir.path().join("vae.edf")).unwrap();
    assert_eq!(vae.channels[0].meta.sample_rate, 250.0);
    assert_eq!(vae.channels[0].samples.len(), 500);
}

/// Options a model does not take are refused before anything streams, naming them.
#[test]
fn physiological_options_a_model_does_not_take_are_refused() {
    bad_input(
        &["--hr", "60"],
        "parameters apply to the physiological models",
    );
    bad_input(
        &["--model", "eeg", "--hr", "60"],
        "--hr does not apply to model `eeg`",
    );
    bad_input(&["--model", "ecgsyn", "--param", "nosuch=1"], "nosuch");
    bad_input(&["--model", "ecgsyn", "--hr", "900"], "hr");
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("bad.toml");
    for (params, needle) in [
        ("{ hr = 900 }", "`hr` = 900"),
        ("{ hrr = 60 }", "unknown field `hrr`"),
    ] {
        let text = format!("[[stream]]\nmodel = \"ecgsyn\"\nparams = {params}\n");
        std::fs::write(&sc, text).unwrap();
        bad_input(&["--scenario", sc.to_str().unwrap()], needle);
    }
    std::fs::write(&sc, "[[stream]]\nmodel = \"ecgsyn\"\nfs = 500\n").unwrap();
    bad_input(
        &["--scenario", sc.to_str().unwrap()],
        "set ecgsyn's rate in its params",
    );
    std::fs::write(
        &sc,
        "[[stream]]\nmodel = \"ecg-vae\"\nparams = { hr = 60 }\n",
    )
    .unwrap();
    bad_input(
        &["--scenario", sc.to_str().unwrap()],
        "understood by sine, ecgsyn and eeg",
    );
}

/// `stream --model M --fast --duration 20s` plus `extra`, its stdout (one channel of f32).
fn streamed_f32(extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["--model", "ecg-vae", "--fast", "--duration", "20s"];
    args.extend_from_slice(extra);
    let out = stream(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A checkpoint made at 360 Hz streams at the rate a monitor wants: `--fs 500` gives what
/// scipy's `resample_poly` makes of the same seed's 360 Hz stream, and the beats it labels
/// keep their times in the recorded file.
#[test]
fn fs_resamples_a_learned_checkpoint_as_scipy_does() {
    let dir = tempfile::tempdir().unwrap();
    let (native, resampled) = (dir.path().join("n.f32"), dir.path().join("r.f32"));
    std::fs::write(&native, streamed_f32(&[])).unwrap();
    std::fs::write(&resampled, streamed_f32(&["--fs", "500"])).unwrap();
    let args = [
        native.as_os_str(),
        "360".as_ref(),
        resampled.as_os_str(),
        "500".as_ref(),
    ];
    let r: serde_json::Value =
        serde_json::from_str(&common::python("resample_check.py", args)).unwrap();
    assert_eq!((r["up"].as_u64(), r["down"].as_u64()), (Some(25), Some(18)));
    assert_eq!(r["n_native"], 7200);
    assert_eq!(r["n_resampled"], 10_000);
    let (diff, rms) = (r["max_diff"].as_f64().unwrap(), r["rms"].as_f64().unwrap());
    assert!(rms > 0.05 && diff < 1e-5, "{r}");
    let beats = |extra: &[&str], name: &str| {
        let path = dir.path().join(format!("{name}.edf"));
        let mut args = vec!["--model", "ecg-vae", "--fast", "--duration", "20s"];
        args.extend_from_slice(extra);
        let rec = streamed_record(&args, &path);
        let rows = event_rows(&dir.path().join(format!("{name}.events.csv")));
        (rec.channels[0].meta.sample_rate, rows)
    };
    let (fs_n, at_360) = beats(&[], "n");
    let (fs_r, at_500) = beats(&["--fs", "500"], "r");
    assert_eq!((fs_n, fs_r), (360.0, 500.0));
    assert!(at_360.len() > 25, "{} beats in 20 s", at_360.len());
    assert_eq!(at_360.len(), at_500.len());
    for (a, b) in at_360.iter().zip(&at_500) {
        assert!((a.0 - b.0).abs() < 1e-6 && a.3 == b.3, "{a:?} vs {b:?}");
        assert!(
            (b.1 as f64 - b.0 * 500.0).abs() <= 1.0,
            "{b:?}: sample at 500 Hz"
        );
    }
}

/// An HDF5 file a running stream is writing is locked: `info` says so (exit 2, not a
/// bare lock error) while the stream runs, and reads it whole once it has finished.
#[test]
fn a_live_hdf5_file_is_named_as_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.h5");
    let child = stream(&["--model", "ecgsyn", "--duration", "3s"])
        .arg(format!("--to=file:{}", path.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _reap = common::KillOnPanic(child.id());
    std::thread::sleep(Duration::from_millis(1200));
    let info = || Command::new(BIN).arg("info").arg(&path).output().unwrap();
    // The sink closes and reopens its file each second (what a kill -9 leaves readable):
    // an `info` in that instant reads the file as it stands, which is allowed; the others,
    // the rule, are refused with the reason.
    let mut refused = 0;
    for _ in 0..3 {
        let o = info();
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.success() {
            continue;
        }
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("live.h5: HDF5 file: is open for writing in another process"),
            "{err}"
        );
        refused += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(refused >= 2, "refused {refused} of 3 while live");
    finish(child);
    let o = info();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("3.000 s"));
}
