//! Training data on the real recordings: record-level split, normalisation round trip
//! through the model representation, batching, and clear errors for bad input.

use biowave::data::{DataConfig, Dataset, NormStats, Part, Source};
use biowave::dsp::{snr_db, Window};
use biowave::record::Record;
use std::path::Path;

fn source(name: &str) -> Source {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("signals")
        .join(name);
    Source {
        name: path.display().to_string(),
        record: biowave::io::read(&path).unwrap(),
    }
}

/// MIT-BIH 208 cut into `n` records of equal length (real data, several "files").
fn mitdb_pieces(n: usize) -> Vec<Source> {
    let src = source("mitdb208.edf");
    let x = &src.record.channels[0].samples;
    let len = x.len() / n;
    (0..n)
        .map(|i| {
            let mut rec: Record = src.record.clone();
            rec.channels[0].samples = x[i * len..(i + 1) * len].to_vec();
            Source {
                name: format!("mitdb208 part {i}"),
                record: rec,
            }
        })
        .collect()
}

#[test]
fn split_is_by_record_and_batches_are_windows_of_their_part() {
    let cfg = DataConfig {
        window_s: 5.0,
        val_fraction: 0.3,
        seed: 9,
        ..DataConfig::default()
    };
    let ds = Dataset::build(mitdb_pieces(10), &cfg).unwrap();
    assert_eq!((ds.train.len(), ds.validation.len()), (7, 3));
    for v in &ds.validation {
        assert!(
            ds.train.iter().all(|t| t.name != v.name),
            "{} in both parts",
            v.name
        );
    }
    let f = ds.n_features();
    assert_eq!(f, 129 * 2);
    for part in [Part::Train, Part::Validation] {
        let b = ds.batches(part, 8, 0);
        let windows = b.windows().to_vec();
        let recs = ds.part(part);
        let mut seen = 0;
        for batch in b {
            assert_eq!(batch.shape[1..], [ds.window_frames, f]);
            for (k, w) in batch.data.chunks(ds.window_frames * f).enumerate() {
                let (r, s) = windows[seen + k];
                assert_eq!(w, &recs[r].rep.data[s * f..(s + ds.window_frames) * f]);
            }
            seen += batch.shape[0];
        }
        assert_eq!(seen, windows.len());
    }
    // 30 s records, 5 s windows (141 frames at 360 Hz / hop 64), stride 2.5 s.
    assert_eq!(ds.window_frames, 28);
    let order = |e| ds.batches(Part::Train, 4, e).windows().to_vec();
    assert_eq!(order(1), order(1));
    assert_ne!(order(1), order(2));
}

#[test]
fn normalised_representation_inverts_to_the_real_signal_above_40_db() {
    for file in ["mitdb208.edf", "phyaat_eeg14.edf", "ecg12_sample1.edf"] {
        let src = source(file);
        let cfg = DataConfig {
            window_s: 2.0,
            val_fraction: 0.0,
            ..DataConfig::default()
        };
        assert_eq!(cfg.spectral.window, Window::Hann);
        let ds = Dataset::build(vec![src.clone()], &cfg).unwrap();
        let p = &ds.train[0];
        // Normalised: every varying feature has mean ≈ 0 and std ≈ 1 over the record.
        let refit = NormStats::fit([&p.rep]);
        assert!(refit.mean.iter().all(|m| m.abs() < 1e-3), "{file}");
        // (Features below the floor, such as the band the recorder filtered out, are
        // treated as constant: unit scale, so they keep their tiny spread.)
        let varying = refit
            .std
            .iter()
            .zip(&ds.stats.std)
            .filter(|(_, &s)| s != 1.0);
        assert!(varying.clone().count() > refit.std.len() / 2, "{file}");
        assert!(
            varying.into_iter().all(|(s, _)| (s - 1.0).abs() < 1e-3),
            "{file}"
        );
        let mut rep = p.rep.clone();
        ds.stats.invert(&mut rep.data);
        // Training frames are the interior ones (no zero padding): the first is centred
        // on sample `first`, and the half frame at each end of the inverse is partial.
        let (half, hop) = (cfg.spectral.n_fft / 2, cfg.spectral.hop);
        let first = half.div_ceil(hop) * hop;
        assert_eq!(rep.n_samples, (rep.n_frames - 1) * hop);
        let back = rep.to_record(&src.record).unwrap();
        for (a, b) in src.record.channels.iter().zip(&back.channels) {
            let n = b.samples.len() - 2 * half;
            let snr = snr_db(
                &a.samples[first + half..first + half + n],
                &b.samples[half..half + n],
            );
            eprintln!(
                "normalised representation {file} {}: {snr:.1} dB",
                a.meta.label
            );
            assert!(snr >= 40.0, "{file} {}: {snr:.1} dB", a.meta.label);
        }
    }
}

#[test]
fn resampling_and_band_pass_are_applied_before_the_stft() {
    let cfg = DataConfig {
        window_s: 4.0,
        sample_rate: Some(500.0),
        band: Some((0.5, 40.0)),
        val_fraction: 0.0,
        ..DataConfig::default()
    };
    let ds = Dataset::build(vec![source("mitdb208.edf")], &cfg).unwrap();
    let rep = &ds.train[0].rep;
    // 150 000 samples; interior frames (n_fft 256, hop 64) are centred on 128..=149 824.
    assert_eq!((rep.sample_rate, rep.n_samples), (500.0, 149_824 - 128));
    assert_eq!(ds.window_frames, 31);
}

fn err(sources: Vec<Source>, cfg: &DataConfig) -> String {
    Dataset::build(sources, cfg).unwrap_err().to_string()
}

#[test]
fn bad_input_gives_errors_naming_the_file_and_the_field() {
    let ecg12 = source("ecg12_sample1.edf");
    let e = err(
        vec![ecg12.clone()],
        &DataConfig {
            window_s: 10.0,
            ..DataConfig::default()
        },
    );
    assert!(
        e.contains("ecg12_sample1.edf") && e.contains("shorter than the 10 s"),
        "{e}"
    );

    let eeg = source("phyaat_eeg14.edf");
    let cfg = DataConfig {
        band: Some((1.0, 70.0)),
        ..DataConfig::default()
    };
    let e = err(vec![eeg.clone()], &cfg);
    assert!(
        e.contains("phyaat_eeg14.edf") && e.contains("too low"),
        "{e}"
    );

    let mut bad = eeg.clone();
    bad.record.channels[3].samples[100] = f32::NAN;
    let e = err(vec![bad], &DataConfig::default());
    let label = &eeg.record.channels[3].meta.label;
    assert!(
        e.contains("phyaat_eeg14.edf") && e.contains(label.as_str()) && e.contains("sample 100"),
        "{e}"
    );

    let cfg = DataConfig {
        channels: Some(vec!["V9".into()]),
        ..DataConfig::default()
    };
    assert!(err(vec![ecg12.clone()], &cfg).contains("`V9`"));

    let e = err(
        vec![ecg12, eeg],
        &DataConfig {
            window_s: 1.0,
            ..DataConfig::default()
        },
    );
    assert!(e.contains("12 channels at 500 Hz"), "{e}");
}

/// `remove_baseline_hz` (what `train --wander` sets) takes the record's slow baseline out
/// of the frames and leaves the beats: MIT-BIH 208 wanders by more than its beats' slow
/// waves, so its DC bin shrinks; the QRS's bins (10-14 Hz) stay as they were.
#[test]
fn the_baseline_below_a_cut_is_left_out_of_the_frames() {
    let build = |cut| {
        let cfg = DataConfig {
            val_fraction: 0.0,
            remove_baseline_hz: cut,
            ..DataConfig::default()
        };
        Dataset::build(vec![source("mitdb208.edf")], &cfg).unwrap()
    };
    let (kept, removed) = (build(None), build(Some(1.0)));
    // n_fft 256 at 360 Hz: bin b at 1.41 b Hz, its real part feature 2 b.
    let std = |d: &Dataset, bin: usize| d.stats.std[2 * bin];
    let dc = std(&removed, 0) / std(&kept, 0);
    assert!(dc < 0.5, "DC bin's std {dc:.3} x what it was");
    for bin in 7..=10 {
        let r = std(&removed, bin) / std(&kept, bin);
        assert!(
            (r - 1.0).abs() < 0.02,
            "bin {bin}: std {r:.4} x what it was"
        );
    }
}
