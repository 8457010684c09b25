//! The message table: filters, and a virtualised list that renders only the
//! rows on screen, asking the worker for a window around them.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlInputElement, HtmlSelectElement, KeyboardEvent};
use yew::prelude::*;

use crate::components::type_colour;
use crate::protocol::{Filter, RowView};

/// Rows asked of the worker at a time.
pub const WINDOW: u32 = 240;
/// Pixel height of a row.
const ROW_H: f64 = 22.0;
/// Tallest scroll area: browsers stop laying out elements taller than about
/// 33 million pixels, so past this the scroll position is scaled.
const MAX_PX: f64 = 15_000_000.0;

/// Props.
#[derive(Properties, PartialEq)]
pub struct Props {
    /// The session shown.
    pub session: Option<u64>,
    /// The filter.
    pub filter: Filter,
    /// Rows passing the filter.
    pub total: u32,
    /// Position of `rows[0]`.
    pub rows_start: u32,
    /// Cached rows.
    pub rows: Rc<Vec<RowView>>,
    /// The selection.
    pub selected: Option<u32>,
    /// First row on screen.
    pub first_visible: u32,
    /// Change the filter.
    pub on_filter: Callback<Filter>,
    /// The view scrolled.
    pub on_scroll: Callback<u32>,
    /// Select a position.
    pub on_select: Callback<u32>,
    /// Rows keep arriving (a live feed): a view at the end follows them.
    #[prop_or_default]
    pub follow: bool,
}

fn px_per_row(total: u32) -> f64 {
    if total == 0 {
        ROW_H
    } else {
        ROW_H.min(MAX_PX / total as f64)
    }
}

fn input_value(e: &Event) -> String {
    let t = e.target();
    if let Some(i) = t
        .clone()
        .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
    {
        return i.value();
    }
    t.and_then(|t| t.dyn_into::<HtmlSelectElement>().ok())
        .map(|s| s.value())
        .unwrap_or_default()
}

/// The table.
#[function_component(MessageTable)]
pub fn message_table(p: &Props) -> Html {
    let body = use_node_ref();
    let height = use_state(|| 600.0f64);
    let last_first = use_mut_ref(|| p.first_visible);
    // Whether the view keeps to the newest rows (live): until the user
    // scrolls away from the end, and again once they scroll back to it.
    let following = use_mut_ref(|| true);
    let eff = px_per_row(p.total);
    let visible = ((*height / ROW_H).ceil() as u32).max(1);

    // Keep the selection in view (keyboard, findings' evidence).
    {
        let body = body.clone();
        let height = height.clone();
        let total = p.total;
        let on_scroll = p.on_scroll.clone();
        let last = last_first.clone();
        let follow = p.follow;
        let following = following.clone();
        let prev_total = use_mut_ref(|| 0u32);
        use_effect_with(
            (p.selected, p.first_visible, total),
            move |(sel, first, total)| {
                let before = std::mem::replace(&mut *prev_total.borrow_mut(), *total);
                if let Some(el) = body.cast::<Element>() {
                    let h = el.client_height() as f64;
                    if h > 0.0 && (h - *height).abs() > 1.0 {
                        height.set(h);
                    }
                    let eff = px_per_row(*total);
                    let vis = ((h / ROW_H).floor() as u32).max(1);
                    let want_first = match sel {
                        Some(s) if *s < *first => Some(*s),
                        Some(s) if *s >= first + vis => Some(s + 1 - vis),
                        None if follow && *following.borrow() && *total > before => {
                            Some(total.saturating_sub(vis))
                        }
                        _ => None,
                    };
                    let target = want_first.unwrap_or(*first) as f64 * eff;
                    if (el.scroll_top() as f64 - target).abs() > eff.max(1.0) {
                        el.set_scroll_top(target as i32);
                    }
                    // The browser clamps the position near the end (or when
                    // every row fits): the rows are drawn where it really is.
                    let actual = (el.scroll_top() as f64 / eff).floor() as u32;
                    if want_first.is_none() && actual != *first && *total > 0 {
                        *last.borrow_mut() = actual;
                        on_scroll.emit(actual);
                    }
                }
            },
        );
    }

    let onscroll = {
        let on_scroll = p.on_scroll.clone();
        let last = last_first.clone();
        let following = following.clone();
        let total = p.total;
        Callback::from(move |e: Event| {
            let Some(el) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
                return;
            };
            let first = (el.scroll_top() as f64 / px_per_row(total)).floor() as u32;
            let vis = ((el.client_height() as f64 / ROW_H).floor() as u32).max(1);
            *following.borrow_mut() = first + vis + 1 >= total;
            if *last.borrow() != first {
                *last.borrow_mut() = first;
                on_scroll.emit(first);
            }
        })
    };
    let onkeydown = {
        let on_select = p.on_select.clone();
        let sel = p.selected;
        let total = p.total;
        let first = p.first_visible;
        Callback::from(move |e: KeyboardEvent| {
            if total == 0 {
                return;
            }
            let cur = sel.unwrap_or(first) as i64;
            let page = visible.saturating_sub(1).max(1) as i64;
            let next = match e.key().as_str() {
                "ArrowDown" | "j" => cur + if sel.is_some() { 1 } else { 0 },
                "ArrowUp" | "k" => cur - 1,
                "PageDown" => cur + page,
                "PageUp" => cur - page,
                "Home" => 0,
                "End" => total as i64 - 1,
                _ => return,
            };
            e.prevent_default();
            on_select.emit(next.clamp(0, total as i64 - 1) as u32);
        })
    };

    let f = p.filter.clone();
    let set = |apply: fn(&mut Filter, String)| {
        let on_filter = p.on_filter.clone();
        let f = f.clone();
        Callback::from(move |e: Event| {
            let mut nf = f.clone();
            apply(&mut nf, input_value(&e));
            on_filter.emit(nf);
        })
    };
    let set_input = |apply: fn(&mut Filter, String)| {
        let on_filter = p.on_filter.clone();
        let f = f.clone();
        Callback::from(move |e: InputEvent| {
            let mut nf = f.clone();
            apply(&mut nf, input_value(&e.into()));
            on_filter.emit(nf);
        })
    };

    let first = p.first_visible.min(p.total.saturating_sub(1));
    let last = (first + visible + 2).min(p.total);
    let top = first as f64 * eff;
    let rows_html = (first..last).map(|pos| {
        let cached = pos
            .checked_sub(p.rows_start)
            .and_then(|i| p.rows.get(i as usize));
        let on_select = p.on_select.clone();
        let onclick = Callback::from(move |_: MouseEvent| on_select.emit(pos));
        let selected = p.selected == Some(pos);
        match cached {
            Some(r) => {
                let delta = r.delta.map(|d| format!(" +{d}")).unwrap_or_default();
                html! {
                    <div class={classes!("tr", r.dir.clone(), selected.then_some("selected"), (r.flags & 1 == 0).then_some("incomplete"))}
                         data-pos={pos.to_string()} data-row={r.row.to_string()} {onclick}>
                        <span class="c-idx">{ r.index }</span>
                        <span class="c-time">{ format!("{:.3}", r.time) }</span>
                        <span class="c-dir">{ if r.dir == "c2s" { "C→S" } else { "S→C" } }</span>
                        <span class="c-csid">{ r.csid }</span>
                        <span class="c-type"><span class="swatch" style={format!("background:{}", type_colour(r.type_id))}></span>{ format!("{} {}", r.type_id, r.type_name) }</span>
                        <span class="c-sid">{ r.stream_id }</span>
                        <span class="c-ts">{ format!("{}{delta}", r.timestamp) }</span>
                        <span class="c-len">{ r.length }</span>
                        <span class="c-chunks">{ r.chunks }</span>
                        <span class="c-summary">{ r.summary.clone() }</span>
                    </div>
                }
            }
            None => html! { <div class="tr placeholder" data-pos={pos.to_string()} {onclick}><span class="c-summary muted">{ "…" }</span></div> },
        }
    });

    html! {
        <div class="table-wrap" id="messages" data-total={p.total.to_string()}>
            <div class="filters">
                <select id="f-dir" onchange={set(|f, v| f.dir = v)} value={f.dir.clone()}>
                    <option value="" selected={f.dir.is_empty()}>{ "both directions" }</option>
                    <option value="c2s" selected={f.dir == "c2s"}>{ "client → server" }</option>
                    <option value="s2c" selected={f.dir == "s2c"}>{ "server → client" }</option>
                </select>
                <select id="f-type" onchange={set(|f, v| f.kind = v)}>
                    { for [("", "all types"), ("command", "commands"), ("data", "data"), ("audio", "audio"), ("video", "video"), ("media", "audio + video"), ("control", "protocol control")].iter().map(|(v, l)| html! {
                        <option value={*v} selected={f.kind == *v}>{ *l }</option>
                    }) }
                    <optgroup label="one type">
                        { for [1u8, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22].iter().map(|t| {
                            let v = t.to_string();
                            let label = format!("{t} {}", rtmpscope_core::message::type_name(*t));
                            html! { <option value={v.clone()} selected={f.kind == v}>{ label }</option> }
                        }) }
                    </optgroup>
                </select>
                <input id="f-stream" placeholder="stream id" size="8" value={f.stream.clone()} oninput={set_input(|f, v| f.stream = v)} />
                <input id="f-csid" placeholder="csid" size="6" value={f.csid.clone()} oninput={set_input(|f, v| f.csid = v)} />
                <input id="f-text" class="grow" placeholder="search summaries (connect, onStatus, keyframe…)" value={f.text.clone()} oninput={set_input(|f, v| f.text = v)} />
                <span class="count" id="row-count">{ format!("{} messages", p.total) }</span>
            </div>
            <div class="thead">
                <span class="c-idx">{ "#" }</span>
                <span class="c-time">{ "time s" }</span>
                <span class="c-dir">{ "dir" }</span>
                <span class="c-csid">{ "csid" }</span>
                <span class="c-type">{ "type" }</span>
                <span class="c-sid">{ "sid" }</span>
                <span class="c-ts">{ "timestamp +Δ" }</span>
                <span class="c-len">{ "length" }</span>
                <span class="c-chunks">{ "chunks" }</span>
                <span class="c-summary">{ "summary" }</span>
            </div>
            <div class="tbody" ref={body} tabindex="0" {onscroll} {onkeydown} id="table-body">
                <div class="spacer" style={format!("height:{:.0}px", p.total as f64 * eff + ROW_H)}></div>
                <div class="rows" style={format!("transform:translateY({top:.0}px)")}>
                    { for rows_html }
                </div>
            </div>
        </div>
    }
}
