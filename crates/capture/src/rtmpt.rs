//! RTMPT: RTMP tunnelled in HTTP/1.1 POSTs, de-tunnelled into the two RTMP directions.
//!
//! The client POSTs `/open/1` (answered with a session id), then `/send/ID/N`
//! with RTMP bytes as the body and `/idle/ID/N` to poll; every answer to send,
//! idle and close starts with one polling-interval byte followed by the
//! server's RTMP bytes; `/close/ID/N` ends the session. Requests and answers
//! pair up in order (HTTP/1.1 pipelining), which tells what an answer's body is.

use std::collections::VecDeque;

use bytes::Bytes;

/// Longest request or response head accepted.
const MAX_HEAD: usize = 8 << 10;
/// Requests awaiting their answer that are remembered.
const MAX_OUTSTANDING: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Open,
    Send,
    Idle,
    Close,
    /// `/fcs/ident` or anything else.
    Other,
}

#[derive(Debug)]
enum State {
    /// Reading a request or response head.
    Head(Vec<u8>),
    /// Reading a body: `skip` leading bytes are not RTMP, then `rtmp` says whether the rest is.
    Body {
        remaining: u64,
        skip: u64,
        rtmp: bool,
    },
    /// Lost framing (after a gap or a malformed head): looking for the next head.
    Lost,
}

/// What the tunnel yields for one RTMP direction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TunnelOut {
    /// RTMP bytes.
    Data(Bytes),
    /// RTMP bytes lost (at most this many: when framing is lost the split between HTTP and RTMP bytes is unknown).
    Gap(u64),
    /// The HTTP could not be followed.
    Warning(String),
}

#[derive(Debug)]
struct HttpSide {
    state: State,
    /// Whether this side carries requests (client) or responses (server).
    requests: bool,
}

/// De-tunnels one RTMPT connection.
#[derive(Debug)]
pub(crate) struct Detunnel {
    client: HttpSide,
    server: HttpSide,
    outstanding: VecDeque<Command>,
}

impl Default for Detunnel {
    fn default() -> Self {
        Detunnel {
            client: HttpSide {
                state: State::Head(Vec::new()),
                requests: true,
            },
            server: HttpSide {
                state: State::Head(Vec::new()),
                requests: false,
            },
            outstanding: VecDeque::new(),
        }
    }
}

impl Detunnel {
    /// Feeds bytes of the client's (`from_client`) or the server's TCP stream.
    pub fn data(&mut self, from_client: bool, bytes: &Bytes, out: &mut Vec<TunnelOut>) {
        let (side, queue) = if from_client {
            (&mut self.client, &mut self.outstanding)
        } else {
            (&mut self.server, &mut self.outstanding)
        };
        let mut at = 0usize;
        while at < bytes.len() {
            match &mut side.state {
                State::Head(head) => {
                    let rest = &bytes[at..];
                    let search_from = head.len().saturating_sub(3);
                    let take = rest.len().min(MAX_HEAD + 4 - head.len().min(MAX_HEAD + 4));
                    head.extend_from_slice(&rest[..take]);
                    match find(&head[search_from..], b"\r\n\r\n") {
                        Some(pos) => {
                            let head_end = search_from + pos + 4;
                            // Bytes appended beyond the head belong to the body.
                            let used = take - (head.len() - head_end);
                            at += used;
                            head.truncate(head_end);
                            let head = std::mem::take(head);
                            side.state = start_body(&head, side.requests, queue, out);
                        }
                        None if head.len() > MAX_HEAD => {
                            out.push(TunnelOut::Warning(format!(
                                "RTMPT: HTTP {} head longer than {MAX_HEAD} bytes; looking for the next one",
                                if side.requests { "request" } else { "response" }
                            )));
                            side.state = State::Lost;
                            at += take;
                        }
                        None => at += take,
                    }
                }
                State::Body {
                    remaining,
                    skip,
                    rtmp,
                } => {
                    let n = (*remaining).min((bytes.len() - at) as u64) as usize;
                    let skipped = (*skip).min(n as u64) as usize;
                    if *rtmp && n > skipped {
                        out.push(TunnelOut::Data(bytes.slice(at + skipped..at + n)));
                    }
                    *skip -= skipped as u64;
                    *remaining -= n as u64;
                    at += n;
                    if *remaining == 0 {
                        side.state = State::Head(Vec::new());
                    }
                }
                State::Lost => {
                    let marker: &[u8] = if side.requests { b"POST /" } else { b"HTTP/1." };
                    match find(&bytes[at..], marker) {
                        Some(pos) => {
                            at += pos;
                            side.state = State::Head(Vec::new());
                        }
                        None => at = bytes.len(),
                    }
                }
            }
        }
    }

    /// `len` bytes of the client's or the server's TCP stream were lost.
    pub fn gap(&mut self, from_client: bool, len: u64, out: &mut Vec<TunnelOut>) {
        let side = if from_client {
            &mut self.client
        } else {
            &mut self.server
        };
        match &mut side.state {
            State::Body {
                remaining,
                skip,
                rtmp,
            } if len <= *remaining => {
                let skipped = (*skip).min(len);
                if *rtmp && len > skipped {
                    out.push(TunnelOut::Gap(len - skipped));
                }
                *skip -= skipped;
                *remaining -= len;
                if *remaining == 0 {
                    side.state = State::Head(Vec::new());
                }
            }
            State::Body { rtmp, .. } => {
                if *rtmp {
                    out.push(TunnelOut::Gap(len));
                }
                side.state = State::Lost;
            }
            State::Head(_) | State::Lost => {
                out.push(TunnelOut::Gap(len));
                side.state = State::Lost;
            }
        }
    }
}

/// Parses a complete head and says how to read the body that follows.
fn start_body(
    head: &[u8],
    request: bool,
    queue: &mut VecDeque<Command>,
    out: &mut Vec<TunnelOut>,
) -> State {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    if chunked {
        out.push(TunnelOut::Warning(
            "RTMPT: chunked HTTP bodies are not de-tunnelled; looking for the next message".into(),
        ));
        return State::Lost;
    }
    if request {
        let mut parts = first.split(' ');
        let method = parts.next().unwrap_or("");
        let path = parts.next().unwrap_or("");
        let command = if !method.eq_ignore_ascii_case("POST") {
            Command::Other
        } else if path.starts_with("/send/") {
            Command::Send
        } else if path.starts_with("/idle/") {
            Command::Idle
        } else if path.starts_with("/open/") {
            Command::Open
        } else if path.starts_with("/close/") {
            Command::Close
        } else {
            Command::Other
        };
        if queue.len() < MAX_OUTSTANDING {
            queue.push_back(command);
        }
        body(content_length.unwrap_or(0), 0, command == Command::Send)
    } else {
        let status_ok = first.split(' ').nth(1) == Some("200");
        let command = queue.pop_front().unwrap_or(Command::Idle);
        let rtmp = status_ok && matches!(command, Command::Send | Command::Idle | Command::Close);
        // Without a length the body runs to the end of the connection (RFC 9112, section 6.3).
        body(
            content_length.unwrap_or(u64::MAX),
            if rtmp { 1 } else { 0 },
            rtmp,
        )
    }
}

fn body(remaining: u64, skip: u64, rtmp: bool) -> State {
    if remaining == 0 {
        State::Head(Vec::new())
    } else {
        State::Body {
            remaining,
            skip,
            rtmp,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(d: &mut Detunnel, from_client: bool, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // Feed byte by byte to prove any split works.
        for b in bytes {
            d.data(from_client, &Bytes::copy_from_slice(&[*b]), &mut out);
        }
        let mut data = Vec::new();
        for o in out {
            match o {
                TunnelOut::Data(b) => data.extend_from_slice(&b),
                other => panic!("{other:?}"),
            }
        }
        data
    }

    #[test]
    fn sends_and_idles_are_detunnelled() {
        let mut d = Detunnel::default();
        let c = b"POST /open/1 HTTP/1.1\r\nContent-Type: application/x-fcs\r\nContent-Length: 1\r\n\r\n\0\
POST /send/abc/1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nHELLO\
POST /idle/abc/2 HTTP/1.1\r\nContent-Length: 1\r\n\r\n\0";
        let s = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabc\n\
HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\x01S0S\
HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\x051S";
        assert_eq!(run(&mut d, true, c), b"HELLO");
        assert_eq!(run(&mut d, false, s), b"S0S1S");
    }
}
