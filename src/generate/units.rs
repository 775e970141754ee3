//! Parsing of durations (`10m`, `30s`, `1h`, `500ms`, `2.5`) and shards (`I/N`).

use crate::{Error, Result};

/// Seconds in a duration such as `10m`, `30s`, `1h`, `500ms` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<f64> {
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = |why: &str| Error::BadInput(format!("duration `{s}`: {why}"));
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| bad("expected a number and a unit such as 30s, 10m, 1h"))?;
    let scale = match unit {
        "" | "s" | "sec" => 1.0,
        "ms" => 1e-3,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(bad("unknown unit (use ms, s, m, h, d)")),
    };
    let secs = v * scale;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(bad("must be positive"));
    }
    if secs > 365.0 * 86400.0 {
        return Err(bad("longer than a year"));
    }
    Ok(secs)
}

/// A shard `index/total` of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    /// This shard, `0..total`.
    pub index: u64,
    /// Number of shards.
    pub total: u64,
}

impl Shard {
    /// The whole dataset in one shard.
    pub const ALL: Shard = Shard { index: 0, total: 1 };

    /// Record indices of this shard out of `count`: index, index+total, …
    pub fn indices(self, count: u64) -> impl Iterator<Item = u64> {
        (self.index..count).step_by(self.total as usize)
    }
}

/// Parses `I/N` with `0 <= I < N`.
pub fn parse_shard(s: &str) -> Result<Shard> {
    let bad = || {
        Error::BadInput(format!(
            "--shard `{s}`: expected I/N with 0 <= I < N, e.g. 0/4"
        ))
    };
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, total): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if total == 0 || index >= total {
        return Err(bad());
    }
    Ok(Shard { index, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_shards() {
        assert_eq!(parse_duration("10m").unwrap(), 600.0);
        assert_eq!(parse_duration("1h").unwrap(), 3600.0);
        assert_eq!(parse_duration("2.5").unwrap(), 2.5);
        assert_eq!(parse_duration("500ms").unwrap(), 0.5);
        for bad in ["-5s", "0s", "abc", "5x", ""] {
            assert_eq!(parse_duration(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
        assert_eq!(
            parse_shard("1/3").unwrap().indices(8).collect::<Vec<_>>(),
            [1, 4, 7]
        );
        for bad in ["3/3", "1", "a/b", "0/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
