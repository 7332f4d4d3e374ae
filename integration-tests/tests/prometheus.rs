//! The `prometheus` and `prometheus_remote_write` exporters against a real
//! Prometheus server (Debian's `prometheus` package, which `scripts/test` installs).
//!
//! `slo_metrics_reach_prometheus_both_ways`: sloop runs an SLO pipeline (spans in over
//! OTLP/gRPC → sli → slo → `metrics/slo` pipeline → both exporters). A Prometheus
//! server on a free loopback port, with its own config and TSDB directory, takes
//! remote writes and scrapes sloop's `prometheus` exporter every second. After 18
//! good and 2 bad homepage spans against a 0.8 target (4 bad events allowed), its
//! query API must show, for the remote-written series (`job="sloop"`, from the
//! resource's `service.name`) and for the scraped ones (`job="sloop-scrape"`, the
//! scrape job; the resource's job moves to `exported_job`): 18 good and 2 bad events
//! and half the error budget left, as the slo processor computes it. The page is
//! served as OpenMetrics (`enable_open_metrics`), so Prometheus (with its exemplar
//! storage on) also keeps an exemplar of the bad events: a bad span's trace id.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use integration_tests::payloads::{kv_int, now_nanos, unique_ids, HOMEPAGE_SLI_YAML};
use integration_tests::{free_port, poll_until, unique_temp_dir, Sloop, SloopPorts};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use serde_json::Value as Json;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const OBJECTIVE: &str = "homepage-availability";
/// How long Prometheus may take to start, and the figures to arrive.
const BOUND: Duration = Duration::from_secs(30);

/// A Prometheus server the test started, stopped by its pid when dropped.
struct PrometheusServer {
    child: Child,
    port: u16,
    log: PathBuf,
    http: reqwest::Client,
}

impl PrometheusServer {
    /// Starts Prometheus with the remote-write receiver on, scraping `target`
    /// every second as job `sloop-scrape`, and waits until it is ready.
    async fn start(dir: &Path, target: &str) -> PrometheusServer {
        assert!(
            Path::new(PROMETHEUS).exists(),
            "{PROMETHEUS} is missing: run scripts/test, which installs Debian's prometheus package"
        );
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: sloop-scrape\n    scrape_interval: 1s\n    \
                 scrape_timeout: 1s\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("writing prometheus.yml");
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--enable-feature=exemplar-storage")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("creating prometheus.log"))
            .spawn()
            .expect("starting prometheus");
        let mut server = PrometheusServer {
            child,
            port,
            log,
            http: reqwest::Client::new(),
        };
        let ready = poll_until(BOUND, Duration::from_millis(100), || async {
            let response = server.http.get(server.url("/-/ready")).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
        if ready.is_none() {
            let exited = server.child.try_wait().ok().flatten();
            panic!("prometheus not ready (exited: {exited:?}):\n{}", server.logs());
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The values of an instant query, each with its labels.
    async fn query(&self, query: &str) -> Vec<(serde_json::Map<String, Json>, f64)> {
        let Ok(response) = self
            .http
            .get(self.url("/api/v1/query"))
            .query(&[("query", query)])
            .send()
            .await
        else {
            return Vec::new();
        };
        let body: Json = serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or_default();
        body["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|series| {
                let labels = series["metric"].as_object()?.clone();
                let value = series["value"][1].as_str()?.parse().ok()?;
                Some((labels, value))
            })
            .collect()
    }

    /// The `trace_id` labels of the exemplars of `query`'s series over the last hour.
    async fn exemplar_trace_ids(&self, query: &str) -> BTreeSet<String> {
        let now = now_nanos() / 1_000_000_000;
        let (start, end) = ((now - 3600).to_string(), (now + 60).to_string());
        let Ok(response) = self
            .http
            .get(self.url("/api/v1/query_exemplars"))
            .query(&[("query", query), ("start", &start), ("end", &end)])
            .send()
            .await
        else {
            return BTreeSet::new();
        };
        let body: Json = serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or_default();
        body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
            .filter_map(|exemplar| exemplar["labels"]["trace_id"].as_str().map(str::to_string))
            .collect()
    }

    /// Polls `query` until it has exactly one series whose value is within 1e-9 of
    /// `expected`; panics with what it last saw otherwise.
    async fn wait_for_value(&self, query: &str, expected: f64) -> serde_json::Map<String, Json> {
        let found = poll_until(BOUND, Duration::from_millis(200), || async {
            match self.query(query).await.as_slice() {
                [(labels, value)] if (value - expected).abs() < 1e-9 => Some(labels.clone()),
                _ => None,
            }
        })
        .await;
        match found {
            Some(labels) => labels,
            None => panic!(
                "{query} never became {expected}; last answer: {:?}\nprometheus log:\n{}",
                self.query(query).await,
                self.logs()
            ),
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        // Child::kill signals this child's pid only.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn config(ports: &SloopPorts, scrape: &str, remote_write: &str) -> String {
    format!(
        "{receivers}processors:
{HOMEPAGE_SLI_YAML}  slo:
    interval: 1s
    metrics_pipeline: metrics/slo
    objectives:
      - name: {OBJECTIVE}
        sli: homepage
        target: 0.8
exporters:
  debug:
    verbosity: basic
  prometheus:
    endpoint: {scrape}
    metric_expiration: 1m
    enable_open_metrics: true
  prometheus_remote_write:
    endpoint: {remote_write}
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
      max_elapsed_time: 10s
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [sli, slo]
      exporters: [debug]
    metrics/slo:
      receivers: [otlp]
      exporters: [prometheus, prometheus_remote_write]
",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        health = ports.health,
        telemetry = ports.telemetry,
    )
}

/// `good` homepage renders that answered 200 and `bad` ones that answered 500.
fn homepage_spans(good: usize, bad: usize) -> ExportTraceServiceRequest {
    let end = now_nanos();
    let spans: Vec<Span> = (0..good + bad)
        .map(|i| {
            let (trace_id, span_id) = unique_ids();
            Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                name: "GET /".into(),
                kind: span::SpanKind::Server as i32,
                start_time_unix_nano: end - 50_000_000,
                end_time_unix_nano: end,
                attributes: vec![kv_int("http.response.status_code", if i < good { 200 } else { 500 })],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_metrics_reach_prometheus_both_ways() {
    let dir = unique_temp_dir();
    let scrape = format!("127.0.0.1:{}", free_port());
    let prometheus = PrometheusServer::start(&dir, &scrape).await;
    let ports = SloopPorts::new();
    let remote_write = prometheus.url("/api/v1/write");
    let sloop = Sloop::start(&config(&ports, &scrape, &remote_write), &ports).await;

    let mut client = TraceServiceClient::connect(ports.grpc_url())
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    let spans = homepage_spans(18, 2);
    let bad_traces: BTreeSet<String> = spans.resource_spans[0].scope_spans[0].spans[18..]
        .iter()
        .map(|span| hex(&span.trace_id))
        .collect();
    client.export(spans).await.expect("sloop takes the spans");

    // Remote write: the resource's service.name is the job.
    let events = |job: &str, outcome: &str| {
        format!("slo_events_total{{job=\"{job}\",slo_name=\"{OBJECTIVE}\",slo_outcome=\"{outcome}\"}}")
    };
    let written = prometheus.wait_for_value(&events("sloop", "good"), 18.0).await;
    assert_eq!(written["otel_scope_name"], "sloop/slo", "{written:?}");
    assert!(
        written.contains_key("instance"),
        "service.instance.id is the instance: {written:?}"
    );
    prometheus.wait_for_value(&events("sloop", "bad"), 2.0).await;
    // 2 bad of the 4 the 0.8 target allows in 20 events: half the budget is left.
    let remaining = |job: &str| format!("slo_error_budget_remaining_ratio{{job=\"{job}\",slo_name=\"{OBJECTIVE}\"}}");
    prometheus.wait_for_value(&remaining("sloop"), 0.5).await;
    prometheus
        .wait_for_value(
            &format!("slo_objective_ratio{{job=\"sloop\",slo_name=\"{OBJECTIVE}\"}}"),
            0.8,
        )
        .await;

    // Scrape: the same figures under the scrape job, the resource's job kept aside.
    let scraped = prometheus.wait_for_value(&events("sloop-scrape", "good"), 18.0).await;
    assert_eq!(scraped["exported_job"], "sloop", "{scraped:?}");
    prometheus.wait_for_value(&events("sloop-scrape", "bad"), 2.0).await;
    prometheus.wait_for_value(&remaining("sloop-scrape"), 0.5).await;
    prometheus.wait_for_value("up{job=\"sloop-scrape\"}", 1.0).await;

    // OpenMetrics carried an exemplar of the bad events (one per sample, as the
    // format allows): a link to one of the bad spans' traces, never a good one's.
    let exemplars = poll_until(BOUND, Duration::from_millis(200), || async {
        let found = prometheus.exemplar_trace_ids(&events("sloop-scrape", "bad")).await;
        (!found.is_empty() && found.is_subset(&bad_traces)).then_some(found)
    })
    .await;
    if exemplars.is_none() {
        let page = prometheus
            .http
            .get(format!("http://{scrape}/metrics"))
            .header("accept", "application/openmetrics-text;version=1.0.0")
            .send()
            .await;
        let page = match page {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(e) => e.to_string(),
        };
        panic!(
            "exemplars {:?}, expected some of {bad_traces:?}; sloop's page:\n{page}",
            prometheus.exemplar_trace_ids(&events("sloop-scrape", "bad")).await
        );
    }

    // Every write was taken: nothing failed or was dropped on the way.
    let failed = sloop
        .metric(
            "otelcol_exporter_send_failed_metric_points",
            &[("exporter", "prometheus_remote_write")],
        )
        .await;
    assert_eq!(failed, 0.0, "{}", sloop.logs());
    drop(sloop);
    drop(prometheus);
    let _ = std::fs::remove_dir_all(&dir);
}
