use std::collections::HashSet;
use std::time::Duration;

use clap::Parser;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::generate::PatchKind;
use super::*;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: LoadgenArgs,
}

fn args(extra: &[&str]) -> LoadgenArgs {
    Cli::try_parse_from(std::iter::once("loadgen").chain(extra.iter().copied()))
        .map(|cli| cli.args)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn shape(spans_per_request: usize, spans_per_trace: usize, error_ratio: f64) -> TrafficShape {
    TrafficShape {
        services: 3,
        operations: vec![Operation::parse("GET /"), Operation::parse("POST /checkout")],
        spans_per_request,
        spans_per_trace,
        error_ratio,
        latency: LatencyDistribution::from_percentiles(50.0, 300.0),
    }
}

fn spans_of(body: &[u8]) -> Vec<Span> {
    let request = ExportTraceServiceRequest::decode(body).expect("patched body decodes");
    request
        .resource_spans
        .into_iter()
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect()
}

fn status_code_attr(span: &Span) -> Option<i64> {
    span.attributes
        .iter()
        .find(|kv| kv.key == "http.response.status_code")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::IntValue(v) => Some(*v),
            _ => None,
        })
}

#[test]
fn patched_requests_decode_with_distinct_ids_and_current_timestamps() {
    let pool = RequestPool::build(&shape(50, 5, 0.1), 4, &mut StdRng::seed_from_u64(1)).unwrap();
    let mut span_ids = HashSet::new();
    let mut trace_ids = HashSet::new();
    let now = now_ns();
    // Two passes over the pool: the same templates must still get new IDs.
    for seq in 0..8 {
        let (body, count) = pool.request(seq, now);
        assert_eq!(body.len(), pool.templates()[(seq % 4) as usize].body().len());
        let spans = spans_of(&body);
        assert_eq!(spans.len(), count as usize);
        assert_eq!(count, 50);
        for span in &spans {
            assert_eq!(span.span_id.len(), 8);
            assert_eq!(span.trace_id.len(), 16);
            assert_ne!(span.span_id, vec![0; 8]);
            assert!(span_ids.insert(span.span_id.clone()), "span ID repeated");
            trace_ids.insert(span.trace_id.clone());
            assert!(span.start_time_unix_nano < span.end_time_unix_nano);
            assert!(span.end_time_unix_nano <= now);
            // Within 10 minutes of now (the log-normal tail is far below that).
            assert!(now - span.start_time_unix_nano < 600_000_000_000);
        }
        // Every trace: one SERVER root whose span ID is its children's parent.
        for trace in spans.chunks(5) {
            assert_eq!(trace[0].kind, 2);
            assert!(trace[0].parent_span_id.is_empty());
            for child in &trace[1..] {
                assert_eq!(child.trace_id, trace[0].trace_id);
                assert_eq!(child.parent_span_id, trace[0].span_id);
                assert!(child.start_time_unix_nano >= trace[0].start_time_unix_nano);
                assert!(child.end_time_unix_nano <= trace[0].end_time_unix_nano);
            }
        }
    }
    assert_eq!(span_ids.len(), 8 * 50);
    assert_eq!(trace_ids.len(), 8 * 10);
}

#[test]
fn every_span_gets_all_five_patches() {
    let pool = RequestPool::build(&shape(10, 2, 0.0), 1, &mut StdRng::seed_from_u64(2)).unwrap();
    let patches = pool.templates()[0].patches();
    let times = patches
        .iter()
        .filter(|p| matches!(p.kind, PatchKind::Time { .. }))
        .count();
    let trace_ids = patches
        .iter()
        .filter(|p| matches!(p.kind, PatchKind::TraceId { .. }))
        .count();
    // 10 spans: trace_id, span_id, start, end each; 5 children add parent_span_id.
    assert_eq!(times, 20);
    assert_eq!(trace_ids, 10);
    assert_eq!(patches.len(), 10 * 4 + 5);
}

#[test]
fn error_ratio_is_exact_over_the_pool_and_marks_status_and_code() {
    let pool = RequestPool::build(&shape(100, 1, 0.05), 20, &mut StdRng::seed_from_u64(3)).unwrap();
    let mut errors = 0;
    for seq in 0..20 {
        for span in spans_of(&pool.request(seq, now_ns()).0) {
            let error = span.status.as_ref().is_some_and(|s| s.code == 2);
            assert_eq!(status_code_attr(&span), Some(if error { 500 } else { 200 }));
            assert!(span.attributes.len() >= 10);
            errors += usize::from(error);
        }
    }
    assert_eq!(errors, 100); // 5% of 2000
}

#[test]
fn latency_distribution_matches_configured_percentiles() {
    let dist = LatencyDistribution::from_percentiles(50.0, 300.0);
    let mut rng = StdRng::seed_from_u64(4);
    let mut samples: Vec<f64> = (0..200_000).map(|_| dist.sample_ms(&mut rng)).collect();
    samples.sort_by(f64::total_cmp);
    let p50 = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    assert!((p50 - 50.0).abs() < 2.0, "p50 {p50}");
    assert!((p99 - 300.0).abs() < 20.0, "p99 {p99}");
    // Degenerate: p99 == p50 is constant.
    let flat = LatencyDistribution::from_percentiles(20.0, 20.0);
    assert!((flat.sample_ms(&mut rng) - 20.0).abs() < 1e-9);
}

#[test]
fn rate_limit_spaces_requests_evenly() {
    assert_eq!(due_after(5, 100, 0), None);
    // 1000 spans/s at 100 spans per request: one request every 100 ms.
    assert_eq!(due_after(0, 100, 1000), Some(Duration::ZERO));
    assert_eq!(due_after(1, 100, 1000), Some(Duration::from_millis(100)));
    assert_eq!(due_after(30, 100, 1000), Some(Duration::from_secs(3)));
    // Rates below one request per second.
    assert_eq!(due_after(2, 100, 50), Some(Duration::from_secs(4)));
    // No overflow for huge counts.
    assert!(due_after(u64::MAX, 1_000_000, 1).is_some());
}

#[test]
fn latency_summary_uses_nearest_rank() {
    let mut micros: Vec<u32> = (1..=1000).rev().map(|ms| ms * 1000).collect();
    let summary = LatencySummary::from_micros(&mut micros);
    assert_eq!(summary.p50, 500.0);
    assert_eq!(summary.p99, 990.0);
    assert_eq!(summary.max, 1000.0);
    assert_eq!(LatencySummary::from_micros(&mut []), LatencySummary::default());
}

#[test]
fn flags_parse_with_defaults() {
    let a = args(&[]);
    assert_eq!(a.protocol, Protocol::Grpc);
    assert_eq!(a.endpoint(), "http://127.0.0.1:4317");
    assert_eq!(a.spans_per_request, 100);
    assert_eq!(a.concurrency, 4);
    assert_eq!(a.error_ratio, 0.01);
    assert_eq!(a.latency_ms, (50.0, 300.0));
    assert_eq!(a.operations, vec!["GET /", "POST /checkout", "GET /api/items"]);
    let ops = a.shape().operations;
    assert_eq!(ops[1].method, "POST");
    assert_eq!(ops[1].route, "/checkout");

    let a = args(&[
        "--protocol",
        "http",
        "--header",
        "api-key=s3cr=t",
        "--header",
        "x-b=1",
        "--count",
        "7",
        "--latency-ms",
        "10,90",
        "--operations",
        "GET /a,/b",
    ]);
    assert_eq!(a.endpoint(), "http://127.0.0.1:4318");
    assert_eq!(a.headers[0], ("api-key".to_string(), "s3cr=t".to_string()));
    assert_eq!(a.count, Some(7));
    assert_eq!(pool_size(&a), 7);
    let b = &a.shape().operations[1];
    assert_eq!(
        (b.name.as_str(), b.method.as_str(), b.route.as_str()),
        ("/b", "GET", "/b")
    );

    for bad in [
        &["--count", "1", "--duration", "1s"][..],
        &["--error-ratio", "1.5"],
        &["--latency-ms", "300,50"],
        &["--header", "novalue"],
        &["--spans-per-request", "0"],
    ] {
        assert!(
            Cli::try_parse_from(std::iter::once("loadgen").chain(bad.iter().copied())).is_err(),
            "{bad:?} should be refused"
        );
    }
}

#[tokio::test]
async fn rate_limit_holds_back_sends() {
    // 1000 spans/s at 100 spans per request: the 5th request is due after 400 ms.
    let port = free_port();
    let started = std::time::Instant::now();
    let report = run(&args(&[
        "--endpoint",
        &format!("http://127.0.0.1:{port}"),
        "--count",
        "5",
        "--rate",
        "1000",
        "--timeout",
        "2s",
    ]))
    .await
    .unwrap();
    assert_eq!(report.requests_sent, 5);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rate_limit_stops_at_the_deadline() {
    // One request per second for 1.5 s: requests 0 and 1 (due at 0 s and 1 s).
    let port = free_port();
    let report = run(&args(&[
        "--endpoint",
        &format!("http://127.0.0.1:{port}"),
        "--duration",
        "1500ms",
        "--rate",
        "100",
        "--concurrency",
        "3",
    ]))
    .await
    .unwrap();
    assert_eq!(report.requests_sent, 2);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn unreachable_endpoint_counts_failures() {
    // A port nothing listens on: every request fails, and the report says so.
    let port = free_port();
    for protocol in ["grpc", "http"] {
        let endpoint = format!("http://127.0.0.1:{port}");
        let report = run(&args(&[
            "--protocol",
            protocol,
            "--endpoint",
            &endpoint,
            "--count",
            "3",
            "--concurrency",
            "2",
            "--timeout",
            "2s",
        ]))
        .await
        .unwrap();
        assert_eq!(report.requests_sent, 3, "{protocol}");
        assert_eq!(report.requests_failed, 3, "{protocol}");
        assert_eq!(report.spans_accepted, 0);
        assert!(!report.all_accepted());
        assert_eq!(report.errors.values().sum::<u64>(), 3, "{:?}", report.errors);
    }
}

#[test]
fn backfill_spreads_requests_over_past_minutes() {
    const MINUTE: u64 = 60_000_000_000;
    let now = 1_000 * MINUTE + 5;
    assert_eq!(args(&[]).backfill, None);
    assert_eq!(args(&["--backfill", "20m"]).backfill, Some(20));
    assert_eq!(args(&["--backfill", "2h"]).backfill, Some(120));
    for bad in ["30s", "90s", "0m", "soon"] {
        let parsed = Cli::try_parse_from(["loadgen", "--backfill", bad]);
        assert!(parsed.is_err(), "--backfill {bad} is refused");
    }
    assert_eq!(stamp(now, 7, None), now);
    let minutes: Vec<u64> = (0..6).map(|k| (now - stamp(now, k, Some(3))) / MINUTE).collect();
    assert_eq!(minutes, [0, 1, 2, 0, 1, 2]);
}
