use std::collections::{BTreeMap, BTreeSet};

use figment::providers::Format;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

use super::*;
use crate::testing;

fn endpoints(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("gw-{i}:4317")).collect()
}

fn keys(n: u32) -> Vec<[u8; 16]> {
    // Trace-ID-like keys: random-looking 16 bytes, reproducible.
    (0..n)
        .map(|i| (u128::from(stable_hash(&i.to_le_bytes())) << 64 | u128::from(i)).to_be_bytes())
        .collect()
}

fn owners(ring: &HashRing, keys: &[[u8; 16]]) -> Vec<String> {
    keys.iter()
        .map(|k| ring.owner_endpoint(k).unwrap().to_owned())
        .collect()
}

#[test]
fn the_ring_spreads_keys_roughly_evenly() {
    let keys = keys(10_000);
    for n in [2, 3, 5] {
        let ring = HashRing::new(endpoints(n));
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for owner in owners(&ring, &keys) {
            *counts.entry(owner).or_default() += 1;
        }
        assert_eq!(counts.len(), n);
        let even = keys.len() as f64 / n as f64;
        for (endpoint, count) in counts {
            let share = count as f64 / even;
            assert!(
                (0.75..1.25).contains(&share),
                "{n} endpoints: {endpoint} has {count} keys"
            );
        }
    }
}

#[test]
fn the_ring_ignores_the_order_endpoints_come_in() {
    let keys = keys(1000);
    let mut reversed = endpoints(4);
    reversed.reverse();
    assert_eq!(
        owners(&HashRing::new(endpoints(4)), &keys),
        owners(&HashRing::new(reversed), &keys)
    );
}

#[test]
fn adding_a_third_endpoint_moves_about_a_third_of_the_keys_all_to_it() {
    let keys = keys(10_000);
    let before = owners(&HashRing::new(endpoints(2)), &keys);
    let after = owners(&HashRing::new(endpoints(3)), &keys);
    let moved: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
    let share = moved.len() as f64 / keys.len() as f64;
    assert!((0.25..=0.42).contains(&share), "moved {share}");
    assert!(
        moved.iter().all(|(_, a)| *a == "gw-3:4317"),
        "keys moved between old endpoints"
    );
}

#[test]
fn removing_an_endpoint_moves_only_its_keys() {
    let keys = keys(10_000);
    let before = owners(&HashRing::new(endpoints(3)), &keys);
    let after = owners(
        &HashRing::new(endpoints(3).into_iter().filter(|e| e != "gw-2:4317")),
        &keys,
    );
    for (b, a) in before.iter().zip(&after) {
        if b != "gw-2:4317" {
            assert_eq!(b, a, "a key of a remaining endpoint moved");
        } else {
            assert_ne!(a, "gw-2:4317");
        }
    }
}

#[test]
fn the_hash_is_stable_across_builds() {
    // Agents of different versions must agree on owners: pin the hash.
    assert_eq!(stable_hash(b""), 0xf52a_15e9_a9b5_e89b);
    assert_eq!(stable_hash(b"gw-1:4317#0"), 0x8856_f651_b708_4bec);
}

/// Traces of `traces` trace IDs, spread over two resources and two scopes each,
/// spans of one trace interleaved with the others.
fn mixed_traces(traces: u8, spans_per_trace: u8) -> Telemetry {
    let mut data = testing::traces(&[&[], &[]]);
    if let Telemetry::Traces(request) = &mut data {
        for (r, resource) in request.resource_spans.iter_mut().enumerate() {
            let scope = resource.scope_spans[0].clone();
            resource.scope_spans.push(scope);
            for (s, scope) in resource.scope_spans.iter_mut().enumerate() {
                for t in 0..traces {
                    for i in 0..spans_per_trace {
                        let mut span = testing::span(&format!("r{r}s{s}t{t}i{i}"));
                        span.trace_id = vec![t; 16];
                        span.span_id = vec![r as u8, s as u8, t, i, 0, 0, 0, 1];
                        scope.spans.push(span);
                    }
                }
            }
        }
    }
    data
}

fn spans_by_trace(data: &Telemetry) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Telemetry::Traces(request) = data else {
        panic!("not traces")
    };
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| (s.trace_id.clone(), s.span_id.clone()))
        .collect()
}

#[test]
fn splitting_by_trace_id_keeps_each_trace_whole_and_loses_no_span() {
    let data = mixed_traces(20, 3);
    let sent: BTreeSet<_> = spans_by_trace(&data).into_iter().collect();
    assert_eq!(sent.len(), 2 * 2 * 20 * 3);
    let ring = HashRing::new(endpoints(3));
    let parts = split(data, RoutingKey::TraceId, |key| ring.owner(key).unwrap());
    assert!(parts.len() > 1, "20 traces should land on more than one backend");
    let mut received = BTreeSet::new();
    let mut trace_owner: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for (backend, part) in &parts {
        // Resources and scopes are copied along with their spans.
        let Telemetry::Traces(request) = part else { panic!() };
        for rs in &request.resource_spans {
            assert!(split::service_name(&rs.resource).starts_with(b"service-"));
            assert!(rs
                .scope_spans
                .iter()
                .all(|ss| ss.scope.is_some() && !ss.spans.is_empty()));
        }
        for (trace, span) in spans_by_trace(part) {
            assert_eq!(
                *trace_owner.entry(trace.clone()).or_insert(*backend),
                *backend,
                "trace split"
            );
            assert_eq!(ring.owner(&trace), Some(*backend));
            assert!(received.insert((trace, span)), "span duplicated");
        }
    }
    assert_eq!(received, sent);
}

#[test]
fn splitting_by_service_keeps_each_resource_whole() {
    let data = mixed_traces(5, 2);
    let parts = split(data, RoutingKey::Service, |key| if key == b"service-0" { 0 } else { 1 });
    assert_eq!(parts.len(), 2);
    for (backend, part) in parts {
        let Telemetry::Traces(request) = part else { panic!() };
        assert_eq!(request.resource_spans.len(), 1);
        assert_eq!(request.resource_spans[0].scope_spans.len(), 2);
        assert_eq!(
            split::service_name(&request.resource_spans[0].resource),
            format!("service-{backend}").as_bytes()
        );
    }
}

#[test]
fn logs_follow_their_trace_and_untraced_logs_their_service() {
    let log = |trace: u8| LogRecord {
        trace_id: if trace == 0 { Vec::new() } else { vec![trace; 16] },
        ..Default::default()
    };
    let resource = match testing::traces(&[&[]]) {
        Telemetry::Traces(r) => r.resource_spans[0].resource.clone(),
        _ => unreachable!(),
    };
    let data = Telemetry::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource,
            scope_logs: vec![ScopeLogs {
                log_records: vec![log(1), log(2), log(0), log(1)],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let parts = split(data, RoutingKey::TraceId, |key| match key {
        [1, ..] => 1,
        [2, ..] => 2,
        b"service-0" => 7,
        other => panic!("unexpected key {other:?}"),
    });
    let counts: BTreeMap<usize, usize> = parts.iter().map(|(i, p)| (*i, p.item_count())).collect();
    assert_eq!(counts, BTreeMap::from([(1, 2), (2, 1), (7, 1)]));
}

fn parse_yaml(yaml: &str) -> Result<LoadBalancing, Vec<String>> {
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(yaml))
        .extract()
        .expect("test yaml");
    LoadBalancing::parse(&figment::value::Value::from(dict))
        .map_err(|errors| errors.into_iter().map(|e| e.to_string()).collect())
}

#[test]
fn a_full_config_parses_with_the_collector_keys() {
    let config = parse_yaml(
        "routing_key: service
protocol:
  otlp:
    timeout: 2s
    tls: {insecure: true}
    sending_queue: {queue_size: 50}
    retry_on_failure: {initial_interval: 100ms}
resolver:
  dns:
    hostname: gw.example.
    interval: 2s
    nameservers: ['127.0.0.1:5353', '::1']",
    )
    .unwrap();
    assert_eq!(config.routing_key, RoutingKey::Service);
    assert_eq!(config.template.timeout, Duration::from_secs(2));
    assert!(config.template.tls.insecure);
    assert_eq!(config.template.sending_queue.queue_size, 50);
    let Resolver::Dns(dns) = &config.resolver else { panic!() };
    assert_eq!(dns.port, 4317);
    assert_eq!(dns.timeout, Duration::from_secs(1));
    assert_eq!(dns.interval, Duration::from_secs(2));
    assert_eq!(
        dns.nameservers,
        vec!["127.0.0.1:5353".parse().unwrap(), "[::1]:53".parse().unwrap()]
    );
    assert_eq!(config.backend("10.0.0.1:4317").endpoint, "10.0.0.1:4317");

    let config = parse_yaml("resolver: {static: {hostnames: [gw-1, 'gw-2:5317']}}").unwrap();
    assert_eq!(config.routing_key, RoutingKey::TraceId);
    assert_eq!(
        config.resolver,
        Resolver::Static(vec!["gw-1:4317".into(), "gw-2:5317".into()])
    );
}

#[test]
fn config_errors_name_the_problem_and_its_path() {
    let cases = [
        (
            "resolver: {static: {hostnames: [a]}, dns: {hostname: b}}",
            "resolver: set exactly one of `static` and `dns`, not both",
        ),
        ("resolver: {}", "resolver: set one of `static`"),
        (
            "resolver: {static: {hostnames: []}}",
            "resolver.static.hostnames: must list at least one backend",
        ),
        (
            "resolver: {static: {hostnames: [a, 'a:4317']}}",
            "resolver.static.hostnames.1: a:4317 is listed twice",
        ),
        ("resolver: {dns: {hostname: 'gw:4317'}}", "resolver.dns.hostname"),
        (
            "resolver: {dns: {hostname: gw, nameservers: [dns.local]}}",
            "resolver.dns.nameservers.0",
        ),
        (
            "resolver: {dns: {hostname: gw, interval: 0s}}",
            "resolver.dns.interval: must be greater than 0",
        ),
        (
            "routing_key: traceid\nresolver: {dns: {hostname: gw}}",
            "did you mean traceID?",
        ),
        (
            "routing_key: servce\nresolver: {dns: {hostname: gw}}",
            "did you mean service?",
        ),
        (
            "protocol: {otlp: {endpoint: 'x:1'}}\nresolver: {dns: {hostname: gw}}",
            "protocol.otlp.endpoint: not allowed here",
        ),
        (
            "protocol: {otlp: {sending_queue: {queue_size: 0}}}\nresolver: {dns: {hostname: gw}}",
            "protocol.otlp.sending_queue.queue_size: must be greater than 0",
        ),
        ("resolver: {k8s: {service: gw}}", "resolver.k8s: unknown field"),
    ];
    for (yaml, expected) in cases {
        let errors = parse_yaml(yaml).expect_err(yaml);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{yaml}: expected {expected:?} in {errors:?}"
        );
    }
    // Every problem at once: template and resolver.
    let errors = parse_yaml("protocol: {otlp: {timeout: 0s}}\nresolver: {static: {hostnames: []}}").unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
}

fn lb(yaml: &str) -> Arc<dyn Exporter> {
    parse_yaml(yaml)
        .unwrap()
        .exporter(&ComponentId::parse("loadbalancing").unwrap())
        .unwrap()
}

#[tokio::test]
async fn with_no_backend_yet_a_request_is_refused_as_retryable() {
    // An unanswered DNS server: no backend ever resolves.
    let exporter = lb("resolver: {dns: {hostname: gw.test., nameservers: ['127.0.0.1:9'], timeout: 100ms}}");
    exporter.start();
    let batch = ExportBatch::new(testing::traces(&[&["a"]]));
    let result = exporter.export(&batch).await;
    assert!(matches!(result, Err(ExportError::Retryable { .. })), "{result:?}");
    assert_eq!(exporter.drain(Instant::now() + Duration::from_secs(2)).await, 0);
    // Safe twice.
    assert_eq!(exporter.drain(Instant::now() + Duration::from_secs(2)).await, 0);
}

#[tokio::test]
async fn a_removed_backend_hands_its_queue_to_the_remaining_ones() {
    // Two backends nobody listens on: everything stays queued and retrying.
    let yaml = "protocol: {otlp: {tls: {insecure: true}, timeout: 200ms, retry_on_failure: {initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 0s}}}
resolver: {static: {hostnames: ['127.0.0.1:1', '127.0.0.1:2']}}";
    let config = parse_yaml(yaml).unwrap();
    let balancer = Balancer {
        id: ComponentId::parse("loadbalancing").unwrap(),
        config,
        members: RwLock::default(),
        parked: Mutex::default(),
        stop: CancellationToken::new(),
        first_resolution: tokio::sync::watch::channel(false).0,
        metrics: BalancerMetrics::new(&ComponentId::parse("loadbalancing").unwrap()),
    };
    let both: BTreeSet<String> = ["127.0.0.1:1".into(), "127.0.0.1:2".into()].into();
    assert!(balancer.set_members(&both).is_empty());
    let data = mixed_traces(40, 2);
    let total = data.item_count();
    assert!(balancer.route(data).await.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await; // attempts fail, retries wait
    let one: BTreeSet<String> = ["127.0.0.1:1".into()].into();
    balancer.apply(&one).await;
    let members = balancer.snapshot();
    assert_eq!(members.ring.endpoints(), ["127.0.0.1:1"]);
    // Everything is now with the remaining backend (queued or in flight), none parked.
    assert!(balancer.parked.lock().unwrap().is_empty());
    let held = members.backends["127.0.0.1:1"]
        .queue
        .retire(Instant::now() + Duration::from_secs(2))
        .await;
    assert_eq!(held.iter().map(|b| b.items()).sum::<usize>(), total);
}
