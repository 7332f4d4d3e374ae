//! TLS on the receiver and the exporter, with certificates made for each run:
//!
//! - The OpenTelemetry Python SDK (integration-tests/python/send_spans.py, from
//!   `target/otel-venv`, which `./scripts/test` creates) sends spans over TLS and
//!   over mTLS, on gRPC and HTTP, and they reach the backend; without a client
//!   certificate the mTLS ports refuse it.
//! - Certificate files replaced on disk are served to new connections within
//!   `reload_interval`, by the same process.
//! - An `otlp_grpc` exporter with `ca_file`, `cert_file` and `key_file` delivers to a
//!   backend that requires a client certificate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use integration_tests::certs::{peer_certificate, TestCa};
use integration_tests::payloads::trace_request;
use integration_tests::{
    free_port, poll_until, run_bounded, unique_temp_dir, venv_python, workspace_root, GrpcBackend, Sloop, SloopPorts,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;

/// The venv's python, or a failure saying how to make it.
/// The OpenTelemetry Python SDK's venv.
fn python() -> PathBuf {
    venv_python("otel-venv", "integration-tests/requirements.txt")
}

/// Runs send_spans.py (one span named `span`, to `endpoint` over `protocol`) with
/// `env`; whether the SDK reported success, and what it printed. Bounded by 60 s.
async fn python_sends(protocol: &str, endpoint: &str, span: &str, env: &[(&str, &Path)]) -> (bool, String) {
    let script = workspace_root().join("integration-tests/python/send_spans.py");
    let mut command = Command::new(python());
    command.arg(script).args([protocol, endpoint, span]);
    for variable in [
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    ] {
        command.env_remove(variable);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let (status, output) = run_bounded(&mut command, Duration::from_secs(60)).await;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (status.is_some_and(|s| s.success()), printed)
}

/// A receiver `id` serving gRPC and HTTP on `ports` with the same `tls` block.
fn tls_receiver(id: &str, (grpc, http): (u16, u16), tls: &str) -> String {
    format!(
        "  {id}:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:{grpc}, tls: {tls}}}\n      \
         http: {{endpoint: 127.0.0.1:{http}, tls: {tls}}}\n"
    )
}

/// A whole config: `receivers` (blocks under `receivers:`, with ids `ids`) feed a
/// traces pipeline that exports to `backend` in plaintext.
fn config(ports: &SloopPorts, receivers: &str, ids: &str, backend: &GrpcBackend) -> String {
    format!(
        "receivers:\n{receivers}\
         exporters:\n  otlp_grpc: {{endpoint: {backend}, tls: {{insecure: true}}}}\n\
         extensions:\n  health_check:\n    endpoint: 127.0.0.1:{health}\n\
         service:\n  extensions: [health_check]\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{telemetry}\n  \
         pipelines:\n    traces: {{receivers: [{ids}], exporters: [otlp_grpc]}}\n",
        backend = backend.endpoint(),
        health = ports.health,
        telemetry = ports.telemetry,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_sends_over_tls_and_mtls_and_mtls_refuses_a_client_without_certificate() {
    let python = python();
    let dir = unique_temp_dir();
    let (server_ca, client_ca) = (TestCa::new("sloop test server CA"), TestCa::new("sloop test client CA"));
    let ca_file = server_ca.write(&dir, "server-ca.pem");
    let client_ca_file = client_ca.write(&dir, "client-ca.pem");
    let (cert, key) = server_ca.issue("sloop").write(&dir, "server");
    let (client_cert, client_key) = client_ca.issue("python client").write(&dir, "client");
    let ports = SloopPorts::new();
    let (mtls_grpc, mtls_http) = (free_port(), free_port());
    let backend = GrpcBackend::start().await;
    let tls = format!("{{cert_file: {}, key_file: {}}}", cert.display(), key.display());
    let mtls = format!(
        "{{cert_file: {}, key_file: {}, client_ca_file: {}}}",
        cert.display(),
        key.display(),
        client_ca_file.display()
    );
    let receivers = tls_receiver("otlp", (ports.grpc, ports.http), &tls)
        + &tls_receiver("otlp/mtls", (mtls_grpc, mtls_http), &mtls);
    let yaml = config(&ports, &receivers, "otlp, otlp/mtls", &backend);
    let sloop = Sloop::start(&yaml, &ports).await;
    assert!(python.is_file());

    let trust = [("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_file.as_path())];
    let with_client = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_file.as_path()),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", client_cert.as_path()),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", client_key.as_path()),
    ];
    let grpc_url = |port: u16| format!("https://127.0.0.1:{port}");
    let http_url = |port: u16| format!("https://127.0.0.1:{port}/v1/traces");
    let delivered = [
        ("grpc", grpc_url(ports.grpc), "tls-grpc", &trust[..]),
        ("http", http_url(ports.http), "tls-http", &trust[..]),
        ("grpc", grpc_url(mtls_grpc), "mtls-grpc", &with_client[..]),
        ("http", http_url(mtls_http), "mtls-http", &with_client[..]),
    ];
    for (protocol, endpoint, span, env) in &delivered {
        let (ok, printed) = python_sends(protocol, endpoint, span, env).await;
        assert!(
            ok,
            "the SDK could not send {span} to {endpoint}:\n{printed}\n{}",
            sloop.logs()
        );
    }
    let refused = [
        ("grpc", grpc_url(mtls_grpc), "no-client-cert-grpc"),
        ("http", http_url(mtls_http), "no-client-cert-http"),
    ];
    for (protocol, endpoint, span) in &refused {
        let (ok, printed) = python_sends(protocol, endpoint, span, &trust).await;
        assert!(
            !ok,
            "the mTLS port took {span} without a client certificate:\n{printed}"
        );
    }
    // Plaintext on a TLS port is refused too.
    let (ok, printed) = python_sends(
        "http",
        &format!("http://127.0.0.1:{}/v1/traces", ports.http),
        "plaintext",
        &[],
    )
    .await;
    assert!(!ok, "a TLS port took plaintext:\n{printed}");

    let spans = backend.wait_for_spans(4, Duration::from_secs(20)).await;
    let mut names: Vec<String> = spans.iter().map(|s| s.span.name.clone()).collect();
    names.sort();
    assert_eq!(
        names,
        ["mtls-grpc", "mtls-http", "tls-grpc", "tls-http"],
        "{}",
        sloop.logs()
    );

    // A rustls client: refused without a certificate, served with one.
    let address = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let client = client_ca.issue("rust client");
    assert!(peer_certificate(address(mtls_grpc), &server_ca, None).await.is_err());
    assert!(peer_certificate(address(mtls_http), &server_ca, None).await.is_err());
    assert!(peer_certificate(address(mtls_grpc), &server_ca, Some(&client))
        .await
        .is_ok());
    // And one whose certificate another CA signed is refused as well.
    let stranger = TestCa::new("stranger").issue("stranger");
    assert!(peer_certificate(address(mtls_grpc), &server_ca, Some(&stranger))
        .await
        .is_err());

    let failures = sloop
        .metric(
            "otelcol_receiver_tls_handshake_failures",
            &[("receiver", "otlp/mtls"), ("transport", "grpc")],
        )
        .await;
    assert!(failures >= 2.0, "handshake failures counted: {failures}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_certificate_files_are_served_within_reload_interval_without_a_restart() {
    let dir = unique_temp_dir();
    let ca = TestCa::new("sloop test CA");
    let first = ca.issue("first");
    let (cert, key) = first.write(&dir, "server");
    let ports = SloopPorts::new();
    let backend = GrpcBackend::start().await;
    let tls = format!(
        "{{cert_file: {}, key_file: {}, reload_interval: 1s}}",
        cert.display(),
        key.display()
    );
    let receivers = tls_receiver("otlp", (ports.grpc, ports.http), &tls);
    let yaml = config(&ports, &receivers, "otlp", &backend);
    let mut sloop = Sloop::start(&yaml, &ports).await;
    let pid = sloop.pid();
    let grpc = SocketAddr::from(([127, 0, 0, 1], ports.grpc));
    let http = SocketAddr::from(([127, 0, 0, 1], ports.http));
    assert_eq!(peer_certificate(grpc, &ca, None).await.unwrap(), first.cert_der);

    let second = ca.issue("second");
    second.write(&dir, "server");
    let replaced = Instant::now();
    for address in [grpc, http] {
        let served = poll_until(Duration::from_secs(10), Duration::from_millis(100), || async {
            let served = peer_certificate(address, &ca, None).await.ok()?;
            (served == second.cert_der).then_some(())
        })
        .await;
        assert!(
            served.is_some(),
            "{address} still serves the old certificate\n{}",
            sloop.logs()
        );
    }
    // Within the interval, plus the polls' own time on a loaded machine.
    let took = replaced.elapsed();
    assert!(took < Duration::from_secs(4), "the new certificate took {took:?}");
    assert!(sloop.is_running());
    assert_eq!(sloop.pid(), pid);

    // A bad file: logged with its path, the certificate before is kept.
    std::fs::write(&cert, "not a certificate").unwrap();
    let logged = poll_until(Duration::from_secs(10), Duration::from_millis(100), || async {
        let _ = peer_certificate(grpc, &ca, None).await;
        sloop
            .logs()
            .contains(&format!("{}: not PEM", cert.display()))
            .then_some(())
    })
    .await;
    assert!(logged.is_some(), "the bad file was not logged\n{}", sloop.logs());
    assert_eq!(peer_certificate(grpc, &ca, None).await.unwrap(), second.cert_der);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_grpc_exporter_with_a_client_certificate_delivers_to_a_backend_that_requires_one() {
    let dir = unique_temp_dir();
    let (backend_ca, client_ca) = (TestCa::new("backend CA"), TestCa::new("client CA"));
    let backend_tls = backend_ca.issue("backend").server_config(Some(&client_ca), &[b"h2"]);
    let backend = GrpcBackend::start_with_tls(Some(backend_tls)).await;
    let backend_address = SocketAddr::from(([127, 0, 0, 1], backend.port()));
    // The backend does require a client certificate.
    assert!(peer_certificate(backend_address, &backend_ca, None).await.is_err());

    let ca_file = backend_ca.write(&dir, "backend-ca.pem");
    let (cert, key) = client_ca.issue("sloop exporter").write(&dir, "client");
    let ports = SloopPorts::new();
    let yaml = format!(
        "{receivers}exporters:
  otlp_grpc:
    endpoint: {backend}
    tls:
      ca_file: {ca_file}
      cert_file: {cert}
      key_file: {key}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms}}
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        backend = backend.endpoint(),
        ca_file = ca_file.display(),
        cert = cert.display(),
        key = key.display(),
        service = ports.service_yaml(&[], &["otlp_grpc"]),
    );
    let sloop = Sloop::start(&yaml, &ports).await;
    let mut client = TraceServiceClient::connect(ports.grpc_url()).await.unwrap();
    client.export(trace_request("mtls-export", 3)).await.unwrap();
    let spans = backend.wait_for_spans(3, Duration::from_secs(20)).await;
    assert_eq!(spans.len(), 3, "{}", sloop.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_http_exporter_with_a_client_certificate_delivers_to_an_mtls_receiver() {
    let dir = unique_temp_dir();
    let (server_ca, client_ca) = (TestCa::new("gateway CA"), TestCa::new("agent CA"));
    let (cert, key) = server_ca.issue("gateway").write(&dir, "gateway");
    let client_ca_file = client_ca.write(&dir, "agent-ca.pem");
    let ca_file = server_ca.write(&dir, "gateway-ca.pem");
    let (client_cert, client_key) = client_ca.issue("agent").write(&dir, "agent");

    // The backend that requires a client certificate: a sloop gateway with mTLS.
    let backend = GrpcBackend::start().await;
    let gateway_ports = SloopPorts::new();
    let mtls = format!(
        "{{cert_file: {}, key_file: {}, client_ca_file: {}}}",
        cert.display(),
        key.display(),
        client_ca_file.display()
    );
    let receivers = tls_receiver("otlp", (gateway_ports.grpc, gateway_ports.http), &mtls);
    let gateway = Sloop::start(&config(&gateway_ports, &receivers, "otlp", &backend), &gateway_ports).await;

    let ports = SloopPorts::new();
    let yaml = format!(
        "{receivers}exporters:
  otlp_http:
    endpoint: https://127.0.0.1:{gateway}
    tls: {{ca_file: {ca_file}, cert_file: {cert}, key_file: {key}}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms}}
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        gateway = gateway_ports.http,
        ca_file = ca_file.display(),
        cert = client_cert.display(),
        key = client_key.display(),
        service = ports.service_yaml(&[], &["otlp_http"]),
    );
    let agent = Sloop::start(&yaml, &ports).await;
    let mut client = TraceServiceClient::connect(ports.grpc_url()).await.unwrap();
    client.export(trace_request("mtls-http-export", 3)).await.unwrap();
    let spans = backend.wait_for_spans(3, Duration::from_secs(20)).await;
    assert_eq!(spans.len(), 3, "agent:\n{}\ngateway:\n{}", agent.logs(), gateway.logs());
}
