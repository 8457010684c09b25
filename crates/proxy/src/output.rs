//! The one printer: every line goes through a bounded queue to a thread of
//! its own, so a slow or blocked terminal never holds up a session.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

/// Where the proxy's lines go.
#[derive(Debug, Clone, Default)]
pub enum Output {
    /// Standard output.
    #[default]
    Stdout,
    /// A channel, one line (without its newline) per message; for embedding and tests.
    Lines(mpsc::UnboundedSender<String>),
    /// Nowhere.
    Discard,
}

/// Lines waiting for the printer; past this, new lines are dropped and counted.
const QUEUE: usize = 1 << 16;

/// A handle that queues lines for the printer without ever waiting.
#[derive(Debug, Clone)]
pub(crate) struct Lines {
    tx: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
}

impl Lines {
    /// Queues a line; if the printer is that far behind, the line is dropped (and counted).
    pub(crate) fn send(&self, line: String) {
        if self.tx.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The printer thread.
#[derive(Debug)]
pub(crate) struct Printer {
    thread: JoinHandle<()>,
}

impl Printer {
    /// Starts the printer for `output`; `json` chooses the form of its own notices.
    pub(crate) fn start(output: Output, json: bool) -> std::io::Result<(Printer, Lines)> {
        let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        let thread = std::thread::Builder::new()
            .name("rtmpscope-output".into())
            .spawn(move || {
                let mut sink = Sink::new(output);
                let mut reported = 0;
                while let Some(line) = rx.blocking_recv() {
                    sink.line(line);
                    while let Ok(line) = rx.try_recv() {
                        sink.line(line);
                    }
                    let lost = counter.load(Ordering::Relaxed);
                    if lost > reported {
                        sink.line(dropped_notice(lost - reported, json));
                        reported = lost;
                    }
                    sink.flush();
                }
                sink.flush();
            })?;
        Ok((Printer { thread }, Lines { tx, dropped }))
    }

    /// Waits until every line queued before all [`Lines`] handles were dropped is out.
    pub(crate) fn join(self) {
        let _ = self.thread.join();
    }
}

fn dropped_notice(n: u64, json: bool) -> String {
    let text = format!("{n} output line(s) dropped: the output is slower than the sessions");
    if json {
        let mut s = String::new();
        rtmpscope_core::json::Obj::new(&mut s)
            .str("kind", "log")
            .str("level", "warning")
            .str("message", &text)
            .end();
        s
    } else {
        format!("rtmpscope: {text}")
    }
}

enum Sink {
    Stdout(std::io::BufWriter<std::io::Stdout>),
    Lines(mpsc::UnboundedSender<String>),
    Discard,
}

impl Sink {
    fn new(output: Output) -> Sink {
        match output {
            Output::Stdout => Sink::Stdout(std::io::BufWriter::with_capacity(
                1 << 16,
                std::io::stdout(),
            )),
            Output::Lines(tx) => Sink::Lines(tx),
            Output::Discard => Sink::Discard,
        }
    }

    fn line(&mut self, mut line: String) {
        match self {
            Sink::Stdout(w) => {
                line.push('\n');
                // A closed stdout (`| head`) must not stop the proxy: the lines are lost, nothing else.
                let _ = w.write_all(line.as_bytes());
            }
            Sink::Lines(tx) => {
                let _ = tx.send(line);
            }
            Sink::Discard => {}
        }
    }

    fn flush(&mut self) {
        if let Sink::Stdout(w) = self {
            let _ = w.flush();
        }
    }
}
