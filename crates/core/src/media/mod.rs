//! FLV audio and video tag headers carried by RTMP message types 8 and 9,
//! including Enhanced RTMP (v1 and v2): FourCC codecs, multitrack and ModEx.
//!
//! [`parse_audio`] and [`parse_video`] take the message payload, or only a
//! prefix of it, plus the real payload length. They decode the tag header and,
//! for sequence headers, the codec configuration (AAC AudioSpecificConfig,
//! AVC/HEVC/AV1/VP9 configuration records with width and height from the
//! SPS or sequence header). They fail only when not even the first byte is
//! there; a prefix that ends early sets `truncated`, and a malformed field is
//! kept in `error` next to everything decoded before it.
//!
//! ```
//! use rtmpscope_core::media::parse_audio;
//! let tag = parse_audio(&[0xaf, 0x00, 0x12, 0x10], 4).unwrap();
//! assert!(tag.is_sequence_header());
//! assert_eq!(tag.summary(), "AAC sequence header LC 44100 Hz 2ch");
//! ```

pub mod aac;
pub mod audio;
pub mod av1;
pub mod avc;
mod bits;
pub mod flac;
pub mod hevc;
pub mod nal;
pub mod opus;
pub mod video;
pub mod vpx;

use std::fmt::{self, Write as _};

use crate::error::DecodeError;

pub use audio::{parse_audio, AudioConfig, AudioTag, AudioTrack, MultichannelConfig};
pub use video::{parse_video, VideoConfig, VideoTag, VideoTrack};

/// Defines a wire enum: named values, `Reserved(u8)` for the rest, a JSON key
/// and a human label.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => ($key:literal, $label:literal), )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value the spec reserves or leaves undefined.
            Reserved(u8),
        }

        impl From<u8> for $name {
            fn from(v: u8) -> Self {
                match v {
                    $( $value => $name::$variant, )+
                    other => $name::Reserved(other),
                }
            }
        }

        impl $name {
            /// The value on the wire.
            pub fn value(self) -> u8 {
                match self {
                    $( $name::$variant => $value, )+
                    $name::Reserved(v) => v,
                }
            }

            /// The snake_case name used in JSON (`reserved_N` for undefined values).
            pub fn key(self) -> std::borrow::Cow<'static, str> {
                match self {
                    $( $name::$variant => std::borrow::Cow::Borrowed($key), )+
                    $name::Reserved(v) => std::borrow::Cow::Owned(format!("reserved_{v}")),
                }
            }

            /// The name used in summaries.
            pub fn label(self) -> std::borrow::Cow<'static, str> {
                match self {
                    $( $name::$variant => std::borrow::Cow::Borrowed($label), )+
                    $name::Reserved(v) => std::borrow::Cow::Owned(format!("reserved {v}")),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.label())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.key())
            }
        }
    };
}
pub(crate) use wire_enum;

/// A four-character code naming a codec in Enhanced RTMP (`hvc1`, `Opus`, …).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// The FourCC of `s` (which must be 4 bytes long).
    pub const fn new(s: &[u8; 4]) -> Self {
        FourCc(*s)
    }
}

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if (0x20..0x7f).contains(&b) && b != b'\\' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FourCc(\"{self}\")")
    }
}

impl serde::Serialize for FourCc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

wire_enum! {
    /// How an Enhanced RTMP multitrack message lays out its tracks (`AvMultitrackType`).
    pub enum MultitrackType {
        /// One track, identified by its track id, without a size field.
        OneTrack = 0 => ("one_track", "one track"),
        /// Several tracks of one codec, each with a size.
        ManyTracks = 1 => ("many_tracks", "many tracks"),
        /// Several tracks, each with its own FourCC and size.
        ManyTracksManyCodecs = 2 => ("many_tracks_many_codecs", "many tracks, many codecs"),
    }
}

wire_enum! {
    /// What a ModEx block modifies (`AudioPacketModExType` / `VideoPacketModExType`).
    pub enum ModExType {
        /// A sub-millisecond presentation offset in nanoseconds.
        TimestampOffsetNano = 0 => ("timestamp_offset_nano", "timestamp offset (ns)"),
    }
}

/// One Enhanced RTMP v2 ModEx block that preceded the real packet type.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModEx {
    /// What the block modifies.
    #[serde(rename = "type")]
    pub kind: ModExType,
    /// Size of its data in bytes (1 to 65536).
    pub size: u32,
    /// For `TimestampOffsetNano`, the offset in nanoseconds (first 3 data bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_offset_nano: Option<u32>,
}

/// At most this many ModEx blocks are kept per message; more are read and dropped.
const MAX_MOD_EX: usize = 16;
/// At most this many tracks are kept per multitrack message.
const MAX_TRACKS: usize = 64;

/// `AudioPacketType.ModEx` and `VideoPacketType.ModEx` share the value 7.
const PACKET_TYPE_MOD_EX: u8 = 7;

/// Reads ModEx blocks while `packet_type` is ModEx (E-RTMP v2, ExAudioTagHeader /
/// ExVideoTagHeader): returns the final packet type.
fn read_mod_ex(
    r: &mut crate::reader::Reader<'_>,
    mut packet_type: u8,
    out: &mut thin_vec::ThinVec<ModEx>,
) -> Result<u8, DecodeError> {
    while packet_type == PACKET_TYPE_MOD_EX {
        let mut size = usize::from(r.u8("ModEx data size")?) + 1;
        if size == 256 {
            size = usize::from(r.u16("ModEx data size (16-bit)")?) + 1;
        }
        let start = r.pos();
        let data = r.take(size, "ModEx data")?;
        let b = r.u8("ModEx type and packet type")?;
        let kind = ModExType::from(b >> 4);
        packet_type = b & 0x0f;
        let timestamp_offset_nano = match kind {
            ModExType::TimestampOffsetNano => match data {
                [a, b, c, ..] => Some(u32::from_be_bytes([0, *a, *b, *c])),
                _ => {
                    return Err(DecodeError::new(
                        start,
                        "at least 3 bytes of TimestampOffsetNano",
                        format!("{size} byte(s)"),
                    ))
                }
            },
            ModExType::Reserved(_) => None,
        };
        if out.len() < MAX_MOD_EX {
            out.push(ModEx {
                kind,
                size: size as u32,
                timestamp_offset_nano,
            });
        }
    }
    Ok(packet_type)
}

/// Reads a FourCC.
/// Where one track of an Enhanced RTMP multitrack message lies.
pub(crate) struct TrackExtent {
    /// Its track id.
    pub id: u8,
    /// Its declared size; absent for a one-track layout, which runs to the end.
    pub size: Option<u32>,
    /// Its body's byte range in the message.
    pub start: usize,
    pub end: usize,
}

/// Reads a track's id and size from `tr` (positioned after its FourCC, if
/// any, at message offset `pos`) and checks that the body fits in the
/// message. `names` are the spec's field names (`audioTrackId`,
/// `sizeOfAudioTrack`, or the video ones) for the errors.
pub(crate) fn track_extent(
    tr: &mut crate::reader::Reader<'_>,
    pos: usize,
    layout: MultitrackType,
    full_len: usize,
    names: (&str, &str),
) -> Result<TrackExtent, DecodeError> {
    let id = tr.u8(names.0).map_err(|e| e.at(pos as u64))?;
    let size = if layout == MultitrackType::OneTrack {
        None
    } else {
        Some(tr.u24(names.1).map_err(|e| e.at(pos as u64))?)
    };
    let start = pos + tr.pos();
    let body_len = match size {
        Some(s) => s as usize,
        None => full_len.saturating_sub(start),
    };
    let end = start.saturating_add(body_len);
    if end > full_len {
        return Err(DecodeError::new(
            start.saturating_sub(3),
            format!(
                "{} within the message ({} bytes left)",
                names.1,
                full_len.saturating_sub(start)
            ),
            body_len.to_string(),
        ));
    }
    Ok(TrackExtent {
        id,
        size,
        start,
        end,
    })
}

fn read_fourcc(r: &mut crate::reader::Reader<'_>, what: &str) -> Result<FourCc, DecodeError> {
    let b = r.take(4, what)?;
    Ok(FourCc([b[0], b[1], b[2], b[3]]))
}

/// Whether `e` is a short read (the buffer ended) rather than a bad value.
fn is_short_read(e: &DecodeError) -> bool {
    // DecodeError::truncated is the only constructor that reports "end of data".
    e.found == "end of data"
}

/// What stopped a parse: the prefix ended (more bytes exist), or a real error.
#[derive(Debug, Clone, PartialEq, Default)]
struct Outcome {
    truncated: bool,
    error: Option<DecodeError>,
}

impl Outcome {
    /// Records `e` from a region whose available bytes were `cut` short of its
    /// real extent: a short read there means truncation, anything else an error.
    fn record(&mut self, e: DecodeError, cut: bool) {
        if cut && is_short_read(&e) {
            self.truncated = true;
        } else if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Whether parsing must stop.
    fn stopped(&self) -> bool {
        self.truncated || self.error.is_some()
    }
}

/// Formats a level as `major.minor` (`3.1`, `4.0`).
fn dotted_level(major: u32, minor: u32) -> String {
    format!("{major}.{minor}")
}

/// Appends a trailing marker for truncated or malformed tags to a summary.
fn summary_suffix(s: &mut String, truncated: bool, error: Option<&DecodeError>) {
    if let Some(e) = error {
        let _ = write!(
            s,
            " [malformed at byte {}: expected {}]",
            e.offset, e.expected
        );
    } else if truncated {
        s.push_str(" [partial]");
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    /// Decodes a hex string (whitespace ignored) into bytes.
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .map(|b| match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => panic!("not hex: {}", b as char),
            })
            .collect();
        assert!(digits.len().is_multiple_of(2), "odd hex length");
        digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::Reader;

    #[test]
    fn fourcc_displays_printable_bytes_and_escapes_others() {
        assert_eq!(FourCc(*b"hvc1").to_string(), "hvc1");
        assert_eq!(
            FourCc([b'a', 0, b'\\', 0xff]).to_string(),
            "a\\x00\\x5c\\xff"
        );
    }

    #[test]
    fn wire_enum_serializes_reserved_values_with_their_number() {
        let t = MultitrackType::from(9);
        assert_eq!(t, MultitrackType::Reserved(9));
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"reserved_9\"");
        assert_eq!(
            serde_json::to_string(&MultitrackType::ManyTracks).unwrap(),
            "\"many_tracks\""
        );
    }

    #[test]
    fn mod_ex_reads_timestamp_offset_nano_and_next_packet_type() {
        // size-1 = 2 (3 bytes), 0x0f4240 = 1_000_000 ns, then type 0 / packet type 1.
        let bytes = [0x02, 0x0f, 0x42, 0x40, 0x01];
        let mut r = Reader::new(&bytes);
        let mut out = thin_vec::ThinVec::new();
        assert_eq!(read_mod_ex(&mut r, 7, &mut out).unwrap(), 1);
        assert_eq!(out[0].timestamp_offset_nano, Some(1_000_000));
        assert_eq!(out[0].size, 3);
    }

    #[test]
    fn mod_ex_size_255_switches_to_a_16_bit_size() {
        let mut bytes = vec![0xff, 0x01, 0x00]; // 0x0100 + 1 = 257 bytes
        bytes.extend(std::iter::repeat_n(0u8, 257));
        bytes.push(0x13); // reserved type 1, packet type 3
        let mut r = Reader::new(&bytes);
        let mut out = thin_vec::ThinVec::new();
        assert_eq!(read_mod_ex(&mut r, 7, &mut out).unwrap(), 3);
        assert_eq!(out[0].size, 257);
        assert_eq!(out[0].kind, ModExType::Reserved(1));
    }

    #[test]
    fn mod_ex_timestamp_offset_shorter_than_3_bytes_is_an_error() {
        let bytes = [0x00, 0xaa, 0x01];
        let mut r = Reader::new(&bytes);
        let e = read_mod_ex(&mut r, 7, &mut thin_vec::ThinVec::new()).unwrap_err();
        assert_eq!(e.offset, 1);
        assert!(e.expected.contains("TimestampOffsetNano"));
    }
}
