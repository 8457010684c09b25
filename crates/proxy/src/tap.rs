//! What the forwarding loops hand to a session's recorder, without waiting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use rtmpscope_core::Direction;
use tokio::sync::mpsc;

/// Records waiting for a session's recorder, at most (besides the byte bound).
pub(crate) const RECORD_QUEUE: usize = 4096;

/// How a direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The sender closed it (FIN), passed on as a FIN.
    Fin,
    /// The sender reset the connection (RST), passed on as a RST.
    Reset,
    /// The proxy closed it: at shutdown with a FIN, or with a RST after the
    /// other side failed.
    Proxy { reset: bool },
}

/// One item for the recorder.
#[derive(Debug)]
pub(crate) enum Record {
    /// Bytes read from one side (and written to the other), with the read's wall-clock time.
    Data {
        dir: Direction,
        bytes: Bytes,
        time: f64,
        /// Bytes of this direction forwarded just before these but not recorded.
        gap_before: u64,
    },
    /// A direction ended; its last bytes, if any, came before.
    Closed {
        dir: Direction,
        end: End,
        time: f64,
        gap_before: u64,
        /// Every byte read from the sender of this direction.
        received: u64,
        /// Of those, bytes that could not be delivered (the receiver failed).
        undelivered: u64,
    },
    /// Something to log and note in the capture file.
    Note { text: String, time: f64 },
}

/// Bytes queued for recorders, per session and over all sessions, each with its bound.
#[derive(Debug)]
pub(crate) struct Queued {
    session: AtomicUsize,
    cap: usize,
    total: Arc<AtomicUsize>,
    total_cap: usize,
}

impl Queued {
    pub(crate) fn new(cap: usize, total: Arc<AtomicUsize>, total_cap: usize) -> Queued {
        Queued {
            session: AtomicUsize::new(0),
            cap,
            total,
            total_cap,
        }
    }

    /// Reserves room for `n` bytes; false (and nothing reserved) when either bound would be passed.
    pub(crate) fn take(&self, n: usize) -> bool {
        let before = self.session.fetch_add(n, Ordering::AcqRel);
        if before.saturating_add(n) > self.cap {
            self.session.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        let before = self.total.fetch_add(n, Ordering::AcqRel);
        if before.saturating_add(n) > self.total_cap {
            self.total.fetch_sub(n, Ordering::AcqRel);
            self.session.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Gives back the room of `n` recorded bytes.
    pub(crate) fn release(&self, n: usize) {
        self.session.fetch_sub(n, Ordering::AcqRel);
        self.total.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes of this session waiting.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.session.load(Ordering::Acquire)
    }
}

/// One direction's side of the recorder queue.
#[derive(Debug)]
pub(crate) struct Tap {
    dir: Direction,
    tx: mpsc::Sender<Record>,
    queued: Arc<Queued>,
    /// Bytes dropped since the last record that got through.
    gap: u64,
    /// Bytes read from the sender.
    pub(crate) received: u64,
    /// Bytes read but not delivered (the receiving side failed).
    pub(crate) undelivered: u64,
}

impl Tap {
    pub(crate) fn new(dir: Direction, tx: mpsc::Sender<Record>, queued: Arc<Queued>) -> Tap {
        Tap {
            dir,
            tx,
            queued,
            gap: 0,
            received: 0,
            undelivered: 0,
        }
    }

    /// Offers bytes to the recorder; when it is too far behind, they become a gap. Never waits.
    pub(crate) fn offer(&mut self, bytes: Bytes, time: f64) {
        let n = bytes.len();
        self.received += n as u64;
        if self.queued.take(n) {
            let record = Record::Data {
                dir: self.dir,
                bytes,
                time,
                gap_before: self.gap,
            };
            match self.tx.try_send(record) {
                Ok(()) => {
                    self.gap = 0;
                    return;
                }
                Err(_) => self.queued.release(n),
            }
        }
        self.gap += n as u64;
    }

    /// Says that the direction ended. Waits for room: the direction carries nothing more.
    pub(crate) async fn close(&mut self, end: End, time: f64) {
        let record = Record::Closed {
            dir: self.dir,
            end,
            time,
            gap_before: std::mem::take(&mut self.gap),
            received: self.received,
            undelivered: self.undelivered,
        };
        // A recorder that is gone (it failed) has nothing left to learn.
        let _ = self.tx.send(record).await;
    }

    /// Sends a note for the log and the capture file, waiting for room (used at session end only).
    pub(crate) async fn note(&self, text: String, time: f64) {
        let _ = self.tx.send(Record::Note { text, time }).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(cap: usize, queue: usize) -> (Tap, mpsc::Receiver<Record>, Arc<Queued>) {
        let (tx, rx) = mpsc::channel(queue);
        let q = Arc::new(Queued::new(cap, Arc::new(AtomicUsize::new(0)), usize::MAX));
        (Tap::new(Direction::ClientToServer, tx, q.clone()), rx, q)
    }

    #[test]
    fn bytes_past_the_bound_become_a_gap_before_the_next_record() {
        let (mut t, mut rx, q) = tap(10, 16);
        t.offer(Bytes::from_static(b"12345678"), 1.0);
        t.offer(Bytes::from_static(b"abcdef"), 2.0); // 14 > 10: dropped
        assert_eq!(q.waiting(), 8);
        let Some(Record::Data { gap_before, .. }) = rx.try_recv().ok() else {
            panic!("first record missing")
        };
        assert_eq!(gap_before, 0);
        q.release(8);
        t.offer(Bytes::from_static(b"xyz"), 3.0);
        match rx.try_recv() {
            Ok(Record::Data {
                gap_before, bytes, ..
            }) => {
                assert_eq!(gap_before, 6);
                assert_eq!(&bytes[..], b"xyz");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.received, 17);
    }

    #[test]
    fn a_full_queue_is_a_gap_and_gives_its_room_back() {
        let (mut t, _rx, q) = tap(1000, 1);
        t.offer(Bytes::from_static(b"one"), 1.0);
        t.offer(Bytes::from_static(b"two!"), 1.0);
        assert_eq!(q.waiting(), 3);
        assert_eq!(t.gap, 4);
    }

    #[test]
    fn the_total_bound_applies_across_sessions() {
        let total = Arc::new(AtomicUsize::new(0));
        let a = Queued::new(100, total.clone(), 150);
        let b = Queued::new(100, total.clone(), 150);
        assert!(a.take(100));
        assert!(!b.take(60));
        assert_eq!(b.waiting(), 0);
        assert!(b.take(50));
        a.release(100);
        assert_eq!(total.load(Ordering::Relaxed), 50);
    }

    #[tokio::test]
    async fn close_carries_the_pending_gap() {
        let (mut t, mut rx, _q) = tap(0, 16);
        t.offer(Bytes::from_static(b"lost"), 1.0);
        t.close(End::Fin, 2.0).await;
        match rx.recv().await {
            Some(Record::Closed {
                gap_before,
                received,
                end: End::Fin,
                ..
            }) => {
                assert_eq!(gap_before, 4);
                assert_eq!(received, 4);
            }
            other => panic!("{other:?}"),
        }
    }
}
