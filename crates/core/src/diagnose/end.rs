//! Session-end rules: a connection cut in the middle of a message, a
//! publisher that disappears without FCUnpublish/deleteStream, a server that
//! hangs up on a live publisher, and capture gaps.
//!
//! | code | severity | when |
//! | --- | --- | --- |
//! | `end.truncated` | error (info when the receiver was leaving anyway) | a direction ends inside a message or a chunk header |
//! | `end.no_unpublish` | error (info when the video's end of sequence came last and the close was clean) | the client published media and the session ends without FCUnpublish, deleteStream or closeStream |
//! | `end.server_closed` | error | the server closed the connection while the client was publishing |
//! | `capture.gap` | warning | bytes are missing from the capture (lost or cut packets) |
//! | `capture.ends_live` | info | the shell reported the connection still open when the capture ended |

use crate::message::{self, MSG_AGGREGATE, MSG_AUDIO, MSG_DATA_AMF0, MSG_DATA_AMF3, MSG_VIDEO};
use crate::session::{Direction, Event};

use super::{dir_idx, msg_evidence, sender, Closed, Evidence, Facts, Finding, Severity, Sink};

#[derive(Debug, Default)]
struct Side {
    /// The last incomplete message: evidence, type id, end offset.
    incomplete: Option<(Evidence, u8, u64)>,
    /// A chunk header cut by the end of the data.
    header_cut: Option<Evidence>,
    /// The direction just lost bytes: an incomplete message now is the gap's doing.
    after_gap: bool,
    gaps: u64,
    gap_bytes: u64,
}

/// State of the session-end rules.
#[derive(Debug, Default)]
pub(super) struct Rules {
    sides: [Side; 2],
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl Rules {
    pub(super) fn observe(&mut self, ev: &Event, facts: &mut Facts, sink: &mut Sink) {
        match ev {
            Event::Gap(g) => {
                let side = &mut self.sides[dir_idx(g.dir)];
                side.after_gap = true;
                side.gaps += 1;
                side.gap_bytes += g.length;
                let f = Finding::new(
                    Severity::Warning,
                    "capture.gap",
                    format!("The capture lost {} byte(s) of the {}'s stream", g.length, sender(g.dir)),
                )
                .explain(format!(
                    "Bytes {}..{} of this direction are not in the capture (the capture tool dropped packets, or a snapshot length cut them). Decoding picks up at the next chunk header; a message that spanned the gap is lost, and findings right around it may be artefacts of the capture, not of the session.",
                    g.offset,
                    g.offset + g.length
                ))
                .hint("capture again with a full snapshot length and a larger buffer (tcpdump -s 0 -B 16384), or through `rtmpscope proxy`, which loses nothing")
                .at(Evidence {
                    dir: g.dir,
                    index: None,
                    offset: g.offset,
                    what: format!("{} byte(s) missing", g.length),
                });
                sink.raise(facts, f);
            }
            Event::Message(m) => {
                let side = &mut self.sides[dir_idx(m.dir)];
                if m.raw.complete {
                    side.after_gap = false;
                } else if !side.after_gap {
                    let e = msg_evidence(m);
                    facts.incomplete[dir_idx(m.dir)] = Some(e.clone());
                    if side.incomplete.is_none() {
                        side.incomplete = Some((e, m.raw.type_id, m.raw.end));
                    }
                }
            }
            Event::Error(e) if e.expected.starts_with("the rest of a chunk header") => {
                let side = &mut self.sides[dir_idx(e.dir)];
                if !side.after_gap {
                    side.header_cut = Some(Evidence {
                        dir: e.dir,
                        index: None,
                        offset: e.offset,
                        what: format!("chunk header cut short ({})", e.found),
                    });
                }
            }
            _ => {}
        }
    }

    pub(super) fn finish(&mut self, facts: &mut Facts, sink: &mut Sink) {
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            self.truncated(dir, facts, sink);
        }
        if facts.open_at_end {
            self.still_live(facts, sink);
        } else {
            self.no_unpublish(facts, sink);
        }
    }

    fn still_live(&self, facts: &Facts, sink: &mut Sink) {
        let f = Finding::new(
            Severity::Info,
            "capture.ends_live",
            "The capture ends while the connection is still open",
        )
        .explain("Neither side closed the connection before the capture stopped, so the session's end is not in this capture: what happened after is unknown.")
        .hint("to see how a session ends, keep capturing until the encoder or player has stopped")
        .at_opt(facts.last[0].map(|l| l.plain(Direction::ClientToServer)))
        .at_opt(facts.last[1].map(|l| l.plain(Direction::ServerToClient)));
        sink.raise(facts, f);
    }

    /// Whether the receiver of `dir` had already ended the session when `dir` was cut.
    fn receiver_leaving(dir: Direction, facts: &Facts) -> bool {
        match dir {
            // The client sent deleteStream/FCUnpublish, or closed first.
            Direction::ServerToClient => {
                facts.unpublished.is_some()
                    || matches!(facts.first_closer(), Some((Direction::ClientToServer, _)))
            }
            // The server closed first: the client's cut message is the server's doing,
            // and the publish rules say why; still an error when media was flowing.
            Direction::ClientToServer => false,
        }
    }

    fn truncated(&self, dir: Direction, facts: &Facts, sink: &mut Sink) {
        let side = &self.sides[dir_idx(dir)];
        let at_end = side
            .incomplete
            .as_ref()
            .filter(|(_, _, end)| *end >= facts.end[dir_idx(dir)]);
        let (evidence, type_id) = match (at_end, &side.header_cut) {
            (Some((e, t, _)), _) => (e.clone(), Some(*t)),
            (None, Some(h)) => (h.clone(), None),
            (None, None) => return,
        };
        let media = type_id.is_some_and(|t| {
            matches!(
                t,
                MSG_AUDIO | MSG_VIDEO | MSG_DATA_AMF0 | MSG_DATA_AMF3 | MSG_AGGREGATE
            )
        });
        let publishing = dir == Direction::ClientToServer
            && facts.publish.is_some()
            && facts.unpublished.is_none();
        let serious =
            (media || publishing) && !Self::receiver_leaving(dir, facts) && !facts.open_at_end;
        let what = match type_id {
            Some(t) => {
                let name = message::type_name(t);
                let article = if name.starts_with(['A', 'E', 'I', 'O', 'U']) {
                    "an"
                } else {
                    "a"
                };
                format!("{article} {name} message")
            }
            None => "a chunk header".to_string(),
        };
        let how = match facts.closed[dir_idx(dir)] {
            Some(Closed { reset: true, .. }) => "the connection was reset",
            Some(_) => "the connection was closed",
            None if facts.open_at_end => "the capture stopped",
            None => "its stream ended",
        };
        let title = format!("The {}'s stream ends in the middle of {what}", sender(dir));
        let explanation = if serious {
            format!(
                "{} from the {} was still arriving when {how}. Whatever was being sent is lost: the {} died, was killed, or the connection was cut (by the other side, a proxy, or the network).",
                capitalise(&what),
                sender(dir),
                sender(dir)
            )
        } else {
            format!(
                "{} from the {} was on its way when {how}, but the session was ending anyway (the other side was leaving, or the capture stopped), so nothing of value was lost.",
                capitalise(&what),
                sender(dir)
            )
        };
        let f = Finding::new(
            if serious { Severity::Error } else { Severity::Info },
            "end.truncated",
            title,
        )
        .explain(explanation)
        .hint(if serious {
            "look at what ended the connection first: the other side's last messages, its log, and any proxy or load balancer with idle or size limits in between"
        } else {
            "nothing to do"
        })
        .at(evidence)
        .at_opt(facts.last[dir_idx(dir.reverse())].map(|l| l.plain(dir.reverse())));
        sink.raise(facts, f);
    }

    fn no_unpublish(&self, facts: &Facts, sink: &mut Sink) {
        let Some((publish, _)) = &facts.publish else {
            return;
        };
        if facts.refused || facts.unpublished.is_some() || facts.media_after_publish == 0 {
            return;
        }
        let last = facts.last[0].map(|l| l.plain(Direction::ClientToServer));
        let closer = facts.first_closer();
        if let Some((Direction::ServerToClient, c)) = closer {
            let f = Finding::new(
                Severity::Error,
                "end.server_closed",
                format!(
                    "The server {} the connection while the client was publishing",
                    c.verb()
                ),
            )
            .explain(format!(
                "The client had sent {} audio/video frames and had not unpublished when the server ended the connection. Servers drop publishers for an idle timeout (no data for a while), a failing on_update or auth callback, a stream they cannot parse, or an administrator's drop.",
                facts.media_after_publish
            ))
            .hint("read the server's log at this time; look at the client's last messages for what may have upset it")
            .at_opt(facts.last[1].map(|l| l.plain(Direction::ServerToClient)))
            .at_opt(last)
            .at(publish.clone());
            sink.raise(facts, f);
            return;
        }
        let reset = matches!(closer, Some((_, Closed { reset: true, .. })));
        if let (Some(end), false) = (&facts.stream_end, reset) {
            let f = Finding::new(
                Severity::Info,
                "end.no_unpublish",
                "The publisher ended its stream with an end of sequence, without FCUnpublish/deleteStream",
            )
            .explain(format!(
                "After {} audio/video frames the publisher sent the video's end-of-sequence marker, then closed the connection without FCUnpublish or deleteStream. The marker says the stream ended on purpose; relays end this way (nginx-rtmp's push never unpublishes), so nothing was lost. An encoder that stops by itself usually unpublishes as well.",
                facts.media_after_publish
            ))
            .hint("nothing to do, unless this publisher is an encoder that should unpublish (then its stop path skips FCUnpublish/deleteStream)")
            .at(end.clone())
            .at_opt(last.filter(|l| l.offset != end.offset))
            .at(publish.clone());
            sink.raise(facts, f);
            return;
        }
        let title = match closer {
            Some((_, Closed { reset: true, .. })) => {
                "The publisher reset the connection without FCUnpublish/deleteStream"
            }
            Some(_) => "The publisher closed the connection without FCUnpublish/deleteStream",
            None => "The stream ends abruptly: no FCUnpublish/deleteStream from the publisher",
        };
        let f = Finding::new(Severity::Error, "end.no_unpublish", title)
            .explain(format!(
                "After {} audio/video frames the publisher's side of the session simply stops: an encoder that ends a stream on purpose sends FCUnpublish and deleteStream first. It was killed or crashed, lost its network, or (if the capture was stopped while the stream was live) the capture ends here. Viewers see the stream freeze until the server notices.",
                facts.media_after_publish
            ))
            .hint("check the encoder's host: process crashes or kills (OOM killer, SIGKILL), network drops, and the encoder's log; stop streams with the encoder's stop button (ffmpeg: q or SIGINT)")
            .at_opt(last)
            .at(publish.clone());
        sink.raise(facts, f);
    }
}
