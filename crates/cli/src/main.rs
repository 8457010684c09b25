//! `rtmpscope`: decode, diagnose and export RTMP sessions.

mod decode;
mod text;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// RTMP protocol inspector: see exactly what crossed the wire, and why a push failed.
#[derive(Parser, Debug)]
#[command(name = "rtmpscope", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode every event of an RTMP session: handshake, messages, errors.
    ///
    /// Input is a pair of raw direction streams: the bytes the client sent
    /// (--c2s) and the bytes the server sent (--s2c), each starting with the
    /// first handshake byte (C0, S0). Either may be given alone.
    ///
    /// Examples:
    ///   rtmpscope decode --c2s push.c2s --s2c push.s2c
    ///   rtmpscope decode --c2s push.c2s --s2c push.s2c --json | jq 'select(.command=="publish")'
    #[command(verbatim_doc_comment)]
    Decode(decode::DecodeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Decode(a) => decode::run(a),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rtmpscope: {e:#}");
            ExitCode::from(2)
        }
    }
}
