//! Plain JSON for values, as `rtmpscope decode --json` prints them.

use serde_json::{Map, Value as Json};

use super::string::json_text;
use super::{Property, Value};

/// Deepest nesting written out; deeper values become the string `"…"`.
const JSON_DEPTH: usize = 256;

/// Largest magnitude below which every integer is exactly a double (2^53).
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

impl Value {
    /// The value as plain JSON.
    ///
    /// Numbers are JSON numbers (integral ones as integers, NaN and
    /// infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`);
    /// strings are exact where they are UTF-8 and escaped as in
    /// [`AmfString::display`](super::AmfString::display) where not;
    /// objects and ECMA arrays are JSON objects (a later duplicate key wins;
    /// typed objects add `"$class"`); null, undefined and unsupported are
    /// `null`; dates are `{"date": ms, "tz": minutes}`; byte arrays are hex
    /// strings; references are `{"$ref": index}`; dictionaries are arrays of
    /// `[key, value]` pairs; an externalizable wrapper is what it wraps.
    pub fn to_json(&self) -> Json {
        json(self, 0)
    }
}

fn json(v: &Value, depth: usize) -> Json {
    if depth > JSON_DEPTH {
        return Json::String("…".to_owned());
    }
    match v {
        Value::Number(n) => number(*n),
        Value::Boolean(b) => Json::Bool(*b),
        Value::String(s) | Value::LongString(s) | Value::XmlDocument(s) | Value::Xml(s) => {
            Json::String(json_text(s.as_bytes()))
        }
        Value::Object { class, props } => {
            let mut map = Map::new();
            if let Some(c) = class {
                map.insert("$class".to_owned(), Json::String(json_text(c.as_bytes())));
            }
            insert_props(&mut map, props.iter(), depth);
            Json::Object(map)
        }
        Value::EcmaArray { props, .. } => {
            let mut map = Map::new();
            insert_props(&mut map, props.iter(), depth);
            Json::Object(map)
        }
        Value::Null | Value::Undefined | Value::Unsupported => Json::Null,
        Value::Reference(i) => reference(u32::from(*i)),
        Value::Amf3Ref { index, .. } => reference(*index),
        Value::StrictArray(items) | Value::VectorObject { items, .. } => {
            Json::Array(items.iter().map(|n| json(&n.value, depth + 1)).collect())
        }
        Value::Date { millis, tz_minutes } => {
            let mut map = Map::new();
            map.insert("date".to_owned(), number(*millis));
            map.insert("tz".to_owned(), Json::from(*tz_minutes));
            Json::Object(map)
        }
        Value::Avmplus(inner) => json(&inner.value, depth + 1),
        Value::Integer(i) => Json::from(*i),
        Value::ByteArray(b) => Json::String(hex(b)),
        Value::Amf3Array { assoc, dense } => {
            if assoc.is_empty() {
                Json::Array(dense.iter().map(|n| json(&n.value, depth + 1)).collect())
            } else {
                // A JavaScript array with named members: indices become keys.
                let mut map = Map::new();
                for (i, n) in dense.iter().enumerate() {
                    map.insert(i.to_string(), json(&n.value, depth + 1));
                }
                insert_props(&mut map, assoc.iter(), depth);
                Json::Object(map)
            }
        }
        Value::Amf3Object(o) => match &o.externalizable {
            Some(inner) => json(&inner.value, depth + 1),
            None => {
                let mut map = Map::new();
                if let Some(c) = &o.class {
                    map.insert("$class".to_owned(), Json::String(json_text(c.as_bytes())));
                }
                insert_props(
                    &mut map,
                    o.sealed.iter().chain(o.dynamic.iter().flatten()),
                    depth,
                );
                Json::Object(map)
            }
        },
        Value::VectorInt { items, .. } => items.iter().map(|&i| Json::from(i)).collect(),
        Value::VectorUint { items, .. } => items.iter().map(|&i| Json::from(i)).collect(),
        Value::VectorDouble { items, .. } => items.iter().map(|&n| number(n)).collect(),
        Value::Dictionary { entries, .. } => entries
            .iter()
            .map(|(k, v)| Json::Array(vec![json(&k.value, depth + 1), json(&v.value, depth + 1)]))
            .collect(),
    }
}

fn insert_props<'p>(
    map: &mut Map<String, Json>,
    props: impl Iterator<Item = &'p Property>,
    depth: usize,
) {
    for p in props {
        map.insert(json_text(p.key.as_bytes()), json(&p.value.value, depth + 1));
    }
}

fn reference(index: u32) -> Json {
    let mut map = Map::new();
    map.insert("$ref".to_owned(), Json::from(index));
    Json::Object(map)
}

/// A double as JSON: an integer when exact, a string for NaN and the infinities.
pub(super) fn number(n: f64) -> Json {
    if n.is_nan() {
        Json::String("NaN".to_owned())
    } else if n.is_infinite() {
        Json::String(if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned())
    } else if n.fract() == 0.0 && n.abs() <= EXACT_INTEGER_LIMIT {
        Json::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amf::{Amf3Kind, AmfString, Node};
    use serde_json::json;

    #[test]
    fn integral_numbers_become_json_integers() {
        assert_eq!(Value::Number(3.0).to_json(), json!(3));
        assert_eq!(Value::Number(-0.5).to_json(), json!(-0.5));
        assert_eq!(Value::Number(1e300).to_json(), json!(1e300));
    }

    #[test]
    fn non_finite_numbers_become_strings() {
        assert_eq!(Value::Number(f64::NAN).to_json(), json!("NaN"));
        assert_eq!(Value::Number(f64::INFINITY).to_json(), json!("Infinity"));
        assert_eq!(
            Value::Number(f64::NEG_INFINITY).to_json(),
            json!("-Infinity")
        );
    }

    #[test]
    fn utf8_strings_are_exact_and_invalid_bytes_escaped() {
        let nul = Value::String(AmfString::new(vec![0, 0]));
        assert_eq!(nul.to_json(), json!("\u{0}\u{0}"));
        let bad = Value::String(AmfString::new(b"a\xffb".to_vec()));
        assert_eq!(bad.to_json(), json!("a\\xffb"));
    }

    #[test]
    fn objects_become_json_objects_with_later_duplicates_winning() {
        let v = Value::object([
            ("a", Value::Number(1.0)),
            ("b", Value::Null),
            ("a", Value::Boolean(true)),
        ]);
        assert_eq!(v.to_json(), json!({"a": true, "b": null}));
    }

    #[test]
    fn typed_objects_carry_their_class() {
        let v = Value::typed_object("Point", [("x", Value::Number(1.0))]);
        assert_eq!(v.to_json(), json!({"$class": "Point", "x": 1}));
    }

    #[test]
    fn dates_references_and_bytes_have_fixed_shapes() {
        let d = Value::Date {
            millis: 1000.0,
            tz_minutes: 0,
        };
        assert_eq!(d.to_json(), json!({"date": 1000, "tz": 0}));
        assert_eq!(Value::Reference(2).to_json(), json!({"$ref": 2}));
        let r = Value::Amf3Ref {
            kind: Amf3Kind::Object,
            index: 5,
        };
        assert_eq!(r.to_json(), json!({"$ref": 5}));
        assert_eq!(Value::ByteArray(vec![0x0a, 0xff]).to_json(), json!("0aff"));
    }

    #[test]
    fn null_undefined_and_avmplus_are_plain() {
        assert_eq!(Value::Undefined.to_json(), json!(null));
        let v = Value::Avmplus(Box::new(Node::new(Value::Integer(4))));
        assert_eq!(v.to_json(), json!(4));
    }

    #[test]
    fn amf3_array_with_named_members_becomes_object() {
        let v = Value::Amf3Array {
            assoc: vec![Property::new("k", Value::Null)],
            dense: vec![Node::new(Value::Integer(7))],
        };
        assert_eq!(v.to_json(), json!({"0": 7, "k": null}));
        assert_eq!(Value::amf3_array([Value::Integer(1)]).to_json(), json!([1]));
    }
}
