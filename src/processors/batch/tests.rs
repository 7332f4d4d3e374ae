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

#[tokio::test(start_paused = true)]
async fn refusal_downstream_reaches_the_request_that_filled_the_batch() {
    let next = Recorder::new();
    *next.refuse.lock().unwrap() = Some(crate::component::ConsumeError::retryable("full", None));
    let batch = processor(10_000, 2, 0, next.clone());
    batch.start().await.unwrap();
    assert!(batch.consume(spans(1)).await.is_ok());
    assert!(batch.consume(spans(1)).await.is_err());
    batch.shutdown().await;
}

#[test]
fn max_size_below_size_is_rejected() {
    let config = BatchConfig {
        send_batch_size: 10,
        send_batch_max_size: 5,
        ..BatchConfig::default()
    };
    let errors = crate::config::Validate::validate(&config);
    assert_eq!(errors[0].path, "send_batch_max_size");
}
