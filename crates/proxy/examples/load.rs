//! Load: many concurrent publishing sessions through the proxy, with capture
//! and decoding on, every byte checked end to end; then memory per idle session.
//!
//! `cargo run --release -p rtmpscope-proxy --example load [SESSIONS] [SECONDS] [KBIT] [IDLE]`
//! (defaults 500 sessions, 60 s, 2000 kbit/s each, 1000 idle sessions).
//!
//! Each client sends a real-shaped RTMP publish (C0/C1 carrying the session
//! number, C2, Set Chunk Size 4096, then 100 KB video messages in 4096-byte
//! chunks) paced to KBIT kbit/s; the upstream sink compares every byte it
//! receives with what that session must have sent (so a lost, duplicated,
//! reordered or cross-session byte fails the run), and answers with a
//! handshake so the proxy decodes both directions. Captures go to a
//! temporary directory, deleted at the end. Then IDLE sessions connect and
//! do only the handshake; the process's resident memory before and after,
//! divided by IDLE, bounds what an idle session costs (it includes the
//! client's and the sink's sockets, which live in the same process).

mod common;

use common::noise;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtmpscope_core::chunk::ChunkEncoder;
use rtmpscope_proxy::{Output, Proxy, ProxyConfig, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The chunked media every session sends after its handshake (long enough
/// that no session repeats it within the run), and where each message ends.
fn media(len: usize) -> (Vec<u8>, Vec<usize>) {
    let mut ends = Vec::new();
    let mut out = Vec::new();
    let mut enc = ChunkEncoder::new(128);
    enc.write(&mut out, 2, 1, 0, 0, &4096u32.to_be_bytes());
    let mut enc = ChunkEncoder::new(4096);
    let payload = noise(9, 100_000);
    let mut ts = 0;
    let mut k = 0u8;
    while out.len() < len {
        let mut msg = vec![0x17, 0x01, 0, 0, 0];
        msg.extend_from_slice(&payload);
        // Each message differs, so a repeated or skipped one does not compare equal.
        msg[5] = k;
        k = k.wrapping_add(1);
        enc.write(&mut out, 6, 9, 1, ts, &msg);
        ends.push(out.len());
        ts += 40;
    }
    (out, ends)
}

/// C0, C1 with the session number in bytes 8..16 of C1, and C2.
fn handshake(session: u64) -> Vec<u8> {
    let mut v = vec![3u8];
    let mut c1 = noise(session + 1000, 1536);
    c1[..8].fill(0);
    c1[8..16].copy_from_slice(&session.to_be_bytes());
    v.extend_from_slice(&c1);
    v.extend(noise(7, 1536));
    v
}

#[derive(Default)]
struct Tally {
    bytes: AtomicU64,
    bad_sessions: AtomicU64,
    good_sessions: AtomicU64,
}

/// The upstream: checks each connection's bytes against its session's stream.
async fn sink(l: TcpListener, media: Arc<Vec<u8>>, tally: Arc<Tally>) {
    while let Ok((mut s, _)) = l.accept().await {
        let media = media.clone();
        let tally = tally.clone();
        tokio::spawn(async move {
            let mut hs = vec![0u8; 1 + 1536];
            if s.read_exact(&mut hs).await.is_err() {
                return;
            }
            let session = u64::from_be_bytes(hs[9..17].try_into().unwrap_or([0; 8]));
            let want_hs = handshake(session);
            let mut ok = hs[..] == want_hs[..hs.len()];
            let mut reply = vec![3u8];
            reply.extend(noise(5, 3072));
            let _ = s.write_all(&reply).await;
            let mut at = hs.len();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                tally.bytes.fetch_add(n as u64, Ordering::Relaxed);
                for &b in &buf[..n] {
                    let want = if at < want_hs.len() {
                        want_hs[at]
                    } else {
                        media.get(at - want_hs.len()).copied().unwrap_or(!b)
                    };
                    ok &= b == want;
                    at += 1;
                }
            }
            let counter = if ok {
                &tally.good_sessions
            } else {
                &tally.bad_sessions
            };
            counter.fetch_add(1, Ordering::Relaxed);
        });
    }
}

/// One publisher: the handshake, then `rate` bytes per second of media for `secs`.
async fn client(
    proxy: SocketAddr,
    session: u64,
    (media, ends): (Arc<Vec<u8>>, Arc<Vec<usize>>),
    rate: usize,
    secs: f64,
) -> u64 {
    let mut s = match TcpStream::connect(proxy).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("client {session}: cannot connect to the proxy: {e}");
            return 0;
        }
    };
    let hs = handshake(session);
    if let Err(e) = s.write_all(&hs).await {
        eprintln!("client {session}: handshake write failed: {e}");
        return 0;
    }
    // Read the server's reply as it comes, so that the connection never stalls.
    let (mut r, mut w) = s.into_split();
    let reader = tokio::spawn(async move {
        let mut b = [0u8; 8192];
        while matches!(r.read(&mut b).await, Ok(n) if n > 0) {}
    });
    let tick = Duration::from_millis(100);
    let per_tick = rate / 10;
    let start = tokio::time::Instant::now();
    // Spread the sessions' ticks over the period.
    tokio::time::sleep(Duration::from_micros(session * 997 % 100_000)).await;
    let mut at = 0usize;
    let mut next = tokio::time::Instant::now();
    while start.elapsed().as_secs_f64() < secs && at + per_tick <= media.len() {
        if let Err(e) = w.write_all(&media[at..at + per_tick]).await {
            eprintln!("client {session}: write failed after {at} bytes of media: {e}");
            break;
        }
        at += per_tick;
        next += tick;
        tokio::time::sleep_until(next).await;
    }
    // End on a message boundary, as an encoder that stops does.
    if let Some(&end) = ends.iter().find(|&&e| e >= at) {
        if w.write_all(&media[at..end]).await.is_ok() {
            at = end;
        }
    }
    let _ = w.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(30), reader).await;
    (hs.len() + at) as u64
}

/// The proxy alone, in a process of its own (so that its memory is measured
/// apart from the clients' and the sink's): capture to DIR, decoding on, JSON
/// lines on stdout, its address on stderr; it stops when stdin closes.
fn proxy_child(upstream: &str, dir: &str) {
    let rt = rtmpscope_proxy::runtime().unwrap();
    rt.block_on(async move {
        let mut cfg = ProxyConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            Upstream::Addr(upstream.to_string()),
        );
        cfg.output = Output::Stdout;
        cfg.json = true;
        cfg.status_interval = None;
        cfg.capture_dir = Some(dir.into());
        let p = Proxy::bind(cfg).await.unwrap();
        eprintln!("{}", p.local_addr());
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        });
        let _ = p
            .serve(async {
                let _ = stdin_closed.await;
            })
            .await;
    });
}

fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct Closes {
    closed: AtomicU64,
    gap_bytes: AtomicU64,
    decode_errors: AtomicU64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--proxy") {
        return proxy_child(&args[2], &args[3]);
    }
    let arg = |i: usize, d: f64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let sessions = arg(1, 500.0) as u64;
    let secs = arg(2, 60.0);
    let kbit = arg(3, 2000.0);
    let idle = arg(4, 1000.0) as u64;
    let rate = (kbit * 1000.0 / 8.0) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (media, ends) = media(rate * (secs as usize + 2) + 200_000);
        let (media, ends) = (Arc::new(media), Arc::new(ends));
        let tally = Arc::new(Tally::default());
        // A deep accept queue: 500 publishers arrive within milliseconds.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let l = socket.listen(4096).unwrap();
        let up = l.local_addr().unwrap();
        tokio::spawn(sink(l, media.clone(), tally.clone()));
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--proxy")
            .arg(up.to_string())
            .arg(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        std::io::BufRead::read_line(&mut err, &mut first).unwrap();
        let addr: SocketAddr = first.trim().parse().expect("the proxy's address");
        let closes = Arc::new(Closes::default());
        let c = closes.clone();
        // At least what a publisher that sends its whole stream sends.
        let full = (rate as f64 * secs * 0.95) as u64;
        let out = child.stdout.take().unwrap();
        let drain = std::thread::spawn(move || {
            // Every line of a session, printed when it closes unusually: neither an idle
            // session (the handshake only) nor a publisher that sent its whole stream.
            let mut by_session: std::collections::HashMap<u64, Vec<String>> = Default::default();
            let mut shown = 0;
            for l in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_default();
                let n = v["session"].as_u64().unwrap_or(u64::MAX);
                let keep = v["kind"] != "message" && v["kind"] != "handshake";
                if keep {
                    let lines = by_session.entry(n).or_default();
                    if lines.len() < 50 {
                        lines.push(l.clone());
                    }
                }
                if v["kind"] == "close" {
                    let c2s = v["c2s_bytes"].as_u64().unwrap_or(0);
                    let whole = c2s == 3073 || c2s >= full;
                    let lines = by_session.remove(&n).unwrap_or_default();
                    if (!whole || v["decode_errors"].as_u64() != Some(0)) && shown < 5 {
                        shown += 1;
                        eprintln!("proxy session {n} ended unusually:");
                        for x in lines {
                            eprintln!("  {x}");
                        }
                    }
                }
                if v["kind"] == "log" && (n == u64::MAX || v["level"] == "error") {
                    eprintln!("proxy: {l}");
                }
                if !l.contains(r#""kind":"close""#) {
                    continue;
                }
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) {
                    c.closed.fetch_add(1, Ordering::Relaxed);
                    let gb = v["c2s_gap_bytes"].as_u64().unwrap_or(0)
                        + v["s2c_gap_bytes"].as_u64().unwrap_or(0);
                    c.gap_bytes.fetch_add(gb, Ordering::Relaxed);
                    c.decode_errors
                        .fetch_add(v["decode_errors"].as_u64().unwrap_or(0), Ordering::Relaxed);
                }
            }
        });

        // Idle sessions first, on a fresh proxy: handshake, then nothing.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = rss_of(pid);
        let mut conns = Vec::new();
        for n in 0..idle {
            let Ok(mut s) = TcpStream::connect(addr).await else {
                break;
            };
            let _ = s.write_all(&handshake(1_000_000 + n)).await;
            conns.push(s);
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = rss_of(pid);
        println!(
            "idle: {} sessions after the handshake: proxy RSS {before} KiB -> {after} KiB, {:.1} KiB per session",
            conns.len(),
            after.saturating_sub(before) as f64 / conns.len().max(1) as f64
        );
        let idle_n = conns.len() as u64;
        drop(conns);
        let deadline = Instant::now() + Duration::from_secs(30);
        while closes.closed.load(Ordering::Relaxed) < idle_n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let closed_idle = closes.closed.load(Ordering::Relaxed);

        if sessions > 0 {
            // The idle sessions counted as intact too; only the publishers count from here.
            tally.good_sessions.store(0, Ordering::Relaxed);
            tally.bad_sessions.store(0, Ordering::Relaxed);
            tally.bytes.store(0, Ordering::Relaxed);
            let rss0 = rss_of(pid);
            let t0 = Instant::now();
            let mut tasks = Vec::new();
            for n in 0..sessions {
                tasks.push(tokio::spawn(client(
                    addr,
                    n,
                    (media.clone(), ends.clone()),
                    rate,
                    secs,
                )));
            }
            // Peak memory while the sessions are live.
            let mut peak = 0;
            let mut sent = 0u64;
            let watch = async {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    peak = peak.max(rss_of(pid));
                }
            };
            tokio::select! {
                _ = watch => {}
                _ = async {
                    for t in tasks {
                        sent += t.await.unwrap_or(0);
                    }
                } => {}
            }
            let elapsed = t0.elapsed().as_secs_f64();
            let deadline = Instant::now() + Duration::from_secs(60);
            while (tally.good_sessions.load(Ordering::Relaxed)
                + tally.bad_sessions.load(Ordering::Relaxed))
                < sessions
                || closes.closed.load(Ordering::Relaxed) < closed_idle + sessions
            {
                if Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let received = tally.bytes.load(Ordering::Relaxed) + sessions * 1537;
            let capture_bytes: u64 = std::fs::read_dir(dir.path())
                .map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
                .unwrap_or(0);
            println!(
                "load: {sessions} sessions x {kbit} kbit/s for {secs} s ({elapsed:.1} s): sent {sent} B, received {received} B, sessions intact {} / {sessions}, corrupt {}, capture gaps {} B, decode errors {}, captures {:.0} MB, proxy peak RSS {} MiB (+{} MiB)",
                tally.good_sessions.load(Ordering::Relaxed),
                tally.bad_sessions.load(Ordering::Relaxed),
                closes.gap_bytes.load(Ordering::Relaxed),
                closes.decode_errors.load(Ordering::Relaxed),
                capture_bytes as f64 / 1e6,
                peak / 1024,
                peak.saturating_sub(rss0) / 1024,
            );
        }
        drop(child.stdin.take());
        let _ = child.wait();
        let _ = drain.join();
        drop(dir);
    });
}
