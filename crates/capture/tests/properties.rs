//! Properties: no input makes the reader panic or loop, and any segmentation,
//! order and duplication of a stream reassembles to exactly that stream.

mod common;

use common::*;
use proptest::prelude::*;
use rtmpscope_capture::{CaptureReader, PcapngWriter};
use rtmpscope_core::session::Direction;

/// Reads everything, with a bound on the events so that a loop would fail the test.
fn drain(bytes: &[u8]) {
    if let Ok(mut reader) = CaptureReader::new(bytes) {
        let mut n = 0u64;
        while let Ok(Some(_)) = reader.next_event() {
            n += 1;
            assert!(n < 10_000_000, "the reader does not end");
        }
    }
}

fn pcap_header() -> Vec<u8> {
    pcap(LINKTYPE_ETHERNET, &[])
}

/// A small valid pcapng file from the writer, as a base for mutations.
fn written() -> Vec<u8> {
    let mut w = PcapngWriter::new(Vec::new(), "base").unwrap();
    let s = w
        .open_session(
            "10.0.0.1:1000".parse().unwrap(),
            "10.0.0.2:1935".parse().unwrap(),
            5.0,
        )
        .unwrap();
    w.data(s, Direction::ClientToServer, &rtmp_client_bytes(1700), 5.1)
        .unwrap();
    w.data(s, Direction::ServerToClient, &rtmp_client_bytes(300), 5.2)
        .unwrap();
    w.close(s, Direction::ClientToServer, false, 5.3).unwrap();
    w.into_inner()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        drain(&bytes);
    }

    #[test]
    fn arbitrary_records_after_a_pcap_header_never_panic(
        linktype in prop_oneof![Just(0u32), Just(1), Just(101), Just(108), Just(113), Just(276), any::<u32>()],
        body in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut file = pcap_header();
        file[20..24].copy_from_slice(&linktype.to_le_bytes());
        file.extend_from_slice(&body);
        drain(&file);
    }

    #[test]
    fn mutated_pcapng_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut file = written();
        for (at, value) in flips {
            let i = at.index(file.len());
            file[i] = value;
        }
        let len = cut.index(file.len() + 1);
        drain(&file[..len]);
    }

    #[test]
    fn mutated_packets_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..32),
    ) {
        let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 1, 1);
        let mut pkts = c.handshake();
        for chunk in rtmp_client_bytes(5000).chunks(700) {
            pkts.push(c.send(true, chunk));
        }
        let mut file = pcap(LINKTYPE_ETHERNET, &pkts.into_iter().map(|(t, p)| (t, ethernet(&p, &[]))).collect::<Vec<_>>());
        for (at, value) in flips {
            // Leave the file header alone: packets are the target here.
            let i = 24 + at.index(file.len() - 24);
            file[i] = value;
        }
        drain(&file);
    }

    #[test]
    fn any_segmentation_order_and_duplication_reassembles_exactly(
        up_len in 1537usize..20_000,
        down_len in 0usize..5_000,
        client_isn in any::<u32>(),
        server_isn in any::<u32>(),
        cuts in proptest::collection::vec(1usize..3000, 1..40),
        order_seed in any::<u64>(),
        dup_every in 2usize..6,
    ) {
        let up = rtmp_client_bytes(up_len);
        let down: Vec<u8> = (0..down_len).map(|i| if i == 0 { 3 } else { (i * 13) as u8 }).collect();
        let mut c = Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", client_isn, server_isn);
        let mut pkts = c.handshake();
        let first = [c.seq[0], c.seq[1]];
        // Segments of each direction at their own sequence numbers, acknowledging nothing new.
        let mut segs: Vec<(bool, u32, Vec<u8>)> = Vec::new();
        for (from_client, bytes) in [(true, &up), (false, &down)] {
            let d = usize::from(!from_client);
            let mut at = 0usize;
            let mut k = 0usize;
            while at < bytes.len() {
                let n = cuts[k % cuts.len()].min(bytes.len() - at);
                segs.push((from_client, first[d].wrapping_add(at as u32), bytes[at..at + n].to_vec()));
                // Sometimes an overlapping retransmission of this and the next bytes.
                if k % dup_every == 0 {
                    let end = (at + n + 100).min(bytes.len());
                    segs.push((from_client, first[d].wrapping_add(at as u32), bytes[at..end].to_vec()));
                }
                at += n;
                k += 1;
            }
        }
        // Shuffle (Fisher-Yates with a small deterministic generator).
        let mut state = order_seed | 1;
        for i in (1..segs.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            segs.swap(i, (state % (i as u64 + 1)) as usize);
        }
        for (from_client, seq, payload) in &segs {
            let ack = if *from_client { first[1] } else { first[0] };
            let (src, dst) = if *from_client { (c.client, c.server) } else { (c.server, c.client) };
            pkts.push((c.time, tcp_packet(src, dst, *seq, ack, ACK, payload)));
        }
        let file = pcap(LINKTYPE_ETHERNET, &pkts.into_iter().map(|(t, p)| (t, ethernet(&p, &[]))).collect::<Vec<_>>());
        let conns = by_connection(&read_events(&file));
        prop_assert_eq!(conns.len(), 1);
        let conn = &conns[&0];
        prop_assert!(conn.gaps.is_empty(), "gaps {:?}", conn.gaps);
        prop_assert!(conn.c2s == up, "c2s differs ({} of {} bytes)", conn.c2s.len(), up.len());
        prop_assert!(conn.s2c == down, "s2c differs ({} of {} bytes)", conn.s2c.len(), down.len());
    }
}

/// One step of a random conversation for the fast-path property below.
#[derive(Debug, Clone)]
enum Step {
    /// In-order data from one side.
    Send {
        conn: usize,
        from_client: bool,
        len: usize,
    },
    /// Data ahead of the next byte (a hole before it), from one side.
    Ahead {
        conn: usize,
        from_client: bool,
        skip: usize,
        len: usize,
    },
    /// A retransmission of bytes already sent.
    Again {
        conn: usize,
        from_client: bool,
        back: usize,
        len: usize,
    },
    /// A pure ACK acknowledging `ahead` bytes past what the other side sent (lost bytes).
    Ack {
        conn: usize,
        from_client: bool,
        ahead: usize,
    },
    Fin {
        conn: usize,
        from_client: bool,
    },
    Rst {
        conn: usize,
        from_client: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let side = (0usize..2, any::<bool>());
    prop_oneof![
        8 => (side.clone(), 1usize..3000).prop_map(|((conn, from_client), len)| Step::Send { conn, from_client, len }),
        1 => (side.clone(), 1usize..500, 1usize..800).prop_map(|((conn, from_client), skip, len)| Step::Ahead { conn, from_client, skip, len }),
        1 => (side.clone(), 1usize..2000, 1usize..800).prop_map(|((conn, from_client), back, len)| Step::Again { conn, from_client, back, len }),
        2 => (side.clone(), 0usize..3).prop_map(|((conn, from_client), ahead)| Step::Ack { conn, from_client, ahead: ahead * 100 }),
        1 => side.clone().prop_map(|(conn, from_client)| Step::Fin { conn, from_client }),
        1 => side.prop_map(|(conn, from_client)| Step::Rst { conn, from_client }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The reader's fast path for in-order segments of the last connection
    /// gives exactly the events of the general path, whatever the segments:
    /// two interleaved RTMP connections with in-order data, holes,
    /// retransmissions, ACKs past lost bytes, FINs and RSTs.
    #[test]
    fn fast_path_gives_the_general_paths_events(steps in proptest::collection::vec(step(), 1..120)) {
        let mut convs = [
            Conversation::new("10.0.0.1:50000", "10.0.0.2:1935", 1000, 900_000),
            Conversation::new("10.0.0.3:50001", "10.0.0.2:1935", u32::MAX - 5000, 77),
        ];
        let mut pkts = Vec::new();
        let up = rtmp_client_bytes(200_000);
        let mut sent = [[0usize; 2]; 2];
        for c in convs.iter_mut() {
            pkts.extend(c.handshake());
        }
        // The first bytes in order, so that both connections are found to be RTMP.
        for (i, c) in convs.iter_mut().enumerate() {
            pkts.push(c.send(true, &up[..1537]));
            pkts.push(c.send(false, &up[..1537]));
            sent[i] = [1537, 1537];
        }
        for s in steps {
            match s {
                Step::Send { conn, from_client, len } => {
                    let d = usize::from(!from_client);
                    let at = sent[conn][d] % 100_000;
                    pkts.push(convs[conn].send(from_client, &up[at..at + len]));
                    sent[conn][d] += len;
                }
                Step::Ahead { conn, from_client, skip, len } => {
                    let d = usize::from(!from_client);
                    let c = &mut convs[conn];
                    let seq = c.seq[d].wrapping_add(skip as u32);
                    pkts.push(c.at(from_client, seq, ACK, &up[..len]));
                }
                Step::Again { conn, from_client, back, len } => {
                    let d = usize::from(!from_client);
                    let c = &mut convs[conn];
                    let seq = c.seq[d].wrapping_sub(back as u32);
                    pkts.push(c.at(from_client, seq, ACK, &up[..len]));
                }
                Step::Ack { conn, from_client, ahead } => {
                    let d = usize::from(!from_client);
                    let c = &mut convs[conn];
                    let (src, dst) = if from_client { (c.client, c.server) } else { (c.server, c.client) };
                    let ack = c.seq[1 - d].wrapping_add(ahead as u32);
                    pkts.push((c.time, tcp_packet(src, dst, c.seq[d], ack, ACK, &[])));
                }
                Step::Fin { conn, from_client } => pkts.push(convs[conn].fin(from_client)),
                Step::Rst { conn, from_client } => {
                    let d = usize::from(!from_client);
                    let c = &mut convs[conn];
                    let seq = c.seq[d];
                    pkts.push(c.at(from_client, seq, RST, &[]));
                }
            }
        }
        let file = pcap(LINKTYPE_ETHERNET, &pkts.into_iter().map(|(t, p)| (t, ethernet(&p, &[]))).collect::<Vec<_>>());
        let (general, fast) = both_paths(&file);
        prop_assert!(general.len() > 4);
        prop_assert_eq!(general, fast);
    }
}
