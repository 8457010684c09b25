//! One direction of a session: read, offer to the recorder, write, in a loop.
//!
//! The loop works on `&TcpStream` (readiness plus `try_read`/`try_write`), so
//! both directions share the two sockets without splitting them, and the
//! session keeps the sockets to pass on a half-close or a reset.

use std::io;
use std::net::Shutdown;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::tap::Tap;

/// Smallest read buffer; a slow stream reads into fresh buffers of this size.
const MIN_READ: usize = 8 << 10;
/// Largest read buffer, reached when reads keep filling the buffer.
const MAX_READ: usize = 256 << 10;

/// How a direction's loop ended.
#[derive(Debug)]
pub(crate) enum PumpEnd {
    /// The sender closed its side (FIN) and the receiver's side was shut down
    /// for writing, or (the error) the receiver was already gone.
    Eof(Option<io::Error>),
    /// Reading failed: the sender reset the connection, or the socket failed.
    ReadFailed(io::Error),
    /// Writing failed: the receiver is gone.
    WriteFailed(io::Error),
}

/// Forwards `src`'s bytes to `dst` until `src` ends or either fails. Every
/// byte read is offered to `tap` before it is written, in read order.
pub(crate) async fn pump(src: &TcpStream, dst: &TcpStream, tap: &mut Tap) -> PumpEnd {
    let mut buf = BytesMut::new();
    let mut want = MIN_READ;
    loop {
        if buf.capacity() < want {
            // Reuses the old allocation when the recorder is done with it.
            buf.reserve(want);
        }
        let room = buf.capacity() - buf.len();
        let n = match src.try_read_buf(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if want == MIN_READ {
                    // A slow or idle stream holds no buffer while it waits.
                    buf = BytesMut::new();
                }
                if let Err(e) = src.readable().await {
                    return PumpEnd::ReadFailed(e);
                }
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return PumpEnd::ReadFailed(e),
        };
        if n == 0 {
            // Failing here means the receiver is gone already; its own
            // direction finds out when it reads.
            return PumpEnd::Eof(socket2::SockRef::from(dst).shutdown(Shutdown::Write).err());
        }
        let time = crate::now();
        let chunk = take_read(&mut buf);
        tap.offer(chunk.clone(), time);
        if let Err(e) = write_all(dst, &chunk).await {
            tap.undelivered += e.1 as u64;
            return PumpEnd::WriteFailed(e.0);
        }
        want = next_want(want, n, room);
    }
}

/// [`pump`] over any stream (a TLS side): reads into the same growing
/// buffers, offers each read to `tap`, writes and flushes it before the next.
pub(crate) async fn pump_io<R, W>(src: &mut R, dst: &mut W, tap: &mut Tap) -> PumpEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = BytesMut::new();
    let mut want = MIN_READ;
    loop {
        if buf.capacity() < want {
            buf.reserve(want);
        }
        let room = buf.capacity() - buf.len();
        let n = match src.read_buf(&mut buf).await {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A TLS peer that closes without close_notify (ffmpeg does) has still ended its stream.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return PumpEnd::ReadFailed(e),
        };
        if n == 0 {
            return PumpEnd::Eof(dst.shutdown().await.err());
        }
        let time = crate::now();
        let chunk = take_read(&mut buf);
        tap.offer(chunk.clone(), time);
        let written = async {
            dst.write_all(&chunk).await?;
            dst.flush().await
        };
        if let Err(e) = written.await {
            // What the peer got of this piece is unknown: count it all as undelivered.
            tap.undelivered += chunk.len() as u64;
            return PumpEnd::WriteFailed(e);
        }
        want = next_want(want, n, room);
    }
}

/// The next read's buffer size: doubled when a read filled the room it had,
/// halved when reads come in far smaller.
fn next_want(want: usize, n: usize, room: usize) -> usize {
    if n >= room {
        (want * 2).min(MAX_READ)
    } else if n < want / 4 {
        (want / 2).max(MIN_READ)
    } else {
        want
    }
}

/// Reads of at most this many bytes are copied out of the read buffer, so
/// that the recorder and decoder, which may keep them (a handshake packet, a
/// partial chunk), never pin a whole read buffer of an idle session.
const COPY_BELOW: usize = 4096;

/// The bytes just read, leaving `buf` empty: a copy when small, else the buffer itself.
fn take_read(buf: &mut BytesMut) -> Bytes {
    if buf.len() <= COPY_BELOW {
        let b = Bytes::copy_from_slice(buf);
        buf.clear();
        b
    } else {
        buf.split().freeze()
    }
}

/// Writes all of `data`; on failure, the error and how many bytes were not written.
async fn write_all(dst: &TcpStream, data: &[u8]) -> Result<(), (io::Error, usize)> {
    let mut at = 0;
    while at < data.len() {
        match dst.try_write(&data[at..]) {
            Ok(0) => {
                return Err((
                    io::Error::new(io::ErrorKind::WriteZero, "the socket took no bytes"),
                    data.len() - at,
                ))
            }
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Err(e) = dst.writable().await {
                    return Err((e, data.len() - at));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((e, data.len() - at)),
        }
    }
    Ok(())
}

/// Whether an error means the peer reset the connection.
pub(crate) fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}
