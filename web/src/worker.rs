//! The Web Worker's browser glue: it reads posted files in slices, drives
//! the decoding in time-boxed steps (so that requests for rows are answered
//! while a big file is still decoding), connects to the live feed, and posts
//! [`Response`]s. All the logic it calls is in [`crate::service`].

use std::cell::RefCell;
use std::io::Read;

use bytes::Bytes;
use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    BinaryType, Blob, BlobPropertyBag, DedicatedWorkerGlobalScope, File, FileReaderSync,
    MessageEvent, WebSocket,
};

use crate::model::{decode_pair, CaptureDriver, PairDriver};
use crate::protocol::{Request, Response};
use crate::service::{flv, JsonLines, Service};

/// Bytes read from the file at a time.
const READ_SLICE: f64 = (4 << 20) as f64;
/// Milliseconds of decoding between two looks at the page's requests.
const STEP_MS: f64 = 30.0;
/// Capture events handled between two looks at the clock: a Data event joins
/// up to 16 KiB of segments, so this is at most about half a megabyte.
const EVENTS_PER_CLOCK: usize = 32;
/// Milliseconds between progress posts of a live feed.
const LIVE_PROGRESS_MS: i32 = 250;

/// A `Read` over a `Blob`, a slice at a time, with the worker-only
/// synchronous reader (the decoder pulls bytes; it cannot await them).
struct BlobReader {
    blob: Blob,
    reader: FileReaderSync,
    pos: f64,
    size: f64,
    buf: Vec<u8>,
    at: usize,
}

impl BlobReader {
    fn new(blob: Blob) -> Result<BlobReader, JsValue> {
        Ok(BlobReader {
            size: blob.size(),
            blob,
            reader: FileReaderSync::new()?,
            pos: 0.0,
            buf: Vec::new(),
            at: 0,
        })
    }
}

fn js_io(e: JsValue) -> std::io::Error {
    std::io::Error::other(format!("{e:?}"))
}

impl Read for BlobReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.buf.len() {
            if self.pos >= self.size {
                return Ok(0);
            }
            let end = (self.pos + READ_SLICE).min(self.size);
            let slice = self
                .blob
                .slice_with_f64_and_f64(self.pos, end)
                .map_err(js_io)?;
            let ab = self.reader.read_as_array_buffer(&slice).map_err(js_io)?;
            let arr = Uint8Array::new(&ab);
            self.buf.resize(arr.length() as usize, 0);
            arr.copy_to(&mut self.buf);
            self.at = 0;
            self.pos = end;
            if self.buf.is_empty() {
                return Ok(0);
            }
        }
        let n = (self.buf.len() - self.at).min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), self.buf.get(self.at..self.at + n)) {
            dst.copy_from_slice(src);
        }
        self.at += n;
        Ok(n)
    }
}

/// What was opened, kept to export from it again.
enum Source {
    None,
    Capture(File),
    Pair(Option<File>, Option<File>),
    Live,
}

/// What is being decoded step by step.
enum Driver {
    Capture(Box<CaptureDriver<BlobReader>>),
    Pair(Box<PairDriver>),
}

impl Driver {
    fn bytes_read(&self) -> u64 {
        match self {
            Driver::Capture(d) => d.bytes_read(),
            Driver::Pair(d) => d.bytes_read(),
        }
    }

    /// A step of up to `max` units of work; true once everything is decoded.
    fn step(&mut self, sink: &mut impl crate::model::Sink, max: usize) -> bool {
        match self {
            Driver::Capture(d) => d.step(sink, max),
            // A pair's unit is a few hundred bytes, a capture's one packet.
            Driver::Pair(d) => d.step(sink, max / 4),
        }
    }
}

struct State {
    svc: Service,
    driver: Option<Driver>,
    source: Source,
    /// Incremented per open: time-boxed steps of an older file stop.
    job: u32,
    total: u64,
    started: f64,
    socket: Option<WebSocket>,
    live_progress_pending: bool,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        svc: Service::new(),
        driver: None,
        source: Source::None,
        job: 0,
        total: 0,
        started: 0.0,
        socket: None,
        live_progress_pending: false,
    });
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn now() -> f64 {
    js_sys::Date::now()
}

fn post(res: &Response) {
    if let Ok(text) = serde_json::to_string(res) {
        let _ = scope().post_message(&JsValue::from_str(&text));
    }
}

fn post_with_blob(res: &Response, blob: &Blob) {
    let Ok(text) = serde_json::to_string(res) else {
        return;
    };
    let o = js_sys::Object::new();
    let _ = Reflect::set(&o, &"res".into(), &JsValue::from_str(&text));
    let _ = Reflect::set(&o, &"blob".into(), blob);
    let _ = scope().post_message(&o);
}

fn progress(st: &State, done: bool) -> Response {
    let read = st.driver.as_ref().map_or(st.total, |d| d.bytes_read());
    Response::Progress {
        read,
        total: st.total,
        done,
        messages: st.svc.capture.messages() as u64,
        sessions: st.svc.summaries(),
        skipped: st.svc.capture.skipped.clone(),
        warnings: st.svc.capture.warnings.iter().take(100).cloned().collect(),
        elapsed_ms: now() - st.started,
        memory: wasm_memory(),
        live: matches!(st.source, Source::Live),
    }
}

/// The size of the worker's linear memory (it only grows).
fn wasm_memory() -> u64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0, |b| b.byte_length() as u64)
}

fn set_timeout(f: impl FnOnce() + 'static, ms: i32) {
    let cb = Closure::once_into_js(f);
    let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), ms);
}

/// Decodes for about [`STEP_MS`], posts progress, and schedules the next step.
fn step(job: u32) {
    let more = STATE.with(|s| {
        let mut st = s.borrow_mut();
        if st.job != job {
            return false;
        }
        let t0 = now();
        let st = &mut *st;
        let Some(d) = st.driver.as_mut() else {
            return false;
        };
        let mut done = false;
        while now() - t0 < STEP_MS {
            if d.step(&mut st.svc.capture, EVENTS_PER_CLOCK) {
                done = true;
                break;
            }
        }
        if done {
            st.total = d.bytes_read().max(st.total);
        }
        post(&progress(st, done));
        if done {
            st.driver = None;
        }
        !done
    });
    if more {
        // A zero timeout gives the worker's message queue its turn first.
        set_timeout(move || step(job), 0);
    }
}

fn read_all(f: &File) -> Result<Bytes, String> {
    let mut r = BlobReader::new(f.clone().into()).map_err(|e| format!("{e:?}"))?;
    let mut v = Vec::with_capacity(f.size() as usize);
    r.read_to_end(&mut v).map_err(|e| e.to_string())?;
    Ok(Bytes::from(v))
}

fn pick_pair(files: &[File]) -> Option<(Option<File>, Option<File>)> {
    let by_ext = |ext: &str| files.iter().find(|f| f.name().ends_with(ext)).cloned();
    let (c, s) = (by_ext(".c2s"), by_ext(".s2c"));
    (c.is_some() || s.is_some()).then_some((c, s))
}

/// Starts decoding a raw pair step by step; returns the job to step.
fn open_pair(st: &mut State, c: Option<File>, s: Option<File>) -> Option<u32> {
    let read = |f: &Option<File>| f.as_ref().map_or(Ok(Bytes::new()), read_all);
    match (read(&c), read(&s)) {
        (Ok(cb), Ok(sb)) => {
            st.total = (cb.len() + sb.len()) as u64;
            let names = (c.as_ref().map(File::name), s.as_ref().map(File::name));
            let d = PairDriver::new(&mut st.svc.capture, cb, sb, names);
            st.driver = Some(Driver::Pair(Box::new(d)));
            st.source = Source::Pair(c, s);
            Some(st.job)
        }
        (Err(e), _) | (_, Err(e)) => {
            post(&Response::Failed {
                headline: "The file could not be read.".into(),
                detail: e,
            });
            None
        }
    }
}

fn open(files: Vec<File>) {
    let job = STATE.with(|s| {
        let mut st = s.borrow_mut();
        st.job = st.job.wrapping_add(1);
        st.svc.reset();
        st.driver = None;
        st.source = Source::None;
        st.started = now();
        st.total = files.iter().map(|f| f.size() as u64).sum();
        if let Some(ws) = st.socket.take() {
            let _ = ws.close();
        }
        let job = st.job;
        if let Some((c, s)) = pick_pair(&files) {
            return open_pair(&mut st, c, s);
        }
        let Some(file) = files.into_iter().next() else {
            post(&Response::Failed {
                headline: "No file was given.".into(),
                detail: String::new(),
            });
            return None;
        };
        let reader = match BlobReader::new(file.clone().into()) {
            Ok(r) => r,
            Err(e) => {
                post(&Response::Failed {
                    headline: "The file could not be read.".into(),
                    detail: format!("{e:?}"),
                });
                return None;
            }
        };
        match CaptureDriver::open(reader) {
            Ok(d) => {
                st.driver = Some(Driver::Capture(Box::new(d)));
                st.source = Source::Capture(file);
                Some(job)
            }
            // A raw direction stream without its .c2s/.s2c name: decoded as
            // the client's bytes, as `rtmpscope decode --c2s` would.
            Err(e) if e.raw_rtmp => open_pair(&mut st, Some(file), None),
            Err(e) => {
                post(&Response::Failed {
                    headline: e.headline,
                    detail: format!("{}: {}", file.name(), e.detail),
                });
                None
            }
        }
    });
    if let Some(job) = job {
        step(job);
    }
}

fn blob_of(bytes: &[u8], mime: &str) -> Option<Blob> {
    let parts = Array::new();
    // Large exports go in pieces: one typed array per 16 MiB.
    for piece in bytes.chunks(16 << 20) {
        parts.push(&Uint8Array::from(piece));
    }
    let opts = BlobPropertyBag::new();
    opts.set_type(mime);
    Blob::new_with_u8_array_sequence_and_options(&parts, &opts).ok()
}

fn export(format: &str, session: u64) {
    let result: Result<(String, Vec<u8>, &str), String> = STATE.with(|s| {
        let st = s.borrow();
        match format {
            "flv" => {
                let sess = st
                    .svc
                    .capture
                    .sessions
                    .iter()
                    .find(|x| x.number == session)
                    .ok_or_else(|| format!("there is no session {session}"))?;
                Ok((format!("session-{session}.flv"), flv(sess)?, "video/x-flv"))
            }
            _ => {
                // The file is read again through the same pipeline as the CLI,
                // so the lines come in the CLI's order, byte for byte.
                let mut j = JsonLines::default();
                match &st.source {
                    Source::Capture(f) => {
                        let r = BlobReader::new(f.clone().into()).map_err(|e| format!("{e:?}"))?;
                        let mut d = CaptureDriver::open(r).map_err(|e| e.headline)?;
                        while !d.step(&mut j, 4096) {}
                    }
                    Source::Pair(c, sf) => {
                        let read = |f: &Option<File>| f.as_ref().map_or(Ok(Bytes::new()), read_all);
                        let names = (c.as_ref().map(File::name), sf.as_ref().map(File::name));
                        decode_pair(&mut j, read(c)?, read(sf)?, names);
                    }
                    Source::Live => j.out = st.svc.live_json(),
                    Source::None => return Err("nothing is open".into()),
                }
                Ok((
                    "rtmpscope.jsonl".to_string(),
                    j.out.into_bytes(),
                    "application/x-ndjson",
                ))
            }
        }
    });
    match result {
        Ok((name, bytes, mime)) => match blob_of(&bytes, mime) {
            Some(blob) => post_with_blob(
                &Response::Exported {
                    name,
                    size: bytes.len() as u64,
                },
                &blob,
            ),
            None => post(&Response::ExportFailed {
                message: "the browser refused to make the file".into(),
            }),
        },
        Err(message) => post(&Response::ExportFailed { message }),
    }
}

fn live_state(state: &str, detail: String) {
    post(&Response::LiveState {
        state: state.to_string(),
        detail,
    });
}

/// Posts the sessions of a live feed, at most every [`LIVE_PROGRESS_MS`].
fn live_progress_soon() {
    let schedule = STATE.with(|s| {
        let mut st = s.borrow_mut();
        !std::mem::replace(&mut st.live_progress_pending, true)
    });
    if schedule {
        set_timeout(
            || {
                STATE.with(|s| {
                    let mut st = s.borrow_mut();
                    st.live_progress_pending = false;
                    post(&progress(&st, false));
                })
            },
            LIVE_PROGRESS_MS,
        );
    }
}

fn live(url: &str) {
    STATE.with(|s| {
        let mut st = s.borrow_mut();
        st.job = st.job.wrapping_add(1);
        st.svc.reset();
        st.driver = None;
        st.source = Source::Live;
        st.started = now();
        st.total = 0;
        if let Some(ws) = st.socket.take() {
            let _ = ws.close();
        }
    });
    let ws = match WebSocket::new(url) {
        Ok(ws) => ws,
        Err(e) => {
            live_state("error", format!("{e:?}"));
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|e: MessageEvent| {
        let data = e.data();
        let res = STATE.with(|s| {
            let mut st = s.borrow_mut();
            if let Some(text) = data.as_string() {
                st.svc.live_text(&text)
            } else if let Ok(ab) = data.dyn_into::<js_sys::ArrayBuffer>() {
                let frame = Uint8Array::new(&ab).to_vec();
                st.total += frame.len() as u64;
                st.svc.live_binary(Bytes::from(frame)).map(|()| None)
            } else {
                Err("a feed frame that is neither text nor binary".into())
            }
        });
        if let Ok(Some(notice)) = &res {
            live_state("error", notice.clone());
        }
        if let Err(e) = res {
            STATE.with(|s| {
                let warnings = &mut s.borrow_mut().svc.capture.warnings;
                // A misbehaving feed must not grow the list without bound.
                if warnings.len() < 1000 {
                    warnings.push(format!("live feed: {e}"));
                }
            });
        }
        live_progress_soon();
    });
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let on_open = Closure::<dyn FnMut()>::new(|| live_state("open", String::new()));
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    on_open.forget();
    let on_close = Closure::<dyn FnMut(web_sys::CloseEvent)>::new(|e: web_sys::CloseEvent| {
        live_state("closed", format!("code {} {}", e.code(), e.reason()));
    });
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    on_close.forget();
    let on_error =
        Closure::<dyn FnMut()>::new(|| live_state("error", "the feed connection failed".into()));
    ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    live_state("connecting", url.to_string());
    STATE.with(|s| s.borrow_mut().socket = Some(ws));
}

fn handle(e: MessageEvent) {
    let data = e.data();
    let req_text = Reflect::get(&data, &"req".into())
        .ok()
        .and_then(|v| v.as_string())
        .or_else(|| data.as_string());
    let Some(text) = req_text else {
        return;
    };
    let req: Request = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(_) => return,
    };
    match &req {
        Request::Open { .. } => {
            let files: Vec<File> = Reflect::get(&data, &"files".into())
                .ok()
                .map(|v| Array::from(&v))
                .map(|a| a.iter().filter_map(|f| f.dyn_into::<File>().ok()).collect())
                .unwrap_or_default();
            open(files);
        }
        Request::Export { format, session } => export(format, *session),
        Request::Live { url } => live(url),
        other => {
            let res = STATE.with(|s| s.borrow_mut().svc.answer(other));
            if let Some(res) = res {
                post(&res);
            }
        }
    }
}

/// The worker's entry point: listens for the page's requests.
pub fn start() {
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(handle);
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(&Response::Ready);
}

/// The glue in a real dedicated worker (wasm-bindgen-test in headless
/// Chromium): reading a `Blob` in slices, decoding it, the page's contract.
#[cfg(test)]
mod browser_tests {
    use super::*;
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_dedicated_worker);

    const PCAP: &[u8] = include_bytes!("../../tests/fixtures/ffmpeg-publish.pcap");
    const TSV: &str = include_str!("../../tests/fixtures/ffmpeg-publish.tshark.tsv");

    fn blob(bytes: &[u8]) -> Blob {
        blob_of(bytes, "application/octet-stream").expect("a blob")
    }

    #[wasm_bindgen_test]
    fn blob_reader_returns_the_bytes_in_any_read_size() {
        let mut r = BlobReader::new(blob(PCAP)).expect("reader");
        let mut out = Vec::new();
        let mut buf = [0u8; 777];
        loop {
            let n = r.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, PCAP);
    }

    #[wasm_bindgen_test]
    fn a_blob_decodes_to_tsharks_messages() {
        let r = BlobReader::new(blob(PCAP)).expect("reader");
        let mut d = CaptureDriver::open(r).expect("a capture");
        let mut svc = Service::new();
        while !d.step(&mut svc.capture, 64) {}
        assert_eq!(svc.capture.messages(), TSV.lines().count() - 1);
        assert_eq!(svc.summaries()[0].app, "live");
    }

    #[wasm_bindgen_test]
    fn an_mp4_blob_is_named() {
        let mut mp4 = b"\0\0\0\x20ftypisom".to_vec();
        mp4.resize(64, 0);
        let r = BlobReader::new(blob(&mp4)).expect("reader");
        let e = CaptureDriver::open(r).err().expect("not a capture");
        assert_eq!(e.headline, "This is an MP4/MOV file, not a capture.");
    }

    #[wasm_bindgen_test]
    fn ready_and_requests_keep_their_json_shape() {
        // The page reads these tags; renaming them breaks it silently.
        assert_eq!(
            serde_json::to_string(&Response::Ready).expect("json"),
            r#"{"res":"ready"}"#
        );
        let req: Request =
            serde_json::from_str(r#"{"req":"detail","session":0,"row":3}"#).expect("json");
        assert_eq!(req, Request::Detail { session: 0, row: 3 });
    }

    #[wasm_bindgen_test]
    fn exports_become_blobs_of_their_size() {
        let big = vec![7u8; (16 << 20) + 5];
        assert_eq!(
            blob_of(&big, "video/x-flv").expect("blob").size() as usize,
            big.len()
        );
    }
}
