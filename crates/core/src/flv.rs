//! FLV files (Adobe Flash Video File Format Specification v10, Annex E): the
//! file header, tags, and how an RTMP message becomes a tag, so that what a
//! session carried can be exported and played with ffplay or read by ffprobe.
//!
//! ```
//! use rtmpscope_core::flv::{header, TagWriter, TAG_VIDEO};
//! let mut out = header(false, true).to_vec();
//! let mut tags = TagWriter::new();
//! tags.push(&mut out, TAG_VIDEO, 1000, &[0x17, 0, 0, 0, 0]);
//! tags.push(&mut out, TAG_VIDEO, 1040, &[0x27, 1, 0, 0, 0]);
//! assert_eq!(&out[..3], b"FLV");
//! // The second tag's timestamp is relative to the first: 40 ms.
//! assert_eq!(&out[13 + 16 + 4 + 4..13 + 16 + 4 + 7], &[0, 0, 40]);
//! assert_eq!(tags.count(), 2);
//! ```

use crate::message::{Body, MSG_AUDIO, MSG_DATA_AMF0, MSG_VIDEO};

/// Tag type of audio data.
pub const TAG_AUDIO: u8 = 8;
/// Tag type of video data.
pub const TAG_VIDEO: u8 = 9;
/// Tag type of script data (onMetaData).
pub const TAG_SCRIPT: u8 = 18;

/// The 9-byte file header (version 1, with the audio/video flags) and the
/// first PreviousTagSize, 0.
pub fn header(audio: bool, video: bool) -> [u8; 13] {
    let flags = (audio as u8) << 2 | video as u8;
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// The tag type a message becomes in an FLV file: audio, video, and AMF0
/// data that carries onMetaData; `None` for everything else.
pub fn tag_type(type_id: u8, body: &Body) -> Option<u8> {
    match (body, type_id) {
        (Body::Audio(_), MSG_AUDIO) => Some(TAG_AUDIO),
        (Body::Video(_), MSG_VIDEO) => Some(TAG_VIDEO),
        (Body::Data(d), MSG_DATA_AMF0) if d.metadata().is_some() => Some(TAG_SCRIPT),
        _ => None,
    }
}

/// What a script tag holds for a data message's `payload`: publishers send
/// `@setDataFrame onMetaData {…}`, which FLV stores as `onMetaData {…}`.
pub fn script_data<'a>(payload: &'a [u8], body: &Body) -> &'a [u8] {
    match body {
        Body::Data(d) if d.name.as_deref() == Some("@setDataFrame") => {
            let skip = d.values.first().map_or(0, |v| d.base + v.span.end as usize);
            payload.get(skip..).unwrap_or_default()
        }
        _ => payload,
    }
}

/// Appends tags, with timestamps counted from the first tag's.
#[derive(Debug, Default)]
pub struct TagWriter {
    base: Option<u32>,
    tags: u64,
}

impl TagWriter {
    /// A writer for a new file (after its [`header`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one tag (11-byte header, data, PreviousTagSize) to `out`.
    /// Data past the 24-bit length field's reach is cut.
    pub fn push(&mut self, out: &mut Vec<u8>, kind: u8, timestamp: u32, data: &[u8]) {
        let base = *self.base.get_or_insert(timestamp);
        let ts = timestamp.wrapping_sub(base);
        let data = data.get(..0xFF_FFFF).unwrap_or(data);
        let len = data.len() as u32;
        out.push(kind);
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        // The low 24 bits, then the extension byte with the high 8 (Annex E.4.1).
        out.extend_from_slice(&ts.to_be_bytes()[1..]);
        out.push((ts >> 24) as u8);
        out.extend_from_slice(&[0, 0, 0]); // stream id, always 0
        out.extend_from_slice(data);
        out.extend_from_slice(&(len + 11).to_be_bytes());
        self.tags += 1;
    }

    /// Tags written so far.
    pub fn count(&self) -> u64 {
        self.tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::DataMessage;

    #[test]
    fn timestamps_past_24_bits_go_to_the_extension_byte() {
        let mut out = Vec::new();
        let mut w = TagWriter::new();
        w.push(&mut out, TAG_AUDIO, 0, &[0xaf, 1]);
        w.push(&mut out, TAG_AUDIO, 0x0123_4567, &[0xaf, 1]);
        let second = &out[11 + 2 + 4..];
        assert_eq!(&second[4..8], &[0x23, 0x45, 0x67, 0x01]);
        // PreviousTagSize after each tag: 11 + data.
        assert_eq!(&out[13..17], &13u32.to_be_bytes());
    }

    #[test]
    fn set_data_frame_is_unwrapped_for_the_script_tag() {
        // AMF0: "@setDataFrame", "onMetaData", {} (object end).
        let mut payload = vec![2, 0, 13];
        payload.extend_from_slice(b"@setDataFrame");
        payload.extend_from_slice(&[2, 0, 10]);
        payload.extend_from_slice(b"onMetaData");
        payload.extend_from_slice(&[3, 0, 0, 9]);
        let (d, err) = DataMessage::decode(&payload, 0);
        assert!(err.is_none());
        let body = Body::Data(d);
        assert_eq!(tag_type(MSG_DATA_AMF0, &body), Some(TAG_SCRIPT));
        assert_eq!(script_data(&payload, &body), &payload[16..]);
        assert_eq!(&script_data(&payload, &body)[3..13], b"onMetaData");
    }
}
