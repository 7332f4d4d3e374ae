//! The `memory_limiter` processor in the real binary: with a limit far below
//! sloop's own resident memory, every export is refused with a retryable
//! status (gRPC RESOURCE_EXHAUSTED with RetryInfo, HTTP 429 with Retry-After),
//! the refusals are counted in `/metrics` and the process keeps serving; with
//! a limit far above it (a percentage of the machine's or cgroup's memory)
//! the same exports reach the backend.

use integration_tests::admin::http_client;
use integration_tests::payloads::{logs_request, metrics_request, trace_request};
use integration_tests::{GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;

const N: usize = 10;
const PROCESSOR: &str = "memory_limiter";

fn config(ports: &SloopPorts, backend: &GrpcBackend, limits: &str) -> String {
    format!(
        "{receivers}\
processors:
  memory_limiter:
    check_interval: 100ms
{limits}
exporters:
  otlp_grpc:
    endpoint: {endpoint}
    tls:
      insecure: true
{service}",
        // Above the default 10,000: the idle-connection test holds 10,000 silent
        // connections and still exports, which is about memory, not the limit.
        receivers = ports.otlp_receiver_yaml(&["max_connections: 20000"], &[]),
        endpoint = backend.endpoint(),
        service = ports.service_yaml(&[PROCESSOR], &["otlp_grpc"]),
    )
}

/// `VmRSS` of `pid` in bytes, read the way sloop reads its own.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_soft_limit_exports_are_refused_retryably_and_counted() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    // Hard limit 2 MiB, soft limit 1 MiB: far below any running sloop.
    let limits = "    limit_mib: 2\n    spike_limit_mib: 1";
    // Never ready: the limiter refuses from its first sample on.
    let mut sloop = Sloop::start_unready(&config(&ports, &backend, limits), &ports).await;
    let rss = rss_bytes(sloop.pid());
    assert!(
        rss > 2 << 20,
        "the test assumes sloop uses more than 2 MiB; it uses {rss} bytes"
    );

    let channel = tonic::transport::Endpoint::from_shared(ports.grpc_url())
        .expect("a valid URL")
        .connect()
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    let status = TraceServiceClient::new(channel.clone())
        .export(trace_request("refused", N))
        .await
        .expect_err("a trace export above the soft limit was accepted");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        !status.details().is_empty(),
        "RESOURCE_EXHAUSTED without RetryInfo details is not retryable for OTLP clients: {status:?}"
    );
    assert!(status.message().contains("high memory usage"), "{status:?}");

    let status = MetricsServiceClient::new(channel.clone())
        .export(metrics_request("refused", N))
        .await
        .expect_err("a metrics export above the soft limit was accepted");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    let status = LogsServiceClient::new(channel.clone())
        .export(logs_request("refused", N))
        .await
        .expect_err("a logs export above the soft limit was accepted");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");

    let response = http_client()
        .post(ports.http_url("/v1/traces"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
        .body(trace_request("refused-http", N).encode_to_vec())
        .send()
        .await
        .expect("posting to sloop's OTLP/HTTP receiver");
    assert_eq!(response.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(retry_after, Some(1), "Retry-After: check_interval rounded up to 1s");
    assert_eq!(
        readyz(&http_client(), &ports).await,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "/readyz while refusing"
    );

    // Still serving, still refusing (several checks later), and counted.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(sloop.is_running(), "sloop died while refusing");
    let status = TraceServiceClient::new(channel)
        .export(trace_request("refused-again", N))
        .await
        .expect_err("accepted after a few checks, still far above the limit");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");

    let text = sloop.scrape_metrics().await;
    let refused = |name: &str| integration_tests::metric_sum(&text, name, &[("processor", PROCESSOR)]);
    assert_eq!(refused("otelcol_processor_refused_spans"), (3 * N) as f64, "{text}");
    assert_eq!(refused("otelcol_processor_refused_metric_points"), N as f64, "{text}");
    assert_eq!(refused("otelcol_processor_refused_log_records"), N as f64, "{text}");
    assert!(
        refused("otelcol_processor_memory_limiter_rss_bytes") > (1 << 20) as f64,
        "usage gauge\n{text}"
    );
    assert_eq!(backend.span_count(), 0, "refused spans reached the backend");
    assert_eq!(backend.log_record_count(), 0);
    assert_eq!(backend.metric_point_count(), 0);
    let logs = sloop.stderr();
    assert_eq!(
        logs.matches("above the soft limit; refusing data").count(),
        1,
        "the change of state is logged once, not per request:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_soft_limit_exports_are_delivered() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    // 90% of the machine's (or the cgroup's) memory, soft limit 70%.
    let limits = "    limit_percentage: 90\n    spike_limit_percentage: 20";
    let sloop = Sloop::start(&config(&ports, &backend, limits), &ports).await;

    let channel = tonic::transport::Endpoint::from_shared(ports.grpc_url())
        .expect("a valid URL")
        .connect()
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    TraceServiceClient::new(channel.clone())
        .export(trace_request("accepted", N))
        .await
        .expect("a trace export below the soft limit was refused");
    LogsServiceClient::new(channel)
        .export(logs_request("accepted", N))
        .await
        .expect("a logs export below the soft limit was refused");
    let response = http_client()
        .post(ports.http_url("/v1/traces"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
        .body(trace_request("accepted-http", N).encode_to_vec())
        .send()
        .await
        .expect("posting to sloop's OTLP/HTTP receiver");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(readyz(&http_client(), &ports).await, reqwest::StatusCode::OK);

    assert_eq!(backend.wait_for_spans(2 * N, DATA_TIMEOUT).await.len(), 2 * N);
    assert_eq!(backend.wait_for_log_records(N, DATA_TIMEOUT).await.len(), N);
    let text = sloop.scrape_metrics().await;
    assert_eq!(
        integration_tests::metric_sum(&text, "otelcol_processor_refused_spans", &[("processor", PROCESSOR)]),
        0.0,
        "{text}"
    );
    assert!(!sloop.stderr().contains("refusing data"), "{}", sloop.stderr());
}

/// `GET /readyz` on the health_check port: its status code.
async fn readyz(client: &reqwest::Client, ports: &SloopPorts) -> reqwest::StatusCode {
    let url = format!("http://127.0.0.1:{}/readyz", ports.health);
    match client.get(&url).send().await {
        Ok(response) => response.status(),
        Err(error) => panic!("GET {url} failed: {error}"),
    }
}

async fn grpc_channel(ports: &SloopPorts) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(ports.grpc_url())
        .expect("a valid URL")
        .connect()
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver")
}

/// Hard limit 100 MiB, soft limit 80 MiB, a check every 100 ms.
const LIMIT_100: &str = "    limit_mib: 100\n    spike_limit_mib: 20";
/// Hard limit 100 MiB, soft limit 85 MiB. The RSS backstop refuses only while usage
/// is above `limit - 3 × spike`; usage never falls below the part of RSS that is not
/// heap (code, stacks: 40–41 MiB for the debug binary, measured at start), so that
/// bound must sit clearly above it, or a burst's leftovers in RSS keep the limiter
/// refusing after the burst. With `spike_limit_mib: 20` it was 40 MiB, and the
/// debug binary grew past it (issue 16's filelog receiver): 55 MiB leaves room.
const LIMIT_100_BURST: &str = "    limit_mib: 100\n    spike_limit_mib: 15";
const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Exports `trace_request(prefix, N)` once the limiter accepts: waits (bounded) for
/// `/readyz` to say 200, then exports, so a refused export is a disagreement
/// between readiness and the limiter, not a poll.
async fn export_once_ready(
    client: &reqwest::Client,
    ports: &SloopPorts,
    channel: &tonic::transport::Channel,
    prefix: &str,
    within: std::time::Duration,
) -> Result<(), tonic::Status> {
    let ready = integration_tests::poll_until(within, CHECK_INTERVAL / 2, || async {
        (readyz(client, ports).await == reqwest::StatusCode::OK).then_some(())
    })
    .await;
    assert!(ready.is_some(), "/readyz stayed 503 for {within:?}");
    TraceServiceClient::new(channel.clone())
        .export(trace_request(prefix, N))
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_burst_refusals_stop_within_a_few_checks_and_readiness_follows() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let mut sloop = Sloop::start(&config(&ports, &backend, LIMIT_100_BURST), &ports).await;
    let client = http_client();
    let channel = grpc_channel(&ports).await;
    assert_eq!(
        readyz(&client, &ports).await,
        reqwest::StatusCode::OK,
        "ready before the burst"
    );

    // The burst: eight clients flat out, 20,000 spans (~2 MiB) a request, until
    // the limiter refuses and /readyz says so.
    let burst = trace_request("burst", 20_000);
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let accepted_spans = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for _ in 0..8 {
        let (burst, stop, refused, accepted_spans) =
            (burst.clone(), stop.clone(), refused.clone(), accepted_spans.clone());
        let mut client = TraceServiceClient::new(grpc_channel(&ports).await);
        senders.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match client.export(burst.clone()).await {
                    Ok(_) => {
                        accepted_spans.fetch_add(20_000, Ordering::Relaxed);
                    }
                    Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(status) => panic!("the burst got {status:?}"),
                }
            }
        }));
    }
    let not_ready_while_refusing =
        integration_tests::poll_until(Duration::from_secs(60), Duration::from_millis(10), || async {
            (refused.load(Ordering::Relaxed) > 0
                && readyz(&client, &ports).await == reqwest::StatusCode::SERVICE_UNAVAILABLE)
                .then_some(())
        })
        .await;
    // The flood goes on for 30 checks: refused, and RSS stays bounded.
    let mut peak_rss = rss_bytes(sloop.pid());
    let flood_until = Instant::now() + CHECK_INTERVAL * 30;
    while not_ready_while_refusing.is_some() && Instant::now() < flood_until {
        peak_rss = peak_rss.max(rss_bytes(sloop.pid()));
        tokio::time::sleep(CHECK_INTERVAL / 2).await;
    }
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.expect("a burst sender panicked");
    }
    eprintln!(
        "flood: {} requests refused, peak RSS {} MiB",
        refused.load(Ordering::Relaxed),
        peak_rss >> 20
    );
    assert!(
        not_ready_while_refusing.is_some(),
        "within 60 s of the burst, no refusal with /readyz 503 (refused: {})\n{}",
        refused.load(Ordering::Relaxed),
        sloop.stderr()
    );
    assert!(sloop.is_running(), "sloop died in the burst");
    // A guard against gross regressions only (eight 20,000-span requests decoding
    // at once in a debug build overshoot by their size; 103–120 MiB measured): the
    // overload benchmark is what measures RSS against the limit.
    assert!(
        peak_rss < 200 << 20,
        "RSS reached {} MiB under a 100 MiB limit",
        peak_rss >> 20
    );

    // The burst's accepted data reaches the healthy backend and sloop's exporter
    // has its answers (a timed-out export may be retried later): sloop holds
    // nothing of it any more, but RSS stays where the burst left it.
    let burst_spans = accepted_spans.load(Ordering::Relaxed) as usize;
    let delivered = integration_tests::poll_until(Duration::from_secs(60), CHECK_INTERVAL, || async {
        let sent = sloop
            .metric("otelcol_exporter_sent_spans", &[("exporter", "otlp_grpc")])
            .await;
        (sent >= burst_spans as f64).then_some(())
    })
    .await;
    assert!(
        delivered.is_some(),
        "the burst's {burst_spans} accepted spans were not delivered"
    );
    // From here, normal load is accepted within a few checks.
    let drained = Instant::now();
    let accepted = integration_tests::poll_until(CHECK_INTERVAL * 30, CHECK_INTERVAL / 4, || async {
        TraceServiceClient::new(channel.clone())
            .export(trace_request("after", N))
            .await
            .ok()
    })
    .await;
    let recovery = drained.elapsed();
    let text = sloop.scrape_metrics().await;
    let mib = |name: &str| integration_tests::metric_sum(&text, name, &[("processor", PROCESSOR)]) / (1 << 20) as f64;
    let (usage_mib, rss_mib) = (
        mib("otelcol_processor_memory_limiter_usage_bytes"),
        mib("otelcol_processor_memory_limiter_rss_bytes"),
    );
    assert!(
        accepted.is_some(),
        "still refusing {recovery:?} (30 checks) after the burst was delivered: usage {usage_mib:.1} MiB, \
         RSS {rss_mib:.1} MiB\n{}",
        sloop.stderr()
    );
    eprintln!("accepting {recovery:?} after the burst was delivered; RSS {rss_mib:.1} MiB, usage {usage_mib:.1} MiB");

    // From now on every export is accepted and /readyz agrees, check after check.
    let refused_before =
        integration_tests::metric_sum(&text, "otelcol_processor_refused_spans", &[("processor", PROCESSOR)]);
    for round in 0..10 {
        export_once_ready(
            &client,
            &ports,
            &channel,
            &format!("steady-{round}"),
            Duration::from_secs(5),
        )
        .await
        .unwrap_or_else(|status| panic!("round {round}: refused while /readyz said 200: {status:?}"));
        tokio::time::sleep(CHECK_INTERVAL).await;
    }
    assert_eq!(
        sloop
            .metric("otelcol_processor_refused_spans", &[("processor", PROCESSOR)])
            .await,
        refused_before,
        "refused after recovery"
    );
    assert_eq!(readyz(&client, &ports).await, reqwest::StatusCode::OK);
    let all = burst_spans + N + 10 * N;
    assert!(
        backend.wait_until(DATA_TIMEOUT, |r| r.span_count() >= all).await,
        "the exports after the burst did not all reach the backend"
    );
    let logs = sloop.stderr();
    assert!(logs.contains("back below the soft limit; accepting data"), "{logs}");
}

/// This process's soft limit on open files (`/proc/self/limits`); sloop, started
/// by it, inherits the same.
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(1024)
}

/// Opens `n` connections to `port` and writes `first_bytes` on each (nothing if empty).
async fn open_idle_connections(port: u16, n: usize, first_bytes: &[u8]) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let mut connections = Vec::with_capacity(n);
    for _ in 0..n {
        let mut connection = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connecting to sloop");
        if !first_bytes.is_empty() {
            connection.write_all(first_bytes).await.expect("writing to sloop");
        }
        connections.push(connection);
    }
    connections
}

/// What one connection that has sent nothing may hold. sloop holds its task and
/// socket (about 1 KiB, 952 B measured) and no hyper connection until the first
/// byte arrives; before that, each held h2's buffers (about 30 KiB), and 10,000 of
/// them kept a 100 MiB limiter refusing (326 MiB). 10,000 × 4 KiB fits under its
/// 80 MiB soft limit.
const SILENT_CONNECTION_MAX: usize = 4 << 10;
/// What one connection that completed the HTTP/2 preface holds at least: h2's read
/// (8 KiB), write (16 KiB) and HPACK (4 KiB) buffers.
const HANDSHAKEN_CONNECTION_MIN: usize = 24 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_count_while_open_and_not_once_closed() {
    use std::time::Duration;
    const CONNECTIONS: usize = 10_000;
    const HANDSHAKEN: usize = 1_000;
    const PREFACE_AND_SETTINGS: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let mut sloop = Sloop::start(&config(&ports, &backend, LIMIT_100), &ports).await;
    let client = http_client();
    let channel = grpc_channel(&ports).await;
    let usage = |text: &str| {
        integration_tests::metric_sum(
            text,
            "otelcol_processor_memory_limiter_usage_bytes",
            &[("processor", PROCESSOR)],
        )
    };
    let idle_usage = usage(&sloop.scrape_metrics().await);
    assert!(
        idle_usage + ((CONNECTIONS * SILENT_CONNECTION_MAX) as f64) < (80 << 20) as f64,
        "idle usage {idle_usage} leaves no room for {CONNECTIONS} connections under the soft limit"
    );

    // 10,000 silent connections, all at once where the open-files limit allows
    // (sloop inherits it): the limiter keeps accepting and readiness stays 200.
    let chunk = CONNECTIONS.min(open_files_limit().saturating_sub(512)).max(100);
    let mut opened = 0;
    while opened < CONNECTIONS {
        let n = chunk.min(CONNECTIONS - opened);
        let connections = open_idle_connections(ports.grpc, n, b"").await;
        opened += n;
        // sloop accepts in order, so once the export's connection (opened after
        // these) is served, all of them are accepted and held; the export measures
        // usage again before it is admitted.
        TraceServiceClient::new(grpc_channel(&ports).await)
            .export(trace_request("while-silent", N))
            .await
            .unwrap_or_else(|status| panic!("refused with {n} silent connections open: {status:?}"));
        assert_eq!(
            readyz(&client, &ports).await,
            reqwest::StatusCode::OK,
            "/readyz with {n} silent connections open"
        );
        let held = usage(&sloop.scrape_metrics().await) - idle_usage;
        assert!(
            held < (n * SILENT_CONNECTION_MAX) as f64,
            "{n} silent connections hold {held} bytes, over {SILENT_CONNECTION_MAX} each"
        );
        drop(connections);
    }

    // Connections that completed the HTTP/2 preface hold h2's buffers, and count.
    let connections = open_idle_connections(ports.grpc, HANDSHAKEN, PREFACE_AND_SETTINGS).await;
    let counted = integration_tests::poll_until(Duration::from_secs(20), CHECK_INTERVAL, || async {
        let held = usage(&sloop.scrape_metrics().await) - idle_usage;
        (held >= (HANDSHAKEN * HANDSHAKEN_CONNECTION_MIN) as f64).then_some(())
    })
    .await;
    assert!(
        counted.is_some(),
        "{HANDSHAKEN} HTTP/2 connections did not raise usage by {HANDSHAKEN_CONNECTION_MIN} bytes each over {idle_usage}"
    );
    drop(connections);

    // Closed, they hold nothing: usage comes back near idle and nothing was refused.
    let back = integration_tests::poll_until(Duration::from_secs(20), CHECK_INTERVAL, || async {
        let now = usage(&sloop.scrape_metrics().await);
        (now < idle_usage + (4 << 20) as f64).then_some(())
    })
    .await;
    assert!(
        back.is_some(),
        "usage {} did not fall back near its idle {idle_usage}",
        usage(&sloop.scrape_metrics().await)
    );
    export_once_ready(&client, &ports, &channel, "after-idle", Duration::from_secs(20))
        .await
        .unwrap_or_else(|status| {
            panic!(
                "refused after the idle connections closed: {status:?}\n{}",
                sloop.stderr()
            )
        });
    let text = sloop.scrape_metrics().await;
    assert_eq!(
        integration_tests::metric_sum(&text, "otelcol_processor_refused_spans", &[("processor", PROCESSOR)]),
        0.0,
        "{text}"
    );
    let exports = CONNECTIONS.div_ceil(chunk) + 1;
    assert_eq!(
        backend.wait_for_spans(exports * N, DATA_TIMEOUT).await.len(),
        exports * N
    );
    assert!(sloop.is_running());
}
