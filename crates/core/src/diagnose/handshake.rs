//! Handshake rules: the version byte, handshakes cut short, digests and
//! echoes that do not verify, and a session that dies right after the handshake.
//!
//! | code | severity | when |
//! | --- | --- | --- |
//! | `handshake.version` | error | C0 or S0 is not 3, or RTMPE (6) is asked and not answered in kind |
//! | `handshake.encrypted` | info | both sides agreed on RTMPE: nothing after the handshake can be decoded |
//! | `handshake.truncated` | error | a side started the handshake and did not complete it |
//! | `handshake.digest` | warning (info when the session went on) | C1/S1 claims the digest handshake but no digest verifies |
//! | `handshake.echo` | warning (info when the session went on) | C2/S2 neither echoes C1/S1 nor carries a valid signature |
//! | `handshake.closed_after` | error | the handshake completed and then nothing: no message at all |

use crate::handshake::{RTMPE_VERSION, RTMP_VERSION};
use crate::session::{Direction, Event};

use super::{dir_idx, sender, sender_cap, Evidence, Facts, Finding, Severity, Sink};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// State of the handshake rules.
#[derive(Debug, Default)]
pub(super) struct Rules {
    version: [Option<u8>; 2],
    /// C1/S1 whose digest did not verify, held until the outcome is known.
    bad_digest: [Option<Evidence>; 2],
    /// C2/S2 that neither echoes nor verifies.
    bad_echo: [Option<Evidence>; 2],
}

fn part_names(dir: Direction) -> (&'static str, &'static str) {
    match dir {
        Direction::ClientToServer => ("C0+C1", "C2"),
        Direction::ServerToClient => ("S0+S1", "S2"),
    }
}

impl Rules {
    pub(super) fn observe(&mut self, ev: &Event, facts: &mut Facts, sink: &mut Sink) {
        let Event::Handshake(h) = ev else {
            return;
        };
        let d = dir_idx(h.dir);
        let here = Evidence {
            dir: h.dir,
            index: None,
            offset: h.offset,
            what: format!("handshake {}", h.part.as_str()),
        };
        if let Some(hello) = &h.hello {
            self.version[d] = Some(hello.version);
            let v = hello.version;
            if v != RTMP_VERSION && v != RTMPE_VERSION {
                let what = match v {
                    0x16 => {
                        "a TLS record (0x16): this is RTMPS (RTMP over TLS) or another TLS protocol"
                            .to_string()
                    }
                    b'A'..=b'Z' | b'a'..=b'z' => format!(
                        "the ASCII letter '{}': this looks like HTTP or another text protocol",
                        v as char
                    ),
                    _ => format!("{v:#04x}, which no RTMP version uses"),
                };
                let f = Finding::new(
                    Severity::Error,
                    "handshake.version",
                    format!("{} sent version {v} instead of RTMP 3", sender_cap(h.dir)),
                )
                .explain(format!(
                    "The first byte a {} sends ({}) is the protocol version: 3 for RTMP, 6 for encrypted RTMPE. Here it is {what}. The other side cannot speak to it as RTMP.",
                    sender(h.dir),
                    if h.dir == C2S { "C0" } else { "S0" }
                ))
                .hint(if v == 0x16 {
                    "use rtmps:// only with a server that offers RTMPS on that port (usually 443), and rtmp:// otherwise; to see inside RTMPS, put `rtmpscope proxy` in front of the server"
                } else {
                    "check that the URL's scheme and port match the server (rtmp:// on 1935 by default, rtmps:// on 443) and that nothing between them (an HTTP proxy, a load balancer) answers instead"
                })
                .at(here.clone());
                sink.raise(facts, f);
            }
            if h.dir == S2C {
                self.check_rtmpe(facts, sink, here.clone());
            }
            if !hello.digest_valid {
                self.bad_digest[d] = Some(Evidence {
                    what: format!(
                        "{} with version field {} and no valid digest",
                        part_names(h.dir).0,
                        hello.peer_version_string()
                    ),
                    ..here
                });
            }
        } else if let Some(echo) = &h.echo {
            if echo.echo == Some(false) && echo.digest_valid != Some(true) {
                self.bad_echo[d] = Some(Evidence {
                    what: format!(
                        "{} that neither echoes {} nor carries a valid signature",
                        part_names(h.dir).1,
                        part_names(h.dir.reverse()).0
                    ),
                    ..here
                });
            }
        }
    }

    /// Client and server versions, once the server's S0 is known.
    fn check_rtmpe(&mut self, facts: &Facts, sink: &mut Sink, s0: Evidence) {
        let (Some(c), Some(s)) = (self.version[0], self.version[1]) else {
            return;
        };
        if c == RTMPE_VERSION && s == RTMPE_VERSION {
            let f = Finding::new(
                Severity::Info,
                "handshake.encrypted",
                "The session uses RTMPE (encrypted RTMP): its messages cannot be decoded",
            )
            .explain("Both sides chose version 6, Adobe's RTMPE obfuscation. Everything after the handshake is encrypted, so no message of this session can be shown or checked.")
            .hint("to inspect the session, make the client use plain rtmp:// (or rtmps://, which `rtmpscope proxy` can decode)")
            .at_opt(facts.hello[0].clone())
            .at(s0);
            sink.raise(facts, f);
        } else if c == RTMPE_VERSION && s == RTMP_VERSION {
            let f = Finding::new(
                Severity::Error,
                "handshake.version",
                "The client asked for RTMPE (version 6) and the server answered with plain RTMP",
            )
            .explain("The client's C0 asks for encrypted RTMPE; the server's S0 says 3, so the server does not support RTMPE and the two sides will not understand each other.")
            .hint("use rtmp:// (or rtmps://) instead of rtmpe:// for this server")
            .at_opt(facts.hello[0].clone())
            .at(s0);
            sink.raise(facts, f);
        } else if s == RTMPE_VERSION && c == RTMP_VERSION {
            let f = Finding::new(
                Severity::Error,
                "handshake.version",
                "The server answered a plain RTMP handshake with RTMPE (version 6)",
            )
            .explain("The client's C0 says 3 (plain RTMP) but the server's S0 says 6 (RTMPE): the server insists on encryption the client did not ask for.")
            .hint("configure the server to accept plain RTMP, or use a client that supports rtmpe://")
            .at_opt(facts.hello[0].clone())
            .at(s0);
            sink.raise(facts, f);
        }
    }

    pub(super) fn finish(&mut self, facts: &mut Facts, sink: &mut Sink) {
        let Some(c0) = facts.hello[0].clone() else {
            // No C0+C1: the capture started mid-stream (or holds nothing).
            return;
        };
        let plain = self.version[0] == Some(RTMP_VERSION)
            && self.version[1].is_none_or(|v| v == RTMP_VERSION);
        if self.version[0] == Some(RTMPE_VERSION) && facts.hello[1].is_none() {
            let f = Finding::new(
                Severity::Error,
                "handshake.version",
                "The client asked for RTMPE (version 6) and the server never answered",
            )
            .explain("The client's C0 asks for encrypted RTMPE and the server sent nothing back: servers without RTMPE support often just close the connection.")
            .hint("use rtmp:// (or rtmps://) instead of rtmpe:// for this server")
            .at(c0.clone());
            sink.raise(facts, f);
        }
        if plain {
            self.truncated(facts, sink, c0);
        }
        let died = facts.count[0] == 0 || facts.count[1] == 0;
        for d in [C2S, S2C] {
            let i = dir_idx(d);
            if let Some(e) = self.bad_digest[i].take() {
                let (sev, outcome) = if died {
                    (
                        Severity::Warning,
                        " The session did not get past the handshake, and this may be why.",
                    )
                } else {
                    (
                        Severity::Info,
                        " The peer accepted it and the session went on.",
                    )
                };
                let f = Finding::new(
                    sev,
                    "handshake.digest",
                    format!(
                        "The {}'s {} claims the digest handshake but its digest does not verify",
                        sender(d),
                        part_names(d).0
                    ),
                )
                .explain(format!(
                    "A non-zero version field in {} announces the complex (Flash Player 9) handshake, whose HMAC-SHA256 digest sits at a position given by the packet's own bytes; neither of the two known layouts holds a valid digest here. Peers that verify it (Flash Media Server, ffmpeg and Flash Player as players) give up.{outcome}",
                    part_names(d).0
                ))
                .hint(if d == C2S {
                    "use a client that builds the digest handshake correctly (ffmpeg, OBS, librtmp), or one that uses the simple handshake with a zero version field"
                } else {
                    "the server's handshake is broken for clients that verify it; use the server's simple or complex handshake consistently (a zero version field in S1 means simple)"
                })
                .at(e);
                sink.raise(facts, f);
            }
            if let Some(e) = self.bad_echo[i].take() {
                let (sev, outcome) = if died {
                    (
                        Severity::Warning,
                        " The session did not get past the handshake, and this may be why.",
                    )
                } else {
                    (
                        Severity::Info,
                        " The peer accepted it and the session went on.",
                    )
                };
                let (own, peer) = (part_names(d).1, part_names(d.reverse()).0);
                let f = Finding::new(
                    sev,
                    "handshake.echo",
                    format!("{own} does not echo the peer's {peer}"),
                )
                .explain(format!(
                    "{own} must either repeat the peer's {peer} (simple handshake) or carry a signature derived from the digest in it (complex handshake). This one does neither, so a strict peer rejects the handshake.{outcome}"
                ))
                .hint(format!(
                    "the {} side's handshake implementation is at fault; strict peers (Flash Media Server, Wowza) close the connection on this",
                    sender(d)
                ))
                .at(e);
                sink.raise(facts, f);
            }
        }
        if facts.response[0].is_some() && facts.response[1].is_some() {
            self.closed_after(facts, sink);
        }
    }

    fn truncated(&self, facts: &Facts, sink: &mut Sink, c0: Evidence) {
        let missing = if facts.hello[1].is_none() {
            Some((S2C, "S0+S1", c0.clone()))
        } else if facts.response[1].is_none() {
            Some((S2C, "S2", facts.hello[1].clone().unwrap_or(c0.clone())))
        } else if facts.response[0].is_none() {
            Some((C2S, "C2", facts.response[1].clone().unwrap_or(c0.clone())))
        } else {
            None
        };
        let Some((dir, part, evidence)) = missing else {
            return;
        };
        let title = if part == "S0+S1" {
            "The server never answered the handshake".to_string()
        } else {
            format!("The {}'s handshake stops before {part}", sender(dir))
        };
        let explanation = if part == "S0+S1" {
            format!(
                "The client sent C0+C1 ({} bytes of its stream) and the server sent back nothing (or fewer than the 1537 bytes of S0+S1). Either nothing RTMP listens on that port, a firewall or proxy swallows the bytes, or the server refuses this client before the handshake.",
                facts.end[0]
            )
        } else {
            format!(
                "The RTMP handshake is C0+C1, S0+S1+S2, C2 (1537 + 1536 bytes each way). The {}'s {part} never arrived complete: it gave up on the handshake or the connection was cut.",
                sender(dir)
            )
        };
        let hint = if dir == S2C {
            "check the host and port (RTMP runs on 1935 by default), that the server is up, and what sits between (firewalls, proxies that expect HTTP or TLS)"
        } else {
            "the client disliked the server's S0+S1+S2: compare the handshake scheme both sides use (simple or digest) and check the client's log"
        };
        let f = Finding::new(Severity::Error, "handshake.truncated", title)
            .explain(explanation)
            .hint(hint)
            .at(evidence);
        sink.raise(facts, f);
    }

    fn closed_after(&self, facts: &Facts, sink: &mut Sink) {
        let (c, s) = (facts.count[0], facts.count[1]);
        if c > 0 {
            // The client spoke (connect …): the connection rules explain the silence.
            return;
        }
        let first_closer = facts.first_closer().map(|(dir, _)| dir);
        let title = match (s, first_closer) {
            (0, Some(S2C)) => {
                "The server closed the connection right after the handshake".to_string()
            }
            (0, Some(C2S)) => {
                "The client closed the connection right after the handshake".to_string()
            }
            (0, None) => "The session ends right after the handshake: no message from either side"
                .to_string(),
            _ => "The client sent nothing after the handshake".to_string(),
        };
        let f = Finding::new(Severity::Error, "handshake.closed_after", title)
            .explain(format!(
                "The handshake completed both ways, then the client never sent connect{}. A client gives up here when it rejects the server's handshake (players such as ffmpeg verify the digest in S1), and a server hangs up here when it refuses the client before connect (connection limits, IP bans, a proxy in front that drops the session).",
                if s == 0 { " and the server sent nothing" } else { "" }
            ))
            .hint("read the client's error output and the server's log for this connection; try the other handshake scheme (a client with the simple handshake, or with the digest handshake)")
            .at_opt(facts.response[1].clone())
            .at_opt(facts.response[0].clone());
        sink.raise(facts, f);
    }
}
