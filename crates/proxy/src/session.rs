//! One client: connect upstream, forward both ways, pass on how each side
//! ends, and let the recorder finish.

use std::future::Future;
use std::net::{Shutdown, SocketAddr};
use std::pin::pin;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use rtmpscope_core::Direction;
use socket2::SockRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::forward::{is_reset, pump, pump_io, PumpEnd};
use crate::output::Lines;
use crate::recorder::{self, Recorder, RecorderConfig, SessionInfo};
use crate::report::Report;
use crate::tap::{End, Queued, Tap, RECORD_QUEUE};
use crate::tls::{Conn, TlsListen, TlsUpstream};
use crate::ProxyConfig;

/// After the upstream refused, how long the client gets to close its side
/// before the proxy closes the socket anyway.
const REFUSED_LINGER: Duration = Duration::from_secs(2);

/// What every session shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cfg: ProxyConfig,
    pub(crate) listen: SocketAddr,
    pub(crate) lines: Lines,
    pub(crate) queued_total: Arc<AtomicUsize>,
    pub(crate) cancel: CancellationToken,
    /// The live feed, when the UI is served.
    pub(crate) feed: Option<Arc<crate::feed::Feed>>,
    /// `host:port` every session connects to.
    pub(crate) target: String,
    /// TLS towards the upstream (`rtmps://`).
    pub(crate) upstream_tls: Option<TlsUpstream>,
    /// TLS towards clients on the TLS listener.
    pub(crate) tls_listen: Option<TlsListen>,
    /// Where recorders run: the recorders' own low-priority runtime.
    pub(crate) recorders: tokio::runtime::Handle,
}

/// Serves one accepted client to its end. `tls`: the client came in on the
/// TLS listener.
pub(crate) async fn run(
    number: u64,
    client: TcpStream,
    client_addr: SocketAddr,
    shared: Arc<Shared>,
    tls: bool,
) {
    let start = crate::now();
    let cfg = &shared.cfg;
    let say = Report::new(number, client_addr, cfg.json, start);
    let client = match (&shared.tls_listen, tls) {
        (Some(t), true) => {
            let accept = tokio::time::timeout(cfg.connect_timeout, t.acceptor.accept(client));
            let accepted = tokio::select! {
                r = accept => r,
                _ = shared.cancel.cancelled() => return,
            };
            match accepted {
                Ok(Ok(s)) => Conn::TlsServer(Box::new(s)),
                Ok(Err(e)) => {
                    shared.lines.send(say.log(
                        start,
                        "error",
                        &format!(
                            "TLS handshake with the client failed: {e}; closing its connection"
                        ),
                    ));
                    return;
                }
                Err(_) => {
                    shared.lines.send(say.log(
                        start,
                        "error",
                        "the client did not complete the TLS handshake in time; closing its connection",
                    ));
                    return;
                }
            }
        }
        _ => Conn::Plain(client),
    };
    let target = shared.target.as_str();
    let connect = tokio::time::timeout(cfg.connect_timeout, async {
        let tcp = TcpStream::connect(target).await?;
        // The proxy must not add delay: whatever a peer sends goes out at once.
        let _ = tcp.set_nodelay(true);
        match &shared.upstream_tls {
            Some(t) => t
                .connect(tcp)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("TLS handshake failed: {e}"))),
            None => Ok(Conn::Plain(tcp)),
        }
    });
    let upstream = tokio::select! {
        r = connect => r,
        _ = shared.cancel.cancelled() => return,
    };
    let upstream = match upstream {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let why = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                format!("upstream {} refused the connection ({e})", cfg.upstream)
            } else {
                format!("cannot connect to upstream {}: {e}", cfg.upstream)
            };
            refuse(client, &say, &shared, why, start).await;
            return;
        }
        Err(_) => {
            let why = format!(
                "upstream {} did not accept the connection within {} s",
                cfg.upstream,
                cfg.connect_timeout.as_secs_f64()
            );
            refuse(client, &say, &shared, why, start).await;
            return;
        }
    };
    // The proxy must not add delay: whatever a peer sends goes out at once.
    let _ = client.tcp().set_nodelay(true);
    let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
    let info = SessionInfo {
        number,
        client: client_addr,
        server: upstream.tcp().peer_addr().unwrap_or(unknown),
        upstream_local: upstream.tcp().local_addr().unwrap_or(unknown),
        upstream: cfg.upstream.to_string(),
        listen: shared.listen,
        start,
    };
    let rcfg = RecorderConfig {
        capture_dir: cfg.capture_dir.clone(),
        decode: cfg.decode,
        json: cfg.json,
        flush_interval: cfg.flush_interval,
        status_interval: cfg.status_interval,
    };
    let queued = Arc::new(Queued::new(
        cfg.capture_buffer,
        shared.queued_total.clone(),
        cfg.capture_buffer_total,
    ));
    let (tx, rx) = mpsc::channel(RECORD_QUEUE);
    let rec = Recorder::new(
        info,
        rcfg,
        shared.lines.clone(),
        queued.clone(),
        shared.feed.clone(),
    );
    let recorder = shared.recorders.spawn(recorder::run(rec, rx));
    let mut taps = [
        Tap::new(Direction::ClientToServer, tx.clone(), queued.clone()),
        Tap::new(Direction::ServerToClient, tx, queued),
    ];
    match (client, upstream) {
        (Conn::Plain(client), Conn::Plain(upstream)) => {
            forward(&client, &upstream, &mut taps, &shared.cancel).await;
        }
        (client, upstream) => forward_io(client, upstream, &mut taps, &shared.cancel).await,
    }
    drop(taps);
    // The sockets were closed when forwarding returned: the peers go at once,
    // before the recorder's last work.
    if recorder.await.is_err() {
        shared.lines.send(say.log(
            crate::now(),
            "error",
            "the recorder task failed; the capture file may be incomplete",
        ));
    }
}

/// The upstream can't be reached: say why and close the client with a FIN,
/// reading what it still sends so that the close is not turned into a reset.
async fn refuse(mut client: Conn, say: &Report, shared: &Shared, why: String, start: f64) {
    shared.lines.send(say.log(
        start,
        "error",
        &format!("{why}; closing the client's connection"),
    ));
    // A FIN (after TLS's close_notify on an RTMPS client).
    let _ = tokio::time::timeout(REFUSED_LINGER, client.shutdown()).await;
    let mut sink = [0u8; 4096];
    let drain = async {
        let mut total = 0usize;
        // Bounded: a client that keeps sending is cut off after 1 MiB.
        while total < (1 << 20) {
            match client.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(REFUSED_LINGER, drain) => {}
        _ = shared.cancel.cancelled() => {}
    }
}

/// Why forwarding stopped before both directions ended by themselves.
enum Stop {
    /// Both directions ended with a FIN.
    Done,
    /// A direction failed; the connection is reset on both sides.
    Abort,
    /// The proxy is shutting down.
    Shutdown,
}

/// Forwards both directions until both end, one fails, or the proxy stops;
/// then closes the directions that are still open and tells the recorder.
async fn forward(
    client: &TcpStream,
    upstream: &TcpStream,
    taps: &mut [Tap; 2],
    cancel: &CancellationToken,
) {
    let [c2s_tap, s2c_tap] = &mut *taps;
    let mut ends: [Option<PumpEnd>; 2] = [None, None];
    let stop = race(
        pump(client, upstream, c2s_tap),
        pump(upstream, client, s2c_tap),
        &mut ends,
        cancel,
    )
    .await;
    finish(
        stop,
        &ends,
        [SockRef::from(client), SockRef::from(upstream)],
        taps,
    )
    .await;
}

/// [`forward`] for sessions with TLS on a side: the streams are split into
/// halves, and the sockets underneath are reached through duplicates.
async fn forward_io(client: Conn, upstream: Conn, taps: &mut [Tap; 2], cancel: &CancellationToken) {
    let sockets = (client.socket(), upstream.socket());
    let [c2s_tap, s2c_tap] = &mut *taps;
    let (mut client_rd, mut client_wr) = tokio::io::split(client);
    let (mut upstream_rd, mut upstream_wr) = tokio::io::split(upstream);
    let mut ends: [Option<PumpEnd>; 2] = [None, None];
    let stop = race(
        pump_io(&mut client_rd, &mut upstream_wr, c2s_tap),
        pump_io(&mut upstream_rd, &mut client_wr, s2c_tap),
        &mut ends,
        cancel,
    )
    .await;
    if let (Ok(c), Ok(u)) = &sockets {
        finish(stop, &ends, [SockRef::from(c), SockRef::from(u)], taps).await;
    } else {
        // No duplicate descriptor (out of descriptors): dropping the halves still closes both sides.
        finish(stop, &ends, [], taps).await;
    }
}

/// Runs both directions' loops until both end, one fails, or the proxy
/// stops; `ends` says how each direction ended (`None`: still running).
async fn race(
    c2s: impl Future<Output = PumpEnd>,
    s2c: impl Future<Output = PumpEnd>,
    ends: &mut [Option<PumpEnd>; 2],
    cancel: &CancellationToken,
) -> Stop {
    let mut c2s = pin!(c2s);
    let mut s2c = pin!(s2c);
    loop {
        tokio::select! {
            r = &mut c2s, if ends[0].is_none() => ends[0] = Some(r),
            r = &mut s2c, if ends[1].is_none() => ends[1] = Some(r),
            _ = cancel.cancelled() => return Stop::Shutdown,
        }
        if let Some(stop) = stop_after(ends) {
            return stop;
        }
    }
}

/// Whether forwarding is over, given how the directions have ended so far.
fn stop_after(ends: &[Option<PumpEnd>; 2]) -> Option<Stop> {
    let failed = ends
        .iter()
        .any(|e| matches!(e, Some(PumpEnd::ReadFailed(_) | PumpEnd::WriteFailed(_))));
    if failed {
        Some(Stop::Abort)
    } else if ends.iter().all(Option::is_some) {
        Some(Stop::Done)
    } else {
        None
    }
}

/// Closes what is still open (resets after a failure, FINs at shutdown) and
/// tells the recorder how each direction ended.
async fn finish<const N: usize>(
    stop: Stop,
    ends: &[Option<PumpEnd>; 2],
    sockets: [SockRef<'_>; N],
    taps: &mut [Tap; 2],
) {
    let [c2s_tap, s2c_tap] = taps;
    let time = crate::now();
    match stop {
        Stop::Abort => {
            // SO_LINGER 0: closing the sockets sends RST, as the failed side did.
            for s in &sockets {
                let _ = s.set_linger(Some(Duration::ZERO));
            }
        }
        Stop::Shutdown => {
            for s in &sockets {
                let _ = s.shutdown(Shutdown::Write);
            }
        }
        Stop::Done => {}
    }
    let names = ["client", "upstream"];
    for (d, end) in ends.iter().enumerate() {
        let tap = if d == 0 { &mut *c2s_tap } else { &mut *s2c_tap };
        let (sender, receiver) = (names[d], names[1 - d]);
        let closing = match end {
            Some(PumpEnd::Eof(None)) => End::Fin,
            Some(PumpEnd::Eof(Some(e))) => {
                tap.note(
                    format!(
                        "the {sender}'s FIN could not be passed on: the {receiver} is gone ({e})"
                    ),
                    time,
                )
                .await;
                End::Fin
            }
            Some(PumpEnd::ReadFailed(e)) => {
                let text = if is_reset(e) {
                    format!("the {sender} reset the connection; the reset is passed on to the {receiver}")
                } else {
                    format!("reading from the {sender} failed ({e}); the {receiver} gets a reset")
                };
                tap.note(text, time).await;
                End::Reset
            }
            Some(PumpEnd::WriteFailed(e)) => {
                tap.note(
                    format!("writing to the {receiver} failed ({e}); the {sender} gets a reset"),
                    time,
                )
                .await;
                End::Proxy { reset: true }
            }
            None => match stop {
                Stop::Shutdown => {
                    if d == 0 {
                        tap.note("the proxy is shutting down".into(), time).await;
                    }
                    End::Proxy { reset: false }
                }
                _ => End::Proxy { reset: true },
            },
        };
        tap.close(closing, time).await;
    }
}
