//! Training-free physiological generators: ECGSYN multi-lead ECG and spectral EEG.
//!
//! Both are deterministic from a seed (ChaCha8), stateful (every filter, phase and RR
//! value carries across blocks) and draw their random numbers sample by sample, so the
//! output does not depend on how it is cut into blocks.

pub mod artefact;
pub mod ecg;
pub mod eeg;
pub mod filters;
pub mod leads;
pub mod params;
pub mod rr;

pub use ecg::{BeatKind, EcgSyn};
pub use eeg::Eeg;
pub use params::{EcgParams, EegParams, Rhythm};

use crate::model::Generator;
use crate::Result;

/// A physiological model with its parameters, ready to build generators from seeds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum PhysioModel {
    /// ECGSYN multi-lead ECG.
    Ecgsyn(Box<EcgParams>),
    /// Spectral multichannel EEG.
    Eeg(EegParams),
}

impl PhysioModel {
    /// The model named `name` (`ecgsyn` or `eeg`) with parameters from an optional TOML
    /// file, then `key=value` overrides, validated.
    pub fn from_parts(
        name: &str,
        toml_file: Option<(&std::path::Path, &str)>,
        overrides: &[(String, String)],
    ) -> Result<Self> {
        let file = (toml_file.map(|(path, text)| params::parse_file(path, text))).transpose()?;
        Self::from_table(name, file, overrides)
    }

    /// [`Self::from_parts`] with the parameters' table already parsed (a parameter file, a
    /// scenario stream's `params`), named in errors by the string beside it.
    pub fn from_table(
        name: &str,
        file: Option<(String, toml::Table)>,
        overrides: &[(String, String)],
    ) -> Result<Self> {
        match name {
            "ecgsyn" => Ok(Self::Ecgsyn(Box::new(params::build_from(file, overrides)?))),
            "eeg" => Ok(Self::Eeg(params::build_from(file, overrides)?)),
            other => Err(crate::Error::BadInput(format!(
                "unknown physiological model `{other}` (known: ecgsyn, eeg)"
            ))),
        }
    }

    /// Model name as `by_name` knows it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ecgsyn(_) => "ecgsyn",
            Self::Eeg(_) => "eeg",
        }
    }

    /// A generator seeded with `seed`.
    pub fn generator(&self, seed: u64) -> Result<Box<dyn Generator>> {
        Ok(match self {
            Self::Ecgsyn(p) => Box::new(EcgSyn::new((**p).clone(), seed)?),
            Self::Eeg(p) => Box::new(Eeg::new(p.clone(), seed)?),
        })
    }
}

/// Standard normal draw from any RNG (Ziggurat, via rand_distr).
#[inline]
pub(crate) fn gauss<R: rand::Rng>(rng: &mut R) -> f64 {
    rand::Rng::sample(rng, rand_distr::StandardNormal)
}
