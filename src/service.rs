//! Running a whole config: self-metrics, the topology, and an orderly shutdown.

use std::future::Future;
use std::net::SocketAddr;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::SloSource;
use crate::component::{ServiceHandles, StateStore};
use crate::config::{Config, MetricsLevel};
use crate::graph::{ShutdownReport, Topology};
use crate::processors::slo::{minute_of, unix_nanos, SloRegistry, REGISTRY_KEY};

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A component failed to build or start.
    #[error(transparent)]
    Start(#[from] crate::component::StartError),
    /// The admin endpoint (self-metrics, SLO status) could not be served.
    #[error("service.telemetry.metrics.address: cannot listen on {address}: {error}")]
    Metrics {
        /// Where.
        address: String,
        /// Why.
        error: std::io::Error,
    },
}

/// Builds and starts `config`, runs until `stop` resolves, then shuts down within
/// `service.shutdown_timeout` and reports what could not be delivered.
pub async fn run(
    config: Config,
    metrics: Option<PrometheusHandle>,
    stop: impl Future<Output = ()>,
) -> Result<ShutdownReport, RunError> {
    let service = ServiceHandles::default();
    let topology = Topology::build(&config, &service)?;
    let telemetry_stop = CancellationToken::new();
    let mut metrics_server = None;
    if config.telemetry.metrics.level != MetricsLevel::None {
        let address = &config.telemetry.metrics.address;
        // Checked at config time.
        let parsed: SocketAddr = address.parse().map_err(|_| RunError::Metrics {
            address: address.clone(),
            error: std::io::Error::other("not an ip:port address"),
        })?;
        let server = crate::admin::serve(
            parsed,
            metrics,
            std::sync::Arc::new(SloStatus(service.state.clone())),
            telemetry_stop.clone(),
        )
        .await
        .map_err(|error| RunError::Metrics {
            address: address.clone(),
            error,
        })?;
        metrics_server = Some(server);
    }
    if let Err(error) = topology.start().await {
        telemetry_stop.cancel();
        return Err(error.into());
    }
    tracing::info!(message = "Everything is ready. Begin running and processing data.");
    stop.await;
    tracing::info!(message = "Shutdown requested: stopping receivers, flushing pipelines.", timeout = ?config.shutdown_timeout);
    // The whole shutdown, whatever clients do, fits in shutdown_timeout: the topology
    // splits it (receivers at most a quarter, then processors and exporter queues),
    // and the admin server gets only what is left of it.
    let deadline = tokio::time::Instant::now() + config.shutdown_timeout;
    let report = topology.shutdown(config.shutdown_timeout).await;
    if report.undelivered.is_empty() {
        tracing::info!(message = "Shutdown complete. Everything accepted was delivered.");
    } else {
        for (exporter, items) in &report.undelivered {
            tracing::error!(message = "Shutdown deadline passed with data undelivered.", exporter = %exporter, undelivered_items = items);
        }
    }
    telemetry_stop.cancel();
    if let Some(server) = metrics_server {
        let _ = tokio::time::timeout_at(deadline, server).await;
    }
    Ok(report)
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
struct SloStatus(std::sync::Arc<StateStore>);

impl SloStatus {
    fn registry(&self) -> Option<std::sync::Arc<SloRegistry>> {
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
}
