//! Receivers: where telemetry enters sloop.

pub mod jaeger;
pub mod otlp;
