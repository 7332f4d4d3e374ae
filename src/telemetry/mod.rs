//! sloop's own telemetry (`service.telemetry`): structured logs (`logs`), and
//! self-metrics named like the Collector's (`otelcol_receiver_accepted_spans`,
//! `otelcol_exporter_queue_size`, ...) served for Prometheus by `pull` readers and
//! pushed over OTLP by `periodic` readers (`metrics.readers`), with the resource of
//! `resource`.
//!
//! - [`registry`]: the `metrics` recorder that keeps every series as values.
//! - [`prometheus`]: Prometheus text of a snapshot, with a pull reader's options.
//! - [`otlp_push`]: a snapshot as an OTLP request, and the periodic push.
//! - [`readers`]: starting the configured readers.
//! - [`resource`]: the self-telemetry resource.

pub mod otlp_push;
pub mod prometheus;
pub mod readers;
pub mod registry;
pub mod resource;

use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogEncoding, LogLevel, LogOutput, LogsConfig};
pub use registry::SelfMetricsRegistry;

/// Installs the global log subscriber. Later calls do nothing (tests call it often).
/// `RUST_LOG` overrides the configured level, e.g. `RUST_LOG=sloop=debug`. Fails
/// when a file of `output_paths` cannot be opened for appending.
pub fn init_logs(config: &LogsConfig) -> Result<(), String> {
    let level = match config.level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    };
    let writer = LogWriter::open(&config.outputs())?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(!config.disable_caller)
        .with_writer(writer);
    let _ = match config.encoding {
        LogEncoding::Console => builder.with_ansi(false).try_init(),
        LogEncoding::Json => builder.json().flatten_event(true).try_init(),
    };
    if config.sampling_requested() {
        tracing::info!(
            message = "service.telemetry.logs.sampling is not applied: sloop does not sample its logs (repeated problems are logged at a bounded rate where they happen)."
        );
    }
    Ok(())
}

/// Writes every log line to each of `output_paths`.
#[derive(Clone)]
struct LogWriter(Arc<[LogTarget]>);

enum LogTarget {
    Stderr,
    Stdout,
    File(File),
}

impl LogWriter {
    fn open(outputs: &[LogOutput]) -> Result<LogWriter, String> {
        let targets = outputs
            .iter()
            .map(|output| match output {
                LogOutput::Stderr => Ok(LogTarget::Stderr),
                LogOutput::Stdout => Ok(LogTarget::Stdout),
                LogOutput::File(path) => std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map(LogTarget::File)
                    .map_err(|e| {
                        format!(
                            "service.telemetry.logs.output_paths: cannot open {} for appending: {e}",
                            path.display()
                        )
                    }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LogWriter(targets.into()))
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Each formatted line arrives whole; a target that fails does not keep the
        // line from the others.
        let mut result = Ok(());
        for target in self.0.iter() {
            let written = match target {
                LogTarget::Stderr => std::io::stderr().write_all(buf),
                LogTarget::Stdout => std::io::stdout().write_all(buf),
                LogTarget::File(file) => {
                    let mut file: &File = file;
                    file.write_all(buf)
                }
            };
            result = result.and(written);
        }
        result.map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        for target in self.0.iter() {
            match target {
                LogTarget::Stderr => std::io::stderr().flush()?,
                LogTarget::Stdout => std::io::stdout().flush()?,
                LogTarget::File(file) => {
                    let mut file: &File = file;
                    file.flush()?
                }
            }
        }
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs the global metrics recorder and returns the handle that reads it.
/// Must run before components are built: they register their counters then.
pub fn install_metrics_recorder() -> Result<SelfMetricsRegistry, String> {
    let (recorder, registry) = registry::SnapshotRecorder::new();
    metrics::set_global_recorder(recorder).map_err(|e| format!("installing metrics recorder: {e}"))?;
    describe();
    Ok(registry)
}

fn describe() {
    use crate::component::Signal;
    metrics::describe_counter!(
        "otelcol_receiver_filelog_malformed_lines",
        "Lines the filelog receiver skipped because they are not of its `format`."
    );
    metrics::describe_counter!(
        "otelcol_receiver_filelog_operator_errors",
        "Entries a filelog operator failed on (handled as its on_error says)."
    );
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
