//! One direction of a TCP connection: segments in, in-order bytes and gaps out.
//!
//! Sequence numbers are 32-bit and wrap (RFC 9293, section 3.4); positions here
//! are 64-bit offsets in the direction's byte stream, counted from the first
//! byte after the SYN (or from the first byte captured when the start was
//! not), so wrapping is handled once, in [`Reassembler::offset_of`].
//!
//! Retransmitted bytes keep the first copy captured. Out-of-order segments wait,
//! bounded by [`MAX_PENDING_BYTES`] and [`MAX_PENDING_PIECES`]; a hole becomes a
//! gap when the buffer is full, when the receiver acknowledged past it (so the
//! bytes were delivered but not captured), or at the end of the capture.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};

/// Out-of-order bytes held per direction before a hole is declared a gap.
pub(crate) const MAX_PENDING_BYTES: usize = 4 << 20;
/// Out-of-order pieces held per direction (bounds bookkeeping for tiny segments).
pub(crate) const MAX_PENDING_PIECES: usize = 4096;
/// A segment further ahead than this is not part of the stream (TCP windows stay below 1 GiB, RFC 7323).
const MAX_AHEAD: i64 = 1 << 30;

/// What a direction's stream produced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamOut {
    /// Bytes in order.
    Data { bytes: Bytes, time: f64 },
    /// Bytes that will never be seen.
    Gap { len: u64, time: f64 },
    /// The direction ended (FIN reached in order, or RST).
    Closed { reset: bool, time: f64 },
}

#[derive(Debug, Clone)]
enum Piece {
    Data(Bytes, f64),
    /// Bytes known to be missing (cut by the snapshot length).
    Lost(u64, f64),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Data(b, _) => b.len() as u64,
            Piece::Lost(n, _) => *n,
        }
    }
}

/// Reassembles one direction of a TCP connection.
#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    started: bool,
    /// Sequence number of the next byte expected.
    next_seq: u32,
    /// Stream offset of the next byte expected.
    delivered: u64,
    /// Out-of-order pieces by stream offset; they never overlap and all start after `delivered`.
    pending: BTreeMap<u64, Piece>,
    pending_bytes: usize,
    /// Stream offset of the FIN, once seen, and its time.
    fin: Option<(u64, f64)>,
    /// Highest offset the other side acknowledged.
    acked: Option<u64>,
    ended: bool,
    /// Where in-order bytes are copied to.
    arena: Arena,
}

/// Blocks that in-order segments are copied into, each handed out as
/// [`Bytes`] slices: one allocation per block instead of one per segment.
/// Blocks are small, so that a slice kept by a stalled session (a partial
/// message) holds little memory with it.
#[derive(Debug, Default)]
struct Arena {
    block: BytesMut,
}

/// Size of an arena block; larger segments get a block of their own size.
const ARENA_BLOCK: usize = 16 << 10;

impl Arena {
    fn copy(&mut self, data: &[u8]) -> Bytes {
        if self.block.capacity() - self.block.len() < data.len() {
            self.block = BytesMut::with_capacity(ARENA_BLOCK.max(data.len()));
        }
        self.block.extend_from_slice(data);
        self.block.split().freeze()
    }
}

impl Reassembler {
    /// Whether the stream's starting sequence number is known.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Whether FIN or RST ended the direction.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Bytes held out of order.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Bytes delivered (and gaps declared) so far.
    #[cfg(test)]
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Whether a segment at `seq` continues the stream at once: nothing is
    /// held out of order, no FIN is known, and `seq` is the next byte.
    pub fn continues_at(&self, seq: u32) -> bool {
        self.started
            && !self.ended
            && self.pending.is_empty()
            && self.fin.is_none()
            && seq == self.next_seq
    }

    /// Takes the `n` payload bytes of a segment for which
    /// [`Reassembler::continues_at`] holds, which the caller passes on itself
    /// (as [`Reassembler::segment`] would give them out).
    pub fn advance_in_order(&mut self, n: usize) {
        debug_assert!(self.pending.is_empty() && self.fin.is_none() && !self.ended);
        self.advance(n as u64);
    }

    /// Sets the sequence number of the stream's first byte.
    pub fn start(&mut self, seq: u32) {
        if !self.started {
            self.started = true;
            self.next_seq = seq;
        }
    }

    /// Stream offset of a sequence number (negative: before the start).
    fn offset_of(&self, seq: u32) -> i64 {
        self.delivered as i64 + i64::from(seq.wrapping_sub(self.next_seq) as i32)
    }

    fn advance(&mut self, n: u64) {
        self.delivered += n;
        self.next_seq = self.next_seq.wrapping_add(n as u32);
    }

    /// Adds a segment's payload at `seq`; `missing` bytes followed it on the
    /// wire but were not captured.
    pub fn segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        missing: u32,
        time: f64,
        out: &mut Vec<StreamOut>,
    ) {
        if self.ended {
            return;
        }
        self.start(seq);
        let start = self.offset_of(seq);
        if start - self.delivered as i64 > MAX_AHEAD {
            return;
        }
        let delivered = self.delivered as i64;
        let end = start + payload.len() as i64;
        if end > delivered && !payload.is_empty() {
            let skip = (delivered - start).max(0) as usize;
            let data = payload.get(skip..).unwrap_or(&[]);
            let off = start.max(delivered) as u64;
            if off == self.delivered {
                out.push(StreamOut::Data {
                    bytes: self.arena.copy(data),
                    time,
                });
                self.advance(data.len() as u64);
                self.drain(out);
            } else {
                self.insert_data(off, data, time);
            }
        }
        if missing > 0 {
            let lost_end = end + i64::from(missing);
            if lost_end > self.delivered as i64 {
                let lost_start = end.max(self.delivered as i64) as u64;
                let len = lost_end as u64 - lost_start;
                if lost_start == self.delivered {
                    out.push(StreamOut::Gap { len, time });
                    self.advance(len);
                    self.drain(out);
                } else if !self.overlaps_pending(lost_start, lost_start + len) {
                    self.pending.insert(lost_start, Piece::Lost(len, time));
                }
            }
        }
        while self.pending_bytes > MAX_PENDING_BYTES || self.pending.len() > MAX_PENDING_PIECES {
            if !self.skip_to_pending(time, out) {
                break;
            }
        }
        self.resolve(time, out);
    }

    /// The other direction acknowledged up to `ack`.
    pub fn acknowledged(&mut self, ack: u32, time: f64, out: &mut Vec<StreamOut>) {
        if !self.started || self.ended {
            return;
        }
        let at = self.offset_of(ack);
        if at > self.delivered as i64 && at - (self.delivered as i64) <= MAX_AHEAD {
            let at = at as u64;
            self.acked = Some(self.acked.map_or(at, |a| a.max(at)));
            self.resolve(time, out);
        }
    }

    /// A FIN came with a segment starting at `seq` carrying `len` bytes.
    pub fn fin(&mut self, seq: u32, len: usize, time: f64, out: &mut Vec<StreamOut>) {
        if self.ended {
            return;
        }
        self.start(seq);
        if self.fin.is_none() {
            let at = self.offset_of(seq) + len as i64;
            if at - (self.delivered as i64) <= MAX_AHEAD {
                self.fin = Some((at.max(0) as u64, time));
            }
        }
        self.resolve(time, out);
    }

    /// RST: what is held is given out (with gaps for holes), then the direction ends.
    pub fn reset(&mut self, time: f64, out: &mut Vec<StreamOut>) {
        if self.ended {
            return;
        }
        while self.skip_to_pending(time, out) {}
        self.ended = true;
        self.release();
        out.push(StreamOut::Closed { reset: true, time });
    }

    /// End of capture (or of tracking): holes become gaps, held bytes are given out.
    pub fn flush(&mut self, time: f64, out: &mut Vec<StreamOut>) {
        if self.ended {
            return;
        }
        while self.skip_to_pending(time, out) {}
        // Bytes up to the FIN, or up to what the receiver acknowledged, were
        // sent: what of them is missing at the end was lost.
        let end = match self.fin {
            Some((fin_at, _)) => Some(fin_at),
            None => self.acked,
        };
        if let Some(end) = end.filter(|&e| e > self.delivered) {
            let n = end - self.delivered;
            out.push(StreamOut::Gap { len: n, time });
            self.advance(n);
        }
        self.check_fin(out);
        self.release();
    }

    /// Memory pressure: every hole before held bytes becomes a gap now.
    pub fn give_up_holes(&mut self, time: f64, out: &mut Vec<StreamOut>) {
        if self.ended {
            return;
        }
        while self.skip_to_pending(time, out) {}
        self.check_fin(out);
    }

    /// Declares the hole before the first held piece a gap and drains; false if nothing is held.
    fn skip_to_pending(&mut self, time: f64, out: &mut Vec<StreamOut>) -> bool {
        let Some(first) = self.pending.keys().next().copied() else {
            return false;
        };
        if first > self.delivered {
            out.push(StreamOut::Gap {
                len: first - self.delivered,
                time,
            });
            self.advance(first - self.delivered);
        }
        self.drain(out);
        true
    }

    /// Holes the receiver acknowledged past will not be retransmitted: make them gaps.
    fn resolve(&mut self, time: f64, out: &mut Vec<StreamOut>) {
        loop {
            let next_known = match (self.pending.keys().next(), self.fin) {
                (Some(&p), Some((f, _))) => Some(p.min(f)),
                (Some(&p), None) => Some(p),
                (None, Some((f, _))) => Some(f),
                (None, None) => None,
            };
            let (Some(target), Some(acked)) = (next_known, self.acked) else {
                break;
            };
            let gap_end = target.min(acked);
            if gap_end <= self.delivered {
                break;
            }
            out.push(StreamOut::Gap {
                len: gap_end - self.delivered,
                time,
            });
            self.advance(gap_end - self.delivered);
            self.drain(out);
        }
        self.check_fin(out);
    }

    fn check_fin(&mut self, out: &mut Vec<StreamOut>) {
        if let Some((fin_at, fin_time)) = self.fin {
            if !self.ended && self.delivered >= fin_at {
                self.ended = true;
                self.release();
                out.push(StreamOut::Closed {
                    reset: false,
                    time: fin_time,
                });
            }
        }
    }

    fn release(&mut self) {
        self.pending.clear();
        self.pending_bytes = 0;
        self.arena = Arena::default();
    }

    /// Gives out the held pieces that now continue the stream.
    fn drain(&mut self, out: &mut Vec<StreamOut>) {
        while let Some(entry) = self.pending.first_entry() {
            let off = *entry.key();
            if off > self.delivered {
                break;
            }
            let piece = entry.remove();
            if let Piece::Data(b, _) = &piece {
                self.pending_bytes -= b.len();
            }
            let end = off + piece.len();
            if end <= self.delivered {
                continue;
            }
            let skip = self.delivered - off;
            match piece {
                Piece::Data(b, time) => {
                    let bytes = b.slice(skip as usize..);
                    let n = bytes.len() as u64;
                    out.push(StreamOut::Data { bytes, time });
                    self.advance(n);
                }
                Piece::Lost(len, time) => {
                    out.push(StreamOut::Gap {
                        len: len - skip,
                        time,
                    });
                    self.advance(len - skip);
                }
            }
        }
    }

    fn overlaps_pending(&self, start: u64, end: u64) -> bool {
        self.pending
            .range(..end)
            .next_back()
            .is_some_and(|(&off, p)| off + p.len() > start)
    }

    /// Holds bytes at `off`, keeping earlier copies of any byte already held.
    fn insert_data(&mut self, off: u64, data: &[u8], time: f64) {
        let end = off + data.len() as u64;
        // Pieces overlapping [off, end), in order.
        let mut covered: Vec<(u64, u64)> = Vec::new();
        for (&p_off, p) in self.pending.range(..end).rev() {
            let p_end = p_off + p.len();
            if p_end <= off {
                break;
            }
            covered.push((p_off, p_end));
        }
        covered.reverse();
        let mut at = off;
        for (c_start, c_end) in covered.into_iter().chain(std::iter::once((end, end))) {
            if c_start > at {
                let from = (at - off) as usize;
                let to = (c_start.min(end) - off) as usize;
                if let Some(slice) = data.get(from..to) {
                    self.pending_bytes += slice.len();
                    self.pending
                        .insert(at, Piece::Data(Bytes::copy_from_slice(slice), time));
                }
            }
            at = at.max(c_end);
            if at >= end {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(out: &[StreamOut]) -> (Vec<u8>, Vec<u64>) {
        let mut data = Vec::new();
        let mut gaps = Vec::new();
        for o in out {
            match o {
                StreamOut::Data { bytes, .. } => data.extend_from_slice(bytes),
                StreamOut::Gap { len, .. } => {
                    gaps.push(*len);
                    data.extend(std::iter::repeat_n(b'?', *len as usize));
                }
                StreamOut::Closed { .. } => {}
            }
        }
        (data, gaps)
    }

    #[test]
    fn in_order_segments_share_arena_blocks_and_keep_their_bytes() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.start(0);
        let mut seq = 0u32;
        let mut sent = Vec::new();
        // Segments of 1000 to 9000 bytes: several blocks, and one too big for any.
        for (i, len) in [1000usize, 9000, 7000, 3000, 20_000, 500]
            .into_iter()
            .enumerate()
        {
            let seg: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
            r.segment(seq, &seg, 0, 0.0, &mut out);
            seq = seq.wrapping_add(len as u32);
            sent.extend_from_slice(&seg);
        }
        assert_eq!(out.len(), 6);
        let (data, gaps) = collect(&out);
        assert_eq!(data, sent);
        assert!(gaps.is_empty());
    }

    #[test]
    fn out_of_order_segments_wait_for_the_hole() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.start(100);
        r.segment(105, b"fghij", 0, 0.0, &mut out);
        assert!(out.is_empty());
        r.segment(100, b"abcde", 0, 0.0, &mut out);
        assert_eq!(collect(&out), (b"abcdefghij".to_vec(), vec![]));
    }

    #[test]
    fn overlapping_retransmission_keeps_first_copy() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.start(0);
        r.segment(4, b"EFGH", 0, 0.0, &mut out);
        r.segment(2, b"cdXXXXij", 0, 0.0, &mut out);
        r.segment(0, b"ab", 0, 0.0, &mut out);
        r.segment(0, b"zzzz", 0, 0.0, &mut out);
        assert_eq!(collect(&out).0, b"abcdEFGHij".to_vec());
    }

    #[test]
    fn sequence_wrap() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.start(u32::MAX - 2);
        r.segment(1, b"ef", 0, 0.0, &mut out);
        r.segment(u32::MAX - 2, b"abc", 0, 0.0, &mut out);
        r.segment(u32::MAX, b"Xd", 0, 0.0, &mut out);
        assert_eq!(collect(&out), (b"abcdef".to_vec(), vec![]));
        assert_eq!(r.delivered(), 6);
    }

    #[test]
    fn hole_acknowledged_by_peer_is_a_gap() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.start(0);
        r.segment(0, b"ab", 0, 0.0, &mut out);
        r.segment(10, b"kl", 0, 0.0, &mut out);
        r.acknowledged(12, 0.0, &mut out);
        assert_eq!(collect(&out), (b"ab????????kl".to_vec(), vec![8]));
    }

    #[test]
    fn hole_at_flush_is_a_gap_and_fin_closes() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.start(0);
        r.segment(0, b"ab", 0, 0.0, &mut out);
        r.fin(6, 0, 1.0, &mut out);
        assert!(!r.is_ended());
        r.flush(2.0, &mut out);
        assert_eq!(collect(&out), (b"ab????".to_vec(), vec![4]));
        assert_eq!(
            out.last(),
            Some(&StreamOut::Closed {
                reset: false,
                time: 1.0
            })
        );
    }

    #[test]
    fn lost_tail_acknowledged_by_peer_is_a_gap_at_flush() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.start(0);
        r.segment(0, b"ab", 0, 0.0, &mut out);
        r.acknowledged(9, 0.0, &mut out);
        assert_eq!(collect(&out).1, Vec::<u64>::new());
        r.flush(1.0, &mut out);
        assert_eq!(collect(&out), (b"ab???????".to_vec(), vec![7]));
    }

    #[test]
    fn snaplen_cut_is_an_immediate_gap() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.start(0);
        r.segment(0, b"ab", 3, 0.0, &mut out);
        r.segment(5, b"fg", 0, 0.0, &mut out);
        assert_eq!(collect(&out), (b"ab???fg".to_vec(), vec![3]));
    }

    #[test]
    fn full_buffer_declares_a_gap() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.start(0);
        let big = vec![1u8; 1 << 16];
        let mut seq = 100u32;
        while out.is_empty() {
            r.segment(seq, &big, 0, 0.0, &mut out);
            seq += big.len() as u32;
        }
        assert_eq!(
            out[0],
            StreamOut::Gap {
                len: 100,
                time: 0.0
            }
        );
        assert!(r.pending_bytes() <= MAX_PENDING_BYTES);
    }
}
