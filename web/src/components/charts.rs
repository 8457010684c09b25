//! Charts of a session: bitrate per stream, audio and video timestamps
//! against capture time, keyframe interval and frame rate (SVG).

use std::rc::Rc;

use yew::prelude::*;

use crate::app::Bridge;
use crate::protocol::{ChartsView, Request};

/// Props.
#[derive(Properties, PartialEq)]
pub struct Props {
    /// Session.
    pub session: Option<u64>,
    /// The worker.
    pub bridge: Rc<Bridge>,
    /// The series.
    pub charts: Option<Rc<ChartsView>>,
}

const W: f64 = 560.0;
const H: f64 = 200.0;
const PAD: f64 = 40.0;
/// A named, coloured series of (x, y) points.
type Series<'a> = (String, &'a str, Vec<(f64, f64)>);

const COLOURS: [&str; 6] = [
    "#3b6fd8", "#2e9d5b", "#d9822b", "#9b59b6", "#c0392b", "#16a085",
];

fn chart(title: &str, x_label: &str, y_label: &str, series: &[Series<'_>], id: &str) -> Html {
    let pts = series.iter().flat_map(|s| s.2.iter());
    let (mut x1, mut y1) = (0.0f64, 0.0f64);
    for &(x, y) in pts {
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let (x1, y1) = (
        if x1 > 0.0 { x1 } else { 1.0 },
        if y1 > 0.0 { y1 * 1.05 } else { 1.0 },
    );
    let sx = |x: f64| PAD + x / x1 * (W - PAD - 10.0);
    let sy = |y: f64| H - PAD + 10.0 - y / y1 * (H - PAD - 10.0);
    html! {
        <div class="chart card" id={id.to_string()}>
            <h3>{ title }</h3>
            <svg viewBox={format!("0 0 {W} {H}")} width="100%">
                <line x1={PAD.to_string()} y1={sy(0.0).to_string()} x2={(W - 10.0).to_string()} y2={sy(0.0).to_string()} stroke="#999" />
                <line x1={PAD.to_string()} y1="10" x2={PAD.to_string()} y2={sy(0.0).to_string()} stroke="#999" />
                <text x={PAD.to_string()} y={(H - 12.0).to_string()} class="axis">{ format!("0 — {x1:.1} {x_label}") }</text>
                <text x="2" y="12" class="axis">{ format!("{y1:.1} {y_label}") }</text>
                { for series.iter().map(|(label, colour, points)| {
                    let d: String = points.iter().map(|&(x, y)| format!("{:.1},{:.1} ", sx(x), sy(y))).collect();
                    html! { <polyline points={d} fill="none" stroke={colour.to_string()} stroke-width="1.5"><title>{ label.clone() }</title></polyline> }
                }) }
            </svg>
            <div class="legend">
                { for series.iter().map(|(label, colour, _)| html! { <span><span class="swatch" style={format!("background:{colour}")}></span>{ label.clone() }</span> }) }
            </div>
        </div>
    }
}

/// The charts.
#[function_component(Charts)]
pub fn charts(p: &Props) -> Html {
    {
        let bridge = p.bridge.clone();
        use_effect_with(p.session, move |s| {
            if let Some(s) = s {
                bridge.send(&Request::Charts { session: *s });
            }
        });
    }
    let Some(c) = &p.charts else {
        return html! { <div class="charts muted">{ "Loading charts…" }</div> };
    };
    let bitrate: Vec<_> = c
        .bitrate
        .iter()
        .enumerate()
        .map(|(i, (label, v))| {
            let pts = v.iter().enumerate().map(|(s, k)| (s as f64, *k)).collect();
            (label.clone(), COLOURS[i % COLOURS.len()], pts)
        })
        .collect();
    let ts = vec![
        ("audio".to_string(), COLOURS[1], c.audio_ts.clone()),
        ("video".to_string(), COLOURS[0], c.video_ts.clone()),
    ];
    let key = vec![(
        "keyframe interval".to_string(),
        COLOURS[2],
        c.keyframes.iter().skip(1).copied().collect(),
    )];
    let fps = vec![(
        "frames per second".to_string(),
        COLOURS[3],
        c.fps
            .iter()
            .enumerate()
            .map(|(s, v)| (s as f64, *v))
            .collect(),
    )];
    let intervals: Vec<f64> = c.keyframes.iter().skip(1).map(|k| k.1).collect();
    let mean = if intervals.is_empty() {
        0.0
    } else {
        intervals.iter().sum::<f64>() / intervals.len() as f64
    };
    html! {
        <div class="charts" id="charts">
            { chart("Bitrate per stream (audio + video)", "s of capture", "kbit/s", &bitrate, "chart-bitrate") }
            { chart("Timestamps against capture time", "s of capture", "s of timestamp", &ts, "chart-ts") }
            { chart(&format!("Keyframe interval (mean {mean:.2} s over {} keyframes)", c.keyframes.len()), "s of timestamp", "s", &key, "chart-gop") }
            { chart("Video frame rate", "s of capture", "fps", &fps, "chart-fps") }
        </div>
    }
}
