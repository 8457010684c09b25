//! `rtmpscope diagnose`: why did the push break?

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use rtmpscope_core::diagnose::{Diagnoser, Finding, Severity};

use crate::input::{self, Input, Item, SessionInfo};
use crate::text;

#[derive(Args, Debug)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    input: input::InputArgs,
    /// Print JSON lines (`{"kind":"finding",…}`) instead of text.
    #[arg(long)]
    json: bool,
    /// Only this session.
    #[arg(long, value_name = "N")]
    session: Option<u64>,
}

pub fn run(a: DiagnoseArgs) -> Result<ExitCode> {
    let input = Input::from_args(a.input)?;
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
                f.write_json(&mut out, info.number);
                writeln!(w, "{out}")?;
            }
        } else {
            text::write_session(&mut out, info);
            out.push('\n');
            if findings.is_empty() {
                out.push_str("    no problem found\n");
            }
            for f in findings {
                f.write_text(&mut out);
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
