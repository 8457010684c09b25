//! The readable, one-line-per-event output of `rtmpscope decode`.

use std::fmt::Write;

use rtmpscope_core::chunk::ChunkNote;
use rtmpscope_core::message::{type_name, Body};
use rtmpscope_core::{Direction, Event};

fn arrow(d: Direction) -> &'static str {
    match d {
        Direction::ClientToServer => "C>S",
        Direction::ServerToClient => "S>C",
    }
}

/// Writes one event as a line (or a few, with `verbose`).
pub fn write_event(out: &mut String, ev: &Event, verbose: bool) {
    match ev {
        Event::Handshake(h) => {
            let _ = write!(
                out,
                "{} {:>9}  {:<5}",
                arrow(h.dir),
                h.offset,
                h.part.as_str()
            );
            if let Some(x) = &h.hello {
                let _ = write!(
                    out,
                    " version {}, epoch {}, peer version {}, scheme {}{}",
                    x.version,
                    x.time,
                    x.peer_version_string(),
                    x.scheme.as_str(),
                    match (x.scheme.as_str(), x.digest_valid) {
                        ("simple", _) => "",
                        (_, true) => " (digest verifies)",
                        (_, false) => " (NO digest verifies)",
                    }
                );
            }
            if let Some(e) = &h.echo {
                let _ = write!(out, " epoch {}, time2 {}", e.time, e.time2);
                match e.echo {
                    Some(true) => out.push_str(", echoes the peer's packet"),
                    Some(false) => out.push_str(", does not echo the peer's packet"),
                    None => out.push_str(", peer's packet not seen"),
                }
                match e.digest_valid {
                    Some(true) => out.push_str(", signature verifies"),
                    Some(false) => out.push_str(", signature does NOT verify"),
                    None => {}
                }
            }
        }
        Event::Message(m) => {
            let r = &m.raw;
            let _ = write!(
                out,
                "{} {:>9}  #{:<6} cs {:<5} {:>2} {:<20} sid {:<3} ts {:<10} len {:<8} {}",
                arrow(m.dir),
                r.offset,
                m.index,
                r.csid,
                r.type_id,
                type_name(r.type_id),
                r.stream_id,
                r.timestamp,
                r.length,
                m.summary()
            );
            if let Some(e) = &m.body_error {
                let _ = write!(out, "\n{:14}body error: {e}", "");
            }
            if verbose {
                write_details(out, &m.body);
            }
        }
        Event::Note(n) => {
            let _ = write!(out, "{} {:>9}  note: ", arrow(n.dir), n.note.offset());
            let _ = match &n.note {
                ChunkNote::ExtendedTimestampOmitted { csid, .. } => write!(
                    out,
                    "type-3 chunk on chunk stream {csid} does not repeat the extended timestamp"
                ),
                ChunkNote::AmbiguousDelta {
                    csid,
                    timestamp,
                    alternative,
                    ..
                } => write!(
                    out,
                    "type-3 chunk after a type-0 header on chunk stream {csid}: timestamp {timestamp} by the spec, {alternative} if the delta is taken as 0"
                ),
                ChunkNote::Resynchronised { skipped, .. } => {
                    write!(out, "skipped {skipped} byte(s) to find the next chunk header")
                }
                ChunkNote::ChunkSize { size, .. } => write!(out, "chunk size is now {size}"),
                ChunkNote::Aborted { csid, discarded, .. } => write!(
                    out,
                    "Abort dropped {discarded} byte(s) of the message on chunk stream {csid}"
                ),
            };
        }
        Event::Error(e) => {
            let _ = write!(
                out,
                "{} {:>9}  ERROR: expected {}, found {}",
                arrow(e.dir),
                e.offset,
                e.expected,
                e.found
            );
        }
        Event::Gap(g) => {
            let _ = write!(
                out,
                "{} {:>9}  GAP: {} byte(s) missing from the capture",
                arrow(g.dir),
                g.offset,
                g.length
            );
        }
    }
}

fn write_details(out: &mut String, body: &Body) {
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let mut block = |title: &str, text: String| {
        let _ = write!(out, "\n{:14}{title}:", "");
        for l in text.lines() {
            let _ = write!(out, "\n{:16}{l}", "");
        }
    };
    match body {
        Body::Command(c) => {
            for (i, v) in c.values.iter().enumerate() {
                block(
                    &format!("value {i} ({})", v.value.type_name()),
                    pretty(&v.value.to_json()),
                );
            }
        }
        Body::Data(d) => {
            for (i, v) in d.values.iter().enumerate() {
                block(
                    &format!("value {i} ({})", v.value.type_name()),
                    pretty(&v.value.to_json()),
                );
            }
        }
        Body::Audio(a) => block(
            "audio",
            pretty(&serde_json::to_value(a).unwrap_or_default()),
        ),
        Body::Video(v) => block(
            "video",
            pretty(&serde_json::to_value(v).unwrap_or_default()),
        ),
        Body::UserControl(u) => block(
            "event",
            pretty(&serde_json::to_value(u).unwrap_or_default()),
        ),
        _ => {}
    }
}

/// A session header line.
pub fn write_session(out: &mut String, info: &crate::input::SessionInfo) {
    match (info.client, info.server) {
        (Some(c), Some(s)) => {
            let _ = write!(
                out,
                "== session {}: {c} -> {s} ({}), first packet at {:.6}",
                info.number, info.kind, info.start
            );
        }
        _ => {
            let _ = write!(out, "== session {} ({})", info.number, info.kind);
        }
    }
}

/// Counts for the closing summary line.
#[derive(Default)]
pub struct Totals {
    msgs: [u64; 2],
    errors: u64,
}

impl Totals {
    /// Counts one event.
    pub fn count(&mut self, e: &Event) {
        match e {
            Event::Message(m) => self.msgs[m.dir as usize] += 1,
            Event::Error(_) => self.errors += 1,
            _ => {}
        }
    }

    /// The closing summary line.
    pub fn write(&self, out: &mut String) {
        let _ = write!(
            out,
            "-- {} message(s) client to server, {} server to client, {} error(s)",
            self.msgs[0], self.msgs[1], self.errors
        );
    }
}
