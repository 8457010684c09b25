//! Commands (types 17/20) and data messages (15/18) with their well-known
//! fields named (RTMP spec §7.2; Enhanced RTMP for `fourCcList`/`capsEx`).

use serde::Serialize;

use crate::amf::{self, Node, Value};
use crate::error::DecodeError;

/// The `level`, `code` and `description` of an info object (onStatus, _result, _error).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Status {
    /// `status`, `warning` or `error`.
    pub level: Option<String>,
    /// E.g. `NetStream.Publish.Start`.
    pub code: Option<String>,
    /// Free text from the server.
    pub description: Option<String>,
}

impl Status {
    fn from_node(n: &Node) -> Option<Status> {
        let s = |k: &str| {
            n.value
                .get(k)
                .and_then(|v| v.value.as_str())
                .map(|s| s.to_string_lossy().into_owned())
        };
        let st = Status {
            level: s("level"),
            code: s("code"),
            description: s("description"),
        };
        (st.level.is_some() || st.code.is_some()).then_some(st)
    }
}

/// The fields of `connect` that matter when a push fails.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Connect {
    /// Application name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Server URL (`rtmp://host/app`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tc_url: Option<String>,
    /// Client's Flash version string (`FMLE/3.0 (compatible; Lavf…)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flash_ver: Option<String>,
    /// SWF URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swf_url: Option<String>,
    /// Page URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    /// `nonprivate` for FMLE-style publishers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// 0 for AMF0, 3 for AMF3.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_encoding: Option<f64>,
    /// Capabilities bit field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<f64>,
    /// Supported audio codecs bit field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_codecs: Option<f64>,
    /// Supported video codecs bit field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_codecs: Option<f64>,
    /// Enhanced RTMP: codecs the client supports (FourCCs, `*` for any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fourcc_list: Vec<String>,
    /// Enhanced RTMP: extended capabilities bit field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caps_ex: Option<f64>,
}

/// What a command is, with its known fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommandInfo {
    /// `connect`.
    Connect(Connect),
    /// `createStream`.
    CreateStream,
    /// `deleteStream`.
    DeleteStream {
        /// The stream being deleted.
        stream_id: Option<f64>,
    },
    /// `closeStream`.
    CloseStream,
    /// `publish`.
    Publish {
        /// Stream name (the stream key, with any query string).
        name: Option<String>,
        /// `live`, `record` or `append`.
        publish_type: Option<String>,
    },
    /// `play`.
    Play {
        /// Stream name.
        name: Option<String>,
        /// Start: -2 live or recorded, -1 live only, ≥0 seconds into a recording.
        start: Option<f64>,
        /// Duration: -1 until the end.
        duration: Option<f64>,
        /// Whether to flush previous playlists.
        reset: Option<bool>,
    },
    /// `play2`.
    Play2,
    /// `seek`.
    Seek {
        /// Milliseconds.
        ms: Option<f64>,
    },
    /// `pause`.
    Pause {
        /// True to pause, false to resume.
        pause: Option<bool>,
        /// Milliseconds.
        ms: Option<f64>,
    },
    /// `receiveAudio`.
    ReceiveAudio {
        /// Whether to send audio.
        flag: Option<bool>,
    },
    /// `receiveVideo`.
    ReceiveVideo {
        /// Whether to send video.
        flag: Option<bool>,
    },
    /// `releaseStream`.
    ReleaseStream {
        /// Stream name.
        name: Option<String>,
    },
    /// `FCPublish`.
    FcPublish {
        /// Stream name.
        name: Option<String>,
    },
    /// `FCUnpublish`.
    FcUnpublish {
        /// Stream name.
        name: Option<String>,
    },
    /// `FCSubscribe`.
    FcSubscribe {
        /// Stream name.
        name: Option<String>,
    },
    /// `getStreamLength`.
    GetStreamLength {
        /// Stream name.
        name: Option<String>,
    },
    /// `onStatus`, `onFCPublish`, `onFCUnpublish`.
    Status(Status),
    /// `_result`.
    Result {
        /// The info object's status, if any (connect's result).
        status: Option<Status>,
        /// A number argument (createStream's result: the new stream id).
        number: Option<f64>,
    },
    /// `_error`.
    Error(Status),
    /// `onBWDone`.
    OnBwDone,
    /// `_checkbw`.
    CheckBw,
    /// Any other command.
    Other,
}

/// A decoded command message.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Command name (lossy UTF-8).
    pub name: String,
    /// Transaction id.
    pub transaction_id: Option<f64>,
    /// Every AMF value of the body, the name and transaction id included.
    pub values: Vec<Node>,
    /// Offset of the first value within the message payload (spans are relative to it).
    pub base: usize,
    /// The known fields.
    pub info: CommandInfo,
}

fn string_at(values: &[Node], i: usize) -> Option<String> {
    values
        .get(i)
        .and_then(|n| n.value.as_str())
        .map(|s| s.to_string_lossy().into_owned())
}

fn number_at(values: &[Node], i: usize) -> Option<f64> {
    values.get(i).and_then(|n| n.value.as_f64())
}

fn bool_at(values: &[Node], i: usize) -> Option<bool> {
    values.get(i).and_then(|n| n.value.as_bool())
}

fn connect_fields(obj: Option<&Node>) -> Connect {
    let Some(o) = obj else {
        return Connect::default();
    };
    let s = |k: &str| {
        o.value
            .get(k)
            .and_then(|v| v.value.as_str())
            .map(|s| s.to_string_lossy().into_owned())
    };
    let n = |k: &str| o.value.get(k).and_then(|v| v.value.as_f64());
    let fourcc_list = o
        .value
        .get("fourCcList")
        .map(|l| match &l.value {
            Value::StrictArray(items) => items
                .iter()
                .filter_map(|i| i.value.as_str().map(|s| s.to_string_lossy().into_owned()))
                .collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    Connect {
        app: s("app"),
        tc_url: s("tcUrl"),
        flash_ver: s("flashVer").or_else(|| s("flashver")),
        swf_url: s("swfUrl"),
        page_url: s("pageUrl"),
        kind: s("type"),
        object_encoding: n("objectEncoding"),
        capabilities: n("capabilities"),
        audio_codecs: n("audioCodecs"),
        video_codecs: n("videoCodecs"),
        fourcc_list,
        caps_ex: n("capsEx"),
    }
}

fn info_of(name: &str, v: &[Node]) -> CommandInfo {
    // Layout (§7.2): name, transaction id, command object (or null), arguments…
    let arg = |i: usize| string_at(v, 3 + i);
    match name {
        "connect" => CommandInfo::Connect(connect_fields(v.get(2))),
        "createStream" => CommandInfo::CreateStream,
        "deleteStream" => CommandInfo::DeleteStream {
            stream_id: number_at(v, 3),
        },
        "closeStream" => CommandInfo::CloseStream,
        "publish" => CommandInfo::Publish {
            name: arg(0),
            publish_type: arg(1),
        },
        "play" => CommandInfo::Play {
            name: arg(0),
            start: number_at(v, 4),
            duration: number_at(v, 5),
            reset: bool_at(v, 6),
        },
        "play2" => CommandInfo::Play2,
        "seek" => CommandInfo::Seek {
            ms: number_at(v, 3),
        },
        "pause" => CommandInfo::Pause {
            pause: bool_at(v, 3),
            ms: number_at(v, 4),
        },
        "receiveAudio" => CommandInfo::ReceiveAudio {
            flag: bool_at(v, 3),
        },
        "receiveVideo" => CommandInfo::ReceiveVideo {
            flag: bool_at(v, 3),
        },
        "releaseStream" => CommandInfo::ReleaseStream { name: arg(0) },
        "FCPublish" => CommandInfo::FcPublish { name: arg(0) },
        "FCUnpublish" => CommandInfo::FcUnpublish { name: arg(0) },
        "FCSubscribe" => CommandInfo::FcSubscribe { name: arg(0) },
        "getStreamLength" => CommandInfo::GetStreamLength { name: arg(0) },
        "onStatus" | "onFCPublish" | "onFCUnpublish" => CommandInfo::Status(
            v.iter()
                .skip(2)
                .find_map(Status::from_node)
                .unwrap_or_default(),
        ),
        "_result" => CommandInfo::Result {
            status: v.iter().skip(2).find_map(Status::from_node),
            number: v.iter().skip(2).find_map(|n| n.value.as_f64()),
        },
        "_error" => CommandInfo::Error(
            v.iter()
                .skip(2)
                .find_map(Status::from_node)
                .unwrap_or_default(),
        ),
        "onBWDone" => CommandInfo::OnBwDone,
        "_checkbw" => CommandInfo::CheckBw,
        _ => CommandInfo::Other,
    }
}

impl Command {
    /// Decodes a command body (AMF0 values, with AVM+ switches to AMF3).
    /// `base` is the body's offset within the message payload.
    /// Returns `None` when not even the command name decodes.
    pub fn decode(data: &[u8], base: usize) -> (Option<Command>, Option<DecodeError>) {
        let (values, err) = amf::amf0::decode_all(data);
        let err = err.map(|e| e.at(base as u64));
        let Some(name) = string_at(&values, 0) else {
            let err = err.or_else(|| {
                Some(DecodeError::new(
                    base,
                    "a command name (AMF0 string)",
                    match values.first() {
                        Some(n) => n.value.type_name().to_string(),
                        None => "no value".into(),
                    },
                ))
            });
            return (None, err);
        };
        let info = info_of(&name, &values);
        (
            Some(Command {
                transaction_id: number_at(&values, 1),
                name,
                info,
                values,
                base,
            }),
            err,
        )
    }

    /// The command object (third value), if any.
    pub fn object(&self) -> Option<&Node> {
        self.values.get(2)
    }

    /// Values after the transaction id (the command object and arguments).
    pub fn args(&self) -> &[Node] {
        self.values.get(2..).unwrap_or(&[])
    }

    /// The status of onStatus/_result/_error, if any.
    pub fn status(&self) -> Option<&Status> {
        match &self.info {
            CommandInfo::Status(s) | CommandInfo::Error(s) => Some(s),
            CommandInfo::Result { status, .. } => status.as_ref(),
            _ => None,
        }
    }

    /// One line: `connect app=live tcUrl=rtmp://…`, `publish cam1 live`, `onStatus NetStream.Publish.Start`.
    pub fn summary(&self) -> String {
        let q = |s: &Option<String>| s.as_deref().map(shorten).unwrap_or_else(|| "?".into());
        match &self.info {
            CommandInfo::Connect(c) => {
                let mut s = format!("connect app={} tcUrl={}", q(&c.app), q(&c.tc_url));
                if !c.fourcc_list.is_empty() {
                    s.push_str(&format!(" fourCcList={}", c.fourcc_list.join(",")));
                }
                s
            }
            CommandInfo::Publish { name, publish_type } => {
                format!("publish {} {}", q(name), q(publish_type))
            }
            CommandInfo::Play {
                name,
                start,
                duration,
                ..
            } => {
                let mut s = format!("play {}", q(name));
                if let Some(st) = start {
                    s.push_str(&format!(" start={st}"));
                }
                if let Some(d) = duration {
                    s.push_str(&format!(" duration={d}"));
                }
                s
            }
            CommandInfo::DeleteStream {
                stream_id: Some(id),
            } => format!("deleteStream {id}"),
            CommandInfo::ReleaseStream { name }
            | CommandInfo::FcPublish { name }
            | CommandInfo::FcUnpublish { name }
            | CommandInfo::FcSubscribe { name }
            | CommandInfo::GetStreamLength { name } => format!("{} {}", self.name, q(name)),
            CommandInfo::Status(st) | CommandInfo::Error(st) => status_line(&self.name, st),
            CommandInfo::Result {
                status: Some(st), ..
            } => status_line(&self.name, st),
            CommandInfo::Result {
                number: Some(n), ..
            } => format!("_result {n}"),
            CommandInfo::ReceiveAudio { flag } | CommandInfo::ReceiveVideo { flag } => {
                format!(
                    "{} {}",
                    self.name,
                    flag.map_or("?".into(), |f| f.to_string())
                )
            }
            _ => shorten(&self.name),
        }
    }
}

fn status_line(name: &str, st: &Status) -> String {
    let mut s = format!("{name} {}", st.code.as_deref().unwrap_or("(no code)"));
    if let Some(d) = &st.description {
        if !d.is_empty() {
            s.push_str(&format!(" \"{}\"", shorten(d)));
        }
    }
    s
}

/// Cuts long strings for one-line summaries.
fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '·' } else { c })
        .collect();
    if clean.chars().count() <= MAX {
        clean
    } else {
        let mut t: String = clean.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

/// A data message: `@setDataFrame`, `onMetaData`, `|RtmpSampleAccess`, …
#[derive(Debug, Clone, PartialEq)]
pub struct DataMessage {
    /// First string value (the handler name), if any.
    pub name: Option<String>,
    /// Every AMF value.
    pub values: Vec<Node>,
    /// Offset of the first value within the message payload.
    pub base: usize,
}

impl DataMessage {
    /// Decodes a data message body.
    pub fn decode(data: &[u8], base: usize) -> (DataMessage, Option<DecodeError>) {
        let (values, err) = amf::amf0::decode_all(data);
        (
            DataMessage {
                name: string_at(&values, 0),
                values,
                base,
            },
            err.map(|e| e.at(base as u64)),
        )
    }

    /// The metadata object of `@setDataFrame onMetaData {…}` or `onMetaData {…}`.
    pub fn metadata(&self) -> Option<&Node> {
        let is_meta = |i: usize| string_at(&self.values, i).as_deref() == Some("onMetaData");
        let at = if is_meta(0) {
            1
        } else if is_meta(1) {
            2
        } else {
            return None;
        };
        self.values.get(at)
    }

    /// A metadata number (`width`, `framerate`, `videodatarate`, …).
    pub fn meta_number(&self, key: &str) -> Option<f64> {
        self.metadata()?.value.get(key)?.value.as_f64()
    }

    /// One line: `@setDataFrame onMetaData 320x240 25 fps video=7 audio=10`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for v in self.values.iter().take(2) {
            match v.value.as_str() {
                Some(x) => {
                    if !s.is_empty() {
                        s.push(' ');
                    }
                    s.push_str(&shorten(&x.to_string_lossy()));
                }
                None => break,
            }
        }
        if s.is_empty() {
            s.push_str("Data");
        }
        if self.metadata().is_some() {
            if let (Some(w), Some(h)) = (self.meta_number("width"), self.meta_number("height")) {
                s.push_str(&format!(" {w}x{h}"));
            }
            if let Some(f) = self.meta_number("framerate") {
                s.push_str(&format!(" {f} fps"));
            }
            let codec = |k: &str| {
                self.metadata()
                    .and_then(|m| m.value.get(k))
                    .map(|n| match n.value.as_str() {
                        Some(st) => st.to_string_lossy().into_owned(),
                        None => n.value.as_f64().map_or("?".into(), |f| f.to_string()),
                    })
            };
            if let Some(c) = codec("videocodecid") {
                s.push_str(&format!(" video={c}"));
            }
            if let Some(c) = codec("audiocodecid") {
                s.push_str(&format!(" audio={c}"));
            }
        }
        s
    }
}
