//! Parameters of the physiological models: serde structs with defaults, built from a TOML
//! table and `key=value` overrides, and validated with errors that name the field.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Cardiac rhythm of the ECGSYN model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rhythm {
    /// Normal sinus rhythm (default 72 bpm).
    Normal,
    /// Sinus bradycardia (default 45 bpm; HR must be below 60).
    Brady,
    /// Sinus tachycardia (default 130 bpm; HR must be above 100).
    Tachy,
    /// Atrial fibrillation: irregular RR, no P waves, fibrillatory f-waves.
    Af,
}

impl Rhythm {
    /// Heart rate used when none is given.
    pub fn default_hr(self) -> f64 {
        match self {
            Rhythm::Normal => 72.0,
            Rhythm::Brady => 45.0,
            Rhythm::Tachy => 130.0,
            Rhythm::Af => 100.0,
        }
    }
}

/// ECGSYN parameters (McSharry et al. 2003) plus rhythm, lead and artefact options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EcgParams {
    /// Output sample rate, Hz.
    pub fs: f64,
    /// Leads: `12`, `3` (I, II, III), `1` (II) or a comma list such as `II,V1,V5`.
    pub leads: String,
    /// Rhythm: normal, brady, tachy, af.
    pub rhythm: Rhythm,
    /// Mean heart rate, bpm (default depends on the rhythm).
    pub hr: Option<f64>,
    /// Standard deviation of the heart rate, bpm (sinus rhythms).
    pub hr_std: f64,
    /// LF/HF power ratio of the RR spectrum (Mayer over RSA peak).
    pub lf_hf: f64,
    /// Centre of the Mayer-wave (LF) peak, Hz.
    pub mayer_hz: f64,
    /// Centre of the respiratory sinus arrhythmia (HF) peak, Hz.
    pub rsa_hz: f64,
    /// Standard deviation of the LF peak, Hz.
    pub mayer_width_hz: f64,
    /// Standard deviation of the HF peak, Hz.
    pub rsa_width_hz: f64,
    /// Coefficient of variation of RR intervals in AF.
    pub af_rr_cv: f64,
    /// Dominant frequency of the AF fibrillatory waves, Hz.
    pub fwave_hz: f64,
    /// Amplitude of the fibrillatory waves (dipole magnitude), mV.
    pub fwave_mv: f64,
    /// Fraction of conducted beats followed by a premature ventricular contraction.
    pub pvc_rate: f64,
    /// PVC coupling interval as a fraction of the RR interval.
    pub pvc_coupling: f64,
    /// PVC QRS dipole magnitude, mV.
    pub pvc_mv: f64,
    /// ST deviation in `st_lead`, mV (positive = elevation).
    pub st_mv: f64,
    /// Lead in which the ST deviation equals `st_mv`.
    pub st_lead: String,
    /// Corner of the ECGSYN damping term `−λ z` (λ = 2π·damping_hz), Hz: 0.159 is the
    /// original model (λ = 1/s); the default 0.05 matches a diagnostic AC-coupled front end.
    pub damping_hz: f64,
    /// P, Q, R, S, T angles at 60 bpm, degrees.
    pub wave_angle_deg: [f64; 5],
    /// P, Q, R, S, T Gaussian widths at 60 bpm, radians.
    pub wave_width_rad: [f64; 5],
    /// P, Q, R, S, T dipole magnitudes, mV.
    pub wave_amp_mv: [f64; 5],
    /// Baseline wander amplitude, mV.
    pub baseline_mv: f64,
    /// Mains frequency, Hz (50 or 60).
    pub mains_hz: f64,
    /// Mains interference amplitude, mV.
    pub mains_mv: f64,
    /// EMG (muscle) noise RMS, mV.
    pub emg_mv: f64,
    /// EMG level as a signal-to-noise ratio, dB (overrides `emg_mv`): noise RMS =
    /// QRS peak-to-peak in lead II / (√8 · 10^(snr/20)), the MIT-BIH noise-stress-test rule.
    pub emg_snr_db: Option<f64>,
    /// Electrode-motion artefact amplitude, mV.
    pub motion_mv: f64,
    /// Electrode-motion events per second.
    pub motion_rate_hz: f64,
    /// Leads that are off (flat line at `lead_off_mv`), comma list.
    pub lead_off: String,
    /// Offset of a lead that is off, mV.
    pub lead_off_mv: f64,
    /// Time at which the leads in `lead_off` go off, s.
    pub lead_off_at_s: f64,
}

impl Default for EcgParams {
    fn default() -> Self {
        Self {
            fs: 500.0,
            leads: "12".into(),
            rhythm: Rhythm::Normal,
            hr: None,
            hr_std: 2.0,
            lf_hf: 0.5,
            mayer_hz: 0.1,
            rsa_hz: 0.25,
            mayer_width_hz: 0.01,
            rsa_width_hz: 0.01,
            af_rr_cv: 0.2,
            fwave_hz: 6.0,
            fwave_mv: 0.08,
            pvc_rate: 0.0,
            pvc_coupling: 0.6,
            pvc_mv: 2.2,
            st_mv: 0.0,
            st_lead: "II".into(),
            damping_hz: 0.05,
            wave_angle_deg: [-70.0, -15.0, 0.0, 15.0, 100.0],
            wave_width_rad: [0.25, 0.1, 0.1, 0.1, 0.4],
            wave_amp_mv: [0.2, 0.15, 1.7, 0.3, 0.45],
            baseline_mv: 0.0,
            mains_hz: 50.0,
            mains_mv: 0.0,
            emg_mv: 0.0,
            emg_snr_db: None,
            motion_mv: 0.0,
            motion_rate_hz: 0.2,
            lead_off: String::new(),
            lead_off_mv: 0.0,
            lead_off_at_s: 0.0,
        }
    }
}

impl EcgParams {
    /// Mean heart rate in bpm: `hr`, or the rhythm's default.
    pub fn mean_hr(&self) -> f64 {
        self.hr.unwrap_or_else(|| self.rhythm.default_hr())
    }
}

/// Spectral EEG parameters: aperiodic background, rhythms, transients, artefacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EegParams {
    /// Output sample rate, Hz.
    pub fs: f64,
    /// Channels: `10-20` (19 electrodes) or a comma list of 10-20 labels.
    pub channels: String,
    /// Exponent of the 1/f^exponent background (0 < exponent < 2).
    pub exponent: f64,
    /// Background RMS, µV.
    pub background_uv: f64,
    /// Alpha peak frequency, Hz (occipital).
    pub alpha_hz: f64,
    /// Alpha RMS at its focus, µV.
    pub alpha_uv: f64,
    /// Beta peak frequency, Hz (fronto-central).
    pub beta_hz: f64,
    /// Beta RMS at its focus, µV.
    pub beta_uv: f64,
    /// Theta peak frequency, Hz (frontal midline).
    pub theta_hz: f64,
    /// Theta RMS at its focus, µV.
    pub theta_uv: f64,
    /// Bandwidth of each rhythm, Hz.
    pub rhythm_bw_hz: f64,
    /// Depth of the slow amplitude modulation of rhythms, 0..1.
    pub am_depth: f64,
    /// Sleep spindles per minute (0 = none).
    pub spindle_rate_per_min: f64,
    /// Spindle frequency, Hz.
    pub spindle_hz: f64,
    /// Spindle peak amplitude, µV.
    pub spindle_uv: f64,
    /// K-complexes per minute (0 = none).
    pub kcomplex_rate_per_min: f64,
    /// K-complex peak amplitude, µV.
    pub kcomplex_uv: f64,
    /// Length constant of the spatial correlation (head radius = 1).
    pub spatial_length: f64,
    /// Eye blinks per minute (0 = none).
    pub blink_rate_per_min: f64,
    /// Blink amplitude at Fp1/Fp2, µV.
    pub blink_uv: f64,
    /// Muscle artefact RMS on temporal/frontal channels, µV.
    pub muscle_uv: f64,
    /// Mains frequency, Hz.
    pub mains_hz: f64,
    /// Mains amplitude, µV.
    pub mains_uv: f64,
}

impl Default for EegParams {
    fn default() -> Self {
        Self {
            fs: 256.0,
            channels: "10-20".into(),
            exponent: 1.2,
            background_uv: 12.0,
            alpha_hz: 10.0,
            alpha_uv: 15.0,
            beta_hz: 20.0,
            beta_uv: 3.0,
            theta_hz: 6.0,
            theta_uv: 4.0,
            rhythm_bw_hz: 1.0,
            am_depth: 0.5,
            spindle_rate_per_min: 0.0,
            spindle_hz: 13.0,
            spindle_uv: 30.0,
            kcomplex_rate_per_min: 0.0,
            kcomplex_uv: 100.0,
            spatial_length: 0.4,
            blink_rate_per_min: 0.0,
            blink_uv: 150.0,
            muscle_uv: 0.0,
            mains_hz: 50.0,
            mains_uv: 0.0,
        }
    }
}

/// Checks a parameter set; the error names the field and the allowed range.
pub trait Validate {
    /// `Err("field: why")` when a value is unusable.
    fn validate(&self) -> Result<(), String>;
}

fn range(name: &str, v: f64, lo: f64, hi: f64, unit: &str) -> Result<(), String> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(format!("`{name}` = {v} is outside {lo}..={hi} {unit}"))
    }
}

/// Each `(name, value, low, high, unit)` in turn through [`range`]: the first out of its
/// range is the error.
fn ranges(checks: &[(&str, f64, f64, f64, &str)]) -> Result<(), String> {
    checks
        .iter()
        .try_for_each(|&(name, v, lo, hi, unit)| range(name, v, lo, hi, unit))
}

impl Validate for EcgParams {
    fn validate(&self) -> Result<(), String> {
        range("fs", self.fs, 50.0, 20_000.0, "Hz")?;
        self.check_rhythm()?;
        self.check_waves()?;
        self.check_artefacts()
    }
}

impl EcgParams {
    /// Heart rate, its variability, AF and PVC settings.
    fn check_rhythm(&self) -> Result<(), String> {
        if let Some(hr) = self.hr {
            range("hr", hr, 20.0, 300.0, "bpm")?;
        }
        let hr = self.mean_hr();
        match self.rhythm {
            Rhythm::Brady if hr >= 60.0 => {
                return Err(format!("`hr` = {hr}: bradycardia needs hr < 60 bpm"))
            }
            Rhythm::Tachy if hr <= 100.0 => {
                return Err(format!("`hr` = {hr}: tachycardia needs hr > 100 bpm"))
            }
            _ => {}
        }
        ranges(&[
            ("hr_std", self.hr_std, 0.0, hr / 4.0, "bpm (at most hr/4)"),
            ("lf_hf", self.lf_hf, 0.01, 100.0, ""),
            ("mayer_hz", self.mayer_hz, 0.02, 0.2, "Hz"),
            ("rsa_hz", self.rsa_hz, 0.1, 0.5, "Hz"),
            ("mayer_width_hz", self.mayer_width_hz, 0.001, 0.1, "Hz"),
            ("rsa_width_hz", self.rsa_width_hz, 0.001, 0.1, "Hz"),
            ("af_rr_cv", self.af_rr_cv, 0.0, 0.5, ""),
            ("fwave_hz", self.fwave_hz, 3.0, 12.0, "Hz"),
            ("fwave_mv", self.fwave_mv, 0.0, 1.0, "mV"),
            ("pvc_rate", self.pvc_rate, 0.0, 0.5, "(fraction of beats)"),
            (
                "pvc_coupling",
                self.pvc_coupling,
                0.5,
                0.9,
                "(fraction of RR)",
            ),
            ("pvc_mv", self.pvc_mv, 0.0, 10.0, "mV"),
        ])
    }

    /// ST shift, damping, and the angle, width and height of each of the P–T waves.
    fn check_waves(&self) -> Result<(), String> {
        range("st_mv", self.st_mv, -2.0, 2.0, "mV")?;
        range("damping_hz", self.damping_hz, 0.01, 2.0, "Hz")?;
        super::leads::Lead::parse(&self.st_lead).map_err(|e| format!("`st_lead`: {e}"))?;
        let waves = [
            ("wave_angle_deg", &self.wave_angle_deg, -180.0, 180.0, "deg"),
            ("wave_width_rad", &self.wave_width_rad, 0.01, 1.5, "rad"),
            ("wave_amp_mv", &self.wave_amp_mv, 0.0, 10.0, "mV"),
        ];
        for (i, w) in ["P", "Q", "R", "S", "T"].iter().enumerate() {
            for (field, values, lo, hi, unit) in waves {
                range(&format!("{field}[{w}]"), values[i], lo, hi, unit)?;
            }
        }
        Ok(())
    }

    /// Baseline, mains, EMG, motion and lead-off artefacts, and the lead lists.
    fn check_artefacts(&self) -> Result<(), String> {
        range("baseline_mv", self.baseline_mv, 0.0, 10.0, "mV")?;
        let nyq = self.fs / 2.0;
        range("mains_hz", self.mains_hz, 1.0, nyq, "Hz (below fs/2)")?;
        range("mains_mv", self.mains_mv, 0.0, 10.0, "mV")?;
        range("emg_mv", self.emg_mv, 0.0, 10.0, "mV")?;
        if let Some(snr) = self.emg_snr_db {
            range("emg_snr_db", snr, -20.0, 80.0, "dB")?;
        }
        ranges(&[
            ("motion_mv", self.motion_mv, 0.0, 10.0, "mV"),
            ("motion_rate_hz", self.motion_rate_hz, 0.0, 10.0, "per s"),
            ("lead_off_mv", self.lead_off_mv, -100.0, 100.0, "mV"),
            ("lead_off_at_s", self.lead_off_at_s, 0.0, 1e9, "s"),
        ])?;
        super::leads::parse_set(&self.leads).map_err(|e| format!("`leads`: {e}"))?;
        super::leads::parse_list(&self.lead_off).map_err(|e| format!("`lead_off`: {e}"))?;
        Ok(())
    }
}

impl Validate for EegParams {
    fn validate(&self) -> Result<(), String> {
        range("fs", self.fs, 32.0, 20_000.0, "Hz")?;
        let nyq = self.fs / 2.0 - 1.0;
        range("exponent", self.exponent, 0.05, 1.95, "")?;
        range("background_uv", self.background_uv, 0.0, 1000.0, "µV")?;
        for (n, f, a) in [
            ("alpha", self.alpha_hz, self.alpha_uv),
            ("beta", self.beta_hz, self.beta_uv),
            ("theta", self.theta_hz, self.theta_uv),
            ("spindle", self.spindle_hz, self.spindle_uv),
        ] {
            range(&format!("{n}_hz"), f, 0.5, nyq, "Hz (below fs/2 - 1)")?;
            range(&format!("{n}_uv"), a, 0.0, 1000.0, "µV")?;
        }
        range("rhythm_bw_hz", self.rhythm_bw_hz, 0.1, 5.0, "Hz")?;
        range("am_depth", self.am_depth, 0.0, 1.0, "")?;
        range(
            "spindle_rate_per_min",
            self.spindle_rate_per_min,
            0.0,
            30.0,
            "per min",
        )?;
        range(
            "kcomplex_rate_per_min",
            self.kcomplex_rate_per_min,
            0.0,
            30.0,
            "per min",
        )?;
        range("kcomplex_uv", self.kcomplex_uv, 0.0, 1000.0, "µV")?;
        range("spatial_length", self.spatial_length, 0.01, 10.0, "")?;
        range(
            "blink_rate_per_min",
            self.blink_rate_per_min,
            0.0,
            60.0,
            "per min",
        )?;
        range("blink_uv", self.blink_uv, 0.0, 2000.0, "µV")?;
        range("muscle_uv", self.muscle_uv, 0.0, 1000.0, "µV")?;
        range(
            "mains_hz",
            self.mains_hz,
            1.0,
            self.fs / 2.0,
            "Hz (below fs/2)",
        )?;
        range("mains_uv", self.mains_uv, 0.0, 1000.0, "µV")?;
        super::eeg::montage(&self.channels).map_err(|e| format!("`channels`: {e}"))?;
        Ok(())
    }
}

/// Parameters from defaults, then a TOML file's table, then `key=value` overrides
/// (`-` in keys read as `_`), validated. Errors name the file or the key.
pub fn build<T>(
    toml_file: Option<(&Path, &str)>,
    overrides: &[(String, String)],
) -> crate::Result<T>
where
    T: Default + Serialize + DeserializeOwned + Validate,
{
    let file = toml_file
        .map(|(path, text)| parse_file(path, text))
        .transpose()?;
    build_from(file, overrides)
}

/// A parameter file's text as a table, with its path to name it in errors.
pub fn parse_file(path: &Path, text: &str) -> crate::Result<(String, toml::Table)> {
    let table = toml::from_str(text)
        .map_err(|e| crate::Error::bad_path(path, format!("not valid TOML: {}", e.message())))?;
    Ok((path.display().to_string(), table))
}

/// [`build`] from a table already parsed (a scenario's `params`), `origin` naming it in
/// errors.
pub fn build_from<T>(
    file: Option<(String, toml::Table)>,
    overrides: &[(String, String)],
) -> crate::Result<T>
where
    T: Default + Serialize + DeserializeOwned + Validate,
{
    let bad = crate::Error::BadInput;
    let mut table = match toml::Value::try_from(T::default()) {
        Ok(toml::Value::Table(t)) => t,
        _ => {
            return Err(bad(
                "internal: parameters do not serialise to a table".into()
            ))
        }
    };
    if let Some((origin, file)) = file {
        for (k, v) in file {
            table.insert(k.replace('-', "_"), v);
        }
        check_keys::<T>(&table).map_err(|e| bad(format!("{origin}: {e}")))?;
    }
    for (k, v) in overrides {
        let key = k.replace('-', "_");
        let value = match table.get(&key) {
            Some(toml::Value::String(_)) => toml::Value::String(v.clone()),
            _ => parse_value(v),
        };
        table.insert(key, value);
    }
    let params: T = check_keys::<T>(&table).map_err(bad)?;
    params
        .validate()
        .map_err(|e| bad(format!("parameter {e}")))?;
    Ok(params)
}

fn check_keys<T: DeserializeOwned>(table: &toml::Table) -> Result<T, String> {
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| format!("parameters: {}", e.message().trim()))
}

/// A TOML value from text (`72`, `[1,2]`, `true`), or the text as a string.
fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// Splits `key=value`; the error names the argument.
pub fn split_kv(arg: &str) -> crate::Result<(String, String)> {
    arg.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| crate::Error::BadInput(format!("--param `{arg}`: expected key=value")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    #[test]
    fn overrides_and_toml_apply_in_order() {
        let toml = "hr = 60\nrhythm = \"brady\"\nhr-std = 1.5\n";
        let p: EcgParams = build(
            Some((Path::new("p.toml"), toml)),
            &[kv("hr", "50"), kv("leads", "3")],
        )
        .unwrap();
        assert_eq!(
            (p.hr, p.rhythm, p.hr_std, p.leads.as_str()),
            (Some(50.0), Rhythm::Brady, 1.5, "3")
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        for (k, v, want) in [
            ("hr", "0", "`hr`"),
            ("hr", "1000", "`hr`"),
            ("rhythm", "vfib", "unknown variant"),
            ("hrr", "1", "unknown field"),
            ("leads", "V9", "V9"),
        ] {
            let e = build::<EcgParams>(None, &[kv(k, v)]).unwrap_err();
            assert!(e.to_string().contains(want), "{k}={v}: {e}");
            assert_eq!(e.exit_code(), 2);
        }
        let e = build::<EcgParams>(None, &[kv("rhythm", "brady"), kv("hr", "80")]).unwrap_err();
        assert!(e.to_string().contains("bradycardia"), "{e}");
        let e =
            build::<EegParams>(Some((Path::new("x.toml"), "alpha_hz = \"ten\"")), &[]).unwrap_err();
        assert!(e.to_string().contains("x.toml"), "{e}");
    }
}
