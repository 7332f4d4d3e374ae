//! A read-only view of the running service, for extensions that show it (`zpages`):
//! the shape of the graph that runs now, and the self-metrics.
//!
//! The service owns one [`ServiceView`] in its [`ServiceHandles`](super::ServiceHandles)
//! and replaces the [`ServiceLayout`] whenever a graph starts (at startup and on each
//! reload), so an extension kept across a reload still shows the graph that runs.
//! Plain data only: the component layer knows nothing of the config types.

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use super::{ComponentId, Signal};

/// What the service shows of itself.
pub struct ServiceView {
    started: SystemTime,
    layout: RwLock<Arc<ServiceLayout>>,
    metrics: Option<RenderMetrics>,
}

/// Renders the self-metrics in Prometheus text format (the Collector's legacy form,
/// counters without `_total`); the service supplies it, since the recorder lives in
/// a layer above this one.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

impl Default for ServiceView {
    fn default() -> Self {
        Self::new(None)
    }
}

impl ServiceView {
    /// A view of a service starting now, whose self-metrics `metrics` renders (none
    /// when the process records none).
    pub fn new(metrics: Option<RenderMetrics>) -> Self {
        Self {
            started: SystemTime::now(),
            layout: RwLock::default(),
            metrics,
        }
    }

    /// When the service started.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// The graph that runs now.
    pub fn layout(&self) -> Arc<ServiceLayout> {
        self.layout.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records the graph that runs from now on.
    pub fn set_layout(&self, layout: ServiceLayout) {
        *self.layout.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(layout);
    }

    /// The self-metrics in Prometheus text format, if the process records them.
    pub fn render_metrics(&self) -> Option<String> {
        self.metrics.as_ref().map(|render| render())
    }
}

/// The components of the running graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceLayout {
    /// Every pipeline, in config order.
    pub pipelines: Vec<PipelineLayout>,
    /// The extensions in `service.extensions`, in order.
    pub extensions: Vec<ComponentId>,
    /// The configured components by kind (`receiver`, `processor`, `exporter`,
    /// `connector`, `extension`), each with its id.
    pub components: Vec<(&'static str, ComponentId)>,
}

/// One pipeline of the running graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineLayout {
    /// Its name (`traces/vendor`).
    pub name: String,
    /// What it carries.
    pub signal: Signal,
    /// Receivers, then connectors, that feed it.
    pub receivers: Vec<ComponentId>,
    /// Processors in order.
    pub processors: Vec<ComponentId>,
    /// Exporters, then connectors, it sends to.
    pub exporters: Vec<ComponentId>,
}
