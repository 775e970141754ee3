//! Lab Streaming Layer outlet (`--to lsl:NAME`): float32 chunks with drift-free
//! timestamps, channel labels and units in the stream description; the events a generator
//! labels (ECGSYN's R peaks, `N`/`V`) go to a marker stream `NAME-markers` on the same
//! clock, opened at the first event.

mod ffi;

use super::SinkContext;
use crate::block::Block;
use crate::stream::Sink;
use crate::{Error, Result};

/// An LSL outlet fed block by block.
pub struct LslSink {
    name: String,
    outlet: ffi::Outlet,
    rate: f64,
    /// LSL clock at stream frame 0 (taken at the first block).
    t0: Option<f64>,
    frames: Vec<f32>,
    /// The marker outlet, once the generator has labelled an event.
    markers: Option<ffi::Outlet>,
    /// The library, kept for opening the marker outlet mid-stream without looking for it.
    lsl: ffi::Lsl,
}

/// LSL content type from the units: mV → ECG, µV → EEG.
fn content_type(ctx: &SinkContext) -> &'static str {
    match ctx.spec.channels.first().map(|c| c.unit.as_str()) {
        Some("mV") => "ECG",
        Some("uV" | "µV") => "EEG",
        _ => "Misc",
    }
}

impl LslSink {
    /// Loads liblsl and opens the outlet, so a missing library fails before streaming.
    pub fn open(name: &str, ctx: &SinkContext) -> Result<Self> {
        let fail = |m: String| Error::BadInput(format!("sink lsl:{name}: {m}"));
        let lsl = ffi::Lsl::load().map_err(fail)?;
        let source_id = format!("biowave-{name}");
        let decl = ffi::Declaration {
            name,
            kind: content_type(ctx),
            rate: ctx.spec.sample_rate,
            strings: false,
            source_id: &source_id,
            channels: ctx
                .spec
                .channels
                .iter()
                .map(|c| (c.label.as_str(), c.unit.as_str()))
                .collect(),
        };
        let outlet = ffi::Outlet::open(lsl.clone(), &decl).map_err(fail)?;
        Ok(LslSink {
            name: name.to_string(),
            outlet,
            rate: ctx.spec.sample_rate,
            t0: None,
            frames: Vec::new(),
            markers: None,
            lsl,
        })
    }

    /// Opens `NAME-markers`: one string channel at an irregular rate, type `Markers`.
    fn open_markers(&self) -> std::result::Result<ffi::Outlet, String> {
        let name = format!("{}-markers", self.name);
        let source_id = format!("biowave-{name}");
        let decl = ffi::Declaration {
            name: &name,
            kind: "Markers",
            rate: 0.0,
            strings: true,
            source_id: &source_id,
            channels: vec![("event", "")],
        };
        ffi::Outlet::open(self.lsl.clone(), &decl)
    }
}

impl Sink for LslSink {
    fn write(&mut self, block: &Block) -> Result<()> {
        let err = |m: String| Error::Os {
            context: format!("sink lsl:{}", self.name),
            source: std::io::Error::other(m),
        };
        let t0 = match self.t0 {
            Some(t) => t,
            None => {
                let now = self.outlet.local_clock().map_err(err)?;
                let t = now - block.start_index as f64 / self.rate;
                self.t0 = Some(t);
                t
            }
        };
        block.interleave_into(&mut self.frames);
        let last = (block.start_index + block.n_frames as u64).saturating_sub(1);
        let ts = t0 + last as f64 / self.rate;
        self.outlet.push(&self.frames, ts).map_err(err)?;
        if !block.events.is_empty() && self.markers.is_none() {
            self.markers = Some(self.open_markers().map_err(err)?);
        }
        if let Some(m) = self.markers.as_mut() {
            for e in &block.events {
                m.push_str(e.label, t0 + e.time).map_err(err)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
