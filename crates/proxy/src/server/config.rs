//! What the built-in server does: limits, fault options, and its events.

use std::net::SocketAddr;
use std::time::Duration;

use rtmpscope_core::handshake::Scheme;
use tokio::sync::mpsc;

/// The onStatus code a rejected publish gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    /// `NetStream.Publish.BadName` (what servers send for a name in use or refused).
    BadName,
    /// `NetStream.Publish.Denied` (what servers send when publishing is not allowed).
    Denied,
}

impl RejectCode {
    /// The onStatus code.
    pub fn code(self) -> &'static str {
        match self {
            RejectCode::BadName => "NetStream.Publish.BadName",
            RejectCode::Denied => "NetStream.Publish.Denied",
        }
    }
}

/// How every publish is refused (a fault option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRejection {
    /// The onStatus code.
    pub code: RejectCode,
    /// The onStatus description.
    pub description: String,
}

/// Something the server did, for tests and for callers that want to follow it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A client's handshake completed.
    Handshake {
        /// The client.
        peer: SocketAddr,
        /// How the client built C1 (the server answers in the same scheme).
        scheme: Scheme,
    },
    /// A command arrived (name, message stream id).
    Command {
        /// The client.
        peer: SocketAddr,
        /// Command name.
        name: String,
        /// Message stream id it came on.
        stream_id: u32,
    },
    /// A publish was accepted.
    Publishing {
        /// The client.
        peer: SocketAddr,
        /// `app/stream` (query strings removed).
        stream: String,
    },
    /// A play was accepted.
    Playing {
        /// The client.
        peer: SocketAddr,
        /// `app/stream` (query strings removed).
        stream: String,
    },
    /// A connect or publish was refused; `code` is the status code sent.
    Rejected {
        /// The client.
        peer: SocketAddr,
        /// E.g. `NetStream.Publish.BadName`.
        code: String,
    },
    /// A connection ended.
    Closed {
        /// The client.
        peer: SocketAddr,
        /// Why, in words (`client closed the connection`, `chunk stream error at byte …`).
        reason: String,
        /// Bytes received from the client, C0 included.
        received: u64,
        /// Bytes sent to the client, S0 included.
        sent: u64,
    },
}

/// How the built-in server behaves. [`Default`] gives a well-behaved server;
/// the fields after `reply_delay` are the fault options.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Outgoing chunk size announced with Set Chunk Size after connect (1..=0xFFFFFF).
    pub chunk_size: u32,
    /// Window Acknowledgement Size and Set Peer Bandwidth sent after connect;
    /// also the acknowledgement window used when the client announces none.
    pub window_ack_size: u32,
    /// Keep each published stream's last GOP for players that join later
    /// (metadata and sequence headers are kept either way).
    pub keep_gop: bool,
    /// Most bytes of media kept per stream for the GOP cache; a longer GOP is
    /// dropped from the cache until the next keyframe.
    pub max_gop_bytes: usize,
    /// Connections at once; more are closed right after accept.
    pub max_connections: usize,
    /// Published or played `app/stream` names at once over all connections.
    pub max_streams: usize,
    /// Players per stream.
    pub max_players: usize,
    /// Message streams (createStream) per connection.
    pub max_streams_per_connection: u32,
    /// Messages waiting to be sent to one player; a player that falls further behind is disconnected.
    pub player_queue: usize,
    /// Payload bytes waiting to be sent to one player; past it, the player is disconnected.
    pub player_queue_bytes: usize,
    /// Bytes a client may have in incomplete messages (the chunk decoder's bound).
    pub max_buffered: usize,
    /// How long a client has to send C0, C1 and C2.
    pub handshake_timeout: Duration,
    /// How long one write to a client may block before the client is disconnected.
    pub write_timeout: Duration,
    /// Fault: delay each batch of replies by this much.
    pub reply_delay: Duration,
    /// Fault: refuse every publish with this status.
    pub reject_publish: Option<PublishRejection>,
    /// Fault: refuse every connect (`_error` NetConnection.Connect.Rejected with this description, then close).
    pub reject_connect: Option<String>,
    /// Fault: close the connection once this many bytes (C0 included) have been received.
    pub drop_after_bytes: Option<u64>,
    /// Fault: never send Acknowledgement messages.
    pub stall_acks: bool,
    /// Where [`ServerEvent`]s go (dropped when the channel is full); `None` for none.
    pub events: Option<mpsc::Sender<ServerEvent>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            keep_gop: true,
            max_gop_bytes: 8 << 20,
            max_connections: 256,
            max_streams: 64,
            max_players: 32,
            max_streams_per_connection: 8,
            player_queue: 1024,
            player_queue_bytes: 8 << 20,
            max_buffered: 8 << 20,
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            reply_delay: Duration::ZERO,
            reject_publish: None,
            reject_connect: None,
            drop_after_bytes: None,
            stall_acks: false,
            events: None,
        }
    }
}

impl ServerConfig {
    /// Sets the outgoing chunk size.
    pub fn chunk_size(mut self, size: u32) -> Self {
        self.chunk_size = size;
        self
    }

    /// Sets the window acknowledgement size.
    pub fn window_ack_size(mut self, size: u32) -> Self {
        self.window_ack_size = size;
        self
    }

    /// Keeps (or not) the last GOP of each stream.
    pub fn keep_gop(mut self, keep: bool) -> Self {
        self.keep_gop = keep;
        self
    }

    /// Refuses every publish with `code` and `description`.
    pub fn reject_publish(mut self, code: RejectCode, description: impl Into<String>) -> Self {
        self.reject_publish = Some(PublishRejection {
            code,
            description: description.into(),
        });
        self
    }

    /// Refuses every connect with `description`.
    pub fn reject_connect(mut self, description: impl Into<String>) -> Self {
        self.reject_connect = Some(description.into());
        self
    }

    /// Closes each connection after `n` bytes received.
    pub fn drop_after_bytes(mut self, n: u64) -> Self {
        self.drop_after_bytes = Some(n);
        self
    }

    /// Never acknowledges.
    pub fn stall_acks(mut self, stall: bool) -> Self {
        self.stall_acks = stall;
        self
    }

    /// Delays replies.
    pub fn reply_delay(mut self, delay: Duration) -> Self {
        self.reply_delay = delay;
        self
    }

    /// Sends [`ServerEvent`]s to `tx`.
    pub fn events(mut self, tx: mpsc::Sender<ServerEvent>) -> Self {
        self.events = Some(tx);
        self
    }

    /// The chunk size actually used: Set Chunk Size allows 1..=0x7FFFFFFF
    /// (§5.4.1), but no message is longer than 0xFFFFFF bytes.
    pub(crate) fn effective_chunk_size(&self) -> u32 {
        self.chunk_size.clamp(1, 0xFF_FFFF)
    }

    /// Sends an event if anyone listens (never waits).
    pub(crate) fn emit(&self, ev: ServerEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.try_send(ev);
        }
    }
}
