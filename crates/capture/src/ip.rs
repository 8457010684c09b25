//! IPv4 / IPv6 (with extension headers and fragments) down to TCP segments.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use etherparse::{ip_number, IpNumber, LaxIpSlice, TcpSlice};

/// Fragment sets reassembled at once; more evicts the oldest.
const MAX_FRAGMENT_SETS: usize = 64;
/// A fragment set older than this (capture seconds) is dropped.
const FRAGMENT_TIMEOUT: f64 = 30.0;
/// Largest reassembled IP payload (the 16-bit total length bounds it).
const MAX_REASSEMBLED: usize = 65_535;
/// Bytes of a TCP header without options.
const TCP_MIN_HEADER: usize = 20;

/// TCP control flags that matter to reassembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// One TCP segment, with its payload as captured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TcpSegment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub payload: &'a [u8],
    /// Payload bytes the packet had on the wire but the capture cut off (snapshot length).
    pub missing: u32,
}

/// What an IP packet turned out to be.
#[derive(Debug, PartialEq)]
pub(crate) enum IpPacket<'a> {
    /// A TCP segment (possibly from reassembled fragments, see [`Defragmenter`]).
    Tcp(TcpSegment<'a>),
    /// A fragment held until its set is complete; the reassembled payload is
    /// then available from [`Defragmenter::take_completed`].
    FragmentHeld,
    /// Not TCP: skipped.
    NotTcp,
}

/// Decodes an IP packet; `Err` says what is malformed.
pub(crate) fn parse_ip<'a>(
    packet: &'a [u8],
    defrag: &mut Defragmenter,
    time: f64,
) -> Result<IpPacket<'a>, String> {
    if let Some(seg) = whole_ipv4_tcp(packet) {
        return seg.map(IpPacket::Tcp);
    }
    let (ip, ext_error) =
        LaxIpSlice::from_slice(packet).map_err(|e| format!("bad IP header: {e}"))?;
    let (src, dst, declared_len, frag) = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let header_len = usize::from(h.ihl()) * 4;
            let total = usize::from(h.total_len());
            // total_len 0 (TSO) or too small: the length comes from the capture.
            let declared = if total >= header_len {
                Some(total - header_len)
            } else {
                None
            };
            let frag = if h.is_fragmenting_payload() {
                Some(FragmentInfo {
                    id: u32::from(h.identification()),
                    offset: usize::from(h.fragments_offset().value()) * 8,
                    more: h.more_fragments(),
                })
            } else {
                None
            };
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                declared,
                frag,
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            // etherparse's extension iterator trusts its chain to be complete and
            // reads out of bounds when the lax parse stopped at a bad header, so
            // the validated bytes are walked here instead.
            let frag = ipv6_fragment(h.next_header(), v6.extensions().slice());
            let payload_length = usize::from(h.payload_length());
            let declared = if payload_length == 0 {
                None
            } else {
                payload_length.checked_sub(v6.extensions().slice().len())
            };
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                declared,
                frag,
            )
        }
    };
    let payload = ip.payload();
    if let Some(frag) = frag {
        if payload.incomplete {
            return Err("IP fragment cut by the snapshot length; dropped".to_string());
        }
        let key = FragmentKey {
            src,
            dst,
            id: frag.id,
            protocol: payload.ip_number,
        };
        return defrag
            .add(key, frag, payload.payload, time)
            .map(|()| IpPacket::FragmentHeld);
    }
    if payload.ip_number != ip_number::TCP {
        if let Some((e, _)) = ext_error {
            return Err(format!("bad IPv6 extension header: {e}"));
        }
        return Ok(IpPacket::NotTcp);
    }
    let declared_tcp = if payload.incomplete {
        declared_len
    } else {
        None
    };
    tcp_segment(src, dst, payload.payload, declared_tcp).map(IpPacket::Tcp)
}

/// The TCP segment of an unfragmented IPv4 packet that the capture holds
/// whole: nearly every packet of a capture, decoded without the lax parse
/// (whose results are several times larger) that every other case takes.
/// `None` sends the packet down that general path.
fn whole_ipv4_tcp(packet: &[u8]) -> Option<Result<TcpSegment<'_>, String>> {
    let h = etherparse::Ipv4HeaderSlice::from_slice(packet).ok()?;
    if h.protocol() != ip_number::TCP || h.is_fragmenting_payload() {
        return None;
    }
    let header_len = usize::from(h.ihl()) * 4;
    // Bytes past the total length are link padding; a total below the header
    // (TSO writes 0) or beyond the capture (snapshot length) is the general path's.
    let total = usize::from(h.total_len());
    let tcp = packet.get(header_len..total)?;
    let (src, dst) = (h.source_addr(), h.destination_addr());
    Some(tcp_segment(IpAddr::V4(src), IpAddr::V4(dst), tcp, None))
}

/// The fragment header among the IPv6 extension headers `exts` (the bytes
/// etherparse validated, first one of type `first`), if it fragments the payload.
fn ipv6_fragment(first: IpNumber, exts: &[u8]) -> Option<FragmentInfo> {
    let mut next = first;
    let mut rest = exts;
    let mut found = None;
    while rest.len() >= 8 {
        let len = match next {
            ip_number::IPV6_HOP_BY_HOP | ip_number::IPV6_ROUTE | ip_number::IPV6_DEST_OPTIONS => {
                (usize::from(rest[1]) + 1) * 8
            }
            ip_number::AUTH => (usize::from(rest[1]) + 2) * 4,
            ip_number::IPV6_FRAG => {
                let word = u16::from_be_bytes([rest[2], rest[3]]);
                let offset = usize::from(word >> 3) * 8;
                let more = word & 1 == 1;
                if offset != 0 || more {
                    found = Some(FragmentInfo {
                        id: u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]),
                        offset,
                        more,
                    });
                }
                8
            }
            _ => break,
        };
        let Some(tail) = rest.get(len..) else { break };
        next = IpNumber(rest[0]);
        rest = tail;
    }
    found
}

/// Decodes a TCP header; `declared_len` is the segment's length on the wire when the capture cut it.
/// Inlined, so that the segment is built where the caller keeps it: moved out
/// of a returned result, it was read back in wider pieces than it was written
/// in (a store-forwarding stall on every packet).
#[inline(always)]
pub(crate) fn tcp_segment(
    src: IpAddr,
    dst: IpAddr,
    bytes: &[u8],
    declared_len: Option<usize>,
) -> Result<TcpSegment<'_>, String> {
    if bytes.len() < TCP_MIN_HEADER {
        return Err(format!(
            "TCP header cut short ({} of at least 20 bytes)",
            bytes.len()
        ));
    }
    let tcp = TcpSlice::from_slice(bytes).map_err(|e| format!("bad TCP header: {e}"))?;
    let header_len = bytes.len() - tcp.payload().len();
    let missing = declared_len
        .and_then(|d| d.checked_sub(header_len))
        .map_or(0, |full| full.saturating_sub(tcp.payload().len()));
    Ok(TcpSegment {
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
        payload: tcp.payload(),
        missing: u32::try_from(missing).unwrap_or(u32::MAX),
    })
}

#[derive(Debug, Clone, Copy)]
struct FragmentInfo {
    id: u32,
    offset: usize,
    more: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FragmentKey {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    protocol: IpNumber,
}

#[derive(Debug)]
struct FragmentSet {
    data: Vec<u8>,
    /// Filled byte ranges, merged, sorted.
    filled: Vec<(usize, usize)>,
    /// Payload length, known once the last fragment arrived.
    end: Option<usize>,
    first_time: f64,
}

/// A reassembled IP payload, ready to be decoded as TCP.
#[derive(Debug)]
pub(crate) struct Reassembled {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: IpNumber,
    pub payload: Vec<u8>,
}

/// Bounded IPv4/IPv6 fragment reassembly.
#[derive(Debug, Default)]
pub(crate) struct Defragmenter {
    sets: HashMap<FragmentKey, FragmentSet>,
    completed: Option<Reassembled>,
    /// Sets given up (timeout or eviction), for a warning.
    dropped: Vec<String>,
}

impl Defragmenter {
    fn add(
        &mut self,
        key: FragmentKey,
        frag: FragmentInfo,
        bytes: &[u8],
        time: f64,
    ) -> Result<(), String> {
        let end = frag.offset + bytes.len();
        if end > MAX_REASSEMBLED {
            return Err(format!(
                "IP fragment (id {}) ends at byte {end}, beyond the 65535-byte limit; dropped",
                key.id
            ));
        }
        self.expire(time);
        if !self.sets.contains_key(&key) && self.sets.len() >= MAX_FRAGMENT_SETS {
            if let Some(oldest) = self
                .sets
                .iter()
                .min_by(|a, b| a.1.first_time.total_cmp(&b.1.first_time))
                .map(|(k, _)| *k)
            {
                self.sets.remove(&oldest);
                self.dropped.push(format!(
                    "IP fragments (id {}) from {} to {} never completed before too many others arrived; dropped",
                    oldest.id, oldest.src, oldest.dst
                ));
            }
        }
        let set = self.sets.entry(key).or_insert_with(|| FragmentSet {
            data: Vec::new(),
            filled: Vec::new(),
            end: None,
            first_time: time,
        });
        if !frag.more {
            if set.end.is_some_and(|e| e != end) || set.filled.last().is_some_and(|r| r.1 > end) {
                self.sets.remove(&key);
                return Err(format!(
                    "IP fragments (id {}) disagree on the packet's end; dropped",
                    key.id
                ));
            }
            set.end = Some(end);
        } else if set.end.is_some_and(|e| end > e) {
            self.sets.remove(&key);
            return Err(format!(
                "IP fragment (id {}) lies beyond the packet's end; dropped",
                key.id
            ));
        }
        if set.data.len() < end {
            set.data.resize(end, 0);
        }
        if let Some(dest) = set.data.get_mut(frag.offset..end) {
            dest.copy_from_slice(bytes);
        }
        insert_range(&mut set.filled, frag.offset, end);
        let complete = set.end.is_some_and(|e| set.filled.as_slice() == [(0, e)]);
        if complete {
            if let Some(set) = self.sets.remove(&key) {
                let mut payload = set.data;
                payload.truncate(set.end.unwrap_or(0));
                self.completed = Some(Reassembled {
                    src: key.src,
                    dst: key.dst,
                    protocol: key.protocol,
                    payload,
                });
            }
        }
        Ok(())
    }

    /// The payload completed by the last fragment added, if it completed one.
    pub fn take_completed(&mut self) -> Option<Reassembled> {
        self.completed.take()
    }

    /// Descriptions of fragment sets given up since the last call.
    pub fn take_dropped(&mut self) -> Vec<String> {
        std::mem::take(&mut self.dropped)
    }

    fn expire(&mut self, now: f64) {
        let dropped = &mut self.dropped;
        self.sets.retain(|k, s| {
            let keep = now - s.first_time <= FRAGMENT_TIMEOUT;
            if !keep {
                dropped.push(format!(
                    "IP fragments (id {}) from {} to {} incomplete after {FRAGMENT_TIMEOUT} s; dropped",
                    k.id, k.src, k.dst
                ));
            }
            keep
        });
    }
}

/// Adds [start, end) to sorted, merged ranges.
fn insert_range(ranges: &mut Vec<(usize, usize)>, start: usize, end: usize) {
    let (mut s, mut e) = (start, end);
    ranges.retain(|&(a, b)| {
        if b < s || a > e {
            true
        } else {
            s = s.min(a);
            e = e.max(b);
            false
        }
    });
    let at = ranges.partition_point(|&(a, _)| a < s);
    ranges.insert(at, (s, e));
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_v4(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 1935, 1000, 65535)
            .ack(5);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn plain_ipv4_tcp() {
        let p = tcp_v4(b"hello");
        let mut d = Defragmenter::default();
        match parse_ip(&p, &mut d, 0.0).unwrap() {
            IpPacket::Tcp(s) => {
                assert_eq!(s.payload, b"hello");
                assert_eq!(s.seq, 1000);
                assert_eq!(s.src.port(), 40000);
                assert_eq!(s.missing, 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn snaplen_cut_counts_missing_bytes() {
        let p = tcp_v4(&[7u8; 100]);
        let mut d = Defragmenter::default();
        match parse_ip(&p[..p.len() - 30], &mut d, 0.0).unwrap() {
            IpPacket::Tcp(s) => {
                assert_eq!(s.payload.len(), 70);
                assert_eq!(s.missing, 30);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ipv4_fragments_reassemble_in_any_order() {
        let whole = tcp_v4(&(0..100u8).collect::<Vec<_>>());
        let transport = &whole[20..];
        let mut frags = Vec::new();
        for (i, piece) in transport.chunks(48).enumerate() {
            let more = (i + 1) * 48 < transport.len();
            let mut h = etherparse::Ipv4Header::new(
                piece.len() as u16,
                64,
                ip_number::TCP,
                [10, 0, 0, 1],
                [10, 0, 0, 2],
            )
            .unwrap();
            h.identification = 77;
            h.more_fragments = more;
            h.fragment_offset = etherparse::IpFragOffset::try_new((i * 48 / 8) as u16).unwrap();
            let mut p = Vec::new();
            h.write(&mut p).unwrap();
            p.extend_from_slice(piece);
            frags.push(p);
        }
        frags.reverse();
        let mut d = Defragmenter::default();
        let mut done = None;
        for f in &frags {
            assert_eq!(parse_ip(f, &mut d, 0.0).unwrap(), IpPacket::FragmentHeld);
            if let Some(r) = d.take_completed() {
                done = Some(r);
            }
        }
        let r = done.expect("reassembled");
        assert_eq!(r.payload, transport);
        let seg = tcp_segment(r.src, r.dst, &r.payload, None).unwrap();
        assert_eq!(seg.payload, &(0..100u8).collect::<Vec<_>>()[..]);
    }

    /// An IPv6 header (next header `next`) followed by `rest`.
    fn v6(next: u8, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&[0xfd; 15]);
        p.push(1);
        p.extend_from_slice(&[0xfd; 15]);
        p.push(2);
        p.extend_from_slice(rest);
        p
    }

    #[test]
    fn ipv6_fragments_behind_hop_by_hop_reassemble() {
        let whole = tcp_v4(&(0..100u8).collect::<Vec<_>>());
        let transport = &whole[20..];
        let mut d = Defragmenter::default();
        let mut done = None;
        for (i, piece) in transport.chunks(48).enumerate().rev() {
            let more = (i + 1) * 48 < transport.len();
            // Hop-by-hop (8 bytes, next: fragment), then the fragment header.
            let mut ext = vec![44, 0, 1, 4, 0, 0, 0, 0];
            let word = ((i * 48 / 8) as u16) << 3 | u16::from(more);
            ext.extend_from_slice(&[6, 0]);
            ext.extend_from_slice(&word.to_be_bytes());
            ext.extend_from_slice(&0x0102_0304u32.to_be_bytes());
            ext.extend_from_slice(piece);
            let p = v6(0, &ext);
            assert_eq!(parse_ip(&p, &mut d, 0.0).unwrap(), IpPacket::FragmentHeld);
            if let Some(r) = d.take_completed() {
                done = Some(r);
            }
        }
        let r = done.expect("reassembled");
        assert_eq!(r.payload, transport);
    }

    #[test]
    fn ipv6_extension_chain_cut_short_is_an_error() {
        // Destination options (next: routing), then 3 bytes where the routing
        // header's 8 should be. etherparse 0.21's iterator read past the end here.
        let p = v6(60, &[43, 0, 1, 4, 0, 0, 0, 0, 6, 0, 0]);
        let mut d = Defragmenter::default();
        let err = parse_ip(&p, &mut d, 0.0).unwrap_err();
        assert!(err.contains("IPv6 extension header"), "{err}");
        // A fragment header whose length field claims more than is there.
        let p = v6(0, &[44, 200, 1, 4, 0, 0, 0, 0]);
        assert!(parse_ip(&p, &mut d, 0.0).is_err());
    }

    #[test]
    fn ranges_merge() {
        let mut r = Vec::new();
        insert_range(&mut r, 10, 20);
        insert_range(&mut r, 30, 40);
        insert_range(&mut r, 0, 10);
        assert_eq!(r, vec![(0, 20), (30, 40)]);
        insert_range(&mut r, 15, 35);
        assert_eq!(r, vec![(0, 40)]);
    }
}
