//! The `loadbalancing` exporter with real processes: one sloop agent in front of
//! a tier of sloop gateways on loopback (127.0.0.2, .3, .4, all on the same port,
//! as the pods behind a headless Service), each gateway exporting to its own test
//! backend. Data is sent to the agent with a real OTLP/gRPC client.
//!
//! - `service_routing_with_the_static_resolver`: every span and log record of one
//!   `service.name` arrives at exactly one backend, the same for spans and logs.
//! - `trace_routing_follows_dns_membership_and_loses_nothing`: the test runs its own
//!   DNS server, whose A records it changes while the agent runs. Every span of a
//!   trace arrives at exactly one backend; adding a third gateway moves about a
//!   third of the trace IDs (all to the new gateway); a killed gateway's share,
//!   held and retried by the agent, is delivered through the others once DNS
//!   drops it.
//!
//! "Nothing lost" is asserted exactly: the span IDs delivered equal the span IDs
//! the agent accepted (answered OK). Duplicates are allowed only where
//! at-least-once allows them, i.e. when the client had to resend a request the
//! agent refused; the test counts those and, when there were none, asserts that
//! every span arrived exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use integration_tests::payloads::{kv_str, now_nanos};
use integration_tests::{free_port, poll_until, GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::net::UdpSocket;

const GATEWAY_IPS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(127, 0, 0, 2),
    Ipv4Addr::new(127, 0, 0, 3),
    Ipv4Addr::new(127, 0, 0, 4),
];
const DNS_NAME: &str = "gateways.sloop.test.";

/// A port free on every gateway address, so the gateways share one port as the
/// pods of a headless Service do.
fn shared_gateway_port() -> u16 {
    for _ in 0..50 {
        let port = free_port();
        let free_everywhere = GATEWAY_IPS
            .iter()
            .all(|ip| std::net::TcpListener::bind(SocketAddr::from((*ip, port))).is_ok());
        if free_everywhere {
            return port;
        }
    }
    panic!("no port free on all of {GATEWAY_IPS:?}");
}

/// One sloop gateway and the backend it exports to.
struct Gateway {
    ip: Ipv4Addr,
    sloop: Sloop,
    backend: GrpcBackend,
}

impl Gateway {
    async fn start(ip: Ipv4Addr, port: u16) -> Gateway {
        let backend = GrpcBackend::start().await;
        let ports = SloopPorts::new();
        let yaml = format!(
            "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {ip}:{port}
      http:
        endpoint: 127.0.0.1:{http}
exporters:
  otlp_grpc:
    endpoint: {backend}
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms}}
{service}",
            http = ports.http,
            backend = backend.endpoint(),
            service = ports.service_yaml(&[], &["otlp_grpc"]),
        );
        let sloop = Sloop::start(&yaml, &ports).await;
        Gateway { ip, sloop, backend }
    }

    fn endpoint(&self, port: u16) -> String {
        format!("{}:{port}", self.ip)
    }
}

/// The agent: an otlp receiver and the loadbalancing exporter, nothing else.
async fn start_agent(routing_key: &str, resolver: &str) -> (Sloop, SloopPorts) {
    let ports = SloopPorts::new();
    let yaml = format!(
        "{receivers}exporters:
  loadbalancing:
    routing_key: {routing_key}
    protocol:
      otlp:
        timeout: 5s
        tls: {{insecure: true}}
        retry_on_failure: {{initial_interval: 100ms, max_interval: 300ms, max_elapsed_time: 0s}}
    resolver:
{resolver}
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        service = ports.service_yaml(&[], &["loadbalancing"]),
    );
    (Sloop::start(&yaml, &ports).await, ports)
}

/// Waits until the agent's ring holds `n` backends.
async fn wait_for_backends(agent: &Sloop, n: usize) {
    let seen = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async {
        let value = agent.metric("otelcol_loadbalancer_num_backends", &[]).await;
        (value == n as f64).then_some(())
    })
    .await;
    assert!(seen.is_some(), "the agent never had {n} backends\n{}", agent.logs());
}

// ---------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------

/// A span we sent: (trace ID, span ID).
type SpanKey = (Vec<u8>, Vec<u8>);

/// Sends with a real OTLP/gRPC client, resending a request the agent refuses
/// (as an SDK does) until it is accepted or the deadline passes. Counts resends.
struct Client {
    traces: TraceServiceClient<tonic::transport::Channel>,
    logs: LogsServiceClient<tonic::transport::Channel>,
    resends: usize,
    next_span: u64,
}

impl Client {
    async fn connect(ports: &SloopPorts) -> Client {
        Client {
            traces: TraceServiceClient::connect(ports.grpc_url())
                .await
                .expect("connecting to the agent"),
            logs: LogsServiceClient::connect(ports.grpc_url())
                .await
                .expect("connecting to the agent"),
            resends: 0,
            next_span: 1,
        }
    }

    /// Sends one request holding, for each `(service, trace_id)`, one span; returns
    /// the spans the agent accepted.
    async fn send_spans(&mut self, spans: &[(String, [u8; 16])]) -> Vec<SpanKey> {
        let now = now_nanos();
        let mut by_service: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
        let mut keys = Vec::new();
        for (service, trace_id) in spans {
            let span_id = self.next_span.to_be_bytes().to_vec();
            self.next_span += 1;
            keys.push((trace_id.to_vec(), span_id.clone()));
            by_service.entry(service).or_default().push(Span {
                trace_id: trace_id.to_vec(),
                span_id,
                name: "lb-test".into(),
                start_time_unix_nano: now - 1_000_000,
                end_time_unix_nano: now,
                ..Default::default()
            });
        }
        let request = ExportTraceServiceRequest {
            resource_spans: by_service
                .into_iter()
                .map(|(service, spans)| ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![kv_str("service.name", service)],
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        };
        let deadline = Instant::now() + DATA_TIMEOUT;
        loop {
            match self.traces.export(request.clone()).await {
                Ok(_) => return keys,
                Err(status) if Instant::now() < deadline => {
                    self.resends += 1;
                    eprintln!("agent refused a request ({status}); resending");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(status) => panic!("the agent kept refusing spans: {status}"),
            }
        }
    }

    /// Sends `n` log records (no trace) of `service`.
    async fn send_logs(&mut self, service: &str, n: usize) {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv_str("service.name", service)],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: (0..n)
                        .map(|_| LogRecord {
                            time_unix_nano: now_nanos(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        self.logs.export(request).await.expect("the agent refused logs");
    }
}

fn trace_id(round: u8, i: usize) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[0] = round;
    id[8..].copy_from_slice(&(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    id
}

// ---------------------------------------------------------------------------
// What arrived
// ---------------------------------------------------------------------------

/// Every span each backend received, as (backend index, span), with its service.
fn delivered(gateways: &[Gateway]) -> Vec<(usize, String, SpanKey)> {
    let mut out = Vec::new();
    for (g, gateway) in gateways.iter().enumerate() {
        for span in gateway.backend.spans() {
            let service = service_of(&span.resource_attributes);
            out.push((g, service, (span.span.trace_id.clone(), span.span.span_id.clone())));
        }
    }
    out
}

fn service_of(attributes: &[KeyValue]) -> String {
    attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Waits until every span in `sent` has arrived somewhere; returns what arrived
/// of `sent`, per backend.
async fn wait_delivered(gateways: &[Gateway], sent: &BTreeSet<SpanKey>) -> Vec<(usize, String, SpanKey)> {
    let arrived = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async {
        let got: Vec<_> = delivered(gateways)
            .into_iter()
            .filter(|(_, _, k)| sent.contains(k))
            .collect();
        let distinct: BTreeSet<_> = got.iter().map(|(_, _, k)| k.clone()).collect();
        (distinct.len() == sent.len()).then_some(got)
    })
    .await;
    arrived.unwrap_or_else(|| {
        let got: BTreeSet<_> = delivered(gateways).into_iter().map(|(_, _, k)| k).collect();
        let missing = sent.difference(&got).count();
        panic!("{missing} of {} accepted spans never arrived", sent.len())
    })
}

/// Owner backend per trace, asserting that no trace was split.
fn trace_owners(arrived: &[(usize, String, SpanKey)]) -> BTreeMap<Vec<u8>, usize> {
    let mut owners = BTreeMap::new();
    for (backend, _, (trace, _)) in arrived {
        let owner = *owners.entry(trace.clone()).or_insert(*backend);
        assert_eq!(owner, *backend, "trace {} was split across backends", hex(trace));
    }
    owners
}

/// At-least-once, and exactly-once when the client never had to resend.
fn assert_delivery(arrived: &[(usize, String, SpanKey)], sent: &BTreeSet<SpanKey>, resends: usize) {
    let mut counts: BTreeMap<&SpanKey, usize> = BTreeMap::new();
    for (_, _, key) in arrived {
        *counts.entry(key).or_default() += 1;
    }
    assert_eq!(counts.len(), sent.len(), "every accepted span arrives");
    if resends == 0 {
        let duplicated = counts.values().filter(|n| **n > 1).count();
        assert_eq!(duplicated, 0, "no span arrives twice when nothing was resent");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// A DNS server the test controls
// ---------------------------------------------------------------------------

/// Answers A queries for [`DNS_NAME`] with the current address list (TTL 0), and
/// every other query with no records.
struct DnsServer {
    port: u16,
    records: Arc<Mutex<Vec<Ipv4Addr>>>,
    task: tokio::task::JoinHandle<()>,
}

impl DnsServer {
    async fn start(records: &[Ipv4Addr]) -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("binding the DNS server");
        let port = socket.local_addr().expect("DNS server address").port();
        let records = Arc::new(Mutex::new(records.to_vec()));
        let current = records.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let mut response = Message::response(query.metadata.id, query.metadata.op_code);
                response.metadata.message_type = MessageType::Response;
                response.metadata.recursion_desired = query.metadata.recursion_desired;
                response.metadata.recursion_available = true;
                response.metadata.authoritative = true;
                for q in &query.queries {
                    response.add_query(q.clone());
                    if q.query_type() == RecordType::A && q.name().to_ascii().eq_ignore_ascii_case(DNS_NAME) {
                        let ips = current.lock().unwrap().clone();
                        for ip in ips {
                            response.add_answer(Record::from_rdata(q.name().clone(), 0, RData::A(A(ip))));
                        }
                    }
                }
                if let Ok(bytes) = response.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        DnsServer { port, records, task }
    }

    fn set(&self, records: &[Ipv4Addr]) {
        *self.records.lock().unwrap() = records.to_vec();
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_routing_with_the_static_resolver() {
    let port = shared_gateway_port();
    let gateways = vec![
        Gateway::start(GATEWAY_IPS[0], port).await,
        Gateway::start(GATEWAY_IPS[1], port).await,
    ];
    let resolver = format!(
        "      static:\n        hostnames: [{}, {}]",
        gateways[0].endpoint(port),
        gateways[1].endpoint(port)
    );
    let (agent, ports) = start_agent("service", &resolver).await;
    wait_for_backends(&agent, 2).await;
    let mut client = Client::connect(&ports).await;

    // 20 services, 5 requests, each request one span of 4 traces of every service.
    let mut sent = BTreeSet::new();
    for _ in 0..5 {
        let spans: Vec<_> = (0..20)
            .flat_map(|s| (0..4).map(move |t| (format!("svc-{s}"), trace_id(1, s * 100 + t))))
            .collect();
        sent.extend(client.send_spans(&spans).await);
    }
    for s in 0..20 {
        client.send_logs(&format!("svc-{s}"), 3).await;
    }
    let arrived = wait_delivered(&gateways, &sent).await;
    assert_delivery(&arrived, &sent, client.resends);

    let mut service_owner: BTreeMap<String, usize> = BTreeMap::new();
    for (backend, service, _) in &arrived {
        let owner = *service_owner.entry(service.clone()).or_insert(*backend);
        assert_eq!(owner, *backend, "service {service} was split across backends");
    }
    assert_eq!(service_owner.len(), 20);
    let used: BTreeSet<_> = service_owner.values().collect();
    assert_eq!(used.len(), 2, "20 services should use both gateways: {service_owner:?}");

    // Logs of a service go where its spans went.
    let logs_arrived = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async {
        let total: usize = gateways.iter().map(|g| g.backend.log_record_count()).sum();
        (total >= 60).then_some(())
    })
    .await;
    assert!(logs_arrived.is_some(), "not every log record arrived");
    for (g, gateway) in gateways.iter().enumerate() {
        for record in gateway.backend.log_records() {
            let service = service_of(&record.resource_attributes);
            assert_eq!(
                service_owner.get(&service),
                Some(&g),
                "logs of {service} went elsewhere than its spans"
            );
        }
    }
    let total_logs: usize = gateways.iter().map(|g| g.backend.log_record_count()).sum();
    assert_eq!(total_logs, 60, "log records duplicated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_routing_follows_dns_membership_and_loses_nothing() {
    let port = shared_gateway_port();
    let mut gateways = Vec::new();
    for ip in GATEWAY_IPS {
        gateways.push(Gateway::start(ip, port).await);
    }
    let dns = DnsServer::start(&GATEWAY_IPS[..2]).await;
    let resolver = format!(
        "      dns:
        hostname: {DNS_NAME}
        port: {port}
        interval: 300ms
        timeout: 500ms
        nameservers: ['127.0.0.1:{}']",
        dns.port
    );
    let (agent, ports) = start_agent("traceID", &resolver).await;
    wait_for_backends(&agent, 2).await;
    let mut client = Client::connect(&ports).await;
    // 600 traces: the share that moves is within 0.2..0.47 (about 4 sigma of the ring's
    // and the sample's spread together) whatever port the gateways got.
    const TRACES: usize = 600;

    // Round 1, two gateways: each trace's 3 spans in 3 different requests.
    let mut sent = BTreeSet::new();
    for _ in 0..3 {
        let spans: Vec<_> = (0..TRACES)
            .map(|t| (format!("svc-{}", t % 7), trace_id(1, t)))
            .collect();
        sent.extend(client.send_spans(&spans).await);
    }
    let arrived = wait_delivered(&gateways, &sent).await;
    assert_delivery(&arrived, &sent, client.resends);
    let before = trace_owners(&arrived);
    assert_eq!(before.len(), TRACES);
    assert!(before.values().all(|g| *g < 2), "gateway 3 is not in DNS yet");

    // Round 2, a third gateway joins: the same trace IDs again.
    dns.set(&GATEWAY_IPS);
    wait_for_backends(&agent, 3).await;
    let mut sent2 = BTreeSet::new();
    let spans: Vec<_> = (0..TRACES)
        .map(|t| (format!("svc-{}", t % 7), trace_id(1, t)))
        .collect();
    sent2.extend(client.send_spans(&spans).await);
    let arrived2 = wait_delivered(&gateways, &sent2).await;
    assert_delivery(&arrived2, &sent2, client.resends);
    let after = trace_owners(&arrived2);
    let moved: Vec<_> = before.iter().filter(|(t, g)| after[*t] != **g).collect();
    let share = moved.len() as f64 / TRACES as f64;
    assert!(
        (0.2..=0.47).contains(&share),
        "adding a third gateway moved {share:.2} of the traces; about 1/3 expected"
    );
    assert!(
        moved.iter().all(|(t, _)| after[*t] == 2),
        "traces moved between the two old gateways"
    );

    // Round 3: gateway 2 (127.0.0.3) dies while DNS still lists it, and the same
    // trace IDs are sent again. Its traces wait in the agent, retried, while the
    // others' traces arrive where they did in round 2 (a dead gateway stalls nobody);
    // once DNS drops it, its traces go to the remaining gateways, whole.
    let dead = 1;
    gateways[dead].sloop.sigkill();
    gateways[dead].sloop.wait_exit(Duration::from_secs(10)).await;
    let dead_before = gateways[dead].backend.span_count();
    let mut sent3 = BTreeSet::new();
    for _ in 0..2 {
        let spans: Vec<_> = (0..TRACES)
            .map(|t| (format!("svc-{}", t % 7), trace_id(1, t)))
            .collect();
        sent3.extend(client.send_spans(&spans).await);
    }
    let (held, live): (BTreeSet<SpanKey>, BTreeSet<SpanKey>) =
        sent3.iter().cloned().partition(|(trace, _)| after[trace] == dead);
    assert!(!held.is_empty() && !live.is_empty());
    let live_arrived = wait_delivered(&gateways, &live).await;
    assert_eq!(
        trace_owners(&live_arrived)
            .iter()
            .filter(|(t, g)| after[*t] != **g)
            .count(),
        0
    );
    let early = delivered(&gateways)
        .into_iter()
        .filter(|(_, _, k)| held.contains(k))
        .count();
    assert_eq!(early, 0, "spans for the dead gateway arrived before DNS dropped it");

    dns.set(&[GATEWAY_IPS[0], GATEWAY_IPS[2]]);
    wait_for_backends(&agent, 2).await;
    let arrived3 = wait_delivered(&gateways, &sent3).await;
    assert_delivery(&arrived3, &sent3, client.resends);
    let owners3 = trace_owners(&arrived3);
    assert!(
        owners3.values().all(|g| *g != dead),
        "the dead gateway cannot have received anything"
    );
    assert_eq!(gateways[dead].backend.span_count(), dead_before);
    // Round 3 spans are counted on their own: their traces also carry rounds 1-2 spans.
    let live_owners_kept = owners3
        .iter()
        .filter(|(t, _)| after[*t] != dead)
        .all(|(t, g)| after[t] == *g);
    assert!(live_owners_kept, "removing a gateway moved traces of the others");
    let rerouted = agent.metric("otelcol_loadbalancer_rerouted_items", &[]).await;
    assert!(rerouted > 0.0, "the dead gateway's share was not re-routed");
    assert_eq!(
        agent
            .metric("otelcol_loadbalancer_num_resolutions", &[("success", "false")])
            .await,
        0.0,
        "every resolution against the test's DNS server succeeds"
    );
}
