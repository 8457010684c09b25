//! The chunk decoder alone, starting after the handshake, fed in pieces.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmpscope_core::chunk::ChunkDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let mut d = ChunkDecoder::new(3073);
    let mut n = 0usize;
    for piece in rest.chunks(1 + ctl as usize * 16) {
        d.push(Bytes::copy_from_slice(piece));
        while d.next_event().is_some() {
            n += 1;
        }
    }
    d.finish();
    while d.next_event().is_some() {
        n += 1;
    }
    assert!(n <= 4 * rest.len() + 8, "more events than bytes can explain");
});
