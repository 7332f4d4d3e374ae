use std::io::Write;
use std::path::PathBuf;

use super::*;
use crate::confmap::load_with_env;
use figment::providers::Env;
use figment::value::Tag;

fn errors_of(yaml: &str) -> Vec<String> {
    match Config::from_yaml(yaml) {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(ConfigErrors(errors)) => errors.iter().map(ToString::to_string).collect(),
    }
}

const PIPELINE: &str = "
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
";

fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sloop-config-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

#[test]
fn every_example_in_pipelines_validates() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            if let Err(errors) = Config::from_files(std::slice::from_ref(&path)) {
                panic!("{} does not validate:\n{errors}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "expected the example configs in {}", dir.display());
}

#[test]
fn misspelled_key_names_full_path_and_suggestion() {
    let errors = errors_of(&format!(
        "
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  debug:
  otlp_grpc/vendor-a:
    endpoint: localhost:4317
    sending_queue:
      queu_size: 10
{PIPELINE}"
    ));
    assert_eq!(
        errors,
        vec!["exporters.otlp_grpc/vendor-a.sending_queue.queu_size: unknown field, did you mean queue_size?"]
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let errors = errors_of(
        "
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: no-port
processors:
  batch:
    timeout: 5
  bogus:
exporters:
  debug:
    verbosity: loud
  otlpgrpc/x:
    endpoint: a:1
service:
  pipelines:
    traces:
      receivers: [otlp, kafka]
      processors: [batch]
      exporters: [debug, otlp_grpc/missing]
    spans:
      receivers: [otlp]
      exporters: [debug]
",
    );
    let expected = [
        "receivers.otlp.protocols.grpc.endpoint: \"no-port\" is not host:port",
        "processors.batch.timeout: invalid duration 5: missing unit (e.g. 5s)",
        "processors.bogus: \"bogus\" is not a processor type sloop has; the processors sloop has are: attributes, batch,",
        "exporters.debug.verbosity: unknown value, expected one of: basic, normal, detailed",
        "exporters.otlpgrpc/x: unknown exporter type \"otlpgrpc\", did you mean otlp_grpc?",
        "service.pipelines.spans: unknown signal \"spans\"",
        "service.pipelines.traces.receivers[1]: receiver \"kafka\" is not defined under receivers or connectors",
        "service.pipelines.traces.exporters[1]: exporter \"otlp_grpc/missing\" is not defined under exporters",
    ];
    for want in expected {
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "missing {want:?} in:\n{}",
            errors.join("\n")
        );
    }
    assert_eq!(errors.len(), expected.len(), "{}", errors.join("\n"));
}

#[test]
fn component_in_a_pipeline_of_a_signal_it_cannot_handle() {
    // Every shipped component handles all signals today, so check the rule itself
    // with a section whose only type handles traces.
    let mut section: Section<dyn ProcessorConfig> = BTreeMap::new();
    section.insert(ComponentId::parse("spanonly").unwrap(), (&[Signal::Traces], None));
    let mut errors = Vec::new();
    let (ids, _) = resolve_ids(
        "service.pipelines.logs",
        "processors",
        "processor",
        &["spanonly".to_string()],
        &section,
        None,
        Signal::Logs,
        &mut errors,
    );
    assert!(ids.is_empty());
    assert_eq!(
        errors[0].to_string(),
        "service.pipelines.logs.processors[0]: processor \"spanonly\" does not support logs (it handles: traces)"
    );
}

#[test]
fn pipeline_needs_receiver_and_exporter_and_no_duplicates() {
    let errors = errors_of(
        "
processors:
  batch:
exporters:
  debug:
service:
  pipelines:
    logs:
      processors: [batch, batch]
      exporters: [debug]
",
    );
    assert!(errors.contains(&"service.pipelines.logs.processors[1]: processor \"batch\" is listed twice".to_string()));
    assert!(errors.contains(&"service.pipelines.logs.receivers: a pipeline needs at least one receiver".to_string()));
}

#[test]
fn missing_service_is_an_error() {
    assert_eq!(
        errors_of("exporters:\n  debug:\n"),
        vec!["service: missing: a config needs service.pipelines"]
    );
}

#[test]
fn unknown_top_level_section_is_an_error() {
    let errors = errors_of(&format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\nexporters:\n  debug:\nconnector:\n  x:\n{PIPELINE}"
    ));
    assert_eq!(errors, vec!["connector: unknown section, did you mean connectors?"]);
}

#[test]
fn files_merge_in_order_and_env_expands() {
    let base = write_temp(
        "base.yaml",
        &format!("receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: localhost:1111\nexporters:\n  debug:\n{PIPELINE}"),
    );
    let overlay = write_temp(
        "overlay.yaml",
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: ${env:SLOOP_TEST_HOST:-127.0.0.1}:${env:SLOOP_TEST_PORT}\n",
    );
    let lookup = |name: &str| (name == "SLOOP_TEST_PORT").then(|| "2222".to_string());
    let (dict, errors) = load_with_env(&[base, overlay], &lookup, Env::prefixed("SLOOP_TEST_UNSET_PREFIX_")).unwrap();
    assert_eq!(errors, vec![]);
    let endpoint = Value::Dict(Tag::Default, dict)
        .find("receivers.otlp.protocols.grpc.endpoint")
        .and_then(|v| v.into_string());
    assert_eq!(endpoint.as_deref(), Some("127.0.0.1:2222"));
}

#[test]
fn env_overrides_use_prefix_and_double_underscore() {
    let file = write_temp(
        "env.yaml",
        &format!("receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  debug:\n{PIPELINE}"),
    );
    // A prefix no other test uses; variables outside the known sections are ignored.
    std::env::set_var("SLOOPCFGTEST_SERVICE__TELEMETRY__LOGS__LEVEL", "debug");
    std::env::set_var("SLOOPCFGTEST_BIN", "/not/a/section");
    let (dict, _) = load_with_env(&[file], &|_| None, Env::prefixed("SLOOPCFGTEST_")).unwrap();
    let config = Config::from_dict(dict).unwrap();
    assert_eq!(config.telemetry.logs.level, LogLevel::Debug);
}

#[test]
fn unset_variable_without_default_names_its_path() {
    let file = write_temp(
        "unset.yaml",
        &format!("receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  otlp_grpc:\n    endpoint: x:1\n    headers:\n      api-key: ${{env:SLOOP_DEFINITELY_UNSET}}\n{PIPELINE}"),
    );
    let (_, errors) = load_with_env(&[file], &|_| None, Env::prefixed("SLOOP_TEST_UNSET_PREFIX_")).unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "exporters.otlp_grpc.headers.api-key");
    assert!(errors[0].message.contains("SLOOP_DEFINITELY_UNSET is not set"));
}

#[test]
fn missing_file_and_bad_yaml_are_reported() {
    let missing = Config::from_files(&[PathBuf::from("/nonexistent/sloop.yaml")]).unwrap_err();
    assert!(missing
        .to_string()
        .contains("/nonexistent/sloop.yaml: no such config file"));
    let bad = write_temp("bad.yaml", "receivers: [unclosed\n");
    let errors = Config::from_files(&[bad]).unwrap_err();
    assert!(errors.to_string().contains("cannot read config"), "{errors}");
}

#[test]
fn defaults_match_the_collector() {
    let config = Config::from_yaml(&format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  debug:\n{PIPELINE}"
    ))
    .unwrap();
    assert_eq!(
        config.telemetry.metrics.readers_to_run()[0].0,
        "service.telemetry.metrics.address"
    ); // the default 127.0.0.1:8888
    assert_eq!(config.shutdown_timeout, Duration::from_secs(10));
    let batch: crate::processors::batch::BatchConfig =
        parse_block(&Value::Empty(Tag::Default, figment::value::Empty::None)).unwrap();
    assert_eq!(
        (batch.timeout, batch.send_batch_size, batch.send_batch_max_size),
        (Duration::from_millis(200), 8192, 0)
    );
    let exporter: crate::exporters::otlp_grpc::OtlpGrpcConfig =
        parse_block(&Value::from(figment::util::map! { "endpoint" => "x:1" })).unwrap();
    assert_eq!(exporter.timeout, Duration::from_secs(5));
    assert_eq!(
        (exporter.sending_queue.queue_size, exporter.sending_queue.num_consumers),
        (1000, 10)
    );
    let retry = &exporter.retry_on_failure;
    assert_eq!(
        (
            retry.initial_interval,
            retry.max_interval,
            retry.max_elapsed_time,
            retry.multiplier
        ),
        (
            Duration::from_secs(5),
            Duration::from_secs(30),
            Duration::from_secs(300),
            1.5
        )
    );
}

#[test]
fn an_slo_processor_runs_in_one_pipeline_and_objective_names_are_unique() {
    let errors = errors_of(
        "
receivers:
  otlp:
    protocols:
      grpc:
processors:
  sli:
    slis:
      - name: homepage
        good: 'attributes[\"ok\"] == true'
  slo:
    objectives:
      - {name: home, sli: homepage, target: 0.99}
  slo/other:
    objectives:
      - {name: home, sli: homepage, target: 0.9}
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [sli, slo]
      exporters: [debug]
    logs:
      receivers: [otlp]
      processors: [sli, slo, slo/other]
      exporters: [debug]
",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("processors.slo: used in pipelines logs, traces")),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"processors.slo/other.objectives[0].name: SLO \"home\" is already defined at processors.slo.objectives[0].name".to_string()),
        "{errors:?}"
    );
}

#[test]
fn condition_errors_point_into_block_scalars_and_skip_lookalikes() {
    let yaml = "receivers:
  otlp:
    protocols:
      grpc:
processors:
  sli:
    slis:
      - name: a
        good: |
          attributes[\"code\"] == 200
            and duration < 1s
      - name: b
        good: |
          attributes[\"code\"] == 200
            and duraton < 1s
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [sli]
      exporters: [debug]
";
    let errors = errors_of(yaml);
    // `duraton` is on file line 15; the block is indented by 10, the token sits 6
    // further in: column 17.
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("processors.sli.slis[1].good: <config>:15:17: unknown path duraton"),
        "{errors:?}"
    );
}

#[test]
fn empty_nested_blocks_mean_defaults() {
    let config = Config::from_yaml(
        "
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  otlp_grpc:
    endpoint: x:1
    tls:
    sending_queue:
    retry_on_failure:
service:
  telemetry:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_grpc]
",
    )
    .unwrap();
    assert_eq!(
        config.telemetry.metrics.readers_to_run()[0].0,
        "service.telemetry.metrics.address"
    ); // the default 127.0.0.1:8888
}

#[test]
fn a_persistent_queue_must_name_a_storage_extension_the_service_runs() {
    let config = |storage: &str, listed: &str| {
        format!(
            "
receivers:
  otlp:
    protocols:
      grpc:
extensions:
  file_storage:
    directory: /tmp/sloop-queue
  health_check:
exporters:
  otlp_grpc:
    endpoint: 127.0.0.1:4317
    sending_queue:
      storage: {storage}
service:
  extensions: [{listed}]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_grpc]
"
        )
    };
    let at = "exporters.otlp_grpc.sending_queue.storage";
    let errors = errors_of(&config("file_storage/other", "file_storage"));
    assert_eq!(
        errors,
        [format!(
            "{at}: extension \"file_storage/other\" is not defined under extensions"
        )]
    );
    let errors = errors_of(&config("file_storage", "health_check"));
    assert_eq!(
        errors,
        [format!(
            "{at}: extension \"file_storage\" is not listed in service.extensions"
        )]
    );
    let errors = errors_of(&config("health_check", "health_check"));
    assert_eq!(
        errors,
        [format!(
            "{at}: extension \"health_check\" is not a storage extension (use file_storage)"
        )]
    );
    Config::from_yaml(&config("file_storage", "file_storage, health_check")).expect("a listed file_storage is fine");
}

#[test]
fn an_authenticator_must_be_an_extension_of_the_right_side_the_service_runs() {
    let config = |receiver: &str, exporter: &str, listed: &str| {
        format!(
            "
receivers:
  otlp:
    protocols:
      grpc:
        auth: {{authenticator: {receiver}}}
      http:
        endpoint: 127.0.0.1:4318
extensions:
  bearertokenauth:
    token: a-very-secret-token
  headers_setter:
    headers: [{{key: x, value: v}}]
  health_check:
exporters:
  otlp_grpc:
    endpoint: 127.0.0.1:4317
    auth: {{authenticator: {exporter}}}
service:
  extensions: [{listed}]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_grpc]
"
        )
    };
    let grpc = "receivers.otlp.protocols.grpc.auth.authenticator";
    let exporter = "exporters.otlp_grpc.auth.authenticator";
    let all = "bearertokenauth, headers_setter, health_check";
    let errors = errors_of(&config("basicauth", "headers_setter", all));
    assert_eq!(
        errors,
        [format!(
            "{grpc}: extension \"basicauth\" is not defined under extensions"
        )]
    );
    let errors = errors_of(&config("headers_setter", "health_check", all));
    assert_eq!(
        errors,
        [
            format!("{grpc}: extension \"headers_setter\" is not a server authenticator, so it cannot be used here"),
            format!("{exporter}: extension \"health_check\" is not an authenticator"),
        ]
    );
    let errors = errors_of(&config("bearertokenauth", "bearertokenauth", "headers_setter"));
    assert_eq!(
        errors,
        [
            format!("{grpc}: extension \"bearertokenauth\" is not listed in service.extensions"),
            format!("{exporter}: extension \"bearertokenauth\" is not listed in service.extensions"),
        ]
    );
    let fine = Config::from_yaml(&config("bearertokenauth", "headers_setter", all)).expect("valid");
    let shown = format!("{:?}", fine.extensions);
    assert!(!shown.contains("a-very-secret-token"), "{shown}");
}

fn env(name: &str) -> Option<String> {
    match name {
        "API_KEY" => Some("secret".into()),
        "OTLP_PORT" => Some("4317".into()),
        _ => None,
    }
}

#[test]
fn references_without_a_scheme_read_the_environment_as_in_the_collector() {
    let config = Config::from_yaml_with_env(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:${OTLP_PORT}\n\
         exporters:\n  otlp_http:\n    endpoint: http://127.0.0.1:${NOT_SET:-4318}\n    headers:\n      \
         authorization: Bearer ${API_KEY}\n      x-literal: $${API_KEY}\n\
         service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp_http]\n",
        &env,
    )
    .unwrap();
    let rendered = format!("{:?}", config.exporters);
    assert!(rendered.contains("Bearer secret"), "{rendered}");
    assert!(rendered.contains("${API_KEY}"), "{rendered}");
    assert!(rendered.contains("127.0.0.1:4318"), "{rendered}");
}

#[test]
fn every_error_of_the_file_is_reported_at_once() {
    // An unset variable, an error in service.telemetry, an unknown component, a
    // block with three unknown keys and a broken pipeline: each is reported, and
    // nothing is reported twice.
    let errors = Config::from_yaml_with_env(
        "
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
  kafka:
processors:
  batch:
    timeot: 1s
    send_batch_sise: 10
    bogus: true
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:4318
    headers:
      authorization: Bearer ${env:UNSET_TOKEN}
service:
  telemetry:
    logs:
      lvel: info
  pipelines:
    traces:
      receivers: [otlp, kafka]
      processors: [batch, nope]
      exporters: [otlp_http]
",
        &env,
    )
    .unwrap_err()
    .0;
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let want = [
        "exporters.otlp_http.headers.authorization: environment variable UNSET_TOKEN is not set",
        "receivers.kafka: \"kafka\" is not a receiver type sloop has; the receivers sloop has are: ",
        "processors.batch.timeot: unknown field, did you mean timeout?",
        "processors.batch.send_batch_sise: unknown field, did you mean send_batch_size?",
        "processors.batch.bogus: unknown field",
        "service.telemetry.logs.lvel: unknown field, did you mean level?",
        "service.pipelines.traces.processors[1]: processor \"nope\" is not defined under processors",
    ];
    for want in want {
        assert!(
            text.iter().any(|e| e.starts_with(want)),
            "missing {want:?} in:\n{}",
            text.join("\n")
        );
    }
    assert_eq!(text.len(), want.len(), "{}", text.join("\n"));
}

#[test]
fn did_you_mean_only_for_near_misses() {
    let errors = errors_of(&format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:4317\n\
         processors:\n  k8s_attributes:\n  memorylimiter:\nexporters:\n  debug:\n{PIPELINE}"
    ));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("processors.k8s_attributes: \"k8s_attributes\" is not a processor type sloop has"),
        "{errors:?}"
    );
    assert!(!errors[0].contains("did you mean"), "{errors:?}");
    assert_eq!(
        errors[1],
        "processors.memorylimiter: unknown processor type \"memorylimiter\", did you mean memory_limiter?"
    );
}

#[test]
fn empty_sections_and_hostless_endpoints_load() {
    let config = Config::from_yaml(
        "
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: :4317
      http:
        endpoint: \":4318\"
processors:
connectors: {}
extensions:
exporters:
  debug:
service:
  extensions:
  pipelines:
    traces:
      receivers: [otlp]
      processors:
      exporters: [debug]
",
    )
    .unwrap();
    assert_eq!(config.pipelines.len(), 1);
    assert!(config.processors.is_empty() && config.connectors.is_empty());
    assert_eq!(crate::accept::listen_address(":4317"), "0.0.0.0:4317");
    assert_eq!(crate::accept::listen_address("127.0.0.1:4317"), "127.0.0.1:4317");
}

#[test]
fn deprecated_type_names_work_with_a_warning() {
    let config = Config::from_yaml(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:4317\n\
         processors:\n  resourcedetection:\n    detectors: [env]\n  resource_detection/new:\n    detectors: [env]\n\
         exporters:\n  debug:\n  otlp:\n    endpoint: 127.0.0.1:4317\n  otlphttp:\n    endpoint: http://127.0.0.1:4318\n\
         service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [resourcedetection, resource_detection/new]\n      exporters: [debug, otlp, otlphttp]\n"
    )
    .unwrap();
    let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        vec![
            "processors.resourcedetection: \"resourcedetection\" is a deprecated name of the processor type \"resource_detection\"; it works the same, but write \"resource_detection\"",
            "exporters.otlp: \"otlp\" is a deprecated name of the exporter type \"otlp_grpc\"; it works the same, but write \"otlp_grpc\"",
            "exporters.otlphttp: \"otlphttp\" is a deprecated name of the exporter type \"otlp_http\"; it works the same, but write \"otlp_http\"",
        ]
    );
    // The registry holds both spellings of every renamed type.
    for (old, new) in [
        ("resourcedetection", "resource_detection"),
        ("loadbalancing", "load_balancing"),
        ("spanmetrics", "span_metrics"),
        ("otlp", "otlp_grpc"),
        ("otlphttp", "otlp_http"),
        ("logging", "debug"),
    ] {
        let found = registry::find(components::PROCESSORS, old)
            .map(|f| f.type_name)
            .or_else(|| registry::find(components::EXPORTERS, old).map(|f| f.type_name))
            .or_else(|| registry::find(components::CONNECTORS, old).map(|f| f.type_name));
        assert_eq!(found, Some(new), "{old}");
    }
}
