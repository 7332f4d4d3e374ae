//! Processors: stages between receivers and exporters, run in pipeline order.
//! Each is a folder with its doc (and YAML example), config, code and tests.

pub mod attributes;
pub mod backlog;
pub mod batch;
pub mod filter;
pub mod memory_limiter;
pub mod probabilistic_sampler;
pub mod resource;
pub mod resource_detection;
pub mod sli;
pub mod slo;
pub mod tail_sampling;
pub mod transform;
