//! H.265: HEVCDecoderConfigurationRecord (ISO 14496-15 8.3.3.1) and the start of
//! the sequence parameter set (H.265 7.3.2.2) up to the picture size and bit depth.

use crate::error::{hex_preview, DecodeError};
use crate::media::bits::{BitReader, Rbsp};
use crate::reader::Reader;

/// `nal_unit_type` values of the parameter sets.
const NAL_VPS: u8 = 32;
const NAL_SPS: u8 = 33;
const NAL_PPS: u8 = 34;

/// The decoded HEVCDecoderConfigurationRecord of an HEVC sequence header.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HevcConfig {
    /// configurationVersion (1).
    pub version: u8,
    /// general_profile_space.
    pub profile_space: u8,
    /// general_tier_flag as `Main` or `High`.
    pub tier: &'static str,
    /// general_profile_idc.
    pub profile_idc: u8,
    /// general_profile_compatibility_flags.
    pub compatibility: u32,
    /// general_level_idc (30 × level).
    pub level_idc: u8,
    /// Profile name, e.g. `Main`, `Main 10`.
    pub profile: &'static str,
    /// Level, e.g. `4.1`.
    pub level: String,
    /// Chroma format from the record.
    pub chroma_format: &'static str,
    /// Luma bit depth from the record.
    pub bit_depth: u8,
    /// Bytes in each NAL unit length prefix.
    pub nal_length_size: u8,
    /// numTemporalLayers.
    pub temporal_layers: u8,
    /// Number of VPS NAL units in the arrays.
    pub vps_count: u32,
    /// Number of SPS NAL units in the arrays.
    pub sps_count: u32,
    /// Number of PPS NAL units in the arrays.
    pub pps_count: u32,
    /// Picture width after the conformance window, from the first SPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Picture height after the conformance window, from the first SPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// The fields of an H.265 SPS that describe the picture.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HevcSps {
    /// sps_max_sub_layers_minus1 + 1.
    pub max_sub_layers: u8,
    /// general_profile_idc.
    pub profile_idc: u8,
    /// general_tier_flag.
    pub high_tier: bool,
    /// general_level_idc.
    pub level_idc: u8,
    /// chroma_format_idc.
    pub chroma_format_idc: u8,
    /// Luma bit depth.
    pub bit_depth_luma: u8,
    /// Chroma bit depth.
    pub bit_depth_chroma: u8,
    /// Width after the conformance window.
    pub width: u32,
    /// Height after the conformance window.
    pub height: u32,
}

/// Parses an HEVCDecoderConfigurationRecord, failing if its first SPS does not parse.
pub fn parse_config(data: &[u8]) -> Result<HevcConfig, DecodeError> {
    let (config, sps_error) = parse_config_lenient(data)?;
    match sps_error {
        Some(e) => Err(e),
        None => Ok(config),
    }
}

/// Parses an HEVCDecoderConfigurationRecord; a first SPS that does not parse is
/// returned as the second value instead of failing the record.
pub(crate) fn parse_config_lenient(
    data: &[u8],
) -> Result<(HevcConfig, Option<DecodeError>), DecodeError> {
    let mut r = Reader::new(data);
    let version = r.u8("HEVCDecoderConfigurationRecord version")?;
    if version != 1 {
        return Err(DecodeError::new(
            0,
            "HEVCDecoderConfigurationRecord version 1",
            hex_preview(&[version]),
        ));
    }
    let b = r.u8("general_profile_space/tier/profile_idc")?;
    let profile_space = b >> 6;
    let high_tier = b & 0x20 != 0;
    let profile_idc = b & 0x1f;
    let compatibility = r.u32("general_profile_compatibility_flags")?;
    r.skip(6, "general_constraint_indicator_flags")?;
    let level_idc = r.u8("general_level_idc")?;
    r.skip(2, "min_spatial_segmentation_idc")?;
    r.skip(1, "parallelismType")?;
    let chroma_format_idc = r.u8("chromaFormat")? & 0x03;
    let bit_depth = (r.u8("bitDepthLumaMinus8")? & 0x07) + 8;
    r.skip(1, "bitDepthChromaMinus8")?;
    r.skip(2, "avgFrameRate")?;
    let b = r.u8("constantFrameRate/numTemporalLayers/lengthSizeMinusOne")?;
    let temporal_layers = (b >> 3) & 0x07;
    let nal_length_size = (b & 0x03) + 1;
    let arrays = r.u8("numOfArrays")?;

    let (mut vps_count, mut sps_count, mut pps_count) = (0u32, 0u32, 0u32);
    let mut first_sps = None;
    for _ in 0..arrays {
        let nal_type = r.u8("array NAL_unit_type")? & 0x3f;
        let count = r.u16("numNalus")?;
        for _ in 0..count {
            let len = usize::from(r.u16("nalUnitLength")?);
            let at = r.pos();
            let nal = r.take(len, "nalUnit")?;
            match nal_type {
                NAL_VPS => vps_count += 1,
                NAL_SPS => {
                    sps_count += 1;
                    first_sps.get_or_insert((at, nal));
                }
                NAL_PPS => pps_count += 1,
                _ => {}
            }
        }
    }

    let mut config = HevcConfig {
        version,
        profile_space,
        tier: if high_tier { "High" } else { "Main" },
        profile_idc,
        compatibility,
        level_idc,
        profile: profile_name(profile_idc, compatibility),
        level: level_name(level_idc),
        chroma_format: super::avc::chroma_format_name(chroma_format_idc),
        bit_depth,
        nal_length_size,
        temporal_layers,
        vps_count,
        sps_count,
        pps_count,
        width: None,
        height: None,
    };
    let mut sps_error = None;
    if let Some((at, nal)) = first_sps {
        match parse_sps(nal) {
            Ok(sps) => {
                config.width = Some(sps.width);
                config.height = Some(sps.height);
            }
            Err(e) => sps_error = Some(e.at(at as u64)),
        }
    }
    Ok((config, sps_error))
}

/// Parses an SPS NAL unit (2-byte header included, emulation prevention not yet removed).
pub fn parse_sps(nal: &[u8]) -> Result<HevcSps, DecodeError> {
    let rbsp = Rbsp::unescape(nal);
    parse_sps_rbsp(&rbsp.bytes).map_err(|e| rbsp.relocate(e, 0))
}

fn parse_sps_rbsp(rbsp: &[u8]) -> Result<HevcSps, DecodeError> {
    let mut b = BitReader::new(rbsp);
    b.skip(1, "forbidden_zero_bit")?;
    let nal_type = b.bits(6, "nal_unit_type")? as u8;
    if nal_type != NAL_SPS {
        return Err(DecodeError::new(
            0,
            "an SPS NAL unit (nal_unit_type 33)",
            format!("nal_unit_type {nal_type}"),
        ));
    }
    b.skip(9, "nuh_layer_id and nuh_temporal_id_plus1")?;
    b.skip(4, "sps_video_parameter_set_id")?;
    let at = b.byte_pos();
    let max_sub_layers_minus1 = b.bits(3, "sps_max_sub_layers_minus1")? as u8;
    if max_sub_layers_minus1 > 6 {
        return Err(DecodeError::new(
            at,
            "sps_max_sub_layers_minus1 at most 6",
            max_sub_layers_minus1.to_string(),
        ));
    }
    b.skip(1, "sps_temporal_id_nesting_flag")?;

    // profile_tier_level(1, sps_max_sub_layers_minus1), H.265 7.3.3.
    b.skip(2, "general_profile_space")?;
    let high_tier = b.flag("general_tier_flag")?;
    let profile_idc = b.bits(5, "general_profile_idc")? as u8;
    b.skip(32, "general_profile_compatibility_flags")?;
    b.skip(48, "general constraint flags")?;
    let level_idc = b.bits(8, "general_level_idc")? as u8;
    let mut profile_present = [false; 8];
    let mut level_present = [false; 8];
    for i in 0..usize::from(max_sub_layers_minus1) {
        profile_present[i] = b.flag("sub_layer_profile_present_flag")?;
        level_present[i] = b.flag("sub_layer_level_present_flag")?;
    }
    if max_sub_layers_minus1 > 0 {
        b.skip(
            2 * (8 - usize::from(max_sub_layers_minus1)),
            "reserved_zero_2bits",
        )?;
    }
    for i in 0..usize::from(max_sub_layers_minus1) {
        if profile_present[i] {
            b.skip(88, "sub_layer profile")?;
        }
        if level_present[i] {
            b.skip(8, "sub_layer_level_idc")?;
        }
    }

    b.ue_max(15, "sps_seq_parameter_set_id")?;
    let chroma_format_idc = b.ue_max(3, "chroma_format_idc")? as u8;
    let separate_colour_plane = chroma_format_idc == 3 && b.flag("separate_colour_plane_flag")?;
    let width = u64::from(b.ue("pic_width_in_luma_samples")?);
    let height = u64::from(b.ue("pic_height_in_luma_samples")?);
    let window_pos = b.byte_pos();
    let window = if b.flag("conformance_window_flag")? {
        [
            u64::from(b.ue("conf_win_left_offset")?),
            u64::from(b.ue("conf_win_right_offset")?),
            u64::from(b.ue("conf_win_top_offset")?),
            u64::from(b.ue("conf_win_bottom_offset")?),
        ]
    } else {
        [0; 4]
    };
    let bit_depth_luma = 8 + b.ue_max(8, "bit_depth_luma_minus8")? as u8;
    let bit_depth_chroma = 8 + b.ue_max(8, "bit_depth_chroma_minus8")? as u8;

    // H.265 table 6-1: offsets count in chroma samples.
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_width, sub_height): (u64, u64) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let w = width.checked_sub(sub_width * (window[0] + window[1]));
    let h = height.checked_sub(sub_height * (window[2] + window[3]));
    let (Some(w), Some(h)) = (w, h) else {
        return Err(DecodeError::new(
            window_pos,
            format!("conformance window within the {width}x{height} picture"),
            format!(
                "left {} right {} top {} bottom {}",
                window[0], window[1], window[2], window[3]
            ),
        ));
    };
    // ue() values are below 2^32, and subtraction only shrinks them.
    Ok(HevcSps {
        max_sub_layers: max_sub_layers_minus1 + 1,
        profile_idc,
        high_tier,
        level_idc,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
        width: w as u32,
        height: h as u32,
    })
}

/// Name of an H.265 profile (Annex A.3); profile_idc 0 falls back to the
/// lowest compatibility flag set.
pub fn profile_name(profile_idc: u8, compatibility: u32) -> &'static str {
    let idc = if profile_idc == 0 {
        (1..32u8)
            .find(|j| compatibility & (1u32 << (31 - u32::from(*j))) != 0)
            .unwrap_or(0)
    } else {
        profile_idc
    };
    match idc {
        1 => "Main",
        2 => "Main 10",
        3 => "Main Still Picture",
        4 => "Rext",
        5 => "High Throughput",
        6 => "Multiview Main",
        7 => "Scalable Main",
        8 => "3D Main",
        9 => "Screen Content Coding",
        10 => "Scalable Rext",
        11 => "High Throughput Screen Content Coding",
        _ => "unknown",
    }
}

/// Level as `major.minor` from general_level_idc (30 × level).
pub fn level_name(level_idc: u8) -> String {
    let l = u32::from(level_idc);
    super::dotted_level(l / 30, (l % 30) / 3)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::media::testutil::hex;

    // `ffmpeg -f lavfi -i testsrc=size=1920x1080:rate=25 -t 0.2 -c:v libx265
    //  -x265-params info=0 -pix_fmt yuv420p -f mp4 hevc1080.mp4` (ffmpeg 5.1.9,
    // x265 3.5): the hvcC box. ffprobe: Main, level 120, 1920x1080, yuv420p.
    pub(crate) const HVCC_1080P: &str = "01016000000090000000000078f000fcfdf8f800000f03
        200001001840010c01ffff016000000300900000030000030078959809
        210001002a420101016000000300900000030000030078a003c08010e596566924caf0168080000003008000000c84
        22000100074401c172b46240";

    #[test]
    fn x265_1080p_record_gives_main_level_4_and_size() {
        let c = parse_config(&hex(HVCC_1080P)).unwrap();
        assert_eq!(c.profile, "Main");
        assert_eq!(c.tier, "Main");
        assert_eq!(c.level_idc, 120);
        assert_eq!(c.level, "4.0");
        assert_eq!(c.chroma_format, "4:2:0");
        assert_eq!(c.bit_depth, 8);
        assert_eq!(c.nal_length_size, 4);
        assert_eq!((c.vps_count, c.sps_count, c.pps_count), (1, 1, 1));
        assert_eq!((c.width, c.height), (Some(1920), Some(1080)));
    }

    #[test]
    fn conformance_window_crops_432_coded_columns_to_426() {
        // Same command with size=426x240: ffprobe Main, level 60, 426x240 (coded 432x240).
        let c = parse_config(&hex(
            "0101600000009000000000003cf000fcfdf8f800000f03200001001840010c01ffff0160000003009000
             0003000003003c959809210001002b42010101600000030090000003000003003ca00d880f1c9e5959a4
             932bc05a02000003000200000300321022000100074401c172b46240",
        ))
        .unwrap();
        assert_eq!(c.level, "2.0");
        assert_eq!((c.width, c.height), (Some(426), Some(240)));
    }

    // `... size=1280x720 ... -c:v libx265 -x265-params info=0:high-tier=1:level-idc=5.1
    //  -pix_fmt yuv420p10le -f mp4`: ffprobe Main 10, level 153, 1280x720, yuv420p10le.
    pub(crate) const HVCC_720P10_HIGH_TIER: &str =
        "01222000000090000000000099f000fcfdfafa00000f03200001001840010c01ffff2220000003009000
         00030000030099959809210001002b420101222000000300900000030000030099a00280802d1365959a
         4932bc05a0200000030020000003032122000100074401c172b46240";

    #[test]
    fn high_tier_main_10_level_5_1() {
        let c = parse_config(&hex(HVCC_720P10_HIGH_TIER)).unwrap();
        assert_eq!(c.profile, "Main 10");
        assert_eq!(c.tier, "High");
        assert_eq!(c.level, "5.1");
        assert_eq!(c.bit_depth, 10);
        assert_eq!((c.width, c.height), (Some(1280), Some(720)));
    }

    #[test]
    fn sps_with_two_temporal_sub_layers_skips_their_flags() {
        // `... size=640x360 ... -c:v libx265 -x265-params info=0:temporal-layers=1
        //  -pix_fmt yuv420p -f mp4`: ffprobe Main, level 63, 640x360.
        let sps = hex(
            "42010201600000030090000003000003003f0000a005020169659598acd24995e02d01000003000100000300190822",
        );
        let s = parse_sps(&sps).unwrap();
        assert_eq!(s.max_sub_layers, 2);
        assert_eq!(s.level_idc, 63);
        assert_eq!((s.width, s.height), (640, 360));
    }

    #[test]
    fn array_count_beyond_the_record_is_a_short_read() {
        let mut b = hex(HVCC_1080P);
        b.truncate(30);
        let e = parse_config(&b).unwrap_err();
        assert_eq!(e.found, "end of data");
    }

    #[test]
    fn profile_idc_0_falls_back_to_the_compatibility_flags() {
        assert_eq!(profile_name(0, 0x2000_0000), "Main 10");
        assert_eq!(profile_name(0, 0), "unknown");
    }
}
