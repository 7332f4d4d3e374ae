//! The registry: every component type sloop ships, by config name (and the
//! Collector's deprecated spellings, as aliases).
//!
//! Adding a component means adding its folder and one line here; nothing else
//! matches on component types. Its folder's `example.yaml` (the factory's
//! [`example`](crate::component::registry::Factory::example)) is then run by the
//! contract test (`components/contract.rs`: parse, build, start, consume, shut down,
//! twice) and shown in the README's component reference (`components/reference.rs`).

use crate::component::registry::{
    ConnectorFactory, ExporterFactory, ExtensionFactory, ProcessorFactory, ReceiverFactory,
};

/// Every receiver type.
pub const RECEIVERS: &[ReceiverFactory] = &[
    crate::receivers::otlp::FACTORY,
    crate::receivers::nop::FACTORY,
    crate::receivers::zipkin::FACTORY,
    crate::receivers::jaeger::FACTORY,
    crate::receivers::filelog::FACTORY,
];

/// Every processor type.
pub const PROCESSORS: &[ProcessorFactory] = &[
    crate::processors::batch::FACTORY,
    crate::processors::memory_limiter::FACTORY,
    crate::processors::attributes::FACTORY,
    crate::processors::resource::FACTORY,
    crate::processors::resource_detection::FACTORY,
    crate::processors::sli::FACTORY,
    crate::processors::slo::FACTORY,
    crate::processors::filter::FACTORY,
    crate::processors::probabilistic_sampler::FACTORY,
    crate::processors::tail_sampling::FACTORY,
    crate::processors::transform::FACTORY,
];

/// Every exporter type.
pub const EXPORTERS: &[ExporterFactory] = &[
    crate::exporters::otlp_grpc::FACTORY,
    crate::exporters::otlp_http::FACTORY,
    crate::exporters::debug::FACTORY,
    crate::exporters::file::FACTORY,
    crate::exporters::load_balancing::FACTORY,
    crate::exporters::nop::FACTORY,
    crate::exporters::prometheus::FACTORY,
    crate::exporters::prometheus_remote_write::FACTORY,
];

/// Every extension type.
pub const EXTENSIONS: &[ExtensionFactory] = &[
    crate::extensions::basicauth::FACTORY,
    crate::extensions::bearertokenauth::FACTORY,
    crate::extensions::file_storage::FACTORY,
    crate::extensions::headers_setter::FACTORY,
    crate::extensions::health_check::FACTORY,
    crate::extensions::oauth2client::FACTORY,
    crate::extensions::pprof::FACTORY,
    crate::extensions::zpages::FACTORY,
];

/// Every connector type.
pub const CONNECTORS: &[ConnectorFactory] = &[
    crate::connectors::forward::FACTORY,
    crate::connectors::routing::FACTORY,
    crate::connectors::span_metrics::FACTORY,
];

#[cfg(test)]
mod contract;
#[cfg(test)]
pub(crate) mod reference;
