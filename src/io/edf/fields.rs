//! Fixed-width ASCII fields of EDF headers: parsing (lenient about padding) and formatting.

use crate::io::{Error, Result};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use std::path::Path;

/// Widths of the ten per-signal header fields (label, transducer, unit, physical min and
/// max, digital min and max, prefiltering, samples per record, reserved), each stored for
/// every signal before the next field starts.
pub const SIGNAL_FIELD_WIDTHS: [usize; 10] = [16, 80, 8, 8, 8, 8, 8, 80, 8, 32];

/// Field bytes as a trimmed string (non-ASCII bytes replaced, NULs treated as padding).
pub fn ascii(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_matches(|c: char| c == ' ' || c == '\0')
        .to_string()
}

/// Parses a numeric field: surrounding spaces and a leading `+` are accepted.
pub fn parse_num<T: std::str::FromStr>(path: &Path, field: &str, b: &[u8]) -> Result<T> {
    let s = ascii(b);
    let t = s.strip_prefix('+').unwrap_or(&s);
    t.parse::<T>()
        .map_err(|_| Error::format(path, field, format!("`{s}` is not a valid number")))
}

/// Parses `dd.mm.yy` and `hh.mm.ss`; with EDF+ the recording field's `Startdate
/// dd-MMM-yyyy` gives the 4-digit year, and `Startdate X` (unknown or anonymised) no start
/// at all. Years 85–99 are 1985–1999, 00–84 are 2000–2084.
pub fn parse_date_time(
    path: &Path,
    date: &str,
    time: &str,
    recording: Option<&str>,
) -> Result<Option<NaiveDateTime>> {
    let unknown = |r: &str| {
        r.strip_prefix("Startdate ")
            .map(|d| d.split(' ').next() == Some("X"))
    };
    if recording.and_then(unknown) == Some(true) {
        return Ok(None);
    }
    let parts = |s: &str, field: &str| -> Result<[u32; 3]> {
        let v: Vec<u32> = s
            .split(['.', ':'])
            .map(|p| p.trim().parse::<u32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::format(path, field, format!("`{s}` is not dd.mm.yy / hh.mm.ss")))?;
        <[u32; 3]>::try_from(v)
            .map_err(|_| Error::format(path, field, format!("`{s}` is not dd.mm.yy / hh.mm.ss")))
    };
    let [d, m, y2] = parts(date, "startdate of recording")?;
    let [hh, mm, ss] = parts(time, "starttime of recording")?;
    let mut year = if y2 >= 85 { 1900 + y2 } else { 2000 + y2 } as i32;
    if let Some(y4) = recording.and_then(plus_year) {
        year = y4;
    }
    let date = NaiveDate::from_ymd_opt(year, m, d).ok_or_else(|| {
        Error::format(
            path,
            "startdate of recording",
            format!("`{date}` is not a calendar date"),
        )
    })?;
    let time = NaiveTime::from_hms_opt(hh, mm, ss).ok_or_else(|| {
        Error::format(
            path,
            "starttime of recording",
            format!("`{time}` is not a time of day"),
        )
    })?;
    Ok(Some(date.and_time(time)))
}

/// The 4-digit year of an EDF+ recording field `Startdate dd-MMM-yyyy …`, if present.
fn plus_year(recording: &str) -> Option<i32> {
    let rest = recording.strip_prefix("Startdate ")?;
    let date = rest.split(' ').next()?;
    let year = date.rsplit('-').next()?;
    (year.len() == 4).then(|| year.parse().ok()).flatten()
}

/// `s` in printable ASCII, as EDF headers hold text: one character for each of `s`'s,
/// micro (µ, μ) as `u` as EDF writes µV, anything else outside printable ASCII as `_`.
pub fn ascii_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' '..='~' => c,
            'µ' | 'μ' => 'u',
            _ => '_',
        })
        .collect()
}

/// `s` as a field of exactly `width` bytes: [`ascii_text`], cut or padded with spaces.
pub fn field(s: &str, width: usize) -> Vec<u8> {
    let mut b = ascii_text(s).into_bytes();
    b.truncate(width);
    b.resize(width, b' ');
    b
}

/// Signal labels as a header holds them (16 ASCII characters), told apart: a label the
/// cut or the ASCII changed that comes out as another's text, or a data signal labelled as
/// an annotation signal, ends in `~N` instead.
/// Returns the labels and, for each changed one, `(was, now)`.
pub fn header_labels(labels: &[String]) -> (Vec<String>, Vec<(String, String)>) {
    const WIDTH: usize = 16;
    let fit = |s: &str| {
        String::from_utf8_lossy(&field(s, WIDTH))
            .trim_end()
            .to_string()
    };
    // The annotation signals' labels: a data signal so named would be read as one.
    let mut seen: std::collections::HashSet<String> = ["EDF Annotations", "BDF Annotations"]
        .map(String::from)
        .into();
    let (mut out, mut changed) = (Vec::new(), Vec::new());
    for l in labels {
        let mut now = fit(l);
        if now != l.trim_end() || (seen.contains(&now) && now.ends_with(" Annotations")) {
            let base = now.clone();
            for n in 2.. {
                if !seen.contains(&now) {
                    break;
                }
                let tail = format!("~{n}");
                now = format!("{}{tail}", &base[..base.len().min(WIDTH - tail.len())]);
            }
            changed.push((l.clone(), now.clone()));
        }
        seen.insert(now.clone());
        out.push(now);
    }
    (out, changed)
}

/// Shortest decimal for `x` that fits 8 characters, rounded toward `down` (floor) or up.
///
/// Writers use it for physical ranges and read the written text back, so the scaling a
/// reader computes is exactly the scaling used to quantise.
pub fn num8(x: f64, round_down: bool) -> String {
    for decimals in (0..=7).rev() {
        let scale = 10f64.powi(decimals);
        let v = if round_down {
            (x * scale).floor()
        } else {
            (x * scale).ceil()
        } / scale;
        let s = format!("{v:.*}", decimals as usize);
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        let s = if s == "-0" { "0".to_string() } else { s };
        if s.len() <= 8 {
            return s;
        }
    }
    // Integers too wide for 8 characters: saturate (only absurd ranges reach here).
    if x < 0.0 {
        "-9999999".into()
    } else {
        "99999999".into()
    }
}

/// A record duration that fits 8 characters exactly, or `None`.
pub fn duration8(d: f64) -> Option<String> {
    let s = format!("{d:.7}");
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    (s.len() <= 8 && s.parse::<f64>().ok() == Some(d)).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_cut_to_ascii_and_kept_apart() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (out, changed) = header_labels(&l(&[
            "a very long channel label one",
            "a very long channel label two",
            "Fp1",
            "Fp1",
            "µV-Kanäle",
            "EDF Annotations",
        ]));
        assert_eq!(
            out,
            l(&[
                "a very long chan",
                "a very long ch~2",
                "Fp1",
                "Fp1",
                "uV-Kan_le",
                "EDF Annotation~2"
            ])
        );
        assert_eq!(changed.len(), 4, "{changed:?}");
        assert_eq!(field("µV", 8), b"uV      ");
        assert_eq!(field("a\tb", 4), b"a_b ");
    }

    #[test]
    fn numbers_tolerate_padding_and_plus() {
        let p = Path::new("x.edf");
        assert_eq!(parse_num::<i64>(p, "f", b"  +12   ").unwrap(), 12);
        assert_eq!(parse_num::<f64>(p, "f", b"-3.5    ").unwrap(), -3.5);
        let e = parse_num::<i64>(p, "number of signals", b"ab      ").unwrap_err();
        assert!(e.to_string().contains("number of signals"), "{e}");
    }

    #[test]
    fn dates_use_the_pivot_and_the_edf_plus_year() {
        let p = Path::new("x.edf");
        let d = parse_date_time(p, "04.07.86", "13.05.00", None)
            .unwrap()
            .unwrap();
        assert_eq!(d.to_string(), "1986-07-04 13:05:00");
        let d = parse_date_time(
            p,
            "04.07.03",
            "13.05.00",
            Some("Startdate 04-JUL-2103 X X X"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(d.to_string(), "2103-07-04 13:05:00");
        assert!(parse_date_time(p, "31.02.03", "00.00.00", None).is_err());
        let unknown = Some("Startdate X X X biowave");
        assert_eq!(
            parse_date_time(p, "01.01.00", "00.00.00", unknown).unwrap(),
            None
        );
    }

    #[test]
    fn num8_fits_and_rounds_outward() {
        assert_eq!(num8(-5.12, true), "-5.12");
        assert_eq!(num8(1.0 / 3.0, false), "0.333334");
        assert_eq!(num8(-1234.56789, true), "-1234.57");
        assert!(num8(123456789.0, false).len() <= 8);
        assert_eq!(duration8(0.512).as_deref(), Some("0.512"));
        assert_eq!(duration8(1.0).as_deref(), Some("1"));
    }
}
