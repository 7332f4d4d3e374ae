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
//! **When the client is answered.** How the pipeline's exporters acknowledge decides
//! it ([`ProcessorContext::durable`]); there is nothing to configure.
//! - *On entry* (exporters with in-memory queues, the default): a request is answered
//!   OK as soon as its items are in the pending batch.
//! - *Once passed on* (some exporter of the pipeline acknowledges durably: a
//!   persistent queue, or `wait_for_result`): a request is answered only when every
//!   batch that carries its items has been passed on and the next stage answered — OK
//!   when it took the batch, its error (usually retryable) when it refused it. A
//!   request whose items were split over two batches waits for both. A batch does not
//!   wait for `timeout` here: when nothing is being passed on, a request's items leave
//!   at once, and requests that arrive while a batch is being passed on leave
//!   together as soon as it was taken (a group commit: one write to a persistent queue
//!   answers every client in it). So batches grow with the load, up to
//!   `send_batch_size` / `send_batch_max_size`, and a client waits for about two
//!   writes, not for `timeout`. Nothing is held in this mode: a refused
//!   batch was never acknowledged to anyone, so its clients retry it. At shutdown the
//!   pending batch is sent and its clients answered; a client whose batch could not
//!   be sent before the shutdown deadline gets a retryable error.
//!
//! **Backpressure** (on-entry mode). Data the batch processor took is acknowledged to
//! its client, so it is never dropped because the next stage had no room: a batch
//! that every exporter queue refuses is held in the processor's [`Backlog`] and
//! offered again, and new requests are refused with a retryable error meanwhile (see
//! [`crate::processors::backlog`]). On shutdown everything pending is sent and held
//! batches are offered until the service's shutdown deadline.
//!
//! **Request metadata** (a receiver's `include_metadata`, see
//! [`crate::pdata::client`]): as in the Collector without `metadata_keys`, a batch
//! merged from several requests carries none, so an exporter's `headers_setter`
//! finds no `from_context` value behind a batch processor (its `default_value`
//! applies). `metadata_keys` (one batch per distinct metadata value) is not
//! implemented yet and is refused as an unknown key. Processors before `batch`
//! (`attributes` with `from_context`) see each request's metadata.
//!
//! `tail_sampling` does not follow the pipeline's exporters this way: it answers a
//! request as soon as it takes the spans into its buffers, holds them for
//! `decision_wait`, and sends kept traces on later from its timer (holding them in its
//! own [`Backlog`] when refused). Spans that pass through it are therefore
//! acknowledged before any persistent queue has them, whatever the exporters do; a
//! `batch` after it in such a pipeline makes its timer, not its clients, wait.

mod config;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::BatchConfig;

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, ConsumeError, Consumer, Lifecycle, ProcessorConfig, ProcessorContext, Refused, Signal,
};
use crate::confmap::{parse_block, RawValue};
use crate::pdata::{Encoded, Telemetry};
use crate::processors::backlog::{Backlog, Outgoing, RETRY_INTERVAL};

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
        let acknowledge = if ctx.durable {
            Acknowledge::OncePassedOn
        } else {
            Acknowledge::OnEntry
        };
        Ok(Arc::new(BatchProcessor::with_id(
            self.clone(),
            ctx.id.to_string(),
            ctx.signal,
            acknowledge,
            next,
        )))
    }
}

/// When a caller of [`Consumer::consume`] is answered. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledge {
    /// As soon as its items are in the pending batch; a refused batch is held.
    OnEntry,
    /// Once every batch carrying its items was passed on, with the next stage's answer.
    OncePassedOn,
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
    /// The processor's id, for errors.
    id: String,
    signal: Signal,
    next: Arc<dyn Consumer>,
    acknowledge: Acknowledge,
    pending: Mutex<Pending>,
    /// Wakes the timer when a batch starts filling.
    wake: Notify,
    /// Batches the next stage refused (on-entry mode only).
    backlog: Backlog,
    /// Once-passed-on mode: how many flusher tasks may pass batches on at once —
    /// one per core, so encoding and writing big batches is not done on one core
    /// while requests wait.
    flushers: usize,
}

/// Items waiting for their batch to fill.
struct Pending {
    data: Telemetry,
    items: usize,
    /// The encodings `data`'s requests arrived in, in order, while `whole`: their
    /// concatenation is then an encoding of `data` (see [`Encoded`]), and a batch
    /// taken whole is sent without being encoded again.
    encoded: Vec<Encoded>,
    /// Whether every request in `data` came with its encoding and none was split:
    /// true while nothing waits.
    whole: bool,
    /// When the oldest waiting item arrived; `None` when nothing waits.
    since: Option<Instant>,
    /// Once-passed-on mode: the callers whose items are in `data`, oldest first, each
    /// with how many of its items are still there (they add up to `items`). Always
    /// empty, and so never allocated, in on-entry mode.
    waiters: std::collections::VecDeque<(Arc<PendingAnswer>, usize)>,
    /// Once-passed-on mode: flusher tasks passing batches on (see
    /// [`BatchCore::flush_while_pending`]), at most [`BatchCore::flushers`].
    flushing: usize,
}

/// Batches taken out of [`Pending`], and in once-passed-on mode, for each batch the
/// callers that wait for it (empty, never allocated, in on-entry mode).
#[derive(Default)]
struct Taken {
    batches: Vec<Outgoing>,
    waiting: Vec<Vec<Arc<PendingAnswer>>>,
}

impl Pending {
    /// Appends a request's `data` (with its encoding, if it came with one); the
    /// data is handed back if it is of another signal.
    fn append(&mut self, data: Telemetry, items: usize, encoded: Option<Encoded>) -> Result<(), Telemetry> {
        self.data.append(data)?;
        self.items += items;
        match encoded {
            Some(encoded) if self.whole => self.encoded.push(encoded),
            _ => self.forget_encodings(),
        }
        Ok(())
    }

    /// What waits can no longer be sent as it arrived.
    fn forget_encodings(&mut self) {
        self.whole = false;
        self.encoded.clear();
    }

    /// Takes batches of at most `max` items (0 = no limit) while `enough` says so.
    fn take_batches(&mut self, max: usize, enough: impl Fn(usize) -> bool) -> Taken {
        let mut taken = Taken::default();
        while self.items > 0 && enough(self.items) {
            let take = if max > 0 { self.items.min(max) } else { self.items };
            let batch = if take == self.items {
                let signal = self.data.signal();
                let data = std::mem::replace(&mut self.data, Telemetry::empty(signal));
                let encoded =
                    (self.whole && !self.encoded.is_empty()).then(|| Encoded::join(std::mem::take(&mut self.encoded)));
                Outgoing { data, encoded }
            } else {
                // A request cut in two: neither part is what arrived.
                self.forget_encodings();
                Outgoing::from(self.data.split_front(take))
            };
            self.items -= take;
            if !self.waiters.is_empty() {
                taken.waiting.push(self.cut_waiters(take));
            }
            taken.batches.push(batch);
        }
        if self.items == 0 {
            self.since = None;
            self.encoded.clear();
            self.whole = true;
        }
        taken
    }

    /// The callers with items among the first `take` waiting ones, which have just
    /// become a batch. A caller whose items all lie there leaves `waiters`; one whose
    /// items continue past stays at the front and waits for this batch too.
    fn cut_waiters(&mut self, take: usize) -> Vec<Arc<PendingAnswer>> {
        let mut answers = Vec::new();
        let mut left = take;
        while left > 0 {
            let Some((caller, items)) = self.waiters.front_mut() else {
                break;
            };
            if *items > left {
                *items -= left;
                caller.one_more_batch();
                answers.push(caller.clone());
                break;
            }
            left -= *items;
            if let Some((caller, _)) = self.waiters.pop_front() {
                answers.push(caller);
            }
        }
        answers
    }
}

/// Once-passed-on mode: the answer one caller waits for, given once every batch that
/// carries its items was answered by the next stage.
struct PendingAnswer {
    state: Mutex<PendingAnswerState>,
}

/// What a [`PendingAnswer`] tracks, under its lock.
struct PendingAnswerState {
    /// Batches carrying its items that the next stage has not answered yet, plus one
    /// while some of its items still wait in [`Pending`] (that one passes to the
    /// batch that takes its last items).
    open: usize,
    /// The first refusal of a batch carrying its items.
    refusal: Option<ConsumeError>,
    /// Dropped unanswered when every batch carrying its items is dropped unsent
    /// (the shutdown deadline, a cancelled sending task): the caller then tells its
    /// client to retry.
    answer: Option<oneshot::Sender<Result<(), ConsumeError>>>,
}

impl PendingAnswer {
    fn new() -> (Arc<Self>, oneshot::Receiver<Result<(), ConsumeError>>) {
        let (answer, answered) = oneshot::channel();
        let pending = Self {
            state: Mutex::new(PendingAnswerState {
                open: 1,
                refusal: None,
                answer: Some(answer),
            }),
        };
        (Arc::new(pending), answered)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PendingAnswerState> {
        // Each update is complete under the lock.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A batch took some of its items and more still wait.
    fn one_more_batch(&self) {
        self.lock().open += 1;
    }

    /// The next stage answered one batch carrying its items; answers the caller
    /// once every such batch was answered.
    fn settle(&self, result: &Result<(), ConsumeError>) {
        let mut state = self.lock();
        if let Err(error) = result {
            state.refusal.get_or_insert_with(|| error.clone());
        }
        state.open = state.open.saturating_sub(1);
        if state.open == 0 {
            let outcome = state.refusal.take().map_or(Ok(()), Err);
            if let Some(answer) = state.answer.take() {
                // The caller may have given up (its client went away): nothing to tell.
                let _ = answer.send(outcome);
            }
        }
    }
}

impl BatchProcessor {
    /// A batch processor for a pipeline of `signal` in front of `next`, answering
    /// on entry.
    pub fn new(config: BatchConfig, signal: Signal, next: Arc<dyn Consumer>) -> Self {
        Self::with_id(config, "batch".to_string(), signal, Acknowledge::OnEntry, next)
    }

    /// As [`BatchProcessor::new`], naming the processor `id` in logs and self-metrics
    /// and answering callers as `acknowledge` says.
    pub fn with_id(
        config: BatchConfig,
        id: String,
        signal: Signal,
        acknowledge: Acknowledge,
        next: Arc<dyn Consumer>,
    ) -> Self {
        Self {
            config,
            core: Arc::new(BatchCore {
                id: id.clone(),
                signal,
                next,
                acknowledge,
                pending: Mutex::new(Pending {
                    data: Telemetry::empty(signal),
                    items: 0,
                    encoded: Vec::new(),
                    whole: true,
                    since: None,
                    waiters: std::collections::VecDeque::new(),
                    flushing: 0,
                }),
                wake: Notify::new(),
                backlog: Backlog::new(id),
                flushers: std::thread::available_parallelism().map_or(2, usize::from),
            }),
            stop: CancellationToken::new(),
            timer: Mutex::new(None),
        }
    }
}

impl BatchProcessor {
    /// Sets how many flusher tasks may run at once in once-passed-on mode (one per
    /// core by default); for tests that need a fixed number.
    #[cfg(test)]
    pub(crate) fn with_flushers(mut self, flushers: usize) -> Self {
        if let Some(core) = Arc::get_mut(&mut self.core) {
            core.flushers = flushers;
        }
        self
    }
}

impl BatchCore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic while holding this lock cannot leave `Pending` half-updated in a way
        // that matters more than losing the process; keep serving.
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Passes `taken` on, in order. On entry: a batch the next stage refuses
    /// (retryable) is held, and only a permanent refusal comes back. Once passed on:
    /// each batch's callers get the next stage's answer to it and nothing is held —
    /// a refused batch was acknowledged to no one. A batch after a refused one is
    /// still offered: its callers are owed their own answer.
    async fn send(&self, taken: Taken) -> Result<(), ConsumeError> {
        match self.acknowledge {
            Acknowledge::OnEntry => self.backlog.send_or_hold(self.next.as_ref(), taken.batches).await,
            Acknowledge::OncePassedOn => {
                let mut waiting = taken.waiting.into_iter();
                for Outgoing { data, encoded } in taken.batches {
                    let passed = match encoded {
                        Some(encoded) => self.next.consume_encoded(data, encoded),
                        None => self.next.consume(data),
                    };
                    // A merged batch: no one request's client (see `pdata::client`).
                    let result = crate::pdata::client::scope(None, passed).await;
                    for caller in waiting.next().unwrap_or_default() {
                        caller.settle(&result);
                    }
                }
                Ok(())
            }
        }
    }

    /// Once-passed-on mode, a group commit: passes on everything pending, then
    /// everything that arrived while that was being passed on, until nothing waits.
    /// Up to one flusher per core runs at once (each takes what is pending when it
    /// is free).
    /// So a request waits for the batch in front of it and its own, not for
    /// `timeout`, and batches grow with the load: as many requests share one as
    /// arrive while the one before is written.
    async fn flush_while_pending(&self, max: usize) {
        loop {
            let taken = {
                let mut pending = self.lock();
                if pending.items == 0 {
                    pending.flushing -= 1;
                    return;
                }
                pending.take_batches(max, |_| true)
            };
            let _ = self.send(taken).await;
        }
    }

    /// The refusal of data of the wrong signal (a wiring bug).
    fn mismatched(&self, data: &Telemetry) -> ConsumeError {
        ConsumeError::permanent(format!(
            "batch processor of a {} pipeline got {}",
            self.signal,
            data.signal()
        ))
    }
}

impl BatchProcessor {
    /// Whether `items` waiting make a batch to send now.
    fn is_full(&self, items: usize) -> bool {
        let size = self.config.send_batch_size;
        let max = self.config.send_batch_max_size;
        (size > 0 && items >= size) || (max > 0 && items >= max)
    }

    /// On entry: takes `data` into the pending batch, sending what is full. Refused,
    /// with the data handed back untouched, while batches are held.
    async fn take(&self, data: Telemetry, encoded: Option<Encoded>) -> Result<(), Refused> {
        let core = &self.core;
        let items = data.item_count();
        if items == 0 {
            return Ok(());
        }
        if self.stop.is_cancelled() {
            // Shut down: nothing would send a pending batch any more, so pass
            // data straight on (e.g. an slo processor's final emission).
            return match encoded {
                Some(encoded) => core.next.consume_encoded_or_return(data, encoded).await,
                None => core.next.consume_or_return(data).await,
            };
        }
        if let Err(error) = core.backlog.admit(core.next.as_ref()).await {
            return Err(Refused::new(error, data));
        }
        let taken = {
            let mut pending = core.lock();
            if let Err(mismatched) = pending.append(data, items, encoded) {
                let error = core.mismatched(&mismatched);
                return Err(Refused { error, data: None });
            }
            if pending.since.is_none() {
                pending.since = Some(Instant::now());
                core.wake.notify_one();
            }
            // Read under the lock: shutdown takes what is pending under it after
            // cancelling, so items added after that are sent from here.
            let stopped = self.stop.is_cancelled();
            pending.take_batches(self.config.send_batch_max_size, |n| stopped || self.is_full(n))
        };
        // Only a permanent refusal comes back from here; held batches are ours.
        (core.send(taken).await).map_err(|error| Refused { error, data: None })
    }

    /// Once passed on: takes `data` into the pending batch, sends what is full, and
    /// resolves when every batch carrying its items was answered by the next stage
    /// (this task, another caller's or the timer sends them).
    async fn take_and_wait(&self, data: Telemetry, encoded: Option<Encoded>) -> Result<(), ConsumeError> {
        let core = &self.core;
        let items = data.item_count();
        if items == 0 {
            return Ok(());
        }
        if self.stop.is_cancelled() {
            return match encoded {
                Some(encoded) => core.next.consume_encoded(data, encoded).await,
                None => core.next.consume(data).await,
            };
        }
        let (answer, answered) = PendingAnswer::new();
        let (taken, lead) = {
            let mut pending = core.lock();
            if let Err(mismatched) = pending.append(data, items, encoded) {
                return Err(core.mismatched(&mismatched));
            }
            pending.waiters.push_back((answer, items));
            if pending.since.is_none() {
                pending.since = Some(Instant::now());
                core.wake.notify_one();
            }
            // As in `take`: after shutdown's final take, nothing else would send it.
            let stopped = self.stop.is_cancelled();
            let taken = pending.take_batches(self.config.send_batch_max_size, |n| stopped || self.is_full(n));
            let lead = pending.items > 0 && pending.flushing < core.flushers;
            pending.flushing += usize::from(lead);
            (taken, lead)
        };
        if lead {
            // Nothing is being passed on: this request's items leave now, with
            // whatever joins them meanwhile.
            let core = core.clone();
            let max = self.config.send_batch_max_size;
            tokio::spawn(async move { core.flush_while_pending(max).await });
        }
        // Batches this request filled may carry other requests' items: their callers
        // are answered from here. Only the answer about our own items counts.
        let _ = core.send(taken).await;
        answered.await.unwrap_or_else(|_| {
            Err(ConsumeError::retryable(
                format!(
                    "{}: the batch carrying this request was not passed on (shutdown)",
                    core.id
                ),
                None,
            ))
        })
    }
}

impl BatchProcessor {
    async fn take_any(&self, data: Telemetry, encoded: Option<Encoded>) -> Result<(), ConsumeError> {
        match self.core.acknowledge {
            Acknowledge::OnEntry => self.take(data, encoded).await.map_err(|refused| refused.error),
            Acknowledge::OncePassedOn => self.take_and_wait(data, encoded).await,
        }
    }
}

impl Consumer for BatchProcessor {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(self.take_any(data, None))
    }

    /// The encoding is kept beside the pending batch: a batch made only of whole
    /// requests that all came with theirs is sent as their concatenation.
    fn consume_encoded(&self, data: Telemetry, encoded: Encoded) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(self.take_any(data, Some(encoded)))
    }

    /// On entry, a refusal comes before the data is touched: it is handed back as
    /// is. Once passed on, the data may have gone into a batch with other callers'
    /// items that the next stage refused, so a copy made beforehand is handed back.
    fn consume_or_return(&self, data: Telemetry) -> BoxFuture<'_, Result<(), Refused>> {
        Box::pin(async move {
            match self.core.acknowledge {
                Acknowledge::OnEntry => self.take(data, None).await,
                Acknowledge::OncePassedOn => {
                    let copy = data.clone();
                    self.take_and_wait(data, None)
                        .await
                        .map_err(|error| Refused::new(error, copy))
                }
            }
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

    /// Sends everything pending (once passed on: answering its callers) and offers
    /// what is held until it is taken; the topology bounds this by the shutdown
    /// deadline.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop.cancel();
            let timer = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(timer) = timer {
                let _ = timer.await;
            }
            let core = &self.core;
            let taken = core.lock().take_batches(self.config.send_batch_max_size, |_| true);
            // A permanent refusal was logged by the backlog or given to the callers.
            let _ = core.send(taken).await;
            core.backlog.drain(core.next.as_ref()).await;
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
            let taken = {
                let mut pending = core.lock();
                // Only if the batch that started at `since` is still waiting and its
                // time is up; a size flush in between started a new one with its
                // own deadline.
                match deadline {
                    Some(deadline) if pending.since == since && Instant::now() >= deadline => {
                        pending.take_batches(self.max, |_| true)
                    }
                    _ => Taken::default(),
                }
            };
            // A permanent refusal was logged by the backlog or given to the callers.
            let _ = core.send(taken).await;
        }
    }
}
