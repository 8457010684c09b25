//! Inputs: pcap/pcapng captures (streamed, any number of connections) or a
//! pair of raw direction streams. Every consumer (decode, stats, diagnose,
//! export-flv) sees the same sequence of [`Item`]s, in capture order.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use rtmpscope_capture::{CaptureError, CaptureEvent, CaptureReader, StreamKind};
use rtmpscope_core::{session, Event, Session};

/// Where a session's bytes came from.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Session number, from 0 in order of appearance.
    pub number: u64,
    /// Client address (None for raw streams).
    pub client: Option<SocketAddr>,
    /// Server address (None for raw streams).
    pub server: Option<SocketAddr>,
    /// Capture time of the first segment.
    pub start: f64,
    /// RTMP, RTMP mid-stream or RTMPT.
    pub kind: StreamKind,
    /// For raw streams: the files.
    pub files: Option<(Option<PathBuf>, Option<PathBuf>)>,
}

/// What an input yields.
pub enum Item<'a> {
    /// An RTMP session starts.
    Session(&'a SessionInfo),
    /// An event of a session.
    Event(&'a SessionInfo, &'a Event),
    /// One direction of a session's connection ended (FIN, or RST when `reset`).
    Closed {
        info: &'a SessionInfo,
        dir: rtmpscope_core::Direction,
        reset: bool,
        time: f64,
    },
    /// A session ended (its connection closed, or the input ended).
    End(&'a SessionInfo, &'a Session),
    /// A TCP connection that is not RTMP.
    Skipped {
        client: SocketAddr,
        server: SocketAddr,
        what: String,
    },
    /// A problem with the capture file.
    Warning(String),
}

/// Where a command's input comes from: a capture or a raw stream (FILE), or
/// the two directions' raw streams (--c2s, --s2c).
#[derive(clap::Args, Debug)]
pub struct InputArgs {
    /// A pcap or pcapng capture, or a raw .c2s/.s2c stream (its sibling is read too).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Raw bytes the client sent (starting with C0).
    #[arg(long, value_name = "FILE")]
    c2s: Option<PathBuf>,
    /// Raw bytes the server sent (starting with S0).
    #[arg(long, value_name = "FILE")]
    s2c: Option<PathBuf>,
}

/// What to read.
pub enum Input {
    /// A pcap or pcapng file.
    Capture(PathBuf),
    /// Raw direction streams.
    Pair(Option<PathBuf>, Option<PathBuf>),
}

impl Input {
    /// From a FILE argument and the optional --c2s/--s2c.
    pub fn from_args(a: InputArgs) -> Result<Input> {
        match (a.file, a.c2s, a.s2c) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                bail!("give either FILE or --c2s/--s2c, not both")
            }
            (Some(f), None, None) => Ok(pair_for(&f).unwrap_or(Input::Capture(f))),
            (None, None, None) => bail!("nothing to read: give FILE (pcap, pcapng, or a raw .c2s/.s2c stream) or --c2s/--s2c (see --help)"),
            (None, c, s) => Ok(Input::Pair(c, s)),
        }
    }
}

/// A `.c2s` or `.s2c` file names a raw pair (its sibling is used when present).
fn pair_for(f: &Path) -> Option<Input> {
    let ext = f.extension()?.to_str()?;
    let (c2s, s2c) = match ext {
        "c2s" => (f.to_path_buf(), f.with_extension("s2c")),
        "s2c" => (f.with_extension("c2s"), f.to_path_buf()),
        _ => return None,
    };
    let keep = |p: PathBuf| p.exists().then_some(p);
    Some(Input::Pair(keep(c2s), keep(s2c)))
}

fn read_raw(path: &Option<PathBuf>) -> Result<Bytes> {
    match path {
        None => Ok(Bytes::new()),
        Some(p) => std::fs::read(p)
            .map(Bytes::from)
            .with_context(|| format!("cannot read {}", p.display())),
    }
}

/// Connection ids to their state: looked up for every segment, so not SipHash.
type FastMap<V> = HashMap<u64, V, foldhash::fast::RandomState>;

struct Live {
    number: u64,
    session: Session,
    closed: [bool; 2],
}

/// Reads the input and calls `sink` for every item, in order.
pub fn run(input: &Input, mut sink: impl FnMut(Item<'_>) -> Result<()>) -> Result<()> {
    match input {
        Input::Pair(c2s, s2c) => {
            let c = read_raw(c2s)?;
            let s = read_raw(s2c)?;
            let info = SessionInfo {
                number: 0,
                client: None,
                server: None,
                start: 0.0,
                kind: StreamKind::Rtmp,
                files: Some((c2s.clone(), s2c.clone())),
            };
            // Step by step: a long pair never has all its events in memory.
            let mut pair = session::PairDecoder::new(c, s);
            sink(Item::Session(&info))?;
            let mut events = Vec::new();
            loop {
                let more = pair.step(&mut events);
                for e in events.drain(..) {
                    sink(Item::Event(&info, &e))?;
                }
                if !more {
                    break;
                }
            }
            sink(Item::End(&info, pair.session()))
        }
        Input::Capture(path) => run_capture(path, sink),
    }
}

/// What the decoding thread hands over: an [`Item`] that owns its parts.
/// Events, nearly every item, are not held here but in their batch's own
/// vector, where the session wrote them: an event (over 300 bytes) is then
/// never moved between being decoded and being dropped.
enum Owned {
    Session(SessionInfo),
    /// The next `n` events of the batch, all of session `number`.
    Events {
        number: u64,
        n: usize,
    },
    Closed {
        number: u64,
        dir: rtmpscope_core::Direction,
        reset: bool,
        time: f64,
    },
    End(u64, Box<Session>),
    Skipped {
        client: SocketAddr,
        server: SocketAddr,
        what: String,
    },
    Warning(String),
}

/// Items and the events they refer to, handed over at once.
struct Batch {
    items: Vec<Owned>,
    events: Vec<Event>,
}

/// Items handed over at once: enough to make the hand-over cheap, few enough
/// (and few enough payload bytes) to keep memory small.
const BATCH_ITEMS: usize = 2048;
const BATCH_BYTES: usize = 256 << 10;
/// Batches on their way: the decoding thread waits when the consumer is behind.
const BATCHES_IN_FLIGHT: usize = 3;

/// Collects owned items and sends them in batches; `false` once the consumer is gone.
struct Batcher {
    batch: Batch,
    bytes: usize,
    tx: std::sync::mpsc::SyncSender<Batch>,
    /// Batches the consumer is done with, emptied, to be filled again.
    spare: std::sync::mpsc::Receiver<Batch>,
}

impl Batcher {
    fn new(
        tx: std::sync::mpsc::SyncSender<Batch>,
        spare: std::sync::mpsc::Receiver<Batch>,
    ) -> Batcher {
        Batcher {
            batch: Batch::with_capacity(),
            bytes: 0,
            tx,
            spare,
        }
    }

    fn push(&mut self, item: Owned) -> bool {
        self.batch.items.push(item);
        self.maybe_flush()
    }

    /// Lets `write` append events of session `number` to the batch.
    fn events(&mut self, number: u64, write: impl FnOnce(&mut Vec<Event>)) -> bool {
        let events = &mut self.batch.events;
        let before = events.len();
        write(events);
        let n = events.len() - before;
        if n == 0 {
            return true;
        }
        for e in &events[before..] {
            if let Event::Message(m) = e {
                self.bytes += m.raw.payload.len();
            }
        }
        self.batch.items.push(Owned::Events { number, n });
        self.maybe_flush()
    }

    fn maybe_flush(&mut self) -> bool {
        if self.batch.items.len() + self.batch.events.len() >= BATCH_ITEMS
            || self.bytes >= BATCH_BYTES
        {
            return self.flush();
        }
        true
    }

    fn flush(&mut self) -> bool {
        self.bytes = 0;
        if self.batch.items.is_empty() {
            return true;
        }
        let next = match self.spare.try_recv() {
            Ok(mut spare) => {
                spare.events.clear();
                spare
            }
            Err(_) => Batch::with_capacity(),
        };
        let batch = std::mem::replace(&mut self.batch, next);
        self.tx.send(batch).is_ok()
    }
}

impl Batch {
    fn with_capacity() -> Batch {
        Batch {
            items: Vec::with_capacity(BATCH_ITEMS / 4),
            events: Vec::with_capacity(BATCH_ITEMS),
        }
    }
}

/// A capture is decoded in a pipeline of three threads: one reads the file
/// and reassembles TCP, one decodes the RTMP sessions, and the caller's
/// thread gets the items in order (and writes JSON, counts statistics, …).
/// The stages overlap on the machine's cores, so a command takes about as
/// long as its slowest stage instead of the sum.
fn run_capture(path: &Path, mut sink: impl FnMut(Item<'_>) -> Result<()>) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    // The reader buffers the file itself: a BufReader would copy every byte once more.
    let reader = CaptureReader::new(file).map_err(|e| match e {
        CaptureError::NotACapture(why) => {
            anyhow::anyhow!("{}: not a pcap/pcapng file: {why}", path.display())
        }
        other => anyhow::anyhow!("{}: {other}", path.display()),
    })?;
    // Each stage hands its batches on and gets them back emptied, so that
    // their memory is reused instead of given back and faulted in again.
    let (capture_tx, capture_rx) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
    let (capture_spare_tx, capture_spare_rx) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
    let (tx, rx) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
    let (spare_tx, spare_rx) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
    let mut out = Batcher::new(tx, spare_rx);
    std::thread::scope(|scope| {
        let capture = std::thread::Builder::new()
            .name("capture".into())
            .spawn_scoped(scope, move || {
                read_capture(reader, capture_tx, capture_spare_rx)
            })
            .context("cannot start the capture thread")?;
        let incoming = Incoming {
            rx: capture_rx,
            spare: capture_spare_tx,
            events: VecDeque::new(),
            error: None,
            bytes_read: 0,
        };
        let decoder = std::thread::Builder::new()
            .name("decode".into())
            .spawn_scoped(scope, move || {
                decode_capture(path, size, incoming, &mut out);
                out.flush();
            })
            .context("cannot start the decoding thread")?;
        let mut infos: FastMap<SessionInfo> = FastMap::default();
        let mut result = Ok(());
        'batches: for mut batch in rx.iter() {
            let mut events = batch.events.iter();
            for item in batch.items.drain(..) {
                result = deliver(item, &mut events, &mut infos, &mut sink);
                if result.is_err() {
                    break 'batches;
                }
            }
            // The events go back with their batch and are dropped by the
            // decoding thread when it fills the batch again: it made their
            // payloads' slices, and dropping them there keeps the shared
            // counts of those blocks on its core. Full (the decoder has
            // spares enough) or closed: dropped here.
            let _ = spare_tx.try_send(batch);
        }
        // Dropping the receiver makes the decoding thread stop at its next batch.
        drop(rx);
        if decoder.join().is_err() || capture.join().is_err() {
            bail!("the decoding thread failed");
        }
        result
    })
}

/// Capture events from the reading thread, with how far it had read.
struct CaptureBatch {
    events: VecDeque<CaptureEvent>,
    bytes_read: u64,
    /// The reader's error after the events, which ends the capture.
    error: Option<CaptureError>,
}

/// The reading thread's work: the capture's events, in batches.
fn read_capture(
    mut reader: CaptureReader<File>,
    tx: std::sync::mpsc::SyncSender<CaptureBatch>,
    spare: std::sync::mpsc::Receiver<VecDeque<CaptureEvent>>,
) {
    let mut events = VecDeque::with_capacity(BATCH_ITEMS);
    let mut bytes = 0;
    loop {
        let (last, error) = match reader.next_event() {
            Ok(Some(ev)) => {
                if let CaptureEvent::Data { bytes: b, .. } = &ev {
                    bytes += b.len();
                }
                events.push_back(ev);
                (false, None)
            }
            Ok(None) => (true, None),
            Err(e) => (true, Some(e)),
        };
        if last || events.len() >= BATCH_ITEMS || bytes >= BATCH_BYTES {
            let next = spare
                .try_recv()
                .unwrap_or_else(|_| VecDeque::with_capacity(BATCH_ITEMS));
            let batch = CaptureBatch {
                events: std::mem::replace(&mut events, next),
                bytes_read: reader.bytes_read(),
                error,
            };
            bytes = 0;
            // A closed channel: the decoding thread stopped early.
            if tx.send(batch).is_err() || last {
                return;
            }
        }
    }
}

/// The decoding thread's view of the reading thread: [`CaptureReader`]'s calls.
struct Incoming {
    rx: std::sync::mpsc::Receiver<CaptureBatch>,
    /// Where emptied batches go back to the reading thread.
    spare: std::sync::mpsc::SyncSender<VecDeque<CaptureEvent>>,
    events: VecDeque<CaptureEvent>,
    error: Option<CaptureError>,
    bytes_read: u64,
}

impl Incoming {
    fn next_event(&mut self) -> Result<Option<CaptureEvent>, CaptureError> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Ok(Some(ev));
            }
            if let Some(e) = self.error.take() {
                return Err(e);
            }
            let Ok(batch) = self.rx.recv() else {
                return Ok(None);
            };
            let done = std::mem::replace(&mut self.events, batch.events);
            // Full or closed: dropped here.
            let _ = self.spare.try_send(done);
            self.error = batch.error;
            self.bytes_read = batch.bytes_read;
        }
    }

    fn bytes_read(&self) -> u64 {
        self.bytes_read
    }
}

/// Hands one owned item to the sink as an [`Item`].
fn deliver(
    item: Owned,
    events: &mut std::slice::Iter<'_, Event>,
    infos: &mut FastMap<SessionInfo>,
    sink: &mut impl FnMut(Item<'_>) -> Result<()>,
) -> Result<()> {
    match item {
        Owned::Session(info) => {
            let number = info.number;
            let info = infos.entry(number).or_insert(info);
            sink(Item::Session(info))
        }
        Owned::Events { number, n } => {
            let mut events = events.by_ref().take(n);
            match infos.get(&number) {
                Some(info) => events.try_for_each(|ev| sink(Item::Event(info, ev))),
                None => {
                    events.for_each(drop);
                    Ok(())
                }
            }
        }
        Owned::Closed {
            number,
            dir,
            reset,
            time,
        } => match infos.get(&number) {
            Some(info) => sink(Item::Closed {
                info,
                dir,
                reset,
                time,
            }),
            None => Ok(()),
        },
        Owned::End(number, session) => match infos.remove(&number) {
            Some(info) => sink(Item::End(&info, &session)),
            None => Ok(()),
        },
        Owned::Skipped {
            client,
            server,
            what,
        } => sink(Item::Skipped {
            client,
            server,
            what,
        }),
        Owned::Warning(message) => sink(Item::Warning(message)),
    }
}

/// The decoding thread's work: every capture event through its session.
/// Returns early when the consumer has stopped.
fn decode_capture(path: &Path, size: u64, mut reader: Incoming, out: &mut Batcher) {
    let bar = progress_bar(size);
    let mut conns: FastMap<(SocketAddr, SocketAddr, f64)> = FastMap::default();
    let mut live: FastMap<Live> = FastMap::default();
    let mut next_session = 0u64;
    let mut last_pos = 0u64;
    loop {
        let ev = match reader.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e) => {
                if !out.push(Owned::Warning(format!("{}: {e}", path.display()))) {
                    return;
                }
                break;
            }
        };
        if let Some(b) = &bar {
            let pos = reader.bytes_read();
            if pos - last_pos > (1 << 20) {
                b.set_position(pos);
                last_pos = pos;
            }
        }
        let going = match ev {
            CaptureEvent::Connection {
                conn,
                client,
                server,
                time,
                ..
            } => {
                conns.insert(conn, (client, server, time));
                true
            }
            CaptureEvent::Classified { conn, kind } => {
                let Some(&(client, server, start)) = conns.get(&conn) else {
                    continue;
                };
                if !kind.is_rtmp() {
                    conns.remove(&conn);
                    out.push(Owned::Skipped {
                        client,
                        server,
                        what: kind.to_string(),
                    })
                } else {
                    let session = match kind {
                        StreamKind::RtmpMidStream => Session::mid_stream(),
                        _ => Session::new(),
                    };
                    let info = SessionInfo {
                        number: next_session,
                        client: Some(client),
                        server: Some(server),
                        start,
                        kind,
                        files: None,
                    };
                    next_session += 1;
                    live.insert(
                        conn,
                        Live {
                            number: info.number,
                            session,
                            closed: [false; 2],
                        },
                    );
                    out.push(Owned::Session(info))
                }
            }
            CaptureEvent::Data {
                conn,
                dir,
                bytes,
                time,
                earlier,
            } => match live.get_mut(&conn) {
                Some(l) => out.events(l.number, |evs| {
                    l.session.feed_segments(dir, bytes, &earlier, time, evs)
                }),
                None => true,
            },
            CaptureEvent::Gap {
                conn,
                dir,
                len,
                time,
            } => match live.get_mut(&conn) {
                Some(l) => out.events(l.number, |evs| l.session.gap(dir, len, time, evs)),
                None => true,
            },
            CaptureEvent::Closed {
                conn,
                dir,
                reset,
                time,
            } => {
                let (going, done) = match live.get_mut(&conn) {
                    Some(l) => {
                        l.closed[dir as usize] = true;
                        let going = out.push(Owned::Closed {
                            number: l.number,
                            dir,
                            reset,
                            time,
                        });
                        (going, l.closed[0] && l.closed[1])
                    }
                    None => (true, false),
                };
                if done {
                    conns.remove(&conn);
                    match live.remove(&conn) {
                        Some(l) => going && finish(l, out),
                        None => going,
                    }
                } else {
                    going
                }
            }
            CaptureEvent::Warning {
                packet,
                offset,
                message,
            } => out.push(Owned::Warning(format!(
                "{}: packet {packet} (file byte {offset}): {message}",
                path.display()
            ))),
        };
        if !going {
            return;
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut rest: Vec<Live> = live.into_values().collect();
    rest.sort_by_key(|l| l.number);
    for l in rest {
        if !finish(l, out) {
            return;
        }
    }
}

/// Ends a session: its last events, then the session itself.
fn finish(mut l: Live, out: &mut Batcher) -> bool {
    out.events(l.number, |evs| l.session.finish(evs))
        && out.push(Owned::End(l.number, Box::new(l.session)))
}

fn progress_bar(size: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() || size < (64 << 20) {
        return None;
    }
    let b = ProgressBar::new(size);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} decoding [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        b.set_style(style.progress_chars("=> "));
    }
    Some(b)
}
