//! The listening socket and the sessions it starts.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::feed::Feed;
use crate::output::Printer;
use crate::server::Server;
use crate::session::{self, Shared};
use crate::tls::{TlsListen, TlsUpstream};
use crate::ui;
use crate::{ProxyConfig, ProxyError, RecorderRuntime, Upstream};

/// A bound proxy, ready to [`serve`](Proxy::serve).
///
/// ```no_run
/// # async fn example() -> Result<(), rtmpscope_proxy::ProxyError> {
/// use rtmpscope_proxy::{Proxy, ProxyConfig, Upstream};
/// let cfg = ProxyConfig::new("127.0.0.1:0".parse().unwrap(), Upstream::Addr("127.0.0.1:1935".into()));
/// let proxy = Proxy::bind(cfg).await?;
/// println!("clients connect to rtmp://{}/live/test", proxy.local_addr());
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let serving = tokio::spawn(proxy.serve(async { let _ = stopped.await; }));
/// // … later:
/// let _ = stop.send(());
/// serving.await.unwrap()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Proxy {
    listener: TcpListener,
    local: SocketAddr,
    ui: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
    /// The recorders' runtime (dropped, in the background, when the proxy is).
    recorders: RecorderRuntime,
    /// The built-in server's address and task, when it is the upstream.
    builtin: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
    /// The RTMPS listener: socket, address, certificate fingerprint, self-signed.
    tls: Option<(TcpListener, SocketAddr, String, bool)>,
    shared: Arc<Shared>,
    printer: Printer,
}

impl Proxy {
    /// Checks the configuration, creates the capture directory and binds the listening socket.
    pub async fn bind(cfg: ProxyConfig) -> Result<Proxy, ProxyError> {
        let cancel = CancellationToken::new();
        let recorders = RecorderRuntime::new().map_err(ProxyError::Recorders)?;
        let recorder_handle = recorders
            .handle()
            .ok_or_else(|| ProxyError::Recorders(std::io::Error::other("no runtime")))?;
        let (target, builtin) = match cfg.upstream.addr() {
            Some(a) if has_port(a) => (a.to_string(), None),
            Some(a) => return Err(ProxyError::BadUpstream(a.to_string())),
            None => {
                let server = Server::bind(([127, 0, 0, 1], 0).into(), cfg.builtin.clone())
                    .await
                    .map_err(ProxyError::Builtin)?;
                let addr = server.local_addr();
                let stop = cancel.clone();
                let serving = tokio::spawn(async move {
                    let _ = server.serve(stop.cancelled_owned()).await;
                });
                (addr.to_string(), Some((addr, serving)))
            }
        };
        let upstream_tls = match &cfg.upstream {
            Upstream::Tls { addr, insecure } => {
                let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                Some(TlsUpstream::new(host, *insecure).map_err(ProxyError::Tls)?)
            }
            Upstream::Addr(_) | Upstream::Builtin => None,
        };
        let tls = match &cfg.listen_tls {
            Some((addr, identity)) => {
                let t = TlsListen::new(identity).map_err(ProxyError::Tls)?;
                let l = crate::listen(*addr).map_err(|source| ProxyError::Listen {
                    addr: *addr,
                    source,
                })?;
                let local = l.local_addr().map_err(|source| ProxyError::Listen {
                    addr: *addr,
                    source,
                })?;
                Some((l, local, t))
            }
            None => None,
        };
        if let Some(dir) = &cfg.capture_dir {
            std::fs::create_dir_all(dir).map_err(|source| ProxyError::CaptureDir {
                path: dir.clone(),
                source,
            })?;
        }
        let listener = crate::listen(cfg.listen).map_err(|source| ProxyError::Listen {
            addr: cfg.listen,
            source,
        })?;
        let local = listener.local_addr().map_err(|source| ProxyError::Listen {
            addr: cfg.listen,
            source,
        })?;
        let (printer, lines) =
            Printer::start(cfg.output.clone(), cfg.json).map_err(ProxyError::Output)?;
        let (feed, ui) = match &cfg.ui {
            Some(ui_cfg) => {
                let feed = Arc::new(Feed::new());
                let (addr, serving) = ui::bind(ui_cfg.clone(), feed.clone(), cancel.clone())
                    .await
                    .map_err(|source| ProxyError::UiListen {
                        addr: ui_cfg.listen,
                        source,
                    })?;
                (Some(feed), Some((addr, tokio::spawn(serving))))
            }
            None => (None, None),
        };
        let shared = Arc::new(Shared {
            cfg,
            listen: local,
            lines,
            queued_total: Arc::new(AtomicUsize::new(0)),
            cancel,
            feed,
            target,
            upstream_tls,
            tls_listen: tls.as_ref().map(|t| t.2.clone()),
            recorders: recorder_handle,
        });
        Ok(Proxy {
            listener,
            local,
            tls: tls.map(|(l, a, t)| (l, a, t.fingerprint, t.self_signed)),
            ui,
            builtin,
            shared,
            printer,
            recorders,
        })
    }

    /// The address clients connect to (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The RTMPS listener's address and its certificate's SHA-256 fingerprint
    /// (and whether it was made at start), when [`ProxyConfig::listen_tls`] is set.
    pub fn tls_addr(&self) -> Option<(SocketAddr, &str, bool)> {
        self.tls.as_ref().map(|t| (t.1, t.2.as_str(), t.3))
    }

    /// The built-in server's loopback address, when it is the upstream.
    pub fn builtin_addr(&self) -> Option<SocketAddr> {
        self.builtin.as_ref().map(|(a, _)| *a)
    }

    /// The UI server's address, when [`ProxyConfig::ui`] is set.
    pub fn ui_addr(&self) -> Option<SocketAddr> {
        self.ui.as_ref().map(|(a, _)| *a)
    }

    /// Accepts clients until `shutdown` completes; then stops accepting, closes
    /// every session (FIN to both peers), finishes every capture file (waiting
    /// at most [`ProxyConfig::shutdown_grace`]) and prints every line still queued.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), ProxyError> {
        let Proxy {
            listener,
            shared,
            printer,
            ui,
            tls,
            builtin,
            recorders,
            ..
        } = self;
        let tls_listener = tls.map(|t| t.0);
        let mut sessions = JoinSet::new();
        let mut number = 0u64;
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = accept(&listener, tls_listener.as_ref()) => match accepted {
                    Ok((stream, addr, tls)) => {
                        number += 1;
                        sessions.spawn(session::run(number, stream, addr, shared.clone(), tls));
                    }
                    Err(e) => {
                        // Running out of descriptors and the like: say so, breathe, go on.
                        let line = log_line(shared.cfg.json, &format!("accept failed: {e}"));
                        shared.lines.send(line);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(done) = sessions.join_next(), if !sessions.is_empty() => {
                    if let Err(e) = done {
                        let line = log_line(shared.cfg.json, &format!("a session task failed: {e}"));
                        shared.lines.send(line);
                    }
                }
            }
        }
        drop(listener);
        drop(tls_listener);
        shared.cancel.cancel();
        let grace = shared.cfg.shutdown_grace;
        let all_done = async { while sessions.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            let line = log_line(
                shared.cfg.json,
                &format!(
                    "{} session(s) did not finish within {} s and were abandoned",
                    sessions.len(),
                    grace.as_secs_f64()
                ),
            );
            shared.lines.send(line);
            sessions.abort_all();
        }
        drop(sessions);
        for (_, serving) in ui.into_iter().chain(builtin) {
            let _ = tokio::time::timeout(grace, serving).await;
        }
        // The printer ends once the last handle to its queue is gone.
        drop(shared);
        // Bounded too: a recorder stuck in a blocking write still holds a handle.
        let _ =
            tokio::time::timeout(grace, tokio::task::spawn_blocking(move || printer.join())).await;
        drop(recorders);
        Ok(())
    }
}

/// The next client from either listener; `true` when it came in on the TLS one.
async fn accept(
    plain: &TcpListener,
    tls: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr, bool)> {
    match tls {
        Some(t) => tokio::select! {
            r = plain.accept() => r.map(|(s, a)| (s, a, false)),
            r = t.accept() => r.map(|(s, a)| (s, a, true)),
        },
        None => plain.accept().await.map(|(s, a)| (s, a, false)),
    }
}

fn log_line(json: bool, message: &str) -> String {
    if json {
        let mut s = String::new();
        rtmpscope_core::json::Obj::new(&mut s)
            .str("kind", "log")
            .str("level", "error")
            .str("message", message)
            .end();
        s
    } else {
        format!("rtmpscope: {message}")
    }
}

/// Whether `host:port` ends in a port number.
pub(crate) fn has_port(a: &str) -> bool {
    a.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_need_a_port() {
        assert!(has_port("127.0.0.1:1935"));
        assert!(has_port("[::1]:1935"));
        assert!(has_port("live.example.com:1935"));
        assert!(!has_port("live.example.com"));
        assert!(!has_port(":1935"));
        assert!(!has_port("host:http"));
    }
}
