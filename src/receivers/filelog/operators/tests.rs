//! The operators on real-looking lines: parsers with their embedded blocks, bad
//! input under each `on_error`, transformers, `output` jumps and config errors.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};

use std::time::{Duration, Instant};

use super::*;
use crate::receivers::filelog::entry::string_value;

#[derive(serde::Deserialize)]
struct Receiver {
    operators: Vec<OperatorConfig>,
}

/// The `operators:` list of a receiver block, read as the service reads config.
fn configs(yaml: &str) -> Result<Vec<OperatorConfig>, Vec<ConfigError>> {
    figment::Figment::from(<serde_saphyr::figment::Yaml as figment::providers::Format>::string(
        yaml,
    ))
    .extract::<Receiver>()
    .map(|r| r.operators)
    .map_err(ConfigError::from_figment)
}

fn build(yaml: &str) -> Operators {
    let configs = configs(yaml).unwrap_or_else(|e| panic!("{e:?}"));
    Operators::build(&configs).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Every error, as `path: message`.
fn errors(yaml: &str) -> Vec<String> {
    let result = configs(yaml).and_then(|c| Operators::build(&c).map(drop));
    result.unwrap_err().iter().map(ToString::to_string).collect()
}

fn run(operators: &mut Operators, lines: &[&str]) -> Vec<Entry> {
    let mut out = Vec::new();
    for line in lines {
        operators.process(Entry::from_line(line.to_string(), 1), &mut out);
    }
    out
}

fn one(yaml: &str, line: &str) -> Entry {
    let mut out = run(&mut build(yaml), &[line]);
    assert_eq!(out.len(), 1, "{out:?}");
    out.remove(0)
}

fn get(entry: &Entry, path: &str) -> Option<AnyValue> {
    path.parse::<field::Field>().unwrap().get(entry).map(|v| v.into_owned())
}

fn s(text: &str) -> Option<AnyValue> {
    Some(string_value(text))
}

fn int(i: i64) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::IntValue(i)),
    })
}

fn double(d: f64) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::DoubleValue(d)),
    })
}

const NGINX: &str =
    r#"203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /api/v1/users?id=7 HTTP/1.1" 503 612 "-" "curl/8.4.0""#;

const NGINX_OPERATORS: &str = r#"
operators:
  - type: regex_parser
    regex: '^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>[^"]+)" (?P<status>\d{3}) (?P<bytes>\d+)'
    timestamp:
      parse_from: attributes.time
      layout: '%d/%b/%Y:%H:%M:%S %z'
    severity:
      parse_from: attributes.status
      mapping:
        error: 5xx
        warn: 4xx
        info: [2xx, 3xx]
"#;

#[test]
fn regex_parser_reads_an_nginx_line_with_its_timestamp_and_severity() {
    let entry = one(NGINX_OPERATORS, NGINX);
    assert_eq!(get(&entry, "attributes.client"), s("203.0.113.9"));
    assert_eq!(get(&entry, "attributes.method"), s("GET"));
    assert_eq!(get(&entry, "attributes.path"), s("/api/v1/users?id=7"));
    assert_eq!(get(&entry, "attributes.status"), s("503"));
    assert_eq!(entry.record.time_unix_nano, 1_696_946_136_000_000_000);
    assert_eq!(entry.record.severity_number, 17);
    assert_eq!(entry.record.severity_text, "503");
    // The body stays as read.
    assert_eq!(entry.body_text(), Some(NGINX));
}

#[test]
fn a_line_the_regex_does_not_match_follows_on_error() {
    let garbage = "this is not an access log line";
    // send (default): on unchanged, and counted.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let out = metrics::with_local_recorder(&recorder, || run(&mut build(NGINX_OPERATORS), &[garbage, NGINX]));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].body_text(), Some(garbage));
    assert!(out[0].record.attributes.is_empty());
    assert_eq!(out[1].record.severity_number, 17);
    let rendered = handle.render();
    assert!(
        rendered.contains("otelcol_receiver_filelog_operator_errors{operator=\"regex_parser\"} 1"),
        "{rendered}"
    );
    // drop and drop_quiet: gone.
    for mode in ["drop", "drop_quiet"] {
        let yaml = format!("{NGINX_OPERATORS}    on_error: {mode}\n");
        let out = run(&mut build(&yaml), &[garbage, NGINX, ""]);
        assert_eq!(out.len(), 1, "{mode}");
        assert_eq!(out[0].body_text(), Some(NGINX));
    }
    // A bad timestamp is an error too: the parsed attributes stay, the time does not.
    let bad_time = NGINX.replace("10/Oct/2023", "10/Foo/2023");
    let entry = one(NGINX_OPERATORS, &bad_time);
    assert_eq!(get(&entry, "attributes.method"), s("GET"));
    assert_eq!(entry.record.time_unix_nano, 0);
}

#[test]
fn regex_parser_config_errors_name_the_key() {
    let yaml = "operators:\n  - type: regex_parser\n    regex: '^(\\S+)$'\n";
    assert_eq!(
        errors(yaml),
        ["operators[0].regex: the regex has no named groups, as (?P<name>...)"]
    );
    let yaml = "operators:\n  - type: regex_parser\n    regex: '^(?P<a>x'\n";
    assert!(errors(yaml)[0].starts_with("operators[0].regex: invalid regex"));
    let yaml = "operators:\n  - type: regex_parser\n    regex: '(?P<a>x)'\n    cache: {size: 100}\n";
    assert!(errors(yaml)[0].starts_with("operators[0].cache:"));
    let yaml = "operators:\n  - type: regex_parser\n    regexp: '(?P<a>x)'\n";
    assert_eq!(
        errors(yaml),
        ["operators.0: regex_parser: unknown key `regexp`, did you mean `regex`?"]
    );
    let yaml = "operators:\n  - type: regex_parsre\n";
    assert_eq!(
        errors(yaml),
        ["operators.0: unknown operator type \"regex_parsre\", did you mean regex_parser?"]
    );
    let yaml = "operators:\n  - type: regex_parser\n    regex: '(?P<a>x)'\n    timestamp: {parse_from: attributes.a, layout: '%Q'}\n";
    assert_eq!(errors(yaml), ["operators[0].timestamp.layout: unknown directive %Q"]);
    let yaml = "operators:\n  - type: regex_parser\n    regex: '(?P<a>x)'\n    severity: {parse_from: attributes.a, mapping: {eror: oops}}\n";
    assert!(errors(yaml)[0].starts_with("operators[0].severity.mapping.eror: unknown level"));
}

#[test]
fn json_parser_reads_numbers_as_the_collector_does_unless_told() {
    let line = r#"{"status": 200, "latency": 0.25, "user": {"id": "u1"}, "ok": true, "tags": ["a"], "none": null}"#;
    let yaml = "operators:\n  - type: json_parser\n";
    let entry = one(yaml, line);
    assert_eq!(get(&entry, "attributes.status"), double(200.0));
    assert_eq!(get(&entry, "attributes.latency"), double(0.25));
    assert_eq!(get(&entry, "attributes.user.id"), s("u1"));
    let yaml = "operators:\n  - type: json_parser\n    parse_ints: true\n    parse_to: body\n";
    let entry = one(yaml, line);
    assert_eq!(get(&entry, "body.status"), int(200));
    assert!(entry.record.attributes.is_empty());
    // Not JSON, and JSON that is not an object: errors, the line goes on as it was.
    for bad in ["{\"status\": 200", "[1, 2]", "plain text"] {
        let entry = one("operators:\n  - type: json_parser\n", bad);
        assert_eq!(entry.body_text(), Some(bad));
        assert!(entry.record.attributes.is_empty());
    }
}

#[test]
fn json_parser_then_time_and_severity_from_the_parsed_map() {
    let yaml = r#"
operators:
  - type: json_parser
    timestamp: {parse_from: attributes.time, layout: '%Y-%m-%dT%H:%M:%S.%sZ'}
    severity: {parse_from: attributes.level}
"#;
    let entry = one(
        yaml,
        r#"{"time":"2022-01-02T14:24:56.123456789Z","level":"WARN","msg":"slow"}"#,
    );
    assert_eq!(entry.record.time_unix_nano, 1_641_133_496_123_456_789);
    assert_eq!(entry.record.severity_number, 13);
    assert_eq!(entry.record.severity_text, "WARN");
}

#[test]
fn key_value_parser_splits_pairs_outside_quotes() {
    let yaml = "operators:\n  - type: key_value_parser\n";
    let entry = one(yaml, r#"level=info  msg="user logged in" user='a b' dur=12ms"#);
    assert_eq!(get(&entry, "attributes.level"), s("info"));
    assert_eq!(get(&entry, "attributes.msg"), s("user logged in"));
    assert_eq!(get(&entry, "attributes.user"), s("a b"));
    assert_eq!(get(&entry, "attributes.dur"), s("12ms"));
    let yaml = "operators:\n  - type: key_value_parser\n    delimiter: ':'\n    pair_delimiter: '|'\n";
    let entry = one(yaml, "host:web-1|path:/a|b|code:200");
    let found = format!("{:?}", entry.record.attributes);
    // `b` has no delimiter: the whole line fails.
    assert!(entry.record.attributes.is_empty(), "{found}");
    let entry = one(yaml, "host:web-1|path:\"/a|b\"|code:200");
    assert_eq!(get(&entry, "attributes.path"), s("/a|b"));
    assert_eq!(get(&entry, "attributes.code"), s("200"));
    let yaml = "operators:\n  - type: key_value_parser\n    delimiter: '|'\n    pair_delimiter: '|'\n";
    assert_eq!(
        errors(yaml),
        ["operators[0].pair_delimiter: must differ from delimiter"]
    );
}

#[test]
fn csv_parser_handles_quotes_like_go() {
    let yaml = "operators:\n  - type: csv_parser\n    header: time,method,path,status\n";
    let entry = one(yaml, r#"2023-10-10,GET,"/a,b ""quoted""",200"#);
    assert_eq!(get(&entry, "attributes.path"), s(r#"/a,b "quoted""#));
    assert_eq!(get(&entry, "attributes.status"), s("200"));
    // Wrong field count and a bare quote are errors.
    for bad in ["2023-10-10,GET,/a", r#"2023-10-10,GET,/a"b,200"#] {
        assert!(one(yaml, bad).record.attributes.is_empty(), "{bad}");
    }
    let lazy = "operators:\n  - type: csv_parser\n    header: a,b\n    lazy_quotes: true\n";
    assert_eq!(get(&one(lazy, r#"x"y,"z"w""#), "attributes.a"), s("x\"y"));
    assert_eq!(get(&one(lazy, r#"x"y,"z"w""#), "attributes.b"), s("z\"w"));
    let ignore = "operators:\n  - type: csv_parser\n    header: 'a;b'\n    delimiter: ';'\n    ignore_quotes: true\n";
    assert_eq!(get(&one(ignore, r#""x;y""#), "attributes.b"), s("y\""));
    let yaml = "operators:\n  - type: csv_parser\n    header: a,b\n    delimiter: '::'\n";
    assert_eq!(
        errors(yaml),
        ["operators[0].delimiter: must be one character, not \"::\""]
    );
}

#[test]
fn time_parser_layouts() {
    let cases = [
        (
            "strptime",
            "%Y-%m-%d %H:%M:%S,%L %z",
            "2022-01-02 07:24:56,123 -0700",
            1_641_133_496_123_000_000,
        ),
        (
            "strptime",
            "%Y-%m-%dT%H:%M:%S.%f%j",
            "2022-01-02T14:24:56.000001+00:00",
            1_641_133_496_000_001_000,
        ),
        (
            "strptime",
            "%a %b %e %H:%M:%S %Z %Y",
            "Fri Jun  5 13:50:27 EST 2020",
            1_591_383_027_000_000_000,
        ),
        (
            "strptime",
            "%d/%m/%y %I:%M:%S %p",
            "02/01/22 02:24:56 PM",
            1_641_133_496_000_000_000,
        ),
        ("strptime", "%F %T", "2024-02-29 23:59:59", 1_709_251_199_000_000_000),
        (
            "gotime",
            "Jan 2 15:04:05 MST 2006",
            "Jun 5 13:50:27 EST 2020",
            1_591_383_027_000_000_000,
        ),
        (
            "gotime",
            "2006-01-02T15:04:05.000Z07:00",
            "2022-01-02T15:24:56.250+01:00",
            1_641_133_496_250_000_000,
        ),
        (
            "gotime",
            "2006-01-02T15:04:05Z07:00",
            "2022-01-02T14:24:56.5Z",
            1_641_133_496_500_000_000,
        ),
        ("epoch", "s", "1641133496", 1_641_133_496_000_000_000),
        ("epoch", "s.ms", "1641133496.123", 1_641_133_496_123_000_000),
        ("epoch", "ms", "1641133496123", 1_641_133_496_123_000_000),
        ("epoch", "s.ns", "1641133496.000000001", 1_641_133_496_000_000_001),
    ];
    for (kind, layout, value, want) in cases {
        let yaml = format!("operators:\n  - type: time_parser\n    layout_type: {kind}\n    layout: '{layout}'\n");
        let entry = one(&yaml, value);
        assert_eq!(entry.record.time_unix_nano, want, "{kind} {layout} {value}");
    }
    // Numbers from a parsed map, for epoch layouts.
    let yaml = "operators:\n  - type: json_parser\n  - type: time_parser\n    parse_from: attributes.ts\n    layout_type: epoch\n    layout: ms\n";
    assert_eq!(
        one(yaml, r#"{"ts": 1641133496123}"#).record.time_unix_nano,
        1_641_133_496_123_000_000
    );
    // A fixed location applies to times without an offset.
    let yaml = "operators:\n  - type: time_parser\n    layout: '%Y-%m-%d %H:%M'\n    location: '+01:00'\n";
    assert_eq!(
        one(yaml, "2022-01-02 15:24").record.time_unix_nano,
        1_641_133_440_000_000_000
    );
}

#[test]
fn time_parser_refuses_what_it_cannot_read() {
    let yaml = "operators:\n  - type: time_parser\n    layout: '%Y-%m-%d'\n    on_error: drop\n";
    for bad in [
        "2022-02-30",
        "2022-13-01",
        "2022-01-02 extra",
        "yesterday",
        "",
        "2022-01-0",
    ] {
        assert!(run(&mut build(yaml), &[bad]).is_empty(), "{bad}");
    }
    let yaml = "operators:\n  - type: time_parser\n    layout_type: epoch\n    layout: minutes\n";
    assert!(errors(yaml)[0].starts_with("operators[0].layout: \"minutes\" is not an epoch layout"));
    let yaml = "operators:\n  - type: time_parser\n    layout: '%Y'\n    location: America/New_York\n";
    assert!(errors(yaml)[0].starts_with("operators[0].location:"));
}

#[test]
fn severity_parser_mappings() {
    let yaml = r#"
operators:
  - type: severity_parser
    mapping:
      error: [oops, {min: 900, max: 999}]
      fatal4: 5xx
      info3: 42
"#;
    let cases = [
        ("ERROR", 17),
        ("Warn", 13),
        ("oops", 17),
        ("OOPS", 17),
        ("950", 17),
        ("503", 24),
        ("42", 11),
        ("unheard-of", 0),
    ];
    for (value, number) in cases {
        let entry = one(yaml, value);
        assert_eq!(entry.record.severity_number, number, "{value}");
        assert_eq!(entry.record.severity_text, value);
    }
    let yaml = "operators:\n  - type: severity_parser\n    preset: none\n    overwrite_text: true\n    mapping: {warn: slow}\n";
    let entry = one(yaml, "slow");
    assert_eq!(
        (entry.record.severity_number, entry.record.severity_text.as_str()),
        (13, "WARN")
    );
    assert_eq!(one(yaml, "error").record.severity_number, 0);
    let yaml = "operators:\n  - type: severity_parser\n    mapping: {error: {min: 5, max: 1}}\n";
    assert_eq!(errors(yaml), ["operators[0].mapping.error: range min 5 is above max 1"]);
}

#[test]
fn move_copy_add_remove_flatten() {
    let yaml = r#"
operators:
  - type: json_parser
    parse_to: body
  - type: move
    from: body.req.path
    to: attributes["url.path"]
  - type: copy
    from: body.req.method
    to: resource.method
  - type: add
    field: attributes.env
    value: prod
  - type: add
    field: attributes.limits
    value: {max: 3}
  - type: remove
    field: body.noise
  - type: flatten
    field: body.req
"#;
    let entry = one(yaml, r#"{"req": {"path": "/a", "method": "GET"}, "noise": 1}"#);
    assert_eq!(get(&entry, "attributes[\"url.path\"]"), s("/a"));
    assert_eq!(get(&entry, "resource.method"), s("GET"));
    assert_eq!(get(&entry, "attributes.env"), s("prod"));
    assert_eq!(get(&entry, "attributes.limits.max"), int(3));
    assert_eq!(get(&entry, "body.noise"), None);
    assert_eq!(get(&entry, "body.method"), s("GET"));
    assert_eq!(get(&entry, "body.req"), None);
    // A missing source field is an error; with drop the entry goes.
    let yaml = "operators:\n  - type: move\n    from: body.nothing\n    to: attributes.x\n    on_error: drop_quiet\n";
    assert!(run(&mut build(yaml), &["line"]).is_empty());
    // Flattening a value that is not a map fails and leaves it in place.
    let yaml = "operators:\n  - type: json_parser\n    parse_to: body\n  - type: flatten\n    field: body.a\n";
    assert_eq!(get(&one(yaml, r#"{"a": "text"}"#), "body.a"), s("text"));
    let yaml = "operators:\n  - type: flatten\n    field: attributes.a\n";
    assert!(errors(yaml)[0].starts_with("operators[0].field:"));
}

#[test]
fn output_jumps_skip_operators_and_default_ids_are_numbered() {
    let yaml = r#"
operators:
  - type: add
    field: attributes.first
    value: 1
    output: last
  - type: add
    field: attributes.skipped
    value: 1
  - type: add
    id: last
    field: attributes.last
    value: 1
"#;
    let operators = build(yaml);
    assert_eq!(operators.ids().collect::<Vec<_>>(), ["add", "add1", "last"]);
    let entry = one(yaml, "x");
    assert_eq!(get(&entry, "attributes.first"), int(1));
    assert_eq!(get(&entry, "attributes.skipped"), None);
    assert_eq!(get(&entry, "attributes.last"), int(1));
    // Several outputs: each gets a copy.
    let yaml = r#"
operators:
  - {type: noop, output: [a, b]}
  - {type: add, id: a, field: attributes.via, value: a, output: end}
  - {type: add, id: b, field: attributes.via, value: b}
  - {type: noop, id: end}
"#;
    let out = run(&mut build(yaml), &["x"]);
    let via: Vec<_> = out.iter().map(|e| get(e, "attributes.via")).collect();
    assert_eq!(via, [s("a"), s("b")]);
}

#[test]
fn graph_errors_unknown_ids_cycles_duplicates() {
    let yaml = "operators:\n  - {type: noop, output: lsat}\n  - {type: noop, id: last}\n";
    assert_eq!(
        errors(yaml),
        ["operators[0].output: no operator has the id \"lsat\"; did you mean \"last\"?"]
    );
    let yaml = "operators:\n  - {type: noop, id: a}\n  - {type: noop, id: b, output: a}\n";
    assert_eq!(
        errors(yaml),
        ["operators[1].output: the operators form a cycle: a -> b -> a"]
    );
    let yaml = "operators:\n  - {type: noop, id: a, output: a}\n";
    assert_eq!(
        errors(yaml),
        ["operators[0].output: the operators form a cycle: a -> a"]
    );
    let yaml = "operators:\n  - {type: noop, id: a}\n  - {type: noop, id: a}\n";
    assert_eq!(
        errors(yaml),
        ["operators[1].id: duplicate id \"a\"; ids must be unique"]
    );
    // Every error at once.
    let yaml = "operators:\n  - {type: noop, output: x}\n  - {type: regex_parser, regex: '('}\n";
    assert_eq!(errors(yaml).len(), 2);
}

#[test]
fn no_operators_pass_entries_through() {
    let mut operators = Operators::build(&[]).unwrap();
    assert!(operators.is_empty());
    assert!(!operators.holds_entries());
    let out = run(&mut operators, &["a", "b"]);
    assert_eq!(out.len(), 2);
}

const JAVA_TRACE: [&str; 9] = [
    "2023-10-10 13:55:36 INFO Server started",
    "2023-10-10 13:55:37 ERROR Request failed",
    "java.lang.IllegalStateException: connection pool exhausted",
    "\tat com.example.db.Pool.acquire(Pool.java:88)",
    "\tat com.example.api.UserHandler.get(UserHandler.java:42)",
    "Caused by: java.net.SocketTimeoutException: Read timed out",
    "\t... 12 more",
    "2023-10-10 13:55:38 INFO Request served",
    "2023-10-10 13:55:39 INFO Request served",
];

#[test]
fn recombine_joins_a_java_stack_trace() {
    let yaml = r#"
operators:
  - type: recombine
    combine_field: body
    is_first_entry: body matches "^\\d{4}-\\d{2}-\\d{2}"
"#;
    let mut operators = build(yaml);
    let out = run(&mut operators, &JAVA_TRACE);
    // A record is sent when the next one starts; the last one is held.
    let bodies: Vec<_> = out
        .iter()
        .map(|e| e.body_text().unwrap_or_default().to_string())
        .collect();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert_eq!(bodies[0], JAVA_TRACE[0]);
    assert_eq!(bodies[1], JAVA_TRACE[1..7].join("\n"));
    assert_eq!(bodies[2], JAVA_TRACE[7]);
    assert!(operators.holds_entries());
    let mut rest = Vec::new();
    operators.flush(&mut rest);
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].body_text(), Some(JAVA_TRACE[8]));
    assert!(!operators.holds_entries());
}

#[test]
fn recombine_keeps_sources_apart_and_honours_its_limits() {
    let yaml = r#"
operators:
  - type: recombine
    combine_field: body
    combine_with: ""
    is_last_entry: body matches "\\.$"
    max_batch_size: 3
"#;
    let mut operators = build(yaml);
    let mut out = Vec::new();
    let line = |text: &str, path: &str| {
        let mut entry = Entry::from_line(text.to_string(), 1);
        entry
            .record
            .attributes
            .push(values::key_value("log.file.path", string_value(path)));
        entry
    };
    operators.process(line("a1 ", "/a"), &mut out);
    operators.process(line("b1 ", "/b"), &mut out);
    operators.process(line("a2.", "/a"), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].body_text(), Some("a1 a2."));
    // Three entries without an end: sent at max_batch_size.
    for text in ["b2 ", "b3 "] {
        operators.process(line(text, "/b"), &mut out);
    }
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].body_text(), Some("b1 b2 b3 "));
}

#[test]
fn recombine_sends_a_batch_after_force_flush_period() {
    let yaml = r#"
operators:
  - type: recombine
    combine_field: body
    is_first_entry: body matches "^\\S"
    force_flush_period: 20ms
"#;
    let mut operators = build(yaml);
    let mut out = Vec::new();
    operators.process(Entry::from_line("first".into(), 1), &mut out);
    operators.process(Entry::from_line("  more".into(), 1), &mut out);
    assert!(out.is_empty());
    // Poll with a bound rather than sleep once and hope.
    let deadline = Instant::now() + Duration::from_secs(5);
    while out.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        operators.flush_stale(&mut out);
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].body_text(), Some("first\n  more"));
}

#[test]
fn recombine_config_errors() {
    let yaml = "operators:\n  - {type: recombine, combine_field: body}\n";
    assert_eq!(
        errors(yaml),
        ["operators[0].is_first_entry: exactly one of is_first_entry and is_last_entry must be set"]
    );
    let yaml = "operators:\n  - {type: recombine, combine_field: attributes, is_first_entry: 'body == \"x\"'}\n";
    assert!(errors(yaml)[0].starts_with("operators[0].combine_field:"));
}

#[test]
fn router_sends_each_entry_to_its_first_matching_route() {
    let yaml = r#"
operators:
  - type: router
    routes:
      - expr: 'body matches "^\\{"'
        output: json
        attributes: {format: json}
      - expr: 'body matches "="'
        output: kv
    default: last
  - {type: json_parser, id: json, output: last}
  - {type: key_value_parser, id: kv, output: last}
  - {type: add, id: last, field: attributes.seen, value: true}
"#;
    let out = run(&mut build(yaml), &[r#"{"a": "1"}"#, "a=2", "plain"]);
    assert_eq!(out.len(), 3);
    assert_eq!(get(&out[0], "attributes.a"), s("1"));
    assert_eq!(get(&out[0], "attributes.format"), s("json"));
    assert_eq!(get(&out[1], "attributes.a"), s("2"));
    assert_eq!(get(&out[1], "attributes.format"), None);
    assert_eq!(get(&out[2], "attributes.a"), None);
    for entry in &out {
        assert!(get(entry, "attributes.seen").is_some());
    }
    // Without a default, unrouted entries are dropped.
    let yaml = "operators:\n  - type: router\n    routes: [{expr: 'body == \"keep\"', output: end}]\n  - {type: noop, id: end}\n";
    let out = run(&mut build(yaml), &["keep", "other"]);
    assert_eq!(out.len(), 1);
    let yaml = "operators:\n  - type: router\n    routes: [{expr: 'body == \"x\"', output: nowhere}]\n";
    assert!(errors(yaml)[0].starts_with("operators[0].routes[0].output: no operator"));
    let yaml =
        "operators:\n  - {type: router, output: x, routes: [{expr: 'true', output: x}]}\n  - {type: noop, id: x}\n";
    assert_eq!(
        errors(yaml),
        ["operators[0].output: a router sends by its routes' outputs and default, not output"]
    );
}

#[test]
fn filter_drops_matching_entries_and_if_skips_operators() {
    let yaml = r#"
operators:
  - type: filter
    expr: 'body matches "healthz"'
  - type: add
    if: 'body matches "^POST"'
    field: attributes.write
    value: true
"#;
    let out = run(&mut build(yaml), &["GET /healthz", "POST /users", "GET /users"]);
    assert_eq!(out.len(), 2);
    assert_eq!(
        get(&out[0], "attributes.write"),
        Some(AnyValue {
            value: Some(any_value::Value::BoolValue(true))
        })
    );
    assert_eq!(get(&out[1], "attributes.write"), None);
    // drop_ratio 0 keeps everything.
    let yaml = "operators:\n  - {type: filter, expr: 'body matches \"x\"', drop_ratio: 0.0}\n";
    assert_eq!(run(&mut build(yaml), &["x", "x"]).len(), 2);
    let yaml = "operators:\n  - {type: filter, expr: 'body matches \"x\"', drop_ratio: 2}\n";
    assert!(errors(yaml)[0].starts_with("operators[0].drop_ratio:"));
    let yaml = "operators:\n  - {type: noop, if: 'body ==='}\n";
    assert!(errors(yaml)[0].starts_with("operators[0].if:"));
}

#[test]
fn add_computes_expr_values() {
    let yaml = "operators:\n  - {type: add, field: attributes.copy, value: 'EXPR(body)'}\n";
    assert_eq!(get(&one(yaml, "hello"), "attributes.copy"), s("hello"));
}

#[test]
fn the_chain_can_move_to_a_reader_thread() {
    fn is_send<T: Send>() {}
    is_send::<Operators>();
}

proptest::proptest! {
    /// Whatever a file holds, no operator panics: every parser and layout kind on
    /// arbitrary lines, including ones shaped like what they expect.
    #[test]
    fn no_line_makes_an_operator_panic(
        line in proptest::prop_oneof![
            ".{0,120}",
            r#"[0-9 :./+\-ZTa-zA-Z"',=\[\]{}]{0,60}"#,
            r#"\{"t": ?[0-9.e\-]{0,25}\}"#,
        ]
    ) {
        let yaml = r#"
operators:
  - {type: regex_parser, regex: '^(?P<a>\S+) (?P<b>.*)$', on_error: send_quiet}
  - {type: json_parser, parse_to: attributes.j, on_error: send_quiet}
  - {type: key_value_parser, parse_to: attributes.kv, on_error: send_quiet}
  - {type: csv_parser, header: 'x,y', parse_to: attributes.csv, on_error: send_quiet}
  - {type: csv_parser, header: 'x,y', lazy_quotes: true, parse_to: attributes.lazy, on_error: send_quiet}
  - {type: time_parser, layout: '%a %b %e %H:%M:%S.%f %Z %Y', on_error: send_quiet}
  - {type: time_parser, layout_type: gotime, layout: '2006-01-02T15:04:05.999Z07:00', on_error: send_quiet}
  - {type: time_parser, parse_from: attributes.j.t, layout_type: epoch, layout: s.ns, on_error: send_quiet}
  - {type: time_parser, layout_type: epoch, layout: ns, on_error: send_quiet}
  - {type: severity_parser, mapping: {error: 5xx}, on_error: send_quiet}
  - {type: flatten, field: body.x, on_error: send_quiet}
  - {type: recombine, combine_field: body, is_first_entry: 'body matches "^\\S"', max_log_size: 64}
"#;
        let mut operators = build(yaml);
        let mut out = run(&mut operators, &[line.as_str(), line.as_str()]);
        operators.flush(&mut out);
        proptest::prop_assert!(!out.is_empty());
    }
}
