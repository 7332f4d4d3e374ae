//! Running a whole config: self-metrics, the graph, reloads, and an orderly shutdown.
//!
//! The service owns what outlives one graph: the [`ServiceHandles`] (the state store
//! that keeps SLO rings, tail-sampling buffers and exporter queues across reloads;
//! memory pressure) and the admin server.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::admin::SloSource;
use crate::component::{PipelineLayout, ServiceHandles, ServiceLayout, ServiceView, StateStore};
use crate::config::Config;
use crate::graph::{Graph, ShutdownReport};
use crate::processors::slo::{minute_of, unix_nanos, SloRegistry, REGISTRY_KEY};
use crate::telemetry::readers::ReaderError;
use crate::telemetry::SelfMetricsRegistry;

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A component failed to build or start.
    #[error(transparent)]
    Start(#[from] crate::component::StartError),
    /// A self-metrics reader (with the admin endpoint, for a pull reader) could not
    /// start.
    #[error(transparent)]
    Metrics(#[from] ReaderError),
}

/// When to reload the config, and from where.
#[derive(Debug, Clone, Default)]
pub struct Reload {
    /// The config files, read again (and merged, and checked) on every reload.
    pub paths: Vec<PathBuf>,
    /// Reload on SIGHUP.
    pub on_sighup: bool,
    /// Reload when the contents of a config file change (checked every second).
    pub watch: bool,
}

/// How often `--watch-config` reads the config files.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Builds and starts `config`, runs until `stop` resolves, reloading as `reload`
/// says, then shuts down within `service.shutdown_timeout` and reports what could
/// not be delivered.
pub async fn run(
    config: Config,
    metrics: Option<SelfMetricsRegistry>,
    stop: impl Future<Output = ()>,
    reload: Reload,
) -> Result<ShutdownReport, RunError> {
    let service = ServiceHandles {
        view: Arc::new(ServiceView::new(metrics.clone().map(|registry| {
            let legacy = crate::config::PrometheusReader::legacy(String::new(), 0);
            Arc::new(move || crate::telemetry::prometheus::render(&registry.snapshot(), &legacy, &[]))
                as crate::component::RenderMetrics
        }))),
        ..ServiceHandles::default()
    };
    service.state.begin();
    let mut graph = Graph::build(&config, &service, None)?;
    service.view.set_layout(layout_of(&config));
    service.state.sweep();
    let telemetry_stop = CancellationToken::new();
    let resource = crate::telemetry::resource::resource_attributes(&config.telemetry.resource);
    let readers = match crate::telemetry::readers::start(
        &config.telemetry.metrics,
        metrics.as_ref(),
        &resource,
        Arc::new(SloStatus(service.state.clone())),
        &telemetry_stop,
    )
    .await
    {
        Ok(readers) => readers,
        Err(error) => {
            telemetry_stop.cancel();
            return Err(error.into());
        }
    };
    if let Err(error) = graph.start().await {
        telemetry_stop.cancel();
        return Err(error.into());
    }
    tracing::info!(message = "Everything is ready. Begin running and processing data.");
    let mut requests = reload_requests(&reload, telemetry_stop.clone());
    let mut shutdown_timeout = config.shutdown_timeout;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(()) = requests.recv() => {
                let Some(new_config) = load_for_reload(&reload.paths) else { continue };
                let timeout = new_config.shutdown_timeout;
                match graph.reload(&new_config, timeout).await {
                    Ok((new_graph, report)) => {
                        graph = new_graph;
                        service.view.set_layout(layout_of(&new_config));
                        shutdown_timeout = timeout;
                        metrics::counter!("otelcol_service_config_reloads").increment(1);
                        for (exporter, items) in &report.undelivered {
                            tracing::error!(message = "An exporter the new config dropped could not deliver everything by the deadline.", exporter = %exporter, undelivered_items = items);
                        }
                        tracing::info!(message = "Config reloaded; unchanged components kept their state.");
                    }
                    Err((old_graph, error)) => {
                        graph = old_graph;
                        metrics::counter!("otelcol_service_config_reload_failures").increment(1);
                        tracing::error!(message = "Config reload failed to build; the running pipelines keep running.", %error);
                    }
                }
            }
        }
    }
    tracing::info!(message = "Shutdown requested: stopping receivers, flushing pipelines.", timeout = ?shutdown_timeout);
    // The whole shutdown, whatever clients do, fits in shutdown_timeout: the graph
    // splits it (receivers at most a quarter, then pipelines and exporter queues),
    // and the admin server gets only what is left of it.
    let deadline = tokio::time::Instant::now() + shutdown_timeout;
    let report = graph.shutdown(shutdown_timeout).await;
    if report.undelivered.is_empty() {
        tracing::info!(message = "Shutdown complete. Everything accepted was delivered.");
    } else {
        for (exporter, items) in &report.undelivered {
            tracing::error!(message = "Shutdown deadline passed with data undelivered.", exporter = %exporter, undelivered_items = items);
        }
    }
    telemetry_stop.cancel();
    // Pull readers stop serving; periodic readers push the final figures.
    for reader in readers {
        let _ = tokio::time::timeout_at(deadline, reader).await;
    }
    Ok(report)
}

/// Logs what the config says that works but should be written differently
/// ([`Config::warnings`]: deprecated type names, host-less endpoints).
pub fn log_config_warnings(config: &Config) {
    for warning in &config.warnings {
        tracing::warn!(message = "Config works, but should be updated.", path = %warning.path, warning = %warning.message);
    }
}

/// The shape of the graph `config` builds, for extensions that show it (zpages).
fn layout_of(config: &Config) -> ServiceLayout {
    let pipelines = config
        .pipelines
        .iter()
        .map(|p| PipelineLayout {
            name: p.name.clone(),
            signal: p.signal,
            receivers: p.receivers.iter().chain(&p.from_connectors).cloned().collect(),
            processors: p.processors.clone(),
            exporters: p.exporters.iter().chain(&p.to_connectors).cloned().collect(),
        })
        .collect();
    let kind = |kind: &'static str| move |id: &crate::component::ComponentId| (kind, id.clone());
    let components = (config.receivers.keys().map(kind("receiver")))
        .chain(config.processors.keys().map(kind("processor")))
        .chain(config.exporters.keys().map(kind("exporter")))
        .chain(config.connectors.keys().map(kind("connector")))
        .chain(config.extensions.keys().map(kind("extension")))
        .collect();
    ServiceLayout {
        pipelines,
        extensions: config.service_extensions.clone(),
        components,
    }
}

/// Loads and checks the config files for a reload. An invalid config is refused
/// whole: every error is logged with the files and its path, the failure counted,
/// and `None` returned so the running graph keeps running.
fn load_for_reload(paths: &[PathBuf]) -> Option<Config> {
    let files = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    tracing::info!(message = "Reloading the config.", files = %files);
    match Config::from_files(paths) {
        Ok(config) => {
            log_config_warnings(&config);
            Some(config)
        }
        Err(errors) => {
            metrics::counter!("otelcol_service_config_reload_failures").increment(1);
            for error in &errors.0 {
                tracing::error!(message = "Config reload refused; the running pipelines keep running.", files = %files, path = %error.path, error = %error.message);
            }
            None
        }
    }
}

/// Reload requests from SIGHUP and from watching the config files.
fn reload_requests(reload: &Reload, stop: CancellationToken) -> mpsc::Receiver<()> {
    let (sender, receiver) = mpsc::channel(1);
    #[cfg(unix)]
    if reload.on_sighup {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hangups) => {
                let sender = sender.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            () = stop.cancelled() => break,
                            Some(()) = hangups.recv() => {
                                tracing::info!(message = "Received SIGHUP.");
                                // A reload already waiting covers this one too.
                                let _ = sender.try_send(());
                            }
                        }
                    }
                });
            }
            Err(error) => tracing::warn!(message = "Cannot listen for SIGHUP; reload by --watch-config only.", %error),
        }
    }
    if reload.watch {
        let paths = reload.paths.clone();
        tokio::spawn(async move {
            // Reads the files' contents rather than watching inodes: a Kubernetes
            // ConfigMap update swaps a symlinked directory, which inotify-based
            // watchers miss unless they watch the parent; comparing contents once a
            // second sees every kind of replacement, with no extra dependency.
            let mut seen = read_all(&paths).await;
            let mut tick = tokio::time::interval(WATCH_INTERVAL);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => {
                        let now = read_all(&paths).await;
                        if now != seen {
                            seen = now;
                            tracing::info!(message = "A config file changed.");
                            let _ = sender.try_send(());
                        }
                    }
                }
            }
        });
    }
    receiver
}

/// The contents of every file (`None` for one that cannot be read right now).
async fn read_all(paths: &[PathBuf]) -> Vec<Option<Vec<u8>>> {
    let mut contents = Vec::with_capacity(paths.len());
    for path in paths {
        contents.push(tokio::fs::read(path).await.ok());
    }
    contents
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!(message = "Received SIGTERM."),
                    _ = tokio::signal::ctrl_c() => tracing::info!(message = "Received SIGINT."),
                }
            }
            Err(error) => {
                tracing::warn!(message = "Cannot listen for SIGTERM; only Ctrl-C stops sloop.", %error);
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The status API's view of the SLO state the service keeps.
struct SloStatus(Arc<StateStore>);

impl SloStatus {
    fn registry(&self) -> Option<Arc<SloRegistry>> {
        self.0.get::<SloRegistry>(REGISTRY_KEY)
    }
}

impl SloSource for SloStatus {
    fn statuses(&self) -> Vec<serde_json::Value> {
        let Some(registry) = self.registry() else {
            return Vec::new();
        };
        registry
            .statuses(minute_of(unix_nanos()))
            .iter()
            .filter_map(|s| serde_json::to_value(s).ok())
            .collect()
    }

    fn status(&self, name: &str) -> Option<serde_json::Value> {
        let status = self.registry()?.status(name, minute_of(unix_nanos()))?;
        serde_json::to_value(status).ok()
    }

    fn slo_statuses(&self) -> Vec<crate::api::v1::SloStatus> {
        let Some(registry) = self.registry() else {
            return Vec::new();
        };
        registry
            .statuses(minute_of(unix_nanos()))
            .iter()
            .map(crate::api::v1::SloStatus::from)
            .collect()
    }

    fn slo_status(&self, name: &str) -> Option<crate::api::v1::SloStatus> {
        let status = self.registry()?.status(name, minute_of(unix_nanos()))?;
        Some(crate::api::v1::SloStatus::from(&status))
    }

    fn explain(&self, name: &str, window: Option<&str>) -> Option<Result<serde_json::Value, String>> {
        let registry = self.registry()?;
        let window = match window.map(crate::confmap::parse_duration).transpose() {
            Ok(window) => window,
            Err(error) => {
                // An unknown SLO is a 404 whatever the window says.
                registry.status(name, minute_of(unix_nanos()))?;
                return Some(Err(format!("window: {error}")));
            }
        };
        let explanation = registry.explain(name, window, unix_nanos())?;
        Some(explanation.and_then(|e| serde_json::to_value(e).map_err(|e| e.to_string())))
    }

    fn history(&self, name: &str, step: Option<&str>) -> Option<Result<serde_json::Value, String>> {
        let registry = self.registry()?;
        let now = minute_of(unix_nanos());
        let step = match step.map(crate::confmap::parse_duration).transpose() {
            Ok(step) => step,
            Err(error) => {
                // An unknown SLO is a 404 whatever the step says.
                registry.status(name, now)?;
                return Some(Err(format!("step: {error}")));
            }
        };
        let history = registry.history(name, step, now)?;
        Some(history.and_then(|h| serde_json::to_value(h).map_err(|e| e.to_string())))
    }
}
