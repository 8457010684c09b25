//! The page: one reducer holds what is on screen; the worker is asked for
//! everything else through [`Bridge`].

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, File, MessageEvent, Worker, WorkerOptions, WorkerType};
use yew::prelude::*;

use crate::components::charts::Charts;
use crate::components::detail::DetailPane;
use crate::components::drop_zone::DropZone;
use crate::components::findings::Findings;
use crate::components::handshake::HandshakeCard;
use crate::components::lanes::Lanes;
use crate::components::messages::{MessageTable, WINDOW};
use crate::components::sessions::SessionList;
use crate::components::toolbar::Toolbar;
use crate::protocol::*;

/// Sends requests to the worker.
///
/// The worker starts listening only once its module is instantiated;
/// anything posted before that would be dropped, so requests wait in
/// `queue` until the worker says it is ready.
pub struct Bridge {
    worker: Worker,
    ready: Cell<bool>,
    queue: RefCell<Vec<JsValue>>,
}

impl PartialEq for Bridge {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Bridge {
    fn post(&self, v: JsValue) {
        if self.ready.get() {
            let _ = self.worker.post_message(&v);
        } else {
            self.queue.borrow_mut().push(v);
        }
    }

    fn set_ready(&self) {
        self.ready.set(true);
        for v in self.queue.borrow_mut().drain(..) {
            let _ = self.worker.post_message(&v);
        }
    }

    /// Posts a request.
    pub fn send(&self, req: &Request) {
        if let Ok(text) = serde_json::to_string(req) {
            self.post(JsValue::from_str(&text));
        }
    }

    /// Posts files to decode.
    pub fn open(&self, files: Vec<File>) {
        let names = files.iter().map(File::name).collect();
        let Ok(text) = serde_json::to_string(&Request::Open { names }) else {
            return;
        };
        let o = js_sys::Object::new();
        let list = Array::new();
        for f in &files {
            list.push(f);
        }
        let _ = Reflect::set(&o, &"req".into(), &JsValue::from_str(&text));
        let _ = Reflect::set(&o, &"files".into(), &list);
        self.post(o.into());
        mark_body("data-opened-at", &now().to_string());
    }
}

/// Milliseconds since the page loaded.
pub fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Sets an attribute on `<body>`: the benchmark and the tests read timings there.
pub fn mark_body(name: &str, value: &str) {
    if let Some(b) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        let _ = b.set_attribute(name, value);
    }
}

/// What the main area shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tab {
    /// Table and detail.
    Messages,
    /// Chunk lanes.
    Lanes,
    /// Charts.
    Charts,
}

/// Everything on screen.
#[derive(Clone, PartialEq)]
pub struct State {
    /// Name of what is open.
    pub file_name: String,
    /// Decoding is running.
    pub loading: bool,
    /// The last progress.
    pub read: u64,
    /// File size.
    pub total: u64,
    /// Whether decoding finished.
    pub done: bool,
    /// Messages in all sessions.
    pub messages: u64,
    /// Why the file failed.
    pub failed: Option<(String, String)>,
    /// Sessions so far.
    pub sessions: Vec<SessionSummary>,
    /// Skipped connections.
    pub skipped: Vec<String>,
    /// File warnings.
    pub warnings: Vec<String>,
    /// The chosen session.
    pub session: Option<u64>,
    /// Its overview.
    pub overview: Option<Rc<SessionView>>,
    /// The table filter.
    pub filter: Filter,
    /// Rows passing the filter.
    pub total_rows: u32,
    /// Position of `rows[0]`.
    pub rows_start: u32,
    /// The cached window.
    pub rows: Rc<Vec<RowView>>,
    /// Sequence of the latest rows request.
    pub seq: u32,
    /// Messages decoded when the latest rows request went out: more since
    /// then means the window (and the total) must be asked again.
    pub rows_for_messages: u64,
    /// The oldest rows answer still valid (the first asked for after the
    /// session or the filter changed), and the newest one applied. Answers
    /// in between are kept even when a newer request is in flight: while a
    /// big file decodes, a request goes out on every progress report, and
    /// waiting for the latest one only would show nothing until the end.
    pub rows_min_seq: u32,
    /// See `rows_min_seq`.
    pub rows_applied_seq: u32,
    /// The first position on screen.
    pub first_visible: u32,
    /// The selected position in the filtered list.
    pub selected: Option<u32>,
    /// The selected message's detail.
    pub detail: Option<Rc<DetailView>>,
    /// Which main view.
    pub tab: Tab,
    /// Lanes data.
    pub lanes: Option<Rc<LanesView>>,
    /// Charts data.
    pub charts: Option<Rc<ChartsView>>,
    /// Live feed state.
    pub live: Option<String>,
    /// The last export's outcome.
    pub export_note: Option<String>,
    /// Rows shown at least once since the file was opened.
    pub first_rows_marked: bool,
    /// The worker's memory.
    pub memory: u64,
}

impl Default for State {
    fn default() -> Self {
        State {
            file_name: String::new(),
            loading: false,
            read: 0,
            total: 0,
            done: false,
            messages: 0,
            failed: None,
            sessions: Vec::new(),
            skipped: Vec::new(),
            warnings: Vec::new(),
            session: None,
            overview: None,
            filter: Filter::default(),
            total_rows: 0,
            rows_start: 0,
            rows: Rc::new(Vec::new()),
            seq: 0,
            rows_for_messages: 0,
            rows_min_seq: 0,
            rows_applied_seq: 0,
            first_visible: 0,
            selected: None,
            detail: None,
            tab: Tab::Messages,
            lanes: None,
            charts: None,
            live: None,
            export_note: None,
            first_rows_marked: false,
            memory: 0,
        }
    }
}

/// What changes the state.
pub enum Action {
    /// A file was posted to the worker.
    Opening(String),
    /// The worker answered (with a file for exports).
    Worker(Response, Option<Blob>),
    /// Pick a session.
    SelectSession(u64),
    /// Change the filter.
    SetFilter(Filter),
    /// The table scrolled.
    Scrolled(u32),
    /// A rows request went out (its sequence, the messages decoded then).
    RowsRequested(u32, u64),
    /// Select a position.
    Select(u32),
    /// Switch the main view.
    Tab(Tab),
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::Opening(name) => {
                let live = s.live.clone();
                // Sequence numbers go on across files: a late answer about
                // the previous file must not be taken for this one.
                let seq = s.seq;
                s = State {
                    file_name: name,
                    loading: true,
                    live,
                    seq,
                    rows_min_seq: seq.wrapping_add(1),
                    rows_applied_seq: seq,
                    ..State::default()
                };
            }
            Action::Worker(res, blob) => s.apply(res, blob),
            Action::SelectSession(n) => {
                s.rows_min_seq = s.seq.wrapping_add(1);
                s.session = Some(n);
                s.overview = None;
                s.rows = Rc::new(Vec::new());
                s.rows_start = 0;
                s.total_rows = 0;
                s.first_visible = 0;
                s.selected = None;
                s.detail = None;
                s.lanes = None;
                s.charts = None;
            }
            // The same filter again (a jump from the lanes) keeps the rows.
            Action::SetFilter(f) if f == s.filter => {}
            Action::SetFilter(f) => {
                s.rows_min_seq = s.seq.wrapping_add(1);
                s.filter = f;
                s.rows = Rc::new(Vec::new());
                s.rows_start = 0;
                s.first_visible = 0;
                s.selected = None;
            }
            Action::Scrolled(first) => s.first_visible = first,
            Action::RowsRequested(seq, messages) => {
                s.seq = seq;
                s.rows_for_messages = messages;
            }
            Action::Select(pos) => {
                s.selected = Some(pos.min(s.total_rows.saturating_sub(1)));
            }
            Action::Tab(t) => s.tab = t,
        }
        Rc::new(s)
    }
}

impl State {
    fn apply(&mut self, res: Response, blob: Option<Blob>) {
        match res {
            Response::Progress {
                read,
                total,
                done,
                messages,
                sessions,
                skipped,
                warnings,
                elapsed_ms,
                memory,
                live,
            } => {
                self.memory = memory;
                self.read = read;
                self.total = total;
                self.done = done;
                self.loading = !done && !live;
                self.messages = messages;
                self.sessions = sessions;
                self.skipped = skipped;
                self.warnings = warnings;
                if done {
                    mark_body("data-decoded-ms", &format!("{elapsed_ms:.0}"));
                    mark_body("data-decoded-at", &format!("{:.0}", now()));
                    mark_body("data-worker-memory", &memory.to_string());
                }
                if self.session.is_none() {
                    self.session = self.sessions.first().map(|s| s.number);
                }
            }
            Response::Failed { headline, detail } => {
                self.loading = false;
                self.failed = Some((headline, detail));
            }
            Response::Rows {
                seq,
                session,
                start,
                total,
                rows,
            } => {
                let fresh = seq >= self.rows_min_seq && seq > self.rows_applied_seq;
                if Some(session) == self.session && fresh {
                    self.rows_applied_seq = seq;
                    self.rows_start = start;
                    self.total_rows = total;
                    self.rows = Rc::new(rows);
                    if !self.first_rows_marked && !self.rows.is_empty() {
                        self.first_rows_marked = true;
                        mark_body("data-first-rows-at", &format!("{:.0}", now()));
                    }
                }
            }
            Response::Session(v) => {
                if Some(v.summary.number) == self.session {
                    self.overview = Some(Rc::new(*v));
                }
            }
            Response::Detail(d) => {
                if Some(d.session) == self.session {
                    self.detail = Some(Rc::new(*d));
                }
            }
            Response::Located {
                session,
                row,
                position,
            } => {
                if Some(session) == self.session {
                    match (row, position) {
                        (_, Some(p)) => self.selected = Some(p),
                        (Some(r), None) => {
                            // Not in the filtered list: show everything.
                            self.filter = Filter::default();
                            self.rows_min_seq = self.seq.wrapping_add(1);
                            self.rows = Rc::new(Vec::new());
                            self.selected = Some(r);
                        }
                        _ => {}
                    }
                    if let Some(p) = self.selected {
                        self.first_visible = p.saturating_sub(5);
                    }
                    self.tab = Tab::Messages;
                }
            }
            Response::Lanes(l) => {
                if Some(l.session) == self.session {
                    self.lanes = Some(Rc::new(*l));
                }
            }
            Response::Charts(c) => {
                if Some(c.session) == self.session {
                    self.charts = Some(Rc::new(*c));
                }
            }
            Response::Exported { name, size } => {
                if let Some(b) = blob {
                    download(&b, &name);
                }
                self.export_note = Some(format!("saved {name} ({size} bytes)"));
            }
            Response::ExportFailed { message } => {
                self.export_note = Some(format!("export failed: {message}"));
            }
            Response::Ready => {}
            Response::LiveState { state, detail } => {
                if state == "open" || state == "connecting" {
                    self.file_name = "live feed".into();
                }
                self.live = Some(if detail.is_empty() {
                    state
                } else {
                    format!("{state}: {detail}")
                });
            }
        }
    }
}

fn download(blob: &Blob, name: &str) {
    let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else {
        return;
    };
    let a = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("a").ok())
        .and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok());
    if let Some(a) = a {
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    // The click has started the download; the URL can go after a moment.
    let cb = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 10_000);
    }
}

fn make_worker(dispatch: UseReducerDispatcher<State>) -> Option<Rc<Bridge>> {
    let opts = WorkerOptions::new();
    opts.set_type(WorkerType::Classic);
    let worker = Worker::new_with_options("./worker_loader.js", &opts).ok()?;
    let bridge = Rc::new(Bridge {
        worker: worker.clone(),
        ready: Cell::new(false),
        queue: RefCell::new(Vec::new()),
    });
    let weak: Weak<Bridge> = Rc::downgrade(&bridge);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let data = e.data();
        let (text, blob) = match data.as_string() {
            Some(t) => (Some(t), None),
            None => (
                Reflect::get(&data, &"res".into())
                    .ok()
                    .and_then(|v| v.as_string()),
                Reflect::get(&data, &"blob".into())
                    .ok()
                    .and_then(|b| b.dyn_into::<Blob>().ok()),
            ),
        };
        match text.and_then(|t| serde_json::from_str::<Response>(&t).ok()) {
            Some(Response::Ready) => {
                if let Some(b) = weak.upgrade() {
                    b.set_ready();
                }
            }
            Some(res) => dispatch.dispatch(Action::Worker(res, blob)),
            None => {}
        }
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    Some(bridge)
}

/// Live mode: the page asks `GET /feed-info` (never from file://) and, when
/// it answers `{"live":true}`, connects to `ws://<host>/feed`.
fn detect_live(bridge: Rc<Bridge>) {
    let Some(w) = web_sys::window() else {
        return;
    };
    let loc = w.location();
    let proto = loc.protocol().unwrap_or_default();
    if proto == "file:" {
        return;
    }
    let host = loc.host().unwrap_or_default();
    let token = web_sys::UrlSearchParams::new_with_str(&loc.search().unwrap_or_default())
        .ok()
        .and_then(|p| p.get("token"));
    let q = token
        .map(|t| format!("?token={}", String::from(js_sys::encode_uri_component(&t))))
        .unwrap_or_default();
    let ws_proto = if proto == "https:" { "wss:" } else { "ws:" };
    let url = format!("{ws_proto}//{host}/feed{q}");
    let info = format!("/feed-info{q}");
    wasm_bindgen_futures::spawn_local(async move {
        let Some(w) = web_sys::window() else {
            return;
        };
        let Ok(resp) = wasm_bindgen_futures::JsFuture::from(w.fetch_with_str(&info)).await else {
            return;
        };
        let Ok(resp) = resp.dyn_into::<web_sys::Response>() else {
            return;
        };
        if !resp.ok() {
            return;
        }
        let Ok(text) = resp.text() else {
            return;
        };
        let Ok(text) = wasm_bindgen_futures::JsFuture::from(text).await else {
            return;
        };
        let live = text
            .as_string()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("live").and_then(|l| l.as_bool()))
            .unwrap_or(false);
        if live {
            bridge.send(&Request::Live { url });
        }
    });
}

/// The root component.
#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(State::default);
    let bridge = {
        let dispatch = state.dispatcher();
        use_memo((), move |_| make_worker(dispatch))
    };
    {
        let bridge = bridge.clone();
        use_effect_with((), move |_| {
            if let Some(b) = &*bridge {
                detect_live(b.clone());
            }
        });
    }
    let Some(bridge) = (*bridge).clone() else {
        return html! { <div class="fatal">{ "This browser cannot start the decoding worker (Web Workers are needed)." }</div> };
    };

    // The session's overview, when it changes or decoding finishes (findings are final then).
    {
        let bridge = bridge.clone();
        let deps = (state.session, state.done, state.messages / 5000);
        use_effect_with(deps, move |(session, _, _)| {
            if let Some(n) = session {
                bridge.send(&Request::Session { session: *n });
            }
        });
    }
    // The table's window, re-asked as decoding adds messages or the view moves.
    {
        let bridge = bridge.clone();
        let dispatch = state.dispatcher();
        let cached = (state.rows_start, state.rows.len() as u32, state.total_rows);
        let deps = (
            state.session,
            state.filter.clone(),
            state.first_visible,
            state.messages,
            state.live.is_some(),
        );
        let seq = state.seq;
        let fresh = state.rows_for_messages == state.messages;
        let messages = state.messages;
        use_effect_with(deps, move |(session, filter, first, _, _)| {
            if let Some(n) = session {
                let start = first.saturating_sub(WINDOW / 4);
                let (cs, cl, total) = cached;
                // The cached rows serve if nothing was decoded since they
                // were asked for and they span the window (or reach the end).
                let covered = fresh
                    && cl > 0
                    && cs <= start
                    && (start + WINDOW <= cs + cl || cs + cl >= total);
                if !covered {
                    let seq = seq.wrapping_add(1);
                    dispatch.dispatch(Action::RowsRequested(seq, messages));
                    bridge.send(&Request::Rows {
                        session: *n,
                        start,
                        count: WINDOW,
                        filter: filter.clone(),
                        seq,
                    });
                }
            }
        });
    }
    // The selected message's detail.
    {
        let bridge = bridge.clone();
        let row = state.selected.and_then(|p| {
            p.checked_sub(state.rows_start)
                .and_then(|i| state.rows.get(i as usize))
                .map(|r| r.row)
        });
        use_effect_with((state.session, row), move |(session, row)| {
            if let (Some(s), Some(r)) = (session, row) {
                bridge.send(&Request::Detail {
                    session: *s,
                    row: *r,
                });
            }
        });
    }

    let on_files = {
        let bridge = bridge.clone();
        let dispatch = state.dispatcher();
        Callback::from(move |files: Vec<File>| {
            let name = files.iter().map(File::name).collect::<Vec<_>>().join(" + ");
            dispatch.dispatch(Action::Opening(name));
            bridge.open(files);
        })
    };
    let dispatch = state.dispatcher();
    let on_select_session = {
        let d = dispatch.clone();
        Callback::from(move |n: u64| d.dispatch(Action::SelectSession(n)))
    };
    let on_filter = {
        let d = dispatch.clone();
        Callback::from(move |f: Filter| d.dispatch(Action::SetFilter(f)))
    };
    let on_scroll = {
        let d = dispatch.clone();
        Callback::from(move |first: u32| d.dispatch(Action::Scrolled(first)))
    };
    let on_select = {
        let d = dispatch.clone();
        Callback::from(move |pos: u32| d.dispatch(Action::Select(pos)))
    };
    let on_evidence = {
        let bridge = bridge.clone();
        let session = state.session;
        let filter = state.filter.clone();
        Callback::from(move |(dir, index): (String, u64)| {
            if let Some(s) = session {
                bridge.send(&Request::Locate {
                    session: s,
                    dir,
                    index,
                    filter: filter.clone(),
                });
            }
        })
    };
    let on_tab = {
        let d = dispatch.clone();
        Callback::from(move |t: Tab| d.dispatch(Action::Tab(t)))
    };
    let on_row_jump = {
        let d = dispatch.clone();
        Callback::from(move |row: u32| {
            d.dispatch(Action::SetFilter(Filter::default()));
            d.dispatch(Action::Select(row));
            d.dispatch(Action::Scrolled(row.saturating_sub(5)));
            d.dispatch(Action::Tab(Tab::Messages));
        })
    };

    // A capture dropped anywhere replaces the one open.
    let ondragover = Callback::from(|e: web_sys::DragEvent| e.prevent_default());
    let ondrop = {
        let on_files = on_files.clone();
        Callback::from(move |e: web_sys::DragEvent| {
            e.prevent_default();
            let files =
                crate::components::drop_zone::files_of(e.data_transfer().and_then(|d| d.files()));
            if !files.is_empty() {
                on_files.emit(files);
            }
        })
    };
    let opened = !state.file_name.is_empty() || state.live.is_some();
    html! {
        <div class="app" {ondragover} {ondrop}>
            <Toolbar state={state.clone()} bridge={bridge.clone()} on_files={on_files.clone()} on_tab={on_tab} />
            if let Some((headline, detail)) = &state.failed {
                <div class="error-banner" role="alert" id="open-error">
                    <strong>{ headline.clone() }</strong>
                    <div class="error-detail">{ detail.clone() }</div>
                    <div class="hint">{ "rtmpscope reads pcap and pcapng captures (tcpdump, Wireshark, rtmpscope proxy) and raw .c2s/.s2c direction streams." }</div>
                </div>
            }
            if !opened || (state.failed.is_some() && state.sessions.is_empty()) {
                <DropZone on_files={on_files} />
            } else {
                <div class="main">
                    <aside class="side">
                        <SessionList sessions={state.sessions.clone()} selected={state.session} on_select={on_select_session} skipped={state.skipped.clone()} warnings={state.warnings.clone()} />
                        if let Some(o) = &state.overview {
                            <HandshakeCard view={o.clone()} />
                            <Findings view={o.clone()} on_evidence={on_evidence} />
                        }
                    </aside>
                    <section class="content">
                        { match state.tab {
                            Tab::Messages => html! {
                                <div class="messages-and-detail">
                                    <MessageTable
                                        session={state.session}
                                        filter={state.filter.clone()}
                                        total={state.total_rows}
                                        rows_start={state.rows_start}
                                        rows={state.rows.clone()}
                                        selected={state.selected}
                                        first_visible={state.first_visible}
                                        on_filter={on_filter}
                                        on_scroll={on_scroll}
                                        on_select={on_select}
                                        follow={state.live.is_some()} />
                                    <DetailPane detail={state.detail.clone()} />
                                </div>
                            },
                            Tab::Lanes => html! {
                                <Lanes session={state.session} bridge={bridge.clone()} lanes={state.lanes.clone()} on_row={on_row_jump} />
                            },
                            Tab::Charts => html! {
                                <Charts session={state.session} bridge={bridge.clone()} charts={state.charts.clone()} />
                            },
                        } }
                    </section>
                </div>
            }
        </div>
    }
}

/// Mounts the app on `<body>`.
pub fn start() {
    yew::Renderer::<App>::new().render();
}
