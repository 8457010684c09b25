//! `rtmpscope export-flv`: the media of a published or played stream as FLV.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use rtmpscope_core::message::{Body, MSG_AUDIO, MSG_DATA_AMF0, MSG_VIDEO};
use rtmpscope_core::{Direction, Event};

use crate::input::{self, Input, Item};

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    input: input::InputArgs,
    /// The session (numbered from 0, as `decode` shows them).
    #[arg(long, value_name = "N", default_value_t = 0)]
    session: u64,
    /// The message stream id (default: the first stream that carries media).
    #[arg(long, value_name = "ID")]
    stream: Option<u32>,
    /// The FLV file to write.
    #[arg(short, long, value_name = "OUT.flv")]
    output: PathBuf,
}

const FLV_TAG_AUDIO: u8 = 8;
const FLV_TAG_VIDEO: u8 = 9;
const FLV_TAG_SCRIPT: u8 = 18;

/// Writes FLV tags (Adobe FLV spec, Annex E): an 11-byte tag header, the
/// data, and the 4-byte size of the previous tag.
struct FlvWriter<W: Write> {
    w: W,
    base: Option<u32>,
    tags: u64,
}

impl<W: Write> FlvWriter<W> {
    fn new(mut w: W, audio: bool, video: bool) -> std::io::Result<Self> {
        let flags = (audio as u8) << 2 | video as u8;
        w.write_all(&[b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0])?;
        Ok(FlvWriter {
            w,
            base: None,
            tags: 0,
        })
    }

    fn tag(&mut self, kind: u8, timestamp: u32, data: &[u8]) -> std::io::Result<()> {
        // FLV timestamps start at the stream's first one.
        let base = *self.base.get_or_insert(timestamp);
        let ts = timestamp.wrapping_sub(base);
        let len = data.len().min(0xFF_FFFF) as u32;
        let mut h = [0u8; 11];
        h[0] = kind;
        h[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
        h[4..7].copy_from_slice(&ts.to_be_bytes()[1..]);
        h[7] = (ts >> 24) as u8;
        self.w.write_all(&h)?;
        self.w.write_all(&data[..len as usize])?;
        self.w.write_all(&(len + 11).to_be_bytes())?;
        self.tags += 1;
        Ok(())
    }
}

/// A media message kept for the file.
struct Tag {
    kind: u8,
    timestamp: u32,
    data: Vec<u8>,
}

pub fn run(a: ExportArgs) -> Result<ExitCode> {
    let input = Input::from_args(a.input)?;
    let mut chosen: Option<(Direction, u32)> = a.stream.map(|s| (Direction::ClientToServer, s));
    let mut dir_fixed = false;
    let mut seen_session = false;
    let out =
        File::create(&a.output).with_context(|| format!("cannot create {}", a.output.display()))?;
    // The FLV header says whether audio and video are present, so tags are
    // spooled to a temporary file first, and copied after the header.
    let spool_path = a.output.with_extension("flv.part");
    let mut spool = BufWriter::new(
        File::create(&spool_path)
            .with_context(|| format!("cannot create {}", spool_path.display()))?,
    );
    let (mut audio, mut video, mut count) = (false, false, 0u64);
    let spool_tag = |t: Tag, spool: &mut BufWriter<File>| -> std::io::Result<()> {
        spool.write_all(&[t.kind])?;
        spool.write_all(&t.timestamp.to_be_bytes())?;
        spool.write_all(&(t.data.len() as u32).to_be_bytes())?;
        spool.write_all(&t.data)
    };
    input::run(&input, |item| {
        let Item::Event(info, Event::Message(m)) = item else {
            if let Item::Session(info) = item {
                seen_session |= info.number == a.session;
            }
            return Ok(());
        };
        if info.number != a.session || !m.raw.complete {
            return Ok(());
        }
        let r = &m.raw;
        let kind = match (&m.body, r.type_id) {
            (Body::Audio(_), MSG_AUDIO) => FLV_TAG_AUDIO,
            (Body::Video(_), MSG_VIDEO) => FLV_TAG_VIDEO,
            (Body::Data(d), MSG_DATA_AMF0) if d.metadata().is_some() => FLV_TAG_SCRIPT,
            _ => return Ok(()),
        };
        match chosen {
            None => {
                chosen = Some((m.dir, r.stream_id));
                dir_fixed = true;
            }
            Some((_, id)) if !dir_fixed && id == r.stream_id => {
                chosen = Some((m.dir, id));
                dir_fixed = true;
            }
            _ => {}
        }
        if chosen != Some((m.dir, r.stream_id)) {
            return Ok(());
        }
        let payload = r.payload.to_vec();
        let data = if kind == FLV_TAG_SCRIPT {
            // `@setDataFrame onMetaData {…}` is stored in FLV as `onMetaData {…}`.
            match &m.body {
                Body::Data(d) if d.name.as_deref() == Some("@setDataFrame") => {
                    let skip = d.values.first().map_or(0, |v| d.base + v.span.end as usize);
                    payload.get(skip..).map(<[u8]>::to_vec).unwrap_or_default()
                }
                _ => payload,
            }
        } else {
            audio |= kind == FLV_TAG_AUDIO;
            video |= kind == FLV_TAG_VIDEO;
            payload
        };
        count += 1;
        spool_tag(
            Tag {
                kind,
                timestamp: r.timestamp,
                data,
            },
            &mut spool,
        )?;
        Ok(())
    })?;
    spool.flush()?;
    drop(spool);
    if !seen_session {
        let _ = std::fs::remove_file(&spool_path);
        let _ = std::fs::remove_file(&a.output);
        bail!("there is no session {} in the input (sessions are numbered from 0; see `rtmpscope decode`)", a.session);
    }
    if !(audio || video) {
        let _ = std::fs::remove_file(&spool_path);
        let _ = std::fs::remove_file(&a.output);
        match a.stream {
            Some(s) => bail!("session {} has no audio or video on stream {s}", a.session),
            None => bail!("session {} carries no audio or video", a.session),
        }
    }
    let mut flv = FlvWriter::new(BufWriter::new(out), audio, video)?;
    let spooled = std::fs::read(&spool_path)?;
    let _ = std::fs::remove_file(&spool_path);
    let mut rest = &spooled[..];
    while rest.len() >= 9 {
        let kind = rest[0];
        let ts = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]) as usize;
        let Some(data) = rest.get(9..9 + len) else {
            break;
        };
        flv.tag(kind, ts, data)?;
        rest = &rest[9 + len..];
    }
    flv.w.flush()?;
    let (dir, id) = chosen.unwrap_or((Direction::ClientToServer, 0));
    eprintln!(
        "wrote {} tags ({count} messages of stream {id}, {}) to {}",
        flv.tags,
        dir.as_str(),
        a.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
