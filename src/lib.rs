//! # sloop
//!
//! An OpenTelemetry-Collector-style telemetry pipeline. An OTLP receiver (gRPC and
//! HTTP) feeds pipelines of processors, which fan out to exporters — several vendors
//! at once, each behind its own bounded queue.
//!
//! The config file has the Collector's shape (see [`config`]):
//!
//! ```yaml
//! receivers:
//!   otlp:
//!     protocols:
//!       grpc:
//!       http:
//! processors:
//!   batch:
//! exporters:
//!   debug:
//! service:
//!   pipelines:
//!     traces:
//!       receivers: [otlp]
//!       processors: [batch]
//!       exporters: [debug]
//! ```
//!
//! ## How data flows
//! receiver decodes → pipeline processors, in order, on the receiving task →
//! [`topology::ExporterFanOut`] shares one batch with every exporter → one bounded
//! [`topology::ExporterQueue`] per exporter → workers with retry → backend. Data stays in
//! the opentelemetry-proto types end to end ([`pdata::Telemetry`]).
//!
//! ## Where things are
//! - [`component`]: ids, signals, the component traits and the factory
//!   [`component::registry`] (one line per component type).
//! - [`config`]: loading, env expansion, strict parsing, every error with its path.
//! - [`topology`]: building, starting and stopping the graph; queues and retry.
//! - [`receivers`], [`processors`], [`exporters`], [`extensions`]: one folder per
//!   component, named by its config type.
//! - [`telemetry`]: logs and self-metrics.
//! - [`loadgen`]: `sloop loadgen`, an OTLP trace load generator.
//! - [`rules`]: `sloop rules`, Prometheus recording and alerting rules for the SLOs.

#![warn(missing_docs)]

pub mod admin;
pub mod component;
pub mod config;
pub mod exporters;
pub mod extensions;
pub mod loadgen;
pub mod ottl;
pub mod pdata;
pub mod processors;
pub mod receivers;
pub mod rules;
pub mod service;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod topology;
