//! The accepting socket and the lifetime of every connection.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::config::{ServerConfig, ServerEvent};
use super::connection::{self, Shared};
use super::registry::{Registry, RegistryLimits};

/// How long connections get to close at shutdown before they are abandoned.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The built-in RTMP server, bound and ready to [`serve`](Server::serve).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    cfg: Arc<ServerConfig>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port, see [`Server::local_addr`]).
    pub async fn bind(addr: SocketAddr, cfg: ServerConfig) -> std::io::Result<Server> {
        let listener = crate::listen(addr)?;
        let addr = listener.local_addr()?;
        Ok(Server {
            listener,
            addr,
            cfg: Arc::new(cfg),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Accepts clients until `shutdown` completes; then stops accepting,
    /// closes every connection with a FIN and returns (within about 2 s).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let cfg = self.cfg;
        let registry = Arc::new(Registry::new(RegistryLimits {
            max_streams: cfg.max_streams,
            max_players: cfg.max_players,
            keep_gop: cfg.keep_gop,
            max_gop_bytes: cfg.max_gop_bytes,
        }));
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut next_id: u64 = 0;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = self.listener.accept() => {
                    let (sock, peer) = match accepted {
                        Ok(a) => a,
                        Err(_) => {
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                            continue;
                        }
                    };
                    if tasks.len() >= cfg.max_connections {
                        drop(sock);
                        cfg.emit(ServerEvent::Closed {
                            peer,
                            reason: format!("too many connections (limit {})", cfg.max_connections),
                            received: 0,
                            sent: 0,
                        });
                        continue;
                    }
                    next_id += 1;
                    let shared = Shared {
                        cfg: cfg.clone(),
                        registry: registry.clone(),
                        shutdown: stopped.clone(),
                    };
                    tasks.spawn(connection::run(sock, peer, next_id, shared));
                }
            }
        }
        drop(self.listener);
        let _ = stop.send(true);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
        }
        Ok(())
    }
}
