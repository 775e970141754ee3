//! The physiological models' options, shared by `generate` and `stream`: the same flags set
//! the same parameters whether the signal goes to files in bulk or to a device in real time.

use crate::model::physio::{params, PhysioModel};
use crate::Error;
use std::path::PathBuf;

/// Parameters of `ecgsyn` and `eeg` (flattened into `generate` and `stream`).
#[derive(Debug, Default, Clone, clap::Args)]
#[command(next_help_heading = "Model options (ecgsyn, eeg; --fs also resamples a checkpoint)")]
pub struct ModelArgs {
    /// Model parameters from a TOML file (keys as in `--param`).
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// A model parameter `key=value` (repeatable), e.g. `--param st_mv=0.2`.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub param: Vec<String>,
    /// Sample rate, Hz (a learned checkpoint's output is resampled to it).
    #[arg(long)]
    pub fs: Option<f64>,
    /// ECG: mean heart rate, bpm.
    #[arg(long, allow_hyphen_values = true)]
    pub hr: Option<f64>,
    /// ECG: heart-rate standard deviation, bpm.
    #[arg(long, allow_hyphen_values = true)]
    pub hr_std: Option<f64>,
    /// ECG: LF/HF ratio of the RR spectrum.
    #[arg(long)]
    pub lf_hf: Option<f64>,
    /// ECG: rhythm (normal, brady, tachy, af).
    #[arg(long)]
    pub rhythm: Option<String>,
    /// ECG: fraction of beats followed by a PVC.
    #[arg(long)]
    pub pvc_rate: Option<f64>,
    /// ECG: leads (`12`, `3`, `1` or a list such as `II,V1`).
    #[arg(long)]
    pub leads: Option<String>,
    /// EEG: channels (`10-20` or a list such as `Fz,Cz,O1`).
    #[arg(long)]
    pub channels: Option<String>,
    /// Mains frequency, Hz.
    #[arg(long)]
    pub mains: Option<f64>,
    /// Mains amplitude (mV for ECG, µV for EEG).
    #[arg(long)]
    pub mains_amp: Option<f64>,
}

/// Whether `model` names a physiological model these options configure.
pub fn is_physio(model: &str) -> bool {
    matches!(model, "ecgsyn" | "eeg")
}

impl ModelArgs {
    /// Whether any option was given.
    pub fn any(&self) -> crate::Result<bool> {
        Ok(self.params.is_some() || !self.overrides("")?.is_empty())
    }

    /// `key=value` overrides: `--param`s first, then the dedicated flags; a flag of the
    /// other kind of signal (`--hr` for `eeg`) is refused, naming it.
    fn overrides(&self, model: &str) -> crate::Result<Vec<(String, String)>> {
        let mut o: Vec<(String, String)> = self
            .param
            .iter()
            .map(|p| params::split_kv(p))
            .collect::<crate::Result<_>>()?;
        let ecg = model == "ecgsyn";
        let checked = is_physio(model);
        let mut put = |key: &str, v: Option<String>, for_ecg: Option<bool>, flag: &str| {
            let Some(v) = v else { return Ok(()) };
            if checked && for_ecg.is_some_and(|e| e != ecg) {
                return Err(Error::BadInput(format!(
                    "--{flag} does not apply to model `{model}`"
                )));
            }
            o.push((key.into(), v));
            Ok(())
        };
        let s = |v: Option<f64>| v.map(|x| x.to_string());
        put("fs", s(self.fs), None, "fs")?;
        put("hr", s(self.hr), Some(true), "hr")?;
        put("hr_std", s(self.hr_std), Some(true), "hr-std")?;
        put("lf_hf", s(self.lf_hf), Some(true), "lf-hf")?;
        put("rhythm", self.rhythm.clone(), Some(true), "rhythm")?;
        put("pvc_rate", s(self.pvc_rate), Some(true), "pvc-rate")?;
        put("leads", self.leads.clone(), Some(true), "leads")?;
        put("channels", self.channels.clone(), Some(false), "channels")?;
        put("mains_hz", s(self.mains), None, "mains")?;
        let amp = if ecg { "mains_mv" } else { "mains_uv" };
        put(amp, s(self.mains_amp), None, "mains-amp")?;
        Ok(o)
    }

    /// The rate a learned checkpoint's output is resampled to: `--fs` for any model but
    /// the physiological ones, whose own `fs` parameter it sets.
    pub fn resample_hz(&self, model: &str) -> Option<f64> {
        self.fs.filter(|_| !is_physio(model))
    }

    /// The physiological model `model` with these parameters (`None` for any other model,
    /// which must then have been given none but `--fs`: the error names the model).
    pub fn physio(&self, model: &str) -> crate::Result<Option<PhysioModel>> {
        if !is_physio(model) {
            let but_fs = Self {
                fs: None,
                ..self.clone()
            };
            if but_fs.any()? {
                return Err(Error::BadInput(format!(
                    "--model `{model}`: parameters apply to the physiological models ecgsyn and eeg \
                     (a checkpoint takes --fs only)"
                )));
            }
            return Ok(None);
        }
        let text = match &self.params {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| Error::bad_path(p, e))?),
            None => None,
        };
        let file = self.params.as_deref().zip(text.as_deref());
        PhysioModel::from_parts(model, file, &self.overrides(model)?).map(Some)
    }
}
