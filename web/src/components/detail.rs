//! The selected message: header, AMF tree, decoded facts, and a hex view of
//! its chunks in which every chunk-header field and AMF value is a range;
//! hovering a tree node lights its bytes, hovering a byte lights its field.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::Element;
use yew::prelude::*;

use crate::protocol::{DetailView, TreeNode};

/// Props.
#[derive(Properties, PartialEq)]
pub struct Props {
    /// The detail, once the worker sent it.
    pub detail: Option<Rc<DetailView>>,
}

fn field_of_target(e: &MouseEvent) -> Option<Option<u32>> {
    let el = e.target()?.dyn_into::<Element>().ok()?;
    let i = el.get_attribute("data-f")?;
    Some(i.parse::<u32>().ok())
}

fn tree_html(
    n: &TreeNode,
    depth: usize,
    hover: &UseStateHandle<Option<u32>>,
    chosen: &UseStateHandle<Option<u32>>,
    active: Option<u32>,
) -> Html {
    let f = n.field;
    let onmouseenter = {
        let hover = hover.clone();
        Callback::from(move |_: MouseEvent| hover.set(f))
    };
    let onmouseleave = {
        let hover = hover.clone();
        Callback::from(move |_: MouseEvent| hover.set(None))
    };
    let onclick = {
        let chosen = chosen.clone();
        Callback::from(move |e: MouseEvent| {
            e.stop_propagation();
            chosen.set(f);
        })
    };
    let lit = f.is_some() && f == active;
    let label = html! {
        <span class={classes!("node", lit.then_some("lit"))} data-field={f.map(|x| x.to_string())} data-key={n.key.clone()}
              {onmouseenter} {onmouseleave} {onclick}>
            <span class="key">{ n.key.clone() }</span>
            <span class="type">{ n.type_name.clone() }</span>
            <span class="value">{ n.value.clone() }</span>
        </span>
    };
    if n.children.is_empty() {
        html! { <li>{ label }</li> }
    } else {
        html! {
            <li>
                <details open={depth < 3}>
                    <summary>{ label }</summary>
                    <ul>{ for n.children.iter().map(|c| tree_html(c, depth + 1, hover, chosen, active)) }</ul>
                </details>
            </li>
        }
    }
}

/// The pane.
#[function_component(DetailPane)]
pub fn detail_pane(p: &Props) -> Html {
    let hover = use_state(|| None::<u32>);
    let chosen = use_state(|| None::<u32>);
    // A new message forgets the chosen field.
    {
        let chosen = chosen.clone();
        let key = p.detail.as_ref().map(|d| (d.session, d.row.row));
        use_effect_with(key, move |_| chosen.set(None));
    }
    // For each byte, the deepest field that covers it.
    let owner = use_memo(p.detail.clone(), |d| {
        let Some(d) = d else { return Vec::new() };
        let mut owner: Vec<Option<u32>> = vec![None; d.bytes.len()];
        let mut order: Vec<usize> = (0..d.fields.len()).collect();
        order.sort_by_key(|&i| d.fields.get(i).map_or(0, |f| f.depth));
        for i in order {
            if let Some(f) = d.fields.get(i) {
                for &(a, b) in &f.ranges {
                    for o in owner.iter_mut().take(b as usize).skip(a as usize) {
                        *o = Some(i as u32);
                    }
                }
            }
        }
        owner
    });
    let Some(d) = &p.detail else {
        return html! { <div class="detail empty" id="detail"><p class="muted">{ "Select a message (click, or use ↑ ↓ in the table) to see its AMF values, media headers and bytes." }</p></div> };
    };
    let active = (*hover).or(*chosen);
    let in_active = |i: usize| -> bool {
        active
            .and_then(|f| d.fields.get(f as usize))
            .is_some_and(|f| {
                f.ranges
                    .iter()
                    .any(|&(a, b)| (a as usize) <= i && i < b as usize)
            })
    };
    let onmouseover = {
        let hover = hover.clone();
        Callback::from(move |e: MouseEvent| {
            if let Some(f) = field_of_target(&e) {
                hover.set(f);
            }
        })
    };
    let onmouseleave = {
        let hover = hover.clone();
        Callback::from(move |_: MouseEvent| hover.set(None))
    };
    let onclick_hex = {
        let chosen = chosen.clone();
        Callback::from(move |e: MouseEvent| {
            if let Some(f) = field_of_target(&e) {
                chosen.set(f);
            }
        })
    };
    let offset_of = |i: usize| -> u64 {
        let k = d.runs.partition_point(|r| r.0 as usize <= i);
        d.runs
            .get(k.saturating_sub(1))
            .map_or(0, |r| r.1 + (i as u64 - r.0 as u64))
    };
    let lines = d.bytes.chunks(16).enumerate().map(|(line, chunk)| {
        let base = line * 16;
        let bytes = chunk.iter().enumerate().map(|(j, b)| {
            let i = base + j;
            let f = owner.get(i).copied().flatten();
            let kind = f
                .and_then(|f| d.fields.get(f as usize))
                .map_or("", |f| if f.kind == "header" { "hdr" } else { "val" });
            html! {
                <span class={classes!("b", kind, in_active(i).then_some("hl"))} data-f={f.map(|x| x.to_string()).unwrap_or_default()}>{ format!("{b:02x}") }</span>
            }
        });
        let ascii: String = chunk
            .iter()
            .map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '.' })
            .collect();
        html! {
            <div class="hl-line">
                <span class="off">{ format!("{:08x}", offset_of(base)) }</span>
                <span class="bytes">{ for bytes }</span>
                <span class="ascii">{ ascii }</span>
            </div>
        }
    });
    let r = &d.row;
    let active_label = active
        .and_then(|f| d.fields.get(f as usize))
        .map(|f| f.label.clone())
        .unwrap_or_else(|| "hover a value or a byte".into());
    html! {
        <div class="detail" id="detail" data-row={r.row.to_string()}>
            <div class="detail-head">
                <h2>{ r.summary.clone() }</h2>
                <div class="muted">{ format!("{} message #{} · type {} {} · csid {} · stream {} · timestamp {} · {} bytes in {} chunks · offset {}", r.dir, r.index, r.type_id, r.type_name, r.csid, r.stream_id, r.timestamp, r.length, r.chunks, r.offset) }</div>
                if let Some(e) = &d.body_error { <div class="error">{ format!("body did not decode: {e}") }</div> }
            </div>
            <div class="detail-body">
                <div class="detail-left">
                    if !d.tree.is_empty() {
                        <h3>{ "AMF values" }</h3>
                        <ul class="tree" id="amf-tree">{ for d.tree.iter().map(|n| tree_html(n, 0, &hover, &chosen, active)) }</ul>
                    }
                    if !d.facts.is_empty() {
                        <h3>{ "Decoded fields" }</h3>
                        <table class="facts" id="facts">
                            { for d.facts.iter().map(|(k, v)| html! { <tr><th>{ k.clone() }</th><td>{ v.clone() }</td></tr> }) }
                        </table>
                    }
                </div>
                <div class="detail-right">
                    <h3>{ "Bytes" }<span class="legend"><span class="b hdr">{ "chunk header" }</span><span class="b val">{ "value" }</span></span></h3>
                    <div class="field-label" id="field-label">{ active_label }</div>
                    <div class="hex" id="hex" onmouseover={onmouseover} onmouseleave={onmouseleave} onclick={onclick_hex}>{ for lines }</div>
                    if d.hidden > 0 { <div class="muted">{ format!("… {} more bytes not shown", d.hidden) }</div> }
                </div>
            </div>
        </div>
    }
}
