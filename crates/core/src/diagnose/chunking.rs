//! Chunk-stream rules: chunk sizes the sender does not keep to, the chunk
//! stream going out of step, extended timestamps, messages cut short by the
//! next header, aborts and malformed bodies.
//!
//! | code | severity | when |
//! | --- | --- | --- |
//! | `chunk.size_mismatch` | error | the chunk stream breaks where a message longer than the chunk size in force should continue: the sender uses a larger chunk size than it announced |
//! | `chunk.size_not_applied` | error | after announcing a larger chunk size, the sender still cuts messages at the old size (its chunk headers show up inside payloads) |
//! | `chunk.desync` | error | the chunk stream stops making sense (headers on unknown chunk streams, bytes skipped to find the next header) |
//! | `chunk.bad_chunk_size` | error / warning | Set Chunk Size of 0 or too short (error); with the reserved top bit set (warning) |
//! | `chunk.extended_timestamp` | warning | a type-3 chunk after an extended-timestamp header does not repeat the 4-byte field |
//! | `chunk.extended_needless` | info | the extended field holds a value that fits in 24 bits |
//! | `chunk.ambiguous_delta` | warning | a type-3 chunk starts a message right after a type-0 header with a non-zero timestamp (implementations disagree on its timestamp) |
//! | `chunk.message_cut` | error | a message's chunk stream gets a new message header before the message's announced length arrived |
//! | `chunk.abort` | warning | an Abort message dropped a partial message |
//! | `message.malformed` | warning | a complete command or data message whose body does not decode, or an unknown message type |

use crate::chunk::{ChunkNote, DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP};
use crate::message::{self, Body};
use crate::session::{Direction, ErrorEvent, Event, MessageEvent};

use super::{dir_idx, msg_evidence, sender, sender_cap, Evidence, Facts, Finding, Severity, Sink};

/// Notes waiting for the message that contains their chunk, per direction.
const MAX_PENDING: usize = 8;
/// Incomplete messages remembered per direction, for the chunk-size check.
const MAX_INCOMPLETE: usize = 8;
/// Chunk sizes real senders use, tried when a payload shows stray chunk headers.
const COMMON_CHUNK_SIZES: [usize; 10] =
    [128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 60000];
/// Messages after a chunk size change whose payload is checked for stray chunk headers.
const CHECK_AFTER_CHANGE: u32 = 64;

#[derive(Debug, Default)]
struct Side {
    /// Chunk size in force, and the one before the last Set Chunk Size.
    size: u32,
    prev: u32,
    /// Whether this direction sent Set Chunk Size.
    announced: bool,
    /// Messages checked since the last change.
    checked: u32,
    /// After a capture gap, until a complete message: errors are the gap's doing.
    after_gap: bool,
    /// The first place the chunk stream stopped making sense.
    desync: Option<Evidence>,
    /// A "new header while a message was incomplete" error waiting for its message.
    cut: Option<Evidence>,
    /// Incomplete messages: (offset, end of first chunk, length, chunk size then, evidence).
    incomplete: Vec<(u64, u64, u32, u32, Evidence)>,
    /// Notes waiting for their message: (offset, code).
    pending: Vec<(u64, ChunkNote)>,
    /// A message with one stray type-3 header at the old chunk size: (evidence, end, prev, size, length).
    suspect: Option<(Evidence, u64, u32, u32, usize)>,
    /// The last Abort note's discarded byte count.
    aborted: Option<(u32, u32)>,
    /// Whether the first resynchronisation of a mid-stream capture was seen.
    started: bool,
}

/// State of the chunking rules.
#[derive(Debug)]
pub(super) struct Rules {
    sides: [Side; 2],
}

impl Default for Rules {
    fn default() -> Self {
        let side = || Side {
            size: DEFAULT_CHUNK_SIZE,
            prev: DEFAULT_CHUNK_SIZE,
            ..Side::default()
        };
        Rules {
            sides: [side(), side()],
        }
    }
}

/// What kind of chunk-layer error an [`ErrorEvent`] is, from the decoder's wording.
#[derive(Debug, PartialEq, Eq)]
enum ErrorKind {
    /// Handshake (handled by the handshake rules).
    Handshake,
    /// The end of the data or a capture gap (handled by the end rules).
    End,
    /// A new header arrived on a chunk stream whose message was incomplete.
    Cut,
    /// Set Chunk Size with a bad value.
    ChunkSize { fatal: bool },
    /// Anything else: the chunk stream is out of step.
    Desync,
}

fn classify(e: &ErrorEvent) -> ErrorKind {
    let x = e.expected.as_str();
    if x.starts_with("RTMP version")
        || x.ends_with("of C0+C1")
        || x.ends_with("of C2")
        || x.ends_with("of S0+S1")
        || x.ends_with("of S2")
    {
        ErrorKind::Handshake
    } else if x.starts_with("a type-3 chunk continuing the message") {
        ErrorKind::Cut
    } else if x.contains("more byte(s) of the message")
        || x.starts_with("the rest of a chunk header")
        || x.starts_with("a chunk header (still searching")
    {
        ErrorKind::End
    } else if x.starts_with("the top bit of Set Chunk Size") {
        ErrorKind::ChunkSize { fatal: false }
    } else if x.contains("chunk size") && x.contains("Set Chunk Size")
        || x.starts_with("a chunk size of at least")
    {
        ErrorKind::ChunkSize { fatal: true }
    } else {
        ErrorKind::Desync
    }
}

impl Rules {
    pub(super) fn observe(&mut self, ev: &Event, facts: &mut Facts, sink: &mut Sink) {
        match ev {
            Event::Message(m) => self.message(m, facts, sink),
            Event::Note(n) => {
                let side = &mut self.sides[dir_idx(n.dir)];
                match &n.note {
                    ChunkNote::ExtendedTimestampOmitted { offset, .. }
                    | ChunkNote::AmbiguousDelta { offset, .. } => {
                        if side.pending.len() < MAX_PENDING {
                            side.pending.push((*offset, n.note.clone()));
                        }
                    }
                    ChunkNote::Resynchronised { offset, skipped } => {
                        let first_of_mid_stream = !facts.has_start() && !side.started;
                        side.started = true;
                        if !side.after_gap && !first_of_mid_stream {
                            let e = Evidence {
                                dir: n.dir,
                                index: None,
                                offset: *offset,
                                what: format!(
                                    "{skipped} byte(s) skipped to find the next chunk header"
                                ),
                            };
                            self.desync(n.dir, e, facts, sink);
                        }
                    }
                    ChunkNote::Aborted {
                        offset,
                        csid,
                        discarded,
                    } => {
                        let _ = offset;
                        side.aborted = Some((*csid, *discarded));
                    }
                    ChunkNote::ChunkSize { .. } => {}
                }
            }
            Event::Error(e) => self.error(e, facts, sink),
            Event::Gap(g) => {
                let side = &mut self.sides[dir_idx(g.dir)];
                side.after_gap = true;
                side.cut = None;
            }
            Event::Handshake(_) => {}
        }
    }

    fn error(&mut self, e: &ErrorEvent, facts: &mut Facts, sink: &mut Sink) {
        let d = dir_idx(e.dir);
        let here = Evidence {
            dir: e.dir,
            index: None,
            offset: e.offset,
            what: format!("expected {}, found {}", e.expected, e.found),
        };
        match classify(e) {
            ErrorKind::Handshake | ErrorKind::End => {}
            ErrorKind::Cut => {
                if !self.sides[d].after_gap {
                    self.sides[d].cut = Some(here);
                }
            }
            ErrorKind::ChunkSize { fatal } => {
                let f = Finding::new(
                    if fatal { Severity::Error } else { Severity::Warning },
                    "chunk.bad_chunk_size",
                    format!("The {} sent an invalid Set Chunk Size", sender(e.dir)),
                )
                .explain(format!(
                    "Set Chunk Size carries a 31-bit size of at least 1 with the top bit zero (RTMP spec §5.4.1). Here: {}, {}. {}",
                    e.expected,
                    e.found,
                    if fatal {
                        "The receiver cannot follow the sender's chunks from here on."
                    } else {
                        "Receivers that do not mask the bit read a negative or huge size."
                    }
                ))
                .hint(format!("the {}'s RTMP implementation writes Set Chunk Size wrongly; report it to its authors", sender(e.dir)))
                .at(here);
                sink.raise(facts, f);
            }
            ErrorKind::Desync => {
                // A capture that starts mid-stream meets chunk streams whose
                // type-0 header it never saw: not the sender's fault.
                let unknown_state = e.expected.contains("before a type-")
                    || e.expected.contains("before this type-1 header");
                let mid_stream = !facts.has_start() && (!self.sides[d].started || unknown_state);
                if !self.sides[d].after_gap && !mid_stream {
                    self.desync(e.dir, here, facts, sink);
                }
            }
        }
    }

    fn desync(&mut self, dir: Direction, at: Evidence, facts: &mut Facts, sink: &mut Sink) {
        let side = &mut self.sides[dir_idx(dir)];
        if side.desync.is_some() {
            return;
        }
        side.desync = Some(at.clone());
        if sink.has("chunk.size_not_applied") {
            return;
        }
        // One stray header byte at the old chunk size, and the stream breaks
        // right where that message ends: the sender did not apply its new size.
        if let Some((ev, end, used, size, len)) = side.suspect.take() {
            if at.offset >= end && at.offset <= end + 16 {
                raise_not_applied(dir, ev, used as usize, size as usize, len, facts, sink);
                return;
            }
        }
        let (size, announced) = (side.size, side.announced);
        let peer = &self.sides[dir_idx(dir.reverse())];
        let guess = if !announced && peer.announced && peer.size != size {
            format!(
                " The {} never sent Set Chunk Size (so its chunks must be {size} bytes) while the {} announced {}: a sender that uses the peer's chunk size for its own chunks breaks exactly like this.",
                sender(dir),
                sender(dir.reverse()),
                peer.size
            )
        } else {
            format!(
                " The chunk size in force for the {} is {size} bytes.",
                sender(dir)
            )
        };
        let f = Finding::new(
            Severity::Error,
            "chunk.desync",
            format!("The {}'s chunk stream stops making sense at byte {}", sender(dir), at.offset),
        )
        .explain(format!(
            "From here on the bytes do not read as RTMP chunks ({}). Everything after it in this direction is decoded by guesswork, and a server in the same position drops the connection. The usual causes are a chunk size the sender uses but never announced (or announced but never applied), extended timestamps written differently than the receiver expects, or bytes lost or corrupted in transit.{guess}",
            at.what
        ))
        .hint("compare the sender's Set Chunk Size messages with the chunk boundaries it really uses, and its extended-timestamp handling; if the capture lost packets, capture again")
        .at(at);
        sink.raise(facts, f);
    }

    fn message(&mut self, m: &MessageEvent, facts: &mut Facts, sink: &mut Sink) {
        let d = dir_idx(m.dir);
        self.resolve_pending(m, facts, sink);
        if !m.raw.complete {
            self.incomplete(m, facts, sink);
            return;
        }
        self.sides[d].after_gap = false;
        match &m.body {
            Body::SetChunkSize(v) => {
                let side = &mut self.sides[d];
                if *v > 0 {
                    side.prev = side.size;
                    side.size = (*v).min(0xFF_FFFF);
                    side.announced = true;
                    side.checked = 0;
                }
            }
            Body::Abort(csid) => {
                let discarded = self.sides[d]
                    .aborted
                    .take()
                    .filter(|a| a.0 == *csid)
                    .map(|a| a.1);
                let f = Finding::new(
                    Severity::Warning,
                    "chunk.abort",
                    format!("The {} aborted a message on chunk stream {csid}", sender(m.dir)),
                )
                .explain(format!(
                    "An Abort Message tells the receiver to drop the partly received message on a chunk stream{}. Encoders rarely do this; it usually means the sender gave up on a frame (it fell behind, or is shutting down), and some servers mishandle it.",
                    discarded.map_or(String::new(), |n| format!(" ({n} bytes of it had arrived)"))
                ))
                .hint(format!("check the {}'s log around this moment for dropped frames or errors", sender(m.dir)))
                .at(msg_evidence(m));
                sink.raise(facts, f);
            }
            _ => {}
        }
        self.check_stray_headers(m, facts, sink);
        self.check_extended(m, facts, sink);
        self.check_body(m, facts, sink);
    }

    /// Raises the notes whose chunk lies in this message.
    fn resolve_pending(&mut self, m: &MessageEvent, facts: &mut Facts, sink: &mut Sink) {
        let side = &mut self.sides[dir_idx(m.dir)];
        if side.pending.is_empty() {
            return;
        }
        let (inside, rest): (Vec<_>, Vec<_>) = side
            .pending
            .drain(..)
            .partition(|(off, _)| *off >= m.raw.offset && *off < m.raw.end);
        side.pending = rest;
        for (_, note) in inside {
            Self::raise_note(m.dir, &note, Some(msg_evidence(m)), facts, sink);
        }
    }

    fn raise_note(
        dir: Direction,
        note: &ChunkNote,
        msg: Option<Evidence>,
        facts: &Facts,
        sink: &mut Sink,
    ) {
        let chunk = |what: String| Evidence {
            dir,
            index: None,
            offset: note.offset(),
            what,
        };
        let f = match note {
            ChunkNote::ExtendedTimestampOmitted { csid, .. } => Finding::new(
                Severity::Warning,
                "chunk.extended_timestamp",
                format!("The {} omits the extended timestamp on type-3 chunks", sender(dir)),
            )
            .explain(format!(
                "A message whose header used the 4-byte extended timestamp (a timestamp or delta of 0xFFFFFF or more) must repeat those 4 bytes after the basic header of each of its type-3 chunks: ffmpeg, librtmp, OBS, nginx-rtmp and Wowza expect them. This {} leaves them out (chunk stream {csid}), so such receivers read 4 bytes of media as a timestamp and lose step with the chunk stream once timestamps pass 4.66 hours (16777215 ms).",
                sender(dir)
            ))
            .hint("keep timestamps below 0xFFFFFF ms (restart the stream, or do not offset timestamps), or fix the sender to repeat the extended timestamp on continuation chunks")
            .at_opt(msg)
            .at(chunk(format!("type-3 chunk on chunk stream {csid} without the extended field"))),
            ChunkNote::AmbiguousDelta { csid, timestamp, alternative, .. } => Finding::new(
                Severity::Warning,
                "chunk.ambiguous_delta",
                format!("The {}'s timestamps are ambiguous on chunk stream {csid}", sender(dir)),
            )
            .explain(format!(
                "A type-3 chunk starts a new message right after a type-0 header with a non-zero timestamp. The spec's reading repeats the type-0 timestamp as the delta ({timestamp} ms here); many implementations add nothing ({alternative} ms). Receivers disagree on this message's timestamp and every later one on the chunk stream."
            ))
            .hint("the sender should use a type-1 or type-2 header (with an explicit delta) for the message after a type-0 header")
            .at_opt(msg)
            .at(chunk(format!("type-3 chunk starting a message on chunk stream {csid}"))),
            _ => return,
        };
        sink.raise(facts, f);
    }

    fn incomplete(&mut self, m: &MessageEvent, facts: &mut Facts, sink: &mut Sink) {
        let d = dir_idx(m.dir);
        let side = &mut self.sides[d];
        let first_chunk_end = m.raw.spans.first().map_or(m.raw.end, |s| {
            s.offset + u64::from(s.header_len) + u64::from(s.payload_len)
        });
        if side.incomplete.len() < MAX_INCOMPLETE && !side.after_gap {
            side.incomplete.push((
                m.raw.offset,
                first_chunk_end,
                m.raw.length,
                side.size,
                msg_evidence(m),
            ));
        }
        if let Some(cut) = side.cut.take() {
            let f = Finding::new(
                Severity::Error,
                "chunk.message_cut",
                format!(
                    "A {} message is cut short by the next message on its chunk stream",
                    message::type_name(m.raw.type_id)
                ),
            )
            .explain(format!(
                "The message announced {} bytes, but only {} arrived before a new message header on chunk stream {}. The receiver drops it; the {} either miscounted the length, used another chunk size than the receiver, or abandoned the message without an Abort.",
                m.raw.length,
                m.raw.payload.len(),
                m.raw.csid,
                sender(m.dir)
            ))
            .hint("check the sender's chunk size and message lengths around this point")
            .at(msg_evidence(m))
            .at(cut);
            sink.raise(facts, f);
        }
        self.check_size_mismatch(m.dir, facts, sink);
    }

    /// A desync that starts where an incomplete message's continuation was due
    /// means the sender's chunks were longer than the chunk size in force.
    fn check_size_mismatch(&mut self, dir: Direction, facts: &mut Facts, sink: &mut Sink) {
        if sink.has("chunk.size_mismatch") || sink.has("chunk.size_not_applied") {
            return;
        }
        let side = &self.sides[dir_idx(dir)];
        let Some(desync) = &side.desync else {
            return;
        };
        let hit = side
            .incomplete
            .iter()
            .find(|(off, first_end, len, size, _)| {
                *len > *size && *off < desync.offset && *first_end <= desync.offset
            });
        let Some((_, first_end, len, size, ev)) = hit else {
            return;
        };
        let peer = &self.sides[dir_idx(dir.reverse())];
        let announced = if side.announced {
            format!("announced {size} with Set Chunk Size")
        } else {
            format!("never sent Set Chunk Size, so its chunks must be {size} bytes (the default)")
        };
        let peer_note = if peer.announced && peer.size > *size {
            format!(
                " The {} announced {} for its own chunks; a sender that applies the peer's chunk size to what it sends fails exactly like this.",
                sender(dir.reverse()),
                peer.size
            )
        } else {
            String::new()
        };
        let f = Finding::new(
            Severity::Error,
            "chunk.size_mismatch",
            format!("The {} sends chunks larger than the chunk size it announced ({size} bytes)", sender(dir)),
        )
        .explain(format!(
            "The {} {announced}. A {len}-byte message should then continue in a type-3 chunk after {size} bytes (at byte {first_end}), but what follows is not its continuation, and the chunk stream stops making sense from there (byte {}). The {} is cutting its messages at a larger size than it told the receiver.{peer_note}",
            sender(dir),
            desync.offset,
            sender(dir)
        ))
        .hint(format!(
            "the {} must send Set Chunk Size before it uses larger chunks (and use its own announced size, not the peer's); servers drop the connection on this",
            sender(dir)
        ))
        .at(ev.clone())
        .at(desync.clone());
        sink.raise(facts, f);
    }

    /// After a chunk size increase, a sender that still chunks at a smaller
    /// size (the old one, or another common one) leaves a type-3 basic header
    /// every `c + 1` bytes of the payload.
    fn check_stray_headers(&mut self, m: &MessageEvent, facts: &mut Facts, sink: &mut Sink) {
        let side = &mut self.sides[dir_idx(m.dir)];
        let (prev, size) = (side.prev as usize, side.size as usize);
        let len = m.raw.payload.len();
        if size <= prev || m.raw.csid >= 64 || len <= prev + 1 || side.checked >= CHECK_AFTER_CHANGE
        {
            return;
        }
        side.checked += 1;
        let marker = 0xC0 | m.raw.csid as u8;
        let candidates = std::iter::once(prev).chain(
            COMMON_CHUNK_SIZES
                .iter()
                .copied()
                .filter(|&c| c != prev && c < size),
        );
        for c in candidates {
            if len <= c + 1 {
                continue;
            }
            let mut pos = c;
            let mut hits = 0;
            let mut all = true;
            while pos < len && hits < 8 {
                if m.raw.payload.get(pos) != Some(marker) {
                    all = false;
                    break;
                }
                hits += 1;
                pos += c + 1;
            }
            if !all && hits < 2 {
                continue;
            }
            if hits >= 2 {
                raise_not_applied(m.dir, msg_evidence(m), c, size, len, facts, sink);
            } else if side.suspect.is_none() {
                // One byte could be chance: wait for the stream to break right after.
                side.suspect = Some((msg_evidence(m), m.raw.end, c as u32, size as u32, len));
            }
            return;
        }
    }

    fn check_extended(&mut self, m: &MessageEvent, facts: &mut Facts, sink: &mut Sink) {
        if !m.raw.extended {
            return;
        }
        let value = match m.raw.delta {
            None => m.raw.timestamp,
            Some(d) => d,
        };
        if value >= EXTENDED_TIMESTAMP || m.raw.fmt == 3 {
            return;
        }
        let f = Finding::new(
            Severity::Info,
            "chunk.extended_needless",
            format!("The {} uses the extended timestamp field for a small value", sender(m.dir)),
        )
        .explain(format!(
            "The 4-byte extended timestamp is meant for values of 0xFFFFFF (16777215 ms) and more; here it carries {value} ms. Most receivers accept it, some strict ones do not."
        ))
        .hint("harmless with common servers; report it to the sender's authors if a server complains")
        .at(msg_evidence(m));
        sink.raise(facts, f);
    }

    fn check_body(&mut self, m: &MessageEvent, facts: &mut Facts, sink: &mut Sink) {
        let known = matches!(m.raw.type_id, 1..=6 | 8 | 9 | 15..=20 | 22);
        let side = &self.sides[dir_idx(m.dir)];
        if side.desync.is_some() {
            return; // bodies after a desync are garbage; the desync finding says so
        }
        let f = if !known {
            Finding::new(
                Severity::Warning,
                "message.malformed",
                format!("{} sent a message of unknown type {}", sender_cap(m.dir), m.raw.type_id),
            )
            .explain("RTMP defines message types 1-6, 8, 9, 15-20 and 22. An unknown type usually means the chunk stream is being read out of step, or the sender uses a private extension the other side ignores.")
            .hint("if the session fails after this, look at the chunk boundaries just before it")
        } else if let Some(err) = &m.body_error {
            if !matches!(m.raw.type_id, 15 | 17 | 18 | 20) {
                return;
            }
            Finding::new(
                Severity::Warning,
                "message.malformed",
                format!("{} sent a {} that does not decode", sender_cap(m.dir), message::type_name(m.raw.type_id)),
            )
            .explain(format!(
                "Its AMF body breaks at byte {}: expected {}, found {}. The receiver may ignore the message or drop the connection.",
                err.offset, err.expected, err.found
            ))
            .hint(format!("the {}'s AMF encoding is at fault here (or the message was cut by a chunking error)", sender(m.dir)))
        } else {
            return;
        };
        sink.raise(facts, f.at(msg_evidence(m)));
    }

    pub(super) fn finish(&mut self, facts: &mut Facts, sink: &mut Sink) {
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            let pending = std::mem::take(&mut self.sides[dir_idx(dir)].pending);
            for (_, note) in pending {
                Self::raise_note(dir, &note, None, facts, sink);
            }
            self.check_size_mismatch(dir, facts, sink);
        }
    }
}

/// Raises `chunk.size_not_applied` for a message cut at the old chunk size.
fn raise_not_applied(
    dir: Direction,
    at: Evidence,
    prev: usize,
    size: usize,
    len: usize,
    facts: &Facts,
    sink: &mut Sink,
) {
    let f = Finding::new(
        Severity::Error,
        "chunk.size_not_applied",
        format!(
            "The {} announced chunk size {size} but sends {prev}-byte chunks",
            sender(dir)
        ),
    )
    .explain(format!(
        "After Set Chunk Size {size}, this {len}-byte message should travel in chunks of up to {size} bytes. Instead a type-3 chunk header appears after every {prev} bytes of its body: the {} cuts at {prev}. The receiver takes those header bytes for media and then loses step with the chunk stream.",
        sender(dir)
    ))
    .hint(format!(
        "the {} must apply its own Set Chunk Size to what it sends after it (or not announce a size it does not use)",
        sender(dir)
    ))
    .at(at);
    sink.raise(facts, f);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(expected: &str) -> ErrorEvent {
        ErrorEvent {
            dir: Direction::ClientToServer,
            offset: 0,
            expected: expected.into(),
            found: "x".into(),
            time: 0.0,
        }
    }

    #[test]
    fn decoder_error_wordings_are_classified() {
        assert_eq!(classify(&err("RTMP version 3 in C0")), ErrorKind::Handshake);
        assert_eq!(classify(&err("1537 bytes of C0+C1")), ErrorKind::Handshake);
        assert_eq!(
            classify(&err(
                "a type-3 chunk continuing the message on chunk stream 4 (1 of 9 bytes arrived)"
            )),
            ErrorKind::Cut
        );
        assert_eq!(
            classify(&err(
                "309 more byte(s) of the message on chunk stream 4 that started at byte 3403"
            )),
            ErrorKind::End
        );
        assert_eq!(classify(&err("the rest of a chunk header")), ErrorKind::End);
        assert_eq!(
            classify(&err("the top bit of Set Chunk Size to be zero")),
            ErrorKind::ChunkSize { fatal: false }
        );
        assert_eq!(
            classify(&err("a chunk size of at least 1")),
            ErrorKind::ChunkSize { fatal: true }
        );
        assert_eq!(
            classify(&err("a 4-byte chunk size in Set Chunk Size")),
            ErrorKind::ChunkSize { fatal: true }
        );
        assert_eq!(
            classify(&err(
                "a type-0 or type-1 header on chunk stream 9 before a type-3 chunk"
            )),
            ErrorKind::Desync
        );
    }
}
