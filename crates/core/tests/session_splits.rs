//! A session fed the same real bytes in one piece or in random splits yields
//! identical events; handshake edge cases are reported, not fatal.

use std::path::Path;

use bytes::Bytes;
use proptest::prelude::*;
use rtmpscope_core::session::{Direction, Event, Session};

fn read(name: &str) -> Bytes {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name);
    Bytes::from(std::fs::read(p).unwrap())
}

/// Feeds the handshakes in protocol order, then each direction in the given
/// pieces (as [`feed_cut`] does, all at one time).
fn run(c2s: &Bytes, s2c: &Bytes, c_cuts: &[usize], s_cuts: &[usize]) -> Vec<Event> {
    let mut s = Session::new();
    let mut out = Vec::new();
    let (client, server) = (Direction::ClientToServer, Direction::ServerToClient);
    feed_cut(
        &mut s,
        server,
        &s2c.slice(..3073),
        &[],
        &[],
        false,
        &mut out,
    );
    feed_cut(&mut s, client, c2s, c_cuts, &[], false, &mut out);
    feed_cut(
        &mut s,
        server,
        &s2c.slice(3073..),
        s_cuts,
        &[],
        false,
        &mut out,
    );
    s.finish(&mut out);
    out
}

fn cuts(v: Vec<prop::sample::Index>, len: usize) -> Vec<usize> {
    let mut c: Vec<usize> = v.into_iter().map(|i| i.index(len + 1)).collect();
    c.sort_unstable();
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn any_split_of_a_real_session_gives_identical_events(
        name in prop::sample::select(&["ffmpeg-publish", "gst-publish", "rtmpdump-play", "publish-denied"][..]),
        c in prop::collection::vec(any::<prop::sample::Index>(), 0..200),
        s in prop::collection::vec(any::<prop::sample::Index>(), 0..50),
    ) {
        let c2s = read(&format!("{name}.c2s"));
        let s2c = read(&format!("{name}.s2c"));
        let whole = run(&c2s, &s2c, &[], &[]);
        let split = run(&c2s, &s2c, &cuts(c, c2s.len()), &cuts(s, s2c.len() - 3073));
        prop_assert_eq!(whole.len(), split.len());
        if let Some(i) = (0..whole.len()).find(|&i| whole[i] != split[i]) {
            prop_assert!(false, "event {} differs:\n{:?}\n{:?}", i, whole[i], split[i]);
        }
    }
}

/// Feeds `data` in `dir` cut at `cuts` into segments, segment `k` captured at
/// `100 + k` seconds (or all at 1.5 s unless `timed`): one by one when
/// `joins` is empty, else joined into runs (`joins[k]`: segment `k` is joined
/// to the next) given to `feed_segments` with their segments' ends and times.
fn feed_cut(
    s: &mut Session,
    dir: Direction,
    data: &Bytes,
    cuts: &[usize],
    joins: &[bool],
    timed: bool,
    out: &mut Vec<Event>,
) {
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(data.len())).collect();
    ends.push(data.len());
    let mut run_start = 0;
    let mut earlier: Vec<(u32, f64)> = Vec::new();
    for (k, &end) in ends.iter().enumerate() {
        let time = if timed { 100.0 + k as f64 } else { 1.5 };
        if joins.get(k).copied().unwrap_or(false) && k + 1 < ends.len() {
            earlier.push(((end - run_start) as u32, time));
            continue;
        }
        let piece = data.slice(run_start..end.max(run_start));
        s.feed_segments(dir, piece, &earlier, time, out);
        earlier.clear();
        run_start = end.max(run_start);
    }
}

/// Feeds the handshakes, then the client's bytes cut as [`feed_cut`] says,
/// then the rest of the server's.
fn run_timed(c2s: &Bytes, s2c: &Bytes, cuts: &[usize], joins: &[bool]) -> Vec<Event> {
    let mut s = Session::new();
    let mut out = Vec::new();
    let s2c_time = 50.0;
    s.feed(
        Direction::ServerToClient,
        s2c.slice(..3073),
        s2c_time,
        &mut out,
    );
    feed_cut(
        &mut s,
        Direction::ClientToServer,
        c2s,
        cuts,
        joins,
        true,
        &mut out,
    );
    s.feed(
        Direction::ServerToClient,
        s2c.slice(3073..),
        s2c_time,
        &mut out,
    );
    s.finish(&mut out);
    out
}

/// A capture that started mid-stream: a mid-stream session fed `data` cut
/// as [`feed_cut`] says.
fn run_mid(data: &Bytes, cuts: &[usize], joins: &[bool], timed: bool) -> Vec<Event> {
    let mut s = Session::mid_stream();
    let mut out = Vec::new();
    feed_cut(
        &mut s,
        Direction::ClientToServer,
        data,
        cuts,
        joins,
        timed,
        &mut out,
    );
    s.finish(&mut out);
    out
}

fn assert_same(one_by_one: &[Event], joined: &[Event]) -> Result<(), TestCaseError> {
    prop_assert_eq!(one_by_one.len(), joined.len());
    if let Some(i) = (0..joined.len()).find(|&i| one_by_one[i] != joined[i]) {
        prop_assert!(
            false,
            "event {} differs:\n{:?}\n{:?}",
            i,
            one_by_one[i],
            joined[i]
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Segments joined give the events, and the times, of segments fed one by one.
    #[test]
    fn joined_segments_give_the_events_and_times_of_single_ones(
        name in prop::sample::select(&["ffmpeg-publish", "gst-publish", "rtmpdump-play", "publish-denied"][..]),
        c in prop::collection::vec(any::<prop::sample::Index>(), 1..300),
        joins in prop::collection::vec(any::<bool>(), 300),
    ) {
        let c2s = read(&format!("{name}.c2s"));
        let s2c = read(&format!("{name}.s2c"));
        let cuts = cuts(c, c2s.len());
        let single = run_timed(&c2s, &s2c, &cuts, &[]);
        let joined = run_timed(&c2s, &s2c, &cuts, &joins);
        assert_same(&single, &joined)?;
        // The times are the segments' own: not all the same.
        let times: std::collections::BTreeSet<u64> = single
            .iter()
            .filter_map(|e| match e { Event::Message(m) => Some(m.time as u64), _ => None })
            .collect();
        prop_assert!(times.len() > 1 || cuts.len() < 2);
    }

    /// A session whose capture started anywhere in the stream (the chunk
    /// size guessed, the first header found by resynchronising): any split
    /// gives the events of one piece, and joined segments those of single ones.
    #[test]
    fn mid_stream_sessions_give_the_same_events_however_cut_or_joined(
        name in prop::sample::select(&["ffmpeg-publish", "gst-publish", "rtmpdump-play", "publish-denied"][..]),
        from in any::<prop::sample::Index>(),
        c in prop::collection::vec(any::<prop::sample::Index>(), 1..300),
        joins in prop::collection::vec(any::<bool>(), 300),
    ) {
        let c2s = read(&format!("{name}.c2s"));
        let data = c2s.slice(3073 + from.index(c2s.len() - 3073)..);
        let cuts = cuts(c, data.len());
        let whole = run_mid(&data, &[], &[], false);
        assert_same(&whole, &run_mid(&data, &cuts, &[], false))?;
        let single = run_mid(&data, &cuts, &[], true);
        assert_same(&single, &run_mid(&data, &cuts, &joins, true))?;
    }

    /// The same with damaged bytes in the chunk stream, so that errors, notes
    /// and resynchronisation are timed too.
    #[test]
    fn joined_segments_time_errors_as_single_ones(
        c in prop::collection::vec(any::<prop::sample::Index>(), 1..300),
        joins in prop::collection::vec(any::<bool>(), 300),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..40),
    ) {
        let c2s = read("ffmpeg-publish.c2s");
        let s2c = read("ffmpeg-publish.s2c");
        let mut bad = c2s.to_vec();
        for (at, byte) in damage {
            let i = 3073 + at.index(bad.len() - 3073);
            bad[i] = byte;
        }
        let bad = Bytes::from(bad);
        let cuts = cuts(c, bad.len());
        let single = run_timed(&bad, &s2c, &cuts, &[]);
        let joined = run_timed(&bad, &s2c, &cuts, &joins);
        assert_same(&single, &joined)?;
    }
}

#[test]
fn byte_by_byte_feeding_gives_identical_events() {
    let c2s = read("ffmpeg-publish.c2s");
    let s2c = read("ffmpeg-publish.s2c");
    let every: Vec<usize> = (1..c2s.len()).collect();
    let whole = run(&c2s, &s2c, &[], &[]);
    let bytewise = run(&c2s, &s2c, &every, &[]);
    assert_eq!(whole.len(), bytewise.len());
    assert!(whole == bytewise, "byte-by-byte feeding changed an event");
    let messages = whole
        .iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count();
    assert!(messages > 200);
}

#[test]
fn truncated_handshake_is_reported_with_its_length() {
    let mut s = Session::new();
    let mut out = Vec::new();
    s.feed(
        Direction::ClientToServer,
        Bytes::from(vec![3u8; 700]),
        0.0,
        &mut out,
    );
    s.finish(&mut out);
    let Some(Event::Error(e)) = out.last() else {
        panic!("{out:?}");
    };
    assert_eq!(e.offset, 0);
    assert!(e.expected.contains("1537 bytes of C0+C1"), "{e:?}");
    assert!(e.found.contains("700 byte(s)"), "{e:?}");
}

#[test]
fn wrong_version_is_reported_and_the_chunk_stream_still_decoded() {
    let c2s = read("ffmpeg-publish.c2s");
    let mut bad = c2s.to_vec();
    bad[0] = 9;
    let mut s = Session::new();
    let mut out = Vec::new();
    s.feed(Direction::ClientToServer, Bytes::from(bad), 0.0, &mut out);
    let err = out
        .iter()
        .find_map(|e| match e {
            Event::Error(e) => Some(e),
            _ => None,
        })
        .unwrap();
    assert_eq!(err.offset, 0);
    assert!(err.found.starts_with("0x09"), "{err:?}");
    assert!(out
        .iter()
        .any(|e| matches!(e, Event::Message(m) if m.index == 0 && m.raw.offset == 3073)));
}

#[test]
fn garbage_handshake_is_reported_and_the_chunk_stream_still_found() {
    let c2s = read("ffmpeg-publish.c2s");
    let mut bad = c2s.to_vec();
    // An uppercase letter, then 3072 bytes of junk in place of C1 and C2.
    bad[0] = b'Q';
    for (i, b) in bad[1..3073].iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    let mut s = Session::new();
    let mut out = Vec::new();
    s.feed(Direction::ClientToServer, Bytes::from(bad), 0.0, &mut out);
    assert!(out
        .iter()
        .any(|e| matches!(e, Event::Error(x) if x.offset == 0)));
    let connect = out.iter().find_map(|e| match e {
        Event::Message(m) if m.index == 0 => Some(m),
        _ => None,
    });
    assert_eq!(connect.unwrap().raw.offset, 3073);
}

#[test]
fn tls_and_rtmpe_are_recognised_and_not_decoded() {
    for (first, word) in [(0x16u8, "TLS"), (6, "RTMPE")] {
        let mut data = vec![first];
        data.extend(vec![0u8; 5000]);
        let mut s = Session::new();
        let mut out = Vec::new();
        s.feed(Direction::ClientToServer, Bytes::from(data), 0.0, &mut out);
        s.finish(&mut out);
        assert!(
            out.iter()
                .any(|e| matches!(e, Event::Error(x) if x.found.contains(word))),
            "{word}"
        );
        assert!(!out.iter().any(|e| matches!(e, Event::Message(_))));
    }
}

#[test]
fn mid_stream_session_finds_the_chunk_stream() {
    let c2s = read("ffmpeg-publish.c2s");
    // Start 20000 bytes in: somewhere inside media.
    let mut s = Session::mid_stream();
    let mut out = Vec::new();
    s.feed(
        Direction::ClientToServer,
        c2s.slice(20_000..),
        0.0,
        &mut out,
    );
    s.finish(&mut out);
    let msgs: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    // The whole-stream decode has 218 client messages; mid-stream must recover most of them.
    let mut whole = Vec::new();
    let mut w = Session::new();
    w.feed(Direction::ClientToServer, c2s.clone(), 0.0, &mut whole);
    let later: Vec<_> = whole
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) if m.raw.offset >= 20_000 => Some(m),
            _ => None,
        })
        .collect();
    let last = msgs.last().unwrap();
    let wlast = later.last().unwrap();
    assert_eq!(last.raw.offset + 20_000, wlast.raw.offset);
    assert_eq!(last.raw.timestamp, wlast.raw.timestamp);
    assert!(
        msgs.len() + 3 >= later.len(),
        "{} of {}",
        msgs.len(),
        later.len()
    );
}

#[test]
fn resynchronising_over_tiny_pieces_stays_linear() {
    // 256 KiB of junk fed one byte at a time to a session that must scan for
    // a chunk header: the scan joins tiny pieces, so this takes milliseconds,
    // not the minutes a per-byte walk over the piece queue would.
    let mut x = 0x2545_f491u32;
    let junk: Vec<u8> = (0..256 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    let start = std::time::Instant::now();
    let mut s = Session::mid_stream();
    let mut out = Vec::new();
    for b in junk.chunks(1) {
        s.feed(
            Direction::ClientToServer,
            Bytes::copy_from_slice(b),
            0.0,
            &mut out,
        );
        out.clear();
    }
    s.finish(&mut out);
    assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
}

/// Every chunk-layer event of `wire` decoded mid-stream, fed in `pieces`-byte inputs.
fn mid_stream_events(wire: &[u8], pieces: usize) -> Vec<rtmpscope_core::chunk::ChunkEvent> {
    let mut d = rtmpscope_core::chunk::ChunkDecoder::mid_stream(0);
    let mut out = Vec::new();
    for piece in wire.chunks(pieces) {
        d.push(Bytes::copy_from_slice(piece));
        while let Some(e) = d.next_event() {
            out.push(e);
        }
    }
    d.finish();
    while let Some(e) = d.next_event() {
        out.push(e);
    }
    out
}

/// Hand-made: a fmt 2 header on a chunk stream that only a fmt 1 header
/// described has no known stream id, whether the message lies whole in one
/// input (the decoder's fast path) or straddles two (its general path).
#[test]
fn a_fmt2_message_after_fmt1_has_a_guessed_stream_id_however_split() {
    // Set Chunk Size 4096 first: with the size known the fast path may take
    // whole messages.
    let mut wire = vec![0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x10, 0];
    for _ in 0..3 {
        wire.extend([0x44, 0, 0, 40, 0, 0, 10, 9]);
        wire.extend([0x17; 10]);
    }
    for _ in 0..6 {
        wire.extend([0x84, 0, 0, 40]);
        wire.extend([0x27; 10]);
    }
    let whole = mid_stream_events(&wire, wire.len());
    let guessed: Vec<bool> = whole
        .iter()
        .filter_map(|e| match e {
            rtmpscope_core::chunk::ChunkEvent::Message(m) => Some(m.stream_id_guessed),
            _ => None,
        })
        .collect();
    let mut want = vec![false];
    want.extend([true; 9]);
    assert_eq!(guessed, want, "{whole:?}");
    for pieces in [1, 3, 7, 13] {
        assert_eq!(
            mid_stream_events(&wire, pieces),
            whole,
            "pieces of {pieces}"
        );
    }
}

/// Hand-made: mid-stream, the chunk size is still unknown when a 5000-byte
/// video message comes, sent in 4096-byte chunks, whose payload bytes (0xC4)
/// also read as type-3 headers of its chunk stream every 128 bytes. The
/// likelier 4096 must win whether the bytes come in 1448-byte segments or
/// at once: 128 may not be taken while 4096 still waits for bytes.
#[test]
fn the_guessed_chunk_size_does_not_depend_on_the_split() {
    // Window Acknowledgement Size on csid 2 (4 bytes: no chunk size told).
    let mut wire = vec![0x02, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0, 0x26, 0x25, 0xa0];
    let video = |wire: &mut Vec<u8>, ts: u8| {
        wire.extend([0x04, 0, 0, ts, 0, 0x13, 0x88, 9, 1, 0, 0, 0]);
        wire.extend([0xC4; 4096]);
        wire.push(0xC4);
        wire.extend([0xC4; 5000 - 4096]);
    };
    video(&mut wire, 0);
    video(&mut wire, 40);
    video(&mut wire, 80);
    let whole = mid_stream_events(&wire, wire.len());
    let lengths: Vec<(u8, u32, u32)> = whole
        .iter()
        .filter_map(|e| match e {
            rtmpscope_core::chunk::ChunkEvent::Message(m) => Some((m.type_id, m.length, m.chunks)),
            _ => None,
        })
        .collect();
    assert_eq!(
        lengths,
        [(5, 4, 1), (9, 5000, 2), (9, 5000, 2), (9, 5000, 2)],
        "{whole:?}"
    );
    assert_eq!(mid_stream_events(&wire, 1448), whole);
}
