//! AMF0 (Adobe "Action Message Format -- AMF 0"): decoding with spans, and encoding.
//!
//! One message is one buffer: [`decode_all`] reads its values one after
//! another with one AMF0 reference table and one set of AMF3 tables for the
//! AVM+ values inside it.

use super::{
    amf3, prealloc, too_deep, AmfString, EncodeError, Node, Property, Span, Value, MAX_DEPTH,
};
use crate::error::{hex_preview, DecodeError};
use crate::reader::Reader;

/// Number marker (spec 2.2).
pub const AMF0_NUMBER: u8 = 0x00;
/// Boolean marker (spec 2.3).
pub const AMF0_BOOLEAN: u8 = 0x01;
/// String marker, 16-bit length (spec 2.4).
pub const AMF0_STRING: u8 = 0x02;
/// Anonymous object marker (spec 2.5).
pub const AMF0_OBJECT: u8 = 0x03;
/// Movieclip marker, reserved (spec 2.6).
pub const AMF0_MOVIECLIP: u8 = 0x04;
/// Null marker (spec 2.7).
pub const AMF0_NULL: u8 = 0x05;
/// Undefined marker (spec 2.8).
pub const AMF0_UNDEFINED: u8 = 0x06;
/// Reference marker (spec 2.9).
pub const AMF0_REFERENCE: u8 = 0x07;
/// ECMA array marker (spec 2.10).
pub const AMF0_ECMA_ARRAY: u8 = 0x08;
/// Object end marker, after an empty name (spec 2.11).
pub const AMF0_OBJECT_END: u8 = 0x09;
/// Strict array marker (spec 2.12).
pub const AMF0_STRICT_ARRAY: u8 = 0x0A;
/// Date marker (spec 2.13).
pub const AMF0_DATE: u8 = 0x0B;
/// Long string marker, 32-bit length (spec 2.14).
pub const AMF0_LONG_STRING: u8 = 0x0C;
/// Unsupported marker (spec 2.15).
pub const AMF0_UNSUPPORTED: u8 = 0x0D;
/// Recordset marker, reserved (spec 2.16).
pub const AMF0_RECORDSET: u8 = 0x0E;
/// XML document marker (spec 2.17).
pub const AMF0_XML_DOCUMENT: u8 = 0x0F;
/// Typed object marker (spec 2.18).
pub const AMF0_TYPED_OBJECT: u8 = 0x10;
/// AVM+ marker: the next value is AMF3 (spec 3.1).
pub const AMF0_AVMPLUS: u8 = 0x11;

/// Decodes one AMF0 value at the start of `buf`, returning it and the bytes consumed.
pub fn decode(buf: &[u8]) -> Result<(Node, usize), DecodeError> {
    let mut d = Decoder::new(buf);
    let node = d.value(0)?;
    Ok((node, d.r.pos()))
}

/// Decodes AMF0 values one after another to the end of `buf`.
///
/// On an error, the values before it are returned with the error, whose
/// offset is within `buf`.
pub fn decode_all(buf: &[u8]) -> (Vec<Node>, Option<DecodeError>) {
    let mut d = Decoder::new(buf);
    let mut values = Vec::new();
    while !d.r.is_empty() {
        match d.value(0) {
            Ok(node) => values.push(node),
            Err(e) => return (values, Some(e)),
        }
    }
    (values, None)
}

/// Appends the AMF0 encoding of `value` to `out`; on error `out` is left as it was.
///
/// A [`Value::String`] longer than 65535 bytes is written as a long string.
/// AMF3 values inside [`Value::Avmplus`] are written without string or
/// trait references, so they read the same whichever way a peer scopes its
/// AMF3 tables.
pub fn encode(value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    encode_all([value], out)
}

/// Appends the AMF0 encoding of each value, sharing the reference tables as one message does.
pub fn encode_all<'v>(
    values: impl IntoIterator<Item = &'v Value>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let mut e = Encoder::default();
    for v in values {
        if let Err(err) = e.value(v, out, 0) {
            out.truncate(start);
            return Err(err);
        }
    }
    Ok(())
}

struct Decoder<'a> {
    r: Reader<'a>,
    /// Objects, typed objects, ECMA arrays and strict arrays seen: the reference table (spec 2.9).
    objects: u32,
    amf3: amf3::Tables,
}

impl<'a> Decoder<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Decoder {
            r: Reader::new(buf),
            objects: 0,
            amf3: amf3::Tables::default(),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, DecodeError> {
        let start = self.r.pos();
        if depth > MAX_DEPTH {
            return Err(too_deep(start, depth));
        }
        let marker = self.r.u8("AMF0 marker")?;
        let value = match marker {
            AMF0_NUMBER => Value::Number(self.r.f64("number")?),
            AMF0_BOOLEAN => Value::Boolean(self.r.u8("boolean")? != 0),
            AMF0_STRING => Value::String(self.short_string("UTF-8 length of string", "string")?),
            AMF0_OBJECT => {
                self.objects = self.objects.saturating_add(1);
                Value::Object {
                    class: None,
                    props: self.props(depth)?,
                }
            }
            AMF0_NULL => Value::Null,
            AMF0_UNDEFINED => Value::Undefined,
            AMF0_REFERENCE => {
                let at = self.r.pos();
                let index = self.r.u16("reference index")?;
                if u32::from(index) >= self.objects {
                    return Err(DecodeError::new(
                        at,
                        format!(
                            "reference to one of the {} earlier objects or arrays",
                            self.objects
                        ),
                        format!("index {index}"),
                    ));
                }
                Value::Reference(index)
            }
            AMF0_ECMA_ARRAY => {
                self.objects = self.objects.saturating_add(1);
                let count_hint = self.r.u32("ECMA array count")?;
                Value::EcmaArray {
                    count_hint,
                    props: self.props(depth)?,
                }
            }
            AMF0_OBJECT_END => {
                return Err(DecodeError::new(
                    start,
                    "AMF0 value marker",
                    "object end marker 09 outside an object",
                ))
            }
            AMF0_STRICT_ARRAY => {
                self.objects = self.objects.saturating_add(1);
                let at = self.r.pos();
                let count = self.r.u32("strict array count")? as usize;
                // Every element takes at least its marker byte.
                if count > self.r.remaining() {
                    return Err(DecodeError::new(
                        at,
                        format!(
                            "strict array count of at most {} (the bytes left)",
                            self.r.remaining()
                        ),
                        format!("count {count}"),
                    ));
                }
                let mut items = Vec::with_capacity(prealloc(count, self.r.remaining()));
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Value::StrictArray(items)
            }
            AMF0_DATE => {
                let millis = self.r.f64("date")?;
                let tz_minutes = self.r.i16("date time zone")?;
                Value::Date { millis, tz_minutes }
            }
            AMF0_LONG_STRING => {
                Value::LongString(self.long_string("UTF-8 length of long string", "long string")?)
            }
            AMF0_UNSUPPORTED => Value::Unsupported,
            AMF0_XML_DOCUMENT => Value::XmlDocument(
                self.long_string("UTF-8 length of XML document", "XML document")?,
            ),
            AMF0_TYPED_OBJECT => {
                self.objects = self.objects.saturating_add(1);
                let class = self.short_string(
                    "UTF-8 length of typed object class name",
                    "typed object class name",
                )?;
                Value::Object {
                    class: Some(class),
                    props: self.props(depth)?,
                }
            }
            AMF0_AVMPLUS => {
                let inner = amf3::read_value(&mut self.r, &mut self.amf3, depth + 1)?;
                Value::Avmplus(Box::new(inner))
            }
            AMF0_MOVIECLIP | AMF0_RECORDSET => {
                return Err(DecodeError::new(
                    start,
                    "AMF0 marker (movieclip 04 and recordset 0e are reserved)",
                    hex_preview(self.r.buffer().get(start..).unwrap_or_default()),
                ))
            }
            _ => {
                return Err(DecodeError::new(
                    start,
                    "AMF0 marker (00 to 11)",
                    hex_preview(self.r.buffer().get(start..).unwrap_or_default()),
                ))
            }
        };
        Ok(Node {
            span: Span::new(start, self.r.pos()),
            value,
        })
    }

    /// Members until the empty name and object end marker (spec 2.5, 2.10, 2.18).
    fn props(&mut self, depth: usize) -> Result<Vec<Property>, DecodeError> {
        let mut props = Vec::new();
        loop {
            let key_start = self.r.pos();
            if self.r.is_empty() {
                return Err(DecodeError::new(
                    key_start,
                    "property name or object end marker 00 00 09",
                    "end of data",
                ));
            }
            let len = self.r.u16("UTF-8 length of property name")? as usize;
            if len == 0 {
                match self.r.peek_u8() {
                    Some(AMF0_OBJECT_END) => {
                        self.r.skip(1, "object end marker")?;
                        return Ok(props);
                    }
                    None => {
                        return Err(DecodeError::new(
                            self.r.pos(),
                            "object end marker 09 after 00 00",
                            "end of data",
                        ))
                    }
                    // An empty name before a value is a member named "".
                    Some(_) => {}
                }
            }
            let key = AmfString(self.r.take(len, "property name")?.to_vec());
            let key_span = Span::new(key_start, self.r.pos());
            let value = self.value(depth + 1)?;
            props.push(Property {
                key,
                key_span,
                value,
            });
        }
    }

    fn short_string(&mut self, len_what: &str, what: &str) -> Result<AmfString, DecodeError> {
        let len = self.r.u16(len_what)? as usize;
        Ok(AmfString(self.r.take(len, what)?.to_vec()))
    }

    fn long_string(&mut self, len_what: &str, what: &str) -> Result<AmfString, DecodeError> {
        let len = self.r.u32(len_what)? as usize;
        Ok(AmfString(self.r.take(len, what)?.to_vec()))
    }
}

struct Encoder {
    objects: u32,
    amf3: amf3::Encoder,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            objects: 0,
            amf3: amf3::Encoder::new(false),
        }
    }
}

impl Encoder {
    fn value(&mut self, v: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), EncodeError> {
        if depth > MAX_DEPTH {
            return Err(EncodeError::TooDeep);
        }
        match v {
            Value::Number(n) => {
                out.push(AMF0_NUMBER);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Value::Boolean(b) => out.extend_from_slice(&[AMF0_BOOLEAN, u8::from(*b)]),
            Value::String(s) if s.len() <= usize::from(u16::MAX) => {
                out.push(AMF0_STRING);
                short_string(s, "string", out)?;
            }
            Value::String(s) | Value::LongString(s) => {
                out.push(AMF0_LONG_STRING);
                long_string(s, "long string", out)?;
            }
            Value::Object { class, props } => {
                self.objects = self.objects.saturating_add(1);
                match class {
                    None => out.push(AMF0_OBJECT),
                    Some(c) => {
                        out.push(AMF0_TYPED_OBJECT);
                        short_string(c, "class name", out)?;
                    }
                }
                self.props(props, out, depth)?;
            }
            Value::Null => out.push(AMF0_NULL),
            Value::Undefined => out.push(AMF0_UNDEFINED),
            Value::Reference(i) => {
                if u32::from(*i) >= self.objects {
                    return Err(EncodeError::DanglingReference {
                        index: u32::from(*i),
                        available: self.objects,
                    });
                }
                out.push(AMF0_REFERENCE);
                out.extend_from_slice(&i.to_be_bytes());
            }
            Value::EcmaArray { count_hint, props } => {
                self.objects = self.objects.saturating_add(1);
                out.push(AMF0_ECMA_ARRAY);
                out.extend_from_slice(&count_hint.to_be_bytes());
                self.props(props, out, depth)?;
            }
            Value::StrictArray(items) => {
                self.objects = self.objects.saturating_add(1);
                let count = u32::try_from(items.len()).map_err(|_| EncodeError::TooLong {
                    what: "strict array",
                    len: items.len(),
                    max: u32::MAX as usize,
                    format: "AMF0",
                })?;
                out.push(AMF0_STRICT_ARRAY);
                out.extend_from_slice(&count.to_be_bytes());
                for item in items {
                    self.value(&item.value, out, depth + 1)?;
                }
            }
            Value::Date { millis, tz_minutes } => {
                out.push(AMF0_DATE);
                out.extend_from_slice(&millis.to_be_bytes());
                out.extend_from_slice(&tz_minutes.to_be_bytes());
            }
            Value::Unsupported => out.push(AMF0_UNSUPPORTED),
            Value::XmlDocument(s) => {
                out.push(AMF0_XML_DOCUMENT);
                long_string(s, "XML document", out)?;
            }
            Value::Avmplus(inner) => {
                out.push(AMF0_AVMPLUS);
                self.amf3.value(&inner.value, out, depth + 1)?;
            }
            Value::Integer(_)
            | Value::Xml(_)
            | Value::ByteArray(_)
            | Value::Amf3Array { .. }
            | Value::Amf3Object(_)
            | Value::VectorInt { .. }
            | Value::VectorUint { .. }
            | Value::VectorDouble { .. }
            | Value::VectorObject { .. }
            | Value::Dictionary { .. }
            | Value::Amf3Ref { .. } => {
                return Err(EncodeError::NotInFormat {
                    type_name: v.type_name(),
                    format: "AMF0",
                })
            }
        }
        Ok(())
    }

    fn props(
        &mut self,
        props: &[Property],
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), EncodeError> {
        for p in props {
            short_string(&p.key, "property name", out)?;
            self.value(&p.value.value, out, depth + 1)?;
        }
        out.extend_from_slice(&[0, 0, AMF0_OBJECT_END]);
        Ok(())
    }
}

fn short_string(s: &AmfString, what: &'static str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = u16::try_from(s.len()).map_err(|_| EncodeError::TooLong {
        what,
        len: s.len(),
        max: usize::from(u16::MAX),
        format: "AMF0",
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn long_string(s: &AmfString, what: &'static str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = u32::try_from(s.len()).map_err(|_| EncodeError::TooLong {
        what,
        len: s.len(),
        max: u32::MAX as usize,
        format: "AMF0",
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests;
