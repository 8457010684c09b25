//! What a session's decoded events look like on the terminal: one line per
//! notable event (text), or every event as a JSON line (DESIGN.md's contract).

use std::fmt::Write;
use std::net::SocketAddr;

use rtmpscope_core::chunk::ChunkNote;
use rtmpscope_core::json;
use rtmpscope_core::message::{Body, UserControl};
use rtmpscope_core::session::MessageEvent;
use rtmpscope_core::{Direction, Event};

use crate::output::Lines;

/// Decoder errors shown per session; later ones are only counted.
const ERRORS_SHOWN: u64 = 10;
/// Distinct data message names shown per session.
const DATA_NAMES_SHOWN: usize = 16;

/// `C>S` or `S>C`, as `rtmpscope decode` prints directions.
pub(crate) fn arrow(d: Direction) -> &'static str {
    match d {
        Direction::ClientToServer => "C>S",
        Direction::ServerToClient => "S>C",
    }
}

/// `1.2 MB`, `340 kB`, `12 B` (decimal units).
pub(crate) fn human_bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1000 {
        format!("{n} B")
    } else if f < 1e6 {
        format!("{:.1} kB", f / 1e3)
    } else if f < 1e9 {
        format!("{:.1} MB", f / 1e6)
    } else {
        format!("{:.2} GB", f / 1e9)
    }
}

/// Media seen since the last status line.
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    audio_bytes: u64,
    video_bytes: u64,
    video_frames: u64,
    audio_messages: u64,
}

/// Turns one session's events into lines.
#[derive(Debug)]
pub(crate) struct Report {
    number: u64,
    client: SocketAddr,
    json: bool,
    start: f64,
    first_audio: bool,
    first_video: bool,
    first_aggregate: bool,
    data_names: Vec<String>,
    raw_types: Vec<u8>,
    notes_shown: Vec<&'static str>,
    /// Decoder errors (error events and message bodies that failed to decode).
    pub(crate) errors: u64,
    /// Messages per direction.
    pub(crate) messages: [u64; 2],
    window: Window,
    window_start: f64,
    line: String,
    /// Writes the JSON lines (remembering what repeats between them).
    lines: json::LineWriter,
}

impl Report {
    pub(crate) fn new(number: u64, client: SocketAddr, json: bool, start: f64) -> Report {
        Report {
            number,
            client,
            json,
            start,
            first_audio: true,
            first_video: true,
            first_aggregate: true,
            data_names: Vec::new(),
            raw_types: Vec::new(),
            notes_shown: Vec::new(),
            errors: 0,
            messages: [0, 0],
            window: Window::default(),
            window_start: start,
            line: String::with_capacity(256),
            lines: json::LineWriter::default(),
        }
    }

    /// `#N ip:port +S.SSSs ` (and the direction arrow), the start of every text line.
    pub(crate) fn prefix(&self, time: f64, dir: Option<Direction>) -> String {
        let mut s = format!(
            "#{} {} +{:.3}s",
            self.number,
            self.client,
            (time - self.start).max(0.0)
        );
        if let Some(d) = dir {
            s.push(' ');
            s.push_str(arrow(d));
        }
        s.push(' ');
        s
    }

    /// A text line for this session.
    pub(crate) fn text(&self, time: f64, dir: Option<Direction>, what: &str) -> String {
        let mut s = self.prefix(time, dir);
        s.push_str(what);
        s
    }

    /// A `{"kind":"log",...}` line or a text line, for the proxy's own messages.
    pub(crate) fn log(&self, time: f64, level: &str, message: &str) -> String {
        if self.json {
            let mut s = String::new();
            json::Obj::new(&mut s)
                .str("kind", "log")
                .int("session", self.number)
                .num("time", time)
                .str("level", level)
                .str("message", message)
                .end();
            s
        } else {
            self.text(time, None, message)
        }
    }

    /// Reports one decoded event.
    pub(crate) fn event(&mut self, ev: &Event, out: &Lines) {
        if let Event::Message(m) = ev {
            self.messages[m.dir as usize] += 1;
            self.count_media(&m.body, m.raw.length);
        }
        if matches!(ev, Event::Error(_)) {
            self.errors += 1;
        }
        if let Event::Message(MessageEvent {
            body_error: Some(_),
            ..
        }) = ev
        {
            self.errors += 1;
        }
        if self.json {
            let mut line = std::mem::take(&mut self.line);
            line.clear();
            self.lines.write_event(&mut line, self.number, ev);
            out.send(line.clone());
            self.line = line;
            return;
        }
        match ev {
            Event::Handshake(h) => {
                if let Some(x) = &h.hello {
                    let verifies = match (x.scheme.as_str(), x.digest_valid) {
                        ("simple", _) => "",
                        (_, true) => " (digest verifies)",
                        (_, false) => " (NO digest verifies)",
                    };
                    let what = format!(
                        "handshake {} version {}, peer version {}, scheme {}{verifies}",
                        h.part.as_str(),
                        x.version,
                        x.peer_version_string(),
                        x.scheme.as_str(),
                    );
                    out.send(self.text(h.time, Some(h.dir), &what));
                }
            }
            Event::Message(m) => {
                if let Some(what) = self.notable(m) {
                    out.send(self.text(m.time, Some(m.dir), &what));
                }
                if let Some(e) = &m.body_error {
                    if self.errors <= ERRORS_SHOWN {
                        let what = format!(
                            "decode error in message #{} at byte {} of its body: expected {}, found {}",
                            m.index, e.offset, e.expected, e.found
                        );
                        out.send(self.text(m.time, Some(m.dir), &what));
                    }
                }
            }
            Event::Note(n) => {
                let (key, what) = match &n.note {
                    ChunkNote::ExtendedTimestampOmitted { csid, .. } => (
                        "ext",
                        format!(
                            "note: type-3 chunks on chunk stream {csid} do not repeat the extended timestamp"
                        ),
                    ),
                    ChunkNote::AmbiguousDelta { csid, timestamp, alternative, .. } => (
                        "delta",
                        format!(
                            "note: type-3 chunk after a type-0 header on chunk stream {csid}: timestamp {timestamp} by the spec, {alternative} if the delta is taken as 0"
                        ),
                    ),
                    ChunkNote::Resynchronised { offset, skipped } => {
                        self.errors += 1;
                        if self.errors <= ERRORS_SHOWN {
                            let what = format!(
                                "decode error: skipped {skipped} byte(s) at offset {offset} to find the next chunk header"
                            );
                            out.send(self.text(n.time, Some(n.dir), &what));
                        }
                        return;
                    }
                    // The Set Chunk Size message itself is reported.
                    ChunkNote::ChunkSize { .. } => return,
                    ChunkNote::Aborted { csid, discarded, .. } => {
                        let what = format!(
                            "Abort dropped {discarded} byte(s) of the message on chunk stream {csid}"
                        );
                        out.send(self.text(n.time, Some(n.dir), &what));
                        return;
                    }
                };
                if !self.notes_shown.contains(&key) {
                    self.notes_shown.push(key);
                    out.send(self.text(n.time, Some(n.dir), &what));
                }
            }
            Event::Error(e) => {
                if self.errors <= ERRORS_SHOWN {
                    let what = format!(
                        "decode error at offset {}: expected {}, found {}",
                        e.offset, e.expected, e.found
                    );
                    out.send(self.text(e.time, Some(e.dir), &what));
                    if self.errors == ERRORS_SHOWN {
                        out.send(self.text(
                            e.time,
                            Some(e.dir),
                            "further decode errors are counted, not shown",
                        ));
                    }
                }
            }
            // The recorder reports capture gaps itself, with why.
            Event::Gap(_) => {}
        }
    }

    fn count_media(&mut self, body: &Body, length: u32) {
        match body {
            Body::Audio(_) => {
                self.window.audio_bytes += u64::from(length);
                self.window.audio_messages += 1;
            }
            Body::Video(v) => {
                self.window.video_bytes += u64::from(length);
                if v.is_coded_frame() {
                    self.window.video_frames += 1;
                }
            }
            Body::Aggregate(parts) => {
                for p in parts {
                    self.count_media(&p.body, p.length);
                }
            }
            _ => {}
        }
    }

    /// The text of a message worth a line, or `None`.
    fn notable(&mut self, m: &MessageEvent) -> Option<String> {
        let summary = || m.summary();
        match &m.body {
            Body::Command(_) => Some(summary()),
            Body::Data(d) => {
                let name = d.name.clone().unwrap_or_default();
                if d.metadata().is_some() {
                    return Some(summary());
                }
                if self.data_names.len() < DATA_NAMES_SHOWN && !self.data_names.contains(&name) {
                    self.data_names.push(name);
                    return Some(summary());
                }
                None
            }
            Body::SetChunkSize(n) => Some(format!("Set Chunk Size {n}")),
            Body::Abort(_)
            | Body::WindowAckSize(_)
            | Body::SetPeerBandwidth { .. }
            | Body::SharedObject(_) => Some(summary()),
            Body::Ack(_) => None,
            Body::UserControl(u) => match u {
                UserControl::PingRequest { .. } | UserControl::PingResponse { .. } => None,
                _ => Some(summary()),
            },
            Body::Audio(a) => {
                let first = std::mem::take(&mut self.first_audio);
                let s = summary();
                let s = s.strip_prefix("Audio ").unwrap_or(&s);
                if a.is_sequence_header() {
                    Some(format!("audio config: {s}"))
                } else if first {
                    Some(format!("first audio: {s}"))
                } else {
                    None
                }
            }
            Body::Video(v) => {
                let first = std::mem::take(&mut self.first_video);
                let s = summary();
                let s = s.strip_prefix("Video ").unwrap_or(&s);
                if v.is_sequence_header() {
                    Some(format!("video config: {s}"))
                } else if first {
                    Some(format!("first video: {s}"))
                } else {
                    None
                }
            }
            Body::Aggregate(_) => {
                std::mem::take(&mut self.first_aggregate).then(|| format!("first {}", summary()))
            }
            Body::Raw => {
                if self.raw_types.len() < DATA_NAMES_SHOWN
                    && !self.raw_types.contains(&m.raw.type_id)
                {
                    self.raw_types.push(m.raw.type_id);
                    Some(summary())
                } else {
                    None
                }
            }
        }
    }

    /// The periodic status line, covering media since the previous one.
    pub(crate) fn status(&mut self, now: f64, bytes: [u64; 2]) -> String {
        let w = std::mem::take(&mut self.window);
        let secs = (now - self.window_start).max(1e-3);
        self.window_start = now;
        let kbps = |b: u64| b as f64 * 8.0 / 1000.0 / secs;
        if self.json {
            let mut s = String::new();
            json::Obj::new(&mut s)
                .str("kind", "status")
                .int("session", self.number)
                .num("time", now)
                .num("duration", round3(now - self.start))
                .int("c2s_bytes", bytes[0])
                .int("s2c_bytes", bytes[1])
                .num("video_kbps", round3(kbps(w.video_bytes)))
                .num("audio_kbps", round3(kbps(w.audio_bytes)))
                .num("fps", round3(w.video_frames as f64 / secs))
                .end();
            return s;
        }
        let mut what = String::from("status:");
        if w.video_bytes + w.audio_bytes == 0 {
            what.push_str(" no media");
        } else {
            if w.video_bytes > 0 {
                let _ = write!(
                    what,
                    " video {:.0} kbit/s {:.1} fps",
                    kbps(w.video_bytes),
                    w.video_frames as f64 / secs
                );
            }
            if w.audio_bytes > 0 {
                if w.video_bytes > 0 {
                    what.push(',');
                }
                let _ = write!(what, " audio {:.0} kbit/s", kbps(w.audio_bytes));
            }
        }
        let _ = write!(
            what,
            "; C>S {}, S>C {}",
            human_bytes(bytes[0]),
            human_bytes(bytes[1])
        );
        self.text(now, None, &what)
    }
}

/// Rounds to milliseconds (or thousandths) for JSON.
pub(crate) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_in_decimal_units() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1500), "1.5 kB");
        assert_eq!(human_bytes(2_500_000), "2.5 MB");
        assert_eq!(human_bytes(3_000_000_000), "3.00 GB");
    }

    #[test]
    fn status_covers_the_window_since_the_last_one() {
        let mut r = Report::new(1, "127.0.0.1:5000".parse().unwrap(), false, 100.0);
        r.window.video_bytes = 125_000;
        r.window.video_frames = 25;
        let line = r.status(101.0, [2000, 10]);
        assert_eq!(
            line,
            "#1 127.0.0.1:5000 +1.000s status: video 1000 kbit/s 25.0 fps; C>S 2.0 kB, S>C 10 B"
        );
        let line = r.status(106.0, [2000, 10]);
        assert!(
            line.ends_with("status: no media; C>S 2.0 kB, S>C 10 B"),
            "{line}"
        );
    }
}
