//! Inputs: pcap/pcapng captures (streamed, any number of connections) or a
//! pair of raw direction streams. Every consumer (decode, stats, diagnose,
//! export-flv) sees the same sequence of [`Item`]s, in capture order.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use rtmpscope_capture::{CaptureError, CaptureEvent, CaptureReader, StreamKind};
use rtmpscope_core::{session, Event, Session};

/// Where a session's bytes came from.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Session number, from 0 in order of appearance.
    pub number: u64,
    /// Client address (None for raw streams).
    pub client: Option<SocketAddr>,
    /// Server address (None for raw streams).
    pub server: Option<SocketAddr>,
    /// Capture time of the first segment.
    pub start: f64,
    /// RTMP, RTMP mid-stream or RTMPT.
    pub kind: StreamKind,
    /// For raw streams: the files.
    pub files: Option<(Option<PathBuf>, Option<PathBuf>)>,
}

/// What an input yields.
pub enum Item<'a> {
    /// An RTMP session starts.
    Session(&'a SessionInfo),
    /// An event of a session.
    Event(&'a SessionInfo, &'a Event),
    /// One direction of a session's connection ended (FIN, or RST when `reset`).
    Closed {
        info: &'a SessionInfo,
        dir: rtmpscope_core::Direction,
        reset: bool,
        time: f64,
    },
    /// A session ended (its connection closed, or the input ended).
    End(&'a SessionInfo, &'a Session),
    /// A TCP connection that is not RTMP.
    Skipped {
        client: SocketAddr,
        server: SocketAddr,
        what: String,
    },
    /// A problem with the capture file.
    Warning(String),
}

/// Where a command's input comes from: a capture or a raw stream (FILE), or
/// the two directions' raw streams (--c2s, --s2c).
#[derive(clap::Args, Debug)]
pub struct InputArgs {
    /// A pcap or pcapng capture, or a raw .c2s/.s2c stream (its sibling is read too).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Raw bytes the client sent (starting with C0).
    #[arg(long, value_name = "FILE")]
    c2s: Option<PathBuf>,
    /// Raw bytes the server sent (starting with S0).
    #[arg(long, value_name = "FILE")]
    s2c: Option<PathBuf>,
}

/// What to read.
pub enum Input {
    /// A pcap or pcapng file.
    Capture(PathBuf),
    /// Raw direction streams.
    Pair(Option<PathBuf>, Option<PathBuf>),
}

impl Input {
    /// From a FILE argument and the optional --c2s/--s2c.
    pub fn from_args(a: InputArgs) -> Result<Input> {
        match (a.file, a.c2s, a.s2c) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                bail!("give either FILE or --c2s/--s2c, not both")
            }
            (Some(f), None, None) => Ok(pair_for(&f).unwrap_or(Input::Capture(f))),
            (None, None, None) => bail!("nothing to read: give FILE (pcap, pcapng, or a raw .c2s/.s2c stream) or --c2s/--s2c (see --help)"),
            (None, c, s) => Ok(Input::Pair(c, s)),
        }
    }
}

/// A `.c2s` or `.s2c` file names a raw pair (its sibling is used when present).
fn pair_for(f: &Path) -> Option<Input> {
    let ext = f.extension()?.to_str()?;
    let (c2s, s2c) = match ext {
        "c2s" => (f.to_path_buf(), f.with_extension("s2c")),
        "s2c" => (f.with_extension("c2s"), f.to_path_buf()),
        _ => return None,
    };
    let keep = |p: PathBuf| p.exists().then_some(p);
    Some(Input::Pair(keep(c2s), keep(s2c)))
}

fn read_raw(path: &Option<PathBuf>) -> Result<Bytes> {
    match path {
        None => Ok(Bytes::new()),
        Some(p) => std::fs::read(p)
            .map(Bytes::from)
            .with_context(|| format!("cannot read {}", p.display())),
    }
}

struct Live {
    info: SessionInfo,
    session: Session,
    closed: [bool; 2],
}

/// Reads the input and calls `sink` for every item, in order.
pub fn run(input: &Input, mut sink: impl FnMut(Item<'_>) -> Result<()>) -> Result<()> {
    match input {
        Input::Pair(c2s, s2c) => {
            let c = read_raw(c2s)?;
            let s = read_raw(s2c)?;
            let info = SessionInfo {
                number: 0,
                client: None,
                server: None,
                start: 0.0,
                kind: StreamKind::Rtmp,
                files: Some((c2s.clone(), s2c.clone())),
            };
            let mut events = Vec::new();
            let ended = session::decode_pair(c, s, &mut events);
            sink(Item::Session(&info))?;
            for e in &events {
                sink(Item::Event(&info, e))?;
            }
            sink(Item::End(&info, &ended))
        }
        Input::Capture(path) => run_capture(path, sink),
    }
}

fn run_capture(path: &Path, mut sink: impl FnMut(Item<'_>) -> Result<()>) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader =
        CaptureReader::new(BufReader::with_capacity(1 << 20, file)).map_err(|e| match e {
            CaptureError::NotACapture(why) => {
                anyhow::anyhow!("{}: not a pcap/pcapng file: {why}", path.display())
            }
            other => anyhow::anyhow!("{}: {other}", path.display()),
        })?;
    let bar = progress_bar(size);
    let mut conns: HashMap<u64, (SocketAddr, SocketAddr, f64)> = HashMap::new();
    let mut live: HashMap<u64, Live> = HashMap::new();
    let mut next_session = 0u64;
    let mut events = Vec::new();
    let mut last_pos = 0u64;
    loop {
        let ev = match reader.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e) => {
                sink(Item::Warning(format!("{}: {e}", path.display())))?;
                break;
            }
        };
        if let Some(b) = &bar {
            let pos = reader.bytes_read();
            if pos - last_pos > (1 << 20) {
                b.set_position(pos);
                last_pos = pos;
            }
        }
        match ev {
            CaptureEvent::Connection {
                conn,
                client,
                server,
                time,
                ..
            } => {
                conns.insert(conn, (client, server, time));
            }
            CaptureEvent::Classified { conn, kind } => {
                let Some(&(client, server, start)) = conns.get(&conn) else {
                    continue;
                };
                if !kind.is_rtmp() {
                    sink(Item::Skipped {
                        client,
                        server,
                        what: kind.to_string(),
                    })?;
                    conns.remove(&conn);
                    continue;
                }
                let session = match kind {
                    StreamKind::RtmpMidStream => Session::mid_stream(),
                    _ => Session::new(),
                };
                let info = SessionInfo {
                    number: next_session,
                    client: Some(client),
                    server: Some(server),
                    start,
                    kind,
                    files: None,
                };
                next_session += 1;
                sink(Item::Session(&info))?;
                live.insert(
                    conn,
                    Live {
                        info,
                        session,
                        closed: [false; 2],
                    },
                );
            }
            CaptureEvent::Data {
                conn,
                dir,
                bytes,
                time,
            } => {
                if let Some(l) = live.get_mut(&conn) {
                    events.clear();
                    l.session.feed(dir, bytes, time, &mut events);
                    for e in &events {
                        sink(Item::Event(&l.info, e))?;
                    }
                }
            }
            CaptureEvent::Gap {
                conn,
                dir,
                len,
                time,
            } => {
                if let Some(l) = live.get_mut(&conn) {
                    events.clear();
                    l.session.gap(dir, len, time, &mut events);
                    for e in &events {
                        sink(Item::Event(&l.info, e))?;
                    }
                }
            }
            CaptureEvent::Closed {
                conn,
                dir,
                reset,
                time,
            } => {
                let done = match live.get_mut(&conn) {
                    Some(l) => {
                        l.closed[dir as usize] = true;
                        sink(Item::Closed {
                            info: &l.info,
                            dir,
                            reset,
                            time,
                        })?;
                        l.closed[0] && l.closed[1]
                    }
                    None => false,
                };
                if done {
                    if let Some(mut l) = live.remove(&conn) {
                        finish(&mut l, &mut events, &mut sink)?;
                    }
                    conns.remove(&conn);
                }
            }
            CaptureEvent::Warning {
                packet,
                offset,
                message,
            } => sink(Item::Warning(format!(
                "{}: packet {packet} (file byte {offset}): {message}",
                path.display()
            )))?,
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut rest: Vec<Live> = live.into_values().collect();
    rest.sort_by_key(|l| l.info.number);
    for mut l in rest {
        finish(&mut l, &mut events, &mut sink)?;
    }
    Ok(())
}

fn finish(
    l: &mut Live,
    events: &mut Vec<Event>,
    sink: &mut impl FnMut(Item<'_>) -> Result<()>,
) -> Result<()> {
    events.clear();
    l.session.finish(events);
    for e in events.iter() {
        sink(Item::Event(&l.info, e))?;
    }
    sink(Item::End(&l.info, &l.session))
}

fn progress_bar(size: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() || size < (64 << 20) {
        return None;
    }
    let b = ProgressBar::new(size);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} decoding [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        b.set_style(style.progress_chars("=> "));
    }
    Some(b)
}
