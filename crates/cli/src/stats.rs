//! `rtmpscope stats`: per session and per message stream, what flowed.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use rtmpscope_core::command::CommandInfo;
use rtmpscope_core::media::video::legacy_dimensions;
use rtmpscope_core::message::{type_name, Body};
use rtmpscope_core::{Direction, Event};
use serde::Serialize;

use crate::input::{self, Input, Item, SessionInfo};

#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    input: input::InputArgs,
    /// Print JSON (one object per session) instead of text.
    #[arg(long)]
    json: bool,
}

/// Figures for one message stream (one stream id, one direction).
#[derive(Debug, Default, Serialize)]
pub struct StreamStats {
    /// Direction of the media.
    pub dir: &'static str,
    /// Message stream id.
    pub stream_id: u32,
    /// Stream name from publish/play.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Audio messages and payload bytes.
    pub audio_messages: u64,
    /// Audio payload bytes.
    pub audio_bytes: u64,
    /// Video messages.
    pub video_messages: u64,
    /// Video payload bytes.
    pub video_bytes: u64,
    /// Keyframes (coded frames marked key).
    pub keyframes: u64,
    /// First and last media timestamp (ms).
    pub first_timestamp: Option<u32>,
    /// Last media timestamp (ms).
    pub last_timestamp: Option<u32>,
    /// Media duration in seconds (last − first timestamp).
    pub duration: f64,
    /// Audio bitrate, kbit/s over the duration.
    pub audio_kbps: f64,
    /// Video bitrate, kbit/s over the duration.
    pub video_kbps: f64,
    /// Video frames per second over the duration.
    pub fps: f64,
    /// Mean and longest keyframe interval in seconds.
    pub keyframe_interval: Option<f64>,
    /// Longest keyframe interval in seconds.
    pub keyframe_interval_max: Option<f64>,
    /// Audio codec facts from the sequence header (or the tag header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_codec: Option<String>,
    /// Video codec facts from the sequence header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_codec: Option<String>,
    /// onMetaData, as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    #[serde(skip)]
    video_span: Option<(u32, u32)>,
    #[serde(skip)]
    last_key: Option<u32>,
    #[serde(skip)]
    key_gaps: Vec<u32>,
}

/// Figures for one session.
#[derive(Debug, Default, Serialize)]
pub struct SessionStats {
    /// Session number.
    pub session: u64,
    /// Client and server addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Server address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `app` from connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// `tcUrl` from connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tc_url: Option<String>,
    /// Capture duration in seconds (first to last event).
    pub capture_duration: f64,
    /// Bytes each way (client to server, server to client).
    pub bytes: [u64; 2],
    /// Messages by type name, each way.
    pub messages: [BTreeMap<String, u64>; 2],
    /// Chunk sizes set, each way, in order.
    pub chunk_sizes: [Vec<u32>; 2],
    /// Window Acknowledgement Size announced, each way.
    pub window_ack_size: [Option<u32>; 2],
    /// Acknowledgements sent, each way.
    pub acks: [u64; 2],
    /// Last acknowledged byte count, each way.
    pub last_ack: [Option<u32>; 2],
    /// Decoder errors.
    pub errors: u64,
    /// Type-3 chunks after an extended timestamp that repeated it / omitted it, each way.
    pub extended_timestamp_repeated: [u64; 2],
    /// Type-3 chunks after an extended timestamp that omitted it, each way.
    pub extended_timestamp_omitted: [u64; 2],
    /// Per message stream.
    pub streams: Vec<StreamStats>,
    #[serde(skip)]
    first_time: Option<f64>,
    #[serde(skip)]
    last_time: f64,
}

impl SessionStats {
    fn new(info: &SessionInfo) -> Self {
        SessionStats {
            session: info.number,
            client: info.client.map(|c| c.to_string()),
            server: info.server.map(|s| s.to_string()),
            ..Default::default()
        }
    }

    fn stream(&mut self, dir: Direction, id: u32) -> &mut StreamStats {
        let i = match self
            .streams
            .iter()
            .position(|s| s.stream_id == id && s.dir == dir.as_str())
        {
            Some(i) => i,
            None => {
                self.streams.push(StreamStats {
                    dir: dir.as_str(),
                    stream_id: id,
                    ..Default::default()
                });
                self.streams.len() - 1
            }
        };
        &mut self.streams[i]
    }

    /// Takes one event into account.
    pub fn observe(&mut self, ev: &Event) {
        let time = match ev {
            Event::Handshake(h) => h.time,
            Event::Message(m) => m.time,
            Event::Note(n) => n.time,
            Event::Error(e) => e.time,
            Event::Gap(g) => g.time,
        };
        self.first_time.get_or_insert(time);
        self.last_time = self.last_time.max(time);
        let Event::Message(m) = ev else {
            if matches!(ev, Event::Error(_)) {
                self.errors += 1;
            }
            return;
        };
        let d = m.dir as usize;
        let r = &m.raw;
        self.bytes[d] = self.bytes[d].max(r.end);
        *self.messages[d]
            .entry(type_name(r.type_id).to_string())
            .or_default() += 1;
        match &m.body {
            Body::SetChunkSize(s) => self.chunk_sizes[d].push(*s),
            Body::WindowAckSize(w) => self.window_ack_size[d] = Some(*w),
            Body::Ack(a) => {
                self.acks[d] += 1;
                self.last_ack[d] = Some(*a);
            }
            Body::Command(c) => {
                if let CommandInfo::Connect(conn) = &c.info {
                    self.app = conn.app.clone();
                    self.tc_url = conn.tc_url.clone();
                }
            }
            Body::Data(data) => {
                if let Some(meta) = data.metadata() {
                    let s = self.stream(m.dir, r.stream_id);
                    s.metadata = Some(meta.value.to_json());
                }
            }
            Body::Audio(a) => {
                let s = self.stream(m.dir, r.stream_id);
                s.name = m.stream_name.as_deref().map(str::to_string);
                if a.is_coded_frames() {
                    s.media_time(r.timestamp);
                }
                s.audio_messages += 1;
                s.audio_bytes += r.length as u64;
                if a.is_sequence_header() || s.audio_codec.is_none() {
                    s.audio_codec = Some(a.summary());
                }
            }
            Body::Video(v) => {
                let s = self.stream(m.dir, r.stream_id);
                s.name = m.stream_name.as_deref().map(str::to_string);
                s.video_bytes += r.length as u64;
                if v.is_sequence_header() {
                    s.video_codec = Some(v.summary());
                } else if s.video_codec.is_none()
                    && !v.enhanced
                    && matches!(v.codec_id, Some(1..=6))
                {
                    // Sorenson H.263, Screen video, VP6…: no configuration
                    // record; the tag header names the codec, and H.263 and
                    // Screen video frames carry their picture size.
                    let mut codec = v.codec.to_string();
                    if let Some((w, h)) = legacy_dimensions(&r.payload.prefix(16)) {
                        codec.push_str(&format!(" {w}x{h}"));
                    }
                    s.video_codec = Some(codec);
                }
                if v.is_coded_frame() {
                    s.media_time(r.timestamp);
                    let span = s.video_span.get_or_insert((r.timestamp, r.timestamp));
                    span.1 = r.timestamp;
                    s.video_messages += 1;
                    if v.is_keyframe() {
                        s.keyframes += 1;
                        if let Some(k) = s.last_key {
                            if s.key_gaps.len() < 100_000 {
                                s.key_gaps.push(r.timestamp.wrapping_sub(k));
                            }
                        }
                        s.last_key = Some(r.timestamp);
                    }
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        self.capture_duration = self.last_time - self.first_time.unwrap_or(self.last_time);
        for s in &mut self.streams {
            if let (Some(a), Some(b)) = (s.first_timestamp, s.last_timestamp) {
                s.duration = b.wrapping_sub(a) as f64 / 1000.0;
            }
            if s.duration > 0.0 {
                s.audio_kbps = s.audio_bytes as f64 * 8.0 / s.duration / 1000.0;
                s.video_kbps = s.video_bytes as f64 * 8.0 / s.duration / 1000.0;
            }
            if let Some((a, b)) = s.video_span {
                let span = b.wrapping_sub(a) as f64 / 1000.0;
                if span > 0.0 {
                    s.fps = s.video_messages.saturating_sub(1) as f64 / span;
                }
            }
            if !s.key_gaps.is_empty() {
                let sum: u64 = s.key_gaps.iter().map(|&g| g as u64).sum();
                s.keyframe_interval = Some(sum as f64 / s.key_gaps.len() as f64 / 1000.0);
                s.keyframe_interval_max = s.key_gaps.iter().max().map(|&g| g as f64 / 1000.0);
            }
        }
    }
}

impl StreamStats {
    fn media_time(&mut self, ts: u32) {
        self.first_timestamp.get_or_insert(ts);
        self.last_timestamp = Some(ts);
    }
}

fn write_text(w: &mut impl Write, s: &SessionStats) -> std::io::Result<()> {
    let peers = match (&s.client, &s.server) {
        (Some(c), Some(v)) => format!(" {c} -> {v}"),
        _ => String::new(),
    };
    writeln!(w, "== session {}{peers}", s.session)?;
    if let Some(app) = &s.app {
        writeln!(
            w,
            "   app {app}, tcUrl {}",
            s.tc_url.as_deref().unwrap_or("?")
        )?;
    }
    writeln!(
        w,
        "   {:.3} s captured; client sent {} bytes, server sent {} bytes; {} decoder error(s)",
        s.capture_duration, s.bytes[0], s.bytes[1], s.errors
    )?;
    for (d, name) in [(0, "client to server"), (1, "server to client")] {
        let list: Vec<String> = s.messages[d]
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(
            w,
            "   {name}: {}",
            if list.is_empty() {
                "nothing".into()
            } else {
                list.join(", ")
            }
        )?;
        let cs: Vec<String> = s.chunk_sizes[d].iter().map(|c| c.to_string()).collect();
        writeln!(
            w,
            "     chunk size {}; window ack size {}; {} ack(s){}",
            if cs.is_empty() {
                "128 (default)".into()
            } else {
                cs.join(" -> ")
            },
            s.window_ack_size[d].map_or("not set".into(), |v| v.to_string()),
            s.acks[d],
            s.last_ack[d].map_or(String::new(), |a| format!(", last at byte {a}"))
        )?;
        let (rep, omit) = (
            s.extended_timestamp_repeated[d],
            s.extended_timestamp_omitted[d],
        );
        if rep + omit > 0 {
            writeln!(
                w,
                "     extended timestamp on type-3 chunks: repeated {rep}, omitted {omit}"
            )?;
        }
    }
    for st in &s.streams {
        if st.audio_messages + st.video_messages == 0 {
            continue;
        }
        writeln!(
            w,
            "   stream {} ({}){}: {:.2} s of media",
            st.stream_id,
            st.dir,
            st.name
                .as_ref()
                .map_or(String::new(), |n| format!(" \"{n}\"")),
            st.duration
        )?;
        if let Some(v) = &st.video_codec {
            writeln!(
                w,
                "     video {v}: {} frames, {:.2} fps, {:.0} kbit/s, {} keyframes{}",
                st.video_messages,
                st.fps,
                st.video_kbps,
                st.keyframes,
                match (st.keyframe_interval, st.keyframe_interval_max) {
                    (Some(a), Some(m)) => format!(", keyframe every {a:.2} s (longest {m:.2} s)"),
                    _ => String::new(),
                }
            )?;
        } else if st.video_messages > 0 {
            writeln!(
                w,
                "     video: {} frames, {:.0} kbit/s (no sequence header seen)",
                st.video_messages, st.video_kbps
            )?;
        }
        if let Some(a) = &st.audio_codec {
            writeln!(
                w,
                "     audio {a}: {} messages, {:.0} kbit/s",
                st.audio_messages, st.audio_kbps
            )?;
        }
        if let Some(meta) = &st.metadata {
            let pick = |k: &str| meta.get(k).map(|v| format!("{k}={v}"));
            let facts: Vec<String> = [
                "width",
                "height",
                "framerate",
                "videodatarate",
                "audiodatarate",
                "videocodecid",
                "audiocodecid",
                "encoder",
            ]
            .iter()
            .filter_map(|k| pick(k))
            .collect();
            writeln!(w, "     onMetaData {}", facts.join(" "))?;
        }
    }
    Ok(())
}

pub fn run(a: StatsArgs) -> Result<ExitCode> {
    let input = Input::from_args(a.input)?;
    let mut done: Vec<SessionStats> = Vec::new();
    let mut live: BTreeMap<u64, SessionStats> = BTreeMap::new();
    input::run(&input, |item| {
        match item {
            Item::Session(info) => {
                live.insert(info.number, SessionStats::new(info));
            }
            Item::Event(info, ev) => {
                if let Some(s) = live.get_mut(&info.number) {
                    s.observe(ev);
                }
            }
            Item::End(info, session) => {
                if let Some(mut s) = live.remove(&info.number) {
                    for d in [Direction::ClientToServer, Direction::ServerToClient] {
                        let u = session.chunk_decoder(d).extended_timestamp_use();
                        s.extended_timestamp_repeated[d as usize] = u.repeated;
                        s.extended_timestamp_omitted[d as usize] = u.omitted;
                    }
                    s.finish();
                    done.push(s);
                }
            }
            Item::Skipped { .. } | Item::Warning(_) | Item::Closed { .. } => {}
        }
        Ok(())
    })?;
    done.sort_by_key(|s| s.session);
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    for s in &done {
        if a.json {
            writeln!(w, "{}", serde_json::to_string(s)?)?;
        } else {
            write_text(&mut w, s)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
