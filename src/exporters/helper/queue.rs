//! The exporterhelper: one bounded queue per exporter, drained by `num_consumers`
//! workers that apply the per-attempt timeout and `retry_on_failure`. Because every
//! exporter has its own queue, a slow or dead backend fills only its own queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use crate::component::{ComponentId, ConsumeError, Signal};
use crate::exporters::{ExportBatch, ExportError, Exporter, HelperSettings};

/// How long a client is asked to wait when an exporter queue is full.
const FULL_QUEUE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// At most one "queue full" log line per exporter per this interval; the refusals in
/// between are summed into the next line.
pub(crate) const REFUSAL_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// An exporter with its queue, workers and retry policy.
pub struct ExporterQueue {
    id: ComponentId,
    exporter: Arc<dyn Exporter>,
    settings: HelperSettings,
    sender: async_channel::Sender<Arc<ExportBatch>>,
    receiver: async_channel::Receiver<Arc<ExportBatch>>,
    workers: Mutex<JoinSet<()>>,
    /// Cancelled when the shutdown deadline passes: in-flight retries give up.
    abort: CancellationToken,
    /// Cancelled by [`ExporterQueue::retire`]: undelivered batches are handed back
    /// instead of being retried here.
    retiring: CancellationToken,
    /// Batches the workers gave back while retiring.
    handed_back: Arc<Mutex<Vec<Arc<ExportBatch>>>>,
    metrics: Arc<ExporterMetrics>,
    /// Woken by every successful send, so workers waiting out a back-off retry at
    /// once when the backend is back instead of finishing a wait of up to
    /// `max_interval`.
    recovered: Arc<Notify>,
}

/// Self-metrics of one exporter, named like the Collector's.
struct ExporterMetrics {
    sent: [Counter; 3],
    send_failed: [Counter; 3],
    enqueue_failed: [Counter; 3],
    queue_size: Gauge,
    /// Items given up at the shutdown deadline, reported by `shutdown`.
    lost: AtomicU64,
    /// Rate-limits the log lines about refused batches.
    refusals: Arc<RefusalLog>,
}

impl ExporterMetrics {
    fn new(id: &ComponentId, capacity: usize) -> Self {
        let per_signal = |what: &str| {
            Signal::ALL.map(|s| metrics::counter!(format!("otelcol_exporter_{what}_{}", s.item_name()), "exporter" => id.to_string()))
        };
        metrics::gauge!("otelcol_exporter_queue_capacity", "exporter" => id.to_string()).set(capacity as f64);
        Self {
            sent: per_signal("sent"),
            send_failed: per_signal("send_failed"),
            enqueue_failed: per_signal("enqueue_failed"),
            queue_size: metrics::gauge!("otelcol_exporter_queue_size", "exporter" => id.to_string()),
            lost: AtomicU64::new(0),
            refusals: Arc::new(RefusalLog::new(id.clone())),
        }
    }
}

fn index(signal: Signal) -> usize {
    signal as usize
}

impl ExporterQueue {
    /// Wraps `exporter`; call [`ExporterQueue::start`] to spawn the workers.
    pub fn new(id: ComponentId, exporter: Arc<dyn Exporter>, settings: HelperSettings) -> Self {
        // A disabled queue still has a channel so the type stays simple; it is never
        // used (enqueue exports inline).
        let capacity = if settings.queue.enabled {
            settings.queue.queue_size
        } else {
            1
        };
        let (sender, receiver) = async_channel::bounded(capacity);
        let metrics = Arc::new(ExporterMetrics::new(
            &id,
            if settings.queue.enabled { capacity } else { 0 },
        ));
        Self {
            id,
            exporter,
            settings,
            sender,
            receiver,
            workers: Mutex::new(JoinSet::new()),
            abort: CancellationToken::new(),
            retiring: CancellationToken::new(),
            handed_back: Arc::default(),
            metrics,
            recovered: Arc::default(),
        }
    }

    /// The exporter's id.
    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// What one worker needs: shared handles to the exporter, policy and counters.
    fn worker(&self) -> Worker {
        Worker {
            id: self.id.clone(),
            exporter: self.exporter.clone(),
            settings: self.settings.clone(),
            abort: self.abort.clone(),
            retiring: self.retiring.clone(),
            handed_back: self.handed_back.clone(),
            metrics: self.metrics.clone(),
            recovered: self.recovered.clone(),
        }
    }

    /// Spawns the queue's workers.
    pub fn start(&self) {
        self.exporter.start();
        if !self.settings.queue.enabled {
            return;
        }
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        if !workers.is_empty() {
            return;
        }
        for _ in 0..self.settings.queue.num_consumers {
            let worker = self.worker();
            let receiver = self.receiver.clone();
            workers.spawn(async move {
                while let Ok(batch) = receiver.recv().await {
                    worker.metrics.queue_size.set(receiver.len() as f64);
                    if worker.retiring.is_cancelled() {
                        worker.hand_back(batch);
                        continue;
                    }
                    if worker.abort.is_cancelled() {
                        worker.give_up(&batch, "shutdown deadline passed");
                        continue;
                    }
                    if worker.send_with_retry(&batch).await == Delivery::HandedBack {
                        worker.hand_back(batch);
                    }
                }
            });
        }
    }

    /// Hands a batch to this exporter. With the queue on this never waits: a full
    /// queue refuses at once (counted in `otelcol_exporter_enqueue_failed_*`).
    pub async fn enqueue(&self, batch: Arc<ExportBatch>) -> Result<(), ConsumeError> {
        if !self.settings.queue.enabled {
            let worker = self.worker();
            return match worker.send_with_retry(&batch).await {
                Delivery::Delivered => Ok(()),
                Delivery::Dropped => Err(ConsumeError::retryable(
                    format!("exporter {} failed to send", self.id),
                    None,
                )),
                Delivery::HandedBack => Err(ConsumeError::retryable(
                    format!("exporter {} is retiring", self.id),
                    None,
                )),
            };
        }
        match self.sender.try_send(batch) {
            Ok(()) => {
                self.metrics.queue_size.set(self.sender.len() as f64);
                Ok(())
            }
            Err(error) => {
                let full = error.is_full();
                let batch = error.into_inner();
                self.metrics.enqueue_failed[index(batch.signal())].increment(batch.items() as u64);
                let why = if full {
                    "sending queue is full"
                } else {
                    "exporter is shutting down"
                };
                self.metrics.refusals.record(why, batch.items() as u64);
                Err(ConsumeError::retryable(
                    format!("exporter {}: {why}", self.id),
                    Some(FULL_QUEUE_RETRY_AFTER),
                ))
            }
        }
    }

    /// Batches waiting in the queue.
    pub fn len(&self) -> usize {
        self.sender.len()
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.sender.is_empty()
    }

    /// Closes the queue and lets the workers drain it until `deadline`; then aborts
    /// what is left. Returns how many items could not be delivered.
    pub async fn shutdown(&self, deadline: Instant) -> u64 {
        self.sender.close();
        self.metrics.refusals.flush();
        self.join_workers(deadline).await;
        // Anything no worker took (e.g. the workers were never started).
        while let Ok(batch) = self.receiver.try_recv() {
            self.metrics.lost.fetch_add(batch.items() as u64, Ordering::Relaxed);
            self.metrics.send_failed[index(batch.signal())].increment(batch.items() as u64);
        }
        self.metrics.queue_size.set(0.0);
        let held = self.exporter.drain(deadline).await;
        self.metrics.lost.load(Ordering::Relaxed) + held
    }

    /// Waits for the workers (the queue is closed) until `deadline`. Past it, workers
    /// give up their in-flight batch (lost on shutdown, handed back when retiring)
    /// and pass over what is still queued, which takes a moment of grace.
    async fn join_workers(&self, deadline: Instant) {
        let mut workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        let drained = tokio::time::timeout_at(deadline, async { while workers.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            self.abort.cancel();
            let grace = std::time::Duration::from_secs(1);
            let _ = tokio::time::timeout(grace, async { while workers.join_next().await.is_some() {} }).await;
            workers.abort_all();
        }
    }

    /// Takes the exporter out of service without losing what it holds (the
    /// loadbalancing exporter retiring a backend that left the resolver): refuses new
    /// batches, lets attempts in flight finish until `deadline` but retries nothing,
    /// and returns every batch that was not delivered so the caller can send it
    /// elsewhere. Attempts still in flight at `deadline` are cancelled and their
    /// batches returned too (the backend may have received them: at-least-once).
    pub async fn retire(&self, deadline: Instant) -> Vec<Arc<ExportBatch>> {
        self.retiring.cancel();
        self.sender.close();
        let mut undelivered = Vec::new();
        while let Ok(batch) = self.receiver.try_recv() {
            undelivered.push(batch);
        }
        self.join_workers(deadline).await;
        while let Ok(batch) = self.receiver.try_recv() {
            undelivered.push(batch);
        }
        undelivered.append(&mut self.handed_back.lock().unwrap_or_else(|p| p.into_inner()));
        self.metrics.queue_size.set(0.0);
        self.exporter.shutdown().await;
        undelivered
    }
}

/// What became of one batch a worker tried to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// The backend took it.
    Delivered,
    /// Given up on (permanent error, retries exhausted, shutdown deadline); counted.
    Dropped,
    /// Not delivered while the queue is retiring: goes back to the caller of `retire`.
    HandedBack,
}

/// What a worker needs to send one batch.
struct Worker {
    id: ComponentId,
    exporter: Arc<dyn Exporter>,
    settings: HelperSettings,
    abort: CancellationToken,
    retiring: CancellationToken,
    handed_back: Arc<Mutex<Vec<Arc<ExportBatch>>>>,
    metrics: Arc<ExporterMetrics>,
    recovered: Arc<Notify>,
}

impl Worker {
    /// Sends with timeout and retries, and says what became of the batch.
    async fn send_with_retry(&self, batch: &ExportBatch) -> Delivery {
        let signal = index(batch.signal());
        let items = batch.items() as u64;
        let started = Instant::now();
        let mut backoff = Backoff::new(&self.settings.retry);
        loop {
            let attempt = tokio::time::timeout(self.settings.timeout, self.exporter.export(batch));
            let result = tokio::select! {
                biased;
                _ = self.abort.cancelled() => {
                    if self.retiring.is_cancelled() {
                        return Delivery::HandedBack;
                    }
                    self.give_up(batch, "shutdown deadline passed");
                    return Delivery::Dropped;
                }
                result = attempt => result,
            };
            let error = match result {
                Ok(Ok(outcome)) => {
                    self.recovered.notify_waiters();
                    let rejected = outcome.rejected.min(items);
                    self.metrics.sent[signal].increment(items - rejected);
                    if rejected > 0 {
                        self.metrics.send_failed[signal].increment(rejected);
                        tracing::warn!(
                            message = "Backend rejected part of a batch.",
                            exporter = %self.id,
                            rejected_items = rejected,
                            reason = outcome.message.as_deref().unwrap_or(""),
                        );
                    }
                    return Delivery::Delivered;
                }
                Ok(Err(error)) => error,
                Err(_) => ExportError::retryable(format!("request timed out after {:?}", self.settings.timeout)),
            };
            let throttle = match &error {
                ExportError::Permanent { message } => {
                    self.metrics.send_failed[signal].increment(items);
                    tracing::error!(message = "Exporting failed. Not retrying: the error is permanent.", exporter = %self.id, error = %message, dropped_items = items);
                    return Delivery::Dropped;
                }
                ExportError::Retryable { throttle, .. } => *throttle,
            };
            if self.retiring.is_cancelled() {
                return Delivery::HandedBack;
            }
            if !self.settings.retry.enabled {
                self.metrics.send_failed[signal].increment(items);
                tracing::error!(message = "Exporting failed. Retries are disabled.", exporter = %self.id, %error, dropped_items = items);
                return Delivery::Dropped;
            }
            let delay = backoff.next_delay().max(throttle.unwrap_or_default());
            let max_elapsed = self.settings.retry.max_elapsed_time;
            if !max_elapsed.is_zero() && started.elapsed() + delay > max_elapsed {
                self.metrics.send_failed[signal].increment(items);
                tracing::error!(message = "Exporting failed. No more retries left.", exporter = %self.id, %error, dropped_items = items);
                return Delivery::Dropped;
            }
            tracing::warn!(message = "Exporting failed. Will retry the request after interval.", exporter = %self.id, %error, interval = ?delay);
            tokio::select! {
                biased;
                _ = self.abort.cancelled() => {
                    self.give_up(batch, "shutdown deadline passed");
                    return Delivery::Dropped;
                }
                _ = self.retiring.cancelled() => return Delivery::HandedBack,
                // Another worker got through: the backend is back, start over.
                _ = self.recovered.notified() => backoff = Backoff::new(&self.settings.retry),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    fn hand_back(&self, batch: Arc<ExportBatch>) {
        self.handed_back.lock().unwrap_or_else(|p| p.into_inner()).push(batch);
    }

    fn give_up(&self, batch: &ExportBatch, why: &str) {
        self.metrics.lost.fetch_add(batch.items() as u64, Ordering::Relaxed);
        self.metrics.send_failed[index(batch.signal())].increment(batch.items() as u64);
        tracing::error!(message = "Dropping data.", exporter = %self.id, reason = why, dropped_items = batch.items());
    }
}

/// Logs refused batches of one exporter: the first at once, later ones summed into
/// one line per [`REFUSAL_LOG_INTERVAL`] (a full queue refuses every request, and a
/// line each would flood the log). Every item is counted in
/// `otelcol_exporter_enqueue_failed_*` regardless.
struct RefusalLog {
    id: ComponentId,
    state: Mutex<RefusalLogState>,
}

#[derive(Default)]
struct RefusalLogState {
    /// When the last line was written.
    logged_at: Option<Instant>,
    /// Refusals since then, not yet logged.
    batches: u64,
    items: u64,
    reason: &'static str,
    /// A task will write the summary when the interval ends.
    flush_scheduled: bool,
}

impl RefusalLog {
    fn new(id: ComponentId) -> Self {
        Self {
            id,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RefusalLogState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one refused batch of `items`, logging now or scheduling the summary.
    fn record(self: &Arc<Self>, reason: &'static str, items: u64) {
        let mut state = self.lock();
        state.batches += 1;
        state.items += items;
        state.reason = reason;
        let now = Instant::now();
        match state.logged_at {
            Some(at) if now < at + REFUSAL_LOG_INTERVAL => {
                if !std::mem::replace(&mut state.flush_scheduled, true) {
                    let log = self.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep_until(at + REFUSAL_LOG_INTERVAL).await;
                        log.flush();
                    });
                }
            }
            _ => self.write(&mut state, now),
        }
    }

    /// Writes the summary of refusals not yet logged, if any.
    fn flush(&self) {
        let mut state = self.lock();
        state.flush_scheduled = false;
        if state.batches > 0 {
            self.write(&mut state, Instant::now());
        }
    }

    fn write(&self, state: &mut RefusalLogState, now: Instant) {
        let since = state.logged_at.map(|at| now - at);
        tracing::warn!(
            message = "Exporter could not take data; it was dropped for this exporter, or refused to the client when no exporter of the pipeline took it.",
            exporter = %self.id,
            reason = state.reason,
            refused_batches = state.batches,
            dropped_items = state.items,
            over = ?since.unwrap_or_default(),
        );
        state.logged_at = Some(now);
        state.batches = 0;
        state.items = 0;
    }
}

impl crate::component::QueuedExporter for ExporterQueue {
    fn start(&self) {
        ExporterQueue::start(self);
    }

    fn enqueue(&self, batch: Arc<ExportBatch>) -> crate::component::BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(ExporterQueue::enqueue(self, batch))
    }

    fn shutdown(&self, deadline: Instant) -> crate::component::BoxFuture<'_, u64> {
        Box::pin(ExporterQueue::shutdown(self, deadline))
    }
}
