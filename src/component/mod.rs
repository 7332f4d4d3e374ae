//! The component model: identities, signals, the traits every receiver, processor,
//! exporter and extension implements, and the factory registry that maps a config
//! `type` name to the code that builds it.
//!
//! A component's *config* and its *running instance* are separate types (as in
//! Vector): parsing a config never opens a port or spawns a task, so `sloop validate`
//! and the startup check can build every config without side effects.

mod id;
pub mod registry;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use id::{ComponentId, ComponentIdError};

use crate::pdata::Telemetry;

/// A boxed, sendable future: the return type of the object-safe async methods below.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The three OTLP signals a pipeline can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All signals, in config order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The name used in `service.pipelines` keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The name of one item of this signal in self-metric names
    /// (`otelcol_receiver_accepted_spans`, `..._metric_points`, `..._log_records`).
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric_points",
            Signal::Logs => "log_records",
        }
    }

    /// Parses a pipeline signal name.
    pub fn parse(name: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// batch processor's [`crate::processors::backlog`]).
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
pub trait Extension: Lifecycle {}
impl<T: Lifecycle> Extension for T {}

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
    /// Service-wide handles.
    pub service: &'a ServiceHandles,
}

/// Things every component of one running service can reach.
#[derive(Clone, Default)]
pub struct ServiceHandles {
    /// Each pipeline's entry by name, filled once the whole graph is built.
    pub pipelines: Arc<std::sync::OnceLock<std::collections::BTreeMap<String, Arc<dyn Consumer>>>>,
    /// Every SLO's state, for the status API.
    pub slos: Arc<crate::processors::slo::SloRegistry>,
    /// Whether a memory limiter refuses data; readiness is off while one does.
    pub memory_pressure: Arc<MemoryPressure>,
}

/// How many memory limiters refuse data at the moment. Readiness (`/readyz`) is off
/// while any does, so a load balancer sends to another replica instead of to one
/// that answers every request with "retry later". Each limiter calls
/// [`begin`](Self::begin) when it starts refusing and [`end`](Self::end) when it stops.
#[derive(Debug, Default)]
pub struct MemoryPressure {
    /// Signed: two threads may see a limiter start and stop refusing and call `end`
    /// before `begin`; the count is right once both have run.
    refusing: std::sync::atomic::AtomicI64,
}

impl MemoryPressure {
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

/// A parsed receiver config that can build the running receiver.
pub trait ReceiverConfig: Send + Sync + std::fmt::Debug {
    /// Builds the receiver; binds nothing yet.
    fn build(&self, id: &ComponentId, outputs: ReceiverOutputs) -> Arc<dyn Receiver>;
}

/// A parsed processor config that can build a running instance for one pipeline.
///
/// The optional methods let the config check wire-up that spans components: a
/// condition that only makes sense for spans, an SLI name that an earlier processor
/// must define, a metrics pipeline that must exist.
///
/// `Any` lets tools that read a config without running it (`sloop rules`) downcast to
/// one component's config type instead of growing a method here per tool.
pub trait ProcessorConfig: std::any::Any + Send + Sync + std::fmt::Debug {
    /// Builds the processor in front of `next`.
    fn build(&self, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Arc<dyn Processor>;

    /// Whether this config can run in a pipeline of `signal`; `Err` says why not.
    fn check_signal(&self, _signal: Signal) -> Result<(), String> {
        Ok(())
    }

    /// Names this processor defines for the processors after it (SLI names).
    fn provides(&self) -> Vec<String> {
        Vec::new()
    }

    /// Names it needs from processors before it: (path in its block, name).
    fn requires(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Metrics pipelines it sends to: (path in its block, pipeline name).
    fn metrics_pipelines(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// `Some(why)` when one instance must not run in several pipelines (each
    /// pipeline gets its own instance, which would split state kept by name).
    fn single_pipeline(&self) -> Option<String> {
        None
    }

    /// Names that must be unique across every processor: (path in its block, name).
    fn unique_names(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A parsed exporter config that can build the running exporter.
pub trait ExporterConfig: Send + Sync + std::fmt::Debug {
    /// Builds the exporter (one attempt per call; queueing and retry are added around
    /// it by the topology from [`ExporterConfig::helper`]).
    fn build(&self, id: &ComponentId) -> Result<Arc<dyn crate::exporters::Exporter>, StartError>;

    /// Queue, retry and timeout settings.
    fn helper(&self) -> crate::exporters::HelperSettings;
}

/// A parsed extension config.
pub trait ExtensionConfig: Send + Sync + std::fmt::Debug {
    /// Builds the extension.
    fn build(&self, id: &ComponentId, ctx: &ExtensionContext) -> Arc<dyn Extension>;
}

/// What extensions can observe about the running service.
#[derive(Clone)]
pub struct ExtensionContext {
    /// True once every receiver listens, false again when shutdown begins.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// Readiness is also off while a memory limiter refuses data.
    pub memory_pressure: Arc<MemoryPressure>,
}
