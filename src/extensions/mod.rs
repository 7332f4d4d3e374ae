//! Extensions: parts of the service that are not in a pipeline.

pub mod health_check;
