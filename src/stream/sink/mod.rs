//! Sinks: where a stream's blocks go. `SinkSpec` parses the `--to` syntax; [`build`]
//! opens the sink (binding ports, creating files) so bad input fails before streaming.

pub mod file;
pub mod lsl;
pub mod stdout;
pub mod tcp;

use crate::record::SignalSpec;
use crate::stream::Sink;
use crate::{Error, Result};
use std::path::PathBuf;

/// Text layout of the stdout sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TextFormat {
    /// Little-endian f32, frames interleaved (`c0 c1 … c0 c1 …`).
    #[default]
    F32,
    /// CSV with a header row `time,LABEL…`.
    Csv,
}

/// A parsed `--to` value.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkSpec {
    /// `stdout`.
    Stdout,
    /// `file:PATH` (format from the extension).
    File(PathBuf),
    /// `tcp://HOST:PORT[?max_clients=N&queue=BLOCKS&wait=N&events=PORT]`.
    Tcp(tcp::TcpOptions),
    /// `lsl:NAME`: an LSL outlet (liblsl loaded at run time).
    Lsl(String),
}

impl SinkSpec {
    /// Parses `stdout`, `file:PATH`, `tcp://HOST:PORT?…`, `lsl:NAME`.
    pub fn parse(s: &str) -> Result<SinkSpec> {
        if s == "stdout" || s == "-" {
            Ok(SinkSpec::Stdout)
        } else if let Some(p) = s.strip_prefix("file:") {
            if p.is_empty() {
                return Err(Error::BadInput(format!("sink `{s}`: file path is empty")));
            }
            Ok(SinkSpec::File(PathBuf::from(p)))
        } else if let Some(rest) = s.strip_prefix("tcp://") {
            Ok(SinkSpec::Tcp(tcp::TcpOptions::parse(rest)?))
        } else if let Some(n) = s.strip_prefix("lsl:") {
            Ok(SinkSpec::Lsl(n.to_string()))
        } else {
            Err(Error::BadInput(format!(
                "sink `{s}`: unknown scheme (expected stdout, file:PATH, tcp://HOST:PORT or lsl:NAME)"
            )))
        }
    }
}

/// Everything a sink needs to know about the stream it serves.
#[derive(Clone)]
pub struct SinkContext {
    /// Stream name, for metric labels.
    pub stream: String,
    /// Channels, units, rate.
    pub spec: SignalSpec,
    /// Frames per block.
    pub block_frames: usize,
    /// Real-time (flush each block) or fast (bulk) output.
    pub realtime: bool,
    /// stdout layout.
    pub format: TextFormat,
    /// Start a new numbered file after this many frames.
    pub roll_frames: Option<u64>,
    /// Labels the generator may put on events (`Generator::labels`; empty: it labels none).
    pub labels: Vec<&'static str>,
    /// Runtime for network sinks.
    pub rt: tokio::runtime::Handle,
}

/// Opens the sink `spec` describes: binds, creates files, checks paths.
pub fn build(spec: &SinkSpec, ctx: &SinkContext) -> Result<Box<dyn Sink>> {
    Ok(match spec {
        SinkSpec::Stdout => Box::new(stdout::StdoutSink::new(ctx)?),
        SinkSpec::File(p) => Box::new(file::FileSink::new(p, ctx)?),
        SinkSpec::Tcp(o) => Box::new(tcp::TcpSink::bind(o, ctx)?),
        SinkSpec::Lsl(name) => Box::new(lsl::LslSink::open(name, ctx)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme_and_rejects_unknown() {
        assert_eq!(SinkSpec::parse("stdout").unwrap(), SinkSpec::Stdout);
        assert_eq!(
            SinkSpec::parse("file:out/a.edf").unwrap(),
            SinkSpec::File("out/a.edf".into())
        );
        let SinkSpec::Tcp(t) = SinkSpec::parse("tcp://:7000?max_clients=3").unwrap() else {
            panic!("not tcp")
        };
        assert_eq!(t.addr.to_string(), "127.0.0.1:7000");
        assert_eq!(t.max_clients, 3);
        assert_eq!(t.events_port, None);
        let SinkSpec::Tcp(t) = SinkSpec::parse("tcp://:7000?events=7001&wait=1").unwrap() else {
            panic!("not tcp")
        };
        assert_eq!((t.events_port, t.wait_clients), (Some(7001), 1));
        assert!(SinkSpec::parse("tcp://:7000?events=0").is_err());
        let e = SinkSpec::parse("udp://1.2.3.4:5").unwrap_err().to_string();
        assert!(e.contains("unknown scheme"), "{e}");
        assert!(SinkSpec::parse("file:").is_err());
    }
}
