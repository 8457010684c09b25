//! `rtmpscope proxy`: sit between an encoder and a server, forward every
//! byte, record each session and decode it live.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use rtmpscope_proxy::server::RejectCode;
use rtmpscope_proxy::{ProxyConfig, TlsIdentity, UiConfig, Upstream};

#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// Address encoders connect to (rtmp://ADDR/app/key).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:1935")]
    listen: SocketAddr,
    /// The real server: HOST:PORT, rtmp://HOST[:PORT] or rtmps://HOST[:PORT]
    /// (TLS; the path, if any, is ignored: the encoder's URL carries app and key),
    /// or `builtin`: rtmpscope's own server (it accepts any app and stream key,
    /// and players get what is published).
    #[arg(long, value_name = "URL", default_value = "builtin")]
    upstream: String,
    /// Built-in server: refuse every publish with NetStream.Publish.BadName or .Denied.
    #[arg(long, value_name = "CODE", value_parser = ["badname", "denied"])]
    reject_publish: Option<String>,
    /// Built-in server: refuse every connect (NetConnection.Connect.Rejected) with this description.
    #[arg(long, value_name = "TEXT")]
    reject_connect: Option<String>,
    /// Built-in server: drop each connection after receiving this many bytes.
    #[arg(long, value_name = "BYTES")]
    drop_after: Option<u64>,
    /// Built-in server: never send acknowledgements.
    #[arg(long)]
    stall_acks: bool,
    /// Built-in server: the chunk size it announces and sends with.
    #[arg(long, value_name = "BYTES")]
    chunk_size: Option<u32>,
    /// Built-in server: wait this many milliseconds before each reply.
    #[arg(long, value_name = "MS")]
    reply_delay: Option<u64>,
    /// With an rtmps:// upstream: accept any certificate (test servers).
    #[arg(long)]
    insecure: bool,
    /// Also accept RTMPS (TLS) clients on ADDR; they are forwarded to the
    /// same upstream, decoded and captured in clear text.
    #[arg(long, value_name = "ADDR")]
    listen_tls: Option<SocketAddr>,
    /// The certificate chain (PEM) for --listen-tls (default: a self-signed
    /// one made at start, its fingerprint printed).
    #[arg(long, value_name = "FILE", requires_all = ["listen_tls", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Write each session to its own pcapng file in DIR (Wireshark and
    /// `rtmpscope decode` read them).
    #[arg(long, value_name = "DIR")]
    capture_dir: Option<PathBuf>,
    /// Print the JSON lines of `rtmpscope decode --json` (every event) and
    /// findings instead of readable lines.
    #[arg(long)]
    json: bool,
    /// Forward and capture only; don't decode.
    #[arg(long)]
    no_decode: bool,
    /// Seconds between status lines of a live session (0: none).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    status_every: f64,
    /// Serve the web UI and the live feed of every session on ADDR (e.g. 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    ui: Option<SocketAddr>,
    /// The built web UI to serve (default: `dist` in the current directory,
    /// else beside the executable's workspace).
    #[arg(long, value_name = "DIR", requires = "ui")]
    ui_dir: Option<PathBuf>,
    /// Access token for the live feed (default: none on loopback, a random
    /// one on any other address).
    #[arg(long, value_name = "TOKEN", requires = "ui")]
    ui_token: Option<String>,
}

/// The built UI: `dist/` here, or in the workspace the executable was built in.
fn find_ui_dir() -> Option<PathBuf> {
    let here = PathBuf::from("dist");
    if here.join("index.html").is_file() {
        return Some(here);
    }
    let exe = std::env::current_exe().ok()?;
    // target/{debug,release}/rtmpscope → the workspace's dist/.
    let dist = exe.parent()?.parent()?.parent()?.join("dist");
    dist.join("index.html").is_file().then_some(dist)
}

pub fn run(a: ProxyArgs) -> Result<ExitCode> {
    if a.status_every < 0.0 || !a.status_every.is_finite() {
        bail!("--status-every must be a number of seconds, 0 or more");
    }
    let upstream = Upstream::parse(&a.upstream, a.insecure)?;
    let builtin_options = a.reject_publish.is_some()
        || a.reject_connect.is_some()
        || a.drop_after.is_some()
        || a.stall_acks
        || a.chunk_size.is_some()
        || a.reply_delay.is_some();
    if builtin_options && upstream != Upstream::Builtin {
        bail!("--reject-publish, --reject-connect, --drop-after, --stall-acks, --chunk-size and --reply-delay are options of the built-in server (--upstream builtin)");
    }
    let mut cfg = ProxyConfig::new(a.listen, upstream);
    let mut server = cfg.builtin.clone();
    if let Some(code) = &a.reject_publish {
        let (code, why) = match code.as_str() {
            "denied" => (
                RejectCode::Denied,
                "Publishing is not allowed (rtmpscope --reject-publish denied)",
            ),
            _ => (
                RejectCode::BadName,
                "Already publishing (rtmpscope --reject-publish badname)",
            ),
        };
        server = server.reject_publish(code, why);
    }
    if let Some(d) = &a.reject_connect {
        server = server.reject_connect(d.clone());
    }
    if let Some(n) = a.drop_after {
        server = server.drop_after_bytes(n);
    }
    if let Some(n) = a.chunk_size {
        if n == 0 || n > 0x7FFF_FFFF {
            bail!("--chunk-size must be 1 to 2147483647");
        }
        server = server.chunk_size(n);
    }
    if let Some(ms) = a.reply_delay {
        server = server.reply_delay(Duration::from_millis(ms));
    }
    cfg.builtin = server.stall_acks(a.stall_acks);
    if let Some(addr) = a.listen_tls {
        let identity = match (&a.tls_cert, &a.tls_key) {
            (Some(cert), Some(key)) => TlsIdentity::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => {
                let mut names = vec!["localhost".to_string(), addr.ip().to_string()];
                names.dedup();
                TlsIdentity::SelfSigned(names)
            }
        };
        cfg.listen_tls = Some((addr, identity));
    }
    cfg.capture_dir = a.capture_dir.clone();
    cfg.json = a.json;
    cfg.decode = !a.no_decode;
    cfg.status_interval = (a.status_every > 0.0).then(|| Duration::from_secs_f64(a.status_every));
    if let Some(listen) = a.ui {
        let dir = match &a.ui_dir {
            Some(d) => {
                if !d.join("index.html").is_file() {
                    bail!("--ui-dir {}: no index.html in it (build the UI with `bash scripts/web-build.sh`)", d.display());
                }
                Some(d.clone())
            }
            None => find_ui_dir(),
        };
        let token = match &a.ui_token {
            Some(t) => Some(t.clone()),
            None if listen.ip().is_loopback() => None,
            None => Some(rtmpscope_proxy::ui::random_token()),
        };
        cfg.ui = Some(UiConfig { listen, dir, token });
    }
    let ui = cfg.ui.clone();
    let upstream_text = cfg.upstream.to_string();
    let runtime = rtmpscope_proxy::runtime().context("cannot start the proxy's runtime")?;
    runtime.block_on(async move {
        let proxy = rtmpscope_proxy::Proxy::bind(cfg).await?;
        let mut banner = format!(
            "rtmpscope proxy: encoders connect to rtmp://{}/APP/KEY",
            proxy.local_addr()
        );
        if let Some((addr, fingerprint, self_signed)) = proxy.tls_addr() {
            banner.push_str(&format!(
                " or rtmps://{addr}/APP/KEY (certificate SHA-256 {fingerprint}{})",
                if self_signed { ", self-signed" } else { "" }
            ));
        }
        match proxy.builtin_addr() {
            Some(b) => banner.push_str(&format!(", served by the built-in server (on {b})")),
            None => banner.push_str(&format!(", forwarded to {upstream_text}")),
        }
        if let Some(dir) = &a.capture_dir {
            banner.push_str(&format!("; captures in {}", dir.display()));
        }
        if let (Some(addr), Some(ui)) = (proxy.ui_addr(), &ui) {
            let query = ui
                .token
                .as_ref()
                .map_or(String::new(), |t| format!("?token={t}"));
            banner.push_str(&format!("; live UI at http://{addr}/{query}"));
            if ui.dir.is_none() {
                banner.push_str(" (the web UI is not built: bash scripts/web-build.sh)");
            }
        }
        banner.push_str("; Ctrl-C stops");
        eprintln!("{banner}");
        proxy.serve(rtmpscope_proxy::shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}
