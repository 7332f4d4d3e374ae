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

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::KeyValue;

pub use config::{DetectorKind, ResourceDetectionConfig};
pub use detect::{detect, os_type, parse_resource_attributes, percent_decode, Host};

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, ConsumeError, Consumer, Lifecycle, Processor, ProcessorConfig,
    ProcessorContext, Signal, StateStore,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::Telemetry;
use crate::processors::attributes::actions::for_each_resource;

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "resource_detection",
    aliases: &["resourcedetection"],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<ConfigError>> {
    let config: ResourceDetectionConfig = parse_block(value)?;
    Ok(Box::new(DetectionConfig::new(config)))
}

/// A checked config. What it detects is runtime state: it lives in the service's
/// state store under `processors/<id>`, detected once for every pipeline, and kept
/// across a reload that leaves the block unchanged (the resource stays stable).
#[derive(Debug)]
pub struct DetectionConfig {
    config: ResourceDetectionConfig,
    /// What kept detections must have been made for.
    fingerprint: String,
}

impl DetectionConfig {
    /// Wraps a validated config; nothing is detected yet.
    pub fn new(config: ResourceDetectionConfig) -> Self {
        Self {
            fingerprint: format!("{config:?}"),
            config,
        }
    }

    /// The attributes processor `id` detected against `host`, kept in `state`: the
    /// detectors run once per service and config.
    pub fn detect_with(&self, id: &ComponentId, state: &StateStore, host: &Host<'_>) -> Arc<Vec<KeyValue>> {
        let key = format!("processors/{id}");
        state
            .claim(&key, &self.fingerprint, || {
                let detected = detect(&self.config.detectors, host);
                tracing::info!(
                    attributes = ?detected.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(),
                    processor = %id,
                    "resourcedetection: detected resource attributes"
                );
                detected
            })
            .value
    }
}

impl ProcessorConfig for DetectionConfig {
    fn build(&self, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, BuildError> {
        let detected = self.detect_with(ctx.id, &ctx.service.state, &Host::real());
        Ok(Arc::new(ResourceDetectionProcessor::new(
            detected,
            self.config.override_existing,
            next,
        )))
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
