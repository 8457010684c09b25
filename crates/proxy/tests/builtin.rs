//! The built-in RTMP server against real clients (ffmpeg, ffprobe, rtmpdump)
//! and hand-made ones, on loopback; what the server sent is checked with the
//! core's decoder, tshark and ffprobe, never with the server's own account.
//!
//! Every program runs under a guard that kills it, every wait is bounded.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{have, run, Tcpdump};
use rtmpscope_core::amf::{amf0, Value};
use rtmpscope_core::chunk::ChunkEncoder;
use rtmpscope_core::handshake::{
    build_hello, build_response, Echo, Hello, Role, Scheme, HANDSHAKE_SIZE,
};
use rtmpscope_core::message::{Body, MSG_AUDIO, MSG_COMMAND_AMF0, MSG_WINDOW_ACK_SIZE};
use rtmpscope_core::session::{decode_pair, Event, MessageEvent};
use rtmpscope_core::Direction;
use rtmpscope_proxy::server::{RejectCode, Server, ServerConfig, ServerEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// A server running in the test's runtime, with its events.
struct Running {
    addr: SocketAddr,
    events: mpsc::Receiver<ServerEvent>,
    seen: Vec<ServerEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    async fn start(cfg: ServerConfig) -> Running {
        let (tx, events) = mpsc::channel(4096);
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), cfg.events(tx))
            .await
            .unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async {
            let _ = stopped.await;
        }));
        Running {
            addr,
            events,
            seen: Vec::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("rtmp://{}/{path}", self.addr)
    }

    /// Waits at most `limit` for an event for which `f` holds.
    async fn wait(&mut self, limit: Duration, f: impl Fn(&ServerEvent) -> bool) -> ServerEvent {
        if let Some(e) = self.seen.iter().find(|e| f(e)) {
            return e.clone();
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) => {
                    self.seen.push(e.clone());
                    if f(&e) {
                        return e;
                    }
                }
                _ => panic!("no such event within {limit:?}; seen: {:#?}", self.seen),
            }
        }
    }

    /// Stops the server; it must return within 5 s.
    async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .expect("the server did not stop within 5 s")
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn closed_reason(e: &ServerEvent) -> Option<(&str, u64)> {
    match e {
        ServerEvent::Closed {
            reason, received, ..
        } => Some((reason.as_str(), *received)),
        _ => None,
    }
}

/// A relay in front of the server that records every byte of every connection.
type Recorded = Arc<Mutex<Vec<(Arc<Mutex<Vec<u8>>>, Arc<Mutex<Vec<u8>>>)>>>;

async fn recording_relay(server: SocketAddr) -> (SocketAddr, Recorded) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let rec: Recorded = Arc::default();
    let r = rec.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = l.accept().await {
            let Ok(up) = TcpStream::connect(server).await else {
                continue;
            };
            let c2s = Arc::new(Mutex::new(Vec::new()));
            let s2c = Arc::new(Mutex::new(Vec::new()));
            r.lock().unwrap().push((c2s.clone(), s2c.clone()));
            let (cr, cw) = client.into_split();
            let (ur, uw) = up.into_split();
            tokio::spawn(copy(cr, uw, c2s));
            tokio::spawn(copy(ur, cw, s2c));
        }
    });
    (addr, rec)
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    log: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        log.lock().unwrap().extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

fn recorded(rec: &Recorded, i: usize) -> (Bytes, Bytes) {
    let r = rec.lock().unwrap();
    let (c, s) = &r[i];
    let c = Bytes::from(c.lock().unwrap().clone());
    let s = Bytes::from(s.lock().unwrap().clone());
    (c, s)
}

/// Every message the server sent in a connection, decoded by the core.
fn server_messages(c2s: Bytes, s2c: Bytes) -> (Vec<Event>, Vec<MessageEvent>) {
    let mut out = Vec::new();
    decode_pair(c2s, s2c, &mut out);
    let msgs = out
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) if m.dir == Direction::ServerToClient => Some(m.clone()),
            _ => None,
        })
        .collect();
    (out, msgs)
}

fn status_codes(msgs: &[MessageEvent]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match &m.body {
            Body::Command(c) => c.status().and_then(|s| s.code.clone()),
            _ => None,
        })
        .collect()
}

fn publish_cmd(url: &str, seconds: u32) -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-loglevel", "info", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine"])
        .args(["-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
        .args(["-c:a", "aac", "-f", "flv", url]);
    c
}

/// Runs a blocking program off the runtime's threads.
async fn run_async(
    name: &'static str,
    mut cmd: Command,
    limit: Duration,
) -> (Option<ExitStatus>, String, String) {
    tokio::task::spawn_blocking(move || run(name, &mut cmd, limit))
        .await
        .unwrap()
}

fn have_all(programs: &[&str]) -> bool {
    for p in programs {
        if !have(p) {
            eprintln!("SKIP: {p} is not installed");
            return false;
        }
    }
    true
}

/// ffprobe's view of a URL or file: (codec_type, codec_name, width, height) per stream.
fn ffprobe_streams(json: &str) -> Vec<(String, String, u64, u64)> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    v["streams"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["codec_type"].as_str().unwrap_or("").to_string(),
                        s["codec_name"].as_str().unwrap_or("").to_string(),
                        s["width"].as_u64().unwrap_or(0),
                        s["height"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assert_h264_320x240_and_aac(json: &str, who: &str) {
    let streams = ffprobe_streams(json);
    assert!(
        streams.contains(&("video".into(), "h264".into(), 320, 240)),
        "{who}: no H.264 320x240 stream in {streams:?} ({json})"
    );
    assert!(
        streams.iter().any(|s| s.0 == "audio" && s.1 == "aac"),
        "{who}: no AAC stream in {streams:?}"
    );
}

/// A hand-made client: handshake, then messages written with the core's encoder.
struct RawClient {
    sock: TcpStream,
    enc: ChunkEncoder,
    /// Every byte the server sent.
    s2c: Vec<u8>,
    /// Every byte this client sent.
    c2s: Vec<u8>,
}

impl RawClient {
    /// Connects and does the handshake with a C1 built in `scheme` (a zero
    /// version field for the simple one).
    async fn connect(addr: SocketAddr, scheme: Scheme) -> RawClient {
        let sock = TcpStream::connect(addr).await.unwrap();
        let version = if scheme == Scheme::Simple {
            [0; 4]
        } else {
            [9, 0, 124, 2]
        };
        let mut seed = 7u32;
        let c1 = build_hello(Role::Client, scheme, 0, version, |_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as u8
        });
        let mut c = RawClient {
            sock,
            enc: ChunkEncoder::new(128),
            s2c: Vec::new(),
            c2s: Vec::new(),
        };
        let mut c0c1 = vec![3u8];
        c0c1.extend_from_slice(&c1);
        c.send(&c0c1).await;
        let mut s0s1s2 = vec![0u8; 1 + 2 * HANDSHAKE_SIZE];
        tokio::time::timeout(Duration::from_secs(5), c.sock.read_exact(&mut s0s1s2))
            .await
            .expect("no S0S1S2 within 5 s")
            .unwrap();
        c.s2c.extend_from_slice(&s0s1s2);
        let mut s1 = [0u8; HANDSHAKE_SIZE];
        s1.copy_from_slice(&s0s1s2[1..1 + HANDSHAKE_SIZE]);
        let c2 = build_response(Role::Client, &s1, None, |_| 0);
        c.send(&c2).await;
        c
    }

    async fn send(&mut self, b: &[u8]) {
        self.c2s.extend_from_slice(b);
        let _ = self.sock.write_all(b).await;
    }

    async fn message(&mut self, csid: u32, type_id: u8, stream_id: u32, payload: &[u8]) {
        let mut out = Vec::new();
        self.enc
            .write(&mut out, csid, type_id, stream_id, 0, payload);
        self.send(&out).await;
    }

    async fn command(&mut self, stream_id: u32, values: &[Value]) {
        let mut p = Vec::new();
        amf0::encode_all(values, &mut p).unwrap();
        self.message(3, MSG_COMMAND_AMF0, stream_id, &p).await;
    }

    async fn connect_app(&mut self, app: &str) {
        self.command(
            0,
            &[
                Value::string("connect"),
                Value::Number(1.0),
                Value::object([
                    ("app", Value::string(app)),
                    ("tcUrl", Value::string(format!("rtmp://127.0.0.1/{app}"))),
                ]),
            ],
        )
        .await;
    }

    /// Reads what the server sends for `limit` or until it closes; returns whether it closed.
    async fn read_for(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let mut buf = vec![0u8; 65536];
        loop {
            match tokio::time::timeout_at(deadline, self.sock.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.s2c.extend_from_slice(&buf[..n]),
                Err(_) => return false,
            }
        }
    }

    /// Reads until the server's messages (decoded by the core) satisfy `f`.
    async fn read_until(&mut self, limit: Duration, f: impl Fn(&[MessageEvent]) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let (_, msgs) = server_messages(self.c2s.clone().into(), self.s2c.clone().into());
            if f(&msgs) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server never sent what was expected; got {:?}",
                msgs.iter().map(|m| m.summary()).collect::<Vec<_>>()
            );
            if self.read_for(Duration::from_millis(100)).await {
                let (_, msgs) = server_messages(self.c2s.clone().into(), self.s2c.clone().into());
                assert!(
                    f(&msgs),
                    "server closed; got {:?}",
                    msgs.iter().map(|m| m.summary()).collect::<Vec<_>>()
                );
                return;
            }
        }
    }

    fn messages(&self) -> Vec<MessageEvent> {
        server_messages(self.c2s.clone().into(), self.s2c.clone().into()).1
    }
}

/// tshark's reading of a capture: per packet, the TCP source port, the RTMP
/// type ids and the AMF strings.
fn tshark_fields(pcap: &Path, port: u16) -> Vec<(u16, String, String)> {
    let (st, out, err) = run(
        "tshark",
        Command::new("tshark")
            .arg("-r")
            .arg(pcap)
            .args(["-d", &format!("tcp.port=={port},rtmpt")])
            .args(["-o", "rtmpt.max_packet_size:1048576"])
            .args(["-Y", "rtmpt", "-T", "fields", "-E", "separator=|"])
            .args(["-e", "tcp.srcport", "-e", "rtmpt.header.typeid"])
            .args(["-e", "amf.string"]),
        Duration::from_secs(60),
    );
    assert!(st.is_some_and(|s| s.success()), "tshark failed: {err}");
    out.lines()
        .filter_map(|l| {
            let mut f = l.split('|');
            let port = f.next()?.parse().ok()?;
            Some((
                port,
                f.next().unwrap_or("").to_string(),
                f.next().unwrap_or("").to_string(),
            ))
        })
        .collect()
}

/// Checks with the core's handshake decoder that the client's C1 carries a
/// valid digest and that the server's S1 digest and S2 signature verify.
fn assert_digest_handshake(conn: &common::Conn) {
    let mut events = Vec::new();
    decode_pair(
        conn.c2s.clone().into(),
        conn.s2c.clone().into(),
        &mut events,
    );
    let hs: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Handshake(h) => Some(h.clone()),
            _ => None,
        })
        .collect();
    let part = |dir: Direction, hello: bool| {
        hs.iter()
            .find(|h| h.dir == dir && h.hello.is_some() == hello)
            .unwrap_or_else(|| panic!("no {dir:?} handshake part in {hs:?}"))
    };
    let c1 = part(Direction::ClientToServer, true).hello.clone().unwrap();
    assert_ne!(c1.scheme, Scheme::Simple, "the client sent a simple C1");
    assert!(c1.digest_valid);
    let s1 = part(Direction::ServerToClient, true).hello.clone().unwrap();
    assert_eq!(s1.scheme, c1.scheme);
    assert!(s1.digest_valid, "S1 digest does not verify");
    let s2 = part(Direction::ServerToClient, false).echo.clone().unwrap();
    assert_eq!(s2.digest_valid, Some(true), "S2 signature does not verify");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publishes_and_players_get_h264_and_aac() {
    if !have_all(&["ffmpeg", "ffprobe"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Running::start(ServerConfig::default()).await;
    let port = srv.addr.port();
    let dump = if have("tshark") {
        Tcpdump::start(&dir.path().join("lo.pcap"), &format!("tcp port {port}"))
    } else {
        None
    };
    let url = srv.url("live/test");
    let publisher = tokio::spawn(run_async(
        "ffmpeg",
        publish_cmd(&url, 8),
        Duration::from_secs(40),
    ));
    srv.wait(
        Duration::from_secs(20),
        |e| matches!(e, ServerEvent::Publishing { stream, .. } if stream == "live/test"),
    )
    .await;

    // ffprobe reads the live stream while it is published.
    let mut probe = Command::new("ffprobe");
    probe
        .args(["-hide_banner", "-v", "error", "-rw_timeout", "10000000"])
        .args(["-show_streams", "-of", "json", &url]);
    let (st, out, err) = run_async("ffprobe", probe, Duration::from_secs(20)).await;
    assert!(st.is_some_and(|s| s.success()), "ffprobe failed: {err}");
    assert_h264_320x240_and_aac(&out, "ffprobe");

    // rtmpdump (librtmp) records two seconds of it; ffprobe reads the file.
    if have("rtmpdump") {
        let flv = dir.path().join("rtmpdump.flv");
        let mut dump_cmd = Command::new("rtmpdump");
        dump_cmd
            .args(["-r", &url, "--live", "--stop", "2", "-o"])
            .arg(&flv);
        let (_, _, err) = run_async("rtmpdump", dump_cmd, Duration::from_secs(20)).await;
        let mut probe = Command::new("ffprobe");
        probe
            .args([
                "-hide_banner",
                "-v",
                "error",
                "-show_streams",
                "-of",
                "json",
            ])
            .arg(&flv);
        let (_, out, _) = run_async("ffprobe", probe, Duration::from_secs(20)).await;
        assert_h264_320x240_and_aac(&out, &format!("rtmpdump ({err})"));
    }

    let (st, _, err) = publisher.await.unwrap();
    assert!(
        st.is_some_and(|s| s.success()),
        "ffmpeg publish failed: {err}"
    );
    // What crossed the wire, read by the core and by tshark from an outside capture.
    if let Some(dump) = dump {
        assert!(dump.stop(), "tcpdump dropped packets");
        let pcap = dir.path().join("lo.pcap");
        let conns = common::read_capture(&pcap);
        assert!(conns.len() >= 2, "{} connections captured", conns.len());
        // ffmpeg publishing (conns[0]) and ffprobe playing (conns[1]) both send a
        // digest C1; the server's S1 and S2 must verify against it.
        for conn in &conns[..2] {
            assert_digest_handshake(conn);
        }

        // The player's connection carries the data messages a player expects.
        let player_conn = &conns[1];
        let (_, msgs) = server_messages(
            player_conn.c2s.clone().into(),
            player_conn.s2c.clone().into(),
        );
        let data_names: Vec<_> = msgs
            .iter()
            .filter_map(|m| match &m.body {
                Body::Data(d) => d.name.clone(),
                _ => None,
            })
            .collect();
        assert!(
            data_names.iter().any(|n| n == "|RtmpSampleAccess"),
            "{data_names:?}"
        );
        assert!(
            data_names.iter().any(|n| n == "onMetaData"),
            "{data_names:?}"
        );

        let fields = tshark_fields(&pcap, port);
        let from_server: Vec<_> = fields.iter().filter(|f| f.0 == port).collect();
        let strings: String = from_server.iter().map(|f| f.2.as_str()).collect();
        for code in [
            "NetConnection.Connect.Success",
            "NetStream.Publish.Start",
            "NetStream.Play.Start",
            "NetStream.Play.Reset",
        ] {
            assert!(
                strings.contains(code),
                "tshark saw no {code} from the server: {strings}"
            );
        }
        let types: String = from_server.iter().map(|f| format!("{},", f.1)).collect();
        // tshark prints type ids in hex: Set Chunk Size, User Control, Window
        // Acknowledgement Size, Set Peer Bandwidth, audio, video, data, command.
        for t in [
            "0x01", "0x04", "0x05", "0x06", "0x08", "0x09", "0x12", "0x14",
        ] {
            assert!(
                types.split(',').any(|x| x == t),
                "tshark saw no type {t} from the server: {types}"
            );
        }
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_scheme_client_gets_an_echo_and_digest_client_a_signed_s2() {
    let mut srv = Running::start(ServerConfig::default()).await;
    for scheme in [Scheme::Simple, Scheme::Digest0, Scheme::Digest1] {
        let mut c = RawClient::connect(srv.addr, scheme).await;
        let mut c1 = [0u8; HANDSHAKE_SIZE];
        c1.copy_from_slice(&c.c2s[1..1 + HANDSHAKE_SIZE]);
        let mut s1 = [0u8; HANDSHAKE_SIZE];
        s1.copy_from_slice(&c.s2c[1..1 + HANDSHAKE_SIZE]);
        let mut s2 = [0u8; HANDSHAKE_SIZE];
        s2.copy_from_slice(&c.s2c[1 + HANDSHAKE_SIZE..]);
        assert_eq!(c.s2c[0], 3);
        let c1_hello = Hello::parse(3, &c1, Role::Client);
        let s1_hello = Hello::parse(3, &s1, Role::Server);
        let echo = Echo::parse(&s2, Role::Server, Some((&c1, &c1_hello)));
        match scheme {
            Scheme::Simple => {
                assert_eq!(s1_hello.scheme, Scheme::Simple);
                assert_eq!(echo.echo, Some(true), "S2 does not echo C1");
            }
            _ => {
                assert_eq!(s1_hello.scheme, scheme);
                assert!(s1_hello.digest_valid);
                assert_eq!(echo.digest_valid, Some(true));
            }
        }
        // The session goes on: connect is answered.
        c.connect_app("live").await;
        c.read_until(Duration::from_secs(5), |m| {
            status_codes(m).contains(&"NetConnection.Connect.Success".to_string())
        })
        .await;
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_publish_fails_ffmpeg_with_the_configured_status() {
    if !have_all(&["ffmpeg"]) {
        return;
    }
    let cfg = ServerConfig::default().reject_publish(RejectCode::BadName, "rejected by the test");
    let mut srv = Running::start(cfg).await;
    let (relay, rec) = recording_relay(srv.addr).await;
    let url = format!("rtmp://{relay}/live/test");
    let (st, _, err) = run_async("ffmpeg", publish_cmd(&url, 3), Duration::from_secs(30)).await;
    assert!(
        st.is_some_and(|s| !s.success()),
        "ffmpeg did not fail: {err}"
    );
    srv.wait(
        Duration::from_secs(5),
        |e| matches!(e, ServerEvent::Rejected { code, .. } if code == "NetStream.Publish.BadName"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (c2s, s2c) = recorded(&rec, 0);
    let (_, msgs) = server_messages(c2s, s2c);
    let status = msgs
        .iter()
        .find_map(|m| match &m.body {
            Body::Command(c) if c.name == "onStatus" => c.status().cloned(),
            _ => None,
        })
        .expect("no onStatus from the server");
    assert_eq!(status.code.as_deref(), Some("NetStream.Publish.BadName"));
    assert_eq!(status.level.as_deref(), Some("error"));
    assert_eq!(status.description.as_deref(), Some("rejected by the test"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_connect_gets_error_then_a_close() {
    let mut srv = Running::start(ServerConfig::default().reject_connect("no entry")).await;
    let mut c = RawClient::connect(srv.addr, Scheme::Simple).await;
    c.connect_app("live").await;
    assert!(c.read_for(Duration::from_secs(5)).await, "not closed");
    let msgs = c.messages();
    let e = msgs
        .iter()
        .find_map(|m| match &m.body {
            Body::Command(c) if c.name == "_error" => c.status().cloned(),
            _ => None,
        })
        .expect("no _error");
    assert_eq!(e.code.as_deref(), Some("NetConnection.Connect.Rejected"));
    assert_eq!(e.description.as_deref(), Some("no entry"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_after_n_bytes_closes_the_connection_there() {
    let mut srv = Running::start(ServerConfig::default().drop_after_bytes(5000)).await;
    let mut c = RawClient::connect(srv.addr, Scheme::Simple).await;
    c.connect_app("live").await;
    for _ in 0..20 {
        c.message(6, MSG_AUDIO, 1, &[0xAF; 500]).await;
    }
    assert!(c.read_for(Duration::from_secs(5)).await, "not closed");
    let ev = srv
        .wait(Duration::from_secs(5), |e| closed_reason(e).is_some())
        .await;
    let (reason, received) = closed_reason(&ev).unwrap();
    assert!(reason.contains("dropped after 5000"), "{reason}");
    assert_eq!(received, 5000);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_after_n_bytes_breaks_an_ffmpeg_push() {
    if !have_all(&["ffmpeg"]) {
        return;
    }
    let mut srv = Running::start(ServerConfig::default().drop_after_bytes(20_000)).await;
    let url = srv.url("live/test");
    let (st, _, err) = run_async("ffmpeg", publish_cmd(&url, 5), Duration::from_secs(30)).await;
    assert!(
        st.is_some_and(|s| !s.success()),
        "ffmpeg did not fail: {err}"
    );
    let ev = srv
        .wait(Duration::from_secs(5), |e| closed_reason(e).is_some())
        .await;
    assert_eq!(closed_reason(&ev).unwrap().1, 20_000);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_disconnects_only_its_own_connection() {
    if !have_all(&["ffmpeg"]) {
        return;
    }
    let mut srv = Running::start(ServerConfig::default()).await;
    let url = srv.url("live/test");
    let publisher = tokio::spawn(run_async(
        "ffmpeg",
        publish_cmd(&url, 4),
        Duration::from_secs(30),
    ));
    srv.wait(Duration::from_secs(20), |e| {
        matches!(e, ServerEvent::Publishing { .. })
    })
    .await;

    // After a good handshake: a type-3 chunk on a chunk stream never opened.
    let mut c = RawClient::connect(srv.addr, Scheme::Simple).await;
    c.send(&[0xC9; 300]).await;
    assert!(c.read_for(Duration::from_secs(5)).await, "not closed");
    let ev = srv
        .wait(Duration::from_secs(5), |e| {
            closed_reason(e).is_some_and(|r| r.0.contains("chunk stream error"))
        })
        .await;
    assert!(closed_reason(&ev).unwrap().0.contains("expected"));

    // Instead of a handshake: an HTTP request.
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&[b'x'; 2000]).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("not closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "the server answered an HTTP request");
    srv.wait(Duration::from_secs(5), |e| {
        closed_reason(e).is_some_and(|r| r.0.contains("handshake refused"))
    })
    .await;

    let (st, _, err) = publisher.await.unwrap();
    assert!(st.is_some_and(|s| s.success()), "ffmpeg failed: {err}");
    srv.stop().await;
}

/// Acknowledgements counted in what the server sent, read by the core.
fn acks(msgs: &[MessageEvent]) -> Vec<u32> {
    msgs.iter()
        .filter_map(|m| match m.body {
            Body::Ack(n) => Some(n),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_follow_the_window_and_stall_on_request() {
    for stall in [false, true] {
        let mut srv = Running::start(ServerConfig::default().stall_acks(stall)).await;
        let mut c = RawClient::connect(srv.addr, Scheme::Simple).await;
        c.message(2, MSG_WINDOW_ACK_SIZE, 0, &10_000u32.to_be_bytes())
            .await;
        c.connect_app("live").await;
        for _ in 0..100 {
            c.message(6, MSG_AUDIO, 1, &[0xAF; 1000]).await;
        }
        c.read_for(Duration::from_millis(500)).await;
        let got = acks(&c.messages());
        if stall {
            assert!(got.is_empty(), "stalled server acked: {got:?}");
        } else {
            // About 100 KB after the handshake, a window of 10 000 bytes.
            assert!(got.len() >= 8, "{got:?}");
            assert!(got.windows(2).all(|w| w[1] - w[0] >= 10_000), "{got:?}");
        }
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_acks_send_no_type_3_to_ffmpeg() {
    if !have_all(&["ffmpeg"]) {
        return;
    }
    for stall in [false, true] {
        // A small window, so that an ack is due many times over.
        let cfg = ServerConfig::default()
            .stall_acks(stall)
            .window_ack_size(4096);
        let mut srv = Running::start(cfg).await;
        let (relay, rec) = recording_relay(srv.addr).await;
        let url = format!("rtmp://{relay}/live/test");
        let (st, _, err) = run_async("ffmpeg", publish_cmd(&url, 3), Duration::from_secs(30)).await;
        assert!(st.is_some_and(|s| s.success()), "ffmpeg failed: {err}");
        srv.wait(Duration::from_secs(5), |e| closed_reason(e).is_some())
            .await;
        let (c2s, s2c) = recorded(&rec, 0);
        assert!(c2s.len() > 50_000, "only {} bytes published", c2s.len());
        let (events, msgs) = server_messages(c2s.clone(), s2c);
        assert!(status_codes(&msgs).contains(&"NetStream.Publish.Start".to_string()));
        let got = acks(&msgs);
        // The window is the client's if it announced one, else the server's.
        let window = events
            .iter()
            .find_map(|e| match e {
                Event::Message(m) if m.dir == Direction::ClientToServer => match m.body {
                    Body::WindowAckSize(w) => Some(u64::from(w)),
                    _ => None,
                },
                _ => None,
            })
            .unwrap_or(4096);
        if stall {
            assert!(got.is_empty(), "the stalled server acknowledged: {got:?}");
        } else {
            let due = (c2s.len() as u64 - 3073) / window;
            assert!(
                got.len() as u64 >= due / 2 && due >= 10,
                "{} acks for {} bytes and a window of {window}: {got:?}",
                got.len(),
                c2s.len()
            );
            assert!(got.iter().all(|&n| u64::from(n) <= c2s.len() as u64));
        }
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_chunk_size_and_delayed_replies_still_serve_ffprobe() {
    if !have_all(&["ffmpeg", "ffprobe"]) {
        return;
    }
    let cfg = ServerConfig::default()
        .chunk_size(200)
        .reply_delay(Duration::from_millis(300));
    let mut srv = Running::start(cfg).await;
    let (relay, rec) = recording_relay(srv.addr).await;
    let publisher = tokio::spawn(run_async(
        "ffmpeg",
        publish_cmd(&srv.url("live/x"), 6),
        Duration::from_secs(40),
    ));
    srv.wait(Duration::from_secs(20), |e| {
        matches!(e, ServerEvent::Publishing { .. })
    })
    .await;
    let mut probe = Command::new("ffprobe");
    probe
        .args(["-hide_banner", "-v", "error", "-rw_timeout", "10000000"])
        .args(["-show_streams", "-of", "json"])
        .arg(format!("rtmp://{relay}/live/x"));
    let started = Instant::now();
    let (st, out, err) = run_async("ffprobe", probe, Duration::from_secs(20)).await;
    assert!(st.is_some_and(|s| s.success()), "ffprobe failed: {err}");
    assert_h264_320x240_and_aac(&out, "ffprobe");
    // connect, createStream and play each wait for a reply.
    assert!(started.elapsed() >= Duration::from_millis(900));
    let (c2s, s2c) = recorded(&rec, 0);
    let (_, msgs) = server_messages(c2s, s2c);
    assert!(msgs.iter().any(|m| m.body == Body::SetChunkSize(200)));
    // Media messages longer than the chunk size came in several chunks.
    assert!(msgs
        .iter()
        .any(|m| m.raw.type_id == 9 && m.raw.length > 200 && m.raw.chunks > 1));
    let (st, _, err) = publisher.await.unwrap();
    assert!(st.is_some_and(|s| s.success()), "ffmpeg failed: {err}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_connections_with_a_fin_and_returns() {
    let mut srv = Running::start(ServerConfig::default()).await;
    let mut c = RawClient::connect(srv.addr, Scheme::Simple).await;
    c.connect_app("live").await;
    c.read_until(Duration::from_secs(5), |m| !status_codes(m).is_empty())
        .await;
    let t = Instant::now();
    srv.stop().await;
    assert!(t.elapsed() < Duration::from_secs(3));
    // A FIN reads as end of stream; a reset would be an error.
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(2), c.sock.read(&mut buf))
        .await
        .expect("connection still open");
    assert!(matches!(r, Ok(0)), "{r:?}");
    assert!(
        TcpStream::connect(srv.addr).await.is_err(),
        "still accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_waiting_before_the_publisher_and_ffmpeg_as_player_get_the_stream() {
    if !have_all(&["ffmpeg", "ffprobe"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // keep_gop off: the waiting player must get everything live.
    let mut srv = Running::start(ServerConfig::default().keep_gop(false)).await;
    let url = srv.url("live/early");
    let mut probe = Command::new("ffprobe");
    probe
        .args(["-hide_banner", "-v", "error", "-rw_timeout", "15000000"])
        .args(["-show_streams", "-of", "json", &url]);
    let early = tokio::spawn(run_async("ffprobe", probe, Duration::from_secs(30)));
    srv.wait(
        Duration::from_secs(10),
        |e| matches!(e, ServerEvent::Playing { stream, .. } if stream == "live/early"),
    )
    .await;
    let publisher = tokio::spawn(run_async(
        "ffmpeg",
        publish_cmd(&url, 6),
        Duration::from_secs(40),
    ));
    let (st, out, err) = early.await.unwrap();
    assert!(
        st.is_some_and(|s| s.success()),
        "early ffprobe failed: {err}"
    );
    assert_h264_320x240_and_aac(&out, "early ffprobe");

    // ffmpeg as a player copies two seconds into a file that ffprobe reads.
    let flv = dir.path().join("played.flv");
    let mut play = Command::new("ffmpeg");
    play.args(["-hide_banner", "-nostdin", "-loglevel", "error"])
        .args([
            "-rw_timeout",
            "10000000",
            "-i",
            &url,
            "-t",
            "2",
            "-c",
            "copy",
            "-y",
        ])
        .arg(&flv);
    let (st, _, err) = run_async("ffmpeg", play, Duration::from_secs(30)).await;
    assert!(
        st.is_some_and(|s| s.success()),
        "ffmpeg player failed: {err}"
    );
    let mut probe = Command::new("ffprobe");
    probe
        .args([
            "-hide_banner",
            "-v",
            "error",
            "-show_streams",
            "-of",
            "json",
        ])
        .arg(&flv);
    let (_, out, _) = run_async("ffprobe", probe, Duration::from_secs(20)).await;
    assert_h264_320x240_and_aac(&out, "file played by ffmpeg");

    let (st, _, err) = publisher.await.unwrap();
    assert!(
        st.is_some_and(|s| s.success()),
        "ffmpeg publish failed: {err}"
    );
    srv.stop().await;
}
