//! Audio messages (RTMP type 8): the legacy FLV AUDIODATA header (FLV 10.1
//! E.4.2.1) and Enhanced RTMP v2's ExAudioTagHeader with FourCC codecs,
//! multichannel configuration, multitrack and ModEx.

use std::fmt::Write as _;
use thin_vec::ThinVec;

use serde::Serialize;

use crate::error::{hex_preview, DecodeError};
use crate::media::aac::{self, AudioSpecificConfig};
use crate::media::flac::{self, StreamInfo};
use crate::media::opus::{self, OpusHead};
use crate::media::{
    read_fourcc, read_mod_ex, summary_suffix, track_extent, wire_enum, FourCc, ModEx,
    MultitrackType, Outcome, TrackExtent, MAX_TRACKS,
};
use crate::reader::Reader;

/// SoundFormat 9 switches the header into Enhanced RTMP FourCC mode.
pub const SOUND_FORMAT_EX_HEADER: u8 = 9;
/// SoundFormat of AAC.
pub const SOUND_FORMAT_AAC: u8 = 10;

/// Enhanced RTMP audio FourCCs.
pub const FOURCC_AAC: FourCc = FourCc::new(b"mp4a");
/// Opus.
pub const FOURCC_OPUS: FourCc = FourCc::new(b"Opus");
/// FLAC.
pub const FOURCC_FLAC: FourCc = FourCc::new(b"fLaC");
/// AC-3.
pub const FOURCC_AC3: FourCc = FourCc::new(b"ac-3");
/// E-AC-3.
pub const FOURCC_EAC3: FourCc = FourCc::new(b"ec-3");
/// MP3.
pub const FOURCC_MP3: FourCc = FourCc::new(b".mp3");

/// Legacy SoundRate values in Hz (5.5, 11, 22, 44 kHz).
const SOUND_RATES: [u32; 4] = [5512, 11025, 22050, 44100];

wire_enum! {
    /// AACPacketType of a legacy AAC tag.
    pub enum AacPacketType {
        /// The AudioSpecificConfig follows.
        SequenceHeader = 0 => ("sequence_header", "sequence header"),
        /// Raw AAC frame data follows.
        Raw = 1 => ("raw", "raw"),
    }
}

wire_enum! {
    /// AudioPacketType of an Enhanced RTMP audio tag.
    pub enum AudioPacketType {
        /// Codec configuration (AudioSpecificConfig, OpusHead, FLAC STREAMINFO).
        SequenceStart = 0 => ("sequence_start", "sequence start"),
        /// Coded audio frames.
        CodedFrames = 1 => ("coded_frames", "coded frames"),
        /// End of the sequence.
        SequenceEnd = 2 => ("sequence_end", "sequence end"),
        /// Channel order and count.
        MultichannelConfig = 4 => ("multichannel_config", "multichannel config"),
        /// Turns on multitrack mode.
        Multitrack = 5 => ("multitrack", "multitrack"),
        /// A ModEx block precedes the real packet type.
        ModEx = 7 => ("mod_ex", "ModEx"),
    }
}

wire_enum! {
    /// AudioChannelOrder of a multichannel configuration.
    pub enum AudioChannelOrder {
        /// Only the channel count is known.
        Unspecified = 0 => ("unspecified", "unspecified order"),
        /// Channels in AudioChannel enum order, present ones flagged by a mask.
        Native = 1 => ("native", "native order"),
        /// An explicit speaker for every channel.
        Custom = 2 => ("custom", "custom order"),
    }
}

/// An Enhanced RTMP multichannel configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MultichannelConfig {
    /// How channels are ordered.
    pub order: AudioChannelOrder,
    /// Channel count.
    pub channels: u8,
    /// For the custom order, the AudioChannel of each channel.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mapping: Vec<u8>,
    /// For the native order, the AudioChannelMask of present channels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<u32>,
}

/// A decoded audio sequence header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AudioConfig {
    /// AAC AudioSpecificConfig.
    Aac(AudioSpecificConfig),
    /// Opus identification header.
    Opus(OpusHead),
    /// FLAC STREAMINFO.
    Flac(StreamInfo),
}

impl AudioConfig {
    /// Short description for summaries (`LC 44100 Hz 2ch`).
    pub fn describe(&self) -> String {
        match self {
            AudioConfig::Aac(c) => {
                let mut s = c.profile.to_string();
                if let Some(rate) = c.output_sample_rate() {
                    s.push_str(&format!(" {rate} Hz"));
                }
                match c.channels {
                    Some(n) => s.push_str(&format!(" {n}ch")),
                    None => s.push_str(&format!(" channel config {}", c.channel_config)),
                }
                s
            }
            AudioConfig::Opus(h) => format!("{} Hz {}ch", h.input_sample_rate, h.channels),
            AudioConfig::Flac(i) => format!(
                "{} Hz {}ch {}-bit",
                i.sample_rate, i.channels, i.bits_per_sample
            ),
        }
    }
}

/// One track of an Enhanced RTMP multitrack audio message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioTrack {
    /// audioTrackId.
    pub id: u8,
    /// The track's FourCC.
    pub fourcc: FourCc,
    /// Codec name from the FourCC.
    pub codec: &'static str,
    /// sizeOfAudioTrack (absent for a OneTrack message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// Sequence header contents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Box<AudioConfig>>,
    /// Multichannel configuration contents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multichannel: Option<Box<MultichannelConfig>>,
}

/// The decoded header of an audio message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioTag {
    /// SoundFormat, the high nibble of the first byte (9 = Enhanced RTMP).
    pub format: u8,
    /// Codec name: from SoundFormat, or from the FourCC in Enhanced RTMP.
    pub codec: &'static str,
    /// Whether this is an Enhanced RTMP ExAudioTagHeader.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enhanced: bool,
    /// Legacy sample rate in Hz: the SoundRate bits (5512, 11025, 22050, 44100),
    /// or the rate the format fixes (8000 for G.711, Nellymoser 8 kHz and MP3
    /// 8 kHz; 16000 for Speex and Nellymoser 16 kHz).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sound_rate: Option<u32>,
    /// Legacy SoundSize in bits (8 or 16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sound_size: Option<u8>,
    /// Legacy SoundType as a channel count (1 or 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u8>,
    /// AACPacketType of a legacy AAC tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aac_packet_type: Option<AacPacketType>,
    /// Enhanced RTMP AudioPacketType (after ModEx and multitrack headers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet_type: Option<AudioPacketType>,
    /// Enhanced RTMP FourCC (of the first track in a multitrack message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fourcc: Option<FourCc>,
    /// Sequence header contents of a single-track message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Box<AudioConfig>>,
    /// Multichannel configuration of a single-track message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multichannel: Option<Box<MultichannelConfig>>,
    /// Multitrack layout, when the message is multitrack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multitrack: Option<MultitrackType>,
    /// The tracks of a multitrack message (at most 64 are listed).
    #[serde(skip_serializing_if = "ThinVec::is_empty")]
    pub tracks: ThinVec<AudioTrack>,
    /// ModEx blocks before the packet type.
    #[serde(skip_serializing_if = "ThinVec::is_empty")]
    pub mod_ex: ThinVec<ModEx>,
    /// The bytes given ended before the message did, so parsing stopped early.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The first malformed field; everything before it is decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<DecodeError>>,
}

/// Parses an audio message payload.
///
/// `data` is the payload or a prefix of it; `full_len` is the payload's real
/// length. Fails only when `data` is empty; an empty payload is E-RTMP's
/// "silence" message, which callers should recognise from `full_len == 0`.
pub fn parse_audio(data: &[u8], full_len: usize) -> Result<AudioTag, DecodeError> {
    let full_len = full_len.max(data.len());
    let Some(&first) = data.first() else {
        return Err(DecodeError::new(
            0,
            "the AUDIODATA header byte",
            if full_len == 0 {
                "an empty message (E-RTMP silence)"
            } else {
                "no bytes"
            },
        ));
    };
    let mut tag = AudioTag::blank(first >> 4);
    let mut out = Outcome::default();
    let cut = data.len() < full_len;
    let result = if tag.enhanced {
        parse_ex(data, full_len, &mut tag, &mut out)
    } else {
        parse_legacy(data, first, cut, &mut tag, &mut out)
    };
    if let Err(e) = result {
        out.record(e, cut);
    }
    tag.truncated = out.truncated;
    tag.error = out.error.map(Box::new);
    Ok(tag)
}

/// The sample rate of a legacy header. Formats whose rate is fixed say so in
/// their name (FLV spec, SoundFormat); their SoundRate bits are not the rate
/// (ffmpeg's flv demuxer agrees).
fn legacy_rate(format: u8, first: u8) -> Option<u32> {
    match format {
        4 | 11 => Some(16_000),        // Nellymoser 16 kHz, Speex
        5 | 7 | 8 | 14 => Some(8_000), // Nellymoser 8 kHz, G.711 A-law, mu-law, MP3 8 kHz
        _ => SOUND_RATES.get(usize::from((first >> 2) & 3)).copied(),
    }
}

fn legacy_size(first: u8) -> u8 {
    if first & 0x02 != 0 {
        16
    } else {
        8
    }
}

fn legacy_channels(first: u8) -> u8 {
    if first & 0x01 != 0 {
        2
    } else {
        1
    }
}

/// What [`parse_audio`] returns for the headers nearly every audio message
/// has (legacy formats, and AAC raw frames), built in one go: the general
/// parser fills a tag field by field through several calls, which costs more
/// than the rest of a small message's decoding. `None` for anything else.
#[inline(always)]
pub(crate) fn parse_common_audio(data: &[u8]) -> Option<AudioTag> {
    let first = *data.first()?;
    let format = first >> 4;
    let aac_packet_type = match format {
        SOUND_FORMAT_EX_HEADER => return None,
        SOUND_FORMAT_AAC if data.get(1) == Some(&1) => Some(AacPacketType::Raw),
        SOUND_FORMAT_AAC => return None,
        _ => None,
    };
    Some(AudioTag {
        sound_rate: legacy_rate(format, first),
        sound_size: Some(legacy_size(first)),
        channels: Some(legacy_channels(first)),
        aac_packet_type,
        ..AudioTag::blank(format)
    })
}

impl AudioTag {
    /// A tag of this SoundFormat with nothing else known yet.
    #[inline]
    fn blank(format: u8) -> AudioTag {
        AudioTag {
            format,
            codec: sound_format_name(format),
            enhanced: format == SOUND_FORMAT_EX_HEADER,
            sound_rate: None,
            sound_size: None,
            channels: None,
            aac_packet_type: None,
            packet_type: None,
            fourcc: None,
            config: None,
            multichannel: None,
            multitrack: None,
            tracks: ThinVec::new(),
            mod_ex: ThinVec::new(),
            truncated: false,
            error: None,
        }
    }
}

fn parse_legacy(
    data: &[u8],
    first: u8,
    cut: bool,
    tag: &mut AudioTag,
    out: &mut Outcome,
) -> Result<(), DecodeError> {
    tag.sound_rate = legacy_rate(tag.format, first);
    tag.sound_size = Some(legacy_size(first));
    tag.channels = Some(legacy_channels(first));
    if tag.format != SOUND_FORMAT_AAC {
        return Ok(());
    }
    let mut r = Reader::new(data);
    r.skip(1, "AUDIODATA header")?;
    let packet_type = AacPacketType::from(r.u8("AACPacketType")?);
    tag.aac_packet_type = Some(packet_type);
    match packet_type {
        AacPacketType::SequenceHeader => {
            // The AudioSpecificConfig runs to the end of the message.
            match aac::parse(r.rest()) {
                Ok(c) => tag.config = Some(Box::new(AudioConfig::Aac(c))),
                Err(e) => out.record(e.at(r.pos() as u64), cut),
            }
            Ok(())
        }
        AacPacketType::Raw => Ok(()),
        AacPacketType::Reserved(v) => Err(DecodeError::new(
            1,
            "AACPacketType 0 (sequence header) or 1 (raw)",
            hex_preview(&[v]),
        )),
    }
}

fn parse_ex(
    data: &[u8],
    full_len: usize,
    tag: &mut AudioTag,
    out: &mut Outcome,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(data);
    let first = r.u8("ExAudioTagHeader")?;
    let mut packet_type = read_mod_ex(&mut r, first & 0x0f, &mut tag.mod_ex)?;
    let mut multitrack = None;
    let mut shared_fourcc = None;
    if packet_type == AudioPacketType::Multitrack.value() {
        let at = r.pos();
        let b = r.u8("AvMultitrackType and AudioPacketType")?;
        let kind = MultitrackType::from(b >> 4);
        packet_type = b & 0x0f;
        tag.multitrack = Some(kind);
        if let MultitrackType::Reserved(v) = kind {
            return Err(DecodeError::new(
                at,
                "AvMultitrackType 0, 1 or 2",
                v.to_string(),
            ));
        }
        if packet_type == AudioPacketType::Multitrack.value() {
            return Err(DecodeError::new(
                at,
                "a track AudioPacketType other than Multitrack",
                "Multitrack",
            ));
        }
        multitrack = Some(kind);
    }
    let kind = AudioPacketType::from(packet_type);
    tag.packet_type = Some(kind);
    if let AudioPacketType::Reserved(_) | AudioPacketType::ModEx = kind {
        return Err(DecodeError::new(
            r.pos().saturating_sub(1),
            "AudioPacketType 0, 1, 2, 4 or 5",
            kind.value().to_string(),
        ));
    }
    if multitrack != Some(MultitrackType::ManyTracksManyCodecs) {
        let fourcc = read_known_fourcc(&mut r, tag)?;
        shared_fourcc = Some(fourcc);
    }

    let Some(layout) = multitrack else {
        let Some(fourcc) = shared_fourcc else {
            return Ok(());
        };
        let start = r.pos();
        let avail = data.get(start..).unwrap_or(&[]);
        let track = parse_track_body(fourcc, kind, avail, full_len - start, start, out);
        tag.config = track.config;
        tag.multichannel = track.multichannel;
        return Ok(());
    };

    let mut pos = r.pos();
    while pos < full_len && tag.tracks.len() < MAX_TRACKS {
        let Some(rest) = data.get(pos..) else {
            out.truncated = true;
            break;
        };
        let mut tr = Reader::new(rest);
        let track_fourcc = match shared_fourcc {
            Some(f) => f,
            None => {
                let f = read_fourcc(&mut tr, "AudioFourCc").map_err(|e| e.at(pos as u64))?;
                check_fourcc(f, pos)?;
                if tag.fourcc.is_none() {
                    tag.fourcc = Some(f);
                    tag.codec = fourcc_name(f);
                }
                f
            }
        };
        let TrackExtent {
            id,
            size,
            start,
            end,
        } = track_extent(
            &mut tr,
            pos,
            layout,
            full_len,
            ("audioTrackId", "sizeOfAudioTrack"),
        )?;
        let avail = data.get(start..end.min(data.len())).unwrap_or(&[]);
        let mut track = parse_track_body(track_fourcc, kind, avail, end - start, start, out);
        track.id = id;
        track.size = size;
        tag.tracks.push(track);
        if out.stopped() || layout == MultitrackType::OneTrack {
            break;
        }
        pos = end;
    }
    Ok(())
}

/// Reads the shared FourCC, records it on the tag, and rejects unknown ones.
fn read_known_fourcc(r: &mut Reader<'_>, tag: &mut AudioTag) -> Result<FourCc, DecodeError> {
    let at = r.pos();
    let fourcc = read_fourcc(r, "AudioFourCc")?;
    tag.fourcc = Some(fourcc);
    tag.codec = fourcc_name(fourcc);
    check_fourcc(fourcc, at)?;
    Ok(fourcc)
}

/// E-RTMP requires unknown FourCCs to stop parsing in a controlled way.
fn check_fourcc(fourcc: FourCc, at: usize) -> Result<(), DecodeError> {
    if fourcc_name(fourcc) == "unknown" {
        return Err(DecodeError::new(
            at,
            "an audio FourCC (mp4a, Opus, fLaC, ac-3, ec-3, .mp3)",
            format!("\"{fourcc}\""),
        ));
    }
    Ok(())
}

/// Decodes one track's body. `avail` is what `data` holds of it, `full` its
/// real size and `base` its offset within `data`.
fn parse_track_body(
    fourcc: FourCc,
    kind: AudioPacketType,
    avail: &[u8],
    full: usize,
    base: usize,
    out: &mut Outcome,
) -> AudioTrack {
    let cut = avail.len() < full;
    let mut track = AudioTrack {
        id: 0,
        fourcc,
        codec: fourcc_name(fourcc),
        size: None,
        config: None,
        multichannel: None,
    };
    let result = match kind {
        AudioPacketType::SequenceStart => match fourcc {
            FOURCC_AAC => aac::parse(avail).map(|c| Some(AudioConfig::Aac(c))),
            // E-RTMP allows an empty Opus sequence start (mono/stereo defaults).
            FOURCC_OPUS if full == 0 => Ok(None),
            FOURCC_OPUS => opus::parse(avail).map(|h| Some(AudioConfig::Opus(h))),
            FOURCC_FLAC => flac::parse(avail).map(|i| Some(AudioConfig::Flac(i))),
            _ => Ok(None),
        }
        .map(|c| track.config = c.map(Box::new)),
        AudioPacketType::MultichannelConfig => {
            parse_multichannel(avail).map(|m| track.multichannel = Some(Box::new(m)))
        }
        _ => Ok(()),
    };
    if let Err(e) = result {
        out.record(e.at(base as u64), cut);
    }
    track
}

/// Parses a MultichannelConfig body.
fn parse_multichannel(data: &[u8]) -> Result<MultichannelConfig, DecodeError> {
    let mut r = Reader::new(data);
    let order = AudioChannelOrder::from(r.u8("audioChannelOrder")?);
    let channels = r.u8("channelCount")?;
    let mut config = MultichannelConfig {
        order,
        channels,
        mapping: Vec::new(),
        flags: None,
    };
    match order {
        AudioChannelOrder::Custom => {
            // At most 255 bytes, and only after they are known to be present.
            config.mapping = r
                .take(usize::from(channels), "audioChannelMapping")?
                .to_vec();
        }
        AudioChannelOrder::Native => config.flags = Some(r.u32("audioChannelFlags")?),
        _ => {}
    }
    Ok(config)
}

/// Name of a legacy SoundFormat.
pub fn sound_format_name(format: u8) -> &'static str {
    match format {
        0 => "LPCM",
        1 => "ADPCM",
        2 => "MP3",
        3 => "LPCM LE",
        4 => "Nellymoser 16k",
        5 => "Nellymoser 8k",
        6 => "Nellymoser",
        7 => "G.711 A-law",
        8 => "G.711 µ-law",
        9 => "ExHeader",
        10 => "AAC",
        11 => "Speex",
        14 => "MP3 8kHz",
        15 => "device-specific",
        _ => "reserved",
    }
}

/// Codec name of an Enhanced RTMP audio FourCC (`unknown` if not in the spec).
pub fn fourcc_name(fourcc: FourCc) -> &'static str {
    match fourcc {
        FOURCC_AAC => "AAC",
        FOURCC_OPUS => "Opus",
        FOURCC_FLAC => "FLAC",
        FOURCC_AC3 => "AC-3",
        FOURCC_EAC3 => "E-AC-3",
        FOURCC_MP3 => "MP3",
        _ => "unknown",
    }
}

impl AudioTag {
    /// Whether this carries codec configuration (AAC sequence header or E-RTMP SequenceStart).
    pub fn is_sequence_header(&self) -> bool {
        self.aac_packet_type == Some(AacPacketType::SequenceHeader)
            || self.packet_type == Some(AudioPacketType::SequenceStart)
    }

    /// Whether this carries coded audio (legacy non-config data or E-RTMP CodedFrames).
    pub fn is_coded_frames(&self) -> bool {
        if self.enhanced {
            self.packet_type == Some(AudioPacketType::CodedFrames)
        } else {
            self.aac_packet_type != Some(AacPacketType::SequenceHeader)
        }
    }

    /// A short line such as `AAC sequence header LC 44100 Hz 2ch`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        self.write_summary(&mut s);
        s
    }

    /// Appends [`AudioTag::summary`] to `s` (no allocation on the common paths).
    pub fn write_summary(&self, s: &mut String) {
        s.push_str(self.codec);
        if self.enhanced {
            if self.codec == "unknown" {
                if let Some(f) = self.fourcc {
                    let _ = write!(s, " \"{f}\"");
                }
            }
            s.push_str(" (E-RTMP)");
            if let Some(pt) = self.packet_type {
                s.push(' ');
                s.push_str(&pt.label());
            }
            if let Some(kind) = self.multitrack {
                let _ = write!(s, " multitrack ({kind})");
                let tracks: Vec<String> = self
                    .tracks
                    .iter()
                    .map(|t| {
                        let mut d = format!("#{} {}", t.id, t.codec);
                        if let Some(c) = &t.config {
                            d.push(' ');
                            d.push_str(&c.describe());
                        }
                        if let Some(m) = &t.multichannel {
                            d.push_str(&format!(" {}ch {}", m.channels, m.order));
                        }
                        d
                    })
                    .collect();
                if !tracks.is_empty() {
                    s.push_str(": ");
                    s.push_str(&tracks.join("; "));
                }
            }
            if let Some(c) = &self.config {
                s.push(' ');
                s.push_str(&c.describe());
            }
            if let Some(m) = &self.multichannel {
                let _ = write!(s, " {}ch {}", m.channels, m.order);
            }
        } else if let Some(pt) = self.aac_packet_type {
            s.push(' ');
            s.push_str(&pt.label());
            if let Some(c) = &self.config {
                s.push(' ');
                s.push_str(&c.describe());
            }
        } else {
            if let Some(rate) = self.sound_rate {
                s.push_str(match rate {
                    5512 => " 5.5 kHz",
                    8000 => " 8 kHz",
                    11025 => " 11 kHz",
                    16_000 => " 16 kHz",
                    22050 => " 22 kHz",
                    _ => " 44 kHz",
                });
            }
            if let Some(bits) = self.sound_size {
                let _ = write!(s, " {bits}-bit");
            }
            match self.channels {
                Some(1) => s.push_str(" mono"),
                Some(_) => s.push_str(" stereo"),
                None => {}
            }
        }
        summary_suffix(s, self.truncated, self.error.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testutil::hex;

    #[test]
    fn formats_with_a_fixed_rate_report_it_not_the_rate_bits() {
        // First audio tag byte of `ffmpeg -f lavfi -i sine=frequency=440:sample_rate=44100
        // -t 0.3 -c:a C -ar R -ac 1 a.flv` (ffmpeg 5.1), and ffprobe's sample_rate of the file.
        for (byte, codec, rate) in [
            (0xb6, "Speex", 16_000),      // libspeex -ar 16000: rate bits say 11 kHz
            (0x72, "G.711 A-law", 8_000), // pcm_alaw -ar 8000: rate bits say 5.5 kHz
            (0x82, "G.711 µ-law", 8_000),
            (0x52, "Nellymoser 8k", 8_000),
        ] {
            let t = parse_audio(&[byte, 0, 0], 3).unwrap();
            assert_eq!((t.codec, t.sound_rate), (codec, Some(rate)), "{byte:#x}");
            assert!(
                t.summary().contains(&format!(" {} kHz", rate / 1000)),
                "{}",
                t.summary()
            );
        }
    }

    #[test]
    fn ffmpeg_aac_sequence_header() {
        // `ffmpeg -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i
        //  sine=frequency=440:sample_rate=44100 -t 1 -c:v libx264 -pix_fmt yuv420p
        //  -c:a aac -ac 2 -f flv avc320.flv` (ffmpeg 5.1.9): first audio tag.
        // ffprobe: aac LC, 44100 Hz, 2 channels.
        let t = parse_audio(&hex("af00121056e500"), 7).unwrap();
        assert_eq!(t.format, 10);
        assert_eq!(t.codec, "AAC");
        assert_eq!(t.sound_rate, Some(44100));
        assert_eq!(t.sound_size, Some(16));
        assert_eq!(t.channels, Some(2));
        assert_eq!(t.aac_packet_type, Some(AacPacketType::SequenceHeader));
        assert!(t.is_sequence_header());
        assert_eq!(t.summary(), "AAC sequence header LC 44100 Hz 2ch");
        assert_eq!(t.error, None);
    }

    #[test]
    fn aac_raw_frame_is_coded_data() {
        let t = parse_audio(&hex("af01210049"), 380).unwrap();
        assert_eq!(t.aac_packet_type, Some(AacPacketType::Raw));
        assert!(!t.is_sequence_header());
        assert!(t.is_coded_frames());
        assert_eq!(t.summary(), "AAC raw");
        assert!(!t.truncated);
    }

    #[test]
    fn mp3_legacy_flags() {
        // `ffmpeg -f lavfi -i sine=frequency=440:sample_rate=22050 -t 0.5
        //  -c:a libmp3lame -ac 1 -f flv mp3.flv`: first audio byte 0x2a.
        // ffprobe: mp3, 22050 Hz, 1 channel.
        let t = parse_audio(&hex("2afff340c4"), 105).unwrap();
        assert_eq!(t.codec, "MP3");
        assert_eq!(t.sound_rate, Some(22050));
        assert_eq!(t.channels, Some(1));
        assert_eq!(t.summary(), "MP3 22 kHz 16-bit mono");
    }

    #[test]
    fn lpcm_little_endian_flags() {
        // `ffmpeg -f lavfi -i sine=...:sample_rate=8000 -c:a pcm_s16le -ac 1 -f flv`:
        // first audio byte 0x32 (format 3, rate index 0, 16-bit, mono);
        // ffprobe reports pcm_s16le, 5512 Hz, 1 channel from these flags.
        let t = parse_audio(&hex("3200006b05"), 2049).unwrap();
        assert_eq!(t.codec, "LPCM LE");
        assert_eq!(t.sound_rate, Some(5512));
        assert_eq!(t.summary(), "LPCM LE 5.5 kHz 16-bit mono");
    }

    #[test]
    fn empty_payload_is_an_error_naming_silence() {
        let e = parse_audio(&[], 0).unwrap_err();
        assert!(e.found.contains("silence"));
    }

    #[test]
    fn aac_header_without_packet_type_in_a_prefix_is_truncated() {
        let t = parse_audio(&hex("af"), 100).unwrap();
        assert!(t.truncated);
        assert_eq!(t.error, None);
        assert_eq!(t.summary(), "AAC 44 kHz 16-bit stereo [partial]");
    }

    #[test]
    fn aac_header_without_packet_type_in_a_whole_message_is_an_error() {
        let t = parse_audio(&hex("af"), 1).unwrap();
        assert!(!t.truncated);
        let e = t.error.unwrap();
        assert_eq!(e.offset, 1);
        assert!(e.expected.contains("AACPacketType"));
    }

    #[test]
    fn reserved_aac_packet_type_is_an_error() {
        let t = parse_audio(&hex("af05"), 2).unwrap();
        assert_eq!(t.aac_packet_type, Some(AacPacketType::Reserved(5)));
        assert_eq!(t.error.unwrap().found, "05");
    }

    #[test]
    fn e_rtmp_opus_sequence_start() {
        // veovera/enhanced-rtmp e-rtmp-lab/assets/bbb.flv, first audio tag:
        // `90 "Opus"` + OpusHead (2 channels, 48000 Hz).
        let t = parse_audio(&hex("904f7075734f707573486561640102380180bb0000000000"), 24).unwrap();
        assert!(t.enhanced);
        assert_eq!(t.format, 9);
        assert_eq!(t.fourcc, Some(FOURCC_OPUS));
        assert_eq!(t.packet_type, Some(AudioPacketType::SequenceStart));
        assert!(t.is_sequence_header());
        assert_eq!(t.sound_rate, None);
        assert_eq!(t.summary(), "Opus (E-RTMP) sequence start 48000 Hz 2ch");
    }

    #[test]
    fn e_rtmp_opus_multichannel_config_native_order() {
        // bbb.flv, second audio tag: native order, 2 channels, mask FrontLeft|FrontRight.
        let t = parse_audio(&hex("944f707573010200000003"), 11).unwrap();
        assert_eq!(t.packet_type, Some(AudioPacketType::MultichannelConfig));
        let m = t.multichannel.unwrap();
        assert_eq!(m.order, AudioChannelOrder::Native);
        assert_eq!(m.channels, 2);
        assert_eq!(m.flags, Some(3));
    }

    #[test]
    fn e_rtmp_opus_coded_frames_from_a_prefix() {
        // bbb.flv, third audio tag (567 bytes), first 16 bytes.
        let t = parse_audio(&hex("914f707573fc7ff93ffd81ea8662866a"), 567).unwrap();
        assert_eq!(t.summary(), "Opus (E-RTMP) coded frames");
        assert!(t.is_coded_frames());
        assert!(!t.truncated);
    }

    #[test]
    fn e_rtmp_flac_sequence_start() {
        // `90 "fLaC"` + the first 42 bytes of `ffmpeg -f lavfi -i
        // sine=frequency=440:sample_rate=48000 -t 0.2 -ac 2 -c:a flac flac.flac`
        // (fLaC signature + STREAMINFO, the layout E-RTMP v2 specifies).
        // ffprobe: 48000 Hz, 2 channels, 16 bits.
        let body = hex("90664c6143 664c614300000022120012000000c70005110bb802f000002580d9b81de011fef694f3e1d33694c8ae61");
        let t = parse_audio(&body, body.len()).unwrap();
        assert_eq!(
            t.summary(),
            "FLAC (E-RTMP) sequence start 48000 Hz 2ch 16-bit"
        );
    }

    #[test]
    fn e_rtmp_aac_sequence_start_uses_the_audio_specific_config() {
        let t = parse_audio(&hex("906d7034611210"), 7).unwrap();
        assert_eq!(t.codec, "AAC");
        assert_eq!(t.summary(), "AAC (E-RTMP) sequence start LC 44100 Hz 2ch");
    }

    #[test]
    fn ffmpeg_style_one_track_multitrack_sequence_start() {
        // ffmpeg's flvenc (7.1+) for a second AAC stream: Multitrack, OneTrack +
        // SequenceStart, "mp4a", track id 1, AudioSpecificConfig.
        let t = parse_audio(&hex("95006d7034610112 10"), 9).unwrap();
        assert_eq!(t.multitrack, Some(MultitrackType::OneTrack));
        assert_eq!(t.tracks.len(), 1);
        assert_eq!(t.tracks[0].id, 1);
        assert_eq!(t.tracks[0].size, None);
        assert!(matches!(
            t.tracks[0].config.as_deref(),
            Some(AudioConfig::Aac(_))
        ));
        assert_eq!(
            t.summary(),
            "AAC (E-RTMP) sequence start multitrack (one track): #1 AAC LC 44100 Hz 2ch"
        );
    }

    #[test]
    fn many_tracks_many_codecs_reads_a_fourcc_per_track() {
        // Hand-built per E-RTMP v2: Multitrack, ManyTracksManyCodecs + CodedFrames,
        // then ["Opus", id 0, size 2, 2 bytes], [".mp3", id 1, size 1, 1 byte].
        let b = hex("95 21 4f707573 00 000002 aaaa 2e6d7033 01 000001 bb");
        let t = parse_audio(&b, b.len()).unwrap();
        assert_eq!(t.error, None);
        let ids: Vec<_> = t.tracks.iter().map(|t| (t.id, t.codec, t.size)).collect();
        assert_eq!(ids, vec![(0, "Opus", Some(2)), (1, "MP3", Some(1))]);
        assert_eq!(t.codec, "Opus");
    }

    #[test]
    fn track_size_beyond_the_message_is_an_error() {
        let b = hex("95 11 4f707573 00 000009 aaaa");
        let t = parse_audio(&b, b.len()).unwrap();
        let e = t.error.unwrap();
        assert_eq!(e.offset, 7);
        assert!(e.expected.contains("sizeOfAudioTrack"));
    }

    #[test]
    fn tracks_past_the_prefix_mark_the_tag_truncated() {
        // Two 300-byte tracks, only the first 20 bytes given.
        let mut b = hex("95 11 4f707573 00 00012c");
        b.resize(20, 0);
        let t = parse_audio(&b, 6 + 4 + 300 + 4 + 300).unwrap();
        assert_eq!(t.tracks.len(), 1);
        assert!(t.truncated);
        assert_eq!(t.error, None);
    }

    #[test]
    fn mod_ex_timestamp_offset_then_coded_frames() {
        // Hand-built per E-RTMP v2: ModEx, 3 bytes 0x0003e8 (1000 ns), type 0 + CodedFrames, "Opus".
        let t = parse_audio(&hex("97 02 0003e8 01 4f707573 fc"), 11).unwrap();
        assert_eq!(t.packet_type, Some(AudioPacketType::CodedFrames));
        assert_eq!(t.mod_ex.len(), 1);
        assert_eq!(t.mod_ex[0].timestamp_offset_nano, Some(1000));
    }

    #[test]
    fn unknown_fourcc_stops_with_an_error() {
        let t = parse_audio(&hex("91 766f7262 00"), 6).unwrap();
        assert_eq!(t.codec, "unknown");
        assert_eq!(t.error.unwrap().offset, 1);
    }

    #[test]
    fn reserved_packet_type_is_an_error() {
        let t = parse_audio(&hex("93 4f707573"), 5).unwrap();
        assert_eq!(t.packet_type, Some(AudioPacketType::Reserved(3)));
        assert!(t.error.is_some());
    }

    #[test]
    fn nested_multitrack_is_an_error() {
        let t = parse_audio(&hex("95 15 4f707573"), 6).unwrap();
        assert!(t.error.unwrap().expected.contains("other than Multitrack"));
    }

    #[test]
    fn empty_opus_sequence_start_is_allowed() {
        let t = parse_audio(&hex("904f707573"), 5).unwrap();
        assert_eq!(t.error, None);
        assert_eq!(t.config, None);
    }

    #[test]
    fn json_uses_short_snake_case_names() {
        let t = parse_audio(&hex("af00121056e500"), 7).unwrap();
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["aac_packet_type"], "sequence_header");
        assert_eq!(v["config"]["type"], "aac");
        assert_eq!(v["config"]["sample_rate"], 44100);
        assert!(v.get("truncated").is_none());
    }
}
