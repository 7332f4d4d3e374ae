//! SLIs and SLOs end to end, against the real binary and real OTLP clients.
//!
//! * `slo_numbers_match_an_independent_count`: a deterministic mix of spans
//!   (homepage renders good and bad, checkouts, load tests, unrelated spans,
//!   sampled spans with `ot=th:` / `SampleRate` weights, two customer segments,
//!   one span too old and one too far in the future) goes in over OTLP/gRPC.
//!   The expected good/bad counts per SLO and segment are hard-coded per span
//!   template here, not derived from sloop's code. The backend must receive
//!   every span with the right `sli.*` attribute and nothing else changed, and
//!   `slo.*` metrics, the status API and the self-metrics must show exactly
//!   those numbers.
//! * `slo_state_survives_sigkill`: with `storage`, counts survive `kill -9`.
//! * `slo_status_is_a_deploy_gate`: `sloop slo status` exit codes 0 / 1 / 2.
//! * `validate_points_at_a_bad_condition_with_file_line_and_column`.
//! * `slo_from_load_balancer_logs`: an SLI on OTLP log records, with the slo.*
//!   metrics sent into a separate `metrics_pipeline`.
//!
//! Two tests guard against bugs found while writing these (a wrong column for
//! errors inside block-scalar conditions; burn-rate windows shifted by one span
//! from a skewed clock).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use integration_tests::admin::{admin_url, get_json};
use integration_tests::payloads::{kv_int, kv_str, now_nanos, unique_ids};
use integration_tests::{
    flatten_spans, free_port, metric_sum, poll_until, FlatMetricPoint, FlatSpan, GrpcBackend, Received, Sloop,
    SloopPorts, DATA_TIMEOUT,
};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, NumberDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use serde_json::Value as Json;

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000 * MS;
const CLI_TIMEOUT: Duration = Duration::from_secs(20);
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// Relative tolerance for derived figures (budget left, burn rates, ...).
const EPS: f64 = 1e-9;

const HOMEPAGE_SLO: &str = "homepage-availability";
const CHECKOUT_SLO: &str = "checkout-availability";
const SEGMENT: &str = "customer.segment";

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/// The two SLIs of the feature description.
const SLI_PROCESSOR: &str = r#"  sli:
    slis:
      - name: homepage
        when: 'name == "GET /"'
        exclude:
          - 'attributes["synthetic.load_test"] == true'
        good: 'attributes["http.response.status_code"] == 200 and duration < 300ms'
      - name: checkout
        when: 'name == "POST /checkout"'
        good: 'status.code != STATUS_CODE_ERROR'
"#;

/// `extensions:` and `service:` with the given `pipelines:` body.
fn service_yaml(ports: &SloopPorts, pipelines: &str) -> String {
    format!(
        "extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  shutdown_timeout: 10s
  pipelines:
{pipelines}",
        health = ports.health,
        telemetry = ports.telemetry,
    )
}

fn grpc_exporter(id: &str, backend: &GrpcBackend) -> String {
    format!(
        "  {id}:
    endpoint: {endpoint}
    tls:
      insecure: true
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
      max_elapsed_time: 10s
",
        endpoint = backend.endpoint()
    )
}

/// A traces pipeline `otlp -> [sli, slo, batch] -> otlp_grpc/backend`, where
/// `slo_body` is everything under `processors.slo` (indented by 4).
fn traces_config(ports: &SloopPorts, backend: &GrpcBackend, slo_body: &str) -> String {
    format!(
        "{receivers}processors:
{SLI_PROCESSOR}  slo:
{slo_body}  batch:
    timeout: 100ms
exporters:
{exporter}{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        exporter = grpc_exporter("otlp_grpc/backend", backend),
        service = service_yaml(
            ports,
            "    traces:
      receivers: [otlp]
      processors: [sli, slo, batch]
      exporters: [otlp_grpc/backend]
"
        ),
    )
}

// ---------------------------------------------------------------------------
// Building spans
// ---------------------------------------------------------------------------

fn kv_bool(key: &str, value: bool) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::BoolValue(value)),
        }),
        ..Default::default()
    }
}

fn kv_double(key: &str, value: f64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        }),
        ..Default::default()
    }
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "sloop-integration-tests/slo".to_string(),
        version: "1.0.0".to_string(),
        ..Default::default()
    })
}

fn resource(attributes: Vec<KeyValue>) -> Option<Resource> {
    Some(Resource {
        attributes,
        ..Default::default()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Sli {
    Homepage,
    Checkout,
}

impl Sli {
    fn attribute(self) -> &'static str {
        match self {
            Sli::Homepage => "sli.homepage",
            Sli::Checkout => "sli.checkout",
        }
    }

    fn objective(self) -> &'static str {
        match self {
            Sli::Homepage => HOMEPAGE_SLO,
            Sli::Checkout => CHECKOUT_SLO,
        }
    }
}

/// One kind of span, with what the SLIs must make of it, decided by reading
/// the SLI definitions above (not by running any of sloop's code).
struct Template {
    name: &'static str,
    http_status: Option<i64>,
    duration_ms: u64,
    status: status::StatusCode,
    load_test: Option<bool>,
    /// `Some((sli, good))` when the span is eligible for that SLI.
    expect: Option<(Sli, bool)>,
}

const fn t(
    name: &'static str,
    http_status: Option<i64>,
    duration_ms: u64,
    status: status::StatusCode,
    load_test: Option<bool>,
    expect: Option<(Sli, bool)>,
) -> Template {
    Template {
        name,
        http_status,
        duration_ms,
        status,
        load_test,
        expect,
    }
}

use status::StatusCode::{Error as ERR, Ok as OK, Unset as UNSET};
const HOME_GOOD: Option<(Sli, bool)> = Some((Sli::Homepage, true));
const HOME_BAD: Option<(Sli, bool)> = Some((Sli::Homepage, false));
const CHECKOUT_GOOD: Option<(Sli, bool)> = Some((Sli::Checkout, true));
const CHECKOUT_BAD: Option<(Sli, bool)> = Some((Sli::Checkout, false));

const TEMPLATES: [Template; 16] = [
    t("GET /", Some(200), 120, UNSET, None, HOME_GOOD),
    t("GET /", Some(200), 299, UNSET, None, HOME_GOOD),
    // `duration < 300ms` is strict.
    t("GET /", Some(200), 300, UNSET, None, HOME_BAD),
    t("GET /", Some(200), 450, OK, None, HOME_BAD),
    t("GET /", Some(500), 40, ERR, None, HOME_BAD),
    t("GET /", Some(404), 40, UNSET, None, HOME_BAD),
    // No status code attribute: nil == 200 is false.
    t("GET /", None, 40, UNSET, None, HOME_BAD),
    // Load tests are excluded, good or bad.
    t("GET /", Some(200), 80, UNSET, Some(true), None),
    t("GET /", Some(500), 900, ERR, Some(true), None),
    // `synthetic.load_test == false` is not excluded.
    t("GET /", Some(200), 80, UNSET, Some(false), HOME_GOOD),
    t("POST /checkout", Some(200), 700, OK, None, CHECKOUT_GOOD),
    t("POST /checkout", Some(200), 30, UNSET, None, CHECKOUT_GOOD),
    t("POST /checkout", Some(500), 30, ERR, None, CHECKOUT_BAD),
    // The load-test exclusion belongs to the homepage SLI only.
    t("POST /checkout", Some(503), 10, ERR, Some(true), CHECKOUT_BAD),
    // Not eligible for anything.
    t("GET /api/products", Some(500), 10, ERR, None, None),
    t("GET /index.html", Some(200), 10, UNSET, None, None),
];

/// Sampling information on a span and the weight the feature description
/// gives it: `ot=th:8` keeps 1/2 (weight 2), `ot=th:c` keeps 1/4 (weight 4),
/// the threshold wins over `SampleRate`, which wins over 1.
struct Sampling {
    trace_state: &'static str,
    sample_rate: Option<i64>,
    weight: f64,
}

const SAMPLINGS: [Sampling; 6] = [
    Sampling {
        trace_state: "",
        sample_rate: None,
        weight: 1.0,
    },
    Sampling {
        trace_state: "ot=th:8",
        sample_rate: None,
        weight: 2.0,
    },
    Sampling {
        trace_state: "ot=th:c",
        sample_rate: None,
        weight: 4.0,
    },
    Sampling {
        trace_state: "vendor=x,ot=th:8",
        sample_rate: Some(10),
        weight: 2.0,
    },
    Sampling {
        trace_state: "",
        sample_rate: Some(10),
        weight: 10.0,
    },
    Sampling {
        trace_state: "vendor=x",
        sample_rate: None,
        weight: 1.0,
    },
];

/// (objective, segment); segment `None` is the objective as a whole.
type SeriesKey = (String, Option<String>);

/// A counted bad event: (trace id, span id, weight).
type BadEvent = (Vec<u8>, Vec<u8>, f64);

/// Expected good and bad (weighted) counts per series.
#[derive(Debug, Default, Clone, PartialEq)]
struct Tally {
    counts: BTreeMap<SeriesKey, (f64, f64)>,
    /// Counted bad events per series, in the order they were sent.
    bad_events: BTreeMap<SeriesKey, Vec<BadEvent>>,
}

impl Tally {
    fn add(&mut self, objective: &str, segment: Option<&str>, good: bool, weight: f64, ids: (&[u8], &[u8])) {
        let keys = [
            (objective.to_string(), None),
            (objective.to_string(), segment.map(str::to_string)),
        ];
        let keys = if segment.is_some() { &keys[..] } else { &keys[..1] };
        for key in keys {
            let entry = self.counts.entry(key.clone()).or_default();
            if good {
                entry.0 += weight;
            } else {
                entry.1 += weight;
                self.bad_events
                    .entry(key.clone())
                    .or_default()
                    .push((ids.0.to_vec(), ids.1.to_vec(), weight));
            }
        }
    }

    fn get(&self, objective: &str, segment: Option<&str>) -> (f64, f64) {
        self.counts
            .get(&(objective.to_string(), segment.map(str::to_string)))
            .copied()
            .unwrap_or_default()
    }

    fn merged(&self, other: &Tally) -> Tally {
        let mut out = self.clone();
        for (key, (g, b)) in &other.counts {
            let entry = out.counts.entry(key.clone()).or_default();
            entry.0 += g;
            entry.1 += b;
        }
        for (key, events) in &other.bad_events {
            out.bad_events
                .entry(key.clone())
                .or_default()
                .extend(events.iter().cloned());
        }
        out
    }
}

/// What was sent: the requests, and per span id the `sli.*` attribute the
/// backend must see on it.
#[derive(Default)]
struct Sent {
    requests: Vec<ExportTraceServiceRequest>,
    sli_attribute: BTreeMap<Vec<u8>, Option<(&'static str, &'static str)>>,
    tally: Tally,
}

fn build_span(template: &Template, sampling: &Sampling, index: i64, end: u64, segment_attr: Option<&str>) -> Span {
    let (trace_id, span_id) = unique_ids();
    let mut attributes = vec![
        kv_str("http.request.method", template.name.split(' ').next().unwrap_or("GET")),
        kv_int("test.index", index),
    ];
    if let Some(code) = template.http_status {
        attributes.push(kv_int("http.response.status_code", code));
    }
    if let Some(load_test) = template.load_test {
        attributes.push(kv_bool("synthetic.load_test", load_test));
    }
    if let Some(segment) = segment_attr {
        attributes.push(kv_str(SEGMENT, segment));
    }
    if let Some(rate) = sampling.sample_rate {
        attributes.push(kv_int("SampleRate", rate));
    }
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        trace_state: sampling.trace_state.to_string(),
        name: template.name.to_string(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: end - template.duration_ms * MS,
        end_time_unix_nano: end,
        attributes,
        status: Some(Status {
            code: template.status as i32,
            message: if template.status == ERR {
                "boom".into()
            } else {
                String::new()
            },
        }),
        ..Default::default()
    }
}

fn outcome_str(good: bool) -> &'static str {
    if good {
        "good"
    } else {
        "bad"
    }
}

/// The deterministic mix of test 1: `rounds * 16` spans over 4 requests, each
/// with a resource that carries `customer.segment = free` (spans may override
/// it with their own attribute) and one that does not (spans carry it).
/// Request 0 also starts with one span ending 40 days ago and one ending 10
/// minutes in the future: both are classified by the sli processor, neither
/// is counted by the slo processor.
fn mixed_traffic(rounds: usize) -> Sent {
    let now = now_nanos();
    let requests_n = 4;
    let spans_n = rounds * TEMPLATES.len();
    let mut sent = Sent::default();
    // [request][resource] -> spans
    let mut buckets: Vec<[Vec<Span>; 2]> = (0..requests_n).map(|_| [Vec::new(), Vec::new()]).collect();

    // Out of the window: too late and too early.
    let day = 86_400 * SECOND;
    for (template, end) in [(&TEMPLATES[4], now - 40 * day), (&TEMPLATES[0], now + 600 * SECOND)] {
        let span = build_span(template, &SAMPLINGS[0], -1, end, Some("enterprise"));
        let (sli, good) = template.expect.expect("out-of-window spans are homepage spans");
        sent.sli_attribute
            .insert(span.span_id.clone(), Some((sli.attribute(), outcome_str(good))));
        buckets[0][1].push(span);
    }

    for i in 0..spans_n {
        let template = &TEMPLATES[i % TEMPLATES.len()];
        let sampling = &SAMPLINGS[(i / TEMPLATES.len() + i) % SAMPLINGS.len()];
        let request = i * requests_n / spans_n;
        let with_resource_segment = i % 2 == 0;
        // Resource A: `free` from the resource unless the span says
        // `enterprise`. Resource B: always from the span.
        let (segment_attr, segment) = if with_resource_segment {
            if i % 3 == 0 {
                (Some("enterprise"), "enterprise")
            } else {
                (None, "free")
            }
        } else if i % 4 == 1 {
            (Some("free"), "free")
        } else {
            (Some("enterprise"), "enterprise")
        };
        let end = now - SECOND - (i as u64 % 10) * 100 * MS;
        let span = build_span(template, sampling, i as i64, end, segment_attr);
        match template.expect {
            Some((sli, good)) => {
                sent.sli_attribute
                    .insert(span.span_id.clone(), Some((sli.attribute(), outcome_str(good))));
                sent.tally.add(
                    sli.objective(),
                    Some(segment),
                    good,
                    sampling.weight,
                    (&span.trace_id, &span.span_id),
                );
            }
            None => {
                sent.sli_attribute.insert(span.span_id.clone(), None);
            }
        }
        buckets[request][usize::from(!with_resource_segment)].push(span);
    }

    for [with_segment, without_segment] in buckets {
        sent.requests.push(ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: resource(vec![kv_str("service.name", "shop-frontend"), kv_str(SEGMENT, "free")]),
                    scope_spans: vec![ScopeSpans {
                        scope: scope(),
                        spans: with_segment,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                ResourceSpans {
                    resource: resource(vec![kv_str("service.name", "shop-backend")]),
                    scope_spans: vec![ScopeSpans {
                        scope: scope(),
                        spans: without_segment,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
        });
    }
    sent
}

/// `good` homepage spans and `bad` ones (HTTP 500), all in `segment`, with the
/// given sampling; adds them to `tally`.
fn homepage_request(
    good: usize,
    bad: usize,
    segment: &str,
    sampling: &Sampling,
    tally: &mut Tally,
) -> ExportTraceServiceRequest {
    let now = now_nanos();
    let spans: Vec<Span> = (0..good + bad)
        .map(|i| {
            let is_good = i < good;
            let template = if is_good { &TEMPLATES[0] } else { &TEMPLATES[4] };
            let span = build_span(template, sampling, i as i64, now - SECOND, Some(segment));
            tally.add(
                HOMEPAGE_SLO,
                Some(segment),
                is_good,
                sampling.weight,
                (&span.trace_id, &span.span_id),
            );
            span
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(vec![kv_str("service.name", "shop-frontend")]),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// `n` good (or bad) checkout spans.
fn checkout_request(n: usize, good: bool, tally: &mut Tally) -> ExportTraceServiceRequest {
    let now = now_nanos();
    let template = if good { &TEMPLATES[11] } else { &TEMPLATES[12] };
    let spans: Vec<Span> = (0..n)
        .map(|i| {
            let span = build_span(template, &SAMPLINGS[0], i as i64, now - SECOND, None);
            tally.add(CHECKOUT_SLO, None, good, 1.0, (&span.trace_id, &span.span_id));
            span
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(vec![kv_str("service.name", "shop-backend")]),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn send_traces(ports: &SloopPorts, requests: &[ExportTraceServiceRequest]) {
    let mut client = TraceServiceClient::connect(ports.grpc_url())
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    for (i, request) in requests.iter().enumerate() {
        let response = client
            .export(request.clone())
            .await
            .unwrap_or_else(|status| panic!("sloop refused trace request {i}: {status:?}"))
            .into_inner();
        assert!(
            response.partial_success.as_ref().is_none_or(|p| p.rejected_spans == 0),
            "sloop rejected spans of request {i}: {response:?}"
        );
    }
}

fn span_count(requests: &[ExportTraceServiceRequest]) -> usize {
    requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

// ---------------------------------------------------------------------------
// Reading slo.* metrics
// ---------------------------------------------------------------------------

fn value_string(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attr_map(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), value_string(&kv.value)))
        .collect()
}

fn number_point(point: &FlatMetricPoint) -> &NumberDataPoint {
    match &point.metric.data {
        Some(metric::Data::Sum(s)) => &s.data_points[0],
        Some(metric::Data::Gauge(g)) => &g.data_points[0],
        other => panic!("{} is neither a sum nor a gauge: {other:?}", point.metric.name),
    }
}

fn as_double(point: &NumberDataPoint) -> f64 {
    match point.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        other => panic!("slo.* points are doubles, found {other:?}"),
    }
}

/// One emission of slo.* metrics: every point with the same timestamp.
struct Emission {
    time: u64,
    points: Vec<FlatMetricPoint>,
}

impl Emission {
    /// The points of `metric` whose attributes are exactly `attributes`.
    fn find(&self, metric: &str, attributes: &BTreeMap<String, String>) -> Vec<&FlatMetricPoint> {
        self.points
            .iter()
            .filter(|p| p.metric.name == metric && &attr_map(p.point_attributes()) == attributes)
            .collect()
    }

    /// The value of the single point of `metric` with exactly `attributes`.
    fn value(&self, metric: &str, attributes: &BTreeMap<String, String>) -> f64 {
        let found = self.find(metric, attributes);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one {metric} point with attributes {attributes:?} in the emission at {}; \
             the emission holds:\n{}",
            self.time,
            self.describe()
        );
        as_double(number_point(found[0]))
    }

    fn describe(&self) -> String {
        self.points
            .iter()
            .map(|p| {
                format!(
                    "  {} {:?} = {}\n",
                    p.metric.name,
                    attr_map(p.point_attributes()),
                    as_double(number_point(p))
                )
            })
            .collect()
    }
}

/// The newest emission of slo.* metrics stamped after `after` (unix nanos),
/// waiting for one (bounded).
async fn emission_after(received: &Received, after: u64) -> Emission {
    let found = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async {
        let points: Vec<FlatMetricPoint> = received
            .metric_points()
            .into_iter()
            .filter(|p| p.metric.name.starts_with("slo."))
            .collect();
        let latest = points
            .iter()
            .filter(|p| p.metric.name == "slo.events")
            .map(|p| number_point(p).time_unix_nano)
            .max()?;
        (latest > after).then(|| Emission {
            time: latest,
            points: points
                .into_iter()
                .filter(|p| number_point(p).time_unix_nano == latest)
                .collect(),
        })
    })
    .await;
    found.unwrap_or_else(|| {
        panic!(
            "no slo.* metrics emitted after {after} reached the backend within {DATA_TIMEOUT:?} \
             ({} metric points received in all)",
            received.metric_point_count()
        )
    })
}

fn series_attrs(
    objective: &str,
    segment_key: &str,
    segment: Option<&str>,
    extra: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::from([("slo.name".to_string(), objective.to_string())]);
    if let Some(segment) = segment {
        attrs.insert(segment_key.to_string(), segment.to_string());
    }
    for (k, v) in extra {
        attrs.insert(k.to_string(), v.to_string());
    }
    attrs
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= EPS * expected.abs().max(1.0)
}

/// Everything the feature description derives from good/bad counts when all
/// events are recent (inside every burn-rate window, and inside the last hour).
struct Expected {
    good: f64,
    bad: f64,
    target: f64,
    min_events: f64,
}

impl Expected {
    fn total(&self) -> f64 {
        self.good + self.bad
    }
    fn allowed_bad(&self) -> f64 {
        (1.0 - self.target) * self.total()
    }
    fn remaining(&self) -> f64 {
        if self.total() == 0.0 {
            1.0
        } else {
            1.0 - self.bad / ((1.0 - self.target) * self.total())
        }
    }
    fn burn_rate(&self) -> f64 {
        if self.total() == 0.0 {
            0.0
        } else {
            (self.bad / self.total()) / (1.0 - self.target)
        }
    }
    /// The Workbook's default rules: page 14.4 (1h/5m) or 6 (6h/30m), ticket 3
    /// (1d/2h) or 1 (3d/6h). With every event recent, long and short windows
    /// hold the same events, so a severity fires when the burn rate exceeds its
    /// lowest threshold and there are at least `min_events` events.
    fn page(&self) -> bool {
        self.total() >= self.min_events && self.burn_rate() > 6.0
    }
    fn ticket(&self) -> bool {
        self.total() >= self.min_events && self.burn_rate() > 1.0
    }
    /// Seconds until exhaustion at the last hour's bad-event rate.
    fn exhaustion(&self) -> Option<f64> {
        let left = self.allowed_bad() - self.bad;
        if self.total() > 0.0 && left <= 0.0 {
            Some(0.0)
        } else if self.bad > 0.0 {
            Some(left / (self.bad / 3600.0))
        } else {
            None
        }
    }
}

/// Checks every slo.* metric of one series in `emission` against `expected`.
fn assert_series_metrics(
    emission: &Emission,
    objective: &str,
    segment_key: &str,
    segment: Option<&str>,
    expected: &Expected,
) {
    let label = format!("{objective} / {segment:?}");
    let attrs = |extra: &[(&str, &str)]| series_attrs(objective, segment_key, segment, extra);
    let good = emission.value("slo.events", &attrs(&[("slo.outcome", "good")]));
    let bad = emission.value("slo.events", &attrs(&[("slo.outcome", "bad")]));
    assert_eq!(
        (good, bad),
        (expected.good, expected.bad),
        "{label}: slo.events good/bad"
    );
    let objective_value = emission.value("slo.objective", &attrs(&[]));
    assert_eq!(objective_value, expected.target, "{label}: slo.objective");
    let remaining = emission.value("slo.error_budget.remaining", &attrs(&[]));
    assert!(
        close(remaining, expected.remaining()),
        "{label}: slo.error_budget.remaining = {remaining}, expected {}",
        expected.remaining()
    );
    for window in ["5m", "1h"] {
        let rate = emission.value("slo.burn_rate", &attrs(&[("slo.window", window)]));
        assert!(
            close(rate, expected.burn_rate()),
            "{label}: slo.burn_rate{{slo.window={window}}} = {rate}, expected {}",
            expected.burn_rate()
        );
    }
    for (severity, firing) in [("page", expected.page()), ("ticket", expected.ticket())] {
        let alert = emission.value("slo.alert", &attrs(&[("slo.severity", severity)]));
        assert_eq!(
            alert,
            if firing { 1.0 } else { 0.0 },
            "{label}: slo.alert{{slo.severity={severity}}}"
        );
    }
    let exhaustion = emission.find("slo.error_budget.exhaustion", &attrs(&[]));
    match expected.exhaustion() {
        None => assert!(
            exhaustion.is_empty(),
            "{label}: no slo.error_budget.exhaustion without bad events"
        ),
        Some(seconds) => {
            assert_eq!(exhaustion.len(), 1, "{label}: one slo.error_budget.exhaustion point");
            let value = as_double(number_point(exhaustion[0]));
            assert!(
                close(value, seconds),
                "{label}: slo.error_budget.exhaustion = {value}, expected {seconds}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The status API and the CLI
// ---------------------------------------------------------------------------

/// `GET /api/v1/slos` as name -> SLO.
async fn slo_statuses(ports: &SloopPorts) -> BTreeMap<String, Json> {
    let url = format!("{}/api/v1/slos", admin_url(ports));
    let (status, json) = get_json(&url).await;
    assert_eq!(status, reqwest::StatusCode::OK, "GET {url}: {json}");
    json["slos"]
        .as_array()
        .unwrap_or_else(|| panic!("GET {url} has no slos array: {json}"))
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("an SLO without a name").to_string(),
                s.clone(),
            )
        })
        .collect()
}

/// Polls the status API until `objective` shows `total` events (bounded).
async fn wait_for_total(ports: &SloopPorts, objective: &str, total: f64) -> Json {
    let found = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async {
        let statuses = slo_statuses(ports).await;
        statuses
            .get(objective)
            .filter(|s| s["total"].as_f64() == Some(total))
            .cloned()
    })
    .await;
    match found {
        Some(status) => status,
        None => panic!(
            "{objective} did not reach {total} events within {DATA_TIMEOUT:?}: {:?}",
            slo_statuses(ports).await.get(objective)
        ),
    }
}

fn f64_field(json: &Json, key: &str) -> f64 {
    json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {json}"))
}

/// Checks one SLO (or group) object of the status API against `expected`.
fn assert_status_figures(json: &Json, label: &str, expected: &Expected) {
    assert_eq!(
        (
            f64_field(json, "good"),
            f64_field(json, "bad"),
            f64_field(json, "total")
        ),
        (expected.good, expected.bad, expected.total()),
        "{label}: good/bad/total in {json}"
    );
    let allowed = f64_field(json, "allowed_bad");
    assert!(
        close(allowed, expected.allowed_bad()),
        "{label}: allowed_bad {allowed}, expected {}",
        expected.allowed_bad()
    );
    let remaining = f64_field(json, "error_budget_remaining");
    assert!(
        close(remaining, expected.remaining()),
        "{label}: error_budget_remaining {remaining}, expected {}",
        expected.remaining()
    );
    for window in ["5m", "1h"] {
        let rate = json["burn_rates"][window]
            .as_f64()
            .unwrap_or_else(|| panic!("{label}: no burn_rates.{window} in {json}"));
        assert!(
            close(rate, expected.burn_rate()),
            "{label}: burn_rates.{window} {rate}, expected {}",
            expected.burn_rate()
        );
    }
    match expected.exhaustion() {
        None => assert!(
            json["exhaustion_seconds"].is_null(),
            "{label}: exhaustion_seconds in {json}"
        ),
        Some(seconds) => {
            let value = f64_field(json, "exhaustion_seconds");
            assert!(
                close(value, seconds),
                "{label}: exhaustion_seconds {value}, expected {seconds}"
            );
        }
    }
    assert_eq!(
        (json["alerts"]["page"].as_bool(), json["alerts"]["ticket"].as_bool()),
        (Some(expected.page()), Some(expected.ticket())),
        "{label}: alerts in {json}"
    );
}

/// `worst_groups` as segment value -> group object, after checking it is
/// sorted by budget left, least first.
fn worst_groups(json: &Json, key: &str) -> BTreeMap<String, Json> {
    let groups = json["worst_groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no worst_groups in {json}"));
    let remaining: Vec<f64> = groups.iter().map(|g| f64_field(g, "error_budget_remaining")).collect();
    assert!(
        remaining.windows(2).all(|w| w[0] <= w[1]),
        "worst_groups are not sorted by error_budget_remaining: {remaining:?}"
    );
    groups
        .iter()
        .map(|g| {
            let group = g["group"]
                .as_object()
                .unwrap_or_else(|| panic!("group without `group`: {g}"));
            assert_eq!(group.len(), 1, "one group_by key: {g}");
            let value = group[key]
                .as_str()
                .unwrap_or_else(|| panic!("no {key} in {g}"))
                .to_string();
            (value, g.clone())
        })
        .collect()
}

/// Runs `sloop slo status --endpoint <endpoint> [args...]`; returns the exit
/// status, stdout and stderr.
async fn slo_status_cli(endpoint: &str, args: &[&str]) -> (ExitStatus, String, String) {
    let mut argv = vec!["slo", "status", "--endpoint", endpoint];
    argv.extend_from_slice(args);
    let mut cli = Sloop::spawn(&argv, &[]);
    let status = cli.wait_exit(CLI_TIMEOUT).await;
    (status, cli.stdout(), cli.stderr())
}

// ---------------------------------------------------------------------------
// 1. The numbers
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_numbers_match_an_independent_count() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let slo = format!(
        "    interval: 1s
    objectives:
      - name: {HOMEPAGE_SLO}
        sli: homepage
        target: 0.99
        window: 30d
        group_by: [{SEGMENT}]
        alerting: {{ min_events: 10 }}
      - name: {CHECKOUT_SLO}
        sli: checkout
        target: 0.95
        group_by: [{SEGMENT}]
"
    );
    // The replica's name, as the chart's downward API sets it: it becomes the slo
    // metrics' service.instance.id, so replicas' series stay apart in Prometheus.
    let sloop = Sloop::start_with_env(
        &[&traces_config(&ports, &backend, &slo)],
        &ports,
        &[("K8S_POD_NAME", "sloop-gateway-7")],
    )
    .await;
    let targets = [(HOMEPAGE_SLO, 0.99, 10.0), (CHECKOUT_SLO, 0.95, 10.0)];

    let sent = mixed_traffic(6);
    let n = span_count(&sent.requests);
    send_traces(&ports, &sent.requests).await;

    // Every span arrives, with exactly the sli.* attribute it should have and
    // nothing else changed.
    let spans = backend.wait_for_spans(n, DATA_TIMEOUT).await;
    let counted_at = now_nanos();
    assert_eq!(spans.len(), n, "the backend should receive every span exactly once");
    let mut expected_spans: BTreeMap<Vec<u8>, FlatSpan> = BTreeMap::new();
    for mut flat in flatten_spans(&sent.requests) {
        if let Some(Some((key, value))) = sent.sli_attribute.get(&flat.span.span_id) {
            flat.span.attributes.push(kv_str(key, value));
            flat.span.attributes.sort_by(|a, b| a.key.cmp(&b.key));
        }
        expected_spans.insert(flat.span.span_id.clone(), flat);
    }
    let mut seen = BTreeSet::new();
    for got in &spans {
        let id = &got.span.span_id;
        assert!(seen.insert(id.clone()), "span {} arrived twice", got.span.name);
        let expected = expected_spans
            .get(id)
            .unwrap_or_else(|| panic!("the backend got a span that was never sent: {got:?}"));
        assert_eq!(
            got,
            expected,
            "span {:?} (test.index {:?}) should arrive unchanged except for its sli.* attribute",
            got.span.name,
            got.span.attributes.iter().find(|kv| kv.key == "test.index")
        );
    }
    let classified = sent.sli_attribute.values().filter(|a| a.is_some()).count();
    assert!(
        classified > 0 && classified < n,
        "the mix has classified and unclassified spans"
    );

    // The slo.* metrics of the first emission after every span was counted.
    let emission = emission_after(&backend, counted_at).await;
    for point in &emission.points {
        assert_eq!(
            attr_map(&point.resource_attributes),
            BTreeMap::from([
                ("service.name".to_string(), "sloop".to_string()),
                ("service.instance.id".to_string(), "sloop-gateway-7".to_string()),
            ]),
            "resource of {}",
            point.metric.name
        );
    }
    let events: Vec<&FlatMetricPoint> = emission
        .points
        .iter()
        .filter(|p| p.metric.name == "slo.events")
        .collect();
    for point in &events {
        match &point.metric.data {
            Some(metric::Data::Sum(sum)) => {
                assert!(sum.is_monotonic, "slo.events is monotonic");
                assert_eq!(
                    sum.aggregation_temporality,
                    AggregationTemporality::Cumulative as i32,
                    "slo.events is cumulative"
                );
            }
            other => panic!("slo.events should be a sum, found {other:?}"),
        }
    }
    // Overall and both segments, good and bad, for both objectives: nothing else.
    assert_eq!(
        events.len(),
        2 * 2 * 3,
        "slo.events series (2 objectives x 3 series x 2 outcomes):\n{}",
        emission.describe()
    );
    for (objective, target, min_events) in targets {
        for segment in [None, Some("free"), Some("enterprise")] {
            let (good, bad) = sent.tally.get(objective, segment);
            assert!(
                good > 0.0 && bad > 0.0,
                "the mix gives {objective}/{segment:?} good and bad events"
            );
            let expected = Expected {
                good,
                bad,
                target,
                min_events,
            };
            assert_series_metrics(&emission, objective, SEGMENT, segment, &expected);
        }
    }
    // With these targets the homepage burns fast (page) and checkout slowly.
    let (hg, hb) = sent.tally.get(HOMEPAGE_SLO, None);
    assert!(hb / (hg + hb) / 0.01 > 14.4, "the homepage mix should page");

    // Exemplars on the bad points are bad events of that very series, and the
    // most recent one is among them.
    for (objective, _, _) in targets {
        for segment in [None, Some("free"), Some("enterprise")] {
            let attrs = series_attrs(objective, SEGMENT, segment, &[("slo.outcome", "bad")]);
            let point = number_point(emission.find("slo.events", &attrs)[0]);
            let bad_events = &sent.tally.bad_events[&(objective.to_string(), segment.map(str::to_string))];
            assert!(
                !point.exemplars.is_empty(),
                "{objective}/{segment:?}: the bad point has exemplars"
            );
            for exemplar in &point.exemplars {
                let event = bad_events
                    .iter()
                    .find(|(trace_id, _, _)| trace_id == &exemplar.trace_id)
                    .unwrap_or_else(|| {
                        panic!(
                            "{objective}/{segment:?}: exemplar trace id {} is not a bad event of the series",
                            hex(&exemplar.trace_id)
                        )
                    });
                assert_eq!(exemplar.span_id, event.1, "{objective}/{segment:?}: exemplar span id");
                assert_eq!(
                    exemplar.value,
                    Some(exemplar::Value::AsDouble(event.2)),
                    "{objective}/{segment:?}: exemplar value is the event's weight"
                );
            }
            let last = bad_events.last().expect("bad events");
            assert!(
                point.exemplars.iter().any(|e| e.trace_id == last.0),
                "{objective}/{segment:?}: the most recent bad event {} should be an exemplar",
                hex(&last.0)
            );
        }
    }
    let good_point = number_point(
        emission.find(
            "slo.events",
            &series_attrs(HOMEPAGE_SLO, SEGMENT, None, &[("slo.outcome", "good")]),
        )[0],
    );
    assert!(good_point.exemplars.is_empty(), "exemplars are for bad events only");

    // The status API shows the same figures.
    let statuses = slo_statuses(&ports).await;
    assert_eq!(
        statuses.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![CHECKOUT_SLO, HOMEPAGE_SLO],
        "the status API lists both objectives"
    );
    for (objective, target, min_events) in targets {
        let status = &statuses[objective];
        assert_eq!(status["target"].as_f64(), Some(target), "{objective}: target");
        assert_eq!(status["window"].as_str(), Some("30d"), "{objective}: window");
        let sli = if objective == HOMEPAGE_SLO {
            "homepage"
        } else {
            "checkout"
        };
        assert_eq!(status["sli"].as_str(), Some(sli), "{objective}: sli");
        let expected = |segment| {
            let (good, bad) = sent.tally.get(objective, segment);
            Expected {
                good,
                bad,
                target,
                min_events,
            }
        };
        assert_status_figures(status, objective, &expected(None));
        let groups = worst_groups(status, SEGMENT);
        assert_eq!(
            groups.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["enterprise", "free"],
            "{objective}: worst_groups"
        );
        for segment in ["free", "enterprise"] {
            assert_status_figures(
                &groups[segment],
                &format!("{objective} / {segment}"),
                &expected(Some(segment)),
            );
        }
        // One SLO by name is the same object.
        let (code, one) = get_json(&format!("{}/api/v1/slos/{objective}", admin_url(&ports))).await;
        assert_eq!(code, reqwest::StatusCode::OK);
        assert_eq!(one["name"].as_str(), Some(objective));
        assert_status_figures(&one, objective, &expected(None));
    }
    let (code, _) = get_json(&format!("{}/api/v1/slos/no-such-slo", admin_url(&ports))).await;
    assert_eq!(code, reqwest::StatusCode::NOT_FOUND, "an unknown SLO is a 404");

    // The span from 40 days ago and the one 10 minutes ahead were not counted,
    // but counted as late and future events.
    let text = sloop.scrape_metrics().await;
    assert_eq!(
        metric_sum(&text, "otelcol_processor_slo_late_events", &[("processor", "slo")]),
        1.0,
        "late events\n{text}"
    );
    assert_eq!(
        metric_sum(&text, "otelcol_processor_slo_future_events", &[("processor", "slo")]),
        1.0,
        "future events\n{text}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// 2. Restart after SIGKILL
// ---------------------------------------------------------------------------

/// A temp directory removed on drop (kept if the test panics).
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sloop-it-{label}-{}-{}", std::process::id(), now_nanos()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(slo storage kept in {})", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// slo.events of the homepage objective in `emission`: (series, outcome) ->
/// (value, start time).
fn homepage_events(emission: &Emission) -> BTreeMap<(Option<String>, String), (f64, u64)> {
    emission
        .points
        .iter()
        .filter(|p| p.metric.name == "slo.events")
        .filter_map(|p| {
            let attrs = attr_map(p.point_attributes());
            (attrs.get("slo.name").map(String::as_str) == Some(HOMEPAGE_SLO)).then(|| {
                let point = number_point(p);
                (
                    (attrs.get(SEGMENT).cloned(), attrs["slo.outcome"].clone()),
                    (as_double(point), point.start_time_unix_nano),
                )
            })
        })
        .collect()
}

fn assert_homepage_status(status: &Json, tally: &Tally, label: &str) {
    let expected = |segment: Option<&str>| {
        let (good, bad) = tally.get(HOMEPAGE_SLO, segment);
        Expected {
            good,
            bad,
            target: 0.9,
            min_events: 1_000_000.0,
        }
    };
    assert_status_figures(status, &format!("{label}: {HOMEPAGE_SLO}"), &expected(None));
    let groups = worst_groups(status, SEGMENT);
    assert_eq!(
        groups.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["enterprise", "free"],
        "{label}: worst_groups"
    );
    for segment in ["free", "enterprise"] {
        assert_status_figures(
            &groups[segment],
            &format!("{label}: {segment}"),
            &expected(Some(segment)),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_state_survives_sigkill() {
    let storage = TempDir::new("slo-storage");
    let slo = format!(
        "    interval: 1s
    storage: {storage}
    checkpoint_interval: 1s
    objectives:
      - name: {HOMEPAGE_SLO}
        sli: homepage
        target: 0.9
        group_by: [{SEGMENT}]
        alerting: {{ min_events: 1000000 }}
",
        storage = storage.0.display()
    );

    // First life: some events, then kill -9 once a checkpoint has passed.
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let mut first = Sloop::start(&traces_config(&ports, &backend, &slo), &ports).await;
    let mut before = Tally::default();
    let requests = vec![
        homepage_request(6, 1, "free", &SAMPLINGS[0], &mut before),
        homepage_request(3, 1, "free", &SAMPLINGS[1], &mut before),
        homepage_request(5, 0, "enterprise", &SAMPLINGS[0], &mut before),
        homepage_request(0, 1, "enterprise", &SAMPLINGS[2], &mut before),
    ];
    send_traces(&ports, &requests).await;
    let (good, bad) = before.get(HOMEPAGE_SLO, None);
    assert_eq!((good, bad), (6.0 + 6.0 + 5.0, 1.0 + 2.0 + 4.0), "test arithmetic");
    let status = wait_for_total(&ports, HOMEPAGE_SLO, good + bad).await;
    assert_homepage_status(&status, &before, "before the kill");
    let counted_at = now_nanos();
    let emission = emission_after(&backend, counted_at).await;
    let events_before = homepage_events(&emission);
    assert_eq!(
        events_before.len(),
        6,
        "slo.events before the kill:\n{}",
        emission.describe()
    );
    for ((segment, outcome), (value, _)) in &events_before {
        let (g, b) = before.get(HOMEPAGE_SLO, segment.as_deref());
        assert_eq!(
            *value,
            if outcome == "good" { g } else { b },
            "slo.events {segment:?}/{outcome} before the kill"
        );
    }
    // More than two checkpoint intervals since the events were counted.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    first.sigkill();
    let exit = first.wait_exit(EXIT_TIMEOUT).await;
    assert_eq!(
        exit.signal(),
        Some(9),
        "the first sloop should die of SIGKILL, got {exit}"
    );
    drop(first);

    // Second life: same config and storage, fresh ports and backend.
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let restarted_at = now_nanos();
    let _second = Sloop::start(&traces_config(&ports, &backend, &slo), &ports).await;
    let statuses = slo_statuses(&ports).await;
    assert_homepage_status(&statuses[HOMEPAGE_SLO], &before, "after the restart");

    // The cumulative counters carry on from where they were, with the same
    // start time (no reset for a cumulative backend to see).
    let emission = emission_after(&backend, restarted_at).await;
    assert_eq!(
        homepage_events(&emission),
        events_before,
        "slo.events (value, start time) after the restart\n{}",
        emission.describe()
    );

    // New events add up with the restored ones.
    let mut after = Tally::default();
    let requests = vec![
        homepage_request(4, 2, "free", &SAMPLINGS[0], &mut after),
        homepage_request(2, 1, "enterprise", &SAMPLINGS[1], &mut after),
    ];
    send_traces(&ports, &requests).await;
    let all = before.merged(&after);
    let (good, bad) = all.get(HOMEPAGE_SLO, None);
    let status = wait_for_total(&ports, HOMEPAGE_SLO, good + bad).await;
    assert_homepage_status(&status, &all, "after more events");
    let counted_at = now_nanos();
    let emission = emission_after(&backend, counted_at).await;
    for ((segment, outcome), (value, start)) in homepage_events(&emission) {
        let (g, b) = all.get(HOMEPAGE_SLO, segment.as_deref());
        assert_eq!(
            value,
            if outcome == "good" { g } else { b },
            "slo.events {segment:?}/{outcome} after more events"
        );
        assert_eq!(
            start,
            events_before[&(segment.clone(), outcome.clone())].1,
            "slo.events {segment:?}/{outcome}: start time"
        );
    }
}

// ---------------------------------------------------------------------------
// 3. Deploy gate
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_status_is_a_deploy_gate() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let slo = format!(
        "    interval: 1s
    objectives:
      - name: {HOMEPAGE_SLO}
        sli: homepage
        target: 0.9
      - name: {CHECKOUT_SLO}
        sli: checkout
        target: 0.9
"
    );
    let _sloop = Sloop::start(&traces_config(&ports, &backend, &slo), &ports).await;
    let endpoint = admin_url(&ports);

    // Healthy: 20 good homepage renders, 10 good checkouts.
    let mut tally = Tally::default();
    send_traces(
        &ports,
        &[
            homepage_request(20, 0, "free", &SAMPLINGS[0], &mut tally),
            checkout_request(10, true, &mut tally),
        ],
    )
    .await;
    wait_for_total(&ports, HOMEPAGE_SLO, 20.0).await;
    wait_for_total(&ports, CHECKOUT_SLO, 10.0).await;

    let (status, stdout, stderr) = slo_status_cli(&endpoint, &[HOMEPAGE_SLO]).await;
    assert_eq!(
        status.code(),
        Some(0),
        "healthy SLO: exit 0\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains(HOMEPAGE_SLO), "the table names the SLO:\n{stdout}");
    assert!(
        !stdout.contains(CHECKOUT_SLO),
        "only the listed SLO is shown:\n{stdout}"
    );
    let (status, stdout, stderr) = slo_status_cli(&endpoint, &[]).await;
    assert_eq!(
        status.code(),
        Some(0),
        "all healthy: exit 0\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains(HOMEPAGE_SLO) && stdout.contains(CHECKOUT_SLO),
        "{stdout}"
    );
    let (status, stdout, stderr) = slo_status_cli(&endpoint, &["--json", HOMEPAGE_SLO]).await;
    assert_eq!(status.code(), Some(0), "--json: exit 0\nstderr:\n{stderr}");
    let json: Json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("--json prints JSON ({e}):\n{stdout}"));
    let listed = json
        .as_array()
        .unwrap_or_else(|| panic!("--json prints a list:\n{stdout}"));
    assert_eq!(listed.len(), 1, "{stdout}");
    assert_eq!(listed[0]["name"].as_str(), Some(HOMEPAGE_SLO));
    assert_eq!(listed[0]["total"].as_f64(), Some(20.0));

    // 5 bad renders: 25 events allow 2.5 bad at 90%, so the budget is spent
    // (-100%), while the burn rate (0.2 / 0.1 = 2) is below every page rule.
    send_traces(&ports, &[homepage_request(0, 5, "free", &SAMPLINGS[0], &mut tally)]).await;
    let status_json = wait_for_total(&ports, HOMEPAGE_SLO, 25.0).await;
    assert!(
        f64_field(&status_json, "error_budget_remaining") <= 0.0,
        "{status_json}"
    );
    assert_eq!(status_json["alerts"]["page"].as_bool(), Some(false), "{status_json}");

    let (status, stdout, stderr) = slo_status_cli(&endpoint, &[HOMEPAGE_SLO]).await;
    assert_eq!(
        status.code(),
        Some(1),
        "exhausted budget: exit 1\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains(HOMEPAGE_SLO) && stderr.to_lowercase().contains("exhausted"),
        "stderr should say which SLO's budget is exhausted:\n{stderr}"
    );
    assert!(stdout.contains(HOMEPAGE_SLO), "{stdout}");
    // Gating on another SLO is not affected; gating on all is.
    let (status, stdout, stderr) = slo_status_cli(&endpoint, &[CHECKOUT_SLO]).await;
    assert_eq!(
        status.code(),
        Some(0),
        "healthy checkout: exit 0\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let (status, stdout, stderr) = slo_status_cli(&endpoint, &[]).await;
    assert_eq!(
        status.code(),
        Some(1),
        "all SLOs, one exhausted: exit 1\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains(HOMEPAGE_SLO) && !stderr.contains(CHECKOUT_SLO),
        "{stderr}"
    );

    // Unknown name, unreachable endpoint: exit 2.
    let (status, stdout, stderr) = slo_status_cli(&endpoint, &[HOMEPAGE_SLO, "no-such-slo"]).await;
    assert_eq!(
        status.code(),
        Some(2),
        "unknown SLO: exit 2\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("no-such-slo"),
        "stderr names the unknown SLO:\n{stderr}"
    );
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let (status, stdout, stderr) = slo_status_cli(&nobody, &[]).await;
    assert_eq!(
        status.code(),
        Some(2),
        "unreachable endpoint: exit 2\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stderr.is_empty(), "an unreachable endpoint is explained on stderr");
}

// ---------------------------------------------------------------------------
// 4. A bad condition fails validate with file, line and column
// ---------------------------------------------------------------------------

fn config_with_good_condition(ports: &SloopPorts, good: &str) -> String {
    format!(
        "{receivers}processors:
  sli:
    slis:
      - name: homepage
        when: 'name == \"GET /\"'
        good: {good}
  slo:
    objectives:
      - name: {HOMEPAGE_SLO}
        sli: homepage
        target: 0.99
exporters:
  debug:
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        service = service_yaml(
            ports,
            "    traces:
      receivers: [otlp]
      processors: [sli, slo]
      exporters: [debug]
"
        ),
    )
}

/// 1-based (line, column in characters) of the first `needle` in `text`
/// found on a line containing `line_marker`.
fn position_of(text: &str, line_marker: &str, needle: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find_map(|(i, line)| {
            if !line.contains(line_marker) {
                return None;
            }
            let byte = line.find(needle)?;
            Some((i + 1, line[..byte].chars().count() + 1))
        })
        .unwrap_or_else(|| panic!("{needle:?} not found on a line with {line_marker:?}:\n{text}"))
}

async fn validate_stderr(yaml: &str) -> (ExitStatus, String, PathBuf) {
    let mut sloop = Sloop::spawn(&["validate"], &[yaml]);
    let status = sloop.wait_exit(EXIT_TIMEOUT).await;
    let path = sloop.dir().join("config-0.yaml");
    (status, sloop.stderr(), path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_points_at_a_bad_condition_with_file_line_and_column() {
    let ports = SloopPorts::new();
    let yaml = config_with_good_condition(
        &ports,
        "'attributes[\"http.response.status_code\"] == 200 and duraton < 300ms'",
    );
    let (line, column) = position_of(&yaml, "good:", "duraton");
    assert!(
        line > 10 && column > 50,
        "the typo sits deep in the file: {line}:{column}"
    );
    let (status, stderr, path) = validate_stderr(&yaml).await;
    assert!(
        !status.success(),
        "validate accepted a condition with a typo'd path\n{stderr}"
    );
    let location = format!("{}:{line}:{column}", path.display());
    assert!(
        stderr.contains(&location),
        "stderr should point at {location}:\n{stderr}"
    );
    assert!(
        stderr.contains("processors.sli.slis[0].good"),
        "stderr names the key:\n{stderr}"
    );
    assert!(
        stderr.contains("duraton") && stderr.contains("did you mean duration"),
        "{stderr}"
    );

    // A type error: the column of the offending literal.
    let yaml = config_with_good_condition(&ports, "'duration < \"300ms\"'");
    let (line, column) = position_of(&yaml, "good:", "\"300ms\"");
    let (status, stderr, path) = validate_stderr(&yaml).await;
    assert!(!status.success(), "validate accepted `duration < \"300ms\"`\n{stderr}");
    let location = format!("{}:{line}:{column}", path.display());
    assert!(
        stderr.contains(&location),
        "stderr should point at {location}:\n{stderr}"
    );

    // And the same config without the typo is fine.
    let yaml = config_with_good_condition(
        &ports,
        "'attributes[\"http.response.status_code\"] == 200 and duration < 300ms'",
    );
    let (status, stderr, _) = validate_stderr(&yaml).await;
    assert!(status.success(), "the corrected config should validate:\n{stderr}");
}

/// In a block scalar whose continuation lines are indented further than its
/// first line (the style of the condition-language docs), the column still
/// points at the offending token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_points_into_a_block_scalar_condition() {
    let ports = SloopPorts::new();
    let yaml = config_with_good_condition(
        &ports,
        "|\n          attributes[\"http.response.status_code\"] == 200\n            and duraton < 300ms",
    );
    let (line, column) = position_of(&yaml, "and duraton", "duraton");
    let (status, stderr, path) = validate_stderr(&yaml).await;
    assert!(!status.success(), "{stderr}");
    let location = format!("{}:{line}:{column}", path.display());
    assert!(
        stderr.contains(&location),
        "stderr should point at {location}:\n{stderr}"
    );
}

/// One span from a host whose clock runs ~4-5 minutes ahead (inside the
/// default `max_clock_skew: 5m`, so it is counted) must not hide the bad
/// events of the present from the short burn-rate windows. (It once moved the
/// ring's newest minute into the future, and the 5m burn rate dropped from ~91
/// to 0; such events now count in the current minute.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_clock_does_not_hide_current_errors_from_burn_rates() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let slo = format!(
        "    interval: 1s
    objectives:
      - name: {HOMEPAGE_SLO}
        sli: homepage
        target: 0.99
"
    );
    let _sloop = Sloop::start(&traces_config(&ports, &backend, &slo), &ports).await;
    let mut tally = Tally::default();
    send_traces(&ports, &[homepage_request(1, 10, "free", &SAMPLINGS[0], &mut tally)]).await;
    let status = wait_for_total(&ports, HOMEPAGE_SLO, 11.0).await;
    let before = status["burn_rates"]["5m"].as_f64().expect("a 5m burn rate");
    assert!(close(before, (10.0 / 11.0) / 0.01), "5m burn rate before: {status}");

    // A good span ending in the 4th minute from now (always less than 5
    // minutes ahead, so within the default max_clock_skew, which is exact).
    let minute = 60 * SECOND;
    let end = (now_nanos() / minute + 4) * minute + SECOND;
    let mut request = homepage_request(1, 0, "free", &SAMPLINGS[0], &mut Tally::default());
    let span = &mut request.resource_spans[0].scope_spans[0].spans[0];
    span.start_time_unix_nano = end - 100 * MS;
    span.end_time_unix_nano = end;
    send_traces(&ports, &[request]).await;
    let status = wait_for_total(&ports, HOMEPAGE_SLO, 12.0).await;
    let after = status["burn_rates"]["5m"].as_f64().expect("a 5m burn rate");
    assert!(
        after > 14.4,
        "10 of the last 12 homepage renders failed, yet the 5m burn rate is {after}: {status}"
    );
}

// ---------------------------------------------------------------------------
// 5. Load-balancer access logs as the SLI source
// ---------------------------------------------------------------------------

const LB_SLO: &str = "lb-homepage-availability";
const REGION: &str = "cloud.region";

/// One kind of access log line and whether the SLI should count it as good.
struct LogTemplate {
    path: &'static str,
    status: i64,
    user_agent: &'static str,
    sample_rate: Option<i64>,
    /// None: not eligible (other path) or excluded (health check).
    expect_good: Option<bool>,
}

const fn lt(
    path: &'static str,
    status: i64,
    user_agent: &'static str,
    sample_rate: Option<i64>,
    expect_good: Option<bool>,
) -> LogTemplate {
    LogTemplate {
        path,
        status,
        user_agent,
        sample_rate,
        expect_good,
    }
}

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64)";
const LOG_TEMPLATES: [LogTemplate; 10] = [
    lt("/", 200, BROWSER, None, Some(true)),
    lt("/", 301, BROWSER, None, Some(true)),
    lt("/", 404, BROWSER, None, Some(true)),
    lt("/", 499, BROWSER, Some(5), Some(true)),
    lt("/", 500, BROWSER, None, Some(false)),
    lt("/", 503, BROWSER, Some(5), Some(false)),
    lt("/", 200, "ELB-HealthChecker/2.0", None, None),
    lt("/", 503, "ELB-HealthChecker/2.0", None, None),
    lt("/about", 500, BROWSER, None, None),
    lt("/index.html", 200, BROWSER, None, None),
];

fn lb_config(ports: &SloopPorts, logs: &GrpcBackend, metrics: &GrpcBackend) -> String {
    format!(
        "{receivers}processors:
  sli:
    slis:
      - name: lb-homepage
        when: 'attributes[\"url.path\"] == \"/\"'
        exclude:
          - 'HasPrefix(attributes[\"user_agent.original\"], \"ELB-HealthChecker\")'
        good: 'attributes[\"http.response.status_code\"] < 500'
  slo:
    interval: 1s
    metrics_pipeline: metrics/slo
    objectives:
      - name: {LB_SLO}
        sli: lb-homepage
        target: 0.99
        group_by: [{REGION}]
  batch:
    timeout: 100ms
exporters:
{logs_exporter}{metrics_exporter}{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        logs_exporter = grpc_exporter("otlp_grpc/logs", logs),
        metrics_exporter = grpc_exporter("otlp_grpc/metrics", metrics),
        service = service_yaml(
            ports,
            "    logs:
      receivers: [otlp]
      processors: [sli, slo, batch]
      exporters: [otlp_grpc/logs]
    metrics/slo:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc/metrics]
"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_from_load_balancer_logs() {
    let logs_backend = GrpcBackend::start().await;
    let metrics_backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let _sloop = Sloop::start(&lb_config(&ports, &logs_backend, &metrics_backend), &ports).await;

    // Two load balancers (regions) as resources, 3 rounds of every template.
    let now = now_nanos();
    let mut tally = Tally::default();
    let mut expected_attr: BTreeMap<String, Option<&'static str>> = BTreeMap::new();
    let mut requests = Vec::new();
    let mut n = 0;
    for region in ["eu-west-1", "us-east-1"] {
        let mut records = Vec::new();
        for round in 0..3 {
            for (i, template) in LOG_TEMPLATES.iter().enumerate() {
                let id = format!("{region}-{round}-{i}");
                let time = now - SECOND - (i as u64) * 10 * MS;
                let mut attributes = vec![
                    kv_str("request.id", &id),
                    kv_str("http.request.method", "GET"),
                    kv_str("url.path", template.path),
                    kv_int("http.response.status_code", template.status),
                    kv_str("user_agent.original", template.user_agent),
                    kv_double("http.server.request.duration", 0.012),
                ];
                if let Some(rate) = template.sample_rate {
                    attributes.push(kv_int("SampleRate", rate));
                }
                // Every other record has only an observed timestamp.
                let (time_unix_nano, observed) = if (round + i) % 2 == 0 {
                    (time, time + MS)
                } else {
                    (0, time)
                };
                records.push(LogRecord {
                    time_unix_nano,
                    observed_time_unix_nano: observed,
                    severity_number: SeverityNumber::Info as i32,
                    severity_text: "INFO".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(format!(
                            "GET {} {} \"{}\"",
                            template.path, template.status, template.user_agent
                        ))),
                    }),
                    attributes,
                    ..Default::default()
                });
                if let Some(good) = template.expect_good {
                    let weight = template.sample_rate.map_or(1.0, |r| r as f64);
                    tally.add(LB_SLO, Some(region), good, weight, (&[][..], &[][..]));
                }
                expected_attr.insert(id, template.expect_good.map(outcome_str));
                n += 1;
            }
        }
        requests.push(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource(vec![kv_str("service.name", "edge-lb"), kv_str(REGION, region)]),
                scope_logs: vec![ScopeLogs {
                    scope: scope(),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
    }
    let mut client = LogsServiceClient::connect(ports.grpc_url())
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    for request in &requests {
        client.export(request.clone()).await.expect("sloop refused the logs");
    }

    // Every record arrives, tagged when eligible.
    let records = logs_backend.wait_for_log_records(n, DATA_TIMEOUT).await;
    let counted_at = now_nanos();
    assert_eq!(records.len(), n, "every log record arrives exactly once");
    for record in &records {
        let attrs = attr_map(&record.record.attributes);
        let id = &attrs["request.id"];
        assert_eq!(
            attrs.get("sli.lb-homepage").map(String::as_str),
            expected_attr[id],
            "sli.lb-homepage on record {id}"
        );
        assert_eq!(
            attrs.len(),
            6 + usize::from(attrs.contains_key("SampleRate")) + usize::from(expected_attr[id].is_some())
        );
    }

    // The status API.
    let (good, bad) = tally.get(LB_SLO, None);
    assert_eq!(
        (good, bad),
        (2.0 * 3.0 * (3.0 + 5.0), 2.0 * 3.0 * (1.0 + 5.0)),
        "test arithmetic"
    );
    let expected = |segment: Option<&str>| {
        let (good, bad) = tally.get(LB_SLO, segment);
        Expected {
            good,
            bad,
            target: 0.99,
            min_events: 10.0,
        }
    };
    let status = wait_for_total(&ports, LB_SLO, good + bad).await;
    assert_eq!(status["sli"].as_str(), Some("lb-homepage"));
    assert_status_figures(&status, LB_SLO, &expected(None));
    let groups = worst_groups(&status, REGION);
    assert_eq!(groups.len(), 2, "one group per region (resource attribute): {status}");
    for region in ["eu-west-1", "us-east-1"] {
        assert_status_figures(
            &groups[region],
            &format!("{LB_SLO} / {region}"),
            &expected(Some(region)),
        );
    }

    // slo.* metrics go to the metrics/slo pipeline's exporter, not the logs one.
    let emission = emission_after(&metrics_backend, counted_at).await;
    for segment in [None, Some("eu-west-1"), Some("us-east-1")] {
        assert_series_metrics(&emission, LB_SLO, REGION, segment, &expected(segment));
    }
    assert_eq!(
        logs_backend.metric_point_count(),
        0,
        "with metrics_pipeline, nothing goes to the logs pipeline's exporter as metrics"
    );
}
