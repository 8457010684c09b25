//! The JSON lines of `rtmpscope decode --json` (see DESIGN.md): one object
//! per event. Field names are a contract: extend, never rename.

use std::fmt::Write;

use serde::Serialize;

use smol_str::SmolStr;

use crate::command::CommandInfo;
use crate::media::audio::AacPacketType;
use crate::media::nal::NalList;
use crate::media::video::{AvcPacketType, FrameType};
use crate::media::{AudioTag, VideoTag};
use crate::message::{self, type_name, write_human_bytes, Body};
use crate::session::{Direction, Event, MessageEvent};

/// Appends `s` as a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    // Copy runs that need no escaping in one go; escapes are rare.
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if !NEEDS_ESCAPE[b as usize] {
            continue;
        }
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn needs_escape(text: &[u8]) -> bool {
    text.iter().any(|&b| NEEDS_ESCAPE[b as usize])
}

/// Bytes that JSON strings must escape: quote, backslash and controls.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Appends an unsigned integer in decimal.
#[inline]
pub fn push_u64(out: &mut String, v: u64) {
    if v < 10 {
        // Most fields of a message line are one digit (session, csid, type,
        // stream id, fmt, chunks): one push instead of a copy of unknown length.
        out.push(char::from(b'0' + v as u8));
    } else {
        out.push_str(itoa::Buffer::new().format(v));
    }
}

/// Appends a signed integer in decimal.
#[inline]
pub fn push_i64(out: &mut String, v: i64) {
    if (0..10).contains(&v) {
        out.push(char::from(b'0' + v as u8));
    } else {
        out.push_str(itoa::Buffer::new().format(v));
    }
}

/// Appends a number the way JSON can carry it (non-finite values become null).
///
/// The digits are the shortest that read back as `v`, as Rust's `{}` prints
/// them; ryu finds them faster (capture times are on every line), and is
/// used where it writes plain decimals rather than an exponent.
pub fn push_f64(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str("null");
    } else if push_micros(out, v) {
        // A capture time (tried first: one is on every line): done.
    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
        push_i64(out, v as i64);
    } else if (1e-5..1e16).contains(&v.abs()) {
        out.push_str(ryu::Buffer::new().format_finite(v));
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Writes `v` when it is a whole number of microseconds below 2^32, as
/// capture times are, and returns whether it did. The digits are those ryu
/// (and Rust's `{}`) give: the doubles below 2^32 lie closer together than
/// 10^-6, so no two multiples of 10^-6 read back as the same double, and
/// the shortest decimal that reads back as `v` is the multiple of 10^-6 it
/// came from, without its trailing zeros (a property test compares with ryu).
fn push_micros(out: &mut String, v: f64) -> bool {
    let Some((whole, frac)) = micros_parts(v) else {
        return false;
    };
    push_u64(out, whole);
    push_fraction(out, frac);
    true
}

/// The whole seconds and the (non-zero) microseconds of `v`, when `v` is a
/// whole number of microseconds below 2^32 that is not a whole second.
#[inline]
fn micros_parts(v: f64) -> Option<(u64, u32)> {
    if !(v > 0.0 && v < 4_294_967_296.0) {
        return None;
    }
    // Rounded by adding one half (no call to `round`); a wrong guess fails
    // the check, which is what decides.
    let micros = (v * 1e6 + 0.5) as u64;
    if micros as f64 / 1e6 != v {
        return None;
    }
    let (whole, frac) = (micros / 1_000_000, (micros % 1_000_000) as u32);
    (frac != 0).then_some((whole, frac))
}

/// Appends `.` and the six digits of `frac` (1..=999_999 microseconds)
/// without their trailing zeros.
#[inline]
fn push_fraction(out: &mut String, frac: u32) {
    let digits = [
        frac / 100_000,
        frac / 10_000 % 10,
        frac / 1000 % 10,
        frac / 100 % 10,
        frac / 10 % 10,
        frac % 10,
    ];
    let len = 6 - count_trailing_zero_digits(frac);
    out.push('.');
    for &d in &digits[..len] {
        out.push(char::from(b'0' + d as u8));
    }
}

/// How many of the last decimal digits of `v` (not 0) are zeros, at most 5.
#[inline]
fn count_trailing_zero_digits(v: u32) -> usize {
    match v {
        _ if v % 100_000 == 0 => 5,
        _ if v % 10_000 == 0 => 4,
        _ if v % 1000 == 0 => 3,
        _ if v % 100 == 0 => 2,
        _ if v % 10 == 0 => 1,
        _ => 0,
    }
}

/// Appends one of this crate's own names (codecs, packet kinds, NAL unit
/// types) as a JSON string: they hold nothing to escape, so nothing is scanned.
fn push_name(out: &mut String, s: &str) {
    debug_assert!(!needs_escape(s.as_bytes()));
    out.push('"');
    out.push_str(s);
    out.push('"');
}

fn push_serde<T: Serialize>(out: &mut String, v: &T) {
    thread_local! {
        /// Where serde_json writes (in many small pieces) before the result is
        /// checked as UTF-8 once and appended: reused, so no allocation per value.
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| {
        let mut buf = scratch.borrow_mut();
        buf.clear();
        let written = serde_json::to_writer(&mut *buf, v).is_ok();
        match std::str::from_utf8(&buf) {
            Ok(text) if written => out.push_str(text),
            _ => out.push_str("null"),
        }
        if buf.capacity() > 1 << 20 {
            // A huge value (an onMetaData with a large array) does not stay resident.
            *buf = Vec::new();
        }
    });
}

/// A small builder for one JSON object, written in field order.
pub struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Starts an object.
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        Obj { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        // Field names are this crate's own identifiers: nothing to escape.
        debug_assert!(k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
    }

    /// A string field.
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        push_str(self.out, v);
        self
    }

    /// An integer field.
    pub fn int(&mut self, k: &str, v: impl Into<i128>) -> &mut Self {
        self.key(k);
        let v: i128 = v.into();
        match (i64::try_from(v), u64::try_from(v)) {
            (Ok(x), _) => push_i64(self.out, x),
            (_, Ok(x)) => push_u64(self.out, x),
            _ => {
                let _ = write!(self.out, "{v}");
            }
        }
        self
    }

    /// An unsigned integer field (offsets, counts).
    pub fn uint(&mut self, k: &str, v: u64) -> &mut Self {
        self.key(k);
        push_u64(self.out, v);
        self
    }

    /// A number field.
    pub fn num(&mut self, k: &str, v: f64) -> &mut Self {
        self.key(k);
        push_f64(self.out, v);
        self
    }

    /// A boolean field.
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.out.push_str(if v { "true" } else { "false" });
        self
    }

    /// A field holding any serialisable value.
    pub fn serde<T: Serialize>(&mut self, k: &str, v: &T) -> &mut Self {
        self.key(k);
        push_serde(self.out, v);
        self
    }

    /// The `summary` field of a message, written in place (escaped only
    /// when it needs to be: stream names and command names can hold anything).
    fn summary(&mut self, m: &MessageEvent) -> &mut Self {
        self.key("summary");
        self.out.push('"');
        let start = self.out.len();
        m.write_summary(self.out);
        // The summary of a plain media tag has nothing to escape: no scan.
        let plain = match &m.body {
            Body::Audio(a) => plain_audio(a),
            Body::Video(v) => plain_video(v),
            _ => false,
        };
        debug_assert!(!plain || !needs_escape(&self.out.as_bytes()[start..]));
        if !plain && needs_escape(&self.out.as_bytes()[start..]) {
            let text = self.out.split_off(start);
            self.out.pop();
            push_str(self.out, &text);
        } else {
            self.out.push('"');
        }
        self
    }

    /// A field holding already-encoded JSON.
    pub fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k);
        self.out.push_str(json);
        self
    }

    /// Closes the object.
    pub fn end(&mut self) {
        self.out.push('}');
    }
}

/// Appends `,"k":` (or `"k":` after `{`).
fn key_into(out: &mut String, first: &mut bool, k: &str) {
    if !*first {
        out.push(',');
    }
    *first = false;
    out.push('"');
    out.push_str(k);
    out.push_str("\":");
}

/// A legacy (non-E-RTMP) audio tag without a sequence header or an error:
/// its JSON and its summary are made of this crate's names and numbers only.
fn plain_audio(a: &crate::media::AudioTag) -> bool {
    !a.enhanced
        && a.packet_type.is_none()
        && a.fourcc.is_none()
        && a.config.is_none()
        && a.multichannel.is_none()
        && a.multitrack.is_none()
        && a.tracks.is_empty()
        && a.mod_ex.is_empty()
        && a.error.is_none()
}

/// A legacy video tag without a configuration record, a command or an
/// error, of which [`plain_audio`] says the same.
fn plain_video(v: &crate::media::VideoTag) -> bool {
    !v.enhanced
        && v.fourcc.is_none()
        && v.packet_type.is_none()
        && v.command.is_none()
        && v.config.is_none()
        && v.metadata_len.is_none()
        && v.multitrack.is_none()
        && v.tracks.is_empty()
        && v.mod_ex.is_empty()
        && v.error.is_none()
}

/// The `audio` object of a legacy (non-E-RTMP) tag without a sequence header
/// or an error, written directly: the bytes serde writes, without its
/// per-field machinery (this runs for every audio message). Returns false,
/// writing nothing, for any other tag.
fn fast_audio(o: &mut Obj<'_>, a: &crate::media::AudioTag) -> bool {
    if !plain_audio(a) {
        return false;
    }
    o.key("audio");
    let out = &mut *o.out;
    out.push_str("{\"format\":");
    push_u64(out, a.format.into());
    out.push_str(",\"codec\":");
    push_name(out, a.codec);
    let mut first = false;
    if let Some(v) = a.sound_rate {
        key_into(out, &mut first, "sound_rate");
        push_u64(out, v.into());
    }
    if let Some(v) = a.sound_size {
        key_into(out, &mut first, "sound_size");
        push_u64(out, v.into());
    }
    if let Some(v) = a.channels {
        key_into(out, &mut first, "channels");
        push_u64(out, v.into());
    }
    if let Some(t) = a.aac_packet_type {
        key_into(out, &mut first, "aac_packet_type");
        push_name(out, &t.key());
    }
    if a.truncated {
        key_into(out, &mut first, "truncated");
        out.push_str("true");
    }
    out.push('}');
    true
}

/// The `video` object of a legacy tag without a configuration record, a
/// command or an error, written directly as [`fast_audio`] does for audio.
fn fast_video(o: &mut Obj<'_>, v: &crate::media::VideoTag) -> bool {
    if !plain_video(v) {
        return false;
    }
    o.key("video");
    let out = &mut *o.out;
    out.push_str("{\"frame_type\":");
    push_name(out, &v.frame_type.key());
    out.push_str(",\"codec\":");
    push_name(out, v.codec);
    let mut first = false;
    if let Some(id) = v.codec_id {
        key_into(out, &mut first, "codec_id");
        push_u64(out, id.into());
    }
    if let Some(t) = v.avc_packet_type {
        key_into(out, &mut first, "avc_packet_type");
        push_name(out, &t.key());
    }
    video_rest(out, v);
    out.push('}');
    true
}

/// The fields of a plain video header's object after its packet type,
/// without the closing brace.
fn video_rest(out: &mut String, v: &crate::media::VideoTag) {
    if let Some(c) = v.composition_time {
        out.push_str(",\"composition_time\":");
        push_i64(out, c.into());
    }
    if !v.nalus.is_empty() {
        out.push_str(",\"nalus\":");
        out.push('[');
        for (i, n) in v.nalus.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"type\":");
            push_u64(out, n.nal_type.into());
            out.push_str(",\"name\":");
            push_name(out, n.name());
            out.push_str(",\"size\":");
            push_u64(out, n.size.into());
            out.push('}');
        }
        out.push(']');
    }
    if v.truncated {
        out.push_str(",\"truncated\":true");
    }
}

/// Writes one event as a JSON line (without the newline) for session `session`.
///
/// Writing many lines, keep a [`LineWriter`]: its lines are the same, made faster.
pub fn write_event(out: &mut String, session: u64, ev: &Event) {
    LineWriter::default().write_event(out, session, ev);
}

/// Writes message lines from what the lines before them left: the whole
/// seconds of the capture time, the stream name field, and the summary and
/// object of the last plain audio and video header seen. Most lines of a
/// capture repeat these from the line before, which then are copied rather
/// than formatted again. Its lines are exactly those of [`write_event`].
#[derive(Debug, Default)]
pub struct LineWriter {
    secs: Option<(u64, String)>,
    name: Option<(SmolStr, String)>,
    audio: Option<Box<AudioShape>>,
    video: [Option<Box<VideoShape>>; 2],
}

/// The fields a plain audio header's summary and object are made of.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AudioKey {
    format: u8,
    codec: &'static str,
    sound_rate: Option<u32>,
    sound_size: Option<u8>,
    channels: Option<u8>,
    aac_packet_type: Option<AacPacketType>,
    truncated: bool,
}

impl AudioKey {
    fn of(a: &AudioTag) -> AudioKey {
        AudioKey {
            format: a.format,
            codec: a.codec,
            sound_rate: a.sound_rate,
            sound_size: a.sound_size,
            channels: a.channels,
            aac_packet_type: a.aac_packet_type,
            truncated: a.truncated,
        }
    }
}

/// A plain audio header as text: its summary up to the message length
/// (`Audio AAC raw (`) and its whole `,"audio":{…}` field.
#[derive(Debug)]
struct AudioShape {
    key: AudioKey,
    summary: String,
    object: String,
}

/// The fields of a plain, whole video header other than its composition
/// time and NAL units.
#[derive(Debug, Clone, Copy, PartialEq)]
struct VideoKey {
    frame_type: FrameType,
    codec: &'static str,
    codec_id: Option<u8>,
    avc_packet_type: Option<AvcPacketType>,
}

impl VideoKey {
    fn of(v: &VideoTag) -> VideoKey {
        VideoKey {
            frame_type: v.frame_type,
            codec: v.codec,
            codec_id: v.codec_id,
            avc_packet_type: v.avc_packet_type,
        }
    }
}

/// A plain video header as text, up to where its composition time would go:
/// `Video H.264 inter NALU` and `,"video":{…,"avc_packet_type":"nalu"`.
#[derive(Debug)]
struct VideoShape {
    key: VideoKey,
    summary: String,
    object: String,
}

/// The text of a plain audio header, made again only when the key changes.
fn audio_shape<'c>(cache: &'c mut Option<Box<AudioShape>>, a: &AudioTag) -> &'c AudioShape {
    let key = AudioKey::of(a);
    if cache.as_ref().is_some_and(|c| c.key != key) {
        *cache = None;
    }
    cache.get_or_insert_with(|| {
        let mut summary = String::from("Audio ");
        a.write_summary(&mut summary);
        summary.push_str(" (");
        let mut object = String::new();
        fast_audio(
            &mut Obj {
                out: &mut object,
                first: false,
            },
            a,
        );
        Box::new(AudioShape {
            key,
            summary,
            object,
        })
    })
}

/// The text of a plain video header, made again only when the key changes.
/// Keyframes and other frames have a slot each, since they alternate.
fn video_shape<'c>(cache: &'c mut [Option<Box<VideoShape>>; 2], v: &VideoTag) -> &'c VideoShape {
    let key = VideoKey::of(v);
    let slot = &mut cache[usize::from(v.frame_type == FrameType::KeyFrame)];
    if slot.as_ref().is_some_and(|c| c.key != key) {
        *slot = None;
    }
    slot.get_or_insert_with(|| {
        let mut head = v.clone();
        head.composition_time = None;
        head.nalus = NalList::new();
        let mut summary = String::from("Video ");
        head.write_summary(&mut summary);
        let mut object = String::new();
        fast_video(
            &mut Obj {
                out: &mut object,
                first: false,
            },
            &head,
        );
        object.pop(); // the closing brace: the varying fields go before it
        Box::new(VideoShape {
            key,
            summary,
            object,
        })
    })
}

/// A capture time, its whole seconds copied when they are the last ones'.
fn push_time(cache: &mut Option<(u64, String)>, out: &mut String, v: f64) {
    let Some((whole, frac)) = micros_parts(v) else {
        push_f64(out, v);
        return;
    };
    match cache {
        Some((w, text)) if *w == whole => out.push_str(text),
        _ => {
            let mut text = String::new();
            push_u64(&mut text, whole);
            out.push_str(&text);
            *cache = Some((whole, text));
        }
    }
    push_fraction(out, frac);
}

/// The `stream_name` field, copied when the name is the last one's.
fn push_stream_name(cache: &mut Option<(SmolStr, String)>, out: &mut String, name: &SmolStr) {
    match cache {
        Some((n, field)) if n == name => out.push_str(field),
        _ => {
            let mut field = String::new();
            Obj {
                out: &mut field,
                first: false,
            }
            .str("stream_name", name);
            out.push_str(&field);
            *cache = Some((name.clone(), field));
        }
    }
}

/// The cached text a message line can use for its media header.
enum Shape<'c, 'm> {
    Audio(&'c AudioShape),
    Video(&'c VideoShape, &'m VideoTag),
    Other,
}

impl LineWriter {
    /// Writes one event as [`write_event`] does.
    pub fn write_event(&mut self, out: &mut String, session: u64, ev: &Event) {
        if let Event::Message(m) = ev {
            self.write_message(out, session, m);
        } else {
            write_other(out, session, ev);
        }
    }
}

/// Writes an event other than a message.
fn write_other(out: &mut String, session: u64, ev: &Event) {
    match ev {
        Event::Handshake(h) => {
            let mut o = Obj::new(out);
            o.str("kind", "handshake")
                .int("session", session)
                .str("dir", h.dir.as_str())
                .str("part", h.part.as_str())
                .int("offset", h.offset)
                .int("length", h.length)
                .num("time", h.time);
            if let Some(hello) = &h.hello {
                o.int("version", hello.version)
                    .int("epoch", hello.time)
                    .str("peer_version", &hello.peer_version_string())
                    .str("scheme", hello.scheme.as_str())
                    .bool("digest_valid", hello.digest_valid);
            }
            if let Some(e) = &h.echo {
                o.int("epoch", e.time).int("time2", e.time2);
                o.serde("echo", &e.echo);
                o.serde("digest_valid", &e.digest_valid);
            }
            o.end();
        }
        Event::Message(m) => write_message(out, session, m),
        Event::Note(n) => {
            let mut o = Obj::new(out);
            // The note's own fields (its name under "note", offset, …) are flattened in.
            let body = serde_json::to_string(&n.note).unwrap_or_else(|_| "{}".into());
            o.str("kind", "note")
                .int("session", session)
                .str("dir", n.dir.as_str())
                .num("time", n.time);
            // Instead of closing the object, the note's fields go on in it
            // (written in place: `out` may hold earlier lines).
            match body.strip_prefix('{') {
                Some("}") | None => o.end(),
                Some(fields) => {
                    out.push(',');
                    out.push_str(fields);
                }
            }
        }
        Event::Error(e) => {
            let mut o = Obj::new(out);
            o.str("kind", "error")
                .int("session", session)
                .str("dir", e.dir.as_str())
                .int("offset", e.offset)
                .num("time", e.time)
                .str("expected", &e.expected)
                .str("found", &e.found)
                .end();
        }
        Event::Gap(g) => {
            let mut o = Obj::new(out);
            o.str("kind", "gap")
                .int("session", session)
                .str("dir", g.dir.as_str())
                .int("offset", g.offset)
                .int("length", g.length)
                .num("time", g.time)
                .str(
                    "expected",
                    &format!("{} bytes that the capture lost", g.length),
                )
                .end();
        }
    }
}

fn values_json(values: &[crate::amf::Node]) -> String {
    let v: Vec<serde_json::Value> = values.iter().map(|n| n.value.to_json()).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".into())
}

/// Appends `,"type":T,"type_name":"…","stream_id":`.
fn type_fields(out: &mut String, type_id: u8) {
    match type_id {
        // Media, nearly every line: one copy of known length.
        message::MSG_AUDIO => {
            out.push_str(",\"type\":8,\"type_name\":\"Audio Data\",\"stream_id\":")
        }
        message::MSG_VIDEO => {
            out.push_str(",\"type\":9,\"type_name\":\"Video Data\",\"stream_id\":")
        }
        _ => {
            out.push_str(",\"type\":");
            push_u64(out, type_id.into());
            out.push_str(",\"type_name\":\"");
            // Type names are this crate's own ASCII words.
            out.push_str(type_name(type_id));
            out.push_str("\",\"stream_id\":");
        }
    }
}

/// Writes a message event as a JSON line.
pub fn write_message(out: &mut String, session: u64, m: &MessageEvent) {
    LineWriter::default().write_message(out, session, m);
}

impl LineWriter {
    /// Writes a message event as [`write_message`] does.
    pub fn write_message(&mut self, out: &mut String, session: u64, m: &MessageEvent) {
        let LineWriter {
            secs,
            name,
            audio,
            video,
        } = self;
        // A plain header of a whole message that answers nothing: its summary
        // and object come (mostly) from the cache.
        let shape = match &m.body {
            _ if m.reply_to.is_some() || !m.raw.complete => Shape::Other,
            Body::Audio(a) if plain_audio(a) => Shape::Audio(audio_shape(audio, a)),
            Body::Video(v) if plain_video(v) && !v.truncated => {
                Shape::Video(video_shape(video, v), v)
            }
            _ => Shape::Other,
        };
        write_message_with(out, session, m, secs, name, shape);
    }
}

fn write_message_with(
    out: &mut String,
    session: u64,
    m: &MessageEvent,
    secs: &mut Option<(u64, String)>,
    name: &mut Option<(SmolStr, String)>,
    shape: Shape<'_, '_>,
) {
    let r = &m.raw;
    // The fixed fields, in their contract order, written with as few appends
    // as possible: this runs for every message of a capture.
    out.push_str("{\"kind\":\"message\",\"session\":");
    push_u64(out, session);
    out.push_str(match m.dir {
        Direction::ClientToServer => ",\"dir\":\"c2s\",\"index\":",
        Direction::ServerToClient => ",\"dir\":\"s2c\",\"index\":",
    });
    push_u64(out, m.index);
    out.push_str(",\"offset\":");
    push_u64(out, r.offset);
    out.push_str(",\"time\":");
    push_time(secs, out, m.time);
    out.push_str(",\"csid\":");
    push_u64(out, r.csid.into());
    type_fields(out, r.type_id);
    push_u64(out, r.stream_id.into());
    out.push_str(",\"timestamp\":");
    push_u64(out, r.timestamp.into());
    out.push_str(",\"length\":");
    push_u64(out, r.length.into());
    out.push_str(",\"chunks\":");
    push_u64(out, r.chunks.into());
    out.push_str(",\"fmt\":");
    push_u64(out, r.fmt.into());
    match shape {
        Shape::Audio(a) => {
            out.push_str(",\"summary\":\"");
            out.push_str(&a.summary);
            write_human_bytes(out, r.length);
            out.push_str(")\"");
        }
        Shape::Video(shape, v) => {
            out.push_str(",\"summary\":\"");
            out.push_str(&shape.summary);
            if let (Some(AvcPacketType::Nalu), Some(cts)) = (v.avc_packet_type, v.composition_time)
            {
                out.push_str(" cts=");
                push_i64(out, cts.into());
            }
            out.push_str(" (");
            write_human_bytes(out, r.length);
            out.push_str(")\"");
        }
        Shape::Other => {
            Obj {
                out: &mut *out,
                first: false,
            }
            .summary(m);
        }
    }
    if let Some(d) = r.delta {
        out.push_str(",\"delta\":");
        push_u64(out, d.into());
    }
    let mut o = Obj { out, first: false };
    if r.extended {
        o.bool("extended_timestamp", true);
    }
    if !r.complete {
        o.bool("complete", false)
            .int("received", r.payload.len() as u64);
    }
    if let Some(n) = &m.stream_name {
        push_stream_name(name, o.out, n);
    }
    match shape {
        Shape::Audio(a) => {
            o.out.push_str(&a.object);
            o.end();
            return;
        }
        Shape::Video(shape, v) => {
            o.out.push_str(&shape.object);
            video_rest(o.out, v);
            o.out.push('}');
            o.end();
            return;
        }
        Shape::Other => {}
    }
    match &m.body {
        Body::SetChunkSize(v) => {
            o.int("chunk_size", *v);
        }
        Body::Abort(c) => {
            o.int("abort_csid", *c);
        }
        Body::Ack(v) => {
            o.int("ack", *v);
        }
        Body::WindowAckSize(v) => {
            o.int("window_ack_size", *v);
        }
        Body::SetPeerBandwidth { size, limit } => {
            o.int("peer_bandwidth", *size)
                .str("limit_type", &limit.name());
        }
        Body::UserControl(u) => {
            o.serde("event", u);
        }
        Body::Audio(a) => {
            if !fast_audio(&mut o, a) {
                o.serde("audio", a);
            }
        }
        Body::Video(v) => {
            if !fast_video(&mut o, v) {
                o.serde("video", v);
            }
        }
        Body::Command(c) => {
            o.str("command", &c.name);
            if let Some(t) = c.transaction_id {
                o.num("transaction_id", t);
            }
            o.raw("values", &values_json(c.args()));
            if let Some(reply) = &m.reply_to {
                o.str("reply_to", reply);
            }
            if let Some(st) = c.status() {
                o.serde("status", st);
            }
            match &c.info {
                CommandInfo::Connect(conn) => {
                    o.serde("connect", conn);
                }
                CommandInfo::Publish { name, publish_type } => {
                    o.serde("stream", name).serde("publish_type", publish_type);
                }
                CommandInfo::Play { name, .. } => {
                    o.serde("stream", name);
                }
                _ => {}
            }
        }
        Body::Data(d) => {
            if let Some(n) = &d.name {
                o.str("data", n);
            }
            o.raw("values", &values_json(&d.values));
        }
        Body::SharedObject(s) => {
            o.str("shared_object", &s.name.to_string_lossy())
                .int("so_version", s.version)
                .int("so_events", s.events.len() as u64);
        }
        Body::Aggregate(parts) => {
            let list: Vec<serde_json::Value> = parts
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "type": p.type_id,
                        "timestamp": p.timestamp,
                        "length": p.length,
                        "offset": p.offset,
                        "summary": p.body.summary(p.type_id, p.length),
                    })
                })
                .collect();
            o.serde("parts", &list);
        }
        Body::Raw => {}
    }
    if let Some(e) = &m.body_error {
        o.serde("body_error", e);
    }
    o.end();
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f64_text(v: f64) -> String {
        let mut s = String::new();
        push_f64(&mut s, v);
        s
    }

    proptest! {
        /// Integers print as Rust prints them, at every width.
        #[test]
        fn integers_print_as_rust_does(v in any::<u64>(), digits in 0u32..20, off in 0u64..3) {
            for n in [v, v >> (v % 64), 10u64.pow(digits).saturating_add(off).saturating_sub(1)] {
                let mut s = String::new();
                push_u64(&mut s, n);
                prop_assert_eq!(s, n.to_string());
            }
        }

        /// Whole microseconds (capture times): the same digits as Rust's `{}`.
        #[test]
        fn micro_times_print_as_rust_does(micros in 1u64..(1u64 << 32) * 1_000_000) {
            let v = micros as f64 / 1e6;
            prop_assert_eq!(f64_text(v), format!("{v}"));
        }

        /// Any double, near or far from a whole number of microseconds, prints
        /// as before the microsecond path existed.
        #[test]
        fn any_number_prints_as_rust_does(bits in any::<u64>(), near in 0u64..(5u64 << 32) * 1_000_000, pick in 0u8..3) {
            let v = match pick {
                0 => f64::from_bits(bits),
                // a multiple of 10^-6 and its neighbouring doubles
                1 => near as f64 / 1e6,
                _ => f64::from_bits((near as f64 / 1e6).to_bits().wrapping_add(bits % 5).wrapping_sub(2)),
            };
            // What push_f64 wrote before it knew microseconds.
            let want = if !v.is_finite() {
                "null".to_string()
            } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
                (v as i64).to_string()
            } else if (1e-5..1e16).contains(&v.abs()) {
                ryu::Buffer::new().format_finite(v).to_string()
            } else {
                format!("{v}")
            };
            prop_assert_eq!(f64_text(v), want);
        }
    }

    #[test]
    fn capture_times_and_edges() {
        for (v, want) in [
            (1796237486.945276, "1796237486.945276"),
            (1796237486.9, "1796237486.9"),
            (0.000001, "0.000001"),
            (0.1, "0.1"),
            (4294967295.999999, "4294967295.999999"),
            (4294967296.5, "4294967296.5"),
            (-1.5, "-1.5"),
            (3.0, "3"),
        ] {
            assert_eq!(f64_text(v), want, "{v}");
        }
    }

    /// `"k":` + what a fast writer wrote, or None when it declined.
    fn fast<T>(tag: &T, f: fn(&mut Obj<'_>, &T) -> bool) -> Option<String> {
        let mut s = String::new();
        let mut o = Obj::new(&mut s);
        f(&mut o, tag).then(|| s[1..].split_once(':').map(|(_, v)| v.to_string()))?
    }

    fn check_media(payload: &[u8], fast_used: &mut [usize; 2]) {
        let full = payload.len() + 100;
        let summary = |body: Body| {
            let mut s = String::new();
            body.write_summary(&mut s, 8, full as u32);
            s
        };
        if let Ok(a) = crate::media::parse_audio(payload, full) {
            if let Some(got) = fast(&a, fast_audio) {
                assert_eq!(
                    got,
                    serde_json::to_string(&a).unwrap(),
                    "audio {payload:02x?}"
                );
                fast_used[0] += 1;
            }
            if plain_audio(&a) {
                let text = summary(Body::Audio(a));
                assert!(!needs_escape(text.as_bytes()), "{text}");
            }
        }
        if let Ok(v) = crate::media::parse_video(payload, full) {
            if let Some(got) = fast(&v, fast_video) {
                assert_eq!(
                    got,
                    serde_json::to_string(&v).unwrap(),
                    "video {payload:02x?}"
                );
                fast_used[1] += 1;
            }
            if plain_video(&v) {
                let text = summary(Body::Video(v));
                assert!(!needs_escape(text.as_bytes()), "{text}");
            }
        }
    }

    /// Media headers of many shapes: AAC raw and sequence header, MP3, mono
    /// and 8-bit PCM, Speex, H.264 key and inter frames with one or two NAL
    /// units and several composition times, a sequence header, a cut frame,
    /// a legacy HEVC frame, an Enhanced RTMP frame, a video command.
    const MEDIA: [(u8, &[u8]); 16] = [
        (8, &[0xaf, 0x01, 0x21, 0x10]),
        (8, &[0xaf, 0x00, 0x12, 0x10]),
        (8, &[0xae, 0x01, 0x21]),
        (8, &[0x2f, 0xff, 0xfb]),
        (8, &[0x30, 0x80, 0x80]),
        (8, &[0xb2, 0x00]),
        (9, &[0x17, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88]),
        (9, &[0x27, 0x01, 0, 0, 0x50, 0, 0, 0, 2, 0x41, 0x9a]),
        (9, &[0x27, 0x01, 0xff, 0xff, 0xd8, 0, 0, 0, 2, 0x41, 0x9a]),
        (
            9,
            &[
                0x17, 0x01, 0, 0, 0x28, 0, 0, 0, 3, 0x06, 1, 2, 0, 0, 0, 2, 0x65, 0x88,
            ],
        ),
        (9, &[0x17, 0x00, 0, 0, 0, 0x01, 0x42, 0xc0, 0x0d, 0xff]),
        (9, &[0x27, 0x01, 0, 0]),
        (9, &[0x1c, 0x01, 0, 0, 0, 0, 0, 0, 3, 0x02, 0x01, 0xd0]),
        (
            9,
            &[
                0x91, b'h', b'v', b'c', b'1', 0, 0, 0x10, 0, 0, 0, 2, 0x02, 0x01,
            ],
        ),
        (9, &[0x52, 0x00]),
        (9, &[0x22, 0x00]),
    ];

    fn media_event(pick: &(usize, usize, u32, bool, bool, u64, Option<u32>)) -> MessageEvent {
        let &(media, name, extra, complete, reply, micros, delta) = pick;
        let (type_id, payload) = MEDIA[media];
        let length = payload.len() as u32 + extra;
        let (body, body_error) = Body::decode(type_id, payload, length, 0);
        MessageEvent {
            dir: Direction::ServerToClient,
            index: micros % 1000,
            time: micros as f64 / 1e6,
            raw: crate::chunk::RawMessage {
                csid: 6,
                type_id,
                stream_id: 1,
                timestamp: 40,
                delta,
                length,
                fmt: 1,
                extended: false,
                payload: crate::payload::Payload::from(payload.to_vec()),
                offset: 3073,
                end: 3073 + u64::from(length),
                chunks: 1,
                spans: Default::default(),
                complete,
                stream_id_guessed: false,
            },
            body,
            body_error: body_error.map(Box::new),
            reply_to: reply.then(|| "createStream".to_string()),
            stream_name: [
                None,
                Some("cam1"),
                Some("a \"quoted\"\tname"),
                Some("push-240p"),
            ][name]
                .map(SmolStr::new),
        }
    }

    proptest! {
        /// A line writer's lines are those written from nothing, whatever came
        /// before them: every cache (seconds, stream name, audio and video
        /// shapes) is hit, missed and refilled.
        #[test]
        fn line_writer_lines_match_uncached_lines(
            picks in proptest::collection::vec(
                (
                    0..MEDIA.len(),
                    0usize..4,
                    prop_oneof![Just(0u32), 1u32..3000, Just(2_000_000)],
                    proptest::bool::weighted(0.9),
                    proptest::bool::weighted(0.1),
                    prop_oneof![
                        1_796_237_486_000_000u64..1_796_237_489_000_000,
                        Just(1_796_237_487_000_000),
                        0u64..3_000_000,
                    ],
                    proptest::option::of(0u32..100),
                ),
                1..40,
            )
        ) {
            let mut lines = LineWriter::default();
            for pick in &picks {
                let m = media_event(pick);
                let mut cached = String::new();
                lines.write_message(&mut cached, 3, &m);
                let mut plain = String::new();
                write_message_with(&mut plain, 3, &m, &mut None, &mut None, Shape::Other);
                prop_assert_eq!(&cached, &plain);
                prop_assert!(serde_json::from_str::<serde_json::Value>(&cached).is_ok(), "{}", cached);
            }
        }
    }

    #[test]
    fn fast_media_writers_match_serde_for_every_header_byte() {
        let mut used = [0; 2];
        // Every first byte, then AVC/AAC packet types, composition times and
        // NAL unit lists of several shapes (and cut short).
        let tails: [&[u8]; 7] = [
            &[],
            &[0x00],
            &[0x01],
            &[0x01, 0x00, 0x00, 0x28],
            &[0x01, 0xff, 0xff, 0xd8, 0, 0, 0, 2, 0x65, 0x88],
            &[
                0x01, 0, 0, 0, 0, 0, 0, 3, 0x06, 1, 2, 0, 0, 0, 2, 0x41, 0x9a,
            ],
            &[0x02, 0, 0, 0, 0x05, 0x12],
        ];
        for first in 0..=255u8 {
            for tail in tails {
                let mut p = vec![first];
                p.extend_from_slice(tail);
                check_media(&p, &mut used);
            }
        }
        // Both writers must have been taken for many of these, not declined.
        assert!(used[0] > 500 && used[1] > 500, "{used:?}");
    }

    #[test]
    fn type_fields_name_every_type() {
        for t in 0..=255u8 {
            let mut s = String::new();
            type_fields(&mut s, t);
            assert_eq!(
                s,
                format!(
                    ",\"type\":{t},\"type_name\":\"{}\",\"stream_id\":",
                    type_name(t)
                )
            );
        }
    }

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\n\u{0}");
        assert_eq!(s, r#""a\"b\\c\n\u0000""#);
    }

    #[test]
    fn integers_print_in_decimal() {
        let mut s = String::new();
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, u64::MAX);
        s.push(' ');
        push_i64(&mut s, i64::MIN);
        s.push(' ');
        push_i64(&mut s, -7);
        assert_eq!(s, "0 18446744073709551615 -9223372036854775808 -7");
    }

    #[test]
    fn escapes_survive_multibyte_text() {
        let mut s = String::new();
        push_str(&mut s, "é\t\u{1}ü\"");
        assert_eq!(s, "\"é\\t\\u0001ü\\\"\"");
    }

    #[test]
    fn integral_numbers_print_without_fraction() {
        let mut s = String::new();
        push_f64(&mut s, 3.0);
        s.push(' ');
        push_f64(&mut s, 0.5);
        s.push(' ');
        push_f64(&mut s, f64::NAN);
        assert_eq!(s, "3 0.5 null");
    }
}
