//! Chunk lanes: one lane per chunk stream over the connection's bytes, each
//! chunk in its message type's colour; wheel zooms, drag pans, click selects.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, WheelEvent};
use yew::prelude::*;

use crate::app::Bridge;
use crate::components::type_colour;
use crate::protocol::{LanesView, Request};

const LANE_H: f64 = 24.0;
const LABEL_W: f64 = 70.0;

/// Props.
#[derive(Properties, PartialEq)]
pub struct Props {
    /// Session.
    pub session: Option<u64>,
    /// The worker.
    pub bridge: Rc<Bridge>,
    /// The latest chunks.
    pub lanes: Option<Rc<LanesView>>,
    /// Select a message by row.
    pub on_row: Callback<u32>,
}

/// The lanes.
#[function_component(Lanes)]
pub fn lanes(p: &Props) -> Html {
    let dir = use_state(|| "c2s".to_string());
    // Over bytes (false) or over capture time (true).
    let over_time = use_state(|| false);
    // The byte range on screen; `to == 0` means the whole direction.
    let view = use_state(|| (0u64, 0u64));
    let drag = use_mut_ref(|| None::<(f64, (u64, u64))>);
    let canvas = use_node_ref();
    let length = p
        .lanes
        .as_ref()
        .filter(|l| l.dir == *dir && l.time == *over_time)
        .map_or(0, |l| l.length);
    let (from, to) = if view.1 == 0 {
        (0, length.max(1))
    } else {
        *view
    };

    {
        let bridge = p.bridge.clone();
        use_effect_with(
            (p.session, (*dir).clone(), *over_time, from, to, length == 0),
            move |(s, d, time, from, to, unknown)| {
                if let Some(s) = s {
                    bridge.send(&Request::Lanes {
                        session: *s,
                        dir: d.clone(),
                        from: *from,
                        to: if *unknown { u64::MAX } else { *to },
                        time: *time,
                    });
                }
            },
        );
    }
    {
        let canvas = canvas.clone();
        let lanes = p.lanes.clone();
        use_effect_with((lanes, from, to), move |(lanes, from, to)| {
            if let (Some(c), Some(l)) = (canvas.cast::<HtmlCanvasElement>(), lanes) {
                draw(&c, l, *from, *to);
            }
        });
    }

    let span = (to - from).max(1) as f64;
    let x_to_byte = move |c: &HtmlCanvasElement, client_x: f64| -> u64 {
        let rect = c.get_bounding_client_rect();
        let w = (rect.width() - LABEL_W).max(1.0);
        let x = (client_x - rect.left() - LABEL_W).clamp(0.0, w);
        from + (x / w * span) as u64
    };
    let onwheel = {
        let view = view.clone();
        let canvas = canvas.clone();
        Callback::from(move |e: WheelEvent| {
            e.prevent_default();
            let Some(c) = canvas.cast::<HtmlCanvasElement>() else {
                return;
            };
            let at = x_to_byte(&c, e.client_x() as f64);
            let factor = if e.delta_y() < 0.0 { 0.7 } else { 1.0 / 0.7 };
            let new_span = ((span * factor) as u64).clamp(64, length.max(64));
            let left = ((at - from) as f64 / span * new_span as f64) as u64;
            let nf = at.saturating_sub(left);
            let nt = (nf + new_span).min(length.max(1));
            view.set((nt.saturating_sub(new_span), nt));
        })
    };
    let onmousedown = {
        let drag = drag.clone();
        Callback::from(move |e: MouseEvent| {
            *drag.borrow_mut() = Some((e.client_x() as f64, (from, to)));
        })
    };
    let onmousemove = {
        let drag = drag.clone();
        let view = view.clone();
        let canvas = canvas.clone();
        Callback::from(move |e: MouseEvent| {
            let Some((x0, (f0, t0))) = *drag.borrow() else {
                return;
            };
            let Some(c) = canvas.cast::<HtmlCanvasElement>() else {
                return;
            };
            let w = (c.get_bounding_client_rect().width() - LABEL_W).max(1.0);
            let dx = (e.client_x() as f64 - x0) / w * (t0 - f0) as f64;
            if dx.abs() < 1.0 {
                return;
            }
            let width = t0 - f0;
            let nf = (f0 as f64 - dx).clamp(0.0, length.saturating_sub(width) as f64) as u64;
            view.set((nf, nf + width));
        })
    };
    let onmouseup = {
        let drag = drag.clone();
        let lanes = p.lanes.clone();
        let on_row = p.on_row.clone();
        let canvas = canvas.clone();
        Callback::from(move |e: MouseEvent| {
            let started = drag.borrow_mut().take();
            let Some((x0, _)) = started else { return };
            if (e.client_x() as f64 - x0).abs() > 3.0 {
                return;
            }
            let (Some(c), Some(l)) = (canvas.cast::<HtmlCanvasElement>(), &lanes) else {
                return;
            };
            let rect = c.get_bounding_client_rect();
            let lane = ((e.client_y() as f64 - rect.top() - 18.0) / LANE_H).floor();
            let Some(&csid) = (lane >= 0.0).then(|| l.csids.get(lane as usize)).flatten() else {
                return;
            };
            let at = x_to_byte(&c, e.client_x() as f64);
            // The chunk under the pointer, or the nearest one of that lane within a few pixels.
            let slack = (span / rect.width().max(1.0) * 3.0) as u64;
            let hit = l
                .chunks
                .iter()
                .filter(|ch| ch.2 == csid)
                .find(|ch| ch.0 <= at + slack && at <= ch.0 + ch.1 as u64 + slack);
            if let Some(ch) = hit {
                on_row.emit(ch.4);
            }
        })
    };
    let set_dir = |d: &'static str| {
        let dir = dir.clone();
        let view = view.clone();
        Callback::from(move |_: MouseEvent| {
            dir.set(d.to_string());
            view.set((0, 0));
        })
    };
    let reset = {
        let view = view.clone();
        Callback::from(move |_: MouseEvent| view.set((0, 0)))
    };
    let set_axis = |t: bool| {
        let over_time = over_time.clone();
        let view = view.clone();
        Callback::from(move |_: MouseEvent| {
            over_time.set(t);
            view.set((0, 0));
        })
    };
    let range = if *over_time {
        format!(
            "{:.3} – {:.3} s of {:.3} s",
            from as f64 / 1e6,
            to as f64 / 1e6,
            length as f64 / 1e6
        )
    } else {
        format!("bytes {from} – {to} of {length}")
    };
    let n = p.lanes.as_ref().map_or(0, |l| l.csids.len());
    let height = 30.0 + n as f64 * LANE_H;
    html! {
        <div class="lanes card" id="lanes">
            <div class="lanes-bar">
                <button class={classes!("tab", (*dir == "c2s").then_some("active"))} onclick={set_dir("c2s")}>{ "client → server" }</button>
                <button class={classes!("tab", (*dir == "s2c").then_some("active"))} onclick={set_dir("s2c")}>{ "server → client" }</button>
                <span class="sep"></span>
                <button id="lanes-bytes" class={classes!("tab", (!*over_time).then_some("active"))} onclick={set_axis(false)}>{ "over bytes" }</button>
                <button id="lanes-time" class={classes!("tab", (*over_time).then_some("active"))} onclick={set_axis(true)}>{ "over time" }</button>
                <button class="button small" onclick={reset}>{ "whole stream" }</button>
                <span class="muted">{ format!("{range} · wheel to zoom, drag to pan, click a chunk to open its message") }</span>
                if p.lanes.as_ref().is_some_and(|l| l.truncated) { <span class="warning">{ " · zoom in to see every chunk" }</span> }
            </div>
            <canvas ref={canvas} width="1200" height={format!("{height:.0}")} style={format!("height:{height:.0}px")}
                {onwheel} {onmousedown} {onmousemove} {onmouseup}></canvas>
            <div class="legend">
                { for [(20u8, "command"), (18, "data"), (8, "audio"), (9, "video"), (1, "control"), (22, "aggregate")].iter().map(|(t, l)| html! {
                    <span><span class="swatch" style={format!("background:{}", type_colour(*t))}></span>{ *l }</span>
                }) }
            </div>
        </div>
    }
}

thread_local! {
    static LAST_W: RefCell<f64> = const { RefCell::new(0.0) };
}

fn draw(c: &HtmlCanvasElement, l: &LanesView, from: u64, to: u64) {
    let w = c.client_width().max(300) as f64;
    if (LAST_W.with(|x| *x.borrow()) - w).abs() > 0.5 {
        LAST_W.with(|x| *x.borrow_mut() = w);
    }
    c.set_width(w as u32);
    let Ok(Some(ctx)) = c.get_context("2d") else {
        return;
    };
    let Ok(ctx) = ctx.dyn_into::<CanvasRenderingContext2d>() else {
        return;
    };
    let h = c.height() as f64;
    ctx.clear_rect(0.0, 0.0, w, h);
    ctx.set_font("12px ui-monospace, monospace");
    let span = (to - from).max(1) as f64;
    let plot = w - LABEL_W;
    for (i, csid) in l.csids.iter().enumerate() {
        let y = 18.0 + i as f64 * LANE_H;
        ctx.set_fill_style_str(if i % 2 == 0 { "#f4f5f7" } else { "#eceef1" });
        ctx.fill_rect(LABEL_W, y, plot, LANE_H - 2.0);
        ctx.set_fill_style_str("#333");
        let _ = ctx.fill_text(&format!("csid {csid}"), 4.0, y + 16.0);
    }
    for &(off, len, csid, type_id, _) in &l.chunks {
        let Some(lane) = l.csids.iter().position(|c| *c == csid) else {
            continue;
        };
        let x = LABEL_W + (off.saturating_sub(from)) as f64 / span * plot;
        let end = LABEL_W + ((off + len as u64).min(to).saturating_sub(from)) as f64 / span * plot;
        let y = 18.0 + lane as f64 * LANE_H;
        ctx.set_fill_style_str(type_colour(type_id));
        // Over time a chunk is an instant: drawn as a thin mark.
        let min_w = if l.time { 2.0 } else { 1.0 };
        ctx.fill_rect(x, y + 3.0, (end - x).max(min_w), LANE_H - 8.0);
    }
    ctx.set_fill_style_str("#555");
    for k in 0..=4 {
        let b = from + (span * k as f64 / 4.0) as u64;
        let x = LABEL_W + plot * k as f64 / 4.0;
        let label = if l.time {
            format!("{:.3} s", b as f64 / 1e6)
        } else {
            b.to_string()
        };
        let _ = ctx.fill_text(&label, (x - 20.0).clamp(LABEL_W, w - 80.0), 12.0);
    }
}
