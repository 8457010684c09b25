//! Forwarding, closing, resets, capture gaps, shutdown and session
//! independence, against upstream servers written in the test (no programs
//! needed). Every socket is on 127.0.0.1, every wait bounded.

mod common;

use std::io;
use std::path::Path;
use std::time::Duration;

use common::{free_port, read_capture, test_config, RunningProxy};
use rtmpscope_core::Direction;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(20);

/// Deterministic bytes (xorshift), different per seed, starting with C0 = 3
/// so that the capture reader takes the connection for RTMP and passes its bytes on.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut v = noise(seed, len);
    if let Some(b) = v.first_mut() {
        *b = 3;
    }
    v
}

/// Deterministic bytes (xorshift), different per seed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

async fn upstream() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap().to_string();
    (l, a)
}

async fn read_to_end(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).await?;
    Ok(v)
}

fn only_capture(dir: &Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcapng"))
        .collect();
    assert_eq!(files.len(), 1, "capture files: {files:?}");
    files[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_cross_unchanged_both_ways_with_half_close() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, up) = upstream().await;
    let request = pattern(1, 3 << 20);
    let response = pattern(2, 700_000);
    let resp = response.clone();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        // Reads to the client's FIN, then answers and closes: only works if the half-close got through.
        let got = read_to_end(&mut s).await.unwrap();
        s.write_all(&resp).await.unwrap();
        s.shutdown().await.unwrap();
        got
    });
    let mut proxy = RunningProxy::start(test_config(&up, Some(dir.path()))).await;
    let mut c = TcpStream::connect(proxy.addr).await.unwrap();
    let req = request.clone();
    let got = tokio::time::timeout(LIMIT, async move {
        for piece in req.chunks(50_000) {
            c.write_all(piece).await.unwrap();
        }
        c.shutdown().await.unwrap();
        read_to_end(&mut c).await.unwrap()
    })
    .await
    .unwrap();
    assert!(
        got == response,
        "the client got {} bytes back, not the response",
        got.len()
    );
    let at_server = tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
    assert!(
        at_server == request,
        "the server got {} bytes",
        at_server.len()
    );

    let closed = proxy.wait_closed(1, LIMIT).await;
    assert_eq!(closed[0]["c2s_bytes"], request.len() as u64);
    assert_eq!(closed[0]["s2c_bytes"], response.len() as u64);
    assert_eq!(closed[0]["c2s_end"], "fin");
    assert_eq!(closed[0]["s2c_end"], "fin");
    assert_eq!(closed[0]["c2s_gap_bytes"], 0);
    proxy.stop().await;

    let conns = read_capture(&only_capture(dir.path()));
    assert_eq!(conns.len(), 1);
    assert!(conns[0].c2s == request);
    assert!(conns[0].s2c == response);
    assert_eq!(conns[0].gaps, 0);
    assert!(conns[0]
        .closed
        .contains(&(Direction::ClientToServer, false)));
    assert!(conns[0]
        .closed
        .contains(&(Direction::ServerToClient, false)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_forwarded_and_the_decoder_error_is_logged() {
    let (listener, up) = upstream().await;
    let mut garbage = vec![0x42u8];
    garbage.extend(noise(3, 100_000));
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let (mut r, mut w) = s.split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut proxy = RunningProxy::start(test_config(&up, None)).await;
    let c = TcpStream::connect(proxy.addr).await.unwrap();
    let (mut r, mut w) = c.into_split();
    let g = garbage.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&g).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut echoed = Vec::new();
    tokio::time::timeout(LIMIT, r.read_to_end(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    server.await.unwrap();
    assert!(echoed == garbage, "echo differs ({} bytes)", echoed.len());
    let err = proxy
        .wait_line(LIMIT, |l| {
            l.contains(r#""kind":"error""#) && l.contains("RTMP version 3")
        })
        .await;
    assert!(
        err.is_some(),
        "no decoder error line:\n{}",
        proxy.seen.join("\n")
    );
    let closed = proxy.wait_closed(1, LIMIT).await;
    assert_eq!(closed[0]["c2s_bytes"], garbage.len() as u64);
    assert_eq!(closed[0]["s2c_bytes"], garbage.len() as u64);
    assert!(closed[0]["decode_errors"].as_u64().unwrap() >= 1);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_upstream_gets_the_client_a_clean_close() {
    let up = format!("127.0.0.1:{}", free_port());
    let mut proxy = RunningProxy::start(test_config(&up, None)).await;
    let mut c = TcpStream::connect(proxy.addr).await.unwrap();
    c.write_all(&[3u8; 1537]).await.unwrap();
    let mut buf = [0u8; 16];
    // A FIN (read of 0), not a reset.
    let n = tokio::time::timeout(LIMIT, c.read(&mut buf)).await.unwrap();
    assert_eq!(n.unwrap(), 0);
    drop(c);
    let line = proxy
        .wait_line(LIMIT, |l| l.contains("refused the connection"))
        .await
        .unwrap_or_else(|| panic!("no log line:\n{}", proxy.seen.join("\n")));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["kind"], "log");
    assert_eq!(v["level"], "error");
    assert!(v["message"].as_str().unwrap().contains(&up));
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_reset_reaches_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, up) = upstream().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1537];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(b"bye").await.unwrap();
        s.set_zero_linger().unwrap();
        drop(s);
    });
    let mut proxy = RunningProxy::start(test_config(&up, Some(dir.path()))).await;
    let mut c = TcpStream::connect(proxy.addr).await.unwrap();
    c.write_all(&[3u8; 1537]).await.unwrap();
    let result = tokio::time::timeout(LIMIT, async {
        let mut got = Vec::new();
        let mut buf = [0u8; 100];
        loop {
            match c.read(&mut buf).await {
                Ok(0) => return Ok(got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return Err((e, got)),
            }
        }
    })
    .await
    .unwrap();
    server.await.unwrap();
    match result {
        Err((e, _)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        Ok(got) => panic!("a clean close instead of a reset (got {got:?})"),
    }
    let closed = proxy.wait_closed(1, LIMIT).await;
    assert_eq!(closed[0]["s2c_end"], "reset");
    proxy.stop().await;
    let conns = read_capture(&only_capture(dir.path()));
    assert!(conns[0].closed.contains(&(Direction::ServerToClient, true)));
    assert_eq!(conns[0].c2s.len(), 1537);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reset_reaches_the_upstream() {
    let (listener, up) = upstream().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) => return Ok(got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return Err((e.kind(), got)),
            }
        }
    });
    let mut proxy = RunningProxy::start(test_config(&up, None)).await;
    let mut c = TcpStream::connect(proxy.addr).await.unwrap();
    c.write_all(&[9u8; 5000]).await.unwrap();
    // Let the bytes reach the upstream before the reset overtakes them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.set_zero_linger().unwrap();
    drop(c);
    let result = tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
    match result {
        Err((kind, got)) => {
            assert_eq!(kind, io::ErrorKind::ConnectionReset);
            assert_eq!(got.len(), 5000);
        }
        Ok(got) => panic!("a clean close instead of a reset after {} bytes", got.len()),
    }
    let closed = proxy.wait_closed(1, LIMIT).await;
    assert_eq!(closed[0]["c2s_end"], "reset");
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_that_falls_behind_leaves_explicit_gaps_and_forwarding_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, up) = upstream().await;
    let data = pattern(4, 8 << 20);
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_to_end(&mut s).await.unwrap()
    });
    let mut cfg = test_config(&up, Some(dir.path()));
    // Smaller than one read: most bytes can't wait for the recorder.
    cfg.capture_buffer = 4096;
    let mut proxy = RunningProxy::start(cfg).await;
    let mut c = TcpStream::connect(proxy.addr).await.unwrap();
    let d = data.clone();
    tokio::time::timeout(LIMIT, async move {
        // C0+C1 alone first: it fits the bound, so the capture starts as RTMP.
        c.write_all(&d[..1537]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.write_all(&d[1537..]).await.unwrap();
        c.shutdown().await.unwrap();
        read_to_end(&mut c).await.unwrap();
    })
    .await
    .unwrap();
    let got = tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
    assert!(
        got == data,
        "forwarding lost bytes: {} of {}",
        got.len(),
        data.len()
    );
    let closed = proxy.wait_closed(1, LIMIT).await;
    let gap = closed[0]["c2s_gap_bytes"].as_u64().unwrap();
    assert!(gap > 0);
    assert_eq!(closed[0]["c2s_bytes"], data.len() as u64);
    assert!(proxy
        .seen
        .iter()
        .any(|l| l.contains("capture gap") && l.contains("not recorded")));
    proxy.stop().await;

    // Read back: every recorded piece is at its place, the gaps fill the rest.
    let path = only_capture(dir.path());
    let file = std::fs::File::open(path).unwrap();
    let mut at = 0usize;
    let mut gaps = 0u64;
    for ev in rtmpscope_capture::CaptureReader::new(std::io::BufReader::new(file)).unwrap() {
        match ev.unwrap() {
            rtmpscope_capture::CaptureEvent::Data {
                dir: Direction::ClientToServer,
                bytes,
                ..
            } => {
                assert!(
                    bytes[..] == data[at..at + bytes.len()],
                    "piece at {at} misplaced"
                );
                at += bytes.len();
            }
            rtmpscope_capture::CaptureEvent::Gap {
                dir: Direction::ClientToServer,
                len,
                ..
            } => {
                gaps += len;
                at += len as usize;
            }
            _ => {}
        }
    }
    assert_eq!(at, data.len());
    assert_eq!(gaps, gap);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_session_does_not_hold_up_another() {
    let (listener, up) = upstream().await;
    let server = tokio::spawn(async move {
        // First connection: never read. Second: echo.
        let (stalled, _) = listener.accept().await.unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        let (mut r, mut w) = s.split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
        drop(stalled);
    });
    let mut proxy = RunningProxy::start(test_config(&up, None)).await;
    let mut a = TcpStream::connect(proxy.addr).await.unwrap();
    // Fill every buffer between A and the stalled upstream until writes block.
    let chunk = vec![1u8; 64 << 10];
    let mut blocked = false;
    for _ in 0..2000 {
        if tokio::time::timeout(Duration::from_millis(300), a.write_all(&chunk))
            .await
            .is_err()
        {
            blocked = true;
            break;
        }
    }
    assert!(blocked, "writes to a stalled upstream never blocked");
    let b = TcpStream::connect(proxy.addr).await.unwrap();
    let data = pattern(5, 2 << 20);
    let (mut r, mut w) = b.into_split();
    let d = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&d).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut echoed = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), r.read_to_end(&mut echoed))
        .await
        .expect("the second session was held up")
        .unwrap();
    writer.await.unwrap();
    assert!(echoed == data);
    drop(a);
    tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sessions_and_finishes_their_capture_files() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, up) = upstream().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut c0c1 = vec![0u8; 1537];
        s.read_exact(&mut c0c1).await.unwrap();
        s.write_all(&[3u8; 3073]).await.unwrap();
        let rest = read_to_end(&mut s).await?;
        c0c1.extend(rest);
        Ok::<_, io::Error>(c0c1)
    });
    let mut proxy = RunningProxy::start(test_config(&up, Some(dir.path()))).await;
    let mut c = TcpStream::connect(proxy.addr).await.unwrap();
    c.write_all(&[3u8; 1537]).await.unwrap();
    let mut hello = [0u8; 3073];
    tokio::time::timeout(LIMIT, c.read_exact(&mut hello))
        .await
        .unwrap()
        .unwrap();
    proxy
        .wait_line(LIMIT, |l| l.contains(r#""part":"S0S1""#))
        .await
        .expect("the session was not decoded");
    let started = std::time::Instant::now();
    proxy.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    // Both peers see a FIN.
    let mut rest = Vec::new();
    let n = tokio::time::timeout(LIMIT, c.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0);
    let at_server = tokio::time::timeout(LIMIT, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(at_server.len(), 1537);
    let closed: Vec<_> = proxy
        .json_lines()
        .into_iter()
        .filter(|v| v["kind"] == "close")
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["c2s_end"], "proxy_fin");
    assert_eq!(closed[0]["s2c_end"], "proxy_fin");
    let conns = read_capture(&only_capture(dir.path()));
    assert_eq!(conns[0].c2s.len(), 1537);
    assert_eq!(conns[0].s2c.len(), 3073);
    assert!(conns[0]
        .closed
        .contains(&(Direction::ClientToServer, false)));
    assert!(conns[0]
        .closed
        .contains(&(Direction::ServerToClient, false)));
}
