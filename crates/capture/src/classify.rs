//! Deciding what a TCP connection carries from its first bytes, on any port.
//!
//! RTMP starts with C0 (version 3, or 6 for RTMPE) and the 1536-byte C1
//! (RTMP spec, section 5.2); RTMPT is HTTP to `/open/`, `/send/`, `/idle/`,
//! `/close/`; a capture that starts inside an RTMP connection begins inside
//! the chunk stream, which [`find_chunk_start`] looks for.

use crate::StreamKind;

/// Bytes of each direction looked at before deciding.
pub const HEAD_LIMIT: usize = 8 << 10;
/// C0 plus C1 (RTMP spec, section 5.2).
const C0C1_LEN: usize = 1537;
/// The RTMP port, used only to break ties.
pub const RTMP_PORT: u16 = 1935;

/// RTMP message type ids a chunk stream carries (RTMP spec, sections 5.4 and 7.1).
const KNOWN_TYPES: [u8; 14] = [1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20];
/// Aggregate messages (type 22).
const MSG_AGGREGATE: u8 = 22;
/// No message on a chunk stream exceeds this in practice (video keyframes stay far below).
const MAX_PLAUSIBLE_LENGTH: u32 = 4 << 20;
/// The smallest chunk size (RTMP spec, section 5.4.1): a message this short fits in one chunk.
const MIN_CHUNK_SIZE: u32 = 128;

/// What is known about the connection besides its bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// Whether the connection's start (SYN) was captured.
    pub start_seen: bool,
    /// Whether either port is 1935.
    pub rtmp_port: bool,
    /// No more bytes will come before deciding (capture ended, buffers full, connection closed).
    pub last_chance: bool,
}

/// Decides a connection's kind from the first bytes of each direction; `None`: wait for more.
pub fn classify(c2s: &[u8], s2c: &[u8], ctx: Context) -> Option<StreamKind> {
    if ctx.start_seen {
        classify_from_start(c2s, s2c, ctx)
    } else {
        classify_mid_stream(c2s, s2c, ctx)
    }
}

fn other(name: &str) -> Option<StreamKind> {
    Some(StreamKind::Other(name.to_string()))
}

fn is_c0(b: u8) -> bool {
    // 3: plain RTMP; 6: RTMPE; 8 and 9: RTMPE variants of Flash Player 9+.
    matches!(b, 3 | 6 | 8 | 9)
}

fn classify_from_start(c2s: &[u8], s2c: &[u8], ctx: Context) -> Option<StreamKind> {
    if let Some(&first) = c2s.first() {
        if let Some(kind) = known_protocol(c2s, ctx.last_chance || c2s.len() >= HEAD_LIMIT) {
            return kind;
        }
        if is_c0(first) {
            if c2s.len() >= C0C1_LEN {
                return Some(StreamKind::Rtmp);
            }
            let Some(&s0) = s2c.first() else {
                // A capture that ends inside C0+C1 is still RTMP.
                return if ctx.last_chance {
                    Some(StreamKind::Rtmp)
                } else {
                    None
                };
            };
            // The server answered before C1 was complete: RTMP servers answer
            // C0+C1 with S0+S1; the TPKT of RDP and ISO-TSAP (RFC 1006) also starts with 3.
            if is_tpkt(c2s) {
                return other("TPKT");
            }
            if !is_c0(s0) {
                return other("unknown");
            }
            if s2c.len() >= C0C1_LEN || ctx.last_chance {
                return Some(StreamKind::Rtmp);
            }
            return None;
        }
        if ctx.last_chance || c2s.len() >= 16 || !could_be_text_prefix(c2s) {
            return other(banner_name(c2s).unwrap_or("unknown"));
        }
        return None;
    }
    if let Some(&first) = s2c.first() {
        // The server spoke first, or the client's bytes come later in a
        // reordered capture, or were not captured: wait for them while possible.
        if !ctx.last_chance {
            return None;
        }
        if is_c0(first) {
            return Some(StreamKind::Rtmp);
        }
        if let Some(kind) = known_protocol(s2c, true) {
            return kind;
        }
        return other(banner_name(s2c).unwrap_or("unknown"));
    }
    if ctx.last_chance {
        return other("no data");
    }
    None
}

fn classify_mid_stream(c2s: &[u8], s2c: &[u8], ctx: Context) -> Option<StreamKind> {
    let full = ctx.last_chance || c2s.len() >= HEAD_LIMIT || s2c.len() >= HEAD_LIMIT;
    for head in [c2s, s2c] {
        if head.is_empty() {
            continue;
        }
        if let Some(kind) = known_protocol(head, full) {
            if kind.is_some() {
                return kind;
            }
        }
        if is_tls_record(head) {
            return other("TLS");
        }
    }
    if find_chunk_start(c2s).is_some() || find_chunk_start(s2c).is_some() {
        return Some(StreamKind::RtmpMidStream);
    }
    if !full {
        return None;
    }
    if c2s.is_empty() && s2c.is_empty() {
        return other("no data");
    }
    if ctx.rtmp_port {
        // Unrecognisable bytes on the RTMP port: most likely RTMP captured inside a large message.
        return Some(StreamKind::RtmpMidStream);
    }
    let named = [c2s, s2c].into_iter().find_map(banner_name);
    other(named.unwrap_or("unknown"))
}

/// TLS, HTTP/RTMPT: `Some(Some(kind))` when recognised, `Some(None)` when it
/// may be but more bytes are needed, `None` when it is none of them.
fn known_protocol(head: &[u8], no_more: bool) -> Option<Option<StreamKind>> {
    if head.first() == Some(&0x16) {
        // TLS handshake record: content type 22, version 3.x (RFC 8446, section 5.1).
        return match head.get(1) {
            Some(3) => Some(other("TLS")),
            Some(_) => None,
            None if no_more => None,
            None => Some(None),
        };
    }
    if let Some(kind) = http_kind(head, no_more) {
        return Some(kind);
    }
    None
}

const HTTP_METHODS: [&[u8]; 9] = [
    b"POST ",
    b"GET ",
    b"HEAD ",
    b"PUT ",
    b"OPTIONS ",
    b"DELETE ",
    b"CONNECT ",
    b"PATCH ",
    b"TRACE ",
];
/// RTMPT request paths (the tunnel's open/send/idle/close commands and the ident probe).
const RTMPT_PATHS: [&[u8]; 5] = [b"/open/", b"/send/", b"/idle/", b"/close/", b"/fcs/ident"];

fn http_kind(head: &[u8], no_more: bool) -> Option<Option<StreamKind>> {
    let method = HTTP_METHODS.iter().find(|m| {
        let n = m.len().min(head.len());
        head[..n] == m[..n]
    })?;
    if head.len() < method.len() {
        return if no_more { None } else { Some(None) };
    }
    let target = &head[method.len()..];
    if RTMPT_PATHS.iter().any(|p| target.starts_with(p)) {
        return Some(Some(StreamKind::Rtmpt));
    }
    let line_end = target.iter().position(|&b| b == b'\r' || b == b'\n');
    let path_end = target
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n');
    match path_end {
        Some(end) => {
            let path = &target[..end];
            if RTMPT_PATHS.iter().any(|p| path.starts_with(p)) {
                Some(Some(StreamKind::Rtmpt))
            } else {
                Some(Some(StreamKind::Other("HTTP".into())))
            }
        }
        None if no_more || line_end.is_some() || target.len() > 2048 => {
            Some(Some(StreamKind::Other("HTTP".into())))
        }
        None => Some(None),
    }
}

/// A whole TPKT (RFC 1006: version 3, reserved 0, 16-bit length of at least 7) at the start.
fn is_tpkt(head: &[u8]) -> bool {
    match head {
        [3, 0, hi, lo, ..] => {
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            len >= 7 && len <= head.len()
        }
        _ => false,
    }
}

fn is_tls_record(head: &[u8]) -> bool {
    // Any record type (change_cipher_spec 20 .. application_data 23) with version 3.0-3.4.
    matches!(head, [20..=23, 3, 0..=4, ..])
}

/// Could these few bytes still become a text protocol line?
fn could_be_text_prefix(head: &[u8]) -> bool {
    head.iter()
        .all(|&b| (0x20..0x7F).contains(&b) || b == b'\r' || b == b'\n')
}

fn banner_name(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"SSH-") {
        Some("SSH")
    } else if head.starts_with(b"HTTP/1.") || head.starts_with(b"PRI * HTTP/2") {
        Some("HTTP")
    } else if head.starts_with(b"RTSP/1.0") || head.windows(8).take(64).any(|w| w == b"RTSP/1.0") {
        Some("RTSP")
    } else {
        None
    }
}

/// A chunk header the sender could plausibly have written: what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PlausibleHeader {
    header_len: usize,
    length: u32,
}

/// Checks for a fmt 0 or fmt 1 chunk header with a one-byte basic header
/// (csid 2-63), a known message type and a sane length (RTMP spec, section 5.3.1).
fn plausible_header(b: &[u8]) -> Option<PlausibleHeader> {
    let first = *b.first()?;
    let fmt = first >> 6;
    let csid = first & 0x3F;
    if !(2..=63).contains(&csid) || fmt > 1 {
        return None;
    }
    let header_len = if fmt == 0 { 12 } else { 8 };
    let h = b.get(..header_len)?;
    let timestamp = u32::from_be_bytes([0, h[1], h[2], h[3]]);
    let length = u32::from_be_bytes([0, h[4], h[5], h[6]]);
    let type_id = h[7];
    if !(KNOWN_TYPES.contains(&type_id) || type_id == MSG_AGGREGATE)
        || length == 0
        || length > MAX_PLAUSIBLE_LENGTH
    {
        return None;
    }
    // Protocol control messages have fixed sizes (RTMP spec, section 5.4).
    let control_ok = match type_id {
        1 | 2 | 3 | 5 => length == 4,
        4 => (2..=64).contains(&length),
        6 => length == 5,
        _ => true,
    };
    if !control_ok {
        return None;
    }
    if fmt == 0 {
        let stream_id = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if stream_id > 0xFFFF || (type_id <= 6 && type_id != 4 && stream_id != 0) {
            return None;
        }
    } else if timestamp > 0xFFFF && timestamp != 0xFF_FFFF {
        // A delta of more than a minute between two messages of one chunk stream.
        return None;
    }
    let ext = if timestamp == 0xFF_FFFF { 4 } else { 0 };
    Some(PlausibleHeader {
        header_len: header_len + ext,
        length,
    })
}

/// Any basic header (fmt 0-3) that could follow a complete message; a fmt 0/1
/// header with a one-byte basic header must itself be plausible.
fn plausible_next(b: &[u8]) -> bool {
    let Some(&first) = b.first() else {
        return true;
    };
    let fmt = first >> 6;
    let csid = first & 0x3F;
    if fmt >= 2 || csid < 2 {
        return true;
    }
    let header_len = if fmt == 0 { 12 } else { 8 };
    b.len() < header_len || plausible_header(b).is_some()
}

/// Where a chunk stream seems to begin in bytes captured from the middle of an
/// RTMP connection: offset 0 if they begin with a plausible fmt 0/1 chunk
/// header, else the first offset in the first [`HEAD_LIMIT`] bytes where a
/// plausible header is followed, right after its (short) message, by another.
///
/// ```
/// use rtmpscope_capture::classify::find_chunk_start;
/// // fmt 0, csid 2, timestamp 0, length 4, type 5 (window ack size), stream 0, then the body.
/// let acks = [0x02, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0, 0x4c, 0x4b, 0x40];
/// assert_eq!(find_chunk_start(&acks), Some(0));
/// assert_eq!(find_chunk_start(b"GET / HTTP/1.1\r\n"), None);
/// ```
pub fn find_chunk_start(bytes: &[u8]) -> Option<usize> {
    if let Some(h) = plausible_header(bytes) {
        let next = h.header_len + h.length as usize;
        if h.length > MIN_CHUNK_SIZE || plausible_next(bytes.get(next..).unwrap_or(&[])) {
            return Some(0);
        }
    }
    let limit = bytes.len().min(HEAD_LIMIT);
    (1..limit).find(|&p| {
        let rest = &bytes[p..];
        match plausible_header(rest) {
            Some(h) if h.length <= MIN_CHUNK_SIZE => {
                let next = h.header_len + h.length as usize;
                rest.len() > next
                    && plausible_next(&rest[next..])
                    && plausible_header(&rest[next..]).is_some()
            }
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> Context {
        Context {
            start_seen: true,
            ..Context::default()
        }
    }

    fn mid() -> Context {
        Context::default()
    }

    #[test]
    fn c0c1_is_rtmp_on_any_port() {
        let mut c = vec![3u8];
        c.extend_from_slice(&[0x55; 1536]);
        assert_eq!(classify(&c, &[], start()), Some(StreamKind::Rtmp));
        assert_eq!(classify(&c[..100], &[], start()), None);
        assert_eq!(classify(&c[..100], &c[..1], start()), None);
        assert_eq!(classify(&c[..100], &c, start()), Some(StreamKind::Rtmp));
        let last = Context {
            last_chance: true,
            ..start()
        };
        assert_eq!(classify(&c[..100], &[], last), Some(StreamKind::Rtmp));
    }

    #[test]
    fn rdp_tpkt_is_not_rtmp() {
        let request = [3, 0, 0, 19, 14, 0xE0, 0, 0, 0, 0, 0, 1, 0, 8, 0, 3, 0, 0, 0];
        let confirm = [
            3, 0, 0, 19, 14, 0xD0, 0, 0, 0x12, 0x34, 0, 2, 0x1F, 8, 0, 2, 0, 0, 0,
        ];
        assert_eq!(classify(&request, &[], start()), None);
        assert_eq!(
            classify(&request, &confirm, start()),
            Some(StreamKind::Other("TPKT".into()))
        );
    }

    #[test]
    fn tls_and_http_and_rtmpt() {
        assert_eq!(
            classify(&[0x16, 3, 1, 2, 0], &[], start()),
            Some(StreamKind::Other("TLS".into()))
        );
        assert_eq!(
            classify(b"GET / HTTP/1.1\r\n", &[], start()),
            Some(StreamKind::Other("HTTP".into()))
        );
        assert_eq!(
            classify(b"POST /open/1 HTTP/1.1\r\n", &[], start()),
            Some(StreamKind::Rtmpt)
        );
        assert_eq!(
            classify(b"POST /idle/", &[], start()),
            Some(StreamKind::Rtmpt)
        );
        assert_eq!(classify(b"POS", &[], start()), None);
    }

    #[test]
    fn server_banner_is_other_once_the_client_stays_silent() {
        let banner = b"SSH-2.0-OpenSSH\r\n";
        assert_eq!(classify(&[], banner, start()), None);
        let last = Context {
            last_chance: true,
            ..start()
        };
        assert_eq!(
            classify(&[], banner, last),
            Some(StreamKind::Other("SSH".into()))
        );
    }

    #[test]
    fn mid_stream_chunk_header() {
        // fmt 1, csid 4, delta 40, length 3, type 8 (audio), then 3 bytes and a fmt 3 header.
        let b = [0x44, 0, 0, 40, 0, 0, 3, 8, 0xAF, 1, 2, 0xC4];
        assert_eq!(classify(&b, &[], mid()), Some(StreamKind::RtmpMidStream));
    }

    #[test]
    fn mid_stream_random_bytes_are_unknown_at_last() {
        let b: Vec<u8> = (0..200u32).map(|i| (i * 97 + 13) as u8 | 0xC0).collect();
        assert_eq!(classify(&b, &[], mid()), None);
        let last = Context {
            last_chance: true,
            ..mid()
        };
        assert_eq!(
            classify(&b, &[], last),
            Some(StreamKind::Other("unknown".into()))
        );
        let port = Context {
            rtmp_port: true,
            ..last
        };
        assert_eq!(classify(&b, &[], port), Some(StreamKind::RtmpMidStream));
    }

    #[test]
    fn chunk_start_found_after_partial_message() {
        let mut b = vec![0x77u8; 37];
        // fmt 0 csid 3, ts 0, len 4, type 1 (set chunk size)... with stream id 0, body, then fmt 1 csid 4 audio.
        b.extend_from_slice(&[0x03, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x10, 0]);
        b.extend_from_slice(&[0x44, 0, 0, 23, 0, 0, 2, 8, 0xAF, 0x01]);
        assert_eq!(find_chunk_start(&b), Some(37));
    }
}
