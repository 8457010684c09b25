//! Real streams re-chunked into hostile but valid RTMP must decode to the
//! same messages: every real message of the fixtures is re-sent with odd
//! chunk sizes, chunk stream ids of 1, 2 and 3 bytes, every header format,
//! timestamps moved past 0xFFFFFF (extended timestamps, with and without the
//! repeated field on type-3 chunks), and the chunks of all chunk streams
//! interleaved; the result is fed in random splits.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use bytes::Bytes;
use proptest::prelude::*;
use rtmpscope_core::chunk::{ChunkDecoder, ChunkEncoder, ChunkEvent, MSG_SET_CHUNK_SIZE};

#[derive(Debug, Clone, PartialEq)]
struct Msg {
    csid: u32,
    type_id: u8,
    stream_id: u32,
    timestamp: u32,
    payload: Vec<u8>,
}

/// The real messages of one direction's stream (after the handshake).
fn real_messages(file: &str) -> Vec<Msg> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(file);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut d = ChunkDecoder::new(3073);
    d.push(Bytes::from(data).slice(3073..));
    d.finish();
    let mut out = Vec::new();
    while let Some(ev) = d.next_event() {
        if let ChunkEvent::Message(m) = ev {
            if m.complete && m.type_id != MSG_SET_CHUNK_SIZE {
                out.push(Msg {
                    csid: m.csid,
                    type_id: m.type_id,
                    stream_id: m.stream_id,
                    timestamp: m.timestamp,
                    payload: m.payload.to_vec(),
                });
            }
        }
    }
    assert!(out.len() > 5, "{file}: too few messages");
    out
}

/// Re-chunks `msgs`: csids remapped by `csid_map`, timestamps shifted, chunk
/// size `chunk_size`, chunks interleaved across chunk streams by `picks`.
fn rechunk(msgs: &[Msg], chunk_size: u32, picks: &[u8], repeat_ext: bool) -> Vec<u8> {
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
        let q = live[picks[i % picks.len()] as usize % live.len()];
        i += 1;
        if let Some(c) = queues[q].1.pop_front() {
            wire.extend(c);
        }
    }
    wire
}

fn decode(wire: &[u8], cuts: &[usize]) -> Vec<Msg> {
    let mut d = ChunkDecoder::new(0);
    let mut out = Vec::new();
    let mut start = 0;
    let pull = |d: &mut ChunkDecoder, out: &mut Vec<Msg>| {
        while let Some(ev) = d.next_event() {
            match ev {
                ChunkEvent::Message(m) => {
                    assert!(m.complete, "incomplete message {m:?}");
                    if m.type_id != MSG_SET_CHUNK_SIZE {
                        out.push(Msg {
                            csid: m.csid,
                            type_id: m.type_id,
                            stream_id: m.stream_id,
                            timestamp: m.timestamp,
                            payload: m.payload.to_vec(),
                        });
                    }
                }
                ChunkEvent::Error(e) => panic!("decoder error {e:?}"),
                ChunkEvent::Note(_) => {}
            }
        }
    };
    for &c in cuts.iter().chain(std::iter::once(&wire.len())) {
        let c = c.clamp(start, wire.len());
        d.push(Bytes::copy_from_slice(&wire[start..c]));
        start = c;
        pull(&mut d, &mut out);
    }
    d.finish();
    pull(&mut d, &mut out);
    out
}

fn per_csid(msgs: &[Msg]) -> HashMap<u32, Vec<Msg>> {
    let mut m: HashMap<u32, Vec<Msg>> = HashMap::new();
    for x in msgs {
        m.entry(x.csid).or_default().push(x.clone());
    }
    m
}

const STREAMS: &[&str] = &[
    "ffmpeg-publish.c2s",
    "gst-publish.c2s",
    "rtmpdump-play.s2c",
    "ffmpeg-play.s2c",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn real_streams_rechunked_decode_to_the_same_messages(
        file in prop::sample::select(STREAMS),
        chunk_size in prop_oneof![1u32..4, 4u32..200, Just(4096u32), 60_000u32..70_000],
        csid_base in prop_oneof![Just(2u32), 60u32..64, 300u32..330, 65_000u32..65_590],
        ts_shift in prop_oneof![Just(0u32), Just(0xFF_FF00u32), Just(0xFFFF_F000u32)],
        repeat_ext in any::<bool>(),
        picks in prop::collection::vec(any::<u8>(), 1..32),
        mut cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let real = real_messages(file);
        // Spread the real chunk streams over 1-, 2- and 3-byte ids.
        let mut map: HashMap<u32, u32> = HashMap::new();
        let msgs: Vec<Msg> = real
            .iter()
            .map(|m| {
                let n = map.len() as u32;
                let csid = *map.entry(m.csid).or_insert_with(|| match n % 3 {
                    0 => (csid_base + n).clamp(2, 65_599),
                    1 => 64 + (csid_base + n * 7) % 256,
                    _ => 320 + (csid_base + n * 13) % 65_280,
                });
                Msg {
                    csid,
                    timestamp: m.timestamp.wrapping_add(ts_shift),
                    ..m.clone()
                }
            })
            .collect();
        let wire = rechunk(&msgs, chunk_size, &picks, repeat_ext);
        let mut cuts: Vec<usize> = cuts.drain(..).map(|i| i.index(wire.len() + 1)).collect();
        cuts.sort_unstable();
        let got = decode(&wire, &cuts);
        prop_assert_eq!(got.len(), msgs.len());
        prop_assert_eq!(per_csid(&got), per_csid(&msgs));
    }
}
