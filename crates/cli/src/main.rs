//! `rtmpscope`: decode, diagnose and export RTMP sessions.

mod decode;
mod filter;
mod input;
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
    /// Decode every event of every RTMP session: handshake, messages, errors.
    ///
    /// FILE is a pcap or pcapng capture (tcpdump, Wireshark, rtmpscope proxy;
    /// RTMP is found on any port, RTMPT too), or a raw direction stream. Raw
    /// streams can also be given as --c2s (the bytes the client sent, from C0)
    /// and --s2c (the bytes the server sent, from S0).
    ///
    /// Examples:
    ///   rtmpscope decode push.pcapng
    ///   rtmpscope decode push.pcap --json | jq -c 'select(.command=="publish")'
    ///   rtmpscope decode push.pcap --filter 'dir=s2c type=command'
    ///   rtmpscope decode --c2s push.c2s --s2c push.s2c -v
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
