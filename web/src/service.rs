//! The worker's side of the protocol without the browser: it keeps the
//! decoded [`Capture`] and answers [`Request`]s. The browser glue in
//! `worker.rs` only moves bytes and JSON; everything here runs natively in
//! the unit tests too.

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use rtmpscope_core::flv;
use rtmpscope_core::handshake::HandshakePart;
use rtmpscope_core::message::{
    self, Body, MSG_AUDIO, MSG_COMMAND_AMF0, MSG_COMMAND_AMF3, MSG_DATA_AMF0, MSG_DATA_AMF3,
    MSG_VIDEO,
};
use rtmpscope_core::{json, Direction, Event, Session};

use crate::model::{Capture, Origin, Row, SessionData, Sink, ROW_COMPLETE, ROW_KEYFRAME};
use crate::protocol::*;

/// Rows sent in one answer, whatever the page asks.
const MAX_ROWS: u32 = 2000;
/// Chunks sent to the lanes in one answer.
const MAX_LANE_CHUNKS: usize = 20_000;
/// Message streams given a bitrate series.
const MAX_CHART_STREAMS: usize = 8;

/// A filter compiled for fast matching, with the positions it selects.
struct Filtered {
    filter: Filter,
    /// Rows of the session examined so far.
    upto: usize,
    /// Rows that pass.
    rows: Vec<u32>,
}

struct Compiled {
    dir: Option<Direction>,
    types: Option<Vec<u8>>,
    stream: Option<u32>,
    csid: Option<u32>,
    text: String,
}

fn compile(f: &Filter) -> Compiled {
    let dir = match f.dir.as_str() {
        "c2s" => Some(Direction::ClientToServer),
        "s2c" => Some(Direction::ServerToClient),
        _ => None,
    };
    let types = match f.kind.trim() {
        "" => None,
        "audio" => Some(vec![MSG_AUDIO]),
        "video" => Some(vec![MSG_VIDEO]),
        "media" => Some(vec![MSG_AUDIO, MSG_VIDEO]),
        "command" => Some(vec![MSG_COMMAND_AMF0, MSG_COMMAND_AMF3]),
        "data" => Some(vec![MSG_DATA_AMF0, MSG_DATA_AMF3]),
        "control" => Some(vec![1, 2, 3, 4, 5, 6]),
        other => Some(other.parse::<u8>().map(|t| vec![t]).unwrap_or_default()),
    };
    Compiled {
        dir,
        types,
        stream: f.stream.trim().parse().ok(),
        csid: f.csid.trim().parse().ok(),
        text: f.text.trim().to_lowercase(),
    }
}

impl Compiled {
    fn matches(&self, s: &SessionData, r: &Row) -> bool {
        self.dir.is_none_or(|d| d == r.dir)
            && self.types.as_ref().is_none_or(|t| t.contains(&r.type_id))
            && self.stream.is_none_or(|v| v == r.stream_id)
            && self.csid.is_none_or(|v| v == r.csid)
            && (self.text.is_empty() || s.summary(r).to_lowercase().contains(&self.text))
    }
}

/// The decoded capture and the answers about it.
#[derive(Default)]
pub struct Service {
    /// What was decoded.
    pub capture: Capture,
    filtered: HashMap<u64, Filtered>,
    /// Sessions of a live feed, by the feed's session number.
    live: HashMap<u64, LiveSession>,
    /// What the live feed said, in order, without the bytes (those are in
    /// the sessions), so that it can be decoded again for an export.
    live_log: Vec<LiveEntry>,
}

/// One frame of the live feed, as [`Service::live_json`] replays it.
enum LiveEntry {
    Open(u64, Origin),
    Data(u64, Direction, u64, u32, f64),
    Gap(u64, Direction, u64, f64),
    Close(u64, Direction),
}

struct LiveSession {
    session: Session,
    events: Vec<Event>,
}

/// The list line of a session.
pub fn summary_of(s: &SessionData) -> SessionSummary {
    let (client, server) = match (&s.origin.client, &s.origin.server, &s.origin.files) {
        (Some(c), Some(v), _) => (c.to_string(), v.to_string()),
        (_, _, Some((c, v))) => (
            c.clone().unwrap_or_else(|| "(no .c2s file)".into()),
            v.clone().unwrap_or_else(|| "(no .s2c file)".into()),
        ),
        _ => (String::new(), String::new()),
    };
    let count = |sev| s.findings.iter().filter(|f| f.severity == sev).count() as u32;
    SessionSummary {
        number: s.number,
        client,
        server,
        protocol: s.origin.protocol.clone(),
        app: s.app.clone().unwrap_or_default(),
        tc_url: s.tc_url.clone().unwrap_or_default(),
        stream: s.stream.as_ref().map(|x| x.0.clone()).unwrap_or_default(),
        mode: s
            .stream
            .as_ref()
            .map(|x| x.1.to_string())
            .unwrap_or_default(),
        start: s.origin.start,
        duration: (s.last_time - s.origin.start).max(0.0),
        status: s.status().to_string(),
        messages: s.rows.len() as u64,
        incomplete: s.incomplete,
        bytes: [s.bytes[0].len(), s.bytes[1].len()],
        errors: count(rtmpscope_core::diagnose::Severity::Error),
        warnings: count(rtmpscope_core::diagnose::Severity::Warning),
    }
}

/// The table line of a row.
pub fn row_view(s: &SessionData, row_no: u32, r: &Row) -> RowView {
    RowView {
        row: row_no,
        index: r.index,
        time: if s.origin.start > 0.0 {
            r.time - s.origin.start
        } else {
            r.time
        },
        dir: r.dir.as_str().to_string(),
        csid: r.csid,
        type_id: r.type_id,
        type_name: message::type_name(r.type_id).to_string(),
        stream_id: r.stream_id,
        timestamp: r.timestamp,
        delta: (r.delta != u32::MAX).then_some(r.delta),
        length: r.length,
        chunks: r.chunks,
        offset: r.offset,
        summary: s.summary(r).to_string(),
        flags: r.flags,
    }
}

fn hex_head(s: &SessionData, dir: Direction, offset: u64, n: u64) -> String {
    let mut b = Vec::new();
    s.bytes[dir as usize].read(offset, offset + n, &mut b);
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn session_view(s: &SessionData) -> SessionView {
    let rel = |t: f64| {
        if s.origin.start > 0.0 {
            t - s.origin.start
        } else {
            t
        }
    };
    let mut handshake = Vec::new();
    for (dir, part) in [
        (Direction::ClientToServer, HandshakePart::C0C1),
        (Direction::ServerToClient, HandshakePart::S0S1),
        (Direction::ClientToServer, HandshakePart::C2),
        (Direction::ServerToClient, HandshakePart::S2),
    ] {
        let Some(h) = s.handshake(dir, part) else {
            continue;
        };
        let mut facts = Vec::new();
        let mut good = true;
        if let Some(hello) = &h.hello {
            facts.push(("version".into(), hello.version.to_string()));
            facts.push(("epoch".into(), hello.time.to_string()));
            facts.push(("peer version".into(), hello.peer_version_string()));
            facts.push(("scheme".into(), hello.scheme.as_str().to_string()));
            facts.push(("digest valid".into(), hello.digest_valid.to_string()));
            good &= hello.version == 3;
        }
        if let Some(e) = &h.echo {
            facts.push(("epoch".into(), e.time.to_string()));
            facts.push(("time2".into(), e.time2.to_string()));
            let echo = serde_json::to_string(&e.echo).unwrap_or_default();
            facts.push(("echo".into(), echo.trim_matches('"').to_string()));
            let dv = serde_json::to_string(&e.digest_valid).unwrap_or_default();
            good &= !echo.contains("false") && !dv.contains("false");
            facts.push(("digest valid".into(), dv));
        }
        handshake.push(HandshakeView {
            part: h.part.as_str().to_string(),
            dir: dir.as_str().to_string(),
            time: rel(h.time),
            length: h.length,
            facts,
            good,
            head: hex_head(s, dir, h.offset, 16),
        });
    }
    let findings = s
        .findings
        .iter()
        .map(|f| FindingView {
            severity: f.severity.as_str().to_string(),
            code: f.code.to_string(),
            title: f.title.clone(),
            explanation: f.explanation.clone(),
            hint: f.hint.clone(),
            evidence: f
                .evidence
                .iter()
                .map(|e| EvidenceView {
                    dir: e.dir.as_str().to_string(),
                    index: e.index,
                    row: e.index.and_then(|i| {
                        s.by_index[e.dir as usize]
                            .get(usize::try_from(i).ok()?)
                            .copied()
                    }),
                    offset: e.offset,
                    what: e.what.clone(),
                })
                .collect(),
        })
        .collect();
    let problems = s
        .problems
        .iter()
        .take(500)
        .map(|p| ProblemView {
            kind: p.kind.to_string(),
            dir: p.dir.as_str().to_string(),
            offset: p.offset,
            time: rel(p.time),
            text: p.text.clone(),
        })
        .collect();
    let mut facts = Vec::new();
    if let Some(t) = &s.tc_url {
        facts.push(("tcUrl".to_string(), t.clone()));
    }
    for d in [Direction::ClientToServer, Direction::ServerToClient] {
        facts.push((
            format!("{} bytes", d.as_str()),
            s.bytes[d as usize].len().to_string(),
        ));
    }
    SessionView {
        summary: summary_of(s),
        handshake,
        findings,
        problems,
        facts,
    }
}

impl Service {
    /// A fresh service with nothing decoded.
    pub fn new() -> Service {
        Service::default()
    }

    /// Forgets everything (a new file is opened).
    pub fn reset(&mut self) {
        *self = Service::default();
    }

    /// The sessions so far.
    pub fn summaries(&self) -> Vec<SessionSummary> {
        self.capture.sessions.iter().map(summary_of).collect()
    }

    fn session(&self, n: u64) -> Option<&SessionData> {
        self.capture.sessions.iter().find(|s| s.number == n)
    }

    /// The filtered rows of a session, brought up to date with decoding.
    fn filtered(&mut self, session: u64, filter: &Filter) -> Option<&[u32]> {
        let s = self.capture.sessions.iter().find(|s| s.number == session)?;
        if filter.is_empty() {
            return None;
        }
        let f = self.filtered.entry(session).or_insert_with(|| Filtered {
            filter: filter.clone(),
            upto: 0,
            rows: Vec::new(),
        });
        if f.filter != *filter {
            *f = Filtered {
                filter: filter.clone(),
                upto: 0,
                rows: Vec::new(),
            };
        }
        let c = compile(filter);
        for (i, r) in s.rows.iter().enumerate().skip(f.upto) {
            if c.matches(s, r) {
                f.rows.push(i as u32);
            }
        }
        f.upto = s.rows.len();
        Some(&f.rows)
    }

    /// Answers a request (not `Open`, `Export` or `Live`, which need the browser).
    pub fn answer(&mut self, req: &Request) -> Option<Response> {
        match req {
            Request::Rows {
                session,
                start,
                count,
                filter,
                seq,
            } => {
                let count = (*count).min(MAX_ROWS);
                let picked: Vec<u32> = match self.filtered(*session, filter) {
                    Some(rows) => {
                        let total = rows.len() as u32;
                        let a = (*start).min(total) as usize;
                        let b = (start.saturating_add(count)).min(total) as usize;
                        let mut v = rows.get(a..b).unwrap_or(&[]).to_vec();
                        v.push(total);
                        v
                    }
                    None => {
                        let total = self.session(*session).map_or(0, |s| s.rows.len()) as u32;
                        let a = (*start).min(total);
                        let b = start.saturating_add(count).min(total);
                        let mut v: Vec<u32> = (a..b).collect();
                        v.push(total);
                        v
                    }
                };
                let s = self.session(*session)?;
                let (total, rows) = picked.split_last()?;
                let rows = rows
                    .iter()
                    .filter_map(|&i| s.rows.get(i as usize).map(|r| row_view(s, i, r)))
                    .collect();
                Some(Response::Rows {
                    seq: *seq,
                    session: *session,
                    start: *start,
                    total: *total,
                    rows,
                })
            }
            Request::Session { session } => Some(Response::Session(Box::new(session_view(
                self.session(*session)?,
            )))),
            Request::Detail { session, row } => {
                let s = self.session(*session)?;
                crate::detail::detail(s, *row).map(|d| Response::Detail(Box::new(d)))
            }
            Request::Locate {
                session,
                dir,
                index,
                filter,
            } => {
                let d = if dir == "s2c" { 1 } else { 0 };
                let s = self.session(*session)?;
                let row = s.by_index[d].get(usize::try_from(*index).ok()?).copied();
                let position = match (row, self.filtered(*session, filter)) {
                    (Some(r), Some(rows)) => rows.binary_search(&r).ok().map(|p| p as u32),
                    (Some(r), None) => Some(r),
                    _ => None,
                };
                Some(Response::Located {
                    session: *session,
                    row,
                    position,
                })
            }
            Request::Lanes {
                session,
                dir,
                from,
                to,
                time: true,
            } => Some(Response::Lanes(Box::new(lanes_over_time(
                self.session(*session)?,
                dir,
                *from,
                *to,
            )))),
            Request::Lanes {
                session,
                dir,
                from,
                to,
                time: false,
            } => Some(Response::Lanes(Box::new(lanes(
                self.session(*session)?,
                dir,
                *from,
                *to,
            )))),
            Request::Charts { session } => {
                Some(Response::Charts(Box::new(charts(self.session(*session)?))))
            }
            Request::Open { .. } | Request::Export { .. } | Request::Live { .. } => None,
        }
    }

    /// A live feed's text frame (`open`, `close`, `gap`); an `error` frame
    /// (the proxy is about to drop this page) gives back its message.
    pub fn live_text(&mut self, text: &str) -> Result<Option<String>, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("bad feed frame: {e}"))?;
        let kind = v.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        if kind == "error" {
            let m = v
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("the feed failed");
            return Ok(Some(m.to_string()));
        }
        let n = v
            .get("session")
            .and_then(|k| k.as_u64())
            .ok_or("feed frame without a session number")?;
        let dir = match v.get("dir").and_then(|d| d.as_str()) {
            Some("s2c") => Direction::ServerToClient,
            _ => Direction::ClientToServer,
        };
        let time = v.get("time").and_then(|t| t.as_f64()).unwrap_or(0.0);
        match kind {
            "open" => {
                let addr = |k: &str| {
                    v.get(k)
                        .and_then(|a| a.as_str())
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                };
                let origin = Origin {
                    client: addr("client"),
                    server: addr("server"),
                    start: v.get("start").and_then(|t| t.as_f64()).unwrap_or(0.0),
                    protocol: "RTMP (live)".into(),
                    files: None,
                };
                if self.live.contains_key(&n) || self.session(n).is_some() {
                    return Err(format!("session {n} opened twice"));
                }
                self.capture.session(n, &origin);
                self.live_log.push(LiveEntry::Open(n, origin));
                self.live.insert(
                    n,
                    LiveSession {
                        session: Session::new(),
                        events: Vec::new(),
                    },
                );
            }
            "close" => {
                let reset = v.get("reset").and_then(|r| r.as_bool()).unwrap_or(false);
                if !self.live.contains_key(&n) {
                    return Err(format!("close for session {n}, which is not open"));
                }
                self.live_log.push(LiveEntry::Close(n, dir));
                self.capture.closed(n, dir, reset, time);
                let both = self
                    .session(n)
                    .is_some_and(|s| s.closed.iter().all(Option::is_some));
                if both {
                    if let Some(mut l) = self.live.remove(&n) {
                        l.events.clear();
                        l.session.finish(&mut l.events);
                        self.capture.end(n, &l.session, &l.events, false);
                    }
                }
            }
            "gap" => {
                let len = v.get("length").and_then(|l| l.as_u64()).unwrap_or(0);
                if let Some(l) = self.live.get_mut(&n) {
                    self.live_log.push(LiveEntry::Gap(n, dir, len, time));
                    self.capture.gap(n, dir, len);
                    l.events.clear();
                    l.session.gap(dir, len, time, &mut l.events);
                    self.capture.events(n, &l.session, &l.events);
                }
            }
            other => return Err(format!("unknown feed frame kind {other:?}")),
        }
        Ok(None)
    }

    /// A live feed's binary frame: u32 session, u8 direction, f64 time, bytes.
    pub fn live_binary(&mut self, frame: Bytes) -> Result<(), String> {
        let head = frame
            .get(..13)
            .ok_or("binary feed frame shorter than 13 bytes")?;
        let n = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
        let dir = match head[4] {
            0 => Direction::ClientToServer,
            1 => Direction::ServerToClient,
            d => return Err(format!("binary feed frame with direction {d}")),
        };
        let mut t = [0u8; 8];
        t.copy_from_slice(&head[5..13]);
        let time = f64::from_be_bytes(t);
        let data = frame.slice(13..);
        let l = self
            .live
            .get_mut(&n)
            .ok_or_else(|| format!("bytes for session {n}, which is not open"))?;
        let offset = self
            .capture
            .sessions
            .iter()
            .find(|s| s.number == n)
            .map_or(0, |s| s.bytes[dir as usize].len());
        self.live_log
            .push(LiveEntry::Data(n, dir, offset, data.len() as u32, time));
        self.capture.data(n, dir, &data);
        l.events.clear();
        l.session.feed(dir, data, time, &mut l.events);
        self.capture.events(n, &l.session, &l.events);
        Ok(())
    }

    /// The live feed so far as JSON lines (the CLI's contract), decoded
    /// again from the kept bytes in the order the frames came.
    pub fn live_json(&self) -> String {
        let mut j = JsonLines::default();
        let mut sessions: HashMap<u64, (Session, [bool; 2])> = HashMap::new();
        let mut events = Vec::new();
        for e in &self.live_log {
            match e {
                LiveEntry::Open(n, origin) => {
                    j.session(*n, origin);
                    sessions.insert(*n, (Session::new(), [false; 2]));
                }
                LiveEntry::Data(n, dir, offset, len, time) => {
                    let (Some((s, _)), Some(kept)) = (
                        sessions.get_mut(n),
                        self.capture.sessions.iter().find(|x| x.number == *n),
                    ) else {
                        continue;
                    };
                    let mut bytes = Vec::with_capacity(*len as usize);
                    kept.bytes[*dir as usize].read(*offset, offset + *len as u64, &mut bytes);
                    events.clear();
                    s.feed(*dir, Bytes::from(bytes), *time, &mut events);
                    j.events(*n, s, &events);
                }
                LiveEntry::Gap(n, dir, len, time) => {
                    if let Some((s, _)) = sessions.get_mut(n) {
                        events.clear();
                        s.gap(*dir, *len, *time, &mut events);
                        j.events(*n, s, &events);
                    }
                }
                LiveEntry::Close(n, dir) => {
                    let done = sessions.get_mut(n).is_some_and(|(_, c)| {
                        c[*dir as usize] = true;
                        c[0] && c[1]
                    });
                    if done {
                        if let Some((mut s, _)) = sessions.remove(n) {
                            events.clear();
                            s.finish(&mut events);
                            j.end(*n, &s, &events, false);
                        }
                    }
                }
            }
        }
        // Sessions still open end where the feed is now.
        let mut open: Vec<_> = sessions.into_iter().collect();
        open.sort_by_key(|(n, _)| *n);
        for (n, (mut s, _)) in open {
            events.clear();
            s.finish(&mut events);
            j.end(n, &s, &events, true);
        }
        j.out
    }

    /// Whether any live session is still open.
    pub fn live_open(&self) -> bool {
        !self.live.is_empty()
    }
}

fn lanes(s: &SessionData, dir: &str, from: u64, to: u64) -> LanesView {
    let d = if dir == "s2c" {
        Direction::ServerToClient
    } else {
        Direction::ClientToServer
    };
    let mut csids = Vec::new();
    let mut chunks = Vec::new();
    let mut truncated = false;
    // Rows are in stream order within a direction, so the first row that ends
    // after `from` is found by bisection over that direction's rows.
    let dir_rows = &s.by_index[d as usize];
    let first =
        dir_rows.partition_point(|&i| s.rows.get(i as usize).is_some_and(|r| r.end <= from));
    for r in dir_rows.iter().filter_map(|&i| s.rows.get(i as usize)) {
        if !csids.contains(&r.csid) && csids.len() < 64 {
            csids.push(r.csid);
        }
    }
    for &i in dir_rows.iter().skip(first) {
        let Some(r) = s.rows.get(i as usize) else {
            break;
        };
        if r.offset >= to || truncated {
            break;
        }
        for sp in s.row_spans(r) {
            let end = sp.offset + sp.header_len as u64 + sp.payload_len as u64;
            if end <= from || sp.offset >= to {
                continue;
            }
            if chunks.len() >= MAX_LANE_CHUNKS {
                truncated = true;
                break;
            }
            chunks.push((sp.offset, (end - sp.offset) as u32, r.csid, r.type_id, i));
        }
    }
    LanesView {
        session: s.number,
        dir: d.as_str().to_string(),
        length: s.bytes[d as usize].len(),
        time: false,
        csids,
        chunks,
        truncated,
    }
}

/// Microseconds of a capture time since the session's start.
fn micros(s: &SessionData, t: f64) -> u64 {
    let start = if s.origin.start > 0.0 {
        s.origin.start
    } else {
        s.rows.first().map_or(0.0, |r| r.time)
    };
    ((t - start).max(0.0) * 1e6) as u64
}

/// The chunks of a direction over capture time: every chunk of a message is
/// drawn when the message completed (the capture says no more than that).
fn lanes_over_time(s: &SessionData, dir: &str, from: u64, to: u64) -> LanesView {
    let mut v = lanes(s, dir, 0, 0);
    let d = if v.dir == "s2c" { 1 } else { 0 };
    v.time = true;
    v.length = micros(s, s.last_time).max(1);
    let dir_rows = &s.by_index[d];
    // Capture times only grow within a direction.
    let first = dir_rows.partition_point(|&i| {
        s.rows
            .get(i as usize)
            .is_some_and(|r| micros(s, r.time) < from)
    });
    for &i in dir_rows.iter().skip(first) {
        let Some(r) = s.rows.get(i as usize) else {
            break;
        };
        let t = micros(s, r.time);
        if t >= to {
            break;
        }
        if v.chunks.len() >= MAX_LANE_CHUNKS {
            v.truncated = true;
            break;
        }
        v.chunks.push((t, 0, r.csid, r.type_id, i));
    }
    v
}

fn charts(s: &SessionData) -> ChartsView {
    let start = if s.origin.start > 0.0 {
        s.origin.start
    } else {
        s.rows.first().map_or(0.0, |r| r.time)
    };
    let duration = (s.last_time - start).max(0.0);
    // One bucket per second, bounded: a capture's clock can jump by years.
    let secs = (duration.ceil() as usize).saturating_add(1).min(100_000);
    let mut by_stream: Vec<(u32, Vec<f64>)> = Vec::new();
    let mut audio_ts = Vec::new();
    let mut video_ts = Vec::new();
    let mut keyframes = Vec::new();
    let mut fps = vec![0.0; secs];
    let mut last_key: Option<f64> = None;
    // Points are thinned so that a long capture gives a drawable series.
    let step = (s.rows.len() / 4000).max(1);
    let (mut na, mut nv) = (0usize, 0usize);
    for r in &s.rows {
        if r.type_id != MSG_AUDIO && r.type_id != MSG_VIDEO {
            continue;
        }
        let t = (r.time - start).max(0.0);
        let sec = (t as usize).min(secs - 1);
        let k = match by_stream.iter().position(|x| x.0 == r.stream_id) {
            Some(k) => k,
            // Each series is a bucket per second: a session that names
            // many stream ids gets the first few charted.
            None if by_stream.len() >= MAX_CHART_STREAMS => continue,
            None => {
                by_stream.push((r.stream_id, vec![0.0; secs]));
                by_stream.len() - 1
            }
        };
        let Some((_, series)) = by_stream.get_mut(k) else {
            continue;
        };
        if let Some(v) = series.get_mut(sec) {
            *v += r.length as f64 * 8.0 / 1000.0;
        }
        let ts = r.timestamp as f64 / 1000.0;
        if r.type_id == MSG_AUDIO {
            if na % step == 0 {
                audio_ts.push((t, ts));
            }
            na += 1;
        } else {
            if nv % step == 0 {
                video_ts.push((t, ts));
            }
            nv += 1;
            if let Some(v) = fps.get_mut(sec) {
                *v += 1.0;
            }
            if r.flags & ROW_KEYFRAME != 0
                && r.flags & ROW_COMPLETE != 0
                && keyframes.len() < 10_000
            {
                let interval = last_key.map_or(0.0, |k| ts - k);
                keyframes.push((ts, interval));
                last_key = Some(ts);
            }
        }
    }
    ChartsView {
        session: s.number,
        duration,
        bitrate: by_stream
            .into_iter()
            .map(|(id, v)| {
                let name = s
                    .stream
                    .as_ref()
                    .filter(|_| id != 0)
                    .map_or(String::new(), |x| format!(" {}", x.0));
                (format!("stream {id}{name}"), v)
            })
            .collect(),
        audio_ts,
        video_ts,
        keyframes,
        fps,
    }
}

/// The session line of the CLI's `decode --json` (see `crates/cli/src/decode.rs`).
fn session_json(line: &mut String, number: u64, o: &Origin) {
    let mut j = json::Obj::new(line);
    j.str("kind", "session").int("session", number);
    if let (Some(c), Some(s)) = (o.client, o.server) {
        j.str("client", &c.to_string())
            .str("server", &s.to_string());
        j.num("start", o.start);
    }
    j.str("protocol", &o.protocol);
    if let Some((c2s, s2c)) = &o.files {
        if let Some(p) = c2s {
            j.str("c2s_file", p);
        }
        if let Some(p) = s2c {
            j.str("s2c_file", p);
        }
    }
    j.end();
}

/// Writes the capture as the CLI's `decode --json` lines, in the same order.
#[derive(Default)]
pub struct JsonLines {
    /// The text so far.
    pub out: String,
    line: String,
    lines: json::LineWriter,
}

impl JsonLines {
    fn push_line(&mut self) {
        self.out.push_str(&self.line);
        self.out.push('\n');
        self.line.clear();
    }
}

impl Sink for JsonLines {
    fn session(&mut self, number: u64, origin: &Origin) {
        session_json(&mut self.line, number, origin);
        self.push_line();
    }
    fn data(&mut self, _: u64, _: Direction, _: &Bytes) {}
    fn gap(&mut self, _: u64, _: Direction, _: u64) {}
    fn events(&mut self, number: u64, _: &Session, events: &[Event]) {
        for e in events {
            self.lines.write_event(&mut self.line, number, e);
            self.push_line();
        }
    }
    fn closed(&mut self, _: u64, _: Direction, _: bool, _: f64) {}
    fn end(&mut self, number: u64, s: &Session, events: &[Event], _: bool) {
        self.events(number, s, events);
    }
    fn skipped(&mut self, client: SocketAddr, server: SocketAddr, what: &str) {
        let mut o = json::Obj::new(&mut self.line);
        o.str("kind", "skipped")
            .str("client", &client.to_string())
            .str("server", &server.to_string())
            .str("protocol", what)
            .end();
        self.push_line();
    }
    fn warning(&mut self, message: String) {
        let mut o = json::Obj::new(&mut self.line);
        o.str("kind", "warning").str("message", &message).end();
        self.push_line();
    }
}

/// The media of a session's first media stream as an FLV file (Adobe FLV
/// spec, Annex E), rebuilt from the kept bytes, as `export-flv` writes it.
pub fn flv(s: &SessionData) -> Result<Vec<u8>, String> {
    let mut chosen: Option<(Direction, u32)> = None;
    let mut tags: Vec<(u8, u32, Vec<u8>)> = Vec::new();
    let (mut audio, mut video) = (false, false);
    for r in &s.rows {
        if r.flags & ROW_COMPLETE == 0 || (r.span_count < r.chunks) {
            continue;
        }
        let kind = match r.type_id {
            MSG_AUDIO => flv::TAG_AUDIO,
            MSG_VIDEO => flv::TAG_VIDEO,
            MSG_DATA_AMF0 if s.summary(r).contains("onMetaData") => flv::TAG_SCRIPT,
            _ => continue,
        };
        if kind != flv::TAG_SCRIPT && chosen.is_none() {
            chosen = Some((r.dir, r.stream_id));
        }
        if chosen.is_some_and(|c| c != (r.dir, r.stream_id)) {
            continue;
        }
        let mut payload = Vec::with_capacity(r.length as usize);
        for sp in s.row_spans(r) {
            let a = sp.offset + sp.header_len as u64;
            s.bytes[r.dir as usize].read(a, a + sp.payload_len as u64, &mut payload);
        }
        let data = if kind == flv::TAG_SCRIPT {
            let body = Body::decode(r.type_id, &payload, r.length, r.timestamp).0;
            flv::script_data(&payload, &body).to_vec()
        } else {
            audio |= kind == flv::TAG_AUDIO;
            video |= kind == flv::TAG_VIDEO;
            payload
        };
        tags.push((kind, r.timestamp, data));
    }
    if !(audio || video) {
        return Err(format!("session {} carries no audio or video", s.number));
    }
    let mut out = flv::header(audio, video).to_vec();
    let mut writer = flv::TagWriter::new();
    for (kind, timestamp, data) in tags {
        writer.push(&mut out, kind, timestamp, &data);
    }
    Ok(out)
}
