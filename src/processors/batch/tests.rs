use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::component::{Consumer, Lifecycle, ProcessorConfig, Signal};
use crate::testing::{traces, Recorder};

fn processor(timeout_ms: u64, size: usize, max: usize, next: Arc<Recorder>) -> BatchProcessor {
    let config = BatchConfig {
        timeout: Duration::from_millis(timeout_ms),
        send_batch_size: size,
        send_batch_max_size: max,
    };
    BatchProcessor::new(config, Signal::Traces, next)
}

fn spans(n: usize) -> crate::pdata::Telemetry {
    let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    traces(&[&refs])
}

#[tokio::test(start_paused = true)]
async fn sends_as_soon_as_send_batch_size_is_reached() {
    let next = Recorder::new();
    let batch = processor(10_000, 5, 0, next.clone());
    batch.start().await.unwrap();
    batch.consume(spans(3)).await.unwrap();
    assert!(next.batch_sizes().is_empty());
    batch.consume(spans(3)).await.unwrap();
    assert_eq!(next.batch_sizes(), vec![6]);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn timeout_sends_a_partial_batch() {
    let next = Recorder::new();
    let batch = processor(200, 100, 0, next.clone());
    batch.start().await.unwrap();
    batch.consume(spans(2)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(199)).await;
    assert!(next.batch_sizes().is_empty(), "sent before the timeout");
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(next.batch_sizes(), vec![2]);
    // The next batch gets its own full timeout.
    batch.consume(spans(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(next.batch_sizes(), vec![2]);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(next.batch_sizes(), vec![2, 1]);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn send_batch_max_size_splits_large_requests() {
    let next = Recorder::new();
    let batch = processor(10_000, 4, 4, next.clone());
    batch.start().await.unwrap();
    batch.consume(spans(10)).await.unwrap();
    assert_eq!(next.batch_sizes(), vec![4, 4]);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(next.batch_sizes(), vec![4, 4, 2]);
    batch.shutdown().await;
}

/// `data` with its protobuf encoding, as a receiver hands it on.
fn encoded(data: &crate::pdata::Telemetry) -> crate::pdata::Encoded {
    crate::pdata::Encoded::new(bytes::Bytes::from(data.encode_protobuf()))
}

/// The encodings the recorder got, as bytes (`None` where a batch came without).
fn encodings(next: &Recorder) -> Vec<Option<bytes::Bytes>> {
    let encodings = next.encodings.lock().unwrap();
    encodings
        .iter()
        .map(|e| e.clone().map(crate::pdata::Encoded::into_bytes))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_whole_encoded_requests_is_sent_as_the_bytes_that_arrived() {
    let next = Recorder::new();
    let batch = processor(10_000, 5, 0, next.clone());
    batch.start().await.unwrap();
    let (a, b) = (spans(3), spans(2));
    let mut expected = a.encode_protobuf();
    expected.extend(b.encode_protobuf());
    batch.consume_encoded(a.clone(), encoded(&a)).await.unwrap();
    batch.consume_encoded(b.clone(), encoded(&b)).await.unwrap();
    assert_eq!(next.batch_sizes(), vec![5]);
    let sent = encodings(&next);
    assert_eq!(
        sent,
        vec![Some(bytes::Bytes::from(expected))],
        "the two bodies, concatenated"
    );
    // And those bytes are the batch that was passed on.
    let sent = sent[0].clone().unwrap_or_default();
    let decoded = crate::pdata::Telemetry::decode_protobuf(Signal::Traces, &sent).unwrap();
    assert_eq!(decoded, next.received.lock().unwrap()[0]);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_batch_with_a_request_that_came_without_its_encoding_is_sent_without() {
    let next = Recorder::new();
    let batch = processor(10_000, 5, 0, next.clone());
    batch.start().await.unwrap();
    let a = spans(3);
    batch.consume_encoded(a.clone(), encoded(&a)).await.unwrap();
    // Changed by a processor before: no encoding.
    batch.consume(spans(2)).await.unwrap();
    let b = spans(5);
    batch.consume_encoded(b.clone(), encoded(&b)).await.unwrap();
    assert_eq!(next.batch_sizes(), vec![5, 5]);
    // The next batch starts afresh.
    assert_eq!(
        encodings(&next),
        vec![None, Some(bytes::Bytes::from(b.encode_protobuf()))]
    );
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_request_split_over_two_batches_is_encoded_again() {
    let next = Recorder::new();
    let batch = processor(10_000, 4, 4, next.clone());
    batch.start().await.unwrap();
    let a = spans(6);
    batch.consume_encoded(a.clone(), encoded(&a)).await.unwrap();
    let b = spans(2);
    batch.consume_encoded(b.clone(), encoded(&b)).await.unwrap();
    assert_eq!(next.batch_sizes(), vec![4, 4]);
    assert_eq!(encodings(&next), vec![None, None]);
    // Once nothing waits, whole requests are sent as they arrived again.
    let c = spans(4);
    batch.consume_encoded(c.clone(), encoded(&c)).await.unwrap();
    assert_eq!(encodings(&next)[2], Some(bytes::Bytes::from(c.encode_protobuf())));
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_pending_and_is_safe_twice_and_without_start() {
    let next = Recorder::new();
    let batch = processor(60_000, 1000, 0, next.clone());
    batch.shutdown().await;
    let batch = processor(60_000, 1000, 0, next.clone());
    batch.start().await.unwrap();
    batch.consume(spans(7)).await.unwrap();
    batch.shutdown().await;
    batch.shutdown().await;
    assert_eq!(next.batch_sizes(), vec![7]);
}

fn refuse(next: &Recorder, error: Option<crate::component::ConsumeError>) {
    *next.refuse.lock().unwrap() = error;
}

fn full() -> crate::component::ConsumeError {
    crate::component::ConsumeError::retryable("queue full", Some(Duration::from_secs(1)))
}

#[tokio::test(start_paused = true)]
async fn a_refused_batch_is_held_new_data_refused_and_nothing_acknowledged_is_lost() {
    let next = Recorder::new();
    refuse(&next, Some(full()));
    let batch = processor(10_000, 2, 0, next.clone());
    batch.start().await.unwrap();
    // The request that completes the batch was taken: the batch is held, not dropped.
    assert!(batch.consume(spans(1)).await.is_ok());
    assert!(batch.consume(spans(1)).await.is_ok());
    // While it is held, new data is refused with the downstream's retry hint.
    let refused = batch.consume(spans(5)).await.unwrap_err();
    assert_eq!(
        refused.retry,
        crate::component::Retry::After(Some(Duration::from_secs(1)))
    );
    assert!(refused.message.contains("2 items are waiting"), "{}", refused.message);
    // Room again: the timer resends the held batch within its retry interval.
    refuse(&next, None);
    tokio::time::sleep(crate::processors::backlog::RETRY_INTERVAL * 2).await;
    assert_eq!(next.batch_sizes(), vec![2]);
    assert!(batch.consume(spans(2)).await.is_ok());
    assert_eq!(next.batch_sizes(), vec![2, 2]);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_timed_batch_refused_downstream_is_held_too() {
    let next = Recorder::new();
    refuse(&next, Some(full()));
    let batch = processor(100, 1000, 0, next.clone());
    batch.start().await.unwrap();
    assert!(batch.consume(spans(3)).await.is_ok());
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        batch.consume(spans(1)).await.is_err(),
        "accepted while a timed batch is held"
    );
    refuse(&next, None);
    tokio::time::sleep(crate::processors::backlog::RETRY_INTERVAL * 2).await;
    assert_eq!(next.batch_sizes(), vec![3]);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_resends_held_batches_until_they_are_taken() {
    let next = Recorder::new();
    refuse(&next, Some(full()));
    let batch = Arc::new(processor(10_000, 2, 0, next.clone()));
    batch.start().await.unwrap();
    assert!(batch.consume(spans(2)).await.is_ok());
    assert!(batch.consume(spans(1)).await.is_err());
    let stopping = tokio::spawn({
        let batch = batch.clone();
        async move { batch.shutdown().await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!stopping.is_finished(), "shutdown gave up on a held batch");
    refuse(&next, None);
    stopping.await.unwrap();
    assert_eq!(next.batch_sizes(), vec![2]);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_refusal_reaches_the_request_that_filled_the_batch() {
    let next = Recorder::new();
    refuse(&next, Some(crate::component::ConsumeError::permanent("wrong signal")));
    let batch = processor(10_000, 2, 0, next.clone());
    batch.start().await.unwrap();
    assert!(batch.consume(spans(1)).await.is_ok());
    let error = batch.consume(spans(1)).await.unwrap_err();
    assert_eq!(error.retry, crate::component::Retry::Never);
    // Nothing is held: the next request is taken.
    refuse(&next, None);
    assert!(batch.consume(spans(2)).await.is_ok());
    assert_eq!(next.batch_sizes(), vec![2]);
    batch.shutdown().await;
}

/// A next stage that answers only when the test lets it: each `consume` notes the
/// batch's size in `arrived`, waits for a permit, then answers as `answer` does
/// (which records what it took, or refuses while told to).
struct Gate {
    arrived: std::sync::Mutex<Vec<usize>>,
    permits: tokio::sync::Semaphore,
    answer: Arc<Recorder>,
}

impl Gate {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            arrived: Default::default(),
            permits: tokio::sync::Semaphore::new(0),
            answer: Recorder::new(),
        })
    }

    fn arrived(&self) -> Vec<usize> {
        self.arrived.lock().unwrap().clone()
    }

    /// Lets the next `n` batches be answered.
    fn open(&self, n: usize) {
        self.permits.add_permits(n);
    }
}

impl Consumer for Gate {
    fn consume(&self, data: crate::pdata::Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            self.arrived.lock().unwrap().push(data.item_count());
            self.permits.acquire().await.expect("never closed").forget();
            self.answer.consume(data).await
        })
    }
}

/// A batch processor built as a pipeline whose exporters acknowledge durably builds
/// it (`ProcessorContext::durable`), so the tests also cover that wiring.
fn durable(timeout_ms: u64, size: usize, max: usize, next: Arc<dyn Consumer>) -> Arc<dyn crate::component::Processor> {
    let config = BatchConfig {
        timeout: Duration::from_millis(timeout_ms),
        send_batch_size: size,
        send_batch_max_size: max,
    };
    let id = crate::component::ComponentId::parse("batch").unwrap();
    let service = crate::component::ServiceHandles::default();
    let ctx = ProcessorContext {
        id: &id,
        pipeline: "traces",
        signal: Signal::Traces,
        exporters: Recorder::new(),
        pipelines: &Default::default(),
        service: &service,
        durable: true,
    };
    config.build(&ctx, next).unwrap()
}

/// As [`durable`] with a fixed number of flusher tasks (the default is one per core),
/// so what reaches the next stage when does not depend on the machine.
fn durable_with_flushers(
    flushers: usize,
    timeout_ms: u64,
    size: usize,
    max: usize,
    next: Arc<dyn Consumer>,
) -> Arc<dyn crate::component::Processor> {
    let config = BatchConfig {
        timeout: Duration::from_millis(timeout_ms),
        send_batch_size: size,
        send_batch_max_size: max,
    };
    Arc::new(
        BatchProcessor::with_id(config, "batch".into(), Signal::Traces, Acknowledge::OncePassedOn, next)
            .with_flushers(flushers),
    )
}

/// Starts `processor.consume(data)` on its own task, so the test can watch whether
/// it has resolved.
fn consume_in_background(
    processor: &Arc<dyn crate::component::Processor>,
    data: crate::pdata::Telemetry,
) -> tokio::task::JoinHandle<Result<(), ConsumeError>> {
    let processor = processor.clone();
    tokio::spawn(async move { processor.consume(data).await })
}

/// Lets every other task run until it waits (the clock is paused: time moves only
/// when every task waits, so this is deterministic).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// The answer of a background `consume`, which must come within a bound.
async fn answer(handle: tokio::task::JoinHandle<Result<(), ConsumeError>>) -> Result<(), ConsumeError> {
    tokio::time::timeout(Duration::from_secs(60), handle)
        .await
        .expect("answered within the bound")
        .expect("the task did not panic")
}

#[tokio::test(start_paused = true)]
async fn durable_a_caller_is_passed_on_at_once_and_answered_once_taken() {
    let next = Gate::new();
    // A long timeout and a large batch: neither is what sends it.
    let batch = durable(10_000, 100, 0, next.clone());
    batch.start().await.unwrap();
    let caller = consume_in_background(&batch, spans(2));
    settle().await;
    assert_eq!(
        next.arrived(),
        vec![2],
        "nothing was being passed on, so it left at once"
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!caller.is_finished(), "answered before the next stage did");
    next.open(1);
    assert!(answer(caller).await.is_ok());
    assert_eq!(next.answer.batch_sizes(), vec![2]);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn durable_a_refused_batch_fails_every_caller_in_it_and_is_not_held() {
    let next = Recorder::new();
    refuse(&next, Some(full()));
    let batch = durable_with_flushers(1, 10_000, 3, 0, next.clone());
    batch.start().await.unwrap();
    let first = consume_in_background(&batch, spans(1));
    settle().await;
    let second = consume_in_background(&batch, spans(2));
    for caller in [first, second] {
        let error = answer(caller).await.unwrap_err();
        assert_eq!(
            error.retry,
            crate::component::Retry::After(Some(Duration::from_secs(1))),
            "not the next stage's retryable refusal: {error}"
        );
    }
    // Nothing was held: once there is room, new data is taken at once, and the
    // refused items (the clients' to retry) are never offered again.
    refuse(&next, None);
    tokio::time::sleep(crate::processors::backlog::RETRY_INTERVAL * 4).await;
    assert!(next.batch_sizes().is_empty(), "a refused batch was resent");
    assert!(batch.consume(spans(3)).await.is_ok());
    assert_eq!(next.batch_sizes(), vec![3]);
    batch.shutdown().await;
    assert_eq!(next.batch_sizes(), vec![3]);
}

#[tokio::test(start_paused = true)]
async fn durable_requests_arriving_during_a_send_share_the_next_batch() {
    let next = Gate::new();
    let batch = durable_with_flushers(1, 10_000, 100, 0, next.clone());
    batch.start().await.unwrap();
    let first = consume_in_background(&batch, spans(1));
    settle().await;
    // While the first is being passed on, two more requests arrive: a group commit.
    let second = consume_in_background(&batch, spans(2));
    let third = consume_in_background(&batch, spans(1));
    settle().await;
    assert_eq!(next.arrived(), vec![1]);
    next.open(1);
    assert!(answer(first).await.is_ok());
    settle().await;
    assert_eq!(next.arrived(), vec![1, 3], "not one request for the two that waited");
    assert!(!second.is_finished() && !third.is_finished());
    next.open(1);
    assert!(answer(second).await.is_ok());
    assert!(answer(third).await.is_ok());
    assert_eq!(next.answer.batch_sizes(), vec![1, 3]);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn durable_flushers_pass_batches_on_side_by_side() {
    let next = Gate::new();
    let batch = durable_with_flushers(2, 10_000, 100, 0, next.clone());
    batch.start().await.unwrap();
    let first = consume_in_background(&batch, spans(1));
    settle().await;
    // The first flusher waits on the next stage; a second one takes the next request.
    let second = consume_in_background(&batch, spans(2));
    settle().await;
    assert_eq!(next.arrived(), vec![1, 2]);
    // Both busy: the third waits for one of them.
    let third = consume_in_background(&batch, spans(3));
    settle().await;
    assert_eq!(next.arrived(), vec![1, 2]);
    next.open(3);
    for caller in [first, second, third] {
        assert!(answer(caller).await.is_ok());
    }
    assert_eq!(next.arrived(), vec![1, 2, 3]);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn durable_a_caller_split_over_two_batches_waits_for_both() {
    let next = Gate::new();
    let batch = durable_with_flushers(1, 10_000, 2, 2, next.clone());
    batch.start().await.unwrap();
    let first = consume_in_background(&batch, spans(1));
    settle().await;
    assert_eq!(next.arrived(), vec![1]);
    // 3 items while the first is in flight: a full batch of 2 leaves at once, the
    // last item after the first batch was taken. The second caller is in both.
    let second = consume_in_background(&batch, spans(3));
    settle().await;
    assert_eq!(next.arrived(), vec![1, 2]);
    next.open(1);
    assert!(answer(first).await.is_ok());
    settle().await;
    assert_eq!(next.arrived(), vec![1, 2, 1]);
    next.open(1);
    settle().await;
    assert!(!second.is_finished(), "answered before its second batch was");
    // Its last batch is refused: its caller is told so, though its first part went.
    refuse(&next.answer, Some(full()));
    next.open(1);
    assert!(answer(second).await.is_err());
    assert_eq!(next.answer.batch_sizes(), vec![1, 2]);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn durable_shutdown_sends_the_pending_batch_and_answers_its_callers() {
    let next = Gate::new();
    let batch = durable_with_flushers(1, 60_000, 1000, 0, next.clone());
    batch.start().await.unwrap();
    let first = consume_in_background(&batch, spans(1));
    settle().await;
    // Pending behind the first, which the next stage has not answered.
    let second = consume_in_background(&batch, spans(7));
    settle().await;
    assert_eq!(next.arrived(), vec![1]);
    let shutdown = {
        let batch = batch.clone();
        tokio::spawn(async move { batch.shutdown().await })
    };
    settle().await;
    next.open(2);
    tokio::time::timeout(Duration::from_secs(60), shutdown)
        .await
        .unwrap()
        .unwrap();
    assert!(answer(first).await.is_ok());
    assert!(answer(second).await.is_ok());
    assert_eq!(next.answer.batch_sizes(), vec![1, 7]);
    // After shutdown, data goes straight on and the caller gets the next stage's answer.
    refuse(&next.answer, Some(full()));
    next.open(1);
    assert!(batch.consume(spans(1)).await.is_err());
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn durable_a_batch_dropped_unsent_tells_its_other_callers_to_retry() {
    let next = Gate::new();
    let batch = durable_with_flushers(1, 10_000, 2, 0, next.clone());
    batch.start().await.unwrap();
    let first = consume_in_background(&batch, spans(1));
    settle().await;
    // Behind the first: the second waits, the third fills a batch and sends it from
    // its own task, which is cancelled mid-send (its client went away), so the batch
    // is gone with the second caller's item.
    let second = consume_in_background(&batch, spans(1));
    settle().await;
    let third = consume_in_background(&batch, spans(1));
    settle().await;
    assert_eq!(next.arrived(), vec![1, 2]);
    third.abort();
    let error = answer(second).await.unwrap_err();
    assert!(matches!(error.retry, crate::component::Retry::After(_)), "{error}");
    next.open(1);
    assert!(answer(first).await.is_ok());
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn on_entry_a_caller_is_answered_before_its_batch_is_sent() {
    let next = Gate::new();
    let batch = BatchProcessor::new(
        BatchConfig {
            timeout: Duration::from_millis(200),
            send_batch_size: 10,
            send_batch_max_size: 0,
        },
        Signal::Traces,
        next.clone(),
    );
    batch.start().await.unwrap();
    // Resolves at once (no background task needed), with nothing sent yet.
    assert!(batch.consume(spans(1)).await.is_ok());
    assert!(next.arrived().is_empty());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(next.arrived(), vec![1]);
    next.open(1);
    batch.shutdown().await;
    assert_eq!(next.answer.batch_sizes(), vec![1]);
}

#[test]
fn max_size_below_size_is_rejected() {
    let config = BatchConfig {
        send_batch_size: 10,
        send_batch_max_size: 5,
        ..BatchConfig::default()
    };
    let errors = crate::confmap::Validate::validate(&config);
    assert_eq!(errors[0].path, "send_batch_max_size");
}
