//! EDF+ Time-stamped Annotation Lists: `+onset[\x15duration]\x14text\x14…\x14\0`.

use crate::record::Annotation;

/// One TAL: an onset, an optional duration and its texts (possibly none).
#[derive(Debug, Clone, PartialEq)]
pub struct Tal {
    /// Seconds from the file start.
    pub onset: f64,
    /// Seconds, when given.
    pub duration: Option<f64>,
    /// Annotation texts; the record's time-keeping TAL has one empty text.
    pub texts: Vec<String>,
}

/// Parses the TALs of one record's annotation signal; `Err` says what is malformed.
pub fn parse(bytes: &[u8]) -> Result<Vec<Tal>, String> {
    bytes
        .split(|&b| b == 0)
        .filter(|t| !t.is_empty())
        .map(parse_one)
        .collect()
}

fn parse_one(t: &[u8]) -> Result<Tal, String> {
    let mut parts = t.split(|&b| b == 0x14);
    let time = parts.next().unwrap_or_default();
    let mut time_parts = time.split(|&b| b == 0x15);
    let onset = number(time_parts.next().unwrap_or_default(), "onset", true)?;
    let duration = time_parts
        .next()
        .filter(|d| !d.is_empty())
        .map(|d| number(d, "duration", false))
        .transpose()?;
    let mut texts: Vec<String> = parts
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    // A TAL ends with \x14, leaving one empty piece after the last text.
    if texts.len() > 1 && texts.last().is_some_and(String::is_empty) {
        texts.pop();
    }
    Ok(Tal {
        onset,
        duration,
        texts,
    })
}

fn number(b: &[u8], what: &str, signed: bool) -> Result<f64, String> {
    let s = std::str::from_utf8(b).map_err(|_| format!("TAL {what} is not ASCII"))?;
    if signed && !(s.starts_with('+') || s.starts_with('-')) {
        return Err(format!("TAL {what} `{s}` lacks its sign"));
    }
    let v: f64 = s
        .trim_start_matches('+')
        .parse()
        .map_err(|_| format!("TAL {what} `{s}` is not a number"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("TAL {what} `{s}` is not finite"))
    }
}

/// Annotations of a TAL (one per non-empty text).
pub fn annotations(tal: &Tal) -> impl Iterator<Item = Annotation> + '_ {
    tal.texts
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| Annotation {
            onset: tal.onset,
            duration: tal.duration,
            text: t.clone(),
        })
}

/// Writes one TAL to `out`.
pub fn write(out: &mut Vec<u8>, onset: f64, duration: Option<f64>, texts: &[&str]) {
    out.extend_from_slice(format_onset(onset).as_bytes());
    if let Some(d) = duration {
        out.push(0x15);
        out.extend_from_slice(trim_num(format!("{d:.6}")).as_bytes());
    }
    out.push(0x14);
    for t in texts {
        out.extend(t.bytes().filter(|&b| b != 0 && b != 0x14 && b != 0x15));
        out.push(0x14);
    }
    out.push(0);
}

fn format_onset(onset: f64) -> String {
    let s = trim_num(format!("{:.6}", onset.abs()));
    if onset < 0.0 {
        format!("-{s}")
    } else {
        format!("+{s}")
    }
}

fn trim_num(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_time_keeping_and_multi_text_tals() {
        let b = b"+0\x14\x14\0+1.5\x152\x14beat\x14noise\x14\0\0\0";
        let tals = parse(b).unwrap();
        assert_eq!(tals.len(), 2);
        assert_eq!(tals[0].texts, vec![String::new()]);
        assert_eq!(tals[1].onset, 1.5);
        assert_eq!(tals[1].duration, Some(2.0));
        assert_eq!(tals[1].texts, vec!["beat", "noise"]);
        assert!(parse(b"12\x14x\x14\0").is_err(), "onset without sign");
    }

    #[test]
    fn write_then_parse_round_trips() {
        let mut b = Vec::new();
        write(&mut b, 3.25, Some(0.5), &["R", "artefact"]);
        write(&mut b, -0.5, None, &[""]);
        let tals = parse(&b).unwrap();
        assert_eq!(
            tals[0],
            Tal {
                onset: 3.25,
                duration: Some(0.5),
                texts: vec!["R".into(), "artefact".into()]
            }
        );
        assert_eq!(tals[1].onset, -0.5);
    }
}
