//! `rtmpscope`: decode, diagnose and export RTMP sessions.

mod decode;
mod diagnose;
mod export;
mod filter;
mod input;
mod proxy;
mod stats;
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
    /// Per session and message stream: bytes, bitrates, frame rate, keyframe
    /// interval, codecs (sequence headers, onMetaData), chunk sizes, acks.
    ///
    /// Examples:
    ///   rtmpscope stats push.pcapng
    ///   rtmpscope stats push.pcap --json | jq '.streams[].video_kbps'
    #[command(verbatim_doc_comment)]
    Stats(stats::StatsArgs),
    /// Explain what went wrong in each session, in plain words, with the evidence.
    ///
    /// Exit code 1 when any finding is an error (for CI pipelines).
    ///
    /// Examples:
    ///   rtmpscope diagnose push.pcapng
    ///   rtmpscope diagnose push.pcap --json | jq -r 'select(.severity=="error") | .title'
    #[command(verbatim_doc_comment)]
    Diagnose(diagnose::DiagnoseArgs),
    /// Sit between an encoder and its server: forward every byte unchanged,
    /// write each session to a pcapng file, and decode and diagnose it live.
    ///
    /// Point the encoder at rtmp://LISTEN/APP/KEY instead of the server.
    /// Without --upstream, rtmpscope's built-in server answers (also as
    /// `rtmpscope serve`), with fault options to reproduce failures.
    ///
    /// Examples:
    ///   rtmpscope proxy --capture-dir captures --ui 127.0.0.1:8080
    ///   rtmpscope proxy --listen 127.0.0.1:1935 --upstream live.example.com:1935 --capture-dir captures
    ///   rtmpscope proxy --upstream rtmps://live.example.com --listen-tls 127.0.0.1:1936
    ///   rtmpscope serve --reject-publish badname
    ///   rtmpscope proxy --upstream 127.0.0.1:1936 --json | jq -c 'select(.kind=="finding")'
    ///   rtmpscope proxy --upstream 127.0.0.1:1936 --ui 127.0.0.1:8080
    #[command(verbatim_doc_comment, alias = "serve")]
    Proxy(Box<proxy::ProxyArgs>),
    /// Write the audio and video of one stream as an FLV file (ffprobe and ffplay read it).
    ///
    /// Examples:
    ///   rtmpscope export-flv push.pcap --session 0 -o push.flv
    ///   rtmpscope export-flv play.pcap --session 1 --stream 1 -o played.flv
    #[command(name = "export-flv", verbatim_doc_comment)]
    ExportFlv(export::ExportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Decode(a) => decode::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Diagnose(a) => diagnose::run(a),
        Command::ExportFlv(a) => export::run(a),
        Command::Proxy(a) => proxy::run(*a),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rtmpscope: {e:#}");
            ExitCode::from(2)
        }
    }
}
