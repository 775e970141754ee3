//! EDF/EDF+/BDF reader and writer on real recordings, cross-checked with pyedflib, edfio
//! and MNE (tests/py/edf_check.py), plus hand-built EDF+D and the streaming writer's -1.

mod common;
use biowave::io::{self, Selection, WriteOptions};
use biowave::record::{Annotation, Record};
use std::path::{Path, PathBuf};
use std::process::Command;

const REAL: [&str; 7] = [
    "signals/mitdb208.edf",
    "signals/mitdb208_full.edf",
    "signals/mitdb100.edf",
    "signals/eegmat_s00_rest.edf",
    "signals/phyaat_eeg14.edf",
    "signals/phyaat_eeg14.bdf",
    "signals/ecg12_sample1.edf",
];

/// Runs tests/py/edf_check.py FILE DUMP [extra]: pyedflib/edfio(/MNE) vs the dump.
fn edf_check(file: &Path, dump_dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![file.as_os_str(), dump_dir.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    common::python("edf_check.py", args)
}

#[test]
fn real_files_read_like_pyedflib_edfio_and_mne() {
    let tmp = tempfile::tempdir().unwrap();
    for (k, f) in REAL.iter().enumerate() {
        let rec = io::read(Path::new(f)).unwrap();
        assert!(!rec.channels.is_empty() && rec.duration_s() > 1.0, "{f}");
        let d = tmp.path().join(k.to_string());
        common::dump(&rec, &d);
        let out = edf_check(Path::new(f), &d, &["--mne"]);
        assert!(out.contains("pyedflib:") && out.contains("edfio:") && out.contains("mne:"));
    }
}

#[test]
fn mitdb_annotations_and_units_are_read() {
    let rec = io::read(Path::new("signals/mitdb208.edf")).unwrap();
    assert_eq!(rec.channels.len(), 1);
    assert_eq!(rec.channels[0].meta.sample_rate, 360.0);
    assert_eq!(rec.channels[0].meta.unit, "mV");
    assert_eq!(rec.channels[0].samples.len(), 360 * 300);
    assert_eq!(rec.meta.annotations.len(), 2);
    // Real ECG in mV: QRS peaks of about a millivolt, not counts.
    let max = rec.channels[0]
        .samples
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()));
    assert!((0.5..10.0).contains(&max), "max |x| {max}");
}

/// MIT-BIH 100 as pyedflib writes 2273 reference annotations: over three annotation
/// signals per record (more annotations than records), every one of which is read.
#[test]
fn every_annotation_signal_is_read() {
    let rec = io::read(Path::new("signals/mitdb100.edf")).unwrap();
    assert_eq!(rec.channels.len(), 2);
    assert_eq!(rec.channels[0].samples.len(), 360 * 1805);
    let beats = |code: &str| {
        rec.meta
            .annotations
            .iter()
            .filter(|a| a.text == code)
            .count()
    };
    assert_eq!(rec.meta.annotations.len(), 2273);
    assert_eq!((beats("N"), beats("A"), beats("V")), (2238, 33, 1));
    let sorted = rec
        .meta
        .annotations
        .windows(2)
        .all(|w| w[0].onset <= w[1].onset);
    assert!(sorted, "annotations in time order");
    // `info` counts them all and says it lists only the first.
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(["info", "signals/mitdb100.edf"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("annotations: 2273 (the first 10)\n"),
        "{text}"
    );
}

/// Two independent copies of MIT-BIH 208 agree through the reader: SciPy's 5-minute
/// excerpt (`mitdb208.edf`) is, ADC unit for ADC unit, samples 422820..530820 of lead MLII
/// of the whole record as PhysioNet distributes it (`mitdb208_full.edf`), whose 3039
/// reference annotations hold 1585 normal beats, 992 PVCs and 373 fusion beats.
#[test]
fn the_mitdb208_excerpt_is_a_stretch_of_the_whole_record() {
    let part = io::read(Path::new("signals/mitdb208.edf")).unwrap();
    let whole = io::read(Path::new("signals/mitdb208_full.edf")).unwrap();
    let labels: Vec<&str> = whole
        .channels
        .iter()
        .map(|c| c.meta.label.as_str())
        .collect();
    assert_eq!(labels, ["MLII", "V1"]);
    let from = 422_820;
    let x = &whole.channels[0].samples[from..from + part.channels[0].samples.len()];
    // 200 ADC units per mV: a one-unit slip would be 5 µV.
    let worst =
        (x.iter().zip(&part.channels[0].samples)).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst < 1e-4, "worst difference {worst} mV");
    let shifted = &whole.channels[0].samples[from + 1..from + 1 + 3600];
    let moved = (shifted.iter().zip(&part.channels[0].samples))
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(moved > 0.1, "a sample later differs ({moved} mV)");
    let beats = |code: &str| {
        let a = whole.meta.annotations.iter();
        a.filter(|a| a.text == code).count()
    };
    assert_eq!(whole.meta.annotations.len(), 3039);
    assert_eq!((beats("N"), beats("V"), beats("F")), (1585, 992, 373));
}

/// The PhysioNet EEGMAT file as its recording software (NeuroCom) wrote it: 19 EEG
/// channels, the ear reference and an ECG at 500 Hz, in µV (ECG in mV), with one whole
/// record's bytes and 4 more after the 182 records its header counts, which are not read.
#[test]
fn eegmat_rest_reads_its_header_records() {
    let rec = io::read(Path::new("signals/eegmat_s00_rest.edf")).unwrap();
    assert_eq!(rec.channels.len(), 21);
    for (i, c) in rec.channels.iter().enumerate() {
        assert_eq!(c.meta.sample_rate, 500.0, "{}", c.meta.label);
        assert_eq!(c.samples.len(), 500 * 182, "{}", c.meta.label);
        assert_eq!(c.meta.unit, if i == 20 { "mV" } else { "uV" });
    }
    assert_eq!(rec.channels[0].meta.label, "EEG Fp1");
    assert_eq!(rec.channels[20].meta.label, "ECG ECG");
    assert!(rec.channels[0].meta.prefilter.starts_with("HP:0.5"));
    // Scalp EEG in µV: tens of µV, not counts or volts.
    let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
    let r = rms(&rec.channels[14].samples);
    assert!((2.0..100.0).contains(&r), "O1 rms {r} uV");
    let len = std::fs::metadata("signals/eegmat_s00_rest.edf")
        .unwrap()
        .len();
    assert_eq!(len, 256 * 22 + 183 * 21 * 500 * 2 + 4);
}

/// A file with three sample rates and annotations with durations, written by pyedflib.
#[test]
fn mixed_rates_written_by_pyedflib_read_right() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("mixed.edf");
    common::python(
        "edf_make.py",
        [std::ffi::OsStr::new("mixed"), f.as_os_str()],
    );
    let rec = io::read(&f).unwrap();
    let rates: Vec<f64> = rec.channels.iter().map(|c| c.meta.sample_rate).collect();
    assert_eq!(rates, vec![360.0, 90.0, 128.0]);
    assert!(rec
        .meta
        .annotations
        .iter()
        .any(|a| a.duration == Some(1.25)));
    common::dump(&rec, &tmp.path().join("d"));
    edf_check(&f, &tmp.path().join("d"), &[]);
}

/// Adds annotations (with and without durations, two at one onset) inside the record.
fn with_annotations(mut rec: Record) -> Record {
    let late = (rec.duration_s() * 0.8 * 4.0).floor() / 4.0;
    let a = |onset: f64, duration: Option<f64>, text: &str| Annotation {
        onset,
        duration,
        text: text.into(),
    };
    rec.meta.annotations = vec![
        a(0.5, None, "start of test"),
        a(2.0, Some(1.5), "artefact"),
        a(2.0, None, "second text at the same onset"),
        a(late, Some(0.25), "PVC"),
    ];
    rec
}

#[test]
fn written_edf_and_bdf_open_in_pyedflib_edfio_and_mne() {
    let tmp = tempfile::tempdir().unwrap();
    for (src, ext) in [
        ("signals/mitdb208.edf", "edf"),
        ("signals/mitdb208.edf", "bdf"),
        ("signals/phyaat_eeg14.bdf", "bdf"),
        ("signals/ecg12_sample1.edf", "edf"),
    ] {
        let mut rec = io::read(Path::new(src)).unwrap();
        rec.meta.annotations.clear();
        let rec = with_annotations(rec);
        let out = tmp.path().join(format!("out.{ext}"));
        io::save(&rec, &out).unwrap();
        let d = tmp.path().join(format!("d-{ext}"));
        common::dump(&rec, &d);
        edf_check(&out, &d, &["--tol", "quant", "--mne"]);
        // And biowave reads its own file back within one quantisation step.
        let back = io::read(&out).unwrap();
        assert_eq!(back.meta.annotations.len(), rec.meta.annotations.len());
        for (a, b) in rec.channels.iter().zip(&back.channels) {
            let step = (b.meta.physical_max - b.meta.physical_min)
                / f64::from(b.meta.digital_max - b.meta.digital_min);
            let worst = a
                .samples
                .iter()
                .zip(&b.samples)
                .map(|(x, y)| f64::from((x - y).abs()))
                .fold(0.0, f64::max);
            assert!(worst <= step * 1.0001, "{src}→{ext}: {worst} > {step}");
        }
    }
}

#[test]
fn channel_and_time_selection_equals_slicing_the_whole_read() {
    let f = Path::new("signals/ecg12_sample1.edf");
    let whole = io::read(f).unwrap();
    let mut r = io::open(f).unwrap();
    let sel = Selection {
        channels: Some(vec!["V3".into(), "I".into()]),
        start_s: 1.25,
        end_s: Some(3.5),
    };
    let part = r.read(&sel).unwrap();
    assert_eq!(part.channels.len(), 2);
    for (c, label) in part.channels.iter().zip(["V3", "I"]) {
        let w = &whole.channels[whole.channel_index(label).unwrap()];
        assert_eq!(c.samples, w.samples[625..1750], "{label}");
    }
}

/// Builds an EDF+D file by hand: 1 signal at 10 Hz, 1 s records at onsets 0, 1 and 5 s.
fn edf_plus_d(path: &Path) {
    edf_plus_d_at(path, [0.0, 1.0, 5.0]);
}

/// The same with its three records at `onsets` (NaN: a record without its time-keeping TAL).
fn edf_plus_d_at(path: &Path, onsets: [f64; 3]) {
    let ns = 2;
    let mut h = Vec::new();
    let field = |s: &str, w: usize| format!("{s:<w$}").into_bytes();
    h.extend(field("0", 8));
    h.extend(field("X X X X", 80));
    h.extend(field("Startdate 02-MAR-2021 X X X", 80));
    h.extend(field("02.03.21", 8));
    h.extend(field("10.11.12", 8));
    h.extend(field(&((ns + 1) * 256).to_string(), 8));
    h.extend(field("EDF+D", 44));
    h.extend(field("3", 8));
    h.extend(field("1", 8));
    h.extend(field(&ns.to_string(), 4));
    let per = |a: &str, b: &str, w: usize| {
        let mut v = field(a, w);
        v.extend(field(b, w));
        v
    };
    h.extend(per("EEG Fz", "EDF Annotations", 16));
    h.extend(per("AgAgCl", "", 80));
    h.extend(per("uV", "", 8));
    h.extend(per("-100", "-1", 8));
    h.extend(per("100", "1", 8));
    h.extend(per("-32768", "-32768", 8));
    h.extend(per("32767", "32767", 8));
    h.extend(per("HP:0.1Hz", "", 80));
    h.extend(per("10", "30", 8));
    h.extend(per("", "", 32));
    assert_eq!(h.len(), 768);
    for (k, onset) in onsets.iter().enumerate() {
        for i in 0..10i16 {
            h.extend(((k as i16) * 1000 + i * 100).to_le_bytes());
        }
        let mut tal = match onset.is_nan() {
            true => Vec::new(),
            false => format!("+{onset}\x14\x14\x00").into_bytes(),
        };
        if k == 2 {
            tal.extend(b"+5.5\x150.5\x14gap over\x14electrode check\x14\x00");
        }
        tal.resize(60, 0);
        h.extend(tal);
    }
    std::fs::write(path, h).unwrap();
}

#[test]
fn edf_plus_d_segments_come_from_record_onsets() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("d.edf");
    edf_plus_d(&f);
    let rec = io::read(&f).unwrap();
    let seg: Vec<(f64, f64)> = rec
        .meta
        .segments
        .iter()
        .map(|s| (s.onset, s.duration))
        .collect();
    assert_eq!(seg, vec![(0.0, 2.0), (5.0, 1.0)]);
    assert_eq!(rec.channels[0].samples.len(), 30);
    let texts: Vec<&str> = rec
        .meta
        .annotations
        .iter()
        .map(|a| a.text.as_str())
        .collect();
    assert_eq!(texts, vec!["gap over", "electrode check"]);
    assert_eq!(rec.meta.annotations[0].duration, Some(0.5));
    let start = rec.meta.start.unwrap().to_string();
    assert_eq!(start, "2021-03-02 10:11:12");
}

/// An EDF+D whose records overlap in time, or one without its time-keeping annotation,
/// is refused naming the file, the field and the record: where its samples lie is unknown.
#[test]
fn edf_plus_d_records_out_of_order_or_untimed_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (onsets, says) in [
        (
            [0.0, 1.0, 1.5],
            "EDF Annotations: data record 3 starts at 1.5 s, before record 2 (1 s + 1 s) ends",
        ),
        (
            [0.0, f64::NAN, 5.0],
            "time-keeping annotation in each of its 3 data records; 2 have one",
        ),
    ] {
        let f = tmp.path().join("bad.edf");
        edf_plus_d_at(&f, onsets);
        let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
            .arg("info")
            .arg(&f)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("bad.edf") && err.contains(says),
            "{onsets:?}: {err}"
        );
    }
}

/// `convert` of an EDF+D joins its stretches (every output is continuous): annotations move
/// to the joined time (5.5 s, 0.5 s into the second stretch, becomes 2.5 s), each join gets
/// an annotation naming the gap, and `--start` counts joined seconds, the output starting
/// at its first sample's own time. For EDF and for CSV (whose events CSV holds them).
#[test]
fn convert_joins_an_edf_plus_d_with_its_annotations_in_the_joined_time() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d.edf");
    edf_plus_d(&d);
    let convert = |out: &str, extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
            .arg("convert")
            .arg(&d)
            .arg(tmp.path().join(out))
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{err}");
        assert!(err.contains("2 discontinuous stretches joined"), "{err}");
        io::read(&tmp.path().join(out)).unwrap()
    };
    for out in ["j.edf", "j.csv"] {
        let rec = convert(out, &[]);
        assert_eq!(rec.channels[0].samples.len(), 30, "{out}");
        let mut got: Vec<(f64, &str)> = (rec.meta.annotations.iter())
            .map(|a| ((a.onset * 1e6).round() / 1e6, a.text.as_str()))
            .collect();
        got.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
        let want = [
            (2.0, "gap: 3 s not recorded (discontinuous source)"),
            (2.5, "electrode check"),
            (2.5, "gap over"),
        ];
        assert_eq!(got, want, "{out}");
        assert!(rec.meta.segments.is_empty());
    }
    let cut = convert("cut.edf", &["--start", "2.2"]);
    assert_eq!(cut.channels[0].samples.len(), 8);
    // Joined second 2.2 is the second stretch's third sample, digital 2200.
    let first = cut.channels[0].samples[0];
    assert!(
        (first - ((2200.0 + 32768.0) * 200.0 / 65535.0 - 100.0)).abs() < 0.01,
        "{first}"
    );
    let start = cut.meta.start.unwrap().to_string();
    assert_eq!(start, "2021-03-02 10:11:17", "5.2 s into the recording");
    assert!((cut.meta.annotations[0].onset - 0.3).abs() < 1e-6);
}

/// An annotation longer than its share of the annotation signal is still written whole by
/// `save` (each record's signal sized to hold it), and a streaming writer cuts one longer
/// than its records hold rather than let it hold back, and lose, every later one.
#[test]
fn long_annotations_neither_vanish_nor_hold_back_later_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let a = |onset: f64, text: String| Annotation {
        onset,
        duration: None,
        text,
    };
    let mut rec = io::read(Path::new("signals/mitdb208.edf")).unwrap();
    rec.meta.annotations = vec![a(10.0, "A".repeat(300)), a(20.0, "short after".into())];
    let saved = tmp.path().join("saved.edf");
    io::save(&rec, &saved).unwrap();
    assert_eq!(
        io::read(&saved).unwrap().meta.annotations,
        rec.meta.annotations
    );

    let streamed = tmp.path().join("streamed.edf");
    let spec = biowave::record::SignalSpec::symmetric(250.0, ["ECG"], "mV", 5.0);
    let mut w = io::create(&streamed, &spec, &WriteOptions::default()).unwrap();
    w.annotate(a(0.5, "é".repeat(250)));
    w.annotate(a(0.6, "short after".into()));
    let block = biowave::block::Block::new(1, 250);
    for _ in 0..3 {
        w.write(&block).unwrap();
    }
    w.finish().unwrap();
    let back = io::read(&streamed).unwrap().meta.annotations;
    assert_eq!(back.len(), 2, "{back:?}");
    assert!(back[0].text.len() > 50 && back[0].text.chars().all(|c| c == 'é'));
    assert_eq!((back[1].onset, back[1].text.as_str()), (0.6, "short after"));
}

/// A writer that is never finished (as after kill -9) leaves a file whose whole records
/// read back: the header's record count is -1 and the reader counts from the file size.
#[test]
fn unfinished_stream_is_readable_up_to_the_last_whole_record() {
    let tmp = tempfile::tempdir().unwrap();
    let f: PathBuf = tmp.path().join("live.edf");
    let spec = biowave::record::SignalSpec {
        sample_rate: 250.0,
        channels: vec![biowave::record::ChannelSpec {
            label: "ECG".into(),
            unit: "mV".into(),
            range: (-5.0, 5.0),
        }],
    };
    let mut w = io::create(&f, &spec, &WriteOptions::default()).unwrap();
    let mut block = biowave::block::Block::new(1, 100);
    for k in 0..7 {
        for (i, v) in block.channel_mut(0).iter_mut().enumerate() {
            *v = ((k * 100 + i) as f32 * 0.01).sin();
        }
        w.write(&block).unwrap();
    }
    let head = std::fs::read(&f).unwrap();
    assert_eq!(&head[236..244], b"-1      ", "record count while writing");
    std::mem::forget(w); // no finish, no Drop: what a killed process leaves
    let rec = io::read(&f).unwrap();
    // 700 samples at 250 Hz in 1 s records: two whole records on disk.
    assert_eq!(rec.channels[0].samples.len(), 500);
    let want = (499f32 * 0.01).sin();
    assert!((rec.channels[0].samples[499] - want).abs() < 2e-4);
}

#[test]
fn convert_cli_cuts_channels_and_time_and_keeps_annotations_and_start() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cut.bdf");
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(["convert", "signals/mitdb208.edf"])
        .arg(&out)
        .args(["--start", "10", "--end", "20"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let src = io::read(Path::new("signals/mitdb208.edf")).unwrap();
    let cut = io::read(&out).unwrap();
    assert_eq!(cut.channels[0].samples.len(), 3600);
    let step =
        (cut.channels[0].meta.physical_max - cut.channels[0].meta.physical_min) / 16_777_215.0;
    for (a, b) in src.channels[0].samples[3600..7200]
        .iter()
        .zip(&cut.channels[0].samples)
    {
        assert!(f64::from((a - b).abs()) <= step * 1.001 + 1e-6);
    }
    let pvc: Vec<_> = cut
        .meta
        .annotations
        .iter()
        .map(|a| (a.onset, a.text.as_str()))
        .collect();
    assert_eq!(pvc, vec![(6.0, "first PVCs (SciPy docs)")]);
    let shift = cut.meta.start.unwrap() - src.meta.start.unwrap();
    assert_eq!(shift.num_seconds(), 10);
}

/// A time range that keeps no samples is refused with the file, the range and the
/// recording's length, and nothing is written (an EDF of 0 records no reader accepts); so
/// is an output that is the input file.
#[test]
fn convert_cli_refuses_a_range_past_the_end_or_its_own_input() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cut.edf");
    for range in [
        &["--start", "300"][..],
        &["--start", "400"],
        &["--start", "20", "--end", "10"],
        &["--start", "NaN"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
            .args(["convert", "signals/mitdb208.edf"])
            .arg(&out)
            .args(range)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{range:?}: {err}");
        assert!(
            err.contains("mitdb208.edf") && err.contains("(300 s long)"),
            "{err}"
        );
        assert!(err.contains(&format!("--start {}", range[1])), "{err}");
        assert!(!out.exists(), "{range:?} wrote {}", out.display());
    }
    // Converting a file onto itself (by another path too) is refused, the file untouched.
    let copy = tmp.path().join("copy.edf");
    std::fs::copy("signals/mitdb208.edf", &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .arg("convert")
        .arg(&copy)
        .arg(tmp.path().join(".").join("copy.edf"))
        .args(["--start", "10"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("the output is the input file"), "{err}");
    assert_eq!(std::fs::read(&copy).unwrap(), before);
}

/// A convert onto an existing file (or onto a CSV's existing events file) is refused and
/// leaves it as it was; `--overwrite` writes over it.
#[test]
fn convert_cli_does_not_write_over_an_existing_file_unasked() {
    let tmp = tempfile::tempdir().unwrap();
    let convert = |out: &Path, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_biowave"))
            .args(["convert", "signals/mitdb208_full.edf"])
            .arg(out)
            .args(["--end", "10"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = tmp.path().join("cut.edf");
    std::fs::write(&out, b"an earlier file").unwrap();
    let o = convert(&out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("cut.edf: exists; pass --overwrite"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"an earlier file");
    let o = convert(&out, &["--overwrite"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(biowave::io::read(&out).unwrap().duration_s(), 10.0);
    // A CSV's annotations go beside it: an existing events file is refused too.
    let csv = tmp.path().join("cut.csv");
    let events = tmp.path().join("cut.events.csv");
    std::fs::write(&events, b"onset,label").unwrap();
    let o = convert(&csv, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cut.events.csv: exists"), "{err}");
    assert!(!csv.exists());
    assert!(convert(&csv, &["--overwrite"]).status.success());
    assert!(std::fs::read_to_string(&events).unwrap().lines().count() > 10);
}

/// `convert --resample` writes what the library's polyphase resampler (checked against
/// scipy's `resample_poly` in tests/dsp.rs) makes of each channel, at the new rate, with the
/// physical range widened over the filter's overshoot (nothing clipped); a rate that is not
/// positive is refused by name with exit code 2.
#[test]
fn convert_cli_resamples_every_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("eeg250.bdf");
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(["convert", "signals/eegmat_s00_rest.edf"])
        .arg(&out)
        .args(["--channels", "EEG O1,ECG ECG", "--resample", "250"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && !stderr.contains("clipped"),
        "{stderr}"
    );
    let src = io::read(Path::new("signals/eegmat_s00_rest.edf")).unwrap();
    let got = io::read(&out).unwrap();
    for (c, label) in got.channels.iter().zip(["EEG O1", "ECG ECG"]) {
        assert_eq!(c.meta.label, label);
        assert_eq!(c.meta.sample_rate, 250.0);
        let x = &src.channels[src.channel_index(label).unwrap()].samples;
        let want = biowave::dsp::resample::resample_poly(x, 1, 2).unwrap();
        assert_eq!(c.samples.len(), want.len());
        let step = (c.meta.physical_max - c.meta.physical_min) / 16_777_215.0;
        let worst = want
            .iter()
            .zip(&c.samples)
            .map(|(a, b)| f64::from((a - b).abs()))
            .fold(0.0, f64::max);
        assert!(worst <= step * 1.001 + 1e-6, "{label}: {worst} > {step}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(["convert", "signals/eegmat_s00_rest.edf"])
        .arg(tmp.path().join("bad.edf"))
        .arg("--resample=-5")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("eegmat_s00_rest.edf") && stderr.contains("--resample"),
        "{stderr}"
    );
}
