use std::collections::HashMap;
use std::sync::Arc;

use figment::providers::Format;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;

use super::*;
use crate::testing::{traces, Recorder};

fn raw(yaml: &str) -> RawValue {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .unwrap();
    figment::value::Value::from(dict)
}

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(s(value)),
        ..Default::default()
    }
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(v)) => (kv.key.clone(), v.clone()),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Detects with a fake environment and file system.
fn detect_in(
    detectors: &[DetectorKind],
    env: &[(&str, &str)],
    files: &[(&str, &str)],
    os: &str,
) -> Vec<(String, String)> {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let files: HashMap<String, String> = files.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let lookup = |name: &str| env.get(name).cloned();
    let read = |path: &str| files.get(path).cloned();
    let host = Host {
        env: &lookup,
        read_file: &read,
        os,
    };
    pairs(&detect(detectors, &host))
}

#[test]
fn env_detector_parses_otel_resource_attributes() {
    let found = detect_in(
        &[DetectorKind::Env],
        &[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=api, deployment.environment=prod",
        )],
        &[],
        "linux",
    );
    assert_eq!(
        found,
        owned(&[("service.name", "api"), ("deployment.environment", "prod")])
    );
    assert!(detect_in(&[DetectorKind::Env], &[], &[], "linux").is_empty());
}

#[test]
fn resource_attributes_are_percent_decoded_and_malformed_entries_skipped() {
    assert_eq!(
        parse_resource_attributes("team=a%2Cb%3Dc,note=caf%C3%A9%20au%20lait,plus=a+b"),
        owned(&[("team", "a,b=c"), ("note", "café au lait"), ("plus", "a+b")])
    );
    assert_eq!(
        parse_resource_attributes("novalue,=empty,bad=%zz,short=%4,utf=%ff,ok=1,,eq=a=b"),
        owned(&[("ok", "1"), ("eq", "a=b")])
    );
    assert_eq!(parse_resource_attributes("k=1,k=2"), owned(&[("k", "2")]));
    assert!(parse_resource_attributes("").is_empty());
    assert!(parse_resource_attributes("%").is_empty());
    assert_eq!(percent_decode("%41%42c"), Some("ABc".to_owned()));
    assert_eq!(percent_decode("%"), None);
}

#[test]
fn system_detector_reads_host_name_in_order_and_maps_os_type() {
    let files = [
        ("/etc/hostname", "etc-host\n"),
        ("/proc/sys/kernel/hostname", "proc-host\n"),
    ];
    assert_eq!(
        detect_in(&[DetectorKind::System], &[("HOSTNAME", "env-host")], &files, "linux"),
        owned(&[("host.name", "env-host"), ("os.type", "linux")])
    );
    assert_eq!(
        detect_in(&[DetectorKind::System], &[], &files, "macos"),
        owned(&[("host.name", "etc-host"), ("os.type", "darwin")])
    );
    assert_eq!(
        detect_in(&[DetectorKind::System], &[("HOSTNAME", " ")], &files[1..], "windows"),
        owned(&[("host.name", "proc-host"), ("os.type", "windows")])
    );
    assert_eq!(
        detect_in(&[DetectorKind::System], &[], &[], "linux"),
        owned(&[("os.type", "linux")])
    );
    assert_eq!(os_type("dragonfly"), "dragonflybsd");
    assert_eq!(os_type("freebsd"), "freebsd");
    assert_eq!(os_type("illumos"), "solaris");
}

#[test]
fn k8s_downward_detector_uses_only_the_variables_that_are_set() {
    let env = [
        ("K8S_POD_NAME", "api-7d9f-x2"),
        ("K8S_NAMESPACE_NAME", "shop"),
        ("K8S_POD_IP", "10.0.0.7"),
    ];
    assert_eq!(
        detect_in(&[DetectorKind::K8sDownward], &env, &[], "linux"),
        owned(&[
            ("k8s.pod.name", "api-7d9f-x2"),
            ("k8s.namespace.name", "shop"),
            ("k8s.pod.ip", "10.0.0.7"),
        ])
    );
    let env = [("K8S_NODE_NAME", "node-1")];
    assert_eq!(
        detect_in(&[DetectorKind::K8sDownward], &env, &[], "linux"),
        owned(&[("k8s.node.name", "node-1")])
    );
}

#[test]
fn earlier_detectors_win() {
    let env = [
        ("OTEL_RESOURCE_ATTRIBUTES", "host.name=from-env,k8s.pod.name=from-env"),
        ("HOSTNAME", "sys"),
        ("K8S_POD_NAME", "pod"),
    ];
    assert_eq!(
        detect_in(
            &[DetectorKind::Env, DetectorKind::System, DetectorKind::K8sDownward],
            &env,
            &[],
            "linux"
        ),
        owned(&[
            ("host.name", "from-env"),
            ("k8s.pod.name", "from-env"),
            ("os.type", "linux")
        ])
    );
    assert_eq!(
        detect_in(
            &[DetectorKind::K8sDownward, DetectorKind::System, DetectorKind::Env],
            &env,
            &[],
            "linux"
        ),
        owned(&[("k8s.pod.name", "pod"), ("host.name", "sys"), ("os.type", "linux")])
    );
}

fn detected() -> Arc<Vec<KeyValue>> {
    Arc::new(vec![kv("host.name", "node-1"), kv("k8s.namespace.name", "shop")])
}

fn resource_of_first_span(data: &Telemetry) -> Vec<(String, String)> {
    let Telemetry::Traces(r) = data else { panic!() };
    pairs(&r.resource_spans[0].resource.as_ref().unwrap().attributes)
}

#[test]
fn without_override_existing_attributes_are_kept() {
    let processor = ResourceDetectionProcessor::new(detected(), false, Recorder::new());
    let mut data = traces(&[&["a"]]);
    if let Telemetry::Traces(r) = &mut data {
        r.resource_spans[0]
            .resource
            .as_mut()
            .unwrap()
            .attributes
            .push(kv("host.name", "app-says"));
    }
    processor.process(&mut data);
    assert_eq!(
        resource_of_first_span(&data),
        owned(&[
            ("service.name", "service-0"),
            ("host.name", "app-says"),
            ("k8s.namespace.name", "shop")
        ])
    );
}

#[test]
fn with_override_detected_attributes_replace_existing_ones() {
    let processor = ResourceDetectionProcessor::new(detected(), true, Recorder::new());
    let mut data = traces(&[&["a"]]);
    if let Telemetry::Traces(r) = &mut data {
        r.resource_spans[0]
            .resource
            .as_mut()
            .unwrap()
            .attributes
            .push(kv("host.name", "app-says"));
    }
    processor.process(&mut data);
    assert_eq!(
        resource_of_first_span(&data),
        owned(&[
            ("service.name", "service-0"),
            ("host.name", "node-1"),
            ("k8s.namespace.name", "shop")
        ])
    );
}

#[test]
fn adds_to_the_resources_of_every_signal() {
    let processor = ResourceDetectionProcessor::new(detected(), false, Recorder::new());
    let want = owned(&[("host.name", "node-1"), ("k8s.namespace.name", "shop")]);
    let mut metrics = Telemetry::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics::default(), ResourceMetrics::default()],
    });
    processor.process(&mut metrics);
    let Telemetry::Metrics(r) = metrics else { panic!() };
    for rm in &r.resource_metrics {
        assert_eq!(pairs(&rm.resource.as_ref().unwrap().attributes), want);
    }
    let mut logs = Telemetry::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs::default()],
    });
    processor.process(&mut logs);
    let Telemetry::Logs(r) = logs else { panic!() };
    assert_eq!(pairs(&r.resource_logs[0].resource.as_ref().unwrap().attributes), want);
    // A second pass adds nothing twice.
    let mut data = traces(&[&["a"]]);
    processor.process(&mut data);
    processor.process(&mut data);
    assert_eq!(resource_of_first_span(&data).len(), 3);
}

#[test]
fn detection_runs_once_per_config_and_service() {
    let config = |yaml: &str| DetectionConfig::new(parse_block(&raw(yaml)).unwrap());
    let id = crate::component::ComponentId::parse("resourcedetection").unwrap();
    let state = crate::component::StateStore::default();
    let pod = |name: &'static str| move |key: &str| (key == "K8S_POD_NAME").then(|| name.to_owned());
    let (first_env, second_env, third_env) = (pod("first"), pod("second"), pod("third"));
    fn no_file(_: &str) -> Option<String> {
        None
    }
    fn host(env: &dyn Fn(&str) -> Option<String>) -> Host<'_> {
        Host {
            env,
            read_file: &no_file,
            os: "linux",
        }
    }
    let first = config("detectors: [k8s_downward]").detect_with(&id, &state, &host(&first_env));
    // Parsed again (a reload) with the same block: what was detected is kept.
    let second = config("detectors: [k8s_downward]").detect_with(&id, &state, &host(&second_env));
    assert_eq!(pairs(&second), owned(&[("k8s.pod.name", "first")]));
    assert!(Arc::ptr_eq(&first, &second));
    // A changed block detects again.
    let third = config("detectors: [k8s_downward]\noverride: true").detect_with(&id, &state, &host(&third_env));
    assert_eq!(pairs(&third), owned(&[("k8s.pod.name", "third")]));
}

#[test]
fn config_defaults_and_errors() {
    let config: ResourceDetectionConfig = parse_block(&raw("detectors: [env, system]")).unwrap();
    assert!(!config.override_existing);
    assert_eq!(config.timeout, std::time::Duration::from_secs(5));
    let config: ResourceDetectionConfig = parse_block(&raw("detectors: [env]\noverride: true\ntimeout: 2s")).unwrap();
    assert!(config.override_existing);
    assert_eq!(config.timeout, std::time::Duration::from_secs(2));

    let messages = |yaml: &str| -> Vec<String> {
        parse_block::<ResourceDetectionConfig>(&raw(yaml))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert!(messages("detectors: [sytem]")[0].contains("did you mean system?"));
    assert_eq!(
        messages("detectors: [env, env]\ntimeout: 0s"),
        vec!["detectors[1]: listed twice", "timeout: must be greater than 0"]
    );
    assert!(messages("{}")[0].starts_with("detectors: at least one detector"));
    assert!(messages("detectors: [env]\noverides: true")[0].contains("did you mean override?"));
}

#[tokio::test]
async fn builds_from_the_registry_and_start_shutdown_twice_are_safe() {
    let factory = crate::component::registry::find(crate::components::PROCESSORS, "resourcedetection").unwrap();
    let config = (factory.parse)(&raw("detectors: [system]")).unwrap();
    let next = Recorder::new();
    let processor = crate::testing::build_processor(&*config, "resourcedetection", Signal::Traces, next.clone());
    processor.start().await.unwrap();
    processor.start().await.unwrap();
    processor.consume(traces(&[&["a"]])).await.unwrap();
    processor.shutdown().await;
    processor.shutdown().await;
    let received = next.received.lock().unwrap();
    let attributes = pairs(&match &received[0] {
        Telemetry::Traces(r) => r.resource_spans[0].resource.clone().unwrap().attributes,
        _ => panic!(),
    });
    assert!(attributes.contains(&("os.type".to_owned(), os_type(std::env::consts::OS).to_owned())));
}
