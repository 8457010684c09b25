//! Opus identification header (RFC 7845 5.1), the payload of an `Opus` sequence start.

use crate::error::{hex_preview, DecodeError};
use crate::reader::Reader;

/// The identification header's magic signature.
const MAGIC: &[u8; 8] = b"OpusHead";

/// A decoded Opus identification header.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpusHead {
    /// Version (1 for RFC 7845).
    pub version: u8,
    /// Output channel count.
    pub channels: u8,
    /// Samples (at 48 kHz) to discard from the decoder output at the start.
    pub pre_skip: u16,
    /// Sample rate of the original input, informational only (Opus always decodes at 48 kHz).
    pub input_sample_rate: u32,
    /// Output gain in Q7.8 dB.
    pub output_gain: i16,
    /// Channel mapping family.
    pub mapping_family: u8,
}

/// Parses an Opus identification header.
pub fn parse(data: &[u8]) -> Result<OpusHead, DecodeError> {
    let mut r = Reader::new(data);
    let magic = r.take(8, "OpusHead magic")?;
    if magic != MAGIC {
        return Err(DecodeError::new(0, "\"OpusHead\"", hex_preview(magic)));
    }
    let version = r.u8("Opus version")?;
    let channels = r.u8("Opus channel count")?;
    let b = r.take(2, "Opus pre-skip")?;
    let pre_skip = u16::from_le_bytes([b[0], b[1]]);
    let input_sample_rate = r.u32_le("Opus input sample rate")?;
    let b = r.take(2, "Opus output gain")?;
    let output_gain = i16::from_le_bytes([b[0], b[1]]);
    let mapping_family = r.u8("Opus channel mapping family")?;
    Ok(OpusHead {
        version,
        channels,
        pre_skip,
        input_sample_rate,
        output_gain,
        mapping_family,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testutil::hex;

    #[test]
    fn e_rtmp_lab_opus_head() {
        // veovera/enhanced-rtmp e-rtmp-lab/assets/bbb.flv, first Opus SequenceStart
        // payload: version 1, 2 channels, pre-skip 312, 48000 Hz, family 0.
        let h = parse(&hex("4f707573486561640102380180bb0000000000")).unwrap();
        assert_eq!(h.version, 1);
        assert_eq!(h.channels, 2);
        assert_eq!(h.pre_skip, 312);
        assert_eq!(h.input_sample_rate, 48000);
        assert_eq!(h.mapping_family, 0);
    }

    #[test]
    fn wrong_magic_is_an_error_at_byte_0() {
        let e = parse(b"OpusTags\x01\x02\x00\x00\x80\xbb\x00\x00\x00\x00\x00").unwrap_err();
        assert_eq!(e.offset, 0);
        assert_eq!(e.expected, "\"OpusHead\"");
    }
}
