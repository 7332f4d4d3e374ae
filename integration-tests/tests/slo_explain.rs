//! "Why is it burning" end to end, against the real binary and a real OTLP/gRPC
//! client.
//!
//! * `explain_finds_the_failing_version_and_region`: checkout spans from 20
//!   `app.version` values (a resource attribute) × 5 `cloud.region` values (a span
//!   attribute), failing only for `app.version=1.4.2` in `cloud.region=us-east-1`.
//!   `GET /api/v1/slos/{name}/explain` must rank exactly those two values first, with
//!   counts and budget shares equal to the test's own count, and list nothing else
//!   (no other value fails more than average); `sloop slo explain` must name them
//!   first. Bad windows and unknown SLOs get 400 and 404, and the CLI exits 2.

use std::collections::BTreeMap;
use std::process::ExitStatus;
use std::time::Duration;

use integration_tests::admin::get_json;
use integration_tests::payloads::{kv_str, now_nanos, unique_ids};
use integration_tests::{poll_until, GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use serde_json::Value as Json;

const SLO: &str = "checkout-availability";
const TARGET: f64 = 0.99;
const CLI_TIMEOUT: Duration = Duration::from_secs(20);
/// Relative tolerance for derived figures.
const EPS: f64 = 1e-9;
const MS: u64 = 1_000_000;

const REGIONS: [&str; 5] = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"];
const FAILING_VERSION: &str = "1.4.2";
const FAILING_REGION: &str = "us-east-1";

fn config(ports: &SloopPorts, backend: &GrpcBackend) -> String {
    format!(
        r#"{receivers}processors:
  sli:
    slis:
      - name: checkout
        when: 'name == "POST /checkout"'
        good: 'status.code != STATUS_CODE_ERROR'
  slo:
    interval: 1s
    objectives:
      - name: {SLO}
        sli: checkout
        target: {TARGET}
        explain:
          attributes: [app.version, cloud.region, http.route]
          max_values: 64
exporters:
  otlp_grpc/backend:
    endpoint: {endpoint}
    tls:
      insecure: true
{service}"#,
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        endpoint = backend.endpoint(),
        service = ports.traces_service_yaml(&["sli", "slo"], &["otlp_grpc/backend"]),
    )
}

/// The test's own count of what it sent, per attribute value.
#[derive(Default)]
struct Count {
    total: f64,
    bad: f64,
    /// (key, value) -> (total, bad)
    values: BTreeMap<(String, String), (f64, f64)>,
}

impl Count {
    fn add(&mut self, version: &str, region: &str, bad: bool) {
        let b = if bad { 1.0 } else { 0.0 };
        self.total += 1.0;
        self.bad += b;
        for key in [("app.version", version), ("cloud.region", region)] {
            let entry = self.values.entry((key.0.into(), key.1.into())).or_default();
            entry.0 += 1.0;
            entry.1 += b;
        }
    }
}

fn checkout_span(region: &str, bad: bool, end: u64) -> Span {
    let (trace_id, span_id) = unique_ids();
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        name: "POST /checkout".into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: end - 20 * MS,
        end_time_unix_nano: end,
        attributes: vec![kv_str("cloud.region", region), kv_str("http.route", "/checkout")],
        status: Some(Status {
            code: if bad {
                status::StatusCode::Error
            } else {
                status::StatusCode::Ok
            } as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One request per version: its spans in every region, 4 to 10 per region; of
/// version 1.4.2 in us-east-1, 7 of 10 fail. Plus spans of another operation, which
/// the SLI does not classify and no figure may include.
fn requests(count: &mut Count) -> Vec<ExportTraceServiceRequest> {
    let end = now_nanos() - 100 * MS;
    (0..20)
        .map(|v| {
            let version = format!("1.4.{v}");
            let mut spans = Vec::new();
            for (r, region) in REGIONS.iter().enumerate() {
                let n = 4 + (v * 3 + r) % 7;
                for i in 0..n {
                    let bad = version == FAILING_VERSION && *region == FAILING_REGION && i < 7;
                    spans.push(checkout_span(region, bad, end));
                    count.add(&version, region, bad);
                }
            }
            let mut other = checkout_span(REGIONS[0], true, end);
            other.name = "GET /health".into();
            spans.push(other);
            ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![kv_str("service.name", "shop"), kv_str("app.version", &version)],
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
        })
        .collect()
}

fn number(json: &Json, key: &str) -> f64 {
    json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {json}"))
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= EPS * expected.abs().max(1.0),
        "{what}: {actual} != {expected}"
    );
}

/// Checks an explanation against the test's count: the two failing values first,
/// their figures exact, nothing else listed.
fn assert_explains(json: &Json, count: &Count) {
    assert_eq!(json["slo"], SLO, "{json}");
    assert_eq!(number(json, "total"), count.total, "{json}");
    assert_eq!(number(json, "bad"), count.bad, "{json}");
    let allowed = (1.0 - TARGET) * count.total;
    assert_close(number(json, "allowed_bad"), allowed, "allowed_bad");
    let values = json["values"]
        .as_array()
        .unwrap_or_else(|| panic!("no values array: {json}"));
    let ranked: Vec<(String, String)> = values
        .iter()
        .map(|v| {
            (
                v["key"].as_str().unwrap_or_default().to_string(),
                v["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut top: Vec<(String, String)> = ranked.iter().take(2).cloned().collect();
    top.sort();
    assert_eq!(
        top,
        vec![
            ("app.version".to_string(), FAILING_VERSION.to_string()),
            ("cloud.region".to_string(), FAILING_REGION.to_string()),
        ],
        "the failing version and region rank first: {ranked:?}"
    );
    assert_eq!(
        ranked.len(),
        2,
        "no other value is over-represented among bad events: {ranked:?}"
    );
    for v in values {
        let key = (
            v["key"].as_str().unwrap_or_default().to_string(),
            v["value"].as_str().unwrap_or_default().to_string(),
        );
        let (total, bad) = count.values[&key];
        let label = format!("{}={}", key.0, key.1);
        assert_eq!(number(v, "total"), total, "{label} total: {v}");
        assert_eq!(number(v, "bad"), bad, "{label} bad: {v}");
        assert_close(number(v, "budget_share"), bad / ((1.0 - TARGET) * count.total), &label);
        assert_close(number(v, "bad_share"), bad / count.bad, &label);
        assert_close(number(v, "total_share"), total / count.total, &label);
        assert_eq!(v["exact"], true, "{label}: {v}");
    }
}

async fn explain_cli(args: &[&str]) -> (ExitStatus, String, String) {
    let mut argv = vec!["slo", "explain"];
    argv.extend_from_slice(args);
    let mut cli = Sloop::spawn(&argv, &[]);
    let status = cli.wait_exit(CLI_TIMEOUT).await;
    (status, cli.stdout(), cli.stderr())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_finds_the_failing_version_and_region() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let _sloop = Sloop::start(&config(&ports, &backend), &ports).await;
    let admin = format!("http://127.0.0.1:{}", ports.telemetry);

    let mut count = Count::default();
    let requests = requests(&mut count);
    let mut client = TraceServiceClient::connect(ports.grpc_url())
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    for (i, request) in requests.into_iter().enumerate() {
        let response = client
            .export(request)
            .await
            .unwrap_or_else(|status| panic!("sloop refused trace request {i}: {status:?}"))
            .into_inner();
        assert!(
            response.partial_success.as_ref().is_none_or(|p| p.rejected_spans == 0),
            "sloop rejected spans of request {i}: {response:?}"
        );
    }
    assert_eq!(count.values[&("app.version".into(), FAILING_VERSION.into())].1, 7.0);

    // Wait until every span is counted, then explain over the SLO window (default)
    // and the last hour: the same spans, the same answer.
    let url = format!("{admin}/api/v1/slos/{SLO}/explain");
    let explained = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async {
        let (status, json) = get_json(&url).await;
        (status == reqwest::StatusCode::OK && json["total"].as_f64() == Some(count.total)).then_some(json)
    })
    .await
    .unwrap_or_else(|| panic!("{SLO} did not explain {} events within {DATA_TIMEOUT:?}", count.total));
    assert_eq!(explained["window"], "30d", "{explained}");
    assert_explains(&explained, &count);
    let (status, hour) = get_json(&format!("{url}?window=1h")).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{hour}");
    assert_eq!(hour["window"], "1h", "{hour}");
    assert_explains(&hour, &count);
    assert!(
        number(&hour, "from_unix_nano") > number(&explained, "from_unix_nano"),
        "an hour starts later than 30 days: {hour} vs {explained}"
    );

    // Bad windows and unknown SLOs.
    for window in ["soon", "30s", "31d"] {
        let (status, json) = get_json(&format!("{url}?window={window}")).await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "window={window}: {json}");
        assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()), "{json}");
    }
    let (status, json) = get_json(&format!("{admin}/api/v1/slos/nope/explain")).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{json}");
    assert!(json["error"].as_str().is_some_and(|e| e.contains("nope")), "{json}");

    // The CLI ranks the same two first, in the API's order.
    let (status, stdout, stderr) = explain_cli(&["--endpoint", &admin, "--window", "1h", SLO]).await;
    assert_eq!(status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let first_two: Vec<&str> = stdout.lines().skip(1).take(2).collect();
    let expected: Vec<String> = hour["values"]
        .as_array()
        .expect("values")
        .iter()
        .take(2)
        .map(|v| {
            format!(
                "{}={}",
                v["key"].as_str().unwrap_or_default(),
                v["value"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(first_two.len(), 2, "{stdout}");
    for (line, label) in first_two.iter().zip(&expected) {
        assert!(line.starts_with(&format!("{label} ")), "{label} first:\n{stdout}");
    }
    let version_line = first_two
        .iter()
        .find(|l| l.starts_with("app.version=1.4.2"))
        .expect("the version line");
    let budget = 100.0 * 7.0 / ((1.0 - TARGET) * count.total);
    assert!(
        version_line.contains(&format!("budget {budget:.1}%")),
        "budget {budget:.1}%:\n{stdout}"
    );
    // Without a scheme, as the admin address is written in config.
    let bare = format!("127.0.0.1:{}", ports.telemetry);
    let (status, json_out, stderr) = explain_cli(&["--endpoint", &bare, "--json", SLO]).await;
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    let parsed: Json = serde_json::from_str(&json_out).unwrap_or_else(|e| panic!("--json ({e}): {json_out}"));
    assert_explains(&parsed, &count);

    let (status, _, stderr) = explain_cli(&["--endpoint", &admin, "nope"]).await;
    assert_eq!(status.code(), Some(2), "unknown SLO: exit 2\n{stderr}");
    assert!(stderr.contains("no SLO named \"nope\""), "{stderr}");
    let (status, _, stderr) = explain_cli(&["--endpoint", &admin, "--window", "soon", SLO]).await;
    assert_eq!(status.code(), Some(2), "bad window: exit 2\n{stderr}");
    assert!(stderr.contains("window"), "{stderr}");
}
