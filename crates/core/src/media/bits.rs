//! Bit-level reading for codec headers: MSB-first bits, Exp-Golomb, AV1 uvlc/leb128,
//! and H.264/H.265 emulation-prevention removal.

use crate::error::DecodeError;

/// Longest Exp-Golomb or uvlc prefix accepted; longer ones cannot fit 32 bits.
const MAX_LEADING_ZEROS: u32 = 31;

/// Reads bits most-significant first from a byte slice, never past its end.
///
/// Errors carry the byte offset (within the slice) of the bit where the
/// failing field started.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    buf: &'a [u8],
    bit: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        BitReader { buf, bit: 0 }
    }

    /// Byte offset of the next bit.
    pub(crate) fn byte_pos(&self) -> usize {
        self.bit / 8
    }

    /// Bits left.
    pub(crate) fn remaining_bits(&self) -> usize {
        (self.buf.len() * 8).saturating_sub(self.bit)
    }

    fn short(&self, what: &str, bits: usize) -> DecodeError {
        DecodeError::truncated(
            self.byte_pos(),
            &format!("{what} (bit {})", self.bit % 8),
            bits.div_ceil(8).max(1),
        )
    }

    /// One bit as a flag.
    pub(crate) fn flag(&mut self, what: &str) -> Result<bool, DecodeError> {
        Ok(self.bits(1, what)? == 1)
    }

    /// `n` bits (at most 32) as an unsigned value.
    pub(crate) fn bits(&mut self, n: u32, what: &str) -> Result<u32, DecodeError> {
        debug_assert!(n <= 32);
        let n = n.min(32) as usize;
        if self.remaining_bits() < n {
            return Err(self.short(what, n - self.remaining_bits()));
        }
        let mut v: u64 = 0;
        for _ in 0..n {
            let byte = self.buf.get(self.bit / 8).copied().unwrap_or(0);
            let b = (byte >> (7 - (self.bit % 8))) & 1;
            v = (v << 1) | u64::from(b);
            self.bit += 1;
        }
        Ok(v as u32)
    }

    /// Skips `n` bits of `what`.
    pub(crate) fn skip(&mut self, n: usize, what: &str) -> Result<(), DecodeError> {
        if self.remaining_bits() < n {
            return Err(self.short(what, n - self.remaining_bits()));
        }
        self.bit += n;
        Ok(())
    }

    /// Counts zero bits up to the first one bit, refusing prefixes over 31 bits.
    fn leading_zeros(&mut self, what: &str) -> Result<u32, DecodeError> {
        let start = self.byte_pos();
        let mut zeros = 0u32;
        loop {
            if self.flag(what)? {
                return Ok(zeros);
            }
            zeros += 1;
            if zeros > MAX_LEADING_ZEROS {
                return Err(DecodeError::new(
                    start,
                    format!("Exp-Golomb code of {what} with at most 31 leading zero bits"),
                    "32 or more zero bits",
                ));
            }
        }
    }

    /// Unsigned Exp-Golomb `ue(v)` (H.264/H.265 7.2).
    pub(crate) fn ue(&mut self, what: &str) -> Result<u32, DecodeError> {
        let zeros = self.leading_zeros(what)?;
        let suffix = self.bits(zeros, what)?;
        // zeros <= 31, so (1 << zeros) - 1 + suffix < 2^32.
        Ok(((1u64 << zeros) - 1 + u64::from(suffix)) as u32)
    }

    /// Unsigned Exp-Golomb with an upper bound the spec sets for the field.
    pub(crate) fn ue_max(&mut self, max: u32, what: &str) -> Result<u32, DecodeError> {
        let start = self.byte_pos();
        let v = self.ue(what)?;
        if v > max {
            return Err(DecodeError::new(
                start,
                format!("{what} at most {max}"),
                v.to_string(),
            ));
        }
        Ok(v)
    }

    /// Signed Exp-Golomb `se(v)`.
    pub(crate) fn se(&mut self, what: &str) -> Result<i32, DecodeError> {
        let k = i64::from(self.ue(what)?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }

    /// AV1 `uvlc()` (AV1 spec 4.10.3); all-zero prefixes of 32 bits mean 2^32-1.
    pub(crate) fn uvlc(&mut self, what: &str) -> Result<u32, DecodeError> {
        let mut zeros = 0u32;
        while !self.flag(what)? {
            zeros += 1;
            if zeros >= 32 {
                return Ok(u32::MAX);
            }
        }
        let v = self.bits(zeros, what)?;
        Ok(((1u64 << zeros) - 1 + u64::from(v)).min(u64::from(u32::MAX)) as u32)
    }
}

/// Reads an AV1 `leb128()` (at most 8 bytes, value must fit 32 bits) from `buf`,
/// returning the value and how many bytes it took.
pub(crate) fn leb128(buf: &[u8], what: &str) -> Result<(u32, usize), DecodeError> {
    let mut value: u64 = 0;
    for i in 0..8 {
        let Some(&b) = buf.get(i) else {
            return Err(DecodeError::truncated(i, what, 1));
        };
        value |= u64::from(b & 0x7f) << (i * 7);
        if b & 0x80 == 0 {
            return u32::try_from(value)
                .map(|v| (v, i + 1))
                .map_err(|_| DecodeError::new(0, format!("{what} below 2^32"), value.to_string()));
        }
    }
    Err(DecodeError::new(
        0,
        format!("{what} of at most 8 leb128 bytes"),
        "more",
    ))
}

/// A NAL unit payload with emulation-prevention bytes removed, plus where they were.
#[derive(Debug, Clone)]
pub(crate) struct Rbsp {
    /// The unescaped bytes.
    pub(crate) bytes: Vec<u8>,
    /// Offsets (in the escaped input) of each removed 0x03 byte, ascending.
    removed: Vec<usize>,
}

impl Rbsp {
    /// Removes every `00 00 03` emulation-prevention byte (H.264 7.4.1, H.265 7.4.2).
    ///
    /// Output never exceeds the input, so the allocation is bounded by bytes
    /// the caller already holds.
    pub(crate) fn unescape(nal: &[u8]) -> Rbsp {
        let mut bytes = Vec::with_capacity(nal.len());
        let mut removed = Vec::new();
        let mut zeros = 0usize;
        for (i, &b) in nal.iter().enumerate() {
            if zeros >= 2 && b == 0x03 {
                removed.push(i);
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            bytes.push(b);
        }
        Rbsp { bytes, removed }
    }

    /// Maps an offset in the unescaped bytes back to the escaped input.
    pub(crate) fn raw_offset(&self, rbsp_offset: usize) -> usize {
        let mut raw = rbsp_offset;
        for &r in &self.removed {
            if r <= raw {
                raw += 1;
            } else {
                break;
            }
        }
        raw
    }

    /// Moves an error's offset from RBSP to escaped-input coordinates plus `base`.
    pub(crate) fn relocate(&self, mut e: DecodeError, base: usize) -> DecodeError {
        let off = usize::try_from(e.offset).unwrap_or(usize::MAX);
        e.offset = self.raw_offset(off).saturating_add(base) as u64;
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ue_decodes_spec_table_9_2_codes() {
        // 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3, 00111 -> 6 (H.264 table 9-2).
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0011, 0b1000_0000]);
        let got: Vec<u32> = (0..5).map(|_| r.ue("x").unwrap()).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 6]);
    }

    #[test]
    fn se_maps_code_numbers_to_alternating_signs() {
        // codeNum 1 -> +1, 2 -> -1, 3 -> +2 (H.264 table 9-3).
        let mut r = BitReader::new(&[0b0100_1100, 0b1000_0000]);
        assert_eq!(r.se("a").unwrap(), 1);
        assert_eq!(r.se("b").unwrap(), -1);
        assert_eq!(r.se("c").unwrap(), 2);
    }

    #[test]
    fn ue_with_32_leading_zeros_is_an_error_not_a_loop() {
        let e = BitReader::new(&[0, 0, 0, 0, 0, 0, 0, 0xff])
            .ue("width")
            .unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(e.expected.contains("at most 31 leading zero bits"));
    }

    #[test]
    fn ue_with_31_leading_zeros_reaches_u32_max_minus_one() {
        // 31 zeros, a one, then 31 ones: 2^31 - 1 + 2^31 - 1.
        let mut r = BitReader::new(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.ue("x").unwrap(), u32::MAX - 1);
    }

    #[test]
    fn reading_past_the_end_names_the_field() {
        let mut r = BitReader::new(&[0xff]);
        r.bits(6, "a").unwrap();
        let e = r.bits(4, "frame width").unwrap_err();
        assert!(e.expected.contains("frame width"));
        assert_eq!(e.found, "end of data");
    }

    #[test]
    fn unescape_drops_emulation_prevention_and_maps_offsets_back() {
        let rbsp = Rbsp::unescape(&[0x67, 0, 0, 3, 1, 0, 0, 3, 0, 5]);
        assert_eq!(rbsp.bytes, vec![0x67, 0, 0, 1, 0, 0, 0, 5]);
        assert_eq!(rbsp.raw_offset(3), 4);
        assert_eq!(rbsp.raw_offset(7), 9);
    }

    #[test]
    fn leb128_reads_multi_byte_values_and_rejects_overlong_ones() {
        assert_eq!(leb128(&[0x0b], "size").unwrap(), (11, 1));
        assert_eq!(leb128(&[0x80, 0x01], "size").unwrap(), (128, 2));
        assert!(leb128(&[0x80; 9], "size").is_err());
        assert!(leb128(&[0x80], "size").is_err());
    }

    #[test]
    fn uvlc_all_zero_prefix_saturates() {
        let mut r = BitReader::new(&[0, 0, 0, 0, 0]);
        assert_eq!(r.uvlc("ticks").unwrap(), u32::MAX);
    }
}
