//! The core's decoding speed as wasm32 in a browser against native, on the same bytes.
//!
//! Two workloads, each over the raw client→server bytes of a real publish
//! (C0, C1, C2, then chunks) handed over in `piece`-sized [`Bytes`]
//! (a socket read's worth, [`PIECE`] by default), each returning the number of
//! complete messages:
//! - [`full`]: a [`Session`] over the whole stream (handshake, chunks,
//!   message bodies, events);
//! - [`chunks`]: a [`ChunkDecoder`] over the chunk part only (no body decoding).
//!
//! The native timing binary (`src/main.rs`) calls them directly. A browser
//! calls them through a plain C ABI ([`alloc`], [`run_full`], [`run_chunks`],
//! [`iterations`]) exported by the `cdylib` built for `wasm32-unknown-unknown`,
//! which needs no imports and no generated glue: `crates/wasm-bench/page/`
//! loads it, and `scripts/wasm-bench.sh` runs both and compares them.
//!
//! Both sides wrap the input in [`Bytes::from_static`] (native leaks the file
//! it read, wasm a buffer from [`alloc`]), so slicing a piece costs the same
//! in both and no copy of the input is timed.

use std::hint::black_box;
use std::sync::Mutex;

use bytes::Bytes;
use rtmpscope_core::chunk::{ChunkDecoder, ChunkEvent};
use rtmpscope_core::session::{Direction, Event, Session};

/// C0 + C1 + C2 (RTMP spec 5.2): where the chunk stream starts.
pub const HANDSHAKE_LEN: usize = 1 + 1536 + 1536;

/// Input piece size, as a socket read would hand it over (as in the core's
/// `benches/throughput.rs`).
pub const PIECE: usize = 64 * 1024;

/// Bytes to decode per timed sample: each input is decoded several times per
/// sample, so that a sample lasts milliseconds even natively (the decoder
/// slices large payloads instead of copying them: a 23 MB stream takes under
/// a millisecond), far beyond the browser's timer resolution (100 µs, or 5 µs
/// when cross-origin isolated).
pub const SAMPLE_BYTES: usize = 512 << 20;

/// Returned by [`run_full`] and [`run_chunks`] when the range was not handed
/// out by [`alloc`].
pub const BAD_RANGE: u32 = u32::MAX;

/// How many times a sample decodes an input of `len` bytes: enough to cover
/// [`SAMPLE_BYTES`], at least once. The browser and native use the same rule.
pub fn iterations_for(len: usize) -> u32 {
    u32::try_from(SAMPLE_BYTES.div_ceil(len.max(1))).unwrap_or(u32::MAX)
}

fn pieces(data: &Bytes, piece: usize) -> impl Iterator<Item = Bytes> + '_ {
    let piece = piece.max(1);
    (0..data.len())
        .step_by(piece)
        .map(move |at| data.slice(at..data.len().min(at + piece)))
}

/// Decodes `data` (a client→server stream from C0 on) fully with a
/// [`Session`], fed in `piece`-byte pieces; returns the complete messages.
///
/// ```
/// use bytes::Bytes;
/// // C0 and a C1 cut short: a handshake, no message.
/// let data = Bytes::from(vec![3u8; 100]);
/// assert_eq!(rtmpscope_wasm_bench::full(&data, 16), 0);
/// ```
pub fn full(data: &Bytes, piece: usize) -> u32 {
    let mut session = Session::new();
    let mut events = Vec::new();
    let mut messages = 0u32;
    let mut count = |events: &mut Vec<Event>| {
        for ev in events.iter() {
            if matches!(ev, Event::Message(m) if m.raw.complete) {
                messages += 1;
            }
        }
        black_box(&*events);
        events.clear();
    };
    for (i, bytes) in pieces(data, piece).enumerate() {
        // A made-up capture clock, one millisecond per piece.
        let time = i as f64 * 1e-3;
        session.feed(Direction::ClientToServer, bytes, time, &mut events);
        count(&mut events);
    }
    session.finish(&mut events);
    count(&mut events);
    messages
}

/// Reads the chunk part of `data` (a client→server stream from C0 on, the
/// handshake skipped) with a [`ChunkDecoder`], fed in `piece`-byte pieces;
/// returns the complete messages.
pub fn chunks(data: &Bytes, piece: usize) -> u32 {
    if data.len() < HANDSHAKE_LEN {
        return 0;
    }
    let chunk_part = data.slice(HANDSHAKE_LEN..);
    let mut dec = ChunkDecoder::new(HANDSHAKE_LEN as u64);
    let mut messages = 0u32;
    let mut drain = |dec: &mut ChunkDecoder| {
        while let Some(ev) = dec.next_event() {
            if let ChunkEvent::Message(m) = ev {
                if m.complete {
                    messages += 1;
                }
                black_box(m);
            }
        }
    };
    for bytes in pieces(&chunk_part, piece) {
        dec.push(bytes);
        drain(&mut dec);
    }
    dec.finish();
    drain(&mut dec);
    messages
}

/// Buffers handed out by [`alloc`], as (address, length). Their addresses are
/// kept as integers (exposed provenance) so that the list is `Send`.
static BUFFERS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

/// Allocates `len` zeroed bytes for the host to write input into; returns
/// their address in linear memory. The buffer is leaked on purpose: it lives
/// as long as the module instance, which lets [`run_full`] and [`run_chunks`]
/// wrap it in [`Bytes::from_static`] without copying.
#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let buf: &'static mut [u8] = Box::leak(vec![0u8; len].into_boxed_slice());
    let ptr = buf.as_mut_ptr();
    if let Ok(mut buffers) = BUFFERS.lock() {
        buffers.push((ptr.expose_provenance(), len));
    }
    ptr
}

/// The bytes at `ptr..ptr + len` if they lie within one buffer from [`alloc`].
fn input(ptr: *const u8, len: usize) -> Option<Bytes> {
    let start = ptr.addr();
    let end = start.checked_add(len)?;
    let buffers = BUFFERS.lock().ok()?;
    buffers
        .iter()
        .find(|&&(addr, size)| addr <= start && end <= addr + size)?;
    let base: *const u8 = std::ptr::with_exposed_provenance(start);
    // SAFETY: `start..end` lies within a buffer that `alloc` leaked (checked
    // just above, against the address it exposed), so it is allocated,
    // initialised and never freed. The `&mut` from `Box::leak` is gone, so no
    // Rust reference writes to it; the host writes into it only between
    // calls, and this module is single-threaded, so nothing writes while the
    // run that borrows it (and the `Bytes` it makes) is going on.
    let data: &'static [u8] = unsafe { std::slice::from_raw_parts(base, len) };
    Some(Bytes::from_static(data))
}

/// [`full`] over `len` bytes at `ptr` (from [`alloc`]) in `piece`-byte
/// pieces; [`BAD_RANGE`] if the bytes are not from [`alloc`].
#[no_mangle]
pub extern "C" fn run_full(ptr: *const u8, len: usize, piece: usize) -> u32 {
    input(ptr, len).map_or(BAD_RANGE, |data| full(&data, piece))
}

/// [`chunks`] over `len` bytes at `ptr` (from [`alloc`]) in `piece`-byte
/// pieces; [`BAD_RANGE`] if the bytes are not from [`alloc`].
#[no_mangle]
pub extern "C" fn run_chunks(ptr: *const u8, len: usize, piece: usize) -> u32 {
    input(ptr, len).map_or(BAD_RANGE, |data| chunks(&data, piece))
}

/// [`iterations_for`], for the host.
#[no_mangle]
pub extern "C" fn iterations(len: usize) -> u32 {
    iterations_for(len)
}

/// [`PIECE`], for the host.
#[no_mangle]
pub extern "C" fn default_piece() -> usize {
    PIECE
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtmpscope_core::chunk::ChunkEncoder;

    /// C0, C1, C2 and then `n` 300-byte command messages at chunk size 128.
    fn stream(n: usize) -> Vec<u8> {
        let mut wire = vec![3u8];
        wire.resize(HANDSHAKE_LEN, 0);
        let mut enc = ChunkEncoder::new(128);
        for _ in 0..n {
            enc.write(&mut wire, 3, 20, 0, 0, &[0x05; 300]);
        }
        wire
    }

    #[test]
    fn full_and_chunks_count_the_same_messages_for_any_piece_size() {
        let data = Bytes::from(stream(7));
        for piece in [1, 5, 128, 1000, PIECE] {
            assert_eq!(full(&data, piece), 7, "full, piece {piece}");
            assert_eq!(chunks(&data, piece), 7, "chunks, piece {piece}");
        }
    }

    #[test]
    fn chunks_of_a_stream_shorter_than_the_handshake_is_zero() {
        assert_eq!(chunks(&Bytes::from(vec![3u8; 10]), PIECE), 0);
    }

    #[test]
    fn run_functions_read_a_buffer_from_alloc() {
        let wire = stream(3);
        let ptr = alloc(wire.len() + 10);
        // SAFETY: `ptr` is a fresh `alloc` buffer of `wire.len() + 10` bytes,
        // written here as the host would before calling in.
        unsafe { std::ptr::copy_nonoverlapping(wire.as_ptr(), ptr, wire.len()) };
        assert_eq!(run_full(ptr, wire.len(), 64), 3);
        assert_eq!(run_chunks(ptr, wire.len(), 64), 3);
    }

    #[test]
    fn run_functions_refuse_bytes_not_from_alloc() {
        let ptr = alloc(16);
        let outside = [0u8; 16];
        assert_eq!(run_full(outside.as_ptr(), 16, PIECE), BAD_RANGE);
        assert_eq!(run_chunks(ptr, 17, PIECE), BAD_RANGE);
        assert_eq!(run_full(ptr.wrapping_add(8), 8, PIECE), 0);
    }

    #[test]
    fn iterations_cover_the_sample_bytes() {
        assert_eq!(iterations_for(SAMPLE_BYTES), 1);
        assert_eq!(iterations_for(2 * SAMPLE_BYTES), 1);
        assert_eq!(iterations_for(SAMPLE_BYTES / 2 + 1), 2);
        assert_eq!(iterations_for(1 << 20), 512);
        assert_eq!(iterations_for(0), SAMPLE_BYTES as u32);
    }
}
