//! The human table and the self-contained HTML report (inline SVG plots via `plotters`).

use super::windows::Windows;
use super::{Comparison, Report};
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// `v` with `digits` decimals, or a dash where there is none.
fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.digits$}"))
}

/// The metric table as aligned text (stdout of `biowave eval`).
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:?} · {} channels · {} Hz · {} real windows",
        r.kind,
        r.channels.len(),
        r.sample_rate,
        r.real_windows
    );
    let _ = writeln!(
        s,
        "{:<28} {:>7} {:>10} {:>9} {:>9} {:>7} {:>8} {:>8} {:>9}",
        "set", "windows", "PSD dist dB", "MMD²", "AUC", "spread", "HR bpm", "SDNN ms", "templ r"
    );
    for c in std::iter::once(&r.real).chain(&r.comparisons) {
        metric_row(&mut s, c);
    }
    telltale_lines(&mut s, r);
    eeg_lines(&mut s, r);
    privacy_lines(&mut s, r);
    label_lines(&mut s, r);
    s
}

/// The beat-label lines: each set's mix of beats, runs and per-minute ventricular burden.
fn label_lines(s: &mut String, r: &Report) {
    let Some(c) = &r.beat_labels else { return };
    let _ = writeln!(s, "beat labels (MIT-BIH codes):");
    let _ = writeln!(s, "  {:<10} {}", "real", describe_labels(&c.real));
    match (&c.synthetic, c.share_distance) {
        (Some(l), Some(d)) => {
            let _ = writeln!(s, "  {:<10} {}", "synthetic", describe_labels(l));
            let _ = writeln!(
                s,
                "  mix of kinds apart by {d:.3} (total variation; 0 = the same)"
            );
        }
        _ => {
            let _ = writeln!(s, "  {:<10} no beat labels", "synthetic");
        }
    }
}

/// One set's beat labels in a line: count, rate, the commonest kinds, V's runs and burden.
fn describe_labels(l: &super::labels::BeatLabels) -> String {
    let mut shares: Vec<(&String, &f64)> = l.shares.iter().collect();
    shares.sort_by(|a, b| b.1.total_cmp(a.1));
    let kinds: Vec<String> = (shares.iter().take(4))
        .map(|(c, v)| format!("{c} {:.1} %", 100.0 * *v))
        .collect();
    let mut line = format!(
        "{} beats in {:.0} s ({:.1} /min): {}",
        l.beats,
        l.seconds,
        60.0 * l.beats as f64 / l.seconds.max(f64::MIN_POSITIVE),
        kinds.join(", ")
    );
    if let Some(v) = l.repeat.get(super::labels::VENTRICULAR) {
        line += &format!("; V then V {v:.2}");
    }
    if let Some([lo, mid, hi]) = l.v_per_minute {
        line += &format!("; V per minute {lo:.2} / {mid:.2} / {hi:.2} (p10/median/p90)");
    }
    line
}

/// One set's row of the table.
fn metric_row(s: &mut String, c: &Comparison) {
    let _ = writeln!(
        s,
        "{:<28} {:>7} {:>10.2} {:>9.4} {:>9.3} {:>7} {:>8} {:>8} {:>9}",
        c.name,
        c.windows,
        c.psd_distance_db,
        c.mmd2,
        c.discriminative_auc,
        opt(c.spread, 2),
        opt(c.hr_mean, 3),
        opt(c.sdnn_ms, 3),
        opt(c.template_corr, 3)
    );
}

/// What tells the synthetic set (the first comparison) from the real one most, feature by
/// feature.
fn telltale_lines(s: &mut String, r: &Report) {
    let Some(c) = r.comparisons.first().filter(|c| !c.telltales.is_empty()) else {
        return;
    };
    let _ = writeln!(
        s,
        "what tells {} from real most (AUC of each feature alone, 0.5 = alike; medians real → {}):",
        c.name, c.name
    );
    for t in &c.telltales {
        let _ = writeln!(
            s,
            "  {:<40} {:>5.2}   {:.4} → {:.4}",
            t.feature, t.auc, t.real_median, t.median
        );
    }
}

/// Relative band powers and channel coupling per set, where the report has them.
fn eeg_lines(s: &mut String, r: &Report) {
    if let Some(b) = &r.real.band_powers {
        let _ = writeln!(s, "relative band power δ/θ/α/β: real {:.2?}", b);
        for c in &r.comparisons {
            let _ = writeln!(
                s,
                "  {:<26} {:.2?}",
                c.name,
                c.band_powers.unwrap_or_default()
            );
        }
    }
    if let Some(real) = r.real.channel_corr {
        let _ = writeln!(
            s,
            "channel coupling, mean |r| of channel pairs: real {real:.3}"
        );
        for c in &r.comparisons {
            let _ = writeln!(
                s,
                "  {:<26} {} (rms difference of r {})",
                c.name,
                opt(c.channel_corr, 3),
                opt(c.channel_corr_rmse, 3)
            );
        }
    }
}

/// The distance-to-closest-record ratios, when training data was given.
fn privacy_lines(s: &mut String, r: &Report) {
    if let Some(p) = &r.privacy {
        let _ = writeln!(s, "privacy: DCR ratio (synthetic / held-out real, median) {:.3}; synthetic closer than real p5: {:.1} %", p.dcr_ratio, 100.0 * p.share_below_p5);
        let _ = writeln!(
            s,
            "         DCR ratio (synthetic / training windows to each other, median) {:.3}",
            p.dcr_ratio_train
        );
    }
}

fn svg(
    draw: impl FnOnce(DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (640, 260)).into_drawing_area();
        let _ = root.fill(&WHITE);
        if let Err(e) = draw(root.clone()) {
            tracing::warn!("plot: {e}");
        }
        let _ = root.present();
    }
    out
}

/// x and y ranges of the points, `None` when either is empty.
fn bounds(pts: impl Iterator<Item = (f64, f64)>) -> Option<(f64, f64, f64, f64)> {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    (x0 < x1 && y0 < y1).then_some((x0, x1, y0, y1))
}

/// A named, coloured polyline.
type Series<'a> = (&'a str, Vec<(f64, f64)>, RGBColor);

fn lines(series: &[Series], log_y: bool) -> String {
    svg(|root| {
        let ty = |y: f64| if log_y { y.max(1e-30).log10() } else { y };
        let all = series
            .iter()
            .flat_map(|s| s.1.iter())
            .map(|&(x, y)| (x, ty(y)));
        let Some((x0, x1, y0, y1)) = bounds(all) else {
            return Ok(());
        };
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().disable_mesh().draw().ok();
        for (_, pts, color) in series {
            let p = pts.iter().map(|&(x, y)| (x, ty(y)));
            chart
                .draw_series(LineSeries::new(p, color))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

fn scatter(groups: &[(Vec<(f64, f64)>, RGBColor)]) -> String {
    svg(|root| {
        let Some((x0, x1, y0, y1)) = bounds(groups.iter().flat_map(|g| g.0.iter().copied())) else {
            return Ok(());
        };
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        for (p, c) in groups {
            chart
                .draw_series(p.iter().map(|&xy| Circle::new(xy, 3, c.filled())))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// First two principal components of standardised rows (power iteration).
pub fn pca2(rows: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let d = rows.first().map_or(0, Vec::len);
    if d == 0 {
        return Vec::new();
    }
    let (m, sd) = super::metrics::column_stats(rows);
    let z = super::metrics::standardise(rows, &m, &sd);
    let cov = |v: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; d];
        for r in &z {
            let p: f64 = r.iter().zip(v).map(|(a, b)| a * b).sum();
            out.iter_mut().zip(r).for_each(|(o, x)| *o += p * x);
        }
        out
    };
    let mut comps: Vec<Vec<f64>> = Vec::new();
    for k in 0..2 {
        let mut v: Vec<f64> = (0..d).map(|i| ((i + k) % 3) as f64 + 1.0).collect();
        for _ in 0..100 {
            let mut w = cov(&v);
            for c in &comps {
                let p: f64 = w.iter().zip(c).map(|(a, b)| a * b).sum();
                w.iter_mut().zip(c).for_each(|(x, y)| *x -= p * y);
            }
            let n = w.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-30);
            v = w.into_iter().map(|x| x / n).collect();
        }
        comps.push(v);
    }
    z.iter()
        .map(|r| {
            let p = |c: &[f64]| r.iter().zip(c).map(|(a, b)| a * b).sum::<f64>();
            (p(&comps[0]), p(&comps[1]))
        })
        .collect()
}

const REAL: RGBColor = RGBColor(31, 119, 180);
const SYNTH: RGBColor = RGBColor(214, 39, 40);
const SURR: RGBColor = RGBColor(44, 160, 44);
const NOISE: RGBColor = RGBColor(127, 127, 127);
const TRAIN_SURR: RGBColor = RGBColor(255, 127, 14);

/// Writes `dir/index.html`: waveforms, PSD overlay, HR histogram (ECG), PCA scatter, table.
pub fn write_html(dir: &Path, r: &Report, real: &Windows, synth: &Windows) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let waves = waves_svg(real, synth);
    let psds = psd_svg(r);
    let (scatter_svg, hr) = feature_plots(real, synth);
    let train_key = if r.comparisons.len() > 3 {
        "<span style=\"color:#ff7f0e\">■ training-data surrogate</span>"
    } else {
        ""
    };
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>biowave eval</title>\
         <style>body{{font-family:sans-serif;max-width:720px;margin:2em auto}}pre{{background:#f4f4f4;padding:1em;overflow-x:auto}}\
         .k span{{padding:0 .6em}}</style></head><body><h1>biowave eval</h1>\
         <p class=\"k\"><span style=\"color:#1f77b4\">■ real</span><span style=\"color:#d62728\">■ synthetic</span>\
         <span style=\"color:#2ca02c\">■ phase-randomised surrogate</span><span style=\"color:#7f7f7f\">■ white noise</span>{train_key}</p>\
         <h2>Metrics</h2><pre>{}</pre><h2>Example waveforms (first window, first channel, 5 s)</h2>{waves}\
         <h2>Mean PSD (log scale)</h2>{psds}{hr}<h2>Feature space (PCA, first two components)</h2>{scatter_svg}\
         </body></html>",
        html_escape(&table(r))
    );
    std::fs::write(dir.join("index.html"), html)?;
    std::fs::write(
        dir.join("metrics.json"),
        serde_json::to_string_pretty(r).unwrap_or_default(),
    )
}

/// The first 5 s of the first window's first channel, real and synthetic.
fn waves_svg(real: &Windows, synth: &Windows) -> String {
    let wave = |w: &Windows| -> Vec<(f64, f64)> {
        let x = &w.windows[0][0];
        let n = x.len().min((5.0 * w.rate) as usize);
        (0..n)
            .map(|i| (i as f64 / w.rate, f64::from(x[i])))
            .collect()
    };
    lines(
        &[
            ("real", wave(real), REAL),
            ("synthetic", wave(synth), SYNTH),
        ],
        false,
    )
}

/// Mean PSDs of the real set and every compared set, log scale.
fn psd_svg(r: &Report) -> String {
    let psd = |c: &Comparison| -> Vec<(f64, f64)> {
        r.freqs
            .iter()
            .copied()
            .zip(c.mean_psd.iter().copied())
            .skip(1)
            .collect()
    };
    let mut series = vec![("real", psd(&r.real), REAL)];
    for (c, color) in r.comparisons.iter().zip([SYNTH, SURR, NOISE, TRAIN_SURR]) {
        series.push((c.name.as_str(), psd(c), color));
    }
    lines(&series, true)
}

/// The PCA scatter of the real and synthetic windows' features, and for ECG the section
/// with their heart-rate histograms (empty otherwise).
fn feature_plots(real: &Windows, synth: &Windows) -> (String, String) {
    let kind = super::Kind::of(real);
    let mut welch = super::psd::Welch::new(super::features::nperseg(real.rate, real.len()));
    let fr = super::features::extract(real, kind, &mut welch);
    let fs = super::features::extract(synth, kind, &mut welch);
    let n_real = fr.len();
    let pc = pca2(&fr.iter().chain(&fs).cloned().collect::<Vec<_>>());
    let scatter_svg = scatter(&[
        (pc[..n_real].to_vec(), REAL),
        (pc[n_real..].to_vec(), SYNTH),
    ]);
    let hr = if kind == super::Kind::Ecg {
        format!(
            "<h2>Heart rate (windows per 5 bpm bin, 30–180 bpm)</h2>{}",
            lines(
                &[
                    ("real", hr_hist(&fr), REAL),
                    ("synthetic", hr_hist(&fs), SYNTH)
                ],
                false
            )
        )
    } else {
        String::new()
    };
    (scatter_svg, hr)
}

/// Share of windows per 5 bpm bin from 30 to 180 bpm (HR is the third-last ECG feature).
fn hr_hist(f: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let mut bins = vec![0.0; 30];
    let d = f.first().map_or(0, Vec::len);
    for row in f {
        let h = row[d - 3];
        if h.is_finite() {
            bins[((h - 30.0) / 5.0).clamp(0.0, 29.0) as usize] += 1.0 / f.len() as f64;
        }
    }
    bins.iter()
        .enumerate()
        .map(|(i, &b)| (30.0 + 5.0 * i as f64, b))
        .collect()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
