//! Paging through a real Alertmanager (Debian's `prometheus-alertmanager`), with no
//! Prometheus in between.
//!
//! `brownout_pages_through_alertmanager_and_resolves_after_it`:
//! 1. sloop starts with an objective (`target: 0.999`, the default alert rules) and
//!    `alertmanager` pointing at a port where nothing listens yet. A brownout (1,000
//!    good and 100 bad homepage renders over OTLP/gRPC) makes every rule fire; the
//!    sends fail and are counted in `otelcol_processor_slo_alertmanager_send_failures`.
//! 2. Alertmanager starts on that port (loopback, storage in a temp dir, no
//!    clustering), routing every alert to a webhook this test serves. The alerts sloop
//!    retries reach it: the webhook receives the page alert (labels `slo`, `sli`,
//!    `severity=page`, `windows=1h/5m`, the annotations and the `generatorURL`), and
//!    `GET /api/v2/alerts` lists all four (two page rules, two ticket rules).
//! 3. The brownout ends: 20,000 good renders. 100 bad of 21,100 events is a burn
//!    rate of (100 / 21,100) / 0.001 = 4.74, below both page thresholds (14.4 over
//!    1h/5m, 6 over 6h/30m) but above both ticket ones (3 over 1d/2h, 1 over 3d/6h),
//!    since every window holds the same few minutes. The webhook receives both page
//!    alerts resolved, with the `startsAt` they fired with, and Alertmanager keeps
//!    only the two ticket alerts active.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use integration_tests::admin::http_client;
use integration_tests::payloads::{kv_int, kv_str, now_nanos, unique_ids, HOMEPAGE_SLI_YAML};
use integration_tests::{free_port, metric_sum, poll_until, unique_temp_dir, Sloop, SloopPorts};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use serde_json::Value as Json;

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const SLO: &str = "homepage-availability";
/// Bound on every wait for Alertmanager or its webhook: sloop ticks every second,
/// Alertmanager groups and repeats every second.
const ALERT_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

/// A real Alertmanager child process, killed by its pid when dropped (its logs are
/// printed if the test is failing).
struct Alertmanager {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Alertmanager {
    /// Starts Alertmanager on `127.0.0.1:port`, sending every alert to `webhook`
    /// (resolved ones too), and waits until it is ready.
    async fn start(port: u16, webhook: &str) -> Alertmanager {
        assert!(
            std::path::Path::new(ALERTMANAGER).is_file(),
            "{ALERTMANAGER} is missing: the test command (./scripts/test) installs Debian's \
             prometheus-alertmanager package"
        );
        let dir = unique_temp_dir();
        let config = dir.join("alertmanager.yml");
        // Every alert in a group of its own (its full label set), flushed at once.
        std::fs::write(
            &config,
            format!(
                "route:
  receiver: webhook
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: {webhook}
        send_resolved: true
"
            ),
        )
        .expect("writing alertmanager.yml");
        let log = |name: &str| File::create(dir.join(name)).expect("creating an Alertmanager log file");
        let child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Empty: no gossip, no cluster port.
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {ALERTMANAGER}: {e}"));
        let alertmanager = Alertmanager { child, port, dir };
        let ready = format!("{}/-/ready", alertmanager.url());
        let up = poll_until(ALERT_TIMEOUT, POLL, || async {
            let response = http_client().get(&ready).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
        assert!(
            up.is_some(),
            "Alertmanager never became ready at {ready}\n{}",
            alertmanager.logs()
        );
        alertmanager
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!(
            "----- alertmanager stderr -----\n{}\n----- end -----",
            read("stderr.log")
        )
    }

    /// `GET /api/v2/alerts`: the alerts Alertmanager holds as active.
    async fn alerts(&self) -> Vec<Json> {
        let url = format!("{}/api/v2/alerts", self.url());
        let response = http_client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let body = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("reading GET {url}: {e}"));
        let body: Json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url} is not JSON ({e}): {body}"));
        body.as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        // `Child::kill` signals this child's own pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The webhook Alertmanager notifies: records every notification's JSON body. Served
/// by a task of this test, aborted when dropped.
struct Webhook {
    port: u16,
    received: Arc<Mutex<Vec<Json>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Webhook {
    async fn start() -> Webhook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the webhook to 127.0.0.1:0");
        let port = listener.local_addr().expect("the webhook's address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |body: axum::body::Bytes| {
                let store = store.clone();
                async move {
                    let json: Json = serde_json::from_slice(&body).unwrap_or_else(|e| {
                        Json::String(format!("not JSON ({e}): {}", String::from_utf8_lossy(&body)))
                    });
                    store.lock().unwrap_or_else(|p| p.into_inner()).push(json);
                    "ok"
                }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Webhook { port, received, task }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Every alert of every notification so far.
    fn alerts(&self) -> Vec<Json> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Polls until an alert with `status` and all of `labels` was received.
    async fn wait_for(&self, status: &str, labels: &[(&str, &str)]) -> Option<Json> {
        poll_until(ALERT_TIMEOUT, POLL, || async {
            self.alerts()
                .into_iter()
                .find(|a| a["status"] == status && has_labels(a, labels))
        })
        .await
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn has_labels(alert: &Json, labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(k, v)| alert["labels"][*k] == *v)
}

/// `good` and `bad` homepage renders (HTTP 200 and 500), ended a second ago.
fn renders(good: usize, bad: usize) -> ExportTraceServiceRequest {
    let end = now_nanos() - 1_000_000_000;
    let spans = (0..good + bad)
        .map(|i| {
            let (trace_id, span_id) = unique_ids();
            let status = if i < good { 200 } else { 500 };
            Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                name: "GET /".into(),
                kind: span::SpanKind::Server as i32,
                start_time_unix_nano: end - 20_000_000,
                end_time_unix_nano: end,
                attributes: vec![kv_int("http.response.status_code", status)],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv_str("service.name", "shop-frontend")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn send(ports: &SloopPorts, requests: impl IntoIterator<Item = ExportTraceServiceRequest>) {
    let mut client = TraceServiceClient::connect(ports.grpc_url())
        .await
        .expect("connecting to sloop's OTLP/gRPC receiver");
    for request in requests {
        let response = client
            .export(request)
            .await
            .unwrap_or_else(|status| panic!("sloop refused spans: {status:?}"))
            .into_inner();
        assert!(
            response.partial_success.is_none_or(|p| p.rejected_spans == 0),
            "sloop rejected spans"
        );
    }
}

fn config(ports: &SloopPorts, alertmanager_port: u16) -> String {
    format!(
        "{receivers}processors:
{HOMEPAGE_SLI_YAML}  slo:
    interval: 1s
    objectives:
      - name: {SLO}
        sli: homepage
        target: 0.999
    alertmanager:
      endpoint: http://127.0.0.1:{alertmanager_port}
      timeout: 2s
      resend_interval: 1s
      labels: {{team: shop}}
      external_url: http://127.0.0.1:{admin}
exporters:
  nop:
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        admin = ports.telemetry,
        service = ports.traces_service_yaml(&["sli", "slo"], &["nop"]),
    )
}

/// The labels of sloop's alerts among `alerts`, as (severity, windows).
fn rules(alerts: &[Json]) -> Vec<(String, String)> {
    let mut rules: Vec<(String, String)> = alerts
        .iter()
        .filter(|a| a["labels"]["slo"] == SLO)
        .map(|a| {
            (
                a["labels"]["severity"].as_str().unwrap_or_default().to_string(),
                a["labels"]["windows"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    rules.sort();
    rules
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[tokio::test]
async fn brownout_pages_through_alertmanager_and_resolves_after_it() {
    let webhook = Webhook::start().await;
    let ports = SloopPorts::new();
    let alertmanager_port = free_port();
    let sloop = Sloop::start(&config(&ports, alertmanager_port), &ports).await;

    // 1. The brownout, with Alertmanager not there yet: 100 bad of 1,100 is a burn
    //    rate of 90.9 over every window, so every rule fires, and sending fails.
    send(&ports, [renders(1000, 100)]).await;
    let failures = poll_until(ALERT_TIMEOUT, POLL, || async {
        let text = sloop.scrape_metrics().await;
        let failures = metric_sum(
            &text,
            "otelcol_processor_slo_alertmanager_send_failures",
            &[("processor", "slo")],
        );
        (failures > 0.0).then_some(failures)
    })
    .await;
    assert!(
        failures.is_some(),
        "no send failure counted while Alertmanager is down\n{}",
        sloop.logs()
    );

    // 2. Alertmanager comes up; the next tick delivers.
    let alertmanager = Alertmanager::start(alertmanager_port, &webhook.url()).await;
    let page = [
        ("alertname", "SLOErrorBudgetBurn"),
        ("slo", SLO),
        ("severity", "page"),
        ("windows", "1h/5m"),
    ];
    let Some(firing) = webhook.wait_for("firing", &page).await else {
        panic!(
            "the webhook got no firing page alert; it got {:?}\n{}\n{}",
            webhook.alerts(),
            alertmanager.logs(),
            sloop.logs()
        );
    };
    assert_eq!(firing["labels"]["sli"], "homepage", "{firing}");
    assert_eq!(firing["labels"]["team"], "shop", "{firing}");
    assert!(
        firing["labels"].get("segment").is_none(),
        "the objective as a whole has no segment: {firing}"
    );
    // 1,100 events allow 1.1 bad; 100 bad spent it 91 times over.
    assert_eq!(firing["annotations"]["error_budget_remaining"], "-8990.9%", "{firing}");
    assert_eq!(firing["annotations"]["burn_rate_long"], "90.91", "{firing}");
    assert_eq!(firing["annotations"]["burn_rate_short"], "90.91", "{firing}");
    assert!(firing["annotations"]["time_to_exhaustion"].is_string(), "{firing}");
    assert!(
        firing["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains(SLO)),
        "{firing}"
    );
    assert_eq!(
        firing["generatorURL"],
        format!("http://127.0.0.1:{}/slos/{SLO}", ports.telemetry),
        "{firing}"
    );
    // The link leads somewhere: the objective's status page.
    let page = http_client()
        .get(firing["generatorURL"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("following the alert's generatorURL");
    assert_eq!(
        page.status(),
        reqwest::StatusCode::OK,
        "generatorURL {}",
        firing["generatorURL"]
    );
    let html = page.text().await.expect("reading the status page");
    assert!(html.contains(SLO), "the page behind generatorURL does not name {SLO}");
    let started = firing["startsAt"].clone();

    let all_four = pairs(&[
        ("page", "1h/5m"),
        ("page", "6h/30m"),
        ("ticket", "1d/2h"),
        ("ticket", "3d/6h"),
    ]);
    let active = poll_until(ALERT_TIMEOUT, POLL, || async {
        let alerts = alertmanager.alerts().await;
        (rules(&alerts) == all_four).then_some(alerts)
    })
    .await;
    let Some(active) = active else {
        panic!(
            "Alertmanager does not hold the four alerts: {:?}\n{}",
            alertmanager.alerts().await,
            sloop.logs()
        );
    };
    assert!(active.iter().all(|a| a["status"]["state"] == "active"), "{active:?}");

    // 3. The brownout ends: 100 bad of 21,100 burns 4.74 times too fast.
    send(&ports, (0..20).map(|_| renders(1000, 0))).await;
    for windows in ["1h/5m", "6h/30m"] {
        let labels = [("slo", SLO), ("severity", "page"), ("windows", windows)];
        let Some(resolved) = webhook.wait_for("resolved", &labels).await else {
            panic!(
                "the webhook got no resolved {windows} page; it got {:?}\n{}",
                webhook.alerts(),
                sloop.logs()
            );
        };
        if windows == "1h/5m" {
            assert_eq!(
                resolved["startsAt"], started,
                "resolved the alert that fired: {resolved}"
            );
        }
    }
    let tickets = pairs(&[("ticket", "1d/2h"), ("ticket", "3d/6h")]);
    let left = poll_until(ALERT_TIMEOUT, POLL, || async {
        let alerts = alertmanager.alerts().await;
        (rules(&alerts) == tickets).then_some(())
    })
    .await;
    assert!(
        left.is_some(),
        "after the brownout Alertmanager should hold only the ticket alerts: {:?}",
        rules(&alertmanager.alerts().await)
    );
}
