//! Blocks: the unit of samples that flows from a generator to the sinks.

/// Something the generator put into the signal and labels (an ECG beat's R peak: `N`,
/// `V`; an EEG spindle), for sinks that keep labels (EDF+/BDF+ annotations, LSL markers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// Onset, seconds from the stream's first frame.
    pub time: f64,
    /// Seconds it lasts; 0 for a point in time (an R peak).
    pub duration: f64,
    /// A short label (for ECG beats, MIT-BIH's beat codes).
    pub label: &'static str,
}

impl Event {
    /// As an annotation whose onset counts from `origin` seconds into the stream (a file's
    /// first frame); a point in time has no duration.
    pub fn to_annotation(&self, origin: f64) -> crate::record::Annotation {
        crate::record::Annotation {
            onset: (self.time - origin).max(0.0),
            duration: (self.duration > 0.0).then_some(self.duration),
            text: self.label.to_string(),
        }
    }
}

/// A run of consecutive frames for all channels of a stream, stored channel-major.
///
/// Blocks are recycled (see `stream`), so `data` keeps its capacity between uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Index of the first frame since the stream started.
    pub start_index: u64,
    /// Seconds from the stream start to the first frame (`start_index / sample_rate`).
    pub timestamp: f64,
    /// Number of channels.
    pub n_channels: usize,
    /// Frames (samples per channel) in this block.
    pub n_frames: usize,
    /// Samples, channel-major: channel `c` is `data[c * n_frames..(c + 1) * n_frames]`.
    pub data: Vec<f32>,
    /// Events the generator labelled in this block, in time order (none for most
    /// generators); whoever refills a block clears them first.
    pub events: Vec<Event>,
}

impl Block {
    /// A zeroed block of `n_channels × n_frames` starting at frame 0.
    pub fn new(n_channels: usize, n_frames: usize) -> Self {
        Self {
            start_index: 0,
            timestamp: 0.0,
            n_channels,
            n_frames,
            data: vec![0.0; n_channels * n_frames],
            events: Vec::new(),
        }
    }

    /// Samples of channel `c`.
    pub fn channel(&self, c: usize) -> &[f32] {
        &self.data[c * self.n_frames..(c + 1) * self.n_frames]
    }

    /// Mutable samples of channel `c`.
    pub fn channel_mut(&mut self, c: usize) -> &mut [f32] {
        let n = self.n_frames;
        &mut self.data[c * n..(c + 1) * n]
    }

    /// Refuses a block whose channel count is not `channels`, a generator's: it would be
    /// left silent or half filled. Generators check before any work is done for the block.
    pub fn check_channels(&self, channels: usize) -> crate::Result<()> {
        if self.n_channels != channels {
            return Err(crate::Error::BadInput(format!(
                "a block of {} channels for a generator of {channels}",
                self.n_channels
            )));
        }
        Ok(())
    }

    /// Sets position fields for the block that starts at `start_index` at `sample_rate`.
    pub fn set_start(&mut self, start_index: u64, sample_rate: f64) {
        self.start_index = start_index;
        self.timestamp = start_index as f64 / sample_rate;
    }

    /// Writes frames interleaved (`c0 c1 … c0 c1 …`) into `out`, reusing its capacity.
    pub fn interleave_into(&self, out: &mut Vec<f32>) {
        out.clear();
        out.reserve(self.data.len());
        for i in 0..self.n_frames {
            out.extend((0..self.n_channels).map(|c| self.data[c * self.n_frames + i]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_annotations_timed_from_the_origin() {
        let e = |duration| Event {
            time: 12.5,
            duration,
            label: "spindle",
        };
        let a = e(0.8).to_annotation(10.0);
        assert_eq!(
            (a.onset, a.duration, a.text.as_str()),
            (2.5, Some(0.8), "spindle")
        );
        assert_eq!(e(0.0).to_annotation(0.0).duration, None, "a point in time");
    }

    #[test]
    fn channel_major_layout_and_interleave() {
        let mut b = Block::new(2, 3);
        b.channel_mut(0).copy_from_slice(&[1.0, 2.0, 3.0]);
        b.channel_mut(1).copy_from_slice(&[10.0, 20.0, 30.0]);
        let mut out = Vec::new();
        b.interleave_into(&mut out);
        assert_eq!(out, [1.0, 10.0, 2.0, 20.0, 3.0, 30.0]);
        b.set_start(500, 250.0);
        assert_eq!(b.timestamp, 2.0);
    }
}
