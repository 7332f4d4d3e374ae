//! Starting `service.telemetry.metrics.readers`: each `pull` reader is its own
//! listener serving `/metrics` (with its Prometheus options) and sloop's SLO status
//! API; each `periodic` reader a task pushing OTLP.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::otlp_push::{run_periodic, OtlpPusher};
use super::prometheus::render;
use super::registry::SelfMetricsRegistry;
use crate::admin::{MetricsText, SloSource};
use crate::config::{MetricsConfig, PrometheusReader};

/// A reader that could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    /// A pull reader's listener.
    #[error("{path}: cannot listen on {address}: {error}")]
    Listen {
        /// The reader's config path.
        path: String,
        /// `host:port` as configured.
        address: String,
        /// Why.
        error: std::io::Error,
    },
    /// A periodic reader's client.
    #[error("{path}: {message}")]
    Push {
        /// The reader's config path.
        path: String,
        /// Why.
        message: String,
    },
}

/// One pull reader's view of the self-metrics.
struct ReaderText {
    registry: SelfMetricsRegistry,
    options: PrometheusReader,
    resource: Arc<[(String, String)]>,
}

impl MetricsText for ReaderText {
    fn render(&self) -> String {
        render(&self.registry.snapshot(), &self.options, &self.resource)
    }
}

/// Starts every reader `config` asks for; they run until `stop`. Without a
/// registry (the recorder could not be installed), pull readers answer 404 on
/// `/metrics` and periodic readers are skipped. On an error, readers already
/// started are stopped by the caller cancelling `stop`.
pub async fn start(
    config: &MetricsConfig,
    registry: Option<&SelfMetricsRegistry>,
    resource: &[(String, String)],
    slos: Arc<dyn SloSource>,
    stop: &CancellationToken,
) -> Result<Vec<JoinHandle<()>>, ReaderError> {
    if config.address.is_some() {
        tracing::warn!(
            message = "service::telemetry::metrics::address is being deprecated in favor of service::telemetry::metrics::readers"
        );
    }
    let resource: Arc<[(String, String)]> = resource.into();
    let mut tasks = Vec::new();
    for (path, reader) in config.readers_to_run() {
        if let Some(prometheus) = reader.pull.and_then(|p| p.exporter.prometheus) {
            let address = format!("{}:{}", prometheus.host, prometheus.port);
            let listen_error = |error| ReaderError::Listen {
                path: path.clone(),
                address: address.clone(),
                error,
            };
            let socket = tokio::net::lookup_host((prometheus.host.as_str(), prometheus.port))
                .await
                .map_err(listen_error)?
                .next()
                .ok_or_else(|| listen_error(std::io::Error::other("the host resolves to no address")))?;
            let text = registry.map(|registry| -> Arc<dyn MetricsText> {
                Arc::new(ReaderText {
                    registry: registry.clone(),
                    options: prometheus.clone(),
                    resource: resource.clone(),
                })
            });
            let server = crate::admin::serve(socket, text, slos.clone(), stop.clone())
                .await
                .map_err(listen_error)?;
            tasks.push(server);
        } else if let Some(periodic) = reader.periodic {
            let (Some(otlp), Some(registry)) = (&periodic.exporter.otlp, registry) else {
                continue;
            };
            let pusher = OtlpPusher::new(otlp).map_err(|message| ReaderError::Push {
                path: format!("{path}.periodic.exporter.otlp"),
                message,
            })?;
            tracing::info!(message = "Pushing self-metrics over OTLP.", endpoint = %otlp.endpoint, protocol = %otlp.protocol, interval = ?periodic.interval);
            tasks.push(tokio::spawn(run_periodic(
                pusher,
                periodic.clone(),
                registry.clone(),
                resource.to_vec(),
                stop.clone(),
            )));
        }
    }
    Ok(tasks)
}
