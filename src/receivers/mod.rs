//! Receivers: where telemetry enters sloop.

pub mod otlp;
pub mod zipkin;
