//! Helpers for the proxy's tests: a proxy run in-process, external programs
//! under guards that kill them, captures read back.
//!
//! Everything listens on 127.0.0.1 only; every wait is bounded.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rtmpscope_capture::{CaptureEvent, CaptureReader};
use rtmpscope_core::Direction;
use rtmpscope_proxy::{Output, Proxy, ProxyConfig, Upstream};
use tokio::sync::{mpsc, oneshot};

/// Whether a program can be run (found in PATH).
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A child process killed (and reaped) when dropped.
pub struct Guard {
    pub child: Option<Child>,
    pub name: String,
}

impl Guard {
    pub fn spawn(name: &str, cmd: &mut Command) -> Guard {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Guard {
            child: Some(child),
            name: name.into(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Waits at most `limit` for the process to exit; kills it if it does not.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                return Some(st);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT (through kill(1): the crate forbids unsafe code).
    pub fn interrupt(&self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(c.id().to_string())
                .status();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs a program to its end (killed after `limit`): exit status (None when
/// killed), stdout, stderr.
pub fn run(name: &str, cmd: &mut Command, limit: Duration) -> (Option<ExitStatus>, String, String) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut g = Guard::spawn(name, cmd);
    let mut out = g.child.as_mut().unwrap().stdout.take().unwrap();
    let mut err = g.child.as_mut().unwrap().stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let st = g.wait(limit);
    (st, t_out.join().unwrap(), t_err.join().unwrap())
}

/// Waits until something accepts connections on `addr`.
pub fn wait_listening(addr: SocketAddr, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// nginx with the RTMP module on a loopback port, in its own directory.
pub struct Nginx {
    pub port: u16,
    /// nginx's stream module with TLS in front of the RTMP port (`start_with_tls`).
    pub tls_port: Option<u16>,
    pub dir: PathBuf,
    _guard: Guard,
}

pub const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
pub const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

impl Nginx {
    /// Starts nginx-rtmp (`live` and `locked` applications) or returns `None`
    /// when nginx or the module is missing.
    pub fn start(dir: &Path) -> Option<Nginx> {
        Self::start_conf(dir, false)
    }

    /// As [`Nginx::start`], plus an RTMPS port: nginx's stream module with
    /// TLS (a self-signed certificate for localhost) proxying to the RTMP port.
    pub fn start_with_tls(dir: &Path) -> Option<Nginx> {
        if !Path::new(STREAM_MODULE).exists() {
            eprintln!("SKIP: {STREAM_MODULE} (libnginx-mod-stream) is not installed");
            return None;
        }
        Self::start_conf(dir, true)
    }

    fn start_conf(dir: &Path, tls: bool) -> Option<Nginx> {
        if !have("nginx") || !Path::new(RTMP_MODULE).exists() {
            eprintln!("SKIP: nginx with {RTMP_MODULE} is not installed");
            return None;
        }
        let port = free_port();
        let d = dir.display();
        let tls_port = tls.then(free_port);
        let (stream_module, stream) = match tls_port {
            Some(tp) => {
                let made =
                    rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
                std::fs::write(dir.join("cert.pem"), made.cert.pem()).unwrap();
                std::fs::write(dir.join("key.pem"), made.signing_key.serialize_pem()).unwrap();
                (
                    format!("load_module {STREAM_MODULE};"),
                    format!(
                        "stream {{ server {{ listen 127.0.0.1:{tp} ssl; ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem; proxy_pass 127.0.0.1:{port}; }} }}"
                    ),
                )
            }
            None => (String::new(), String::new()),
        };
        let conf = format!(
            "load_module {RTMP_MODULE};
{stream_module}
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log info;
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{
            live on;
        }}
        application locked {{
            live on;
            deny publish all;
        }}
    }}
}}
{stream}
"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let guard = Guard::spawn(
            "nginx",
            Command::new("nginx")
                .arg("-c")
                .arg(&path)
                .arg("-p")
                .arg(dir)
                .arg("-e")
                .arg(dir.join("nginx-error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        assert!(
            wait_listening(addr, Duration::from_secs(10)),
            "nginx did not start listening on {addr}"
        );
        if let Some(tp) = tls_port {
            let a: SocketAddr = ([127, 0, 0, 1], tp).into();
            assert!(
                wait_listening(a, Duration::from_secs(10)),
                "nginx did not listen on {a}"
            );
        }
        Some(Nginx {
            port,
            tls_port,
            dir: dir.to_path_buf(),
            _guard: guard,
        })
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// tcpdump on the loopback interface, writing a pcap.
pub struct Tcpdump {
    pub file: PathBuf,
    guard: Guard,
    log: PathBuf,
}

impl Tcpdump {
    /// Starts tcpdump with `filter`, or `None` if it can't run here (not installed, not root).
    pub fn start(file: &Path, filter: &str) -> Option<Tcpdump> {
        if !have("tcpdump") {
            eprintln!("SKIP (tcpdump part): tcpdump is not installed");
            return None;
        }
        let log = file.with_extension("log");
        let err = std::fs::File::create(&log).unwrap();
        let guard = Guard::spawn(
            "tcpdump",
            Command::new("tcpdump")
                .args([
                    "-Z",
                    "root",
                    "-i",
                    "lo",
                    "--immediate-mode",
                    "-B",
                    "16384",
                    "-U",
                    "-w",
                ])
                .arg(file)
                .arg(filter)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err),
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("listening on") {
                // The filter is attached; give the kernel a moment before traffic starts.
                std::thread::sleep(Duration::from_millis(300));
                return Some(Tcpdump {
                    file: file.to_path_buf(),
                    guard,
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "SKIP (tcpdump part): tcpdump did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        None
    }

    /// Stops tcpdump; returns whether it saw every packet (none dropped by the kernel).
    pub fn stop(mut self) -> bool {
        std::thread::sleep(Duration::from_millis(500));
        self.guard.interrupt();
        self.guard.wait(Duration::from_secs(5));
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .any(|l| l.starts_with("0 packets dropped by kernel"))
    }
}

/// The byte streams of one TCP connection in a capture.
#[derive(Debug, Default, Clone)]
pub struct Conn {
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    pub c2s: Vec<u8>,
    pub s2c: Vec<u8>,
    pub gaps: u64,
    /// (direction, reset) for every FIN/RST seen.
    pub closed: Vec<(Direction, bool)>,
    pub comments_seen: bool,
}

/// Reads every connection of a pcap/pcapng file.
pub fn read_capture(path: &Path) -> Vec<Conn> {
    let file = std::fs::File::open(path).unwrap();
    let reader = CaptureReader::new(std::io::BufReader::new(file)).unwrap();
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut order = Vec::new();
    for ev in reader {
        let ev = ev.unwrap();
        match ev {
            CaptureEvent::Connection {
                conn,
                client,
                server,
                ..
            } => {
                order.push(conn);
                let c = conns.entry(conn).or_default();
                c.client = Some(client);
                c.server = Some(server);
            }
            CaptureEvent::Data {
                conn, dir, bytes, ..
            } => {
                let c = conns.entry(conn).or_default();
                match dir {
                    Direction::ClientToServer => c.c2s.extend_from_slice(&bytes),
                    Direction::ServerToClient => c.s2c.extend_from_slice(&bytes),
                }
            }
            CaptureEvent::Gap { conn, len, .. } => conns.entry(conn).or_default().gaps += len,
            CaptureEvent::Closed {
                conn, dir, reset, ..
            } => conns.entry(conn).or_default().closed.push((dir, reset)),
            _ => {}
        }
    }
    order.into_iter().filter_map(|n| conns.remove(&n)).collect()
}

/// A proxy running in the test's runtime.
pub struct RunningProxy {
    pub addr: SocketAddr,
    /// The UI server's address, when the configuration asked for one.
    pub ui: Option<SocketAddr>,
    /// The RTMPS listener's address, when the configuration asked for one.
    pub tls: Option<SocketAddr>,
    pub lines: mpsc::UnboundedReceiver<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), rtmpscope_proxy::ProxyError>>>,
    /// Every line received so far.
    pub seen: Vec<String>,
}

/// A configuration for tests: JSON lines into a channel, status lines off.
pub fn test_config(upstream: &str, capture_dir: Option<&Path>) -> ProxyConfig {
    let mut cfg = ProxyConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        Upstream::Addr(upstream.to_string()),
    );
    cfg.capture_dir = capture_dir.map(Path::to_path_buf);
    cfg.json = true;
    cfg.status_interval = None;
    cfg.connect_timeout = Duration::from_secs(3);
    cfg
}

impl RunningProxy {
    pub async fn start(mut cfg: ProxyConfig) -> RunningProxy {
        let (tx, rx) = mpsc::unbounded_channel();
        cfg.output = Output::Lines(tx);
        let proxy = Proxy::bind(cfg).await.unwrap();
        let addr = proxy.local_addr();
        let ui = proxy.ui_addr();
        let tls = proxy.tls_addr().map(|t| t.0);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(proxy.serve(async {
            let _ = stopped.await;
        }));
        RunningProxy {
            addr,
            ui,
            tls,
            lines: rx,
            stop: Some(stop),
            task: Some(task),
            seen: Vec::new(),
        }
    }

    /// Waits (at most `limit`) for a line for which `f` holds, keeping every line seen.
    pub async fn wait_line(&mut self, limit: Duration, f: impl Fn(&str) -> bool) -> Option<String> {
        if let Some(l) = self.seen.iter().find(|l| f(l)) {
            return Some(l.clone());
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(l)) => {
                    self.seen.push(l.clone());
                    if f(&l) {
                        return Some(l);
                    }
                }
                _ => return None,
            }
        }
    }

    /// Waits until `n` sessions have printed their close line; returns those lines as JSON.
    pub async fn wait_closed(&mut self, n: usize, limit: Duration) -> Vec<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let closed: Vec<serde_json::Value> = self
                .seen
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v["kind"] == "close")
                .collect();
            if closed.len() >= n {
                return closed;
            }
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(l)) => self.seen.push(l),
                _ => panic!(
                    "only {} of {n} sessions closed; lines:\n{}",
                    closed.len(),
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Every line seen so far, parsed.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.seen
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Stops the proxy (as Ctrl-C would) and waits for it; collects the remaining lines.
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), t)
                .await
                .expect("the proxy did not stop within 15 s")
                .unwrap()
                .unwrap();
        }
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Reads lines of a child's stderr into a vector in a thread (for tcpdump-like logs).
pub fn collect_lines(r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || BufReader::new(r).lines().map_while(Result::ok).collect())
}
