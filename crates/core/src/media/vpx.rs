//! VP8/VP9: VPCodecConfigurationRecord ("VP Codec ISO Media File Format
//! Binding" 2.2), the payload of a `vp08`/`vp09` sequence start.

use crate::error::DecodeError;
use crate::reader::Reader;

/// The decoded VPCodecConfigurationRecord.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VpConfig {
    /// Whether the record began with the vpcC box's version 1 and flags,
    /// which ffmpeg's FLV muxer writes.
    pub box_header: bool,
    /// profile (0–3).
    pub profile: u8,
    /// level × 10 (e.g. 31 for level 3.1; 0 if unknown).
    pub level_idc: u8,
    /// Level as `X.Y`.
    pub level: String,
    /// bitDepth.
    pub bit_depth: u8,
    /// chromaSubsampling (0 4:2:0 vertical, 1 4:2:0 colocated, 2 4:2:2, 3 4:4:4).
    pub chroma_subsampling: u8,
    /// Chroma format name from chromaSubsampling.
    pub chroma_format: &'static str,
    /// videoFullRangeFlag.
    pub full_range: bool,
    /// colourPrimaries.
    pub colour_primaries: u8,
    /// transferCharacteristics.
    pub transfer_characteristics: u8,
    /// matrixCoefficients.
    pub matrix_coefficients: u8,
}

/// Parses a VPCodecConfigurationRecord, with or without the 4-byte box version/flags.
pub fn parse_config(data: &[u8]) -> Result<VpConfig, DecodeError> {
    let mut r = Reader::new(data);
    // A bare record starts with profile and level, then a bitDepth nibble of 8,
    // 10 or 12; version 1 + zero flags can only be the box header.
    let box_header = matches!(data, [1, 0, 0, 0, ..]);
    if box_header {
        r.skip(4, "vpcC version and flags")?;
    }
    let profile = r.u8("profile")?;
    let level_idc = r.u8("level")?;
    let b = r.u8("bitDepth/chromaSubsampling/videoFullRangeFlag")?;
    let colour_primaries = r.u8("colourPrimaries")?;
    let transfer_characteristics = r.u8("transferCharacteristics")?;
    let matrix_coefficients = r.u8("matrixCoefficients")?;
    let init_len = usize::from(r.u16("codecInitializationDataSize")?);
    r.skip(init_len, "codecInitializationData")?;
    let chroma_subsampling = (b >> 1) & 0x07;
    Ok(VpConfig {
        box_header,
        profile,
        level_idc,
        level: super::dotted_level(u32::from(level_idc / 10), u32::from(level_idc % 10)),
        bit_depth: b >> 4,
        chroma_subsampling,
        chroma_format: match chroma_subsampling {
            0 | 1 => "4:2:0",
            2 => "4:2:2",
            3 => "4:4:4",
            _ => "unknown",
        },
        full_range: b & 1 != 0,
        colour_primaries,
        transfer_characteristics,
        matrix_coefficients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testutil::hex;

    // `ffmpeg -f lavfi -i testsrc=size=640x360:rate=25 -t 0.2 -c:v libvpx-vp9
    //  -pix_fmt yuv420p -f mp4 vp9.mp4` (ffmpeg 5.1.9): the vpcC box payload.
    // ffprobe: Profile 0, yuv420p (8 bits); level 21 is ffmpeg's estimate for
    // 640x360 at 25 fps (VP9 level 2.1).
    const VPCC: &str = "010000000015820202020000";

    #[test]
    fn libvpx_record_with_box_header() {
        let c = parse_config(&hex(VPCC)).unwrap();
        assert!(c.box_header);
        assert_eq!(c.profile, 0);
        assert_eq!(c.level, "2.1");
        assert_eq!(c.bit_depth, 8);
        assert_eq!(c.chroma_format, "4:2:0");
        assert!(!c.full_range);
        assert_eq!(c.colour_primaries, 2);
    }

    #[test]
    fn bare_record_without_box_header() {
        let c = parse_config(&hex(&VPCC[8..])).unwrap();
        assert!(!c.box_header);
        assert_eq!((c.profile, c.level_idc, c.bit_depth), (0, 21, 8));
    }

    #[test]
    fn short_record_names_the_missing_field() {
        let e = parse_config(&hex("0015")).unwrap_err();
        assert!(e.expected.contains("bitDepth"));
    }
}
