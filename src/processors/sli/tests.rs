use std::sync::Arc;

use figment::providers::Format;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

use super::*;
use crate::testing::{traces, Recorder};

fn compile(yaml: &str) -> Result<CompiledSlis, Vec<ConfigError>> {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    let config: SliProcessorConfig = parse_block(&figment::value::Value::from(dict))?;
    CompiledSlis::compile(config)
}

fn int(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

fn boolean(key: &str, v: bool) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::BoolValue(v)),
        }),
        ..Default::default()
    }
}

fn string_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?
    {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

const HOMEPAGE: &str = r#"
slis:
  - name: homepage
    when: 'name == "GET /"'
    exclude:
      - 'attributes["synthetic"] == true'
    good: 'attributes["http.response.status_code"] == 200 and duration < 300ms'
"#;

async fn run(compiled: &CompiledSlis, signal: Signal, data: Telemetry) -> Telemetry {
    let next = Recorder::new();
    let processor: Arc<dyn Processor> = crate::testing::build_processor(compiled, "sli", signal, next.clone());
    processor.consume(data).await.unwrap();
    let mut received = next.received.lock().unwrap();
    received.remove(0)
}

#[tokio::test]
async fn tags_eligible_spans_good_or_bad_and_leaves_others_untouched() {
    let compiled = compile(HOMEPAGE).unwrap();
    let mut data = traces(&[&["GET /", "GET /", "GET /", "GET /", "POST /cart"]]);
    if let Telemetry::Traces(r) = &mut data {
        let spans = &mut r.resource_spans[0].scope_spans[0].spans;
        spans[0].attributes.push(int("http.response.status_code", 200)); // 250ms: good
        spans[1].attributes.push(int("http.response.status_code", 500)); // bad
        spans[2].attributes.push(int("http.response.status_code", 200));
        spans[2].end_time_unix_nano = spans[2].start_time_unix_nano + 300_000_000; // not < 300ms: bad
        spans[3].attributes.push(int("http.response.status_code", 200));
        spans[3].attributes.push(boolean("synthetic", true)); // excluded
    }
    let original = data.clone();
    let Telemetry::Traces(out) = run(&compiled, Signal::Traces, data).await else {
        panic!()
    };
    let spans = &out.resource_spans[0].scope_spans[0].spans;
    let tags: Vec<Option<&str>> = spans
        .iter()
        .map(|s| string_attr(&s.attributes, "sli.homepage"))
        .collect();
    assert_eq!(tags, vec![Some("good"), Some("bad"), Some("bad"), None, None]);
    // Nothing else changed.
    let Telemetry::Traces(original) = original else {
        panic!()
    };
    for (before, after) in original.resource_spans[0].scope_spans[0].spans.iter().zip(spans) {
        let mut after = after.clone();
        after.attributes.retain(|kv| kv.key != "sli.homepage");
        assert_eq!(before, &after);
    }
}

#[tokio::test]
async fn a_repeated_pass_replaces_the_tag_instead_of_duplicating_it() {
    let compiled = compile(HOMEPAGE).unwrap();
    let mut data = traces(&[&["GET /"]]);
    if let Telemetry::Traces(r) = &mut data {
        r.resource_spans[0].scope_spans[0].spans[0]
            .attributes
            .push(int("http.response.status_code", 200));
    }
    let once = run(&compiled, Signal::Traces, data).await;
    let Telemetry::Traces(twice) = run(&compiled, Signal::Traces, once).await else {
        panic!()
    };
    let attributes = &twice.resource_spans[0].scope_spans[0].spans[0].attributes;
    assert_eq!(attributes.iter().filter(|kv| kv.key == "sli.homepage").count(), 1);
}

fn text(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// The forged-verdict finding of issue 13: `/health` spans sent with
/// `sli.homepage=bad` and bot spans with `sli.homepage=good` were counted.
#[tokio::test]
async fn verdicts_a_client_sent_are_removed_or_overwritten() {
    let compiled = compile(HOMEPAGE).unwrap();
    let mut data = traces(&[&["GET /health", "GET /", "GET /", "GET /"]]);
    if let Telemetry::Traces(r) = &mut data {
        let spans = &mut r.resource_spans[0].scope_spans[0].spans;
        // Not eligible: the forged verdict goes.
        spans[0].attributes.push(text("sli.homepage", "bad"));
        // Excluded: the forged verdict goes, every copy of it.
        spans[1].attributes.push(text("sli.homepage", "good"));
        spans[1].attributes.push(boolean("synthetic", true));
        spans[1].attributes.push(text("sli.homepage", "good"));
        // Classified bad (500): the forged `good`, and its repeat, give way.
        spans[2].attributes.push(text("sli.homepage", "good"));
        spans[2].attributes.push(int("http.response.status_code", 500));
        spans[2].attributes.push(text("sli.homepage", "good"));
        // A verdict of an SLI this processor does not define passes through.
        spans[3].attributes.push(text("sli.checkout", "bad"));
        spans[3].attributes.push(int("http.response.status_code", 200));
    }
    let Telemetry::Traces(out) = run(&compiled, Signal::Traces, data).await else {
        panic!()
    };
    let spans = &out.resource_spans[0].scope_spans[0].spans;
    let verdicts = |i: usize| -> Vec<&str> {
        spans[i]
            .attributes
            .iter()
            .filter(|kv| kv.key == "sli.homepage")
            .map(|kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.as_str(),
                _ => "?",
            })
            .collect()
    };
    assert_eq!(verdicts(0), Vec::<&str>::new(), "not eligible");
    assert_eq!(verdicts(1), Vec::<&str>::new(), "excluded");
    assert_eq!(verdicts(2), vec!["bad"], "classified");
    assert_eq!(verdicts(3), vec!["good"]);
    assert_eq!(string_attr(&spans[3].attributes, "sli.checkout"), Some("bad"));
    assert!(
        spans[2]
            .attributes
            .iter()
            .any(|kv| kv.key == "http.response.status_code"),
        "other attributes stay"
    );
}

#[tokio::test]
async fn classifies_load_balancer_access_logs() {
    let compiled = compile(
        r#"
slis:
  - name: lb
    when: 'attributes["url.path"] == "/"'
    good: 'attributes["http.response.status_code"] < 500'
"#,
    )
    .unwrap();
    let log = |path: &str, status: i64| LogRecord {
        attributes: vec![
            KeyValue {
                key: "url.path".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(path.into())),
                }),
                ..Default::default()
            },
            int("http.response.status_code", status),
        ],
        ..Default::default()
    };
    let data = Telemetry::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![log("/", 200), log("/", 503), log("/health", 503)],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let Telemetry::Logs(out) = run(&compiled, Signal::Logs, data).await else {
        panic!()
    };
    let tags: Vec<Option<&str>> = out.resource_logs[0].scope_logs[0]
        .log_records
        .iter()
        .map(|l| string_attr(&l.attributes, "sli.lb"))
        .collect();
    assert_eq!(tags, vec![Some("good"), Some("bad"), None]);
}

#[test]
fn span_only_conditions_cannot_run_on_logs() {
    let compiled = compile(HOMEPAGE).unwrap();
    assert!(compiled.check_signal(Signal::Traces).is_ok());
    let why = compiled.check_signal(Signal::Logs).unwrap_err();
    assert!(why.contains("slis[0].when") && why.contains("name"), "{why}");
    assert_eq!(compiled.names, vec!["homepage".to_string()]);
}

#[test]
fn a_condition_invalid_everywhere_is_an_error_with_its_position() {
    let errors = compile("slis:\n  - name: x\n    good: 'duration < \"abc\"'\n").unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "slis[0].good");
    let locate = errors[0].locate.as_ref().unwrap();
    assert_eq!((locate.line, locate.column), (1, 12));
    assert!(errors[0].message.contains("string"), "{}", errors[0].message);
}

#[test]
fn names_must_be_unique_and_plain() {
    let errors =
        compile("slis:\n  - {name: a, good: 'true'}\n  - {name: a, good: 'true'}\n  - {name: 'a b', good: 'true'}\n")
            .unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, vec!["slis[1].name", "slis[2].name"]);
}

/// The errors `Config::from_yaml` reports for a traces pipeline running
/// `processors` (a YAML list) with the given processor blocks.
fn wiring_errors(blocks: &str, processors: &str) -> Vec<String> {
    let yaml = format!(
        "receivers: {{otlp: {{protocols: {{grpc: }}}}}}\nprocessors:\n{blocks}exporters: {{debug: }}\n\
         service: {{pipelines: {{traces: {{receivers: [otlp], processors: {processors}, exporters: [debug]}}}}}}\n"
    );
    match crate::config::Config::from_yaml(&yaml) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

const SLI_BLOCK: &str = "  sli: {slis: [{name: homepage, good: 'true'}]}\n";
const SLO_BLOCK: &str = "  slo: {objectives: [{name: home, sli: homepage, target: 0.99}]}\n";

#[test]
fn slis_used_later_must_be_defined_by_an_sli_processor_before() {
    assert_eq!(
        wiring_errors(&format!("{SLI_BLOCK}{SLO_BLOCK}"), "[sli, slo]"),
        Vec::<String>::new()
    );
    // No sli processor before it at all: say what to add.
    assert_eq!(
        wiring_errors(&format!("{SLI_BLOCK}{SLO_BLOCK}"), "[slo, sli]"),
        vec![
            "processors.slo.objectives[0].sli: \"homepage\" is not defined by a processor before slo in pipeline \
             traces (add an sli processor before it)"
                .to_string()
        ]
    );
    // A near miss: suggest it.
    let typo = "  slo: {objectives: [{name: home, sli: homepag, target: 0.99}]}\n";
    let errors = wiring_errors(&format!("{SLI_BLOCK}{typo}"), "[sli, slo]");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].ends_with("did you mean homepage?"), "{errors:?}");
    // Defined, but not this one: list what is.
    let other = "  slo: {objectives: [{name: home, sli: checkout, target: 0.99}]}\n";
    let errors = wiring_errors(&format!("{SLI_BLOCK}{other}"), "[sli, slo]");
    assert!(errors[0].ends_with("(defined: homepage)"), "{errors:?}");
}

#[test]
fn a_gateway_that_trusts_upstream_verdicts_needs_no_sli_processor() {
    let trusting = "  slo: {trust_upstream_verdicts: true, objectives: [{name: home, sli: homepage, target: 0.99}]}\n";
    assert_eq!(wiring_errors(trusting, "[slo]"), Vec::<String>::new());
    // Off by default: the same pipeline without the key is refused.
    assert_eq!(wiring_errors(SLO_BLOCK, "[slo]").len(), 1);
}

#[test]
fn an_sli_block_with_errors_does_not_make_its_names_reported_missing() {
    let broken = "  sli: {slis: [{name: homepage, good: 'duraton < 1s'}]}\n";
    let errors = wiring_errors(&format!("{broken}{SLO_BLOCK}"), "[sli, slo]");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("processors.sli.slis[0].good"), "{errors:?}");
}
