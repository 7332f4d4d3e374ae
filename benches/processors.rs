//! Per-span cost of each processor on realistic requests: 100 spans of ~10
//! attributes each, a homepage/checkout/other mix, one in 50 bad.
//!
//! `cargo bench --bench processors` — results and the exact command in BENCHMARKS.md.
//!
//! With `SLOOP_BENCH_REPEAT=<case>:<n>` the binary skips criterion and hands `<case>`
//! (`drop_only`, `sli`, `slo`, `sli_then_slo` or a processor below) `n` requests,
//! for instruction and allocation counts that do not depend on timing:
//! `valgrind --tool=callgrind` or `--tool=dhat` on it with `n` = 0 and `n` = 1000,
//! and the difference divided by 1000.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use figment::providers::Format;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use sloop::component::registry::{self, ProcessorFactory};
use sloop::component::{
    BoxFuture, ComponentId, ConsumeError, Consumer, Processor, ProcessorContext, ServiceHandles, Signal,
};
use sloop::pdata::Telemetry;

struct Sink;

impl Consumer for Sink {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        drop(data);
        Box::pin(async { Ok(()) })
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn request() -> Telemetry {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let spans = (0..100u64)
        .map(|i| {
            let (name, status) = match i % 10 {
                0..=5 => ("GET /", if i % 50 == 0 { 500 } else { 200 }),
                6 | 7 => ("POST /checkout", 200),
                _ => ("GET /api/items", 200),
            };
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&(i + 1).to_be_bytes());
            Span {
                trace_id: trace_id.to_vec(),
                span_id: (i + 1).to_be_bytes().to_vec(),
                name: name.into(),
                kind: 2,
                start_time_unix_nano: now - 120_000_000,
                end_time_unix_nano: now,
                attributes: vec![
                    kv("http.request.method", any_value::Value::StringValue("GET".into())),
                    kv("http.response.status_code", any_value::Value::IntValue(status)),
                    kv(
                        "url.path",
                        any_value::Value::StringValue(name.trim_start_matches("GET ").into()),
                    ),
                    kv("server.address", any_value::Value::StringValue("shop.example".into())),
                    kv(
                        "user_agent.original",
                        any_value::Value::StringValue("Mozilla/5.0 (X11; Linux x86_64)".into()),
                    ),
                    kv(
                        "customer.segment",
                        any_value::Value::StringValue(if i % 3 == 0 { "gold" } else { "free" }.into()),
                    ),
                    kv("network.peer.port", any_value::Value::IntValue(44_000 + i as i64)),
                    kv("http.route", any_value::Value::StringValue("/".into())),
                    kv("cache.hit", any_value::Value::BoolValue(i % 2 == 0)),
                    kv("db.duration_ms", any_value::Value::DoubleValue(1.5)),
                ],
                ..Default::default()
            }
        })
        .collect();
    Telemetry::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", any_value::Value::StringValue("shop".into()))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

const SLI: &str = r#"
slis:
  - name: homepage
    when: 'name == "GET /"'
    exclude:
      - 'attributes["synthetic.load_test"] == true'
      - 'IsMatch(attributes["user_agent.original"], "(?i)bot|crawler|spider")'
    good: 'attributes["http.response.status_code"] == 200 and duration < 300ms'
  - name: checkout
    when: 'name == "POST /checkout"'
    good: 'status.code != STATUS_CODE_ERROR'
"#;

const SLO: &str = r#"
objectives:
  - {name: homepage, sli: homepage, target: 0.999}
  - {name: checkout, sli: checkout, target: 0.995, group_by: [customer.segment]}
"#;

fn build(factory_name: &str, yaml: &str, next: Arc<dyn Consumer>, service: &ServiceHandles) -> Arc<dyn Processor> {
    let factory: &ProcessorFactory = registry::find(sloop::components::PROCESSORS, factory_name).expect("registered");
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .expect("yaml");
    let config = (factory.parse)(&figment::value::Value::from(dict)).expect("valid config");
    let id = ComponentId::parse(factory_name).expect("id");
    let ctx = ProcessorContext {
        id: &id,
        pipeline: "traces",
        signal: Signal::Traces,
        exporters: Arc::new(Sink),
        pipelines: &Default::default(),
        service,
        durable: false,
    };
    config.build(&ctx, next).expect("the processor builds")
}

/// Each processor alone, with a typical config.
const SINGLE: &[(&str, &str, &str)] = &[
    ("batch", "batch", "send_batch_size: 8192\ntimeout: 200ms\n"),
    (
        "attributes",
        "attributes",
        "actions:\n  - {key: env, value: prod, action: insert}\n  - {key: user_agent.original, action: delete}\n  - {key: customer.segment, action: hash}\n",
    ),
    ("resource", "resource", "attributes:\n  - {key: deployment.environment, value: prod, action: upsert}\n"),
    ("resourcedetection", "resourcedetection", "detectors: [env, system]\n"),
    ("filter", "filter", "traces:\n  span:\n    - 'attributes[\"http.route\"] == \"/healthz\"'\n    - 'name == \"GET /api/items\" and duration < 1ms'\n"),
    ("probabilistic_sampler", "probabilistic_sampler", "sampling_percentage: 10\nmode: proportional\n"),
    // Buffers every span (one trace per span here) until decision_wait; the cost
    // measured is admission into the buffer plus, once num_traces is reached,
    // deciding the oldest trace early.
    (
        "tail_sampling",
        "tail_sampling",
        "decision_wait: 1s\nnum_traces: 20000\npolicies:\n  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n  - {name: rest, type: probabilistic, probabilistic: {sampling_percentage: 5}}\n",
    ),
];

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let service = ServiceHandles::default();
    let slo = build("slo", SLO, Arc::new(Sink), &service);
    let sli_then_slo = build("sli", SLI, slo.clone(), &service);
    let sli_only = build("sli", SLI, Arc::new(Sink), &service);
    // The input for slo alone: spans already tagged by the sli processor.
    let tagged = {
        let recorder = Arc::new(Recorder::default());
        let sli = build("sli", SLI, recorder.clone(), &service);
        runtime.block_on(sli.consume(request())).expect("consume");
        let tagged = recorder.0.lock().expect("lock").pop().expect("tagged");
        tagged
    };
    let input = request();
    if let Ok(repeat) = std::env::var("SLOOP_BENCH_REPEAT") {
        let (case, n) = repeat.split_once(':').expect("SLOOP_BENCH_REPEAT=<case>:<n>");
        let n: usize = n.parse().expect("a number of requests");
        let processor = match case {
            "drop_only" => None,
            "sli" => Some((sli_only, &input)),
            "slo" => Some((slo, &tagged)),
            "sli_then_slo" => Some((sli_then_slo, &input)),
            _ => {
                let (_, factory, yaml) = SINGLE.iter().find(|(name, _, _)| *name == case).expect("a known case");
                Some((build(factory, yaml, Arc::new(Sink), &service), &input))
            }
        };
        match processor {
            None => (0..n).for_each(|_| drop(input.clone())),
            Some((processor, data)) => {
                runtime.block_on(processor.start()).expect("start");
                for _ in 0..n {
                    runtime.block_on(processor.consume(data.clone())).expect("consume");
                }
                runtime.block_on(processor.shutdown());
            }
        }
        return;
    }
    let mut group = c.benchmark_group("per_request_of_100_spans");
    group.throughput(Throughput::Elements(100));
    // What every routine below also pays: dropping the request it was handed.
    group.bench_function("drop_only_baseline", |b| {
        b.iter_batched(|| input.clone(), drop, BatchSize::SmallInput)
    });
    let mut cases: Vec<(String, Arc<dyn Processor>, &Telemetry)> = vec![
        ("sli".into(), sli_only, &input),
        ("slo".into(), slo, &tagged),
        ("sli_then_slo".into(), sli_then_slo, &input),
    ];
    for (name, factory, yaml) in SINGLE {
        if registry::find(sloop::components::PROCESSORS, factory).is_some() {
            cases.push((name.to_string(), build(factory, yaml, Arc::new(Sink), &service), &input));
        }
    }
    for (name, processor, data) in &cases {
        // Processors with timers (batch, tail_sampling) run theirs in this runtime.
        runtime.block_on(processor.start()).expect("start");
        group.bench_function(name.as_str(), |b| {
            b.iter_batched(
                || (*data).clone(),
                |d| runtime.block_on(processor.consume(d)).expect("consume"),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
    for (_, processor, _) in &cases {
        runtime.block_on(processor.shutdown());
    }
}

#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<Telemetry>>);

impl Consumer for Recorder {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        self.0.lock().expect("lock").push(data);
        Box::pin(async { Ok(()) })
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
