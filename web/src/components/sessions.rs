//! The sessions of the capture.

use yew::prelude::*;

use crate::components::seconds;
use crate::protocol::SessionSummary;

/// Props.
#[derive(Properties, PartialEq)]
pub struct Props {
    /// Sessions.
    pub sessions: Vec<SessionSummary>,
    /// The chosen one.
    pub selected: Option<u64>,
    /// Pick one.
    pub on_select: Callback<u64>,
    /// Connections that are not RTMP.
    pub skipped: Vec<String>,
    /// Problems with the file.
    pub warnings: Vec<String>,
}

/// The list.
#[function_component(SessionList)]
pub fn session_list(p: &Props) -> Html {
    html! {
        <div class="card sessions" id="sessions">
            <h2>{ format!("Sessions ({})", p.sessions.len()) }</h2>
            if p.sessions.is_empty() {
                <p class="muted">{ "No RTMP session found (yet)." }</p>
            }
            <ul>
            { for p.sessions.iter().map(|s| {
                let n = s.number;
                let on_select = p.on_select.clone();
                let mode = if s.mode.is_empty() { "—".to_string() } else { s.mode.clone() };
                html! {
                    <li class={classes!("session", (p.selected == Some(n)).then_some("selected"))}
                        data-session={n.to_string()}
                        onclick={Callback::from(move |_: MouseEvent| on_select.emit(n))}>
                        <div class="line1">
                            <span class={classes!("status", s.status.clone())}>{ s.status.clone() }</span>
                            <span class="num">{ format!("#{n}") }</span>
                            <span class="mode">{ mode }</span>
                            <span class="stream">{ if s.stream.is_empty() { String::new() } else { format!("{} / {}", s.app, s.stream) } }</span>
                        </div>
                        <div class="line2 muted">
                            { format!("{} → {}", s.client, s.server) }
                        </div>
                        <div class="line2 muted">
                            { format!("app {} · {} · {} messages · {}", if s.app.is_empty() { "?" } else { &s.app }, seconds(s.duration), s.messages, s.protocol) }
                            if s.incomplete > 0 { <span class="count warning" title="the capture or the connection ended inside these messages">{ format!(" · {} cut short", s.incomplete) }</span> }
                            if s.errors > 0 { <span class="count error">{ format!(" · {} errors", s.errors) }</span> }
                            if s.warnings > 0 { <span class="count warning">{ format!(" · {} warnings", s.warnings) }</span> }
                        </div>
                    </li>
                }
            }) }
            </ul>
            if !p.skipped.is_empty() {
                <details class="muted"><summary>{ format!("{} connections are not RTMP", p.skipped.len()) }</summary>
                    <ul>{ for p.skipped.iter().take(50).map(|s| html! { <li>{ s.clone() }</li> }) }</ul>
                </details>
            }
            if !p.warnings.is_empty() {
                <details class="warning"><summary>{ format!("{} problems with the file", p.warnings.len()) }</summary>
                    <ul>{ for p.warnings.iter().take(50).map(|s| html! { <li>{ s.clone() }</li> }) }</ul>
                </details>
            }
        </div>
    }
}
