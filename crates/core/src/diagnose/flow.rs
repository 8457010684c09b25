//! Flow-control rules: acknowledgements against the window the sender set,
//! Set Peer Bandwidth, and bytes in flight.
//!
//! The window a side announces with Window Acknowledgement Size is the number
//! of bytes it may send before it expects an Acknowledgement from its peer
//! (RTMP spec §5.4.4); servers that enforce it (Flash Media Server, Wowza,
//! some CDN edges) stop sending when the peer does not acknowledge, and the
//! stream stalls.
//!
//! | code | severity | when |
//! | --- | --- | --- |
//! | `flow.no_acks` | warning | more than 1.5 windows sent and not one Acknowledgement back |
//! | `flow.ack_behind` | warning | the acknowledged count trails what was sent by more than 2 windows |
//! | `flow.in_flight_growing` | warning | the unacknowledged bytes grow at 5 acknowledgements in a row and exceed the window (needs capture times) |
//! | `flow.peer_bandwidth_ignored` | info | a side sends far past the Set Peer Bandwidth limit its peer set, without acknowledgements |
//!
//! Without capture times (a raw stream pair) the two directions' order is
//! only rebuilt from commands, so these rules then judge the totals at the end.

use crate::message::Body;
use crate::session::{Direction, Event};

use super::{dir_idx, msg_evidence, sender, Evidence, Facts, Finding, Severity, Sink};

/// Consecutive growing lags that make `flow.in_flight_growing`.
const GROWING_ACKS: u32 = 5;

#[derive(Debug, Default)]
struct Data {
    /// Window Acknowledgement Size the sender of this direction announced.
    window: Option<(u32, Evidence)>,
    /// Set Peer Bandwidth the receiver sent to limit this direction.
    peer_bw: Option<(u32, Evidence)>,
    /// Acknowledgements from the receiver.
    acks: u64,
    last_ack: Option<(u32, Evidence)>,
    /// Unacknowledged bytes at the last acknowledgement, and how many times in a row it grew.
    last_lag: Option<u64>,
    rising: u32,
}

/// State of the flow rules, per data direction.
#[derive(Debug, Default)]
pub(super) struct Rules {
    data: [Data; 2],
}

/// Bytes of the chunk stream sent so far in `dir` (the count acknowledgements use).
fn sent(facts: &Facts, dir: Direction) -> u64 {
    facts.end[dir_idx(dir)].saturating_sub(facts.handshake_len(dir))
}

/// Unacknowledged bytes: sent minus the acknowledged count, modulo 2^32
/// (sequence numbers wrap, and some servers reset theirs).
fn lag(sent: u64, ack: u32) -> Option<u64> {
    let l = (sent as u32).wrapping_sub(ack);
    (l < 0x8000_0000).then_some(u64::from(l))
}

fn mb(n: u64) -> String {
    if n >= 10_000_000 {
        format!("{:.0} MB", n as f64 / 1e6)
    } else if n >= 1_000_000 {
        format!("{:.1} MB", n as f64 / 1e6)
    } else {
        format!("{:.0} KB", n as f64 / 1e3)
    }
}

impl Rules {
    pub(super) fn observe(&mut self, ev: &Event, facts: &mut Facts, sink: &mut Sink) {
        let Event::Message(m) = ev else {
            return;
        };
        let d = dir_idx(m.dir);
        let r = dir_idx(m.dir.reverse());
        match &m.body {
            Body::WindowAckSize(w) if *w > 0 => self.data[d].window = Some((*w, msg_evidence(m))),
            Body::SetPeerBandwidth { size, .. } if *size > 0 => {
                self.data[r].peer_bw = Some((*size, msg_evidence(m)))
            }
            Body::Ack(seq) => {
                let data_dir = m.dir.reverse();
                let total = sent(facts, data_dir);
                let x = &mut self.data[r];
                x.acks += 1;
                x.last_ack = Some((*seq, msg_evidence(m)));
                if facts.timed && m.time > 0.0 {
                    if let Some(l) = lag(total, *seq) {
                        let window = x.window.as_ref().map_or(u64::MAX, |w| u64::from(w.0));
                        // Growth below 1% of the window is jitter, not a trend.
                        let step = (window / 100).max(1);
                        x.rising = match x.last_lag {
                            Some(prev) if l > prev + step => x.rising + 1,
                            _ => 0,
                        };
                        x.last_lag = Some(l);
                        if x.rising >= GROWING_ACKS && l > window {
                            self.raise_growing(data_dir, l, facts, sink, msg_evidence(m));
                        }
                    }
                }
            }
            _ => {}
        }
        if facts.timed && m.time > 0.0 {
            self.check(m.dir, facts, sink);
        }
    }

    /// The window rules for data direction `dir`, on what was sent so far.
    fn check(&mut self, dir: Direction, facts: &Facts, sink: &mut Sink) {
        let x = &self.data[dir_idx(dir)];
        let Some((w, wev)) = &x.window else {
            return;
        };
        let w = u64::from(*w);
        let total = sent(facts, dir);
        let receiver = sender(dir.reverse());
        if x.acks == 0 {
            if total > w + w / 2 && !sink.has("flow.no_acks") {
                let f = Finding::new(
                    Severity::Warning,
                    "flow.no_acks",
                    format!("The {receiver} never acknowledges what it receives"),
                )
                .explain(format!(
                    "The {} set a window of {} (Window Acknowledgement Size) and has sent {}, yet the {receiver} has not sent a single Acknowledgement. A sender that enforces the window stops after one window: the stream stalls there.",
                    sender(dir),
                    mb(w),
                    mb(total)
                ))
                .hint(format!(
                    "the {receiver} must send an Acknowledgement every window's worth of bytes; use a {receiver} that does (ffmpeg, OBS and nginx-rtmp do), or raise the window on the {} side",
                    sender(dir)
                ))
                .at(wev.clone())
                .at_opt(facts.last[dir_idx(dir)].map(|l| l.plain(dir)));
                sink.raise(facts, f);
            }
            return;
        }
        let Some((seq, aev)) = &x.last_ack else {
            return;
        };
        let Some(l) = lag(total, *seq) else {
            return;
        };
        if l > 2 * w && !sink.has("flow.ack_behind") {
            let f = Finding::new(
                Severity::Warning,
                "flow.ack_behind",
                format!("The {receiver}'s acknowledgements fall behind the window"),
            )
            .explain(format!(
                "The {receiver} last acknowledged {} bytes while {} had been sent: {} unacknowledged, more than twice the {} window. A sender that enforces the window waits here, so the push or playback stalls; it also means the {receiver} or the network cannot keep up.",
                seq,
                total,
                mb(l),
                mb(w)
            ))
            .hint("lower the bitrate or check the network path's capacity between the two sides; check the receiver is not overloaded")
            .at(aev.clone())
            .at_opt(facts.last[dir_idx(dir)].map(|m| m.plain(dir)))
            .at(wev.clone());
            sink.raise(facts, f);
        }
    }

    fn raise_growing(&self, dir: Direction, l: u64, facts: &Facts, sink: &mut Sink, at: Evidence) {
        let f = Finding::new(
            Severity::Warning,
            "flow.in_flight_growing",
            format!("Bytes in flight keep growing from the {} to the {}", sender(dir), sender(dir.reverse())),
        )
        .explain(format!(
            "At each of the last {GROWING_ACKS} Acknowledgements the {} had more bytes unacknowledged than at the one before, now {}: the data leaves faster than the {} takes it in. The link is slower than the stream's bitrate; buffers fill, latency grows, and the sender will drop frames or disconnect.",
            sender(dir),
            mb(l),
            sender(dir.reverse())
        ))
        .hint("lower the encoder's bitrate below the upload capacity (measure it), or fix the network path")
        .at(at);
        sink.raise(facts, f);
    }

    pub(super) fn finish(&mut self, facts: &mut Facts, sink: &mut Sink) {
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            self.check(dir, facts, sink);
            let x = &self.data[dir_idx(dir)];
            let Some((b, bev)) = &x.peer_bw else {
                continue;
            };
            let b = u64::from(*b);
            let total = sent(facts, dir);
            if x.acks == 0 && total > b + b / 2 {
                let f = Finding::new(
                    Severity::Info,
                    "flow.peer_bandwidth_ignored",
                    format!("The {} sent past the Set Peer Bandwidth limit", sender(dir)),
                )
                .explain(format!(
                    "The {} limited the {} to {} unacknowledged (Set Peer Bandwidth); {} were sent without any Acknowledgement coming back. nginx-rtmp and most servers do not enforce this, so it is harmless there; a strict server throttles or drops the sender.",
                    sender(dir.reverse()),
                    sender(dir),
                    mb(b),
                    mb(total)
                ))
                .hint("only matters with servers that enforce the limit: make sure the receiver acknowledges (the sender announces a window with Window Acknowledgement Size)")
                .at(bev.clone());
                sink.raise(facts, f);
            }
        }
    }
}
