//! Extensions: parts of the service that are not in a pipeline.

pub mod basicauth;
pub mod bearertokenauth;
pub mod file_storage;
pub mod headers_setter;
pub mod health_check;
pub mod oauth2client;
pub mod pprof;
pub mod zpages;
