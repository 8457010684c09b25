//! AMF0 and AMF3 (being written).
