//! One accepted client: the handshake, then the session's bytes both ways
//! and the media its players receive, until either side ends it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtmpscope_core::handshake::HANDSHAKE_SIZE;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::config::{ServerConfig, ServerEvent};
use super::handshake::{answer, Filler};
use super::registry::{PlayerTx, Registry};
use super::session::ServerSession;

/// Bytes read from the socket at once.
const READ_SIZE: usize = 64 * 1024;
/// Play items handled before the socket is looked at again.
const PLAY_BATCH: usize = 64;
/// How long a closing connection keeps reading (and discarding) so that the
/// client sees a FIN rather than a reset for data it had in flight.
const LINGER: Duration = Duration::from_millis(200);

/// What a connection needs from its server.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The configuration.
    pub cfg: Arc<ServerConfig>,
    /// The live streams.
    pub registry: Arc<Registry>,
    /// Turns true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
}

struct Conn {
    sock: TcpStream,
    cfg: Arc<ServerConfig>,
    received: u64,
    sent: u64,
}

/// Why the connection ended.
type Reason = String;

impl Conn {
    /// Reads at most `max` bytes, stopping at the drop-after-N fault limit.
    /// `Ok(None)` means the fault limit was reached.
    async fn read_some(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Reason> {
        let mut want = buf.len();
        if let Some(limit) = self.cfg.drop_after_bytes {
            let left = limit.saturating_sub(self.received);
            if left == 0 {
                return Ok(None);
            }
            want = want.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        let slot = buf.get_mut(..want).ok_or("read buffer too small")?;
        match self.sock.read(slot).await {
            Ok(0) => Err("client closed the connection".into()),
            Ok(n) => {
                self.received += n as u64;
                Ok(Some(n))
            }
            Err(e) => Err(format!("read error: {e}")),
        }
    }

    /// Reads exactly `buf.len()` bytes (handshake parts).
    async fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), Reason> {
        let mut got = 0;
        while got < buf.len() {
            let rest = buf.get_mut(got..).ok_or("read buffer too small")?;
            match self.read_some(rest).await? {
                Some(n) => got += n,
                None => return Err(self.dropped()),
            }
        }
        Ok(())
    }

    fn dropped(&self) -> Reason {
        format!("fault: dropped after {} bytes received", self.received)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Reason> {
        if bytes.is_empty() {
            return Ok(());
        }
        match tokio::time::timeout(self.cfg.write_timeout, self.sock.write_all(bytes)).await {
            Ok(Ok(())) => {
                self.sent += bytes.len() as u64;
                Ok(())
            }
            Ok(Err(e)) => Err(format!("write error: {e}")),
            Err(_) => Err(format!(
                "client read nothing for {:?}, disconnected",
                self.cfg.write_timeout
            )),
        }
    }

    /// Sends a FIN, then reads and discards briefly: closing a socket with
    /// unread data would make the kernel send a reset instead.
    async fn close(&mut self) {
        let _ = tokio::time::timeout(LINGER, self.sock.shutdown()).await;
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(LINGER, async {
            while matches!(self.sock.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}

/// Serves one client until it leaves, fails or the server shuts down.
pub async fn run(sock: TcpStream, peer: SocketAddr, id: u64, shared: Shared) {
    let _ = sock.set_nodelay(true);
    let cfg = shared.cfg.clone();
    let mut conn = Conn {
        sock,
        cfg: cfg.clone(),
        received: 0,
        sent: 0,
    };
    let reason = drive(&mut conn, peer, id, shared).await;
    conn.close().await;
    cfg.emit(ServerEvent::Closed {
        peer,
        reason,
        received: conn.received,
        sent: conn.sent,
    });
}

async fn handshake(conn: &mut Conn, id: u64) -> Result<rtmpscope_core::handshake::Scheme, Reason> {
    let mut c0c1 = vec![0u8; 1 + HANDSHAKE_SIZE];
    conn.read_exact(&mut c0c1).await?;
    let mut c1 = [0u8; HANDSHAKE_SIZE];
    c1.copy_from_slice(c0c1.get(1..).ok_or("short C1")?);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut fill = Filler::new(now.as_nanos() as u64 ^ id.rotate_left(32));
    // S1's time field is the server's epoch, which may be 0 (§5.2.3).
    let a = answer(c0c1.first().copied().unwrap_or(0), &c1, 0, &mut fill)
        .map_err(|e| format!("handshake refused: {e}"))?;
    conn.write(&a.bytes).await?;
    // C2 is read and not checked: clients differ in what they put there, and
    // nothing the server does depends on it.
    let mut c2 = vec![0u8; HANDSHAKE_SIZE];
    conn.read_exact(&mut c2).await?;
    Ok(a.scheme)
}

async fn drive(conn: &mut Conn, peer: SocketAddr, id: u64, shared: Shared) -> Reason {
    let Shared {
        cfg,
        registry,
        mut shutdown,
    } = shared;
    if *shutdown.borrow() {
        return "server shutting down".into();
    }
    let scheme = tokio::select! {
        r = tokio::time::timeout(cfg.handshake_timeout, handshake(conn, id)) => match r {
            Ok(Ok(s)) => s,
            Ok(Err(reason)) => return reason,
            Err(_) => return format!("handshake not finished within {:?}", cfg.handshake_timeout),
        },
        _ = shutdown.changed() => return "server shutting down".into(),
    };
    cfg.emit(ServerEvent::Handshake { peer, scheme });

    let (tx, mut rx) = mpsc::channel(cfg.player_queue.max(1));
    let (player, queue) = PlayerTx::new(tx, cfg.player_queue_bytes);
    let mut session = ServerSession::new(cfg.clone(), registry, id, peer, player, conn.received);
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => return "server shutting down".into(),
            item = rx.recv() => {
                // The session holds a sender, so the queue never closes while it runs.
                let Some(item) = item else { return "player queue closed".into() };
                queue.taken(&item);
                session.on_play_item(item);
                for _ in 0..PLAY_BATCH {
                    match rx.try_recv() {
                        Ok(item) => {
                            queue.taken(&item);
                            session.on_play_item(item);
                        }
                        Err(_) => break,
                    }
                }
                let out = std::mem::take(&mut session.io.out);
                if let Err(r) = conn.write(&out).await {
                    return r;
                }
                if queue.lagged() {
                    return format!(
                        "player fell more than {} messages or {} bytes behind, disconnected",
                        cfg.player_queue, cfg.player_queue_bytes
                    );
                }
            }
            r = conn.read_some(&mut buf) => {
                let n = match r {
                    Ok(Some(n)) => n,
                    Ok(None) => return conn.dropped(),
                    Err(reason) => return reason,
                };
                let data = Bytes::copy_from_slice(buf.get(..n).unwrap_or(&[]));
                let result = session.on_bytes(data);
                let out = std::mem::take(&mut session.io.out);
                if !out.is_empty() && !cfg.reply_delay.is_zero() {
                    tokio::time::sleep(cfg.reply_delay).await;
                }
                if let Err(r) = conn.write(&out).await {
                    return r;
                }
                if let Err(reason) = result {
                    return reason;
                }
                if cfg.drop_after_bytes.is_some_and(|l| conn.received >= l) {
                    return conn.dropped();
                }
            }
        }
    }
}
