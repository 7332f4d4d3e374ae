//! The component model: identities, signals, the traits every receiver, processor,
//! exporter and extension implements, and the factory registry that maps a config
//! `type` name to the code that builds it.
//!
//! A component's *config* and its *running instance* are separate types (as in
//! Vector): parsing a config never opens a port or spawns a task, so `sloop validate`
//! and the startup check can build every config without side effects.

pub mod auth;
mod id;
pub mod registry;
pub mod replay;
mod state;
mod view;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use auth::{Authenticators, ClientAuthenticator, ServerAuthenticator};
pub use id::{ComponentId, ComponentIdError};
pub use state::{Claim, StateStore};
pub use view::{PipelineLayout, RenderMetrics, ServiceLayout, ServiceView};

pub use crate::pdata::Signal;
use crate::pdata::{Encoded, ExportBatch, Telemetry};

/// A boxed, sendable future: the return type of the object-safe async methods below.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a pipeline did not accept data. Receivers turn this into a wire status.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConsumeError {
    /// Whether the sender should try again.
    pub retry: Retry,
    /// What went wrong, for the client and the logs.
    pub message: String,
}

/// Whether an error is worth retrying, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again, no sooner than the given delay if one is set (queue full, shutting down).
    After(Option<Duration>),
    /// Never succeeds as sent (malformed data).
    Never,
}

impl ConsumeError {
    /// A retryable refusal, e.g. a full queue.
    pub fn retryable(message: impl Into<String>, after: Option<Duration>) -> Self {
        Self {
            retry: Retry::After(after),
            message: message.into(),
        }
    }

    /// A refusal that a retry cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            retry: Retry::Never,
            message: message.into(),
        }
    }
}

/// Anything that accepts telemetry: a processor, a fan-out, an exporter's queue.
///
/// Built back to front (exporters first), each stage holding the next, as in the
/// Collector's graph. `consume` runs on the caller's task, so work spreads over every
/// core that runs receiver requests; nothing funnels every span through one task.
pub trait Consumer: Send + Sync + 'static {
    /// Takes ownership of `data`; `Ok` means it is now this stage's responsibility.
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>>;

    /// As [`Consumer::consume`], but a retryable refusal hands `data` back untouched,
    /// for a stage that already acknowledged it and must keep it to offer again (the
    /// batch processor's backlog).
    ///
    /// The default keeps a copy while `consume` runs, because `consume` may have
    /// changed the data before refusing it. Stages that refuse before touching the
    /// data (the exporters' fan-out, batch) override it to hand back the original
    /// and copy nothing: those are what a batch processor usually sends into.
    fn consume_or_return(&self, data: Telemetry) -> BoxFuture<'_, Result<(), Refused>> {
        Box::pin(async move {
            let copy = data.clone();
            self.consume(data).await.map_err(|error| Refused::new(error, copy))
        })
    }

    /// As [`Consumer::consume`], with the protobuf encoding `data` arrived in
    /// ([`Encoded`]), so that a batch nothing changed is sent without being encoded
    /// again. The default drops the encoding: a stage that may change data keeps
    /// this default, and only one that passes data on unchanged (or knows that it
    /// did not change it this time) overrides it to pass the encoding along.
    fn consume_encoded(&self, data: Telemetry, encoded: Encoded) -> BoxFuture<'_, Result<(), ConsumeError>> {
        drop(encoded);
        self.consume(data)
    }

    /// [`Consumer::consume_or_return`] with the encoding, as
    /// [`Consumer::consume_encoded`]. A refusal hands back the data only.
    fn consume_encoded_or_return(&self, data: Telemetry, encoded: Encoded) -> BoxFuture<'_, Result<(), Refused>> {
        drop(encoded);
        self.consume_or_return(data)
    }
}

/// A refusal from [`Consumer::consume_or_return`].
#[derive(Debug)]
pub struct Refused {
    /// Why.
    pub error: ConsumeError,
    /// The data, untouched, when the refusal is retryable; `None` when it is
    /// permanent (nothing would be done with it).
    pub data: Option<Telemetry>,
}

impl Refused {
    /// A refusal of `data`, handed back only if `error` is retryable.
    pub fn new(error: ConsumeError, data: Telemetry) -> Self {
        let data = (error.retry != Retry::Never).then_some(data);
        Self { error, data }
    }
}

/// Start and stop hooks. Shutdown must be safe without start and safe twice.
pub trait Lifecycle: Send + Sync + 'static {
    /// Binds ports and spawns tasks. Returns once the component can do its job.
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async { Ok(()) })
    }

    /// Stops the component, flushing anything it holds into the next stage.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// A component failed to start (a port in use, a file not writable).
#[derive(Debug, thiserror::Error)]
#[error("{component}: {message}")]
pub struct StartError {
    /// Which component.
    pub component: String,
    /// What went wrong.
    pub message: String,
}

impl StartError {
    /// Builds a start error for `component`.
    pub fn new(component: &ComponentId, message: impl std::fmt::Display) -> Self {
        Self {
            component: component.to_string(),
            message: message.to_string(),
        }
    }
}

/// A running processor: a consumer with a lifecycle.
pub trait Processor: Consumer + Lifecycle {}
impl<T: Consumer + Lifecycle> Processor for T {}

/// A running receiver.
pub trait Receiver: Lifecycle {}
impl<T: Lifecycle> Receiver for T {}

/// A running extension.
pub trait Extension: Lifecycle {
    /// The authenticator it provides to receivers, if it is one.
    fn server_authenticator(&self) -> Option<Arc<dyn ServerAuthenticator>> {
        None
    }

    /// The authenticator it provides to exporters, if it is one.
    fn client_authenticator(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        None
    }
}

/// Where a receiver sends each signal: one consumer per signal it feeds, already
/// fanned out to every pipeline of that signal that lists the receiver.
#[derive(Clone, Default)]
pub struct ReceiverOutputs {
    /// Entry to the traces pipelines, if any pipeline takes traces from this receiver.
    pub traces: Option<Arc<dyn Consumer>>,
    /// Entry to the metrics pipelines.
    pub metrics: Option<Arc<dyn Consumer>>,
    /// Entry to the logs pipelines.
    pub logs: Option<Arc<dyn Consumer>>,
}

impl ReceiverOutputs {
    /// The consumer for `signal`, if the receiver feeds any pipeline of it.
    pub fn get(&self, signal: Signal) -> Option<&Arc<dyn Consumer>> {
        match signal {
            Signal::Traces => self.traces.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
            Signal::Logs => self.logs.as_ref(),
        }
    }
}

/// What a processor is built with.
pub struct ProcessorContext<'a> {
    /// The processor's id.
    pub id: &'a ComponentId,
    /// The pipeline it runs in (`traces`, `traces/name`).
    pub pipeline: &'a str,
    /// The signal of that pipeline.
    pub signal: Signal,
    /// The fan-out to this pipeline's exporters, for processors that emit telemetry
    /// of their own (the slo processor's metrics).
    pub exporters: Arc<dyn Consumer>,
    /// The entries of the pipelines this processor sends into
    /// ([`ProcessorConfig::metrics_pipelines`]): edges of the graph, built before it.
    pub pipelines: &'a std::collections::BTreeMap<String, Arc<dyn Consumer>>,
    /// Service-wide handles.
    pub service: &'a ServiceHandles,
    /// Some exporter of this pipeline acknowledges durably
    /// ([`QueuedExporter::acknowledges_durably`]): its `enqueue` resolves only once
    /// the batch is durable (a persistent queue) or delivered (`wait_for_result`). A
    /// processor that holds data before passing it on (`batch`) must then make its
    /// client wait too, or the client's OK promises more than the exporter does.
    ///
    /// Known limit: only the pipeline's own exporters count. A pipeline that feeds a
    /// connector does not look through it at the exporters of the pipelines behind it,
    /// so it is `false` there unless one of its own exporters acknowledges durably.
    pub durable: bool,
}

/// What a connector is built with: one instance per pair of signals it joins.
pub struct ConnectorContext<'a> {
    /// The connector's id.
    pub id: &'a ComponentId,
    /// The signal it takes, as an exporter of the pipelines that list it there.
    pub from: Signal,
    /// The signal it emits, as a receiver of the pipelines that list it there.
    pub to: Signal,
    /// Every pipeline of signal `to` that lists the connector as a receiver, by name.
    pub outputs: &'a std::collections::BTreeMap<String, Arc<dyn Consumer>>,
    /// Service-wide handles.
    pub service: &'a ServiceHandles,
}

/// A component could not be built from a config that parsed (a file that cannot be
/// opened, a state that does not fit). `path` is relative to the component's block;
/// the graph prefixes it with the block's own path.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {message}")]
pub struct BuildError {
    /// Where in the config, e.g. `processors.tail_sampling.policies[0]`.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

impl BuildError {
    /// An error about the block as a whole.
    pub fn new(message: impl std::fmt::Display) -> Self {
        Self {
            path: String::new(),
            message: message.to_string(),
        }
    }

    /// An error at `path` inside the block.
    pub fn at(path: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// The same error, with `prefix` (the block's path) in front of its path.
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = if self.path.is_empty() {
            prefix.to_string()
        } else if self.path.starts_with('[') {
            format!("{prefix}{}", self.path)
        } else {
            format!("{prefix}.{}", self.path)
        };
        self
    }
}

/// Things every component of one running service can reach. Owned by the service;
/// outlives every graph it builds, so state kept here survives a reload.
#[derive(Clone, Default)]
pub struct ServiceHandles {
    /// State that outlives the graph (SLO rings, tail-sampling buffers, exporter
    /// queues), by component id.
    pub state: Arc<StateStore>,
    /// Whether a memory limiter refuses data; readiness is off while one does.
    pub memory_pressure: Arc<Pressure>,
    /// Whether a persistent queue cannot write (disk full, read-only); readiness
    /// is off while one cannot.
    pub storage_pressure: Arc<Pressure>,
    /// The running graph's shape and the self-metrics, for extensions that show
    /// them (`zpages`).
    pub view: Arc<ServiceView>,
    /// Where replayable sources (`filelog`) stand, consistent with the processors'
    /// saved state ([`replay`]).
    pub replay: Arc<replay::Replay>,
}

/// How many components refuse data at the moment for one reason (memory limiters
/// over their limit; persistent queues that cannot write). Readiness (`/readyz`) is
/// off while any does, so a load balancer sends to another replica instead of to one
/// that answers every request with "retry later". Each component calls
/// [`begin`](Self::begin) when it starts refusing and [`end`](Self::end) when it stops.
#[derive(Debug, Default)]
pub struct Pressure {
    /// Signed: two threads may see a limiter start and stop refusing and call `end`
    /// before `begin`; the count is right once both have run.
    refusing: std::sync::atomic::AtomicI64,
}

impl Pressure {
    /// One more limiter refuses.
    pub fn begin(&self) {
        self.refusing.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// One limiter fewer refuses.
    pub fn end(&self) {
        self.refusing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether any limiter refuses.
    pub fn is_refusing(&self) -> bool {
        self.refusing.load(std::sync::atomic::Ordering::SeqCst) > 0
    }
}

/// The storage extension `name` among those the service runs (`storage`, from
/// [`ReceiverContext::storage`] or [`ExporterContext::storage`]), or an error at
/// `path` that lists the ones there are.
pub fn find_storage<'a>(
    storage: &'a std::collections::BTreeMap<ComponentId, crate::storage::StorageSettings>,
    name: &str,
    path: &str,
) -> Result<&'a crate::storage::StorageSettings, BuildError> {
    if let Some(found) = ComponentId::parse(name).ok().and_then(|id| storage.get(&id)) {
        return Ok(found);
    }
    let known: Vec<String> = storage.keys().map(ToString::to_string).collect();
    Err(BuildError::at(
        path,
        format!(
            "{name:?} is not a storage extension listed in service.extensions ({})",
            if known.is_empty() {
                "there is none; add a file_storage extension".to_string()
            } else {
                format!("storage extensions: {}", known.join(", "))
            }
        ),
    ))
}

/// A parsed receiver config that can build the running receiver.
pub trait ReceiverConfig: Send + Sync + std::fmt::Debug {
    /// Builds the receiver; binds nothing yet.
    fn build(
        &self,
        id: &ComponentId,
        outputs: ReceiverOutputs,
        ctx: &ReceiverContext<'_>,
    ) -> Result<Arc<dyn Receiver>, BuildError>;

    /// The server authenticators it names: (path in its block, extension id).
    fn authenticators(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The storage extension its `storage` names, if any: (path in its block,
    /// extension id).
    fn storage(&self) -> Option<(String, String)> {
        None
    }
}

/// What a receiver is built with, besides its outputs.
#[derive(Clone, Copy)]
pub struct ReceiverContext<'a> {
    /// The authenticators of the extensions listed in `service.extensions`.
    pub authenticators: &'a Authenticators,
    /// The storage extensions listed in `service.extensions`, by id: what a
    /// receiver's `storage` may name (`filelog` keeps its offsets there).
    pub storage: &'a std::collections::BTreeMap<ComponentId, crate::storage::StorageSettings>,
    /// The service's shared handles.
    pub service: &'a ServiceHandles,
}

/// A parsed processor config that can build a running instance for one pipeline.
///
/// The optional methods let the config check how it is wired into the plan: the
/// signal it runs on, names an earlier processor must define, pipelines it sends to.
///
/// `Any` lets tools that read a config without running it (`sloop rules`), and
/// processors checking their wiring, downcast to one component's config type instead
/// of growing a method here per tool or per pair of components.
pub trait ProcessorConfig: std::any::Any + Send + Sync + std::fmt::Debug {
    /// Builds the processor in front of `next`.
    fn build(&self, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, BuildError>;

    /// Whether this config can run in a pipeline of `signal`; `Err` says why not.
    fn check_signal(&self, _signal: Signal) -> Result<(), String> {
        Ok(())
    }

    /// Metrics pipelines it sends to: (path in its block, pipeline name). Edges of
    /// the graph: the config check makes sure each exists and carries metrics.
    fn metrics_pipelines(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Checks how this processor is wired into the plan: which pipelines use it,
    /// what runs before it there, what other processors define. Errors carry full
    /// paths ([`WiringView::path`]); every one is reported with the rest of the
    /// config's errors.
    fn check_wiring(&self, _view: &WiringView<'_>) -> Vec<crate::confmap::ConfigError> {
        Vec::new()
    }
}

/// A processor config as the wiring check sees it; `'static` so it can be downcast.
pub type ProcessorConfigRef<'a> = &'a (dyn ProcessorConfig + 'static);

/// A read-only view of the checked plan, from one processor's place in it: what
/// [`ProcessorConfig::check_wiring`] is given.
pub struct WiringView<'a> {
    /// The processor being checked.
    pub id: &'a ComponentId,
    /// Every pipeline that lists it, in name order.
    pub pipelines: Vec<PipelineUse<'a>>,
    /// Every processor config that parsed, by id. A block with errors is missing:
    /// what it would define is unknown.
    pub processors: &'a std::collections::BTreeMap<&'a ComponentId, ProcessorConfigRef<'a>>,
}

/// One pipeline that lists the processor being checked.
#[derive(Debug, Clone, Copy)]
pub struct PipelineUse<'a> {
    /// The pipeline's name (`traces/name`).
    pub name: &'a str,
    /// What it carries.
    pub signal: Signal,
    /// The processor's position in the pipeline's checked `processors` list (the
    /// config's, unless an entry before it names no defined processor).
    pub position: usize,
    /// The processors before it there, in order.
    pub before: &'a [ComponentId],
}

impl<'a> WiringView<'a> {
    /// The full config path of `within` in this processor's block
    /// (`processors.slo.objectives[0].sli`); the block itself for `""`.
    pub fn path(&self, within: &str) -> String {
        match within {
            "" => format!("processors.{}", self.id),
            _ if within.starts_with('[') => format!("processors.{}{within}", self.id),
            _ => format!("processors.{}.{within}", self.id),
        }
    }

    /// The parsed config of processor `id`, if its block parsed.
    pub fn config(&self, id: &ComponentId) -> Option<ProcessorConfigRef<'a>> {
        self.processors.get(id).copied()
    }

    /// Every parsed processor config of type `T`, in id order.
    pub fn configs<T: ProcessorConfig>(&self) -> impl Iterator<Item = (&'a ComponentId, &'a T)> + 'a {
        let processors: &'a std::collections::BTreeMap<&'a ComponentId, ProcessorConfigRef<'a>> = self.processors;
        processors
            .iter()
            .filter_map(|(id, config)| Some((*id, downcast::<T>(*config)?)))
    }

    /// The configs of type `T` before this processor in `pipeline`, in order; `None`
    /// when a processor before it has a block with errors (what it would define is
    /// unknown, so nothing should be reported missing on top of its own errors).
    pub fn before<T: ProcessorConfig>(&self, pipeline: &PipelineUse<'_>) -> Option<Vec<&'a T>> {
        let mut found = Vec::new();
        for id in pipeline.before {
            found.extend(downcast::<T>(self.config(id)?));
        }
        Some(found)
    }
}

impl PipelineUse<'_> {
    /// The config path of this use: `service.pipelines.<name>.processors[<position>]`.
    pub fn path(&self) -> String {
        format!("service.pipelines.{}.processors[{}]", self.name, self.position)
    }
}

/// `config` as a `T`, if it is one.
fn downcast<T: ProcessorConfig>(config: ProcessorConfigRef<'_>) -> Option<&T> {
    let any: &dyn std::any::Any = config;
    any.downcast_ref::<T>()
}

/// A parsed exporter config that can build the running exporter.
pub trait ExporterConfig: Send + Sync + std::fmt::Debug {
    /// Builds the exporter inside its queue, workers and retries (the exporters'
    /// helper); sends nothing, spawns nothing and opens no file until started.
    fn build(&self, ctx: &ExporterContext<'_>) -> Result<Arc<dyn QueuedExporter>, BuildError>;

    /// The storage extension its `sending_queue.storage` names, if any.
    fn storage(&self) -> Option<&str> {
        None
    }

    /// The client authenticator its `auth.authenticator` names, if any.
    fn authenticator(&self) -> Option<&str> {
        None
    }
}

/// What an exporter is built with.
pub struct ExporterContext<'a> {
    /// The exporter's id.
    pub id: &'a ComponentId,
    /// The storage extensions listed in `service.extensions`, by id: what
    /// `sending_queue.storage` may name.
    pub storage: &'a std::collections::BTreeMap<ComponentId, crate::storage::StorageSettings>,
    /// The authenticators of the extensions listed in `service.extensions`: what
    /// `auth.authenticator` may name.
    pub authenticators: &'a Authenticators,
    /// The service's shared handles.
    pub service: &'a ServiceHandles,
}

/// An exporter as the graph sees it: a bounded queue in front of workers that send
/// with retries. Every pipeline that lists the exporter shares the one queue.
pub trait QueuedExporter: Send + Sync + 'static {
    /// Opens a persistent queue's files and spawns the workers.
    fn start(&self) -> Result<(), StartError>;

    /// Takes a batch into the queue, or refuses it (retryable) when the queue is full.
    fn enqueue(&self, batch: Arc<ExportBatch>) -> BoxFuture<'_, Result<(), ConsumeError>>;

    /// True when `enqueue` resolves only once the batch is durable (a persistent
    /// queue) or delivered (`wait_for_result`): a processor in front that holds data
    /// must then make its client wait too ([`ProcessorContext::durable`]).
    fn acknowledges_durably(&self) -> bool {
        false
    }

    /// Stops taking batches, sends what is queued until `deadline`, and returns how
    /// many items were given up. Safe without start and safe twice.
    fn shutdown(&self, deadline: tokio::time::Instant) -> BoxFuture<'_, u64>;
}

/// A parsed connector config: a connector is an exporter in the pipelines that list
/// it under `exporters` and a receiver in those that list it under `receivers`.
pub trait ConnectorConfig: Send + Sync + std::fmt::Debug {
    /// Whether it can take `from` and emit `to`.
    fn supports(&self, from: Signal, to: Signal) -> bool;

    /// Pipelines its config names (`routing`'s tables): (path in its block, name).
    /// Each must list the connector as a receiver.
    fn pipelines(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Builds the instance joining `ctx.from` to `ctx.to`.
    fn build(&self, ctx: &ConnectorContext<'_>) -> Result<Arc<dyn Processor>, BuildError>;
}

/// A parsed extension config.
pub trait ExtensionConfig: Send + Sync + std::fmt::Debug {
    /// Builds the extension.
    fn build(&self, id: &ComponentId, ctx: &ExtensionContext) -> Result<Arc<dyn Extension>, BuildError>;

    /// The storage it provides to persistent queues (`file_storage`), if any.
    fn storage(&self) -> Option<crate::storage::StorageSettings> {
        None
    }

    /// The sides it authenticates, if it is an authenticator (checked by the config
    /// against the `auth.authenticator` keys that name it).
    fn authenticator(&self) -> auth::AuthSides {
        auth::AuthSides::default()
    }
}

/// What extensions can observe about the running service.
#[derive(Clone)]
pub struct ExtensionContext {
    /// True once every receiver listens, false again when shutdown begins.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// Readiness is also off while a memory limiter refuses data.
    pub memory_pressure: Arc<Pressure>,
    /// And while a persistent queue cannot write.
    pub storage_pressure: Arc<Pressure>,
    /// The running graph's shape and the self-metrics ([`ServiceHandles::view`]).
    pub view: Arc<ServiceView>,
}
