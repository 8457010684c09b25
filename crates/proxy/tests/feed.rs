//! The UI server and the live feed: static files, `/feed-info`, the
//! WebSocket frames of a live session (a subscriber that joins late gets the
//! session's start first), and the access token. Every socket is on
//! 127.0.0.1, every wait bounded.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{test_config, RunningProxy};
use futures_util::StreamExt;
use rtmpscope_proxy::UiConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const LIMIT: Duration = Duration::from_secs(20);

/// An HTTP/1.1 GET; returns the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// The proxy with its UI on a free loopback port, in front of an echo server.
async fn proxy_with_ui(dir: &std::path::Path, token: Option<&str>) -> RunningProxy {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    let mut cfg = test_config(&up, None);
    cfg.ui = Some(UiConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        dir: Some(dir.to_path_buf()),
        token: token.map(str::to_string),
    });
    RunningProxy::start(cfg).await
}

#[derive(Debug, Default)]
struct Seen {
    texts: Vec<serde_json::Value>,
    /// Bytes per direction, in order, from the binary frames.
    bytes: [Vec<u8>; 2],
}

impl Seen {
    fn take(&mut self, m: Message) {
        match m {
            Message::Text(t) => self.texts.push(serde_json::from_str(t.as_str()).unwrap()),
            Message::Binary(b) => {
                assert!(b.len() >= 13, "short frame");
                let session = u32::from_be_bytes(b[..4].try_into().unwrap());
                assert_eq!(session, 1);
                let time = f64::from_be_bytes(b[5..13].try_into().unwrap());
                assert!(time > 1.7e9, "capture time {time}");
                self.bytes[usize::from(b[4])].extend_from_slice(&b[13..]);
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_is_served_and_a_late_subscriber_follows_a_live_session() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<title>rtmpscope ui</title>").unwrap();
    std::fs::write(dir.path().join("app.wasm"), [0u8, 0x61, 0x73, 0x6d]).unwrap();
    let mut proxy = proxy_with_ui(dir.path(), None).await;
    let ui = proxy.ui.expect("ui address");

    let (status, body) = get(ui, "/").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "<title>rtmpscope ui</title>")
    );
    assert_eq!(get(ui, "/app.wasm").await.0, 200);
    assert_eq!(get(ui, "/missing.js").await.0, 404);
    assert_ne!(get(ui, "/../Cargo.toml").await.0, 200);
    let (status, body) = get(ui, "/feed-info").await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"live":true,"sessions":0}"#);

    // A client starts (C0 = 3, then anything) before any browser is watching.
    let mut c = TcpStream::connect(proxy.addr).await.unwrap();
    let first: Vec<u8> = std::iter::once(3u8)
        .chain((0..5000u32).map(|i| (i % 251) as u8))
        .collect();
    c.write_all(&first).await.unwrap();
    let mut echo = vec![0u8; first.len()];
    tokio::time::timeout(LIMIT, c.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(echo, first);
    // Wait until the recorder has seen the bytes both ways (the session line comes first).
    proxy
        .wait_line(LIMIT, |l| l.contains(r#""kind":"session""#))
        .await
        .expect("session line");
    let deadline = tokio::time::Instant::now() + LIMIT;
    while get(ui, "/feed-info").await.1 != r#"{"live":true,"sessions":1}"# {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session never became live"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (mut ws, _) = tokio::time::timeout(
        LIMIT,
        tokio_tungstenite::connect_async(format!("ws://{ui}/feed")),
    )
    .await
    .unwrap()
    .unwrap();
    let mut seen = Seen::default();
    let more: Vec<u8> = (0..3000u32).map(|i| (i % 7) as u8).collect();
    c.write_all(&more).await.unwrap();
    c.shutdown().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(LIMIT, c.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    let mut want_c2s = first.clone();
    want_c2s.extend_from_slice(&more);
    // Until both directions' close frames arrived.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while seen.texts.iter().filter(|t| t["kind"] == "close").count() < 2 {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("feed frames stopped")
            .expect("feed ended")
            .unwrap();
        seen.take(m);
    }
    let open = &seen.texts[0];
    assert_eq!(open["kind"], "open");
    assert_eq!(open["session"], 1);
    assert_eq!(open["client"], c.local_addr().unwrap().to_string());
    assert!(
        seen.bytes[0] == want_c2s,
        "c2s: {} bytes",
        seen.bytes[0].len()
    );
    assert!(
        seen.bytes[1] == want_c2s,
        "s2c: {} bytes",
        seen.bytes[1].len()
    );
    assert!(seen.texts.iter().all(|t| t["kind"] != "gap"));
    let closes: Vec<_> = seen.texts.iter().filter(|t| t["kind"] == "close").collect();
    assert!(closes.iter().all(|t| t["reset"] == false));
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_needs_the_token_when_one_is_set() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "ui").unwrap();
    let mut proxy = proxy_with_ui(dir.path(), Some("s3cret")).await;
    let ui = proxy.ui.unwrap();
    assert_eq!(get(ui, "/feed-info").await.0, 403);
    assert_eq!(get(ui, "/feed-info?token=wrong").await.0, 403);
    assert_eq!(get(ui, "/feed-info?token=s3cret").await.0, 200);
    // The page itself holds nothing secret.
    assert_eq!(get(ui, "/").await.0, 200);
    assert!(tokio_tungstenite::connect_async(format!("ws://{ui}/feed"))
        .await
        .is_err());
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{ui}/feed?token=s3cret"))
            .await
            .is_ok()
    );
    proxy.stop().await;
}
