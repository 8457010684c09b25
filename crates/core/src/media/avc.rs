//! H.264: AVCDecoderConfigurationRecord (ISO 14496-15 5.3.3.1) and the parts of
//! the sequence parameter set (H.264 7.3.2.1.1) that give profile, level,
//! chroma format, bit depth and the cropped picture size.

use crate::error::{hex_preview, DecodeError};
use crate::media::bits::{BitReader, Rbsp};
use crate::reader::Reader;

/// `nal_unit_type` of a sequence parameter set.
const NAL_SPS: u8 = 7;

/// The decoded AVCDecoderConfigurationRecord of an AVC sequence header.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AvcConfig {
    /// configurationVersion (always 1).
    pub version: u8,
    /// AVCProfileIndication (`profile_idc`).
    pub profile_idc: u8,
    /// profile_compatibility (the SPS constraint_set flags).
    pub compatibility: u8,
    /// AVCLevelIndication (`level_idc`).
    pub level_idc: u8,
    /// Profile name, e.g. `High`, `Constrained Baseline`.
    pub profile: &'static str,
    /// Level as written in the spec's tables, e.g. `3.1`, `1b`.
    pub level: String,
    /// Bytes in each NAL unit length prefix (lengthSizeMinusOne + 1).
    pub nal_length_size: u8,
    /// numOfSequenceParameterSets.
    pub sps_count: u8,
    /// numOfPictureParameterSets.
    pub pps_count: u8,
    /// Picture width after cropping, from the first SPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Picture height after cropping, from the first SPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Chroma format from the first SPS: `4:0:0`, `4:2:0`, `4:2:2` or `4:4:4`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chroma_format: Option<&'static str>,
    /// Luma bit depth from the first SPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bit_depth: Option<u8>,
    /// Whether the first SPS allows field coding (frame_mbs_only_flag = 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interlaced: Option<bool>,
}

/// The fields of an H.264 sequence parameter set that describe the picture.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AvcSps {
    /// `profile_idc`.
    pub profile_idc: u8,
    /// constraint_set0..5 flags and reserved bits, as one byte.
    pub constraint_flags: u8,
    /// `level_idc`.
    pub level_idc: u8,
    /// `chroma_format_idc` (1 unless a high profile says otherwise).
    pub chroma_format_idc: u8,
    /// Luma bit depth.
    pub bit_depth_luma: u8,
    /// Chroma bit depth.
    pub bit_depth_chroma: u8,
    /// `frame_mbs_only_flag`.
    pub frame_mbs_only: bool,
    /// Width in luma samples after frame cropping.
    pub width: u32,
    /// Height in luma samples after frame cropping.
    pub height: u32,
}

/// Parses an AVCDecoderConfigurationRecord, failing if its first SPS does not parse.
pub fn parse_config(data: &[u8]) -> Result<AvcConfig, DecodeError> {
    let (config, sps_error) = parse_config_lenient(data)?;
    match sps_error {
        Some(e) => Err(e),
        None => Ok(config),
    }
}

/// Parses an AVCDecoderConfigurationRecord; a first SPS that does not parse is
/// returned as the second value instead of failing the record.
pub(crate) fn parse_config_lenient(
    data: &[u8],
) -> Result<(AvcConfig, Option<DecodeError>), DecodeError> {
    let mut r = Reader::new(data);
    let version = r.u8("AVCDecoderConfigurationRecord version")?;
    if version != 1 {
        return Err(DecodeError::new(
            0,
            "AVCDecoderConfigurationRecord version 1",
            hex_preview(&[version]),
        ));
    }
    let profile_idc = r.u8("AVCProfileIndication")?;
    let compatibility = r.u8("profile_compatibility")?;
    let level_idc = r.u8("AVCLevelIndication")?;
    let nal_length_size = (r.u8("lengthSizeMinusOne")? & 0x03) + 1;
    let sps_count = r.u8("numOfSequenceParameterSets")? & 0x1f;
    let mut first_sps = None;
    for _ in 0..sps_count {
        let len = usize::from(r.u16("sequenceParameterSetLength")?);
        let at = r.pos();
        let nal = r.take(len, "sequenceParameterSetNALUnit")?;
        first_sps.get_or_insert((at, nal));
    }
    let pps_count = r.u8("numOfPictureParameterSets")?;
    for _ in 0..pps_count {
        let len = usize::from(r.u16("pictureParameterSetLength")?);
        r.skip(len, "pictureParameterSetNALUnit")?;
    }
    // The high-profile extension (chroma_format, bit depths, SPS extensions)
    // that may follow repeats what the SPS says, so it is not read.

    let mut config = AvcConfig {
        version,
        profile_idc,
        compatibility,
        level_idc,
        profile: profile_name(profile_idc, compatibility),
        level: level_name(profile_idc, compatibility, level_idc),
        nal_length_size,
        sps_count,
        pps_count,
        width: None,
        height: None,
        chroma_format: None,
        bit_depth: None,
        interlaced: None,
    };
    let mut sps_error = None;
    if let Some((at, nal)) = first_sps {
        match parse_sps(nal) {
            Ok(sps) => {
                config.width = Some(sps.width);
                config.height = Some(sps.height);
                config.chroma_format = Some(chroma_format_name(sps.chroma_format_idc));
                config.bit_depth = Some(sps.bit_depth_luma);
                config.interlaced = Some(!sps.frame_mbs_only);
            }
            Err(e) => sps_error = Some(e.at(at as u64)),
        }
    }
    Ok((config, sps_error))
}

/// Whether `profile_idc` uses the high-profile SPS syntax (chroma format,
/// bit depth, scaling matrices) — H.264 7.3.2.1.1.
fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// Parses an SPS NAL unit (header byte included, emulation prevention not yet removed).
pub fn parse_sps(nal: &[u8]) -> Result<AvcSps, DecodeError> {
    let rbsp = Rbsp::unescape(nal);
    parse_sps_rbsp(&rbsp.bytes).map_err(|e| rbsp.relocate(e, 0))
}

fn parse_sps_rbsp(rbsp: &[u8]) -> Result<AvcSps, DecodeError> {
    let mut b = BitReader::new(rbsp);
    b.skip(1, "forbidden_zero_bit")?;
    b.skip(2, "nal_ref_idc")?;
    let nal_type = b.bits(5, "nal_unit_type")? as u8;
    if nal_type != NAL_SPS {
        return Err(DecodeError::new(
            0,
            "an SPS NAL unit (nal_unit_type 7)",
            format!("nal_unit_type {nal_type}"),
        ));
    }
    let profile_idc = b.bits(8, "profile_idc")? as u8;
    let constraint_flags = b.bits(8, "constraint_set flags")? as u8;
    let level_idc = b.bits(8, "level_idc")? as u8;
    b.ue_max(31, "seq_parameter_set_id")?;

    let mut chroma_format_idc = 1u8;
    let mut separate_colour_plane = false;
    let mut bit_depth_luma = 8u8;
    let mut bit_depth_chroma = 8u8;
    if has_chroma_info(profile_idc) {
        chroma_format_idc = b.ue_max(3, "chroma_format_idc")? as u8;
        if chroma_format_idc == 3 {
            separate_colour_plane = b.flag("separate_colour_plane_flag")?;
        }
        bit_depth_luma = 8 + b.ue_max(6, "bit_depth_luma_minus8")? as u8;
        bit_depth_chroma = 8 + b.ue_max(6, "bit_depth_chroma_minus8")? as u8;
        b.skip(1, "qpprime_y_zero_transform_bypass_flag")?;
        if b.flag("seq_scaling_matrix_present_flag")? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if b.flag("seq_scaling_list_present_flag")? {
                    skip_scaling_list(&mut b, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    b.ue_max(12, "log2_max_frame_num_minus4")?;
    match b.ue_max(2, "pic_order_cnt_type")? {
        0 => {
            b.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")?;
        }
        1 => {
            b.skip(1, "delta_pic_order_always_zero_flag")?;
            b.se("offset_for_non_ref_pic")?;
            b.se("offset_for_top_to_bottom_field")?;
            let cycle = b.ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle")?;
            for _ in 0..cycle {
                b.se("offset_for_ref_frame")?;
            }
        }
        _ => {}
    }
    b.ue("max_num_ref_frames")?;
    b.skip(1, "gaps_in_frame_num_value_allowed_flag")?;
    let width_mbs = u64::from(b.ue("pic_width_in_mbs_minus1")?) + 1;
    let height_map_units = u64::from(b.ue("pic_height_in_map_units_minus1")?) + 1;
    let frame_mbs_only = b.flag("frame_mbs_only_flag")?;
    if !frame_mbs_only {
        b.skip(1, "mb_adaptive_frame_field_flag")?;
    }
    b.skip(1, "direct_8x8_inference_flag")?;
    let crop_pos = b.byte_pos();
    let crop = if b.flag("frame_cropping_flag")? {
        [
            u64::from(b.ue("frame_crop_left_offset")?),
            u64::from(b.ue("frame_crop_right_offset")?),
            u64::from(b.ue("frame_crop_top_offset")?),
            u64::from(b.ue("frame_crop_bottom_offset")?),
        ]
    } else {
        [0; 4]
    };

    // H.264 7.4.2.1.1: crop units depend on ChromaArrayType and field coding.
    let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_width, sub_height) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let (crop_unit_x, crop_unit_y) = if chroma_array_type == 0 {
        (1, field_factor)
    } else {
        (sub_width, sub_height * field_factor)
    };
    let full_width = width_mbs * 16;
    let full_height = field_factor * height_map_units * 16;
    let width = full_width.checked_sub(crop_unit_x * (crop[0] + crop[1]));
    let height = full_height.checked_sub(crop_unit_y * (crop[2] + crop[3]));
    let (Some(width), Some(height)) = (width, height) else {
        return Err(DecodeError::new(
            crop_pos,
            format!("frame cropping within the {full_width}x{full_height} coded frame"),
            format!(
                "crop left {} right {} top {} bottom {}",
                crop[0], crop[1], crop[2], crop[3]
            ),
        ));
    };
    let fit = |v: u64, what: &str| {
        u32::try_from(v)
            .map_err(|_| DecodeError::new(crop_pos, format!("{what} below 2^32"), v.to_string()))
    };
    Ok(AvcSps {
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
        frame_mbs_only,
        width: fit(width, "picture width")?,
        height: fit(height, "picture height")?,
    })
}

/// Reads past one `scaling_list()` (H.264 7.3.2.1.1.1).
fn skip_scaling_list(b: &mut BitReader<'_>, size: usize) -> Result<(), DecodeError> {
    let mut last: i32 = 8;
    let mut next: i32 = 8;
    for _ in 0..size {
        if next != 0 {
            let at = b.byte_pos();
            let delta = b.se("delta_scale")?;
            if !(-128..=127).contains(&delta) {
                return Err(DecodeError::new(
                    at,
                    "delta_scale in -128..=127",
                    delta.to_string(),
                ));
            }
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Name of an H.264 profile (Annex A.2), refined by the constraint_set flags.
pub fn profile_name(profile_idc: u8, constraints: u8) -> &'static str {
    let set1 = constraints & 0x40 != 0;
    let set3 = constraints & 0x10 != 0;
    let set4 = constraints & 0x08 != 0;
    let set5 = constraints & 0x04 != 0;
    match profile_idc {
        66 if set1 => "Constrained Baseline",
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 if set4 && set5 => "Constrained High",
        100 if set4 => "Progressive High",
        100 => "High",
        110 if set3 => "High 10 Intra",
        110 if set4 => "Progressive High 10",
        110 => "High 10",
        122 if set3 => "High 4:2:2 Intra",
        122 => "High 4:2:2",
        244 if set3 => "High 4:4:4 Intra",
        244 => "High 4:4:4 Predictive",
        44 => "CAVLC 4:4:4 Intra",
        83 => "Scalable Baseline",
        86 => "Scalable High",
        118 => "Multiview High",
        128 => "Stereo High",
        134 => "MFC High",
        135 => "MFC Depth High",
        138 => "Multiview Depth High",
        139 => "Enhanced Multiview Depth High",
        _ => "unknown",
    }
}

/// Level as the spec writes it (`1b`, `3.1`, `4.0`) from `level_idc` (Annex A.3).
pub fn level_name(profile_idc: u8, constraints: u8, level_idc: u8) -> String {
    let set3 = constraints & 0x10 != 0;
    if level_idc == 9 || (level_idc == 11 && set3 && matches!(profile_idc, 66 | 77 | 88)) {
        return "1b".to_string();
    }
    super::dotted_level(u32::from(level_idc / 10), u32::from(level_idc % 10))
}

/// `4:2:0` etc. for a `chroma_format_idc`.
pub fn chroma_format_name(chroma_format_idc: u8) -> &'static str {
    match chroma_format_idc {
        0 => "4:0:0",
        1 => "4:2:0",
        2 => "4:2:2",
        3 => "4:4:4",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testutil::hex;

    // `ffmpeg -f lavfi -i testsrc=size=320x240:rate=25 -t 1 -c:v libx264 -pix_fmt yuv420p
    //  -f flv avc320.flv` (ffmpeg 5.1.9, x264 core 164): the first video tag's
    // AVCDecoderConfigurationRecord. ffprobe: High, level 13, 320x240, yuv420p, 8 bits.
    const AVCC_320X240: &str = "0164000dffe100196764000dacd94141fb0110000003001000000303
        20f142996001000668ebe3cb22c0fdf8f800";

    // Same command with size=1920x1080: ffprobe High, level 40, 1920x1080 (coded 1088).
    const SPS_1080P: &str = "67640028acd940780227e5c044000003000400000300c83c60c658";

    #[test]
    fn x264_320x240_record_gives_high_1_3_and_picture_size() {
        let c = parse_config(&hex(AVCC_320X240)).unwrap();
        assert_eq!(c.version, 1);
        assert_eq!((c.profile_idc, c.compatibility, c.level_idc), (100, 0, 13));
        assert_eq!(c.profile, "High");
        assert_eq!(c.level, "1.3");
        assert_eq!(c.nal_length_size, 4);
        assert_eq!((c.sps_count, c.pps_count), (1, 1));
        assert_eq!((c.width, c.height), (Some(320), Some(240)));
        assert_eq!(c.chroma_format, Some("4:2:0"));
        assert_eq!(c.bit_depth, Some(8));
        assert_eq!(c.interlaced, Some(false));
    }

    #[test]
    fn sps_1080p_crops_1088_coded_lines_to_1080() {
        let s = parse_sps(&hex(SPS_1080P)).unwrap();
        assert_eq!((s.width, s.height), (1920, 1080));
        assert_eq!(
            level_name(s.profile_idc, s.constraint_flags, s.level_idc),
            "4.0"
        );
    }

    #[test]
    fn sps_with_scaling_matrices_and_4_4_4_chroma() {
        // `... size=352x288 ... -c:v libx264 -pix_fmt yuv444p -x264-params cqm=jvt -f flv`:
        // ffprobe High 4:4:4 Predictive, level 13, 352x288, yuv444p.
        let s = parse_sps(&hex("67f4000d919b282c12d808800000030080000019078a14cb")).unwrap();
        assert_eq!(
            profile_name(s.profile_idc, s.constraint_flags),
            "High 4:4:4 Predictive"
        );
        assert_eq!(s.chroma_format_idc, 3);
        assert_eq!((s.width, s.height), (352, 288));
    }

    #[test]
    fn sps_4_2_2_10_bit_crops_in_whole_lines() {
        // `... size=640x360 ... -c:v libx264 -pix_fmt yuv422p10le -f flv`:
        // ffprobe High 4:2:2, level 30, 640x360, yuv422p10le.
        let s = parse_sps(&hex(
            "677a001eb6cd940a02ff89c044000003000400000300c83c58b658",
        ))
        .unwrap();
        assert_eq!(
            profile_name(s.profile_idc, s.constraint_flags),
            "High 4:2:2"
        );
        assert_eq!(chroma_format_name(s.chroma_format_idc), "4:2:2");
        assert_eq!((s.bit_depth_luma, s.bit_depth_chroma), (10, 10));
        assert_eq!((s.width, s.height), (640, 360));
    }

    #[test]
    fn constrained_baseline_426x240_crops_odd_width() {
        // `... size=426x240 ... -c:v libx264 -profile:v baseline -pix_fmt yuv420p -f flv`:
        // ffprobe Constrained Baseline, level 21, 426x240.
        let c = parse_config(&hex(
            "0142c015ffe100196742c015d901b1fe4f011000000300100000030320f162e48001000568cb83cb20",
        ))
        .unwrap();
        assert_eq!(c.profile, "Constrained Baseline");
        assert_eq!(c.level, "2.1");
        assert_eq!((c.width, c.height), (Some(426), Some(240)));
    }

    #[test]
    fn wrong_version_names_the_field_and_the_byte() {
        let mut b = hex(AVCC_320X240);
        b[0] = 0;
        let e = parse_config(&b).unwrap_err();
        assert_eq!(e.offset, 0);
        assert_eq!(e.expected, "AVCDecoderConfigurationRecord version 1");
        assert_eq!(e.found, "00");
    }

    #[test]
    fn sps_length_beyond_the_record_is_a_short_read() {
        let b = hex("0164000dffe1ff19");
        let e = parse_config(&b).unwrap_err();
        assert_eq!(e.offset, 8);
        assert_eq!(e.found, "end of data");
    }

    #[test]
    fn broken_sps_keeps_the_record_in_lenient_mode() {
        // The 320x240 record with its SPS cut to 6 bytes.
        let b = hex("0164000dffe100066764000dacd9 01000668ebe3cb22c0");
        let (c, e) = parse_config_lenient(&b).unwrap();
        assert_eq!(c.profile, "High");
        assert_eq!(c.width, None);
        assert!(e.unwrap().offset >= 8);
    }

    #[test]
    fn cropping_larger_than_the_frame_is_an_error() {
        // Baseline SPS, 1x1 macroblocks, frame_cropping left = 100 (hand-built).
        let mut bits = [
            "0",     // forbidden_zero_bit
            "11",    // nal_ref_idc
            "00111", // SPS
            "01000010",
            "00000000",
            "00011110",      // profile 66, flags 0, level 30
            "1",             // sps id 0
            "1",             // log2_max_frame_num_minus4 0
            "1",             // poc type 0
            "1",             // log2_max_poc_lsb_minus4 0
            "1",             // max_num_ref_frames 0
            "0",             // gaps
            "1",             // width mbs minus1 0
            "1",             // height minus1 0
            "1",             // frame_mbs_only
            "1",             // direct_8x8
            "1",             // cropping
            "0000001100101", // left = 100
            "111",           // right, top, bottom = 0
            "0",             // vui
        ]
        .concat();
        while !bits.len().is_multiple_of(8) {
            bits.push('0');
        }
        let bytes: Vec<u8> = bits
            .as_bytes()
            .chunks(8)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap())
            .collect();
        let e = parse_sps(&bytes).unwrap_err();
        assert!(e.expected.contains("frame cropping within the 16x16"));
    }

    #[test]
    fn level_1b_is_level_11_with_constraint_set3_in_baseline() {
        assert_eq!(level_name(66, 0x10, 11), "1b");
        assert_eq!(level_name(100, 0x10, 11), "1.1");
    }
}
