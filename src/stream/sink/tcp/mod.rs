//! The TCP server sink: each client gets one JSON header line, then interleaved f32 LE
//! frames. Every client has its own bounded queue on the tokio runtime. In real time a
//! client whose queue fills (slow or stalled) is dropped and counted, never stalling the
//! stream; with `--fast` the stream waits for room instead (backpressure: the clients set
//! the pace), and only a client that takes nothing for [`FAST_STALL`] is dropped.
//!
//! With `events=PORT` a second port on the same host serves the generator's events (ECG
//! beats, EEG transients) as they are produced, one JSON line each after a header line,
//! indexed by frame as the sample port counts frames: the ground truth a monitor under
//! test is scored against, on the same connection type as its signal.

mod server;

use super::SinkContext;
use crate::block::Block;
use crate::stream::Sink;
use crate::{Error, Result};
use server::{Chunk, Server, ServerOptions};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use server::FAST_STALL;

/// Where and how the TCP sink listens:
/// `HOST:PORT?max_clients=N&queue=BLOCKS&wait=N&events=PORT`.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpOptions {
    /// Listen address; the host defaults to 127.0.0.1.
    pub addr: SocketAddr,
    /// Connections beyond this many are refused.
    pub max_clients: usize,
    /// Blocks queued per client before it counts as stalled; default one second's worth.
    pub queue_blocks: Option<usize>,
    /// Hold the stream's start until this many clients are connected (to each port).
    pub wait_clients: usize,
    /// Serve the generator's events as JSON lines on this port of the same host.
    pub events_port: Option<u16>,
}

impl TcpOptions {
    /// Parses what follows `tcp://`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |m: String| Error::BadInput(format!("sink tcp://{s}: {m}"));
        let (hostport, query) = s.split_once('?').unwrap_or((s, ""));
        let (host, port) = hostport
            .rsplit_once(':')
            .ok_or_else(|| bad("expected HOST:PORT".into()))?;
        let port: u16 = port
            .parse()
            .map_err(|_| bad(format!("bad port `{port}`")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = match host {
            "" | "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            h => h
                .parse()
                .map_err(|_| bad(format!("bad IP address `{h}`")))?,
        };
        let mut o = TcpOptions {
            addr: SocketAddr::new(ip, port),
            max_clients: 16,
            queue_blocks: None,
            wait_clients: 0,
            events_port: None,
        };
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let n: usize = v
                .parse()
                .map_err(|_| bad(format!("`{k}` needs a number")))?;
            match k {
                "max_clients" => o.max_clients = n,
                "queue" => o.queue_blocks = Some(n.max(1)),
                "wait" => o.wait_clients = n,
                "events" => {
                    let p = u16::try_from(n).ok().filter(|&p| p != 0 && p != port);
                    let p = p.ok_or_else(|| {
                        bad(format!(
                            "`events` needs a port other than {port}, 1 to 65535"
                        ))
                    })?;
                    o.events_port = Some(p);
                }
                _ => return Err(bad(format!("unknown option `{k}`"))),
            }
        }
        if o.max_clients == 0 {
            return Err(bad("`max_clients` must be at least 1".into()));
        }
        if o.wait_clients > o.max_clients {
            return Err(bad(format!(
                "`wait` {} is more than `max_clients` {}: the stream would never start",
                o.wait_clients, o.max_clients
            )));
        }
        if o.queue_blocks.is_some_and(|q| q > MAX_QUEUE_BLOCKS) {
            return Err(bad(format!(
                "`queue` is at most {MAX_QUEUE_BLOCKS} blocks per client"
            )));
        }
        Ok(o)
    }
}

/// Most blocks a client's queue may hold (`queue=`): a stalled client holds that many
/// blocks in memory before it is dropped (10 minutes of 20 ms blocks).
pub const MAX_QUEUE_BLOCKS: usize = 30_000;

/// Serves the stream to TCP clients (see the module docs for the wire format).
pub struct TcpSink {
    samples: Server,
    events: Option<Events>,
    wait_clients: usize,
    realtime: bool,
    frames: Vec<f32>,
    spare: VecDeque<Arc<Vec<u8>>>,
}

/// The event port: its server and the sample rate that turns onsets into frame indices.
struct Events {
    server: Server,
    sample_rate: f64,
    text: String,
}

impl TcpSink {
    /// Binds the listeners now (a port in use fails here, before streaming) and starts
    /// accepting clients on the runtime.
    pub fn bind(o: &TcpOptions, ctx: &SinkContext) -> Result<Self> {
        if o.events_port.is_some() && ctx.labels.is_empty() {
            return Err(Error::BadInput(format!(
                "sink tcp://{}: `events` asked for, but stream `{}` labels no events",
                o.addr, ctx.stream
            )));
        }
        let channels: Vec<_> = (ctx.spec.channels.iter())
            .map(|c| serde_json::json!({"label": c.label, "unit": c.unit}))
            .collect();
        let header = serde_json::json!({"format": "f32le",
            "sample_rate": ctx.spec.sample_rate, "channels": channels});
        Ok(Self {
            samples: listen(o, ctx, o.addr, header, true)?,
            events: o.events_port.map(|p| Events::bind(o, ctx, p)).transpose()?,
            wait_clients: o.wait_clients,
            realtime: ctx.realtime,
            frames: Vec::new(),
            spare: VecDeque::new(),
        })
    }

    /// Encodes `block` as interleaved f32 LE into a recycled shared buffer.
    fn encode(&mut self, block: &Block) -> Arc<Vec<u8>> {
        block.interleave_into(&mut self.frames);
        let reusable = (self.spare.front()).is_some_and(|b| Arc::strong_count(b) == 1);
        let mut buf = match reusable {
            true => self.spare.pop_front().unwrap_or_default(),
            false => Arc::new(Vec::new()),
        };
        let v = Arc::get_mut(&mut buf).expect("buffer is unshared");
        v.clear();
        v.extend(self.frames.iter().flat_map(|x| x.to_le_bytes()));
        self.spare.push_back(buf.clone());
        if self.spare.len() > self.samples.queue() + 2 {
            self.spare.pop_front();
        }
        buf
    }
}

/// Binds one port of the sink `o` describes (`addr`: its own or its event port); each
/// client gets `header` first, with `start_index` added if asked.
fn listen(
    o: &TcpOptions,
    ctx: &SinkContext,
    addr: SocketAddr,
    header: serde_json::Value,
    start_index: bool,
) -> Result<Server> {
    let per_second = (ctx.spec.sample_rate / ctx.block_frames as f64).ceil() as usize;
    let labels = [
        ("stream", ctx.stream.clone()),
        ("sink", format!("tcp://{addr}")),
    ];
    let opts = ServerOptions {
        header,
        start_index,
        max_clients: o.max_clients,
        queue: o.queue_blocks.unwrap_or(per_second.max(4)),
        labels: &labels,
    };
    Server::bind(addr, &format!("tcp://{}", o.addr), opts, &ctx.rt)
}

impl Events {
    /// Listens on `port` of the sink's host; the header names the labels the generator
    /// may emit.
    fn bind(o: &TcpOptions, ctx: &SinkContext, port: u16) -> Result<Self> {
        let header = serde_json::json!({"format": "events",
            "sample_rate": ctx.spec.sample_rate, "labels": ctx.labels});
        Ok(Events {
            server: listen(o, ctx, SocketAddr::new(o.addr.ip(), port), header, false)?,
            sample_rate: ctx.spec.sample_rate,
            text: String::new(),
        })
    }

    /// Sends `block`'s events, one JSON line each: `sample` (the frame index from the
    /// stream's start, as the sample port counts), `time` and `duration` in seconds, `label`.
    fn send(&mut self, block: &Block, realtime: bool) {
        if block.events.is_empty() || self.server.clients() == 0 {
            return;
        }
        self.text.clear();
        for e in &block.events {
            let sample = (e.time * self.sample_rate).round() as u64;
            let label = serde_json::Value::from(e.label);
            let _ = writeln!(
                self.text,
                r#"{{"sample":{sample},"time":{:.6},"duration":{:.6},"label":{label}}}"#,
                e.time, e.duration
            );
        }
        let chunk = Chunk {
            start_index: block.start_index,
            bytes: Arc::new(self.text.as_bytes().to_vec()),
        };
        self.server.send(chunk, realtime);
    }
}

impl Sink for TcpSink {
    fn write(&mut self, block: &Block) -> Result<()> {
        if let Some(ev) = self.events.as_mut() {
            ev.send(block, self.realtime);
        }
        if self.samples.clients() == 0 {
            return Ok(());
        }
        let chunk = Chunk {
            start_index: block.start_index,
            bytes: self.encode(block),
        };
        self.samples.send(chunk, self.realtime);
        Ok(())
    }

    fn ready(&mut self, stop: &AtomicBool) -> Result<()> {
        let short = |s: &Server| s.clients() < self.wait_clients;
        while short(&self.samples) || self.events.as_ref().is_some_and(|e| short(&e.server)) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.samples.finish();
        if let Some(e) = &self.events {
            e.server.finish();
        }
        Ok(())
    }
}
