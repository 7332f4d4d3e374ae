//! The contract every registered component keeps, checked for all of them from the
//! registries, so a new component is covered by adding its registry line:
//!
//! 1. its [`example`](crate::component::registry::Factory::example) parses with its
//!    factory (after the test's rewrites, below);
//! 2. it builds, and shuts down without having been started;
//! 3. twice over: it builds, starts, takes a generated payload of every signal it
//!    handles, and shuts down.
//!
//! Every await is bounded by [`BOUND`], so a component that hangs fails the test
//! instead of holding it up. What is asserted: start is `Ok`; every payload is taken
//! or refused with a retryable error (a full queue, memory pressure), never refused
//! for good; shutdown returns within the bound. Per kind:
//! - receivers get one OTLP request per signal on every address of their example,
//!   over gRPC or HTTP, and must hand each to their output for that signal;
//! - processors are built once per signal they accept (as in a pipeline of that
//!   signal) in front of a recording consumer;
//! - exporters take a batch of every signal into their queue; their backend is
//!   absent (a free port), and shutdown with a short deadline must still return;
//! - connectors are built for every pair of signals they join, with a recording
//!   consumer for each pipeline they can emit into;
//! - extensions start and stop; while started, every address of their example (the
//!   only addresses extensions have so far are ones they serve) accepts connections.
//!
//! **Rewrites.** An example is written for users, so before it is parsed each
//! distinct `localhost:<port>` or `127.0.0.1:<port>` becomes `127.0.0.1:<free port>`
//! (a port free when the test picks it; the same one in both rounds, so the second
//! round also proves the first released it), the prefix `/var/lib/sloop/` becomes a
//! fresh temporary directory, and `${env:NAME}` references get a placeholder value.
//!
//! Components are built and their `start` futures created outside any Tokio runtime,
//! then awaited on one: work such as spawning timers must happen when the future is
//! polled, as the graph does it. Exporters are the exception: their `start` spawns
//! the queue's workers at once, so it is called on the runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use figment::providers::Format;
use figment::value::Dict;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tokio::runtime::Runtime;

use super::{CONNECTORS, EXPORTERS, EXTENSIONS, PROCESSORS, RECEIVERS};
use crate::component::registry::Factory;
use crate::component::{
    ComponentId, ConnectorContext, ConsumeError, Consumer, ExtensionContext, Processor, ProcessorContext,
    ReceiverOutputs, Retry, ServiceHandles, Signal,
};
use crate::pdata::{ExportBatch, Telemetry};
use crate::testing::Recorder;

/// The most any one step (start, consume, shutdown, a request) may take.
const BOUND: Duration = Duration::from_secs(10);

/// How long an exporter's shutdown may keep trying its absent backend.
const EXPORTER_DEADLINE: Duration = Duration::from_millis(300);

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let path = std::env::temp_dir().join(format!("sloop-contract-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port nothing listens on at the moment it is picked.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// An example after the test's rewrites, parsed with its factory.
struct Prepared<C: ?Sized> {
    id: ComponentId,
    config: Box<C>,
    /// The free ports that replaced the example's ports, in order of appearance.
    ports: Vec<u16>,
    /// Where `/var/lib/sloop/` went; removed with the example.
    _dir: TempDir,
}

/// The example's text with its loopback ports and `/var/lib/sloop/` paths moved
/// (see the module docs), and the new ports in order of first appearance.
fn rewrite(example: &str, dir: &std::path::Path) -> (String, Vec<u16>) {
    let address = regex::Regex::new(r"\b(?:localhost|127\.0\.0\.1):(\d{1,5})\b").expect("a valid regex");
    let mut moved: BTreeMap<String, u16> = BTreeMap::new();
    let mut ports = Vec::new();
    let text = address.replace_all(example, |found: &regex::Captures<'_>| {
        let port = *moved.entry(found[1].to_string()).or_insert_with(|| {
            let port = free_port();
            ports.push(port);
            port
        });
        format!("127.0.0.1:{port}")
    });
    let text = text.replace("/var/lib/sloop/", &format!("{}/", dir.display()));
    (text, ports)
}

/// Rewrites `factory`'s example, parses it as YAML, expands `${env:...}` and parses
/// the one component block in it with the factory.
fn prepare<C: ?Sized>(kind: &str, factory: &Factory<C>) -> Result<Prepared<C>, String> {
    let dir = TempDir::new(factory.type_name);
    let (text, ports) = rewrite(factory.example, &dir.0);
    let mut dict: Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(&text))
        .extract()
        .map_err(|e| format!("the example is not a YAML mapping: {e}"))?;
    let mut errors = Vec::new();
    let placeholder = |name: &str| Some(format!("example-{}", name.to_ascii_lowercase()));
    crate::confmap::expand_dict(&mut dict, "", &placeholder, &mut errors);
    if !errors.is_empty() {
        return Err(format!("expanding the example: {errors:?}"));
    }
    let mut blocks = dict.into_iter();
    let (key, block) = match (blocks.next(), blocks.next()) {
        (Some(entry), None) => entry,
        _ => return Err("the example must be one `<id>: ...` mapping".into()),
    };
    let id = ComponentId::parse(&key).map_err(|e| format!("the example's key {key:?}: {e}"))?;
    if !factory.answers_to(id.type_name()) {
        return Err(format!(
            "the example's key {key:?} is not of type {} (or an alias)",
            factory.type_name
        ));
    }
    let config = (factory.parse)(&block).map_err(|problems| {
        let problems: Vec<String> = problems
            .iter()
            .map(|p| format!("{kind}.{key}.{}: {}", p.path, p.message))
            .collect();
        format!("the example does not parse:\n  {}", problems.join("\n  "))
    })?;
    Ok(Prepared {
        id,
        config,
        ports,
        _dir: dir,
    })
}

/// A runtime like the service's: several workers, timers and I/O on.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// Runs `future` on `runtime`, failing with `step` if it takes longer than [`BOUND`].
fn bounded<T>(runtime: &Runtime, step: &str, future: impl Future<Output = T>) -> Result<T, String> {
    runtime
        .block_on(async { tokio::time::timeout(BOUND, future).await })
        .map_err(|_| format!("{step} did not finish within {BOUND:?}"))
}

/// `Ok` for data taken or refused with a retryable error; a permanent refusal fails.
fn accepted(step: &str, outcome: Result<(), ConsumeError>) -> Result<(), String> {
    match outcome {
        Ok(()) => Ok(()),
        Err(error) if error.retry != Retry::Never => Ok(()),
        Err(error) => Err(format!("{step}: refused for good: {error}")),
    }
}

fn string_value(text: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(text.into())),
    })
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: string_value("checkout"),
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "contract-test".into(),
        ..Default::default()
    })
}

/// A small payload of `signal`, timestamped now (so an slo processor counts it).
fn payload(signal: Signal) -> Telemetry {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1_700_000_000_000_000_000);
    match signal {
        Signal::Traces => {
            let mut data = crate::testing::traces(&[&["GET /", "POST /checkout"], &["GET /api/items"]]);
            if let Telemetry::Traces(request) = &mut data {
                for (i, span) in request
                    .resource_spans
                    .iter_mut()
                    .flat_map(|r| &mut r.scope_spans)
                    .flat_map(|s| &mut s.spans)
                    .enumerate()
                {
                    span.trace_id[0] = i as u8;
                    span.end_time_unix_nano = now;
                    span.start_time_unix_nano = now - 120_000_000;
                    span.attributes.push(KeyValue {
                        key: "http.response.status_code".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::IntValue(200)),
                        }),
                        ..Default::default()
                    });
                }
            }
            data
        }
        Signal::Metrics => Telemetry::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource(),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(),
                    metrics: vec![Metric {
                        name: "queue.depth".into(),
                        unit: "{item}".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                time_unix_nano: now,
                                value: Some(number_data_point::Value::AsInt(7)),
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        Signal::Logs => Telemetry::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource(),
                scope_logs: vec![ScopeLogs {
                    scope: scope(),
                    log_records: vec![LogRecord {
                        time_unix_nano: now,
                        observed_time_unix_nano: now,
                        severity_number: 9,
                        severity_text: "INFO".into(),
                        body: string_value("GET / 200"),
                        trace_id: (1..=16).collect(),
                        span_id: (1..=8).collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
    }
}

/// Runs `check` on every factory; all failures at once, each with its component.
fn every<C: ?Sized>(kind: &str, factories: &[Factory<C>], check: impl Fn(&Runtime, &Factory<C>) -> Result<(), String>) {
    let runtime = runtime();
    let failures: Vec<String> = factories
        .iter()
        .filter_map(|factory| {
            check(&runtime, factory)
                .err()
                .map(|e| format!("{kind}.{}: {e}", factory.type_name))
        })
        .collect();
    runtime.shutdown_timeout(BOUND);
    assert!(
        failures.is_empty(),
        "components that break the contract (src/components/contract.rs):\n{}",
        failures.join("\n")
    );
}

/// One OTLP/gRPC export of `data` to `port`: whether it was answered OK. Any
/// failure is `false`: the address may serve OTLP/HTTP instead.
async fn send_grpc(port: u16, data: Telemetry) -> bool {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")) else {
        return false;
    };
    let Ok(channel) = endpoint.connect().await else {
        return false;
    };
    let outcome = match data {
        Telemetry::Traces(request) => TraceServiceClient::new(channel).export(request).await.map(|_| ()),
        Telemetry::Metrics(request) => MetricsServiceClient::new(channel).export(request).await.map(|_| ()),
        Telemetry::Logs(request) => LogsServiceClient::new(channel).export(request).await.map(|_| ()),
    };
    outcome.is_ok()
}

/// One OTLP/HTTP protobuf export of `data` to `port`: `Ok(true)` when answered 200
/// as OTLP/HTTP (not as a gRPC error, which also comes as 200).
async fn send_http(port: u16, data: Telemetry) -> Result<bool, String> {
    let signal = data.signal();
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/{signal}"))
        .header("content-type", "application/x-protobuf")
        .body(data.encode_protobuf())
        .send()
        .await
        .map_err(|e| format!("POST to 127.0.0.1:{port}: {e}"))?;
    Ok(response.status() == reqwest::StatusCode::OK && !response.headers().contains_key("grpc-status"))
}

/// For receivers that do not speak OTLP: one Zipkin v2 JSON span to `port`
/// (traces only), `Ok(true)` when answered 202.
async fn send_zipkin(port: u16, signal: Signal) -> Result<bool, String> {
    if signal != Signal::Traces {
        return Ok(false);
    }
    let span = r#"[{"traceId": "0af7651916cd43dd8448eb211c80319c", "id": "b7ad6b7169203331", "name": "GET /"}]"#;
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v2/spans"))
        .header("content-type", "application/json")
        .body(span)
        .send()
        .await
        .map_err(|e| format!("POST to 127.0.0.1:{port}: {e}"))?;
    Ok(response.status() == reqwest::StatusCode::ACCEPTED)
}

/// A receiver's context in a service that runs no authenticator.
fn no_authenticators() -> crate::component::ReceiverContext<'static> {
    static NONE: std::sync::OnceLock<crate::component::Authenticators> = std::sync::OnceLock::new();
    static STORAGE: std::sync::OnceLock<
        std::collections::BTreeMap<crate::component::ComponentId, crate::storage::StorageSettings>,
    > = std::sync::OnceLock::new();
    static SERVICE: std::sync::OnceLock<crate::component::ServiceHandles> = std::sync::OnceLock::new();
    crate::component::ReceiverContext {
        authenticators: NONE.get_or_init(Default::default),
        storage: STORAGE.get_or_init(Default::default),
        service: SERVICE.get_or_init(Default::default),
    }
}

/// Receivers that speak no OTLP: the round starts and stops them (twice, so the
/// second start proves the first released its ports) without sending.
const NOT_OTLP_RECEIVERS: &[&str] = &["jaeger"];

/// One round for a receiver: build, start, one OTLP request per signal to every
/// address of its example (gRPC, else HTTP, else a Zipkin span), shutdown; every
/// request answered OK must have reached the receiver's output.
fn receiver_round(
    runtime: &Runtime,
    factory: &Factory<dyn crate::component::ReceiverConfig>,
    prepared: &Prepared<dyn crate::component::ReceiverConfig>,
) -> Result<(), String> {
    let recorders: BTreeMap<Signal, Arc<Recorder>> = factory
        .signals
        .iter()
        .map(|&signal| (signal, Recorder::new()))
        .collect();
    let output = |signal| {
        recorders
            .get(&signal)
            .map(|recorder| recorder.clone() as Arc<dyn Consumer>)
    };
    let outputs = ReceiverOutputs {
        traces: output(Signal::Traces),
        metrics: output(Signal::Metrics),
        logs: output(Signal::Logs),
    };
    let receiver = prepared
        .config
        .build(&prepared.id, outputs, &no_authenticators())
        .map_err(|e| format!("build: {e}"))?;
    let start = receiver.start();
    bounded(runtime, "start", start)?.map_err(|e| format!("start: {e}"))?;
    let mut sent = 0;
    let mut problems = Vec::new();
    // Receivers of other protocols start and stop here; their own tests send.
    let ports: &[u16] = if NOT_OTLP_RECEIVERS.contains(&factory.type_name) {
        &[]
    } else {
        &prepared.ports
    };
    for &port in ports {
        for &signal in factory.signals {
            let delivered = bounded(runtime, "an OTLP request", async {
                if send_grpc(port, payload(signal)).await {
                    return Ok(true);
                }
                if send_http(port, payload(signal)).await? {
                    return Ok(true);
                }
                send_zipkin(port, signal).await
            })
            .and_then(|outcome| outcome);
            match delivered {
                Ok(true) => sent += 1,
                Ok(false) => problems.push(format!("127.0.0.1:{port} took no OTLP {signal} over gRPC or HTTP")),
                Err(e) => problems.push(e),
            }
        }
    }
    let received: usize = recorders.values().map(|r| r.batch_sizes().len()).sum();
    bounded(runtime, "shutdown", receiver.shutdown())?;
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    if received != sent {
        return Err(format!(
            "answered OK to {sent} requests but handed {received} payloads on"
        ));
    }
    Ok(())
}

#[test]
fn every_receiver_keeps_the_contract() {
    every("receivers", RECEIVERS, |runtime, factory| {
        let prepared = prepare("receivers", factory)?;
        let unstarted = prepared
            .config
            .build(&prepared.id, ReceiverOutputs::default(), &no_authenticators())
            .map_err(|e| format!("build: {e}"))?;
        bounded(runtime, "shutdown without start", unstarted.shutdown())?;
        drop(unstarted);
        for round in 1..=2 {
            receiver_round(runtime, factory, &prepared).map_err(|e| format!("round {round}: {e}"))?;
        }
        Ok(())
    });
}

/// The context of a processor in a pipeline of `signal`, with recording consumers
/// for its exporters and for every pipeline it sends into.
fn processor_context<'a>(
    id: &'a ComponentId,
    signal: Signal,
    pipelines: &'a BTreeMap<String, Arc<dyn Consumer>>,
    service: &'a ServiceHandles,
) -> ProcessorContext<'a> {
    ProcessorContext {
        id,
        pipeline: signal.as_str(),
        signal,
        exporters: Recorder::new(),
        pipelines,
        service,
        durable: false,
    }
}

/// Starts `processor` (its `start` future created outside the runtime), hands it
/// `data`, and shuts it down; `step` names each step in errors.
fn start_consume_shutdown(
    runtime: &Runtime,
    processor: &dyn Processor,
    data: Telemetry,
    step: &dyn Fn(&str) -> String,
) -> Result<(), String> {
    let start = processor.start();
    bounded(runtime, &step("start"), start)?.map_err(|e| format!("{}: {e}", step("start")))?;
    let consumed = bounded(runtime, &step("consume"), processor.consume(data))?;
    accepted(&step("consume"), consumed)?;
    bounded(runtime, &step("shutdown"), processor.shutdown())
}

#[test]
fn every_processor_keeps_the_contract() {
    every("processors", PROCESSORS, |runtime, factory| {
        let prepared = prepare("processors", factory)?;
        let config = &prepared.config;
        let signals: Vec<Signal> = factory
            .signals
            .iter()
            .copied()
            .filter(|&signal| config.check_signal(signal).is_ok())
            .collect();
        if signals.is_empty() {
            return Err(format!("the example runs in no pipeline of {:?}", factory.signals));
        }
        let pipelines: BTreeMap<String, Arc<dyn Consumer>> = config
            .metrics_pipelines()
            .into_iter()
            .map(|(_, name)| (name, Recorder::new() as Arc<dyn Consumer>))
            .collect();
        for &signal in &signals {
            let service = ServiceHandles::default();
            let ctx = processor_context(&prepared.id, signal, &pipelines, &service);
            let unstarted = config
                .build(&ctx, Recorder::new())
                .map_err(|e| format!("{signal}: build: {e}"))?;
            bounded(runtime, "shutdown without start", unstarted.shutdown())?;
        }
        for round in 1..=2 {
            for &signal in &signals {
                let step = |what: &str| format!("round {round}, {signal}: {what}");
                let service = ServiceHandles::default();
                let ctx = processor_context(&prepared.id, signal, &pipelines, &service);
                let processor = config
                    .build(&ctx, Recorder::new())
                    .map_err(|e| format!("{}: {e}", step("build")))?;
                start_consume_shutdown(runtime, &*processor, payload(signal), &step)?;
            }
        }
        Ok(())
    });
}

#[test]
fn every_exporter_keeps_the_contract() {
    every("exporters", EXPORTERS, |runtime, factory| {
        let prepared = prepare("exporters", factory)?;
        let build = || {
            let _on_runtime = runtime.enter();
            let service = crate::component::ServiceHandles::default();
            let ctx = crate::component::ExporterContext {
                id: &prepared.id,
                storage: &BTreeMap::new(),
                authenticators: &crate::component::Authenticators::default(),
                service: &service,
            };
            prepared.config.build(&ctx).map_err(|e| format!("build: {e}"))
        };
        let unstarted = build()?;
        let deadline = || tokio::time::Instant::now() + EXPORTER_DEADLINE;
        bounded(runtime, "shutdown without start", async {
            unstarted.shutdown(deadline()).await
        })?;
        for round in 1..=2 {
            let exporter = build().map_err(|e| format!("round {round}: {e}"))?;
            runtime
                .block_on(async { exporter.start() })
                .map_err(|e| format!("round {round}: start: {e}"))?;
            for &signal in factory.signals {
                let step = format!("round {round}: enqueue {signal}");
                let batch = Arc::new(ExportBatch::new(payload(signal)));
                let queued = bounded(runtime, &step, exporter.enqueue(batch))?;
                accepted(&step, queued)?;
            }
            bounded(runtime, &format!("round {round}: shutdown"), async {
                exporter.shutdown(deadline()).await
            })?;
        }
        Ok(())
    });
}

/// The pipelines a connector joining `from` to `to` can emit into: those its config
/// names, and the signal's default pipeline; each records what it gets.
fn connector_outputs(
    config: &dyn crate::component::ConnectorConfig,
    to: Signal,
) -> BTreeMap<String, Arc<dyn Consumer>> {
    let mut names: BTreeSet<String> = config.pipelines().into_iter().map(|(_, name)| name).collect();
    names.insert(to.as_str().to_string());
    names
        .into_iter()
        .filter(|name| Signal::parse(name.split('/').next().unwrap_or(name)) == Some(to))
        .map(|name| (name, Recorder::new() as Arc<dyn Consumer>))
        .collect()
}

#[test]
fn every_connector_keeps_the_contract() {
    every("connectors", CONNECTORS, |runtime, factory| {
        let prepared = prepare("connectors", factory)?;
        let config = &prepared.config;
        let pairs: Vec<(Signal, Signal)> = factory
            .signals
            .iter()
            .flat_map(|&from| Signal::ALL.map(|to| (from, to)))
            .filter(|&(from, to)| config.supports(from, to))
            .collect();
        if pairs.is_empty() {
            return Err(format!(
                "the example joins no pair of signals from {:?}",
                factory.signals
            ));
        }
        for round in 0..=2 {
            for &(from, to) in &pairs {
                let step = |what: &str| format!("round {round}, {from} → {to}: {what}");
                let outputs = connector_outputs(&**config, to);
                let service = ServiceHandles::default();
                let ctx = ConnectorContext {
                    id: &prepared.id,
                    from,
                    to,
                    outputs: &outputs,
                    service: &service,
                };
                let connector = config.build(&ctx).map_err(|e| format!("{}: {e}", step("build")))?;
                if round == 0 {
                    bounded(runtime, &step("shutdown without start"), connector.shutdown())?;
                    continue;
                }
                start_consume_shutdown(runtime, &*connector, payload(from), &step)?;
            }
        }
        Ok(())
    });
}

#[test]
fn every_extension_keeps_the_contract() {
    every("extensions", EXTENSIONS, |runtime, factory| {
        let prepared = prepare("extensions", factory)?;
        for round in 0..=2 {
            let service = ServiceHandles::default();
            let ctx = ExtensionContext {
                ready: Arc::new(AtomicBool::new(true)),
                memory_pressure: service.memory_pressure.clone(),
                storage_pressure: service.storage_pressure.clone(),
                view: service.view.clone(),
            };
            let extension = prepared
                .config
                .build(&prepared.id, &ctx)
                .map_err(|e| format!("round {round}: build: {e}"))?;
            if round > 0 {
                let start = extension.start();
                bounded(runtime, "start", start)?.map_err(|e| format!("round {round}: start: {e}"))?;
                for &port in &prepared.ports {
                    bounded(
                        runtime,
                        "connecting",
                        tokio::net::TcpStream::connect(("127.0.0.1", port)),
                    )?
                    .map_err(|e| format!("round {round}: started, but 127.0.0.1:{port} refuses connections: {e}"))?;
                }
            }
            bounded(runtime, "shutdown", extension.shutdown())?;
        }
        Ok(())
    });
}

#[test]
fn the_rewrites_move_loopback_ports_and_state_paths() {
    let dir = TempDir::new("rewrite");
    let (text, ports) = rewrite(
        "a:\n  endpoint: localhost:4317\n  b: http://127.0.0.1:4317/v1\n  c: [localhost:5317]\n  path: /var/lib/sloop/x\n  d: example.com:4317\n",
        &dir.0,
    );
    assert_eq!(ports.len(), 2, "{text}");
    assert!(!ports.contains(&4317) && !ports.contains(&5317));
    assert!(text.contains(&format!("endpoint: 127.0.0.1:{}\n", ports[0])), "{text}");
    assert!(text.contains(&format!("http://127.0.0.1:{}/v1", ports[0])), "{text}");
    assert!(text.contains(&format!("[127.0.0.1:{}]", ports[1])), "{text}");
    assert!(text.contains(&format!("path: {}/x", dir.0.display())), "{text}");
    assert!(text.contains("example.com:4317"), "{text}");
}
