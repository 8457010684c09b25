use super::*;
use proptest::prelude::*;

/// A message as a test describes it.
#[derive(Debug, Clone, PartialEq)]
struct Msg {
    csid: u32,
    type_id: u8,
    stream_id: u32,
    timestamp: u32,
    payload: Vec<u8>,
}

fn decode_all(wire: &[u8], splits: &[usize]) -> Vec<ChunkEvent> {
    let mut d = ChunkDecoder::new(0);
    let mut out = Vec::new();
    let mut start = 0;
    for &s in splits.iter().chain(std::iter::once(&wire.len())) {
        let s = s.clamp(start, wire.len());
        d.push(Bytes::copy_from_slice(&wire[start..s]));
        start = s;
        while let Some(ev) = d.next_event() {
            out.push(ev);
        }
    }
    d.finish();
    while let Some(ev) = d.next_event() {
        out.push(ev);
    }
    out
}

fn messages(evs: &[ChunkEvent]) -> Vec<&RawMessage> {
    evs.iter()
        .filter_map(|e| match e {
            ChunkEvent::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn errors(evs: &[ChunkEvent]) -> Vec<&ChunkError> {
    evs.iter()
        .filter_map(|e| match e {
            ChunkEvent::Error(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn hdr(fmt: u8, csid: u32, ts: u32, len: u32, t: u8, sid: u32) -> Vec<u8> {
    let mut v = Vec::new();
    ChunkHeader {
        fmt,
        csid,
        timestamp: ts,
        length: Some(len),
        type_id: Some(t),
        stream_id: Some(sid),
        extended: false,
    }
    .emit(&mut v);
    v
}

#[test]
fn basic_header_uses_one_two_or_three_bytes() {
    for (csid, len) in [(2, 1), (63, 1), (64, 2), (319, 2), (320, 3), (65599, 3)] {
        let v = hdr(3, csid, 0, 0, 0, 0);
        assert_eq!(v.len(), len, "csid {csid}");
        match ChunkHeader::parse(&v) {
            HeaderRead::Done(h, l) => {
                assert_eq!((h.csid, h.fmt, l), (csid, 3, len));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn three_byte_basic_header_is_little_endian_per_spec() {
    // §5.3.1.1: csid = third byte * 256 + second byte + 64.
    match ChunkHeader::parse(&[0xC1, 0x01, 0x02]) {
        HeaderRead::Done(h, 3) => assert_eq!(h.csid, 2 * 256 + 1 + 64),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fmt0_header_fields_are_read_at_their_offsets() {
    // fmt 0, csid 3, ts 0x010203, len 0x000010, type 20, stream id 1 (little endian).
    let b = [0x03, 1, 2, 3, 0, 0, 0x10, 20, 1, 0, 0, 0];
    match ChunkHeader::parse(&b) {
        HeaderRead::Done(h, 12) => {
            assert_eq!(h.timestamp, 0x010203);
            assert_eq!(h.length, Some(16));
            assert_eq!(h.type_id, Some(20));
            assert_eq!(h.stream_id, Some(1));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn short_header_asks_for_more() {
    assert_eq!(ChunkHeader::parse(&[]), HeaderRead::Need(1));
    assert_eq!(ChunkHeader::parse(&[0x00]), HeaderRead::Need(2));
    assert_eq!(ChunkHeader::parse(&[0x01, 5]), HeaderRead::Need(3));
    assert_eq!(ChunkHeader::parse(&[0x03, 0, 0]), HeaderRead::Need(12));
    assert_eq!(
        ChunkHeader::parse(&[0x43, 0xff, 0xff, 0xff, 0, 0, 1, 8]),
        HeaderRead::Need(12)
    );
}

#[test]
fn deltas_accumulate_over_fmt1_fmt2_fmt3() {
    let mut w = Vec::new();
    w.extend(hdr(0, 4, 1000, 2, 8, 1));
    w.extend([0xaf, 0x01]);
    w.extend(hdr(1, 4, 23, 3, 8, 0));
    w.extend([0xaf, 0x01, 0x00]);
    w.extend(hdr(2, 4, 24, 0, 0, 0));
    w.extend([0xaf, 0x01, 0x01]);
    w.extend(hdr(3, 4, 0, 0, 0, 0)); // new message, reuses delta 24
    w.extend([0xaf, 0x01, 0x02]);
    let evs = decode_all(&w, &[]);
    let ms = messages(&evs);
    let ts: Vec<_> = ms.iter().map(|m| m.timestamp).collect();
    assert_eq!(ts, vec![1000, 1023, 1047, 1071]);
    assert!(ms.iter().all(|m| m.stream_id == 1 && m.type_id == 8));
    assert_eq!(ms[3].fmt, 3);
    assert_eq!(ms[3].delta, Some(24));
    assert!(errors(&evs).is_empty());
}

#[test]
fn fmt3_after_fmt0_adds_the_fmt0_timestamp_and_notes_the_ambiguity() {
    let mut w = hdr(0, 6, 40, 1, 9, 1);
    w.push(0x17);
    w.extend(hdr(3, 6, 0, 0, 0, 0));
    w.push(0x27);
    let evs = decode_all(&w, &[]);
    let ms = messages(&evs);
    assert_eq!(ms[1].timestamp, 80);
    assert!(evs.iter().any(|e| matches!(
        e,
        ChunkEvent::Note(ChunkNote::AmbiguousDelta {
            timestamp: 80,
            alternative: 40,
            ..
        })
    )));
}

#[test]
fn fmt3_after_extended_timestamp_repeats_it() {
    let mut enc = ChunkEncoder::new(128);
    let mut w = Vec::new();
    let ts = 0x0100_0000;
    enc.write(&mut w, 6, 9, 1, ts, &[7u8; 300]);
    // fmt0 header: 1 + 11 + 4; two continuations of 1 + 4.
    assert_eq!(w.len(), 16 + 300 + 2 * 5);
    assert_eq!(&w[16 + 128..16 + 128 + 5], &[0xC6, 0x01, 0, 0, 0]);
    let evs = decode_all(&w, &[]);
    let ms = messages(&evs);
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].timestamp, ts);
    assert_eq!(ms[0].payload.to_vec(), vec![7u8; 300]);
    assert!(ms[0].extended);
}

#[test]
fn fmt3_after_extended_timestamp_may_omit_it() {
    let mut enc = ChunkEncoder::new(128);
    enc.repeat_extended = false;
    let mut w = Vec::new();
    enc.write(&mut w, 6, 9, 1, 0x0100_0000, &[7u8; 300]);
    assert_eq!(w.len(), 16 + 300 + 2);
    let mut d = ChunkDecoder::new(0);
    d.push(w.into());
    d.finish();
    let mut evs = Vec::new();
    while let Some(e) = d.next_event() {
        evs.push(e);
    }
    let ms = messages(&evs);
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].payload.to_vec(), vec![7u8; 300]);
    assert_eq!(d.extended_timestamp_use().omitted, 2);
    assert_eq!(d.extended_timestamp_use().repeated, 0);
}

#[test]
fn extended_delta_in_fmt1_is_a_delta_not_an_absolute_time() {
    let mut w = hdr(0, 4, 100, 1, 8, 1);
    w.push(0xaf);
    let mut h = Vec::new();
    ChunkHeader {
        fmt: 1,
        csid: 4,
        timestamp: 0x0100_0000,
        length: Some(1),
        type_id: Some(8),
        stream_id: None,
        extended: true,
    }
    .emit(&mut h);
    assert_eq!(h.len(), 1 + 7 + 4);
    w.extend(h);
    w.push(0xaf);
    let ms_evs = decode_all(&w, &[]);
    let ms = messages(&ms_evs);
    assert_eq!(ms[1].timestamp, 100 + 0x0100_0000);
}

#[test]
fn timestamps_wrap_at_32_bits() {
    let mut enc = ChunkEncoder::new(4096);
    let mut w = Vec::new();
    enc.write(&mut w, 4, 8, 1, 0xFFFF_FFF0, &[1]);
    let mut h = Vec::new();
    ChunkHeader {
        fmt: 2,
        csid: 4,
        timestamp: 0x20,
        length: None,
        type_id: None,
        stream_id: None,
        extended: false,
    }
    .emit(&mut h);
    w.extend(h);
    w.push(2);
    let evs = decode_all(&w, &[]);
    assert_eq!(messages(&evs)[1].timestamp, 0x10);
}

#[test]
fn set_chunk_size_applies_to_the_next_chunk() {
    let mut enc = ChunkEncoder::new(128);
    let mut w = Vec::new();
    enc.write(&mut w, 2, MSG_SET_CHUNK_SIZE, 0, 0, &60000u32.to_be_bytes());
    enc.set_chunk_size(60000);
    enc.write(&mut w, 6, 9, 1, 0, &vec![3u8; 100_000]);
    let evs = decode_all(&w, &[7, 300, 50_000]);
    let ms = messages(&evs);
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[1].chunks, 2);
    assert_eq!(ms[1].length, 100_000);
    assert_eq!(ms[1].spans[1].payload_len, 40_000);
    assert!(evs.iter().any(|e| matches!(
        e,
        ChunkEvent::Note(ChunkNote::ChunkSize { size: 60000, .. })
    )));
}

#[test]
fn set_chunk_size_ignores_the_top_bit_and_clamps_huge_values() {
    let mut enc = ChunkEncoder::new(128);
    let mut w = Vec::new();
    enc.write(
        &mut w,
        2,
        MSG_SET_CHUNK_SIZE,
        0,
        0,
        &0xFFFF_FFFFu32.to_be_bytes(),
    );
    let mut d = ChunkDecoder::new(0);
    d.push(w.into());
    let mut errs = 0;
    while let Some(e) = d.next_event() {
        errs += matches!(e, ChunkEvent::Error(_)) as usize;
    }
    assert_eq!(errs, 1, "the set top bit is reported");
    assert_eq!(d.chunk_size(), MAX_MESSAGE_LEN);
}

#[test]
fn set_chunk_size_of_zero_is_an_error_and_keeps_the_old_size() {
    let mut enc = ChunkEncoder::new(128);
    let mut w = Vec::new();
    enc.write(&mut w, 2, MSG_SET_CHUNK_SIZE, 0, 0, &[0, 0, 0, 0]);
    let evs = decode_all(&w, &[]);
    assert_eq!(errors(&evs).len(), 1);
    assert!(errors(&evs)[0].expected.contains("at least 1"));
}

#[test]
fn abort_discards_the_partial_message() {
    let mut w = hdr(0, 6, 0, 200, 9, 1);
    w.extend([9u8; 128]);
    let mut enc = ChunkEncoder::new(128);
    enc.write(&mut w, 2, MSG_ABORT, 0, 0, &6u32.to_be_bytes());
    w.extend(hdr(0, 6, 40, 2, 9, 1));
    w.extend([1, 2]);
    let evs = decode_all(&w, &[]);
    let ms = messages(&evs);
    assert_eq!(ms.len(), 2, "abort message and the new video message");
    assert_eq!(ms[1].payload.to_vec(), vec![1, 2]);
    assert!(errors(&evs).is_empty());
    assert!(evs.iter().any(|e| matches!(
        e,
        ChunkEvent::Note(ChunkNote::Aborted {
            csid: 6,
            discarded: 128,
            ..
        })
    )));
}

#[test]
fn new_header_mid_message_reports_the_truncated_message() {
    let mut w = hdr(0, 6, 0, 200, 9, 1);
    w.extend([9u8; 128]);
    w.extend(hdr(0, 6, 40, 2, 9, 1));
    w.extend([1, 2]);
    let evs = decode_all(&w, &[]);
    let ms = messages(&evs);
    assert_eq!(ms.len(), 2);
    assert!(!ms[0].complete);
    assert_eq!(ms[0].payload.len(), 128);
    assert_eq!(ms[0].length, 200);
    assert!(ms[1].complete);
    let e = errors(&evs);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].offset, 140);
}

#[test]
fn capture_ending_mid_message_yields_the_partial_message() {
    let mut w = hdr(0, 6, 0, 200, 9, 1);
    w.extend([9u8; 50]);
    let evs = decode_all(&w, &[]);
    let ms = messages(&evs);
    assert_eq!(ms.len(), 1);
    assert!(!ms[0].complete);
    assert_eq!(ms[0].payload.len(), 50);
    assert!(errors(&evs)[0].expected.contains("150 more byte(s)"));
}

#[test]
fn capture_ending_mid_header_is_reported() {
    let w = vec![0x06, 0, 0];
    let evs = decode_all(&w, &[]);
    assert!(messages(&evs).is_empty());
    assert_eq!(errors(&evs)[0].offset, 0);
}

#[test]
fn fmt3_on_an_unknown_chunk_stream_resynchronises() {
    let mut w = vec![0xC9, 1, 2, 3];
    w.extend(hdr(0, 3, 0, 4, 5, 0));
    w.extend(2_500_000u32.to_be_bytes());
    w.extend(hdr(0, 3, 0, 4, 5, 0));
    w.extend(2_500_000u32.to_be_bytes());
    let evs = decode_all(&w, &[]);
    let ms = messages(&evs);
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[0].type_id, 5);
    assert_eq!(ms[0].offset, 4);
    assert_eq!(errors(&evs)[0].offset, 0);
    assert!(evs.iter().any(|e| matches!(
        e,
        ChunkEvent::Note(ChunkNote::Resynchronised {
            offset: 0,
            skipped: 4
        })
    )));
}

#[test]
fn fmt1_without_fmt0_assumes_stream_zero_and_says_so() {
    let mut w = hdr(1, 5, 10, 3, 20, 0);
    w.extend([5, 5, 5]);
    let evs = decode_all(&w, &[]);
    let ms = messages(&evs);
    assert_eq!(ms.len(), 1);
    assert!(ms[0].stream_id_guessed);
    assert_eq!(errors(&evs).len(), 1);
}

#[test]
fn chunk_stream_cap_is_enforced() {
    let limits = Limits {
        max_chunk_streams: 3,
        ..Limits::default()
    };
    let mut d = ChunkDecoder::with_limits(0, limits);
    let mut w = Vec::new();
    for csid in 2..8 {
        w.extend(hdr(0, csid, 0, 1, 8, 1));
        w.push(0xaf);
    }
    d.push(w.into());
    d.finish();
    let mut evs = Vec::new();
    while let Some(e) = d.next_event() {
        evs.push(e);
    }
    assert_eq!(messages(&evs).len(), 3);
    assert!(errors(&evs)[0]
        .expected
        .contains("at most 3 live chunk streams"));
}

#[test]
fn buffered_bytes_cap_skips_the_message_without_holding_it() {
    let limits = Limits {
        max_buffered: 1000,
        ..Limits::default()
    };
    let mut d = ChunkDecoder::with_limits(0, limits);
    let mut enc = ChunkEncoder::new(128);
    let mut w = Vec::new();
    enc.write(&mut w, 6, 9, 1, 0, &[1u8; 5000]);
    enc.write(&mut w, 4, 8, 1, 0, &[2u8; 10]);
    d.push(w.into());
    let mut evs = Vec::new();
    while let Some(e) = d.next_event() {
        assert!(d.buffered() <= 1000);
        evs.push(e);
    }
    let ms = messages(&evs);
    assert_eq!(ms.len(), 2);
    assert!(!ms[0].complete);
    assert!(ms[0].payload.is_empty());
    assert!(ms[1].complete);
    assert_eq!(errors(&evs).len(), 1);
}

#[test]
fn zero_length_message_is_yielded() {
    let w = hdr(0, 3, 0, 0, 20, 0);
    let evs = decode_all(&w, &[]);
    let ms = messages(&evs);
    assert_eq!(ms.len(), 1);
    assert!(ms[0].complete && ms[0].payload.is_empty());
}

#[test]
fn gap_drops_partials_and_resynchronises_after_it() {
    let mut d = ChunkDecoder::new(0);
    let mut w = hdr(0, 6, 0, 300, 9, 1);
    w.extend([1u8; 128]);
    d.push(w.into());
    d.gap(1000);
    let mut w2 = vec![0xAA; 5];
    w2.extend(hdr(0, 4, 50, 2, 8, 1));
    w2.extend([0xaf, 1]);
    w2.extend(hdr(2, 4, 23, 0, 0, 0));
    w2.extend([0xaf, 1]);
    d.push(w2.into());
    let mut evs = Vec::new();
    while let Some(e) = d.next_event() {
        evs.push(e);
    }
    let ms = messages(&evs);
    assert_eq!(ms.len(), 3);
    assert!(!ms[0].complete);
    assert_eq!(ms[1].offset, 140 + 1000 + 5);
    assert_eq!(ms[2].timestamp, 73);
    assert_eq!(ms[1].timestamp, 50);
}

#[test]
fn large_payloads_reference_the_input_without_copying() {
    let mut enc = ChunkEncoder::new(128);
    let mut w = Vec::new();
    enc.write(&mut w, 2, MSG_SET_CHUNK_SIZE, 0, 0, &4096u32.to_be_bytes());
    enc.set_chunk_size(4096);
    enc.write(&mut w, 6, 9, 1, 0, &[5u8; 30_000]);
    let input = Bytes::from(w);
    let base = input.as_ptr() as usize;
    let end = base + input.len();
    let mut d = ChunkDecoder::new(0);
    d.push(input.clone());
    let evs: Vec<_> = std::iter::from_fn(|| d.next_event()).collect();
    let m = messages(&evs)[1];
    assert_eq!(m.payload.pieces().len(), 8);
    for p in m.payload.pieces() {
        let a = p.as_ptr() as usize;
        assert!(a >= base && a < end, "payload slice points into the input");
    }
}

#[test]
fn spans_point_at_every_chunk() {
    let mut enc = ChunkEncoder::new(128);
    let mut w = Vec::new();
    enc.write(&mut w, 3, 20, 0, 0, &[0u8; 300]);
    let evs = decode_all(&w, &[]);
    let m = messages(&evs)[0];
    let spans: Vec<_> = m
        .spans
        .iter()
        .map(|s| (s.offset, s.header_len, s.payload_len))
        .collect();
    assert_eq!(spans, vec![(0, 12, 128), (140, 1, 128), (269, 1, 44)]);
    assert_eq!(m.end, 314);
}

/// Encodes messages with per-csid header compression and interleaves their
/// chunks across chunk streams in an order chosen by `picks`.
fn interleave(msgs: &[Msg], chunk_size: u32, picks: &[u8], repeat_ext: bool) -> Vec<u8> {
    let mut enc = ChunkEncoder::new(128);
    enc.repeat_extended = repeat_ext;
    let mut wire = Vec::new();
    enc.write(
        &mut wire,
        2,
        MSG_SET_CHUNK_SIZE,
        0,
        0,
        &chunk_size.to_be_bytes(),
    );
    enc.set_chunk_size(chunk_size);
    // Per csid, the queue of chunks of its messages in order.
    let mut queues: Vec<(u32, VecDeque<Vec<u8>>)> = Vec::new();
    for m in msgs {
        let chunks = enc.chunks(m.csid, m.type_id, m.stream_id, m.timestamp, &m.payload);
        match queues.iter_mut().find(|q| q.0 == m.csid) {
            Some(q) => q.1.extend(chunks),
            None => queues.push((m.csid, chunks.into())),
        }
    }
    let mut i = 0;
    loop {
        let live: Vec<usize> = (0..queues.len())
            .filter(|&q| !queues[q].1.is_empty())
            .collect();
        if live.is_empty() {
            break;
        }
        let pick = picks.get(i % picks.len().max(1)).copied().unwrap_or(0) as usize;
        i += 1;
        let q = live[pick % live.len()];
        if let Some(c) = queues[q].1.pop_front() {
            wire.extend(c);
        }
    }
    wire
}

fn msg_strategy() -> impl Strategy<Value = Msg> {
    (
        prop_oneof![2u32..64, 64u32..320, 320u32..65600],
        prop_oneof![Just(8u8), Just(9u8), Just(18u8), Just(20u8)],
        0u32..4,
        prop_oneof![0u32..100_000, 0xFF_FF00u32..0x100_0100, any::<u32>()],
        prop::collection::vec(any::<u8>(), 0..3000),
    )
        .prop_map(|(csid, type_id, stream_id, timestamp, payload)| Msg {
            csid,
            type_id,
            stream_id,
            timestamp,
            payload,
        })
}

/// Keeps each chunk stream's timestamps non-decreasing, as a sender would.
fn monotonic(mut msgs: Vec<Msg>) -> Vec<Msg> {
    let mut last: HashMap<u32, u32> = HashMap::new();
    for m in &mut msgs {
        if let Some(&t) = last.get(&m.csid) {
            if m.timestamp < t {
                m.timestamp = t;
            }
        }
        last.insert(m.csid, m.timestamp);
    }
    msgs
}

fn decoded(evs: &[ChunkEvent]) -> Vec<Msg> {
    messages(evs)
        .into_iter()
        .filter(|m| m.type_id != MSG_SET_CHUNK_SIZE)
        .map(|m| Msg {
            csid: m.csid,
            type_id: m.type_id,
            stream_id: m.stream_id,
            timestamp: m.timestamp,
            payload: m.payload.to_vec(),
        })
        .collect()
}

/// Messages per chunk stream, in order (interleaving only keeps per-csid order).
fn by_csid(msgs: &[Msg]) -> Vec<(u32, Vec<Msg>)> {
    let mut out: Vec<(u32, Vec<Msg>)> = Vec::new();
    for m in msgs {
        match out.iter_mut().find(|x| x.0 == m.csid) {
            Some(x) => x.1.push(m.clone()),
            None => out.push((m.csid, vec![m.clone()])),
        }
    }
    out.sort_by_key(|x| x.0);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn interleaved_streams_reassemble_exactly(
        msgs in prop::collection::vec(msg_strategy(), 1..40),
        chunk_size in prop_oneof![1u32..8, 8u32..200, 200u32..70_000],
        picks in prop::collection::vec(any::<u8>(), 1..64),
        repeat_ext in any::<bool>(),
    ) {
        let msgs = monotonic(msgs);
        let wire = interleave(&msgs, chunk_size, &picks, repeat_ext);
        let evs = decode_all(&wire, &[]);
        prop_assert!(errors(&evs).is_empty(), "{:?}", errors(&evs));
        prop_assert_eq!(by_csid(&decoded(&evs)), by_csid(&msgs));
    }

    #[test]
    fn any_split_gives_the_same_events(
        msgs in prop::collection::vec(msg_strategy(), 1..20),
        chunk_size in prop_oneof![1u32..8, 8u32..5000],
        picks in prop::collection::vec(any::<u8>(), 1..16),
        mut splits in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let msgs = monotonic(msgs);
        let wire = interleave(&msgs, chunk_size, &picks, true);
        let whole = decode_all(&wire, &[]);
        let mut cuts: Vec<usize> = splits.drain(..).map(|i| i.index(wire.len() + 1)).collect();
        cuts.sort_unstable();
        let split = decode_all(&wire, &cuts);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn random_bytes_never_panic_and_always_progress(
        data in prop::collection::vec(any::<u8>(), 0..4000),
        cut in any::<prop::sample::Index>(),
    ) {
        let c = cut.index(data.len() + 1);
        let _ = decode_all(&data, &[c]);
    }

    #[test]
    fn header_emit_then_parse_round_trips(
        fmt in 0u8..3,
        csid in 2u32..65600,
        ts in any::<u32>(),
        len in 0u32..=MAX_MESSAGE_LEN,
        t in any::<u8>(),
        sid in any::<u32>(),
    ) {
        let h = ChunkHeader {
            fmt,
            csid,
            timestamp: ts,
            length: (fmt < 2).then_some(len),
            type_id: (fmt < 2).then_some(t),
            stream_id: (fmt == 0).then_some(sid),
            extended: ts >= EXTENDED_TIMESTAMP,
        };
        let mut v = Vec::new();
        h.emit(&mut v);
        prop_assert_eq!(v.len(), h.encoded_len());
        prop_assert_eq!(ChunkHeader::parse(&v), HeaderRead::Done(h, v.len()));
    }
}
