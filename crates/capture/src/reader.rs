//! The capture reader: packets in, connection events out.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;

use bytes::BytesMut;
use indexmap::IndexMap;

use rtmpscope_core::session::Direction;

use crate::classify::{self, Context, HEAD_LIMIT, RTMP_PORT};
use crate::file::{FileFormat, PacketSource};
use crate::ip::{self, Defragmenter, IpPacket, TcpSegment};
use crate::link::{self, LinkError, Network};
use crate::reassembly::{Reassembler, StreamOut};
use crate::rtmpt::{Detunnel, TunnelOut};
use crate::{CaptureError, CaptureEvent, StreamKind};

/// Connections tracked at once; beyond, finished then idle ones are dropped.
const MAX_CONNECTIONS: usize = 4096;
/// Out-of-order bytes held over all connections before holes are declared gaps.
const MAX_TOTAL_PENDING: usize = 32 << 20;
/// Ports that say which side is the server when the SYN was not captured.
const SERVER_PORTS: [u16; 8] = [RTMP_PORT, 1936, 80, 443, 8080, 8443, 554, 19350];

/// Streaming reader over any `std::io::Read`: pcap or pcapng in, [`CaptureEvent`]s out.
///
/// ```no_run
/// use rtmpscope_capture::{CaptureEvent, CaptureReader};
///
/// let file = std::fs::File::open("capture.pcapng")?;
/// let mut reader = CaptureReader::new(file)?;
/// while let Some(event) = reader.next_event()? {
///     if let CaptureEvent::Data { conn, dir, bytes, .. } = event {
///         println!("connection {conn} {}: {} bytes", dir.as_str(), bytes.len());
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CaptureReader<R> {
    source: PacketSource<R>,
    engine: Engine,
    finished: bool,
    failed: bool,
    /// A read error held back until the events before it are out.
    error: Option<CaptureError>,
}

impl<R: Read> CaptureReader<R> {
    /// Recognises pcap (both byte orders, µs/ns) or pcapng; anything else is [`CaptureError::NotACapture`].
    pub fn new(r: R) -> Result<Self, CaptureError> {
        Ok(CaptureReader {
            source: PacketSource::new(r)?,
            engine: Engine::default(),
            finished: false,
            failed: false,
            error: None,
        })
    }

    /// The next event; `None` at the end of the capture.
    pub fn next_event(&mut self) -> Result<Option<CaptureEvent>, CaptureError> {
        loop {
            if let Some(event) = self.engine.out.events.pop_front() {
                return Ok(Some(event));
            }
            if let Some(e) = self.error.take() {
                return Err(e);
            }
            if let Some(w) = self.source.take_warning() {
                // After the data of the packets before it.
                self.engine.out.push(CaptureEvent::Warning {
                    packet: w.packet,
                    offset: w.offset,
                    message: w.message,
                });
                continue;
            }
            if self.source.is_done() {
                if self.finished {
                    return Ok(None);
                }
                self.finished = true;
                self.engine.out.seal();
                self.engine.finish_all();
                continue;
            }
            let block = match self.source.next_block() {
                Ok(b) => b,
                Err(e) => {
                    // The data joined so far goes out first.
                    self.engine.out.seal();
                    self.error = Some(e);
                    continue;
                }
            };
            if let Some(packet) = block {
                let data = self.source.data(&packet.range);
                // Field by field: read back whole, the packet just written by
                // the source stalled on store forwarding.
                self.engine.packet(
                    packet.number,
                    packet.offset,
                    packet.time,
                    packet.linktype,
                    data,
                );
            }
        }
    }

    /// Takes every segment through the general path, even those the fast
    /// one could take: for tests that hold both to the same events.
    #[doc(hidden)]
    pub fn general_path_only(mut self) -> Self {
        self.engine.fast = false;
        self
    }

    /// Bytes read from the input so far, for a progress bar.
    pub fn bytes_read(&self) -> u64 {
        self.source.bytes_read()
    }

    /// Whether the input is pcap or pcapng.
    pub fn format(&self) -> FileFormat {
        self.source.format()
    }
}

impl<R: Read> Iterator for CaptureReader<R> {
    type Item = Result<CaptureEvent, CaptureError>;

    /// [`CaptureReader::next_event`] as an iterator; it ends after the first error.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_event() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// The two endpoints of a connection in a fixed order, whichever way a packet
/// goes: addresses as 128-bit numbers (IPv4 as IPv4-mapped IPv6) and the two
/// ports, which hash much faster than a pair of `SocketAddr`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    low: u128,
    high: u128,
    /// The port of `low` in the upper half, of `high` in the lower.
    ports: u32,
    /// Whether `low` and `high` are IPv6 (bits 1 and 0): `::ffff:a.b.c.d` is not `a.b.c.d`.
    v6: u8,
}

impl FlowKey {
    fn new(a: SocketAddr, b: SocketAddr) -> Self {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        FlowKey {
            low: ip_bits(a),
            high: ip_bits(b),
            ports: u32::from(a.port()) << 16 | u32::from(b.port()),
            v6: u8::from(a.is_ipv6()) << 1 | u8::from(b.is_ipv6()),
        }
    }
}

fn ip_bits(a: SocketAddr) -> u128 {
    match a {
        SocketAddr::V4(v4) => v4.ip().to_ipv6_mapped().to_bits(),
        SocketAddr::V6(v6) => v6.ip().to_bits(),
    }
}

const C2S: usize = 0;
const S2C: usize = 1;

fn direction(i: usize) -> Direction {
    if i == C2S {
        Direction::ClientToServer
    } else {
        Direction::ServerToClient
    }
}

/// What is done with a connection's bytes.
#[derive(Debug)]
enum Mode {
    /// Not decided yet: the first bytes of each direction and the events held back.
    Classifying {
        heads: [Vec<u8>; 2],
        /// A direction's head is complete (full, interrupted by a gap, or closed).
        head_done: [bool; 2],
        held: Vec<(usize, StreamOut)>,
        held_bytes: usize,
    },
    Rtmp,
    Rtmpt(Box<Detunnel>),
    Ignored,
}

#[derive(Debug)]
struct Conn {
    id: u64,
    client: SocketAddr,
    server: SocketAddr,
    syn_seen: bool,
    client_isn: Option<u32>,
    dirs: [Reassembler; 2],
    mode: Mode,
    /// FIN or RST seen per direction (what finishes an ignored connection).
    fin_seen: [bool; 2],
    /// Packet number of the last segment, for eviction.
    last_packet: u64,
    last_time: f64,
}

impl Conn {
    fn pending(&self) -> usize {
        self.dirs[0].pending_bytes() + self.dirs[1].pending_bytes()
    }

    fn is_finished(&self) -> bool {
        self.dirs[0].is_ended()
            && self.dirs[1].is_ended()
            && !matches!(self.mode, Mode::Classifying { .. })
    }
}

/// Connections by endpoints. Every packet looks its connection up, so the
/// hasher is fast (SipHash was a tenth of decoding time on small packets) and
/// the last connection's index is remembered: packets come in runs.
type ConnTable = IndexMap<FlowKey, Conn, foldhash::fast::RandomState>;

impl Default for Engine {
    fn default() -> Self {
        Engine {
            conns: ConnTable::default(),
            last: None,
            defrag: Defragmenter::default(),
            warned_linktypes: Vec::new(),
            out: Output::default(),
            fast: true,
        }
    }
}

struct Engine {
    conns: ConnTable,
    /// The connection of the last packet and its index in `conns`, until an
    /// entry is removed (which moves indices).
    last: Option<(FlowKey, usize)>,
    defrag: Defragmenter,
    warned_linktypes: Vec<u32>,
    out: Output,
    /// Whether [`Engine::continue_last`] may take segments (tests turn it off).
    fast: bool,
}

/// Everything a connection's segments write to, apart from the table of
/// connections, so that a connection can be worked on in place.
#[derive(Default)]
struct Output {
    events: VecDeque<CaptureEvent>,
    /// The Data event being joined, if any: it goes to `events` (is sealed)
    /// before any other event does.
    open: Option<OpenData>,
    /// Where the fast path copies in-order payloads: the open event's bytes
    /// are its unsplit end.
    joined: BytesMut,
    /// Blocks joined into before, oldest first, each taken again once the
    /// events made from it are gone: memory given back to the system and
    /// faulted in again cost more than the copy into it.
    spent: VecDeque<BytesMut>,
    next_conn: u64,
    /// Current packet, for warnings.
    packet: u64,
    offset: u64,
    time: f64,
    total_pending: usize,
    stream: Vec<StreamOut>,
}

/// A Data event still growing by the fast path's segments.
struct OpenData {
    conn: u64,
    dir: Direction,
    time: f64,
    earlier: Vec<(u32, f64)>,
}

/// Size of a block segments are joined in (a larger segment gets a block of
/// its own); small, so that a slice a stalled session keeps pins little.
const JOIN_BLOCK: usize = 16 << 10;
/// Segments joined into one Data event at most.
const MAX_JOINED: usize = 256;
/// Spent blocks kept for reuse at most (the data of the events in flight
/// between the threads of the command line fits in fewer).
const MAX_SPENT: usize = 1024;

impl Engine {
    fn packet(&mut self, number: u64, offset: u64, time: f64, linktype: u32, data: &[u8]) {
        self.out.packet = number;
        self.out.offset = offset;
        self.out.time = time;
        let ip_bytes = match link::network_layer(linktype, data) {
            Ok(Network::Ip(b)) => b,
            Ok(Network::Other) => return,
            Err(LinkError::Unsupported(lt)) => {
                if !self.warned_linktypes.contains(&lt) && self.warned_linktypes.len() < 64 {
                    self.warned_linktypes.push(lt);
                    self.out.warn(format!(
                        "link type {lt} is not supported (Ethernet, Linux cooked SLL/SLL2, BSD loopback and raw IP are); packets of this link type are skipped"
                    ));
                }
                return;
            }
            Err(LinkError::Short { what, need, have }) => {
                self.out.warn(format!(
                    "{what} cut short ({have} of {need} bytes); skipped"
                ));
                return;
            }
        };
        let parsed = ip::parse_ip(ip_bytes, &mut self.defrag, time);
        for dropped in self.defrag.take_dropped() {
            self.out.warn(dropped);
        }
        // By reference: a moved segment was read back in wider pieces than it
        // was written in, which stalled on store forwarding.
        match &parsed {
            Ok(IpPacket::Tcp(seg)) => self.segment(seg),
            Ok(IpPacket::FragmentHeld) => {
                if let Some(whole) = self.defrag.take_completed() {
                    if whole.protocol == etherparse::ip_number::TCP {
                        match ip::tcp_segment(whole.src, whole.dst, &whole.payload, None) {
                            Ok(seg) => self.segment(&seg),
                            Err(e) => self.out.warn(format!("reassembled from IP fragments: {e}")),
                        }
                    }
                }
            }
            Ok(IpPacket::NotTcp) => {}
            Err(e) => self.out.warn(e.clone()),
        }
    }

    fn segment(&mut self, seg: &TcpSegment<'_>) {
        if self.continue_last(seg) {
            return;
        }
        let key = FlowKey::new(seg.src, seg.dst);
        let opening = seg.flags.syn && !seg.flags.ack;
        if opening {
            let replaced = self
                .conns
                .get(&key)
                .is_some_and(|c| c.client_isn != Some(seg.seq) || c.is_finished());
            if replaced {
                self.last = None;
                if let Some(old) = self.conns.swap_remove(&key) {
                    self.out.finish(old);
                }
            }
        }
        let known = match self.last {
            Some((k, i)) if k == key => Some(i),
            _ => self.conns.get_index_of(&key),
        };
        let index = match known {
            Some(i) => i,
            None => {
                self.open(key, seg);
                let Some(i) = self.conns.get_index_of(&key) else {
                    return;
                };
                i
            }
        };
        self.last = Some((key, index));
        let Some((_, conn)) = self.conns.get_index_mut(index) else {
            return;
        };
        let before = conn.pending();
        self.out.apply(conn, seg);
        let after = conn.pending();
        self.out.total_pending = (self.out.total_pending + after).saturating_sub(before);
        if self.out.total_pending > MAX_TOTAL_PENDING {
            self.relieve_memory();
        }
    }

    /// Nearly every segment of a capture: an ACK, with or without data but
    /// without SYN, FIN or RST, on the connection of the packet before, which
    /// is RTMP already, whose data continues its direction's stream with
    /// nothing held out of order. It is handled here as [`Output::apply`]
    /// would, without looking the connection up or passing the data through
    /// the general stream output; `false`, having done nothing, for any other
    /// segment (a test holds both paths to the same events).
    fn continue_last(&mut self, seg: &TcpSegment<'_>) -> bool {
        let f = seg.flags;
        if f.syn || f.fin || f.rst || !f.ack || seg.missing > 0 || !self.fast {
            return false;
        }
        let Some((_, index)) = self.last else {
            return false;
        };
        let Some((_, conn)) = self.conns.get_index_mut(index) else {
            return false;
        };
        if !matches!(conn.mode, Mode::Rtmp) {
            return false;
        }
        let d = if seg.src == conn.client && seg.dst == conn.server {
            C2S
        } else if seg.src == conn.server && seg.dst == conn.client {
            S2C
        } else {
            return false;
        };
        let other = 1 - d;
        if !conn.dirs[d].is_started()
            || !conn.dirs[other].is_started()
            || (!seg.payload.is_empty() && !conn.dirs[d].continues_at(seg.seq))
        {
            return false;
        }
        let out = &mut self.out;
        conn.last_packet = out.packet;
        conn.last_time = out.time;
        if !seg.payload.is_empty() {
            conn.dirs[d].advance_in_order(seg.payload.len());
            out.join(conn.id, direction(d), seg.payload);
        }
        // The acknowledgement can turn the other direction's holes into gaps
        // (rarely: the output is nearly always empty).
        let before = conn.pending();
        conn.dirs[other].acknowledged(seg.ack, out.time, &mut out.stream);
        if !out.stream.is_empty() {
            let mut stream = std::mem::take(&mut out.stream);
            out.emit(conn, other, &mut stream);
            out.stream = stream;
        }
        out.total_pending = out
            .total_pending
            .saturating_sub(before - conn.pending().min(before));
        true
    }

    /// Starts tracking the connection a segment belongs to.
    fn open(&mut self, key: FlowKey, seg: &TcpSegment<'_>) {
        if self.conns.len() >= MAX_CONNECTIONS {
            self.evict();
        }
        let (client, server, syn_seen) = if seg.flags.syn {
            if seg.flags.ack {
                (seg.dst, seg.src, true)
            } else {
                (seg.src, seg.dst, true)
            }
        } else if server_side_is_src(seg.src, seg.dst) {
            (seg.dst, seg.src, false)
        } else {
            (seg.src, seg.dst, false)
        };
        let id = self.out.next_conn;
        self.out.next_conn += 1;
        self.out.push(CaptureEvent::Connection {
            conn: id,
            client,
            server,
            time: self.out.time,
            syn_seen,
        });
        self.conns.insert(
            key,
            Conn {
                id,
                client,
                server,
                syn_seen,
                client_isn: None,
                dirs: [Reassembler::default(), Reassembler::default()],
                fin_seen: [false, false],
                mode: Mode::Classifying {
                    heads: [Vec::new(), Vec::new()],
                    head_done: [false, false],
                    held: Vec::new(),
                    held_bytes: 0,
                },
                last_packet: 0,
                last_time: self.out.time,
            },
        );
    }

    /// End of capture: every connection is flushed, in order of appearance.
    fn finish_all(&mut self) {
        self.last = None;
        let mut conns: Vec<Conn> = self.conns.drain(..).map(|(_, c)| c).collect();
        conns.sort_by_key(|c| c.id);
        for conn in conns {
            self.out.finish(conn);
        }
    }

    /// Drops finished connections, then the least recently active ones.
    fn evict(&mut self) {
        let finished: Vec<FlowKey> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_finished())
            .map(|(k, _)| *k)
            .collect();
        self.last = None;
        for key in finished {
            self.conns.swap_remove(&key);
        }
        let target = MAX_CONNECTIONS - MAX_CONNECTIONS / 8;
        if self.conns.len() > target {
            let mut by_age: Vec<(u64, FlowKey)> = self
                .conns
                .iter()
                .map(|(k, c)| (c.last_packet, *k))
                .collect();
            by_age.sort_unstable_by_key(|(p, _)| *p);
            let excess = self.conns.len() - target;
            for (_, key) in by_age.into_iter().take(excess) {
                if let Some(conn) = self.conns.swap_remove(&key) {
                    self.out.finish(conn);
                }
            }
        }
    }

    /// Too many out-of-order bytes overall: the connection holding most gives up its holes.
    fn relieve_memory(&mut self) {
        while self.out.total_pending > MAX_TOTAL_PENDING {
            let Some(key) = self
                .conns
                .iter()
                .filter(|(_, c)| c.pending() > 0)
                .max_by_key(|(_, c)| c.pending())
                .map(|(k, _)| *k)
            else {
                self.out.total_pending = 0;
                return;
            };
            let Some(conn) = self.conns.get_mut(&key) else {
                return;
            };
            let before = conn.pending();
            let mut out = std::mem::take(&mut self.out.stream);
            for d in [C2S, S2C] {
                conn.dirs[d].give_up_holes(self.out.time, &mut out);
                self.out.emit(conn, d, &mut out);
            }
            self.out.stream = out;
            self.out.total_pending = self
                .out
                .total_pending
                .saturating_sub(before - conn.pending().min(before));
        }
    }
}

impl Output {
    /// Queues an event after the Data event being joined.
    fn push(&mut self, event: CaptureEvent) {
        self.seal();
        self.events.push_back(event);
    }

    /// Ends the Data event being joined, which goes out next.
    fn seal(&mut self) {
        if let Some(open) = self.open.take() {
            self.events.push_back(CaptureEvent::Data {
                conn: open.conn,
                dir: open.dir,
                bytes: self.joined.split().freeze(),
                time: open.time,
                earlier: open.earlier,
            });
        }
    }

    /// An in-order segment of `conn`'s `dir` captured now: joined to the
    /// open Data event when it continues it and there is room, else the
    /// start of a new one.
    fn join(&mut self, conn: u64, dir: Direction, payload: &[u8]) {
        let room = self.joined.capacity() - self.joined.len();
        match &mut self.open {
            Some(open)
                if open.conn == conn
                    && open.dir == dir
                    && room >= payload.len()
                    && open.earlier.len() + 1 < MAX_JOINED =>
            {
                if open.earlier.is_empty() {
                    // Room for a block of typical segments at once.
                    open.earlier.reserve(JOIN_BLOCK / 256);
                }
                open.earlier.push((self.joined.len() as u32, open.time));
                open.time = self.time;
            }
            _ => {
                self.seal();
                if self.joined.capacity() - self.joined.len() < payload.len() {
                    self.new_block(payload.len());
                }
                self.open = Some(OpenData {
                    conn,
                    dir,
                    time: self.time,
                    earlier: Vec::new(),
                });
            }
        }
        self.joined.extend_from_slice(payload);
    }

    /// Replaces the spent join block by one with room for `need` bytes: the
    /// oldest spent block when nothing uses it any more, else a new one.
    fn new_block(&mut self, need: usize) {
        let old = std::mem::take(&mut self.joined);
        // Sealed, so empty. One with no room left (filled exactly, or the
        // own block of a segment over JOIN_BLOCK, of a size not known here)
        // is let go, so that the pool holds at most MAX_SPENT small blocks.
        if old.capacity() > 0 {
            if self.spent.len() >= MAX_SPENT {
                self.spent.pop_front();
            }
            self.spent.push_back(old);
        }
        // A block still in use goes to the back, so that one kept long (by a
        // message waiting for its end, say) does not hold up the others.
        for _ in 0..self.spent.len().min(4) {
            let Some(mut block) = self.spent.pop_front() else {
                break;
            };
            if block.try_reclaim(need) {
                self.joined = block;
                return;
            }
            self.spent.push_back(block);
        }
        self.joined = BytesMut::with_capacity(JOIN_BLOCK.max(need));
    }

    fn warn(&mut self, message: String) {
        self.push(CaptureEvent::Warning {
            packet: self.packet,
            offset: self.offset,
            message,
        });
    }

    /// Feeds one segment to its connection.
    fn apply(&mut self, conn: &mut Conn, seg: &TcpSegment<'_>) {
        let time = self.time;
        conn.last_packet = self.packet;
        conn.last_time = time;
        let d = if seg.src == conn.client { C2S } else { S2C };
        let other = 1 - d;
        if seg.flags.fin || seg.flags.rst {
            conn.fin_seen[d] = true;
            if seg.flags.rst {
                conn.fin_seen[other] = true;
            }
        }
        if matches!(conn.mode, Mode::Ignored) {
            // Nothing of it is passed on: no need to reassemble.
            return;
        }
        let mut data_seq = seg.seq;
        if seg.flags.syn {
            data_seq = seg.seq.wrapping_add(1);
            conn.dirs[d].start(data_seq);
            if !seg.flags.ack && d == C2S {
                conn.client_isn = Some(seg.seq);
            }
            if seg.flags.ack {
                // SYN-ACK: the client's first byte is the one acknowledged.
                conn.dirs[other].start(seg.ack);
            }
        } else if seg.flags.ack && conn.syn_seen && !conn.dirs[other].is_started() {
            // The other side's SYN or SYN-ACK was lost: its first byte is the one acknowledged.
            conn.dirs[other].start(seg.ack);
        }
        let mut out = std::mem::take(&mut self.stream);
        if !seg.payload.is_empty() || seg.missing > 0 {
            conn.dirs[d].segment(data_seq, seg.payload, seg.missing, time, &mut out);
        } else if !conn.dirs[d].is_started() {
            // A pure ACK, FIN or RST carries the next sequence number of its sender.
            conn.dirs[d].start(data_seq);
        }
        if seg.flags.fin {
            conn.dirs[d].fin(
                data_seq,
                seg.payload.len() + seg.missing as usize,
                time,
                &mut out,
            );
        }
        self.emit(conn, d, &mut out);
        if seg.flags.ack && !seg.flags.rst {
            conn.dirs[other].acknowledged(seg.ack, time, &mut out);
            self.emit(conn, other, &mut out);
        }
        if seg.flags.rst {
            conn.dirs[d].reset(time, &mut out);
            self.emit(conn, d, &mut out);
        }
        self.stream = out;
    }

    /// Passes a direction's output on according to the connection's mode.
    fn emit(&mut self, conn: &mut Conn, d: usize, out: &mut Vec<StreamOut>) {
        if out.is_empty() {
            return;
        }
        for o in out.drain(..) {
            self.route(conn, d, o);
        }
        self.try_classify(conn, false);
    }

    fn route(&mut self, conn: &mut Conn, d: usize, o: StreamOut) {
        let id = conn.id;
        let dir = direction(d);
        match &mut conn.mode {
            Mode::Classifying {
                heads,
                head_done,
                held,
                held_bytes,
            } => {
                match &o {
                    StreamOut::Data { bytes, .. } => {
                        if !head_done[d] {
                            let room = HEAD_LIMIT.saturating_sub(heads[d].len());
                            let n = room.min(bytes.len());
                            heads[d].extend_from_slice(&bytes[..n]);
                            if heads[d].len() >= HEAD_LIMIT {
                                head_done[d] = true;
                            }
                        }
                        *held_bytes += bytes.len();
                    }
                    StreamOut::Gap { .. } | StreamOut::Closed { .. } => head_done[d] = true,
                }
                held.push((d, o));
            }
            Mode::Rtmp => self.push(stream_event(id, dir, o)),
            Mode::Rtmpt(tunnel) => match o {
                StreamOut::Data { bytes, time } => {
                    let mut t = Vec::new();
                    tunnel.data(d == C2S, &bytes, &mut t);
                    self.tunnel_events(id, dir, time, t);
                }
                StreamOut::Gap { len, time } => {
                    let mut t = Vec::new();
                    tunnel.gap(d == C2S, len, &mut t);
                    self.tunnel_events(id, dir, time, t);
                }
                closed @ StreamOut::Closed { .. } => self.push(stream_event(id, dir, closed)),
            },
            Mode::Ignored => {}
        }
    }

    fn tunnel_events(&mut self, conn: u64, dir: Direction, time: f64, outs: Vec<TunnelOut>) {
        for t in outs {
            match t {
                TunnelOut::Data(bytes) => self.push(CaptureEvent::Data {
                    conn,
                    dir,
                    bytes,
                    time,
                    earlier: Vec::new(),
                }),
                TunnelOut::Gap(len) => self.push(CaptureEvent::Gap {
                    conn,
                    dir,
                    len,
                    time,
                }),
                TunnelOut::Warning(w) => self.warn(format!("connection {conn}: {w}")),
            }
        }
    }

    /// Decides the connection's kind when its first bytes allow (or `last_chance` forces it).
    fn try_classify(&mut self, conn: &mut Conn, last_chance: bool) {
        let Mode::Classifying {
            heads,
            head_done,
            held_bytes,
            held,
        } = &conn.mode
        else {
            return;
        };
        let ctx = Context {
            start_seen: conn.syn_seen,
            rtmp_port: conn.client.port() == RTMP_PORT || conn.server.port() == RTMP_PORT,
            last_chance: last_chance
                || (head_done[0] && head_done[1])
                || heads[0].len() >= HEAD_LIMIT
                || heads[1].len() >= HEAD_LIMIT
                || *held_bytes >= 4 * HEAD_LIMIT,
        };
        let headers_only = heads[0].is_empty()
            && heads[1].is_empty()
            && held.iter().any(|(_, o)| matches!(o, StreamOut::Gap { .. }));
        let kind = if ctx.last_chance && headers_only {
            // Every payload byte was cut by the snapshot length.
            Some(StreamKind::Other("payload not captured".into()))
        } else {
            classify::classify(&heads[0], &heads[1], ctx)
        };
        let Some(kind) = kind else {
            return;
        };
        self.push(CaptureEvent::Classified {
            conn: conn.id,
            kind: kind.clone(),
        });
        let new_mode = match kind {
            StreamKind::Rtmp | StreamKind::RtmpMidStream => Mode::Rtmp,
            StreamKind::Rtmpt => Mode::Rtmpt(Box::default()),
            StreamKind::Other(_) => {
                // Its bytes are not needed: give back what reassembly holds.
                conn.dirs = [Reassembler::default(), Reassembler::default()];
                Mode::Ignored
            }
        };
        if let Mode::Classifying { held, .. } = std::mem::replace(&mut conn.mode, new_mode) {
            for (d, o) in held {
                self.route(conn, d, o);
            }
        }
    }

    /// Flushes a connection that is no longer tracked.
    fn finish(&mut self, mut conn: Conn) {
        let time = self.time.max(conn.last_time);
        self.total_pending = self.total_pending.saturating_sub(conn.pending());
        let mut out = std::mem::take(&mut self.stream);
        for d in [C2S, S2C] {
            conn.dirs[d].flush(time, &mut out);
            for o in out.drain(..) {
                self.route(&mut conn, d, o);
            }
        }
        self.stream = out;
        self.try_classify(&mut conn, true);
    }
}

fn stream_event(conn: u64, dir: Direction, o: StreamOut) -> CaptureEvent {
    match o {
        StreamOut::Data { bytes, time } => CaptureEvent::Data {
            conn,
            dir,
            bytes,
            time,
            earlier: Vec::new(),
        },
        StreamOut::Gap { len, time } => CaptureEvent::Gap {
            conn,
            dir,
            len,
            time,
        },
        StreamOut::Closed { reset, time } => CaptureEvent::Closed {
            conn,
            dir,
            reset,
            time,
        },
    }
}

/// Without a SYN: is the packet's sender the server? Known server ports
/// decide, else the lower port (ephemeral ports are high).
fn server_side_is_src(src: SocketAddr, dst: SocketAddr) -> bool {
    let src_known = SERVER_PORTS.contains(&src.port());
    let dst_known = SERVER_PORTS.contains(&dst.port());
    match (src_known, dst_known) {
        (true, false) => true,
        (false, true) => false,
        _ => src.port() < dst.port(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_key_is_the_same_both_ways() {
        let a: SocketAddr = "10.0.0.1:50000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:1935".parse().unwrap();
        assert_eq!(FlowKey::new(a, b), FlowKey::new(b, a));
        assert_ne!(
            FlowKey::new(a, b),
            FlowKey::new(a, "10.0.0.2:1936".parse().unwrap())
        );
    }

    #[test]
    fn flow_key_tells_ipv4_from_ipv4_mapped_ipv6() {
        let a: SocketAddr = "10.0.0.1:50000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:1935".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:10.0.0.2]:1935".parse().unwrap();
        assert_ne!(FlowKey::new(a, b), FlowKey::new(a, mapped));
    }
}
