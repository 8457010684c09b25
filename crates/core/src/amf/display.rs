//! The compact one-line form of a value: `{app: "live", objectEncoding: 0}`.

use std::fmt::{self, Write};

use super::string::write_escaped;
use super::{AmfString, Node, Property, Value};

/// Longest text `Display` writes for a value unless a precision says otherwise (`{:.80}`).
pub const SUMMARY_LIMIT: usize = 160;

/// Deepest nesting written out; deeper values show as `…`.
const DISPLAY_DEPTH: usize = 32;

impl Value {
    /// A one-line summary of at most `max_chars` characters, cut short with `…`.
    pub fn summary(&self, max_chars: usize) -> String {
        let mut w = Bounded {
            out: String::new(),
            left: max_chars,
            cut: false,
        };
        // An error only means the limit was reached.
        let _ = compact(&mut w, self, 0);
        if w.cut && w.out.pop().is_some() {
            w.out.push('…');
        }
        w.out
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary(f.precision().unwrap_or(SUMMARY_LIMIT)))
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value, f)
    }
}

/// A writer that stops (with an error) once `left` characters are used up.
struct Bounded {
    out: String,
    left: usize,
    cut: bool,
}

impl Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.left == 0 {
                self.cut = true;
                return Err(fmt::Error);
            }
            self.out.push(c);
            self.left -= 1;
        }
        Ok(())
    }
}

fn compact(w: &mut Bounded, v: &Value, depth: usize) -> fmt::Result {
    if depth > DISPLAY_DEPTH {
        return w.write_str("…");
    }
    match v {
        Value::Number(n) => w.write_str(&number_text(*n)),
        Value::Boolean(b) => write!(w, "{b}"),
        Value::String(s) | Value::LongString(s) => quoted(w, s),
        Value::Object { class, props } => {
            if let Some(c) = class {
                write_escaped(w, c.as_bytes(), false)?;
                w.write_char(' ')?;
            }
            members(w, props.iter(), depth)
        }
        Value::Null => w.write_str("null"),
        Value::Undefined => w.write_str("undefined"),
        Value::Reference(i) => write!(w, "<ref {i}>"),
        Value::EcmaArray { props, .. } => members(w, props.iter(), depth),
        Value::StrictArray(items) => list(w, items, depth),
        Value::Date { millis, .. } => write!(w, "Date({})", date_text(*millis)),
        Value::Unsupported => w.write_str("unsupported"),
        Value::XmlDocument(s) => {
            w.write_str("XMLDocument(")?;
            quoted(w, s)?;
            w.write_char(')')
        }
        Value::Xml(s) => {
            w.write_str("XML(")?;
            quoted(w, s)?;
            w.write_char(')')
        }
        Value::Avmplus(inner) => compact(w, &inner.value, depth),
        Value::Integer(i) => write!(w, "{i}"),
        Value::ByteArray(b) => write!(w, "ByteArray({} bytes)", b.len()),
        Value::Amf3Array { assoc, dense } => {
            w.write_char('[')?;
            let mut first = true;
            for item in dense {
                sep(w, &mut first)?;
                compact(w, &item.value, depth + 1)?;
            }
            for p in assoc {
                sep(w, &mut first)?;
                member(w, p, depth)?;
            }
            w.write_char(']')
        }
        Value::Amf3Object(o) => {
            if let Some(c) = &o.class {
                write_escaped(w, c.as_bytes(), false)?;
                if o.externalizable.is_none() {
                    w.write_char(' ')?;
                }
            }
            match &o.externalizable {
                Some(inner) => {
                    w.write_char('(')?;
                    compact(w, &inner.value, depth + 1)?;
                    w.write_char(')')
                }
                None => members(w, o.sealed.iter().chain(o.dynamic.iter().flatten()), depth),
            }
        }
        Value::VectorInt { items, .. } => {
            w.write_str("Vector.<int>")?;
            plain_list(w, items.iter().map(|i| i.to_string()))
        }
        Value::VectorUint { items, .. } => {
            w.write_str("Vector.<uint>")?;
            plain_list(w, items.iter().map(|i| i.to_string()))
        }
        Value::VectorDouble { items, .. } => {
            w.write_str("Vector.<Number>")?;
            plain_list(w, items.iter().map(|n| number_text(*n)))
        }
        Value::VectorObject {
            type_name, items, ..
        } => {
            w.write_str("Vector.<")?;
            write_escaped(w, type_name.as_bytes(), false)?;
            w.write_char('>')?;
            list(w, items, depth)
        }
        Value::Dictionary { entries, .. } => {
            w.write_str("Dictionary{")?;
            let mut first = true;
            for (k, v) in entries {
                sep(w, &mut first)?;
                compact(w, &k.value, depth + 1)?;
                w.write_str(" => ")?;
                compact(w, &v.value, depth + 1)?;
            }
            w.write_char('}')
        }
        Value::Amf3Ref { index, .. } => write!(w, "<ref {index}>"),
    }
}

fn sep(w: &mut Bounded, first: &mut bool) -> fmt::Result {
    if !std::mem::take(first) {
        w.write_str(", ")?;
    }
    Ok(())
}

fn quoted(w: &mut Bounded, s: &AmfString) -> fmt::Result {
    w.write_char('"')?;
    write_escaped(w, s.as_bytes(), true)?;
    w.write_char('"')
}

fn member(w: &mut Bounded, p: &Property, depth: usize) -> fmt::Result {
    write_escaped(w, p.key.as_bytes(), false)?;
    w.write_str(": ")?;
    compact(w, &p.value.value, depth + 1)
}

fn members<'p>(
    w: &mut Bounded,
    props: impl Iterator<Item = &'p Property>,
    depth: usize,
) -> fmt::Result {
    w.write_char('{')?;
    let mut first = true;
    for p in props {
        sep(w, &mut first)?;
        member(w, p, depth)?;
    }
    w.write_char('}')
}

fn list(w: &mut Bounded, items: &[Node], depth: usize) -> fmt::Result {
    w.write_char('[')?;
    let mut first = true;
    for item in items {
        sep(w, &mut first)?;
        compact(w, &item.value, depth + 1)?;
    }
    w.write_char(']')
}

fn plain_list(w: &mut Bounded, items: impl Iterator<Item = String>) -> fmt::Result {
    w.write_char('[')?;
    let mut first = true;
    for item in items {
        sep(w, &mut first)?;
        w.write_str(&item)?;
    }
    w.write_char(']')
}

/// A number as people write it: integers without `.0`, `NaN`, `Infinity`.
pub(super) fn number_text(n: f64) -> String {
    if n.is_nan() {
        "NaN".to_owned()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_992.0 {
        format!("{}", n as i64)
    } else {
        format!("{n:?}")
    }
}

/// Milliseconds since the epoch as ISO 8601 UTC, or the number if out of the ECMAScript range.
pub(super) fn date_text(millis: f64) -> String {
    // ECMAScript dates span ±8.64e15 ms around the epoch.
    if !millis.is_finite() || millis.abs() > 8.64e15 {
        return number_text(millis);
    }
    let ms = millis.floor() as i64;
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Proleptic Gregorian year, month, day of a day count from 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amf::{Amf3Object, Node};

    #[test]
    fn object_summary_is_compact() {
        let v = Value::object([
            ("app", Value::string("live")),
            ("objectEncoding", Value::Number(0.0)),
        ]);
        assert_eq!(v.to_string(), r#"{app: "live", objectEncoding: 0}"#);
    }

    #[test]
    fn summary_is_cut_with_ellipsis_at_the_limit() {
        let v = Value::string("x".repeat(500));
        let s = v.summary(20);
        assert_eq!(s.chars().count(), 20);
        assert!(s.ends_with('…'));
        assert_eq!(format!("{v:.10}").chars().count(), 10);
        assert!(v.to_string().chars().count() <= SUMMARY_LIMIT);
    }

    #[test]
    fn summary_within_limit_is_not_cut() {
        assert_eq!(Value::Number(1.5).summary(3), "1.5");
        assert_eq!(Value::Null.summary(0), "");
    }

    #[test]
    fn strings_show_nul_bytes_escaped() {
        let v = Value::String(AmfString::new(vec![0; 3]));
        assert_eq!(v.to_string(), r#""\0\0\0""#);
    }

    #[test]
    fn numbers_drop_integral_fraction_and_name_non_finite() {
        assert_eq!(number_text(5.0), "5");
        assert_eq!(number_text(-2.5), "-2.5");
        assert_eq!(number_text(f64::NAN), "NaN");
        assert_eq!(number_text(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(number_text(1e300), "1e300");
    }

    #[test]
    fn dates_show_as_iso_8601_utc() {
        assert_eq!(date_text(0.0), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T12:34:56.789Z, checked with `date -u -d @1709210096.789`.
        assert_eq!(date_text(1_709_210_096_789.0), "2024-02-29T12:34:56.789Z");
        assert_eq!(date_text(-1.0), "1969-12-31T23:59:59.999Z");
        assert_eq!(date_text(9e15), "9000000000000000");
    }

    #[test]
    fn amf3_values_have_readable_summaries() {
        let ext = Value::Amf3Object(Box::new(Amf3Object {
            class: Some("flex.messaging.io.ArrayCollection".into()),
            externalizable: Some(Box::new(Node::new(Value::amf3_array([Value::Integer(1)])))),
            ..Default::default()
        }));
        assert_eq!(ext.to_string(), "flex.messaging.io.ArrayCollection([1])");
        let v = Value::VectorInt {
            fixed: false,
            items: vec![1, -2],
        };
        assert_eq!(v.to_string(), "Vector.<int>[1, -2]");
    }
}
