//! AMF0 and AMF3 values in one [`Value`] tree, with the byte span of every value.
//!
//! RTMP commands and data messages are sequences of AMF0 values
//! ([`amf0::decode_all`]); AMF3 appears behind the AMF0 "AVM+" marker
//! ([`Value::Avmplus`]) or on its own ([`amf3::decode_all`]).
//!
//! Decoding is strict about bounds and lenient about meaning: every length
//! is checked against the bytes left before anything is allocated, nesting is
//! capped at [`MAX_DEPTH`], and string bytes are kept exactly as sent.
//! References to earlier objects stay references in the tree (a [`Resolver`]
//! expands them within a budget), so a hostile message cannot make the tree
//! grow faster than its bytes. AMF3 string and trait references, which cannot
//! nest, are expanded while decoding, within [`REFERENCE_EXPANSION_LIMIT`].
//!
//! ```
//! use rtmpscope_core::amf::{amf0, Value};
//!
//! let mut body = Vec::new();
//! amf0::encode(&Value::string("connect"), &mut body).unwrap();
//! amf0::encode(&Value::Number(1.0), &mut body).unwrap();
//! amf0::encode(&Value::object([("app", Value::string("live"))]), &mut body).unwrap();
//!
//! let (values, error) = amf0::decode_all(&body);
//! assert!(error.is_none());
//! assert_eq!(values[0].value.as_str().unwrap(), "connect");
//! assert_eq!(values[2].value.get("app").unwrap().value.as_str().unwrap(), "live");
//! assert_eq!(values[2].value.to_string(), r#"{app: "live"}"#);
//! ```

#![warn(missing_docs)]

pub mod amf0;
pub mod amf3;
mod display;
mod json;
mod resolve;
mod string;
#[cfg(test)]
mod testgen;

pub use display::SUMMARY_LIMIT;
pub use resolve::{Resolved, Resolver};
pub use string::{AmfString, Escaped};

use crate::error::DecodeError;

/// Deepest nesting the decoders accept and the encoders write: a top-level value is at depth 0.
pub const MAX_DEPTH: usize = 64;

/// Most bytes that AMF3 string and trait references may copy while decoding one buffer.
///
/// A 2-byte reference can repeat a long string, so without a cap a small
/// message could expand into gigabytes.
pub const REFERENCE_EXPANSION_LIMIT: usize = 16 << 20;

/// Largest element count reserved up front; longer sequences grow as they decode.
const PREALLOC_LIMIT: usize = 4096;

/// Byte offsets `start..end` within the buffer handed to the decoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Span {
    /// Offset of the first byte (a value's marker byte).
    pub start: u32,
    /// Offset just past the last byte.
    pub end: u32,
}

impl Span {
    /// The span `start..end`, saturating offsets beyond `u32::MAX`.
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// Number of bytes covered.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    /// Whether the span covers no bytes (values built in code rather than decoded).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The span as a range for slicing the decoded buffer.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A value with the bytes it was decoded from.
///
/// Equality compares values only, never spans, so a decoded tree equals the
/// same tree built in code.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where the value's bytes are, marker included.
    pub span: Span,
    /// The value.
    pub value: Value,
}

impl Node {
    /// A node for a value built in code (empty span).
    pub fn new(value: Value) -> Self {
        Node {
            span: Span::default(),
            value,
        }
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl From<Value> for Node {
    fn from(value: Value) -> Self {
        Node::new(value)
    }
}

/// A named member of an object, ECMA array or AMF3 array.
///
/// Equality compares key and value, never spans.
#[derive(Debug, Clone)]
pub struct Property {
    /// The member name, exact bytes.
    pub key: AmfString,
    /// Where the name's bytes are (length prefix included; for AMF3 sealed
    /// members, the name's place in the traits, which may be in an earlier object).
    pub key_span: Span,
    /// The member value.
    pub value: Node,
}

impl Property {
    /// A property built in code.
    pub fn new(key: impl Into<AmfString>, value: Value) -> Self {
        Property {
            key: key.into(),
            key_span: Span::default(),
            value: Node::new(value),
        }
    }
}

impl PartialEq for Property {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.value == other.value
    }
}

/// An AMF3 object: class, sealed members, dynamic members or externalized content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Amf3Object {
    /// Class name; `None` for an anonymous object (empty class name on the wire).
    pub class: Option<AmfString>,
    /// Sealed members, named by the traits, in trait order.
    pub sealed: Vec<Property>,
    /// Dynamic members; `None` when the traits are not dynamic.
    pub dynamic: Option<Vec<Property>>,
    /// For an externalizable class, the value it wrote (known classes only).
    pub externalizable: Option<Box<Node>>,
}

/// Which AMF3 type a reference to an earlier object was sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Amf3Kind {
    /// XMLDocument, marker 0x07.
    XmlDocument,
    /// Date, marker 0x08.
    Date,
    /// Array, marker 0x09.
    Array,
    /// Object, marker 0x0A.
    Object,
    /// XML (E4X), marker 0x0B.
    Xml,
    /// ByteArray, marker 0x0C.
    ByteArray,
    /// Vector.<int>, marker 0x0D.
    VectorInt,
    /// Vector.<uint>, marker 0x0E.
    VectorUint,
    /// Vector.<Number>, marker 0x0F.
    VectorDouble,
    /// Vector.<Object>, marker 0x10.
    VectorObject,
    /// Dictionary, marker 0x11.
    Dictionary,
}

impl Amf3Kind {
    /// The AMF3 marker byte of this type.
    pub fn marker(self) -> u8 {
        match self {
            Amf3Kind::XmlDocument => amf3::AMF3_XML_DOCUMENT,
            Amf3Kind::Date => amf3::AMF3_DATE,
            Amf3Kind::Array => amf3::AMF3_ARRAY,
            Amf3Kind::Object => amf3::AMF3_OBJECT,
            Amf3Kind::Xml => amf3::AMF3_XML,
            Amf3Kind::ByteArray => amf3::AMF3_BYTE_ARRAY,
            Amf3Kind::VectorInt => amf3::AMF3_VECTOR_INT,
            Amf3Kind::VectorUint => amf3::AMF3_VECTOR_UINT,
            Amf3Kind::VectorDouble => amf3::AMF3_VECTOR_DOUBLE,
            Amf3Kind::VectorObject => amf3::AMF3_VECTOR_OBJECT,
            Amf3Kind::Dictionary => amf3::AMF3_DICTIONARY,
        }
    }

    /// The type for an AMF3 marker that can carry an object reference.
    pub fn from_marker(marker: u8) -> Option<Self> {
        Some(match marker {
            amf3::AMF3_XML_DOCUMENT => Amf3Kind::XmlDocument,
            amf3::AMF3_DATE => Amf3Kind::Date,
            amf3::AMF3_ARRAY => Amf3Kind::Array,
            amf3::AMF3_OBJECT => Amf3Kind::Object,
            amf3::AMF3_XML => Amf3Kind::Xml,
            amf3::AMF3_BYTE_ARRAY => Amf3Kind::ByteArray,
            amf3::AMF3_VECTOR_INT => Amf3Kind::VectorInt,
            amf3::AMF3_VECTOR_UINT => Amf3Kind::VectorUint,
            amf3::AMF3_VECTOR_DOUBLE => Amf3Kind::VectorDouble,
            amf3::AMF3_VECTOR_OBJECT => Amf3Kind::VectorObject,
            amf3::AMF3_DICTIONARY => Amf3Kind::Dictionary,
            _ => return None,
        })
    }
}

/// Any AMF0 or AMF3 value.
///
/// Variants marked AMF0 or AMF3 come only from (and encode only to) that
/// format; the rest are shared. Equality is structural and ignores spans.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// IEEE-754 double (AMF0 0x00, AMF3 0x05).
    Number(f64),
    /// Boolean (AMF0 0x01, AMF3 0x02/0x03).
    Boolean(bool),
    /// String (AMF0 0x02 with a 16-bit length, AMF3 0x06).
    String(AmfString),
    /// AMF0 anonymous object (0x03) or, with a class name, typed object (0x10).
    Object {
        /// Class name of a typed object.
        class: Option<AmfString>,
        /// Members in wire order (duplicates kept).
        props: Vec<Property>,
    },
    /// Null (AMF0 0x05, AMF3 0x01).
    Null,
    /// Undefined (AMF0 0x06, AMF3 0x00).
    Undefined,
    /// AMF0 reference (0x07) to the n-th earlier object, ECMA array or strict array.
    Reference(u16),
    /// AMF0 ECMA array (0x08): members until the object end marker.
    EcmaArray {
        /// The count sent before the members; peers often send 0 or a wrong number.
        count_hint: u32,
        /// Members in wire order.
        props: Vec<Property>,
    },
    /// AMF0 strict array (0x0A).
    StrictArray(Vec<Node>),
    /// Date: milliseconds since the Unix epoch, UTC (AMF0 0x0B, AMF3 0x08).
    Date {
        /// Milliseconds since 1970-01-01T00:00:00Z.
        millis: f64,
        /// AMF0's reserved time-zone field (always 0 in AMF3).
        tz_minutes: i16,
    },
    /// AMF0 long string (0x0C, 32-bit length).
    LongString(AmfString),
    /// AMF0 unsupported marker (0x0D).
    Unsupported,
    /// XML document text (AMF0 0x0F, AMF3 0x07).
    XmlDocument(AmfString),
    /// AMF0 "AVM+" marker (0x11): the value inside is AMF3.
    Avmplus(Box<Node>),
    /// AMF3 integer (0x04): 29-bit, sign-extended.
    Integer(i32),
    /// AMF3 E4X XML (0x0B).
    Xml(AmfString),
    /// AMF3 ByteArray (0x0C).
    ByteArray(Vec<u8>),
    /// AMF3 array (0x09): associative part then dense part.
    Amf3Array {
        /// Named members (never with an empty name, which ends the part).
        assoc: Vec<Property>,
        /// Indexed elements.
        dense: Vec<Node>,
    },
    /// AMF3 object (0x0A).
    Amf3Object(Box<Amf3Object>),
    /// AMF3 Vector.<int> (0x0D).
    VectorInt {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// Elements.
        items: Vec<i32>,
    },
    /// AMF3 Vector.<uint> (0x0E).
    VectorUint {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// Elements.
        items: Vec<u32>,
    },
    /// AMF3 Vector.<Number> (0x0F).
    VectorDouble {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// Elements.
        items: Vec<f64>,
    },
    /// AMF3 Vector of objects (0x10).
    VectorObject {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// Element type name (`"*"` for any; may be empty).
        type_name: AmfString,
        /// Elements.
        items: Vec<Node>,
    },
    /// AMF3 Dictionary (0x11): any value as key.
    Dictionary {
        /// Whether the keys are weakly referenced.
        weak_keys: bool,
        /// Key and value pairs in wire order.
        entries: Vec<(Node, Node)>,
    },
    /// AMF3 reference to the n-th earlier complex value, sent as type `kind`.
    Amf3Ref {
        /// The marker the reference was sent under.
        kind: Amf3Kind,
        /// Index in the message's AMF3 object table.
        index: u32,
    },
}

impl Value {
    /// A string value ([`Value::String`]; the AMF0 encoder switches to a long string past 65535 bytes).
    pub fn string(s: impl Into<AmfString>) -> Value {
        Value::String(s.into())
    }

    /// An anonymous AMF0 object with these members, in order.
    pub fn object<K: Into<AmfString>>(props: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object {
            class: None,
            props: props_from(props),
        }
    }

    /// An AMF0 typed object of class `class` with these members.
    pub fn typed_object<K: Into<AmfString>>(
        class: impl Into<AmfString>,
        props: impl IntoIterator<Item = (K, Value)>,
    ) -> Value {
        Value::Object {
            class: Some(class.into()),
            props: props_from(props),
        }
    }

    /// An AMF0 ECMA array with these members and a truthful count.
    pub fn ecma_array<K: Into<AmfString>>(props: impl IntoIterator<Item = (K, Value)>) -> Value {
        let props = props_from(props);
        Value::EcmaArray {
            count_hint: u32::try_from(props.len()).unwrap_or(u32::MAX),
            props,
        }
    }

    /// An AMF0 strict array of these values.
    pub fn strict_array(items: impl IntoIterator<Item = Value>) -> Value {
        Value::StrictArray(items.into_iter().map(Node::new).collect())
    }

    /// An anonymous, dynamic AMF3 object with these members.
    pub fn amf3_object<K: Into<AmfString>>(props: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Amf3Object(Box::new(Amf3Object {
            class: None,
            sealed: Vec::new(),
            dynamic: Some(props_from(props)),
            externalizable: None,
        }))
    }

    /// An AMF3 array with only a dense part.
    pub fn amf3_array(items: impl IntoIterator<Item = Value>) -> Value {
        Value::Amf3Array {
            assoc: Vec::new(),
            dense: items.into_iter().map(Node::new).collect(),
        }
    }

    /// The value inside any AVM+ wrappers.
    pub fn unwrap_avmplus(&self) -> &Value {
        let mut v = self;
        while let Value::Avmplus(inner) = v {
            v = &inner.value;
        }
        v
    }

    /// The string of a string or long string (through AVM+).
    pub fn as_str(&self) -> Option<&AmfString> {
        match self.unwrap_avmplus() {
            Value::String(s) | Value::LongString(s) => Some(s),
            _ => None,
        }
    }

    /// The number of a number or AMF3 integer (through AVM+).
    pub fn as_f64(&self) -> Option<f64> {
        match self.unwrap_avmplus() {
            Value::Number(n) => Some(*n),
            Value::Integer(i) => Some(f64::from(*i)),
            _ => None,
        }
    }

    /// The boolean of a boolean (through AVM+).
    pub fn as_bool(&self) -> Option<bool> {
        match self.unwrap_avmplus() {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// Whether this is null or undefined (through AVM+).
    pub fn is_null(&self) -> bool {
        matches!(self.unwrap_avmplus(), Value::Null | Value::Undefined)
    }

    /// The named members of an object, ECMA array, AMF3 object or AMF3 array, in wire order.
    ///
    /// AMF3 objects give sealed then dynamic members; an externalizable
    /// wrapper (ArrayCollection, ObjectProxy) gives the members of what it wraps.
    pub fn properties(&self) -> impl Iterator<Item = &Property> + '_ {
        self.property_slices()
    }

    fn property_slices(
        &self,
    ) -> std::iter::Chain<std::slice::Iter<'_, Property>, std::slice::Iter<'_, Property>> {
        let (first, second): (&[Property], &[Property]) = match self.unwrap_avmplus() {
            Value::Object { props, .. } | Value::EcmaArray { props, .. } => (props, &[]),
            Value::Amf3Array { assoc, .. } => (assoc, &[]),
            Value::Amf3Object(o) => match &o.externalizable {
                Some(inner) => return inner.value.property_slices(),
                None => (&o.sealed, o.dynamic.as_deref().unwrap_or(&[])),
            },
            _ => (&[], &[]),
        };
        first.iter().chain(second)
    }

    /// The first member named `key` (see [`Value::properties`]).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.properties().find(|p| p.key == key).map(|p| &p.value)
    }

    /// The elements of a strict array, AMF3 array's dense part or object vector.
    pub fn items(&self) -> Option<&[Node]> {
        match self.unwrap_avmplus() {
            Value::StrictArray(items) => Some(items),
            Value::Amf3Array { dense, .. } => Some(dense),
            Value::VectorObject { items, .. } => Some(items),
            _ => None,
        }
    }

    /// A short lowercase name of the type, for tables and JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Number(_) => "number",
            Value::Boolean(_) => "boolean",
            Value::String(_) => "string",
            Value::Object { class: None, .. } => "object",
            Value::Object { class: Some(_), .. } => "typed-object",
            Value::Null => "null",
            Value::Undefined => "undefined",
            Value::Reference(_) => "reference",
            Value::EcmaArray { .. } => "ecma-array",
            Value::StrictArray(_) => "strict-array",
            Value::Date { .. } => "date",
            Value::LongString(_) => "long-string",
            Value::Unsupported => "unsupported",
            Value::XmlDocument(_) => "xml-document",
            Value::Avmplus(_) => "avmplus",
            Value::Integer(_) => "integer",
            Value::Xml(_) => "xml",
            Value::ByteArray(_) => "byte-array",
            Value::Amf3Array { .. } => "array",
            Value::Amf3Object(_) => "amf3-object",
            Value::VectorInt { .. } => "vector-int",
            Value::VectorUint { .. } => "vector-uint",
            Value::VectorDouble { .. } => "vector-double",
            Value::VectorObject { .. } => "vector-object",
            Value::Dictionary { .. } => "dictionary",
            Value::Amf3Ref { .. } => "amf3-reference",
        }
    }

    /// The nested nodes, in wire order (dictionary keys before their values).
    pub fn children(&self) -> Vec<&Node> {
        match self {
            Value::Object { props, .. } | Value::EcmaArray { props, .. } => {
                props.iter().map(|p| &p.value).collect()
            }
            Value::StrictArray(items) | Value::VectorObject { items, .. } => items.iter().collect(),
            Value::Avmplus(inner) => vec![inner],
            Value::Amf3Array { assoc, dense } => {
                assoc.iter().map(|p| &p.value).chain(dense).collect()
            }
            Value::Amf3Object(o) => match &o.externalizable {
                Some(inner) => vec![inner],
                None => o
                    .sealed
                    .iter()
                    .chain(o.dynamic.iter().flatten())
                    .map(|p| &p.value)
                    .collect(),
            },
            Value::Dictionary { entries, .. } => entries.iter().flat_map(|(k, v)| [k, v]).collect(),
            _ => Vec::new(),
        }
    }
}

fn props_from<K: Into<AmfString>>(props: impl IntoIterator<Item = (K, Value)>) -> Vec<Property> {
    props
        .into_iter()
        .map(|(k, v)| Property::new(k, v))
        .collect()
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::string(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::string(s)
    }
}

impl From<AmfString> for Value {
    fn from(s: AmfString) -> Self {
        Value::String(s)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Boolean(b)
    }
}

/// Why a [`Value`] could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The value's type does not exist in the target format.
    #[error("{type_name} cannot be encoded in {format}")]
    NotInFormat {
        /// [`Value::type_name`] of the value.
        type_name: &'static str,
        /// "AMF0" or "AMF3".
        format: &'static str,
    },
    /// A length or count does not fit the format's length field.
    #[error("{what} of {len} exceeds the {format} limit of {max}")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// Its length or count.
        len: usize,
        /// The most the format allows.
        max: usize,
        /// "AMF0" or "AMF3".
        format: &'static str,
    },
    /// A reference points at an object that does not precede it.
    #[error("reference to object {index}, but only {available} precede it")]
    DanglingReference {
        /// The reference's index.
        index: u32,
        /// How many referenceable objects came before.
        available: u32,
    },
    /// The value nests deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A value that breaks a rule of the format (the reason says which).
    #[error("{0}")]
    Invalid(&'static str),
}

/// The error for a value nested deeper than [`MAX_DEPTH`], at `offset`.
fn too_deep(offset: usize, depth: usize) -> DecodeError {
    DecodeError::new(
        offset,
        format!("a value nested at most {MAX_DEPTH} levels deep"),
        format!("nesting level {depth}"),
    )
}

/// How many elements to reserve for `count` claimed elements with `remaining` bytes left.
fn prealloc(count: usize, remaining: usize) -> usize {
    count.min(remaining).min(PREALLOC_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_equality_ignores_spans() {
        let a = Node {
            span: Span::new(3, 9),
            value: Value::Number(1.0),
        };
        assert_eq!(a, Node::new(Value::Number(1.0)));
    }

    #[test]
    fn get_finds_first_matching_key() {
        let v = Value::object([("a", Value::Number(1.0)), ("a", Value::Number(2.0))]);
        assert_eq!(v.get("a").unwrap().value, Value::Number(1.0));
        assert!(v.get("b").is_none());
    }

    #[test]
    fn accessors_see_through_avmplus() {
        let v = Value::Avmplus(Box::new(Node::new(Value::amf3_object([(
            "app",
            Value::string("live"),
        )]))));
        assert_eq!(v.get("app").unwrap().value.as_str().unwrap(), "live");
        let n = Value::Avmplus(Box::new(Node::new(Value::Integer(7))));
        assert_eq!(n.as_f64(), Some(7.0));
    }

    #[test]
    fn properties_of_amf3_object_are_sealed_then_dynamic() {
        let v = Value::Amf3Object(Box::new(Amf3Object {
            class: Some("C".into()),
            sealed: vec![Property::new("s", Value::Null)],
            dynamic: Some(vec![Property::new("d", Value::Null)]),
            externalizable: None,
        }));
        let keys: Vec<_> = v.properties().map(|p| p.key.clone()).collect();
        assert_eq!(keys, vec![AmfString::from("s"), AmfString::from("d")]);
    }

    #[test]
    fn as_str_accepts_long_strings_only_besides_strings() {
        assert!(Value::LongString("x".into()).as_str().is_some());
        assert!(Value::XmlDocument("x".into()).as_str().is_none());
    }

    #[test]
    fn type_names_distinguish_typed_objects() {
        assert_eq!(Value::object::<&str>([]).type_name(), "object");
        assert_eq!(
            Value::typed_object::<&str>("C", []).type_name(),
            "typed-object"
        );
        assert_eq!(Value::ecma_array::<&str>([]).type_name(), "ecma-array");
    }

    #[test]
    fn span_saturates_and_measures() {
        let s = Span::new(2, 10);
        assert_eq!(s.len(), 8);
        assert_eq!(s.range(), 2..10);
        assert_eq!(Span::new(usize::MAX, usize::MAX).start, u32::MAX);
    }

    #[test]
    fn amf3_kind_marker_round_trips() {
        for m in 0u8..=0x20 {
            if let Some(k) = Amf3Kind::from_marker(m) {
                assert_eq!(k.marker(), m);
            }
        }
        assert_eq!(Amf3Kind::from_marker(0x06), None);
    }
}
