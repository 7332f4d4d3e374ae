//! The Collector's stanza operators (`operators:`), applied to each entry in order.

pub mod field;
