//! [`AmfString`]: the exact bytes of an AMF string, with escaping for display.

use std::borrow::Cow;
use std::fmt;

/// The exact bytes of an AMF string, name or class name.
///
/// AMF says UTF-8, but peers send anything: nginx-rtmp's `profile` and
/// `level` are 32 NUL bytes, and broken encoders send Latin-1. Nothing is
/// lost here; [`AmfString::display`] escapes what a terminal should not see.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AmfString(pub Vec<u8>);

impl AmfString {
    /// A string holding `bytes`.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        AmfString(bytes.into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text, if the bytes are valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The text with invalid UTF-8 replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// A printable form: NUL as `\0`, other control and invalid bytes as `\xNN`, `\` as `\\`.
    pub fn display(&self) -> Escaped<'_> {
        Escaped(&self.0)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string has no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The escaped, printable form of an [`AmfString`], from [`AmfString::display`].
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(&'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.0, false)
    }
}

/// Writes `bytes` escaped; with `quoted`, `"` is escaped too so the result can sit in quotes.
pub(super) fn write_escaped(w: &mut dyn fmt::Write, bytes: &[u8], quoted: bool) -> fmt::Result {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\0' => w.write_str("\\0")?,
                '\\' => w.write_str("\\\\")?,
                '"' if quoted => w.write_str("\\\"")?,
                c if c.is_ascii_control() => write!(w, "\\x{:02x}", c as u32)?,
                c if c.is_control() => write!(w, "\\u{{{:x}}}", c as u32)?,
                c => w.write_char(c)?,
            }
        }
        for b in chunk.invalid() {
            write!(w, "\\x{b:02x}")?;
        }
    }
    Ok(())
}

/// The string as JSON text: exact where the bytes are UTF-8, escaped as in [`AmfString::display`] where not.
pub(super) fn json_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            let mut s = String::new();
            // Writing into a String cannot fail.
            let _ = write_escaped(&mut s, bytes, false);
            s
        }
    }
}

impl fmt::Debug for AmfString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        write_escaped(f, &self.0, true)?;
        f.write_str("\"")
    }
}

impl fmt::Display for AmfString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, &self.0, false)
    }
}

impl PartialEq<str> for AmfString {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for AmfString {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<AmfString> for str {
    fn eq(&self, other: &AmfString) -> bool {
        self.as_bytes() == other.0
    }
}

impl PartialEq<AmfString> for &str {
    fn eq(&self, other: &AmfString) -> bool {
        self.as_bytes() == other.0
    }
}

impl PartialEq<[u8]> for AmfString {
    fn eq(&self, other: &[u8]) -> bool {
        self.0 == other
    }
}

impl From<&str> for AmfString {
    fn from(s: &str) -> Self {
        AmfString(s.as_bytes().to_vec())
    }
}

impl From<String> for AmfString {
    fn from(s: String) -> Self {
        AmfString(s.into_bytes())
    }
}

impl From<&[u8]> for AmfString {
    fn from(b: &[u8]) -> Self {
        AmfString(b.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for AmfString {
    fn from(b: &[u8; N]) -> Self {
        AmfString(b.to_vec())
    }
}

impl From<Vec<u8>> for AmfString {
    fn from(b: Vec<u8>) -> Self {
        AmfString(b)
    }
}

impl AsRef<[u8]> for AmfString {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_escapes_nul_bytes() {
        let s = AmfString::new(vec![b'a', 0, 0, b'b']);
        assert_eq!(s.display().to_string(), "a\\0\\0b");
    }

    #[test]
    fn display_escapes_control_bytes_as_hex() {
        let s = AmfString::new(b"x\ny\x7f".to_vec());
        assert_eq!(s.display().to_string(), "x\\x0ay\\x7f");
    }

    #[test]
    fn display_escapes_invalid_utf8_as_hex_and_keeps_valid_text() {
        let s = AmfString::new(b"caf\xe9 \xc3\xa9t\xc3\xa9".to_vec());
        assert_eq!(s.display().to_string(), "caf\\xe9 été");
    }

    #[test]
    fn display_escapes_backslash_so_escapes_are_unambiguous() {
        let s = AmfString::from("a\\x00");
        assert_eq!(s.display().to_string(), "a\\\\x00");
    }

    #[test]
    fn debug_quotes_and_escapes_quotes() {
        let s = AmfString::from("say \"hi\"\0");
        assert_eq!(format!("{s:?}"), "\"say \\\"hi\\\"\\0\"");
    }

    #[test]
    fn compares_with_str_both_ways() {
        let s = AmfString::from("live");
        assert_eq!(s, "live");
        assert_eq!("live", s);
        assert_ne!(s, "live2");
    }

    #[test]
    fn json_text_is_exact_for_utf8_including_nul() {
        assert_eq!(json_text(b"a\0b"), "a\0b");
        assert_eq!(json_text(b"\xff"), "\\xff");
    }

    #[test]
    fn lossy_replaces_invalid_bytes() {
        assert_eq!(
            AmfString::new(b"a\xffb".to_vec()).to_string_lossy(),
            "a\u{fffd}b"
        );
        assert_eq!(AmfString::new(b"a\xffb".to_vec()).as_str(), None);
    }
}
