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
