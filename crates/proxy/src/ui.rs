//! The UI server: the built web UI (a directory of static files, `dist/`)
//! and the live feed as a WebSocket at `/feed`.
//!
//! `GET /feed-info` answers `{"live":true,"sessions":N}` so the page knows it
//! is served by a proxy. When a token is set (always when the UI listens on a
//! non-loopback address), `/feed` and `/feed-info` need `?token=T`; the static
//! files hold no session data and are served to anyone who can reach them.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::feed::{Feed, Frame};

/// What the UI server needs.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The built web UI (Trunk's `dist/`); `None` serves a page that says how to build it.
    pub dir: Option<PathBuf>,
    /// Access token for the feed; `None` for none.
    pub token: Option<String>,
}

#[derive(Debug)]
struct Ui {
    feed: Arc<Feed>,
    dir: Option<PathBuf>,
    token: Option<String>,
    cancel: CancellationToken,
}

#[derive(Debug, serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

impl Ui {
    fn allowed(&self, q: &TokenQuery) -> bool {
        match &self.token {
            None => true,
            // Constant-time enough: tokens are compared whole, and a wrong guess learns nothing but "no".
            Some(t) => q
                .token
                .as_deref()
                .is_some_and(|g| g.as_bytes() == t.as_bytes()),
        }
    }
}

/// A random token of 32 hex digits.
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: fall back to the clock and the process id, still unguessable from outside in practice.
        let seed = crate::now().to_bits() ^ u64::from(std::process::id()).rotate_left(32);
        b[..8].copy_from_slice(&seed.to_le_bytes());
        b[8..].copy_from_slice(&seed.rotate_left(17).to_be_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Binds the UI server; the returned future serves until `cancel`.
pub(crate) async fn bind(
    cfg: UiConfig,
    feed: Arc<Feed>,
    cancel: CancellationToken,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    let listener = crate::listen(cfg.listen)?;
    let local = listener.local_addr()?;
    let ui = Arc::new(Ui {
        feed,
        dir: cfg.dir,
        token: cfg.token,
        cancel: cancel.clone(),
    });
    let app = Router::new()
        .route("/feed", get(feed_socket))
        .route("/feed-info", get(feed_info))
        .fallback(get(static_file))
        .with_state(ui);
    let serve = async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await;
    };
    Ok((local, serve))
}

async fn feed_info(State(ui): State<Arc<Ui>>, Query(q): Query<TokenQuery>) -> Response {
    if !ui.allowed(&q) {
        return (StatusCode::FORBIDDEN, "a token is needed: ?token=…").into_response();
    }
    let body = format!(r#"{{"live":true,"sessions":{}}}"#, ui.feed.live_sessions());
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn feed_socket(
    State(ui): State<Arc<Ui>>,
    Query(q): Query<TokenQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    if !ui.allowed(&q) {
        return (StatusCode::FORBIDDEN, "a token is needed: ?token=…").into_response();
    }
    ws.on_upgrade(move |socket| subscriber(socket, ui))
}

fn message(f: Frame) -> Message {
    match f {
        Frame::Text(t) => Message::Text(t.as_ref().into()),
        Frame::Binary(b) => Message::Binary(b),
    }
}

/// One browser: the snapshot, then every frame, until it leaves, falls behind or the proxy stops.
async fn subscriber(mut socket: WebSocket, ui: Arc<Ui>) {
    let (snapshot, mut rx) = ui.feed.subscribe();
    for f in snapshot {
        if socket.send(message(f)).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            f = rx.recv() => match f {
                Ok(f) => {
                    if socket.send(message(f)).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    let text = format!(
                        r#"{{"kind":"error","message":"this page fell {n} frames behind the live feed and was disconnected; reload to follow the live sessions again"}}"#
                    );
                    let _ = socket.send(Message::Text(text.into())).await;
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                // The page sends nothing the proxy needs; a close or an error ends it.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = ui.cancel.cancelled() => break,
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// `path` below `root`, or `None` when it tries to leave it.
fn below(root: &Path, path: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for c in Path::new(path.trim_start_matches('/')).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>rtmpscope</title>\
<body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\
<h1>rtmpscope proxy</h1><p>The live feed runs at <code>/feed</code>, but the web UI is not built. \
Build it with <code>bash scripts/web-build.sh</code> (it writes <code>dist/</code>) and restart the proxy, \
or point <code>--ui-dir</code> at a built UI.</p></body>";

async fn static_file(State(ui): State<Arc<Ui>>, uri: Uri) -> Response {
    let Some(dir) = &ui.dir else {
        return (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            NOT_BUILT,
        )
            .into_response();
    };
    let path = uri.path();
    let Some(mut file) = below(dir, path) else {
        return (StatusCode::BAD_REQUEST, "bad path").into_response();
    };
    if path.ends_with('/') || path.is_empty() {
        file.push("index.html");
    }
    match tokio::fs::read(&file).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, content_type(&file)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_leave_the_ui_directory() {
        let root = Path::new("/srv/dist");
        assert_eq!(
            below(root, "/index.html"),
            Some(PathBuf::from("/srv/dist/index.html"))
        );
        assert_eq!(
            below(root, "/a/./b.js"),
            Some(PathBuf::from("/srv/dist/a/b.js"))
        );
        assert_eq!(below(root, "/../etc/passwd"), None);
        assert_eq!(below(root, "/a/../../x"), None);
    }

    #[test]
    fn tokens_are_32_hex_digits_and_differ() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
