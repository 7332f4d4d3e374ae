//! Segments (`group_by`) that stay right, and an exact `max_clock_skew`, end to
//! end against the real binary over OTLP/gRPC.
//!
//! * `a_segment_failing_after_max_groups_pages_and_gates_with_segments`: three
//!   healthy segments take the three slots, then a fourth fails hard. It gets a
//!   slot of its own, `worst_groups` shows it paging, and `sloop slo status
//!   --segments` exits 1 while `sloop slo status` exits 0 (the objective as a
//!   whole does not page and has budget left).
//! * `max_clock_skew_is_exact`: a span 5m30s ahead is refused (and counted in
//!   `otelcol_processor_slo_future_events`), one 4m30s ahead is counted.
//! * `a_segment_silent_for_the_whole_window_is_freed_and_stays_freed`: with a 1h
//!   window, a span stamped in the window's oldest minute gives a segment the
//!   only slot; once that minute leaves the window (within a minute of real
//!   time) the slot is free for another segment, and a restart from `storage`
//!   does not bring the old segment back. The 1h window is the smallest allowed,
//!   and a span stamped 59 minutes back is what keeps this under a minute; the
//!   store's deletion of the freed rows is also checked in-process by the unit
//!   test `a_freed_segment_leaves_the_store_and_does_not_come_back_after_a_restart`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use integration_tests::admin::{admin_url, get_json};
use integration_tests::payloads::{homepage_spans, now_nanos, send_traces, HOMEPAGE_SLI_YAML};
use integration_tests::{poll_until, unique_temp_dir, Sloop, SloopPorts, DATA_TIMEOUT};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::Value as Json;

const SECOND: u64 = 1_000_000_000;
const MINUTE: u64 = 60 * SECOND;
const SLO: &str = "homepage";
const SEGMENT: &str = "customer.segment";
const CLI_TIMEOUT: Duration = Duration::from_secs(20);

/// A traces pipeline `otlp -> [sli, slo] -> nop`; `slo_body` is everything
/// under `processors.slo`, indented by 4.
fn config(ports: &SloopPorts, slo_body: &str) -> String {
    format!(
        "{receivers}processors:
{HOMEPAGE_SLI_YAML}  slo:
{slo_body}exporters:
  nop:
{service}",
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        service = ports.traces_service_yaml(&["sli", "slo"], &["nop"]),
    )
}

/// `processors.slo`: `head` (processor settings), then one objective at 90% on
/// the homepage SLI with `extra` settings (each line indented by 8).
fn slo_body(head: &str, extra: &str) -> String {
    format!("{head}    objectives:\n      - name: {SLO}\n        sli: homepage\n        target: 0.9\n{extra}")
}

async fn send(ports: &SloopPorts, requests: &[ExportTraceServiceRequest]) {
    send_traces(ports.grpc_url(), requests).await;
}

/// `GET /api/v1/slos/homepage`.
async fn status(ports: &SloopPorts) -> Json {
    get_json(&format!("{}/api/v1/slos/{SLO}", admin_url(ports))).await.1
}

/// Polls the status until `check` accepts it (bounded by [`DATA_TIMEOUT`]).
async fn wait_for_status(ports: &SloopPorts, what: &str, check: impl Fn(&Json) -> bool) -> Json {
    let found = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async {
        let json = status(ports).await;
        check(&json).then_some(json)
    })
    .await;
    match found {
        Some(json) => json,
        None => panic!("{what} within {DATA_TIMEOUT:?}; last status: {}", status(ports).await),
    }
}

/// `worst_groups` as segment value -> group.
fn groups(json: &Json) -> BTreeMap<String, Json> {
    json["worst_groups"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|g| {
            let value = g["group"][SEGMENT]
                .as_str()
                .unwrap_or_else(|| panic!("no {SEGMENT} in {g}"));
            (value.to_string(), g.clone())
        })
        .collect()
}

fn number(json: &Json, key: &str) -> f64 {
    json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {json}"))
}

/// Runs `sloop slo status --endpoint <admin> [args...]`: exit status, stdout, stderr.
async fn slo_status_cli(ports: &SloopPorts, args: &[&str]) -> (ExitStatus, String, String) {
    let endpoint = admin_url(ports);
    let mut argv = vec!["slo", "status", "--endpoint", endpoint.as_str()];
    argv.extend_from_slice(args);
    let mut cli = Sloop::spawn(&argv, &[]);
    let status = cli.wait_exit(CLI_TIMEOUT).await;
    (status, cli.stdout(), cli.stderr())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_failing_after_max_groups_pages_and_gates_with_segments() {
    let ports = SloopPorts::new();
    let slo = slo_body("", &format!("        group_by: [{SEGMENT}]\n        max_groups: 3\n"));
    let _sloop = Sloop::start(&config(&ports, &slo), &ports).await;
    let now = now_nanos() - SECOND;
    // Three healthy segments take the three slots; silver is the quietest.
    send(
        &ports,
        &[
            homepage_spans(400, true, "gold", now),
            homepage_spans(200, true, "silver", now),
            homepage_spans(400, true, "bronze", now),
        ],
    )
    .await;
    wait_for_status(&ports, "1000 events", |s| s["total"].as_f64() == Some(1000.0)).await;
    // Then platinum fails hard: 30 bad of 1030 (2.9%) is a burn rate of 0.29 for
    // the objective at 90%, with 71% of its budget left: it does not page.
    send(&ports, &[homepage_spans(30, false, "platinum", now_nanos() - SECOND)]).await;
    let json = wait_for_status(&ports, "1030 events", |s| s["total"].as_f64() == Some(1030.0)).await;
    assert_eq!(json["alerts"]["page"].as_bool(), Some(false), "{json}");
    assert!(number(&json, "error_budget_remaining") > 0.0, "{json}");

    let groups = groups(&json);
    let platinum = groups
        .get("platinum")
        .unwrap_or_else(|| panic!("platinum is not listed: {json}"));
    assert_eq!(platinum["alerts"]["page"].as_bool(), Some(true), "{platinum}");
    // The sketch promotes it at its 10th bad event (min_events); its first nine
    // stay in `other`, with the counts of silver, whose slot it took.
    assert_eq!((number(platinum, "good"), number(platinum, "bad")), (0.0, 21.0));
    assert!(!groups.contains_key("silver"), "silver, the quietest, left: {json}");
    let other = &groups["other"];
    assert_eq!((number(other, "good"), number(other, "bad")), (200.0, 9.0));
    let counted: f64 = groups.values().map(|g| number(g, "total")).sum();
    assert_eq!(counted, 1030.0, "no count is lost: {json}");
    assert_eq!(json["paging_groups"].as_u64(), Some(1), "{json}");

    let (exit, stdout, stderr) = slo_status_cli(&ports, &[]).await;
    assert_eq!(
        exit.code(),
        Some(0),
        "without --segments only the objective gates\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let (exit, stdout, stderr) = slo_status_cli(&ports, &["--segments"]).await;
    assert_eq!(
        exit.code(),
        Some(1),
        "--segments: a paging segment fails the gate\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains(SLO) && stderr.contains("customer.segment=platinum"),
        "stderr names the SLO and the segment:\n{stderr}"
    );
    assert!(stdout.contains("platinum"), "the table lists it:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_clock_skew_is_exact() {
    let ports = SloopPorts::new();
    let slo = slo_body("", "");
    let sloop = Sloop::start(&config(&ports, &slo), &ports).await;
    // Default max_clock_skew: 5m. Sent in the first 25 seconds of a minute, a
    // span 5m30s ahead ends in the 5th minute from now, which a cut-off rounded
    // to whole minutes (as it was) would count.
    let now = poll_until(Duration::from_secs(40), Duration::from_millis(100), || async {
        let now = now_nanos();
        (now % MINUTE < 25 * SECOND).then_some(now)
    })
    .await
    .expect("the clock moves");
    assert_eq!(
        minute_of(now + 5 * MINUTE + 30 * SECOND),
        minute_of(now) + 5,
        "test arithmetic"
    );
    send(
        &ports,
        &[homepage_spans(1, true, "gold", now + 5 * MINUTE + 30 * SECOND)],
    )
    .await;
    send(
        &ports,
        &[homepage_spans(1, true, "gold", now_nanos() + 4 * MINUTE + 30 * SECOND)],
    )
    .await;
    let future = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async {
        let n = sloop
            .metric("otelcol_processor_slo_future_events", &[("processor", "slo")])
            .await;
        (n > 0.0).then_some(n)
    })
    .await;
    assert_eq!(future, Some(1.0), "the span 5m30s ahead is a future event");
    let json = wait_for_status(&ports, "one event", |s| s["total"].as_f64() == Some(1.0)).await;
    assert_eq!(number(&json, "good"), 1.0, "the span 4m30s ahead counts: {json}");
}

/// The minute of a Unix-nanosecond time.
fn minute_of(nanos: u64) -> u64 {
    nanos / MINUTE
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_silent_for_the_whole_window_is_freed_and_stays_freed() {
    let storage: PathBuf = unique_temp_dir();
    let slo = slo_body(
        &format!("    storage: {}\n    checkpoint_interval: 100ms\n", storage.display()),
        // The smallest window, and alert rules that fit in it.
        &format!(
            "        window: 1h
        group_by: [{SEGMENT}]
        max_groups: 1
        alerting:
          page: [{{long: 1h, short: 5m, burn_rate: 14.4}}]
          ticket: []
"
        ),
    );
    let ports = SloopPorts::new();
    let mut first = Sloop::start(&config(&ports, &slo), &ports).await;
    // Not in the last seconds of a minute, so the span below is still in the
    // window when sloop counts it.
    let minute = poll_until(Duration::from_secs(10), Duration::from_millis(100), || async {
        let now = now_nanos();
        (now % MINUTE < 50 * SECOND).then(|| minute_of(now))
    })
    .await
    .expect("the clock moves");
    // In the window's oldest minute (a 1h window holds the current minute and
    // the 59 before it): it leaves the window when the next minute begins.
    let oldest = (minute - 59) * MINUTE + SECOND;
    send(&ports, &[homepage_spans(1, true, "gold", oldest)]).await;
    let json = wait_for_status(&ports, "gold counted", |s| s["total"].as_f64() == Some(1.0)).await;
    assert!(groups(&json).contains_key("gold"), "{json}");

    // Once the minute is over, gold has had no event for a whole window.
    let json = poll_until(Duration::from_secs(75), Duration::from_millis(250), || async {
        let json = status(&ports).await;
        (minute_of(now_nanos()) > minute && json["total"].as_f64() == Some(0.0)).then_some(json)
    })
    .await
    .expect("the span leaves the 1h window within a minute");
    assert!(groups(&json).is_empty(), "gold's slot is freed: {json}");

    // Its slot is free: silver gets it (it would count in `other` otherwise).
    send(&ports, &[homepage_spans(2, true, "silver", now_nanos() - SECOND)]).await;
    let json = wait_for_status(&ports, "silver counted", |s| s["total"].as_f64() == Some(2.0)).await;
    let listed: Vec<String> = groups(&json).into_keys().collect();
    assert_eq!(listed, vec!["silver"], "{json}");

    // A restart from storage brings silver back, and not gold.
    first.sigterm();
    let exit = first.wait_exit(Duration::from_secs(20)).await;
    assert!(exit.success(), "sloop exits cleanly on SIGTERM: {exit}");
    drop(first);
    let ports = SloopPorts::new();
    let _second = Sloop::start(&config(&ports, &slo), &ports).await;
    let json = status(&ports).await;
    assert_eq!(number(&json, "total"), 2.0, "{json}");
    let listed: Vec<String> = groups(&json).into_keys().collect();
    assert_eq!(listed, vec!["silver"], "{json}");
    let _ = std::fs::remove_dir_all(&storage);
}
