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

    /// Why this time range keeps none of a record `duration_s` long, as the flags that set
    /// it and one sentence (`None` when it keeps samples): a start that is not a number,
    /// negative, or at or past the end, or an end at or before the start.
    pub fn range_problem(&self, duration_s: f64) -> Option<String> {
        let (start, end) = (self.start_s, self.end_s);
        let problem = if start.is_nan() || end.is_some_and(f64::is_nan) {
            "is not a number of seconds"
        } else if start < 0.0 {
            "starts before the recording"
        } else if end.is_some_and(|e| e <= start) {
            "is empty: it ends at or before its start"
        } else if start >= duration_s {
            "starts at or past the end of the recording"
        } else {
            return None;
        };
        let range = match end {
            Some(e) => format!("--start {start} --end {e}"),
            None => format!("--start {start}"),
        };
        Some(format!(
            "{range}: the time range {problem} ({duration_s} s long)"
        ))
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

    #[test]
    fn ranges_that_keep_nothing_are_named() {
        let range = |start_s, end_s| Selection {
            start_s,
            end_s,
            ..Selection::all()
        };
        assert_eq!(range(0.0, None).range_problem(10.0), None);
        assert_eq!(range(9.5, Some(20.0)).range_problem(10.0), None);
        let said = |s: Selection| s.range_problem(10.0).unwrap();
        assert_eq!(
            said(range(-1.0, None)),
            "--start -1: the time range starts before the recording (10 s long)"
        );
        assert!(said(range(f64::NAN, None)).contains("is not a number"));
        assert!(said(range(1.0, Some(f64::NAN))).contains("is not a number"));
        assert!(said(range(3.0, Some(3.0))).contains("--start 3 --end 3: the time range is empty"));
        assert!(said(range(10.0, None)).contains("starts at or past the end"));
    }
}
