//! Diagnosis: rules over a session's events that explain, in the words a
//! streaming engineer uses, why a push or a playback broke.
//!
//! A [`Diagnoser`] is fed the events of one connection as they are decoded
//! ([`Diagnoser::observe`]), so the proxy can show findings live
//! ([`Diagnoser::take_new`]); [`Diagnoser::finish`] runs the end-of-session
//! rules and returns every finding, errors first. Memory stays bounded: the
//! rules keep counters, the last few messages and per-stream state, never the
//! events themselves.
//!
//! Each [`Finding`] has a stable `code` (`publish.rejected`, `media.keyframe_interval`, …),
//! a severity, a one-line title, an explanation, a hint and the evidence: the
//! events (direction, message index, byte offset) that prove it. Stream keys
//! are redacted to their first four characters everywhere in findings.
//!
//! ```
//! use rtmpscope_core::diagnose::{diagnose, Severity};
//! use rtmpscope_core::session::decode_pair;
//! let mut events = Vec::new();
//! // A client that sends C0+C1 to a server that never answers.
//! let mut c2s = vec![3u8];
//! c2s.extend_from_slice(&[0u8; 1536]);
//! decode_pair(c2s.into(), bytes::Bytes::new(), &mut events);
//! let findings = diagnose(&events);
//! assert_eq!(findings[0].code, "handshake.truncated");
//! assert_eq!(findings[0].severity, Severity::Error);
//! ```
//!
//! The rules, one file per family: [`handshake`], [`connection`], [`publish`],
//! [`chunking`], [`flow`], [`media`] and [`end`].

use serde::Serialize;

use crate::command::CommandInfo;
use crate::json;
use crate::message::{self, Body};
use crate::session::{Direction, Event, MessageEvent};

pub mod chunking;
pub mod connection;
pub mod end;
pub mod flow;
pub mod handshake;
pub mod media;
pub mod publish;

#[cfg(test)]
mod tests;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The session failed, or will fail, because of this.
    Error,
    /// Works here, but breaks with some servers or players, or degrades the stream.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    /// `ERROR`, `WARNING` or `info`: how readable output marks a finding.
    pub fn tag(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
            Severity::Info => "info",
        }
    }

    /// `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// An event that proves a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Direction of the event.
    pub dir: Direction,
    /// Index of the message among its direction's messages (`None` for
    /// handshake parts, notes and errors that are not one message).
    pub index: Option<u64>,
    /// Byte offset in the direction's stream (a message's first chunk).
    pub offset: u64,
    /// What the event is, in a few words.
    pub what: String,
}

/// One diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// Stable identifier (`family.rule`), for scripts and filters.
    pub code: &'static str,
    /// One line.
    pub title: String,
    /// What happened and why it matters.
    pub explanation: String,
    /// What to do about it.
    pub hint: String,
    /// The events that prove it, most telling first.
    pub evidence: Vec<Evidence>,
}

impl Finding {
    fn new(severity: Severity, code: &'static str, title: impl Into<String>) -> Finding {
        Finding {
            severity,
            code,
            title: title.into(),
            explanation: String::new(),
            hint: String::new(),
            evidence: Vec::new(),
        }
    }

    fn explain(mut self, s: impl Into<String>) -> Finding {
        self.explanation = s.into();
        self
    }

    fn hint(mut self, s: impl Into<String>) -> Finding {
        self.hint = s.into();
        self
    }

    fn at(mut self, e: Evidence) -> Finding {
        if self.evidence.len() < MAX_EVIDENCE {
            self.evidence.push(e);
        }
        self
    }

    fn at_opt(self, e: Option<Evidence>) -> Finding {
        match e {
            Some(e) => self.at(e),
            None => self,
        }
    }

    /// Appends the finding as one JSON line (without its newline), the
    /// `{"kind":"finding",…}` object of `rtmpscope decode --json`, with `at`
    /// (the first evidence) and every `evidence` item.
    pub fn write_json(&self, out: &mut String, session: u64) {
        let mut o = json::Obj::new(out);
        o.str("kind", "finding")
            .int("session", session)
            .str("severity", self.severity.as_str())
            .str("code", self.code)
            .str("title", &self.title)
            .str("explanation", &self.explanation)
            .str("hint", &self.hint);
        if let Some(e) = self.evidence.first() {
            let mut at = String::new();
            let mut a = json::Obj::new(&mut at);
            a.str("dir", e.dir.as_str());
            if let Some(i) = e.index {
                a.int("index", i);
            }
            a.int("offset", e.offset).end();
            o.raw("at", &at);
        }
        o.serde("evidence", &self.evidence);
        o.end();
    }

    /// Appends the finding as readable lines: `ERROR [code] title`, the
    /// explanation, the hint and up to five pieces of evidence.
    pub fn write_text(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "{} [{}] {}",
            self.severity.tag(),
            self.code,
            self.title
        );
        for l in self.explanation.lines() {
            let _ = writeln!(out, "    {l}");
        }
        if !self.hint.is_empty() {
            let _ = writeln!(out, "    hint: {}", self.hint);
        }
        for e in self.evidence.iter().take(5) {
            let _ = write!(out, "    evidence: {} byte {}", e.dir.as_str(), e.offset);
            if let Some(i) = e.index {
                let _ = write!(out, " message #{i}");
            }
            if !e.what.is_empty() {
                let _ = write!(out, ": {}", e.what);
            }
            out.push('\n');
        }
        if self.evidence.len() > 5 {
            let _ = writeln!(out, "    … and {} more", self.evidence.len() - 5);
        }
    }
}

/// Evidence items kept per finding.
const MAX_EVIDENCE: usize = 6;
/// Stream names remembered for redaction.
const MAX_KEYS: usize = 16;
/// Characters of a stream key left visible.
const KEY_VISIBLE: usize = 4;

/// A stream key with all but its first four characters hidden (`abcd…`).
///
/// ```
/// use rtmpscope_core::diagnose::redact;
/// assert_eq!(redact("live_8f3a9c2b1e"), "live…");
/// assert_eq!(redact("cam"), "cam");
/// ```
pub fn redact(key: &str) -> String {
    if key.chars().count() <= KEY_VISIBLE {
        return key.to_string();
    }
    let mut s: String = key.chars().take(KEY_VISIBLE).collect();
    s.push('…');
    s
}

/// A URL or app name with its query string (tokens, keys) hidden.
fn redact_query(s: &str) -> String {
    match s.split_once('?') {
        Some((base, q)) if !q.is_empty() => format!("{base}?…"),
        _ => s.to_string(),
    }
}

/// Evidence pointing at a message.
fn msg_evidence(m: &MessageEvent) -> Evidence {
    Evidence {
        dir: m.dir,
        index: Some(m.index),
        offset: m.raw.offset,
        what: m.summary(),
    }
}

/// "client" or "server": who sends in a direction.
fn sender(dir: Direction) -> &'static str {
    match dir {
        Direction::ClientToServer => "client",
        Direction::ServerToClient => "server",
    }
}

/// "Client" or "Server".
fn sender_cap(dir: Direction) -> &'static str {
    match dir {
        Direction::ClientToServer => "Client",
        Direction::ServerToClient => "Server",
    }
}

fn dir_idx(dir: Direction) -> usize {
    match dir {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

/// A message remembered without its payload.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MsgRef {
    index: u64,
    offset: u64,
    type_id: u8,
    length: u32,
    timestamp: u32,
    time: f64,
}

impl MsgRef {
    fn of(m: &MessageEvent) -> MsgRef {
        MsgRef {
            index: m.index,
            offset: m.raw.offset,
            type_id: m.raw.type_id,
            length: m.raw.length,
            timestamp: m.raw.timestamp,
            time: m.time,
        }
    }

    fn evidence(&self, dir: Direction, what: impl Into<String>) -> Evidence {
        Evidence {
            dir,
            index: Some(self.index),
            offset: self.offset,
            what: what.into(),
        }
    }

    /// Evidence described by type, length and timestamp only.
    fn plain(&self, dir: Direction) -> Evidence {
        self.evidence(
            dir,
            format!(
                "{} ({} bytes, timestamp {} ms)",
                message::type_name(self.type_id),
                self.length,
                self.timestamp
            ),
        )
    }
}

/// How a direction of the TCP connection ended, when the shell knows.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Closed {
    reset: bool,
    time: f64,
}

impl Closed {
    /// `reset` or `closed`, for titles.
    fn verb(&self) -> &'static str {
        if self.reset {
            "reset"
        } else {
            "closed"
        }
    }
}

/// What every rule family may read: the story of the session so far.
#[derive(Debug, Default)]
struct Facts {
    /// Latest capture time seen (0 when the input has no times).
    now: f64,
    /// Whether any event carried a capture time.
    timed: bool,
    /// Handshake parts seen: C0C1, C2 (c2s) and S0S1, S2 (s2c), with offsets.
    hello: [Option<Evidence>; 2],
    response: [Option<Evidence>; 2],
    /// Messages per direction.
    count: [u64; 2],
    /// Last message per direction.
    last: [Option<MsgRef>; 2],
    /// Furthest byte offset reached per direction.
    end: [u64; 2],
    /// FIN/RST per direction, when the shell reported it.
    closed: [Option<Closed>; 2],
    /// The client's first connect and its evidence.
    connect: Option<Evidence>,
    connect_time: f64,
    /// Whether connect got a `_result`/`_error`.
    connect_answered: bool,
    /// The client's first publish (evidence, stream id, redacted name).
    publish: Option<(Evidence, u32)>,
    /// Capture time of that publish.
    publish_time: f64,
    /// The client's video end of sequence after publish, when no coded frame followed it.
    stream_end: Option<Evidence>,
    /// The server said NetStream.Publish.Start.
    publish_started: bool,
    /// The server refused the publish or play (set by the status rules).
    refused: bool,
    /// The client's FCUnpublish / deleteStream / closeStream.
    unpublished: Option<Evidence>,
    /// The client asked to play (its first play command).
    playing: bool,
    play: Option<Evidence>,
    /// Audio/video frames the server sent.
    server_media: u64,
    /// The shell said the connection was still open when the capture ended.
    open_at_end: bool,
    /// Coded audio/video frames the client sent after publish.
    media_after_publish: u64,
    /// The first publish's stream name.
    publish_name: Option<String>,
    /// The latest incomplete message per direction (cut by a header, a gap or the end).
    incomplete: [Option<Evidence>; 2],
    /// Enhanced RTMP: the FourCCs the client's connect listed.
    client_fourcc: Vec<String>,
    /// Enhanced RTMP: the FourCCs the server's connect result listed (None: no list).
    server_fourcc: Option<Vec<String>>,
    /// Stream keys seen (for redaction).
    keys: Vec<String>,
}

impl Facts {
    /// The side that ended the connection first, and how (the client on a tie).
    fn first_closer(&self) -> Option<(Direction, Closed)> {
        match (self.closed[0], self.closed[1]) {
            (Some(c), Some(s)) => Some(if s.time < c.time {
                (Direction::ServerToClient, s)
            } else {
                (Direction::ClientToServer, c)
            }),
            (Some(c), None) => Some((Direction::ClientToServer, c)),
            (None, Some(s)) => Some((Direction::ServerToClient, s)),
            (None, None) => None,
        }
    }

    /// `s` with every known stream key redacted.
    fn scrub(&self, s: &str) -> String {
        let mut out = s.to_string();
        for k in &self.keys {
            if out.contains(k.as_str()) {
                out = scrub_key(&out, k);
            }
        }
        out
    }

    fn add_key(&mut self, name: &str) {
        for k in [name, name.split('?').next().unwrap_or(name)] {
            if k.chars().count() > KEY_VISIBLE
                && self.keys.len() < MAX_KEYS
                && !self.keys.iter().any(|x| x == k)
            {
                self.keys.push(k.to_string());
                // Longest first, so that a key is hidden before its prefix is.
                self.keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
            }
        }
    }

    /// Whether the capture holds the session's start (so missing things are really missing).
    fn has_start(&self) -> bool {
        self.hello[0].is_some() || self.connect.is_some()
    }

    /// Bytes of handshake that precede the chunk stream in a direction.
    fn handshake_len(&self, dir: Direction) -> u64 {
        if self.hello[dir_idx(dir)].is_some() {
            3073
        } else {
            0
        }
    }

    fn update(&mut self, ev: &Event) {
        let time = match ev {
            Event::Handshake(h) => h.time,
            Event::Message(m) => m.time,
            Event::Note(n) => n.time,
            Event::Error(e) => e.time,
            Event::Gap(g) => g.time,
        };
        if time > 0.0 {
            self.timed = true;
            if time > self.now {
                self.now = time;
            }
        }
        match ev {
            Event::Handshake(h) => {
                let d = dir_idx(h.dir);
                let e = Evidence {
                    dir: h.dir,
                    index: None,
                    offset: h.offset,
                    what: format!("handshake {}", h.part.as_str()),
                };
                if h.hello.is_some() {
                    self.hello[d] = Some(e);
                } else {
                    self.response[d] = Some(e);
                }
                self.end[d] = self.end[d].max(h.offset + u64::from(h.length));
            }
            Event::Message(m) => self.message(m),
            Event::Gap(g) => {
                let d = dir_idx(g.dir);
                self.end[d] = self.end[d].max(g.offset + g.length);
            }
            Event::Note(_) | Event::Error(_) => {}
        }
    }

    fn message(&mut self, m: &MessageEvent) {
        let d = dir_idx(m.dir);
        self.count[d] += 1;
        self.last[d] = Some(MsgRef::of(m));
        self.end[d] = self.end[d].max(m.raw.end);
        let client = m.dir == Direction::ClientToServer;
        match &m.body {
            Body::Command(c) if m.raw.complete => match &c.info {
                CommandInfo::Connect(_) if client && self.connect.is_none() => {
                    self.connect = Some(msg_evidence(m));
                    self.connect_time = m.time;
                }
                CommandInfo::Publish { name, .. } if client => {
                    if let Some(n) = name {
                        self.add_key(n);
                    }
                    if self.publish.is_none() {
                        self.publish = Some((msg_evidence(m), m.raw.stream_id));
                        self.publish_time = m.time;
                        self.publish_name = name.clone();
                    }
                }
                CommandInfo::Play { name, .. } if client => {
                    if let Some(n) = name {
                        self.add_key(n);
                    }
                    self.playing = true;
                    if self.play.is_none() {
                        self.play = Some(msg_evidence(m));
                    }
                }
                CommandInfo::ReleaseStream { name: Some(n) }
                | CommandInfo::FcPublish { name: Some(n) }
                | CommandInfo::FcSubscribe { name: Some(n) }
                    if client =>
                {
                    self.add_key(n)
                }
                CommandInfo::FcUnpublish { name } if client => {
                    if let Some(n) = name {
                        self.add_key(n);
                    }
                    if self.unpublished.is_none() {
                        self.unpublished = Some(msg_evidence(m));
                    }
                }
                CommandInfo::DeleteStream { .. } | CommandInfo::CloseStream
                    if client && self.unpublished.is_none() =>
                {
                    self.unpublished = Some(msg_evidence(m));
                }
                CommandInfo::Result { .. } | CommandInfo::Error(_)
                    if !client && m.reply_to.as_deref() == Some("connect") =>
                {
                    self.connect_answered = true;
                }
                CommandInfo::Status(st)
                    if !client && st.code.as_deref() == Some("NetStream.Publish.Start") =>
                {
                    self.publish_started = true;
                }
                _ => {}
            },
            Body::Audio(a) if client && self.publish.is_some() && a.is_coded_frames() => {
                self.media_after_publish += 1
            }
            Body::Video(v) if client && self.publish.is_some() && v.is_coded_frame() => {
                self.media_after_publish += 1;
                self.stream_end = None;
            }
            Body::Video(v) if client && self.publish.is_some() && v.is_sequence_end() => {
                self.stream_end = Some(msg_evidence(m));
            }
            Body::Audio(_) | Body::Video(_) if !client => self.server_media += 1,
            _ => {}
        }
    }
}

/// Where findings go: deduplicated by code, counted, redacted.
#[derive(Debug, Default)]
struct Sink {
    findings: Vec<Finding>,
    /// Findings already handed out by `take_new`.
    taken: usize,
    /// Occurrences per code (index into `findings`, count).
    counts: Vec<(&'static str, usize, u64)>,
}

impl Sink {
    /// Records a finding unless one with the same code exists (then counts it).
    /// Returns whether it was new. Stream keys in the evidence (which quotes
    /// the wire) are redacted; rules redact names they put in their own text.
    fn raise(&mut self, facts: &Facts, mut f: Finding) -> bool {
        if let Some(c) = self.counts.iter_mut().find(|c| c.0 == f.code) {
            c.2 += 1;
            return false;
        }
        for e in &mut f.evidence {
            e.what = facts.scrub(&e.what);
        }
        self.counts.push((f.code, self.findings.len(), 1));
        self.findings.push(f);
        true
    }

    /// Changes a finding already raised (a rule that learns more later).
    fn update(&mut self, code: &str, change: impl FnOnce(&mut Finding)) {
        if let Some(&(_, i, _)) = self.counts.iter().find(|c| c.0 == code) {
            if let Some(f) = self.findings.get_mut(i) {
                change(f);
            }
        }
    }

    fn has(&self, code: &str) -> bool {
        self.counts.iter().any(|c| c.0 == code)
    }
}

/// Hides `key` where it stands as a whole token in `s` (not inside a longer word).
fn scrub_key(s: &str, key: &str) -> String {
    let token = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(key) {
        let before = rest[..i]
            .chars()
            .next_back()
            .or_else(|| out.chars().next_back());
        let after = rest[i + key.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(token) || after.is_some_and(token) {
            out.push_str(key);
        } else {
            out.push_str(&redact(key));
        }
        rest = &rest[i + key.len()..];
    }
    out.push_str(rest);
    out
}

/// Runs the diagnosis rules over one connection's events, incrementally.
///
/// ```
/// use rtmpscope_core::diagnose::Diagnoser;
/// use rtmpscope_core::session::{Direction, Session};
/// let mut session = Session::new();
/// let mut diag = Diagnoser::new();
/// let mut events = Vec::new();
/// session.feed(Direction::ClientToServer, vec![3u8; 1537].into(), 1.0, &mut events);
/// for ev in &events {
///     diag.observe(ev);
/// }
/// assert!(diag.take_new().is_empty());
/// session.finish(&mut events);
/// let findings = diag.finish();
/// assert_eq!(findings[0].code, "handshake.truncated");
/// ```
#[derive(Debug, Default)]
pub struct Diagnoser {
    facts: Facts,
    sink: Sink,
    handshake: handshake::Rules,
    connection: connection::Rules,
    publish: publish::Rules,
    chunking: chunking::Rules,
    flow: flow::Rules,
    media: media::Rules,
    end: end::Rules,
    finished: bool,
}

impl Diagnoser {
    /// A diagnoser for one connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in one event (in the order the session yielded them).
    pub fn observe(&mut self, ev: &Event) {
        self.facts.update(ev);
        let (f, s) = (&mut self.facts, &mut self.sink);
        self.handshake.observe(ev, f, s);
        self.connection.observe(ev, f, s);
        self.publish.observe(ev, f, s);
        self.chunking.observe(ev, f, s);
        self.flow.observe(ev, f, s);
        self.media.observe(ev, f, s);
        self.end.observe(ev, f, s);
        self.tick(0.0);
    }

    /// Tells the diagnoser that a direction's TCP stream ended (FIN, or RST
    /// when `reset`), after all its bytes were fed. The capture and proxy
    /// shells know this; raw stream pairs don't, and the rules then word
    /// their findings as "the session ends" instead of "the server closed".
    pub fn closed(&mut self, dir: Direction, reset: bool, time: f64) {
        let d = dir_idx(dir);
        if self.facts.closed[d].is_none() {
            self.facts.closed[d] = Some(Closed { reset, time });
        }
        if time > 0.0 {
            self.facts.timed = true;
            self.facts.now = self.facts.now.max(time);
        }
    }

    /// Tells the diagnoser that the capture ended while the connection was
    /// still open: neither direction had a FIN or RST. The session was cut by
    /// the capture, not by a peer, so the end-of-session rules (no
    /// FCUnpublish, a message cut short) stay quiet. Shells that see TCP
    /// (pcap reading) call this at the end of input for such connections.
    pub fn open_at_end(&mut self) {
        self.facts.open_at_end = true;
    }

    /// Advances the clock without an event (the live proxy calls this
    /// periodically, so that "no answer within N seconds" shows while the
    /// peer stays silent). `now` is in the same seconds as event times.
    pub fn tick(&mut self, now: f64) {
        if now > 0.0 {
            self.facts.timed = true;
            self.facts.now = self.facts.now.max(now);
        }
        if self.facts.timed {
            self.connection.tick(&self.facts, &mut self.sink);
        }
    }

    /// Findings raised since the last call (for live display).
    pub fn take_new(&mut self) -> Vec<Finding> {
        let new = self.sink.findings[self.sink.taken..].to_vec();
        self.sink.taken = self.sink.findings.len();
        new
    }

    /// Runs the end-of-session rules and returns every finding, errors first
    /// (then warnings, then info; in the order they were found within each).
    pub fn finish(&mut self) -> Vec<Finding> {
        if !self.finished {
            self.finished = true;
            let (f, s) = (&mut self.facts, &mut self.sink);
            self.handshake.finish(f, s);
            self.connection.finish(f, s);
            self.publish.finish(f, s);
            self.chunking.finish(f, s);
            self.flow.finish(f, s);
            self.media.finish(f, s);
            self.end.finish(f, s);
            for &(_, i, n) in &self.sink.counts {
                if n > 1 {
                    if let Some(f) = self.sink.findings.get_mut(i) {
                        f.explanation.push_str(&format!(
                            " (Seen {n} times in this session; the first is shown.)"
                        ));
                    }
                }
            }
        }
        let mut all = self.sink.findings.clone();
        all.sort_by_key(|f| f.severity);
        all
    }
}

/// Diagnoses a whole session's events at once.
pub fn diagnose(events: &[Event]) -> Vec<Finding> {
    let mut d = Diagnoser::new();
    for ev in events {
        d.observe(ev);
    }
    d.finish()
}
