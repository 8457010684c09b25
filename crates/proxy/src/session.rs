//! One client: connect upstream, forward both ways, pass on how each side
//! ends, and let the recorder finish.

use std::net::{Shutdown, SocketAddr};
use std::pin::pin;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use rtmpscope_core::Direction;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::forward::{is_reset, pump, PumpEnd};
use crate::output::Lines;
use crate::recorder::{self, Recorder, RecorderConfig, SessionInfo};
use crate::report::Report;
use crate::tap::{End, Queued, Tap, RECORD_QUEUE};
use crate::{ProxyConfig, Upstream};

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
}

/// Serves one accepted client to its end.
pub(crate) async fn run(
    number: u64,
    client: TcpStream,
    client_addr: SocketAddr,
    shared: Arc<Shared>,
) {
    let start = crate::now();
    let cfg = &shared.cfg;
    let say = Report::new(number, client_addr, cfg.json, start);
    let Upstream::Addr(target) = &cfg.upstream;
    let connect = tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(target.as_str()));
    let upstream = tokio::select! {
        r = connect => r,
        _ = shared.cancel.cancelled() => return,
    };
    let upstream = match upstream {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let why = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                format!("upstream {target} refused the connection ({e})")
            } else {
                format!("cannot connect to upstream {target}: {e}")
            };
            refuse(client, &say, &shared, why, start).await;
            return;
        }
        Err(_) => {
            let why = format!(
                "upstream {target} did not accept the connection within {} s",
                cfg.connect_timeout.as_secs_f64()
            );
            refuse(client, &say, &shared, why, start).await;
            return;
        }
    };
    // The proxy must not add delay: whatever a peer sends goes out at once.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
    let info = SessionInfo {
        number,
        client: client_addr,
        server: upstream.peer_addr().unwrap_or(unknown),
        upstream_local: upstream.local_addr().unwrap_or(unknown),
        upstream: target.clone(),
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
    let recorder = tokio::spawn(recorder::run(rec, rx));
    let mut taps = [
        Tap::new(Direction::ClientToServer, tx.clone(), queued.clone()),
        Tap::new(Direction::ServerToClient, tx, queued),
    ];
    forward(&client, &upstream, &mut taps, &shared.cancel).await;
    drop(taps);
    // Closing the sockets here, before the recorder's last work, lets the peers go at once.
    drop(client);
    drop(upstream);
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
async fn refuse(mut client: TcpStream, say: &Report, shared: &Shared, why: String, start: f64) {
    shared.lines.send(say.log(
        start,
        "error",
        &format!("{why}; closing the client's connection"),
    ));
    let _ = socket2::SockRef::from(&client).shutdown(Shutdown::Write);
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
    let [c2s_tap, s2c_tap] = taps;
    let mut ends: [Option<PumpEnd>; 2] = [None, None];
    let stop = {
        let mut c2s = pin!(pump(client, upstream, c2s_tap));
        let mut s2c = pin!(pump(upstream, client, s2c_tap));
        loop {
            tokio::select! {
                r = &mut c2s, if ends[0].is_none() => ends[0] = Some(r),
                r = &mut s2c, if ends[1].is_none() => ends[1] = Some(r),
                _ = cancel.cancelled() => break Stop::Shutdown,
            }
            let failed = ends
                .iter()
                .any(|e| matches!(e, Some(PumpEnd::ReadFailed(_) | PumpEnd::WriteFailed(_))));
            if failed {
                break Stop::Abort;
            }
            if ends.iter().all(Option::is_some) {
                break Stop::Done;
            }
        }
    };
    let time = crate::now();
    let sockets = [client, upstream];
    match stop {
        Stop::Abort => {
            // SO_LINGER 0: closing the sockets sends RST, as the failed side did.
            for s in sockets {
                let _ = s.set_zero_linger();
            }
        }
        Stop::Shutdown => {
            for s in sockets {
                let _ = socket2::SockRef::from(s).shutdown(Shutdown::Write);
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
