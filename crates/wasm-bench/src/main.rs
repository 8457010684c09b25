//! Native side of the wasm benchmark: times [`rtmpscope_wasm_bench::full`] and
//! [`rtmpscope_wasm_bench::chunks`] on the given files exactly as the browser
//! page (`crates/wasm-bench/page/bench.js`) times their wasm exports, and
//! prints the figures as one JSON object in the page's shape.
//!
//! ```text
//! cargo run --release -p rtmpscope-wasm-bench -- [--samples K] [--warmup W] [--piece BYTES] FILE...
//! ```
//! Per file and workload: W untimed samples, then K timed ones; a sample runs
//! the workload `iterations_for(len)` times and records the mean milliseconds
//! per run. `scripts/wasm-bench.sh` runs this beside the browser and compares.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use rtmpscope_wasm_bench::{chunks, full, iterations_for, HANDSHAKE_LEN, PIECE};

struct Options {
    samples: u32,
    warmup: u32,
    piece: usize,
    files: Vec<String>,
}

const USAGE: &str =
    "usage: rtmpscope-wasm-bench [--samples K] [--warmup W] [--piece BYTES] FILE...";

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        samples: 15,
        warmup: 3,
        piece: PIECE,
        files: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            let value = args.next().ok_or(format!("{name} needs a value"))?;
            value.parse().map_err(|e| format!("{name} {value}: {e}"))
        };
        match arg.as_str() {
            "--samples" => {
                opts.samples = number("--samples")?
                    .try_into()
                    .map_err(|_| "--samples too large")?
            }
            "--warmup" => {
                opts.warmup = number("--warmup")?
                    .try_into()
                    .map_err(|_| "--warmup too large")?
            }
            "--piece" => opts.piece = number("--piece")?.max(1),
            "-h" | "--help" => return Err(USAGE.into()),
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}\n{USAGE}")),
            _ => opts.files.push(arg),
        }
    }
    if opts.files.is_empty() || opts.samples == 0 {
        return Err(USAGE.into());
    }
    Ok(opts)
}

/// One workload's figures on one file.
struct Timing {
    bytes: usize,
    messages: u32,
    /// Mean milliseconds per run, one per timed sample.
    ms: Vec<f64>,
}

fn time(
    run: fn(&Bytes, usize) -> u32,
    data: &Bytes,
    bytes: usize,
    opts: &Options,
) -> Result<Timing, String> {
    let iterations = iterations_for(data.len());
    let messages = run(data, opts.piece);
    let sample = || -> Result<f64, String> {
        let start = Instant::now();
        for _ in 0..iterations {
            let n = run(black_box(data), opts.piece);
            if n != messages {
                return Err(format!("a run counted {n} messages, the first {messages}"));
            }
        }
        Ok(start.elapsed().as_secs_f64() * 1e3 / f64::from(iterations))
    };
    for _ in 0..opts.warmup {
        sample()?;
    }
    let ms = (0..opts.samples)
        .map(|_| sample())
        .collect::<Result<_, _>>()?;
    Ok(Timing {
        bytes,
        messages,
        ms,
    })
}

fn timing_json(t: &Timing) -> String {
    let ms: Vec<String> = t.ms.iter().map(|ms| format!("{ms:.6}")).collect();
    format!(
        "{{\"bytes\":{},\"messages\":{},\"ms\":[{}]}}",
        t.bytes,
        t.messages,
        ms.join(",")
    )
}

/// A JSON string literal (file names are the only strings printed).
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn run(opts: &Options) -> Result<String, String> {
    let mut files = Vec::new();
    for path in &opts.files {
        let read = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        // Leaked, as the page's buffer from `alloc` is, so that both sides
        // slice a `Bytes::from_static`.
        let data = Bytes::from_static(Box::leak(read.into_boxed_slice()));
        let full_t = time(full, &data, data.len(), opts)?;
        let chunks_t = time(
            chunks,
            &data,
            data.len().saturating_sub(HANDSHAKE_LEN),
            opts,
        )?;
        let name = path.rsplit('/').next().unwrap_or(path);
        files.push(format!(
            "{{\"file\":{},\"bytes\":{},\"iterations\":{},\"full\":{},\"chunks\":{}}}",
            json_string(name),
            data.len(),
            iterations_for(data.len()),
            timing_json(&full_t),
            timing_json(&chunks_t)
        ));
    }
    Ok(format!(
        "{{\"runtime\":\"native\",\"target\":\"{}-{}\",\"piece\":{},\"samples\":{},\"warmup\":{},\"files\":[{}]}}",
        std::env::consts::ARCH,
        std::env::consts::OS,
        opts.piece,
        opts.samples,
        opts.warmup,
        files.join(",")
    ))
}

fn main() -> ExitCode {
    match parse_args().and_then(|opts| run(&opts)) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
