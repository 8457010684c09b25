//! pcapng writing for the proxy: each session as synthesised IPv4/IPv6 + TCP packets.
//!
//! The file has one interface of link type RAW (101: IPv4 or IPv6 packets
//! without a link header), microsecond timestamps. A session starts with a
//! SYN / SYN-ACK / ACK exchange; data goes in segments of at most
//! [`MAX_SEGMENT`] bytes with consistent sequence and acknowledgement numbers
//! and correct lengths and checksums; the receiver acknowledges every
//! [`ACK_EVERY`] bytes so that Wireshark's TCP analysis stays quiet. Session
//! facts and capture gaps are pcapng comments on packets (a fact rides on the
//! session's next packet, so that it adds no packet Wireshark would flag).
//!
//! Every block is assembled in memory and written with one `write_all`, so a
//! file cut anywhere (a crash, kill -9) reads back up to its last complete block.
//!
//! ```
//! use rtmpscope_capture::{CaptureEvent, CaptureReader, PcapngWriter};
//! use rtmpscope_core::session::Direction;
//!
//! let mut w = PcapngWriter::new(Vec::new(), "example")?;
//! let s = w.open_session("10.0.0.1:50000".parse()?, "10.0.0.2:1935".parse()?, 1.0)?;
//! w.data(s, Direction::ClientToServer, b"\x03hello", 1.1)?;
//! w.close(s, Direction::ClientToServer, false, 1.2)?;
//! let file = w.into_inner();
//! let events: Vec<CaptureEvent> = CaptureReader::new(&file[..])?.collect::<Result<_, _>>()?;
//! assert!(events.iter().any(|e| matches!(e, CaptureEvent::Data { bytes, .. } if &bytes[..] == b"\x03hello")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use etherparse::{ip_number, Ipv4Header, Ipv6FlowLabel, Ipv6Header, TcpHeader, TcpOptionElement};
use rtmpscope_core::session::Direction;

/// Largest TCP payload per packet: what fits in a 65535-byte IPv4 packet with 20-byte IP and TCP headers.
pub const MAX_SEGMENT: usize = 65_495;
/// The receiver acknowledges after this many unacknowledged bytes.
pub const ACK_EVERY: u32 = 256 << 10;

/// pcapng block types and option codes (pcapng spec, sections 4 and 3.5).
const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 1;
const EPB_TYPE: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const LINKTYPE_RAW: u16 = 101;
const SNAPLEN: u32 = 262_144;
/// Window advertised (scaled by 2^WINDOW_SCALE, RFC 7323): 8 MiB, never full.
const WINDOW: u16 = 65_535;
const WINDOW_SCALE: u8 = 7;
const TTL: u8 = 64;

/// A session opened with [`PcapngWriter::open_session`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(u64);

#[derive(Debug)]
struct WriterSession {
    /// Endpoints, both of one address family.
    client: SocketAddr,
    server: SocketAddr,
    /// Next sequence number to send, per direction (0 = client to server).
    next_seq: [u32; 2],
    /// Bytes sent per direction since the other side last acknowledged.
    unacked: [u32; 2],
    closed: [bool; 2],
    ip_id: u16,
    last_time: f64,
    /// Comments waiting for the session's next packet.
    comments: Vec<String>,
}

/// Flags of a synthesised TCP segment.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    psh: bool,
}

/// Writes sessions into a pcapng file as IPv4/IPv6 + TCP packets.
pub struct PcapngWriter<W: Write> {
    out: W,
    sessions: HashMap<u64, WriterSession>,
    next_session: u64,
    bytes_written: u64,
    /// Scratch space for a packet's IP and TCP headers, reused.
    block: Vec<u8>,
}

fn index(dir: Direction) -> usize {
    match dir {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

fn unknown_session() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "unknown or closed capture session",
    )
}

impl<W: Write> PcapngWriter<W> {
    /// Starts a file: section header (with `comment` unless empty) and the interface.
    pub fn new(w: W, comment: &str) -> io::Result<Self> {
        let mut writer = PcapngWriter {
            out: w,
            sessions: HashMap::new(),
            next_session: 0,
            bytes_written: 0,
            block: Vec::new(),
        };
        // Section header block: byte-order magic, version 1.0, unknown section length.
        let mut body = Vec::new();
        body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        if !comment.is_empty() {
            push_option(&mut body, OPT_COMMENT, comment.as_bytes());
        }
        let appl = concat!("rtmpscope ", env!("CARGO_PKG_VERSION"));
        push_option(&mut body, SHB_USERAPPL, appl.as_bytes());
        push_option(&mut body, OPT_ENDOFOPT, &[]);
        writer.write_block(SHB_TYPE, &body)?;
        // Interface description block: raw IP, microsecond timestamps.
        let mut body = Vec::new();
        body.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&SNAPLEN.to_le_bytes());
        push_option(&mut body, IF_NAME, b"rtmpscope-proxy");
        push_option(&mut body, IF_TSRESOL, &[6]);
        push_option(&mut body, OPT_ENDOFOPT, &[]);
        writer.write_block(IDB_TYPE, &body)?;
        Ok(writer)
    }

    /// Starts a session: writes SYN, SYN-ACK and ACK; initial sequence numbers are derived from the session.
    pub fn open_session(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        time: f64,
    ) -> io::Result<SessionId> {
        let n = self.next_session;
        let seed = splitmix64(n ^ (u64::from(client.port()) << 32) ^ u64::from(server.port()));
        self.open_session_with_isn(client, server, time, seed as u32, (seed >> 32) as u32)
    }

    /// Starts a session with chosen initial sequence numbers (for tests of sequence wrap).
    pub fn open_session_with_isn(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        time: f64,
        client_isn: u32,
        server_isn: u32,
    ) -> io::Result<SessionId> {
        let (client, server) = same_family(client, server);
        let id = self.next_session;
        self.next_session += 1;
        let mut s = WriterSession {
            client,
            server,
            next_seq: [client_isn, server_isn],
            unacked: [0, 0],
            closed: [false, false],
            ip_id: (splitmix64(id) & 0xFFFF) as u16,
            last_time: time,
            comments: Vec::new(),
        };
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        self.packet(&mut s, 0, syn, &[], time, None)?;
        s.next_seq[0] = s.next_seq[0].wrapping_add(1);
        let syn_ack = Flags {
            syn: true,
            ack: true,
            ..Flags::default()
        };
        self.packet(&mut s, 1, syn_ack, &[], time, None)?;
        s.next_seq[1] = s.next_seq[1].wrapping_add(1);
        self.packet(&mut s, 0, ack_only(), &[], time, None)?;
        self.sessions.insert(id, s);
        Ok(SessionId(id))
    }

    /// Writes bytes sent in one direction, in segments of at most [`MAX_SEGMENT`] bytes.
    pub fn data(
        &mut self,
        session: SessionId,
        dir: Direction,
        bytes: &[u8],
        time: f64,
    ) -> io::Result<()> {
        let mut s = self
            .sessions
            .remove(&session.0)
            .ok_or_else(unknown_session)?;
        let result = self.data_inner(&mut s, index(dir), bytes, time);
        self.sessions.insert(session.0, s);
        result
    }

    fn data_inner(
        &mut self,
        s: &mut WriterSession,
        d: usize,
        bytes: &[u8],
        time: f64,
    ) -> io::Result<()> {
        if s.closed[d] {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "data in a capture session direction already closed",
            ));
        }
        s.last_time = time;
        let flags = Flags {
            ack: true,
            psh: true,
            ..Flags::default()
        };
        for piece in bytes.chunks(MAX_SEGMENT) {
            self.packet(s, d, flags, piece, time, None)?;
            s.next_seq[d] = s.next_seq[d].wrapping_add(piece.len() as u32);
            s.unacked[d] = s.unacked[d].saturating_add(piece.len() as u32);
            if s.unacked[d] >= ACK_EVERY && !s.closed[1 - d] {
                self.packet(s, 1 - d, ack_only(), &[], time, None)?;
                s.unacked[d] = 0;
            }
        }
        Ok(())
    }

    /// Records that `len` bytes of a direction were not captured: the sequence
    /// numbers skip them and the receiver's acknowledgement carries a comment.
    pub fn gap(
        &mut self,
        session: SessionId,
        dir: Direction,
        len: u64,
        time: f64,
    ) -> io::Result<()> {
        let mut s = self
            .sessions
            .remove(&session.0)
            .ok_or_else(unknown_session)?;
        let d = index(dir);
        s.last_time = time;
        s.next_seq[d] = s.next_seq[d].wrapping_add(len as u32);
        let text = format!(
            "rtmpscope: {len} bytes {} not captured (capture gap)",
            match dir {
                Direction::ClientToServer => "client to server",
                Direction::ServerToClient => "server to client",
            }
        );
        let result = self.packet(&mut s, 1 - d, ack_only(), &[], time, Some(&text));
        s.unacked[d] = 0;
        self.sessions.insert(session.0, s);
        result
    }

    /// Ends a direction with FIN (acknowledged by the other side) or RST.
    pub fn close(
        &mut self,
        session: SessionId,
        dir: Direction,
        reset: bool,
        time: f64,
    ) -> io::Result<()> {
        let mut s = self
            .sessions
            .remove(&session.0)
            .ok_or_else(unknown_session)?;
        let d = index(dir);
        s.last_time = time;
        let result = if s.closed[d] {
            Ok(())
        } else if reset {
            let rst = Flags {
                rst: true,
                ack: true,
                ..Flags::default()
            };
            s.closed[d] = true;
            self.packet(&mut s, d, rst, &[], time, None)
        } else {
            let fin = Flags {
                fin: true,
                ack: true,
                ..Flags::default()
            };
            let r = self.packet(&mut s, d, fin, &[], time, None);
            s.next_seq[d] = s.next_seq[d].wrapping_add(1);
            s.closed[d] = true;
            if r.is_ok() && !s.closed[1 - d] {
                s.unacked[d] = 0;
                self.packet(&mut s, 1 - d, ack_only(), &[], time, None)
            } else {
                r
            }
        };
        if !(s.closed[0] && s.closed[1]) {
            self.sessions.insert(session.0, s);
        }
        result
    }

    /// Attaches a comment (a session fact) to the session's next packet; [`PcapngWriter::flush`]
    /// writes it on an acknowledgement if no packet came by then.
    pub fn comment(&mut self, session: SessionId, text: &str) -> io::Result<()> {
        let s = self
            .sessions
            .get_mut(&session.0)
            .ok_or_else(unknown_session)?;
        if s.comments.len() < 64 {
            s.comments.push(text.to_string());
        }
        Ok(())
    }

    /// Writes comments still waiting for a packet, then flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        let waiting: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.comments.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            if let Some(mut s) = self.sessions.remove(&id) {
                // A closed direction sends nothing more; the comment rides on the other's ACK then.
                let d = if s.closed[0] { 1 } else { 0 };
                let time = s.last_time;
                let result = self.packet(&mut s, d, ack_only(), &[], time, None);
                self.sessions.insert(id, s);
                result?;
            }
        }
        self.out.flush()
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Gives the underlying writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes one TCP segment from direction `d` as an enhanced packet block.
    fn packet(
        &mut self,
        s: &mut WriterSession,
        d: usize,
        flags: Flags,
        payload: &[u8],
        time: f64,
        comment: Option<&str>,
    ) -> io::Result<()> {
        let (src, dst) = if d == 0 {
            (s.client, s.server)
        } else {
            (s.server, s.client)
        };
        let mut tcp = TcpHeader::new(src.port(), dst.port(), s.next_seq[d], WINDOW);
        tcp.syn = flags.syn;
        tcp.fin = flags.fin;
        tcp.rst = flags.rst;
        tcp.psh = flags.psh;
        tcp.ack = flags.ack;
        if flags.ack {
            tcp.acknowledgment_number = s.next_seq[1 - d];
        }
        if flags.syn {
            let options = [
                TcpOptionElement::MaximumSegmentSize(MAX_SEGMENT as u16),
                TcpOptionElement::Noop,
                TcpOptionElement::WindowScale(WINDOW_SCALE),
            ];
            tcp.set_options(&options).map_err(invalid)?;
        }
        // Only the IP and TCP headers are built here; the payload goes to the
        // output straight from the caller's slice (one copy, not three).
        let mut headers = std::mem::take(&mut self.block);
        headers.clear();
        s.ip_id = s.ip_id.wrapping_add(1);
        match (src.ip(), dst.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let tcp_len = u16::try_from(tcp.header_len() + payload.len()).map_err(invalid)?;
                let mut ip = Ipv4Header::new(tcp_len, TTL, ip_number::TCP, a.octets(), b.octets())
                    .map_err(invalid)?;
                ip.identification = s.ip_id;
                ip.dont_fragment = true;
                ip.header_checksum = ip.calc_header_checksum();
                let mut pseudo = [0u8; 12];
                pseudo[..4].copy_from_slice(&a.octets());
                pseudo[4..8].copy_from_slice(&b.octets());
                pseudo[9] = ip_number::TCP.0;
                pseudo[10..].copy_from_slice(&tcp_len.to_be_bytes());
                tcp.checksum = tcp_checksum(&pseudo, &tcp, payload)?;
                ip.write(&mut headers)?;
            }
            (a, b) => {
                let (a, b) = (to_v6(a), to_v6(b));
                let ip = Ipv6Header {
                    traffic_class: 0,
                    flow_label: Ipv6FlowLabel::ZERO,
                    payload_length: u16::try_from(tcp.header_len() + payload.len())
                        .map_err(invalid)?,
                    next_header: ip_number::TCP,
                    hop_limit: TTL,
                    source: a,
                    destination: b,
                };
                let mut pseudo = [0u8; 40];
                pseudo[..16].copy_from_slice(&ip.source);
                pseudo[16..32].copy_from_slice(&ip.destination);
                pseudo[32..36].copy_from_slice(&u32::from(ip.payload_length).to_be_bytes());
                pseudo[39] = ip_number::TCP.0;
                tcp.checksum = tcp_checksum(&pseudo, &tcp, payload)?;
                ip.write(&mut headers)?;
            }
        }
        tcp.write(&mut headers)?;
        let mut comments = std::mem::take(&mut s.comments);
        comments.extend(comment.map(str::to_string));
        let result = self.enhanced_packet(&headers, payload, time, &comments);
        self.block = headers;
        result
    }

    /// Writes an enhanced packet block whose packet is `headers` then `payload`.
    fn enhanced_packet(
        &mut self,
        headers: &[u8],
        payload: &[u8],
        time: f64,
        comments: &[String],
    ) -> io::Result<()> {
        let micros = (time * 1e6).round();
        let ts = if micros.is_finite() && micros > 0.0 {
            micros as u64
        } else {
            0
        };
        let captured = headers.len() + payload.len();
        let len = u32::try_from(captured).map_err(invalid)?;
        let pad = (4 - captured % 4) % 4;
        let mut options = Vec::new();
        if !comments.is_empty() {
            for text in comments {
                push_option(&mut options, OPT_COMMENT, text.as_bytes());
            }
            push_option(&mut options, OPT_ENDOFOPT, &[]);
        }
        // type, total length, interface, timestamp (high, low), captured and original length
        let total = u32::try_from(28 + captured + pad + options.len() + 4).map_err(invalid)?;
        let mut head = [0u8; 28];
        for (i, v) in [EPB_TYPE, total, 0, (ts >> 32) as u32, ts as u32, len, len]
            .into_iter()
            .enumerate()
        {
            head[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        self.out.write_all(&head)?;
        self.out.write_all(headers)?;
        self.out.write_all(payload)?;
        self.out.write_all(&[0u8; 3][..pad])?;
        self.out.write_all(&options)?;
        self.out.write_all(&total.to_le_bytes())?;
        self.bytes_written += u64::from(total);
        Ok(())
    }

    /// Writes a whole block (type, length, body, length) with a single `write_all`.
    fn write_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        let total = u32::try_from(body.len() + 12).map_err(invalid)?;
        let mut block = Vec::with_capacity(body.len() + 12);
        block.extend_from_slice(&block_type.to_le_bytes());
        block.extend_from_slice(&total.to_le_bytes());
        block.extend_from_slice(body);
        block.extend_from_slice(&total.to_le_bytes());
        self.out.write_all(&block)?;
        self.bytes_written += block.len() as u64;
        Ok(())
    }
}

fn ack_only() -> Flags {
    Flags {
        ack: true,
        ..Flags::default()
    }
}

fn invalid<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

/// Appends a pcapng option (code, length, value padded to 32 bits).
/// The TCP checksum (RFC 793, RFC 1071) over the pseudo header, the TCP
/// header (its checksum field taken as zero) and the payload. Sums 32-bit
/// words into a 64-bit accumulator: several times faster than 16-bit steps,
/// and the payload is most of what the proxy writes.
fn tcp_checksum(pseudo: &[u8], tcp: &TcpHeader, payload: &[u8]) -> io::Result<u16> {
    let mut header = tcp.clone();
    header.checksum = 0;
    let mut bytes = Vec::with_capacity(header.header_len());
    header.write(&mut bytes)?;
    let sum = ones_sum(payload, ones_sum(&bytes, ones_sum(pseudo, 0)));
    Ok(!fold(sum))
}

/// Adds `data` as big-endian 16-bit words (odd length: a zero byte after the
/// last) to a ones' complement accumulator. `data` must be of even length
/// except for the last piece summed.
fn ones_sum(data: &[u8], mut acc: u64) -> u64 {
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let mut rest = words.remainder().chunks(2);
    for pair in &mut rest {
        let hi = pair.first().copied().unwrap_or(0);
        let lo = pair.get(1).copied().unwrap_or(0);
        acc += u64::from(u16::from_be_bytes([hi, lo]));
    }
    acc
}

/// Folds the carries of a ones' complement sum into 16 bits.
fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn push_option(body: &mut Vec<u8>, code: u16, value: &[u8]) {
    let value = &value[..value.len().min(0xFFFF)];
    body.extend_from_slice(&code.to_le_bytes());
    body.extend_from_slice(&(value.len() as u16).to_le_bytes());
    body.extend_from_slice(value);
    pad4(body);
}

fn pad4(body: &mut Vec<u8>) {
    while body.len() % 4 != 0 {
        body.push(0);
    }
}

fn to_v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Both endpoints in one family: an IPv4 side of a mixed pair becomes IPv4-mapped IPv6.
fn same_family(client: SocketAddr, server: SocketAddr) -> (SocketAddr, SocketAddr) {
    match (client, server) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) | (SocketAddr::V6(_), SocketAddr::V6(_)) => {
            (client, server)
        }
        _ => (
            SocketAddr::new(IpAddr::V6(to_v6(client.ip()).into()), client.port()),
            SocketAddr::new(IpAddr::V6(to_v6(server.ip()).into()), server.port()),
        ),
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CaptureEvent, CaptureReader, StreamKind};

    #[test]
    fn tcp_checksums_agree_with_etherparse_for_every_length() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in (0..70).chain([1460, 4095, 4096, 65_495]) {
            let payload: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 32) as u8
                })
                .collect();
            let mut tcp = TcpHeader::new(50_000, 1935, x as u32, 4000);
            tcp.ack = true;
            tcp.acknowledgment_number = (x >> 7) as u32;
            let tcp_len = (tcp.header_len() + payload.len()) as u16;
            let v4 =
                Ipv4Header::new(tcp_len, 64, ip_number::TCP, [10, 0, 0, 1], [10, 0, 0, 2]).unwrap();
            let mut pseudo = [0u8; 12];
            pseudo[..4].copy_from_slice(&v4.source);
            pseudo[4..8].copy_from_slice(&v4.destination);
            pseudo[9] = 6;
            pseudo[10..].copy_from_slice(&tcp_len.to_be_bytes());
            assert_eq!(
                tcp_checksum(&pseudo, &tcp, &payload).unwrap(),
                tcp.calc_checksum_ipv4(&v4, &payload).unwrap(),
                "IPv4, {len} bytes"
            );
            let v6 = Ipv6Header {
                traffic_class: 0,
                flow_label: Ipv6FlowLabel::ZERO,
                payload_length: tcp_len,
                next_header: ip_number::TCP,
                hop_limit: 64,
                source: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                destination: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            };
            let mut pseudo = [0u8; 40];
            pseudo[..16].copy_from_slice(&v6.source);
            pseudo[16..32].copy_from_slice(&v6.destination);
            pseudo[32..36].copy_from_slice(&u32::from(tcp_len).to_be_bytes());
            pseudo[39] = 6;
            assert_eq!(
                tcp_checksum(&pseudo, &tcp, &payload).unwrap(),
                tcp.calc_checksum_ipv6(&v6, &payload).unwrap(),
                "IPv6, {len} bytes"
            );
        }
    }

    fn read_all(file: &[u8]) -> Vec<CaptureEvent> {
        CaptureReader::new(file)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }

    #[test]
    fn session_reads_back_with_wrap_and_ipv6() {
        let mut w = PcapngWriter::new(Vec::new(), "test").unwrap();
        let c: SocketAddr = "[2001:db8::1]:50000".parse().unwrap();
        let srv: SocketAddr = "[2001:db8::2]:1935".parse().unwrap();
        let s = w
            .open_session_with_isn(c, srv, 10.0, u32::MAX - 100, 5)
            .unwrap();
        let mut c2s = vec![3u8];
        c2s.extend((0..200_000u32).map(|i| (i % 251) as u8));
        w.data(s, Direction::ClientToServer, &c2s, 10.5).unwrap();
        w.data(s, Direction::ServerToClient, &[3, 1, 2, 3], 10.6)
            .unwrap();
        w.close(s, Direction::ClientToServer, false, 11.0).unwrap();
        w.close(s, Direction::ServerToClient, true, 11.0).unwrap();
        let events = read_all(&w.into_inner());
        let mut got = Vec::new();
        for e in &events {
            match e {
                CaptureEvent::Data {
                    dir: Direction::ClientToServer,
                    bytes,
                    ..
                } => got.extend_from_slice(bytes),
                CaptureEvent::Gap { .. } | CaptureEvent::Warning { .. } => panic!("{e:?}"),
                _ => {}
            }
        }
        assert_eq!(got, c2s);
        assert!(events.contains(&CaptureEvent::Classified {
            conn: 0,
            kind: StreamKind::Rtmp
        }));
        assert!(events.iter().any(|e| matches!(
            e,
            CaptureEvent::Closed {
                dir: Direction::ServerToClient,
                reset: true,
                ..
            }
        )));
        assert!(events.iter().any(|e| matches!(
            e,
            CaptureEvent::Closed {
                dir: Direction::ClientToServer,
                reset: false,
                ..
            }
        )));
    }

    #[test]
    fn gap_is_read_back_as_a_gap() {
        let mut w = PcapngWriter::new(Vec::new(), "").unwrap();
        let s = w
            .open_session(
                "127.0.0.1:4000".parse().unwrap(),
                "127.0.0.1:1935".parse().unwrap(),
                1.0,
            )
            .unwrap();
        let mut c0c1 = vec![3u8];
        c0c1.extend_from_slice(&[7u8; 1536]);
        w.data(s, Direction::ClientToServer, &c0c1, 1.0).unwrap();
        w.gap(s, Direction::ClientToServer, 1000, 1.5).unwrap();
        w.data(s, Direction::ClientToServer, b"after", 2.0).unwrap();
        let events = read_all(&w.into_inner());
        let gaps: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, CaptureEvent::Gap { .. }))
            .collect();
        assert_eq!(gaps.len(), 1);
        assert!(matches!(
            gaps[0],
            CaptureEvent::Gap {
                len: 1000,
                dir: Direction::ClientToServer,
                ..
            }
        ));
        let last_data = events.iter().rev().find_map(|e| match e {
            CaptureEvent::Data { bytes, .. } => Some(bytes.clone()),
            _ => None,
        });
        assert_eq!(last_data.as_deref(), Some(&b"after"[..]));
    }

    #[test]
    fn mixed_families_become_ipv6() {
        let (c, s) = same_family("1.2.3.4:5".parse().unwrap(), "[::1]:6".parse().unwrap());
        assert_eq!(c.to_string(), "[::ffff:1.2.3.4]:5");
        assert_eq!(s.to_string(), "[::1]:6");
    }
}
