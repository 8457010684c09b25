//! Throughput and latency of the capture proxy beside its anchors, in one run.
//!
//! `cargo run --release -p rtmpscope-proxy --example relay-bench [GIB] [RUNS]`
//!
//! Throughput: a client pushes GIB GiB (default 1) of an RTMP publish (a
//! handshake, Set Chunk Size 4096, then 100 KB H.264-like video messages in
//! 4096-byte chunks) to a sink that counts the bytes, through
//!   (a) nothing: direct loopback TCP,
//!   (b) a plain tokio relay: `copy_bidirectional_with_sizes` with 64 KiB buffers,
//!   (c) the rtmpscope proxy with capture (to a tmpfs directory) and decoding on,
//!   (d) the rtmpscope proxy forwarding only (no capture, no decoding),
//! each RUNS times (default 3) in turn; a run's time is from connect to the
//! sink's confirmation that every byte arrived.
//!
//! Latency: 100-byte RTMP audio messages bounced off an echo server (after a
//! handshake, so the proxy decodes them both ways), one at a time; p50/p99
//! over 20000 round trips after 2000 of warm-up.
//!
//! Client, sink and echo server are plain threads with blocking sockets; the
//! relays run on one tokio multi-thread runtime with the default worker count.

mod common;

use common::noise;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rtmpscope_core::chunk::ChunkEncoder;
use rtmpscope_proxy::{Output, Proxy, ProxyConfig, Upstream};
use tokio::sync::{mpsc, oneshot};

const WRITE: usize = 256 << 10;
const ROUND_TRIPS: usize = 20_000;
const WARM_UP: usize = 2_000;

/// C0+C1 (or S0+S1) and C2 (S2): version 3 and 3072 bytes of noise.
fn handshake() -> Vec<u8> {
    let mut v = vec![3u8];
    v.extend(noise(7, 3072));
    v
}

/// 16 MiB or so of chunked video messages, repeated to make up the push.
fn media_block() -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = ChunkEncoder::new(4096);
    let payload = noise(9, 100_000);
    let mut ts = 0;
    while out.len() < 16 << 20 {
        let mut msg = vec![0x17, 0x01, 0, 0, 0];
        msg.extend_from_slice(&payload);
        enc.write(&mut out, 6, 9, 1, ts, &msg);
        ts += 40;
    }
    out
}

fn push_stream_head() -> Vec<u8> {
    let mut out = handshake();
    let mut enc = ChunkEncoder::new(128);
    enc.write(&mut out, 2, 1, 0, 0, &4096u32.to_be_bytes());
    out
}

/// Counts every byte of each connection, then answers with the count and closes.
fn start_sink() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let _ = s.write_all(&handshake());
                let mut buf = vec![0u8; WRITE];
                let mut n = 0u64;
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => n += k as u64,
                    }
                }
                let _ = s.write_all(&n.to_be_bytes());
            });
        }
    });
    addr
}

/// Sends back whatever it reads.
fn start_echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => {
                            if s.write_all(&buf[..k]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Pushes `total` bytes to `to`; returns the seconds until the sink confirmed them.
fn push(to: SocketAddr, total: u64, head: &[u8], block: &[u8]) -> f64 {
    let start = Instant::now();
    let mut s = TcpStream::connect(to).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(head).unwrap();
    let mut left = total - head.len() as u64;
    let mut at = 0;
    while left > 0 {
        let n = (WRITE as u64).min(left).min((block.len() - at) as u64) as usize;
        s.write_all(&block[at..at + n]).unwrap();
        left -= n as u64;
        at = (at + n) % block.len();
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let count = back
        .get(back.len().saturating_sub(8)..)
        .map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
        .unwrap_or(0);
    assert_eq!(count, total, "the sink got {count} of {total} bytes");
    secs
}

/// Round-trip times (µs) of 100-byte messages through `to` to the echo server.
fn round_trips(to: SocketAddr) -> Vec<f64> {
    let mut s = TcpStream::connect(to).unwrap();
    s.set_nodelay(true).unwrap();
    let hs = handshake();
    s.write_all(&hs).unwrap();
    let mut back = vec![0u8; hs.len()];
    s.read_exact(&mut back).unwrap();
    // fmt 0, csid 4, audio, 88-byte payload: 12 + 88 = 100 bytes per message.
    let mut msg = Vec::new();
    ChunkEncoder::new(128).write(&mut msg, 4, 8, 1, 0, &[0xAF; 88]);
    assert_eq!(msg.len(), 100);
    let mut buf = [0u8; 100];
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..WARM_UP + ROUND_TRIPS {
        let t = Instant::now();
        s.write_all(&msg).unwrap();
        s.read_exact(&mut buf).unwrap();
        if i >= WARM_UP {
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    times.sort_by(f64::total_cmp);
    times
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A plain relay: every connection to `upstream`, 64 KiB buffers each way.
async fn plain_relay(upstream: SocketAddr) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut a, _)) = l.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let Ok(mut b) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = a.set_nodelay(true);
                let _ = b.set_nodelay(true);
                let _ =
                    tokio::io::copy_bidirectional_with_sizes(&mut a, &mut b, 64 << 10, 64 << 10)
                        .await;
            });
        }
    });
    addr
}

struct RunningProxy {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    lines: mpsc::UnboundedReceiver<String>,
}

async fn proxy(upstream: SocketAddr, capture: Option<PathBuf>) -> RunningProxy {
    let mut cfg = ProxyConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        Upstream::Addr(upstream.to_string()),
    );
    let (tx, lines) = mpsc::unbounded_channel();
    cfg.decode = capture.is_some();
    cfg.capture_dir = capture;
    cfg.json = true;
    cfg.status_interval = None;
    cfg.output = Output::Lines(tx);
    let p = Proxy::bind(cfg).await.unwrap();
    let addr = p.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(p.serve(async {
        let _ = stopped.await;
    }));
    RunningProxy { addr, stop, lines }
}

/// The close lines of the sessions ended so far.
async fn closes(p: &mut RunningProxy, n: usize) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let Ok(Some(l)) = tokio::time::timeout(Duration::from_secs(30), p.lines.recv()).await
        else {
            break;
        };
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) {
            if v["kind"] == "close" {
                out.push(v);
            }
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let gib: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let total = (gib * (1u64 << 30) as f64) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let shm = PathBuf::from("/dev/shm");
    let base = if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    };
    let capture_dir = base.join(format!("rtmpscope-relay-bench-{}", std::process::id()));

    let sink = start_sink();
    let echo = start_echo();
    let relay_sink = rt.block_on(plain_relay(sink));
    let relay_echo = rt.block_on(plain_relay(echo));
    let mut proxy_sink = rt.block_on(proxy(sink, Some(capture_dir.clone())));
    let bare_sink = rt.block_on(proxy(sink, None));
    let mut proxy_echo = rt.block_on(proxy(echo, Some(capture_dir.clone())));
    let bare_echo = rt.block_on(proxy(echo, None));

    let head = push_stream_head();
    let block = media_block();
    println!(
        "relay-bench: {:.2} GB per push, {runs} runs each, {} CPUs, capture to {}",
        total as f64 / 1e9,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        capture_dir.display()
    );
    let names = [
        "direct TCP",
        "plain tokio relay, 64 KiB",
        "rtmpscope proxy, capture+decode",
        "rtmpscope proxy, forwarding only",
    ];
    let targets = [sink, relay_sink, proxy_sink.addr, bare_sink.addr];
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let mut gaps = 0u64;
    let mut undecoded = 0u64;
    let mut capture_bytes = 0u64;
    let mut decode_errors = 0u64;
    for _ in 0..runs {
        for (i, t) in targets.iter().enumerate() {
            secs[i].push(push(*t, total, &head, &block));
            if i == 2 {
                for c in rt.block_on(closes(&mut proxy_sink, 1)) {
                    gaps += c["c2s_gap_bytes"].as_u64().unwrap_or(0)
                        + c["s2c_gap_bytes"].as_u64().unwrap_or(0);
                    undecoded += c["undecoded_bytes"].as_u64().unwrap_or(0);
                    capture_bytes += c["capture_bytes"].as_u64().unwrap_or(0);
                    decode_errors += c["decode_errors"].as_u64().unwrap_or(0);
                }
                let _ = std::fs::remove_dir_all(&capture_dir);
                let _ = std::fs::create_dir_all(&capture_dir);
            }
        }
    }
    println!(
        "\nthroughput (GB/s)                  best  median   median vs direct  vs plain relay"
    );
    let median = |v: &Vec<f64>| {
        let mut s = v.clone();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    let rate = |s: f64| total as f64 / s / 1e9;
    let direct = rate(median(&secs[0]));
    let plain = rate(median(&secs[1]));
    for (i, n) in names.iter().enumerate() {
        let best = rate(secs[i].iter().copied().fold(f64::INFINITY, f64::min));
        let med = rate(median(&secs[i]));
        println!(
            "  {n:<32} {best:>5.2}  {med:>6.2}   {:>6.2}x           {:>6.2}x",
            med / direct,
            med / plain
        );
    }
    println!(
        "  capture+decode over {runs} pushes: {:.2} GB written, {} bytes in capture gaps, {} bytes recorded but not decoded, {} decode errors",
        capture_bytes as f64 / 1e9,
        gaps,
        undecoded,
        decode_errors
    );

    println!("\nlatency, 100-byte round trip (µs)      p50     p99   added p50  added p99");
    let lat_targets = [echo, relay_echo, proxy_echo.addr, bare_echo.addr];
    let mut base_lat = (0.0, 0.0);
    for (i, t) in lat_targets.iter().enumerate() {
        let times = round_trips(*t);
        let (p50, p99) = (pct(&times, 0.5), pct(&times, 0.99));
        if i == 0 {
            base_lat = (p50, p99);
        }
        println!(
            "  {:<32} {p50:>7.1} {p99:>7.1}   {:>+8.1}  {:>+8.1}",
            names[i],
            p50 - base_lat.0,
            p99 - base_lat.1
        );
    }
    let _ = rt.block_on(closes(&mut proxy_echo, 1));
    for p in [proxy_sink, bare_sink, proxy_echo, bare_echo] {
        let _ = p.stop.send(());
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = std::fs::remove_dir_all(&capture_dir);
}
