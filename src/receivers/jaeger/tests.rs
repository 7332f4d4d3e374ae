//! Decoding both Thrift protocols and protobuf, the translation rules, and hostile
//! input. Thrift inputs are written with the `thrift` crate's output protocols, an
//! encoder independent of the hand-written struct readers under test.

use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use rand::{Rng, SeedableRng};
use thrift::protocol::{
    TBinaryOutputProtocol, TCompactOutputProtocol, TFieldIdentifier, TListIdentifier, TMessageIdentifier, TMessageType,
    TOutputProtocol, TStructIdentifier, TType,
};

use super::model::{self, Batch, Tag, TagValue};
use super::proto::{
    self, KeyValue as JKeyValue, PostSpansRequest, ProtoBatch, ProtoProcess, ProtoSpan, ProtoSpanRef, Timestamp,
};
use super::thrift::{decode_batch, decode_emit_batch, Protocol};
use super::translate;

// --- a small Thrift writer over the crate's output protocols ---------------------

enum V {
    I32(i32),
    I64(i64),
    Str(&'static str),
    Double(f64),
    Bool(bool),
    Struct(Vec<(i16, V)>),
    List(Vec<V>),
}

fn write(p: &mut dyn TOutputProtocol, v: &V) {
    let ok = match v {
        V::I32(i) => p.write_i32(*i),
        V::I64(i) => p.write_i64(*i),
        V::Str(s) => p.write_string(s),
        V::Double(d) => p.write_double(*d),
        V::Bool(b) => p.write_bool(*b),
        V::Struct(fields) => {
            p.write_struct_begin(&TStructIdentifier::new("s")).unwrap();
            for (id, value) in fields {
                p.write_field_begin(&TFieldIdentifier::new("f", ttype(value), *id))
                    .unwrap();
                write(p, value);
                p.write_field_end().unwrap();
            }
            p.write_field_stop().unwrap();
            p.write_struct_end()
        }
        V::List(items) => {
            let element = items.first().map_or(TType::Struct, ttype);
            p.write_list_begin(&TListIdentifier::new(element, items.len() as i32))
                .unwrap();
            for item in items {
                write(p, item);
            }
            p.write_list_end()
        }
    };
    ok.unwrap();
}

fn ttype(v: &V) -> TType {
    match v {
        V::I32(_) => TType::I32,
        V::I64(_) => TType::I64,
        V::Str(_) => TType::String,
        V::Double(_) => TType::Double,
        V::Bool(_) => TType::Bool,
        V::Struct(_) => TType::Struct,
        V::List(_) => TType::List,
    }
}

fn tag_str(key: &'static str, value: &'static str) -> V {
    V::Struct(vec![(1, V::Str(key)), (2, V::I32(0)), (3, V::Str(value))])
}

const TRACE_HIGH: i64 = 0x0102_0304_0506_0708;
const TRACE_LOW: i64 = -0x1111_2222_3333_4445; // high bit set: the id is unsigned

/// A batch as the Python exporter sends it: a process with tags, a server span
/// with an error, scope tags, a log, and a FOLLOWS_FROM reference beside the parent.
fn sample_batch() -> V {
    V::Struct(vec![
        (
            1,
            V::Struct(vec![
                (1, V::Str("checkout")),
                (
                    2,
                    V::List(vec![
                        tag_str("hostname", "node-1"),
                        tag_str("jaeger.version", "Python-1.21"),
                        V::Struct(vec![(1, V::Str("pid")), (2, V::I32(3)), (6, V::I64(42))]),
                    ]),
                ),
            ]),
        ),
        (
            2,
            V::List(vec![V::Struct(vec![
                (1, V::I64(TRACE_LOW)),
                (2, V::I64(TRACE_HIGH)),
                (3, V::I64(0x0a0b)),
                (4, V::I64(0x0c0d)),
                (5, V::Str("GET /cart")),
                (
                    6,
                    V::List(vec![
                        V::Struct(vec![
                            (1, V::I32(0)),
                            (2, V::I64(TRACE_LOW)),
                            (3, V::I64(TRACE_HIGH)),
                            (4, V::I64(0x0c0d)),
                        ]),
                        V::Struct(vec![(1, V::I32(1)), (2, V::I64(7)), (3, V::I64(8)), (4, V::I64(9))]),
                    ]),
                ),
                (7, V::I32(1)),
                (8, V::I64(1_700_000_000_000_123)),
                (9, V::I64(2_500)),
                (
                    10,
                    V::List(vec![
                        tag_str("span.kind", "server"),
                        V::Struct(vec![(1, V::Str("error")), (2, V::I32(2)), (5, V::Bool(true))]),
                        tag_str("otel.status_description", "boom"),
                        tag_str("otel.library.name", "shop.web"),
                        tag_str("otel.library.version", "2.0"),
                        V::Struct(vec![(1, V::Str("ratio")), (2, V::I32(1)), (4, V::Double(0.5))]),
                        tag_str("http.method", "GET"),
                    ]),
                ),
                (
                    11,
                    V::List(vec![V::Struct(vec![
                        (1, V::I64(1_700_000_000_000_200)),
                        (2, V::List(vec![tag_str("event", "retry"), tag_str("attempt", "2")])),
                    ])]),
                ),
            ])]),
        ),
    ])
}

fn binary(v: &V) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut TBinaryOutputProtocol::new(&mut out, true), v);
    out
}

/// An agent datagram: `emitBatch(batch)` as a oneway call.
fn emit_batch(v: V, protocol: Protocol) -> Vec<u8> {
    let mut out = Vec::new();
    let args = V::Struct(vec![(1, v)]);
    let header = TMessageIdentifier::new("emitBatch", TMessageType::OneWay, 1);
    let write_call = |p: &mut dyn TOutputProtocol| {
        p.write_message_begin(&header).unwrap();
        write(p, &args);
        p.write_message_end().unwrap();
        p.flush().unwrap();
    };
    match protocol {
        Protocol::Compact => write_call(&mut TCompactOutputProtocol::new(&mut out)),
        Protocol::Binary => write_call(&mut TBinaryOutputProtocol::new(&mut out, true)),
    }
    out
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn s(v: &str) -> Option<&any_value::Value> {
    // Leaked once per assertion in tests only; keeps the comparisons short.
    Some(Box::leak(Box::new(any_value::Value::StringValue(v.into()))))
}

fn assert_sample_translated(batch: Batch) {
    let request = translate::batch(batch);
    assert_eq!(request.resource_spans.len(), 1);
    let rs = &request.resource_spans[0];
    let resource = &rs.resource.as_ref().unwrap().attributes;
    assert_eq!(attr(resource, "service.name"), s("checkout"));
    assert_eq!(attr(resource, "host.name"), s("node-1"), "hostname becomes host.name");
    assert_eq!(attr(resource, "hostname"), None);
    assert_eq!(attr(resource, "opencensus.exporterversion"), s("Jaeger-Python-1.21"));
    assert_eq!(attr(resource, "pid"), Some(&any_value::Value::IntValue(42)));
    assert_eq!(rs.scope_spans.len(), 1);
    let scope = rs.scope_spans[0].scope.as_ref().unwrap();
    assert_eq!((scope.name.as_str(), scope.version.as_str()), ("shop.web", "2.0"));
    let span = &rs.scope_spans[0].spans[0];
    let mut trace_id = TRACE_HIGH.to_be_bytes().to_vec();
    trace_id.extend_from_slice(&TRACE_LOW.to_be_bytes());
    assert_eq!(span.trace_id, trace_id, "high half first, both big-endian");
    assert_eq!(span.span_id, 0x0a0bu64.to_be_bytes());
    assert_eq!(span.parent_span_id, 0x0c0du64.to_be_bytes());
    assert_eq!(span.name, "GET /cart");
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_123_000);
    assert_eq!(span.end_time_unix_nano, 1_700_000_000_002_623_000);
    let status = span.status.as_ref().unwrap();
    assert_eq!(
        (status.code, status.message.as_str()),
        (StatusCode::Error as i32, "boom")
    );
    let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
    for gone in [
        "span.kind",
        "error",
        "otel.status_description",
        "otel.library.name",
        "otel.library.version",
    ] {
        assert!(!keys.contains(&gone), "{gone} is translated, not kept: {keys:?}");
    }
    assert_eq!(attr(&span.attributes, "http.method"), s("GET"));
    assert_eq!(
        attr(&span.attributes, "ratio"),
        Some(&any_value::Value::DoubleValue(0.5))
    );
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.events[0].name, "retry");
    assert_eq!(span.events[0].time_unix_nano, 1_700_000_000_000_200_000);
    assert_eq!(attr(&span.events[0].attributes, "attempt"), s("2"));
    assert_eq!(attr(&span.events[0].attributes, "event"), None);
    assert_eq!(span.links.len(), 1, "the parent reference is not a link");
    let link = &span.links[0];
    assert_eq!(link.span_id, 9u64.to_be_bytes());
    assert_eq!(&link.trace_id[..8], 8u64.to_be_bytes());
    assert_eq!(attr(&link.attributes, "opentracing.ref_type"), s("follows_from"));
}

#[test]
fn a_thrift_http_body_is_translated_by_the_collector_rules() {
    assert_sample_translated(decode_batch(&binary(&sample_batch())).unwrap());
}

#[test]
fn agent_datagrams_decode_in_both_protocols() {
    for protocol in [Protocol::Compact, Protocol::Binary] {
        let datagram = emit_batch(sample_batch(), protocol);
        assert_sample_translated(decode_emit_batch(&datagram, protocol).unwrap());
    }
}

#[test]
fn other_agent_methods_and_missing_fields_are_errors() {
    let mut out = Vec::new();
    {
        let mut p = TCompactOutputProtocol::new(&mut out);
        p.write_message_begin(&TMessageIdentifier::new("emitZipkinBatch", TMessageType::OneWay, 1))
            .unwrap();
        write(&mut p, &V::Struct(vec![]));
        p.write_message_end().unwrap();
    }
    let error = decode_emit_batch(&out, Protocol::Compact).unwrap_err().to_string();
    assert!(error.contains("emitZipkinBatch"), "{error}");
    // A Batch without spans (field 2 is required).
    let no_spans = V::Struct(vec![(1, V::Struct(vec![(1, V::Str("svc"))]))]);
    let error = decode_batch(&binary(&no_spans)).unwrap_err().to_string();
    assert!(error.contains("Batch: required field 2 is missing"), "{error}");
}

#[test]
fn status_falls_back_to_otel_status_code_then_http_status() {
    let span = |tags: Vec<Tag>| model::Span {
        trace_id_low: 1,
        span_id: 2,
        tags,
        ..Default::default()
    };
    let tag = |key: &str, value: TagValue| Tag { key: key.into(), value };
    let status_of = |tags| {
        let batch = Batch {
            process: None,
            spans: vec![span(tags)],
        };
        let request = translate::batch(batch);
        let span = request.resource_spans[0].scope_spans[0].spans[0].clone();
        span.status.map(|s| (s.code, s.message))
    };
    let ok = status_of(vec![
        tag("otel.status_code", TagValue::Str("ok".into())),
        tag("otel.status_description", TagValue::Str("fine".into())),
    ]);
    assert_eq!(ok, Some((StatusCode::Ok as i32, "fine".into())));
    // error: true wins over otel.status_code.
    let error = status_of(vec![
        tag("error", TagValue::Bool(true)),
        tag("otel.status_code", TagValue::Str("OK".into())),
    ]);
    assert_eq!(error, Some((StatusCode::Error as i32, String::new())));
    // A 404 is an error for a client, not for a server.
    let client_404 = status_of(vec![
        tag("span.kind", TagValue::Str("client".into())),
        tag("http.status_code", TagValue::Long(404)),
    ]);
    assert_eq!(client_404, Some((StatusCode::Error as i32, String::new())));
    let server_404 = status_of(vec![
        tag("span.kind", TagValue::Str("server".into())),
        tag("http.status_code", TagValue::Str("404".into())),
    ]);
    assert_eq!(server_404, None);
    let server_503 = status_of(vec![tag("http.status_code", TagValue::Long(503))]);
    assert_eq!(server_503, Some((StatusCode::Error as i32, String::new())));
    // error: false is an attribute, not a status.
    assert_eq!(status_of(vec![tag("error", TagValue::Bool(false))]), None);
}

fn proto_span(span_id: u8, process: Option<ProtoProcess>) -> ProtoSpan {
    ProtoSpan {
        trace_id: (1..=16).collect(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, span_id],
        operation_name: format!("op{span_id}"),
        references: vec![ProtoSpanRef {
            trace_id: (1..=16).collect(),
            span_id: vec![0, 0, 0, 0, 0, 0, 0, 0x77],
            ref_type: 0,
        }],
        start_time: Some(Timestamp {
            seconds: 1_700_000_000,
            nanos: 5_000,
        }),
        duration: Some(Timestamp { seconds: 1, nanos: 0 }),
        tags: vec![JKeyValue {
            key: "w3c.tracestate".into(),
            v_str: "ot=th:8".into(),
            ..Default::default()
        }],
        process,
        ..Default::default()
    }
}

#[test]
fn protobuf_batches_are_regrouped_by_span_process() {
    let process = |name: &str| ProtoProcess {
        service_name: name.into(),
        tags: vec![],
    };
    let request = PostSpansRequest {
        batch: Some(ProtoBatch {
            spans: vec![
                proto_span(1, None),
                proto_span(2, Some(process("other"))),
                proto_span(3, None),
            ],
            process: Some(process("main")),
        }),
    };
    let decoded = PostSpansRequest::decode(&request.encode_to_vec()[..]).unwrap();
    let out = translate::batch(proto::to_model(decoded).unwrap());
    let services: Vec<_> = out
        .resource_spans
        .iter()
        .map(|rs| {
            let names: Vec<_> = rs.scope_spans[0].spans.iter().map(|s| s.name.clone()).collect();
            (
                attr(&rs.resource.as_ref().unwrap().attributes, "service.name").cloned(),
                names,
            )
        })
        .collect();
    assert_eq!(
        services,
        vec![
            (s("main").cloned(), vec!["op1".to_string(), "op3".to_string()]),
            (s("other").cloned(), vec!["op2".to_string()]),
        ]
    );
    let span = &out.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.trace_id, (1..=16).collect::<Vec<u8>>());
    assert_eq!(
        span.parent_span_id,
        0x77u64.to_be_bytes(),
        "first CHILD_OF in the same trace"
    );
    assert!(span.links.is_empty());
    assert_eq!(span.trace_state, "ot=th:8");
    assert!(span.attributes.is_empty());
    assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_005_000);
    assert_eq!(span.end_time_unix_nano, 1_700_000_001_000_005_000);
}

#[test]
fn protobuf_ids_of_the_wrong_length_are_errors() {
    let mut span = proto_span(1, None);
    span.trace_id = vec![1, 2, 3];
    let request = PostSpansRequest {
        batch: Some(ProtoBatch {
            spans: vec![span],
            process: None,
        }),
    };
    let error = proto::to_model(request).unwrap_err().to_string();
    assert_eq!(error, "span 0: trace_id must be 16 bytes, not 3");
}

/// A few hundred random inputs, and every truncation of a valid one, per decoder:
/// an error, never a panic or a huge allocation.
#[test]
fn random_and_truncated_input_is_an_error_not_a_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x1a6e5);
    let valid_compact = emit_batch(sample_batch(), Protocol::Compact);
    let valid_binary = emit_batch(sample_batch(), Protocol::Binary);
    let valid_body = binary(&sample_batch());
    for _ in 0..400 {
        let len = rng.random_range(0..200);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        assert!(decode_batch(&bytes).is_err());
        assert!(decode_emit_batch(&bytes, Protocol::Compact).is_err());
        assert!(decode_emit_batch(&bytes, Protocol::Binary).is_err());
        // Random bytes are often valid protobuf; what matters is no panic.
        if let Ok(request) = PostSpansRequest::decode(&bytes[..]) {
            let _ = proto::to_model(request).map(translate::batch);
        }
        // Valid inputs with a few bytes flipped: decoded or refused, never a panic.
        for valid in [&valid_compact, &valid_binary, &valid_body] {
            bytes.clone_from(valid);
            for _ in 0..3 {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
            let _ = decode_emit_batch(&bytes, Protocol::Compact).map(translate::batch);
            let _ = decode_emit_batch(&bytes, Protocol::Binary).map(translate::batch);
            let _ = decode_batch(&bytes).map(translate::batch);
        }
    }
    for cut in 0..valid_compact.len() {
        assert!(decode_emit_batch(&valid_compact[..cut], Protocol::Compact).is_err());
    }
    for cut in 0..valid_body.len() {
        assert!(decode_batch(&valid_body[..cut]).is_err());
    }
}

#[test]
fn a_size_claim_beyond_the_input_is_refused_without_allocating_it() {
    // emitBatch, then a Batch whose field 1 is a Process whose serviceName claims
    // 2 GiB: compact protocol, field header 0x18 (delta 1, binary), varint length.
    let mut datagram = emit_batch(V::Struct(vec![]), Protocol::Compact);
    datagram.truncate(datagram.len() - 2); // drop the empty batch's stop and the args' stop
    datagram.extend_from_slice(&[0x1c, 0x18, 0x80, 0x80, 0x80, 0x80, 0x08]);
    let error = decode_emit_batch(&datagram, Protocol::Compact).unwrap_err().to_string();
    assert!(error.contains("too long") || error.contains("exceeds"), "{error}");
    // Binary protocol: a list claiming 2^31-1 spans.
    let mut body = vec![0x0c, 0x00, 0x01, 0x0b, 0x00, 0x01, 0, 0, 0, 1, b's', 0x00];
    body.extend_from_slice(&[0x0f, 0x00, 0x02, 0x0c, 0x7f, 0xff, 0xff, 0xff]);
    assert!(decode_batch(&body).is_err());
}

/// The UDP server end to end, on the binary port (the integration test covers the
/// compact one): a malformed datagram is dropped, the next one still arrives, and
/// after shutdown the port is free again.
#[tokio::test]
async fn the_binary_agent_port_serves_datagrams_and_releases_its_port() {
    use std::sync::Arc;
    use std::time::Duration;

    use figment::providers::Format;

    use crate::component::{Consumer, ReceiverOutputs};
    use crate::confmap::RawValue;
    use crate::testing::Recorder;

    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = format!("protocols:\n  thrift_binary:\n    endpoint: 127.0.0.1:{port}\n    workers: 1\n");
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(&yaml))
        .extract()
        .unwrap();
    let config = (super::FACTORY.parse)(&RawValue::from(dict)).unwrap();
    let recorder = Recorder::new();
    let outputs = ReceiverOutputs {
        traces: Some(recorder.clone() as Arc<dyn Consumer>),
        ..Default::default()
    };
    let authenticators = crate::component::Authenticators::default();
    let (storage, service) = (Default::default(), Default::default());
    let ctx = crate::component::ReceiverContext {
        authenticators: &authenticators,
        storage: &storage,
        service: &service,
    };
    let id = crate::component::ComponentId::parse("jaeger").unwrap();
    for _round in 0..2 {
        let receiver = config.build(&id, outputs.clone(), &ctx).unwrap();
        receiver.start().await.unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = recorder.batch_sizes().len();
        client.send_to(b"\x80\x01\x00\x04garbage", ("127.0.0.1", port)).unwrap();
        client
            .send_to(&emit_batch(sample_batch(), Protocol::Binary), ("127.0.0.1", port))
            .unwrap();
        let mut waited = 0;
        while recorder.batch_sizes().len() == before {
            assert!(waited < 200, "the datagram did not reach the pipeline");
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += 1;
        }
        assert_eq!(recorder.batch_sizes()[before..], [1]);
        receiver.shutdown().await;
    }
}
