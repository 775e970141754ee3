//! Per-window features: log Welch PSD in the signal's band (pooled into bands), std,
//! skewness, kurtosis, zero-crossing rate, line length; for ECG, HR, SDNN and RMSSD.

use super::psd::Welch;
use super::windows::Windows;

/// PSD bands each channel's spectrum is pooled into.
pub const PSD_BANDS: usize = 16;

/// What kind of signal, from units and labels: it decides the band and ECG features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// mV, or ECG lead labels.
    Ecg,
    /// µV.
    Eeg,
    /// Anything else.
    Other,
}

impl Kind {
    /// Guesses the kind from the first channel's unit and label.
    pub fn of(w: &Windows) -> Kind {
        let unit = w.units.first().map(|u| u.as_str()).unwrap_or("");
        let label = w
            .labels
            .first()
            .map(|l| l.to_ascii_uppercase())
            .unwrap_or_default();
        if unit == "mV" || label.contains("ECG") || label.starts_with("MLII") {
            Kind::Ecg
        } else if matches!(unit, "uV" | "µV") {
            Kind::Eeg
        } else {
            Kind::Other
        }
    }

    /// The band compared, Hz (capped below Nyquist).
    pub fn band(self, fs: f64) -> (f64, f64) {
        let hi = match self {
            Kind::Ecg => 40.0,
            Kind::Eeg => 40.0,
            Kind::Other => fs / 2.0,
        };
        (0.5, hi.min(fs / 2.0 * 0.95))
    }
}

/// Segment length for Welch at `fs`: about 2 s, a power of two, at most the window.
pub fn nperseg(fs: f64, window: usize) -> usize {
    let target = (2.0 * fs) as usize;
    target
        .next_power_of_two()
        .min(window.next_power_of_two() / 2)
        .max(16)
}

/// Features of every window (rows), NaN where a feature is undefined (e.g. no beats).
pub fn extract(w: &Windows, kind: Kind, welch: &mut Welch) -> Vec<Vec<f64>> {
    let (lo, hi) = kind.band(w.rate);
    w.windows
        .iter()
        .map(|win| {
            let mut f = Vec::new();
            for x in win {
                let p = welch.psd(x, w.rate);
                f.extend(pooled_log_psd(&p, w.rate, lo, hi));
                f.extend(moments(x));
            }
            if kind == Kind::Ecg {
                f.extend(hrv(&win[0], w.rate));
            }
            f
        })
        .collect()
}

/// log10 PSD averaged in `PSD_BANDS` equal bands of `[lo, hi]`.
pub fn pooled_log_psd(p: &[f64], fs: f64, lo: f64, hi: f64) -> Vec<f64> {
    band_bins(p.len(), fs, lo, hi)
        .map(|(a, e)| {
            let m = p[a..e].iter().sum::<f64>() / (e - a) as f64;
            (m + 1e-20).log10()
        })
        .collect()
}

/// The bins `a..e` of a one-sided PSD of `len` bins that each of the `PSD_BANDS` bands of
/// `[lo, hi]` pools.
fn band_bins(len: usize, fs: f64, lo: f64, hi: f64) -> impl Iterator<Item = (usize, usize)> {
    let df = fs / (2.0 * (len - 1) as f64);
    let (k0, k1) = (
        ((lo / df).ceil() as usize).max(1),
        ((hi / df).floor() as usize).min(len - 1),
    );
    let span = (k1.saturating_sub(k0) + 1).max(PSD_BANDS);
    (0..PSD_BANDS).map(move |b| {
        let a = (k0 + b * span / PSD_BANDS).min(len - 1);
        (a, (k0 + (b + 1) * span / PSD_BANDS).min(len).max(a + 1))
    })
}

/// What [`moments`] returns, in order.
const MOMENTS: [&str; 5] = [
    "std",
    "skewness",
    "kurtosis",
    "zero-crossing rate",
    "line length",
];

/// Names of the columns [`extract`] gives windows of `w` (PSDs of `psd_len` bins), in order:
/// per channel its pooled PSD bands (with their frequencies) and moments, then for ECG the
/// first channel's HR, SDNN and RMSSD.
pub fn names(w: &Windows, kind: Kind, psd_len: usize) -> Vec<String> {
    let (lo, hi) = kind.band(w.rate);
    let df = w.rate / (2.0 * (psd_len.max(2) - 1) as f64);
    let mut out = Vec::new();
    for label in &w.labels {
        for (a, e) in band_bins(psd_len.max(2), w.rate, lo, hi) {
            let (f0, f1) = (a as f64 * df, e as f64 * df);
            out.push(format!("{label} log PSD {f0:.1}–{f1:.1} Hz"));
        }
        out.extend(MOMENTS.iter().map(|m| format!("{label} {m}")));
    }
    if kind == Kind::Ecg {
        out.extend(["HR", "SDNN", "RMSSD"].map(String::from));
    }
    out
}

/// std, skewness, excess kurtosis, zero-crossing rate (per sample) and line length (mean
/// |Δx| / std) of one channel.
pub fn moments(x: &[f32]) -> [f64; 5] {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
    for &v in x {
        let d = f64::from(v) - mean;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
    }
    let (m2, m3, m4) = (m2 / n, m3 / n, m4 / n);
    let sd = m2.sqrt().max(1e-12);
    let zc = x
        .windows(2)
        .filter(|p| (f64::from(p[0]) - mean) * (f64::from(p[1]) - mean) < 0.0)
        .count() as f64
        / n;
    let ll = x
        .windows(2)
        .map(|p| f64::from((p[1] - p[0]).abs()))
        .sum::<f64>()
        / (n - 1.0)
        / sd;
    [sd, m3 / sd.powi(3), m4 / (sd * sd * sd * sd) - 3.0, zc, ll]
}

/// Heart rate (bpm), SDNN and RMSSD (ms) from detected R peaks; NaN with under 3 beats.
pub fn hrv(x: &[f32], fs: f64) -> [f64; 3] {
    let peaks = crate::dsp::qrs::detect(x, fs).unwrap_or_default();
    let rr: Vec<f64> = peaks
        .windows(2)
        .map(|p| (p[1] - p[0]) as f64 / fs * 1000.0)
        .collect();
    if rr.len() < 2 {
        return [f64::NAN; 3];
    }
    let mean = rr.iter().sum::<f64>() / rr.len() as f64;
    let sdnn = (rr.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rr.len() as f64).sqrt();
    let rmssd =
        (rr.windows(2).map(|d| (d[1] - d[0]).powi(2)).sum::<f64>() / (rr.len() - 1) as f64).sqrt();
    [60_000.0 / mean, sdnn, rmssd]
}

/// Median beat template (±250 ms around each R peak) of one channel, if it has beats.
pub fn beat_template(x: &[f32], fs: f64) -> Option<Vec<f64>> {
    let half = (0.25 * fs) as usize;
    let peaks = crate::dsp::qrs::detect(x, fs).ok()?;
    let beats: Vec<&[f32]> = peaks
        .iter()
        .filter(|&&p| p >= half && p + half < x.len())
        .map(|&p| &x[p - half..p + half])
        .collect();
    if beats.len() < 3 {
        return None;
    }
    Some(
        (0..2 * half)
            .map(|i| {
                let mut col: Vec<f64> = beats.iter().map(|b| f64::from(b[i])).collect();
                col.sort_by(f64::total_cmp);
                col[col.len() / 2]
            })
            .collect(),
    )
}
