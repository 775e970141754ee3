//! HDF5 and CSV: files written by h5py read like h5py reads them, files biowave writes
//! read back in h5py with their attributes, round trips through EDF, bad input (exit 2).

mod common;
use biowave::io::{self, OpenOptions, Selection};
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

fn open(path: &Path, opts: &OpenOptions) -> biowave::record::Record {
    io::open_with(path, opts)
        .and_then(|mut r| r.read(&Selection::all()))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// biowave reads `file`, then h5py compares (tests/py/h5_check.py compare).
fn compare(file: &Path, opts: &OpenOptions, extra: &[&str], dir: &Path) {
    let rec = open(file, opts);
    let d = dir.join(format!(
        "dump-{}",
        file.file_name().unwrap().to_string_lossy()
    ));
    common::dump(&rec, &d);
    let mut args = vec![OsStr::new("compare"), file.as_os_str(), d.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    let out = common::python("h5_check.py", args);
    assert!(out.contains("max |diff|"), "{out}");
}

fn make(dir: &Path) {
    common::python("h5_check.py", [OsStr::new("make"), dir.as_os_str()]);
}

#[test]
fn h5py_files_read_like_h5py_reads_them() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path());
    let o = OpenOptions::default();
    compare(
        &tmp.path().join("a2d.h5"),
        &o,
        &["--dataset", "eeg"],
        tmp.path(),
    );
    let cs = OpenOptions {
        h5_layout: Some("channels-samples".into()),
        ..o.clone()
    };
    compare(
        &tmp.path().join("cs.h5"),
        &cs,
        &["--dataset", "grp/eeg", "--channels-first"],
        tmp.path(),
    );
    compare(
        &tmp.path().join("i16.h5"),
        &o,
        &["--dataset", "raw"],
        tmp.path(),
    );
    let rec = open(&tmp.path().join("a2d.h5"), &o);
    assert_eq!(rec.channels.len(), 14);
    assert_eq!(rec.channels[0].meta.label, "AF3");
    assert_eq!(rec.channels[0].meta.unit, "uV");
    assert_eq!(rec.channels[0].meta.sample_rate, 128.0);
}

/// Files large enough to be read by several threads: whole reads equal h5py's, and a
/// time range of scattered channels equals the same slice of the whole read.
#[test]
fn large_h5py_files_read_in_parallel_like_h5py_reads_them() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path());
    let o = OpenOptions::default();
    let cs = OpenOptions {
        h5_layout: Some("channels-samples".into()),
        ..o.clone()
    };
    let big = tmp.path().join("big.h5");
    let bigcs = tmp.path().join("bigcs.h5");
    compare(&big, &o, &["--dataset", "eeg"], tmp.path());
    compare(
        &bigcs,
        &cs,
        &["--dataset", "raw", "--channels-first"],
        tmp.path(),
    );
    for (file, opts) in [(&big, &o), (&bigcs, &cs)] {
        let whole = open(file, opts);
        assert_eq!(whole.channels[0].samples.len(), 163_840);
        // Every channel, scrambled (the gather path), over > 2 M values (several threads).
        let order = [13, 2, 3, 7, 0, 1, 4, 5, 6, 8, 9, 10, 11, 12];
        let labels = order.map(|i| whole.channels[i].meta.label.clone());
        let part = io::open_with(file, opts)
            .unwrap()
            .read(&Selection {
                channels: Some(labels.to_vec()),
                start_s: 20.5,
                end_s: Some(1270.25),
            })
            .unwrap();
        for (p, i) in part.channels.iter().zip(order) {
            assert_eq!(p.samples, whole.channels[i].samples[2_624..162_592]);
        }
        // An empty range reads as empty channels, not a panic.
        let none = io::open_with(file, opts).unwrap().read(&Selection {
            channels: None,
            start_s: 5.0,
            end_s: Some(5.0),
        });
        assert!(none.unwrap().channels.iter().all(|c| c.samples.is_empty()));
    }
}

#[test]
fn shipped_code_style_3d_file_reads_each_record() {
    let tmp = tempfile::tempdir().unwrap();
    let f = Path::new("signals/ecg12_3x4096.h5");
    for r in 0..3 {
        let o = OpenOptions {
            h5_record: Some(r),
            ..Default::default()
        };
        compare(
            f,
            &o,
            &["--record", &r.to_string()],
            &tmp.path().join(r.to_string()),
        );
    }
    let rec = open(f, &OpenOptions::default());
    let labels: Vec<&str> = rec.channels.iter().map(|c| c.meta.label.as_str()).collect();
    assert_eq!(labels[..3], ["I", "II", "III"]);
    // A partial read: one lead, one second, equals the slice of the whole read.
    let mut r = io::open(f).unwrap();
    let part = r
        .read(&Selection {
            channels: Some(vec!["V2".into()]),
            start_s: 2.0,
            end_s: Some(3.0),
        })
        .unwrap();
    let v2 = rec.channel_index("V2").unwrap();
    assert_eq!(
        part.channels[0].samples,
        rec.channels[v2].samples[1000..1500]
    );
    // `read_each` (what eval and train read files with) takes all three, each as
    // `--h5-record k` reads it; a 2-D file is one record under its own name.
    let each = io::read_each(f).unwrap();
    assert_eq!(each.len(), 3);
    for (k, (name, r)) in each.iter().enumerate() {
        let o = OpenOptions {
            h5_record: Some(k),
            ..Default::default()
        };
        assert_eq!(name, &format!("signals/ecg12_3x4096.h5[{k}]"));
        assert_eq!(r.channels, open(f, &o).channels, "record {k}");
    }
    assert_ne!(each[0].1.channels[1].samples, each[1].1.channels[1].samples);
    let one = io::read_each(Path::new("signals/mitdb208.edf")).unwrap();
    assert_eq!((one.len(), one[0].0.as_str()), (1, "signals/mitdb208.edf"));
}

#[test]
fn biowave_files_open_in_h5py_with_attributes_and_annotations() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rec = io::read(Path::new("signals/mitdb208.edf")).unwrap();
    rec.meta.annotations.push(biowave::record::Annotation {
        onset: 30.5,
        duration: Some(2.0),
        text: "noise burst".into(),
    });
    let out = tmp.path().join("m.h5");
    io::save(&rec, &out).unwrap();
    common::dump(&rec, &tmp.path().join("d"));
    common::python(
        "h5_check.py",
        [
            OsStr::new("compare"),
            out.as_os_str(),
            tmp.path().join("d").as_os_str(),
        ],
    );
    // And back: HDF5 → EDF keeps values within one EDF step and the annotations.
    let edf = tmp.path().join("back.edf");
    io::save(&io::read(&out).unwrap(), &edf).unwrap();
    let back = io::read(&edf).unwrap();
    assert_eq!(back.meta.annotations.len(), 3);
    let c = &back.channels[0];
    let step = (c.meta.physical_max - c.meta.physical_min) / 65535.0;
    let worst = rec.channels[0]
        .samples
        .iter()
        .zip(&c.samples)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(f64::from(worst) <= step * 1.0001, "{worst} > {step}");
}

#[test]
fn csv_round_trips_and_reads_its_units() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = io::read(Path::new("signals/phyaat_eeg14.edf")).unwrap();
    let p = tmp.path().join("e.csv");
    io::save(&rec, &p).unwrap();
    let back = io::read(&p).unwrap();
    assert_eq!(back.channels.len(), 14);
    assert_eq!(back.channels[3].meta.label, rec.channels[3].meta.label);
    assert_eq!(back.channels[3].meta.unit, "uV");
    assert_eq!(back.channels[3].meta.sample_rate, 128.0);
    for (a, b) in rec.channels.iter().zip(&back.channels) {
        assert_eq!(
            a.samples, b.samples,
            "f32 shortest text round-trips exactly"
        );
    }
}

/// CSV holds no annotations: `convert` writes them to `NAME.events.csv` beside it (a text
/// with a comma quoted), and reading the CSV takes them back, so EDF → CSV → EDF keeps
/// MIT-BIH 100's beat labels, each time and text.
#[test]
fn csv_keeps_annotations_beside_it_through_a_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_biowave");
    let sel = io::Selection {
        channels: Some(vec!["MLII".into()]),
        start_s: 0.0,
        end_s: Some(60.0),
    };
    let src = io::open(Path::new("signals/mitdb100.edf"))
        .unwrap()
        .read(&sel)
        .unwrap();
    let mut want = src.clone();
    want.meta.annotations.push(biowave::record::Annotation {
        onset: 30.5,
        duration: Some(2.0),
        text: "noise, \"motion\"".into(),
    });
    let edf = tmp.path().join("a.edf");
    io::save(&want, &edf).unwrap();
    let (csv, back) = (tmp.path().join("a.csv"), tmp.path().join("b.edf"));
    for (from, to) in [(&edf, &csv), (&csv, &back)] {
        let o = Command::new(bin)
            .arg("convert")
            .arg(from)
            .arg(to)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let mut a = io::read(&edf).unwrap().meta.annotations;
    let mut b = io::read(&back).unwrap().meta.annotations;
    assert!(a.len() > 70, "{} beats in a minute", a.len());
    for x in [&mut a, &mut b] {
        x.sort_by(|p, q| p.onset.total_cmp(&q.onset).then(p.text.cmp(&q.text)));
    }
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!(
            (x.onset - y.onset).abs() < 1e-6 && x.text == y.text,
            "{x:?} {y:?}"
        );
        assert_eq!(x.duration, y.duration);
    }
    // A broken events file is named, not skipped.
    std::fs::write(tmp.path().join("a.events.csv"), "time_s,label\nsoon,N\n").unwrap();
    exit_2(
        &[OsStr::new("info"), csv.as_os_str()],
        "a.events.csv: line 2: `soon`",
    );
}

/// A CSV (and its events CSV) cut mid-row, as a killed writer leaves them, reads up to
/// the last whole row; a bad row that a newline ends is still refused.
#[test]
fn a_csv_cut_mid_row_reads_up_to_its_last_whole_row() {
    let tmp = tempfile::tempdir().unwrap();
    let sel = io::Selection {
        channels: Some(vec!["MLII".into(), "V5".into()]),
        start_s: 0.0,
        end_s: Some(10.0),
    };
    let rec = io::open(Path::new("signals/mitdb100.edf"))
        .unwrap()
        .read(&sel)
        .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .arg("convert")
        .arg("signals/mitdb100.edf")
        .arg(tmp.path().join("cut.csv"))
        .args(["--channels", "MLII,V5", "--end", "10"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (name, keep) in [("cut.csv", 7), ("cut.events.csv", 5)] {
        let p = tmp.path().join(name);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, &text[..text.len() - keep]).unwrap();
    }
    let back = io::read(&tmp.path().join("cut.csv")).unwrap();
    assert_eq!(back.channels[1].samples.len(), 3599);
    assert_eq!(
        back.channels[1].samples[..],
        rec.channels[1].samples[..3599]
    );
    assert_eq!(back.meta.annotations.len(), rec.meta.annotations.len() - 1);
    std::fs::write(tmp.path().join("bad.csv"), "time,a\n0,1\n0.1,\n0.2,3").unwrap();
    exit_2(
        &[
            OsStr::new("info"),
            &tmp.path().join("bad.csv").into_os_string(),
        ],
        "line 3",
    );
}

#[test]
fn stream_to_h5_gives_a_file_h5py_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("s.h5");
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args([
            "stream",
            "--model",
            "sine",
            "--fast",
            "--duration",
            "2s",
            "--to",
        ])
        .arg(format!("file:{}", f.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rec = io::read(&f).unwrap();
    assert_eq!(rec.channels[0].samples.len(), 1000);
    let d = tmp.path().join("d");
    common::dump(&rec, &d);
    common::python(
        "h5_check.py",
        [OsStr::new("compare"), f.as_os_str(), d.as_os_str()],
    );
}

fn exit_2(args: &[&OsStr], needle: &str) {
    let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: `{err}` lacks `{needle}`");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_hdf5_and_csv_input_exit_2_naming_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path());
    let p = |n: &str| tmp.path().join(n).into_os_string();
    let info = OsStr::new("info");
    exit_2(&[info, &p("nofs.h5")], "sample_rate");
    exit_2(&[info, &p("rank1.h5")], "no 2-D or 3-D numeric dataset");
    exit_2(&[info, &p("corrupt.h5")], "corrupt.h5");
    exit_2(
        &[
            info,
            &p("a2d.h5"),
            OsStr::new("--h5-dataset"),
            OsStr::new("nope"),
        ],
        "nope",
    );
    exit_2(
        &[
            info,
            &p("a2d.h5"),
            OsStr::new("--h5-layout"),
            OsStr::new("diagonal"),
        ],
        "h5-layout",
    );
    let out = tmp.path().join("o.edf").into_os_string();
    exit_2(
        &[OsStr::new("convert"), &p("nan.h5"), &out],
        "sample 100 is NaN",
    );
    std::fs::write(tmp.path().join("ragged.csv"), "time,a [mV]\n0,1\n0.1,2,3\n").unwrap();
    exit_2(&[info, &p("ragged.csv")], "line 3");
    std::fs::write(tmp.path().join("text.csv"), "time,a [mV]\n0,1\n0.1,abc\n").unwrap();
    exit_2(&[info, &p("text.csv")], "`abc` is not a number");
    std::fs::write(
        tmp.path().join("jitter.csv"),
        "time,a\n0,1\n0.1,2\n0.35,3\n0.4,1\n",
    )
    .unwrap();
    exit_2(&[info, &p("jitter.csv")], "uniform");
    // Reading options a format does not take would be ignored: refused by name.
    let edf = OsStr::new("signals/mitdb208.edf");
    exit_2(&[info, edf, OsStr::new("--fs"), OsStr::new("100")], "--fs");
    let rec = [OsStr::new("--h5-record"), OsStr::new("1")];
    exit_2(
        &[info, edf, rec[0], rec[1]],
        "--h5-record: applies to HDF5 inputs only",
    );
    exit_2(&[info, &p("text.csv"), rec[0], rec[1]], "text.csv");
    let layout = [OsStr::new("--h5-layout"), OsStr::new("channels-samples")];
    let code = OsStr::new("signals/ecg12_3x4096.h5");
    exit_2(
        &[info, code, layout[0], layout[1]],
        "the layout applies to 2-D datasets",
    );
}

/// `info --json`: the physical range an EDF header declares (MIT-BIH 208: the 11-bit ADC,
/// 0..2047 at 200 adu/mV around 1024, so −5.12..5.115 mV), and `null` for HDF5 and CSV,
/// whose float samples come with no declared range (not a made-up [0, 0]).
#[test]
fn info_reports_a_physical_range_only_where_the_header_declares_one() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("eeg.csv");
    let bin = env!("CARGO_BIN_EXE_biowave");
    let ok = Command::new(bin)
        .args(["convert", "signals/phyaat_eeg14.bdf"])
        .arg(&csv)
        .status()
        .unwrap();
    assert!(ok.success());
    let ranges = |file: &OsStr| -> Vec<serde_json::Value> {
        let o = Command::new(bin)
            .args([OsStr::new("info"), OsStr::new("--json"), file])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        j["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["physical_range"].clone())
            .collect()
    };
    assert_eq!(
        ranges(OsStr::new("signals/mitdb208.edf")),
        vec![serde_json::json!([-5.12, 5.115])]
    );
    for file in [OsStr::new("signals/ecg12_3x4096.h5"), csv.as_os_str()] {
        let r = ranges(file);
        assert!(
            !r.is_empty() && r.iter().all(|v| v.is_null()),
            "{file:?}: {r:?}"
        );
    }
}

/// A record with no start time (the CODE-style HDF5 states none) written as EDF+ says so,
/// `Startdate X` as EDF+ has it, rather than inventing one: biowave reads no start back,
/// pyedflib opens the file, and a record with a start keeps it.
#[test]
fn an_unknown_start_stays_unknown_through_edf() {
    let tmp = tempfile::tempdir().unwrap();
    let code = io::read(Path::new("signals/ecg12_3x4096.h5")).unwrap();
    assert_eq!(code.meta.start, None);
    let out = tmp.path().join("code.edf");
    io::save(&code, &out).unwrap();
    assert_eq!(io::read(&out).unwrap().meta.start, None);
    let s = common::pyedflib_summary(&out, &[]);
    assert_eq!(s["labels"].as_array().map(Vec::len), Some(12), "{s}");
    let mitdb = io::read(Path::new("signals/mitdb208.edf")).unwrap();
    let again = tmp.path().join("m.edf");
    io::save(&mitdb, &again).unwrap();
    assert_eq!(io::read(&again).unwrap().meta.start, mitdb.meta.start);
    assert!(mitdb.meta.start.is_some());
}

/// Annotations h5py wrote as biowave does are read, except one without a finite onset;
/// a group whose datasets' lengths differ is left out whole; both said on stderr by name.
#[test]
fn hdf5_annotations_without_an_onset_or_of_ragged_lengths_are_left_out_aloud() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path());
    let notes = io::read(&tmp.path().join("notes.h5")).unwrap();
    let got: Vec<(f64, Option<f64>, &str)> = (notes.meta.annotations.iter())
        .map(|a| (a.onset, a.duration, a.text.as_str()))
        .collect();
    assert_eq!(got, vec![(1.0, None, "a"), (3.0, Some(0.5), "c")]);
    assert!(io::read(&tmp.path().join("ragged.h5"))
        .unwrap()
        .meta
        .annotations
        .is_empty());
    for (file, says) in [
        (
            "notes.h5",
            "notes.h5: 1 annotations without a finite onset left out",
        ),
        ("ragged.h5", "ragged.h5: /annotations left out"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_biowave"))
            .arg("info")
            .arg(tmp.path().join(file))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && err.contains(says), "{file}: {err}");
    }
}
