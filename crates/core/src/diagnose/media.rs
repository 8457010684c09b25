//! Media rules, per message stream: codec configuration before frames,
//! keyframes, timestamps, audio against video, resolution and frame rate,
//! codecs classic servers don't take, metadata and bitrate.
//!
//! Times here are the messages' RTMP timestamps (milliseconds), so these rules
//! work on raw stream pairs without capture times too.
//!
//! | code | severity | when |
//! | --- | --- | --- |
//! | `media.no_video_config` | error | an H.264/HEVC/AV1/VP9 frame before the stream's video sequence header |
//! | `media.no_audio_config` | error | an AAC (or Opus/FLAC E-RTMP) frame before the audio sequence header |
//! | `media.first_not_keyframe` | warning | the publisher's first video frame is not a keyframe |
//! | `media.keyframe_interval` | error | more than 4 s between keyframes (or since the last one) |
//! | `media.keyframe_irregular` | warning | keyframe intervals differ by more than 2× and more than 2 s |
//! | `media.timestamp_backwards` | warning (error past 1 s) | a frame's timestamp is lower than the previous frame's of the same kind |
//! | `media.timestamp_rollover` | error | timestamps wrap at 24 bits (16777215 ms) instead of going on |
//! | `media.timestamp_jump` | warning | timestamps leap forward by more than 3 s between consecutive frames |
//! | `media.av_drift` | error | audio and video timestamps more than 1 s apart for 10 frames in a row while both flow, or the publisher's audio and video starting more than 1 s apart |
//! | `media.video_stopped` / `media.audio_stopped` | error | one kind goes on for more than 2.5 s (and 3 of the other's frame intervals) after the other stopped |
//! | `media.resolution_change` | warning | a new sequence header with another resolution or codec |
//! | `media.framerate_change` | warning | the measured frame rate changes by more than 40% (and 3 fps) |
//! | `media.codec_legacy_id` | warning | HEVC/AV1 with the unofficial codec ids 12/13 |
//! | `media.codec_not_announced` | error (warning) | an Enhanced RTMP codec the receiver did not list in fourCcList (or without any E-RTMP announcement) |
//! | `media.no_metadata` | warning | the publisher sends media without onMetaData |
//! | `media.metadata_mismatch` | warning | onMetaData disagrees with the sequence headers (size, codec, sample rate, channels) |
//! | `media.bitrate_high` | warning | the measured video (or audio) bitrate is more than twice the declared one (and 64 kbit/s above it) |

use crate::command::DataMessage;
use crate::media::audio::AudioConfig;
use crate::media::{AudioTag, FourCc, VideoTag};
use crate::message::Body;
use crate::session::{Direction, Event, MessageEvent};

use super::{msg_evidence, sender, Evidence, Facts, Finding, MsgRef, Severity, Sink};

/// Message streams tracked at once.
const MAX_TRACKS: usize = 8;
/// Longest acceptable keyframe interval, ms.
pub const MAX_KEYFRAME_INTERVAL_MS: i64 = 4000;
/// Largest acceptable audio/video offset, ms.
pub const MAX_DRIFT_MS: i64 = 1000;
/// Time one kind may go on alone before the other counts as stopped, ms
/// (at least three of the stopped kind's frame intervals).
pub const STOPPED_MS: i64 = 2500;
/// Frames in a row with audio and video too far apart before it counts as drift.
const DRIFT_FRAMES: u32 = 10;
/// A step back larger than this (ms) is an error, not jitter.
const BACKWARDS_ERROR_MS: i64 = 1000;
/// Largest forward step between consecutive frames, ms.
pub const MAX_JUMP_MS: i64 = 3000;
/// Frame-rate measuring window, ms.
const FPS_WINDOW_MS: i64 = 2000;
/// Messages within which the other kind must have been seen for drift to count.
const RECENT: u64 = 16;
/// Media time before the bitrate is judged, ms.
const BITRATE_SPAN_MS: i64 = 4000;
/// Excess over the declared bitrate that is never "far above", kbit/s.
const BITRATE_MARGIN_KBPS: f64 = 64.0;

#[derive(Debug, Clone, PartialEq, Default)]
struct Meta {
    width: Option<f64>,
    height: Option<f64>,
    framerate: Option<f64>,
    video_codec: Option<String>,
    audio_codec: Option<String>,
    /// Declared video and audio bitrates (kbit/s), when non-zero.
    video_kbps: Option<f64>,
    audio_kbps: Option<f64>,
    sample_rate: Option<f64>,
    stereo: Option<bool>,
    evidence: Option<Evidence>,
}

#[derive(Debug, Default)]
struct Track {
    dir: Option<Direction>,
    stream_id: u32,
    meta: Option<Meta>,
    /// Video configuration: codec, width, height, evidence.
    video_config: Option<(&'static str, Option<u32>, Option<u32>, Evidence)>,
    /// Audio configuration: codec, sample rates it implies, channels, evidence.
    audio_config: Option<(&'static str, Vec<u32>, Option<u8>, Evidence)>,
    video_frames: u64,
    audio_frames: u64,
    last_video: Option<MsgRef>,
    last_audio: Option<MsgRef>,
    last_key: Option<MsgRef>,
    first_video: Option<MsgRef>,
    first_audio: Option<MsgRef>,
    /// Consecutive frames with audio and video more than 1 s apart, and the first of them.
    drift_run: u32,
    drift_first: Option<(Evidence, Evidence)>,
    /// Keyframe intervals: smallest and largest (ms), and how many.
    key_min: i64,
    key_max: i64,
    key_count: u64,
    key_evidence: Option<(Evidence, Evidence)>,
    /// Messages of this track since the last video / audio frame.
    since_video: u64,
    since_audio: u64,
    /// Frame-rate window: start timestamp, frames, baseline fps.
    fps_start: Option<i64>,
    fps_frames: u64,
    fps_base: Option<f64>,
    /// Media bytes (video, audio) and the timestamps they span.
    video_bytes: u64,
    audio_bytes: u64,
    first_ts: Option<i64>,
    last_ts: i64,
    checked_codec: bool,
    /// Whether the no-metadata check ran.
    checked_meta: bool,
    /// Longest keyframe interval above the limit, and whether it was between two keyframes.
    gop_worst: Option<Gop>,
    /// Longest time one kind went on alone (video gone, audio gone), ms.
    alone_worst: [Option<Alone>; 2],
}

/// State of the media rules.
#[derive(Debug, Default)]
pub(super) struct Rules {
    tracks: Vec<Track>,
}

/// Codec name of an onMetaData codec id (number, FourCC number, or string).
fn meta_codec(v: &crate::amf::Value, video: bool) -> Option<String> {
    if let Some(s) = v.as_str() {
        let s = s.to_string_lossy().into_owned();
        return Some(fourcc_codec(&s, video).unwrap_or(s));
    }
    let n = v.as_f64()?;
    if n.fract() != 0.0 || n < 0.0 {
        return None;
    }
    let n = n as u64;
    if n > 255 && n <= u32::MAX as u64 {
        let b = (n as u32).to_be_bytes();
        let s = String::from_utf8_lossy(&b).into_owned();
        return Some(fourcc_codec(&s, video).unwrap_or(s));
    }
    let name = if video {
        crate::media::video::codec_id_name(n as u8)
    } else {
        crate::media::audio::sound_format_name(n as u8)
    };
    Some(name.to_string())
}

fn fourcc_codec(s: &str, video: bool) -> Option<String> {
    let b = s.as_bytes();
    if b.len() != 4 {
        return None;
    }
    let f = FourCc([b[0], b[1], b[2], b[3]]);
    let name = if video {
        crate::media::video::fourcc_name(f)
    } else {
        crate::media::audio::fourcc_name(f)
    };
    (name != "unknown").then(|| name.to_string())
}

fn read_meta(d: &DataMessage, m: &MessageEvent) -> Option<Meta> {
    let obj = d.metadata()?;
    let num = |k: &str| obj.value.get(k).and_then(|v| v.value.as_f64());
    Some(Meta {
        width: num("width"),
        height: num("height"),
        framerate: num("framerate").or_else(|| num("fps")),
        video_codec: obj
            .value
            .get("videocodecid")
            .and_then(|v| meta_codec(&v.value, true)),
        audio_codec: obj
            .value
            .get("audiocodecid")
            .and_then(|v| meta_codec(&v.value, false)),
        // ffmpeg writes 0 when the encoder has no target bitrate (CRF): unknown, not zero.
        video_kbps: num("videodatarate").filter(|r| *r > 0.0),
        audio_kbps: num("audiodatarate").filter(|r| *r > 0.0),
        sample_rate: num("audiosamplerate"),
        stereo: obj.value.get("stereo").and_then(|v| v.value.as_bool()),
        evidence: Some(msg_evidence(m)),
    })
}

/// Codecs whose frames can't be decoded without a sequence header first.
fn video_needs_config(v: &VideoTag) -> bool {
    matches!(v.codec, "H.264" | "HEVC" | "AV1" | "VP9" | "VVC")
        && (v.avc_packet_type.is_some() || v.enhanced)
}

fn audio_needs_config(a: &AudioTag) -> bool {
    a.aac_packet_type.is_some() || (a.enhanced && matches!(a.codec, "AAC" | "Opus" | "FLAC"))
}

fn secs(ms: i64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

impl Rules {
    fn track(&mut self, m: &MessageEvent) -> Option<&mut Track> {
        let pos = self
            .tracks
            .iter()
            .position(|t| t.dir == Some(m.dir) && t.stream_id == m.raw.stream_id);
        let i = match pos {
            Some(i) => i,
            None if self.tracks.len() < MAX_TRACKS => {
                self.tracks.push(Track {
                    dir: Some(m.dir),
                    stream_id: m.raw.stream_id,
                    ..Track::default()
                });
                self.tracks.len() - 1
            }
            None => return None,
        };
        self.tracks.get_mut(i)
    }

    pub(super) fn observe(&mut self, ev: &Event, facts: &mut Facts, sink: &mut Sink) {
        let Event::Message(m) = ev else {
            return;
        };
        if !m.raw.complete {
            return;
        }
        match &m.body {
            Body::Video(v) => {
                if let Some(t) = self.track(m) {
                    t.video_bytes += u64::from(m.raw.length);
                    t.since_audio += 1;
                    video(t, m, v, facts, sink);
                }
            }
            Body::Audio(a) => {
                if let Some(t) = self.track(m) {
                    t.audio_bytes += u64::from(m.raw.length);
                    t.since_video += 1;
                    audio(t, m, a, facts, sink);
                }
            }
            // After a seek the server restarts the stream at the new position:
            // timestamps may go back, and rates are measured afresh.
            Body::Command(c)
                if c.status().and_then(|st| st.code.as_deref())
                    == Some("NetStream.Seek.Notify") =>
            {
                if let Some(t) = self.track(m) {
                    t.last_video = None;
                    t.last_audio = None;
                    t.fps_start = None;
                    t.fps_frames = 0;
                    t.video_bytes = 0;
                    t.audio_bytes = 0;
                    t.first_ts = None;
                    t.last_ts = 0;
                }
            }
            Body::Data(d) => {
                if let Some(meta) = read_meta(d, m) {
                    if let Some(t) = self.track(m) {
                        if t.meta.as_ref().map(|x| Meta {
                            evidence: None,
                            ..x.clone()
                        }) != Some(Meta {
                            evidence: None,
                            ..meta.clone()
                        }) {
                            t.meta = Some(meta);
                            check_metadata(t, facts, sink);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn finish(&mut self, facts: &mut Facts, sink: &mut Sink) {
        for t in &mut self.tracks {
            check_bitrate(t, facts, sink, true);
            check_irregular(t, facts, sink);
        }
        // Rules raised live say what was known then; give the worst case.
        if let Some(g) = self
            .tracks
            .iter()
            .filter_map(|t| t.gop_worst)
            .max_by_key(|g| g.gap())
        {
            sink.update("media.keyframe_interval", |f| {
                f.title = g.title();
                f.explanation = g.explanation();
            });
        }
        for (i, (code, gone)) in [
            ("media.video_stopped", "video"),
            ("media.audio_stopped", "audio"),
        ]
        .into_iter()
        .enumerate()
        {
            let worst = self
                .tracks
                .iter()
                .filter_map(|t| t.alone_worst[i])
                .max_by_key(|a| i64::from(a.to) - i64::from(a.last));
            if let Some(a) = worst {
                let (title, explanation) = stopped_text(gone, a);
                sink.update(code, |f| {
                    f.title = title;
                    f.explanation = explanation;
                });
            }
        }
    }
}

fn timestamps(t: &mut Track, m: &MessageEvent, video: bool, facts: &Facts, sink: &mut Sink) {
    let ts = i64::from(m.raw.timestamp);
    let last = if video { t.last_video } else { t.last_audio };
    let kind = if video { "video" } else { "audio" };
    if t.first_ts.is_none() {
        t.first_ts = Some(ts);
    }
    t.last_ts = t.last_ts.max(ts);
    let Some(prev) = last else {
        return;
    };
    let p = i64::from(prev.timestamp);
    if ts < p {
        // A 24-bit wrap: a sender that forgot the extended timestamp.
        let wrapped_24 = (0xF0_0000..=0xFF_FFFF + 60_000).contains(&p) && ts < 0x10_0000;
        let f = if wrapped_24 {
            Finding::new(
                Severity::Error,
                "media.timestamp_rollover",
                format!("The {kind} timestamps wrap to zero at 16777215 ms (4.66 h)"),
            )
            .explain(format!(
                "A {kind} frame at {p} ms is followed by one at {ts} ms. RTMP timestamps are 32-bit: past 0xFFFFFF the sender must use the extended timestamp field, not wrap the 24-bit one. Servers and players see time jump back 4.66 hours: recordings break, players stall or drop frames."
            ))
            .hint("fix the sender's extended timestamp handling (or restart long streams before 4.6 hours)")
        } else {
            // A step back of more than a second is a reset (a restarted source or
            // encoder), which breaks recordings and players; a few ms is jitter.
            let big = p - ts > BACKWARDS_ERROR_MS;
            if big && sink.has("media.timestamp_backwards") {
                sink.update("media.timestamp_backwards", |f| {
                    f.severity = Severity::Error
                });
            }
            Finding::new(
                if big { Severity::Error } else { Severity::Warning },
                "media.timestamp_backwards",
                format!("The {kind} timestamps go backwards by {} ms", p - ts),
            )
            .explain(format!(
                "A {kind} frame at {ts} ms follows one at {p} ms on the same stream. Frames must come in decoding order with non-decreasing timestamps; servers drop such frames or reorder them badly, and HLS/recording segmenters break."
            ))
            .hint("check the encoder's timestamp source (a clock reset, a restarted capture device, B-frames sent in presentation order)")
        };
        sink.raise(
            facts,
            f.at(prev.evidence(m.dir, format!("{kind} at {p} ms")))
                .at(msg_evidence(m)),
        );
        return;
    }
    let step = ts - p;
    let wall = if facts.timed && prev.time > 0.0 && m.time > 0.0 {
        ((m.time - prev.time) * 1000.0) as i64
    } else {
        0
    };
    if step - wall.max(0) > MAX_JUMP_MS {
        let f = Finding::new(
            Severity::Warning,
            "media.timestamp_jump",
            format!("The {kind} timestamps jump forward by {}", secs(step)),
        )
        .explain(format!(
            "Consecutive {kind} frames at {p} ms and {ts} ms{}. Players wait out the gap (a freeze) or drop the stream; audio and video may lose sync.",
            if wall > 0 {
                format!(", though only {} passed between them on the wire", secs(wall))
            } else {
                String::new()
            }
        ))
        .hint("check the encoder's timestamp source and its log for dropped frames or a source that stalled")
        .at(prev.evidence(m.dir, format!("{kind} at {p} ms")))
        .at(msg_evidence(m));
        sink.raise(facts, f);
    }
}

fn video(t: &mut Track, m: &MessageEvent, v: &VideoTag, facts: &Facts, sink: &mut Sink) {
    check_codec_video(t, m, v, facts, sink);
    if v.is_sequence_header() {
        if let Some(cfg) = &v.config {
            let (w, h) = (cfg.width(), cfg.height());
            if let Some((codec, ow, oh, oev)) = &t.video_config {
                if *codec != v.codec || (w.is_some() && oh.is_some() && (w, h) != (*ow, *oh)) {
                    let size = |w: Option<u32>, h: Option<u32>| match (w, h) {
                        (Some(w), Some(h)) => format!("{w}x{h}"),
                        _ => "?".into(),
                    };
                    let f = Finding::new(
                        Severity::Warning,
                        "media.resolution_change",
                        format!(
                            "The video changes mid-stream from {} {} to {} {}",
                            codec,
                            size(*ow, *oh),
                            v.codec,
                            size(w, h)
                        ),
                    )
                    .explain("A new video sequence header with another resolution or codec arrived in the middle of the stream. nginx-rtmp passes it on, but HLS/DASH packagers, recorders and many players (and platforms' transcoders) cannot follow a change without reconnecting: the picture freezes or the stream is cut.")
                    .hint("keep the encoder's output resolution fixed (scale in the encoder instead of changing the canvas or source while live)")
                    .at(oev.clone())
                    .at(msg_evidence(m));
                    sink.raise(facts, f);
                }
            }
            t.video_config = Some((v.codec, w, h, msg_evidence(m)));
            check_metadata(t, facts, sink);
        } else if t.video_config.is_none() {
            t.video_config = Some((v.codec, None, None, msg_evidence(m)));
        }
        return;
    }
    if !v.is_coded_frame() {
        return;
    }
    let ts = i64::from(m.raw.timestamp);
    if t.video_config.is_none() && video_needs_config(v) {
        let f = Finding::new(
            Severity::Error,
            "media.no_video_config",
            format!("{} video frames arrive before the video sequence header", v.codec),
        )
        .explain(format!(
            "The first {} frame on this stream came before any sequence header (the {} decoder configuration with SPS/PPS). Decoders, servers that transmux (HLS, recording) and players cannot decode the video until one arrives; many never recover.",
            v.codec,
            if v.codec == "H.264" { "AVCDecoderConfigurationRecord" } else { "codec configuration record" }
        ))
        .hint("the encoder must send the video sequence header (AVC/HEVC config) right after publish, before the first frame; with ffmpeg, do not cut the stream's start with -ss after the input or use -c copy from a mid-stream source")
        .at(msg_evidence(m));
        sink.raise(facts, f);
    }
    if t.video_frames == 0 && m.dir == Direction::ClientToServer && !v.is_keyframe() {
        let f = Finding::new(
            Severity::Warning,
            "media.first_not_keyframe",
            "The first video frame is not a keyframe",
        )
        .explain("The publisher's first coded video frame is an inter frame, which refers to frames nobody has. Players and servers drop everything up to the first keyframe, so the picture starts late (or shows garbage until then).")
        .hint("start the stream on a keyframe: encoders do by default; when relaying with -c copy, start from a keyframe")
        .at(msg_evidence(m));
        sink.raise(facts, f);
    }
    if t.first_video.is_none() {
        t.first_video = Some(MsgRef::of(m));
        start_offset(t, m, facts, sink);
    }
    check_no_metadata(t, m, facts, sink);
    // Keyframes.
    if v.is_keyframe() {
        if let Some(k) = t.last_key {
            let gap = ts - i64::from(k.timestamp);
            if gap >= 0 {
                if t.key_count == 0 {
                    t.key_min = gap;
                    t.key_max = gap;
                } else {
                    t.key_min = t.key_min.min(gap);
                    if gap > t.key_max {
                        t.key_max = gap;
                    }
                }
                t.key_count += 1;
                if t.key_count >= 2 && t.key_evidence.is_none() {
                    // Remember where intervals first disagree, for the irregularity rule.
                    if t.key_max > 2 * t.key_min.max(1) && t.key_max - t.key_min > 2000 {
                        t.key_evidence = Some((
                            k.evidence(m.dir, format!("keyframe at {} ms", k.timestamp)),
                            msg_evidence(m),
                        ));
                    }
                }
                if gap > MAX_KEYFRAME_INTERVAL_MS {
                    worst_gop(t, k.timestamp, m, true);
                    raise_gop(k, m, true, facts, sink);
                }
            }
        }
        t.last_key = Some(MsgRef::of(m));
    } else if let Some(k) = t.last_key {
        let gap = ts - i64::from(k.timestamp);
        if gap > MAX_KEYFRAME_INTERVAL_MS {
            worst_gop(t, k.timestamp, m, false);
            raise_gop(k, m, false, facts, sink);
        }
    } else if let Some(first) = t.first_video {
        let gap = ts - i64::from(first.timestamp);
        if gap > MAX_KEYFRAME_INTERVAL_MS && facts.has_start() {
            worst_gop(t, first.timestamp, m, false);
            raise_gop(first, m, false, facts, sink);
        }
    }
    timestamps(t, m, true, facts, sink);
    // Audio against video, while both flow.
    if let Some(a) = t.last_audio.filter(|_| t.since_audio <= RECENT) {
        drift(t, m, ts - i64::from(a.timestamp), a, facts, sink);
    }
    if let Some(a) = t.last_audio {
        let alone = ts - i64::from(a.timestamp);
        let limit = stopped_limit(t.first_audio, t.last_audio, t.audio_frames);
        if t.audio_frames >= 10 && alone > limit && t.since_audio > 10 {
            worst_alone(&mut t.alone_worst[1], a.timestamp, m.raw.timestamp);
            stopped(m, "audio", a, facts, sink);
        }
    }
    frame_rate(t, m, ts, facts, sink);
    t.video_frames += 1;
    t.since_video = 0;
    t.last_video = Some(MsgRef::of(m));
    if t.video_frames % 256 == 0 {
        check_bitrate(t, facts, sink, false);
    }
}

fn audio(t: &mut Track, m: &MessageEvent, a: &AudioTag, facts: &Facts, sink: &mut Sink) {
    check_codec_audio(t, m, a, facts, sink);
    if a.is_sequence_header() {
        let (rates, channels) = match a.config.as_deref() {
            Some(AudioConfig::Aac(c)) => {
                let mut r: Vec<u32> = c
                    .sample_rate
                    .into_iter()
                    .chain(c.output_sample_rate())
                    .collect();
                // Implicit SBR (HE-AAC) doubles the rate without saying so.
                if let Some(x) = c.sample_rate {
                    r.push(x * 2);
                }
                (r, c.channels)
            }
            Some(AudioConfig::Opus(h)) => (vec![h.input_sample_rate, 48000], Some(h.channels)),
            Some(AudioConfig::Flac(i)) => (vec![i.sample_rate], Some(i.channels)),
            None => (Vec::new(), None),
        };
        t.audio_config = Some((a.codec, rates, channels, msg_evidence(m)));
        check_metadata(t, facts, sink);
        return;
    }
    if !a.is_coded_frames() {
        return;
    }
    if t.audio_config.is_none() && audio_needs_config(a) {
        let f = Finding::new(
            Severity::Error,
            "media.no_audio_config",
            format!("{} audio frames arrive before the audio sequence header", a.codec),
        )
        .explain(format!(
            "The first {} frame on this stream came before the audio sequence header ({}). Decoders and transmuxers cannot decode the audio without it: the stream plays silent or not at all.",
            a.codec,
            if a.codec == "AAC" { "the AudioSpecificConfig" } else { "the codec configuration" }
        ))
        .hint("the encoder must send the AAC sequence header right after publish, before the first audio frame")
        .at(msg_evidence(m));
        sink.raise(facts, f);
    }
    check_no_metadata(t, m, facts, sink);
    let ts = i64::from(m.raw.timestamp);
    timestamps(t, m, false, facts, sink);
    if let Some(v) = t.last_video.filter(|_| t.since_video <= RECENT) {
        drift(t, m, i64::from(v.timestamp) - ts, v, facts, sink);
    }
    if let Some(v) = t.last_video {
        let alone = ts - i64::from(v.timestamp);
        let limit = stopped_limit(t.first_video, t.last_video, t.video_frames);
        if t.video_frames >= 10 && alone > limit && t.since_video > 10 {
            worst_alone(&mut t.alone_worst[0], v.timestamp, m.raw.timestamp);
            stopped(m, "video", v, facts, sink);
        }
    }
    if t.first_audio.is_none() {
        t.first_audio = Some(MsgRef::of(m));
        start_offset(t, m, facts, sink);
    }
    t.audio_frames += 1;
    t.since_audio = 0;
    t.last_audio = Some(MsgRef::of(m));
}

/// The longest stretch without a keyframe: from the keyframe at `from` to the frame at `to`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Gop {
    from: u32,
    to: u32,
    /// Whether `to` is the next keyframe (or a frame still waiting for one).
    between: bool,
    dir: Direction,
}

impl Gop {
    fn gap(&self) -> i64 {
        i64::from(self.to) - i64::from(self.from)
    }

    fn title(&self) -> String {
        if self.between {
            format!("Keyframes are {} apart (more than 4 s)", secs(self.gap()))
        } else {
            format!(
                "No keyframe for {} of video (more than 4 s)",
                secs(self.gap())
            )
        }
    }

    fn explanation(&self) -> String {
        format!(
            "The {} sent a keyframe at {} ms and {} at {} ms. A viewer can only start watching at a keyframe, and HLS/DASH segments can only be cut at one: with keyframes this far apart players wait or show a black picture, latency grows, and platforms (YouTube, Twitch, Facebook) warn about or reject the stream. They ask for a keyframe every 2 s (4 s at most).",
            sender(self.dir),
            self.from,
            if self.between { "the next one only" } else { "none after it up to the frame at" },
            self.to
        )
    }
}

fn worst_gop(t: &mut Track, from: u32, m: &MessageEvent, between: bool) {
    let g = Gop {
        from,
        to: m.raw.timestamp,
        between,
        dir: m.dir,
    };
    if t.gop_worst.is_none_or(|w| g.gap() > w.gap()) {
        t.gop_worst = Some(g);
    }
}

fn raise_gop(k: MsgRef, m: &MessageEvent, between: bool, facts: &Facts, sink: &mut Sink) {
    if sink.has("media.keyframe_interval") {
        return;
    }
    let g = Gop {
        from: k.timestamp,
        to: m.raw.timestamp,
        between,
        dir: m.dir,
    };
    let f = Finding::new(Severity::Error, "media.keyframe_interval", g.title())
        .explain(g.explanation())
        .hint("set the encoder's keyframe interval to 2 s: ffmpeg -g (2 × frame rate, e.g. -g 50 at 25 fps; add -keyint_min to keep it fixed), OBS Output > Keyframe Interval 2, x264enc key-int-max")
        .at(k.evidence(m.dir, format!("keyframe at {} ms", k.timestamp)))
        .at(msg_evidence(m));
    sink.raise(facts, f);
}

fn drift(
    t: &mut Track,
    m: &MessageEvent,
    video_minus_audio: i64,
    other: MsgRef,
    facts: &Facts,
    sink: &mut Sink,
) {
    if t.audio_frames == 0 || t.video_frames == 0 || sink.has("media.av_drift") {
        return;
    }
    if video_minus_audio.abs() <= MAX_DRIFT_MS {
        t.drift_run = 0;
        t.drift_first = None;
        return;
    }
    let (ahead, behind) = if video_minus_audio > 0 {
        ("video", "audio")
    } else {
        ("audio", "video")
    };
    t.drift_run += 1;
    if t.drift_first.is_none() {
        t.drift_first = Some((
            other.evidence(
                m.dir,
                format!("{behind} or {ahead} at {} ms", other.timestamp),
            ),
            msg_evidence(m),
        ));
    }
    // A single late frame is jitter; a run of them is an offset.
    if t.drift_run < DRIFT_FRAMES {
        return;
    }
    let Some((a, b)) = t.drift_first.clone() else {
        return;
    };
    let f = Finding::new(
        Severity::Error,
        "media.av_drift",
        format!("Audio and video are {} apart", secs(video_minus_audio.abs())),
    )
    .explain(format!(
        "Frames sent side by side carry timestamps {} ms apart, frame after frame: the {ahead} runs ahead of the {behind}. Players show the two out of sync (lips and sound apart) or stall, and servers that interleave by timestamp buffer or drop frames.",
        video_minus_audio.abs()
    ))
    .hint("check the encoder's audio and video sources share one clock (sync offset settings such as ffmpeg -itsoffset or OBS's sync offset, a capture device with its own clock, resampling)")
    .at(a)
    .at(b)
    .at(msg_evidence(m));
    sink.raise(facts, f);
}

/// The publisher's audio and video start more than 1 s apart: muxers send
/// frames in timestamp order, so an offset between the sources shows here
/// rather than between interleaved frames.
fn start_offset(t: &Track, m: &MessageEvent, facts: &Facts, sink: &mut Sink) {
    let (Some(v), Some(a)) = (t.first_video, t.first_audio) else {
        return;
    };
    if m.dir != Direction::ClientToServer || sink.has("media.av_drift") {
        return;
    }
    let d = i64::from(a.timestamp) - i64::from(v.timestamp);
    if d.abs() <= MAX_DRIFT_MS {
        return;
    }
    let (late, early) = if d > 0 {
        ("audio", "video")
    } else {
        ("video", "audio")
    };
    let f = Finding::new(
        Severity::Error,
        "media.av_drift",
        format!("The {late} starts {} after the {early}", secs(d.abs())),
    )
    .explain(format!(
        "The first {early} frame is at {} ms, the first {late} frame at {} ms. The encoder's sources are offset by {}: unless that is on purpose, sound and picture are out of sync by as much for the whole stream ({late} missing at the start).",
        if d > 0 { v.timestamp } else { a.timestamp },
        if d > 0 { a.timestamp } else { v.timestamp },
        secs(d.abs())
    ))
    .hint("check the encoder's sync offsets (ffmpeg -itsoffset, OBS's audio sync offset) and that both sources start together")
    .at(v.evidence(m.dir, format!("first video frame at {} ms", v.timestamp)))
    .at(a.evidence(m.dir, format!("first audio frame at {} ms", a.timestamp)));
    sink.raise(facts, f);
}

/// How long one kind may go on alone before the other counts as stopped.
fn stopped_limit(first: Option<MsgRef>, last: Option<MsgRef>, frames: u64) -> i64 {
    let interval = match (first, last) {
        (Some(f), Some(l)) if frames > 1 => {
            (i64::from(l.timestamp) - i64::from(f.timestamp)).max(0) / (frames as i64 - 1)
        }
        _ => 0,
    };
    STOPPED_MS.max(3 * interval)
}

/// One kind alone: the other's last frame at `last`, this kind going on up to `to`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Alone {
    last: u32,
    to: u32,
}

fn worst_alone(w: &mut Option<Alone>, last: u32, to: u32) {
    let a = Alone { last, to };
    if w.is_none_or(|w| i64::from(to) - i64::from(last) > i64::from(w.to) - i64::from(w.last)) {
        *w = Some(a);
    }
}

fn stopped_text(gone: &str, a: Alone) -> (String, String) {
    let still = if gone == "video" { "audio" } else { "video" };
    let alone = i64::from(a.to) - i64::from(a.last);
    (
        format!("The {gone} stopped: {} of {still} only after the last {gone} frame", secs(alone)),
        format!(
            "The last {gone} frame of this stream is at {} ms; {still} goes on without it up to {} ms. Viewers see {} while {}; players and packagers waiting for {gone} may stall.",
            a.last,
            a.to,
            if gone == "video" { "a frozen picture" } else { "the picture" },
            if gone == "video" { "the sound goes on" } else { "the sound is gone" }
        ),
    )
}

fn stopped(m: &MessageEvent, gone: &str, last: MsgRef, facts: &Facts, sink: &mut Sink) {
    let code = if gone == "video" {
        "media.video_stopped"
    } else {
        "media.audio_stopped"
    };
    if sink.has(code) {
        return;
    }
    let (title, explanation) = stopped_text(
        gone,
        Alone {
            last: last.timestamp,
            to: m.raw.timestamp,
        },
    );
    let f = Finding::new(Severity::Error, code, title)
        .explain(explanation)
        .hint(format!(
            "the encoder's {gone} source or encoder stopped delivering (a device unplugged, a crashed capture, an input file shorter than the other); check its log and the source"
        ))
        .at(last.evidence(m.dir, format!("last {gone} frame at {} ms", last.timestamp)))
        .at(msg_evidence(m));
    sink.raise(facts, f);
}

fn frame_rate(t: &mut Track, m: &MessageEvent, ts: i64, facts: &Facts, sink: &mut Sink) {
    let Some(start) = t.fps_start else {
        t.fps_start = Some(ts);
        t.fps_frames = 1;
        return;
    };
    if ts < start {
        t.fps_start = Some(ts);
        t.fps_frames = 1;
        return;
    }
    if ts - start < FPS_WINDOW_MS {
        t.fps_frames += 1;
        return;
    }
    let fps = t.fps_frames as f64 * 1000.0 / (ts - start) as f64;
    t.fps_start = Some(ts);
    t.fps_frames = 1;
    let Some(base) = t.fps_base else {
        t.fps_base = Some(fps);
        return;
    };
    if (fps - base).abs() > (0.4 * base).max(3.0) && !sink.has("media.framerate_change") {
        let f = Finding::new(
            Severity::Warning,
            "media.framerate_change",
            format!("The frame rate changes mid-stream from {base:.1} to {fps:.1} fps"),
        )
        .explain(format!(
            "Over the first seconds the video ran at {base:.1} frames per second; over the 2 s up to {ts} ms it ran at {fps:.1}. A sudden change means the encoder is dropping frames (overloaded CPU or GPU, a slow source) or the source changed; players stutter."
        ))
        .hint("check the encoder's CPU/GPU load and dropped-frame counters; lower the preset or resolution, or fix the source's frame rate")
        .at(msg_evidence(m));
        sink.raise(facts, f);
    }
}

fn check_irregular(t: &Track, facts: &Facts, sink: &mut Sink) {
    if sink.has("media.keyframe_interval") || t.key_count < 3 {
        return;
    }
    let Some((a, b)) = &t.key_evidence else {
        return;
    };
    let f = Finding::new(
        Severity::Warning,
        "media.keyframe_irregular",
        format!("Keyframe intervals vary from {} to {}", secs(t.key_min), secs(t.key_max)),
    )
    .explain("Keyframes do not come at a steady pace. HLS/DASH segments are cut at keyframes, so segments come out of uneven length; players buffer more and latency grows.")
    .hint("use a fixed keyframe interval (ffmpeg: -g N -keyint_min N -sc_threshold 0; OBS: Keyframe Interval 2)")
    .at(a.clone())
    .at(b.clone());
    sink.raise(facts, f);
}

fn check_codec_video(
    t: &mut Track,
    m: &MessageEvent,
    v: &VideoTag,
    facts: &Facts,
    sink: &mut Sink,
) {
    if t.checked_codec {
        return;
    }
    t.checked_codec = true;
    if v.is_nonstandard_codec_id() {
        let f = Finding::new(
            Severity::Warning,
            "media.codec_legacy_id",
            format!("{} is sent with the unofficial FLV codec id {}", v.codec, v.codec_id.unwrap_or(0)),
        )
        .explain(format!(
            "Classic RTMP (FLV) has no codec id for {}; ids 12 (HEVC) and 13 (AV1) are a private extension that only some servers and CDNs understand (SRS, some Chinese CDNs). nginx-rtmp, YouTube and Twitch do not: the stream is rejected or forwarded as undecodable video.",
            v.codec
        ))
        .hint("use Enhanced RTMP (FourCC hvc1/av01, ffmpeg 6.1+ or OBS 29.1+) with a server that supports it, or send H.264")
        .at(msg_evidence(m));
        sink.raise(facts, f);
        return;
    }
    if let Some(f) = v.fourcc.filter(|_| v.enhanced) {
        not_announced(m, f, v.codec, facts, sink);
    }
}

fn check_codec_audio(
    _t: &mut Track,
    m: &MessageEvent,
    a: &AudioTag,
    facts: &Facts,
    sink: &mut Sink,
) {
    if let Some(f) = a.fourcc.filter(|_| a.enhanced) {
        if !sink.has("media.codec_not_announced") {
            not_announced(m, f, a.codec, facts, sink);
        }
    }
}

/// An Enhanced RTMP codec the receiver did not list in connect's fourCcList.
fn not_announced(m: &MessageEvent, f: FourCc, codec: &str, facts: &Facts, sink: &mut Sink) {
    let name = f.to_string();
    let listed = |l: &[String]| l.iter().any(|x| x == &name || x == "*");
    let (sev, detail) = match m.dir {
        Direction::ClientToServer => match &facts.server_fourcc {
            Some(l) if listed(l) => return,
            Some(l) => (
                Severity::Error,
                format!("The server's answer to connect lists the codecs it accepts ({}), and {name} is not among them.", if l.is_empty() { "none".to_string() } else { l.join(", ") }),
            ),
            None if !facts.has_start() || facts.connect.is_none() => return,
            None => (
                Severity::Warning,
                "The server's answer to connect carries no fourCcList at all: it does not announce Enhanced RTMP, so it is probably a classic server (nginx-rtmp, older SRS/Wowza) that stores or forwards these frames without understanding them.".to_string(),
            ),
        },
        Direction::ServerToClient => {
            if facts.connect.is_none() || listed(&facts.client_fourcc) {
                return;
            }
            (
                Severity::Warning,
                format!("The player's connect did not list {name} in fourCcList, so it may not decode it."),
            )
        }
    };
    let f = Finding::new(
        sev,
        "media.codec_not_announced",
        format!("{codec} via Enhanced RTMP ({name}), which the {} did not announce", sender(m.dir.reverse())),
    )
    .explain(format!(
        "Enhanced RTMP carries codecs classic RTMP has no id for (HEVC, AV1, VP9, Opus, …) under a FourCC; both sides announce the FourCCs they take in connect. {detail}"
    ))
    .hint("use a server with Enhanced RTMP support for this codec (recent SRS, YouTube/Twitch E-RTMP ingest, nginx-rtmp forks with it), or send H.264/AAC")
    .at(msg_evidence(m))
    .at_opt(if m.dir == Direction::ClientToServer { facts.connect.clone() } else { None });
    sink.raise(facts, f);
}

fn check_metadata(t: &Track, facts: &Facts, sink: &mut Sink) {
    let Some(meta) = &t.meta else {
        return;
    };
    let Some(mev) = meta.evidence.clone() else {
        return;
    };
    let mut diffs = Vec::new();
    let mut at = None;
    if let Some((codec, w, h, ev)) = &t.video_config {
        if let (Some(mw), Some(mh), Some(w), Some(h)) = (meta.width, meta.height, w, h) {
            if mw > 0.0 && mh > 0.0 && (mw != f64::from(*w) || mh != f64::from(*h)) {
                diffs.push(format!(
                    "onMetaData says {mw}x{mh}, the sequence header {w}x{h}"
                ));
                at = Some(ev.clone());
            }
        }
        if let Some(mc) = &meta.video_codec {
            if mc != codec && mc != "reserved" {
                diffs.push(format!(
                    "onMetaData's videocodecid says {mc}, the stream is {codec}"
                ));
                at = Some(ev.clone());
            }
        }
    }
    if let Some((codec, rates, channels, ev)) = &t.audio_config {
        if let Some(mc) = &meta.audio_codec {
            if mc != codec && mc != "reserved" {
                diffs.push(format!(
                    "onMetaData's audiocodecid says {mc}, the stream is {codec}"
                ));
                at = Some(ev.clone());
            }
        }
        if let Some(r) = meta.sample_rate.filter(|r| *r > 0.0) {
            if !rates.is_empty() && !rates.iter().any(|x| f64::from(*x) == r) {
                diffs.push(format!(
                    "onMetaData says {r} Hz, the audio config {} Hz",
                    rates[0]
                ));
                at = Some(ev.clone());
            }
        }
        if let (Some(st), Some(ch)) = (meta.stereo, channels) {
            if st != (*ch >= 2) {
                diffs.push(format!(
                    "onMetaData says {}, the audio config has {ch} channel(s)",
                    if st { "stereo" } else { "mono" }
                ));
                at = Some(ev.clone());
            }
        }
    }
    if diffs.is_empty() || sink.has("media.metadata_mismatch") {
        return;
    }
    let f = Finding::new(
        Severity::Warning,
        "media.metadata_mismatch",
        "onMetaData disagrees with the stream's sequence headers",
    )
    .explain(format!(
        "{}. Players and platforms that trust onMetaData size their player, choose decoders or transcode settings from it and get them wrong.",
        diffs.join("; ")
    ))
    .hint("fix the encoder's metadata (or let it write what it really sends); a relay that rescales or transcodes must rewrite onMetaData")
    .at(mev)
    .at_opt(at);
    sink.raise(facts, f);
}

/// The publisher's first audio or video frame, with no onMetaData before it.
fn check_no_metadata(t: &mut Track, m: &MessageEvent, facts: &Facts, sink: &mut Sink) {
    if t.checked_meta {
        return;
    }
    t.checked_meta = true;
    if t.meta.is_some() || m.dir != Direction::ClientToServer || facts.publish.is_none() {
        return;
    }
    let f = Finding::new(
        Severity::Warning,
        "media.no_metadata",
        "The publisher sends audio/video without onMetaData",
    )
    .explain("Encoders send @setDataFrame onMetaData (resolution, frame rate, codecs, bitrates) right after publish, before the first frame. None came before this one. Servers relay or record it as is, and players, recorders and platforms that rely on it show no size or duration, pick wrong defaults or reject the stream.")
    .hint("let the encoder write its metadata (ffmpeg's flv muxer and OBS do by default; a custom sender must send @setDataFrame onMetaData after NetStream.Publish.Start)")
    .at(msg_evidence(m));
    sink.raise(facts, f);
}

fn check_bitrate(t: &Track, facts: &Facts, sink: &mut Sink, at_end: bool) {
    let Some(meta) = &t.meta else {
        return;
    };
    let Some(first) = t.first_ts else {
        return;
    };
    let span = t.last_ts - first;
    if span < BITRATE_SPAN_MS
        || (!at_end && span < 2 * BITRATE_SPAN_MS)
        || sink.has("media.bitrate_high")
    {
        return;
    }
    for (kind, declared, bytes, key) in [
        ("video", meta.video_kbps, t.video_bytes, "videodatarate"),
        ("audio", meta.audio_kbps, t.audio_bytes, "audiodatarate"),
    ] {
        let Some(declared) = declared else {
            continue;
        };
        let measured = bytes as f64 * 8.0 / span as f64; // bits per ms = kbit/s
        if measured <= 2.0 * declared || measured - declared <= BITRATE_MARGIN_KBPS {
            continue;
        }
        let f = Finding::new(
            Severity::Warning,
            "media.bitrate_high",
            format!("The {kind} runs at {measured:.0} kbit/s, far above the {declared:.0} kbit/s it declares"),
        )
        .explain(format!(
            "onMetaData declares {key} {declared:.0} kbit/s; the {kind} sent over {} of timestamps averages {measured:.0} kbit/s. Servers and platforms that plan by the declared rate (ingest limits, transcoder ladders, players' buffers) fall short, and on a slow uplink the push backs up.",
            secs(span)
        ))
        .hint("use constant bitrate with a cap (ffmpeg -b:v with -maxrate and -bufsize, OBS CBR) so the stream stays near the bitrate you set")
        .at_opt(meta.evidence.clone())
        .at_opt(t.last_video.or(t.last_audio).and_then(|l| t.dir.map(|d| l.plain(d))));
        sink.raise(facts, f);
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amf::Value;

    #[test]
    fn metadata_codec_ids_are_named_like_the_tags() {
        assert_eq!(
            meta_codec(&Value::Number(7.0), true).as_deref(),
            Some("H.264")
        );
        assert_eq!(
            meta_codec(&Value::Number(10.0), false).as_deref(),
            Some("AAC")
        );
        let hvc1 = f64::from(u32::from_be_bytes(*b"hvc1"));
        assert_eq!(
            meta_codec(&Value::Number(hvc1), true).as_deref(),
            Some("HEVC")
        );
        assert_eq!(
            meta_codec(&Value::string("avc1"), true).as_deref(),
            Some("H.264")
        );
        assert_eq!(
            meta_codec(&Value::string("mp4a"), false).as_deref(),
            Some("AAC")
        );
    }
}
