//! Per-span cost of evaluating parsed conditions.
//!
//! `cargo bench --bench ottl` for numbers; `cargo bench --bench ottl -- --test` runs each
//! benchmark once as a smoke test.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span, Status};
use sloop::ottl::{Condition, Context, SpanView};

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// A typical HTTP server span with ten attributes; the status code is the ninth.
fn http_span() -> Span {
    let s = |v: &str| Value::StringValue(v.to_string());
    Span {
        name: "GET /".into(),
        kind: SpanKind::Server as i32,
        status: Some(Status {
            code: StatusCode::Unset as i32,
            message: String::new(),
        }),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_120_000_000,
        trace_id: vec![0x4b; 16],
        span_id: vec![0x0f; 8],
        attributes: vec![
            kv("http.request.method", s("GET")),
            kv("url.scheme", s("https")),
            kv("url.path", s("/")),
            kv("server.address", s("shop.example.com")),
            kv("server.port", Value::IntValue(443)),
            kv("network.protocol.version", s("1.1")),
            kv("client.address", s("203.0.113.7")),
            kv(
                "user_agent.original",
                s("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"),
            ),
            kv("http.response.status_code", Value::IntValue(200)),
            kv("http.route", s("/")),
        ],
        ..Default::default()
    }
}

fn bench_conditions(c: &mut Criterion) {
    let span = http_span();
    let resource = Resource {
        attributes: vec![kv("service.name", Value::StringValue("frontend".into()))],
        ..Default::default()
    };
    let scope = InstrumentationScope {
        name: "io.opentelemetry.http".into(),
        ..Default::default()
    };
    let view = SpanView {
        span: &span,
        resource: Some(&resource),
        scope: Some(&scope),
    };

    let cases = [
        ("name_eq", r#"name == "GET /""#),
        (
            "homepage_sli",
            r#"name == "GET /" and attributes["http.response.status_code"] == 200 and duration < 300ms"#,
        ),
        (
            "is_match_bot",
            r#"not IsMatch(attributes["user_agent.original"], ".*(bot|crawler|spider).*")"#,
        ),
    ];
    let mut group = c.benchmark_group("ottl_eval_span");
    for (id, text) in cases {
        let condition = Condition::parse(text, Context::Span).expect("benchmark condition parses");
        assert!(condition.eval_span(&view), "{text} should match the benchmark span");
        group.bench_function(id, |b| b.iter(|| black_box(&condition).eval_span(black_box(&view))));
    }
    group.finish();
}

criterion_group!(benches, bench_conditions);
criterion_main!(benches);
