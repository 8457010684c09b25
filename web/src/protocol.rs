//! The messages between the page and the decoding worker, as JSON text.
//!
//! The page asks; the worker keeps the decoded capture and answers with only
//! what is on screen (a window of rows, one message's detail), so a capture of
//! a million messages never crosses the boundary whole. Files travel beside the
//! JSON as `File` objects (see `worker.rs`), never inside it.

use serde::{Deserialize, Serialize};

/// What the page asks the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "req", rename_all = "snake_case")]
pub enum Request {
    /// Decode the files posted with this request (a capture, or a .c2s/.s2c pair).
    Open {
        /// The files' names, in the order they were posted.
        names: Vec<String>,
    },
    /// A window of a session's (filtered) messages.
    Rows {
        /// Session number.
        session: u64,
        /// First position in the filtered list.
        start: u32,
        /// How many.
        count: u32,
        /// The filter.
        filter: Filter,
        /// Echoed, so that the page can drop stale answers.
        seq: u32,
    },
    /// The session's handshake, findings and problems.
    Session {
        /// Session number.
        session: u64,
    },
    /// One message in full.
    Detail {
        /// Session number.
        session: u64,
        /// Row number (unfiltered).
        row: u32,
    },
    /// Where a (direction, message index) is, for the findings' evidence.
    Locate {
        /// Session number.
        session: u64,
        /// Direction (`c2s` or `s2c`).
        dir: String,
        /// Index among the direction's messages.
        index: u64,
        /// The filter in force, so that the position is within it.
        filter: Filter,
    },
    /// Chunks of a session for the lanes, over a byte range of one direction.
    Lanes {
        /// Session number.
        session: u64,
        /// Direction (`c2s` or `s2c`).
        dir: String,
        /// First byte (or microsecond since the session's start, with `time`).
        from: u64,
        /// Past the last byte (or microsecond).
        to: u64,
        /// Lay the chunks out over capture time instead of bytes.
        #[serde(default)]
        time: bool,
    },
    /// Series for the charts.
    Charts {
        /// Session number.
        session: u64,
    },
    /// The capture as JSON lines (the CLI's `decode --json`) or a session's media as FLV.
    Export {
        /// `json` or `flv`.
        format: String,
        /// For FLV: the session.
        session: u64,
    },
    /// Connect to a live feed (`ws://…/feed`).
    Live {
        /// The WebSocket URL.
        url: String,
    },
}

/// Which messages the table shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Filter {
    /// `c2s`, `s2c` or empty for both.
    #[serde(default)]
    pub dir: String,
    /// `audio`, `video`, `command`, `data`, `control`, a type id, or empty.
    #[serde(default)]
    pub kind: String,
    /// Message stream id, or empty.
    #[serde(default)]
    pub stream: String,
    /// Chunk stream id, or empty.
    #[serde(default)]
    pub csid: String,
    /// Part of the summary (case-insensitive), or empty.
    #[serde(default)]
    pub text: String,
}

impl Filter {
    /// Whether nothing is filtered out.
    pub fn is_empty(&self) -> bool {
        self.dir.is_empty()
            && self.kind.is_empty()
            && self.stream.trim().is_empty()
            && self.csid.trim().is_empty()
            && self.text.trim().is_empty()
    }
}

/// What the worker answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "res", rename_all = "snake_case")]
pub enum Response {
    /// The worker is listening (requests posted before this would be lost).
    Ready,
    /// Decoding goes on (or is done): the sessions so far.
    Progress {
        /// File bytes read.
        read: u64,
        /// File size.
        total: u64,
        /// Whether the whole input is decoded.
        done: bool,
        /// Messages so far, all sessions.
        messages: u64,
        /// The sessions.
        sessions: Vec<SessionSummary>,
        /// Non-RTMP connections skipped.
        skipped: Vec<String>,
        /// Problems with the file.
        warnings: Vec<String>,
        /// Milliseconds since the file was posted.
        elapsed_ms: f64,
        /// Bytes of the worker's wasm memory (what the decoded capture costs).
        #[serde(default)]
        memory: u64,
        /// Whether this is a live feed.
        live: bool,
    },
    /// The input cannot be decoded.
    Failed {
        /// One sentence for the page.
        headline: String,
        /// The details.
        detail: String,
    },
    /// A window of rows.
    Rows {
        /// Echo of the request's `seq`.
        seq: u32,
        /// Session.
        session: u64,
        /// Position of the first row.
        start: u32,
        /// Rows that pass the filter, in all.
        total: u32,
        /// The rows.
        rows: Vec<RowView>,
    },
    /// A session's overview.
    Session(Box<SessionView>),
    /// A message in full.
    Detail(Box<DetailView>),
    /// Where a message is.
    Located {
        /// Session.
        session: u64,
        /// Row number (unfiltered), if the message exists.
        row: Option<u32>,
        /// Position in the filtered list, if it passes the filter.
        position: Option<u32>,
    },
    /// Chunks for the lanes.
    Lanes(Box<LanesView>),
    /// Series for the charts.
    Charts(Box<ChartsView>),
    /// An export is ready (the file itself travels beside this JSON).
    Exported {
        /// Suggested file name.
        name: String,
        /// Size in bytes.
        size: u64,
    },
    /// An export could not be made.
    ExportFailed {
        /// Why.
        message: String,
    },
    /// The live feed's state changed.
    LiveState {
        /// `connecting`, `open`, `closed` or `error`.
        state: String,
        /// Details.
        detail: String,
    },
}

/// One line of the sessions list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// Session number.
    pub number: u64,
    /// `ip:port`, or the .c2s file name for raw streams.
    pub client: String,
    /// `ip:port`, or the .s2c file name.
    pub server: String,
    /// Protocol (`RTMP`, `RTMPT`, …).
    pub protocol: String,
    /// `app` from connect.
    pub app: String,
    /// `tcUrl` from connect.
    pub tc_url: String,
    /// Stream name from publish/play.
    pub stream: String,
    /// `publish`, `play` or empty.
    pub mode: String,
    /// Capture time of the first segment.
    pub start: f64,
    /// Seconds from the first to the last byte.
    pub duration: f64,
    /// `ok`, `rejected`, `broken`, `live` or `decoding`.
    pub status: String,
    /// Messages in the session.
    pub messages: u64,
    /// Of those, messages cut short (the capture or the connection ended inside them).
    #[serde(default)]
    pub incomplete: u64,
    /// Bytes per direction (c2s, s2c).
    pub bytes: [u64; 2],
    /// Error findings.
    pub errors: u32,
    /// Warning findings.
    pub warnings: u32,
}

/// One row of the message table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowView {
    /// Row number in the session (unfiltered).
    pub row: u32,
    /// Index among its direction's messages.
    pub index: u32,
    /// Capture time, seconds since the session's start.
    pub time: f64,
    /// `c2s` or `s2c`.
    pub dir: String,
    /// Chunk stream id.
    pub csid: u32,
    /// Type id.
    pub type_id: u8,
    /// Type name.
    pub type_name: String,
    /// Message stream id.
    pub stream_id: u32,
    /// Absolute timestamp (ms).
    pub timestamp: u32,
    /// Delta (ms), absent after fmt 0.
    pub delta: Option<u32>,
    /// Announced length.
    pub length: u32,
    /// Chunks.
    pub chunks: u32,
    /// Offset of the first chunk.
    pub offset: u64,
    /// One-line summary.
    pub summary: String,
    /// `ROW_*` flags of the model.
    pub flags: u8,
}

/// The handshake card, findings and problems of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// The list line.
    pub summary: SessionSummary,
    /// Handshake parts in order C0C1, S0S1, C2, S2 (those seen).
    pub handshake: Vec<HandshakeView>,
    /// Findings, errors first.
    pub findings: Vec<FindingView>,
    /// Decoding errors, gaps and notes.
    pub problems: Vec<ProblemView>,
    /// The chunk sizes and other connection facts, as label/value pairs.
    pub facts: Vec<(String, String)>,
}

/// One handshake part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandshakeView {
    /// `C0C1`, `S0S1`, `C2`, `S2`.
    pub part: String,
    /// `c2s` or `s2c`.
    pub dir: String,
    /// Seconds since the session's start.
    pub time: f64,
    /// Its length.
    pub length: u32,
    /// Its facts (version, epoch, scheme, digest, echo), as label/value pairs.
    pub facts: Vec<(String, String)>,
    /// Whether every check passed.
    pub good: bool,
    /// The first bytes, in hex.
    pub head: String,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingView {
    /// `error`, `warning`, `info`.
    pub severity: String,
    /// Stable code (`publish.rejected`).
    pub code: String,
    /// One line.
    pub title: String,
    /// What happened.
    pub explanation: String,
    /// What to do.
    pub hint: String,
    /// The evidence: label and, for messages, the row to jump to.
    pub evidence: Vec<EvidenceView>,
}

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceView {
    /// `c2s`/`s2c`.
    pub dir: String,
    /// Message index among its direction's, if a message.
    pub index: Option<u64>,
    /// Row in the session, if a message.
    pub row: Option<u32>,
    /// Offset in the direction's stream.
    pub offset: u64,
    /// What it is.
    pub what: String,
}

/// A decoding error, gap or note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemView {
    /// `error`, `gap`, `note`.
    pub kind: String,
    /// Direction.
    pub dir: String,
    /// Offset.
    pub offset: u64,
    /// Seconds since the session's start.
    pub time: f64,
    /// What.
    pub text: String,
}

/// A selected message: its header, body tree, facts and bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetailView {
    /// Session.
    pub session: u64,
    /// The table row.
    pub row: RowView,
    /// AMF values (commands, data, shared objects), as trees.
    pub tree: Vec<TreeNode>,
    /// Other decoded facts (media headers, control values), as the CLI's JSON.
    pub facts: Vec<(String, String)>,
    /// Why the body did not decode, if it did not.
    pub body_error: Option<String>,
    /// The bytes of the message's chunks (at most [`crate::detail::HEX_LIMIT`]).
    pub bytes: Vec<u8>,
    /// Stream offset of each run of `bytes` (`(index in bytes, stream offset)`), one per chunk piece.
    pub runs: Vec<(u32, u64)>,
    /// Bytes of the message not shown (past the limit or missing from the capture).
    pub hidden: u64,
    /// Named byte ranges within `bytes`; `TreeNode::field` and hex bytes refer to them.
    pub fields: Vec<FieldView>,
}

/// A named byte range of the hex view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldView {
    /// What it is (`basic header: fmt 0, csid 3`, `string "connect"`).
    pub label: String,
    /// `header` (chunk header fields) or `value` (payload fields).
    pub kind: String,
    /// Ranges `[start, end)` within the detail's `bytes`.
    pub ranges: Vec<(u32, u32)>,
    /// Nesting depth (deeper fields are drawn over shallower ones).
    pub depth: u8,
}

/// A node of the AMF tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeNode {
    /// Member name or `[i]`.
    pub key: String,
    /// AMF type (`string`, `object`, …).
    pub type_name: String,
    /// The value, for scalars; a count for containers.
    pub value: String,
    /// The field of the hex view this node's bytes are, if shown.
    pub field: Option<u32>,
    /// Members or elements.
    pub children: Vec<TreeNode>,
}

/// Chunks of one direction over a byte range, for the lanes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanesView {
    /// Session.
    pub session: u64,
    /// `c2s` or `s2c`.
    pub dir: String,
    /// The direction's length in bytes (with `time`: the session's duration in microseconds).
    pub length: u64,
    /// Whether `chunks` are placed over capture time: their offset is then
    /// the microsecond their message completed, their length 0.
    pub time: bool,
    /// The csids seen in the whole direction, in order of first use.
    pub csids: Vec<u32>,
    /// Chunks in the range: (offset, length incl. header, csid, type id, row).
    pub chunks: Vec<(u64, u32, u32, u8, u32)>,
    /// Whether chunks were left out to bound the answer (zoom in for all).
    pub truncated: bool,
}

/// Series for the charts, per message stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartsView {
    /// Session.
    pub session: u64,
    /// Seconds covered.
    pub duration: f64,
    /// Per stream: (label, per-second kbit/s of audio+video) — one point per second.
    pub bitrate: Vec<(String, Vec<f64>)>,
    /// Audio timestamps against capture time: (capture s, timestamp s).
    pub audio_ts: Vec<(f64, f64)>,
    /// Video timestamps against capture time.
    pub video_ts: Vec<(f64, f64)>,
    /// Keyframes: (timestamp s, interval s since the previous keyframe).
    pub keyframes: Vec<(f64, f64)>,
    /// Video frames per second of media time, per second.
    pub fps: Vec<f64>,
}
