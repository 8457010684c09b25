//! Helpers shared by the integration tests: building captures by hand and
//! collecting a reader's events per connection.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use etherparse::{ip_number, Ipv4Header, Ipv6FlowLabel, Ipv6Header, TcpHeader};
use rtmpscope_capture::{CaptureEvent, CaptureReader, StreamKind};
use rtmpscope_core::session::Direction;

pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_RAW: u32 = 101;

/// The repository's tests/fixtures directory.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// This crate's tests/data directory.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// What a reader said about one connection.
#[derive(Debug, Default, Clone)]
pub struct Conn {
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    pub syn_seen: bool,
    pub kind: Option<StreamKind>,
    pub c2s: Vec<u8>,
    pub s2c: Vec<u8>,
    /// (direction, stream offset, length)
    pub gaps: Vec<(Direction, u64, u64)>,
    pub closed: Vec<(Direction, bool)>,
    pub data_events: usize,
}

impl Conn {
    pub fn stream(&self, dir: Direction) -> &[u8] {
        match dir {
            Direction::ClientToServer => &self.c2s,
            Direction::ServerToClient => &self.s2c,
        }
    }
}

/// Every event of a capture; panics on a reader error.
pub fn read_events(bytes: &[u8]) -> Vec<CaptureEvent> {
    let reader = CaptureReader::new(bytes).expect("a capture");
    reader
        .collect::<Result<Vec<_>, _>>()
        .expect("no read error")
}

/// Every event of a capture read with the fast path off, and the same
/// capture's events with it on, its joined Data events split back into
/// their segments: they must be equal.
pub fn both_paths(bytes: &[u8]) -> (Vec<CaptureEvent>, Vec<CaptureEvent>) {
    let general = CaptureReader::new(bytes)
        .expect("a capture")
        .general_path_only();
    let general = general
        .collect::<Result<Vec<_>, _>>()
        .expect("no read error");
    (general, unjoined(read_events(bytes)))
}

/// The events with each joined Data event split into one per segment, as
/// its `earlier` list says; checks that list on the way.
pub fn unjoined(events: Vec<CaptureEvent>) -> Vec<CaptureEvent> {
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let CaptureEvent::Data {
            conn,
            dir,
            bytes,
            time,
            earlier,
        } = e
        else {
            out.push(e);
            continue;
        };
        let mut start = 0;
        for (end, t) in earlier {
            let end = end as usize;
            assert!(
                end > start && end < bytes.len(),
                "segment end {end} out of order"
            );
            out.push(CaptureEvent::Data {
                conn,
                dir,
                bytes: bytes.slice(start..end),
                time: t,
                earlier: Vec::new(),
            });
            start = end;
        }
        out.push(CaptureEvent::Data {
            conn,
            dir,
            bytes: bytes.slice(start..),
            time,
            earlier: Vec::new(),
        });
    }
    out
}

/// Events grouped per connection, checking the order rules on the way:
/// Connection first, Data/Gap/Closed only after Classified of an RTMP kind.
pub fn by_connection(events: &[CaptureEvent]) -> BTreeMap<u64, Conn> {
    let mut conns: BTreeMap<u64, Conn> = BTreeMap::new();
    for e in events {
        match e {
            CaptureEvent::Connection {
                conn,
                client,
                server,
                syn_seen,
                ..
            } => {
                assert!(
                    !conns.contains_key(conn),
                    "connection {conn} announced twice"
                );
                let c = conns.entry(*conn).or_default();
                c.client = Some(*client);
                c.server = Some(*server);
                c.syn_seen = *syn_seen;
            }
            CaptureEvent::Classified { conn, kind } => {
                let c = conns.get_mut(conn).expect("Classified after Connection");
                assert!(c.kind.is_none(), "classified twice");
                c.kind = Some(kind.clone());
            }
            CaptureEvent::Data {
                conn, dir, bytes, ..
            } => {
                let c = conns.get_mut(conn).expect("Data after Connection");
                assert!(
                    c.kind.as_ref().is_some_and(|k| k.is_rtmp()),
                    "Data before an RTMP classification"
                );
                assert!(!bytes.is_empty(), "empty Data event");
                c.data_events += 1;
                match dir {
                    Direction::ClientToServer => c.c2s.extend_from_slice(bytes),
                    Direction::ServerToClient => c.s2c.extend_from_slice(bytes),
                }
            }
            CaptureEvent::Gap { conn, dir, len, .. } => {
                let c = conns.get_mut(conn).expect("Gap after Connection");
                assert!(
                    c.kind.as_ref().is_some_and(|k| k.is_rtmp()),
                    "Gap before an RTMP classification"
                );
                let s = match dir {
                    Direction::ClientToServer => &mut c.c2s,
                    Direction::ServerToClient => &mut c.s2c,
                };
                c.gaps.push((*dir, s.len() as u64, *len));
                // Fill gaps with a marker so that offsets stay those of the stream.
                s.extend(std::iter::repeat_n(0xEE, *len as usize));
            }
            CaptureEvent::Closed {
                conn, dir, reset, ..
            } => {
                let c = conns.get_mut(conn).expect("Closed after Connection");
                c.closed.push((*dir, *reset));
            }
            CaptureEvent::Warning { .. } => {}
        }
    }
    conns
}

pub fn warnings(events: &[CaptureEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            CaptureEvent::Warning { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// A classic pcap file (little-endian, microseconds) of `packets` (time, frame).
pub fn pcap(linktype: u32, packets: &[(f64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (time, frame) in packets {
        let secs = time.floor();
        out.extend_from_slice(&(secs as u32).to_le_bytes());
        out.extend_from_slice(&(((time - secs) * 1e6).round() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }
    out
}

/// Rewrites a little-endian classic pcap as big-endian.
pub fn pcap_to_big_endian(le: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(le.len());
    let swap32 = |b: &[u8]| [b[3], b[2], b[1], b[0]];
    out.extend_from_slice(&swap32(&le[0..4]));
    out.extend_from_slice(&[le[5], le[4], le[7], le[6]]);
    for i in (8..24).step_by(4) {
        out.extend_from_slice(&swap32(&le[i..i + 4]));
    }
    let mut pos = 24;
    while pos + 16 <= le.len() {
        for i in (0..16).step_by(4) {
            out.extend_from_slice(&swap32(&le[pos + i..pos + i + 4]));
        }
        let caplen = u32::from_le_bytes(le[pos + 8..pos + 12].try_into().unwrap()) as usize;
        out.extend_from_slice(&le[pos + 16..pos + 16 + caplen]);
        pos += 16 + caplen;
    }
    out
}

/// Ethernet frame with zero MACs around an IP packet, with optional VLAN tags (TPID, VID).
pub fn ethernet(ip: &[u8], tags: &[(u16, u16)]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    for (tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    let ethertype: u16 = if ip.first().map(|b| b >> 4) == Some(6) {
        0x86DD
    } else {
        0x0800
    };
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

pub const SYN: Flags = Flags {
    syn: true,
    ack: false,
    fin: false,
    rst: false,
};
pub const SYN_ACK: Flags = Flags {
    syn: true,
    ack: true,
    fin: false,
    rst: false,
};
pub const ACK: Flags = Flags {
    syn: false,
    ack: true,
    fin: false,
    rst: false,
};
pub const FIN_ACK: Flags = Flags {
    syn: false,
    ack: true,
    fin: true,
    rst: false,
};
pub const RST: Flags = Flags {
    syn: false,
    ack: false,
    fin: false,
    rst: true,
};

/// An IPv4 or IPv6 packet carrying one TCP segment (checksums computed).
pub fn tcp_packet(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: Flags,
    payload: &[u8],
) -> Vec<u8> {
    let mut tcp = TcpHeader::new(src.port(), dst.port(), seq, 65535);
    tcp.syn = flags.syn;
    tcp.ack = flags.ack;
    tcp.fin = flags.fin;
    tcp.rst = flags.rst;
    tcp.psh = !payload.is_empty();
    if flags.ack {
        tcp.acknowledgment_number = ack;
    }
    let mut out = Vec::new();
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mut ip = Ipv4Header::new(
                (tcp.header_len() + payload.len()) as u16,
                64,
                ip_number::TCP,
                a.octets(),
                b.octets(),
            )
            .unwrap();
            ip.header_checksum = ip.calc_header_checksum();
            tcp.checksum = tcp.calc_checksum_ipv4(&ip, payload).unwrap();
            ip.write(&mut out).unwrap();
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let ip = Ipv6Header {
                traffic_class: 0,
                flow_label: Ipv6FlowLabel::ZERO,
                payload_length: (tcp.header_len() + payload.len()) as u16,
                next_header: ip_number::TCP,
                hop_limit: 64,
                source: a.octets(),
                destination: b.octets(),
            };
            tcp.checksum = tcp.calc_checksum_ipv6(&ip, payload).unwrap();
            ip.write(&mut out).unwrap();
        }
        _ => panic!("mixed families"),
    }
    tcp.write(&mut out).unwrap();
    out.extend_from_slice(payload);
    out
}

/// Builds the segments of one TCP conversation with consistent numbers.
pub struct Conversation {
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Next sequence number per direction (0 = client).
    pub seq: [u32; 2],
    pub time: f64,
}

impl Conversation {
    pub fn new(client: &str, server: &str, client_isn: u32, server_isn: u32) -> Self {
        Conversation {
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
            seq: [client_isn, server_isn],
            time: 1_700_000_000.0,
        }
    }

    fn tick(&mut self) -> f64 {
        self.time += 0.001;
        self.time
    }

    /// SYN, SYN-ACK, ACK.
    pub fn handshake(&mut self) -> Vec<(f64, Vec<u8>)> {
        let mut v = Vec::new();
        let t = self.tick();
        v.push((
            t,
            tcp_packet(self.client, self.server, self.seq[0], 0, SYN, &[]),
        ));
        self.seq[0] = self.seq[0].wrapping_add(1);
        let t = self.tick();
        v.push((
            t,
            tcp_packet(
                self.server,
                self.client,
                self.seq[1],
                self.seq[0],
                SYN_ACK,
                &[],
            ),
        ));
        self.seq[1] = self.seq[1].wrapping_add(1);
        let t = self.tick();
        v.push((
            t,
            tcp_packet(self.client, self.server, self.seq[0], self.seq[1], ACK, &[]),
        ));
        v
    }

    /// One data segment from the client (`from_client`) or the server, advancing its sequence number.
    pub fn send(&mut self, from_client: bool, payload: &[u8]) -> (f64, Vec<u8>) {
        let d = if from_client { 0 } else { 1 };
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let t = self.tick();
        let p = tcp_packet(src, dst, self.seq[d], self.seq[1 - d], ACK, payload);
        self.seq[d] = self.seq[d].wrapping_add(payload.len() as u32);
        (t, p)
    }

    /// A segment at an explicit sequence number (does not advance).
    pub fn at(
        &mut self,
        from_client: bool,
        seq: u32,
        flags: Flags,
        payload: &[u8],
    ) -> (f64, Vec<u8>) {
        let d = if from_client { 0 } else { 1 };
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let t = self.tick();
        (
            t,
            tcp_packet(src, dst, seq, self.seq[1 - d], flags, payload),
        )
    }

    /// FIN from one side.
    pub fn fin(&mut self, from_client: bool) -> (f64, Vec<u8>) {
        let d = if from_client { 0 } else { 1 };
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let t = self.tick();
        let p = tcp_packet(src, dst, self.seq[d], self.seq[1 - d], FIN_ACK, &[]);
        self.seq[d] = self.seq[d].wrapping_add(1);
        (t, p)
    }
}

/// C0 + C1 of a plain RTMP handshake followed by some chunk bytes.
pub fn rtmp_client_bytes(len: usize) -> Vec<u8> {
    let mut v = vec![3u8];
    v.extend((0..len.saturating_sub(1)).map(|i| (i * 7 + 1) as u8));
    v
}
