//! A session's recorder: takes what the forwarding loops offer, writes the
//! capture file, feeds the decoder and reports.
//!
//! The recorder is a task of its own. Decoding and building pcapng blocks is
//! CPU work on bytes already in memory, done in the task in small steps (it
//! yields to the runtime every few records, so forwarding tasks on the same
//! thread are never held up for long); the blocks collect in memory and reach
//! the file through disk jobs on tokio's blocking pool, one at a time. When
//! the disk is slower than the session, the blocks waiting for it are bounded
//! ([`SPOOL_MAX`]): past it the recorder stops taking records, the forwarding
//! loops' queue fills up, and what they forward meanwhile becomes a recorded
//! capture gap. Forwarding never waits for any of this.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtmpscope_core::command::CommandInfo;
use rtmpscope_core::diagnose::{Diagnoser, Finding};
use rtmpscope_core::json;
use rtmpscope_core::message::Body;
use rtmpscope_core::{Direction, Event, Session};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::capture_file::{CaptureFile, DiskDone};
use crate::feed::Feed;
use crate::output::Lines;
use crate::report::{human_bytes, round3, Report};
use crate::tap::{End, Queued, Record};

/// Records taken from the queue at once.
const BATCH: usize = 64;
/// Blocks in memory that start a disk job without waiting for the flush timer.
const WRITE_AT: usize = 256 << 10;
/// Blocks in memory, at most, while a disk job runs.
const SPOOL_MAX: usize = 8 << 20;
/// Capture gap lines per session are at most this frequent (the rest are summed).
const GAP_LOG_EVERY: f64 = 1.0;
/// Bytes of work per unit of the runtime's cooperative budget.
pub(crate) const BUDGET_UNIT: usize = 16 << 10;

/// What the recorder is told about its session.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    pub(crate) number: u64,
    pub(crate) client: SocketAddr,
    /// The upstream's address (the server end of the recorded connection).
    pub(crate) server: SocketAddr,
    /// The proxy's end of the upstream connection.
    pub(crate) upstream_local: SocketAddr,
    /// The upstream as configured.
    pub(crate) upstream: String,
    /// The proxy's listening address.
    pub(crate) listen: SocketAddr,
    /// When the client was accepted (seconds since the epoch).
    pub(crate) start: f64,
}

/// Settings the recorder needs.
#[derive(Debug, Clone)]
pub(crate) struct RecorderConfig {
    pub(crate) capture_dir: Option<PathBuf>,
    pub(crate) decode: bool,
    pub(crate) json: bool,
    pub(crate) flush_interval: Duration,
    pub(crate) status_interval: Option<Duration>,
}

/// How each direction ended, as the forwarding loop said.
#[derive(Debug, Clone, Copy)]
struct DirEnd {
    end: End,
    received: u64,
    undelivered: u64,
}

/// Capture gaps not yet reported.
#[derive(Debug, Default)]
struct GapLines {
    last: f64,
    count: u64,
    bytes: [u64; 2],
}

pub(crate) struct Recorder {
    info: SessionInfo,
    cfg: RecorderConfig,
    file: Option<CaptureFile>,
    decoder: Option<Session>,
    /// The live feed (the UI server's), when there is one.
    feed: Option<Arc<Feed>>,
    /// The diagnosis rules, fed every decoded event; findings are printed as they are raised.
    diagnoser: Diagnoser,
    report: Report,
    lines: Lines,
    queued: Arc<Queued>,
    events: Vec<Event>,
    /// Bytes per direction so far (recorded or not).
    bytes: [u64; 2],
    /// Bytes forwarded but not recorded, per direction.
    gaps: [u64; 2],
    ends: [Option<DirEnd>; 2],
    gap_lines: GapLines,
    labelled: bool,
    /// The flush timer fired while a disk job was running.
    flush_due: bool,
}

fn idx(d: Direction) -> usize {
    match d {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

fn end_name(e: Option<DirEnd>) -> &'static str {
    match e.map(|e| e.end) {
        Some(End::Fin) => "fin",
        Some(End::Reset) => "reset",
        Some(End::Proxy { reset: false }) => "proxy_fin",
        Some(End::Proxy { reset: true }) => "proxy_reset",
        None => "open",
    }
}

impl Recorder {
    pub(crate) fn new(
        info: SessionInfo,
        cfg: RecorderConfig,
        lines: Lines,
        queued: Arc<Queued>,
        feed: Option<Arc<Feed>>,
    ) -> Recorder {
        Recorder {
            feed,
            report: Report::new(info.number, info.client, cfg.json, info.start),
            decoder: cfg.decode.then(Session::new),
            diagnoser: Diagnoser::new(),
            info,
            cfg,
            file: None,
            lines,
            queued,
            events: Vec::new(),
            bytes: [0, 0],
            gaps: [0, 0],
            ends: [None, None],
            gap_lines: GapLines::default(),
            labelled: false,
            flush_due: false,
        }
    }

    fn log(&self, time: f64, level: &str, message: &str) {
        self.lines.send(self.report.log(time, level, message));
    }

    fn capture_problem(&self, r: Result<(), String>, time: f64) {
        if let Err(e) = r {
            self.log(time, "error", &e);
        }
    }

    /// Creates the capture file (on the blocking pool).
    async fn create_file(&mut self) -> Option<String> {
        let dir = self.cfg.capture_dir.clone()?;
        let i = &self.info;
        let comment = format!(
            "rtmpscope proxy session {}: client {} to proxy {}, upstream {} ({}) from {}",
            i.number, i.client, i.listen, i.upstream, i.server, i.upstream_local
        );
        let (start, client, server) = (i.start, i.client, i.server);
        let d = dir.clone();
        let made = tokio::task::spawn_blocking(move || {
            CaptureFile::create(&d, start, client, server, &comment)
        })
        .await;
        match made {
            Ok(Ok(f)) => {
                self.file = Some(f);
                None
            }
            Ok(Err(e)) => Some(format!(
                "cannot create a capture file in {}: {e}; the session is not recorded",
                dir.display()
            )),
            Err(_) => Some("cannot create a capture file: the job failed".into()),
        }
    }

    /// Prints the session line (and why there is no capture file, if so).
    fn opened(&mut self, problem: Option<String>) {
        let i = &self.info;
        let capture = self.file.as_ref().map(|f| f.path().display().to_string());
        let line = if self.cfg.json {
            let mut s = String::new();
            let mut o = json::Obj::new(&mut s);
            o.str("kind", "session")
                .int("session", i.number)
                .str("client", &i.client.to_string())
                .str("server", &i.server.to_string())
                .num("start", i.start)
                .str("upstream", &i.upstream)
                .str("upstream_local", &i.upstream_local.to_string());
            if let Some(c) = &capture {
                o.str("capture", c);
            }
            o.end();
            s
        } else {
            let mut what = format!(
                "session: client {} -> upstream {} ({}) via {}",
                i.client, i.upstream, i.server, i.upstream_local
            );
            if let Some(c) = &capture {
                what.push_str(&format!("; capture {c}"));
            }
            self.report.text(i.start, None, &what)
        };
        self.lines.send(line);
        if let Some(feed) = &self.feed {
            feed.open(
                i.number,
                &i.client.to_string(),
                &i.server.to_string(),
                i.start,
            );
        }
        if let Some(p) = problem {
            self.log(i.start, "error", &p);
        }
    }

    /// Handles one record (CPU work only: the file's blocks stay in memory).
    fn record(&mut self, record: Record) {
        match record {
            Record::Data {
                dir,
                bytes,
                time,
                gap_before,
            } => {
                if gap_before > 0 {
                    self.gap(dir, gap_before, time);
                }
                self.data(dir, bytes, time);
            }
            Record::Closed {
                dir,
                end,
                time,
                gap_before,
                received,
                undelivered,
            } => {
                if gap_before > 0 {
                    self.gap(dir, gap_before, time);
                }
                self.closed(dir, end, time, received, undelivered);
            }
            Record::Note { text, time } => {
                self.log(time, "info", &text);
                if let Some(f) = &mut self.file {
                    let r = f.comment(&format!("rtmpscope: {text}"));
                    self.capture_problem(r, time);
                }
            }
        }
    }

    fn data(&mut self, dir: Direction, bytes: Bytes, time: f64) {
        let n = bytes.len();
        self.bytes[idx(dir)] += n as u64;
        if let Some(f) = &mut self.file {
            let r = f.data(dir, &bytes, time);
            self.capture_problem(r, time);
        }
        if let Some(feed) = &self.feed {
            feed.data(self.info.number, dir, time, &bytes);
        }
        self.decode(time, |s, out| s.feed(dir, bytes, time, out));
        self.queued.release(n);
    }

    /// Runs the decoder; a panic in it (a bug) stops decoding, never the capture.
    fn decode(&mut self, time: f64, f: impl FnOnce(&mut Session, &mut Vec<Event>)) {
        let Some(session) = &mut self.decoder else {
            return;
        };
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        if catch_unwind(AssertUnwindSafe(|| f(session, &mut events))).is_err() {
            self.decoder = None;
            self.log(
                time,
                "error",
                "the decoder failed (a bug in rtmpscope): decoding stops for this session; forwarding and capture go on",
            );
        }
        for ev in &events {
            self.report.event(ev, &self.lines);
            self.diagnoser.observe(ev);
            if !self.labelled {
                self.label_from(ev);
            }
        }
        self.events = events;
        self.print_findings(time);
    }

    /// Prints the findings raised since the last call.
    fn print_findings(&mut self, time: f64) {
        for f in self.diagnoser.take_new() {
            let line = finding_line(&f, &self.report, self.info.number, self.cfg.json, time);
            self.lines.send(line);
        }
    }

    /// Names the capture file after the first stream that publish or play names.
    fn label_from(&mut self, ev: &Event) {
        let Event::Message(m) = ev else { return };
        let Body::Command(c) = &m.body else { return };
        let name = match &c.info {
            CommandInfo::Publish { name: Some(n), .. }
            | CommandInfo::Play { name: Some(n), .. } => n,
            _ => return,
        };
        self.labelled = true;
        if let Some(f) = &mut self.file {
            f.label(name);
        }
    }

    /// Bytes forwarded but not recorded: in the file, the decoder and (summed) the log.
    fn gap(&mut self, dir: Direction, len: u64, time: f64) {
        self.bytes[idx(dir)] += len;
        self.gaps[idx(dir)] += len;
        if let Some(f) = &mut self.file {
            let r = f.gap(dir, len, time);
            self.capture_problem(r, time);
        }
        if let Some(feed) = &self.feed {
            feed.gap(self.info.number, dir, len, time);
        }
        self.decode(time, |s, out| s.gap(dir, len, time, out));
        self.gap_lines.count += 1;
        self.gap_lines.bytes[idx(dir)] += len;
        self.report_gaps(time, false);
    }

    fn report_gaps(&mut self, time: f64, force: bool) {
        let g = &mut self.gap_lines;
        if g.count == 0 || (!force && time - g.last < GAP_LOG_EVERY) {
            return;
        }
        let text = format!(
            "capture gap: {} forwarded but not recorded (C>S {} B, S>C {} B, in {} piece(s)): the recorder was behind",
            human_bytes(g.bytes[0] + g.bytes[1]),
            g.bytes[0],
            g.bytes[1],
            g.count
        );
        *g = GapLines {
            last: time,
            ..GapLines::default()
        };
        self.log(time, "warning", &text);
    }

    fn closed(&mut self, dir: Direction, end: End, time: f64, received: u64, undelivered: u64) {
        self.ends[idx(dir)] = Some(DirEnd {
            end,
            received,
            undelivered,
        });
        let reset = matches!(end, End::Reset | End::Proxy { reset: true });
        if self.decoder.is_some() {
            self.diagnoser.closed(dir, reset, time);
        }
        if let Some(feed) = &self.feed {
            feed.close(self.info.number, dir, reset, time);
        }
        let (sender, receiver) = match dir {
            Direction::ClientToServer => ("client", "upstream"),
            Direction::ServerToClient => ("upstream", "client"),
        };
        let mut what = match end {
            End::Fin => format!("{sender} closed its side (FIN)"),
            End::Reset => format!("{sender} reset the connection (RST)"),
            End::Proxy { reset: false } => "closed by the proxy (FIN)".to_string(),
            End::Proxy { reset: true } => "closed by the proxy (RST)".to_string(),
        };
        if undelivered > 0 {
            what.push_str(&format!(
                "; {undelivered} byte(s) could not be delivered to the {receiver}"
            ));
        }
        if self.cfg.json {
            let mut s = String::new();
            json::Obj::new(&mut s)
                .str("kind", "end")
                .int("session", self.info.number)
                .str("dir", dir.as_str())
                .num("time", time)
                .str("end", end_name(self.ends[idx(dir)]))
                .int("bytes", received)
                .int("undelivered", undelivered)
                .end();
            self.lines.send(s);
        } else {
            self.lines.send(self.report.text(time, Some(dir), &what));
        }
        if let Some(f) = &mut self.file {
            let mut r = Ok(());
            if let End::Proxy { .. } = end {
                r = f.comment(
                    "rtmpscope: this direction was closed by the proxy, not by its sender",
                );
            }
            let reset = matches!(end, End::Reset | End::Proxy { reset: true });
            let r = r.and_then(|()| f.close(dir, reset, time));
            self.capture_problem(r, time);
        }
    }

    /// Bytes waiting in memory for the disk.
    fn spooled(&self) -> usize {
        self.file.as_ref().map_or(0, CaptureFile::spooled)
    }

    /// Whether to stop taking records until the disk catches up.
    fn disk_behind(&self, busy: bool) -> bool {
        busy && self.spooled() >= SPOOL_MAX
    }

    /// Starts a disk job if there is work and none is running.
    fn start_disk(&mut self, inflight: &mut Option<JoinHandle<DiskDone>>) {
        if inflight.is_some() {
            return;
        }
        if let Some(job) = self.file.as_mut().and_then(CaptureFile::job) {
            self.flush_due = false;
            *inflight = Some(tokio::task::spawn_blocking(move || job.run()));
        }
    }

    fn disk_done(&mut self, done: Result<DiskDone, tokio::task::JoinError>) {
        let time = crate::now();
        let Some(f) = &mut self.file else { return };
        let outcome = match done {
            Ok(d) => f.job_done(d),
            Err(_) => Err(f.job_lost()),
        };
        match outcome {
            Ok(Some(path)) => {
                let line = if self.cfg.json {
                    let mut s = String::new();
                    json::Obj::new(&mut s)
                        .str("kind", "capture")
                        .int("session", self.info.number)
                        .num("time", time)
                        .str("path", &path.display().to_string())
                        .end();
                    s
                } else {
                    self.report.text(
                        time,
                        None,
                        &format!("capture renamed to {}", path.display()),
                    )
                };
                self.lines.send(line);
            }
            Ok(None) => {}
            Err(e) => self.log(time, "error", &e),
        }
    }

    /// The flush timer: waiting comments become blocks, and the blocks go to the disk.
    fn flush(&mut self) {
        let time = crate::now();
        self.report_gaps(time, true);
        if let Some(f) = &mut self.file {
            let r = f.flush();
            self.capture_problem(r, time);
        }
        self.flush_due = true;
    }

    fn status(&mut self) {
        let now = crate::now();
        let line = self.report.status(now, self.bytes);
        self.lines.send(line);
        if self.decoder.is_some() {
            // Rules such as "no answer to connect within 10 s" fire while the peer is silent.
            self.diagnoser.tick(now);
            self.print_findings(now);
        }
    }

    /// The decoder reports what it still holds; waiting comments become blocks.
    fn finish_decoding(&mut self) {
        let time = crate::now();
        self.decode(time, |s, out| s.finish(out));
        if self.decoder.is_some() {
            self.diagnoser.finish();
            self.print_findings(time);
        }
        self.report_gaps(time, true);
        if let Some(f) = &mut self.file {
            let r = f.flush();
            self.capture_problem(r, time);
        }
    }

    /// The session's last line.
    fn close_line(&self) {
        let time = crate::now();
        let capture = self.file.as_ref().map(|f| f.path().display().to_string());
        let capture_failed = self.file.as_ref().is_some_and(CaptureFile::failed);
        let capture_bytes = match (&capture, capture_failed) {
            (Some(c), false) => std::fs::metadata(c).map(|m| m.len()).unwrap_or(0),
            _ => 0,
        };
        // The forwarding loops' own counts (they include bytes the recorder never saw).
        let bytes = [0, 1].map(|i| self.ends[i].map_or(self.bytes[i], |e| e.received));
        let duration = (time - self.info.start).max(0.0);
        let line = if self.cfg.json {
            let mut s = String::new();
            let mut o = json::Obj::new(&mut s);
            o.str("kind", "close")
                .int("session", self.info.number)
                .num("time", time)
                .num("duration", round3(duration))
                .int("c2s_bytes", bytes[0])
                .int("s2c_bytes", bytes[1])
                .str("c2s_end", end_name(self.ends[0]))
                .str("s2c_end", end_name(self.ends[1]))
                .int("c2s_undelivered", self.ends[0].map_or(0, |e| e.undelivered))
                .int("s2c_undelivered", self.ends[1].map_or(0, |e| e.undelivered))
                .int("c2s_gap_bytes", self.gaps[0])
                .int("s2c_gap_bytes", self.gaps[1])
                .int("c2s_messages", self.report.messages[0])
                .int("s2c_messages", self.report.messages[1])
                .int("decode_errors", self.report.errors);
            if let Some(c) = &capture {
                o.str("capture", c)
                    .int("capture_bytes", capture_bytes)
                    .bool("capture_complete", !capture_failed);
            }
            o.end();
            s
        } else {
            let mut what = format!(
                "closed after {duration:.1} s: C>S {} ({}), S>C {} ({}); messages {} / {}; decode errors {}",
                human_bytes(bytes[0]),
                end_name(self.ends[0]),
                human_bytes(bytes[1]),
                end_name(self.ends[1]),
                self.report.messages[0],
                self.report.messages[1],
                self.report.errors,
            );
            if self.gaps != [0, 0] {
                what.push_str(&format!(
                    "; capture gaps C>S {} B, S>C {} B",
                    self.gaps[0], self.gaps[1]
                ));
            }
            if let Some(c) = &capture {
                what.push_str(&format!(
                    "; capture {c}{}",
                    if capture_failed { " (incomplete)" } else { "" }
                ));
            }
            self.report.text(time, None, &what)
        };
        self.lines.send(line);
    }
}

/// A finding as the proxy prints it: the JSON line of `rtmpscope diagnose --json`,
/// or `finding ERROR [code] title (hint: …)` after the session's prefix.
fn finding_line(f: &Finding, report: &Report, session: u64, json: bool, time: f64) -> String {
    if json {
        let mut s = String::new();
        f.write_json(&mut s, session);
        return s;
    }
    let mut what = format!("finding {} [{}] {}", f.severity.tag(), f.code, f.title);
    if !f.hint.is_empty() {
        what.push_str(&format!(" (hint: {})", f.hint));
    }
    report.text(time, None, &what)
}

/// Waits for the running disk job, if any.
async fn job(
    inflight: &mut Option<JoinHandle<DiskDone>>,
) -> Result<DiskDone, tokio::task::JoinError> {
    match inflight {
        Some(h) => h.await,
        None => std::future::pending().await,
    }
}

/// The recorder's loop: until both forwarding directions are done and the queue is empty.
pub(crate) async fn run(mut rec: Recorder, mut rx: mpsc::Receiver<Record>) {
    let problem = rec.create_file().await;
    rec.opened(problem);
    let mut inflight: Option<JoinHandle<DiskDone>> = None;
    let mut batch: Vec<Record> = Vec::with_capacity(BATCH);
    let start = tokio::time::Instant::now();
    let mut flush_tick =
        tokio::time::interval_at(start + rec.cfg.flush_interval, rec.cfg.flush_interval);
    flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let status_every = rec.cfg.status_interval;
    let period = status_every.unwrap_or(Duration::from_secs(3600));
    let mut status_tick = tokio::time::interval_at(start + period, period);
    status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let busy = inflight.is_some();
        tokio::select! {
            done = job(&mut inflight) => {
                inflight = None;
                rec.disk_done(done);
                if rec.flush_due || rec.spooled() >= WRITE_AT {
                    rec.start_disk(&mut inflight);
                }
            }
            n = rx.recv_many(&mut batch, BATCH), if !rec.disk_behind(busy) => {
                if n == 0 {
                    break;
                }
                for record in batch.drain(..) {
                    let weight = match &record {
                        Record::Data { bytes, .. } => bytes.len(),
                        _ => 0,
                    };
                    rec.record(record);
                    for _ in 0..=weight / BUDGET_UNIT {
                        tokio::task::coop::consume_budget().await;
                    }
                }
                if rec.flush_due || rec.spooled() >= WRITE_AT {
                    rec.start_disk(&mut inflight);
                }
            }
            _ = flush_tick.tick() => {
                rec.flush();
                rec.start_disk(&mut inflight);
            }
            _ = status_tick.tick(), if status_every.is_some() => rec.status(),
        }
    }
    rec.finish_decoding();
    // Everything still in memory goes to the file: after the running job, one more.
    for _ in 0..2 {
        if inflight.is_some() {
            let done = job(&mut inflight).await;
            inflight = None;
            rec.disk_done(done);
        }
        rec.start_disk(&mut inflight);
    }
    if inflight.is_some() {
        let done = job(&mut inflight).await;
        rec.disk_done(done);
    }
    rec.close_line();
    if let Some(feed) = &rec.feed {
        feed.end(rec.info.number);
    }
}
