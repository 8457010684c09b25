//! AMF3 (Adobe "Action Message Format -- AMF 3"): decoding with spans, and encoding.
//!
//! AMF3 sends repeated strings, traits and objects as references to tables
//! built while reading. The tables live for one [`decode_all`] call (one
//! message). String and trait references are expanded in the tree (within
//! [`REFERENCE_EXPANSION_LIMIT`](super::REFERENCE_EXPANSION_LIMIT)); object
//! references stay [`Value::Amf3Ref`] so that cycles and shared subtrees
//! cannot blow up.

use std::collections::HashMap;

use super::{
    prealloc, too_deep, Amf3Kind, Amf3Object, AmfString, EncodeError, Node, Property, Span, Value,
    MAX_DEPTH, REFERENCE_EXPANSION_LIMIT,
};
use crate::error::{hex_preview, DecodeError};
use crate::reader::Reader;

/// Undefined marker (spec 3.2).
pub const AMF3_UNDEFINED: u8 = 0x00;
/// Null marker (spec 3.3).
pub const AMF3_NULL: u8 = 0x01;
/// False marker (spec 3.4).
pub const AMF3_FALSE: u8 = 0x02;
/// True marker (spec 3.5).
pub const AMF3_TRUE: u8 = 0x03;
/// Integer marker, U29 (spec 3.6).
pub const AMF3_INTEGER: u8 = 0x04;
/// Double marker (spec 3.7).
pub const AMF3_DOUBLE: u8 = 0x05;
/// String marker (spec 3.8).
pub const AMF3_STRING: u8 = 0x06;
/// XMLDocument marker (spec 3.9).
pub const AMF3_XML_DOCUMENT: u8 = 0x07;
/// Date marker (spec 3.10).
pub const AMF3_DATE: u8 = 0x08;
/// Array marker (spec 3.11).
pub const AMF3_ARRAY: u8 = 0x09;
/// Object marker (spec 3.12).
pub const AMF3_OBJECT: u8 = 0x0A;
/// XML marker (spec 3.13).
pub const AMF3_XML: u8 = 0x0B;
/// ByteArray marker (spec 3.14).
pub const AMF3_BYTE_ARRAY: u8 = 0x0C;
/// Vector.<int> marker (spec 3.15).
pub const AMF3_VECTOR_INT: u8 = 0x0D;
/// Vector.<uint> marker (spec 3.15).
pub const AMF3_VECTOR_UINT: u8 = 0x0E;
/// Vector.<Number> marker (spec 3.15).
pub const AMF3_VECTOR_DOUBLE: u8 = 0x0F;
/// Vector of objects marker (spec 3.15).
pub const AMF3_VECTOR_OBJECT: u8 = 0x10;
/// Dictionary marker (spec 3.16).
pub const AMF3_DICTIONARY: u8 = 0x11;

/// Largest value a U29 holds (spec 1.3.1).
pub const U29_MAX: u32 = 0x1FFF_FFFF;
/// Smallest integer the integer type holds; smaller ones are sent as doubles.
pub const INTEGER_MIN: i32 = -(1 << 28);
/// Largest integer the integer type holds; larger ones are sent as doubles.
pub const INTEGER_MAX: i32 = (1 << 28) - 1;

/// Externalizable classes this codec reads: each writes exactly one AMF3 value.
///
/// Any other externalizable class has a private layout, so its bytes cannot
/// be skipped and decoding stops with an error naming the class.
pub const KNOWN_EXTERNALIZABLE: &[&str] = &[
    "flex.messaging.io.ArrayCollection",
    "flex.messaging.io.ObjectProxy",
];

/// Largest length or count an inline U29 header carries (one bit is the inline flag).
const LENGTH_MAX: usize = (U29_MAX >> 1) as usize;

/// Decodes one AMF3 value at the start of `buf`, returning it and the bytes consumed.
pub fn decode(buf: &[u8]) -> Result<(Node, usize), DecodeError> {
    let mut r = Reader::new(buf);
    let mut t = Tables::default();
    let node = read_value(&mut r, &mut t, 0)?;
    Ok((node, r.pos()))
}

/// Decodes AMF3 values one after another to the end of `buf`, sharing reference tables.
///
/// On an error, the values before it are returned with the error, whose
/// offset is within `buf`.
pub fn decode_all(buf: &[u8]) -> (Vec<Node>, Option<DecodeError>) {
    let mut r = Reader::new(buf);
    let mut t = Tables::default();
    let mut values = Vec::new();
    while !r.is_empty() {
        match read_value(&mut r, &mut t, 0) {
            Ok(node) => values.push(node),
            Err(e) => return (values, Some(e)),
        }
    }
    (values, None)
}

/// Appends the AMF3 encoding of `value` to `out`, with fresh reference tables.
///
/// Repeated strings and traits are sent as references. An
/// [`Value::Integer`] outside [`INTEGER_MIN`]..=[`INTEGER_MAX`] is sent as a
/// double. On error `out` is left as it was.
pub fn encode(value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    encode_all([value], out)
}

/// Appends the AMF3 encoding of each value, sharing reference tables as [`decode_all`] expects.
pub fn encode_all<'v>(
    values: impl IntoIterator<Item = &'v Value>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let mut e = Encoder::new(true);
    for v in values {
        if let Err(err) = e.value(v, out, 0) {
            out.truncate(start);
            return Err(err);
        }
    }
    Ok(())
}

/// The reference tables of one message (spec 2.2).
#[derive(Default)]
pub(super) struct Tables {
    /// Byte ranges of the non-empty inline strings, in order.
    strings: Vec<(usize, usize)>,
    traits: Vec<Traits>,
    /// How many complex values have been read inline: the object table's length.
    objects: u32,
    /// Bytes copied so far by expanding string and trait references.
    expanded: usize,
}

#[derive(Clone)]
struct Traits {
    class: AmfString,
    sealed: Vec<(AmfString, Span)>,
    dynamic: bool,
    externalizable: bool,
}

/// Reads one AMF3 value at the reader's position, at nesting `depth`.
pub(super) fn read_value(
    r: &mut Reader<'_>,
    t: &mut Tables,
    depth: usize,
) -> Result<Node, DecodeError> {
    Decoder { r, t }.value(depth)
}

/// The U29 of a complex value: a reference to the object table or an inline length/count.
enum Header {
    Ref(u32),
    Inline(u32),
}

struct Decoder<'r, 'a> {
    r: &'r mut Reader<'a>,
    t: &'r mut Tables,
}

impl Decoder<'_, '_> {
    fn value(&mut self, depth: usize) -> Result<Node, DecodeError> {
        let start = self.r.pos();
        if depth > MAX_DEPTH {
            return Err(too_deep(start, depth));
        }
        let marker = self.r.u8("AMF3 marker")?;
        let value = match marker {
            AMF3_UNDEFINED => Value::Undefined,
            AMF3_NULL => Value::Null,
            AMF3_FALSE => Value::Boolean(false),
            AMF3_TRUE => Value::Boolean(true),
            AMF3_INTEGER => {
                let v = self.u29("integer (U29)")?;
                // Sign-extend from 29 bits (spec 3.6).
                Value::Integer(((v << 3) as i32) >> 3)
            }
            AMF3_DOUBLE => Value::Number(self.r.f64("double")?),
            AMF3_STRING => Value::String(self.string("string")?.0),
            AMF3_OBJECT => self.object(depth)?,
            _ => match Amf3Kind::from_marker(marker) {
                Some(kind) => match self.header(kind)? {
                    Header::Ref(index) => Value::Amf3Ref { kind, index },
                    Header::Inline(n) => self.complex(kind, n as usize, depth)?,
                },
                None => {
                    return Err(DecodeError::new(
                        start,
                        "AMF3 marker (00 to 11)",
                        hex_preview(self.r.buffer().get(start..).unwrap_or_default()),
                    ))
                }
            },
        };
        Ok(Node {
            span: Span::new(start, self.r.pos()),
            value,
        })
    }

    /// The body of an inline complex value other than an object; `n` is its length or count.
    fn complex(&mut self, kind: Amf3Kind, n: usize, depth: usize) -> Result<Value, DecodeError> {
        Ok(match kind {
            Amf3Kind::XmlDocument => {
                Value::XmlDocument(AmfString::from(self.r.take(n, "XML document")?))
            }
            Amf3Kind::Xml => Value::Xml(AmfString::from(self.r.take(n, "XML")?)),
            Amf3Kind::ByteArray => Value::ByteArray(self.r.take(n, "byte array")?.to_vec()),
            Amf3Kind::Date => Value::Date {
                millis: self.r.f64("date")?,
                tz_minutes: 0,
            },
            Amf3Kind::Array => self.array(n, depth)?,
            Amf3Kind::VectorInt => {
                let fixed = self.r.u8("fixed-vector flag")? != 0;
                let b = self.r.take(n.saturating_mul(4), "Vector.<int> elements")?;
                let items = b
                    .chunks_exact(4)
                    .map(|c| i32::from_be_bytes(be4(c)))
                    .collect();
                Value::VectorInt { fixed, items }
            }
            Amf3Kind::VectorUint => {
                let fixed = self.r.u8("fixed-vector flag")? != 0;
                let b = self.r.take(n.saturating_mul(4), "Vector.<uint> elements")?;
                let items = b
                    .chunks_exact(4)
                    .map(|c| u32::from_be_bytes(be4(c)))
                    .collect();
                Value::VectorUint { fixed, items }
            }
            Amf3Kind::VectorDouble => {
                let fixed = self.r.u8("fixed-vector flag")? != 0;
                let b = self
                    .r
                    .take(n.saturating_mul(8), "Vector.<Number> elements")?;
                let items = b
                    .chunks_exact(8)
                    .map(|c| f64::from_be_bytes(be8(c)))
                    .collect();
                Value::VectorDouble { fixed, items }
            }
            Amf3Kind::VectorObject => {
                let fixed = self.r.u8("fixed-vector flag")? != 0;
                let (type_name, _) = self.string("vector element type name")?;
                let at = self.r.pos();
                self.check_count(n, 1, at, "vector length")?;
                let mut items = Vec::with_capacity(prealloc(n, self.r.remaining()));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::VectorObject {
                    fixed,
                    type_name,
                    items,
                }
            }
            Amf3Kind::Dictionary => {
                let weak_keys = self.r.u8("weak-keys flag")? != 0;
                let at = self.r.pos();
                self.check_count(n, 2, at, "dictionary entry count")?;
                let mut entries = Vec::with_capacity(prealloc(n, self.r.remaining()));
                for _ in 0..n {
                    let key = self.value(depth + 1)?;
                    let value = self.value(depth + 1)?;
                    entries.push((key, value));
                }
                Value::Dictionary { weak_keys, entries }
            }
            // Objects have their own header and never reach here.
            Amf3Kind::Object => self.object(depth)?,
        })
    }

    /// Array: associative members until an empty name, then the dense part (spec 3.11).
    fn array(&mut self, dense_count: usize, depth: usize) -> Result<Value, DecodeError> {
        let assoc = self.named_members("associative member name", depth)?;
        let at = self.r.pos();
        self.check_count(dense_count, 1, at, "dense array length")?;
        let mut dense = Vec::with_capacity(prealloc(dense_count, self.r.remaining()));
        for _ in 0..dense_count {
            dense.push(self.value(depth + 1)?);
        }
        Ok(Value::Amf3Array { assoc, dense })
    }

    /// Object: reference, or traits (inline, referenced or externalizable) then members (spec 3.12).
    fn object(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let at = self.r.pos();
        let h = self.u29("object header (U29O)")?;
        if h & 1 == 0 {
            let index = h >> 1;
            self.check_object_ref(index, at)?;
            return Ok(Value::Amf3Ref {
                kind: Amf3Kind::Object,
                index,
            });
        }
        // The object enters the table before its members, so they can refer to it.
        self.t.objects = self.t.objects.saturating_add(1);
        let traits = if h & 2 == 0 {
            self.trait_ref((h >> 2) as usize, at)?
        } else if h & 4 != 0 {
            let (class, _) = self.string("externalizable class name")?;
            let traits = Traits {
                class,
                sealed: Vec::new(),
                dynamic: false,
                externalizable: true,
            };
            self.t.traits.push(traits.clone());
            traits
        } else {
            let count = (h >> 4) as usize;
            let (class, _) = self.string("class name")?;
            // Every sealed member takes at least one byte for its name and one for its value.
            self.check_count(count, 2, at, "sealed member count")?;
            let mut sealed = Vec::with_capacity(prealloc(count, self.r.remaining()));
            for _ in 0..count {
                sealed.push(self.string("sealed member name")?);
            }
            let traits = Traits {
                class,
                sealed,
                dynamic: h & 8 != 0,
                externalizable: false,
            };
            self.t.traits.push(traits.clone());
            traits
        };
        let class = (!traits.class.is_empty()).then_some(traits.class);
        if traits.externalizable {
            let name = class.as_ref().map(AmfString::as_bytes).unwrap_or_default();
            if !KNOWN_EXTERNALIZABLE.iter().any(|k| k.as_bytes() == name) {
                return Err(DecodeError::new(
                    self.r.pos(),
                    format!(
                        "externalizable class with a known layout ({})",
                        KNOWN_EXTERNALIZABLE.join(", ")
                    ),
                    format!("class \"{}\"", AmfString::from(name).display()),
                ));
            }
            let inner = self.value(depth + 1)?;
            return Ok(Value::Amf3Object(Box::new(Amf3Object {
                class,
                sealed: Vec::new(),
                dynamic: None,
                externalizable: Some(Box::new(inner)),
            })));
        }
        let mut sealed = Vec::with_capacity(prealloc(traits.sealed.len(), self.r.remaining()));
        for (key, key_span) in traits.sealed {
            let value = self.value(depth + 1)?;
            sealed.push(Property {
                key,
                key_span,
                value,
            });
        }
        let dynamic = if traits.dynamic {
            Some(self.named_members("dynamic member name", depth)?)
        } else {
            None
        };
        Ok(Value::Amf3Object(Box::new(Amf3Object {
            class,
            sealed,
            dynamic,
            externalizable: None,
        })))
    }

    /// A copy of the traits at `index`, charged to the expansion budget.
    fn trait_ref(&mut self, index: usize, at: usize) -> Result<Traits, DecodeError> {
        let Some(traits) = self.t.traits.get(index) else {
            return Err(DecodeError::new(
                at,
                format!(
                    "trait reference to one of the {} earlier traits",
                    self.t.traits.len()
                ),
                format!("index {index}"),
            ));
        };
        if traits.sealed.len() > self.r.remaining() {
            return Err(DecodeError::new(
                at,
                format!(
                    "traits with at most {} sealed members (the bytes left)",
                    self.r.remaining()
                ),
                format!("{} sealed members", traits.sealed.len()),
            ));
        }
        let cost = traits
            .sealed
            .iter()
            .fold(traits.class.len(), |acc, (name, _)| {
                acc.saturating_add(name.len())
            });
        let traits = traits.clone();
        self.charge(cost, at)?;
        Ok(traits)
    }

    /// Members named by strings until the empty name (array associative part, dynamic members).
    fn named_members(
        &mut self,
        what: &'static str,
        depth: usize,
    ) -> Result<Vec<Property>, DecodeError> {
        let mut props = Vec::new();
        loop {
            let (key, key_span) = self.string(what)?;
            if key.is_empty() {
                return Ok(props);
            }
            let value = self.value(depth + 1)?;
            props.push(Property {
                key,
                key_span,
                value,
            });
        }
    }

    /// The U29 header of a complex value; an inline one enters the object table.
    fn header(&mut self, kind: Amf3Kind) -> Result<Header, DecodeError> {
        let what = match kind {
            Amf3Kind::XmlDocument | Amf3Kind::Xml => "XML length or reference (U29X)",
            Amf3Kind::Date => "date reference flag (U29D)",
            Amf3Kind::Array => "array dense length or reference (U29A)",
            Amf3Kind::ByteArray => "byte array length or reference (U29B)",
            Amf3Kind::Dictionary => "dictionary length or reference (U29Dict)",
            Amf3Kind::Object => "object header (U29O)",
            _ => "vector length or reference (U29V)",
        };
        let at = self.r.pos();
        let h = self.u29(what)?;
        if h & 1 == 0 {
            self.check_object_ref(h >> 1, at)?;
            Ok(Header::Ref(h >> 1))
        } else {
            self.t.objects = self.t.objects.saturating_add(1);
            Ok(Header::Inline(h >> 1))
        }
    }

    fn check_object_ref(&self, index: u32, at: usize) -> Result<(), DecodeError> {
        if index >= self.t.objects {
            return Err(DecodeError::new(
                at,
                format!(
                    "object reference to one of the {} earlier complex values",
                    self.t.objects
                ),
                format!("index {index}"),
            ));
        }
        Ok(())
    }

    /// Fails unless `count` elements of at least `min_bytes` each fit in the bytes left.
    fn check_count(
        &self,
        count: usize,
        min_bytes: usize,
        at: usize,
        what: &str,
    ) -> Result<(), DecodeError> {
        let most = self.r.remaining() / min_bytes;
        if count > most {
            return Err(DecodeError::new(
                at,
                format!("{what} of at most {most} (what the bytes left can hold)"),
                format!("{count}"),
            ));
        }
        Ok(())
    }

    /// A string (UTF-8-vr, spec 1.3.2): inline, or a reference to an earlier one.
    fn string(&mut self, what: &'static str) -> Result<(AmfString, Span), DecodeError> {
        let start = self.r.pos();
        let h = self.u29("string length or reference (U29S)")?;
        let bytes = if h & 1 == 0 {
            let index = (h >> 1) as usize;
            let Some(&(s, e)) = self.t.strings.get(index) else {
                return Err(DecodeError::new(
                    start,
                    format!(
                        "string reference to one of the {} earlier strings",
                        self.t.strings.len()
                    ),
                    format!("index {index}"),
                ));
            };
            self.charge(e.saturating_sub(s), start)?;
            self.r.buffer().get(s..e).unwrap_or_default()
        } else {
            let len = (h >> 1) as usize;
            let s = self.r.pos();
            let bytes = self.r.take(len, what)?;
            // The empty string is never sent by reference (spec 1.3.2).
            if len > 0 {
                self.t.strings.push((s, s + len));
            }
            bytes
        };
        Ok((AmfString(bytes.to_vec()), Span::new(start, self.r.pos())))
    }

    /// Counts `bytes` copied by a reference against [`REFERENCE_EXPANSION_LIMIT`].
    fn charge(&mut self, bytes: usize, at: usize) -> Result<(), DecodeError> {
        self.t.expanded = self.t.expanded.saturating_add(bytes);
        if self.t.expanded > REFERENCE_EXPANSION_LIMIT {
            return Err(DecodeError::new(
                at,
                format!(
                    "string and trait references copying at most {REFERENCE_EXPANSION_LIMIT} bytes in all"
                ),
                format!("{} bytes", self.t.expanded),
            ));
        }
        Ok(())
    }

    /// A variable-length unsigned 29-bit integer: at most 4 bytes (spec 1.3.1).
    fn u29(&mut self, what: &str) -> Result<u32, DecodeError> {
        let mut v: u32 = 0;
        for _ in 0..3 {
            let b = self.r.u8(what)?;
            if b & 0x80 == 0 {
                return Ok((v << 7) | u32::from(b));
            }
            v = (v << 7) | u32::from(b & 0x7f);
        }
        let b = self.r.u8(what)?;
        Ok((v << 8) | u32::from(b))
    }
}

fn be4(c: &[u8]) -> [u8; 4] {
    let mut a = [0; 4];
    for (d, s) in a.iter_mut().zip(c) {
        *d = *s;
    }
    a
}

fn be8(c: &[u8]) -> [u8; 8] {
    let mut a = [0; 8];
    for (d, s) in a.iter_mut().zip(c) {
        *d = *s;
    }
    a
}

/// Traits as the encoder's table keys them.
#[derive(PartialEq, Eq, Hash)]
struct TraitKey {
    class: Vec<u8>,
    sealed: Vec<Vec<u8>>,
    dynamic: bool,
    externalizable: bool,
}

/// Writes AMF3 with its own reference tables.
pub(super) struct Encoder {
    /// Whether to send repeated strings and traits as references.
    refs: bool,
    strings: HashMap<Vec<u8>, u32>,
    string_count: u32,
    traits: HashMap<TraitKey, u32>,
    trait_count: u32,
    objects: u32,
}

impl Encoder {
    /// An encoder with empty tables; `refs` says whether to send string and trait references.
    pub(super) fn new(refs: bool) -> Self {
        Encoder {
            refs,
            strings: HashMap::new(),
            string_count: 0,
            traits: HashMap::new(),
            trait_count: 0,
            objects: 0,
        }
    }

    pub(super) fn value(
        &mut self,
        v: &Value,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), EncodeError> {
        if depth > MAX_DEPTH {
            return Err(EncodeError::TooDeep);
        }
        match v {
            Value::Undefined => out.push(AMF3_UNDEFINED),
            Value::Null => out.push(AMF3_NULL),
            Value::Boolean(false) => out.push(AMF3_FALSE),
            Value::Boolean(true) => out.push(AMF3_TRUE),
            Value::Integer(i) if (INTEGER_MIN..=INTEGER_MAX).contains(i) => {
                out.push(AMF3_INTEGER);
                write_u29(out, (*i as u32) & U29_MAX);
            }
            Value::Integer(i) => {
                out.push(AMF3_DOUBLE);
                out.extend_from_slice(&f64::from(*i).to_be_bytes());
            }
            Value::Number(n) => {
                out.push(AMF3_DOUBLE);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Value::String(s) => {
                out.push(AMF3_STRING);
                self.string(s.as_bytes(), out)?;
            }
            Value::XmlDocument(s) => self.inline_bytes(AMF3_XML_DOCUMENT, s.as_bytes(), out)?,
            Value::Xml(s) => self.inline_bytes(AMF3_XML, s.as_bytes(), out)?,
            Value::ByteArray(b) => self.inline_bytes(AMF3_BYTE_ARRAY, b, out)?,
            Value::Date { millis, tz_minutes } => {
                if *tz_minutes != 0 {
                    return Err(EncodeError::Invalid(
                        "an AMF3 date has no time-zone field; tz_minutes must be 0",
                    ));
                }
                self.begin_complex(AMF3_DATE, 0, out)?;
                out.extend_from_slice(&millis.to_be_bytes());
            }
            Value::Amf3Array { assoc, dense } => {
                self.begin_complex(AMF3_ARRAY, dense.len(), out)?;
                self.named_members(assoc, out, depth)?;
                for item in dense {
                    self.value(&item.value, out, depth + 1)?;
                }
            }
            Value::Amf3Object(o) => self.object(o, out, depth)?,
            Value::VectorInt { fixed, items } => {
                self.begin_complex(AMF3_VECTOR_INT, items.len(), out)?;
                out.push(u8::from(*fixed));
                for i in items {
                    out.extend_from_slice(&i.to_be_bytes());
                }
            }
            Value::VectorUint { fixed, items } => {
                self.begin_complex(AMF3_VECTOR_UINT, items.len(), out)?;
                out.push(u8::from(*fixed));
                for i in items {
                    out.extend_from_slice(&i.to_be_bytes());
                }
            }
            Value::VectorDouble { fixed, items } => {
                self.begin_complex(AMF3_VECTOR_DOUBLE, items.len(), out)?;
                out.push(u8::from(*fixed));
                for n in items {
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
            Value::VectorObject {
                fixed,
                type_name,
                items,
            } => {
                self.begin_complex(AMF3_VECTOR_OBJECT, items.len(), out)?;
                out.push(u8::from(*fixed));
                self.string(type_name.as_bytes(), out)?;
                for item in items {
                    self.value(&item.value, out, depth + 1)?;
                }
            }
            Value::Dictionary { weak_keys, entries } => {
                self.begin_complex(AMF3_DICTIONARY, entries.len(), out)?;
                out.push(u8::from(*weak_keys));
                for (k, v) in entries {
                    self.value(&k.value, out, depth + 1)?;
                    self.value(&v.value, out, depth + 1)?;
                }
            }
            Value::Amf3Ref { kind, index } => {
                if *index >= self.objects {
                    return Err(EncodeError::DanglingReference {
                        index: *index,
                        available: self.objects,
                    });
                }
                out.push(kind.marker());
                // index < objects, and objects only count values this encoder wrote.
                write_u29(out, (*index << 1) & U29_MAX);
            }
            Value::Object { .. }
            | Value::Reference(_)
            | Value::EcmaArray { .. }
            | Value::StrictArray(_)
            | Value::LongString(_)
            | Value::Unsupported
            | Value::Avmplus(_) => {
                return Err(EncodeError::NotInFormat {
                    type_name: v.type_name(),
                    format: "AMF3",
                })
            }
        }
        Ok(())
    }

    fn object(
        &mut self,
        o: &Amf3Object,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), EncodeError> {
        out.push(AMF3_OBJECT);
        self.objects = self.objects.saturating_add(1);
        let class = o
            .class
            .as_ref()
            .map(AmfString::as_bytes)
            .unwrap_or_default();
        if let Some(inner) = &o.externalizable {
            if !o.sealed.is_empty() || o.dynamic.is_some() {
                return Err(EncodeError::Invalid(
                    "an externalizable AMF3 object has no sealed or dynamic members",
                ));
            }
            if !KNOWN_EXTERNALIZABLE.iter().any(|k| k.as_bytes() == class) {
                return Err(EncodeError::Invalid(
                    "externalizable AMF3 class without a known layout (see amf3::KNOWN_EXTERNALIZABLE)",
                ));
            }
            self.traits(class, &[], false, true, out)?;
            return self.value(&inner.value, out, depth + 1);
        }
        let names: Vec<&[u8]> = o.sealed.iter().map(|p| p.key.as_bytes()).collect();
        self.traits(class, &names, o.dynamic.is_some(), false, out)?;
        for p in &o.sealed {
            self.value(&p.value.value, out, depth + 1)?;
        }
        if let Some(dynamic) = &o.dynamic {
            self.named_members(dynamic, out, depth)?;
        }
        Ok(())
    }

    /// The object header after the marker: a trait reference or inline traits.
    fn traits(
        &mut self,
        class: &[u8],
        sealed: &[&[u8]],
        dynamic: bool,
        externalizable: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let key = TraitKey {
            class: class.to_vec(),
            sealed: sealed.iter().map(|s| s.to_vec()).collect(),
            dynamic,
            externalizable,
        };
        if self.refs {
            if let Some(&index) = self.traits.get(&key) {
                write_u29(out, (index << 2) | 0b01);
                return Ok(());
            }
        }
        if externalizable {
            write_u29(out, 0b111);
        } else {
            let count = u32::try_from(sealed.len())
                .ok()
                .filter(|&n| n <= U29_MAX >> 4)
                .ok_or(EncodeError::TooLong {
                    what: "sealed member count",
                    len: sealed.len(),
                    max: (U29_MAX >> 4) as usize,
                    format: "AMF3",
                })?;
            write_u29(out, (count << 4) | (u32::from(dynamic) << 3) | 0b011);
        }
        self.string(class, out)?;
        for name in sealed {
            self.string(name, out)?;
        }
        // Trait indices travel shifted by 2 in a U29.
        if self.refs && self.trait_count <= U29_MAX >> 2 {
            self.traits.insert(key, self.trait_count);
        }
        self.trait_count = self.trait_count.saturating_add(1);
        Ok(())
    }

    /// Named members then the empty name that ends them.
    fn named_members(
        &mut self,
        props: &[Property],
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), EncodeError> {
        for p in props {
            if p.key.is_empty() {
                return Err(EncodeError::Invalid(
                    "an AMF3 associative or dynamic member cannot have an empty name",
                ));
            }
            self.string(p.key.as_bytes(), out)?;
            self.value(&p.value.value, out, depth + 1)?;
        }
        self.string(&[], out)
    }

    /// The marker and inline header of a complex value, which enters the object table.
    fn begin_complex(
        &mut self,
        marker: u8,
        n: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let h = inline_header(n, "length")?;
        out.push(marker);
        write_u29(out, h);
        self.objects = self.objects.saturating_add(1);
        Ok(())
    }

    fn inline_bytes(&mut self, marker: u8, b: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.begin_complex(marker, b.len(), out)?;
        out.extend_from_slice(b);
        Ok(())
    }

    /// A UTF-8-vr string: a reference if sent before (and references are on), else inline.
    fn string(&mut self, s: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if s.is_empty() {
            write_u29(out, 1);
            return Ok(());
        }
        if let Some(&index) = self.strings.get(s) {
            write_u29(out, index << 1);
            return Ok(());
        }
        write_u29(out, inline_header(s.len(), "string")?);
        out.extend_from_slice(s);
        // String indices travel shifted by 1 in a U29.
        if self.refs && self.string_count <= U29_MAX >> 1 {
            self.strings.insert(s.to_vec(), self.string_count);
        }
        self.string_count = self.string_count.saturating_add(1);
        Ok(())
    }
}

/// `n << 1 | 1`: an inline length or count, if it fits.
fn inline_header(n: usize, what: &'static str) -> Result<u32, EncodeError> {
    if n > LENGTH_MAX {
        return Err(EncodeError::TooLong {
            what,
            len: n,
            max: LENGTH_MAX,
            format: "AMF3",
        });
    }
    Ok(((n as u32) << 1) | 1)
}

/// Writes `v` (at most [`U29_MAX`]) as a U29 (spec 1.3.1).
fn write_u29(out: &mut Vec<u8>, v: u32) {
    if v < 0x80 {
        out.push(v as u8);
    } else if v < 0x4000 {
        out.extend_from_slice(&[((v >> 7) as u8) | 0x80, (v & 0x7f) as u8]);
    } else if v < 0x20_0000 {
        out.extend_from_slice(&[
            ((v >> 14) as u8) | 0x80,
            (((v >> 7) & 0x7f) as u8) | 0x80,
            (v & 0x7f) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            (((v >> 22) & 0x7f) as u8) | 0x80,
            (((v >> 15) & 0x7f) as u8) | 0x80,
            (((v >> 8) & 0x7f) as u8) | 0x80,
            (v & 0xff) as u8,
        ]);
    }
}

#[cfg(test)]
mod tests;
