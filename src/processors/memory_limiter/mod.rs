//! `memory_limiter` — refuses incoming data while sloop holds too much memory, so
//! clients back off and retry instead of the process being OOM-killed, as the
//! Collector's memorylimiterprocessor does.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! **What is measured: the memory sloop holds, which falls when load falls.** Usage
//! is the live heap — the bytes the global allocator has handed out and not had
//! back, counted by the `sloop` binary's allocator wrapper (`cap::Cap` around glibc's
//! malloc or mimalloc, see `src/main.rs`) — plus the resident memory that is not heap
//! (code, thread stacks), measured once at start as RSS minus heap. The Collector
//! measures the heap too (Go's `MemStats.Alloc`), not RSS. RSS alone does not fall:
//! glibc keeps the pages it freed, so after a burst a limiter comparing RSS refused
//! every request for minutes with a healthy backend and empty queues, and opening
//! and closing 10,000 idle connections was enough to start that. The live heap falls
//! the moment requests, batches and queued data are dropped, so refusals end at the
//! first check after the pressure does. It counts every byte sloop holds wherever it
//! is held — decoded requests, batches, exporter queues, and each open connection's
//! buffers, so idle connections count in proportion to what they really hold —
//! without a hook in each component, which a counter of in-flight bytes would need
//! (and it would still miss connection buffers). Ruled out: `malloc_trim` and
//! `mallinfo2` need `unsafe`, which this crate forbids; jemalloc's statistics mean
//! replacing the allocator. The price is one atomic add per allocation and per free.
//!
//! **RSS is the backstop.** Memory the heap counter cannot see (C code calling
//! `malloc` itself, fragmentation) still shows in RSS, which the OOM killer counts:
//! sloop also refuses while RSS is at or above the *soft* limit and usage is within
//! two spikes of it (`limit - 3 × spike`).
//! The second condition keeps a burst's leftovers from refusing forever: when sloop
//! holds little, the rest of RSS is memory the allocator keeps for reuse, which
//! refusing data cannot give back and new data reuses before RSS grows. A program that uses this library
//! without registering a heap counter ([`measure_live_heap_with`]) measures RSS
//! alone, with the old stickiness; the start-up log line says which
//! (`measure="heap"` or `measure="rss"`).
//!
//! **When data is refused.** A task started with the processor measures every
//! `check_interval` and sets a flag that every request reads (one atomic load, no
//! system call per request). While data is flowing, a request also measures again
//! when the last measurement is more than 10 ms old (one `/proc` read, for at most a
//! hundred requests a second): under a flood, a second between checks lets memory
//! overshoot the limit by whatever arrives in that second, which the overload
//! benchmark showed as RSS 10% over `limit_mib`. While usage is at or above the soft
//! limit, data is refused with a retryable error, which the OTLP receiver answers with
//! RESOURCE_EXHAUSTED + RetryInfo (gRPC) or 429 + Retry-After (HTTP); the retry hint
//! is `check_interval`, at least one second. Once usage is below the soft limit again,
//! data is accepted. Each change is logged once (a warning when refusing starts, info
//! when it ends), not per request.
//!
//! **Readiness.** While any limiter refuses, the `health_check` extension's readiness
//! (`/readyz` and its `path`) answers 503, so a load balancer sends to another
//! replica; it answers 200 again when the limiter accepts again. Liveness (`/livez`)
//! stays 200: a process under pressure is alive and must not be restarted.
//!
//! **The hard limit.** The Collector forces a garbage collection there. Rust frees
//! memory when its owner drops it, so there is nothing to force: above the hard limit
//! sloop refuses, exactly as above the soft limit, and logs a warning when usage
//! crosses it.
//!
//! **Where it goes.** First in every pipeline, as the Collector advises: a refusal is
//! only worth something before other processors spent memory on the data. Data that
//! arrives before the first check after start-up is measured against a first sample
//! taken in `start`. As in the Collector, one `memory_limiter` id listed in several
//! pipelines is one limiter: the pipelines' processors share its check task and its
//! state, so each change of state is logged once.
//!
//! Self-metrics: `otelcol_processor_refused_spans`, `..._metric_points` and
//! `..._log_records`, labelled `processor` = the processor id, and the gauges
//! `otelcol_processor_memory_limiter_usage_bytes` (the last measured usage, which the
//! limits apply to) and `otelcol_processor_memory_limiter_rss_bytes` (the last RSS).

mod config;
mod memory;
#[cfg(test)]
mod tests;
mod usage;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::{Limits, MemoryLimiterConfig, MIB};
pub use memory::measure_live_heap_with;
pub use usage::{judge, Sample, Verdict};

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, ConsumeError, Consumer, Lifecycle, Pressure, Processor, ProcessorConfig, ProcessorContext,
    Signal, StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::pdata::{Encoded, Telemetry};

/// How stale the last measurement may be before a request measures again.
const DATA_PATH_CHECK: Duration = Duration::from_millis(10);

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "memory_limiter",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<ConfigError>> {
    let config = parse_block::<MemoryLimiterConfig>(value)?;
    Ok(Box::new(MemoryLimiterComponent::new(config, MemorySources::system())))
}

/// A parsed `memory_limiter` block. Every pipeline that lists it gets its own
/// processor, but they share one [`MemoryCheck`], as the Collector shares one memory
/// limiter per id: one check task, one log line per change of state. The check is
/// runtime state, so it lives in the service's state store under
/// `processors/<id>`, not here: a reload that leaves the block unchanged keeps it
/// (and what it measured), a changed block gets a fresh one.
#[derive(Debug)]
pub struct MemoryLimiterComponent {
    config: MemoryLimiterConfig,
    sources: MemorySources,
    /// What a kept check must have been made for.
    fingerprint: String,
}

impl MemoryLimiterComponent {
    /// A component reading memory from `sources`.
    pub fn new(config: MemoryLimiterConfig, sources: MemorySources) -> Self {
        Self {
            fingerprint: format!("{config:?}"),
            config,
            sources,
        }
    }
}

impl ProcessorConfig for MemoryLimiterComponent {
    fn build(&self, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, BuildError> {
        let check = ctx
            .service
            .state
            .claim(&format!("processors/{}", ctx.id), &self.fingerprint, || {
                MemoryCheck::new(
                    self.config.clone(),
                    ctx.id.to_string(),
                    self.sources.clone(),
                    ctx.service.memory_pressure.clone(),
                )
            })
            .value;
        Ok(Arc::new(MemoryLimiter::new(check, ctx.signal, next)))
    }
}

/// Reads a number of bytes from the system (memory in use, memory available).
pub type ReadBytes = Arc<dyn Fn() -> std::io::Result<u64> + Send + Sync>;

/// Reads a counter that cannot fail (live heap bytes).
pub type ReadCounter = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Where the limiter reads memory figures; the system's in production, scripted in
/// tests so they do not depend on this process's real memory.
#[derive(Clone)]
pub struct MemorySources {
    /// The resident set size.
    pub rss: ReadBytes,
    /// Live heap bytes; `None` when no counting allocator is registered.
    pub heap: Option<ReadCounter>,
    /// Total memory, for percentage limits.
    pub total: ReadBytes,
}

impl MemorySources {
    /// `/proc/self/status`, the heap counter registered with
    /// [`measure_live_heap_with`] (if any), and the cgroup limit or `/proc/meminfo`.
    pub fn system() -> Self {
        Self {
            rss: Arc::new(memory::resident_set_size),
            heap: memory::live_heap_reader().map(|read| Arc::new(read) as ReadCounter),
            total: Arc::new(memory::total_memory),
        }
    }

    /// One measurement.
    fn sample(&self) -> std::io::Result<Sample> {
        Ok(Sample {
            rss: (self.rss)()?,
            heap: self.heap.as_ref().map(|read| read()),
        })
    }
}

impl std::fmt::Debug for MemorySources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemorySources")
    }
}

/// The measuring half of one `memory_limiter`, shared by its pipelines: its config,
/// the refusing flag every request reads, and the task that measures.
pub struct MemoryCheck {
    config: MemoryLimiterConfig,
    state: Arc<LimiterState>,
    total: ReadBytes,
    run: Mutex<CheckRun>,
}

impl std::fmt::Debug for MemoryCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCheck").field("id", &self.state.id).finish()
    }
}

/// Who uses the check, and its task while it runs.
///
/// The task starts with the first processor that starts and stops when the last
/// processor using the check is shut down (or dropped). Counting the processors
/// that exist rather than those that started keeps the check running across a
/// reload whatever the order: the new graph's processors (kept check, same config)
/// exist before the old graph's are shut down, so the old ones are never the last.
/// The claim's `handed_over` cannot tell this apart: every pipeline's processor
/// claims the one check, so each looks handed over to the next one built.
#[derive(Default)]
struct CheckRun {
    /// Processors using this check that are not shut down.
    users: usize,
    task: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

/// What the check task writes and every request reads.
struct LimiterState {
    id: String,
    sources: MemorySources,
    /// Resident memory that is not heap, measured at start.
    non_heap: AtomicU64,
    /// Readiness is off while this (or another) limiter refuses.
    pressure: Arc<Pressure>,
    /// The soft limit in bytes, for refusal messages; set at start (a percentage
    /// needs the system).
    soft_limit: AtomicU64,
    /// Refuse incoming data: what the last check said (see [`judge`]).
    refusing: AtomicBool,
    /// The last check refused for a hard limit (for logging).
    above_hard: AtomicBool,
    /// The last measurement failed (logged once, not every interval).
    read_failing: AtomicBool,
    /// Usage (see [`Verdict::usage`]) at the last check.
    last_usage: AtomicU64,
    /// The limits, set at start.
    hard_limit: AtomicU64,
    /// When the check task started (the clock the data path measures against).
    epoch: std::sync::OnceLock<Instant>,
    /// Nanoseconds after `epoch` of the last measurement.
    last_check_ns: AtomicU64,
    /// Whether the check task runs; a stopped limiter measures nothing.
    measuring: AtomicBool,
    usage_gauge: Gauge,
    rss_gauge: Gauge,
}

impl MemoryCheck {
    /// A check for the processor `id`, reading memory from `sources` and reporting
    /// when it refuses to `pressure`.
    pub fn new(config: MemoryLimiterConfig, id: String, sources: MemorySources, pressure: Arc<Pressure>) -> Self {
        let usage_gauge = metrics::gauge!("otelcol_processor_memory_limiter_usage_bytes", "processor" => id.clone());
        let rss_gauge = metrics::gauge!("otelcol_processor_memory_limiter_rss_bytes", "processor" => id.clone());
        let total = sources.total.clone();
        Self {
            config,
            state: Arc::new(LimiterState {
                id,
                sources,
                non_heap: AtomicU64::new(0),
                pressure,
                soft_limit: AtomicU64::new(0),
                refusing: AtomicBool::new(false),
                above_hard: AtomicBool::new(false),
                read_failing: AtomicBool::new(false),
                last_usage: AtomicU64::new(0),
                hard_limit: AtomicU64::new(0),
                epoch: std::sync::OnceLock::new(),
                last_check_ns: AtomicU64::new(0),
                measuring: AtomicBool::new(false),
                usage_gauge,
                rss_gauge,
            }),
            total,
            run: Mutex::new(CheckRun::default()),
        }
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

    fn run(&self) -> std::sync::MutexGuard<'_, CheckRun> {
        self.run.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One more processor uses the check.
    fn join(&self) {
        self.run().users += 1;
    }

    /// Starts the check task unless it runs: computes the limits, measures once (so
    /// data that arrives before the first tick is judged, and a system without
    /// procfs fails here rather than later) and spawns it. Must run on a runtime.
    fn start(&self) -> Result<(), StartError> {
        let mut run = self.run();
        if run.task.is_none() {
            let fail = |message: String| StartError {
                component: self.state.id.clone(),
                message,
            };
            let limits = self.config.limits(|| (self.total)()).map_err(fail)?;
            let sample = (self.state.sources)
                .sample()
                .map_err(|e| fail(format!("cannot read memory usage: {e}")))?;
            self.state.soft_limit.store(limits.soft, Ordering::Relaxed);
            self.state.hard_limit.store(limits.hard, Ordering::Relaxed);
            self.state.non_heap.store(sample.non_heap(), Ordering::Relaxed);
            let _ = self.state.epoch.set(Instant::now());
            self.state.measuring.store(true, Ordering::Relaxed);
            let usage = self.state.record(sample, limits);
            tracing::info!(
                message = "Memory limiter started.",
                processor = %self.state.id,
                measure = if sample.heap.is_some() { "heap" } else { "rss" },
                hard_limit_mib = limits.hard / MIB,
                soft_limit_mib = limits.soft / MIB,
                usage_mib = usage / MIB,
                rss_mib = sample.rss / MIB,
            );
            let state = self.state.clone();
            let stop = CancellationToken::new();
            let cancelled = stop.clone();
            let interval = self.config.check_interval;
            let task = tokio::spawn(async move {
                let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = ticks.tick() => state.check(limits),
                        _ = cancelled.cancelled() => return,
                    }
                }
            });
            run.task = Some((stop, task));
        }
        Ok(())
    }

    /// One processor fewer; after the last one, the check task must stop: it is
    /// handed back to be awaited ([`MemoryCheck::stop`]).
    fn leave(&self) -> Option<(CancellationToken, tokio::task::JoinHandle<()>)> {
        let mut run = self.run();
        run.users = run.users.saturating_sub(1);
        if run.users > 0 {
            return None;
        }
        let task = run.task.take();
        if task.is_some() {
            // Stop measuring at once, also for a processor dropped without shutdown.
            self.state.measuring.store(false, Ordering::Relaxed);
        }
        task
    }

    /// Stops the check task [`leave`](Self::leave) handed back.
    async fn stop(&self, (stop, task): (CancellationToken, tokio::task::JoinHandle<()>)) {
        stop.cancel();
        let _ = task.await;
        self.release_pressure();
    }

    /// A stopped limiter measures nothing, so it must not hold readiness off.
    fn release_pressure(&self) {
        if self.state.refusing.swap(false, Ordering::Relaxed) {
            self.state.pressure.end();
        }
    }
}

impl LimiterState {
    /// On the data path: measures again when the last measurement is older than
    /// [`DATA_PATH_CHECK`], so a flood cannot outrun a long `check_interval`. One
    /// request wins the race to measure; the others read the flag as usual.
    fn check_if_stale(&self) {
        let Some(epoch) = self.epoch.get().filter(|_| self.measuring.load(Ordering::Relaxed)) else {
            return;
        };
        let now = epoch.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        let last = self.last_check_ns.load(Ordering::Relaxed);
        if now.saturating_sub(last) < DATA_PATH_CHECK.as_nanos() as u64 {
            return;
        }
        if self
            .last_check_ns
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let limits = Limits {
                hard: self.hard_limit.load(Ordering::Relaxed),
                soft: self.soft_limit.load(Ordering::Relaxed),
            };
            self.check(limits);
        }
    }

    /// Measures and records; a failed read keeps the last state (it says nothing
    /// about memory) and is logged once until reads work again.
    fn check(&self, limits: Limits) {
        match self.sources.sample() {
            Ok(sample) => {
                if self.read_failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(message = "Memory usage can be read again.", processor = %self.id);
                }
                self.record(sample, limits);
            }
            Err(error) => {
                if !self.read_failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(message = "Cannot read memory usage; keeping the last state.", processor = %self.id, %error);
                }
            }
        }
    }

    /// Updates the refusing state from one measurement, logging changes and
    /// reporting them to readiness; returns the usage.
    fn record(&self, sample: Sample, limits: Limits) -> u64 {
        if let Some(epoch) = self.epoch.get() {
            let now = epoch.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
            self.last_check_ns.fetch_max(now, Ordering::Relaxed);
        }
        let verdict = judge(sample, self.non_heap.load(Ordering::Relaxed), limits);
        let usage = verdict.usage;
        self.last_usage.store(usage, Ordering::Relaxed);
        self.usage_gauge.set(usage as f64);
        self.rss_gauge.set(sample.rss as f64);
        if verdict.above_hard && !self.above_hard.load(Ordering::Relaxed) {
            tracing::warn!(
                message = "Memory usage is above the hard limit; refusing data (Rust has no garbage collection to force).",
                processor = %self.id,
                usage_mib = usage / MIB,
                rss_mib = sample.rss / MIB,
                hard_limit_mib = limits.hard / MIB,
            );
        }
        self.above_hard.store(verdict.above_hard, Ordering::Relaxed);
        let was_refusing = self.refusing.swap(verdict.refuse, Ordering::Relaxed);
        if was_refusing != verdict.refuse {
            let (usage_mib, rss_mib, soft_limit_mib) = (usage / MIB, sample.rss / MIB, limits.soft / MIB);
            let processor = &self.id;
            if verdict.refuse {
                self.pressure.begin();
                let message = "Memory usage is above the soft limit; refusing data.";
                tracing::warn!(message, %processor, usage_mib, rss_mib, soft_limit_mib);
            } else {
                self.pressure.end();
                let message = "Memory usage is back below the soft limit; accepting data.";
                tracing::info!(message, %processor, usage_mib, rss_mib, soft_limit_mib);
            }
        }
        usage
    }
}

/// The running processor of one pipeline: refuses while its [`MemoryCheck`] says so.
pub struct MemoryLimiter {
    check: Arc<MemoryCheck>,
    next: Arc<dyn Consumer>,
    refused: Counter,
    /// Whether this processor counts as a user of `check` (from construction, or a
    /// start after shutdown, until shutdown).
    using: AtomicBool,
}

impl MemoryLimiter {
    /// A limiter for a pipeline of `signal` in front of `next`.
    pub fn new(check: Arc<MemoryCheck>, signal: Signal, next: Arc<dyn Consumer>) -> Self {
        let refused = metrics::counter!(
            format!("otelcol_processor_refused_{}", signal.item_name()),
            "processor" => check.state.id.clone()
        );
        check.join();
        Self {
            check,
            next,
            refused,
            using: AtomicBool::new(true),
        }
    }

    /// Whether incoming data is refused at the moment.
    pub fn is_refusing(&self) -> bool {
        self.check.is_refusing()
    }
}

impl MemoryLimiter {
    /// Measures if the last measurement is stale; the refusal if memory is short.
    fn admit(&self, data: &Telemetry) -> Result<(), ConsumeError> {
        if !self.is_refusing() {
            self.check.state.check_if_stale();
        }
        if !self.is_refusing() {
            return Ok(());
        }
        self.refused.increment(data.item_count() as u64);
        let state = &self.check.state;
        Err(ConsumeError::retryable(
            format!(
                "{}: data refused due to high memory usage ({} MiB in use, soft limit {} MiB)",
                state.id,
                state.last_usage.load(Ordering::Relaxed) / MIB,
                state.soft_limit.load(Ordering::Relaxed) / MIB
            ),
            Some(self.check.retry_after()),
        ))
    }
}

impl Consumer for MemoryLimiter {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            self.admit(&data)?;
            self.next.consume(data).await
        })
    }

    /// Data passes unchanged, so its encoding goes along.
    fn consume_encoded(&self, data: Telemetry, encoded: Encoded) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            self.admit(&data)?;
            self.next.consume_encoded(data, encoded).await
        })
    }
}

impl Lifecycle for MemoryLimiter {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        // Spawn inside the future, so the check task runs on the runtime that awaits it.
        Box::pin(async move {
            if !self.using.swap(true, Ordering::SeqCst) {
                // Started again after a shutdown.
                self.check.join();
            }
            self.check.start()
        })
    }

    /// Stops the shared check if this was its last user; a newer processor on the
    /// same check (another pipeline, or the next graph after a reload) keeps it.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.using.swap(false, Ordering::SeqCst) {
                if let Some(task) = self.check.leave() {
                    self.check.stop(task).await;
                }
            }
        })
    }
}

impl Drop for MemoryLimiter {
    /// A processor dropped without shutdown (a graph that failed to build) stops
    /// using the check too, so the check's last user still stops it.
    fn drop(&mut self) {
        if self.using.swap(false, Ordering::SeqCst) {
            if let Some((stop, _task)) = self.check.leave() {
                stop.cancel();
                self.check.release_pressure();
            }
        }
    }
}
