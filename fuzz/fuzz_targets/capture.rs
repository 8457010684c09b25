//! pcap/pcapng reading, TCP reassembly and classification on any file bytes,
//! with every RTMP connection's bytes fed to a session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmpscope_capture::{CaptureEvent, CaptureReader};
use rtmpscope_core::Session;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = CaptureReader::new(data) else {
        return;
    };
    let mut s = Session::mid_stream();
    let mut out = Vec::new();
    while let Ok(Some(ev)) = r.next_event() {
        if let CaptureEvent::Data {
            dir,
            bytes,
            time,
            earlier,
            ..
        } = ev
        {
            s.feed_segments(dir, bytes, &earlier, time, &mut out);
            out.clear();
        }
    }
    s.finish(&mut out);
});
