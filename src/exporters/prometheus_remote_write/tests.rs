use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;

use super::*;
use crate::exporters::prometheus::tests::{kv, point, raw, request, s, sum};

fn config(yaml: &str) -> PrometheusRemoteWriteConfig {
    parse_block::<PrometheusRemoteWriteConfig>(&raw(yaml)).expect("valid config")
}

fn exporter(yaml: &str) -> RemoteWriteExporter {
    config(yaml)
        .exporter(
            &ComponentId::parse("prometheus_remote_write").expect("a valid id"),
            None,
        )
        .expect("builds")
}

fn decode(body: &[u8]) -> WriteRequest {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .expect("snappy block format");
    WriteRequest::decode(raw.as_slice()).expect("a WriteRequest")
}

fn label_pairs(series: &TimeSeries) -> Vec<(&str, &str)> {
    series
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect()
}

fn slo_batch() -> ExportBatch {
    let events = |outcome: &str, value: f64| {
        point(
            vec![kv("slo.name", s("homepage")), kv("slo.outcome", s(outcome))],
            value,
            0,
            1_000,
        )
    };
    ExportBatch::new(Telemetry::Metrics(request(
        vec![kv("service.name", s("sloop")), kv("service.instance.id", s("pod-1"))],
        vec![
            sum(
                "slo.events",
                "{event}",
                AggregationTemporality::Cumulative,
                true,
                vec![events("good", 9.0), events("bad", 1.0)],
            ),
            sum(
                "hits",
                "",
                AggregationTemporality::Delta,
                true,
                vec![point(vec![], 1.0, 0, 1_000)],
            ),
        ],
    )))
}

#[test]
fn a_batch_becomes_a_snappy_write_request_with_sorted_labels() {
    let exporter = exporter("endpoint: http://127.0.0.1:9/api/v1/write\nexternal_labels: {cluster: eu}");
    let requests = exporter.requests(&slo_batch()).expect("translated");
    assert_eq!(requests.dropped, 1, "the delta sum is dropped");
    assert_eq!(requests.bodies.len(), 1);
    let write = decode(&requests.bodies[0]);
    assert_eq!(write.timeseries.len(), 2);
    assert_eq!(
        label_pairs(&write.timeseries[0]),
        vec![
            ("__name__", "slo_events_total"),
            ("cluster", "eu"),
            ("instance", "pod-1"),
            ("job", "sloop"),
            ("otel_scope_name", "sloop/slo"),
            ("otel_scope_version", "1.2"),
            ("slo_name", "homepage"),
            ("slo_outcome", "good"),
        ]
    );
    assert_eq!(
        write.timeseries[0].samples,
        vec![Sample {
            value: 9.0,
            timestamp: 1_000
        }]
    );
    assert_eq!(write.timeseries[1].samples[0].value, 1.0);
}

#[test]
fn histograms_become_bucket_sum_and_count_series() {
    let series = crate::exporters::prometheus::translate::Series {
        name: "latency_seconds".into(),
        kind: crate::exporters::prometheus::translate::Kind::Histogram,
        help: String::new(),
        labels: vec![("job".into(), "api".into())],
        value: Value::Histogram(crate::exporters::prometheus::translate::Histogram {
            count: 3,
            sum: 0.7,
            bounds: vec![0.25],
            counts: vec![2, 1],
        }),
        delta: false,
        start_ms: 0,
        time_ms: 5,
        exemplars: Vec::new(),
    };
    let mut out = Vec::new();
    write_series(&series, &mut out);
    let found: Vec<(Vec<(&str, &str)>, f64)> = out.iter().map(|t| (label_pairs(t), t.samples[0].value)).collect();
    assert_eq!(
        found,
        vec![
            (
                vec![("__name__", "latency_seconds_bucket"), ("job", "api"), ("le", "0.25")],
                2.0
            ),
            (
                vec![("__name__", "latency_seconds_bucket"), ("job", "api"), ("le", "+Inf")],
                3.0
            ),
            (vec![("__name__", "latency_seconds_sum"), ("job", "api")], 0.7),
            (vec![("__name__", "latency_seconds_count"), ("job", "api")], 3.0),
        ]
    );
}

#[test]
fn large_batches_are_split_by_max_batch_size_bytes() {
    let exporter = exporter("endpoint: http://127.0.0.1:9/api/v1/write\nmax_batch_size_bytes: 150");
    let requests = exporter.requests(&slo_batch()).expect("translated");
    assert_eq!(requests.bodies.len(), 2, "each series is over half the limit");
    let total: usize = requests.bodies.iter().map(|b| decode(b).timeseries.len()).sum();
    assert_eq!(total, 2);
}

#[test]
fn config_refuses_what_sloop_cannot_do() {
    let paths = |yaml: &str| match parse_block::<PrometheusRemoteWriteConfig>(&raw(yaml)) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| e.path).collect::<Vec<_>>(),
    };
    let ok = "endpoint: http://127.0.0.1:9090/api/v1/write\n";
    assert_eq!(paths(ok), Vec::<String>::new());
    assert_eq!(paths("endpoint: localhost:9090"), vec!["endpoint"]);
    assert_eq!(paths(&format!("{ok}wal: {{directory: /tmp}}")), vec!["wal"]);
    assert_eq!(
        paths(&format!("{ok}protobuf_message: io.prometheus.write.v2.Request")),
        vec!["protobuf_message"]
    );
    assert_eq!(paths(&format!("{ok}compression: gzip")), vec!["compression"]);
    assert_eq!(
        paths(&format!("{ok}remote_write_queue: {{num_consumers: 0}}")),
        vec!["remote_write_queue.num_consumers"]
    );
    let defaults = config(ok);
    assert_eq!(defaults.helper().queue.queue_size, 10_000);
    assert_eq!(defaults.helper().queue.num_consumers, 5);
    assert_eq!(
        defaults.retry_on_failure.initial_interval,
        std::time::Duration::from_millis(50)
    );
}

/// A remote-write backend that answers each request with the next status of
/// `statuses` (then 204), recording the headers and decoded body of each.
async fn backend(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<(HeaderMap, WriteRequest)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answers = Arc::new(Mutex::new(statuses.into_iter()));
    let recorded = seen.clone();
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (recorded, answers) = (recorded.clone(), answers.clone());
            async move {
                recorded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((headers, decode(&body)));
                let status = answers.lock().unwrap_or_else(|p| p.into_inner()).next().unwrap_or(204);
                StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/api/v1/write"), seen)
}

#[tokio::test]
async fn writes_with_remote_write_headers_and_classifies_answers() {
    let (url, seen) = backend(vec![503, 400]).await;
    let exporter = exporter(&format!("endpoint: {url}\nheaders: {{X-Scope-OrgID: shop}}"));
    let batch = slo_batch();
    let first = exporter.export(&batch).await;
    assert!(
        matches!(first, Err(ExportError::Retryable { .. })),
        "503 is retried: {first:?}"
    );
    let second = exporter.export(&batch).await;
    assert!(
        matches!(second, Err(ExportError::Permanent { .. })),
        "400 is not: {second:?}"
    );
    let third = exporter.export(&batch).await.expect("204 is success");
    assert_eq!(third.rejected, 1, "the dropped delta point is reported");
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    assert_eq!(seen.len(), 3);
    let (headers, write) = &seen[2];
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(header("content-encoding"), "snappy");
    assert_eq!(header("content-type"), "application/x-protobuf");
    assert_eq!(header("x-prometheus-remote-write-version"), "0.1.0");
    assert_eq!(header("x-scope-orgid"), "shop");
    assert_eq!(write.timeseries.len(), 2);
}

#[test]
fn too_many_requests_is_retried_with_its_hint() {
    let error = classify(
        reqwest::StatusCode::TOO_MANY_REQUESTS,
        Some(std::time::Duration::from_secs(3)),
        "slow down".into(),
    );
    assert_eq!(
        error,
        ExportError::Retryable {
            message: "slow down".into(),
            throttle: Some(std::time::Duration::from_secs(3)),
        }
    );
    assert!(matches!(
        classify(reqwest::StatusCode::NOT_FOUND, None, String::new()),
        ExportError::Permanent { .. }
    ));
}
