//! Every real capture in tests/fixtures, decoded by rtmpscope, must agree
//! message by message with tshark's RTMP dissector (the `.tshark.tsv` files
//! made by scripts/tshark-rtmp-tsv.py; see its header for the columns).
//!
//! Compared per connection and direction, in order: header format, chunk
//! stream id, type id, message stream id (tshark shows it for fmt 0 only),
//! length, absolute timestamp, the command name and every AMF string value,
//! and the protocol control values and media tag bytes tshark shows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use rtmpscope_core::amf::{Node, Value};
use rtmpscope_core::message::Body;
use rtmpscope_core::session::{decode_pair, Event, MessageEvent};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

#[derive(Debug)]
struct Row {
    line: usize,
    conn: usize,
    dir: String,
    fmt: u8,
    csid: u32,
    type_id: u8,
    stream_id: Option<u32>,
    length: u32,
    timestamp: Option<u64>,
    ext_ts: Option<u64>,
    command: String,
    strings: String,
    info: String,
}

fn read_tsv(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (c_conn, c_dir, c_fmt, c_csid, c_type, c_sid, c_len, c_ts, c_ext, c_cmd, c_str, c_info) = (
        col("conn"),
        col("dir"),
        col("fmt"),
        col("csid"),
        col("type"),
        col("stream_id"),
        col("length"),
        col("timestamp"),
        col("ext_ts"),
        col("command"),
        col("strings"),
        col("info"),
    );
    lines
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            let f: Vec<&str> = l.split('\t').collect();
            let get = |c: usize| f.get(c).copied().unwrap_or("");
            let opt = |c: usize| {
                let v = get(c);
                (!v.is_empty()).then(|| v.parse::<u64>().unwrap())
            };
            Row {
                line: i + 2,
                conn: get(c_conn).parse().unwrap(),
                dir: get(c_dir).to_string(),
                fmt: get(c_fmt).parse().unwrap(),
                csid: get(c_csid).parse().unwrap(),
                type_id: get(c_type).parse().unwrap(),
                stream_id: opt(c_sid).map(|v| v as u32),
                length: get(c_len).parse().unwrap(),
                timestamp: opt(c_ts),
                ext_ts: opt(c_ext),
                command: get(c_cmd).to_string(),
                strings: get(c_str).to_string(),
                info: get(c_info).to_string(),
            }
        })
        .collect()
}

/// The script's escaping: bytes outside printable ASCII, '\\' and '|' as \xNN.
fn escape(b: &[u8], keep_bar: bool) -> String {
    let mut s = String::new();
    for &c in b {
        if (0x20..0x7f).contains(&c) && c != b'\\' && (c != b'|' || keep_bar) {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s
}

/// Every string value in document order (property names left out).
fn strings_of(n: &Node, out: &mut Vec<String>) {
    match &n.value {
        Value::String(s) | Value::LongString(s) => out.push(escape(s.as_bytes(), false)),
        _ => {}
    }
    for c in n.value.children() {
        strings_of(c, out);
    }
}

fn info_of(m: &MessageEvent) -> String {
    match &m.body {
        Body::SetChunkSize(v) => format!("chunk_size={v}"),
        Body::Ack(v) => format!("ack={v}"),
        Body::WindowAckSize(v) => format!("window={v}"),
        Body::Abort(c) => format!("abort_csid={c}"),
        _ => match m.raw.type_id {
            8 => format!("audio=0x{:02x}", m.raw.payload.get(0).unwrap_or(0)),
            9 => format!("video=0x{:02x}", m.raw.payload.get(0).unwrap_or(0)),
            _ => String::new(),
        },
    }
}

/// Decodes every connection of a fixture and returns its messages per (conn, dir).
fn decode_fixture(name: &str) -> HashMap<(usize, String), Vec<MessageEvent>> {
    let dir = fixtures();
    let mut out = HashMap::new();
    let conns: Vec<(usize, String)> = if dir.join(format!("{name}.c2s")).exists() {
        vec![(0, name.to_string())]
    } else {
        (0..)
            .map(|i| (i, format!("{name}.{i}")))
            .take_while(|(_, n)| dir.join(format!("{n}.c2s")).exists())
            .collect()
    };
    assert!(!conns.is_empty(), "no streams for fixture {name}");
    for (i, base) in conns {
        let c2s = std::fs::read(dir.join(format!("{base}.c2s"))).unwrap();
        let s2c = std::fs::read(dir.join(format!("{base}.s2c"))).unwrap();
        let mut evs = Vec::new();
        decode_pair(Bytes::from(c2s), Bytes::from(s2c), &mut evs);
        for e in evs {
            match e {
                Event::Message(m) => {
                    let d = m.dir.as_str().to_string();
                    out.entry((i, d)).or_insert_with(Vec::new).push(m);
                }
                // A connection cut off mid-message (the server closing on a
                // denied publisher) is the only error a real capture may show.
                Event::Error(e) if e.found.contains("end of data") => {}
                Event::Error(e) => panic!("{base}: decoder error {e:?}"),
                _ => {}
            }
        }
    }
    out
}

/// Messages tshark 4.0 does not show although they are on the wire:
/// (fixture, connection, direction, our message index, why).
const TSHARK_MISSES: &[(&str, usize, &str, u64, &str)] = &[(
    "ffmpeg-extts",
    0,
    "c2s",
    10,
    "tshark 4.0's rtmpt dissector does not expect the 4-byte extended timestamp \
     that ffmpeg repeats after the basic header of a type-3 continuation chunk \
     (spec §5.3.1.3; ffmpeg, librtmp and nginx-rtmp all write it), so it loses \
     the 4486-byte keyframe that continues in such a chunk",
)];

fn check_fixture(name: &str) {
    let rows = read_tsv(&fixtures().join(format!("{name}.tshark.tsv")));
    let mut ours = decode_fixture(name);
    for &(fx, conn, dir, index, why) in TSHARK_MISSES {
        if fx != name {
            continue;
        }
        let list = ours.get_mut(&(conn, dir.to_string())).unwrap();
        let at = list.iter().position(|m| m.index == index).unwrap();
        let m = list.remove(at);
        // Prove the exception is what it claims: an extended timestamp and a continuation chunk.
        assert!(
            m.raw.extended && m.raw.chunks > 1,
            "{name}: exception no longer applies: {why}"
        );
    }
    let mut by_key: HashMap<(usize, String), Vec<&Row>> = HashMap::new();
    for r in &rows {
        by_key.entry((r.conn, r.dir.clone())).or_default().push(r);
    }
    let mut checked = 0;
    for (key, theirs) in &by_key {
        let mine: Vec<&MessageEvent> = ours
            .get(key)
            .map(|v| v.iter().filter(|m| m.raw.complete).collect())
            .unwrap_or_default();
        assert_eq!(
            mine.len(),
            theirs.len(),
            "{name} {key:?}: message count (ours vs tshark)"
        );
        // Absolute timestamps when tshark only shows a raw extended delta.
        let mut last_ts: HashMap<u32, u64> = HashMap::new();
        for (m, r) in mine.iter().zip(theirs) {
            let ctx = format!(
                "{name} conn {} {} tsv line {} (our #{})",
                r.conn, r.dir, r.line, m.index
            );
            let raw = &m.raw;
            assert_eq!(raw.fmt, r.fmt, "{ctx}: fmt");
            assert_eq!(raw.csid, r.csid, "{ctx}: csid");
            assert_eq!(raw.type_id, r.type_id, "{ctx}: type");
            if let Some(sid) = r.stream_id {
                assert_eq!(raw.stream_id, sid, "{ctx}: stream id");
            }
            assert_eq!(raw.length, r.length, "{ctx}: length");
            let expected_ts = match (r.fmt, r.ext_ts, r.timestamp) {
                (0, Some(ext), _) => Some(ext),
                (0, None, ts) => ts,
                (_, Some(ext), _) => last_ts.get(&r.csid).map(|p| (p + ext) & 0xFFFF_FFFF),
                (_, None, ts) => ts,
            };
            if let Some(ts) = expected_ts {
                assert_eq!(raw.timestamp as u64, ts, "{ctx}: timestamp");
                last_ts.insert(r.csid, ts);
            }
            if !r.command.is_empty() {
                let ours_name = match &m.body {
                    Body::Command(c) => c.name.clone(),
                    Body::Data(d) => d.name.clone().unwrap_or_default(),
                    other => panic!(
                        "{ctx}: tshark sees command {} but we decoded {other:?}",
                        r.command
                    ),
                };
                assert_eq!(
                    escape(ours_name.as_bytes(), true),
                    r.command,
                    "{ctx}: command"
                );
            }
            if !r.strings.is_empty() {
                let values = match &m.body {
                    Body::Command(c) => &c.values,
                    Body::Data(d) => &d.values,
                    _ => panic!("{ctx}: strings without AMF"),
                };
                let mut s = Vec::new();
                for v in values {
                    strings_of(v, &mut s);
                }
                assert_eq!(s.join("|"), r.strings, "{ctx}: AMF strings");
            }
            let info = info_of(m);
            if r.info.starts_with("chunk_size=")
                || r.info.starts_with("ack=")
                || r.info.starts_with("window=")
                || r.info.starts_with("audio=")
                || r.info.starts_with("video=")
            {
                assert_eq!(info, r.info, "{ctx}: info");
            }
            checked += 1;
        }
    }
    for key in ours.keys() {
        if !by_key.contains_key(key) {
            let complete = ours[key].iter().filter(|m| m.raw.complete).count();
            assert_eq!(complete, 0, "{name} {key:?}: messages tshark does not show");
        }
    }
    assert!(checked > 0, "{name}: nothing compared");
    eprintln!("{name}: {checked} messages agree with tshark");
}

macro_rules! fixture_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_fixture($name);
            }
        )*
    };
}

fixture_tests! {
    ffmpeg_publish_agrees_with_tshark => "ffmpeg-publish",
    ffmpeg_extended_timestamps_agree_with_tshark => "ffmpeg-extts",
    ffmpeg_crossing_extended_timestamps_agree_with_tshark => "ffmpeg-crossts",
    ffmpeg_play_agrees_with_tshark => "ffmpeg-play",
    gstreamer_publish_agrees_with_tshark => "gst-publish",
    rtmpdump_play_agrees_with_tshark => "rtmpdump-play",
    denied_publish_agrees_with_tshark => "publish-denied",
    legacy_codecs_publish_agrees_with_tshark => "ffmpeg-legacy",
    odd_chunk_size_from_nginx_agrees_with_tshark => "nginx-odd-chunks",
    publish_to_ffmpeg_server_agrees_with_tshark => "ffmpeg-server-publish",
    play_from_ffmpeg_server_agrees_with_tshark => "ffmpeg-server-play",
}

/// `PairDecoder` rebuilds the order of a real exchange from causality and
/// holds one step's events at a time: on ffmpeg's publish to nginx-rtmp,
/// every reply comes after the command it answers (so each `_result` finds
/// its command by transaction id), the publish status after the publish,
/// every step makes progress, and no step yields more than a few events.
#[test]
fn pair_decoder_steps_in_causal_order() {
    let dir = fixtures();
    let c2s = std::fs::read(dir.join("ffmpeg-publish.c2s")).unwrap();
    let s2c = std::fs::read(dir.join("ffmpeg-publish.s2c")).unwrap();
    let mut d = rtmpscope_core::session::PairDecoder::new(c2s.into(), s2c.into());
    let mut events = Vec::new();
    let mut commands = Vec::new();
    let mut most = 0;
    let mut left = d.remaining();
    let mut steps = 0;
    loop {
        let more = d.step(&mut events);
        steps += 1;
        assert!(d.remaining() <= left, "a step fed bytes back");
        left = d.remaining();
        most = most.max(events.len());
        for e in events.drain(..) {
            if let Event::Message(m) = e {
                if let rtmpscope_core::message::Body::Command(c) = &m.body {
                    let reply = m.reply_to.as_deref().unwrap_or("-");
                    commands.push(format!("{} {} {reply}", m.dir.as_str(), c.name));
                }
            }
        }
        if !more {
            break;
        }
    }
    assert_eq!(left, 0);
    assert!(steps > 10, "{steps} steps");
    assert!(most <= 64, "a step yielded {most} events");
    let pos = |what: &str| {
        commands
            .iter()
            .position(|c| c.starts_with(what))
            .unwrap_or_else(|| panic!("no {what} in {commands:?}"))
    };
    // tshark shows nginx answering connect and createStream (frames of the pcap).
    assert!(
        pos("c2s connect") < pos("s2c _result connect"),
        "{commands:?}"
    );
    assert!(
        pos("c2s createStream") < pos("s2c _result createStream"),
        "{commands:?}"
    );
    assert!(pos("c2s publish") < pos("s2c onStatus"), "{commands:?}");
}
