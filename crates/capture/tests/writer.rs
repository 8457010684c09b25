//! The proxy's writer: sessions written with PcapngWriter read back exactly
//! with CaptureReader and decode as RTMP in tshark; a file cut anywhere reads
//! back up to its last complete block.

mod common;

use std::fs;
use std::net::SocketAddr;
use std::process::Command;

use common::*;
use rtmpscope_capture::{CaptureEvent, CaptureReader, PcapngWriter, StreamKind};
use rtmpscope_core::session::Direction;

/// The two directions of a connection.
type Streams = (Vec<u8>, Vec<u8>);

fn fixture_streams(name: &str) -> Streams {
    (
        fs::read(fixtures().join(format!("{name}.c2s"))).unwrap(),
        fs::read(fixtures().join(format!("{name}.s2c"))).unwrap(),
    )
}

/// Writes one session the way the proxy sees it: each direction in reads of
/// varying size, interleaved; big reads exceed one segment.
fn write_session(
    w: &mut PcapngWriter<Vec<u8>>,
    client: SocketAddr,
    server: SocketAddr,
    c2s: &[u8],
    s2c: &[u8],
    t0: f64,
) {
    let s = w.open_session(client, server, t0).unwrap();
    w.comment(s, "client via rtmpscope proxy").unwrap();
    let (mut i, mut j, mut t, mut k) = (0usize, 0usize, t0, 0usize);
    let sizes = [1537usize, 1536, 137, 4096, 70_000, 1, 9000];
    while i < c2s.len() || j < s2c.len() {
        let n = sizes[k % sizes.len()];
        k += 1;
        t += 0.001;
        if i < c2s.len() {
            let end = (i + n).min(c2s.len());
            w.data(s, Direction::ClientToServer, &c2s[i..end], t)
                .unwrap();
            i = end;
        }
        if j < s2c.len() {
            let end = (j + n).min(s2c.len());
            w.data(s, Direction::ServerToClient, &s2c[j..end], t)
                .unwrap();
            j = end;
        }
    }
    w.close(s, Direction::ClientToServer, false, t + 0.01)
        .unwrap();
    w.close(s, Direction::ServerToClient, false, t + 0.02)
        .unwrap();
}

fn written_file() -> (Vec<u8>, Vec<Streams>) {
    let mut w = PcapngWriter::new(Vec::new(), "rtmpscope test capture").unwrap();
    let a = fixture_streams("ffmpeg-publish");
    let b = fixture_streams("rtmpdump-play");
    write_session(
        &mut w,
        "127.0.0.1:40000".parse().unwrap(),
        "127.0.0.1:1935".parse().unwrap(),
        &a.0,
        &a.1,
        1_700_000_000.0,
    );
    write_session(
        &mut w,
        "[::1]:40001".parse().unwrap(),
        "[::1]:1935".parse().unwrap(),
        &b.0,
        &b.1,
        1_700_000_010.0,
    );
    w.flush().unwrap();
    (w.into_inner(), vec![a, b])
}

#[test]
fn written_sessions_read_back_exactly() {
    let (file, expected) = written_file();
    let events = read_events(&file);
    assert!(warnings(&events).is_empty());
    let conns = by_connection(&events);
    assert_eq!(conns.len(), 2);
    for (conn, (c2s, s2c)) in conns.values().zip(&expected) {
        assert_eq!(conn.kind, Some(StreamKind::Rtmp));
        assert!(conn.syn_seen);
        assert!(conn.gaps.is_empty());
        assert!(conn.c2s == *c2s && conn.s2c == *s2c);
        assert_eq!(
            conn.closed,
            vec![
                (Direction::ClientToServer, false),
                (Direction::ServerToClient, false)
            ]
        );
    }
    assert_eq!(conns[&1].client.unwrap().to_string(), "[::1]:40001");
}

#[test]
fn file_cut_anywhere_reads_back_its_complete_prefix() {
    let mut w = PcapngWriter::new(Vec::new(), "cut me").unwrap();
    let (c2s, s2c) = fixture_streams("publish-denied");
    write_session(
        &mut w,
        "10.1.1.1:5000".parse().unwrap(),
        "10.1.1.2:1935".parse().unwrap(),
        &c2s,
        &s2c,
        1000.0,
    );
    let file = w.into_inner();
    let full = read_events(&file);
    let full_data: Vec<&CaptureEvent> = full
        .iter()
        .filter(|e| matches!(e, CaptureEvent::Data { .. }))
        .collect();
    for cut in 0..file.len() {
        let prefix = &file[..cut];
        let Ok(reader) = CaptureReader::new(prefix) else {
            assert!(cut < 28, "cut at {cut} not readable");
            continue;
        };
        let events: Vec<CaptureEvent> = reader.collect::<Result<_, _>>().unwrap();
        let w = warnings(&events);
        assert!(w.len() <= 1, "cut {cut}: {w:?}");
        if let Some(m) = w.first() {
            assert!(
                m.starts_with(&format!("capture truncated at byte {cut}")),
                "cut {cut}: {m}"
            );
        }
        // What came out is the beginning of what the whole file gives.
        let conns = by_connection(&events);
        if let Some(conn) = conns.values().next() {
            assert!(
                c2s.starts_with(&conn.c2s) && s2c.starts_with(&conn.s2c),
                "cut {cut}"
            );
            assert!(conn.gaps.is_empty(), "cut {cut}");
        }
        let data: Vec<&CaptureEvent> = events
            .iter()
            .filter(|e| matches!(e, CaptureEvent::Data { .. }))
            .collect();
        assert!(data.len() <= full_data.len());
    }
}

#[test]
fn tshark_decodes_the_rtmp_in_written_files() {
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("skipped: tshark is not installed");
        return;
    }
    let (file, _) = written_file();
    let path = std::env::temp_dir().join(format!("rtmpscope-writer-{}.pcapng", std::process::id()));
    fs::write(&path, &file).unwrap();
    let (types, comments, complaints) = tshark_fields(&path, 1935);
    let _ = fs::remove_file(&path);
    assert!(
        complaints.is_empty(),
        "tshark's TCP analysis complains: {complaints:?}"
    );
    assert_eq!(comments, 2);
    // The same dissector on the original tcpdump captures must see the same messages.
    for (i, name) in ["ffmpeg-publish", "rtmpdump-play"].iter().enumerate() {
        let (orig, _, _) = tshark_fields(&fixtures().join(format!("{name}.pcap")), 19351);
        let (mut want, mut got) = (orig[0].clone(), types[i].clone());
        assert!(
            want.len() > 100,
            "{name}: {} messages in the original",
            want.len()
        );
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "{name}: RTMP message type ids tshark decodes");
    }
}

/// tshark's `rtmpt.header.typeid` values per TCP stream, the number of frames
/// carrying our comment, and the frames its TCP analysis flags.
fn tshark_fields(path: &std::path::Path, port: u16) -> (Vec<Vec<u32>>, usize, Vec<String>) {
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-o",
            "rtmpt.max_packet_size:1048576",
        ])
        .args(["-d", &format!("tcp.port=={port},rtmpt")])
        .args([
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "rtmpt.header.typeid",
            "-e",
            "frame.comment",
            "-e",
            "tcp.analysis.flags",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut types: Vec<Vec<u32>> = Vec::new();
    let mut comments = 0;
    let mut complaints = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let stream: usize = cols[0].parse().unwrap();
        if types.len() <= stream {
            types.resize(stream + 1, Vec::new());
        }
        if let Some(t) = cols.get(1).filter(|t| !t.is_empty()) {
            types[stream].extend(
                t.split(',')
                    .map(|x| u32::from_str_radix(x.trim_start_matches("0x"), 16).unwrap()),
            );
        }
        if cols
            .get(2)
            .is_some_and(|c| c.contains("client via rtmpscope proxy"))
        {
            comments += 1;
        }
        if cols.get(3).is_some_and(|f| !f.is_empty()) {
            complaints.push(line.to_string());
        }
    }
    (types, comments, complaints)
}
