//! The exporterhelper: one bounded queue per exporter, drained by `num_consumers`
//! workers that apply the per-attempt timeout and `retry_on_failure`. Because every
//! exporter has its own queue, a slow or dead backend fills only its own queue.
//!
//! The queue is in memory, or with `sending_queue.storage` a [`DiskQueue`] in a
//! `file_storage` directory: then `enqueue` resolves only once the batch is written
//! there (so the receiver's OK means it survives the process dying), workers take
//! records from the files, and a record is marked done only once it was delivered
//! or given up on for good. Shutdown never empties a persistent queue: what the
//! deadline leaves is delivered after the next start.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{Counter, Gauge};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::settings::QueueBatchConfig;
use crate::component::{ComponentId, ConsumeError, Pressure, Signal, StartError};
use crate::exporters::{ExportBatch, ExportError, Exporter, HelperSettings};
use crate::storage::{DiskQueue, PushError, QueueOptions, Sizer, StorageSettings};

/// A persistent queue's worker sends records that are ready together as one request
/// of at most this many items (the Collector's default `send_batch_size`)…
const MERGE_ITEMS: usize = 8192;
/// …and at most this many bytes, under the 4 MiB a gRPC server takes by default.
const MERGE_BYTES: usize = 3 << 20;

/// How long a client is asked to wait when an exporter queue is full.
const FULL_QUEUE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// At most one "queue full" log line per exporter per this interval; the refusals in
/// between are summed into the next line.
pub(crate) const REFUSAL_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// A batch in the in-memory queue, with its size in sizer units and, under
/// `wait_for_result`, where to say what became of it.
struct Queued {
    batch: Arc<ExportBatch>,
    cost: u64,
    done: Option<oneshot::Sender<Delivery>>,
}

/// A persistent queue's storage: where it lives, and the queue once opened.
pub struct Persistent {
    settings: StorageSettings,
    /// Opened by `start`.
    queue: OnceLock<Arc<DiskQueue>>,
    /// Readiness is off while writes fail.
    pressure: Arc<Pressure>,
    /// Whether the last write failed (this queue counts once in `pressure`).
    failing: AtomicBool,
}

impl Persistent {
    /// Storage in `settings`' directory; write failures turn readiness off through
    /// `pressure`.
    pub fn new(settings: StorageSettings, pressure: Arc<Pressure>) -> Self {
        Self {
            settings,
            queue: OnceLock::new(),
            pressure,
            failing: AtomicBool::new(false),
        }
    }
}

/// An exporter with its queue, workers and retry policy.
pub struct ExporterQueue {
    id: ComponentId,
    exporter: Arc<dyn Exporter>,
    settings: HelperSettings,
    sender: async_channel::Sender<Queued>,
    receiver: async_channel::Receiver<Queued>,
    /// Sizer units in the in-memory queue.
    used: Arc<AtomicU64>,
    /// Woken when a worker takes a batch from the in-memory queue.
    room: Arc<Notify>,
    /// The files, for a persistent queue.
    persistent: Option<Arc<Persistent>>,
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
    /// Persistent queues: bytes of the segment files, and damaged records skipped.
    disk_bytes: Gauge,
    damaged_records: Counter,
    damaged_bytes: Counter,
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
            disk_bytes: metrics::gauge!("otelcol_exporter_queue_disk_bytes", "exporter" => id.to_string()),
            damaged_records: metrics::counter!("otelcol_exporter_queue_damaged_records", "exporter" => id.to_string()),
            damaged_bytes: metrics::counter!("otelcol_exporter_queue_damaged_bytes", "exporter" => id.to_string()),
            lost: AtomicU64::new(0),
            refusals: Arc::new(RefusalLog::new(id.clone())),
        }
    }

    /// Sets the gauges of a persistent queue from what it holds.
    fn observe(&self, queue: &DiskQueue) {
        let stats = queue.stats();
        self.queue_size.set(stats.size as f64);
        self.disk_bytes.set(stats.disk_bytes as f64);
        // Records found damaged when read back count too, not only those found on open.
        self.damaged_records.absolute(stats.damaged_records);
        self.damaged_bytes.absolute(stats.damaged_bytes);
    }
}

fn index(signal: Signal) -> usize {
    signal as usize
}

/// The sizer's measure of `batch`.
fn cost(sizer: Sizer, batch: &ExportBatch) -> u64 {
    match sizer {
        Sizer::Requests => 1,
        Sizer::Items => batch.items() as u64,
        Sizer::Bytes => batch.protobuf().len() as u64,
    }
}

impl ExporterQueue {
    /// Wraps `exporter` in an in-memory queue; call [`ExporterQueue::start`] to spawn
    /// the workers.
    pub fn new(id: ComponentId, exporter: Arc<dyn Exporter>, settings: HelperSettings) -> Self {
        Self::with_storage(id, exporter, settings, None)
    }

    /// Wraps `exporter` in a queue kept in `persistent`'s directory when given.
    pub fn with_storage(
        id: ComponentId,
        exporter: Arc<dyn Exporter>,
        settings: HelperSettings,
        persistent: Option<Persistent>,
    ) -> Self {
        // The channel is unbounded: `used` against `queue_size` bounds it, in the
        // sizer's units.
        let (sender, receiver) = async_channel::unbounded();
        let metrics = Arc::new(ExporterMetrics::new(
            &id,
            if settings.queue.enabled {
                settings.queue.queue_size
            } else {
                0
            },
        ));
        Self {
            id,
            exporter,
            settings,
            sender,
            receiver,
            used: Arc::default(),
            room: Arc::default(),
            persistent: persistent.map(Arc::new),
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

    /// Whether `enqueue` resolves only once the batch is on disk or delivered.
    pub fn acknowledges_durably(&self) -> bool {
        self.persistent.is_some() || (self.settings.queue.enabled && self.settings.queue.wait_for_result)
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
            persistent: self.persistent.is_some(),
        }
    }

    /// Opens a persistent queue's files and spawns the queue's workers.
    pub fn start(&self) -> Result<(), StartError> {
        if !self.settings.queue.enabled {
            self.exporter.start();
            return Ok(());
        }
        let disk = match &self.persistent {
            Some(persistent) => Some(self.open(persistent)?),
            None => None,
        };
        self.exporter.start();
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        if !workers.is_empty() {
            return Ok(());
        }
        if let Some(disk) = &disk {
            disk.attach();
        }
        for _ in 0..self.settings.queue.num_consumers {
            let worker = self.worker();
            match &disk {
                Some(disk) => {
                    workers.spawn(worker.drain_disk(disk.clone()));
                }
                None => {
                    let receiver = self.receiver.clone();
                    let (used, room) = (self.used.clone(), self.room.clone());
                    let batching = self.settings.queue.batch.clone();
                    workers.spawn(async move {
                        while let Ok(first) = receiver.recv().await {
                            let mut taken = vec![first];
                            if let Some(batching) = &batching {
                                gather(&receiver, &mut taken, batching).await;
                            }
                            let cost: u64 = taken.iter().map(|q| q.cost).sum();
                            used.fetch_sub(cost, Ordering::Relaxed);
                            room.notify_waiters();
                            worker.metrics.queue_size.set(used.load(Ordering::Relaxed) as f64);
                            match batching {
                                Some(ref batching) if taken.len() > 1 || batching.max_size > 0 => {
                                    for queued in merge(taken, batching) {
                                        worker.deliver(queued).await;
                                    }
                                }
                                _ => {
                                    for queued in taken {
                                        worker.deliver(queued).await;
                                    }
                                }
                            }
                        }
                    });
                }
            }
        }
        Ok(())
    }

    /// Opens (or takes over, after a reload) the queue's files and reports what
    /// opening them found.
    fn open(&self, persistent: &Persistent) -> Result<Arc<DiskQueue>, StartError> {
        if let Some(queue) = persistent.queue.get() {
            return Ok(queue.clone());
        }
        let dir = persistent.settings.queue_dir("exporter", &self.id.to_string());
        let options = QueueOptions {
            fsync: persistent.settings.fsync,
            sizer: self.settings.queue.sizer,
            capacity: self.settings.queue.queue_size as u64,
            timeout: persistent.settings.timeout,
        };
        let queue = DiskQueue::open_shared(&dir, options)
            .map_err(|e| StartError::new(&self.id, format!("cannot open its persistent queue: {e}")))?;
        let stats = queue.stats();
        self.metrics.observe(&queue);
        if stats.requests > 0 {
            tracing::info!(
                message = "Persistent queue opened with data from before; delivering it.",
                exporter = %self.id,
                directory = %dir.display(),
                requests = stats.requests,
                items = stats.items,
            );
        }
        Ok(persistent.queue.get_or_init(|| queue).clone())
    }

    /// Hands a batch to this exporter. With the queue on, a full queue refuses at
    /// once (counted in `otelcol_exporter_enqueue_failed_*`) unless
    /// `block_on_overflow` says to wait for room. A persistent queue resolves once
    /// the batch is written to its files; `wait_for_result`, once it was delivered.
    pub async fn enqueue(&self, batch: Arc<ExportBatch>) -> Result<(), ConsumeError> {
        if !self.settings.queue.enabled {
            let worker = self.worker();
            return worker.send_with_retry(&batch).await.into_answer(&self.id);
        }
        if let Some(persistent) = &self.persistent {
            return self.enqueue_on_disk(persistent, batch).await;
        }
        let cost = cost(self.settings.queue.sizer, &batch);
        let capacity = self.settings.queue.queue_size as u64;
        loop {
            let room = self.room.notified();
            let used = self.used.load(Ordering::Relaxed);
            // One batch always fits an empty queue, however large.
            if used == 0 || used + cost <= capacity {
                if self
                    .used
                    .compare_exchange(used, used + cost, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
                {
                    continue;
                }
                break;
            }
            if !self.settings.queue.block_on_overflow || self.sender.is_closed() {
                return Err(self.refuse(&batch, "sending queue is full"));
            }
            // Woken when a worker takes a batch; the bound makes a missed wake-up
            // cost a moment, not a hang.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(100), room).await;
        }
        let (done, answer) = if self.settings.queue.wait_for_result {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let queued = Queued {
            batch: batch.clone(),
            cost,
            done,
        };
        if self.sender.try_send(queued).is_err() {
            self.used.fetch_sub(cost, Ordering::Relaxed);
            return Err(self.refuse(&batch, "exporter is shutting down"));
        }
        self.metrics.queue_size.set(self.used.load(Ordering::Relaxed) as f64);
        match answer {
            Some(answer) => answer.await.unwrap_or(Delivery::Dropped).into_answer(&self.id),
            None => Ok(()),
        }
    }

    /// Counts and logs a refused batch; the error for the client.
    fn refuse(&self, batch: &ExportBatch, why: &'static str) -> ConsumeError {
        self.metrics.enqueue_failed[index(batch.signal())].increment(batch.items() as u64);
        self.metrics.refusals.record(why, batch.items() as u64);
        ConsumeError::retryable(format!("exporter {}: {why}", self.id), Some(FULL_QUEUE_RETRY_AFTER))
    }

    /// Writes a batch to the persistent queue.
    async fn enqueue_on_disk(&self, persistent: &Persistent, batch: Arc<ExportBatch>) -> Result<(), ConsumeError> {
        let Some(queue) = persistent.queue.get() else {
            return Err(self.refuse(&batch, "persistent queue is not open"));
        };
        let payload = batch.protobuf();
        loop {
            let room = queue.room();
            match queue
                .push(batch.signal() as u8, batch.items() as u32, payload.clone())
                .await
            {
                Ok(()) => {
                    if persistent.failing.swap(false, Ordering::SeqCst) {
                        persistent.pressure.end();
                        tracing::info!(message = "Writing to the persistent queue works again.", exporter = %self.id);
                    }
                    self.metrics.observe(queue);
                    return Ok(());
                }
                Err(PushError::Full) if self.settings.queue.block_on_overflow && !self.abort.is_cancelled() => {
                    let _ = tokio::time::timeout(std::time::Duration::from_millis(100), room).await;
                }
                Err(PushError::Full) => return Err(self.refuse(&batch, "sending queue is full")),
                Err(error @ PushError::Write { .. }) => {
                    if !persistent.failing.swap(true, Ordering::SeqCst) {
                        persistent.pressure.begin();
                        tracing::error!(message = "Cannot write to the persistent queue; refusing data (retryable) and reporting not ready until a write succeeds.", exporter = %self.id, %error);
                    }
                    return Err(self.refuse(&batch, "persistent queue cannot write"));
                }
            }
        }
    }

    /// Batches waiting in the queue (for a persistent queue: records not yet delivered).
    pub fn len(&self) -> usize {
        match self.persistent.as_ref().and_then(|p| p.queue.get()) {
            Some(queue) => queue.stats().requests as usize,
            None => self.receiver.len(),
        }
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes the queue and lets the workers drain it until `deadline`; then aborts
    /// what is left. Returns how many items could not be delivered. A persistent
    /// queue keeps what the deadline left in its files (not counted as lost).
    pub async fn shutdown(&self, deadline: Instant) -> u64 {
        self.sender.close();
        self.metrics.refusals.flush();
        if let Some(persistent) = &self.persistent {
            if let Some(queue) = persistent.queue.get() {
                // A reload that changed this exporter started a new queue on the same
                // files: it delivers from here on, so stop at once.
                let others = queue.detach();
                if others == 0 {
                    let _ = tokio::time::timeout_at(deadline, queue.wait_empty()).await;
                }
                self.abort.cancel();
                self.join_workers(Instant::now()).await;
                self.metrics.observe(queue);
                let left = queue.stats();
                if left.requests > 0 && others == 0 {
                    tracing::warn!(
                        message = "Shutdown deadline reached; undelivered data stays in the persistent queue for the next start.",
                        exporter = %self.id,
                        directory = %queue.dir().display(),
                        requests = left.requests,
                        items = left.items,
                    );
                }
            }
            if persistent.failing.swap(false, Ordering::SeqCst) {
                persistent.pressure.end();
            }
            return self.exporter.drain(deadline).await;
        }
        self.join_workers(deadline).await;
        // Anything no worker took (e.g. the workers were never started).
        while let Ok(queued) = self.receiver.try_recv() {
            self.metrics
                .lost
                .fetch_add(queued.batch.items() as u64, Ordering::Relaxed);
            self.metrics.send_failed[index(queued.batch.signal())].increment(queued.batch.items() as u64);
            if let Some(done) = queued.done {
                let _ = done.send(Delivery::Dropped);
            }
        }
        self.metrics.queue_size.set(0.0);
        let held = self.exporter.drain(deadline).await;
        self.metrics.lost.load(Ordering::Relaxed) + held
    }

    /// Waits for the workers (the queue is closed) until `deadline`. Past it, workers
    /// give up their in-flight batch (lost on shutdown, handed back when retiring,
    /// kept when persistent) and pass over what is still queued, which takes a
    /// moment of grace.
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
        while let Ok(queued) = self.receiver.try_recv() {
            undelivered.push(queued.batch);
        }
        self.join_workers(deadline).await;
        while let Ok(queued) = self.receiver.try_recv() {
            undelivered.push(queued.batch);
        }
        undelivered.append(&mut self.handed_back.lock().unwrap_or_else(|p| p.into_inner()));
        self.metrics.queue_size.set(0.0);
        self.exporter.shutdown().await;
        undelivered
    }
}

/// Takes more requests from the queue after `taken`'s first, until the batch is
/// `min_size` big or `flush_timeout` has passed since the first was taken.
async fn gather(receiver: &async_channel::Receiver<Queued>, taken: &mut Vec<Queued>, batching: &QueueBatchConfig) {
    let deadline = tokio::time::Instant::now() + batching.flush_timeout;
    let mut size: u64 = taken.iter().map(|q| cost(batching.sizer, &q.batch)).sum();
    while size < batching.min_size {
        let next = match receiver.try_recv() {
            Ok(next) => next,
            Err(_) => match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Ok(next)) => next,
                // The flush timeout passed, or the queue closed.
                _ => break,
            },
        };
        size += cost(batching.sizer, &next.batch);
        taken.push(next);
    }
}

/// Merges requests into batches of at most `max_size` (`sizer` units; 0 for no
/// limit): one signal and one client per batch, whole requests packed in order by
/// concatenating their encodings, and a request bigger than `max_size` split. Each
/// batch carries the result channels of the requests in it, so that
/// `wait_for_result` clients hear what became of their data.
fn merge(taken: Vec<Queued>, batching: &QueueBatchConfig) -> Vec<Merged> {
    let limit = if batching.max_size == 0 {
        u64::MAX
    } else {
        batching.max_size
    };
    let mut out: Vec<Merged> = Vec::new();
    let mut open: Vec<Pending> = Vec::new();
    for queued in taken {
        let size = cost(batching.sizer, &queued.batch);
        if size > limit {
            out.extend(split(queued, batching.sizer, limit));
            continue;
        }
        let fits = |p: &Pending| {
            p.signal == queued.batch.signal()
                && same_client(p.client.as_ref(), queued.batch.client())
                && p.size + size <= limit
        };
        match open.iter_mut().find(|p| fits(p)) {
            Some(pending) => pending.add(queued, size),
            None => {
                // A batch of this signal and client that is full goes out now.
                if let Some(at) = open.iter().position(|p| {
                    p.signal == queued.batch.signal() && same_client(p.client.as_ref(), queued.batch.client())
                }) {
                    out.push(open.swap_remove(at).finish());
                }
                open.push(Pending::new(queued, size));
            }
        }
    }
    out.extend(open.into_iter().map(Pending::finish));
    out
}

/// One merged batch with the result channels of the requests in it.
type Merged = Queued;

/// A batch being merged.
struct Pending {
    signal: Signal,
    client: Option<Arc<crate::pdata::ClientInfo>>,
    size: u64,
    items: usize,
    parts: Vec<Arc<ExportBatch>>,
    done: Vec<oneshot::Sender<Delivery>>,
}

impl Pending {
    fn new(queued: Queued, size: u64) -> Self {
        let mut pending = Pending {
            signal: queued.batch.signal(),
            client: queued.batch.client().cloned(),
            size: 0,
            items: 0,
            parts: Vec::new(),
            done: Vec::new(),
        };
        pending.add(queued, size);
        pending
    }

    fn add(&mut self, queued: Queued, size: u64) {
        self.size += size;
        self.items += queued.batch.items();
        self.parts.push(queued.batch);
        self.done.extend(queued.done);
    }

    /// The merged batch: the request itself when there is one, else the
    /// concatenation of the encodings (the encoding of the merged request).
    fn finish(mut self) -> Merged {
        let batch = if self.parts.len() == 1 {
            self.parts.pop().expect("one part")
        } else {
            let encodings: Vec<bytes::Bytes> = self.parts.iter().map(|p| p.protobuf()).collect();
            let mut joined = bytes::BytesMut::with_capacity(encodings.iter().map(bytes::Bytes::len).sum());
            for encoding in &encodings {
                joined.extend_from_slice(encoding);
            }
            Arc::new(ExportBatch::from_protobuf(self.signal, self.items, joined.freeze()).with_client(self.client))
        };
        Queued {
            cost: self.size,
            batch,
            done: fan_in(self.done),
        }
    }
}

/// Splits a request bigger than `limit` into batches of at most `limit` (a
/// request counts at least 1, so with the `requests` sizer nothing is split).
fn split(queued: Queued, sizer: Sizer, limit: u64) -> Vec<Merged> {
    let client = queued.batch.client().cloned();
    let mut rest = queued.batch.data().clone();
    let total = cost(sizer, &queued.batch).max(1);
    // Items per piece: by items directly; by bytes in proportion to the encoding.
    let per_piece = match sizer {
        Sizer::Items => limit as usize,
        Sizer::Bytes => ((queued.batch.items() as u64 * limit) / total).max(1) as usize,
        Sizer::Requests => usize::MAX,
    };
    let mut pieces = Vec::new();
    while !rest.is_empty() {
        let piece = rest.split_front(per_piece);
        if piece.is_empty() {
            break;
        }
        pieces.push(Arc::new(ExportBatch::new(piece).with_client(client.clone())));
    }
    let done = fan_in(queued.done.into_iter().collect());
    let mut senders = done.map(|d| split_sender(d, pieces.len()));
    pieces
        .into_iter()
        .map(|batch| Queued {
            cost: cost(sizer, &batch),
            batch,
            done: senders.as_mut().and_then(Vec::pop),
        })
        .collect()
}

fn same_client(a: Option<&Arc<crate::pdata::ClientInfo>>, b: Option<&Arc<crate::pdata::ClientInfo>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// One result channel that forwards its answer to every one of `done`.
fn fan_in(done: Vec<oneshot::Sender<Delivery>>) -> Option<oneshot::Sender<Delivery>> {
    match done.len() {
        0 => None,
        _ => {
            let (sender, receiver) = oneshot::channel::<Delivery>();
            tokio::spawn(async move {
                let delivery = receiver.await.unwrap_or(Delivery::Dropped);
                for done in done {
                    let _ = done.send(delivery);
                }
            });
            Some(sender)
        }
    }
}

/// `n` result channels whose answers combine into `done`'s: delivered only if every
/// piece was, otherwise the first other outcome.
fn split_sender(done: oneshot::Sender<Delivery>, n: usize) -> Vec<oneshot::Sender<Delivery>> {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| oneshot::channel::<Delivery>()).unzip();
    tokio::spawn(async move {
        let mut outcome = Delivery::Delivered;
        for receiver in receivers {
            let delivery = receiver.await.unwrap_or(Delivery::Dropped);
            if outcome == Delivery::Delivered {
                outcome = delivery;
            }
        }
        let _ = done.send(outcome);
    });
    senders
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
    /// Not delivered by the shutdown deadline; stays in the persistent queue.
    Kept,
}

impl Delivery {
    /// What a client waiting on this batch is told.
    fn into_answer(self, id: &ComponentId) -> Result<(), ConsumeError> {
        match self {
            Delivery::Delivered => Ok(()),
            Delivery::Dropped => Err(ConsumeError::retryable(format!("exporter {id} failed to send"), None)),
            Delivery::HandedBack | Delivery::Kept => {
                Err(ConsumeError::retryable(format!("exporter {id} is retiring"), None))
            }
        }
    }
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
    /// Batches come from a persistent queue: at the shutdown deadline they are
    /// kept there, not lost.
    persistent: bool,
}

impl Worker {
    /// Sends one batch of the in-memory queue, and tells a client waiting on it.
    async fn deliver(&self, queued: Queued) {
        let delivery = if self.retiring.is_cancelled() {
            Delivery::HandedBack
        } else if self.abort.is_cancelled() {
            self.give_up(&queued.batch, "shutdown deadline passed");
            Delivery::Dropped
        } else {
            self.send_with_retry(&queued.batch).await
        };
        if delivery == Delivery::HandedBack {
            self.hand_back(queued.batch);
        }
        if let Some(done) = queued.done {
            let _ = done.send(delivery);
        }
    }

    /// Takes records from a persistent queue and sends them until shutdown: a
    /// record is marked done once delivered or given up on for good, and put back
    /// when the shutdown deadline interrupts it.
    ///
    /// Records that are ready together are sent as one request, up to
    /// [`MERGE_ITEMS`] items and [`MERGE_BYTES`]: a busy pipeline writes many small
    /// records (each one group commit of its clients' requests), and a request per
    /// record would cost the backend and this process a request's overhead each.
    /// Concatenated Export*ServiceRequest encodings are the encoding of the merged
    /// request, so nothing is decoded or re-encoded.
    async fn drain_disk(self, queue: Arc<DiskQueue>) {
        loop {
            let first = tokio::select! {
                biased;
                _ = self.abort.cancelled() => return,
                record = queue.pop() => record,
            };
            let Some(signal) = Signal::ALL.get(usize::from(first.kind)).copied() else {
                tracing::error!(message = "A persistent queue record names no known signal; skipping it.", exporter = %self.id, kind = first.kind);
                queue.ack(first.seq);
                continue;
            };
            let mut items = first.items as usize;
            let mut bytes = first.payload.len();
            let mut records = vec![first];
            while items < MERGE_ITEMS {
                let Some(next) = queue.try_pop() else { break };
                if next.kind != records[0].kind
                    || items + next.items as usize > MERGE_ITEMS
                    || bytes + next.payload.len() > MERGE_BYTES
                {
                    queue.release(next.seq);
                    break;
                }
                items += next.items as usize;
                bytes += next.payload.len();
                records.push(next);
            }
            let payload = match records.as_slice() {
                [one] => one.payload.clone(),
                many => {
                    let mut joined = bytes::BytesMut::with_capacity(bytes);
                    for record in many {
                        joined.extend_from_slice(&record.payload);
                    }
                    joined.freeze()
                }
            };
            let batch = ExportBatch::from_protobuf(signal, items, payload);
            let delivery = self.send_with_retry(&batch).await;
            for record in records {
                match delivery {
                    Delivery::Delivered | Delivery::Dropped => queue.ack(record.seq),
                    Delivery::HandedBack | Delivery::Kept => queue.release(record.seq),
                }
            }
            self.metrics.observe(&queue);
        }
    }

    /// Sends with timeout and retries, and says what became of the batch.
    async fn send_with_retry(&self, batch: &ExportBatch) -> Delivery {
        let signal = index(batch.signal());
        let items = batch.items() as u64;
        let started = Instant::now();
        let mut backoff = Backoff::new(&self.settings.retry);
        // Encoded and compressed once; every attempt sends these bytes.
        let prepared = self.exporter.prepare(batch);
        loop {
            let attempt = tokio::time::timeout(
                self.settings.timeout,
                self.exporter.export_prepared(batch, prepared.as_ref()),
            );
            let result = tokio::select! {
                biased;
                _ = self.abort.cancelled() => {
                    if self.retiring.is_cancelled() {
                        return Delivery::HandedBack;
                    }
                    if self.persistent {
                        return Delivery::Kept;
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
                    if self.persistent {
                        return Delivery::Kept;
                    }
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
    fn start(&self) -> Result<(), StartError> {
        ExporterQueue::start(self)
    }

    fn acknowledges_durably(&self) -> bool {
        ExporterQueue::acknowledges_durably(self)
    }

    fn enqueue(&self, batch: Arc<ExportBatch>) -> crate::component::BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(ExporterQueue::enqueue(self, batch))
    }

    fn shutdown(&self, deadline: Instant) -> crate::component::BoxFuture<'_, u64> {
        Box::pin(ExporterQueue::shutdown(self, deadline))
    }
}
