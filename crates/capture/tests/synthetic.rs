//! Hand-built captures for what tools do not produce on demand: reordering,
//! retransmissions, losses, sequence wrap, IPv6 extension headers, VLANs,
//! captures starting mid-stream, RTMPT, non-RTMP connections, IP fragments,
//! pcapng details and damaged files.

mod common;

use common::*;
use rtmpscope_capture::{CaptureError, CaptureEvent, CaptureReader, StreamKind};
use rtmpscope_core::session::Direction;

fn eth(packets: Vec<(f64, Vec<u8>)>) -> Vec<u8> {
    let frames: Vec<(f64, Vec<u8>)> = packets
        .into_iter()
        .map(|(t, p)| (t, ethernet(&p, &[])))
        .collect();
    pcap(LINKTYPE_ETHERNET, &frames)
}

fn only_conn(events: &[CaptureEvent]) -> Conn {
    let conns = by_connection(events);
    assert_eq!(conns.len(), 1, "{conns:?}");
    conns.into_values().next().unwrap()
}

#[test]
fn out_of_order_and_retransmitted_segments() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:19350", 1000, 5000);
    let stream = rtmp_client_bytes(6000);
    let mut pkts = c.handshake();
    let base = c.seq[0];
    let segs: Vec<_> = stream.chunks(1000).map(|p| p.to_vec()).collect();
    let mut data = Vec::new();
    for s in &segs {
        data.push(c.send(true, s));
    }
    // Order: 0, 2, 1, 1 again, 4, 3, 5, 0 again.
    for i in [0, 2, 1, 1, 4, 3, 5, 0] {
        pkts.push(data[i].clone());
    }
    // An overlapping retransmission with different bytes in the overlap: the first copy wins.
    let bogus = vec![0xAA; 1500];
    pkts.push(c.at(true, base.wrapping_add(500), ACK, &bogus));
    let conn = only_conn(&read_events(&eth(pkts)));
    assert_eq!(conn.kind, Some(StreamKind::Rtmp));
    assert!(conn.gaps.is_empty());
    assert_eq!(conn.c2s, stream);
}

#[test]
fn lost_segment_becomes_a_gap_of_its_length() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 7, 9);
    let stream = rtmp_client_bytes(4000);
    let mut pkts = c.handshake();
    pkts.push(c.send(true, &stream[..1537]));
    let lost = c.send(true, &stream[1537..2000]);
    drop(lost);
    pkts.push(c.send(true, &stream[2000..3000]));
    // The server acknowledges everything: the hole was delivered but not captured.
    pkts.push(c.send(false, &[3u8; 10]));
    pkts.push(c.send(true, &stream[3000..]));
    let events = read_events(&eth(pkts));
    let conn = only_conn(&events);
    assert_eq!(conn.gaps, vec![(Direction::ClientToServer, 1537, 463)]);
    let mut want = stream.clone();
    want[1537..2000].fill(0xEE);
    assert_eq!(conn.c2s, want);
    // The gap comes out as soon as the acknowledgement proves the loss, before the last segment.
    let gap_at = events
        .iter()
        .position(|e| matches!(e, CaptureEvent::Gap { .. }))
        .unwrap();
    let last_data = events
        .iter()
        .rposition(|e| {
            matches!(
                e,
                CaptureEvent::Data {
                    dir: Direction::ClientToServer,
                    ..
                }
            )
        })
        .unwrap();
    assert!(gap_at < last_data);
}

#[test]
fn lost_segment_without_acknowledgement_is_a_gap_at_the_end() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 7, 9);
    let stream = rtmp_client_bytes(3000);
    let mut pkts = c.handshake();
    pkts.push(c.send(true, &stream[..1600]));
    let _lost = c.send(true, &stream[1600..2000]);
    pkts.push(c.at(true, c.seq[0], ACK, &stream[2000..]));
    let conn = only_conn(&read_events(&eth(pkts)));
    assert_eq!(conn.gaps, vec![(Direction::ClientToServer, 1600, 400)]);
    assert_eq!(conn.c2s.len(), 3000);
}

#[test]
fn sequence_numbers_wrap() {
    let mut c = Conversation::new(
        "10.0.0.1:50000",
        "10.0.0.2:1935",
        u32::MAX - 700,
        u32::MAX - 3,
    );
    let up = rtmp_client_bytes(5000);
    let down = rtmp_client_bytes(3000);
    let mut pkts = c.handshake();
    for (i, p) in up.chunks(333).enumerate() {
        pkts.push(c.send(true, p));
        if let Some(d) = down.chunks(250).nth(i) {
            pkts.push(c.send(false, d));
        }
    }
    let fin = c.fin(true);
    pkts.push(fin);
    let conn = only_conn(&read_events(&eth(pkts)));
    assert_eq!(conn.c2s, up);
    assert_eq!(conn.s2c, down);
    assert_eq!(conn.closed, vec![(Direction::ClientToServer, false)]);
}

#[test]
fn ipv6_with_extension_headers() {
    let mut c = Conversation::new("[2001:db8::1]:50000", "[2001:db8::2]:1935", 1, 1);
    let stream = rtmp_client_bytes(2000);
    let mut pkts = c.handshake();
    pkts.push(c.send(true, &stream));
    // Insert a hop-by-hop options header (8 bytes of PadN) into every packet.
    let pkts = pkts
        .into_iter()
        .map(|(t, p)| {
            let mut q = p[..40].to_vec();
            q[6] = 0; // next header: hop-by-hop
            let plen = u16::from_be_bytes([p[4], p[5]]) + 8;
            q[4..6].copy_from_slice(&plen.to_be_bytes());
            q.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // next: TCP; PadN
            q.extend_from_slice(&p[40..]);
            (t, q)
        })
        .collect();
    let conn = only_conn(&read_events(&eth(pkts)));
    assert_eq!(conn.client.unwrap().to_string(), "[2001:db8::1]:50000");
    assert_eq!(conn.c2s, stream);
}

#[test]
fn vlan_and_qinq_tags() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 1, 1);
    let stream = rtmp_client_bytes(2000);
    let mut pkts = c.handshake();
    pkts.push(c.send(true, &stream[..1000]));
    pkts.push(c.send(true, &stream[1000..]));
    let frames: Vec<_> = pkts
        .into_iter()
        .enumerate()
        .map(|(i, (t, p))| {
            let tags: &[(u16, u16)] = if i % 2 == 0 {
                &[(0x8100, 10)]
            } else {
                &[(0x88A8, 100), (0x8100, 10)]
            };
            (t, ethernet(&p, tags))
        })
        .collect();
    let conn = only_conn(&read_events(&pcap(LINKTYPE_ETHERNET, &frames)));
    assert_eq!(conn.c2s, stream);
}

/// A publisher's chunk stream from the middle: audio messages on csid 4 (fmt 1, then fmt 1 again).
fn mid_stream_bytes() -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..20u8 {
        v.extend_from_slice(&[0x44, 0, 0, 23, 0, 0, 6, 8, 0xAF, 1, i, i, i, i]);
    }
    v
}

#[test]
fn capture_starting_mid_stream() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:19350", 123_456, 654_321);
    let stream = mid_stream_bytes();
    // No handshake; the first segment starts at a chunk boundary; then the server acks.
    let pkts = vec![
        c.send(true, &stream[..140]),
        c.send(false, &[]),
        c.send(true, &stream[140..]),
    ];
    let events = read_events(&eth(pkts));
    let conn = only_conn(&events);
    assert!(!conn.syn_seen);
    assert_eq!(conn.kind, Some(StreamKind::RtmpMidStream));
    assert!(
        conn.gaps.is_empty(),
        "a capture starting mid-stream is not a gap"
    );
    assert_eq!(conn.c2s, stream);
    assert_eq!(
        conn.server.unwrap().port(),
        19350,
        "the lower, known port is the server"
    );
}

#[test]
fn mid_stream_inside_a_message_on_the_rtmp_port() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 5, 5);
    let junk: Vec<u8> = (0..3000u32).map(|i| (i * 31 + 7) as u8 | 0xC0).collect();
    let conn = only_conn(&read_events(&eth(vec![c.send(true, &junk)])));
    assert_eq!(conn.kind, Some(StreamKind::RtmpMidStream));
    assert_eq!(conn.c2s, junk);
}

#[test]
fn rtmpt_is_detunnelled() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:80", 1, 1);
    let c0c1 = rtmp_client_bytes(1537);
    let s0s1s2 = {
        let mut v = vec![3u8];
        v.extend(std::iter::repeat_n(0x42, 3072));
        v
    };
    let mut pkts = c.handshake();
    pkts.push(c.send(true, b"POST /fcs/ident2 HTTP/1.1\r\nContent-Type: application/x-fcs\r\nContent-Length: 1\r\n\r\n\n"));
    pkts.push(c.send(
        false,
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    ));
    pkts.push(c.send(
        true,
        b"POST /open/1 HTTP/1.1\r\nContent-Type: application/x-fcs\r\nContent-Length: 1\r\n\r\n\0",
    ));
    pkts.push(c.send(false, b"HTTP/1.1 200 OK\r\nContent-Type: application/x-fcs\r\nContent-Length: 9\r\n\r\n12345678\n"));
    let mut send = format!("POST /send/12345678/1 HTTP/1.1\r\nContent-Type: application/x-fcs\r\nContent-Length: {}\r\n\r\n", c0c1.len()).into_bytes();
    send.extend_from_slice(&c0c1);
    // Split the request across segments, mid-header and mid-body.
    pkts.push(c.send(true, &send[..30]));
    pkts.push(c.send(true, &send[30..500]));
    pkts.push(c.send(true, &send[500..]));
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-fcs\r\nContent-Length: {}\r\n\r\n\x01",
        s0s1s2.len() + 1
    )
    .into_bytes();
    resp.extend_from_slice(&s0s1s2);
    pkts.push(c.send(false, &resp));
    pkts.push(c.send(
        true,
        b"POST /idle/12345678/2 HTTP/1.1\r\nContent-Length: 1\r\n\r\n\0",
    ));
    pkts.push(c.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n\x05"));
    let conn = only_conn(&read_events(&eth(pkts)));
    assert_eq!(conn.kind, Some(StreamKind::Rtmpt));
    assert_eq!(conn.c2s, c0c1);
    assert_eq!(conn.s2c, s0s1s2);
}

#[test]
fn http_and_tls_connections_are_listed_and_skipped() {
    let mut http = Conversation::new("10.0.0.1:50001", "10.0.0.2:1935", 1, 1);
    let mut tls = Conversation::new("10.0.0.1:50002", "10.0.0.2:443", 1, 1);
    let mut pkts = http.handshake();
    pkts.push(http.send(true, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"));
    pkts.push(http.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"));
    pkts.extend(tls.handshake());
    pkts.push(tls.send(true, &[0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]));
    let events = read_events(&eth(pkts));
    let conns = by_connection(&events);
    assert_eq!(conns[&0].kind, Some(StreamKind::Other("HTTP".into())));
    assert_eq!(conns[&1].kind, Some(StreamKind::Other("TLS".into())));
    assert_eq!(conns[&0].data_events + conns[&1].data_events, 0);
}

#[test]
fn connection_without_data_is_classified_at_the_end() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 1, 1);
    let mut pkts = c.handshake();
    pkts.push(c.at(false, c.seq[1], RST, &[]));
    let conn = only_conn(&read_events(&eth(pkts)));
    assert_eq!(conn.kind, Some(StreamKind::Other("no data".into())));
}

#[test]
fn headers_only_capture_is_named() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 1, 1);
    let mut pkts = c.handshake();
    pkts.push(c.send(true, &rtmp_client_bytes(1537)));
    pkts.push(c.send(false, &rtmp_client_bytes(3073)));
    // tcpdump -s 54: Ethernet, IPv4 and TCP headers only.
    let frames: Vec<_> = pkts
        .into_iter()
        .map(|(t, p)| (t, ethernet(&p, &[])[..54].to_vec()))
        .collect();
    let events = read_events(&pcap(LINKTYPE_ETHERNET, &frames));
    assert!(warnings(&events).is_empty());
    let conn = only_conn(&events);
    assert_eq!(
        conn.kind,
        Some(StreamKind::Other("payload not captured".into()))
    );
}

#[test]
fn port_reuse_after_close_is_a_new_connection() {
    let stream = rtmp_client_bytes(1600);
    let mut a = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 100, 200);
    let mut pkts = a.handshake();
    pkts.push(a.send(true, &stream));
    pkts.push(a.fin(true));
    pkts.push(a.fin(false));
    let mut b = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 90_000, 80_000);
    b.time = a.time;
    pkts.extend(b.handshake());
    pkts.push(b.send(true, &stream[..1537]));
    let conns = by_connection(&read_events(&eth(pkts)));
    assert_eq!(conns.len(), 2);
    assert_eq!(conns[&0].c2s, stream);
    assert_eq!(conns[&1].c2s, &stream[..1537]);
}

#[test]
fn ipv4_fragments_are_reassembled() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 1, 1);
    let stream = rtmp_client_bytes(3000);
    let mut pkts = c.handshake();
    let (t, whole) = c.send(true, &stream);
    // Split the IP payload into 1480-byte fragments, sent last first.
    let payload = &whole[20..];
    let mut frags = Vec::new();
    for (i, piece) in payload.chunks(1480).enumerate() {
        let mut h = etherparse::Ipv4Header::new(
            piece.len() as u16,
            64,
            etherparse::ip_number::TCP,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
        )
        .unwrap();
        h.identification = 4242;
        h.more_fragments = (i + 1) * 1480 < payload.len();
        h.fragment_offset = etherparse::IpFragOffset::try_new((i * 1480 / 8) as u16).unwrap();
        h.header_checksum = h.calc_header_checksum();
        let mut p = Vec::new();
        h.write(&mut p).unwrap();
        p.extend_from_slice(piece);
        frags.push((t, p));
    }
    frags.reverse();
    pkts.extend(frags);
    let conn = only_conn(&read_events(&eth(pkts)));
    assert_eq!(conn.c2s, stream);
}

#[test]
fn raw_ip_and_null_link_types() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 1, 1);
    let stream = rtmp_client_bytes(1600);
    let mut pkts = c.handshake();
    pkts.push(c.send(true, &stream));
    let raw = pcap(LINKTYPE_RAW, &pkts);
    assert_eq!(only_conn(&read_events(&raw)).c2s, stream);
    let null: Vec<_> = pkts
        .iter()
        .map(|(t, p)| (*t, [&2u32.to_le_bytes()[..], p].concat()))
        .collect();
    assert_eq!(only_conn(&read_events(&pcap(0, &null))).c2s, stream);
    let lo: Vec<_> = pkts
        .iter()
        .map(|(t, p)| (*t, [&2u32.to_be_bytes()[..], p].concat()))
        .collect();
    assert_eq!(only_conn(&read_events(&pcap(108, &lo))).c2s, stream);
}

#[test]
fn unsupported_link_type_warns_once() {
    let frames = vec![(1.0, vec![0u8; 40]), (2.0, vec![0u8; 40])];
    let events = read_events(&pcap(147, &frames));
    let w = warnings(&events);
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("link type 147 is not supported"), "{}", w[0]);
}

/// Minimal pcapng writer for tests: blocks in little-endian.
fn block(t: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let len = (body.len() + 12) as u32;
    [
        &t.to_le_bytes()[..],
        &len.to_le_bytes(),
        &body,
        &len.to_le_bytes(),
    ]
    .concat()
}

fn option(code: u16, value: &[u8]) -> Vec<u8> {
    let mut v = [
        &code.to_le_bytes()[..],
        &(value.len() as u16).to_le_bytes(),
        value,
    ]
    .concat();
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

fn shb() -> Vec<u8> {
    let body = [
        &0x1A2B_3C4Du32.to_le_bytes()[..],
        &1u16.to_le_bytes(),
        &0u16.to_le_bytes(),
        &(-1i64).to_le_bytes(),
        &option(1, b"a comment"),
        &option(0, b""),
    ]
    .concat();
    block(0x0A0D_0D0A, &body)
}

fn idb(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = [
        &linktype.to_le_bytes()[..],
        &0u16.to_le_bytes(),
        &0u32.to_le_bytes(),
    ]
    .concat();
    if let Some(r) = tsresol {
        body.extend(option(9, &[r]));
        body.extend(option(0, b""));
    }
    block(1, &body)
}

fn epb(if_id: u32, ts: u64, data: &[u8], comment: Option<&str>) -> Vec<u8> {
    let mut body = [
        &if_id.to_le_bytes()[..],
        &((ts >> 32) as u32).to_le_bytes(),
        &(ts as u32).to_le_bytes(),
        &(data.len() as u32).to_le_bytes(),
        &(data.len() as u32).to_le_bytes(),
        data,
    ]
    .concat();
    while body.len() % 4 != 0 {
        body.push(0);
    }
    if let Some(c) = comment {
        body.extend(option(1, c.as_bytes()));
        body.extend(option(0, b""));
    }
    block(6, &body)
}

#[test]
fn pcapng_interfaces_resolutions_and_other_blocks() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 1, 1);
    let stream = rtmp_client_bytes(2000);
    let mut pkts = c.handshake();
    pkts.push(c.send(true, &stream[..1000]));
    pkts.push(c.send(true, &stream[1000..]));
    let mut file = shb();
    file.extend(idb(1, None)); // interface 0: Ethernet, microseconds
    file.extend(idb(101, Some(9))); // interface 1: raw IP, nanoseconds
    file.extend(idb(101, Some(0x80 | 20))); // interface 2: raw IP, 2^-20 s
    file.extend(block(4, &[0, 0, 0, 0])); // name resolution block, empty
    let t0 = 1_700_000_000u64;
    file.extend(epb(
        0,
        t0 * 1_000_000 + 1,
        &ethernet(&pkts[0].1, &[]),
        Some("the SYN"),
    ));
    file.extend(epb(1, t0 * 1_000_000_000 + 2_000, &pkts[1].1, None));
    file.extend(epb(2, (t0 << 20) + (3 << 20) / 1000, &pkts[2].1, None));
    // A simple packet block belongs to interface 0.
    let frame = ethernet(&pkts[3].1, &[]);
    file.extend(block(
        3,
        &[&(frame.len() as u32).to_le_bytes()[..], &frame].concat(),
    ));
    file.extend(block(5, &[0u8; 20])); // interface statistics block
    file.extend(epb(1, (t0 + 1) * 1_000_000_000, &pkts[4].1, None));
    let events = read_events(&file);
    assert!(warnings(&events).is_empty(), "{:?}", warnings(&events));
    let conn = only_conn(&events);
    assert_eq!(conn.c2s, stream);
    let times: Vec<f64> = events
        .iter()
        .filter_map(|e| match e {
            CaptureEvent::Connection { time, .. } | CaptureEvent::Data { time, .. } => Some(*time),
            _ => None,
        })
        .collect();
    let t0 = t0 as f64;
    assert!((times[0] - (t0 + 1e-6)).abs() < 1e-6, "{times:?}");
    assert!(
        (times.last().unwrap() - (t0 + 1.0)).abs() < 1e-6,
        "{times:?}"
    );
}

#[test]
fn pcapng_packet_on_undescribed_interface_warns() {
    let mut file = shb();
    file.extend(idb(1, None));
    file.extend(epb(3, 0, &[0u8; 60], None));
    let events = read_events(&file);
    let w = warnings(&events);
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("interface 3 was never described"), "{}", w[0]);
}

#[test]
fn corrupt_record_length_stops_with_a_warning() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 1, 1);
    let stream = rtmp_client_bytes(1600);
    let mut pkts = c.handshake();
    pkts.push(c.send(true, &stream));
    let mut file = eth(pkts);
    let good = file.len();
    file.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0]);
    file.extend_from_slice(&[0u8; 64]);
    let events = read_events(&file);
    let w = warnings(&events);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(&format!("at byte {good}")) && w[0].contains("corrupt"),
        "{}",
        w[0]
    );
    assert_eq!(only_conn(&events).c2s, stream);
    let offsets: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            CaptureEvent::Warning { offset, .. } => Some(*offset),
            _ => None,
        })
        .collect();
    assert_eq!(offsets, vec![good as u64]);
}

#[test]
fn bad_ip_header_warns_and_goes_on() {
    let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 1, 1);
    let stream = rtmp_client_bytes(1600);
    let mut pkts = c.handshake();
    pkts.insert(1, (1.0, vec![0x41, 0, 0, 0]));
    pkts.push(c.send(true, &stream));
    let events = read_events(&eth(pkts));
    let warn: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            CaptureEvent::Warning {
                packet,
                offset,
                message,
            } => Some((*packet, *offset, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(warn.len(), 1);
    assert_eq!(warn[0].0, 2, "packet number");
    assert!(warn[0].2.contains("bad IP header"), "{}", warn[0].2);
    assert_eq!(only_conn(&events).c2s, stream);
}

#[test]
fn not_a_capture_errors_name_the_file_kind() {
    let err = |b: &[u8]| {
        CaptureReader::new(b)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(err(b"{\"kind\":\"session\"}")
        .starts_with("not a pcap/pcapng file: first bytes 7b 22 6b 69 6e 64 22 3a"));
    assert!(err(b"\0\0\0\x18ftypmp42").contains("MP4"));
    assert!(matches!(
        CaptureReader::new(&b"FLV\x01"[..]),
        Err(CaptureError::NotACapture(_))
    ));
}

#[test]
fn many_connections_are_all_reported_with_bounded_tracking() {
    // 6000 connections (more than are tracked at once), each opened and sending C0+C1.
    let mut pkts = Vec::new();
    let c0c1 = rtmp_client_bytes(1537);
    for i in 0..6000u32 {
        let client = format!("10.{}.{}.1:{}", i / 250, i % 250, 40000 + i % 1000);
        let mut c = Conversation::new(&client, "10.0.0.2:1935", i, i);
        pkts.extend(c.handshake());
        pkts.push(c.send(true, &c0c1));
    }
    let events = read_events(&eth(pkts));
    let conns = by_connection(&events);
    assert_eq!(conns.len(), 6000);
    assert!(conns
        .values()
        .all(|c| c.kind == Some(StreamKind::Rtmp) && c.c2s == c0c1));
}
