//! The TCP server sink: each client gets one JSON header line, then interleaved f32 LE
//! frames. Every client has its own bounded queue on the tokio runtime. In real time a
//! client whose queue fills (slow or stalled) is dropped and counted, never stalling the
//! stream; with `--fast` the stream waits for room instead (backpressure: the clients set
//! the pace), and only a client that takes nothing for [`FAST_STALL`] is dropped.

use super::SinkContext;
use crate::block::Block;
use crate::stream::Sink;
use crate::telemetry as tm;
use crate::{Error, Result};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// With `--fast`, how long a client may take no data before it is dropped.
pub const FAST_STALL: Duration = Duration::from_secs(10);

/// Where and how the TCP sink listens: `HOST:PORT?max_clients=N&queue=BLOCKS&wait=N`.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpOptions {
    /// Listen address; the host defaults to 127.0.0.1.
    pub addr: SocketAddr,
    /// Connections beyond this many are refused.
    pub max_clients: usize,
    /// Blocks queued per client before it counts as stalled; default one second's worth.
    pub queue_blocks: Option<usize>,
    /// Hold the stream's start until this many clients are connected.
    pub wait_clients: usize,
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
                _ => return Err(bad(format!("unknown option `{k}`"))),
            }
        }
        Ok(o)
    }
}

/// One block's bytes, shared by every client queue.
#[derive(Clone)]
struct Chunk {
    start_index: u64,
    bytes: Arc<Vec<u8>>,
}

struct Client {
    tx: mpsc::Sender<Chunk>,
    task: tokio::task::JoinHandle<()>,
    peer: SocketAddr,
}

struct Shared {
    clients: Mutex<Vec<Client>>,
    header: serde_json::Value,
    max_clients: usize,
    queue: usize,
    connected: metrics::Gauge,
}

/// Serves the stream to TCP clients (see the module docs for the wire format).
pub struct TcpSink {
    rt: tokio::runtime::Handle,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
    wait_clients: usize,
    realtime: bool,
    frames: Vec<f32>,
    spare: VecDeque<Arc<Vec<u8>>>,
    dropped_clients: metrics::Counter,
    dropped_blocks: metrics::Counter,
}

impl TcpSink {
    /// Binds the listener now (a port in use fails here, before streaming) and starts
    /// accepting clients on the runtime.
    pub fn bind(o: &TcpOptions, ctx: &SinkContext) -> Result<Self> {
        let std_listener = std::net::TcpListener::bind(o.addr)
            .map_err(|e| Error::BadInput(format!("sink tcp://{}: cannot listen: {e}", o.addr)))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| Error::os(format!("tcp://{}", o.addr), e))?;
        let listener = {
            let _g = ctx.rt.enter();
            tokio::net::TcpListener::from_std(std_listener)
                .map_err(|e| Error::os(format!("tcp://{}", o.addr), e))?
        };
        let labels = [
            ("stream", ctx.stream.clone()),
            ("sink", format!("tcp://{}", o.addr)),
        ];
        let channels: Vec<_> = (ctx.spec.channels.iter())
            .map(|c| serde_json::json!({"label": c.label, "unit": c.unit}))
            .collect();
        let per_second = (ctx.spec.sample_rate / ctx.block_frames as f64).ceil() as usize;
        let shared = Arc::new(Shared {
            clients: Mutex::new(Vec::new()),
            header: serde_json::json!({"format": "f32le",
                "sample_rate": ctx.spec.sample_rate, "channels": channels}),
            max_clients: o.max_clients,
            queue: o.queue_blocks.unwrap_or(per_second.max(4)),
            connected: metrics::gauge!(tm::CLIENTS_CONNECTED, &labels),
        });
        tracing::info!(addr = %o.addr, "tcp sink listening");
        let accept = ctx.rt.spawn(accept_loop(listener, shared.clone()));
        Ok(Self {
            rt: ctx.rt.clone(),
            shared,
            accept,
            wait_clients: o.wait_clients,
            realtime: ctx.realtime,
            frames: Vec::new(),
            spare: VecDeque::new(),
            dropped_clients: metrics::counter!(tm::CLIENTS_DROPPED, &labels),
            dropped_blocks: metrics::counter!(tm::BLOCKS_DROPPED, &labels),
        })
    }

    /// `--fast`: hands `chunk` to every client, waiting for room in each queue (without
    /// holding the client list); drops clients that take nothing for [`FAST_STALL`].
    fn send_waiting(&mut self, chunk: Chunk) -> Result<()> {
        let senders: Vec<_> = (self.shared.clients.lock().expect("client list lock"))
            .iter()
            .map(|c| (c.peer, c.tx.clone()))
            .collect();
        let mut gone = Vec::new();
        for (peer, tx) in senders {
            match self.rt.block_on(tx.send_timeout(chunk.clone(), FAST_STALL)) {
                Ok(()) => {}
                Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                    tracing::warn!(%peer, "tcp client took nothing for {FAST_STALL:?}: dropped");
                    self.dropped_clients.increment(1);
                    gone.push(peer);
                }
                Err(mpsc::error::SendTimeoutError::Closed(_)) => gone.push(peer),
            }
        }
        let mut clients = self.shared.clients.lock().expect("client list lock");
        clients.retain(|c| {
            let keep = !gone.contains(&c.peer);
            if !keep {
                c.task.abort();
            }
            keep
        });
        self.shared.connected.set(clients.len() as f64);
        Ok(())
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
        if self.spare.len() > self.shared.queue + 2 {
            self.spare.pop_front();
        }
        buf
    }
}

impl Sink for TcpSink {
    fn write(&mut self, block: &Block) -> Result<()> {
        if self
            .shared
            .clients
            .lock()
            .map(|c| c.is_empty())
            .unwrap_or(true)
        {
            return Ok(());
        }
        let chunk = Chunk {
            start_index: block.start_index,
            bytes: self.encode(block),
        };
        if !self.realtime {
            return self.send_waiting(chunk);
        }
        let mut clients = self.shared.clients.lock().expect("client list lock");
        clients.retain(|c| match c.tx.try_send(chunk.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(peer = %c.peer, "tcp client too slow: dropped");
                self.dropped_clients.increment(1);
                self.dropped_blocks.increment(1);
                c.task.abort();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        self.shared.connected.set(clients.len() as f64);
        Ok(())
    }

    fn ready(&mut self, stop: &AtomicBool) -> Result<()> {
        while self.shared.clients.lock().map(|c| c.len()).unwrap_or(0) < self.wait_clients {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.accept.abort();
        let clients = std::mem::take(&mut *self.shared.clients.lock().expect("client list lock"));
        // Dropping each sender lets its client drain what is queued, then close.
        let tasks: Vec<_> = clients.into_iter().map(|c| c.task).collect();
        self.rt.block_on(async {
            for t in tasks {
                let abort = t.abort_handle();
                if tokio::time::timeout(Duration::from_secs(2), t)
                    .await
                    .is_err()
                {
                    abort.abort();
                }
            }
        });
        self.shared.connected.set(0.0);
        Ok(())
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    // Refusals are logged at most once a second: a flood of connections must not flood
    // the log (or block on a slow stderr).
    let (mut refused, mut last_report) = (0u64, None::<std::time::Instant>);
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("tcp accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !admit(&shared, sock, peer) {
            refused += 1;
            if last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                tracing::warn!(
                    refused,
                    max = shared.max_clients,
                    "tcp clients refused: too many connected"
                );
                (refused, last_report) = (0, Some(std::time::Instant::now()));
            }
            continue;
        }
        tracing::info!(%peer, "tcp client connected");
    }
}

/// Adds a client unless `max_clients` are connected (the socket is then closed). Holds the
/// client lock only for the check and the push: nothing here can block the pacer.
fn admit(shared: &Arc<Shared>, sock: tokio::net::TcpStream, peer: SocketAddr) -> bool {
    let mut clients = shared.clients.lock().expect("client list lock");
    if clients.len() >= shared.max_clients {
        return false;
    }
    let _ = sock.set_nodelay(true);
    // A small kernel buffer so a stalled reader shows up in its queue within seconds.
    let _ = socket2::SockRef::from(&sock).set_send_buffer_size(64 * 1024);
    let (tx, rx) = mpsc::channel(shared.queue);
    let task = tokio::spawn(serve_client(sock, rx, shared.header.clone()));
    clients.push(Client { tx, task, peer });
    shared.connected.set(clients.len() as f64);
    true
}

/// Writes the header (with the first block's index), then every queued block.
async fn serve_client(
    mut sock: tokio::net::TcpStream,
    mut rx: mpsc::Receiver<Chunk>,
    mut header: serde_json::Value,
) {
    let mut first = true;
    while let Some(c) = rx.recv().await {
        if first {
            header["start_index"] = c.start_index.into();
            let line = format!("{header}\n");
            if sock.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            first = false;
        }
        if sock.write_all(&c.bytes).await.is_err() {
            return;
        }
    }
    let _ = sock.shutdown().await;
}
