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
//! cross. A timer task sends batches that fill slowly. A refusal downstream (every
//! exporter queue full) is returned to the request that completed the batch, so its
//! client retries; batches sent by the timer can only log and count such a refusal.
//! On shutdown everything pending is sent.

mod config;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::BatchConfig;

use crate::component::registry::ProcessorFactory;
use crate::component::{BoxFuture, ConsumeError, Consumer, Lifecycle, ProcessorConfig, ProcessorContext, Signal};
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
        Arc::new(BatchProcessor::new(self.clone(), ctx.signal, next))
    }
}

/// The running batch processor of one pipeline.
pub struct BatchProcessor {
    config: BatchConfig,
    signal: Signal,
    next: Arc<dyn Consumer>,
    pending: Arc<Mutex<Pending>>,
    wake: Arc<Notify>,
    stop: CancellationToken,
    timer: Mutex<Option<tokio::task::JoinHandle<()>>>,
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
        Self {
            config,
            signal,
            next,
            pending: Arc::new(Mutex::new(Pending {
                data: Telemetry::empty(signal),
                items: 0,
                since: None,
            })),
            wake: Arc::new(Notify::new()),
            stop: CancellationToken::new(),
            timer: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        lock(&self.pending)
    }
}

fn lock(pending: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    // A panic while holding this lock cannot leave `Pending` half-updated in a way
    // that matters more than losing the process; keep serving.
    pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn send_all(next: &dyn Consumer, batches: Vec<Telemetry>) -> Result<(), ConsumeError> {
    let mut result = Ok(());
    for batch in batches {
        if let Err(error) = next.consume(batch).await {
            result = Err(error);
        }
    }
    result
}

impl Consumer for BatchProcessor {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            let items = data.item_count();
            if items == 0 {
                return Ok(());
            }
            if self.stop.is_cancelled() {
                // Shut down: nothing would send a pending batch any more, so pass
                // data straight on (e.g. an slo processor's final emission).
                return self.next.consume(data).await;
            }
            let batches = {
                let mut pending = self.lock();
                if let Err(mismatched) = pending.data.append(data) {
                    return Err(ConsumeError::permanent(format!(
                        "batch processor of a {} pipeline got {}",
                        self.signal,
                        mismatched.signal()
                    )));
                }
                pending.items += items;
                if pending.since.is_none() {
                    pending.since = Some(Instant::now());
                    self.wake.notify_one();
                }
                let size = self.config.send_batch_size;
                let max = self.config.send_batch_max_size;
                pending.take_batches(max, |n| (size > 0 && n >= size) || (max > 0 && n >= max))
            };
            send_all(self.next.as_ref(), batches).await
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
                    pending: self.pending.clone(),
                    wake: self.wake.clone(),
                    stop: self.stop.clone(),
                    next: self.next.clone(),
                    timeout: self.config.timeout,
                    max: self.config.send_batch_max_size,
                };
                *timer = Some(tokio::spawn(task.run()));
            }
            Ok(())
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop.cancel();
            let timer = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(timer) = timer {
                let _ = timer.await;
            }
            let batches = self.lock().take_batches(self.config.send_batch_max_size, |_| true);
            if let Err(error) = send_all(self.next.as_ref(), batches).await {
                tracing::error!(message = "Batch could not be sent at shutdown.", %error);
            }
        })
    }
}

/// Sends batches that did not fill up within `timeout` of their first item.
struct BatchTimer {
    pending: Arc<Mutex<Pending>>,
    wake: Arc<Notify>,
    stop: CancellationToken,
    next: Arc<dyn Consumer>,
    timeout: std::time::Duration,
    max: usize,
}

impl BatchTimer {
    async fn run(self) {
        loop {
            let since = lock(&self.pending).since;
            let Some(since) = since else {
                tokio::select! {
                    _ = self.wake.notified() => continue,
                    _ = self.stop.cancelled() => return,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep_until(since + self.timeout) => {}
                _ = self.stop.cancelled() => return,
            }
            let batches = {
                let mut pending = lock(&self.pending);
                // Only if the batch that started at `since` is still waiting; a size
                // flush in between started a new one with its own deadline.
                if pending.since == Some(since) {
                    pending.take_batches(self.max, |_| true)
                } else {
                    Vec::new()
                }
            };
            if let Err(error) = send_all(self.next.as_ref(), batches).await {
                tracing::warn!(message = "Timed batch refused downstream.", %error);
            }
        }
    }
}
