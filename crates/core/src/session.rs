//! One RTMP connection: both directions, fed bytes in any split, yielding
//! events in order, each with its byte range in its direction's stream.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use bytes::Bytes;
use serde::Serialize;
use smol_str::SmolStr;

use crate::chunk::{ChunkDecoder, ChunkError, ChunkEvent, ChunkNote, Limits, Next, RawMessage};
use crate::command::{CommandInfo, DataMessage};
use crate::error::DecodeError;
use crate::handshake::{
    Echo, HandshakePart, Hello, Role, HANDSHAKE_SIZE, RTMPE_VERSION, RTMP_VERSION,
};
use crate::message::{self, Body};

/// Which way bytes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Direction {
    /// Client to server.
    #[serde(rename = "c2s")]
    ClientToServer,
    /// Server to client.
    #[serde(rename = "s2c")]
    ServerToClient,
}

impl Direction {
    /// `c2s` or `s2c`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ClientToServer => "c2s",
            Direction::ServerToClient => "s2c",
        }
    }

    /// The other direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        }
    }

    fn idx(self) -> usize {
        self as usize
    }
}

/// A handshake part was decoded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandshakeEvent {
    /// Direction.
    pub dir: Direction,
    /// Which part.
    pub part: HandshakePart,
    /// Offset of its first byte (0 for C0/S0, 1537 for C2/S2).
    pub offset: u64,
    /// Its length in bytes (1537 or 1536; fewer if truncated).
    pub length: u32,
    /// Capture time in seconds.
    pub time: f64,
    /// For C0C1/S0S1.
    pub hello: Option<Hello>,
    /// For C2/S2.
    pub echo: Option<Echo>,
}

/// A decoded message with its context.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageEvent {
    /// Direction.
    pub dir: Direction,
    /// Index among this direction's messages, from 0.
    pub index: u64,
    /// Capture time (seconds) of the bytes that completed the message.
    pub time: f64,
    /// The message as reassembled from chunks.
    pub raw: RawMessage,
    /// The decoded body.
    pub body: Body,
    /// What went wrong decoding the body (offset within the payload).
    pub body_error: Option<Box<DecodeError>>,
    /// For `_result`/`_error`: the command it answers, matched by transaction id.
    pub reply_to: Option<String>,
    /// The stream name known for this message's stream id (from publish/play).
    /// Names of up to 23 bytes are held inline: every media message carries
    /// one, and cloning a shared string costs two atomic operations.
    pub stream_name: Option<SmolStr>,
}

impl MessageEvent {
    /// A one-line description (`publish cam1 live`, `Video H.264 keyframe NALU (18 KB)`).
    pub fn summary(&self) -> String {
        let mut s = String::new();
        self.write_summary(&mut s);
        s
    }

    /// Appends [`MessageEvent::summary`] to `s`.
    pub fn write_summary(&self, s: &mut String) {
        self.body
            .write_summary(s, self.raw.type_id, self.raw.length);
        if let Some(r) = &self.reply_to {
            let _ = write!(s, " (reply to {r})");
        }
        if !self.raw.complete {
            let _ = write!(
                s,
                " [incomplete: {} of {} bytes]",
                self.raw.payload.len(),
                self.raw.length
            );
        }
    }
}

/// Something that went wrong, with where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorEvent {
    /// Direction.
    pub dir: Direction,
    /// Offset in the direction's stream.
    pub offset: u64,
    /// What was expected.
    pub expected: String,
    /// What was found.
    pub found: String,
    /// Capture time.
    pub time: f64,
}

/// A note on how a peer behaves (not an error).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteEvent {
    /// Direction.
    pub dir: Direction,
    /// The note.
    pub note: ChunkNote,
    /// Capture time.
    pub time: f64,
}

/// Bytes missing from a direction's stream (a capture gap).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapEvent {
    /// Direction.
    pub dir: Direction,
    /// Offset where the missing bytes start.
    pub offset: u64,
    /// How many bytes are missing.
    pub length: u64,
    /// Capture time.
    pub time: f64,
}

/// What a [`Session`] yields.
///
/// Messages are by far the most frequent event, so they are stored inline:
/// boxing them would cost an allocation per message.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A handshake part.
    Handshake(HandshakeEvent),
    /// A message.
    Message(MessageEvent),
    /// A note.
    Note(NoteEvent),
    /// An error.
    Error(ErrorEvent),
    /// A capture gap.
    Gap(GapEvent),
}

impl Event {
    /// The direction the event belongs to.
    pub fn dir(&self) -> Direction {
        match self {
            Event::Handshake(e) => e.dir,
            Event::Message(e) => e.dir,
            Event::Note(e) => e.dir,
            Event::Error(e) => e.dir,
            Event::Gap(e) => e.dir,
        }
    }
}

#[derive(Debug)]
enum Phase {
    /// Collecting C0+C1 (or S0+S1) and C2 (S2).
    Handshake,
    /// Decoding chunks.
    Chunks,
    /// The stream cannot be decoded (RTMPE, TLS, HTTP): bytes are only counted.
    Opaque,
}

#[derive(Debug)]
struct Side {
    phase: Phase,
    hs: Vec<u8>,
    hello_done: bool,
    chunks: ChunkDecoder,
    index: u64,
    bytes: u64,
    /// When the bytes arrived: the stream offset each segment fed ends at and
    /// its capture time, oldest first; those decoding has passed are dropped,
    /// but the last one is always kept.
    marks: VecDeque<(u64, f64)>,
}

impl Side {
    fn new(limits: Limits) -> Side {
        Side {
            phase: Phase::Handshake,
            hs: Vec::new(),
            hello_done: false,
            chunks: ChunkDecoder::with_limits(1 + 2 * HANDSHAKE_SIZE as u64, limits),
            index: 0,
            bytes: 0,
            marks: VecDeque::new(),
        }
    }

    /// Records that the bytes up to stream offset `end` arrived at `time`.
    fn mark(&mut self, end: u64, time: f64) {
        if self.marks.len() >= MAX_MARKS {
            // Only a stalled decoder gets here; its oldest times are the least useful.
            self.marks.pop_front();
        }
        self.marks.push_back((end, time));
    }

    /// Capture time of the last bytes fed (0 before any).
    fn last_time(&self) -> f64 {
        self.marks.back().map_or(0.0, |&(_, time)| time)
    }

    /// Drops the arrival times of segments that end before stream offset
    /// `pos`, keeping the last one.
    #[inline(always)]
    fn forget_before(&mut self, pos: u64) {
        while self.marks.len() > 1 && self.marks[0].0 < pos {
            self.marks.pop_front();
        }
    }

    /// The capture time of the byte before stream offset `pos`: that of the
    /// segment it arrived in. Offsets asked for never decrease, so the
    /// segments before `pos` are dropped on the way.
    #[inline(always)]
    fn time_at(&mut self, pos: u64) -> f64 {
        self.forget_before(pos);
        self.marks.front().map_or(0.0, |&(_, time)| time)
    }
}

/// Arrival times kept per direction while decoding lags behind them (a
/// decoder waiting for the rest of a header needs only a few).
const MAX_MARKS: usize = 4096;

/// What the session has learned about the connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Context {
    /// `app` from connect.
    pub app: Option<String>,
    /// `tcUrl` from connect.
    pub tc_url: Option<String>,
    /// Stream ids returned by createStream results.
    pub stream_ids: Vec<u32>,
    /// Stream names by stream id, from publish/play, with `publish` or `play`.
    pub streams: Vec<(u32, SmolStr, &'static str)>,
    /// Window Acknowledgement Size each direction announced (c2s, s2c).
    pub window: [Option<u32>; 2],
    /// Last Acknowledgement sequence number each direction sent.
    pub last_ack: [Option<u32>; 2],
    /// Acknowledgements each direction sent.
    pub acks: [u64; 2],
    /// Set Peer Bandwidth each direction sent.
    pub peer_bandwidth: [Option<u32>; 2],
}

/// Entries kept in each of the context's lists: a hostile peer can't grow them further.
const MAX_TRACKED: usize = 1024;

impl Context {
    fn add_stream(&mut self, id: u32, name: &str, how: &'static str) {
        if self.streams.len() < MAX_TRACKED {
            self.streams.push((id, SmolStr::new(name), how));
        }
    }

    /// The stream name for a stream id, if publish/play named it.
    pub fn stream_name(&self, id: u32) -> Option<&SmolStr> {
        self.streams.iter().rev().find(|s| s.0 == id).map(|s| &s.1)
    }
}

/// Decodes one RTMP connection.
///
/// ```
/// use rtmpscope_core::session::{Direction, Event, Session};
/// let mut s = Session::new();
/// let mut evs = Vec::new();
/// s.feed(Direction::ClientToServer, vec![3u8; 1537].into(), 0.0, &mut evs);
/// assert!(matches!(evs[0], Event::Handshake(_)));
/// ```
#[derive(Debug)]
pub struct Session {
    sides: [Side; 2],
    c1: Option<(Box<[u8; HANDSHAKE_SIZE]>, Hello)>,
    s1: Option<(Box<[u8; HANDSHAKE_SIZE]>, Hello)>,
    ctx: Context,
    /// Outstanding commands by (direction that sent them, transaction id).
    pending: HashMap<(Direction, u64), String>,
    queue: VecDeque<Event>,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

/// Payloads up to this size are made contiguous for body decoding; larger
/// audio/video messages are decoded from a prefix (their headers are at the start).
const CONTIGUOUS_UP_TO: usize = 8192;
/// Prefix of a large media message handed to the media parser.
const MEDIA_PREFIX: usize = 1024;

impl Session {
    /// A session that starts with the handshake.
    pub fn new() -> Session {
        Self::with_limits(Limits::default())
    }

    /// A session with explicit chunk decoder limits.
    pub fn with_limits(limits: Limits) -> Session {
        Session {
            sides: [Side::new(limits), Side::new(limits)],
            c1: None,
            s1: None,
            ctx: Context::default(),
            pending: HashMap::new(),
            queue: VecDeque::new(),
        }
    }

    /// A session whose capture started after the handshake: both directions
    /// scan for the first plausible chunk header. Offsets count from the first
    /// captured byte of each direction.
    pub fn mid_stream() -> Session {
        let mut s = Session::new();
        for side in &mut s.sides {
            side.phase = Phase::Chunks;
            side.chunks = ChunkDecoder::mid_stream(0);
        }
        s
    }

    /// What is known about the connection so far.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// A direction's chunk decoder (chunk size, extended timestamp use, …).
    pub fn chunk_decoder(&self, dir: Direction) -> &ChunkDecoder {
        &self.sides[dir.idx()].chunks
    }

    /// Bytes fed so far in a direction.
    pub fn bytes(&self, dir: Direction) -> u64 {
        self.sides[dir.idx()].bytes
    }

    /// Feeds bytes of one direction captured at `time` (seconds) and appends
    /// the events they complete to `out`.
    pub fn feed(&mut self, dir: Direction, data: Bytes, time: f64, out: &mut Vec<Event>) {
        self.feed_segments(dir, data, &[], time, out);
    }

    /// Feeds bytes of one direction that arrived in several segments, joined:
    /// `earlier` lists where each segment but the last ends in `data` and its
    /// capture time; the last ends at `data.len()` and was captured at `time`.
    /// The events are those that feeding the segments one by one would give,
    /// with the same times: an event's time is that of the segment holding
    /// the byte before the decoder's position when it was made (for a
    /// message, its last byte; for an error found by looking ahead, where
    /// decoding stood). Joined segments decode faster: fewer messages
    /// straddle two inputs.
    pub fn feed_segments(
        &mut self,
        dir: Direction,
        data: Bytes,
        earlier: &[(u32, f64)],
        time: f64,
        out: &mut Vec<Event>,
    ) {
        let side = &mut self.sides[dir.idx()];
        let start = side.bytes;
        let len = data.len() as u64;
        let mut end = start;
        for &(e, t) in earlier {
            // Ends out of order or past the data are taken as the data allows.
            end = end.max(start + u64::from(e).min(len));
            side.mark(end, t);
        }
        side.mark(start + len, time);
        side.bytes += len;
        let rest = match side.phase {
            Phase::Handshake => self.handshake(dir, data),
            Phase::Chunks => Some(data),
            Phase::Opaque => None,
        };
        if let Some(rest) = rest {
            self.sides[dir.idx()].chunks.push(rest);
        }
        self.drain(dir, false, out);
    }

    /// Declares that `len` bytes of `dir` were lost at the current end of its input.
    pub fn gap(&mut self, dir: Direction, len: u64, time: f64, out: &mut Vec<Event>) {
        let side = &mut self.sides[dir.idx()];
        let offset = side.bytes;
        side.bytes += len;
        side.mark(side.bytes, time);
        self.queue.push_back(Event::Gap(GapEvent {
            dir,
            offset,
            length: len,
            time,
        }));
        match side.phase {
            Phase::Handshake => {
                // The handshake can't be completed; pick up the chunk stream after the gap.
                side.phase = Phase::Chunks;
                side.chunks = ChunkDecoder::mid_stream(offset + len);
            }
            Phase::Chunks => side.chunks.gap(len),
            Phase::Opaque => {}
        }
        self.drain(dir, false, out);
    }

    /// Declares the end of both directions: incomplete handshakes and messages are reported.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            let side = &mut self.sides[dir.idx()];
            if matches!(side.phase, Phase::Handshake) && !side.hs.is_empty() {
                let (part, need) = match (dir, side.hello_done) {
                    (Direction::ClientToServer, false) => ("C0+C1", 1 + HANDSHAKE_SIZE),
                    (Direction::ClientToServer, true) => ("C2", HANDSHAKE_SIZE),
                    (Direction::ServerToClient, false) => ("S0+S1", 1 + HANDSHAKE_SIZE),
                    (Direction::ServerToClient, true) => ("S2", HANDSHAKE_SIZE),
                };
                let at = if side.hello_done {
                    1 + HANDSHAKE_SIZE
                } else {
                    0
                };
                self.queue.push_back(Event::Error(ErrorEvent {
                    dir,
                    offset: at as u64,
                    expected: format!("{need} bytes of {part}"),
                    found: format!(
                        "end of data after {} byte(s) (truncated handshake)",
                        side.hs.len()
                    ),
                    time: side.last_time(),
                }));
                side.hs.clear();
            }
            side.chunks.finish();
            self.drain(dir, true, out);
        }
    }

    /// Consumes handshake bytes; returns what is left for the chunk stream.
    fn handshake(&mut self, dir: Direction, mut data: Bytes) -> Option<Bytes> {
        loop {
            let side = &mut self.sides[dir.idx()];
            let want = if side.hello_done {
                HANDSHAKE_SIZE
            } else {
                1 + HANDSHAKE_SIZE
            };
            let take = (want - side.hs.len()).min(data.len());
            side.hs.extend_from_slice(&data.split_to(take));
            if side.hs.len() < want {
                return None;
            }
            let buf = std::mem::take(&mut side.hs);
            // When the part's last byte arrived.
            let part_end = if side.hello_done {
                1 + 2 * HANDSHAKE_SIZE
            } else {
                1 + HANDSHAKE_SIZE
            };
            let time = side.time_at(part_end as u64);
            if !side.hello_done {
                side.hello_done = true;
                if !self.hello(dir, &buf, time) {
                    self.sides[dir.idx()].phase = Phase::Opaque;
                    return None;
                }
            } else {
                self.response(dir, &buf, time);
                self.sides[dir.idx()].phase = Phase::Chunks;
                return Some(data);
            }
        }
    }

    /// Handles C0+C1 or S0+S1; returns false when the stream can't be RTMP.
    fn hello(&mut self, dir: Direction, buf: &[u8], time: f64) -> bool {
        let version = buf[0];
        let mut packet = Box::new([0u8; HANDSHAKE_SIZE]);
        packet.copy_from_slice(&buf[1..]);
        let (role, part) = match dir {
            Direction::ClientToServer => (Role::Client, HandshakePart::C0C1),
            Direction::ServerToClient => (Role::Server, HandshakePart::S0S1),
        };
        let hello = Hello::parse(version, &packet, role);
        let opaque = match version {
            RTMP_VERSION => None,
            RTMPE_VERSION => Some("RTMPE (encrypted RTMP): the chunk stream can't be decoded"),
            0x16 => Some("a TLS record (0x16): this is RTMPS or another TLS protocol, decode it in clear text through `rtmpscope proxy`"),
            _ if looks_like_http(buf) => {
                Some("an HTTP request or response: this is HTTP (RTMPT?), not raw RTMP")
            }
            _ => None,
        };
        self.queue.push_back(Event::Handshake(HandshakeEvent {
            dir,
            part,
            offset: 0,
            length: buf.len() as u32,
            time,
            hello: Some(hello.clone()),
            echo: None,
        }));
        if version != RTMP_VERSION {
            self.queue.push_back(Event::Error(ErrorEvent {
                dir,
                offset: 0,
                expected: format!(
                    "RTMP version {RTMP_VERSION} in {}",
                    if dir == Direction::ClientToServer {
                        "C0"
                    } else {
                        "S0"
                    }
                ),
                found: match opaque {
                    Some(why) => format!("{version:#04x}: {why}"),
                    None => format!("{version:#04x} (decoding goes on as RTMP)"),
                },
                time,
            }));
        }
        match dir {
            Direction::ClientToServer => self.c1 = Some((packet, hello)),
            Direction::ServerToClient => self.s1 = Some((packet, hello)),
        }
        opaque.is_none()
    }

    /// Handles C2 or S2.
    fn response(&mut self, dir: Direction, buf: &[u8], time: f64) {
        let mut packet = [0u8; HANDSHAKE_SIZE];
        packet.copy_from_slice(buf);
        let (role, part, peer) = match dir {
            Direction::ClientToServer => (Role::Client, HandshakePart::C2, self.s1.as_ref()),
            Direction::ServerToClient => (Role::Server, HandshakePart::S2, self.c1.as_ref()),
        };
        let echo = Echo::parse(&packet, role, peer.map(|(p, h)| (&**p, h)));
        self.queue.push_back(Event::Handshake(HandshakeEvent {
            dir,
            part,
            offset: 1 + HANDSHAKE_SIZE as u64,
            length: HANDSHAKE_SIZE as u32,
            time,
            hello: None,
            echo: Some(echo),
        }));
    }

    /// Hands out what the direction's decoder can decode now. `at_end`: the
    /// input is over, and what is reported now happened at its end.
    fn drain(&mut self, dir: Direction, at_end: bool, out: &mut Vec<Event>) {
        out.extend(self.queue.drain(..));
        loop {
            let ev = match self.sides[dir.idx()].chunks.next() {
                Next::Whole(w) => {
                    // Built where it stays: extending (rather than pushing)
                    // makes room before the event is made, and the chunk
                    // decoder writes the message straight into it.
                    let side = &mut self.sides[dir.idx()];
                    let end = side.chunks.offset() + w.size();
                    let time = side.time_at(end);
                    let index = side.index;
                    side.index += 1;
                    let chunks = &mut side.chunks;
                    out.extend(std::iter::once_with(|| {
                        Event::Message(MessageEvent {
                            dir,
                            index,
                            time,
                            raw: chunks.take_whole(w),
                            body: Body::Raw,
                            body_error: None,
                            reply_to: None,
                            stream_name: None,
                        })
                    }));
                    self.decode_last(dir, out);
                    continue;
                }
                Next::Event(ev) => ev,
                Next::More => break,
            };
            let side = &mut self.sides[dir.idx()];
            let time = if at_end {
                side.last_time()
            } else {
                side.time_at(side.chunks.offset())
            };
            let e = match ev {
                ChunkEvent::Message(raw) => {
                    self.message(dir, raw, time, out);
                    continue;
                }
                ChunkEvent::Error(ChunkError {
                    offset,
                    expected,
                    found,
                }) => Event::Error(ErrorEvent {
                    dir,
                    offset,
                    expected,
                    found,
                    time,
                }),
                ChunkEvent::Note(note) => Event::Note(NoteEvent { dir, note, time }),
            };
            out.push(e);
        }
        // Arrival times are kept only for bytes still to decode.
        let side = &mut self.sides[dir.idx()];
        let decoded = match side.phase {
            Phase::Chunks => side.chunks.offset(),
            Phase::Handshake | Phase::Opaque => side.bytes,
        };
        side.forget_before(decoded);
    }

    /// Decodes a message into a new event at the end of `out`. The event is
    /// stored first and its body decoded in place: moving a finished event
    /// (over 300 bytes) into the vector cost more than decoding a small
    /// message's body.
    #[inline(always)]
    fn message(&mut self, dir: Direction, raw: RawMessage, time: f64, out: &mut Vec<Event>) {
        let side = &mut self.sides[dir.idx()];
        let index = side.index;
        side.index += 1;
        // Extended rather than pushed, as in `drain`: the event is made where
        // it stays instead of being copied there.
        out.extend(std::iter::once_with(|| {
            Event::Message(MessageEvent {
                dir,
                index,
                time,
                raw,
                body: Body::Raw,
                body_error: None,
                reply_to: None,
                stream_name: None,
            })
        }));
        self.decode_last(dir, out);
    }

    /// Decodes the body of the message event at the end of `out`, in place.
    #[inline(always)]
    fn decode_last(&mut self, dir: Direction, out: &mut [Event]) {
        let Some(Event::Message(m)) = out.last_mut() else {
            return;
        };
        let (type_id, length, timestamp, complete) =
            (m.raw.type_id, m.raw.length, m.raw.timestamp, m.raw.complete);
        let stream_id = m.raw.stream_id;
        let payload = &m.raw.payload;
        let data = match type_id {
            // A fixed-length prefix (borrowed when the first chunk is that long), so
            // that what is decoded never depends on how the input was split.
            message::MSG_AUDIO | message::MSG_VIDEO if payload.len() > CONTIGUOUS_UP_TO => {
                payload.prefix(MEDIA_PREFIX)
            }
            _ => payload.contiguous(),
        };
        if let Some(body) = Body::decode_common(type_id, &data, length) {
            // Media: no error to report and nothing for the context to learn.
            // The body replaced is the `Raw` the event was made with, which
            // owns nothing: forgotten, so that no drop code runs for it.
            let made_with = std::mem::replace(&mut m.body, body);
            debug_assert!(matches!(made_with, Body::Raw));
            std::mem::forget(made_with);
        } else {
            let (body, body_error) = Body::decode(type_id, &data, length, timestamp);
            if let Some(mut e) = body_error {
                if !complete {
                    // A truncated body naturally fails to decode; the chunk layer already said why.
                    e.found.push_str(" (the message is incomplete)");
                }
                m.body_error = Some(Box::new(e));
            }
            m.body = body;
            m.reply_to = self.track(dir, &m.raw, &m.body);
        }
        // Cloned straight into the event: through `Option::cloned` the name
        // was copied to the stack and read back at an offset, which stalled.
        if let Some(name) = self.ctx.stream_name(stream_id) {
            m.stream_name = Some(name.clone());
        }
    }

    /// Updates the connection context; returns the command a reply answers.
    fn track(&mut self, dir: Direction, raw: &RawMessage, body: &Body) -> Option<String> {
        let d = dir.idx();
        match body {
            Body::WindowAckSize(w) => self.ctx.window[d] = Some(*w),
            Body::Ack(a) => {
                self.ctx.last_ack[d] = Some(*a);
                self.ctx.acks[d] += 1;
            }
            Body::SetPeerBandwidth { size, .. } => self.ctx.peer_bandwidth[d] = Some(*size),
            Body::Command(c) => {
                let tid = c
                    .transaction_id
                    .filter(|t| *t > 0.0 && t.fract() == 0.0 && *t < 1e15);
                match &c.info {
                    CommandInfo::Connect(conn) => {
                        self.ctx.app = conn.app.clone();
                        self.ctx.tc_url = conn.tc_url.clone();
                    }
                    CommandInfo::Publish { name: Some(n), .. } => {
                        self.ctx.add_stream(raw.stream_id, n, "publish")
                    }
                    CommandInfo::Play { name: Some(n), .. } => {
                        self.ctx.add_stream(raw.stream_id, n, "play")
                    }
                    _ => {}
                }
                match &c.info {
                    CommandInfo::Result { .. } | CommandInfo::Error(_) => {
                        let asked =
                            tid.and_then(|t| self.pending.remove(&(dir.reverse(), t as u64)));
                        if let (
                            Some("createStream"),
                            CommandInfo::Result {
                                number: Some(n), ..
                            },
                        ) = (asked.as_deref(), &c.info)
                        {
                            if *n >= 0.0
                                && *n <= u32::MAX as f64
                                && self.ctx.stream_ids.len() < MAX_TRACKED
                            {
                                self.ctx.stream_ids.push(*n as u32);
                            }
                        }
                        return asked;
                    }
                    _ => {
                        if let Some(t) = tid {
                            // Bound the table: a peer that never answers can't grow it forever.
                            if self.pending.len() < MAX_TRACKED {
                                self.pending.insert((dir, t as u64), c.name.clone());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        None
    }
}

/// Metadata of a data message, if it is `onMetaData`.
pub fn metadata_of(body: &Body) -> Option<&DataMessage> {
    match body {
        Body::Data(d) if d.metadata().is_some() => Some(d),
        _ => None,
    }
}

/// Whether a stream starts like HTTP (a request line or a status line).
fn looks_like_http(b: &[u8]) -> bool {
    const STARTS: [&[u8]; 8] = [
        b"GET ",
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"OPTIONS ",
        b"DELETE ",
        b"CONNECT ",
        b"HTTP/",
    ];
    STARTS.iter().any(|p| b.starts_with(p))
}

/// Decodes a connection given as two raw direction streams with no timing
/// (`rtmpscope decode --c2s A --s2c B`).
///
/// Without capture times the order of events across directions is rebuilt
/// from causality: C0+C1, then S0+S1+S2, then C2; after that the client's
/// bytes are fed until it sends a command, then the server's until it sends
/// one (a reply or onStatus), and so on. Events within a direction are always
/// in stream order. Returns the finished session (its context: chunk sizes,
/// acknowledgements, stream names).
///
/// All events are collected in `out`; [`PairDecoder`] hands them over a few
/// at a time instead, for streams too large to hold every event of.
pub fn decode_pair(c2s: Bytes, s2c: Bytes, out: &mut Vec<Event>) -> Session {
    let mut d = PairDecoder::new(c2s, s2c);
    while d.step(out) {}
    d.into_session()
}

/// [`decode_pair`] step by step: each [`PairDecoder::step`] feeds a few
/// hundred bytes and appends the events they complete, so memory holds the
/// two streams and one step's events, not every event.
///
/// ```
/// use rtmpscope_core::session::{Event, PairDecoder};
/// let mut d = PairDecoder::new(vec![3u8; 1537].into(), bytes::Bytes::new());
/// let mut events = Vec::new();
/// let mut seen = 0;
/// while d.step(&mut events) {
///     seen += events.len();
///     events.clear();
/// }
/// seen += events.len();
/// assert_eq!(seen, 1); // C0+C1
/// ```
#[derive(Debug)]
pub struct PairDecoder {
    session: Session,
    rest: [Bytes; 2],
    dir: Direction,
    started: bool,
    finished: bool,
}

impl PairDecoder {
    /// Bytes fed per step once the handshake is through.
    const STEP: usize = 512;

    /// A decoder of the client's and the server's bytes (either may be empty).
    pub fn new(c2s: Bytes, s2c: Bytes) -> PairDecoder {
        PairDecoder {
            session: Session::new(),
            rest: [c2s, s2c],
            dir: Direction::ClientToServer,
            started: false,
            finished: false,
        }
    }

    /// Feeds the next piece and appends its events to `out`; returns false
    /// once both streams are through and the session is finished (the last
    /// call appends the end-of-stream events).
    pub fn step(&mut self, out: &mut Vec<Event>) -> bool {
        if self.finished {
            return false;
        }
        let (s, rest) = (&mut self.session, &mut self.rest);
        if !self.started {
            self.started = true;
            let hs = 1 + HANDSHAKE_SIZE;
            if rest[0].first() == Some(&RTMP_VERSION) {
                feed_some(s, rest, Direction::ClientToServer, hs, out);
                feed_some(s, rest, Direction::ServerToClient, hs + HANDSHAKE_SIZE, out);
                feed_some(s, rest, Direction::ClientToServer, HANDSHAKE_SIZE, out);
                return true;
            }
        }
        if rest[0].is_empty() && rest[1].is_empty() {
            s.finish(out);
            self.finished = true;
            return false;
        }
        let dir = self.dir;
        if rest[dir.idx()].is_empty() || feed_some(s, rest, dir, Self::STEP, out) {
            self.dir = dir.reverse();
        }
        true
    }

    /// The session so far (its context, chunk decoders, …).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Bytes of both streams not fed yet.
    pub fn remaining(&self) -> usize {
        self.rest[0].len() + self.rest[1].len()
    }

    /// The session, finished once [`PairDecoder::step`] has returned false.
    pub fn into_session(self) -> Session {
        self.session
    }
}

/// Feeds up to `n` bytes of `dir`; returns whether a command message came out.
fn feed_some(
    s: &mut Session,
    rest: &mut [Bytes; 2],
    dir: Direction,
    n: usize,
    out: &mut Vec<Event>,
) -> bool {
    let r = &mut rest[dir.idx()];
    if r.is_empty() {
        return false;
    }
    let piece = r.split_to(n.min(r.len()));
    let before = out.len();
    s.feed(dir, piece, 0.0, out);
    out[before..]
        .iter()
        .any(|e| matches!(e, Event::Message(m) if matches!(m.body, Body::Command(_))))
}
