//! The messages the server sends, written as chunks by the core's `ChunkEncoder`.
//!
//! Chunk stream ids follow common server practice: 2 for protocol control
//! and User Control (required by §5.4 and §6.2), 3 for NetConnection
//! commands, 5 for stream commands and data, 6 for audio, 7 for video.

use rtmpscope_core::amf::{amf0, Value};
use rtmpscope_core::chunk::ChunkEncoder;
use rtmpscope_core::message::{
    user_control, MSG_ACK, MSG_AUDIO, MSG_COMMAND_AMF0, MSG_DATA_AMF0, MSG_SET_CHUNK_SIZE,
    MSG_SET_PEER_BANDWIDTH, MSG_USER_CONTROL, MSG_VIDEO, MSG_WINDOW_ACK_SIZE,
};

/// Chunk stream for protocol control messages (§5.4: chunk stream 2, message stream 0).
pub const CSID_CONTROL: u32 = 2;
/// Chunk stream for NetConnection commands.
pub const CSID_COMMAND: u32 = 3;
/// Chunk stream for NetStream commands and data messages.
pub const CSID_STREAM: u32 = 5;
/// Chunk stream for audio.
pub const CSID_AUDIO: u32 = 6;
/// Chunk stream for video.
pub const CSID_VIDEO: u32 = 7;

/// Set Peer Bandwidth limit type 2, Dynamic (§5.4.5).
const LIMIT_DYNAMIC: u8 = 2;

/// Bytes to the client, chunked as they are written.
#[derive(Debug)]
pub struct Outgoing {
    enc: ChunkEncoder,
    /// Chunks not yet written to the socket.
    pub out: Vec<u8>,
}

impl Outgoing {
    /// Starts with the spec's initial chunk size of 128 (§5.4.1).
    pub fn new() -> Self {
        Outgoing {
            enc: ChunkEncoder::new(rtmpscope_core::chunk::DEFAULT_CHUNK_SIZE),
            out: Vec::new(),
        }
    }

    fn control(&mut self, type_id: u8, payload: &[u8]) {
        self.enc
            .write(&mut self.out, CSID_CONTROL, type_id, 0, 0, payload);
    }

    /// Set Chunk Size (§5.4.1); later messages use the new size.
    pub fn set_chunk_size(&mut self, size: u32) {
        // The top bit is reserved and must be zero.
        let size = size & 0x7FFF_FFFF;
        self.control(MSG_SET_CHUNK_SIZE, &size.to_be_bytes());
        self.enc.set_chunk_size(size);
    }

    /// Window Acknowledgement Size (§5.4.4).
    pub fn window_ack_size(&mut self, size: u32) {
        self.control(MSG_WINDOW_ACK_SIZE, &size.to_be_bytes());
    }

    /// Set Peer Bandwidth with the Dynamic limit type (§5.4.5).
    pub fn set_peer_bandwidth(&mut self, size: u32) {
        let mut p = size.to_be_bytes().to_vec();
        p.push(LIMIT_DYNAMIC);
        self.control(MSG_SET_PEER_BANDWIDTH, &p);
    }

    /// Acknowledgement of `received` bytes (§5.4.3; the field wraps at 2^32).
    pub fn ack(&mut self, received: u64) {
        self.control(MSG_ACK, &(received as u32).to_be_bytes());
    }

    fn user_control(&mut self, event: u16, data: u32) {
        let mut p = event.to_be_bytes().to_vec();
        p.extend_from_slice(&data.to_be_bytes());
        self.control(MSG_USER_CONTROL, &p);
    }

    /// User Control StreamBegin (§7.1.7).
    pub fn stream_begin(&mut self, stream_id: u32) {
        self.user_control(user_control::STREAM_BEGIN, stream_id);
    }

    /// User Control StreamEOF (§7.1.7).
    pub fn stream_eof(&mut self, stream_id: u32) {
        self.user_control(user_control::STREAM_EOF, stream_id);
    }

    /// User Control PingResponse echoing a PingRequest's timestamp (§7.1.7).
    pub fn ping_response(&mut self, timestamp: u32) {
        self.user_control(user_control::PING_RESPONSE, timestamp);
    }

    fn amf_message(&mut self, csid: u32, type_id: u8, stream_id: u32, values: &[Value]) {
        let mut payload = Vec::new();
        // Only over-long strings fail to encode, and the server's values are short;
        // a value that still fails is not sent rather than sent half-written.
        if amf0::encode_all(values, &mut payload).is_ok() {
            self.enc
                .write(&mut self.out, csid, type_id, stream_id, 0, &payload);
        }
    }

    /// An AMF0 command: name, transaction id, then `args` (§7.1.1).
    pub fn command(&mut self, stream_id: u32, name: &str, transaction_id: f64, args: Vec<Value>) {
        let mut values = vec![Value::string(name), Value::Number(transaction_id)];
        values.extend(args);
        let csid = if stream_id == 0 {
            CSID_COMMAND
        } else {
            CSID_STREAM
        };
        self.amf_message(csid, MSG_COMMAND_AMF0, stream_id, &values);
    }

    /// `onStatus` with the info object servers send (§7.2.2).
    pub fn on_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        self.command(
            stream_id,
            "onStatus",
            0.0,
            vec![Value::Null, status_object(level, code, description)],
        );
    }

    /// An AMF0 data message.
    pub fn data(&mut self, stream_id: u32, values: &[Value]) {
        self.amf_message(CSID_STREAM, MSG_DATA_AMF0, stream_id, values);
    }

    /// A message forwarded from a publisher, on the chunk stream of its type.
    pub fn media(&mut self, stream_id: u32, type_id: u8, timestamp: u32, payload: &[u8]) {
        let csid = match type_id {
            MSG_AUDIO => CSID_AUDIO,
            MSG_VIDEO => CSID_VIDEO,
            _ => CSID_STREAM,
        };
        self.enc
            .write(&mut self.out, csid, type_id, stream_id, timestamp, payload);
    }
}

/// `{level, code, description}`, the info object of §7.2.
pub fn status_object(level: &str, code: &str, description: &str) -> Value {
    Value::object([
        ("level", Value::string(level)),
        ("code", Value::string(code)),
        ("description", Value::string(description)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rtmpscope_core::chunk::{ChunkDecoder, ChunkEvent};
    use rtmpscope_core::message::Body;

    fn decode(out: &[u8]) -> Vec<(u32, u8, u32, Body)> {
        let mut d = ChunkDecoder::new(0);
        d.push(Bytes::copy_from_slice(out));
        let mut v = Vec::new();
        while let Some(ev) = d.next_event() {
            match ev {
                ChunkEvent::Message(m) => {
                    let p = m.payload.to_vec();
                    let (b, err) = Body::decode(m.type_id, &p, m.length, m.timestamp);
                    assert!(err.is_none(), "{err:?}");
                    v.push((m.csid, m.type_id, m.stream_id, b));
                }
                ChunkEvent::Error(e) => panic!("{e:?}"),
                ChunkEvent::Note(_) => {}
            }
        }
        v
    }

    #[test]
    fn set_chunk_size_applies_to_the_next_message() {
        let mut o = Outgoing::new();
        o.set_chunk_size(300);
        o.media(1, MSG_VIDEO, 40, &[0x17; 1000]);
        let msgs = decode(&o.out);
        assert_eq!(msgs[0].3, Body::SetChunkSize(300));
        // 1000 bytes in chunks of 300: one fmt 0 header and three type-3 headers.
        assert_eq!(o.out.len(), 16 + 12 + 1000 + 3);
    }

    #[test]
    fn on_status_decodes_with_its_code() {
        let mut o = Outgoing::new();
        o.on_status(1, "error", "NetStream.Publish.BadName", "no");
        let msgs = decode(&o.out);
        let (csid, type_id, sid, Body::Command(c)) = &msgs[0] else {
            panic!("{msgs:?}");
        };
        assert_eq!((*csid, *type_id, *sid), (CSID_STREAM, MSG_COMMAND_AMF0, 1));
        let st = c.status().unwrap();
        assert_eq!(st.code.as_deref(), Some("NetStream.Publish.BadName"));
        assert_eq!(st.level.as_deref(), Some("error"));
    }

    #[test]
    fn control_messages_go_on_chunk_stream_2() {
        let mut o = Outgoing::new();
        o.window_ack_size(2_500_000);
        o.set_peer_bandwidth(2_500_000);
        o.ack(5000);
        o.stream_begin(1);
        for (csid, _, sid, _) in decode(&o.out) {
            assert_eq!((csid, sid), (2, 0));
        }
    }
}
