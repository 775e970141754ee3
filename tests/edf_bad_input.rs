//! Bad EDF/BDF input: every case is a clear error naming the file and the field, exit
//! code 2 from the binary, never a panic, a hang or an allocation sized by the header.
//! Property tests: header mutations never panic; write→read round trips within one step.

use biowave::io;
use biowave::record::{Channel, ChannelMeta, Record};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A valid 2-signal EDF+C (1 data signal + annotations) cut from the real MIT-BIH record.
fn valid_edf(dir: &Path) -> Vec<u8> {
    let mut rec = io::read(Path::new("signals/mitdb208.edf")).unwrap();
    rec.channels[0].samples.truncate(360 * 10);
    let p = dir.join("valid.edf");
    io::save(&rec, &p).unwrap();
    std::fs::read(p).unwrap()
}

/// Overwrites the header field at `at` (width `w`) with `text`, left-aligned.
fn set(bytes: &mut [u8], at: usize, w: usize, text: &str) {
    let f = format!("{text:<w$}");
    bytes[at..at + w].copy_from_slice(f.as_bytes());
}

/// Offsets in a header with `ns` signals.
const NS: usize = 2;
fn per_signal(base: usize) -> usize {
    256 + base * NS
}

type Mutation = (&'static str, fn(&mut Vec<u8>), &'static str);

fn mutations() -> Vec<Mutation> {
    vec![
        ("truncated-header", |b| b.truncate(300), "header"),
        (
            "truncated-records",
            |b| b.truncate(b.len() - 100),
            "data records",
        ),
        ("header-bytes", |b| set(b, 184, 8, "1024"), "header"),
        ("signals-not-a-number", |b| set(b, 252, 4, "ab"), "signals"),
        ("absurd-signal-count", |b| set(b, 252, 4, "9999"), "signals"),
        (
            "absurd-samples-per-record",
            |b| set(b, per_signal(216), 8, "99999999"),
            "samples",
        ),
        ("zero-records", |b| set(b, 236, 8, "0"), "records"),
        (
            "records-not-a-number",
            |b| set(b, 236, 8, "many"),
            "records",
        ),
        (
            "duration-not-a-number",
            |b| set(b, 244, 8, "1s"),
            "duration",
        ),
        (
            "physical-min-text",
            |b| set(b, per_signal(104), 8, "low"),
            "physical minimum",
        ),
        (
            "digital-min-equals-max",
            |b| {
                set(b, per_signal(120), 8, "100");
                set(b, per_signal(128), 8, "100");
            },
            "digital",
        ),
        (
            "physical-min-equals-max",
            |b| {
                set(b, per_signal(104), 8, "5");
                set(b, per_signal(112), 8, "5");
            },
            "physical",
        ),
        (
            "not-edf",
            |b| b[..8].copy_from_slice(b"GARBAGE!"),
            "version",
        ),
        ("empty", |b| b.clear(), ""),
    ]
}

fn write_case(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(format!("{name}.edf"));
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn each_bad_header_is_a_clear_error_naming_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let good = valid_edf(tmp.path());
    assert!(io::read(&write_case(tmp.path(), "good", &good)).is_ok());
    for (name, mutate, field) in mutations() {
        let mut b = good.clone();
        mutate(&mut b);
        let p = write_case(tmp.path(), name, &b);
        let err = match io::open(&p).and_then(|mut r| r.read(&io::Selection::all())) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(&format!("{name}.edf")), "{name}: {err}");
        assert!(
            err.to_lowercase().contains(field),
            "{name}: `{err}` does not name `{field}`"
        );
    }
}

#[test]
fn the_binary_exits_2_with_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let good = valid_edf(tmp.path());
    for (name, mutate, _) in mutations() {
        let mut b = good.clone();
        mutate(&mut b);
        let p = write_case(tmp.path(), name, &b);
        let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
            .arg("convert")
            .arg(&p)
            .arg(tmp.path().join("out.bdf"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(&format!("{name}.edf")), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

/// A FIFO named like a recording is refused at once (opening it would wait for a writer
/// that never comes), exit 2, naming it.
#[test]
fn a_pipe_is_refused_without_waiting() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("pipe.edf");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .arg("info")
        .arg(&fifo)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("`biowave info` on a FIFO still waiting after 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("pipe.edf: reading a pipe or device (not a regular file) is not supported"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any byte change in the header gives Ok or a clean error, never a panic.
    #[test]
    fn mutated_headers_never_panic(pos in 0usize..768, byte in any::<u8>(), cut in 0usize..900) {
        let tmp = tempfile::tempdir().unwrap();
        let mut b = valid_edf(tmp.path());
        b[pos] = byte;
        if cut > 800 { b.truncate(cut); }
        let p = write_case(tmp.path(), "m", &b);
        if let Ok(mut r) = io::open(&p) {
            let _ = r.read(&io::Selection::all());
        }
    }

    /// Random multi-rate records survive EDF and BDF write→read within one step.
    #[test]
    fn write_read_round_trips(
        rates in proptest::sample::subsequence(vec![1.0, 50.0, 128.0, 250.0, 256.0, 360.0, 500.0], 1..4),
        seconds in 1usize..6,
        amp in 0.01f64..5000.0,
        seed in any::<u64>(),
        bdf in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = seed | 1;
        let mut next = move || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s as f64 / u64::MAX as f64) * 2.0 - 1.0 };
        let channels: Vec<Channel> = rates.iter().enumerate().map(|(i, &r)| {
            let n = (r as usize) * seconds;
            Channel {
                meta: ChannelMeta::new(format!("ch{i}"), "uV", r),
                samples: (0..n).map(|_| (next() * amp) as f32).collect(),
            }
        }).collect();
        let rec = Record { meta: Default::default(), channels };
        let p = tmp.path().join(if bdf { "r.bdf" } else { "r.edf" });
        io::save(&rec, &p).unwrap();
        let back = io::read(&p).unwrap();
        prop_assert_eq!(back.channels.len(), rec.channels.len());
        for (a, b) in rec.channels.iter().zip(&back.channels) {
            prop_assert_eq!(a.samples.len(), b.samples.len());
            prop_assert_eq!(a.meta.sample_rate, b.meta.sample_rate);
            let step = (b.meta.physical_max - b.meta.physical_min)
                / f64::from(b.meta.digital_max - b.meta.digital_min);
            for (x, y) in a.samples.iter().zip(&b.samples) {
                prop_assert!(f64::from((x - y).abs()) <= step * 1.0001 + 1e-6 * amp);
            }
        }
    }
}
