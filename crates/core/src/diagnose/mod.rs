//! Diagnosis rules (being written).
