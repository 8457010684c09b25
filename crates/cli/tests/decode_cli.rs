//! `rtmpscope decode` end to end: the real binary on real captures.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

fn rtmpscope(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rtmpscope"))
        .args(args)
        .output()
        .expect("run rtmpscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

/// Rows of the tshark reference for one direction.
fn tshark_rows(name: &str, dir: &str) -> usize {
    let text = std::fs::read_to_string(fixture(&format!("{name}.tshark.tsv"))).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| l.split('\t').nth(2) == Some(dir))
        .count()
}

#[test]
fn json_reports_every_message_of_a_real_publish() {
    let c2s = fixture("ffmpeg-publish.c2s");
    let s2c = fixture("ffmpeg-publish.s2c");
    let (code, out, err) = rtmpscope(&[
        "decode",
        "--json",
        "--c2s",
        c2s.to_str().unwrap(),
        "--s2c",
        s2c.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines[0]["kind"], "session");
    let msgs: Vec<_> = lines.iter().filter(|l| l["kind"] == "message").collect();
    for dir in ["c2s", "s2c"] {
        let n = msgs.iter().filter(|m| m["dir"] == dir).count();
        assert_eq!(
            n,
            tshark_rows("ffmpeg-publish", dir),
            "{dir} message count vs tshark"
        );
    }
    let hs: Vec<_> = lines.iter().filter(|l| l["kind"] == "handshake").collect();
    assert_eq!(hs.len(), 4);
    // ffmpeg's C1 carries version 9.0.124.2 and a digest at the bytes 8-11 position.
    let c0c1 = hs.iter().find(|h| h["part"] == "C0C1").unwrap();
    assert_eq!(c0c1["peer_version"], "9.0.124.2");
    assert_eq!(c0c1["scheme"], "digest0");
    assert_eq!(c0c1["digest_valid"], true);
    let connect = msgs.iter().find(|m| m["command"] == "connect").unwrap();
    assert_eq!(connect["offset"], 3073);
    assert_eq!(connect["csid"], 3);
    assert_eq!(connect["transaction_id"], 1);
    assert_eq!(connect["values"][0]["app"], "live");
    assert_eq!(
        connect["values"][0]["flashVer"],
        "FMLE/3.0 (compatible; Lavf59.27.100)"
    );
    let publish = msgs.iter().find(|m| m["command"] == "publish").unwrap();
    assert_eq!(publish["stream"], "test");
    assert_eq!(publish["publish_type"], "live");
    let status = msgs
        .iter()
        .find(|m| m["status"]["code"] == "NetStream.Publish.Start")
        .unwrap();
    assert_eq!(status["dir"], "s2c");
    assert_eq!(status["stream_name"], "test");
    // The AVC sequence header: 320x240 as ffprobe reports for the fixture.
    let avc = msgs
        .iter()
        .find(|m| m["type"] == 9 && m["summary"].as_str().unwrap().contains("sequence header"))
        .unwrap();
    assert_eq!(avc["video"]["config"]["width"], 320);
    assert_eq!(avc["video"]["config"]["height"], 240);
    let aac = msgs
        .iter()
        .find(|m| m["type"] == 8 && m["summary"].as_str().unwrap().contains("sequence header"))
        .unwrap();
    assert!(aac["summary"].as_str().unwrap().contains("44100 Hz"));
    let sizes: Vec<_> = msgs
        .iter()
        .filter_map(|m| m["chunk_size"].as_u64())
        .collect();
    assert_eq!(sizes, vec![4096, 4096]);
}

#[test]
fn text_output_has_one_line_per_event_and_totals() {
    let c2s = fixture("ffmpeg-publish.c2s");
    let s2c = fixture("ffmpeg-publish.s2c");
    let (code, out, _) = rtmpscope(&[
        "decode",
        "--c2s",
        c2s.to_str().unwrap(),
        "--s2c",
        s2c.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("connect app=live tcUrl=rtmp://127.0.0.1:19351/live"));
    assert!(out.contains("onStatus NetStream.Publish.Start"));
    let total = out.lines().last().unwrap();
    let c2s_n = tshark_rows("ffmpeg-publish", "c2s");
    assert!(
        total.starts_with(&format!("-- {c2s_n} message(s) client to server")),
        "{total}"
    );
}

#[test]
fn missing_input_is_a_usage_error() {
    let (code, _, err) = rtmpscope(&["decode"]);
    assert_eq!(code, 2);
    assert!(err.contains("--c2s"), "{err}");
}

#[test]
fn unreadable_file_names_the_file() {
    let (code, _, err) = rtmpscope(&["decode", "--c2s", "/nonexistent/x.c2s"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/x.c2s"), "{err}");
}

#[test]
fn garbage_input_gives_errors_not_a_crash() {
    let dir = std::env::temp_dir().join(format!("rtmpscope-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("garbage.c2s");
    let mut data = vec![0x47u8, 0x45, 0x54, 0x20]; // "GET "
    data.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&f, &data).unwrap();
    let (code, out, _) = rtmpscope(&["decode", "--json", "--c2s", f.to_str().unwrap()]);
    assert_eq!(code, 0);
    let lines = json_lines(&out);
    let err = lines.iter().find(|l| l["kind"] == "error").unwrap();
    assert_eq!(err["offset"], 0);
    assert!(err["found"].as_str().unwrap().contains("HTTP"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Messages per (connection or session, direction): (csid, type, length, command).
type ByDir = std::collections::BTreeMap<(u64, String), Vec<(u64, u64, u64, String)>>;

/// The messages of a tshark reference.
fn tshark_messages(name: &str) -> ByDir {
    let text = std::fs::read_to_string(fixture(&format!("{name}.tshark.tsv"))).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (c_conn, c_dir, c_csid, c_type, c_len, c_cmd) = (
        col("conn"),
        col("dir"),
        col("csid"),
        col("type"),
        col("length"),
        col("command"),
    );
    let mut out: std::collections::BTreeMap<(u64, String), Vec<_>> = Default::default();
    for l in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = l.split('\t').collect();
        let n = |c: usize| f[c].parse::<u64>().unwrap();
        out.entry((n(c_conn), f[c_dir].to_string()))
            .or_default()
            .push((
                n(c_csid),
                n(c_type),
                n(c_len),
                f.get(c_cmd).copied().unwrap_or("").to_string(),
            ));
    }
    out
}

#[test]
fn pcap_decoding_agrees_with_tshark_on_every_message() {
    for name in [
        "ffmpeg-publish",
        "ffmpeg-play",
        "gst-publish",
        "rtmpdump-play",
        "publish-denied",
        "ffmpeg-crossts",
        "ffmpeg-extts",
        "ffmpeg-legacy",
        "nginx-odd-chunks",
        "ffmpeg-server-publish",
        "ffmpeg-server-play",
    ] {
        let pcap = fixture(&format!("{name}.pcap"));
        let (code, out, err) = rtmpscope(&["decode", "--json", pcap.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {err}");
        let lines = json_lines(&out);
        let mut ours = ByDir::new();
        for m in lines.iter().filter(|l| l["kind"] == "message") {
            if m.get("complete") == Some(&serde_json::Value::Bool(false)) {
                continue;
            }
            let cmd = m["command"]
                .as_str()
                .or(m["data"].as_str())
                .unwrap_or("")
                .to_string();
            ours.entry((
                m["session"].as_u64().unwrap(),
                m["dir"].as_str().unwrap().to_string(),
            ))
            .or_default()
            .push((
                m["csid"].as_u64().unwrap(),
                m["type"].as_u64().unwrap(),
                m["length"].as_u64().unwrap(),
                cmd,
            ));
        }
        let mut theirs = tshark_messages(name);
        if name == "ffmpeg-extts" {
            // tshark 4.0 loses the keyframe whose type-3 continuation repeats the
            // extended timestamp (see crates/core/tests/tshark_fixtures.rs).
            let list = ours.get_mut(&(0, "c2s".to_string())).unwrap();
            let at = list.iter().position(|m| m.1 == 9 && m.2 == 4486).unwrap();
            list.remove(at);
        }
        theirs.retain(|_, v| !v.is_empty());
        assert_eq!(ours, theirs, "{name}: messages differ from tshark's");
    }
}

#[test]
fn stats_reports_codec_rates_and_keyframes_of_a_real_publish() {
    let pcap = fixture("gst-publish.pcap");
    let (code, out, err) = rtmpscope(&["stats", "--json", pcap.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let st = s["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["video_messages"].as_u64() > Some(0))
        .unwrap();
    // ffprobe on the published stream (see gst-publish.md): H.264 640x360 25 fps, AAC 44.1 kHz stereo.
    assert!(
        st["video_codec"].as_str().unwrap().contains("640x360"),
        "{st}"
    );
    assert!(
        st["audio_codec"].as_str().unwrap().contains("44100 Hz 2ch"),
        "{st}"
    );
    assert!((st["fps"].as_f64().unwrap() - 25.0).abs() < 0.01, "{st}");
    // rtmp2sink sends Set Chunk Size 60000.
    assert_eq!(s["chunk_sizes"][0][0], 60000);
    // 75 frames over 3 s with x264's default keyframe interval of 50 frames: keyframes at 0 and 2 s.
    assert_eq!(st["video_messages"], 75);
    assert_eq!(st["keyframes"], 2);
    assert_eq!(st["keyframe_interval"], 2.0);
}

#[test]
fn stats_names_flash_era_codecs_and_their_true_rates() {
    // ffprobe on nginx's recording (ffmpeg-legacy.md): flv1 320x240 25 fps, speex 16000 Hz mono.
    let md = std::fs::read_to_string(fixture("ffmpeg-legacy.md")).unwrap();
    assert!(md.contains(
        "codec_name=speex|profile=unknown|codec_type=audio|sample_rate=16000|channels=1"
    ));
    let pcap = fixture("ffmpeg-legacy.pcap");
    let (code, out, err) = rtmpscope(&["stats", "--json", pcap.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let st = &s["streams"][0];
    assert!(md.contains("codec_name=flv1|profile=unknown|codec_type=video|width=320|height=240"));
    assert_eq!(st["video_codec"], "Sorenson H.263 320x240", "{st}");
    assert_eq!(st["audio_codec"], "Speex 16 kHz 16-bit mono", "{st}");
    assert!((st["fps"].as_f64().unwrap() - 25.0).abs() < 0.01, "{st}");
    // -g 25 over 2 s: keyframes at 0 and 1 s; tshark counts 50 video messages.
    assert_eq!(st["video_messages"], 50);
    assert_eq!(st["keyframes"], 2);
}

#[test]
fn exported_flv_is_read_by_ffprobe_with_the_published_codecs() {
    let pcap = fixture("ffmpeg-publish.pcap");
    let dir = std::env::temp_dir().join(format!("rtmpscope-flv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.flv");
    let (code, _, err) = rtmpscope(&[
        "export-flv",
        pcap.to_str().unwrap(),
        "--session",
        "0",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height,sample_rate,channels:format=duration",
            "-of",
            "json",
        ])
        .arg(&out)
        .output()
        .expect("ffprobe (installed by scripts/install-deps.sh)");
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let p: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    let streams = p["streams"].as_array().unwrap();
    let v = streams.iter().find(|s| s["codec_name"] == "h264").unwrap();
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(240))
    );
    let a = streams.iter().find(|s| s["codec_name"] == "aac").unwrap();
    assert_eq!(a["sample_rate"], "44100");
    let dur: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((dur - 3.0).abs() < 0.1, "duration {dur}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn export_of_a_missing_session_is_a_clear_error() {
    let pcap = fixture("ffmpeg-publish.pcap");
    let out = std::env::temp_dir().join(format!("rtmpscope-none-{}.flv", std::process::id()));
    let (code, _, err) = rtmpscope(&[
        "export-flv",
        pcap.to_str().unwrap(),
        "--session",
        "7",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no session 7"), "{err}");
    assert!(!out.exists());
}

#[test]
fn a_non_capture_file_is_named_in_the_error() {
    let (code, _, err) = rtmpscope(&["decode", fixture("ffmpeg-publish.md").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("not a pcap/pcapng file"), "{err}");
}

#[test]
fn diagnose_tells_a_publisher_that_left_from_one_the_server_dropped() {
    // rtmp2sink published and was killed 4 s later without sending media:
    // tshark puts publish in frame 23 at 0.132931 s and the client's FIN in
    // frame 27 at 3.954663 s, before nginx's (frame 28): 3.8 s after publish.
    let idle = fixture("failures/idle-publisher.pcap");
    let (code, out, err) = rtmpscope(&["diagnose", "--json", idle.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let errors: Vec<_> = json_lines(&out)
        .into_iter()
        .filter(|l| l["kind"] == "finding" && l["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{out}");
    assert_eq!(errors[0]["code"], "publish.no_media_sent");
    assert_eq!(
        errors[0]["title"],
        "The publisher sent no audio or video and closed the connection 3.8 s after publishing"
    );
    // An nginx push relay ends with an end of sequence and a FIN: no error.
    let relay = fixture("failures/relay-push.pcap");
    let (code, out, err) = rtmpscope(&["diagnose", "--json", relay.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(json_lines(&out)
        .iter()
        .any(|l| l["code"] == "end.no_unpublish" && l["severity"] == "info"));
}
