//! The frame transformer's codebook on a real record: its codes keep the slow waves.

use biowave::data::{DataConfig, Dataset, Source};
use biowave::dsp::stft::SpectralConfig;
use biowave::model::codebook::Codebook;
use std::path::Path;

/// MIT-BIH 208 (lead MLII, 360 Hz) as the shipped `ecg-transformer` cuts it: 64-sample
/// frames every 16 samples of the record less its baseline below 1 Hz (`train --wander`),
/// every frame training.
fn mitdb208() -> Dataset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("signals/mitdb208.edf");
    let source = Source {
        name: path.display().to_string(),
        record: biowave::io::read(&path).unwrap(),
    };
    let cfg = DataConfig {
        spectral: SpectralConfig {
            n_fft: 64,
            hop: 16,
            ..SpectralConfig::default()
        },
        window_s: 8.0,
        val_fraction: 0.0,
        remove_baseline_hz: Some(biowave::model::wander::CUTOFF_HZ),
        ..DataConfig::default()
    };
    Dataset::build(vec![source], &cfg).unwrap()
}

/// Each training frame replaced by its nearest code must keep the frames' two lowest bins
/// (0–11 Hz: the T and P waves, the QRS's slow part) in the record's own units. Codes fitted
/// to z-scored frames, the noise bins above outweighing these, left 0.225 of their variance
/// (with 1024 codes, normal T waves 0.08 mV against the record's 0.23); fitted in the
/// frames' units, 0.037.
#[test]
fn codes_keep_the_slow_waves_of_mitdb208() {
    let data = mitdb208();
    let book = Codebook::fit(&data, 64, 1).unwrap();
    let f = data.n_features();
    let low = 4; // bins 0 and 1, re and im
    let (mut residual, mut total) = (0f64, 0f64);
    let mut mean = vec![0f64; low];
    let frames: Vec<&[f32]> = (0..data.train[0].rep.n_frames)
        .map(|t| data.train[0].rep.frame(t))
        .collect();
    for x in &frames {
        mean.iter_mut()
            .zip(*x)
            .for_each(|(m, v)| *m += f64::from(*v));
    }
    mean.iter_mut().for_each(|m| *m /= frames.len() as f64);
    for x in &frames {
        let nearest = (0..book.k())
            .min_by(|&a, &b| {
                let d = |c: usize| -> f64 {
                    let centre = &book.centres[c * f..(c + 1) * f];
                    (0..f)
                        .map(|i| f64::from((x[i] - centre[i]) * data.stats.std[i]).powi(2))
                        .sum()
                };
                d(a).total_cmp(&d(b))
            })
            .unwrap();
        let centre = &book.centres[nearest * f..(nearest + 1) * f];
        for i in 0..low {
            let s = f64::from(data.stats.std[i]);
            residual += (f64::from(x[i] - centre[i]) * s).powi(2);
            total += ((f64::from(x[i]) - mean[i]) * s).powi(2);
        }
    }
    let share = residual / total;
    assert!(
        share < 0.1,
        "the codes leave {share:.3} of the 0-11 Hz bins' variance"
    );
}
