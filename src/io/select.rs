//! Which channels and which stretch of time a read should decode.

use crate::record::{find_labels, RecordInfo};

/// A channel subset and a time range, in seconds from the record start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Channel labels to keep, in output order; `None` keeps all.
    pub channels: Option<Vec<String>>,
    /// Start of the range in seconds (inclusive).
    pub start_s: f64,
    /// End of the range in seconds (exclusive); `None` reads to the end.
    pub end_s: Option<f64>,
}

impl Selection {
    /// Every channel, the whole record.
    pub fn all() -> Self {
        Self::default()
    }

    /// Resolves the channel labels against a file's channels, in the order asked.
    ///
    /// Returns indices into `info.channels`, or the first label that is not there.
    pub fn channel_indices(&self, info: &RecordInfo) -> Result<Vec<usize>, String> {
        match &self.channels {
            None => Ok((0..info.channels.len()).collect()),
            Some(want) => find_labels(info.channels.iter().map(|c| c.meta.label.as_str()), want)
                .map_err(|m| m.to_string()),
        }
    }

    /// [`Selection::channel_indices`] as an io error naming `path`.
    pub fn resolve(
        &self,
        info: &RecordInfo,
        path: &std::path::Path,
    ) -> crate::io::Result<Vec<usize>> {
        self.channel_indices(info)
            .map_err(|msg| crate::io::Error::Selection {
                path: path.to_path_buf(),
                msg,
            })
    }

    /// Keeps the annotations inside the selected time range, with onsets and the start
    /// time moved to the range's start.
    pub fn clip_meta(&self, meta: &mut crate::record::RecordMeta) {
        if self.start_s <= 0.0 && self.end_s.is_none() {
            return;
        }
        meta.clip(self.start_s, self.end_s.unwrap_or(f64::INFINITY));
    }

    /// Cuts a whole record read earlier to this time range (samples and annotations; the
    /// channels are left as they are).
    pub fn cut(&self, rec: &mut crate::record::Record) {
        for c in &mut rec.channels {
            let (a, b) = self.sample_range(c.meta.sample_rate, c.samples.len() as u64);
            c.samples.truncate(b as usize);
            c.samples.drain(..a as usize);
        }
        self.clip_meta(&mut rec.meta);
    }

    /// Sample range `[first, last)` of a channel at `rate` holding `n` samples.
    pub fn sample_range(&self, rate: f64, n: u64) -> (u64, u64) {
        let first = ((self.start_s.max(0.0) * rate).round() as u64).min(n);
        let last = self
            .end_s
            .map_or(n, |e| ((e.max(0.0) * rate).round() as u64).min(n));
        (first, last.max(first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_range_clamps_to_the_channel() {
        let s = Selection {
            start_s: 1.0,
            end_s: Some(2.5),
            ..Selection::all()
        };
        assert_eq!(s.sample_range(100.0, 1000), (100, 250));
        assert_eq!(s.sample_range(100.0, 120), (100, 120));
        assert_eq!(Selection::all().sample_range(256.0, 7), (0, 7));
    }
}
