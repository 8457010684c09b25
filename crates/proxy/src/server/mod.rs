//! The built-in RTMP server: a real, minimal server on the core's encoder
//! (handshake, connect/createStream/publish/play/deleteStream with the replies
//! a real server sends, window acknowledgements), with fault options for tests.
//!
//! Each accepted connection runs in its own task: `handshake` answers
//! C0/C1 (the simple scheme, or the digest scheme when C1 carries a valid
//! digest), then `session::ServerSession` — sans-IO, bytes in, bytes out —
//! decodes the client's chunk stream with the core's `ChunkDecoder` and
//! answers with the core's `ChunkEncoder`. Published media goes through the
//! shared `registry` to the players of the same `app/stream`; a player that
//! joins late first gets the stream's metadata, sequence headers and last GOP.
//!
//! The server prints nothing; tests can follow it with [`ServerConfig::events`].
//!
//! ```no_run
//! use rtmpscope_proxy::server::{Server, ServerConfig};
//!
//! # async fn example() -> std::io::Result<()> {
//! let server = Server::bind("127.0.0.1:1935".parse().unwrap(), ServerConfig::default()).await?;
//! println!("listening on {}", server.local_addr());
//! server.serve(std::future::pending()).await
//! # }
//! ```

mod config;
mod connection;
mod handshake;
mod listener;
mod registry;
mod reply;
mod session;

pub use config::{PublishRejection, RejectCode, ServerConfig, ServerEvent};
pub use listener::Server;
