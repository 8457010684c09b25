//! rtmpscope-capture: captures in, byte streams out; and the proxy's capture files.
//!
//! [`CaptureReader`] streams a pcap or pcapng file from any [`std::io::Read`],
//! decodes the link, IP and TCP layers, reassembles each TCP connection per
//! direction (out-of-order segments, retransmissions, sequence wrap, lost
//! segments), decides from the first bytes which connections carry RTMP (on
//! any port), de-tunnels RTMPT, and yields [`CaptureEvent`]s in capture order.
//!
//! [`PcapngWriter`] writes sessions as synthesised IPv4/IPv6 + TCP packets in a
//! pcapng file that Wireshark decodes and that survives being cut at any point.
//!
//! Everything here is pure Rust without I/O of its own beyond the reader and
//! writer handed in, so it compiles for wasm32 too.
//!
//! ```
//! use rtmpscope_capture::{CaptureEvent, CaptureReader};
//!
//! let file = std::io::Cursor::new(vec![0x7b, 0x22, 0x61, 0x22]);
//! let err = CaptureReader::new(file).err().unwrap();
//! assert!(err.to_string().starts_with("not a pcap/pcapng file: first bytes 7b 22 61 22"));
//! # let _ = |e: CaptureEvent| e;
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod classify;
mod file;
mod ip;
mod link;
mod reader;
mod reassembly;
mod rtmpt;
pub mod writer;

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;
use rtmpscope_core::session::Direction;
use serde::Serialize;

pub use file::FileFormat;
pub use reader::CaptureReader;
pub use writer::{PcapngWriter, SessionId};

/// What a TCP connection carries, decided from its first bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum StreamKind {
    /// RTMP from its handshake on (C0 = 3, or 6 for RTMPE, then C1).
    Rtmp,
    /// RTMP whose start was not captured: the bytes begin inside the chunk stream.
    RtmpMidStream,
    /// RTMP tunnelled in HTTP POSTs (`/open/`, `/send/`, `/idle/`, `/close/`).
    Rtmpt,
    /// Something else, named when recognised (`"TLS"`, `"HTTP"`, `"SSH"`, `"no data"`, `"unknown"`).
    Other(String),
}

impl StreamKind {
    /// True for the kinds whose bytes are passed on as [`CaptureEvent::Data`].
    pub fn is_rtmp(&self) -> bool {
        !matches!(self, StreamKind::Other(_))
    }
}

impl fmt::Display for StreamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamKind::Rtmp => f.write_str("RTMP"),
            StreamKind::RtmpMidStream => f.write_str("RTMP (capture starts mid-stream)"),
            StreamKind::Rtmpt => f.write_str("RTMPT"),
            StreamKind::Other(name) => f.write_str(name),
        }
    }
}

/// One thing learnt from a capture, in capture order.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureEvent {
    /// A TCP connection is seen for the first time (first segment), with who is client/server.
    Connection {
        /// Connection number, from 0 in order of first appearance.
        conn: u64,
        /// The side that opened the connection (sent the SYN), or the likelier one when the start was not captured.
        client: SocketAddr,
        /// The other side.
        server: SocketAddr,
        /// Capture time of the first segment, seconds since the Unix epoch.
        time: f64,
        /// Whether the connection's start (SYN or SYN-ACK) was captured.
        syn_seen: bool,
    },
    /// The connection's protocol is decided; [`CaptureEvent::Data`] follows only for RTMP kinds.
    Classified {
        /// Connection number.
        conn: u64,
        /// What it carries.
        kind: StreamKind,
    },
    /// In-order payload bytes of one direction: those of consecutive segments
    /// are joined, with where each segment ends and when it was captured, so
    /// that [`Session::feed_segments`](rtmpscope_core::session::Session::feed_segments)
    /// times every message by the segment that completed it.
    Data {
        /// Connection number.
        conn: u64,
        /// Which way the bytes went.
        dir: Direction,
        /// The bytes (for RTMPT: the de-tunnelled RTMP bytes).
        bytes: Bytes,
        /// Capture time of the (last) segment, seconds since the Unix epoch.
        time: f64,
        /// The segments joined before the last: where each ends in `bytes`
        /// and its capture time. Empty when the bytes are one segment's.
        earlier: Vec<(u32, f64)>,
    },
    /// Bytes missing from a direction (lost segments, or a packet cut by the snapshot length).
    Gap {
        /// Connection number.
        conn: u64,
        /// Which direction lost bytes.
        dir: Direction,
        /// How many bytes are missing.
        len: u64,
        /// Capture time at which the loss became certain.
        time: f64,
    },
    /// FIN or RST seen in a direction, after all its bytes.
    Closed {
        /// Connection number.
        conn: u64,
        /// The direction that ended.
        dir: Direction,
        /// True for RST, false for FIN.
        reset: bool,
        /// Capture time of the FIN or RST.
        time: f64,
    },
    /// A problem with the capture file itself or with a packet; decoding goes on.
    Warning {
        /// Packet number (1-based, as Wireshark counts), or the last packet's before a file-structure problem (0 before any).
        packet: u64,
        /// Byte offset in the file of the record or block concerned.
        offset: u64,
        /// What is wrong.
        message: String,
    },
}

/// Why a capture cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The input is not a pcap or pcapng file; the text says what it seems to be.
    #[error("not a pcap/pcapng file: {0}")]
    NotACapture(String),
    /// The input ends inside the file header.
    #[error("capture truncated at byte {offset}: {message}")]
    Truncated {
        /// File size, i.e. where it ends.
        offset: u64,
        /// What was being read.
        message: String,
    },
    /// The file header is present but unusable.
    #[error("bad capture file header: {0}")]
    BadHeader(String),
    /// Reading failed.
    #[error("read error after byte {offset}: {source}")]
    Io {
        /// Bytes read successfully before the error.
        offset: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
