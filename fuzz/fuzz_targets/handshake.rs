//! C1/S1 digest detection and C2/S2 checks on arbitrary 1536-byte packets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmpscope_core::handshake::{Echo, Hello, Role, HANDSHAKE_SIZE};

fuzz_target!(|data: &[u8]| {
    let mut a = [0u8; HANDSHAKE_SIZE];
    let mut b = [0u8; HANDSHAKE_SIZE];
    let n = data.len().min(HANDSHAKE_SIZE);
    a[..n].copy_from_slice(&data[..n]);
    let m = data.len().saturating_sub(HANDSHAKE_SIZE).min(HANDSHAKE_SIZE);
    b[..m].copy_from_slice(&data[HANDSHAKE_SIZE.min(data.len())..][..m]);
    for role in [Role::Client, Role::Server] {
        let h = Hello::parse(3, &a, role);
        let _ = Echo::parse(&b, role, Some((&a, &h)));
        let _ = Echo::parse(&b, role, None);
    }
});
