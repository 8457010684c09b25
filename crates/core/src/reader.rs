//! A cursor over a byte slice that never reads past the end.

use crate::error::DecodeError;

/// Reads big-endian fields from a slice, tracking its position.
///
/// Every read checks the remaining length first and returns a
/// [`DecodeError`] naming the offset and the field on a short buffer.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Current offset from the start of the buffer.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// The whole underlying buffer.
    pub fn buffer(&self) -> &'a [u8] {
        self.buf
    }

    /// Takes `n` bytes for the field `what`.
    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::truncated(self.pos, what, n - self.remaining()));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes of `what`.
    pub fn skip(&mut self, n: usize, what: &str) -> Result<(), DecodeError> {
        self.take(n, what).map(|_| ())
    }

    /// Looks at the next byte without consuming it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// One byte.
    pub fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    /// Big-endian u16.
    pub fn u16(&mut self, what: &str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Big-endian 24-bit unsigned.
    pub fn u24(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.take(3, what)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    /// Big-endian 24-bit signed (FLV composition time).
    pub fn i24(&mut self, what: &str) -> Result<i32, DecodeError> {
        let b = self.take(3, what)?;
        Ok(i24_be([b[0], b[1], b[2]]))
    }

    /// Big-endian u32.
    pub fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Little-endian u32 (the message stream id in chunk headers).
    pub fn u32_le(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Big-endian IEEE-754 double.
    pub fn f64(&mut self, what: &str) -> Result<f64, DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    /// Big-endian i16.
    pub fn i16(&mut self, what: &str) -> Result<i16, DecodeError> {
        Ok(self.u16(what)? as i16)
    }

    /// An error at the current position.
    pub fn error(&self, expected: impl Into<String>, found: impl Into<String>) -> DecodeError {
        DecodeError::new(self.pos, expected, found)
    }
}

/// Big-endian 24-bit signed, sign-extended.
#[inline]
pub fn i24_be(b: [u8; 3]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], 0]) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_read_names_offset_and_field() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        let e = r.u32("stream id").unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(e.expected.contains("3 more byte(s) of stream id"));
        assert_eq!(r.pos(), 2);
    }

    #[test]
    fn i24_sign_extends() {
        let mut r = Reader::new(&[0xff, 0xff, 0xfe]);
        assert_eq!(r.i24("cts").unwrap(), -2);
    }
}
