//! `rtmpscope proxy` end to end: the real binary with its built-in server,
//! ffmpeg publishing and ffprobe playing through it, Ctrl-C (SIGINT) to stop,
//! and the capture file read back by `rtmpscope decode` and by tshark.
//! Everything on 127.0.0.1, bounded in time; every process is stopped.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn have(p: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {p}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child when dropped (a failed assertion must not leave it running).
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigint(c: &Child) {
    let _ = Command::new("kill")
        .args(["-INT", &c.id().to_string()])
        .status();
}

fn wait_exit(c: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = c.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn publish_and_play_through_the_proxy_and_its_built_in_server() {
    if !["ffmpeg", "ffprobe", "kill"].iter().all(|p| have(p)) {
        eprintln!("SKIP: ffmpeg, ffprobe or kill is missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut proxy = Kill(
        Command::new(env!("CARGO_BIN_EXE_rtmpscope"))
            .args(["proxy", "--json", "--status-every", "0", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--capture-dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let out = proxy.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut err = proxy.0.stderr.take().unwrap();
    // The banner says where encoders go.
    let mut banner = String::new();
    let mut byte = [0u8; 1];
    while !banner.ends_with('\n') {
        use std::io::Read;
        if err.read(&mut byte).unwrap_or(0) == 0 {
            break;
        }
        banner.push(byte[0] as char);
    }
    assert!(
        banner.contains(&format!("rtmp://127.0.0.1:{port}/APP/KEY"))
            && banner.contains("built-in server"),
        "{banner}"
    );
    let url = format!("rtmp://127.0.0.1:{port}/live/clitest");
    let mut publisher = Kill(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
            .args(["-f", "lavfi", "-i", "sine", "-t", "3"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
            .args(["-c:a", "aac", "-f", "flv"])
            .arg(&url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(1200));
    let probe = Command::new("timeout")
        .args(["20", "ffprobe", "-v", "error", "-rw_timeout", "5000000"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "compact",
        ])
        .arg(&url)
        .output()
        .unwrap();
    let probed = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probed.contains("codec_name=h264|width=320|height=240")
            && probed.contains("codec_name=aac"),
        "ffprobe through the proxy: {probed} {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let st = wait_exit(&mut publisher.0, Duration::from_secs(20));
    assert!(st.is_some_and(|s| s.success()), "ffmpeg: {st:?}");
    // Both sessions (publisher, player) close; then Ctrl-C stops the proxy cleanly.
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while lines
        .iter()
        .filter(|l: &&serde_json::Value| l["kind"] == "close")
        .count()
        < 2
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let l = rx.recv_timeout(left).expect("sessions did not close");
        lines.push(serde_json::from_str::<serde_json::Value>(&l).unwrap());
    }
    sigint(&proxy.0);
    let st = wait_exit(&mut proxy.0, Duration::from_secs(15));
    assert!(st.is_some_and(|s| s.success()), "proxy exit: {st:?}");
    let _ = reader.join();
    for l in rx.try_iter() {
        lines.push(serde_json::from_str(&l).unwrap());
    }
    let publish = lines
        .iter()
        .find(|l| l["command"] == "publish")
        .expect("publish line");
    assert_eq!(publish["session"], 1);
    assert!(lines
        .iter()
        .any(|l| l["session"] == 1 && l["status"]["code"] == "NetStream.Publish.Start"));
    assert!(lines
        .iter()
        .any(|l| l["session"] == 2 && l["status"]["code"] == "NetStream.Play.Start"));
    // No finding worse than the stream-key note for a clean publish and play.
    let bad: Vec<_> = lines
        .iter()
        .filter(|l| l["kind"] == "finding" && l["severity"] != "info")
        .collect();
    assert!(bad.is_empty(), "{bad:?}");

    // The publisher's capture file, decoded by rtmpscope and counted by tshark.
    let close = lines
        .iter()
        .find(|l| l["kind"] == "close" && l["session"] == 1)
        .unwrap();
    let capture = close["capture"].as_str().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_rtmpscope"))
        .args(["decode", "--json", &capture])
        .output()
        .unwrap();
    assert!(out.status.success());
    let decoded: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let c2s = decoded
        .iter()
        .filter(|l| l["kind"] == "message" && l["dir"] == "c2s")
        .count() as u64;
    assert_eq!(c2s, close["c2s_messages"].as_u64().unwrap());
    if have("tshark") && have("python3") {
        // The capture holds the connection as it went to the server (the built-in one's port).
        let server = lines
            .iter()
            .find(|l| l["kind"] == "session" && l["session"] == 1)
            .and_then(|l| l["server"].as_str())
            .unwrap()
            .to_string();
        let port = server.rsplit(':').next().unwrap().to_string();
        let tsv = dir.path().join("tshark.tsv");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/tshark-rtmp-tsv.py"
        );
        let st = Command::new("python3")
            .arg(script)
            .arg(&capture)
            .arg(&port)
            .arg(&tsv)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "tshark-rtmp-tsv.py failed");
        let text = std::fs::read_to_string(&tsv).unwrap();
        let rows = text
            .lines()
            .skip(1)
            .filter(|r| r.split('\t').nth(2) == Some("c2s"))
            .count() as u64;
        assert_eq!(rows, c2s, "tshark's client messages");
    }
}
