//! RTMP messages: type ids, protocol control, User Control events, shared
//! objects and aggregates (RTMP spec §5.4, §6, §7.1).

use std::fmt::Write as _;

use serde::Serialize;

use crate::amf::{self, Node};
use crate::command::{Command, DataMessage};
use crate::error::{hex_preview, DecodeError};
use crate::media::{self, AudioTag, VideoTag};
use crate::reader::Reader;

/// Set Chunk Size.
pub const MSG_SET_CHUNK_SIZE: u8 = 1;
/// Abort Message.
pub const MSG_ABORT: u8 = 2;
/// Acknowledgement.
pub const MSG_ACK: u8 = 3;
/// User Control Message.
pub const MSG_USER_CONTROL: u8 = 4;
/// Window Acknowledgement Size.
pub const MSG_WINDOW_ACK_SIZE: u8 = 5;
/// Set Peer Bandwidth.
pub const MSG_SET_PEER_BANDWIDTH: u8 = 6;
/// Audio.
pub const MSG_AUDIO: u8 = 8;
/// Video.
pub const MSG_VIDEO: u8 = 9;
/// Data message, AMF3.
pub const MSG_DATA_AMF3: u8 = 15;
/// Shared object message, AMF3.
pub const MSG_SHARED_OBJECT_AMF3: u8 = 16;
/// Command message, AMF3.
pub const MSG_COMMAND_AMF3: u8 = 17;
/// Data message, AMF0.
pub const MSG_DATA_AMF0: u8 = 18;
/// Shared object message, AMF0.
pub const MSG_SHARED_OBJECT_AMF0: u8 = 19;
/// Command message, AMF0.
pub const MSG_COMMAND_AMF0: u8 = 20;
/// Aggregate message.
pub const MSG_AGGREGATE: u8 = 22;

/// The spec's name of a message type id.
pub fn type_name(type_id: u8) -> &'static str {
    match type_id {
        MSG_SET_CHUNK_SIZE => "Set Chunk Size",
        MSG_ABORT => "Abort Message",
        MSG_ACK => "Acknowledgement",
        MSG_USER_CONTROL => "User Control Message",
        MSG_WINDOW_ACK_SIZE => "Window Acknowledgement Size",
        MSG_SET_PEER_BANDWIDTH => "Set Peer Bandwidth",
        MSG_AUDIO => "Audio Data",
        MSG_VIDEO => "Video Data",
        MSG_DATA_AMF3 => "AMF3 Data",
        MSG_SHARED_OBJECT_AMF3 => "AMF3 Shared Object",
        MSG_COMMAND_AMF3 => "AMF3 Command",
        MSG_DATA_AMF0 => "AMF0 Data",
        MSG_SHARED_OBJECT_AMF0 => "AMF0 Shared Object",
        MSG_COMMAND_AMF0 => "AMF0 Command",
        MSG_AGGREGATE => "Aggregate",
        _ => "Unknown",
    }
}

/// Set Peer Bandwidth's limit type (§5.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitType {
    /// 0: limit the output bandwidth to the window.
    Hard,
    /// 1: limit to the window or the limit already in effect, whichever is smaller.
    Soft,
    /// 2: hard if the previous limit was hard, else ignore.
    Dynamic,
    /// Any other value.
    Unknown(u8),
}

impl LimitType {
    /// The name shown in summaries.
    pub fn name(self) -> String {
        match self {
            LimitType::Hard => "hard".into(),
            LimitType::Soft => "soft".into(),
            LimitType::Dynamic => "dynamic".into(),
            LimitType::Unknown(x) => format!("limit type {x}"),
        }
    }
}

/// User Control event types (§7.1.7), plus ones real servers send.
pub mod user_control {
    /// Stream Begin.
    pub const STREAM_BEGIN: u16 = 0;
    /// Stream EOF.
    pub const STREAM_EOF: u16 = 1;
    /// Stream Dry.
    pub const STREAM_DRY: u16 = 2;
    /// SetBuffer Length.
    pub const SET_BUFFER_LENGTH: u16 = 3;
    /// StreamIs Recorded.
    pub const STREAM_IS_RECORDED: u16 = 4;
    /// PingRequest.
    pub const PING_REQUEST: u16 = 6;
    /// PingResponse.
    pub const PING_RESPONSE: u16 = 7;
    /// SWF verification request (Flash Media Server extension).
    pub const SWF_VERIFY_REQUEST: u16 = 26;
    /// SWF verification response.
    pub const SWF_VERIFY_RESPONSE: u16 = 27;
    /// Buffer empty (FMS extension).
    pub const BUFFER_EMPTY: u16 = 31;
    /// Buffer ready (FMS extension).
    pub const BUFFER_READY: u16 = 32;
}

/// A User Control event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserControl {
    /// The stream is functional and can be used.
    StreamBegin {
        /// Message stream id.
        stream_id: u32,
    },
    /// Playback of the stream ended.
    StreamEof {
        /// Message stream id.
        stream_id: u32,
    },
    /// No more data on the stream for now.
    StreamDry {
        /// Message stream id.
        stream_id: u32,
    },
    /// The client's buffer length.
    SetBufferLength {
        /// Message stream id.
        stream_id: u32,
        /// Buffer length in milliseconds.
        buffer_ms: u32,
    },
    /// The stream is a recorded one.
    StreamIsRecorded {
        /// Message stream id.
        stream_id: u32,
    },
    /// The server checks that the client is reachable.
    PingRequest {
        /// Server time in ms.
        timestamp: u32,
    },
    /// The answer to a ping.
    PingResponse {
        /// The timestamp from the request.
        timestamp: u32,
    },
    /// SWF verification request.
    SwfVerifyRequest,
    /// SWF verification response.
    SwfVerifyResponse {
        /// The 42-byte answer, as hex.
        data: String,
    },
    /// The server's buffer ran empty.
    BufferEmpty {
        /// Message stream id.
        stream_id: u32,
    },
    /// The server's buffer is ready again.
    BufferReady {
        /// Message stream id.
        stream_id: u32,
    },
    /// An event type this decoder does not know, kept raw.
    Unknown {
        /// Event type.
        event: u16,
        /// Event data, as hex.
        data: String,
    },
}

impl UserControl {
    /// Decodes a User Control message body.
    pub fn parse(b: &[u8]) -> Result<UserControl, DecodeError> {
        use user_control::*;
        let mut r = Reader::new(b);
        let event = r.u16("User Control event type")?;
        Ok(match event {
            STREAM_BEGIN => UserControl::StreamBegin {
                stream_id: r.u32("stream id of Stream Begin")?,
            },
            STREAM_EOF => UserControl::StreamEof {
                stream_id: r.u32("stream id of Stream EOF")?,
            },
            STREAM_DRY => UserControl::StreamDry {
                stream_id: r.u32("stream id of Stream Dry")?,
            },
            SET_BUFFER_LENGTH => UserControl::SetBufferLength {
                stream_id: r.u32("stream id of SetBufferLength")?,
                buffer_ms: r.u32("buffer length of SetBufferLength")?,
            },
            STREAM_IS_RECORDED => UserControl::StreamIsRecorded {
                stream_id: r.u32("stream id of StreamIsRecorded")?,
            },
            PING_REQUEST => UserControl::PingRequest {
                timestamp: r.u32("timestamp of PingRequest")?,
            },
            PING_RESPONSE => UserControl::PingResponse {
                timestamp: r.u32("timestamp of PingResponse")?,
            },
            SWF_VERIFY_REQUEST => UserControl::SwfVerifyRequest,
            SWF_VERIFY_RESPONSE => UserControl::SwfVerifyResponse {
                data: hex(r.rest()),
            },
            BUFFER_EMPTY => UserControl::BufferEmpty {
                stream_id: r.u32("stream id of BufferEmpty")?,
            },
            BUFFER_READY => UserControl::BufferReady {
                stream_id: r.u32("stream id of BufferReady")?,
            },
            _ => UserControl::Unknown {
                event,
                data: hex(r.rest()),
            },
        })
    }

    /// A short description.
    pub fn summary(&self) -> String {
        match self {
            UserControl::StreamBegin { stream_id } => format!("Stream Begin {stream_id}"),
            UserControl::StreamEof { stream_id } => format!("Stream EOF {stream_id}"),
            UserControl::StreamDry { stream_id } => format!("Stream Dry {stream_id}"),
            UserControl::SetBufferLength {
                stream_id,
                buffer_ms,
            } => format!("Set Buffer Length {stream_id} {buffer_ms} ms"),
            UserControl::StreamIsRecorded { stream_id } => {
                format!("Stream Is Recorded {stream_id}")
            }
            UserControl::PingRequest { timestamp } => format!("Ping Request {timestamp}"),
            UserControl::PingResponse { timestamp } => format!("Ping Response {timestamp}"),
            UserControl::SwfVerifyRequest => "SWF Verify Request".into(),
            UserControl::SwfVerifyResponse { .. } => "SWF Verify Response".into(),
            UserControl::BufferEmpty { stream_id } => format!("Buffer Empty {stream_id}"),
            UserControl::BufferReady { stream_id } => format!("Buffer Ready {stream_id}"),
            UserControl::Unknown { event, data } => {
                format!("User Control event {event} ({} bytes)", data.len() / 2)
            }
        }
    }
}

/// Hex of a byte slice, for raw fields kept in JSON.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// Shared object event types (§7.1.3).
pub mod shared_object_event {
    /// Use.
    pub const USE: u8 = 1;
    /// Release.
    pub const RELEASE: u8 = 2;
    /// Request Change.
    pub const REQUEST_CHANGE: u8 = 3;
    /// Change.
    pub const CHANGE: u8 = 4;
    /// Success.
    pub const SUCCESS: u8 = 5;
    /// SendMessage.
    pub const SEND_MESSAGE: u8 = 6;
    /// Status.
    pub const STATUS: u8 = 7;
    /// Clear.
    pub const CLEAR: u8 = 8;
    /// Remove.
    pub const REMOVE: u8 = 9;
    /// Request Remove.
    pub const REQUEST_REMOVE: u8 = 10;
    /// Use Success.
    pub const USE_SUCCESS: u8 = 11;
}

/// The spec's name of a shared object event type.
pub fn shared_object_event_name(t: u8) -> &'static str {
    use shared_object_event::*;
    match t {
        USE => "Use",
        RELEASE => "Release",
        REQUEST_CHANGE => "Request Change",
        CHANGE => "Change",
        SUCCESS => "Success",
        SEND_MESSAGE => "SendMessage",
        STATUS => "Status",
        CLEAR => "Clear",
        REMOVE => "Remove",
        REQUEST_REMOVE => "Request Remove",
        USE_SUCCESS => "Use Success",
        _ => "Unknown",
    }
}

/// One event of a shared object message.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedObjectEvent {
    /// Event type.
    pub event_type: u8,
    /// For Change/Request Change/Success/Remove/Request Remove: the property name.
    pub name: Option<amf::AmfString>,
    /// AMF values carried by the event (a property value, message arguments, …).
    pub values: Vec<Node>,
    /// Offset of the event within the message body.
    pub offset: usize,
    /// Event data length.
    pub length: u32,
}

/// A shared object message (types 16 and 19).
#[derive(Debug, Clone, PartialEq)]
pub struct SharedObject {
    /// Shared object name.
    pub name: amf::AmfString,
    /// Version.
    pub version: u32,
    /// Whether the object is persistent.
    pub persistent: bool,
    /// The events.
    pub events: Vec<SharedObjectEvent>,
}

impl SharedObject {
    /// Decodes a shared object message body (after any AMF3 format byte).
    pub fn parse(b: &[u8], amf3: bool) -> Result<SharedObject, DecodeError> {
        use shared_object_event::*;
        let mut r = Reader::new(b);
        let n = r.u16("shared object name length")? as usize;
        let name = amf::AmfString(r.take(n, "shared object name")?.to_vec());
        let version = r.u32("shared object version")?;
        let flags = r.u32("shared object persistence flag")?;
        r.skip(4, "shared object reserved field")?;
        let mut events = Vec::new();
        while !r.is_empty() {
            let offset = r.pos();
            let event_type = r.u8("shared object event type")?;
            let length = r.u32("shared object event length")?;
            let data_at = r.pos();
            let data = r.take(length as usize, "shared object event data")?;
            let mut name = None;
            let mut values_at = 0;
            if matches!(
                event_type,
                REQUEST_CHANGE | CHANGE | SUCCESS | REMOVE | REQUEST_REMOVE
            ) && data.len() >= 2
            {
                let mut er = Reader::new(data);
                let nl = er.u16("property name length")? as usize;
                let nm = er
                    .take(nl, "property name")
                    .map_err(|e| e.at(data_at as u64))?;
                name = Some(amf::AmfString(nm.to_vec()));
                values_at = er.pos();
            }
            let body = &data[values_at..];
            let (values, err) = if amf3 {
                amf::amf3::decode_all(body)
            } else {
                amf::amf0::decode_all(body)
            };
            if let Some(e) = err {
                return Err(e.at((data_at + values_at) as u64));
            }
            events.push(SharedObjectEvent {
                event_type,
                name,
                values,
                offset,
                length,
            });
        }
        Ok(SharedObject {
            name,
            version,
            persistent: flags != 0,
            events,
        })
    }

    /// A short description.
    pub fn summary(&self) -> String {
        let kinds: Vec<&str> = self
            .events
            .iter()
            .take(4)
            .map(|e| shared_object_event_name(e.event_type))
            .collect();
        format!(
            "Shared object {} v{}: {}{}",
            self.name.display(),
            self.version,
            kinds.join(", "),
            if self.events.len() > 4 { ", …" } else { "" }
        )
    }
}

/// One FLV tag inside an aggregate message (§7.1.6).
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatePart {
    /// FLV tag type (8, 9, 18).
    pub type_id: u8,
    /// Absolute timestamp after rebasing on the aggregate's timestamp.
    pub timestamp: u32,
    /// The tag's own timestamp.
    pub tag_timestamp: u32,
    /// Stream id field of the tag.
    pub stream_id: u32,
    /// Body length.
    pub length: u32,
    /// Offset of the tag header within the aggregate body.
    pub offset: usize,
    /// The decoded body.
    pub body: Box<Body>,
}

/// Splits an aggregate body into its tags. Sub-message timestamps are the
/// aggregate's timestamp plus each tag's offset from the first tag.
pub fn parse_aggregate(b: &[u8], timestamp: u32) -> (Vec<AggregatePart>, Option<DecodeError>) {
    let mut r = Reader::new(b);
    let mut parts = Vec::new();
    let mut first: Option<u32> = None;
    while !r.is_empty() {
        let offset = r.pos();
        let step = (|| -> Result<AggregatePart, DecodeError> {
            let type_id = r.u8("aggregate tag type")?;
            let length = r.u24("aggregate tag data size")?;
            let lo = r.u24("aggregate tag timestamp")?;
            let hi = r.u8("aggregate tag timestamp extension")?;
            let tag_ts = ((hi as u32) << 24) | lo;
            let stream_id = r.u24("aggregate tag stream id")?;
            let data = r.take(length as usize, "aggregate tag data")?;
            let back = r.u32("aggregate back pointer")?;
            if back != length + 11 {
                return Err(DecodeError::new(
                    r.pos() - 4,
                    format!(
                        "back pointer {} (tag header 11 + data {length})",
                        length + 11
                    ),
                    format!("{back}"),
                ));
            }
            let base = *first.get_or_insert(tag_ts);
            let ts = timestamp.wrapping_add(tag_ts.wrapping_sub(base));
            let (body, _) = Body::decode(type_id, data, data.len() as u32, ts);
            Ok(AggregatePart {
                type_id,
                timestamp: ts,
                tag_timestamp: tag_ts,
                stream_id,
                length,
                offset,
                body: Box::new(body),
            })
        })();
        match step {
            Ok(p) => parts.push(p),
            Err(e) => return (parts, Some(e)),
        }
    }
    (parts, None)
}

/// A message body, decoded according to its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Set Chunk Size (the value with the reserved top bit cleared).
    SetChunkSize(u32),
    /// Abort Message: the chunk stream whose partial message is dropped.
    Abort(u32),
    /// Acknowledgement: bytes received so far.
    Ack(u32),
    /// User Control event.
    UserControl(UserControl),
    /// Window Acknowledgement Size.
    WindowAckSize(u32),
    /// Set Peer Bandwidth.
    SetPeerBandwidth {
        /// Window size.
        size: u32,
        /// Limit type.
        limit: LimitType,
    },
    /// Audio tag header.
    Audio(AudioTag),
    /// Video tag header.
    Video(VideoTag),
    /// Data message (@setDataFrame, onMetaData, …).
    Data(DataMessage),
    /// Shared object message.
    SharedObject(SharedObject),
    /// Command (boxed: commands are rare and large).
    Command(Box<Command>),
    /// Aggregate message, split into its tags.
    Aggregate(Vec<AggregatePart>),
    /// A type this decoder does not know, or a body that could not be decoded.
    Raw,
}

impl Body {
    /// What [`Body::decode`] gives for the audio and video headers nearly
    /// every message has (legacy formats, AAC raw, H.264/HEVC coded frames),
    /// decoded by code small enough to inline where the body is stored;
    /// `None` for every other message. [`Session`](crate::session::Session)
    /// tries it before `Body::decode`.
    #[inline(always)]
    pub fn decode_common(type_id: u8, data: &[u8], full_len: u32) -> Option<Body> {
        match type_id {
            MSG_AUDIO => media::audio::parse_common_audio(data).map(Body::Audio),
            MSG_VIDEO => media::video::parse_common_video(data, full_len as usize).map(Body::Video),
            _ => None,
        }
    }

    /// Decodes a body. `data` is the whole payload, except for audio and video
    /// where it may be a prefix of `full_len` bytes. A decoding error is
    /// returned beside whatever could be decoded.
    pub fn decode(
        type_id: u8,
        data: &[u8],
        full_len: u32,
        timestamp: u32,
    ) -> (Body, Option<DecodeError>) {
        let u32_body = |what: &str| -> Result<u32, DecodeError> {
            let mut r = Reader::new(data);
            r.u32(what)
        };
        let res: Result<Body, DecodeError> = match type_id {
            MSG_SET_CHUNK_SIZE => {
                u32_body("chunk size").map(|v| Body::SetChunkSize(v & 0x7FFF_FFFF))
            }
            MSG_ABORT => u32_body("chunk stream id of Abort").map(Body::Abort),
            MSG_ACK => u32_body("sequence number of Acknowledgement").map(Body::Ack),
            MSG_WINDOW_ACK_SIZE => u32_body("window size").map(Body::WindowAckSize),
            MSG_SET_PEER_BANDWIDTH => {
                let mut r = Reader::new(data);
                (|| {
                    let size = r.u32("window size of Set Peer Bandwidth")?;
                    let limit = match r.u8("limit type of Set Peer Bandwidth")? {
                        0 => LimitType::Hard,
                        1 => LimitType::Soft,
                        2 => LimitType::Dynamic,
                        x => LimitType::Unknown(x),
                    };
                    Ok(Body::SetPeerBandwidth { size, limit })
                })()
            }
            MSG_USER_CONTROL => UserControl::parse(data).map(Body::UserControl),
            MSG_AUDIO => media::parse_audio(data, full_len as usize).map(Body::Audio),
            MSG_VIDEO => media::parse_video(data, full_len as usize).map(Body::Video),
            MSG_COMMAND_AMF0 | MSG_COMMAND_AMF3 => {
                let (skip, what) = amf3_format_byte(type_id == MSG_COMMAND_AMF3, data);
                if let Some(e) = what {
                    return (Body::Raw, Some(e));
                }
                let (c, err) = Command::decode(&data[skip..], skip);
                return match c {
                    Some(c) => (Body::Command(Box::new(c)), err),
                    None => (Body::Raw, err),
                };
            }
            MSG_DATA_AMF0 | MSG_DATA_AMF3 => {
                let (skip, what) = amf3_format_byte(type_id == MSG_DATA_AMF3, data);
                if let Some(e) = what {
                    return (Body::Raw, Some(e));
                }
                let (d, err) = DataMessage::decode(&data[skip..], skip);
                return (Body::Data(d), err);
            }
            MSG_SHARED_OBJECT_AMF0 | MSG_SHARED_OBJECT_AMF3 => {
                let amf3 = type_id == MSG_SHARED_OBJECT_AMF3;
                // Some AMF3 senders prefix a format byte as in type 17; a zero
                // byte can also start a real name length, so the byte is only
                // skipped when the body does not parse without skipping it.
                let r = SharedObject::parse(data, amf3);
                match r {
                    Err(_) if amf3 && data.first() == Some(&0) => {
                        SharedObject::parse(&data[1..], amf3).map_err(|e| e.at(1))
                    }
                    other => other,
                }
                .map(Body::SharedObject)
            }
            MSG_AGGREGATE => {
                let (parts, err) = parse_aggregate(data, timestamp);
                return (Body::Aggregate(parts), err);
            }
            _ => Ok(Body::Raw),
        };
        match res {
            Ok(b) => (b, None),
            Err(e) => (Body::Raw, Some(e)),
        }
    }

    /// A one-line description.
    pub fn summary(&self, type_id: u8, length: u32) -> String {
        let mut s = String::new();
        self.write_summary(&mut s, type_id, length);
        s
    }

    /// Appends [`Body::summary`] to `s`; audio and video, the frequent
    /// ones, are written without allocating.
    pub fn write_summary(&self, s: &mut String, type_id: u8, length: u32) {
        let media = |s: &mut String, kind: &str, write: &dyn Fn(&mut String)| {
            s.push_str(kind);
            write(s);
            s.push_str(" (");
            write_human_bytes(s, length);
            s.push(')');
        };
        match self {
            Body::Audio(a) => return media(s, "Audio ", &|s| a.write_summary(s)),
            Body::Video(v) => return media(s, "Video ", &|s| v.write_summary(s)),
            _ => {}
        }
        let text = match self {
            Body::SetChunkSize(v) => format!("Set Chunk Size {v}"),
            Body::Abort(c) => format!("Abort Message (chunk stream {c})"),
            Body::Ack(v) => format!("Acknowledgement {v}"),
            Body::UserControl(u) => u.summary(),
            Body::WindowAckSize(v) => format!("Window Acknowledgement Size {v}"),
            Body::SetPeerBandwidth { size, limit } => {
                format!("Set Peer Bandwidth {size} {}", limit.name())
            }
            Body::Audio(_) | Body::Video(_) => String::new(),
            Body::Data(d) => d.summary(),
            Body::SharedObject(s) => s.summary(),
            Body::Command(c) => c.summary(),
            Body::Aggregate(parts) => format!(
                "Aggregate of {} tags ({})",
                parts.len(),
                human_bytes(length)
            ),
            Body::Raw => format!("{} ({})", type_name(type_id), human_bytes(length)),
        };
        s.push_str(&text);
    }
}

/// `18 KB`, `760 B`, `1.2 MB`.
pub fn human_bytes(n: u32) -> String {
    let mut s = String::new();
    write_human_bytes(&mut s, n);
    s
}

/// Appends [`human_bytes`] to `s`.
pub fn write_human_bytes(s: &mut String, n: u32) {
    // Every media message's summary ends with this: no formatting machinery
    // for the two common cases.
    match n {
        0..=999 => {
            crate::json::push_u64(s, n.into());
            s.push_str(" B");
        }
        1000..=999_999 => {
            crate::json::push_u64(s, ((n + 500) / 1000).into());
            s.push_str(" KB");
        }
        _ => {
            let _ = write!(s, "{:.1} MB", n as f64 / 1e6);
        }
    }
}

/// Type 17 and 15 bodies start with a format byte (§7.1.1, §7.1.2) that is 0
/// when AMF0 encoding follows. Returns how many bytes to skip.
fn amf3_format_byte(amf3: bool, data: &[u8]) -> (usize, Option<DecodeError>) {
    if !amf3 {
        return (0, None);
    }
    match data.first() {
        Some(0) => (1, None),
        // Some senders omit it and start with an AMF0 string marker directly.
        Some(2) => (0, None),
        Some(_) => (
            0,
            Some(DecodeError::new(
                0,
                "AMF3 message format byte 00",
                hex_preview(data),
            )),
        ),
        None => (
            0,
            Some(DecodeError::truncated(0, "AMF3 message format byte", 1)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_control_stream_begin_reads_the_stream_id() {
        let u = UserControl::parse(&[0, 0, 0, 0, 0, 1]).unwrap();
        assert_eq!(u, UserControl::StreamBegin { stream_id: 1 });
    }

    #[test]
    fn user_control_set_buffer_length_reads_both_fields() {
        let u = UserControl::parse(&[0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8]).unwrap();
        assert_eq!(
            u,
            UserControl::SetBufferLength {
                stream_id: 1,
                buffer_ms: 3000
            }
        );
    }

    #[test]
    fn user_control_unknown_event_is_kept_raw() {
        let u = UserControl::parse(&[0, 99, 1, 2]).unwrap();
        assert_eq!(
            u,
            UserControl::Unknown {
                event: 99,
                data: "0102".into()
            }
        );
    }

    #[test]
    fn user_control_short_body_names_the_field() {
        let e = UserControl::parse(&[0, 6, 0]).unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(e.expected.contains("PingRequest"));
    }

    #[test]
    fn set_peer_bandwidth_decodes_limit_type() {
        let (b, e) = Body::decode(MSG_SET_PEER_BANDWIDTH, &[0, 0x4c, 0x4b, 0x40, 2], 5, 0);
        assert!(e.is_none());
        assert_eq!(
            b,
            Body::SetPeerBandwidth {
                size: 5_000_000,
                limit: LimitType::Dynamic
            }
        );
        assert_eq!(b.summary(6, 5), "Set Peer Bandwidth 5000000 dynamic");
    }

    #[test]
    fn set_chunk_size_body_clears_the_top_bit() {
        let (b, _) = Body::decode(MSG_SET_CHUNK_SIZE, &[0x80, 0, 0x10, 0], 4, 0);
        assert_eq!(b, Body::SetChunkSize(4096));
    }

    #[test]
    fn short_ack_is_an_error_with_offset() {
        let (b, e) = Body::decode(MSG_ACK, &[0, 1], 2, 0);
        assert_eq!(b, Body::Raw);
        assert_eq!(e.unwrap().offset, 0);
    }

    #[test]
    fn aggregate_splits_tags_and_rebases_timestamps() {
        // Two audio tags at tag times 1000 and 1023 inside an aggregate at 5000.
        let mut agg = Vec::new();
        for (ts, byte) in [(1000u32, 0xafu8), (1023, 0xaf)] {
            agg.push(8);
            agg.extend(&2u32.to_be_bytes()[1..]);
            agg.extend(&ts.to_be_bytes()[1..]);
            agg.push(0);
            agg.extend([0, 0, 0]);
            agg.extend([byte, 1]);
            agg.extend(13u32.to_be_bytes());
        }
        let (parts, err) = parse_aggregate(&agg, 5000);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].timestamp, 5000);
        assert_eq!(parts[1].timestamp, 5023);
        assert_eq!(parts[1].offset, 17);
    }

    #[test]
    fn aggregate_with_a_wrong_back_pointer_reports_its_offset() {
        let mut agg = vec![8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xaf];
        agg.extend(99u32.to_be_bytes());
        let (parts, err) = parse_aggregate(&agg, 0);
        assert!(parts.is_empty());
        assert_eq!(err.unwrap().offset, 12);
    }

    #[test]
    fn shared_object_change_event_names_the_property() {
        let mut b = Vec::new();
        b.extend([0, 4]);
        b.extend(b"chat");
        b.extend(1u32.to_be_bytes());
        b.extend(0u32.to_be_bytes());
        b.extend(0u32.to_be_bytes());
        // Change event: name "msg", AMF0 string "hi".
        let mut ev = vec![0, 3];
        ev.extend(b"msg");
        ev.extend([2, 0, 2]);
        ev.extend(b"hi");
        b.push(shared_object_event::CHANGE);
        b.extend((ev.len() as u32).to_be_bytes());
        b.extend(&ev);
        let so = SharedObject::parse(&b, false).unwrap();
        assert_eq!(so.name.as_bytes(), b"chat");
        assert_eq!(so.events.len(), 1);
        assert_eq!(so.events[0].name.as_ref().unwrap().as_bytes(), b"msg");
        assert_eq!(so.events[0].values.len(), 1);
    }

    #[test]
    fn unknown_type_is_kept_raw() {
        let (b, e) = Body::decode(42, &[1, 2, 3], 3, 0);
        assert_eq!(b, Body::Raw);
        assert!(e.is_none());
        assert_eq!(b.summary(42, 3), "Unknown (3 B)");
    }
}
