//! `rtmpscope decode`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use rtmpscope_core::json;

use crate::filter::Filter;
use crate::input::{self, Input, Item, SessionInfo};
use crate::text;

#[derive(Args, Debug)]
pub struct DecodeArgs {
    #[command(flatten)]
    input: input::InputArgs,
    /// Print one JSON object per line (the documented contract) instead of text.
    #[arg(long)]
    json: bool,
    /// Only this session (numbered from 0 in order of appearance).
    #[arg(long, value_name = "N")]
    session: Option<u64>,
    /// Only events matching EXPR, e.g. 'dir=c2s type=command' or 'text=publish'
    /// (keys: kind, dir, type, csid, stream, command, text; `!=` negates).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Show AMF values and media headers in full.
    #[arg(short, long)]
    verbose: bool,
}

/// A session header line (JSON).
pub fn session_json(line: &mut String, info: &SessionInfo) {
    let mut o = json::Obj::new(line);
    o.str("kind", "session").int("session", info.number);
    if let (Some(c), Some(s)) = (info.client, info.server) {
        o.str("client", &c.to_string())
            .str("server", &s.to_string());
        o.num("start", info.start);
    }
    o.str("protocol", &info.kind.to_string());
    if let Some((c2s, s2c)) = &info.files {
        if let Some(p) = c2s {
            o.str("c2s_file", &p.display().to_string());
        }
        if let Some(p) = s2c {
            o.str("s2c_file", &p.display().to_string());
        }
    }
    o.end();
}

/// Output is written to stdout in pieces of about this size.
const OUT_BUFFER: usize = 1 << 18;

pub fn run(a: DecodeArgs) -> Result<ExitCode> {
    let input = Input::from_args(a.input)?;
    let filter = match &a.filter {
        Some(f) => Filter::parse(f)?,
        None => Filter::default(),
    };
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    // Lines are written into one buffer that goes to stdout whole (a
    // BufWriter would copy every line once more).
    let mut line = String::with_capacity(OUT_BUFFER + 4096);
    let mut totals = text::Totals::default();
    let mut lines = json::LineWriter::default();
    let want = |n: u64| a.session.is_none_or(|s| s == n);
    let res = input::run(&input, |item| {
        let start = line.len();
        match item {
            Item::Session(info) if want(info.number) => {
                if a.json {
                    session_json(&mut line, info);
                } else {
                    text::write_session(&mut line, info);
                }
            }
            Item::Event(info, ev) if want(info.number) && filter.matches(ev) => {
                totals.count(ev);
                if a.json {
                    lines.write_event(&mut line, info.number, ev);
                } else {
                    text::write_event(&mut line, ev, a.verbose);
                }
            }
            Item::Skipped {
                client,
                server,
                what,
            } => {
                if a.json {
                    let mut o = json::Obj::new(&mut line);
                    o.str("kind", "skipped")
                        .str("client", &client.to_string())
                        .str("server", &server.to_string())
                        .str("protocol", &what)
                        .end();
                } else {
                    line.push_str(&format!("-- not RTMP: {client} -> {server} ({what})"));
                }
            }
            Item::Warning(msg) => {
                if a.json {
                    let mut o = json::Obj::new(&mut line);
                    o.str("kind", "warning").str("message", &msg).end();
                } else {
                    line.push_str(&format!("-- warning: {msg}"));
                }
            }
            _ => {}
        }
        if line.len() > start {
            line.push('\n');
            if line.len() >= OUT_BUFFER {
                w.write_all(line.as_bytes())?;
                line.clear();
            }
        }
        Ok(())
    });
    // The rest of the output, whatever stopped decoding.
    let tail = w.write_all(line.as_bytes());
    line.clear();
    if let Err(e) = res {
        // A closed pipe (`| head`) is not an error.
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e);
    }
    if let Err(e) = tail {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e.into());
    }
    if !a.json {
        totals.write(&mut line);
        let _ = writeln!(w, "{line}");
    }
    let _ = w.flush();
    Ok(ExitCode::SUCCESS)
}
