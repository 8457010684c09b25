//! The RTMP handshake: C0/C1/C2 and S0/S1/S2.
//!
//! C0/S0 is one version byte; C1/S1 and C2/S2 are 1536 bytes each
//! (RTMP spec §5.2). Flash-era and most modern peers use the "complex"
//! handshake, which hides an HMAC-SHA256 digest inside C1/S1 at a position
//! derived from four bytes of the packet, and signs C2/S2 with a key derived
//! from the peer's digest. Two layouts exist; rtmpscope calls them:
//!
//! - `digest0`: the digest position comes from bytes 8–11
//!   (`sum % 728 + 12`), the layout ffmpeg and librtmp use by default;
//! - `digest1`: the position comes from bytes 772–775 (`sum % 728 + 776`).
//!
//! (SRS names these the other way round, "schema1" and "schema0".)

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// Size of C1, C2, S1 and S2.
pub const HANDSHAKE_SIZE: usize = 1536;
/// Plain RTMP version in C0/S0.
pub const RTMP_VERSION: u8 = 3;
/// RTMPE (encrypted) version in C0/S0.
pub const RTMPE_VERSION: u8 = 6;
/// Digest length (HMAC-SHA256).
const DIGEST_LEN: usize = 32;

/// The 32 bytes both well-known keys end with.
const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];
const PLAYER_KEY_TEXT: &[u8] = b"Genuine Adobe Flash Player 001";
const SERVER_KEY_TEXT: &[u8] = b"Genuine Adobe Flash Media Server 001";

/// Which handshake part a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HandshakePart {
    /// C0 and C1 together.
    C0C1,
    /// C2.
    C2,
    /// S0 and S1 together.
    S0S1,
    /// S2.
    S2,
}

impl HandshakePart {
    /// The name used in the JSON lines.
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakePart::C0C1 => "C0C1",
            HandshakePart::C2 => "C2",
            HandshakePart::S0S1 => "S0S1",
            HandshakePart::S2 => "S2",
        }
    }
}

/// How C1/S1 were built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Scheme {
    /// No digest (the spec's handshake: zero version field, random bytes).
    Simple,
    /// Digest position from bytes 8–11.
    Digest0,
    /// Digest position from bytes 772–775.
    Digest1,
}

impl Scheme {
    /// The name used in the JSON lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Simple => "simple",
            Scheme::Digest0 => "digest0",
            Scheme::Digest1 => "digest1",
        }
    }

    fn base(self) -> Option<usize> {
        match self {
            Scheme::Simple => None,
            Scheme::Digest0 => Some(8),
            Scheme::Digest1 => Some(772),
        }
    }
}

/// Which side sent a C1/S1 (selects the HMAC key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client (C1, C2).
    Client,
    /// The server (S1, S2).
    Server,
}

impl Role {
    /// The key that signs this side's C1/S1 (the text part only).
    fn short_key(self) -> &'static [u8] {
        match self {
            Role::Client => PLAYER_KEY_TEXT,
            Role::Server => SERVER_KEY_TEXT,
        }
    }

    /// The full key (text + tail) that derives the C2/S2 signing key.
    fn full_key(self) -> Vec<u8> {
        let mut k = self.short_key().to_vec();
        k.extend_from_slice(&KEY_TAIL);
        k
    }
}

/// Position of the digest in a 1536-byte C1/S1 under `scheme`.
pub fn digest_offset(packet: &[u8; HANDSHAKE_SIZE], scheme: Scheme) -> Option<usize> {
    let base = scheme.base()?;
    let sum: usize = packet[base..base + 4].iter().map(|&b| b as usize).sum();
    Some(sum % 728 + base + 4)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; DIGEST_LEN],
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The digest C1/S1 should carry at `offset`: the HMAC of every other byte.
pub fn packet_digest(packet: &[u8; HANDSHAKE_SIZE], offset: usize, role: Role) -> [u8; DIGEST_LEN] {
    hmac(
        role.short_key(),
        &[&packet[..offset], &packet[offset + DIGEST_LEN..]],
    )
}

/// Finds the scheme whose digest verifies, trying both layouts.
///
/// Returns the scheme and the digest, or `None` if neither verifies.
pub fn find_digest(
    packet: &[u8; HANDSHAKE_SIZE],
    role: Role,
) -> Option<(Scheme, [u8; DIGEST_LEN])> {
    for scheme in [Scheme::Digest0, Scheme::Digest1] {
        let off = digest_offset(packet, scheme)?;
        let want = packet_digest(packet, off, role);
        if packet[off..off + DIGEST_LEN] == want {
            return Some((scheme, want));
        }
    }
    None
}

/// The signature C2 (role Client) or S2 (role Server) should end with,
/// given the digest found in the peer's C1/S1.
pub fn response_digest(
    response: &[u8; HANDSHAKE_SIZE],
    role: Role,
    peer_digest: &[u8; DIGEST_LEN],
) -> [u8; DIGEST_LEN] {
    let key = hmac(&role.full_key(), &[peer_digest]);
    hmac(&key, &[&response[..HANDSHAKE_SIZE - DIGEST_LEN]])
}

/// What C0+C1 or S0+S1 say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hello {
    /// C0/S0: 3 for RTMP, 6 for RTMPE.
    pub version: u8,
    /// The sender's epoch (first 4 bytes of C1/S1).
    pub time: u32,
    /// Bytes 4–7: zero in the simple handshake, the Flash/server version in the complex one.
    pub peer_version: [u8; 4],
    /// How the packet was built.
    pub scheme: Scheme,
    /// Whether the digest verifies (false if the version field claims a digest
    /// but neither layout verifies; true for a simple handshake).
    pub digest_valid: bool,
    /// The digest, for checking the peer's C2/S2.
    #[serde(skip)]
    pub digest: Option<[u8; DIGEST_LEN]>,
}

impl Hello {
    /// Decodes C0 and the 1536 bytes of C1/S1.
    pub fn parse(version: u8, packet: &[u8; HANDSHAKE_SIZE], role: Role) -> Hello {
        let time = u32::from_be_bytes([packet[0], packet[1], packet[2], packet[3]]);
        let peer_version = [packet[4], packet[5], packet[6], packet[7]];
        let (scheme, digest_valid, digest) = match find_digest(packet, role) {
            Some((scheme, d)) => (scheme, true, Some(d)),
            // A zero version field means the sender chose the simple handshake.
            None if peer_version == [0; 4] => (Scheme::Simple, true, None),
            None => (Scheme::Digest0, false, None),
        };
        Hello {
            version,
            time,
            peer_version,
            scheme,
            digest_valid,
            digest,
        }
    }

    /// The version field as dotted numbers (`9.0.124.2`).
    pub fn peer_version_string(&self) -> String {
        let v = self.peer_version;
        format!("{}.{}.{}.{}", v[0], v[1], v[2], v[3])
    }
}

/// What C2 or S2 say about the peer's C1/S1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Echo {
    /// First 4 bytes (the peer's time, in the simple handshake).
    pub time: u32,
    /// Bytes 4–7 (time the peer's packet was read, in the simple handshake).
    pub time2: u32,
    /// Whether the packet echoes the peer's C1/S1 as the spec describes
    /// (same time and same random bytes); `None` if that packet is unknown.
    pub echo: Option<bool>,
    /// For the complex handshake: whether the trailing signature verifies
    /// against the peer's digest; `None` when it does not apply (the peer's
    /// packet had no digest, or this packet simply echoes it).
    pub digest_valid: Option<bool>,
}

impl Echo {
    /// Checks C2 (role Client) against S1, or S2 (role Server) against C1.
    pub fn parse(
        packet: &[u8; HANDSHAKE_SIZE],
        role: Role,
        peer: Option<(&[u8; HANDSHAKE_SIZE], &Hello)>,
    ) -> Echo {
        let time = u32::from_be_bytes([packet[0], packet[1], packet[2], packet[3]]);
        let time2 = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let (echo, digest_valid) = match peer {
            None => (None, None),
            Some((peer_bytes, hello)) => {
                let echo = packet[..4] == peer_bytes[..4] && packet[8..] == peer_bytes[8..];
                // An echo is a valid answer to a digest C1/S1 too (ffmpeg
                // publishing does it); only a non-echo must carry the signature.
                let digest_valid = hello.digest.filter(|_| !echo).map(|d| {
                    response_digest(packet, role, &d)[..] == packet[HANDSHAKE_SIZE - DIGEST_LEN..]
                });
                (Some(echo), digest_valid)
            }
        };
        Echo {
            time,
            time2,
            echo,
            digest_valid,
        }
    }
}

/// Builds a 1536-byte C1/S1 carrying a valid digest (for tests and the built-in server).
pub fn build_hello(
    role: Role,
    scheme: Scheme,
    time: u32,
    peer_version: [u8; 4],
    fill: impl FnMut(usize) -> u8,
) -> [u8; HANDSHAKE_SIZE] {
    let mut p = [0u8; HANDSHAKE_SIZE];
    let mut fill = fill;
    for (i, b) in p.iter_mut().enumerate().skip(8) {
        *b = fill(i);
    }
    p[..4].copy_from_slice(&time.to_be_bytes());
    p[4..8].copy_from_slice(&peer_version);
    if let Some(off) = digest_offset(&p, scheme) {
        let d = packet_digest(&p, off, role);
        p[off..off + DIGEST_LEN].copy_from_slice(&d);
    }
    p
}

/// Builds a C2/S2 signed for the peer's digest (complex scheme), or an echo of
/// the peer's packet (simple scheme, `peer_digest` None).
pub fn build_response(
    role: Role,
    peer: &[u8; HANDSHAKE_SIZE],
    peer_digest: Option<&[u8; DIGEST_LEN]>,
    fill: impl FnMut(usize) -> u8,
) -> [u8; HANDSHAKE_SIZE] {
    let mut p = *peer;
    if let Some(d) = peer_digest {
        let mut fill = fill;
        for (i, b) in p.iter_mut().enumerate() {
            *b = fill(i);
        }
        let sig = response_digest(&p, role, d);
        p[HANDSHAKE_SIZE - DIGEST_LEN..].copy_from_slice(&sig);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: u32) -> impl FnMut(usize) -> u8 {
        let mut s = seed;
        move |_| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (s >> 16) as u8
        }
    }

    #[test]
    fn digest_offset_follows_the_sum_of_four_bytes() {
        let mut p = [0u8; HANDSHAKE_SIZE];
        p[8..12].copy_from_slice(&[200, 200, 200, 200]);
        assert_eq!(digest_offset(&p, Scheme::Digest0), Some(800 % 728 + 12));
        p[772..776].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(digest_offset(&p, Scheme::Digest1), Some(10 + 776));
        assert_eq!(digest_offset(&p, Scheme::Simple), None);
    }

    #[test]
    fn digest_never_overruns_the_packet() {
        // Largest position: 727 + 776 = 1503, and 1503 + 32 = 1535 <= 1536.
        let mut p = [0xffu8; HANDSHAKE_SIZE];
        p[772..776].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        let off = digest_offset(&p, Scheme::Digest1).unwrap();
        assert!(off + DIGEST_LEN <= HANDSHAKE_SIZE);
    }

    #[test]
    fn both_layouts_verify_for_both_roles() {
        for role in [Role::Client, Role::Server] {
            for scheme in [Scheme::Digest0, Scheme::Digest1] {
                let p = build_hello(role, scheme, 7, [9, 0, 124, 2], lcg(3));
                let h = Hello::parse(3, &p, role);
                assert_eq!(h.scheme, scheme, "{role:?}");
                assert!(h.digest_valid);
                // The other role's key must not verify it.
                let other = if role == Role::Client {
                    Role::Server
                } else {
                    Role::Client
                };
                let h2 = Hello::parse(3, &p, other);
                assert!(!h2.digest_valid);
            }
        }
    }

    #[test]
    fn zero_version_field_without_digest_is_simple() {
        let p = build_hello(Role::Client, Scheme::Simple, 0, [0; 4], lcg(1));
        let h = Hello::parse(3, &p, Role::Client);
        assert_eq!(h.scheme, Scheme::Simple);
        assert!(h.digest_valid);
    }

    #[test]
    fn corrupted_digest_is_reported_invalid() {
        let mut p = build_hello(Role::Client, Scheme::Digest0, 0, [9, 0, 124, 2], lcg(5));
        let off = digest_offset(&p, Scheme::Digest0).unwrap();
        p[off] ^= 1;
        let h = Hello::parse(3, &p, Role::Client);
        assert!(!h.digest_valid);
    }

    #[test]
    fn simple_c2_echoes_s1() {
        let s1 = build_hello(Role::Server, Scheme::Simple, 5, [0; 4], lcg(2));
        let hello = Hello::parse(3, &s1, Role::Server);
        let c2 = build_response(Role::Client, &s1, None, lcg(0));
        let e = Echo::parse(&c2, Role::Client, Some((&s1, &hello)));
        assert_eq!(e.echo, Some(true));
        assert_eq!(e.digest_valid, None);
    }

    #[test]
    fn complex_s2_signature_verifies_against_c1_digest() {
        let c1 = build_hello(Role::Client, Scheme::Digest0, 0, [9, 0, 124, 2], lcg(8));
        let hello = Hello::parse(3, &c1, Role::Client);
        let s2 = build_response(Role::Server, &c1, hello.digest.as_ref(), lcg(9));
        let e = Echo::parse(&s2, Role::Server, Some((&c1, &hello)));
        assert_eq!(e.digest_valid, Some(true));
        let mut bad = s2;
        bad[0] ^= 0x80;
        let e = Echo::parse(&bad, Role::Server, Some((&c1, &hello)));
        assert_eq!(e.digest_valid, Some(false));
    }
}
