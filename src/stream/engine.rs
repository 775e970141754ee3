//! The engine: one generator thread and one pacer thread per stream, joined by a bounded
//! crossbeam channel of recycled blocks; the pacer writes each block to the sinks.

use super::pacer::Pacer;
use super::pool::Pool;
use super::Sink;
use crate::block::Block;
use crate::model::Generator;
use crate::telemetry as tm;
use crate::{Error, Result};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to do when a sink fails to write (a broken pipe always just closes that sink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// End the stream and report the error (exit code 1).
    #[default]
    Stop,
    /// Finish and remove the failing sink; the stream goes on while any sink remains.
    Drop,
}

/// Longest a real-time stream waits for its queue to fill before its clock starts (a
/// generator slower than real time never fills it; it starts after this and underruns).
pub const MAX_PREFILL: Duration = Duration::from_secs(2);

/// How one stream runs.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Name used in logs and as the `stream` metric label.
    pub name: String,
    /// Frames per block.
    pub block_frames: usize,
    /// Stop after exactly this many frames; `None` runs until stopped.
    pub total_frames: Option<u64>,
    /// Pace on the monotonic clock (`--realtime`) or run flat out (`--fast`).
    pub realtime: bool,
    /// Sink error policy.
    pub on_error: OnError,
    /// Blocks the generator may run ahead of the pacer.
    pub queue_blocks: usize,
}

/// A sink with the name it is reported under.
pub struct NamedSink {
    /// As given by the user, e.g. `tcp://127.0.0.1:5000`.
    pub name: String,
    /// The sink.
    pub sink: Box<dyn Sink>,
}

/// A generator and its sinks, ready to run.
pub struct Stream {
    /// How it runs.
    pub opts: StreamOptions,
    /// Where the samples come from.
    pub generator: Box<dyn Generator>,
    /// Where they go.
    pub sinks: Vec<NamedSink>,
}

/// What a stream did, returned when it ends.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The stream's name.
    pub name: String,
    /// Frames released to the sinks.
    pub frames: u64,
    /// Blocks not ready at their deadline.
    pub underruns: u64,
    /// Largest release lateness seen.
    pub max_lateness: Duration,
    /// Sinks removed on error or closed by their reader.
    pub sinks_closed: usize,
}

/// Runs every stream to its end (duration reached, `stop` set, or all sinks closed),
/// finishing every sink. Returns one report per stream, or the first stream's error.
pub fn run(streams: Vec<Stream>, stop: Arc<AtomicBool>) -> Result<Vec<Report>> {
    let handles: Vec<_> = streams
        .into_iter()
        .map(|s| spawn_stream(s, stop.clone()))
        .collect::<Result<_>>()?;
    let mut reports = Vec::new();
    let mut first_err = None;
    for (name, gen, pace) in handles {
        let gen_res = gen
            .join()
            .unwrap_or_else(|_| Err(panicked(&name, "generator")));
        let pace_res = pace
            .join()
            .unwrap_or_else(|_| Err(panicked(&name, "pacer")));
        match pace_res.and_then(|r| gen_res.map(|_| r)) {
            Ok(r) => reports.push(r),
            Err(e) => {
                tracing::error!(stream = %name, "stream ended with an error: {e}");
                first_err.get_or_insert(e);
            }
        }
    }
    first_err.map_or(Ok(reports), Err)
}

fn panicked(name: &str, what: &str) -> Error {
    Error::BadInput(format!("stream {name}: the {what} thread panicked"))
}

type Spawned = (
    String,
    std::thread::JoinHandle<Result<()>>,
    std::thread::JoinHandle<Result<Report>>,
);

fn spawn_stream(s: Stream, stop: Arc<AtomicBool>) -> Result<Spawned> {
    let n_ch = s.generator.spec().n_channels();
    let rate = s.generator.spec().sample_rate;
    let queue = s.opts.queue_blocks.max(1);
    // Queue + one being filled + one being written + one spare: never allocates.
    let pool = Pool::new(n_ch, s.opts.block_frames, queue + 3);
    let (tx, rx) = crossbeam_channel::bounded(queue);
    let name = s.opts.name.clone();
    let spawn_err = |e| Error::os(format!("stream {name}: starting a thread"), e);
    let gen = {
        let (pool, stop, opts) = (pool.clone(), stop.clone(), s.opts.clone());
        let generator = s.generator;
        std::thread::Builder::new()
            .name(format!("gen-{name}"))
            .spawn(move || generate(generator, &pool, tx, &opts, &stop))
            .map_err(spawn_err)?
    };
    let pace = {
        let mut emitter = Emitter::new(s.opts, rate, n_ch, s.sinks, pool);
        std::thread::Builder::new()
            .name(format!("pace-{name}"))
            .spawn(move || emitter.run(rx, &stop))
            .map_err(spawn_err)?
    };
    Ok((name, gen, pace))
}

/// The generator thread: fills blocks until the duration is reached, `stop` is set, or
/// the pacer hangs up.
fn generate(
    mut generator: Box<dyn Generator>,
    pool: &Pool,
    tx: Sender<Block>,
    opts: &StreamOptions,
    stop: &AtomicBool,
) -> Result<()> {
    let gen_time = metrics::histogram!(tm::GENERATION_SECONDS, "stream" => opts.name.clone());
    let mut produced = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let n = match opts.total_frames {
            Some(total) if produced >= total => break,
            Some(total) => (total - produced).min(opts.block_frames as u64) as usize,
            None => opts.block_frames,
        };
        let mut block = pool.get();
        if n < block.n_frames {
            block.n_frames = n;
            block.data.truncate(n * block.n_channels);
        }
        block.events.clear();
        let t = Instant::now();
        generator.fill(&mut block)?;
        gen_time.record(t.elapsed().as_secs_f64());
        produced += n as u64;
        if tx.send(block).is_err() {
            break;
        }
    }
    Ok(())
}

/// The pacer thread's state: sinks, counters and metric handles of one stream.
struct Emitter {
    opts: StreamOptions,
    rate: f64,
    n_channels: u64,
    sinks: Vec<NamedSink>,
    pool: Pool,
    report: Report,
    m: EmitMetrics,
}

struct EmitMetrics {
    stream: String,
    frames: metrics::Counter,
    samples: metrics::Counter,
    underruns: metrics::Counter,
    queue: metrics::Gauge,
    lateness: metrics::Histogram,
    /// One counter per event label, registered at the label's first event.
    events: Vec<(&'static str, metrics::Counter)>,
}

impl EmitMetrics {
    fn new(stream: &str) -> Self {
        let l = || [("stream", stream.to_string())];
        Self {
            stream: stream.to_string(),
            frames: metrics::counter!(tm::FRAMES_EMITTED, &l()),
            samples: metrics::counter!(tm::SAMPLES_EMITTED, &l()),
            underruns: metrics::counter!(tm::UNDERRUNS, &l()),
            queue: metrics::gauge!(tm::QUEUE_DEPTH, &l()),
            lateness: metrics::histogram!(tm::LATENESS_SECONDS, &l()),
            events: Vec::new(),
        }
    }

    /// Counts `block`'s events by label.
    fn count_events(&mut self, block: &Block) {
        for e in &block.events {
            let i = match self.events.iter().position(|(l, _)| *l == e.label) {
                Some(i) => i,
                None => {
                    let labels = [("stream", self.stream.clone()), ("label", e.label.into())];
                    let c = metrics::counter!(tm::EVENTS_EMITTED, &labels);
                    self.events.push((e.label, c));
                    self.events.len() - 1
                }
            };
            self.events[i].1.increment(1);
        }
    }
}

impl Emitter {
    fn new(opts: StreamOptions, rate: f64, n_ch: usize, sinks: Vec<NamedSink>, pool: Pool) -> Self {
        let m = EmitMetrics::new(&opts.name);
        let report = Report {
            name: opts.name.clone(),
            ..Report::default()
        };
        Self {
            opts,
            rate,
            n_channels: n_ch as u64,
            sinks,
            pool,
            report,
            m,
        }
    }

    /// Releases blocks until the generator ends or every sink is gone, then finishes sinks.
    fn run(&mut self, rx: Receiver<Block>, stop: &AtomicBool) -> Result<Report> {
        let result = self.pump(&rx, stop);
        drop(rx); // a generator still running sees the hang-up and ends
        let finished = self.finish_all();
        result.and(finished)?;
        tracing::info!(stream = %self.opts.name, frames = self.report.frames,
            underruns = self.report.underruns, "stream ended");
        Ok(self.report.clone())
    }

    fn pump(&mut self, rx: &Receiver<Block>, stop: &AtomicBool) -> Result<()> {
        let Ok(first) = rx.recv() else {
            return Ok(());
        };
        for s in &mut self.sinks {
            s.sink.ready(stop)?;
        }
        if self.opts.realtime {
            self.prefill(rx, &first, stop);
        }
        let pacer = Pacer::new(Instant::now(), self.rate);
        let mut pending = Some(first);
        let mut next_index = 0u64;
        loop {
            let block = match pending.take() {
                Some(b) => b,
                None => match self.next_block(rx, &pacer, next_index) {
                    Some(b) => b,
                    None => return Ok(()),
                },
            };
            if self.opts.realtime {
                let deadline = pacer.deadline(block.start_index);
                pacer.wait_until(deadline);
                let late = Instant::now().saturating_duration_since(deadline);
                self.m.lateness.record(late.as_secs_f64());
                self.report.max_lateness = self.report.max_lateness.max(late);
            }
            self.m.queue.set(rx.len() as f64);
            next_index = block.start_index + block.n_frames as u64;
            let more = self.write_all(&block);
            self.pool.put(block);
            if !more? {
                return Ok(());
            }
        }
    }

    /// Waits, before the clock starts, until the queue holds as many blocks as it can (or
    /// as are left), at most [`MAX_PREFILL`]: the stream starts with the queue's whole lead
    /// over the pacer, not one block's. Streams started together otherwise each start their
    /// clock at their first block while the others still make theirs (the first block makes
    /// every stage's first chunk), and their next blocks come late: 16 / 32 concurrent
    /// 12-lead transformer streams gave 0–1 / 3 underruns in 15 s, 128 none with this.
    fn prefill(&self, rx: &Receiver<Block>, first: &Block, stop: &AtomicBool) {
        let room = rx.capacity().unwrap_or(0);
        let want = match self.opts.total_frames {
            Some(total) => {
                let left = total.saturating_sub(first.n_frames as u64);
                let blocks = left.div_ceil(self.opts.block_frames.max(1) as u64);
                room.min(usize::try_from(blocks).unwrap_or(usize::MAX))
            }
            None => room,
        };
        let t0 = Instant::now();
        while rx.len() < want && t0.elapsed() < MAX_PREFILL && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The next block; in real time, one missing at its deadline is an underrun.
    fn next_block(&mut self, rx: &Receiver<Block>, pacer: &Pacer, index: u64) -> Option<Block> {
        if !self.opts.realtime {
            return rx.recv().ok();
        }
        pacer.wait_until(pacer.deadline(index));
        match rx.try_recv() {
            Ok(b) => Some(b),
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => {
                self.report.underruns += 1;
                self.m.underruns.increment(1);
                tracing::warn!(stream = %self.opts.name, frame = index,
                    "underrun: block not ready at its deadline");
                rx.recv().ok()
            }
        }
    }

    /// Writes `block` to every sink under the error policy; `Ok(false)` when none is left.
    fn write_all(&mut self, block: &Block) -> Result<bool> {
        let mut i = 0;
        while i < self.sinks.len() {
            match self.sinks[i].sink.write(block) {
                Ok(()) => i += 1,
                Err(e) if is_broken_pipe(&e) => {
                    tracing::info!(sink = %self.sinks[i].name, "reader closed; sink ended");
                    self.close_sink(i, false);
                }
                Err(e) => {
                    let name = self.sinks[i].name.clone();
                    if self.opts.on_error == OnError::Stop {
                        return Err(Error::Sink {
                            sink: name,
                            source: Box::new(e),
                        });
                    }
                    tracing::error!(sink = %name, "sink failed, dropping it: {e}");
                    let labels = [("stream", self.opts.name.clone()), ("sink", name)];
                    metrics::counter!(tm::SINKS_DROPPED, &labels).increment(1);
                    metrics::counter!(tm::BLOCKS_DROPPED, &labels).increment(1);
                    self.close_sink(i, true);
                }
            }
        }
        let n = block.n_frames as u64;
        self.report.frames += n;
        self.m.frames.increment(n);
        self.m.samples.increment(n * self.n_channels);
        self.m.count_events(block);
        Ok(!self.sinks.is_empty())
    }

    fn close_sink(&mut self, i: usize, log: bool) {
        let mut s = self.sinks.remove(i);
        self.report.sinks_closed += 1;
        if let Err(e) = s.sink.finish() {
            if log {
                tracing::warn!(sink = %s.name, "finishing a dropped sink: {e}");
            }
        }
    }

    /// Finishes every remaining sink; reports the first failure after trying them all.
    fn finish_all(&mut self) -> Result<()> {
        let mut first = Ok(());
        for mut s in self.sinks.drain(..) {
            match s.sink.finish() {
                Err(e) if is_broken_pipe(&e) => {}
                Err(e) => {
                    tracing::error!(sink = %s.name, "finishing: {e}");
                    if first.is_ok() {
                        first = Err(Error::Sink {
                            sink: s.name.clone(),
                            source: Box::new(e),
                        });
                    }
                }
                Ok(()) => {}
            }
        }
        first
    }
}

/// True when a write failed because the reader went away (closed pipe or socket).
pub fn is_broken_pipe(e: &Error) -> bool {
    let kind = match e {
        Error::Os { source, .. } => source.kind(),
        Error::Io(crate::io::Error::File { source, .. }) => source.kind(),
        _ => return false,
    };
    matches!(
        kind,
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_signal::Sine;
    use crate::record::SignalSpec;

    /// A sine whose `slow`-th fill takes `pause` (a model making a chunk), the rest at once.
    struct Bursty {
        sine: Sine,
        fills: usize,
        slow: usize,
        pause: Duration,
    }

    impl Generator for Bursty {
        fn spec(&self) -> &SignalSpec {
            self.sine.spec()
        }
        fn fill(&mut self, block: &mut Block) -> Result<()> {
            self.fills += 1;
            if self.fills == self.slow {
                std::thread::sleep(self.pause);
            }
            self.sine.fill(block)
        }
    }

    struct Discard;
    impl Sink for Discard {
        fn write(&mut self, _: &Block) -> Result<()> {
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            Ok(())
        }
    }

    fn run_bursty(slow: usize, pause_ms: u64) -> Report {
        run_bursty_queued(slow, pause_ms, 10)
    }

    fn run_bursty_queued(slow: usize, pause_ms: u64, queue_blocks: usize) -> Report {
        let s = Stream {
            opts: StreamOptions {
                name: "bursty".into(),
                block_frames: 10,
                total_frames: Some(300),
                realtime: true,
                on_error: OnError::Stop,
                queue_blocks,
            },
            generator: Box::new(Bursty {
                sine: Sine::new(500.0, 1, 10.0, 1.0),
                fills: 0,
                slow,
                pause: Duration::from_millis(pause_ms),
            }),
            sinks: vec![NamedSink {
                name: "discard".into(),
                sink: Box::new(Discard),
            }],
        };
        let stop = Arc::new(AtomicBool::new(false));
        run(vec![s], stop).unwrap().remove(0)
    }

    /// The clock starts once the queue is full: a second block that takes 60 ms (three
    /// blocks' worth) is covered by the queue's 200 ms lead instead of coming late; a
    /// pause longer than the lead is still an underrun, counted.
    #[test]
    fn the_queue_fills_before_the_clock_starts() {
        let r = run_bursty(2, 60);
        assert_eq!((r.frames, r.underruns), (300, 0), "{r:?}");
        let r = run_bursty(15, 400);
        assert_eq!(r.frames, 300);
        assert!(r.underruns >= 1, "{r:?}");
        // A deeper queue (`buffer_ms` 500: 25 blocks of 20 ms) rides the same pause out.
        let r = run_bursty_queued(15, 400, 25);
        assert_eq!((r.frames, r.underruns), (300, 0), "{r:?}");
    }
}
