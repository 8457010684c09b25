//! Publish (and play) rules: the server's refusals in words, a server that
//! hangs up right after publish, publish on a stream id createStream never
//! returned, media before the publish started, the stream key in clear text.
//!
//! | code | severity | when |
//! | --- | --- | --- |
//! | `publish.rejected` | error | onStatus error or `_error` for publish (BadName, Denied, …) |
//! | `play.rejected` | error | onStatus error or `_error` for play (StreamNotFound, …) |
//! | `command.failed` | error | `_error` for createStream (nothing can be published or played without its stream id) |
//! | `command.error` | info | `_error` for releaseStream, FCPublish, deleteStream, … (many servers answer these so, harmlessly) |
//! | `status.warning` | warning | an onStatus with level `warning` |
//! | `publish.dropped` | error | the session ends right after publish, with no audio or video through, and the client did not close first |
//! | `publish.no_media_sent` | error | the client published, sent no audio or video, and closed the connection itself |
//! | `publish.unknown_stream_id` | error | publish on a stream id no createStream result returned |
//! | `publish.media_before_start` | warning (error without any publish) | audio/video before NetStream.Publish.Start |
//! | `publish.key_visible` | info | the stream key travels in clear text (shown redacted) |
//! | `play.no_media` | error | a player's session ends without a single audio or video frame from the server |

use crate::command::{Command, CommandInfo};
use crate::message::Body;
use crate::session::{Direction, Event, MessageEvent};

use super::{msg_evidence, redact, Evidence, Facts, Finding, Severity, Sink};

/// Stream ids remembered from createStream results and pending publishes.
const MAX_IDS: usize = 64;

/// State of the publish rules.
#[derive(Debug, Default)]
pub(super) struct Rules {
    /// Stream ids createStream returned.
    created: Vec<u32>,
    /// Publishes on a stream id not (yet) returned by createStream.
    unknown: Vec<(Evidence, u32)>,
    /// The server's NetStream.Publish.Start.
    publish_start: Option<Evidence>,
    /// The server's NetStream.Play.Start.
    play_start: Option<Evidence>,
    /// The first play's stream name.
    play_name: Option<String>,
    /// The first client media message on a stream when no publish was sent at all.
    media_without_publish: Option<Evidence>,
}

/// Status codes that mean failure whatever their level says (servers differ).
fn failure_code(code: &str) -> bool {
    const WORDS: [&str; 9] = [
        "BadName",
        "Denied",
        "Rejected",
        "Failed",
        "StreamNotFound",
        "Unauthorized",
        "Forbidden",
        "NoAccess",
        "InvalidArg",
    ];
    code.rsplit('.')
        .next()
        .is_some_and(|last| WORDS.contains(&last))
}

/// What a refusal was about: the publish, the play, or something else.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Refused {
    Publish,
    Play,
    CreateStream,
    Other,
}

impl Rules {
    pub(super) fn observe(&mut self, ev: &Event, facts: &mut Facts, sink: &mut Sink) {
        let Event::Message(m) = ev else {
            return;
        };
        match (&m.body, m.dir) {
            (Body::Command(c), Direction::ClientToServer) if m.raw.complete => {
                self.client_command(m, c, facts, sink)
            }
            (Body::Command(c), Direction::ServerToClient) if m.raw.complete => {
                self.server_command(m, c, facts, sink)
            }
            (Body::Audio(_) | Body::Video(_), Direction::ClientToServer) => {
                self.client_media(m, facts, sink)
            }
            _ => {}
        }
    }

    fn client_command(&mut self, m: &MessageEvent, c: &Command, facts: &Facts, sink: &mut Sink) {
        match &c.info {
            CommandInfo::Publish { name, .. } => {
                let id = m.raw.stream_id;
                if !self.created.contains(&id) && self.unknown.len() < MAX_IDS {
                    self.unknown.push((msg_evidence(m), id));
                }
                let Some(name) = name.as_deref().filter(|n| !n.is_empty()) else {
                    return;
                };
                let key = name.split('?').next().unwrap_or(name);
                let f = Finding::new(
                    Severity::Info,
                    "publish.key_visible",
                    format!("The stream key '{}' is visible in this capture", redact(key)),
                )
                .explain("RTMP carries the stream key in clear text: in publish, and usually in releaseStream, FCPublish and sometimes the tcUrl. Anyone who gets this capture file (or sees the traffic on the network) can publish as this encoder. rtmpscope shows only its first four characters in findings; the file itself still holds it.")
                .hint("share this capture only with people you would give the key to, and regenerate the key on the platform afterwards; publish over rtmps:// to keep the key off the network")
                .at(msg_evidence(m));
                sink.raise(facts, f);
            }
            CommandInfo::Play { name, .. } if self.play_name.is_none() => {
                self.play_name = name.clone();
            }
            _ => {}
        }
    }

    fn server_command(
        &mut self,
        m: &MessageEvent,
        c: &Command,
        facts: &mut Facts,
        sink: &mut Sink,
    ) {
        let reply_to = m.reply_to.as_deref();
        if let (
            CommandInfo::Result {
                number: Some(id), ..
            },
            Some("createStream"),
        ) = (&c.info, reply_to)
        {
            if *id >= 0.0 && *id <= f64::from(u32::MAX) && id.fract() == 0.0 {
                let id = *id as u32;
                if !self.created.contains(&id) && self.created.len() < MAX_IDS {
                    self.created.push(id);
                }
                self.unknown.retain(|(_, u)| *u != id);
            }
            return;
        }
        let Some(status) = c.status() else {
            return;
        };
        let code = status.code.as_deref().unwrap_or("");
        if code.starts_with("NetConnection.Connect.") || reply_to == Some("connect") {
            return; // the connection rules' business
        }
        match code {
            "NetStream.Publish.Start" if self.publish_start.is_none() => {
                self.publish_start = Some(msg_evidence(m))
            }
            "NetStream.Play.Start" if self.play_start.is_none() => {
                self.play_start = Some(msg_evidence(m))
            }
            _ => {}
        }
        let level = status.level.as_deref().unwrap_or("");
        let is_error = matches!(c.info, CommandInfo::Error(_));
        if !(is_error || level == "error" || failure_code(code)) {
            if level == "warning" {
                let f = Finding::new(
                    Severity::Warning,
                    "status.warning",
                    format!("Server warning: {}", if code.is_empty() { "(no code)" } else { code }),
                )
                .explain(format!(
                    "The server sent {} with level 'warning'{}. The session goes on, but the server is unhappy with something.",
                    c.name,
                    description_text(facts, status.description.as_deref())
                ))
                .hint("read the description and the server's log for this stream")
                .at(msg_evidence(m));
                sink.raise(facts, f);
            }
            return;
        }
        let about = match (reply_to, code) {
            (Some("publish"), _) => Refused::Publish,
            (Some("play" | "play2"), _) => Refused::Play,
            (Some("createStream"), _) => Refused::CreateStream,
            (Some(_), _) if is_error => Refused::Other,
            (_, c) if c.starts_with("NetStream.Publish.") || c.starts_with("NetStream.Record.") => {
                Refused::Publish
            }
            (_, c) if c.starts_with("NetStream.Play.") => Refused::Play,
            _ if facts.publish.is_some() && !facts.playing => Refused::Publish,
            _ if facts.playing => Refused::Play,
            _ => Refused::Other,
        };
        let shown = if code.is_empty() { "(no code)" } else { code };
        let description = description_text(facts, status.description.as_deref());
        let (words, hint) = status_words(code, status.description.as_deref().unwrap_or(""));
        let f = match about {
            Refused::Publish => {
                facts.refused = true;
                Finding::new(
                    Severity::Error,
                    "publish.rejected",
                    format!("Server rejected the publish: {shown}"),
                )
                .explain(format!(
                    "The server answered publish{} with {} {shown}{description}: {words}. Nothing is published on this connection.",
                    name_text(" of ", facts.publish_name.as_deref()),
                    c.name
                ))
                .hint(hint)
                .at(msg_evidence(m))
                .at_opt(facts.publish.as_ref().map(|p| p.0.clone()))
            }
            Refused::Play => {
                facts.refused = true;
                Finding::new(
                    Severity::Error,
                    "play.rejected",
                    format!("Server refused to play the stream: {shown}"),
                )
                .explain(format!(
                    "The server answered play{} with {} {shown}{description}: {words}. The player gets no media.",
                    name_text(" of ", self.play_name.as_deref()),
                    c.name
                ))
                .hint(hint)
                .at(msg_evidence(m))
                .at_opt(facts.play.clone())
            }
            Refused::CreateStream => {
                facts.refused = true;
                Finding::new(
                    Severity::Error,
                    "command.failed",
                    format!("Server refused createStream: {shown}"),
                )
                .explain(format!(
                    "The server answered createStream with {} {shown}{description}. Without the stream id that createStream returns, the client can neither publish nor play.",
                    c.name
                ))
                .hint("the server may limit streams per connection or refuse this client; read its log for this connection")
                .at(msg_evidence(m))
            }
            Refused::Other => Finding::new(
                Severity::Info,
                "command.error",
                format!(
                    "Server answered {} with {} {shown}",
                    reply_to.unwrap_or("a command"),
                    c.name
                ),
            )
            .explain(format!(
                "The server refused or does not implement {}{description}. Many servers answer releaseStream, FCPublish, FCUnpublish or getStreamLength so, and clients carry on; it matters only if what follows fails.",
                reply_to.unwrap_or("a command the client sent")
            ))
            .hint("nothing to do if the publish or play itself succeeded")
            .at(msg_evidence(m)),
        };
        sink.raise(facts, f);
    }

    fn client_media(&mut self, m: &MessageEvent, facts: &Facts, sink: &mut Sink) {
        if facts.publish.is_none() {
            if self.media_without_publish.is_none() {
                self.media_without_publish = Some(msg_evidence(m));
            }
            return;
        }
        // Only with capture times is the order between the directions known.
        if !facts.timed || facts.publish_started || facts.refused {
            return;
        }
        let f = Finding::new(
            Severity::Warning,
            "publish.media_before_start",
            "The client sends audio/video before the server confirmed the publish",
        )
        .explain("The client sent publish and then media before the server answered with NetStream.Publish.Start. Servers that are still checking the stream key (an on_publish callback, a platform's auth) drop what arrives before, often including the sequence headers, so players cannot decode the stream.")
        .hint("make the encoder wait for NetStream.Publish.Start before sending media (ffmpeg and OBS do); a custom client should read the server's replies after publish")
        .at(msg_evidence(m))
        .at_opt(facts.publish.as_ref().map(|p| p.0.clone()));
        sink.raise(facts, f);
    }

    pub(super) fn finish(&mut self, facts: &mut Facts, sink: &mut Sink) {
        if !facts.has_start() {
            return;
        }
        if let Some((e, id)) = self.unknown.first() {
            let returned = if self.created.is_empty() {
                "no createStream result was seen".to_string()
            } else {
                let ids: Vec<String> = self.created.iter().map(|i| i.to_string()).collect();
                format!("createStream returned other ids (here: {})", ids.join(", "))
            };
            let f = Finding::new(
                Severity::Error,
                "publish.unknown_stream_id",
                format!("publish is sent on stream id {id}, which no createStream returned"),
            )
            .explain(format!(
                "A client must publish on the message stream id that the server's createStream result gave it; {returned}. Servers ignore or refuse a publish on a stream they never created."
            ))
            .hint("the client's stream id bookkeeping is wrong: use the number from createStream's _result as the message stream id of publish and of the media that follows")
            .at(e.clone());
            sink.raise(facts, f);
        }
        if facts.publish.is_none() {
            if let Some(e) = &self.media_without_publish {
                let f = Finding::new(
                    Severity::Error,
                    "publish.media_before_start",
                    "The client sends audio/video without ever sending publish",
                )
                .explain("Audio and video reach a server's stream only after publish (connect, createStream, publish, then media). This client sent media without publish, so the server discards it.")
                .hint("make the client send publish with the stream key on the stream id createStream returned, and wait for NetStream.Publish.Start")
                .at(e.clone());
                sink.raise(facts, f);
            }
        }
        self.dropped(facts, sink);
        self.no_media(facts, sink);
    }

    /// `publish.dropped`: a publish followed by nothing but the end.
    fn dropped(&self, facts: &Facts, sink: &mut Sink) {
        let Some((publish, _)) = &facts.publish else {
            return;
        };
        if facts.refused
            || facts.open_at_end
            || facts.unpublished.is_some()
            || facts.media_after_publish > 0
        {
            return;
        }
        let key = name_text(" ", facts.publish_name.as_deref());
        // Only a client that closed strictly first left by itself. On a tie (the
        // proxy can see both ends go at the same instant) the server may well
        // have hung up first, as nginx does on a denied publish.
        let client_left = match facts.first_closer() {
            Some((Direction::ClientToServer, c))
                if facts.closed[1].is_none_or(|s| c.time < s.time) =>
            {
                Some(c)
            }
            _ => None,
        };
        if let Some(c) = client_left {
            // The publisher left by itself: the server did not drop it.
            let waited = if facts.publish_time > 0.0 && c.time >= facts.publish_time {
                format!(" {:.1} s after publishing", c.time - facts.publish_time)
            } else {
                String::new()
            };
            let confirmed = if facts.publish_started {
                "the server confirmed it with NetStream.Publish.Start"
            } else {
                "the server did not confirm it (no NetStream.Publish.Start, no error)"
            };
            let f = Finding::new(
                Severity::Error,
                "publish.no_media_sent",
                format!(
                    "The publisher sent no audio or video and {} the connection{waited}",
                    c.verb()
                ),
            )
            .explain(format!(
                "The client published{key}, {confirmed}, and then sent not a single audio or video frame before it ended the connection itself: the server did not drop it. The encoder had nothing to send: its input never started or stalled (a camera, capture card, pipe or source URL that delivers nothing), or its encoder failed, and it gave up or was stopped."
            ))
            .hint("look at the encoder's side: its input (does it deliver frames?), its log around the time of the close, and whether it was stopped or killed")
            .at(publish.clone())
            .at_opt(self.publish_start.clone())
            .at_opt(facts.last[0].map(|l| l.plain(Direction::ClientToServer)));
            sink.raise(facts, f);
            return;
        }
        let title = match facts.closed[1] {
            Some(c) => format!("The server {} the connection right after publish", c.verb()),
            None => "The session ends right after publish, before any audio or video".to_string(),
        };
        let explanation = if facts.publish_started {
            format!("The client published{key} and the server confirmed it with NetStream.Publish.Start, but the session ended before a single audio or video frame went through. nginx-rtmp does exactly this when an access rule (`deny publish`) refuses the client: it sends Publish.Start and closes the connection in the same breath, and the encoder's next write fails.")
        } else {
            format!("The client published{key}, the server never confirmed the publish (no NetStream.Publish.Start, no error) and the session ended before any audio or video went through. A server that refuses a stream key silently does this: nginx-rtmp when an on_publish callback answers with an error, many platforms for a wrong or expired key.")
        };
        let f = Finding::new(Severity::Error, "publish.dropped", title)
            .explain(explanation)
            .hint("the server refused this stream without saying why over RTMP: check the stream key, then the server's log for this client (nginx-rtmp: allow/deny publish rules and the on_publish callback, which must answer 2xx)")
            .at(publish.clone())
            .at_opt(self.publish_start.clone())
            .at_opt(
                facts.incomplete[0]
                    .clone()
                    .or_else(|| facts.last[1].map(|l| l.plain(Direction::ServerToClient))),
            );
        sink.raise(facts, f);
    }

    /// `play.no_media`: a player that got nothing to play.
    fn no_media(&self, facts: &Facts, sink: &mut Sink) {
        let Some(play) = &facts.play else {
            return;
        };
        if facts.publish.is_some() || facts.refused || facts.open_at_end || facts.server_media > 0 {
            return;
        }
        let confirmed = if self.play_start.is_some() {
            " and the server confirmed with NetStream.Play.Start"
        } else {
            ""
        };
        let f = Finding::new(
            Severity::Error,
            "play.no_media",
            "The player got no audio or video",
        )
        .explain(format!(
            "The client asked to play{}{confirmed}, but not a single audio or video frame came back before the session ended. nginx-rtmp answers a play of a stream nobody publishes with Play.Start and then waits for a publisher: the player times out.",
            name_text(" ", self.play_name.as_deref())
        ))
        .hint(status_words("NetStream.Play.StreamNotFound", "").1)
        .at(play.clone())
        .at_opt(self.play_start.clone());
        sink.raise(facts, f);
    }
}

/// `{sep}'abcd…'` for a stream name, redacted, or nothing without a name.
fn name_text(sep: &str, name: Option<&str>) -> String {
    match name.map(|n| n.split('?').next().unwrap_or(n)) {
        Some(n) if !n.is_empty() => format!("{sep}'{}'", redact(n)),
        _ => String::new(),
    }
}

/// ` ("description")`, with stream keys hidden, or nothing.
fn description_text(facts: &Facts, description: Option<&str>) -> String {
    match description {
        Some(d) if !d.is_empty() => format!(" (\"{}\")", facts.scrub(d)),
        _ => String::new(),
    }
}

/// Plain words for a NetStream / NetConnection status code, and a hint.
fn status_words(code: &str, description: &str) -> (&'static str, String) {
    let d = description.to_ascii_lowercase();
    match code {
        "NetStream.Publish.BadName" => {
            if d.contains("already") {
                (
                    "another encoder is already publishing this stream key",
                    "the stream key is already in use: stop the other encoder (or a stale session of this one) and publish again; nginx-rtmp frees the name when the old publisher's connection closes (drop_idle_publisher shortens that)".into(),
                )
            } else {
                (
                    "the stream name (key) is already in use or not allowed",
                    "the stream key is already in use or not allowed; check the key and that no other encoder is publishing it".into(),
                )
            }
        }
        "NetStream.Publish.Denied" | "NetStream.Publish.Rejected" | "NetStream.Publish.Unauthorized" | "NetStream.Publish.Forbidden" => (
            "the server does not let this client publish this stream",
            "check the stream key (and any token in the URL) and the server's publish permissions: nginx-rtmp `allow/deny publish` and on_publish callbacks, SRS http_hooks, the platform's key".into(),
        ),
        "NetStream.Publish.Failed" => (
            "the server could not start the publish",
            "read the server's log for this stream (recording path not writable, a failing on_publish callback, a codec it refuses)".into(),
        ),
        "NetStream.Play.StreamNotFound" => (
            "nothing is published under that stream name",
            "check the stream name the player asks for against the one the encoder publishes (same application, same key, case-sensitive), and that the publisher is live".into(),
        ),
        "NetStream.Play.Failed" | "NetStream.Play.Denied" | "NetStream.Play.Rejected" => (
            "the server refused or failed to play the stream",
            "check the server's play permissions (nginx-rtmp `allow/deny play`, on_play) and its log".into(),
        ),
        "NetStream.Record.NoAccess" | "NetStream.Record.Failed" => (
            "the server cannot record the stream",
            "check the server's recording path and permissions".into(),
        ),
        "NetConnection.Call.Failed" => (
            "the server does not know or refused this command",
            "the server does not implement this call; if publishing works anyway, ignore it".into(),
        ),
        _ if d.contains("auth") || d.contains("token") || d.contains("key") => (
            "the server refused the stream, apparently for its key or authentication",
            "check the stream key and any token or password in the URL".into(),
        ),
        _ => (
            "the server reported an error for this stream",
            "the code and description above are the server's words; its log has the details".into(),
        ),
    }
}
