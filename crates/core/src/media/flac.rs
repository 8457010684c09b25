//! FLAC STREAMINFO (RFC 9639 8.2), the payload of a `fLaC` sequence start.

use crate::error::{hex_preview, DecodeError};
use crate::media::bits::BitReader;
use crate::reader::Reader;

/// Length of a STREAMINFO block body.
const STREAMINFO_LEN: usize = 34;

/// The decoded STREAMINFO metadata block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StreamInfo {
    /// Minimum block size in samples.
    pub min_block_size: u16,
    /// Maximum block size in samples.
    pub max_block_size: u16,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u8,
    /// Bits per sample.
    pub bits_per_sample: u8,
    /// Total samples per channel (0 = unknown).
    pub total_samples: u64,
}

/// Parses a FLAC sequence header: `fLaC` + the STREAMINFO block as E-RTMP
/// specifies, or a bare 34-byte STREAMINFO body as some muxers write.
pub fn parse(data: &[u8]) -> Result<StreamInfo, DecodeError> {
    let mut r = Reader::new(data);
    if data.starts_with(b"fLaC") {
        r.skip(4, "fLaC signature")?;
        let at = r.pos();
        let header = r.u8("metadata block type")?;
        let len = r.u24("metadata block length")? as usize;
        if header & 0x7f != 0 || len < STREAMINFO_LEN {
            return Err(DecodeError::new(
                at,
                "a STREAMINFO metadata block (type 0, 34 bytes)",
                hex_preview(&data[at..r.pos()]),
            ));
        }
    }
    let body = r.take(STREAMINFO_LEN, "STREAMINFO")?;
    let base = r.pos() - STREAMINFO_LEN;
    let mut b = BitReader::new(body);
    let fields = (|| {
        let min_block_size = b.bits(16, "minimum block size")? as u16;
        let max_block_size = b.bits(16, "maximum block size")? as u16;
        b.skip(48, "minimum and maximum frame size")?;
        let sample_rate = b.bits(20, "sample rate")?;
        let channels = b.bits(3, "channels")? as u8 + 1;
        let bits_per_sample = b.bits(5, "bits per sample")? as u8 + 1;
        let high = u64::from(b.bits(4, "total samples")?);
        let low = u64::from(b.bits(32, "total samples")?);
        Ok(StreamInfo {
            min_block_size,
            max_block_size,
            sample_rate,
            channels,
            bits_per_sample,
            total_samples: (high << 32) | low,
        })
    })();
    fields.map_err(|e: DecodeError| e.at(base as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testutil::hex;

    // `ffmpeg -f lavfi -i sine=frequency=440:sample_rate=48000 -t 0.2 -ac 2 -c:a flac
    //  flac.flac` (ffmpeg 5.1.9): the file's first 42 bytes.
    // ffprobe: 48000 Hz, 2 channels, 16 bits.
    const FLAC_HEADER: &str =
        "664c614300000022120012000000c70005110bb802f000002580d9b81de011fef694f3e1d33694c8ae61";

    #[test]
    fn ffmpeg_flac_header_gives_rate_channels_and_depth() {
        let s = parse(&hex(FLAC_HEADER)).unwrap();
        assert_eq!(s.sample_rate, 48000);
        assert_eq!(s.channels, 2);
        assert_eq!(s.bits_per_sample, 16);
        assert_eq!((s.min_block_size, s.max_block_size), (4608, 4608));
    }

    #[test]
    fn bare_streaminfo_body_is_accepted() {
        let s = parse(&hex(FLAC_HEADER)[8..]).unwrap();
        assert_eq!(s.sample_rate, 48000);
    }

    #[test]
    fn other_first_block_is_an_error() {
        let mut b = hex(FLAC_HEADER);
        b[4] = 0x04;
        let e = parse(&b).unwrap_err();
        assert_eq!(e.offset, 4);
    }
}
