//! `resourcedetection` — adds attributes that describe where sloop runs (host,
//! Kubernetes pod, `OTEL_RESOURCE_ATTRIBUTES`) to the resource of every span, metric
//! and log record, as the Collector's resourcedetection processor does.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! - `env`: `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k2=v2`, values percent-encoded).
//!   Malformed entries are skipped with a warning.
//! - `system`: `host.name` (the `HOSTNAME` variable, else `/etc/hostname`, else
//!   `/proc/sys/kernel/hostname`) and `os.type` (`linux`, `darwin`, `windows`, ...).
//! - `k8s_downward`: `k8s.pod.name`, `k8s.namespace.name`, `k8s.node.name` and
//!   `k8s.pod.ip` from `K8S_POD_NAME`, `K8S_NAMESPACE_NAME`, `K8S_NODE_NAME` and
//!   `K8S_POD_IP` (the downward-API variables the Helm chart sets); unset ones are
//!   left out.
//!
//! Detection runs once, when the pipeline is built; each request then only copies
//! the detected attributes into its resources. Unlike the Collector, `override`
//! defaults to false: what the application says about itself is kept.

mod config;
mod detect;
#[cfg(test)]
mod tests;

use std::sync::{Arc, OnceLock};

use opentelemetry_proto::tonic::common::v1::KeyValue;

pub use config::{DetectorKind, ResourceDetectionConfig};
pub use detect::{detect, os_type, parse_resource_attributes, percent_decode, Host};

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, ConsumeError, Consumer, Lifecycle, Processor, ProcessorConfig, ProcessorContext, Signal,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::Telemetry;
use crate::processors::attributes::actions::for_each_resource;

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "resourcedetection",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<ConfigError>> {
    let config: ResourceDetectionConfig = parse_block(value)?;
    Ok(Box::new(DetectionConfig::new(config)))
}

/// A checked config, with the attributes it detected once built.
#[derive(Debug)]
pub struct DetectionConfig {
    config: ResourceDetectionConfig,
    /// Detected on the first build and shared by every pipeline.
    detected: OnceLock<Arc<Vec<KeyValue>>>,
}

impl DetectionConfig {
    /// Wraps a validated config; nothing is detected yet.
    pub fn new(config: ResourceDetectionConfig) -> Self {
        Self {
            config,
            detected: OnceLock::new(),
        }
    }

    /// Runs the detectors against `host` (once; later calls return the first result).
    pub fn detect_with(&self, host: &Host<'_>) -> Arc<Vec<KeyValue>> {
        self.detected
            .get_or_init(|| {
                let detected = detect(&self.config.detectors, host);
                tracing::info!(
                    attributes = ?detected.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(),
                    "resourcedetection: detected resource attributes"
                );
                Arc::new(detected)
            })
            .clone()
    }
}

impl ProcessorConfig for DetectionConfig {
    fn build(&self, _ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, BuildError> {
        Ok({
            let detected = self.detect_with(&Host::real());
            Arc::new(ResourceDetectionProcessor::new(
                detected,
                self.config.override_existing,
                next,
            ))
        })
    }
}

/// The running processor.
pub struct ResourceDetectionProcessor {
    detected: Arc<Vec<KeyValue>>,
    override_existing: bool,
    next: Arc<dyn Consumer>,
}

impl ResourceDetectionProcessor {
    /// A processor adding `detected` to every resource.
    pub fn new(detected: Arc<Vec<KeyValue>>, override_existing: bool, next: Arc<dyn Consumer>) -> Self {
        Self {
            detected,
            override_existing,
            next,
        }
    }

    /// Adds the detected attributes to every resource of `data`.
    pub fn process(&self, data: &mut Telemetry) {
        if self.detected.is_empty() {
            return;
        }
        for_each_resource(data, |resource| {
            for kv in self.detected.iter() {
                match resource.attributes.iter_mut().find(|a| a.key == kv.key) {
                    Some(existing) if self.override_existing => existing.value = kv.value.clone(),
                    Some(_) => {}
                    None => resource.attributes.push(kv.clone()),
                }
            }
        });
    }
}

impl Consumer for ResourceDetectionProcessor {
    fn consume(&self, mut data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            self.process(&mut data);
            self.next.consume(data).await
        })
    }
}

impl Lifecycle for ResourceDetectionProcessor {}
