//! The top bar: what is open, progress, view tabs, exports, open another file.

use wasm_bindgen::JsCast;
use web_sys::{File, HtmlInputElement};
use yew::prelude::*;

use std::rc::Rc;

use crate::app::{Bridge, State, Tab};
use crate::components::drop_zone::files_of;
use crate::protocol::Request;

/// Props.
#[derive(Properties, PartialEq)]
pub struct Props {
    /// The app state.
    pub state: UseReducerHandle<State>,
    /// The worker.
    pub bridge: Rc<Bridge>,
    /// Files to open.
    pub on_files: Callback<Vec<File>>,
    /// Switch view.
    pub on_tab: Callback<Tab>,
}

/// The bar.
#[function_component(Toolbar)]
pub fn toolbar(p: &Props) -> Html {
    let s = &*p.state;
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
    let export = |format: &'static str| {
        let bridge = p.bridge.clone();
        let session = s.session.unwrap_or(0);
        Callback::from(move |_: MouseEvent| {
            bridge.send(&Request::Export {
                format: format.into(),
                session,
            })
        })
    };
    let tab = |t: Tab, label: &'static str, id: &'static str| {
        let on_tab = p.on_tab.clone();
        html! {
            <button id={id} class={classes!("tab", (s.tab == t).then_some("active"))} onclick={Callback::from(move |_: MouseEvent| on_tab.emit(t))}>{ label }</button>
        }
    };
    let pct = if s.total > 0 {
        (s.read as f64 / s.total as f64 * 100.0).min(100.0)
    } else {
        0.0
    };
    let opened = !s.file_name.is_empty() && s.failed.is_none();
    html! {
        <header class="toolbar">
            <span class="brand">{ "rtmpscope" }</span>
            <span class="file" id="file-name">{ s.file_name.clone() }</span>
            if s.loading {
                <span class="progress" id="progress">
                    <span class="bar"><span class="fill" style={format!("width:{pct:.1}%")}></span></span>
                    { format!("decoding {pct:.0}% · {} messages", s.messages) }
                </span>
            } else if opened {
                <span class="status" id="decoded" title={format!("the decoding worker holds {:.1} MB", s.memory as f64 / 1e6)}>{ format!("{} sessions · {} messages", s.sessions.len(), s.messages) }</span>
            }
            if let Some(l) = &s.live {
                <span class="live" id="live-state">{ format!("live: {l}") }</span>
            }
            <span class="spacer"></span>
            if opened || s.live.is_some() {
                { tab(Tab::Messages, "Messages", "tab-messages") }
                { tab(Tab::Lanes, "Chunk lanes", "tab-lanes") }
                { tab(Tab::Charts, "Charts", "tab-charts") }
                <button class="button small" id="export-json" onclick={export("json")} title="every event as the CLI's decode --json prints it">{ "Export JSON lines" }</button>
                <button class="button small" id="export-flv" onclick={export("flv")} title="the selected session's media">{ "Export FLV" }</button>
            }
            if let Some(n) = &s.export_note {
                <span class="note" id="export-note">{ n.clone() }</span>
            }
            <label class="button small">
                { "Open…" }
                <input type="file" id="file-input-bar" multiple=true {onchange} />
            </label>
        </header>
    }
}
