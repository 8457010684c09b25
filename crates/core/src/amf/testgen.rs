//! Proptest strategies for the values each format carries, and helpers for the property tests.

use proptest::collection::vec;
use proptest::prelude::*;

use super::amf3::{INTEGER_MAX, INTEGER_MIN, KNOWN_EXTERNALIZABLE};
use super::{Amf3Kind, Amf3Object, AmfString, Node, Property, Span, Value};

fn number() -> impl Strategy<Value = f64> {
    // NaN never equals itself, so round trips compare it bit for bit in unit tests instead.
    any::<f64>().prop_filter("not NaN", |n| !n.is_nan())
}

/// Any bytes, or a few letters and NULs so that strings repeat and AMF3 sends references.
fn text(max: usize) -> impl Strategy<Value = AmfString> {
    prop_oneof![
        vec(prop::sample::select(vec![b'a', b'b', 0u8]), 0..4).prop_map(AmfString),
        vec(any::<u8>(), 0..max).prop_map(AmfString),
    ]
}

fn non_empty_text() -> impl Strategy<Value = AmfString> {
    text(12).prop_filter("non-empty", |s| !s.is_empty())
}

fn name() -> impl Strategy<Value = AmfString> {
    prop::sample::select(vec!["a", "b", "cd", "", "\0"]).prop_map(AmfString::from)
}

fn props(
    key: impl Strategy<Value = AmfString>,
    value: impl Strategy<Value = Value>,
) -> impl Strategy<Value = Vec<Property>> {
    vec((key, value), 0..5)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| Property::new(k, v)).collect())
}

fn nodes(value: impl Strategy<Value = Value>) -> impl Strategy<Value = Vec<Node>> {
    vec(value, 0..5).prop_map(|v| v.into_iter().map(Node::new).collect())
}

fn amf0_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        number().prop_map(Value::Number),
        any::<bool>().prop_map(Value::Boolean),
        text(40).prop_map(Value::String),
        Just(Value::Null),
        Just(Value::Undefined),
        any::<u16>().prop_map(Value::Reference),
        (number(), any::<i16>())
            .prop_map(|(millis, tz_minutes)| Value::Date { millis, tz_minutes }),
        text(40).prop_map(Value::LongString),
        Just(Value::Unsupported),
        text(40).prop_map(Value::XmlDocument),
    ]
}

/// AMF0 values, nested, with AMF3 inside AVM+ (reference indices need [`fix_refs`]).
pub(super) fn amf0_value() -> impl Strategy<Value = Value> {
    amf0_leaf().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            (prop::option::of(text(8)), props(name(), inner.clone()))
                .prop_map(|(class, props)| Value::Object { class, props }),
            (any::<u32>(), props(name(), inner.clone()))
                .prop_map(|(count_hint, props)| Value::EcmaArray { count_hint, props }),
            nodes(inner).prop_map(Value::StrictArray),
            amf3_value().prop_map(|v| Value::Avmplus(Box::new(Node::new(v)))),
        ]
    })
}

fn amf3_kind() -> impl Strategy<Value = Amf3Kind> {
    prop::sample::select(vec![
        Amf3Kind::XmlDocument,
        Amf3Kind::Date,
        Amf3Kind::Array,
        Amf3Kind::Object,
        Amf3Kind::Xml,
        Amf3Kind::ByteArray,
        Amf3Kind::VectorInt,
        Amf3Kind::VectorUint,
        Amf3Kind::VectorDouble,
        Amf3Kind::VectorObject,
        Amf3Kind::Dictionary,
    ])
}

fn amf3_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Undefined),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Boolean),
        (INTEGER_MIN..=INTEGER_MAX).prop_map(Value::Integer),
        number().prop_map(Value::Number),
        text(40).prop_map(Value::String),
        text(20).prop_map(Value::XmlDocument),
        text(20).prop_map(Value::Xml),
        number().prop_map(|millis| Value::Date {
            millis,
            tz_minutes: 0
        }),
        vec(any::<u8>(), 0..20).prop_map(Value::ByteArray),
        (any::<bool>(), vec(any::<i32>(), 0..5))
            .prop_map(|(fixed, items)| Value::VectorInt { fixed, items }),
        (any::<bool>(), vec(any::<u32>(), 0..5))
            .prop_map(|(fixed, items)| Value::VectorUint { fixed, items }),
        (any::<bool>(), vec(number(), 0..5))
            .prop_map(|(fixed, items)| Value::VectorDouble { fixed, items }),
        (amf3_kind(), any::<u32>()).prop_map(|(kind, index)| Value::Amf3Ref { kind, index }),
    ]
}

/// AMF3 values, nested (reference indices need [`fix_refs`]).
pub(super) fn amf3_value() -> impl Strategy<Value = Value> {
    amf3_leaf().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            (props(non_empty_text(), inner.clone()), nodes(inner.clone()))
                .prop_map(|(assoc, dense)| Value::Amf3Array { assoc, dense }),
            (
                prop::option::of(prop::sample::select(vec!["C", "org.Pt", "\0"])),
                props(name(), inner.clone()),
                prop::option::of(props(non_empty_text(), inner.clone())),
            )
                .prop_map(|(class, sealed, dynamic)| {
                    Value::Amf3Object(Box::new(Amf3Object {
                        class: class.map(AmfString::from),
                        sealed,
                        dynamic,
                        externalizable: None,
                    }))
                }),
            (prop::sample::select(KNOWN_EXTERNALIZABLE), inner.clone()).prop_map(|(class, v)| {
                Value::Amf3Object(Box::new(Amf3Object {
                    class: Some(class.into()),
                    externalizable: Some(Box::new(Node::new(v))),
                    ..Default::default()
                }))
            }),
            (any::<bool>(), text(6), nodes(inner.clone())).prop_map(|(fixed, type_name, items)| {
                Value::VectorObject {
                    fixed,
                    type_name,
                    items,
                }
            }),
            (any::<bool>(), vec((inner.clone(), inner), 0..4)).prop_map(|(weak_keys, kv)| {
                Value::Dictionary {
                    weak_keys,
                    entries: kv
                        .into_iter()
                        .map(|(k, v)| (Node::new(k), Node::new(v)))
                        .collect(),
                }
            }),
        ]
    })
}

/// Reference counts while walking values in wire order.
#[derive(Default)]
pub(super) struct RefCounts {
    amf0: u32,
    amf3: u32,
}

/// Rewrites reference indices to point at values that precede them (or replaces them with null).
pub(super) fn fix_refs(v: &mut Value, counts: &mut RefCounts, in_amf3: bool) {
    match v {
        Value::Reference(i) => {
            if counts.amf0 == 0 {
                *v = Value::Null;
            } else {
                *i = (u32::from(*i) % counts.amf0) as u16;
            }
            return;
        }
        Value::Amf3Ref { index, .. } => {
            if counts.amf3 == 0 {
                *v = Value::Null;
            } else {
                *index %= counts.amf3;
            }
            return;
        }
        _ => {}
    }
    if in_amf3 {
        if !matches!(
            v,
            Value::Undefined
                | Value::Null
                | Value::Boolean(_)
                | Value::Integer(_)
                | Value::Number(_)
                | Value::String(_)
        ) {
            counts.amf3 += 1;
        }
    } else if matches!(
        v,
        Value::Object { .. } | Value::EcmaArray { .. } | Value::StrictArray(_)
    ) {
        counts.amf0 += 1;
    }
    let amf3 = in_amf3 || matches!(v, Value::Avmplus(_));
    match v {
        Value::Object { props, .. } | Value::EcmaArray { props, .. } => {
            for p in props {
                fix_refs(&mut p.value.value, counts, amf3);
            }
        }
        Value::StrictArray(items) | Value::VectorObject { items, .. } => {
            for n in items {
                fix_refs(&mut n.value, counts, amf3);
            }
        }
        Value::Avmplus(inner) => fix_refs(&mut inner.value, counts, amf3),
        Value::Amf3Array { assoc, dense } => {
            for p in assoc {
                fix_refs(&mut p.value.value, counts, amf3);
            }
            for n in dense {
                fix_refs(&mut n.value, counts, amf3);
            }
        }
        Value::Amf3Object(o) => {
            if let Some(inner) = &mut o.externalizable {
                fix_refs(&mut inner.value, counts, amf3);
            }
            for p in o.sealed.iter_mut().chain(o.dynamic.iter_mut().flatten()) {
                fix_refs(&mut p.value.value, counts, amf3);
            }
        }
        Value::Dictionary { entries, .. } => {
            for (k, val) in entries {
                fix_refs(&mut k.value, counts, amf3);
                fix_refs(&mut val.value, counts, amf3);
            }
        }
        _ => {}
    }
}

/// Checks that every child's span lies inside its parent's, in order; returns the first violation.
pub(super) fn spans_nest(node: &Node) -> Result<(), String> {
    let mut last = node.span.start;
    for child in node.value.children() {
        let Span { start, end } = child.span;
        if start < last || end > node.span.end || start >= end {
            return Err(format!(
                "child {:?} of {:?} at {:?} out of place",
                child.span,
                node.value.type_name(),
                node.span
            ));
        }
        last = end;
        spans_nest(child)?;
    }
    Ok(())
}
