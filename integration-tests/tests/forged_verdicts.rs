//! SLI verdicts and sampling weights a client sends cannot move an error budget
//! (issue 13), checked from outside against the real binary over OTLP/gRPC.
//!
//! * `forged_verdicts_do_not_count`: the finding as reported. `/health` spans sent
//!   with `sli.homepage=bad` and bot spans with `sli.homepage=good`, beside ten real
//!   homepage renders, made the total 30 instead of 10 and fired both alerts. Now the
//!   total is 10, no alert fires, `sloop slo status` exits 0, and the backend gets
//!   the forged spans without the forged verdicts.
//! * `a_huge_sample_rate_counts_at_most_max_event_weight`: one span carrying
//!   `SampleRate=1000000` added a million bad events; it now adds
//!   `max_event_weight` (1000 by default).
//! * `a_gateway_that_trusts_upstream_verdicts_counts_them`: with
//!   `trust_upstream_verdicts: true` and no sli processor, verdicts that arrive with
//!   the data are counted (an agent tier classifies, a gateway counts).

use std::time::Duration;

use integration_tests::payloads::{kv_int, kv_str, now_nanos, unique_ids};
use integration_tests::{poll_until, GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use serde_json::Value as Json;

const SLO: &str = "homepage-availability";
const MS: u64 = 1_000_000;

/// The SLI of the sli processor's example: homepage renders, bots excluded.
const SLI: &str = r#"  sli:
    slis:
      - name: homepage
        when: 'name == "GET /" and kind == SPAN_KIND_SERVER'
        exclude:
          - 'IsMatch(attributes["user_agent.original"], "(?i)bot|crawler|spider")'
        good: 'attributes["http.response.status_code"] == 200 and duration < 300ms'
"#;

/// A config with `processors` (blocks under `processors:`) run in that order.
fn config(ports: &SloopPorts, backend: &GrpcBackend, blocks: &str, order: &str) -> String {
    format!(
        "{receivers}processors:
{blocks}exporters:
  otlp_grpc/backend:
    endpoint: {endpoint}
    tls:
      insecure: true
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [{order}]
      exporters: [otlp_grpc/backend]
",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        endpoint = backend.endpoint(),
        health = ports.health,
        telemetry = ports.telemetry,
    )
}

/// `slo:` with one objective on the homepage SLI and `extra` keys.
fn slo_block(extra: &str) -> String {
    format!(
        "  slo:
    interval: 1s
{extra}    objectives:
      - name: {SLO}
        sli: homepage
        target: 0.999
"
    )
}

/// A server span named `name` with `attributes`, ending now, 50 ms long.
fn span(name: &str, attributes: Vec<KeyValue>) -> Span {
    let (trace_id, span_id) = unique_ids();
    let end = now_nanos();
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        name: name.to_string(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: end - 50 * MS,
        end_time_unix_nano: end,
        attributes,
        ..Default::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: None,
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Ten real homepage renders (good, unless `verdict` forges one onto them too),
/// ten `/health` spans claiming to be bad homepage renders, and ten bot renders
/// claiming to be good ones.
fn forged_traffic(verdict_on_real: Option<&str>) -> Vec<Span> {
    let mut spans = Vec::new();
    for _ in 0..10 {
        let mut attributes = vec![kv_int("http.response.status_code", 200)];
        if let Some(verdict) = verdict_on_real {
            attributes.push(kv_str("sli.homepage", verdict));
        }
        spans.push(span("GET /", attributes));
    }
    for _ in 0..10 {
        spans.push(span(
            "GET /health",
            vec![kv_int("http.response.status_code", 200), kv_str("sli.homepage", "bad")],
        ));
    }
    for _ in 0..10 {
        spans.push(span(
            "GET /",
            vec![
                kv_int("http.response.status_code", 500),
                kv_str("user_agent.original", "Googlebot/2.1"),
                kv_str("sli.homepage", "good"),
            ],
        ));
    }
    spans
}

async fn send(ports: &SloopPorts, request: ExportTraceServiceRequest) {
    let mut client = TraceServiceClient::connect(ports.grpc_url())
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    client.export(request).await.expect("sloop accepts the request");
}

/// `GET /api/v1/slos/<SLO>` on the admin address.
async fn status(ports: &SloopPorts) -> Json {
    let url = format!("http://127.0.0.1:{}/api/v1/slos/{SLO}", ports.telemetry);
    let client = reqwest::Client::builder().no_proxy().build().expect("a reqwest client");
    let body = client
        .get(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading GET {url}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url} is not JSON ({e}): {body}"))
}

/// Waits until the backend has `spans` spans (so sloop counted everything sent),
/// then returns the objective's status.
async fn status_after_delivery(ports: &SloopPorts, backend: &GrpcBackend, spans: usize) -> Json {
    backend.received().wait_for_spans(spans, DATA_TIMEOUT).await;
    // The slo processor counts before it forwards, so the total is final once the
    // backend has every span; poll only for the status API to be served.
    poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async {
        let json = status(ports).await;
        json["total"].as_f64().is_some().then_some(json)
    })
    .await
    .unwrap_or_else(|| panic!("no status for {SLO} within {DATA_TIMEOUT:?}"))
}

/// A string attribute of `span`.
fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

fn number(json: &Json, key: &str) -> f64 {
    json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {json}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_verdicts_do_not_count() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let yaml = config(&ports, &backend, &format!("{SLI}{}", slo_block("")), "sli, slo");
    let sloop = Sloop::start(&yaml, &ports).await;

    send(&ports, request(forged_traffic(None))).await;
    let json = status_after_delivery(&ports, &backend, 30).await;
    assert_eq!(
        (number(&json, "total"), number(&json, "good"), number(&json, "bad")),
        (10.0, 10.0, 0.0),
        "only the ten real renders count: {json}"
    );
    assert_eq!(json["alerts"]["page"].as_bool(), Some(false), "{json}");
    assert_eq!(json["alerts"]["ticket"].as_bool(), Some(false), "{json}");

    // The deploy gate passes.
    let endpoint = format!("http://127.0.0.1:{}", ports.telemetry);
    let mut cli = Sloop::spawn(&["slo", "status", "--endpoint", &endpoint, SLO], &[]);
    let exit = cli.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(
        exit.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        cli.stdout(),
        cli.stderr()
    );

    // The backend got every span, the forged verdicts gone from those the SLI does
    // not apply to.
    let spans = backend.received().spans();
    let verdicts = |name: &str, bot: bool| -> Vec<Option<String>> {
        spans
            .iter()
            .filter(|s| s.span.name == name && attribute(&s.span, "user_agent.original").is_some() == bot)
            .map(|s| attribute(&s.span, "sli.homepage"))
            .collect()
    };
    assert_eq!(verdicts("GET /health", false), vec![None; 10]);
    assert_eq!(verdicts("GET /", true), vec![None; 10]);
    assert_eq!(verdicts("GET /", false), vec![Some("good".to_string()); 10]);
    drop(sloop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_sample_rate_counts_at_most_max_event_weight() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let yaml = config(&ports, &backend, &format!("{SLI}{}", slo_block("")), "sli, slo");
    let sloop = Sloop::start(&yaml, &ports).await;

    let mut spans: Vec<Span> = (0..10)
        .map(|_| span("GET /", vec![kv_int("http.response.status_code", 200)]))
        .collect();
    spans.push(span(
        "GET /",
        vec![
            kv_int("http.response.status_code", 500),
            kv_int("SampleRate", 1_000_000),
        ],
    ));
    send(&ports, request(spans)).await;
    let json = status_after_delivery(&ports, &backend, 11).await;
    assert_eq!(
        (number(&json, "good"), number(&json, "bad")),
        (10.0, 1000.0),
        "the bad span counts max_event_weight (1000) times: {json}"
    );
    let capped = sloop
        .metric("otelcol_processor_slo_capped_weights", &[("processor", "slo")])
        .await;
    assert_eq!(capped, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_trusts_upstream_verdicts_counts_them() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    // No sli processor: the agents classified.
    let yaml = config(
        &ports,
        &backend,
        &slo_block("    trust_upstream_verdicts: true\n"),
        "slo",
    );
    let _sloop = Sloop::start(&yaml, &ports).await;

    send(&ports, request(forged_traffic(Some("good")))).await;
    let json = status_after_delivery(&ports, &backend, 30).await;
    assert_eq!(
        (number(&json, "good"), number(&json, "bad")),
        (20.0, 10.0),
        "every verdict that arrived counts: {json}"
    );
}
