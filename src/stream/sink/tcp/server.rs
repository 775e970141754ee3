//! One TCP listener and its clients, shared by the sample and the event ports of the TCP
//! sink: each client gets the header line, then every chunk queued after it connected, from
//! its own bounded queue on the tokio runtime. In real time a client whose queue fills is
//! dropped and counted; with `--fast` the sender waits for room instead, and only a client
//! that takes nothing for [`FAST_STALL`] is dropped.

use crate::telemetry as tm;
use crate::{Error, Result};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// With `--fast`, how long a client may take no data before it is dropped.
pub const FAST_STALL: Duration = Duration::from_secs(10);

/// One chunk of a stream's bytes (a block's frames, or its events as JSON lines), shared
/// by every client queue.
#[derive(Clone)]
pub struct Chunk {
    /// Stream index of the block's first frame (the header's `start_index` for a client
    /// whose first chunk this is).
    pub start_index: u64,
    /// The bytes to send.
    pub bytes: Arc<Vec<u8>>,
}

struct Client {
    tx: mpsc::Sender<Chunk>,
    task: tokio::task::JoinHandle<()>,
    peer: SocketAddr,
}

struct Shared {
    clients: Mutex<Vec<Client>>,
    header: serde_json::Value,
    /// Whether the header carries the index of the client's first frame.
    start_index: bool,
    max_clients: usize,
    queue: usize,
    connected: metrics::Gauge,
}

/// What a [`Server`] is bound with besides its address.
pub struct ServerOptions<'a> {
    /// The JSON object each client receives first, as one line.
    pub header: serde_json::Value,
    /// Adds `start_index` (the client's first frame) to the header.
    pub start_index: bool,
    /// Connections beyond this many are refused.
    pub max_clients: usize,
    /// Chunks queued per client.
    pub queue: usize,
    /// Metric labels (stream and sink).
    pub labels: &'a [(&'static str, String)],
}

/// A listening socket, its accept task and its clients.
pub struct Server {
    rt: tokio::runtime::Handle,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
    dropped_clients: metrics::Counter,
    dropped_blocks: metrics::Counter,
}

impl Server {
    /// Binds `addr` now (a port in use fails here, before streaming) and starts accepting
    /// clients on `rt`; `name` is the sink as the user wrote it, for errors.
    pub fn bind(
        addr: SocketAddr,
        name: &str,
        o: ServerOptions,
        rt: &tokio::runtime::Handle,
    ) -> Result<Self> {
        let std_listener = std::net::TcpListener::bind(addr)
            .map_err(|e| Error::BadInput(format!("sink {name}: cannot listen on {addr}: {e}")))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| Error::os(format!("tcp://{addr}"), e))?;
        let listener = {
            let _g = rt.enter();
            tokio::net::TcpListener::from_std(std_listener)
                .map_err(|e| Error::os(format!("tcp://{addr}"), e))?
        };
        let shared = Arc::new(Shared {
            clients: Mutex::new(Vec::new()),
            header: o.header,
            start_index: o.start_index,
            max_clients: o.max_clients,
            queue: o.queue,
            connected: metrics::gauge!(tm::CLIENTS_CONNECTED, o.labels),
        });
        tracing::info!(%addr, "tcp sink listening");
        Ok(Server {
            rt: rt.clone(),
            accept: rt.spawn(accept_loop(listener, shared.clone())),
            shared,
            dropped_clients: metrics::counter!(tm::CLIENTS_DROPPED, o.labels),
            dropped_blocks: metrics::counter!(tm::BLOCKS_DROPPED, o.labels),
        })
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.shared.clients.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Chunks each client may have queued.
    pub fn queue(&self) -> usize {
        self.shared.queue
    }

    /// Hands `chunk` to every client: in real time without waiting (a full queue drops
    /// its client), else waiting for room.
    pub fn send(&self, chunk: Chunk, realtime: bool) {
        if !realtime {
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
    }

    /// `--fast`: waits for room in each queue (without holding the client list); drops
    /// clients that take nothing for [`FAST_STALL`].
    fn send_waiting(&self, chunk: Chunk) {
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
    }

    /// Stops accepting and lets every client drain what is queued (two seconds at most
    /// each), then closes them.
    pub fn finish(&self) {
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
    }
}

impl Drop for Server {
    /// Stops accepting (the listener closes with its task), also when the sink is dropped
    /// without `finish`, e.g. because another of its ports failed to bind.
    fn drop(&mut self) {
        self.accept.abort();
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
    let header = shared.header.clone();
    let task = tokio::spawn(serve_client(sock, rx, header, shared.start_index));
    clients.push(Client { tx, task, peer });
    shared.connected.set(clients.len() as f64);
    true
}

/// Writes the header (at once, or with the first chunk's index if `start_index`), then
/// every queued chunk.
async fn serve_client(
    mut sock: tokio::net::TcpStream,
    mut rx: mpsc::Receiver<Chunk>,
    mut header: serde_json::Value,
    start_index: bool,
) {
    let mut first = start_index;
    if !start_index && write_line(&mut sock, &header).await.is_err() {
        return;
    }
    while let Some(c) = rx.recv().await {
        if first {
            header["start_index"] = c.start_index.into();
            if write_line(&mut sock, &header).await.is_err() {
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

async fn write_line(
    sock: &mut tokio::net::TcpStream,
    v: &serde_json::Value,
) -> std::io::Result<()> {
    sock.write_all(format!("{v}\n").as_bytes()).await
}
