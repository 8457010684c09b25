//! The session fed hand-made client messages, its answers read back with the core's decoder.

use super::*;
use crate::server::config::{RejectCode, ServerConfig};
use crate::server::registry::RegistryLimits;
use rtmpscope_core::chunk::ChunkEncoder;
use rtmpscope_core::message::{MSG_COMMAND_AMF0, MSG_WINDOW_ACK_SIZE};
use tokio::sync::mpsc;

const HANDSHAKE: u64 = 3073;

struct Client {
    enc: ChunkEncoder,
    dec: ChunkDecoder,
}

impl Client {
    fn new() -> Self {
        Client {
            enc: ChunkEncoder::new(128),
            dec: ChunkDecoder::new(HANDSHAKE),
        }
    }

    fn command(&mut self, stream_id: u32, values: &[Value]) -> Bytes {
        let mut p = Vec::new();
        amf0::encode_all(values, &mut p).unwrap();
        let mut out = Vec::new();
        self.enc
            .write(&mut out, 3, MSG_COMMAND_AMF0, stream_id, 0, &p);
        out.into()
    }

    fn control(&mut self, type_id: u8, payload: &[u8]) -> Bytes {
        let mut out = Vec::new();
        self.enc.write(&mut out, 2, type_id, 0, 0, payload);
        out.into()
    }

    /// Every message the server sent, with its body.
    fn read(&mut self, s: &mut ServerSession) -> Vec<(u8, u32, Body)> {
        let out = std::mem::take(&mut s.io.out);
        self.dec.push(out.into());
        let mut v = Vec::new();
        while let Some(ev) = self.dec.next_event() {
            if let ChunkEvent::Message(m) = ev {
                let p = m.payload.to_vec();
                let (b, _) = Body::decode(m.type_id, &p, m.length, m.timestamp);
                v.push((m.type_id, m.stream_id, b));
            }
        }
        v
    }
}

fn session(cfg: ServerConfig, registry: &Arc<Registry>, conn: u64) -> ServerSession {
    // The receiver is dropped: these sessions never play.
    let (tx, _) = mpsc::channel(16);
    let (player, _) = PlayerTx::new(tx, 1 << 20);
    ServerSession::new(
        Arc::new(cfg),
        registry.clone(),
        conn,
        "127.0.0.1:5000".parse().unwrap(),
        player,
        HANDSHAKE,
    )
}

fn registry() -> Arc<Registry> {
    Arc::new(Registry::new(RegistryLimits {
        max_streams: 4,
        max_players: 4,
        keep_gop: true,
        max_gop_bytes: 1 << 20,
    }))
}

fn connect(c: &mut Client, encoding: f64) -> Bytes {
    c.command(
        0,
        &[
            Value::string("connect"),
            Value::Number(1.0),
            Value::object([
                ("app", Value::string("live")),
                ("objectEncoding", Value::Number(encoding)),
            ]),
        ],
    )
}

fn command_of(b: &Body) -> &Command {
    match b {
        Body::Command(c) => c,
        other => panic!("not a command: {other:?}"),
    }
}

fn codes(msgs: &[(u8, u32, Body)]) -> Vec<String> {
    msgs.iter()
        .filter_map(|(_, _, b)| match b {
            Body::Command(c) => c.status().and_then(|s| s.code.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn connect_gets_window_bandwidth_chunk_size_and_result() {
    let r = registry();
    let mut s = session(ServerConfig::default(), &r, 1);
    let mut c = Client::new();
    s.on_bytes(connect(&mut c, 3.0)).unwrap();
    let msgs = c.read(&mut s);
    assert_eq!(msgs[0].2, Body::WindowAckSize(2_500_000));
    assert!(matches!(
        msgs[1].2,
        Body::SetPeerBandwidth {
            size: 2_500_000,
            ..
        }
    ));
    assert_eq!(msgs[2].2, Body::SetChunkSize(4096));
    let res = command_of(&msgs[3].2);
    assert_eq!(res.name, "_result");
    assert_eq!(res.transaction_id, Some(1.0));
    let props = &res.values[2].value;
    assert_eq!(
        props.get("fmsVer").unwrap().value.as_str().unwrap(),
        FMS_VERSION
    );
    let info = &res.values[3].value;
    assert_eq!(
        info.get("objectEncoding").unwrap().value.as_f64(),
        Some(3.0)
    );
    assert_eq!(
        res.status().unwrap().code.as_deref(),
        Some("NetConnection.Connect.Success")
    );
}

#[test]
fn publish_flow_answers_like_a_real_server() {
    let r = registry();
    let mut s = session(ServerConfig::default(), &r, 1);
    let mut c = Client::new();
    s.on_bytes(connect(&mut c, 0.0)).unwrap();
    c.read(&mut s);
    let cmd = |n: &str, t: f64, arg: &str| {
        vec![
            Value::string(n),
            Value::Number(t),
            Value::Null,
            Value::string(arg),
        ]
    };
    s.on_bytes(c.command(0, &cmd("releaseStream", 2.0, "test")))
        .unwrap();
    s.on_bytes(c.command(0, &cmd("FCPublish", 3.0, "test")))
        .unwrap();
    s.on_bytes(c.command(
        0,
        &[
            Value::string("createStream"),
            Value::Number(4.0),
            Value::Null,
        ],
    ))
    .unwrap();
    let msgs = c.read(&mut s);
    let names: Vec<_> = msgs.iter().map(|m| command_of(&m.2).name.clone()).collect();
    assert_eq!(names, ["_result", "onFCPublish", "_result"]);
    let created = command_of(&msgs[2].2);
    assert_eq!(created.values[3].value.as_f64(), Some(1.0));
    s.on_bytes(c.command(1, &cmd("publish", 5.0, "test?key=1")))
        .unwrap();
    let msgs = c.read(&mut s);
    assert!(matches!(
        msgs[0].2,
        Body::UserControl(UserControl::StreamBegin { stream_id: 1 })
    ));
    assert_eq!(codes(&msgs), ["NetStream.Publish.Start"]);
    assert_eq!(msgs[1].1, 1);
    // A second publisher of the same name is refused.
    let mut s2 = session(ServerConfig::default(), &r, 2);
    let mut c2 = Client::new();
    s2.on_bytes(connect(&mut c2, 0.0)).unwrap();
    s2.on_bytes(c2.command(
        0,
        &[
            Value::string("createStream"),
            Value::Number(2.0),
            Value::Null,
        ],
    ))
    .unwrap();
    s2.on_bytes(c2.command(1, &cmd("publish", 3.0, "test")))
        .unwrap();
    assert_eq!(
        codes(&c2.read(&mut s2)).last().unwrap(),
        "NetStream.Publish.BadName"
    );
    // Once the first leaves, the name is free.
    drop(s);
    let mut s3 = session(ServerConfig::default(), &r, 3);
    let mut c3 = Client::new();
    s3.on_bytes(connect(&mut c3, 0.0)).unwrap();
    s3.on_bytes(c3.command(
        0,
        &[
            Value::string("createStream"),
            Value::Number(2.0),
            Value::Null,
        ],
    ))
    .unwrap();
    s3.on_bytes(c3.command(1, &cmd("publish", 3.0, "test")))
        .unwrap();
    assert_eq!(
        codes(&c3.read(&mut s3)).last().unwrap(),
        "NetStream.Publish.Start"
    );
}

#[test]
fn rejected_publish_sends_the_configured_code() {
    let r = registry();
    let cfg = ServerConfig::default().reject_publish(RejectCode::Denied, "not today");
    let mut s = session(cfg, &r, 1);
    let mut c = Client::new();
    s.on_bytes(connect(&mut c, 0.0)).unwrap();
    s.on_bytes(c.command(
        0,
        &[
            Value::string("createStream"),
            Value::Number(2.0),
            Value::Null,
        ],
    ))
    .unwrap();
    s.on_bytes(c.command(
        1,
        &[
            Value::string("publish"),
            Value::Number(3.0),
            Value::Null,
            Value::string("x"),
        ],
    ))
    .unwrap();
    let msgs = c.read(&mut s);
    let last = command_of(&msgs.last().unwrap().2);
    let st = last.status().unwrap();
    assert_eq!(st.code.as_deref(), Some("NetStream.Publish.Denied"));
    assert_eq!(st.description.as_deref(), Some("not today"));
    assert_eq!(st.level.as_deref(), Some("error"));
}

#[test]
fn rejected_connect_gets_error_and_closes() {
    let r = registry();
    let mut s = session(ServerConfig::default().reject_connect("go away"), &r, 1);
    let mut c = Client::new();
    let err = s.on_bytes(connect(&mut c, 0.0)).unwrap_err();
    assert!(err.contains("connect rejected"), "{err}");
    let msgs = c.read(&mut s);
    let e = command_of(&msgs[0].2);
    assert_eq!(e.name, "_error");
    assert_eq!(
        e.status().unwrap().code.as_deref(),
        Some("NetConnection.Connect.Rejected")
    );
}

#[test]
fn acks_follow_the_clients_window_unless_stalled() {
    for stall in [false, true] {
        let r = registry();
        let mut s = session(ServerConfig::default().stall_acks(stall), &r, 1);
        let mut c = Client::new();
        s.on_bytes(c.control(MSG_WINDOW_ACK_SIZE, &5000u32.to_be_bytes()))
            .unwrap();
        s.on_bytes(connect(&mut c, 0.0)).unwrap();
        // Media on a stream nobody publishes is discarded, but its bytes count.
        for _ in 0..10 {
            let mut out = Vec::new();
            c.enc.write(&mut out, 6, MSG_AUDIO, 1, 0, &[0xAF; 1000]);
            s.on_bytes(out.into()).unwrap();
        }
        let acks: Vec<u32> = c
            .read(&mut s)
            .into_iter()
            .filter_map(|m| match m.2 {
                Body::Ack(n) => Some(n),
                _ => None,
            })
            .collect();
        if stall {
            assert!(acks.is_empty(), "{acks:?}");
        } else {
            assert!(acks.len() >= 2, "{acks:?}");
            assert!(acks.windows(2).all(|w| w[1] - w[0] >= 5000), "{acks:?}");
        }
    }
}

#[test]
fn garbage_is_a_chunk_stream_error() {
    let r = registry();
    let mut s = session(ServerConfig::default(), &r, 1);
    // A type-3 chunk on a chunk stream with no earlier header.
    let err = s.on_bytes(Bytes::from_static(&[0xC9; 64])).unwrap_err();
    assert!(err.contains("chunk stream error"), "{err}");
}

#[test]
fn commands_before_connect_close_the_connection() {
    let r = registry();
    let mut s = session(ServerConfig::default(), &r, 1);
    let mut c = Client::new();
    let err = s
        .on_bytes(c.command(
            0,
            &[
                Value::string("createStream"),
                Value::Number(2.0),
                Value::Null,
            ],
        ))
        .unwrap_err();
    assert!(err.contains("before connect"), "{err}");
}

#[test]
fn stream_limit_per_connection_answers_error() {
    let r = registry();
    let cfg = ServerConfig {
        max_streams_per_connection: 1,
        ..ServerConfig::default()
    };
    let mut s = session(cfg, &r, 1);
    let mut c = Client::new();
    s.on_bytes(connect(&mut c, 0.0)).unwrap();
    c.read(&mut s);
    for t in [2.0, 3.0] {
        s.on_bytes(c.command(
            0,
            &[Value::string("createStream"), Value::Number(t), Value::Null],
        ))
        .unwrap();
    }
    let names: Vec<_> = c
        .read(&mut s)
        .iter()
        .map(|m| command_of(&m.2).name.clone())
        .collect();
    assert_eq!(names, ["_result", "_error"]);
}

#[test]
fn too_many_chunk_streams_is_a_chunk_stream_error() {
    let r = registry();
    let mut s = session(ServerConfig::default(), &r, 1);
    let mut c = Client::new();
    s.on_bytes(connect(&mut c, 0.0)).unwrap();
    // Each message starts a new chunk stream and stays incomplete.
    let mut err = None;
    for csid in 10..200u32 {
        let mut out = Vec::new();
        c.enc.write(&mut out, csid, MSG_AUDIO, 1, 0, &[0xAF; 300]);
        out.truncate(200);
        if let Err(e) = s.on_bytes(out.into()) {
            err = Some(e);
            break;
        }
    }
    let err = err.expect("64+ open chunk streams were accepted");
    assert!(err.contains("chunk stream error"), "{err}");
}

#[test]
fn a_message_past_the_buffer_cap_is_a_chunk_stream_error() {
    let r = registry();
    let cfg = ServerConfig {
        max_buffered: 64 * 1024,
        ..ServerConfig::default()
    };
    let mut s = session(cfg, &r, 1);
    let mut c = Client::new();
    s.on_bytes(connect(&mut c, 0.0)).unwrap();
    let mut out = Vec::new();
    c.enc
        .write(&mut out, 6, MSG_AUDIO, 1, 0, &vec![0xAF; 1 << 20]);
    let mut res = Ok(());
    for piece in out.chunks(4096) {
        res = s.on_bytes(Bytes::copy_from_slice(piece));
        if res.is_err() {
            break;
        }
    }
    assert!(
        res.is_err(),
        "a 1 MiB message was buffered past a 64 KiB cap"
    );
}

#[test]
fn random_input_never_panics() {
    // xorshift: deterministic, so a failure can be replayed.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..500 {
        let r = registry();
        let mut s = session(ServerConfig::default(), &r, round);
        let mut c = Client::new();
        // Half the rounds start from a valid connect, so the command paths see noise too.
        if round % 2 == 0 {
            let _ = s.on_bytes(connect(&mut c, 0.0));
        }
        let len = (next() % 2048) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Bias towards plausible headers: small chunk stream ids, known types.
        if let Some(b) = data.first_mut() {
            *b &= 0x07;
        }
        for piece in data.chunks(1 + (next() % 300) as usize) {
            if s.on_bytes(Bytes::copy_from_slice(piece)).is_err() {
                break;
            }
        }
    }
}

fn create_and(c: &mut Client, s: &mut ServerSession, cmd: &str, name: &str) {
    s.on_bytes(c.command(
        0,
        &[
            Value::string("createStream"),
            Value::Number(2.0),
            Value::Null,
        ],
    ))
    .unwrap();
    s.on_bytes(c.command(
        1,
        &[
            Value::string(cmd),
            Value::Number(3.0),
            Value::Null,
            Value::string(name),
        ],
    ))
    .unwrap();
}

#[test]
fn late_player_gets_status_sample_access_metadata_and_the_gop() {
    let r = registry();
    let mut p = session(ServerConfig::default(), &r, 1);
    let mut pc = Client::new();
    p.on_bytes(connect(&mut pc, 0.0)).unwrap();
    create_and(&mut pc, &mut p, "publish", "cam");
    let mut meta = Vec::new();
    amf0::encode_all(
        &[
            Value::string("@setDataFrame"),
            Value::string("onMetaData"),
            Value::ecma_array([("width", Value::Number(320.0))]),
        ],
        &mut meta,
    )
    .unwrap();
    let mut out = Vec::new();
    pc.enc.write(&mut out, 4, MSG_DATA_AMF0, 1, 0, &meta);
    // AVC sequence header, then a keyframe (FLV VideoTagHeader: 0x17 = keyframe, AVC).
    pc.enc
        .write(&mut out, 5, MSG_VIDEO, 1, 0, &[0x17, 0, 0, 0, 0, 1, 2, 3]);
    pc.enc
        .write(&mut out, 5, MSG_VIDEO, 1, 40, &[0x17, 1, 0, 0, 0, 9, 9, 9]);
    p.on_bytes(out.into()).unwrap();

    let mut v = session(ServerConfig::default(), &r, 2);
    let mut vc = Client::new();
    v.on_bytes(connect(&mut vc, 0.0)).unwrap();
    vc.read(&mut v);
    create_and(&mut vc, &mut v, "play", "cam?token=1");
    let msgs = vc.read(&mut v);
    let kinds: Vec<String> = msgs
        .iter()
        .map(|(t, _, b)| match b {
            Body::UserControl(UserControl::StreamBegin { stream_id }) => {
                format!("begin {stream_id}")
            }
            Body::Command(c) => c
                .status()
                .and_then(|s| s.code.clone())
                .unwrap_or_else(|| c.name.clone()),
            Body::Data(d) => d.name.clone().unwrap_or_default(),
            _ => format!("type {t}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "_result",
            "begin 1",
            "NetStream.Play.Reset",
            "NetStream.Play.Start",
            "|RtmpSampleAccess",
            "onMetaData",
            "type 9",
            "type 9"
        ]
    );
    // The metadata lost its @setDataFrame and kept its object.
    let Body::Data(d) = &msgs[5].2 else {
        unreachable!()
    };
    assert_eq!(d.values.len(), 2);
}

#[test]
fn delete_stream_frees_the_name_at_once() {
    let r = registry();
    let mut s = session(ServerConfig::default(), &r, 1);
    let mut c = Client::new();
    s.on_bytes(connect(&mut c, 0.0)).unwrap();
    create_and(&mut c, &mut s, "publish", "x");
    s.on_bytes(c.command(
        0,
        &[
            Value::string("deleteStream"),
            Value::Number(0.0),
            Value::Null,
            Value::Number(1.0),
        ],
    ))
    .unwrap();
    let mut s2 = session(ServerConfig::default(), &r, 2);
    let mut c2 = Client::new();
    s2.on_bytes(connect(&mut c2, 0.0)).unwrap();
    create_and(&mut c2, &mut s2, "publish", "x");
    assert_eq!(
        codes(&c2.read(&mut s2)).last().unwrap(),
        "NetStream.Publish.Start"
    );
}
