//! `rtmpscope diagnose`: why did the push break?

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use rtmpscope_core::diagnose::{Diagnoser, Finding, Severity};
use rtmpscope_core::json;

use crate::input::{self, Input, Item, SessionInfo};
use crate::text;

#[derive(Args, Debug)]
pub struct DiagnoseArgs {
    /// A pcap or pcapng capture, or a raw .c2s/.s2c stream.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Raw bytes the client sent.
    #[arg(long, value_name = "FILE")]
    c2s: Option<PathBuf>,
    /// Raw bytes the server sent.
    #[arg(long, value_name = "FILE")]
    s2c: Option<PathBuf>,
    /// Print JSON lines (`{"kind":"finding",…}`) instead of text.
    #[arg(long)]
    json: bool,
    /// Only this session.
    #[arg(long, value_name = "N")]
    session: Option<u64>,
}

/// One finding as a JSON line.
pub fn finding_json(line: &mut String, session: u64, f: &Finding) {
    let mut o = json::Obj::new(line);
    o.str("kind", "finding")
        .int("session", session)
        .str("severity", f.severity.as_str())
        .str("code", f.code)
        .str("title", &f.title)
        .str("explanation", &f.explanation)
        .str("hint", &f.hint);
    if let Some(e) = f.evidence.first() {
        let mut at = String::new();
        let mut a = json::Obj::new(&mut at);
        a.str("dir", e.dir.as_str());
        if let Some(i) = e.index {
            a.int("index", i);
        }
        a.int("offset", e.offset).end();
        o.raw("at", &at);
    }
    o.serde("evidence", &f.evidence);
    o.end();
}

/// One finding as readable lines.
pub fn finding_text(out: &mut String, f: &Finding) {
    let tag = match f.severity {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
        Severity::Info => "info",
    };
    let _ = writeln!(out, "{tag} [{}] {}", f.code, f.title);
    for l in f.explanation.lines() {
        let _ = writeln!(out, "    {l}");
    }
    if !f.hint.is_empty() {
        let _ = writeln!(out, "    hint: {}", f.hint);
    }
    for e in f.evidence.iter().take(5) {
        let _ = write!(out, "    evidence: {} byte {}", e.dir.as_str(), e.offset);
        if let Some(i) = e.index {
            let _ = write!(out, " message #{i}");
        }
        if !e.what.is_empty() {
            let _ = write!(out, ": {}", e.what);
        }
        out.push('\n');
    }
    if f.evidence.len() > 5 {
        let _ = writeln!(out, "    … and {} more", f.evidence.len() - 5);
    }
}

pub fn run(a: DiagnoseArgs) -> Result<ExitCode> {
    let input = Input::from_args(a.file, a.c2s, a.s2c)?;
    let mut live: BTreeMap<u64, (SessionInfo, Diagnoser)> = BTreeMap::new();
    let mut done: Vec<(SessionInfo, Vec<Finding>)> = Vec::new();
    let want = |n: u64| a.session.is_none_or(|s| s == n);
    input::run(&input, |item| {
        match item {
            Item::Session(info) if want(info.number) => {
                live.insert(info.number, (info.clone(), Diagnoser::new()));
            }
            Item::Event(info, ev) => {
                if let Some((_, d)) = live.get_mut(&info.number) {
                    d.observe(ev);
                }
            }
            Item::Closed {
                info,
                dir,
                reset,
                time,
            } => {
                if let Some((_, d)) = live.get_mut(&info.number) {
                    d.closed(dir, reset, time);
                }
            }
            Item::End(info, _) => {
                if let Some((info, mut d)) = live.remove(&info.number) {
                    done.push((info, d.finish()));
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    done.sort_by_key(|(i, _)| i.number);
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let mut errors = 0;
    for (info, findings) in &done {
        let mut out = String::new();
        if a.json {
            for f in findings {
                out.clear();
                finding_json(&mut out, info.number, f);
                writeln!(w, "{out}")?;
            }
        } else {
            text::write_session(&mut out, info);
            out.push('\n');
            if findings.is_empty() {
                out.push_str("    no problem found\n");
            }
            for f in findings {
                finding_text(&mut out, f);
            }
            write!(w, "{out}")?;
        }
        errors += findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
    }
    if !a.json {
        writeln!(w, "-- {} session(s), {errors} error finding(s)", done.len())?;
    }
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
