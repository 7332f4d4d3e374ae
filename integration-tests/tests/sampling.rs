//! Sampling without losing the traces that matter, end to end on the real binary:
//!
//! - 10% consistent probability sampling in front of an slo processor gives SLO
//!   counts within 2% of an unsampled pipeline fed the same stream (the sampler
//!   writes `ot=th:`, the slo processor weights each kept span by 1/p).
//! - The tail sampler's `sli` policy keeps every trace that holds a bad SLI event,
//!   whole, and the probabilistic policy at 0% drops the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use integration_tests::{poll_until, GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// A small deterministic generator (xorshift64*), so the stream and therefore
/// every sampling decision is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
}

fn int_attr(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

fn span(trace_id: [u8; 16], span_id: u64, name: &str, status: i64, end: u64) -> Span {
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_be_bytes().to_vec(),
        name: name.into(),
        kind: 2,
        start_time_unix_nano: end - 50_000_000,
        end_time_unix_nano: end,
        attributes: vec![int_attr("http.response.status_code", status)],
        ..Default::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("shop".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn slo_figures(ports: &SloopPorts, name: &str) -> Option<(f64, f64)> {
    let url = format!("http://127.0.0.1:{}/api/v1/slos/{name}", ports.telemetry);
    let body = reqwest::get(url).await.ok()?.bytes().await.ok()?;
    let json: serde_json::Value = serde_json::from_slice(&body).ok()?;
    Some((json["good"].as_f64()?, json["bad"].as_f64()?))
}

const SLI: &str = r#"
  sli:
    slis:
      - name: homepage
        when: 'name == "GET /"'
        good: 'attributes["http.response.status_code"] < 500'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_sampling_keeps_slo_counts_within_two_percent() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    // One receiver feeds two pipelines: the same stream is counted unsampled and
    // after a 10% consistent sampler.
    let yaml = format!(
        "{receivers}processors:{SLI}
  probabilistic_sampler:
    sampling_percentage: 10
    mode: proportional
  slo/exact:
    objectives:
      - {{name: exact, sli: homepage, target: 0.99}}
  slo/sampled:
    objectives:
      - {{name: sampled, sli: homepage, target: 0.99}}
exporters:
  otlp_grpc:
    endpoint: {backend}
    tls: {{insecure: true}}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  pipelines:
    traces/exact:
      receivers: [otlp]
      processors: [sli, slo/exact]
      exporters: [otlp_grpc]
    traces/sampled:
      receivers: [otlp]
      processors: [sli, probabilistic_sampler, slo/sampled]
      exporters: [otlp_grpc]
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        backend = backend.endpoint(),
        telemetry = ports.telemetry,
        health = ports.health,
    )
    .replace("service:\n", "service:\n  extensions: [health_check]\n");
    let _sloop = Sloop::start(&yaml, &ports).await;
    let mut client = TraceServiceClient::connect(ports.grpc_url()).await.expect("connect");

    // 100,000 homepage spans, one per trace, 20% of them failing.
    let mut rng = Rng(0x005e_ed0f_5100);
    let end = now_nanos();
    let (mut good, mut bad) = (0.0, 0.0);
    for batch in 0..100u64 {
        let spans = (0..1000u64)
            .map(|i| {
                let mut trace_id = [0u8; 16];
                trace_id[..8].copy_from_slice(&rng.next().to_be_bytes());
                trace_id[8..].copy_from_slice(&rng.next().to_be_bytes());
                let failing = rng.next().is_multiple_of(5);
                if failing {
                    bad += 1.0;
                } else {
                    good += 1.0;
                }
                span(
                    trace_id,
                    batch * 1000 + i + 1,
                    "GET /",
                    if failing { 503 } else { 200 },
                    end,
                )
            })
            .collect();
        client.export(request(spans)).await.expect("export accepted");
    }

    let exact = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async {
        slo_figures(&ports, "exact").await.filter(|(g, b)| g + b >= good + bad)
    })
    .await
    .expect("the exact SLO counted every span");
    assert_eq!(exact, (good, bad), "the unsampled pipeline counts exactly");
    let (sampled_good, sampled_bad) = slo_figures(&ports, "sampled").await.expect("sampled SLO status");
    let relative = |counted: f64, truth: f64| (counted - truth).abs() / truth;
    eprintln!("exact good/bad {good}/{bad}; sampled {sampled_good:.1}/{sampled_bad:.1}");
    assert!(
        relative(sampled_good + sampled_bad, good + bad) < 0.02,
        "sampled total {} vs {}",
        sampled_good + sampled_bad,
        good + bad
    );
    assert!(
        relative(sampled_good, good) < 0.02,
        "sampled good {sampled_good} vs {good}"
    );
    // ~20,000 bad events seen through ~2,000 samples: one standard deviation is
    // about 2.2%, so hold the bad count to 3 of them.
    assert!(relative(sampled_bad, bad) < 0.07, "sampled bad {sampled_bad} vs {bad}");
    // And the sampler really sampled: the backend got the exact pipeline's 100k
    // spans plus roughly 10k from the sampled one.
    let received = backend.received().span_count();
    assert!(
        (105_000..=115_000).contains(&received),
        "backend received {received} spans"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sli_tail_policy_keeps_every_trace_with_a_bad_event() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let yaml = format!(
        "{receivers}processors:{SLI}
  tail_sampling:
    decision_wait: 1s
    policies:
      - {{name: budget-burners, type: sli, sli: {{names: [homepage]}}}}
      - {{name: nothing-else, type: probabilistic, probabilistic: {{sampling_percentage: 0}}}}
exporters:
  otlp_grpc:
    endpoint: {backend}
    tls: {{insecure: true}}
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
      processors: [sli, tail_sampling]
      exporters: [otlp_grpc]
",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        backend = backend.endpoint(),
        health = ports.health,
        telemetry = ports.telemetry,
    );
    let _sloop = Sloop::start(&yaml, &ports).await;
    let mut client = TraceServiceClient::connect(ports.grpc_url()).await.expect("connect");

    // 300 traces of 4 spans (a homepage span and three children); every 10th has a
    // failing homepage span. Each trace's spans arrive in two requests, out of order.
    let mut rng = Rng(0x7a11_5a3b);
    let end = now_nanos();
    let mut burning: BTreeSet<Vec<u8>> = BTreeSet::new();
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for t in 0..300u64 {
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&rng.next().to_be_bytes());
        trace_id[8..].copy_from_slice(&(t + 1).to_be_bytes());
        let failing = t % 10 == 0;
        if failing {
            burning.insert(trace_id.to_vec());
        }
        let root = span(trace_id, t * 10 + 1, "GET /", if failing { 500 } else { 200 }, end);
        let children: Vec<Span> = (2..=4)
            .map(|c| span(trace_id, t * 10 + c, "SELECT", 200, end))
            .collect();
        // Children first, the root (which carries the verdict) in the later request.
        first.extend(children[..2].iter().cloned());
        second.push(root);
        second.push(children[2].clone());
    }
    client.export(request(first)).await.expect("first half accepted");
    client.export(request(second)).await.expect("second half accepted");

    let expected_spans = burning.len() * 4;
    let spans = backend.received().wait_for_spans(expected_spans, DATA_TIMEOUT).await;
    // Nothing else arrives after the decision of the last trace.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let spans_now = backend.received().spans();
    assert_eq!(
        spans_now.len(),
        expected_spans,
        "only the burning traces' spans are kept"
    );
    let mut per_trace: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for s in &spans {
        *per_trace.entry(s.span.trace_id.clone()).or_default() += 1;
    }
    assert_eq!(
        per_trace.keys().cloned().collect::<BTreeSet<_>>(),
        burning,
        "exactly the traces with a bad event"
    );
    assert!(
        per_trace.values().all(|n| *n == 4),
        "each kept trace arrives whole: {per_trace:?}"
    );
}
