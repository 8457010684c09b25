//! One client connection after the handshake, sans-IO: the client's bytes go
//! in, the server's chunks come out in [`ServerSession::io`].
//!
//! The client's chunk stream is decoded by the core's `ChunkDecoder`; the
//! commands are answered as real servers (FMS, nginx-rtmp, SRS) answer them
//! (RTMP spec §7.2), and Acknowledgements follow the window the client
//! announced (§5.4.3, §5.4.4).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use rtmpscope_core::amf::{amf0, Value};
use rtmpscope_core::chunk::{ChunkDecoder, ChunkEvent, Limits, RawMessage};
use rtmpscope_core::command::{Command, CommandInfo};
use rtmpscope_core::message::{
    Body, UserControl, MSG_AGGREGATE, MSG_AUDIO, MSG_DATA_AMF0, MSG_DATA_AMF3, MSG_VIDEO,
};

use super::config::{ServerConfig, ServerEvent};
use super::registry::{Media, PlayItem, PlayerTx, Refusal, Registry};
use super::reply::{status_object, Outgoing};

/// The server version string of connect's `_result` (the one FMS 3 sent;
/// some clients look at it).
const FMS_VERSION: &str = "FMS/3,0,1,123";
/// connect's `_result` capabilities (the value FMS and nginx-rtmp send).
const CAPABILITIES: f64 = 31.0;
/// Chunk streams a client may use at once (real clients use fewer than 10).
const MAX_CHUNK_STREAMS: usize = 64;

/// What a message stream (from createStream) is used for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StreamUse {
    Idle,
    Publishing(String),
    Playing(String),
}

/// Why the server closes a connection, once the pending bytes are written.
pub type CloseReason = String;

/// The protocol state of one connection.
#[derive(Debug)]
pub struct ServerSession {
    cfg: Arc<ServerConfig>,
    registry: Arc<Registry>,
    conn: u64,
    peer: SocketAddr,
    player: PlayerTx,
    decoder: ChunkDecoder,
    /// Chunks to write to the client.
    pub io: Outgoing,
    received: u64,
    acked: u64,
    /// The window the client asked for with Window Acknowledgement Size.
    client_window: Option<u32>,
    app: Option<String>,
    next_stream_id: u32,
    streams: HashMap<u32, StreamUse>,
}

/// Strips a query string (`test?key=…`) and surrounding slashes from a name.
fn bare(name: &str) -> &str {
    name.split('?').next().unwrap_or("").trim_matches('/')
}

impl ServerSession {
    /// A session whose client already sent `received` bytes (the handshake).
    pub fn new(
        cfg: Arc<ServerConfig>,
        registry: Arc<Registry>,
        conn: u64,
        peer: SocketAddr,
        player: PlayerTx,
        received: u64,
    ) -> Self {
        let limits = Limits {
            max_buffered: cfg.max_buffered,
            max_chunk_streams: MAX_CHUNK_STREAMS,
            ..Limits::default()
        };
        ServerSession {
            cfg,
            registry,
            conn,
            peer,
            player,
            decoder: ChunkDecoder::with_limits(received, limits),
            io: Outgoing::new(),
            received,
            acked: 0,
            client_window: None,
            app: None,
            next_stream_id: 1,
            streams: HashMap::new(),
        }
    }

    /// Decodes the client's bytes and answers them; `Err` closes the connection.
    pub fn on_bytes(&mut self, data: Bytes) -> Result<(), CloseReason> {
        self.received += data.len() as u64;
        self.decoder.push(data);
        while let Some(ev) = self.decoder.next_event() {
            match ev {
                ChunkEvent::Message(m) => {
                    self.on_message(m)?;
                    // Checked per message, so that a read holding several
                    // windows gets one acknowledgement per window.
                    self.maybe_ack(self.decoder.offset());
                }
                ChunkEvent::Error(e) => {
                    return Err(format!(
                        "chunk stream error at byte {}: expected {}, found {}",
                        e.offset, e.expected, e.found
                    ))
                }
                ChunkEvent::Note(_) => {}
            }
        }
        self.maybe_ack(self.received);
        Ok(())
    }

    /// Acknowledges once a window's worth of bytes arrived since the last
    /// acknowledgement (§5.4.3). Without a window from the client, the one the
    /// server announced is used, so that acknowledgements can be seen at all.
    /// `received` is the count to acknowledge: bytes decoded so far, or all received.
    fn maybe_ack(&mut self, received: u64) {
        if self.cfg.stall_acks {
            return;
        }
        let window = self.client_window.unwrap_or(self.cfg.window_ack_size);
        if window > 0 && received.saturating_sub(self.acked) >= u64::from(window) {
            self.io.ack(received);
            self.acked = received;
        }
    }

    fn on_message(&mut self, m: RawMessage) -> Result<(), CloseReason> {
        match m.type_id {
            MSG_AUDIO | MSG_VIDEO | MSG_DATA_AMF0 | MSG_DATA_AMF3 | MSG_AGGREGATE => {
                self.on_media(&m);
                return Ok(());
            }
            _ => {}
        }
        let payload = m.payload.contiguous();
        match Body::decode(m.type_id, &payload, m.length, m.timestamp).0 {
            Body::WindowAckSize(w) => self.client_window = Some(w),
            Body::UserControl(UserControl::PingRequest { timestamp }) => {
                self.io.ping_response(timestamp)
            }
            Body::Command(c) => self.on_command(m.stream_id, &c)?,
            // Set Chunk Size and Abort are applied by the decoder; Acknowledgements
            // and Set Peer Bandwidth from a client need no answer.
            _ => {}
        }
        Ok(())
    }

    fn on_media(&mut self, m: &RawMessage) {
        let Some(StreamUse::Publishing(key)) = self.streams.get(&m.stream_id) else {
            return;
        };
        // Copied out of the read buffer: a cached message must not pin a whole
        // socket read, so the GOP cap counts what is really held.
        let mut payload = Bytes::copy_from_slice(&m.payload.contiguous());
        let mut is_metadata = false;
        if m.type_id == MSG_DATA_AMF0 {
            // `@setDataFrame` tells the server to keep what follows for players,
            // who get it without that first value (what FMS and nginx-rtmp send).
            let (values, _) = amf0::decode_all(&payload);
            let name = |i: usize| {
                values
                    .get(i)
                    .and_then(|n| n.value.as_str())
                    .map(|s| s.as_bytes().to_vec())
            };
            if name(0).as_deref() == Some(b"@setDataFrame") {
                if let Some(first) = values.first() {
                    let skip = (first.span.end as usize).min(payload.len());
                    payload = payload.slice(skip..);
                }
                is_metadata = name(1).as_deref() == Some(b"onMetaData");
            } else {
                is_metadata = name(0).as_deref() == Some(b"onMetaData");
            }
        }
        let media = Media {
            type_id: m.type_id,
            timestamp: m.timestamp,
            payload,
        };
        self.registry.media(key, self.conn, media, is_metadata);
    }

    fn on_command(&mut self, stream_id: u32, c: &Command) -> Result<(), CloseReason> {
        self.cfg.emit(ServerEvent::Command {
            peer: self.peer,
            name: c.name.clone(),
            stream_id,
        });
        let tid = c.transaction_id.unwrap_or(0.0);
        match &c.info {
            CommandInfo::Connect(info) => {
                if self.app.is_some() {
                    return Err("a second connect on the same connection".into());
                }
                if let Some(desc) = &self.cfg.reject_connect {
                    let code = "NetConnection.Connect.Rejected";
                    self.io.command(
                        0,
                        "_error",
                        tid,
                        vec![Value::Null, status_object("error", code, desc)],
                    );
                    self.reject(code);
                    return Err(format!("fault: connect rejected ({desc})"));
                }
                self.app = Some(bare(info.app.as_deref().unwrap_or("")).to_string());
                // The order nginx-rtmp and SRS use: window, bandwidth, chunk size, result.
                self.io.window_ack_size(self.cfg.window_ack_size);
                self.io.set_peer_bandwidth(self.cfg.window_ack_size);
                self.io.set_chunk_size(self.cfg.effective_chunk_size());
                let mut status = status_object(
                    "status",
                    "NetConnection.Connect.Success",
                    "Connection succeeded.",
                );
                if let Value::Object { props, .. } = &mut status {
                    let enc = info.object_encoding.unwrap_or(0.0);
                    props.push(rtmpscope_core::amf::Property::new(
                        "objectEncoding",
                        Value::Number(enc),
                    ));
                }
                let props = Value::object([
                    ("fmsVer", Value::string(FMS_VERSION)),
                    ("capabilities", Value::Number(CAPABILITIES)),
                ]);
                self.io.command(0, "_result", tid, vec![props, status]);
            }
            _ if self.app.is_none() => {
                return Err(format!("{} before connect", c.name));
            }
            CommandInfo::CreateStream => {
                if self.streams.len() >= self.cfg.max_streams_per_connection as usize {
                    let st = status_object(
                        "error",
                        "NetConnection.Call.Failed",
                        "Too many streams on this connection.",
                    );
                    self.io.command(0, "_error", tid, vec![Value::Null, st]);
                } else {
                    let id = self.next_stream_id;
                    self.next_stream_id = self.next_stream_id.saturating_add(1);
                    self.streams.insert(id, StreamUse::Idle);
                    self.io.command(
                        0,
                        "_result",
                        tid,
                        vec![Value::Null, Value::Number(f64::from(id))],
                    );
                }
            }
            CommandInfo::ReleaseStream { .. } => {
                self.io
                    .command(0, "_result", tid, vec![Value::Null, Value::Undefined]);
            }
            CommandInfo::FcPublish { name } => {
                let desc = format!("FCPublish to stream {}.", name.as_deref().unwrap_or(""));
                self.io.command(
                    0,
                    "onFCPublish",
                    0.0,
                    vec![
                        Value::Null,
                        status_object("status", "NetStream.Publish.Start", &desc),
                    ],
                );
            }
            CommandInfo::FcUnpublish { name } => {
                let desc = format!("FCUnpublish to stream {}.", name.as_deref().unwrap_or(""));
                self.io.command(
                    0,
                    "onFCUnpublish",
                    0.0,
                    vec![
                        Value::Null,
                        status_object("status", "NetStream.Unpublish.Success", &desc),
                    ],
                );
                self.io
                    .command(0, "_result", tid, vec![Value::Null, Value::Undefined]);
            }
            CommandInfo::Publish { name, .. } => self.publish(stream_id, name.as_deref()),
            CommandInfo::Play { name, .. } => self.play(stream_id, name.as_deref()),
            CommandInfo::DeleteStream { stream_id: id } => {
                // The stream id is an argument; deleteStream itself comes on stream 0 (§7.2.2.3).
                if let Some(id) = id.filter(|v| *v >= 0.0 && *v <= f64::from(u32::MAX)) {
                    self.end_use(id as u32);
                    self.streams.remove(&(id as u32));
                }
            }
            CommandInfo::CloseStream => {
                self.end_use(stream_id);
                if let Some(u) = self.streams.get_mut(&stream_id) {
                    *u = StreamUse::Idle;
                }
            }
            CommandInfo::GetStreamLength { .. } => {
                // A live stream has no length; 0 is what servers answer.
                self.io
                    .command(0, "_result", tid, vec![Value::Null, Value::Number(0.0)]);
            }
            // `_checkbw` (sent after onBWDone, which this server never sends),
            // pause, seek, receiveAudio/Video and unknown commands need no
            // answer for publishing or live playing.
            _ => {}
        }
        Ok(())
    }

    fn reject(&self, code: &str) {
        self.cfg.emit(ServerEvent::Rejected {
            peer: self.peer,
            code: code.to_string(),
        });
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{}", self.app.as_deref().unwrap_or(""), bare(name))
    }

    fn publish(&mut self, stream_id: u32, name: Option<&str>) {
        let fail = |s: &mut Self, code: &str, desc: &str| {
            s.io.on_status(stream_id, "error", code, desc);
            s.reject(code);
        };
        if !matches!(self.streams.get(&stream_id), Some(StreamUse::Idle)) {
            let desc = format!("Stream {stream_id} was not created or is in use.");
            return fail(self, "NetStream.Publish.BadName", &desc);
        }
        if let Some(r) = &self.cfg.reject_publish {
            let (code, desc) = (r.code.code(), r.description.clone());
            return fail(self, code, &desc);
        }
        let name = bare(name.unwrap_or(""));
        if name.is_empty() {
            return fail(self, "NetStream.Publish.BadName", "No stream name.");
        }
        let key = self.key(name);
        match self.registry.publish(&key, self.conn) {
            Ok(()) => {
                self.streams
                    .insert(stream_id, StreamUse::Publishing(key.clone()));
                self.io.stream_begin(stream_id);
                let desc = format!("{name} is now published.");
                self.io
                    .on_status(stream_id, "status", "NetStream.Publish.Start", &desc);
                self.cfg.emit(ServerEvent::Publishing {
                    peer: self.peer,
                    stream: key,
                });
            }
            Err(Refusal::InUse) => fail(
                self,
                "NetStream.Publish.BadName",
                &format!("{name} is already being published."),
            ),
            Err(_) => fail(
                self,
                "NetStream.Publish.Failed",
                "Too many streams on this server.",
            ),
        }
    }

    fn play(&mut self, stream_id: u32, name: Option<&str>) {
        let name = bare(name.unwrap_or("")).to_string();
        if !matches!(self.streams.get(&stream_id), Some(StreamUse::Idle)) || name.is_empty() {
            let desc = format!("Stream {stream_id} was not created, is in use, or has no name.");
            self.io
                .on_status(stream_id, "error", "NetStream.Play.Failed", &desc);
            return;
        }
        let key = self.key(&name);
        match self
            .registry
            .play(&key, self.conn, stream_id, self.player.clone())
        {
            Ok((_, first)) => {
                self.streams
                    .insert(stream_id, StreamUse::Playing(key.clone()));
                // The sequence nginx-rtmp and FMS send before media (§7.2.2.1).
                self.io.stream_begin(stream_id);
                self.io.on_status(
                    stream_id,
                    "status",
                    "NetStream.Play.Reset",
                    &format!("Playing and resetting {name}."),
                );
                self.io.on_status(
                    stream_id,
                    "status",
                    "NetStream.Play.Start",
                    &format!("Started playing {name}."),
                );
                self.io.data(
                    stream_id,
                    &[
                        Value::string("|RtmpSampleAccess"),
                        Value::Boolean(false),
                        Value::Boolean(false),
                    ],
                );
                for m in first {
                    self.io.media(stream_id, m.type_id, m.timestamp, &m.payload);
                }
                self.cfg.emit(ServerEvent::Playing {
                    peer: self.peer,
                    stream: key,
                });
            }
            Err(_) => self.io.on_status(
                stream_id,
                "error",
                "NetStream.Play.Failed",
                "Too many players or streams on this server.",
            ),
        }
    }

    /// Ends publishing or playing on a message stream.
    fn end_use(&mut self, stream_id: u32) {
        match self.streams.get(&stream_id) {
            Some(StreamUse::Publishing(key)) => self.registry.unpublish(key, self.conn),
            Some(StreamUse::Playing(key)) => self.registry.stop_playing(key, self.conn, stream_id),
            _ => {}
        }
    }

    /// A message from the fan-out for one of this connection's players.
    pub fn on_play_item(&mut self, item: PlayItem) {
        let stream_id = match &item {
            PlayItem::Media { stream_id, .. }
            | PlayItem::Published { stream_id }
            | PlayItem::Unpublished { stream_id } => *stream_id,
        };
        let Some(StreamUse::Playing(key)) = self.streams.get(&stream_id) else {
            return;
        };
        let name = key.rsplit('/').next().unwrap_or("").to_string();
        match item {
            PlayItem::Media { media, .. } => {
                self.io
                    .media(stream_id, media.type_id, media.timestamp, &media.payload)
            }
            PlayItem::Published { .. } => {
                self.io.stream_begin(stream_id);
                self.io.on_status(
                    stream_id,
                    "status",
                    "NetStream.Play.PublishNotify",
                    &format!("{name} is now published."),
                );
            }
            PlayItem::Unpublished { .. } => {
                self.io.stream_eof(stream_id);
                self.io.on_status(
                    stream_id,
                    "status",
                    "NetStream.Play.UnpublishNotify",
                    &format!("{name} is now unpublished."),
                );
            }
        }
    }
}

impl Drop for ServerSession {
    /// A connection that goes away stops its publishing and playing.
    fn drop(&mut self) {
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            self.end_use(id);
        }
    }
}

#[cfg(test)]
mod tests;
