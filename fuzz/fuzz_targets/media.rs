//! FLV audio/video tag headers, legacy and Enhanced RTMP, from a whole
//! payload and from a prefix of a longer one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmpscope_core::media::video::legacy_dimensions;
use rtmpscope_core::media::{parse_audio, parse_video};

fuzz_target!(|data: &[u8]| {
    let _ = parse_audio(data, data.len());
    let _ = parse_video(data, data.len());
    let half = data.len() / 2;
    let _ = parse_audio(&data[..half], data.len());
    let _ = parse_video(&data[..half], data.len());
    let _ = legacy_dimensions(data);
    if let Some(v) = parse_video(data, data.len()).ok() {
        let _ = v.summary();
    }
    if let Some(a) = parse_audio(data, data.len()).ok() {
        let _ = a.summary();
    }
});
