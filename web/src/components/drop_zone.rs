//! The empty state: drop a capture, pick one, or open the bundled sample.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{DragEvent, File, FileList, HtmlInputElement};
use yew::prelude::*;

/// The bundled sample (copied into dist/ by Trunk).
pub const SAMPLE: &str = "ffmpeg-publish.pcap";

/// Props.
#[derive(Properties, PartialEq)]
pub struct Props {
    /// Files to open.
    pub on_files: Callback<Vec<File>>,
}

/// The files of a list.
pub fn files_of(list: Option<FileList>) -> Vec<File> {
    let Some(list) = list else {
        return Vec::new();
    };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// Fetches the sample and hands it on as a file.
pub fn open_sample(on_files: Callback<Vec<File>>) {
    wasm_bindgen_futures::spawn_local(async move {
        let Some(w) = web_sys::window() else { return };
        let Ok(resp) = JsFuture::from(w.fetch_with_str(SAMPLE)).await else {
            return;
        };
        let Ok(resp) = resp.dyn_into::<web_sys::Response>() else {
            return;
        };
        let Ok(blob) = resp.blob() else { return };
        let Ok(blob) = JsFuture::from(blob).await else {
            return;
        };
        let parts = js_sys::Array::of1(&blob);
        if let Ok(f) = File::new_with_blob_sequence(&parts, SAMPLE) {
            on_files.emit(vec![f]);
        }
    });
}

/// The drop zone.
#[function_component(DropZone)]
pub fn drop_zone(p: &Props) -> Html {
    let over = use_state(|| false);
    let ondragover = {
        let over = over.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            over.set(true);
        })
    };
    let ondragleave = {
        let over = over.clone();
        Callback::from(move |_: DragEvent| over.set(false))
    };
    let ondrop = {
        let over = over.clone();
        let on_files = p.on_files.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            // The page also takes drops (over an open capture): once is enough.
            e.stop_propagation();
            over.set(false);
            let files = files_of(e.data_transfer().and_then(|d| d.files()));
            if !files.is_empty() {
                on_files.emit(files);
            }
        })
    };
    let onchange = {
        let on_files = p.on_files.clone();
        Callback::from(move |e: Event| {
            let input: Option<HtmlInputElement> = e.target().and_then(|t| t.dyn_into().ok());
            if let Some(input) = input {
                let files = files_of(input.files());
                if !files.is_empty() {
                    on_files.emit(files);
                }
                input.set_value("");
            }
        })
    };
    let sample = {
        let on_files = p.on_files.clone();
        Callback::from(move |_: MouseEvent| open_sample(on_files.clone()))
    };
    html! {
        <div class={classes!("drop-zone", (*over).then_some("over"))} {ondragover} {ondragleave} {ondrop} id="drop-zone">
            <h1>{ "rtmpscope" }</h1>
            <p class="lead">{ "Drop an RTMP capture here to see what crossed the wire." }</p>
            <p>{ "pcap or pcapng (tcpdump, Wireshark, rtmpscope proxy), or a pair of raw streams FILE.c2s + FILE.s2c." }</p>
            <label class="button primary">
                { "Choose a file…" }
                <input type="file" id="file-input" multiple=true accept=".pcap,.pcapng,.cap,.c2s,.s2c" {onchange} />
            </label>
            <button class="button" id="open-sample" onclick={sample}>{ "Open the sample: ffmpeg publishing to nginx-rtmp" }</button>
            <p class="private">{ "Everything is decoded in this browser tab. Nothing, stream keys included, is uploaded." }</p>
        </div>
    }
}
