//! Turns a checked [`Config`] into the running graph, and swaps it for another on a
//! reload.
//!
//! The config's [`Plan`](crate::config::Plan) orders pipelines and connectors
//! upstream first. The graph is built exporters first and then against that order
//! (each stage is constructed holding the next), started downstream first
//! (exporters, then pipelines and connectors in reverse order, then receivers, so
//! nothing is accepted before it has somewhere to go) and stopped upstream first
//! (receivers stop accepting, then every pipeline and connector in order flushes
//! into stages still running, then exporter queues drain), as in the Collector.
//!
//! ## Reload
//! [`Graph::reload`] builds the new graph beside the running one, with the same
//! [`ServiceHandles`]: components claim their state from the service's
//! [`StateStore`](crate::component::StateStore), so one whose config did not change
//! carries on with it (exporter queues with their backlog, SLO rings, tail-sampling
//! buffers). Receivers whose config did not change keep their sockets; what they
//! send into is a [`Switch`] that is pointed at the new pipelines. Then the old
//! pipelines are stopped in order (flushing into exporter queues that are either kept
//! or drained after them), and the exporters the new config dropped are drained.
//! No request is refused and nothing accepted is lost.

mod fanout;
mod switch;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

pub use fanout::{ExporterFanOut, PipelineFanOut};
pub use switch::Switch;

use crate::component::{
    Authenticators, BuildError, ComponentId, ConnectorContext, Consumer, ExporterContext, Extension, ExtensionContext,
    Processor, ProcessorContext, QueuedExporter, Receiver, ReceiverContext, ReceiverOutputs, ServiceHandles, Signal,
    StartError,
};
use crate::config::{Config, Node};

/// The running graph.
pub struct Graph {
    extensions: Vec<Running<dyn Extension>>,
    exporters: BTreeMap<ComponentId, Arc<dyn QueuedExporter>>,
    /// The exporters this graph made (the others were kept from the graph before it,
    /// which started them).
    fresh_exporters: BTreeSet<ComponentId>,
    /// Pipelines and connector instances, upstream first.
    stages: Vec<Stage>,
    receivers: Vec<ReceiverNode>,
    ready: Arc<AtomicBool>,
    service: ServiceHandles,
}

/// A receiver or extension with the config it was built from.
struct Running<T: ?Sized> {
    id: ComponentId,
    fingerprint: String,
    instance: Arc<T>,
    /// Made by this graph (not kept from the one before).
    fresh: bool,
}

/// One node of the plan, running.
struct Stage {
    node: Node,
    /// A pipeline's processors in order, or the one connector instance.
    components: Vec<(ComponentId, Arc<dyn Processor>)>,
}

/// A receiver and where it sends.
struct ReceiverNode {
    running: Running<dyn Receiver>,
    /// The switch per signal it feeds.
    switches: BTreeMap<Signal, Arc<Switch>>,
    /// Where the switches point in this graph.
    entries: BTreeMap<Signal, Arc<dyn Consumer>>,
}

/// What shutdown could not do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Items that were queued for an exporter but not delivered, per exporter.
    pub undelivered: BTreeMap<String, u64>,
}

/// A component's state in the service's store: an exporter queue, kept across
/// reloads while the exporter's config stays the same.
struct ExporterSlot(Arc<dyn QueuedExporter>);

/// The identity of what an `Arc` points at, whatever trait object it is seen as.
fn address<T: ?Sized>(arc: &Arc<T>) -> *const () {
    Arc::as_ptr(arc) as *const ()
}

/// What a config block is compared by across reloads: its parsed form.
fn fingerprint(config: &impl std::fmt::Debug) -> String {
    format!("{config:?}")
}

/// A build error, placed under its component's block.
fn built_error(error: BuildError, block: &str) -> StartError {
    let error = error.under(block);
    StartError {
        component: error.path,
        message: error.message,
    }
}

impl Graph {
    /// Builds every component. Opens no port and spawns no task. With `previous`,
    /// receivers and extensions whose config did not change are taken over from it.
    pub fn build(config: &Config, service: &ServiceHandles, previous: Option<&Graph>) -> Result<Graph, StartError> {
        let ready = previous.map(|p| p.ready.clone()).unwrap_or_default();
        let ctx = ExtensionContext {
            ready: ready.clone(),
            memory_pressure: service.memory_pressure.clone(),
            storage_pressure: service.storage_pressure.clone(),
            view: service.view.clone(),
        };
        let mut extensions = Vec::new();
        for id in &config.service_extensions {
            let Some(extension_config) = config.extensions.get(id) else {
                continue;
            };
            let fingerprint = fingerprint(extension_config);
            let kept = previous.and_then(|p| {
                p.extensions
                    .iter()
                    .find(|e| e.id == *id && e.fingerprint == fingerprint)
            });
            let (instance, fresh) = match kept {
                Some(old) => (old.instance.clone(), false),
                None => (
                    extension_config
                        .build(id, &ctx)
                        .map_err(|e| built_error(e, &format!("extensions.{id}")))?,
                    true,
                ),
            };
            extensions.push(Running {
                id: id.clone(),
                fingerprint,
                instance,
                fresh,
            });
        }

        // What `auth.authenticator` may name: authenticators the service runs.
        let mut authenticators = Authenticators::default();
        let mut auth_prints: BTreeMap<String, String> = BTreeMap::new();
        for extension in &extensions {
            if let Some(server) = extension.instance.server_authenticator() {
                authenticators.server.insert(extension.id.clone(), server);
            }
            if let Some(client) = extension.instance.client_authenticator() {
                authenticators.client.insert(extension.id.clone(), client);
            }
            auth_prints.insert(extension.id.to_string(), extension.fingerprint.clone());
        }
        // A component using a changed authenticator is rebuilt with the new one.
        let auth_print = |names: Vec<String>| -> String {
            names
                .iter()
                .filter_map(|name| auth_prints.get(name))
                .cloned()
                .collect::<Vec<_>>()
                .join("|")
        };

        let mut exporters = BTreeMap::new();
        let mut fresh_exporters = BTreeSet::new();
        // What `sending_queue.storage` may name: storage extensions the service runs.
        let storage: BTreeMap<ComponentId, crate::storage::StorageSettings> = config
            .service_extensions
            .iter()
            .filter_map(|id| Some((id.clone(), config.extensions.get(id)?.storage()?)))
            .collect();
        for (id, exporter_config) in &config.exporters {
            // A changed storage extension rebuilds the queues (they reopen their
            // files with the new settings); the files and their backlog stay.
            let print = format!(
                "{}{storage:?}{}",
                fingerprint(exporter_config),
                auth_print(exporter_config.authenticator().into_iter().map(String::from).collect())
            );
            let ctx = ExporterContext {
                id,
                storage: &storage,
                authenticators: &authenticators,
                service,
            };
            let claim = service
                .state
                .try_claim(&format!("exporters/{id}"), &print, || {
                    exporter_config.build(&ctx).map(ExporterSlot)
                })
                .map_err(|e| built_error(e, &format!("exporters.{id}")))?;
            if !claim.kept {
                fresh_exporters.insert(id.clone());
            }
            exporters.insert(id.clone(), claim.value.0.clone());
        }

        let mut entries: BTreeMap<String, Arc<dyn Consumer>> = BTreeMap::new();
        let mut connectors: BTreeMap<Node, Arc<dyn Processor>> = BTreeMap::new();
        let mut stages = Vec::new();
        for node in config.plan.order.iter().rev() {
            let components = match node {
                Node::Pipeline(name) => {
                    let Some(pipeline) = config.pipelines.iter().find(|p| &p.name == name) else {
                        continue;
                    };
                    let queues: Vec<Arc<dyn QueuedExporter>> = pipeline
                        .exporters
                        .iter()
                        .filter_map(|id| exporters.get(id).cloned())
                        .collect();
                    // Only this pipeline's own exporters count: one that feeds a
                    // connector does not see the exporters behind it (a known limit,
                    // see `ProcessorContext::durable`).
                    let durable = queues.iter().any(|queue| queue.acknowledges_durably());
                    let fan_out: Arc<dyn Consumer> = Arc::new(ExporterFanOut::new(queues));
                    let links: Vec<Arc<dyn Consumer>> = config
                        .plan
                        .downstream(node)
                        .filter_map(|n| connectors.get(n).map(|c| c.clone() as Arc<dyn Consumer>))
                        .collect();
                    let end: Arc<dyn Consumer> = if links.is_empty() {
                        fan_out.clone()
                    } else {
                        let mut ends = Vec::new();
                        if !pipeline.exporters.is_empty() {
                            ends.push(fan_out.clone());
                        }
                        ends.extend(links);
                        Arc::new(PipelineFanOut::new(ends))
                    };
                    let mut next = end;
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
                            pipelines: &entries,
                            service,
                            durable,
                        };
                        let processor = processor_config
                            .build(&ctx, next)
                            .map_err(|e| built_error(e, &format!("processors.{id}")))?;
                        next = processor.clone() as Arc<dyn Consumer>;
                        built.push((id.clone(), processor));
                    }
                    built.reverse();
                    entries.insert(name.clone(), next);
                    built
                }
                Node::Connector { id, from, to } => {
                    let Some(connector_config) = config.connectors.get(id) else {
                        continue;
                    };
                    let outputs: BTreeMap<String, Arc<dyn Consumer>> = config
                        .plan
                        .downstream(node)
                        .filter_map(|n| match n {
                            Node::Pipeline(name) => Some((name.clone(), entries.get(name)?.clone())),
                            Node::Connector { .. } => None,
                        })
                        .collect();
                    let ctx = ConnectorContext {
                        id,
                        from: *from,
                        to: *to,
                        outputs: &outputs,
                        service,
                    };
                    let instance = connector_config
                        .build(&ctx)
                        .map_err(|e| built_error(e, &format!("connectors.{id}")))?;
                    connectors.insert(node.clone(), instance.clone());
                    vec![(id.clone(), instance)]
                }
            };
            stages.push(Stage {
                node: node.clone(),
                components,
            });
        }
        stages.reverse();

        let mut feeds: BTreeMap<(ComponentId, Signal), Vec<Arc<dyn Consumer>>> = BTreeMap::new();
        for pipeline in &config.pipelines {
            let Some(entry) = entries.get(&pipeline.name) else {
                continue;
            };
            for receiver in &pipeline.receivers {
                feeds
                    .entry((receiver.clone(), pipeline.signal))
                    .or_default()
                    .push(entry.clone());
            }
        }
        let mut receivers = Vec::new();
        for (id, receiver_config) in &config.receivers {
            let mut targets = BTreeMap::new();
            for signal in Signal::ALL {
                let Some(mut pipelines) = feeds.remove(&(id.clone(), signal)) else {
                    continue;
                };
                let consumer: Arc<dyn Consumer> = if pipelines.len() == 1 {
                    pipelines.remove(0)
                } else {
                    Arc::new(PipelineFanOut::new(pipelines))
                };
                targets.insert(signal, consumer);
            }
            if targets.is_empty() {
                continue;
            }
            let fingerprint = format!(
                "{}{}",
                fingerprint(receiver_config),
                auth_print(
                    receiver_config
                        .authenticators()
                        .into_iter()
                        .map(|(_, name)| name)
                        .collect()
                )
            );
            let kept = previous.and_then(|p| {
                p.receivers.iter().find(|r| {
                    r.running.id == *id && r.running.fingerprint == fingerprint && r.switches.keys().eq(targets.keys())
                })
            });
            let node = match kept {
                Some(old) => ReceiverNode {
                    running: Running {
                        id: id.clone(),
                        fingerprint,
                        instance: old.running.instance.clone(),
                        fresh: false,
                    },
                    switches: old.switches.clone(),
                    entries: targets,
                },
                None => {
                    let switches: BTreeMap<Signal, Arc<Switch>> = targets
                        .iter()
                        .map(|(signal, entry)| (*signal, Switch::new(entry.clone())))
                        .collect();
                    let output = |signal| switches.get(&signal).map(|s| s.clone() as Arc<dyn Consumer>);
                    let outputs = ReceiverOutputs {
                        traces: output(Signal::Traces),
                        metrics: output(Signal::Metrics),
                        logs: output(Signal::Logs),
                    };
                    let instance = receiver_config
                        .build(
                            id,
                            outputs,
                            &ReceiverContext {
                                authenticators: &authenticators,
                                storage: &storage,
                                service,
                            },
                        )
                        .map_err(|e| built_error(e, &format!("receivers.{id}")))?;
                    ReceiverNode {
                        running: Running {
                            id: id.clone(),
                            fingerprint,
                            instance,
                            fresh: true,
                        },
                        switches,
                        entries: targets,
                    }
                }
            };
            receivers.push(node);
        }

        Ok(Graph {
            extensions,
            exporters,
            fresh_exporters,
            stages,
            receivers,
            ready,
            service: service.clone(),
        })
    }

    /// Starts extensions, exporters, pipelines and connectors (downstream first),
    /// then receivers. On failure, what was started is shut down again and the error
    /// returned.
    pub async fn start(&self) -> Result<(), StartError> {
        let result = self.start_fresh(&[]).await;
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

    /// Starts what this graph made; its fresh receivers only once the receivers in
    /// `stop_first` (replaced by a reload) have stopped and freed their ports.
    async fn start_fresh(&self, stop_first: &[&Running<dyn Receiver>]) -> Result<(), StartError> {
        for extension in self.extensions.iter().filter(|e| e.fresh) {
            extension.instance.start().await?;
        }
        for (id, queue) in &self.exporters {
            if self.fresh_exporters.contains(id) {
                queue.start()?;
            }
        }
        for stage in self.stages.iter().rev() {
            for (_, component) in stage.components.iter().rev() {
                component.start().await?;
            }
        }
        // Receivers the new config changed or dropped give up their ports first.
        for receiver in stop_first {
            receiver.instance.shutdown().await;
        }
        for receiver in self.receivers.iter().filter(|r| r.running.fresh) {
            receiver.running.instance.start().await?;
            tracing::info!(message = "Receiver started.", receiver = %receiver.running.id);
        }
        Ok(())
    }

    /// Whether every receiver is listening.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Stops receivers, flushes pipelines and connectors in order, drains exporter
    /// queues until `timeout` has passed, then stops extensions. Safe without start
    /// and safe twice.
    pub async fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        let deadline = tokio::time::Instant::now() + timeout;
        self.ready.store(false, Ordering::SeqCst);
        // Receivers get at most a quarter of the budget to finish the requests already
        // handing data over (usually milliseconds), so a stuck request cannot leave the
        // exporter queues no time to drain. A receiver's shutdown must be cancel-safe.
        let receivers_deadline = tokio::time::Instant::now() + timeout / 4;
        for receiver in &self.receivers {
            let running = &receiver.running;
            if tokio::time::timeout_at(receivers_deadline, running.instance.shutdown())
                .await
                .is_err()
            {
                tracing::warn!(message = "Receiver did not stop within its share of shutdown_timeout.", receiver = %running.id);
            }
        }
        self.stop_stages(deadline).await;
        let report = self.drain_exporters(self.exporters.iter(), deadline).await;
        for extension in self.extensions.iter().rev() {
            extension.instance.shutdown().await;
        }
        report
    }

    /// Shuts every pipeline and connector down, upstream first: each flushes into
    /// stages that are still running.
    async fn stop_stages(&self, deadline: tokio::time::Instant) {
        for stage in &self.stages {
            for (id, component) in &stage.components {
                // A processor holding data the exporters cannot take (batch) keeps
                // offering it until the deadline; past it, it counts what it drops.
                if tokio::time::timeout_at(deadline, component.shutdown()).await.is_err() {
                    tracing::error!(message = "Component did not finish shutting down by the deadline.", component = %id, node = %stage.node);
                }
            }
        }
    }

    async fn drain_exporters<'a>(
        &'a self,
        exporters: impl Iterator<Item = (&'a ComponentId, &'a Arc<dyn QueuedExporter>)>,
        deadline: tokio::time::Instant,
    ) -> ShutdownReport {
        let mut report = ShutdownReport::default();
        let drains = exporters.map(|(id, queue)| async move { (id.to_string(), queue.shutdown(deadline).await) });
        for (id, lost) in join_all(drains).await {
            if lost > 0 {
                report.undelivered.insert(id, lost);
            }
        }
        report
    }

    /// Swaps this graph for one built from `config`, within `timeout` for the old
    /// graph's draining. On a build or start error the running graph is kept (and
    /// handed back with the error) as long as nothing was swapped yet.
    pub async fn reload(
        self,
        config: &Config,
        timeout: Duration,
    ) -> Result<(Graph, ShutdownReport), (Graph, StartError)> {
        let service = self.service.clone();
        service.state.begin();
        let new = match Graph::build(config, &service, Some(&self)) {
            Ok(graph) => graph,
            Err(error) => {
                service.state.abort();
                return Err((self, error));
            }
        };
        for key in service.state.sweep() {
            tracing::debug!(message = "State dropped: its component left the config or changed.", key = %key);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let kept_receivers: BTreeSet<*const ()> = new.receivers.iter().map(|r| address(&r.running.instance)).collect();
        let replaced: Vec<&Running<dyn Receiver>> = self
            .receivers
            .iter()
            .map(|r| &r.running)
            .filter(|r| !kept_receivers.contains(&address(&r.instance)))
            .collect();
        if let Err(error) = new.start_fresh(&replaced).await {
            // Components of the new graph may already run; the old pipelines are left
            // running too (a receiver that failed to bind sends nothing anywhere).
            tracing::error!(message = "Part of the new config failed to start; the rest runs.", %error);
        }
        // Receivers that stay: new requests go to the new pipelines; wait for the
        // requests still inside the old ones before stopping them.
        let mut drained = Vec::new();
        for receiver in new.receivers.iter().filter(|r| !r.running.fresh) {
            for (signal, entry) in &receiver.entries {
                if let Some(switch) = receiver.switches.get(signal) {
                    drained.push(switch.redirect(entry.clone()));
                }
            }
        }
        for old in drained {
            if !old.wait(timeout / 4).await {
                tracing::warn!(message = "Requests were still inside the old pipelines after a quarter of shutdown_timeout; stopping them anyway.");
            }
        }
        self.stop_stages(deadline).await;
        let kept_exporters: BTreeSet<*const ()> = new.exporters.values().map(address).collect();
        let dropped = self
            .exporters
            .iter()
            .filter(|(_, queue)| !kept_exporters.contains(&address(queue)));
        let report = self.drain_exporters(dropped, deadline).await;
        let kept_extensions: BTreeSet<*const ()> = new.extensions.iter().map(|e| address(&e.instance)).collect();
        for extension in self.extensions.iter().rev() {
            if !kept_extensions.contains(&address(&extension.instance)) {
                extension.instance.shutdown().await;
            }
        }
        Ok((new, report))
    }
}

#[cfg(test)]
mod tests;
