//! A whole session: both directions, fed in pieces whose sizes the input picks,
//! then finished. Also the mid-stream mode and a gap.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmpscope_core::session::{Direction, Session};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let (ctl, rest) = data.split_at(3);
    let cut = (ctl[0] as usize * rest.len()) / 256;
    let piece = 1 + ctl[1] as usize * 8;
    let mut s = if ctl[2] & 1 == 0 {
        Session::new()
    } else {
        Session::mid_stream()
    };
    let mut out = Vec::new();
    let (c2s, s2c) = rest.split_at(cut);
    let (mut a, mut b) = (c2s.chunks(piece), s2c.chunks(piece));
    loop {
        let x = a.next();
        let y = b.next();
        if x.is_none() && y.is_none() {
            break;
        }
        if let Some(x) = x {
            s.feed(Direction::ClientToServer, Bytes::copy_from_slice(x), 0.0, &mut out);
        }
        if let Some(y) = y {
            s.feed(Direction::ServerToClient, Bytes::copy_from_slice(y), 0.0, &mut out);
        }
        if ctl[2] & 2 != 0 && out.len() % 7 == 3 {
            s.gap(Direction::ClientToServer, 100, 0.0, &mut out);
        }
        // Bound what the harness itself holds.
        if out.len() > 10_000 {
            out.clear();
        }
    }
    s.finish(&mut out);
    for e in &out {
        let mut line = String::new();
        rtmpscope_core::json::write_event(&mut line, 0, e);
    }
});
