//! Capture file framing: recognises pcap and pcapng, reads one record or block
//! at a time from a `Read` with a bounded buffer, and hands out packets with
//! their link type, capture time, file offset and number.
//!
//! The block contents are parsed with `pcap-parser`; the framing (how many
//! bytes to read next, where a block ends, what to do with a corrupt length)
//! is done here so that every problem carries its file offset and the reader
//! never buffers more than one block.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::ops::Range;

use pcap_parser::nom;
use pcap_parser::pcap::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified};
use pcap_parser::pcapng::{
    parse_enhancedpacketblock_be, parse_enhancedpacketblock_le, parse_interfacedescriptionblock_be,
    parse_interfacedescriptionblock_le, parse_sectionheaderblock, parse_simplepacketblock_be,
    parse_simplepacketblock_le,
};
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::PcapError;

use crate::CaptureError;

/// pcap record header length (classic format).
const PCAP_RECORD_HEADER: usize = 16;
/// pcap record header length in Alexey Kuznetzov's modified format.
const PCAP_MODIFIED_RECORD_HEADER: usize = 24;
/// pcap global header length.
const PCAP_HEADER: usize = 24;
/// Largest packet accepted in a pcap record. Wireshark stops at 256 KiB; GRO
/// and BIG TCP captures can exceed 64 KiB, so allow some more.
pub(crate) const MAX_PACKET: usize = 1 << 20;
/// Largest pcapng block accepted (a packet block with a big packet and options,
/// or a large name resolution / secrets block).
const MAX_BLOCK: usize = 16 << 20;
/// Read granularity.
const READ_CHUNK: usize = 256 << 10;

/// pcapng block types (pcapng spec, section 11.1).
const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 0x0000_0001;
const OPB_TYPE: u32 = 0x0000_0002;
const SPB_TYPE: u32 = 0x0000_0003;
const EPB_TYPE: u32 = 0x0000_0006;
/// Byte-order magic of the section header block.
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

/// Link types as in the pcap/pcapng LINKTYPE_ registry.
pub(crate) const LINKTYPE_NULL: u32 = 0;
pub(crate) const LINKTYPE_ETHERNET: u32 = 1;
pub(crate) const LINKTYPE_RAW: u32 = 101;
/// DLT_RAW as some BSDs wrote it into pcap files.
pub(crate) const LINKTYPE_RAW_BSD: u32 = 12;
/// DLT_RAW as OpenBSD wrote it.
pub(crate) const LINKTYPE_RAW_OPENBSD: u32 = 14;
pub(crate) const LINKTYPE_LOOP: u32 = 108;
pub(crate) const LINKTYPE_LINUX_SLL: u32 = 113;
pub(crate) const LINKTYPE_IPV4: u32 = 228;
pub(crate) const LINKTYPE_IPV6: u32 = 229;
pub(crate) const LINKTYPE_LINUX_SLL2: u32 = 276;

/// One captured packet; its bytes are at `range` in the source's buffer.
#[derive(Debug, Clone)]
pub(crate) struct RawPacket {
    /// 1-based packet number.
    pub number: u64,
    /// File offset of the record or block.
    pub offset: u64,
    /// Link type of the interface.
    pub linktype: u32,
    /// Capture time, seconds since the epoch.
    pub time: f64,
    /// Where the captured bytes are in the buffer (see [`PacketSource::data`]).
    pub range: Range<usize>,
}

/// A problem found while framing, for a `Warning` event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileWarning {
    pub packet: u64,
    pub offset: u64,
    pub message: String,
}

#[derive(Debug, Clone, Copy)]
enum PcapFlavor {
    LittleEndian,
    BigEndian,
    Modified,
}

#[derive(Debug, Clone)]
struct Interface {
    linktype: u32,
    /// Timestamp units per second.
    units_per_sec: u64,
    /// Seconds added to every timestamp (if_tsoffset).
    offset_secs: i64,
    snaplen: u32,
}

#[derive(Debug)]
enum Format {
    Pcap {
        flavor: PcapFlavor,
        /// Fraction units per second (1e6 or 1e9).
        frac_per_sec: u32,
        linktype: u32,
    },
    Pcapng {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// Which of the two capture formats a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Classic libpcap format.
    Pcap,
    /// pcapng.
    Pcapng,
}

/// Reads packets out of a pcap or pcapng byte stream.
pub(crate) struct PacketSource<R> {
    input: R,
    /// Buffered bytes are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    /// Total bytes read from `input`.
    bytes_read: u64,
    eof: bool,
    done: bool,
    format: Format,
    packets: u64,
    /// Last packet time seen, for blocks that carry none (SPB).
    last_time: f64,
    warnings: VecDeque<FileWarning>,
    /// Interfaces whose packets were refused already (one warning each).
    warned_interfaces: Vec<u32>,
}

impl<R: Read> PacketSource<R> {
    /// Recognises the format from the first bytes.
    pub fn new(input: R) -> Result<Self, CaptureError> {
        let mut src = PacketSource {
            input,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            offset: 0,
            bytes_read: 0,
            eof: false,
            done: false,
            format: Format::Pcap {
                flavor: PcapFlavor::LittleEndian,
                frac_per_sec: 1_000_000,
                linktype: 0,
            },
            packets: 0,
            last_time: 0.0,
            warnings: VecDeque::new(),
            warned_interfaces: Vec::new(),
        };
        src.fill(32)?;
        let head = src.available();
        let magic = head.get(..4).map(|m| [m[0], m[1], m[2], m[3]]);
        match magic {
            Some([0x0A, 0x0D, 0x0D, 0x0A]) => {
                if head.len() < 12 {
                    return Err(truncated_header(
                        head.len(),
                        "the pcapng section header block",
                    ));
                }
                let bom = [head[8], head[9], head[10], head[11]];
                let big_endian = if u32::from_le_bytes(bom) == BYTE_ORDER_MAGIC {
                    false
                } else if u32::from_be_bytes(bom) == BYTE_ORDER_MAGIC {
                    true
                } else {
                    return Err(CaptureError::NotACapture(format!(
                        "{} (pcapng magic without the byte-order magic 1a2b3c4d)",
                        first_bytes(head)
                    )));
                };
                src.format = Format::Pcapng {
                    big_endian,
                    interfaces: Vec::new(),
                };
                Ok(src)
            }
            Some(m) if pcap_magic(m).is_some() => {
                if head.len() < PCAP_HEADER {
                    return Err(truncated_header(head.len(), "the 24-byte pcap file header"));
                }
                let header = match pcap_parser::pcap::parse_pcap_header(head) {
                    Ok((_, h)) => h,
                    Err(_) => {
                        return Err(CaptureError::BadHeader(
                            "unreadable pcap file header".into(),
                        ))
                    }
                };
                let (flavor, frac_per_sec) =
                    pcap_magic(m).unwrap_or((PcapFlavor::LittleEndian, 1_000_000));
                if header.version_major != 2 {
                    return Err(CaptureError::BadHeader(format!(
                        "pcap version {}.{} (only 2.x exists)",
                        header.version_major, header.version_minor
                    )));
                }
                // The upper bits carry the FCS length (pcap spec, LinkType field).
                let linktype = (header.network.0 as u32) & 0xFFFF;
                src.format = Format::Pcap {
                    flavor,
                    frac_per_sec,
                    linktype,
                };
                src.consume(PCAP_HEADER);
                Ok(src)
            }
            _ => Err(CaptureError::NotACapture(describe_non_capture(head))),
        }
    }

    /// Which format the file is in.
    pub fn format(&self) -> FileFormat {
        match self.format {
            Format::Pcap { .. } => FileFormat::Pcap,
            Format::Pcapng { .. } => FileFormat::Pcapng,
        }
    }

    /// Total bytes read from the input so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The captured bytes of a packet returned by [`PacketSource::next_packet`].
    pub fn data(&self, range: &Range<usize>) -> &[u8] {
        self.buf.get(range.clone()).unwrap_or(&[])
    }

    /// The next framing problem, if any was found.
    pub fn take_warning(&mut self) -> Option<FileWarning> {
        self.warnings.pop_front()
    }

    /// True once the end of the file (or of its readable part) is reached.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Reads one record or block: the packet it holds, or `None` for other
    /// blocks, unreadable packets and the end (see [`PacketSource::is_done`]).
    /// Problems found are queued for [`PacketSource::take_warning`].
    pub fn next_block(&mut self) -> Result<Option<RawPacket>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        match self.format {
            Format::Pcap { .. } => self.next_pcap(),
            Format::Pcapng { .. } => self.next_pcapng_block(),
        }
    }

    fn warn(&mut self, offset: u64, message: String) {
        self.warnings.push_back(FileWarning {
            packet: self.packets,
            offset,
            message,
        });
    }

    fn available(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes at least `need` bytes available unless the input ends first;
    /// returns whether they are.
    #[inline]
    fn fill(&mut self, need: usize) -> Result<bool, CaptureError> {
        if self.end - self.start >= need {
            return Ok(true);
        }
        self.refill(need)
    }

    /// [`PacketSource::fill`] when the buffer holds too little: reads more.
    #[inline(never)]
    fn refill(&mut self, need: usize) -> Result<bool, CaptureError> {
        if self.start + need > self.buf.len() {
            // Move the unread bytes to the front, growing only for a big block.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if need > self.buf.len() {
                let size = need.next_power_of_two().max(READ_CHUNK);
                self.buf.resize(size, 0);
            } else if need <= READ_CHUNK
                && self.buf.len() > 4 * READ_CHUNK
                && self.end <= READ_CHUNK
            {
                // Give back the memory of an earlier big block.
                self.buf.truncate(READ_CHUNK);
                self.buf.shrink_to_fit();
            }
        }
        while self.end - self.start < need && !self.eof {
            let space = match self.buf.get_mut(self.end..) {
                Some(s) if !s.is_empty() => s,
                _ => break,
            };
            match self.input.read(space) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    let n = n.min(space.len());
                    self.end += n;
                    self.bytes_read += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(CaptureError::Io {
                        offset: self.bytes_read,
                        source: e,
                    })
                }
            }
        }
        Ok(self.end - self.start >= need)
    }

    /// Ends reading with a warning about the unreadable rest.
    fn stop(&mut self, offset: u64, message: String) {
        self.warn(offset, message);
        self.done = true;
    }

    fn truncated(&mut self, what: &str) {
        let offset = self.offset;
        let have = self.end - self.start;
        let file_end = offset + have as u64;
        self.stop(
            offset,
            format!("capture truncated at byte {file_end}: {what} at byte {offset} is incomplete ({have} bytes of it present)"),
        );
    }

    fn next_pcap(&mut self) -> Result<Option<RawPacket>, CaptureError> {
        let (flavor, frac_per_sec, linktype) = match self.format {
            Format::Pcap {
                flavor,
                frac_per_sec,
                linktype,
            } => (flavor, frac_per_sec, linktype),
            Format::Pcapng { .. } => return Ok(None),
        };
        let header_len = match flavor {
            PcapFlavor::Modified => PCAP_MODIFIED_RECORD_HEADER,
            _ => PCAP_RECORD_HEADER,
        };
        if !self.fill(header_len)? {
            if self.end > self.start {
                self.truncated("the record header");
            } else {
                self.done = true;
            }
            return Ok(None);
        }
        let head = self.available();
        let caplen = match flavor {
            PcapFlavor::BigEndian => be32(head, 8),
            _ => le32(head, 8),
        } as usize;
        if caplen > MAX_PACKET {
            let offset = self.offset;
            self.stop(
                offset,
                format!(
                    "record {} at byte {offset} claims {caplen} captured bytes (more than {MAX_PACKET}): the file is corrupt from here on; the rest is skipped",
                    self.packets + 1
                ),
            );
            return Ok(None);
        }
        if !self.fill(header_len + caplen)? {
            self.packets += 1;
            self.truncated("the last packet record");
            return Ok(None);
        }
        let block = self.available();
        let parsed = match flavor {
            PcapFlavor::LittleEndian => parse_pcap_frame(block),
            PcapFlavor::BigEndian => parse_pcap_frame_be(block),
            PcapFlavor::Modified => parse_pcap_frame_modified(block),
        };
        let offset = self.offset;
        let (ts_sec, ts_frac, data_len) = match parsed {
            Ok((_, b)) => (b.ts_sec, b.ts_usec, b.data.len()),
            Err(_) => {
                self.stop(
                    offset,
                    format!("unreadable record at byte {offset}; the rest is skipped"),
                );
                return Ok(None);
            }
        };
        self.packets += 1;
        let data_start = self.start + header_len;
        let time = f64::from(ts_sec) + f64::from(ts_frac) / f64::from(frac_per_sec);
        self.last_time = time;
        self.consume(header_len + data_len);
        Ok(Some(RawPacket {
            number: self.packets,
            offset,
            linktype,
            time,
            range: data_start..data_start + data_len,
        }))
    }

    fn next_pcapng_block(&mut self) -> Result<Option<RawPacket>, CaptureError> {
        let big_endian = match self.format {
            Format::Pcapng { big_endian, .. } => big_endian,
            Format::Pcap { .. } => return Ok(None),
        };
        if !self.fill(12)? {
            if self.end > self.start {
                self.truncated("the block header");
            } else {
                self.done = true;
            }
            return Ok(None);
        }
        let offset = self.offset;
        let head = self.available();
        let block_type_le = le32(head, 0);
        // A section header block sets the byte order of everything up to the next one.
        let big_endian = if block_type_le == SHB_TYPE {
            if le32(head, 8) == BYTE_ORDER_MAGIC {
                false
            } else if be32(head, 8) == BYTE_ORDER_MAGIC {
                true
            } else {
                self.stop(
                    offset,
                    format!("section header block at byte {offset} has no byte-order magic; the rest is skipped"),
                );
                return Ok(None);
            }
        } else {
            big_endian
        };
        let rd = |b: &[u8], at: usize| if big_endian { be32(b, at) } else { le32(b, at) };
        let block_type = rd(head, 0);
        let len = rd(head, 4) as usize;
        if len < 12 || len % 4 != 0 || len > MAX_BLOCK {
            self.stop(
                offset,
                format!(
                    "block at byte {offset} (type 0x{block_type:08x}) has an impossible length {len}: the file is corrupt from here on; the rest is skipped"
                ),
            );
            return Ok(None);
        }
        if !self.fill(len)? {
            if matches!(block_type, EPB_TYPE | SPB_TYPE | OPB_TYPE) {
                self.packets += 1;
            }
            self.truncated("the last block");
            return Ok(None);
        }
        let block = &self.buf[self.start..self.start + len];
        let trailing = rd(block, len - 4) as usize;
        if trailing != len {
            self.stop(
                offset,
                format!(
                    "block at byte {offset} (type 0x{block_type:08x}) ends with length {trailing} instead of {len}: the file is corrupt from here on; the rest is skipped"
                ),
            );
            return Ok(None);
        }
        let result = match block_type {
            SHB_TYPE => {
                self.section_header(offset, big_endian);
                None
            }
            IDB_TYPE => {
                self.interface_description(offset, big_endian, len);
                None
            }
            EPB_TYPE | OPB_TYPE | SPB_TYPE => {
                self.packets += 1;
                self.packet_block(offset, big_endian, block_type, len)
            }
            // Name resolution, statistics, secrets, custom blocks: nothing for us.
            _ => None,
        };
        if result.is_none() {
            self.consume(len);
        }
        Ok(result)
    }

    fn section_header(&mut self, offset: u64, big_endian: bool) {
        let len = self.block_len_at_start(big_endian);
        let block = &self.buf[self.start..self.start + len];
        let major = match parse_sectionheaderblock(block) {
            Ok((_, shb)) => Some(shb.major_version),
            Err(_) => None,
        };
        match major {
            Some(1) => {}
            Some(v) => self.warn(
                offset,
                format!("section header block at byte {offset} has version {v} (expected 1); reading on"),
            ),
            None => self.warn(offset, format!("unreadable section header block at byte {offset}; reading on")),
        }
        self.format = Format::Pcapng {
            big_endian,
            interfaces: Vec::new(),
        };
        self.warned_interfaces.clear();
    }

    fn block_len_at_start(&self, big_endian: bool) -> usize {
        let head = self.available();
        if big_endian {
            be32(head, 4) as usize
        } else {
            le32(head, 4) as usize
        }
    }

    fn interface_description(&mut self, offset: u64, big_endian: bool, len: usize) {
        let block = &self.buf[self.start..self.start + len];
        let parsed = if big_endian {
            parse_interfacedescriptionblock_be(block)
        } else {
            parse_interfacedescriptionblock_le(block)
        };
        let (interface, warning) = match parsed {
            Ok((_, idb)) => {
                let units = ts_units(idb.if_tsresol);
                let warning = if units.is_none() {
                    Some(format!(
                        "interface description block at byte {offset}: unusable if_tsresol 0x{:02x}; assuming microseconds",
                        idb.if_tsresol
                    ))
                } else {
                    None
                };
                (
                    Interface {
                        linktype: (idb.linktype.0 as u32) & 0xFFFF,
                        units_per_sec: units.unwrap_or(1_000_000),
                        offset_secs: idb.if_tsoffset,
                        snaplen: idb.snaplen,
                    },
                    warning,
                )
            }
            Err(e) => {
                // Keep the interface numbering right even when its options are broken.
                let linktype = if big_endian {
                    be32(block, 8) >> 16
                } else {
                    le32(block, 8) & 0xFFFF
                };
                (
                    Interface {
                        linktype,
                        units_per_sec: 1_000_000,
                        offset_secs: 0,
                        snaplen: 0,
                    },
                    Some(format!(
                        "interface description block at byte {offset} is malformed ({}); using link type {linktype}, microseconds",
                        short_error(&e)
                    )),
                )
            }
        };
        if let Some(w) = warning {
            self.warn(offset, w);
        }
        if let Format::Pcapng { interfaces, .. } = &mut self.format {
            if interfaces.len() < 4096 {
                interfaces.push(interface);
            }
        }
    }

    /// Parses an EPB, SPB or obsolete PB at the buffer start; on success the
    /// block is consumed and the packet's range points into the buffer still
    /// (consuming never moves bytes; the next `fill` may).
    fn packet_block(
        &mut self,
        offset: u64,
        big_endian: bool,
        block_type: u32,
        len: usize,
    ) -> Option<RawPacket> {
        let start = self.start;
        let block = &self.buf[start..start + len];
        // (interface, time units, data offset within block, data length, orig len)
        let parsed: Result<(u32, u64, usize, usize, u32), String> = match block_type {
            EPB_TYPE => {
                let r = if big_endian {
                    parse_enhancedpacketblock_be(block)
                } else {
                    parse_enhancedpacketblock_le(block)
                };
                match r {
                    Ok((_, epb)) => {
                        let data = epb.packet_data();
                        let data_off = data.as_ptr() as usize - block.as_ptr() as usize;
                        let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        Ok((epb.if_id, ts, data_off, data.len(), epb.origlen))
                    }
                    Err(e) => Err(short_error(&e)),
                }
            }
            SPB_TYPE => {
                let r = if big_endian {
                    parse_simplepacketblock_be(block)
                } else {
                    parse_simplepacketblock_le(block)
                };
                match r {
                    Ok((_, spb)) => {
                        let data = spb.packet_data();
                        let data_off = data.as_ptr() as usize - block.as_ptr() as usize;
                        Ok((0, u64::MAX, data_off, data.len(), spb.origlen))
                    }
                    Err(e) => Err(short_error(&e)),
                }
            }
            _ => {
                // Obsolete Packet Block (pcapng draft, appendix A): interface id
                // u16, drops u16, timestamp high/low, captured and packet length.
                if len < 32 {
                    Err("too short".into())
                } else {
                    let rd = |at: usize| {
                        if big_endian {
                            be32(block, at)
                        } else {
                            le32(block, at)
                        }
                    };
                    let if_id = if big_endian {
                        rd(8) >> 16
                    } else {
                        rd(8) & 0xFFFF
                    };
                    let ts = (u64::from(rd(12)) << 32) | u64::from(rd(16));
                    let caplen = rd(20) as usize;
                    let orig = rd(24);
                    if 28 + caplen > len - 4 {
                        Err("captured length exceeds the block".into())
                    } else {
                        Ok((if_id, ts, 28, caplen, orig))
                    }
                }
            }
        };
        let (if_id, ts, data_off, data_len, _orig_len) = match parsed {
            Ok(v) => v,
            Err(e) => {
                self.warn(offset, format!("malformed packet block ({e}); skipped"));
                return None;
            }
        };
        let interface = match &self.format {
            Format::Pcapng { interfaces, .. } => interfaces.get(if_id as usize).cloned(),
            Format::Pcap { .. } => None,
        };
        let Some(interface) = interface else {
            if !self.warned_interfaces.contains(&if_id) && self.warned_interfaces.len() < 64 {
                self.warned_interfaces.push(if_id);
                self.warn(
                    offset,
                    format!("interface {if_id} was never described; its packets are skipped"),
                );
            }
            return None;
        };
        let mut data_len = data_len;
        if block_type == SPB_TYPE && interface.snaplen > 0 {
            data_len = data_len.min(interface.snaplen as usize);
        }
        let time = if ts == u64::MAX && block_type == SPB_TYPE {
            self.last_time
        } else {
            let units = interface.units_per_sec.max(1);
            (ts / units) as f64 + (ts % units) as f64 / units as f64 + interface.offset_secs as f64
        };
        self.last_time = time;
        self.consume(len);
        Some(RawPacket {
            number: self.packets,
            offset,
            linktype: interface.linktype,
            time,
            range: start + data_off..start + data_off + data_len,
        })
    }
}

/// Units per second for a pcapng if_tsresol value (pcapng spec, section 4.2):
/// the high bit selects a power of two, otherwise a power of ten.
fn ts_units(tsresol: u8) -> Option<u64> {
    let exp = u32::from(tsresol & 0x7F);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exp)
    } else {
        1u64.checked_shl(exp).filter(|_| exp < 64)
    }
}

fn pcap_magic(m: [u8; 4]) -> Option<(PcapFlavor, u32)> {
    match m {
        [0xD4, 0xC3, 0xB2, 0xA1] => Some((PcapFlavor::LittleEndian, 1_000_000)),
        [0xA1, 0xB2, 0xC3, 0xD4] => Some((PcapFlavor::BigEndian, 1_000_000)),
        [0x4D, 0x3C, 0xB2, 0xA1] => Some((PcapFlavor::LittleEndian, 1_000_000_000)),
        [0xA1, 0xB2, 0x3C, 0x4D] => Some((PcapFlavor::BigEndian, 1_000_000_000)),
        [0x34, 0xCD, 0xB2, 0xA1] => Some((PcapFlavor::Modified, 1_000_000)),
        _ => None,
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

fn short_error(e: &nom::Err<PcapError<&[u8]>>) -> String {
    match e {
        nom::Err::Incomplete(_) => "its contents overrun its length".to_string(),
        nom::Err::Error(e) | nom::Err::Failure(e) => match e {
            PcapError::NomError(_, kind) => format!("{kind:?}"),
            other => format!("{:?}", other.to_owned_vec()),
        },
    }
}

fn truncated_header(len: usize, what: &str) -> CaptureError {
    CaptureError::Truncated {
        offset: len as u64,
        message: format!("the file ends inside {what}"),
    }
}

/// "7b 22 61 …": the first bytes in hex.
fn first_bytes(head: &[u8]) -> String {
    let shown: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let mut s = format!("first bytes {}", shown.join(" "));
    if head.len() > 8 {
        s.push_str(" …");
    }
    s
}

/// Says what a file that is not a capture seems to be.
fn describe_non_capture(head: &[u8]) -> String {
    if head.is_empty() {
        return "the file is empty".to_string();
    }
    let guess = if head.starts_with(&[0x1F, 0x8B]) {
        Some("gzip-compressed data; decompress it first (gunzip)")
    } else if head.starts_with(b"\xFD7zXZ\0") {
        Some("xz-compressed data; decompress it first (unxz)")
    } else if head.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        Some("zstd-compressed data; decompress it first (unzstd)")
    } else if head.starts_with(b"BZh") {
        Some("bzip2-compressed data; decompress it first (bunzip2)")
    } else if head.starts_with(b"PK\x03\x04") {
        Some("a zip archive; extract the capture first")
    } else if head.get(4..8) == Some(b"ftyp") {
        Some("an MP4/MOV file")
    } else if head.starts_with(b"FLV") {
        Some("an FLV file")
    } else if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("a Matroska/WebM file")
    } else {
        let text = head.iter().all(|&b| {
            b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7F).contains(&b) || b >= 0x80
        });
        let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
        if text && matches!(first, Some(b'{') | Some(b'[')) {
            Some("JSON")
        } else if text {
            Some("text")
        } else if head.first().is_some_and(|&b| b == 3 || b == 6) {
            Some("possibly a raw RTMP byte stream (it starts like C0)")
        } else {
            None
        }
    };
    match guess {
        Some(g) => format!("{} (it looks like {g})", first_bytes(head)),
        None => first_bytes(head),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_text(bytes: &[u8]) -> String {
        match PacketSource::new(bytes) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn json_is_named() {
        let t = err_text(br#"{"kind":"session"}"#);
        assert!(
            t.starts_with("not a pcap/pcapng file: first bytes 7b 22 6b 69 6e 64 22 3a …"),
            "{t}"
        );
        assert!(t.contains("JSON"), "{t}");
    }

    #[test]
    fn mp4_flv_gzip_text_are_named() {
        assert!(err_text(b"\0\0\0\x20ftypisom\0\0\x02\0").contains("MP4"));
        assert!(err_text(b"FLV\x01\x05\0\0\0\x09").contains("FLV"));
        assert!(err_text(&[0x1F, 0x8B, 8, 0, 0, 0, 0, 0]).contains("gzip"));
        assert!(err_text(b"hello world\n").contains("text"));
        assert_eq!(err_text(b""), "not a pcap/pcapng file: the file is empty");
    }

    #[test]
    fn short_pcap_header_is_truncated() {
        let t = err_text(&[0xD4, 0xC3, 0xB2, 0xA1, 2, 0]);
        assert_eq!(
            t,
            "capture truncated at byte 6: the file ends inside the 24-byte pcap file header"
        );
    }

    #[test]
    fn tsresol_power_of_two_and_ten() {
        assert_eq!(ts_units(6), Some(1_000_000));
        assert_eq!(ts_units(9), Some(1_000_000_000));
        assert_eq!(ts_units(0x80 | 10), Some(1024));
        assert_eq!(ts_units(20), None);
        assert_eq!(ts_units(0x80 | 64), None);
    }
}
