//! `loadbalancing` — spreads telemetry over a tier of gateways by trace ID or
//! service, as the Collector's loadbalancing exporter (the agent → gateway hop).
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! How it works:
//! - **Ring.** Backends sit on a consistent-hash ring (`ring.rs`) with many points
//!   each, so a membership change moves only about 1/N of the keys.
//! - **Split.** Each request is split per key ([`split`]): with `traceID` span by span
//!   (every span of a trace lands on one backend), with `service` by resource
//!   `service.name`. Metrics always go by service (data points carry no trace ID).
//! - **Per-backend queues.** Each backend is an otlp_grpc exporter built from the
//!   template (its `tls` too: CAs, client certificate for mTLS,
//!   `server_name_override` when the gateways' certificate does not name their
//!   resolved addresses), inside its own [`ExporterQueue`] (queue, workers,
//!   retries), so a dead gateway fills only its own queue. The request is refused
//!   (retryable) only when a part could not be queued; the client's retry may then
//!   repeat the parts that were queued (at-least-once).
//! - **Membership changes.** The dns resolver re-resolves every `interval`. New
//!   endpoints get a queue; a removed endpoint's queue is *retired*: it stops taking
//!   batches, lets attempts in flight finish without retrying, and hands back every
//!   batch it did not deliver, which is routed again through the new ring. Nothing
//!   the exporter accepted is lost because a gateway went away; a batch whose attempt
//!   was cut off may arrive twice.
//! - **Self-metrics** as the Collector's: `otelcol_loadbalancer_num_backends`,
//!   `otelcol_loadbalancer_num_resolutions{success}`,
//!   `otelcol_loadbalancer_backend_outcome{endpoint,success}`, plus
//!   `otelcol_loadbalancer_rerouted_items`; each backend's queue reports the usual
//!   `otelcol_exporter_*` under `exporter="loadbalancing/<endpoint>"`.

mod config;
mod resolver;
mod ring;
mod split;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::{DnsSettings, LoadBalancing, Resolver, RoutingKey};
pub use ring::{stable_hash, HashRing, POINTS_PER_ENDPOINT};
pub use split::split;

use crate::component::registry::ExporterFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, ExporterConfig, ExporterContext, QueuedExporter, Signal, StartError,
};
use crate::confmap::{ConfigError, RawValue};
use crate::exporters::helper::ExporterQueue;
use crate::exporters::{ExportBatch, ExportError, ExportOutcome, Exporter, HelperSettings, QueueConfig, RetryConfig};
use crate::pdata::Telemetry;

/// Registry entry.
pub const FACTORY: ExporterFactory = ExporterFactory {
    type_name: "load_balancing",
    aliases: &["loadbalancing"],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExporterConfig>, Vec<ConfigError>> {
    Ok(Box::new(LoadBalancing::parse(value)?))
}

/// How long a client is asked to wait when a backend's queue cannot take its part.
const REFUSED_RETRY_AFTER: Duration = Duration::from_secs(1);

impl LoadBalancing {
    /// The one-attempt exporter, without queue or retries.
    pub fn exporter(&self, id: &ComponentId) -> Result<Arc<dyn Exporter>, StartError> {
        // Catch a template that cannot build (an unreadable ca_file) now, not at the
        // first resolution.
        self.backend("loadbalancing-backend:4317").exporter(id)?;
        Ok(Arc::new(LoadBalancer {
            balancer: Arc::new(Balancer {
                id: id.clone(),
                config: self.clone(),
                members: RwLock::default(),
                parked: Mutex::default(),
                stop: CancellationToken::new(),
                first_resolution: tokio::sync::watch::channel(false).0,
                metrics: BalancerMetrics::new(id),
            }),
            task: Mutex::default(),
        }))
    }

    /// The queueing and retrying happen per backend; the topology's wrapper around
    /// this exporter only passes each request through (and a refusal back).
    /// Queue, retry and timeout settings.
    pub fn helper(&self) -> HelperSettings {
        HelperSettings {
            // An export only queues, so this bound matters only when the template
            // turns the backends' sending_queue off and they send inline.
            timeout: self.template.timeout.max(Duration::from_secs(1)) * 4,
            queue: QueueConfig {
                enabled: false,
                ..QueueConfig::default()
            },
            retry: RetryConfig {
                enabled: false,
                ..RetryConfig::default()
            },
        }
    }
}

/// The running exporter: the shared balancer and its resolver task.
pub struct LoadBalancer {
    balancer: Arc<Balancer>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// The backends of one moment: the ring and each endpoint's queue.
#[derive(Default)]
struct Members {
    ring: HashRing,
    backends: BTreeMap<String, Backend>,
}

/// One gateway: its queue and its `otelcol_loadbalancer_backend_outcome` counters,
/// registered once rather than looked up per request.
#[derive(Clone)]
struct Backend {
    queue: Arc<ExporterQueue>,
    queued: metrics::Counter,
    refused: metrics::Counter,
}

struct Balancer {
    id: ComponentId,
    config: LoadBalancing,
    /// Swapped whole on a membership change; requests route on a snapshot.
    members: RwLock<Arc<Members>>,
    /// Batches handed back by retired backends that no backend could take yet.
    parked: Mutex<Vec<Arc<ExportBatch>>>,
    stop: CancellationToken,
    /// Set once the dns resolver has finished its first attempt, so the requests
    /// that arrive right after startup wait for it instead of being refused.
    first_resolution: tokio::sync::watch::Sender<bool>,
    metrics: BalancerMetrics,
}

struct BalancerMetrics {
    label: String,
    backends: metrics::Gauge,
    rerouted: metrics::Counter,
}

impl BalancerMetrics {
    fn new(id: &ComponentId) -> Self {
        let label = id.to_string();
        Self {
            backends: metrics::gauge!("otelcol_loadbalancer_num_backends", "exporter" => label.clone()),
            rerouted: metrics::counter!("otelcol_loadbalancer_rerouted_items", "exporter" => label.clone()),
            label,
        }
    }

    fn resolution(&self, resolver: &'static str, success: bool) {
        metrics::counter!("otelcol_loadbalancer_num_resolutions", "exporter" => self.label.clone(), "resolver" => resolver, "success" => bool_label(success)).increment(1);
    }

    fn outcome(&self, endpoint: &str, success: bool) -> metrics::Counter {
        metrics::counter!("otelcol_loadbalancer_backend_outcome", "exporter" => self.label.clone(), "endpoint" => endpoint.to_owned(), "success" => bool_label(success))
    }
}

fn bool_label(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

impl Balancer {
    fn snapshot(&self) -> Arc<Members> {
        self.members.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Routes `data` to its backends' queues. Returns the parts no queue took.
    async fn route(&self, data: Telemetry) -> Vec<Arc<ExportBatch>> {
        let members = self.snapshot();
        let refused = self.route_on(&members, data).await;
        if refused.is_empty() {
            return refused;
        }
        // The membership may have changed since the snapshot: a departed backend's
        // queue is closed. Its parts get one more try on the new ring.
        let now = self.snapshot();
        if Arc::ptr_eq(&members, &now) {
            return refused;
        }
        let mut still_refused = Vec::new();
        for batch in refused {
            still_refused.extend(self.route_on(&now, batch.data().clone()).await);
        }
        still_refused
    }

    async fn route_on(&self, members: &Members, data: Telemetry) -> Vec<Arc<ExportBatch>> {
        if members.ring.is_empty() {
            return vec![Arc::new(ExportBatch::new(data))];
        }
        let parts = split(data, self.config.routing_key, |key| {
            members.ring.owner(key).unwrap_or(0)
        });
        let mut refused = Vec::new();
        for (index, part) in parts {
            let endpoint = &members.ring.endpoints()[index];
            let batch = Arc::new(ExportBatch::new(part));
            let taken = match members.backends.get(endpoint) {
                Some(backend) => {
                    let taken = backend.queue.enqueue(batch.clone()).await.is_ok();
                    match taken {
                        true => backend.queued.increment(1),
                        false => backend.refused.increment(1),
                    }
                    taken
                }
                None => false,
            };
            if !taken {
                refused.push(batch);
            }
        }
        refused
    }

    /// Makes `endpoints` the backends: builds queues for new ones, keeps the rest,
    /// and returns the queues of the endpoints that left (still to be retired).
    fn set_members(&self, endpoints: &BTreeSet<String>) -> Vec<(String, Arc<ExporterQueue>)> {
        let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
        if members.ring.endpoints().iter().eq(endpoints.iter()) {
            return Vec::new();
        }
        let mut old = members.backends.clone();
        let mut backends = BTreeMap::new();
        for endpoint in endpoints {
            let backend = match old.remove(endpoint) {
                Some(backend) => backend,
                None => match self.backend(endpoint) {
                    Ok(backend) => backend,
                    Err(error) => {
                        tracing::error!(message = "Cannot build a backend; leaving it out.", exporter = %self.id, endpoint = %endpoint, %error);
                        continue;
                    }
                },
            };
            backends.insert(endpoint.clone(), backend);
        }
        tracing::info!(message = "Load-balancing backends changed.", exporter = %self.id, backends = ?backends.keys().collect::<Vec<_>>());
        self.metrics.backends.set(backends.len() as f64);
        *members = Arc::new(Members {
            ring: HashRing::new(backends.keys().cloned()),
            backends,
        });
        old.into_iter()
            .map(|(endpoint, backend)| (endpoint, backend.queue))
            .collect()
    }

    /// One otlp_grpc exporter in its own queue, started.
    fn backend(&self, endpoint: &str) -> Result<Backend, StartError> {
        let id = ComponentId::parse(&format!("{}/{endpoint}", self.id)).unwrap_or_else(|_| self.id.clone());
        let config = self.config.backend(endpoint);
        let exporter = config.exporter(&id)?;
        let queue = Arc::new(ExporterQueue::new(id, exporter, config.helper()));
        queue.start()?;
        Ok(Backend {
            queue,
            queued: self.metrics.outcome(endpoint, true),
            refused: self.metrics.outcome(endpoint, false),
        })
    }

    /// Applies a resolution: new members first, then the departed backends are
    /// retired and what they held is routed again through the new ring.
    async fn apply(&self, endpoints: &BTreeSet<String>) {
        let removed = self.set_members(endpoints);
        if removed.is_empty() {
            return;
        }
        let deadline = Instant::now() + self.config.template.timeout + Duration::from_secs(1);
        let retirements = removed.iter().map(|(endpoint, queue)| async move {
            let batches = queue.retire(deadline).await;
            if !batches.is_empty() {
                let items: usize = batches.iter().map(|b| b.items()).sum();
                tracing::info!(message = "Backend removed; routing its undelivered data to the others.", exporter = %self.id, endpoint = %endpoint, items);
            }
            batches
        });
        let handed_back: Vec<_> = join_all(retirements).await.into_iter().flatten().collect();
        self.parked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(handed_back);
        self.flush_parked().await;
    }

    /// Routes parked batches again; what still finds no room stays parked.
    async fn flush_parked(&self) {
        let parked = std::mem::take(&mut *self.parked.lock().unwrap_or_else(|p| p.into_inner()));
        for batch in parked {
            let refused = self.route(batch.data().clone()).await;
            let unplaced: usize = refused.iter().map(|b| b.items()).sum();
            self.metrics
                .rerouted
                .increment((batch.items() - unplaced.min(batch.items())) as u64);
            self.parked.lock().unwrap_or_else(|p| p.into_inner()).extend(refused);
        }
    }

    /// The resolver loop of the dns resolver: resolve, apply, re-route, sleep.
    async fn run_dns(&self, settings: DnsSettings) {
        loop {
            match resolver::resolve(&settings).await {
                Ok(endpoints) => {
                    self.metrics.resolution("dns", true);
                    self.apply(&endpoints).await;
                }
                Err(error) => {
                    self.metrics.resolution("dns", false);
                    tracing::warn!(message = "DNS resolution failed; keeping the current backends.", exporter = %self.id, %error);
                }
            }
            self.first_resolution.send_replace(true);
            self.flush_parked().await;
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(settings.interval) => {}
            }
        }
    }
}

impl Exporter for LoadBalancer {
    fn export<'a>(&'a self, batch: &'a ExportBatch) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        Box::pin(async move {
            if let Resolver::Dns(settings) = &self.balancer.config.resolver {
                if self.balancer.snapshot().ring.is_empty() {
                    let mut resolved = self.balancer.first_resolution.subscribe();
                    let _ = tokio::time::timeout(settings.timeout, resolved.wait_for(|done| *done)).await;
                }
            }
            // The batch is shared with the pipeline's other exporters: the split works
            // on a copy.
            let refused = self.balancer.route(batch.data().clone()).await;
            if refused.is_empty() {
                return Ok(ExportOutcome::default());
            }
            let items: usize = refused.iter().map(|b| b.items()).sum();
            let why = match self.balancer.snapshot().ring.is_empty() {
                true => "no backend resolved yet".to_owned(),
                false => format!(
                    "{items} of {} items found their backend's queue full or closed",
                    batch.items()
                ),
            };
            Err(ExportError::Retryable {
                message: why,
                throttle: Some(REFUSED_RETRY_AFTER),
            })
        })
    }

    fn start(&self) {
        let mut task = self.task.lock().unwrap_or_else(|p| p.into_inner());
        if task.is_some() || self.balancer.stop.is_cancelled() {
            return;
        }
        match &self.balancer.config.resolver {
            Resolver::Static(endpoints) => {
                // Known up front: the backends exist before the first request.
                self.balancer.metrics.resolution("static", true);
                let retired = self.balancer.set_members(&endpoints.iter().cloned().collect());
                debug_assert!(retired.is_empty());
            }
            Resolver::Dns(settings) => {
                let balancer = self.balancer.clone();
                let settings = settings.clone();
                *task = Some(tokio::spawn(async move { balancer.run_dns(settings).await }));
            }
        }
    }

    fn drain(&self, deadline: Instant) -> BoxFuture<'_, u64> {
        Box::pin(async move {
            let balancer = &self.balancer;
            balancer.stop.cancel();
            let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(task) = task {
                if tokio::time::timeout_at(deadline, task).await.is_err() {
                    tracing::warn!(message = "Resolver task did not stop in time.", exporter = %balancer.id);
                }
            }
            balancer.flush_parked().await;
            let members = std::mem::take(&mut *balancer.members.write().unwrap_or_else(|p| p.into_inner()));
            balancer.metrics.backends.set(0.0);
            let lost: u64 = join_all(
                members
                    .backends
                    .values()
                    .map(|backend| backend.queue.shutdown(deadline)),
            )
            .await
            .into_iter()
            .sum();
            let parked = std::mem::take(&mut *balancer.parked.lock().unwrap_or_else(|p| p.into_inner()));
            let stranded: usize = parked.iter().map(|b| b.items()).sum();
            if stranded > 0 {
                tracing::error!(message = "Dropping data: no backend could take it before shutdown.", exporter = %balancer.id, dropped_items = stranded);
            }
            lost + stranded as u64
        })
    }
}

impl ExporterConfig for LoadBalancing {
    fn build(&self, ctx: &ExporterContext<'_>) -> Result<Arc<dyn QueuedExporter>, BuildError> {
        let exporter = self.exporter(ctx.id).map_err(|e| BuildError::new(e.message))?;
        crate::exporters::helper::queued(ctx, exporter, self.helper())
    }
}
