//! `memory_limiter` — refuses incoming data while the process uses too much memory,
//! so clients back off and retry instead of the process being OOM-killed, as the
//! Collector's memorylimiterprocessor does.
//!
//! ```yaml
//! processors:
//!   memory_limiter:
//!     check_interval: 1s          # required: how often memory usage is measured
//!     limit_mib: 512              # hard limit; or limit_percentage (one of the two)
//!     spike_limit_mib: 128        # default 20% of the limit; soft limit = limit - spike
//!     # limit_percentage: 80      # of total memory: the cgroup limit if any, else MemTotal
//!     # spike_limit_percentage: 20
//! ```
//!
//! **What is measured.** The process's resident set size (`VmRSS` in
//! `/proc/self/status`), not heap statistics: Rust has no garbage collector whose heap
//! could be measured apart from what the process holds, and RSS is what the kernel's
//! OOM killer and a container's memory limit count.
//!
//! **When data is refused.** A task started with the processor measures usage every
//! `check_interval` and sets a flag that every request reads (one atomic load, no
//! system call per request). While usage is at or above the soft limit, data is
//! refused with a retryable error, which the OTLP receiver answers with
//! RESOURCE_EXHAUSTED + RetryInfo (gRPC) or 429 + Retry-After (HTTP); the retry hint
//! is `check_interval`, at least one second. Once usage is below the soft limit again,
//! data is accepted. Each change is logged once (a warning when refusing starts, info
//! when it ends), not per request.
//!
//! **The hard limit.** The Collector forces a garbage collection there. Rust frees
//! memory when its owner drops it, so there is nothing to force: above the hard limit
//! sloop refuses, exactly as above the soft limit, and logs a warning when usage
//! crosses it. Memory the allocator keeps after it was freed still counts in RSS; that
//! is why the soft limit leaves headroom.
//!
//! **Where it goes.** First in every pipeline, as the Collector advises: a refusal is
//! only worth something before other processors spent memory on the data. Data that
//! arrives before the first check after start-up is measured against a first sample
//! taken in `start`. Each pipeline gets its own instance (and its own check task,
//! cheap: one small procfs read per interval); they measure the same process, so they
//! agree.
//!
//! Self-metrics: `otelcol_processor_refused_spans`, `..._metric_points` and
//! `..._log_records`, labelled `processor` = the processor id, and the gauge
//! `otelcol_processor_memory_limiter_rss_bytes` (the last measured usage).

mod config;
pub mod memory;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge};
use tokio_util::sync::CancellationToken;

pub use config::{Limits, MemoryLimiterConfig, MIB};

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, ConsumeError, Consumer, Lifecycle, Processor, ProcessorConfig, ProcessorContext, Signal, StartError,
};
use crate::config::{parse_block, ConfigError, RawValue};
use crate::pdata::Telemetry;

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "memory_limiter",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<MemoryLimiterConfig>(value)?))
}

impl ProcessorConfig for MemoryLimiterConfig {
    fn build(&self, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Arc<dyn Processor> {
        Arc::new(MemoryLimiter::new(
            self.clone(),
            ctx.id.to_string(),
            ctx.signal,
            next,
            MemorySources::system(),
        ))
    }
}

/// Reads a number of bytes (memory in use, memory available).
pub type ReadBytes = Arc<dyn Fn() -> std::io::Result<u64> + Send + Sync>;

/// Where the limiter reads memory figures; the system's in production, scripted in
/// tests so they do not depend on this process's real memory.
#[derive(Clone)]
pub struct MemorySources {
    /// Memory in use: the resident set size.
    pub usage: ReadBytes,
    /// Total memory, for percentage limits.
    pub total: ReadBytes,
}

impl MemorySources {
    /// `/proc/self/status` and the cgroup limit or `/proc/meminfo`.
    pub fn system() -> Self {
        Self {
            usage: Arc::new(memory::resident_set_size),
            total: Arc::new(memory::total_memory),
        }
    }
}

/// The running processor of one pipeline.
pub struct MemoryLimiter {
    config: MemoryLimiterConfig,
    next: Arc<dyn Consumer>,
    state: Arc<LimiterState>,
    total: ReadBytes,
    refused: Counter,
    stop: CancellationToken,
    sampler: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the check task writes and every request reads.
struct LimiterState {
    id: String,
    usage_source: ReadBytes,
    /// Set in `start`, once the limits are known (a percentage needs the system).
    limits: OnceLock<Limits>,
    /// Refuse incoming data: usage was at or above the soft limit at the last check.
    refusing: AtomicBool,
    /// Usage was at or above the hard limit at the last check (for logging).
    above_hard: AtomicBool,
    /// The last measurement failed (logged once, not every interval).
    read_failing: AtomicBool,
    /// Bytes measured at the last check.
    last_usage: AtomicU64,
    usage_gauge: Gauge,
}

impl MemoryLimiter {
    /// A limiter in front of `next`, reading memory from `sources`.
    pub fn new(
        config: MemoryLimiterConfig,
        id: String,
        signal: Signal,
        next: Arc<dyn Consumer>,
        sources: MemorySources,
    ) -> Self {
        let refused = metrics::counter!(
            format!("otelcol_processor_refused_{}", signal.item_name()),
            "processor" => id.clone()
        );
        let usage_gauge = metrics::gauge!("otelcol_processor_memory_limiter_rss_bytes", "processor" => id.clone());
        Self {
            config,
            next,
            state: Arc::new(LimiterState {
                id,
                usage_source: sources.usage,
                limits: OnceLock::new(),
                refusing: AtomicBool::new(false),
                above_hard: AtomicBool::new(false),
                read_failing: AtomicBool::new(false),
                last_usage: AtomicU64::new(0),
                usage_gauge,
            }),
            total: sources.total,
            refused,
            stop: CancellationToken::new(),
            sampler: Mutex::new(None),
        }
    }

    /// Measures now and updates the refusing state (the check task does this every
    /// `check_interval`).
    pub fn check(&self) {
        self.state.check();
    }

    /// Whether incoming data is refused at the moment.
    pub fn is_refusing(&self) -> bool {
        self.state.refusing.load(Ordering::Relaxed)
    }

    /// How long refused clients are asked to wait: the state cannot change sooner
    /// than the next check.
    fn retry_after(&self) -> Duration {
        self.config.check_interval.max(Duration::from_secs(1))
    }
}

impl LimiterState {
    /// Measures and records; a failed read keeps the last state (it says nothing
    /// about memory) and is logged once until reads work again.
    fn check(&self) {
        match (self.usage_source)() {
            Ok(usage) => {
                if self.read_failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(message = "Memory usage can be read again.", processor = %self.id);
                }
                self.record(usage);
            }
            Err(error) => {
                if !self.read_failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(message = "Cannot read memory usage; keeping the last state.", processor = %self.id, %error);
                }
            }
        }
    }

    /// Updates the refusing state from one measurement, logging changes.
    fn record(&self, usage: u64) {
        let Some(limits) = self.limits.get() else { return };
        self.last_usage.store(usage, Ordering::Relaxed);
        self.usage_gauge.set(usage as f64);
        let above_soft = usage >= limits.soft;
        let above_hard = usage >= limits.hard;
        if above_hard && !self.above_hard.load(Ordering::Relaxed) {
            tracing::warn!(
                message = "Memory usage is above the hard limit; refusing data (Rust has no garbage collection to force).",
                processor = %self.id,
                usage_mib = usage / MIB,
                hard_limit_mib = limits.hard / MIB,
            );
        }
        self.above_hard.store(above_hard, Ordering::Relaxed);
        let was_refusing = self.refusing.swap(above_soft, Ordering::Relaxed);
        match (was_refusing, above_soft) {
            (false, true) => tracing::warn!(
                message = "Memory usage is above the soft limit; refusing data.",
                processor = %self.id,
                usage_mib = usage / MIB,
                soft_limit_mib = limits.soft / MIB,
            ),
            (true, false) => tracing::info!(
                message = "Memory usage is back below the soft limit; accepting data.",
                processor = %self.id,
                usage_mib = usage / MIB,
                soft_limit_mib = limits.soft / MIB,
            ),
            _ => {}
        }
    }
}

impl Consumer for MemoryLimiter {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            if self.is_refusing() {
                self.refused.increment(data.item_count() as u64);
                let soft = self.state.limits.get().map_or(0, |l| l.soft);
                return Err(ConsumeError::retryable(
                    format!(
                        "{}: data refused due to high memory usage ({} MiB in use, soft limit {} MiB)",
                        self.state.id,
                        self.state.last_usage.load(Ordering::Relaxed) / MIB,
                        soft / MIB
                    ),
                    Some(self.retry_after()),
                ));
            }
            self.next.consume(data).await
        })
    }
}

impl Lifecycle for MemoryLimiter {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        // Spawn inside the future, so the check task runs on the runtime that awaits it.
        Box::pin(async move {
            let mut sampler = self.sampler.lock().unwrap_or_else(|p| p.into_inner());
            if sampler.is_some() || self.stop.is_cancelled() {
                return Ok(());
            }
            let fail = |message: String| StartError {
                component: self.state.id.clone(),
                message,
            };
            let limits = self.config.limits(|| (self.total)()).map_err(fail)?;
            let _ = self.state.limits.set(limits);
            // A first measurement now, so data arriving before the first tick is
            // judged by it, and a system without procfs fails at start, not later.
            let usage = (self.state.usage_source)().map_err(|e| fail(format!("cannot read memory usage: {e}")))?;
            self.state.record(usage);
            tracing::info!(
                message = "Memory limiter started.",
                processor = %self.state.id,
                hard_limit_mib = limits.hard / MIB,
                soft_limit_mib = limits.soft / MIB,
                usage_mib = usage / MIB,
            );
            let state = self.state.clone();
            let stop = self.stop.clone();
            let interval = self.config.check_interval;
            *sampler = Some(tokio::spawn(async move {
                let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = ticks.tick() => state.check(),
                        _ = stop.cancelled() => return,
                    }
                }
            }));
            Ok(())
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop.cancel();
            let sampler = self.sampler.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(sampler) = sampler {
                let _ = sampler.await;
            }
        })
    }
}
