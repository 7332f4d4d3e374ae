//! The Collector's stanza operators (`operators:`), applied to each entry in order.

pub mod expr;
pub mod field;
