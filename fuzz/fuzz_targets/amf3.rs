//! AMF3 decoding, display and JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmpscope_core::amf::amf3;

fuzz_target!(|data: &[u8]| {
    let (values, _) = amf3::decode_all(data);
    for v in &values {
        let _ = v.value.to_json();
        let _ = v.value.to_string();
    }
});
