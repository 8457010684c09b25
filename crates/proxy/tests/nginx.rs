//! Against reality: ffmpeg publishes through the proxy to nginx-rtmp, ffprobe
//! plays the stream back through it; tcpdump on loopback records both legs
//! of every session independently of the proxy, and tshark decodes the
//! proxy's capture files. Skipped (with a message) when the programs are
//! missing; tcpdump needs root.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::{have, read_capture, run, test_config, Conn, Nginx, RunningProxy, Tcpdump};
use rtmpscope_core::command::CommandInfo;
use rtmpscope_core::media::video::VideoConfig;
use rtmpscope_core::message::Body;
use rtmpscope_core::session::{decode_pair, Event, MessageEvent};

fn publish_cmd(url: &str) -> Command {
    let mut c = Command::new("ffmpeg");
    c.args([
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
    ])
    .arg("testsrc=size=320x240:rate=25")
    .args(["-f", "lavfi", "-i", "sine", "-t", "3"])
    .args([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-c:a",
        "aac",
    ])
    .args(["-f", "flv"])
    .arg(url);
    c
}

fn tools_present() -> bool {
    for p in ["ffmpeg", "ffprobe"] {
        if !have(p) {
            eprintln!("SKIP: {p} is not installed");
            return false;
        }
    }
    true
}

/// The complete messages of a connection, decoded from its two byte streams.
fn messages(c: &Conn) -> Vec<MessageEvent> {
    let mut evs = Vec::new();
    decode_pair(
        Bytes::from(c.c2s.clone()),
        Bytes::from(c.s2c.clone()),
        &mut evs,
    );
    evs.into_iter()
        .filter_map(|e| match e {
            Event::Message(m) if m.raw.complete => Some(m),
            _ => None,
        })
        .collect()
}

fn command(m: &MessageEvent) -> Option<&rtmpscope_core::command::Command> {
    match &m.body {
        Body::Command(c) => Some(c),
        _ => None,
    }
}

fn status_codes(ms: &[MessageEvent]) -> Vec<String> {
    ms.iter()
        .filter_map(command)
        .filter_map(|c| c.status().and_then(|s| s.code.clone()))
        .collect()
}

/// (dir, type, length, command) of every message tshark shows in a capture, or
/// `None` when tshark or python3 is missing.
fn tshark_messages(
    capture: &Path,
    port: u16,
    work: &Path,
) -> Option<Vec<(String, u8, u32, String)>> {
    if !have("tshark") || !have("python3") {
        eprintln!("SKIP (tshark part): tshark or python3 is not installed");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tshark-rtmp-tsv.py");
    let out = work.join(format!(
        "{}.tsv",
        capture.file_name().unwrap().to_string_lossy()
    ));
    let (st, stdout, stderr) = run(
        "tshark-rtmp-tsv.py",
        Command::new("python3")
            .arg(&script)
            .arg(capture)
            .arg(port.to_string())
            .arg(&out),
        Duration::from_secs(60),
    );
    assert!(
        st.is_some_and(|s| s.success()),
        "tshark script failed: {stdout}{stderr}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (d, t, l, c) = (col("dir"), col("type"), col("length"), col("command"));
    Some(
        lines
            .filter(|l| !l.is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                (
                    f[d].to_string(),
                    f[t].parse().unwrap(),
                    f[l].parse().unwrap(),
                    f.get(c).copied().unwrap_or("").to_string(),
                )
            })
            .collect(),
    )
}

#[derive(Debug)]
struct SessionFacts {
    client: String,
    upstream_local: String,
    close: serde_json::Value,
    capture: PathBuf,
}

fn session_facts(proxy: &RunningProxy) -> Vec<SessionFacts> {
    let lines = proxy.json_lines();
    let mut opened: HashMap<u64, (String, String)> = HashMap::new();
    for v in &lines {
        if v["kind"] == "session" {
            opened.insert(
                v["session"].as_u64().unwrap(),
                (
                    v["client"].as_str().unwrap().to_string(),
                    v["upstream_local"].as_str().unwrap().to_string(),
                ),
            );
        }
    }
    lines
        .iter()
        .filter(|v| v["kind"] == "close")
        .map(|v| {
            let (client, upstream_local) = opened[&v["session"].as_u64().unwrap()].clone();
            SessionFacts {
                client,
                upstream_local,
                capture: PathBuf::from(v["capture"].as_str().unwrap()),
                close: v.clone(),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publishes_and_ffprobe_plays_through_the_proxy_to_nginx() {
    if !tools_present() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let nginx_dir = work.path().join("nginx");
    std::fs::create_dir_all(&nginx_dir).unwrap();
    let Some(nginx) = Nginx::start(&nginx_dir) else {
        return;
    };
    let captures = work.path().join("captures");
    let mut proxy = RunningProxy::start(test_config(&nginx.addr(), Some(&captures))).await;
    let pport = proxy.addr.port();
    let lo = work.path().join("lo.pcap");
    let filter = format!("tcp port {} or tcp port {pport}", nginx.port);
    let tcpdump = tokio::task::spawn_blocking(move || Tcpdump::start(&lo, &filter))
        .await
        .unwrap();

    let url = format!("rtmp://127.0.0.1:{pport}/live/test");
    let u = url.clone();
    let publisher = tokio::task::spawn_blocking(move || {
        run("ffmpeg", &mut publish_cmd(&u), Duration::from_secs(30))
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let u = url.clone();
    let player = tokio::task::spawn_blocking(move || {
        run(
            "ffprobe",
            Command::new("ffprobe")
                .args(["-v", "error", "-show_streams"])
                .arg(&u),
            Duration::from_secs(20),
        )
    });
    let (pub_status, _, pub_err) = publisher.await.unwrap();
    let (play_status, probe, probe_err) = player.await.unwrap();
    assert!(
        pub_status.is_some_and(|s| s.success()),
        "ffmpeg failed ({pub_status:?}): {pub_err}"
    );
    assert!(
        play_status.is_some_and(|s| s.success()),
        "ffprobe failed ({play_status:?}): {probe_err}"
    );
    for want in [
        "codec_name=h264",
        "width=320",
        "height=240",
        "codec_name=aac",
    ] {
        assert!(probe.contains(want), "ffprobe saw no {want}:\n{probe}");
    }

    proxy.wait_closed(2, Duration::from_secs(20)).await;
    // Live decoding saw the publish and the server's answer.
    let live = proxy.json_lines();
    assert!(live
        .iter()
        .any(|v| v["command"] == "publish" && v["stream"] == "test"));
    assert!(live
        .iter()
        .any(|v| v["status"]["code"] == "NetStream.Publish.Start"));
    assert!(live.iter().any(|v| v["kind"] == "capture"));
    proxy.stop().await;
    let tcp = tokio::task::spawn_blocking(move || tcpdump.map(|t| (t.file.clone(), t.stop())))
        .await
        .unwrap();

    let sessions = session_facts(&proxy);
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let wire = tcp.as_ref().map(|(file, complete)| {
        assert!(
            complete,
            "tcpdump dropped packets: no byte comparison possible"
        );
        read_capture(file)
    });
    let mut published = false;
    let mut played = false;
    for s in &sessions {
        let name = s
            .capture
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let port = s.client.rsplit_once(':').unwrap().1;
        assert!(
            name.ends_with(&format!("-127.0.0.1-{port}-test.pcapng")),
            "capture file name {name}"
        );
        let conns = read_capture(&s.capture);
        assert_eq!(conns.len(), 1);
        let cap = &conns[0];
        assert_eq!(cap.gaps, 0, "{name} has capture gaps");
        assert_eq!(cap.c2s.len() as u64, s.close["c2s_bytes"].as_u64().unwrap());
        assert_eq!(cap.s2c.len() as u64, s.close["s2c_bytes"].as_u64().unwrap());
        assert_eq!(s.close["c2s_gap_bytes"], 0);
        assert_eq!(s.close["s2c_gap_bytes"], 0);

        if let Some(wire) = &wire {
            // Leg 1: client <-> proxy; leg 2: proxy <-> nginx, as tcpdump saw them.
            let find = |addr: &str| {
                wire.iter()
                    .find(|c| c.client.map(|a| a.to_string()).as_deref() == Some(addr))
                    .unwrap_or_else(|| panic!("tcpdump has no connection from {addr}"))
            };
            let leg1 = find(&s.client);
            let leg2 = find(&s.upstream_local);
            let undelivered = [
                s.close["c2s_undelivered"].as_u64().unwrap() as usize,
                s.close["s2c_undelivered"].as_u64().unwrap() as usize,
            ];
            // What the client sent is what was recorded and what nginx got.
            assert!(
                leg1.c2s == cap.c2s,
                "{name}: client bytes differ from the capture"
            );
            assert_eq!(leg2.c2s.len() + undelivered[0], cap.c2s.len());
            assert!(
                cap.c2s.starts_with(&leg2.c2s),
                "{name}: bytes to nginx differ"
            );
            // What nginx sent (up to where the session ended) is what was recorded and what the client got.
            assert!(
                leg2.s2c.starts_with(&cap.s2c),
                "{name}: nginx's bytes differ from the capture"
            );
            if s.close["s2c_end"] == "fin" {
                assert_eq!(leg2.s2c.len(), cap.s2c.len());
            }
            assert_eq!(leg1.s2c.len() + undelivered[1], cap.s2c.len());
            assert!(
                cap.s2c.starts_with(&leg1.s2c),
                "{name}: bytes to the client differ"
            );
        }

        let ms = messages(cap);
        let commands: Vec<&CommandInfo> = ms.iter().filter_map(command).map(|c| &c.info).collect();
        let connect = commands.iter().find_map(|c| match c {
            CommandInfo::Connect(c) => Some(c),
            _ => None,
        });
        assert_eq!(connect.and_then(|c| c.app.as_deref()), Some("live"));
        let codes = status_codes(&ms);
        if commands
            .iter()
            .any(|c| matches!(c, CommandInfo::Publish { name: Some(n), .. } if n == "test"))
        {
            published = true;
            assert!(
                codes.iter().any(|c| c == "NetStream.Publish.Start"),
                "{codes:?}"
            );
        }
        if commands
            .iter()
            .any(|c| matches!(c, CommandInfo::Play { name: Some(n), .. } if n == "test"))
        {
            played = true;
            assert!(
                codes.iter().any(|c| c == "NetStream.Play.Start"),
                "{codes:?}"
            );
            let size = ms.iter().find_map(|m| match &m.body {
                Body::Video(v) => match v.config.as_deref() {
                    Some(c @ VideoConfig::Avc(_)) => Some((c.width(), c.height())),
                    _ => None,
                },
                _ => None,
            });
            assert_eq!(size, Some((Some(320), Some(240))));
        }

        // tshark decodes the capture file to the same messages.
        if let Some(rows) = tshark_messages(&s.capture, nginx.port, work.path()) {
            for dir in ["c2s", "s2c"] {
                let theirs: Vec<(u8, u32)> = rows
                    .iter()
                    .filter(|r| r.0 == dir)
                    .map(|r| (r.1, r.2))
                    .collect();
                let ours: Vec<(u8, u32)> = ms
                    .iter()
                    .filter(|m| m.dir.as_str() == dir)
                    .map(|m| (m.raw.type_id, m.raw.length))
                    .collect();
                assert!(
                    !theirs.is_empty(),
                    "tshark found no {dir} messages in {name}"
                );
                assert_eq!(theirs, ours, "{name} {dir}: tshark and rtmpscope disagree");
            }
            let names: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
            assert!(names.contains(&"connect"), "{names:?}");
        }
    }
    assert!(published && played);
    eprintln!(
        "checked {} sessions: capture files against tcpdump on both legs: {}; tshark: {}",
        sessions.len(),
        if wire.is_some() { "yes" } else { "skipped" },
        if have("tshark") && have("python3") {
            "yes"
        } else {
            "skipped"
        }
    );
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_lines_tell_the_story_of_a_push() {
    if !tools_present() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let Some(nginx) = Nginx::start(work.path()) else {
        return;
    };
    let mut cfg = test_config(&nginx.addr(), None);
    cfg.json = false;
    cfg.status_interval = Some(Duration::from_secs(1));
    let mut proxy = RunningProxy::start(cfg).await;
    let url = format!("rtmp://127.0.0.1:{}/live/story", proxy.addr.port());
    let (st, _, err) = tokio::task::spawn_blocking(move || {
        run("ffmpeg", &mut publish_cmd(&url), Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert!(st.is_some_and(|s| s.success()), "ffmpeg failed: {err}");
    proxy
        .wait_line(Duration::from_secs(20), |l| l.contains("closed after"))
        .await
        .unwrap_or_else(|| panic!("no close line:\n{}", proxy.seen.join("\n")));
    proxy.stop().await;
    let text = proxy.seen.join("\n");
    for want in [
        "#1 127.0.0.1:",
        "session: client 127.0.0.1:",
        "C>S handshake C0C1 version 3",
        "C>S connect app=live tcUrl=rtmp://127.0.0.1:",
        "Set Chunk Size 4096",
        "C>S publish story live",
        "S>C onStatus NetStream.Publish.Start",
        "C>S video config: H.264 sequence header 320x240",
        "320x240",
        "C>S audio config: AAC sequence header",
        "status: video ",
        " fps, audio ",
        "closed after ",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
    assert!(
        text.contains("decode errors 0") && !text.contains("decode error "),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_are_printed_live_for_a_denied_publish_and_not_for_a_clean_one() {
    if !tools_present() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let Some(nginx) = Nginx::start(work.path()) else {
        return;
    };
    let mut proxy = RunningProxy::start(test_config(&nginx.addr(), None)).await;
    // `locked` has `deny publish all`: nginx-rtmp answers Publish.Start and hangs up.
    for app in ["locked", "live"] {
        let url = format!("rtmp://127.0.0.1:{}/{app}/diag", proxy.addr.port());
        let (st, _, _) = tokio::task::spawn_blocking(move || {
            run("ffmpeg", &mut publish_cmd(&url), Duration::from_secs(30))
        })
        .await
        .unwrap();
        assert_eq!(
            st.is_some_and(|s| s.success()),
            app == "live",
            "ffmpeg to {app}"
        );
    }
    proxy.wait_closed(2, Duration::from_secs(20)).await;
    proxy.stop().await;
    let findings: Vec<serde_json::Value> = proxy
        .json_lines()
        .into_iter()
        .filter(|v| v["kind"] == "finding")
        .collect();
    let of = |session: u64| -> Vec<(String, String)> {
        findings
            .iter()
            .filter(|f| f["session"] == session)
            .map(|f| {
                (
                    f["severity"].as_str().unwrap().to_string(),
                    f["code"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let denied = of(1);
    assert!(
        denied.contains(&("error".into(), "publish.dropped".into())),
        "{denied:?}"
    );
    // The evidence is the publish command, as the decoder numbers it.
    let dropped = findings
        .iter()
        .find(|f| f["code"] == "publish.dropped")
        .unwrap();
    assert_eq!(dropped["at"]["dir"], "c2s");
    let publish = proxy
        .json_lines()
        .into_iter()
        .find(|v| v["session"] == 1 && v["command"] == "publish")
        .expect("the publish message line");
    assert_eq!(dropped["at"]["index"], publish["index"]);
    assert_eq!(dropped["at"]["offset"], publish["offset"]);
    // The clean push: only the note that the key is in the capture.
    assert_eq!(
        of(2),
        [("info".to_string(), "publish.key_visible".to_string())]
    );
    drop(nginx);
}
