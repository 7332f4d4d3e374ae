//! The status page end to end: the real binary, fed by `sloop loadgen`, and a real
//! headless Chromium (Debian's `chromium`, which `scripts/test` installs) that runs
//! the page's script.
//!
//! * `the_page_lists_every_slo_and_draws_the_apis_figures`: three SLOs over traces
//!   (one with segments), loadgen spreading 10,000 spans with 5% errors over the
//!   last 20 minutes (`--backfill 20m`). The list page, as Chromium renders it,
//!   names every configured SLO, least budget left first; each SLO's page draws one
//!   chart point per minute of the window whose minute and value equal
//!   `/api/v1/slos/{name}/history`'s, for the budget left and the burn rate, with
//!   bad events in at least 10 of those minutes; the last point is the status; the
//!   recent bad events link to `trace_url`; "why is it burning" lists the explain
//!   API's values in its order, led by the HTTP 500s. Screenshots are kept in
//!   `target/test-artefacts/status_page_<slo>.png` (and `status_page_list.png`).
//!   The history API also answers in coarser steps, and refuses bad steps (400) and
//!   unknown SLOs (404).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration_tests::admin;
use integration_tests::{
    poll_until, run_bounded, run_loadgen, unique_temp_dir, workspace_root, GrpcBackend, Sloop, SloopPorts, DATA_TIMEOUT,
};
use serde_json::Value as Json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);
const TRACE_URL: &str = "http://127.0.0.1:16686/trace/{trace_id}";
const SPANS: u64 = 200 * 50;

/// (name, SLI, target, window minutes)
const SLOS: [(&str, &str, f64, i64); 3] = [
    ("checkout-availability", "checkout", 0.99, 60),
    ("items-availability", "items", 0.95, 120),
    ("home-availability", "home", 0.999, 1440),
];

fn config(ports: &SloopPorts, backend: &GrpcBackend) -> String {
    format!(
        r#"{receivers}processors:
  sli:
    slis:
      - name: checkout
        when: 'name == "POST /checkout"'
        good: 'status.code != STATUS_CODE_ERROR'
      - name: items
        when: 'name == "GET /api/items"'
        good: 'status.code != STATUS_CODE_ERROR'
      - name: home
        when: 'name == "GET /"'
        good: 'status.code != STATUS_CODE_ERROR'
  slo:
    interval: 1s
    trace_url: "{TRACE_URL}"
    objectives:
      - name: checkout-availability
        sli: checkout
        target: 0.99
        window: 1h
        alerting:
          page: [{{long: 1h, short: 5m, burn_rate: 14.4}}]
          ticket: [{{long: 1h, short: 10m, burn_rate: 3}}]
      - name: items-availability
        sli: items
        target: 0.95
        window: 2h
        group_by: [service.name]
        alerting:
          page: [{{long: 1h, short: 5m, burn_rate: 14.4}}]
          ticket: [{{long: 2h, short: 10m, burn_rate: 1}}]
      - name: home-availability
        sli: home
        target: 0.999
        window: 1d
        alerting:
          page: [{{long: 1h, short: 5m, burn_rate: 14.4}}, {{long: 6h, short: 30m, burn_rate: 6}}]
          ticket: [{{long: 1d, short: 2h, burn_rate: 3}}]
exporters:
  otlp_grpc/backend:
    endpoint: {endpoint}
    tls:
      insecure: true
{service}"#,
        receivers = ports.otlp_receiver_yaml(&[], &[]),
        endpoint = backend.endpoint(),
        service = ports.traces_service_yaml(&["sli", "slo"], &["otlp_grpc/backend"]),
    )
}

async fn get_text(url: &str) -> String {
    let (status, body) = admin::get_text(url).await;
    assert!(status.is_success(), "GET {url}: {status} {body}");
    body
}

async fn get_json(url: &str) -> Json {
    let body = get_text(url).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url} is not JSON ({e}): {body}"))
}

fn number(json: &Json, key: &str) -> f64 {
    json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {json}"))
}

/// The Chromium flags every run uses, with a fresh profile.
fn chromium(profile: &Path) -> Command {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run ./scripts/test, which installs Debian's chromium \
         (apt-get install -y --no-install-recommends chromium)"
    );
    let mut command = Command::new(CHROMIUM);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=10000",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// The DOM of `url` after its scripts ran.
async fn dump_dom(url: &str) -> String {
    let profile = unique_temp_dir();
    let mut command = chromium(&profile);
    command.args(["--dump-dom", url]);
    let (status, output) = run_bounded(&mut command, CHROMIUM_TIMEOUT).await;
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        status.is_some_and(|s| s.success()) && dom.contains("</html>"),
        "chromium --dump-dom {url}: {status:?}\nstdout: {dom}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    dom
}

/// Takes a screenshot of `url` into `target/test-artefacts/<file>` and checks it is
/// a real PNG of some size.
async fn screenshot(url: &str, file: &str) -> PathBuf {
    let dir = workspace_root().join("target/test-artefacts");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let path = dir.join(file);
    let _ = std::fs::remove_file(&path);
    let profile = unique_temp_dir();
    let mut command = chromium(&profile);
    command.arg(format!("--screenshot={}", path.display()));
    command.args(["--window-size=1280,1600", "--hide-scrollbars", url]);
    let (status, output) = run_bounded(&mut command, CHROMIUM_TIMEOUT).await;
    let _ = std::fs::remove_dir_all(&profile);
    let png = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "chromium --screenshot {url} wrote no {} ({e}): {status:?}\n{}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
    assert!(png.len() > 20_000, "{} is only {} bytes", path.display(), png.len());
    path
}

/// The value of attribute `name` in one tag's text.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')?;
    Some(&tag[start..start + end])
}

/// Every `<tag ...>` opening tag of the DOM text.
fn tags<'a>(dom: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    dom.match_indices(&open)
        .filter_map(|(at, _)| dom[at..].find('>').map(|end| &dom[at..at + end]))
        .collect()
}

/// The chart points of `series` drawn in the DOM: (minute, value), in order.
fn drawn_points(dom: &str, series: &str) -> Vec<(i64, f64)> {
    tags(dom, "circle")
        .into_iter()
        .filter(|tag| attribute(tag, "data-series") == Some(series))
        .map(|tag| {
            let minute = attribute(tag, "data-minute").and_then(|m| m.parse().ok());
            let value = attribute(tag, "data-value").and_then(|v| v.parse().ok());
            match (minute, value) {
                (Some(minute), Some(value)) => (minute, value),
                _ => panic!("a chart point without its figures: {tag}"),
            }
        })
        .collect()
}

/// The API's points: (minute, field), read from the JSON text with Rust's own
/// (correctly rounded) float parser: serde_json's default one may be a unit in
/// the last place off, which the page's `JSON.parse` is not.
fn api_points(history_text: &str, field: &str) -> Vec<(i64, f64)> {
    // The points are flat objects: the text between `"points":[` and the next `]`,
    // one object per `}`.
    let start = history_text.find("\"points\":[").expect("points in the history") + "\"points\":[".len();
    let end = start + history_text[start..].find(']').expect("the end of the points");
    history_text[start..end]
        .split('}')
        .filter(|point| point.contains(':'))
        .map(|point| {
            let minute = number_after_key(point, "minute").and_then(|m| m.parse().ok());
            let value = number_after_key(point, field).and_then(|v| v.parse().ok());
            match (minute, value) {
                (Some(minute), Some(value)) => (minute, value),
                _ => panic!("a point without {field}: {point}"),
            }
        })
        .collect()
}

/// Loads one SLO's page and the API's history around it, until both were read in
/// the same minute (the window moves with the clock); at most three tries. The
/// history as JSON and as text.
async fn page_and_history(admin: &str, name: &str) -> (String, Json, String) {
    let page = format!("{admin}/slos/{name}");
    let api = format!("{admin}/api/v1/slos/{name}/history");
    for _ in 0..3 {
        let before = get_text(&api).await;
        let dom = dump_dom(&page).await;
        let after = get_text(&api).await;
        let json: Json =
            serde_json::from_str(&after).unwrap_or_else(|e| panic!("GET {api} is not JSON ({e}): {after}"));
        let minute = |text: &str| number_after_key(text, "to_minute");
        if minute(&before) == minute(&after) {
            assert_eq!(before, after, "the history is stable once the load is counted");
            return (dom, json, after);
        }
    }
    panic!("the minute changed during each of three page loads of {page}");
}

/// The text of the value after `"key":` in a JSON text.
fn number_after_key(text: &str, key: &str) -> Option<String> {
    let start = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    let end = text[start..].find([',', '}'])?;
    Some(text[start..start + end].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_lists_every_slo_and_draws_the_apis_figures() {
    let backend = GrpcBackend::start().await;
    let ports = SloopPorts::new();
    let sloop = Sloop::start(&config(&ports, &backend), &ports).await;
    let admin = format!("http://127.0.0.1:{}", ports.telemetry);

    let (code, report) = run_loadgen(&[
        "--endpoint",
        &ports.grpc_url(),
        "--count",
        "200",
        "--spans-per-request",
        "50",
        "--concurrency",
        "2",
        "--error-ratio",
        "0.05",
        "--backfill",
        "20m",
    ])
    .await;
    assert_eq!(code, 0, "loadgen: {report:#}\n{}", sloop.logs());
    assert_eq!(report["spans_accepted"].as_u64(), Some(SPANS), "{report:#}");

    // Every span is of one of the three operations, so the three SLOs count them all.
    let counted = poll_until(DATA_TIMEOUT, Duration::from_millis(100), || async {
        let slos = get_json(&format!("{admin}/api/v1/slos")).await;
        let total: f64 = slos["slos"].as_array()?.iter().map(|s| number(s, "total")).sum();
        (total == SPANS as f64).then_some(slos)
    })
    .await
    .unwrap_or_else(|| panic!("the SLOs did not count {SPANS} spans\n{}", sloop.logs()));

    // The list: every configured SLO, least budget left first, as the API says.
    let list = dump_dom(&format!("{admin}/slos")).await;
    let listed: Vec<&str> = tags(&list, "tr")
        .into_iter()
        .filter_map(|tr| attribute(tr, "data-slo"))
        .collect();
    let mut expected: Vec<(f64, String)> = counted["slos"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                number(s, "error_budget_remaining"),
                s["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    expected.sort_by(|a, b| a.0.total_cmp(&b.0));
    let expected: Vec<&str> = expected.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(listed, expected, "the list, least budget left first");
    for (name, ..) in SLOS {
        assert!(listed.contains(&name), "{name} is listed: {listed:?}");
    }
    screenshot(&format!("{admin}/slos"), "status_page_list.png").await;

    for (name, _, target, window_minutes) in SLOS {
        let (dom, history, history_text) = page_and_history(&admin, name).await;
        let to_minute = history["to_minute"].as_i64().expect("to_minute");
        let main = tags(&dom, "main")
            .into_iter()
            .find(|tag| tag.contains("id=\"slo\""))
            .unwrap_or_else(|| panic!("{name}: no main element in {dom}"));
        assert_eq!(attribute(main, "data-state"), Some("drawn"), "{name}: {dom}");
        assert_eq!(
            attribute(main, "data-step-minutes"),
            Some("1"),
            "{name}: a point per minute"
        );
        assert_eq!(attribute(main, "data-to-minute"), Some(to_minute.to_string().as_str()));
        assert_eq!(number(&history, "target"), target);

        // One point per minute of the window, drawn exactly as the API gives them.
        let budget = api_points(&history_text, "error_budget_remaining");
        let burn = api_points(&history_text, "burn_rate");
        assert_eq!(budget.len() as i64, window_minutes, "{name}: the whole window");
        assert_eq!(budget.last().map(|p| p.0), Some(to_minute));
        assert_eq!(drawn_points(&dom, "budget"), budget, "{name}: the budget chart");
        assert_eq!(drawn_points(&dom, "burn"), burn, "{name}: the burn-rate chart");

        // Not a flat line: bad events in many minutes, and the budget moved.
        let points = history["points"].as_array().expect("points");
        let bad_minutes = points.iter().filter(|p| number(p, "bad") > 0.0).count();
        assert!(bad_minutes >= 10, "{name}: only {bad_minutes} minutes with bad events");
        let distinct: std::collections::BTreeSet<u64> = budget.iter().map(|(_, v)| v.to_bits()).collect();
        assert!(
            distinct.len() >= 10,
            "{name}: the budget takes only {} values",
            distinct.len()
        );

        // The last point is the status.
        let status = get_json(&format!("{admin}/api/v1/slos/{name}")).await;
        let last = points.last().expect("a last point");
        assert_eq!(
            number(last, "error_budget_remaining"),
            number(&status, "error_budget_remaining")
        );
        assert_eq!(number(last, "burn_rate"), number(&status["burn_rates"], "1h"));
        let total: f64 = points.iter().map(|p| number(p, "good") + number(p, "bad")).sum();
        assert_eq!(total, number(&status, "total"), "{name}: the points hold every event");

        // Recent bad events link to the trace backend.
        let recent = history["recent_bad"].as_array().expect("recent_bad");
        assert!(!recent.is_empty(), "{name}: recent bad events");
        for event in recent {
            let trace_id = event["trace_id"].as_str().expect("trace_id");
            assert_eq!(trace_id.len(), 32, "{event}");
            let link = TRACE_URL.replace("{trace_id}", trace_id);
            assert_eq!(event["trace_url"], link.as_str());
            assert!(dom.contains(&format!("href=\"{link}\"")), "{name}: a link to {link}");
        }
        // Why is it burning: the explain API's values, in its order. loadgen's
        // errors are its HTTP 500s, so that value explains all of the bad events.
        let explained = get_json(&format!("{admin}/api/v1/slos/{name}/explain")).await;
        let expected: Vec<(String, String)> = explained["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| {
                (
                    v["key"].as_str().unwrap_or_default().to_string(),
                    v["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let shown: Vec<(String, String)> = tags(&dom, "tr")
            .into_iter()
            .filter_map(|tr| {
                Some((
                    attribute(tr, "data-key")?.to_string(),
                    attribute(tr, "data-value")?.to_string(),
                ))
            })
            .collect();
        assert_eq!(shown, expected, "{name}: the page's explanation is the API's");
        assert_eq!(
            expected.first(),
            Some(&("http.response.status_code".to_string(), "500".to_string())),
            "{name}: {explained:#}"
        );
        if name == "items-availability" {
            assert!(dom.contains("data-segment"), "{name}: the segments are listed");
            assert!(dom.contains("service.name="), "{name}: segments by service.name");
        }

        screenshot(&format!("{admin}/slos/{name}"), &format!("status_page_{name}.png")).await;
    }

    // Coarser steps sum their minutes; bad steps and unknown SLOs are refused.
    let stepped = get_json(&format!("{admin}/api/v1/slos/checkout-availability/history?step=5m")).await;
    let points = stepped["points"].as_array().expect("points");
    assert_eq!(points.len(), 12, "a 1h window in 5m steps");
    let bad: f64 = points.iter().map(|p| number(p, "bad")).sum();
    let status = get_json(&format!("{admin}/api/v1/slos/checkout-availability")).await;
    assert_eq!(bad, number(&status, "bad"));
    for (query, code) in [
        ("checkout-availability/history?step=30s", 400),
        ("checkout-availability/history?step=2h", 400),
        ("checkout-availability/history?step=soon", 400),
        ("nope/history", 404),
    ] {
        let url = format!("{admin}/api/v1/slos/{query}");
        let (status, body) = admin::get_json(&url).await;
        assert_eq!(status.as_u16(), code, "{url}");
        assert!(body["error"].is_string(), "{url}: {body}");
    }
}
