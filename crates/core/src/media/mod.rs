//! FLV media tag headers (being written).
