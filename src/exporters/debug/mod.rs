//! `debug` — writes what it receives to stderr, as the Collector's debug exporter.
//! `logging`, the Collector's removed exporter, is a deprecated name of it: its
//! `loglevel` maps to `verbosity` (`debug` → `detailed`, `info` → `normal`, `warn`
//! and `error` → `basic`), and the two sampling keys mean the same (applied to
//! batches: the first `sampling_initial` each second in full, then every
//! `sampling_thereafter`-th; the others get their summary line).
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]

mod config;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use config::{DebugConfig, Verbosity};

use crate::component::registry::ExporterFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, ExporterConfig, ExporterContext, QueuedExporter, Signal, StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::exporters::{ExportBatch, ExportError, ExportOutcome, Exporter, HelperSettings};
use crate::pdata::{data_point_count, Telemetry};

/// Registry entry.
pub const FACTORY: ExporterFactory = ExporterFactory {
    type_name: "debug",
    aliases: &["logging"],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExporterConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<DebugConfig>(value)?))
}

impl DebugConfig {
    /// The one-attempt exporter, without queue or retries.
    pub fn exporter(&self, id: &ComponentId) -> Result<Arc<dyn Exporter>, StartError> {
        Ok(Arc::new(DebugExporter {
            id: id.to_string(),
            verbosity: self.verbosity(),
            sampler: Sampler {
                initial: self.sampling_initial,
                thereafter: self.sampling_thereafter.max(1),
                window: Mutex::new((Instant::now(), 0)),
            },
            to_stderr: self.use_internal_logger,
        }))
    }

    /// Queue, retry and timeout settings.
    pub fn helper(&self) -> HelperSettings {
        config::helper()
    }
}

/// The running exporter.
pub struct DebugExporter {
    id: String,
    verbosity: Verbosity,
    sampler: Sampler,
    to_stderr: bool,
}

/// Which batches are written in full: the first `initial` of each second, then every
/// `thereafter`-th.
struct Sampler {
    initial: u64,
    thereafter: u64,
    /// The current one-second window's start and the batches seen in it.
    window: Mutex<(Instant, u64)>,
}

impl Sampler {
    fn in_full(&self) -> bool {
        let mut window = self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if window.0.elapsed() >= Duration::from_secs(1) {
            *window = (Instant::now(), 0);
        }
        window.1 += 1;
        let n = window.1;
        n <= self.initial || (n - self.initial).is_multiple_of(self.thereafter)
    }
}

impl Exporter for DebugExporter {
    fn export<'a>(&'a self, batch: &'a ExportBatch) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        Box::pin(async move {
            let verbosity = if self.sampler.in_full() {
                self.verbosity
            } else {
                Verbosity::Basic
            };
            let text = render(&self.id, verbosity, batch);
            let written = if self.to_stderr {
                std::io::stderr().lock().write_all(text.as_bytes())
            } else {
                std::io::stdout().lock().write_all(text.as_bytes())
            };
            written.map_err(|e| ExportError::permanent(format!("writing the debug output: {e}")))?;
            Ok(ExportOutcome::default())
        })
    }
}

/// The text written for one batch.
pub fn render(id: &str, verbosity: Verbosity, batch: &ExportBatch) -> String {
    use std::fmt::Write;
    let data = batch.data();
    let mut out = String::new();
    let (what, resources) = match data {
        Telemetry::Traces(r) => ("spans", r.resource_spans.len()),
        Telemetry::Metrics(r) => ("data points", r.resource_metrics.len()),
        Telemetry::Logs(r) => ("log records", r.resource_logs.len()),
    };
    let _ = writeln!(
        out,
        "{id}: {} {} {what} in {resources} resource(s)",
        batch.signal(),
        batch.items()
    );
    match verbosity {
        Verbosity::Basic => {}
        Verbosity::Normal => match data {
            Telemetry::Traces(r) => {
                for span in r
                    .resource_spans
                    .iter()
                    .flat_map(|rs| &rs.scope_spans)
                    .flat_map(|ss| &ss.spans)
                {
                    let duration_ms = span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) as f64 / 1e6;
                    let _ = writeln!(
                        out,
                        "  {} trace_id={} span_id={} duration={duration_ms:.3}ms",
                        span.name,
                        hex::encode(&span.trace_id),
                        hex::encode(&span.span_id)
                    );
                }
            }
            Telemetry::Metrics(r) => {
                for metric in r
                    .resource_metrics
                    .iter()
                    .flat_map(|rm| &rm.scope_metrics)
                    .flat_map(|sm| &sm.metrics)
                {
                    let _ = writeln!(
                        out,
                        "  {} ({} point(s)) unit={:?}",
                        metric.name,
                        data_point_count(metric),
                        metric.unit
                    );
                }
            }
            Telemetry::Logs(r) => {
                for log in r
                    .resource_logs
                    .iter()
                    .flat_map(|rl| &rl.scope_logs)
                    .flat_map(|sl| &sl.log_records)
                {
                    let body = log
                        .body
                        .as_ref()
                        .and_then(|b| b.value.as_ref())
                        .map(|v| format!("{v:?}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  {} {body}",
                        if log.severity_text.is_empty() {
                            "-"
                        } else {
                            &log.severity_text
                        }
                    );
                }
            }
        },
        Verbosity::Detailed => {
            let json: serde_json::Value = serde_json::from_slice(&data.encode_json()).unwrap_or_default();
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&json).unwrap_or_default());
        }
    }
    out
}

impl ExporterConfig for DebugConfig {
    fn build(&self, ctx: &ExporterContext<'_>) -> Result<Arc<dyn QueuedExporter>, BuildError> {
        let exporter = self.exporter(ctx.id).map_err(|e| BuildError::new(e.message))?;
        crate::exporters::helper::queued(ctx, exporter, self.helper())
    }
}
