//! Receivers: where telemetry enters sloop.

pub mod filelog;
pub mod jaeger;
pub mod nop;
pub mod otlp;
pub mod zipkin;
