//! Joining independently generated segments into one continuous signal by waveform-
//! similarity overlap-add (WSOLA, Verhelst & Roelands 1993): each new segment is entered at
//! the offset where its waveform best continues what the previous segment would have
//! played next, and the two are crossfaded there.
//!
//! Two ECG windows crossfaded at a fixed point put two unrelated beats into the fade (the
//! detector then counts beats that are too close together); entered at the best-matching
//! offset, the beats of the overlap coincide and the rhythm carries over. The correlation
//! ignores the mean, so a new segment is also lifted to the old one's baseline at the join,
//! the lift fading out over the segment (a short crossfade between two baselines would be
//! a step: spurious high frequencies).

use std::collections::VecDeque;

use super::xcorr::Correlator;

use crate::{Error, Result};

/// Joins decoded segments into continuous channels: push segments, pull samples.
pub trait Join: Send {
    /// Samples every segment must have.
    fn segment_len(&self) -> usize;
    /// Appends a segment (channel-major, `n_channels × segment_len`).
    fn push(&mut self, seg: &[f32]) -> Result<()>;
    /// Samples ready in every channel.
    fn available(&self) -> usize;
    /// Moves `len` ready samples of each channel into the channel-major `out`
    /// (`n_channels × len`); returns false, moving nothing, if fewer are ready.
    fn pull(&mut self, out: &mut [f32], len: usize) -> bool;
    /// Moves into `out` the output sample index (counted from the joiner's first sample) of
    /// every R peak it has placed since the last call: a joiner of beat-aligned segments
    /// knows where each beat it joins lies; others place none.
    fn take_beats(&mut self, out: &mut VecDeque<u64>) {
        let _ = out;
    }
}

/// Appends `span` samples of `new` to `q`, crossfaded over the first `old.len()` from `old`
/// (what the previous piece would have played next). The two may sit at different
/// baselines: `new` starts at `old`'s level and returns to its own by `span` (no step, no
/// drift). The WSOLA splicer joins this way; the beat splicer lets the lift relax more
/// slowly (`beat_splice`).
pub fn join_lifted(q: &mut VecDeque<f32>, old: &[f32], new: &[f32], span: usize) {
    join_lifted_by(q, old, new, span, |i| 1.0 - i as f32 / span as f32);
}

/// [`join_lifted`] with the lift's profile given: sample `i` of `new` is raised by
/// `profile(i)` × the step between `old`'s level and `new`'s at the join (`profile(0)` = 1).
/// Returns that step, for samples of `new` past `span` the caller keeps.
pub fn join_lifted_by(
    q: &mut VecDeque<f32>,
    old: &[f32],
    new: &[f32],
    span: usize,
    profile: impl Fn(usize) -> f32,
) -> f32 {
    let fade = old.len();
    let mean = |x: &[f32]| x.iter().sum::<f32>() / x.len() as f32;
    let step = mean(old) - mean(&new[..fade]);
    let level = |i: usize| new[i] + step * profile(i);
    q.extend((0..fade).map(|i| {
        let w = (i as f32 + 0.5) / fade as f32;
        (1.0 - w) * old[i] + w * level(i)
    }));
    q.extend((fade..span).map(level));
    step
}

/// Per-channel queues of joined samples waiting to be pulled.
pub struct Ready(Vec<VecDeque<f32>>);

impl Ready {
    /// Queues for `n_channels` channels, each with room for `capacity` samples.
    pub fn new(n_channels: usize, capacity: usize) -> Self {
        Self(
            (0..n_channels)
                .map(|_| VecDeque::with_capacity(capacity))
                .collect(),
        )
    }

    /// Number of channels.
    pub fn n_channels(&self) -> usize {
        self.0.len()
    }

    /// Channel `c`'s queue, to append to.
    pub fn lane(&mut self, c: usize) -> &mut VecDeque<f32> {
        &mut self.0[c]
    }

    /// Samples ready in every channel.
    pub fn available(&self) -> usize {
        self.0.iter().map(VecDeque::len).min().unwrap_or(0)
    }

    /// See [`Join::pull`].
    pub fn pull(&mut self, out: &mut [f32], len: usize) -> bool {
        if self.available() < len || out.len() != len * self.0.len() {
            return false;
        }
        for (q, dst) in self.0.iter_mut().zip(out.chunks_exact_mut(len)) {
            for (o, v) in dst.iter_mut().zip(q.drain(..len)) {
                *o = v;
            }
        }
        true
    }
}

/// Streaming splicer for segments of `segment_len` samples on every channel.
///
/// Of a segment of length `L`: `L/4` samples before the join are compared (the context),
/// `L/16` are crossfaded, and every segment adds at least `L/4` new samples.
pub struct Splicer {
    len: usize,
    context: usize,
    overlap: usize,
    min_advance: usize,
    /// The previous segment, channel-major (`n_channels × len`); empty before the first.
    prev: Vec<f32>,
    ready: Ready,
    /// The join search, planned once for this segment length.
    xcorr: Correlator,
}

impl Splicer {
    /// A splicer for `n_channels` channels of `segment_len`-sample segments (at least 16).
    pub fn new(n_channels: usize, segment_len: usize) -> Result<Self> {
        if segment_len < 16 || n_channels == 0 {
            return Err(Error::BadInput(format!(
                "splicer: segments of {segment_len} samples on {n_channels} channels are too \
                 short to join (need ≥ 16 samples, ≥ 1 channel)"
            )));
        }
        let (context, overlap, min_advance) =
            (segment_len / 4, (segment_len / 16).max(1), segment_len / 4);
        Ok(Self {
            len: segment_len,
            context,
            overlap,
            min_advance,
            prev: Vec::with_capacity(n_channels * segment_len),
            ready: Ready::new(n_channels, 2 * segment_len),
            // Offsets d in context..=len − overlap − min_advance compare seg[d − context..]
            // over context + overlap samples: the searched stretch is seg[..len − min_advance].
            xcorr: Correlator::new(context + overlap, segment_len - min_advance),
        })
    }

    /// Offset in `seg` where its waveform best matches the previous segment's continuation
    /// (normalised cross-correlation over context + overlap, all channels pooled).
    fn best_offset(&mut self, seg: &[f32]) -> usize {
        let (l, k, ov) = (self.len, self.context, self.overlap);
        let (target, span, searched) = (l - ov - k, k + ov, l - self.min_advance);
        let templates = self.prev.chunks_exact(l).map(|p| &p[target..target + span]);
        let signals = seg.chunks_exact(l).map(|s| &s[..searched]);
        k + self.xcorr.best_offset(templates, signals)
    }
}

impl Join for Splicer {
    /// Samples every segment must have.
    fn segment_len(&self) -> usize {
        self.len
    }

    /// Appends a segment (channel-major, `n_channels × segment_len`).
    fn push(&mut self, seg: &[f32]) -> Result<()> {
        let (l, ov) = (self.len, self.overlap);
        if seg.len() != l * self.ready.n_channels() {
            return Err(Error::BadInput(format!(
                "splicer: segment has {} values, expected {}",
                seg.len(),
                l * self.ready.n_channels()
            )));
        }
        let cut = l - ov;
        if self.prev.is_empty() {
            for (c, s) in seg.chunks_exact(l).enumerate() {
                self.ready.lane(c).extend(&s[..cut]);
            }
        } else {
            let at = self.best_offset(seg);
            for (c, (s, p)) in seg
                .chunks_exact(l)
                .zip(self.prev.chunks_exact(l))
                .enumerate()
            {
                join_lifted(self.ready.lane(c), &p[cut..], &s[at..], cut - at);
            }
        }
        self.prev.clear();
        self.prev.extend_from_slice(seg);
        Ok(())
    }

    fn available(&self) -> usize {
        self.ready.available()
    }

    fn pull(&mut self, out: &mut [f32], len: usize) -> bool {
        self.ready.pull(out, len)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A spiky periodic signal (period `p` samples, spikes at multiples of `p` + phase).
    pub(crate) fn pulses(n: usize, p: usize, phase: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let d = (i + p - phase % p) % p;
                let d = d.min(p - d) as f32;
                (-d * d / 8.0).exp()
            })
            .collect()
    }

    #[test]
    fn segments_of_one_rhythm_at_random_phases_keep_its_period() {
        let (p, l) = (37, 160);
        let mut sp = Splicer::new(1, l).unwrap();
        for phase in [0, 11, 29, 5, 17, 33, 2, 21] {
            sp.push(&pulses(l, p, phase)).unwrap();
        }
        let n = sp.available();
        let mut out = vec![0.0; n];
        assert!(sp.pull(&mut out, n));
        let peaks: Vec<usize> = (1..out.len() - 1)
            .filter(|&i| out[i] > 0.5 && out[i] >= out[i - 1] && out[i] > out[i + 1])
            .collect();
        assert!(peaks.len() > 20, "{} peaks", peaks.len());
        for w in peaks.windows(2) {
            assert_eq!(w[1] - w[0], p, "spacing broken at {}: {peaks:?}", w[0]);
        }
    }

    #[test]
    fn every_segment_adds_at_least_a_quarter_and_bad_shapes_are_refused() {
        let mut sp = Splicer::new(2, 64).unwrap();
        sp.push(&[0.5; 128]).unwrap();
        let first = sp.available();
        assert_eq!(first, 64 - 4);
        sp.push(&[0.25; 128]).unwrap();
        assert!(sp.available() >= first + 16);
        assert!(sp.push(&[0.0; 64]).is_err());
        assert!(Splicer::new(1, 8).is_err());
        let mut out = vec![0.0; 2 * 10];
        assert!(sp.pull(&mut out, 10));
        assert_eq!(out[10], 0.5);
    }
}
