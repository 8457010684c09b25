//! `rtmpscope decode`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use clap::Args;
use rtmpscope_core::{json, session};

use crate::text;

#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// Raw bytes the client sent (starting with C0).
    #[arg(long, value_name = "FILE")]
    c2s: Option<PathBuf>,
    /// Raw bytes the server sent (starting with S0).
    #[arg(long, value_name = "FILE")]
    s2c: Option<PathBuf>,
    /// Print one JSON object per line (the documented contract) instead of text.
    #[arg(long)]
    json: bool,
    /// Show AMF values and media headers in full.
    #[arg(short, long)]
    verbose: bool,
}

fn read(path: &Option<PathBuf>) -> Result<Bytes> {
    match path {
        None => Ok(Bytes::new()),
        Some(p) => std::fs::read(p)
            .map(Bytes::from)
            .with_context(|| format!("cannot read {}", p.display())),
    }
}

pub fn run(a: DecodeArgs) -> Result<ExitCode> {
    if a.c2s.is_none() && a.s2c.is_none() {
        bail!("nothing to decode: give --c2s FILE and/or --s2c FILE (see --help)");
    }
    let c2s = read(&a.c2s)?;
    let s2c = read(&a.s2c)?;
    let mut events = Vec::new();
    session::decode_pair(c2s, s2c, &mut events);
    let stdout = std::io::stdout();
    let mut w = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = String::with_capacity(512);
    let session_no = 0;
    if a.json {
        line.clear();
        let mut o = json::Obj::new(&mut line);
        o.str("kind", "session").int("session", session_no);
        if let Some(p) = &a.c2s {
            o.str("c2s_file", &p.display().to_string());
        }
        if let Some(p) = &a.s2c {
            o.str("s2c_file", &p.display().to_string());
        }
        o.end();
        writeln!(w, "{line}")?;
    }
    for ev in &events {
        line.clear();
        if a.json {
            json::write_event(&mut line, session_no, ev);
        } else {
            text::write_event(&mut line, ev, a.verbose);
        }
        if writeln!(w, "{line}").is_err() {
            // A closed pipe (`| head`) is not an error.
            return Ok(ExitCode::SUCCESS);
        }
    }
    if !a.json {
        line.clear();
        text::write_totals(&mut line, &events);
        let _ = writeln!(w, "{line}");
    }
    let _ = w.flush();
    Ok(ExitCode::SUCCESS)
}
