//! QRS detection: against ECGSYN's known beat times (synthetic truth, with PVCs and noise)
//! and against NeuroKit2's detector on the real MIT-BIH 208 excerpt (agreement).
//!
//! And against the cardiologists' beat labels of MIT-BIH records 100 and 208, built from
//! PhysioNet's files by `signals/build_mitdb.py` (ANSI/AAMI EC57 scoring, NeuroKit2 scored
//! the same way in the same run).

mod common;
use biowave::data::beat_kinds::BEAT_CODES;
use biowave::dsp::qrs::{detect, match_beats, BeatMatch};
use biowave::model::physio::{params, EcgSyn};
use biowave::model::Generator;
use std::path::Path;

fn synth(kv: &[(&str, &str)], seed: u64, seconds: f64) -> (Vec<f32>, Vec<usize>, f64) {
    let o: Vec<(String, String)> = kv
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut g = EcgSyn::new(params::build(None, &o).unwrap(), seed).unwrap();
    let fs = g.spec().sample_rate;
    let mut b = biowave::block::Block::new(1, (seconds * fs) as usize);
    g.fill(&mut b).unwrap();
    let beats = (b.events.iter())
        .map(|e| (e.time * fs).round() as usize)
        .collect();
    (b.channel(0).to_vec(), beats, fs)
}

#[test]
fn detects_synthetic_beats_with_pvcs_and_noise_at_99_percent() {
    let cases: [&[(&str, &str)]; 3] = [
        &[("hr", "70"), ("hr_std", "3"), ("leads", "II")],
        &[
            ("hr", "90"),
            ("pvc_rate", "0.15"),
            ("leads", "II"),
            ("emg_mv", "0.05"),
        ],
        &[
            ("hr", "150"),
            ("leads", "V1"),
            ("mains_mv", "0.1"),
            ("mains_hz", "50"),
        ],
    ];
    for (i, kv) in cases.iter().enumerate() {
        let (x, truth, fs) = synth(kv, 7 + i as u64, 300.0);
        let found = detect(&x, fs).unwrap();
        let m = match_beats(&found, &truth, (0.15 * fs) as usize);
        eprintln!(
            "ecgsyn {kv:?}: {m:?} Se {:.4} +P {:.4}",
            m.sensitivity(),
            m.positive_predictivity()
        );
        assert!(
            m.sensitivity() >= 0.99 && m.positive_predictivity() >= 0.99,
            "{kv:?}: {m:?}"
        );
    }
}

#[test]
fn agrees_with_neurokit2_on_real_mitbih_208() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("signals/mitdb208.edf");
    let nk = common::neurokit_peaks(&file, 0);
    let rec = biowave::io::read(&file).unwrap();
    let ch = &rec.channels[0];
    let fs = ch.meta.sample_rate;
    let ours = detect(&ch.samples, fs).unwrap();
    // Skip the 10 s learning period on both sides of the comparison.
    let after = |p: &[usize]| {
        p.iter()
            .copied()
            .filter(|&i| i as f64 >= 10.0 * fs)
            .collect::<Vec<_>>()
    };
    let m = match_beats(&after(&ours), &after(&nk), (0.15 * fs) as usize);
    eprintln!(
        "mitdb208 vs neurokit2: {} ours, {} neurokit2, {m:?}, agreement Se {:.4} +P {:.4}",
        ours.len(),
        nk.len(),
        m.sensitivity(),
        m.positive_predictivity()
    );
    let tol = (0.15 * fs) as usize;
    let missed: Vec<f64> = after(&nk)
        .iter()
        .filter(|&&r| !ours.iter().any(|&d| d.abs_diff(r) <= tol))
        .map(|&r| r as f64 / fs)
        .collect();
    eprintln!("neurokit2 beats we did not detect (s): {missed:.2?}");
    assert!(
        m.sensitivity() >= 0.98 && m.positive_predictivity() >= 0.98,
        "{m:?}"
    );
}

/// Scores the detector and NeuroKit2 (the same run) against the cardiologists' beat labels
/// of a labelled MIT-BIH record in `signals/`, both leads, ±150 ms, after a 10 s learning
/// period; returns per lead (label, ours, NeuroKit2's).
fn against_labels(name: &str, least_beats: usize) -> Vec<(String, BeatMatch, BeatMatch)> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("signals")
        .join(name);
    let rec = biowave::io::read(&file).unwrap();
    let fs = rec.channels[0].meta.sample_rate;
    let after = |p: Vec<usize>| -> Vec<usize> {
        p.into_iter().filter(|&i| i as f64 >= 10.0 * fs).collect()
    };
    let labels = rec.meta.annotations.iter();
    let beats = labels.filter(|a| BEAT_CODES.contains(&a.text.as_str()));
    let reference = after(beats.map(|a| (a.onset * fs).round() as usize).collect());
    assert!(
        reference.len() > least_beats,
        "{} labelled beats",
        reference.len()
    );
    let tol = (0.15 * fs) as usize;
    let mut out = Vec::new();
    for (i, ch) in rec.channels.iter().enumerate() {
        let ours = match_beats(&after(detect(&ch.samples, fs).unwrap()), &reference, tol);
        let nk = match_beats(&after(common::neurokit_peaks(&file, i)), &reference, tol);
        eprintln!(
            "{name} {}: ours Se {:.4} +P {:.4} {ours:?}; neurokit2 Se {:.4} +P {:.4} {nk:?}",
            ch.meta.label,
            ours.sensitivity(),
            ours.positive_predictivity(),
            nk.sensitivity(),
            nk.positive_predictivity()
        );
        out.push((ch.meta.label.clone(), ours, nk));
    }
    out
}

/// MIT-BIH record 100 (2272 labelled beats in signals/mitdb100.edf): a regular sinus
/// rhythm, clean beats.
#[test]
fn finds_the_labelled_beats_of_real_mitbih_100() {
    for (lead, ours, _) in against_labels("mitdb100.edf", 2200) {
        assert!(
            ours.sensitivity() >= 0.995 && ours.positive_predictivity() >= 0.995,
            "{lead}: {ours:?}"
        );
    }
}

/// MIT-BIH record 208 (2938 labelled beats after 10 s in signals/mitdb208_full.edf):
/// frequent PVCs, fusion beats, couplets and triplets, the record the shipped ECG models
/// learn. On MLII the detector finds 99.4 % of them, as NeuroKit2 does. On V1 its normal
/// beats have under a third of the PVCs' slope (a thirteenth squared), under the adaptive
/// threshold the PVCs set, and both detectors find about half of the beats: there the
/// detector is held to NeuroKit2's level, not to the labels.
#[test]
fn finds_the_labelled_beats_of_real_mitbih_208() {
    for (lead, ours, nk) in against_labels("mitdb208_full.edf", 2900) {
        let (se, pp) = (ours.sensitivity(), ours.positive_predictivity());
        match lead.as_str() {
            "MLII" => assert!(se >= 0.99 && pp >= 0.995, "{lead}: {ours:?}"),
            _ => assert!(
                se >= nk.sensitivity() - 0.02 && pp >= 0.95,
                "{lead}: {ours:?} against neurokit2 {nk:?}"
            ),
        }
    }
}
