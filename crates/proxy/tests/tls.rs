//! RTMPS: ffmpeg publishes rtmps:// to the proxy's TLS listener, the proxy
//! forwards over TLS to nginx's stream module (ssl) in front of nginx-rtmp,
//! and ffprobe plays the stream from nginx-rtmp's plain port while it is
//! published; the proxy decodes and captures the clear text. And an upstream
//! whose certificate does not verify is refused with the reason.
//! Everything on 127.0.0.1, bounded in time.

mod common;

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::{have, read_capture, run, test_config, Guard, Nginx, RunningProxy};
use rtmpscope_core::message::Body;
use rtmpscope_core::session::{decode_pair, Event};
use rtmpscope_proxy::{TlsIdentity, Upstream};

fn publish(url: &str, seconds: &str) -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine", "-t", seconds])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
        .args(["-c:a", "aac", "-f", "flv"])
        .arg(url);
    c
}

fn tools() -> bool {
    ["ffmpeg", "ffprobe"].iter().all(|p| {
        let ok = have(p);
        if !ok {
            eprintln!("SKIP: {p} is not installed");
        }
        ok
    })
}

fn tls_config(nginx: &Nginx, insecure: bool) -> rtmpscope_proxy::ProxyConfig {
    let tls_port = nginx.tls_port.unwrap();
    let mut cfg = test_config(&format!("127.0.0.1:{tls_port}"), None);
    cfg.upstream = Upstream::parse(&format!("rtmps://127.0.0.1:{tls_port}"), insecure).unwrap();
    cfg.listen_tls = Some((
        "127.0.0.1:0".parse().unwrap(),
        TlsIdentity::SelfSigned(vec!["localhost".into(), "127.0.0.1".into()]),
    ));
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmps_in_and_out_with_the_session_decoded_in_clear_text() {
    if !tools() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let Some(nginx) = Nginx::start_with_tls(work.path()) else {
        return;
    };
    let captures = work.path().join("captures");
    let mut cfg = tls_config(&nginx, true);
    cfg.capture_dir = Some(captures.clone());
    let mut proxy = RunningProxy::start(cfg).await;
    let tls_port = proxy.tls.expect("the proxy has a TLS listener").port();
    let url = format!("rtmps://127.0.0.1:{tls_port}/live/secure");
    let mut publisher = Guard::spawn(
        "ffmpeg",
        publish(&url, "4")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    // While it publishes, a player on nginx's plain RTMP port gets the stream.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let play = format!("rtmp://127.0.0.1:{}/live/secure", nginx.port);
    let (st, out, err) = tokio::task::spawn_blocking(move || {
        run(
            "ffprobe",
            Command::new("ffprobe")
                .args([
                    "-v",
                    "error",
                    "-show_entries",
                    "stream=codec_name,width,height",
                ])
                .args(["-of", "compact", "-rw_timeout", "5000000"])
                .arg(play),
            Duration::from_secs(20),
        )
    })
    .await
    .unwrap();
    assert!(st.is_some_and(|s| s.success()), "ffprobe failed: {err}");
    assert!(
        out.contains("codec_name=h264|width=320|height=240"),
        "{out}"
    );
    assert!(out.contains("codec_name=aac"), "{out}");
    let status = tokio::task::spawn_blocking(move || publisher.wait(Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "ffmpeg over rtmps failed"
    );
    proxy.wait_closed(1, Duration::from_secs(20)).await;
    proxy.stop().await;

    // The proxy decoded the clear text live…
    let lines = proxy.json_lines();
    assert!(lines
        .iter()
        .any(|v| v["command"] == "publish" && v["values"].to_string().contains("secure")));
    assert!(lines
        .iter()
        .any(|v| v["status"]["code"] == "NetStream.Publish.Start"));
    // …and captured it: the pcapng holds one RTMP connection in clear text.
    let files: Vec<_> = std::fs::read_dir(&captures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let conns = read_capture(&files[0]);
    assert_eq!(conns.len(), 1);
    assert_eq!(
        conns[0].c2s.first(),
        Some(&3),
        "C0 is RTMP version 3, not TLS"
    );
    let mut evs = Vec::new();
    decode_pair(
        Bytes::from(conns[0].c2s.clone()),
        Bytes::from(conns[0].s2c.clone()),
        &mut evs,
    );
    let videos = evs
        .iter()
        .filter(|e| matches!(e, Event::Message(m) if matches!(m.body, Body::Video(_))))
        .count();
    // 4 s at 25 fps, give or take the encoder's start and end.
    assert!((90..=110).contains(&videos), "{videos} video messages");
    drop(nginx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_certificate_that_does_not_verify_is_refused_with_the_reason() {
    if !tools() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let Some(nginx) = Nginx::start_with_tls(work.path()) else {
        return;
    };
    let mut cfg = tls_config(&nginx, false);
    cfg.listen_tls = None;
    let mut proxy = RunningProxy::start(cfg).await;
    let url = format!("rtmp://127.0.0.1:{}/live/x", proxy.addr.port());
    let (st, _, _) = tokio::task::spawn_blocking(move || {
        run("ffmpeg", &mut publish(&url, "1"), Duration::from_secs(20))
    })
    .await
    .unwrap();
    assert!(!st.is_some_and(|s| s.success()), "ffmpeg should fail");
    let line = proxy
        .wait_line(Duration::from_secs(10), |l| {
            l.contains("TLS handshake failed")
        })
        .await
        .unwrap_or_else(|| panic!("no TLS error in:\n{}", proxy.seen.join("\n")));
    // nginx's certificate is self-signed: rustls says so.
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    proxy.stop().await;
    drop(nginx);
}
