//! The Web Worker that decodes captures (in the browser only).

fn main() {
    #[cfg(target_arch = "wasm32")]
    rtmpscope_web::worker::start();
}
