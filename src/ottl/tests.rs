use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span, Status};
use proptest::prelude::*;

use super::*;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.to_string())
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

/// Spans, logs and their resources and scopes.
struct Fixture {
    /// A server span: GET /, 250ms, error status, ten attributes.
    home: Span,
    /// A client span: POST /cart, 400ms, no status, no attributes.
    cart: Span,
    resource: Resource,
    scope: InstrumentationScope,
    /// An error log with a string body.
    crash: LogRecord,
    /// An info log without body.
    quiet: LogRecord,
    /// A log with a map body.
    structured: LogRecord,
}

fn fixture() -> Fixture {
    let home = Span {
        name: "GET /".into(),
        kind: SpanKind::Server as i32,
        status: Some(Status {
            code: StatusCode::Error as i32,
            message: "boom".into(),
        }),
        start_time_unix_nano: 1_000_000_000,
        end_time_unix_nano: 1_250_000_000,
        trace_id: hex::decode(TRACE_ID).unwrap(),
        span_id: hex::decode(SPAN_ID).unwrap(),
        trace_state: "rojo=00f067aa0ba902b7".into(),
        flags: 1,
        attributes: vec![
            kv("http.request.method", s("GET")),
            kv("http.response.status_code", Value::IntValue(200)),
            kv("user_agent.original", s("Mozilla/5.0 (compatible; Googlebot/2.1)")),
            kv("ratio", Value::DoubleValue(0.5)),
            kv("cached", Value::BoolValue(true)),
            kv("retried", Value::BoolValue(false)),
            kv(
                "tags",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue { value: Some(s("a")) }, AnyValue { value: Some(s("b")) }],
                }),
            ),
            kv(
                "headers",
                Value::KvlistValue(KeyValueList {
                    values: vec![kv("accept", s("text/html"))],
                }),
            ),
            kv("blob", Value::BytesValue(vec![1, 2, 3])),
            KeyValue {
                key: "empty".into(),
                value: Some(AnyValue { value: None }),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let cart = Span {
        name: "POST /cart".into(),
        kind: SpanKind::Client as i32,
        start_time_unix_nano: 2_000_000_000,
        end_time_unix_nano: 2_400_000_000,
        parent_span_id: hex::decode(SPAN_ID).unwrap(),
        ..Default::default()
    };
    let resource = Resource {
        attributes: vec![kv("service.name", s("checkout"))],
        ..Default::default()
    };
    let scope = InstrumentationScope {
        name: "io.opentelemetry.http".into(),
        version: "1.2.3".into(),
        attributes: vec![kv("lib.lang", s("rust"))],
        ..Default::default()
    };
    let crash = LogRecord {
        body: Some(AnyValue {
            value: Some(s("disk full")),
        }),
        severity_number: 17,
        severity_text: "ERROR".into(),
        time_unix_nano: 5,
        observed_time_unix_nano: 6,
        event_name: "app.crash".into(),
        trace_id: hex::decode(TRACE_ID).unwrap(),
        attributes: vec![kv("user", s("alice")), kv("attempt", Value::IntValue(3))],
        ..Default::default()
    };
    let quiet = LogRecord {
        severity_number: 9,
        severity_text: "INFO".into(),
        ..Default::default()
    };
    let structured = LogRecord {
        body: Some(AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![kv("user", s("bob")), kv("n", Value::IntValue(2))],
            })),
        }),
        severity_number: 13,
        ..Default::default()
    };
    Fixture {
        home,
        cart,
        resource,
        scope,
        crash,
        quiet,
        structured,
    }
}

fn parse_span(text: &str) -> Condition {
    Condition::parse(text, Context::Span).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn parse_log(text: &str) -> Condition {
    Condition::parse(text, Context::Log).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Evaluates `text` on the home span (with resource and scope) and the cart span (without).
fn on_spans(text: &str) -> (bool, bool) {
    let f = fixture();
    let c = parse_span(text);
    let home = SpanView {
        span: &f.home,
        resource: Some(&f.resource),
        scope: Some(&f.scope),
    };
    let cart = SpanView {
        span: &f.cart,
        resource: None,
        scope: None,
    };
    (c.eval_span(&home), c.eval_span(&cart))
}

/// Evaluates `text` on the crash log (with resource and scope), the quiet log and the structured log.
fn on_logs(text: &str) -> (bool, bool, bool) {
    let f = fixture();
    let c = parse_log(text);
    let crash = LogView {
        log: &f.crash,
        resource: Some(&f.resource),
        scope: Some(&f.scope),
    };
    let quiet = LogView {
        log: &f.quiet,
        resource: None,
        scope: None,
    };
    let structured = LogView {
        log: &f.structured,
        resource: None,
        scope: None,
    };
    (c.eval_log(&crash), c.eval_log(&quiet), c.eval_log(&structured))
}

fn check_spans(cases: &[(&str, bool, bool)]) {
    for &(text, home, cart) in cases {
        assert_eq!(on_spans(text), (home, cart), "{text}");
    }
}

#[test]
fn span_paths() {
    check_spans(&[
        (r#"name == "GET /""#, true, false),
        (r#"name != "GET /""#, false, true),
        ("kind == SPAN_KIND_SERVER", true, false),
        ("kind == SPAN_KIND_CLIENT", false, true),
        ("kind == 2", true, false),
        ("kind != SPAN_KIND_INTERNAL", true, true),
        ("status.code == STATUS_CODE_ERROR", true, false),
        ("status.code == STATUS_CODE_UNSET", false, true),
        ("status.code == 2", true, false),
        ("status.code != STATUS_CODE_OK", true, true),
        (r#"status.message == "boom""#, true, false),
        (r#"status.message == """#, false, true),
        ("duration == 250ms", true, false),
        ("duration < 300ms", true, false),
        ("duration > 300ms", false, true),
        ("duration == 250000000", true, false),
        ("duration >= 0.4s", false, true),
        ("start_time == 1000000000", true, false),
        ("start_time_unix_nano >= 2000000000", false, true),
        ("end_time == 2400000000", false, true),
        ("end_time_unix_nano < 2000000000", true, false),
        (r#"trace_state == "rojo=00f067aa0ba902b7""#, true, false),
        (&format!(r#"trace_id == "{TRACE_ID}""#), true, false),
        (
            &format!(r#"trace_id.string == "{}""#, TRACE_ID.to_uppercase()),
            true,
            false,
        ),
        (&format!(r#"span_id == "{SPAN_ID}""#), true, false),
        (&format!(r#"span_id.string != "{SPAN_ID}""#), false, true),
        (r#"parent_span_id == """#, true, false),
        (&format!(r#"parent_span_id == "{SPAN_ID}""#), false, true),
        (r#"trace_id == """#, false, true),
        ("flags == 1", true, false),
        (r#"attributes["http.request.method"] == "GET""#, true, false),
        (r#"attributes["http.response.status_code"] == 200"#, true, false),
        (r#"resource.attributes["service.name"] == "checkout""#, true, false),
        (r#"resource.attributes["service.name"] == nil"#, false, true),
        (r#"instrumentation_scope.name == "io.opentelemetry.http""#, true, false),
        (r#"instrumentation_scope.version == "1.2.3""#, true, false),
        (r#"instrumentation_scope.name == """#, false, true),
        (r#"instrumentation_scope.attributes["lib.lang"] == "rust""#, true, false),
        (r#"attributes["headers"]["accept"] == "text/html""#, true, false),
        (r#"attributes["headers"]["missing"] == nil"#, true, true),
        (r#"attributes["tags"][1] == "b""#, true, false),
        (r#"attributes["tags"][2] == nil"#, true, true),
        (r#"attributes["tags"][-1] == nil"#, true, true),
        (r#"attributes["tags"]["x"] == nil"#, true, true),
    ]);
}

#[test]
fn log_paths() {
    let cases: &[(&str, (bool, bool, bool))] = &[
        (r#"body == "disk full""#, (true, false, false)),
        ("body == nil", (false, true, false)),
        ("body != nil", (true, false, true)),
        (r#"body["user"] == "bob""#, (false, false, true)),
        ("body[\"n\"] > 1", (false, false, true)),
        ("severity_number >= 17", (true, false, false)),
        ("severity_number >= SEVERITY_NUMBER_ERROR", (true, false, false)),
        ("severity_number == SEVERITY_NUMBER_INFO", (false, true, false)),
        ("severity_number < SEVERITY_NUMBER_WARN2", (false, true, true)),
        ("severity_number >= 17 or body == nil", (true, true, false)),
        (r#"severity_text == "ERROR""#, (true, false, false)),
        ("time == 5", (true, false, false)),
        ("time_unix_nano == 0", (false, true, true)),
        ("observed_time == 6", (true, false, false)),
        ("observed_time_unix_nano > 5", (true, false, false)),
        (r#"event_name == "app.crash""#, (true, false, false)),
        (r#"attributes["user"] == "alice""#, (true, false, false)),
        (r#"attributes["attempt"] > 2"#, (true, false, false)),
        (
            r#"resource.attributes["service.name"] == "checkout""#,
            (true, false, false),
        ),
        (
            r#"instrumentation_scope.name == "io.opentelemetry.http""#,
            (true, false, false),
        ),
        (r#"instrumentation_scope.version != "1.2.3""#, (false, true, true)),
        (&format!(r#"trace_id == "{TRACE_ID}""#), (true, false, false)),
        (r#"span_id == """#, (true, true, true)),
        ("flags == 0", (true, true, true)),
        ("IsString(body)", (true, false, false)),
        ("IsMap(body)", (false, false, true)),
        ("Len(body) == 2", (false, false, true)),
        ("Len(body) == 9", (true, false, false)),
        (r#"IsMatch(body, "^disk")"#, (true, false, false)),
    ];
    for (text, expected) in cases {
        assert_eq!(on_logs(text), *expected, "{text}");
    }
}

#[test]
fn operators_on_each_type() {
    check_spans(&[
        // ints
        (r#"attributes["http.response.status_code"] == 200"#, true, false),
        (r#"attributes["http.response.status_code"] != 200"#, false, true),
        (r#"attributes["http.response.status_code"] < 201"#, true, false),
        (r#"attributes["http.response.status_code"] <= 200"#, true, false),
        (r#"attributes["http.response.status_code"] > 199"#, true, false),
        (r#"attributes["http.response.status_code"] >= 201"#, false, false),
        (r#"attributes["http.response.status_code"] > -1"#, true, false),
        // int vs float, numerically
        (r#"attributes["http.response.status_code"] == 200.0"#, true, false),
        (r#"attributes["http.response.status_code"] < 200.5"#, true, false),
        (r#"attributes["ratio"] == 0.5"#, true, false),
        (r#"attributes["ratio"] > 0"#, true, false),
        (r#"attributes["ratio"] < 1"#, true, false),
        (r#"attributes["ratio"] >= 0.6"#, false, false),
        (r#"attributes["ratio"] <= 5e-1"#, true, false),
        // strings, lexically
        (r#"name < "GET /a""#, true, false),
        (r#"name > "GET""#, true, true),
        (r#"name <= "GET /""#, true, false),
        (r#"name >= "P""#, false, true),
        (r#"attributes["http.request.method"] < "POST""#, true, false),
        // bools
        (r#"attributes["cached"] == true"#, true, false),
        (r#"attributes["cached"] != false"#, true, true),
        (r#"attributes["retried"] == false"#, true, false),
        // attribute vs attribute (bools order false < true, as in OTTL)
        (r#"attributes["retried"] < attributes["cached"]"#, true, false),
        (r#"attributes["tags"] == attributes["tags"]"#, true, true),
        (r#"attributes["headers"] == attributes["headers"]"#, true, true),
        (r#"attributes["headers"] != attributes["tags"]"#, true, false),
        (r#"attributes["tags"] < attributes["tags"]"#, false, false),
        (r#"attributes["blob"] == attributes["blob"]"#, true, true),
        ("start_time < end_time", true, true),
        ("attributes == attributes", true, true),
        ("1 < 2", true, true),
        (r#""a" == "a""#, true, true),
        ("true", true, true),
        ("false", false, false),
    ]);
}

#[test]
fn nil_and_type_mismatches() {
    check_spans(&[
        // missing attributes are nil
        (r#"attributes["missing"] == nil"#, true, true),
        (r#"attributes["missing"] != nil"#, false, false),
        (r#"attributes["http.request.method"] != nil"#, true, false),
        (r#"attributes["http.request.method"] == nil"#, false, true),
        // an empty AnyValue is nil too
        (r#"attributes["empty"] == nil"#, true, true),
        // nil compared with a value: only != is true
        (r#"attributes["missing"] == "x""#, false, false),
        (r#"attributes["missing"] != "x""#, true, true),
        (r#"attributes["missing"] < 5"#, false, false),
        (r#"attributes["missing"] >= 5"#, false, false),
        (r#"attributes["missing"] == attributes["other"]"#, true, true),
        (r#"attributes["missing"] <= attributes["other"]"#, true, true),
        (r#"attributes["missing"] < attributes["other"]"#, false, false),
        // different types: false except !=
        (r#"attributes["http.response.status_code"] == "200""#, false, false),
        (r#"attributes["http.response.status_code"] != "200""#, true, true),
        (r#"attributes["http.response.status_code"] < "300""#, false, false),
        (r#"attributes["http.response.status_code"] > "100""#, false, false),
        (r#"attributes["cached"] == 1"#, false, false),
        (r#"attributes["cached"] != 1"#, true, true),
        (r#"attributes["tags"] == "a""#, false, false),
        (r#"attributes["blob"] == "010203""#, false, false),
        (
            r#"attributes["http.request.method"] < attributes["http.response.status_code"]"#,
            false,
            false,
        ),
        // a bare non-bool attribute is false; a missing one too
        (r#"attributes["cached"]"#, true, false),
        (r#"attributes["retried"]"#, false, false),
        (r#"attributes["http.request.method"]"#, false, false),
        (r#"attributes["missing"]"#, false, false),
        (r#"not attributes["missing"]"#, true, true),
    ]);
}

#[test]
fn durations() {
    let cases: &[(&str, i64)] = &[
        ("300ms", 300_000_000),
        ("1.5s", 1_500_000_000),
        ("2m", 120_000_000_000),
        ("1h", 3_600_000_000_000),
        ("10us", 10_000),
        ("10µs", 10_000),
        ("5ns", 5),
        ("1h30m", 5_400_000_000_000),
        ("1m0.5s", 60_500_000_000),
        ("0.001ms", 1_000),
        ("-2s", -2_000_000_000),
    ];
    for &(literal, nanos) in cases {
        // A span whose duration is exactly `nanos`.
        let start = 10_000_000_000_000u64;
        let span = Span {
            start_time_unix_nano: start,
            end_time_unix_nano: start.checked_add_signed(nanos).unwrap(),
            ..Default::default()
        };
        let view = SpanView {
            span: &span,
            resource: None,
            scope: None,
        };
        assert!(
            parse_span(&format!("duration == {literal}")).eval_span(&view),
            "{literal}"
        );
        assert!(
            parse_span(&format!("duration == {nanos}")).eval_span(&view),
            "{literal}"
        );
        assert!(
            !parse_span(&format!("duration < {literal}")).eval_span(&view),
            "{literal}"
        );
        assert!(
            parse_span(&format!("{literal} == {nanos}")).eval_span(&view),
            "{literal}"
        );
    }
    // An attribute holding nanoseconds compares with a duration literal.
    check_spans(&[(r#"attributes["http.response.status_code"] < 1us"#, true, false)]);
}

#[test]
fn precedence_not_and_parens() {
    check_spans(&[
        // and binds tighter than or: true or (false and false)
        (
            r#"name == "GET /" or kind == SPAN_KIND_INTERNAL and flags == 7"#,
            true,
            false,
        ),
        // (true or false) and false
        (
            r#"(name == "GET /" or kind == SPAN_KIND_INTERNAL) and flags == 7"#,
            false,
            false,
        ),
        // false and false or true == (false and false) or true
        (
            r#"flags == 7 and kind == SPAN_KIND_INTERNAL or name == "GET /""#,
            true,
            false,
        ),
        (
            r#"flags == 7 and (kind == SPAN_KIND_INTERNAL or name == "GET /")"#,
            false,
            false,
        ),
        // not negates the comparison after it, not more
        (r#"not name == "GET /""#, false, true),
        (r#"not name == "GET /" and kind == SPAN_KIND_CLIENT"#, false, true),
        (r#"not name == "GET /" or kind == SPAN_KIND_SERVER"#, true, true),
        (r#"not (name == "GET /" or kind == SPAN_KIND_CLIENT)"#, false, false),
        (r#"not not name == "GET /""#, true, false),
        ("not true", false, false),
        ("not (not false)", false, false),
        ("((((duration < 300ms))))", true, false),
        // chains of the same operator
        (
            "flags == 1 and kind == 2 and duration < 1s and start_time > 0",
            true,
            false,
        ),
        (
            "flags == 5 or kind == 5 or duration == 400ms or start_time == 0",
            false,
            true,
        ),
    ]);
}

#[test]
fn functions() {
    check_spans(&[
        (
            r#"IsMatch(attributes["user_agent.original"], ".*(bot|crawler).*")"#,
            true,
            false,
        ),
        (
            r#"not IsMatch(attributes["user_agent.original"], ".*(bot|crawler).*")"#,
            false,
            true,
        ),
        (r#"IsMatch(name, "^GET ")"#, true, false),
        (r#"IsMatch(name, "cart")"#, false, true),
        (r#"IsMatch(name, "^cart$")"#, false, false),
        (
            r#"IsMatch(attributes["http.response.status_code"], "200")"#,
            false,
            false,
        ),
        (r#"IsMatch(attributes["missing"], ".*")"#, false, false),
        (r#"IsMatch(name, "\\d")"#, false, false),
        (r#"IsMatch(name, "^\\w+ /")"#, true, true),
        (r#"IsMatch(name, "GET") == true"#, true, false),
        (r#"IsMatch(name, "GET") != true"#, false, true),
        (r#"IsString(name)"#, true, true),
        (r#"IsString(attributes["http.request.method"])"#, true, false),
        (r#"IsString(attributes["http.response.status_code"])"#, false, false),
        (r#"IsInt(attributes["http.response.status_code"])"#, true, false),
        (r#"IsInt(attributes["ratio"])"#, false, false),
        (r#"IsDouble(attributes["ratio"])"#, true, false),
        (r#"IsBool(attributes["cached"])"#, true, false),
        (r#"IsBool(attributes["missing"])"#, false, false),
        (r#"IsMap(attributes["headers"])"#, true, false),
        (r#"IsMap(attributes)"#, true, true),
        (r#"IsList(attributes["tags"])"#, true, false),
        (r#"IsInt(duration)"#, true, true),
        (r#"Len(name) == 5"#, true, false),
        (r#"Len(name) > 5"#, false, true),
        (r#"Len("héllo") == 6"#, true, true),
        (r#"Len(attributes) == 10"#, true, false),
        (r#"Len(attributes) == 0"#, false, true),
        (r#"Len(attributes["tags"]) == 2"#, true, false),
        (r#"Len(attributes["headers"]) == 1"#, true, false),
        (r#"Len(trace_id) == 16"#, true, false),
        (r#"Len(attributes["http.response.status_code"]) == nil"#, true, true),
        (r#"Len(attributes["missing"]) != nil"#, false, false),
        (r#"HasPrefix(name, "GET")"#, true, false),
        (r#"HasPrefix(name, "")"#, true, true),
        (
            r#"HasPrefix(attributes["http.response.status_code"], "2")"#,
            false,
            false,
        ),
        (r#"HasSuffix(name, "/cart")"#, false, true),
        (r#"HasSuffix(resource.attributes["service.name"], "out")"#, true, false),
        (r#"IsString(IsMatch(name, "x"))"#, false, false),
        (r#"IsBool(IsMatch(name, "x"))"#, true, true),
    ]);
}

#[test]
fn homepage_sli_and_brief_examples() {
    check_spans(&[
        (
            r#"name == "GET /" and attributes["http.response.status_code"] == 200 and duration < 300ms"#,
            true,
            false,
        ),
        (
            r#"not IsMatch(attributes["user_agent.original"], ".*(bot|crawler).*")"#,
            false,
            true,
        ),
        (
            r#"resource.attributes["service.name"] == "checkout" and status.code != STATUS_CODE_ERROR"#,
            false,
            false,
        ),
        (
            r#"resource.attributes["service.name"] == "checkout" and status.code == STATUS_CODE_ERROR"#,
            true,
            false,
        ),
    ]);
    // A multi-line condition, as from a YAML block scalar.
    let text = "name == \"GET /\"\n  and attributes[\"http.response.status_code\"] == 200\n  and duration < 300ms\n";
    assert_eq!(on_spans(text), (true, false));
    assert_eq!(parse_span(text).text(), text);
}

#[test]
fn strings_and_escapes() {
    let span = Span {
        name: "say \"hi\"\\\n\tok".into(),
        ..Default::default()
    };
    let view = SpanView {
        span: &span,
        resource: None,
        scope: None,
    };
    assert!(parse_span(r#"name == "say \"hi\"\\\n\tok""#).eval_span(&view));
    assert!(!parse_span(r#"name == "say \"hi\"\\ \tok""#).eval_span(&view));
    let unicode = Span {
        name: "café ☕".into(),
        ..Default::default()
    };
    let view = SpanView {
        span: &unicode,
        resource: None,
        scope: None,
    };
    assert!(parse_span("name == \"café ☕\"").eval_span(&view));
}

#[test]
fn wrong_context_evaluates_to_false() {
    let f = fixture();
    let span_cond = parse_span("true");
    let log_cond = parse_log("true");
    let span = SpanView {
        span: &f.home,
        resource: None,
        scope: None,
    };
    let log = LogView {
        log: &f.crash,
        resource: None,
        scope: None,
    };
    assert!(span_cond.eval_span(&span));
    assert!(!span_cond.eval_log(&log));
    assert!(log_cond.eval_log(&log));
    assert!(!log_cond.eval_span(&span));
    // Shared paths work in both.
    let both = r#"attributes["user"] == nil"#;
    assert!(parse_span(both).eval_span(&span));
    assert!(!parse_log(both).eval_log(&log));
    assert_eq!(span_cond.context(), Context::Span);
    assert_eq!(log_cond.to_string(), "true");
}

#[test]
fn conditions_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Condition>();
    assert_send_sync::<ParseError>();
}

#[test]
fn clone_shares_behaviour() {
    let f = fixture();
    let view = SpanView {
        span: &f.home,
        resource: None,
        scope: None,
    };
    let c = parse_span(r#"IsMatch(name, "^GET")"#);
    let copy = c.clone();
    drop(c);
    assert!(copy.eval_span(&view));
    assert_eq!(copy.text(), r#"IsMatch(name, "^GET")"#);
}

/// (condition, context, line, column, message)
const ERRORS: &[(&str, Context, usize, usize, &str)] = &[
    ("", Context::Span, 1, 1, "empty condition"),
    ("  \n ", Context::Span, 1, 1, "empty condition"),
    (
        r#"duration < "abc""#,
        Context::Span,
        1,
        12,
        "cannot compare duration (int) with a string; durations are nanoseconds or literals like 300ms, 1.5s or 2m",
    ),
    ("name < 5", Context::Span, 1, 8, "cannot compare name (string) with an int"),
    ("name == 5", Context::Span, 1, 9, "cannot compare name (string) with an int"),
    ("5 == name", Context::Span, 1, 1, "cannot compare an int with name (string)"),
    (
        "status.code == 300ms",
        Context::Span,
        1,
        16,
        "cannot compare status.code (int) with a duration; status codes are STATUS_CODE_UNSET, STATUS_CODE_OK and STATUS_CODE_ERROR",
    ),
    (
        "kind == STATUS_CODE_OK",
        Context::Span,
        1,
        9,
        "cannot compare kind (int) with STATUS_CODE_OK (a status code); span kinds are SPAN_KIND_UNSPECIFIED, \
         SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER and SPAN_KIND_CONSUMER",
    ),
    (
        r#"kind == "SERVER""#,
        Context::Span,
        1,
        9,
        "cannot compare kind (int) with a string; span kinds are SPAN_KIND_UNSPECIFIED, SPAN_KIND_INTERNAL, \
         SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER and SPAN_KIND_CONSUMER",
    ),
    (
        "start_time > 5m",
        Context::Span,
        1,
        14,
        "cannot compare start_time (int) with a duration; timestamps are ints in unix nanoseconds",
    ),
    ("nmae == \"x\"", Context::Span, 1, 1, "unknown path nmae, did you mean name?"),
    ("attribute[\"k\"] == 1", Context::Span, 1, 1, "unknown path attribute, did you mean attributes?"),
    (
        "resource.attributes.service.name == \"x\"",
        Context::Span,
        1,
        1,
        "unknown path resource.attributes.service.name, did you mean resource.attributes[\"service.name\"]?",
    ),
    ("STATUS_CODE_EROR == status.code", Context::Span, 1, 1, "unknown name STATUS_CODE_EROR, did you mean STATUS_CODE_ERROR?"),
    ("IsMatch(name, 5)", Context::Span, 1, 15, "the pattern of IsMatch must be a string literal"),
    ("IsMatch(name, name)", Context::Span, 1, 15, "the pattern of IsMatch must be a string literal"),
    ("IsMatch(duration, \"x\")", Context::Span, 1, 9, "the target of IsMatch must be a string, found duration (int)"),
    ("IsMatch(name, \"(abc\")", Context::Span, 1, 15, "invalid regex: unclosed group"),
    ("IsMatch(name)", Context::Span, 1, 1, "wrong number of arguments: IsMatch(target, pattern) takes 2, found 1"),
    ("Len(name, name) > 1", Context::Span, 1, 1, "wrong number of arguments: Len(value) takes 1, found 2"),
    ("Len(5) > 1", Context::Span, 1, 5, "the argument of Len must be a string, list or map, found an int"),
    ("HasPrefix(name, name)", Context::Span, 1, 17, "the prefix of HasPrefix must be a string literal"),
    (
        "IsMach(name, \"x\")",
        Context::Span,
        1,
        1,
        "unknown function IsMach, did you mean IsMatch? known functions are HasPrefix, HasSuffix, IsBool, \
         IsDouble, IsInt, IsList, IsMap, IsMatch, IsString, Len",
    ),
    (
        "Frobnicate(name)",
        Context::Span,
        1,
        1,
        "unknown function Frobnicate; known functions are HasPrefix, HasSuffix, IsBool, IsDouble, IsInt, \
         IsList, IsMap, IsMatch, IsString, Len",
    ),
    ("(name == \"x\"", Context::Span, 1, 1, "unclosed '('"),
    ("name == \"x\")", Context::Span, 1, 12, "unmatched ')'"),
    ("(name == \"x\" name", Context::Span, 1, 14, "expected 'and', 'or' or ')', found 'name'"),
    ("name == \"x\" garbage", Context::Span, 1, 13, "expected 'and', 'or' or the end of the condition, found 'garbage'"),
    ("name == \"x\" and", Context::Span, 1, 16, "expected a value, found the end of the condition"),
    ("name ==", Context::Span, 1, 8, "expected a value, found the end of the condition"),
    ("name == and", Context::Span, 1, 9, "expected a value, found 'and'"),
    ("duration < 1s < 2s", Context::Span, 1, 15, "comparisons cannot be chained; combine them with and"),
    ("name", Context::Span, 1, 1, "expected a condition, found name (string); compare it with ==, !=, <, <=, > or >="),
    ("name \"x\"", Context::Span, 1, 6, "expected a comparison operator after name, found a string"),
    ("name = \"x\"", Context::Span, 1, 6, "unexpected '=', use == to compare"),
    ("!(name == \"x\")", Context::Span, 1, 1, "unexpected '!', use not to negate or != to compare"),
    ("name == \"x\" && kind == 1", Context::Span, 1, 13, "unexpected '&&', use and"),
    ("name == 'x'", Context::Span, 1, 9, "strings are written in double quotes"),
    ("name == \"x", Context::Span, 1, 9, "unterminated string"),
    (
        r#"IsMatch(name, "\d+")"#,
        Context::Span,
        1,
        16,
        r#"unknown escape \d in string; write \\ for a backslash (as in regexes: "\\d+")"#,
    ),
    ("duration < 300 ms", Context::Span, 1, 16, "expected 'and', 'or' or the end of the condition, found 'ms'"),
    ("duration < 300mss", Context::Span, 1, 15, "unknown duration unit mss; use ns, us, ms, s, m or h"),
    ("duration < 1h30", Context::Span, 1, 16, "expected a duration unit (ns, us, ms, s, m or h)"),
    ("flags == 99999999999999999999", Context::Span, 1, 10, "integer out of range"),
    ("name == nil", Context::Span, 1, 9, "cannot compare name (string) with nil, a string is never nil; test for an empty string with == \"\""),
    ("true < false", Context::Span, 1, 1, "cannot use < with a bool, only == and !="),
    (r#"attributes["a"] >= nil"#, Context::Span, 1, 20, "cannot use >= with nil, only == and !="),
    (r#"trace_id < "00""#, Context::Span, 1, 1, "cannot use < with trace_id (bytes), only == and !="),
    (
        r#"trace_id == "abc""#,
        Context::Span,
        1,
        13,
        "trace_id is compared with a hex string of 32 characters, or \"\" for none",
    ),
    ("name[\"x\"] == 1", Context::Span, 1, 5, "name (string) cannot be indexed"),
    ("attributes[0] == 1", Context::Span, 1, 12, "attributes keys are strings, like attributes[\"key\"]"),
    ("attributes[name] == 1", Context::Span, 1, 12, "expected a string key or an int index, found 'name'"),
    ("attributes[\"a\" == 1", Context::Span, 1, 16, "expected ']', found '=='"),
    ("status. == 1", Context::Span, 1, 9, "expected a name after '.', found '=='"),
    ("body == nil", Context::Span, 1, 1, "body is only available for logs, not in span conditions"),
    ("severity_number >= 17", Context::Span, 1, 1, "severity_number is only available for logs, not in span conditions"),
    ("status.code == 1", Context::Log, 1, 1, "status.code is only available for spans, not in log conditions"),
    ("kind == 1", Context::Log, 1, 1, "kind is only available for spans, not in log conditions"),
    ("severity_numbr >= 17", Context::Log, 1, 1, "unknown path severity_numbr, did you mean severity_number?"),
    ("name == \"x\" @", Context::Span, 1, 13, "unexpected character '@'"),
    // Errors on later lines report that line and the column within it.
    (
        "name == \"GET /\"\n  and duration < \"slow\"",
        Context::Span,
        2,
        18,
        "cannot compare duration (int) with a string; durations are nanoseconds or literals like 300ms, 1.5s or 2m",
    ),
    ("name == \"GET /\"\n  and\n    nmae == \"x\"", Context::Span, 3, 5, "unknown path nmae, did you mean name?"),
    ("(name == \"x\"\n  or kind == 2", Context::Span, 1, 1, "unclosed '('"),
    ("name == \"x\" and\n", Context::Span, 1, 16, "expected a value, found the end of the condition"),
    ("name == \"é\" nope", Context::Span, 1, 13, "expected 'and', 'or' or the end of the condition, found 'nope'"),
];

#[test]
fn parse_errors() {
    for &(text, context, line, column, message) in ERRORS {
        let err = Condition::parse(text, context).expect_err(text);
        assert_eq!(
            err,
            ParseError {
                line,
                column,
                message: message.to_string()
            },
            "{text:?}"
        );
        assert!(err.message.starts_with(|c: char| c.is_lowercase()), "{text:?}");
        assert_eq!(err.to_string(), format!("line {line}, column {column}: {message}"));
    }
}

#[test]
fn unknown_path_without_suggestion_lists_paths() {
    let err = Condition::parse("zzzzzzzz == 1", Context::Log).unwrap_err();
    assert_eq!((err.line, err.column), (1, 1));
    assert!(
        err.message
            .starts_with("unknown path zzzzzzzz; known paths are duration, body, severity_number"),
        "{}",
        err.message
    );
    assert!(
        !err.message.contains("status.code"),
        "span paths are not offered for logs: {}",
        err.message
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}true{}", "(".repeat(10_000), ")".repeat(10_000));
    let err = Condition::parse(&deep, Context::Span).unwrap_err();
    assert!(err.message.contains("nested"), "{}", err.message);
    let nots = format!("{}true", "not ".repeat(10_000));
    assert!(Condition::parse(&nots, Context::Span).is_err());
    let calls = format!("{}name{}", "IsString(".repeat(10_000), ")".repeat(10_000));
    assert!(Condition::parse(&calls, Context::Span).is_err());
    // Reasonable nesting is fine.
    let ok = format!("{}true{}", "(".repeat(30), ")".repeat(30));
    assert!(on_spans(&ok).0);
}

// ---- property tests ----

/// A random condition tree over atoms whose truth on the home span is known independently.
#[derive(Debug, Clone)]
enum Tree {
    Atom(String, bool),
    Not(Box<Tree>),
    And(Box<Tree>, Box<Tree>),
    Or(Box<Tree>, Box<Tree>),
    /// Redundant parentheses.
    Paren(Box<Tree>),
}

impl Tree {
    fn eval(&self) -> bool {
        match self {
            Tree::Atom(_, b) => *b,
            Tree::Not(t) => !t.eval(),
            Tree::And(a, b) => a.eval() && b.eval(),
            Tree::Or(a, b) => a.eval() || b.eval(),
            Tree::Paren(t) => t.eval(),
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Tree::Or(..) => 1,
            Tree::And(..) => 2,
            Tree::Not(_) => 3,
            Tree::Atom(..) | Tree::Paren(_) => 4,
        }
    }

    /// Prints with as few parentheses as the precedence rules allow.
    fn print(&self, min: u8, sep: &str, out: &mut String) {
        let wrap = self.precedence() < min;
        if wrap {
            out.push('(');
        }
        match self {
            Tree::Atom(text, _) => out.push_str(text),
            Tree::Not(t) => {
                out.push_str("not");
                out.push_str(sep);
                t.print(3, sep, out);
            }
            Tree::And(a, b) | Tree::Or(a, b) => {
                let p = self.precedence();
                a.print(p, sep, out);
                out.push_str(sep);
                out.push_str(if p == 2 { "and" } else { "or" });
                out.push_str(sep);
                b.print(p, sep, out);
            }
            Tree::Paren(t) => {
                out.push('(');
                t.print(0, sep, out);
                out.push(')');
            }
        }
        if wrap {
            out.push(')');
        }
    }
}

const OPS: [&str; 6] = ["==", "!=", "<", "<=", ">", ">="];

fn apply<T: PartialOrd>(a: T, op: &str, b: T) -> bool {
    match op {
        "==" => a == b,
        "!=" => a != b,
        "<" => a < b,
        "<=" => a <= b,
        ">" => a > b,
        _ => a >= b,
    }
}

fn atom() -> impl Strategy<Value = Tree> {
    let op = proptest::sample::select(OPS.to_vec());
    prop_oneof![
        (-300i64..300, op.clone()).prop_map(|(n, op)| Tree::Atom(
            format!(r#"attributes["http.response.status_code"] {op} {n}"#),
            apply(200, op, n)
        )),
        (
            proptest::sample::select(vec!["GET /", "GET", "GET /a", "POST /cart", "", "A", "z"]),
            op.clone()
        )
            .prop_map(|(s, op)| Tree::Atom(format!(r#"name {op} "{s}""#), apply("GET /", op, s))),
        (0i64..600, op.clone()).prop_map(|(ms, op)| Tree::Atom(format!("duration {op} {ms}ms"), apply(250, op, ms))),
        (-2.0f64..2.0, op.clone())
            .prop_map(|(x, op)| Tree::Atom(format!(r#"attributes["ratio"] {op} {x:?}"#), apply(0.5, op, x))),
        (proptest::sample::select(vec!["==", "!="]), any::<bool>()).prop_map(|(op, missing)| {
            let key = if missing { "missing" } else { "cached" };
            Tree::Atom(format!(r#"attributes["{key}"] {op} nil"#), (op == "==") == missing)
        }),
        op.prop_map(|op| Tree::Atom(format!(r#"attributes["http.request.method"] {op} 1"#), op == "!=")),
        proptest::sample::select(vec![
            ("true", true),
            ("false", false),
            (r#"IsMatch(name, "^GET")"#, true),
            (r#"IsMatch(name, "cart")"#, false),
            (r#"attributes["cached"]"#, true),
            (r#"attributes["retried"]"#, false),
            ("kind == SPAN_KIND_SERVER", true),
            ("status.code != STATUS_CODE_ERROR", false),
            (r#"HasSuffix(name, "/")"#, true),
            ("Len(attributes) < 3", false),
        ])
        .prop_map(|(text, value)| Tree::Atom(text.to_string(), value)),
    ]
}

fn tree() -> impl Strategy<Value = Tree> {
    atom().prop_recursive(5, 48, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Tree::Not(Box::new(t))),
            inner.clone().prop_map(|t| Tree::Paren(Box::new(t))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Tree::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Tree::Or(Box::new(a), Box::new(b))),
        ]
    })
}

/// Fragments that make up plausible (and implausible) conditions.
const FRAGMENTS: &[&str] = &[
    "name",
    "duration",
    "attributes",
    "[",
    "]",
    "\"k\"",
    "\"",
    "\\",
    "(",
    ")",
    ",",
    ".",
    "==",
    "!=",
    "<",
    ">=",
    "=",
    "!",
    "and",
    "or",
    "not",
    "nil",
    "true",
    "1",
    "-",
    "-5",
    "1.5",
    "1e",
    "300ms",
    "1h30",
    "µs",
    "IsMatch",
    "Len",
    "IsString",
    "SPAN_KIND_SERVER",
    "STATUS",
    "body",
    "status.code",
    "\n",
    " ",
    "é",
    "\"(\"",
    "0.",
];

proptest! {
    #[test]
    fn printed_trees_evaluate_like_the_tree(tree in tree(), newlines in any::<bool>()) {
        let mut text = String::new();
        tree.print(0, if newlines { "\n  " } else { " " }, &mut text);
        let f = fixture();
        let view = SpanView { span: &f.home, resource: Some(&f.resource), scope: Some(&f.scope) };
        let condition = Condition::parse(&text, Context::Span).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(condition.eval_span(&view), tree.eval(), "{}", text);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        check_error_position(&text);
    }

    #[test]
    fn parse_never_panics_on_fragments(parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS.to_vec()), 0..16), spaced in any::<bool>()) {
        let text = parts.join(if spaced { " " } else { "" });
        check_error_position(&text);
    }
}

/// Parses in both contexts; errors must point inside the text (or just after it).
fn check_error_position(text: &str) {
    for context in [Context::Span, Context::Log] {
        if let Err(e) = Condition::parse(text, context) {
            let lines: Vec<&str> = text.split('\n').collect();
            assert!(e.line >= 1 && e.line <= lines.len(), "{text:?}: {e}");
            assert!(
                e.column >= 1 && e.column <= lines[e.line - 1].chars().count() + 1,
                "{text:?}: {e}"
            );
            assert!(!e.message.is_empty());
        } else {
            // Whatever parses also evaluates without panicking.
            let f = fixture();
            let span = SpanView {
                span: &f.home,
                resource: Some(&f.resource),
                scope: Some(&f.scope),
            };
            let log = LogView {
                log: &f.structured,
                resource: None,
                scope: None,
            };
            let c = Condition::parse(text, context).unwrap();
            let _ = (c.eval_span(&span), c.eval_log(&log));
        }
    }
}

// ---- Span events, metrics and data points. ----

mod contexts {
    use opentelemetry_proto::tonic::metrics::v1::{
        metric, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum,
    };
    use opentelemetry_proto::tonic::trace::v1::span::Event;

    use super::*;

    fn parse(text: &str, context: Context) -> Condition {
        Condition::parse(text, context).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn event() -> Event {
        Event {
            name: "debug".into(),
            time_unix_nano: 1_500,
            attributes: vec![kv("level", s("verbose")), kv("n", Value::IntValue(7))],
            ..Default::default()
        }
    }

    fn on_event(text: &str) -> bool {
        let f = fixture();
        let event = event();
        let view = SpanEventView {
            event: &event,
            span: &f.home,
            resource: Some(&f.resource),
            scope: Some(&f.scope),
        };
        parse(text, Context::SpanEvent).eval_span_event(&view)
    }

    #[test]
    fn span_event_paths() {
        for (text, expected) in [
            (r#"name == "debug""#, true),
            (r#"name == "GET /""#, false),
            (r#"attributes["level"] == "verbose""#, true),
            (r#"attributes["n"] > 5"#, true),
            (r#"attributes["missing"] == nil"#, true),
            ("time == 1500", true),
            ("time_unix_nano > 2000", false),
            (r#"span.name == "GET /""#, true),
            (r#"span.attributes["http.request.method"] == "GET""#, true),
            (r#"resource.attributes["service.name"] == "checkout""#, true),
            (r#"instrumentation_scope.name == "io.opentelemetry.http""#, true),
            (r#"IsMatch(name, "^deb")"#, true),
        ] {
            assert_eq!(on_event(text), expected, "{text}");
        }
    }

    fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
        Metric {
            name: name.into(),
            description: "how much".into(),
            unit: "By".into(),
            data: Some(metric::Data::Gauge(Gauge { data_points: points })),
            ..Default::default()
        }
    }

    fn number(value: number_data_point::Value, attributes: Vec<KeyValue>) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: 10,
            time_unix_nano: 20,
            value: Some(value),
            ..Default::default()
        }
    }

    fn on_metric(text: &str, metric: &Metric) -> bool {
        let f = fixture();
        let view = MetricView {
            metric,
            resource: Some(&f.resource),
            scope: Some(&f.scope),
        };
        parse(text, Context::Metric).eval_metric(&view)
    }

    #[test]
    fn metric_paths() {
        let memory = gauge("process.memory", vec![]);
        let requests = Metric {
            name: "requests".into(),
            data: Some(metric::Data::Sum(Sum::default())),
            ..Default::default()
        };
        let latency = Metric {
            name: "latency".into(),
            data: Some(metric::Data::Histogram(Histogram::default())),
            ..Default::default()
        };
        for (text, metric, expected) in [
            (r#"name == "process.memory""#, &memory, true),
            (r#"name == "process.memory""#, &requests, false),
            (r#"description == "how much""#, &memory, true),
            (r#"unit == "By""#, &memory, true),
            (r#"unit == "By""#, &requests, false),
            ("type == METRIC_DATA_TYPE_GAUGE", &memory, true),
            ("type == METRIC_DATA_TYPE_GAUGE", &requests, false),
            ("type == METRIC_DATA_TYPE_SUM", &requests, true),
            ("type == METRIC_DATA_TYPE_HISTOGRAM", &latency, true),
            ("type != METRIC_DATA_TYPE_SUMMARY", &latency, true),
            (r#"resource.attributes["service.name"] == "checkout""#, &memory, true),
            (r#"HasPrefix(name, "process.")"#, &memory, true),
        ] {
            assert_eq!(on_metric(text, metric), expected, "{text} on {}", metric.name);
        }
    }

    #[test]
    fn data_point_paths() {
        let f = fixture();
        let metric = gauge("process.memory", vec![]);
        let double = number(number_data_point::Value::AsDouble(2.5), vec![kv("env", s("dev"))]);
        let int = number(number_data_point::Value::AsInt(42), vec![kv("env", s("prod"))]);
        let histogram = HistogramDataPoint {
            attributes: vec![kv("env", s("dev"))],
            time_unix_nano: 30,
            ..Default::default()
        };
        let eval = |text: &str, point: DataPoint<'_>| {
            let view = DataPointView {
                point,
                metric: &metric,
                resource: Some(&f.resource),
                scope: None,
            };
            parse(text, Context::DataPoint).eval_data_point(&view)
        };
        for (text, on_double, on_int, on_histogram) in [
            (r#"attributes["env"] == "dev""#, true, false, true),
            (r#"metric.name == "process.memory""#, true, true, true),
            ("metric.type == METRIC_DATA_TYPE_GAUGE", true, true, true),
            ("value_double > 2.0", true, false, false),
            ("value_int == 42", false, true, false),
            // The other type of number reads as zero, as in the Collector.
            ("value_int == 0", true, false, false),
            ("time == 20", true, true, false),
            ("time == 30", false, false, true),
            ("start_time == 10", true, true, false),
            (r#"resource.attributes["service.name"] == "checkout""#, true, true, true),
        ] {
            assert_eq!(
                eval(text, DataPoint::Number(&double)),
                on_double,
                "{text} on the double"
            );
            assert_eq!(eval(text, DataPoint::Number(&int)), on_int, "{text} on the int");
            assert_eq!(
                eval(text, DataPoint::Histogram(&histogram)),
                on_histogram,
                "{text} on the histogram"
            );
        }
    }

    #[test]
    fn conditions_only_evaluate_in_their_context() {
        let f = fixture();
        let event = event();
        let by_name = parse(r#"name == "debug""#, Context::SpanEvent);
        let span = SpanView {
            span: &f.home,
            resource: None,
            scope: None,
        };
        assert!(!by_name.eval_span(&span));
        assert!(by_name.eval_span_event(&SpanEventView {
            event: &event,
            span: &f.home,
            resource: None,
            scope: None
        }));
        let metric = gauge("debug", vec![]);
        assert!(!by_name.eval_metric(&MetricView {
            metric: &metric,
            resource: None,
            scope: None
        }));
    }

    #[test]
    fn context_errors() {
        for (text, context, column, message) in [
            (
                "kind == 2",
                Context::SpanEvent,
                1,
                "kind is only available for spans, not in span event conditions",
            ),
            (
                "time > 0",
                Context::Span,
                1,
                "time is only available for logs, span events and data points, not in span conditions",
            ),
            (
                r#"attributes["a"] == 1"#,
                Context::Metric,
                1,
                "attributes is only available for spans, logs, span events, data points, resources and scopes, not in metric conditions",
            ),
            (
                "value_double > 1",
                Context::Metric,
                1,
                "value_double is only available for data points, not in metric conditions",
            ),
            (
                "name == \"x\"",
                Context::DataPoint,
                1,
                "name is only available for spans, span events, metrics and scopes, not in data point conditions",
            ),
            (
                "span.name == \"x\"",
                Context::Span,
                1,
                "span.name is only available for span events, not in span conditions",
            ),
            (
                "type == STATUS_CODE_OK",
                Context::Metric,
                9,
                "cannot compare type (int) with STATUS_CODE_OK (a status code); metric types are \
                 METRIC_DATA_TYPE_NONE, METRIC_DATA_TYPE_GAUGE, METRIC_DATA_TYPE_SUM, METRIC_DATA_TYPE_HISTOGRAM, \
                 METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM and METRIC_DATA_TYPE_SUMMARY",
            ),
            (
                "type == METRIC_DATA_TYPE_GAUG",
                Context::Metric,
                9,
                "unknown name METRIC_DATA_TYPE_GAUG, did you mean METRIC_DATA_TYPE_GAUGE?",
            ),
        ] {
            let err = Condition::parse(text, context).expect_err(text);
            assert_eq!(
                (err.line, err.column, err.message.as_str()),
                (1, column, message),
                "{text:?}"
            );
        }
    }
}

#[test]
fn a_log_records_duration_is_its_request_duration_attribute_in_seconds() {
    let fast = Condition::parse("duration < 300ms", Context::Log).unwrap();
    let record = |value: Option<Value>| {
        let mut log = LogRecord::default();
        if let Some(value) = value {
            log.attributes.push(KeyValue {
                key: "http.server.request.duration".into(),
                value: Some(AnyValue { value: Some(value) }),
                ..Default::default()
            });
        }
        log
    };
    fn view(log: &LogRecord) -> LogView<'_> {
        LogView {
            log,
            resource: None,
            scope: None,
        }
    }
    let holds = |log: &LogRecord| fast.eval_log(&view(log));
    assert!(holds(&record(Some(Value::DoubleValue(0.299)))));
    assert!(!holds(&record(Some(Value::DoubleValue(0.3)))));
    assert!(holds(&record(Some(Value::IntValue(0)))));
    assert!(!holds(&record(Some(Value::IntValue(1)))));
    // No duration (or not a number of seconds) is nil: neither fast nor slow.
    assert!(!holds(&record(None)));
    assert!(!holds(&record(Some(Value::StringValue("0.1".into())))));
    assert!(!holds(&record(Some(Value::DoubleValue(f64::NAN)))));
    let slow = Condition::parse("duration >= 300ms", Context::Log).unwrap();
    assert!(!slow.eval_log(&view(&record(None))));
}
