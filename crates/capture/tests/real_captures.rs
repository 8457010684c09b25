//! The real tcpdump captures of tests/fixtures (and the derived files in
//! tests/data): every connection's bytes must equal the streams extracted
//! independently with tshark's `follow,tcp,raw`.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use rtmpscope_capture::{CaptureEvent, CaptureReader, StreamKind};
use rtmpscope_core::session::Direction;

const FIXTURES: [&str; 10] = [
    "ffmpeg-publish",
    "ffmpeg-extts",
    "ffmpeg-crossts",
    "ffmpeg-play",
    "gst-publish",
    "rtmpdump-play",
    "publish-denied",
    "nginx-odd-chunks",
    "ffmpeg-server-publish",
    "ffmpeg-server-play",
];

/// The server port of fixture `name`, from the capture filter its `.md` names.
fn capture_port(name: &str) -> u16 {
    let md = fs::read_to_string(fixtures().join(format!("{name}.md"))).unwrap();
    let (_, rest) = md
        .split_once("capture filter `tcp port ")
        .unwrap_or_else(|| panic!("{name}.md names no capture filter"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

/// The expected (c2s, s2c) of each connection of fixture `name`, in SYN order.
fn expected_streams(name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let dir = fixtures();
    let single = dir.join(format!("{name}.c2s"));
    if single.exists() {
        return vec![(
            fs::read(single).unwrap(),
            fs::read(dir.join(format!("{name}.s2c"))).unwrap(),
        )];
    }
    let mut v = Vec::new();
    for n in 0.. {
        let c2s = dir.join(format!("{name}.{n}.c2s"));
        if !c2s.exists() {
            break;
        }
        v.push((
            fs::read(c2s).unwrap(),
            fs::read(dir.join(format!("{name}.{n}.s2c"))).unwrap(),
        ));
    }
    assert!(!v.is_empty(), "no streams for {name}");
    v
}

/// Reads `capture` and checks each RTMP connection against `expected`, in order.
/// `port` is the server's port; derived captures may move it by 10000s.
fn check_capture(label: &str, capture: &[u8], expected: &[(Vec<u8>, Vec<u8>)], port: u16) {
    let events = read_events(capture);
    assert!(
        warnings(&events).is_empty(),
        "{label}: warnings {:?}",
        warnings(&events)
    );
    let conns = by_connection(&events);
    let rtmp: Vec<&Conn> = conns
        .values()
        .filter(|c| c.kind == Some(StreamKind::Rtmp))
        .collect();
    assert_eq!(rtmp.len(), expected.len(), "{label}: RTMP connections");
    for (i, (conn, (c2s, s2c))) in rtmp.iter().zip(expected).enumerate() {
        assert!(conn.syn_seen, "{label}: connection {i} start");
        assert!(
            conn.gaps.is_empty(),
            "{label}: connection {i} gaps {:?}",
            conn.gaps
        );
        assert_eq!(
            conn.c2s.len(),
            c2s.len(),
            "{label}: connection {i} c2s length"
        );
        assert!(conn.c2s == *c2s, "{label}: connection {i} c2s bytes differ");
        assert_eq!(
            conn.s2c.len(),
            s2c.len(),
            "{label}: connection {i} s2c length"
        );
        assert!(conn.s2c == *s2c, "{label}: connection {i} s2c bytes differ");
        assert_eq!(
            conn.server.unwrap().port() % 10000,
            port % 10000,
            "{label}: server side"
        );
    }
}

#[test]
fn every_fixture_matches_tsharks_streams() {
    for name in FIXTURES {
        let capture = fs::read(fixtures().join(format!("{name}.pcap"))).unwrap();
        check_capture(name, &capture, &expected_streams(name), capture_port(name));
    }
}

#[test]
fn fixture_events_come_in_capture_order() {
    let capture = fs::read(fixtures().join("publish-denied.pcap")).unwrap();
    let events = read_events(&capture);
    // Connection, Classified, then data; times never go backwards within a direction.
    assert!(matches!(
        events[0],
        CaptureEvent::Connection {
            conn: 0,
            syn_seen: true,
            ..
        }
    ));
    assert!(matches!(
        &events[1],
        CaptureEvent::Classified {
            conn: 0,
            kind: StreamKind::Rtmp
        }
    ));
    let mut last = [0.0f64; 2];
    for e in &events {
        if let CaptureEvent::Data { dir, time, .. } = e {
            let i = (*dir == Direction::ServerToClient) as usize;
            assert!(*time >= last[i]);
            last[i] = *time;
        }
    }
    // publish-denied: the server's FIN, then the client's last bytes and the server's RST.
    let conns = by_connection(&events);
    assert_eq!(conns[&0].closed, vec![(Direction::ServerToClient, false)]);
}

#[test]
fn big_endian_pcap_reads_the_same() {
    let le = fs::read(fixtures().join("ffmpeg-publish.pcap")).unwrap();
    check_capture(
        "ffmpeg-publish (big-endian)",
        &pcap_to_big_endian(&le),
        &expected_streams("ffmpeg-publish"),
        capture_port("ffmpeg-publish"),
    );
}

#[test]
fn derived_formats_and_link_types() {
    let denied = expected_streams("publish-denied");
    let port = capture_port("publish-denied");
    for file in [
        "publish-denied.pcapng",
        "publish-denied.nsec.pcap",
        "publish-denied.sll2.pcap",
        "publish-denied.sll.pcap",
        "publish-denied.ipv6.pcap",
    ] {
        let capture = fs::read(data_dir().join(file)).unwrap();
        check_capture(file, &capture, &denied, port);
    }
    let two = fs::read(data_dir().join("two-interfaces.pcapng")).unwrap();
    check_capture(
        "two-interfaces.pcapng",
        &two,
        &[denied[0].clone(), denied[0].clone()],
        port,
    );
}

#[test]
fn ipv6_capture_has_ipv6_endpoints() {
    let capture = fs::read(data_dir().join("publish-denied.ipv6.pcap")).unwrap();
    let conns = by_connection(&read_events(&capture));
    assert_eq!(conns[&0].server.unwrap().to_string(), "[::1]:29351");
}

#[test]
fn nanosecond_and_microsecond_times_agree() {
    let times = |bytes: &[u8]| -> Vec<f64> {
        read_events(bytes)
            .into_iter()
            .filter_map(|e| match e {
                CaptureEvent::Data { time, .. } => Some(time),
                _ => None,
            })
            .collect()
    };
    let us = times(&fs::read(fixtures().join("publish-denied.pcap")).unwrap());
    let ns = times(&fs::read(data_dir().join("publish-denied.nsec.pcap")).unwrap());
    let ng = times(&fs::read(data_dir().join("publish-denied.pcapng")).unwrap());
    assert_eq!(us.len(), ns.len());
    for ((a, b), c) in us.iter().zip(&ns).zip(&ng) {
        assert!((a - b).abs() < 1e-6 && (a - c).abs() < 1e-6, "{a} {b} {c}");
        assert!(*a > 1.7e9, "seconds since the epoch: {a}");
    }
}

#[test]
fn snapshot_length_cuts_become_gaps() {
    let capture = fs::read(data_dir().join("rtmpdump-play.snap200.pcap")).unwrap();
    let expected = expected_streams("rtmpdump-play");
    let events = read_events(&capture);
    let conns = by_connection(&events);
    let conn = conns.values().find(|c| c.kind.is_some()).unwrap();
    assert_eq!(conn.kind, Some(StreamKind::Rtmp));
    assert!(!conn.gaps.is_empty());
    for (dir, want) in [
        (Direction::ClientToServer, &expected[0].0),
        (Direction::ServerToClient, &expected[0].1),
    ] {
        let got = conn.stream(dir);
        assert_eq!(got.len(), want.len(), "{dir:?} length with gaps");
        let mut masked = want.clone();
        for &(d, off, len) in &conn.gaps {
            if d == dir {
                masked[off as usize..(off + len) as usize].fill(0xEE);
            }
        }
        assert!(
            got == masked.as_slice(),
            "{dir:?}: bytes outside the gaps differ"
        );
    }
}

#[test]
fn truncated_capture_warns_and_keeps_the_prefix() {
    let capture = fs::read(fixtures().join("ffmpeg-publish.pcap")).unwrap();
    let (c2s, _) = &expected_streams("ffmpeg-publish")[0];
    for cut in [100, 5_000, 50_000, 100_001, capture.len() - 1] {
        let events = read_events(&capture[..cut]);
        let w = warnings(&events);
        assert_eq!(w.len(), 1, "cut {cut}: {w:?}");
        assert!(
            w[0].starts_with(&format!("capture truncated at byte {cut}")),
            "{}",
            w[0]
        );
        let conns = by_connection(&events);
        if let Some(conn) = conns.values().next() {
            assert!(c2s.starts_with(&conn.c2s), "cut {cut}: c2s is not a prefix");
        }
    }
}

#[test]
fn reader_streams_in_small_reads() {
    /// A reader that returns at most 7 bytes per call.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let capture = fs::read(data_dir().join("publish-denied.pcapng")).unwrap();
    let events: Vec<_> = CaptureReader::new(Trickle(&capture))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events, read_events(&capture));
}

#[test]
fn bytes_read_reaches_the_file_size() {
    let path = fixtures().join("rtmpdump-play.pcap");
    let size = fs::metadata(&path).unwrap().len();
    let mut r = CaptureReader::new(fs::File::open(Path::new(&path)).unwrap()).unwrap();
    let mut last = 0;
    while r.next_event().unwrap().is_some() {
        assert!(r.bytes_read() >= last);
        last = r.bytes_read();
    }
    assert_eq!(r.bytes_read(), size);
}

/// Every real capture of the repository gives the same events through the
/// reader's fast path for in-order segments as through the general path.
#[test]
fn fast_path_gives_the_general_paths_events_on_every_real_capture() {
    let mut files = Vec::new();
    for dir in [fixtures(), fixtures().join("failures"), data_dir()] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 15, "{files:?}");
    let (mut segments, mut joined) = (0, 0);
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let (general, fast) = both_paths(&bytes);
        assert!(!general.is_empty(), "{}", path.display());
        assert!(general == fast, "{}: the paths differ", path.display());
        let data = |events: &[CaptureEvent]| {
            events
                .iter()
                .filter(|e| matches!(e, CaptureEvent::Data { .. }))
                .count()
        };
        segments += data(&general);
        joined += data(&read_events(&bytes));
    }
    // Consecutive segments of a direction are joined: far fewer Data events.
    assert!(
        joined * 3 < segments,
        "{joined} Data events for {segments} segments"
    );
}

/// The reader reuses the memory of data events once nothing holds them:
/// events dropped as soon as they are read and events held to the end must
/// both keep the bytes they were made with, whatever came after them.
#[test]
fn reused_memory_never_changes_an_event_in_hand() {
    let mut all = 0;
    for name in FIXTURES {
        let capture = fs::read(fixtures().join(format!("{name}.pcap"))).unwrap();
        let expected = expected_streams(name);
        let mut streams: std::collections::BTreeMap<u64, (Vec<u8>, Vec<u8>)> = Default::default();
        let mut held = Vec::new();
        let mut data = 0;
        for event in CaptureReader::new(&capture[..]).unwrap() {
            let CaptureEvent::Data {
                conn, dir, bytes, ..
            } = event.unwrap()
            else {
                continue;
            };
            let (c2s, s2c) = streams.entry(conn).or_default();
            match dir {
                Direction::ClientToServer => c2s.extend_from_slice(&bytes),
                Direction::ServerToClient => s2c.extend_from_slice(&bytes),
            }
            data += 1;
            // Every third event is kept with a copy of what it said.
            if data % 3 == 0 {
                held.push((bytes.to_vec(), bytes));
            }
        }
        assert!(data > 0, "{name}: no data events");
        all += data;
        for (i, (copy, bytes)) in held.iter().enumerate() {
            assert!(copy[..] == bytes[..], "{name}: held event {i} changed");
        }
        let got: Vec<_> = streams.into_values().collect();
        assert!(got == expected, "{name}: streams differ");
    }
    // About 1.3 MB of data in 16 KiB join blocks: the reader comes back to
    // its first blocks many times over.
    assert!(all > 400, "{all} data events");
}
