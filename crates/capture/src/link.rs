//! Link layers: from a captured frame to the IP packet inside it.

use crate::file::{
    LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP, LINKTYPE_NULL, LINKTYPE_RAW, LINKTYPE_RAW_BSD, LINKTYPE_RAW_OPENBSD,
};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
/// 802.1Q customer VLAN tag.
const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service VLAN tag (QinQ outer tag).
const ETHERTYPE_QINQ: u16 = 0x88A8;
/// Pre-standard QinQ outer tag still seen on some switches.
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// Ethernet header: two MAC addresses and the EtherType.
const ETHERNET_HEADER: usize = 14;
/// Linux cooked capture v1 header (LINKTYPE_LINUX_SLL).
const SLL_HEADER: usize = 16;
/// Linux cooked capture v2 header (LINKTYPE_LINUX_SLL2).
const SLL2_HEADER: usize = 20;
/// Tags followed before giving up (QinQ has two; more is a hostile file).
const MAX_VLAN_TAGS: usize = 8;
/// BSD address families: AF_INET is 2 everywhere, AF_INET6 varies by OS
/// (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS, 10 Linux).
const AF_INET: u32 = 2;
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

/// The network-layer packet carried by a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Network<'a> {
    /// An IPv4 or IPv6 packet (the version nibble says which).
    Ip(&'a [u8]),
    /// Something else (ARP, LLDP, …), skipped silently.
    Other,
}

/// Why a frame could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LinkError {
    /// The link type is not one we read.
    Unsupported(u32),
    /// The frame is shorter than its link header.
    Short {
        what: &'static str,
        need: usize,
        have: usize,
    },
}

/// Strips the link header of a frame captured on a `linktype` interface.
pub(crate) fn network_layer(linktype: u32, frame: &[u8]) -> Result<Network<'_>, LinkError> {
    match linktype {
        LINKTYPE_ETHERNET => {
            let rest = frame.get(ETHERNET_HEADER..).ok_or(LinkError::Short {
                what: "Ethernet header",
                need: ETHERNET_HEADER,
                have: frame.len(),
            })?;
            ethertype_payload(be16(frame, 12), rest)
        }
        LINKTYPE_LINUX_SLL => {
            let rest = frame.get(SLL_HEADER..).ok_or(LinkError::Short {
                what: "Linux cooked (SLL) header",
                need: SLL_HEADER,
                have: frame.len(),
            })?;
            ethertype_payload(be16(frame, 14), rest)
        }
        LINKTYPE_LINUX_SLL2 => {
            let rest = frame.get(SLL2_HEADER..).ok_or(LinkError::Short {
                what: "Linux cooked (SLL2) header",
                need: SLL2_HEADER,
                have: frame.len(),
            })?;
            ethertype_payload(be16(frame, 0), rest)
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            let rest = frame.get(4..).ok_or(LinkError::Short {
                what: "loopback header",
                need: 4,
                have: frame.len(),
            })?;
            // NULL stores the family in the capturing host's byte order, LOOP in
            // network order; a family fits in 16 bits, so try both.
            let le = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
            let be = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
            let family = if linktype == LINKTYPE_LOOP || le > 0xFFFF {
                be
            } else {
                le
            };
            if family == AF_INET || AF_INET6.contains(&family) {
                Ok(Network::Ip(rest))
            } else {
                Ok(Network::Other)
            }
        }
        LINKTYPE_RAW | LINKTYPE_RAW_BSD | LINKTYPE_RAW_OPENBSD | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
            match frame.first().map(|b| b >> 4) {
                Some(4) | Some(6) => Ok(Network::Ip(frame)),
                _ => Ok(Network::Other),
            }
        }
        other => Err(LinkError::Unsupported(other)),
    }
}

/// Follows VLAN tags to the IP packet.
fn ethertype_payload(mut ethertype: u16, mut rest: &[u8]) -> Result<Network<'_>, LinkError> {
    for _ in 0..MAX_VLAN_TAGS {
        match ethertype {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => return Ok(Network::Ip(rest)),
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
                // Tag: priority/DEI/VLAN id (2 bytes), then the inner EtherType.
                if rest.len() < 4 {
                    return Err(LinkError::Short {
                        what: "VLAN tag",
                        need: 4,
                        have: rest.len(),
                    });
                }
                ethertype = be16(rest, 2);
                rest = &rest[4..];
            }
            _ => return Ok(Network::Other),
        }
    }
    Ok(Network::Other)
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: [u8; 4] = [0x45, 0, 0, 20];

    #[test]
    fn ethernet_with_qinq_tags() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xA8, 0, 100, 0x81, 0x00, 0, 200, 0x08, 0x00]);
        f.extend_from_slice(&IP);
        assert_eq!(
            network_layer(LINKTYPE_ETHERNET, &f),
            Ok(Network::Ip(&IP[..]))
        );
    }

    #[test]
    fn arp_is_other() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x06, 0, 1]);
        assert_eq!(network_layer(LINKTYPE_ETHERNET, &f), Ok(Network::Other));
    }

    #[test]
    fn null_in_either_byte_order() {
        let le = [2, 0, 0, 0, 0x45];
        let be = [0, 0, 0, 30, 0x60];
        assert_eq!(network_layer(LINKTYPE_NULL, &le), Ok(Network::Ip(&le[4..])));
        assert_eq!(network_layer(LINKTYPE_NULL, &be), Ok(Network::Ip(&be[4..])));
        assert_eq!(network_layer(LINKTYPE_LOOP, &be), Ok(Network::Ip(&be[4..])));
    }

    #[test]
    fn sll_and_sll2() {
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x86, 0xDD, 0x60]);
        assert_eq!(
            network_layer(LINKTYPE_LINUX_SLL, &sll),
            Ok(Network::Ip(&[0x60][..]))
        );
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.push(0x45);
        assert_eq!(
            network_layer(LINKTYPE_LINUX_SLL2, &sll2),
            Ok(Network::Ip(&[0x45][..]))
        );
    }

    #[test]
    fn short_and_unsupported() {
        assert!(matches!(
            network_layer(LINKTYPE_ETHERNET, &[0; 10]),
            Err(LinkError::Short { .. })
        ));
        assert_eq!(
            network_layer(147, &[0; 10]),
            Err(LinkError::Unsupported(147))
        );
    }
}
