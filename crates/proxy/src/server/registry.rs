//! The live streams: who publishes each `app/stream`, who plays it, and what
//! a player that joins late needs first (metadata, sequence headers, last GOP).
//!
//! One mutex guards the map; a publisher holds it only to update the cache
//! and to offer each message to the players' queues without waiting, so a
//! slow player can never stall a publisher (it is dropped instead).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use rtmpscope_core::message::{Body, MSG_AUDIO, MSG_VIDEO};
use tokio::sync::mpsc;

/// Bytes of a media payload enough to read its tag header (Enhanced RTMP
/// headers with multitrack fit; the rest of the payload is not needed).
const TAG_HEADER_PREFIX: usize = 64;

/// A message a publisher sent, shared by every player's queue.
#[derive(Debug)]
pub struct Media {
    /// Message type id (8 audio, 9 video, 18/15 data, 22 aggregate).
    pub type_id: u8,
    /// Absolute timestamp in ms.
    pub timestamp: u32,
    /// The payload (for data messages, `@setDataFrame` already removed).
    pub payload: Bytes,
}

/// What a player's connection receives.
#[derive(Debug, Clone)]
pub enum PlayItem {
    /// A message to send on message stream `stream_id`.
    Media {
        /// The player's message stream.
        stream_id: u32,
        /// The message.
        media: Arc<Media>,
    },
    /// A publisher started on the stream the player waits for.
    Published {
        /// The player's message stream.
        stream_id: u32,
    },
    /// The publisher stopped.
    Unpublished {
        /// The player's message stream.
        stream_id: u32,
    },
}

impl PlayItem {
    /// Payload bytes the item holds.
    fn len(&self) -> usize {
        match self {
            PlayItem::Media { media, .. } => media.payload.len(),
            _ => 0,
        }
    }
}

/// A player connection's queue state, shared by the fan-out and the connection.
#[derive(Debug)]
pub struct PlayerQueue {
    lagged: AtomicBool,
    bytes: AtomicUsize,
    max_bytes: usize,
}

impl PlayerQueue {
    /// Whether the player fell too far behind and was dropped from its streams.
    pub fn lagged(&self) -> bool {
        self.lagged.load(Ordering::Relaxed)
    }

    /// Accounts for an item the connection took from its queue.
    pub fn taken(&self, item: &PlayItem) {
        self.bytes.fetch_sub(item.len(), Ordering::Relaxed);
    }
}

/// A player's end of the fan-out: a queue bounded in messages and in bytes.
#[derive(Debug, Clone)]
pub struct PlayerTx {
    tx: mpsc::Sender<PlayItem>,
    queue: Arc<PlayerQueue>,
}

impl PlayerTx {
    /// A sender on `tx` that holds at most `max_bytes` of payload in the queue.
    pub fn new(tx: mpsc::Sender<PlayItem>, max_bytes: usize) -> (PlayerTx, Arc<PlayerQueue>) {
        let queue = Arc::new(PlayerQueue {
            lagged: AtomicBool::new(false),
            bytes: AtomicUsize::new(0),
            max_bytes,
        });
        (
            PlayerTx {
                tx,
                queue: queue.clone(),
            },
            queue,
        )
    }

    /// Queues an item without waiting; false when the player must be dropped.
    fn offer(&self, item: PlayItem) -> bool {
        let n = item.len();
        let before = self.queue.bytes.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > self.queue.max_bytes {
            self.queue.bytes.fetch_sub(n, Ordering::Relaxed);
            self.queue.lagged.store(true, Ordering::Relaxed);
            return false;
        }
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(e) => {
                self.queue.bytes.fetch_sub(n, Ordering::Relaxed);
                if matches!(e, mpsc::error::TrySendError::Full(_)) {
                    self.queue.lagged.store(true, Ordering::Relaxed);
                }
                // A closed queue: the player's connection is gone and its own
                // cleanup may not have run yet.
                false
            }
        }
    }
}

#[derive(Debug)]
struct Player {
    conn: u64,
    stream_id: u32,
    out: PlayerTx,
}

#[derive(Debug, Default)]
struct LiveStream {
    publisher: Option<u64>,
    metadata: Option<Arc<Media>>,
    audio_header: Option<Arc<Media>>,
    video_header: Option<Arc<Media>>,
    /// Messages since the last video keyframe (empty while no keyframe is cached).
    gop: Vec<Arc<Media>>,
    gop_bytes: usize,
    players: Vec<Player>,
}

impl LiveStream {
    fn is_idle(&self) -> bool {
        self.publisher.is_none() && self.players.is_empty()
    }

    /// What a new player gets before the live messages.
    fn replay(&self) -> Vec<Arc<Media>> {
        let mut v: Vec<Arc<Media>> = [&self.metadata, &self.video_header, &self.audio_header]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        v.extend(self.gop.iter().cloned());
        v
    }

    fn send(&mut self, item: impl Fn(u32) -> PlayItem) {
        self.players.retain(|p| p.out.offer(item(p.stream_id)));
    }
}

/// Why a publish or play is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Someone already publishes the stream.
    InUse,
    /// The server's stream limit is reached.
    TooManyStreams,
    /// The stream's player limit is reached.
    TooManyPlayers,
}

/// Limits and options the registry applies.
#[derive(Debug, Clone, Copy)]
pub struct RegistryLimits {
    /// Streams at once.
    pub max_streams: usize,
    /// Players per stream.
    pub max_players: usize,
    /// Whether to keep the last GOP.
    pub keep_gop: bool,
    /// Most bytes in a GOP cache.
    pub max_gop_bytes: usize,
}

/// Every live stream of one server.
#[derive(Debug)]
pub struct Registry {
    streams: Mutex<HashMap<String, LiveStream>>,
    limits: RegistryLimits,
}

/// What the cache does with a publisher's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Metadata,
    AudioHeader,
    VideoHeader,
    Keyframe,
    Other,
}

fn classify(type_id: u8, payload: &[u8], is_metadata: bool) -> Kind {
    if is_metadata {
        return Kind::Metadata;
    }
    if type_id != MSG_AUDIO && type_id != MSG_VIDEO {
        return Kind::Other;
    }
    let prefix = payload.get(..TAG_HEADER_PREFIX).unwrap_or(payload);
    match Body::decode(type_id, prefix, payload.len() as u32, 0).0 {
        Body::Audio(a) if a.is_sequence_header() => Kind::AudioHeader,
        Body::Video(v) if v.is_sequence_header() => Kind::VideoHeader,
        Body::Video(v) if v.is_keyframe() => Kind::Keyframe,
        _ => Kind::Other,
    }
}

impl Registry {
    /// An empty registry.
    pub fn new(limits: RegistryLimits) -> Self {
        Registry {
            streams: Mutex::new(HashMap::new()),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, LiveStream>> {
        // A panic while holding the lock cannot leave the map inconsistent in a
        // way that matters more than refusing service, so poisoning is ignored.
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entry<'m>(
        &self,
        map: &'m mut HashMap<String, LiveStream>,
        key: &str,
    ) -> Result<&'m mut LiveStream, Refusal> {
        if !map.contains_key(key) && map.len() >= self.limits.max_streams {
            return Err(Refusal::TooManyStreams);
        }
        Ok(map.entry(key.to_string()).or_default())
    }

    /// Makes connection `conn` the publisher of `key`; waiting players are told.
    pub fn publish(&self, key: &str, conn: u64) -> Result<(), Refusal> {
        let mut map = self.lock();
        let s = self.entry(&mut map, key)?;
        if s.publisher.is_some() {
            return Err(Refusal::InUse);
        }
        s.publisher = Some(conn);
        s.send(|stream_id| PlayItem::Published { stream_id });
        Ok(())
    }

    /// Ends `conn`'s publishing of `key`; the cache goes and players are told.
    pub fn unpublish(&self, key: &str, conn: u64) {
        let mut map = self.lock();
        let Some(s) = map.get_mut(key) else {
            return;
        };
        if s.publisher != Some(conn) {
            return;
        }
        s.publisher = None;
        s.metadata = None;
        s.audio_header = None;
        s.video_header = None;
        s.gop.clear();
        s.gop_bytes = 0;
        s.send(|stream_id| PlayItem::Unpublished { stream_id });
        if s.is_idle() {
            map.remove(key);
        }
    }

    /// A publisher's message: cached as needed and offered to every player.
    pub fn media(&self, key: &str, conn: u64, media: Media, is_metadata: bool) {
        let kind = classify(media.type_id, &media.payload, is_metadata);
        let media = Arc::new(media);
        let mut map = self.lock();
        let Some(s) = map.get_mut(key) else {
            return;
        };
        if s.publisher != Some(conn) {
            return;
        }
        match kind {
            Kind::Metadata => s.metadata = Some(media.clone()),
            Kind::AudioHeader => s.audio_header = Some(media.clone()),
            Kind::VideoHeader => s.video_header = Some(media.clone()),
            Kind::Keyframe if self.limits.keep_gop => {
                s.gop.clear();
                s.gop_bytes = 0;
                self.cache(s, &media);
            }
            Kind::Keyframe | Kind::Other => {
                if !s.gop.is_empty() {
                    self.cache(s, &media);
                }
            }
        }
        s.send(|stream_id| PlayItem::Media {
            stream_id,
            media: media.clone(),
        });
    }

    fn cache(&self, s: &mut LiveStream, media: &Arc<Media>) {
        let n = media.payload.len();
        if s.gop_bytes.saturating_add(n) > self.limits.max_gop_bytes {
            // Too long a GOP: a partial one would not decode, so none is kept
            // until the next keyframe starts a new one.
            s.gop.clear();
            s.gop_bytes = 0;
        } else {
            s.gop_bytes += n;
            s.gop.push(media.clone());
        }
    }

    /// Adds a player to `key`; returns whether a publisher is live and what to send first.
    pub fn play(
        &self,
        key: &str,
        conn: u64,
        stream_id: u32,
        out: PlayerTx,
    ) -> Result<(bool, Vec<Arc<Media>>), Refusal> {
        let mut map = self.lock();
        let max_players = self.limits.max_players;
        let s = self.entry(&mut map, key)?;
        if s.players.len() >= max_players {
            if s.is_idle() {
                map.remove(key);
            }
            return Err(Refusal::TooManyPlayers);
        }
        s.players.push(Player {
            conn,
            stream_id,
            out,
        });
        Ok((s.publisher.is_some(), s.replay()))
    }

    /// Removes `conn`'s player on `stream_id` from `key`.
    pub fn stop_playing(&self, key: &str, conn: u64, stream_id: u32) {
        let mut map = self.lock();
        if let Some(s) = map.get_mut(key) {
            s.players
                .retain(|p| !(p.conn == conn && p.stream_id == stream_id));
            if s.is_idle() {
                map.remove(key);
            }
        }
    }

    /// Streams with a publisher or players.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RegistryLimits {
        RegistryLimits {
            max_streams: 2,
            max_players: 1,
            keep_gop: true,
            max_gop_bytes: 100,
        }
    }

    fn player(cap: usize) -> (PlayerTx, mpsc::Receiver<PlayItem>) {
        let (tx, rx) = mpsc::channel(cap);
        (PlayerTx::new(tx, 1000).0, rx)
    }

    fn video(keyframe: bool, seq: bool, len: usize) -> Media {
        // FLV VideoTagHeader: frame type << 4 | codec 7 (AVC), AVCPacketType, composition time.
        let mut p = vec![
            if keyframe { 0x17 } else { 0x27 },
            if seq { 0 } else { 1 },
            0,
            0,
            0,
        ];
        p.resize(len.max(5), 0);
        Media {
            type_id: MSG_VIDEO,
            timestamp: 0,
            payload: p.into(),
        }
    }

    #[test]
    fn second_publisher_is_refused() {
        let r = Registry::new(limits());
        r.publish("live/a", 1).unwrap();
        assert_eq!(r.publish("live/a", 2), Err(Refusal::InUse));
        r.unpublish("live/a", 1);
        r.publish("live/a", 2).unwrap();
    }

    #[test]
    fn stream_limit_is_enforced_and_idle_streams_freed() {
        let r = Registry::new(limits());
        r.publish("a", 1).unwrap();
        r.publish("b", 1).unwrap();
        assert_eq!(r.publish("c", 1), Err(Refusal::TooManyStreams));
        r.unpublish("a", 1);
        assert_eq!(r.len(), 1);
        r.publish("c", 1).unwrap();
    }

    #[test]
    fn late_player_gets_headers_and_the_gop_from_its_keyframe() {
        let r = Registry::new(limits());
        r.publish("s", 1).unwrap();
        r.media("s", 1, video(true, true, 5), false);
        r.media("s", 1, video(false, false, 10), false);
        r.media("s", 1, video(true, false, 10), false);
        r.media("s", 1, video(false, false, 10), false);
        let (tx, _rx) = player(8);
        let (live, first) = r.play("s", 2, 1, tx).unwrap();
        assert!(live);
        let lens: Vec<_> = first.iter().map(|m| m.payload.len()).collect();
        assert_eq!(lens, vec![5, 10, 10]);
        assert_eq!(first[1].payload[0], 0x17);
    }

    #[test]
    fn gop_over_the_cap_is_dropped() {
        let r = Registry::new(limits());
        r.publish("s", 1).unwrap();
        r.media("s", 1, video(true, false, 60), false);
        r.media("s", 1, video(false, false, 60), false);
        r.media("s", 1, video(false, false, 10), false);
        let (tx, _rx) = player(8);
        let (_, first) = r.play("s", 2, 1, tx).unwrap();
        assert!(first.is_empty());
    }

    #[test]
    fn full_player_queue_drops_the_player_and_flags_it() {
        let r = Registry::new(limits());
        r.publish("s", 1).unwrap();
        let (tx, mut rx) = player(1);
        let queue = tx.queue.clone();
        r.play("s", 2, 1, tx).unwrap();
        r.media("s", 1, video(false, false, 5), false);
        r.media("s", 1, video(false, false, 5), false);
        assert!(queue.lagged());
        assert!(matches!(rx.try_recv(), Ok(PlayItem::Media { .. })));
        // Dropped: nothing more arrives, and another player fits.
        r.media("s", 1, video(false, false, 5), false);
        assert!(rx.try_recv().is_err());
        let (tx2, _rx2) = player(1);
        r.play("s", 3, 1, tx2).unwrap();
    }

    #[test]
    fn player_queue_is_bounded_in_bytes_too() {
        let r = Registry::new(limits());
        r.publish("s", 1).unwrap();
        let (tx, mut rx) = mpsc::channel(100);
        let (tx, queue) = PlayerTx::new(tx, 25);
        r.play("s", 2, 1, tx).unwrap();
        r.media("s", 1, video(false, false, 10), false);
        r.media("s", 1, video(false, false, 10), false);
        // Taking one out makes room again.
        let first = rx.try_recv().unwrap();
        queue.taken(&first);
        r.media("s", 1, video(false, false, 10), false);
        assert!(!queue.lagged());
        r.media("s", 1, video(false, false, 10), false);
        assert!(queue.lagged());
    }

    #[test]
    fn media_from_a_non_publisher_is_ignored() {
        let r = Registry::new(limits());
        r.publish("s", 1).unwrap();
        let (tx, mut rx) = player(4);
        r.play("s", 2, 1, tx).unwrap();
        r.media("s", 9, video(true, true, 5), false);
        assert!(rx.try_recv().is_err());
    }
}
