//! One component per view.

pub mod charts;
pub mod detail;
pub mod drop_zone;
pub mod findings;
pub mod handshake;
pub mod lanes;
pub mod messages;
pub mod sessions;
pub mod toolbar;

/// Colour of a message type (table badges, lanes, charts).
pub fn type_colour(type_id: u8) -> &'static str {
    match type_id {
        8 => "#2e9d5b",
        9 => "#3b6fd8",
        17 | 20 => "#d9822b",
        15 | 18 => "#9b59b6",
        1..=6 => "#8a8f98",
        22 => "#c0392b",
        _ => "#555",
    }
}

/// `1.234 s`, `12 ms`.
pub fn seconds(t: f64) -> String {
    if t.abs() < 1.0 {
        format!("{:.1} ms", t * 1000.0)
    } else {
        format!("{t:.3} s")
    }
}
