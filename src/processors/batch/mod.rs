//! `batch` — groups spans, metric points or log records into larger requests, as
//! the Collector's batch processor does: a batch leaves when it reaches
//! `send_batch_size` items or `timeout` after its first item, whichever comes first,
//! and never exceeds `send_batch_max_size`.
//!
//! ```yaml
//! processors:
//!   batch:
//!     timeout: 200ms            # default
//!     send_batch_size: 8192     # default
//!     send_batch_max_size: 0    # default: no upper bound
//! ```
//!
//! Items are appended under a short lock by the task that received them; a full batch
//! is sent onward by that same task, so batching adds no task that every span must
//! cross. A timer task sends batches that fill slowly.
//!
//! **Backpressure.** Data the batch processor took is acknowledged to its client, so it
//! must never be dropped because the next stage had no room. When the next stage
//! refuses a batch with a retryable error (every exporter queue of the pipeline is
//! full), the processor *holds* that batch and resends it, oldest first, every
//! 50 ms and before any new data. While it holds a batch it refuses new requests with
//! the same retryable error (RESOURCE_EXHAUSTED with RetryInfo, or 429 with
//! Retry-After, at the receiver), so what it holds is bounded by the requests that
//! were in flight when the queues filled, and clients back off instead of losing data.
//! A permanent refusal (a bug: a mismatched signal) is returned to the request that
//! completed the batch and logged. On shutdown everything pending and held is sent,
//! resending held batches until the service's shutdown deadline; whatever is still
//! held then is counted in `otelcol_processor_batch_dropped_items` and logged.

mod config;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::Counter;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::BatchConfig;

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, ConsumeError, Consumer, Lifecycle, ProcessorConfig, ProcessorContext, Retry, Signal,
};
use crate::config::{parse_block, RawValue};
use crate::pdata::Telemetry;

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "batch",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<crate::config::ConfigError>> {
    Ok(Box::new(parse_block::<BatchConfig>(value)?))
}

impl ProcessorConfig for BatchConfig {
    fn build(&self, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Arc<dyn crate::component::Processor> {
        Arc::new(BatchProcessor::with_id(
            self.clone(),
            ctx.id.to_string(),
            ctx.signal,
            next,
        ))
    }
}

/// How often held batches are offered to the next stage again. Offering costs one
/// `try_send` per exporter queue, so a short interval costs nothing and lets data
/// flow again within moments of a queue having room.
const HELD_RETRY_INTERVAL: Duration = Duration::from_millis(50);

/// The running batch processor of one pipeline.
pub struct BatchProcessor {
    config: BatchConfig,
    core: Arc<BatchCore>,
    stop: CancellationToken,
    timer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the receiving tasks and the timer task share.
struct BatchCore {
    id: String,
    signal: Signal,
    next: Arc<dyn Consumer>,
    pending: Mutex<Pending>,
    /// Wakes the timer when a batch starts filling or a batch is held.
    wake: Notify,
    /// Items given up at the shutdown deadline.
    dropped: Counter,
}

/// Items waiting for their batch to fill, and batches waiting for room downstream.
struct Pending {
    data: Telemetry,
    items: usize,
    /// When the oldest waiting item arrived; `None` when nothing waits.
    since: Option<Instant>,
    /// Batches the next stage refused with a retryable error, oldest first. Their
    /// requests were acknowledged, so they are resent until taken.
    held: VecDeque<Telemetry>,
    held_items: usize,
    /// The refusal that made the processor hold, returned to new requests meanwhile.
    refusal: Option<ConsumeError>,
    /// Set from the first hold until everything held was taken: each change is
    /// logged once, not per batch.
    blocked: bool,
}

impl Pending {
    /// Takes batches of at most `max` items (0 = no limit) while `enough` says so.
    fn take_batches(&mut self, max: usize, enough: impl Fn(usize) -> bool) -> Vec<Telemetry> {
        let mut batches = Vec::new();
        while self.items > 0 && enough(self.items) {
            let take = if max > 0 { self.items.min(max) } else { self.items };
            let batch = if take == self.items {
                {
                    let signal = self.data.signal();
                    std::mem::replace(&mut self.data, Telemetry::empty(signal))
                }
            } else {
                self.data.split_front(take)
            };
            self.items -= take;
            batches.push(batch);
        }
        if self.items == 0 {
            self.since = None;
        }
        batches
    }
}

impl BatchProcessor {
    /// A batch processor for a pipeline of `signal` in front of `next`.
    pub fn new(config: BatchConfig, signal: Signal, next: Arc<dyn Consumer>) -> Self {
        Self::with_id(config, "batch".to_string(), signal, next)
    }

    /// As [`BatchProcessor::new`], naming the processor `id` in logs and self-metrics.
    pub fn with_id(config: BatchConfig, id: String, signal: Signal, next: Arc<dyn Consumer>) -> Self {
        let dropped = metrics::counter!("otelcol_processor_batch_dropped_items", "processor" => id.clone());
        Self {
            config,
            core: Arc::new(BatchCore {
                id,
                signal,
                next,
                pending: Mutex::new(Pending {
                    data: Telemetry::empty(signal),
                    items: 0,
                    since: None,
                    held: VecDeque::new(),
                    held_items: 0,
                    refusal: None,
                    blocked: false,
                }),
                wake: Notify::new(),
                dropped,
            }),
            stop: CancellationToken::new(),
            timer: Mutex::new(None),
        }
    }
}

impl BatchCore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic while holding this lock cannot leave `Pending` half-updated in a way
        // that matters more than losing the process; keep serving.
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The refusal new requests get while batches are held, if any are.
    fn holding(&self) -> Option<ConsumeError> {
        let pending = self.lock();
        if pending.held.is_empty() {
            return None;
        }
        let after = match pending.refusal.as_ref().map(|r| r.retry) {
            Some(Retry::After(after)) => after,
            _ => None,
        };
        Some(ConsumeError::retryable(
            format!(
                "{}: the pipeline's exporters cannot take data; {} items are waiting for room",
                self.id, pending.held_items
            ),
            after,
        ))
    }

    /// Sends `batches` in order. A batch refused with a retryable error is held,
    /// together with every batch after it; only a permanent refusal is returned.
    async fn send_or_hold(&self, batches: Vec<Telemetry>) -> Result<(), ConsumeError> {
        let mut result = Ok(());
        let mut batches = batches.into_iter();
        while let Some(batch) = batches.next() {
            match self.next.consume(batch.clone()).await {
                Ok(()) => {}
                Err(error) if error.retry == Retry::Never => {
                    tracing::error!(message = "Batch refused downstream; it cannot succeed as sent.", processor = %self.id, %error, dropped_items = batch.item_count());
                    result = Err(error);
                }
                Err(error) => {
                    self.hold(std::iter::once(batch).chain(batches), error, false);
                    break;
                }
            }
        }
        result
    }

    /// Keeps `batches` to resend; `front` puts them before those already held.
    fn hold(&self, batches: impl Iterator<Item = Telemetry>, error: ConsumeError, front: bool) {
        let mut pending = self.lock();
        let was_blocked = std::mem::replace(&mut pending.blocked, true);
        let mut batches: Vec<Telemetry> = batches.collect();
        pending.held_items += batches.iter().map(Telemetry::item_count).sum::<usize>();
        if front {
            for batch in batches.drain(..).rev() {
                pending.held.push_front(batch);
            }
        } else {
            pending.held.extend(batches);
        }
        if !was_blocked {
            tracing::warn!(message = "The pipeline's exporters cannot take data: holding the batch and refusing new data until they can.", processor = %self.id, %error, held_items = pending.held_items);
        }
        pending.refusal = Some(error);
        drop(pending);
        self.wake.notify_one();
    }

    /// Offers held batches to the next stage again, oldest first, until one is
    /// refused. Returns whether nothing is held any more.
    async fn resend_held(&self) -> bool {
        loop {
            let batch = {
                let mut pending = self.lock();
                let Some(batch) = pending.held.pop_front() else {
                    return true;
                };
                pending.held_items -= batch.item_count();
                batch
            };
            match self.next.consume(batch.clone()).await {
                Ok(()) => {
                    let mut pending = self.lock();
                    if pending.held.is_empty() && std::mem::take(&mut pending.blocked) {
                        tracing::info!(message = "The pipeline's exporters take data again; accepting new data.", processor = %self.id);
                    }
                }
                Err(error) if error.retry == Retry::Never => {
                    tracing::error!(message = "Held batch refused downstream; it cannot succeed as sent.", processor = %self.id, %error, dropped_items = batch.item_count());
                }
                Err(error) => {
                    self.hold(std::iter::once(batch), error, true);
                    return false;
                }
            }
        }
    }
}

impl Consumer for BatchProcessor {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            let core = &self.core;
            let items = data.item_count();
            if items == 0 {
                return Ok(());
            }
            if self.stop.is_cancelled() {
                // Shut down: nothing would send a pending batch any more, so pass
                // data straight on (e.g. an slo processor's final emission).
                return core.next.consume(data).await;
            }
            // Held batches go first; while any stay held, there is no room for more.
            if core.holding().is_some() && !core.resend_held().await {
                if let Some(refusal) = core.holding() {
                    return Err(refusal);
                }
            }
            let batches = {
                let mut pending = core.lock();
                if let Err(mismatched) = pending.data.append(data) {
                    return Err(ConsumeError::permanent(format!(
                        "batch processor of a {} pipeline got {}",
                        core.signal,
                        mismatched.signal()
                    )));
                }
                pending.items += items;
                if pending.since.is_none() {
                    pending.since = Some(Instant::now());
                    core.wake.notify_one();
                }
                let size = self.config.send_batch_size;
                let max = self.config.send_batch_max_size;
                pending.take_batches(max, |n| (size > 0 && n >= size) || (max > 0 && n >= max))
            };
            core.send_or_hold(batches).await
        })
    }
}

impl Lifecycle for BatchProcessor {
    fn start(&self) -> BoxFuture<'_, Result<(), crate::component::StartError>> {
        // Spawn inside the future, so the timer starts on the runtime that awaits it.
        Box::pin(async move {
            let mut timer = self.timer.lock().unwrap_or_else(|p| p.into_inner());
            if timer.is_none() && !self.stop.is_cancelled() {
                let task = BatchTimer {
                    core: self.core.clone(),
                    stop: self.stop.clone(),
                    timeout: self.config.timeout,
                    max: self.config.send_batch_max_size,
                };
                *timer = Some(tokio::spawn(task.run()));
            }
            Ok(())
        })
    }

    /// Sends everything pending and resends what is held until it is taken; the
    /// topology bounds this by the shutdown deadline. If the future is dropped at
    /// the deadline, whatever is still held is counted and logged as dropped.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop.cancel();
            let timer = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(timer) = timer {
                let _ = timer.await;
            }
            let core = &self.core;
            let batches = core.lock().take_batches(self.config.send_batch_max_size, |_| true);
            let lost = LostAtShutdown(core);
            if let Err(error) = core.send_or_hold(batches).await {
                tracing::error!(message = "Batch could not be sent at shutdown.", processor = %core.id, %error);
            }
            while !core.resend_held().await {
                tokio::time::sleep(HELD_RETRY_INTERVAL).await;
            }
            drop(lost);
        })
    }
}

/// Counts and logs what a batch processor still holds when its shutdown ends,
/// including when the shutdown future is dropped at the deadline.
struct LostAtShutdown<'a>(&'a BatchCore);

impl Drop for LostAtShutdown<'_> {
    fn drop(&mut self) {
        let mut pending = self.0.lock();
        let items = pending.held_items;
        if items > 0 {
            pending.held.clear();
            pending.held_items = 0;
            self.0.dropped.increment(items as u64);
            tracing::error!(message = "Dropping data: the shutdown deadline passed while the exporters could not take it.", processor = %self.0.id, dropped_items = items);
        }
    }
}

/// Sends batches that did not fill up within `timeout` of their first item, and
/// resends held batches every [`HELD_RETRY_INTERVAL`].
struct BatchTimer {
    core: Arc<BatchCore>,
    stop: CancellationToken,
    timeout: Duration,
    max: usize,
}

impl BatchTimer {
    async fn run(self) {
        let core = &self.core;
        loop {
            let (since, holding) = {
                let pending = core.lock();
                (pending.since, !pending.held.is_empty())
            };
            let deadline = since.map(|since| since + self.timeout);
            let wake_at = match (deadline, holding) {
                (Some(deadline), true) => Some(deadline.min(Instant::now() + HELD_RETRY_INTERVAL)),
                (None, true) => Some(Instant::now() + HELD_RETRY_INTERVAL),
                (deadline, false) => deadline,
            };
            let Some(wake_at) = wake_at else {
                tokio::select! {
                    _ = core.wake.notified() => continue,
                    _ = self.stop.cancelled() => return,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake_at) => {}
                _ = self.stop.cancelled() => return,
            }
            if holding && !core.resend_held().await {
                continue;
            }
            let batches = {
                let mut pending = core.lock();
                // Only if the batch that started at `since` is still waiting and its
                // time is up; a size flush in between started a new one with its
                // own deadline.
                match deadline {
                    Some(deadline) if pending.since == since && Instant::now() >= deadline => {
                        pending.take_batches(self.max, |_| true)
                    }
                    _ => Vec::new(),
                }
            };
            if let Err(error) = core.send_or_hold(batches).await {
                tracing::warn!(message = "Timed batch refused downstream.", processor = %core.id, %error);
            }
        }
    }
}
