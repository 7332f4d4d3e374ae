//! The registry: every component type sloop ships, by config name (and the
//! Collector's deprecated spellings, as aliases).
//!
//! Adding a component means adding its folder and one line here; nothing else
//! matches on component types.

use crate::component::registry::{
    ConnectorFactory, ExporterFactory, ExtensionFactory, ProcessorFactory, ReceiverFactory,
};

/// Every receiver type.
pub const RECEIVERS: &[ReceiverFactory] = &[crate::receivers::otlp::FACTORY];

/// Every processor type.
pub const PROCESSORS: &[ProcessorFactory] = &[
    crate::processors::batch::FACTORY,
    crate::processors::memory_limiter::FACTORY,
    crate::processors::attributes::FACTORY,
    crate::processors::resource::FACTORY,
    crate::processors::resourcedetection::FACTORY,
    crate::processors::sli::FACTORY,
    crate::processors::slo::FACTORY,
    crate::processors::filter::FACTORY,
    crate::processors::probabilistic_sampler::FACTORY,
    crate::processors::tail_sampling::FACTORY,
];

/// Every exporter type.
pub const EXPORTERS: &[ExporterFactory] = &[
    crate::exporters::otlp_grpc::FACTORY,
    crate::exporters::otlp_http::FACTORY,
    crate::exporters::debug::FACTORY,
    crate::exporters::file::FACTORY,
    crate::exporters::loadbalancing::FACTORY,
];

/// Every extension type.
pub const EXTENSIONS: &[ExtensionFactory] = &[crate::extensions::health_check::FACTORY];

/// Every connector type.
pub const CONNECTORS: &[ConnectorFactory] = &[
    crate::connectors::forward::FACTORY,
    crate::connectors::routing::FACTORY,
    crate::connectors::spanmetrics::FACTORY,
];

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use figment::providers::Format;

    use super::*;
    use crate::testing::Recorder;

    /// A minimal valid config for each processor type.
    fn minimal(type_name: &str) -> &'static str {
        match type_name {
            "attributes" => "actions: [{key: a, value: b, action: upsert}]",
            "resource" => "attributes: [{key: a, value: b, action: upsert}]",
            "resourcedetection" => "detectors: [env]",
            "sli" => "slis: [{name: s, good: 'true'}]",
            "slo" => "objectives: [{name: o, sli: s, target: 0.99}]",
            "filter" => "traces: {span: ['name == \"x\"']}",
            "probabilistic_sampler" => "sampling_percentage: 10",
            "tail_sampling" => "policies: [{name: all, type: always_sample}]",
            "memory_limiter" => "{check_interval: 1s, limit_mib: 1048576}",
            _ => "{}",
        }
    }

    /// Every processor's `start()` future may be created outside a runtime and
    /// awaited on one: work (spawning timers) happens when it is awaited, not when
    /// it is built. Twice over: start/shutdown twice, and shutdown without start.
    #[test]
    fn every_processor_starts_on_the_runtime_that_awaits_it() {
        for factory in PROCESSORS {
            let dict: figment::value::Dict =
                figment::Figment::from(serde_saphyr::figment::Yaml::string(minimal(factory.type_name)))
                    .extract()
                    .unwrap_or_default();
            let config = (factory.parse)(&figment::value::Value::from(dict))
                .unwrap_or_else(|e| panic!("{}: minimal config rejected: {e:?}", factory.type_name));
            let signal = factory.signals[0];
            let processor =
                crate::testing::build_processor(&*config, factory.type_name, signal, Arc::new(Recorder::default()));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(processor.shutdown());
            let processor =
                crate::testing::build_processor(&*config, factory.type_name, signal, Arc::new(Recorder::default()));
            for _ in 0..2 {
                let start = processor.start(); // built outside any runtime
                runtime
                    .block_on(start)
                    .unwrap_or_else(|e| panic!("{}: {e}", factory.type_name));
                runtime.block_on(processor.shutdown());
            }
        }
    }
}
