//! AAC AudioSpecificConfig (ISO 14496-3 1.6.2.1): object type, sampling
//! frequency, channel configuration and SBR/PS signalling.

use crate::error::DecodeError;
use crate::media::bits::BitReader;

/// Sampling frequencies by samplingFrequencyIndex (ISO 14496-3 table 1.18).
const SAMPLING_FREQUENCIES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];
/// Audio object types with SBR and parametric stereo.
const AOT_SBR: u8 = 5;
const AOT_PS: u8 = 29;
const AOT_ER_BSAC: u8 = 22;
/// syncExtensionType values of backward-compatible explicit signalling.
const SYNC_EXTENSION_SBR: u32 = 0x2b7;
const SYNC_EXTENSION_PS: u32 = 0x548;

/// A decoded AudioSpecificConfig.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AudioSpecificConfig {
    /// audioObjectType of the core codec (after explicit SBR/PS signalling).
    pub object_type: u8,
    /// Name of the object type (`AAC LC`, `ER AAC ELD`, …).
    pub object_type_name: &'static str,
    /// Profile as players name it: `LC`, `HE-AAC`, `HE-AACv2`, `Main`, `LD`, …
    pub profile: &'static str,
    /// samplingFrequencyIndex (15 = explicit frequency).
    pub sampling_index: u8,
    /// Core sampling frequency in Hz; `None` for reserved indexes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// channelConfiguration (0 = defined by a program_config_element).
    pub channel_config: u8,
    /// Channel count for channelConfiguration 1–7 and 11–14.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u8>,
    /// Samples per frame from frameLengthFlag, for GA-specific object types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_length: Option<u16>,
    /// SBR presence when signalled explicitly (hierarchically or by sync extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbr: Option<bool>,
    /// Parametric stereo presence when signalled explicitly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ps: Option<bool>,
    /// SBR output sampling frequency in Hz, when signalled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext_sample_rate: Option<u32>,
}

impl AudioSpecificConfig {
    /// The output sample rate: the SBR rate when SBR is signalled, else the core rate.
    pub fn output_sample_rate(&self) -> Option<u32> {
        match self.sbr {
            Some(true) => self.ext_sample_rate.or(self.sample_rate),
            _ => self.sample_rate,
        }
    }
}

/// Parses an AudioSpecificConfig.
///
/// Stops quietly after the parts it understands: a program_config_element
/// (channelConfiguration 0) or an object type without GASpecificConfig ends
/// the parse before the backward-compatible SBR/PS extension.
pub fn parse(data: &[u8]) -> Result<AudioSpecificConfig, DecodeError> {
    let mut b = BitReader::new(data);
    let mut object_type = read_object_type(&mut b)?;
    let (sampling_index, sample_rate) = read_frequency(&mut b)?;
    let channel_config = b.bits(4, "channelConfiguration")? as u8;
    let mut sbr = None;
    let mut ps = None;
    let mut ext_sample_rate = None;
    let mut explicit_sbr = false;
    if object_type == AOT_SBR || object_type == AOT_PS {
        // Explicit hierarchical signalling: the real core object type follows.
        explicit_sbr = true;
        sbr = Some(true);
        ps = Some(object_type == AOT_PS);
        ext_sample_rate = read_frequency(&mut b)?.1;
        object_type = read_object_type(&mut b)?;
        if object_type == AOT_ER_BSAC {
            b.skip(4, "extensionChannelConfiguration")?;
        }
    }

    let mut config = AudioSpecificConfig {
        object_type,
        object_type_name: object_type_name(object_type),
        profile: "",
        sampling_index,
        sample_rate,
        channel_config,
        channels: channel_count(channel_config),
        frame_length: None,
        sbr,
        ps,
        ext_sample_rate,
    };
    if matches!(object_type, 1..=4 | 6 | 7 | 17 | 19..=23) && channel_config != 0 {
        config.frame_length = Some(read_ga_specific_config(&mut b, object_type)?);
        let mut ep_config = 0;
        if matches!(object_type, 17 | 19..=27 | 39) {
            ep_config = b.bits(2, "epConfig")?;
        }
        // epConfig 2 and 3 add an ErrorProtectionSpecificConfig this parser skips.
        if ep_config < 2 && !explicit_sbr && b.remaining_bits() >= 16 {
            read_sync_extension(&mut b, &mut config)?;
        }
    }
    config.profile = profile_name(config.object_type, config.sbr, config.ps);
    Ok(config)
}

/// GetAudioObjectType(): 5 bits, 31 escapes to 32 + 6 more bits.
fn read_object_type(b: &mut BitReader<'_>) -> Result<u8, DecodeError> {
    let t = b.bits(5, "audioObjectType")? as u8;
    if t == 31 {
        Ok(32 + b.bits(6, "audioObjectTypeExt")? as u8)
    } else {
        Ok(t)
    }
}

/// samplingFrequencyIndex and, for index 15, the explicit 24-bit frequency.
fn read_frequency(b: &mut BitReader<'_>) -> Result<(u8, Option<u32>), DecodeError> {
    let index = b.bits(4, "samplingFrequencyIndex")? as u8;
    if index == 15 {
        return Ok((index, Some(b.bits(24, "samplingFrequency")?)));
    }
    Ok((index, SAMPLING_FREQUENCIES.get(usize::from(index)).copied()))
}

/// GASpecificConfig (ISO 14496-3 4.4.1); returns the frame length.
fn read_ga_specific_config(b: &mut BitReader<'_>, object_type: u8) -> Result<u16, DecodeError> {
    let short_frames = b.flag("frameLengthFlag")?;
    if b.flag("dependsOnCoreCoder")? {
        b.skip(14, "coreCoderDelay")?;
    }
    let extension = b.flag("extensionFlag")?;
    if object_type == 6 || object_type == 20 {
        b.skip(3, "layerNr")?;
    }
    if extension {
        if object_type == AOT_ER_BSAC {
            b.skip(16, "numOfSubFrame and layer_length")?;
        }
        if matches!(object_type, 17 | 19 | 20 | 23) {
            b.skip(3, "aacSection/Scalefactor/SpectralDataResilienceFlag")?;
        }
        b.skip(1, "extensionFlag3")?;
    }
    Ok(match (object_type, short_frames) {
        (23, false) => 512,
        (23, true) => 480,
        (_, false) => 1024,
        (_, true) => 960,
    })
}

/// Backward-compatible explicit SBR/PS signalling after the core config.
fn read_sync_extension(
    b: &mut BitReader<'_>,
    config: &mut AudioSpecificConfig,
) -> Result<(), DecodeError> {
    if b.bits(11, "syncExtensionType")? != SYNC_EXTENSION_SBR {
        return Ok(());
    }
    let ext_type = read_object_type(b)?;
    if ext_type == AOT_SBR {
        let present = b.flag("sbrPresentFlag")?;
        config.sbr = Some(present);
        if present {
            config.ext_sample_rate = read_frequency(b)?.1;
            if b.remaining_bits() >= 12
                && b.bits(11, "syncExtensionType (PS)")? == SYNC_EXTENSION_PS
            {
                config.ps = Some(b.flag("psPresentFlag")?);
            }
        }
    } else if ext_type == AOT_ER_BSAC {
        let present = b.flag("sbrPresentFlag")?;
        config.sbr = Some(present);
        if present {
            config.ext_sample_rate = read_frequency(b)?.1;
        }
        b.skip(4, "extensionChannelConfiguration")?;
    }
    Ok(())
}

/// Channels for a channelConfiguration (ISO 14496-3 table 1.19, 23003-3 additions).
fn channel_count(channel_config: u8) -> Option<u8> {
    match channel_config {
        1..=6 => Some(channel_config),
        7 | 12 | 14 => Some(8),
        11 => Some(7),
        13 => Some(24),
        _ => None,
    }
}

/// The profile players show: SBR and PS turn LC into HE-AAC and HE-AACv2.
fn profile_name(object_type: u8, sbr: Option<bool>, ps: Option<bool>) -> &'static str {
    match (sbr, ps) {
        (Some(true), Some(true)) => return "HE-AACv2",
        (Some(true), _) => return "HE-AAC",
        _ => {}
    }
    match object_type {
        1 => "Main",
        2 => "LC",
        3 => "SSR",
        4 => "LTP",
        23 => "LD",
        39 => "ELD",
        42 => "xHE-AAC",
        other => object_type_name(other),
    }
}

/// Name of an audioObjectType (ISO 14496-3 table 1.17).
pub fn object_type_name(object_type: u8) -> &'static str {
    match object_type {
        0 => "null",
        1 => "AAC Main",
        2 => "AAC LC",
        3 => "AAC SSR",
        4 => "AAC LTP",
        5 => "SBR",
        6 => "AAC Scalable",
        7 => "TwinVQ",
        8 => "CELP",
        9 => "HVXC",
        12 => "TTSI",
        13 => "Main synthetic",
        14 => "Wavetable synthesis",
        15 => "General MIDI",
        16 => "Algorithmic synthesis",
        17 => "ER AAC LC",
        19 => "ER AAC LTP",
        20 => "ER AAC Scalable",
        21 => "ER TwinVQ",
        22 => "ER BSAC",
        23 => "ER AAC LD",
        24 => "ER CELP",
        25 => "ER HVXC",
        26 => "ER HILN",
        27 => "ER Parametric",
        28 => "SSC",
        29 => "PS",
        30 => "MPEG Surround",
        32 => "Layer-1",
        33 => "Layer-2",
        34 => "Layer-3",
        35 => "DST",
        36 => "ALS",
        37 => "SLS",
        38 => "SLS non-core",
        39 => "ER AAC ELD",
        40 => "SMR Simple",
        41 => "SMR Main",
        42 => "USAC",
        43 => "SAOC",
        44 => "LD MPEG Surround",
        45 => "SAOC-DE",
        _ => "reserved",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testutil::hex;

    #[test]
    fn lc_44100_stereo() {
        let c = parse(&hex("1210")).unwrap();
        assert_eq!(c.object_type, 2);
        assert_eq!(c.profile, "LC");
        assert_eq!(c.sample_rate, Some(44100));
        assert_eq!((c.channel_config, c.channels), (2, Some(2)));
        assert_eq!(c.frame_length, Some(1024));
        assert_eq!(c.sbr, None);
    }

    #[test]
    fn ffmpeg_aac_encoder_signals_sbr_absent_by_sync_extension() {
        // `ffmpeg ... -f lavfi -i sine=...:sample_rate=44100 -c:a aac -ac 2 -f flv`
        // (ffmpeg 5.1.9 native encoder): first audio tag `af 00 12 10 56 e5 00`.
        // ffprobe: LC, 44100 Hz, 2 channels.
        let c = parse(&hex("121056e500")).unwrap();
        assert_eq!(c.profile, "LC");
        assert_eq!(c.sample_rate, Some(44100));
        assert_eq!(c.sbr, Some(false));
    }

    #[test]
    fn hierarchical_he_aac_reads_the_core_type_and_sbr_rate() {
        // AOT 5, 22050 Hz, stereo, SBR at 44100 Hz, core AOT 2 (ISO 14496-3 1.6.2.1).
        // ffprobe of an .m4a with this esds: sample_rate 44100, 2 channels.
        let c = parse(&hex("2b920800")).unwrap();
        assert_eq!(c.object_type, 2);
        assert_eq!(c.profile, "HE-AAC");
        assert_eq!(c.sample_rate, Some(22050));
        assert_eq!(c.output_sample_rate(), Some(44100));
        assert_eq!(c.ps, Some(false));
    }

    #[test]
    fn hierarchical_he_aac_v2_signals_ps() {
        // AOT 29, 24000 Hz, mono core, SBR at 48000 Hz, core AOT 2.
        // ffprobe of an .m4a with this esds: sample_rate 48000, 2 channels.
        let c = parse(&hex("eb098800")).unwrap();
        assert_eq!(c.profile, "HE-AACv2");
        assert_eq!(c.channels, Some(1));
        assert_eq!(c.output_sample_rate(), Some(48000));
    }

    #[test]
    fn explicit_sampling_frequency_after_index_15() {
        // AOT 2, index 15, 24-bit 44100, stereo.
        let c = parse(&hex("1780562210")).unwrap();
        assert_eq!(c.sampling_index, 15);
        assert_eq!(c.sample_rate, Some(44100));
        assert_eq!(c.channels, Some(2));
    }

    #[test]
    fn escaped_object_type_42_is_usac() {
        // AOT 31 + 6-bit 10, 44100, stereo.
        let c = parse(&hex("f94840")).unwrap();
        assert_eq!(c.object_type, 42);
        assert_eq!(c.profile, "xHE-AAC");
        assert_eq!(c.frame_length, None);
    }

    #[test]
    fn one_byte_is_a_short_read_naming_the_field() {
        let e = parse(&hex("12")).unwrap_err();
        assert!(e.expected.contains("samplingFrequencyIndex"));
        assert_eq!(e.found, "end of data");
    }

    #[test]
    fn reserved_index_has_no_rate() {
        let c = parse(&hex("1690")).unwrap();
        assert_eq!(c.sampling_index, 13);
        assert_eq!(c.sample_rate, None);
    }
}
