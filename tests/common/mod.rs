//! Helpers shared by the integration tests: running the Python cross-check scripts, and
//! TCP clients of the stream sink.
#![allow(dead_code)] // each test crate uses its own subset

use biowave::eval::metrics::{correlation, median};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `biowave train` flags for a small, quick VAE on MIT-BIH 208 (hidden 64, latent 8).
pub const SMALL_ECG_VAE: [&str; 8] = [
    "--model",
    "vae",
    "--data",
    "signals/mitdb208.edf",
    "--hidden",
    "64",
    "--latent",
    "8",
];

/// `biowave generate` flags for one ECGSYN lead to HDF5, to which a test adds a long
/// `--duration`: seconds of writing, long enough for the HDF5 writer's checkpoints to fall
/// at wall-clock-dependent places if any depended on the clock.
pub const LONG_HDF5_ECG: [&str; 6] = ["--model", "ecgsyn", "--leads", "1", "--format", "h5"];

/// Runs `python3 tests/py/SCRIPT args…` and returns its stdout. A missing python, a
/// missing module or a failing check fails the calling test with the script's output.
pub fn python<I, S>(script: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let o = Command::new("python3")
        .arg(Path::new("tests/py").join(script))
        .args(args)
        .output()
        .expect("python3 is needed (pip install -r tests/requirements.txt)");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{script} failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// What pyedflib sees in an EDF/BDF file (tests/py/edf_summary.py), as JSON.
pub fn pyedflib_summary(path: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![path.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    serde_json::from_str(&python("edf_summary.py", args)).unwrap()
}

/// Writes what biowave holds for `rec` where edf_check.py expects it.
pub fn dump(rec: &biowave::record::Record, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let channels: Vec<_> = rec
        .channels
        .iter()
        .map(|c| {
            serde_json::json!({"label": c.meta.label, "unit": c.meta.unit,
                "sample_rate": c.meta.sample_rate, "n_samples": c.samples.len()})
        })
        .collect();
    let ann: Vec<_> = rec
        .meta
        .annotations
        .iter()
        .map(|a| serde_json::json!([a.onset, a.duration, a.text]))
        .collect();
    let meta = serde_json::json!({"channels": channels, "annotations": ann,
        "duration_s": rec.duration_s()});
    std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
    for (i, c) in rec.channels.iter().enumerate() {
        let bytes: Vec<u8> = c.samples.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.join(format!("ch{i}.f32")), bytes).unwrap();
    }
}

/// A free local TCP port below Linux's ephemeral range (32768+), so that no outgoing
/// connection of a parallel test can be holding it when the server binds it. Every probe
/// in this process takes the next port of one sequence, so two tests never share one.
/// A probe binds without listening (and with `SO_REUSEADDR`, as the server binds): a
/// copy of it held for an instant by a child another test thread is forking can then
/// neither accept the client meant for the server (which the copy's close would reset)
/// nor keep the server from binding.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static START: OnceLock<u64> = OnceLock::new();
    static PROBES: AtomicU64 = AtomicU64::new(0);
    let start = *START.get_or_init(|| {
        std::process::id() as u64 * 7919
            + std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64
    });
    (0..2000)
        .map(|_| {
            let i = PROBES.fetch_add(1, Ordering::Relaxed);
            20_000 + ((start + i * 4099) % 12_000) as u16
        })
        .find(|&p| bindable(p))
        .expect("a free port in 20000..32000")
}

/// Whether a socket with `SO_REUSEADDR` binds 127.0.0.1:`port` (no other listens there).
fn bindable(port: u16) -> bool {
    use socket2::{Domain, Socket, Type};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    Socket::new(Domain::IPV4, Type::STREAM, None)
        .and_then(|s| {
            s.set_reuse_address(true)
                .and_then(|()| s.bind(&addr.into()))
        })
        .is_ok()
}

/// Connects to a local port, retrying for up to 10 s while the server starts.
pub fn connect(port: u16) -> TcpStream {
    let t = Instant::now();
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(_) if t.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("could not connect to port {port}: {e}"),
        }
    }
}

/// Reads a client's header line and all frames until the server closes.
pub fn read_client(s: TcpStream) -> (serde_json::Value, Vec<f32>) {
    // A test fails rather than hangs if the server stops talking.
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let header: serde_json::Value = serde_json::from_str(&line).expect("header is JSON");
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes.len() % 4, 0, "a whole number of f32");
    let xs = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()));
    (header, xs.collect())
}

/// Parses a JSON file (a checkpoint's config.json, a manifest).
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Kills process `pid` (SIGKILL) if the test panics while this guard is alive: a failed
/// assertion must not leave a spawned `biowave stream` running, holding its port, after
/// the test binary exits. A test that passes reaps its child itself; the guard then does
/// nothing (the pid may already belong to another process).
pub struct KillOnPanic(pub u32);

impl Drop for KillOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new("kill")
                .args(["-9", &self.0.to_string()])
                .status();
        }
    }
}

/// Runs `biowave ARGS` (stderr captured), sends it SIGTERM once `ready()` holds (polled;
/// panics after `limit_s` seconds), and returns its exit code and stderr.
pub fn terminated_when(
    args: &[&OsStr],
    ready: impl Fn() -> bool,
    limit_s: u64,
) -> (Option<i32>, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _reap = KillOnPanic(child.id());
    let t0 = Instant::now();
    while !ready() {
        assert!(
            t0.elapsed().as_secs() < limit_s,
            "not ready in {limit_s} s: {args:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(kill.unwrap().success());
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A copy of the checkpoint at `src` in `tmp` with `fields` removed from its config (as
/// checkpoints written before those fields have it; a dotted field, `spectrum.low`, from the
/// object holding it); each field must be there to remove,
/// in the checkpoint's own config or, for a latent transformer, in its codec's.
pub fn checkpoint_without(src: &Path, tmp: &Path, fields: &[&str]) -> std::path::PathBuf {
    let name = src.file_name().unwrap().to_string_lossy();
    let dir = tmp.join(format!("{name}-without-{}", fields.join("-")));
    let configs = [
        dir.join("config.json"),
        dir.join("codec").join("config.json"),
    ];
    for sub in [Path::new(""), Path::new("codec")] {
        if !src.join(sub).join("config.json").exists() {
            continue;
        }
        std::fs::create_dir(dir.join(sub)).unwrap();
        for f in ["config.json", "model.safetensors"] {
            std::fs::copy(src.join(sub).join(f), dir.join(sub).join(f)).unwrap();
        }
    }
    for field in fields {
        let removed = configs.iter().filter(|c| c.exists()).any(|c| {
            let mut v = read_json(c);
            // A dotted field ("spectrum.low") is removed from the object holding it.
            let (path, last) = field.rsplit_once('.').unwrap_or(("", field));
            let holder = path
                .split('.')
                .filter(|p| !p.is_empty())
                .try_fold(&mut v, |v, p| v.get_mut(p));
            let gone = holder
                .and_then(|h| h.as_object_mut())
                .is_some_and(|h| h.remove(last).is_some());
            if gone {
                std::fs::write(c, v.to_string()).unwrap();
            }
            gone
        });
        assert!(removed, "{field}");
    }
    dir
}

/// Asserts that every channel of 10 min of the shipped EEG checkpoint `name` (generation
/// `seed`) lies within `max_db` rms over 1–40 Hz of the training record's mean log
/// spectrum saved in its config (`model::equaliser`).
pub fn assert_eeg_spectrum_within(name: &str, seed: u64, max_db: f64) {
    use biowave::block::Block;
    use biowave::model::{self, equaliser::SpectrumTarget};
    let dir = Path::new("models").join(name);
    let cfg = read_json(&dir.join("config.json"));
    let target: SpectrumTarget = serde_json::from_value(cfg["spectrum"].clone()).unwrap();
    let mut g = model::by_name(dir.to_str().unwrap(), seed).unwrap();
    let (fs, nc) = (g.spec().sample_rate, g.spec().n_channels());
    let mut b = Block::new(nc, (600.0 * fs) as usize);
    g.fill(&mut b).unwrap();
    let channels: Vec<Vec<f32>> = (0..nc).map(|c| b.channel(c).to_vec()).collect();
    let got = SpectrumTarget::of_signals(&channels, fs).unwrap();
    let bins = target.nperseg / 2 + 1;
    let in_band = |k: usize| (1.0..=40.0).contains(&(k as f64 * fs / target.nperseg as f64));
    let rows = target
        .log_psd
        .chunks_exact(bins)
        .zip(got.log_psd.chunks_exact(bins));
    let mut worst = 0f64;
    for (c, (t, o)) in rows.enumerate() {
        let d: Vec<f64> = (0..bins)
            .filter(|&k| in_band(k))
            .map(|k| 10.0 * f64::from(o[k] - t[k]) / std::f64::consts::LN_10)
            .collect();
        let rms = (d.iter().map(|v| v * v).sum::<f64>() / d.len() as f64).sqrt();
        assert!(
            rms < max_db,
            "{name} channel {c}: {rms:.2} dB rms off the record's spectrum"
        );
        worst = worst.max(rms);
    }
    eprintln!("{name}: every channel within {worst:.2} dB rms of the record's spectrum");
}

/// Writes `bad` as the config of the checkpoint at `dir` and checks that `stream` refuses
/// it with exit 2, naming `field` and the config file.
pub fn assert_config_refused(dir: &Path, bad: &serde_json::Value, field: &str) {
    std::fs::write(dir.join("config.json"), bad.to_string()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(["stream", "--model"])
        .arg(dir)
        .args(["--duration", "1s", "--fast"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(field) && err.contains("config.json"), "{err}");
}

/// Over 2 s windows of `channels` at `fs`: the mean correlation of every channel pair
/// (`eval`'s coupling) and the spread of the channels' mean log std from one window to the
/// next (how much the loudness swings), as 1.4826 × the median absolute deviation, a std
/// that the record's last window, where the recording trails off, does not sway.
pub fn coupling_and_loudness_spread(channels: &[Vec<f32>], fs: f64) -> (f64, f64) {
    use biowave::eval::metrics::channel_correlations;
    let len = (2.0 * fs) as usize;
    let n = channels[0].len() / len;
    let windows: Vec<Vec<Vec<f32>>> = (0..n)
        .map(|w| {
            channels
                .iter()
                .map(|c| c[w * len..(w + 1) * len].to_vec())
                .collect()
        })
        .collect();
    let r = channel_correlations(&windows).unwrap();
    let log_std = |x: &[f32]| {
        let m = x.iter().sum::<f32>() / x.len() as f32;
        let v = x.iter().map(|v| (v - m).powi(2)).sum::<f32>() / x.len() as f32;
        0.5 * f64::from(v).ln()
    };
    let loud: Vec<f64> = windows
        .iter()
        .map(|w| w.iter().map(|c| log_std(c)).sum::<f64>() / w.len() as f64)
        .collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let m = median(loud.clone());
    let spread = 1.4826 * median(loud.iter().map(|v| (v - m).abs()).collect());
    (r.iter().sum::<f64>() / r.len() as f64, spread)
}

/// `model`'s first `seconds` (seed 1), channel by channel, and its sample rate.
pub fn seconds_of(model: &Path, seconds: f64) -> (Vec<Vec<f32>>, f64) {
    let mut g = biowave::model::by_name(model.to_str().unwrap(), 1).unwrap();
    let (fs, nc) = (g.spec().sample_rate, g.spec().n_channels());
    let mut b = biowave::block::Block::new(nc, (seconds * fs) as usize);
    g.fill(&mut b).unwrap();
    ((0..nc).map(|c| b.channel(c).to_vec()).collect(), fs)
}

/// Channel coupling and loudness spread ([`coupling_and_loudness_spread`]) of 10 min of the
/// EEG checkpoint at `dir` (seed 1), then of the same channels of the shipped EEGMAT record
/// it learned (at the record's own rate).
pub fn eeg_coupling_and_loudness(dir: &Path) -> [(f64, f64); 2] {
    let (real, fs_real) = eeg_record_channels(dir);
    let (x, fs) = seconds_of(dir, 600.0);
    [
        coupling_and_loudness_spread(&x, fs),
        coupling_and_loudness_spread(&real, fs_real),
    ]
}

/// The channels of the shipped EEGMAT record that the EEG checkpoint at `dir` learned, in
/// its order, at the record's own rate.
pub fn eeg_record_channels(dir: &Path) -> (Vec<Vec<f32>>, f64) {
    let rec = biowave::io::read(Path::new("signals/eegmat_s00_rest.edf")).unwrap();
    let cfg = read_json(&dir.join("config.json"));
    let labels = cfg["spec"]["channels"].as_array().unwrap();
    let index = |c: &serde_json::Value| rec.channel_index(c["label"].as_str().unwrap()).unwrap();
    let real = labels
        .iter()
        .map(|c| rec.channels[index(c)].samples.clone())
        .collect();
    (real, rec.channels[index(&labels[0])].meta.sample_rate)
}

/// Skewness of the samples: ~0 for Gaussian-like draws, positive for tall R waves.
pub fn skewness(x: &[f32]) -> f64 {
    let n = x.len() as f64;
    let m = x.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
    let moment = |p: i32| x.iter().map(|v| (f64::from(*v) - m).powi(p)).sum::<f64>() / n;
    moment(3) / moment(2).powf(1.5)
}

/// Per channel, the median skewness of consecutive 2 s windows.
pub fn window_skewness(channels: &[Vec<f32>], fs: f64) -> Vec<f64> {
    let len = (2.0 * fs) as usize;
    let skews = |c: &Vec<f32>| c.chunks_exact(len).map(skewness).collect::<Vec<_>>();
    channels.iter().map(|c| median(&skews(c))).collect()
}

/// Real EEG is not symmetric: the record's channels are skewed each its own way, minute
/// after minute (median skewness of 2 s windows: Fp1/Fp2 −0.11/−0.12, T6 +0.16, P4 +0.13),
/// where Gaussian draws per STFT bin come out at 0. Asserts that 10 min of the shipped EEG
/// checkpoint `name`, trained with `--shape` (`model::shape`), skews its 19 channels as the
/// record does (correlation with the record's above 0.75, rms difference under 0.06), and
/// better than the same checkpoint without its `shape` (rms difference under 0.6 times
/// its, correlation higher by 0.1); and that the map leaves the loudness of its windows as
/// it was.
pub fn assert_skewed_as_its_record(name: &str) {
    let dir = Path::new("models").join(name);
    let (real, fs_real) = eeg_record_channels(&dir);
    let want = window_skewness(&real, fs_real);
    let tmp = tempfile::tempdir().unwrap();
    let plain = checkpoint_without(&dir, tmp.path(), &["shape"]);
    let compare = |model: &Path| {
        let (x, fs) = seconds_of(model, 600.0);
        let got = window_skewness(&x, fs);
        let d2 = got.iter().zip(&want).map(|(g, w)| (g - w).powi(2));
        let rms = (d2.sum::<f64>() / got.len() as f64).sqrt();
        (
            correlation(&got, &want),
            rms,
            coupling_and_loudness_spread(&x, fs).1,
        )
    };
    let (r, rms, loud) = compare(&dir);
    assert!(
        r > 0.75 && rms < 0.06,
        "{name}: correlation {r}, rms difference {rms}"
    );
    let (r0, rms0, loud0) = compare(&plain);
    assert!(
        rms < 0.6 * rms0 && r > r0 + 0.1,
        "{name}: correlation {r} against {r0} without, rms difference {rms} against {rms0}"
    );
    assert!(
        (loud / loud0 - 1.0).abs() < 0.1,
        "{name}: loudness spread {loud} vs {loud0}"
    );
}

/// [`eeg_coupling_and_loudness`] of the shipped EEG checkpoint `name`, of its record, and of
/// the same checkpoint with `field` removed from its config: `[model, record, without]`.
pub fn eeg_coupling_with_and_without(name: &str, field: &str) -> [(f64, f64); 3] {
    let dir = Path::new("models").join(name);
    let [model, record] = eeg_coupling_and_loudness(&dir);
    let tmp = tempfile::tempdir().unwrap();
    let plain = checkpoint_without(&dir, tmp.path(), &[field]);
    [model, record, eeg_coupling_and_loudness(&plain)[0]]
}

/// The rows of a `NAME.events.csv`: (onset s, sample, duration s, label).
pub fn event_rows(path: &Path) -> Vec<(f64, usize, f64, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time_s,sample,duration_s,label"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let num = |i: usize| f[i].parse::<f64>().unwrap();
            (num(0), f[1].parse().unwrap(), num(2), f[3].to_string())
        })
        .collect()
}

/// R peaks (sample indices) NeuroKit2's detector finds in channel `channel` of an EDF file
/// (`tests/py/qrs_check.py`): an independent detector to check labels and ours against.
pub fn neurokit_peaks(path: &Path, channel: usize) -> Vec<usize> {
    let channel = channel.to_string();
    let out = python("qrs_check.py", [path.as_os_str(), OsStr::new(&channel)]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["peaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as usize)
        .collect()
}

/// `rec` written as EDF+ to `path` by biowave, then made an EDF+D by hand as a recorder
/// that paused would write it: for each `(at, gap)`, the data records from second `at` of
/// the samples on (a whole number of records) stamped `gap` seconds later, their
/// timekeeping TALs and annotations alike.
pub fn write_edf_plus_d(rec: &biowave::record::Record, path: &Path, gaps: &[(f64, f64)]) {
    biowave::io::save(rec, path).unwrap();
    let mut b = std::fs::read(path).unwrap();
    let num = |b: &[u8], from: usize, len: usize| -> f64 {
        String::from_utf8_lossy(&b[from..from + len])
            .trim()
            .parse()
            .unwrap()
    };
    let (header, records) = (num(&b, 184, 8) as usize, num(&b, 236, 8) as usize);
    let (duration, ns) = (num(&b, 244, 8), num(&b, 252, 4) as usize);
    let spr: Vec<usize> = (0..ns)
        .map(|i| num(&b, 256 + ns * 216 + 8 * i, 8) as usize)
        .collect();
    let label = |i: usize| String::from_utf8_lossy(&b[256 + 16 * i..272 + 16 * i]).into_owned();
    let ann = (0..ns)
        .find(|&i| label(i).trim() == "EDF Annotations")
        .unwrap();
    let offset = 2 * spr[..ann].iter().sum::<usize>();
    let (len, record) = (2 * spr[ann], 2 * spr.iter().sum::<usize>());
    b[192..197].copy_from_slice(b"EDF+D");
    for k in 0..records {
        let t = k as f64 * duration;
        let gap: f64 = (gaps.iter().filter(|g| t >= g.0 - 1e-9)).map(|g| g.1).sum();
        let from = header + k * record + offset;
        let tals: Vec<Vec<u8>> = (b[from..from + len].split(|&c| c == 0))
            .filter(|t| !t.is_empty())
            .map(|t| {
                let end = t.iter().position(|&c| c == 0x14 || c == 0x15).unwrap();
                let onset: f64 = String::from_utf8_lossy(&t[..end]).parse().unwrap();
                let mut out = format!("+{}", onset + gap).into_bytes();
                out.extend_from_slice(&t[end..]);
                out.push(0);
                out
            })
            .collect();
        let mut joined = tals.concat();
        assert!(
            joined.len() <= len,
            "record {k}'s annotations outgrow their signal"
        );
        joined.resize(len, 0);
        b[from..from + len].copy_from_slice(&joined);
    }
    std::fs::write(path, b).unwrap();
}
