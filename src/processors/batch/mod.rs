//! `batch` — groups spans, metric points or log records into larger requests, as
//! the Collector's batch processor does: a batch leaves when it reaches
//! `send_batch_size` items or `timeout` after its first item, whichever comes first,
//! and never exceeds `send_batch_max_size`.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! Items are appended under a short lock by the task that received them; a full batch
//! is sent onward by that same task, so batching adds no task that every span must
//! cross. A timer task sends batches that fill slowly.
//!
//! **Backpressure.** Data the batch processor took is acknowledged to its client, so it
//! is never dropped because the next stage had no room: a batch that every exporter
//! queue refuses is held in the processor's [`Backlog`] and offered again, and new
//! requests are refused with a retryable error meanwhile (see
//! [`crate::processors::backlog`]). On shutdown everything pending is sent and held
//! batches are offered until the service's shutdown deadline.

mod config;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::BatchConfig;

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, ConsumeError, Consumer, Lifecycle, ProcessorConfig, ProcessorContext, Refused, Signal,
};
use crate::confmap::{parse_block, RawValue};
use crate::pdata::Telemetry;
use crate::processors::backlog::{Backlog, RETRY_INTERVAL};

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "batch",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<crate::confmap::ConfigError>> {
    Ok(Box::new(parse_block::<BatchConfig>(value)?))
}

impl ProcessorConfig for BatchConfig {
    fn build(
        &self,
        ctx: &ProcessorContext<'_>,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn crate::component::Processor>, BuildError> {
        Ok(Arc::new(BatchProcessor::with_id(
            self.clone(),
            ctx.id.to_string(),
            ctx.signal,
            next,
        )))
    }
}

/// The running batch processor of one pipeline.
pub struct BatchProcessor {
    config: BatchConfig,
    core: Arc<BatchCore>,
    stop: CancellationToken,
    timer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the receiving tasks and the timer task share.
struct BatchCore {
    signal: Signal,
    next: Arc<dyn Consumer>,
    pending: Mutex<Pending>,
    /// Wakes the timer when a batch starts filling.
    wake: Notify,
    /// Batches the next stage refused.
    backlog: Backlog,
}

/// Items waiting for their batch to fill.
struct Pending {
    data: Telemetry,
    items: usize,
    /// When the oldest waiting item arrived; `None` when nothing waits.
    since: Option<Instant>,
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
        Self {
            config,
            core: Arc::new(BatchCore {
                signal,
                next,
                pending: Mutex::new(Pending {
                    data: Telemetry::empty(signal),
                    items: 0,
                    since: None,
                }),
                wake: Notify::new(),
                backlog: Backlog::new(id),
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
}

impl BatchProcessor {
    /// Takes `data` into the pending batch, sending what is full. Refused, with the
    /// data handed back untouched, while batches are held.
    async fn take(&self, data: Telemetry) -> Result<(), Refused> {
        let core = &self.core;
        let items = data.item_count();
        if items == 0 {
            return Ok(());
        }
        if self.stop.is_cancelled() {
            // Shut down: nothing would send a pending batch any more, so pass
            // data straight on (e.g. an slo processor's final emission).
            return core.next.consume_or_return(data).await;
        }
        if let Err(error) = core.backlog.admit(core.next.as_ref()).await {
            return Err(Refused::new(error, data));
        }
        let batches = {
            let mut pending = core.lock();
            if let Err(mismatched) = pending.data.append(data) {
                let error = ConsumeError::permanent(format!(
                    "batch processor of a {} pipeline got {}",
                    core.signal,
                    mismatched.signal()
                ));
                return Err(Refused { error, data: None });
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
        // Only a permanent refusal comes back from here; held batches are ours.
        (core.backlog.send_or_hold(core.next.as_ref(), batches).await).map_err(|error| Refused { error, data: None })
    }
}

impl Consumer for BatchProcessor {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move { self.take(data).await.map_err(|refused| refused.error) })
    }

    fn consume_or_return(&self, data: Telemetry) -> BoxFuture<'_, Result<(), Refused>> {
        Box::pin(self.take(data))
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

    /// Sends everything pending and offers what is held until it is taken; the
    /// topology bounds this by the shutdown deadline.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop.cancel();
            let timer = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(timer) = timer {
                let _ = timer.await;
            }
            let core = &self.core;
            let batches = core.lock().take_batches(self.config.send_batch_max_size, |_| true);
            let next = core.next.as_ref();
            // A permanent refusal was logged by the backlog; nothing more to do.
            let _ = core.backlog.send_or_hold(next, batches).await;
            core.backlog.drain(next).await;
        })
    }
}

/// Sends batches that did not fill up within `timeout` of their first item, and
/// offers held batches again every [`RETRY_INTERVAL`].
struct BatchTimer {
    core: Arc<BatchCore>,
    stop: CancellationToken,
    timeout: Duration,
    max: usize,
}

impl BatchTimer {
    async fn run(self) {
        let core = &self.core;
        let next = core.next.as_ref();
        loop {
            let since = core.lock().since;
            let holding = core.backlog.is_holding();
            let deadline = since.map(|since| since + self.timeout);
            let wake_at = match (deadline, holding) {
                (Some(deadline), true) => Some(deadline.min(Instant::now() + RETRY_INTERVAL)),
                (None, true) => Some(Instant::now() + RETRY_INTERVAL),
                (deadline, false) => deadline,
            };
            let Some(wake_at) = wake_at else {
                tokio::select! {
                    _ = core.wake.notified() => continue,
                    _ = core.backlog.notified() => continue,
                    _ = self.stop.cancelled() => return,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake_at) => {}
                _ = core.backlog.notified() => continue,
                _ = self.stop.cancelled() => return,
            }
            if holding && !core.backlog.resend(next).await {
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
            // A permanent refusal was logged by the backlog.
            let _ = core.backlog.send_or_hold(next, batches).await;
        }
    }
}
