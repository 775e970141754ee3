//! One record → its spectral representation: channel selection, resampling, band-pass.

use super::DataConfig;
use crate::dsp::filter::{butter, Band};
use crate::dsp::repr::check_finite;
use crate::dsp::resample::Resampler;
use crate::dsp::Representation;
use crate::record::Record;
use crate::{Error, Result};

/// A record and the name (usually the file path) its errors should mention.
#[derive(Debug, Clone)]
pub struct Source {
    /// File path or other name of the record.
    pub name: String,
    /// The samples.
    pub record: Record,
}

/// Turns one record into its (not yet normalised) representation under `config`.
pub fn prepare(src: &Source, config: &DataConfig) -> Result<Representation> {
    let (signals, fs) = model_signals(src, config)?;
    let views: Vec<&[f32]> = signals.iter().map(Vec::as_slice).collect();
    Representation::from_channels(&views, fs, &config.spectral)
        .map_err(|e| Error::BadInput(format!("{}: {e}", src.name)))
}

/// What a model learns of one record: [`prepare_signals`], each signal less its baseline
/// below `config.remove_baseline_hz` where set (`dsp::filter::baseline`). Its frames and
/// beat clock come from these; targets measured on the whole band (spectrum, wander) use
/// [`prepare_signals`].
pub fn model_signals(src: &Source, config: &DataConfig) -> Result<(Vec<Vec<f32>>, f64)> {
    let (mut signals, fs) = prepare_signals(src, config)?;
    if let Some(hz) = config.remove_baseline_hz {
        for x in &mut signals {
            let low = crate::dsp::filter::baseline(x, hz, fs)
                .map_err(|e| Error::BadInput(format!("{}: {e}", src.name)))?;
            x.iter_mut().zip(low).for_each(|(v, b)| *v -= b);
        }
    }
    Ok((signals, fs))
}

/// The selected channels of one record, resampled and band-passed as `config` says, cut
/// to one length, and their sample rate: what the STFT (or beat alignment) starts from.
pub fn prepare_signals(src: &Source, config: &DataConfig) -> Result<(Vec<Vec<f32>>, f64)> {
    let named = |e: Error| Error::BadInput(format!("{}: {e}", src.name));
    let rec = &src.record;
    let picked: Vec<usize> = match &config.channels {
        Some(labels) => rec.channel_indices(labels).map_err(|m| {
            Error::BadInput(format!("{}: no channel labelled `{}`", src.name, m.label))
        })?,
        None => (0..rec.channels.len()).collect(),
    };
    if picked.is_empty() {
        return Err(Error::BadInput(format!(
            "{}: record has no channels",
            src.name
        )));
    }
    let fs = config
        .sample_rate
        .unwrap_or(rec.channels[picked[0]].meta.sample_rate);
    let mut signals = Vec::with_capacity(picked.len());
    for &i in &picked {
        let ch = &rec.channels[i];
        check_finite(&ch.meta.label, &ch.samples).map_err(named)?;
        let mut x = if ch.meta.sample_rate == fs {
            ch.samples.clone()
        } else if config.sample_rate.is_some() {
            let mut y = Vec::new();
            Resampler::between(ch.meta.sample_rate, fs)
                .map_err(named)?
                .process(&ch.samples, &mut y);
            y
        } else {
            return Err(Error::BadInput(format!(
                "{}: channel `{}` is at {} Hz, others at {fs} Hz: choose one rate (--fs)",
                src.name, ch.meta.label, ch.meta.sample_rate
            )));
        };
        if let Some((lo, hi)) = config.band {
            let sos = butter(2, Band::Bandpass(lo, hi), fs).map_err(named)?;
            x = sos.filtfilt(&x).map_err(named)?;
        }
        signals.push(x);
    }
    let n = signals.iter().map(Vec::len).min().unwrap_or(0);
    for s in &mut signals {
        s.truncate(n);
    }
    Ok((signals, fs))
}
