use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span;
use rand::{Rng, SeedableRng};

use super::model::proto;
use super::server::{decode, Format};
use super::*;

fn v2(json: &str) -> Result<ExportTraceServiceRequest, String> {
    decode(Format::V2Json, json.as_bytes(), false)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn str_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attribute(attributes, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn only_span(request: &ExportTraceServiceRequest) -> &Span {
    assert_eq!(request.resource_spans.len(), 1, "{request:?}");
    assert_eq!(request.resource_spans[0].scope_spans.len(), 1, "{request:?}");
    let spans = &request.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 1, "{request:?}");
    &spans[0]
}

const FULL_SPAN: &str = r#"[{
    "traceId": "5af7183fb1d4cf5f",
    "parentId": "6b221d5bc9e6496c",
    "id": "352bff9a74ca9ad2",
    "kind": "CLIENT",
    "name": "get /api",
    "timestamp": 1556604172355737,
    "duration": 1431,
    "debug": true,
    "shared": false,
    "localEndpoint": {"serviceName": "frontend", "ipv4": "192.168.99.1", "port": 8080},
    "remoteEndpoint": {"serviceName": "backend", "ipv6": "2001:db8::c001", "port": 9000},
    "annotations": [{"timestamp": 1556604172355800, "value": "retry"}],
    "tags": {
        "http.method": "GET",
        "error": "timeout",
        "telemetry.sdk.language": "python",
        "otel.scope.name": "checkout",
        "otel.scope.version": "1.2",
        "otel.library.name": "checkout",
        "w3c.tracestate": "ot=th:8",
        "attempt": "2",
        "nothing": null
    }
}]"#;

#[test]
fn a_v2_span_translates_by_the_collectors_rules() {
    let request = v2(FULL_SPAN).unwrap();
    let resource = request.resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(str_attribute(&resource.attributes, "service.name"), Some("frontend"));
    assert_eq!(
        str_attribute(&resource.attributes, "telemetry.sdk.language"),
        Some("python"),
        "resource tags go to the resource"
    );
    let scope = request.resource_spans[0].scope_spans[0].scope.as_ref().unwrap();
    assert_eq!((scope.name.as_str(), scope.version.as_str()), ("checkout", "1.2"));

    let span = only_span(&request);
    // A 64-bit trace ID is the low half.
    assert_eq!(hex::encode(&span.trace_id), "00000000000000005af7183fb1d4cf5f");
    assert_eq!(hex::encode(&span.span_id), "352bff9a74ca9ad2");
    assert_eq!(hex::encode(&span.parent_span_id), "6b221d5bc9e6496c");
    assert_eq!(span.name, "get /api");
    assert_eq!(span.kind, SpanKind::Client as i32);
    assert_eq!(span.trace_state, "ot=th:8");
    assert_eq!(span.start_time_unix_nano, 1_556_604_172_355_737_000);
    assert_eq!(span.end_time_unix_nano, 1_556_604_172_355_737_000 + 1_431_000);
    // `error` with a value other than "true" makes it ERROR and stays an attribute.
    let status = span.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(str_attribute(&span.attributes, "error"), Some("timeout"));
    assert_eq!(str_attribute(&span.attributes, "http.method"), Some("GET"));
    assert_eq!(
        str_attribute(&span.attributes, "attempt"),
        Some("2"),
        "strings unless parse_string_tags"
    );
    assert_eq!(str_attribute(&span.attributes, "nothing"), Some(""));
    assert_eq!(
        str_attribute(&span.attributes, "network.local.address"),
        Some("192.168.99.1")
    );
    assert_eq!(
        attribute(&span.attributes, "net.host.port"),
        Some(&Value::IntValue(8080))
    );
    assert_eq!(str_attribute(&span.attributes, "service.peer.name"), Some("backend"));
    assert_eq!(
        str_attribute(&span.attributes, "network.peer.address"),
        Some("2001:db8::c001")
    );
    assert_eq!(
        attribute(&span.attributes, "net.peer.port"),
        Some(&Value::IntValue(9000))
    );
    for moved in [
        "telemetry.sdk.language",
        "otel.scope.name",
        "otel.library.name",
        "w3c.tracestate",
    ] {
        assert_eq!(
            attribute(&span.attributes, moved),
            None,
            "{moved} is not a span attribute"
        );
    }
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.events[0].name, "retry");
    assert_eq!(span.events[0].time_unix_nano, 1_556_604_172_355_800_000);
}

/// A scope's name and the names of its spans.
type ScopeGroup = (String, Vec<String>);

#[test]
fn spans_are_grouped_by_service_then_scope() {
    let span = |service: &str, scope: &str, id: u8| {
        format!(
            r#"{{"traceId": "0af7651916cd43dd8448eb211c80319c", "id": "00000000000000{id:02x}", "name": "s{id}",
               "timestamp": 1, "localEndpoint": {{"serviceName": "{service}"}},
               "tags": {{"otel.scope.name": "{scope}"}}}}"#
        )
    };
    let body = format!(
        "[{}, {}, {}, {}]",
        span("b", "x", 1),
        span("a", "y", 2),
        span("b", "x", 3),
        span("b", "z", 4)
    );
    let request = v2(&body).unwrap();
    let shape: Vec<(String, Vec<ScopeGroup>)> = request
        .resource_spans
        .iter()
        .map(|rs| {
            let service = str_attribute(&rs.resource.as_ref().unwrap().attributes, "service.name")
                .unwrap()
                .to_owned();
            let scopes = rs
                .scope_spans
                .iter()
                .map(|ss| {
                    (
                        ss.scope.as_ref().unwrap().name.clone(),
                        ss.spans.iter().map(|s| s.name.clone()).collect(),
                    )
                })
                .collect();
            (service, scopes)
        })
        .collect();
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        shape,
        vec![
            ("a".into(), vec![("y".into(), names(&["s2"]))]),
            (
                "b".into(),
                vec![("x".into(), names(&["s1", "s3"])), ("z".into(), names(&["s4"]))]
            ),
        ]
    );
}

#[test]
fn status_follows_otel_status_code_then_the_error_tag() {
    let status_of = |tags: &str| {
        let body = format!(r#"[{{"traceId": "1", "id": "2", "tags": {tags}}}]"#);
        let request = v2(&body).unwrap();
        let span = only_span(&request).clone();
        let status = span.status.clone().unwrap_or_default();
        (status.code, status.message, span.attributes)
    };
    let (code, message, _) =
        status_of(r#"{"otel.status_code": "STATUS_CODE_ERROR", "otel.status_description": "boom"}"#);
    assert_eq!((code, message.as_str()), (StatusCode::Error as i32, "boom"));
    assert_eq!(status_of(r#"{"otel.status_code": "Ok"}"#).0, StatusCode::Ok as i32);
    // Case-sensitive, as the Collector's lookup.
    assert_eq!(status_of(r#"{"otel.status_code": "OK"}"#).0, StatusCode::Unset as i32);
    let (code, _, attributes) = status_of(r#"{"error": "true"}"#);
    assert_eq!(code, StatusCode::Error as i32);
    assert_eq!(attribute(&attributes, "error"), None, "error=true is consumed");
    let (code, _, attributes) = status_of(r#"{"otel.status_code": "ERROR", "error": ""}"#);
    assert_eq!(
        code,
        StatusCode::Error as i32,
        "the error tag decides, as the Python SDK sends it"
    );
    assert_eq!(str_attribute(&attributes, "error"), Some(""));
    assert_eq!(attribute(&attributes, "otel.status_code"), None);
}

#[test]
fn kind_absent_start_and_typed_tags() {
    let body = r#"[{"traceId": "1", "id": "2", "duration": 5, "kind": null,
        "tags": {"span.kind": "internal", "i": "-42", "f": "1.5", "b": "true", "s": "1.5.6", "big": "99999999999999999999"}}]"#;
    let request = decode(Format::V2Json, body.as_bytes(), true).unwrap();
    let span = only_span(&request);
    assert_eq!(span.kind, SpanKind::Internal as i32);
    assert_eq!(attribute(&span.attributes, "span.kind"), None);
    assert_eq!((span.start_time_unix_nano, span.end_time_unix_nano), (0, 5_000));
    assert_eq!(
        attribute(&span.attributes, "otel.zipkin.absentField.startTime"),
        Some(&Value::BoolValue(true))
    );
    assert_eq!(attribute(&span.attributes, "i"), Some(&Value::IntValue(-42)));
    assert_eq!(attribute(&span.attributes, "f"), Some(&Value::DoubleValue(1.5)));
    assert_eq!(attribute(&span.attributes, "b"), Some(&Value::BoolValue(true)));
    assert_eq!(str_attribute(&span.attributes, "s"), Some("1.5.6"));
    assert_eq!(attribute(&span.attributes, "big"), Some(&Value::IntValue(i64::MAX)));
    // Without a local service, no resource attributes at all.
    assert!(request.resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .is_empty());
}

#[test]
fn annotations_and_link_tags_carry_attributes() {
    let body = r#"[{"traceId": "1", "id": "2", "timestamp": 10,
        "annotations": [{"timestamp": 11, "value": "cache miss|{\"key\":\"a|b\",\"n\":3,\"x\":0.5,\"ok\":false,\"skip\":[1]}|2"}],
        "tags": {"otlp.link.0": "0af7651916cd43dd8448eb211c80319c|b7ad6b7169203331|k=v|{\"peer\":\"p\"}|1"}}]"#;
    let request = v2(body).unwrap();
    let span = only_span(&request);
    let event = &span.events[0];
    assert_eq!(event.name, "cache miss");
    assert_eq!(event.dropped_attributes_count, 2);
    assert_eq!(str_attribute(&event.attributes, "key"), Some("a|b"));
    assert_eq!(attribute(&event.attributes, "n"), Some(&Value::IntValue(3)));
    assert_eq!(attribute(&event.attributes, "x"), Some(&Value::DoubleValue(0.5)));
    assert_eq!(attribute(&event.attributes, "ok"), Some(&Value::BoolValue(false)));
    assert_eq!(attribute(&event.attributes, "skip"), None);
    let link = &span.links[0];
    assert_eq!(hex::encode(&link.trace_id), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(hex::encode(&link.span_id), "b7ad6b7169203331");
    assert_eq!(link.trace_state, "k=v");
    assert_eq!(str_attribute(&link.attributes, "peer"), Some("p"));
    assert_eq!(link.dropped_attributes_count, 1);
    assert_eq!(attribute(&span.attributes, "otlp.link.0"), None);
}

#[test]
fn protobuf_translates_like_json() {
    let list = proto::ListOfSpans {
        spans: vec![proto::Span {
            trace_id: hex::decode("5af7183fb1d4cf5f").unwrap(),
            parent_id: hex::decode("6b221d5bc9e6496c").unwrap(),
            id: hex::decode("352bff9a74ca9ad2").unwrap(),
            kind: 1,
            name: "get /api".into(),
            timestamp: 1_556_604_172_355_737,
            duration: 1431,
            local_endpoint: Some(proto::Endpoint {
                service_name: "frontend".into(),
                ipv4: vec![192, 168, 99, 1],
                port: 8080,
                ..Default::default()
            }),
            remote_endpoint: Some(proto::Endpoint {
                service_name: "backend".into(),
                ipv6: "2001:db8::c001"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets()
                    .to_vec(),
                port: 9000,
                ..Default::default()
            }),
            annotations: vec![proto::Annotation {
                timestamp: 1_556_604_172_355_800,
                value: "retry".into(),
            }],
            tags: [
                ("http.method", "GET"),
                ("error", "timeout"),
                ("telemetry.sdk.language", "python"),
                ("otel.scope.name", "checkout"),
                ("otel.scope.version", "1.2"),
                ("otel.library.name", "checkout"),
                ("w3c.tracestate", "ot=th:8"),
                ("attempt", "2"),
                ("nothing", ""),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            debug: true,
            shared: false,
        }],
    };
    let body = prost::Message::encode_to_vec(&list);
    assert_eq!(decode(Format::V2Proto, &body, false).unwrap(), v2(FULL_SPAN).unwrap());
}

#[test]
fn a_v1_span_translates_by_the_collectors_v1_rules() {
    let body = r#"[{
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "id": "b7ad6b7169203331",
        "parentId": "00f067aa0ba902b7",
        "name": "get",
        "annotations": [
            {"timestamp": 1000, "value": "cs", "endpoint": {"serviceName": "web", "ipv4": "10.0.0.1", "port": 80}},
            {"timestamp": 1500, "value": "cache miss", "endpoint": {"serviceName": "web", "ipv4": "10.0.0.1", "port": 80}},
            {"timestamp": 3000, "value": "cr", "endpoint": {"serviceName": "web", "ipv4": "10.0.0.1", "port": 80}}
        ],
        "binaryAnnotations": [
            {"key": "http.status_code", "value": "503"},
            {"key": "lc", "value": "http-client"}
        ]
    }, {
        "traceId": "0af7651916cd43dd",
        "id": "b7ad6b7169203332",
        "name": "job",
        "timestamp": 5000,
        "duration": 20,
        "binaryAnnotations": [{"key": "otel.status_code", "value": "1"}, {"key": "lc", "value": "worker"}]
    }]"#;
    let request = decode(Format::V1Json, body.as_bytes(), false).unwrap();
    assert_eq!(request.resource_spans.len(), 2);
    let web = &request.resource_spans[0];
    let attributes = &web.resource.as_ref().unwrap().attributes;
    assert_eq!(str_attribute(attributes, "service.name"), Some("web"));
    assert_eq!(str_attribute(attributes, "ipv4"), Some("10.0.0.1"));
    assert_eq!(str_attribute(attributes, "port"), Some("80"));
    let span = &web.scope_spans[0].spans[0];
    assert_eq!(hex::encode(&span.trace_id), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(hex::encode(&span.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(span.kind, SpanKind::Client as i32);
    assert_eq!(
        (span.start_time_unix_nano, span.end_time_unix_nano),
        (1_000_000, 3_000_000)
    );
    assert_eq!(span.events.len(), 1, "cs and cr say the kind, they are not events");
    assert_eq!(span.events[0].name, "cache miss");
    assert_eq!(str_attribute(&span.attributes, "http.status_code"), Some("503"));
    assert_eq!(str_attribute(&span.attributes, "component"), Some("http-client"));
    assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Error as i32);

    // No endpoint anywhere: the local component names the service.
    let worker = &request.resource_spans[1];
    let attributes = &worker.resource.as_ref().unwrap().attributes;
    assert_eq!(str_attribute(attributes, "service.name"), Some("worker"));
    let span = &worker.scope_spans[0].spans[0];
    assert_eq!(hex::encode(&span.trace_id), "00000000000000000af7651916cd43dd");
    assert_eq!(
        (span.start_time_unix_nano, span.end_time_unix_nano),
        (5_000_000, 5_020_000)
    );
    assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Ok as i32);
    assert_eq!(attribute(&span.attributes, "otel.status_code"), None);
}

#[test]
fn malformed_bodies_say_what_and_where() {
    let cases: &[(Format, &[u8], &str)] = &[
        (Format::V2Json, b"{", "invalid Zipkin v2 JSON body"),
        (Format::V2Json, b"{}", "invalid Zipkin v2 JSON body"),
        (
            Format::V2Json,
            br#"[{"id": "1"}]"#,
            "span 0: traceId \"\" is not 1 to 32 hex digits",
        ),
        (
            Format::V2Json,
            br#"[{"traceId": "1", "id": "1"}, {"traceId": "0", "id": "1"}]"#,
            "span 1: traceId is zero",
        ),
        (
            Format::V2Json,
            br#"[{"traceId": "1", "id": "0"}]"#,
            "span 0: id is zero",
        ),
        (
            Format::V2Json,
            br#"[{"traceId": "x1", "id": "1"}]"#,
            "traceId \"x1\" is not",
        ),
        (
            Format::V2Json,
            br#"[{"traceId": "-1", "id": "1"}]"#,
            "traceId \"-1\" is not",
        ),
        (
            Format::V2Json,
            br#"[{"traceId": "1", "id": "11112222333344445"}]"#,
            "id \"11112222333344445\" is not 1 to 16",
        ),
        (
            Format::V2Json,
            br#"[{"traceId": "1", "id": "1", "tags": {"a": 1}}]"#,
            "invalid Zipkin v2 JSON body",
        ),
        (
            Format::V2Json,
            br#"[{"traceId": "1", "id": "1", "timestamp": -5}]"#,
            "invalid Zipkin v2 JSON body",
        ),
        (
            Format::V2Json,
            br#"[{"traceId": "1", "id": "1", "annotations": [{"timestamp": 1, "value": "a|not json|1"}]}]"#,
            "span 0: annotation 0: attributes are not a JSON object",
        ),
        (
            Format::V2Json,
            br#"[{"traceId": "1", "id": "1", "tags": {"otlp.link.0": "abc|b7ad6b7169203331||{}|0"}}]"#,
            "span 0: tag otlp.link.0: ID \"abc\" is not 32 hex digits",
        ),
        (
            Format::V2Proto,
            b"\x0a\x03\x0a\x01\x01",
            "span 0: trace_id has 1 bytes, not 8 or 16",
        ),
        (Format::V2Proto, b"\xff\xff", "invalid Zipkin v2 protobuf body"),
        (
            Format::V1Json,
            br#"[{"traceId": "123", "id": "b7ad6b7169203331"}]"#,
            "span 0: traceId has 3 hex digits",
        ),
        (
            Format::V1Json,
            br#"[{"traceId": "0af7651916cd43dd", "id": "b7ad"}]"#,
            "span 0: id has 4 hex digits",
        ),
        (
            Format::V1Json,
            br#"[{"traceId": "0af7651916cd43dd", "id": "zzzzzzzzzzzzzzzz"}]"#,
            "span 0: id \"zzzzzzzzzzzzzzzz\"",
        ),
        (Format::V1Json, b"[1]", "invalid Zipkin v1 JSON body"),
    ];
    for (format, body, expected) in cases {
        let error = decode(*format, body, false).expect_err(&String::from_utf8_lossy(body));
        assert!(
            error.contains(expected),
            "{format:?} {:?}: {error}",
            String::from_utf8_lossy(body)
        );
    }
}

/// Random bytes, and valid bodies cut short or with bytes changed, never panic;
/// JSON that is not a whole array is refused.
#[test]
fn garbage_is_refused_without_a_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let valid_proto = {
        let request = v2(FULL_SPAN).unwrap();
        assert_eq!(request.resource_spans.len(), 1);
        let list = proto::ListOfSpans {
            spans: vec![proto::Span {
                trace_id: vec![1; 16],
                id: vec![2; 8],
                name: "x".into(),
                local_endpoint: Some(proto::Endpoint {
                    service_name: "s".into(),
                    ipv4: vec![1, 2, 3, 4],
                    ..Default::default()
                }),
                annotations: vec![proto::Annotation {
                    timestamp: 1,
                    value: "e|{}|0".into(),
                }],
                ..Default::default()
            }],
        };
        prost::Message::encode_to_vec(&list)
    };
    let seeds: [(Format, &[u8]); 3] = [
        (Format::V2Json, FULL_SPAN.as_bytes()),
        (Format::V2Proto, &valid_proto),
        (
            Format::V1Json,
            br#"[{"traceId": "0af7651916cd43dd", "id": "b7ad6b7169203331", "annotations": [{"timestamp": 1, "value": "sr", "endpoint": {"serviceName": "a"}}], "binaryAnnotations": [{"key": "error", "value": "x"}]}]"#,
        ),
    ];
    for (format, seed) in seeds {
        assert!(decode(format, seed, true).is_ok(), "{format:?} seed decodes");
        for round in 0..300 {
            let body: Vec<u8> = match round % 3 {
                0 => (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
                1 => seed[..rng.random_range(0..seed.len())].to_vec(),
                _ => {
                    let mut body = seed.to_vec();
                    for _ in 0..rng.random_range(1..4) {
                        let at = rng.random_range(0..body.len());
                        body[at] = rng.random();
                    }
                    body
                }
            };
            let outcome = decode(format, &body, rng.random());
            let truncated_json = round % 3 == 1 && format != Format::V2Proto;
            if truncated_json || (format != Format::V2Proto && body.first() != Some(&b'[')) {
                assert!(
                    outcome.is_err(),
                    "{format:?} {:?} decoded",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }
}

fn parse(yaml: &str) -> Result<ZipkinReceiverConfig, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(
        <serde_saphyr::figment::Yaml as figment::providers::Format>::string(yaml),
    )
    .extract()
    .expect("test YAML is a mapping");
    parse_block::<ZipkinReceiverConfig>(&RawValue::from(dict))
}

#[test]
fn config_has_the_collectors_keys_and_defaults() {
    let config = parse("{}").unwrap();
    assert_eq!(config.endpoint, "localhost:9411");
    assert!(!config.parse_string_tags);
    assert_eq!(config.max_request_body_size, 20 * 1024 * 1024);
    let config = parse("{endpoint: 0.0.0.0:9412, parse_string_tags: true, include_metadata: true}").unwrap();
    assert_eq!(config.endpoint, "0.0.0.0:9412");
    assert!(config.parse_string_tags && config.include_metadata);

    let messages = |yaml: &str| -> Vec<String> { parse(yaml).unwrap_err().iter().map(ToString::to_string).collect() };
    let errors = messages("{endpoint: nohost, read_header_timeout: 0s, max_connections: 0}");
    for expected in [
        "endpoint",
        "read_header_timeout: must be greater than 0",
        "max_connections",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "{expected} in {errors:?}"
        );
    }
    let errors = messages("{read_timeout: 5s}");
    assert!(errors.iter().any(|e| e.contains("read_timeout")), "{errors:?}");
}

#[test]
fn the_content_type_picks_the_format_as_the_collector_does() {
    use super::server::Api;
    use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
    let format = |api, content_type: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        Format::of(api, &headers).map_err(|refusal| refusal.status)
    };
    assert_eq!(format(Api::V2, "application/x-protobuf"), Ok(Format::V2Proto));
    assert_eq!(format(Api::V2, "application/json; charset=utf-8"), Ok(Format::V2Json));
    // Anything else is JSON, as in the Collector.
    assert_eq!(format(Api::V2, "text/plain"), Ok(Format::V2Json));
    assert_eq!(format(Api::V1, "application/json"), Ok(Format::V1Json));
    assert_eq!(
        format(Api::V1, "application/x-thrift"),
        Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
    );
}
