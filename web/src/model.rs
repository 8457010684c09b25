//! The decoded capture as the worker keeps it: per session, the bytes of both
//! directions (for the hex view), one compact [`Row`] per message, the chunk
//! spans, the handshake, the problems and the diagnosis.
//!
//! Decoded bodies are not kept: a message's body is decoded again from its
//! bytes when it is selected, so memory stays near the size of the streams.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;

use bytes::Bytes;
use rtmpscope_capture::{CaptureError, CaptureEvent, CaptureReader, StreamKind};
use rtmpscope_core::chunk::ChunkSpan;
use rtmpscope_core::diagnose::{Diagnoser, Finding, Severity};
use rtmpscope_core::handshake::HandshakePart;
use rtmpscope_core::message::Body;
use rtmpscope_core::session::{HandshakeEvent, MessageEvent};
use rtmpscope_core::{Direction, Event, Session};

/// The bytes seen in one direction, as the pieces that arrived; a capture gap
/// leaves a hole between pieces (its length is never allocated).
#[derive(Debug, Default)]
pub struct DirBytes {
    pieces: Vec<(u64, Bytes)>,
    end: u64,
}

impl DirBytes {
    /// Appends the next bytes of the stream.
    pub fn push(&mut self, data: Bytes) {
        if !data.is_empty() {
            let len = data.len() as u64;
            self.pieces.push((self.end, data));
            self.end += len;
        }
    }

    /// Skips `len` missing bytes.
    pub fn gap(&mut self, len: u64) {
        self.end = self.end.saturating_add(len);
    }

    /// Bytes counted so far (gaps included).
    pub fn len(&self) -> u64 {
        self.end
    }

    /// Whether nothing arrived.
    pub fn is_empty(&self) -> bool {
        self.end == 0
    }

    /// Appends to `out` the bytes `start..end` that arrived, and returns how
    /// many of the requested bytes were missing (in a gap or past the end).
    pub fn read(&self, start: u64, end: u64, out: &mut Vec<u8>) -> u64 {
        let mut missing = 0;
        let mut pos = start;
        let first = self
            .pieces
            .partition_point(|(o, b)| o + b.len() as u64 <= start);
        for (o, b) in self.pieces.iter().skip(first) {
            if pos >= end {
                break;
            }
            if *o > pos {
                let hole = (*o).min(end) - pos;
                missing += hole;
                pos += hole;
                if pos >= end {
                    break;
                }
            }
            // On wasm32 usize is 32 bits: offsets past 4 GiB must not wrap.
            let from = usize::try_from(pos - o).unwrap_or(usize::MAX);
            let to = usize::try_from(end - o).unwrap_or(usize::MAX).min(b.len());
            if let Some(s) = b.get(from..to) {
                out.extend_from_slice(s);
                pos += s.len() as u64;
            }
        }
        missing + end.saturating_sub(pos)
    }
}

/// Row flag: every announced byte arrived.
pub const ROW_COMPLETE: u8 = 1;
/// Row flag: a header used the extended timestamp field.
pub const ROW_EXTENDED: u8 = 2;
/// Row flag: a video keyframe.
pub const ROW_KEYFRAME: u8 = 4;
/// Row flag: an audio or video sequence header (decoder configuration).
pub const ROW_SEQUENCE_HEADER: u8 = 8;
/// Row flag: the body did not decode.
pub const ROW_BODY_ERROR: u8 = 16;

/// One message, compactly: everything the table, the filters, the lanes and
/// the charts need without decoding the body again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Capture time of the bytes that completed the message.
    pub time: f64,
    /// Offset of the first chunk in the direction's stream.
    pub offset: u64,
    /// Offset just past the last chunk.
    pub end: u64,
    /// Index among the direction's messages.
    pub index: u32,
    /// Chunk stream id.
    pub csid: u32,
    /// Message stream id.
    pub stream_id: u32,
    /// Absolute timestamp (ms).
    pub timestamp: u32,
    /// Delta from the previous message of the chunk stream; `u32::MAX` after fmt 0.
    pub delta: u32,
    /// Announced length.
    pub length: u32,
    /// Number of chunks.
    pub chunks: u32,
    /// First of this message's spans in [`SessionData::spans`].
    pub span_start: u32,
    /// Spans listed (may be fewer than `chunks` for huge messages).
    pub span_count: u32,
    /// Summary text in [`SessionData::text`].
    pub summary: (u32, u32),
    /// Message type id.
    pub type_id: u8,
    /// Direction.
    pub dir: Direction,
    /// Header format of the first chunk.
    pub fmt: u8,
    /// `ROW_*` flags.
    pub flags: u8,
}

/// Something to show beside the messages: a decoding error, a gap or a note.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// `error`, `gap` or `note`.
    pub kind: &'static str,
    /// Direction.
    pub dir: Direction,
    /// Offset in the direction's stream.
    pub offset: u64,
    /// Capture time.
    pub time: f64,
    /// What happened.
    pub text: String,
}

/// Where a session's bytes came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// Client address (none for raw streams).
    pub client: Option<SocketAddr>,
    /// Server address.
    pub server: Option<SocketAddr>,
    /// Capture time of the first segment.
    pub start: f64,
    /// `RTMP`, `RTMP (capture starts mid-stream)`, `RTMPT`.
    pub protocol: String,
    /// For raw streams: the file names (c2s, s2c).
    pub files: Option<(Option<String>, Option<String>)>,
}

/// Everything kept about one session.
#[derive(Debug)]
pub struct SessionData {
    /// Session number, from 0 in order of appearance.
    pub number: u64,
    /// Where it came from.
    pub origin: Origin,
    /// Latest capture time seen.
    pub last_time: f64,
    /// The bytes of each direction (c2s, s2c).
    pub bytes: [DirBytes; 2],
    /// The messages, in the order the session yielded them.
    pub rows: Vec<Row>,
    /// Chunk spans of all messages.
    pub spans: Vec<ChunkSpan>,
    /// Summary texts, one after another.
    pub text: String,
    /// Row of each direction's message index.
    pub by_index: [Vec<u32>; 2],
    /// Handshake parts.
    pub handshakes: Vec<HandshakeEvent>,
    /// Errors, gaps and notes.
    pub problems: Vec<Problem>,
    /// Diagnosis so far (all of it once the session ended).
    pub findings: Vec<Finding>,
    /// `app` from connect.
    pub app: Option<String>,
    /// `tcUrl` from connect.
    pub tc_url: Option<String>,
    /// First stream named by publish/play, and which.
    pub stream: Option<(String, &'static str)>,
    /// FIN/RST seen per direction (true for RST).
    pub closed: [Option<bool>; 2],
    /// Whether the session ended (both directions closed, or the input ended).
    pub ended: bool,
    /// Messages whose bytes did not all arrive.
    pub incomplete: u64,
    diag: Diagnoser,
}

/// Problems kept per session: a hostile capture could produce one per chunk.
const MAX_PROBLEMS: usize = 10_000;
/// Summary bytes kept per message.
const MAX_SUMMARY: usize = 240;

impl SessionData {
    /// A new, empty session.
    pub fn new(number: u64, origin: Origin) -> SessionData {
        SessionData {
            number,
            last_time: origin.start,
            origin,
            bytes: Default::default(),
            rows: Vec::new(),
            spans: Vec::new(),
            text: String::new(),
            by_index: Default::default(),
            handshakes: Vec::new(),
            problems: Vec::new(),
            findings: Vec::new(),
            app: None,
            tc_url: None,
            stream: None,
            closed: [None; 2],
            ended: false,
            incomplete: 0,
            diag: Diagnoser::new(),
        }
    }

    /// The summary text of a row.
    pub fn summary(&self, row: &Row) -> &str {
        let (s, l) = (row.summary.0 as usize, row.summary.1 as usize);
        self.text.get(s..s.saturating_add(l)).unwrap_or("")
    }

    /// The chunk spans of a row.
    pub fn row_spans(&self, row: &Row) -> &[ChunkSpan] {
        let s = row.span_start as usize;
        self.spans
            .get(s..s.saturating_add(row.span_count as usize))
            .unwrap_or(&[])
    }

    /// Takes in the events of the session, in order.
    pub fn observe(&mut self, session: &Session, events: &[Event]) {
        for ev in events {
            self.diag.observe(ev);
            match ev {
                Event::Handshake(h) => {
                    self.last_time = self.last_time.max(h.time);
                    self.handshakes.push(h.clone());
                }
                Event::Message(m) => self.add_message(m),
                Event::Note(n) => self.problem("note", n.dir, note_offset(&n.note), n.time, {
                    serde_json::to_string(&n.note).unwrap_or_default()
                }),
                Event::Error(e) => self.problem(
                    "error",
                    e.dir,
                    e.offset,
                    e.time,
                    format!("expected {}, found {}", e.expected, e.found),
                ),
                Event::Gap(g) => self.problem(
                    "gap",
                    g.dir,
                    g.offset,
                    g.time,
                    format!("{} bytes missing from the capture", g.length),
                ),
            }
        }
        let ctx = session.context();
        if self.app.is_none() {
            self.app.clone_from(&ctx.app);
            self.tc_url.clone_from(&ctx.tc_url);
        }
        if self.stream.is_none() {
            if let Some((_, name, how)) = ctx.streams.first() {
                self.stream = Some((name.to_string(), how));
            }
        }
        if !self.ended {
            let new = self.diag.take_new();
            self.findings.extend(new);
        }
    }

    fn problem(
        &mut self,
        kind: &'static str,
        dir: Direction,
        offset: u64,
        time: f64,
        text: String,
    ) {
        self.last_time = self.last_time.max(time);
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                kind,
                dir,
                offset,
                time,
                text,
            });
        }
    }

    fn add_message(&mut self, m: &MessageEvent) {
        let r = &m.raw;
        self.last_time = self.last_time.max(m.time);
        let row_no = self.rows.len() as u32;
        let d = m.dir as usize;
        if let Some(v) = self.by_index.get_mut(d) {
            if v.len() as u64 == m.index {
                v.push(row_no);
            }
        }
        let mut flags = 0;
        if r.complete {
            flags |= ROW_COMPLETE;
        } else {
            self.incomplete += 1;
        }
        if r.extended {
            flags |= ROW_EXTENDED;
        }
        if m.body_error.is_some() {
            flags |= ROW_BODY_ERROR;
        }
        match &m.body {
            Body::Video(v) => {
                if v.is_keyframe() {
                    flags |= ROW_KEYFRAME;
                }
                if v.is_sequence_header() {
                    flags |= ROW_SEQUENCE_HEADER;
                }
            }
            Body::Audio(a) if a.is_sequence_header() => flags |= ROW_SEQUENCE_HEADER,
            _ => {}
        }
        let start = self.text.len();
        // Summaries live at u32 offsets; a capture that would overflow them
        // (billions of bytes of text) keeps its rows without summaries.
        let room = (u32::MAX as usize).saturating_sub(start);
        let summary = if room > MAX_SUMMARY {
            m.summary()
        } else {
            String::new()
        };
        let mut cut = summary.len().min(MAX_SUMMARY);
        while !summary.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(summary.get(..cut).unwrap_or(""));
        let span_start = self.spans.len() as u32;
        self.spans.extend_from_slice(&r.spans);
        self.rows.push(Row {
            time: m.time,
            offset: r.offset,
            end: r.end,
            index: m.index.min(u32::MAX as u64) as u32,
            csid: r.csid,
            stream_id: r.stream_id,
            timestamp: r.timestamp,
            delta: r.delta.unwrap_or(u32::MAX),
            length: r.length,
            chunks: r.chunks,
            span_start,
            span_count: r.spans.len() as u32,
            summary: (start as u32, (self.text.len() - start) as u32),
            type_id: r.type_id,
            dir: m.dir,
            fmt: r.fmt,
            flags,
        });
    }

    /// A direction of the connection ended.
    pub fn close(&mut self, dir: Direction, reset: bool, time: f64) {
        self.diag.closed(dir, reset, time);
        if let Some(c) = self.closed.get_mut(dir as usize) {
            *c = Some(reset);
        }
        self.last_time = self.last_time.max(time);
    }

    /// The session ended: the end-of-session rules run and the findings are final.
    pub fn end(&mut self, session: &Session, events: &[Event], open_at_end: bool) {
        self.observe(session, events);
        if open_at_end && self.closed.iter().all(Option::is_none) {
            self.diag.open_at_end();
        }
        self.findings = self.diag.finish();
        self.ended = true;
    }

    /// `ok`, `rejected`, `broken`, `live` (open on the live feed) or
    /// `decoding` (the file is still being read).
    pub fn status(&self) -> &'static str {
        let errors = || {
            self.findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
        };
        let rejected = errors().any(|f| {
            f.code.ends_with(".rejected")
                || f.code == "publish.dropped"
                || f.code.starts_with("command.")
                || f.code.starts_with("connect.")
        });
        if rejected {
            "rejected"
        } else if errors().next().is_some() || self.problems.iter().any(|p| p.kind != "note") {
            // A reset alone is not counted: nginx-rtmp resets many a finished
            // session; when it cut something short, a rule says so.
            "broken"
        } else if !self.ended && self.origin.protocol.ends_with("(live)") {
            "live"
        } else if !self.ended {
            "decoding"
        } else {
            "ok"
        }
    }

    /// The handshake part of a direction, if it was seen.
    pub fn handshake(&self, dir: Direction, part: HandshakePart) -> Option<&HandshakeEvent> {
        self.handshakes
            .iter()
            .find(|h| h.dir == dir && h.part == part)
    }
}

fn note_offset(note: &rtmpscope_core::chunk::ChunkNote) -> u64 {
    serde_json::to_value(note)
        .ok()
        .and_then(|v| v.get("offset").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

/// What a capture yields, in the CLI's order (see `crates/cli/src/input.rs`).
pub trait Sink {
    /// A session starts.
    fn session(&mut self, number: u64, origin: &Origin);
    /// Bytes of a direction arrived (before they are decoded).
    fn data(&mut self, number: u64, dir: Direction, bytes: &Bytes);
    /// `len` bytes of a direction are missing.
    fn gap(&mut self, number: u64, dir: Direction, len: u64);
    /// Events of a session.
    fn events(&mut self, number: u64, session: &Session, events: &[Event]);
    /// A direction closed.
    fn closed(&mut self, number: u64, dir: Direction, reset: bool, time: f64);
    /// The session ended, with the events its end produced.
    fn end(&mut self, number: u64, session: &Session, events: &[Event], open_at_end: bool);
    /// A connection that is not RTMP.
    fn skipped(&mut self, client: SocketAddr, server: SocketAddr, what: &str);
    /// A problem with the file.
    fn warning(&mut self, message: String);
}

/// The whole decoded capture.
#[derive(Debug, Default)]
pub struct Capture {
    /// Sessions by number.
    pub sessions: Vec<SessionData>,
    /// Connections that are not RTMP (`client -> server (what)`).
    pub skipped: Vec<String>,
    /// Problems with the file.
    pub warnings: Vec<String>,
}

impl Capture {
    fn get(&mut self, number: u64) -> Option<&mut SessionData> {
        self.sessions.iter_mut().find(|s| s.number == number)
    }

    /// Total messages over all sessions.
    pub fn messages(&self) -> usize {
        self.sessions.iter().map(|s| s.rows.len()).sum()
    }
}

impl Sink for Capture {
    fn session(&mut self, number: u64, origin: &Origin) {
        self.sessions.push(SessionData::new(number, origin.clone()));
    }
    fn data(&mut self, number: u64, dir: Direction, bytes: &Bytes) {
        if let Some(s) = self.get(number) {
            s.bytes[dir as usize].push(bytes.clone());
        }
    }
    fn gap(&mut self, number: u64, dir: Direction, len: u64) {
        if let Some(s) = self.get(number) {
            s.bytes[dir as usize].gap(len);
        }
    }
    fn events(&mut self, number: u64, session: &Session, events: &[Event]) {
        if let Some(s) = self.get(number) {
            s.observe(session, events);
        }
    }
    fn closed(&mut self, number: u64, dir: Direction, reset: bool, time: f64) {
        if let Some(s) = self.get(number) {
            s.close(dir, reset, time);
        }
    }
    fn end(&mut self, number: u64, session: &Session, events: &[Event], open_at_end: bool) {
        if let Some(s) = self.get(number) {
            s.end(session, events, open_at_end);
        }
    }
    fn skipped(&mut self, client: SocketAddr, server: SocketAddr, what: &str) {
        if self.skipped.len() < MAX_PROBLEMS {
            self.skipped.push(format!("{client} -> {server} ({what})"));
        }
    }
    fn warning(&mut self, message: String) {
        if self.warnings.len() < MAX_PROBLEMS {
            self.warnings.push(message);
        }
    }
}

struct LiveConn {
    number: u64,
    session: Session,
    closed: [bool; 2],
}

/// Drives a capture file through the sessions, a bounded number of capture
/// events at a time, so that the worker can answer the page in between.
pub struct CaptureDriver<R: Read> {
    reader: CaptureReader<R>,
    conns: HashMap<u64, (SocketAddr, SocketAddr, f64)>,
    live: HashMap<u64, LiveConn>,
    next_session: u64,
    events: Vec<Event>,
    done: bool,
}

/// Why a file cannot be opened, for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenError {
    /// One plain sentence (`This is an MP4/MOV file, not a capture.`).
    pub headline: String,
    /// The reader's full message.
    pub detail: String,
    /// The file looks like a raw RTMP direction stream (starts like C0/S0).
    pub raw_rtmp: bool,
}

/// Turns the reader's message into a sentence a person reads first.
pub fn describe_open_error(err: &CaptureError) -> OpenError {
    let detail = err.to_string();
    let guess = detail
        .rfind("(it looks like ")
        .and_then(|i| detail.get(i + "(it looks like ".len()..))
        .and_then(|g| g.strip_suffix(')'))
        .map(str::to_string);
    let raw_rtmp = guess
        .as_deref()
        .is_some_and(|g| g.contains("raw RTMP byte stream"));
    let headline = match (err, guess) {
        (_, Some(g)) if raw_rtmp => format!("This is not a pcap/pcapng capture: it is {g}."),
        (_, Some(g)) => {
            let (what, advice) = match g.split_once("; ") {
                Some((w, a)) => (w.to_string(), Some(a.to_string())),
                None => (g, None),
            };
            let what = match what.as_str() {
                "text" => "a text file".to_string(),
                "JSON" => "a JSON file".to_string(),
                _ => what,
            };
            match advice {
                Some(a) => format!("This is {what}, not a capture: {a}."),
                None => format!("This is {what}, not a capture."),
            }
        }
        (CaptureError::NotACapture(w), None) if w.contains("empty") => {
            "This file is empty, not a capture.".to_string()
        }
        (CaptureError::NotACapture(_), None) => "This is not a pcap or pcapng capture.".to_string(),
        (CaptureError::Truncated { .. }, None) => {
            "This capture is cut short inside its file header.".to_string()
        }
        (_, None) => "This capture cannot be read.".to_string(),
    };
    OpenError {
        headline,
        detail,
        raw_rtmp,
    }
}

impl<R: Read> CaptureDriver<R> {
    /// Reads the file header.
    pub fn open(r: R) -> Result<Self, OpenError> {
        let reader = CaptureReader::new(r).map_err(|e| describe_open_error(&e))?;
        Ok(CaptureDriver {
            reader,
            conns: HashMap::new(),
            live: HashMap::new(),
            next_session: 0,
            events: Vec::new(),
            done: false,
        })
    }

    /// Bytes of the file read so far.
    pub fn bytes_read(&self) -> u64 {
        self.reader.bytes_read()
    }

    /// Whether the whole file was read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Handles up to `max` capture events; returns true once the file is done.
    pub fn step(&mut self, sink: &mut impl Sink, max: usize) -> bool {
        for _ in 0..max {
            if self.done {
                break;
            }
            match self.reader.next_event() {
                Ok(Some(ev)) => self.handle(ev, sink),
                Ok(None) => self.finish(sink),
                Err(e) => {
                    sink.warning(e.to_string());
                    self.finish(sink);
                }
            }
        }
        self.done
    }

    fn handle(&mut self, ev: CaptureEvent, sink: &mut impl Sink) {
        let events = &mut self.events;
        match ev {
            CaptureEvent::Connection {
                conn,
                client,
                server,
                time,
                ..
            } => {
                self.conns.insert(conn, (client, server, time));
            }
            CaptureEvent::Classified { conn, kind } => {
                let Some(&(client, server, start)) = self.conns.get(&conn) else {
                    return;
                };
                if !kind.is_rtmp() {
                    sink.skipped(client, server, &kind.to_string());
                    self.conns.remove(&conn);
                    return;
                }
                let session = match kind {
                    StreamKind::RtmpMidStream => Session::mid_stream(),
                    _ => Session::new(),
                };
                let number = self.next_session;
                self.next_session += 1;
                let origin = Origin {
                    client: Some(client),
                    server: Some(server),
                    start,
                    protocol: kind.to_string(),
                    files: None,
                };
                sink.session(number, &origin);
                self.live.insert(
                    conn,
                    LiveConn {
                        number,
                        session,
                        closed: [false; 2],
                    },
                );
            }
            CaptureEvent::Data {
                conn,
                dir,
                bytes,
                time,
                earlier,
            } => {
                if let Some(l) = self.live.get_mut(&conn) {
                    sink.data(l.number, dir, &bytes);
                    events.clear();
                    l.session.feed_segments(dir, bytes, &earlier, time, events);
                    sink.events(l.number, &l.session, events);
                }
            }
            CaptureEvent::Gap {
                conn,
                dir,
                len,
                time,
            } => {
                if let Some(l) = self.live.get_mut(&conn) {
                    sink.gap(l.number, dir, len);
                    events.clear();
                    l.session.gap(dir, len, time, events);
                    sink.events(l.number, &l.session, events);
                }
            }
            CaptureEvent::Closed {
                conn,
                dir,
                reset,
                time,
            } => {
                let done = match self.live.get_mut(&conn) {
                    Some(l) => {
                        if let Some(c) = l.closed.get_mut(dir as usize) {
                            *c = true;
                        }
                        sink.closed(l.number, dir, reset, time);
                        l.closed[0] && l.closed[1]
                    }
                    None => false,
                };
                if done {
                    if let Some(mut l) = self.live.remove(&conn) {
                        events.clear();
                        l.session.finish(events);
                        sink.end(l.number, &l.session, events, false);
                    }
                    self.conns.remove(&conn);
                }
            }
            CaptureEvent::Warning {
                packet,
                offset,
                message,
            } => sink.warning(format!("packet {packet} (file byte {offset}): {message}")),
        }
    }

    fn finish(&mut self, sink: &mut impl Sink) {
        self.done = true;
        let mut rest: Vec<LiveConn> = self.live.drain().map(|(_, l)| l).collect();
        rest.sort_by_key(|l| l.number);
        for mut l in rest {
            self.events.clear();
            l.session.finish(&mut self.events);
            sink.end(l.number, &l.session, &self.events, true);
        }
    }
}

/// Decodes a pair of raw direction streams (either may be empty) as session
/// 0, a step at a time as [`CaptureDriver`] does: a long pair never has all
/// its events in memory at once, only their rows, and rows show while it runs.
pub struct PairDriver {
    pair: rtmpscope_core::session::PairDecoder,
    events: Vec<Event>,
    total: u64,
    done: bool,
}

impl PairDriver {
    /// Starts session 0 in `sink` with the two streams' bytes.
    pub fn new(
        sink: &mut impl Sink,
        c2s: Bytes,
        s2c: Bytes,
        names: (Option<String>, Option<String>),
    ) -> PairDriver {
        let origin = Origin {
            client: None,
            server: None,
            start: 0.0,
            protocol: StreamKind::Rtmp.to_string(),
            files: Some(names),
        };
        sink.session(0, &origin);
        sink.data(0, Direction::ClientToServer, &c2s);
        sink.data(0, Direction::ServerToClient, &s2c);
        let total = (c2s.len() + s2c.len()) as u64;
        PairDriver {
            pair: rtmpscope_core::session::PairDecoder::new(c2s, s2c),
            events: Vec::new(),
            total,
            done: false,
        }
    }

    /// Bytes of the two streams decoded so far.
    pub fn bytes_read(&self) -> u64 {
        self.total - self.pair.remaining() as u64
    }

    /// Takes up to `max` steps of a few hundred bytes; returns true once the
    /// session has ended.
    pub fn step(&mut self, sink: &mut impl Sink, max: usize) -> bool {
        if self.done {
            return true;
        }
        for _ in 0..max {
            if !self.pair.step(&mut self.events) {
                // The last step finished the session: its events include the end.
                sink.end(0, self.pair.session(), &self.events, false);
                self.events.clear();
                self.done = true;
                return true;
            }
        }
        sink.events(0, self.pair.session(), &self.events);
        self.events.clear();
        false
    }
}

/// Decodes a pair of raw direction streams (either may be empty) as session 0, all at once.
pub fn decode_pair(
    sink: &mut impl Sink,
    c2s: Bytes,
    s2c: Bytes,
    names: (Option<String>, Option<String>),
) {
    let mut d = PairDriver::new(sink, c2s, s2c, names);
    while !d.step(sink, 4096) {}
}
