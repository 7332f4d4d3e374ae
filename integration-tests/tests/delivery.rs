//! Acknowledged means delivered: every span a client got OK for reaches the
//! backend, even when the exporter's queue fills up behind `batch` while the
//! backend is down, and when the backend crashes with exports in flight. Each
//! span has a unique id; the test compares the ids clients were told were
//! accepted with the ids the backend recorded.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use integration_tests::payloads::trace_request;
use integration_tests::{free_port, metric_sum, poll_until, CrashingGrpcBackend, Sloop, SloopPorts};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tonic::Code;

/// How long the backend may take to receive the backlog once it is up.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(90);

fn config(ports: &SloopPorts, backend: &CrashingGrpcBackend, batch: &str, queue: &str) -> String {
    format!(
        "{receivers}\
processors:
  batch:
{batch}
exporters:
  otlp_grpc:
    endpoint: {endpoint}
    tls:
      insecure: true
    sending_queue:
{queue}
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
      max_elapsed_time: 0s
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        endpoint = backend.endpoint(),
        service = ports.service_yaml(&["batch"], &["otlp_grpc"]),
    )
}

/// What the clients were told.
#[derive(Default)]
struct Answers {
    /// Span ids of requests answered OK.
    acknowledged: HashSet<Vec<u8>>,
    /// Spans of requests refused with RESOURCE_EXHAUSTED + RetryInfo, or UNAVAILABLE.
    refused_spans: usize,
    /// Codes of those refusals.
    refusal_codes: HashSet<Code>,
    /// Refusals that were not retryable, or RESOURCE_EXHAUSTED without RetryInfo
    /// (must stay empty).
    other: Vec<tonic::Status>,
}

/// Sends `requests` requests of `spans` spans each from one connection, recording
/// every answer. A refused request is not sent again: its spans were never
/// acknowledged, so they are not expected at the backend.
async fn send(url: String, tag: String, requests: usize, spans: usize, answers: Arc<Mutex<Answers>>) {
    let mut client = TraceServiceClient::connect(url).await.expect("connecting to sloop");
    for r in 0..requests {
        let request = trace_request(&format!("{tag}-{r}"), spans);
        let ids: Vec<Vec<u8>> = request.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.span_id.clone())
            .collect();
        let result = client.export(request).await;
        let mut answers = answers.lock().unwrap();
        match result {
            Ok(_) => answers.acknowledged.extend(ids),
            Err(status)
                if status.code() == Code::Unavailable
                    || (status.code() == Code::ResourceExhausted && has_retry_info(&status)) =>
            {
                answers.refused_spans += spans;
                answers.refusal_codes.insert(status.code());
            }
            Err(status) => answers.other.push(status),
        }
    }
}

/// Whether a status carries a `google.rpc.RetryInfo` detail (the retry hint).
fn has_retry_info(status: &tonic::Status) -> bool {
    let needle = b"google.rpc.RetryInfo";
    status.details().windows(needle.len()).any(|w| w == needle)
}

/// Runs `senders` concurrent senders to completion.
async fn send_all(ports: &SloopPorts, senders: usize, requests: usize, spans: usize) -> Answers {
    let answers = Arc::new(Mutex::new(Answers::default()));
    let tasks: Vec<_> = (0..senders)
        .map(|s| {
            tokio::spawn(send(
                ports.grpc_url(),
                format!("s{s}"),
                requests,
                spans,
                answers.clone(),
            ))
        })
        .collect();
    for task in tasks {
        task.await.expect("sender task");
    }
    let answers = Arc::try_unwrap(answers).unwrap_or_else(|_| panic!("every sender has finished"));
    answers.into_inner().unwrap()
}

/// Waits until the backend holds every acknowledged span id; returns the ids
/// still missing at the end and how many spans arrived more than once.
async fn wait_for_delivery(backend: &CrashingGrpcBackend, acknowledged: &HashSet<Vec<u8>>) -> (usize, usize) {
    let delivered = || {
        let spans = backend.spans();
        let total = spans.len();
        let ids: HashSet<Vec<u8>> = spans.into_iter().map(|s| s.span.span_id).collect();
        (ids, total)
    };
    poll_until(DELIVERY_TIMEOUT, Duration::from_millis(200), || async {
        let (ids, _) = delivered();
        acknowledged.is_subset(&ids).then_some(())
    })
    .await;
    let (ids, total) = delivered();
    (acknowledged.difference(&ids).count(), total - ids.len())
}

/// Finding 1 of issue 10: queue_size 20 behind `batch`, backend down, 301
/// requests of 50 spans. Before the fix all 301 were answered OK and 78% of the
/// spans were lost. Now every request is either refused with a retryable status
/// or its spans are delivered once the backend is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_behind_batch_refuses_clients_and_loses_nothing_acknowledged() {
    let mut backend = CrashingGrpcBackend::new(free_port(), Duration::ZERO);
    let ports = SloopPorts::new();
    let batch = "    timeout: 100ms\n    send_batch_size: 500";
    let queue = "      queue_size: 20\n      num_consumers: 2";
    let sloop = Sloop::start(&config(&ports, &backend, batch, queue), &ports).await;

    // The backend is down while all of it is sent.
    let answers = send_all(&ports, 4, 76, 50).await;
    assert!(answers.other.is_empty(), "non-retryable refusals: {:?}", answers.other);
    let acknowledged = answers.acknowledged.len();
    assert!(
        answers.refused_spans > 0,
        "the queue never filled, so nothing was tested ({acknowledged} spans acknowledged)"
    );
    assert!(acknowledged > 0, "sloop refused everything");
    assert_eq!(
        answers.refusal_codes,
        HashSet::from([Code::ResourceExhausted]),
        "a full pipeline is RESOURCE_EXHAUSTED + RetryInfo, as the README's table says"
    );
    // OTLP/HTTP gets the same refusal as 429 with Retry-After. The pipeline is full
    // while the backend is down, but a slot can free up between the last gRPC
    // refusal and this request (the batch processor passes its pending data on when
    // a queue slot frees), so a request may still be taken: its spans must then
    // arrive like any acknowledged ones. Bounded: the queue holds 20 requests.
    let mut acknowledged_ids = answers.acknowledged.clone();
    let mut http_refused = None;
    for attempt in 0..50 {
        let request = trace_request(&format!("http{attempt}"), 5);
        let body = prost::Message::encode_to_vec(&request);
        let response = reqwest::Client::new()
            .post(ports.http_url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await
            .expect("POST /v1/traces");
        match response.status().as_u16() {
            200 => acknowledged_ids.extend(
                request
                    .resource_spans
                    .iter()
                    .flat_map(|rs| &rs.scope_spans)
                    .flat_map(|ss| &ss.spans)
                    .map(|s| s.span_id.clone()),
            ),
            _ => {
                http_refused = Some(response);
                break;
            }
        }
    }
    let response = http_refused.expect("OTLP/HTTP was never refused while the pipeline was full");
    assert_eq!(response.status().as_u16(), 429, "{response:?}");
    assert!(response.headers().contains_key("retry-after"), "{response:?}");
    let text = sloop.scrape_metrics().await;
    assert_eq!(
        metric_sum(&text, "otelcol_receiver_refused_spans", &[]),
        (answers.refused_spans + 5) as f64,
        "every refused span (gRPC and the 5 of the refused HTTP request) is counted at the receiver\n{text}"
    );

    backend.restart();
    let acknowledged = acknowledged_ids.len();
    let (missing, duplicates) = wait_for_delivery(&backend, &acknowledged_ids).await;
    eprintln!(
        "acknowledged {acknowledged}, refused {}, duplicates {duplicates}",
        answers.refused_spans
    );
    assert_eq!(
        missing, 0,
        "{missing} of {acknowledged} acknowledged spans never arrived"
    );
}

/// Finding 2 of issue 10: the backend crashes with exports in flight and comes
/// back 0.5 s later, twice. A connection cut off mid-export is retried, so every
/// acknowledged span arrives (a retried export that the backend had recorded
/// would arrive twice; this backend records only answered requests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_crashing_mid_export_loses_nothing_acknowledged() {
    let mut backend = CrashingGrpcBackend::new(free_port(), Duration::from_millis(30));
    backend.restart();
    let ports = SloopPorts::new();
    let batch = "    timeout: 50ms\n    send_batch_size: 200";
    let queue = "      queue_size: 1000\n      num_consumers: 4";
    let sloop = Sloop::start(&config(&ports, &backend, batch, queue), &ports).await;

    let senders = tokio::spawn(async move { send_all(&ports, 4, 150, 20).await });
    let mut cut_off = 0;
    for round in 1..=2u64 {
        // Crash while the backend is working on exports.
        let started = poll_until(Duration::from_secs(30), Duration::from_millis(1), || async {
            (backend.span_count() as u64 >= round * 2_000 && backend.in_flight() > 0).then_some(())
        })
        .await;
        assert!(started.is_some(), "no export in flight to cut off (round {round})");
        cut_off += backend.crash();
        tokio::time::sleep(Duration::from_millis(500)).await;
        backend.restart();
    }
    let answers = senders.await.expect("senders");
    assert!(answers.other.is_empty(), "non-retryable refusals: {:?}", answers.other);
    assert!(cut_off > 0, "the crashes cut off no export, so nothing was tested");

    let (missing, duplicates) = wait_for_delivery(&backend, &answers.acknowledged).await;
    let acknowledged = answers.acknowledged.len();
    eprintln!("acknowledged {acknowledged}, exports cut off {cut_off}, duplicates {duplicates}");
    assert_eq!(
        missing, 0,
        "{missing} of {acknowledged} acknowledged spans never arrived"
    );
    let text = sloop.scrape_metrics().await;
    assert_eq!(
        metric_sum(&text, "otelcol_exporter_send_failed_spans", &[]),
        0.0,
        "an export was given up on\n{text}"
    );
}
