use super::*;
use crate::amf::testgen::{amf3_value, fix_refs, spans_nest, RefCounts};
use crate::amf::Resolver;
use proptest::prelude::*;

fn one(b: &[u8]) -> Value {
    let (node, used) = decode(b).unwrap();
    assert_eq!(used, b.len(), "bytes consumed");
    node.value
}

fn all(b: &[u8]) -> Vec<Value> {
    let (values, err) = decode_all(b);
    assert_eq!(err, None);
    values.into_iter().map(|n| n.value).collect()
}

fn encoded(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode(v, &mut out).unwrap();
    out
}

#[test]
fn u29_takes_one_to_four_bytes() {
    assert_eq!(one(&[0x04, 0x7f]), Value::Integer(127));
    assert_eq!(one(&[0x04, 0x81, 0x00]), Value::Integer(128));
    assert_eq!(
        one(&[0x04, 0xff, 0xff, 0x7f]),
        Value::Integer((1 << 21) - 1)
    );
    assert_eq!(
        one(&[0x04, 0x80, 0xc0, 0x80, 0x00]),
        Value::Integer(1 << 21)
    );
    assert_eq!(
        one(&[0x04, 0xbf, 0xff, 0xff, 0xff]),
        Value::Integer(INTEGER_MAX)
    );
}

#[test]
fn integers_sign_extend_from_29_bits() {
    assert_eq!(one(&[0x04, 0xff, 0xff, 0xff, 0xff]), Value::Integer(-1));
    assert_eq!(
        one(&[0x04, 0xc0, 0x80, 0x80, 0x00]),
        Value::Integer(INTEGER_MIN)
    );
}

#[test]
fn u29_reads_at_most_four_bytes() {
    // The fourth byte's high bit is data, not a continuation flag.
    let values = all(&[0x04, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert_eq!(values, vec![Value::Integer(-1), Value::Null]);
}

#[test]
fn integers_encode_in_the_shortest_u29() {
    assert_eq!(encoded(&Value::Integer(0)), [0x04, 0x00]);
    assert_eq!(encoded(&Value::Integer(127)), [0x04, 0x7f]);
    assert_eq!(encoded(&Value::Integer(128)), [0x04, 0x81, 0x00]);
    assert_eq!(encoded(&Value::Integer(16383)), [0x04, 0xff, 0x7f]);
    assert_eq!(encoded(&Value::Integer(16384)), [0x04, 0x81, 0x80, 0x00]);
    assert_eq!(
        encoded(&Value::Integer(1 << 21)),
        [0x04, 0x80, 0xc0, 0x80, 0x00]
    );
    assert_eq!(encoded(&Value::Integer(-1)), [0x04, 0xff, 0xff, 0xff, 0xff]);
}

#[test]
fn integers_beyond_29_bits_are_sent_as_doubles() {
    let out = encoded(&Value::Integer(1 << 28));
    assert_eq!(out[0], AMF3_DOUBLE);
    assert_eq!(one(&out), Value::Number(268_435_456.0));
}

#[test]
fn double_and_constants_decode() {
    let mut b = vec![0x05];
    b.extend_from_slice(&2.5f64.to_be_bytes());
    b.extend_from_slice(&[0x00, 0x01, 0x02, 0x03]);
    assert_eq!(
        all(&b),
        vec![
            Value::Number(2.5),
            Value::Undefined,
            Value::Null,
            Value::Boolean(false),
            Value::Boolean(true)
        ]
    );
}

#[test]
fn string_references_repeat_earlier_strings() {
    let values = all(&[0x06, 0x07, b'a', b'b', b'c', 0x06, 0x00]);
    assert_eq!(values, vec![Value::string("abc"), Value::string("abc")]);
}

#[test]
fn empty_strings_never_enter_the_string_table() {
    let values = all(&[0x06, 0x01, 0x06, 0x03, b'x', 0x06, 0x00]);
    assert_eq!(
        values,
        vec![Value::string(""), Value::string("x"), Value::string("x")]
    );
}

#[test]
fn string_reference_beyond_the_table_is_rejected() {
    let e = decode_all(&[0x06, 0x03, b'x', 0x06, 0x02]).1.unwrap();
    assert_eq!(e.offset, 4);
    assert_eq!(
        e.expected,
        "string reference to one of the 1 earlier strings"
    );
    assert_eq!(e.found, "index 1");
}

#[test]
fn string_span_of_a_reference_covers_only_the_reference() {
    let (nodes, _) = decode_all(&[0x06, 0x07, b'a', b'b', b'c', 0x06, 0x00]);
    assert_eq!(nodes[1].span, Span::new(5, 7));
}

#[test]
fn anonymous_dynamic_object_decodes() {
    // {a: 1}: traits inline, dynamic, no sealed members, empty class name.
    let b = [0x0a, 0x0b, 0x01, 0x03, b'a', 0x04, 0x01, 0x01];
    let v = one(&b);
    assert_eq!(v, Value::amf3_object([("a", Value::Integer(1))]));
    assert_eq!(v.get("a").unwrap().span, Span::new(5, 7));
}

/// Two `org.Pt` objects with sealed x and y in a dense array; the second
/// sends its traits by reference and its values only.
fn two_points() -> Vec<u8> {
    let mut b = vec![0x09, 0x05, 0x01];
    b.extend_from_slice(&[0x0a, 0x23, 0x0d]);
    b.extend_from_slice(b"org.Pt");
    b.extend_from_slice(&[0x03, b'x', 0x03, b'y', 0x04, 0x01, 0x04, 0x02]);
    b.extend_from_slice(&[0x0a, 0x01, 0x04, 0x03, 0x04, 0x04]);
    b
}

fn point(x: i32, y: i32) -> Value {
    Value::Amf3Object(Box::new(Amf3Object {
        class: Some("org.Pt".into()),
        sealed: vec![
            Property::new("x", Value::Integer(x)),
            Property::new("y", Value::Integer(y)),
        ],
        dynamic: None,
        externalizable: None,
    }))
}

#[test]
fn trait_references_reuse_class_and_sealed_names() {
    let v = one(&two_points());
    assert_eq!(v, Value::amf3_array([point(1, 2), point(3, 4)]));
}

#[test]
fn sealed_key_spans_point_at_the_traits() {
    let b = two_points();
    let v = one(&b);
    let second = &v.items().unwrap()[1].value;
    let Value::Amf3Object(o) = second else {
        panic!("not an object")
    };
    // The second object's names live in the first object's traits.
    assert_eq!(&b[o.sealed[1].key_span.range()], b"\x03y");
}

#[test]
fn encoder_sends_repeated_traits_and_strings_by_reference() {
    let v = Value::amf3_array([point(1, 2), point(3, 4)]);
    assert_eq!(encoded(&v), two_points());
}

#[test]
fn trait_reference_beyond_the_table_is_rejected() {
    let e = decode(&[0x0a, 0x05]).unwrap_err();
    assert_eq!(e.offset, 1);
    assert_eq!(e.expected, "trait reference to one of the 0 earlier traits");
}

#[test]
fn object_reference_stays_a_reference() {
    // [{}, <ref 1>]: the array is object 0, the inner object is 1.
    let b = [0x09, 0x05, 0x01, 0x0a, 0x0b, 0x01, 0x01, 0x0a, 0x02];
    let v = one(&b);
    let items = v.items().unwrap();
    assert_eq!(
        items[1].value,
        Value::Amf3Ref {
            kind: Amf3Kind::Object,
            index: 1
        }
    );
    assert_eq!(items[1].value.to_json(), serde_json::json!({"$ref": 1}));
}

#[test]
fn self_reference_decodes_to_a_reference_to_itself() {
    // {me: <ref 0>}
    let b = [0x0a, 0x0b, 0x01, 0x05, b'm', b'e', 0x0a, 0x00, 0x01];
    let (node, _) = decode(&b).unwrap();
    assert_eq!(
        node.value.get("me").unwrap().value,
        Value::Amf3Ref {
            kind: Amf3Kind::Object,
            index: 0
        }
    );
    let nodes = [node];
    let r = Resolver::amf3(&nodes);
    let resolved = r.resolve(&nodes[0], 1000);
    assert!(!resolved.complete);
}

#[test]
fn object_reference_beyond_the_table_is_rejected() {
    let e = decode(&[0x09, 0x04]).unwrap_err();
    assert_eq!(e.offset, 1);
    assert!(e.expected.contains("0 earlier complex values"), "{e}");
    assert_eq!(e.found, "index 2");
}

#[test]
fn array_collection_wraps_one_value() {
    let mut b = vec![0x0a, 0x07, 0x43];
    b.extend_from_slice(b"flex.messaging.io.ArrayCollection");
    b.extend_from_slice(&[0x09, 0x03, 0x01, 0x04, 0x01]);
    let v = one(&b);
    let Value::Amf3Object(o) = &v else {
        panic!("not an object")
    };
    assert_eq!(
        o.class.as_ref().unwrap(),
        "flex.messaging.io.ArrayCollection"
    );
    assert_eq!(
        o.externalizable.as_ref().unwrap().value,
        Value::amf3_array([Value::Integer(1)])
    );
    assert_eq!(v.to_json(), serde_json::json!([1]));
    assert_eq!(encoded(&v), b);
}

#[test]
fn unknown_externalizable_class_is_an_error_naming_it() {
    let mut b = vec![0x0a, 0x07, 0x1b];
    b.extend_from_slice(b"com.acme.Blob");
    b.extend_from_slice(&[0xde, 0xad]);
    let e = decode(&b).unwrap_err();
    assert_eq!(e.offset, 16);
    assert!(e.expected.contains("externalizable class"), "{e}");
    assert_eq!(e.found, "class \"com.acme.Blob\"");
}

#[test]
fn date_is_a_complex_value_that_can_be_referenced() {
    let mut b = vec![0x09, 0x05, 0x01, 0x08, 0x01];
    b.extend_from_slice(&86_400_000f64.to_be_bytes());
    b.extend_from_slice(&[0x08, 0x02]);
    let v = one(&b);
    let items = v.items().unwrap();
    assert_eq!(
        items[0].value,
        Value::Date {
            millis: 86_400_000.0,
            tz_minutes: 0
        }
    );
    assert_eq!(
        items[1].value,
        Value::Amf3Ref {
            kind: Amf3Kind::Date,
            index: 1
        }
    );
}

#[test]
fn array_with_associative_part_decodes() {
    // ["x", k: true]
    let b = [0x09, 0x03, 0x03, b'k', 0x03, 0x01, 0x06, 0x03, b'x'];
    assert_eq!(
        one(&b),
        Value::Amf3Array {
            assoc: vec![Property::new("k", Value::Boolean(true))],
            dense: vec![Node::new(Value::string("x"))],
        }
    );
}

#[test]
fn byte_array_xml_and_xml_document_decode() {
    let b = [
        0x0c, 0x05, 0xca, 0xfe, 0x0b, 0x03, b'<', 0x07, 0x03, b'>', 0x0c, 0x00,
    ];
    assert_eq!(
        all(&b),
        vec![
            Value::ByteArray(vec![0xca, 0xfe]),
            Value::Xml("<".into()),
            Value::XmlDocument(">".into()),
            Value::Amf3Ref {
                kind: Amf3Kind::ByteArray,
                index: 0
            },
        ]
    );
}

#[test]
fn vectors_decode_each_element_type() {
    let mut b = vec![0x0d, 0x05, 0x01];
    b.extend_from_slice(&(-2i32).to_be_bytes());
    b.extend_from_slice(&7i32.to_be_bytes());
    b.extend_from_slice(&[0x0e, 0x03, 0x00]);
    b.extend_from_slice(&u32::MAX.to_be_bytes());
    b.extend_from_slice(&[0x0f, 0x03, 0x00]);
    b.extend_from_slice(&0.5f64.to_be_bytes());
    b.extend_from_slice(&[0x10, 0x03, 0x00, 0x03, b'*', 0x01]);
    assert_eq!(
        all(&b),
        vec![
            Value::VectorInt {
                fixed: true,
                items: vec![-2, 7]
            },
            Value::VectorUint {
                fixed: false,
                items: vec![u32::MAX]
            },
            Value::VectorDouble {
                fixed: false,
                items: vec![0.5]
            },
            Value::VectorObject {
                fixed: false,
                type_name: "*".into(),
                items: vec![Node::new(Value::Null)]
            },
        ]
    );
}

#[test]
fn vector_length_beyond_the_bytes_left_is_rejected() {
    let e = decode(&[0x0f, 0xbf, 0xff, 0xff, 0xff, 0x00, 0x00]).unwrap_err();
    assert!(e.expected.contains("Vector.<Number> elements"), "{e}");
    let e = decode(&[0x10, 0xbf, 0xff, 0xff, 0xff, 0x00, 0x01, 0x01]).unwrap_err();
    assert!(e.expected.contains("vector length of at most 1"), "{e}");
}

#[test]
fn dictionary_decodes_any_keys() {
    let b = [0x11, 0x05, 0x01, 0x04, 0x01, 0x06, 0x03, b'a', 0x03, 0x02];
    assert_eq!(
        one(&b),
        Value::Dictionary {
            weak_keys: true,
            entries: vec![
                (Node::new(Value::Integer(1)), Node::new(Value::string("a"))),
                (
                    Node::new(Value::Boolean(true)),
                    Node::new(Value::Boolean(false))
                ),
            ],
        }
    );
}

#[test]
fn dictionary_count_beyond_the_bytes_left_is_rejected() {
    let e = decode(&[0x11, 0x07, 0x00, 0x01, 0x01, 0x01]).unwrap_err();
    assert!(
        e.expected.contains("dictionary entry count of at most 1"),
        "{e}"
    );
}

#[test]
fn sealed_member_count_beyond_the_bytes_left_is_rejected() {
    // Inline traits claiming 2^24 sealed members.
    let e = decode(&[0x0a, 0xc0, 0x80, 0x80, 0x03, 0x01]).unwrap_err();
    assert_eq!(e.offset, 1);
    assert!(e.expected.contains("sealed member count"), "{e}");
}

#[test]
fn unknown_marker_is_an_error() {
    let e = decode(&[0x12]).unwrap_err();
    assert_eq!(e.expected, "AMF3 marker (00 to 11)");
    assert_eq!(e.found, "12");
}

#[test]
fn nesting_beyond_the_limit_is_rejected() {
    let mut b = Vec::new();
    for _ in 0..=MAX_DEPTH {
        b.extend_from_slice(&[0x09, 0x03, 0x01]);
    }
    b.push(0x01);
    let e = decode(&b).unwrap_err();
    assert!(e.expected.contains("nested at most 64"), "{e}");
    assert!(decode(&b[3..]).is_ok());
}

#[test]
fn string_references_cannot_expand_past_the_limit() {
    // One 1 MiB string, then 17 references to it: 17 MiB of copies.
    let len = 1 << 20;
    let mut b = vec![0x06];
    write_u29(&mut b, ((len as u32) << 1) | 1);
    b.resize(b.len() + len, b'x');
    for _ in 0..17 {
        b.extend_from_slice(&[0x06, 0x00]);
    }
    let (values, err) = decode_all(&b);
    let err = err.unwrap();
    assert!(err.expected.contains("references copying at most"), "{err}");
    assert_eq!(values.len(), 17);
}

#[test]
fn encode_rejects_amf0_only_values_and_dates_with_time_zones() {
    let e = encode(&Value::LongString("x".into()), &mut Vec::new()).unwrap_err();
    assert_eq!(
        e,
        EncodeError::NotInFormat {
            type_name: "long-string",
            format: "AMF3"
        }
    );
    let d = Value::Date {
        millis: 0.0,
        tz_minutes: 60,
    };
    assert!(matches!(
        encode(&d, &mut Vec::new()),
        Err(EncodeError::Invalid(_))
    ));
}

#[test]
fn encode_rejects_empty_dynamic_member_names() {
    let v = Value::amf3_object([("", Value::Null)]);
    assert!(matches!(
        encode(&v, &mut Vec::new()),
        Err(EncodeError::Invalid(_))
    ));
}

#[test]
fn encode_rejects_dangling_object_references() {
    let v = Value::amf3_array([Value::Amf3Ref {
        kind: Amf3Kind::Array,
        index: 1,
    }]);
    assert_eq!(
        encode(&v, &mut Vec::new()),
        Err(EncodeError::DanglingReference {
            index: 1,
            available: 1
        })
    );
}

#[test]
fn encode_all_shares_tables_like_decode_all() {
    let values = [Value::string("live"), Value::string("live")];
    let mut out = Vec::new();
    encode_all(&values, &mut out).unwrap();
    assert_eq!(out, [0x06, 0x09, b'l', b'i', b'v', b'e', 0x06, 0x00]);
    assert_eq!(all(&out), values);
}

fn fixed(mut v: Value) -> Value {
    fix_refs(&mut v, &mut RefCounts::default(), true);
    v
}

/// Random bytes, or a valid encoding with a few bytes changed.
fn hostile() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        (
            amf3_value().prop_map(fixed),
            proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        )
            .prop_map(|(v, edits)| {
                let mut buf = encoded(&v);
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
    fn encoded_values_decode_to_themselves(v in amf3_value().prop_map(fixed)) {
        let out = encoded(&v);
        let (node, used) = decode(&out).unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(&node.value, &v);
        prop_assert!(spans_nest(&node).is_ok(), "{:?}", spans_nest(&node));
    }

    #[test]
    fn encoded_sequences_decode_to_themselves(values in proptest::collection::vec(amf3_value(), 0..4)) {
        let mut values = values;
        let mut counts = RefCounts::default();
        for v in &mut values {
            fix_refs(v, &mut counts, true);
        }
        let mut out = Vec::new();
        encode_all(&values, &mut out).unwrap();
        let (nodes, err) = decode_all(&out);
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
        let r = Resolver::amf3(&values);
        for v in &values {
            prop_assert!(spans_nest(v).is_ok());
            prop_assert!(v.value.summary(80).chars().count() <= 80);
            let _ = v.value.to_json();
            let _ = r.resolve(v, 1000);
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
        v in amf3_value().prop_map(fixed),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = encoded(&v);
        for (i, b) in edits {
            let i = i.index(buf.len());
            buf[i] = b;
        }
        let _ = decode_all(&buf);
        let _ = decode_all(&buf[..cut.index(buf.len() + 1)]);
    }
}
