//! A message body held as slices of the input, made contiguous only on request.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

/// A message payload: the chunk payloads of one message, in order.
///
/// Large chunk payloads are kept as [`Bytes`] slices of the buffers fed to the
/// decoder (no copy); small ones are copied together so that hostile tiny
/// chunk sizes cannot pin many input buffers.
#[derive(Clone, Default)]
pub struct Payload {
    pieces: SmallVec<[Bytes; 1]>,
    len: usize,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Payload({} bytes in {} piece(s))",
            self.len,
            self.pieces.len()
        )
    }
}

/// Payloads are equal when their bytes are, however they are sliced.
impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.contiguous() == other.contiguous()
    }
}

impl Eq for Payload {}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        let len = b.len();
        let mut pieces = SmallVec::new();
        if len > 0 {
            pieces.push(b);
        }
        Payload { pieces, len }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Payload::from(Bytes::from(v))
    }
}

impl Payload {
    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slices, in order.
    pub fn pieces(&self) -> &[Bytes] {
        &self.pieces
    }

    /// The whole payload as one slice, borrowing when it already is one.
    pub fn contiguous(&self) -> Cow<'_, [u8]> {
        match self.pieces.len() {
            0 => Cow::Borrowed(&[]),
            1 => Cow::Borrowed(&self.pieces[0]),
            _ => Cow::Owned(self.to_vec()),
        }
    }

    /// The whole payload as one `Bytes` (a cheap clone when it is one piece).
    pub fn to_bytes(&self) -> Bytes {
        match self.pieces.len() {
            0 => Bytes::new(),
            1 => self.pieces[0].clone(),
            _ => Bytes::from(self.to_vec()),
        }
    }

    /// Copies the payload into a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for p in &self.pieces {
            v.extend_from_slice(p);
        }
        v
    }

    /// The first `n` bytes (or all of them), borrowing when possible.
    pub fn prefix(&self, n: usize) -> Cow<'_, [u8]> {
        let n = n.min(self.len);
        match self.pieces.first() {
            None => Cow::Borrowed(&[]),
            Some(first) if first.len() >= n => Cow::Borrowed(&first[..n]),
            Some(_) => {
                let mut v = Vec::with_capacity(n);
                for p in &self.pieces {
                    let want = n - v.len();
                    if want == 0 {
                        break;
                    }
                    v.extend_from_slice(&p[..want.min(p.len())]);
                }
                Cow::Owned(v)
            }
        }
    }

    /// Byte at `i`, if any.
    pub fn get(&self, mut i: usize) -> Option<u8> {
        for p in &self.pieces {
            if i < p.len() {
                return Some(p[i]);
            }
            i -= p.len();
        }
        None
    }
}

/// Builds a [`Payload`] from chunk payload slices.
#[derive(Debug, Default)]
pub(crate) struct PayloadBuilder {
    pieces: SmallVec<[Bytes; 1]>,
    small: BytesMut,
    len: usize,
    /// Pieces that are slices of input buffers (the others are our own copies).
    referenced: usize,
}

/// Chunk payloads shorter than this are copied rather than referenced.
pub(crate) const COPY_BELOW: usize = 512;
/// A partial message holding more slices than this is compacted into one buffer.
pub(crate) const MAX_SLICES: usize = 64;

impl PayloadBuilder {
    /// Bytes so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Input slices currently referenced (copies not counted).
    pub(crate) fn slices(&self) -> usize {
        self.referenced
    }

    /// Appends a slice; `copy` forces a copy (used when too many slices are live).
    /// Returns the change in referenced slices.
    /// `whole` marks a slice that is the entire message: it is never copied.
    pub(crate) fn push(&mut self, data: Bytes, copy: bool, whole: bool) -> isize {
        if data.is_empty() {
            return 0;
        }
        self.len += data.len();
        if whole {
            self.pieces.push(data);
            self.referenced += 1;
            return 1;
        }
        if copy || data.len() < COPY_BELOW || self.pieces.len() >= MAX_SLICES {
            if self.pieces.len() >= MAX_SLICES {
                return self.compact(&data);
            }
            self.small.extend_from_slice(&data);
            return 0;
        }
        self.flush_small();
        self.pieces.push(data);
        self.referenced += 1;
        1
    }

    fn flush_small(&mut self) {
        if !self.small.is_empty() {
            let b = self.small.split().freeze();
            self.pieces.push(b);
        }
    }

    /// Replaces every slice by one copied buffer, then appends `data`.
    fn compact(&mut self, data: &[u8]) -> isize {
        let before = self.referenced as isize;
        self.referenced = 0;
        let mut all = BytesMut::with_capacity(self.len);
        for p in self.pieces.drain(..) {
            all.extend_from_slice(&p);
        }
        all.extend_from_slice(&self.small);
        all.extend_from_slice(data);
        self.small = all;
        -before
    }

    /// The finished payload.
    pub(crate) fn finish(mut self) -> Payload {
        self.flush_small();
        Payload {
            pieces: self.pieces,
            len: self.len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_slices_are_kept_without_copy() {
        let input = Bytes::from(vec![7u8; 4096]);
        let mut b = PayloadBuilder::default();
        b.push(input.slice(0..1000), false, false);
        b.push(input.slice(2000..3000), false, false);
        let p = b.finish();
        assert_eq!(p.pieces().len(), 2);
        assert_eq!(p.pieces()[0].as_ptr(), input.as_ptr());
        assert_eq!(p.len(), 2000);
    }

    #[test]
    fn small_slices_are_copied_together() {
        let input = Bytes::from((0..=255u8).collect::<Vec<_>>());
        let mut b = PayloadBuilder::default();
        for i in 0..10 {
            b.push(input.slice(i * 10..i * 10 + 10), false, false);
        }
        let p = b.finish();
        assert_eq!(p.pieces().len(), 1);
        assert_eq!(p.to_vec(), (0..100u8).collect::<Vec<_>>());
    }

    #[test]
    fn too_many_slices_are_compacted() {
        let input = Bytes::from(vec![1u8; 1024]);
        let mut b = PayloadBuilder::default();
        let mut live = 0isize;
        for _ in 0..(MAX_SLICES + 5) {
            live += b.push(input.clone(), false, false);
        }
        assert!(b.slices() <= MAX_SLICES);
        assert_eq!(live, b.slices() as isize);
        let p = b.finish();
        assert_eq!(p.len(), 1024 * (MAX_SLICES + 5));
    }

    #[test]
    fn prefix_spans_pieces() {
        let mut b = PayloadBuilder::default();
        b.push(Bytes::from(vec![1u8; 600]), false, false);
        b.push(Bytes::from(vec![2u8; 600]), false, false);
        let p = b.finish();
        let pre = p.prefix(700);
        assert_eq!(pre.len(), 700);
        assert_eq!(pre[599], 1);
        assert_eq!(pre[600], 2);
        assert_eq!(p.get(1199), Some(2));
        assert_eq!(p.get(1200), None);
    }
}
