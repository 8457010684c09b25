//! Length-prefixed NAL units (ISO 14496-15 sample format) in AVC and HEVC frames.

/// At most this many NAL units are listed per frame.
const MAX_NALUS: usize = 32;

/// Which NAL unit header syntax applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalSyntax {
    /// H.264: one header byte, type in the low 5 bits.
    Avc,
    /// H.265: two header bytes, type in bits 1–6 of the first.
    Hevc,
}

/// The NAL units of a frame: kept inline for the common few, so that
/// decoding a frame does not allocate (a unit is 8 bytes).
pub type NalList = smallvec::SmallVec<[NalUnit; 3]>;

/// One NAL unit seen in a coded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalUnit {
    /// `nal_unit_type`.
    pub nal_type: u8,
    /// The header syntax the type was read with.
    pub syntax: NalSyntax,
    /// Its length prefix: the NAL unit's size in bytes.
    pub size: u32,
}

impl NalUnit {
    /// Short name of the type (`IDR`, `SEI`, `CRA`, …).
    pub fn name(&self) -> &'static str {
        name(self.syntax, self.nal_type)
    }
}

impl serde::Serialize for NalUnit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("NalUnit", 3)?;
        st.serialize_field("type", &self.nal_type)?;
        st.serialize_field("name", self.name())?;
        st.serialize_field("size", &self.size)?;
        st.end()
    }
}

/// Lists the NAL units whose header byte lies within `data`, assuming 4-byte
/// length prefixes (what every RTMP encoder sends; the configuration record's
/// lengthSizeMinusOne is not known to a stateless parse).
///
/// `full_len` is the real length of the frame data `data` is a prefix of.
/// Stops at the first length that overruns the frame or a header whose
/// forbidden_zero_bit is set, since either means the 4-byte guess is wrong.
pub fn scan(data: &[u8], full_len: usize, syntax: NalSyntax) -> NalList {
    // The first units go to an array, and the list is made from it once:
    // nearly every frame has one to three, and a push onto the list costs
    // more than the parse.
    let mut first = [NalUnit {
        nal_type: 0,
        syntax,
        size: 0,
    }; 3];
    let mut pos = 0usize;
    let mut n = 0;
    while n < first.len() {
        let Some(unit) = unit_at(data, pos, full_len, syntax) else {
            return NalList::from_buf_and_len(first, n);
        };
        first[n] = unit;
        n += 1;
        pos += 4 + unit.size as usize;
    }
    let mut out = NalList::from_buf(first);
    while out.len() < MAX_NALUS {
        let Some(unit) = unit_at(data, pos, full_len, syntax) else {
            break;
        };
        out.push(unit);
        pos += 4 + unit.size as usize;
    }
    out
}

/// The NAL unit whose length prefix starts at `pos`, if its header byte is
/// within `data`, its length is not 0 and does not overrun the frame, and its
/// forbidden_zero_bit is clear.
#[inline(always)]
fn unit_at(data: &[u8], pos: usize, full_len: usize, syntax: NalSyntax) -> Option<NalUnit> {
    let &[a, b, c, d, h] = data.get(pos..pos.checked_add(5)?)? else {
        return None;
    };
    let size = u32::from_be_bytes([a, b, c, d]);
    let end = (pos + 4).checked_add(size as usize)?;
    if size == 0 || end > full_len || h & 0x80 != 0 {
        return None;
    }
    let nal_type = match syntax {
        NalSyntax::Avc => h & 0x1f,
        NalSyntax::Hevc => (h >> 1) & 0x3f,
    };
    Some(NalUnit {
        nal_type,
        syntax,
        size,
    })
}

/// Short name of a NAL unit type (H.264 table 7-1, H.265 table 7-1).
pub fn name(syntax: NalSyntax, nal_type: u8) -> &'static str {
    match syntax {
        NalSyntax::Avc => match nal_type {
            1 => "non-IDR",
            2 => "slice A",
            3 => "slice B",
            4 => "slice C",
            5 => "IDR",
            6 => "SEI",
            7 => "SPS",
            8 => "PPS",
            9 => "AUD",
            10 => "end of sequence",
            11 => "end of stream",
            12 => "filler",
            13 => "SPS extension",
            14 => "prefix",
            15 => "subset SPS",
            19 => "auxiliary slice",
            20 => "slice extension",
            _ => "other",
        },
        NalSyntax::Hevc => match nal_type {
            0 | 1 => "TRAIL",
            2 | 3 => "TSA",
            4 | 5 => "STSA",
            6 | 7 => "RADL",
            8 | 9 => "RASL",
            16..=18 => "BLA",
            19 | 20 => "IDR",
            21 => "CRA",
            32 => "VPS",
            33 => "SPS",
            34 => "PPS",
            35 => "AUD",
            36 => "end of sequence",
            37 => "end of bitstream",
            38 => "filler",
            39 => "prefix SEI",
            40 => "suffix SEI",
            _ => "other",
        },
    }
}

/// Whether `nal_type` is a random access point: IDR for H.264, IRAP for H.265.
pub fn is_random_access(syntax: NalSyntax, nal_type: u8) -> bool {
    match syntax {
        NalSyntax::Avc => nal_type == 5,
        NalSyntax::Hevc => (16..=23).contains(&nal_type),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testutil::hex;

    /// A frame of `n` units of sizes 1, 2, 3, … with types cycling 1..=9.
    fn frame(n: usize) -> Vec<u8> {
        let mut d = Vec::new();
        for i in 0..n {
            d.extend((i as u32 + 1).to_be_bytes());
            d.push(1 + (i % 9) as u8);
            d.extend(std::iter::repeat_n(0xaa, i));
        }
        d
    }

    #[test]
    fn scan_lists_every_unit_up_to_the_cap_in_order() {
        for n in [0, 1, 2, 3, 4, 5, 31, 32, 33, 40] {
            let d = frame(n);
            let got = scan(&d, d.len(), NalSyntax::Avc);
            assert_eq!(got.len(), n.min(MAX_NALUS), "{n} units");
            for (i, u) in got.iter().enumerate() {
                assert_eq!((u.size, u.nal_type), (i as u32 + 1, 1 + (i % 9) as u8));
            }
        }
    }

    #[test]
    fn scan_lists_sei_then_idr_when_both_headers_fit() {
        let mut d = hex("00000003 06 aa bb 00000002 65 88");
        d.extend([0u8; 4]);
        let got = scan(&d, d.len(), NalSyntax::Avc);
        let names: Vec<_> = got.iter().map(|n| n.name()).collect();
        assert_eq!(names, vec!["SEI", "IDR"]);
    }

    #[test]
    fn scan_sees_the_header_of_a_nal_unit_cut_by_the_prefix() {
        // x264's first frame starts with a 686-byte SEI (libx264 320x240, ffmpeg 5.1).
        let d = hex("000002ae 0605ffff");
        let got = scan(&d, 4000, NalSyntax::Avc);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].size, 686);
    }

    #[test]
    fn scan_stops_at_a_length_that_overruns_the_frame() {
        let d = hex("00001000 65 00");
        assert!(scan(&d, d.len(), NalSyntax::Avc).is_empty());
    }

    #[test]
    fn scan_reads_hevc_types_from_bits_1_to_6() {
        let d = hex("00000003 2601af");
        let got = scan(&d, d.len(), NalSyntax::Hevc);
        assert_eq!(got[0].nal_type, 19);
        assert_eq!(got[0].name(), "IDR");
    }
}
