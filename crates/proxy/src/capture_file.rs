//! A session's capture file: its name, its pcapng writer, its renaming once
//! the stream name is known.
//!
//! Names are `YYYYmmdd-HHMMSS-<client ip>-<client port>[-<stream>].pcapng`,
//! the time in UTC at the session's start. The stream part comes from the
//! first publish or play that names a stream. Stream names are often secret
//! stream keys, so at most their first four characters go into the name: a
//! longer name becomes those four, `~`, and four hex digits of a hash of the
//! whole name (`live~3fa2`), so that sessions of one stream still share a
//! name without the key being readable from it. The query string (tokens)
//! never goes in; characters other than ASCII letters, digits, `-`, `_` and
//! `.` become `_`.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use rtmpscope_capture::{PcapngWriter, SessionId};
use rtmpscope_core::Direction;

/// Characters of a stream name kept in a file name.
const KEPT: usize = 4;

/// The file name for a session that started at `start` (seconds since the Unix
/// epoch, written in UTC) from `client`, with the stream name when known.
///
/// ```
/// use rtmpscope_proxy::capture_file_name;
/// let client = "127.0.0.1:50412".parse().unwrap();
/// assert_eq!(capture_file_name(0.0, client, None), "19700101-000000-127.0.0.1-50412.pcapng");
/// assert_eq!(
///     capture_file_name(1_700_000_000.5, client, Some("test")),
///     "20231114-221320-127.0.0.1-50412-test.pcapng"
/// );
/// ```
pub fn capture_file_name(start: f64, client: SocketAddr, stream: Option<&str>) -> String {
    let mut name = format!(
        "{}-{}-{}",
        utc_stamp(start),
        ip_label(client.ip()),
        client.port()
    );
    if let Some(label) = stream.and_then(stream_label) {
        name.push('-');
        name.push_str(&label);
    }
    name.push_str(".pcapng");
    name
}

/// The part of a stream name that may appear in a file name (see the module
/// documentation), or `None` when nothing is left.
///
/// ```
/// use rtmpscope_proxy::stream_label;
/// assert_eq!(stream_label("test").as_deref(), Some("test"));
/// assert_eq!(stream_label("cam1?token=abc").as_deref(), Some("cam1"));
/// let key = stream_label("live_123456789_AbCdEfGhIj").unwrap();
/// assert!(key.starts_with("live~") && key.len() == 9);
/// assert_eq!(stream_label("?x"), None);
/// ```
pub fn stream_label(name: &str) -> Option<String> {
    let key = name.split('?').next().unwrap_or("");
    let clean: Vec<char> = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        return None;
    }
    if clean.len() <= KEPT {
        return Some(clean.into_iter().collect());
    }
    let mut label: String = clean[..KEPT].iter().collect();
    label.push('~');
    let h = fnv1a(key.as_bytes());
    label.push_str(&format!("{:04x}", (h ^ (h >> 16)) & 0xFFFF));
    Some(label)
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// An address as it may appear in a file name (IPv6 colons become `_`).
fn ip_label(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string().replace(':', "_"),
        },
    }
}

/// `YYYYmmdd-HHMMSS` in UTC.
pub(crate) fn utc_stamp(secs: f64) -> String {
    let (y, mo, d, h, mi, s) = utc_fields(secs);
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}")
}

fn utc_fields(secs: f64) -> (i64, u32, u32, u32, u32, u32) {
    let t = if secs.is_finite() && secs > 0.0 {
        secs as i64
    } else {
        0
    };
    let days = t.div_euclid(86_400);
    let rem = t.rem_euclid(86_400) as u32;
    // Civil date from days since 1970-01-01 (H. Hinnant, "chrono-compatible low-level date algorithms").
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
}

/// Creates `dir/name`, or `dir/stem-2.pcapng`, … if it exists.
fn create_unique(dir: &Path, name: &str) -> io::Result<(File, PathBuf)> {
    let stem = name.strip_suffix(".pcapng").unwrap_or(name);
    for n in 1..1000 {
        let path = if n == 1 {
            dir.join(name)
        } else {
            dir.join(format!("{stem}-{n}.pcapng"))
        };
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free file name for {name}"),
    ))
}

/// Renames `from` to `dir/name`, or `dir/stem-2.pcapng`, … when taken; returns the new path.
fn rename_free(from: &Path, dir: &Path, name: &str) -> io::Result<PathBuf> {
    let stem = name.strip_suffix(".pcapng").unwrap_or(name);
    let mut to = dir.join(name);
    let mut n = 2;
    while to.exists() && n < 1000 {
        to = dir.join(format!("{stem}-{n}.pcapng"));
        n += 1;
    }
    // The open file keeps being written under its new name (POSIX rename).
    std::fs::rename(from, &to)?;
    Ok(to)
}

/// The pcapng writer's output: blocks collect in memory until the recorder
/// hands them to a disk job, so that writing a block never touches the disk.
/// (A `RefCell` because the writer lends its output only as `&W`.)
#[derive(Debug, Default)]
pub(crate) struct Spool(RefCell<Vec<u8>>);

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.get_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.get_mut().extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Work for the blocking pool: append bytes to the file, maybe rename it.
#[derive(Debug)]
pub(crate) struct DiskJob {
    file: File,
    data: Vec<u8>,
    path: PathBuf,
    rename_to: Option<String>,
    dir: PathBuf,
}

/// What a [`DiskJob`] gives back.
#[derive(Debug)]
pub(crate) struct DiskDone {
    file: File,
    data: Vec<u8>,
    written: io::Result<()>,
    renamed: Option<io::Result<PathBuf>>,
}

impl DiskJob {
    /// Does the job (blocking).
    pub(crate) fn run(mut self) -> DiskDone {
        let written = self.file.write_all(&self.data);
        let renamed = self
            .rename_to
            .map(|name| rename_free(&self.path, &self.dir, &name));
        self.data.clear();
        DiskDone {
            file: self.file,
            data: self.data,
            written,
            renamed,
        }
    }
}

/// One session's capture file. Writing to it only fills memory; the bytes
/// reach the file through [`DiskJob`]s that the recorder runs on the blocking
/// pool, one at a time. After the first error the file is abandoned (the
/// error is returned once, for the log); forwarding goes on.
pub(crate) struct CaptureFile {
    writer: PcapngWriter<Spool>,
    id: SessionId,
    /// The file, unless a disk job has it.
    file: Option<File>,
    dir: PathBuf,
    start: f64,
    client: SocketAddr,
    path: PathBuf,
    /// The stream name to put in the file name, once.
    rename_to: Option<String>,
    labelled: bool,
    failed: bool,
    /// A spare buffer from the last job, kept only for busy sessions.
    spare: Vec<u8>,
}

impl CaptureFile {
    /// Creates the file and writes the session's opening (SYN, SYN-ACK, ACK). Blocking.
    pub(crate) fn create(
        dir: &Path,
        start: f64,
        client: SocketAddr,
        server: SocketAddr,
        comment: &str,
    ) -> io::Result<CaptureFile> {
        let (file, path) = create_unique(dir, &capture_file_name(start, client, None))?;
        let mut writer = PcapngWriter::new(Spool::default(), comment)?;
        let id = writer.open_session(client, server, start)?;
        Ok(CaptureFile {
            writer,
            id,
            file: Some(file),
            dir: dir.to_path_buf(),
            start,
            client,
            path,
            rename_to: None,
            labelled: false,
            failed: false,
            spare: Vec::new(),
        })
    }

    /// Where the file is now.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a write failed (nothing is written after that).
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// Bytes waiting in memory for the disk.
    pub(crate) fn spooled(&self) -> usize {
        self.writer.get_ref().0.borrow().len()
    }

    fn guard(&mut self, r: io::Result<()>) -> Result<(), String> {
        match r {
            Ok(()) => Ok(()),
            Err(e) => {
                self.fail();
                Err(format!(
                    "capture file {} abandoned: {e}",
                    self.path.display()
                ))
            }
        }
    }

    fn fail(&mut self) {
        self.failed = true;
        self.writer.get_ref().0.borrow_mut().clear();
    }

    pub(crate) fn data(&mut self, dir: Direction, bytes: &[u8], time: f64) -> Result<(), String> {
        if self.failed {
            return Ok(());
        }
        let r = self.writer.data(self.id, dir, bytes, time);
        self.guard(r)
    }

    pub(crate) fn gap(&mut self, dir: Direction, len: u64, time: f64) -> Result<(), String> {
        if self.failed {
            return Ok(());
        }
        let r = self.writer.gap(self.id, dir, len, time);
        self.guard(r)
    }

    pub(crate) fn close(&mut self, dir: Direction, reset: bool, time: f64) -> Result<(), String> {
        if self.failed {
            return Ok(());
        }
        let r = self.writer.close(self.id, dir, reset, time);
        self.guard(r)
    }

    pub(crate) fn comment(&mut self, text: &str) -> Result<(), String> {
        if self.failed {
            return Ok(());
        }
        let r = self.writer.comment(self.id, text);
        self.guard(r)
    }

    /// Asks for the stream name in the file name, once (the first name wins);
    /// the next disk job renames the file.
    pub(crate) fn label(&mut self, stream: &str) {
        if self.labelled {
            return;
        }
        self.labelled = true;
        if stream_label(stream).is_some() {
            self.rename_to = Some(capture_file_name(self.start, self.client, Some(stream)));
        }
    }

    /// Writes the comments still waiting for a packet (into memory).
    pub(crate) fn flush(&mut self) -> Result<(), String> {
        if self.failed {
            return Ok(());
        }
        let r = self.writer.flush();
        self.guard(r)
    }

    /// A job for the disk if there is something to do and no job has the file.
    pub(crate) fn job(&mut self) -> Option<DiskJob> {
        if self.failed || (self.spooled() == 0 && self.rename_to.is_none()) {
            return None;
        }
        let file = self.file.take()?;
        let data = std::mem::replace(
            &mut *self.writer.get_ref().0.borrow_mut(),
            std::mem::take(&mut self.spare),
        );
        Some(DiskJob {
            file,
            data,
            path: self.path.clone(),
            rename_to: self.rename_to.take(),
            dir: self.dir.clone(),
        })
    }

    /// Takes back what a job gave back; returns the new path if it renamed the
    /// file, and the error if it failed.
    pub(crate) fn job_done(&mut self, done: DiskDone) -> Result<Option<PathBuf>, String> {
        self.file = Some(done.file);
        // Sessions that fill whole buffers keep one; slow ones hold no memory.
        if done.data.capacity() >= 256 << 10 {
            self.spare = done.data;
        }
        if let Err(e) = done.written {
            self.fail();
            return Err(format!(
                "capture file {} abandoned: {e}",
                self.path.display()
            ));
        }
        match done.renamed {
            Some(Ok(to)) => {
                self.path = to;
                Ok(Some(self.path.clone()))
            }
            Some(Err(e)) => Err(format!(
                "cannot put the stream name into the name of {}: {e}",
                self.path.display()
            )),
            None => Ok(None),
        }
    }

    /// A job the disk pool could not finish (it panicked): the file is gone.
    pub(crate) fn job_lost(&mut self) -> String {
        self.fail();
        format!(
            "capture file {} abandoned: its disk job failed",
            self.path.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_follow_the_calendar() {
        assert_eq!(utc_stamp(0.0), "19700101-000000");
        assert_eq!(utc_stamp(951_782_400.0), "20000229-000000");
        assert_eq!(utc_stamp(1_709_251_199.0), "20240229-235959");
        assert_eq!(utc_stamp(4_102_444_800.0), "21000101-000000");
    }

    #[test]
    fn long_stream_keys_keep_four_characters_and_a_hash() {
        let a = stream_label("live_123456789_abcdef").unwrap();
        let b = stream_label("live_987654321_abcdef").unwrap();
        assert!(a.starts_with("live~"));
        assert_ne!(a, b);
        assert_eq!(a, stream_label("live_123456789_abcdef?token=x").unwrap());
        assert!(!a.contains("1234"));
    }

    #[test]
    fn unsafe_characters_are_replaced() {
        assert_eq!(stream_label("a/b").as_deref(), Some("a_b"));
        assert_eq!(stream_label("../x").as_deref(), Some(".._x"));
        assert!(stream_label("../../etc/passwd")
            .unwrap()
            .starts_with(".._.~"));
        assert_eq!(stream_label(""), None);
    }

    #[test]
    fn ipv6_clients_get_no_colons() {
        let c: SocketAddr = "[2001:db8::1]:5000".parse().unwrap();
        assert_eq!(
            capture_file_name(0.0, c, None),
            "19700101-000000-2001_db8__1-5000.pcapng"
        );
        let m: SocketAddr = "[::ffff:10.0.0.1]:5000".parse().unwrap();
        assert_eq!(
            capture_file_name(0.0, m, Some("x y")),
            "19700101-000000-10.0.0.1-5000-x_y.pcapng"
        );
    }

    #[test]
    fn a_taken_name_gets_a_number_and_renaming_keeps_writing() {
        let dir = tempfile::tempdir().unwrap();
        let client: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let server: SocketAddr = "127.0.0.1:1935".parse().unwrap();
        let _a = CaptureFile::create(dir.path(), 10.0, client, server, "").unwrap();
        let mut b = CaptureFile::create(dir.path(), 10.0, client, server, "").unwrap();
        assert!(b.path().to_string_lossy().ends_with("-4000-2.pcapng"));
        b.data(Direction::ClientToServer, &[3; 1537], 10.1).unwrap();
        b.label("camera");
        let job = b.job().unwrap();
        assert!(b.job().is_none(), "one job at a time");
        let renamed = b.job_done(job.run()).unwrap().unwrap();
        assert!(renamed.to_string_lossy().contains("-4000-came~"));
        b.data(Direction::ClientToServer, b"more", 10.2).unwrap();
        b.label("other");
        let done = b.job().unwrap().run();
        assert_eq!(b.job_done(done).unwrap(), None);
        assert!(b.job().is_none(), "nothing left to do");
        let file = std::fs::read(&renamed).unwrap();
        let mut got = Vec::new();
        for e in rtmpscope_capture::CaptureReader::new(&file[..]).unwrap() {
            if let rtmpscope_capture::CaptureEvent::Data { bytes, .. } = e.unwrap() {
                got.extend_from_slice(&bytes);
            }
        }
        assert_eq!(got.len(), 1541);
    }
}
