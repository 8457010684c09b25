//! The page: mounts the Yew app (in the browser only).

fn main() {
    #[cfg(target_arch = "wasm32")]
    rtmpscope_web::app::start();
}
