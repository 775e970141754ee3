//! Physiological generators: heart rate and HRV, AF, PVCs, ST, lead amplitudes, EEG
//! spectra, determinism and seam-freedom across block sizes.

use biowave::block::Block;
use biowave::model::physio::{params, BeatKind, EcgParams, EcgSyn, Eeg, EegParams};
use biowave::model::Generator;
use rustfft::num_complex::Complex;

fn ecg(kv: &[(&str, &str)]) -> EcgParams {
    let o: Vec<(String, String)> = kv
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    params::build(None, &o).unwrap()
}

fn eeg(kv: &[(&str, &str)]) -> EegParams {
    let o: Vec<(String, String)> = kv
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    params::build(None, &o).unwrap()
}

fn run(g: &mut dyn Generator, seconds: f64) -> Block {
    let n = (seconds * g.spec().sample_rate).round() as usize;
    let mut b = Block::new(g.spec().n_channels(), n);
    g.fill(&mut b).unwrap();
    b
}

/// R peaks (seconds) by biowave's Pan–Tompkins detector.
fn r_peaks(x: &[f32], fs: f64) -> Vec<f64> {
    let peaks = biowave::dsp::qrs::detect(x, fs).unwrap();
    peaks.iter().map(|&i| i as f64 / fs).collect()
}

fn hr_stats(peaks: &[f64]) -> (f64, f64, f64) {
    let rr: Vec<f64> = peaks.windows(2).map(|w| w[1] - w[0]).collect();
    let hr: Vec<f64> = rr.iter().map(|r| 60.0 / r).collect();
    let m = hr.iter().sum::<f64>() / hr.len() as f64;
    let sd = (hr.iter().map(|h| (h - m).powi(2)).sum::<f64>() / (hr.len() - 1) as f64).sqrt();
    let rmssd =
        (rr.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum::<f64>() / (rr.len() - 1) as f64).sqrt();
    (m, sd, rmssd)
}

#[test]
fn detected_r_peaks_give_requested_hr_and_hr_std() {
    for (hr, sd, seed) in [(72.0, 3.0, 1), (50.0, 2.0, 2), (120.0, 5.0, 3)] {
        let (h, s) = (hr.to_string(), sd.to_string());
        let mut g = EcgSyn::new(ecg(&[("hr", &h), ("hr_std", &s), ("leads", "II")]), seed).unwrap();
        let b = run(&mut g, 300.0);
        let peaks = r_peaks(b.channel(0), 500.0);
        let beats: Vec<f64> = b.events.iter().map(|e| e.time).collect();
        assert!(
            peaks.len().abs_diff(beats.len()) <= 1,
            "{} detected vs {} generated",
            peaks.len(),
            beats.len()
        );
        let (m, s, _) = hr_stats(&peaks);
        assert!((m - hr).abs() < 2.0, "mean HR {m} for {hr}");
        assert!((s - sd).abs() < 0.2 * sd, "HR std {s} for {sd}");
    }
}

/// Mean of lead II around the R peaks (−300..+500 ms), i.e. a signal-averaged beat.
fn template(x: &[f32], peaks: &[f64], fs: f64) -> Vec<f64> {
    let (pre, post) = ((0.3 * fs) as usize, (0.5 * fs) as usize);
    let mut acc = vec![0.0; pre + post];
    let mut n = 0.0;
    for &p in peaks {
        let i = (p * fs).round() as usize;
        if i >= pre && i + post < x.len() {
            for (k, a) in acc.iter_mut().enumerate() {
                *a += x[i - pre + k] as f64;
            }
            n += 1.0;
        }
    }
    acc.iter().map(|a| a / n).collect()
}

#[test]
fn af_is_irregular_without_p_waves_but_with_f_waves() {
    let fs = 500.0;
    let mut sinus = EcgSyn::new(ecg(&[("hr", "80"), ("leads", "II,V1")]), 5).unwrap();
    let mut af = EcgSyn::new(
        ecg(&[("rhythm", "af"), ("hr", "80"), ("leads", "II,V1")]),
        5,
    )
    .unwrap();
    let (bs, ba) = (run(&mut sinus, 120.0), run(&mut af, 120.0));
    let (ps, pa) = (r_peaks(bs.channel(0), fs), r_peaks(ba.channel(0), fs));
    let (_, _, rmssd_s) = hr_stats(&ps);
    let (m_af, _, rmssd_a) = hr_stats(&pa);
    assert!(
        rmssd_a > 0.1 && rmssd_a > 5.0 * rmssd_s,
        "RMSSD AF {rmssd_a} sinus {rmssd_s}"
    );
    assert!((m_af - 80.0).abs() < 8.0, "AF mean HR {m_af}");
    let p_wave = |t: &[f64]| {
        let w = &t[(0.05 * fs) as usize..(0.22 * fs) as usize];
        w.iter().cloned().fold(f64::MIN, f64::max) - t[0]
    };
    let (ts, ta) = (
        template(bs.channel(0), &ps, fs),
        template(ba.channel(0), &pa, fs),
    );
    assert!(p_wave(&ts) > 0.08, "sinus P wave {} mV", p_wave(&ts));
    assert!(p_wave(&ta) < 0.04, "AF P wave {} mV", p_wave(&ta));
    // f-waves: the AF baseline between beats carries 4-9 Hz power, the sinus one not.
    let diastole_rms = |x: &[f32], peaks: &[f64]| {
        let mut s = 0.0;
        let mut n = 0.0;
        for w in peaks.windows(2) {
            let (a, b) = (((w[0] + 0.45) * fs) as usize, ((w[1] - 0.25) * fs) as usize);
            if b > a + 10 {
                let seg = &x[a..b];
                let m = seg.iter().map(|v| *v as f64).sum::<f64>() / seg.len() as f64;
                s += seg.iter().map(|v| (*v as f64 - m).powi(2)).sum::<f64>();
                n += seg.len() as f64;
            }
        }
        (s / n).sqrt()
    };
    let (fa, fsn) = (
        diastole_rms(ba.channel(1), &pa),
        diastole_rms(bs.channel(1), &ps),
    );
    assert!(
        fa > 0.03 && fa > 3.0 * fsn,
        "V1 diastolic RMS AF {fa} sinus {fsn}"
    );
}

#[test]
fn lead_amplitudes_are_physiological_and_einthoven_holds() {
    let mut g = EcgSyn::new(ecg(&[]), 7).unwrap();
    let b = run(&mut g, 20.0);
    let names: Vec<&str> = g.spec().channels.iter().map(|c| c.label.as_str()).collect();
    let ch = |n: &str| b.channel(names.iter().position(|l| *l == n).unwrap());
    let max = |x: &[f32]| x.iter().cloned().fold(f32::MIN, f32::max);
    let min = |x: &[f32]| x.iter().cloned().fold(f32::MAX, f32::min);
    assert!(
        (0.9..=1.6).contains(&max(ch("II"))),
        "R in II {}",
        max(ch("II"))
    );
    for n in names.iter() {
        let pp = max(ch(n)) - min(ch(n));
        // aVL is nearly perpendicular to a +60° axis, hence the low bound.
        assert!((0.2..=3.5).contains(&pp), "{n}: peak-to-peak {pp} mV");
    }
    assert!(
        -min(ch("V1")) > max(ch("V1")),
        "V1 should be rS (S deeper than R)"
    );
    assert!(
        max(ch("V5")) > -min(ch("V5")),
        "V5 should be dominantly positive"
    );
    assert!(-min(ch("aVR")) > max(ch("aVR")), "aVR should be negative");
    for i in 0..b.n_frames {
        let (l1, l2, l3) = (ch("I")[i], ch("II")[i], ch("III")[i]);
        assert!((l3 - (l2 - l1)).abs() < 1e-5);
        assert!((ch("aVR")[i] + (l1 + l2) / 2.0).abs() < 1e-5);
        assert!((ch("aVF")[i] - (l2 - l1 / 2.0)).abs() < 1e-5);
    }
}

#[test]
fn pvcs_come_at_the_rate_asked_with_compensatory_pauses() {
    let mut g = EcgSyn::new(
        ecg(&[
            ("pvc_rate", "0.1"),
            ("hr", "70"),
            ("hr_std", "1"),
            ("leads", "II"),
        ]),
        11,
    )
    .unwrap();
    let b = run(&mut g, 600.0);
    let (beats, pvc) = (&b.events, BeatKind::Pvc.code());
    let n_pvc = beats.iter().filter(|b| b.label == pvc).count();
    let n_norm = beats.len() - n_pvc;
    let frac = n_pvc as f64 / n_norm as f64;
    assert!((0.06..=0.14).contains(&frac), "PVC fraction {frac}");
    let rr = 60.0 / 70.0;
    for w in beats.windows(3).filter(|w| w[1].label == pvc) {
        let coupling = w[1].time - w[0].time;
        let around = w[2].time - w[0].time;
        assert!((coupling / rr - 0.6).abs() < 0.1, "coupling {coupling}");
        assert!(
            (around / rr - 2.0).abs() < 0.15,
            "compensatory pause: {around} s around the PVC"
        );
    }
    // PVC QRS is wider than a normal QRS: width at half amplitude of |signal|.
    let x = b.channel(0);
    let width = |t: f64| {
        let i = (t * 500.0) as usize;
        let w = &x[i - 100..i + 100];
        let peak = w.iter().map(|v| v.abs()).fold(0.0, f32::max);
        w.iter().filter(|v| v.abs() > peak / 2.0).count()
    };
    let mid: Vec<_> = beats
        .iter()
        .filter(|b| b.time > 1.0 && b.time < 599.0)
        .collect();
    let wn = mid
        .iter()
        .filter(|b| b.label == BeatKind::Normal.code())
        .map(|b| width(b.time))
        .sum::<usize>() as f64
        / n_norm as f64;
    let wv = mid
        .iter()
        .filter(|b| b.label == pvc)
        .map(|b| width(b.time))
        .sum::<usize>() as f64
        / n_pvc as f64;
    assert!(wv > 1.8 * wn, "PVC half-width {wv} samples vs normal {wn}");
}

#[test]
fn st_shift_appears_in_the_named_lead() {
    let level = |st: &str| {
        let mut g = EcgSyn::new(
            ecg(&[
                ("st_mv", st),
                ("st_lead", "V2"),
                ("leads", "V2"),
                ("hr", "60"),
                ("hr_std", "0"),
            ]),
            3,
        )
        .unwrap();
        let b = run(&mut g, 10.0);
        let i = ((b.events[3].time + 0.12) * 500.0) as usize;
        b.channel(0)[i] as f64
    };
    let (base, up, down) = (level("0"), level("0.2"), level("-0.15"));
    assert!((up - base - 0.2).abs() < 0.06, "ST elevation {}", up - base);
    assert!(
        (down - base + 0.15).abs() < 0.05,
        "ST depression {}",
        down - base
    );
}

#[test]
fn artefacts_and_lead_off() {
    let p = ecg(&[
        ("leads", "I,II"),
        ("mains_mv", "0.1"),
        ("mains_hz", "60"),
        ("lead_off", "I"),
        ("lead_off_mv", "-3"),
        ("lead_off_at_s", "2"),
    ]);
    let mut g = EcgSyn::new(p, 1).unwrap();
    let b = run(&mut g, 4.0);
    assert!(
        b.channel(0)[1000..].iter().all(|v| *v == -3.0),
        "lead I flat at -3 mV after 2 s"
    );
    assert!(b.channel(0)[..1000].iter().any(|v| *v != -3.0));
    let x: Vec<f64> = b.channel(1).iter().map(|v| *v as f64).collect();
    let psd = welch(&x, 500.0, 1000);
    let bin = |f: f64| psd[(f / 0.5).round() as usize];
    assert!(
        bin(60.0) > 50.0 * bin(55.0) && bin(60.0) > 50.0 * bin(65.0),
        "mains line at 60 Hz"
    );
    // EMG raises high-frequency power; baseline wander raises power below 0.5 Hz.
    let mut clean = EcgSyn::new(ecg(&[("leads", "II")]), 1).unwrap();
    let mut noisy = EcgSyn::new(
        ecg(&[
            ("leads", "II"),
            ("emg_mv", "0.05"),
            ("baseline_mv", "0.3"),
            ("motion_mv", "0.3"),
        ]),
        1,
    )
    .unwrap();
    let (c, n) = (run(&mut clean, 60.0), run(&mut noisy, 60.0));
    let pc = welch(
        &c.channel(0).iter().map(|v| *v as f64).collect::<Vec<_>>(),
        500.0,
        2048,
    );
    let pn = welch(
        &n.channel(0).iter().map(|v| *v as f64).collect::<Vec<_>>(),
        500.0,
        2048,
    );
    let band = |p: &[f64], lo: f64, hi: f64| {
        let df = 500.0 / 2048.0;
        p[(lo / df) as usize..(hi / df) as usize]
            .iter()
            .sum::<f64>()
    };
    assert!(
        band(&pn, 100.0, 200.0) > 10.0 * band(&pc, 100.0, 200.0),
        "EMG"
    );
    assert!(
        band(&pn, 0.1, 0.5) > 3.0 * band(&pc, 0.1, 0.5),
        "baseline wander"
    );
}

/// Welch PSD with a Hann window and 50 % overlap (one-sided, arbitrary scale).
fn welch(x: &[f64], _fs: f64, n: usize) -> Vec<f64> {
    let fft = rustfft::FftPlanner::new().plan_fft_forward(n);
    let win: Vec<f64> = (0..n)
        .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos())
        .collect();
    let mut psd = vec![0.0; n / 2 + 1];
    let mut start = 0;
    while start + n <= x.len() {
        let seg = &x[start..start + n];
        let m = seg.iter().sum::<f64>() / n as f64;
        let mut buf: Vec<Complex<f64>> = seg
            .iter()
            .zip(&win)
            .map(|(v, w)| Complex::new((v - m) * w, 0.0))
            .collect();
        fft.process(&mut buf);
        for (p, c) in psd.iter_mut().zip(&buf) {
            *p += c.norm_sqr();
        }
        start += n / 2;
    }
    psd
}

#[test]
fn eeg_band_powers_peak_where_asked() {
    for (alpha, seed) in [(10.0, 1), (8.5, 2), (11.5, 3)] {
        let mut g = Eeg::new(
            eeg(&[("alpha_hz", &alpha.to_string()), ("channels", "Fz,O1,O2")]),
            seed,
        )
        .unwrap();
        let b = run(&mut g, 60.0);
        let x: Vec<f64> = b.channel(1).iter().map(|v| *v as f64).collect();
        let psd = welch(&x, 256.0, 512);
        let df = 256.0 / 512.0;
        let (lo, hi) = ((4.0 / df) as usize, (30.0 / df) as usize);
        let k = (lo..hi).max_by(|&a, &b| psd[a].total_cmp(&psd[b])).unwrap();
        assert!(
            (k as f64 * df - alpha).abs() <= 0.6,
            "O1 peak at {} Hz for alpha {alpha}",
            k as f64 * df
        );
        // Alpha is occipital: O1 alpha-band power exceeds Fz's.
        let fz: Vec<f64> = b.channel(0).iter().map(|v| *v as f64).collect();
        let pf = welch(&fz, 256.0, 512);
        let band = |p: &[f64]| {
            p[((alpha - 1.0) / df) as usize..((alpha + 1.0) / df) as usize]
                .iter()
                .sum::<f64>()
        };
        assert!(band(&psd) > 2.0 * band(&pf));
    }
    // Beta peak where asked on a fronto-central channel with alpha off.
    let mut g = Eeg::new(
        eeg(&[
            ("alpha_uv", "0"),
            ("theta_uv", "0"),
            ("beta_uv", "8"),
            ("beta_hz", "22"),
            ("channels", "Cz"),
        ]),
        4,
    )
    .unwrap();
    let x: Vec<f64> = run(&mut g, 60.0)
        .channel(0)
        .iter()
        .map(|v| *v as f64)
        .collect();
    let psd = welch(&x, 256.0, 512);
    let k = (24..120)
        .max_by(|&a, &b| psd[a].total_cmp(&psd[b]))
        .unwrap();
    assert!(
        (k as f64 * 0.5 - 22.0).abs() <= 0.6,
        "beta peak {}",
        k as f64 * 0.5
    );
}

#[test]
fn eeg_background_follows_one_over_f_and_neighbours_correlate() {
    for beta in [1.0, 1.6] {
        let p = eeg(&[
            ("exponent", &beta.to_string()),
            ("alpha_uv", "0"),
            ("beta_uv", "0"),
            ("theta_uv", "0"),
        ]);
        let mut g = Eeg::new(p, 9).unwrap();
        let b = run(&mut g, 120.0);
        let x: Vec<f64> = b.channel(9).iter().map(|v| *v as f64).collect();
        let psd = welch(&x, 256.0, 1024);
        let df = 0.25;
        let pts: Vec<(f64, f64)> = (8..160)
            .map(|k| ((k as f64 * df).ln(), psd[k].ln()))
            .collect();
        let n = pts.len() as f64;
        let (mx, my) = (
            pts.iter().map(|p| p.0).sum::<f64>() / n,
            pts.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let slope = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>()
            / pts.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
        assert!(
            (slope + beta).abs() < 0.3,
            "slope {slope} for exponent {beta}"
        );
        let corr = |a: usize, c: usize| {
            let (x, y) = (b.channel(a), b.channel(c));
            let dot = |u: &[f32], v: &[f32]| {
                u.iter()
                    .zip(v)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum::<f64>()
            };
            dot(x, y) / (dot(x, x) * dot(y, y)).sqrt()
        };
        // C3 (8) with Cz (9) neighbours vs Fp1 (0) with O2 (18) far apart.
        assert!(
            corr(8, 9) > 0.15 && corr(8, 9) > corr(0, 18) + 0.1,
            "C3-Cz {} Fp1-O2 {}",
            corr(8, 9),
            corr(0, 18)
        );
    }
}

#[test]
fn eeg_transients_and_blinks_show_up() {
    let p = eeg(&[
        ("blink_rate_per_min", "20"),
        ("spindle_rate_per_min", "6"),
        ("kcomplex_rate_per_min", "4"),
    ]);
    let mut g = Eeg::new(p, 2).unwrap();
    let b = run(&mut g, 60.0);
    let peak = |c: usize| b.channel(c).iter().map(|v| v.abs()).fold(0.0, f32::max);
    let mut quiet = Eeg::new(eeg(&[]), 2).unwrap();
    let q = run(&mut quiet, 30.0);
    for c in 0..q.n_channels {
        let x = q.channel(c);
        let rms = (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
        assert!(
            (5.0..=60.0).contains(&rms),
            "channel {c}: resting EEG RMS {rms} µV"
        );
    }
    assert!(
        peak(0) > 120.0 && peak(0) > 2.0 * peak(17),
        "blinks frontal: Fp1 {} O1 {}",
        peak(0),
        peak(17)
    );
}

fn assert_block_invariant(make: &dyn Fn() -> Box<dyn Generator>, total: usize) {
    let mut one = make();
    let nc = one.spec().n_channels();
    let mut whole = Block::new(nc, total);
    one.fill(&mut whole).unwrap();
    let mut g = make();
    let sizes = [1usize, 7, 333, 64, 1000, 13];
    let mut got = vec![vec![]; nc];
    let mut done = 0;
    let mut k = 0;
    while done < total {
        let n = sizes[k % sizes.len()].min(total - done);
        let mut b = Block::new(nc, n);
        g.fill(&mut b).unwrap();
        assert_eq!(b.start_index, done as u64);
        for (c, v) in got.iter_mut().enumerate() {
            v.extend_from_slice(b.channel(c));
        }
        done += n;
        k += 1;
    }
    for (c, v) in got.iter().enumerate() {
        assert!(
            v.iter()
                .zip(whole.channel(c))
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "channel {c} differs"
        );
    }
}

#[test]
fn blocks_of_any_size_give_the_same_samples() {
    let all = [
        ("pvc_rate", "0.2"),
        ("baseline_mv", "0.1"),
        ("mains_mv", "0.05"),
        ("emg_mv", "0.02"),
        ("motion_mv", "0.2"),
        ("motion_rate_hz", "1"),
    ];
    assert_block_invariant(&|| Box::new(EcgSyn::new(ecg(&all), 42).unwrap()), 20_000);
    assert_block_invariant(
        &|| Box::new(EcgSyn::new(ecg(&[("rhythm", "af")]), 42).unwrap()),
        10_000,
    );
    let e = [
        ("blink_rate_per_min", "30"),
        ("spindle_rate_per_min", "20"),
        ("kcomplex_rate_per_min", "20"),
        ("muscle_uv", "5"),
        ("mains_uv", "3"),
    ];
    assert_block_invariant(&|| Box::new(Eeg::new(eeg(&e), 42).unwrap()), 10_000);
}

#[test]
fn same_seed_same_samples_other_seed_other_samples() {
    let take =
        |name: &str, seed| run(biowave::model::by_name(name, seed).unwrap().as_mut(), 5.0).data;
    for m in ["ecgsyn", "eeg"] {
        assert_eq!(take(m, 1), take(m, 1));
        assert_ne!(take(m, 1), take(m, 2));
    }
}

/// Each block carries its own R peaks and the generator keeps none (memory stays flat for
/// days): two 30 s blocks label the beats one 60 s block does, with the same samples.
#[test]
fn each_block_carries_its_own_beats() {
    let mut whole = EcgSyn::new(ecg(&[("leads", "II")]), 4).unwrap();
    let mut halves = EcgSyn::new(ecg(&[("leads", "II")]), 4).unwrap();
    let a = run(&mut whole, 60.0);
    let (b1, b2) = (run(&mut halves, 30.0), run(&mut halves, 30.0));
    assert_eq!(
        a.channel(0),
        [b1.channel(0), b2.channel(0)].concat(),
        "the same signal in one block or two"
    );
    assert_eq!(a.events, [b1.events.clone(), b2.events.clone()].concat());
    let n = a.events.len();
    assert!((50..=100).contains(&n), "{n} beats in 60 s");
}
