//! The capture proxy (being written).
