//! rtmpscope-proxy: the capture proxy.
//!
//! [`Proxy`] accepts RTMP clients, connects each to the upstream server and
//! forwards every byte both ways unchanged and in order, with TCP half-close
//! and resets passed on. Beside the forwarding, each session is written to its
//! own pcapng file and decoded live by [`rtmpscope_core::Session`], one line
//! per notable event (or the JSON lines of `rtmpscope decode --json`).
//!
//! Forwarding never waits for decoding, disk or the terminal: each direction's
//! loop reads into a buffer, writes it to the other side and offers the same
//! bytes (shared, not copied) to the session's recorder without waiting. When
//! the recorder is behind by more than [`ProxyConfig::capture_buffer`] bytes,
//! the bytes are forwarded but not recorded, and the capture file and the log
//! both say how many were left out (a capture gap). The recorders (decoding,
//! diagnosis, capture files and their disk writes) run on a runtime of their
//! own whose threads have a lower priority (nice 19) than the ones that
//! forward: when the CPU is short, capture falls behind and records a gap,
//! forwarding never slows. The lines go to one printer thread.
//!
//! ```no_run
//! use rtmpscope_proxy::{ProxyConfig, Upstream};
//!
//! # async fn example() -> Result<(), rtmpscope_proxy::ProxyError> {
//! let mut cfg = ProxyConfig::new(
//!     "127.0.0.1:1935".parse().unwrap(),
//!     Upstream::Addr("live.example.com:1935".into()),
//! );
//! cfg.capture_dir = Some("captures".into());
//! rtmpscope_proxy::run(cfg, rtmpscope_proxy::shutdown_signal()).await
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod capture_file;
pub mod feed;
mod forward;
mod output;
mod proxy;
mod recorder;
mod report;
pub mod server;
mod session;
mod tap;
mod tls;
pub mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use capture_file::{capture_file_name, stream_label};
pub use output::Output;
pub use proxy::Proxy;
pub use tls::{TlsIdentity, TlsListen};
pub use ui::UiConfig;

/// Where the proxy connects each client to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Upstream {
    /// A TCP server, `host:port` (a name is resolved for every session).
    Addr(String),
    /// An RTMPS server, `host:port`: TLS, with the certificate checked
    /// against the system's trusted roots unless `insecure`.
    Tls {
        /// `host:port`.
        addr: String,
        /// Accept any certificate (test servers).
        insecure: bool,
    },
    /// The built-in server ([`server::Server`], configured by
    /// [`ProxyConfig::builtin`]), run by the proxy on a loopback port of its own.
    Builtin,
}

impl Upstream {
    /// Reads an upstream as users write it: `builtin`, `host:port`, `rtmp://host[:port]`
    /// (port 1935 by default) or `rtmps://host[:port]` (443 by default); any
    /// path after the host is ignored (the client's own URL carries app and key).
    ///
    /// ```
    /// use rtmpscope_proxy::Upstream;
    /// assert_eq!(Upstream::parse("rtmps://live.example.com/app", false).unwrap(),
    ///            Upstream::Tls { addr: "live.example.com:443".into(), insecure: false });
    /// assert_eq!(Upstream::parse("rtmp://127.0.0.1", false).unwrap(), Upstream::Addr("127.0.0.1:1935".into()));
    /// assert!(Upstream::parse("live.example.com", false).is_err());
    /// ```
    pub fn parse(s: &str, insecure: bool) -> Result<Upstream, ProxyError> {
        if s == "builtin" {
            return Ok(Upstream::Builtin);
        }
        let with_default = |rest: &str, port: u16| {
            let host = rest.split('/').next().unwrap_or("");
            if host.is_empty() {
                return Err(ProxyError::BadUpstream(s.to_string()));
            }
            Ok(if proxy::has_port(host) {
                host.to_string()
            } else {
                format!("{host}:{port}")
            })
        };
        if let Some(rest) = s.strip_prefix("rtmps://") {
            return Ok(Upstream::Tls {
                addr: with_default(rest, 443)?,
                insecure,
            });
        }
        let addr = match s.strip_prefix("rtmp://") {
            Some(rest) => with_default(rest, 1935)?,
            None => s.to_string(),
        };
        if !proxy::has_port(&addr) {
            return Err(ProxyError::BadUpstream(s.to_string()));
        }
        Ok(Upstream::Addr(addr))
    }

    /// `host:port` to connect to (`None` for the built-in server, whose port is picked at start).
    fn addr(&self) -> Option<&str> {
        match self {
            Upstream::Addr(a) | Upstream::Tls { addr: a, .. } => Some(a),
            Upstream::Builtin => None,
        }
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Upstream::Addr(a) => f.write_str(a),
            Upstream::Tls { addr, .. } => write!(f, "rtmps://{addr}"),
            Upstream::Builtin => f.write_str("the built-in server"),
        }
    }
}

/// How the proxy runs. Build one with [`ProxyConfig::new`], then set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Address to accept clients on (port 0 picks a free port, see [`Proxy::local_addr`]).
    pub listen: SocketAddr,
    /// Where each client is connected to.
    pub upstream: Upstream,
    /// Directory for the per-session pcapng files (created if missing); `None` captures nothing.
    pub capture_dir: Option<PathBuf>,
    /// Print the JSON lines of `rtmpscope decode --json` (every event) instead of text.
    pub json: bool,
    /// Where the lines go.
    pub output: Output,
    /// Decode sessions live (on by default); capture and forwarding do not depend on it.
    pub decode: bool,
    /// Bytes a session may have waiting for its recorder; past it, forwarded bytes
    /// become a recorded capture gap instead of being buffered.
    pub capture_buffer: usize,
    /// The same bound over all sessions together.
    pub capture_buffer_total: usize,
    /// How long to wait for the upstream to accept a connection.
    pub connect_timeout: Duration,
    /// How often capture files are flushed to the operating system (a crash of the
    /// proxy loses at most this much of a capture).
    pub flush_interval: Duration,
    /// How often a status line is printed per live session (`None`: never).
    pub status_interval: Option<Duration>,
    /// At shutdown, how long sessions get to finish their capture files before they are abandoned.
    pub shutdown_grace: Duration,
    /// Serve the web UI and the live feed of every session's bytes (`None`: don't).
    pub ui: Option<UiConfig>,
    /// Also accept RTMPS clients on this address, with this certificate.
    pub listen_tls: Option<(SocketAddr, TlsIdentity)>,
    /// How the built-in server behaves, when the upstream is [`Upstream::Builtin`].
    pub builtin: server::ServerConfig,
}

impl ProxyConfig {
    /// A configuration with the defaults: no capture, text output on stdout,
    /// decoding on, 16 MiB capture buffer per session (256 MiB in all),
    /// 10 s connect timeout, flush every second, status every 5 s.
    pub fn new(listen: SocketAddr, upstream: Upstream) -> ProxyConfig {
        ProxyConfig {
            listen,
            upstream,
            capture_dir: None,
            json: false,
            output: Output::Stdout,
            decode: true,
            capture_buffer: 16 << 20,
            capture_buffer_total: 256 << 20,
            connect_timeout: Duration::from_secs(10),
            flush_interval: Duration::from_secs(1),
            status_interval: Some(Duration::from_secs(5)),
            shutdown_grace: Duration::from_secs(5),
            ui: None,
            listen_tls: None,
            builtin: server::ServerConfig::default(),
        }
    }
}

/// Why the proxy cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The capture directory could not be created.
    #[error("cannot create the capture directory {path}: {source}")]
    CaptureDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The upstream is not of the form `host:port`.
    #[error("bad upstream {0:?}: expected HOST:PORT")]
    BadUpstream(String),
    /// The UI server's socket could not be opened.
    #[error("cannot listen for the UI on {addr}: {source}")]
    UiListen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The built-in server could not start.
    #[error("cannot start the built-in server: {0}")]
    Builtin(#[source] std::io::Error),
    /// The TLS certificate or key could not be loaded or made, or TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(#[source] std::io::Error),
    /// The recorders' runtime could not be started.
    #[error("cannot start the recorders' threads: {0}")]
    Recorders(#[source] std::io::Error),
    /// The printer thread could not be started.
    #[error("cannot start the output thread: {0}")]
    Output(#[source] std::io::Error),
}

/// Binds the proxy and serves until `shutdown` completes; then stops
/// accepting, closes every session and finishes every capture file.
pub async fn run(cfg: ProxyConfig, shutdown: impl Future<Output = ()>) -> Result<(), ProxyError> {
    Proxy::bind(cfg).await?.serve(shutdown).await
}

/// The runtime the proxy is meant to run on: tokio's multi-threaded one,
/// one worker per core, so forwarding never waits behind decoding.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rtmpscope-proxy")
        .build()
}

/// Connections a listening socket may hold before they are accepted. tokio's
/// `TcpListener::bind` asks for 1024; an encoder farm reconnecting at once
/// (or a load test) arrives faster than that, and the kernel then drops
/// handshakes until clients retry. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// A listening TCP socket on `addr` with [`LISTEN_BACKLOG`] (and SO_REUSEADDR,
/// as `TcpListener::bind` sets it on Unix).
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// How much lower than forwarding the recorders' threads run (a nice value):
/// on a machine that forwarding keeps busy, capture and decoding get the
/// CPU that is left, and what they cannot keep up with becomes a recorded
/// capture gap; forwarding is never slowed.
pub(crate) const RECORDER_NICE: i32 = 19;

/// The runtime of the recorders (decoding, capture files, the log's events):
/// one worker per core, at [`RECORDER_NICE`].
pub(crate) struct RecorderRuntime(Option<tokio::runtime::Runtime>);

impl RecorderRuntime {
    pub(crate) fn new() -> std::io::Result<RecorderRuntime> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("rtmpscope-recorder")
            .on_thread_start(|| {
                // Per thread on Linux. Without the permission to change it, recorders
                // just run at the same priority as forwarding.
                let tid = rustix::thread::gettid();
                if let Ok(now) = rustix::process::getpriority_process(Some(tid)) {
                    let _ = rustix::process::setpriority_process(Some(tid), now + RECORDER_NICE);
                }
            })
            .build()?;
        Ok(RecorderRuntime(Some(rt)))
    }

    pub(crate) fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.0.as_ref().map(|rt| rt.handle().clone())
    }
}

impl Drop for RecorderRuntime {
    fn drop(&mut self) {
        // A runtime may not be dropped from within another's async context; by
        // now every recorder has finished (or was abandoned at shutdown).
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for RecorderRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecorderRuntime")
    }
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM: the usual `shutdown` for [`run`].
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Seconds since the Unix epoch, as capture times are written.
pub(crate) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
