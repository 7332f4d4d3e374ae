//! Authentication end to end: receivers that require a bearer token or Basic
//! credentials refuse everything else before it enters a pipeline, exporters that
//! authenticate (an OAuth2 token, Basic credentials) are let in by backends that
//! require it, request metadata kept by the receiver reaches span attributes and
//! outgoing headers, and no secret ever shows in sloop's logs (run at debug level).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use integration_tests::payloads::trace_request;
use integration_tests::{free_port, poll_until, GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;

const TOKEN: &str = "tok-9f3c1e7a-bearer-secret";
/// The user `agent` with password `agent-password` (bcrypt, cost 5), as in the
/// basicauth extension's example.
const HTPASSWD: &str = "agent:$2b$05$p3cFLrHI8gwl0BMqFGpBneb83CvQ5Hzte0Vp5XqCfCyPLrN/MZyE2";
const PASSWORD: &str = "agent-password";
const CLIENT_SECRET: &str = "oauth-client-secret-5d2b";

/// The `extensions:` entries (besides health_check) and the `service:` section:
/// `pipelines` is the YAML under `pipelines:`, indented by four spaces.
fn service(ports: &SloopPorts, extensions: &str, listed: &[&str], pipelines: &str) -> String {
    format!(
        "extensions:\n  health_check:\n    endpoint: 127.0.0.1:{health}\n{extensions}\
         service:\n  extensions: [health_check, {listed}]\n  telemetry:\n    metrics:\n      \
         address: 127.0.0.1:{telemetry}\n  shutdown_timeout: 5s\n  pipelines:\n{pipelines}",
        health = ports.health,
        telemetry = ports.telemetry,
        listed = listed.join(", "),
    )
}

/// Starts sloop with debug logging, so that the secret checks see everything.
async fn start(yaml: &str, ports: &SloopPorts) -> Sloop {
    Sloop::start_with_env(&[yaml], ports, &[("RUST_LOG", "debug")]).await
}

fn assert_no_secret(sloop: &Sloop, secrets: &[&str]) {
    let logs = sloop.logs();
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret is in sloop's logs");
    }
    assert!(logs.contains("DEBUG"), "the logs were written at debug level");
}

/// One OTLP/gRPC export with `authorization` (if any): the status code.
async fn send_grpc(ports: &SloopPorts, authorization: Option<&str>, prefix: &str) -> tonic::Code {
    let mut client = TraceServiceClient::connect(ports.grpc_url()).await.expect("connecting");
    let mut request = tonic::Request::new(trace_request(prefix, 1));
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().expect("metadata value"));
    }
    match client.export(request).await {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}

/// One OTLP/HTTP protobuf export with the given headers: the status.
async fn send_http(ports: &SloopPorts, headers: &[(&str, &str)], prefix: &str) -> u16 {
    let mut request = reqwest::Client::new()
        .post(ports.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(trace_request(prefix, 1).encode_to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("posting").status().as_u16()
}

/// `Basic base64(user:password)`, as reqwest builds it.
fn basic(user: &str, password: &str) -> String {
    let client = reqwest::Client::new();
    let request = client
        .get("http://127.0.0.1/")
        .basic_auth(user, Some(password))
        .build()
        .expect("building a request");
    request.headers()["authorization"].to_str().expect("ascii").to_string()
}

/// Waits until nothing new has arrived at `backend` for a moment, then returns the
/// span names it has.
async fn settled_span_names(backend: &GrpcBackend) -> BTreeSet<String> {
    let mut last = usize::MAX;
    poll_until(DATA_TIMEOUT, Duration::from_millis(300), || {
        let count = backend.span_count();
        let stable = count == last;
        last = count;
        async move { stable.then_some(()) }
    })
    .await
    .expect("the backend settles");
    backend.spans().into_iter().map(|s| s.span.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_guards_grpc_and_http() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let auth = "auth: {authenticator: bearertokenauth}";
    let yaml = format!(
        "{receivers}exporters:\n  otlp_grpc:\n    endpoint: {endpoint}\n    tls: {{insecure: true}}\n{service}",
        receivers = ports.otlp_receiver_yaml(&[auth], &[auth]),
        endpoint = backend.endpoint(),
        service = service(
            &ports,
            &format!("  bearertokenauth:\n    token: {TOKEN}\n"),
            &["bearertokenauth"],
            "    traces:\n      receivers: [otlp]\n      exporters: [otlp_grpc]\n",
        ),
    );
    let sloop = start(&yaml, &ports).await;
    let right = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");

    assert_eq!(
        send_grpc(&ports, None, "grpc-missing").await,
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        send_grpc(&ports, Some(&wrong), "grpc-wrong").await,
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        send_grpc(&ports, Some(TOKEN), "grpc-no-scheme").await,
        tonic::Code::Unauthenticated
    );
    assert_eq!(send_grpc(&ports, Some(&right), "grpc-right").await, tonic::Code::Ok);
    assert_eq!(send_http(&ports, &[], "http-missing").await, 401);
    assert_eq!(send_http(&ports, &[("authorization", &wrong)], "http-wrong").await, 401);
    assert_eq!(send_http(&ports, &[("authorization", &right)], "http-right").await, 200);

    backend.wait_for_spans(2, DATA_TIMEOUT).await;
    let names = settled_span_names(&backend).await;
    assert_eq!(
        names,
        BTreeSet::from(["grpc-right-0".to_string(), "http-right-0".to_string()])
    );
    let refused = sloop
        .metric("otelcol_receiver_unauthenticated_requests", &[("receiver", "otlp")])
        .await;
    assert_eq!(refused, 5.0);
    assert_no_secret(&sloop, &[TOKEN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_credentials_guard_a_receiver_and_an_exporter_sends_them() {
    // One sloop, two hops: `otlp` (open) → otlp_http exporter with basicauth
    // client credentials → `otlp/inner` (requires them) → the backend.
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let inner = free_port();
    let yaml = format!(
        "{receivers}  otlp/inner:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{inner}\n        \
         auth: {{authenticator: basicauth/server}}\n\
         exporters:\n  otlp_http/hop:\n    endpoint: http://127.0.0.1:{inner}\n    compression: none\n    \
         auth: {{authenticator: basicauth/client}}\n  otlp_grpc:\n    endpoint: {endpoint}\n    tls: {{insecure: true}}\n{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        endpoint = backend.endpoint(),
        service = service(
            &ports,
            &format!(
                "  basicauth/server:\n    htpasswd:\n      inline: |\n        {HTPASSWD}\n  \
                 basicauth/client:\n    client_auth:\n      username: agent\n      password: {PASSWORD}\n"
            ),
            &["basicauth/server", "basicauth/client"],
            "    traces/in:\n      receivers: [otlp]\n      exporters: [otlp_http/hop]\n    \
             traces/out:\n      receivers: [otlp/inner]\n      exporters: [otlp_grpc]\n",
        ),
    );
    let sloop = start(&yaml, &ports).await;
    let inner_url = format!("http://127.0.0.1:{inner}/v1/traces");
    let send_inner = |authorization: Option<String>, prefix: &'static str| {
        let url = inner_url.clone();
        async move {
            let mut request = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/x-protobuf")
                .body(trace_request(prefix, 1).encode_to_vec());
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            request.send().await.expect("posting").status().as_u16()
        }
    };
    assert_eq!(send_inner(None, "missing").await, 401);
    assert_eq!(send_inner(Some(basic("agent", "wrong-password")), "wrong").await, 401);
    assert_eq!(send_inner(Some(basic("nobody", PASSWORD)), "nobody").await, 401);
    assert_eq!(send_inner(Some(format!("Bearer {PASSWORD}")), "bearer").await, 401);
    assert_eq!(send_inner(Some(basic("agent", PASSWORD)), "direct").await, 200);
    // Through the exporter, which sends the credentials itself.
    assert_eq!(send_grpc(&ports, None, "via-exporter").await, tonic::Code::Ok);

    backend.wait_for_spans(2, DATA_TIMEOUT).await;
    let names = settled_span_names(&backend).await;
    assert_eq!(
        names,
        BTreeSet::from(["direct-0".to_string(), "via-exporter-0".to_string()])
    );
    assert_no_secret(&sloop, &[PASSWORD, &basic("agent", PASSWORD)[6..]]);
}

/// One request a test HTTP backend took: its headers and body.
type SeenRequest = (HeaderMap, Vec<u8>);

/// What a test HTTP backend saw.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<SeenRequest>>>);

impl Seen {
    fn all(&self) -> Vec<SeenRequest> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The state of the OAuth2 test's servers: tokens issued, token requests.
#[derive(Clone, Default)]
struct Issuer {
    issued: Arc<Mutex<Vec<String>>>,
    token_requests: Arc<AtomicUsize>,
    seen: Seen,
}

/// A running test server, stopped when dropped.
struct TestServer {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(router: axum::Router) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    TestServer { url, task }
}

/// The token endpoint: the client's Basic credentials must be right; each token
/// is valid for 4 s.
async fn token_endpoint(issuer: Issuer) -> TestServer {
    let expected = basic("sloop", CLIENT_SECRET);
    let router = axum::Router::new()
        .route(
            "/token",
            post(move |State(issuer): State<Issuer>, headers: HeaderMap, body: String| {
                let expected = expected.clone();
                async move {
                    let n = issuer.token_requests.fetch_add(1, Ordering::SeqCst) + 1;
                    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&expected);
                    if !authorized || !body.contains("grant_type=client_credentials") {
                        return (StatusCode::UNAUTHORIZED, r#"{"error":"invalid_client"}"#.to_string());
                    }
                    let token = format!("issued-token-{n}");
                    issuer
                        .issued
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(token.clone());
                    (
                        StatusCode::OK,
                        format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":4}}"#),
                    )
                }
            }),
        )
        .with_state(issuer);
    serve(router).await
}

/// An OTLP/HTTP traces backend that records every request and answers 401 unless
/// it carries `Bearer <an issued token>` (when `issuer` has issued any; a backend
/// for a test without OAuth2 takes everything).
async fn recording_backend(issuer: Issuer, require_token: bool) -> TestServer {
    let router = axum::Router::new()
        .route(
            "/v1/traces",
            post(
                move |State(issuer): State<Issuer>, headers: HeaderMap, body: axum::body::Bytes| async move {
                    let presented = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
                    let allowed = !require_token || {
                        let issued = issuer.issued.lock().unwrap_or_else(|p| p.into_inner());
                        issued.iter().any(|token| presented == format!("Bearer {token}"))
                    };
                    if !allowed {
                        return StatusCode::UNAUTHORIZED;
                    }
                    issuer
                        .seen
                        .0
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((headers, body.to_vec()));
                    StatusCode::OK
                },
            ),
        )
        .with_state(issuer);
    serve(router).await
}

async fn wait_for_requests(seen: &Seen, n: usize) -> Vec<SeenRequest> {
    poll_until(DATA_TIMEOUT, Duration::from_millis(50), || {
        let all = seen.all();
        async move { (all.len() >= n).then_some(all) }
    })
    .await
    .unwrap_or_else(|| panic!("the backend did not get {n} requests: {}", seen.all().len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth2_exporter_fetches_a_token_once_and_renews_it_after_expiry() {
    let issuer = Issuer::default();
    let tokens = token_endpoint(issuer.clone()).await;
    let backend = recording_backend(issuer.clone(), true).await;
    let ports = SloopPorts::new();
    let yaml = format!(
        "{receivers}exporters:\n  otlp_http:\n    endpoint: {backend}\n    compression: none\n    \
         auth: {{authenticator: oauth2client}}\n    retry_on_failure: {{initial_interval: 100ms}}\n{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        backend = backend.url,
        service = service(
            &ports,
            &format!(
                "  oauth2client:\n    client_id: sloop\n    client_secret: {CLIENT_SECRET}\n    \
                 token_url: {}/token\n    scopes: [telemetry.write]\n    expiry_buffer: 2s\n",
                tokens.url
            ),
            &["oauth2client"],
            "    traces:\n      receivers: [otlp]\n      exporters: [otlp_http]\n",
        ),
    );
    let sloop = start(&yaml, &ports).await;
    assert_eq!(
        issuer.token_requests.load(Ordering::SeqCst),
        0,
        "no token is fetched before an export"
    );

    assert_eq!(send_grpc(&ports, None, "first").await, tonic::Code::Ok);
    wait_for_requests(&issuer.seen, 1).await;
    assert_eq!(send_grpc(&ports, None, "second").await, tonic::Code::Ok);
    let seen = wait_for_requests(&issuer.seen, 2).await;
    assert_eq!(
        issuer.token_requests.load(Ordering::SeqCst),
        1,
        "one token serves both exports"
    );
    for (headers, _) in &seen {
        assert_eq!(headers["authorization"], "Bearer issued-token-1");
    }

    // The token lives 4 s and is renewed 2 s before that (2 s leave room for a
    // slow machine between the first two exports): by now it is due.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(send_grpc(&ports, None, "third").await, tonic::Code::Ok);
    let seen = wait_for_requests(&issuer.seen, 3).await;
    assert_eq!(issuer.token_requests.load(Ordering::SeqCst), 2, "renewed once");
    assert_eq!(seen[2].0["authorization"], "Bearer issued-token-2");
    assert_no_secret(&sloop, &[CLIENT_SECRET, "issued-token-1", "issued-token-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_metadata_becomes_an_attribute_and_an_outgoing_header() {
    let issuer = Issuer::default();
    let backend = recording_backend(issuer.clone(), false).await;
    let ports = SloopPorts::new();
    let yaml = format!(
        "{receivers}processors:\n  attributes:\n    actions:\n      \
         - {{key: tenant, from_context: metadata.x-tenant, action: insert}}\n\
         exporters:\n  otlp_http:\n    endpoint: {backend}\n    compression: none\n    \
         headers: {{x-fixed: from-config}}\n    auth: {{authenticator: headers_setter}}\n{service}",
        receivers = ports.otlp_receiver_yaml(&["include_metadata: true"], &["include_metadata: true"]),
        backend = backend.url,
        service = service(
            &ports,
            "  headers_setter:\n    headers:\n      \
             - {key: X-Scope-OrgID, from_context: x-tenant, default_value: nobody}\n",
            &["headers_setter"],
            "    traces:\n      receivers: [otlp]\n      processors: [attributes]\n      exporters: [otlp_http]\n",
        ),
    );
    let _sloop = start(&yaml, &ports).await;
    assert_eq!(send_http(&ports, &[("x-tenant", "acme")], "from-acme").await, 200);
    let seen = wait_for_requests(&issuer.seen, 1).await;
    assert_eq!(send_http(&ports, &[], "anonymous").await, 200);
    let seen_all = wait_for_requests(&issuer.seen, 2).await;
    assert_eq!(seen.len(), 1);

    let tenant_of = |body: &[u8]| -> Option<String> {
        let request = ExportTraceServiceRequest::decode(body).expect("a traces request");
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        span.attributes
            .iter()
            .find(|kv| kv.key == "tenant")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
    };
    let (headers, body) = &seen_all[0];
    assert_eq!(headers["x-scope-orgid"], "acme");
    assert_eq!(headers["x-fixed"], "from-config");
    assert_eq!(tenant_of(body).as_deref(), Some("acme"));
    let (headers, body) = &seen_all[1];
    assert_eq!(
        headers["x-scope-orgid"], "nobody",
        "the default when the request had none"
    );
    assert_eq!(tenant_of(body), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_authenticator_mistakes_by_path_and_shows_no_secret() {
    let ports = SloopPorts::new();
    let receivers = ports.otlp_receiver_yaml(&["auth: {authenticator: headers_setter}"], &[]);
    // Errors everywhere near the secrets: a bad header name beside a token, a
    // client authenticator on a receiver, a hash that is not bcrypt.
    let yaml = format!(
        "{receivers}exporters:\n  otlp_grpc:\n    endpoint: 127.0.0.1:{port}\n    auth: {{authenticator: basicauth}}\n{service}",
        port = free_port(),
        service = service(
            &ports,
            &format!(
                "  bearertokenauth:\n    token: {TOKEN}\n    header: \"bad header\"\n  \
                 headers_setter:\n    headers: [{{key: x-a, value: b}}]\n  \
                 basicauth:\n    htpasswd:\n      inline: \"agent:{PASSWORD}\"\n    \
                 client_auth: {{username: agent, password: {CLIENT_SECRET}}}\n"
            ),
            &["bearertokenauth", "headers_setter", "basicauth"],
            "    traces:\n      receivers: [otlp]\n      exporters: [otlp_grpc]\n",
        ),
    );
    let mut sloop = Sloop::spawn(&["validate"], &[&yaml]);
    let status = sloop.wait_exit(Duration::from_secs(30)).await;
    assert!(!status.success(), "validate accepted it\n{}", sloop.logs());
    let logs = sloop.logs();
    for expected in [
        "receivers.otlp.protocols.grpc.auth.authenticator",
        "extensions.bearertokenauth.header",
        "extensions.basicauth.htpasswd.inline",
        "extensions.basicauth.client_auth",
    ] {
        assert!(logs.contains(expected), "{expected} is not reported:\n{logs}");
    }
    for secret in [TOKEN, PASSWORD, CLIENT_SECRET] {
        assert!(!logs.contains(secret), "a secret is in validate's output");
    }
}
