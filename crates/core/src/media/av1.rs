//! AV1: AV1CodecConfigurationRecord (AV1-ISOBMFF 2.3) and the start of a
//! sequence header OBU (AV1 spec 5.5) for the maximum frame size.

use crate::error::{hex_preview, DecodeError};
use crate::media::bits::{leb128, BitReader};

/// `obu_type` of a sequence header.
const OBU_SEQUENCE_HEADER: u8 = 1;
/// At most this many config OBUs are examined.
const MAX_CONFIG_OBUS: usize = 16;

/// The decoded AV1CodecConfigurationRecord of an AV1 sequence start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Av1Config {
    /// version (1).
    pub version: u8,
    /// seq_profile (0 Main, 1 High, 2 Professional).
    pub seq_profile: u8,
    /// Profile name.
    pub profile: &'static str,
    /// seq_level_idx_0.
    pub seq_level_idx: u8,
    /// Level as `X.Y` (or `max` for 31).
    pub level: String,
    /// seq_tier_0 as `Main` or `High`.
    pub tier: &'static str,
    /// Bit depth from high_bitdepth and twelve_bit.
    pub bit_depth: u8,
    /// monochrome.
    pub monochrome: bool,
    /// Chroma subsampling as `4:2:0`, `4:2:2`, `4:4:4` (or `4:0:0` for monochrome).
    pub chroma_format: &'static str,
    /// Maximum frame width from the sequence header OBU, when the record carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Maximum frame height from the sequence header OBU, when the record carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// The fields of a sequence header OBU this module reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Av1SequenceHeader {
    /// seq_profile.
    pub seq_profile: u8,
    /// still_picture.
    pub still_picture: bool,
    /// seq_level_idx of operating point 0.
    pub seq_level_idx: u8,
    /// seq_tier of operating point 0.
    pub high_tier: bool,
    /// max_frame_width_minus_1 + 1.
    pub max_frame_width: u32,
    /// max_frame_height_minus_1 + 1.
    pub max_frame_height: u32,
}

/// Parses an AV1CodecConfigurationRecord, failing if its sequence header OBU does not parse.
pub fn parse_config(data: &[u8]) -> Result<Av1Config, DecodeError> {
    let (config, obu_error) = parse_config_lenient(data)?;
    match obu_error {
        Some(e) => Err(e),
        None => Ok(config),
    }
}

/// Parses an AV1CodecConfigurationRecord; a configOBUs problem is returned as the
/// second value instead of failing the record.
pub(crate) fn parse_config_lenient(
    data: &[u8],
) -> Result<(Av1Config, Option<DecodeError>), DecodeError> {
    let Some(fixed) = data.get(..4) else {
        return Err(DecodeError::truncated(
            0,
            "AV1CodecConfigurationRecord",
            4 - data.len(),
        ));
    };
    if fixed[0] != 0x81 {
        return Err(DecodeError::new(
            0,
            "AV1CodecConfigurationRecord marker 1 and version 1 (0x81)",
            hex_preview(&fixed[..1]),
        ));
    }
    let seq_profile = fixed[1] >> 5;
    let seq_level_idx = fixed[1] & 0x1f;
    let high_tier = fixed[2] & 0x80 != 0;
    let high_bitdepth = fixed[2] & 0x40 != 0;
    let twelve_bit = fixed[2] & 0x20 != 0;
    let monochrome = fixed[2] & 0x10 != 0;
    let sub_x = fixed[2] & 0x08 != 0;
    let sub_y = fixed[2] & 0x04 != 0;
    let mut config = Av1Config {
        version: fixed[0] & 0x7f,
        seq_profile,
        profile: profile_name(seq_profile),
        seq_level_idx,
        level: level_name(seq_level_idx),
        tier: if high_tier { "High" } else { "Main" },
        bit_depth: match (high_bitdepth, twelve_bit) {
            (false, _) => 8,
            (true, false) => 10,
            (true, true) => 12,
        },
        monochrome,
        chroma_format: match (monochrome, sub_x, sub_y) {
            (true, _, _) => "4:0:0",
            (false, true, true) => "4:2:0",
            (false, true, false) => "4:2:2",
            (false, false, false) => "4:4:4",
            (false, false, true) => "unknown",
        },
        width: None,
        height: None,
    };
    let mut obu_error = None;
    match find_sequence_header(data, 4) {
        Ok(Some(sh)) => {
            config.width = Some(sh.max_frame_width);
            config.height = Some(sh.max_frame_height);
        }
        Ok(None) => {}
        Err(e) => obu_error = Some(e),
    }
    Ok((config, obu_error))
}

/// Walks the OBUs in `data[start..]` and parses the first sequence header.
fn find_sequence_header(
    data: &[u8],
    start: usize,
) -> Result<Option<Av1SequenceHeader>, DecodeError> {
    let mut pos = start;
    for _ in 0..MAX_CONFIG_OBUS {
        let Some(&header) = data.get(pos) else {
            return Ok(None);
        };
        if header & 0x80 != 0 {
            return Err(DecodeError::new(
                pos,
                "OBU header with forbidden bit 0",
                hex_preview(&[header]),
            ));
        }
        let obu_type = (header >> 3) & 0x0f;
        let has_extension = header & 0x04 != 0;
        let has_size = header & 0x02 != 0;
        let mut body = pos + 1 + usize::from(has_extension);
        let rest = data.get(body..).unwrap_or(&[]);
        let size = if has_size {
            let (size, n) = leb128(rest, "obu_size").map_err(|e| e.at(body as u64))?;
            body += n;
            size as usize
        } else {
            data.len().saturating_sub(body)
        };
        let available = data.len().saturating_sub(body);
        if size > available {
            return Err(DecodeError::truncated(
                body.min(data.len()),
                "OBU payload",
                size - available,
            ));
        }
        let end = body + size;
        let payload = data.get(body..end).unwrap_or(&[]);
        if obu_type == OBU_SEQUENCE_HEADER {
            return parse_sequence_header(payload)
                .map(Some)
                .map_err(|e| e.at(body as u64));
        }
        pos = end;
    }
    Ok(None)
}

/// Parses a sequence header OBU payload up to max_frame_height_minus_1.
pub fn parse_sequence_header(payload: &[u8]) -> Result<Av1SequenceHeader, DecodeError> {
    let mut b = BitReader::new(payload);
    let seq_profile = b.bits(3, "seq_profile")? as u8;
    let still_picture = b.flag("still_picture")?;
    let reduced = b.flag("reduced_still_picture_header")?;
    let seq_level_idx;
    let mut high_tier = false;
    if reduced {
        seq_level_idx = b.bits(5, "seq_level_idx[0]")? as u8;
    } else {
        let mut decoder_model_info_present = false;
        let mut buffer_delay_length = 0u32;
        if b.flag("timing_info_present_flag")? {
            b.skip(64, "num_units_in_display_tick and time_scale")?;
            if b.flag("equal_picture_interval")? {
                b.uvlc("num_ticks_per_picture_minus_1")?;
            }
            decoder_model_info_present = b.flag("decoder_model_info_present_flag")?;
            if decoder_model_info_present {
                buffer_delay_length = b.bits(5, "buffer_delay_length_minus_1")? + 1;
                b.skip(32, "num_units_in_decoding_tick")?;
                b.skip(
                    10,
                    "buffer_removal_time and frame_presentation_time lengths",
                )?;
            }
        }
        let initial_display_delay_present = b.flag("initial_display_delay_present_flag")?;
        let count = b.bits(5, "operating_points_cnt_minus_1")? + 1;
        let mut first = None;
        for _ in 0..count {
            b.skip(12, "operating_point_idc")?;
            let idx = b.bits(5, "seq_level_idx")? as u8;
            let tier = idx > 7 && b.flag("seq_tier")?;
            first.get_or_insert((idx, tier));
            if decoder_model_info_present && b.flag("decoder_model_present_for_this_op")? {
                b.skip(
                    2 * buffer_delay_length as usize + 1,
                    "operating_parameters_info",
                )?;
            }
            if initial_display_delay_present
                && b.flag("initial_display_delay_present_for_this_op")?
            {
                b.skip(4, "initial_display_delay_minus_1")?;
            }
        }
        (seq_level_idx, high_tier) = first.unwrap_or((0, false));
    }
    let width_bits = b.bits(4, "frame_width_bits_minus_1")? + 1;
    let height_bits = b.bits(4, "frame_height_bits_minus_1")? + 1;
    let max_frame_width = u64::from(b.bits(width_bits, "max_frame_width_minus_1")?) + 1;
    let max_frame_height = u64::from(b.bits(height_bits, "max_frame_height_minus_1")?) + 1;
    Ok(Av1SequenceHeader {
        seq_profile,
        still_picture,
        seq_level_idx,
        high_tier,
        // At most 16 bits each, plus one.
        max_frame_width: max_frame_width as u32,
        max_frame_height: max_frame_height as u32,
    })
}

/// Name of an AV1 seq_profile (AV1 spec 6.4.1).
pub fn profile_name(seq_profile: u8) -> &'static str {
    match seq_profile {
        0 => "Main",
        1 => "High",
        2 => "Professional",
        _ => "reserved",
    }
}

/// Level `X.Y` from seq_level_idx (AV1 spec annex A.3): X = 2 + idx/4, Y = idx%4.
pub fn level_name(seq_level_idx: u8) -> String {
    if seq_level_idx == 31 {
        return "max".to_string();
    }
    super::dotted_level(
        2 + u32::from(seq_level_idx >> 2),
        u32::from(seq_level_idx & 3),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testutil::hex;

    #[test]
    fn libaom_640x480_record_with_sequence_header() {
        // `ffmpeg -f lavfi -i testsrc=size=640x480:rate=25 -t 0.2 -c:v libaom-av1
        //  -cpu-used 8 -pix_fmt yuv420p -f mp4 av1.mp4` (ffmpeg 5.1.9): the av1C box.
        // ffprobe: Main, level 4, 640x480, yuv420p.
        let c = parse_config(&hex("81040c000a0b00000024c4ffdf36be4010")).unwrap();
        assert_eq!(c.profile, "Main");
        assert_eq!(c.seq_level_idx, 4);
        assert_eq!(c.level, "3.0");
        assert_eq!(c.tier, "Main");
        assert_eq!(c.bit_depth, 8);
        assert_eq!(c.chroma_format, "4:2:0");
        assert_eq!((c.width, c.height), (Some(640), Some(480)));
    }

    #[test]
    fn e_rtmp_lab_512x512_record() {
        // veovera/enhanced-rtmp e-rtmp-lab/assets/mptestsrc.flv, first non-empty
        // av01 SequenceStart. ffprobe of its OBUs: Main, level 1, 512x512.
        let c = parse_config(&hex("81010c000a0b0000000c47fffefffcc020")).unwrap();
        assert_eq!(c.seq_level_idx, 1);
        assert_eq!((c.width, c.height), (Some(512), Some(512)));
    }

    #[test]
    fn e_rtmp_lab_high_profile_4_4_4_record() {
        // e-rtmp-lab/assets/testsrc.flv. ffprobe of its OBUs: High, level 4, 980x540, gbrp.
        let c = parse_config(&hex("812400000a0e20000024cfa70dbfff3404340080")).unwrap();
        assert_eq!(c.profile, "High");
        assert_eq!(c.chroma_format, "4:4:4");
        assert_eq!((c.width, c.height), (Some(980), Some(540)));
    }

    #[test]
    fn record_without_config_obus_has_no_size() {
        let c = parse_config(&hex("81040c00")).unwrap();
        assert_eq!(c.width, None);
    }

    #[test]
    fn bad_marker_is_reported_at_byte_0() {
        let e = parse_config(&hex("01040c00")).unwrap_err();
        assert_eq!((e.offset, e.found.as_str()), (0, "01"));
    }

    #[test]
    fn obu_size_past_the_record_is_a_short_read() {
        let (_, e) = parse_config_lenient(&hex("81040c000a7f0000")).unwrap();
        assert_eq!(e.unwrap().found, "end of data");
    }

    #[test]
    fn level_names_follow_annex_a() {
        assert_eq!(level_name(0), "2.0");
        assert_eq!(level_name(13), "5.1");
        assert_eq!(level_name(31), "max");
    }
}
