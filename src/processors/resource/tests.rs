use std::sync::Arc;

use figment::providers::Format;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;
use crate::testing::{traces, Recorder};

fn raw(yaml: &str) -> RawValue {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    figment::value::Value::from(dict)
}

fn compile(yaml: &str) -> Result<CompiledResource, Vec<ConfigError>> {
    let config: ResourceConfig = parse_block(&raw(yaml))?;
    CompiledResource::compile(&config)
}

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

fn get<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes.iter().find(|kv| kv.key == key)?.value.as_ref()
}

const ACTIONS: &str = r#"
attributes:
  - {key: deployment.environment, action: upsert, value: production}
  - {key: cloud.region, action: insert, from_attribute: aws.region}
  - {key: host.id, action: hash}
  - {key: process.command_line, action: delete}
  - {key: service.version, action: update, value: "2"}
"#;

fn resource_attributes() -> Vec<KeyValue> {
    vec![
        kv("service.name", s("api")),
        kv("deployment.environment", s("dev")),
        kv("aws.region", s("eu-west-1")),
        kv("host.id", s("user@example.com")),
        kv("process.command_line", s("api --secret=x")),
    ]
}

fn check(attributes: &[KeyValue]) {
    assert_eq!(get(attributes, "deployment.environment"), Some(&s("production")));
    assert_eq!(get(attributes, "cloud.region"), Some(&s("eu-west-1")));
    assert_eq!(
        get(attributes, "host.id"),
        Some(&s("b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514"))
    );
    assert!(get(attributes, "process.command_line").is_none());
    assert!(get(attributes, "service.version").is_none(), "update must not insert");
    assert_eq!(get(attributes, "service.name"), Some(&s("api")));
}

fn processor(yaml: &str) -> ResourceProcessor {
    ResourceProcessor::new(&compile(yaml).unwrap(), Recorder::new())
}

#[test]
fn acts_on_the_resources_of_traces() {
    let mut data = traces(&[&["a"], &["b"]]);
    if let Telemetry::Traces(r) = &mut data {
        for rs in &mut r.resource_spans {
            rs.resource.as_mut().unwrap().attributes = resource_attributes();
            rs.scope_spans[0].spans[0].attributes = vec![kv("process.command_line", s("kept"))];
        }
    }
    processor(ACTIONS).process(&mut data);
    let Telemetry::Traces(r) = data else { panic!() };
    for rs in &r.resource_spans {
        check(&rs.resource.as_ref().unwrap().attributes);
        // Span attributes are not touched.
        assert_eq!(
            rs.scope_spans[0].spans[0].attributes,
            vec![kv("process.command_line", s("kept"))]
        );
    }
}

#[test]
fn acts_on_the_resources_of_metrics_and_logs() {
    let mut data = Telemetry::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource_attributes(),
                ..Default::default()
            }),
            ..Default::default()
        }],
    });
    processor(ACTIONS).process(&mut data);
    let Telemetry::Metrics(r) = data else { panic!() };
    check(&r.resource_metrics[0].resource.as_ref().unwrap().attributes);

    let mut data = Telemetry::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource_attributes(),
                ..Default::default()
            }),
            ..Default::default()
        }],
    });
    processor(ACTIONS).process(&mut data);
    let Telemetry::Logs(r) = data else { panic!() };
    check(&r.resource_logs[0].resource.as_ref().unwrap().attributes);
}

#[test]
fn a_missing_resource_gets_one_for_insert() {
    let mut data = Telemetry::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs::default()],
    });
    processor("attributes: [{key: env, action: insert, value: prod}]").process(&mut data);
    let Telemetry::Logs(r) = data else { panic!() };
    assert_eq!(
        r.resource_logs[0].resource.as_ref().unwrap().attributes,
        vec![kv("env", s("prod"))]
    );
}

#[test]
fn extract_and_convert_work_on_resources() {
    let mut data = traces(&[&["a"]]);
    if let Telemetry::Traces(r) = &mut data {
        r.resource_spans[0].resource.as_mut().unwrap().attributes =
            vec![kv("k8s.pod.name", s("checkout-7d9f-x2")), kv("replicas", s("3"))];
    }
    processor(
        r#"
attributes:
  - {key: k8s.pod.name, action: extract, pattern: '^(?P<k8s.deployment.name>[a-z]+)-'}
  - {key: replicas, action: convert, converted_type: int}
"#,
    )
    .process(&mut data);
    let Telemetry::Traces(r) = data else { panic!() };
    let attributes = &r.resource_spans[0].resource.as_ref().unwrap().attributes;
    assert_eq!(get(attributes, "k8s.deployment.name"), Some(&s("checkout")));
    assert_eq!(
        get(attributes, "replicas"),
        Some(&AnyValue {
            value: Some(any_value::Value::IntValue(3))
        })
    );
}

#[test]
fn config_errors_have_paths_under_attributes() {
    let errs: Vec<String> = compile("attributes: [{key: a, action: upsert}, {key: b, action: extract, pattern: 'x'}]")
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("attributes[0].value: missing"), "{errs:?}");
    assert!(
        errs[1].starts_with("attributes[1].pattern: has no named groups"),
        "{errs:?}"
    );
    let errs = compile("{}").unwrap_err();
    assert_eq!(errs[0].to_string(), "attributes: at least one action is required");
    let errs = compile("actions: [{key: a, action: delete}]").unwrap_err();
    assert!(errs[0].to_string().contains("unknown field"), "{errs:?}");
}

#[tokio::test]
async fn forwards_and_start_shutdown_twice_are_safe() {
    let compiled = compile("attributes: [{key: env, action: upsert, value: prod}]").unwrap();
    let next = Recorder::new();
    let processor: Arc<dyn Processor> =
        crate::testing::build_processor(&compiled, "resource", Signal::Traces, next.clone());
    processor.start().await.unwrap();
    processor.start().await.unwrap();
    processor.consume(traces(&[&["a"]])).await.unwrap();
    processor.shutdown().await;
    processor.shutdown().await;
    let received = next.received.lock().unwrap();
    let Telemetry::Traces(r) = &received[0] else { panic!() };
    assert_eq!(
        get(&r.resource_spans[0].resource.as_ref().unwrap().attributes, "env"),
        Some(&s("prod"))
    );
    assert!(crate::component::registry::find(crate::components::PROCESSORS, "resource").is_some());
}
