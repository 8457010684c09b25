//! rtmpscope-capture: captures in, byte streams out (being written).
