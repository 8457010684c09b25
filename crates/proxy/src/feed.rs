//! The live feed: every live session's raw bytes, as the browser UI decodes them.
//!
//! Recorders publish what they record ([`Feed::open`], [`Feed::data`],
//! [`Feed::gap`], [`Feed::close`], [`Feed::end`]); each subscriber (a browser's
//! WebSocket) gets a snapshot of the sessions already live and then every
//! frame as it is published. The wire format, shared with `web/`:
//!
//! - text frames, JSON: `{"kind":"open","session":N,"client":"ip:port","server":"ip:port","start":T}`,
//!   `{"kind":"close","session":N,"dir":"c2s"|"s2c","reset":bool,"time":T}`,
//!   `{"kind":"gap","session":N,"dir":"c2s"|"s2c","length":L,"time":T}`, and
//!   `{"kind":"error","message":"…"}` before the proxy closes a feed that fell behind;
//! - binary frames: a session's bytes, `u32` session number (big endian),
//!   one byte direction (0 client→server, 1 server→client), `f64` capture time
//!   (big endian, seconds since the epoch), then the bytes, in order per direction
//!   from C0/S0.
//!
//! A subscriber that joins late gets each live session's first bytes (up to
//! [`HEAD_MAX`] per direction: the handshake, connect and publish) and a gap
//! for the rest, so its decoder resynchronises on the next chunk header and
//! still knows the app and stream names. Nothing here can slow forwarding:
//! recorders publish from their own task, frames are only built while someone
//! listens, and a subscriber that falls [`QUEUE`] frames behind is dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{BufMut, Bytes, BytesMut};
use rtmpscope_core::{json, Direction};
use tokio::sync::broadcast;

/// Bytes of each direction's start kept for late subscribers.
pub const HEAD_MAX: usize = 256 << 10;
/// Frames a subscriber may be behind before it is dropped.
pub const QUEUE: usize = 4096;
/// Live sessions kept in the snapshot (older ones are still forwarded and
/// recorded; late subscribers just don't see them).
const MAX_LIVE: usize = 4096;
/// Size of a binary frame's header.
pub const FRAME_HEADER: usize = 13;

/// One WebSocket message.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A JSON text frame.
    Text(Arc<str>),
    /// A binary frame of session bytes.
    Binary(Bytes),
}

#[derive(Debug, Default)]
struct Live {
    open: Option<Arc<str>>,
    /// The first bytes of each direction (while it had no gap), in the order
    /// they were recorded across both directions: a late decoder must see a
    /// reply after its request, as the peers did.
    head: Vec<(Direction, f64, Bytes)>,
    head_len: [usize; 2],
    /// The head stopped growing (full, or a gap broke it).
    head_done: [bool; 2],
    /// Every byte of the direction so far, recorded or lost.
    total: [u64; 2],
    closed: [Option<Arc<str>>; 2],
}

#[derive(Debug)]
struct Inner {
    tx: broadcast::Sender<Frame>,
    live: BTreeMap<u64, Live>,
}

/// The hub between recorders and subscribers.
#[derive(Debug)]
pub struct Feed {
    inner: Mutex<Inner>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

fn d(dir: Direction) -> usize {
    match dir {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

/// A binary frame: session, direction, time, bytes.
pub fn binary_frame(session: u64, dir: Direction, time: f64, bytes: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(FRAME_HEADER + bytes.len());
    // Session numbers past u32 wrap; a proxy would need four billion sessions first.
    b.put_u32(session as u32);
    b.put_u8(d(dir) as u8);
    b.put_f64(time);
    b.put_slice(bytes);
    b.freeze()
}

fn text(build: impl FnOnce(&mut json::Obj<'_>)) -> Frame {
    let mut s = String::new();
    let mut o = json::Obj::new(&mut s);
    build(&mut o);
    o.end();
    Frame::Text(s.into())
}

impl Feed {
    /// An empty hub.
    pub fn new() -> Feed {
        let (tx, _) = broadcast::channel(QUEUE);
        Feed {
            inner: Mutex::new(Inner {
                tx,
                live: BTreeMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A session started.
    pub fn open(&self, session: u64, client: &str, server: &str, start: f64) {
        let frame = text(|o| {
            o.str("kind", "open")
                .int("session", session)
                .str("client", client)
                .str("server", server)
                .num("start", start);
        });
        let mut g = self.lock();
        if g.live.len() < MAX_LIVE {
            let live = g.live.entry(session).or_default();
            if let Frame::Text(t) = &frame {
                live.open = Some(t.clone());
            }
        }
        let _ = g.tx.send(frame);
    }

    /// Bytes of a direction, in order.
    pub fn data(&self, session: u64, dir: Direction, time: f64, bytes: &Bytes) {
        let mut g = self.lock();
        if let Some(live) = g.live.get_mut(&session) {
            let i = d(dir);
            live.total[i] += bytes.len() as u64;
            if !live.head_done[i] {
                let room = HEAD_MAX - live.head_len[i];
                let take = room.min(bytes.len());
                // A copy: a slice would keep the whole read buffer it came from alive.
                live.head
                    .push((dir, time, Bytes::copy_from_slice(&bytes[..take])));
                live.head_len[i] += take;
                live.head_done[i] = take < bytes.len() || live.head_len[i] == HEAD_MAX;
            }
        }
        if g.tx.receiver_count() > 0 {
            let _ =
                g.tx.send(Frame::Binary(binary_frame(session, dir, time, bytes)));
        }
    }

    /// Bytes of a direction that were forwarded but not recorded.
    pub fn gap(&self, session: u64, dir: Direction, length: u64, time: f64) {
        let mut g = self.lock();
        if let Some(live) = g.live.get_mut(&session) {
            live.total[d(dir)] += length;
            live.head_done[d(dir)] = true;
        }
        let frame = gap_frame(session, dir, length, time);
        let _ = g.tx.send(frame);
    }

    /// A direction ended.
    pub fn close(&self, session: u64, dir: Direction, reset: bool, time: f64) {
        let frame = text(|o| {
            o.str("kind", "close")
                .int("session", session)
                .str("dir", dir.as_str())
                .bool("reset", reset)
                .num("time", time);
        });
        let mut g = self.lock();
        if let (Some(live), Frame::Text(t)) = (g.live.get_mut(&session), &frame) {
            live.closed[d(dir)] = Some(t.clone());
        }
        let _ = g.tx.send(frame);
    }

    /// The session is over: late subscribers no longer get it.
    pub fn end(&self, session: u64) {
        self.lock().live.remove(&session);
    }

    /// Live sessions right now.
    pub fn live_sessions(&self) -> usize {
        self.lock().live.len()
    }

    /// A new subscriber: the frames that bring it up to date, and the
    /// receiver of every frame published after them.
    pub fn subscribe(&self) -> (Vec<Frame>, broadcast::Receiver<Frame>) {
        let g = self.lock();
        let rx = g.tx.subscribe();
        let mut frames = Vec::new();
        for (&n, live) in &g.live {
            let Some(open) = &live.open else { continue };
            frames.push(Frame::Text(open.clone()));
            for (dir, t, b) in &live.head {
                frames.push(Frame::Binary(binary_frame(n, *dir, *t, b)));
            }
            for dir in [Direction::ClientToServer, Direction::ServerToClient] {
                let i = d(dir);
                let missing = live.total[i] - live.head_len[i] as u64;
                if missing > 0 {
                    let t = live
                        .head
                        .iter()
                        .rev()
                        .find(|(hd, _, _)| *hd == dir)
                        .map_or(0.0, |(_, t, _)| *t);
                    frames.push(gap_frame(n, dir, missing, t));
                }
                if let Some(c) = &live.closed[i] {
                    frames.push(Frame::Text(c.clone()));
                }
            }
        }
        (frames, rx)
    }
}

fn gap_frame(session: u64, dir: Direction, length: u64, time: f64) -> Frame {
    text(|o| {
        o.str("kind", "gap")
            .int("session", session)
            .str("dir", dir.as_str())
            .int("length", length)
            .num("time", time);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const C2S: Direction = Direction::ClientToServer;
    const S2C: Direction = Direction::ServerToClient;

    fn texts(frames: &[Frame]) -> Vec<String> {
        frames
            .iter()
            .filter_map(|f| match f {
                Frame::Text(t) => Some(t.to_string()),
                Frame::Binary(_) => None,
            })
            .collect()
    }

    #[test]
    fn binary_frames_carry_session_direction_time_and_bytes() {
        let f = binary_frame(7, S2C, 1.5, b"abc");
        assert_eq!(&f[..4], &[0, 0, 0, 7]);
        assert_eq!(f[4], 1);
        assert_eq!(f64::from_be_bytes(f[5..13].try_into().unwrap()), 1.5);
        assert_eq!(&f[13..], b"abc");
    }

    #[test]
    fn a_late_subscriber_gets_the_head_then_a_gap_for_the_rest() {
        let feed = Feed::new();
        feed.open(1, "127.0.0.1:5000", "127.0.0.1:1935", 10.0);
        let big = Bytes::from(vec![3u8; HEAD_MAX + 100]);
        feed.data(1, C2S, 10.1, &big);
        feed.data(1, C2S, 10.2, &Bytes::from_static(b"more"));
        feed.data(1, S2C, 10.3, &Bytes::from_static(b"server"));
        let (frames, _rx) = feed.subscribe();
        let t = texts(&frames);
        assert!(t[0].contains(r#""kind":"open","session":1"#), "{t:?}");
        assert!(
            t.iter().any(|x| x.contains(r#""dir":"c2s","length":104"#)),
            "{t:?}"
        );
        let bins: Vec<&Bytes> = frames
            .iter()
            .filter_map(|f| match f {
                Frame::Binary(b) => Some(b),
                Frame::Text(_) => None,
            })
            .collect();
        assert_eq!(bins.len(), 2);
        assert_eq!(bins[0].len(), FRAME_HEADER + HEAD_MAX);
        assert_eq!(&bins[1][FRAME_HEADER..], b"server");
    }

    #[test]
    fn the_head_keeps_the_order_between_directions() {
        // publish, then the server's Publish.Start, then media: a late
        // subscriber must get them in that order, not one direction after the other.
        let feed = Feed::new();
        feed.open(3, "a", "b", 0.0);
        feed.data(3, C2S, 1.0, &Bytes::from_static(b"publish"));
        feed.data(3, S2C, 1.1, &Bytes::from_static(b"Publish.Start"));
        feed.data(3, C2S, 1.2, &Bytes::from_static(b"media"));
        let (frames, _) = feed.subscribe();
        let order: Vec<(u8, Vec<u8>)> = frames
            .iter()
            .filter_map(|f| match f {
                Frame::Binary(b) => Some((b[4], b[FRAME_HEADER..].to_vec())),
                Frame::Text(_) => None,
            })
            .collect();
        assert_eq!(
            order,
            [
                (0, b"publish".to_vec()),
                (1, b"Publish.Start".to_vec()),
                (0, b"media".to_vec())
            ]
        );
    }

    #[test]
    fn subscribers_get_frames_published_after_they_joined_and_ended_sessions_leave() {
        let feed = Feed::new();
        feed.open(1, "a", "b", 0.0);
        let (_, mut rx) = feed.subscribe();
        feed.data(1, C2S, 1.0, &Bytes::from_static(b"x"));
        feed.close(1, C2S, true, 2.0);
        match rx.try_recv().unwrap() {
            Frame::Binary(b) => assert_eq!(&b[FRAME_HEADER..], b"x"),
            f => panic!("{f:?}"),
        }
        match rx.try_recv().unwrap() {
            Frame::Text(t) => assert!(t.contains(r#""reset":true"#), "{t}"),
            f => panic!("{f:?}"),
        }
        feed.end(1);
        assert_eq!(feed.live_sessions(), 0);
        assert!(feed.subscribe().0.is_empty());
    }

    #[test]
    fn a_gap_ends_the_head_so_late_decoders_resynchronise() {
        let feed = Feed::new();
        feed.open(2, "a", "b", 0.0);
        feed.data(2, C2S, 1.0, &Bytes::from_static(b"12345"));
        feed.gap(2, C2S, 10, 1.1);
        feed.data(2, C2S, 1.2, &Bytes::from_static(b"after"));
        let (frames, _) = feed.subscribe();
        let t = texts(&frames);
        assert!(t.iter().any(|x| x.contains(r#""length":15"#)), "{t:?}");
    }
}
