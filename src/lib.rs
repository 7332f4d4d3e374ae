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
//! [`graph::ExporterFanOut`] shares one batch with every exporter → one bounded
//! [`exporters::helper::ExporterQueue`] per exporter → workers with retry → backend. Data stays in
//! the opentelemetry-proto types end to end ([`pdata::Telemetry`]).
//!
//! ## Where things are
//! Dependencies point one way, down this list (checked by `tests/spine.rs`):
//! - [`pdata`]: signals, telemetry, the shared export batch. [`confmap`]: reading
//!   config files and parsing one block strictly, every error with its path.
//!   [`accept`]: what every listener does when `accept` fails (back off, log at a
//!   bounded rate).
//!   [`tls`]: TLS settings (`configtls` keys), PEM loading, reloading server configs.
//!   [`api`]: the project's own API (`sloop.v1`: the SLO status messages and gRPC
//!   service), generated from `proto/`.
//! - [`ottl`]: the condition language.
//! - [`component`]: ids, the component traits, errors, the state store.
//! - [`receivers`], [`processors`], [`exporters`] (with the exporterhelper,
//!   [`exporters::helper`]), [`connectors`], [`extensions`]: one folder per component,
//!   named by its config type; [`admin`]: the admin HTTP server (self-metrics, the
//!   SLO status API as JSON and gRPC).
//! - [`components`]: the registry, one line per component type.
//! - [`config`]: compiling a whole config into a checked plan.
//! - [`graph`]: building, starting and stopping the pipelines; [`telemetry`]: logs and
//!   self-metrics; [`loadgen`]: `sloop loadgen`; [`rules`]: `sloop rules`; [`openslo`]:
//!   `sloop slo import` and `sloop slo export`.
//! - [`service`]: owns the graph, the state that outlives it, and the admin server.

#![warn(missing_docs)]

pub mod accept;
pub mod admin;
pub mod api;
pub mod component;
pub mod components;
pub mod config;
pub mod confmap;
pub mod connectors;
pub mod exporters;
pub mod extensions;
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod loadgen;
pub mod openslo;
pub mod ottl;
pub mod pdata;
pub mod processors;
pub mod receivers;
pub mod rules;
pub mod service;
pub mod slitest;
pub mod storage;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod tls;
