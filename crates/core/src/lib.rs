//! rtmpscope-core: a sans-IO RTMP decoder.
//!
//! Bytes go in, typed events come out. Nothing here does I/O, reads a clock
//! or spawns a thread, so the same code runs natively and in wasm32.
//!
//! The entry point is [`session::Session`]: feed it each direction's bytes
//! with [`session::Session::feed`] and read [`session::Event`]s.

#![forbid(unsafe_code)]

pub mod amf;
pub mod chunk;
pub mod command;
pub mod diagnose;
pub mod error;
pub mod flv;
pub mod handshake;
pub mod json;
pub mod media;
pub mod message;
pub mod payload;
pub mod reader;
pub mod session;

pub use error::DecodeError;
pub use session::{Direction, Event, Session};
