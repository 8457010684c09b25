//! The error every complete-buffer parser returns.

use std::fmt;

/// A parse failure: what was expected, at which byte offset, and what was found.
///
/// `offset` is relative to whatever buffer the parser was given; callers that
/// know the buffer's position in a larger stream shift it with [`DecodeError::at`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub struct DecodeError {
    /// Byte offset of the problem.
    pub offset: u64,
    /// What the parser expected there.
    pub expected: String,
    /// What it found instead.
    pub found: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at byte {}: expected {}, found {}",
            self.offset, self.expected, self.found
        )
    }
}

impl DecodeError {
    /// A new error at `offset`.
    pub fn new(offset: usize, expected: impl Into<String>, found: impl Into<String>) -> Self {
        DecodeError {
            offset: offset as u64,
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// The input ended: `needed` more bytes were expected for `what`.
    pub fn truncated(offset: usize, what: &str, needed: usize) -> Self {
        DecodeError::new(
            offset,
            format!("{needed} more byte(s) of {what}"),
            "end of data",
        )
    }

    /// The same error with its offset moved by `base` (the buffer's own position).
    pub fn at(mut self, base: u64) -> Self {
        self.offset = self.offset.saturating_add(base);
        self
    }
}

/// Shows up to 8 bytes as hex, for the `found` part of an error.
pub fn hex_preview(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, b) in bytes.iter().take(8).enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    if bytes.len() > 8 {
        s.push_str(" …");
    }
    if s.is_empty() {
        s.push_str("nothing");
    }
    s
}
