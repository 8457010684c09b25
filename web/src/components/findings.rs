//! The diagnosis of the session; each piece of evidence jumps to its message.

use std::rc::Rc;

use yew::prelude::*;

use crate::protocol::SessionView;

/// Props.
#[derive(Properties, PartialEq)]
pub struct Props {
    /// The session.
    pub view: Rc<SessionView>,
    /// Jump to a message (direction, index).
    pub on_evidence: Callback<(String, u64)>,
}

/// The panel.
#[function_component(Findings)]
pub fn findings(p: &Props) -> Html {
    let v = &p.view;
    html! {
        <div class="card findings" id="findings">
            <h2>{ format!("Findings ({})", v.findings.len()) }</h2>
            if v.findings.is_empty() {
                <p class="muted">{ "No problem found." }</p>
            }
            { for v.findings.iter().map(|f| html! {
                <div class={classes!("finding", f.severity.clone())} data-code={f.code.clone()}>
                    <div class="title"><span class={classes!("sev", f.severity.clone())}>{ f.severity.clone() }</span>{ " " }{ f.title.clone() }</div>
                    <div class="code muted">{ f.code.clone() }</div>
                    <p>{ f.explanation.clone() }</p>
                    if !f.hint.is_empty() { <p class="hint">{ f.hint.clone() }</p> }
                    <ul class="evidence">
                        { for f.evidence.iter().map(|e| {
                            let label = match e.index {
                                Some(i) => format!("{} message #{i}: {}", e.dir, e.what),
                                None => format!("{} byte {}: {}", e.dir, e.offset, e.what),
                            };
                            match e.index {
                                Some(i) => {
                                    let cb = p.on_evidence.clone();
                                    let dir = e.dir.clone();
                                    html! { <li><a href="#" onclick={Callback::from(move |ev: MouseEvent| { ev.prevent_default(); cb.emit((dir.clone(), i)); })}>{ label }</a></li> }
                                }
                                None => html! { <li>{ label }</li> },
                            }
                        }) }
                    </ul>
                </div>
            }) }
            if !v.problems.is_empty() {
                <details class="problems"><summary>{ format!("{} decoder notes, errors and gaps", v.problems.len()) }</summary>
                    <ul>{ for v.problems.iter().map(|pr| html! { <li class={pr.kind.clone()}>{ format!("{} {} @{}: {}", pr.kind, pr.dir, pr.offset, pr.text) }</li> }) }</ul>
                </details>
            }
        </div>
    }
}
