//! Processors: stages between receivers and exporters, run in pipeline order.
//! Each is a folder with its doc (and YAML example), config, code and tests.

pub mod batch;
pub mod sli;
pub mod slo;
pub mod tail_sampling;
