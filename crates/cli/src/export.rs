//! `rtmpscope export-flv`: the media of a published or played stream as FLV.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use rtmpscope_core::flv;
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
        let Some(kind) = flv::tag_type(r.type_id, &m.body) else {
            return Ok(());
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
        audio |= kind == flv::TAG_AUDIO;
        video |= kind == flv::TAG_VIDEO;
        let data = flv::script_data(&payload, &m.body).to_vec();
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
    let mut w = BufWriter::new(out);
    w.write_all(&flv::header(audio, video))?;
    let mut tags = flv::TagWriter::new();
    let mut tag = Vec::new();
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
        tag.clear();
        tags.push(&mut tag, kind, ts, data);
        w.write_all(&tag)?;
        rest = &rest[9 + len..];
    }
    w.flush()?;
    let (dir, id) = chosen.unwrap_or((Direction::ClientToServer, 0));
    eprintln!(
        "wrote {} tags ({count} messages of stream {id}, {}) to {}",
        tags.count(),
        dir.as_str(),
        a.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
