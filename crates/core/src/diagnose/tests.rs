//! Diagnosis rules on real captures (tests/fixtures and tests/fixtures/failures),
//! on byte-level edits of them (each edit written out in its test), and on the
//! clean captures, which must give no error and no warning.
//!
//! Expected evidence is located independently of the rule: by finding the
//! message that shows the fault in the decoded events (and, where the capture
//! has them, in tshark's rows or the fixture's .md).

use std::path::PathBuf;

use bytes::Bytes;

use super::*;
use crate::chunk::ChunkEncoder;
use crate::handshake::HANDSHAKE_SIZE;
use crate::media::VideoTag;
use crate::session::{decode_pair, Session};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

// ------------------------------------------------------------------ helpers

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    let p = path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn text(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap()
}

fn pair(name: &str) -> (Vec<u8>, Vec<u8>) {
    (
        fixture(&format!("{name}.c2s")),
        fixture(&format!("{name}.s2c")),
    )
}

fn events_of(c2s: &[u8], s2c: &[u8]) -> Vec<Event> {
    let mut evs = Vec::new();
    decode_pair(
        Bytes::copy_from_slice(c2s),
        Bytes::copy_from_slice(s2c),
        &mut evs,
    );
    evs
}

fn run(name: &str) -> (Vec<Event>, Vec<Finding>) {
    let (c, s) = pair(name);
    let evs = events_of(&c, &s);
    let f = diagnose(&evs);
    (evs, f)
}

fn run_bytes(c: &[u8], s: &[u8]) -> (Vec<Event>, Vec<Finding>) {
    let evs = events_of(c, s);
    let f = diagnose(&evs);
    (evs, f)
}

fn list(fs: &[Finding]) -> String {
    fs.iter()
        .map(|f| format!("{} {} ({})", f.severity.as_str(), f.code, f.title))
        .collect::<Vec<_>>()
        .join("\n  ")
}

fn find<'a>(fs: &'a [Finding], code: &str) -> &'a Finding {
    fs.iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} among:\n  {}", list(fs)))
}

fn assert_none(fs: &[Finding], code: &str) {
    assert!(
        fs.iter().all(|f| f.code != code),
        "unexpected {code} among:\n  {}",
        list(fs)
    );
}

fn assert_clean(name: &str, fs: &[Finding]) {
    let bad: Vec<Finding> = fs
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .cloned()
        .collect();
    assert!(
        bad.is_empty(),
        "{name} must be clean, got:\n  {}",
        list(&bad)
    );
}

fn messages(evs: &[Event]) -> impl Iterator<Item = &MessageEvent> {
    evs.iter().filter_map(|e| match e {
        Event::Message(m) => Some(m),
        _ => None,
    })
}

/// The first message of `dir` matching `pred`.
fn msg(evs: &[Event], dir: Direction, pred: impl Fn(&MessageEvent) -> bool) -> &MessageEvent {
    messages(evs)
        .find(|m| m.dir == dir && pred(m))
        .expect("no such message")
}

fn command_name(m: &MessageEvent) -> Option<&str> {
    match &m.body {
        Body::Command(c) => Some(c.name.as_str()),
        _ => None,
    }
}

fn status_code(m: &MessageEvent) -> Option<&str> {
    match &m.body {
        Body::Command(c) => c.status().and_then(|s| s.code.as_deref()),
        _ => None,
    }
}

fn video_of(m: &MessageEvent) -> Option<&VideoTag> {
    match &m.body {
        Body::Video(v) => Some(v),
        _ => None,
    }
}

fn is_coded_video(m: &MessageEvent) -> bool {
    video_of(m).is_some_and(|v| v.is_coded_frame())
}

fn is_coded_audio(m: &MessageEvent) -> bool {
    matches!(&m.body, Body::Audio(a) if a.is_coded_frames())
}

/// Asserts that `e` points at message `m`.
fn points_at(e: &Evidence, m: &MessageEvent) {
    assert_eq!(
        (e.dir, e.index, e.offset),
        (m.dir, Some(m.index), m.raw.offset),
        "evidence {e:?} is not message {} {} at {}",
        m.dir.as_str(),
        m.index,
        m.raw.offset
    );
}

/// Feeds a stream pair like `decode_pair` (the client until it sends a
/// command, then the server, …) but with capture times that advance 1 ms per
/// piece, into a live diagnoser. Returns the events, the findings `take_new`
/// gave during the feed, and the final findings.
fn run_timed(c2s: &[u8], s2c: &[u8], start: f64) -> (Vec<Event>, Vec<Finding>, Vec<Finding>) {
    run_timed_gap(c2s, s2c, start, None)
}

/// [`run_timed`], with the client's bytes `gap.0..gap.1` lost from the capture.
fn run_timed_gap(
    c2s: &[u8],
    s2c: &[u8],
    start: f64,
    gap: Option<(usize, usize)>,
) -> (Vec<Event>, Vec<Finding>, Vec<Finding>) {
    let mut s = Session::new();
    let mut d = Diagnoser::new();
    let mut evs = Vec::new();
    let mut live = Vec::new();
    let mut t = start;
    let mut rest = [Bytes::copy_from_slice(c2s), Bytes::copy_from_slice(s2c)];
    let mut fed_c2s = 0usize;
    let mut gap = gap;
    let feed = |s: &mut Session,
                d: &mut Diagnoser,
                dir: Direction,
                n: usize,
                rest: &mut [Bytes; 2],
                evs: &mut Vec<Event>,
                live: &mut Vec<Finding>,
                t: &mut f64,
                fed_c2s: &mut usize,
                gap: &mut Option<(usize, usize)>|
     -> bool {
        let r = &mut rest[dir_idx(dir)];
        if r.is_empty() {
            return false;
        }
        let mut n = n.min(r.len());
        if let (C2S, Some((from, _))) = (dir, *gap) {
            n = n.min(from - *fed_c2s);
        }
        let piece = r.split_to(n);
        let before = evs.len();
        *t += 0.001;
        s.feed(dir, piece, *t, evs);
        if dir == C2S {
            *fed_c2s += n;
            if let Some((from, to)) = *gap {
                if *fed_c2s == from {
                    s.gap(C2S, (to - from) as u64, *t, evs);
                    let _ = r.split_to(to - from);
                    *fed_c2s = to;
                    *gap = None;
                }
            }
        }
        let mut cmd = false;
        for e in &evs[before..] {
            d.observe(e);
            cmd |= matches!(e, Event::Message(m) if matches!(m.body, Body::Command(_)));
        }
        live.extend(d.take_new());
        cmd
    };
    let (f, g) = (&mut fed_c2s, &mut gap);
    feed(
        &mut s,
        &mut d,
        C2S,
        1 + HANDSHAKE_SIZE,
        &mut rest,
        &mut evs,
        &mut live,
        &mut t,
        f,
        g,
    );
    feed(
        &mut s,
        &mut d,
        S2C,
        1 + 2 * HANDSHAKE_SIZE,
        &mut rest,
        &mut evs,
        &mut live,
        &mut t,
        f,
        g,
    );
    feed(
        &mut s,
        &mut d,
        C2S,
        HANDSHAKE_SIZE,
        &mut rest,
        &mut evs,
        &mut live,
        &mut t,
        f,
        g,
    );
    let mut dir = C2S;
    while !(rest[0].is_empty() && rest[1].is_empty()) {
        if rest[dir_idx(dir)].is_empty()
            || feed(
                &mut s, &mut d, dir, 512, &mut rest, &mut evs, &mut live, &mut t, f, g,
            )
        {
            dir = dir.reverse();
        }
    }
    let before = evs.len();
    s.finish(&mut evs);
    for e in &evs[before..] {
        d.observe(e);
    }
    live.extend(d.take_new());
    let all = d.finish();
    (evs, live, all)
}

/// Replaces the AMF0 string `old` by `new` inside a single-chunk message
/// whose header carries a length (fmt 0/1), fixing the string's length prefix
/// and the header's message length.
fn replace_string(stream: &mut Vec<u8>, m: &MessageEvent, old: &str, new: &str) {
    assert_eq!(m.raw.chunks, 1, "single-chunk messages only");
    let span = m.raw.spans[0];
    assert!(span.fmt <= 1 && m.raw.csid < 64);
    let start = (span.offset + u64::from(span.header_len)) as usize;
    let end = start + m.raw.length as usize;
    let pos = start
        + stream[start..end]
            .windows(old.len())
            .position(|w| w == old.as_bytes())
            .unwrap_or_else(|| panic!("{old} not in the message"));
    assert_eq!(
        u16::from_be_bytes([stream[pos - 2], stream[pos - 1]]) as usize,
        old.len(),
        "{old} is not a whole AMF0 string"
    );
    stream.splice(pos..pos + old.len(), new.bytes());
    stream[pos - 2..pos].copy_from_slice(&(new.len() as u16).to_be_bytes());
    let len = (m.raw.length as usize + new.len() - old.len()) as u32;
    let at = span.offset as usize + 1 + 3;
    stream[at..at + 3].copy_from_slice(&len.to_be_bytes()[1..]);
}

/// Overwrites the AMF0 number of property `key` inside `range` of a stream.
fn set_number(stream: &mut [u8], range: std::ops::Range<u64>, key: &str, value: f64) {
    let mut pat = (key.len() as u16).to_be_bytes().to_vec();
    pat.extend_from_slice(key.as_bytes());
    pat.push(0x00); // AMF0 number marker
    let (a, b) = (range.start as usize, range.end as usize);
    let pos = a + stream[a..b]
        .windows(pat.len())
        .position(|w| w == pat)
        .unwrap_or_else(|| panic!("no number {key}"));
    let at = pos + pat.len();
    stream[at..at + 8].copy_from_slice(&value.to_be_bytes());
}

/// Byte offset of a message's payload byte `i` (within its first chunk).
fn payload_at(m: &MessageEvent, i: u64) -> usize {
    let span = m.raw.spans[0];
    assert!(i < u64::from(span.payload_len));
    (span.offset + u64::from(span.header_len) + i) as usize
}

/// Overwrites the 24-bit timestamp/delta field of a message's first chunk header (fmt 0–2).
fn set_ts_field(stream: &mut [u8], m: &MessageEvent, value: u32) {
    let span = m.raw.spans[0];
    assert!(span.fmt <= 2 && m.raw.csid < 64 && value < 0xFF_FFFF);
    let at = span.offset as usize + 1;
    stream[at..at + 3].copy_from_slice(&value.to_be_bytes()[1..]);
}

/// Removes whole single-chunk messages from a stream (latest first, so offsets hold).
fn remove_messages<'a>(stream: &mut Vec<u8>, ms: impl Iterator<Item = &'a MessageEvent>) {
    let mut ranges: Vec<(usize, usize)> = ms
        .map(|m| {
            assert_eq!(m.raw.chunks, 1);
            (m.raw.offset as usize, m.raw.end as usize)
        })
        .collect();
    ranges.sort();
    for (a, b) in ranges.into_iter().rev() {
        stream.drain(a..b);
    }
}

// ------------------------------------------------------------------ clean captures

const CLEAN: [&str; 8] = [
    "ffmpeg-publish",
    "ffmpeg-legacy",
    "gst-publish",
    "ffmpeg-play",
    "rtmpdump-play",
    "ffmpeg-extts.0",
    "ffmpeg-extts.1",
    "ffmpeg-crossts",
];

#[test]
fn clean_captures_give_no_error_and_no_warning() {
    for name in CLEAN {
        let (_, fs) = run(name);
        assert_clean(name, &fs);
    }
}

#[test]
fn clean_captures_with_capture_times_stay_clean() {
    // With times, the live rules (connect timeout, media before Publish.Start,
    // acknowledgements as they happen) run too.
    for name in CLEAN {
        let (c, s) = pair(name);
        let (_, live, all) = run_timed(&c, &s, 1000.0);
        assert_clean(name, &live);
        assert_clean(name, &all);
    }
}

#[test]
fn clean_publishers_only_get_the_stream_key_note() {
    for name in ["ffmpeg-publish", "gst-publish", "ffmpeg-crossts"] {
        let (_, fs) = run(name);
        let codes: Vec<&str> = fs.iter().map(|f| f.code).collect();
        assert_eq!(codes, ["publish.key_visible"], "{name}");
    }
    for name in ["ffmpeg-play", "rtmpdump-play"] {
        let (_, fs) = run(name);
        assert!(fs.is_empty(), "{name}: {}", list(&fs));
    }
}

// ------------------------------------------------------------------ real failures

#[test]
fn publish_denied_by_nginx_is_a_dropped_publish() {
    let (evs, fs) = run("publish-denied");
    let f = find(&fs, "publish.dropped");
    assert_eq!(f.severity, Severity::Error);
    // The first error is the refusal itself, not its consequence.
    assert_eq!(fs[0].code, "publish.dropped");
    let publish = msg(&evs, C2S, |m| command_name(m) == Some("publish"));
    let start = msg(&evs, S2C, |m| {
        status_code(m) == Some("NetStream.Publish.Start")
    });
    let cut = msg(&evs, C2S, |m| !m.raw.complete);
    points_at(&f.evidence[0], publish);
    points_at(&f.evidence[1], start);
    points_at(&f.evidence[2], cut);
    assert!(
        f.explanation.contains("NetStream.Publish.Start"),
        "{}",
        f.explanation
    );
    // tshark's rows: the status nginx sent before closing is that onStatus (csid, length agree).
    let tsv = text("publish-denied.tshark.tsv");
    let row = tsv
        .lines()
        .find(|l| l.contains("\ts2c\t") && l.contains("NetStream.Publish.Start"))
        .expect("tshark row");
    let cols: Vec<&str> = row.split('\t').collect();
    assert_eq!(
        (cols[4], cols[7]),
        (
            start.raw.csid.to_string().as_str(),
            start.raw.length.to_string().as_str()
        )
    );
    // The .md: 309-byte @setDataFrame at 3403, 0 bytes arrived.
    assert!(text("publish-denied.md").contains(&format!(
        "starting at offset {}: 0 of 309 bytes arrived",
        cut.raw.offset
    )));
    assert_eq!(cut.raw.length, 309);
    // The truncated message is reported too, as an error (media data of a live publish).
    let t = find(&fs, "end.truncated");
    assert_eq!(t.severity, Severity::Error);
    points_at(&t.evidence[0], cut);
}

#[test]
fn publish_denied_with_close_information_says_the_server_closed() {
    let (c, s) = pair("publish-denied");
    let evs = events_of(&c, &s);
    let mut d = Diagnoser::new();
    for e in &evs {
        d.observe(e);
    }
    // From the .md: the server's side ends with FIN+RST, the client's with neither.
    assert!(text("publish-denied.md").contains("s2c 3482 bytes (FIN+RST)"));
    d.closed(S2C, false, 0.0);
    let fs = d.finish();
    assert_eq!(
        find(&fs, "publish.dropped").title,
        "The server closed the connection right after publish"
    );
}

#[test]
fn application_that_does_not_exist_gets_no_answer_to_connect() {
    let (evs, fs) = run("failures/no-app");
    let f = find(&fs, "connect.no_reply");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(fs[0].code, "connect.no_reply");
    let connect = msg(&evs, C2S, |m| command_name(m) == Some("connect"));
    points_at(&f.evidence[0], connect);
    assert_eq!(
        (f.evidence[1].dir, f.evidence[1].index, f.evidence[1].offset),
        (S2C, None, 1537)
    );
    assert!(f.explanation.contains("nosuchapp"));
    // Independent: nginx logged it, and tshark saw only connect.
    let md = text("failures/no-app.md");
    assert!(md.contains("application not found: 'nosuchapp'"));
    assert!(md.contains("c2s\tconnect('nosuchapp')"));
    assert_none(&fs, "handshake.closed_after");
}

#[test]
fn connect_unanswered_for_ten_seconds_is_raised_live() {
    let (c, s) = pair("failures/no-app");
    let mut session = Session::new();
    let mut d = Diagnoser::new();
    let mut evs = Vec::new();
    session.feed(C2S, Bytes::copy_from_slice(&c[..1537]), 100.0, &mut evs);
    session.feed(S2C, Bytes::copy_from_slice(&s), 100.01, &mut evs);
    session.feed(C2S, Bytes::copy_from_slice(&c[1537..]), 100.02, &mut evs);
    for e in &evs {
        d.observe(e);
    }
    d.tick(105.0);
    assert!(d.take_new().is_empty());
    d.tick(110.5);
    let new = d.take_new();
    let f = find(&new, "connect.no_reply");
    assert!(
        f.title.starts_with("No answer to connect after 10 s"),
        "{}",
        f.title
    );
    let connect = msg(&evs, C2S, |m| command_name(m) == Some("connect"));
    points_at(&f.evidence[0], connect);
    // Not raised twice at the end.
    let all = d.finish();
    assert_eq!(
        all.iter().filter(|f| f.code == "connect.no_reply").count(),
        1
    );
}

#[test]
fn second_publisher_on_the_same_name_is_rejected_with_bad_name() {
    let (evs, fs) = run("failures/second-publisher");
    let f = find(&fs, "publish.rejected");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.title,
        "Server rejected the publish: NetStream.Publish.BadName"
    );
    assert!(f.explanation.contains("Already publishing"));
    assert!(f.hint.contains("already in use"));
    let bad = msg(&evs, S2C, |m| {
        status_code(m) == Some("NetStream.Publish.BadName")
    });
    let publish = msg(&evs, C2S, |m| command_name(m) == Some("publish"));
    points_at(&f.evidence[0], bad);
    points_at(&f.evidence[1], publish);
    assert!(
        text("failures/second-publisher.md").contains("s2c\tonStatus('NetStream.Publish.BadName')")
    );
    // A refused publish is not also an abrupt end or a dropped publish.
    assert_none(&fs, "end.no_unpublish");
    assert_none(&fs, "publish.dropped");
    assert_eq!(fs[0].code, "publish.rejected");
}

#[test]
fn killed_publisher_ends_without_unpublish() {
    let (evs, fs) = run("failures/killed-publisher");
    let f = find(&fs, "end.no_unpublish");
    assert_eq!(f.severity, Severity::Error);
    let last = messages(&evs).filter(|m| m.dir == C2S).last().unwrap();
    let publish = msg(&evs, C2S, |m| command_name(m) == Some("publish"));
    points_at(&f.evidence[0], last);
    points_at(&f.evidence[1], publish);
    // tshark's last media row is the same message (type and timestamp).
    let md = text("failures/killed-publisher.md");
    let tail = md.split("...\n").nth(1).unwrap();
    let last_row = tail
        .lines()
        .take_while(|l| !l.starts_with("```"))
        .last()
        .unwrap();
    let cols: Vec<&str> = last_row.split('\t').collect();
    assert_eq!(cols[1], format!("0x{:02x}", last.raw.type_id));
    assert_eq!(cols[2], last.raw.timestamp.to_string());
    // The key is redacted in the evidence (nginx logged name='killed').
    assert!(md.contains("name='killed'"));
    for x in &fs {
        for e in &x.evidence {
            assert!(!e.what.contains("killed"), "{}", e.what);
        }
    }
    assert_eq!(
        find(&fs, "publish.key_visible").title,
        "The stream key 'kill…' is visible in this capture"
    );
}

#[test]
fn killed_publisher_with_the_server_closing_first_is_a_server_close() {
    let (c, s) = pair("failures/killed-publisher");
    let evs = events_of(&c, &s);
    let mut d = Diagnoser::new();
    for e in &evs {
        d.observe(e);
    }
    d.closed(S2C, true, 10.0);
    d.closed(C2S, false, 10.5);
    let fs = d.finish();
    let f = find(&fs, "end.server_closed");
    assert_eq!(
        f.title,
        "The server reset the connection while the client was publishing"
    );
    assert_none(&fs, "end.no_unpublish");
}

/// A diagnoser fed `evs`, then told of the closes `(dir, reset, time)` in order.
fn diagnose_closed(evs: &[Event], closes: &[(Direction, bool, f64)]) -> Vec<Finding> {
    let mut d = Diagnoser::new();
    for e in evs {
        d.observe(e);
    }
    for &(dir, reset, time) in closes {
        d.closed(dir, reset, time);
    }
    d.finish()
}

#[test]
fn relay_that_ends_with_an_end_of_sequence_is_not_an_error() {
    let (c, s) = pair("failures/relay-push");
    let evs = events_of(&c, &s);
    // The .md: nginx's relay (client) sent the first FIN, at 3.024095 s.
    let md = text("failures/relay-push.md");
    assert!(md.contains("c2s 97500 bytes (FIN), s2c 3482 bytes (FIN)"));
    assert!(md.contains("416\t3.024095000\t42646\t19361\t·······A···F"));
    let fs = diagnose_closed(&evs, &[(C2S, false, 3.024095), (S2C, false, 3.024149)]);
    assert!(
        fs.iter().all(|f| f.severity != Severity::Error),
        "{}",
        list(&fs)
    );
    let f = find(&fs, "end.no_unpublish");
    assert_eq!(f.severity, Severity::Info);
    // The evidence is the relay's last video: the 5-byte AVC end of sequence
    // (0x17 0x02 and a zero composition time) that tshark lists last, at 2983 ms.
    let eos = messages(&evs)
        .filter(|m| m.dir == C2S && m.raw.type_id == 9)
        .last()
        .unwrap();
    assert_eq!((eos.raw.length, eos.raw.timestamp), (5, 2983));
    assert!(md.contains("414\t0x08,0x09\t3018,2983\t1\t7"));
    let off = (eos.raw.spans[0].offset + u64::from(eos.raw.spans[0].header_len)) as usize;
    assert_eq!(&c[off..off + 5], &[0x17, 0x02, 0, 0, 0]);
    points_at(&f.evidence[0], eos);
    // The same session cut by a reset is not a clean end: an error again.
    let fs = diagnose_closed(&evs, &[(C2S, true, 3.024095)]);
    assert_eq!(find(&fs, "end.no_unpublish").severity, Severity::Error);
}

#[test]
fn publisher_that_sends_nothing_and_leaves_is_not_dropped_by_the_server() {
    let (c, s) = pair("failures/idle-publisher");
    let evs = events_of(&c, &s);
    // From the .md: rtmp2sink's FIN (frame 27) comes before nginx's (frame 28),
    // and nginx logged the publish, then the client's disconnect.
    let md = text("failures/idle-publisher.md");
    assert!(md.contains("27\t3.954663000\t42648\t19361\t·······A···F"));
    assert!(md.contains("28\t3.954904000\t19361\t42648\t·······A···F"));
    assert!(md.contains("publish: name='idle'"));
    let fs = diagnose_closed(&evs, &[(C2S, false, 3.954663), (S2C, false, 3.954904)]);
    let f = find(&fs, "publish.no_media_sent");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.title,
        "The publisher sent no audio or video and closed the connection"
    );
    assert_none(&fs, "publish.dropped");
    let publish = msg(&evs, C2S, |m| command_name(m) == Some("publish"));
    points_at(&f.evidence[0], publish);
    assert!(messages(&evs).all(|m| !matches!(m.raw.type_id, 8 | 9)));
    // Had nginx closed first, the server would be the one that dropped it;
    // and when both ends go at the same instant (as the proxy can see a denied
    // publish), nothing says the client left by itself.
    for closes in [
        [(S2C, false, 3.95), (C2S, false, 3.96)],
        [(S2C, false, 3.95), (C2S, false, 3.95)],
    ] {
        let fs = diagnose_closed(&evs, &closes);
        assert_eq!(
            find(&fs, "publish.dropped").title,
            "The server closed the connection right after publish"
        );
        assert_none(&fs, "publish.no_media_sent");
    }
}

#[test]
fn long_gop_from_ffmpeg_g600_breaks_the_keyframe_interval() {
    let (evs, fs) = run("failures/long-gop");
    let f = find(&fs, "media.keyframe_interval");
    assert_eq!(f.severity, Severity::Error);
    // The only keyframe, and the first frame more than 4 s after it.
    let key = msg(&evs, C2S, |m| video_of(m).is_some_and(|v| v.is_keyframe()));
    let late = msg(&evs, C2S, |m| {
        is_coded_video(m) && i64::from(m.raw.timestamp) - i64::from(key.raw.timestamp) > 4000
    });
    points_at(&f.evidence[0], key);
    points_at(&f.evidence[1], late);
    // The title gives the longest stretch: from the keyframe to the last frame.
    let last = messages(&evs)
        .filter(|m| m.dir == C2S && is_coded_video(m))
        .last()
        .unwrap();
    let worst = f64::from(last.raw.timestamp - key.raw.timestamp) / 1000.0;
    assert_eq!(
        f.title,
        format!("No keyframe for {worst:.1} s of video (more than 4 s)")
    );
    // tshark: one keyframe (type 1) among the coded video frames in the first rows, codec 7.
    let md = text("failures/long-gop.md");
    assert!(md.contains(&format!("\t0x09\t{}\t1\t7", key.raw.timestamp)));
    assert_eq!(
        messages(&evs)
            .filter(|m| video_of(m).is_some_and(|v| v.is_keyframe()))
            .count(),
        1
    );
}

#[test]
fn video_that_stops_while_audio_goes_on() {
    let (evs, fs) = run("failures/video-stops");
    let f = find(&fs, "media.video_stopped");
    assert_eq!(f.severity, Severity::Error);
    let last_video = messages(&evs)
        .filter(|m| m.dir == C2S && is_coded_video(m))
        .last()
        .unwrap();
    let first_alone = msg(&evs, C2S, |m| {
        is_coded_audio(m) && i64::from(m.raw.timestamp) - i64::from(last_video.raw.timestamp) > 2500
    });
    points_at(&f.evidence[0], last_video);
    points_at(&f.evidence[1], first_alone);
    let last_audio = messages(&evs)
        .filter(|m| m.dir == C2S && is_coded_audio(m))
        .last()
        .unwrap();
    let alone = f64::from(last_audio.raw.timestamp - last_video.raw.timestamp) / 1000.0;
    assert_eq!(
        f.title,
        format!("The video stopped: {alone:.1} s of audio only after the last video frame")
    );
    // tshark's last rows hold a video message (0x09) at that timestamp.
    let md = text("failures/video-stops.md");
    let tail = md.split("...\n").nth(1).unwrap();
    let seen = tail
        .lines()
        .take_while(|l| !l.starts_with("```"))
        .any(|row| {
            let cols: Vec<&str> = row.split('\t').collect();
            cols.len() > 2
                && cols[1]
                    .split(',')
                    .zip(cols[2].split(','))
                    .any(|(t, ts)| t == "0x09" && ts == last_video.raw.timestamp.to_string())
        });
    assert!(
        seen,
        "tshark has no video message at {} ms",
        last_video.raw.timestamp
    );
    // It ends normally: no abrupt-end finding.
    assert_none(&fs, "end.no_unpublish");
}

#[test]
fn player_asking_for_a_stream_nobody_publishes() {
    let (evs, fs) = run("failures/play-missing");
    let f = find(&fs, "play.no_media");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(fs[0].code, "play.no_media");
    let play = msg(&evs, C2S, |m| command_name(m) == Some("play"));
    points_at(&f.evidence[0], play);
    let start = msg(&evs, S2C, |m| {
        status_code(m) == Some("NetStream.Play.Start")
    });
    points_at(&f.evidence[1], start);
    // tshark saw play and Play.Start, and no media rows at all.
    let md = text("failures/play-missing.md");
    assert!(md.contains("s2c\tonStatus('NetStream.Play.Start')"));
    assert!(md.contains("name='nothing'"));
    assert!(messages(&evs).all(|m| !matches!(m.body, Body::Audio(_) | Body::Video(_))));
}

#[test]
fn stream_key_refused_by_an_on_publish_callback() {
    let (evs, fs) = run("failures/auth-refused");
    let f = find(&fs, "publish.dropped");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(fs[0].code, "publish.dropped");
    assert!(
        f.explanation.contains("never confirmed the publish"),
        "{}",
        f.explanation
    );
    points_at(
        &f.evidence[0],
        msg(&evs, C2S, |m| command_name(m) == Some("publish")),
    );
    // No status after publish: the server's last word was createStream's result.
    assert!(messages(&evs).filter(|m| m.dir == S2C).all(
        |m| status_code(m).is_none() || status_code(m) == Some("NetConnection.Connect.Success")
    ));
    // tshark: publish is the last RTMP message; nginx called the hook, then disconnected.
    let md = text("failures/auth-refused.md");
    assert!(md.contains("c2s\tpublish('wrongkey')\n```"));
    assert!(md.contains("notify: publish"));
    // The key is redacted.
    assert!(
        f.evidence[0].what.contains("wron…"),
        "{}",
        f.evidence[0].what
    );
    assert!(!f.evidence[0].what.contains("wrongkey"));
}

#[test]
fn audio_that_starts_two_seconds_after_the_video() {
    let (evs, fs) = run("failures/av-offset");
    let f = find(&fs, "media.av_drift");
    assert_eq!(f.severity, Severity::Error);
    let first_video = msg(&evs, C2S, is_coded_video);
    let first_audio = msg(&evs, C2S, is_coded_audio);
    let late = f64::from(first_audio.raw.timestamp - first_video.raw.timestamp) / 1000.0;
    assert!(late > 1.5, "{late}");
    assert_eq!(
        f.title,
        format!("The audio starts {late:.1} s after the video")
    );
    points_at(&f.evidence[0], first_video);
    points_at(&f.evidence[1], first_audio);
    // tshark's first media rows: after the sequence headers (at 0 ms) only
    // video, while ffmpeg-publish's interleave audio from the start.
    let md = text("failures/av-offset.md");
    let head = md.split("codec):\n\n```\n").nth(1).unwrap();
    let rows: Vec<&str> = head.lines().take_while(|l| *l != "...").skip(1).collect();
    assert!(rows.len() >= 4);
    assert!(
        rows.iter().all(|r| r.split('\t').nth(1) == Some("0x09")),
        "{rows:?}"
    );
}

#[test]
fn capture_that_stops_while_the_session_is_live() {
    // killed-publisher, but the shell says no FIN/RST was seen: the capture
    // stopped, the publisher may still be live.
    let (c, s) = pair("failures/killed-publisher");
    let (evs, _) = run("failures/killed-publisher");
    let last = messages(&evs).filter(|m| m.dir == C2S).last().unwrap();
    let evs = events_of(&c[..last.raw.end as usize - 100], &s);
    let mut d = Diagnoser::new();
    for e in &evs {
        d.observe(e);
    }
    d.open_at_end();
    let fs = d.finish();
    assert_clean("killed-publisher cut by the capture", &fs);
    find(&fs, "capture.ends_live");
    assert_eq!(find(&fs, "end.truncated").severity, Severity::Info);
}

// ------------------------------------------------------------------ handshake (edits)

#[test]
fn c0_version_other_than_3_is_an_error() {
    let (mut c, s) = pair("ffmpeg-publish");
    c[0] = 4; // C0
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "handshake.version");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.title, "Client sent version 4 instead of RTMP 3");
    assert_eq!(
        (f.evidence[0].dir, f.evidence[0].index, f.evidence[0].offset),
        (C2S, None, 0)
    );
    assert!(matches!(&evs[0], Event::Handshake(h) if h.hello.as_ref().unwrap().version == 4));
}

#[test]
fn tls_record_instead_of_c0_is_named() {
    let (mut c, s) = pair("ffmpeg-publish");
    c[0] = 0x16;
    let (_, fs) = run_bytes(&c, &s);
    let f = find(&fs, "handshake.version");
    assert!(f.explanation.contains("TLS"), "{}", f.explanation);
    assert!(f.hint.contains("rtmps://"));
}

#[test]
fn rtmpe_answered_with_plain_rtmp() {
    let (mut c, s) = pair("ffmpeg-publish");
    c[0] = 6;
    let (_, fs) = run_bytes(&c, &s);
    let f = find(&fs, "handshake.version");
    assert_eq!(
        f.title,
        "The client asked for RTMPE (version 6) and the server answered with plain RTMP"
    );
    assert_eq!(f.evidence[1].offset, 0);
    assert_eq!(f.evidence[1].dir, S2C);
}

#[test]
fn server_that_never_answers_the_handshake() {
    let (c, s) = pair("ffmpeg-publish");
    // The server's stream stops 1000 bytes into S0+S1; the client's after C0+C1.
    let (_, fs) = run_bytes(&c[..1537], &s[..1000]);
    let f = find(&fs, "handshake.truncated");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.title, "The server never answered the handshake");
    assert_eq!((f.evidence[0].dir, f.evidence[0].offset), (C2S, 0));
}

#[test]
fn client_that_stops_before_c2() {
    let (c, s) = pair("ffmpeg-publish");
    let (_, fs) = run_bytes(&c[..1537 + 100], &s[..3073]);
    let f = find(&fs, "handshake.truncated");
    assert_eq!(f.title, "The client's handshake stops before C2");
    assert_eq!((f.evidence[0].dir, f.evidence[0].offset), (S2C, 1537));
}

#[test]
fn session_that_ends_right_after_the_handshake() {
    let (c, s) = pair("ffmpeg-publish");
    let (_, fs) = run_bytes(&c[..3073], &s[..3073]);
    let f = find(&fs, "handshake.closed_after");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.title,
        "The session ends right after the handshake: no message from either side"
    );
    assert_eq!((f.evidence[0].dir, f.evidence[0].offset), (S2C, 1537));
    assert_eq!((f.evidence[1].dir, f.evidence[1].offset), (C2S, 1537));
    // With the server's FIN first, it is the server's doing.
    let mut d = Diagnoser::new();
    for e in &events_of(&c[..3073], &s[..3073]) {
        d.observe(e);
    }
    d.closed(S2C, false, 5.0);
    d.closed(C2S, false, 5.1);
    assert_eq!(
        find(&d.finish(), "handshake.closed_after").title,
        "The server closed the connection right after the handshake"
    );
}

#[test]
fn c1_digest_that_does_not_verify() {
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let Event::Handshake(h) = &evs[0] else {
        panic!()
    };
    assert_eq!(
        h.hello.as_ref().unwrap().scheme,
        crate::handshake::Scheme::Digest0
    );
    // Flip a byte of C1's digest (digest0 layout: position from bytes 8–11).
    let c1: &[u8; HANDSHAKE_SIZE] = c[1..1537].try_into().unwrap();
    let pos = crate::handshake::digest_offset(c1, crate::handshake::Scheme::Digest0).unwrap();
    c[1 + pos] ^= 0xff;
    // nginx went on with the session (the bytes after are the real ones): info.
    let (_, fs) = run_bytes(&c, &s);
    let f = find(&fs, "handshake.digest");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(
        (f.evidence[0].dir, f.evidence[0].index, f.evidence[0].offset),
        (C2S, None, 0)
    );
    // A session that dies right after it: warning.
    let (_, fs) = run_bytes(&c[..3073], &s[..3073]);
    assert_eq!(find(&fs, "handshake.digest").severity, Severity::Warning);
}

#[test]
fn c2_that_does_not_echo_s1() {
    // GStreamer uses the simple handshake: its C2 must echo S1.
    let (mut c, s) = pair("gst-publish");
    c[1537 + 100] ^= 0x55;
    let (_, fs) = run_bytes(&c, &s);
    let f = find(&fs, "handshake.echo");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!((f.evidence[0].dir, f.evidence[0].offset), (C2S, 1537));
    assert_clean("gst-publish with a bad C2", &fs);
}

// ------------------------------------------------------------------ connection (edits)

#[test]
fn connect_rejected_by_the_server() {
    let (c, mut s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let result = msg(&evs, S2C, |m| m.reply_to.as_deref() == Some("connect"));
    // _result → _error, status → error, Success → Rejected (one edit at a time, re-decoding).
    replace_string(
        &mut s,
        result,
        "NetConnection.Connect.Success",
        "NetConnection.Connect.Rejected",
    );
    let evs = events_of(&c, &s);
    let result = msg(&evs, S2C, |m| m.reply_to.as_deref() == Some("connect"));
    replace_string(&mut s, result, "status", "error");
    let evs = events_of(&c, &s);
    let result = msg(&evs, S2C, |m| m.reply_to.as_deref() == Some("connect"));
    replace_string(&mut s, result, "_result", "_error");
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "connect.rejected");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.title,
        "Server rejected connect: NetConnection.Connect.Rejected"
    );
    let err = msg(&evs, S2C, |m| command_name(m) == Some("_error"));
    let connect = msg(&evs, C2S, |m| command_name(m) == Some("connect"));
    points_at(&f.evidence[0], err);
    points_at(&f.evidence[1], connect);
    assert_none(&fs, "connect.no_reply");
}

#[test]
fn app_that_does_not_match_the_tc_url() {
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let connect = msg(&evs, C2S, |m| command_name(m) == Some("connect"));
    assert!(connect.raw.chunks == 2);
    // connect spans two 128-byte chunks: edit the app value in place, same length.
    let start = connect.raw.offset as usize;
    let pos = start
        + c[start..start + 160]
            .windows(6)
            .position(|w| w == b"\x00\x04live")
            .unwrap();
    c[pos + 2..pos + 6].copy_from_slice(b"lave");
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "connect.app_mismatch");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.title,
        "connect's app 'lave' does not match its tcUrl rtmp://127.0.0.1:19351/live"
    );
    points_at(
        &f.evidence[0],
        msg(&evs, C2S, |m| command_name(m) == Some("connect")),
    );
}

#[test]
fn object_encoding_answered_differently() {
    let (c, mut s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let result = msg(&evs, S2C, |m| m.reply_to.as_deref() == Some("connect"));
    set_number(
        &mut s,
        result.raw.offset..result.raw.end,
        "objectEncoding",
        3.0,
    );
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "connect.object_encoding");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.title,
        "objectEncoding mismatch: the client asked for 0 and the server answered 3"
    );
    points_at(
        &f.evidence[0],
        msg(&evs, S2C, |m| m.reply_to.as_deref() == Some("connect")),
    );
}

// ------------------------------------------------------------------ publish / play (edits)

#[test]
fn play_of_a_stream_that_is_not_there() {
    let (c, mut s) = pair("ffmpeg-play");
    let (evs, _) = run("ffmpeg-play");
    let start = msg(&evs, S2C, |m| {
        status_code(m) == Some("NetStream.Play.Start")
    });
    replace_string(
        &mut s,
        start,
        "NetStream.Play.Start",
        "NetStream.Play.StreamNotFound",
    );
    let evs = events_of(&c, &s);
    let st = msg(&evs, S2C, |m| {
        status_code(m) == Some("NetStream.Play.StreamNotFound")
    });
    replace_string(&mut s, st, "status", "error");
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "play.rejected");
    assert_eq!(
        f.title,
        "Server refused to play the stream: NetStream.Play.StreamNotFound"
    );
    assert!(f
        .explanation
        .contains("nothing is published under that stream name"));
    points_at(
        &f.evidence[0],
        msg(&evs, S2C, |m| {
            status_code(m) == Some("NetStream.Play.StreamNotFound")
        }),
    );
}

#[test]
fn publish_on_a_stream_id_create_stream_never_returned() {
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let publish = msg(&evs, C2S, |m| command_name(m) == Some("publish"));
    let span = publish.raw.spans[0];
    assert_eq!(span.fmt, 0);
    // The fmt 0 header's message stream id (little endian, bytes 8–11 after the basic header).
    let at = span.offset as usize + 1 + 7;
    assert_eq!(&c[at..at + 4], &[1, 0, 0, 0]);
    c[at] = 7;
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "publish.unknown_stream_id");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.title,
        "publish is sent on stream id 7, which no createStream returned"
    );
    points_at(
        &f.evidence[0],
        msg(&evs, C2S, |m| command_name(m) == Some("publish")),
    );
    assert!(f.explanation.contains("here: 1"));
}

#[test]
fn media_before_publish_start_with_capture_times() {
    let (c, mut s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    // The server never says Publish.Start (same length, so nothing else moves).
    let start = msg(&evs, S2C, |m| {
        status_code(m) == Some("NetStream.Publish.Start")
    });
    let (a, b) = (start.raw.offset as usize, start.raw.end as usize);
    let pos = a + s[a..b].windows(5).position(|w| w == b"Start").unwrap();
    s[pos..pos + 5].copy_from_slice(b"Stxrt");
    let (evs, live, all) = run_timed(&c, &s, 50.0);
    let f = find(&live, "publish.media_before_start");
    assert_eq!(f.severity, Severity::Warning);
    let first_media = msg(&evs, C2S, |m| {
        matches!(m.body, Body::Audio(_) | Body::Video(_))
    });
    points_at(&f.evidence[0], first_media);
    find(&all, "publish.media_before_start");
    // Without capture times the order between directions is unknown: not raised.
    let (_, fs) = run_bytes(&c, &s);
    assert_none(&fs, "publish.media_before_start");
}

#[test]
fn media_without_any_publish_is_an_error() {
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let publish = msg(&evs, C2S, |m| command_name(m) == Some("publish"));
    let (a, b) = (publish.raw.offset as usize, publish.raw.end as usize);
    let pos = a + c[a..b].windows(7).position(|w| w == b"publish").unwrap();
    c[pos + 6] = b'X'; // "publisX": a command the server does not know
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "publish.media_before_start");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.title,
        "The client sends audio/video without ever sending publish"
    );
    points_at(
        &f.evidence[0],
        msg(&evs, C2S, |m| {
            matches!(m.body, Body::Audio(_) | Body::Video(_))
        }),
    );
}

#[test]
fn stream_keys_are_redacted_everywhere() {
    assert_eq!(redact("live_8f3a9c2b1e"), "live…");
    assert_eq!(redact("abc"), "abc");
    assert_eq!(
        scrub_key("publish secretkey live", "secretkey"),
        "publish secr… live"
    );
    // Inside a longer word it is left alone.
    assert_eq!(scrub_key("notsecretkeys", "secretkey"), "notsecretkeys");
    let (_, fs) = run("ffmpeg-crossts");
    let f = find(&fs, "publish.key_visible");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.title, "The stream key 'cros…' is visible in this capture");
    assert_eq!(f.evidence[0].what, "publish cros… live");
}

// ------------------------------------------------------------------ chunking (edits)

#[test]
fn chunks_larger_than_the_announced_size() {
    // Remove the client's Set Chunk Size 4096: it then sends 4096-byte chunks
    // while the chunk size in force is still 128.
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let scs = msg(&evs, C2S, |m| matches!(m.body, Body::SetChunkSize(4096)));
    c.drain(scs.raw.offset as usize..scs.raw.end as usize);
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "chunk.size_mismatch");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.title,
        "The client sends chunks larger than the chunk size it announced (128 bytes)"
    );
    assert!(
        f.explanation.contains("The server announced 4096"),
        "{}",
        f.explanation
    );
    // The first message longer than 128 bytes after the edit never completes.
    let broken = msg(&evs, C2S, |m| m.raw.length > 128 && m.raw.offset > 3300);
    assert!(!broken.raw.complete);
    points_at(&f.evidence[0], broken);
    assert!(f.evidence[1].offset > broken.raw.offset);
    let d = find(&fs, "chunk.desync");
    assert_eq!(d.evidence[0].offset, f.evidence[1].offset);
}

#[test]
fn announced_chunk_size_not_applied() {
    // Announce 8192 while the client really cuts at 4096.
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let scs = msg(&evs, C2S, |m| matches!(m.body, Body::SetChunkSize(4096)));
    let at = payload_at(scs, 0);
    c[at..at + 4].copy_from_slice(&8192u32.to_be_bytes());
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "chunk.size_not_applied");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.title,
        "The client announced chunk size 8192 but sends 4096-byte chunks"
    );
    // The first message longer than 4096 bytes (the first keyframe) shows it:
    // its "payload" holds the type-3 header byte 0xC6 at 4096, and the stream
    // breaks where it ends.
    let big = msg(&evs, C2S, |m| {
        m.raw.length > 4097 && m.raw.offset > at as u64
    });
    assert_eq!(big.raw.payload.get(4096), Some(0xC0 | big.raw.csid as u8));
    points_at(&f.evidence[0], big);
    assert_none(&fs, "chunk.size_mismatch");
}

#[test]
fn type3_chunks_without_the_repeated_extended_timestamp() {
    // ffmpeg-extts connection 0: the keyframe whose type-3 continuation chunk
    // repeats the extended field (see its .md); cut those 4 bytes out.
    let (mut c, s) = pair("ffmpeg-extts.0");
    let (evs, _) = run("ffmpeg-extts.0");
    let key = msg(&evs, C2S, |m| m.raw.extended && m.raw.chunks > 1);
    let cont = key.raw.spans[1];
    assert_eq!((cont.fmt, cont.header_len), (3, 5));
    let at = cont.offset as usize + 1;
    c.drain(at..at + 4);
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "chunk.extended_timestamp");
    assert_eq!(f.severity, Severity::Warning);
    let key = msg(&evs, C2S, |m| m.raw.extended && m.raw.chunks > 1);
    points_at(&f.evidence[0], key);
    assert_eq!(
        (f.evidence[1].index, f.evidence[1].offset),
        (None, cont.offset)
    );
}

/// Appends raw chunks after the last byte of a real client stream (which ends
/// on a chunk boundary) and decodes it with the real server stream.
fn with_appended(name: &str, tail: &[u8]) -> (Vec<u8>, Vec<Event>, Vec<Finding>) {
    let (mut c, s) = pair(name);
    let at = c.len();
    c.extend_from_slice(tail);
    let (evs, fs) = run_bytes(&c, &s);
    (at.to_le_bytes().to_vec(), evs, fs)
}

fn offset_of(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&v[..8]);
    u64::from_le_bytes(b)
}

#[test]
fn type3_chunk_after_type0_has_an_ambiguous_timestamp() {
    // A fmt 0 message at 1000 ms on chunk stream 10, then a type-3 chunk starting the next one.
    let body = [0x02, 0x00, 0x02, b'h', b'i'];
    let mut tail = vec![0x0a, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x05, 18, 1, 0, 0, 0];
    tail.extend_from_slice(&body);
    tail.push(0xca);
    tail.extend_from_slice(&body);
    let (at, evs, fs) = with_appended("ffmpeg-publish", &tail);
    let f = find(&fs, "chunk.ambiguous_delta");
    assert_eq!(f.severity, Severity::Warning);
    let second = offset_of(&at) + 12 + 5;
    let m = msg(&evs, C2S, |m| m.raw.offset == second);
    points_at(&f.evidence[0], m);
    assert!(
        f.explanation.contains("2000 ms") && f.explanation.contains("1000 ms"),
        "{}",
        f.explanation
    );
}

#[test]
fn message_cut_short_by_a_new_header_on_its_chunk_stream() {
    // A 5000-byte message on chunk stream 10 (chunk size 4096): one full chunk,
    // then a new type-0 header on chunk stream 10 instead of its continuation.
    let mut tail = vec![0x0a, 0, 0, 0, 0x00, 0x13, 0x88, 9, 1, 0, 0, 0];
    tail.push(0x27); // an inter frame, H.264
    tail.extend(std::iter::repeat_n(0u8, 4095));
    tail.extend_from_slice(&[
        0x0a, 0, 0, 0, 0, 0, 5, 18, 1, 0, 0, 0, 0x02, 0x00, 0x02, b'h', b'i',
    ]);
    let (at, evs, fs) = with_appended("ffmpeg-publish", &tail);
    let f = find(&fs, "chunk.message_cut");
    assert_eq!(f.severity, Severity::Error);
    let cut = msg(&evs, C2S, |m| m.raw.offset == offset_of(&at));
    assert!(!cut.raw.complete && cut.raw.length == 5000);
    points_at(&f.evidence[0], cut);
    assert_eq!(f.evidence[1].offset, offset_of(&at) + 12 + 4096);
    assert_none(&fs, "end.truncated");
}

#[test]
fn abort_message_is_reported() {
    let mut tail = vec![0x0a, 0, 0, 0, 0x00, 0x13, 0x88, 9, 1, 0, 0, 0, 0x27];
    tail.extend(std::iter::repeat_n(0u8, 4095));
    // Abort Message (type 2) on chunk stream 2 for chunk stream 10.
    tail.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 10]);
    let (at, evs, fs) = with_appended("ffmpeg-publish", &tail);
    let f = find(&fs, "chunk.abort");
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.explanation.contains("4096 bytes of it had arrived"),
        "{}",
        f.explanation
    );
    let abort = msg(&evs, C2S, |m| matches!(m.body, Body::Abort(10)));
    assert_eq!(abort.raw.offset, offset_of(&at) + 12 + 4096);
    points_at(&f.evidence[0], abort);
}

#[test]
fn set_chunk_size_zero_is_invalid() {
    let tail = [0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    let (at, _, fs) = with_appended("ffmpeg-publish", &tail);
    let f = find(&fs, "chunk.bad_chunk_size");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        (f.evidence[0].dir, f.evidence[0].offset),
        (C2S, offset_of(&at))
    );
}

#[test]
fn command_whose_amf_does_not_decode() {
    // "deleteStream"-like command whose string claims 9 bytes but has 2.
    let tail = [
        0x03, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0, 0x02, 0x00, 0x09, b'h', b'i',
    ];
    let (at, evs, fs) = with_appended("ffmpeg-publish", &tail);
    let f = find(&fs, "message.malformed");
    assert_eq!(f.severity, Severity::Warning);
    points_at(
        &f.evidence[0],
        msg(&evs, C2S, |m| m.raw.offset == offset_of(&at)),
    );
}

#[test]
fn corrupted_chunk_header_desynchronises_the_stream() {
    // Turn the basic header of a mid-stream type-1 chunk into a type-2 header
    // on chunk stream 50, which never had a type-0 header.
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let victim = msg(&evs, C2S, |m| m.index == 100);
    assert_eq!(victim.raw.fmt, 1);
    c[victim.raw.offset as usize] = 0x80 | 50;
    let (_, fs) = run_bytes(&c, &s);
    let f = find(&fs, "chunk.desync");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        (f.evidence[0].dir, f.evidence[0].offset),
        (C2S, victim.raw.offset)
    );
}

#[test]
fn capture_gap_is_a_warning_and_explains_what_follows() {
    let (c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let victim = msg(&evs, C2S, |m| m.index == 100);
    let (cut_from, cut_to) = (
        victim.raw.offset as usize + 3,
        victim.raw.end as usize + 500,
    );
    let (_, live, fs) = run_timed_gap(&c, &s, 1.0, Some((cut_from, cut_to)));
    assert!(live.iter().any(|f| f.code == "capture.gap"));
    let f = find(&fs, "capture.gap");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        (f.evidence[0].dir, f.evidence[0].offset),
        (C2S, cut_from as u64)
    );
    // The resynchronisation and the lost message are the gap's doing.
    assert_none(&fs, "chunk.desync");
    assert_none(&fs, "chunk.message_cut");
    assert!(
        fs.iter().all(|f| f.severity != Severity::Error),
        "{}",
        list(&fs)
    );
}

// ------------------------------------------------------------------ flow control (edits)

#[test]
fn window_without_any_acknowledgement() {
    // GStreamer announces a window of 5000000; make it 100000: 320 KB then go unacknowledged.
    let (mut c, s) = pair("gst-publish");
    let (evs, _) = run("gst-publish");
    let w = msg(&evs, C2S, |m| {
        matches!(m.body, Body::WindowAckSize(5_000_000))
    });
    let at = payload_at(w, 0);
    c[at..at + 4].copy_from_slice(&100_000u32.to_be_bytes());
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "flow.no_acks");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.title, "The server never acknowledges what it receives");
    points_at(
        &f.evidence[0],
        msg(&evs, C2S, |m| {
            matches!(m.body, Body::WindowAckSize(100_000))
        }),
    );
    // Live (with times), at the first message past 1.5 windows.
    let (evs, live, _) = run_timed(&c, &s, 10.0);
    let f = find(&live, "flow.no_acks");
    let past = msg(&evs, C2S, |m| m.raw.end - 3073 > 150_000);
    points_at(&f.evidence[1], past);
}

#[test]
fn acknowledgements_that_fall_behind() {
    // rtmpdump-play: the server's window becomes 10000 bytes, and the client's
    // own Window Acknowledgement Size (type 5) becomes an Acknowledgement
    // (type 3) of 1000 bytes: then 96 KB follow with no newer acknowledgement.
    let (mut c, mut s) = pair("rtmpdump-play");
    let (evs, _) = run("rtmpdump-play");
    let sw = msg(&evs, S2C, |m| matches!(m.body, Body::WindowAckSize(_)));
    let at = payload_at(sw, 0);
    s[at..at + 4].copy_from_slice(&10_000u32.to_be_bytes());
    let cw = msg(&evs, C2S, |m| matches!(m.body, Body::WindowAckSize(_)));
    assert_eq!(cw.raw.spans[0].fmt, 0);
    c[cw.raw.offset as usize + 7] = 3;
    let at = payload_at(cw, 0);
    c[at..at + 4].copy_from_slice(&1000u32.to_be_bytes());
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "flow.ack_behind");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.title,
        "The client's acknowledgements fall behind the window"
    );
    points_at(
        &f.evidence[0],
        msg(&evs, C2S, |m| matches!(m.body, Body::Ack(1000))),
    );
    assert_none(&fs, "flow.no_acks");
}

#[test]
fn bytes_in_flight_growing() {
    // The real handshake of ffmpeg-play, then a synthetic server that sends
    // 20 KB per step with a 10000-byte window while the client acknowledges
    // less and less of it.
    let (c, s) = pair("ffmpeg-play");
    let mut session = Session::new();
    let mut d = Diagnoser::new();
    let mut evs = Vec::new();
    let mut t = 1.0;
    let mut feed = |dir: Direction,
                    bytes: Vec<u8>,
                    session: &mut Session,
                    d: &mut Diagnoser,
                    evs: &mut Vec<Event>| {
        t += 0.1;
        let before = evs.len();
        session.feed(dir, bytes.into(), t, evs);
        for e in &evs[before..] {
            d.observe(e);
        }
    };
    feed(C2S, c[..1537].to_vec(), &mut session, &mut d, &mut evs);
    feed(S2C, s[..3073].to_vec(), &mut session, &mut d, &mut evs);
    feed(C2S, c[1537..3073].to_vec(), &mut session, &mut d, &mut evs);
    let mut server = ChunkEncoder::new(128);
    let mut client = ChunkEncoder::new(128);
    let mut out = Vec::new();
    server.write(&mut out, 2, 5, 0, 0, &10_000u32.to_be_bytes());
    feed(S2C, out, &mut session, &mut d, &mut evs);
    let mut sent = 16u64;
    for i in 0..10u32 {
        let mut out = Vec::new();
        for k in 0..20u32 {
            server.write(&mut out, 6, 8, 1, i * 1000 + k * 50, &[0xaf; 1000]);
        }
        sent += out.len() as u64;
        feed(S2C, out, &mut session, &mut d, &mut evs);
        // Each acknowledgement lags further: sent minus 5000 × (i + 1).
        let seq = sent.saturating_sub(5000 * u64::from(i + 1)) as u32;
        let mut ack = Vec::new();
        client.write(&mut ack, 2, 3, 0, 0, &seq.to_be_bytes());
        feed(C2S, ack, &mut session, &mut d, &mut evs);
    }
    let fs = d.finish();
    let f = find(&fs, "flow.in_flight_growing");
    assert_eq!(f.severity, Severity::Warning);
    let acks: Vec<&MessageEvent> = messages(&evs)
        .filter(|m| matches!(m.body, Body::Ack(_)))
        .collect();
    // Growth is seen at the second ack onwards; five in a row with the lag past the window.
    points_at(&f.evidence[0], acks[5]);
}

#[test]
fn sending_past_the_peer_bandwidth_limit_is_noted() {
    let (c, mut s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let bw = msg(&evs, S2C, |m| {
        matches!(m.body, Body::SetPeerBandwidth { .. })
    });
    let at = payload_at(bw, 0);
    s[at..at + 4].copy_from_slice(&50_000u32.to_be_bytes());
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "flow.peer_bandwidth_ignored");
    assert_eq!(f.severity, Severity::Info);
    points_at(
        &f.evidence[0],
        msg(&evs, S2C, |m| {
            matches!(m.body, Body::SetPeerBandwidth { .. })
        }),
    );
    assert_clean("ffmpeg-publish with a small peer bandwidth", &fs);
}

// ------------------------------------------------------------------ media (edits)

#[test]
fn video_frames_before_the_avc_sequence_header() {
    // The AVC sequence header's AVCPacketType 0 → 1: it becomes a frame, and
    // no configuration ever arrives.
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let sh = msg(&evs, C2S, |m| {
        video_of(m).is_some_and(|v| v.is_sequence_header())
    });
    c[payload_at(sh, 1)] = 1;
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.no_video_config");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.title,
        "H.264 video frames arrive before the video sequence header"
    );
    points_at(&f.evidence[0], msg(&evs, C2S, is_coded_video));
}

#[test]
fn aac_frames_before_the_audio_sequence_header() {
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let sh = msg(
        &evs,
        C2S,
        |m| matches!(&m.body, Body::Audio(a) if a.is_sequence_header()),
    );
    c[payload_at(sh, 1)] = 1;
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.no_audio_config");
    assert_eq!(f.severity, Severity::Error);
    points_at(&f.evidence[0], msg(&evs, C2S, is_coded_audio));
}

#[test]
fn first_video_frame_that_is_not_a_keyframe() {
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let first = msg(&evs, C2S, is_coded_video);
    assert!(video_of(first).unwrap().is_keyframe());
    c[payload_at(first, 0)] = 0x27; // inter frame, AVC
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.first_not_keyframe");
    assert_eq!(f.severity, Severity::Warning);
    points_at(&f.evidence[0], msg(&evs, C2S, is_coded_video));
}

#[test]
fn irregular_keyframe_intervals() {
    // long-gop has one keyframe (at 23 ms); make the first frames at or past
    // 500, 1000, 3600 and 6200 ms keyframes too: intervals of ~0.5, 0.5, 2.6, 2.6 s.
    let (mut c, s) = pair("failures/long-gop");
    let (evs, _) = run("failures/long-gop");
    for target in [500u32, 1000, 3600, 6200] {
        let m = msg(&evs, C2S, |m| {
            is_coded_video(m) && m.raw.timestamp >= target
        });
        c[payload_at(m, 0)] = 0x17;
    }
    let (evs, fs) = run_bytes(&c, &s);
    assert_none(&fs, "media.keyframe_interval");
    let f = find(&fs, "media.keyframe_irregular");
    assert_eq!(f.severity, Severity::Warning);
    let keys: Vec<&MessageEvent> = messages(&evs)
        .filter(|m| video_of(m).is_some_and(|v| v.is_keyframe()))
        .collect();
    assert_eq!(keys.len(), 5);
    points_at(&f.evidence[0], keys[2]);
    points_at(&f.evidence[1], keys[3]);
}

/// Rewrites a type-1 video header into a type-0 header with an absolute timestamp.
fn video_header_to_fmt0(c: &mut Vec<u8>, m: &MessageEvent, ts: u32) {
    let span = m.raw.spans[0];
    assert_eq!((span.fmt, span.header_len), (1, 8));
    let at = span.offset as usize;
    let mut h = vec![m.raw.csid as u8];
    h.extend_from_slice(&ts.to_be_bytes()[1..]);
    h.extend_from_slice(&c[at + 4..at + 8]); // length and type
    h.extend_from_slice(&m.raw.stream_id.to_le_bytes());
    c.splice(at..at + 8, h);
}

#[test]
fn video_timestamps_going_backwards() {
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let m = msg(&evs, C2S, |m| {
        is_coded_video(m) && m.raw.timestamp >= 1500 && m.raw.fmt == 1
    });
    let back_to = m.raw.timestamp - 600;
    video_header_to_fmt0(&mut c, m, back_to);
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.timestamp_backwards");
    assert_eq!(f.severity, Severity::Warning);
    let m2 = msg(&evs, C2S, |x| x.raw.offset == m.raw.offset);
    assert_eq!(m2.raw.timestamp, back_to);
    points_at(&f.evidence[1], m2);
    assert!(f.title.contains(" by "));
}

/// AMF0 `onStatus(0, null, {level: "status", code})`, written by hand (AMF0 spec markers).
fn on_status_amf0(code: &str) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut p = vec![0x02];
    string(&mut p, "onStatus");
    p.push(0x00);
    p.extend_from_slice(&0f64.to_be_bytes());
    p.extend_from_slice(&[0x05, 0x03]);
    for (k, v) in [("level", "status"), ("code", code)] {
        string(&mut p, k);
        p.push(0x02);
        string(&mut p, v);
    }
    p.extend_from_slice(&[0, 0, 0x09]);
    p
}

#[test]
fn a_seek_lets_timestamps_go_back() {
    // nginx sends ffmpeg-play's video from 1983 ms on; one frame a second
    // later is moved 1 s back (the fmt 1 deltas after it follow it).
    let (c, mut s) = pair("ffmpeg-play");
    let (evs, _) = run("ffmpeg-play");
    let m = msg(&evs, S2C, |m| {
        is_coded_video(m) && m.raw.timestamp >= 3000 && m.raw.fmt == 1
    });
    let back_to = m.raw.timestamp - 1000;
    let at = m.raw.offset as usize;
    video_header_to_fmt0(&mut s, m, back_to);
    let (_, fs) = run_bytes(&c, &s);
    assert_eq!(
        find(&fs, "media.timestamp_backwards").severity,
        Severity::Warning
    );
    // The same jump right after the server's NetStream.Seek.Notify for that
    // stream (a whole message on a chunk stream of its own) is what a seek does.
    let mut status = Vec::new();
    ChunkEncoder::new(4096).write(
        &mut status,
        20,
        20,
        m.raw.stream_id,
        m.raw.timestamp,
        &on_status_amf0("NetStream.Seek.Notify"),
    );
    s.splice(at..at, status);
    let (evs, fs) = run_bytes(&c, &s);
    let seek = msg(&evs, S2C, |x| {
        status_code(x) == Some("NetStream.Seek.Notify")
    });
    assert_eq!(seek.raw.offset, at as u64);
    let moved = msg(&evs, S2C, |x| x.index == seek.index + 1);
    assert_eq!(moved.raw.timestamp, back_to);
    assert_none(&fs, "media.timestamp_backwards");
    assert!(
        fs.iter().all(|f| f.severity != Severity::Error),
        "{}",
        list(&fs)
    );
}

#[test]
fn timestamps_wrapped_at_24_bits() {
    // ffmpeg-crossts crosses 0xFFFFFF in small deltas; a sender that wraps the
    // 24-bit field instead would send the first video frame past it at ts & 0xFFFFFF.
    let (mut c, s) = pair("ffmpeg-crossts");
    let (evs, _) = run("ffmpeg-crossts");
    let m = msg(&evs, C2S, |m| {
        is_coded_video(m) && m.raw.timestamp > 0xFF_FFFF && m.raw.fmt == 1
    });
    video_header_to_fmt0(&mut c, m, m.raw.timestamp & 0xFF_FFFF);
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.timestamp_rollover");
    assert_eq!(f.severity, Severity::Error);
    points_at(
        &f.evidence[1],
        msg(&evs, C2S, |x| x.raw.offset == m.raw.offset),
    );
    assert_none(&fs, "media.timestamp_backwards");
}

#[test]
fn audio_timestamp_jump_and_drift() {
    // One audio delta of 23 ms becomes 5023 ms: every later audio frame is 5 s ahead.
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let m = msg(&evs, C2S, |m| {
        is_coded_audio(m) && m.raw.timestamp >= 1000 && m.raw.fmt == 1
    });
    let delta = m.raw.delta.unwrap();
    set_ts_field(&mut c, m, delta + 5000);
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.timestamp_jump");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.title, "The audio timestamps jump forward by 5.0 s");
    points_at(
        &f.evidence[1],
        msg(&evs, C2S, |x| x.raw.offset == m.raw.offset),
    );
    let d = find(&fs, "media.av_drift");
    assert_eq!(d.severity, Severity::Error);
    // The first frame of the run that is more than 1 s off is the jumped one.
    points_at(
        &d.evidence[1],
        msg(&evs, C2S, |x| x.raw.offset == m.raw.offset),
    );
}

#[test]
fn audio_that_stops_while_video_goes_on() {
    // long-gop (7 s): remove every audio frame after 1 s.
    let (mut c, s) = pair("failures/long-gop");
    let (evs, _) = run("failures/long-gop");
    remove_messages(
        &mut c,
        messages(&evs).filter(|m| is_coded_audio(m) && m.raw.timestamp > 1000),
    );
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.audio_stopped");
    assert_eq!(f.severity, Severity::Error);
    let last_audio = messages(&evs).filter(|m| is_coded_audio(m)).last().unwrap();
    points_at(&f.evidence[0], last_audio);
    assert!(last_audio.raw.timestamp <= 1000);
}

#[test]
fn resolution_change_mid_stream() {
    // Insert GStreamer's 640x360 AVC sequence header into ffmpeg's 320x240
    // stream, as a type-0 message on the video chunk stream at the previous
    // video frame's timestamp (so later deltas still hold).
    let (gc, gs) = pair("gst-publish");
    let gevs = events_of(&gc, &gs);
    let gsh = msg(&gevs, C2S, |m| {
        video_of(m).is_some_and(|v| v.is_sequence_header())
    });
    let config = gsh.raw.payload.to_vec();
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let before = msg(&evs, C2S, |m| is_coded_video(m) && m.raw.timestamp >= 1500);
    let after = messages(&evs)
        .find(|m| m.dir == C2S && m.index == before.index + 1)
        .unwrap();
    let mut ins = vec![before.raw.csid as u8];
    ins.extend_from_slice(&before.raw.timestamp.to_be_bytes()[1..]);
    ins.extend_from_slice(&(config.len() as u32).to_be_bytes()[1..]);
    ins.push(9);
    ins.extend_from_slice(&before.raw.stream_id.to_le_bytes());
    ins.extend_from_slice(&config);
    let at = after.raw.offset as usize;
    c.splice(at..at, ins);
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.resolution_change");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.title,
        "The video changes mid-stream from H.264 320x240 to H.264 640x360"
    );
    let inserted = msg(&evs, C2S, |m| m.raw.offset == at as u64);
    points_at(&f.evidence[1], inserted);
    assert!(video_of(inserted).unwrap().is_sequence_header());
}

#[test]
fn frame_rate_change_mid_stream() {
    // long-gop at 25 fps: from 3 s on every video delta doubles (40 → 80 ms),
    // i.e. 12.5 fps in the timestamps.
    let (mut c, s) = pair("failures/long-gop");
    let (evs, _) = run("failures/long-gop");
    let mut changed = 0;
    for m in messages(&evs).filter(|m| {
        is_coded_video(m) && m.raw.timestamp >= 3000 && m.raw.fmt >= 1 && m.raw.fmt <= 2
    }) {
        set_ts_field(&mut c, m, m.raw.delta.unwrap() * 2);
        changed += 1;
    }
    assert!(changed > 50);
    let (_, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.framerate_change");
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.title
            .starts_with("The frame rate changes mid-stream from 25.0 to 1"),
        "{}",
        f.title
    );
}

#[test]
fn hevc_with_the_legacy_codec_id_12() {
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    for m in messages(&evs).filter(|m| m.dir == C2S && video_of(m).is_some()) {
        let at = payload_at(m, 0);
        c[at] = (c[at] & 0xf0) | 12;
    }
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.codec_legacy_id");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.title, "HEVC is sent with the unofficial FLV codec id 12");
    points_at(&f.evidence[0], msg(&evs, C2S, |m| video_of(m).is_some()));
}

#[test]
fn enhanced_rtmp_codec_the_server_did_not_announce() {
    // The AVC sequence header rewritten as Enhanced RTMP (same length):
    // 0x17 00 000000 → 0x90 'avc1' (IsExHeader, keyframe, SequenceStart).
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let sh = msg(&evs, C2S, |m| {
        video_of(m).is_some_and(|v| v.is_sequence_header())
    });
    let at = payload_at(sh, 0);
    c[at..at + 5].copy_from_slice(&[0x90, b'a', b'v', b'c', b'1']);
    let (evs, fs) = run_bytes(&c, &s);
    let sh = msg(&evs, C2S, |m| {
        video_of(m).is_some_and(|v| v.is_sequence_header())
    });
    assert!(video_of(sh).unwrap().enhanced);
    let f = find(&fs, "media.codec_not_announced");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.title,
        "H.264 via Enhanced RTMP (avc1), which the server did not announce"
    );
    points_at(&f.evidence[0], sh);
}

#[test]
fn media_without_onmetadata() {
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let meta = msg(
        &evs,
        C2S,
        |m| matches!(&m.body, Body::Data(d) if d.metadata().is_some()),
    );
    let (a, b) = (meta.raw.offset as usize, meta.raw.end as usize);
    let pos = a + c[a..b]
        .windows(10)
        .position(|w| w == b"onMetaData")
        .unwrap();
    c[pos + 9] = b'X';
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.no_metadata");
    assert_eq!(f.severity, Severity::Warning);
    let first = msg(&evs, C2S, |m| is_coded_video(m) || is_coded_audio(m));
    points_at(&f.evidence[0], first);
}

#[test]
fn onmetadata_that_disagrees_with_the_sequence_header() {
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let meta = msg(
        &evs,
        C2S,
        |m| matches!(&m.body, Body::Data(d) if d.metadata().is_some()),
    );
    set_number(&mut c, meta.raw.offset..meta.raw.end, "width", 640.0);
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.metadata_mismatch");
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.explanation
            .contains("onMetaData says 640x240, the sequence header 320x240"),
        "{}",
        f.explanation
    );
    points_at(&f.evidence[0], meta);
    points_at(
        &f.evidence[1],
        msg(&evs, C2S, |m| {
            video_of(m).is_some_and(|v| v.is_sequence_header())
        }),
    );
}

#[test]
fn bitrate_far_above_the_declared_one() {
    // long-gop declares ~98 + 31 kbit/s; declare 1 + 1.
    let (mut c, s) = pair("failures/long-gop");
    let (evs, _) = run("failures/long-gop");
    let meta = msg(
        &evs,
        C2S,
        |m| matches!(&m.body, Body::Data(d) if d.metadata().is_some()),
    );
    set_number(&mut c, meta.raw.offset..meta.raw.end, "videodatarate", 1.0);
    set_number(&mut c, meta.raw.offset..meta.raw.end, "audiodatarate", 1.0);
    let (_, fs) = run_bytes(&c, &s);
    let f = find(&fs, "media.bitrate_high");
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.title.starts_with("The video runs at ")
            && f.title.ends_with("far above the 1 kbit/s it declares"),
        "{}",
        f.title
    );
    points_at(&f.evidence[0], meta);
}

// ------------------------------------------------------------------ session end

#[test]
fn player_leaving_mid_command_is_only_noted() {
    // ffmpeg-play's .md: depending on timing the client's stream ends with
    // deleteStream's chunk header and no body. Cut it that way.
    let (c, s) = pair("ffmpeg-play");
    let (evs, _) = run("ffmpeg-play");
    let del = msg(&evs, C2S, |m| command_name(m) == Some("deleteStream"));
    let cut = del.raw.offset as usize + usize::from(del.raw.spans[0].header_len);
    let (evs, fs) = run_bytes(&c[..cut], &s);
    let f = find(&fs, "end.truncated");
    assert_eq!(f.severity, Severity::Info);
    points_at(&f.evidence[0], msg(&evs, C2S, |m| !m.raw.complete));
    assert_clean("ffmpeg-play cut in deleteStream", &fs);
}

#[test]
fn publisher_cut_mid_frame_is_an_error() {
    let (c, s) = pair("failures/killed-publisher");
    let (evs, _) = run("failures/killed-publisher");
    let last = messages(&evs).filter(|m| m.dir == C2S).last().unwrap();
    let (evs, fs) = run_bytes(&c[..last.raw.end as usize - 100], &s);
    let f = find(&fs, "end.truncated");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.title,
        "The client's stream ends in the middle of a Video Data message"
    );
    points_at(&f.evidence[0], msg(&evs, C2S, |m| !m.raw.complete));
    find(&fs, "end.no_unpublish");
}

// ------------------------------------------------------------------ the API

#[test]
fn take_new_hands_out_each_finding_once_and_finish_sorts_errors_first() {
    let (c, s) = pair("failures/long-gop");
    let (evs, _) = run("failures/long-gop");
    let mut d = Diagnoser::new();
    let mut seen = Vec::new();
    for e in &evs {
        d.observe(e);
        seen.extend(d.take_new());
    }
    // The keyframe rule fires live, while the stream is still going.
    assert_eq!(
        seen.iter().map(|f| f.code).collect::<Vec<_>>(),
        ["publish.key_visible", "media.keyframe_interval"]
    );
    assert!(d.take_new().is_empty());
    let all = d.finish();
    assert_eq!(all[0].code, "media.keyframe_interval");
    assert_eq!(all[1].code, "publish.key_visible");
    assert!(d.take_new().is_empty());
    // Same as the one-shot function.
    assert_eq!(all, diagnose(&events_of(&c, &s)));
}

#[test]
fn findings_serialize_with_lowercase_severity() {
    let (_, fs) = run("failures/second-publisher");
    let v = serde_json::to_value(&fs[0]).unwrap();
    assert_eq!(v["severity"], "error");
    assert_eq!(v["code"], "publish.rejected");
    assert_eq!(v["evidence"][0]["dir"], "s2c");
    assert_eq!(v["evidence"][0]["index"], 5);
}

#[test]
fn every_code_is_documented_in_its_family() {
    let sources = [
        include_str!("handshake.rs"),
        include_str!("connection.rs"),
        include_str!("publish.rs"),
        include_str!("chunking.rs"),
        include_str!("flow.rs"),
        include_str!("media.rs"),
        include_str!("end.rs"),
    ];
    let docs: String = sources
        .iter()
        .flat_map(|s| s.lines().filter(|l| l.starts_with("//! |")))
        .collect();
    let families = [
        "handshake.",
        "connect.",
        "publish.",
        "play.",
        "command.",
        "status.",
        "chunk.",
        "message.",
        "flow.",
        "media.",
        "end.",
        "capture.",
    ];
    let mut codes = Vec::new();
    for src in sources {
        for part in src.split('"').skip(1).step_by(2) {
            let is_code = families.iter().any(|f| part.starts_with(f))
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
                && part.len() > 6;
            if is_code {
                codes.push(part);
            }
        }
    }
    assert!(codes.len() > 40, "{codes:?}");
    for code in codes {
        assert!(
            docs.contains(&format!("`{code}`")),
            "{code} is not in a rule table"
        );
    }
}

// ------------------------------------------------------------------ more edits

#[test]
fn create_stream_refused_is_an_error() {
    let (c, mut s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let result = msg(&evs, S2C, |m| m.reply_to.as_deref() == Some("createStream"));
    replace_string(&mut s, result, "_result", "_error");
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "command.failed");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.title, "Server refused createStream: (no code)");
    points_at(
        &f.evidence[0],
        msg(&evs, S2C, |m| command_name(m) == Some("_error")),
    );
}

#[test]
fn status_with_level_warning() {
    let (c, mut s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let start = msg(&evs, S2C, |m| {
        status_code(m) == Some("NetStream.Publish.Start")
    });
    replace_string(&mut s, start, "status", "warning");
    let (evs, fs) = run_bytes(&c, &s);
    let f = find(&fs, "status.warning");
    assert_eq!(f.severity, Severity::Warning);
    points_at(
        &f.evidence[0],
        msg(&evs, S2C, |m| {
            status_code(m) == Some("NetStream.Publish.Start")
        }),
    );
}

#[test]
fn both_sides_choosing_rtmpe_is_noted() {
    let (mut c, mut s) = pair("ffmpeg-publish");
    c[0] = 6;
    s[0] = 6;
    let (_, fs) = run_bytes(&c, &s);
    let f = find(&fs, "handshake.encrypted");
    assert_eq!(f.severity, Severity::Info);
    assert_none(&fs, "handshake.version");
    assert_none(&fs, "handshake.truncated");
}

#[test]
fn extended_timestamp_field_for_a_small_value() {
    // A type-0 header with 0xFFFFFF and an extended field of 100 ms.
    let tail = [
        0x0a, 0xff, 0xff, 0xff, 0, 0, 5, 18, 1, 0, 0, 0, 0, 0, 0, 100, 0x02, 0x00, 0x02, b'h', b'i',
    ];
    let (at, evs, fs) = with_appended("ffmpeg-publish", &tail);
    let f = find(&fs, "chunk.extended_needless");
    assert_eq!(f.severity, Severity::Info);
    let m = msg(&evs, C2S, |m| m.raw.offset == offset_of(&at));
    assert!(m.raw.extended && m.raw.timestamp == 100);
    points_at(&f.evidence[0], m);
}

#[test]
fn enhanced_rtmp_codec_missing_from_the_servers_list() {
    // As above, and the server's connect result lists only hvc1: an error.
    let (mut c, s) = pair("ffmpeg-publish");
    let (evs, _) = run("ffmpeg-publish");
    let sh = msg(&evs, C2S, |m| {
        video_of(m).is_some_and(|v| v.is_sequence_header())
    });
    let at = payload_at(sh, 0);
    c[at..at + 5].copy_from_slice(&[0x90, b'a', b'v', b'c', b'1']);
    let evs = events_of(&c, &s);
    // Real E-RTMP servers list their codecs in connect's result; nginx sends
    // none, so give the diagnoser the list such a result would carry.
    let mut d2 = Diagnoser::new();
    d2.facts.server_fourcc = Some(vec!["hvc1".into()]);
    for e in &evs {
        d2.observe(e);
    }
    let fs = d2.finish();
    let f = find(&fs, "media.codec_not_announced");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.explanation.contains("(hvc1)"), "{}", f.explanation);
}

#[test]
fn findings_do_not_depend_on_how_the_bytes_were_split() {
    for name in [
        "publish-denied",
        "failures/long-gop",
        "failures/killed-publisher",
    ] {
        let (c, s) = pair(name);
        let (_, want) = run(name);
        for step in [1usize, 7, 4096] {
            let mut session = Session::new();
            let mut evs = Vec::new();
            // The client's handshake, the server's whole stream's handshake, then
            // the rest of each direction in `step`-byte pieces, client first.
            session.feed(C2S, Bytes::copy_from_slice(&c[..1537]), 0.0, &mut evs);
            session.feed(S2C, Bytes::copy_from_slice(&s[..3073]), 0.0, &mut evs);
            for piece in c[1537..].chunks(step) {
                session.feed(C2S, Bytes::copy_from_slice(piece), 0.0, &mut evs);
            }
            for piece in s[3073..].chunks(step) {
                session.feed(S2C, Bytes::copy_from_slice(piece), 0.0, &mut evs);
            }
            session.finish(&mut evs);
            let got = diagnose(&evs);
            // Replies are matched to requests only when they come after them,
            // so compare the rules that do not depend on cross-direction order.
            let codes = |fs: &[Finding]| {
                let mut v: Vec<(&'static str, Severity)> = fs
                    .iter()
                    .filter(|f| {
                        !f.code.starts_with("connect.") && !f.code.starts_with("publish.unknown")
                    })
                    .map(|f| (f.code, f.severity))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(codes(&got), codes(&want), "{name} in {step}-byte pieces");
        }
    }
}
