//! Turns a checked [`Config`] into the running graph.
//!
//! Built exporters-first (each stage is constructed holding the next), started
//! downstream-first (exporters, then processors, then receivers — so nothing is
//! accepted before it has somewhere to go) and shut down upstream-first (receivers
//! stop accepting, processors flush, exporter queues drain), as in the Collector.

mod fanout;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use fanout::{ExporterFanOut, PipelineFanOut};

use crate::component::{
    BuildError, ComponentId, Consumer, Extension, ExtensionContext, Processor, ProcessorContext, QueuedExporter,
    Receiver, ReceiverOutputs, ServiceHandles, Signal, StartError,
};
use crate::config::Config;
use futures_util::future::join_all;

/// One pipeline's processors, in pipeline order, by pipeline name.
type PipelineProcessors = (String, Vec<(ComponentId, Arc<dyn Processor>)>);

/// The running graph.
pub struct Topology {
    extensions: Vec<(ComponentId, Arc<dyn Extension>)>,
    exporters: BTreeMap<ComponentId, Arc<dyn QueuedExporter>>,
    /// Per pipeline, its processors in pipeline order.
    processors: Vec<PipelineProcessors>,
    receivers: Vec<(ComponentId, Arc<dyn Receiver>)>,
    ready: Arc<AtomicBool>,
    service: ServiceHandles,
}

/// What shutdown could not do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Items that were queued for an exporter but not delivered, per exporter.
    pub undelivered: BTreeMap<String, u64>,
}

impl Topology {
    /// Builds every component. Opens no port and spawns no task.
    pub fn build(config: &Config, service: &ServiceHandles) -> Result<Topology, StartError> {
        let ready = Arc::new(AtomicBool::new(false));
        let mut exporters = BTreeMap::new();
        for (id, exporter_config) in &config.exporters {
            let exporter = exporter_config
                .build(id)
                .map_err(|e| built_error(e, &format!("exporters.{id}")))?;
            exporters.insert(id.clone(), exporter);
        }

        let service = service.clone();
        let mut directory: BTreeMap<String, Arc<dyn Consumer>> = BTreeMap::new();
        let mut processors = Vec::new();
        let mut entries: BTreeMap<(ComponentId, Signal), Vec<Arc<dyn Consumer>>> = BTreeMap::new();
        // A pipeline another one sends into is built first (TODO: the graph's order).
        let targets: std::collections::BTreeSet<String> = config
            .processors
            .values()
            .flat_map(|p| p.metrics_pipelines().into_iter().map(|(_, name)| name))
            .collect();
        let mut ordered: Vec<_> = config.pipelines.iter().collect();
        ordered.sort_by_key(|p| !targets.contains(&p.name));
        for pipeline in ordered {
            let queues = pipeline
                .exporters
                .iter()
                .filter_map(|id| exporters.get(id).cloned())
                .collect();
            let fan_out: Arc<dyn Consumer> = Arc::new(ExporterFanOut::new(queues));
            let mut next = fan_out.clone();
            let mut built = Vec::new();
            for id in pipeline.processors.iter().rev() {
                let Some(processor_config) = config.processors.get(id) else {
                    continue;
                };
                let ctx = ProcessorContext {
                    id,
                    pipeline: &pipeline.name,
                    signal: pipeline.signal,
                    exporters: fan_out.clone(),
                    pipelines: &directory,
                    service: &service,
                };
                let processor = processor_config
                    .build(&ctx, next)
                    .map_err(|e| built_error(e, &format!("processors.{id}")))?;
                next = processor.clone() as Arc<dyn Consumer>;
                built.push((id.clone(), processor));
            }
            built.reverse();
            processors.push((pipeline.name.clone(), built));
            directory.insert(pipeline.name.clone(), next.clone());
            for receiver in &pipeline.receivers {
                entries
                    .entry((receiver.clone(), pipeline.signal))
                    .or_default()
                    .push(next.clone());
            }
        }

        let mut receivers = Vec::new();
        for (id, receiver_config) in &config.receivers {
            let mut outputs = ReceiverOutputs::default();
            let mut used = false;
            for signal in Signal::ALL {
                let Some(mut pipelines) = entries.remove(&(id.clone(), signal)) else {
                    continue;
                };
                used = true;
                let consumer: Arc<dyn Consumer> = if pipelines.len() == 1 {
                    pipelines.remove(0)
                } else {
                    Arc::new(PipelineFanOut::new(pipelines))
                };
                match signal {
                    Signal::Traces => outputs.traces = Some(consumer),
                    Signal::Metrics => outputs.metrics = Some(consumer),
                    Signal::Logs => outputs.logs = Some(consumer),
                }
            }
            if used {
                let receiver = receiver_config
                    .build(id, outputs)
                    .map_err(|e| built_error(e, &format!("receivers.{id}")))?;
                receivers.push((id.clone(), receiver));
            }
        }

        let ctx = ExtensionContext {
            ready: ready.clone(),
            memory_pressure: service.memory_pressure.clone(),
        };
        let mut extensions = Vec::new();
        for id in &config.service_extensions {
            if let Some(extension_config) = config.extensions.get(id) {
                let extension = extension_config
                    .build(id, &ctx)
                    .map_err(|e| built_error(e, &format!("extensions.{id}")))?;
                extensions.push((id.clone(), extension));
            }
        }

        Ok(Topology {
            extensions,
            exporters,
            processors,
            receivers,
            ready,
            service,
        })
    }

    /// Service-wide handles (the SLO registry for the status API).
    pub fn service(&self) -> &ServiceHandles {
        &self.service
    }

    /// Starts extensions, exporters, processors, then receivers. On failure, what
    /// was started is shut down again and the error returned.
    pub async fn start(&self) -> Result<(), StartError> {
        let result = self.start_all().await;
        match result {
            Ok(()) => {
                self.ready.store(true, Ordering::SeqCst);
                Ok(())
            }
            Err(error) => {
                self.shutdown(Duration::from_secs(1)).await;
                Err(error)
            }
        }
    }

    async fn start_all(&self) -> Result<(), StartError> {
        for (_, extension) in &self.extensions {
            extension.start().await?;
        }
        for queue in self.exporters.values() {
            queue.start();
        }
        for (_, pipeline) in &self.processors {
            for (_, processor) in pipeline.iter().rev() {
                processor.start().await?;
            }
        }
        for (id, receiver) in &self.receivers {
            receiver.start().await?;
            tracing::info!(message = "Receiver started.", receiver = %id);
        }
        Ok(())
    }

    /// Whether every receiver is listening.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Stops receivers, flushes processors, drains exporter queues until `timeout`
    /// has passed, then stops extensions. Safe without start and safe twice.
    pub async fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        let deadline = tokio::time::Instant::now() + timeout;
        self.ready.store(false, Ordering::SeqCst);
        // Receivers get at most a quarter of the budget to finish the requests already
        // handing data over (usually milliseconds), so a stuck request cannot leave the
        // exporter queues no time to drain. A receiver's shutdown must be cancel-safe.
        let receivers_deadline = tokio::time::Instant::now() + timeout / 4;
        for (id, receiver) in &self.receivers {
            if tokio::time::timeout_at(receivers_deadline, receiver.shutdown())
                .await
                .is_err()
            {
                tracing::warn!(message = "Receiver did not stop within its share of shutdown_timeout.", receiver = %id);
            }
        }
        for (_, pipeline) in &self.processors {
            for (id, processor) in pipeline {
                // A processor holding data the exporters cannot take (batch) keeps
                // offering it until the deadline; past it, it counts what it drops.
                if tokio::time::timeout_at(deadline, processor.shutdown()).await.is_err() {
                    tracing::error!(message = "Processor did not finish shutting down by the deadline.", processor = %id);
                }
            }
        }
        let mut report = ShutdownReport::default();
        let drains = self
            .exporters
            .iter()
            .map(|(id, queue)| async move { (id.to_string(), queue.shutdown(deadline).await) });
        for (id, lost) in join_all(drains).await {
            if lost > 0 {
                report.undelivered.insert(id, lost);
            }
        }
        for (_, extension) in self.extensions.iter().rev() {
            extension.shutdown().await;
        }
        report
    }
}

/// A build error, placed under its component's block.
fn built_error(error: BuildError, block: &str) -> StartError {
    let error = error.under(block);
    StartError {
        component: error.path,
        message: error.message,
    }
}

#[cfg(test)]
mod tests;
