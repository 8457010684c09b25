//! One message in full: its chunks' bytes with each chunk header field and
//! each AMF value marked, the AMF tree, and the other decoded facts.

use rtmpscope_core::amf::{Node, Span, Value};
use rtmpscope_core::chunk::{ChunkSpan, RawMessage};
use rtmpscope_core::message::{self, Body};
use rtmpscope_core::session::MessageEvent;
use rtmpscope_core::{json, Event};

use crate::model::{Row, SessionData, ROW_COMPLETE, ROW_EXTENDED};
use crate::protocol::{DetailView, FieldView, TreeNode};
use crate::service::row_view;

/// Bytes of a message shown in the hex view; the rest is counted, not sent.
pub const HEX_LIMIT: usize = 8192;
/// Tree nodes sent for one message (an onMetaData can be large).
const TREE_LIMIT: usize = 2000;

/// Where the payload's bytes are within the hex view: for each chunk, the
/// payload's first byte in the view and in the payload.
struct PayloadMap {
    /// (payload offset, view offset, length)
    pieces: Vec<(u32, u32, u32)>,
}

impl PayloadMap {
    /// View ranges covering payload bytes `start..end`.
    fn ranges(&self, start: u32, end: u32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for &(p, v, l) in &self.pieces {
            let (a, b) = (start.max(p), end.min(p.saturating_add(l)));
            if a < b {
                out.push((v + (a - p), v + (b - p)));
            }
        }
        out
    }
}

struct Builder {
    bytes: Vec<u8>,
    runs: Vec<(u32, u64)>,
    fields: Vec<FieldView>,
    hidden: u64,
}

impl Builder {
    fn field(
        &mut self,
        label: String,
        kind: &str,
        ranges: Vec<(u32, u32)>,
        depth: u8,
    ) -> Option<u32> {
        if ranges.is_empty() {
            return None;
        }
        self.fields.push(FieldView {
            label,
            kind: kind.to_string(),
            ranges,
            depth,
        });
        Some(self.fields.len() as u32 - 1)
    }

    /// Copies stream bytes `start..end` into the view; returns the view offset
    /// of the first byte and how many were copied.
    fn copy(&mut self, s: &SessionData, row: &Row, start: u64, end: u64) -> (u32, u32) {
        let at = self.bytes.len();
        let room = HEX_LIMIT.saturating_sub(at) as u64;
        let want = end.saturating_sub(start);
        let take = want.min(room);
        let missing = s.bytes[row.dir as usize].read(start, start + take, &mut self.bytes);
        // Bytes lost in a gap are shown as zeros would mislead; they are
        // dropped and counted instead.
        self.hidden += want - take + missing;
        let got = (self.bytes.len() - at) as u32;
        if got > 0 {
            self.runs.push((at as u32, start));
        }
        (at as u32, got)
    }
}

/// Marks the fields of one chunk header (RTMP spec §5.3.1).
fn header_fields(b: &mut Builder, view: u32, len: u32, span: &ChunkSpan, first: bool) {
    // A header is at most 3 + 11 + 4 bytes; copied so that `b` can be changed.
    let mut hb = [0u8; 18];
    for (i, x) in hb.iter_mut().enumerate() {
        *x = b.bytes.get(view as usize + i).copied().unwrap_or(0);
    }
    let head = |i: u32| hb.get(i as usize).copied().unwrap_or(0);
    let basic_len = match head(0) & 0x3F {
        0 => 2,
        1 => 3,
        _ => 1,
    };
    let fmt = head(0) >> 6;
    let csid = match basic_len {
        2 => 64 + head(1) as u32,
        3 => 64 + head(1) as u32 + 256 * head(2) as u32,
        _ => (head(0) & 0x3F) as u32,
    };
    let end = view + len;
    let clip = |a: u32, l: u32| -> Vec<(u32, u32)> {
        let (s, e) = (view + a, (view + a + l).min(end));
        if s < e {
            vec![(s, e)]
        } else {
            Vec::new()
        }
    };
    let what = if first { "chunk" } else { "continuation chunk" };
    b.field(
        format!("basic header: fmt {fmt}, chunk stream {csid} ({what})"),
        "header",
        clip(0, basic_len),
        1,
    );
    let mut at = basic_len;
    let be =
        |a: u32, n: u32| -> u64 { (0..n).fold(0u64, |acc, i| (acc << 8) | head(a + i) as u64) };
    let mut ts3 = 0;
    if fmt <= 2 {
        ts3 = be(at, 3);
        let name = if fmt == 0 {
            "timestamp"
        } else {
            "timestamp delta"
        };
        let shown = if ts3 == 0xFF_FFFF {
            "0xFFFFFF: extended field follows".to_string()
        } else {
            ts3.to_string()
        };
        b.field(format!("{name}: {shown}"), "header", clip(at, 3), 1);
        at += 3;
    }
    if fmt <= 1 {
        b.field(
            format!("message length: {}", be(at, 3)),
            "header",
            clip(at, 3),
            1,
        );
        at += 3;
        let t = head(at);
        b.field(
            format!("message type: {t} ({})", message::type_name(t)),
            "header",
            clip(at, 1),
            1,
        );
        at += 1;
    }
    if fmt == 0 {
        let sid = u32::from_le_bytes([head(at), head(at + 1), head(at + 2), head(at + 3)]);
        b.field(
            format!("message stream id: {sid} (little-endian)"),
            "header",
            clip(at, 4),
            1,
        );
        at += 4;
    }
    if span.header_len as u32 >= at + 4 && (ts3 == 0xFF_FFFF || fmt == 3) {
        b.field(
            format!("extended timestamp: {}", be(at, 4)),
            "header",
            clip(at, 4),
            1,
        );
    }
}

/// Builds the detail of row `row_no` of session `s`.
pub fn detail(s: &SessionData, row_no: u32) -> Option<DetailView> {
    let row = *s.rows.get(row_no as usize)?;
    let mut b = Builder {
        bytes: Vec::new(),
        runs: Vec::new(),
        fields: Vec::new(),
        hidden: 0,
    };
    // The payload is rebuilt from the chunks' bytes, so the body decodes
    // exactly as the session decoded it the first time.
    let mut payload = Vec::with_capacity((row.length as usize).min(1 << 24));
    let mut map = PayloadMap { pieces: Vec::new() };
    let spans = s.row_spans(&row);
    for (i, span) in spans.iter().enumerate() {
        let h_end = span.offset + span.header_len as u64;
        let p_end = h_end + span.payload_len as u64;
        let (hv, hl) = b.copy(s, &row, span.offset, h_end);
        if hl > 0 {
            header_fields(&mut b, hv, hl, span, i == 0);
        }
        let (pv, pl) = b.copy(s, &row, h_end, p_end);
        map.pieces.push((payload.len() as u32, pv, pl));
        // The body needs the whole payload even where the view stops.
        s.bytes[row.dir as usize].read(h_end, p_end, &mut payload);
    }
    if (spans.len() as u32) < row.chunks {
        b.hidden += row.end.saturating_sub(spans.last().map_or(row.offset, |l| {
            l.offset + l.header_len as u64 + l.payload_len as u64
        }));
    }
    let (body, err) = Body::decode(row.type_id, &payload, row.length, row.timestamp);
    let mut tree = Vec::new();
    let mut budget = TREE_LIMIT;
    match &body {
        Body::Command(c) => {
            for (i, n) in c.values.iter().enumerate() {
                let key = match i {
                    0 => "command name".to_string(),
                    1 => "transaction id".to_string(),
                    _ => format!("[{i}]"),
                };
                tree.push(tree_node(
                    &mut b,
                    &map,
                    c.base as u32,
                    key,
                    n,
                    1,
                    &mut budget,
                ));
            }
        }
        Body::Data(d) => {
            for (i, n) in d.values.iter().enumerate() {
                let key = if i == 0 {
                    "handler".to_string()
                } else {
                    format!("[{i}]")
                };
                tree.push(tree_node(
                    &mut b,
                    &map,
                    d.base as u32,
                    key,
                    n,
                    1,
                    &mut budget,
                ));
            }
        }
        _ => {}
    }
    let facts = facts_of(s, &row, &payload, body.clone(), err.clone());
    if !matches!(body, Body::Command(_) | Body::Data(_)) {
        let total = payload.len() as u32;
        if total > 0 {
            let label = match &body {
                Body::Audio(_) => "audio tag header and data",
                Body::Video(_) => "video tag header and data",
                _ => "message body",
            };
            let ranges = map.ranges(0, total);
            b.field(format!("{label} ({total} bytes)"), "value", ranges, 1);
        }
    }
    Some(DetailView {
        session: s.number,
        row: row_view(s, row_no, &row),
        tree,
        facts,
        body_error: err.map(|e| e.to_string()),
        bytes: b.bytes,
        runs: b.runs,
        hidden: b.hidden,
        fields: b.fields,
    })
}

fn tree_node(
    b: &mut Builder,
    map: &PayloadMap,
    base: u32,
    key: String,
    n: &Node,
    depth: u8,
    budget: &mut usize,
) -> TreeNode {
    *budget = budget.saturating_sub(1);
    let field = span_field(b, map, base, n.span, &key, &n.value, depth);
    let mut children = Vec::new();
    let v = &n.value;
    let props: Vec<_> = v.properties().collect();
    if !props.is_empty() {
        for p in props {
            if *budget == 0 {
                break;
            }
            let k = p.key.display().to_string();
            children.push(tree_node(
                b,
                map,
                base,
                k,
                &p.value,
                depth.saturating_add(1),
                budget,
            ));
        }
    }
    if let Some(items) = v.items() {
        for (i, item) in items.iter().enumerate() {
            if *budget == 0 {
                break;
            }
            children.push(tree_node(
                b,
                map,
                base,
                format!("[{i}]"),
                item,
                depth.saturating_add(1),
                budget,
            ));
        }
    }
    if let Value::Avmplus(inner) = v {
        children.push(tree_node(
            b,
            map,
            base,
            "AMF3".into(),
            inner,
            depth.saturating_add(1),
            budget,
        ));
    }
    let value = if children.is_empty() {
        v.summary(200)
    } else {
        format!("{} entries", children.len())
    };
    TreeNode {
        key,
        type_name: v.type_name().to_string(),
        value,
        field,
        children,
    }
}

fn span_field(
    b: &mut Builder,
    map: &PayloadMap,
    base: u32,
    span: Span,
    key: &str,
    v: &Value,
    depth: u8,
) -> Option<u32> {
    if span.is_empty() {
        return None;
    }
    let ranges = map.ranges(
        base.saturating_add(span.start),
        base.saturating_add(span.end),
    );
    b.field(
        format!("{key}: {} {}", v.type_name(), v.summary(60)),
        "value",
        ranges,
        depth.saturating_add(1),
    )
}

/// The message's decoded facts as the CLI's JSON shows them, flattened to
/// label/value pairs; the fields the table already shows are left out.
fn facts_of(
    s: &SessionData,
    row: &Row,
    payload: &[u8],
    body: Body,
    err: Option<rtmpscope_core::DecodeError>,
) -> Vec<(String, String)> {
    let raw = RawMessage {
        csid: row.csid,
        type_id: row.type_id,
        stream_id: row.stream_id,
        timestamp: row.timestamp,
        delta: (row.delta != u32::MAX).then_some(row.delta),
        length: row.length,
        fmt: row.fmt,
        extended: row.flags & ROW_EXTENDED != 0,
        payload: payload.to_vec().into(),
        offset: row.offset,
        end: row.end,
        chunks: row.chunks,
        spans: Default::default(),
        complete: row.flags & ROW_COMPLETE != 0,
        stream_id_guessed: false,
    };
    let ev = Event::Message(MessageEvent {
        dir: row.dir,
        index: row.index as u64,
        time: row.time,
        raw,
        body,
        body_error: err.map(Box::new),
        reply_to: None,
        stream_name: None,
    });
    let mut line = String::new();
    json::write_event(&mut line, s.number, &ev);
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(&line)
    else {
        return Vec::new();
    };
    const SHOWN: &[&str] = &[
        "kind",
        "session",
        "dir",
        "index",
        "offset",
        "time",
        "csid",
        "type",
        "type_name",
        "stream_id",
        "timestamp",
        "length",
        "chunks",
        "summary",
        "delta",
        "values",
    ];
    let mut out = Vec::new();
    for (k, v) in obj {
        if !SHOWN.contains(&k.as_str()) {
            flatten(&k, &v, &mut out);
        }
    }
    out
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    if out.len() >= 500 {
        return;
    }
    match v {
        serde_json::Value::Object(o) => {
            for (k, v) in o {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        serde_json::Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let items: Vec<String> = a.iter().map(|x| x.to_string()).collect();
            out.push((prefix.to_string(), items.join(", ")));
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}
