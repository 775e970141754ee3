//! Training data: records → spectral representations → windows of W seconds, normalised
//! per feature with statistics fitted on the training records, split by record.
//!
//! [`Dataset::build`] prepares every record once (channel selection, resampling, optional
//! band-pass, STFT), splits records into train and validation (never windows of one record
//! in both), fits [`NormStats`] on train and normalises both parts in place; [`Batches`]
//! then streams shuffled windows as flat `f32` batches without copying the dataset.

pub mod beat_kinds;
mod beats;
mod loader;
mod norm;
mod prepare;
mod split;

pub use beats::BeatCut;
pub use loader::{Batch, Batches};
pub use norm::NormStats;
pub use prepare::{model_signals, prepare, prepare_signals, Source};
pub use split::{shuffle, split_records};

use crate::dsp::{beat_clock, Representation, SpectralConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// How records become training windows; stored with a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    /// STFT parameters of the representation.
    pub spectral: SpectralConfig,
    /// Window length in seconds (one training example).
    pub window_s: f64,
    /// Seconds between window starts (default: half a window).
    pub stride_s: Option<f64>,
    /// Resample every channel to this rate (Hz); `None`: all records must share one rate.
    pub sample_rate: Option<f64>,
    /// Zero-phase Butterworth band-pass `(low, high)` Hz applied before the STFT.
    pub band: Option<(f64, f64)>,
    /// Channels to use, by label; `None`: all channels.
    pub channels: Option<Vec<String>>,
    /// Fraction of records held out for validation.
    pub val_fraction: f64,
    /// Seed of the split and of the per-epoch shuffles.
    pub seed: u64,
    /// ECG only: one window per R peak instead of one every `stride_s` (see `beats`);
    /// absent in configs written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beats: Option<BeatAlign>,
    /// ECG only: every frame also carries the beat clock of the frame after it
    /// (`dsp::beat_clock`), from the R peaks of the record's first channel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clock: bool,
    /// With `clock`: kinds of beat the clock tells apart (`beat_kinds`, the beats of every
    /// training record grouped by shape together, validation beats by the nearest group);
    /// 0 or 1: one kind, as in configs written before it.
    #[serde(default, skip_serializing_if = "is_below_two")]
    pub clock_kinds: usize,
    /// Each signal less its baseline below this many Hz (`dsp::filter::baseline`) before
    /// the STFT and the clock: `train --wander` sets `model::wander::CUTOFF_HZ`, since the
    /// wander replays that part; absent in configs written before it (nothing removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_baseline_hz: Option<f64>,
}

fn is_below_two(v: &usize) -> bool {
    *v < 2
}

/// Where beat-aligned windows start relative to each R peak; stored with a model because
/// its generator joins decoded windows at the same place.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BeatAlign {
    /// Seconds from a window's first frame centre to its R peak.
    pub pre_s: f64,
    /// Extra copies of each window shifted by up to this many seconds either way.
    pub jitter_s: f64,
}

impl Default for BeatAlign {
    /// The R peak 0.28 s into the window (room for the P wave and the join before it),
    /// ±8 ms copies.
    fn default() -> Self {
        Self {
            pre_s: 0.28,
            jitter_s: 0.008,
        }
    }
}

impl Default for DataConfig {
    /// 4 s windows of the default spectra, 20 % of records for validation, seed 0.
    fn default() -> Self {
        Self {
            spectral: SpectralConfig::default(),
            window_s: 4.0,
            stride_s: None,
            sample_rate: None,
            band: None,
            channels: None,
            val_fraction: 0.2,
            seed: 0,
            beats: None,
            clock: false,
            clock_kinds: 0,
            remove_baseline_hz: None,
        }
    }
}

/// Which part of the dataset to iterate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Records used to fit the model and the normalisation.
    Train,
    /// Held-out records.
    Validation,
}

/// A prepared record: its name (file path) and normalised representation.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Where the record came from (used in error messages and fingerprints).
    pub name: String,
    /// Spectral frames, normalised once the dataset is built.
    pub rep: Representation,
    /// With `DataConfig::clock`, `beat_clock::INPUTS` values per frame (the next frame's
    /// clock), fed to the model beside the frame but never predicted; else empty.
    pub cond: Vec<f32>,
    /// With `DataConfig::clock`, the record's RR intervals in seconds; else empty.
    pub rr: Vec<f32>,
    /// With `DataConfig::clock_kinds`, the kind of the beat ending each RR interval; else
    /// empty.
    pub rr_kinds: Vec<u8>,
    /// With `DataConfig::clock_kinds`, the record's beats, kept until [`Dataset::build`]
    /// numbers them by kinds fitted over every training record; then `None`.
    pub marks: Option<BeatMarks>,
}

/// A record's beats as [`Dataset::build`] needs them to number them by kind.
#[derive(Debug, Clone, Default)]
pub struct BeatMarks {
    /// R peaks, in samples.
    pub peaks: Vec<usize>,
    /// For each replayed RR interval, the index in `peaks` of the peak ending it.
    pub ends: Vec<usize>,
    /// Each beat's shape (`beat_kinds::shapes`); empty when the lead was too short to filter.
    pub shapes: Vec<Vec<f32>>,
    /// The record's reference beat labels (`beat_kinds::marks`), which name the kinds.
    pub labels: Vec<(usize, &'static str)>,
}

impl Prepared {
    /// A record's frames with no conditioning values.
    pub fn new(name: String, rep: Representation) -> Self {
        Prepared {
            name,
            rep,
            cond: Vec::new(),
            rr: Vec::new(),
            rr_kinds: Vec::new(),
            marks: None,
        }
    }
}

/// Training and validation records as normalised spectra, plus what is needed to batch them.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The configuration it was built with.
    pub config: DataConfig,
    /// Normalisation fitted on the training records.
    pub stats: NormStats,
    /// Training records.
    pub train: Vec<Prepared>,
    /// Validation records.
    pub validation: Vec<Prepared>,
    /// Frames per window.
    pub window_frames: usize,
    /// With `DataConfig::clock_kinds`, each kind's name: the MIT-BIH beat code most of its
    /// training beats carry in their records' annotations (`beat_kinds::KindNames`); empty
    /// when the records carry no beat labels.
    pub kind_labels: Vec<String>,
    /// Per named kind, how many of its training beats carry its name.
    pub kind_labelled: Vec<u32>,
    /// Frames between window starts.
    pub stride_frames: usize,
}

impl Dataset {
    /// Prepares, splits and normalises `sources` (see the module docs).
    pub fn build(sources: Vec<Source>, config: &DataConfig) -> Result<Self> {
        if sources.is_empty() {
            return Err(Error::BadInput("training data: no records given".into()));
        }
        if !(config.window_s.is_finite() && config.window_s > 0.0) {
            return Err(Error::BadInput(format!(
                "training data: window_s must be positive, got {}",
                config.window_s
            )));
        }
        if let Some(s) = config.stride_s.filter(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::BadInput(format!(
                "training data: stride_s must be positive, got {s}"
            )));
        }
        if !(0.0..1.0).contains(&config.val_fraction) {
            return Err(Error::BadInput(format!(
                "training data: val_fraction must be in [0, 1), got {}",
                config.val_fraction
            )));
        }
        let (fs, records) = prepare_all(&sources, config)?;
        let labels: Vec<_> = (sources.iter().zip(&records))
            .map(|(s, (_, x))| beat_kinds::marks(&s.record, fs, x.first().map_or(0, Vec::len)))
            .collect();
        drop(sources);
        let hop = config.spectral.hop as f64;
        let window_frames = ((config.window_s * fs / hop).round() as usize).max(1);
        let stride_s = config.stride_s.unwrap_or(config.window_s / 2.0);
        let stride_frames = ((stride_s * fs / hop).round() as usize).max(1);
        let mut prepared = records
            .into_iter()
            .zip(labels)
            .map(|((name, signals), labels)| {
                windows_of(name, &signals, fs, window_frames, config, labels)
            })
            .collect::<Result<Vec<_>>>()?;
        check_shapes(
            prepared.iter().flatten().collect::<Vec<_>>().as_slice(),
            window_frames,
            config,
        )?;
        let (train_idx, val_idx) = split_records(prepared.len(), config.val_fraction, config.seed);
        let mut take = |idx: &[usize]| {
            idx.iter()
                .flat_map(|&i| std::mem::take(&mut prepared[i]))
                .collect::<Vec<_>>()
        };
        let (mut train, mut validation) = (take(&train_idx), take(&val_idx));
        let (mut kind_labels, mut kind_labelled) = (Vec::new(), Vec::new());
        if config.clock && config.clock_kinds > 1 {
            (kind_labels, kind_labelled) = number_beats(&mut train, &mut validation, config, fs);
        }
        let stats = NormStats::fit(train.iter().map(|p| &p.rep));
        for p in train.iter_mut().chain(validation.iter_mut()) {
            stats.apply(&mut p.rep.data);
        }
        Ok(Self {
            config: config.clone(),
            stats,
            train,
            validation,
            window_frames,
            stride_frames,
            kind_labels,
            kind_labelled,
        })
    }

    /// Values per frame.
    pub fn n_features(&self) -> usize {
        self.stats.n_features()
    }

    /// Conditioning values fed beside each frame (the beat clock's, or none).
    pub fn n_cond(&self) -> usize {
        if self.config.clock {
            beat_clock::inputs(self.config.clock_kinds)
        } else {
            0
        }
    }

    /// The training records' RR intervals in seconds, in order (empty without a clock).
    pub fn rr_intervals(&self) -> Vec<f32> {
        self.train
            .iter()
            .flat_map(|p| p.rr.iter().copied())
            .collect()
    }

    /// The kind of the beat ending each of [`Self::rr_intervals`] (empty with one kind).
    pub fn rr_kinds(&self) -> Vec<u8> {
        self.train
            .iter()
            .flat_map(|p| p.rr_kinds.iter().copied())
            .collect()
    }

    /// Records of one part.
    pub fn part(&self, part: Part) -> &[Prepared] {
        match part {
            Part::Train => &self.train,
            Part::Validation => &self.validation,
        }
    }

    /// Shuffled batches of `batch_size` windows of `part` for `epoch` (seeded).
    pub fn batches(&self, part: Part, batch_size: usize, epoch: u64) -> Batches<'_> {
        Batches::new(self, part, batch_size.max(1), epoch)
    }
}

/// A record's name and its prepared channels.
type Signals = (String, Vec<Vec<f32>>);

/// Prepares every source's signals; all must end up at one sample rate.
fn prepare_all(sources: &[Source], config: &DataConfig) -> Result<(f64, Vec<Signals>)> {
    let mut records: Vec<Signals> = Vec::with_capacity(sources.len());
    let mut fs = 1.0;
    for s in sources {
        let (signals, rate) = model_signals(s, config)?;
        match records.first() {
            None => fs = rate,
            Some((first, chans)) if rate != fs => {
                return Err(Error::BadInput(format!(
                    "{}: {} channels at {rate} Hz, but {first} has {} channels at {fs} Hz \
                     (select channels with --channels and a rate with --fs)",
                    s.name,
                    signals.len(),
                    chans.len()
                )))
            }
            Some(_) => {}
        }
        records.push((s.name.clone(), signals));
    }
    Ok((fs, records))
}

/// One record's spectra under `spectral`, only the frames wholly inside the signal
/// (`Representation::interior`); errors name the record `name`.
pub fn interior_spectra(
    name: &str,
    signals: &[Vec<f32>],
    fs: f64,
    spectral: &SpectralConfig,
) -> Result<Representation> {
    let views: Vec<&[f32]> = signals.iter().map(Vec::as_slice).collect();
    let rep = Representation::from_channels(&views, fs, spectral)
        .map_err(|e| Error::BadInput(format!("{name}: {e}")))?;
    let secs = rep.n_samples as f64 / fs;
    rep.interior().ok_or_else(|| {
        Error::BadInput(format!(
            "{name}: record is {secs:.3} s long, shorter than one STFT frame (n_fft {})",
            spectral.n_fft
        ))
    })
}

/// One record's spectra: the whole record, or one representation per beat when aligned.
fn windows_of(
    name: String,
    signals: &[Vec<f32>],
    fs: f64,
    window_frames: usize,
    config: &DataConfig,
    labels: Vec<(usize, &'static str)>,
) -> Result<Vec<Prepared>> {
    let reps = match &config.beats {
        Some(align) => BeatCut {
            name: &name,
            signals,
            fs,
            spectral: &config.spectral,
            window_frames,
            align,
        }
        .windows()?,
        None => vec![interior_spectra(&name, signals, fs, &config.spectral)?],
    };
    let (cond, rr, mut marks) = match (config.clock, reps.as_slice()) {
        (false, _) => (Vec::new(), Vec::new(), None),
        (true, [rep]) => clock_of(&name, signals, rep, config, labels)?,
        (true, _) => {
            return Err(Error::BadInput(format!(
                "{name}: the beat clock is for whole records, not beat-aligned windows"
            )))
        }
    };
    Ok(reps
        .into_iter()
        .map(|rep| Prepared {
            name: name.clone(),
            rep,
            cond: cond.clone(),
            rr: rr.clone(),
            rr_kinds: Vec::new(),
            marks: marks.take(),
        })
        .collect())
}

/// The beat clock of the frame after each of `rep`'s interior frames (centred on
/// multiples of the hop) and the RR intervals, from the R peaks of `signals[0]`; with kinds
/// of beat, no clock yet but the beats' marks: [`number_beats`] sets the clock once the
/// kinds are fitted.
fn clock_of(
    name: &str,
    signals: &[Vec<f32>],
    rep: &Representation,
    config: &DataConfig,
    labels: Vec<(usize, &'static str)>,
) -> Result<(Vec<f32>, Vec<f32>, Option<BeatMarks>)> {
    let lead = signals
        .first()
        .ok_or_else(|| Error::BadInput(format!("{name}: record has no channels")))?;
    let (peaks, rr, ends) = beat_clock::peaks(name, lead, rep.sample_rate)?;
    if config.clock_kinds < 2 {
        return Ok((clock_values(&peaks, &[], 1, rep), rr, None));
    }
    let marks = BeatMarks {
        shapes: beat_kinds::shapes(lead, &peaks, rep.sample_rate).unwrap_or_default(),
        peaks,
        ends,
        labels,
    };
    Ok((Vec::new(), rr, Some(marks)))
}

/// [`beat_clock::of_centres`] for the frame after each of `rep`'s interior frames.
fn clock_values(peaks: &[usize], kind: &[u8], kinds: usize, rep: &Representation) -> Vec<f32> {
    let (hop, first) = (rep.config.hop, rep.config.first_interior_frame());
    let centres = (0..rep.n_frames).map(|t| (first + t + 1) * hop);
    beat_clock::of_centres(peaks, kind, kinds, centres, rep.sample_rate, hop)
}

/// Numbers every record's beats by `config.clock_kinds` kinds fitted over the training
/// records' beat shapes together (`beat_kinds::fit`: kind 0 the most common), then sets each
/// record's clock and the kind of the beat ending each of its RR intervals; returns each
/// kind's name from the training records' beat labels and how many of its beats carry it
/// (both empty without labels).
fn number_beats(
    train: &mut [Prepared],
    validation: &mut [Prepared],
    config: &DataConfig,
    fs: f64,
) -> (Vec<String>, Vec<u32>) {
    let shapes: Vec<&[f32]> = train
        .iter()
        .filter_map(|p| p.marks.as_ref())
        .flat_map(|m| m.shapes.iter().map(Vec::as_slice))
        .collect();
    let centres = beat_kinds::fit(&shapes, config.clock_kinds, config.seed);
    let mut names = beat_kinds::KindNames::new(centres.len(), fs);
    let n_train = train.len();
    for (i, p) in train.iter_mut().chain(validation.iter_mut()).enumerate() {
        let Some(m) = p.marks.take() else { continue };
        let kind: Vec<u8> = match m.shapes.len() == m.peaks.len() {
            true => m
                .shapes
                .iter()
                .map(|s| beat_kinds::kind(s, &centres))
                .collect(),
            false => vec![0; m.peaks.len()],
        };
        if i < n_train {
            (m.peaks.iter().zip(&kind)).for_each(|(&r, &k)| names.add(&m.labels, r, k));
        }
        p.cond = clock_values(&m.peaks, &kind, config.clock_kinds, &p.rep);
        p.rr_kinds = m.ends.iter().map(|&i| kind[i]).collect();
    }
    names.labels()
}

/// Every record must hold at least one window and have the same feature count and rate.
fn check_shapes(prepared: &[&Prepared], window_frames: usize, config: &DataConfig) -> Result<()> {
    let first = prepared.first().ok_or_else(|| {
        Error::BadInput("training data: no record holds a training window".into())
    })?;
    for p in prepared {
        if p.rep.n_features() != first.rep.n_features()
            || p.rep.sample_rate != first.rep.sample_rate
        {
            return Err(Error::BadInput(format!(
                "{}: {} channels at {} Hz, but {} has {} channels at {} Hz (select channels with \
                 --channels and a rate with --fs)",
                p.name,
                p.rep.n_channels,
                p.rep.sample_rate,
                first.name,
                first.rep.n_channels,
                first.rep.sample_rate
            )));
        }
        if p.rep.n_frames < window_frames {
            return Err(Error::BadInput(format!(
                "{}: record gives {:.3} s of whole STFT frames, shorter than the {} s training \
                 window (window_s)",
                p.name,
                p.rep.n_samples as f64 / p.rep.sample_rate,
                config.window_s
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of `shapes` (2-value stand-ins: [1, 0] normal, [0, 1] wide), one beat every
    /// 300 samples, its RR intervals each ending on the next beat; each beat labelled `N` or
    /// `V` 20 samples off its R peak, but the first wide one `F`.
    fn record(wide: &[bool]) -> Prepared {
        let spectral = SpectralConfig {
            n_fft: 64,
            hop: 16,
            ..SpectralConfig::default()
        };
        let n = 300 * (wide.len() + 1);
        let rep = interior_spectra("r", &[vec![0.0; n]], 360.0, &spectral).unwrap();
        let mut p = Prepared::new("r".into(), rep);
        let shape = |w: bool| if w { vec![0.0, 1.0] } else { vec![1.0, 0.0] };
        p.marks = Some(BeatMarks {
            peaks: (0..wide.len()).map(|b| 150 + 300 * b).collect(),
            ends: (1..wide.len()).collect(),
            shapes: wide.iter().map(|&w| shape(w)).collect(),
            labels: (wide.iter().enumerate())
                .map(|(b, &w)| {
                    let first = Some(b) == wide.iter().position(|&x| x);
                    (
                        170 + 300 * b,
                        if !w {
                            "N"
                        } else if first {
                            "F"
                        } else {
                            "V"
                        },
                    )
                })
                .collect(),
        });
        p
    }

    /// Kinds are fitted over the training records together: a record whose wide beats
    /// outnumber its normal ones still numbers them 1, as the whole training set does, and
    /// a validation record takes the nearest kind; each record's clock then carries them,
    /// and each kind is named by the label most of its training beats carry.
    #[test]
    fn beats_are_numbered_by_kinds_of_all_training_records_together() {
        let a: Vec<bool> = (0..20).map(|b| b == 7).collect();
        let b = [true, true, true, false, true];
        let mut train = vec![record(&a), record(&b)];
        let mut validation = vec![record(&[false, true, false])];
        let config = DataConfig {
            clock: true,
            clock_kinds: 2,
            ..DataConfig::default()
        };
        let (names, labelled) = number_beats(&mut train, &mut validation, &config, 360.0);
        assert_eq!(names, ["N", "V"]);
        // The wide beats: 5, of which the first of each training record is labelled F.
        assert_eq!(labelled, [19 + 1, 3]);
        let kinds = |w: &[bool]| -> Vec<u8> { w[1..].iter().map(|&x| u8::from(x)).collect() };
        assert_eq!(train[0].rr_kinds, kinds(&a));
        assert_eq!(train[1].rr_kinds, kinds(&b));
        assert_eq!(validation[0].rr_kinds, vec![1, 0]);
        let inputs = beat_clock::inputs(2);
        for p in train.iter().chain(&validation) {
            assert!(p.marks.is_none());
            assert_eq!(p.cond.len(), p.rep.n_frames * inputs);
        }
        // The clock of the frame just before record b's first R peak (a wide beat) says
        // kind 1: frame t's clock is that of the frame centred on (first + t + 1) hops.
        let first = train[1].rep.config.first_interior_frame();
        let t = 150 / 16 - first - 1;
        let clock = &train[1].cond[t * inputs..(t + 1) * inputs];
        assert_eq!(beat_clock::kind_of(clock, 2), 1);
    }
}
