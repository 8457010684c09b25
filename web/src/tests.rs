//! The worker's logic on real captures, with expected values taken from
//! tshark's decoding of the same files (`tests/fixtures/*.tshark.tsv`).

use std::io::Cursor;

use bytes::Bytes;

use crate::model::{decode_pair, Capture, CaptureDriver};
use crate::protocol::{Filter, Request, Response};
use crate::service::{JsonLines, Service};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn decode(name: &str) -> Service {
    let mut svc = Service::new();
    let mut d = CaptureDriver::open(Cursor::new(fixture(name))).expect("a capture");
    // Small steps, as the worker takes them, so that resuming is exercised.
    while !d.step(&mut svc.capture, 7) {}
    svc
}

/// tshark's rows: (dir, type, command, strings).
fn tshark_rows(name: &str) -> Vec<Vec<String>> {
    let text = String::from_utf8(fixture(name)).expect("utf-8");
    text.lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn rows(svc: &mut Service, filter: Filter) -> (u32, Vec<crate::protocol::RowView>) {
    let req = Request::Rows {
        session: 0,
        start: 0,
        count: 100_000,
        filter,
        seq: 1,
    };
    match svc.answer(&req) {
        Some(Response::Rows { total, rows, .. }) => (total, rows),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ffmpeg_publish_has_tsharks_messages() {
    let mut svc = decode("ffmpeg-publish.pcap");
    let expected = tshark_rows("ffmpeg-publish.tshark.tsv");
    assert_eq!(svc.capture.sessions.len(), 1);
    let (total, got) = rows(&mut svc, Filter::default());
    assert_eq!(total as usize, expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g.dir, e[2]);
        assert_eq!(g.type_id.to_string(), e[5]);
        assert_eq!(g.length.to_string(), e[7]);
    }
    let s = &svc.summaries()[0];
    assert_eq!(s.app, "live");
    assert_eq!(s.mode, "publish");
    assert_eq!(s.status, "ok");
}

#[test]
fn filters_select_what_tshark_counts() {
    let mut svc = decode("ffmpeg-publish.pcap");
    let expected = tshark_rows("ffmpeg-publish.tshark.tsv");
    let want = expected
        .iter()
        .filter(|r| r[2] == "s2c" && r[5] == "20")
        .count();
    let f = Filter {
        dir: "s2c".into(),
        kind: "command".into(),
        ..Filter::default()
    };
    assert_eq!(rows(&mut svc, f).0 as usize, want);
    let f = Filter {
        text: "ONSTATUS".into(),
        ..Filter::default()
    };
    let n = expected.iter().filter(|r| r[11] == "onStatus").count();
    assert_eq!(rows(&mut svc, f).0 as usize, n);
}

#[test]
fn connect_detail_has_app_and_tcurl_with_their_bytes() {
    let mut svc = decode("ffmpeg-publish.pcap");
    let Some(Response::Detail(d)) = svc.answer(&Request::Detail { session: 0, row: 0 }) else {
        panic!("no detail");
    };
    assert!(d.row.summary.starts_with("connect"), "{}", d.row.summary);
    let obj = d
        .tree
        .iter()
        .find(|n| n.type_name == "object")
        .expect("command object");
    let app = obj.children.iter().find(|n| n.key == "app").expect("app");
    assert_eq!(app.value, "\"live\"");
    let tc = obj
        .children
        .iter()
        .find(|n| n.key == "tcUrl")
        .expect("tcUrl");
    assert!(
        tc.value.contains("rtmp://127.0.0.1:19351/live"),
        "{}",
        tc.value
    );
    // The app value's bytes: AMF0 string marker 2, length 4, "live".
    let f = &d.fields[app.field.expect("a field") as usize];
    let (a, b) = f.ranges[0];
    assert_eq!(&d.bytes[a as usize..b as usize], b"\x02\x00\x04live");
    // The first chunk header: fmt 0 on csid 3 is one byte 0x03.
    assert_eq!(d.bytes[0], 0x03);
    assert!(d.fields[0]
        .label
        .starts_with("basic header: fmt 0, chunk stream 3"));
}

#[test]
fn second_publisher_is_rejected_with_badname() {
    let mut svc = decode("failures/second-publisher.pcap");
    let rejected: Vec<_> = svc
        .summaries()
        .into_iter()
        .filter(|s| s.status == "rejected")
        .collect();
    assert_eq!(rejected.len(), 1, "{:?}", svc.summaries());
    let n = rejected[0].number;
    let Some(Response::Session(v)) = svc.answer(&Request::Session { session: n }) else {
        panic!()
    };
    let f = v
        .findings
        .iter()
        .find(|f| f.code == "publish.rejected")
        .expect("publish.rejected");
    assert!(
        format!("{} {}", f.title, f.explanation).contains("NetStream.Publish.BadName"),
        "{f:?}"
    );
    assert!(f.evidence.iter().any(|e| e.row.is_some()));
}

#[test]
fn publish_denied_is_dropped() {
    let mut svc = decode("publish-denied.pcap");
    let Some(Response::Session(v)) = svc.answer(&Request::Session { session: 0 }) else {
        panic!()
    };
    assert!(
        v.findings.iter().any(|f| f.code == "publish.dropped"),
        "{:?}",
        v.findings
    );
    assert_eq!(v.summary.status, "rejected");
    // publish-denied.md: the @setDataFrame the client had begun is cut short.
    assert_eq!(v.summary.incomplete, 1);
}

#[test]
fn an_mp4_file_is_named() {
    let e = CaptureDriver::open(Cursor::new(
        b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2".to_vec(),
    ))
    .err()
    .expect("not a capture");
    assert_eq!(e.headline, "This is an MP4/MOV file, not a capture.");
    let e = CaptureDriver::open(Cursor::new(b"hello world\n".to_vec()))
        .err()
        .expect("text");
    assert_eq!(e.headline, "This is a text file, not a capture.");
}

#[test]
fn raw_pair_and_live_feed_give_the_capture_messages() {
    let c2s = Bytes::from(fixture("ffmpeg-publish.c2s"));
    let s2c = Bytes::from(fixture("ffmpeg-publish.s2c"));
    let want = tshark_rows("ffmpeg-publish.tshark.tsv").len();
    let mut cap = Capture::default();
    decode_pair(&mut cap, c2s.clone(), s2c.clone(), (None, None));
    assert_eq!(cap.messages(), want);

    let mut svc = Service::new();
    svc.live_text(r#"{"kind":"open","session":4,"client":"127.0.0.1:5000","server":"127.0.0.1:1935","start":1.5}"#)
        .expect("open");
    // Frames of 1000 bytes, the directions interleaved in causal order is not
    // needed: each direction is decoded on its own.
    for (dir, data) in [(0u8, &c2s), (1u8, &s2c)] {
        for piece in data.chunks(1000) {
            let mut f = 4u32.to_be_bytes().to_vec();
            f.push(dir);
            f.extend_from_slice(&2.0f64.to_be_bytes());
            f.extend_from_slice(piece);
            svc.live_binary(Bytes::from(f)).expect("frame");
        }
    }
    assert!(svc.live_binary(Bytes::from_static(b"\0\0\0\x09")).is_err());
    assert_eq!(
        svc.live_text(r#"{"kind":"error","message":"fell behind"}"#),
        Ok(Some("fell behind".to_string()))
    );
    assert!(svc
        .live_text(r#"{"kind":"close","session":99,"dir":"c2s"}"#)
        .is_err());
    svc.live_text(r#"{"kind":"close","session":4,"dir":"c2s","reset":false,"time":3}"#)
        .expect("close");
    svc.live_text(r#"{"kind":"close","session":4,"dir":"s2c","reset":false,"time":3}"#)
        .expect("close");
    assert!(!svc.live_open());
    assert_eq!(svc.capture.messages(), want);
    let json = svc.live_json();
    let msgs = json
        .lines()
        .filter(|l| l.contains(r#""kind":"message""#))
        .count();
    assert_eq!(msgs, want);
    assert!(
        json.starts_with(r#"{"kind":"session","session":4,"client":"127.0.0.1:5000""#),
        "{json:.80}"
    );
    assert_eq!(svc.summaries()[0].status, "ok");
}

#[test]
fn json_lines_follow_the_cli_contract() {
    let mut j = JsonLines::default();
    let mut d = CaptureDriver::open(Cursor::new(fixture("ffmpeg-publish.pcap"))).expect("capture");
    while !d.step(&mut j, 1000) {}
    let lines: Vec<serde_json::Value> = j
        .out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines[0]["kind"], "session");
    let msgs = lines.iter().filter(|l| l["kind"] == "message").count();
    assert_eq!(msgs, tshark_rows("ffmpeg-publish.tshark.tsv").len());
    let connect = lines
        .iter()
        .find(|l| l["command"] == "connect")
        .expect("connect");
    assert_eq!(connect["values"][0]["app"], "live");
}

#[test]
fn flv_export_starts_with_a_header_and_tags() {
    let svc = decode("ffmpeg-publish.pcap");
    let flv = crate::service::flv(&svc.capture.sessions[0]).expect("flv");
    assert_eq!(&flv[..5], b"FLV\x01\x05");
    // The first tag is the metadata (script tag 18).
    assert_eq!(flv[13], 18);
}

#[test]
fn lanes_and_charts_cover_the_session() {
    let mut svc = decode("ffmpeg-publish.pcap");
    let Some(Response::Lanes(l)) = svc.answer(&Request::Lanes {
        session: 0,
        dir: "c2s".into(),
        from: 0,
        to: u64::MAX,
        time: false,
    }) else {
        panic!()
    };
    assert!(l.csids.contains(&3));
    assert!(!l.chunks.is_empty());
    let Some(Response::Lanes(t)) = svc.answer(&Request::Lanes {
        session: 0,
        dir: "c2s".into(),
        from: 0,
        to: u64::MAX,
        time: true,
    }) else {
        panic!()
    };
    // Over time there is one mark per message, in capture order.
    let c2s = tshark_rows("ffmpeg-publish.tshark.tsv")
        .iter()
        .filter(|r| r[2] == "c2s")
        .count();
    assert_eq!(t.chunks.len(), c2s);
    assert!(t.chunks.windows(2).all(|w| w[0].0 <= w[1].0));
    let Some(Response::Charts(c)) = svc.answer(&Request::Charts { session: 0 }) else {
        panic!()
    };
    assert!(!c.video_ts.is_empty() && !c.audio_ts.is_empty());
    // GOP 25 at 25 fps: keyframes one second apart.
    assert!(
        c.keyframes.iter().skip(1).all(|k| (k.1 - 1.0).abs() < 0.05),
        "{:?}",
        c.keyframes
    );
}

#[test]
fn damaged_captures_never_panic_and_every_answer_is_given() {
    let good = fixture("ffmpeg-publish.pcap");
    let pair = fixture("ffmpeg-publish.c2s");
    // A cheap deterministic generator: the damage must be the same each run.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..24 {
        let mut bytes = good.clone();
        let cut = 24 + (next() as usize) % (bytes.len() - 24);
        if round % 3 == 0 {
            bytes.truncate(cut);
        }
        for _ in 0..(round * 8) {
            let i = 24 + (next() as usize) % (bytes.len() - 24);
            bytes[i] = next() as u8;
        }
        let mut svc = Service::new();
        let Ok(mut d) = CaptureDriver::open(Cursor::new(bytes)) else {
            continue;
        };
        while !d.step(&mut svc.capture, 100) {}
        exercise(&mut svc);
        // The same damage to a raw stream.
        let mut raw = pair.clone();
        raw.truncate(cut.min(raw.len()));
        for _ in 0..(round * 8) {
            let i = (next() as usize) % raw.len().max(1);
            if let Some(b) = raw.get_mut(i) {
                *b = next() as u8;
            }
        }
        let mut svc = Service::new();
        decode_pair(
            &mut svc.capture,
            Bytes::from(raw),
            Bytes::new(),
            (None, None),
        );
        exercise(&mut svc);
    }
}

fn exercise(svc: &mut Service) {
    for s in svc.summaries() {
        let n = s.number;
        assert!(svc.answer(&Request::Session { session: n }).is_some());
        let rows = svc
            .capture
            .sessions
            .iter()
            .find(|x| x.number == n)
            .map_or(0, |x| x.rows.len());
        for row in 0..rows as u32 {
            assert!(svc.answer(&Request::Detail { session: n, row }).is_some());
        }
        for dir in ["c2s", "s2c"] {
            for time in [false, true] {
                svc.answer(&Request::Lanes {
                    session: n,
                    dir: dir.into(),
                    from: 0,
                    to: u64::MAX,
                    time,
                });
            }
        }
        svc.answer(&Request::Charts { session: n });
        let f = Filter {
            text: "a".into(),
            csid: "4".into(),
            ..Filter::default()
        };
        svc.answer(&Request::Rows {
            session: n,
            start: u32::MAX - 3,
            count: u32::MAX,
            filter: f,
            seq: 0,
        });
        if let Some(s) = svc.capture.sessions.iter().find(|x| x.number == n) {
            let _ = crate::service::flv(s);
        }
    }
}
