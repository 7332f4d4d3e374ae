//! Running a whole config: self-metrics, the topology, and an orderly shutdown.

use std::future::Future;
use std::net::SocketAddr;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, MetricsLevel};
use crate::topology::{ShutdownReport, Topology};

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
    let topology = Topology::build(&config)?;
    let telemetry_stop = CancellationToken::new();
    let mut metrics_server = None;
    if config.telemetry.metrics.level != MetricsLevel::None {
        let address = &config.telemetry.metrics.address;
        // Checked at config time.
        let parsed: SocketAddr = address.parse().map_err(|_| RunError::Metrics {
            address: address.clone(),
            error: std::io::Error::other("not an ip:port address"),
        })?;
        let server = crate::admin::serve(parsed, metrics, topology.service().slos.clone(), telemetry_stop.clone())
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
