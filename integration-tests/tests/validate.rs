//! `sloop validate` accepts good configs and rejects a typo'd key with a
//! precise path and a suggestion; `sloop --config` with that bad config
//! exits non-zero without ever opening its receiver ports.

use std::ffi::OsStr;
use std::time::{Duration, Instant};

use integration_tests::{free_port, port_is_open, workspace_root, Sloop, SloopPorts};

const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
const TYPO_PATH: &str = "exporters.otlp_grpc/vendor-a.sending_queue.queu_size";

fn config_with_queue(ports: &SloopPorts, queue_key: &str) -> String {
    format!(
        "{receivers}\
processors:
  batch:
    timeout: 100ms
exporters:
  otlp_grpc/vendor-a:
    endpoint: 127.0.0.1:{backend}
    tls:
      insecure: true
    sending_queue:
      {queue_key}: 100
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        backend = free_port(),
        service = ports.service_yaml(&["batch"], &["otlp_grpc/vendor-a"]),
    )
}

/// Lower-cased, with quotes and backticks removed, so that e.g.
/// "did you mean `queue_size`?" matches "did you mean queue_size".
fn normalized(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '`' | '\'' | '"'))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_accepts_the_default_pipeline() {
    let path = workspace_root().join("pipelines").join("default.yaml");
    assert!(path.is_file(), "{} does not exist", path.display());
    let mut sloop = Sloop::spawn(&[OsStr::new("validate"), OsStr::new("--config"), path.as_os_str()], &[]);
    let status = sloop.wait_exit(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "`sloop validate --config {}` failed with {status}\n{}",
        path.display(),
        sloop.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_accepts_a_correct_config_without_listening() {
    let ports = SloopPorts::new();
    let mut sloop = Sloop::spawn(&["validate"], &[&config_with_queue(&ports, "queue_size")]);
    let status = sloop.wait_exit(EXIT_TIMEOUT).await;
    assert!(status.success(), "validate failed with {status}\n{}", sloop.logs());
    assert!(!port_is_open(ports.grpc) && !port_is_open(ports.http));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_a_typo_with_its_path_and_a_suggestion() {
    let ports = SloopPorts::new();
    let mut sloop = Sloop::spawn(&["validate"], &[&config_with_queue(&ports, "queu_size")]);
    let status = sloop.wait_exit(EXIT_TIMEOUT).await;
    assert!(
        !status.success(),
        "validate accepted a config with a typo'd key\n{}",
        sloop.logs()
    );
    let stderr = sloop.stderr();
    assert!(
        stderr.contains(TYPO_PATH),
        "stderr should name the full key path {TYPO_PATH:?}\n{}",
        sloop.logs()
    );
    assert!(
        normalized(&stderr).contains("did you mean queue_size"),
        "stderr should suggest queue_size\n{}",
        sloop.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_with_a_bad_config_fails_before_listening() {
    let ports = SloopPorts::new();
    let mut sloop = Sloop::spawn(&[] as &[&str], &[&config_with_queue(&ports, "queu_size")]);
    let deadline = Instant::now() + EXIT_TIMEOUT;
    let mut opened = Vec::new();
    let status = loop {
        for (name, port) in [
            ("otlp grpc", ports.grpc),
            ("otlp http", ports.http),
            ("health_check", ports.health),
        ] {
            if port_is_open(port) && !opened.contains(&name) {
                opened.push(name);
            }
        }
        if let Some(status) = sloop.try_exit_status() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "sloop kept running with an invalid config\n{}",
            sloop.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        !status.success(),
        "sloop exited 0 with an invalid config\n{}",
        sloop.logs()
    );
    assert!(
        opened.is_empty(),
        "sloop opened {opened:?} before rejecting its config\n{}",
        sloop.logs()
    );
    assert!(
        sloop.stderr().contains(TYPO_PATH),
        "the startup error should name {TYPO_PATH:?}\n{}",
        sloop.logs()
    );
}

/// Invalid regexes in `attributes` (an action's and a matcher's) and invalid
/// `tail_sampling` policies (a regex and a condition), in a traces pipeline.
fn config_with_invalid_patterns(ports: &SloopPorts) -> String {
    format!(
        r#"{receivers}processors:
  attributes:
    actions:
      - {{key: a, action: delete, pattern: '(unclosed'}}
    exclude:
      match_type: regexp
      span_names: ['^health', '[']
  tail_sampling:
    policies:
      - {{name: tenants, type: string_attribute, string_attribute: {{key: tenant, values: ['^a', '(a'], enabled_regex_matching: true}}}}
      - {{name: slow, type: ottl_condition, ottl_condition: {{span: ['duration > "abc"']}}}}
exporters:
  debug:
service:
  telemetry: {{metrics: {{address: "127.0.0.1:{telemetry}"}}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [attributes, tail_sampling], exporters: [debug]}}
"#,
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        telemetry = ports.telemetry,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_refuses_invalid_regexes_and_policies_each_with_its_path() {
    let ports = SloopPorts::new();
    let mut sloop = Sloop::spawn(&["validate"], &[&config_with_invalid_patterns(&ports)]);
    let status = sloop.wait_exit(EXIT_TIMEOUT).await;
    assert!(
        !status.success(),
        "validate accepted invalid regexes and policies\n{}",
        sloop.logs()
    );
    let stderr = sloop.stderr();
    for path in [
        "processors.attributes.actions[0].pattern",
        "processors.attributes.exclude.span_names[1]",
        "processors.tail_sampling.policies[0].string_attribute.values[1]",
        "processors.tail_sampling.policies[1].ottl_condition.span[0]",
    ] {
        assert!(
            stderr.lines().any(|line| line.contains(path)),
            "stderr should report an error at {path}\n{}",
            sloop.logs()
        );
    }
    for valid in ["span_names[0]", "values[0]"] {
        assert!(
            !stderr.contains(valid),
            "a valid pattern ({valid}) is not reported\n{}",
            sloop.logs()
        );
    }
    assert!(!port_is_open(ports.grpc) && !port_is_open(ports.http));
}

/// Two forward connectors that send `traces/a` into `traces/b` and back.
fn config_with_a_cycle(ports: &SloopPorts) -> String {
    format!(
        "{receivers}connectors:
  forward/ab:
  forward/ba:
exporters:
  debug:
service:
  pipelines:
    traces/in:
      receivers: [otlp]
      exporters: [forward/ab]
    traces/a:
      receivers: [forward/ba]
      exporters: [forward/ab, debug]
    traces/b:
      receivers: [forward/ab]
      exporters: [forward/ba]
",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_refuses_a_cycle_and_spells_it_out() {
    let ports = SloopPorts::new();
    let mut sloop = Sloop::spawn(&["validate"], &[&config_with_a_cycle(&ports)]);
    let status = sloop.wait_exit(EXIT_TIMEOUT).await;
    assert!(!status.success(), "validate accepted a cycle\n{}", sloop.logs());
    let stderr = sloop.stderr();
    assert!(
        stderr.lines().any(|line| line.contains("service.pipelines: the pipelines form a cycle")
            && line.contains("pipeline traces/a → connector forward/ab (traces to traces) → pipeline traces/b → connector forward/ba (traces to traces) → pipeline traces/a")),
        "{stderr}"
    );
}

/// The Collector-style example loads as written, and `validate` says what should be
/// renamed: one warning per deprecated type name, on stderr, with its path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_style_config_validates_with_deprecation_warnings() {
    let path = workspace_root().join("pipelines").join("from-collector.yaml");
    let mut sloop = Sloop::spawn(&[OsStr::new("validate"), OsStr::new("--config"), path.as_os_str()], &[]);
    let status = sloop.wait_exit(EXIT_TIMEOUT).await;
    assert!(status.success(), "validate failed with {status}\n{}", sloop.logs());
    let stderr = sloop.stderr();
    for (path, new) in [
        ("processors.resourcedetection", "resource_detection"),
        ("exporters.logging", "debug"),
        ("exporters.otlp", "otlp_grpc"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("warning: {path}: ")) && l.ends_with(&format!("write \"{new}\""))),
            "no deprecation warning for {path}\n{}",
            sloop.logs()
        );
    }
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("warning: ")).count(),
        3,
        "{}",
        sloop.logs()
    );
}

/// Every mistake of a file in one run: each unknown key of a block (serde stops at
/// the first), an unknown component once (not again where a pipeline names it), a
/// mistake in `service` and an unset variable, each with its path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_every_error_of_the_file_at_once() {
    let config = "
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
        max_recv_msg_size: 4
        keepalives: {}
        tsl: {}
  zipkinn:
exporters:
  otlp_grpc:
    endpoint: 127.0.0.1:4317
    headers:
      authorization: ${SLOOP_TEST_SURELY_UNSET_TOKEN}
service:
  telemetry:
    logz: {}
  pipelines:
    traces:
      receivers: [otlp, zipkinn]
      exporters: [otlp_grpc]
";
    let mut sloop = Sloop::spawn(&["validate"], &[config]);
    let status = sloop.wait_exit(EXIT_TIMEOUT).await;
    assert!(!status.success(), "validate accepted a broken config\n{}", sloop.logs());
    let stderr = sloop.stderr();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("  ")).map(str::trim).collect();
    for want in [
        "receivers.otlp.protocols.grpc.max_recv_msg_size: unknown field",
        "receivers.otlp.protocols.grpc.keepalives: unknown field, did you mean keepalive?",
        "receivers.otlp.protocols.grpc.tsl: unknown field, did you mean tls?",
        "receivers.zipkinn: ",
        "exporters.otlp_grpc.headers.authorization: environment variable SLOOP_TEST_SURELY_UNSET_TOKEN is not set",
        "service.telemetry.logz: unknown field",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "missing {want:?}\n{}",
            sloop.logs()
        );
    }
    assert_eq!(errors.len(), 6, "{}", sloop.logs());
    assert!(
        stderr.starts_with("invalid configuration (6 errors):"),
        "{}",
        sloop.logs()
    );
}
