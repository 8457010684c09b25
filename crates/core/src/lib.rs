//! rtmpscope-core: a sans-IO RTMP decoder.
//!
//! Bytes go in, typed events come out. Nothing here does I/O, reads a clock
//! or spawns a thread, so the same code runs natively and in wasm32.

#![forbid(unsafe_code)]

pub mod amf;
pub mod chunk;
pub mod error;
pub mod handshake;
pub mod media;
pub mod payload;
pub mod reader;

pub use error::DecodeError;
