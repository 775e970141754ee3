//! dsp on the real recordings in signals/: STFT round trips, the model representation,
//! streaming inverse, and (in `scipy_*` tests) cross-checks against scipy.signal.

use biowave::dsp::{snr_db, Representation, SpectralConfig, Stft, StreamingIstft, Window};
use biowave::record::Record;
use std::path::Path;

fn signal(name: &str) -> Record {
    biowave::io::read(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("signals")
            .join(name),
    )
    .unwrap()
}

const FILES: [&str; 3] = ["mitdb208.edf", "phyaat_eeg14.edf", "ecg12_sample1.edf"];

/// Configurations the models may use: the default, scipy's default (50 %), a small frame.
fn configs() -> [SpectralConfig; 3] {
    [
        SpectralConfig::default(),
        SpectralConfig {
            n_fft: 256,
            hop: 128,
            window: Window::Hann,
        },
        SpectralConfig {
            n_fft: 64,
            hop: 16,
            window: Window::Hann,
        },
    ]
}

#[test]
fn stft_istft_round_trip_of_real_ecg_and_eeg_exceeds_60_db() {
    for file in FILES {
        let rec = signal(file);
        for cfg in configs() {
            let mut stft = Stft::new(&cfg).unwrap();
            let (mut spec, mut y) = (Vec::new(), Vec::new());
            for ch in &rec.channels {
                stft.forward(&ch.samples, &mut spec);
                stft.inverse(&spec, ch.samples.len(), &mut y).unwrap();
                let snr = snr_db(&ch.samples, &y);
                eprintln!(
                    "stft round trip {file} {} n_fft {} hop {}: {snr:.1} dB",
                    ch.meta.label, cfg.n_fft, cfg.hop
                );
                assert!(snr >= 60.0, "{file} {} {cfg:?}: {snr:.1} dB", ch.meta.label);
            }
        }
    }
}

#[test]
fn model_representation_round_trip_of_real_records_exceeds_40_db() {
    for file in FILES {
        let rec = signal(file);
        for cfg in configs() {
            let rep = Representation::from_record(&rec, &cfg).unwrap();
            assert_eq!(rep.data.len(), rep.n_frames * rep.n_features());
            let back = rep.to_record(&rec).unwrap();
            for (a, b) in rec.channels.iter().zip(&back.channels) {
                assert_eq!(a.meta, b.meta);
                let snr = snr_db(&a.samples, &b.samples);
                eprintln!(
                    "representation {file} {} n_fft {} hop {}: {snr:.1} dB",
                    a.meta.label, cfg.n_fft, cfg.hop
                );
                assert!(snr >= 40.0, "{file} {} {cfg:?}: {snr:.1} dB", a.meta.label);
            }
        }
    }
}

#[test]
fn streaming_istft_equals_batch_on_real_ecg() {
    let rec = signal("ecg12_sample1.edf");
    let cfg = SpectralConfig::default();
    let mut stft = Stft::new(&cfg).unwrap();
    let (mut spec, mut batch) = (Vec::new(), Vec::new());
    for ch in rec.channels.iter().take(3) {
        let x = &ch.samples;
        stft.forward(x, &mut spec);
        stft.inverse(&spec, x.len(), &mut batch).unwrap();
        let mut st = StreamingIstft::new(&cfg).unwrap();
        let mut got = Vec::new();
        let mut block = vec![0.0f32; 100]; // 200 ms blocks, not a multiple of the hop
        for frame in spec.chunks(cfg.n_bins()) {
            st.push(frame).unwrap();
            while st.available() >= block.len() {
                st.pull(&mut block);
                got.extend_from_slice(&block);
            }
        }
        st.finish();
        let k = st.pull(&mut block);
        got.extend_from_slice(&block[..k]);
        let k = st.pull(&mut block);
        got.extend_from_slice(&block[..k]);
        assert!(got.len() >= x.len(), "{} < {}", got.len(), x.len());
        assert_eq!(&got[..x.len()], &batch[..], "{}", ch.meta.label);
    }
}

/// One cross-check case for tests/py/dsp_check.py.
struct Case {
    name: String,
    kind: &'static str,
    input: Vec<f32>,
    output: Vec<f32>,
    params: serde_json::Value,
}

fn stft_cases(cases: &mut Vec<Case>, name: &str, x: &[f32], cfg: SpectralConfig) {
    let mut stft = Stft::new(&cfg).unwrap();
    let (mut spec, mut y) = (Vec::new(), Vec::new());
    stft.forward(x, &mut spec);
    let flat: Vec<f32> = spec.iter().flat_map(|c| [c.re, c.im]).collect();
    // Perturb the spectrum so the inverse is checked on frames no forward STFT made.
    let edited: Vec<biowave::dsp::Complex32> = spec
        .iter()
        .enumerate()
        .map(|(i, c)| c * (1.0 + 0.3 * ((i % 7) as f32 / 7.0)))
        .collect();
    stft.inverse(&edited, x.len(), &mut y).unwrap();
    let mut params = serde_json::to_value(cfg).unwrap();
    cases.push(Case {
        name: format!("stft {name}"),
        kind: "stft",
        input: x.to_vec(),
        output: flat,
        params: params.clone(),
    });
    params["n_samples"] = x.len().into();
    let edited_flat = edited.iter().flat_map(|c| [c.re, c.im]).collect();
    cases.push(Case {
        name: format!("istft {name}"),
        kind: "istft",
        input: edited_flat,
        output: y,
        params,
    });
}

fn filter_case(cases: &mut Vec<Case>, name: &str, x: &[f32], fs: f64, spec: serde_json::Value) {
    use biowave::dsp::filter::{butter, notch, Band};
    let cut = &spec["cutoff"];
    let sos = match spec["type"].as_str().unwrap() {
        "notch" => notch(
            spec["f0"].as_f64().unwrap(),
            spec["q"].as_f64().unwrap(),
            fs,
        ),
        t => {
            let band = match t {
                "lowpass" => Band::Lowpass(cut.as_f64().unwrap()),
                "highpass" => Band::Highpass(cut.as_f64().unwrap()),
                _ => Band::Bandpass(cut[0].as_f64().unwrap(), cut[1].as_f64().unwrap()),
            };
            butter(spec["order"].as_u64().unwrap() as usize, band, fs)
        }
    }
    .unwrap();
    let y = sos.filtfilt(x).unwrap();
    let params = serde_json::json!({ "fs": fs, "filter": spec });
    cases.push(Case {
        name: format!("sosfiltfilt {name}"),
        kind: "sosfiltfilt",
        input: x.to_vec(),
        output: y,
        params,
    });
}

fn resample_case(cases: &mut Vec<Case>, name: &str, x: &[f32], up: usize, down: usize) {
    let y = biowave::dsp::resample::resample_poly(x, up, down).unwrap();
    let params = serde_json::json!({ "up": up, "down": down });
    cases.push(Case {
        name: format!("resample_poly {name} {up}/{down}"),
        kind: "resample",
        input: x.to_vec(),
        output: y,
        params,
    });
}

fn write_f32(path: &Path, x: &[f32]) {
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn scipy_signal_agrees_on_stft_istft_resample_poly_and_sosfiltfilt() {
    use serde_json::json;
    let ecg = signal("mitdb208.edf").channels.remove(0).samples;
    let eeg = signal("phyaat_eeg14.edf").channels.remove(0).samples;
    let ecg12 = signal("ecg12_sample1.edf").channels.remove(1).samples;
    let mut cases = Vec::new();
    stft_cases(
        &mut cases,
        "mitdb208 hann 256/64",
        &ecg,
        SpectralConfig::default(),
    );
    let kaiser = SpectralConfig {
        n_fft: 128,
        hop: 32,
        window: Window::Kaiser { beta: 8.0 },
    };
    stft_cases(&mut cases, "eeg kaiser 128/32", &eeg, kaiser);
    let hamming = SpectralConfig {
        n_fft: 512,
        hop: 128,
        window: Window::Hamming,
    };
    stft_cases(&mut cases, "ecg12 hamming 512/128", &ecg12, hamming);
    let blackman = SpectralConfig {
        n_fft: 64,
        hop: 16,
        window: Window::Blackman,
    };
    stft_cases(&mut cases, "ecg12 blackman 64/16", &ecg12, blackman);
    resample_case(&mut cases, "mitdb208 360→500", &ecg, 25, 18);
    resample_case(&mut cases, "ecg12 1000→256 ratio", &ecg12, 32, 125);
    resample_case(&mut cases, "eeg 128→250", &eeg, 125, 64);
    filter_case(
        &mut cases,
        "mitdb208 bp 0.5-40",
        &ecg,
        360.0,
        json!({"type": "bandpass", "order": 2, "cutoff": [0.5, 40.0]}),
    );
    filter_case(
        &mut cases,
        "mitdb208 notch 60",
        &ecg,
        360.0,
        json!({"type": "notch", "f0": 60.0, "q": 30.0}),
    );
    filter_case(
        &mut cases,
        "eeg hp 1",
        &eeg,
        128.0,
        json!({"type": "highpass", "order": 4, "cutoff": 1.0}),
    );
    filter_case(
        &mut cases,
        "ecg12 lp 3rd 30",
        &ecg12,
        500.0,
        json!({"type": "lowpass", "order": 3, "cutoff": 30.0}),
    );
    filter_case(
        &mut cases,
        "eeg bp 8-13 order 5",
        &eeg,
        128.0,
        json!({"type": "bandpass", "order": 5, "cutoff": [8.0, 13.0]}),
    );

    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let (input, output) = (format!("in{i}.f32"), format!("out{i}.f32"));
        write_f32(&dir.path().join(&input), &c.input);
        write_f32(&dir.path().join(&output), &c.output);
        manifest.push(json!({"name": c.name, "kind": c.kind, "input": input, "output": output, "params": c.params}));
    }
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/dsp_check.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect(
            "python3 is required for the scipy cross-check (pip install -r tests/requirements.txt)",
        );
    assert!(
        out.status.success(),
        "dsp_check.py failed (needs numpy and scipy): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), cases.len(), "one result per case");
    for r in &lines {
        assert!(r.get("error").is_none(), "{r}");
        let (max_abs, scale) = (r["max_abs"].as_f64().unwrap(), r["scale"].as_f64().unwrap());
        eprintln!(
            "vs scipy: {:<40} max |diff| {max_abs:.3e} (scale {scale:.3e})",
            r["name"].as_str().unwrap()
        );
        assert!(max_abs <= 1e-5 * scale.max(1.0), "{r}");
    }
}

#[test]
fn stream_decoder_of_the_representation_equals_the_batch_inverse_on_12_lead_ecg() {
    let rec = signal("ecg12_sample1.edf");
    let cfg = SpectralConfig::default();
    let rep = Representation::from_record(&rec, &cfg).unwrap();
    let batch = rep.to_channels().unwrap();
    let mut dec = biowave::dsp::StreamDecoder::new(&cfg, rep.n_channels).unwrap();
    let len = 50; // 100 ms blocks at 500 Hz
    let mut block = vec![0.0f32; len * rep.n_channels];
    let mut got = vec![Vec::new(); rep.n_channels];
    for t in 0..rep.n_frames {
        dec.push(rep.frame(t)).unwrap();
        while dec.pull(&mut block, len) {
            for (g, b) in got.iter_mut().zip(block.chunks(len)) {
                g.extend_from_slice(b);
            }
        }
    }
    dec.finish();
    while dec.pull(&mut block, len) {
        for (g, b) in got.iter_mut().zip(block.chunks(len)) {
            g.extend_from_slice(b);
        }
    }
    for (g, b) in got.iter().zip(&batch) {
        assert!(g.len() >= b.len() - len);
        let n = g.len().min(b.len());
        assert_eq!(&g[..n], &b[..n]);
    }
    assert!(dec.push(&[0.0; 3]).is_err());
}
