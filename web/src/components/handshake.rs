//! The handshake card: C0/C1, S0/S1, C2, S2 with their checks and first bytes.

use std::rc::Rc;

use yew::prelude::*;

use crate::components::seconds;
use crate::protocol::SessionView;

/// Props.
#[derive(Properties, PartialEq)]
pub struct Props {
    /// The session.
    pub view: Rc<SessionView>,
}

/// The card.
#[function_component(HandshakeCard)]
pub fn handshake_card(p: &Props) -> Html {
    let v = &p.view;
    html! {
        <div class="card handshake" id="handshake">
            <h2>{ "Handshake" }</h2>
            if v.handshake.is_empty() {
                <p class="muted">{ "No handshake in this capture (it starts mid-stream, or the session never began)." }</p>
            }
            <table>
                { for v.handshake.iter().map(|h| html! {
                    <tr class={classes!(if h.good { "good" } else { "bad" })}>
                        <th>{ h.part.clone() }</th>
                        <td>
                            <div class="muted">{ format!("{} · {} bytes · at {}", h.dir, h.length, seconds(h.time)) }</div>
                            { for h.facts.iter().map(|(k, val)| html! { <span class="fact"><span class="k">{ k.clone() }</span>{ " " }<span class="v">{ val.clone() }</span></span> }) }
                            <div class="hex-head">{ h.head.clone() }</div>
                        </td>
                    </tr>
                }) }
            </table>
        </div>
    }
}
