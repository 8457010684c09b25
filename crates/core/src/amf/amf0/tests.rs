use super::*;
use crate::amf::testgen::{amf0_value, fix_refs, spans_nest, RefCounts};
use crate::amf::{Amf3Kind, Resolver};
use proptest::prelude::*;

// Byte builders that follow the AMF0 spec's layout directly (not the encoder under test).

fn utf8(b: &mut Vec<u8>, s: &[u8]) {
    b.extend_from_slice(&(s.len() as u16).to_be_bytes());
    b.extend_from_slice(s);
}

fn string(b: &mut Vec<u8>, s: &[u8]) {
    b.push(0x02);
    utf8(b, s);
}

fn number(b: &mut Vec<u8>, n: f64) {
    b.push(0x00);
    b.extend_from_slice(&n.to_bits().to_be_bytes());
}

fn object_end(b: &mut Vec<u8>) {
    b.extend_from_slice(&[0x00, 0x00, 0x09]);
}

/// The body of the `connect` command ffmpeg sends when publishing
/// (libavformat/rtmpproto.c gen_connect: app, type, flashVer, tcUrl).
fn ffmpeg_connect() -> Vec<u8> {
    let mut b = Vec::new();
    string(&mut b, b"connect");
    number(&mut b, 1.0);
    b.push(0x03);
    utf8(&mut b, b"app");
    string(&mut b, b"live");
    utf8(&mut b, b"type");
    string(&mut b, b"nonprivate");
    utf8(&mut b, b"flashVer");
    string(&mut b, b"FMLE/3.0 (compatible; Lavf61.7.100)");
    utf8(&mut b, b"tcUrl");
    string(&mut b, b"rtmp://127.0.0.1:1935/live");
    object_end(&mut b);
    b
}

#[test]
fn ffmpeg_connect_decodes_to_three_values() {
    let body = ffmpeg_connect();
    let (values, err) = decode_all(&body);
    assert_eq!(err, None);
    assert_eq!(values.len(), 3);
    assert_eq!(values[0].value, Value::string("connect"));
    assert_eq!(values[1].value, Value::Number(1.0));
    let obj = &values[2].value;
    assert_eq!(obj.get("app").unwrap().value.as_str().unwrap(), "live");
    assert_eq!(
        obj.get("type").unwrap().value.as_str().unwrap(),
        "nonprivate"
    );
    assert_eq!(
        obj.get("flashVer").unwrap().value.as_str().unwrap(),
        "FMLE/3.0 (compatible; Lavf61.7.100)"
    );
    assert_eq!(
        obj.get("tcUrl").unwrap().value.as_str().unwrap(),
        "rtmp://127.0.0.1:1935/live"
    );
}

#[test]
fn ffmpeg_connect_spans_cover_marker_and_payload() {
    let body = ffmpeg_connect();
    let (values, _) = decode_all(&body);
    // "connect": marker, 2-byte length, 7 bytes.
    assert_eq!(values[0].span, Span::new(0, 10));
    // 1.0: marker and 8 bytes.
    assert_eq!(values[1].span, Span::new(10, 19));
    assert_eq!(values[2].span, Span::new(19, body.len()));
    let Value::Object { props, .. } = &values[2].value else {
        panic!("not an object")
    };
    // "app" name: 2-byte length and 3 bytes, right after the object marker.
    assert_eq!(props[0].key_span, Span::new(20, 25));
    // "live": marker, length, 4 bytes.
    assert_eq!(props[0].value.span, Span::new(25, 32));
    assert_eq!(&body[props[0].value.span.range()], b"\x02\x00\x04live");
    spans_nest(&values[2]).unwrap();
}

#[test]
fn ffmpeg_connect_summary_and_json_are_plain() {
    let (values, _) = decode_all(&ffmpeg_connect());
    assert_eq!(
        values[2].value.summary(60),
        "{app: \"live\", type: \"nonprivate\", flashVer: \"FMLE/3.0 (comp…"
    );
    let json = values[2].value.to_json();
    assert_eq!(json["tcUrl"], "rtmp://127.0.0.1:1935/live");
    assert_eq!(values[1].value.to_json(), serde_json::json!(1));
}

/// nginx-rtmp's onMetaData (ngx_rtmp_codec_module.c, ngx_rtmp_codec_prepare_meta)
/// writes `profile` and `level` as fixed 32-byte char arrays: NULs when unknown.
#[test]
fn nginx_rtmp_metadata_keeps_32_nul_profile_and_level() {
    let mut b = Vec::new();
    string(&mut b, b"onMetaData");
    b.push(0x03);
    utf8(&mut b, b"width");
    number(&mut b, 1280.0);
    utf8(&mut b, b"height");
    number(&mut b, 720.0);
    utf8(&mut b, b"profile");
    string(&mut b, &[0; 32]);
    utf8(&mut b, b"level");
    string(&mut b, &[0; 32]);
    object_end(&mut b);

    let (values, err) = decode_all(&b);
    assert_eq!(err, None);
    let meta = &values[1].value;
    let profile = meta.get("profile").unwrap().value.as_str().unwrap();
    assert_eq!(profile.as_bytes(), &[0u8; 32][..]);
    assert_eq!(profile.display().to_string(), "\\0".repeat(32));
    assert_eq!(meta.get("level").unwrap().span.len(), 35);
    assert_eq!(meta.to_json()["profile"], "\0".repeat(32));
    assert_eq!(meta.get("width").unwrap().value.as_f64(), Some(1280.0));
}

/// nginx-rtmp's reply to connect (ngx_rtmp_cmd_module.c): `_result`, the
/// transaction id, {fmsVer, capabilities}, {level, code, description, objectEncoding}.
#[test]
fn nginx_rtmp_connect_result_decodes() {
    let mut b = Vec::new();
    string(&mut b, b"_result");
    number(&mut b, 1.0);
    b.push(0x03);
    utf8(&mut b, b"fmsVer");
    string(&mut b, b"FMS/3,0,1,123");
    utf8(&mut b, b"capabilities");
    number(&mut b, 31.0);
    object_end(&mut b);
    b.push(0x03);
    utf8(&mut b, b"level");
    string(&mut b, b"status");
    utf8(&mut b, b"code");
    string(&mut b, b"NetConnection.Connect.Success");
    utf8(&mut b, b"description");
    string(&mut b, b"Connection succeeded.");
    utf8(&mut b, b"objectEncoding");
    number(&mut b, 0.0);
    object_end(&mut b);

    let (values, err) = decode_all(&b);
    assert_eq!(err, None);
    assert_eq!(values.len(), 4);
    let info = &values[3].value;
    assert_eq!(
        info.get("code").unwrap().value.as_str().unwrap(),
        "NetConnection.Connect.Success"
    );
    assert_eq!(
        info.get("objectEncoding").unwrap().value.as_f64(),
        Some(0.0)
    );
    assert_eq!(
        values[2].value.to_string(),
        r#"{fmsVer: "FMS/3,0,1,123", capabilities: 31}"#
    );
}

#[test]
fn ecma_array_count_hint_is_kept_but_not_trusted() {
    // Count says 0, two members follow (FMLE and others do this).
    let mut b = vec![0x08, 0, 0, 0, 0];
    utf8(&mut b, b"duration");
    number(&mut b, 0.0);
    utf8(&mut b, b"width");
    number(&mut b, 640.0);
    object_end(&mut b);
    let (node, used) = decode(&b).unwrap();
    assert_eq!(used, b.len());
    let Value::EcmaArray { count_hint, props } = &node.value else {
        panic!("not an ECMA array")
    };
    assert_eq!(*count_hint, 0);
    assert_eq!(props.len(), 2);

    // Count says 1000, one member follows.
    let mut b = vec![0x08, 0, 0, 0x03, 0xe8];
    utf8(&mut b, b"a");
    number(&mut b, 1.0);
    object_end(&mut b);
    let (node, _) = decode(&b).unwrap();
    assert_eq!(node.value.properties().count(), 1);
}

#[test]
fn strict_array_count_beyond_the_bytes_left_is_rejected() {
    let b = [0x0a, 0xff, 0xff, 0xff, 0xff, 0x05];
    let e = decode(&b).unwrap_err();
    assert_eq!(e.offset, 1);
    assert!(e.expected.contains("strict array count"), "{e}");
    assert_eq!(e.found, "count 4294967295");
}

#[test]
fn strict_array_decodes_its_elements() {
    let b = [0x0a, 0, 0, 0, 2, 0x05, 0x01, 0x01];
    let (node, used) = decode(&b).unwrap();
    assert_eq!(used, 8);
    assert_eq!(
        node.value,
        Value::strict_array([Value::Null, Value::Boolean(true)])
    );
}

#[test]
fn object_cut_short_asks_for_the_end_marker() {
    let mut b = vec![0x03];
    utf8(&mut b, b"app");
    string(&mut b, b"live");
    let e = decode(&b).unwrap_err();
    assert_eq!(e.offset, b.len() as u64);
    assert_eq!(e.expected, "property name or object end marker 00 00 09");
    assert_eq!(e.found, "end of data");
}

#[test]
fn object_cut_after_empty_name_asks_for_09() {
    let e = decode(&[0x03, 0x00, 0x00]).unwrap_err();
    assert_eq!(e.offset, 3);
    assert!(e.expected.contains("object end marker 09"), "{e}");
}

#[test]
fn truncated_property_name_names_the_field() {
    let e = decode(&[0x03, 0x00, 0x05, b'a', b'p']).unwrap_err();
    assert_eq!(e.offset, 3);
    assert!(
        e.expected.contains("3 more byte(s) of property name"),
        "{e}"
    );
}

#[test]
fn empty_property_name_before_a_value_is_a_member() {
    let b = [0x03, 0x00, 0x00, 0x05, 0x00, 0x00, 0x09];
    let (node, _) = decode(&b).unwrap();
    assert_eq!(node.value, Value::object([("", Value::Null)]));
}

#[test]
fn decode_all_keeps_the_values_before_an_error() {
    let mut b = Vec::new();
    string(&mut b, b"publish");
    number(&mut b, 5.0);
    b.push(0x05);
    b.extend_from_slice(&[0x02, 0x00, 0x10, b'x']);
    let (values, err) = decode_all(&b);
    assert_eq!(values.len(), 3);
    let err = err.unwrap();
    assert_eq!(err.offset, 23);
    assert!(err.expected.contains("15 more byte(s) of string"), "{err}");
}

#[test]
fn decode_reports_bytes_consumed_and_ignores_the_rest() {
    let (node, used) = decode(&[0x01, 0x00, 0xff, 0xff]).unwrap();
    assert_eq!(node.value, Value::Boolean(false));
    assert_eq!(used, 2);
}

#[test]
fn any_nonzero_boolean_byte_is_true() {
    assert_eq!(decode(&[0x01, 0x02]).unwrap().0.value, Value::Boolean(true));
}

#[test]
fn object_end_marker_outside_an_object_is_an_error() {
    let e = decode(&[0x09]).unwrap_err();
    assert_eq!(e.offset, 0);
    assert_eq!(e.expected, "AMF0 value marker");
}

#[test]
fn reserved_markers_are_errors() {
    for m in [0x04, 0x0e] {
        let e = decode(&[m, 0x00]).unwrap_err();
        assert!(e.expected.contains("reserved"), "{e}");
    }
}

#[test]
fn unknown_marker_reports_offset_and_bytes() {
    let e = decode_all(&[0x05, 0x12, 0xab]).1.unwrap();
    assert_eq!(e.offset, 1);
    assert_eq!(e.expected, "AMF0 marker (00 to 11)");
    assert_eq!(e.found, "12 ab");
}

#[test]
fn empty_input_is_no_values_and_no_error() {
    assert_eq!(decode_all(&[]), (vec![], None));
    assert!(decode(&[]).unwrap_err().expected.contains("AMF0 marker"));
}

#[test]
fn nesting_beyond_the_limit_is_rejected() {
    let mut b = Vec::new();
    for _ in 0..=MAX_DEPTH {
        b.extend_from_slice(&[0x0a, 0, 0, 0, 1]);
    }
    b.push(0x05);
    let e = decode(&b).unwrap_err();
    assert_eq!(e.offset, (5 * (MAX_DEPTH + 1)) as u64);
    assert!(e.expected.contains("nested at most 64"), "{e}");
    // One level less is fine.
    assert!(decode(&b[5..]).is_ok());
}

#[test]
fn deeply_nested_objects_do_not_overflow_the_stack() {
    let mut b = Vec::new();
    for _ in 0..100_000 {
        b.extend_from_slice(&[0x03, 0x00, 0x01, b'a']);
    }
    assert!(decode(&b).is_err());
}

#[test]
fn reference_to_an_earlier_object_is_kept() {
    let mut b = vec![0x0a, 0, 0, 0, 2, 0x03];
    object_end(&mut b);
    b.extend_from_slice(&[0x07, 0x00, 0x01]);
    let (node, _) = decode(&b).unwrap();
    let items = node.value.items().unwrap();
    assert_eq!(items[1].value, Value::Reference(1));
    let values = [node.clone()];
    let resolver = Resolver::amf0(&values);
    assert_eq!(
        resolver.amf0_target(1).unwrap().value,
        Value::object::<&str>([])
    );
}

#[test]
fn reference_beyond_the_table_is_rejected() {
    let e = decode(&[0x0a, 0, 0, 0, 1, 0x07, 0x00, 0x01]).unwrap_err();
    assert_eq!(e.offset, 6);
    assert!(e.expected.contains("1 earlier"), "{e}");
    assert_eq!(e.found, "index 1");
}

#[test]
fn date_keeps_millis_and_time_zone() {
    let mut b = vec![0x0b];
    b.extend_from_slice(&1_700_000_000_000f64.to_be_bytes());
    b.extend_from_slice(&(-60i16).to_be_bytes());
    let (node, used) = decode(&b).unwrap();
    assert_eq!(used, 11);
    assert_eq!(
        node.value,
        Value::Date {
            millis: 1_700_000_000_000.0,
            tz_minutes: -60
        }
    );
}

#[test]
fn long_string_and_xml_document_use_32_bit_lengths() {
    let b = [0x0c, 0, 0, 0, 2, b'h', b'i', 0x0f, 0, 0, 0, 1, b'<'];
    let (values, err) = decode_all(&b);
    assert_eq!(err, None);
    assert_eq!(values[0].value, Value::LongString("hi".into()));
    assert_eq!(values[1].value, Value::XmlDocument("<".into()));
    assert_eq!(values[0].value.as_str().unwrap(), "hi");
}

#[test]
fn long_string_longer_than_the_data_is_rejected_without_allocating() {
    let e = decode(&[0x0c, 0xff, 0xff, 0xff, 0xff, b'a']).unwrap_err();
    assert_eq!(e.offset, 5);
    assert!(e.expected.contains("of long string"), "{e}");
}

#[test]
fn typed_object_keeps_its_class_name() {
    let mut b = vec![0x10];
    utf8(&mut b, b"com.example.Point");
    utf8(&mut b, b"x");
    number(&mut b, 3.0);
    object_end(&mut b);
    let (node, _) = decode(&b).unwrap();
    assert_eq!(
        node.value,
        Value::typed_object("com.example.Point", [("x", Value::Number(3.0))])
    );
    assert_eq!(node.value.to_string(), "com.example.Point {x: 3}");
}

#[test]
fn unsupported_null_and_undefined_are_single_bytes() {
    let (values, err) = decode_all(&[0x0d, 0x05, 0x06]);
    assert_eq!(err, None);
    let v: Vec<_> = values.into_iter().map(|n| n.value).collect();
    assert_eq!(v, vec![Value::Unsupported, Value::Null, Value::Undefined]);
}

#[test]
fn avmplus_switches_to_amf3_for_one_value() {
    // AVM+ then AMF3 integer 5, then an AMF0 number again.
    let mut b = vec![0x11, 0x04, 0x05];
    number(&mut b, 2.0);
    let (values, err) = decode_all(&b);
    assert_eq!(err, None);
    assert_eq!(values[0].span, Span::new(0, 3));
    let Value::Avmplus(inner) = &values[0].value else {
        panic!("not AVM+")
    };
    assert_eq!(inner.span, Span::new(1, 3));
    assert_eq!(inner.value, Value::Integer(5));
    assert_eq!(values[0].value.as_f64(), Some(5.0));
    assert_eq!(values[1].value, Value::Number(2.0));
}

#[test]
fn avmplus_values_of_one_message_share_amf3_tables() {
    // First AVM+ value sends "abc" inline, the second by reference (index 0);
    // then an object inline and a reference to it (object index 0).
    let b = [
        0x11, 0x06, 0x07, b'a', b'b', b'c', 0x11, 0x06, 0x00, 0x11, 0x0a, 0x0b, 0x01, 0x01, 0x11,
        0x0a, 0x00,
    ];
    let (values, err) = decode_all(&b);
    assert_eq!(err, None);
    assert_eq!(values[1].value.as_str().unwrap(), "abc");
    let Value::Avmplus(inner) = &values[3].value else {
        panic!("not AVM+")
    };
    assert_eq!(
        inner.value,
        Value::Amf3Ref {
            kind: Amf3Kind::Object,
            index: 0
        }
    );
    let resolver = Resolver::amf0(&values);
    assert_eq!(resolver.amf3_target(0).unwrap().span, Span::new(10, 14));
}

#[test]
fn encode_writes_the_spec_layout() {
    let v = Value::object([("app", Value::string("live")), ("n", Value::Number(1.0))]);
    let mut out = Vec::new();
    encode(&v, &mut out).unwrap();
    let mut want = vec![0x03];
    utf8(&mut want, b"app");
    string(&mut want, b"live");
    utf8(&mut want, b"n");
    number(&mut want, 1.0);
    object_end(&mut want);
    assert_eq!(out, want);
}

#[test]
fn encode_all_of_ffmpeg_connect_reproduces_its_bytes() {
    let body = ffmpeg_connect();
    let (values, _) = decode_all(&body);
    let mut out = Vec::new();
    encode_all(values.iter().map(|n| &n.value), &mut out).unwrap();
    assert_eq!(out, body);
}

#[test]
fn long_strings_are_promoted_when_encoding() {
    let s = "x".repeat(70_000);
    let mut out = Vec::new();
    encode(&Value::string(s.as_str()), &mut out).unwrap();
    assert_eq!(out[..5], [0x0c, 0x00, 0x01, 0x11, 0x70]);
    assert_eq!(decode(&out).unwrap().0.value, Value::LongString(s.into()));
}

#[test]
fn encode_rejects_amf3_only_values() {
    let mut out = vec![0xaa];
    let e = encode(&Value::Integer(1), &mut out).unwrap_err();
    assert_eq!(
        e,
        EncodeError::NotInFormat {
            type_name: "integer",
            format: "AMF0"
        }
    );
    assert_eq!(out, vec![0xaa]);
}

#[test]
fn encode_error_leaves_the_output_as_it_was() {
    let v = Value::strict_array([Value::Null, Value::ByteArray(vec![1])]);
    let mut out = vec![1, 2, 3];
    assert!(encode(&v, &mut out).is_err());
    assert_eq!(out, vec![1, 2, 3]);
}

#[test]
fn encode_rejects_dangling_references_and_long_names() {
    let mut out = Vec::new();
    assert_eq!(
        encode(&Value::Reference(0), &mut out),
        Err(EncodeError::DanglingReference {
            index: 0,
            available: 0
        })
    );
    let long = "k".repeat(70_000);
    let v = Value::object([(long.as_str(), Value::Null)]);
    assert!(matches!(
        encode(&v, &mut out),
        Err(EncodeError::TooLong {
            what: "property name",
            ..
        })
    ));
}

#[test]
fn encode_rejects_nesting_beyond_the_limit() {
    let mut v = Value::Null;
    for _ in 0..=MAX_DEPTH {
        v = Value::strict_array([v]);
    }
    assert_eq!(encode(&v, &mut Vec::new()), Err(EncodeError::TooDeep));
}

#[test]
fn avmplus_is_encoded_without_string_references() {
    let inner = Value::amf3_array([Value::string("ab"), Value::string("ab")]);
    let v = Value::Avmplus(Box::new(Node::new(inner.clone())));
    let mut out = Vec::new();
    encode(&v, &mut out).unwrap();
    assert_eq!(
        out,
        [0x11, 0x09, 0x05, 0x01, 0x06, 0x05, b'a', b'b', 0x06, 0x05, b'a', b'b']
    );
    let mut amf3_out = Vec::new();
    crate::amf::amf3::encode(&inner, &mut amf3_out).unwrap();
    assert_eq!(
        amf3_out,
        [0x09, 0x05, 0x01, 0x06, 0x05, b'a', b'b', 0x06, 0x00]
    );
}

#[test]
fn nan_payload_round_trips_bit_for_bit() {
    let nan = f64::from_bits(0x7ff8_0000_dead_beef);
    let mut out = Vec::new();
    encode(&Value::Number(nan), &mut out).unwrap();
    let Value::Number(back) = decode(&out).unwrap().0.value else {
        panic!("not a number")
    };
    assert_eq!(back.to_bits(), nan.to_bits());
}

fn fixed(mut v: Value) -> Value {
    fix_refs(&mut v, &mut RefCounts::default(), false);
    v
}

/// Random bytes, or a valid encoding with a few bytes changed.
fn hostile() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        (
            amf0_value().prop_map(fixed),
            proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        )
            .prop_map(|(v, edits)| {
                let mut buf = {
                    let mut b = Vec::new();
                    encode(&v, &mut b).unwrap();
                    b
                };
                for (i, b) in edits {
                    let i = i.index(buf.len());
                    buf[i] = b;
                }
                buf
            }),
    ]
}

proptest! {
    #[test]
    fn encoded_values_decode_to_themselves(v in amf0_value().prop_map(fixed)) {
        let mut buf = Vec::new();
        encode(&v, &mut buf).unwrap();
        let (node, used) = decode(&buf).unwrap();
        prop_assert_eq!(used, buf.len());
        prop_assert_eq!(node.span, Span::new(0, buf.len()));
        prop_assert_eq!(&node.value, &v);
        prop_assert!(spans_nest(&node).is_ok(), "{:?}", spans_nest(&node));
    }

    #[test]
    fn encoded_messages_decode_to_themselves(values in proptest::collection::vec(amf0_value(), 0..4)) {
        let mut values = values;
        let mut counts = RefCounts::default();
        for v in &mut values {
            fix_refs(v, &mut counts, false);
        }
        let mut buf = Vec::new();
        encode_all(&values, &mut buf).unwrap();
        let (nodes, err) = decode_all(&buf);
        prop_assert_eq!(err, None);
        let decoded: Vec<Value> = nodes.into_iter().map(|n| n.value).collect();
        prop_assert_eq!(decoded, values);
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in hostile()) {
        let (values, err) = decode_all(&bytes);
        if let Some(e) = err {
            prop_assert!(e.offset <= bytes.len() as u64);
        }
        for v in &values {
            prop_assert!(spans_nest(v).is_ok());
            prop_assert!(v.value.summary(80).chars().count() <= 80);
            let _ = v.value.to_json();
        }
    }

    #[test]
    fn decoded_hostile_bytes_reencode_to_equal_values(bytes in hostile()) {
        let (nodes, _) = decode_all(&bytes);
        let values: Vec<Value> = nodes.into_iter().map(|n| n.value).collect();
        let mut first = Vec::new();
        encode_all(&values, &mut first).unwrap();
        let (again, err) = decode_all(&first);
        prop_assert_eq!(err, None);
        let again: Vec<Value> = again.into_iter().map(|n| n.value).collect();
        // NaN never equals itself, so compare the encodings too, bit for bit.
        if !format!("{values:?}").contains("NaN") {
            prop_assert_eq!(&again, &values);
        }
        let mut second = Vec::new();
        encode_all(&again, &mut second).unwrap();
        prop_assert_eq!(second, first);
    }

    #[test]
    fn corrupted_encodings_never_panic(
        v in amf0_value().prop_map(fixed),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = Vec::new();
        encode(&v, &mut buf).unwrap();
        for (i, b) in edits {
            let i = i.index(buf.len());
            buf[i] = b;
        }
        let _ = decode_all(&buf);
        let _ = decode_all(&buf[..cut.index(buf.len() + 1)]);
    }

    #[test]
    fn every_truncation_of_an_encoding_is_an_error(v in amf0_value().prop_map(fixed)) {
        let mut buf = Vec::new();
        encode(&v, &mut buf).unwrap();
        for n in 0..buf.len() {
            prop_assert!(decode(&buf[..n]).is_err());
        }
    }
}
