//! The server's side of the handshake (RTMP spec §5.2), sans-IO: C0+C1 in,
//! S0+S1+S2 out.
//!
//! A C1 with a valid digest (ffmpeg, librtmp, Flash) is answered in the
//! digest scheme with the same layout: S1 carries the server's digest and S2
//! is signed with a key derived from C1's digest, which ffmpeg checks when it
//! plays. Any other C1 gets the spec's simple answer: a random S1 with a zero
//! version field and S2 echoing C1 (§5.2.3).

use rtmpscope_core::handshake::{
    build_hello, build_response, Hello, Role, Scheme, HANDSHAKE_SIZE, RTMP_VERSION,
};

/// The version field the server puts in a digest S1. ffmpeg only checks the
/// server's digests when the first byte is at least 3, so it is set to check them.
const SERVER_VERSION: [u8; 4] = [5, 0, 3, 1];

/// Why a handshake cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// C0 asked for another version (6 is RTMPE, which this server does not speak).
    #[error("C0 asks for version {0}, this server speaks only plain RTMP (version 3)")]
    Version(u8),
}

/// The answer to a client's C0+C1.
#[derive(Debug, Clone)]
pub struct Answer {
    /// S0, S1 and S2 in order (1 + 1536 + 1536 bytes).
    pub bytes: Vec<u8>,
    /// How the client built C1 (and so how the server answered).
    pub scheme: Scheme,
}

/// A small xorshift generator for the random parts of S1/S2 (the spec only
/// asks for bytes that are not predictable by the peer, not for secrets).
#[derive(Debug, Clone)]
pub struct Filler(u64);

impl Filler {
    /// A generator from a seed (zero is replaced, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        Filler(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next byte.
    pub fn byte(&mut self) -> u8 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 32) as u8
    }
}

/// Answers `c0` and `c1`; `time` is the server's epoch for S1 (ms).
pub fn answer(
    c0: u8,
    c1: &[u8; HANDSHAKE_SIZE],
    time: u32,
    fill: &mut Filler,
) -> Result<Answer, HandshakeError> {
    if c0 != RTMP_VERSION {
        return Err(HandshakeError::Version(c0));
    }
    let hello = Hello::parse(c0, c1, Role::Client);
    let mut bytes = Vec::with_capacity(1 + 2 * HANDSHAKE_SIZE);
    bytes.push(RTMP_VERSION);
    let scheme = match (hello.scheme, hello.digest) {
        (scheme @ (Scheme::Digest0 | Scheme::Digest1), Some(digest)) if hello.digest_valid => {
            let s1 = build_hello(Role::Server, scheme, time, SERVER_VERSION, |_| fill.byte());
            let s2 = build_response(Role::Server, c1, Some(&digest), |_| fill.byte());
            bytes.extend_from_slice(&s1);
            bytes.extend_from_slice(&s2);
            scheme
        }
        _ => {
            let s1 = build_hello(Role::Server, Scheme::Simple, time, [0; 4], |_| fill.byte());
            let s2 = build_response(Role::Server, c1, None, |_| 0);
            bytes.extend_from_slice(&s1);
            bytes.extend_from_slice(&s2);
            Scheme::Simple
        }
    };
    Ok(Answer { bytes, scheme })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtmpscope_core::handshake::Echo;

    fn split(a: &Answer) -> ([u8; HANDSHAKE_SIZE], [u8; HANDSHAKE_SIZE]) {
        let mut s1 = [0u8; HANDSHAKE_SIZE];
        let mut s2 = [0u8; HANDSHAKE_SIZE];
        s1.copy_from_slice(&a.bytes[1..1 + HANDSHAKE_SIZE]);
        s2.copy_from_slice(&a.bytes[1 + HANDSHAKE_SIZE..]);
        (s1, s2)
    }

    #[test]
    fn digest_c1_gets_verifiable_s1_and_s2() {
        for scheme in [Scheme::Digest0, Scheme::Digest1] {
            let mut f = Filler::new(1);
            let c1 = build_hello(Role::Client, scheme, 0, [9, 0, 124, 2], |_| f.byte());
            let a = answer(3, &c1, 77, &mut Filler::new(2)).unwrap();
            assert_eq!(a.bytes.len(), 1 + 2 * HANDSHAKE_SIZE);
            assert_eq!(a.bytes[0], 3);
            assert_eq!(a.scheme, scheme);
            let (s1, s2) = split(&a);
            let h = Hello::parse(3, &s1, Role::Server);
            assert!(h.digest_valid && h.scheme == scheme, "{scheme:?}");
            let c1_hello = Hello::parse(3, &c1, Role::Client);
            let e = Echo::parse(&s2, Role::Server, Some((&c1, &c1_hello)));
            assert_eq!(e.digest_valid, Some(true));
        }
    }

    #[test]
    fn simple_c1_gets_an_echo() {
        let mut f = Filler::new(5);
        let c1 = build_hello(Role::Client, Scheme::Simple, 1234, [0; 4], |_| f.byte());
        let a = answer(3, &c1, 0, &mut Filler::new(6)).unwrap();
        assert_eq!(a.scheme, Scheme::Simple);
        let (s1, s2) = split(&a);
        assert_eq!(s2, c1);
        assert_eq!(&s1[4..8], &[0; 4]);
    }

    #[test]
    fn invalid_digest_falls_back_to_the_simple_answer() {
        let mut f = Filler::new(9);
        let c1 = build_hello(Role::Client, Scheme::Simple, 0, [9, 0, 124, 2], |_| {
            f.byte()
        });
        let a = answer(3, &c1, 0, &mut Filler::new(1)).unwrap();
        assert_eq!(a.scheme, Scheme::Simple);
        assert_eq!(split(&a).1, c1);
    }

    #[test]
    fn rtmpe_is_refused() {
        let c1 = [0u8; HANDSHAKE_SIZE];
        assert_eq!(
            answer(6, &c1, 0, &mut Filler::new(1)).unwrap_err(),
            HandshakeError::Version(6)
        );
    }
}
