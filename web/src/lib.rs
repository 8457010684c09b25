//! rtmpscope-web: the browser inspector.
//!
//! The page (`app`, Yew) shows what the worker (`worker`) decodes. The
//! decoding model ([`model`]), the answers to the page ([`service`],
//! [`detail`]) and the messages between them ([`protocol`]) are plain Rust
//! that also builds natively, so they are unit-tested without a browser.

#![forbid(unsafe_code)]

pub mod detail;
pub mod model;
pub mod protocol;
pub mod service;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
pub mod worker;

// Natively: the fixtures are read from disk. In the browser, `worker.rs`
// has its own tests (wasm-bindgen-test, in a dedicated worker).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
