//! `rtmpscope proxy`: sit between an encoder and a server, forward every
//! byte, record each session and decode it live.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use rtmpscope_proxy::{ProxyConfig, UiConfig, Upstream};

#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// Address encoders connect to (rtmp://ADDR/app/key).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:1935")]
    listen: SocketAddr,
    /// The real server, HOST:PORT (a name is resolved for every session).
    #[arg(long, value_name = "HOST:PORT")]
    upstream: String,
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
    let mut cfg = ProxyConfig::new(a.listen, Upstream::Addr(a.upstream.clone()));
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
    let runtime = rtmpscope_proxy::runtime().context("cannot start the proxy's runtime")?;
    runtime.block_on(async move {
        let proxy = rtmpscope_proxy::Proxy::bind(cfg).await?;
        let mut banner = format!(
            "rtmpscope proxy: encoders connect to rtmp://{}/APP/KEY, forwarded to {}",
            proxy.local_addr(),
            a.upstream
        );
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
