//! Decoding throughput on real client→server streams, against a memcpy anchor
//! and two other Rust RTMP chunk decoders, all in one run.
//!
//! Input: the raw c2s bytes of an ffmpeg → nginx-rtmp push (C0, C1, C2, then
//! chunks), made by `scripts/make-bench-data.sh`; `scripts/bench.sh` makes
//! them if needed, runs this and prints a table. Each stream is cut into
//! 64 KiB `Bytes` pieces (a socket read's worth) before timing starts.
//!
//! Per stream, one criterion group:
//! - `memcpy`: copy every piece into a reused buffer (the anchor).
//! - `rtmpscope_chunks`: `ChunkDecoder` over the chunk part (no body decoding).
//! - `rtmpscope_full`: `Session` over the whole stream (handshake, chunks,
//!   AMF commands, media headers, events with offsets).
//! - `rml_rtmp`: rml_rtmp 0.8.0's `ChunkDeserializer` over the chunk part.
//! - `scuffle_rtmp`: scuffle-rtmp 0.2.3's `ChunkReader` over the chunk part.
//!
//! Before timing, every decoder's messages (type, stream id, length, timestamp)
//! are compared with rtmpscope's; the message counts are printed on a
//! `counts` line that `scripts/bench.sh` turns into messages per second.

use std::hint::black_box;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use rtmpscope_core::chunk::{ChunkDecoder, ChunkEvent};
use rtmpscope_core::session::{Direction, Event, Session};

/// C0 + C1 + C2 (RTMP spec 5.2).
const HANDSHAKE_LEN: usize = 1 + 1536 + 1536;
/// Input is handed over in pieces of this size, as a socket read would.
const PIECE: usize = 64 * 1024;
/// Message type id of Set Chunk Size (RTMP spec 5.4.1).
const MSG_SET_CHUNK_SIZE: u8 = 1;

/// The streams `scripts/make-bench-data.sh` writes: (group name, file name).
const STREAMS: [(&str, &str); 2] = [
    ("large_720p_18M", "publish-720p-18M.c2s"),
    ("small_240p", "publish-240p.c2s"),
];

/// What a decoder saw of one message; compared across decoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    type_id: u8,
    stream_id: u32,
    length: u32,
    timestamp: u32,
}

struct Input {
    /// The whole stream, handshake included.
    whole: Vec<Bytes>,
    whole_len: usize,
    /// The chunk part (after the handshake).
    chunks: Vec<Bytes>,
    chunks_len: usize,
}

fn pieces(data: &Bytes) -> Vec<Bytes> {
    (0..data.len())
        .step_by(PIECE)
        .map(|at| data.slice(at..data.len().min(at + PIECE)))
        .collect()
}

fn data_dir() -> PathBuf {
    match std::env::var_os("RTMPSCOPE_BENCH_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench-data"),
    }
}

fn load(file: &str) -> Option<Input> {
    let path = data_dir().join(file);
    let data = match std::fs::read(&path) {
        Ok(data) => Bytes::from(data),
        Err(e) => {
            eprintln!(
                "skipping {}: {e}\n  make the data with `bash scripts/make-bench-data.sh` \
                 (or run `bash scripts/bench.sh`), or point RTMPSCOPE_BENCH_DATA at its directory",
                path.display()
            );
            return None;
        }
    };
    assert!(
        data.len() > HANDSHAKE_LEN && data[0] == 3,
        "{} is not a c2s RTMP stream starting with C0",
        path.display()
    );
    let chunk_part = data.slice(HANDSHAKE_LEN..);
    Some(Input {
        whole: pieces(&data),
        whole_len: data.len(),
        chunks_len: chunk_part.len(),
        chunks: pieces(&chunk_part),
    })
}

fn memcpy(pieces: &[Bytes], buf: &mut [u8]) -> usize {
    let mut copied = 0;
    for piece in pieces {
        let dst = &mut buf[..piece.len()];
        dst.copy_from_slice(piece);
        black_box(&*dst);
        copied += piece.len();
    }
    copied
}

/// Complete messages only: the other decoders yield nothing else.
fn rtmpscope_chunks(pieces: &[Bytes], mut seen: impl FnMut(Seen)) -> usize {
    let mut dec = ChunkDecoder::new(HANDSHAKE_LEN as u64);
    let mut messages = 0;
    let mut on_event = |ev: ChunkEvent| {
        if let ChunkEvent::Message(m) = ev {
            if m.complete {
                messages += 1;
                seen(Seen {
                    type_id: m.type_id,
                    stream_id: m.stream_id,
                    length: m.length,
                    timestamp: m.timestamp,
                });
            }
            black_box(m);
        }
    };
    for piece in pieces {
        dec.push(piece.clone());
        while let Some(ev) = dec.next_event() {
            on_event(ev);
        }
    }
    dec.finish();
    while let Some(ev) = dec.next_event() {
        on_event(ev);
    }
    messages
}

fn rtmpscope_full(pieces: &[Bytes]) -> usize {
    let mut session = Session::new();
    let mut events = Vec::new();
    let mut messages = 0;
    let count = |events: &mut Vec<Event>| {
        let n = events
            .iter()
            .filter(|ev| matches!(ev, Event::Message(m) if m.raw.complete))
            .count();
        black_box(&*events);
        events.clear();
        n
    };
    for (i, piece) in pieces.iter().enumerate() {
        session.feed(
            Direction::ClientToServer,
            piece.clone(),
            i as f64 * 1e-3,
            &mut events,
        );
        messages += count(&mut events);
    }
    session.finish(&mut events);
    messages + count(&mut events)
}

fn set_chunk_size(payload: &[u8]) -> Option<usize> {
    let field: [u8; 4] = payload.get(..4)?.try_into().ok()?;
    // The top bit is reserved and must be zero (RTMP spec 5.4.1).
    Some((u32::from_be_bytes(field) & 0x7fff_ffff) as usize)
}

/// rml_rtmp leaves Set Chunk Size to its caller (its `ServerSession` calls
/// `set_max_chunk_size`), and returns one message per call: the rest of the
/// bytes stay buffered until it is called again with an empty slice.
fn rml_rtmp(pieces: &[Bytes], mut seen: impl FnMut(Seen)) -> usize {
    use rml_rtmp::chunk_io::ChunkDeserializer;
    let mut des = ChunkDeserializer::new();
    let mut messages = 0;
    for piece in pieces {
        let mut input: &[u8] = piece;
        while let Some(m) = des
            .get_next_message(input)
            .unwrap_or_else(|e| panic!("rml_rtmp after {messages} messages: {e:?}"))
        {
            input = &[];
            if m.type_id == MSG_SET_CHUNK_SIZE {
                if let Some(size) = set_chunk_size(&m.data) {
                    des.set_max_chunk_size(size)
                        .unwrap_or_else(|e| panic!("rml_rtmp chunk size {size}: {e:?}"));
                }
            }
            messages += 1;
            seen(Seen {
                type_id: m.type_id,
                stream_id: m.message_stream_id,
                length: m.data.len() as u32,
                timestamp: m.timestamp.value,
            });
            black_box(m);
        }
    }
    messages
}

/// scuffle-rtmp's `ChunkReader` yields whole messages (it reassembles them
/// despite the name) from a `BytesMut` the caller reads the socket into, and
/// leaves Set Chunk Size to its session layer, which calls
/// `update_max_chunk_size`; this does the same.
fn scuffle_rtmp(pieces: &[Bytes], mut seen: impl FnMut(Seen)) -> usize {
    use scuffle_rtmp::chunk::reader::ChunkReader;
    use scuffle_rtmp::messages::MessageType;
    let mut reader = ChunkReader::default();
    let mut buf = BytesMut::new();
    let mut messages = 0;
    for piece in pieces {
        buf.extend_from_slice(piece);
        while let Some(chunk) = reader
            .read_chunk(&mut buf)
            .unwrap_or_else(|e| panic!("scuffle-rtmp after {messages} messages: {e:?}"))
        {
            let header = &chunk.message_header;
            if header.msg_type_id == MessageType::SetChunkSize {
                if let Some(size) = set_chunk_size(&chunk.payload) {
                    assert!(
                        reader.update_max_chunk_size(size),
                        "scuffle-rtmp refuses chunk size {size}"
                    );
                }
            }
            messages += 1;
            seen(Seen {
                type_id: header.msg_type_id.0,
                stream_id: header.msg_stream_id,
                length: chunk.payload.len() as u32,
                timestamp: header.timestamp,
            });
            black_box(chunk);
        }
    }
    messages
}

/// Compares another decoder's messages with rtmpscope's: the counts, types,
/// stream ids and lengths must agree; differing timestamps are only reported
/// (readings of the spec differ, see DESIGN.md's protocol traps).
fn check(name: &str, stream: &str, reference: &[Seen], other: &[Seen]) {
    let shape = |s: &Seen| (s.type_id, s.stream_id, s.length);
    if let Some(i) =
        (0..reference.len().min(other.len())).find(|&i| shape(&reference[i]) != shape(&other[i]))
    {
        panic!(
            "{stream}: {name} disagrees with rtmpscope at message {i}: {:?} vs {:?}",
            other[i], reference[i]
        );
    }
    assert_eq!(
        other.len(),
        reference.len(),
        "{stream}: {name} decodes {} messages, rtmpscope {}",
        other.len(),
        reference.len()
    );
    let differ = |i: &usize| reference[*i].timestamp != other[*i].timestamp;
    let timestamps = (0..reference.len()).filter(differ).count();
    if let Some(i) = (0..reference.len()).find(differ) {
        println!(
            "{stream}: {name} reads {timestamps} timestamp(s) differently from rtmpscope, \
             the first at message {i}: {:?} vs {:?}",
            other[i], reference[i]
        );
    }
}

fn bench_stream(c: &mut Criterion, group_name: &str, input: &Input) {
    let mut reference = Vec::new();
    let chunks = rtmpscope_chunks(&input.chunks, |s| reference.push(s));
    let full = rtmpscope_full(&input.whole);
    assert_eq!(
        full, chunks,
        "{group_name}: Session and ChunkDecoder disagree on the message count"
    );
    let mut rml = Vec::new();
    rml_rtmp(&input.chunks, |s| rml.push(s));
    check("rml_rtmp", group_name, &reference, &rml);
    let mut scuffle = Vec::new();
    scuffle_rtmp(&input.chunks, |s| scuffle.push(s));
    check("scuffle_rtmp", group_name, &reference, &scuffle);
    // Parsed by scripts/bench.sh; keep the shape.
    println!(
        "counts {group_name} messages={chunks} bytes={} chunk_bytes={} \
         rtmpscope_full={full} rml_rtmp={} scuffle_rtmp={}",
        input.whole_len,
        input.chunks_len,
        rml.len(),
        scuffle.len()
    );

    let mut group = c.benchmark_group(group_name);
    // One iteration decodes a whole capture (up to tens of milliseconds), so
    // criterion's linear sampling would need far more time than it is given.
    group.sampling_mode(SamplingMode::Flat).sample_size(50);

    let mut buf = vec![0u8; PIECE];
    group.throughput(Throughput::Bytes(input.whole_len as u64));
    group.bench_function("memcpy", |b| {
        b.iter(|| memcpy(black_box(&input.whole), &mut buf))
    });
    group.throughput(Throughput::Bytes(input.chunks_len as u64));
    group.bench_function("rtmpscope_chunks", |b| {
        b.iter(|| rtmpscope_chunks(black_box(&input.chunks), |_| {}))
    });
    group.throughput(Throughput::Bytes(input.whole_len as u64));
    group.bench_function("rtmpscope_full", |b| {
        b.iter(|| rtmpscope_full(black_box(&input.whole)))
    });
    group.throughput(Throughput::Bytes(input.chunks_len as u64));
    group.bench_function("rml_rtmp", |b| {
        b.iter(|| rml_rtmp(black_box(&input.chunks), |_| {}))
    });
    group.bench_function("scuffle_rtmp", |b| {
        b.iter(|| scuffle_rtmp(black_box(&input.chunks), |_| {}))
    });
    group.finish();
}

/// The decoders timed in alternation: the minimum of many short rounds per
/// decoder. Criterion measures one decoder after the other, so on a shared
/// machine whose speed drifts over seconds its ratios move by 30 %; rounds
/// that alternate every few milliseconds see the same machine.
fn interleaved(group_name: &str, input: &Input) {
    const ROUNDS: usize = 40;
    let decoders: [(&str, &dyn Fn() -> usize); 4] = [
        ("rtmpscope_chunks", &|| {
            rtmpscope_chunks(black_box(&input.chunks), |_| {})
        }),
        ("rtmpscope_full", &|| {
            rtmpscope_full(black_box(&input.whole))
        }),
        ("rml_rtmp", &|| rml_rtmp(black_box(&input.chunks), |_| {})),
        ("scuffle_rtmp", &|| {
            scuffle_rtmp(black_box(&input.chunks), |_| {})
        }),
    ];
    let time = |f: &dyn Fn() -> usize, reps: usize| {
        let t = std::time::Instant::now();
        for _ in 0..reps {
            black_box(f());
        }
        t.elapsed().as_nanos() as f64 / reps as f64
    };
    // About 10 ms per decoder and round.
    let reps: Vec<usize> = decoders
        .iter()
        .map(|(_, f)| (1e7 / time(*f, 3)).clamp(1.0, 10_000.0) as usize)
        .collect();
    let mut best = [f64::MAX; 4];
    for _ in 0..ROUNDS {
        for (i, (_, f)) in decoders.iter().enumerate() {
            best[i] = best[i].min(time(*f, reps[i]));
        }
    }
    // Parsed by scripts/bench.sh; keep the shape.
    let fields: Vec<String> = decoders
        .iter()
        .zip(best)
        .map(|((name, _), ns)| format!("{name}={ns:.0}"))
        .collect();
    println!(
        "interleaved {group_name} rounds={ROUNDS} {}",
        fields.join(" ")
    );
}

fn throughput(c: &mut Criterion) {
    // Criterion's filter (`bash scripts/bench.sh small_240p`) also selects
    // the interleaved runs; option values (numbers) are not filters.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .collect();
    for (group_name, file) in STREAMS {
        if let Some(input) = load(file) {
            bench_stream(c, group_name, &input);
            if filters.is_empty() || filters.iter().any(|f| group_name.contains(f.as_str())) {
                interleaved(group_name, &input);
            }
        }
    }
}

criterion_group!(benches, throughput);
criterion_main!(benches);
