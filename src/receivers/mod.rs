//! Receivers: where telemetry enters sloop.

pub mod nop;
pub mod otlp;
pub mod zipkin;
