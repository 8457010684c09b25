//! `--filter`: a small expression language over events.
//!
//! Terms separated by spaces or commas must all hold. A term is
//! `KEY=VALUE` or `KEY!=VALUE`; keys:
//! `kind` (handshake, message, note, error, gap), `dir` (c2s, s2c),
//! `type` (a type id, or audio, video, command, data, control),
//! `csid`, `stream` (message stream id), `command` (command or data name),
//! `text` (a substring of the one-line summary, any case).

use anyhow::{bail, Result};
use rtmpscope_core::message::Body;
use rtmpscope_core::Event;

#[derive(Debug, Clone)]
struct Term {
    key: Key,
    neg: bool,
    value: String,
}

#[derive(Debug, Clone, Copy)]
enum Key {
    Kind,
    Dir,
    Type,
    Csid,
    Stream,
    Command,
    Text,
}

/// A parsed filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    terms: Vec<Term>,
}

impl Filter {
    /// Parses `EXPR`.
    pub fn parse(expr: &str) -> Result<Filter> {
        let mut terms = Vec::new();
        for raw in expr.split([' ', ',']).filter(|t| !t.is_empty()) {
            let (k, neg, v) = if let Some((k, v)) = raw.split_once("!=") {
                (k, true, v)
            } else if let Some((k, v)) = raw.split_once('=') {
                (k, false, v.trim_start_matches('='))
            } else {
                bail!("filter term `{raw}`: expected KEY=VALUE or KEY!=VALUE");
            };
            let key = match k {
                "kind" => Key::Kind,
                "dir" => Key::Dir,
                "type" => Key::Type,
                "csid" => Key::Csid,
                "stream" => Key::Stream,
                "command" => Key::Command,
                "text" => Key::Text,
                other => bail!(
                    "filter key `{other}`: expected one of kind, dir, type, csid, stream, command, text"
                ),
            };
            terms.push(Term {
                key,
                neg,
                value: v.to_ascii_lowercase(),
            });
        }
        Ok(Filter { terms })
    }

    /// Whether an event passes.
    pub fn matches(&self, ev: &Event) -> bool {
        self.terms.iter().all(|t| t.holds(ev) != t.neg)
    }
}

impl Term {
    fn holds(&self, ev: &Event) -> bool {
        let v = self.value.as_str();
        let kind = match ev {
            Event::Handshake(_) => "handshake",
            Event::Message(_) => "message",
            Event::Note(_) => "note",
            Event::Error(_) => "error",
            Event::Gap(_) => "gap",
        };
        match self.key {
            Key::Kind => kind == v,
            Key::Dir => ev.dir().as_str() == v,
            _ => {
                let Event::Message(m) = ev else {
                    return false;
                };
                let r = &m.raw;
                match self.key {
                    Key::Type => match v {
                        "audio" => r.type_id == 8,
                        "video" => r.type_id == 9,
                        "command" => matches!(r.type_id, 17 | 20),
                        "data" => matches!(r.type_id, 15 | 18),
                        "control" => matches!(r.type_id, 1..=6),
                        n => n.parse::<u8>().is_ok_and(|n| n == r.type_id),
                    },
                    Key::Csid => v.parse::<u32>().is_ok_and(|n| n == r.csid),
                    Key::Stream => v.parse::<u32>().is_ok_and(|n| n == r.stream_id),
                    Key::Command => match &m.body {
                        Body::Command(c) => c.name.to_ascii_lowercase() == v,
                        Body::Data(d) => d
                            .name
                            .as_deref()
                            .is_some_and(|n| n.to_ascii_lowercase() == v),
                        _ => false,
                    },
                    Key::Text => m.summary().to_ascii_lowercase().contains(v),
                    Key::Kind | Key::Dir => unreachable!("handled above"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_terms_are_explained() {
        assert!(Filter::parse("dir")
            .unwrap_err()
            .to_string()
            .contains("KEY=VALUE"));
        assert!(Filter::parse("colour=red")
            .unwrap_err()
            .to_string()
            .contains("filter key"));
        assert!(Filter::parse("dir=c2s, type!=audio").is_ok());
    }
}
