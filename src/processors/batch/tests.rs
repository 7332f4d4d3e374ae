use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::component::{Consumer, Lifecycle, Signal};
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
