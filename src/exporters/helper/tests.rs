use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::component::{BoxFuture, ComponentId, Retry};
use crate::confmap::Validate;
use crate::exporters::{ExportBatch, ExportError, ExportOutcome, Exporter};
use crate::testing::traces;

/// An exporter that answers from a script, then succeeds; records every attempt.
#[derive(Default)]
pub(crate) struct Scripted {
    pub(crate) script: Mutex<VecDeque<Result<ExportOutcome, ExportError>>>,
    pub(crate) attempts: Mutex<Vec<tokio::time::Instant>>,
    pub(crate) delivered: Mutex<usize>,
    /// Items of every attempt, counted in the decoded data.
    pub(crate) sizes: Mutex<Vec<usize>>,
    pub(crate) hang: bool,
}

impl Scripted {
    pub(crate) fn new(script: Vec<Result<ExportOutcome, ExportError>>) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.into()),
            ..Default::default()
        })
    }
}

impl Exporter for Scripted {
    fn export<'a>(&'a self, batch: &'a ExportBatch) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        Box::pin(async move {
            self.attempts.lock().unwrap().push(tokio::time::Instant::now());
            self.sizes.lock().unwrap().push(batch.data().item_count());
            if self.hang {
                std::future::pending::<()>().await;
            }
            let next = self.script.lock().unwrap().pop_front();
            let result = next.unwrap_or(Ok(ExportOutcome::default()));
            if result.is_ok() {
                *self.delivered.lock().unwrap() += batch.items();
            }
            result
        })
    }
}

pub(crate) fn settings(queue_size: usize, retry: bool) -> HelperSettings {
    HelperSettings {
        timeout: Duration::from_secs(1),
        queue: QueueConfig {
            enabled: true,
            num_consumers: 1,
            queue_size,
            ..QueueConfig::default()
        },
        retry: RetryConfig {
            enabled: retry,
            initial_interval: Duration::from_secs(1),
            randomization_factor: 0.0,
            multiplier: 2.0,
            max_interval: Duration::from_secs(8),
            max_elapsed_time: Duration::from_secs(20),
        },
    }
}

pub(crate) fn id(name: &str) -> ComponentId {
    ComponentId::parse(name).unwrap()
}

pub(crate) fn batch(n: usize) -> Arc<ExportBatch> {
    let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    Arc::new(ExportBatch::new(traces(&[&refs])))
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_are_retried_with_backoff_and_honour_throttle() {
    let exporter = Scripted::new(vec![
        Err(ExportError::retryable("unavailable")),
        Err(ExportError::Retryable {
            message: "slow down".into(),
            throttle: Some(Duration::from_secs(7)),
        }),
    ]);
    let queue = ExporterQueue::new(id("otlp/a"), exporter.clone(), settings(10, true));
    queue.start().unwrap();
    queue.enqueue(batch(3)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let attempts = exporter.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 3);
    // First wait is initial_interval (1s); the second is the throttle (7s), which
    // is longer than the backoff's 2s.
    assert_eq!((attempts[1] - attempts[0]).as_secs(), 1);
    assert_eq!((attempts[2] - attempts[1]).as_secs(), 7);
    assert_eq!(*exporter.delivered.lock().unwrap(), 3);
    assert_eq!(
        queue
            .shutdown(tokio::time::Instant::now() + Duration::from_secs(1))
            .await,
        0
    );
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried() {
    let exporter = Scripted::new(vec![Err(ExportError::permanent("bad request"))]);
    let queue = ExporterQueue::new(id("otlp/a"), exporter.clone(), settings(10, true));
    queue.start().unwrap();
    queue.enqueue(batch(1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(exporter.attempts.lock().unwrap().len(), 1);
    assert_eq!(*exporter.delivered.lock().unwrap(), 0);
    queue.shutdown(tokio::time::Instant::now()).await;
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_max_elapsed_time() {
    let failures = (0..100).map(|_| Err(ExportError::retryable("down"))).collect();
    let exporter = Scripted::new(failures);
    let queue = ExporterQueue::new(id("otlp/a"), exporter.clone(), settings(10, true));
    queue.start().unwrap();
    queue.enqueue(batch(1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
    // Waits 1, 2, 4, 8 (=15s elapsed); the next 8s wait would pass 20s: give up.
    assert_eq!(exporter.attempts.lock().unwrap().len(), 5);
    queue.shutdown(tokio::time::Instant::now()).await;
}

#[tokio::test(start_paused = true)]
async fn full_queue_refuses_with_a_retry_hint() {
    let exporter = Arc::new(Scripted {
        hang: true,
        ..Default::default()
    });
    let queue = ExporterQueue::new(id("otlp/a"), exporter.clone(), settings(2, true));
    queue.start().unwrap();
    queue.enqueue(batch(1)).await.unwrap(); // taken by the (hanging) worker
    tokio::task::yield_now().await;
    queue.enqueue(batch(1)).await.unwrap();
    queue.enqueue(batch(1)).await.unwrap();
    let refused = queue.enqueue(batch(1)).await.unwrap_err();
    assert!(matches!(refused.retry, Retry::After(Some(_))), "{refused:?}");
    assert!(refused.message.contains("sending queue is full"));
    // At the deadline, the in-flight batch and the two queued ones are reported lost.
    let lost = queue
        .shutdown(tokio::time::Instant::now() + Duration::from_secs(1))
        .await;
    assert_eq!(lost, 3);
}

#[tokio::test(start_paused = true)]
async fn retiring_hands_back_every_undelivered_batch_and_loses_none() {
    // Always failing: the first batch is retrying, the other two wait in the queue.
    let failures = (0..100).map(|_| Err(ExportError::retryable("down"))).collect();
    let exporter = Scripted::new(failures);
    let queue = ExporterQueue::new(id("otlp/a"), exporter.clone(), settings(10, true));
    queue.start().unwrap();
    for n in [1, 2, 3] {
        queue.enqueue(batch(n)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        exporter.attempts.lock().unwrap().len(),
        2,
        "the first batch is retrying"
    );
    let handed = queue.retire(tokio::time::Instant::now() + Duration::from_secs(5)).await;
    let mut sizes: Vec<usize> = handed.iter().map(|b| b.items()).collect();
    sizes.sort();
    assert_eq!(sizes, [1, 2, 3]);
    // It stops at once (no waiting out the backoff) and takes nothing more.
    assert_eq!(exporter.attempts.lock().unwrap().len(), 2);
    assert!(queue.enqueue(batch(1)).await.is_err());
    assert_eq!(
        queue.shutdown(tokio::time::Instant::now()).await,
        0,
        "nothing counted lost"
    );

    // An attempt that hangs past the deadline is cut off and its batch handed back.
    let exporter = Arc::new(Scripted {
        hang: true,
        ..Default::default()
    });
    let queue = ExporterQueue::new(id("otlp/b"), exporter, settings(10, true));
    queue.start().unwrap();
    queue.enqueue(batch(4)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let handed = queue
        .retire(tokio::time::Instant::now() + Duration::from_millis(100))
        .await;
    assert_eq!(handed.iter().map(|b| b.items()).sum::<usize>(), 4);
}

/// A started queue of one slot whose exporter hangs: one batch in flight, one
/// queued, so the next enqueue is refused.
pub(crate) async fn full_queue(name: &str) -> ExporterQueue {
    let exporter = Arc::new(Scripted {
        hang: true,
        ..Default::default()
    });
    let queue = ExporterQueue::new(id(name), exporter, settings(1, true));
    queue.start().unwrap();
    queue.enqueue(batch(1)).await.unwrap(); // taken by the hanging worker
    tokio::task::yield_now().await;
    queue.enqueue(batch(1)).await.unwrap(); // fills the queue
    queue
}

/// An exporter whose backend is down (retryable failure) until `up` is set.
#[derive(Default)]
struct Outage {
    up: std::sync::atomic::AtomicBool,
    pub(crate) delivered: Mutex<Vec<(usize, tokio::time::Instant)>>,
}

impl Exporter for Outage {
    fn export<'a>(&'a self, batch: &'a ExportBatch) -> BoxFuture<'a, Result<ExportOutcome, ExportError>> {
        Box::pin(async move {
            if !self.up.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(ExportError::retryable("connection refused"));
            }
            let now = tokio::time::Instant::now();
            self.delivered.lock().unwrap().push((batch.items(), now));
            Ok(ExportOutcome::default())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_successful_send_ends_the_other_workers_back_off() {
    let exporter = Arc::new(Outage::default());
    let mut settings = settings(10, true);
    settings.queue.num_consumers = 2;
    settings.retry.max_elapsed_time = Duration::from_secs(300);
    let queue = ExporterQueue::new(id("otlp/a"), exporter.clone(), settings);
    queue.start().unwrap();
    let start = tokio::time::Instant::now();
    // Worker 1 fails at 0, 1, 3 and 7 s and then waits 8 s (until 15 s).
    queue.enqueue(batch(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(7_100)).await;
    // Worker 2 starts failing at 7.1 s, so its first wait ends at 8.1 s.
    queue.enqueue(batch(2)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    exporter.up.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let delivered = exporter.delivered.lock().unwrap().clone();
    assert_eq!(
        delivered.iter().map(|(items, _)| items).sum::<usize>(),
        3,
        "both batches delivered by 8.2 s: {delivered:?}"
    );
    for (_, at) in delivered {
        assert!(at - start < Duration::from_millis(8_200), "{:?}", at - start);
    }
    queue.shutdown(tokio::time::Instant::now()).await;
}

/// Collects what a `tracing` subscriber writes.
#[derive(Clone, Default)]
struct LogLines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogLines {
    fn matching(&self, needle: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_logs_one_summary_line_per_interval() {
    let logs = LogLines::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let queue = full_queue("otlp/a").await;
    for _ in 0..100 {
        assert!(queue.enqueue(batch(2)).await.is_err());
    }
    let needle = "Exporter could not take data";
    assert_eq!(logs.matching(needle).len(), 1, "the first refusal is logged at once");
    tokio::time::sleep(super::queue::REFUSAL_LOG_INTERVAL + Duration::from_millis(10)).await;
    let lines = logs.matching(needle);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[1].contains("refused_batches=99") && lines[1].contains("dropped_items=198"),
        "{}",
        lines[1]
    );
    queue.shutdown(tokio::time::Instant::now()).await;
}

fn persistent_queue(dir: &std::path::Path, exporter: Arc<Scripted>, settings: HelperSettings) -> ExporterQueue {
    let storage = crate::storage::StorageSettings {
        directory: dir.to_path_buf(),
        fsync: false,
        timeout: Duration::from_secs(5),
    };
    ExporterQueue::with_storage(
        id("otlp/disk"),
        exporter,
        settings,
        Some(Persistent::new(storage, Arc::default())),
    )
}

fn temp_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sloop-queue-{}-{}", std::process::id(), rand::random::<u64>()))
}

#[tokio::test]
async fn a_persistent_queue_keeps_what_shutdown_left_and_delivers_it_after_a_restart() {
    let dir = temp_dir();
    // The backend is down: every attempt fails.
    let failures = (0..1000).map(|_| Err(ExportError::retryable("down"))).collect();
    let down = Scripted::new(failures);
    let queue = persistent_queue(&dir, down.clone(), settings(10, true));
    assert!(queue.acknowledges_durably());
    queue.start().unwrap();
    for n in 1..=3 {
        queue.enqueue(batch(n)).await.unwrap();
    }
    assert_eq!(queue.len(), 3);
    let lost = queue
        .shutdown(tokio::time::Instant::now() + Duration::from_millis(200))
        .await;
    assert_eq!(lost, 0, "nothing is lost: it stays on disk");
    assert!(!down.attempts.lock().unwrap().is_empty(), "it tried");
    drop(queue);

    // A new process: the backend is up.
    let up = Scripted::new(Vec::new());
    let queue = persistent_queue(&dir, up.clone(), settings(10, true));
    queue.start().unwrap();
    let delivered = crate::testing::poll(Duration::from_secs(10), || *up.delivered.lock().unwrap() == 6).await;
    assert!(delivered, "delivered {} of 6 items", up.delivered.lock().unwrap());
    crate::testing::poll(Duration::from_secs(10), || queue.is_empty()).await;
    assert!(queue.is_empty());
    queue
        .shutdown(tokio::time::Instant::now() + Duration::from_secs(1))
        .await;
}

#[tokio::test]
async fn a_full_persistent_queue_refuses_by_its_sizer() {
    let dir = temp_dir();
    let hang = Arc::new(Scripted {
        hang: true,
        ..Default::default()
    });
    let mut s = settings(2, true);
    s.queue.sizer = crate::storage::Sizer::Items;
    s.queue.queue_size = 5;
    let queue = persistent_queue(&dir, hang, s);
    queue.start().unwrap();
    queue.enqueue(batch(3)).await.unwrap();
    queue.enqueue(batch(2)).await.unwrap();
    let refused = queue.enqueue(batch(1)).await.unwrap_err();
    assert_eq!(refused.retry, Retry::After(Some(Duration::from_secs(1))));
    queue.shutdown(tokio::time::Instant::now()).await;
}

#[tokio::test]
async fn wait_for_result_answers_after_the_backend_took_it() {
    let exporter = Scripted::new(vec![Err(ExportError::retryable("once"))]);
    let mut s = settings(10, true);
    s.queue.wait_for_result = true;
    s.retry.initial_interval = Duration::from_millis(10);
    s.retry.max_interval = Duration::from_millis(10);
    let queue = ExporterQueue::new(id("otlp/w"), exporter.clone(), s);
    assert!(queue.acknowledges_durably());
    queue.start().unwrap();
    queue.enqueue(batch(4)).await.unwrap();
    // Answered only after the retry delivered it.
    assert_eq!(*exporter.delivered.lock().unwrap(), 4);
    assert_eq!(exporter.attempts.lock().unwrap().len(), 2);

    // Given up on: the client hears it.
    let exporter = Scripted::new(vec![Err(ExportError::permanent("bad"))]);
    let mut s = settings(10, true);
    s.queue.wait_for_result = true;
    let queue = ExporterQueue::new(id("otlp/w"), exporter, s);
    queue.start().unwrap();
    assert!(queue.enqueue(batch(1)).await.is_err());
}

#[tokio::test]
async fn block_on_overflow_waits_for_room_instead_of_refusing() {
    let exporter = Arc::new(Scripted::default());
    let mut s = settings(1, true);
    s.queue.block_on_overflow = true;
    let queue = Arc::new(ExporterQueue::new(id("otlp/b"), exporter.clone(), s));
    // Not started yet: the first batch fills the queue, the second must wait.
    queue.enqueue(batch(1)).await.unwrap();
    let waiting = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.enqueue(batch(1)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "a full queue makes the client wait");
    queue.start().unwrap();
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("room was made")
        .unwrap()
        .unwrap();
    assert!(crate::testing::poll(Duration::from_secs(5), || *exporter.delivered.lock().unwrap() == 2).await);
}

#[tokio::test]
async fn the_items_sizer_bounds_an_in_memory_queue_by_items() {
    let exporter = Arc::new(Scripted {
        hang: true,
        ..Default::default()
    });
    let mut s = settings(10, true);
    s.queue.sizer = crate::storage::Sizer::Items;
    let queue = ExporterQueue::new(id("otlp/i"), exporter, s);
    // Not started: nothing leaves the queue.
    queue.enqueue(batch(6)).await.unwrap();
    queue.enqueue(batch(4)).await.unwrap();
    assert!(queue.enqueue(batch(1)).await.is_err(), "10 items is the capacity");
}

#[tokio::test]
async fn records_ready_together_leave_a_persistent_queue_as_one_request() {
    let dir = temp_dir();
    let exporter = Scripted::new(Vec::new());
    let queue = persistent_queue(&dir, exporter.clone(), settings(10, true));
    // Written before the workers start (the queue takes over this open queue), so
    // all three are ready at once.
    let disk = crate::storage::DiskQueue::open_shared(
        &crate::storage::StorageSettings {
            directory: dir.clone(),
            fsync: false,
            timeout: Duration::from_secs(5),
        }
        .queue_dir("exporter", "otlp/disk"),
        crate::storage::QueueOptions {
            fsync: false,
            sizer: crate::storage::Sizer::Requests,
            capacity: 100,
            timeout: Duration::from_secs(5),
        },
    )
    .unwrap();
    for n in [1, 2, 3] {
        let batch = batch(n);
        disk.push(0, n as u32, batch.protobuf()).await.unwrap();
    }
    queue.start().unwrap();
    assert!(crate::testing::poll(Duration::from_secs(5), || *exporter.delivered.lock().unwrap() == 6).await);
    assert_eq!(
        exporter.attempts.lock().unwrap().len(),
        1,
        "three ready records, one request"
    );
    assert!(crate::testing::poll(Duration::from_secs(5), || disk.stats().requests == 0).await);
    queue
        .shutdown(tokio::time::Instant::now() + Duration::from_secs(1))
        .await;
}

fn batching(min_size: u64, max_size: u64) -> HelperSettings {
    let mut settings = settings(100, false);
    settings.queue.batch = Some(QueueBatchConfig {
        flush_timeout: Duration::from_secs(1),
        min_size,
        max_size,
        ..QueueBatchConfig::default()
    });
    settings
}

#[tokio::test(start_paused = true)]
async fn queue_batching_merges_requests_until_min_size_or_flush_timeout() {
    let exporter = Scripted::new(vec![]);
    let queue = ExporterQueue::new(id("otlp/a"), exporter.clone(), batching(10, 0));
    queue.start().unwrap();
    for _ in 0..4 {
        queue.enqueue(batch(3)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    // 3 + 3 + 3 is below min_size; the fourth request makes 12, sent at once as one
    // request whose concatenated encoding decodes to every span.
    assert_eq!(*exporter.sizes.lock().unwrap(), vec![12]);
    queue.enqueue(batch(2)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(exporter.sizes.lock().unwrap().len(), 1, "sent before flush_timeout");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*exporter.sizes.lock().unwrap(), vec![12, 2]);
    assert_eq!(*exporter.delivered.lock().unwrap(), 14);
    queue.shutdown(tokio::time::Instant::now()).await;
}

#[tokio::test(start_paused = true)]
async fn queue_batching_packs_whole_requests_up_to_max_size_and_splits_bigger_ones() {
    let exporter = Scripted::new(vec![]);
    let queue = ExporterQueue::new(id("otlp/a"), exporter.clone(), batching(5, 5));
    queue.start().unwrap();
    queue.enqueue(batch(3)).await.unwrap();
    queue.enqueue(batch(3)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    queue.enqueue(batch(12)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut sizes = exporter.sizes.lock().unwrap().clone();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![2, 3, 3, 5, 5]);
    assert_eq!(*exporter.delivered.lock().unwrap(), 18);
    queue.shutdown(tokio::time::Instant::now()).await;
}

#[test]
fn queue_batch_settings_are_checked() {
    let errors = QueueConfig {
        batch: Some(QueueBatchConfig {
            flush_timeout: Duration::ZERO,
            min_size: 100,
            max_size: 10,
            ..QueueBatchConfig::default()
        }),
        ..QueueConfig::default()
    }
    .validate();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["batch.flush_timeout", "batch.max_size"]);
}
