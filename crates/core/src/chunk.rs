//! The chunk stream: basic and message headers, and message reassembly.
//!
//! RTMP spec §5.3. A [`ChunkDecoder`] per direction is fed bytes in any split
//! and yields whole messages (and errors) in stream order; it keeps per chunk
//! stream state, applies Set Chunk Size and Abort as soon as they complete,
//! and bounds its memory whatever the peer sends.

use std::collections::{HashMap, VecDeque};

use bytes::{Buf, Bytes};
use serde::Serialize;
use smallvec::SmallVec;

use crate::payload::{Payload, PayloadBuilder};

/// Protocol control message: Set Chunk Size.
pub const MSG_SET_CHUNK_SIZE: u8 = 1;
/// Protocol control message: Abort Message.
pub const MSG_ABORT: u8 = 2;
/// The chunk size both sides start with (§5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// A timestamp field of this value means a 4-byte extended timestamp follows.
pub const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;
/// Largest message a 3-byte length field can announce.
pub const MAX_MESSAGE_LEN: u32 = 0xFF_FFFF;
/// Longest possible chunk header: 3-byte basic header, 11-byte fmt 0 header, 4-byte extended timestamp.
pub const MAX_HEADER_LEN: usize = 18;

/// Limits that keep a decoder's memory bounded whatever the peer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes held in messages not yet complete, over all chunk streams.
    pub max_buffered: usize,
    /// Chunk streams with state at once.
    pub max_chunk_streams: usize,
    /// Input slices referenced by incomplete messages; past it, payloads are copied.
    pub max_live_slices: usize,
    /// Chunk spans recorded per message (chunks past it are counted, not listed).
    pub max_spans: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_buffered: 64 << 20,
            max_chunk_streams: 4096,
            max_live_slices: 1024,
            max_spans: 4096,
        }
    }
}

/// A decoded chunk header (the meaning, independent of its encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChunkHeader {
    /// Message header format, 0–3.
    pub fmt: u8,
    /// Chunk stream id, 2–65599.
    pub csid: u32,
    /// Timestamp (fmt 0) or delta (fmt 1, 2), resolved from the extended field; 0 for fmt 3.
    pub timestamp: u32,
    /// Message length (fmt 0, 1).
    pub length: Option<u32>,
    /// Message type id (fmt 0, 1).
    pub type_id: Option<u8>,
    /// Message stream id (fmt 0).
    pub stream_id: Option<u32>,
    /// Whether the 3-byte field held 0xFFFFFF and a 4-byte extended field followed.
    pub extended: bool,
}

/// Result of trying to read a header from the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderRead {
    /// A whole header of `len` bytes.
    Done(ChunkHeader, usize),
    /// At least this many bytes are needed in all.
    Need(usize),
}

impl ChunkHeader {
    /// Length of the basic header for a chunk stream id.
    pub fn basic_len(csid: u32) -> usize {
        match csid {
            0..=63 => 1,
            64..=319 => 2,
            _ => 3,
        }
    }

    /// Encoded length of this header (basic + message header + extended field).
    pub fn encoded_len(&self) -> usize {
        let mh = [11, 7, 3, 0][self.fmt as usize & 3];
        Self::basic_len(self.csid) + mh + if self.extended { 4 } else { 0 }
    }

    /// Reads a header from `buf` (fmt 3 chunks never read an extended field here;
    /// whether one follows depends on chunk stream state, see [`ChunkDecoder`]).
    // Inlined, the header stays in registers: returned through memory, it
    // was read back in wider pieces than it was written in (a stall).
    #[inline(always)]
    pub fn parse(buf: &[u8]) -> HeaderRead {
        let Some(&b0) = buf.first() else {
            return HeaderRead::Need(1);
        };
        let fmt = b0 >> 6;
        let (csid, mut pos) = match b0 & 0x3f {
            0 => match buf.get(1) {
                Some(&b1) => (64 + b1 as u32, 2),
                None => return HeaderRead::Need(2),
            },
            1 => match (buf.get(1), buf.get(2)) {
                (Some(&b1), Some(&b2)) => (64 + b1 as u32 + ((b2 as u32) << 8), 3),
                _ => return HeaderRead::Need(3),
            },
            c => (c as u32, 1),
        };
        let mh = [11usize, 7, 3, 0][fmt as usize];
        if buf.len() < pos + mh {
            return HeaderRead::Need(pos + mh);
        }
        let m = &buf[pos..pos + mh];
        let mut h = ChunkHeader {
            fmt,
            csid,
            timestamp: 0,
            length: None,
            type_id: None,
            stream_id: None,
            extended: false,
        };
        if fmt < 3 {
            h.timestamp = u24(&m[0..3]);
        }
        if fmt < 2 {
            h.length = Some(u24(&m[3..6]));
            h.type_id = Some(m[6]);
        }
        if fmt == 0 {
            h.stream_id = Some(u32::from_le_bytes([m[7], m[8], m[9], m[10]]));
        }
        pos += mh;
        if fmt < 3 && h.timestamp == EXTENDED_TIMESTAMP {
            if buf.len() < pos + 4 {
                return HeaderRead::Need(pos + 4);
            }
            h.timestamp = u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]);
            h.extended = true;
            pos += 4;
        }
        HeaderRead::Done(h, pos)
    }

    /// Appends the encoded header to `out`. A header whose `timestamp` is at
    /// least 0xFFFFFF (or whose `extended` flag is set) gets the extended field.
    /// Fields a format does not carry are ignored.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let fmt = (self.fmt & 3) << 6;
        match self.csid {
            0..=63 => out.push(fmt | self.csid as u8),
            64..=319 => out.extend_from_slice(&[fmt, (self.csid - 64) as u8]),
            _ => {
                let c = self.csid.saturating_sub(64).min(0xFFFF);
                out.extend_from_slice(&[fmt | 1, c as u8, (c >> 8) as u8]);
            }
        }
        if self.fmt >= 3 {
            return;
        }
        let ext = self.extended || self.timestamp >= EXTENDED_TIMESTAMP;
        let ts = if ext {
            EXTENDED_TIMESTAMP
        } else {
            self.timestamp
        };
        out.extend_from_slice(&ts.to_be_bytes()[1..]);
        if self.fmt < 2 {
            out.extend_from_slice(
                &self.length.unwrap_or(0).min(MAX_MESSAGE_LEN).to_be_bytes()[1..],
            );
            out.push(self.type_id.unwrap_or(0));
        }
        if self.fmt == 0 {
            out.extend_from_slice(&self.stream_id.unwrap_or(0).to_le_bytes());
        }
        if ext {
            out.extend_from_slice(&self.timestamp.to_be_bytes());
        }
    }
}

fn u24(b: &[u8]) -> u32 {
    ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32
}

/// Where one chunk of a message lies in its direction's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChunkSpan {
    /// Offset of the chunk's first (basic header) byte.
    pub offset: u64,
    /// Header bytes, extended timestamp included.
    pub header_len: u8,
    /// Header format, 0–3.
    pub fmt: u8,
    /// Payload bytes carried by this chunk.
    pub payload_len: u32,
}

/// How a peer treats the extended timestamp field on type-3 chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExtendedTimestampUse {
    /// Type-3 chunks after an extended header that repeated the 4-byte field
    /// (ffmpeg, librtmp, nginx-rtmp; the reading most peers expect).
    pub repeated: u64,
    /// Type-3 chunks after an extended header that did not.
    pub omitted: u64,
}

/// A message reassembled from its chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMessage {
    /// Chunk stream id.
    pub csid: u32,
    /// Message type id.
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    /// Absolute timestamp (ms, wrapping at 2^32) after deltas are applied.
    pub timestamp: u32,
    /// The delta from the previous message on the chunk stream (fmt 1–3), or `None` after fmt 0.
    pub delta: Option<u32>,
    /// Length announced in the header.
    pub length: u32,
    /// Header format of the first chunk.
    pub fmt: u8,
    /// Whether any header of the message used the extended timestamp field.
    pub extended: bool,
    /// The payload (fewer than `length` bytes if the message is incomplete).
    pub payload: Payload,
    /// Offset of the first chunk's first byte in the direction's stream.
    pub offset: u64,
    /// Offset just past the last byte of the message's last chunk.
    pub end: u64,
    /// Number of chunks.
    pub chunks: u32,
    /// Where the chunks lie (at most [`Limits::max_spans`] are listed).
    pub spans: SmallVec<[ChunkSpan; 1]>,
    /// Whether every announced byte arrived.
    pub complete: bool,
    /// Whether the stream id was not known (fmt 1 on a chunk stream with no earlier fmt 0).
    pub stream_id_guessed: bool,
}

/// Something that went wrong in the chunk layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChunkError {
    /// Offset in the direction's stream.
    pub offset: u64,
    /// What was expected there.
    pub expected: String,
    /// What was found.
    pub found: String,
}

/// A note about how the peer chunks, worth showing but not an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum ChunkNote {
    /// A type-3 chunk after an extended header did not repeat the extended field.
    ExtendedTimestampOmitted {
        /// Offset of the chunk.
        offset: u64,
        /// Chunk stream.
        csid: u32,
    },
    /// A type-3 chunk started a new message right after a type-0 header with a
    /// non-zero timestamp: the spec's reading adds that timestamp again, other
    /// implementations add nothing. `timestamp` uses the spec's reading.
    AmbiguousDelta {
        /// Offset of the chunk.
        offset: u64,
        /// Chunk stream.
        csid: u32,
        /// Timestamp under the spec's reading.
        timestamp: u32,
        /// Timestamp if the delta after a type-0 header is zero.
        alternative: u32,
    },
    /// Bytes skipped to find the next plausible chunk header.
    Resynchronised {
        /// Where skipping started.
        offset: u64,
        /// How many bytes were skipped.
        skipped: u64,
    },
    /// The chunk size changed (Set Chunk Size took effect).
    ChunkSize {
        /// Offset of the Set Chunk Size message.
        offset: u64,
        /// The new size.
        size: u32,
    },
    /// An Abort message discarded the partial message on a chunk stream.
    Aborted {
        /// Offset of the Abort message.
        offset: u64,
        /// The chunk stream whose message was dropped.
        csid: u32,
        /// Bytes of it that had arrived.
        discarded: u32,
    },
}

impl ChunkNote {
    /// Offset of the chunk or message the note is about.
    pub fn offset(&self) -> u64 {
        match self {
            ChunkNote::ExtendedTimestampOmitted { offset, .. }
            | ChunkNote::AmbiguousDelta { offset, .. }
            | ChunkNote::Resynchronised { offset, .. }
            | ChunkNote::ChunkSize { offset, .. }
            | ChunkNote::Aborted { offset, .. } => *offset,
        }
    }
}

/// What [`ChunkDecoder::next`] found.
pub(crate) enum Next {
    /// A whole one-chunk message at the front of the input, not yet taken.
    Whole(WholeMessage),
    /// Any other event.
    Event(ChunkEvent),
    /// More bytes are needed.
    More,
}

/// A whole one-chunk message found at the front of the input, not yet taken.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WholeMessage {
    header: ChunkHeader,
    hlen: usize,
    len: u32,
    type_id: u8,
}

impl WholeMessage {
    /// Bytes the message takes in the stream, header included.
    #[inline(always)]
    pub(crate) fn size(&self) -> u64 {
        self.hlen as u64 + u64::from(self.len)
    }
}

/// What a [`ChunkDecoder`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkEvent {
    /// A message (complete, or incomplete at the end of input or after an error).
    Message(RawMessage),
    /// A protocol error; decoding goes on where it can.
    Error(ChunkError),
    /// A note.
    Note(ChunkNote),
}

#[derive(Debug, Default)]
struct Partial {
    payload: PayloadBuilder,
    offset: u64,
    chunks: u32,
    spans: SmallVec<[ChunkSpan; 1]>,
    timestamp: u32,
    delta: Option<u32>,
    fmt: u8,
    extended: bool,
    /// Payload is being skipped (a limit was hit): bytes are counted, not kept.
    discarding: bool,
    received: u32,
}

#[derive(Debug, Default)]
struct StreamState {
    /// Whether a fmt 0 (or fmt 1) header was seen, so later headers can be resolved.
    known: bool,
    stream_id_known: bool,
    timestamp: u32,
    /// Delta that a type-3 chunk starting a new message adds (spec reading).
    delta: u32,
    /// Whether the last fmt 0–2 header was fmt 0 (for the ambiguous-delta note).
    after_fmt0: bool,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// Whether the last fmt 0–2 header had an extended timestamp, and its raw value.
    extended: bool,
    ext_value: u32,
    partial: Option<Partial>,
}

impl StreamState {
    /// Takes in a type-0, 1 or 2 header: timestamp (absolute or delta), length,
    /// type, stream id and the extended-timestamp flag. Returns the delta
    /// (None after a type-0 header).
    fn apply_header(&mut self, h: &ChunkHeader) -> Option<u32> {
        let delta = if h.fmt == 0 {
            self.timestamp = h.timestamp;
            self.after_fmt0 = true;
            self.stream_id = h.stream_id.unwrap_or(0);
            self.stream_id_known = true;
            None
        } else {
            self.timestamp = self.timestamp.wrapping_add(h.timestamp);
            self.after_fmt0 = false;
            Some(h.timestamp)
        };
        // After fmt 0 the delta a type-3 header reuses is the fmt 0 timestamp (spec reading).
        self.delta = h.timestamp;
        if let (Some(len), Some(t)) = (h.length, h.type_id) {
            self.length = len;
            self.type_id = t;
        }
        self.known = true;
        self.extended = h.extended;
        self.ext_value = h.timestamp;
        delta
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Payload { csid: u32, remaining: u32 },
    Resync,
}

/// Per-csid state: a flat table for the common one-byte ids, a map for the rest.
#[derive(Debug)]
struct Streams {
    low: Vec<StreamState>,
    high: HashMap<u32, StreamState>,
    live: usize,
}

impl Streams {
    fn new() -> Self {
        // Grown up to the highest one-byte id in use: an idle session holds
        // a few entries, not 64 (about 11 KiB per direction).
        Streams {
            low: Vec::new(),
            high: HashMap::new(),
            live: 0,
        }
    }

    fn get_ref(&self, csid: u32) -> Option<&StreamState> {
        if csid < 64 {
            self.low.get(csid as usize).filter(|s| s.known)
        } else {
            self.high.get(&csid)
        }
    }

    fn get(&mut self, csid: u32) -> Option<&mut StreamState> {
        if csid < 64 {
            self.low.get_mut(csid as usize).filter(|s| s.known)
        } else {
            self.high.get_mut(&csid)
        }
    }

    /// The state for `csid`, created if there is room.
    fn get_or_create(&mut self, csid: u32, cap: usize) -> Option<&mut StreamState> {
        let exists = if csid < 64 {
            self.low.get(csid as usize).is_some_and(|s| s.known)
        } else {
            self.high.contains_key(&csid)
        };
        if !exists {
            if self.live >= cap {
                return None;
            }
            self.live += 1;
            if csid >= 64 {
                self.high.insert(csid, StreamState::default());
            } else if self.low.len() <= csid as usize {
                self.low
                    .resize_with(csid as usize + 1, StreamState::default);
            }
        }
        if csid < 64 {
            self.low.get_mut(csid as usize)
        } else {
            self.high.get_mut(&csid)
        }
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut StreamState)> {
        self.low
            .iter_mut()
            .enumerate()
            .map(|(i, s)| (i as u32, s))
            .chain(self.high.iter_mut().map(|(k, v)| (*k, v)))
    }
}

/// Decodes one direction's chunk stream.
///
/// ```
/// use rtmpscope_core::chunk::{ChunkDecoder, ChunkEncoder, ChunkEvent};
/// let mut enc = ChunkEncoder::new(128);
/// let mut wire = Vec::new();
/// enc.write(&mut wire, 3, 20, 0, 0, &[0x05; 300]);
/// let mut dec = ChunkDecoder::new(0);
/// dec.push(wire.into());
/// match dec.next_event() {
///     Some(ChunkEvent::Message(m)) => assert_eq!((m.length, m.chunks), (300, 3)),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct ChunkDecoder {
    queue: VecDeque<Bytes>,
    queued: usize,
    /// Stream offset of the first queued byte.
    pos: u64,
    chunk_size: u32,
    /// False in a capture that started mid-stream until the chunk size is inferred.
    chunk_size_known: bool,
    state: State,
    streams: Streams,
    limits: Limits,
    buffered: usize,
    live_slices: usize,
    ext_use: ExtendedTimestampUse,
    /// Where the current resync scan started.
    resync_from: u64,
    notes: VecDeque<ChunkEvent>,
    /// No more input will come (set at the start of `finish`).
    at_end: bool,
    finished: bool,
    /// Holds a header that is split across input pieces.
    scratch: [u8; MAX_HEADER_LEN + 4],
}

/// Message types the resynchronisation scan accepts in a type-0 header.
fn known_type(t: u8) -> bool {
    matches!(t, 1..=6 | 8 | 9 | 15..=20 | 22)
}

impl ChunkDecoder {
    /// A decoder whose first byte is at `offset` in its direction's stream
    /// (3073 after a complete handshake).
    pub fn new(offset: u64) -> Self {
        Self::with_limits(offset, Limits::default())
    }

    /// A decoder with explicit memory limits.
    pub fn with_limits(offset: u64, limits: Limits) -> Self {
        ChunkDecoder {
            queue: VecDeque::new(),
            queued: 0,
            pos: offset,
            chunk_size: DEFAULT_CHUNK_SIZE,
            chunk_size_known: true,
            state: State::Header,
            streams: Streams::new(),
            limits,
            buffered: 0,
            live_slices: 0,
            ext_use: ExtendedTimestampUse::default(),
            resync_from: offset,
            notes: VecDeque::new(),
            at_end: false,
            finished: false,
            scratch: [0; MAX_HEADER_LEN + 4],
        }
    }

    /// A decoder that starts in the middle of a stream (no handshake seen):
    /// it scans for the first plausible type-0 header.
    pub fn mid_stream(offset: u64) -> Self {
        let mut d = Self::new(offset);
        d.state = State::Resync;
        d.chunk_size_known = false;
        d
    }

    /// Queues bytes to decode.
    pub fn push(&mut self, data: Bytes) {
        if !data.is_empty() && !self.finished {
            self.queued += data.len();
            self.queue.push_back(data);
        }
    }

    /// The sender's current chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Offset of the next byte to decode.
    pub fn offset(&self) -> u64 {
        self.pos
    }

    /// Bytes received but not yet decoded.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Bytes held by incomplete messages.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// How the peer handled extended timestamps on type-3 chunks so far.
    pub fn extended_timestamp_use(&self) -> ExtendedTimestampUse {
        self.ext_use
    }

    /// Declares that `len` bytes at the current end of input were lost (a capture gap):
    /// every incomplete message is given up and decoding resynchronises after the gap.
    pub fn gap(&mut self, len: u64) {
        self.drain_pending();
        self.flush_partials("bytes lost in a capture gap");
        self.queue.clear();
        self.pos += self.queued as u64 + len;
        self.queued = 0;
        self.state = State::Resync;
        self.resync_from = self.pos;
    }

    /// Declares the end of input: incomplete messages are yielded with `complete: false`.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.at_end = true;
        self.drain_pending();
        if self.queued > 0 {
            let what = match self.state {
                State::Resync => "a chunk header (still searching for one)",
                _ => "the rest of a chunk header",
            };
            self.notes.push_back(ChunkEvent::Error(ChunkError {
                offset: self.pos,
                expected: what.into(),
                found: format!("end of data after {} byte(s)", self.queued),
            }));
        }
        self.flush_partials("end of data");
        self.finished = true;
    }

    /// Decodes what the queued bytes allow, keeping the events for later.
    fn drain_pending(&mut self) {
        let mut evs = Vec::new();
        while let Some(ev) = self.next_event() {
            evs.push(ev);
        }
        self.notes.extend(evs);
    }

    fn flush_partials(&mut self, why: &str) {
        let end = self.pos;
        let mut out = Vec::new();
        for (csid, st) in self.streams.iter_mut() {
            if let Some(p) = st.partial.take() {
                out.push((csid, st.type_id, st.stream_id, st.length, p));
            }
        }
        out.sort_by_key(|x| x.4.offset);
        for (csid, type_id, stream_id, length, p) in out {
            self.buffered = self.buffered.saturating_sub(p.payload.len());
            self.live_slices = self.live_slices.saturating_sub(p.payload.slices());
            self.notes.push_back(ChunkEvent::Error(ChunkError {
                offset: end,
                expected: format!(
                    "{} more byte(s) of the message on chunk stream {csid} that started at byte {}",
                    length.saturating_sub(p.received),
                    p.offset
                ),
                found: why.into(),
            }));
            let msg = Self::make_message(csid, type_id, stream_id, length, p, end, false);
            self.notes.push_back(ChunkEvent::Message(msg));
        }
        self.state = match self.state {
            State::Resync => State::Resync,
            _ => State::Header,
        };
    }

    fn make_message(
        csid: u32,
        type_id: u8,
        stream_id: u32,
        length: u32,
        p: Partial,
        end: u64,
        complete: bool,
    ) -> RawMessage {
        RawMessage {
            csid,
            type_id,
            stream_id,
            timestamp: p.timestamp,
            delta: p.delta,
            length,
            fmt: p.fmt,
            extended: p.extended,
            payload: p.payload.finish(),
            offset: p.offset,
            end,
            chunks: p.chunks,
            spans: p.spans,
            complete,
            stream_id_guessed: false,
        }
    }

    /// Copies up to `n` bytes from the front of the queue into the scratch buffer
    /// and returns how many were copied.
    fn peek_into_scratch(&mut self, n: usize) -> usize {
        let n = n.min(self.scratch.len());
        let mut got = 0;
        for piece in &self.queue {
            let take = (n - got).min(piece.len());
            self.scratch[got..got + take].copy_from_slice(&piece[..take]);
            got += take;
            if got == n {
                break;
            }
        }
        got
    }

    fn consume(&mut self, mut n: usize) {
        self.queued -= n;
        self.pos += n as u64;
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                return;
            };
            if front.len() > n {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.queue.pop_front();
        }
    }

    /// Takes up to `n` bytes from the front of the queue as one slice (no copy).
    fn take_slice(&mut self, n: usize) -> Bytes {
        let Some(front) = self.queue.front_mut() else {
            return Bytes::new();
        };
        let b = if front.len() > n {
            front.split_to(n)
        } else {
            match self.queue.pop_front() {
                Some(b) => b,
                None => Bytes::new(),
            }
        };
        self.queued -= b.len();
        self.pos += b.len() as u64;
        b
    }

    /// The next event, or `None` when more bytes are needed.
    pub fn next_event(&mut self) -> Option<ChunkEvent> {
        match self.next() {
            Next::Whole(w) => Some(ChunkEvent::Message(self.take_whole(w))),
            Next::Event(ev) => Some(ev),
            Next::More => None,
        }
    }

    /// What comes next. A whole one-chunk message at the front of the input
    /// (the common case) is left for the caller to take with
    /// [`ChunkDecoder::take_whole`], so that it can be built where it is stored.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> Next {
        loop {
            if let Some(ev) = self.notes.pop_front() {
                return Next::Event(ev);
            }
            if self.finished {
                return Next::More;
            }
            match self.state {
                State::Payload { csid, remaining } => {
                    if let Some(ev) = self.read_payload(csid, remaining) {
                        return Next::Event(ev);
                    }
                    if matches!(self.state, State::Payload { .. }) {
                        return Next::More;
                    }
                }
                State::Header => {
                    if self.queued == 0 {
                        return Next::More;
                    }
                    if let Some(w) = self.whole_at_front() {
                        return Next::Whole(w);
                    }
                    match self.read_header() {
                        Step::Event(ev) => return Next::Event(ev),
                        Step::More => return Next::More,
                        Step::Continue => {}
                    }
                }
                State::Resync => {
                    if !self.resync() {
                        return Next::More;
                    }
                }
            }
        }
    }

    /// The common case, decoded without the incomplete-message machinery: a
    /// type-0/1/2 header on a known one-byte chunk stream whose whole message
    /// fits in one chunk and lies in the first input piece. Anything else
    /// (control messages that change decoder state included) takes the general path.
    #[inline(always)]
    fn whole_at_front(&self) -> Option<WholeMessage> {
        if !self.chunk_size_known {
            return None;
        }
        let front = self.queue.front()?;
        let HeaderRead::Done(header, hlen) = ChunkHeader::parse(front) else {
            return None;
        };
        if header.fmt == 3 || header.csid >= 64 {
            return None;
        }
        let st = self.streams.low.get(header.csid as usize)?;
        if !st.known || st.partial.is_some() || (header.fmt == 1 && !st.stream_id_known) {
            return None;
        }
        let (len, type_id) = match (header.length, header.type_id) {
            (Some(l), Some(t)) => (l, t),
            _ => (st.length, st.type_id),
        };
        if len > self.chunk_size
            || front.len() < hlen + len as usize
            || matches!(type_id, MSG_SET_CHUNK_SIZE | MSG_ABORT)
        {
            return None;
        }
        Some(WholeMessage {
            header,
            hlen,
            len,
            type_id,
        })
    }

    /// Takes the message [`ChunkDecoder::next`] found.
    #[inline(always)]
    pub(crate) fn take_whole(&mut self, w: WholeMessage) -> RawMessage {
        let WholeMessage {
            header: h,
            hlen,
            len,
            type_id,
        } = w;
        let (delta, timestamp, stream_id, guessed) = match self.streams.low.get_mut(h.csid as usize)
        {
            Some(st) => {
                let delta = st.apply_header(&h);
                (delta, st.timestamp, st.stream_id, !st.stream_id_known)
            }
            None => (None, 0, 0, false),
        };
        let total = hlen + len as usize;
        let offset = self.pos;
        let payload = match self.queue.front_mut() {
            Some(front) => {
                front.advance(hlen);
                let payload = front.split_to(len as usize);
                if front.is_empty() {
                    self.queue.pop_front();
                }
                payload
            }
            None => Bytes::new(),
        };
        self.queued -= total;
        self.pos += total as u64;
        let spans = SmallVec::from_buf([ChunkSpan {
            offset,
            header_len: hlen as u8,
            fmt: h.fmt,
            payload_len: len,
        }]);
        RawMessage {
            csid: h.csid,
            type_id,
            stream_id,
            timestamp,
            delta,
            length: len,
            fmt: h.fmt,
            extended: h.extended,
            payload: Payload::from(payload),
            offset,
            end: self.pos,
            chunks: 1,
            spans,
            complete: true,
            // As the general path says it: a fmt 2 header after a fmt 1 one
            // with no fmt 0 before still has no known stream id.
            stream_id_guessed: guessed,
        }
    }

    fn read_header(&mut self) -> Step {
        // Fast path: the whole longest header lies in the first piece.
        let front_len = self.queue.front().map_or(0, |b| b.len());
        let (hdr, hlen, peek4) = if front_len >= MAX_HEADER_LEN + 4 {
            let front = &self.queue[0];
            match ChunkHeader::parse(front) {
                HeaderRead::Done(h, l) => (h, l, read4(&front[l..])),
                HeaderRead::Need(_) => return Step::More,
            }
        } else {
            let got = self.peek_into_scratch(MAX_HEADER_LEN + 4);
            let buf = &self.scratch[..got];
            match ChunkHeader::parse(buf) {
                HeaderRead::Done(h, l) => (h, l, read4(&buf[l..])),
                HeaderRead::Need(_) => return Step::More,
            }
        };
        if !self.chunk_size_known && !self.infer_for(&hdr, hlen) {
            return Step::More;
        }
        self.apply_header(hdr, hlen, peek4)
    }

    /// In a capture that started mid-stream, the first message longer than the
    /// smallest common chunk size reveals the chunk size. Returns false when
    /// more bytes are needed to tell.
    fn infer_for(&mut self, h: &ChunkHeader, hlen: usize) -> bool {
        let len = match (h.length, self.streams.get(h.csid)) {
            (Some(l), _) => l,
            (None, Some(st)) if st.partial.is_none() => st.length,
            _ => return true,
        };
        if len <= DEFAULT_CHUNK_SIZE {
            return true;
        }
        match self.infer_chunk_size(h, hlen, len) {
            None => false,
            Some(Some(c)) => {
                self.chunk_size = c;
                self.chunk_size_known = true;
                true
            }
            Some(None) => {
                self.assume_at_least(len);
                true
            }
        }
    }

    /// With the chunk size still unknown, a message seen to fit in one chunk
    /// means the size is at least its length: assume the most common size
    /// that allows it until a longer message tells.
    fn assume_at_least(&mut self, len: u32) {
        if !self.chunk_size_known && self.chunk_size < len {
            self.chunk_size = GUESSED_CHUNK_SIZES
                .iter()
                .copied()
                .find(|&c| c >= len)
                .unwrap_or(MAX_MESSAGE_LEN);
        }
    }

    fn apply_header(&mut self, h: ChunkHeader, mut hlen: usize, peek4: Option<u32>) -> Step {
        let offset = self.pos;
        let cap = self.limits.max_chunk_streams;
        let chunk_size = self.chunk_size;
        let Some(st) = (match h.fmt {
            0 | 1 => self.streams.get_or_create(h.csid, cap),
            _ => self.streams.get(h.csid),
        }) else {
            return self.header_error(h);
        };
        let mut note = None;
        let mut error = None;
        match h.fmt {
            0..=2 => {
                if let Some(p) = st.partial.take() {
                    // A new message header while a message is incomplete: the
                    // old one is given up (its length exceeded what arrived).
                    error = Some((
                        ChunkError {
                            offset,
                            expected: format!(
                                "a type-3 chunk continuing the message on chunk stream {} ({} of {} bytes arrived)",
                                h.csid, p.received, st.length
                            ),
                            found: format!("a type-{} header starting a new message", h.fmt),
                        },
                        (st.type_id, st.stream_id, st.length, p),
                    ));
                }
                let delta = st.apply_header(&h);
                st.partial = Some(Partial {
                    offset,
                    timestamp: st.timestamp,
                    delta,
                    fmt: h.fmt,
                    extended: h.extended,
                    ..Partial::default()
                });
            }
            _ => {
                if st.extended {
                    match peek4 {
                        Some(v) if v == st.ext_value => {
                            hlen += 4;
                            self.ext_use.repeated += 1;
                        }
                        None if !self.at_end => return Step::More,
                        _ => {
                            self.ext_use.omitted += 1;
                            note = Some(ChunkNote::ExtendedTimestampOmitted {
                                offset,
                                csid: h.csid,
                            });
                        }
                    }
                }
                if st.partial.is_none() {
                    let spec = st.timestamp.wrapping_add(st.delta);
                    if st.after_fmt0 && st.delta != 0 {
                        note = Some(ChunkNote::AmbiguousDelta {
                            offset,
                            csid: h.csid,
                            timestamp: spec,
                            alternative: st.timestamp,
                        });
                    }
                    st.timestamp = spec;
                    st.after_fmt0 = false;
                    st.partial = Some(Partial {
                        offset,
                        timestamp: spec,
                        delta: Some(st.delta),
                        fmt: 3,
                        extended: st.extended,
                        ..Partial::default()
                    });
                }
            }
        }
        let stream_id_guess = !st.stream_id_known;
        let length = st.length;
        let Some(p) = st.partial.as_mut() else {
            return Step::Continue;
        };
        let remaining = (length - p.received.min(length)).min(chunk_size);
        p.chunks += 1;
        if p.spans.len() < self.limits.max_spans {
            p.spans.push(ChunkSpan {
                offset,
                header_len: hlen as u8,
                fmt: h.fmt,
                payload_len: remaining,
            });
        }
        if stream_id_guess && h.fmt == 1 && p.chunks == 1 {
            self.notes.push_back(ChunkEvent::Error(ChunkError {
                offset,
                expected: format!(
                    "a type-0 header on chunk stream {} before this type-1 header (the message stream id is unknown; 0 is assumed)",
                    h.csid
                ),
                found: "a type-1 header".into(),
            }));
        }
        if let Some((e, (type_id, stream_id, length, old))) = error {
            self.buffered = self.buffered.saturating_sub(old.payload.len());
            self.live_slices = self.live_slices.saturating_sub(old.payload.slices());
            let msg = Self::make_message(h.csid, type_id, stream_id, length, old, offset, false);
            self.notes.push_back(ChunkEvent::Error(e));
            self.notes.push_back(ChunkEvent::Message(msg));
        }
        if let Some(n) = note {
            self.notes.push_back(ChunkEvent::Note(n));
        }
        self.consume(hlen);
        self.state = State::Payload {
            csid: h.csid,
            remaining,
        };
        Step::Continue
    }

    fn header_error(&mut self, h: ChunkHeader) -> Step {
        let offset = self.pos;
        let (expected, found) = if h.fmt >= 2 {
            (
                format!(
                    "a type-0 or type-1 header on chunk stream {} before a type-{} chunk (its message length is unknown)",
                    h.csid, h.fmt
                ),
                format!("a type-{} header", h.fmt),
            )
        } else {
            (
                format!(
                    "at most {} live chunk streams",
                    self.limits.max_chunk_streams
                ),
                format!("chunk stream {} (limit reached)", h.csid),
            )
        };
        self.state = State::Resync;
        self.resync_from = offset;
        // Skip the bad header's first byte so the scan does not find it again.
        self.consume(1);
        Step::Event(ChunkEvent::Error(ChunkError {
            offset,
            expected,
            found,
        }))
    }

    fn read_payload(&mut self, csid: u32, remaining: u32) -> Option<ChunkEvent> {
        let max_buffered = self.limits.max_buffered;
        let max_live = self.limits.max_live_slices;
        let mut remaining = remaining;
        while remaining > 0 && self.queued > 0 {
            let slice = self.take_slice(remaining as usize);
            remaining -= slice.len() as u32;
            let Some(st) = self.streams.get(csid) else {
                break;
            };
            let Some(p) = st.partial.as_mut() else {
                break;
            };
            p.received += slice.len() as u32;
            if p.discarding {
                continue;
            }
            if self.buffered + slice.len() > max_buffered {
                let err = ChunkError {
                    offset: self.pos - slice.len() as u64,
                    expected: format!(
                        "at most {max_buffered} bytes buffered in incomplete messages"
                    ),
                    found: format!(
                        "a message of {} bytes on chunk stream {csid} (limit reached; its payload is skipped)",
                        st.length
                    ),
                };
                self.buffered -= p.payload.len();
                self.live_slices -= p.payload.slices();
                p.payload = PayloadBuilder::default();
                p.discarding = true;
                self.notes.push_back(ChunkEvent::Error(err));
                continue;
            }
            self.buffered += slice.len();
            // A message that arrives in one slice is handed out as that slice,
            // whatever its size: nothing is pinned beyond the message itself.
            let whole = p.payload.len() == 0 && slice.len() as u32 == st.length;
            let copy = self.live_slices >= max_live && !whole;
            let d = p.payload.push(slice, copy, whole);
            self.live_slices = (self.live_slices as isize + d).max(0) as usize;
        }
        self.state = State::Payload { csid, remaining };
        if remaining > 0 {
            return self.notes.pop_front();
        }
        self.state = State::Header;
        let end = self.pos;
        let st = self.streams.get(csid)?;
        let done = st.partial.as_ref().is_some_and(|p| p.received >= st.length);
        if !done {
            return self.notes.pop_front();
        }
        let p = st.partial.take()?;
        let (type_id, stream_id, length, guessed) =
            (st.type_id, st.stream_id, st.length, !st.stream_id_known);
        self.buffered = self.buffered.saturating_sub(p.payload.len());
        self.live_slices = self.live_slices.saturating_sub(p.payload.slices());
        let discarded = p.discarding;
        // Built where it is returned: a message built first and moved there
        // was read back in wider pieces than it was written in (a
        // store-forwarding stall on every message).
        let message = move || {
            let mut msg = Self::make_message(csid, type_id, stream_id, length, p, end, !discarded);
            msg.stream_id_guessed = guessed;
            msg
        };
        if discarded || !matches!(type_id, MSG_SET_CHUNK_SIZE | MSG_ABORT) {
            // The common case: nothing else to say, hand the message out directly.
            if self.notes.is_empty() {
                return Some(ChunkEvent::Message(message()));
            }
            self.notes.push_back(ChunkEvent::Message(message()));
        } else {
            let msg = message();
            self.control(&msg);
            self.notes.push_back(ChunkEvent::Message(msg));
        }
        self.notes.pop_front()
    }

    /// Applies Set Chunk Size and Abort the moment they complete (§5.4.1, §5.4.2).
    fn control(&mut self, msg: &RawMessage) {
        match msg.type_id {
            MSG_SET_CHUNK_SIZE => {
                let Some(v) = read4(&msg.payload.prefix(4)) else {
                    self.notes.push_back(ChunkEvent::Error(ChunkError {
                        offset: msg.offset,
                        expected: "a 4-byte chunk size in Set Chunk Size".into(),
                        found: format!("{} byte(s)", msg.payload.len()),
                    }));
                    return;
                };
                // The top bit is reserved and must be zero (§5.4.1).
                let size = v & 0x7FFF_FFFF;
                if size == 0 {
                    self.notes.push_back(ChunkEvent::Error(ChunkError {
                        offset: msg.offset,
                        expected: "a chunk size of at least 1".into(),
                        found: format!("{v:#010x} (the chunk size stays {})", self.chunk_size),
                    }));
                    return;
                }
                if v & 0x8000_0000 != 0 {
                    self.notes.push_back(ChunkEvent::Error(ChunkError {
                        offset: msg.offset,
                        expected: "the top bit of Set Chunk Size to be zero".into(),
                        found: format!("{v:#010x} (read as {size})"),
                    }));
                }
                // Messages are at most 16 MiB, so any larger size behaves as 16 MiB.
                self.chunk_size = size.min(MAX_MESSAGE_LEN);
                self.chunk_size_known = true;
                self.notes.push_back(ChunkEvent::Note(ChunkNote::ChunkSize {
                    offset: msg.offset,
                    size,
                }));
            }
            MSG_ABORT => {
                let Some(csid) = read4(&msg.payload.prefix(4)) else {
                    return;
                };
                let mut discarded = None;
                if let Some(st) = self.streams.get(csid) {
                    if let Some(p) = st.partial.take() {
                        discarded = Some((p.received, p.payload.len(), p.payload.slices()));
                    }
                }
                if let Some((received, held, slices)) = discarded {
                    self.buffered = self.buffered.saturating_sub(held);
                    self.live_slices = self.live_slices.saturating_sub(slices);
                    self.notes.push_back(ChunkEvent::Note(ChunkNote::Aborted {
                        offset: msg.offset,
                        csid,
                        discarded: received,
                    }));
                }
            }
            _ => {}
        }
    }

    /// Copies queued bytes starting `skip` bytes in into `out`; returns how many were copied.
    fn peek_at(&self, mut skip: usize, out: &mut [u8]) -> usize {
        let mut got = 0;
        for piece in &self.queue {
            if skip >= piece.len() {
                skip -= piece.len();
                continue;
            }
            let avail = &piece[skip..];
            skip = 0;
            let take = (out.len() - got).min(avail.len());
            out[got..got + take].copy_from_slice(&avail[..take]);
            got += take;
            if got == out.len() {
                break;
            }
        }
        got
    }

    /// Follows the chunks of a message whose header (`h`, `hlen` bytes, message
    /// length `len`) starts `start` bytes into the queue, assuming chunk size
    /// `c`: every continuation must be a type-3 header of the same chunk
    /// stream, and what follows the message a plausible header. A type-2/3
    /// header of the same stream after it is followed once more (`depth`).
    fn verify_chain(
        &self,
        start: usize,
        h: &ChunkHeader,
        hlen: usize,
        len: u32,
        c: u32,
        depth: u8,
    ) -> Verdict {
        let mut pos = start + hlen;
        let mut left = len as usize;
        let mut next = [0u8; MAX_HEADER_LEN + 4];
        let mut steps = 0;
        loop {
            let take = left.min(c as usize);
            pos += take;
            left -= take;
            if pos > start + RESYNC_LOOKAHEAD {
                return Verdict::Unknown;
            }
            steps += 1;
            if steps > MAX_CHAIN_STEPS {
                // That many continuation chunks in a row is proof enough (and
                // bounds the work per candidate byte).
                return Verdict::Yes;
            }
            let n = self.peek_at(pos, &mut next);
            let (h2, l2) = match ChunkHeader::parse(&next[..n]) {
                HeaderRead::Done(h2, l2) => (h2, l2),
                HeaderRead::Need(_) => return Verdict::NeedMore,
            };
            if left > 0 {
                if h2.fmt != 3 || h2.csid != h.csid {
                    return Verdict::No;
                }
                // A repeated extended timestamp rides on the continuation.
                let rep = h.extended && read4(&next[l2..n]) == Some(h.timestamp);
                pos += l2 + if rep { 4 } else { 0 };
                continue;
            }
            return match h2.fmt {
                0 | 1 if plausible_header(&h2).is_some() => Verdict::Yes,
                0 | 1 => Verdict::No,
                // After a type-0 header (stream id checked too) that is enough.
                _ if h2.csid == h.csid && h.fmt == 0 => Verdict::Yes,
                _ if h2.csid == h.csid && depth > 0 => {
                    self.verify_chain(pos, &h2, l2, len, c, depth - 1)
                }
                _ if self.streams.get_ref(h2.csid).is_some() && h2.csid != h.csid => Verdict::Yes,
                _ => Verdict::No,
            };
        }
    }

    /// Picks the chunk size under which the message at the front verifies,
    /// when the chunk size is unknown. `None`: more bytes are needed.
    fn infer_chunk_size(&self, h: &ChunkHeader, hlen: usize, len: u32) -> Option<Option<u32>> {
        let mut need_more = false;
        for &c in GUESSED_CHUNK_SIZES.iter().filter(|&&c| c < len) {
            match self.verify_chain(0, h, hlen, len, c, 1) {
                // Only once every likelier size is ruled out: taking a later
                // one while an earlier one waits for bytes would make the
                // choice depend on how the input was split.
                Verdict::Yes if need_more && !self.at_end => return None,
                Verdict::Yes => return Some(Some(c)),
                Verdict::NeedMore => need_more = true,
                Verdict::No | Verdict::Unknown => {}
            }
        }
        // A message no larger than every guess fits in one chunk whatever the size is.
        if self.verify_chain(0, h, hlen, len, u32::MAX, 1) == Verdict::Yes {
            return Some(None);
        }
        if need_more && !self.at_end {
            None
        } else {
            Some(None)
        }
    }

    /// Judges whether a chunk header starts at the front of the queue: a
    /// plausible type-0 or type-1 header, or a type-2/3 header on a chunk
    /// stream whose state survived (after a gap), whose chunks and the header
    /// after them verify (see [`Self::verify_chain`]). When the chunk size is
    /// unknown (a capture that started mid-stream) the sizes real peers use
    /// are tried and the one that verifies is adopted. `None`: more bytes needed.
    fn candidate_at_front(&mut self) -> Option<bool> {
        let got = self.peek_into_scratch(MAX_HEADER_LEN + 4);
        let buf = self.scratch;
        let (h, hlen) = match ChunkHeader::parse(&buf[..got]) {
            HeaderRead::Need(_) => return if self.at_end { Some(false) } else { None },
            HeaderRead::Done(h, l) => (h, l),
        };
        let len = match h.fmt {
            0 | 1 => match plausible_header(&h) {
                Some(len) => len,
                None => return Some(false),
            },
            _ => match self.streams.get(h.csid) {
                Some(st) if st.partial.is_none() => st.length,
                _ => return Some(false),
            },
        };
        if !self.chunk_size_known {
            for &c in GUESSED_CHUNK_SIZES.iter().filter(|&&c| c < len) {
                match self.verify_chain(0, &h, hlen, len, c, 1) {
                    Verdict::Yes => {
                        self.chunk_size = c;
                        self.chunk_size_known = true;
                        return Some(true);
                    }
                    Verdict::NeedMore if !self.at_end => return None,
                    _ => {}
                }
            }
        }
        let c = if self.chunk_size_known {
            self.chunk_size
        } else {
            u32::MAX
        };
        match self.verify_chain(0, &h, hlen, len, c, 1) {
            Verdict::Yes => {
                self.assume_at_least(len);
                Some(true)
            }
            Verdict::No => Some(false),
            Verdict::NeedMore if !self.at_end => None,
            // Unconfirmable (too far, or the input ended): trust a type-0 header alone.
            Verdict::NeedMore | Verdict::Unknown => Some(h.fmt == 0),
        }
    }

    /// Joins the queued pieces into one, so that looking ahead while
    /// resynchronising costs the same however finely the input was split.
    fn coalesce(&mut self) {
        let mut all = bytes::BytesMut::with_capacity(self.queued);
        for p in self.queue.drain(..) {
            all.extend_from_slice(&p);
        }
        self.queue.push_back(all.freeze());
    }

    /// Scans for a plausible type-0 header; returns false when more bytes are needed.
    fn resync(&mut self) -> bool {
        if self.queue.len() > MAX_RESYNC_PIECES {
            self.coalesce();
        }
        loop {
            if self.queued == 0 {
                return false;
            }
            match self.candidate_at_front() {
                None => return false,
                Some(true) => {
                    let skipped = self.pos - self.resync_from;
                    if skipped > 0 {
                        self.notes
                            .push_back(ChunkEvent::Note(ChunkNote::Resynchronised {
                                offset: self.resync_from,
                                skipped,
                            }));
                    }
                    self.state = State::Header;
                    return true;
                }
                // A header may start at any byte, so skip just one.
                Some(false) => self.consume(1),
            }
        }
    }
}

/// Continuation chunks a candidate's chain is followed through at most.
const MAX_CHAIN_STEPS: usize = 16;

/// Queued input pieces past which resynchronisation joins them into one.
const MAX_RESYNC_PIECES: usize = 32;

/// How far ahead the resynchronisation scan looks for a second header.
const RESYNC_LOOKAHEAD: usize = 256 * 1024;

/// Chunk sizes tried, most common first, when a capture starts mid-stream:
/// the default and what ffmpeg, OBS, nginx-rtmp, SRS and GStreamer set.
const GUESSED_CHUNK_SIZES: [u32; 8] = [4096, 128, 60_000, 65_536, 1024, 4000, 8192, 131_072];

enum Step {
    Event(ChunkEvent),
    More,
    Continue,
}

/// What following a candidate's chunks showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Yes,
    No,
    NeedMore,
    /// Too far ahead to check.
    Unknown,
}

fn read4(b: &[u8]) -> Option<u32> {
    b.get(..4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The message length of a type-0 or type-1 header a real peer could have sent.
fn plausible_header(h: &ChunkHeader) -> Option<u32> {
    let (t, l) = (h.type_id?, h.length?);
    if h.csid < 2 || !known_type(t) || l == 0 {
        return None;
    }
    let control = matches!(t, 1..=6);
    // Chunk stream 2 carries protocol control only, and that always on stream 0 (§5.4, §6.2).
    if (h.csid == 2 && !control) || (control && h.stream_id.is_some_and(|s| s != 0)) {
        return None;
    }
    match h.fmt {
        0 if h.stream_id? > 0xFFFF => return None,
        // A type-1 delta is small in real streams (frame and packet durations).
        1 if h.timestamp > 60_000 => return None,
        _ => {}
    }
    let ok = match t {
        1..=3 | 5 => l == 4,
        6 => l == 5,
        4 => (2..=64).contains(&l),
        _ => true,
    };
    ok.then_some(l)
}

/// Writes messages as chunks, choosing the smallest header like real peers do.
#[derive(Debug, Clone)]
pub struct ChunkEncoder {
    chunk_size: u32,
    last: HashMap<u32, (u32, u32, u8, u32, u32)>,
    /// Whether type-3 chunks after an extended header repeat the extended field.
    pub repeat_extended: bool,
}

impl ChunkEncoder {
    /// An encoder with the given outgoing chunk size.
    pub fn new(chunk_size: u32) -> Self {
        ChunkEncoder {
            chunk_size: chunk_size.max(1),
            last: HashMap::new(),
            repeat_extended: true,
        }
    }

    /// Changes the chunk size used for later messages (send Set Chunk Size first).
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, MAX_MESSAGE_LEN);
    }

    /// Appends one message as chunks to `out`.
    pub fn write(
        &mut self,
        out: &mut Vec<u8>,
        csid: u32,
        type_id: u8,
        stream_id: u32,
        timestamp: u32,
        payload: &[u8],
    ) {
        for c in self.chunks(csid, type_id, stream_id, timestamp, payload) {
            out.extend_from_slice(&c);
        }
    }

    /// Encodes one message as a list of chunks (header and payload each), so
    /// that callers can interleave chunks of several chunk streams.
    pub fn chunks(
        &mut self,
        csid: u32,
        type_id: u8,
        stream_id: u32,
        timestamp: u32,
        payload: &[u8],
    ) -> Vec<Vec<u8>> {
        let len = payload.len().min(MAX_MESSAGE_LEN as usize) as u32;
        let prev = self.last.get(&csid).copied();
        let (fmt, field) = match prev {
            Some((pts, pdelta, ptype, plen, psid)) if psid == stream_id && timestamp >= pts => {
                let delta = timestamp - pts;
                match (ptype == type_id && plen == len, delta == pdelta) {
                    (true, true) => (3, delta),
                    (true, false) => (2, delta),
                    _ => (1, delta),
                }
            }
            _ => (0, timestamp),
        };
        // After fmt 0 the delta a type-3 header reuses is the fmt 0 timestamp (spec reading).
        self.last
            .insert(csid, (timestamp, field, type_id, len, stream_id));
        let ext = field >= EXTENDED_TIMESTAMP;
        let first = ChunkHeader {
            fmt,
            csid,
            timestamp: field,
            length: Some(len),
            type_id: Some(type_id),
            stream_id: Some(stream_id),
            extended: ext && fmt < 3,
        };
        let cont = ChunkHeader {
            fmt: 3,
            extended: false,
            ..first
        };
        let mut out = Vec::new();
        let body = &payload[..len as usize];
        let mut pieces = body.chunks(self.chunk_size as usize);
        let mut header = first;
        loop {
            let mut c = Vec::new();
            header.emit(&mut c);
            if header.fmt == 3 && ext && self.repeat_extended {
                c.extend_from_slice(&field.to_be_bytes());
            }
            match pieces.next() {
                Some(p) => c.extend_from_slice(p),
                None if out.is_empty() => {}
                None => break,
            }
            out.push(c);
            header = cont;
            if out.len() * self.chunk_size as usize >= body.len() {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
