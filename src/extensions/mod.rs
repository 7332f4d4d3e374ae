//! Extensions: parts of the service that are not in a pipeline.

pub mod basicauth;
pub mod bearertokenauth;
pub mod file_storage;
pub mod health_check;
