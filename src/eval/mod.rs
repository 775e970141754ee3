//! Evaluation: fidelity and privacy metrics of synthetic against real signals, with a
//! phase-randomised surrogate and white noise as baselines, and an HTML report.
//!
//! [`windows`] cuts recordings into windows, [`features`] describes each window, [`psd`]
//! is Welch's estimator, [`metrics`] compares two sets, [`baselines`] makes the reference
//! sets, [`report`] draws the page. The formulas are in README.md ("Evaluation").

pub mod baselines;
pub mod features;
pub mod labels;
pub mod metrics;
pub mod psd;
pub mod report;
pub mod windows;

use features::Kind;
use metrics::{column_stats, median, standardise};
use windows::Windows;

/// Settings of one evaluation.
#[derive(Debug, Clone)]
pub struct Config {
    /// Window length in seconds.
    pub window_s: f64,
    /// Cross-validation folds of the discriminative score.
    pub folds: usize,
    /// Seed of the baselines and the folds.
    pub seed: u64,
}

/// How one candidate set compares with the real set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    /// `synthetic`, `phase-randomised surrogate`, `white noise` or (with training data)
    /// `training-data surrogate`.
    pub name: String,
    /// Windows compared.
    pub windows: usize,
    /// Log-spectral distance between mean PSDs in the band, dB.
    pub psd_distance_db: f64,
    /// MMD² of z-normalised features (RBF, median heuristic).
    pub mmd2: f64,
    /// Cross-validated ROC AUC of real vs this set (0.5 = indistinguishable).
    pub discriminative_auc: f64,
    /// ECG: mean heart rate (bpm) of this set.
    pub hr_mean: Option<f64>,
    /// ECG: mean SDNN (ms).
    pub sdnn_ms: Option<f64>,
    /// ECG: mean RMSSD (ms).
    pub rmssd_ms: Option<f64>,
    /// ECG: correlation of median beat templates with the real one.
    pub template_corr: Option<f64>,
    /// EEG: relative delta/theta/alpha/beta power.
    pub band_powers: Option<[f64; 4]>,
    /// Two or more channels: mean |r| of the channel pairs, within windows.
    pub channel_corr: Option<f64>,
    /// Two or more channels: rms difference of the pairs' r from the real set's.
    pub channel_corr_rmse: Option<f64>,
    /// How much this set's windows differ from one another beside the real ones
    /// ([`metrics::spread_ratio`]: median over features of the ratio of interquartile ranges
    /// over windows); below 1 a generator draws windows too alike (1 for the real set).
    pub spread: Option<f64>,
    /// The features that tell this set from the real one best, each on its own (most
    /// telling first): what to look at when the AUC is high.
    pub telltales: Vec<Telltale>,
    /// Mean PSD (first channel), for plots.
    #[serde(skip)]
    pub mean_psd: Vec<f64>,
}

/// One feature's power, alone, to tell a set from the real one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Telltale {
    /// The feature (`features::names`), e.g. `MLII skewness`.
    pub feature: String,
    /// ROC AUC of the feature alone (0.5: alike; above: the set's values run higher).
    pub auc: f64,
    /// Median over the real windows.
    pub real_median: f64,
    /// Median over this set's windows.
    pub median: f64,
}

/// How many telltale features a comparison lists.
pub const TELLTALES: usize = 5;

/// The `TELLTALES` features (columns of `real` and `set`, named by `names`) whose AUC alone
/// lies furthest from 0.5.
fn telltales(names: &[String], real: &[Vec<f64>], set: &[Vec<f64>]) -> Vec<Telltale> {
    let column = |rows: &[Vec<f64>], j: usize| -> Vec<f64> {
        rows.iter().filter_map(|r| r.get(j).copied()).collect()
    };
    let mut all: Vec<Telltale> = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let (a, b) = (column(real, j), column(set, j));
            Telltale {
                feature: name.clone(),
                auc: metrics::feature_auc(&a, &b),
                real_median: finite_median(&a),
                median: finite_median(&b),
            }
        })
        .collect();
    all.sort_by(|x, y| (y.auc - 0.5).abs().total_cmp(&(x.auc - 0.5).abs()));
    all.truncate(TELLTALES);
    all
}

/// Median of the finite values (NaN if none).
fn finite_median(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    median(&f)
}

/// Memorisation checks against the generator's training data.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Privacy {
    /// Median distance to the closest training window: synthetic over held-out real
    /// (below 1 hints that the generator copies its training data).
    pub dcr_ratio: f64,
    /// Share of synthetic windows closer to training than the 5th percentile of real ones.
    pub share_below_p5: f64,
    /// Median distance to the closest training window: synthetic over the training windows'
    /// own (each to the others, its two neighbours in time left out). Unlike `dcr_ratio` it
    /// does not move when the held-out data differ from the training data; below 1 the
    /// synthetic windows sit closer to the training windows than those sit to each other.
    pub dcr_ratio_train: f64,
}

/// Everything `biowave eval` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Signal kind guessed from units and labels.
    pub kind: Kind,
    /// Sample rate.
    pub sample_rate: f64,
    /// Channels compared.
    pub channels: Vec<String>,
    /// Real windows.
    pub real_windows: usize,
    /// The real set's own statistics (HR etc.), for reference.
    pub real: Comparison,
    /// Synthetic, then the baselines.
    pub comparisons: Vec<Comparison>,
    /// With `--train`.
    pub privacy: Option<Privacy>,
    /// Where the real records label their beats (MIT-BIH codes): theirs against the
    /// synthetic records' ([`labels::compare`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beat_labels: Option<labels::LabelComparison>,
    /// Frequencies of `mean_psd` bins, Hz.
    #[serde(skip)]
    pub freqs: Vec<f64>,
}

/// Per-set derived data used by several metrics.
struct SetStats {
    features: Vec<Vec<f64>>,
    mean_psd: Vec<f64>,
    channel_corr: Option<Vec<f64>>,
}

fn set_stats(w: &Windows, kind: Kind, welch: &mut psd::Welch) -> SetStats {
    let features = features::extract(w, kind, welch);
    let mut mean_psd: Vec<f64> = Vec::new();
    for win in &w.windows {
        let p = welch.psd(&win[0], w.rate);
        if mean_psd.is_empty() {
            mean_psd = vec![0.0; p.len()];
        }
        mean_psd
            .iter_mut()
            .zip(&p)
            .for_each(|(m, v)| *m += v / w.windows.len() as f64);
    }
    SetStats {
        features,
        mean_psd,
        channel_corr: metrics::channel_correlations(&w.windows),
    }
}

/// Compares `synth` (and the baselines) with `real`; `train` enables privacy metrics.
pub fn evaluate(real: &Windows, synth: &Windows, train: Option<&Windows>, cfg: &Config) -> Report {
    let kind = Kind::of(real);
    let nper = features::nperseg(real.rate, real.len());
    let mut welch = psd::Welch::new(nper);
    let r = set_stats(real, kind, &mut welch);
    let df = real.rate / nper as f64;
    let (lo, hi) = kind.band(real.rate);
    let band = (
        (lo / df).ceil() as usize,
        ((hi / df).floor() as usize + 1).min(r.mean_psd.len()),
    );
    let names = features::names(real, kind, r.mean_psd.len());
    let comparisons = candidates(real, synth, train, cfg.seed)
        .iter()
        .map(|(name, w)| {
            let s = set_stats(w, kind, &mut welch);
            let mut c = compare(name, (real, &r), (w, &s), kind, band, cfg);
            c.telltales = telltales(&names, &r.features, &s.features);
            c
        })
        .collect();
    let privacy = train.map(|t| privacy(real, synth, t, kind, &mut welch));
    let real_c = describe("real", real, kind, &r);
    let freqs = (0..r.mean_psd.len()).map(|k| k as f64 * df).collect();
    Report {
        kind,
        sample_rate: real.rate,
        channels: real.labels.clone(),
        real_windows: real.windows.len(),
        real: real_c,
        comparisons,
        privacy,
        beat_labels: None,
        freqs,
    }
}

/// The sets judged against the real windows: the synthetic one, then the baselines.
fn candidates(
    real: &Windows,
    synth: &Windows,
    train: Option<&Windows>,
    seed: u64,
) -> Vec<(String, Windows)> {
    let mut sets = vec![
        ("synthetic".to_string(), synth.clone()),
        (
            "phase-randomised surrogate".into(),
            baselines::phase_randomised(real, seed),
        ),
        ("white noise".into(), baselines::white_noise(real, seed)),
    ];
    // Held out, the surrogate of the real windows is an oracle (it keeps the held-out data's
    // own spectrum); the surrogate of the training windows is the generator one could build
    // without learning anything, from what the model saw; as many windows as the synthetic
    // set, so that the two AUCs are comparable.
    if let Some(t) = train {
        sets.push((
            "training-data surrogate".into(),
            baselines::phase_randomised(&baselines::cycled(t, synth.windows.len()), seed),
        ));
    }
    sets
}

/// One set `(w, s)` judged against the real one `(real, r)`: spectra over the bins `band`,
/// MMD² and discriminative AUC on features standardised over both, coupling, ECG templates.
fn compare(
    name: &str,
    (real, r): (&Windows, &SetStats),
    (w, s): (&Windows, &SetStats),
    kind: Kind,
    (k0, k1): (usize, usize),
    cfg: &Config,
) -> Comparison {
    let pooled: Vec<Vec<f64>> = r.features.iter().chain(&s.features).cloned().collect();
    let (m, sd) = column_stats(&pooled);
    let (zr, zs) = (
        standardise(&r.features, &m, &sd),
        standardise(&s.features, &m, &sd),
    );
    let mut c = describe(name, w, kind, s);
    c.psd_distance_db = metrics::log_spectral_distance(&r.mean_psd, &s.mean_psd, k0, k1);
    c.mmd2 = metrics::mmd2(&zr, &zs).0;
    c.discriminative_auc = metrics::discriminative_auc(&zr, &zs, cfg.folds, cfg.seed);
    c.spread = metrics::spread_ratio(&r.features, &s.features);
    c.channel_corr_rmse = r
        .channel_corr
        .as_ref()
        .zip(s.channel_corr.as_ref())
        .map(|(a, b)| {
            let sq = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
            (sq / a.len() as f64).sqrt()
        });
    if kind == Kind::Ecg {
        c.template_corr = template(real)
            .zip(template(w))
            .map(|(a, b)| metrics::correlation(&a, &b));
    }
    c
}

/// The set's own statistics (no comparison yet).
fn describe(name: &str, w: &Windows, kind: Kind, s: &SetStats) -> Comparison {
    let col = |j: usize| {
        let v: Vec<f64> = s
            .features
            .iter()
            .filter_map(|f| f.get(j))
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let d = s.features.first().map_or(0, Vec::len);
    let ecg = kind == Kind::Ecg && d >= 3;
    Comparison {
        name: name.into(),
        windows: w.windows.len(),
        psd_distance_db: 0.0,
        mmd2: 0.0,
        discriminative_auc: 0.5,
        hr_mean: if ecg { col(d - 3) } else { None },
        sdnn_ms: if ecg { col(d - 2) } else { None },
        rmssd_ms: if ecg { col(d - 1) } else { None },
        template_corr: None,
        spread: Some(1.0),
        band_powers: (kind == Kind::Eeg).then(|| band_powers(&s.mean_psd, w.rate)),
        channel_corr: s
            .channel_corr
            .as_ref()
            .map(|r| r.iter().map(|v| v.abs()).sum::<f64>() / r.len() as f64),
        channel_corr_rmse: None,
        telltales: Vec::new(),
        mean_psd: s.mean_psd.clone(),
    }
}

fn template(w: &Windows) -> Option<Vec<f64>> {
    let all: Vec<f32> = w
        .windows
        .iter()
        .flat_map(|win| win[0].iter().copied())
        .collect();
    features::beat_template(&all, w.rate)
}

/// Relative power in delta (1–4), theta (4–8), alpha (8–13), beta (13–30 Hz).
pub fn band_powers(p: &[f64], fs: f64) -> [f64; 4] {
    let df = fs / (2.0 * (p.len() - 1) as f64);
    let band = |lo: f64, hi: f64| -> f64 {
        p.iter()
            .enumerate()
            .filter(|(k, _)| (*k as f64 * df) >= lo && (*k as f64 * df) < hi)
            .map(|(_, v)| v)
            .sum()
    };
    let b = [
        band(1.0, 4.0),
        band(4.0, 8.0),
        band(8.0, 13.0),
        band(13.0, 30.0),
    ];
    let t = b.iter().sum::<f64>().max(1e-30);
    b.map(|x| x / t)
}

fn privacy(
    real: &Windows,
    synth: &Windows,
    train: &Windows,
    kind: Kind,
    welch: &mut psd::Welch,
) -> Privacy {
    let (fr, fs, ft) = (
        features::extract(real, kind, welch),
        features::extract(synth, kind, welch),
        features::extract(train, kind, welch),
    );
    let (m, sd) = column_stats(&ft);
    let (zr, zs, zt) = (
        standardise(&fr, &m, &sd),
        standardise(&fs, &m, &sd),
        standardise(&ft, &m, &sd),
    );
    let dr = metrics::closest_distances(&zr, &zt);
    let ds = metrics::closest_distances(&zs, &zt);
    let dt = metrics::closest_distances_loo(&zt, 1);
    let mut sorted = dr.clone();
    sorted.sort_by(f64::total_cmp);
    let p5 = sorted[(sorted.len() as f64 * 0.05) as usize];
    let real_median = median(&dr);
    if real_median < 1e-9 {
        tracing::warn!(
            "the real windows are in the training set: pass held-out real data with --real"
        );
    }
    Privacy {
        // NaN (null in JSON) when the "held-out" real windows are themselves training data.
        dcr_ratio: if real_median < 1e-9 {
            f64::NAN
        } else {
            median(&ds) / real_median
        },
        share_below_p5: ds.iter().filter(|&&d| d < p5).count() as f64 / ds.len().max(1) as f64,
        // NaN when the training set has too few windows for a neighbour-free comparison.
        dcr_ratio_train: match median(&dt) {
            t if t.is_finite() && t > 1e-9 => median(&ds) / t,
            _ => f64::NAN,
        },
    }
}
