//! `probabilistic_sampler` — keeps a fixed share of traces (and log records), the
//! same share on every instance with the same settings, like the Collector's
//! probabilisticsamplerprocessor.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Decisions depend only on the trace id (and the settings), so every span of a
//! trace gets the same decision on every instance: sampled traces stay complete.
//!
//! **Modes.** Without `mode`, as in the Collector: `hash_seed` when `hash_seed` is set
//! (or for logs with `attribute_source: record`), `proportional` otherwise.
//! - `hash_seed`: the processor's original algorithm. FNV-1a (32 bits) of the seed
//!   (4 bytes, little-endian) and the 16 trace-id bytes; the item is kept when
//!   `hash % 16384 < sampling_percentage * 163.84` (computed in 32-bit floats and
//!   rounded down, as the Collector does). Different seeds make independent
//!   decisions, for layered samplers. Kept spans get `ot=rv:…;th:…` in their
//!   tracestate so later consistent samplers agree; a span whose tracestate already
//!   has `rv` or `th` counts as lacking randomness (see `fail_closed`).
//! - `proportional` and `equalizing`: OpenTelemetry consistent probability sampling.
//!   The randomness R is the `rv` of the tracestate's `ot` entry, else the low 56
//!   bits of the trace id; the rejection threshold is T = (1 − p) · 2^56 rounded to
//!   `sampling_precision` hex digits; the item is kept when R ≥ T, and the threshold
//!   is written as `ot=th:<hex>` (trailing zeros removed: 25% is `th:c`). In
//!   `proportional` mode the probability multiplies with an arriving one (`th:8`,
//!   50%, sampled again at 50% gives `th:c`, 25%); in `equalizing` mode the stricter
//!   threshold wins (an arriving `th:c` stays when sampling at 50%). An arriving
//!   threshold the randomness does not pass is removed and counts as an error.
//!
//! **Precision.** As in the Collector, one hex digit is added per leading `0` or `f`
//! of the threshold: 1% (T = `fd70a3d7…`) is written `th:fd70a` with the default
//! precision 4 and `th:fd70a4` (the specification's example) with 5.
//!
//! **Priority.** A span attribute `sampling.priority` (OpenTracing) of 0 drops the
//! span, above 0 keeps it. For logs, `sampling_priority` names a record attribute
//! whose number replaces the percentage for that record: 0 drops, 100 keeps.
//!
//! **Logs.** Randomness is the record's `sampling.randomness` attribute (in the
//! consistent modes), else its trace id (unless `attribute_source: record`), else a
//! hash of the `from_attribute` attribute (with `hash_seed`). Kept records get `sampling.threshold` (and, in
//! `hash_seed` mode, `sampling.randomness`) attributes.
//!
//! **fail_closed** (default true): an item without usable randomness (no or an
//! all-zero trace id, a malformed tracestate or sampling attribute, or values this
//! mode cannot honour) is dropped; with `false` it is kept. Unlike the Collector,
//! an empty trace id is never hashed in `hash_seed` mode: it is missing randomness.
//!
//! Self-metrics: `otelcol_processor_probabilistic_sampler_count_traces_sampled` and
//! `..._count_logs_sampled`, labelled `sampled` (`true`/`false`), `policy` (where the
//! randomness came from) and `processor` (the id).

mod config;
mod sampler;
#[cfg(test)]
mod tests;
mod tracestate;

use std::sync::Arc;

use metrics::Counter;

pub use config::{AttributeSource, ProbabilisticSamplerConfig, SamplerMode};
pub use sampler::{fnv_hash, probability_to_threshold, randomness_from_bytes, Policy, Sampler};
pub use tracestate::{TraceState, TraceStateError};

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, ConsumeError, Consumer, Lifecycle, Processor, ProcessorConfig, ProcessorContext, Signal,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::Telemetry;

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "probabilistic_sampler",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<ConfigError>> {
    let config: ProbabilisticSamplerConfig = parse_block(value)?;
    Ok(Box::new(config))
}

impl ProcessorConfig for ProbabilisticSamplerConfig {
    fn build(&self, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, BuildError> {
        let logs = ctx.signal == Signal::Logs;
        let name = if logs {
            "otelcol_processor_probabilistic_sampler_count_logs_sampled"
        } else {
            "otelcol_processor_probabilistic_sampler_count_traces_sampled"
        };
        let id = ctx.id.to_string();
        let counters = Policy::ALL.map(|policy| {
            [false, true].map(|sampled| {
                metrics::counter!(
                    name,
                    "sampled" => if sampled { "true" } else { "false" },
                    "policy" => policy.as_str(),
                    "processor" => id.clone()
                )
            })
        });
        Ok(Arc::new(ProbabilisticSampler {
            sampler: Sampler::new(self, logs),
            next,
            counters,
        }))
    }

    fn check_signal(&self, signal: Signal) -> Result<(), String> {
        match signal {
            Signal::Metrics => Err("it samples traces and log records".into()),
            _ => Ok(()),
        }
    }
}

/// The running processor.
pub struct ProbabilisticSampler {
    sampler: Sampler,
    next: Arc<dyn Consumer>,
    /// By policy (in [`Policy::ALL`] order), then not sampled / sampled.
    counters: [[Counter; 2]; 6],
}

impl ProbabilisticSampler {
    fn count(&self, policy: Policy, sampled: bool) {
        let i = Policy::ALL.iter().position(|p| *p == policy).unwrap_or(0);
        self.counters[i][usize::from(sampled)].increment(1);
    }

    /// Drops what is not sampled, in place; empty scopes and resources go too.
    fn sample(&self, data: &mut Telemetry) {
        match data {
            Telemetry::Traces(request) => request.resource_spans.retain_mut(|rs| {
                rs.scope_spans.retain_mut(|ss| {
                    ss.spans.retain_mut(|span| {
                        let (sampled, policy) = self.sampler.sample_span(span);
                        self.count(policy, sampled);
                        sampled
                    });
                    !ss.spans.is_empty()
                });
                !rs.scope_spans.is_empty()
            }),
            Telemetry::Logs(request) => request.resource_logs.retain_mut(|rl| {
                rl.scope_logs.retain_mut(|sl| {
                    sl.log_records.retain_mut(|log| {
                        let (sampled, policy) = self.sampler.sample_log(log);
                        self.count(policy, sampled);
                        sampled
                    });
                    !sl.log_records.is_empty()
                });
                !rl.scope_logs.is_empty()
            }),
            Telemetry::Metrics(_) => {}
        }
    }
}

impl Consumer for ProbabilisticSampler {
    fn consume(&self, mut data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            self.sample(&mut data);
            if data.is_empty() {
                return Ok(());
            }
            self.next.consume(data).await
        })
    }
}

impl Lifecycle for ProbabilisticSampler {}
