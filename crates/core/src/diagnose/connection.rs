//! Connection rules: connect rejected or never answered, app and tcUrl that
//! disagree, objectEncoding mismatches.
//!
//! | code | severity | when |
//! | --- | --- | --- |
//! | `connect.rejected` | error | `_error` to connect, or NetConnection.Connect.Rejected/Failed/InvalidApp/… |
//! | `connect.no_reply` | error | connect got no `_result`/`_error`: within 10 s (live, with capture times) or by the end |
//! | `connect.app_mismatch` | warning | the `app` field is not the application path of `tcUrl` |
//! | `connect.object_encoding` | warning | the server answered another objectEncoding, or AMF3 commands after objectEncoding 0 |

use crate::command::{Command, CommandInfo};
use crate::message::{Body, MSG_COMMAND_AMF3};
use crate::session::{Direction, Event, MessageEvent};

use super::{msg_evidence, redact_query, Evidence, Facts, Finding, Severity, Sink};

/// Seconds without an answer to connect before `connect.no_reply` is raised live.
pub const CONNECT_TIMEOUT: f64 = 10.0;

/// State of the connection rules.
#[derive(Debug, Default)]
pub(super) struct Rules {
    app: Option<String>,
    tc_url: Option<String>,
    /// objectEncoding the client asked for (absent = 0).
    client_encoding: f64,
    rejected: bool,
}

/// The path of a tcUrl (`rtmp://host:port/app/inst?q` → `app/inst`), without query.
fn tc_path(tc_url: &str) -> Option<&str> {
    let rest = tc_url.split_once("://")?.1;
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    Some(path.split('?').next().unwrap_or("").trim_matches('/'))
}

/// Whether an app name fits a tcUrl path (equal, or one extends the other by path segments).
fn app_fits(app: &str, path: &str) -> bool {
    let app = app.split('?').next().unwrap_or("").trim_matches('/');
    if app == path {
        return true;
    }
    let extends = |long: &str, short: &str| {
        !short.is_empty()
            && long.len() > short.len()
            && long.starts_with(short)
            && long.as_bytes().get(short.len()) == Some(&b'/')
    };
    extends(path, app) || extends(app, path)
}

/// A status code that means connect failed.
fn connect_failure(code: &str) -> bool {
    code.starts_with("NetConnection.Connect.")
        && !matches!(
            code,
            "NetConnection.Connect.Success" | "NetConnection.Connect.Closed"
        )
}

fn connect_hint(code: &str, description: &str, app: Option<&str>) -> String {
    let d = description.to_ascii_lowercase();
    if d.contains("authmod")
        || d.contains("auth")
        || d.contains("password")
        || d.contains("401")
        || d.contains("403")
    {
        return "the server requires authentication: put the user name and password (or the token) the server expects in the URL, e.g. rtmp://user:pass@host/app/key, or use the publishing URL your platform gives you".into();
    }
    match code {
        "NetConnection.Connect.InvalidApp" => format!(
            "the application {} does not exist on the server: the URL is rtmp://host/APP/STREAM_KEY, check the APP part",
            app.map_or("".into(), |a| format!("'{a}'"))
        ),
        "NetConnection.Connect.AppShutdown" => "the application is shutting down or disabled on the server; try again later or ask the server's operator".into(),
        "NetConnection.Connect.Failed" => "the server failed to accept the connection; its log says why (overload, a failing connect callback)".into(),
        _ => "the server refused the connection: check the application name in the URL, any token or query string the server expects, and the server's access rules (allowed IP addresses, vhosts)".into(),
    }
}

impl Rules {
    pub(super) fn observe(&mut self, ev: &Event, facts: &mut Facts, sink: &mut Sink) {
        let Event::Message(m) = ev else {
            return;
        };
        let Body::Command(c) = &m.body else {
            return;
        };
        match m.dir {
            Direction::ClientToServer => self.client_command(m, c, facts, sink),
            Direction::ServerToClient => self.server_command(m, c, facts, sink),
        }
    }

    fn client_command(
        &mut self,
        m: &MessageEvent,
        c: &Command,
        facts: &mut Facts,
        sink: &mut Sink,
    ) {
        if let CommandInfo::Connect(conn) = &c.info {
            if self.app.is_some() || self.tc_url.is_some() {
                return;
            }
            self.app = conn.app.clone();
            self.tc_url = conn.tc_url.clone();
            self.client_encoding = conn.object_encoding.unwrap_or(0.0);
            facts.client_fourcc = conn.fourcc_list.clone();
            if let (Some(app), Some(tc)) = (&conn.app, &conn.tc_url) {
                if let Some(path) = tc_path(tc) {
                    if !app_fits(app, path) {
                        let f = Finding::new(
                            Severity::Warning,
                            "connect.app_mismatch",
                            format!(
                                "connect's app '{}' does not match its tcUrl {}",
                                redact_query(app),
                                redact_query(tc)
                            ),
                        )
                        .explain(format!(
                            "The application named in `app` should be the path of `tcUrl` (rtmp://host/APP). Here the tcUrl's path is '{}'. Servers pick the application from one or the other (nginx-rtmp from app, others from tcUrl), so the client may land in an application it did not mean, or be refused.",
                            redact_query(path)
                        ))
                        .hint("give the encoder the server URL as rtmp://host[:port]/APP and the stream key separately (or rtmp://host/APP/KEY); if the encoder builds tcUrl itself, check its 'server' and 'app' settings agree")
                        .at(msg_evidence(m));
                        sink.raise(facts, f);
                    }
                }
            }
            return;
        }
        if m.raw.type_id == MSG_COMMAND_AMF3
            && self.client_encoding != 3.0
            && facts.connect.is_some()
        {
            let f = Finding::new(
                Severity::Warning,
                "connect.object_encoding",
                format!("The client sends AMF3 commands ({}) after connecting with objectEncoding {}", c.name, self.client_encoding),
            )
            .explain("Command messages of type 17 carry AMF3 values. The client's connect asked for objectEncoding 0 (AMF0 only), so the server may not expect or understand AMF3 here.")
            .hint("make the client connect with objectEncoding 3 if it needs AMF3, or send AMF0 commands (type 20)")
            .at(msg_evidence(m));
            sink.raise(facts, f);
        }
    }

    fn server_command(
        &mut self,
        m: &MessageEvent,
        c: &Command,
        facts: &mut Facts,
        sink: &mut Sink,
    ) {
        let to_connect = m.reply_to.as_deref() == Some("connect");
        if to_connect {
            if let CommandInfo::Result { .. } = &c.info {
                // Enhanced RTMP: the server lists the codecs it accepts in connect's result.
                for n in c.args() {
                    if let Some(list) = n.value.get("fourCcList").and_then(|l| l.value.items()) {
                        facts.server_fourcc = Some(
                            list.iter()
                                .filter_map(|i| {
                                    i.value.as_str().map(|s| s.to_string_lossy().into_owned())
                                })
                                .collect(),
                        );
                    }
                }
                let server_enc = c
                    .args()
                    .iter()
                    .find_map(|n| n.value.get("objectEncoding").and_then(|v| v.value.as_f64()));
                if let Some(enc) = server_enc {
                    if enc != self.client_encoding {
                        let f = Finding::new(
                            Severity::Warning,
                            "connect.object_encoding",
                            format!(
                                "objectEncoding mismatch: the client asked for {} and the server answered {enc}",
                                self.client_encoding
                            ),
                        )
                        .explain("objectEncoding in connect chooses AMF0 (0) or AMF3 (3) for the session's commands and data; the server's connect result says which one it will use. When they differ, one side sends values the other decodes wrongly (shared objects, remote calls, sometimes metadata).")
                        .hint("set the client's objectEncoding to what the server supports (AMF0 is the safe choice for publishing)")
                        .at(msg_evidence(m))
                        .at_opt(facts.connect.clone());
                        sink.raise(facts, f);
                    }
                }
            }
        }
        let status = c.status();
        let failed_code = status
            .and_then(|s| s.code.as_deref())
            .filter(|code| connect_failure(code));
        let is_error_reply = matches!(c.info, CommandInfo::Error(_)) && to_connect;
        let failed_result = to_connect
            && matches!(c.info, CommandInfo::Result { .. })
            && status.is_some_and(|s| s.level.as_deref() == Some("error"));
        if failed_code.is_none() && !is_error_reply && !failed_result {
            return;
        }
        self.rejected = true;
        facts.refused = true;
        let code = status
            .and_then(|s| s.code.clone())
            .unwrap_or_else(|| "(no code)".into());
        let description = facts.scrub(
            &status
                .and_then(|s| s.description.clone())
                .unwrap_or_default(),
        );
        let title = format!("Server rejected connect: {code}");
        let mut explanation = format!(
            "The server answered connect{} with {} {code}",
            self.app.as_deref().map_or(String::new(), |a| format!(
                " to application '{}'",
                redact_query(a)
            )),
            c.name
        );
        if !description.is_empty() {
            explanation.push_str(&format!(" (\"{description}\")"));
        }
        explanation.push_str(". Nothing can be published or played on this connection.");
        let f = Finding::new(Severity::Error, "connect.rejected", title)
            .explain(explanation)
            .hint(connect_hint(&code, &description, self.app.as_deref()))
            .at(msg_evidence(m))
            .at_opt(facts.connect.clone());
        sink.raise(facts, f);
    }

    /// Live check: connect unanswered for [`CONNECT_TIMEOUT`] seconds of capture time.
    pub(super) fn tick(&mut self, facts: &Facts, sink: &mut Sink) {
        let Some(connect) = &facts.connect else {
            return;
        };
        if facts.connect_answered || self.rejected || facts.connect_time <= 0.0 {
            return;
        }
        let waited = facts.now - facts.connect_time;
        if waited < CONNECT_TIMEOUT || sink.has("connect.no_reply") {
            return;
        }
        let f = Finding::new(
            Severity::Error,
            "connect.no_reply",
            format!("No answer to connect after {waited:.0} s"),
        )
        .explain(format!(
            "The client sent connect{} and the server has not answered with _result or _error for {waited:.1} s; clients give up after 5 to 30 s.",
            self.app_text()
        ))
        .hint(NO_REPLY_HINT)
        .at(connect.clone())
        .at_opt(facts.response[1].clone());
        sink.raise(facts, f);
    }

    fn app_text(&self) -> String {
        match (&self.app, &self.tc_url) {
            (Some(a), Some(t)) => {
                format!(" (app '{}', tcUrl {})", redact_query(a), redact_query(t))
            }
            (Some(a), None) => format!(" (app '{}')", redact_query(a)),
            _ => String::new(),
        }
    }

    pub(super) fn finish(&mut self, facts: &mut Facts, sink: &mut Sink) {
        let Some(connect) = facts.connect.clone() else {
            return;
        };
        if facts.connect_answered || self.rejected || sink.has("connect.no_reply") {
            return;
        }
        let server_closed = facts.closed[1].is_some();
        let silent = facts.count[1] == 0;
        let title = match (silent, server_closed) {
            (true, true) => {
                "The server closed the connection without answering connect".to_string()
            }
            (true, false) => {
                "The server never answered connect: not a single message came back".to_string()
            }
            (false, _) => "The server never answered connect".to_string(),
        };
        let mut explanation = format!(
            "The client sent connect{} and the server sent neither _result nor _error",
            self.app_text()
        );
        if silent {
            explanation.push_str(", nor any other message, after the handshake");
        }
        explanation.push_str(". ");
        if silent {
            explanation.push_str("nginx-rtmp does exactly this when the application in the URL does not exist: it logs 'application not found' and closes the connection without a word. ");
        }
        explanation.push_str("Without an answer to connect nothing can be published.");
        let evidence_after: Option<Evidence> = if silent {
            facts.response[1].clone()
        } else {
            facts.last[1].map(|l| l.plain(Direction::ServerToClient))
        };
        let f = Finding::new(Severity::Error, "connect.no_reply", title)
            .explain(explanation)
            .hint(NO_REPLY_HINT)
            .at(connect)
            .at_opt(evidence_after);
        sink.raise(facts, f);
    }
}

const NO_REPLY_HINT: &str = "check the application name: the URL is rtmp://host/APP/STREAM_KEY and APP must be an application the server has (nginx-rtmp: an `application APP {}` block); then check the server's log for this connection (access rules, vhosts, a connect callback that hangs)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc_url_path_drops_host_port_and_query() {
        assert_eq!(tc_path("rtmp://h:1935/live?t=1"), Some("live"));
        assert_eq!(tc_path("rtmp://h/live/inst/"), Some("live/inst"));
        assert_eq!(tc_path("rtmp://h"), Some(""));
        assert_eq!(tc_path("nonsense"), None);
    }

    #[test]
    fn app_fits_equal_and_segment_extensions_only() {
        assert!(app_fits("live", "live"));
        assert!(app_fits("live?token=x", "live"));
        assert!(app_fits("live/_definst_", "live"));
        assert!(app_fits("live", "live/_definst_"));
        assert!(!app_fits("live", "livestream"));
        assert!(!app_fits("live", "app"));
        assert!(!app_fits("", "live"));
    }

    #[test]
    fn connect_failure_codes() {
        assert!(connect_failure("NetConnection.Connect.Rejected"));
        assert!(connect_failure("NetConnection.Connect.InvalidApp"));
        assert!(!connect_failure("NetConnection.Connect.Success"));
        assert!(!connect_failure("NetConnection.Connect.Closed"));
        assert!(!connect_failure("NetStream.Publish.BadName"));
    }
}
