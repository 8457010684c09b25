//! Prints what CaptureReader finds in a capture: connections, their kind,
//! bytes and gaps per direction, warnings, and the reading speed.
//!
//! Usage: cargo run --release -p rtmpscope-capture --example capture-summary -- FILE
//!        cargo run --release -p rtmpscope-capture --example capture-summary -- --make-bench OUT C2S S2C MSS COPIES
//! The second form writes a pcapng of a session made of the given raw streams
//! (repeated COPIES times, in MSS-byte packets) with PcapngWriter, for timing.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::time::Instant;

use rtmpscope_capture::{CaptureEvent, CaptureReader, PcapngWriter};
use rtmpscope_core::session::Direction;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--make-bench") {
        return make_bench(&args[1..]);
    }
    let path = args.first().ok_or("usage: capture-summary FILE")?;
    let start = Instant::now();
    let mut reader = CaptureReader::new(File::open(path)?)?;
    let mut conns: BTreeMap<u64, (String, [u64; 2], [u64; 2], usize)> = BTreeMap::new();
    let mut warnings = 0usize;
    while let Some(event) = reader.next_event()? {
        match event {
            CaptureEvent::Connection {
                conn,
                client,
                server,
                syn_seen,
                ..
            } => {
                let start = if syn_seen {
                    ""
                } else {
                    " (start not captured)"
                };
                conns.insert(
                    conn,
                    (format!("{client} -> {server}{start}"), [0; 2], [0; 2], 0),
                );
            }
            CaptureEvent::Classified { conn, kind } => {
                if let Some(c) = conns.get_mut(&conn) {
                    c.0.push_str(&format!(": {kind}"));
                }
            }
            CaptureEvent::Data {
                conn,
                dir,
                bytes,
                earlier,
                ..
            } => {
                if let Some(c) = conns.get_mut(&conn) {
                    c.1[(dir == Direction::ServerToClient) as usize] += bytes.len() as u64;
                    c.3 += 1 + earlier.len();
                }
            }
            CaptureEvent::Gap { conn, dir, len, .. } => {
                if let Some(c) = conns.get_mut(&conn) {
                    c.2[(dir == Direction::ServerToClient) as usize] += len;
                }
            }
            CaptureEvent::Closed { .. } => {}
            CaptureEvent::Warning {
                packet,
                offset,
                message,
            } => {
                warnings += 1;
                if warnings <= 20 {
                    eprintln!("warning (packet {packet}, byte {offset}): {message}");
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    for (id, (what, bytes, gaps, events)) in &conns {
        println!(
            "connection {id} {what}: c2s {} bytes ({} lost), s2c {} bytes ({} lost), {events} data segments",
            bytes[0], gaps[0], bytes[1], gaps[1]
        );
    }
    let read = reader.bytes_read();
    println!(
        "{} connections, {warnings} warnings, {read} bytes in {secs:.3} s ({:.0} MB/s)",
        conns.len(),
        read as f64 / secs / 1e6
    );
    Ok(())
}

fn make_bench(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let [out, c2s, s2c, mss, copies] = args else {
        return Err("usage: --make-bench OUT C2S S2C MSS COPIES".into());
    };
    let (c2s, s2c) = (std::fs::read(c2s)?, std::fs::read(s2c)?);
    let (mss, copies): (usize, usize) = (mss.parse()?, copies.parse()?);
    let mut w = PcapngWriter::new(BufWriter::new(File::create(out)?), "benchmark input")?;
    let mut t = 1_700_000_000.0;
    for i in 0..copies {
        let s = w.open_session("10.0.0.1:40000".parse()?, "10.0.0.2:1935".parse()?, t)?;
        let mut down = s2c.chunks(mss);
        for piece in c2s.chunks(mss) {
            t += 0.0001;
            w.data(s, Direction::ClientToServer, piece, t)?;
            if let Some(d) = down.next() {
                w.data(s, Direction::ServerToClient, d, t)?;
            }
        }
        w.close(s, Direction::ClientToServer, false, t)?;
        w.close(s, Direction::ServerToClient, false, t)?;
        eprintln!("session {i} written");
    }
    w.flush()?;
    Ok(())
}
