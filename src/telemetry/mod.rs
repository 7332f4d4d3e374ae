//! sloop's own telemetry: structured logs (`service.telemetry.logs`) and self-metrics
//! in Prometheus text format (`service.telemetry.metrics`), named like the
//! Collector's (`otelcol_receiver_accepted_spans`, `otelcol_exporter_queue_size`, ...).

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::config::{LogEncoding, LogLevel, LogsConfig};

/// Installs the global log subscriber. Later calls do nothing (tests call it often).
/// `RUST_LOG` overrides the configured level, e.g. `RUST_LOG=sloop=debug`.
pub fn init_logs(config: &LogsConfig) {
    let level = match config.level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.encoding {
        LogEncoding::Console => builder.with_ansi(false).try_init(),
        LogEncoding::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Installs the global metrics recorder and returns the handle that renders it.
/// Must run before components are built: they register their counters then.
pub fn install_metrics_recorder() -> Result<PrometheusHandle, String> {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| format!("installing metrics recorder: {e}"))?;
    describe();
    Ok(handle)
}

fn describe() {
    use crate::component::Signal;
    metrics::describe_counter!(
        "otelcol_receiver_unauthenticated_requests",
        "Requests a receiver refused because their credentials did not pass its authenticator (auth.authenticator)."
    );
    for signal in Signal::ALL {
        let item = signal.item_name();
        metrics::describe_counter!(
            format!("otelcol_receiver_accepted_{item}"),
            format!("Number of {item} successfully pushed into the pipeline.")
        );
        metrics::describe_counter!(
            format!("otelcol_receiver_refused_{item}"),
            format!("Number of {item} that could not be pushed into the pipeline.")
        );
        metrics::describe_counter!(
            format!("otelcol_exporter_sent_{item}"),
            format!("Number of {item} successfully sent to destination.")
        );
        metrics::describe_counter!(
            format!("otelcol_exporter_send_failed_{item}"),
            format!("Number of {item} in failed attempts to send to destination.")
        );
        metrics::describe_counter!(
            format!("otelcol_exporter_enqueue_failed_{item}"),
            format!("Number of {item} failed to be added to the sending queue.")
        );
        metrics::describe_counter!(
            format!("otelcol_processor_refused_{item}"),
            format!("Number of {item} a processor refused (memory_limiter: usage at or above its soft limit).")
        );
    }
    metrics::describe_gauge!(
        "otelcol_exporter_queue_size",
        "Current size of the retry queue (in the units of sending_queue.sizer; batches by default)."
    );
    metrics::describe_gauge!(
        "otelcol_exporter_queue_capacity",
        "Fixed capacity of the retry queue (in the units of sending_queue.sizer; batches by default)."
    );
    metrics::describe_gauge!(
        "otelcol_exporter_queue_disk_bytes",
        "Bytes of a persistent queue's segment files on disk."
    );
    metrics::describe_counter!(
        "otelcol_exporter_queue_damaged_records",
        "Damaged regions of a persistent queue skipped on open or read (a torn last write, garbage, a checksum mismatch)."
    );
    metrics::describe_counter!(
        "otelcol_exporter_queue_damaged_bytes",
        "Bytes in the damaged regions of a persistent queue that were skipped."
    );
    metrics::describe_counter!(
        "otelcol_processor_tail_sampling_global_count_traces_sampled",
        "Traces decided by the tail_sampling processor, kept (sampled=true) or dropped."
    );
    metrics::describe_counter!(
        "otelcol_processor_tail_sampling_count_traces_sampled",
        "Traces each tail_sampling policy would keep (sampled=true) or drop."
    );
    metrics::describe_counter!(
        "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early",
        "Traces decided before decision_wait because num_traces was reached."
    );
    metrics::describe_gauge!(
        "otelcol_processor_memory_limiter_rss_bytes",
        "Resident set size of the process at the memory_limiter's last check."
    );
    metrics::describe_gauge!(
        "otelcol_processor_memory_limiter_usage_bytes",
        "Memory sloop holds (live heap plus non-heap resident memory at start) at the memory_limiter's last check; the limits apply to it."
    );
    metrics::describe_gauge!(
        "otelcol_processor_tail_sampling_traces_on_memory",
        "Traces the tail_sampling processor holds, waiting for their decision."
    );
    metrics::describe_gauge!(
        "otelcol_loadbalancer_num_backends",
        "Backends the loadbalancing exporter routes to right now."
    );
    metrics::describe_counter!(
        "otelcol_loadbalancer_num_resolutions",
        "Resolutions of the loadbalancing exporter's resolver, by success."
    );
    metrics::describe_counter!(
        "otelcol_loadbalancer_backend_outcome",
        "Parts of requests the loadbalancing exporter queued (success=true) or could not queue for a backend."
    );
    metrics::describe_counter!(
        "otelcol_loadbalancer_rerouted_items",
        "Items a removed backend had not delivered, routed again to the remaining backends."
    );
    metrics::describe_counter!(
        "sloop_listener_accept_errors",
        "Failed accepts on a listener (out of file descriptors and the like); each is followed by a back-off."
    );
    metrics::describe_gauge!("sloop_receiver_connections", "Connections open on a receiver protocol.");
    metrics::describe_counter!(
        "sloop_receiver_connections_closed",
        "Connections a receiver closed, by reason: max_connections, silent, read_header_timeout, idle, max_connection_age."
    );
}
